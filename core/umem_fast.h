/*
 * umem_lookup.c's internals (private to it): the last-hit record of a
 * caller (struct vm_umem_last) and the flat index's one-piece answers,
 * inlined into translate's fast path.
 */
#ifndef VMMAP_UMEM_FAST_H
#define VMMAP_UMEM_FAST_H

#include "flatindex.h"
#include "umem.h"

_Static_assert(VM_UMEM_PREFETCH_MAX == VM_FLAT_PREFETCH_MAX,
	       "umem.h's prefetch block is the index's");

/* Entry i of umem's current, disjoint index of space `from` was hit: it is
 * the caller's last hit now. */
static inline void vm_umem_hit(struct vm_umem_last *last, const struct vm_flat_index *idx,
			       enum vm_space from, size_t i)
{
	const struct vm_flat_entry *e = &idx->e[i];
	struct vm_umem_hit *m = &last->space[from];

	m->pos = i;
	m->start = e->start;
	m->size = e->last - e->start + 1; /* no region has 2^64 bytes */
	m->other = e->other - e->start;
	m->offset = e->offset - e->start;
	m->region = &((const struct vm_umem_node *)e->owner)->region;
}

/* The one piece of a range that lies off bytes into entry i of the index
 * and wholly inside it.  (Not the record's answer: sharing those stores,
 * gcc merged the hit's tail with this path and paired two stores in a
 * vector register, 2 more instructions a walk step.) */
static inline void vm_umem_one_piece(const struct vm_flat_index *idx, size_t i,
				     enum vm_space from, uint64_t addr, uint64_t len,
				     uint64_t off, struct vm_piece *pieces,
				     struct vm_translation *tr)
{
	const struct vm_flat_entry *e = &idx->e[i];

	pieces[0].region = &((const struct vm_umem_node *)e->owner)->region;
	pieces[0].len = len;
	pieces[0].guest_phys_addr = from == VM_SPACE_GPA ? addr : e->other + off;
	pieces[0].userspace_addr = from == VM_SPACE_GPA ? e->other + off : addr;
	pieces[0].mmap_offset = e->offset + off;
	tr->npieces = 1;
}

/* If the region before up (the index search's answer) holds the whole
 * range, and a piece is allowed: it is the last hit now, and the range its
 * one piece.  False otherwise, with nothing written. */
static inline bool vm_umem_hit_one(struct vm_umem_last *last,
				   const struct vm_flat_index *idx, enum vm_space from,
				   size_t up, uint64_t addr, uint64_t len,
				   struct vm_piece *pieces, size_t max_pieces,
				   struct vm_translation *tr)
{
	const struct vm_flat_entry *e;
	uint64_t off;

	if (!up || !max_pieces)
		return false;
	e = &idx->e[up - 1];
	off = addr - e->start;
	if (off > e->last - e->start || len - 1 > e->last - e->start - off)
		return false;
	vm_umem_one_piece(idx, up - 1, from, addr, len, off, pieces, tr);
	vm_umem_hit(last, idx, from, up - 1);
	return true;
}

#endif
