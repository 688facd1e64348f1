/*
 * vmmap import qemu QMP_SOCKET | dpdk-log FILE: the guest memory and
 * buses as another program sees them, as a vmmap document: a running
 * QEMU's (over QMP), or DPDK vhost's log of the regions it mapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "input.h"
#include "num.h"
#include "qemu_import.h"
#include "qmp.h"

enum { OPT_TIMEOUT = 1000 };

struct import_args {
	struct vmmap_ctx *ctx;
	const char *output, *timeout;
	char **pos;
	int npos;
};

static const struct argp_option import_options[] = {
	{ "output", 'o', "FILE", 0,
	  "Write the document to FILE (atomically) instead of standard output", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "qemu: give up when QEMU does not answer a command within SECONDS "
	  "(default 10)", 0 },
	{ 0 },
};

static error_t import_parse(int key, char *arg, struct argp_state *state)
{
	struct import_args *a = state->input;

	switch (key) {
	case 'o': a->output = arg; return 0;
	case OPT_TIMEOUT: a->timeout = arg; return 0;
	case ARGP_KEY_ARGS:
		a->pos = state->argv + state->next;
		a->npos = state->argc - state->next;
		return 0;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing SOURCE (qemu or dpdk-log)");
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_import_argp = {
	.options = import_options,
	.parser = import_parse,
	.args_doc = "qemu QMP_SOCKET\ndpdk-log LOGFILE",
	.doc = "Write the guest memory another program sees as a vmmap document.  "
	       "qemu: a running QEMU's, over its QMP socket (-qmp unix:PATH,server=on,"
	       "wait=off): the regions QEMU sends a vhost-user backend, by QEMU's "
	       "rule, with the frontend's user addresses (gpa2hva); the guest RAM no "
	       "backend gets right, apart, with its reason (a memory-backend-ram: "
	       "never sent; share=off: sent but private); and the pio and mmio buses "
	       "of its flat views.  dpdk-log: the last table DPDK vhost logged "
	       "(--log-level='lib.vhost.*:debug').\v"
	       "The flat view depends on the firmware's state: take the import after "
	       "the table was sent.  The document loads in every command; compare it "
	       "with a capture by diff --layout, check it with validate.  Exit status: "
	       "0 written, 2 usage, connection or input error.",
	.children = cli_global_children,
};

/* gpa2hva through HMP: "Host virtual address for 0x0 (mem) is 0x7f...". */
static int hva(void *arg, uint64_t gpa, uint64_t *out, char *why, size_t len)
{
	char cmd[40], *text, *is;

	snprintf(cmd, sizeof(cmd), "gpa2hva 0x%" PRIx64, gpa);
	text = vm_qmp_hmp(arg, cmd, why, len);
	if (!text)
		return -1;
	is = strstr(text, " is 0x");
	if (!is || sscanf(is + 6, "%" SCNx64, out) != 1) {
		snprintf(why, len, "%s: %.80s", cmd, text);
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

/* The document written: to -o FILE, or standard output. */
static int emit(struct vmmap_ctx *ctx, const struct import_args *a, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	int rc = 0;

	if (!text)
		return cli_error(ctx, "nomem", "out of memory");
	if (a->output)
		rc = cli_write_atomic(ctx, a->output, text, false);
	else if (!ctx->quiet)
		printf("%s\n", text);
	free(text);
	return rc;
}

static int import_qemu(struct vmmap_ctx *ctx, const struct import_args *a, const char *path)
{
	uint64_t seconds = 10;
	struct vm_qmp q;
	struct vm_qemu_facts f = { .hva = hva, .arg = &q };
	json_t *objects = NULL, *memdevs = NULL, *devices = NULL, *doc = NULL, *imp;
	char why[256], *mtree = NULL, taken[32];
	const char *e;
	time_t now = time(NULL);
	int rc;

	if (a->timeout && (vm_parse_addr(a->timeout, &seconds, &e) || !seconds ||
			   seconds > 3600))
		return cli_error(ctx, "usage", "invalid --timeout '%s': %s", a->timeout,
				 !seconds || seconds > 3600 ? "1 to 3600 seconds" : e);
	if (vm_qmp_open(&q, path, (int)seconds * 1000, why, sizeof(why)))
		return cli_error(ctx, "io", "%s", why);
	if (!(objects = vm_qmp_call(&q, "qom-list", json_pack("{s:s}", "path", "/objects"), why,
				    sizeof(why))) ||
	    !(memdevs = vm_qmp_call(&q, "query-memdev", NULL, why, sizeof(why))) ||
	    !(devices = vm_qmp_call(&q, "query-memory-devices", NULL, why, sizeof(why))) ||
	    !(mtree = vm_qmp_hmp(&q, "info mtree -f", why, sizeof(why)))) {
		rc = cli_error(ctx, "io", "%s: %s", path, why);
		goto out;
	}
	f.mtree = mtree;
	f.objects = objects;
	f.memdevs = memdevs;
	f.devices = devices;
	if (!(doc = vm_qemu_import(&f, why, sizeof(why)))) {
		rc = cli_error(ctx, "input", "%s: %s", path, why);
		goto out;
	}
	strftime(taken, sizeof(taken), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	imp = json_object_get(doc, "import");
	if (json_object_set_new(imp, "qmp", json_string(path)) ||
	    json_object_set_new(imp, "qemu", json_string(q.version)) ||
	    json_object_set_new(imp, "taken", json_string(taken))) {
		rc = cli_error(ctx, "nomem", "out of memory");
		goto out;
	}
	rc = emit(ctx, a, doc);
	if (!rc && !ctx->quiet) {
		size_t n = json_array_size(json_object_get(imp, "unsent"));

		fprintf(stderr, "vmmap: import: QEMU %s: %zu region%s a vhost-user backend is "
			"sent, %zu range%s of guest RAM no backend gets right%s\n", q.version,
			json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")),
			json_array_size(json_object_get(json_object_get(doc, "memory"),
							"regions")) == 1 ? "" : "s",
			n, n == 1 ? "" : "s", n ? " (see \"import\".\"unsent\")" : "");
	}
out:
	free(mtree);
	json_decref(objects);
	json_decref(memdevs);
	json_decref(devices);
	json_decref(doc);
	vm_qmp_close(&q);
	return rc;
}

static int import_dpdk(struct vmmap_ctx *ctx, const struct import_args *a, const char *path)
{
	struct vm_input in;
	struct vm_error err;
	char why[256], *text;
	json_t *doc;
	int rc;

	if (vm_input_open(&in, path, false, &err))
		return cli_input_error(ctx, err.msg);
	text = strndup(in.buf, in.len);
	vm_input_close(&in);
	if (!text)
		return cli_error(ctx, "nomem", "out of memory");
	doc = vm_dpdk_log_import(text, why, sizeof(why));
	free(text);
	if (!doc)
		return why[0] ? cli_error(ctx, "input", "%s:%s", path, why)
			      : cli_error(ctx, "input", "%s: no region in it (DPDK logs them "
					  "with --log-level='lib.vhost.*:debug')", path);
	rc = emit(ctx, a, doc);
	json_decref(doc);
	return rc;
}

int cmd_import(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct import_args a = { .ctx = ctx };
	int rc;

	if ((rc = cli_parse(ctx, &cmd_import_argp, argc, argv, &a)))
		return rc;
	if (cli_files_allowed(ctx, "import"))
		return VMMAP_EXIT_ERROR;
	if (a.npos != 2)
		return cli_error(ctx, "usage", a.npos < 2 ? "missing %s" : "unexpected argument "
				 "'%s'", a.npos < 2 ? (!strcmp(a.pos[0], "qemu") ? "QMP_SOCKET"
				 : "LOGFILE") : a.pos[2]);
	if (a.output && cli_output_ok(ctx, a.output))
		return VMMAP_EXIT_ERROR;
	if (!strcmp(a.pos[0], "qemu"))
		return import_qemu(ctx, &a, a.pos[1]);
	if (!strcmp(a.pos[0], "dpdk-log"))
		return import_dpdk(ctx, &a, a.pos[1]);
	return cli_error(ctx, "usage", "unknown source '%s' (qemu or dpdk-log)", a.pos[0]);
}
