/*
 * Strict loader for vmmap documents.
 *
 * A small pull parser (json_pull.h) walks the text once, straight from the
 * mapped file (input.c), and the schema here is checked while walking, so
 * every diagnostic names the line and column of the value at fault.
 * jansson builds a DOM without positions and cannot hold integers above
 * INT64_MAX, so it is used for output only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "input.h"
#include "json_pull.h"
#include "num.h"
#include "table.h"

static int dup_key(struct lex *lx, const struct objit *it)
{
	return fail_at(lx, it->key_line, it->key_col, "duplicate key \"%s\"",
		       it->key);
}

static int unknown_key(struct lex *lx, const struct objit *it,
		       const char *where, const char *known)
{
	return fail_at(lx, it->key_line, it->key_col,
		       "unknown key \"%s\" in %s (expected %s)", it->key, where,
		       known);
}

/* The index of the current key in keys[0..n), marked seen; -1 (the
 * error set) for an unknown key, named with where and known, or a
 * repeated one. */
static int key_index(struct lex *lx, const struct objit *it, const char *const *keys,
		     int n, bool *seen, const char *where, const char *known)
{
	int k = 0;

	while (k < n && strcmp(it->key, keys[k]))
		k++;
	if (k == n)
		return unknown_key(lx, it, where, known);
	if (seen[k])
		return dup_key(lx, it);
	seen[k] = true;
	return k;
}

/* A lenient load keeps what the table cannot hold, for validate. */
static int keep_invalid(struct lex *lx, struct vm_table *t, const char *rule,
			int bus, const struct vm_region *r,
			const struct vm_io_range *io, unsigned line, unsigned col)
{
	struct vm_invalid *v, *nv;

	if (t->ninvalid % 16 == 0) {
		nv = realloc(t->invalid, (t->ninvalid + 16) * sizeof(*nv));
		if (!nv)
			return fail_at(lx, line, col, "out of memory");
		t->invalid = nv;
	}
	v = &t->invalid[t->ninvalid];
	memset(v, 0, sizeof(*v));
	v->rule = rule;
	v->bus = bus;
	v->line = line;
	v->col = col;
	if (r) {
		v->region = *r;
		v->region.name = NULL;
		v->region.fd = NULL;
		if ((r->name && !(v->region.name = strdup(r->name))) ||
		    (r->fd && !(v->region.fd = vm_fd_id_dup(r->fd))))
			return fail_at(lx, line, col, "out of memory");
	} else {
		v->io = *io;
		if (!(v->io.dev = strdup(io->dev)))
			return fail_at(lx, line, col, "out of memory");
	}
	t->ninvalid++;
	return 0;
}

/* A region's numeric keys, in the order of parse_region's values. */
static const char *const region_keys[] = {
	"guest_phys_addr", "memory_size", "userspace_addr", "mmap_offset",
};

/* Which of region_keys the n bytes at s are, or 4: the candidate from the
 * length (and a letter), then one compare. */
static int region_key(const char *s, size_t n)
{
	int k = n == 15 ? 0 : n == 14 ? 2 : n == 11 ? (s[1] == 'e' ? 1 : 3) : 4;

	return k < 4 && !memcmp(s, region_keys[k], n) ? k : 4;
}

/* Skips JSON whitespace from p, counting lines. */
static const char *fast_ws(struct lex *lx, const char *p)
{
	for (; p < lx->end; p++) {
		if (*p == '\n') {
			lx->line++;
			lx->line_start = p + 1;
		} else if (*p != ' ' && *p != '\t' && *p != '\r') {
			break;
		}
	}
	return p;
}

/*
 * The common region, read straight from the text: the object whose '{' is
 * the current token holds the four numeric keys once each, in any order,
 * each a "0x" string of 1 to 16 hex digits, and describes a valid region
 * (non-empty, no wrap).  Then v[] holds the values, the lexer stands just
 * past the '}', and the result is true.  Anything else (a name, an
 * escape, an integer value, a duplicate, an error of any kind) returns
 * false with the lexer untouched, and the general parser reads the object
 * and words its diagnostic.  A table of a million regions spends most of
 * its load here.
 */
static bool fast_region(struct lex *lx, uint64_t v[4])
{
	const char *p = lx->p, *line_start = lx->line_start, *q;
	unsigned line = lx->line, seen = 0;

	for (int m = 0; m < 4; m++) {
		int k;
		uint64_t x = 0;
		size_t n;

		p = fast_ws(lx, p);
		if (p >= lx->end || *p++ != '"')
			goto no;
		q = plain_run(p, lx->end);
		if (q >= lx->end || *q != '"')
			goto no;
		k = region_key(p, (size_t)(q - p));
		if (k == 4 || seen & 1u << k)
			goto no;
		seen |= 1u << k;
		p = fast_ws(lx, q + 1);
		if (p >= lx->end || *p++ != ':')
			goto no;
		p = fast_ws(lx, p);
		if (lx->end - p < 4 || p[0] != '"' || p[1] != '0' ||
		    (p[2] != 'x' && p[2] != 'X'))
			goto no;
		p += 3;
		for (n = 0; p < lx->end; n++, p++) {
			int d = vm_hex_digit(*p);

			if (d < 0)
				break;
			x = x << 4 | (uint64_t)d;
		}
		if (n == 0 || n > 16 || p >= lx->end || *p++ != '"')
			goto no;
		v[k] = x;
		p = fast_ws(lx, p);
		if (p >= lx->end || *p++ != (m < 3 ? ',' : '}'))
			goto no;
	}
	if (v[1] == 0 || v[1] - 1 > UINT64_MAX - v[0] || v[1] - 1 > UINT64_MAX - v[2])
		goto no;
	lx->p = p;
	return true;
no:
	lx->line = line;
	lx->line_start = line_start;
	return false;
}

/* "MAJOR:MINOR" in hex, as /proc/<pid>/maps prints a device. */
static int get_dev(struct lex *lx, uint64_t *out)
{
	const struct token *tk = &lx->tok;
	uint64_t part[2] = { 0, 0 };
	size_t i = 0, digits = 0;
	int k = 0;

	if (tk->t != T_STRING)
		return fail_tok(lx, tk, "\"dev\" must be a \"MAJOR:MINOR\" string, not %s",
				tok_desc(tk->t));
	for (; i < tk->slen; i++) {
		int d = vm_hex_digit(tk->str[i]);

		if (tk->str[i] == ':' && k == 0 && digits) {
			k = 1;
			digits = 0;
		} else if (d >= 0 && digits < 8) {
			part[k] = part[k] << 4 | (uint64_t)d;
			digits++;
		} else {
			break;
		}
	}
	if (i < tk->slen || k != 1 || !digits)
		return fail_tok(lx, tk, "\"dev\" must be \"MAJOR:MINOR\" in hex (as "
				"/proc/PID/maps prints it), not \"%.*s\"", (int)tk->slen,
				tk->str);
	*out = (uint64_t)makedev((unsigned)part[0], (unsigned)part[1]);
	return next(lx);
}

/* A region's "fd": the identity of the descriptor it came with. */
static int parse_fd(struct lex *lx, struct vm_fd_id **out)
{
	static const char *const keys[] = { "type", "path", "dev", "ino", "size" };
	unsigned line = lx->tok.line, col = lx->tok.col;
	uint64_t dev = 0, ino = 0, size = 0;
	bool seen[5] = { false };
	char *path = NULL;
	int k, rc, type = 0;
	struct objit it;

	if (obj_begin(lx, &it, "the \"fd\" object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		k = key_index(lx, &it, keys, 5, seen, "\"fd\"", "type, path, dev, ino, size");
		if (k < 0) {
			rc = -1;
			break;
		}
		if (k == 0) {
			const char *name = lx->tok.t == T_STRING ? tok_cstr(lx) : NULL;

			if (lx->tok.t != T_STRING || (name && (type = vm_fd_type_from_key(name)) < 0)) {
				rc = fail_tok(lx, &lx->tok, "unknown descriptor type (expected file, "
					      "memfd, shm, socket, fifo, chr, blk, dir, other or "
					      "unknown)");
				break;
			}
			if (!name) {
				rc = fail_tok(lx, &lx->tok, "out of memory");
				break;
			}
			rc = next(lx);
		} else {
			rc = k == 1 ? get_name(lx, "path", &path)
			   : k == 2 ? get_dev(lx, &dev)
			   : get_u64(lx, keys[k], k == 3 ? &ino : &size);
		}
		if (rc < 0)
			break;
		rc = 1;
	}
	for (k = 0; rc == 0 && k < 5; k++)
		if (!seen[k] && k != 1)
			rc = fail_at(lx, line, col, "\"fd\" is missing \"%s\"", keys[k]);
	if (rc == 0 && !(*out = vm_fd_id_new((unsigned)type, dev, ino, size, path)))
		rc = fail_at(lx, line, col, "out of memory");
	free(path);
	return rc < 0 ? -1 : 0;
}

static int parse_region(struct lex *lx, struct vm_table *t)
{
	unsigned line = lx->tok.line, col = lx->tok.col;
	unsigned size_line = 0, size_col = 0;
	uint64_t v[4] = { 0 };
	bool seen[6] = { false };
	struct vm_region r = { 0 };
	struct vm_umem_node *node;
	struct objit it;
	int k, rc;

	if (lx->tok.t == T_LBRACE && fast_region(lx, v)) {
		r.guest_phys_addr = v[0];
		r.memory_size = v[1];
		r.userspace_addr = v[2];
		r.mmap_offset = v[3];
		node = vm_umem_bulk_add(&t->umem, &r);
		if (!node)
			return fail_at(lx, line, col, "out of memory");
		node->line = line;
		node->col = col;
		return next(lx);
	}
	if (obj_begin(lx, &it, "a region object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		k = region_key(it.key, strlen(it.key));
		if (k == 4 && !strcmp(it.key, "fd"))
			k = 5;
		else if (k == 4 && strcmp(it.key, "name")) {
			rc = unknown_key(lx, &it, "region", "guest_phys_addr, memory_size, "
					 "userspace_addr, mmap_offset, name, fd");
			break;
		}
		if (seen[k]) {
			rc = dup_key(lx, &it);
			break;
		}
		seen[k] = true;
		if (k == 1) {
			size_line = lx->tok.line;
			size_col = lx->tok.col;
		}
		if (k < 4 ? get_u64(lx, region_keys[k], &v[k])
			  : k == 4 ? get_name(lx, "name", &r.name) : parse_fd(lx, &r.fd)) {
			rc = -1;
			break;
		}
	}
	if (rc < 0)
		goto out;
	for (k = 0; k < 4; k++)
		if (!seen[k]) {
			rc = fail_at(lx, line, col, "region is missing \"%s\"", region_keys[k]);
			goto out;
		}
	r.guest_phys_addr = v[0];
	r.memory_size = v[1];
	r.userspace_addr = v[2];
	r.mmap_offset = v[3];
	/* The loader fills the table in bulk: checked here, linked now, the
	 * trees built once at the end (vm_umem_bulk_end). */
	switch (r.memory_size == 0 ? -EINVAL
		: r.memory_size - 1 > UINT64_MAX - r.guest_phys_addr ||
		  r.memory_size - 1 > UINT64_MAX - r.userspace_addr ? -EOVERFLOW
		: (node = vm_umem_bulk_add(&t->umem, &r)) ? 0 : -ENOMEM) {
	case 0:
		node->line = line;
		node->col = col;
		rc = 0;
		break;
	case -EINVAL:
		rc = (lx->flags & VM_LOAD_KEEP_INVALID)
			? keep_invalid(lx, t, "zero-size", -1, &r, NULL, line, col)
			: fail_at(lx, size_line, size_col, "\"memory_size\" is 0 (empty region)");
		break;
	case -EOVERFLOW: {
		bool gpa = r.memory_size - 1 > UINT64_MAX - r.guest_phys_addr;

		rc = (lx->flags & VM_LOAD_KEEP_INVALID)
			? keep_invalid(lx, t, gpa ? "gpa-wrap" : "uaddr-wrap", -1, &r,
				       NULL, line, col)
			: fail_at(lx, line, col, gpa
				  ? "region wraps past 2^64-1 in guest-physical space"
				  : "region wraps past 2^64-1 in userspace_addr space");
		break;
	}
	default:
		rc = fail_at(lx, line, col, "out of memory");
		break;
	}
out:
	free(r.name);
	free(r.fd);
	return rc < 0 ? -1 : 0;
}

static int parse_memory(struct lex *lx, struct vm_table *t)
{
	bool seen_regions = false, seen_holes = false, first;
	unsigned line = lx->tok.line, col = lx->tok.col;
	struct objit it;
	int rc;

	if (obj_begin(lx, &it, "the \"memory\" object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		if (!strcmp(it.key, "regions")) {
			if (seen_regions)
				return dup_key(lx, &it);
			seen_regions = true;
			if (arr_begin(lx, &first, "an array of regions"))
				return -1;
			vm_umem_bulk_begin(&t->umem);
			while ((rc = arr_item(lx, &first)) > 0)
				if (parse_region(lx, t))
					return -1;
			if (rc < 0)
				return -1;
			if (vm_umem_bulk_end(&t->umem))
				return fail_at(lx, line, col, "out of memory");
		} else if (!strcmp(it.key, "holes")) {
			/* Derived by show; accepted so show output loads back. */
			if (seen_holes)
				return dup_key(lx, &it);
			seen_holes = true;
			if (expect(lx, T_LBRACK, "an array of holes") || skip_value(lx, 0))
				return -1;
		} else {
			return unknown_key(lx, &it, "\"memory\"", "regions");
		}
	}
	if (rc < 0)
		return -1;
	if (!seen_regions)
		return fail_at(lx, line, col, "\"memory\" is missing \"regions\"");
	return 0;
}

static int parse_io_range(struct lex *lx, struct vm_table *t, int bus)
{
	static const char *const keys[] = { "addr", "len", "device", "kind", "datamatch" };
	unsigned line = lx->tok.line, col = lx->tok.col;
	unsigned dm_line = 0, dm_col = 0;
	bool seen[5] = { false };
	uint64_t addr = 0, len = 0, datamatch = 0;
	char *dev = NULL, *kind = NULL;
	int k, rc, kid = 0;
	long idx;
	struct objit it;

	if (obj_begin(lx, &it, "a registration object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		k = key_index(lx, &it, keys, 5, seen, "registration",
			      "addr, len, device, kind, datamatch");
		if (k < 0) {
			rc = -1;
			break;
		}
		if (k == 3 && lx->tok.t == T_STRING) {
			const char *name = tok_cstr(lx);

			if (!name) {
				rc = fail_tok(lx, &lx->tok, "out of memory");
				break;
			}
			if ((kid = vm_io_kind_from_name(name)) < 0) {
				rc = fail_tok(lx, &lx->tok,
					      "unknown kind \"%s\" (expected device, ioeventfd or coalesced)",
					      name);
				break;
			}
		}
		if (k == 4) {
			dm_line = lx->tok.line;
			dm_col = lx->tok.col;
		}
		rc = k == 0 ? get_u64(lx, "addr", &addr)
		   : k == 1 ? get_u64(lx, "len", &len)
		   : k == 2 ? get_name(lx, "device", &dev)
		   : k == 3 ? get_name(lx, "kind", &kind)
			    : get_u64(lx, "datamatch", &datamatch);
		if (rc < 0)
			break;
		rc = 1;
	}
	if (rc < 0)
		goto out;
	for (k = 0; k < 4; k++) /* datamatch is optional */
		if (!seen[k]) {
			rc = fail_at(lx, line, col, "registration is missing \"%s\"", keys[k]);
			goto out;
		}
	idx = vm_io_bus_register_dev(&t->bus[bus], addr, len, dev, kid);
	if (idx >= 0 && seen[4] && vm_io_set_datamatch(&t->bus[bus], (size_t)idx, datamatch)) {
		vm_io_bus_remove(&t->bus[bus], (size_t)idx);
		rc = fail_at(lx, dm_line, dm_col, "\"datamatch\" needs an ioeventfd of 1, 2, 4 "
			     "or 8 bytes and a value that fits them (KVM's ioeventfd rules)");
	} else if (idx >= 0) {
		t->bus[bus].range[idx].line = line;
		t->bus[bus].range[idx].col = col;
		rc = 0;
	} else if ((idx == -EOVERFLOW || idx == -ENOSPC) &&
		   (lx->flags & VM_LOAD_KEEP_INVALID)) {
		struct vm_io_range io = {
			.addr = addr, .len = len, .dev = dev, .kind = kid,
		};

		rc = keep_invalid(lx, t, idx == -EOVERFLOW ? "bus-wrap" : "bus-full",
				  bus, NULL, &io, line, col);
	} else if (idx == -EOVERFLOW) {
		rc = fail_at(lx, line, col, "registration wraps past 2^64-1");
	} else if (idx == -ENOSPC) {
		rc = fail_at(lx, line, col,
			     "bus %s already holds %d registrations that are not ioeventfds (KVM's NR_IOBUS_DEVS)",
			     vm_bus_name(bus), VM_NR_IOBUS_DEVS);
	} else {
		rc = fail_at(lx, line, col, "out of memory");
	}
out:
	free(dev);
	free(kind);
	return rc < 0 ? -1 : 0;
}

static int parse_buses(struct lex *lx, struct vm_table *t)
{
	bool seen[VM_NR_BUSES] = { false }, first;
	struct objit it;
	int rc, bus;

	if (obj_begin(lx, &it, "the \"buses\" object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		bus = vm_bus_from_name(it.key);
		if (bus < 0)
			return unknown_key(lx, &it, "\"buses\"",
					   "mmio, pio, virtio-ccw, fast-mmio");
		if (seen[bus])
			return dup_key(lx, &it);
		seen[bus] = true;
		if (arr_begin(lx, &first, "an array of registrations"))
			return -1;
		while ((rc = arr_item(lx, &first)) > 0)
			if (parse_io_range(lx, t, bus))
				return -1;
		if (rc < 0)
			return -1;
	}
	return rc;
}

/* The "vmmap": 1 or "schema": 1 version member. */
static int get_version(struct lex *lx, const char *key)
{
	const struct token *tk = &lx->tok;

	if (tk->t != T_NUMBER || tk->neg || tk->frac || tk->big)
		return fail_tok(lx, tk, "\"%s\" must be the integer %d", key,
				VM_DOC_VERSION);
	if (tk->u != VM_DOC_VERSION)
		return fail_tok(lx, tk, "unsupported %s version %" PRIu64
				" (this vmmap reads version %d)", key, tk->u,
				VM_DOC_VERSION);
	return next(lx);
}

static int parse_document(struct lex *lx, struct vm_table *t, int wrapped);

/* {"schema": 1, "command": "show", "result": {document}}: show's output. */
static int parse_wrapper_member(struct lex *lx, struct vm_table *t,
				struct objit *it, bool *seen)
{
	if (!strcmp(it->key, "schema")) {
		if (seen[0])
			return dup_key(lx, it);
		seen[0] = true;
		return get_version(lx, "schema");
	}
	if (!strcmp(it->key, "command")) {
		if (seen[1])
			return dup_key(lx, it);
		seen[1] = true;
		if (lx->tok.t != T_STRING)
			return fail_tok(lx, &lx->tok, "\"command\" must be a string");
		if (!tok_cstr(lx))
			return fail_tok(lx, &lx->tok, "out of memory");
		if (strcmp(lx->tok.str, "show"))
			return fail_tok(lx, &lx->tok,
					"this is the output of \"%s\", not a table (only show output loads)",
					lx->tok.str);
		return next(lx);
	}
	if (seen[2])
		return dup_key(lx, it);
	seen[2] = true;
	return parse_document(lx, t, 1);
}

static int mixed(struct lex *lx, const struct objit *it)
{
	return fail_at(lx, it->key_line, it->key_col,
		       "\"%s\" mixes a table document with show's output wrapper",
		       it->key);
}

/* The "capture" or "import" object, checked as JSON and kept as text in
 * *out: from its '{' (the current token) to its '}' (the one before the
 * token that follows).  The input is not released under it meanwhile. */
static int keep_section(struct lex *lx, char **out, const char *what)
{
	const char *start = lx->p - 1, *map = lx->map, *end;
	char expected[40];
	int rc;

	snprintf(expected, sizeof(expected), "the \"%s\" object", what);
	if (expect(lx, T_LBRACE, expected))
		return -1;
	lx->map = NULL;
	rc = skip_value(lx, 0);
	lx->map = map;
	if (rc)
		return -1;
	end = lx->tok.t == T_EOF ? lx->end : lx->p - 1;
	free(*out);
	*out = malloc((size_t)(end - start) + 1);
	if (!*out)
		return fail_tok(lx, &lx->tok, "out of memory");
	memcpy(*out, start, (size_t)(end - start));
	(*out)[end - start] = '\0';
	return 0;
}

static int parse_document(struct lex *lx, struct vm_table *t, int wrapped)
{
	/* vmmap, memory, buses, capture, import | schema, command, result */
	bool seen[8] = { false };
	unsigned line = lx->tok.line, col = lx->tok.col;
	struct objit it;
	int rc;

	if (obj_begin(lx, &it, wrapped ? "the \"result\" object" : "a JSON object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		int doc_key = !strcmp(it.key, "vmmap") ? 0
			    : !strcmp(it.key, "memory") ? 1
			    : !strcmp(it.key, "buses") ? 2
			    : !strcmp(it.key, "capture") ? 3
			    : !strcmp(it.key, "import") ? 4 : -1;
		int wrap_key = wrapped ? -1
			     : !strcmp(it.key, "schema") ? 0
			     : !strcmp(it.key, "command") ? 1
			     : !strcmp(it.key, "result") ? 2 : -1;

		if (wrap_key >= 0) {
			if (seen[0] || seen[1] || seen[2] || seen[3] || seen[4])
				return mixed(lx, &it);
			if (parse_wrapper_member(lx, t, &it, seen + 5))
				return -1;
			continue;
		}
		if (doc_key < 0)
			return unknown_key(lx, &it, wrapped ? "\"result\"" : "the document",
					   "vmmap, memory, buses, capture, import");
		if (seen[5] || seen[6] || seen[7])
			return mixed(lx, &it);
		if (seen[doc_key])
			return dup_key(lx, &it);
		seen[doc_key] = true;
		/* capture: what vmmap capture recorded around the table;
		 * import: what vmmap import found beside it; the table is all
		 * that loads, those are kept as text. */
		if ((doc_key == 0 && get_version(lx, "vmmap")) ||
		    (doc_key == 1 && parse_memory(lx, t)) ||
		    (doc_key == 2 && parse_buses(lx, t)) ||
		    (doc_key == 3 && keep_section(lx, &t->capture, "capture")) ||
		    (doc_key == 4 && keep_section(lx, &t->import, "import")))
			return -1;
	}
	if (rc < 0)
		return -1;
	if (seen[5] || seen[6] || seen[7]) {
		if (!seen[7])
			return fail_at(lx, line, col, "show output is missing \"result\"");
		if (!seen[6])
			return fail_at(lx, line, col, "show output is missing \"command\"");
		return 0;
	}
	if (!seen[0])
		return fail_at(lx, line, col,
			       "not a vmmap document: missing \"vmmap\": %d",
			       VM_DOC_VERSION);
	return 0;
}

static int load(struct vm_table *t, const char *name, const char *buf,
		size_t len, unsigned flags, const char *map, struct vm_error *err)
{
	struct lex lx = {
		.name = name, .flags = flags, .p = buf, .end = buf + len,
		.line_start = buf, .line = 1, .err = err, .map = map, .released = map,
	};
	int rc = -1;

	/* A UTF-8 byte-order mark is skipped, as jq and Python do; columns
	 * count from after it. */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		lx.p = lx.line_start = buf + 3;
	if (next(&lx))
		goto out;
	if (lx.tok.t == T_EOF) {
		fail_tok(&lx, &lx.tok, "empty input, expected a vmmap document");
		goto out;
	}
	if (parse_document(&lx, t, 0))
		goto out;
	if (lx.tok.t != T_EOF) {
		fail_tok(&lx, &lx.tok, "trailing data after the document (found %s)",
			 tok_desc(lx.tok.t));
		goto out;
	}
	rc = 0;
out:
	free(lx.scratch);
	free(lx.keys);
	free(lx.kref);
	if (rc) {
		vm_table_clean(t);
		vm_table_init(t);
	}
	return rc;
}

void vm_one_line(char *msg, size_t cap)
{
	char out[1024];
	size_t o = 0, lim = cap < sizeof(out) ? cap : sizeof(out);

	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		char esc[8];
		size_t k;

		if (*p >= 0x20 && *p != 0x7f) {
			esc[0] = (char)*p;
			k = 1;
		} else {
			k = (size_t)snprintf(esc, sizeof(esc), *p == '\n' ? "\\n" :
					     *p == '\t' ? "\\t" : "\\x%02x", *p);
		}
		if (o + k >= lim)
			break;
		memcpy(out + o, esc, k);
		o += k;
	}
	out[o] = '\0';
	memcpy(msg, out, o + 1);
}

static void one_line(struct vm_error *err)
{
	vm_one_line(err->msg, sizeof(err->msg));
}

int vm_table_load_buffer(struct vm_table *t, const char *name,
			 const char *buf, size_t len, unsigned flags,
			 struct vm_error *err)
{
	int rc = load(t, name, buf, len, flags, NULL, err);

	if (rc)
		one_line(err);
	return rc;
}

static int load_file(struct vm_table *t, const char *path, unsigned flags,
		     struct vm_error *err);

int vm_table_load_file(struct vm_table *t, const char *path, unsigned flags,
		       struct vm_error *err)
{
	int rc = load_file(t, path, flags, err);

	if (rc)
		one_line(err);
	return rc;
}

static int load_file(struct vm_table *t, const char *path, unsigned flags,
		     struct vm_error *err)
{
	struct vm_input in;
	int rc;

	if (vm_input_open(&in, path, true, err))
		return -1;
	rc = load(t, in.name, in.buf, in.len, flags, in.mapped ? in.buf : NULL, err);
	vm_input_close(&in);
	return rc;
}
