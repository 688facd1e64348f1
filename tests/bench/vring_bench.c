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
 *   vmmap-vring-bench [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vring.h"

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
	return 0;
}
