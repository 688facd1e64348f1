/*
 * Flat lookup index.  See flatindex.h.
 */
#include "flatindex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vm_flat_index_free(struct vm_flat_index *idx)
{
	free(idx->eyt);
	free(idx->rank);
	free(idx->start);
	free(idx->last);
	free(idx->other);
	free(idx->offset);
	free(idx->node);
	memset(idx, 0, sizeof(*idx));
}

/* Fills eyt[k..] in order from the sorted starts; *i walks the sorted array. */
static void fill(struct vm_flat_index *idx, size_t k, size_t *i)
{
	/* Iterative in-order walk of the implicit tree 1..n. */
	size_t n = idx->n;

	while (k <= n) {
		fill(idx, 2 * k, i);
		idx->eyt[k] = idx->start[*i];
		idx->rank[k] = (uint32_t)*i;
		(*i)++;
		k = 2 * k + 1;
	}
}

int vm_flat_index_build(struct vm_flat_index *idx, const struct vm_itree *tree,
			uint64_t gen)
{
	size_t n = tree->count, i = 0;
	const struct vm_itree_node *it;

	vm_flat_index_free(idx);
	if (n >= UINT32_MAX)
		return -ENOMEM; /* rank is 32-bit: use the tree */
	idx->eyt = malloc((n + 1) * sizeof(*idx->eyt));
	idx->rank = malloc((n + 1) * sizeof(*idx->rank));
	idx->start = malloc((n + 1) * sizeof(*idx->start));
	idx->last = malloc((n + 1) * sizeof(*idx->last));
	idx->other = malloc((n + 1) * sizeof(*idx->other));
	idx->offset = malloc((n + 1) * sizeof(*idx->offset));
	idx->node = malloc((n + 1) * sizeof(*idx->node));
	if (!idx->eyt || !idx->rank || !idx->start || !idx->last || !idx->node ||
	    !idx->other || !idx->offset) {
		vm_flat_index_free(idx);
		return -ENOMEM;
	}
	idx->n = n;
	idx->disjoint = n > 0; /* an empty table is never searched this way */
	for (it = vm_itree_first(tree); it; it = vm_itree_next(it), i++) {
		if (i && it->start <= idx->last[i - 1])
			idx->disjoint = false;
		idx->start[i] = it->start;
		idx->last[i] = it->last;
		idx->node[i] = it;
	}
	i = 0;
	fill(idx, 1, &i);
	/* The cache always holds a real region (there is no value of the
	 * subtract-and-compare test that matches nothing): the first one.  An
	 * empty table is never searched through the index. */
	idx->mru = 0;
	idx->mru_start = n ? idx->start[0] : 0;
	idx->mru_span = n ? idx->last[0] - idx->start[0] : 0;
	idx->generation = gen;
	return 0;
}
