/*
 * KVM-style I/O bus.  See iobus.h.
 */
#include "iobus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const bus_names[VM_NR_BUSES] = {
	[VM_MMIO_BUS] = "mmio",
	[VM_PIO_BUS] = "pio",
	[VM_VIRTIO_CCW_NOTIFY_BUS] = "virtio-ccw",
	[VM_FAST_MMIO_BUS] = "fast-mmio",
};

static const char *const kind_names[VM_NR_IO_KINDS] = {
	[VM_IO_DEVICE] = "device",
	[VM_IO_IOEVENTFD] = "ioeventfd",
	[VM_IO_COALESCED] = "coalesced",
};

const char *vm_bus_name(enum vm_bus bus)
{
	return (unsigned)bus < VM_NR_BUSES ? bus_names[bus] : "?";
}

int vm_bus_from_name(const char *name)
{
	for (int i = 0; i < VM_NR_BUSES; i++)
		if (!strcmp(name, bus_names[i]))
			return i;
	return -ENOENT;
}

const char *vm_io_kind_name(enum vm_io_kind kind)
{
	return (unsigned)kind < VM_NR_IO_KINDS ? kind_names[kind] : "?";
}

int vm_io_kind_from_name(const char *name)
{
	for (int i = 0; i < VM_NR_IO_KINDS; i++)
		if (!strcmp(name, kind_names[i]))
			return i;
	return -ENOENT;
}

void vm_io_bus_init(struct vm_io_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

void vm_io_bus_clean(struct vm_io_bus *bus)
{
	for (size_t i = 0; i < bus->dev_count; i++)
		free(bus->range[i].dev);
	free(bus->range);
	free(bus->max_last);
	vm_io_bus_init(bus);
}

/* Bus order: addr, then range end (for equal addr, the shorter range first;
 * a zero-length range is the shortest).  Comparing len avoids computing an
 * end that could be 2^64. */
static int range_cmp(uint64_t a_addr, uint64_t a_len, uint64_t b_addr,
		     uint64_t b_len)
{
	if (a_addr != b_addr)
		return a_addr < b_addr ? -1 : 1;
	if (a_len != b_len)
		return a_len < b_len ? -1 : 1;
	return 0;
}

static void recompute_max_last(struct vm_io_bus *bus, size_t from)
{
	uint64_t m = from ? bus->max_last[from - 1] : 0;

	for (size_t i = from; i < bus->dev_count; i++) {
		const struct vm_io_range *r = &bus->range[i];

		if (r->len && r->addr + r->len - 1 > m)
			m = r->addr + r->len - 1;
		bus->max_last[i] = m;
	}
}

static int reserve(struct vm_io_bus *bus, size_t n)
{
	struct vm_io_range *r;
	uint64_t *m;
	size_t cap;

	if (n <= bus->capacity)
		return 0;
	cap = bus->capacity ? bus->capacity * 2 : 16;
	while (cap < n)
		cap *= 2;
	r = realloc(bus->range, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	bus->range = r;
	m = realloc(bus->max_last, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	bus->max_last = m;
	bus->capacity = cap;
	return 0;
}

long vm_io_bus_register_dev(struct vm_io_bus *bus, uint64_t addr, uint64_t len,
			    const char *dev, enum vm_io_kind kind)
{
	size_t lo = 0, hi = bus->dev_count;
	char *name;

	if (len && len - 1 > UINT64_MAX - addr)
		return -EOVERFLOW;
	if ((unsigned)kind >= VM_NR_IO_KINDS)
		return -EINVAL;
	/* KVM checks this before every registration, ioeventfds included. */
	if (bus->dev_count - bus->ioeventfd_count >= VM_NR_IOBUS_DEVS)
		return -ENOSPC;
	if (reserve(bus, bus->dev_count + 1))
		return -ENOMEM;
	name = strdup(dev ? dev : "");
	if (!name)
		return -ENOMEM;

	/* First position whose range sorts after the new one: equal ranges
	 * stay in registration order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vm_io_range *r = &bus->range[mid];

		if (range_cmp(r->addr, r->len, addr, len) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&bus->range[lo + 1], &bus->range[lo],
		(bus->dev_count - lo) * sizeof(bus->range[0]));
	bus->range[lo] = (struct vm_io_range){
		.addr = addr, .len = len, .dev = name, .kind = kind,
	};
	bus->dev_count++;
	if (kind == VM_IO_IOEVENTFD)
		bus->ioeventfd_count++;
	recompute_max_last(bus, lo);
	return (long)lo;
}

void vm_io_bus_remove(struct vm_io_bus *bus, size_t idx)
{
	struct vm_io_range *r = &bus->range[idx];

	if (r->kind == VM_IO_IOEVENTFD)
		bus->ioeventfd_count--;
	free(r->dev);
	memmove(r, r + 1, (bus->dev_count - idx - 1) * sizeof(*r));
	bus->dev_count--;
	recompute_max_last(bus, idx);
}

int vm_io_bus_unregister_dev(struct vm_io_bus *bus, uint64_t addr,
			     uint64_t len, const char *dev)
{
	for (size_t i = 0; i < bus->dev_count; i++) {
		const struct vm_io_range *r = &bus->range[i];

		if (r->addr == addr && r->len == len && !strcmp(r->dev, dev)) {
			vm_io_bus_remove(bus, i);
			return 0;
		}
	}
	return -ENOENT;
}

int vm_io_range_matches(const struct vm_io_range *r, uint64_t addr,
			uint64_t len)
{
	/* kvm_io_bus_cmp(access, r) == 0, in 128 bits: no sum wraps. */
	if (r->len == 0)
		return addr == r->addr;
	return addr >= r->addr &&
	       (unsigned __int128)addr + len <= (unsigned __int128)r->addr + r->len;
}

static long check_access(uint64_t addr, uint64_t len)
{
	if (len && len - 1 > UINT64_MAX - addr)
		return -EOVERFLOW;
	return 0;
}

int vm_io_set_datamatch(struct vm_io_bus *bus, size_t idx, uint64_t value)
{
	struct vm_io_range *r = &bus->range[idx];

	if (r->kind != VM_IO_IOEVENTFD ||
	    (r->len != 1 && r->len != 2 && r->len != 4 && r->len != 8) ||
	    (r->len < 8 && value >> (8 * r->len)))
		return -EINVAL;
	r->has_datamatch = true;
	r->datamatch = value;
	return 0;
}

int vm_io_accepts(const struct vm_io_range *r, uint64_t addr, uint64_t len,
		  bool has_value, uint64_t value, const char **why)
{
	*why = NULL;
	if (r->kind != VM_IO_IOEVENTFD)
		return 1;
	if (addr != r->addr) {
		*why = "an ioeventfd takes only writes at its exact address";
		return 0;
	}
	if (!r->len)
		return 1;
	if (len != r->len) {
		*why = "an ioeventfd takes only writes of its exact length";
		return 0;
	}
	if (!r->has_datamatch)
		return 1;
	if (!has_value) {
		*why = "its datamatch needs the written value: --value";
		return -1;
	}
	if ((len < 8 ? value & ((UINT64_C(1) << (8 * len)) - 1) : value) != r->datamatch) {
		*why = "the written value is not its datamatch";
		return 0;
	}
	return 1;
}

size_t vm_io_bus_partial(const struct vm_io_bus *bus, uint64_t addr, uint64_t len,
			 size_t *idx, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < bus->dev_count; i++) {
		const struct vm_io_range *r = &bus->range[i];
		uint64_t last = len ? addr + (len - 1) : addr;

		if (!r->len || vm_io_range_matches(r, addr, len) ||
		    r->addr > last || r->addr + (r->len - 1) < addr)
			continue;
		if (n < max)
			idx[n] = i;
		n++;
	}
	return n;
}

long vm_io_bus_get_first_dev(const struct vm_io_bus *bus, uint64_t addr,
			     uint64_t len)
{
	size_t lo = 0, hi = bus->dev_count;
	uint64_t alast;
	long first = -ENOENT, err;

	if ((err = check_access(addr, len)))
		return err;
	/* A zero-length access also matches a registration ending just
	 * before it (addr <= start + len). */
	alast = len ? addr + len - 1 : addr ? addr - 1 : 0;

	/* lo = number of registrations that start at or before addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->range[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/*
	 * Walk back.  Once no earlier registration reaches alast and we are
	 * past the ones starting exactly at addr (wildcards live there),
	 * nothing earlier can match.
	 */
	for (size_t i = lo; i-- > 0;) {
		if (bus->range[i].addr != addr && bus->max_last[i] < alast)
			break;
		if (vm_io_range_matches(&bus->range[i], addr, len))
			first = (long)i;
	}
	return first;
}

long vm_io_bus_get_next_dev(const struct vm_io_bus *bus, size_t idx,
			    uint64_t addr, uint64_t len)
{
	if (check_access(addr, len))
		return -EOVERFLOW;
	for (size_t i = idx + 1; i < bus->dev_count && bus->range[i].addr <= addr; i++)
		if (vm_io_range_matches(&bus->range[i], addr, len))
			return (long)i;
	return -ENOENT;
}
