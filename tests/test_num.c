/*
 * Address and size grammar, and the exact human sizes.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "num.h"

struct case_ok {
	const char *in;
	uint64_t want;
};

static const struct case_ok addr_ok[] = {
	{ "0", 0 },
	{ "0x0", 0 },
	{ "4096", 4096 },
	{ "0x1000", 0x1000 },
	{ "0X1f", 0x1f },
	{ "0x00000000000000000001", 1 }, /* leading zeros in hex are fine */
	{ "18446744073709551615", UINT64_MAX },
	{ "0xffffffffffffffff", UINT64_MAX },
};

static const char *const addr_bad[] = {
	"", "010", "00", "-1", "+1", " 1", "1 ", "0x", "0xg", "12abc", "1K",
	"18446744073709551616", "0x10000000000000000", "99999999999999999999",
	"0x1-", "1.5",
};

static const struct case_ok size_ok[] = {
	{ "1", 1 },
	{ "0x30000", 0x30000 },
	{ "640K", 640 << 10 },
	{ "1.5G", UINT64_C(3) << 29 }, /* as vmmap prints sizes */
	{ "640k", 640 << 10 },
	{ "2G", UINT64_C(2) << 30 },
	{ "1KiB", 1024 },
	{ "4MiB", 4 << 20 },
	{ "3T", UINT64_C(3) << 40 },
	{ "15E", UINT64_C(15) << 60 },
	{ "16383P", UINT64_C(16383) << 50 },
};

static const char *const size_bad[] = {
	"0x20M", "4Q", "16E", "16384P", "1KB", "1Ki", "K", "-4K",
	"17179869184G", "010K",
};

Test(num, addresses)
{
	const char *why;
	uint64_t v;

	for (size_t i = 0; i < sizeof(addr_ok) / sizeof(addr_ok[0]); i++) {
		cr_expect_eq(vm_parse_addr(addr_ok[i].in, &v, &why), 0, "'%s'",
			     addr_ok[i].in);
		cr_expect_eq(v, addr_ok[i].want, "'%s'", addr_ok[i].in);
	}
	for (size_t i = 0; i < sizeof(addr_bad) / sizeof(addr_bad[0]); i++) {
		why = NULL;
		cr_expect_neq(vm_parse_addr(addr_bad[i], &v, &why), 0,
			      "'%s' must be rejected", addr_bad[i]);
		cr_expect_not_null(why, "'%s' has a reason", addr_bad[i]);
	}
}

Test(num, sizes)
{
	const char *why;
	uint64_t v;

	for (size_t i = 0; i < sizeof(size_ok) / sizeof(size_ok[0]); i++) {
		cr_expect_eq(vm_parse_size(size_ok[i].in, &v, &why), 0, "'%s'",
			     size_ok[i].in);
		cr_expect_eq(v, size_ok[i].want, "'%s'", size_ok[i].in);
	}
	for (size_t i = 0; i < sizeof(size_bad) / sizeof(size_bad[0]); i++)
		cr_expect_neq(vm_parse_size(size_bad[i], &v, &why), 0,
			      "'%s' must be rejected", size_bad[i]);
}

Test(num, octal_is_explained)
{
	const char *why = NULL;
	uint64_t v;

	cr_assert_neq(vm_parse_addr("010", &v, &why), 0);
	cr_assert(why && strstr(why, "octal"), "%s", why);
}

/* Sizes as vmmap prints them parse back: decimals with a unit, whole
 * bytes only. */
Test(num, decimal_sizes)
{
	uint64_t v;
	const char *why;

	cr_assert_eq(vm_parse_size("2047.25M", &v, &why), 0);
	cr_assert_eq(v, UINT64_C(2096384) << 10);
	cr_assert_eq(vm_parse_size("1.5KiB", &v, &why), 0);
	cr_assert_eq(v, 1536);
	cr_assert_eq(vm_parse_size("15.5E", &v, &why), 0);
	cr_assert_eq(v, UINT64_C(31) << 59);
	cr_assert_neq(vm_parse_size("16.5E", &v, &why), 0);
	cr_assert_str_eq(why, "too large for 64 bits");
	cr_assert_neq(vm_parse_size("1.3K", &v, &why), 0);
	cr_assert_str_eq(why, "not a whole number of bytes");
	cr_assert_neq(vm_parse_size("1.5", &v, &why), 0);
	cr_assert(strstr(why, "needs a unit"), "%s", why);
	cr_assert_neq(vm_parse_size("1.K", &v, &why), 0);
	cr_assert_neq(vm_parse_size("0x1.8K", &v, &why), 0);
	cr_assert_neq(vm_parse_size("~4K", &v, &why), 0);
	cr_assert_neq(vm_parse_addr("1.5K", &v, &why), 0);
}

Test(num, formats)
{
	char buf[VM_SIZE_MAX], hex[VM_HEX_MAX];
	static const struct { uint64_t v; const char *s; } sizes[] = {
		{ 0, "0" }, { 1, "1" }, { 1023, "1023" }, { 1024, "1K" }, { 1536, "1.5K" },
		{ 4095, "4095" }, { 9999, "9999" }, { 10000, "~9.76K" }, { 640 << 10, "640K" },
		{ 0x7f40000, "127.25M" }, { 2096384ull << 10, "2047.25M" },
		{ UINT64_C(2) << 30, "2G" }, { (UINT64_C(3) << 30) / 4 * 5, "3.75G" },
		{ (UINT64_C(1) << 40) + 1, "~1T" }, { UINT64_C(1) << 60, "1E" },
		{ UINT64_MAX, "~15.99E" }, { UINT64_MAX - 1023, "~15.99E" },
		{ (UINT64_C(1) << 20) - 1, "~1023.99K" }, /* the widest */
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		vm_fmt_size(buf, sizes[i].v);
		cr_expect_str_eq(buf, sizes[i].s);
	}
	cr_expect_eq(vm_fmt_hex(hex, 0), 3);
	cr_expect_str_eq(hex, "0x0");
	cr_expect_eq(vm_fmt_hex(hex, UINT64_MAX), 18);
	cr_expect_str_eq(hex, "0xffffffffffffffff");
	cr_expect_eq(vm_fmt_hex(hex, 0xABC), 5);
	cr_expect_str_eq(hex, "0xabc");
	/* Every digit in every place (eight at a time since the formatter
	 * works so), against printf. */
	for (uint64_t x = 0x0123456789abcdefu, i = 0; i < 100000; i++) {
		char want[VM_HEX_MAX];

		x = x * 6364136223846793005u + 1442695040888963407u;
		snprintf(want, sizeof(want), "0x%" PRIx64, x >> (i % 64));
		vm_fmt_hex(hex, x >> (i % 64));
		cr_assert_str_eq(hex, want);
	}
	vm_fmt_hex(hex, 0xfedcba9876543210u);
	cr_expect_str_eq(hex, "0xfedcba9876543210");
	/* Every digit count, at both ends of its range. */
	for (int bits = 1; bits <= 64; bits++) {
		uint64_t lo = UINT64_C(1) << (bits - 1);
		uint64_t hi = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
		char want[VM_HEX_MAX];

		snprintf(want, sizeof(want), "0x%" PRIx64, lo);
		cr_expect_eq(vm_fmt_hex(hex, lo), strlen(want));
		cr_expect_str_eq(hex, want);
		snprintf(want, sizeof(want), "0x%" PRIx64, hi);
		cr_expect_eq(vm_fmt_hex(hex, hi), strlen(want));
		cr_expect_str_eq(hex, want);
	}
	for (int c = 0; c < 256; c++) {
		int want = c >= '0' && c <= '9' ? c - '0'
			 : c >= 'a' && c <= 'f' ? c - 'a' + 10
			 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		cr_expect_eq(vm_hex_digit((char)c), want, "char %d", c);
	}
}
