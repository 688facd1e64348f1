/*
 * vmmap's main(): the global options, then the command's row of the
 * command table (commands.c) runs; the CLI library holds everything else.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
	struct vmmap_ctx ctx = { 0 };
	const struct vmmap_cmd *cmd;
	bool interactive = false;
	int rc, at;

	rc = cli_parse_global(&ctx, argc, argv, &at, &interactive);
	if (rc)
		return rc == VMMAP_HELP_SHOWN ? 0 : rc;

	if (interactive && at < 0) {
		char *sargv[] = { "shell", NULL };

		ctx.cmd = "shell";
		return cmd_shell(&ctx, 1, sargv);
	}
	cmd = vmmap_command(argv[at]);
	if (!cmd || !(cmd->where & CLI_LINE))
		return cli_unknown_command(&ctx, argv[at]);
	ctx.cmd = cmd->name;
	rc = cmd->fn(&ctx, argc - at, argv + at);
	if (rc == VMMAP_HELP_SHOWN)
		rc = 0;

	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "vmmap: %s: error writing output: %s\n", ctx.cmd,
			strerror(errno));
		rc = VMMAP_EXIT_ERROR;
	}
	return rc;
}
