/*
 * vmmap show FILE: the regions sorted by guest-physical address with the holes
 * between them, then each bus's registrations in bus order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"

struct show_args {
	struct vmmap_ctx *ctx;
	const char *file;
	const char *svg;
	bool by_uaddr, map;
};

struct show_result {
	const struct vm_table *t;
	struct vm_umem_node **sorted; /* guest-physical order (--by uaddr: user) */
	bool *overlaps;               /* per sorted region: it overlaps another */
	size_t noverlaps;
	struct vm_hole *holes;
	long nholes;                  /* 0 with --by uaddr: holes are guest's */
	bool by_uaddr;
};

enum { OPT_BY = 0x100, OPT_MAP, OPT_SVG };

static const struct argp_option show_options[] = {
	{ "by", OPT_BY, "ORDER", 0, "List the regions by gpa (the default: guest-physical "
	  "address, with the holes) or uaddr (the frontend's user address)", 0 },
	{ "map", OPT_MAP, NULL, 0, "Draw the guest-physical space instead: regions, holes, "
	  "overlaps and mmio ranges as bands whose length grows with log2 of the size, "
	  "and the port I/O space", 0 },
	{ "svg", OPT_SVG, "FILE", 0, "Write the same picture as an SVG to FILE "
	  "(atomically), instead of the table", 0 },
	{ 0 }
};

static error_t show_parse(int key, char *arg, struct argp_state *state)
{
	struct show_args *a = state->input;

	switch (key) {
	case OPT_MAP:
		a->map = true;
		return 0;
	case OPT_SVG:
		if (!*arg)
			argp_error(state, "--svg: an empty file name");
		a->svg = arg;
		return 0;
	case OPT_BY:
		if (strcmp(arg, "gpa") && strcmp(arg, "uaddr"))
			argp_error(state, "invalid --by '%s' (expected gpa or uaddr)", arg);
		a->by_uaddr = !strcmp(arg, "uaddr");
		return 0;
	case ARGP_KEY_ARG:
		return cli_arg_once(state, &a->file, arg);
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_show_argp = {
	.options = show_options,
	.parser = show_parse,
	.args_doc = "FILE",
	.doc = "Print a table: memory regions sorted by guest-physical address with "
	       "inclusive ranges, the holes between them, then every bus's "
	       "registrations in bus order.  A region that overlaps another in "
	       "guest-physical space is marked '!'.  FILE may be - for standard input; "
	       "inside the shell it may name a loaded table, or be left out for "
	       "the current one.",
	.children = cli_global_children,
};

static void show_print_plain(const void *arg)
{
	const struct show_result *r = arg;
	const struct vm_umem *umem = &r->t->umem;
	char range[CLI_RANGE_MAX], urange[CLI_RANGE_MAX], size[VM_SIZE_MAX];
	long h = 0;

	printf("memory: %zu region%s%s\n", umem->nregions,
	       umem->nregions == 1 ? "" : "s", r->by_uaddr ? ", by userspace_addr" : "");
	if (umem->nregions)
		printf("  %-33s %9s  %-33s  %-18s %s\n", "GUEST_PHYS_ADDR", "SIZE",
		       "USERSPACE_ADDR", "MMAP_OFFSET", "NAME");
	for (size_t i = 0; i < umem->nregions; i++) {
		const struct vm_region *reg = &r->sorted[i]->region;

		/* A hole is printed before the first region that starts after it. */
		for (; h < r->nholes && r->holes[h].last < reg->guest_phys_addr; h++) {
			cli_fmt_range(range, r->holes[h].start, r->holes[h].last);
			vm_fmt_size(size, r->holes[h].last - r->holes[h].start + 1);
			printf("  %-33s %9s  (hole)\n", range, size);
		}
		cli_fmt_range(range, reg->guest_phys_addr, vm_region_last(reg));
		cli_fmt_range(urange, reg->userspace_addr, vm_region_ulast(reg));
		vm_fmt_size(size, reg->memory_size);
		printf("%c %-33s %9s  %-33s  0x%-16" PRIx64 " %s\n", r->overlaps[i] ? '!' : ' ',
		       range, size, urange, reg->mmap_offset,
		       reg->name ? cli_safe(reg->name) : "-");
	}
	if (r->noverlaps)
		printf("  ! %zu region%s overlap%s another in guest-physical space: lookups "
		       "take the lowest start, then the first listed\n", r->noverlaps,
		       r->noverlaps == 1 ? "" : "s", r->noverlaps == 1 ? "s" : "");

	for (int b = 0; b < VM_NR_BUSES; b++) {
		const struct vm_io_bus *bus = &r->t->bus[b];

		if (!bus->dev_count)
			continue;
		printf("bus %s: %zu registration%s\n", vm_bus_name(b),
		       bus->dev_count, bus->dev_count == 1 ? "" : "s");
		printf("  %-33s %9s  %-10s %s\n", "ADDR", "SIZE", "KIND", "DEVICE");
		for (size_t i = 0; i < bus->dev_count; i++) {
			const struct vm_io_range *io = &bus->range[i];

			cli_fmt_io_range(range, io);
			vm_fmt_size(size, io->len);
			printf("  %-33s %9s  %-10s %s\n", range, size,
			       vm_io_kind_name(io->kind), cli_safe(io->dev));
		}
	}
	if (r->t->capture)
		cli_show_capture(r->t->capture);
	if (r->t->import)
		cli_show_import(r->t->import);
}

/* Marks each region that shares a guest-physical byte with another (an
 * interval-tree query per region: two or more hits). */
static void mark_overlaps(struct show_result *r)
{
	const struct vm_umem *umem = &r->t->umem;

	for (size_t i = 0; i < umem->nregions; i++) {
		const struct vm_itree_node *n = &r->sorted[i]->gpa;
		const struct vm_itree_node *it = vm_itree_iter_first(&umem->gpa_tree, n->start,
								     n->last);

		if (it && (it != n || vm_itree_iter_next(it, n->start, n->last))) {
			r->overlaps[i] = true;
			r->noverlaps++;
		}
	}
}

/* The frontend's address order (the sort is stable enough: equal
 * addresses keep no order the output depends on beyond the name). */
static int by_uaddr(const void *a, const void *b)
{
	const struct vm_region *x = &(*(struct vm_umem_node *const *)a)->region;
	const struct vm_region *y = &(*(struct vm_umem_node *const *)b)->region;

	if (x->userspace_addr != y->userspace_addr)
		return x->userspace_addr < y->userspace_addr ? -1 : 1;
	return x->guest_phys_addr < y->guest_phys_addr ? -1 : x->guest_phys_addr > y->guest_phys_addr;
}

static json_t *show_json(const void *arg)
{
	return vm_table_to_json(((const struct show_result *)arg)->t, 1);
}

int cmd_show(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct show_args a = { .ctx = ctx };
	struct show_result r = { 0 };
	struct cli_table tb;
	int rc, used;

	if ((rc = cli_parse(ctx, &cmd_show_argp, argc, argv, &a)))
		return rc;
	if ((rc = cli_table_open(ctx, (char **)&a.file, a.file ? 1 : 0, 0, &tb, &used)))
		return rc;
	if (a.file && !used) {
		cli_table_close(&tb);
		return cli_error(ctx, "usage", "'%s': no such table or file", a.file);
	}

	if (a.map || a.svg) {
		rc = ctx->json ? cli_error(ctx, "usage", "--map and --svg draw a picture; -j "
					   "has no picture (use show -j for the table)")
		   : a.svg && cli_files_allowed(ctx, a.svg) ? VMMAP_EXIT_ERROR
		   : a.svg ? cli_show_svg(ctx, tb.t, a.svg) : VMMAP_EXIT_OK;
		if (rc == VMMAP_EXIT_OK && a.map && !ctx->quiet)
			rc = cli_show_map(ctx, tb.t);
		cli_table_close(&tb);
		return rc;
	}
	r.t = tb.t;
	r.by_uaddr = a.by_uaddr;
	r.sorted = vm_umem_sorted(&tb.t->umem);
	r.overlaps = calloc(tb.t->umem.nregions + 1, sizeof(*r.overlaps));
	r.nholes = a.by_uaddr ? 0 : vm_umem_holes(&tb.t->umem, &r.holes);
	if (!r.sorted || !r.overlaps || r.nholes < 0) {
		rc = cli_error(ctx, "nomem", "out of memory");
	} else {
		mark_overlaps(&r);
		if (a.by_uaddr)
			qsort(r.sorted, tb.t->umem.nregions, sizeof(*r.sorted), by_uaddr);
		rc = cli_emit(ctx, &r, show_json, show_print_plain, VMMAP_EXIT_OK);
	}
	free(r.sorted);
	free(r.overlaps);
	free(r.holes);
	cli_table_close(&tb);
	return rc;
}
