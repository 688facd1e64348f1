/*
 * The shell's own parts, shared by its files: shell.c (the loop, dispatch
 * and the background capture), shell_tables.c (named tables and the verbs
 * that edit them), shell_edit.c (line editing, completion, history).
 */
#ifndef VMMAP_SHELL_INT_H
#define VMMAP_SHELL_INT_H

#include <histedit.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>

#include "shell.h"

#define MAX_WORDS 64

struct shell_table {
	char *name;
	char *source;        /* the file, or "capture PATH" */
	struct vm_table *t;  /* owned, unless it is the capture's */
	bool live;           /* the table of the running or ended capture */
	bool dirty;          /* edited since it was loaded or saved */
	bool warned;         /* unload was refused once for that */
};

/* The background capture: the CLI's runner (cmd_capture.c) over core's
 * engine, and what the status lines have said of it. */
struct shell_capture {
	struct cli_capture *run;
	char *name;               /* the table's name, for status lines */
	size_t updates_seen;
	bool end_reported;
};

struct vmmap_shell {
	struct vmmap_ctx base;
	struct shell_table *tables;
	size_t ntables;
	int current; /* index into tables, or -1 */
	struct shell_capture *cap;
	/* input */
	bool interactive;
	int infd;
	struct cli_lines lines; /* the plain reader (no terminal) */
	bool eof;
	EditLine *el;
	History *hist;
	char *histfile;
	bool hist_nosave; /* a symlink: read, never written through */
	Tokenizer *tok;
	char prompt[160];
	bool quit;
	bool quit_warned; /* unsaved edits were named once */
	const char *in_name;
	unsigned lineno;
	char where[PATH_MAX + 16];
};

/* Set by SIGINT while a line is read. */
extern volatile sig_atomic_t got_sigint;

/* shell_tables.c */
struct shell_table *find_table(struct vmmap_shell *sh, const char *name);
bool capture_running(const struct vmmap_shell *sh);
void free_table(struct vmmap_shell *sh, struct shell_table *st);
int add_table(struct vmmap_ctx *ctx, struct vmmap_shell *sh, const char *name,
	      const char *source, struct vm_table *t, bool live);
int load_into(struct vmmap_ctx *ctx, struct vmmap_shell *sh, const char *path,
	      const char *name);
/* "usage: ..." of the verb running (ctx->cmd), from the verb table. */
int usage(struct vmmap_ctx *ctx);
/* Whether the shell may leave now: on a terminal, unsaved edits are named
 * once and the first quit (or Ctrl-D) stays. */
bool shell_may_leave(struct vmmap_shell *sh);
/*
 * A verb's line as its argp (the verb's row) leaves it: the verb's name and
 * its arguments in argv[0..argc), and its options.
 */
enum { VERB_OPT_FORCE = 0x100 };
struct verb_args {
	int argc;
	char *argv[MAX_WORDS + 1];
	bool force; /* save --force */
};
/* Parses a verb's line with its row's argp: *argc and *argv become the
 * verb's name and its arguments (in a).  0, VMMAP_HELP_SHOWN or
 * VMMAP_EXIT_ERROR. */
int verb_parse(struct vmmap_ctx *ctx, int *argc, char ***argv, struct verb_args *a);
/* The parser of every verb's argp. */
error_t verb_key(int key, char *arg, struct argp_state *state);

/* shell.c */
const char *live_name(struct vmmap_shell *sh);
void capture_status(struct vmmap_shell *sh);
/* Waits until fd is readable, serving the capture meanwhile: 1 readable,
 * 0 interrupted by SIGINT, -1 error. */
int wait_input(struct vmmap_shell *sh, int fd);

/* shell_edit.c */
int setup_editline(struct vmmap_shell *sh, FILE *in);
int history_save(struct vmmap_shell *sh);
/* Prints the history, oldest first, numbered; 0. */
int shell_history_list(struct vmmap_shell *sh);

#endif
