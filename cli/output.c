/*
 * Error reporting and the JSON wrapper shared by every command.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

static size_t dump_flags(const struct vmmap_ctx *ctx)
{
	return ctx->pretty ? JSON_INDENT(2) : JSON_COMPACT;
}

static json_t *wrapper(const struct vmmap_ctx *ctx)
{
	return json_pack("{s:i, s:s}", "schema", 1, "command",
			 ctx->cmd ? ctx->cmd : "vmmap");
}

static void emit_error(struct vmmap_ctx *ctx, const char *code,
		       const char *msg, int with_cmd)
{
	json_t *doc;

	if (!ctx->json || ctx->quiet) {
		if (with_cmd && ctx->cmd)
			fprintf(stderr, "vmmap: %s: %s\n", ctx->cmd, msg);
		else
			fprintf(stderr, "vmmap: %s\n", msg);
		return;
	}
	doc = wrapper(ctx);
	if (!doc || json_object_set_new(doc, "error",
					json_pack("{s:s, s:s}", "code", code,
						  "message", msg))) {
		json_decref(doc);
		fprintf(stderr, "vmmap: %s\n", msg);
		return;
	}
	json_dumpf(doc, stdout, dump_flags(ctx));
	fputc('\n', stdout);
	json_decref(doc);
}

int cli_error(struct vmmap_ctx *ctx, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit_error(ctx, code, msg, 1);
	return VMMAP_EXIT_ERROR;
}

int cli_input_error(struct vmmap_ctx *ctx, const char *msg)
{
	emit_error(ctx, "input", msg, 0);
	return VMMAP_EXIT_ERROR;
}

int cli_emit_json(struct vmmap_ctx *ctx, json_t *result)
{
	json_t *doc;

	if (!result)
		return cli_error(ctx, "nomem", "out of memory");
	if (ctx->quiet) {
		json_decref(result);
		return 0;
	}
	doc = wrapper(ctx);
	if (!doc || json_object_set_new(doc, "result", result)) {
		json_decref(doc);
		return cli_error(ctx, "nomem", "out of memory");
	}
	json_dumpf(doc, stdout, dump_flags(ctx));
	fputc('\n', stdout);
	json_decref(doc);
	return 0;
}

int cli_load_table(struct vmmap_ctx *ctx, const char *path, unsigned flags,
		   struct vm_table *t)
{
	struct vm_error err;

	vm_table_init(t);
	if (vm_table_load_file(t, path, flags, &err))
		return cli_input_error(ctx, err.msg);
	return 0;
}

void cli_fmt_range(char buf[CLI_RANGE_MAX], uint64_t first, uint64_t last)
{
	snprintf(buf, CLI_RANGE_MAX, "%016" PRIx64 "-%016" PRIx64, first, last);
}

void cli_fmt_io_range(char buf[CLI_RANGE_MAX], const struct vm_io_range *io)
{
	if (io->len)
		cli_fmt_range(buf, io->addr, io->addr + io->len - 1);
	else
		snprintf(buf, CLI_RANGE_MAX, "%016" PRIx64 " (any length)", io->addr);
}
