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

/*
 * Runs the shell: reads commands from in (a terminal gets line editing,
 * history and completion), after loading files[0..nfiles).  force: go on
 * after a line that fails with status 2.  Returns the exit status.
 */
int shell_run(struct vmmap_ctx *base, FILE *in, const char *in_name,
	      bool force, char **files, int nfiles);

#endif
