/*
 * vmmap translate FILE ADDR [LEN]: vhost translate_desc over the table, one
 * piece per region crossed; --from uaddr walks the frontend's user addresses
 * instead (a backend's qva_to_va for vring addresses).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "num.h"

#define DEFAULT_MAX_PIECES 1024   /* the kernel's UIO_MAXIOV */
#define LIMIT_MAX_PIECES (1 << 20)

enum { OPT_FROM = 1000, OPT_MAX_PIECES, OPT_BATCH };

struct translate_args {
	struct vmmap_ctx *ctx;
	enum vm_space from;
	uint64_t max_pieces;
	const char *batch; /* --batch SOURCE */
	const char *bad; /* first invalid option value, reported after parsing */
	const char *bad_why;
	char **pos;
	int npos;
};

struct translate_query {
	struct cli_query q;
	int rc; /* 0, -EFAULT or -ENOBUFS */
	struct vm_translation tr;
	struct vm_piece *pieces;
};

struct translate_result {
	const struct vm_table *t;
	json_t *capture; /* t's capture section, parsed once; NULL: none */
	enum vm_space from;
	uint64_t max_pieces;
	size_t n;
	struct translate_query *q;
};

static const struct argp_option translate_options[] = {
	{ "from", OPT_FROM, "SPACE", 0,
	  "Address space of ADDR: gpa (guest physical, default) or uaddr "
	  "(the frontend's userspace_addr)", 0 },
	{ "max-pieces", OPT_MAX_PIECES, "N", 0,
	  "Fail when a range needs more than N pieces (default 1024)", 0 },
	{ "batch", OPT_BATCH, "SOURCE", 0,
	  "Read one query per line from SOURCE (- for standard input) and "
	  "write one result per line, streaming", 0 },
	{ 0 },
};

static error_t translate_parse(int key, char *arg, struct argp_state *state)
{
	struct translate_args *a = state->input;
	const char *why;

	switch (key) {
	case OPT_FROM:
		if (!strcmp(arg, cli_space_names[VM_SPACE_GPA]))
			a->from = VM_SPACE_GPA;
		else if (!strcmp(arg, cli_space_names[VM_SPACE_UADDR]))
			a->from = VM_SPACE_UADDR;
		else if (!a->bad)
			a->bad = arg, a->bad_why = "--from takes gpa or uaddr";
		return 0;
	case OPT_MAX_PIECES:
		if (vm_parse_addr(arg, &a->max_pieces, &why) && !a->bad)
			a->bad = arg, a->bad_why = why;
		else if ((a->max_pieces < 1 || a->max_pieces > LIMIT_MAX_PIECES) && !a->bad)
			a->bad = arg, a->bad_why = "--max-pieces takes 1 to 1048576";
		return 0;
	case OPT_BATCH:
		a->batch = arg;
		return 0;
	case ARGP_KEY_ARGS:
		a->pos = state->argv + state->next;
		a->npos = state->argc - state->next;
		return 0;
	case ARGP_KEY_NO_ARGS:
		if (a->batch)
			return 0; /* the table may be the shell's current one */
		argp_error(state, a->ctx->shell ? "missing ADDR" : "missing FILE and ADDR");
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_translate_argp = {
	.options = translate_options,
	.parser = translate_parse,
	.args_doc = "FILE ADDR [LEN]\nFILE QUERY...",
	.doc = "Translate addresses the way vhost's translate_desc does: walk the "
	       "range region by region and print one piece per region crossed, "
	       "or the first unmapped address.\v"
	       "With one or two plain numbers they are ADDR and LEN (default 1).  "
	       "Otherwise each QUERY is ADDR, ADDR+LEN or FIRST-LAST (inclusive).  "
	       "Addresses are 0x hex or decimal; LEN also takes K, M, G, T, P, E "
	       "suffixes (or KiB .. EiB), with decimals that make whole bytes "
	       "(2047.25M).  When regions overlap, the one with the lowest start "
	       "(then the first listed) maps the address.\n"
	       "Inside the shell FILE may name a loaded table, or be left out for "
	       "the current one.\n"
	       "Exit status: 0 all mapped, 1 a query is unmapped or needs too "
	       "many pieces, 2 usage or input error.",
	.children = cli_global_children,
};

const char *const cli_space_names[] = {
	[VM_SPACE_GPA] = "gpa", [VM_SPACE_UADDR] = "uaddr", NULL,
};

static const char *space_name(enum vm_space s)
{
	return cli_space_names[s];
}

static void translate_print_plain(const void *arg)
{
	const struct translate_result *r = arg;
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX], hole[CLI_RANGE_MAX];

	for (size_t i = 0; i < r->n; i++) {
		const struct translate_query *tq = &r->q[i];
		json_t *why = NULL;

		cli_fmt_range(range, tq->q.addr, tq->q.addr + tq->q.len - 1);
		vm_fmt_size(size, tq->q.len);
		printf("%s %s (%s): ", space_name(r->from), range, size);
		if (tq->rc == -EFAULT) {
			why = cli_why_unmapped(r->t, r->capture, r->from, tq->tr.fault_addr,
					       &tq->tr);
			cli_fmt_range(hole, tq->tr.hole_first, tq->tr.hole_last);
			printf("unmapped at 0x%" PRIx64 " (hole %s)\n",
			       tq->tr.fault_addr, hole);
		} else if (tq->rc == -ENOBUFS) {
			printf("needs more than %" PRIu64 " piece%s (stopped at 0x%"
			       PRIx64 ")\n", r->max_pieces,
			       r->max_pieces == 1 ? "" : "s", tq->tr.fault_addr);
		} else {
			printf("%zu piece%s\n", tq->tr.npieces,
			       tq->tr.npieces == 1 ? "" : "s");
		}
		for (size_t k = 0; k < tq->tr.npieces; k++) {
			const struct vm_piece *p = &tq->pieces[k];

			cli_fmt_range(range, p->guest_phys_addr,
				      p->guest_phys_addr + p->len - 1);
			vm_fmt_size(size, p->len);
			printf("  gpa %s %9s  uaddr %016" PRIx64 "  offset 0x%-16" PRIx64
			       " %s\n", range, size, p->userspace_addr, p->mmap_offset,
			       p->region->name ? cli_safe(p->region->name) : "-");
		}
		/* Why unmapped, after the pieces that were mapped. */
		if (why)
			cli_why_unmapped_print(why, r->from);
		json_decref(why);
	}
}

/* ---- --batch: one query per line in, one result per line out ---- */

/* "0x" + lowercase hex at p; returns the end (no NUL). */
static char *put_hex(char *p, uint64_t v)
{
	return p + vm_fmt_hex(p, v);
}

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

/* A string literal's bytes and length, for put_mem: copied by moves of
 * known size, not a byte loop (measured: the JSON lines' keys were most of
 * their cost). */
#define LIT(s) (s), sizeof(s) - 1

static inline char *put_mem(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static inline char *put_hex_field(char *p, const char *key, size_t klen, uint64_t v)
{
	p = put_hex(put_mem(p, key, klen), v);
	*p++ = '"';
	return p;
}

/* v in decimal. */
static char *put_dec(char *p, unsigned long v)
{
	char tmp[24];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * a byte that is not valid UTF-8 as U+FFFD (names come from users). */
static char *put_json_str(char *p, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;

	*p++ = '"';
	while (*u) {
		size_t k = vm_utf8_len(u, u + 4);

		if (*u == '"' || *u == '\\') {
			*p++ = '\\';
			*p++ = (char)*u++;
		} else if (*u < 0x20) {
			p = put_str(p, "\\u00");
			*p++ = hex[*u >> 4];
			*p++ = hex[*u++ & 15];
		} else if (k) {
			memcpy(p, u, k);
			p += k;
			u += k;
		} else {
			p = put_str(p, "\\ufffd");
			u++;
		}
	}
	*p++ = '"';
	return p;
}

/* Bytes put_result_json may write for this answer, at most: without its
 * regions' names (the regions are not read), and with them. */
#define PIECE_MAX 512
static size_t result_size_unnamed(const struct vm_translation *tr)
{
	return PIECE_MAX * (1 + tr->npieces);
}

static size_t result_size(const struct vm_translation *tr, const struct vm_piece *pc)
{
	size_t n = result_size_unnamed(tr);

	for (size_t k = 0; k < tr->npieces; k++)
		n += pc[k].region->name ? 6 * strlen(pc[k].region->name) : 0;
	return n;
}

/*
 * One answer, the one JSON schema of translate's results (vmmap-json(5)):
 * {"line" (--batch only),"from","addr","len","last","pieces":[{
 * "guest_phys_addr","userspace_addr","mmap_offset","len","region":{...}}],
 * "error":{"code","message","addr",...}}.  The single queries' document
 * holds these objects, and --batch writes one a line: both come from here.
 * lineno 0: no "line".  [p, end) must hold result_size_unnamed bytes;
 * NULL when a region's name does not fit too (result_size has room for
 * all).  The regions are read only after the pieces are written, so that
 * in a big table their cache misses overlap that work.
 */
static char *put_result_json(char *p, char *end, unsigned long lineno, enum vm_space from,
			     uint64_t max_pieces, const struct cli_query *q, int rc,
			     const struct vm_translation *tr, const struct vm_piece *pc)
{
	*p++ = '{';
	if (lineno) {
		p = put_dec(put_mem(p, LIT("\"line\":")), lineno);
		*p++ = ',';
	}
	p = put_mem(p, LIT("\"from\":\""));
	p = put_str(p, cli_space_names[from]);
	p = put_hex_field(p, LIT("\",\"addr\":\""), q->addr);
	p = put_hex_field(p, LIT(",\"len\":\""), q->len);
	p = put_hex_field(p, LIT(",\"last\":\""), q->addr + q->len - 1);
	p = put_mem(p, LIT(",\"pieces\":["));
	for (size_t k = 0; k < tr->npieces; k++) {
		/* The region read first, kept in locals: in a big table it is a
		 * cache miss, and the piece's digits are written meanwhile (the
		 * stores below may alias it, so it would be read after them). */
		const struct vm_region r = *pc[k].region;

		if (k)
			*p++ = ',';
		p = put_hex_field(p, LIT("{\"guest_phys_addr\":\""), pc[k].guest_phys_addr);
		p = put_hex_field(p, LIT(",\"userspace_addr\":\""), pc[k].userspace_addr);
		p = put_hex_field(p, LIT(",\"mmap_offset\":\""), pc[k].mmap_offset);
		p = put_hex_field(p, LIT(",\"len\":\""), pc[k].len);
		p = put_hex_field(p, LIT(",\"region\":{\"guest_phys_addr\":\""), r.guest_phys_addr);
		p = put_hex_field(p, LIT(",\"memory_size\":\""), r.memory_size);
		p = put_hex_field(p, LIT(",\"userspace_addr\":\""), r.userspace_addr);
		p = put_hex_field(p, LIT(",\"mmap_offset\":\""), r.mmap_offset);
		if (r.name) {
			/* The name escaped, this piece's end, the pieces
			 * after it and the tail (each under PIECE_MAX). */
			if ((size_t)(end - p) < 6 * strlen(r.name) + 16 +
			    PIECE_MAX * (tr->npieces - k))
				return NULL;
			p = put_mem(p, LIT(",\"name\":"));
			p = put_json_str(p, r.name);
		}
		p = put_mem(p, LIT("}}"));
	}
	*p++ = ']';
	if (rc == -EFAULT) {
		p = put_mem(p, LIT(",\"error\":{\"code\":\"unmapped\",\"message\":\"no region maps "));
		p = put_hex(p, tr->fault_addr);
		p = put_hex_field(p, LIT("\",\"addr\":\""), tr->fault_addr);
		p = put_hex_field(p, LIT(",\"hole_first\":\""), tr->hole_first);
		p = put_hex_field(p, LIT(",\"hole_last\":\""), tr->hole_last);
		*p++ = '}';
	} else if (rc == -ENOBUFS) {
		p += sprintf(p, ",\"error\":{\"code\":\"too-many-pieces\",\"message\":\"the "
			     "range needs more than %" PRIu64 " piece%s\"", max_pieces,
			     max_pieces == 1 ? "" : "s");
		p = put_hex_field(p, LIT(",\"addr\":\""), tr->fault_addr);
		p += sprintf(p, ",\"max_pieces\":%" PRIu64 "}", max_pieces);
	}
	*p++ = '}';
	return p;
}

/*
 * --batch's line for an answer.  Text: "ADDR LEN STATUS [AT] OTHER:LEN..."
 * where STATUS is mapped, unmapped (AT: the first unmapped address) or
 * too-many-pieces (AT: where the next piece starts), and each piece gives
 * its address in the other space.  JSON Lines: put_result_json's object.
 */
static char *format_result(char *p, char *end, bool json, unsigned long lineno,
			   enum vm_space from, uint64_t max_pieces, const struct cli_query *q,
			   int rc, const struct vm_translation *tr, const struct vm_piece *pc)
{
	if (json) {
		if ((p = put_result_json(p, end, lineno, from, max_pieces, q, rc, tr, pc)))
			*p++ = '\n';
		return p;
	}
	p = put_hex(p, q->addr);
	*p++ = ' ';
	p = put_hex(p, q->len);
	p = put_str(p, rc == 0 ? " mapped" : rc == -EFAULT ? " unmapped " : " too-many-pieces ");
	if (rc)
		p = put_hex(p, tr->fault_addr);
	for (size_t k = 0; k < tr->npieces; k++) {
		*p++ = ' ';
		p = put_hex(p, from == VM_SPACE_GPA ? pc[k].userspace_addr
						    : pc[k].guest_phys_addr);
		*p++ = ':';
		p = put_hex(p, pc[k].len);
	}
	*p++ = '\n';
	return p;
}

/* The single queries' document: put_result_json's objects in an array. */
static json_t *translate_json(const void *arg)
{
	const struct translate_result *r = arg;
	json_t *arr = json_array();
	size_t cap = 0;
	char *buf = NULL;

	for (size_t i = 0; arr && i < r->n; i++) {
		const struct translate_query *tq = &r->q[i];
		size_t need = result_size(&tq->tr, tq->pieces);
		json_t *o = NULL;

		if (need > cap) {
			free(buf);
			buf = malloc(cap = need);
		}
		if (buf) {
			*put_result_json(buf, buf + need, 0, r->from, r->max_pieces, &tq->q,
					 tq->rc, &tq->tr, tq->pieces) = '\0';
			o = json_loads(buf, 0, NULL);
		}
		/* Why unmapped: beside the hole, and the capture's history. */
		if (o && tq->rc == -EFAULT &&
		    json_object_update_new(json_object_get(o, "error"),
					   cli_why_unmapped(r->t, r->capture, r->from, tq->tr.fault_addr,
							    &tq->tr)))
			json_decref(o), o = NULL;
		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(buf);
	return arr;
}

/* "0x" and 1 to 16 hex digits at *s: the value, *s moved past it; -1 when
 * it is not exactly that. */
static int fast_hex(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	int k;

	if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
		return -1;
	p += 2;
	for (k = 0; k < 17 && vm_hex_digit(p[k]) >= 0; k++)
		v = v << 4 | (uint64_t)vm_hex_digit(p[k]);
	if (k == 0 || k > 16)
		return -1;
	*s = p + k;
	*out = v;
	return 0;
}

/*
 * The common line, "0xADDR[ 0xLEN]" with single spaces and nothing else,
 * parsed in place: 0 and q filled, or -1 for the general parser (which
 * accepts the same lines, and reports errors with their place).
 */
static int fast_query(const char *s, struct cli_query *q)
{
	if (fast_hex(&s, &q->addr))
		return -1;
	q->len = 1;
	if (*s == ' ') {
		s++;
		if (fast_hex(&s, &q->len))
			return -1;
	}
	if (*s)
		return -1;
	return q->len && q->len - 1 <= UINT64_MAX - q->addr ? 0 : -1;
}

/*
 * Queries parsed but not yet answered.  Plain lines are collected in
 * blocks so that their searches in a big table overlap
 * (vm_umem_prefetch); a block is answered before any other line is
 * handled and before reading blocks, so results keep their order and a
 * frontend that waits for each answer on a pipe gets it.
 */
struct batch {
	struct vmmap_ctx *ctx;
	const struct vm_table *t;
	const struct translate_args *a;
	struct vm_umem_last last; /* the lookups' record, zeroed */
	char *out;            /* lines not yet written, [0, used) */
	size_t outcap, used;
	struct vm_piece *pc;
	int worst;
	size_t n;
	uint64_t addr[VM_UMEM_PREFETCH_MAX], len[VM_UMEM_PREFETCH_MAX];
	unsigned long lineno[VM_UMEM_PREFETCH_MAX];
};

/* A text line's bytes at most: two numbers, a status and AT, and a
 * number pair a piece. */
#define TEXT_LINE_MAX(npieces) (96 + 40 * (size_t)(npieces))
#define BATCH_OUT_MIN (1 << 20)

/* The lines answered so far, to standard output. */
static void batch_write(struct batch *b)
{
	fwrite_unlocked(b->out, 1, b->used, stdout);
	b->used = 0;
}

static void batch_answer(struct batch *b, unsigned long lineno, const struct cli_query *q)
{
	struct vm_translation tr;
	int rc = vm_umem_translate(&b->t->umem, &b->last, b->a->from, q->addr, q->len,
				   b->pc, b->a->max_pieces, &tr);

	if (rc)
		b->worst = VMMAP_EXIT_NEGATIVE;
	if (b->ctx->quiet)
		return;
	/* The line is written after the ones before it in the output
	 * buffer, which goes out when full; a region's name that does not
	 * fit asks for the room it needs. */
	for (bool named = false;; named = true) {
		size_t need = !b->ctx->json ? TEXT_LINE_MAX(tr.npieces)
			      : named ? result_size(&tr, b->pc) : result_size_unnamed(&tr);
		char *end;

		if (b->outcap - b->used < need)
			batch_write(b);
		if (need > b->outcap) {
			char *o = realloc(b->out, need);

			if (!o) {
				b->worst = cli_error(b->ctx, "nomem", "out of memory");
				return;
			}
			b->out = o;
			b->outcap = need;
		}
		end = format_result(b->out + b->used, b->out + b->outcap, b->ctx->json,
				    lineno, b->a->from, b->a->max_pieces, q, rc, &tr, b->pc);
		if (end) {
			b->used = (size_t)(end - b->out);
			return;
		}
	}
}

static void batch_flush(struct batch *b)
{
	vm_umem_prefetch(&b->t->umem, b->a->from, b->addr, b->n, b->ctx->json);
	for (size_t i = 0; i < b->n; i++)
		batch_answer(b, b->lineno[i], &(struct cli_query){ b->addr[i], b->len[i] });
	b->n = 0;
}

/* Splits a copy of s (in buf) into at most 3 words; returns how many
 * words there were (up to 4: more than 3 is an error). */
static int split_words(const char *s, char *buf, char *words[3])
{
	int nw = 0;

	strcpy(buf, s);
	for (char *w = buf + strspn(buf, " \t"); *w; w += strspn(w, " \t")) {
		size_t k = strcspn(w, " \t");

		if (nw == 3)
			return 4;
		words[nw++] = w;
		w += k;
		if (*w)
			*w++ = '\0';
	}
	return nw;
}

static int translate_batch(struct vmmap_ctx *ctx, const struct vm_table *t,
			   const struct translate_args *a)
{
	bool is_stdin = !strcmp(a->batch, "-");
	const char *name = is_stdin ? "<stdin>" : a->batch;
	int fd = is_stdin ? 0 : open(a->batch, O_RDONLY | O_CLOEXEC);
	struct cli_lines in = { .fd = -1 };
	struct batch b = {
		.ctx = ctx, .t = t, .a = a,
		.outcap = BATCH_OUT_MIN,
		.out = malloc(BATCH_OUT_MIN),
		.pc = malloc(a->max_pieces * sizeof(*b.pc)),
	};
	char *line, where[4096], *wbuf = malloc(CLI_LINE_MAX + 1);
	unsigned long lineno = 0;
	enum cli_line kind;
	size_t len;

	if (fd < 0) {
		free(b.out);
		free(b.pc);
		free(wbuf);
		return cli_error(ctx, "io", "%s: %s", a->batch, strerror(errno));
	}
	if (cli_lines_init(&in, fd) || !b.out || !b.pc || !wbuf) {
		free(b.out);
		free(b.pc);
		free(wbuf);
		cli_lines_free(&in);
		if (!is_stdin)
			close(fd);
		return cli_error(ctx, "nomem", "out of memory");
	}
	if (!ctx->quiet)
		setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	for (;;) {
		char *words[3], *s;
		struct cli_query q;
		int nw, rc;

		if (!(line = cli_lines_take(&in, &len, &kind))) {
			/* Answer everything before reading (which may block). */
			batch_flush(&b);
			batch_write(&b);
			fflush(stdout);
			if (in.eof || cli_lines_fill(&in))
				break;
			continue;
		}
		lineno++;
		if (kind == CLI_LINE_OK && fast_query(line, &q) == 0) {
			b.addr[b.n] = q.addr;
			b.len[b.n] = q.len;
			b.lineno[b.n] = lineno;
			if (++b.n == VM_UMEM_PREFETCH_MAX)
				batch_flush(&b);
			continue;
		}
		batch_flush(&b);
		batch_write(&b); /* before an error or an invalid line's answer */
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		if (kind == CLI_LINE_OK && (!*s || *s == '#'))
			continue; /* blank lines and comments give no result */
		/* Other forms, or an error to report with its place.  Words are
		 * split in a copy, so the line stays whole for messages, and
		 * follow the same number rules as arguments. */
		snprintf(where, sizeof(where), "%s:%lu", name, lineno);
		ctx->where = where;
		if (kind == CLI_LINE_TOO_LONG)
			rc = cli_error(ctx, "usage", "line longer than %d bytes; skipped",
				       CLI_LINE_MAX);
		else if (kind == CLI_LINE_NUL)
			rc = cli_error(ctx, "usage", "a NUL byte in the line");
		else if ((nw = split_words(s, wbuf, words)) > 2)
			rc = cli_error(ctx, "usage", "expected one query: ADDR [LEN]");
		else
			rc = cli_parse_query(ctx, words, nw, &q);
		ctx->where = NULL;
		if (rc) {
			/* Reported on stderr (or as a JSON line); the stream goes on. */
			if (!ctx->json && !ctx->quiet)
				printf("%s invalid\n", kind == CLI_LINE_TOO_LONG ? "(long line)" : s);
			b.worst = VMMAP_EXIT_NEGATIVE;
			continue;
		}
		batch_answer(&b, lineno, &q);
	}
	if (in.err)
		b.worst = cli_error(ctx, "io", "%s: %s", name, strerror(in.err));
	if (!is_stdin)
		close(fd);
	cli_lines_free(&in);
	free(wbuf);
	free(b.out);
	free(b.pc);
	return b.worst;
}

static void translate_result_free(struct translate_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->q[i].pieces);
	free(r->q);
	json_decref(r->capture);
}

int cmd_translate(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct translate_args a = {
		.ctx = ctx, .from = VM_SPACE_GPA, .max_pieces = DEFAULT_MAX_PIECES,
	};
	struct translate_result r = { 0 };
	struct vm_umem_last last = { 0 };
	struct cli_query *queries = NULL;
	struct cli_table tb;
	size_t nq = 0;
	int rc, used, negative = 0;

	if ((rc = cli_parse(ctx, &cmd_translate_argp, argc, argv, &a)))
		return rc;
	if (a.bad)
		return cli_error(ctx, "usage", "invalid option value '%s': %s",
				 a.bad, a.bad_why);
	if ((rc = cli_table_open(ctx, a.pos, a.npos, 0, &tb, &used)))
		return rc;
	if (a.batch) {
		rc = a.npos - used > 0
			? cli_error(ctx, "usage", "with --batch the queries come from %s, "
				    "not the command line", a.batch)
			: cli_files_allowed(ctx, a.batch) ? VMMAP_EXIT_ERROR
			: translate_batch(ctx, tb.t, &a);
		cli_table_close(&tb);
		return rc;
	}
	if (a.npos - used < 1) {
		cli_table_close(&tb);
		return cli_error(ctx, "usage", "missing ADDR (try 'vmmap translate --help')");
	}
	if ((rc = cli_parse_queries(ctx, a.pos + used, a.npos - used, 0, &queries, &nq))) {
		cli_table_close(&tb);
		return rc;
	}

	r.t = tb.t;
	r.capture = tb.t->capture ? json_loads(tb.t->capture, 0, NULL) : NULL;
	r.from = a.from;
	r.max_pieces = a.max_pieces;
	r.q = calloc(nq, sizeof(*r.q));
	if (!r.q) {
		rc = cli_error(ctx, "nomem", "out of memory");
		goto out;
	}
	for (r.n = 0; r.n < nq; r.n++) {
		struct translate_query *tq = &r.q[r.n];

		tq->q = queries[r.n];
		tq->pieces = malloc(a.max_pieces * sizeof(*tq->pieces));
		if (!tq->pieces) {
			rc = cli_error(ctx, "nomem", "out of memory");
			goto out;
		}
		/* Arguments were checked, so only a hole or the piece limit remain. */
		tq->rc = vm_umem_translate(&tb.t->umem, &last, a.from, tq->q.addr, tq->q.len,
					   tq->pieces, a.max_pieces, &tq->tr);
		negative |= tq->rc != 0;
	}
	rc = cli_emit(ctx, &r, translate_json, translate_print_plain,
		      negative ? VMMAP_EXIT_NEGATIVE : VMMAP_EXIT_OK);
out:
	translate_result_free(&r);
	free(queries);
	cli_table_close(&tb);
	return rc;
}
