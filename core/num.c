/*
 * Address and size parsing and formatting.  See num.h.
 */
#include "num.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/*
 * Parses the number at the start of s; *end is where it stopped.  Hand-written
 * instead of strtoull, which accepts signs and leading blanks.
 */
static int parse_number(const char *s, uint64_t *out, const char **end,
			int *is_hex, const char **why)
{
	uint64_t v = 0;
	const char *p = s;

	*is_hex = 0;
	if (*p == '-' || *p == '+') {
		*why = *p == '-' ? "negative numbers are not addresses"
				 : "no sign allowed";
		return -EINVAL;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		*is_hex = 1;
		p += 2;
		if (vm_hex_digit(*p) < 0) {
			*why = "no hex digits after 0x";
			return -EINVAL;
		}
		for (int d; (d = vm_hex_digit(*p)) >= 0; p++) {
			if (v >> 60) {
				*why = "too large for 64 bits";
				return -EINVAL;
			}
			v = v << 4 | (uint64_t)d;
		}
	} else {
		if (*p < '0' || *p > '9') {
			*why = "not a number";
			return -EINVAL;
		}
		if (p[0] == '0' && p[1] >= '0' && p[1] <= '9') {
			*why = "leading zero (octal is not accepted; write 0x... for hex)";
			return -EINVAL;
		}
		for (; *p >= '0' && *p <= '9'; p++) {
			unsigned d = (unsigned)(*p - '0');

			if (v > (UINT64_MAX - d) / 10) {
				*why = "too large for 64 bits";
				return -EINVAL;
			}
			v = v * 10 + d;
		}
	}
	*out = v;
	*end = p;
	return 0;
}

int vm_parse_addr(const char *s, uint64_t *out, const char **why)
{
	const char *end;
	int hex;

	if (parse_number(s, out, &end, &hex, why))
		return -EINVAL;
	if (*end) {
		*why = "trailing characters after the number";
		return -EINVAL;
	}
	return 0;
}

int vm_parse_size(const char *s, uint64_t *out, const char **why)
{
	static const char units[] = "KMGTPE";
	const char *end, *u;
	uint64_t v, frac = 0, scale = 1;
	unsigned __int128 part;
	int hex, shift;

	if (parse_number(s, &v, &end, &hex, why))
		return -EINVAL;
	/* Decimals, as the sizes vmmap prints ("2047.25M"): with a unit,
	 * and a whole number of bytes. */
	if (*end == '.' && !hex) {
		if (end[1] < '0' || end[1] > '9') {
			*why = "a decimal point needs digits after it";
			return -EINVAL;
		}
		for (end++; *end >= '0' && *end <= '9'; end++) {
			if (scale >= UINT64_C(1000000000000000000)) {
				*why = "too many decimals";
				return -EINVAL;
			}
			frac = frac * 10 + (uint64_t)(*end - '0');
			scale *= 10;
		}
		if (!*end) {
			*why = "a size with decimals needs a unit (K, M, G, T, P or E)";
			return -EINVAL;
		}
	}
	if (!*end) {
		*out = v;
		return 0;
	}
	if (hex) {
		*why = "a hex number takes no unit suffix";
		return -EINVAL;
	}
	u = *end ? strchr(units, *end >= 'a' ? *end - 32 : *end) : NULL;
	if (!u || (end[1] && strcmp(end + 1, "iB"))) {
		*why = "unknown suffix (use K, M, G, T, P or E, optionally with iB)";
		return -EINVAL;
	}
	shift = 10 * (int)(u - units + 1);
	part = (unsigned __int128)frac << shift;
	if (part % scale) {
		*why = "not a whole number of bytes";
		return -EINVAL;
	}
	if (v > UINT64_MAX >> shift || (v << shift) > UINT64_MAX - (uint64_t)(part / scale)) {
		*why = "too large for 64 bits";
		return -EINVAL;
	}
	*out = (v << shift) + (uint64_t)(part / scale);
	return 0;
}

/* v in unit 2^(10*u) to two decimals at most, cut down: whole part and
 * hundredths; whether that is exact. */
static bool in_unit(uint64_t v, int u, uint64_t *whole, uint64_t *frac)
{
	unsigned __int128 x = (unsigned __int128)v * 100;
	unsigned shift = 10 * (unsigned)u;

	*whole = (uint64_t)((x >> shift) / 100);
	*frac = (uint64_t)((x >> shift) % 100);
	return (x & (((unsigned __int128)1 << shift) - 1)) == 0;
}

void vm_fmt_size(char buf[VM_SIZE_MAX], uint64_t v)
{
	static const char units[] = " KMGTPE";
	uint64_t whole, frac;
	int top = 0, u, n;
	bool exact = false;

	while (top < 6 && v >> (10 * (top + 1)))
		top++;
	/* The largest unit that says v exactly in at most 4 digits and two
	 * decimals; else the largest unit v reaches, cut down. */
	for (u = top; u >= 0 && !exact; u--)
		exact = in_unit(v, u, &whole, &frac) && whole < 10000;
	if (exact)
		u++; /* the loop stepped past it */
	else
		in_unit(v, u = top, &whole, &frac);
	n = snprintf(buf, VM_SIZE_MAX, "%s%" PRIu64, exact ? "" : "~", whole);
	if (frac % 10)
		n += snprintf(buf + n, VM_SIZE_MAX - (size_t)n, ".%02" PRIu64, frac);
	else if (frac)
		n += snprintf(buf + n, VM_SIZE_MAX - (size_t)n, ".%" PRIu64, frac / 10);
	if (u > 0) {
		buf[n] = units[u];
		buf[n + 1] = '\0';
	}
}

/* Length of the valid UTF-8 sequence at p (at most end - p), or 0. */
size_t vm_utf8_len(const unsigned char *p, const unsigned char *end)
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
