/*
 * vmmap diff OLD NEW: what changed between two tables, as the REM_MEM_REG /
 * ADD_MEM_REG messages a vhost-user frontend would send, plus bus
 * registrations added, removed and moved.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qemu_import.h"
#include "diff.h"
#include "num.h"

struct diff_args {
	struct vmmap_ctx *ctx;
	const char *old, *new;
	bool layout;
};

struct diff_result {
	const char *old_name, *new_name;
	const struct vm_table *old, *new;
	struct vm_diff d;
	bool layout;
};

enum { OPT_LAYOUT = 0x100 };

static const struct argp_option diff_options[] = {
	{ "layout", OPT_LAYOUT, NULL, 0, "Compare the guest's memory layout only: "
	  "guest range, size and mmap_offset (no user addresses, names or buses), "
	  "so two runs of one VM compare equal", 0 },
	{ 0 }
};

static error_t diff_parse(int key, char *arg, struct argp_state *state)
{
	struct diff_args *a = state->input;

	switch (key) {
	case OPT_LAYOUT:
		a->layout = true;
		return 0;
	case ARGP_KEY_ARG:
		if (!a->old)
			a->old = arg;
		else if (!a->new)
			a->new = arg;
		else {
			argp_error(state, "unexpected argument '%s'", arg);
			return EINVAL;
		}
		return 0;
	case ARGP_KEY_END:
		/* Inside the shell, "diff NEW" compares the current table. */
		if (!a->old || (!a->new && !a->ctx->shell)) {
			argp_error(state, "missing %s", a->old ? "NEW" : "OLD and NEW");
			return EINVAL;
		}
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_diff_argp = {
	.options = diff_options,
	.parser = diff_parse,
	.args_doc = "OLD NEW",
	.doc = "Show what changed from table OLD to table NEW.  Regions are "
	       "matched as a vhost-user frontend matches them (same "
	       "guest_phys_addr, userspace_addr and memory_size); the result is "
	       "the REM_MEM_REG messages it would send, in reverse table order, "
	       "then the ADD_MEM_REG messages in NEW's order.  A matched region "
	       "whose mmap_offset or name differs is shown as a change.  Bus "
	       "registrations are shown as removed, added, or moved (same "
	       "device, other range or kind).\v"
	       "Exit status: 0 identical, 1 different, 2 usage or input error.",
	.children = cli_global_children,
};

static const char *name_or_dash(const char *s)
{
	return s ? cli_safe(s) : "-";
}

static void region_line(char sign, const char *what, const struct vm_region *r,
			bool layout)
{
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX];

	cli_fmt_range(range, r->guest_phys_addr, vm_region_last(r));
	vm_fmt_size(size, r->memory_size);
	if (layout)
		printf("%c %-11s %s %9s  offset 0x%" PRIx64 "%s%s\n", sign, what, range, size,
		       r->mmap_offset, r->name ? "  " : "", r->name ? cli_safe(r->name) : "");
	else
		printf("%c %-11s %s %9s  uaddr %016" PRIx64 "  offset 0x%-16" PRIx64 " %s\n",
		       sign, what, range, size, r->userspace_addr, r->mmap_offset,
		       name_or_dash(r->name));
}

static void io_line(char sign, const struct vm_io_range *io)
{
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX];

	cli_fmt_io_range(range, io);
	vm_fmt_size(size, io->len);
	printf("%c %-33s %9s  %-10s %s\n", sign, range, size,
	       vm_io_kind_name(io->kind), cli_safe(io->dev));
}

static void diff_print_plain(const void *arg)
{
	const struct diff_result *r = arg;
	const struct vm_diff *d = &r->d;

	if (vm_diff_empty(d))
		return;
	printf("--- %s\n", cli_safe(r->old_name));
	printf("+++ %s\n", cli_safe(r->new_name));
	if (d->nops || d->nchanges) {
		printf("@@ memory%s: %zu -> %zu regions, %zu unchanged\n",
		       r->layout ? " layout" : "", r->old->umem.nregions,
		       r->new->umem.nregions, d->unchanged);
		for (size_t i = 0; i < d->nops; i++) {
			int rem = d->ops[i].op == VM_REM_MEM_REG;

			region_line(rem ? '-' : '+', r->layout ? (rem ? "only in old" : "only in new")
				    : rem ? "REM_MEM_REG" : "ADD_MEM_REG", &d->ops[i].node->region,
				    r->layout);
		}
		for (size_t i = 0; i < d->nchanges; i++) {
			const struct vm_region *o = &d->changes[i].old->region;
			const struct vm_region *n = &d->changes[i].new->region;
			char range[CLI_RANGE_MAX];

			cli_fmt_range(range, o->guest_phys_addr, vm_region_last(o));
			printf("~ %-11s %s", "region", range);
			if (o->mmap_offset != n->mmap_offset)
				printf("  mmap_offset 0x%" PRIx64 " -> 0x%" PRIx64,
				       o->mmap_offset, n->mmap_offset);
			if (!vm_name_equal(o->name, n->name))
				printf("  name %s -> %s", name_or_dash(o->name),
				       name_or_dash(n->name));
			putchar('\n');
		}
	}
	for (int b = 0; b < VM_NR_BUSES; b++) {
		const struct vm_bus_diff *bd = &d->bus[b];

		if (!bd->nremoved && !bd->nadded && !bd->nmoved)
			continue;
		printf("@@ bus %s: %zu -> %zu registrations, %zu unchanged\n",
		       vm_bus_name(b), r->old->bus[b].dev_count,
		       r->new->bus[b].dev_count, bd->unchanged);
		for (size_t i = 0; i < bd->nremoved; i++)
			io_line('-', bd->removed[i]);
		for (size_t i = 0; i < bd->nadded; i++)
			io_line('+', bd->added[i]);
		for (size_t i = 0; i < bd->nmoved; i++) {
			io_line('<', bd->moved[i].old);
			io_line('>', bd->moved[i].new);
		}
	}
}

static json_t *io_array(const struct vm_io_range *const *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, vm_json_io_range(v[i]))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static json_t *diff_json(const void *arg)
{
	const struct diff_result *r = arg;
	const struct vm_diff *d = &r->d;
	json_t *ops = json_array(), *changes = json_array(), *buses = json_object();
	json_t *res;

	for (size_t i = 0; ops && i < d->nops; i++)
		if (json_array_append_new(ops, json_pack("{s:s, s:o}", "request",
				d->ops[i].op == VM_REM_MEM_REG ? "REM_MEM_REG" : "ADD_MEM_REG",
				"region", vm_json_region(&d->ops[i].node->region)))) {
			json_decref(ops);
			ops = NULL;
		}
	for (size_t i = 0; changes && i < d->nchanges; i++)
		if (json_array_append_new(changes, json_pack("{s:o, s:o}",
				"old", vm_json_region(&d->changes[i].old->region),
				"new", vm_json_region(&d->changes[i].new->region)))) {
			json_decref(changes);
			changes = NULL;
		}
	for (int b = 0; buses && b < VM_NR_BUSES; b++) {
		const struct vm_bus_diff *bd = &d->bus[b];
		json_t *moved = json_array(), *o;

		if (!r->old->bus[b].dev_count && !r->new->bus[b].dev_count) {
			json_decref(moved);
			continue;
		}
		for (size_t i = 0; moved && i < bd->nmoved; i++)
			if (json_array_append_new(moved, json_pack("{s:o, s:o}",
					"old", vm_json_io_range(bd->moved[i].old),
					"new", vm_json_io_range(bd->moved[i].new)))) {
				json_decref(moved);
				moved = NULL;
			}
		o = json_pack("{s:I, s:o, s:o, s:o}",
			      "unchanged", (json_int_t)bd->unchanged,
			      "removed", io_array(bd->removed, bd->nremoved),
			      "added", io_array(bd->added, bd->nadded),
			      "moved", moved);
		if (json_object_set_new(buses, vm_bus_name(b), o)) {
			json_decref(buses);
			buses = NULL;
		}
	}
	res = json_pack("{s:b, s:b, s:{s:I, s:I, s:I, s:o, s:o}, s:o}",
			"identical", vm_diff_empty(d), "layout", r->layout,
			"memory",
			"old_regions", (json_int_t)r->old->umem.nregions,
			"new_regions", (json_int_t)r->new->umem.nregions,
			"unchanged", (json_int_t)d->unchanged,
			"operations", ops, "changes", changes,
			"buses", buses);
	return res;
}

int cmd_diff(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct diff_args a = { .ctx = ctx };
	struct diff_result r = { 0 };
	struct cli_table old, new;
	struct vm_table guest_ram[2];
	bool has_ram[2] = { false, false };
	int rc;

	if ((rc = cli_parse(ctx, &cmd_diff_argp, argc, argv, &a)))
		return rc;
	if (!a.new) { /* shell: the current table against OLD's argument */
		a.new = a.old;
		a.old = NULL;
	}
	if (a.old && !strcmp(a.old, "-") && !strcmp(a.new, "-"))
		return cli_error(ctx, "usage", "'-' given twice: standard input can be "
				 "read only once");
	if ((rc = cli_table_open_pair(ctx, a.old, a.new, &old, &new)))
		return rc;
	r.old_name = old.name;
	r.new_name = new.name;
	r.old = old.t;
	r.new = new.t;
	r.layout = a.layout;
	/* An import's layout is the guest's RAM: with the ranges QEMU never
	 * sends a backend, which is what the comparison is for. */
	for (int k = 0; a.layout && k < 2; k++) {
		struct vm_table *ram = &guest_ram[k];
		size_t added;
		int got = vm_import_guest_ram(k ? new.t : old.t, ram, &added);

		if (got < 0) {
			rc = cli_error(ctx, "nomem", "out of memory");
			goto out;
		}
		has_ram[k] = got > 0;
		if (got > 0)
			*(k ? &r.new : &r.old) = ram;
	}
	rc = vm_table_diff_flags(r.old, r.new, a.layout ? VM_DIFF_LAYOUT : 0, &r.d)
		? cli_error(ctx, "nomem", "out of memory")
		: cli_emit(ctx, &r, diff_json, diff_print_plain,
			   vm_diff_empty(&r.d) ? VMMAP_EXIT_OK : VMMAP_EXIT_NEGATIVE);
	vm_diff_free(&r.d);
out:
	for (int k = 0; k < 2; k++)
		if (has_ram[k])
			vm_table_clean(&guest_ram[k]);
	cli_table_close(&old);
	cli_table_close(&new);
	return rc;
}
