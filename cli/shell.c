/*
 * vmmap's shell: the command grammar of the command line, one command per
 * line, dispatched through the same command table; named tables to work on;
 * editing verbs; a capture that runs in the background while the prompt
 * waits.  On a terminal it uses libedit (emacs keys, ~/.editrc, history, tab
 * completion); otherwise it reads plain lines with no prompt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <histedit.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "num.h"
#include "shell.h"
#include "vhost_user.h"

#define MAX_WORDS 64

struct shell_table {
	char *name;
	char *source;        /* the file, or "capture PATH" */
	struct vm_table *t;  /* owned, unless it is the capture's */
	bool live;           /* the table of the running or ended capture */
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
	const char *in_name;
	unsigned lineno;
	char where[PATH_MAX + 16];
};

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

/* ---- tables ---- */

static struct shell_table *find_table(struct vmmap_shell *sh, const char *name)
{
	for (size_t i = 0; i < sh->ntables; i++)
		if (!strcmp(sh->tables[i].name, name))
			return &sh->tables[i];
	return NULL;
}

const struct vm_table *shell_table(struct vmmap_shell *sh, const char *name,
				   const char **canon)
{
	struct shell_table *st;

	if (name)
		st = find_table(sh, name);
	else
		st = sh->current >= 0 ? &sh->tables[sh->current] : NULL;
	if (!st)
		return NULL;
	*canon = st->name;
	return st->t;
}

/* Whether the background capture still runs. */
static bool capture_running(const struct vmmap_shell *sh)
{
	return sh->cap && sh->cap->run->cap.phase != VU_CAPTURE_DONE;
}

static void free_table(struct vmmap_shell *sh, struct shell_table *st)
{
	if (st->live && sh->cap) {
		/* The table is the capture's: stop the capture with it. */
		struct shell_capture *c = sh->cap;

		cli_capture_close(c->run);
		free(c->name);
		free(c);
		sh->cap = NULL;
	} else if (!st->live) {
		vm_table_clean(st->t);
		free(st->t);
	}
	free(st->name);
	free(st->source);
}

/* Adds (or replaces) a table and makes it current. */
static int add_table(struct vmmap_ctx *ctx, struct vmmap_shell *sh,
		     const char *name, const char *source, struct vm_table *t,
		     bool live)
{
	struct shell_table *st = find_table(sh, name), *v;

	if (st && st->live && !live)
		return cli_error(ctx, "usage", "'%s' is the capture's table; unload it first",
				 name);
	if (st) {
		free_table(sh, st);
	} else {
		v = realloc(sh->tables, (sh->ntables + 1) * sizeof(*v));
		if (!v)
			return cli_error(ctx, "nomem", "out of memory");
		sh->tables = v;
		st = &sh->tables[sh->ntables++];
	}
	st->name = strdup(name);
	st->source = strdup(source);
	st->t = t;
	st->live = live;
	if (!st->name || !st->source)
		return cli_error(ctx, "nomem", "out of memory");
	sh->current = (int)(st - sh->tables);
	return 0;
}

/* The default name of a table file: its base name without ".json". */
static void table_name_of(const char *path, char *out, size_t n)
{
	char tmp[PATH_MAX];
	char *b, *dot;

	snprintf(tmp, sizeof(tmp), "%s", path);
	b = basename(tmp);
	snprintf(out, n, "%s", b);
	dot = strrchr(out, '.');
	if (dot && dot != out && !strcmp(dot, ".json"))
		*dot = '\0';
}

static int load_into(struct vmmap_ctx *ctx, struct vmmap_shell *sh,
		     const char *path, const char *name)
{
	struct vm_table *t = malloc(sizeof(*t));
	struct vm_error err;
	char defname[NAME_MAX + 1];
	int rc;

	if (!t)
		return cli_error(ctx, "nomem", "out of memory");
	vm_table_init(t);
	if (cli_load_table(t, path, 0, &err)) {
		free(t);
		return cli_input_error(ctx, err.msg);
	}
	if (!name) {
		table_name_of(path, defname, sizeof(defname));
		name = defname;
	}
	if ((rc = add_table(ctx, sh, name, path, t, false))) {
		vm_table_clean(t);
		free(t);
		return rc;
	}
	if (!ctx->quiet)
		fprintf(stderr, "%s: %zu region%s, %zu registration%s\n", name,
			t->umem.nregions, t->umem.nregions == 1 ? "" : "s",
			(size_t)(t->bus[0].dev_count + t->bus[1].dev_count +
				 t->bus[2].dev_count + t->bus[3].dev_count),
			t->bus[0].dev_count + t->bus[1].dev_count + t->bus[2].dev_count +
			t->bus[3].dev_count == 1 ? "" : "s");
	return 0;
}

/* The current table, for the editing verbs. */
static struct shell_table *editable(struct vmmap_ctx *ctx, struct vmmap_shell *sh)
{
	struct shell_table *st = sh->current >= 0 ? &sh->tables[sh->current] : NULL;

	if (!st) {
		cli_error(ctx, "usage", "no table loaded (try 'load FILE')");
		return NULL;
	}
	if (st->live) {
		cli_error(ctx, "usage", "'%s' is being captured and cannot be edited; "
			  "save it and load the copy", st->name);
		return NULL;
	}
	return st;
}

/* ---- verbs ---- */

static int parse_u64(struct vmmap_ctx *ctx, const char *what, const char *s,
		     int size, uint64_t *out)
{
	const char *why;

	if ((size ? vm_parse_size : vm_parse_addr)(s, out, &why))
		return cli_error(ctx, "usage", "invalid %s '%s': %s", what, s, why);
	return 0;
}

static int usage(struct vmmap_ctx *ctx, const char *text)
{
	return cli_error(ctx, "usage", "usage: %s", text);
}

static int verb_load(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		     char **argv)
{
	if (argc >= 2 && cli_files_allowed(ctx, argv[1]))
		return VMMAP_EXIT_ERROR;
	if (argc == 2)
		return load_into(ctx, sh, argv[1], NULL);
	if (argc == 4 && !strcmp(argv[2], "as"))
		return load_into(ctx, sh, argv[1], argv[3]);
	return usage(ctx, "load FILE [as NAME]");
}

static int verb_tables(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		       char **argv)
{
	(void)argv;
	if (argc != 1)
		return usage(ctx, "tables");
	if (ctx->json) {
		json_t *arr = json_array();

		for (size_t i = 0; arr && i < sh->ntables; i++) {
			const struct shell_table *st = &sh->tables[i];

			if (json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b, s:I}",
					"name", st->name, "source", st->source,
					"current", (int)i == sh->current, "live", st->live,
					"regions", (json_int_t)st->t->umem.nregions))) {
				json_decref(arr);
				arr = NULL;
			}
		}
		return cli_emit_json(ctx, arr);
	}
	if (ctx->quiet)
		return 0;
	for (size_t i = 0; i < sh->ntables; i++) {
		const struct shell_table *st = &sh->tables[i];
		size_t regs = 0;

		for (int b = 0; b < VM_NR_BUSES; b++)
			regs += st->t->bus[b].dev_count;
		printf("%c %-16s %5zu region%s %5zu registration%s  %s%s\n",
		       (int)i == sh->current ? '*' : ' ', st->name, st->t->umem.nregions,
		       st->t->umem.nregions == 1 ? " " : "s", regs, regs == 1 ? " " : "s",
		       st->source,
		       st->live ? (capture_running(sh) ? " (live)" : " (ended)") : "");
	}
	return 0;
}

static int verb_use(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		    char **argv)
{
	struct shell_table *st;

	if (argc != 2)
		return usage(ctx, "use NAME");
	if (!(st = find_table(sh, argv[1])))
		return cli_error(ctx, "usage", "no table named '%s'", argv[1]);
	sh->current = (int)(st - sh->tables);
	return 0;
}

static int verb_unload(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		       char **argv)
{
	struct shell_table *st;
	size_t i;

	if (argc != 2)
		return usage(ctx, "unload NAME");
	if (!(st = find_table(sh, argv[1])))
		return cli_error(ctx, "usage", "no table named '%s'", argv[1]);
	i = (size_t)(st - sh->tables);
	free_table(sh, st);
	memmove(st, st + 1, (sh->ntables - i - 1) * sizeof(*st));
	sh->ntables--;
	if (sh->current == (int)i)
		sh->current = sh->ntables ? 0 : -1;
	else if (sh->current > (int)i)
		sh->current--;
	return 0;
}

static int verb_region(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		       char **argv)
{
	static const char *const use =
		"region add GPA SIZE UADDR [OFFSET] [NAME] | region remove GPA SIZE UADDR "
		"| region remove NAME";
	struct shell_table *st;
	struct vm_region r = { 0 };
	struct vm_umem_node *n;

	if (argc < 3)
		return usage(ctx, use);
	if (!(st = editable(ctx, sh)))
		return VMMAP_EXIT_ERROR;
	if (!strcmp(argv[1], "add") && argc >= 5 && argc <= 7) {
		if (parse_u64(ctx, "guest_phys_addr", argv[2], 0, &r.guest_phys_addr) ||
		    parse_u64(ctx, "memory_size", argv[3], 1, &r.memory_size) ||
		    parse_u64(ctx, "userspace_addr", argv[4], 0, &r.userspace_addr) ||
		    (argc >= 6 && parse_u64(ctx, "mmap_offset", argv[5], 0, &r.mmap_offset)))
			return VMMAP_EXIT_ERROR;
		r.name = argc == 7 ? argv[6] : NULL;
		switch (vm_umem_add(&st->t->umem, &r, NULL)) {
		case 0:
			return 0;
		case -EINVAL:
			return cli_error(ctx, "usage", "memory_size must not be 0");
		case -EOVERFLOW:
			return cli_error(ctx, "usage", "the region runs past 2^64-1");
		default:
			return cli_error(ctx, "nomem", "out of memory");
		}
	}
	if (!strcmp(argv[1], "remove") && argc == 5) {
		if (parse_u64(ctx, "guest_phys_addr", argv[2], 0, &r.guest_phys_addr) ||
		    parse_u64(ctx, "memory_size", argv[3], 1, &r.memory_size) ||
		    parse_u64(ctx, "userspace_addr", argv[4], 0, &r.userspace_addr))
			return VMMAP_EXIT_ERROR;
		n = vm_umem_find(&st->t->umem, r.guest_phys_addr, r.userspace_addr,
				 r.memory_size);
		if (!n)
			return cli_error(ctx, "usage", "no region 0x%" PRIx64 "+0x%" PRIx64
					 " at userspace_addr 0x%" PRIx64 " in '%s'",
					 r.guest_phys_addr, r.memory_size, r.userspace_addr,
					 st->name);
		vm_umem_remove(&st->t->umem, n);
		return 0;
	}
	if (!strcmp(argv[1], "remove") && argc == 3) {
		for (n = st->t->umem.head; n; n = n->next)
			if (n->region.name && !strcmp(n->region.name, argv[2]))
				break;
		if (!n)
			return cli_error(ctx, "usage", "no region named '%s' in '%s'", argv[2],
					 st->name);
		vm_umem_remove(&st->t->umem, n);
		return 0;
	}
	return usage(ctx, use);
}

static int verb_device(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		       char **argv)
{
	static const char *const use =
		"device add BUS ADDR LEN NAME [KIND] | device remove BUS ADDR LEN NAME "
		"| device remove BUS NAME";
	struct shell_table *st;
	uint64_t addr, len;
	int bus, kind = VM_IO_DEVICE;
	long rc;

	if (argc < 4)
		return usage(ctx, use);
	if (!(st = editable(ctx, sh)))
		return VMMAP_EXIT_ERROR;
	if ((bus = vm_bus_from_name(argv[2])) < 0)
		return cli_error(ctx, "usage",
				 "unknown bus '%s' (buses: mmio, pio, virtio-ccw, fast-mmio)",
				 argv[2]);
	if (!strcmp(argv[1], "add") && (argc == 6 || argc == 7)) {
		if (parse_u64(ctx, "address", argv[3], 0, &addr) ||
		    parse_u64(ctx, "length", argv[4], 1, &len))
			return VMMAP_EXIT_ERROR;
		if (argc == 7 && (kind = vm_io_kind_from_name(argv[6])) < 0)
			return cli_error(ctx, "usage", "unknown kind '%s' (kinds: device, "
					 "ioeventfd, coalesced)", argv[6]);
		rc = vm_io_bus_register_dev(&st->t->bus[bus], addr, len, argv[5], kind);
		if (rc == -EOVERFLOW)
			return cli_error(ctx, "usage", "the range runs past 2^64-1");
		if (rc == -ENOSPC)
			return cli_error(ctx, "usage", "bus %s already holds %d registrations "
					 "that are not ioeventfds (NR_IOBUS_DEVS)", argv[2],
					 VM_NR_IOBUS_DEVS);
		return rc < 0 ? cli_error(ctx, "nomem", "out of memory") : 0;
	}
	if (!strcmp(argv[1], "remove") && argc == 6) {
		if (parse_u64(ctx, "address", argv[3], 0, &addr) ||
		    parse_u64(ctx, "length", argv[4], 1, &len))
			return VMMAP_EXIT_ERROR;
		if (vm_io_bus_unregister_dev(&st->t->bus[bus], addr, len, argv[5]))
			return cli_error(ctx, "usage", "no %s registration of '%s' at %s+%s",
					 argv[2], argv[5], argv[3], argv[4]);
		return 0;
	}
	if (!strcmp(argv[1], "remove") && argc == 4) {
		const struct vm_io_bus *b = &st->t->bus[bus];

		for (size_t i = 0; i < b->dev_count; i++)
			if (!strcmp(b->range[i].dev, argv[3])) {
				vm_io_bus_remove(&st->t->bus[bus], i);
				return 0;
			}
		return cli_error(ctx, "usage", "no %s registration of '%s'", argv[2], argv[3]);
	}
	return usage(ctx, use);
}

static int verb_save(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		     char **argv)
{
	const struct shell_table *st = sh->current >= 0 ? &sh->tables[sh->current] : NULL;
	json_t *doc;
	char *text;
	int rc;

	if (argc != 2)
		return usage(ctx, "save FILE|-");
	if (strcmp(argv[1], "-") && cli_files_allowed(ctx, argv[1]))
		return VMMAP_EXIT_ERROR;
	if (!st)
		return cli_error(ctx, "usage", "no table loaded (try 'load FILE')");
	doc = vm_table_to_json(st->t, 0);
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	if (!text)
		return cli_error(ctx, "nomem", "out of memory");
	if (!strcmp(argv[1], "-")) { /* standard output, as everywhere else */
		if (!ctx->quiet)
			printf("%s\n", text);
		rc = 0;
	} else {
		rc = cli_write_atomic(ctx, argv[1], text);
	}
	free(text);
	return rc;
}

/* ---- background capture ---- */

static const char *live_name(struct vmmap_shell *sh)
{
	for (size_t i = 0; i < sh->ntables; i++)
		if (sh->tables[i].live)
			return sh->tables[i].name;
	return "live";
}

/*
 * capture [OPTIONS] [as NAME]: vmmap capture's own options, parsed and
 * checked by the same code, run in the background by the same engine.
 */
static int verb_capture(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
			char **argv)
{
	const char *name = "live", *source;
	struct shell_capture *c;
	int rc;

	if (cli_files_allowed(ctx, "capture"))
		return VMMAP_EXIT_ERROR;
	if (argc >= 3 && !strcmp(argv[argc - 2], "as")) {
		name = argv[argc - 1];
		argc -= 2;
	}
	if (sh->cap)
		return cli_error(ctx, "usage", "a capture already runs into '%s'; "
				 "unload it first", live_name(sh));
	if (find_table(sh, name))
		return cli_error(ctx, "usage", "a table named '%s' exists; use 'as NAME'",
				 name);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(name))) {
		free(c);
		return cli_error(ctx, "nomem", "out of memory");
	}
	if ((rc = cli_capture_open(ctx, argc, argv, c->name, &c->run))) {
		free(c->name);
		free(c);
		return rc < 0 ? 0 : rc; /* VMMAP_HELP_SHOWN */
	}
	sh->cap = c;
	source = c->run->a.listen ? c->run->a.listen : c->run->a.connect
		 ? c->run->a.connect : c->run->a.replay;
	if ((rc = add_table(ctx, sh, name, source, &c->run->cap.s.table, true)))
		return rc;
	if (!ctx->quiet)
		fprintf(stderr, "%s: capturing from %s in the background\n", name, source);
	return 0;
}

/* Status lines about the capture: each table change, and its end. */
static void capture_status(struct vmmap_shell *sh)
{
	struct shell_capture *c = sh->cap;
	const struct vu_capture *vc;

	if (!c)
		return;
	vc = &c->run->cap;
	if (vc->s.nupdates > c->updates_seen) {
		const struct vu_update *u = &vc->s.updates[vc->s.nupdates - 1];

		fprintf(stderr, "\r%s: %s (message %zu), now %zu region%s\n",
			c->name, vhost_user_request_name(u->request), u->msg,
			vc->s.table.umem.nregions, vc->s.table.umem.nregions == 1 ? "" : "s");
		c->updates_seen = vc->s.nupdates;
	}
	if (vc->s.nupdates < c->updates_seen) /* a new session began */
		c->updates_seen = vc->s.nupdates;
	if (vc->phase == VU_CAPTURE_DONE && !c->end_reported) {
		fprintf(stderr, "\r%s: capture ended (%s) after %zu messages\n",
			c->name, vc->end, vc->s.nmsgs);
		if (vc->failed)
			cli_capture_status(c->run); /* says why */
		c->end_reported = true;
	}
}

/*
 * Waits until fd is readable, serving the capture meanwhile: the engine
 * never blocks, so neither does the prompt.  Returns 1 readable, 0
 * interrupted by SIGINT, -1 error.
 */
static int wait_input(struct vmmap_shell *sh, int fd)
{
	for (;;) {
		struct pollfd p[1 + VU_CAPTURE_MAX_POLL] = { { .fd = fd, .events = POLLIN } };
		struct vu_capture *vc = capture_running(sh) ? &sh->cap->run->cap : NULL;
		uint64_t wake = 0, now;
		int n = vc ? vu_capture_pollfds(vc, p + 1, &wake) : 0, r, ms = -1;

		if (wake) {
			now = cli_now_ns();
			ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
		}
		r = poll(p, (nfds_t)(1 + n), ms);
		if (r < 0 && errno == EINTR) {
			if (got_sigint)
				return 0;
			continue;
		}
		if (r < 0)
			return -1;
		if (vc && (r == 0 || r > (p[0].revents != 0))) {
			size_t before = vc->s.nupdates;

			vu_capture_step(vc, p + 1, n, cli_now_ns());
			if (vc->s.nupdates != before || vc->phase == VU_CAPTURE_DONE) {
				capture_status(sh);
				if (sh->el)
					el_set(sh->el, EL_REFRESH);
			}
		}
		if (p[0].revents)
			return 1;
	}
}

/* ---- dispatch ---- */

static int run_line(struct vmmap_shell *sh, int argc, char **argv);

static int verb_help(struct vmmap_ctx *ctx, struct vmmap_shell *sh, int argc,
		     char **argv)
{
	const struct vmmap_cmd *cmds, *cmd;
	size_t n;

	if (argc == 2 && (cmd = vmmap_command(argv[1]))) {
		char *hargv[] = { argv[1], "--help", NULL };

		return run_line(sh, 2, hargv);
	}
	if (argc > 2 || (argc == 2 && !vmmap_command(argv[1])))
		return usage(ctx, "help [COMMAND]");
	cmds = vmmap_commands(&n);
	printf("Commands (as on the command line, FILE may name a loaded table or be "
	       "left out):\n");
	for (size_t i = 0; i < n; i++)
		if (strcmp(cmds[i].name, "shell") && strcmp(cmds[i].name, "batch") &&
		    strcmp(cmds[i].name, "help")) /* help is the verb below */
			printf("  %-9s %s\n", cmds[i].name, cmds[i].summary);
	printf("Shell:\n"
	       "  load FILE [as NAME]       load a table and make it current\n"
	       "  tables                    list the loaded tables\n"
	       "  use NAME                  make NAME the current table\n"
	       "  unload NAME               forget a table (and stop its capture)\n"
	       "  region add GPA SIZE UADDR [OFFSET] [NAME]\n"
	       "  region remove GPA SIZE UADDR | region remove NAME\n"
	       "  device add BUS ADDR LEN NAME [KIND]\n"
	       "  device remove BUS ADDR LEN NAME | device remove BUS NAME\n"
	       "  save FILE|-               write the current table (atomically; - prints it)\n"
	       "  capture OPTIONS [as NAME]  capture in the background (vmmap capture's options)\n"
	       "  help [COMMAND]            this list, or a command's options\n"
	       "  quit, exit, Ctrl-D        leave\n"
	       "Lines may start with -j, -p or -q.\n");
	return 0;
}

typedef int (*verb_fn)(struct vmmap_ctx *, struct vmmap_shell *, int, char **);

static const struct {
	const char *name;
	verb_fn fn;
} verbs[] = {
	{ "load", verb_load }, { "tables", verb_tables }, { "use", verb_use },
	{ "unload", verb_unload }, { "region", verb_region }, { "device", verb_device },
	{ "save", verb_save }, { "capture", verb_capture }, { "help", verb_help },
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

/* Runs one tokenized line; returns its exit status. */
static int run_line(struct vmmap_shell *sh, int argc, char **argv)
{
	struct vmmap_ctx ctx = sh->base;
	const struct vmmap_cmd *cmd;
	int i = 0, rc;

	ctx.shell = sh;
	ctx.argp_flags = ARGP_NO_EXIT;
	ctx.cmd = NULL;
	ctx.where = sh->interactive ? NULL : sh->where;
	/* Per-line global flags. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			ctx.json = true;
		else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty"))
			ctx.json = ctx.pretty = true;
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			ctx.quiet = true;
		else
			return cli_error(&ctx, "usage", "unknown option '%s' before the command",
					 argv[i]);
	}
	if (i == argc)
		return 0;
	argc -= i;
	argv += i;
	if (!strcmp(argv[0], "quit") || !strcmp(argv[0], "exit")) {
		sh->quit = true;
		return 0;
	}
	for (size_t v = 0; v < NVERBS; v++)
		if (!strcmp(argv[0], verbs[v].name)) {
			ctx.cmd = verbs[v].name;
			return verbs[v].fn(&ctx, sh, argc, argv);
		}
	cmd = vmmap_command(argv[0]);
	if (!cmd || !strcmp(cmd->name, "shell") || !strcmp(cmd->name, "batch"))
		return cli_error(&ctx, "usage", cmd ? "'%s' does not run inside the shell"
					: "unknown command '%s' (try 'help')", argv[0]);
	ctx.cmd = cmd->name;
	rc = cmd->fn(&ctx, argc, argv);
	return rc < 0 ? 0 : rc; /* VMMAP_HELP_SHOWN */
}

/* Splits a line like sh (quotes, backslashes); '#' starts a comment. */
static int run_text(struct vmmap_shell *sh, const char *line)
{
	const char **targv;
	char *argv[MAX_WORDS + 1];
	int argc, n = 0, rc;

	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line || *line == '#' || *line == '\n')
		return 0;
	tok_reset(sh->tok);
	if (tok_str(sh->tok, line, &argc, &targv) != 0) {
		struct vmmap_ctx ctx = sh->base;

		return cli_error(&ctx, "usage", "unbalanced quotes");
	}
	for (int i = 0; i < argc && n < MAX_WORDS && targv[i][0] != '#'; i++)
		argv[n++] = (char *)targv[i];
	argv[n] = NULL;
	rc = run_line(sh, n, argv);
	fflush(stdout);
	return rc;
}

/* ---- plain input ---- */

/* Reads one line (without the newline) into *line; 0 at end of input. */
static int plain_line(struct vmmap_shell *sh, char **line, enum cli_line *kind)
{
	for (;;) {
		size_t len;
		char *l = cli_lines_take(&sh->lines, &len, kind);

		if (l) {
			*line = strdup(l);
			return *line ? 1 : -1;
		}
		if (sh->lines.eof)
			return 0;
		if (wait_input(sh, sh->infd) <= 0) {
			got_sigint = 0;
			continue;
		}
		if (cli_lines_fill(&sh->lines))
			return 0;
	}
}

/* ---- libedit ---- */

static char *prompt_fn(EditLine *el)
{
	struct vmmap_shell *sh;

	el_get(el, EL_CLIENTDATA, &sh);
	if (capture_running(sh))
		snprintf(sh->prompt, sizeof(sh->prompt), "vmmap [%s: %zu region%s]> ",
			 live_name(sh), sh->cap->run->cap.s.table.umem.nregions,
			 sh->cap->run->cap.s.table.umem.nregions == 1 ? "" : "s");
	else
		snprintf(sh->prompt, sizeof(sh->prompt), "vmmap> ");
	return sh->prompt;
}

/* Ctrl-C at the prompt (ISIG is off while editing): discard the line. */
static unsigned char discard_fn(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);

	(void)ch;
	el_cursor(el, (int)(li->lastchar - li->cursor));
	el_deletestr(el, (int)(li->lastchar - li->buffer));
	fputs("^C\n", stdout);
	return CC_REDISPLAY;
}

/* Reads a character for libedit, serving the capture while it waits. */
static int getc_fn(EditLine *el, wchar_t *wc)
{
	struct vmmap_shell *sh;
	static mbstate_t mbs;

	el_get(el, EL_CLIENTDATA, &sh);
	for (;;) {
		char ch;
		int r = wait_input(sh, sh->infd);

		if (r == 0) {
			got_sigint = 0;
			continue;
		}
		if (r < 0)
			return -1;
		r = (int)read(sh->infd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r;
		switch (mbrtowc(wc, &ch, 1, &mbs)) {
		case (size_t)-2: /* incomplete: read more */
			continue;
		case (size_t)-1:
			memset(&mbs, 0, sizeof(mbs));
			*wc = (unsigned char)ch;
			return 1;
		default:
			return 1;
		}
	}
}

struct words {
	const char *v[256];
	size_t n;
};

static void add_word(struct words *w, const char *s)
{
	if (w->n < 256)
		w->v[w->n++] = s;
}

/* Completes word (the text before the cursor) from candidates. */
static unsigned char complete_from(EditLine *el, const char *word,
				   const struct words *cand, const char *suffix)
{
	const char *match[256];
	size_t nm = 0, wl = strlen(word), common = 0;

	for (size_t i = 0; i < cand->n; i++)
		if (!strncmp(cand->v[i], word, wl))
			match[nm++] = cand->v[i];
	if (!nm)
		return CC_ERROR;
	common = strlen(match[0]);
	for (size_t i = 1; i < nm; i++) {
		size_t k = 0;

		while (k < common && match[i][k] == match[0][k])
			k++;
		common = k;
	}
	if (common > wl) {
		char ins[512];

		snprintf(ins, sizeof(ins), "%.*s%s", (int)(common - wl), match[0] + wl,
			 nm == 1 ? suffix : "");
		el_insertstr(el, ins);
		return CC_REFRESH;
	}
	if (nm == 1) {
		el_insertstr(el, suffix);
		return CC_REFRESH;
	}
	fputc('\n', stdout);
	for (size_t i = 0; i < nm; i++)
		printf("%s%s", match[i], i + 1 < nm ? "  " : "\n");
	fflush(stdout);
	return CC_REDISPLAY;
}

/* File names for a partial path. */
static unsigned char complete_file(EditLine *el, const char *word)
{
	static char names[256][256];
	struct words w = { .n = 0 };
	char dirpart[PATH_MAX];
	const char *slash = strrchr(word, '/'), *base = slash ? slash + 1 : word;
	DIR *d;
	struct dirent *e;

	snprintf(dirpart, sizeof(dirpart), "%.*s", slash ? (int)(slash - word + 1) : 0,
		 word);
	d = opendir(dirpart[0] ? dirpart : ".");
	if (!d)
		return CC_ERROR;
	while ((e = readdir(d)) && w.n < 256) {
		struct stat st;
		char full[PATH_MAX + 256];

		if (e->d_name[0] == '.' && base[0] != '.')
			continue;
		/* A name too long to hold is skipped, never offered cut short. */
		if (snprintf(full, sizeof(full), "%s%s", dirpart, e->d_name) >=
		    (int)sizeof(full) ||
		    snprintf(names[w.n], sizeof(names[0]), "%s%s", full,
			     !stat(full, &st) && S_ISDIR(st.st_mode) ? "/" : "") >=
		    (int)sizeof(names[0]))
			continue;
		add_word(&w, names[w.n]);
	}
	closedir(d);
	/* A directory gets no trailing space, so the path can go on. */
	if (w.n == 1 && w.v[0][strlen(w.v[0]) - 1] == '/') {
		if (strlen(w.v[0]) > strlen(word))
			el_insertstr(el, w.v[0] + strlen(word));
		return CC_REFRESH;
	}
	return complete_from(el, word, &w, " ");
}

static unsigned char complete_fn(EditLine *el, int ch)
{
	struct vmmap_shell *sh;
	const LineInfo *li = el_line(el);
	const char **argv;
	int argc, cursor_word, cursor_off, first = 0;
	struct words w = { .n = 0 };
	char word[512];
	const char *cmd;
	size_t ncmds;
	const struct vmmap_cmd *cmds;

	(void)ch;
	el_get(el, EL_CLIENTDATA, &sh);
	tok_reset(sh->tok);
	if (tok_line(sh->tok, li, &argc, &argv, &cursor_word, &cursor_off) < 0)
		return CC_ERROR;
	if (cursor_word < argc)
		snprintf(word, sizeof(word), "%.*s", cursor_off, argv[cursor_word]);
	else
		word[0] = '\0';
	while (first < argc && first < cursor_word && argv[first][0] == '-')
		first++;
	if (cursor_word == first) {
		cmds = vmmap_commands(&ncmds);
		for (size_t i = 0; i < ncmds; i++)
			if (strcmp(cmds[i].name, "shell") && strcmp(cmds[i].name, "batch"))
				add_word(&w, cmds[i].name);
		for (size_t i = 0; i < NVERBS; i++)
			add_word(&w, verbs[i].name);
		add_word(&w, "quit");
		add_word(&w, "exit");
		return complete_from(el, word, &w, " ");
	}
	cmd = argv[first];
	if (word[0] == '-') {
		/* The command's own long options, from its argp table, plus the
		 * global ones. */
		static char dashed[64][48];
		const struct vmmap_cmd *c = vmmap_command(cmd);
		size_t n = 0;

		add_word(&w, "--json");
		add_word(&w, "--pretty");
		add_word(&w, "--quiet");
		add_word(&w, "--help");
		if (c && c->argp)
			for (const struct argp_option *o = c->argp->options;
			     o && (o->name || o->key) && n < 64; o++) {
				if (!o->name)
					continue;
				snprintf(dashed[n], sizeof(dashed[0]), "--%s", o->name);
				add_word(&w, dashed[n++]);
			}
		return complete_from(el, word, &w, " ");
	}
	/* Arguments: what each command takes at this position. */
	{
		int pos = cursor_word - first; /* 1 = first argument */
		const char *prev = cursor_word > 0 ? argv[cursor_word - 1] : "";

		if (!strcmp(cmd, "load") || !strcmp(cmd, "save") ||
		    !strcmp(prev, "--listen") || !strcmp(prev, "--connect"))
			return complete_file(el, word);
		if (!strcmp(prev, "--from")) {
			add_word(&w, "gpa");
			add_word(&w, "uaddr");
			return complete_from(el, word, &w, " ");
		}
		if (!strcmp(prev, "--profile") || !strcmp(prev, "-P")) {
			add_word(&w, "vhost-kernel");
			add_word(&w, "vhost-user");
			add_word(&w, "vhost-user-slots");
			add_word(&w, "kvm");
			return complete_from(el, word, &w, " ");
		}
		if (!strcmp(cmd, "help")) {
			cmds = vmmap_commands(&ncmds);
			for (size_t i = 0; i < ncmds; i++)
				add_word(&w, cmds[i].name);
			return complete_from(el, word, &w, " ");
		}
		if ((!strcmp(cmd, "region") || !strcmp(cmd, "device")) && pos == 1) {
			add_word(&w, "add");
			add_word(&w, "remove");
			return complete_from(el, word, &w, " ");
		}
		if (!strcmp(cmd, "device") && pos == 2) {
			for (int b = 0; b < VM_NR_BUSES; b++)
				add_word(&w, vm_bus_name(b));
			return complete_from(el, word, &w, " ");
		}
		if (sh->current >= 0 && !strcmp(cmd, "region") && pos == 2 &&
		    !strcmp(argv[first + 1], "remove")) {
			for (const struct vm_umem_node *n = sh->tables[sh->current].t->umem.head;
			     n; n = n->next)
				if (n->region.name)
					add_word(&w, n->region.name);
			return complete_from(el, word, &w, " ");
		}
		if (sh->current >= 0 && !strcmp(cmd, "device") && pos == 3 &&
		    !strcmp(argv[first + 1], "remove")) {
			int b = vm_bus_from_name(argv[first + 2]);

			for (size_t i = 0; b >= 0 && i < sh->tables[sh->current].t->bus[b].dev_count; i++)
				add_word(&w, sh->tables[sh->current].t->bus[b].range[i].dev);
			return complete_from(el, word, &w, " ");
		}
		/* Otherwise: table names, bus names for lookup, then files. */
		for (size_t i = 0; i < sh->ntables; i++)
			add_word(&w, sh->tables[i].name);
		if (!strcmp(cmd, "lookup"))
			for (int b = 0; b < VM_NR_BUSES; b++)
				add_word(&w, vm_bus_name(b));
		if (complete_from(el, word, &w, " ") != CC_ERROR)
			return CC_REFRESH;
		return complete_file(el, word);
	}
}

/* ---- history ---- */

static char *history_path(void)
{
	const char *env = getenv("VMMAP_HISTFILE"), *state, *home;
	char dir[PATH_MAX], *p = NULL;

	if (env)
		return *env ? strdup(env) : NULL; /* empty: no history */
	state = getenv("XDG_STATE_HOME");
	home = getenv("HOME");
	if (state && *state)
		snprintf(dir, sizeof(dir), "%s/vmmap", state);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.local/state/vmmap", home);
	else
		return NULL;
	/* Create the directories, each 0700 (the XDG spec's mode). */
	for (char *s = dir + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(dir, 0700);
			*s = '/';
		}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return NULL;
	if (asprintf(&p, "%s/history", dir) < 0)
		return NULL;
	return p;
}

/*
 * Whether the history file can be read: one that is not a regular file (a
 * device, a FIFO: reading /dev/zero never ends) is neither read nor
 * written; a symlink is read if it leads to a regular file but never
 * written through (the file is kept as it is).  Each says so in one line.
 */
static bool history_usable(struct vmmap_shell *sh)
{
	struct vmmap_ctx ctx = sh->base;
	struct stat st;

	ctx.cmd = "shell";
	ctx.json = false;
	if (lstat(sh->histfile, &st))
		return true; /* none yet: it is created at exit */
	if (S_ISLNK(st.st_mode)) {
		sh->hist_nosave = true;
		if (stat(sh->histfile, &st) == 0 && S_ISREG(st.st_mode)) {
			cli_error(&ctx, "io", "%s: is a symbolic link: the history is read "
				  "from it but not saved (the file is kept as it is)",
				  sh->histfile);
			return true;
		}
	} else if (S_ISREG(st.st_mode)) {
		return true;
	}
	cli_error(&ctx, "io", "%s: not a regular file: the history is neither read "
		  "nor saved", sh->histfile);
	free(sh->histfile);
	sh->histfile = NULL;
	return false;
}

/* Saves the history beside the old file and renames it over: never half a
 * history, and when writing fails the old one stays.  0, or
 * VMMAP_EXIT_ERROR (reported). */
static int history_save(struct vmmap_shell *sh)
{
	struct vmmap_ctx ctx = sh->base;
	struct cli_atomic f;
	HistEvent ev;
	FILE *fp;
	int e = 0;

	if (!sh->hist || !sh->histfile || sh->hist_nosave)
		return 0;
	ctx.cmd = "shell";
	ctx.json = false;
	if (cli_atomic_open(&ctx, sh->histfile, &f))
		return VMMAP_EXIT_ERROR;
	f.mode = 0600; /* a new history is private, as bash's is */
	if (!(fp = fdopen(dup(f.fd), "w")))
		e = errno;
	else if (history(sh->hist, &ev, H_SAVE_FP, fp) < 0 || fflush(fp))
		e = errno ? errno : EIO;
	if (fp && fclose(fp) && !e)
		e = errno;
	f.err = e;
	return cli_atomic_commit(&ctx, &f);
}

static int setup_editline(struct vmmap_shell *sh, FILE *in)
{
	HistEvent ev;

	sh->el = el_init("vmmap", in, stdout, stderr);
	if (!sh->el)
		return -1;
	sh->hist = history_init();
	if (sh->hist) {
		history(sh->hist, &ev, H_SETSIZE, 1000);
		history(sh->hist, &ev, H_SETUNIQUE, 1);
		sh->histfile = history_path();
		if (sh->histfile && history_usable(sh))
			history(sh->hist, &ev, H_LOAD, sh->histfile); /* may not exist yet */
		el_set(sh->el, EL_HIST, history, sh->hist);
	}
	el_set(sh->el, EL_CLIENTDATA, sh);
	el_set(sh->el, EL_EDITOR, "emacs");
	el_set(sh->el, EL_SIGNAL, 1);
	el_set(sh->el, EL_PROMPT, prompt_fn);
	el_set(sh->el, EL_GETCFN, getc_fn);
	/* Wide names: libedit keeps them as they are, where el_set would
	 * keep converted copies that it never frees. */
	el_wset(sh->el, EL_ADDFN, L"vmmap-complete", L"Complete commands, options, names",
		complete_fn);
	el_set(sh->el, EL_BIND, "^I", "vmmap-complete", NULL);
	/* Ctrl-C reaches the editor as a key and clears the line. */
	el_wset(sh->el, EL_ADDFN, L"vmmap-discard", L"Discard the line", discard_fn);
	el_set(sh->el, EL_SETTY, "-d", "-isig", NULL);
	el_set(sh->el, EL_BIND, "^C", "vmmap-discard", NULL);
	el_source(sh->el, NULL); /* ~/.editrc */
	return 0;
}

/* ---- the loop ---- */

int shell_run(struct vmmap_ctx *base, FILE *in, const char *in_name, bool force,
	      char **files, int nfiles)
{
	struct vmmap_shell sh = { .current = -1 };
	struct sigaction sa = { .sa_handler = on_sigint }, old_sa;
	int worst = 0, hist_rc;
	enum cli_line kind = CLI_LINE_OK;

	sh.in_name = in_name;
	sh.base = *base;
	sh.infd = fileno(in);
	sh.interactive = isatty(sh.infd) && isatty(STDOUT_FILENO);
	if (!sh.interactive && cli_lines_init(&sh.lines, sh.infd))
		return cli_error(base, "nomem", "out of memory");
	sh.tok = tok_init(NULL);
	if (!sh.tok)
		return cli_error(base, "nomem", "out of memory");
	sigaction(SIGINT, &sa, &old_sa);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < nfiles; i++) {
		struct vmmap_ctx ctx = sh.base;
		int rc;

		ctx.cmd = "load";
		if ((rc = load_into(&ctx, &sh, files[i], NULL)) > worst)
			worst = rc;
	}
	if (sh.interactive && setup_editline(&sh, in))
		sh.interactive = false;

	while (!sh.quit) {
		char *line = NULL;
		int rc;

		if (sh.interactive) {
			int count;
			const char *l;

			/* Raw mode before the prompt: libedit would print the
			 * prompt first and switch at its first read, and a key
			 * typed at the prompt in between met a cooked terminal
			 * (a ^D there is an end-of-file marker, read later as
			 * a NUL key, and the shell did not leave). */
			el_set(sh.el, EL_PREP_TERM, 1);
			l = el_gets(sh.el, &count);

			if (!l) {
				if (count == -1 && errno == EINTR)
					continue;
				fputc('\n', stdout);
				break; /* Ctrl-D */
			}
			if (strlen(l) > CLI_LINE_MAX + 1) /* its newline aside */
				kind = CLI_LINE_TOO_LONG;
			line = strdup(kind == CLI_LINE_OK ? l : "");
			if (line && line[0] && line[0] != '\n' && sh.hist) {
				HistEvent ev;

				history(sh.hist, &ev, H_ENTER, line);
			}
		} else {
			int r = plain_line(&sh, &line, &kind);

			if (r <= 0)
				break;
		}
		if (!line)
			break;
		line[strcspn(line, "\n")] = '\0';
		snprintf(sh.where, sizeof(sh.where), "%s:%u", sh.in_name, ++sh.lineno);
		if (kind != CLI_LINE_OK) {
			/* One invalid line, whatever it held. */
			struct vmmap_ctx ctx = sh.base;

			ctx.where = sh.where;
			ctx.cmd = NULL;
			rc = kind == CLI_LINE_NUL
				? cli_error(&ctx, "usage", "a NUL byte in the line")
				: cli_error(&ctx, "usage", "line longer than %d bytes; skipped",
					    CLI_LINE_MAX);
			kind = CLI_LINE_OK;
		} else {
			rc = run_text(&sh, line);
		}
		free(line);
		capture_status(&sh);
		if (rc > worst)
			worst = rc;
		if (rc == VMMAP_EXIT_ERROR && !sh.interactive && !force)
			break;
	}

	hist_rc = history_save(&sh);
	if (sh.el)
		el_end(sh.el);
	if (sh.hist)
		history_end(sh.hist);
	free(sh.histfile);
	tok_end(sh.tok);
	while (sh.ntables)
		free_table(&sh, &sh.tables[--sh.ntables]);
	free(sh.tables);
	cli_lines_free(&sh.lines);
	sigaction(SIGINT, &old_sa, NULL);
	/* Interactive: a failed command was answered on screen; only a
	 * history that could not be saved is the exit status's business. */
	return sh.interactive ? hist_rc : hist_rc > worst ? hist_rc : worst;
}
