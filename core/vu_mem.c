/*
 * The memory table requests of a session: SET_MEM_TABLE, ADD_MEM_REG and
 * REM_MEM_REG, the region checks (against the protocol, and against the
 * facts of each region's descriptor), and the timeline of table changes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "diff.h"
#include "vu_session.h"

/* A region description: guest_phys_addr, memory_size, userspace_addr,
 * mmap_offset, 32 bytes at off. */
static struct vm_region get_region(const struct vu_msg *m, size_t off)
{
	return (struct vm_region){
		.guest_phys_addr = get_u64(m, off),
		.memory_size = get_u64(m, off + 8),
		.userspace_addr = get_u64(m, off + 16),
		.mmap_offset = get_u64(m, off + 24),
	};
}

/* Whether a region can be held; a violation if not. */
static bool region_ok(struct hctx *h, const struct vm_region *r)
{
	if (r->memory_size == 0) {
		vu_bad(h, "region at guest_phys_addr 0x%" PRIx64 " has memory_size 0",
		    r->guest_phys_addr);
		return false;
	}
	if (r->memory_size - 1 > UINT64_MAX - r->guest_phys_addr) {
		vu_bad(h, "region 0x%" PRIx64 "+0x%" PRIx64 " runs past 2^64-1",
		    r->guest_phys_addr, r->memory_size);
		return false;
	}
	if (r->memory_size - 1 > UINT64_MAX - r->userspace_addr) {
		vu_bad(h, "region userspace_addr 0x%" PRIx64 "+0x%" PRIx64
		    " runs past 2^64-1", r->userspace_addr, r->memory_size);
		return false;
	}
	/* validate's offset-wrap: no file has such an end. */
	if (r->memory_size - 1 > UINT64_MAX - r->mmap_offset) {
		vu_bad(h, "region 0x%" PRIx64 "+0x%" PRIx64 ": mmap_offset 0x%" PRIx64
		    " + memory_size runs past 2^64-1", r->guest_phys_addr,
		    r->memory_size, r->mmap_offset);
		return false;
	}
	return true;
}

/* What the descriptor of a region says about it (fact i of the message):
 * warnings, since the frontend may know better (a file that grows). */
static void region_fd(struct hctx *h, const struct vm_region *r, size_t i)
{
	const struct vu_fd_fact *f = &h->m->fd_facts[i];

	if (i >= h->m->nfds || f->type == VM_FD_UNKNOWN)
		return;
	if (f->type != VM_FD_FILE && f->type != VM_FD_MEMFD && f->type != VM_FD_SHM) {
		vu_warn(h, "the descriptor of region 0x%" PRIx64 "+0x%" PRIx64 " is a %s, "
		     "not a regular file, memfd or shared memory object",
		     r->guest_phys_addr, r->memory_size, vm_fd_type_name((unsigned)f->type));
		return;
	}
	if (r->memory_size > f->size || r->mmap_offset > f->size - r->memory_size)
		vu_warn(h, "region 0x%" PRIx64 "+0x%" PRIx64 " maps up to offset 0x%" PRIx64
		     " of a %s of 0x%" PRIx64 " bytes: it runs past the end of the file",
		     r->guest_phys_addr, r->memory_size, r->mmap_offset + r->memory_size,
		     vm_fd_type_name((unsigned)f->type), f->size);
}

/* The identity of descriptor i of the message, to go with its region
 * (NULL when unknown); the caller frees it.  Allocation failure is
 * noted in h. */
static struct vm_fd_id *fd_identity(struct hctx *h, size_t i)
{
	const struct vu_fd_fact *f = &h->m->fd_facts[i];
	struct vm_fd_id *id;

	if (i >= h->m->nfds || f->type == VM_FD_UNKNOWN)
		return NULL;
	id = vm_fd_id_new((unsigned)f->type, f->dev, f->ino, f->size, f->path);
	if (!id)
		h->nomem = 1;
	return id;
}

static struct vm_region *copy_regions(const struct vm_region *const *v, size_t n)
{
	struct vm_region *out = malloc((n ? n : 1) * sizeof(*out));

	if (out)
		for (size_t i = 0; i < n; i++) {
			out[i] = *v[i];
			out[i].name = NULL;
			out[i].fd = NULL;
		}
	return out;
}

/* Records a table change of message msg: what went, what came.  0 or
 * -ENOMEM. */
static int record_change(struct vu_session *s, size_t msg, uint32_t request,
			 uint64_t time_ns, const struct vm_region *const *removed,
			 size_t nremoved, const struct vm_region *const *added,
			 size_t nadded, bool rollback)
{
	struct vu_update *u;

	s->updates_total++;
	if (s->nupdates >= VU_MAX_UPDATES)
		return 0; /* counted, not listed */
	if (vu_grow((void **)&s->updates, s->nupdates, sizeof(*s->updates)))
		return -ENOMEM;
	u = &s->updates[s->nupdates];
	*u = (struct vu_update){
		.msg = msg, .request = request, .time_ns = time_ns,
		.added = copy_regions(added, nadded), .nadded = nadded,
		.removed = copy_regions(removed, nremoved), .nremoved = nremoved,
		.nregions = s->table.umem.nregions, .rollback = rollback,
	};
	if (!u->added || !u->removed) {
		free(u->added);
		free(u->removed);
		return -ENOMEM;
	}
	s->nupdates++;
	return 0;
}

/* The change of the message being handled; when forwarding with a reply
 * awaited, its undo goes with the pending entry. */
static void record_update(struct hctx *h, const struct vm_region *const *removed,
			  size_t nremoved, const struct vm_region *const *added,
			  size_t nadded)
{
	struct vu_pending *p = vu_pending_of(h);

	if (record_change(h->s, h->idx, h->m->request, h->m->time_ns, removed, nremoved,
			  added, nadded, false))
		h->nomem = 1;
	if (!p || p->has_change)
		return;
	p->added = copy_regions(added, nadded);
	p->removed = copy_regions(removed, nremoved);
	if (!p->added || !p->removed) {
		free(p->added);
		free(p->removed);
		p->added = p->removed = NULL;
		h->nomem = 1;
		return;
	}
	p->nadded = nadded;
	p->nremoved = nremoved;
	p->has_change = true;
}

int vu_mem_undo(struct vu_session *s, const struct vu_pending *p, uint64_t time_ns)
{
	const struct vm_region **gone = malloc((p->nadded + 1) * sizeof(*gone));
	const struct vm_region **back = malloc((p->nremoved + 1) * sizeof(*back));
	struct vm_region *keep = malloc((p->nadded + 1) * sizeof(*keep));
	size_t ngone = 0, nback = 0;
	int rc = 0;

	if (!gone || !back || !keep) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->nadded; i++) {
		const struct vm_region *r = &p->added[i];
		struct vm_umem_node *n = vm_umem_find(&s->table.umem, r->guest_phys_addr,
						      r->userspace_addr, r->memory_size);

		if (!n)
			continue; /* removed since */
		keep[ngone] = n->region;
		keep[ngone].name = NULL;
		keep[ngone].fd = NULL;
		gone[ngone] = &keep[ngone];
		ngone++;
		vm_umem_remove(&s->table.umem, n);
	}
	for (size_t i = 0; i < p->nremoved; i++) {
		const struct vm_region *r = &p->removed[i];
		struct vm_umem_node *n;

		if (vm_umem_find(&s->table.umem, r->guest_phys_addr, r->userspace_addr,
				 r->memory_size) || s->table.umem.nregions >= VU_MAX_SLOTS)
			continue; /* added again since, or past vmmap's own bound */
		if (vm_umem_add(&s->table.umem, r, &n)) {
			rc = -ENOMEM;
			goto out;
		}
		back[nback++] = &n->region;
	}
	rc = record_change(s, p->msg, p->request, time_ns, gone, ngone, back, nback, true);
out:
	free(gone);
	free(back);
	free(keep);
	return rc;
}

static void set_mem_table(struct hctx *h)
{
	struct vu_session *s = h->s;
	const struct vu_msg *m = h->m;
	struct vm_table next;
	struct vm_diff d;
	uint32_t n;

	n = get_u32(m, 0); /* the size rule gave 8 bytes at least */
	if (get_u32(m, 4))
		vu_bad(h, "SET_MEM_TABLE padding is 0x%" PRIx32 ", not 0", get_u32(m, 4));
	if ((uint64_t)m->size != 8 + (uint64_t)n * 32) {
		vu_bad(h, "SET_MEM_TABLE announces %" PRIu32 " regions in %" PRIu32
		    " payload bytes; %" PRIu64 " bytes expected", n, m->size,
		    8 + (uint64_t)n * 32);
		if ((uint64_t)n * 32 > m->size - 8)
			return; /* the regions are not all there */
	}
	if (n == 0)
		vu_bad(h, "SET_MEM_TABLE carries no region");
	if (n > VHOST_MEMORY_BASELINE_NREGIONS)
		vu_bad(h, "SET_MEM_TABLE carries %" PRIu32 " regions; at most %d fit "
		    "(VHOST_MEMORY_BASELINE_NREGIONS); not applied", n,
		    VHOST_MEMORY_BASELINE_NREGIONS);
	if (m->nfds != n)
		vu_bad(h, "SET_MEM_TABLE announces %" PRIu32 " region%s but came with %zu "
		    "file descriptor%s; one per region", n, vu_plural(n), m->nfds,
		    vu_plural(m->nfds));
	if (vu_acked_protocol(s, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
		vu_bad(h, "SET_MEM_TABLE after CONFIGURE_MEM_SLOTS was negotiated "
		    "(the frontend should use ADD_MEM_REG and REM_MEM_REG)");
	/* Refused, as ADD_MEM_REG past the slots is: the table stays within
	 * what a backend can hold. */
	if (n > VHOST_MEMORY_BASELINE_NREGIONS)
		return;

	/* Build the new table, then record its difference from the old. */
	vm_table_init(&next);
	for (uint32_t i = 0; i < n; i++) {
		struct vm_region r = get_region(m, 8 + (size_t)i * 32);

		if (!region_ok(h, &r))
			continue;
		region_fd(h, &r, i);
		r.fd = fd_identity(h, i);
		if (vm_umem_add(&next.umem, &r, NULL))
			h->nomem = 1;
		free(r.fd);
	}
	if (!vm_table_diff(&s->table, &next, &d)) {
		const struct vm_region **v = malloc((d.nops + 1) * sizeof(*v));
		struct vm_umem old;

		/* The diff lists removals, then additions. */
		for (size_t i = 0; v && i < d.nops; i++)
			v[i] = &d.ops[i].node->region;
		/* Swap first so the update counts the new table; the diff still
		 * points into both tables, which live until it is freed. */
		old = s->table.umem;
		s->table.umem = next.umem;
		next.umem = old;
		if (v)
			record_update(h, v, d.nrem, v + d.nrem, d.nops - d.nrem);
		else
			h->nomem = 1;
		free(v);
		vm_diff_free(&d);
	} else {
		h->nomem = 1;
	}
	vm_table_clean(&next);
}

static void add_mem_reg(struct hctx *h)
{
	struct vu_session *s = h->s;
	struct vm_region r;
	const struct vm_region *added;
	struct vm_umem_node *node;
	const struct vm_itree_node *it;

	r = get_region(h->m, 8);
	if (!region_ok(h, &r))
		return;
	region_fd(h, &r, 0);
	if (vm_umem_find(&s->table.umem, r.guest_phys_addr, r.userspace_addr,
			 r.memory_size)) {
		vu_bad(h, "ADD_MEM_REG of a region already in the table "
		    "(guest_phys_addr 0x%" PRIx64 ", memory_size 0x%" PRIx64 ")",
		    r.guest_phys_addr, r.memory_size);
		return;
	}
	it = vm_itree_iter_first(&s->table.umem.gpa_tree, r.guest_phys_addr,
				 vm_region_last(&r));
	if (it)
		vu_bad(h, "ADD_MEM_REG region 0x%" PRIx64 "-0x%" PRIx64 " overlaps region "
		    "0x%" PRIx64 "-0x%" PRIx64 " in guest-physical space",
		    r.guest_phys_addr, vm_region_last(&r), it->start, it->last);
	if (s->table.umem.nregions + 1 > s->cfg.max_slots) {
		/* Refused, not recorded: the slot count bounds the table.
		 * Forwarding, the real backend decides (a refusal comes back as
		 * a NACK): the region is kept up to vmmap's own bound. */
		bool keep = s->cfg.observer && s->table.umem.nregions < VU_MAX_SLOTS;

		vu_bad(h, "ADD_MEM_REG would make %zu regions; the backend announced %" PRIu64
		    " slots%s", s->table.umem.nregions + 1, s->cfg.max_slots,
		    keep ? "" : "; not added");
		if (!keep)
			return;
	}
	r.fd = fd_identity(h, 0);
	if (vm_umem_add(&s->table.umem, &r, &node)) {
		free(r.fd);
		h->nomem = 1;
		return;
	}
	free(r.fd);
	added = &node->region;
	record_update(h, NULL, 0, &added, 1);
}

static void rem_mem_reg(struct hctx *h)
{
	struct vu_session *s = h->s;
	struct vm_umem_node *node;
	struct vm_region r;
	const struct vm_region *removed = &r;

	r = get_region(h->m, 8);
	node = vm_umem_find(&s->table.umem, r.guest_phys_addr, r.userspace_addr,
			    r.memory_size);
	if (!node) {
		vu_bad(h, "REM_MEM_REG of a region not in the table (guest_phys_addr 0x%"
		    PRIx64 ", userspace_addr 0x%" PRIx64 ", memory_size 0x%" PRIx64 ")",
		    r.guest_phys_addr, r.userspace_addr, r.memory_size);
		return;
	}
	r = node->region;
	r.name = NULL;
	r.fd = NULL;
	vm_umem_remove(&s->table.umem, node);
	record_update(h, &removed, 1, NULL, 0);
}

void vu_mem_table_request(struct hctx *h, struct vu_reply *r)
{
	(void)r;
	if (h->m->request == VHOST_USER_SET_MEM_TABLE)
		set_mem_table(h);
	else if (h->m->request == VHOST_USER_ADD_MEM_REG)
		add_mem_reg(h);
	else
		rem_mem_reg(h);
}
