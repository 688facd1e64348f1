/*
 * Golden-output tests of the vmmap binary.
 *
 * tests/cli/cases.txt lists one case per line:
 *     NAME STATUS ARG...
 * An ARG of the form <FILE makes FILE the standard input.  The binary runs in
 * the source directory; its stdout must equal tests/cli/golden/NAME.out, its
 * stderr tests/cli/golden/NAME.err (a missing file means empty), and its exit
 * status STATUS.  Expected statuses are written by hand; with VMMAP_REGEN=1
 * the .out/.err files are rewritten from the current binary (nft's DUMPGEN).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 32

struct cli_case {
	char name[64];
	int status;
	int argc;
	char args[MAX_ARGS][160];
	int line;
};

static void free_cases(struct criterion_test_params *p)
{
	cr_free(p->params);
}

ParameterizedTestParameters(cli, golden)
{
	FILE *f = fopen(VMMAP_SRC "/tests/cli/cases.txt", "r");
	struct cli_case *cases;
	size_t n = 0, cap = 512;
	char line[4096];
	int lineno = 0;

	if (!f) {
		perror(VMMAP_SRC "/tests/cli/cases.txt");
		abort();
	}
	cases = cr_malloc(cap * sizeof(*cases));
	while (fgets(line, sizeof(line), f)) {
		struct cli_case *c;
		char *tok, *save;

		lineno++;
		tok = strtok_r(line, " \t\n", &save);
		if (!tok || tok[0] == '#')
			continue;
		if (n == cap) {
			fprintf(stderr, "cases.txt: more than %zu cases\n", cap);
			abort();
		}
		c = &cases[n++];
		memset(c, 0, sizeof(*c));
		c->line = lineno;
		snprintf(c->name, sizeof(c->name), "%s", tok);
		tok = strtok_r(NULL, " \t\n", &save);
		if (!tok) {
			fprintf(stderr, "cases.txt:%d: missing STATUS\n", lineno);
			abort();
		}
		c->status = atoi(tok);
		while ((tok = strtok_r(NULL, " \t\n", &save)) && c->argc < MAX_ARGS)
			snprintf(c->args[c->argc++], sizeof(c->args[0]), "%s", tok);
	}
	fclose(f);
	return cr_make_param_array(struct cli_case, cases, n, free_cases);
}

static char *slurp_fd(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	cr_assert_not_null(buf);
	while ((r = read(fd, buf + n, cap - n - 1)) != 0) {
		if (r < 0) {
			cr_assert_eq(errno, EINTR, "read: %s", strerror(errno));
			continue;
		}
		n += (size_t)r;
		if (n + 1 == cap) {
			buf = realloc(buf, cap *= 2);
			cr_assert_not_null(buf);
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *slurp_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	size_t len;
	char *s;

	if (fd < 0)
		return strdup("");
	s = slurp_fd(fd, &len);
	close(fd);
	return s;
}

static void write_file(const char *path, const char *s)
{
	FILE *f;

	if (!*s) {
		unlink(path);
		return;
	}
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(s, f);
	cr_assert_eq(fclose(f), 0);
}

/* Runs the case; returns the exit status and the captured output. */
static int run(const struct cli_case *c, char **out, char **err)
{
	int po[2], pe[2], status;
	char *argv[MAX_ARGS + 8];
	const char *in = NULL;
	int argc = 0;
	size_t len;
	pid_t pid;

	/* VMMAP_TEST_VALGRIND=1 (ctest cli-valgrind): every case under
	 * memcheck; an error or a definitely or indirectly lost byte makes
	 * the exit status 97, which no case expects. */
	if (getenv("VMMAP_TEST_VALGRIND")) {
		static char *vg[] = { "valgrind", "-q", "--error-exitcode=97",
				      "--leak-check=full",
				      "--show-leak-kinds=definite,indirect",
				      "--errors-for-leak-kinds=definite,indirect" };

		for (size_t i = 0; i < sizeof(vg) / sizeof(vg[0]); i++)
			argv[argc++] = vg[i];
	}
	argv[argc++] = VMMAP_BIN;
	for (int i = 0; i < c->argc; i++) {
		if (c->args[i][0] == '<')
			in = c->args[i] + 1;
		else
			argv[argc++] = (char *)c->args[i];
	}
	argv[argc] = NULL;
	cr_assert_eq(pipe(po), 0);
	cr_assert_eq(pipe(pe), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd;

		if (chdir(VMMAP_SRC) || (fd = open(in ? in : "/dev/null", O_RDONLY)) < 0)
			_exit(127);
		dup2(fd, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* Outputs are small (a pipe buffer holds stderr while stdout drains). */
	*out = slurp_fd(po[0], &len);
	*err = slurp_fd(pe[0], &len);
	close(po[0]);
	close(pe[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "%s: killed by signal %d", c->name,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

ParameterizedTest(struct cli_case *c, cli, golden)
{
	char out_path[512], err_path[512];
	char *out, *err, *want_out, *want_err;
	int status = run(c, &out, &err);

	snprintf(out_path, sizeof(out_path), "%s/tests/cli/golden/%s.out", VMMAP_SRC, c->name);
	snprintf(err_path, sizeof(err_path), "%s/tests/cli/golden/%s.err", VMMAP_SRC, c->name);
	if (getenv("VMMAP_REGEN")) {
		write_file(out_path, out);
		write_file(err_path, err);
	}
	want_out = slurp_file(out_path);
	want_err = slurp_file(err_path);
	cr_expect_eq(status, c->status, "cases.txt:%d %s: exit status %d, want %d\nstderr: %s",
		     c->line, c->name, status, c->status, err);
	cr_expect_str_eq(out, want_out, "cases.txt:%d %s: stdout differs\n--- got\n%s--- want\n%s",
			 c->line, c->name, out, want_out);
	cr_expect_str_eq(err, want_err, "cases.txt:%d %s: stderr differs\n--- got\n%s--- want\n%s",
			 c->line, c->name, err, want_err);
	free(out);
	free(err);
	free(want_out);
	free(want_err);
}

/* show -j output loads back and prints the same bytes, for every fixture. */
Test(cli, show_json_round_trip)
{
	static const char *const files[] = {
		"qemu-pc-128m.json", "qemu-q35-4g.json", "dpdk-virtio-user-nohuge.json",
		"pc-iobus.json", "edge-u64.json", "overlap.json",
	};
	char tmp[] = "/tmp/vmmap-roundtrip-XXXXXX";
	int fd = mkstemp(tmp);

	cr_assert_geq(fd, 0);
	close(fd);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		for (int pretty = 0; pretty < 2; pretty++) {
			struct cli_case c = { .name = "roundtrip", .argc = 3 };
			char *out1, *out2, *err;

			snprintf(c.args[0], sizeof(c.args[0]), "%s", pretty ? "-p" : "-j");
			snprintf(c.args[1], sizeof(c.args[1]), "show");
			snprintf(c.args[2], sizeof(c.args[2]), "fixtures/%s", files[i]);
			cr_assert_eq(run(&c, &out1, &err), 0, "%s: %s", files[i], err);
			free(err);
			write_file(tmp, out1);
			snprintf(c.args[2], sizeof(c.args[2]), "%s", tmp);
			cr_assert_eq(run(&c, &out2, &err), 0, "%s reloaded: %s", files[i], err);
			cr_expect_str_eq(out2, out1, "%s: show output changed after a round trip",
					 files[i]);
			free(err);
			free(out1);
			free(out2);
		}
	}
	unlink(tmp);
}

static json_t *run_json(const char *a0, const char *a1, const char *a2, int want_status)
{
	struct cli_case c = { .name = "json", .argc = 3 };
	char *out, *err;
	json_error_t jerr;
	json_t *doc;

	snprintf(c.args[0], sizeof(c.args[0]), "%s", a0);
	snprintf(c.args[1], sizeof(c.args[1]), "%s", a1);
	snprintf(c.args[2], sizeof(c.args[2]), "%s", a2);
	cr_assert_eq(run(&c, &out, &err), want_status, "%s %s %s: %s", a0, a1, a2, err);
	doc = json_loads(out, 0, &jerr);
	cr_assert_not_null(doc, "not JSON: %s\n%s", jerr.text, out);
	cr_assert_str_eq(json_string_value(json_object_get(doc, "command")), a1);
	cr_assert_eq(json_integer_value(json_object_get(doc, "schema")), 1);
	free(out);
	free(err);
	return doc;
}

/* validate's JSON, field by field, for a region finding and a bus finding. */
Test(cli, validate_json_fields)
{
	json_t *doc = run_json("-j", "validate", "fixtures/validate/gpa-overlap.json", 1);
	json_t *res = json_object_get(doc, "result"), *f, *regs, *r;

	cr_assert_str_eq(json_string_value(json_object_get(res, "file")),
			 "fixtures/validate/gpa-overlap.json");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "profile"), "name")),
			 "none");
	cr_assert(json_is_null(json_object_get(json_object_get(res, "profile"), "max_regions")));
	cr_assert(json_is_false(json_object_get(res, "strict")));
	cr_assert_eq(json_integer_value(json_object_get(res, "errors")), 1);
	cr_assert_eq(json_integer_value(json_object_get(res, "warnings")), 0);
	cr_assert_eq(json_array_size(json_object_get(res, "findings")), 1);
	f = json_array_get(json_object_get(res, "findings"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(f, "rule")), "gpa-overlap");
	cr_assert_str_eq(json_string_value(json_object_get(f, "severity")), "error");
	cr_assert(strstr(json_string_value(json_object_get(f, "message")), "overlaps region"));
	cr_assert_eq(json_integer_value(json_object_get(f, "line")), 6);
	cr_assert_eq(json_integer_value(json_object_get(f, "col")), 7);
	cr_assert_eq(json_array_size(json_object_get(f, "registrations")), 0);
	regs = json_object_get(f, "regions");
	cr_assert_eq(json_array_size(regs), 2);
	r = json_array_get(regs, 0);
	cr_assert_str_eq(json_string_value(json_object_get(r, "guest_phys_addr")), "0x100000");
	cr_assert_str_eq(json_string_value(json_object_get(r, "memory_size")), "0x200000");
	cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "high");
	cr_assert_eq(json_integer_value(json_object_get(r, "line")), 6);
	r = json_array_get(regs, 1);
	cr_assert_str_eq(json_string_value(json_object_get(r, "guest_phys_addr")), "0x0");
	cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "low");
	cr_assert_eq(json_integer_value(json_object_get(r, "line")), 5);
	json_decref(doc);

	doc = run_json("-j", "validate", "fixtures/validate/duplicate.json", 1);
	f = json_array_get(json_object_get(json_object_get(doc, "result"), "findings"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(f, "rule")), "duplicate");
	regs = json_object_get(f, "registrations");
	cr_assert_eq(json_array_size(regs), 2);
	cr_assert_eq(json_array_size(json_object_get(f, "regions")), 0);
	r = json_array_get(regs, 0);
	cr_assert_str_eq(json_string_value(json_object_get(r, "bus")), "pio");
	cr_assert_str_eq(json_string_value(json_object_get(r, "addr")), "0x40");
	cr_assert_str_eq(json_string_value(json_object_get(r, "len")), "0x4");
	cr_assert_str_eq(json_string_value(json_object_get(r, "device")), "kvm-pit");
	cr_assert_str_eq(json_string_value(json_object_get(r, "kind")), "device");
	json_decref(doc);
}

/* diff's JSON: the operation list a frontend would send. */
Test(cli, diff_json_fields)
{
	json_t *doc, *res, *ops, *op;
	struct cli_case c = { .name = "diff", .argc = 4 };
	char *out, *err;

	snprintf(c.args[0], sizeof(c.args[0]), "-j");
	snprintf(c.args[1], sizeof(c.args[1]), "diff");
	snprintf(c.args[2], sizeof(c.args[2]), "fixtures/qemu-pc-128m-dimm.json");
	snprintf(c.args[3], sizeof(c.args[3]), "fixtures/qemu-q35-4g.json");
	cr_assert_eq(run(&c, &out, &err), 1, "%s", err);
	doc = json_loads(out, 0, NULL);
	cr_assert_not_null(doc);
	res = json_object_get(doc, "result");
	cr_assert(json_is_false(json_object_get(res, "identical")));
	ops = json_object_get(json_object_get(res, "memory"), "operations");
	cr_assert_eq(json_array_size(ops), 6);
	/* Removals first, in reverse table order: dimm1, then the two pc.ram. */
	op = json_array_get(ops, 0);
	cr_assert_str_eq(json_string_value(json_object_get(op, "request")), "REM_MEM_REG");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(op, "region"), "name")),
			 "dimm1");
	op = json_array_get(ops, 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(op, "region"),
							   "guest_phys_addr")), "0x0");
	op = json_array_get(ops, 3);
	cr_assert_str_eq(json_string_value(json_object_get(op, "request")), "ADD_MEM_REG");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(op, "region"),
							   "userspace_addr")), "0x7f0e40000000");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(res, "memory"),
							"unchanged")), 0);
	json_decref(doc);
	free(out);
	free(err);
}

/*
 * translate answers in one schema: each object of the single queries'
 * result is the --batch JSON line of the same query, but for "line"
 * (issue 17: the batch lines had no last, region or error.message).
 * Mapped, unmapped, too many pieces, and the uaddr space, with a region
 * name that JSON must escape.
 */
static void same_schema(const char *file, const char *from, const char *max,
			const char *const *queries, size_t nq)
{
	struct cli_case single = { .name = "single" }, batch = { .name = "batch" };
	char qpath[128], *out, *bout, *err, *line;
	json_t *doc, *res;
	FILE *f;
	int st;

	snprintf(qpath, sizeof(qpath), "/tmp/vmmap-schema-%d.txt", (int)getpid());
	f = fopen(qpath, "w");
	cr_assert_not_null(f);
	for (struct cli_case *c = &single; c; c = c == &single ? &batch : NULL) {
		const char *head[] = { "-j", "translate", "--from", from, "--max-pieces", max,
				       file };

		for (size_t i = 0; i < 7; i++)
			snprintf(c->args[c->argc++], sizeof(c->args[0]), "%s", head[i]);
	}
	for (size_t i = 0; i < nq; i++) {
		snprintf(single.args[single.argc++], sizeof(single.args[0]), "%s", queries[i]);
		fprintf(f, "%s\n", queries[i]);
	}
	cr_assert_eq(fclose(f), 0);
	snprintf(batch.args[batch.argc++], sizeof(batch.args[0]), "--batch");
	snprintf(batch.args[batch.argc++], sizeof(batch.args[0]), "%s", qpath);
	st = run(&single, &out, &err);
	cr_assert(st == 0 || st == 1, "%s", err);
	free(err);
	st = run(&batch, &bout, &err);
	cr_assert(st == 0 || st == 1, "%s", err);
	free(err);
	unlink(qpath);
	doc = json_loads(out, 0, NULL);
	cr_assert_not_null(doc, "%s", out);
	res = json_object_get(doc, "result");
	cr_assert_eq(json_array_size(res), nq);
	line = strtok(bout, "\n");
	for (size_t i = 0; i < nq; i++, line = strtok(NULL, "\n")) {
		json_t *b;

		cr_assert_not_null(line, "batch gave %zu lines, want %zu", i, nq);
		b = json_loads(line, 0, NULL);
		cr_assert_not_null(b, "not JSON: %s", line);
		cr_assert_eq(json_integer_value(json_object_get(b, "line")), (json_int_t)i + 1);
		json_object_del(b, "line");
		/* What only a single query's unmapped answer adds (vmmap-
		 * translate(1): batch lines leave out the neighbours and the
		 * history); everything else is one schema. */
		if (json_object_get(json_array_get(res, i), "error")) {
			json_t *e = json_object_get(json_array_get(res, i), "error");

			cr_assert(!json_object_get(e, "below") || json_object_get(e, "above"));
			json_object_del(e, "below");
			json_object_del(e, "above");
			json_object_del(e, "history");
			json_object_del(e, "history_cut");
		}
		cr_assert(json_equal(b, json_array_get(res, i)), "query %s:\n batch  %s\n single %s",
			  queries[i], line, json_dumps(json_array_get(res, i), JSON_COMPACT));
		json_decref(b);
	}
	json_decref(doc);
	free(out);
	free(bout);
}

Test(cli, translate_single_and_batch_json_share_one_schema)
{
	static const char *const q35[] = { "0x1000", "0x9fff0+0x30000", "0x100000000+2G",
					   "0x7ffffff0+0x20" };
	static const char *const uaddr[] = { "0x7f4a3c09fff0+0x20", "0x10" };
	static const char *const escaped[] = { "0x1000", "0x7fff0+0x20", "0x200000" };

	same_schema("fixtures/qemu-q35-4g.json", "gpa", "1024", q35, 4);
	same_schema("fixtures/qemu-q35-4g.json", "gpa", "1", q35, 4);
	same_schema("fixtures/qemu-pc-128m.json", "uaddr", "8", uaddr, 2);
	same_schema("fixtures/hostile-names.json", "gpa", "8", escaped, 3);
}

/* A region name longer escaped than --batch's buffer for a line: the line
 * is written whole (the buffer grows to the name), in the one schema. */
Test(cli, translate_batch_json_with_a_name_longer_than_the_line_buffer)
{
	static const char *const q[] = { "0x1000", "0x2000+0x1000" };
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/vmmap-longname-%d.json", (int)getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{\"vmmap\": 1, \"memory\": {\"regions\": [{\"guest_phys_addr\": \"0x0\", "
	      "\"memory_size\": \"0x10000\", \"userspace_addr\": \"0x7f0000000000\", "
	      "\"mmap_offset\": \"0x0\", \"name\": \"", f);
	for (int i = 0; i < 40000; i++) /* 6 bytes each as JSON output */
		fputs("\\u0001", f);
	fputs("\"}]}}\n", f);
	cr_assert_eq(fclose(f), 0);
	same_schema(path, "gpa", "1", q, 2);
	unlink(path);
}
