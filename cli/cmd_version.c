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

int cmd_version(struct vmmap_ctx *ctx, int argc, char **argv)
{
	int rc;

	if ((rc = cli_parse(ctx, &cmd_version_argp, argc, argv, NULL)))
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
