/*
 * malloc for the big arrays of a big table (region slabs, the flat index).
 *
 * Where transparent huge pages are "madvise" (a common default), the
 * arrays of a 1M-region table are otherwise mapped in 4 KiB pages: about
 * 60,000 page faults to fill them and a TLB miss on nearly every random
 * lookup.  Blocks of 4 MiB or more are advised as huge-page candidates;
 * the advice is only advice, so failures are ignored.
 */
#ifndef VMMAP_BIGALLOC_H
#define VMMAP_BIGALLOC_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* align: 0 for malloc's, or a power of two dividing n (aligned_alloc). */
static inline void *vm_malloc_big_aligned(size_t align, size_t n)
{
	void *p = align ? aligned_alloc(align, n) : malloc(n);
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = (uintptr_t)2 << 20;

	if (p && n >= 2 * huge) {
		uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
		uintptr_t hi = ((uintptr_t)p + n) & ~(huge - 1);

		if (hi > lo)
			(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
	}
#endif
	return p;
}

static inline void *vm_malloc_big(size_t n)
{
	return vm_malloc_big_aligned(0, n);
}

#endif
