/*
 * Flat lookup index.  See flatindex.h.
 */
#include "flatindex.h"

#include "bigalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vm_flat_index_free(struct vm_flat_index *idx)
{
	free(idx->key);
	free(idx->e);
	memset(idx, 0, sizeof(*idx));
}

int vm_flat_index_build(struct vm_flat_index *idx, const struct vm_itree *tree,
			uint64_t gen)
{
	size_t n = tree->count, i = 0;
	const struct vm_itree_node *it;
	size_t nodes[VM_FLAT_MAX_HEIGHT], total = 0;
	unsigned h = 0;

	vm_flat_index_free(idx);
	if (n >= UINT32_MAX)
		return -ENOMEM; /* beyond VM_FLAT_MAX_HEIGHT: use the tree */
	/* Layer sizes: whole nodes for the leaves, then one parent per 17
	 * nodes up to a single root. */
	nodes[0] = n ? (n + VM_FLAT_B - 1) / VM_FLAT_B : 1;
	while (nodes[h] > 1) {
		nodes[h + 1] = (nodes[h] + VM_FLAT_B) / (VM_FLAT_B + 1);
		h++;
	}
	idx->height = h + 1;
	for (h = 0; h < idx->height; h++) {
		idx->layer[h] = total;
		total += nodes[h] * VM_FLAT_B;
	}
	/* A node is two whole cache lines. */
	idx->key = vm_malloc_big_aligned(VM_FLAT_B * sizeof(*idx->key),
					 total * sizeof(*idx->key));
	idx->e = vm_malloc_big((n + 1) * sizeof(*idx->e));
	if (!idx->key || !idx->e) {
		vm_flat_index_free(idx);
		return -ENOMEM;
	}
	idx->n = n;
	idx->disjoint = n > 0; /* an empty table is never searched this way */
	for (it = vm_itree_first(tree); it; it = vm_itree_next(it), i++) {
		if (i && it->start <= idx->e[i - 1].last)
			idx->disjoint = false;
		idx->e[i].start = it->start;
		idx->e[i].last = it->last;
		idx->e[i].owner = it;
		idx->key[i] = it->start;
	}
	for (i = n; i < nodes[0] * VM_FLAT_B; i++)
		idx->key[i] = UINT64_MAX;
	/* Key j of node k in layer h: the first start under child 17k + j + 1,
	 * whose subtree begins at leaf node (17k + j + 1) * 17^(h-1). */
	for (h = 1; h < idx->height; h++) {
		uint64_t *layer = idx->key + idx->layer[h];
		size_t span = 1; /* leaf nodes under one node of layer h - 1 */

		for (unsigned u = 1; u < h; u++)
			span *= VM_FLAT_B + 1;
		for (size_t k = 0; k < nodes[h]; k++)
			for (size_t j = 0; j < VM_FLAT_B; j++) {
				size_t leaf = (k * (VM_FLAT_B + 1) + j + 1) * span;

				layer[k * VM_FLAT_B + j] = leaf < nodes[0]
					? idx->key[leaf * VM_FLAT_B] : UINT64_MAX;
			}
	}
	idx->generation = gen;
	return 0;
}

void vm_flat_index_prefetch(const struct vm_flat_index *idx, const uint64_t *addr,
			    size_t n, bool owners)
{
	size_t k[VM_FLAT_PREFETCH_MAX];

	if (idx->n < VM_FLAT_WALK_MIN)
		return; /* a small index stays in cache anyway */
	for (size_t done = 0, m; done < n; done += m) {
		m = n - done < VM_FLAT_PREFETCH_MAX ? n - done : VM_FLAT_PREFETCH_MAX;
		for (size_t j = 0; j < m; j++)
			k[j] = 0;
		/* vm_flat_index_upper's descent, layer by layer: each layer's m
		 * node reads are independent.  UINT64_MAX stays at node 0 and
		 * is answered as the search answers it. */
		for (unsigned h = idx->height; h-- > 0;)
			for (size_t j = 0; j < m; j++)
				if (addr[done + j] != UINT64_MAX)
					k[j] = vm_flat_step(idx, h, k[j], addr[done + j]);
		for (size_t j = 0; j < m; j++) {
			k[j] = addr[done + j] == UINT64_MAX ? idx->n : k[j];
			__builtin_prefetch(&idx->e[k[j] ? k[j] - 1 : 0]);
		}
		/* The entries' loads overlap here as the prefetches did. */
		for (size_t j = 0; owners && j < m; j++) {
			const char *o = idx->e[k[j] ? k[j] - 1 : 0].owner;

			/* A region of 40 bytes may cross into the next line. */
			__builtin_prefetch(o);
			__builtin_prefetch(o + 39);
		}
	}
}
