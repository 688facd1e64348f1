/*
 * vmmap help [COMMAND]: the command list, or a command's usage and options,
 * the same text as --help (and as the SYNOPSIS and OPTIONS of its man page,
 * which the docs test keeps in step).
 */
#include <errno.h>
#include <stdio.h>

#include "cli.h"

struct help_args {
	struct vmmap_ctx *ctx;
	const char *command;
};

static error_t help_parse(int key, char *arg, struct argp_state *state)
{
	struct help_args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = a->ctx;
		return 0;
	case ARGP_KEY_ARG:
		return cli_arg_once(state, &a->command, arg);
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_help_argp = {
	.parser = help_parse,
	.args_doc = "[COMMAND]",
	.doc = "Print the list of commands, or COMMAND's usage and options (as "
	       "'vmmap COMMAND --help'); the full text is in vmmap-COMMAND(1).",
	.children = cli_global_children,
};

int cmd_help(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct help_args a = { .ctx = ctx };
	const struct vmmap_cmd *cmd;
	char name[64];
	int rc;

	if ((rc = cli_parse(ctx, &cmd_help_argp, argc, argv, &a)))
		return rc;
	if (!a.command) {
		vmmap_help_all(stdout);
		return 0;
	}
	cmd = vmmap_command(a.command);
	if (!cmd)
		return cli_error(ctx, "usage", "unknown command '%s'", a.command);
	snprintf(name, sizeof(name), "vmmap %s", cmd->name);
	argp_help(cmd->argp, stdout, ARGP_HELP_STD_HELP & ~ARGP_HELP_EXIT_OK, name);
	printf("\nSee vmmap-%s(1) for the whole manual.\n", cmd->name);
	return 0;
}
