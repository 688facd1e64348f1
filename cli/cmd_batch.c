/*
 * vmmap batch [--force] FILE|-: the shell's commands from a file, no prompt.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "shell.h"

enum { OPT_FORCE = 'f' };

struct batch_args {
	struct vmmap_ctx *ctx;
	const char *file;
	bool force;
};

static const struct argp_option batch_options[] = {
	{ "force", OPT_FORCE, NULL, 0,
	  "Go on after a line that fails with status 2", 0 },
	{ 0 },
};

static error_t batch_parse(int key, char *arg, struct argp_state *state)
{
	struct batch_args *a = state->input;

	switch (key) {
	case OPT_FORCE:
		a->force = true;
		return 0;
	case ARGP_KEY_ARG:
		return cli_arg_once(state, &a->file, arg);
	case ARGP_KEY_END:
		if (!a->file) {
			argp_error(state, "missing FILE (- for standard input)");
			return EINVAL;
		}
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_batch_argp = {
	.options = batch_options,
	.parser = batch_parse,
	.args_doc = "FILE|-",
	.doc = "Run the shell's commands from FILE (- for standard input), one per "
	       "line, '#' starting a comment, with no prompt and no history.\v"
	       "Exit status: the highest status of any line.  Without --force "
	       "the batch stops at the first line with status 2.",
	.children = cli_global_children,
};

int cmd_batch(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct batch_args a = { .ctx = ctx };
	FILE *in;
	int rc;

	if ((rc = cli_parse(ctx, &cmd_batch_argp, argc, argv, &a)))
		return rc;
	in = strcmp(a.file, "-") ? fopen(a.file, "r") : stdin;
	if (!in)
		return cli_error(ctx, "io", "%s: %s", a.file, strerror(errno));
	rc = shell_run(ctx, in, a.file, a.force, NULL, 0);
	if (in != stdin)
		fclose(in);
	return rc;
}
