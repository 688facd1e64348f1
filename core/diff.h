/*
 * The difference between two tables, as a vhost-user frontend sends it.
 *
 * Regions are matched the way QEMU's frontend matches its shadow table when
 * it sends a changed table with CONFIGURE_MEM_SLOTS: the same
 * guest_phys_addr, userspace_addr and memory_size is the same region
 * (REM_MEM_REG's identity).  Unmatched old regions become REM_MEM_REG
 * operations, sent first, in reverse table order (QEMU walks its removal
 * list backwards); unmatched new regions become ADD_MEM_REG operations, in
 * the new table's order.  A matched region whose mmap_offset or name differs
 * is a change (a frontend sends nothing for it).
 *
 * Bus registrations are matched on (addr, len, device, kind); what is left
 * pairs up by device name as a move; the rest is removed or added.
 *
 * The diff points into both tables, which must outlive it.
 */
#ifndef VMMAP_DIFF_H
#define VMMAP_DIFF_H

#include <stddef.h>

#include "table.h"

enum vm_mem_op_kind {
	VM_REM_MEM_REG,
	VM_ADD_MEM_REG,
};

struct vm_mem_op {
	enum vm_mem_op_kind op;
	const struct vm_umem_node *node; /* in the old table (REM) or new (ADD) */
};

struct vm_mem_change {
	const struct vm_umem_node *old, *new;
};

struct vm_io_move {
	const struct vm_io_range *old, *new;
};

struct vm_bus_diff {
	const struct vm_io_range **removed, **added; /* bus order */
	size_t nremoved, nadded;
	struct vm_io_move *moved; /* by device name */
	size_t nmoved;
	size_t unchanged;
};

struct vm_diff {
	struct vm_mem_op *ops; /* every REM_MEM_REG, then every ADD_MEM_REG */
	size_t nops, nrem;
	struct vm_mem_change *changes; /* in the old table's order */
	size_t nchanges;
	size_t unchanged; /* matched regions with nothing changed */
	struct vm_bus_diff bus[VM_NR_BUSES];
};

/* O(n log n).  Returns 0 or -ENOMEM (d is then empty). */
int vm_table_diff(const struct vm_table *old, const struct vm_table *new,
		  struct vm_diff *d);
/*
 * The same with flags.  VM_DIFF_LAYOUT compares the guest's layout only:
 * a region is its guest_phys_addr, memory_size and mmap_offset (no user
 * address, no name, so two runs of one VM, or QEMU's own view and what a
 * backend got, compare equal), there are no changes, and buses are left
 * out.
 */
#define VM_DIFF_LAYOUT 1u
int vm_table_diff_flags(const struct vm_table *old, const struct vm_table *new,
			unsigned flags, struct vm_diff *d);
void vm_diff_free(struct vm_diff *d);
/* Whether the tables are the same. */
int vm_diff_empty(const struct vm_diff *d);

/*
 * Applies d to t as a backend would: each REM_MEM_REG removes the region
 * equal to the old one, each ADD_MEM_REG inserts the new one, each change
 * rewrites mmap_offset and name; bus removals, moves and additions go
 * through unregister/register.  t is a table equal to the diff's old one
 * (the same table or a copy).  Returns 0, -ENOENT when an entry to remove
 * or change is not in t, or a register/add error.
 */
int vm_table_apply(struct vm_table *t, const struct vm_diff *d);

#endif
