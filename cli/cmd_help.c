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

/* The shell's list: the commands that run there, then its own verbs. */
static void help_shell(void)
{
	const struct vmmap_cmd *cmds;
	size_t n;

	cmds = vmmap_commands(&n);
	printf("Commands (as on the command line, FILE may name a loaded table or be "
	       "left out):\n");
	for (size_t i = 0; i < n; i++)
		if (cmds[i].where == (CLI_LINE | CLI_SHELL))
			printf("  %-9s %s\n", cmds[i].name, cmds[i].summary);
	printf("Shell (help VERB for its usage):\n");
	for (size_t i = 0; i < n; i++)
		if (cmds[i].where == CLI_SHELL)
			printf("  %-9s %s\n", cmds[i].name, cmds[i].summary);
	printf("Lines may start with -j, -p or -q.\n");
}

int cmd_help(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct help_args a = { .ctx = ctx };
	const struct vmmap_cmd *cmd;
	char name[64];
	int rc;

	if ((rc = cli_parse(ctx, &cmd_help_argp, argc, argv, &a)))
		return rc;
	if (!a.command) {
		if (ctx->shell)
			help_shell();
		else
			vmmap_help_all(stdout);
		return 0;
	}
	cmd = vmmap_command(a.command);
	if (!cmd || !(cmd->where & (ctx->shell ? CLI_SHELL : CLI_LINE)))
		return cli_unknown_command(ctx, a.command);
	/* A shell verb is named as it is typed. */
	snprintf(name, sizeof(name), "%s%s", cmd->where & CLI_LINE ? "vmmap " : "",
		 cmd->name);
	argp_help(cmd->argp, stdout, ARGP_HELP_STD_HELP & ~ARGP_HELP_EXIT_OK, name);
	if (cmd->where & CLI_LINE)
		printf("\nSee vmmap-%s(1) for the whole manual.\n", cmd->name);
	else
		printf("\nSee vmmap-shell(1) for the whole manual.\n");
	return 0;
}
