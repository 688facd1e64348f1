/*
 * vmmap shell [FILE...]: the interactive shell (also vmmap -i).
 */
#include <stdio.h>

#include "cli.h"
#include "shell.h"

struct shell_args {
	struct vmmap_ctx *ctx;
	char **files;
	int nfiles;
};

static error_t shell_parse(int key, char *arg, struct argp_state *state)
{
	struct shell_args *a = state->input;

	(void)arg;
	switch (key) {
	case ARGP_KEY_ARGS:
		a->files = state->argv + state->next;
		a->nfiles = state->argc - state->next;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_shell_argp = {
	.parser = shell_parse,
	.args_doc = "[FILE...]",
	.doc = "Read commands one per line: every vmmap command, where FILE may "
	       "name a loaded table or be left out for the current one, plus "
	       "load, tables, use, unload, region, device, save, capture (in the "
	       "background), history, help and quit.  Each FILE given is loaded "
	       "first.  On a terminal: line editing (emacs keys, ~/.editrc), history and "
	       "tab completion.\v"
	       "History: $VMMAP_HISTFILE (empty: none), else "
	       "$XDG_STATE_HOME/vmmap/history, else ~/.local/state/vmmap/history.\n"
	       "Exit status: from a terminal 0; otherwise the highest status of "
	       "any line, and input stops at the first line with status 2 (see "
	       "vmmap batch --force).",
	.children = cli_global_children,
};

int cmd_shell(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct shell_args a = { .ctx = ctx };
	int rc;

	if ((rc = cli_parse(ctx, &cmd_shell_argp, argc, argv, &a)))
		return rc;
	return shell_run(ctx, stdin, "<stdin>", false, a.files, a.nfiles);
}
