/*
 * QEMU's own view of guest memory and its buses, as a vmmap document
 * (vmmap-import(1)): from `info mtree -f` (the flat views of the "memory"
 * and "I/O" address spaces), the memory backends (qom-list /objects for
 * their types, query-memdev for size and share) and gpa2hva for the user
 * addresses.  The regions are the ones QEMU 7.2 sends a vhost-user
 * backend, by QEMU's rule (vhost_section, vhost-user's descriptor filter,
 * merging); the guest RAM no backend can use is listed apart with its
 * reason.  Also DPDK vhost's log of the regions it mapped, as a table.
 *
 * Everything QEMU and DPDK print is input: each line is bounded and
 * checked, and what cannot be read is named (one line, where and what).
 */
#ifndef VMMAP_QEMU_IMPORT_H
#define VMMAP_QEMU_IMPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One range of a flat view:
 * "  0000000000100000-000000003fffffff (prio 0, ram): mem @0000000000100000" */
struct vm_flat_range {
	uint64_t first, last;
	int prio;
	char kind[8];       /* ram, rom, i/o, ramd, romd */
	char *name;         /* the final region's name (may hold spaces) */
	uint64_t offset;    /* @OFFSET: where the range starts in that region */
};

struct vm_flat_view {
	struct vm_flat_range *r;
	size_t n;
	char *root;         /* "Root memory region: NAME" (system, io) */
};

/*
 * The flat view serving address space as ("memory", "I/O") in text, the
 * output of `info mtree -f`.  0, or -1 with why: no such address space, a
 * range line that cannot be read (its line number), out of memory.
 */
int vm_mtree_view(const char *text, const char *as, struct vm_flat_view *out, char *why,
		  size_t whylen);
void vm_flat_view_free(struct vm_flat_view *v);

/* What the import asks QEMU; the CLI asks it over QMP. */
struct vm_qemu_facts {
	const char *mtree;       /* `info mtree -f` */
	const json_t *objects;   /* qom-list /objects: [{"name", "type"}] */
	const json_t *memdevs;   /* query-memdev: [{"id", "size", "share"}] */
	/* query-memory-devices: [{"type", "data": {"id", "memdev"}}], the
	 * DIMMs and NVDIMMs that use a backend (NULL: not asked) */
	const json_t *devices;
	/* gpa2hva: 0 and *hva, or -1 with why */
	int (*hva)(void *arg, uint64_t gpa, uint64_t *hva, char *why, size_t whylen);
	void *arg;
};

/*
 * The document: "memory" with the regions QEMU sends a vhost-user backend
 * (named by their backend), "buses" with pio (the "I/O" space) and mmio
 * (the device ranges of "memory"), and "import" with "unsent": the guest
 * RAM no vhost-user backend gets right ({guest_phys_addr, memory_size,
 * backend, type, reason, fix, and the memory device that plugs it}).  NULL with why.
 */
json_t *vm_qemu_import(const struct vm_qemu_facts *f, char *why, size_t whylen);

/*
 * The guest RAM of an imported table t: its regions and the RAM QEMU never
 * sends (its "import" section's unsent ranges without a descriptor, each
 * named "BACKEND: never sent (TYPE)"), as out, for diff --layout against
 * what a backend got.  1 (out filled, *added
 * of them), 0 (t holds no such range: out untouched), -ENOMEM.
 */
struct vm_table;
int vm_import_guest_ram(const struct vm_table *t, struct vm_table *out, size_t *added);

/*
 * DPDK vhost's log of the regions it mapped (lib.vhost.config at debug,
 * 22.11: "guest memory region size: 0x...", "guest physical addr: 0x...",
 * "guest virtual  addr: 0x...", "host  virtual  addr: 0x...", "mmap addr :
 * 0x...", "mmap size : 0x...", "mmap align: 0x...", "mmap off  : 0x..."
 * per region, each table anew after "memory regions" changes): the last
 * table logged, as {"vmmap": 1, "memory": {"regions"}}.  NULL with why
 * ("LINE: ..."), or with why "" when the log holds no region.
 */
json_t *vm_dpdk_log_import(const char *text, char *why, size_t whylen);

#endif
