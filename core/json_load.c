/*
 * Strict loader for vmmap documents.
 *
 * A small pull parser walks the text once, straight from the mapped file, and
 * the schema is checked while walking, so every diagnostic names the line and
 * column of the value at fault.  jansson builds a DOM without positions and
 * cannot hold integers above INT64_MAX, so it is used for output only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "num.h"
#include "table.h"

#define MAX_SAFE_INT ((UINT64_C(1) << 53) - 1)
#define MAX_DEPTH 64 /* nesting allowed inside values that are skipped */

enum tok {
	T_EOF, T_LBRACE, T_RBRACE, T_LBRACK, T_RBRACK, T_COLON, T_COMMA,
	T_STRING, T_NUMBER, T_TRUE, T_FALSE, T_NULL,
};

struct token {
	enum tok t;
	unsigned line, col;
	/* T_STRING: the decoded text, NUL-free, slen bytes.  A string without
	 * escapes or non-ASCII bytes (every string of a big table) points
	 * into the input, not NUL-terminated; any other is decoded into the
	 * lexer's scratch buffer.  tok_cstr gives a terminated copy. */
	const char *str;
	size_t slen;
	/* T_NUMBER */
	bool neg, frac, big; /* big: above UINT64_MAX */
	uint64_t u;
};

struct lex {
	const char *name;
	unsigned flags;
	/* A mapped file: the pages already parsed are given back as the
	 * parser moves on, so a big table does not keep its text resident. */
	const char *map, *released;
	const char *p, *end;
	const char *line_start;
	unsigned line;
	char *scratch;
	size_t scap;
	/* The keys of the skipped objects being read, as a stack (an object's
	 * keys are on top while it is read): for the duplicate-key rule. */
	char *keys;
	size_t klen, kcap;
	struct kref { size_t off; unsigned line, col; } *kref;
	size_t nkref, krcap;
	struct token tok; /* the current token */
	struct vm_error *err;
};

__attribute__((format(printf, 4, 5)))
static int fail_at(struct lex *lx, unsigned line, unsigned col,
		   const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(lx->err->msg, sizeof(lx->err->msg), "%s:%u:%u: ",
			 lx->name, line, col);

	if (n < 0 || (size_t)n >= sizeof(lx->err->msg))
		return -1;
	va_start(ap, fmt);
	vsnprintf(lx->err->msg + n, sizeof(lx->err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

#define fail_tok(lx, tk, ...) fail_at(lx, (tk)->line, (tk)->col, __VA_ARGS__)

static unsigned col_of(const struct lex *lx, const char *p)
{
	return (unsigned)(p - lx->line_start) + 1;
}

static int scratch_put(struct lex *lx, size_t *n, const char *s, size_t k)
{
	if (*n + k + 1 > lx->scap) {
		size_t cap = lx->scap ? lx->scap : 64;
		char *ns;

		while (cap < *n + k + 1)
			cap *= 2;
		ns = realloc(lx->scratch, cap);
		if (!ns)
			return -1;
		lx->scratch = ns;
		lx->scap = cap;
	}
	memcpy(lx->scratch + *n, s, k);
	*n += k;
	lx->scratch[*n] = '\0';
	return 0;
}

/* The current string token, NUL-terminated: one that points into the input
 * is copied to the scratch buffer first.  NULL when out of memory. */
static const char *tok_cstr(struct lex *lx)
{
	struct token *tk = &lx->tok;
	size_t n = 0;

	if (tk->str != lx->scratch) {
		if (scratch_put(lx, &n, tk->str, tk->slen))
			return NULL;
		tk->str = lx->scratch;
	}
	return tk->str;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		int d = vm_hex_digit(p[i]);

		if (d < 0)
			return -1;
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (at most end - p), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Bytes that stand for themselves in a string, as a bitmap: 0x20..0x7f
 * except '"' (0x22) and '\\' (0x5c). */
static const uint64_t plain_bits[4] = {
	UINT64_C(0xfffffffb00000000), UINT64_C(0xffffffffefffffff), 0, 0,
};

static inline bool plain_byte(unsigned char c)
{
	return plain_bits[c >> 6] >> (c & 63) & 1;
}

/* The first byte at or after p that is not plain (or end), eight bytes at
 * a time: in each mask the lowest flagged byte is exact (a borrow can only
 * flag bytes above a true one), and the bytes are little-endian in w. */
static const char *plain_run(const char *p, const char *end)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = UINT64_C(0x0101010101010101), high = ones << 7;

	while (end - p >= 8) {
		uint64_t w, q, b, m;

		memcpy(&w, p, 8);
		q = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		m = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w;
		m &= high;
		if (m)
			return p + (__builtin_ctzll(m) >> 3);
		p += 8;
	}
#endif
	while (p < end && plain_byte((unsigned char)*p))
		p++;
	return p;
}

static int lex_string(struct lex *lx, struct token *tk)
{
	const char *p = lx->p + 1;
	size_t n = 0;

	/* No copy for a plain string: its text is the input itself. */
	p = plain_run(p, lx->end);
	if (p < lx->end && *p == '"') {
		tk->t = T_STRING;
		tk->str = lx->p + 1;
		tk->slen = (size_t)(p - tk->str);
		lx->p = p + 1;
		return 0;
	}
	/* Decode into the scratch buffer, from the plain part already found. */
	if (scratch_put(lx, &n, lx->p + 1, (size_t)(p - (lx->p + 1))))
		return fail_tok(lx, tk, "out of memory");
	for (;;) {
		const char *run = p;

		p = plain_run(p, lx->end);
		if (p > run && scratch_put(lx, &n, run, (size_t)(p - run)))
			return fail_tok(lx, tk, "out of memory");
		if (p >= lx->end)
			return fail_tok(lx, tk, "unterminated string");
		if (*p == '"')
			break;
		if (*p == '\n')
			return fail_tok(lx, tk, "unterminated string (a line break inside it)");
		if ((unsigned char)*p < 0x20)
			return fail_at(lx, lx->line, col_of(lx, p),
				       "control character in string (escape it)");
		if ((unsigned char)*p >= 0x80) {
			size_t k = utf8_len((const unsigned char *)p,
					    (const unsigned char *)lx->end);

			if (!k)
				return fail_at(lx, lx->line, col_of(lx, p),
					       "invalid UTF-8 in string");
			if (scratch_put(lx, &n, p, k))
				return fail_tok(lx, tk, "out of memory");
			p += k;
			continue;
		}
		/* Backslash escape. */
		if (p + 1 >= lx->end)
			return fail_tok(lx, tk, "unterminated string");
		{
			const char *esc = p;
			char c = p[1], out[4];
			unsigned cp, lo;
			size_t k = 1;

			p += 2;
			switch (c) {
			case '"': case '\\': case '/': out[0] = c; break;
			case 'b': out[0] = '\b'; break;
			case 'f': out[0] = '\f'; break;
			case 'n': out[0] = '\n'; break;
			case 'r': out[0] = '\r'; break;
			case 't': out[0] = '\t'; break;
			case 'u':
				if (lx->end - p < 4 || hex4(p, &cp))
					return fail_at(lx, lx->line, col_of(lx, esc),
						       "bad \\u escape");
				p += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (lx->end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
					    hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
						return fail_at(lx, lx->line, col_of(lx, esc),
							       "unpaired surrogate in \\u escape");
					p += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return fail_at(lx, lx->line, col_of(lx, esc),
						       "unpaired surrogate in \\u escape");
				}
				if (cp == 0)
					return fail_at(lx, lx->line, col_of(lx, esc),
						       "\\u0000 is not allowed in strings");
				if (cp < 0x80) {
					out[0] = (char)cp;
				} else if (cp < 0x800) {
					out[0] = (char)(0xc0 | cp >> 6);
					out[1] = (char)(0x80 | (cp & 0x3f));
					k = 2;
				} else if (cp < 0x10000) {
					out[0] = (char)(0xe0 | cp >> 12);
					out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
					out[2] = (char)(0x80 | (cp & 0x3f));
					k = 3;
				} else {
					out[0] = (char)(0xf0 | cp >> 18);
					out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
					out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
					out[3] = (char)(0x80 | (cp & 0x3f));
					k = 4;
				}
				break;
			default:
				return fail_at(lx, lx->line, col_of(lx, esc),
					       "unknown escape '\\%c'", c);
			}
			if (scratch_put(lx, &n, out, k))
				return fail_tok(lx, tk, "out of memory");
		}
	}
	tk->t = T_STRING;
	tk->str = lx->scratch;
	tk->slen = n;
	lx->p = p + 1;
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int lex_number(struct lex *lx, struct token *tk)
{
	const char *p = lx->p;

	tk->t = T_NUMBER;
	tk->neg = tk->frac = tk->big = false;
	tk->u = 0;
	if (*p == '-') {
		tk->neg = true;
		p++;
	}
	if (p >= lx->end || !is_digit(*p))
		return fail_tok(lx, tk, "invalid number");
	if (*p == '0' && p + 1 < lx->end && is_digit(p[1]))
		return fail_tok(lx, tk, "invalid number: leading zero");
	for (; p < lx->end && is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (tk->u > (UINT64_MAX - d) / 10)
			tk->big = true;
		else
			tk->u = tk->u * 10 + d;
	}
	if (p < lx->end && *p == '.') {
		tk->frac = true;
		if (++p >= lx->end || !is_digit(*p))
			return fail_tok(lx, tk, "invalid number");
		while (p < lx->end && is_digit(*p))
			p++;
	}
	if (p < lx->end && (*p == 'e' || *p == 'E')) {
		tk->frac = true;
		if (++p < lx->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= lx->end || !is_digit(*p))
			return fail_tok(lx, tk, "invalid number");
		while (p < lx->end && is_digit(*p))
			p++;
	}
	lx->p = p;
	return 0;
}

static int lex_word(struct lex *lx, struct token *tk, const char *w, enum tok t)
{
	size_t n = strlen(w);

	if ((size_t)(lx->end - lx->p) < n || memcmp(lx->p, w, n))
		return fail_tok(lx, tk, "unexpected character '%c'", *lx->p);
	lx->p += n;
	tk->t = t;
	return 0;
}

#ifdef VMMAP_RELEASE_STEP
#define RELEASE_STEP ((size_t)VMMAP_RELEASE_STEP)
#else
#define RELEASE_STEP ((size_t)2 << 20)
#endif

/* Drops the mapped pages behind the parser (whole pages, 2 MiB at a time,
 * stopping a page short of where it stands).  This runs as the next token
 * is read: a plain string token points into the text, but every user of
 * one is done with it before asking for the next token, and columns are
 * pointer arithmetic, so nothing reads those pages again; if something
 * did, the file is still there to fault them back in. */
static void release_behind(struct lex *lx)
{
	uintptr_t from = (uintptr_t)lx->released, to;

	if (!lx->map || (size_t)(lx->p - lx->released) < RELEASE_STEP)
		return;
	to = ((uintptr_t)lx->p - 4096) & ~(uintptr_t)4095;
	if (to > from && !madvise((void *)from, to - from, MADV_DONTNEED))
		lx->released = (const char *)to;
}

/* Reads the next token into lx->tok. */
static int next(struct lex *lx)
{
	struct token *tk = &lx->tok;

	release_behind(lx);

	while (lx->p < lx->end) {
		char c = *lx->p;

		if (c == '\n') {
			lx->line++;
			lx->line_start = ++lx->p;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			lx->p++;
		} else {
			break;
		}
	}
	tk->line = lx->line;
	tk->col = col_of(lx, lx->p);
	if (lx->p >= lx->end) {
		tk->t = T_EOF;
		return 0;
	}
	switch (*lx->p) {
	case '{': tk->t = T_LBRACE; lx->p++; return 0;
	case '}': tk->t = T_RBRACE; lx->p++; return 0;
	case '[': tk->t = T_LBRACK; lx->p++; return 0;
	case ']': tk->t = T_RBRACK; lx->p++; return 0;
	case ':': tk->t = T_COLON; lx->p++; return 0;
	case ',': tk->t = T_COMMA; lx->p++; return 0;
	case '"': return lex_string(lx, tk);
	case 't': return lex_word(lx, tk, "true", T_TRUE);
	case 'f': return lex_word(lx, tk, "false", T_FALSE);
	case 'n': return lex_word(lx, tk, "null", T_NULL);
	default:
		if (*lx->p == '-' || is_digit(*lx->p))
			return lex_number(lx, tk);
		if ((unsigned char)*lx->p >= 0x20 && (unsigned char)*lx->p < 0x7f)
			return fail_tok(lx, tk, "unexpected character '%c'", *lx->p);
		return fail_tok(lx, tk, "unexpected byte 0x%02x",
				(unsigned char)*lx->p);
	}
}

static const char *tok_desc(enum tok t)
{
	switch (t) {
	case T_EOF: return "end of input";
	case T_LBRACE: return "an object";
	case T_RBRACE: return "'}'";
	case T_LBRACK: return "an array";
	case T_RBRACK: return "']'";
	case T_COLON: return "':'";
	case T_COMMA: return "','";
	case T_STRING: return "a string";
	case T_NUMBER: return "a number";
	case T_TRUE: case T_FALSE: return "a boolean";
	case T_NULL: return "null";
	}
	return "?";
}

/* Fails unless the current token is t (what: the expected thing). */
static int expect(struct lex *lx, enum tok t, const char *what)
{
	if (lx->tok.t != t)
		return fail_tok(lx, &lx->tok, "expected %s, found %s", what,
				tok_desc(lx->tok.t));
	return 0;
}

/*
 * Object iteration.  Call obj_begin on '{'; then obj_key returns 1 with the
 * key in lx->tok (string) and the value's first token read, 0 at '}', -1 on
 * error.  Duplicate keys are the caller's business.
 */
struct objit {
	bool first;
	bool keep_keys; /* push every whole key on lx->keys (skip_value) */
	char key[64];
	unsigned key_line, key_col;
};

/* Pushes the current string token, whole, as a key of the innermost
 * skipped object.  0 or -1 (out of memory, reported). */
static int push_key(struct lex *lx)
{
	const struct token *tk = &lx->tok;

	if (lx->kcap - lx->klen < tk->slen + 1) {
		size_t cap = (lx->kcap ? lx->kcap : 256) * 2 + tk->slen + 1;
		char *nk = realloc(lx->keys, cap);

		if (!nk)
			return fail_tok(lx, tk, "out of memory");
		lx->keys = nk;
		lx->kcap = cap;
	}
	if (lx->nkref == lx->krcap) {
		size_t cap = lx->krcap ? 2 * lx->krcap : 64;
		struct kref *nr = realloc(lx->kref, cap * sizeof(*nr));

		if (!nr)
			return fail_tok(lx, tk, "out of memory");
		lx->kref = nr;
		lx->krcap = cap;
	}
	lx->kref[lx->nkref++] = (struct kref){ lx->klen, tk->line, tk->col };
	memcpy(lx->keys + lx->klen, tk->str, tk->slen);
	lx->keys[lx->klen + tk->slen] = '\0';
	lx->klen += tk->slen + 1;
	return 0;
}

static int kref_cmp(const void *a, const void *b, void *keys)
{
	const struct kref *x = a, *y = b;
	int c = strcmp((const char *)keys + x->off, (const char *)keys + y->off);

	if (c)
		return c;
	return x->line != y->line ? (x->line < y->line ? -1 : 1)
				  : (x->col > y->col) - (x->col < y->col);
}

/* The duplicate-key rule over the keys kref[from..]: the second use of a
 * key is the error. */
static int check_keys(struct lex *lx, size_t from)
{
	size_t n = lx->nkref - from;
	struct kref *k;

	if (n < 2)
		return 0;
	k = lx->kref + from;
	if (n <= 16) { /* the usual object: no sort */
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (!strcmp(lx->keys + k[i].off, lx->keys + k[j].off))
					return fail_at(lx, k[i].line, k[i].col,
						       "duplicate key \"%.60s\"",
						       lx->keys + k[i].off);
		return 0;
	}
	qsort_r(k, n, sizeof(*k), kref_cmp, lx->keys);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(lx->keys + k[i].off, lx->keys + k[i - 1].off))
			return fail_at(lx, k[i].line, k[i].col, "duplicate key \"%.60s\"",
				       lx->keys + k[i].off);
	return 0;
}

static int obj_begin(struct lex *lx, struct objit *it, const char *what)
{
	if (expect(lx, T_LBRACE, what))
		return -1;
	it->first = true;
	it->keep_keys = false;
	return next(lx);
}

static int obj_key(struct lex *lx, struct objit *it)
{
	if (lx->tok.t == T_RBRACE) {
		return next(lx) ? -1 : 0;
	}
	if (!it->first) {
		if (expect(lx, T_COMMA, "',' or '}'") || next(lx))
			return -1;
	}
	it->first = false;
	if (expect(lx, T_STRING, "a key string"))
		return -1;
	it->key_line = lx->tok.line;
	it->key_col = lx->tok.col;
	if (it->keep_keys && push_key(lx))
		return -1;
	/* Longer keys are never valid; keep a truncated copy for the message.
	 * (memcpy: this runs for every key of a table of millions.) */
	if (lx->tok.slen < sizeof(it->key)) {
		memcpy(it->key, lx->tok.str, lx->tok.slen);
		it->key[lx->tok.slen] = '\0';
	} else {
		memcpy(it->key, lx->tok.str, sizeof(it->key) - 4);
		memcpy(it->key + sizeof(it->key) - 4, "...", 4);
	}
	if (next(lx) || expect(lx, T_COLON, "':'") || next(lx))
		return -1;
	return 1;
}

/* Array iteration: arr_begin on '['; arr_item returns 1 with the item's first
 * token current, 0 at ']', -1 on error. */
static int arr_begin(struct lex *lx, bool *first, const char *what)
{
	if (expect(lx, T_LBRACK, what))
		return -1;
	*first = true;
	return next(lx);
}

static int arr_item(struct lex *lx, bool *first)
{
	if (lx->tok.t == T_RBRACK)
		return next(lx) ? -1 : 0;
	if (!*first && (expect(lx, T_COMMA, "',' or ']'") || next(lx)))
		return -1;
	*first = false;
	return 1;
}

static int skip_value(struct lex *lx, int depth)
{
	int r;

	if (depth > MAX_DEPTH)
		return fail_tok(lx, &lx->tok, "nesting deeper than %d", MAX_DEPTH);
	switch (lx->tok.t) {
	case T_LBRACE: {
		struct objit it;
		size_t klen = lx->klen, nkref = lx->nkref;

		if (obj_begin(lx, &it, "an object"))
			return -1;
		/* Skipped, but still one JSON object: no key twice. */
		it.keep_keys = true;
		while ((r = obj_key(lx, &it)) > 0)
			if (skip_value(lx, depth + 1))
				return -1;
		if (r == 0 && check_keys(lx, nkref))
			r = -1;
		lx->klen = klen;
		lx->nkref = nkref;
		return r;
	}
	case T_LBRACK: {
		bool first;

		if (arr_begin(lx, &first, "an array"))
			return -1;
		while ((r = arr_item(lx, &first)) > 0)
			if (skip_value(lx, depth + 1))
				return -1;
		return r;
	}
	case T_STRING: case T_NUMBER: case T_TRUE: case T_FALSE: case T_NULL:
		return next(lx);
	default:
		return fail_tok(lx, &lx->tok, "expected a value, found %s",
				tok_desc(lx->tok.t));
	}
}

/* An address or size: "0x..." string or integer 0..2^53-1. */
static int get_u64(struct lex *lx, const char *key, uint64_t *out)
{
	const struct token *tk = &lx->tok;

	if (tk->t == T_NUMBER) {
		if (tk->neg)
			return fail_tok(lx, tk, "\"%s\" is negative", key);
		if (tk->frac)
			return fail_tok(lx, tk, "\"%s\" must be an integer", key);
		if (tk->big || tk->u > MAX_SAFE_INT)
			return fail_tok(lx, tk,
					"\"%s\" is above 2^53-1; write large values as \"0x...\" strings",
					key);
		*out = tk->u;
		return next(lx);
	}
	if (tk->t == T_STRING) {
		const char *s = tk->str;
		uint64_t v = 0;
		size_t i = 2;

		if (tk->slen < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
			return fail_tok(lx, tk,
					"\"%s\" must be a \"0x...\" hex string or an integer",
					key);
		for (; i < tk->slen; i++) {
			char c = s[i];
			int d = vm_hex_digit(c);

			if (d < 0)
				return fail_tok(lx, tk, "\"%s\": '%c' is not a hex digit",
						key, c);
			if (v >> 60)
				return fail_tok(lx, tk, "\"%s\" does not fit in 64 bits",
						key);
			v = v << 4 | (uint64_t)d;
		}
		*out = v;
		return next(lx);
	}
	return fail_tok(lx, tk, "\"%s\" must be a \"0x...\" hex string or an integer, not %s",
			key, tok_desc(tk->t));
}

/* A non-empty string value, copied to *out (malloc'ed). */
static int get_name(struct lex *lx, const char *key, char **out)
{
	if (lx->tok.t != T_STRING)
		return fail_tok(lx, &lx->tok, "\"%s\" must be a string, not %s",
				key, tok_desc(lx->tok.t));
	if (lx->tok.slen == 0)
		return fail_tok(lx, &lx->tok, "\"%s\" must not be empty", key);
	*out = malloc(lx->tok.slen + 1);
	if (!*out)
		return fail_tok(lx, &lx->tok, "out of memory");
	memcpy(*out, lx->tok.str, lx->tok.slen);
	(*out)[lx->tok.slen] = '\0';
	return next(lx);
}

static int dup_key(struct lex *lx, const struct objit *it)
{
	return fail_at(lx, it->key_line, it->key_col, "duplicate key \"%s\"",
		       it->key);
}

static int unknown_key(struct lex *lx, const struct objit *it,
		       const char *where, const char *known)
{
	return fail_at(lx, it->key_line, it->key_col,
		       "unknown key \"%s\" in %s (expected %s)", it->key, where,
		       known);
}

/* A lenient load keeps what the table cannot hold, for validate. */
static int keep_invalid(struct lex *lx, struct vm_table *t, const char *rule,
			int bus, const struct vm_region *r,
			const struct vm_io_range *io, unsigned line, unsigned col)
{
	struct vm_invalid *v, *nv;

	if (t->ninvalid % 16 == 0) {
		nv = realloc(t->invalid, (t->ninvalid + 16) * sizeof(*nv));
		if (!nv)
			return fail_at(lx, line, col, "out of memory");
		t->invalid = nv;
	}
	v = &t->invalid[t->ninvalid];
	memset(v, 0, sizeof(*v));
	v->rule = rule;
	v->bus = bus;
	v->line = line;
	v->col = col;
	if (r) {
		v->region = *r;
		v->region.name = NULL;
		if (r->name && !(v->region.name = strdup(r->name)))
			return fail_at(lx, line, col, "out of memory");
	} else {
		v->io = *io;
		if (!(v->io.dev = strdup(io->dev)))
			return fail_at(lx, line, col, "out of memory");
	}
	t->ninvalid++;
	return 0;
}

/* A region's numeric keys, in the order of parse_region's values. */
static const char *const region_keys[] = {
	"guest_phys_addr", "memory_size", "userspace_addr", "mmap_offset",
};

/* Which of region_keys the n bytes at s are, or 4: the candidate from the
 * length (and a letter), then one compare. */
static int region_key(const char *s, size_t n)
{
	int k = n == 15 ? 0 : n == 14 ? 2 : n == 11 ? (s[1] == 'e' ? 1 : 3) : 4;

	return k < 4 && !memcmp(s, region_keys[k], n) ? k : 4;
}

/* Skips JSON whitespace from p, counting lines. */
static const char *fast_ws(struct lex *lx, const char *p)
{
	for (; p < lx->end; p++) {
		if (*p == '\n') {
			lx->line++;
			lx->line_start = p + 1;
		} else if (*p != ' ' && *p != '\t' && *p != '\r') {
			break;
		}
	}
	return p;
}

/*
 * The common region, read straight from the text: the object whose '{' is
 * the current token holds the four numeric keys once each, in any order,
 * each a "0x" string of 1 to 16 hex digits, and describes a valid region
 * (non-empty, no wrap).  Then v[] holds the values, the lexer stands just
 * past the '}', and the result is true.  Anything else (a name, an
 * escape, an integer value, a duplicate, an error of any kind) returns
 * false with the lexer untouched, and the general parser reads the object
 * and words its diagnostic.  A table of a million regions spends most of
 * its load here.
 */
static bool fast_region(struct lex *lx, uint64_t v[4])
{
	const char *p = lx->p, *line_start = lx->line_start, *q;
	unsigned line = lx->line, seen = 0;

	for (int m = 0; m < 4; m++) {
		int k;
		uint64_t x = 0;
		size_t n;

		p = fast_ws(lx, p);
		if (p >= lx->end || *p++ != '"')
			goto no;
		q = plain_run(p, lx->end);
		if (q >= lx->end || *q != '"')
			goto no;
		k = region_key(p, (size_t)(q - p));
		if (k == 4 || seen & 1u << k)
			goto no;
		seen |= 1u << k;
		p = fast_ws(lx, q + 1);
		if (p >= lx->end || *p++ != ':')
			goto no;
		p = fast_ws(lx, p);
		if (lx->end - p < 4 || p[0] != '"' || p[1] != '0' ||
		    (p[2] != 'x' && p[2] != 'X'))
			goto no;
		p += 3;
		for (n = 0; p < lx->end; n++, p++) {
			int d = vm_hex_digit(*p);

			if (d < 0)
				break;
			x = x << 4 | (uint64_t)d;
		}
		if (n == 0 || n > 16 || p >= lx->end || *p++ != '"')
			goto no;
		v[k] = x;
		p = fast_ws(lx, p);
		if (p >= lx->end || *p++ != (m < 3 ? ',' : '}'))
			goto no;
	}
	if (v[1] == 0 || v[1] - 1 > UINT64_MAX - v[0] || v[1] - 1 > UINT64_MAX - v[2])
		goto no;
	lx->p = p;
	return true;
no:
	lx->line = line;
	lx->line_start = line_start;
	return false;
}

static int parse_region(struct lex *lx, struct vm_table *t)
{
	unsigned line = lx->tok.line, col = lx->tok.col;
	unsigned size_line = 0, size_col = 0;
	uint64_t v[4] = { 0 };
	bool seen[5] = { false };
	struct vm_region r = { 0 };
	struct vm_umem_node *node;
	struct objit it;
	int k, rc;

	if (lx->tok.t == T_LBRACE && fast_region(lx, v)) {
		r.guest_phys_addr = v[0];
		r.memory_size = v[1];
		r.userspace_addr = v[2];
		r.mmap_offset = v[3];
		node = vm_umem_bulk_add(&t->umem, &r);
		if (!node)
			return fail_at(lx, line, col, "out of memory");
		node->line = line;
		node->col = col;
		return next(lx);
	}
	if (obj_begin(lx, &it, "a region object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		k = region_key(it.key, strlen(it.key));
		if (k == 4 && strcmp(it.key, "name")) {
			rc = unknown_key(lx, &it, "region",
					 "guest_phys_addr, memory_size, userspace_addr, mmap_offset, name");
			break;
		}
		if (seen[k]) {
			rc = dup_key(lx, &it);
			break;
		}
		seen[k] = true;
		if (k == 1) {
			size_line = lx->tok.line;
			size_col = lx->tok.col;
		}
		if (k < 4 ? get_u64(lx, region_keys[k], &v[k]) : get_name(lx, "name", &r.name)) {
			rc = -1;
			break;
		}
	}
	if (rc < 0)
		goto out;
	for (k = 0; k < 4; k++)
		if (!seen[k]) {
			rc = fail_at(lx, line, col, "region is missing \"%s\"", region_keys[k]);
			goto out;
		}
	r.guest_phys_addr = v[0];
	r.memory_size = v[1];
	r.userspace_addr = v[2];
	r.mmap_offset = v[3];
	/* The loader fills the table in bulk: checked here, linked now, the
	 * trees built once at the end (vm_umem_bulk_end). */
	switch (r.memory_size == 0 ? -EINVAL
		: r.memory_size - 1 > UINT64_MAX - r.guest_phys_addr ||
		  r.memory_size - 1 > UINT64_MAX - r.userspace_addr ? -EOVERFLOW
		: (node = vm_umem_bulk_add(&t->umem, &r)) ? 0 : -ENOMEM) {
	case 0:
		node->line = line;
		node->col = col;
		rc = 0;
		break;
	case -EINVAL:
		rc = (lx->flags & VM_LOAD_KEEP_INVALID)
			? keep_invalid(lx, t, "zero-size", -1, &r, NULL, line, col)
			: fail_at(lx, size_line, size_col, "\"memory_size\" is 0 (empty region)");
		break;
	case -EOVERFLOW: {
		bool gpa = r.memory_size - 1 > UINT64_MAX - r.guest_phys_addr;

		rc = (lx->flags & VM_LOAD_KEEP_INVALID)
			? keep_invalid(lx, t, gpa ? "gpa-wrap" : "uaddr-wrap", -1, &r,
				       NULL, line, col)
			: fail_at(lx, line, col, gpa
				  ? "region wraps past 2^64-1 in guest-physical space"
				  : "region wraps past 2^64-1 in userspace_addr space");
		break;
	}
	default:
		rc = fail_at(lx, line, col, "out of memory");
		break;
	}
out:
	free(r.name);
	return rc < 0 ? -1 : 0;
}

static int parse_memory(struct lex *lx, struct vm_table *t)
{
	bool seen_regions = false, seen_holes = false, first;
	unsigned line = lx->tok.line, col = lx->tok.col;
	struct objit it;
	int rc;

	if (obj_begin(lx, &it, "the \"memory\" object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		if (!strcmp(it.key, "regions")) {
			if (seen_regions)
				return dup_key(lx, &it);
			seen_regions = true;
			if (arr_begin(lx, &first, "an array of regions"))
				return -1;
			vm_umem_bulk_begin(&t->umem);
			while ((rc = arr_item(lx, &first)) > 0)
				if (parse_region(lx, t))
					return -1;
			if (rc < 0)
				return -1;
			if (vm_umem_bulk_end(&t->umem))
				return fail_at(lx, line, col, "out of memory");
		} else if (!strcmp(it.key, "holes")) {
			/* Derived by show; accepted so show output loads back. */
			if (seen_holes)
				return dup_key(lx, &it);
			seen_holes = true;
			if (expect(lx, T_LBRACK, "an array of holes") || skip_value(lx, 0))
				return -1;
		} else {
			return unknown_key(lx, &it, "\"memory\"", "regions");
		}
	}
	if (rc < 0)
		return -1;
	if (!seen_regions)
		return fail_at(lx, line, col, "\"memory\" is missing \"regions\"");
	return 0;
}

static int parse_io_range(struct lex *lx, struct vm_table *t, int bus)
{
	static const char *const keys[] = { "addr", "len", "device", "kind" };
	unsigned line = lx->tok.line, col = lx->tok.col;
	bool seen[4] = { false };
	uint64_t addr = 0, len = 0;
	char *dev = NULL, *kind = NULL;
	int k, rc, kid = 0;
	long idx;
	struct objit it;

	if (obj_begin(lx, &it, "a registration object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		for (k = 0; k < 4 && strcmp(it.key, keys[k]); k++)
			;
		if (k == 4) {
			rc = unknown_key(lx, &it, "registration", "addr, len, device, kind");
			break;
		}
		if (seen[k]) {
			rc = dup_key(lx, &it);
			break;
		}
		seen[k] = true;
		if (k == 3 && lx->tok.t == T_STRING) {
			const char *name = tok_cstr(lx);

			if (!name) {
				rc = fail_tok(lx, &lx->tok, "out of memory");
				break;
			}
			if ((kid = vm_io_kind_from_name(name)) < 0) {
				rc = fail_tok(lx, &lx->tok,
					      "unknown kind \"%s\" (expected device, ioeventfd or coalesced)",
					      name);
				break;
			}
		}
		rc = k == 0 ? get_u64(lx, "addr", &addr)
		   : k == 1 ? get_u64(lx, "len", &len)
		   : k == 2 ? get_name(lx, "device", &dev)
			    : get_name(lx, "kind", &kind);
		if (rc < 0)
			break;
		rc = 1;
	}
	if (rc < 0)
		goto out;
	for (k = 0; k < 4; k++)
		if (!seen[k]) {
			rc = fail_at(lx, line, col, "registration is missing \"%s\"", keys[k]);
			goto out;
		}
	idx = vm_io_bus_register_dev(&t->bus[bus], addr, len, dev, kid);
	if (idx >= 0) {
		t->bus[bus].range[idx].line = line;
		t->bus[bus].range[idx].col = col;
		rc = 0;
	} else if ((idx == -EOVERFLOW || idx == -ENOSPC) &&
		   (lx->flags & VM_LOAD_KEEP_INVALID)) {
		struct vm_io_range io = {
			.addr = addr, .len = len, .dev = dev, .kind = kid,
		};

		rc = keep_invalid(lx, t, idx == -EOVERFLOW ? "bus-wrap" : "bus-full",
				  bus, NULL, &io, line, col);
	} else if (idx == -EOVERFLOW) {
		rc = fail_at(lx, line, col, "registration wraps past 2^64-1");
	} else if (idx == -ENOSPC) {
		rc = fail_at(lx, line, col,
			     "bus %s already holds %d registrations that are not ioeventfds (KVM's NR_IOBUS_DEVS)",
			     vm_bus_name(bus), VM_NR_IOBUS_DEVS);
	} else {
		rc = fail_at(lx, line, col, "out of memory");
	}
out:
	free(dev);
	free(kind);
	return rc < 0 ? -1 : 0;
}

static int parse_buses(struct lex *lx, struct vm_table *t)
{
	bool seen[VM_NR_BUSES] = { false }, first;
	struct objit it;
	int rc, bus;

	if (obj_begin(lx, &it, "the \"buses\" object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		bus = vm_bus_from_name(it.key);
		if (bus < 0)
			return unknown_key(lx, &it, "\"buses\"",
					   "mmio, pio, virtio-ccw, fast-mmio");
		if (seen[bus])
			return dup_key(lx, &it);
		seen[bus] = true;
		if (arr_begin(lx, &first, "an array of registrations"))
			return -1;
		while ((rc = arr_item(lx, &first)) > 0)
			if (parse_io_range(lx, t, bus))
				return -1;
		if (rc < 0)
			return -1;
	}
	return rc;
}

/* The "vmmap": 1 or "schema": 1 version member. */
static int get_version(struct lex *lx, const char *key)
{
	const struct token *tk = &lx->tok;

	if (tk->t != T_NUMBER || tk->neg || tk->frac || tk->big)
		return fail_tok(lx, tk, "\"%s\" must be the integer %d", key,
				VM_DOC_VERSION);
	if (tk->u != VM_DOC_VERSION)
		return fail_tok(lx, tk, "unsupported %s version %" PRIu64
				" (this vmmap reads version %d)", key, tk->u,
				VM_DOC_VERSION);
	return next(lx);
}

static int parse_document(struct lex *lx, struct vm_table *t, int wrapped);

/* {"schema": 1, "command": "show", "result": {document}}: show's output. */
static int parse_wrapper_member(struct lex *lx, struct vm_table *t,
				struct objit *it, bool *seen)
{
	if (!strcmp(it->key, "schema")) {
		if (seen[0])
			return dup_key(lx, it);
		seen[0] = true;
		return get_version(lx, "schema");
	}
	if (!strcmp(it->key, "command")) {
		if (seen[1])
			return dup_key(lx, it);
		seen[1] = true;
		if (lx->tok.t != T_STRING)
			return fail_tok(lx, &lx->tok, "\"command\" must be a string");
		if (!tok_cstr(lx))
			return fail_tok(lx, &lx->tok, "out of memory");
		if (strcmp(lx->tok.str, "show"))
			return fail_tok(lx, &lx->tok,
					"this is the output of \"%s\", not a table (only show output loads)",
					lx->tok.str);
		return next(lx);
	}
	if (seen[2])
		return dup_key(lx, it);
	seen[2] = true;
	return parse_document(lx, t, 1);
}

static int mixed(struct lex *lx, const struct objit *it)
{
	return fail_at(lx, it->key_line, it->key_col,
		       "\"%s\" mixes a table document with show's output wrapper",
		       it->key);
}

static int parse_document(struct lex *lx, struct vm_table *t, int wrapped)
{
	/* vmmap, memory, buses, capture | schema, command, result */
	bool seen[7] = { false };
	unsigned line = lx->tok.line, col = lx->tok.col;
	struct objit it;
	int rc;

	if (obj_begin(lx, &it, wrapped ? "the \"result\" object" : "a JSON object"))
		return -1;
	while ((rc = obj_key(lx, &it)) > 0) {
		int doc_key = !strcmp(it.key, "vmmap") ? 0
			    : !strcmp(it.key, "memory") ? 1
			    : !strcmp(it.key, "buses") ? 2
			    : !strcmp(it.key, "capture") ? 3 : -1;
		int wrap_key = wrapped ? -1
			     : !strcmp(it.key, "schema") ? 0
			     : !strcmp(it.key, "command") ? 1
			     : !strcmp(it.key, "result") ? 2 : -1;

		if (wrap_key >= 0) {
			if (seen[0] || seen[1] || seen[2] || seen[3])
				return mixed(lx, &it);
			if (parse_wrapper_member(lx, t, &it, seen + 4))
				return -1;
			continue;
		}
		if (doc_key < 0)
			return unknown_key(lx, &it, wrapped ? "\"result\"" : "the document",
					   "vmmap, memory, buses, capture");
		if (seen[4] || seen[5] || seen[6])
			return mixed(lx, &it);
		if (seen[doc_key])
			return dup_key(lx, &it);
		seen[doc_key] = true;
		/* capture: what vmmap capture recorded around the table; the
		 * table is all that loads. */
		if ((doc_key == 0 && get_version(lx, "vmmap")) ||
		    (doc_key == 1 && parse_memory(lx, t)) ||
		    (doc_key == 2 && parse_buses(lx, t)) ||
		    (doc_key == 3 && (expect(lx, T_LBRACE, "the \"capture\" object") ||
				      skip_value(lx, 0))))
			return -1;
	}
	if (rc < 0)
		return -1;
	if (seen[4] || seen[5] || seen[6]) {
		if (!seen[6])
			return fail_at(lx, line, col, "show output is missing \"result\"");
		if (!seen[5])
			return fail_at(lx, line, col, "show output is missing \"command\"");
		return 0;
	}
	if (!seen[0])
		return fail_at(lx, line, col,
			       "not a vmmap document: missing \"vmmap\": %d",
			       VM_DOC_VERSION);
	return 0;
}

static int load(struct vm_table *t, const char *name, const char *buf,
		size_t len, unsigned flags, const char *map, struct vm_error *err)
{
	struct lex lx = {
		.name = name, .flags = flags, .p = buf, .end = buf + len,
		.line_start = buf, .line = 1, .err = err, .map = map, .released = map,
	};
	int rc = -1;

	/* A UTF-8 byte-order mark is skipped, as jq and Python do; columns
	 * count from after it. */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		lx.p = lx.line_start = buf + 3;
	if (next(&lx))
		goto out;
	if (lx.tok.t == T_EOF) {
		fail_tok(&lx, &lx.tok, "empty input, expected a vmmap document");
		goto out;
	}
	if (parse_document(&lx, t, 0))
		goto out;
	if (lx.tok.t != T_EOF) {
		fail_tok(&lx, &lx.tok, "trailing data after the document (found %s)",
			 tok_desc(lx.tok.t));
		goto out;
	}
	rc = 0;
out:
	free(lx.scratch);
	free(lx.keys);
	free(lx.kref);
	if (rc) {
		vm_table_clean(t);
		vm_table_init(t);
	}
	return rc;
}

void vm_one_line(char *msg, size_t cap)
{
	char out[1024];
	size_t o = 0, lim = cap < sizeof(out) ? cap : sizeof(out);

	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		char esc[8];
		size_t k;

		if (*p >= 0x20 && *p != 0x7f) {
			esc[0] = (char)*p;
			k = 1;
		} else {
			k = (size_t)snprintf(esc, sizeof(esc), *p == '\n' ? "\\n" :
					     *p == '\t' ? "\\t" : "\\x%02x", *p);
		}
		if (o + k >= lim)
			break;
		memcpy(out + o, esc, k);
		o += k;
	}
	out[o] = '\0';
	memcpy(msg, out, o + 1);
}

static void one_line(struct vm_error *err)
{
	vm_one_line(err->msg, sizeof(err->msg));
}

int vm_table_load_buffer(struct vm_table *t, const char *name,
			 const char *buf, size_t len, unsigned flags,
			 struct vm_error *err)
{
	int rc = load(t, name, buf, len, flags, NULL, err);

	if (rc)
		one_line(err);
	return rc;
}

static int load_file(struct vm_table *t, const char *path, unsigned flags,
		     struct vm_error *err);

int vm_table_load_file(struct vm_table *t, const char *path, unsigned flags,
		       struct vm_error *err)
{
	int rc = load_file(t, path, flags, err);

	if (rc)
		one_line(err);
	return rc;
}

static int load_file(struct vm_table *t, const char *path, unsigned flags,
		     struct vm_error *err)
{
	struct vm_input in;
	int rc;

	if (vm_input_open(&in, path, true, err))
		return -1;
	rc = load(t, in.name, in.buf, in.len, flags, in.mapped ? in.buf : NULL, err);
	vm_input_close(&in);
	return rc;
}
