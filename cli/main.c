/*
 * vmmap: the command table and the top-level option parser.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct vmmap_cmd commands[] = {
	{ "show", cmd_show, "FILE",
	  "regions by address, holes, bus registrations", &cmd_show_argp },
	{ "translate", cmd_translate, "FILE ADDR [LEN]",
	  "translate addresses region by region", &cmd_translate_argp },
	{ "lookup", cmd_lookup, "FILE BUS ADDR [LEN]",
	  "registrations an I/O access reaches", &cmd_lookup_argp },
	{ "diff", cmd_diff, "OLD NEW",
	  "changes as REM_MEM_REG/ADD_MEM_REG", &cmd_diff_argp },
	{ "validate", cmd_validate, "FILE",
	  "check overlaps and vhost/KVM limits", &cmd_validate_argp },
	{ "capture", cmd_capture, "--listen|--connect PATH",
	  "record the table a frontend sends", &cmd_capture_argp },
	{ "shell", cmd_shell, "[FILE...]",
	  "interactive shell (also vmmap -i)", &cmd_shell_argp },
	{ "batch", cmd_batch, "FILE|-",
	  "the shell's commands from a file", &cmd_batch_argp },
	{ "help", cmd_help, "[COMMAND]",
	  "this list, or a command's options", &cmd_help_argp },
	{ "version", cmd_version, "",
	  "version and build features", &cmd_version_argp },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const char *argp_program_version = "vmmap " VMMAP_VERSION;

static const char doc[] =
	"Inspect guest memory tables and KVM I/O bus registrations.\v"
	"Commands:" /* the list is filled in by help_filter */;

static const char doc_tail[] =
	"\nRun 'vmmap COMMAND --help' for a command's options.\n"
	"Exit status: 0 found/mapped, 1 unmapped or no device, 2 usage or input "
	"error.";

/* The command list in --help comes from the command table. */
static char *help_filter(int key, const char *text, void *input)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)input;
	if (key != ARGP_KEY_HELP_POST_DOC || !(f = open_memstream(&buf, &len)))
		return (char *)text;
	fputs(text, f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", commands[i].name,
			 commands[i].usage);
		fprintf(f, "\n  %-31s %s", head, commands[i].summary);
	}
	fprintf(f, "\n%s", doc_tail);
	if (fclose(f)) {
		free(buf);
		return (char *)text;
	}
	return buf;
}

struct root_args {
	struct vmmap_ctx *ctx; /* first: the global child parser's input */
	int cmd_index;
	bool interactive; /* -i */
};

static const struct argp_option root_options[] = {
	{ "interactive", 'i', NULL, 0, "Start the shell (vmmap shell)", 0 },
	{ 0 },
};

static error_t root_parse(int key, char *arg, struct argp_state *state)
{
	struct root_args *a = state->input;

	(void)arg;
	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = a->ctx;
		return 0;
	case ARGP_KEY_ARG:
		/* The command: stop here, the rest belongs to it. */
		a->cmd_index = state->next - 1;
		state->next = state->argc;
		return 0;
	case 'i':
		a->interactive = true;
		return 0;
	case ARGP_KEY_END:
		if (a->cmd_index < 0 && !a->interactive) {
			argp_error(state, "missing COMMAND");
			return EINVAL;
		}
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child root_children[] = {
	{ &cli_global_argp, 0, NULL, 0 },
	{ 0 },
};

static const struct argp root_argp = {
	.options = root_options,
	.parser = root_parse,
	.args_doc = "COMMAND [ARG...]",
	.doc = doc,
	.children = root_children,
	.help_filter = help_filter,
};

const struct vmmap_cmd *vmmap_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

const struct vmmap_cmd *vmmap_commands(size_t *n)
{
	*n = NCOMMANDS;
	return commands;
}

void vmmap_help_all(FILE *out)
{
	argp_help(&root_argp, out, ARGP_HELP_STD_HELP & ~ARGP_HELP_EXIT_OK, "vmmap");
}

#ifndef VMMAP_NO_MAIN /* the shell's fuzz target links this file */
int main(int argc, char **argv)
{
	struct vmmap_ctx ctx = { 0 };
	struct root_args root = { .ctx = &ctx, .cmd_index = -1 };
	const struct vmmap_cmd *cmd;
	int rc;

	/* The help options are the global child's (args.c); argp's messages
	 * come out in vmmap's form. */
	rc = cli_argp_parse(&ctx, &root_argp, argc, argv, ARGP_IN_ORDER, &root);
	if (rc)
		return rc == VMMAP_HELP_SHOWN ? 0 : rc;

	if (root.interactive && root.cmd_index < 0) {
		char *sargv[] = { "shell", NULL };

		ctx.cmd = "shell";
		return cmd_shell(&ctx, 1, sargv);
	}
	cmd = vmmap_command(argv[root.cmd_index]);
	if (!cmd) {
		char names[256] = "";

		for (size_t i = 0; i < NCOMMANDS; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names),
				 "%s%s", i ? ", " : "", commands[i].name);
		return cli_error(&ctx, "usage", "unknown command '%s' (commands: %s)",
				 argv[root.cmd_index], names);
	}
	ctx.cmd = cmd->name;
	rc = cmd->fn(&ctx, argc - root.cmd_index, argv + root.cmd_index);
	if (rc == VMMAP_HELP_SHOWN)
		rc = 0;

	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "vmmap: %s: error writing output: %s\n", ctx.cmd,
			strerror(errno));
		rc = VMMAP_EXIT_ERROR;
	}
	return rc;
}
#endif
