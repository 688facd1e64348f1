/*
 * QEMU's flat views and memory backends as a vmmap document, and DPDK
 * vhost's region log (core/qemu_import.c), on what real QEMU 7.2 and DPDK
 * 22.11 printed (fixtures/qemu/, fixtures/dpdk/): QEMU's rule for what it
 * sends a vhost-user backend, the RAM it never sends, the buses; and
 * lines that are not what they claim, named.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_import.h"
#include "table.h"

static char *slurp_src(const char *rel)
{
	char path[512];
	FILE *f;
	long n;
	char *b;

	snprintf(path, sizeof(path), "%s/%s", VMMAP_SRC, rel);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	cr_assert(b && fread(b, 1, (size_t)n, f) == (size_t)n);
	b[n] = 0;
	fclose(f);
	return b;
}

static int fake_hva(void *arg, uint64_t gpa, uint64_t *hva, char *why, size_t len)
{
	(void)arg;
	(void)why;
	(void)len;
	*hva = 0x7f0000000000 + gpa;
	return 0;
}

static uint64_t hex(const json_t *o, const char *key)
{
	return strtoull(json_string_value(json_object_get(o, key)), NULL, 16);
}

Test(import, the_flat_views_of_memory_and_io)
{
	char *t = slurp_src("fixtures/qemu/q35-1g-dimms.mtree"), why[200];
	struct vm_flat_view v;

	cr_assert_eq(vm_mtree_view(t, "memory", &v, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(v.root, "system");
	cr_assert_eq(v.n, 32);
	cr_assert_eq(v.r[2].first, 0xc0000);
	cr_assert_str_eq(v.r[2].kind, "rom");
	cr_assert_str_eq(v.r[2].name, "mem");
	cr_assert_eq(v.r[2].offset, 0xc0000);
	cr_assert_str_eq(v.r[18].name, "bochs dispi interface", "names keep their spaces");
	vm_flat_view_free(&v);
	cr_assert_eq(vm_mtree_view(t, "I/O", &v, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(v.root, "io");
	vm_flat_view_free(&v);
	cr_assert_eq(vm_mtree_view(t, "no-such-space", &v, why, sizeof(why)), -1);
	cr_assert_str_eq(why, "no flat view of the address space \"no-such-space\"");
	free(t);
}

Test(import, a_line_that_is_no_range_is_named)
{
	const char *bad = "FlatView #0\n AS \"memory\", root: system\n Root memory region: "
			  "system\n  0000000000000000-000000000009ffff (prio 0, ram): mem\n"
			  "  00000000000a0000-0000000000000000 (prio 1, i/o): backwards\n";
	struct vm_flat_view v;
	char why[200];

	cr_assert_eq(vm_mtree_view(bad, "memory", &v, why, sizeof(why)), -1);
	cr_assert(strstr(why, "line 5: not a flat range"), "%s", why);
}

/* q35, 1G of shared memfd, a memory-backend-ram DIMM and a share=off memfd
 * DIMM: the PAM pieces of "mem" merge into [0xc0000, 1G); the ram DIMM is
 * never sent; the share=off one is sent and unusable. */
Test(import, qemus_rule_for_what_a_backend_is_sent)
{
	char *mtree = slurp_src("fixtures/qemu/q35-1g-dimms.mtree"), why[200];
	json_t *objects = json_load_file(VMMAP_SRC "/fixtures/qemu/q35-1g-dimms.objects.json",
					 0, NULL);
	json_t *memdevs = json_load_file(VMMAP_SRC "/fixtures/qemu/q35-1g-dimms.memdev.json",
					 0, NULL);
	json_t *devices = json_load_file(VMMAP_SRC
					 "/fixtures/qemu/q35-1g-dimms.memory-devices.json", 0, NULL);
	struct vm_qemu_facts f = { .mtree = mtree, .objects = objects, .memdevs = memdevs,
				   .devices = devices, .hva = fake_hva };
	json_t *doc = vm_qemu_import(&f, why, sizeof(why)), *r, *u, *pio, *e;
	static const uint64_t want[3][4] = {
		{ 0x0, 0xa0000, 0x7f0000000000, 0x0 },
		{ 0xc0000, 0x3ff40000, 0x7f00000c0000, 0xc0000 },
		{ 0x108000000, 0x8000000, 0x7f0108000000, 0x0 },
	};
	bool conf = false, gaps = false;
	size_t i;

	cr_assert_not_null(doc, "%s", why);
	r = json_object_get(json_object_get(doc, "memory"), "regions");
	cr_assert_eq(json_array_size(r), 3, "%s", json_dumps(r, 0));
	for (i = 0; i < 3; i++) {
		e = json_array_get(r, i);
		cr_assert_eq(hex(e, "guest_phys_addr"), want[i][0]);
		cr_assert_eq(hex(e, "memory_size"), want[i][1]);
		cr_assert_eq(hex(e, "userspace_addr"), want[i][2]);
		cr_assert_eq(hex(e, "mmap_offset"), want[i][3]);
	}
	u = json_object_get(json_object_get(doc, "import"), "unsent");
	cr_assert_eq(json_array_size(u), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 0), "backend")), "d1");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 0), "device")),
			 "dimm1", "the pc-dimm that plugs it");
	cr_assert(strstr(json_string_value(json_object_get(json_array_get(u, 0), "reason")),
			 "no descriptor"));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 1), "backend")), "d2");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 1), "fix")),
			 "share=on");
	pio = json_object_get(json_object_get(doc, "buses"), "pio");
	json_array_foreach(pio, i, e) {
		conf |= hex(e, "addr") == 0xcfc && hex(e, "len") == 4 &&
			!strcmp(json_string_value(json_object_get(e, "device")), "pci-conf-data");
		gaps |= !strcmp(json_string_value(json_object_get(e, "device")), "io");
	}
	cr_assert(conf, "pio 0xcfc is pci-conf-data");
	cr_assert(!gaps, "the root's own gaps are no devices");
	json_decref(doc);
	json_decref(objects);
	json_decref(memdevs);
	json_decref(devices);
	free(mtree);
}

/* DPDK 22.11 testpmd's log of a QEMU pc 256M table through net_vhost. */
Test(import, dpdk_logs_its_regions)
{
	char *t = slurp_src("fixtures/dpdk/testpmd-22.11-vhost-pc-256m.log"), why[200];
	json_t *doc = vm_dpdk_log_import(t, why, sizeof(why)), *r;

	cr_assert_not_null(doc, "%s", why);
	r = json_object_get(json_object_get(doc, "memory"), "regions");
	cr_assert_eq(json_array_size(r), 2);
	cr_assert_eq(hex(json_array_get(r, 1), "guest_phys_addr"), 0xc0000);
	cr_assert_eq(hex(json_array_get(r, 1), "memory_size"), 0xff40000);
	cr_assert_eq(hex(json_array_get(r, 1), "userspace_addr"), 0x7f90f80bf000);
	cr_assert_eq(hex(json_array_get(r, 1), "mmap_offset"), 0xc0000);
	json_decref(doc);
	free(t);
	cr_assert_null(vm_dpdk_log_import("EAL: nothing here\n", why, sizeof(why)));
	cr_assert_str_eq(why, "");
	cr_assert_null(vm_dpdk_log_import("x guest memory region size: 0x1000\n"
					  "x guest physical addr: 0x0\n"
					  "x guest memory region size: 0x1000\n", why, sizeof(why)));
	cr_assert(strstr(why, "line 3: a region without all of"), "%s", why);
	cr_assert_null(vm_dpdk_log_import("x guest memory region size: 12\n", why, sizeof(why)));
	cr_assert(strstr(why, "line 1:"), "%s", why);
}

/* diff --layout's view of an import: its regions and the RAM never sent. */
Test(import, the_guest_ram_of_an_import)
{
	struct vm_table t, ram;
	struct vm_error err;
	size_t added;

	vm_table_init(&t);
	cr_assert_eq(vm_table_load_file(&t, VMMAP_SRC "/fixtures/imported/qemu-q35-1g-dimms.json",
					0, &err), 0, "%s", err.msg);
	cr_assert_eq(vm_import_guest_ram(&t, &ram, &added), 1);
	cr_assert_eq(added, 1, "d1 only: d2 is sent");
	cr_assert_eq(ram.umem.nregions, 4);
	vm_table_clean(&ram);
	vm_table_clean(&t);
}
