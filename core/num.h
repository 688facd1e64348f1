/*
 * Numbers as people type them: addresses and sizes on the command line.
 *
 *   address: 0x<hex> (either case) or decimal; no sign, no octal-looking
 *            leading zero ("010"), no trailing characters, no overflow.
 *   size:    an address-style number, or decimal with a binary suffix
 *            K, M, G, T, P, E (also KiB..EiB; x1024 each).  Hex takes no
 *            suffix: in "0x20M" the letters are ambiguous.
 *
 * Parsers return 0, or -EINVAL with a reason in *why (a static string).
 */
#ifndef VMMAP_NUM_H
#define VMMAP_NUM_H

#include <stddef.h>
#include <stdint.h>

/* The value of a hex digit (either case), or -1. */
static inline int vm_hex_digit(char c)
{
	unsigned d = (unsigned)(unsigned char)c - '0';
	unsigned l = ((unsigned)(unsigned char)c | 0x20) - 'a';

	return d < 10 ? (int)d : l < 6 ? (int)l + 10 : -1;
}

int vm_parse_addr(const char *s, uint64_t *out, const char **why);
int vm_parse_size(const char *s, uint64_t *out, const char **why);

/* "0x" + lowercase hex, no padding: the canonical JSON form.  Returns
 * the length (without the NUL).  Inline: translate --batch -j writes
 * eleven a line, millions of lines.  (Eight digits at a time by SWAR and
 * a copy of the tail measured slower: the copy's length is not known.) */
#define VM_HEX_MAX 19
static inline size_t vm_fmt_hex(char buf[VM_HEX_MAX], uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 2 + (v ? (size_t)(67 - __builtin_clzll(v)) / 4 : 1);

	buf[0] = '0';
	buf[1] = 'x';
	buf[n] = '\0';
	for (size_t i = n - 1; i >= 2; i--, v >>= 4)
		buf[i] = digits[v & 15];
	return n;
}

/* A size readable at a glance: bytes below 1K, else the largest binary
 * unit v reaches, with at most two decimals (640K, 2047.25M, 1.5G); a
 * size those do not give exactly is cut down and marked "~" (~3.99K for
 * 4095).  At most 9 characters ("~1023.99K"). */
#define VM_SIZE_MAX 24
void vm_fmt_size(char buf[VM_SIZE_MAX], uint64_t v);

/* Length of the valid UTF-8 sequence at p (at most end - p; a NUL ends a
 * sequence), or 0 when it is not one. */
size_t vm_utf8_len(const unsigned char *p, const unsigned char *end);

#endif
