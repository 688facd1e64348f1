/*
 * The vmmap command-line front end: the shared context, the command table
 * entry, and the helpers every command uses (output.c: errors, JSON,
 * table arguments, atomic files; args.c: argp and numbers; lines.c: line
 * input; guard.c: the SIGBUS guard; cmd_capture.c: the capture runner the
 * shell shares).  Commands live in cmd_<name>.c; each builds one result
 * and has a plain-text and a JSON emitter for it.
 */
#ifndef VMMAP_CLI_H
#define VMMAP_CLI_H

#include <argp.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "table.h"
#include "vring_view.h"
#include "vu_capture.h"

/* Exit statuses. */
enum {
	VMMAP_EXIT_OK = 0,       /* found, mapped */
	VMMAP_EXIT_NEGATIVE = 1, /* unmapped, no device */
	VMMAP_EXIT_ERROR = 2,    /* usage or input error */
};

struct vmmap_shell;

struct vmmap_ctx {
	bool json;   /* -j: one JSON document on stdout */
	bool pretty; /* -p: indented JSON (implies json) */
	bool quiet;  /* -q: nothing on stdout; the exit status answers */
	const char *cmd; /* the command being run, for messages */
	struct vmmap_shell *shell; /* inside the shell: its tables */
	const char *where; /* batch input: "FILE:LINE" of the command */
	/* The shell under a fuzzer: no file, socket or standard input is
	 * opened on a command's behalf (cli_files_allowed says no). */
	bool no_files;
};

/* 0, or VMMAP_EXIT_ERROR (reported) when ctx->no_files forbids opening
 * what. */
int cli_files_allowed(struct vmmap_ctx *ctx, const char *what);

/* cli_parse's answer when it printed --help, --usage or --version (argp
 * never exits here): the command is done, successfully. */
#define VMMAP_HELP_SHOWN (-1)

/*
 * What completes a word (bits): where a command's argument or an option's
 * value comes from.  File names are offered when no other word matches.
 */
enum {
	CLI_W_FILE = 1u << 0,    /* a file name */
	CLI_W_TABLE = 1u << 1,   /* a loaded table's name (the shell) */
	CLI_W_BUS = 1u << 2,     /* a bus name */
	CLI_W_KIND = 1u << 3,    /* a registration kind */
	CLI_W_PROFILE = 1u << 4, /* a validate profile */
	CLI_W_COMMAND = 1u << 5, /* a command or shell verb */
	CLI_W_REGION = 1u << 6,  /* a region name of the current table */
	CLI_W_DEVICE = 1u << 7,  /* a registration on the bus named before */
	CLI_W_LIST = 1u << 8,    /* the words of the entry */
};

/* One completion rule of a command: an option's value, or a positional. */
struct cli_complete {
	const char *option;       /* a long option's name; NULL: a positional */
	int pos;                  /* a positional's number (1: the first) */
	const char *after;        /* a positional after this first argument only */
	unsigned what;            /* CLI_W_* */
	const char *const *words; /* CLI_W_LIST, NULL-terminated */
};

/* Where a command runs. */
enum {
	CLI_LINE = 1u << 0,  /* vmmap CMD */
	CLI_SHELL = 1u << 1, /* a line of the shell or of a batch file */
};

/*
 * A row of the command table: the commands of the command line and the
 * shell's verbs.  Dispatch, help, usage lines and the shell's completion
 * all come from it.
 */
struct vmmap_cmd {
	const char *name;
	int (*fn)(struct vmmap_ctx *ctx, int argc, char **argv);
	/* In the shell, where it differs from fn (capture runs in the
	 * background there), or the shell's own verb. */
	int (*shell_fn)(struct vmmap_ctx *ctx, int argc, char **argv);
	const char *usage;   /* arguments for the lists; NULL: the argp's */
	const char *summary; /* one line, for the lists */
	const struct argp *argp;
	unsigned where;      /* CLI_LINE, CLI_SHELL */
	const char *alias;   /* another name, or NULL */
	const struct cli_complete *complete; /* ends with a zero entry; or NULL */
};

/* The command table (commands.c): a row by name or alias, or NULL. */
const struct vmmap_cmd *vmmap_command(const char *name);
const struct vmmap_cmd *vmmap_commands(size_t *n);
/* "unknown command NAME" with the commands there are, or that it runs only
 * in (or outside) the shell: VMMAP_EXIT_ERROR. */
int cli_unknown_command(struct vmmap_ctx *ctx, const char *name);
/* A row's usage: its own, or the first form of its argp's args_doc. */
const char *vmmap_cmd_usage(const struct vmmap_cmd *cmd);

/*
 * Parses the global options before a command word (argv[0] is the program
 * name): *cmd is the command's index in argv, or -1 when there is none.
 * interactive: where -i (start the shell) goes; NULL refuses -i (a shell
 * line).  Returns 0, VMMAP_HELP_SHOWN or VMMAP_EXIT_ERROR (reported).
 */
int cli_parse_global(struct vmmap_ctx *ctx, int argc, char **argv, int *cmd,
		     bool *interactive);

int cmd_show(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_translate(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_lookup(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_diff(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_validate(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_capture(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_shell(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_batch(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_help(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_version(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_vring(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_mem(struct vmmap_ctx *ctx, int argc, char **argv);
int cmd_import(struct vmmap_ctx *ctx, int argc, char **argv);

/* The top-level --help text (commands.c). */
void vmmap_help_all(FILE *out);

extern const struct argp cmd_show_argp, cmd_translate_argp, cmd_lookup_argp,
	cmd_diff_argp, cmd_validate_argp, cmd_capture_argp, cmd_shell_argp,
	cmd_batch_argp, cmd_help_argp, cmd_version_argp,
	cmd_vring_argp, cmd_mem_argp, cmd_import_argp;

/* The global options (-j, -p, -q), a child of every command's parser so they
 * may also follow the command.  They set the ctx of the parse that runs
 * (cli_argp_parse's), whatever input the command's parser has. */
extern const struct argp cli_global_argp;
/* The same as the children of a command's parser, under "Global options:". */
extern const struct argp_child cli_global_children[];

/* For ARGP_KEY_ARG in commands that take one positional argument: keeps it
 * in *slot, and refuses a second. */
error_t cli_arg_once(struct argp_state *state, const char **slot,
		     const char *arg);

/*
 * Runs a command's argp parser over argv (argv[0] is the command name) with
 * "vmmap CMD" as the program name in messages; input is the parser's.
 * Returns 0, VMMAP_HELP_SHOWN or
 * VMMAP_EXIT_ERROR (reported through cli_error).
 */
int cli_parse(struct vmmap_ctx *ctx, const struct argp *argp, int argc,
	      char **argv, void *input);
/*
 * argp_parse with ARGP_NO_EXIT, whose own error messages (argp's and
 * getopt's, two lines with a "Try ... --help" hint) are kept from stderr
 * and reported through cli_error instead: one line, in vmmap's form, with
 * the batch line and -j's JSON.  Returns 0, VMMAP_HELP_SHOWN or
 * VMMAP_EXIT_ERROR.
 */
int cli_argp_parse(struct vmmap_ctx *ctx, const struct argp *argp, int argc,
		   char **argv, unsigned flags, void *input);

/*
 * Reports a usage or runtime error: "vmmap: CMD: message" on stderr, or under
 * -j {"schema":1,"command":CMD,"error":{"code":code,"message":...}} on stdout.
 * Returns VMMAP_EXIT_ERROR.
 */
__attribute__((format(printf, 3, 4)))
int cli_error(struct vmmap_ctx *ctx, const char *code, const char *fmt, ...);
/* The same for an input diagnostic that already names its place
 * ("FILE:LINE:COL: ..."): printed as "vmmap: FILE:LINE:COL: ...". */
int cli_input_error(struct vmmap_ctx *ctx, const char *msg);

/* Prints {"schema":1,"command":CMD,"result":result} (takes the reference).
 * Returns 0, or VMMAP_EXIT_ERROR when result is NULL (out of memory). */
int cli_emit_json(struct vmmap_ctx *ctx, json_t *result);

/*
 * A command's answer r: under -j the document of to_json(r), else the text
 * print(r) writes, nothing under -q.  Returns status (the answer's exit
 * status), or VMMAP_EXIT_ERROR when the JSON could not be built.
 */
int cli_emit(struct vmmap_ctx *ctx, const void *r, json_t *(*to_json)(const void *r),
	     void (*print)(const void *r), int status);

/*
 * In the shell, whether an argument that names no loaded table is a file:
 * "-", or a path with a '/', or a name ending in ".json".  Anything else
 * (0x1000, vhost-user) is an argument of the command, whatever files the
 * working directory holds (write ./FILE for a file of another name).
 */
bool cli_names_file(const char *arg);

/* What starts a status line of the shell's background capture: "\r", and
 * on a terminal also "clear to the end of the line". */
const char *cli_status_start(void);

/*
 * A table argument: a file (or "-" for standard input) loaded with VM_LOAD_*
 * flags, or inside the shell the name of a loaded table.  Inside the shell
 * the argument may also be left out for the current table.
 */
struct cli_table {
	const struct vm_table *t;
	const char *name; /* the file or table name, for output */
	struct vm_table own;
	bool owned;
};

/*
 * Opens the table named by pos[0] (npos may be 0).  *used is set to 1 when
 * pos[0] named the table, 0 when the shell's current table stands in.
 * Returns 0 or VMMAP_EXIT_ERROR (reported).
 */
int cli_table_open(struct vmmap_ctx *ctx, char *const *pos, int npos,
		   unsigned flags, struct cli_table *out, int *used);
/*
 * Two tables, as cli_table_open each with one argument (a may be NULL in
 * the shell: the current table).  Outside the shell, two named files load
 * side by side, b on a second thread; on errors, a's is reported first.
 */
int cli_table_open_pair(struct vmmap_ctx *ctx, const char *a, const char *b,
			struct cli_table *ta, struct cli_table *tb);
void cli_table_close(struct cli_table *tb);

/* The address spaces of translate --from, in enum vm_space order. */
extern const char *const cli_space_names[];

/* One address query from the command line. */
struct cli_query {
	uint64_t addr, len;
};

/*
 * Parses the queries after the fixed arguments.  Exactly two plain numbers
 * are ADDR LEN; otherwise each argument is one query: ADDR (length 1),
 * ADDR+LEN, or FIRST-LAST (inclusive).  LEN takes size suffixes.  Rejects a
 * zero length (unless flags has CLI_QUERY_LEN0) and ranges that wrap past
 * 2^64-1.  *out is malloc'ed.
 */
#define CLI_QUERY_LEN0 1u /* length 0 is an access (fast-mmio writes) */
int cli_parse_queries(struct vmmap_ctx *ctx, char **args, int n, unsigned flags,
		      struct cli_query **out, size_t *nq);

/* Writes text to path through a temporary file in the same directory and a
 * rename: the file is the old one or the whole new one.  0 or
 * VMMAP_EXIT_ERROR (reported; the old file untouched). */
int cli_write_atomic(struct vmmap_ctx *ctx, const char *path, const char *text, bool private);

/* The same in steps, for output written as it comes (capture --record):
 * open, write (errors are kept for commit), then commit (fsync, rename) or
 * abort.  Each returns 0 or VMMAP_EXIT_ERROR (reported by open and commit). */
struct cli_atomic {
	const char *path;
	char *tmp;
	int fd, err;
	/* The new file's mode when none is there to keep: 0666 less the umask,
	 * set by cli_atomic_open; a caller may narrow it (the history: 0600).
	 * A file being replaced keeps its own mode. */
	mode_t mode;
	/* The file holds guest memory: mode (0600) even over a file that had
	 * another. */
	bool private;
};
/* Opens f's temporary file; f is zeroed first, all but f->private. */
int cli_atomic_open(struct vmmap_ctx *ctx, const char *path, struct cli_atomic *f);
/* Whether path may be written as an output file (no symlink, nothing but
 * a regular file there): checked before a long task, and again at open. */
int cli_output_ok(struct vmmap_ctx *ctx, const char *path);
int cli_atomic_write(struct vmmap_ctx *ctx, struct cli_atomic *f, const void *buf,
		     size_t len);
int cli_atomic_commit(struct vmmap_ctx *ctx, struct cli_atomic *f);
void cli_atomic_abort(struct cli_atomic *f);

/*
 * The SIGBUS guard (guard.c) around reads of a mapped file: between begin
 * and end, on this thread, a page of the file that vanished (the file
 * shrank) reads as zeros instead of killing vmmap, and end says whether
 * that happened.
 */
void cli_guard_begin(void);
bool cli_guard_end(void);
/* A copy out of guest memory under the same handler (vm_gm_copy_fn): false
 * when a page of the source is gone, instead of SIGBUS. */
bool cli_guard_copy(void *dst, const void *src, size_t n);

/* Loads a table file as vm_table_load_file does, under the guard: a file
 * that shrinks meanwhile is "FILE: changed while being read". */
int cli_load_table(struct vm_table *t, const char *path, unsigned flags,
		   struct vm_error *err);

/* Reads a whole input file ("-": standard input) that is not a table (a
 * recording), capped as vm_input_open caps it.  *buf is malloc'ed.
 * Returns 0 or VMMAP_EXIT_ERROR (reported). */
int cli_read_input(struct vmmap_ctx *ctx, const char *path, char **buf, size_t *len);

/*
 * Writes text and tail into f (opened with cli_atomic_open; opened again
 * here after an earlier commit) and commits it.  If that fails, the text
 * is saved instead to a new file of mode 0600 in $TMPDIR (else /tmp), and
 * the one error line names it: output is never lost.  0 or
 * VMMAP_EXIT_ERROR.
 */
int cli_atomic_replace(struct vmmap_ctx *ctx, struct cli_atomic *f, const char *text,
		       const char *tail);

/*
 * Lines from a file descriptor (lines.c), for batch, the shell without a
 * terminal and translate --batch.  A line is at most CLI_LINE_MAX bytes.
 */
#define CLI_LINE_MAX 65536
enum cli_line {
	CLI_LINE_OK,
	CLI_LINE_NUL,      /* it holds a NUL byte (the line is cut there) */
	CLI_LINE_TOO_LONG, /* over CLI_LINE_MAX: skipped, "" returned */
};
struct cli_lines {
	int fd;
	char *buf;
	size_t cap, start, end; /* unread data is buf[start..end) */
	size_t scan;            /* no newline in buf[start..scan) */
	bool eof, skipping;     /* skipping: inside an over-long line */
	int err;                /* errno of a failed read */
};
int cli_lines_init(struct cli_lines *r, int fd);
void cli_lines_free(struct cli_lines *r);
/* The next line, NUL-terminated in place without its "\n" or "\r\n" (at
 * the end of input, also a last line without newline), its length and
 * kind; NULL when more must be read first (cli_lines_fill), or at the end
 * (r->eof).  Lines taken before are invalid after the next fill. */
char *cli_lines_take(struct cli_lines *r, size_t *len, enum cli_line *kind);
/* Reads once more (it may block): 0, or -1 with r->err set.  Sets r->eof
 * at the end of input. */
int cli_lines_fill(struct cli_lines *r);

/* A monotonic clock in ns. */
uint64_t cli_now_ns(void);

/* capture's options, as argp leaves them (cmd_capture.c). */
struct capture_args {
	struct vmmap_ctx *ctx;
	const char *listen, *connect, *output, *record, *replay;
	const char *forward, *forward_listen;
	const char *timeout, *updates, *max_slots, *sessions;
	const char *type, *queues, *capacity, *cid, *settle, *snapshot_bytes;
	bool no_mem_slots, follow, keep, no_backend_channel, no_packed;
	bool output_stdout; /* -o -: standard output, even in the shell or quiet */
	const char *extra;
};

/*
 * A capture as the CLI runs it, in the foreground (vmmap capture) or in
 * the shell's background: core's engine (vu_capture.h) with the options
 * parsed and checked by one parser, and the files and lines it writes.
 */
struct cli_capture {
	struct vmmap_ctx ctx;
	struct capture_args a;
	struct vu_capture cap;
	FILE *follow;          /* where --follow lines go, or NULL */
	bool json;             /* --follow lines as JSON */
	const char *shell_name; /* in the shell: the table's name, for lines */
	struct cli_atomic out; /* -o: opened at start, so it is proven writable */
	struct cli_atomic rec; /* --record, while a session runs (fd >= 0) */
	int rc;                /* an output error (VMMAP_EXIT_ERROR) */
	uint64_t snapshot_bytes; /* --snapshot-bytes: of each buffer (0: none) */
	json_t *snapshot;      /* the last snapshot of guest memory, or NULL */
};
/*
 * Guest memory and the capture's rings for vring and mem (guest.c): the
 * shell's live capture reads guest memory itself; a capture file, or a
 * capture whose session ended, reads its snapshot.
 */
struct cli_guest {
	struct cli_table tb;
	json_t *doc;             /* {"capture": ...} */
	const json_t *cap;       /* the capture section */
	uint64_t features;       /* acked */
	bool proxy;              /* a forwarded session */
	struct vu_capture *live; /* reading guest memory now, or NULL */
	struct vq_tape tape;     /* the snapshot's bytes */
	bool has_snapshot;
	size_t buffer_bytes;     /* bytes of each buffer readable (live: headers) */
};
int cli_guest_open(struct vmmap_ctx *ctx, char *const *pos, int npos, struct cli_guest *g,
		   int *used);
void cli_guest_close(struct cli_guest *g);
/* The reader of guest-physical bytes (vq_read_fn) and its argument. */
vq_read_fn cli_guest_reader(struct cli_guest *g, void **arg);
/* The first piece of [gpa, gpa + len): readable bytes, or a run that is
 * not (with why). */
void cli_guest_piece(struct cli_guest *g, uint64_t gpa, uint64_t len, void *buf,
		     struct vm_gm_piece *p);
/* The queue's part of the in-flight area (malloc'ed): 0, or -ENOENT. */
int cli_guest_inflight(struct cli_guest *g, unsigned index, bool packed, uint8_t **buf,
		       size_t *len, uint16_t *queue_size);

/*
 * The capture document so far, with end as its end reason: the session
 * (vu_session_to_json) and, in its capture section, the snapshot of guest
 * memory: taken now while guest memory is there, else the last one.
 * NULL: out of memory.
 */
json_t *cli_capture_doc(struct cli_capture *c, const char *end);
/*
 * Parses capture's options (argv[0] is "capture"), checks them and starts
 * the capture: a socket, or a --replay run to its end.  shell_name: the
 * shell's table name (violations print as its status lines, no summary,
 * no document on standard output), or NULL.  Returns 0 (*out set),
 * VMMAP_HELP_SHOWN, or VMMAP_EXIT_ERROR (reported).
 */
int cli_capture_open(struct vmmap_ctx *ctx, int argc, char **argv, const char *shell_name,
		     struct cli_capture **out);
/* The capture engine's callbacks that print (capture_trace.c): the
 * --follow lines of each kind of message, violations, events. */
void cli_capture_follow(void *arg, struct vu_capture *vc, const struct vu_msg *m,
			const struct vu_reply *r, size_t updates_before);
void cli_capture_follow_reply(void *arg, struct vu_capture *vc, const struct vu_msg *m,
			      const struct vu_reply_rec *rec, size_t updates_before);
void cli_capture_follow_channel(void *arg, struct vu_capture *vc, const struct vu_msg *m,
				const struct vu_reply_rec *rec);
void cli_capture_violation(void *arg, struct vu_capture *vc, const struct vu_violation *v);
void cli_capture_event(void *arg, struct vu_capture *vc, const char *line);
/* Writes the capture so far with this end reason (a checkpoint). */
int cli_capture_write(struct cli_capture *c, const char *end);
/* The exit status of a capture that ended. */
int cli_capture_status(struct cli_capture *c);
void cli_capture_close(struct cli_capture *c);

/* Exactly one query, in the same forms (for --batch lines). */
int cli_parse_query(struct vmmap_ctx *ctx, char **args, int n,
		    struct cli_query *q);

/*
 * A name from a table file (region, device, table) for text output: s
 * itself when it holds no control character, else a copy with them escaped
 * as \n, \t, \xNN (as the diagnostics are), so a name cannot forge a row
 * or send the terminal an escape sequence.  The copy lives until the 8th
 * call after this one.  JSON output takes names as they are.
 */
const char *cli_safe(const char *s);
/* Why addr is unmapped in space s (translate_why.c): the regions below
 * and above its hole ({"below", "above"}: {"region", "distance"} or
 * null) and, given a capture file's section (t->capture parsed once by
 * the caller; NULL: none), its "history" in the timeline; NULL
 * when out of memory.  And the same as text lines. */
json_t *cli_why_unmapped(const struct vm_table *t, json_t *capture, enum vm_space s,
			 uint64_t addr, const struct vm_translation *tr);
void cli_why_unmapped_print(json_t *why, enum vm_space s);
/* show --map and --svg FILE (show_map.c): the picture of a table's
 * address spaces, as text on stdout or an SVG file.  0 or
 * VMMAP_EXIT_ERROR (reported). */
int cli_show_map(struct vmmap_ctx *ctx, const struct vm_table *t);
int cli_show_svg(struct vmmap_ctx *ctx, const struct vm_table *t, const char *path);
/* show of a capture file: its capture section (JSON text) after the
 * table (show_capture.c). */
void cli_show_capture(const char *capture);
/* The same for an import's "import" section (its source, the RAM never
 * sent or private). */
void cli_show_import(const char *import);

/* Fixed-width inclusive range "%016x-%016x". */
#define CLI_RANGE_MAX 40
void cli_fmt_range(char buf[CLI_RANGE_MAX], uint64_t first, uint64_t last);
/* A registration's range: inclusive, or "ADDR (any length)" for len 0. */
void cli_fmt_io_range(char buf[CLI_RANGE_MAX], const struct vm_io_range *io);

#endif
