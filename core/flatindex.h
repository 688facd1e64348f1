/*
 * A flat lookup index over one interval tree of the memory table, derived
 * from it and rebuilt lazily when the table's generation changes (the way
 * QEMU rebuilds a FlatView from its memory regions).
 *
 * The region starts are laid out in Eytzinger (BFS) order and searched
 * branch-free with prefetching; last addresses and nodes sit in sorted
 * order beside them.  A one-entry cache of the last hit answers sequential
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
	uint64_t *start, *last; /* [0..n): sorted */
	const struct vm_itree_node **node; /* [0..n): sorted */
	size_t mru;          /* sorted position of the last hit, or n */
};

/* Builds idx from tree for generation gen.  0 or -ENOMEM. */
int vm_flat_index_build(struct vm_flat_index *idx, const struct vm_itree *tree,
			uint64_t gen);
void vm_flat_index_free(struct vm_flat_index *idx);

/*
 * The sorted position of the region that contains addr, or idx->n when
 * none does; then *below is the position of the last region before addr
 * (n if none) and *above the first after it (n if none).
 */
static inline size_t vm_flat_index_find(struct vm_flat_index *idx, uint64_t addr,
					size_t *below, size_t *above)
{
	size_t n = idx->n, k = 1, pos, i = idx->mru;

	if (i < n && idx->start[i] <= addr && addr <= idx->last[i])
		return i;
	/* Branch-free descent: k ends one past the path of keys <= addr. */
	while (k <= n) {
		__builtin_prefetch(idx->eyt + 16 * k);
		k = 2 * k + (idx->eyt[k] <= addr);
	}
	k >>= __builtin_ffsll((long long)~k);
	pos = k ? idx->rank[k] : n; /* first region starting above addr */
	if (pos > 0 && idx->last[pos - 1] >= addr) {
		idx->mru = pos - 1;
		return pos - 1;
	}
	*below = pos > 0 ? pos - 1 : n;
	*above = pos;
	return n;
}

#endif
