/*
 * KVM-style I/O buses: each bus is an array of registrations kept sorted, and
 * an access is routed by binary search (KVM since "Intelligent device lookup
 * on I/O bus"), with today's KVM semantics:
 *
 *  - order: addr, then the end of the range (equal ranges keep registration
 *    order), a strict weak order kept apart from matching;
 *  - match (kvm_io_bus_cmp() == 0): an access [addr, addr+len) matches a
 *    registration that contains it, and a zero-length registration (a
 *    wildcard ioeventfd) matches any access that starts at its address
 *    (the 2015 fix of the 2011 comparator).  An access that straddles a
 *    registration's end matches nothing there.  A zero-length access (a
 *    fast-mmio write) matches a registration it lies in or just past, as
 *    KVM's comparator has it (addr <= start + len);
 *  - every matching registration is reported, in bus order, because KVM
 *    offers the access to each in turn until one accepts it: a device or
 *    coalesced zone takes it; an ioeventfd only when ioeventfd_in_range()
 *    says so (vm_io_accepts), else the access passes on.
 *
 * Functions return 0 / an index, or a negative errno.
 */
#ifndef VMMAP_IOBUS_H
#define VMMAP_IOBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vm_bus {
	VM_MMIO_BUS,
	VM_PIO_BUS,
	VM_VIRTIO_CCW_NOTIFY_BUS,
	VM_FAST_MMIO_BUS,
	VM_NR_BUSES,
};

enum vm_io_kind {
	VM_IO_DEVICE,
	VM_IO_IOEVENTFD,
	VM_IO_COALESCED,
	VM_NR_IO_KINDS,
};

/* KVM's cap on registrations that are not ioeventfds, per bus. */
#define VM_NR_IOBUS_DEVS 1000

struct vm_io_range {
	uint64_t addr;
	uint64_t len; /* 0: wildcard, matches any access at addr */
	char *dev;    /* device name; owned by the bus */
	enum vm_io_kind kind;
	/* An ioeventfd's datamatch (KVM_IOEVENTFD_FLAG_DATAMATCH): it takes
	 * only a write of exactly this value, len bytes wide. */
	bool has_datamatch;
	uint64_t datamatch;
	unsigned line, col; /* where it was read from; 0 if unknown */
};

struct vm_io_bus {
	struct vm_io_range *range;
	/* max_last[i]: the largest last address of the non-empty ranges in
	 * range[0..i] (0 if none).  It tells get_first_dev how far back a
	 * containing range can start. */
	uint64_t *max_last;
	size_t dev_count;
	size_t ioeventfd_count;
	size_t capacity;
};

/* Names as used in files and on the command line: "mmio", "pio",
 * "virtio-ccw", "fast-mmio"; "device", "ioeventfd", "coalesced". */
const char *vm_bus_name(enum vm_bus bus);
int vm_bus_from_name(const char *name); /* enum vm_bus or -ENOENT */
const char *vm_io_kind_name(enum vm_io_kind kind);
int vm_io_kind_from_name(const char *name);

void vm_io_bus_init(struct vm_io_bus *bus);
void vm_io_bus_clean(struct vm_io_bus *bus);

/*
 * Inserts at the sorted position (O(n) move, no re-sort).  -EOVERFLOW when
 * the range wraps past 2^64-1, -ENOSPC when the bus already holds
 * VM_NR_IOBUS_DEVS registrations that are not ioeventfds (KVM refuses any new
 * registration then), -ENOMEM.  Returns the new index on success.
 */
long vm_io_bus_register_dev(struct vm_io_bus *bus, uint64_t addr, uint64_t len,
			    const char *dev, enum vm_io_kind kind);
/* Removes the first registration with this range and device: 0 or -ENOENT. */
int vm_io_bus_unregister_dev(struct vm_io_bus *bus, uint64_t addr,
			     uint64_t len, const char *dev);
/* Removes the registration at index idx (< dev_count). */
void vm_io_bus_remove(struct vm_io_bus *bus, size_t idx);

/* Whether registration r receives the access [addr, addr + len - 1]. */
int vm_io_range_matches(const struct vm_io_range *r, uint64_t addr,
			uint64_t len);

/* Sets registration idx's datamatch: -EINVAL unless it is an ioeventfd
 * of 1, 2, 4 or 8 bytes and value fits in them (KVM's ioeventfd rules). */
int vm_io_set_datamatch(struct vm_io_bus *bus, size_t idx, uint64_t value);

/*
 * Whether a registration that matched the access on the bus takes a write
 * of value (has_value false: not known): 1 yes, 0 no (the write passes on
 * to the next match; *why says why), -1 not known without the value.  A
 * device or coalesced zone takes it; an ioeventfd as KVM's
 * ioeventfd_in_range(): its exact address; then any length if its own is
 * 0; else exactly its length, and its datamatch value if it has one.
 */
int vm_io_accepts(const struct vm_io_range *r, uint64_t addr, uint64_t len,
		  bool has_value, uint64_t value, const char **why);

/*
 * Registrations that the access overlaps without matching (it straddles
 * their start or end): their indices, in bus order, into idx (at most
 * max); returns how many there are in all.
 */
size_t vm_io_bus_partial(const struct vm_io_bus *bus, uint64_t addr, uint64_t len,
			 size_t *idx, size_t max);

/*
 * Index of the first registration (in bus order) that matches the access:
 * binary search for the last registration starting at or before addr, then a
 * walk back while an earlier one can still contain the access.  -ENOENT when
 * none matches; -EOVERFLOW when the access wraps.  len may be 0 (fast-mmio).
 */
long vm_io_bus_get_first_dev(const struct vm_io_bus *bus, uint64_t addr,
			     uint64_t len);
/* The next matching index after idx, or -ENOENT. */
long vm_io_bus_get_next_dev(const struct vm_io_bus *bus, size_t idx,
			    uint64_t addr, uint64_t len);

#endif
