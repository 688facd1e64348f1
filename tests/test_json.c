/*
 * The JSON table codec: every error class with its exact position, what is
 * accepted (integers to 2^53-1, any hex case, escapes, show's wrapper), the
 * loaded values, and byte-stable round trips of every fixture.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "table.h"

#define R4 "\"guest_phys_addr\": \"0x0\", \"memory_size\": \"0x1000\", " \
	   "\"userspace_addr\": \"0x7f0000000000\", \"mmap_offset\": \"0x0\""

struct bad_case {
	const char *text;
	const char *want; /* the full diagnostic */
};

static const struct bad_case bad[] = {
	{ "", "t:1:1: empty input, expected a vmmap document" },
	{ "  \n ", "t:2:2: empty input, expected a vmmap document" },
	{ "[]", "t:1:1: expected a JSON object, found an array" },
	{ "{\"vmmap\": 1", "t:1:12: expected ',' or '}', found end of input" },
	{ "{\"vmmap\": 1,}", "t:1:13: expected a key string, found '}'" },
	{ "{\"vmmap\": 1} x", "t:1:14: unexpected character 'x'" },
	{ "{\"vmmap\": 1} {}", "t:1:14: trailing data after the document (found an object)" },
	{ "{}", "t:1:1: not a vmmap document: missing \"vmmap\": 1" },
	{ "{\"vmmap\": 2}", "t:1:11: unsupported vmmap version 2 (this vmmap reads version 1)" },
	{ "{\"vmmap\": \"1\"}", "t:1:11: \"vmmap\" must be the integer 1" },
	{ "{\"vmmap\": 1, \"vmmap\": 1}", "t:1:14: duplicate key \"vmmap\"" },
	{ "{\"vmmap\": 1, \"extra\": 1}",
	  "t:1:14: unknown key \"extra\" in the document (expected vmmap, memory, buses, capture, import)" },
	{ "{\"vmmap\": 1, \"memory\": []}",
	  "t:1:24: expected the \"memory\" object, found an array" },
	{ "{\"vmmap\": 1, \"memory\": {}}", "t:1:24: \"memory\" is missing \"regions\"" },
	{ "{\"vmmap\": 1,\n \"memory\": {\"regions\": [\n  {\"guest_phys_addr\": \"0x0\"}]}}",
	  "t:3:3: region is missing \"memory_size\"" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"slot\":1}]}}",
	  "t:1:142: unknown key \"slot\" in region (expected guest_phys_addr, "
	  "memory_size, userspace_addr, mmap_offset, name, fd)" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": -1}]}}",
	  "t:1:53: \"guest_phys_addr\" is negative" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": 1e3}]}}",
	  "t:1:53: \"guest_phys_addr\" must be an integer" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": 9007199254740992}]}}",
	  "t:1:53: \"guest_phys_addr\" is above 2^53-1; write large values as \"0x...\" strings" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": 18446744073709551616}]}}",
	  "t:1:53: \"guest_phys_addr\" is above 2^53-1; write large values as \"0x...\" strings" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": \"0x10000000000000000\"}]}}",
	  "t:1:53: \"guest_phys_addr\" does not fit in 64 bits" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": \"4096\"}]}}",
	  "t:1:53: \"guest_phys_addr\" must be a \"0x...\" hex string or an integer" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": \"0x\"}]}}",
	  "t:1:53: \"guest_phys_addr\" must be a \"0x...\" hex string or an integer" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": null}]}}",
	  "t:1:53: \"guest_phys_addr\" must be a \"0x...\" hex string or an integer, not null" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\": 012}]}}",
	  "t:1:53: invalid number: leading zero" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\":\"0x0\",\"memory_size\":0,"
	  "\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x0\"}]}}",
	  "t:1:72: \"memory_size\" is 0 (empty region)" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{\"guest_phys_addr\":\"0xfffffffffffff000\","
	  "\"memory_size\":\"0x1001\",\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x0\"}]}}",
	  "t:1:33: region wraps past 2^64-1 in guest-physical space" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"name\":5}]}}",
	  "t:1:149: \"name\" must be a string, not a number" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"name\":\"a\\u0000b\"}]}}",
	  "t:1:151: \\u0000 is not allowed in strings" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"name\":\"\\ud800\"}]}}",
	  "t:1:150: unpaired surrogate in \\u escape" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"name\":\"\\q\"}]}}",
	  "t:1:150: unknown escape '\\q'" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"name\":\"\xc3\x28\"}]}}",
	  "t:1:150: invalid UTF-8 in string" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"name\":\"abc",
	  "t:1:149: unterminated string" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"fd\":[]}]}}",
	  "t:1:147: expected the \"fd\" object, found an array" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"fd\":{\"type\":\"memfd\"}}]}}",
	  "t:1:147: \"fd\" is missing \"dev\"" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"fd\":{\"type\":\"pipe\"}}]}}",
	  "t:1:155: unknown descriptor type (expected file, memfd, shm, socket, fifo, chr, "
	  "blk, dir, other or unknown)" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"fd\":{\"inode\":1}}]}}",
	  "t:1:148: unknown key \"inode\" in \"fd\" (expected type, path, dev, ino, size)" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"fd\":{\"dev\":\"0:1:2\"}}]}}",
	  "t:1:154: \"dev\" must be \"MAJOR:MINOR\" in hex (as /proc/PID/maps prints it), "
	  "not \"0:1:2\"" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"fd\":{\"dev\":1}}]}}",
	  "t:1:154: \"dev\" must be a \"MAJOR:MINOR\" string, not a number" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[{" R4 ",\"fd\":{\"ino\":-1}}]}}",
	  "t:1:154: \"ino\" is negative" },
	{ "{\"vmmap\":1,\"buses\":{\"isa\":[]}}",
	  "t:1:21: unknown key \"isa\" in \"buses\" (expected mmio, pio, virtio-ccw, fast-mmio)" },
	{ "{\"vmmap\":1,\"buses\":{\"pio\":[],\"pio\":[]}}", "t:1:30: duplicate key \"pio\"" },
	{ "{\"vmmap\":1,\"buses\":{\"pio\":[{\"addr\":\"0x60\",\"len\":1,\"device\":\"kbd\"}]}}",
	  "t:1:28: registration is missing \"kind\"" },
	{ "{\"vmmap\":1,\"buses\":{\"pio\":[{\"addr\":\"0x60\",\"len\":1,\"device\":\"kbd\",\"kind\":\"irq\"}]}}",
	  "t:1:73: unknown kind \"irq\" (expected device, ioeventfd or coalesced)" },
	{ "{\"vmmap\":1,\"buses\":{\"pio\":[{\"addr\":\"0x60\",\"len\":1,\"device\":\"kbd\",\"kind\":\"device\","
	  "\"datamatch\":1}]}}",
	  "t:1:94: \"datamatch\" needs an ioeventfd of 1, 2, 4 or 8 bytes and a value that fits "
	  "them (KVM's ioeventfd rules)" },
	{ "{\"vmmap\":1,\"buses\":{\"pio\":[{\"addr\":\"0x60\",\"len\":1,\"device\":\"k\",\"kind\":\"ioeventfd\","
	  "\"datamatch\":256}]}}",
	  "t:1:95: \"datamatch\" needs an ioeventfd of 1, 2, 4 or 8 bytes and a value that fits "
	  "them (KVM's ioeventfd rules)" },
	{ "{\"vmmap\":1,\"buses\":{\"mmio\":[{\"addr\":\"0xffffffffffffffff\",\"len\":2,"
	  "\"device\":\"x\",\"kind\":\"device\"}]}}",
	  "t:1:29: registration wraps past 2^64-1" },
	{ "{\"schema\":1,\"command\":\"lookup\",\"result\":[]}",
	  "t:1:23: this is the output of \"lookup\", not a table (only show output loads)" },
	{ "{\"schema\":1,\"command\":\"show\"}", "t:1:1: show output is missing \"result\"" },
	{ "{\"vmmap\":1,\"capture\":[]}", "t:1:22: expected the \"capture\" object, found an array" },
	{ "{\"schema\":1,\"vmmap\":1}",
	  "t:1:13: \"vmmap\" mixes a table document with show's output wrapper" },
	{ "{\"schema\":1,\"command\":\"show\",\"result\":{\"schema\":1}}",
	  "t:1:40: unknown key \"schema\" in \"result\" (expected vmmap, memory, buses, capture, import)" },
	{ "{\"vmmap\":1,\"memory\":{\"regions\":[],\"holes\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
	  "t:1:108: nesting deeper than 64" },
};

/* Found by fuzz_json: a key with an escaped newline was quoted raw, and the
 * error took two lines.  Every loader error is one line. */
Test(json, errors_quote_control_characters_escaped)
{
	static const char doc[] = "{\"vmmap\": 1, \"l\\n\\u0001\": 2}";
	struct vm_table t;
	struct vm_error err = { { 0 } };

	vm_table_init(&t);
	cr_assert_neq(vm_table_load_buffer(&t, "a\tb.json", doc, strlen(doc), 0, &err), 0);
	cr_assert_null(strchr(err.msg, '\n'), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "a\\tb.json:1:14: unknown key \"l\\n\\x01\""),
			   "%s", err.msg);
	vm_table_clean(&t);
}

Test(json, every_error_class_names_its_place)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_table t;
		struct vm_error err = { { 0 } };

		vm_table_init(&t);
		cr_expect_eq(vm_table_load_buffer(&t, "t", bad[i].text,
						  strlen(bad[i].text), 0, &err), -1,
			     "case %zu must fail: %s", i, bad[i].text);
		cr_expect_str_eq(err.msg, bad[i].want, "case %zu:\n got: %s\nwant: %s", i, err.msg, bad[i].want);
		cr_expect_eq(t.umem.nregions, 0, "case %zu leaves the table empty", i);
		vm_table_clean(&t);
	}
}

static void load_ok(struct vm_table *t, const char *text)
{
	struct vm_error err = { { 0 } };

	vm_table_init(t);
	cr_assert_eq(vm_table_load_buffer(t, "t", text, strlen(text), 0, &err), 0,
		     "%s", err.msg);
}

Test(json, accepted_forms_and_values)
{
	struct vm_table t;

	load_ok(&t,
		"{\"buses\": {\"pio\": [{\"kind\": \"device\", \"device\": \"pit\", \"len\": 4, \"addr\": 64}]},\n"
		" \"memory\": {\"regions\": [\n"
		"   {\"guest_phys_addr\": 9007199254740991, \"memory_size\": \"0X1000\",\n"
		"    \"userspace_addr\": \"0x00007F0000000000\", \"mmap_offset\": \"0xffffffffffffffff\",\n"
		"    \"name\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/\"}]},\n"
		" \"vmmap\": 1}\n");
	cr_assert_eq(t.umem.nregions, 1);
	const struct vm_region *r = &t.umem.head->region;
	cr_expect_eq(r->guest_phys_addr, 9007199254740991u);
	cr_expect_eq(r->memory_size, 0x1000);
	cr_expect_eq(r->userspace_addr, 0x7f0000000000);
	cr_expect_eq(r->mmap_offset, UINT64_MAX);
	cr_expect_str_eq(r->name, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" /");
	cr_assert_eq(t.bus[VM_PIO_BUS].dev_count, 1);
	cr_expect_eq(t.bus[VM_PIO_BUS].range[0].addr, 0x40);
	cr_expect_str_eq(t.bus[VM_PIO_BUS].range[0].dev, "pit");
	vm_table_clean(&t);

	/* Either part may be absent; an empty region list is a valid table. */
	load_ok(&t, "{\"vmmap\": 1}");
	vm_table_clean(&t);
	load_ok(&t, "{\"vmmap\": 1, \"memory\": {\"regions\": []}, \"buses\": {}}");
	vm_table_clean(&t);
}

/* "[\n" V ",\n" V "\n]" as a document, with every '_' written "\u005f"
 * when esc (only keys have one): escaped keys are never read by the fast
 * path, so the two loads go through different code. */
static char *two_regions(const char *v, bool esc)
{
	size_t n = strlen(v), k = 0;
	char *s = malloc(64 + 2 * 6 * n);

	cr_assert_not_null(s);
	k += (size_t)sprintf(s, "{\"vmmap\": 1, \"memory\": {\"regions\": [\n");
	for (int copy = 0; copy < 2; copy++) {
		for (size_t i = 0; i < n; i++)
			if (esc && v[i] == '_')
				k += (size_t)sprintf(s + k, "\\u005f");
			else
				s[k++] = v[i];
		k += (size_t)sprintf(s + k, copy ? "\n]}}" : ",\n");
	}
	return s;
}

/*
 * A plain region is read straight from the text (fast_region in
 * json_load.c), anything else by the general parser.  Both must give the
 * same regions at the same line and column, and the fast path must hand
 * every form it does not take (an integer, more than 16 digits, a name)
 * to the general parser rather than fail it.
 */
Test(json, fast_region_read_matches_the_general_parser)
{
	static const struct {
		const char *text;
		uint64_t gpa, size, uaddr, off;
	} c[] = {
		{ "{" R4 "}", 0, 0x1000, 0x7f0000000000, 0 },
		{ "{ \"mmap_offset\":\"0X1f\" ,\"userspace_addr\" : \"0xABCDEF0123456789\",\n"
		  "\t\"memory_size\":\"0x10000000\",\r\n \"guest_phys_addr\":\"0x0\" }",
		  0, 0x10000000, 0xabcdef0123456789, 0x1f },
		/* The last byte of both spaces. */
		{ "{\"guest_phys_addr\":\"0xfffffffffffff000\",\"memory_size\":\"0x1000\","
		  "\"userspace_addr\":\"0xfffffffffffff000\",\"mmap_offset\":\"0xffffffffffffffff\"}",
		  0xfffffffffffff000, 0x1000, 0xfffffffffffff000, UINT64_MAX },
		{ "{\"guest_phys_addr\":\"0x000000000000000000001000\",\"memory_size\":4096,"
		  "\"userspace_addr\":\"0x2000\",\"mmap_offset\":\"0x0\"}",
		  0x1000, 0x1000, 0x2000, 0 },
		{ "{\"guest_phys_addr\":\"0x1000\",\"memory_size\":\"0x1000\","
		  "\"userspace_addr\":\"0x2000\",\"mmap_offset\":\"0x0\",\"name\":\"ram\"}",
		  0x1000, 0x1000, 0x2000, 0 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct vm_table t[2];
		unsigned lines = 0;

		for (const char *q = c[i].text; *q; q++)
			lines += *q == '\n';
		for (int esc = 0; esc < 2; esc++) {
			char *doc = two_regions(c[i].text, esc);

			load_ok(&t[esc], doc);
			free(doc);
			cr_assert_eq(t[esc].umem.nregions, 2, "case %zu", i);
		}
		for (const struct vm_umem_node *a = t[0].umem.head, *b = t[1].umem.head;
		     a; a = a->next, b = b->next) {
			cr_expect_eq(a->region.guest_phys_addr, c[i].gpa, "case %zu", i);
			cr_expect_eq(a->region.memory_size, c[i].size, "case %zu", i);
			cr_expect_eq(a->region.userspace_addr, c[i].uaddr, "case %zu", i);
			cr_expect_eq(a->region.mmap_offset, c[i].off, "case %zu", i);
			cr_expect(vm_region_equal(&a->region, &b->region), "case %zu", i);
			cr_expect_eq(a->line, b->line, "case %zu", i);
			cr_expect_eq(a->col, b->col, "case %zu", i);
			cr_expect_eq(a->col, 1, "case %zu", i);
		}
		cr_expect_eq(t[0].umem.head->line, 2, "case %zu", i);
		cr_expect_eq(t[0].umem.head->next->line, 3 + lines, "case %zu", i);
		vm_table_clean(&t[0]);
		vm_table_clean(&t[1]);
	}
}

/* Where the fast path starts a region and gives up, the general parser's
 * diagnostic names the place, as it would have without the fast path. */
Test(json, fast_region_leaves_errors_to_the_general_parser)
{
	static const struct bad_case e[] = {
		{ "{\"vmmap\":1,\"memory\":{\"regions\":[\n{\"guest_phys_addr\":\"0x0\",\n"
		  "\"memory_size\":\"0x0\",\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x0\"}]}}",
		  "t:3:15: \"memory_size\" is 0 (empty region)" },
		{ "{\"vmmap\":1,\"memory\":{\"regions\":[\n{\"guest_phys_addr\":\"0x0\",\n"
		  "\"memory_size\":\"0x1000\",\"guest_phys_addr\":\"0x0\",\"mmap_offset\":\"0x0\"}]}}",
		  "t:3:24: duplicate key \"guest_phys_addr\"" },
		{ "{\"vmmap\":1,\"memory\":{\"regions\":[\n{\"guest_phys_addr\":\"0xfffffffffffff001\",\n"
		  "\"memory_size\":\"0x1000\",\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x0\"}]}}",
		  "t:2:1: region wraps past 2^64-1 in guest-physical space" },
		{ "{\"vmmap\":1,\"memory\":{\"regions\":[\n{\"guest_phys_addr\":\"0x0\",\n"
		  "\"memory_size\":\"0x1000\",\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x0\"\n,]}}",
		  "t:4:2: expected a key string, found ']'" },
		{ "{\"vmmap\":1,\"memory\":{\"regions\":[\n{\"guest_phys_addr\":\"0x0\",\n"
		  "\"memory_size\":\"0x1000\",\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x0g\"}]}}",
		  "t:3:61: \"mmap_offset\": 'g' is not a hex digit" },
		{ "{\"vmmap\":1,\"memory\":{\"regions\":[\n{\"guest_phys_addr\":\"0x0\",\n"
		  "\"memory_size\":\"0x1000\",\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x10000000000000000\"}]}}",
		  "t:3:61: \"mmap_offset\" does not fit in 64 bits" },
	};

	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		struct vm_table t;
		struct vm_error err = { { 0 } };

		vm_table_init(&t);
		cr_expect_eq(vm_table_load_buffer(&t, "t", e[i].text, strlen(e[i].text), 0,
						  &err), -1, "case %zu", i);
		cr_expect_str_eq(err.msg, e[i].want, "case %zu:\n got: %s\nwant: %s", i,
				 err.msg, e[i].want);
		vm_table_clean(&t);
	}
}

Test(json, bus_full_is_an_error_ioeventfds_are_not_counted)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	struct vm_table t;
	struct vm_error err;

	cr_assert(buf);
	n += (size_t)snprintf(buf + n, cap - n, "{\"vmmap\":1,\"buses\":{\"mmio\":[");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "%s{\"addr\":%d,\"len\":4,\"device\":\"e%d\",\"kind\":\"ioeventfd\"}",
				      i ? "," : "", 0x100000 + 4 * i, i);
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      ",{\"addr\":%d,\"len\":4,\"device\":\"d%d\",\"kind\":\"device\"}",
				      4 * i, i);
	snprintf(buf + n, cap - n, "]}}");
	vm_table_init(&t);
	cr_assert_eq(vm_table_load_buffer(&t, "t", buf, strlen(buf), 0, &err), 0, "%s", err.msg);
	cr_assert_eq(t.bus[VM_MMIO_BUS].dev_count, 3000);
	vm_table_clean(&t);

	/* One more device: the 1001st. */
	snprintf(buf + n, cap - n,
		 ",{\"addr\":\"0x9000\",\"len\":4,\"device\":\"extra\",\"kind\":\"coalesced\"}]}}");
	vm_table_init(&t);
	cr_assert_eq(vm_table_load_buffer(&t, "t", buf, strlen(buf), 0, &err), -1);
	cr_assert(strstr(err.msg, "bus mmio already holds 1000 registrations that are not ioeventfds"),
		  "%s", err.msg);
	cr_assert_eq(t.bus[VM_MMIO_BUS].dev_count, 0, "a failed load leaves the table empty");
	vm_table_clean(&t);
	free(buf);
}

static char *dump(const struct vm_table *t)
{
	json_t *doc = vm_table_to_json(t, 1);
	char *s;

	cr_assert_not_null(doc);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	cr_assert_not_null(s);
	return s;
}

/* A captured region's descriptor identity loads, and writes back in the
 * same form. */
Test(json, region_fd_identity)
{
	struct vm_table t;
	char *s;

	/* dev as /proc/PID/maps
	 * prints it, ino an integer or (above 2^53-1) a hex string. */
	load_ok(&t, "{\"vmmap\": 1, \"memory\": {\"regions\": [{" R4 ", \"fd\": {\"type\": "
		    "\"memfd\", \"path\": \"/memfd:memory-backend-memfd (deleted)\", \"dev\": "
		    "\"fd:1a\", \"ino\": \"0xffffffffffffffff\", \"size\": \"0x8000000\"}},"
		    "{" R4 ", \"fd\": {\"size\": 0, \"ino\": 7, \"dev\": \"0:0\", \"type\": \"file\"}}]}}");
	cr_assert_eq(t.umem.nregions, 2);
	const struct vm_region *r = &t.umem.head->region;
	cr_assert_not_null(r->fd);
	cr_expect_eq(r->fd->type, VM_FD_MEMFD);
	cr_expect_str_eq(r->fd->path, "/memfd:memory-backend-memfd (deleted)");
	cr_expect_eq(r->fd->dev, (uint64_t)makedev(0xfd, 0x1a));
	cr_expect_eq(r->fd->ino, UINT64_MAX);
	cr_expect_eq(r->fd->size, 0x8000000);
	r = &t.umem.tail->region;
	cr_expect_eq(r->fd->type, VM_FD_FILE);
	cr_expect_str_eq(r->fd->path, "");
	cr_expect_eq(r->fd->ino, 7);
	s = dump(&t);
	cr_expect(strstr(s, "\"fd\":{\"type\":\"memfd\",\"path\":\"/memfd:memory-backend-memfd "
			 "(deleted)\",\"dev\":\"fd:1a\",\"ino\":\"0xffffffffffffffff\","
			 "\"size\":\"0x8000000\"}"), "%s", s);
	cr_expect(strstr(s, "\"fd\":{\"type\":\"file\",\"dev\":\"00:00\",\"ino\":7,"
			 "\"size\":\"0x0\"}"), "%s", s);
	free(s);
	vm_table_clean(&t);
}

Test(json, fixtures_round_trip_byte_stable)
{
	static const char *const files[] = {
		"qemu-pc-128m.json", "qemu-q35-4g.json", "dpdk-virtio-user-nohuge.json",
		"pc-iobus.json", "edge-u64.json", "overlap.json",
		"captured/qemu-pc-128m.json", "captured/dpdk-testpmd-nohuge.json",
		"captured/qemu-pc-256m-numa-2-memfd.json",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];
		struct vm_table a, b;
		struct vm_error err;
		char *s1, *s2, *wrapped;

		snprintf(path, sizeof(path), "%s/fixtures/%s", VMMAP_SRC, files[i]);
		vm_table_init(&a);
		cr_assert_eq(vm_table_load_file(&a, path, 0, &err), 0, "%s", err.msg);
		s1 = dump(&a);
		/* Load the document back, plain and inside show's wrapper. */
		load_ok(&b, s1);
		s2 = dump(&b);
		cr_expect_str_eq(s2, s1, "%s: document round trip", files[i]);
		vm_table_clean(&b);
		free(s2);
		cr_assert(asprintf(&wrapped, "{\"schema\":1,\"command\":\"show\",\"result\":%s}", s1) > 0);
		load_ok(&b, wrapped);
		s2 = dump(&b);
		cr_expect_str_eq(s2, s1, "%s: wrapped round trip", files[i]);
		cr_expect_eq(b.umem.nregions, a.umem.nregions);
		vm_table_clean(&b);
		vm_table_clean(&a);
		free(s1);
		free(s2);
		free(wrapped);
	}
}

Test(json, file_errors)
{
	struct vm_table t;
	struct vm_error err;

	vm_table_init(&t);
	cr_assert_eq(vm_table_load_file(&t, "/nonexistent/vmmap.json", 0, &err), -1);
	cr_assert_str_eq(err.msg, "/nonexistent/vmmap.json: No such file or directory");
	cr_assert_eq(vm_table_load_file(&t, VMMAP_SRC "/fixtures", 0, &err), -1);
	cr_assert(strstr(err.msg, ": Is a directory"), "%s", err.msg);
	cr_assert_eq(vm_table_load_file(&t, VMMAP_SRC "/fixtures/invalid/empty.json", 0, &err), -1);
	cr_assert(strstr(err.msg, "empty.json:1:1: empty input"), "%s", err.msg);
	vm_table_clean(&t);
}
