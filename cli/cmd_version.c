/*
 * vmmap version: the version and what this build can do.
 */
#include <histedit.h>
#include <stdio.h>

#include "cli.h"
#include "vhost_user.h"

#define STR2(x) #x
#define STR(x) STR2(x)
#define LIBEDIT_API STR(LIBEDIT_MAJOR) "." STR(LIBEDIT_MINOR)

const struct argp cmd_version_argp = {
	.doc = "Print the version of vmmap, of the libraries it was built with, and "
	       "its features; one JSON object under -j.",
	.children = cli_global_children,
};

static error_t version_parse(int key, char *arg, struct argp_state *state)
{
	(void)arg;
	if (key == ARGP_KEY_INIT) {
		/* The global options' input is the ctx, the first member of
		 * ours (it was our own struct: -j after the command set a byte
		 * of the ctx pointer instead of ctx->json). */
		state->child_inputs[0] = *(struct vmmap_ctx **)state->input;
		return 0;
	}
	return ARGP_ERR_UNKNOWN;
}

int cmd_version(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct argp argp = cmd_version_argp;
	struct { struct vmmap_ctx *ctx; } a = { ctx };
	int rc;

	argp.parser = version_parse;
	if ((rc = cli_parse(ctx, &argp, argc, argv, &a)))
		return rc;
	if (ctx->json)
		return cli_emit_json(ctx, json_pack(
			"{s:s, s:s, s:s, s:i, s:{s:b, s:b, s:b}, s:{s:i, s:i}}",
			"version", VMMAP_VERSION,
			"jansson", JANSSON_VERSION,
			"libedit_api", LIBEDIT_API,
			"document_version", VM_DOC_VERSION,
			"features",
			"vhost_user_capture", 1, "shell", 1, "json_input_positions", 1,
			"limits",
			"vhost_user_max_payload", VU_MAX_PAYLOAD,
			"vhost_user_max_fds", VU_MAX_FDS));
	if (!ctx->quiet)
		printf("vmmap %s\n"
		       "jansson %s, libedit API %s\n"
		       "features: +vhost-user-capture +shell +json-input-positions\n"
		       "document version %d; vhost-user payloads up to %d bytes, %d fds\n",
		       VMMAP_VERSION, JANSSON_VERSION, LIBEDIT_API, VM_DOC_VERSION,
		       VU_MAX_PAYLOAD, VU_MAX_FDS);
	return 0;
}
