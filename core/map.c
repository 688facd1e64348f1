/*
 * The segments of an address space for its picture (map.h).
 */
#include "map.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Adds the boundaries of [first, last]: where it starts, and where what
 * follows it starts (none past 2^64-1); widens [*lo, *hi]. */
static void bounds(uint64_t *b, size_t *n, uint64_t first, uint64_t last, uint64_t *lo,
		   uint64_t *hi)
{
	b[(*n)++] = first;
	if (last < UINT64_MAX)
		b[(*n)++] = last + 1;
	if (first < *lo)
		*lo = first;
	if (last > *hi)
		*hi = last;
}

long vm_map_segments(const struct vm_table *t, bool regions, unsigned bus_mask,
		     size_t max, struct vm_segment **out)
{
	const struct vm_umem *u = &t->umem;
	size_t nb = 0, cap = 2 * u->nregions + 1, k = 0;
	uint64_t lo = UINT64_MAX, hi = 0, *b;
	struct vm_segment *seg;
	bool any = false;

	*out = NULL;
	for (int bus = 0; bus < VM_NR_BUSES; bus++)
		if (bus_mask & (1u << bus))
			cap += 2 * t->bus[bus].dev_count;
	b = malloc(cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (const struct vm_umem_node *n = regions ? u->head : NULL; n; n = n->next) {
		bounds(b, &nb, n->region.guest_phys_addr, vm_region_last(&n->region), &lo, &hi);
		any = true;
	}
	for (int bus = 0; bus < VM_NR_BUSES; bus++)
		for (size_t i = 0; (bus_mask & (1u << bus)) && i < t->bus[bus].dev_count; i++) {
			const struct vm_io_range *r = &t->bus[bus].range[i];

			if (!r->len)
				continue;
			bounds(b, &nb, r->addr, r->addr + (r->len - 1), &lo, &hi);
			any = true;
		}
	if (!any) {
		free(b);
		return 0;
	}
	qsort(b, nb, sizeof(*b), cmp_u64);
	/* Unique boundaries within [lo, hi]: one segment each. */
	for (size_t i = 0; i < nb; i++)
		if (b[i] <= hi && (k == 0 || b[i] != b[k - 1]))
			b[k++] = b[i];
	if (k > max) {
		free(b);
		return -E2BIG;
	}
	seg = calloc(k ? k : 1, sizeof(*seg));
	if (!seg) {
		free(b);
		return -ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		struct vm_segment *s = &seg[i];
		const struct vm_umem_node *best = NULL;

		s->start = b[i];
		s->last = i + 1 < k ? b[i + 1] - 1 : hi;
		/* A segment lies wholly inside or outside every range. */
		for (const struct vm_itree_node *it = regions ? vm_itree_iter_first(&u->gpa_tree,
							s->start, s->last) : NULL;
		     it; it = vm_itree_iter_next(it, s->start, s->last)) {
			const struct vm_umem_node *n = (const struct vm_umem_node *)
				((const char *)it - offsetof(struct vm_umem_node, gpa));

			s->nregions++;
			if (!best || n->region.guest_phys_addr < best->region.guest_phys_addr ||
			    (n->region.guest_phys_addr == best->region.guest_phys_addr &&
			     vm_umem_seq(n) < vm_umem_seq(best)))
				best = n;
		}
		s->region = best ? &best->region : NULL;
		s->io_bus = -1;
		for (int bus = 0; bus < VM_NR_BUSES; bus++)
			for (size_t j = 0; (bus_mask & (1u << bus)) && j < t->bus[bus].dev_count;
			     j++) {
				const struct vm_io_range *r = &t->bus[bus].range[j];

				if (!r->len || r->addr > s->last || r->addr + (r->len - 1) < s->start)
					continue;
				if (!s->nio++) {
					s->io = r;
					s->io_bus = bus;
				}
			}
	}
	free(b);
	*out = seg;
	return (long)k;
}

unsigned vm_map_weight(const struct vm_segment *s)
{
	uint64_t size_m1 = s->last - s->start; /* size - 1: 2^64 fits */

	/* floor(log2(size)) + 1, with size = size_m1 + 1. */
	if (size_m1 == UINT64_MAX)
		return 65;
	return 64 - (unsigned)__builtin_clzll(size_m1 + 1);
}
