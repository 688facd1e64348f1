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
	case ARGP_KEY_INIT:
		state->child_inputs[0] = a->ctx;
		return 0;
	case OPT_FROM:
		if (!strcmp(arg, "gpa"))
			a->from = VM_SPACE_GPA;
		else if (!strcmp(arg, "uaddr"))
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
	.args_doc = "[FILE] ADDR [LEN]\n[FILE] QUERY...",
	.doc = "Translate addresses the way vhost's translate_desc does: walk the "
	       "range region by region and print one piece per region crossed, "
	       "or the first unmapped address.\v"
	       "With one or two plain numbers they are ADDR and LEN (default 1).  "
	       "Otherwise each QUERY is ADDR, ADDR+LEN or FIRST-LAST (inclusive).  "
	       "Addresses are 0x hex or decimal; LEN also takes K, M, G, T "
	       "suffixes.  When regions overlap, the one with the lowest start "
	       "(then the first listed) maps the address.\n"
	       "Exit status: 0 all mapped, 1 a query is unmapped or needs too "
	       "many pieces, 2 usage or input error.",
	.children = cli_global_children,
};

static const char *space_name(enum vm_space s)
{
	return s == VM_SPACE_GPA ? "gpa" : "uaddr";
}

static void translate_print_plain(const struct translate_result *r)
{
	char range[CLI_RANGE_MAX], size[VM_SIZE_MAX], hole[CLI_RANGE_MAX];

	for (size_t i = 0; i < r->n; i++) {
		const struct translate_query *tq = &r->q[i];

		cli_fmt_range(range, tq->q.addr, tq->q.addr + tq->q.len - 1);
		vm_fmt_size(size, tq->q.len);
		printf("%s %s (%s): ", space_name(r->from), range, size);
		if (tq->rc == -EFAULT) {
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
			printf("  gpa %s %8s  uaddr %016" PRIx64 "  offset 0x%-10" PRIx64
			       " %s\n", range, size, p->userspace_addr, p->mmap_offset,
			       p->region->name ? cli_safe(p->region->name) : "-");
		}
	}
}

static json_t *piece_json(const struct vm_piece *p)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}",
			 "guest_phys_addr", vm_json_hex(p->guest_phys_addr),
			 "userspace_addr", vm_json_hex(p->userspace_addr),
			 "mmap_offset", vm_json_hex(p->mmap_offset),
			 "len", vm_json_hex(p->len),
			 "region", vm_json_region(p->region));
}

static json_t *query_error_json(const struct translate_result *r,
				const struct translate_query *tq)
{
	char msg[128];

	if (tq->rc == -EFAULT) {
		snprintf(msg, sizeof(msg), "no region maps 0x%" PRIx64,
			 tq->tr.fault_addr);
		return json_pack("{s:s, s:s, s:o, s:o, s:o}", "code", "unmapped",
				 "message", msg,
				 "addr", vm_json_hex(tq->tr.fault_addr),
				 "hole_first", vm_json_hex(tq->tr.hole_first),
				 "hole_last", vm_json_hex(tq->tr.hole_last));
	}
	snprintf(msg, sizeof(msg), "the range needs more than %" PRIu64 " piece%s",
		 r->max_pieces, r->max_pieces == 1 ? "" : "s");
	return json_pack("{s:s, s:s, s:o, s:I}", "code", "too-many-pieces",
			 "message", msg, "addr", vm_json_hex(tq->tr.fault_addr),
			 "max_pieces", (json_int_t)r->max_pieces);
}

static json_t *translate_json(const struct translate_result *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < r->n; i++) {
		const struct translate_query *tq = &r->q[i];
		json_t *pieces = json_array(), *o;

		for (size_t k = 0; pieces && k < tq->tr.npieces; k++)
			if (json_array_append_new(pieces, piece_json(&tq->pieces[k]))) {
				json_decref(pieces);
				pieces = NULL;
			}
		o = json_pack("{s:s, s:o, s:o, s:o, s:o}",
			      "from", space_name(r->from),
			      "addr", vm_json_hex(tq->q.addr),
			      "len", vm_json_hex(tq->q.len),
			      "last", vm_json_hex(tq->q.addr + tq->q.len - 1),
			      "pieces", pieces);
		if (o && tq->rc && json_object_set_new(o, "error", query_error_json(r, tq))) {
			json_decref(o);
			o = NULL;
		}
		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
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

/*
 * Text: "ADDR LEN STATUS [AT] OTHER:LEN..." where STATUS is mapped,
 * unmapped (AT: the first unmapped address) or too-many-pieces (AT: where
 * the next piece starts), and each piece gives its address in the other
 * space.  JSON Lines: one object per query.  out must hold a whole line.
 */
static char *format_result(char *p, bool json, unsigned long lineno,
			   enum vm_space from, const struct cli_query *q, int rc,
			   const struct vm_translation *tr, const struct vm_piece *pc)
{
	if (json) {
		p += sprintf(p, "{\"line\":%lu,\"from\":\"%s\",\"addr\":\"", lineno,
			     from == VM_SPACE_GPA ? "gpa" : "uaddr");
		p = put_hex(p, q->addr);
		p = put_str(p, "\",\"len\":\"");
		p = put_hex(p, q->len);
		p = put_str(p, "\",\"pieces\":[");
		for (size_t k = 0; k < tr->npieces; k++) {
			p = put_str(p, k ? ",{\"guest_phys_addr\":\"" : "{\"guest_phys_addr\":\"");
			p = put_hex(p, pc[k].guest_phys_addr);
			p = put_str(p, "\",\"userspace_addr\":\"");
			p = put_hex(p, pc[k].userspace_addr);
			p = put_str(p, "\",\"mmap_offset\":\"");
			p = put_hex(p, pc[k].mmap_offset);
			p = put_str(p, "\",\"len\":\"");
			p = put_hex(p, pc[k].len);
			p = put_str(p, "\"}");
		}
		p = put_str(p, "]");
		if (rc == -EFAULT) {
			p = put_str(p, ",\"error\":{\"code\":\"unmapped\",\"addr\":\"");
			p = put_hex(p, tr->fault_addr);
			p = put_str(p, "\",\"hole_first\":\"");
			p = put_hex(p, tr->hole_first);
			p = put_str(p, "\",\"hole_last\":\"");
			p = put_hex(p, tr->hole_last);
			p = put_str(p, "\"}");
		} else if (rc == -ENOBUFS) {
			p = put_str(p, ",\"error\":{\"code\":\"too-many-pieces\",\"addr\":\"");
			p = put_hex(p, tr->fault_addr);
			p = put_str(p, "\"}");
		}
		return put_str(p, "}\n");
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
	char *out;
	struct vm_piece *pc;
	int worst;
	size_t n;
	uint64_t addr[VM_UMEM_PREFETCH_MAX], len[VM_UMEM_PREFETCH_MAX];
	unsigned long lineno[VM_UMEM_PREFETCH_MAX];
};

static void batch_answer(struct batch *b, unsigned long lineno, const struct cli_query *q)
{
	struct vm_translation tr;
	int rc = vm_umem_translate(&b->t->umem, b->a->from, q->addr, q->len, b->pc,
				   b->a->max_pieces, &tr);

	if (rc)
		b->worst = VMMAP_EXIT_NEGATIVE;
	if (!b->ctx->quiet)
		fwrite_unlocked(b->out, 1,
				(size_t)(format_result(b->out, b->ctx->json, lineno, b->a->from,
						       q, rc, &tr, b->pc) - b->out), stdout);
}

static void batch_flush(struct batch *b)
{
	vm_umem_prefetch(&b->t->umem, b->a->from, b->addr, b->n);
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
		.out = malloc(256 + a->max_pieces * 128),
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

int cmd_translate(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct translate_args a = {
		.ctx = ctx, .from = VM_SPACE_GPA, .max_pieces = DEFAULT_MAX_PIECES,
	};
	struct translate_result r = { 0 };
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
	if ((rc = cli_parse_queries(ctx, a.pos + used, a.npos - used, &queries, &nq))) {
		cli_table_close(&tb);
		return rc;
	}

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
		tq->rc = vm_umem_translate(&tb.t->umem, a.from, tq->q.addr, tq->q.len,
					   tq->pieces, a.max_pieces, &tq->tr);
		negative |= tq->rc != 0;
	}
	if (ctx->json)
		rc = cli_emit_json(ctx, translate_json(&r));
	else if (!ctx->quiet)
		translate_print_plain(&r);
	if (!rc)
		rc = negative ? VMMAP_EXIT_NEGATIVE : VMMAP_EXIT_OK;
out:
	for (size_t i = 0; i < r.n; i++)
		free(r.q[i].pieces);
	free(r.q);
	free(queries);
	cli_table_close(&tb);
	return rc;
}
