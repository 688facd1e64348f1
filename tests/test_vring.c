/*
 * The split virtqueue decoder (core/vring.c) on rings built here in a
 * fake guest memory: chains, indirect tables, used entries, event
 * indices, and every hostile case a guest can write.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "vring.h"

/* Guest memory: 1 MiB at guest-physical 0. */
#define MEM (1u << 20)
static uint8_t mem[MEM];

static int read_mem(void *arg, uint64_t gpa, void *buf, size_t len)
{
	(void)arg;
	if (gpa >= MEM || len > MEM - gpa)
		return -EFAULT;
	memcpy(buf, mem + gpa, len);
	return 0;
}

enum { DESC = 0x1000, AVAIL = 0x2000, USED = 0x3000, IND = 0x4000, BUF = 0x10000 };

static void desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	uint8_t *p = mem + table + 16 * i;

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void put16(uint64_t at, uint16_t v)
{
	memcpy(mem + at, &v, 2);
}

static void used_entry(unsigned slot, uint32_t id, uint32_t len)
{
	memcpy(mem + USED + 4 + 8 * slot, &id, 4);
	memcpy(mem + USED + 4 + 8 * slot + 4, &len, 4);
}

static struct vq_split_cfg cfg;
static struct vq_split s;

static void setup(void)
{
	memset(mem, 0, sizeof(mem));
	cfg = (struct vq_split_cfg){ .num = 8, .desc = DESC, .avail = AVAIL, .used = USED };
	memset(&s, 0, sizeof(s));
}

static void teardown(void)
{
	vq_split_free(&s);
}

TestSuite(vring, .init = setup, .fini = teardown);

/* One chain of two made available: header, NEXT link, buffer sizes. */
static void one_pending(uint16_t head)
{
	put16(AVAIL + 2, 1);
	put16(AVAIL + 4, head);
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), 0);
}

Test(vring, a_chain_made_available)
{
	desc(DESC, 3, BUF, 12, VRING_DESC_F_NEXT, 5);
	desc(DESC, 5, BUF + 0x1000, 1514, VRING_DESC_F_WRITE, 0);
	one_pending(3);
	cr_assert_null(s.ring_problem);
	cr_assert_eq(s.avail_idx, 1);
	cr_assert_eq(s.pending, 1);
	cr_assert_eq(s.npending, 1);
	cr_assert_eq(s.chains[0].head, 3);
	cr_assert_eq(s.chains[0].n, 2);
	cr_assert_eq(s.chains[0].bytes, 1526);
	cr_assert_null(s.chains[0].problem);
	cr_assert_eq(s.descs[1].index, 5);
	cr_assert_eq(s.descs[1].flags, VRING_DESC_F_WRITE);
	cr_assert_eq(s.nproblems, 0);
}

Test(vring, a_loop_is_named_not_followed)
{
	desc(DESC, 0, BUF, 1, VRING_DESC_F_NEXT, 1);
	desc(DESC, 1, BUF, 1, VRING_DESC_F_NEXT, 0);
	one_pending(0);
	cr_assert_eq(s.chains[0].n, 2);
	cr_assert_str_eq(s.chains[0].problem, "a loop: the chain comes back to a descriptor");
}

Test(vring, indices_past_the_ring)
{
	desc(DESC, 0, BUF, 1, VRING_DESC_F_NEXT, 8);
	one_pending(0);
	cr_assert_str_eq(s.chains[0].problem, "a next index past the ring");
	vq_split_free(&s);
	one_pending(9);
	cr_assert_str_eq(s.chains[0].problem, "its head index is past the ring");
	cr_assert_eq(s.chains[0].n, 0);
}

Test(vring, an_available_index_too_far_ahead_is_clamped)
{
	put16(AVAIL + 2, 100);
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), 0);
	cr_assert_str_eq(s.ring_problem, "the available index is more than the ring's size ahead");
	cr_assert_eq(s.pending, 8);
	cr_assert_eq(s.npending, 8);
}

Test(vring, the_base_from_set_vring_base_is_where_pending_starts)
{
	put16(AVAIL + 2, 7);
	put16(USED + 2, 2);
	cfg.has_base = true;
	cfg.base = 5;
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), 0);
	cr_assert_eq(s.from, 5);
	cr_assert_eq(s.pending, 2);
	vq_split_free(&s);
	cfg.has_base = false;
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), 0);
	cr_assert_eq(s.from, 2, "without a base, the used index");
	cr_assert_eq(s.pending, 5);
}

Test(vring, indirect_tables_followed_one_level)
{
	desc(DESC, 0, IND, 48, VRING_DESC_F_INDIRECT, 0);
	desc(IND, 0, BUF, 10, VRING_DESC_F_NEXT, 2);
	desc(IND, 2, BUF, 20, VRING_DESC_F_NEXT, 1);
	desc(IND, 1, BUF, 30, VRING_DESC_F_WRITE, 0);
	one_pending(0);
	cr_assert_null(s.chains[0].problem);
	cr_assert_eq(s.chains[0].n, 4, "the indirect descriptor and its three");
	cr_assert_eq(s.chains[0].bytes, 60);
	cr_assert(s.descs[3].indirect);
	cr_assert_eq(s.descs[3].index, 1);
}

Test(vring, hostile_indirect_tables)
{
	desc(DESC, 0, IND, 32, VRING_DESC_F_INDIRECT, 0);
	desc(IND, 0, IND, 16, VRING_DESC_F_INDIRECT, 0);
	one_pending(0);
	cr_assert_str_eq(s.descs[1].problem, "an indirect descriptor inside an indirect table");
	vq_split_free(&s);

	desc(DESC, 0, IND, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	one_pending(0);
	cr_assert_str_eq(s.descs[0].problem, "INDIRECT with NEXT (the spec forbids both)");
	cr_assert_eq(s.chains[0].n, 1, "not followed");
	vq_split_free(&s);

	desc(DESC, 0, IND, 20, VRING_DESC_F_INDIRECT, 0);
	one_pending(0);
	cr_assert(strstr(s.descs[0].problem, "not 1 to 32768 descriptors"));
	vq_split_free(&s);

	desc(DESC, 0, IND, 32, VRING_DESC_F_INDIRECT, 0);
	desc(IND, 0, BUF, 1, VRING_DESC_F_NEXT, 1);
	desc(IND, 1, BUF, 1, VRING_DESC_F_NEXT, 0);
	one_pending(0);
	cr_assert_str_eq(s.chains[0].problem, "a loop in the indirect table");
	vq_split_free(&s);

	desc(IND, 1, BUF, 1, VRING_DESC_F_NEXT, 2);
	one_pending(0);
	cr_assert_str_eq(s.chains[0].problem, "a next index past the indirect table");
}

Test(vring, buffers_that_wrap_or_lie_outside_the_table)
{
	struct vm_umem u;
	struct vm_region r = { .guest_phys_addr = 0, .memory_size = 0x20000,
			       .userspace_addr = 0x7f0000000000 };

	vm_umem_init(&u);
	cr_assert_eq(vm_umem_add(&u, &r, NULL), 0);
	cfg.umem = &u;
	desc(DESC, 0, UINT64_MAX - 1, 4, VRING_DESC_F_NEXT, 1);
	desc(DESC, 1, 0x1fff0, 0x20, VRING_DESC_F_NEXT, 2);
	desc(DESC, 2, 0x100, 0x10, 0, 0);
	one_pending(0);
	cr_assert_str_eq(s.descs[0].problem, "its buffer runs past 2^64-1");
	cr_assert_str_eq(s.descs[1].problem, "its buffer is not in the memory table");
	cr_assert(!s.descs[1].mapped);
	cr_assert(s.descs[2].mapped);
	cr_assert_null(s.descs[2].problem);
	cr_assert_eq(s.nproblems, 2);
	vm_umem_clean(&u);
}

Test(vring, used_entries_newest_first_with_their_lengths)
{
	desc(DESC, 4, BUF, 100, VRING_DESC_F_WRITE, 0);
	desc(DESC, 6, BUF, 200, VRING_DESC_F_WRITE, 0);
	used_entry(0, 4, 60);
	used_entry(1, 6, 0);
	used_entry(2, 99, 1);
	put16(USED + 2, 3);
	put16(AVAIL + 2, 3);
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), 0);
	cr_assert_eq(s.npending, 0);
	cr_assert_eq(s.nchains, 3);
	cr_assert_str_eq(s.chains[0].problem, "the used entry's id is past the ring");
	cr_assert_eq(s.chains[1].head, 6);
	cr_assert(s.chains[1].has_used);
	cr_assert_eq(s.chains[1].used_len, 0);
	cr_assert_eq(s.chains[2].head, 4);
	cr_assert_eq(s.chains[2].used_len, 60);
	cr_assert_eq(s.chains[2].bytes, 100);
}

Test(vring, event_index_values)
{
	cfg.event_idx = true;
	put16(AVAIL + 4 + 2 * 8, 0x1234);
	put16(USED + 4 + 8 * 8, 0x4321);
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), 0);
	cr_assert_eq(s.used_event, 0x1234);
	cr_assert_eq(s.avail_event, 0x4321);
}

Test(vring, unreadable_rings_and_bad_sizes)
{
	cfg.avail = MEM + 0x1000;
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), 0);
	cr_assert_str_eq(s.ring_problem, "the available ring cannot be read");
	cfg.avail = AVAIL;
	cfg.desc = MEM - 8;
	vq_split_free(&s);
	one_pending(0);
	cr_assert_str_eq(s.descs[0].problem, "the descriptor cannot be read");
	vq_split_free(&s);
	cfg.num = 6;
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), -EINVAL);
	cfg.num = 0;
	cr_assert_eq(vq_split_decode(&cfg, read_mem, NULL, &s), -EINVAL);
}

/* A chain as long as the ring, every descriptor once: walked whole. */
Test(vring, a_chain_as_long_as_the_ring)
{
	cfg.num = 256;
	for (unsigned i = 0; i < 256; i++)
		desc(DESC, i, BUF, 1, i < 255 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	one_pending(0);
	cr_assert_null(s.chains[0].problem);
	cr_assert_eq(s.chains[0].n, 256);
}

/* ---- packed rings ---- */

#define PA VRING_PACKED_DESC_F_AVAIL
#define PU VRING_PACKED_DESC_F_USED

/* A packed descriptor: the same 16 bytes, the buffer id where next is. */
static void pdesc(unsigned i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	desc(DESC, i, addr, len, flags, id);
}

static struct vq_packed_cfg pcfg(void)
{
	return (struct vq_packed_cfg){ .num = 4, .desc = DESC, .driver = AVAIL, .device = USED };
}

Test(vring, packed_available_chains_from_a_new_ring)
{
	struct vq_packed_cfg c = pcfg();
	struct vq_packed p;

	/* A new ring: the driver's wrap counter is 1, so AVAIL set and USED
	 * clear mean available. */
	pdesc(0, BUF, 12, 7, PA | VRING_DESC_F_NEXT);
	pdesc(1, BUF + 0x100, 1514, 7, PA | VRING_DESC_F_WRITE);
	pdesc(2, BUF, 1, 8, 0);
	put16(AVAIL, 0x8002);
	put16(AVAIL + 2, 1);
	cr_assert_eq(vq_packed_decode(&c, read_mem, NULL, &p), 0);
	cr_assert_null(p.ring_problem);
	cr_assert_eq(p.npending, 1);
	cr_assert_eq(p.chains[0].n, 2);
	cr_assert_eq(p.chains[0].bytes, 1526);
	cr_assert_eq(p.descs[1].next, 7, "the buffer id");
	cr_assert_eq(p.driver_off_wrap, 0x8002);
	cr_assert_eq(p.driver_flags, 1);
	cr_assert_eq(p.nchains, 1, "nothing used yet");
	vq_packed_free(&p);
}

Test(vring, packed_both_wrap_counters)
{
	struct vq_packed_cfg c = pcfg();
	struct vq_packed p;

	/* The device stands at 2 with wrap 0: there, available is AVAIL
	 * clear and USED set; past the end the counter flips to 1. */
	c.has_base = true;
	c.last_avail_idx = 2;
	c.avail_wrap = false;
	pdesc(2, BUF, 10, 1, PU | VRING_DESC_F_NEXT);
	pdesc(3, BUF, 20, 1, PU | VRING_DESC_F_NEXT);
	pdesc(0, BUF, 30, 1, PA);
	pdesc(1, BUF, 40, 2, 0); /* used in this lap: AVAIL = USED = 0 */
	cr_assert_eq(vq_packed_decode(&c, read_mem, NULL, &p), 0);
	cr_assert_eq(p.npending, 1);
	cr_assert_eq(p.chains[0].head, 2);
	cr_assert_eq(p.chains[0].n, 3, "across the wrap");
	cr_assert_null(p.chains[0].problem);
	cr_assert_eq(p.chains[0].bytes, 60);
	/* Before position 2: descriptor 1 is used (AVAIL == USED), 0 not. */
	cr_assert_eq(p.nchains, 2);
	cr_assert(p.chains[1].has_used);
	cr_assert_eq(p.chains[1].head, 1);
	cr_assert_eq(p.chains[1].used_len, 40);
	vq_packed_free(&p);
}

Test(vring, packed_hostile_chains)
{
	struct vq_packed_cfg c = pcfg();
	struct vq_packed p;

	pdesc(0, BUF, 1, 0, PA | VRING_DESC_F_NEXT);
	pdesc(1, BUF, 1, 0, 0);
	cr_assert_eq(vq_packed_decode(&c, read_mem, NULL, &p), 0);
	cr_assert_str_eq(p.chains[0].problem, "NEXT leads to a descriptor that is not available");
	vq_packed_free(&p);

	for (unsigned i = 0; i < 4; i++)
		pdesc(i, BUF, 1, 0, PA | VRING_DESC_F_NEXT);
	cr_assert_eq(vq_packed_decode(&c, read_mem, NULL, &p), 0);
	cr_assert_str_eq(p.chains[0].problem, "a chain longer than the ring");
	cr_assert_eq(p.chains[0].n, 4);
	vq_packed_free(&p);

	c.has_base = true;
	c.last_avail_idx = 4;
	cr_assert_eq(vq_packed_decode(&c, read_mem, NULL, &p), 0);
	cr_assert_str_eq(p.ring_problem, "the device's position is past the ring");
	vq_packed_free(&p);
	c.num = 0;
	cr_assert_eq(vq_packed_decode(&c, read_mem, NULL, &p), -EINVAL);
}

Test(vring, packed_indirect_tables_are_consecutive)
{
	struct vq_packed_cfg c = pcfg();
	struct vq_packed p;

	pdesc(0, IND, 48, 3, PA | VRING_DESC_F_INDIRECT);
	desc(IND, 0, BUF, 10, 0, 0);
	desc(IND, 1, BUF, 20, 0, 0);
	desc(IND, 2, BUF, 30, VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(vq_packed_decode(&c, read_mem, NULL, &p), 0);
	cr_assert_eq(p.chains[0].n, 4);
	cr_assert_eq(p.chains[0].bytes, 60);
	cr_assert_str_eq(p.descs[3].problem, "an indirect descriptor inside an indirect table");
	vq_packed_free(&p);
}

/* ---- the in-flight region ---- */

Test(vring, inflight_split_in_fetch_order)
{
	uint8_t r[16 + 16 * 8] = { 0 };
	uint16_t v = 1, n = 8, batch = 5, used = 0x1234;
	uint64_t counters[8] = { 0, 30, 0, 10, 0, 20, 0, 0 };
	struct vq_inflight f;

	cr_assert_eq(vq_inflight_queue_bytes(false, 8), 192, "16 + 128 rounded to 64");
	cr_assert_eq(vq_inflight_queue_bytes(true, 128), 4160);
	memcpy(r + 8, &v, 2);
	memcpy(r + 10, &n, 2);
	memcpy(r + 12, &batch, 2);
	memcpy(r + 14, &used, 2);
	for (unsigned i = 0; i < 8; i++) {
		r[16 + 16 * i] = counters[i] != 0;
		memcpy(r + 16 + 16 * i + 8, &counters[i], 8);
	}
	cr_assert_eq(vq_inflight_decode(r, sizeof(r), false, 8, &f), 0);
	cr_assert_null(f.problem);
	cr_assert_eq(f.version, 1);
	cr_assert_eq(f.last_batch_head, 5);
	cr_assert_eq(f.used_idx, 0x1234);
	cr_assert_eq(f.ninflight, 3);
	cr_assert_eq(f.inflight[0].index, 3, "counter 10 was fetched first");
	cr_assert_eq(f.inflight[1].index, 5);
	cr_assert_eq(f.inflight[2].index, 1);
	vq_inflight_free(&f);

	/* The region disagrees with the queue, ends early, or lies. */
	cr_assert_eq(vq_inflight_decode(r, sizeof(r), false, 16, &f), 0);
	cr_assert_str_eq(f.problem, "the region's desc_num is not the queue's size");
	cr_assert_eq(f.ninflight, 3, "the smaller count is read");
	vq_inflight_free(&f);
	cr_assert_eq(vq_inflight_decode(r, 16 + 16 * 4, false, 8, &f), 0);
	cr_assert_str_eq(f.problem, "the region ends before its descriptors do");
	cr_assert_eq(f.ninflight, 2);
	vq_inflight_free(&f);
	r[16 + 16 * 7] = 9;
	cr_assert_eq(vq_inflight_decode(r, sizeof(r), false, 8, &f), 0);
	cr_assert_str_eq(f.problem, "an inflight flag that is not 0 or 1");
	vq_inflight_free(&f);
	cr_assert_eq(vq_inflight_decode(r, 10, false, 8, &f), 0);
	cr_assert_str_eq(f.problem, "the region is shorter than its header");
	vq_inflight_free(&f);
}

Test(vring, inflight_packed_keeps_the_descriptors)
{
	uint8_t r[32 + 32 * 4] = { 0 };
	uint16_t v = 1, n = 4, id = 7, flags = VRING_DESC_F_WRITE, num = 2, last = 3;
	uint64_t counter = 5, addr = 0x10000;
	uint32_t len = 512;
	struct vq_inflight f;

	memcpy(r + 8, &v, 2);
	memcpy(r + 10, &n, 2);
	r[20] = 1;
	uint8_t *e = r + 32 + 32 * 2;
	e[0] = 1;
	memcpy(e + 4, &num, 2);
	memcpy(e + 6, &last, 2);
	memcpy(e + 8, &counter, 8);
	memcpy(e + 16, &id, 2);
	memcpy(e + 18, &flags, 2);
	memcpy(e + 20, &len, 4);
	memcpy(e + 24, &addr, 8);
	cr_assert_eq(vq_inflight_decode(r, sizeof(r), true, 4, &f), 0);
	cr_assert_null(f.problem);
	cr_assert_eq(f.used_wrap_counter, 1);
	cr_assert_eq(f.ninflight, 1);
	cr_assert_eq(f.inflight[0].index, 2);
	cr_assert_eq(f.inflight[0].id, 7);
	cr_assert_eq(f.inflight[0].num, 2);
	cr_assert_eq(f.inflight[0].last, 3);
	cr_assert_eq(f.inflight[0].len, 512);
	cr_assert_eq(f.inflight[0].addr, 0x10000);
	cr_assert_eq(f.inflight[0].flags, VRING_DESC_F_WRITE);
	vq_inflight_free(&f);
}
