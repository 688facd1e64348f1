/*
 * vmmap-vring-bench: the split virtqueue decoder (core/vring.c) on the two
 * rings of issue 23, ns per descriptor, against a reference in the same
 * run: a loop that reads the same descriptors through the same reader and
 * sums their lengths, with no checks (the floor a decoder cannot beat).
 *
 *   ring A: 32768 entries, every descriptor in a chain of 4 direct ones,
 *           8192 chains made available;
 *   ring B: 1024 entries, 1024 heads each pointing at an indirect table
 *           of 16.
 *
 *   live:   the vring command's work on a live 1024-entry virtio-net TX
 *           ring (1024 chains of a 12-byte header and a 1514-byte frame):
 *           guest memory a memfd mapped read-only and read through the
 *           CLI's SIGBUS-guarded copy (guestmem.c), the view with headers
 *           and frame summaries (vring_view.c), and its JSON text; against
 *           the decoder alone on the same ring through a plain memcpy.
 *
 *   vmmap-vring-bench [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "guestmem.h"
#include "vring.h"
#include "vring_view.h"

static uint8_t *mem;
static size_t mem_len;

static int read_mem(void *arg, uint64_t gpa, void *buf, size_t len)
{
	(void)arg;
	if (gpa >= mem_len || len > mem_len - gpa)
		return -1;
	memcpy(buf, mem + gpa, len);
	return 0;
}

static void desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	uint8_t *p = mem + table + 16ull * i;

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The reference: every descriptor the decoder reads, read and summed. */
static uint64_t reference(const struct vq_split *s)
{
	uint64_t sum = 0;
	uint8_t b[16];

	for (size_t i = 0; i < s->ndescs; i++) {
		uint64_t table = s->descs[i].indirect ? 0x400000 + 0x1000ull * (i / 17) : 0x1000;

		read_mem(NULL, table + 16ull * s->descs[i].index, b, 16);
		sum += (uint32_t)(b[8] | b[9] << 8 | b[10] << 16 | (uint32_t)b[11] << 24);
	}
	return sum;
}

static void run(const char *name, const struct vq_split_cfg *cfg, int reps)
{
	struct vq_split s;
	double t0, dec = 1e30, ref = 1e30;
	volatile uint64_t sink = 0;
	size_t n = 0;

	for (int r = 0; r < reps; r++) {
		t0 = now();
		if (vq_split_decode(cfg, read_mem, NULL, &s)) {
			fprintf(stderr, "decode failed\n");
			exit(1);
		}
		t0 = now() - t0;
		if (t0 < dec)
			dec = t0;
		n = s.ndescs;
		t0 = now();
		sink += reference(&s);
		t0 = now() - t0;
		if (t0 < ref)
			ref = t0;
		if (s.nproblems) {
			fprintf(stderr, "%s: %zu problems in a sound ring\n", name, s.nproblems);
			exit(1);
		}
		vq_split_free(&s);
	}
	printf("%-44s %8zu descs  decoder %6.1f ns/desc  reference %5.1f ns/desc  ratio %5.2fx\n",
	       name, n, dec * 1e9 / (double)n, ref * 1e9 / (double)n, dec / ref);
	(void)sink;
}

/* The live vring: a 1024-entry TX ring in a memfd, through guestmem. */
static void live(int reps)
{
	const size_t len = 8u << 20;
	struct vm_region r = { .guest_phys_addr = 0, .memory_size = len,
			       .userspace_addr = 0x7f0000000000 };
	struct vq_split_cfg cfg = { .num = 1024, .desc = 0x1000, .avail = 0x10000,
				    .used = 0x20000, .umem = NULL };
	struct vm_guestmem gm;
	struct vm_umem u;
	struct vq_split s;
	json_t *ring;
	double t0, t1, view = 1e30, dec = 1e30, dump = 0;
	size_t bytes = 0;
	int fd = memfd_create("bench-guest", MFD_CLOEXEC);
	uint8_t *g;
	uint16_t idx;

	if (fd < 0 || ftruncate(fd, (off_t)len) ||
	    (g = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		perror("memfd");
		exit(1);
	}
	mem = g;
	mem_len = len;
	for (unsigned i = 0; i < 1024; i++) {
		uint64_t hdr = 0x100000 + 16ull * i, frame = 0x200000 + 2048ull * i;

		desc(0x1000, 2 * (i % 512), hdr, 12, 1, (uint16_t)(2 * (i % 512) + 1));
		desc(0x1000, 2 * (i % 512) + 1, frame, 1514, 0, 0);
		/* A UDP frame from 52:54:00:12:34:56 to the broadcast. */
		memcpy(g + frame, "\xff\xff\xff\xff\xff\xff\x52\x54\x00\x12\x34\x56\x08\x00"
		       "\x45\x00\x05\xdc\x00\x00\x00\x00\x40\x11\x00\x00\x0a\x00\x00\x02"
		       "\x0a\x00\x00\xff\x13\x88\x13\x89", 38);
		idx = (uint16_t)(2 * (i % 512));
		memcpy(g + 0x10000 + 4 + 2 * i, &idx, 2);
	}
	idx = 1024;
	memcpy(g + 0x10002, &idx, 2);
	vm_umem_init(&u);
	vm_guestmem_init(&gm);
	if (vm_umem_add(&u, &r, NULL) || vm_guestmem_keep(&gm, &r, dup(fd))) {
		fprintf(stderr, "table\n");
		exit(1);
	}
	gm.copy = cli_guard_copy;
	ring = json_pack("{s:i, s:i, s:i, s:b, s:b, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}",
			 "index", 1, "num", 1024, "base", 0, "enabled", 1, "started", 1,
			 "desc", "userspace_addr", "0x7f0000001000", "guest_phys_addr", "0x1000",
			 "avail", "userspace_addr", "0x7f0000010000", "guest_phys_addr", "0x10000",
			 "used", "userspace_addr", "0x7f0000020000", "guest_phys_addr", "0x20000");
	for (int k = 0; k < reps; k++) {
		struct vq_view v = { .ring = ring, .features = 1ull << 32, .device = VQ_DEV_NET,
				     .umem = &u, .device_base = true, .read = vm_guestmem_read,
				     .arg = &gm, .buffer_bytes = VQ_HEADER_BYTES };
		json_t *o;
		char *text;

		t0 = now();
		o = vq_view_json(&v);
		t1 = now();
		text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		t1 = now() - t1;
		t0 = now() - t0;
		if (!text || json_array_size(json_object_get(o, "pending")) != 1024 ||
		    !json_object_get(json_object_get(json_array_get(json_object_get(o, "pending"),
								    0), "net"), "frame")) {
			fprintf(stderr, "live: not the ring built\n");
			exit(1);
		}
		bytes = strlen(text);
		if (t0 < view) {
			view = t0;
			dump = t1;
		}
		free(text);
		json_decref(o);
	}
	/* The decoder alone, in its own loop (warm, as the view's was). */
	for (int k = 0; k < reps; k++) {
		t0 = now();
		if (vq_split_decode(&cfg, read_mem, NULL, &s)) {
			fprintf(stderr, "decode failed\n");
			exit(1);
		}
		t0 = now() - t0;
		if (t0 < dec)
			dec = t0;
		vq_split_free(&s);
	}
	printf("%-44s %8d chains  vring %6.2f ms (%.2f ms writing %zu bytes of JSON)  decoder "
	       "alone %5.3f ms  ratio %5.1fx\n", "live: 1024-entry TX ring, guarded reads", 1024,
	       view * 1e3, dump * 1e3, bytes, dec * 1e3, view / dec);
	json_decref(ring);
	vm_guestmem_clear(&gm);
	vm_umem_clean(&u);
	munmap(g, len);
	close(fd);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 && !strcmp(argv[1], "--quick") ? 2 : 15;
	struct vq_split_cfg a = { .num = 32768, .desc = 0x1000, .avail = 0x100000,
				  .used = 0x200000 };
	struct vq_split_cfg b = { .num = 1024, .desc = 0x1000, .avail = 0x100000,
				  .used = 0x200000 };
	uint16_t idx;

	mem_len = 16u << 20;
	mem = calloc(1, mem_len);
	if (!mem)
		return 1;
	/* Ring A: chains of 4, heads 0, 4, 8, ...; 8192 made available. */
	for (unsigned i = 0; i < 32768; i++)
		desc(0x1000, i, 0x800000 + 64ull * i, 64, (i % 4 != 3) ? 1 : 0,
		     (uint16_t)(i + 1));
	for (unsigned k = 0; k < 8192; k++) {
		idx = (uint16_t)(4 * k);
		memcpy(mem + 0x100000 + 4 + 2 * k, &idx, 2);
	}
	idx = 8192;
	memcpy(mem + 0x100002, &idx, 2);
	run("ring A: 32768 entries, 8192 chains of 4", &a, reps);

	/* Ring B: 1024 heads, each an indirect table of 16 at its own page. */
	memset(mem, 0, mem_len);
	for (unsigned i = 0; i < 1024; i++) {
		uint64_t t = 0x400000 + 0x1000ull * i;

		desc(0x1000, i, t, 16 * 16, 4, 0);
		for (unsigned j = 0; j < 16; j++)
			desc(t, j, 0x800000 + 64ull * j, 64, j < 15 ? 1 : 0, (uint16_t)(j + 1));
		idx = (uint16_t)i;
		memcpy(mem + 0x100000 + 4 + 2 * i, &idx, 2);
	}
	idx = 1024;
	memcpy(mem + 0x100002, &idx, 2);
	run("ring B: 1024 heads, indirect tables of 16", &b, reps);
	free(mem);
	live(reps);
	return 0;
}
