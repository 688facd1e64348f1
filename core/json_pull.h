/*
 * The loader's pull parser: the lexer (strings, numbers, words, with their
 * line and column), releasing the parsed pages of a mapped file, and the
 * pull API over objects, arrays and skipped values, with the JSON rules
 * that hold everywhere (no key twice, a nesting limit) and the value
 * getters of the format (addresses, names).
 *
 * Included by json_load.c only, which holds the schema.  Its functions are
 * static, as they were when both lived in one file: the parser's calls to
 * next() stay within one translation unit, where the compiler inlines
 * what it chose to before, so the split costs the loader no speed.
 */
#ifndef VMMAP_JSON_PULL_H
#define VMMAP_JSON_PULL_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

/* Code point cp (at most 0x10ffff, no surrogate) as UTF-8 in out: its
 * length. */
static size_t utf8_put(char out[4], unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
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
			size_t k = vm_utf8_len((const unsigned char *)p,
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
				k = utf8_put(out, cp);
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

#endif
