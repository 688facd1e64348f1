/*
 * vmmap lookup FILE BUS ADDR [LEN]: every registration on BUS that an access
 * reaches, in bus order (KVM offers the access to each until one accepts).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "num.h"

struct lookup_args {
	struct vmmap_ctx *ctx;
	char **pos;
	int npos;
	const char *value; /* --value V */
};

/* Registrations the answer names beyond its matches: those an access that
 * matches nothing partly overlaps. */
#define LOOKUP_MAX_PARTIAL 8

/* A registration the access reaches, and whether it takes a write there
 * (vm_io_accepts: 1, 0 and why not, -1 not known without the value). */
struct lookup_match {
	size_t idx; /* into the bus */
	int takes;
	const char *why;
};

struct lookup_query {
	struct cli_query q;
	size_t nmatch;
	struct lookup_match *match; /* in bus order */
	long reaches;  /* the match that takes the write, -1 none, -2 not known */
	size_t npartial, partial[LOOKUP_MAX_PARTIAL];
};

struct lookup_result {
	const struct vm_io_bus *bus;
	enum vm_bus bus_id;
	bool has_value;
	uint64_t value;
	size_t n;
	struct lookup_query *q;
};

enum { OPT_VALUE = 0x100 };

static const struct argp_option lookup_options[] = {
	{ "value", OPT_VALUE, "V", 0, "The value written: which registration the write "
	  "reaches, with KVM's ioeventfd rules (exact address, exact length, datamatch)", 0 },
	{ 0 }
};

static error_t lookup_parse(int key, char *arg, struct argp_state *state)
{
	struct lookup_args *a = state->input;

	switch (key) {
	case OPT_VALUE:
		a->value = arg;
		return 0;
	case ARGP_KEY_ARGS:
		a->pos = state->argv + state->next;
		a->npos = state->argc - state->next;
		return 0;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, a->ctx->shell ? "missing BUS and ADDR"
						: "missing FILE, BUS and ADDR");
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_lookup_argp = {
	.options = lookup_options,
	.parser = lookup_parse,
	.args_doc = "FILE BUS ADDR [LEN]\nFILE BUS QUERY...",
	.doc = "List every registration on BUS (mmio, pio, virtio-ccw, fast-mmio) "
	       "that an access of LEN bytes (default 1) at ADDR reaches, in bus "
	       "order, as KVM's I/O bus routes it.\v"
	       "An access reaches a registration that contains it; a zero-length "
	       "registration (a wildcard ioeventfd) is reached by any access at "
	       "its address; an access that straddles a registration's end reaches "
	       "none there (the answer names it).  On fast-mmio LEN may be 0, as "
	       "KVM writes there.  KVM offers a write to each match in turn: a "
	       "device takes it, an ioeventfd only at its exact address and length "
	       "and, with a datamatch, value (--value); the first that takes it is "
	       "marked.  Queries are written as for translate: ADDR LEN, or "
	       "any number of ADDR, ADDR+LEN, FIRST-LAST.\n"
	       "Inside the shell FILE may name a loaded table, or be left out for "
	       "the current one.\n"
	       "Exit status: 0 every access reaches a registration (with --value: "
	       "one that takes the write), 1 some access does not, 2 usage or "
	       "input error.",
	.children = cli_global_children,
};

/* One registration of an answer: index, range, size, kind, device, and,
 * for a match m, whether it takes the write (NULL: one it straddles). */
static void match_line(const struct lookup_result *r, const struct lookup_query *lq,
		       size_t idx, const struct lookup_match *m)
{
	const struct vm_io_range *io = &r->bus->range[idx];
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX];

	cli_fmt_io_range(range, io);
	vm_fmt_size(size, io->len);
	printf("  %s#%-4zu %-33s %9s  %-10s %s", m ? "" : "straddles ", idx, range, size,
	       vm_io_kind_name(io->kind), cli_safe(io->dev));
	if (io->has_datamatch)
		printf("  datamatch 0x%" PRIx64, io->datamatch);
	if (m && (long)idx == lq->reaches)
		printf("  <- takes the write");
	else if (m && m->takes == 0 && (lq->reaches < 0 || (long)idx < lq->reaches))
		printf("  (passes: %s)", m->why);
	else if (m && m->takes < 0)
		printf("  (%s)", m->why);
	putchar('\n');
}

static void lookup_print_plain(const void *arg)
{
	const struct lookup_result *r = arg;
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX];

	for (size_t i = 0; i < r->n; i++) {
		const struct lookup_query *lq = &r->q[i];

		if (lq->q.len)
			cli_fmt_range(range, lq->q.addr, lq->q.addr + lq->q.len - 1);
		else
			snprintf(range, sizeof(range), "%016" PRIx64, lq->q.addr);
		vm_fmt_size(size, lq->q.len);
		printf("%s %s (%s", vm_bus_name(r->bus_id), range, size);
		if (r->has_value)
			printf(", value 0x%" PRIx64, r->value);
		if (!lq->nmatch) {
			printf("): no device\n");
			for (size_t k = 0; k < lq->npartial && k < LOOKUP_MAX_PARTIAL; k++)
				match_line(r, lq, lq->partial[k], NULL);
			continue;
		}
		printf("): %zu registration%s%s\n", lq->nmatch, lq->nmatch == 1 ? "" : "s",
		       r->has_value && lq->reaches < 0 ? "; none takes the write" : "");
		for (size_t k = 0; k < lq->nmatch; k++)
			match_line(r, lq, lq->match[k].idx, &lq->match[k]);
	}
}

static json_t *lookup_json(const void *arg)
{
	const struct lookup_result *r = arg;
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < r->n; i++) {
		const struct lookup_query *lq = &r->q[i];
		json_t *matches = json_array(), *o;

		json_t *partial = json_array();

		for (size_t k = 0; matches && k < lq->nmatch; k++) {
			const struct lookup_match *lm = &lq->match[k];
			json_t *m = vm_json_io_range(&r->bus->range[lm->idx]);

			if (!m || json_object_set_new(m, "index", json_integer((json_int_t)lm->idx)) ||
			    json_object_set_new(m, "takes", lm->takes < 0 ? json_null()
									: json_boolean(lm->takes)) ||
			    (lm->why && json_object_set_new(m, "why", json_string(lm->why))) ||
			    json_array_append_new(matches, m)) {
				json_decref(matches);
				matches = NULL;
			}
		}
		for (size_t k = 0; partial && k < lq->npartial && k < LOOKUP_MAX_PARTIAL; k++) {
			json_t *m = vm_json_io_range(&r->bus->range[lq->partial[k]]);

			if (!m || json_object_set_new(m, "index",
						      json_integer((json_int_t)lq->partial[k])) ||
			    json_array_append_new(partial, m))
				json_decref(partial), partial = NULL;
		}
		o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "bus", vm_bus_name(r->bus_id),
			      "addr", vm_json_hex(lq->q.addr),
			      "len", vm_json_hex(lq->q.len), "matches", matches,
			      "reaches", lq->reaches >= 0 ? json_integer(lq->reaches) : json_null(),
			      "straddles", partial);
		if (o && r->has_value && json_object_set_new(o, "value", vm_json_hex(r->value)))
			json_decref(o), o = NULL;
		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static void lookup_result_free(struct lookup_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->q[i].match);
	free(r->q);
}

int cmd_lookup(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct lookup_args a = { .ctx = ctx };
	struct lookup_result r = { 0 };
	struct cli_query *queries = NULL;
	struct cli_table tb;
	size_t nq = 0;
	int rc, bus, used, negative = 0;

	if ((rc = cli_parse(ctx, &cmd_lookup_argp, argc, argv, &a)))
		return rc;
	if ((rc = cli_table_open(ctx, a.pos, a.npos, 0, &tb, &used)))
		return rc;
	if (a.npos - used < 1) {
		rc = cli_error(ctx, "usage", "missing BUS and ADDR (try 'vmmap lookup --help')");
		goto out;
	}
	bus = vm_bus_from_name(a.pos[used]);
	if (bus < 0) {
		rc = cli_error(ctx, "usage",
			       "unknown bus '%s' (buses: mmio, pio, virtio-ccw, fast-mmio)",
			       a.pos[used]);
		goto out;
	}
	if (a.value) {
		const char *why;

		if (vm_parse_addr(a.value, &r.value, &why)) {
			rc = cli_error(ctx, "usage", "invalid --value '%s': %s", a.value, why);
			goto out;
		}
		r.has_value = true;
	}
	if ((rc = cli_parse_queries(ctx, a.pos + used + 1, a.npos - used - 1,
				    bus == VM_FAST_MMIO_BUS ? CLI_QUERY_LEN0 : 0, &queries,
				    &nq)))
		goto out;
	for (size_t i = 0; r.has_value && i < nq; i++)
		if (queries[i].len < 8 && queries[i].len && r.value >> (8 * queries[i].len)) {
			rc = cli_error(ctx, "usage", "--value 0x%" PRIx64 " does not fit a "
				       "write of %" PRIu64 " byte%s", r.value, queries[i].len,
				       queries[i].len == 1 ? "" : "s");
			goto out;
		}

	r.bus = &tb.t->bus[bus];
	r.bus_id = bus;
	r.q = calloc(nq, sizeof(*r.q));
	if (!r.q) {
		rc = cli_error(ctx, "nomem", "out of memory");
		goto out;
	}
	for (r.n = 0; r.n < nq; r.n++) {
		struct lookup_query *lq = &r.q[r.n];
		long idx;

		lq->q = queries[r.n];
		for (idx = vm_io_bus_get_first_dev(r.bus, lq->q.addr, lq->q.len);
		     idx >= 0;
		     idx = vm_io_bus_get_next_dev(r.bus, (size_t)idx, lq->q.addr,
						  lq->q.len)) {
			struct lookup_match *m = realloc(lq->match, (lq->nmatch + 1) * sizeof(*m));

			if (!m) {
				r.n++;
				rc = cli_error(ctx, "nomem", "out of memory");
				goto out;
			}
			lq->match = m;
			m = &lq->match[lq->nmatch++];
			m->idx = (size_t)idx;
			m->takes = vm_io_accepts(&r.bus->range[idx], lq->q.addr, lq->q.len,
						 r.has_value, r.value, &m->why);
		}
		/* KVM's write: the first match, in bus order, that takes it. */
		lq->reaches = -1;
		for (size_t k = 0; k < lq->nmatch && lq->reaches == -1; k++)
			lq->reaches = lq->match[k].takes > 0 ? (long)lq->match[k].idx
				    : lq->match[k].takes < 0 ? -2 : -1;
		if (!lq->nmatch)
			lq->npartial = vm_io_bus_partial(r.bus, lq->q.addr, lq->q.len,
							 lq->partial, LOOKUP_MAX_PARTIAL);
		negative |= lq->nmatch == 0 || (r.has_value && lq->reaches < 0);
	}
	rc = cli_emit(ctx, &r, lookup_json, lookup_print_plain,
		      negative ? VMMAP_EXIT_NEGATIVE : VMMAP_EXIT_OK);
out:
	lookup_result_free(&r);
	free(queries);
	cli_table_close(&tb);
	return rc;
}
