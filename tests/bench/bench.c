/*
 * vmmap-bench: address translation side by side with the structures the
 * peers use, on the same tables and the same pre-generated query streams,
 * in one process.  Every implementation's answers are cross-checked.
 *
 *   R1  linear scan over the regions      (libvhost-user < 9.0, DPDK
 *                                           rte_vhost_va_from_guest_pa)
 *   R2  sorted array + libc bsearch        (KVM io bus, vm-memory, DPDK guest pages)
 *   R3  augmented balanced interval tree, one 96-byte allocation per node,
 *       walked per piece like Linux vhost's translate_desc (the tree is
 *       vmmap's AVL tree, which is at most as deep as a red-black tree, so
 *       R3 is if anything flattered)
 *   R4  branch-free Eytzinger search over a separate key array, with
 *       prefetching (the practical floor)
 *   vmmap  vm_umem_translate, the path the CLI uses
 *
 * Numbers are ns per query, the median of interleaved repeats, each the
 * last of passes of the same implementation over the same stream that
 * last at least 20 ms together (a warm-up).  There are
 * no timing assertions anywhere: --quick only proves that it all runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "umem.h"

struct region {
	uint64_t gpa, size, uaddr;
};

struct query {
	uint64_t addr, len;
};

/* ---- tables and query streams ---- */

static uint64_t rs = 0x853c49e6748fea9bu;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* Regions of 4 KiB to 2 MiB with gaps of 0 to 3 pages, in GPA order. */
static struct region *make_table(size_t n)
{
	struct region *r = malloc(n * sizeof(*r));
	uint64_t gpa = 0x100000;

	for (size_t i = 0; i < n; i++) {
		r[i].gpa = gpa;
		r[i].size = 4096 * (1 + rnd() % 512);
		r[i].uaddr = 0x7f0000000000 + gpa * 2;
		gpa += r[i].size + 4096 * (rnd() % 4);
	}
	return r;
}

enum stream { RANDOM, SEQUENTIAL, MISSES, SPAN4, NSTREAMS };
static const char *const stream_names[] = { "random", "sequential", "10% misses",
					    "span 4 regions" };

static struct query *make_queries(const struct region *r, size_t n, enum stream s,
				  size_t q)
{
	struct query *v = malloc(q * sizeof(*v));
	size_t cur = 0;
	uint64_t off = 0;

	for (size_t i = 0; i < q; i++) {
		const struct region *x = &r[rnd() % n];

		switch (s) {
		case RANDOM:
			v[i].addr = x->gpa + rnd() % (x->size - 64);
			v[i].len = 64;
			break;
		case SEQUENTIAL: /* a 4 KiB walk through the mapped memory */
			if (off >= r[cur].size) {
				off = 0;
				cur = (cur + 1) % n;
			}
			v[i].addr = r[cur].gpa + off;
			v[i].len = 64;
			off += 4096;
			break;
		case MISSES:
			if (rnd() % 10 == 0) { /* just past a region: a hole or the end */
				v[i].addr = x->gpa + x->size + (rnd() % 4096);
				v[i].len = 1;
			} else {
				v[i].addr = x->gpa + rnd() % (x->size - 64);
				v[i].len = 64;
			}
			break;
		case SPAN4: { /* from inside region k to inside region k+3 */
			size_t k = n > 4 ? rnd() % (n - 4) : 0, e = k + 3 < n ? k + 3 : n - 1;
			uint64_t a = r[k].gpa + r[k].size / 2;

			v[i].addr = a;
			v[i].len = r[e].gpa + r[e].size / 2 - a + 1;
			break;
		}
		default:
			break;
		}
	}
	return v;
}

/* ---- the reference implementations ---- */

/* Each answers "which region contains addr", or -1; the range walk on top
 * is the same translate_desc loop for all of them. */
struct impl {
	const char *name;
	long (*find)(void *ctx, uint64_t addr);
	void *ctx;
	size_t max_n; /* 0: any */
};

struct table {
	const struct region *r;
	size_t n;
};

static long r1_find(void *ctx, uint64_t addr)
{
	const struct table *t = ctx;

	for (size_t i = 0; i < t->n; i++)
		if (addr >= t->r[i].gpa && addr - t->r[i].gpa < t->r[i].size)
			return (long)i;
	return -1;
}

static int r2_cmp(const void *key, const void *elem)
{
	uint64_t a = *(const uint64_t *)key;
	const struct region *r = elem;

	if (a < r->gpa)
		return -1;
	return a - r->gpa < r->size ? 0 : 1;
}

static long r2_find(void *ctx, uint64_t addr)
{
	const struct table *t = ctx;
	const struct region *r = bsearch(&addr, t->r, t->n, sizeof(*t->r), r2_cmp);

	return r ? (long)(r - t->r) : -1;
}

/* R3: a Linux-sized node: rb_node 24, list 16, start/last/size/addr 32,
 * perm/flags 8, __subtree_last 8, opaque 8 = 96 bytes, malloc'ed one by one. */
struct r3_node {
	struct vm_itree_node it;
	long index;
	char pad[96 - sizeof(struct vm_itree_node) - sizeof(long)];
};

static long r3_find(void *ctx, uint64_t addr)
{
	const struct vm_itree *t = ctx;
	const struct vm_itree_node *it = vm_itree_iter_first(t, addr, addr);

	return it ? vm_container_of(it, struct r3_node, it)->index : -1;
}

struct eyt {
	size_t n;
	uint64_t *key;  /* [1..n]: region starts in Eytzinger order */
	uint32_t *rank; /* [1..n]: sorted position of key[k] */
	uint64_t *end;  /* [0..n): exclusive ends, sorted */
};

static void eyt_fill(struct eyt *e, const struct region *r, size_t k, size_t *i)
{
	if (k > e->n)
		return;
	eyt_fill(e, r, 2 * k, i);
	e->key[k] = r[*i].gpa;
	e->rank[k] = (uint32_t)*i;
	(*i)++;
	eyt_fill(e, r, 2 * k + 1, i);
}

/* Branch-free descent to the first key > addr; the one before it in sorted
 * order (by rank) is the only candidate. */
static long r4_find(void *ctx, uint64_t addr)
{
	const struct eyt *e = ctx;
	size_t k = 1, pos;

	while (k <= e->n) {
		__builtin_prefetch(e->key + 16 * k);
		k = 2 * k + (e->key[k] <= addr);
	}
	k >>= __builtin_ffsll((long long)~k);
	pos = k ? e->rank[k] : e->n;
	return pos && addr < e->end[pos - 1] ? (long)pos - 1 : -1;
}

/* translate_desc over find(): one piece per region, -1 on a hole.
 * Returns a checksum of the pieces' user addresses and lengths.  This and
 * walk_vmmap are not inlined into main: there, with main's many live
 * values, gcc kept the loop's values on the stack (measured: vmmap's hit
 * loop stored one back every query and jumped to its hit). */
static __attribute__((noinline)) uint64_t
walk(const struct impl *im, const struct region *r, const struct query *q, size_t nq,
     size_t *misses)
{
	uint64_t sum = 0;

	*misses = 0;
	for (size_t i = 0; i < nq; i++) {
		uint64_t addr = q[i].addr, last = addr + q[i].len - 1;

		for (;;) {
			long k = im->find(im->ctx, addr);

			if (k < 0) {
				(*misses)++;
				sum += addr;
				break;
			}
			uint64_t rl = r[k].gpa + r[k].size - 1, pl = rl < last ? rl : last;

			sum += r[k].uaddr + (addr - r[k].gpa) + (pl - addr + 1);
			if (pl == last)
				break;
			addr = pl + 1;
		}
	}
	return sum;
}

static __attribute__((noinline)) uint64_t
walk_vmmap(const struct vm_umem *u, const struct query *q, size_t nq, size_t *misses)
{
	struct vm_umem_last last = { 0 }; /* the caller's record, as the CLI's */
	struct vm_piece p[16];
	struct vm_translation tr;
	uint64_t sum = 0;

	*misses = 0;
	for (size_t i = 0; i < nq; i++) {
		int rc = vm_umem_translate(u, &last, VM_SPACE_GPA, q[i].addr, q[i].len, p, 16, &tr);

		/* One piece first, as the references sum theirs (measured,
		 * when the hit was inlined here: 1 to 2 ns of a 4 KiB walk's
		 * step less than the loop below).  Same sum either way. */
		if (rc == 0 && tr.npieces == 1) {
			sum += p[0].userspace_addr + p[0].len;
			continue;
		}
		for (size_t k = 0; k < tr.npieces; k++)
			sum += p[k].userspace_addr + p[k].len;
		if (rc == -EFAULT) {
			(*misses)++;
			sum += tr.fault_addr;
		}
	}
	return sum;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* ---- updates ---- */

static int cmp_region(const void *a, const void *b)
{
	const struct region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Median ns of removing one region and inserting it again. */
static void bench_updates(size_t n, int ops, double out[3])
{
	struct region *r = make_table(n), *arr = malloc((n + 1) * sizeof(*arr));
	struct vm_umem u;
	struct vm_umem_node **nodes = malloc(n * sizeof(*nodes));
	double *t = malloc((size_t)ops * sizeof(*t));

	vm_umem_init(&u);
	for (size_t i = 0; i < n; i++) {
		struct vm_region v = { r[i].gpa, r[i].size, r[i].uaddr, 0, NULL, NULL };

		vm_umem_add(&u, &v, &nodes[i]);
	}
	/* vmmap: the tree's remove + insert */
	for (int o = 0; o < ops; o++) {
		size_t i = rnd() % n;
		struct vm_region v = nodes[i]->region;
		double a = now();

		vm_umem_remove(&u, nodes[i]);
		vm_umem_add(&u, &v, &nodes[i]);
		t[o] = now() - a;
	}
	out[0] = median(t, ops);
	/* R2: sorted array, memmove out and back in at the bsearched place */
	memcpy(arr, r, n * sizeof(*r));
	for (int o = 0; o < ops; o++) {
		size_t i = rnd() % n, lo = 0, hi = n - 1;
		struct region v = arr[i];
		double a = now();

		memmove(&arr[i], &arr[i + 1], (n - i - 1) * sizeof(*arr));
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (arr[mid].gpa < v.gpa)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(&arr[lo + 1], &arr[lo], (n - 1 - lo) * sizeof(*arr));
		arr[lo] = v;
		t[o] = now() - a;
	}
	out[1] = median(t, ops);
	/* R2 the way the seed's KVM did it: append and sort everything again */
	for (int o = 0; o < ops / 10 + 1; o++) {
		size_t i = rnd() % n;
		struct region v = arr[i];
		double a = now();

		arr[i] = arr[n - 1];
		qsort(arr, n - 1, sizeof(*arr), cmp_region);
		arr[n - 1] = v;
		qsort(arr, n, sizeof(*arr), cmp_region);
		t[o] = now() - a;
	}
	out[2] = median(t, ops / 10 + 1);
	vm_umem_clean(&u);
	free(r);
	free(arr);
	free(nodes);
	free(t);
}

/* ---- main ---- */

static void machine(FILE *f, int json)
{
	char line[256], model[256] = "unknown";
	FILE *c = fopen("/proc/cpuinfo", "r");

	while (c && fgets(line, sizeof(line), c))
		if (!strncmp(line, "model name", 10)) {
			char *p = strchr(line, ':');

			snprintf(model, sizeof(model), "%s", p ? p + 2 : line);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	if (c)
		fclose(c);
	if (json)
		fprintf(f, "\"machine\":{\"cpu\":\"%s\",\"compiler\":\"gcc %s\"},", model,
			__VERSION__);
	else
		fprintf(f, "machine: %s; gcc %s\n", model, __VERSION__);
}

int main(int argc, char **argv)
{
	size_t sizes_full[] = { 8, 64, 509, 32764, 1048576 }, sizes_quick[] = { 8, 509 };
	size_t sizes_given[8], *sizes = sizes_full, nsizes = 5, nq = 1000000, ngiven = 0;
	int quick = 0, json = 0, repeats = 5, first = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--size") && i + 1 < argc && ngiven < 8 &&
			 (sizes_given[ngiven] = strtoul(argv[i + 1], NULL, 0)) > 0) {
			ngiven++;
			i++;
		} else {
			fprintf(stderr, "usage: vmmap-bench [--quick] [--json] [--size N]...\n");
			return 2;
		}
	}
	if (quick) {
		sizes = sizes_quick;
		nsizes = 2;
		nq = 20000;
		repeats = 3;
	}
	if (ngiven) {
		sizes = sizes_given;
		nsizes = ngiven;
	}
	if (json)
		printf("{");
	machine(stdout, json);
	if (json)
		printf("\"queries\":%zu,\"repeats\":%d,\"cells\":[", nq, repeats);
	else
		printf("%zu queries per stream, median of %d interleaved repeats, ns per query\n\n"
		       "%8s %-15s %8s %8s %8s %8s %8s  %9s %9s\n", nq, repeats, "N", "stream",
		       "R1", "R2", "R3", "R4", "vmmap", "vmmap/R4", "R3/vmmap");

	for (size_t si = 0; si < nsizes; si++) {
		size_t n = sizes[si];
		struct region *r = make_table(n);
		struct table t = { r, n };
		struct vm_itree r3 = { 0 };
		struct r3_node **r3n = malloc(n * sizeof(*r3n));
		struct eyt e = { n, malloc((n + 1) * 8), malloc((n + 1) * 4),
				 malloc((n + 1) * 8) };
		struct vm_umem u;
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			r3n[i] = malloc(sizeof(struct r3_node));
			r3n[i]->it.start = r[i].gpa;
			r3n[i]->it.last = r[i].gpa + r[i].size - 1;
			r3n[i]->index = (long)i;
			vm_itree_insert(&r3, &r3n[i]->it);
		}
		eyt_fill(&e, r, 1, &k);
		for (size_t i = 0; i < n; i++)
			e.end[i] = r[i].gpa + r[i].size;
		vm_umem_init(&u);
		for (size_t i = 0; i < n; i++) {
			struct vm_region v = { r[i].gpa, r[i].size, r[i].uaddr, 0, NULL, NULL };

			vm_umem_add(&u, &v, NULL);
		}
		const struct impl impls[] = {
			{ "R1", r1_find, &t, 4096 },
			{ "R2", r2_find, &t, 0 },
			{ "R3", r3_find, &r3, 0 },
			{ "R4", r4_find, &e, 0 },
		};

		for (int s = 0; s < NSTREAMS; s++) {
			struct query *q = make_queries(r, n, (enum stream)s, nq);
			double times[5][16], med[5];
			uint64_t sums[5] = { 0 };
			size_t miss[5] = { 0 };

			for (int rep = 0; rep < repeats; rep++)
				for (int j = 0; j < 5; j++) {
					int im = (j + rep) % 5; /* interleave the order */
					double a, b, w;

					if (im < 4 && impls[im].max_n && n > impls[im].max_n) {
						times[im][rep] = -1;
						continue;
					}
					/* Untimed passes first, for at least 20 ms:
					 * no implementation pays for the caches, TLB
					 * or clock speed the previous one left (a
					 * fast 1M-query run lasts only 2-3 ms). */
					w = now();
					do {
						a = now();
						sums[im] = im < 4
							? walk(&impls[im], r, q, nq, &miss[im])
							: walk_vmmap(&u, q, nq, &miss[im]);
						b = now();
					} while (b < w + 2e7);
					times[im][rep] = (b - a) / (double)nq;
				}
			for (int im = 0; im < 5; im++) {
				med[im] = times[im][0] < 0 ? -1 : median(times[im], repeats);
				if (med[im] >= 0 && (sums[im] != sums[4] || miss[im] != miss[4])) {
					fprintf(stderr, "vmmap-bench: N=%zu %s: %s disagrees with vmmap "
						"(%" PRIu64 "/%zu vs %" PRIu64 "/%zu)\n", n,
						stream_names[s], im < 4 ? impls[im].name : "vmmap",
						sums[im], miss[im], sums[4], miss[4]);
					return 1;
				}
			}
			if (json) {
				printf("%s{\"n\":%zu,\"stream\":\"%s\",\"misses\":%zu", first ? "" : ",",
				       n, stream_names[s], miss[4]);
				for (int im = 0; im < 5; im++)
					if (med[im] >= 0)
						printf(",\"%s\":%.2f", im < 4 ? impls[im].name : "vmmap", med[im]);
				printf(",\"vmmap_over_R4\":%.3f,\"R3_over_vmmap\":%.3f}", med[4] / med[3],
				       med[2] / med[4]);
				first = 0;
			} else {
				printf("%8zu %-15s", n, stream_names[s]);
				for (int im = 0; im < 5; im++)
					if (med[im] < 0)
						printf(" %8s", "-");
					else
						printf(" %8.1f", med[im]);
				printf("  %9.2f %9.2f\n", med[4] / med[3], med[2] / med[4]);
			}
			fflush(stdout);
			free(q);
		}
		vm_umem_clean(&u);
		for (size_t i = 0; i < n; i++)
			free(r3n[i]);
		free(r3n);
		free(e.key);
		free(e.rank);
		free(e.end);
		free(r);
	}

	{
		double up[3];
		size_t n = quick ? 509 : 32764;

		bench_updates(n, quick ? 200 : 20000, up);
		if (json)
			printf("],\"updates\":{\"n\":%zu,\"vmmap_remove_insert\":%.1f,"
			       "\"R2_memmove\":%.1f,\"R2_resort\":%.1f}}\n", n, up[0], up[1], up[2]);
		else
			printf("\nupdates, N=%zu, median ns to remove one region and insert it "
			       "again:\n  vmmap tree %.0f, R2 sorted array (memmove) %.0f, "
			       "R2 append + full re-sort %.0f\n", n, up[0], up[1], up[2]);
	}
	return 0;
}
