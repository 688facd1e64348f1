/*
 * Conformance checks.  See validate.h.
 */
#include "validate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

const struct vm_profile vm_profiles[] = {
	{ "vhost-kernel", 64, 0,
	  "Linux vhost's max_mem_regions module parameter defaults to 64; more "
	  "regions fail VHOST_SET_MEM_TABLE with E2BIG" },
	{ "vhost-user", 8, 0,
	  "VHOST_MEMORY_BASELINE_NREGIONS: without CONFIGURE_MEM_SLOTS one "
	  "SET_MEM_TABLE carries at most 8 regions (QEMU, DPDK, libvhost-user)" },
	{ "vhost-user-slots", 509, 0,
	  "the GET_MAX_MEM_SLOTS reply of libvhost-user (QEMU 9.0) and rust-vmm "
	  "vhost-user-backend is 509" },
	{ "kvm", 32764, 4096,
	  "x86 KVM_USER_MEM_SLOTS is 32764; KVM_SET_USER_MEMORY_REGION needs "
	  "page-aligned guest_phys_addr, memory_size and userspace_addr" },
	{ "dpdk", 8, 0,
	  "DPDK 22.11's vhost library does not negotiate CONFIGURE_MEM_SLOTS: "
	  "the frontend sends one SET_MEM_TABLE of at most 8 regions "
	  "(VHOST_MEMORY_MAX_NREGIONS)" },
	{ "spdk", 8, 2u << 20,
	  "SPDK's vhost target takes the table through DPDK's rte_vhost (8 "
	  "regions) and registers each region in its 2 MB-page memory map "
	  "(spdk_mem_register): guest_phys_addr, userspace_addr and memory_size "
	  "must be 2 MB multiples (spdk#673, spdk#930, spdk#946)" },
	{ NULL, 0, 0, NULL },
};

const struct vm_profile *vm_profile_find(const char *name)
{
	for (const struct vm_profile *p = vm_profiles; p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

struct ctx {
	struct vm_findings *out;
	int nomem;
};

static struct vm_finding_ref region_ref(const struct vm_umem_node *n)
{
	return (struct vm_finding_ref){
		.bus = -1, .region = &n->region, .line = n->line, .col = n->col,
	};
}

static struct vm_finding_ref io_ref(int bus, const struct vm_io_range *r)
{
	return (struct vm_finding_ref){
		.bus = bus, .io = r, .line = r->line, .col = r->col,
	};
}

/* Adds a finding located at the first reference (if any). */
__attribute__((format(printf, 6, 7)))
static void add(struct ctx *c, const char *rule, enum vm_severity sev,
		const struct vm_finding_ref *refs, int nref, const char *fmt, ...)
{
	struct vm_findings *out = c->out;
	struct vm_finding *f;
	va_list ap;
	char *msg;

	if (c->nomem)
		return;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 16;
		struct vm_finding *v = realloc(out->v, cap * sizeof(*v));

		if (!v) {
			c->nomem = 1;
			return;
		}
		out->v = v;
		out->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0) {
		va_end(ap);
		c->nomem = 1;
		return;
	}
	va_end(ap);
	f = &out->v[out->n++];
	memset(f, 0, sizeof(*f));
	f->seq = out->n - 1;
	f->rule = rule;
	f->severity = sev;
	f->message = msg;
	for (int i = 0; i < nref && i < 2; i++)
		f->ref[f->nref++] = refs[i];
	if (nref) {
		f->line = refs[0].line;
		f->col = refs[0].col;
	}
	if (sev == VM_SEV_ERROR)
		out->errors++;
	else
		out->warnings++;
}

/* "0000000000100000-00000000001fffff (name)" */
static const char *describe(char *buf, size_t n, uint64_t first, uint64_t last,
			    const char *name)
{
	snprintf(buf, n, "%016" PRIx64 "-%016" PRIx64 "%s%s%s", first, last,
		 name ? " (" : "", name ? name : "", name ? ")" : "");
	return buf;
}

static void check_invalid(struct ctx *c, const struct vm_table *t)
{
	for (size_t i = 0; i < t->ninvalid; i++) {
		const struct vm_invalid *v = &t->invalid[i];
		struct vm_finding_ref ref = {
			.bus = v->bus, .region = v->bus < 0 ? &v->region : NULL,
			.io = v->bus < 0 ? NULL : &v->io, .line = v->line, .col = v->col,
		};
		const struct vm_region *r = &v->region;
		const struct vm_io_range *io = &v->io;

		if (!strcmp(v->rule, "zero-size"))
			add(c, v->rule, VM_SEV_ERROR, &ref, 1,
			    "region at 0x%" PRIx64 " has memory_size 0", r->guest_phys_addr);
		else if (!strcmp(v->rule, "gpa-wrap"))
			add(c, v->rule, VM_SEV_ERROR, &ref, 1,
			    "region 0x%" PRIx64 "+0x%" PRIx64
			    " runs past 2^64-1 in guest-physical space",
			    r->guest_phys_addr, r->memory_size);
		else if (!strcmp(v->rule, "uaddr-wrap"))
			add(c, v->rule, VM_SEV_ERROR, &ref, 1,
			    "region at 0x%" PRIx64 ": userspace_addr 0x%" PRIx64 "+0x%" PRIx64
			    " runs past 2^64-1", r->guest_phys_addr, r->userspace_addr,
			    r->memory_size);
		else if (!strcmp(v->rule, "bus-wrap"))
			add(c, v->rule, VM_SEV_ERROR, &ref, 1,
			    "%s registration %s at 0x%" PRIx64 "+0x%" PRIx64
			    " runs past 2^64-1", vm_bus_name(v->bus), io->dev, io->addr,
			    io->len);
		else /* bus-full */
			add(c, v->rule, VM_SEV_ERROR, &ref, 1,
			    "%s registration %s at 0x%" PRIx64 " is past KVM's limit of %d "
			    "registrations that are not ioeventfds (NR_IOBUS_DEVS)",
			    vm_bus_name(v->bus), io->dev, io->addr, VM_NR_IOBUS_DEVS);
	}
}

/*
 * Overlaps in one region tree: every node is paired with the nodes before
 * it in tree order that overlap it, so each pair is reported once.  Those
 * nodes start at or below it, so one overlaps it exactly when its last
 * reaches the node's start: while the greatest last seen so far stays
 * below the next start there is nothing to ask the tree, and a table
 * without overlaps is one in-order walk.
 */
static void check_overlaps(struct ctx *c, const struct vm_itree *tree,
			   int gpa_space)
{
	const char *rule = gpa_space ? "gpa-overlap" : "uaddr-overlap";
	enum vm_severity sev = gpa_space ? VM_SEV_ERROR : VM_SEV_WARNING;
	size_t pairs = 0;
	/* The greatest last before n (0 before the first node: a first node
	 * at 0 costs one search that finds nothing). */
	uint64_t max_last = 0;

	for (const struct vm_itree_node *n = vm_itree_first(tree); n;
	     n = vm_itree_next(n)) {
		bool maybe = max_last >= n->start;

		if (n->last > max_last)
			max_last = n->last;
		if (!maybe)
			continue;
		for (const struct vm_itree_node *p =
			     vm_itree_iter_first(tree, n->start, n->last);
		     p && p != n; p = vm_itree_iter_next(p, n->start, n->last)) {
			enum vm_space space = gpa_space ? VM_SPACE_GPA : VM_SPACE_UADDR;
			const struct vm_umem_node *a = vm_umem_node_of(p, space);
			const struct vm_umem_node *b = vm_umem_node_of(n, space);
			struct vm_finding_ref refs[2] = { region_ref(b), region_ref(a) };
			uint64_t lo = n->start, hi = p->last < n->last ? p->last : n->last;
			char da[96], db[96];

			if (++pairs > VM_MAX_PAIRS) {
				add(c, rule, sev, NULL, 0,
				    "more than %d overlapping pairs; the rest are not listed",
				    VM_MAX_PAIRS);
				return;
			}
			describe(db, sizeof(db), n->start, n->last, b->region.name);
			describe(da, sizeof(da), p->start, p->last, a->region.name);
			add(c, rule, sev, refs, 2,
			    gpa_space
			    ? "region %s overlaps region %s in guest-physical %016" PRIx64
			      "-%016" PRIx64
			    : "user range %s overlaps user range %s in %016" PRIx64
			      "-%016" PRIx64,
			    db, da, lo, hi);
		}
	}
}

static void check_regions(struct ctx *c, const struct vm_table *t,
			  const struct vm_profile *p)
{
	const struct vm_umem *umem = &t->umem;
	const struct vm_itree *utree;
	size_t nregions = umem->nregions;

	for (size_t i = 0; i < t->ninvalid; i++)
		nregions += t->invalid[i].bus < 0;
	if (p && p->max_regions && nregions > p->max_regions)
		add(c, "too-many-regions", VM_SEV_ERROR, NULL, 0,
		    "%zu regions; profile %s allows at most %" PRIu64 " (%s)",
		    nregions, p->name, p->max_regions, p->why);

	check_overlaps(c, &umem->gpa_tree, 1);
	if ((utree = vm_umem_tree(umem, VM_SPACE_UADDR)))
		check_overlaps(c, utree, 0);
	else
		c->nomem = 1;

	for (const struct vm_itree_node *it = vm_itree_first(&umem->gpa_tree); it;
	     it = vm_itree_next(it)) {
		const struct vm_umem_node *n = vm_container_of(it, struct vm_umem_node, gpa);
		const struct vm_region *r = &n->region;
		struct vm_finding_ref ref = region_ref(n);
		char d[96];

		if (r->memory_size - 1 > UINT64_MAX - r->mmap_offset)
			add(c, "offset-wrap", VM_SEV_ERROR, &ref, 1,
			    "region %s: mmap_offset 0x%" PRIx64 " + memory_size 0x%" PRIx64
			    " runs past 2^64-1",
			    describe(d, sizeof(d), it->start, it->last, r->name),
			    r->mmap_offset, r->memory_size);
		if (p && p->alignment) {
			uint64_t m = p->alignment - 1;
			char size[VM_SIZE_MAX], what[128] = "";

			if (r->guest_phys_addr & m)
				strcat(what, ", guest_phys_addr");
			if (r->memory_size & m)
				strcat(what, ", memory_size");
			if (r->userspace_addr & m)
				strcat(what, ", userspace_addr");
			vm_fmt_size(size, p->alignment);
			if (what[0])
				add(c, "alignment", VM_SEV_ERROR, &ref, 1,
				    "region %s: %s not %s aligned (profile %s)",
				    describe(d, sizeof(d), it->start, it->last, r->name),
				    what + 2, size, p->name);
		}
	}
}

static uint64_t io_last(const struct vm_io_range *r)
{
	return r->len ? r->addr + r->len - 1 : r->addr;
}

/* Whether two registrations can receive the same access. */
static int io_overlap(const struct vm_io_range *a, const struct vm_io_range *b)
{
	return a->addr <= io_last(b) && b->addr <= io_last(a);
}

static void check_bus(struct ctx *c, int b, const struct vm_io_bus *bus)
{
	size_t pairs = 0;

	for (size_t i = 0; i < bus->dev_count; i++) {
		const struct vm_io_range *r = &bus->range[i];
		struct vm_finding_ref ref = io_ref(b, r);

		if (r->len == 0 && r->kind != VM_IO_IOEVENTFD)
			add(c, "zero-length", VM_SEV_WARNING, &ref, 1,
			    "%s registration %s at 0x%" PRIx64 " has length 0 but is a %s; "
			    "only ioeventfds match any access length",
			    vm_bus_name(b), r->dev, r->addr, vm_io_kind_name(r->kind));

		/* Earlier registrations that reach r: walk back while one can. */
		for (size_t j = i; j-- > 0;) {
			const struct vm_io_range *q = &bus->range[j];
			struct vm_finding_ref refs[2] = { io_ref(b, r), io_ref(b, q) };

			if (bus->max_last[j] < r->addr && q->addr != r->addr)
				break;
			if (!io_overlap(q, r))
				continue;
			if (!strcmp(q->dev, r->dev)) {
				if (q->addr == r->addr && q->len == r->len)
					add(c, "duplicate", VM_SEV_ERROR, refs, 2,
					    "%s device %s is registered twice at 0x%" PRIx64
					    "+0x%" PRIx64, vm_bus_name(b), r->dev, r->addr, r->len);
				continue;
			}
			if (q->kind == VM_IO_IOEVENTFD && r->kind == VM_IO_IOEVENTFD)
				continue; /* datamatch ioeventfds share doorbells */
			if (++pairs > VM_MAX_PAIRS) {
				add(c, "bus-overlap", VM_SEV_WARNING, NULL, 0,
				    "more than %d overlapping pairs on bus %s; the rest are "
				    "not listed", VM_MAX_PAIRS, vm_bus_name(b));
				return;
			}
			add(c, "bus-overlap", VM_SEV_WARNING, refs, 2,
			    "%s %s %s at 0x%" PRIx64 "+0x%" PRIx64 " overlaps %s %s at 0x%"
			    PRIx64 "+0x%" PRIx64 "; KVM offers an access to both, in bus order",
			    vm_bus_name(b), vm_io_kind_name(r->kind), r->dev, r->addr, r->len,
			    vm_io_kind_name(q->kind), q->dev, q->addr, q->len);
		}
	}
}

static int cmp_finding(const void *x, const void *y)
{
	const struct vm_finding *a = x, *b = y;

	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq; /* the order of checks */
}

void vm_findings_free(struct vm_findings *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].message);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/*
 * An import's guest RAM that no vhost-user backend can use (its "import"
 * section's "unsent" ranges, vmmap import qemu): each an error naming the
 * range, the backend, the reason and the fix.
 */
static const char *text_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

static void check_unsent(struct ctx *c, const struct vm_table *t)
{
	json_t *imp = t->import ? json_loads(t->import, 0, NULL) : NULL, *u;
	size_t i;

	json_array_foreach(json_object_get(imp, "unsent"), i, u) {
		const char *g = json_string_value(json_object_get(u, "guest_phys_addr"));
		const char *z = json_string_value(json_object_get(u, "memory_size"));
		uint64_t gpa = g ? strtoull(g, NULL, 16) : 0, size = z ? strtoull(z, NULL, 16) : 0;

		add(c, "unusable-ram", VM_SEV_ERROR, NULL, 0,
		    "guest RAM %016" PRIx64 "-%016" PRIx64 " (backend %s, %s) reaches no "
		    "vhost-user backend intact: %s; fix: %s", gpa, gpa + (size ? size - 1 : 0),
		    text_of(u, "backend"), text_of(u, "type"), text_of(u, "reason"),
		    text_of(u, "fix"));
	}
	json_decref(imp);
}

int vm_validate(const struct vm_table *t, const struct vm_profile *p,
		struct vm_findings *out)
{
	struct ctx c = { .out = out };

	memset(out, 0, sizeof(*out));
	check_unsent(&c, t);
	check_regions(&c, t, p);
	check_invalid(&c, t);
	for (int b = 0; b < VM_NR_BUSES; b++)
		check_bus(&c, b, &t->bus[b]);
	if (c.nomem) {
		vm_findings_free(out);
		return -ENOMEM;
	}
	if (out->n > 1) /* v is NULL when there are no findings */
		qsort(out->v, out->n, sizeof(*out->v), cmp_finding);
	return 0;
}
