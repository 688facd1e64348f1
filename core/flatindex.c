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
	free(idx->eyt);
	free(idx->rank);
	free(idx->e);
	memset(idx, 0, sizeof(*idx));
}

/* Fills eyt[k..] in order from the sorted starts; *i walks the sorted array. */
static void fill(struct vm_flat_index *idx, size_t k, size_t *i)
{
	/* Iterative in-order walk of the implicit tree 1..n. */
	size_t n = idx->n;

	while (k <= n) {
		fill(idx, 2 * k, i);
		idx->eyt[k] = idx->e[*i].start;
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
	idx->eyt = vm_malloc_big((n + 1) * sizeof(*idx->eyt));
	idx->rank = vm_malloc_big((n + 1) * sizeof(*idx->rank));
	idx->e = vm_malloc_big((n + 1) * sizeof(*idx->e));
	if (!idx->eyt || !idx->rank || !idx->e) {
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
	}
	i = 0;
	fill(idx, 1, &i);
	/* The cache always holds a real region (there is no value of the
	 * subtract-and-compare test that matches nothing): the first one.  An
	 * empty table is never searched through the index. */
	idx->mru = 0;
	idx->mru_start = n ? idx->e[0].start : 0;
	idx->mru_span = n ? idx->e[0].last - idx->e[0].start : 0;
	idx->generation = gen;
	return 0;
}

void vm_flat_index_prefetch(const struct vm_flat_index *idx, const uint64_t *addr,
			    size_t n)
{
	size_t k[VM_FLAT_PREFETCH_MAX];

	if (idx->n < VM_FLAT_WALK_MIN)
		return; /* a small index stays in cache anyway */
	for (size_t done = 0, m; done < n; done += m) {
		bool more = true;

		m = n - done < VM_FLAT_PREFETCH_MAX ? n - done : VM_FLAT_PREFETCH_MAX;
		for (size_t j = 0; j < m; j++)
			k[j] = 1;
		/* vm_flat_index_upper's descent, level by level: each level's m
		 * loads are independent. */
		while (more) {
			more = false;
			for (size_t j = 0; j < m; j++)
				if (k[j] <= idx->n) {
					k[j] = 2 * k[j] + (idx->eyt[k[j]] <= addr[done + j]);
					more = true;
				}
		}
		for (size_t j = 0; j < m; j++) {
			size_t kk = k[j] >> __builtin_ffsll((long long)~k[j]);
			size_t up = kk ? idx->rank[kk] : idx->n;

			__builtin_prefetch(&idx->e[up ? up - 1 : 0]);
		}
	}
}
