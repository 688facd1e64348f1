/*
 * diff and apply: for thousands of random pairs of tables, applying
 * diff(A, B) to A through the core's insert/remove gives B; the operation
 * list keeps the vhost-user frontend's order; counts add up.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

static uint64_t rs = 88172645463325252u;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

struct spec_region {
	struct vm_region r;
	char name[16];
};

struct spec_io {
	int bus;
	struct vm_io_range io;
	char dev[16];
};

struct spec {
	struct spec_region reg[64];
	int nreg;
	struct spec_io io[64];
	int nio;
};

/* Small value ranges so that equal identities, names and ranges recur. */
static void random_region(struct spec_region *s)
{
	s->r.guest_phys_addr = (rnd() % 16) * 0x100000;
	s->r.memory_size = (1 + rnd() % 3) * 0x100000;
	s->r.userspace_addr = 0x7f0000000000 + (rnd() % 8) * 0x100000;
	s->r.mmap_offset = (rnd() % 4) * 0x1000;
	if (rnd() % 4) {
		snprintf(s->name, sizeof(s->name), "r%d", (int)(rnd() % 5));
		s->r.name = s->name;
	} else {
		s->r.name = NULL;
	}
}

static void random_io(struct spec_io *s)
{
	s->bus = (int)(rnd() % VM_NR_BUSES);
	s->io.addr = (rnd() % 32) * 4;
	s->io.len = rnd() % 5 == 0 ? 0 : 1 + rnd() % 8;
	s->io.kind = (enum vm_io_kind)(rnd() % VM_NR_IO_KINDS);
	snprintf(s->dev, sizeof(s->dev), "d%d", (int)(rnd() % 12));
	s->io.dev = s->dev;
}

static void build(struct vm_table *t, const struct spec *s)
{
	vm_table_init(t);
	for (int i = 0; i < s->nreg; i++)
		cr_assert_eq(vm_umem_add(&t->umem, &s->reg[i].r, NULL), 0);
	for (int i = 0; i < s->nio; i++)
		cr_assert_geq(vm_io_bus_register_dev(&t->bus[s->io[i].bus], s->io[i].io.addr,
						     s->io[i].io.len, s->io[i].dev,
						     s->io[i].io.kind), 0);
}

/* B from A: keep, change, drop, and add entries; shuffle the order. */
static void derive(const struct spec *a, struct spec *b)
{
	memset(b, 0, sizeof(*b));
	for (int i = 0; i < a->nreg; i++) {
		unsigned k = (unsigned)(rnd() % 6);

		if (k == 0)
			continue; /* removed */
		b->reg[b->nreg] = a->reg[i];
		if (a->reg[i].r.name)
			b->reg[b->nreg].r.name = b->reg[b->nreg].name;
		if (k == 1)
			b->reg[b->nreg].r.mmap_offset += 0x1000; /* changed */
		if (k == 2) {
			snprintf(b->reg[b->nreg].name, 16, "renamed");
			b->reg[b->nreg].r.name = b->reg[b->nreg].name;
		}
		b->nreg++;
	}
	for (int n = (int)(rnd() % 6); n > 0 && b->nreg < 64; n--)
		random_region(&b->reg[b->nreg++]);
	for (int i = b->nreg - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1));
		struct spec_region t = b->reg[i];

		b->reg[i] = b->reg[j];
		b->reg[j] = t;
	}
	for (int i = 0; i < b->nreg; i++)
		if (b->reg[i].r.name)
			b->reg[i].r.name = b->reg[i].name;

	for (int i = 0; i < a->nio; i++) {
		unsigned k = (unsigned)(rnd() % 6);

		if (k == 0)
			continue;
		b->io[b->nio] = a->io[i];
		if (k == 1)
			b->io[b->nio].io.addr += 0x100; /* moved */
		b->io[b->nio].io.dev = b->io[b->nio].dev;
		b->nio++;
	}
	for (int n = (int)(rnd() % 6); n > 0 && b->nio < 64; n--)
		random_io(&b->io[b->nio++]);
	for (int i = 0; i < b->nio; i++)
		b->io[i].io.dev = b->io[i].dev;
}

static int cmp_region(const void *x, const void *y)
{
	const struct vm_region *a = *(const struct vm_region *const *)x;
	const struct vm_region *b = *(const struct vm_region *const *)y;

	if (a->guest_phys_addr != b->guest_phys_addr)
		return a->guest_phys_addr < b->guest_phys_addr ? -1 : 1;
	if (a->userspace_addr != b->userspace_addr)
		return a->userspace_addr < b->userspace_addr ? -1 : 1;
	if (a->memory_size != b->memory_size)
		return a->memory_size < b->memory_size ? -1 : 1;
	if (a->mmap_offset != b->mmap_offset)
		return a->mmap_offset < b->mmap_offset ? -1 : 1;
	return strcmp(a->name ? a->name : "", b->name ? b->name : "");
}

/* The multiset of regions (every field) and each bus's registrations. */
static void assert_same(const struct vm_table *x, const struct vm_table *y, int round)
{
	const struct vm_region *rx[64], *ry[64];
	const struct vm_umem_node *n;
	size_t k;

	cr_assert_eq(x->umem.nregions, y->umem.nregions, "round %d: region count", round);
	for (k = 0, n = x->umem.head; n; n = n->next)
		rx[k++] = &n->region;
	for (k = 0, n = y->umem.head; n; n = n->next)
		ry[k++] = &n->region;
	qsort(rx, k, sizeof(rx[0]), cmp_region);
	qsort(ry, k, sizeof(ry[0]), cmp_region);
	for (size_t i = 0; i < k; i++)
		cr_assert(vm_region_equal(rx[i], ry[i]), "round %d: region %zu differs", round, i);
	cr_assert_null(vm_itree_check(&x->umem.gpa_tree));
	cr_assert_null(vm_itree_check(vm_umem_tree(&x->umem, VM_SPACE_UADDR)));

	for (int b = 0; b < VM_NR_BUSES; b++) {
		const struct vm_io_bus *p = &x->bus[b], *q = &y->bus[b];

		cr_assert_eq(p->dev_count, q->dev_count, "round %d bus %d: count", round, b);
		cr_assert_eq(p->ioeventfd_count, q->ioeventfd_count);
		/* Equal ranges may sit in another order; compare as multisets
		 * by sorting each run of equal (addr, len). */
		for (size_t i = 0; i < p->dev_count; i++) {
			int found = 0;

			cr_assert_eq(p->range[i].addr, q->range[i].addr, "round %d", round);
			cr_assert_eq(p->range[i].len, q->range[i].len, "round %d", round);
			for (size_t j = 0; j < q->dev_count && !found; j++)
				found = q->range[j].addr == p->range[i].addr &&
					q->range[j].len == p->range[i].len &&
					q->range[j].kind == p->range[i].kind &&
					!strcmp(q->range[j].dev, p->range[i].dev);
			cr_assert(found, "round %d bus %d: %s not in B", round, b, p->range[i].dev);
		}
	}
}

Test(diff, apply_gives_the_new_table_random_pairs)
{
	for (int round = 0; round < 3000; round++) {
		struct spec a = { 0 }, b;
		struct vm_table ta, tb, tapply;
		struct vm_diff d;
		size_t nadd;

		a.nreg = (int)(rnd() % 20);
		for (int i = 0; i < a.nreg; i++) {
			random_region(&a.reg[i]);
			if (a.reg[i].r.name)
				a.reg[i].r.name = a.reg[i].name;
		}
		a.nio = (int)(rnd() % 20);
		for (int i = 0; i < a.nio; i++) {
			random_io(&a.io[i]);
			a.io[i].io.dev = a.io[i].dev;
		}
		derive(&a, &b);
		build(&ta, &a);
		build(&tb, &b);
		build(&tapply, &a);

		cr_assert_eq(vm_table_diff(&ta, &tb, &d), 0);
		/* Every old region is removed, changed or unchanged; likewise new. */
		nadd = d.nops - d.nrem;
		cr_assert_eq(d.nrem + d.nchanges + d.unchanged, ta.umem.nregions, "round %d", round);
		cr_assert_eq(nadd + d.nchanges + d.unchanged, tb.umem.nregions, "round %d", round);
		/* Frontend order: REM in reverse old order, then ADD in new order. */
		for (size_t i = 0; i < d.nops; i++) {
			cr_assert_eq(d.ops[i].op, i < d.nrem ? VM_REM_MEM_REG : VM_ADD_MEM_REG);
			if (i && i < d.nrem)
				cr_assert_gt(vm_umem_seq(d.ops[i - 1].node), vm_umem_seq(d.ops[i].node));
			if (i > d.nrem)
				cr_assert_lt(vm_umem_seq(d.ops[i - 1].node), vm_umem_seq(d.ops[i].node));
		}
		cr_assert_eq(vm_diff_empty(&d), d.nops == 0 && d.nchanges == 0 &&
			     !d.bus[0].nremoved && !d.bus[0].nadded && !d.bus[0].nmoved &&
			     !d.bus[1].nremoved && !d.bus[1].nadded && !d.bus[1].nmoved &&
			     !d.bus[2].nremoved && !d.bus[2].nadded && !d.bus[2].nmoved &&
			     !d.bus[3].nremoved && !d.bus[3].nadded && !d.bus[3].nmoved);

		/* Apply to a separate copy of A, as a backend would. */
		cr_assert_eq(vm_table_apply(&tapply, &d), 0, "round %d", round);
		assert_same(&tapply, &tb, round);

		/* And the diff of B with itself is empty. */
		vm_diff_free(&d);
		cr_assert_eq(vm_table_diff(&tb, &tb, &d), 0);
		cr_assert(vm_diff_empty(&d));
		cr_assert_eq(d.unchanged, tb.umem.nregions);

		vm_diff_free(&d);
		vm_table_clean(&ta);
		vm_table_clean(&tb);
		vm_table_clean(&tapply);
	}
}

static void add_region(struct vm_table *t, uint64_t gpa, uint64_t size,
		       uint64_t uaddr, uint64_t off, const char *name)
{
	struct vm_region r = { gpa, size, uaddr, off, (char *)name, NULL };

	cr_assert_eq(vm_umem_add(&t->umem, &r, NULL), 0);
}

Test(diff, identity_is_gpa_uaddr_size)
{
	struct vm_table a, b;
	struct vm_diff d;

	vm_table_init(&a);
	vm_table_init(&b);
	add_region(&a, 0x0, 0xa0000, 0x7f0000000000, 0, "pc.ram");
	add_region(&a, 0xc0000, 0x7f40000, 0x7f00000c0000, 0xc0000, "pc.ram");
	add_region(&a, 0x10000000, 0x1000000, 0x7f1000000000, 0, "gone");
	/* Same identity, other offset and name: a change, no message. */
	add_region(&b, 0x0, 0xa0000, 0x7f0000000000, 0x1000, "low");
	/* Resized: REM + ADD. */
	add_region(&b, 0xc0000, 0xff40000, 0x7f00000c0000, 0xc0000, "pc.ram");
	add_region(&b, 0x100000000, 0x8000000, 0x7f2000000000, 0, "dimm");
	cr_assert_eq(vm_table_diff(&a, &b, &d), 0);
	cr_assert_eq(d.nrem, 2);
	cr_assert_str_eq(d.ops[0].node->region.name, "gone", "REM in reverse order");
	cr_assert_eq(d.ops[1].node->region.guest_phys_addr, 0xc0000);
	cr_assert_eq(d.nops, 4);
	cr_assert_eq(d.ops[2].node->region.memory_size, 0xff40000, "ADD in new order");
	cr_assert_str_eq(d.ops[3].node->region.name, "dimm");
	cr_assert_eq(d.nchanges, 1);
	cr_assert_eq(d.changes[0].new->region.mmap_offset, 0x1000);
	cr_assert_eq(d.unchanged, 0);
	vm_diff_free(&d);
	vm_table_clean(&a);
	vm_table_clean(&b);
}

/* --layout: guest range, size and mmap_offset; user addresses, names
 * and buses do not count, and nothing is a change. */
Test(diff, layout_is_gpa_size_offset)
{
	struct vm_table a, b;
	struct vm_diff d;

	vm_table_init(&a);
	vm_table_init(&b);
	add_region(&a, 0x0, 0xa0000, 0x7f0000000000, 0, "pc.ram");
	add_region(&a, 0xc0000, 0x7f40000, 0x7f00000c0000, 0xc0000, "pc.ram");
	cr_assert_eq(vm_io_bus_register_dev(&a.bus[VM_MMIO_BUS], 0x1000, 4, "dev", 0), 0);
	/* Another run: new user addresses, no names, no buses. */
	add_region(&b, 0xc0000, 0x7f40000, 0x7e00000c0000, 0xc0000, NULL);
	add_region(&b, 0x0, 0xa0000, 0x7e0000000000, 0, NULL);
	cr_assert_eq(vm_table_diff_flags(&a, &b, VM_DIFF_LAYOUT, &d), 0);
	cr_assert(vm_diff_empty(&d));
	cr_assert_eq(d.unchanged, 2);
	vm_diff_free(&d);
	cr_assert_eq(vm_table_diff(&a, &b, &d), 0);
	cr_assert_eq(d.nops, 4, "without --layout every region moved");
	vm_diff_free(&d);
	/* Another offset is another layout: the region leaves and comes. */
	add_region(&b, 0x100000000, 0x1000, 0x7e1000000000, 0, NULL);
	add_region(&a, 0x100000000, 0x1000, 0x7f1000000000, 0x1000, NULL);
	cr_assert_eq(vm_table_diff_flags(&a, &b, VM_DIFF_LAYOUT, &d), 0);
	cr_assert_eq(d.nrem, 1);
	cr_assert_eq(d.nops, 2);
	cr_assert_eq(d.ops[0].node->region.mmap_offset, 0x1000);
	cr_assert_eq(d.nchanges, 0);
	vm_diff_free(&d);
	vm_table_clean(&a);
	vm_table_clean(&b);
}

Test(diff, bus_moves_pair_by_device)
{
	struct vm_table a, b;
	struct vm_diff d;
	struct vm_io_bus *pa = &a.bus[VM_PIO_BUS], *pb = &b.bus[VM_PIO_BUS];

	vm_table_init(&a);
	vm_table_init(&b);
	vm_io_bus_register_dev(pa, 0x40, 4, "pit", VM_IO_DEVICE);
	vm_io_bus_register_dev(pa, 0x20, 2, "pic", VM_IO_DEVICE);
	vm_io_bus_register_dev(pa, 0x70, 1, "rtc", VM_IO_COALESCED);
	vm_io_bus_register_dev(pb, 0x48, 4, "pit", VM_IO_DEVICE);
	vm_io_bus_register_dev(pb, 0x20, 2, "pic", VM_IO_DEVICE);
	vm_io_bus_register_dev(pb, 0x60, 1, "kbd", VM_IO_DEVICE);
	cr_assert_eq(vm_table_diff(&a, &b, &d), 0);
	cr_assert_eq(d.bus[VM_PIO_BUS].unchanged, 1);
	cr_assert_eq(d.bus[VM_PIO_BUS].nmoved, 1);
	cr_assert_eq(d.bus[VM_PIO_BUS].moved[0].old->addr, 0x40);
	cr_assert_eq(d.bus[VM_PIO_BUS].moved[0].new->addr, 0x48);
	cr_assert_eq(d.bus[VM_PIO_BUS].nremoved, 1);
	cr_assert_str_eq(d.bus[VM_PIO_BUS].removed[0]->dev, "rtc");
	cr_assert_eq(d.bus[VM_PIO_BUS].nadded, 1);
	cr_assert_str_eq(d.bus[VM_PIO_BUS].added[0]->dev, "kbd");
	vm_diff_free(&d);
	vm_table_clean(&a);
	vm_table_clean(&b);
}
