/*
 * vmmap's shell: the command grammar of the command line, one command per
 * line, dispatched through the same command table, with the shell's own
 * verbs (shell_tables.c: named tables and their editing); a capture that
 * runs in the background while the prompt waits; the loop.  On a terminal
 * it uses libedit (shell_edit.c: emacs keys, ~/.editrc, history, tab
 * completion); otherwise it reads plain lines (lines.c) with no prompt.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shell_int.h"
#include "vhost_user.h"

volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

/* ---- background capture ---- */

const char *live_name(struct vmmap_shell *sh)
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
int verb_capture(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
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
	if (!ctx->quiet && (c->run->a.forward || c->run->a.forward_listen))
		fprintf(stderr, "%s: capturing from %s in the background, forwarding to the "
			"backend %s %s\n", name, source, c->run->a.forward ? "at" : "on",
			c->run->a.forward ? c->run->a.forward : c->run->a.forward_listen);
	else if (!ctx->quiet)
		fprintf(stderr, "%s: capturing from %s in the background\n", name, source);
	return 0;
}

struct cli_capture *shell_capture_of(struct vmmap_shell *sh, const struct vm_table *t)
{
	return sh && sh->cap && t == &sh->cap->run->cap.s.table ? sh->cap->run : NULL;
}

/* Status lines about the capture: each table change, and its end. */
void capture_status(struct vmmap_shell *sh)
{
	struct shell_capture *c = sh->cap;
	const struct vu_capture *vc;

	if (!c)
		return;
	vc = &c->run->cap;
	if (vc->s.nupdates > c->updates_seen) {
		const struct vu_update *u = &vc->s.updates[vc->s.nupdates - 1];

		fprintf(stderr, "%s%s: %s (message %zu), now %zu region%s\n",
			cli_status_start(), c->name, vhost_user_request_name(u->request), u->msg,
			vc->s.table.umem.nregions, vc->s.table.umem.nregions == 1 ? "" : "s");
		c->updates_seen = vc->s.nupdates;
	}
	if (vc->s.nupdates < c->updates_seen) /* a new session began */
		c->updates_seen = vc->s.nupdates;
	if (vc->phase == VU_CAPTURE_DONE && !c->end_reported) {
		fprintf(stderr, "%s%s: capture ended (%s) after %zu messages\n",
			cli_status_start(), c->name, vc->end, vc->s.nmsgs);
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
int wait_input(struct vmmap_shell *sh, int fd)
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

error_t verb_key(int key, char *arg, struct argp_state *state)
{
	struct verb_args *a = state->input;

	switch (key) {
	case ARGP_KEY_ARG:
		a->argv[a->argc++] = arg; /* a line has at most MAX_WORDS */
		return 0;
	case VERB_OPT_FORCE:
		a->force = true;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

int verb_parse(struct vmmap_ctx *ctx, int *argc, char ***argv, struct verb_args *a)
{
	const struct vmmap_cmd *cmd = vmmap_command(ctx->cmd);
	int rc;

	a->argc = 1;
	a->argv[0] = (*argv)[0];
	a->force = false;
	rc = cli_argp_parse(ctx, cmd->argp, *argc > MAX_WORDS ? MAX_WORDS : *argc, *argv, 0,
			    a);
	a->argv[a->argc] = NULL;
	*argc = a->argc;
	*argv = a->argv;
	return rc;
}

int usage(struct vmmap_ctx *ctx)
{
	const struct vmmap_cmd *cmd = vmmap_command(ctx->cmd);
	const char *forms = vmmap_cmd_usage(cmd);
	char opts[128] = "", line[512] = "";

	/* "verb [--option] FORM | ...", from the argp's options and forms. */
	for (const struct argp_option *o = cmd->argp->options; o && o->name; o++)
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), " [--%s]", o->name);
	do {
		size_t n = strcspn(forms, "\n"), l = strlen(line);

		snprintf(line + l, sizeof(line) - l, "%s%s%s%s%.*s", l ? " | " : "", ctx->cmd,
			 opts, n ? " " : "", (int)n, forms);
		forms += n + (forms[n] == '\n');
	} while (*forms);
	return cli_error(ctx, "usage", "usage: %s", line);
}

const struct argp verb_history_argp = {
	.parser = verb_key,
	.doc = "List the lines typed at this terminal, oldest first (kept in "
	       "$VMMAP_HISTFILE, else $XDG_STATE_HOME/vmmap/history).",
	.children = cli_global_children,
};

/* Parses the line of a verb that takes no arguments: 0, VMMAP_HELP_SHOWN
 * or VMMAP_EXIT_ERROR. */
static int verb_parse_none(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct verb_args va;
	int rc = verb_parse(ctx, &argc, &argv, &va);

	return rc ? rc : argc != 1 ? usage(ctx) : 0;
}

int verb_history(struct vmmap_ctx *ctx, int argc, char **argv)
{
	int rc;

	if ((rc = verb_parse_none(ctx, argc, argv)))
		return rc;
	if (!ctx->shell->hist)
		return cli_error(ctx, "usage", "no history: standard input is not a terminal");
	return shell_history_list(ctx->shell);
}

const struct argp verb_quit_argp = {
	.parser = verb_key,
	.doc = "Leave the shell (also exit, or Ctrl-D).  On a terminal, unsaved "
	       "edits are named once, and a second quit leaves.",
	.children = cli_global_children,
};

int verb_quit(struct vmmap_ctx *ctx, int argc, char **argv)
{
	int rc;

	if ((rc = verb_parse_none(ctx, argc, argv)))
		return rc;
	ctx->shell->quit = shell_may_leave(ctx->shell);
	return 0;
}

/* Runs one tokenized line (at most MAX_WORDS); returns its exit status. */
static int run_line(struct vmmap_shell *sh, int argc, char **argv)
{
	struct vmmap_ctx ctx = sh->base;
	const struct vmmap_cmd *cmd;
	char *line[MAX_WORDS + 2];
	int at, rc;

	ctx.shell = sh;
	ctx.cmd = NULL;
	ctx.where = sh->interactive ? NULL : sh->where;
	/* The global options before the command, as on the command line. */
	line[0] = "vmmap";
	memcpy(line + 1, argv, (size_t)argc * sizeof(*argv));
	line[argc + 1] = NULL;
	if ((rc = cli_parse_global(&ctx, argc + 1, line, &at, NULL)) || at < 0)
		return rc < 0 ? 0 : rc; /* VMMAP_HELP_SHOWN */
	cmd = vmmap_command(line[at]);
	if (!cmd || !(cmd->where & CLI_SHELL))
		return cli_unknown_command(&ctx, line[at]);
	ctx.cmd = cmd->name;
	rc = (cmd->shell_fn ? cmd->shell_fn : cmd->fn)(&ctx, argc + 1 - at, line + at);
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

/* Reads one line (without the newline) into *line (NULL out of memory):
 * 1, or 0 at the end of input. */
static int plain_line(struct vmmap_shell *sh, char **line, enum cli_line *kind)
{
	for (;;) {
		size_t len;
		char *l = cli_lines_take(&sh->lines, &len, kind);

		if (l) {
			*line = strdup(l); /* NULL: out of memory, the end */
			return 1;
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

/* Reads one line at the prompt (libedit, history): 1 read (*line, or NULL
 * out of memory), 0 the end (Ctrl-D, as shell_may_leave allows), -1
 * nothing yet (interrupted, or a Ctrl-D that did not leave). */
static int edit_line(struct vmmap_shell *sh, char **line, enum cli_line *kind)
{
	int count;
	const char *l;

	/* Raw mode before the prompt: libedit would print the prompt first
	 * and switch at its first read, and a key typed at the prompt in
	 * between met a cooked terminal (a ^D there is an end-of-file
	 * marker, read later as a NUL key, and the shell did not leave). */
	el_set(sh->el, EL_PREP_TERM, 1);
	l = el_gets(sh->el, &count);
	if (!l) {
		if (count == -1 && errno == EINTR)
			return -1;
		fputc('\n', stdout);
		return shell_may_leave(sh) ? 0 : -1; /* Ctrl-D */
	}
	if (strlen(l) > CLI_LINE_MAX + 1) /* its newline aside */
		*kind = CLI_LINE_TOO_LONG;
	*line = strdup(*kind == CLI_LINE_OK ? l : "");
	if (*line && (*line)[0] && (*line)[0] != '\n' && sh->hist) {
		HistEvent ev;

		history(sh->hist, &ev, H_ENTER, *line);
	}
	return 1;
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

		int r = sh.interactive ? edit_line(&sh, &line, &kind)
				       : plain_line(&sh, &line, &kind);

		if (r < 0)
			continue; /* nothing read: prompt again */
		if (r == 0 || !line)
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
