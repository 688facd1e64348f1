/*
 * The memory table: translate_desc semantics (pieces, holes, the piece limit,
 * adjacent regions, the 2^64-1 end, wrapping), reverse translation, overlap
 * order, identity lookup, holes, and a randomized check against a model.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flatindex.h" /* white-box: the derived index */
#include "umem.h"

static struct vm_umem umem;

static void setup(void)
{
	vm_umem_init(&umem);
}

static void teardown(void)
{
	vm_umem_clean(&umem);
}

TestSuite(umem, .init = setup, .fini = teardown);

static struct vm_umem_node *add(uint64_t gpa, uint64_t size, uint64_t uaddr,
				uint64_t off, const char *name)
{
	struct vm_region r = {
		.guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = uaddr, .mmap_offset = off, .name = (char *)name,
	};
	struct vm_umem_node *n = NULL;

	cr_assert_eq(vm_umem_add(&umem, &r, &n), 0, "add %s", name ? name : "?");
	return n;
}

#define MAXP 64
static struct vm_piece pieces[MAXP];
static struct vm_translation tr;
static struct vm_umem_last rec; /* the tests' record of their lookups */

static int tr_gpa(uint64_t addr, uint64_t len, size_t max)
{
	return vm_umem_translate(&umem, &rec, VM_SPACE_GPA, addr, len, pieces, max, &tr);
}

/* Whether the guest-physical flat index is built and current. */
static int index_current(void)
{
	const struct vm_flat_index *idx = umem.index[VM_SPACE_GPA];

	return idx && idx->key && idx->generation == umem.generation;
}

/* Looks addr up until the table has paid for its index (bounded). */
static void tr_until_indexed(uint64_t addr)
{
	for (int i = 0; i < 1000 && !index_current(); i++)
		tr_gpa(addr, 1, MAXP);
	cr_assert(index_current(), "lookups never built the index");
}

Test(umem, single_region_piece)
{
	add(0x100000, 0x100000, 0x7f0000000000, 0x4000, "ram");
	cr_assert_eq(tr_gpa(0x180000, 0x10, MAXP), 0);
	cr_assert_eq(tr.npieces, 1);
	cr_assert_eq(pieces[0].guest_phys_addr, 0x180000);
	cr_assert_eq(pieces[0].userspace_addr, 0x7f0000080000);
	cr_assert_eq(pieces[0].mmap_offset, 0x84000);
	cr_assert_eq(pieces[0].len, 0x10);
	cr_assert_str_eq(pieces[0].region->name, "ram");
}

Test(umem, adjacent_regions_give_one_piece_each)
{
	add(0x0, 0x1000, 0xa000, 0, "a");
	add(0x1000, 0x1000, 0x5000, 0, "b");
	add(0x2000, 0x1000, 0x1000, 0, "c");
	cr_assert_eq(tr_gpa(0xff0, 0x1020, MAXP), 0);
	cr_assert_eq(tr.npieces, 3);
	cr_assert_eq(pieces[0].len, 0x10);
	cr_assert_eq(pieces[0].userspace_addr, 0xaff0);
	cr_assert_eq(pieces[1].len, 0x1000);
	cr_assert_eq(pieces[1].userspace_addr, 0x5000);
	cr_assert_eq(pieces[2].len, 0x10);
	cr_assert_eq(pieces[2].guest_phys_addr, 0x2000);
	cr_assert_eq(pieces[2].userspace_addr, 0x1000);
}

Test(umem, hole_names_first_unmapped_address)
{
	add(0x0, 0xa0000, 0x7f0000000000, 0, "low");
	add(0xc0000, 0x7f40000, 0x7f00000c0000, 0xc0000, "high");
	cr_assert_eq(tr_gpa(0x9fff0, 0x30000, MAXP), -EFAULT);
	cr_assert_eq(tr.fault_addr, 0xa0000);
	cr_assert_eq(tr.hole_first, 0xa0000);
	cr_assert_eq(tr.hole_last, 0xbffff);
	cr_assert_eq(tr.npieces, 1, "the piece before the hole is kept");
	cr_assert_eq(pieces[0].len, 0x10);

	/* A range starting in the hole, and one past the end of RAM. */
	cr_assert_eq(tr_gpa(0xb0000, 1, MAXP), -EFAULT);
	cr_assert_eq(tr.fault_addr, 0xb0000);
	cr_assert_eq(tr.hole_first, 0xa0000, "the hole is named whole");
	cr_assert_eq(tr.hole_last, 0xbffff);
	cr_assert_eq(tr.npieces, 0);
	cr_assert_eq(tr_gpa(0x7fffff0, 0x20, MAXP), -EFAULT);
	cr_assert_eq(tr.fault_addr, 0x8000000);
	cr_assert_eq(tr.hole_first, 0x8000000);
	cr_assert_eq(tr.hole_last, UINT64_MAX);
}

Test(umem, piece_limit_is_its_own_error)
{
	for (uint64_t i = 0; i < 4; i++)
		add(i * 0x1000, 0x1000, 0x100000 + i * 0x2000, 0, NULL);
	cr_assert_eq(tr_gpa(0, 0x4000, 4), 0, "exactly enough pieces");
	cr_assert_eq(tr.npieces, 4);
	cr_assert_eq(tr_gpa(0, 0x4000, 3), -ENOBUFS);
	cr_assert_eq(tr.npieces, 3);
	cr_assert_eq(tr.fault_addr, 0x3000);
	/* The limit is checked before the next lookup, as the kernel does:
	 * a range that would run into a hole right after the limit is
	 * still -ENOBUFS. */
	cr_assert_eq(tr_gpa(0, 0x5000, 4), -ENOBUFS);
	cr_assert_eq(tr_gpa(0, 0x5000, 5), -EFAULT);
	cr_assert_eq(tr.fault_addr, 0x4000);
}

Test(umem, range_ending_at_2_64_minus_1)
{
	add(UINT64_MAX - 0xfff, 0x1000, 0x7f0000000000, 0, "top");
	cr_assert_eq(tr_gpa(UINT64_MAX - 0xf, 0x10, MAXP), 0);
	cr_assert_eq(tr.npieces, 1);
	cr_assert_eq(pieces[0].len, 0x10);
	cr_assert_eq(pieces[0].userspace_addr, 0x7f0000000ff0);
	cr_assert_eq(tr_gpa(UINT64_MAX, 1, MAXP), 0);
	cr_assert_eq(pieces[0].userspace_addr, 0x7f0000000fff);
	/* The largest range: 2^64-1 bytes from 1, stops at the hole at 0x1. */
	cr_assert_eq(tr_gpa(1, UINT64_MAX, MAXP), -EFAULT);
	cr_assert_eq(tr.fault_addr, 1);
	cr_assert_eq(tr.hole_first, 0, "nothing below: the hole starts at 0");
	cr_assert_eq(tr.hole_last, UINT64_MAX - 0x1000);
}

Test(umem, wrapping_and_empty_ranges_are_refused)
{
	add(0, 0x1000, 0x1000, 0, NULL);
	cr_assert_eq(tr_gpa(UINT64_MAX - 0xf, 0x11, MAXP), -EOVERFLOW);
	cr_assert_eq(tr_gpa(1, UINT64_MAX, MAXP), -EFAULT, "1 + (2^64-1) - 1 does not wrap");
	cr_assert_eq(tr_gpa(2, UINT64_MAX, MAXP), -EOVERFLOW);
	cr_assert_eq(tr_gpa(0, 0, MAXP), -EINVAL);
}

Test(umem, regions_that_cannot_exist_are_refused)
{
	struct vm_region r = { .guest_phys_addr = 0, .memory_size = 0 };

	cr_assert_eq(vm_umem_add(&umem, &r, NULL), -EINVAL);
	r.memory_size = 0x2000;
	r.guest_phys_addr = UINT64_MAX - 0xfff;
	cr_assert_eq(vm_umem_add(&umem, &r, NULL), -EOVERFLOW);
	r.guest_phys_addr = 0;
	r.userspace_addr = UINT64_MAX - 0xfff;
	cr_assert_eq(vm_umem_add(&umem, &r, NULL), -EOVERFLOW);
	r.memory_size = 0x1000; /* now it ends exactly at 2^64-1 */
	cr_assert_eq(vm_umem_add(&umem, &r, NULL), 0);
	cr_assert_eq(umem.nregions, 1);
}

Test(umem, overlap_lowest_start_then_first_inserted)
{
	struct vm_umem_node *second = add(0x100000, 0x100000, 0x10000000, 0, "second");
	add(0x0, 0x180000, 0x20000000, 0, "low");
	add(0x100000, 0x200000, 0x30000000, 0, "third");

	cr_assert_eq(tr_gpa(0x170000, 0x20000, MAXP), 0);
	cr_assert_eq(tr.npieces, 2);
	cr_assert_str_eq(pieces[0].region->name, "low");
	cr_assert_eq(pieces[0].len, 0x10000);
	cr_assert_str_eq(pieces[1].region->name, "second");
	cr_assert_eq(pieces[1].guest_phys_addr, 0x180000);
	cr_assert_eq(pieces[1].userspace_addr, 0x10080000);

	vm_umem_remove(&umem, second);
	cr_assert_eq(tr_gpa(0x180000, 1, MAXP), 0);
	cr_assert_str_eq(pieces[0].region->name, "third");
	cr_assert_eq(tr_gpa(0x200000, 0x100000, MAXP), 0);
	cr_assert_str_eq(pieces[0].region->name, "third");
}

Test(umem, reverse_translation_from_user_addresses)
{
	add(0x0, 0xa0000, 0x7f0000000000, 0, "low");
	add(0x100000000, 0x80000000, 0x7f0080000000, 0x80000000, "high");
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x7f0080001000, 0x40,
				       pieces, MAXP, &tr), 0);
	cr_assert_eq(tr.npieces, 1);
	cr_assert_eq(pieces[0].guest_phys_addr, 0x100001000);
	cr_assert_eq(pieces[0].userspace_addr, 0x7f0080001000);
	cr_assert_eq(pieces[0].mmap_offset, 0x80001000);
	/* The user range between the two mappings is a hole in uaddr space. */
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x7f00000a0000, 1,
				       pieces, MAXP, &tr), -EFAULT);
	cr_assert_eq(tr.fault_addr, 0x7f00000a0000);
	cr_assert_eq(tr.hole_last, 0x7f007fffffff);
}

/*
 * The last-hit record answers from precomputed deltas: every field of the
 * piece through it, in both spaces, must be what the search gives; its
 * test must refuse what the search refuses at the edges: a zero len, a
 * range one byte past the region, and the biggest region there can be
 * (2^64 - 1 bytes, where a test on size rather than last could wrap); and
 * a change of the table must invalidate it.
 */
Test(umem, last_hit_record_matches_the_search)
{
	static const enum vm_space spaces[] = { VM_SPACE_GPA, VM_SPACE_UADDR };
	struct vm_umem_node *a = add(0x1000, 0x3000, 0x7f0000010000, 0xabc000, "a");

	add(0x10000, 0x1000, 0x7f0000001000, 0x5000, "b");
	for (int s = 0; s < 2; s++) {
		enum vm_space sp = spaces[s];
		uint64_t base = sp == VM_SPACE_GPA ? 0x1000 : 0x7f0000010000;

		/* Enough lookups to build the index; then the same range again
		 * is a hit in the record. */
		for (int i = 0; i < 10; i++)
			cr_assert_eq(vm_umem_translate(&umem, &rec, sp, base + 0x10, 8, pieces,
						       MAXP, &tr), 0);
		cr_assert_not_null(umem.index[sp]);
		cr_assert_eq(rec.space[sp].size, 0x3000, "space %d", s);
		cr_assert_eq(vm_umem_translate(&umem, &rec, sp, base + 0x2ff0, 0x10, pieces,
					       MAXP, &tr), 0);
		cr_assert_eq(tr.npieces, 1);
		cr_assert_str_eq(pieces[0].region->name, "a");
		cr_assert_eq(pieces[0].guest_phys_addr, 0x3ff0);
		cr_assert_eq(pieces[0].userspace_addr, 0x7f0000012ff0);
		cr_assert_eq(pieces[0].mmap_offset, 0xabeff0);
		cr_assert_eq(pieces[0].len, 0x10);
		/* One byte more runs into the hole after the region. */
		cr_assert_eq(vm_umem_translate(&umem, &rec, sp, base + 0x2ff0, 0x11, pieces,
					       MAXP, &tr), -EFAULT);
		cr_assert_eq(tr.fault_addr, base + 0x3000);
		cr_assert_eq(vm_umem_translate(&umem, &rec, sp, base, 0, pieces, MAXP, &tr),
			     -EINVAL);
		cr_assert_eq(vm_umem_translate(&umem, &rec, sp, base - 1, 1, pieces, MAXP, &tr),
			     -EFAULT);
	}
	/* The record holds a's region; replacing a clears it. */
	cr_assert_eq(tr_gpa(0x1010, 8, MAXP), 0);
	cr_assert_eq(rec.space[VM_SPACE_GPA].region, &a->region);
	vm_umem_remove(&umem, a);
	add(0x1000, 0x3000, 0x7f0000090000, 0, "a2");
	cr_assert_eq(tr_gpa(0x1010, 8, MAXP), 0);
	cr_assert_str_eq(pieces[0].region->name, "a2");
	cr_assert_eq(pieces[0].userspace_addr, 0x7f0000090010);
	/* a's user range is a hole now, though the user-address record
	 * held it too. */
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x7f0000010010, 8, pieces,
				       MAXP, &tr), -EFAULT);
	vm_umem_clean(&umem);
	vm_umem_init(&umem);
	add(0, UINT64_MAX, 0, 7, "all");
	for (int i = 0; i < 10; i++)
		cr_assert_eq(tr_gpa(0x1000, 1, MAXP), 0);
	cr_assert_eq(rec.space[VM_SPACE_GPA].size, UINT64_MAX);
	cr_assert_eq(tr_gpa(0, 0, MAXP), -EINVAL, "a zero len at the start of the record");
	cr_assert_eq(tr_gpa(0x5000, 0, MAXP), -EINVAL);
	cr_assert_eq(tr_gpa(UINT64_MAX - 1, 1, MAXP), 0);
	cr_assert_eq(pieces[0].mmap_offset, (uint64_t)7 + (UINT64_MAX - 1)); /* mod 2^64 */
	cr_assert_eq(tr_gpa(UINT64_MAX - 1, 2, MAXP), -EFAULT);
	cr_assert_eq(tr.fault_addr, UINT64_MAX);
	cr_assert_eq(tr_gpa(0, UINT64_MAX, MAXP), 0);
	cr_assert_eq(pieces[0].len, UINT64_MAX);
}

Test(umem, user_address_aliases_resolve_to_first_inserted)
{
	add(0x1000, 0x1000, 0x500000, 0, "first");
	add(0x9000, 0x1000, 0x500000, 0, "alias");
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x500800, 1, pieces,
				       MAXP, &tr), 0);
	cr_assert_str_eq(pieces[0].region->name, "first");
	cr_assert_eq(pieces[0].guest_phys_addr, 0x1800);
}

Test(umem, insertion_order_list_and_identity)
{
	struct vm_umem_node *a = add(0x3000, 0x1000, 0x100, 0, "a");
	struct vm_umem_node *b = add(0x1000, 0x1000, 0x200, 0, "b");
	struct vm_umem_node *c = add(0x1000, 0x1000, 0x300, 0, "c");
	uint64_t gen = umem.generation;

	cr_assert_eq(umem.head, a);
	cr_assert_eq(a->next, b);
	cr_assert_eq(b->next, c);
	cr_assert_eq(umem.tail, c);
	cr_assert_eq(vm_umem_find(&umem, 0x1000, 0x300, 0x1000), c);
	cr_assert_eq(vm_umem_find(&umem, 0x1000, 0x200, 0x1000), b);
	cr_assert_null(vm_umem_find(&umem, 0x1000, 0x200, 0x2000));
	cr_assert_null(vm_umem_find(&umem, 0x1800, 0x200, 0x1000));

	vm_umem_remove(&umem, b);
	cr_assert_gt(umem.generation, gen);
	cr_assert_eq(umem.head, a);
	cr_assert_eq(a->next, c);
	cr_assert_eq(c->prev, a);
	cr_assert_eq(umem.nregions, 2);
	cr_assert_null(vm_umem_find(&umem, 0x1000, 0x200, 0x1000));
	cr_assert_null(vm_itree_check(&umem.gpa_tree));
	cr_assert_null(vm_itree_check(vm_umem_tree(&umem, VM_SPACE_UADDR)));
}

Test(umem, holes_are_gaps_in_the_union)
{
	struct vm_hole *h;
	long n;

	cr_assert_eq(vm_umem_holes(&umem, &h), 0);
	add(0x0, 0xa0000, 0x1000000, 0, NULL);
	add(0xc0000, 0x40000, 0x2000000, 0, NULL);
	add(0xd0000, 0x10000, 0x3000000, 0, NULL);    /* inside the previous */
	add(0x100000, 0x100000, 0x4000000, 0, NULL);  /* adjacent: no hole */
	add(UINT64_MAX - 0xfff, 0x1000, 0x5000000, 0, NULL);
	n = vm_umem_holes(&umem, &h);
	cr_assert_eq(n, 2);
	cr_assert_eq(h[0].start, 0xa0000);
	cr_assert_eq(h[0].last, 0xbffff);
	cr_assert_eq(h[1].start, 0x200000);
	cr_assert_eq(h[1].last, UINT64_MAX - 0x1000);
	free(h);
}

/* Random tables (overlaps allowed) against a brute-force translate. */
Test(umem, random_translate_against_model)
{
	enum { NREG = 60, QUERIES = 20000 };
	struct vm_region regs[NREG];
	uint64_t x = 12345;

	for (int round = 0; round < 20; round++) {
		vm_umem_clean(&umem);
		for (int i = 0; i < NREG; i++) {
			x = x * 6364136223846793005u + 1442695040888963407u;
			regs[i] = (struct vm_region){
				.guest_phys_addr = (x >> 20) % 0x100000,
				.memory_size = 1 + (x >> 40) % 0x8000,
				.userspace_addr = 0x7f0000000000 + (uint64_t)i * 0x100000,
			};
			cr_assert_eq(vm_umem_add(&umem, &regs[i], NULL), 0);
		}
		for (int q = 0; q < QUERIES / 20; q++) {
			uint64_t addr, len, a, last;
			size_t k = 0;
			int rc, want = 0;

			x = x * 6364136223846793005u + 1442695040888963407u;
			addr = (x >> 16) % 0x110000;
			len = 1 + (x >> 44) % 0x10000;
			rc = tr_gpa(addr, len, MAXP);
			last = addr + len - 1;
			for (a = addr;;) {
				int best = -1;

				for (int i = 0; i < NREG; i++)
					if (regs[i].guest_phys_addr <= a &&
					    a <= vm_region_last(&regs[i]) &&
					    (best < 0 ||
					     regs[i].guest_phys_addr < regs[best].guest_phys_addr))
						best = i;
				if (k == MAXP) {
					want = -ENOBUFS;
					break;
				}
				if (best < 0) {
					uint64_t hf = 0, hl = UINT64_MAX;

					want = -EFAULT;
					cr_assert_eq(tr.fault_addr, a);
					for (int i = 0; i < NREG; i++) {
						uint64_t rl = vm_region_last(&regs[i]);

						if (rl < a && rl + 1 > hf)
							hf = rl + 1;
						if (regs[i].guest_phys_addr > a &&
						    regs[i].guest_phys_addr - 1 < hl)
							hl = regs[i].guest_phys_addr - 1;
					}
					cr_assert_eq(tr.hole_first, hf, "hole start below %#lx",
						     (unsigned long)a);
					cr_assert_eq(tr.hole_last, hl, "hole end above %#lx",
						     (unsigned long)a);
					break;
				}
				uint64_t pl = vm_region_last(&regs[best]) < last
					? vm_region_last(&regs[best]) : last;
				cr_assert_eq(pieces[k].guest_phys_addr, a);
				cr_assert_eq(pieces[k].len, pl - a + 1);
				cr_assert_eq(pieces[k].userspace_addr,
					     regs[best].userspace_addr + (a - regs[best].guest_phys_addr));
				k++;
				if (pl == last)
					break;
				a = pl + 1;
			}
			cr_assert_eq(rc, want, "round %d query %#lx+%#lx", round,
				     (unsigned long)addr, (unsigned long)len);
			cr_assert_eq(tr.npieces, k);
		}
	}
}

/*
 * Disjoint tables take the flat index (a static B+ tree plus a last-hit
 * cache).  Random disjoint and adjacent regions, random and sequential
 * queries, with adds and removes in between: the answers must match a
 * brute-force model, and a change of the table must never be answered
 * from a stale index or cache.
 */
Test(umem, flat_index_against_model_with_updates)
{
	enum { MAXR = 400 };
	struct { uint64_t gpa, size, uaddr; struct vm_umem_node *node; } r[MAXR];
	uint64_t x = 99;
	int nr = 0;

	for (int round = 0; round < 200; round++) {
		/* Add or remove a few regions: the generation moves on. */
		for (int k = 0; k < 5; k++) {
			x = x * 6364136223846793005u + 1442695040888963407u;
			if (nr > 0 && (x >> 60) < 5) {
				int v = (int)((x >> 20) % (uint64_t)nr);

				vm_umem_remove(&umem, r[v].node);
				r[v] = r[--nr];
				continue;
			}
			if (nr == MAXR)
				continue;
			/* A slot of 64 KiB at a random index; skip if taken. */
			uint64_t slot = (x >> 24) % 1024, gpa = slot * 0x10000, size;
			int taken = 0;

			for (int i = 0; i < nr; i++)
				taken |= r[i].gpa / 0x10000 == slot;
			if (taken)
				continue;
			size = (x >> 40) % 2 ? 0x10000 : 0x1000 * (1 + (x >> 44) % 15);
			r[nr].gpa = gpa;
			r[nr].size = size;
			r[nr].uaddr = 0x7f0000000000 + slot * 0x100000;
			r[nr].node = add(gpa, size, r[nr].uaddr, 0, NULL);
			nr++;
		}
		for (int q = 0; q < 300; q++) {
			uint64_t addr, len, a, lastq, hf, hl;
			size_t k = 0;
			int rc, want = 0;

			x = x * 6364136223846793005u + 1442695040888963407u;
			/* Every third query walks on from the previous one. */
			addr = q % 3 ? (x >> 16) % (1024 * 0x10000 + 0x10000)
				     : (tr.npieces ? pieces[0].guest_phys_addr + 0x800 : 0);
			len = 1 + (x >> 48) % 0x30000;
			rc = tr_gpa(addr, len, MAXP);
			lastq = addr + len - 1;
			for (a = addr;;) {
				int hit = -1;

				for (int i = 0; i < nr; i++)
					if (r[i].gpa <= a && a <= r[i].gpa + r[i].size - 1)
						hit = i;
				if (k == MAXP) {
					want = -ENOBUFS;
					break;
				}
				if (hit < 0) {
					want = -EFAULT;
					hf = 0;
					hl = UINT64_MAX;
					for (int i = 0; i < nr; i++) {
						uint64_t rl = r[i].gpa + r[i].size - 1;

						if (rl < a && rl + 1 > hf)
							hf = rl + 1;
						if (r[i].gpa > a && r[i].gpa - 1 < hl)
							hl = r[i].gpa - 1;
					}
					cr_assert_eq(tr.fault_addr, a, "round %d", round);
					cr_assert_eq(tr.hole_first, hf, "round %d hole below %#lx", round,
						     (unsigned long)a);
					cr_assert_eq(tr.hole_last, hl, "round %d hole above %#lx", round,
						     (unsigned long)a);
					break;
				}
				uint64_t rl = r[hit].gpa + r[hit].size - 1;
				uint64_t pl = rl < lastq ? rl : lastq;

				cr_assert_eq(pieces[k].guest_phys_addr, a, "round %d q %d", round, q);
				cr_assert_eq(pieces[k].len, pl - a + 1);
				cr_assert_eq(pieces[k].userspace_addr, r[hit].uaddr + (a - r[hit].gpa));
				k++;
				if (pl == lastq)
					break;
				a = pl + 1;
			}
			cr_assert_eq(rc, want, "round %d query %#lx+%#lx", round,
				     (unsigned long)addr, (unsigned long)len);
			cr_assert_eq(tr.npieces, k);
		}
		cr_assert_not_null(umem.index[VM_SPACE_GPA]);
		cr_assert(umem.index[VM_SPACE_GPA]->disjoint, "disjoint tables use the index");
		cr_assert_eq(umem.index[VM_SPACE_GPA]->generation, umem.generation);
	}
}

static size_t upper_model(const uint64_t *k, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k[mid] <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The index's searches on their own, at every size where the tree's shape
 * changes (a node of 16 starts, 17 children, 1 to 5 layers) and where the
 * binary search of the leaves hands over to the tree, with the first start
 * at 0 and, in every other size, the last at 2^64-1: every start, its
 * neighbours and random addresses against a model binary search.  Both
 * searches are checked at every size, not only where the index uses each.
 */
Test(umem, flat_index_search_against_binary_search)
{
	static const size_t sizes[] = {
		0, 1, 2, 3, 15, 16, 17, 255, 256, 257, 271, 272, 273,
		VM_FLAT_WALK_MIN - 1, VM_FLAT_WALK_MIN, 4623, 4624, 4625,
		78607, 78608, 78609, 100000,
	};
	uint64_t x = 5;

	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];
		struct vm_itree t = { 0 };
		struct vm_itree_node *node = calloc(n + 1, sizeof(*node));
		uint64_t *k = malloc((n + 1) * sizeof(*k)), a = 0;
		struct vm_flat_index idx = { 0 };

		cr_assert(node && k);
		for (size_t i = 0; i < n; i++) {
			x = x * 6364136223846793005u + 1442695040888963407u;
			k[i] = a;
			a += 1 + (x >> 40) % 0x10000;
		}
		if (n > 1 && si % 2)
			k[n - 1] = UINT64_MAX;
		for (size_t i = 0; i < n; i++) {
			node[i].start = node[i].last = k[i];
			vm_itree_insert(&t, &node[i]);
		}
		cr_assert_eq(vm_flat_index_build(&idx, &t, 1), 0);
		cr_assert_eq(idx.disjoint, n > 0);
		for (size_t i = 0; i < n + 1000; i++) {
			uint64_t q[4];

			x = x * 6364136223846793005u + 1442695040888963407u;
			q[0] = i < n ? k[i] : x >> (x & 63);
			q[1] = q[0] - 1;
			q[2] = q[0] + 1;
			q[3] = i % 2 ? UINT64_MAX : 0;
			for (int j = 0; j < 4; j++) {
				size_t want = upper_model(k, n, q[j]);

				cr_assert_eq(vm_flat_index_upper(&idx, q[j]), want,
					     "n %zu addr %#lx", n, (unsigned long)q[j]);
				cr_assert_eq(vm_flat_leaf_upper(&idx, q[j]), want,
					     "leaves: n %zu addr %#lx", n, (unsigned long)q[j]);
				if (q[j] != UINT64_MAX)
					cr_assert_eq(vm_flat_tree_upper(&idx, q[j]), want,
						     "tree: n %zu addr %#lx", n,
						     (unsigned long)q[j]);
			}
			/* Only a hint, but it reads the same nodes: under ASan
			 * a wrong node index is an error here. */
			vm_flat_index_prefetch(&idx, q, 4, i & 1);
		}
		vm_flat_index_free(&idx);
		free(node);
		free(k);
	}
}

/* An overlap switches lookups back to the tree, removing it switches back. */
Test(umem, flat_index_steps_aside_for_overlaps)
{
	struct vm_umem_node *o;

	add(0x0, 0x1000, 0x10000, 0, "a");
	add(0x2000, 0x1000, 0x20000, 0, "b");
	tr_until_indexed(0x2010);
	cr_assert(umem.index[VM_SPACE_GPA]->disjoint);
	o = add(0x800, 0x2000, 0x30000, 0, "over");
	tr_until_indexed(0x1800);
	cr_assert_eq(tr_gpa(0x1800, 1, MAXP), 0, "only the overlapping region maps it");
	cr_assert_str_eq(pieces[0].region->name, "over");
	cr_assert_not(umem.index[VM_SPACE_GPA]->disjoint);
	cr_assert_eq(tr_gpa(0x2010, 1, MAXP), 0);
	cr_assert_str_eq(pieces[0].region->name, "over", "lowest start wins");
	vm_umem_remove(&umem, o);
	cr_assert_eq(tr_gpa(0x1800, 1, MAXP), -EFAULT);
	cr_assert_eq(tr.hole_first, 0x1000);
	cr_assert_eq(tr.hole_last, 0x1fff);
	tr_until_indexed(0x1800);
	cr_assert_eq(tr_gpa(0x1800, 1, MAXP), -EFAULT);
	cr_assert_eq(tr.hole_first, 0x1000);
	cr_assert_eq(tr.hole_last, 0x1fff);
	cr_assert(umem.index[VM_SPACE_GPA]->disjoint);
}

/*
 * The flat index is built only once the tree lookups since it went stale
 * cost about a build: one query of a big table never builds it, an edit
 * does not rebuild it at the next lookup, and a prefetch hint (many
 * lookups coming) builds it at once.  Answers are the same either way.
 */
Test(umem, index_waits_until_lookups_pay_for_it)
{
	enum { N = 3200 };
	uint64_t a = 0x10 * 0x2000 + 0x123;

	for (int i = 0; i < N; i++)
		add((uint64_t)i * 0x2000, 0x1000, 0x7f0000000000 + (uint64_t)i * 0x1000, 0, NULL);
	cr_assert_eq(tr_gpa(a, 1, MAXP), 0);
	cr_assert_eq(pieces[0].userspace_addr, 0x7f0000010123);
	cr_assert_not(index_current(), "one lookup built a %d-region index", N);
	for (int i = 0; i < N / 32; i++)
		cr_assert_eq(tr_gpa(a + (uint64_t)i * 0x2000, 1, MAXP), 0);
	cr_assert_not(index_current(), "built before the lookups paid for it");
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tr_gpa(a, 1, MAXP), 0);
	cr_assert(index_current(), "never built");

	add((uint64_t)N * 0x2000, 0x1000, 0x7f1000000000, 0, "new");
	cr_assert_eq(tr_gpa((uint64_t)N * 0x2000 + 5, 1, MAXP), 0, "the tree answers");
	cr_assert_str_eq(pieces[0].region->name, "new");
	cr_assert_eq(tr_gpa(0x1000, 1, MAXP), -EFAULT);
	cr_assert_eq(tr.hole_first, 0x1000);
	cr_assert_eq(tr.hole_last, 0x1fff);
	cr_assert_not(index_current(), "an edit rebuilt the index at the next lookup");

	uint64_t hint = 0x2000;

	vm_umem_prefetch(&umem, VM_SPACE_GPA, &hint, 1, true);
	cr_assert(index_current(), "a prefetch hint builds the index");
	cr_assert_eq(tr_gpa((uint64_t)N * 0x2000 + 5, 1, MAXP), 0);
	cr_assert_str_eq(pieces[0].region->name, "new");
}

/* seq is 32 bits: crossing 2^32 inserts renumbers the live nodes in list
 * order, and the first inserted of equal starts still wins. */
Test(umem, insertion_order_survives_seq_wrap)
{
	struct vm_umem_node *n;
	uint32_t prev = 0;
	int i = 0;

	add(0x1000, 0x1000, 0x10000, 0, "first");
	add(0x3000, 0x1000, 0x30000, 0, NULL);
	umem.next_seq = UINT32_MAX - 2; /* as after ~4 billion inserts */
	for (int k = 0; k < 6; k++)
		add(0x1000, 0x800, 0x20000 + (uint64_t)k * 0x1000, 0, "later");
	cr_assert_lt(umem.next_seq, 100u, "no renumbering");
	for (n = umem.head; n; n = n->next, i++) {
		cr_assert(i == 0 || vm_umem_seq(n) > prev, "node %d out of order", i);
		prev = vm_umem_seq(n);
	}
	cr_assert_eq(i, 8);
	cr_assert_eq(tr_gpa(0x1010, 1, MAXP), 0);
	cr_assert_str_eq(pieces[0].region->name, "first");
	tr_until_indexed(0x1010);
	cr_assert_eq(tr_gpa(0x1010, 1, MAXP), 0);
	cr_assert_str_eq(pieces[0].region->name, "first");
}

/* The user-address tree is built on its first use and kept up to date by
 * every add and remove after that; the guest-physical path never builds it. */
Test(umem, user_address_tree_is_built_on_first_use)
{
	struct vm_umem_node *b, *c;

	add(0x0, 0x1000, 0x50000, 0, "a");
	b = add(0x1000, 0x1000, 0x40000, 0, "b");
	for (int i = 0; i < 20; i++)
		cr_assert_eq(tr_gpa(0x1800, 1, MAXP), 0);
	cr_assert_not(umem.uaddr_built, "a guest-physical lookup built it");
	cr_assert_null(b->uaddr);
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x40010, 1, pieces, MAXP, &tr), 0);
	cr_assert(umem.uaddr_built);
	cr_assert_eq(pieces[0].guest_phys_addr, 0x1010);
	cr_assert_null(vm_itree_check(&umem.uaddr_tree));
	cr_assert_eq(umem.uaddr_tree.count, 2);

	c = add(0x2000, 0x1000, 0x30000, 0, "c"); /* after: a lone node */
	cr_assert_not_null(c->uaddr);
	cr_assert_eq(umem.uaddr_tree.count, 3);
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x30ff0, 0x20, pieces, MAXP, &tr),
		     -EFAULT, "0x31000 is not mapped");
	cr_assert_eq(tr.npieces, 1);
	cr_assert_str_eq(pieces[0].region->name, "c");
	cr_assert_eq(tr.hole_first, 0x31000);
	cr_assert_eq(tr.hole_last, 0x3ffff);

	vm_umem_remove(&umem, b); /* a node from the bulk array */
	vm_umem_remove(&umem, c); /* the lone one */
	cr_assert_null(vm_itree_check(&umem.uaddr_tree));
	cr_assert_eq(umem.uaddr_tree.count, 1);
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x40010, 1, pieces, MAXP, &tr),
		     -EFAULT);
	cr_assert_eq(vm_umem_translate(&umem, &rec, VM_SPACE_UADDR, 0x50010, 1, pieces, MAXP, &tr), 0);
	cr_assert_str_eq(pieces[0].region->name, "a");
}

/*
 * A table big enough (6,000 regions) that a miss of the last-hit cache
 * first tries the region after it.  Walks that step through regions and
 * the gaps between them, with random jumps between the walks, against the
 * test's own binary search over the same regions.
 */
Test(umem, big_table_walk_against_model)
{
	enum { N = 6000 };
	static uint64_t gpa[N], size[N];
	uint64_t x = 12345, at = 0x1000;

	for (int i = 0; i < N; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		at += 0x1000 * ((x >> 40) % 3); /* gap of 0, 1 or 2 pages */
		gpa[i] = at;
		size[i] = 0x1000 * (1 + (x >> 50) % 8);
		add(gpa[i], size[i], 0x7f0000000000 + 2 * gpa[i], 0, NULL);
		at += size[i];
	}
	uint64_t addr = 0;
	/* Prefetch hints (a pure hint: answers must not change), including
	 * addresses below, inside and above the table. */
	uint64_t hint[VM_UMEM_PREFETCH_MAX + 3] = { 0, UINT64_MAX, at, 0x1000, gpa[N - 1] };

	for (int q = 0; q < 60000; q++) {
		uint64_t len, a, lastq;
		size_t k = 0;
		int rc, want = 0;

		x = x * 6364136223846793005u + 1442695040888963407u;
		if (q % 500 == 0) /* jump, then walk from there */
			addr = (x >> 16) % (at + 0x10000);
		else
			addr += 0x800;
		len = 1 + (x >> 48) % 0x3000;
		if (q % 7 == 0) {
			for (size_t h = 5; h < sizeof(hint) / sizeof(hint[0]); h++)
				hint[h] = (x >> (h % 16)) % (at + 0x10000);
			vm_umem_prefetch(&umem, VM_SPACE_GPA, hint, (size_t)(q / 7) %
					 (sizeof(hint) / sizeof(hint[0]) + 1), q & 8);
		}
		rc = tr_gpa(addr, len, MAXP);
		lastq = addr + len - 1;
		for (a = addr;;) {
			int lo = 0, hi = N; /* first region starting above a */

			while (lo < hi) {
				int mid = (lo + hi) / 2;

				if (gpa[mid] <= a)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (k == MAXP) {
				want = -ENOBUFS;
				break;
			}
			if (lo == 0 || gpa[lo - 1] + size[lo - 1] - 1 < a) {
				want = -EFAULT;
				cr_assert_eq(tr.fault_addr, a, "query %d", q);
				cr_assert_eq(tr.hole_first, lo ? gpa[lo - 1] + size[lo - 1] : 0);
				cr_assert_eq(tr.hole_last, lo < N ? gpa[lo] - 1 : UINT64_MAX);
				break;
			}
			uint64_t rl = gpa[lo - 1] + size[lo - 1] - 1;
			uint64_t pl = rl < lastq ? rl : lastq;

			cr_assert_eq(pieces[k].guest_phys_addr, a, "query %d", q);
			cr_assert_eq(pieces[k].len, pl - a + 1, "query %d", q);
			cr_assert_eq(pieces[k].userspace_addr, 0x7f0000000000 + 2 * gpa[lo - 1] +
				     (a - gpa[lo - 1]));
			k++;
			if (pl == lastq)
				break;
			a = pl + 1;
		}
		cr_assert_eq(rc, want, "query %d %#lx+%#lx", q, (unsigned long)addr,
			     (unsigned long)len);
		cr_assert_eq(tr.npieces, k, "query %d", q);
	}
	cr_assert(umem.index[VM_SPACE_GPA] && umem.index[VM_SPACE_GPA]->n == N);
}

/*
 * A bulk load is a change of the table: what lookups of the empty table
 * built or recorded (its flat index, a caller's record) is stale after it.
 * Before, the empty table's index (no regions: not disjoint) stayed
 * current, so the loaded table never got one and every lookup searched
 * the tree.
 */
Test(umem, a_bulk_load_makes_what_the_empty_table_built_stale)
{
	struct vm_region r = { .guest_phys_addr = 0x1000, .memory_size = 0x1000,
			       .userspace_addr = 0x7f0000000000 };

	for (int i = 0; i < 10; i++)
		cr_assert_eq(tr_gpa(0x1000, 1, MAXP), -EFAULT);
	cr_assert(index_current(), "the empty table's index was built");
	vm_umem_bulk_begin(&umem);
	cr_assert_not_null(vm_umem_bulk_add(&umem, &r));
	cr_assert_eq(vm_umem_bulk_end(&umem), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(tr_gpa(0x1000 + (uint64_t)i, 1, MAXP), 0);
	cr_assert_eq(pieces[0].userspace_addr, 0x7f0000000009);
	cr_assert(index_current());
	cr_assert(umem.index[VM_SPACE_GPA]->disjoint, "the loaded table has its index");
	/* Two tables never share a generation: a record of one is stale for
	 * the other. */
	{
		struct vm_umem other;

		vm_umem_init(&other);
		cr_assert_neq(other.generation, umem.generation);
		cr_assert_eq(vm_umem_translate(&other, &rec, VM_SPACE_GPA, 0x1000, 1, pieces,
					       MAXP, &tr), -EFAULT);
		vm_umem_clean(&other);
	}
}
