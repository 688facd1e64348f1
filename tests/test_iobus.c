/*
 * The I/O bus: order with nested, duplicate and zero-length ranges, matching
 * (containment; wildcards at their address), every match reported in bus
 * order, NR_IOBUS_DEVS, unregister, and a randomized check against a linear
 * scan.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iobus.h"

static struct vm_io_bus bus;

static void setup(void)
{
	vm_io_bus_init(&bus);
}

static void teardown(void)
{
	vm_io_bus_clean(&bus);
}

TestSuite(iobus, .init = setup, .fini = teardown);

static void reg(uint64_t addr, uint64_t len, const char *dev, enum vm_io_kind k)
{
	long r = vm_io_bus_register_dev(&bus, addr, len, dev, k);

	cr_assert_geq(r, 0, "register %s: %ld", dev, r);
}

/* The device names of every match, space separated. */
static const char *lookup(uint64_t addr, uint64_t len)
{
	static char out[1024];
	long i;

	out[0] = '\0';
	for (i = vm_io_bus_get_first_dev(&bus, addr, len); i >= 0;
	     i = vm_io_bus_get_next_dev(&bus, (size_t)i, addr, len)) {
		if (out[0])
			strcat(out, " ");
		strcat(out, bus.range[i].dev);
	}
	return out;
}

Test(iobus, pc_pio_devices)
{
	reg(0x40, 4, "pit", VM_IO_DEVICE);
	reg(0x61, 1, "speaker", VM_IO_DEVICE);
	reg(0x20, 2, "pic-master", VM_IO_DEVICE);
	reg(0xa0, 2, "pic-slave", VM_IO_DEVICE);
	reg(0x4d0, 2, "elcr", VM_IO_DEVICE);
	cr_assert_str_eq(bus.range[0].dev, "pic-master");
	cr_assert_str_eq(bus.range[4].dev, "elcr");
	cr_assert_str_eq(lookup(0x43, 1), "pit");
	cr_assert_str_eq(lookup(0x40, 4), "pit");
	cr_assert_str_eq(lookup(0x42, 4), "", "straddles the end of the PIT");
	cr_assert_str_eq(lookup(0x21, 1), "pic-master");
	cr_assert_str_eq(lookup(0x4d1, 1), "elcr");
	cr_assert_str_eq(lookup(0x60, 1), "");
	cr_assert_str_eq(lookup(0x0, 1), "");
	cr_assert_str_eq(lookup(0xffff, 1), "");
}

Test(iobus, order_is_addr_then_end_and_stable)
{
	reg(0x1000, 0x1000, "outer", VM_IO_DEVICE);
	reg(0x1000, 4, "short", VM_IO_IOEVENTFD);
	reg(0x1000, 0, "wild", VM_IO_IOEVENTFD);
	reg(0x1000, 4, "short-2", VM_IO_IOEVENTFD);
	reg(0x800, 0x2000, "before", VM_IO_DEVICE);
	const char *want[] = { "before", "wild", "short", "short-2", "outer" };

	cr_assert_eq(bus.dev_count, 5);
	for (size_t i = 0; i < 5; i++)
		cr_assert_str_eq(bus.range[i].dev, want[i], "index %zu", i);
	cr_assert_eq(bus.ioeventfd_count, 3);
}

Test(iobus, nested_ranges_all_reported_in_bus_order)
{
	reg(0x1000, 0x1000, "outer", VM_IO_DEVICE);
	reg(0x1010, 4, "inner-a", VM_IO_IOEVENTFD);
	reg(0x1020, 4, "inner-b", VM_IO_IOEVENTFD);
	cr_assert_str_eq(lookup(0x1020, 4), "outer inner-b");
	cr_assert_str_eq(lookup(0x1010, 2), "outer inner-a");
	cr_assert_str_eq(lookup(0x1018, 4), "outer");
	cr_assert_str_eq(lookup(0x1ffe, 4), "", "straddles the end of outer");
	cr_assert_str_eq(lookup(0x1ffc, 4), "outer");
	/* The first match is found by walking back past non-matching ones. */
	cr_assert_eq(vm_io_bus_get_first_dev(&bus, 0x1020, 4), 0);
	cr_assert_eq(vm_io_bus_get_next_dev(&bus, 0, 0x1020, 4), 2);
	cr_assert_eq(vm_io_bus_get_next_dev(&bus, 2, 0x1020, 4), -ENOENT);
}

Test(iobus, duplicates_all_reported)
{
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vq%d", i);
		reg(0xfeb00050, 4, name, VM_IO_IOEVENTFD);
	}
	cr_assert_str_eq(lookup(0xfeb00050, 4), "vq0 vq1 vq2");
	cr_assert_str_eq(lookup(0xfeb00052, 2), "vq0 vq1 vq2");
	cr_assert_str_eq(lookup(0xfeb00050, 8), "");
}

/*
 * The seed's 2011 comparator returned "greater" for any access of length
 * 1..8 against a zero-length entry, so bsearch never found wildcards; KVM
 * fixed it in 2015 by comparing addresses only when the entry has len 0.
 */
Test(iobus, zero_length_matches_any_access_at_its_address)
{
	reg(0xfe003000, 0, "notify", VM_IO_IOEVENTFD);
	reg(0xfe002000, 0x2000, "bar", VM_IO_DEVICE);
	for (uint64_t len = 1; len <= 8; len *= 2)
		cr_assert_str_eq(lookup(0xfe003000, len), "bar notify", "len %lu",
				 (unsigned long)len);
	cr_assert_str_eq(lookup(0xfe003001, 1), "bar");
	cr_assert_str_eq(lookup(0xfe002fff, 2), "bar", "covers but does not start at it");
	cr_assert_str_eq(lookup(0xfe003ffe, 4), "", "straddles the end of bar");
}

Test(iobus, top_of_address_space)
{
	reg(UINT64_MAX - 0xff, 0x100, "top", VM_IO_DEVICE);
	reg(UINT64_MAX, 0, "top-wild", VM_IO_IOEVENTFD);
	cr_assert_str_eq(lookup(UINT64_MAX - 3, 4), "top");
	cr_assert_str_eq(lookup(UINT64_MAX, 1), "top top-wild");
	cr_assert_eq(vm_io_bus_get_first_dev(&bus, UINT64_MAX - 3, 5), -EOVERFLOW);
	/* A zero-length access (fast-mmio) lies in "top" or just past it. */
	cr_assert_str_eq(lookup(0x10, 0), "");
	cr_assert_str_eq(lookup(UINT64_MAX - 0xff, 0), "top");
	cr_assert_str_eq(lookup(UINT64_MAX, 0), "top top-wild");
	cr_assert_eq(vm_io_bus_register_dev(&bus, UINT64_MAX - 0xff, 0x101, "wrap",
					    VM_IO_DEVICE), -EOVERFLOW);
}

Test(iobus, nr_iobus_devs_counts_only_non_ioeventfds)
{
	char name[32];

	for (int i = 0; i < 999; i++) {
		snprintf(name, sizeof(name), "dev%d", i);
		reg((uint64_t)i * 16, 8, name, i % 2 ? VM_IO_COALESCED : VM_IO_DEVICE);
	}
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "efd%d", i);
		reg(0x100000 + (uint64_t)i * 4, 4, name, VM_IO_IOEVENTFD);
	}
	reg(0x200000, 8, "dev999", VM_IO_DEVICE); /* the 1000th: allowed */
	cr_assert_eq(vm_io_bus_register_dev(&bus, 0x300000, 8, "dev1000",
					    VM_IO_DEVICE), -ENOSPC);
	/* KVM checks the cap before every registration, ioeventfds too. */
	cr_assert_eq(vm_io_bus_register_dev(&bus, 0x300000, 4, "efd-late",
					    VM_IO_IOEVENTFD), -ENOSPC);
	cr_assert_eq(vm_io_bus_unregister_dev(&bus, 0x200000, 8, "dev999"), 0);
	reg(0x300000, 8, "dev1000", VM_IO_DEVICE);
	cr_assert_eq(bus.dev_count, 4000);
	cr_assert_eq(bus.ioeventfd_count, 3000);
	cr_assert_str_eq(lookup(0x100000 + 4 * 1234, 4), "efd1234");
}

Test(iobus, unregister_removes_exactly_one)
{
	reg(0x1000, 0x1000, "outer", VM_IO_DEVICE);
	reg(0x1020, 4, "dup", VM_IO_IOEVENTFD);
	reg(0x1020, 4, "dup", VM_IO_IOEVENTFD);
	cr_assert_eq(vm_io_bus_unregister_dev(&bus, 0x1020, 4, "dup"), 0);
	cr_assert_str_eq(lookup(0x1020, 4), "outer dup");
	cr_assert_eq(bus.ioeventfd_count, 1);
	cr_assert_eq(vm_io_bus_unregister_dev(&bus, 0x1020, 4, "nope"), -ENOENT);
	cr_assert_eq(vm_io_bus_unregister_dev(&bus, 0x1020, 8, "dup"), -ENOENT);
	/* Removing the outer range must shrink the walk-back bound too. */
	cr_assert_eq(vm_io_bus_unregister_dev(&bus, 0x1000, 0x1000, "outer"), 0);
	cr_assert_str_eq(lookup(0x1020, 4), "dup");
	cr_assert_str_eq(lookup(0x1800, 4), "");
}

/* Random buses against a linear scan with the same predicate. */
Test(iobus, random_against_linear_scan)
{
	uint64_t x = 42;
	char name[32];

	for (int round = 0; round < 30; round++) {
		vm_io_bus_clean(&bus);
		for (int i = 0; i < 300; i++) {
			uint64_t addr, len;

			x = x * 6364136223846793005u + 1442695040888963407u;
			addr = (x >> 33) % 0x2000;
			len = (x >> 13) % 5 == 0 ? 0 : (x >> 17) % 8 == 0
				? 1 + (x >> 23) % 0x800 : UINT64_C(1) << ((x >> 27) % 4);
			snprintf(name, sizeof(name), "r%d", i);
			reg(addr, len, name, len ? VM_IO_DEVICE : VM_IO_IOEVENTFD);
		}
		for (int q = 0; q < 2000; q++) {
			uint64_t addr, len;
			size_t want[300], nwant = 0, got = 0;
			long i;

			x = x * 6364136223846793005u + 1442695040888963407u;
			addr = (x >> 33) % 0x2100;
			len = UINT64_C(1) << ((x >> 20) % 4);
			for (size_t k = 0; k < bus.dev_count; k++) {
				const struct vm_io_range *r = &bus.range[k];
				int m = r->len == 0 ? addr == r->addr
					: addr >= r->addr && addr + len <= r->addr + r->len;

				if (m)
					want[nwant++] = k;
			}
			for (i = vm_io_bus_get_first_dev(&bus, addr, len); i >= 0;
			     i = vm_io_bus_get_next_dev(&bus, (size_t)i, addr, len)) {
				cr_assert_lt(got, nwant, "extra match at %#lx+%lu",
					     (unsigned long)addr, (unsigned long)len);
				cr_assert_eq((size_t)i, want[got], "match %zu at %#lx+%lu",
					     got, (unsigned long)addr, (unsigned long)len);
				got++;
			}
			cr_assert_eq(got, nwant, "%#lx+%lu: %zu of %zu matches",
				     (unsigned long)addr, (unsigned long)len, got, nwant);
		}
		for (size_t k = 1; k < bus.dev_count; k++) {
			const struct vm_io_range *a = &bus.range[k - 1], *b = &bus.range[k];

			cr_assert(a->addr < b->addr || (a->addr == b->addr && a->len <= b->len),
				  "order at %zu", k);
		}
		/* Unregister a third and check again, next round re-randomizes. */
		for (int k = 0; k < 100 && bus.dev_count; k++) {
			const struct vm_io_range *r = &bus.range[(x >> 7) % bus.dev_count];
			char dev[32];

			snprintf(dev, sizeof(dev), "%s", r->dev);
			cr_assert_eq(vm_io_bus_unregister_dev(&bus, r->addr, r->len, dev), 0);
			x = x * 6364136223846793005u + 1442695040888963407u;
		}
		for (uint64_t a = 0; a < 0x2100; a += 7) {
			long f = vm_io_bus_get_first_dev(&bus, a, 2);
			long lin = -ENOENT;

			for (size_t k = 0; k < bus.dev_count; k++)
				if (vm_io_range_matches(&bus.range[k], a, 2)) {
					lin = (long)k;
					break;
				}
			cr_assert_eq(f, lin, "first match at %#lx after unregister",
				     (unsigned long)a);
		}
	}
}

/* A zero-length access (KVM's fast-mmio writes) matches as kvm_io_bus_cmp()
 * has it: in a registration, or just past its end; a wildcard only at its
 * address.  The answer about a straddling access names what it overlaps. */
Test(iobus, fast_mmio_length_zero_and_straddles)
{
	size_t idx[4];

	reg(0x1000, 4, "notify", VM_IO_DEVICE);
	reg(0x2000, 0, "wild", VM_IO_IOEVENTFD);
	cr_assert_str_eq(lookup(0x1000, 0), "notify");
	cr_assert_str_eq(lookup(0x1004, 0), "notify", "start + len: KVM's comparator");
	cr_assert_str_eq(lookup(0x1005, 0), "");
	cr_assert_str_eq(lookup(0x2000, 0), "wild");
	cr_assert_str_eq(lookup(0x1002, 4), "", "straddles the end");
	cr_assert_eq(vm_io_bus_partial(&bus, 0x1002, 4, idx, 4), 1);
	cr_assert_str_eq(bus.range[idx[0]].dev, "notify");
	cr_assert_eq(vm_io_bus_partial(&bus, 0xffe, 4, idx, 4), 1, "straddles the start");
	cr_assert_eq(vm_io_bus_partial(&bus, 0x1000, 4, idx, 4), 0, "a match is no partial");
}

/* KVM's ioeventfd rules, written here from the kernel's text, not from
 * iobus.c: ioeventfd_in_range(). */
static int model_in_range(const struct vm_io_range *r, uint64_t addr, uint64_t len,
			  uint64_t val)
{
	if (r->kind != VM_IO_IOEVENTFD)
		return 1;
	if (addr != r->addr)
		return 0;
	if (!r->len)
		return 1;
	if (len != r->len)
		return 0;
	if (!r->has_datamatch)
		return 1;
	switch (len) {
	case 1: return (uint8_t)val == r->datamatch;
	case 2: return (uint16_t)val == r->datamatch;
	case 4: return (uint32_t)val == r->datamatch;
	default: return val == r->datamatch;
	}
}

/* kvm_io_bus_cmp(access, r) == 0. */
static int model_cmp(const struct vm_io_range *r, uint64_t addr, uint64_t len)
{
	unsigned __int128 a1 = addr, a2 = r->addr;

	if (a1 < a2)
		return 0;
	if (r->len) {
		a1 += len;
		a2 += r->len;
	}
	return a1 <= a2 && (r->len || a1 == a2);
}

/*
 * Random buses of devices, coalesced zones and ioeventfds (wildcards,
 * exact lengths, datamatches), random writes of every width and length 0:
 * the registration a write reaches is KVM's __kvm_io_bus_write() walk, the
 * first in bus order that matches and takes it.
 */
Test(iobus, writes_reach_what_kvm_reaches)
{
	uint64_t x = 7;
	char name[32];

	for (int round = 0; round < 40; round++) {
		vm_io_bus_clean(&bus);
		for (int i = 0; i < 200; i++) {
			uint64_t addr, len;
			enum vm_io_kind k;
			long idx;

			x = x * 6364136223846793005u + 1442695040888963407u;
			addr = ((x >> 33) % 0x400) * 2;
			k = (enum vm_io_kind)((x >> 11) % 3);
			len = k == VM_IO_IOEVENTFD ? ((x >> 13) % 5 == 0 ? 0 : UINT64_C(1) << ((x >> 17) % 4))
			    : 1 + (x >> 23) % 0x40;
			snprintf(name, sizeof(name), "r%d", i);
			idx = vm_io_bus_register_dev(&bus, addr, len, name, k);
			cr_assert_geq(idx, 0);
			if (k == VM_IO_IOEVENTFD && len && (x >> 40) % 2)
				cr_assert_eq(vm_io_set_datamatch(&bus, (size_t)idx, (x >> 45) % 3), 0);
		}
		for (int q = 0; q < 3000; q++) {
			uint64_t addr, len, val;
			long want = -1, got = -1, i;
			const char *why;

			x = x * 6364136223846793005u + 1442695040888963407u;
			addr = (x >> 33) % 0x840;
			len = (x >> 20) % 5 == 0 ? 0 : UINT64_C(1) << ((x >> 22) % 4);
			val = (x >> 50) % 3;
			for (size_t k = 0; want < 0 && k < bus.dev_count; k++)
				if (model_cmp(&bus.range[k], addr, len) &&
				    model_in_range(&bus.range[k], addr, len, val))
					want = (long)k;
			for (i = vm_io_bus_get_first_dev(&bus, addr, len); got < 0 && i >= 0;
			     i = vm_io_bus_get_next_dev(&bus, (size_t)i, addr, len))
				if (vm_io_accepts(&bus.range[i], addr, len, true, val, &why) == 1)
					got = i;
			cr_assert_eq(got, want, "write of %#lx at %#lx+%lu", (unsigned long)val,
				     (unsigned long)addr, (unsigned long)len);
		}
	}
}

Test(iobus, datamatch_only_on_ioeventfds_of_1_2_4_8_bytes)
{
	reg(0x10, 4, "efd", VM_IO_IOEVENTFD);
	reg(0x20, 3, "efd3", VM_IO_IOEVENTFD);
	reg(0x30, 4, "dev", VM_IO_DEVICE);
	cr_assert_eq(vm_io_set_datamatch(&bus, 0, 0xffffffff), 0);
	cr_assert_eq(vm_io_set_datamatch(&bus, 0, 0x100000000), -EINVAL, "wider than 4 bytes");
	cr_assert_eq(vm_io_set_datamatch(&bus, 1, 1), -EINVAL, "3 bytes");
	cr_assert_eq(vm_io_set_datamatch(&bus, 2, 1), -EINVAL, "not an ioeventfd");
}
