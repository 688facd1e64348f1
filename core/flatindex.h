/*
 * A flat lookup index over one interval tree of the memory table, derived
 * from it and rebuilt lazily when the table's generation changes (the way
 * QEMU rebuilds a FlatView from its memory regions).
 *
 * The region starts are the leaves of a static B+ tree (an "S+ tree"):
 * nodes of 16 keys in one 128-byte block, 17 children each, searched by
 * counting the keys at or below the address, with no branch on the data.
 * The leaves are the sorted starts themselves, so the count at the bottom
 * is the sorted position: a 1M-region table is 5 node visits, the lower
 * ones a cache miss each, where a binary layout needs 20 levels and a
 * rank array.  (Under VM_FLAT_WALK_MIN regions, where the keys stay in
 * cache, the leaves alone are binary searched: fewer instructions.)  The
 * regions' entries sit in sorted order beside them; from the position of a
 * caller's last hit (struct vm_umem_last) a walk moving on finds the next
 * region without a search.  The index is only used while the regions do
 * not overlap: then "the region with the greatest start at or below addr"
 * is exactly the tree's "lowest-starting region that covers addr".
 */
#ifndef VMMAP_FLATINDEX_H
#define VMMAP_FLATINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "itree.h"

#define VM_FLAT_B 16          /* keys per node */
#define VM_FLAT_MAX_HEIGHT 8  /* 16 * 17^7 > 2^32 starts */

struct vm_flat_index {
	uint64_t generation; /* of the table it was built from */
	size_t n;
	bool disjoint;
	/* The tree's layers, leaves first: layer 0 is the n starts in order,
	 * padded with UINT64_MAX to whole nodes; node k of layer h + 1 holds
	 * the first start under each of its children 1..16 (children are
	 * 17k..17k+16 of layer h), UINT64_MAX for a child that does not
	 * exist.  Layer height - 1 is the root, one node. */
	uint64_t *key;
	size_t layer[VM_FLAT_MAX_HEIGHT]; /* offset of each layer in key */
	unsigned height;
	/* [0..n): the regions in sorted order, each entry all that a lookup
	 * reads after the search (one or two cache lines, where separate
	 * arrays cost a miss each in a big table). */
	struct vm_flat_entry {
		uint64_t start, last;
		/* The region's address in the other space, its mmap_offset
		 * and the region itself (filled by the owner, see umem_lookup.c), so
		 * that a lookup never touches the tree nodes.  The build puts
		 * the tree node in owner. */
		uint64_t other, offset;
		const void *owner;
	} *e;
};

/* Builds idx from tree for generation gen (each entry's other and offset
 * are left for the caller, and owner is the tree node).  0 or -ENOMEM. */
int vm_flat_index_build(struct vm_flat_index *idx, const struct vm_itree *tree,
			uint64_t gen);
void vm_flat_index_free(struct vm_flat_index *idx);

/* How many of a node's keys are at or below addr: 16 compares, no branch,
 * summed in four groups.  The empty asm keeps each group's sum apart:
 * without it the compiler chains all 16 adds (a carry each, one after
 * another), and a node costs 16 cycles of latency instead of about 6. */
static inline size_t vm_flat_count(const uint64_t *node, uint64_t addr)
{
#define VM_FLAT_COUNT4(k) ((size_t)((k)[0] <= addr) + ((k)[1] <= addr) + \
			   ((k)[2] <= addr) + ((k)[3] <= addr))
	size_t c0 = VM_FLAT_COUNT4(node), c1 = VM_FLAT_COUNT4(node + 4),
	       c2 = VM_FLAT_COUNT4(node + 8), c3 = VM_FLAT_COUNT4(node + 12);
#undef VM_FLAT_COUNT4

	__asm__("" : "+r"(c0), "+r"(c1), "+r"(c2), "+r"(c3));
	return (c0 + c1) + (c2 + c3);
}

/* One step down: from node k of layer h to the child to visit, or in the
 * leaves (layer 0, at offset 0, no children) to the sorted position. */
static inline size_t vm_flat_step(const struct vm_flat_index *idx, unsigned h,
				  size_t k, uint64_t addr)
{
	return k * (h ? VM_FLAT_B + 1 : VM_FLAT_B) +
	       vm_flat_count(idx->key + idx->layer[h] + k * VM_FLAT_B, addr);
}

/*
 * The descent of the tree from the root: the sorted position of the first
 * region starting above addr, for addr below UINT64_MAX.  The padding keys
 * are UINT64_MAX, so they are never counted and the descent stays on real
 * nodes.
 */
static inline size_t vm_flat_tree_upper(const struct vm_flat_index *idx, uint64_t addr)
{
	size_t k = 0;

	for (unsigned h = idx->height; h-- > 0;)
		k = vm_flat_step(idx, h, k, addr);
	return k;
}

/*
 * The same by a binary search of the leaves, the sorted starts, with no
 * branch on the data (the loop runs log2 n times, whatever addr is):
 * about 4 instructions a level where a tree node costs some 60, which is
 * what counts while the keys are in cache and lookups overlap; the tree's
 * few node reads win once each is a cache miss.
 */
static inline size_t vm_flat_leaf_upper(const struct vm_flat_index *idx, uint64_t addr)
{
	const uint64_t *b = idx->key;
	size_t n = idx->n;

	/* The answer lies in [b - key, b - key + n]. */
	while (n > 1) {
		size_t half = n / 2;

		b = b[half] <= addr ? b + half : b;
		n -= half;
	}
	return (size_t)(b - idx->key) + (n && *b <= addr);
}

/*
 * From this many regions on, the index is too big for the caches: it is
 * searched through the tree (below, by vm_flat_leaf_upper), a miss of the
 * last hit first tries the region after it (see umem_lookup.c), and
 * vm_flat_index_prefetch is worth its work.
 */
#define VM_FLAT_WALK_MIN 4096

/*
 * The sorted position of the first region starting above addr (n if
 * none): the region before it is the only one that can contain addr.  At
 * UINT64_MAX every start is at or below addr.
 */
static inline size_t vm_flat_index_upper(const struct vm_flat_index *idx,
					 uint64_t addr)
{
	if (addr == UINT64_MAX)
		return idx->n;
	return idx->n < VM_FLAT_WALK_MIN ? vm_flat_leaf_upper(idx, addr)
					 : vm_flat_tree_upper(idx, addr);
}

/* Runs the searches for addr[0..n) side by side, this many at a time,
 * touching what vm_flat_index_upper and the found region's entry will
 * read (owners: and what the entry's owner points at), so that their
 * cache misses overlap.  A hint: changes nothing. */
#define VM_FLAT_PREFETCH_MAX 16
void vm_flat_index_prefetch(const struct vm_flat_index *idx, const uint64_t *addr,
			    size_t n, bool owners);

#endif
