/*
 * The table and its JSON output.  Input is in json_load.c.
 */
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "num.h"

void vm_table_init(struct vm_table *t)
{
	vm_umem_init(&t->umem);
	for (int i = 0; i < VM_NR_BUSES; i++)
		vm_io_bus_init(&t->bus[i]);
	t->invalid = NULL;
	t->ninvalid = 0;
	t->capture = NULL;
	t->import = NULL;
}

void vm_table_clean(struct vm_table *t)
{
	vm_umem_clean(&t->umem);
	for (int i = 0; i < VM_NR_BUSES; i++)
		vm_io_bus_clean(&t->bus[i]);
	for (size_t i = 0; i < t->ninvalid; i++) {
		free(t->invalid[i].region.name);
		free(t->invalid[i].region.fd);
		free(t->invalid[i].io.dev);
	}
	free(t->invalid);
	free(t->capture);
	free(t->import);
	vm_table_init(t);
}

json_t *vm_json_hex(uint64_t v)
{
	char buf[VM_HEX_MAX];

	vm_fmt_hex(buf, v);
	return json_string(buf);
}

/* json_object_set_new that remembers a failure instead of leaking. */
static int set(json_t *obj, const char *key, json_t *v)
{
	return !v || json_object_set_new(obj, key, v);
}

static int append(json_t *arr, json_t *v)
{
	return !v || json_array_append_new(arr, v);
}

/* A count that jq and JavaScript read exactly: an integer up to 2^53-1,
 * a "0x..." string above (the loader takes both). */
static json_t *json_count(uint64_t v)
{
	return v < (1ull << 53) ? json_integer((json_int_t)v) : vm_json_hex(v);
}

/* A path as a JSON string: the kernel's bytes need not be UTF-8, so a
 * path that is not gets each byte outside printable ASCII as "\\xNN". */
static json_t *json_path(const char *path)
{
	json_t *s = json_string(path);
	char *buf;

	if (s)
		return s;
	buf = malloc(4 * strlen(path) + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0, o = 0;; i++) {
		unsigned char c = (unsigned char)path[i];

		if (!c) {
			buf[o] = '\0';
			break;
		}
		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
	}
	s = json_string(buf);
	free(buf);
	return s;
}

void vm_fmt_dev(char buf[VM_DEV_MAX], uint64_t dev)
{
	snprintf(buf, VM_DEV_MAX, "%02x:%02x", major((dev_t)dev), minor((dev_t)dev));
}

json_t *vm_json_fd_id(const struct vm_fd_id *id)
{
	char dev[VM_DEV_MAX];
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	vm_fmt_dev(dev, id->dev);
	bad |= set(o, "type", json_string(vm_fd_type_key(id->type)));
	if (id->path[0])
		bad |= set(o, "path", json_path(id->path));
	bad |= set(o, "dev", json_string(dev));
	bad |= set(o, "ino", json_count(id->ino));
	bad |= set(o, "size", vm_json_hex(id->size));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

bool vm_json_put(json_t **o, const char *key, json_t *v)
{
	if (*o && v && !json_object_set_new(*o, key, v))
		return true;
	json_decref(v);
	json_decref(*o);
	*o = NULL;
	return false;
}

json_t *vm_json_region(const struct vm_region *r)
{
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	bad |= set(o, "guest_phys_addr", vm_json_hex(r->guest_phys_addr));
	bad |= set(o, "memory_size", vm_json_hex(r->memory_size));
	bad |= set(o, "userspace_addr", vm_json_hex(r->userspace_addr));
	bad |= set(o, "mmap_offset", vm_json_hex(r->mmap_offset));
	if (r->name)
		bad |= set(o, "name", json_string(r->name));
	if (r->fd)
		bad |= set(o, "fd", vm_json_fd_id(r->fd));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *vm_json_io_range(const struct vm_io_range *r)
{
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	bad |= set(o, "addr", vm_json_hex(r->addr));
	bad |= set(o, "len", vm_json_hex(r->len));
	bad |= set(o, "device", json_string(r->dev));
	bad |= set(o, "kind", json_string(vm_io_kind_name(r->kind)));
	if (r->has_datamatch)
		bad |= set(o, "datamatch", vm_json_hex(r->datamatch));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *memory_json(const struct vm_umem *umem, int with_holes)
{
	json_t *mem = json_object(), *regions = json_array(), *holes = NULL;
	struct vm_umem_node **sorted = vm_umem_sorted(umem);
	struct vm_hole *hv = NULL;
	long nholes = 0;
	int bad = !mem || !regions || !sorted;

	for (size_t i = 0; !bad && i < umem->nregions; i++)
		bad |= append(regions, vm_json_region(&sorted[i]->region));
	if (!bad && with_holes) {
		holes = json_array();
		nholes = vm_umem_holes(umem, &hv);
		bad |= !holes || nholes < 0;
		for (long i = 0; !bad && i < nholes; i++) {
			json_t *h = json_object();

			bad |= !h || set(h, "guest_phys_addr", vm_json_hex(hv[i].start)) ||
			       set(h, "memory_size",
				   vm_json_hex(hv[i].last - hv[i].start + 1));
			bad |= append(holes, h);
		}
	}
	free(hv);
	free(sorted);
	bad |= set(mem, "regions", regions);
	regions = NULL;
	if (holes) {
		bad |= set(mem, "holes", holes);
		holes = NULL;
	}
	if (bad) {
		json_decref(regions);
		json_decref(holes);
		json_decref(mem);
		return NULL;
	}
	return mem;
}

json_t *vm_table_to_json(const struct vm_table *t, int with_holes)
{
	json_t *doc = json_object(), *buses = json_object();
	int bad = !doc || !buses;

	bad |= set(doc, "vmmap", json_integer(VM_DOC_VERSION));
	bad |= set(doc, "memory", memory_json(&t->umem, with_holes));
	for (int b = 0; !bad && b < VM_NR_BUSES; b++) {
		const struct vm_io_bus *bus = &t->bus[b];
		json_t *arr;

		if (!bus->dev_count)
			continue;
		arr = json_array();
		for (size_t i = 0; arr && i < bus->dev_count; i++)
			if (append(arr, vm_json_io_range(&bus->range[i]))) {
				json_decref(arr);
				arr = NULL;
			}
		bad |= set(buses, vm_bus_name(b), arr);
	}
	bad |= set(doc, "buses", buses);
	if (bad) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
