/*
 * What every command shares: error reporting and the JSON wrapper, opening
 * a table argument (a file under the SIGBUS guard, or a shell table),
 * reading other input, names escaped for the terminal, ranges formatted,
 * and output files written atomically (with the $TMPDIR rescue).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "input.h"
#include "shell.h"

#include "cli.h"

static size_t dump_flags(const struct vmmap_ctx *ctx)
{
	return ctx->pretty ? JSON_INDENT(2) : JSON_COMPACT;
}

static json_t *wrapper(const struct vmmap_ctx *ctx)
{
	return json_pack("{s:i, s:s}", "schema", 1, "command",
			 ctx->cmd ? ctx->cmd : "vmmap");
}

static void emit_error(struct vmmap_ctx *ctx, const char *code,
		       const char *text, int with_cmd)
{
	const char *where = ctx->where ? ctx->where : "", *sep = ctx->where ? ": " : "";
	char msg[1400];
	json_t *doc;

	/* Text: "vmmap: FILE:LINE: CMD: text" (FILE:LINE in a batch).  JSON
	 * has the command in its own member. */
	if (!ctx->json || ctx->quiet) {
		if (with_cmd && ctx->cmd)
			fprintf(stderr, "vmmap: %s%s%s: %s\n", where, sep, ctx->cmd, text);
		else
			fprintf(stderr, "vmmap: %s%s%s\n", where, sep, text);
		return;
	}
	snprintf(msg, sizeof(msg), "%s%s%s", where, sep, text);
	doc = wrapper(ctx);
	if (!doc || json_object_set_new(doc, "error",
					json_pack("{s:s, s:s}", "code", code,
						  "message", msg))) {
		json_decref(doc);
		fprintf(stderr, "vmmap: %s\n", msg);
		return;
	}
	json_dumpf(doc, stdout, dump_flags(ctx));
	fputc('\n', stdout);
	json_decref(doc);
}

int cli_error(struct vmmap_ctx *ctx, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vm_one_line(msg, sizeof(msg)); /* it may quote an argument */
	emit_error(ctx, code, msg, 1);
	return VMMAP_EXIT_ERROR;
}

int cli_input_error(struct vmmap_ctx *ctx, const char *msg)
{
	emit_error(ctx, "input", msg, 0);
	return VMMAP_EXIT_ERROR;
}

int cli_emit_json(struct vmmap_ctx *ctx, json_t *result)
{
	json_t *doc;

	if (!result)
		return cli_error(ctx, "nomem", "out of memory");
	if (ctx->quiet) {
		json_decref(result);
		return 0;
	}
	doc = wrapper(ctx);
	if (!doc || json_object_set_new(doc, "result", result)) {
		json_decref(doc);
		return cli_error(ctx, "nomem", "out of memory");
	}
	json_dumpf(doc, stdout, dump_flags(ctx));
	fputc('\n', stdout);
	json_decref(doc);
	return 0;
}

int cli_emit(struct vmmap_ctx *ctx, const void *r, json_t *(*to_json)(const void *r),
	     void (*print)(const void *r), int status)
{
	int rc = 0;

	if (ctx->quiet)
		return status;
	if (ctx->json)
		rc = cli_emit_json(ctx, to_json(r));
	else
		print(r);
	return rc ? rc : status;
}

int cli_load_table(struct vm_table *t, const char *path, unsigned flags,
		   struct vm_error *err)
{
	int rc;

	cli_guard_begin();
	rc = vm_table_load_file(t, path, flags, err);
	if (cli_guard_end()) {
		if (!rc) {
			vm_table_clean(t);
			vm_table_init(t);
		}
		snprintf(err->msg, sizeof(err->msg), "%s: changed while being read "
			 "(it shrank: another program rewrote it in place?)", path);
		vm_one_line(err->msg, sizeof(err->msg));
		return -1;
	}
	return rc;
}

int cli_read_input(struct vmmap_ctx *ctx, const char *path, char **buf, size_t *len)
{
	struct vm_input in;
	struct vm_error err;

	if (vm_input_open(&in, path, false, &err))
		return cli_error(ctx, "io", "%s", err.msg);
	*buf = (char *)in.buf; /* not mapped: malloc'ed, now the caller's */
	*len = in.len;
	return 0;
}

/* Loads the file path into out (owned); vm_table_load_file's result. */
static int load_owned(struct cli_table *out, const char *path, unsigned flags,
		      struct vm_error *err)
{
	int rc;

	vm_table_init(&out->own);
	if ((rc = cli_load_table(&out->own, path, flags, err)))
		return rc;
	out->t = &out->own;
	out->owned = true;
	out->name = strcmp(path, "-") ? path : "<stdin>";
	return 0;
}

const char *cli_status_start(void)
{
	/* On a terminal the line is cleared too: a status line printed over a
	 * half-typed command would leave its tail behind.  The editor then
	 * redraws the prompt and the typed text below it. */
	return isatty(STDERR_FILENO) ? "\r\033[K" : "\r";
}

bool cli_names_file(const char *arg)
{
	size_t n = strlen(arg);

	return !strcmp(arg, "-") || strchr(arg, '/') ||
	       (n > 5 && !strcmp(arg + n - 5, ".json"));
}

int cli_files_allowed(struct vmmap_ctx *ctx, const char *what)
{
	if (!ctx->no_files)
		return 0;
	return cli_error(ctx, "usage", "%s: files are not opened here", what);
}

int cli_table_open(struct vmmap_ctx *ctx, char *const *pos, int npos,
		   unsigned flags, struct cli_table *out, int *used)
{
	struct vm_error err;
	const char *name;

	memset(out, 0, sizeof(*out));
	*used = 0;
	if (ctx->shell) {
		/* A loaded table by name; else a file; else the current table
		 * when the argument does not look like a file at all. */
		if (npos > 0 && (out->t = shell_table(ctx->shell, pos[0], &name))) {
			out->name = name;
			*used = 1;
			return 0;
		}
		if ((npos == 0 || !cli_names_file(pos[0])) &&
		    (out->t = shell_table(ctx->shell, NULL, &name))) {
			out->name = name;
			return 0;
		}
		if (npos > 0 && ctx->no_files)
			return cli_files_allowed(ctx, pos[0]);
		if (npos == 0 || !cli_names_file(pos[0]))
			return cli_error(ctx, "usage", npos
					 ? "'%s' is neither a loaded table nor a file (a file "
					   "has a '/' or ends in .json), and no table is "
					   "loaded (try 'load FILE')"
					 : "no table loaded (try 'load FILE')",
					 npos ? pos[0] : "");
	} else if (npos == 0) {
		return cli_error(ctx, "usage", "missing FILE (try 'vmmap %s --help')",
				 ctx->cmd);
	} else if (strcmp(pos[0], "-") && !cli_names_file(pos[0]) && access(pos[0], F_OK)) {
		/* "vmmap lookup mmio 0x1000": the file was left out. */
		return cli_error(ctx, "usage", "missing FILE: '%s' is no file (try 'vmmap %s "
				 "--help')", pos[0], ctx->cmd);
	}
	if (load_owned(out, pos[0], flags, &err))
		return cli_input_error(ctx, err.msg);
	*used = 1;
	return 0;
}

/* A table file loaded on a second thread. */
struct table_loader {
	struct cli_table *tb;
	const char *path;
	struct vm_error err;
	int rc;
};

static void *load_thread(void *arg)
{
	struct table_loader *l = arg;

	l->rc = load_owned(l->tb, l->path, 0, &l->err);
	return NULL;
}

int cli_table_open_pair(struct vmmap_ctx *ctx, const char *a, const char *b,
			struct cli_table *ta, struct cli_table *tb)
{
	struct table_loader l = { .tb = tb, .path = b };
	pthread_t thread;
	int rc, used;

	memset(tb, 0, sizeof(*tb)); /* before the thread writes to it */
	/* In the shell, names may be loaded tables; "-" is read once, in
	 * order; and a thread that cannot start just means loading in turn. */
	if (ctx->shell || !a || !b || !strcmp(a, "-") || !strcmp(b, "-") ||
	    pthread_create(&thread, NULL, load_thread, &l)) {
		if ((rc = cli_table_open(ctx, (char **)&a, a ? 1 : 0, 0, ta, &used)))
			return rc;
		if ((rc = cli_table_open(ctx, (char **)&b, 1, 0, tb, &used)))
			cli_table_close(ta);
		return rc;
	}
	rc = cli_table_open(ctx, (char **)&a, 1, 0, ta, &used);
	pthread_join(thread, NULL);
	if (rc) { /* the first file's error is the one reported */
		cli_table_close(tb);
		return rc;
	}
	if (l.rc) {
		cli_table_close(ta);
		return cli_input_error(ctx, l.err.msg);
	}
	return 0;
}

void cli_table_close(struct cli_table *tb)
{
	if (tb->owned)
		vm_table_clean(&tb->own);
	memset(tb, 0, sizeof(*tb));
}

const char *cli_safe(const char *s)
{
	static _Thread_local char *ring[8];
	static _Thread_local unsigned next;
	const unsigned char *p;
	size_t n = 0;
	char *out, *o;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			n++;
	if (!n)
		return s;
	/* At most 4 bytes for each escaped one. */
	out = realloc(ring[next % 8], strlen(s) + 3 * n + 1);
	if (!out)
		return "(name not shown: out of memory)";
	ring[next++ % 8] = out;
	for (p = (const unsigned char *)s, o = out; *p; p++) {
		if (*p >= 0x20 && *p != 0x7f)
			*o++ = (char)*p;
		else
			o += sprintf(o, *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : "\\x%02x", *p);
	}
	*o = '\0';
	return out;
}

void cli_fmt_range(char buf[CLI_RANGE_MAX], uint64_t first, uint64_t last)
{
	snprintf(buf, CLI_RANGE_MAX, "%016" PRIx64 "-%016" PRIx64, first, last);
}

void cli_fmt_io_range(char buf[CLI_RANGE_MAX], const struct vm_io_range *io)
{
	if (io->len)
		cli_fmt_range(buf, io->addr, io->addr + io->len - 1);
	else
		snprintf(buf, CLI_RANGE_MAX, "%016" PRIx64 " (any length)", io->addr);
}

/*
 * Output files are written to a temporary file beside them and renamed over
 * them, so a reader sees the old file or the whole new one, and a failed
 * write leaves the old one.  A path that names a symlink or anything but a
 * regular file is refused: vmmap never writes through a link, and never
 * replaces a device (as root, renaming over /dev/full would).
 */
/* -1 when path names something output may not replace, else 0. */
static int lstat_refusal(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && !S_ISREG(st.st_mode) ? -1 : 0;
}

int cli_output_ok(struct vmmap_ctx *ctx, const char *path)
{
	struct stat st;

	if (!*path)
		return cli_error(ctx, "usage", "an empty file name; not written");
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return cli_error(ctx, "io", "%s: %s; not written", path,
				 S_ISLNK(st.st_mode) ? "is a symbolic link"
						     : "exists and is not a regular file");
	return 0;
}

/* cli_atomic_open without the report: 0 or an errno. */
static int atomic_open(const char *path, struct cli_atomic *f)
{
	/* umask can only be read by setting it; no thread of vmmap creates a
	 * file meanwhile (the diff loader threads only read). */
	mode_t mask = umask(0);
	bool private = f->private;
	int e;

	umask(mask);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->path = path;
	f->private = private;
	f->mode = private ? 0600 : 0666 & ~mask;
	if (asprintf(&f->tmp, "%s.XXXXXX", path) < 0) {
		f->tmp = NULL;
		return ENOMEM;
	}
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		e = errno;
		free(f->tmp);
		f->tmp = NULL;
		return e;
	}
	return 0;
}

int cli_atomic_open(struct vmmap_ctx *ctx, const char *path, struct cli_atomic *f)
{
	bool private = f->private;
	int e;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->private = private;
	if (cli_output_ok(ctx, path))
		return VMMAP_EXIT_ERROR;
	if ((e = atomic_open(path, f)))
		return e == ENOMEM ? cli_error(ctx, "nomem", "out of memory")
				   : cli_error(ctx, "io", "%s: cannot create a temporary "
					       "file: %s", path, strerror(e));
	return 0;
}

int cli_atomic_write(struct vmmap_ctx *ctx, struct cli_atomic *f, const void *buf,
		     size_t len)
{
	for (size_t off = 0; off < len && !f->err;) {
		ssize_t n = write(f->fd, (const char *)buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			f->err = errno;
		else
			off += (size_t)n;
	}
	(void)ctx;
	return f->err ? VMMAP_EXIT_ERROR : 0;
}

void cli_atomic_abort(struct cli_atomic *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	f->tmp = NULL;
	f->fd = -1;
}

/* After a rename: the directory entry reaches the disk too, or a crash of
 * the machine could bring back the old file.  Best effort: the new file is
 * in place whatever this says, and some file systems refuse it. */
static void sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : strdup(".");
	int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* cli_atomic_commit without the report: 0 or an errno (then aborted). */
static int atomic_commit(struct cli_atomic *f)
{
	struct stat st;
	mode_t mode = f->mode;
	int e = f->err;

	/* A file being replaced keeps its mode (as sed -i and editors do), so
	 * a table or history someone made private stays private. */
	if (!f->private && lstat(f->path, &st) == 0 && S_ISREG(st.st_mode))
		mode = st.st_mode & 07777;
	if (!e && (fchmod(f->fd, mode) || fsync(f->fd)))
		e = errno;
	if (close(f->fd) && !e)
		e = errno;
	f->fd = -1;
	if (!e && rename(f->tmp, f->path))
		e = errno;
	if (e) {
		cli_atomic_abort(f);
		return e;
	}
	sync_dir_of(f->path);
	free(f->tmp);
	f->tmp = NULL;
	return 0;
}

int cli_atomic_commit(struct vmmap_ctx *ctx, struct cli_atomic *f)
{
	int e = atomic_commit(f);

	if (e)
		return cli_error(ctx, "io", "%s: %s (the previous file is untouched)",
				 f->path, strerror(e));
	return 0;
}

/* Saves text and tail to a new private file in $TMPDIR (else /tmp): its
 * malloc'ed name, or NULL. */
static char *rescue(const char *text, const char *tail)
{
	const char *dir = getenv("TMPDIR");
	char *name = NULL;
	struct cli_atomic f = { .fd = -1 };
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	if (asprintf(&name, "%s/vmmap-XXXXXX.json", dir) < 0)
		return NULL;
	/* mkstemps makes it 0600. */
	if ((fd = mkostemps(name, 5, O_CLOEXEC)) < 0) {
		free(name);
		return NULL;
	}
	f.fd = fd;
	cli_atomic_write(NULL, &f, text, strlen(text));
	cli_atomic_write(NULL, &f, tail, strlen(tail));
	if (fsync(fd) && !f.err)
		f.err = errno;
	if (close(fd) && !f.err)
		f.err = errno;
	if (f.err) {
		unlink(name);
		free(name);
		return NULL;
	}
	return name;
}

int cli_atomic_replace(struct vmmap_ctx *ctx, struct cli_atomic *f, const char *text,
		       const char *tail)
{
	const char *path = f->path;
	char *saved;
	int e = 0;

	if (f->fd < 0 && !(e = lstat_refusal(path)))
		e = atomic_open(path, f);
	if (!e) {
		cli_atomic_write(ctx, f, text, strlen(text));
		cli_atomic_write(ctx, f, tail, strlen(tail));
		e = atomic_commit(f);
	}
	/* The next write (a checkpoint, the next session) gets its file now,
	 * so a directory that stopped taking files shows at once. */
	if (!e && atomic_open(path, f))
		f->fd = -1;
	f->path = path;
	if (!e)
		return 0;
	saved = rescue(text, tail);
	if (saved) {
		cli_error(ctx, "io", "%s: %s (the previous file is untouched); the output "
			  "was saved to %s instead", path,
			  e == -1 ? "is no longer a regular file" : strerror(e), saved);
		free(saved);
		return VMMAP_EXIT_ERROR;
	}
	return cli_error(ctx, "io", "%s: %s (the previous file is untouched); no file "
			 "could be made in $TMPDIR or /tmp either: the output is lost",
			 path, e == -1 ? "is no longer a regular file" : strerror(e));
}

int cli_write_atomic(struct vmmap_ctx *ctx, const char *path, const char *text, bool private)
{
	struct cli_atomic f = { .fd = -1, .private = private };
	int rc;

	if ((rc = cli_atomic_open(ctx, path, &f)))
		return rc;
	cli_atomic_write(ctx, &f, text, strlen(text));
	return cli_atomic_commit(ctx, &f);
}
