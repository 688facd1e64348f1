/*
 * Lookups in the guest memory table (see umem.h): translate_desc over the
 * interval trees, or over the flat index derived from a tree once a
 * caller's lookups have paid for it, with the caller's record of its last
 * hit (umem_fast.h) answering a range in the same region first.
 */
#include "umem.h"
#include "umem_fast.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * First address of the hole around an unmapped addr: one past the highest
 * `last` of the ranges starting at or before addr (all of which end before
 * it), or 0.  O(log n) with subtree_last.
 */
static uint64_t hole_first(const struct vm_itree *tree, uint64_t addr)
{
	const struct vm_itree_node *n = tree->root;
	uint64_t best = 0;
	int found = 0;

	while (n) {
		if (n->start <= addr) {
			/* n and its whole left subtree start at or before addr. */
			uint64_t m = n->last;

			if (n->left && n->left->subtree_last > m)
				m = n->left->subtree_last;
			if (!found || m > best)
				best = m;
			found = 1;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return found ? best + 1 : 0;
}

/*
 * Whether a stale or missing index is worth building now.  Building costs
 * O(n); the tree answers a lookup in O(log n), dearer than the index by a
 * cache miss per level in a big table.  So the tree keeps answering until
 * the lookups it served since the index went stale add up to about one
 * build (measured: a build of a 1M-region index costs what ~25,000 tree
 * lookups cost), then the index is built: never more than about twice the
 * better of the two choices made in hindsight (ski rental).  A one-off
 * query of a big table never pays for an index it would use once, and a
 * table edited between lookups is not re-indexed after every edit.
 */
static bool index_due(const struct vm_umem *umem, const struct vm_umem_last *last,
		      enum vm_space space)
{
	return last->tree_lookups[space] > umem->nregions / 32 + 2;
}

/*
 * The current flat index of a space, built first if `build` (or NULL when
 * it is stale and not); NULL also when the regions overlap (or memory is
 * short): then the tree answers.  The index is a cache, so it may be built
 * through a const table.
 */
static struct vm_flat_index *usable_index(const struct vm_umem *cumem,
					  enum vm_space space, bool build)
{
	struct vm_umem *umem = (struct vm_umem *)cumem;
	struct vm_flat_index **slot = &umem->index[space];
	const struct vm_itree *tree;

	if (*slot && (*slot)->key && (*slot)->generation == umem->generation)
		return (*slot)->disjoint ? *slot : NULL;
	if (!build)
		return NULL;
	if (!*slot && !(*slot = calloc(1, sizeof(**slot))))
		return NULL;
	if (!(tree = vm_umem_tree(umem, space)) ||
	    vm_flat_index_build(*slot, tree, umem->generation))
		return NULL;
	for (size_t i = 0; i < (*slot)->n; i++) {
		struct vm_flat_entry *e = &(*slot)->e[i];
		const struct vm_umem_node *n = vm_umem_node_of(e->owner, space);

		e->other = space == VM_SPACE_GPA ? n->region.userspace_addr
						 : n->region.guest_phys_addr;
		e->offset = n->region.mmap_offset;
		e->owner = n;
	}
	return (*slot)->disjoint ? *slot : NULL;
}

/*
 * The sorted position of the first region starting above addr (see
 * vm_flat_index_upper).  The inline fast path already tried the last hit.
 * In a big table, where a search costs hundreds of ns, an address past the
 * last hit but not past the next region (a walk moving on, or into the gap
 * before it) is placed without one.  Small tables search at once: there the
 * extra test costs random lookups more than it saves (measured).  Disjoint
 * starts increase strictly, so last[pos] < addr <= last[pos + 1] gives the
 * upper bound directly.
 */
static size_t flat_upper(const struct vm_flat_index *idx, const struct vm_umem_last *last,
			 enum vm_space from, uint64_t addr)
{
	size_t m = last->space[from].pos;

	/* One unsigned compare (a random address fails it predictably):
	 * addr - last[m] - 1 < last[m + 1] - last[m]. */
	if (idx->n >= VM_FLAT_WALK_MIN && m + 1 < idx->n &&
	    addr - idx->e[m].last - 1 < idx->e[m + 1].last - idx->e[m].last)
		return addr >= idx->e[m + 1].start ? m + 2 : m + 1;
	return vm_flat_index_upper(idx, addr);
}

/* translate_desc over the flat index from up = flat_upper(idx, addr): the
 * same pieces as the tree walk for disjoint regions. */
static int translate_flat(struct vm_umem_last *rec, const struct vm_flat_index *idx,
			  enum vm_space from, uint64_t addr, uint64_t last,
			  struct vm_piece *pieces, size_t max_pieces,
			  struct vm_translation *tr, size_t up)
{
	size_t i = up - 1;

	for (;;) {
		const struct vm_umem_node *n;
		struct vm_piece *p;
		uint64_t delta, piece_last;

		if (tr->npieces >= max_pieces) {
			tr->fault_addr = addr;
			return -ENOBUFS;
		}
		if (up == 0 || idx->e[i].last < addr) {
			tr->fault_addr = addr;
			tr->hole_first = up > 0 ? idx->e[up - 1].last + 1 : 0;
			tr->hole_last = up < idx->n ? idx->e[up].start - 1 : UINT64_MAX;
			return -EFAULT;
		}
		/* Only the index's entry is read, not the node. */
		n = idx->e[i].owner;
		delta = addr - idx->e[i].start;
		piece_last = idx->e[i].last < last ? idx->e[i].last : last;

		p = &pieces[tr->npieces++];
		p->region = &n->region;
		p->len = piece_last - addr + 1;
		p->guest_phys_addr = from == VM_SPACE_GPA ? addr : idx->e[i].other + delta;
		p->userspace_addr = from == VM_SPACE_GPA ? idx->e[i].other + delta : addr;
		p->mmap_offset = idx->e[i].offset + delta;
		if (piece_last == last) {
			vm_umem_hit(rec, idx, from, i);
			return 0;
		}
		addr = piece_last + 1;
		/* Ranges run on into the next region, which then starts right
		 * there: no search needed. */
		if (i + 1 < idx->n && idx->e[i + 1].start == addr)
			up = ++i + 1;
		else
			i = (up = vm_flat_index_upper(idx, addr)) - 1;
	}
}

void vm_umem_prefetch(const struct vm_umem *umem, enum vm_space from,
		      const uint64_t *addr, size_t n, bool regions)
{
	/* Whoever hints is about to look many addresses up: the index pays. */
	struct vm_flat_index *idx = usable_index(umem, from, true);

	/* An entry's owner is its node, whose first member is the region. */
	if (idx)
		vm_flat_index_prefetch(idx, addr, n, regions);
}

/* translate over umem's current, disjoint index (idx), for a range already
 * checked to be non-empty and not to wrap, once the search has given up
 * (up = vm_flat_index_upper(idx, addr)). */
static int translate_at(struct vm_umem_last *rec, const struct vm_flat_index *idx,
			enum vm_space from, uint64_t addr, uint64_t len,
			struct vm_piece *pieces, size_t max_pieces,
			struct vm_translation *tr, size_t up)
{
	tr->npieces = 0;
	tr->fault_addr = tr->hole_first = tr->hole_last = 0;
	return translate_flat(rec, idx, from, addr, addr + len - 1, pieces, max_pieces,
			      tr, up);
}

/* The same, searching first. */
static int translate_index(struct vm_umem_last *rec, const struct vm_flat_index *idx,
			   enum vm_space from, uint64_t addr, uint64_t len,
			   struct vm_piece *pieces, size_t max_pieces,
			   struct vm_translation *tr)
{
	size_t up = flat_upper(idx, rec, from, addr);

	/* The common case, a range inside one region: one piece, without
	 * translate_flat's loop (measured: a tenth of a random lookup in a
	 * small table). */
	if (vm_umem_hit_one(rec, idx, from, up, addr, len, pieces, max_pieces, tr))
		return 0;
	return translate_at(rec, idx, from, addr, len, pieces, max_pieces, tr, up);
}

/* The general case: checks, then the index when there is one (or it is
 * due), else the tree. */
static int translate_slow(const struct vm_umem *umem, struct vm_umem_last *rec,
			  enum vm_space from, uint64_t addr, uint64_t len,
			  struct vm_piece *pieces, size_t max_pieces,
			  struct vm_translation *tr)
{
	const struct vm_itree *tree;
	struct vm_flat_index *idx;
	uint64_t last;

	tr->npieces = 0;
	tr->fault_addr = tr->hole_first = tr->hole_last = 0;
	if (len == 0)
		return -EINVAL;
	if (len - 1 > UINT64_MAX - addr)
		return -EOVERFLOW;
	/* last stays fixed while addr walks (the Nov 2022 translate_desc fix). */
	last = addr + len - 1;
	if ((idx = usable_index(umem, from, index_due(umem, rec, from))))
		return translate_flat(rec, idx, from, addr, last, pieces, max_pieces, tr,
				      flat_upper(idx, rec, from, addr));
	if (!(tree = vm_umem_tree(umem, from)))
		return -ENOMEM;
	rec->tree_lookups[from]++;

	for (;;) {
		const struct vm_itree_node *it;
		const struct vm_umem_node *n;
		struct vm_piece *p;
		uint64_t delta, piece_last;

		if (tr->npieces >= max_pieces) {
			tr->fault_addr = addr;
			return -ENOBUFS;
		}
		it = vm_itree_iter_first(tree, addr, last);
		if (!it || it->start > addr) {
			/* The lowest-starting overlap begins after addr, so it is
			 * also where the hole ends. */
			tr->fault_addr = addr;
			tr->hole_first = hole_first(tree, addr);
			if (!it)
				it = vm_itree_iter_first(tree, addr, UINT64_MAX);
			tr->hole_last = it ? it->start - 1 : UINT64_MAX;
			return -EFAULT;
		}
		n = vm_umem_node_of(it, from);
		delta = addr - it->start;
		piece_last = it->last < last ? it->last : last;

		p = &pieces[tr->npieces++];
		p->region = &n->region;
		p->len = piece_last - addr + 1;
		p->guest_phys_addr = n->region.guest_phys_addr + delta;
		p->userspace_addr = n->region.userspace_addr + delta;
		p->mmap_offset = n->region.mmap_offset + delta;
		if (piece_last == last)
			return 0;
		addr = piece_last + 1;
	}
}

/*
 * The fast path first: a range that lies wholly in the caller's last hit
 * is one piece, answered from the record (a zero len and a range past
 * 2^64 - 1 never pass its test); everything else goes on below.
 */
/*
 * Past the caller's last hit: a record to make (none, or a stale one), an
 * index to search, or the general case.  Out of line, so that translate's
 * hit needs no stack frame.
 */
static __attribute__((noinline)) int
translate_miss(const struct vm_umem *umem, struct vm_umem_last *last, enum vm_space from,
	       uint64_t addr, uint64_t len, struct vm_piece *pieces, size_t max_pieces,
	       struct vm_translation *tr)
{
	struct vm_umem_last none = { 0 };
	const struct vm_flat_index *idx;

	if (!last)
		last = &none;
	if (last->generation != umem->generation) {
		memset(last, 0, sizeof(*last));
		last->generation = umem->generation;
	}
	/* A current index and a valid range: straight to the index search,
	 * without the slow path's checks again; in a small table, whose
	 * index stays in cache, a range inside one region without a call. */
	idx = umem->index[from];
	if (idx && idx->generation == umem->generation && idx->disjoint &&
	    len && len - 1 <= UINT64_MAX - addr) {
		size_t up;

		if (idx->n >= VM_FLAT_WALK_MIN)
			return translate_index(last, idx, from, addr, len, pieces,
					       max_pieces, tr);
		up = vm_flat_index_upper(idx, addr);
		if (vm_umem_hit_one(last, idx, from, up, addr, len, pieces, max_pieces, tr))
			return 0;
		return translate_at(last, idx, from, addr, len, pieces, max_pieces, tr, up);
	}
	return translate_slow(umem, last, from, addr, len, pieces, max_pieces, tr);
}

/*
 * The fast path: a range that lies wholly in the caller's last hit is one
 * piece, answered from the record (a zero len and a range past 2^64 - 1
 * never pass its test; a record of another table or of an older state of
 * this one has another generation); everything else goes on out of line.
 */
int vm_umem_translate(const struct vm_umem *umem, struct vm_umem_last *last,
		      enum vm_space from, uint64_t addr, uint64_t len,
		      struct vm_piece *pieces, size_t max_pieces, struct vm_translation *tr)
{
	const struct vm_umem_hit *m;
	const struct vm_flat_index *idx;
	uint64_t end_off;

	/* Expected: a walk hits here nearly every time, and this way the
	 * hit runs straight through, with no taken branch.  The range's last
	 * byte lies end_off into the region: below size, and not past 2^64
	 * (then its first byte is in too; a zero len's len - 1 is 2^64 - 1,
	 * which wraps or reaches size). */
	if (__builtin_expect(last && last->generation == umem->generation, 1)) {
		m = &last->space[from];
		if (__builtin_expect(max_pieces &&
				     !__builtin_add_overflow(addr - m->start, len - 1,
							     &end_off) &&
				     end_off < m->size, 1)) {
			pieces[0].region = m->region;
			pieces[0].len = len;
			pieces[0].guest_phys_addr = from == VM_SPACE_GPA ? addr
								: addr + m->other;
			pieces[0].userspace_addr = from == VM_SPACE_GPA ? addr + m->other
								: addr;
			pieces[0].mmap_offset = addr + m->offset;
			tr->npieces = 1;
			return 0;
		}
		/* A small table's current index stays in cache: a range inside
		 * one region without a call. */
		idx = umem->index[from];
		if (idx && idx->generation == umem->generation && idx->disjoint &&
		    idx->n < VM_FLAT_WALK_MIN && len && len - 1 <= UINT64_MAX - addr &&
		    vm_umem_hit_one(last, idx, from, vm_flat_index_upper(idx, addr), addr,
				    len, pieces, max_pieces, tr))
			return 0;
	}
	return translate_miss(umem, last, from, addr, len, pieces, max_pieces, tr);
}
