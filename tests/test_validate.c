/*
 * validate: every rule fixture triggers exactly its finding, every clean
 * fixture passes its profile, the real QEMU and DPDK layouts pass every
 * profile, and overlaps are found however the regions are ordered.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"

static void load(struct vm_table *t, const char *file)
{
	char path[512];
	struct vm_error err;

	snprintf(path, sizeof(path), "%s/fixtures/%s", VMMAP_SRC, file);
	vm_table_init(t);
	cr_assert_eq(vm_table_load_file(t, path, VM_LOAD_KEEP_INVALID, &err), 0,
		     "%s", err.msg);
}

static const struct {
	const char *rule, *profile;
	enum vm_severity sev;
	unsigned line; /* 0: table-wide */
} rules[] = {
	{ "gpa-overlap", NULL, VM_SEV_ERROR, 6 },
	{ "uaddr-overlap", NULL, VM_SEV_WARNING, 6 },
	{ "zero-size", NULL, VM_SEV_ERROR, 6 },
	{ "gpa-wrap", NULL, VM_SEV_ERROR, 5 },
	{ "uaddr-wrap", NULL, VM_SEV_ERROR, 5 },
	{ "offset-wrap", NULL, VM_SEV_ERROR, 5 },
	{ "alignment", "kvm", VM_SEV_ERROR, 6 },
	{ "too-many-regions", "vhost-user", VM_SEV_ERROR, 0 },
	{ "bus-overlap", NULL, VM_SEV_WARNING, 6 },
	{ "duplicate", NULL, VM_SEV_ERROR, 6 },
	{ "bus-full", NULL, VM_SEV_ERROR, 1005 },
	{ "zero-length", NULL, VM_SEV_WARNING, 5 },
	{ "bus-wrap", NULL, VM_SEV_ERROR, 5 },
};

Test(validate, each_rule_fixture_triggers_exactly_its_finding)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		char file[128];
		struct vm_table t;
		struct vm_findings f;
		const struct vm_profile *p = rules[i].profile
			? vm_profile_find(rules[i].profile) : NULL;

		snprintf(file, sizeof(file), "validate/%s.json", rules[i].rule);
		load(&t, file);
		cr_assert_eq(vm_validate(&t, p, &f), 0);
		cr_expect_eq(f.n, 1, "%s: %zu findings", rules[i].rule, f.n);
		if (f.n) {
			cr_expect_str_eq(f.v[0].rule, rules[i].rule);
			cr_expect_eq(f.v[0].severity, rules[i].sev, "%s", rules[i].rule);
			cr_expect_eq(f.v[0].line, rules[i].line, "%s: line %u", rules[i].rule,
				     f.v[0].line);
			cr_expect_eq(f.errors + f.warnings, 1);
		}
		/* Without the profile, a profile rule finds nothing. */
		if (p) {
			struct vm_findings g;

			cr_assert_eq(vm_validate(&t, NULL, &g), 0);
			cr_expect_eq(g.n, 0, "%s without a profile", rules[i].rule);
			vm_findings_free(&g);
		}
		vm_findings_free(&f);
		vm_table_clean(&t);
	}
}

Test(validate, clean_fixture_per_profile)
{
	for (const struct vm_profile *p = vm_profiles; p->name; p++) {
		char file[128];
		struct vm_table t;
		struct vm_findings f;

		snprintf(file, sizeof(file), "validate/clean-%s.json", p->name);
		load(&t, file);
		cr_assert_eq(vm_validate(&t, p, &f), 0);
		cr_expect_eq(f.n, 0, "%s: %zu findings, first: %s", p->name, f.n,
			     f.n ? f.v[0].message : "");
		/* At the limit exactly, one more would be too many. */
		if (p->max_regions <= 509)
			cr_expect_eq(t.umem.nregions, p->max_regions, "%s", p->name);
		vm_findings_free(&f);
		vm_table_clean(&t);
	}
}

/* Every profile but spdk: QEMU's own tables fail SPDK's 2 MB alignment
 * (the region at 0xc0000, spdk#673), which the golden
 * validate-spdk-qemu-pc shows. */
Test(validate, real_layouts_pass_every_profile)
{
	static const char *const files[] = {
		"qemu-pc-128m.json", "qemu-q35-4g.json", "qemu-pc-128m-dimm.json",
		"dpdk-virtio-user-nohuge.json", "pc-iobus.json",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct vm_table t;

		load(&t, files[i]);
		for (const struct vm_profile *p = vm_profiles; ; p++) {
			struct vm_findings f;

			if (p->name && !strcmp(p->name, "spdk"))
				continue;
			cr_assert_eq(vm_validate(&t, p->name ? p : NULL, &f), 0);
			cr_expect_eq(f.n, 0, "%s with %s: %s", files[i],
				     p->name ? p->name : "no profile",
				     f.n ? f.v[0].message : "");
			vm_findings_free(&f);
			if (!p->name)
				break;
		}
		vm_table_clean(&t);
	}
}

/* Every overlapping pair once, whatever the insertion order; nested,
 * equal-start and touching-but-disjoint regions, ones that share only
 * their last byte, and sparse tables where most regions overlap nothing. */
Test(validate, overlap_pairs_against_brute_force)
{
	uint64_t x = 7;

	for (int round = 0; round < 200; round++) {
		struct vm_table t;
		struct vm_region r[40];
		struct vm_findings f;
		size_t want = 0;

		vm_table_init(&t);
		for (int i = 0; i < 40; i++) {
			x = x * 6364136223846793005u + 1442695040888963407u;
			r[i] = (struct vm_region){
				.guest_phys_addr = ((x >> 33) % (64u << round % 4)) * 0x1000,
				.memory_size = (1 + (x >> 50) % 4) * 0x1000 + (x >> 40) % 2,
				.userspace_addr = 0x7f0000000000 + (uint64_t)i * 0x10000,
			};
			cr_assert_eq(vm_umem_add(&t.umem, &r[i], NULL), 0);
		}
		for (int i = 0; i < 40; i++)
			for (int j = i + 1; j < 40; j++)
				want += r[i].guest_phys_addr <= vm_region_last(&r[j]) &&
					r[j].guest_phys_addr <= vm_region_last(&r[i]);
		cr_assert_eq(vm_validate(&t, NULL, &f), 0);
		cr_expect_eq(f.errors, want, "round %d", round);
		cr_expect_eq(f.warnings, 0);
		vm_findings_free(&f);
		vm_table_clean(&t);
	}
}
