/*
 * The interactive shell and batch mode (shell.c): named tables that the
 * commands can use instead of files.
 */
#ifndef VMMAP_SHELL_H
#define VMMAP_SHELL_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"

/*
 * The loaded table called name, or the current table when name is NULL;
 * NULL when there is none.  *canon is the table's name.
 */
const struct vm_table *shell_table(struct vmmap_shell *sh, const char *name,
				   const char **canon);

/* The capture whose table t is (running or ended), or NULL. */
struct cli_capture *shell_capture_of(struct vmmap_shell *sh, const struct vm_table *t);

/*
 * Runs the shell: reads commands from in (a terminal gets line editing,
 * history and completion), after loading files[0..nfiles).  force: go on
 * after a line that fails with status 2.  Returns the exit status.
 */
int shell_run(struct vmmap_ctx *base, FILE *in, const char *in_name,
	      bool force, char **files, int nfiles);

/*
 * The shell's own verbs (shell_tables.c, shell.c), rows of the command
 * table with CLI_SHELL alone; each parses its line with its argp.
 */
int verb_load(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_tables(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_use(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_unload(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_region(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_device(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_save(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_capture(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_history(struct vmmap_ctx *ctx, int argc, char **argv);
int verb_quit(struct vmmap_ctx *ctx, int argc, char **argv);
extern const struct argp verb_load_argp, verb_tables_argp, verb_use_argp,
	verb_unload_argp, verb_region_argp, verb_device_argp, verb_save_argp,
	verb_history_argp, verb_quit_argp;

#endif
