/*
 * A flat lookup index over one interval tree of the memory table, derived
 * from it and rebuilt lazily when the table's generation changes (the way
 * QEMU rebuilds a FlatView from its memory regions).
 *
 * The region starts are laid out in Eytzinger (BFS) order and searched
 * branch-free with prefetching; the regions' entries sit in sorted order
 * beside them.  A one-entry cache of the last hit answers sequential
 * walks without a search.  The index is only used while the regions do not
 * overlap: then "the region with the greatest start at or below addr"
 * is exactly the tree's "lowest-starting region that covers addr".
 */
#ifndef VMMAP_FLATINDEX_H
#define VMMAP_FLATINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "itree.h"

struct vm_flat_index {
	uint64_t generation; /* of the table it was built from */
	size_t n;
	bool disjoint;
	uint64_t *eyt;       /* [1..n]: starts in Eytzinger order */
	uint32_t *rank;      /* [1..n]: sorted position of eyt[k] */
	/* [0..n): the regions in sorted order, each entry all that a lookup
	 * reads after the search (one or two cache lines, where separate
	 * arrays cost a miss each in a big table). */
	struct vm_flat_entry {
		uint64_t start, last;
		/* The region's address in the other space, its mmap_offset
		 * and the region itself (filled by the owner, see umem.c), so
		 * that a lookup never touches the tree nodes.  The build puts
		 * the tree node in owner. */
		uint64_t other, offset;
		const void *owner;
	} *e;
	size_t mru;          /* sorted position of the last hit (n > 0) */
	/* The last hit's start and last - start, beside it, so the cache test
	 * is one subtraction and one compare of two independent loads. */
	uint64_t mru_start, mru_span;
};

/* Builds idx from tree for generation gen (each entry's other and offset
 * are left for the caller, and owner is the tree node).  0 or -ENOMEM. */
int vm_flat_index_build(struct vm_flat_index *idx, const struct vm_itree *tree,
			uint64_t gen);
void vm_flat_index_free(struct vm_flat_index *idx);

/*
 * The sorted position of the first region starting above addr (n if
 * none): the region before it is the only one that can contain addr.
 */
static inline size_t vm_flat_index_upper(const struct vm_flat_index *idx,
					 uint64_t addr)
{
	size_t n = idx->n, k = 1;

	/* Branch-free descent: k ends one past the path of keys <= addr. */
	while (k <= n) {
		__builtin_prefetch(idx->eyt + 16 * k);
		k = 2 * k + (idx->eyt[k] <= addr);
	}
	k >>= __builtin_ffsll((long long)~k);
	return k ? idx->rank[k] : n;
}

/*
 * From this many regions on, the index is too big for the caches: a miss
 * of the last hit first tries the region after it (see umem.c), and
 * vm_flat_index_prefetch is worth its work.
 */
#define VM_FLAT_WALK_MIN 4096

/* Runs the searches for addr[0..n) side by side, this many at a time,
 * touching what vm_flat_index_upper and the found region's entry will
 * read, so that their cache misses overlap.  A hint: changes nothing. */
#define VM_FLAT_PREFETCH_MAX 16
void vm_flat_index_prefetch(const struct vm_flat_index *idx, const uint64_t *addr,
			    size_t n);

/* Makes region i the last hit. */
static inline void vm_flat_index_hit(struct vm_flat_index *idx, size_t i)
{
	idx->mru = i;
	idx->mru_start = idx->e[i].start;
	idx->mru_span = idx->e[i].last - idx->e[i].start;
}

#endif
