/*
 * A picture of an address space (show --map, show --svg): the space cut at
 * every boundary of a region, a hole or a bus registration into segments,
 * each with what covers it.  The drawing itself is the CLI's; this is the
 * geometry, shared by the terminal and the SVG.
 */
#ifndef VMMAP_MAP_H
#define VMMAP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "table.h"

struct vm_segment {
	uint64_t start, last;
	/* The regions covering it (0, 1, or more: an overlap), the first of
	 * them in lookup order (lowest start, then first listed). */
	size_t nregions;
	const struct vm_region *region;
	/* The registrations covering it on the buses drawn, and the first. */
	size_t nio;
	const struct vm_io_range *io;
	int io_bus;
};

/*
 * The segments of the guest-physical space from the lowest to the highest
 * address that a region (when regions) or a registration of the buses in
 * bus_mask (bit
 * b: bus b; mmio and fast-mmio are guest-physical, pio a space of its
 * own) covers; a segment that nothing covers is a hole.  Zero-length
 * registrations (any-length ioeventfds) are left out: they cover nothing.
 * At most max segments: returns how many, -E2BIG when more would be
 * needed, -ENOMEM.  *out is malloc'ed.
 */
long vm_map_segments(const struct vm_table *t, bool regions, unsigned bus_mask,
		     size_t max, struct vm_segment **out);

/*
 * The height of a segment on a scale that keeps small ranges visible:
 * 1 + log2 of its size, rounded down (1 for 1 byte, 65 for 2^64).
 */
unsigned vm_map_weight(const struct vm_segment *s);

#endif
