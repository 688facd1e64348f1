/*
 * Fuzz target: the number and size parsers (core/num.c).  Every accepted
 * input must format back to a string that parses to the same value; a
 * refusal must come with a reason.  Decimal input is checked against a
 * reference parse done here with overflow checks of its own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void roundtrip(uint64_t v)
{
	char hex[VM_HEX_MAX], size[VM_SIZE_MAX];
	uint64_t back;
	const char *why;

	vm_fmt_hex(hex, v);
	CHECK(vm_parse_addr(hex, &back, &why) == 0 && back == v);
	CHECK(vm_parse_size(hex, &back, &why) == 0 && back == v);
	/* A printed size parses back to itself unless marked "~" (cut). */
	vm_fmt_size(size, v);
	CHECK(strlen(size) <= 9);
	CHECK(size[0] == '~' || (vm_parse_size(size, &back, &why) == 0 && back == v));
}

/* Plain decimal without leading zeros, checked for overflow here. */
static int ref_decimal(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *why = NULL;
	uint64_t a, b, r;
	int ra, rs;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	ra = vm_parse_addr(s, &a, &why);
	CHECK(ra == 0 || (why && *why));
	why = NULL;
	rs = vm_parse_size(s, &b, &why);
	CHECK(rs == 0 || (why && *why));
	if (ra == 0) {
		CHECK(rs == 0 && a == b); /* every address is a size too */
		roundtrip(a);
	}
	if (rs == 0)
		roundtrip(b);
	if (strlen(s) == size && ref_decimal(s, &r) == 0)
		CHECK(ra == 0 && a == r);
	free(s);
	return 0;
}
