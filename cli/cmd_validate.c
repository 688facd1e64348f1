/*
 * vmmap validate FILE: would vhost, vhost-user and KVM accept this table?
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"
#include "validate.h"

enum { OPT_PROFILE = 'P', OPT_MAX_SLOTS = 1000, OPT_STRICT };

struct validate_args {
	struct vmmap_ctx *ctx;
	const char *file;
	const char *profile;
	const char *max_slots;
	bool strict;
};

struct validate_result {
	const char *file;
	const struct vm_profile *profile; /* NULL: generic rules only */
	bool strict;
	struct vm_findings f;
};

static const struct argp_option validate_options[] = {
	{ "profile", OPT_PROFILE, "NAME", 0,
	  "Also check the limits of NAME: vhost-kernel, vhost-user, "
	  "vhost-user-slots, kvm, dpdk, spdk", 0 },
	{ "max-slots", OPT_MAX_SLOTS, "N", 0,
	  "The slot count for --profile vhost-user-slots (default 509)", 0 },
	{ "strict", OPT_STRICT, NULL, 0, "Fail on warnings too", 0 },
	{ 0 },
};

static error_t validate_parse(int key, char *arg, struct argp_state *state)
{
	struct validate_args *a = state->input;

	switch (key) {
	case OPT_PROFILE:
		a->profile = arg;
		return 0;
	case OPT_MAX_SLOTS:
		a->max_slots = arg;
		return 0;
	case OPT_STRICT:
		a->strict = true;
		return 0;
	case ARGP_KEY_ARG:
		/* "validate -p vhost-user FILE": -p is --pretty, and the
		 * profile was taken for the file. */
		if (a->file && a->ctx->pretty && vm_profile_find(a->file)) {
			argp_error(state, "'%s' is a profile, not a file: -p is --pretty, "
				   "-P is --profile (write -P %s)", a->file, a->file);
			return EINVAL;
		}
		return cli_arg_once(state, &a->file, arg);
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_validate_argp = {
	.options = validate_options,
	.parser = validate_parse,
	.args_doc = "FILE",
	.doc = "Check a table against the rules vhost, vhost-user and KVM apply: "
	       "overlapping regions, sizes and sums that overflow 64 bits, bus "
	       "overlaps, duplicates and KVM's registration limit, and with "
	       "--profile the region limit and alignment of that consumer.\v"
	       "Findings print as FILE:LINE:COL: SEVERITY: MESSAGE [RULE] (FILE: "
	       "alone for a finding about the whole table).  See "
	       "vmmap-validate(1) for the rules and where each profile's numbers "
	       "come from.\n"
	       "Inside the shell FILE may name a loaded table, or be left out for "
	       "the current one.\n"
	       "Exit status: 0 no errors (and no warnings with --strict), 1 "
	       "findings that fail, 2 usage or input error.",
	.children = cli_global_children,
};

static const char *sev_name(enum vm_severity s)
{
	return s == VM_SEV_ERROR ? "error" : "warning";
}

static void validate_print_plain(const void *arg)
{
	const struct validate_result *r = arg;
	for (size_t i = 0; i < r->f.n; i++) {
		const struct vm_finding *f = &r->f.v[i];

		if (f->line)
			printf("%s:%u:%u: ", cli_safe(r->file), f->line, f->col);
		else
			printf("%s: ", cli_safe(r->file));
		printf("%s: %s [%s]\n", sev_name(f->severity), cli_safe(f->message), f->rule);
	}
	printf("%zu error%s, %zu warning%s", r->f.errors,
	       r->f.errors == 1 ? "" : "s", r->f.warnings,
	       r->f.warnings == 1 ? "" : "s");
	if (r->profile) {
		char align[VM_SIZE_MAX];

		vm_fmt_size(align, r->profile->alignment);
		printf(" (profile %s: at most %" PRIu64 " regions%s%s%s)",
		       r->profile->name, r->profile->max_regions,
		       r->profile->alignment ? ", " : "",
		       r->profile->alignment ? align : "",
		       r->profile->alignment ? " alignment" : "");
	}
	putchar('\n');
}

static json_t *ref_json(const struct vm_finding_ref *ref)
{
	json_t *o = ref->bus < 0 ? vm_json_region(ref->region)
				 : vm_json_io_range(ref->io);

	if (o && ref->bus >= 0 &&
	    json_object_set_new(o, "bus", json_string(vm_bus_name(ref->bus)))) {
		json_decref(o);
		return NULL;
	}
	if (o && (json_object_set_new(o, "line", json_integer(ref->line)) ||
		  json_object_set_new(o, "col", json_integer(ref->col)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *validate_json(const void *arg)
{
	const struct validate_result *r = arg;
	json_t *findings = json_array(), *profile;

	for (size_t i = 0; findings && i < r->f.n; i++) {
		const struct vm_finding *f = &r->f.v[i];
		json_t *regions = json_array(), *regs = json_array(), *o;

		for (int k = 0; regions && regs && k < f->nref; k++)
			if (json_array_append_new(f->ref[k].bus < 0 ? regions : regs,
						  ref_json(&f->ref[k]))) {
				json_decref(regions);
				regions = NULL;
			}
		o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o}",
			      "rule", f->rule, "severity", sev_name(f->severity),
			      "message", f->message, "line", (int)f->line,
			      "col", (int)f->col, "regions", regions,
			      "registrations", regs);
		if (json_array_append_new(findings, o)) {
			json_decref(findings);
			findings = NULL;
		}
	}
	/* A limit the profile does not have is null, never 0. */
	profile = json_pack("{s:s, s:o, s:o}",
			    "name", r->profile ? r->profile->name : "none",
			    "max_regions", r->profile && r->profile->max_regions
			    ? json_integer((json_int_t)r->profile->max_regions) : json_null(),
			    "alignment", r->profile && r->profile->alignment
			    ? json_integer((json_int_t)r->profile->alignment) : json_null());
	return json_pack("{s:s, s:o, s:b, s:I, s:I, s:o}", "file", r->file,
			 "profile", profile, "strict", r->strict,
			 "errors", (json_int_t)r->f.errors,
			 "warnings", (json_int_t)r->f.warnings,
			 "findings", findings);
}

int cmd_validate(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct validate_args a = { .ctx = ctx };
	struct validate_result r = { 0 };
	struct vm_profile custom;
	struct cli_table tb;
	int rc, used;

	if ((rc = cli_parse(ctx, &cmd_validate_argp, argc, argv, &a)))
		return rc;
	if (a.profile && !(r.profile = vm_profile_find(a.profile)))
		return cli_error(ctx, "usage",
				 "unknown profile '%s' (profiles: vhost-kernel, vhost-user, "
				 "vhost-user-slots, kvm, dpdk, spdk)", a.profile);
	if (a.max_slots) {
		const char *why;
		uint64_t n;

		if (!r.profile || strcmp(r.profile->name, "vhost-user-slots"))
			return cli_error(ctx, "usage",
					 "--max-slots goes with --profile vhost-user-slots");
		if (vm_parse_addr(a.max_slots, &n, &why))
			return cli_error(ctx, "usage", "invalid --max-slots '%s': %s",
					 a.max_slots, why);
		if (n == 0)
			return cli_error(ctx, "usage", "invalid --max-slots '%s': must be at least 1",
					 a.max_slots);
		custom = *r.profile;
		custom.max_regions = n;
		custom.why = "set by --max-slots, the frontend's GET_MAX_MEM_SLOTS answer";
		r.profile = &custom;
	}
	if ((rc = cli_table_open(ctx, (char **)&a.file, a.file ? 1 : 0,
				 VM_LOAD_KEEP_INVALID, &tb, &used)))
		return rc;
	if (a.file && !used) {
		cli_table_close(&tb);
		return cli_error(ctx, "usage", "'%s': no such table or file", a.file);
	}

	r.file = tb.name;
	r.strict = a.strict;
	rc = vm_validate(tb.t, r.profile, &r.f)
		? cli_error(ctx, "nomem", "out of memory")
		: cli_emit(ctx, &r, validate_json, validate_print_plain,
			   r.f.errors || (a.strict && r.f.warnings)
			   ? VMMAP_EXIT_NEGATIVE : VMMAP_EXIT_OK);
	vm_findings_free(&r.f);
	cli_table_close(&tb);
	return rc;
}
