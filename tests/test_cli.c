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
	size_t n = 0, cap = 256;
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
	char *argv[MAX_ARGS + 2];
	const char *in = NULL;
	int argc = 0;
	size_t len;
	pid_t pid;

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
		execv(VMMAP_BIN, argv);
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
