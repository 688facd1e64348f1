/*
 * The shell on a terminal: libedit (emacs keys, ~/.editrc), the prompt,
 * tab completion and the history file.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "shell_int.h"
#include "validate.h"

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

/*
 * The options of a parser and its children (the global ones), in order,
 * each with the entry it belongs to (itself, or for an alias the option
 * before it): fn returns nonzero to stop the walk, and that is the answer.
 */
static int each_option(const struct argp *argp,
		       int (*fn)(const struct argp_option *o,
				 const struct argp_option *entry, void *d),
		       void *d)
{
	const struct argp_option *entry = NULL;
	int r;

	for (const struct argp_option *o = argp->options; o && (o->name || o->key ||
	     o->doc); o++) {
		if (!(o->flags & OPTION_ALIAS) || !entry)
			entry = o;
		if (!(o->flags & OPTION_HIDDEN) && (o->name || o->key) &&
		    (r = fn(o, entry, d)))
			return r;
	}
	for (const struct argp_child *c = argp->children; c && c->argp; c++)
		if ((r = each_option(c->argp, fn, d)))
			return r;
	return 0;
}

struct option_words {
	struct words *w;
	char dashed[64][48];
	size_t n;
};

static int add_option_word(const struct argp_option *o,
			   const struct argp_option *entry, void *d)
{
	struct option_words *ow = d;

	if (o->name && ow->n < 64) {
		snprintf(ow->dashed[ow->n], sizeof(ow->dashed[0]), "--%s", o->name);
		add_word(ow->w, ow->dashed[ow->n++]);
	}
	(void)entry;
	return 0;
}

struct option_find {
	const char *word;       /* "--from" or "-P" */
	const char *name;       /* the answer: its long name */
	bool takes_arg;
};

static int match_option(const struct argp_option *o,
			const struct argp_option *entry, void *d)
{
	struct option_find *f = d;

	if ((f->word[1] == '-' && o->name && !strcmp(f->word + 2, o->name)) ||
	    (f->word[1] != '-' && !f->word[2] && o->key > 0 && o->key < 128 &&
	     o->key == f->word[1])) {
		f->name = entry->name;
		f->takes_arg = entry->arg != NULL; /* an alias: as its entry */
		return 1;
	}
	return 0;
}

/* Whether word is an option of argp that takes its value in the next word;
 * *name its long name. */
static bool option_with_value(const struct argp *argp, const char *word,
			      const char **name)
{
	struct option_find f = { .word = word };

	if (word[0] != '-' || !word[1] || strchr(word, '=') ||
	    !each_option(argp, match_option, &f) || !f.takes_arg)
		return false;
	*name = f.name;
	return true;
}

/* Adds the words of the rule's sources to w; arg2 is the command's second
 * argument (the bus of device remove BUS NAME), or NULL. */
static void add_words(struct vmmap_shell *sh, struct words *w, const struct cli_complete *rule,
		      const char *arg2)
{
	const struct vm_table *t = sh->current >= 0 ? sh->tables[sh->current].t : NULL;
	unsigned what = rule->what;
	size_t n;

	if (what & CLI_W_LIST)
		for (const char *const *s = rule->words; *s; s++)
			add_word(w, *s);
	if (what & CLI_W_TABLE)
		for (size_t i = 0; i < sh->ntables; i++)
			add_word(w, sh->tables[i].name);
	if (what & CLI_W_BUS)
		for (int b = 0; b < VM_NR_BUSES; b++)
			add_word(w, vm_bus_name(b));
	if (what & CLI_W_KIND)
		for (int k = 0; k < VM_NR_IO_KINDS; k++)
			add_word(w, vm_io_kind_name(k));
	if (what & CLI_W_PROFILE)
		for (const struct vm_profile *p = vm_profiles; p->name; p++)
			add_word(w, p->name);
	if (what & CLI_W_COMMAND) {
		const struct vmmap_cmd *cmds = vmmap_commands(&n);

		for (size_t i = 0; i < n; i++)
			if (cmds[i].where & CLI_SHELL)
				add_word(w, cmds[i].name);
	}
	if ((what & CLI_W_REGION) && t)
		for (const struct vm_umem_node *r = t->umem.head; r; r = r->next)
			if (r->region.name)
				add_word(w, r->region.name);
	if ((what & CLI_W_DEVICE) && t && arg2) {
		int b = vm_bus_from_name(arg2);

		for (size_t i = 0; b >= 0 && i < t->bus[b].dev_count; i++)
			add_word(w, t->bus[b].range[i].dev);
	}
}

/* The rule for an option's value (option set) or the pos-th argument. */
static const struct cli_complete *find_rule(const struct vmmap_cmd *cmd, const char *option,
					    int pos, const char *arg1)
{
	for (const struct cli_complete *r = cmd->complete; r && r->what; r++)
		if (option ? r->option && !strcmp(r->option, option)
			   : !r->option && r->pos == pos &&
			     (!r->after || (arg1 && !strcmp(r->after, arg1))))
			return r;
	return NULL;
}

/*
 * Tab: the word before the cursor completes from the command table: a
 * command or verb first; then the command's options (from its argp), an
 * option's value or an argument at its position (from its completion
 * rules).  Files are offered where a rule takes them and no other word
 * matches.
 */
static unsigned char complete_fn(EditLine *el, int ch)
{
	struct vmmap_shell *sh;
	const LineInfo *li = el_line(el);
	const char **argv, *option = NULL, *args[2] = { NULL, NULL };
	int argc, cursor_word, cursor_off, first = 0, pos = 0;
	struct words w = { .n = 0 };
	const struct cli_complete *rule;
	const struct vmmap_cmd *cmd;
	unsigned char r;
	char word[512];

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
		static const struct cli_complete commands = { .what = CLI_W_COMMAND };

		add_words(sh, &w, &commands, NULL);
		return complete_from(el, word, &w, " ");
	}
	cmd = vmmap_command(argv[first]);
	if (!cmd || !(cmd->where & CLI_SHELL))
		return CC_ERROR;
	if (word[0] == '-') {
		static struct option_words ow;

		ow.w = &w;
		ow.n = 0;
		each_option(cmd->argp, add_option_word, &ow);
		return complete_from(el, word, &w, " ");
	}
	/* Which argument this is: options and their values do not count. */
	for (int i = first + 1; i < cursor_word; i++) {
		const char *name;

		if (option_with_value(cmd->argp, argv[i], &name)) {
			if (i + 1 == cursor_word)
				option = name;
			i++;
		} else if (argv[i][0] != '-' || !argv[i][1]) {
			if (pos < 2)
				args[pos] = argv[i];
			pos++;
		}
	}
	rule = find_rule(cmd, option, pos + 1, args[0]);
	if (!rule)
		return CC_ERROR;
	add_words(sh, &w, rule, args[1]);
	if ((r = complete_from(el, word, &w, " ")) != CC_ERROR)
		return r;
	return rule->what & CLI_W_FILE ? complete_file(el, word) : CC_ERROR;
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
int history_save(struct vmmap_shell *sh)
{
	struct vmmap_ctx ctx = sh->base;
	struct cli_atomic f = { .fd = -1 };
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

int shell_history_list(struct vmmap_shell *sh)
{
	HistEvent ev;
	int n = 0;

	/* libedit walks from the newest; H_LAST is the oldest. */
	for (int r = history(sh->hist, &ev, H_LAST); r >= 0;
	     r = history(sh->hist, &ev, H_PREV))
		printf("%5d  %s%s", ++n, ev.str,
		       *ev.str && ev.str[strlen(ev.str) - 1] == '\n' ? "" : "\n");
	return 0;
}

int setup_editline(struct vmmap_shell *sh, FILE *in)
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
