/*
 * vmmap show FILE: the regions sorted by guest-physical address with the holes
 * between them, then each bus's registrations in bus order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>

#include "cli.h"
#include "num.h"

struct show_args {
	struct vmmap_ctx *ctx;
	const char *file;
};

struct show_result {
	const struct vm_table *t;
	struct vm_umem_node **sorted; /* guest-physical order */
	struct vm_hole *holes;
	long nholes;
};

static error_t show_parse(int key, char *arg, struct argp_state *state)
{
	struct show_args *a = state->input;

	switch (key) {
	case ARGP_KEY_ARG:
		return cli_arg_once(state, &a->file, arg);
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_show_argp = {
	.parser = show_parse,
	.args_doc = "[FILE]",
	.doc = "Print a table: memory regions sorted by guest-physical address with "
	       "inclusive ranges, the holes between them, then every bus's "
	       "registrations in bus order.  FILE may be - for standard input; "
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

	printf("memory: %zu region%s\n", umem->nregions,
	       umem->nregions == 1 ? "" : "s");
	if (umem->nregions)
		printf("  %-33s %8s  %-33s  %-12s %s\n", "GUEST_PHYS_ADDR", "SIZE",
		       "USERSPACE_ADDR", "MMAP_OFFSET", "NAME");
	for (size_t i = 0; i < umem->nregions; i++) {
		const struct vm_region *reg = &r->sorted[i]->region;

		/* A hole is printed before the first region that starts after it. */
		for (; h < r->nholes && r->holes[h].last < reg->guest_phys_addr; h++) {
			cli_fmt_range(range, r->holes[h].start, r->holes[h].last);
			vm_fmt_size(size, r->holes[h].last - r->holes[h].start + 1);
			printf("  %-33s %8s  (hole)\n", range, size);
		}
		cli_fmt_range(range, reg->guest_phys_addr, vm_region_last(reg));
		cli_fmt_range(urange, reg->userspace_addr, vm_region_ulast(reg));
		vm_fmt_size(size, reg->memory_size);
		printf("  %-33s %8s  %-33s  0x%-10" PRIx64 " %s\n", range, size,
		       urange, reg->mmap_offset, reg->name ? cli_safe(reg->name) : "-");
	}

	for (int b = 0; b < VM_NR_BUSES; b++) {
		const struct vm_io_bus *bus = &r->t->bus[b];

		if (!bus->dev_count)
			continue;
		printf("bus %s: %zu registration%s\n", vm_bus_name(b),
		       bus->dev_count, bus->dev_count == 1 ? "" : "s");
		printf("  %-33s %8s  %-10s %s\n", "ADDR", "SIZE", "KIND", "DEVICE");
		for (size_t i = 0; i < bus->dev_count; i++) {
			const struct vm_io_range *io = &bus->range[i];

			cli_fmt_io_range(range, io);
			vm_fmt_size(size, io->len);
			printf("  %-33s %8s  %-10s %s\n", range, size,
			       vm_io_kind_name(io->kind), cli_safe(io->dev));
		}
	}
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

	r.t = tb.t;
	r.sorted = vm_umem_sorted(&tb.t->umem);
	r.nholes = vm_umem_holes(&tb.t->umem, &r.holes);
	if (!r.sorted || r.nholes < 0)
		rc = cli_error(ctx, "nomem", "out of memory");
	else
		rc = cli_emit(ctx, &r, show_json, show_print_plain, VMMAP_EXIT_OK);
	free(r.sorted);
	free(r.holes);
	cli_table_close(&tb);
	return rc;
}
