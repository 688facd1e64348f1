/*
 * QEMU's flat views and memory backends as a vmmap document, and DPDK
 * vhost's region log as a table (qemu_import.h).
 */
#include "qemu_import.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "umem.h"

/* The longest line read (QEMU's region names are short; a line past this
 * is not QEMU's). */
#define LINE_MAX_LEN 4096


/* The next line of *p (without its \r\n) into buf; false at the end. */
static bool next_line(const char **p, char *buf, size_t len, bool *cut)
{
	const char *s = *p, *e;
	size_t n;

	if (!*s)
		return false;
	e = strchr(s, '\n');
	n = e ? (size_t)(e - s) : strlen(s);
	*p = e ? e + 1 : s + n;
	if (n && s[n - 1] == '\r')
		n--;
	*cut = n >= len;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
	return true;
}

static bool hex64(const char *s, char **end, uint64_t *v)
{
	if (!isxdigit((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoull(s, end, 16);
	return !errno;
}

/* "  FIRST-LAST (prio P, KIND): NAME[ @OFFSET]" */
static bool parse_range(const char *l, struct vm_flat_range *r)
{
	char *e, *name;
	const char *at;
	size_t n;

	while (*l == ' ')
		l++;
	if (!hex64(l, &e, &r->first) || *e != '-' || !hex64(e + 1, &e, &r->last) ||
	    r->last < r->first || strncmp(e, " (prio ", 7))
		return false;
	r->prio = (int)strtol(e + 7, &e, 10);
	if (strncmp(e, ", ", 2))
		return false;
	e += 2;
	n = strcspn(e, ")");
	if (!n || n >= sizeof(r->kind) || strncmp(e + n, "): ", 3))
		return false;
	memcpy(r->kind, e, n);
	r->kind[n] = 0;
	name = e + n + 3;
	r->offset = 0;
	at = strstr(name, " @");
	n = strlen(name);
	if (at) {
		char *oe;

		if (!hex64(at + 2, &oe, &r->offset) || *oe)
			return false;
		n = (size_t)(at - name);
	}
	if (!n)
		return false;
	r->name = strndup(name, n);
	return r->name != NULL;
}

void vm_flat_view_free(struct vm_flat_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->r[i].name);
	free(v->r);
	free(v->root);
	memset(v, 0, sizeof(*v));
}

int vm_mtree_view(const char *text, const char *as, struct vm_flat_view *out, char *why,
		  size_t whylen)
{
	char line[LINE_MAX_LEN], want[128];
	const char *p = text;
	bool in = false, cut;
	unsigned lineno = 0;

	memset(out, 0, sizeof(*out));
	snprintf(want, sizeof(want), " AS \"%s\", root: ", as);
	while (next_line(&p, line, sizeof(line), &cut)) {
		lineno++;
		if (!strncmp(line, "FlatView #", 10)) {
			if (in)
				break; /* the view that serves it has ended */
			continue;
		}
		if (!strncmp(line, want, strlen(want))) {
			in = true;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, " Root memory region: ", 21)) {
			free(out->root);
			out->root = strdup(line + 21);
			continue;
		}
		if (!strncmp(line, " AS \"", 5) || !line[0] || strstr(line, "No rendered FlatView"))
			continue;
		if (cut) {
			snprintf(why, whylen, "line %u: longer than %d bytes", lineno, LINE_MAX_LEN);
			goto bad;
		}
		struct vm_flat_range r;

		if (!parse_range(line, &r)) {
			snprintf(why, whylen, "line %u: not a flat range (\"FIRST-LAST (prio P, KIND): "
			    "NAME [@OFFSET]\"): %.80s", lineno, line);
			goto bad;
		}
		if (!(out->n & (out->n - 1)) || !out->n) {
			struct vm_flat_range *v = realloc(out->r, (out->n ? 2 * out->n : 16) *
								  sizeof(*v));

			if (!v) {
				free(r.name);
				snprintf(why, whylen, "out of memory");
				goto bad;
			}
			out->r = v;
		}
		out->r[out->n++] = r;
	}
	if (!in) {
		snprintf(why, whylen, "no flat view of the address space \"%s\"", as);
		goto bad;
	}
	return 0;
bad:
	vm_flat_view_free(out);
	return -1;
}

/* ---- the import ---- */

struct memdev {
	const char *id, *type; /* type: "memory-backend-memfd", ... */
	bool share;
	bool fd;               /* a backend with a descriptor (memfd, file) */
};

static const json_t *find_id(const json_t *a, const char *key, const char *id)
{
	size_t i;
	json_t *o;

	json_array_foreach(a, i, o) {
		const char *s = json_string_value(json_object_get(o, key));

		if (s && !strcmp(s, id))
			return o;
	}
	return NULL;
}

/* The backend called name, from qom-list /objects ("child<TYPE>") and
 * query-memdev; false when name is no memory backend. */
static bool memdev_of(const struct vm_qemu_facts *f, const char *name, struct memdev *d)
{
	const json_t *o = find_id(f->objects, "name", name), *m = find_id(f->memdevs, "id", name);
	const char *t = o ? json_string_value(json_object_get(o, "type")) : NULL;
	static _Thread_local char type[96];

	if (!t || strncmp(t, "child<memory-backend-", 21) || !m)
		return false;
	snprintf(type, sizeof(type), "%.*s", (int)(strlen(t) - 7), t + 6);
	d->id = name;
	d->type = type;
	d->share = json_is_true(json_object_get(m, "share"));
	d->fd = !strcmp(type, "memory-backend-memfd") || !strcmp(type, "memory-backend-file");
	return true;
}

static json_t *region_json(uint64_t gpa, uint64_t size, uint64_t uaddr, uint64_t off,
			   const char *name)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:s}", "guest_phys_addr", vm_json_hex(gpa),
			 "memory_size", vm_json_hex(size), "userspace_addr", vm_json_hex(uaddr),
			 "mmap_offset", vm_json_hex(off), "name", name);
}

/* The memory device (a pc-dimm's id) that plugs backend id, or NULL. */
static const char *device_of(const struct vm_qemu_facts *f, const char *id)
{
	size_t i;
	json_t *o;

	json_array_foreach(f->devices, i, o) {
		const json_t *data = json_object_get(o, "data");
		const char *m = json_string_value(json_object_get(data, "memdev"));

		if (m && !strncmp(m, "/objects/", 9) && !strcmp(m + 9, id))
			return json_string_value(json_object_get(data, "id"));
	}
	return NULL;
}

static json_t *unsent_json(const struct vm_qemu_facts *f, uint64_t gpa, uint64_t size,
			   const struct memdev *d)
{
	bool ram = !d->fd;
	const char *dev = device_of(f, d->id);
	json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:s, s:s}", "guest_phys_addr", vm_json_hex(gpa),
			 "memory_size", vm_json_hex(size), "backend", d->id, "type", d->type,
			 "reason", ram ? "no descriptor: QEMU sends a vhost-user backend only "
					 "RAM that has one, so this is never sent"
				       : "share=off: sent, but QEMU maps it privately, so the "
					 "backend never sees what the guest writes",
			 "fix", ram ? "back it with memory-backend-memfd or memory-backend-file, "
				      "share=on"
				    : "share=on");

	if (o && dev)
		vm_json_put(&o, "device", json_string(dev));
	return o;
}

static json_t *reg_json(const struct vm_flat_range *r)
{
	return json_pack("{s:o, s:o, s:s, s:s}", "addr", vm_json_hex(r->first), "len",
			 vm_json_hex(r->last - r->first + 1), "device", r->name, "kind", "device");
}

/* A bus from a flat view: its device ranges (not the root's own gaps). */
static json_t *bus_json(const struct vm_flat_view *v, bool io_only)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < v->n; i++) {
		const struct vm_flat_range *r = &v->r[i];

		if ((v->root && !strcmp(r->name, v->root)) ||
		    (io_only && strcmp(r->kind, "i/o") && strcmp(r->kind, "romd") &&
		     strcmp(r->kind, "ramd")) || r->last - r->first == UINT64_MAX)
			continue;
		if (json_array_append_new(a, reg_json(r)))
			json_decref(a), a = NULL;
	}
	return a;
}

json_t *vm_qemu_import(const struct vm_qemu_facts *f, char *why, size_t whylen)
{
	struct vm_flat_view mem, io;
	json_t *regions, *unsent, *doc = NULL;
	size_t i = 0;

	if (vm_mtree_view(f->mtree, "memory", &mem, why, whylen))
		return NULL;
	if (vm_mtree_view(f->mtree, "I/O", &io, why, whylen)) {
		vm_flat_view_free(&mem);
		return NULL;
	}
	regions = json_array();
	unsent = json_array();
	/* Each range of guest RAM: the runs of one backend whose guest
	 * addresses and offsets continue merge into one region (as QEMU's
	 * vhost_region_add_section merges them). */
	while (regions && unsent && i < mem.n) {
		const struct vm_flat_range *r = &mem.r[i];
		struct memdev d;
		uint64_t last = r->last, hva;
		size_t j = i + 1;

		if ((strcmp(r->kind, "ram") && strcmp(r->kind, "rom")) ||
		    !memdev_of(f, r->name, &d)) {
			i++;
			continue; /* device RAM, true ROM, ramd/romd, I/O */
		}
		while (j < mem.n && !strcmp(mem.r[j].name, r->name) && last != UINT64_MAX &&
		       mem.r[j].first == last + 1 &&
		       mem.r[j].offset == r->offset + (last + 1 - r->first) &&
		       (!strcmp(mem.r[j].kind, "ram") || !strcmp(mem.r[j].kind, "rom")))
			last = mem.r[j++].last;
		if (d.fd) {
			if (f->hva(f->arg, r->first, &hva, why, whylen))
				goto out;
			if (json_array_append_new(regions, region_json(r->first, last - r->first + 1,
								       hva, r->offset, d.id)))
				json_decref(regions), regions = NULL;
		}
		if ((!d.fd || !d.share) &&
		    json_array_append_new(unsent, unsent_json(f, r->first, last - r->first + 1,
								      &d)))
			json_decref(unsent), unsent = NULL;
		i = j;
	}
	if (!regions || !unsent) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	doc = json_pack("{s:i, s:{s:O}, s:{s:o, s:o}, s:{s:s, s:O}}", "vmmap", 1, "memory",
			"regions", regions, "buses", "pio", bus_json(&io, false), "mmio",
			bus_json(&mem, true), "import", "source", "qemu", "unsent", unsent);
	if (!doc)
		snprintf(why, whylen, "out of memory");
out:
	json_decref(regions);
	json_decref(unsent);
	vm_flat_view_free(&mem);
	vm_flat_view_free(&io);
	return doc;
}

int vm_import_guest_ram(const struct vm_table *t, struct vm_table *out, size_t *added)
{
	json_t *imp = t->import ? json_loads(t->import, 0, NULL) : NULL, *u;
	const json_t *unsent = json_object_get(imp, "unsent");
	size_t i;
	int rc = 0;

	*added = 0;
	json_array_foreach(unsent, i, u) {
		const char *type = json_string_value(json_object_get(u, "type"));

		*added += type && strcmp(type, "memory-backend-memfd") &&
			  strcmp(type, "memory-backend-file");
	}
	if (!*added) {
		json_decref(imp);
		return 0;
	}
	vm_table_init(out);
	*added = 0;
	for (const struct vm_umem_node *n = t->umem.head; n && !rc; n = n->next)
		rc = vm_umem_add(&out->umem, &n->region, NULL);
	json_array_foreach(unsent, i, u) {
		const char *type = json_string_value(json_object_get(u, "type")), *g, *z;
		const char *backend = json_string_value(json_object_get(u, "backend"));
		char label[160];
		struct vm_region r = { .name = label };

		/* Named for the diff line that shows it. */
		snprintf(label, sizeof(label), "%s: never sent (%s)", backend ? backend : "?",
			 type ? type : "?");
		g = json_string_value(json_object_get(u, "guest_phys_addr"));
		z = json_string_value(json_object_get(u, "memory_size"));
		if (rc || !type || !strcmp(type, "memory-backend-memfd") ||
		    !strcmp(type, "memory-backend-file") || !g || !z || strncmp(g, "0x", 2) ||
		    strncmp(z, "0x", 2))
			continue;
		r.guest_phys_addr = strtoull(g, NULL, 16);
		r.memory_size = strtoull(z, NULL, 16);
		if (!r.memory_size || r.guest_phys_addr + (r.memory_size - 1) < r.guest_phys_addr)
			continue;
		rc = vm_umem_add(&out->umem, &r, NULL);
		*added += !rc;
	}
	json_decref(imp);
	if (rc) {
		vm_table_clean(out);
		return -ENOMEM;
	}
	return 1;
}

/* ---- DPDK ---- */

/* The region read so far, appended once whole: 0, or -1 with why. */
static int close_region(json_t *regions, const uint64_t v[4], unsigned seen, unsigned lineno,
			char *why, size_t whylen)
{
	if (seen != 15) {
		snprintf(why, whylen, "line %u: a region without all of size, guest physical "
			 "addr, guest virtual addr and mmap off", lineno);
		return -1;
	}
	if (json_array_append_new(regions, json_pack("{s:o, s:o, s:o, s:o}",
			"guest_phys_addr", vm_json_hex(v[1]), "memory_size", vm_json_hex(v[0]),
			"userspace_addr", vm_json_hex(v[2]), "mmap_offset", vm_json_hex(v[3])))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

json_t *vm_dpdk_log_import(const char *text, char *why, size_t whylen)
{
	static const char *const keys[4] = {
		"guest memory region size: ", "guest physical addr: ", "guest virtual  addr: ",
		"mmap off  : ",
	};
	json_t *regions = json_array(), *doc;
	char line[LINE_MAX_LEN];
	const char *p = text;
	uint64_t cur[4] = { 0 };
	unsigned lineno = 0, seen = 0;
	bool cut, open = false;

	why[0] = 0;
	if (!regions) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	while (next_line(&p, line, sizeof(line), &cut)) {
		lineno++;
		/* A new table replaces the old one. */
		if (strstr(line, "VHOST_USER_SET_MEM_TABLE") && strstr(line, "read message")) {
			json_array_clear(regions);
			open = false;
			continue;
		}
		for (int k = 0; k < 4; k++) {
			const char *at = strstr(line, keys[k]);
			char *e;
			uint64_t v;

			if (!at)
				continue;
			at += strlen(keys[k]);
			if (strncmp(at, "0x", 2) || !hex64(at + 2, &e, &v) ||
			    (*e && !isspace((unsigned char)*e))) {
				snprintf(why, whylen, "line %u: \"%s\" is not followed by 0x and hex "
					 "digits", lineno, keys[k]);
				goto fail;
			}
			if (k == 0) { /* a region starts: the one before is whole */
				if (open && close_region(regions, cur, seen, lineno, why, whylen))
					goto fail;
				open = true;
				seen = 0;
			} else if (!open) {
				snprintf(why, whylen, "line %u: \"%s\" before any \"%s\"", lineno,
					 keys[k], keys[0]);
				goto fail;
			}
			cur[k] = v;
			seen |= 1u << k;
		}
	}
	if (open && close_region(regions, cur, seen, lineno, why, whylen))
		goto fail;
	if (!json_array_size(regions)) {
		json_decref(regions);
		return NULL; /* why "": no region */
	}
	doc = json_pack("{s:i, s:{s:o}, s:{s:s}}", "vmmap", 1, "memory", "regions", regions,
			"import", "source", "dpdk-log");
	if (!doc)
		snprintf(why, whylen, "out of memory");
	return doc;
fail:
	json_decref(regions);
	return NULL;
}
