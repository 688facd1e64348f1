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
};

struct lookup_query {
	struct cli_query q;
	size_t nmatch;
	size_t *match; /* indices into the bus, ascending */
};

struct lookup_result {
	const struct vm_io_bus *bus;
	enum vm_bus bus_id;
	size_t n;
	struct lookup_query *q;
};

static error_t lookup_parse(int key, char *arg, struct argp_state *state)
{
	struct lookup_args *a = state->input;

	(void)arg;
	switch (key) {
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
	.parser = lookup_parse,
	.args_doc = "[FILE] BUS ADDR [LEN]\n[FILE] BUS QUERY...",
	.doc = "List every registration on BUS (mmio, pio, virtio-ccw, fast-mmio) "
	       "that an access of LEN bytes (default 1) at ADDR reaches, in bus "
	       "order, as KVM's I/O bus routes it.\v"
	       "An access reaches a registration that contains it; a zero-length "
	       "registration (a wildcard ioeventfd) is reached by any access at "
	       "its address.  Queries are written as for translate: ADDR LEN, or "
	       "any number of ADDR, ADDR+LEN, FIRST-LAST.\n"
	       "Exit status: 0 every access reaches a device, 1 some access "
	       "reaches none, 2 usage or input error.",
	.children = cli_global_children,
};

static void lookup_print_plain(const void *arg)
{
	const struct lookup_result *r = arg;
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX];

	for (size_t i = 0; i < r->n; i++) {
		const struct lookup_query *lq = &r->q[i];

		cli_fmt_range(range, lq->q.addr, lq->q.addr + lq->q.len - 1);
		vm_fmt_size(size, lq->q.len);
		if (!lq->nmatch) {
			printf("%s %s (%s): no device\n", vm_bus_name(r->bus_id),
			       range, size);
			continue;
		}
		printf("%s %s (%s): %zu registration%s\n", vm_bus_name(r->bus_id),
		       range, size, lq->nmatch, lq->nmatch == 1 ? "" : "s");
		for (size_t k = 0; k < lq->nmatch; k++) {
			const struct vm_io_range *io = &r->bus->range[lq->match[k]];

			cli_fmt_io_range(range, io);
			vm_fmt_size(size, io->len);
			printf("  #%-4zu %-33s %9s  %-10s %s\n", lq->match[k], range,
			       size, vm_io_kind_name(io->kind), cli_safe(io->dev));
		}
	}
}

static json_t *lookup_json(const void *arg)
{
	const struct lookup_result *r = arg;
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < r->n; i++) {
		const struct lookup_query *lq = &r->q[i];
		json_t *matches = json_array(), *o;

		for (size_t k = 0; matches && k < lq->nmatch; k++) {
			json_t *m = vm_json_io_range(&r->bus->range[lq->match[k]]);

			if (!m || json_object_set_new(m, "index",
						      json_integer((json_int_t)lq->match[k])) ||
			    json_array_append_new(matches, m)) {
				json_decref(matches);
				matches = NULL;
			}
		}
		o = json_pack("{s:s, s:o, s:o, s:o}", "bus", vm_bus_name(r->bus_id),
			      "addr", vm_json_hex(lq->q.addr),
			      "len", vm_json_hex(lq->q.len), "matches", matches);
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
	if ((rc = cli_parse_queries(ctx, a.pos + used + 1, a.npos - used - 1, &queries,
				    &nq)))
		goto out;

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
			size_t *m = realloc(lq->match, (lq->nmatch + 1) * sizeof(*m));

			if (!m) {
				r.n++;
				rc = cli_error(ctx, "nomem", "out of memory");
				goto out;
			}
			lq->match = m;
			lq->match[lq->nmatch++] = (size_t)idx;
		}
		negative |= lq->nmatch == 0;
	}
	rc = cli_emit(ctx, &r, lookup_json, lookup_print_plain,
		      negative ? VMMAP_EXIT_NEGATIVE : VMMAP_EXIT_OK);
out:
	lookup_result_free(&r);
	free(queries);
	cli_table_close(&tb);
	return rc;
}
