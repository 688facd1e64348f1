/*
 * Fuzz target: the split and packed virtqueue decoders (core/vring.c) on
 * guest memory the input makes up.  The first 16 bytes choose the ring (its
 * size, where its three parts lie, the event index, a base, split or
 * packed, or the memory taken as an in-flight region); the rest
 * is guest memory at guest-physical 0, read through a bounded reader.
 * Whatever the guest wrote: no crash, no read outside the memory, and an
 * answer whose chains and descriptors agree with each other.  With bit 5
 * of the second byte, the ring goes through the vring command's view
 * (vring_view.c: device headers, frames, translations) recorded on a
 * tape, and the view decoded from the tape alone (a snapshot) must be the
 * same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "vring.h"
#include "vring_view.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct memory {
	const uint8_t *p;
	size_t len;
};

static int read_mem(void *arg, uint64_t gpa, void *buf, size_t len)
{
	const struct memory *m = arg;

	if (gpa >= m->len || len > m->len - gpa)
		return -1;
	memcpy(buf, m->p + gpa, len);
	return 0;
}

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The view of the ring data describes, live and from its snapshot. */
static void view(const uint8_t *data, struct memory *m, const struct vq_split_cfg *cfg)
{
	static struct vm_table t;
	static int once;
	struct vq_tape tape = { .read = read_mem, .arg = m };
	uint64_t features = (data[15] & 1 ? 1ull << 29 : 0) | (data[15] & 2 ? 1ull << 32 : 0) |
			    (data[15] & 4 ? 1ull << 34 : 0) | (data[15] & 8 ? 1ull << 15 : 0);
	json_t *ring, *live, *again;
	struct vq_view v;

	if (!once) { /* the table: 1 MiB at 0, as the memory can be at most */
		struct vm_region r = { .guest_phys_addr = 0, .memory_size = 1 << 20,
				       .userspace_addr = 0x7f0000000000 };

		vm_table_init(&t);
		CHECK(vm_umem_add(&t.umem, &r, NULL) == 0);
		once = 1;
	}
	ring = json_pack("{s:i, s:i, s:i, s:b, s:b, s:{s:o, s:o}, s:{s:o, s:o}, s:{s:o, s:o}}",
			 "index", 0, "num", (int)(data[15] & 4 ? 1 + u16(data + 12) % 32768
							       : cfg->num),
			 "base", cfg->base, "enabled", 1, "started", 1,
			 "desc", "userspace_addr", vm_json_hex(0x7f0000000000 + cfg->desc),
			 "guest_phys_addr", vm_json_hex(cfg->desc),
			 "avail", "userspace_addr", vm_json_hex(0x7f0000000000 + cfg->avail),
			 "guest_phys_addr", vm_json_hex(cfg->avail),
			 "used", "userspace_addr", vm_json_hex(0x7f0000000000 + cfg->used),
			 "guest_phys_addr", vm_json_hex(cfg->used));
	CHECK(ring);
	v = (struct vq_view){ .ring = ring, .features = features,
			      .device = (enum vq_device)(data[14] % 3), .umem = &t.umem,
			      .device_base = cfg->has_base, .read = vq_tape_record, .arg = &tape,
			      .buffer_bytes = VQ_HEADER_BYTES, .data_bytes = data[13] % 64 };
	live = vq_view_json(&v);
	CHECK(live && !tape.failed);
	v.read = vq_tape_read;
	again = vq_view_json(&v);
	CHECK(again && json_equal(live, again));
	json_decref(live);
	json_decref(again);
	json_decref(ring);
	vq_tape_free(&tape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memory m;
	struct vq_split_cfg cfg;
	struct vq_split s;
	size_t total = 0;

	if (size < 16)
		return 0;
	m.p = data + 16;
	m.len = size - 16;
	memset(&cfg, 0, sizeof(cfg));
	cfg.num = (uint16_t)(1u << (data[0] % 16)); /* 1 to 32768 */
	cfg.desc = u16(data + 2);
	cfg.avail = u16(data + 4);
	cfg.used = u16(data + 6);
	cfg.event_idx = data[1] & 1;
	cfg.has_base = data[1] & 2;
	cfg.base = u16(data + 8);
	if (data[1] & 4)
		cfg.desc |= (uint64_t)u16(data + 10) << 48; /* far away: unreadable */
	if (data[1] & 32) {
		view(data, &m, &cfg);
		return 0;
	}
	if (data[1] & 16) { /* the memory is an in-flight region */
		struct vq_inflight f;

		CHECK(vq_inflight_decode(m.p, m.len, data[1] & 8, u16(data + 12), &f) == 0);
		CHECK(f.ninflight <= f.desc_num && f.ninflight <= u16(data + 12));
		for (size_t i = 1; i < f.ninflight; i++)
			CHECK(f.inflight[i - 1].counter <= f.inflight[i].counter);
		vq_inflight_free(&f);
		return 0;
	}
	if (data[1] & 8) {
		struct vq_packed_cfg pc = {
			.num = (uint16_t)(1 + u16(data + 12) % VQ_MAX_NUM), .desc = cfg.desc,
			.driver = cfg.avail, .device = cfg.used, .has_base = cfg.has_base,
			.last_avail_idx = cfg.base & 0x7fff, .avail_wrap = cfg.base >> 15,
		};
		struct vq_packed p;

		CHECK(vq_packed_decode(&pc, read_mem, &m, &p) == 0);
		CHECK(p.nchains <= (size_t)pc.num + VQ_USED_CHAINS);
		for (size_t i = 0; i < p.nchains; i++) {
			CHECK(p.chains[i].first + p.chains[i].n <= p.ndescs);
			total += p.chains[i].n;
		}
		CHECK(total == p.ndescs);
		vq_packed_free(&p);
		return 0;
	}
	CHECK(vq_split_decode(&cfg, read_mem, &m, &s) == 0);
	CHECK(s.npending <= s.nchains && s.nchains <= (size_t)s.pending + VQ_USED_CHAINS);
	CHECK(s.pending <= cfg.num);
	for (size_t i = 0; i < s.nchains; i++) {
		const struct vq_chain *c = &s.chains[i];

		CHECK(c->first + c->n <= s.ndescs);
		/* A chain visits each ring descriptor and each indirect entry
		 * at most once. */
		CHECK(c->n <= (size_t)cfg.num + VQ_MAX_NUM);
		total += c->n;
	}
	CHECK(total == s.ndescs);
	for (size_t i = 0; i < s.ndescs; i++)
		CHECK(s.descs[i].indirect || s.descs[i].index < cfg.num);
	vq_split_free(&s);
	return 0;
}
