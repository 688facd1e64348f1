/*
 * vmmap shell under a real pseudo-terminal (forkpty): the prompt, tab
 * completion of commands and region names, Ctrl-C, history written to its
 * file and recalled with the up arrow after a restart; and a capture running
 * in the background, both under a pipe and at the interactive prompt.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vmmap-shell-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(shell, .init = setup, .fini = teardown, .timeout = 60);

struct pty_proc {
	pid_t pid;
	int fd;
	char out[65536]; /* everything the terminal showed */
	size_t len;
};

/* env: NULL-terminated "NAME=value" list (an empty value sets it empty). */
static void pty_start(struct pty_proc *p, const char *const *env, const char *arg)
{
	memset(p, 0, sizeof(*p));
	p->pid = forkpty(&p->fd, NULL, NULL, NULL);
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		unsetenv("VMMAP_HISTFILE");
		unsetenv("XDG_STATE_HOME");
		setenv("TERM", "vt100", 1);
		setenv("HOME", dir, 1);
		for (; *env; env++) {
			char name[64];
			const char *eq = strchr(*env, '=');

			snprintf(name, sizeof(name), "%.*s", (int)(eq - *env), *env);
			if (!strcmp(name, "RLIMIT_FSIZE")) { /* not an env: a limit */
				struct rlimit rl = { strtoul(eq + 1, NULL, 0),
						     strtoul(eq + 1, NULL, 0) };

				signal(SIGXFSZ, SIG_IGN);
				setrlimit(RLIMIT_FSIZE, &rl);
				continue;
			}
			setenv(name, eq + 1, 1);
		}
		if (chdir(VMMAP_SRC))
			_exit(127);
		execl(VMMAP_BIN, "vmmap", "shell", arg, (char *)NULL);
		_exit(127);
	}
}

/* Reads until the output holds want (after from), or fails after 10 s. */
static void pty_expect(struct pty_proc *p, size_t from, const char *want)
{
	time_t end = time(NULL) + 10;

	for (;;) {
		struct pollfd pf = { p->fd, POLLIN, 0 };
		ssize_t n;

		p->out[p->len] = '\0';
		if (from <= p->len && memmem(p->out + from, p->len - from, want, strlen(want)))
			return;
		cr_assert_lt(time(NULL), end, "waited for \"%s\"; the terminal shows:\n%s",
			     want, p->out + from);
		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = read(p->fd, p->out + p->len, sizeof(p->out) - 1 - p->len);
		if (n > 0)
			p->len += (size_t)n;
		else if (n < 0 && errno != EINTR && errno != EAGAIN)
			cr_assert_fail("pty read: %s; shown:\n%s", strerror(errno), p->out + from);
	}
}

/* Types keys and returns where the output stood before them. */
static size_t pty_type(struct pty_proc *p, const char *keys)
{
	size_t mark = p->len;

	cr_assert_eq(write(p->fd, keys, strlen(keys)), (ssize_t)strlen(keys));
	return mark;
}

static int pty_wait(struct pty_proc *p)
{
	time_t end = time(NULL) + 10;
	int st;
	char buf[4096];

	/* Drain so the child never blocks on a full terminal. */
	while (waitpid(p->pid, &st, WNOHANG) == 0) {
		if (time(NULL) > end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			cr_assert_fail("the shell did not exit; the terminal shows:\n%s", p->out);
		}
		struct pollfd pf = { p->fd, POLLIN, 0 };

		if (poll(&pf, 1, 100) > 0 && read(p->fd, buf, sizeof(buf)) <= 0)
			usleep(10000);
	}
	close(p->fd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(shell, prompt_completion_ctrl_c_and_history)
{
	char hist[128], env[160];
	struct pty_proc p;
	size_t m;

	snprintf(hist, sizeof(hist), "%s/hist", dir);
	snprintf(env, sizeof(env), "VMMAP_HISTFILE=%s", hist);
	const char *envv[] = { env, NULL };

	pty_start(&p, envv, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	/* A command name completes on tab. */
	m = pty_type(&p, "tr\t");
	pty_expect(&p, m, "anslate ");
	m = pty_type(&p, "0x1000\r");
	pty_expect(&p, m, "1 piece");
	pty_expect(&p, m, "vmmap> ");
	/* Options complete from the command's own option table. */
	m = pty_type(&p, "translate --max-p\t");
	pty_expect(&p, m, "ieces");
	/* Ctrl-C discards the line and gives a new prompt. */
	m = pty_type(&p, "\x03");
	pty_expect(&p, m, "^C");
	pty_expect(&p, m, "vmmap> ");
	/* A region name completes (both regions are pc.ram, so the removal
	 * by that name is refused, with the list: issue 17). */
	m = pty_type(&p, "region remove pc.r\t");
	pty_expect(&p, m, "am");
	m = pty_type(&p, "\r");
	pty_expect(&p, m, "2 regions are named 'pc.ram'");
	pty_expect(&p, m, "vmmap> ");
	m = pty_type(&p, "show\r");
	pty_expect(&p, m, "memory: 2 regions");
	/* Keys go in at the prompt, as a person types them: a ^D typed while
	 * a command runs meets a cooked terminal, where it is no byte. */
	pty_expect(&p, m, "vmmap> ");
	pty_type(&p, "\x04"); /* Ctrl-D leaves */
	cr_assert_eq(pty_wait(&p), 0);

	/* History was written... */
	cr_assert_not_null(read_or_null(hist), "no history file %s", hist);
	cr_assert(strstr(read_or_null(hist), "translate"), "%s", read_or_null(hist));
	cr_assert(strstr(read_or_null(hist), "show"), "%s", read_or_null(hist));
	cr_assert_null(strstr(read_or_null(hist), "--max-p"), "a discarded line is not history");

	/* ...and the up arrow recalls the last command after a restart. */
	pty_start(&p, envv, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "\x1b[A");
	pty_expect(&p, m, "show");
	m = pty_type(&p, "\r");
	pty_expect(&p, m, "memory: 2 regions");
	pty_expect(&p, m, "vmmap> ");
	pty_type(&p, "quit\r");
	cr_assert_eq(pty_wait(&p), 0);
}

/*
 * Completion comes from the command table: the values of an option (a list
 * of choices per option), given by its long or its short name, the
 * arguments of a verb at their position, a verb's options, help's
 * commands and verbs (issue 17).
 */
Test(shell, completion_of_option_values_and_arguments_from_the_table)
{
	struct pty_proc p;
	size_t m;
	const char *envv[] = { "VMMAP_HISTFILE=", NULL };

	pty_start(&p, envv, "fixtures/pc-iobus.json");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "translate --from u\t");
	pty_expect(&p, m, "addr ");
	m = pty_type(&p, "\x03validate --profile vhost-user-s\t");
	pty_expect(&p, m, "lots ");
	m = pty_type(&p, "\x03validate -P kv\t");
	pty_expect(&p, m, "m ");
	/* A value is not an argument: the position after it is the first. */
	m = pty_type(&p, "\x03lookup -j mm\t");
	pty_expect(&p, m, "io ");
	m = pty_type(&p, "\x03" "device re\t");
	pty_expect(&p, m, "move ");
	m = pty_type(&p, "fast\t");
	pty_expect(&p, m, "-mmio ");
	/* device remove BUS NAME: the names on that bus. */
	m = pty_type(&p, "\x03" "device remove pio kvm-pit-s\t");
	pty_expect(&p, m, "peaker ");
	m = pty_type(&p, "\x03" "device add mmio 0x0 4 x io\t");
	pty_expect(&p, m, "eventfd ");
	m = pty_type(&p, "\x03save --f\t");
	pty_expect(&p, m, "orce ");
	m = pty_type(&p, "\x03help unl\t");
	pty_expect(&p, m, "oad ");
	m = pty_type(&p, "\r");
	pty_expect(&p, m, "Usage: unload [OPTION...] NAME");
	pty_expect(&p, m, "vmmap> ");
	pty_type(&p, "quit\r");
	cr_assert_eq(pty_wait(&p), 0);
}

Test(shell, history_in_xdg_state_home_with_a_private_directory)
{
	char state[128], env[160], path[192];
	struct pty_proc p;
	struct stat st;
	size_t m;

	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(env, sizeof(env), "XDG_STATE_HOME=%s", state);
	const char *envv[] = { env, NULL };

	pty_start(&p, envv, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "tables\r");
	pty_expect(&p, m, "qemu-pc-128m");
	pty_expect(&p, m, "vmmap> ");
	pty_type(&p, "exit\r");
	cr_assert_eq(pty_wait(&p), 0);
	snprintf(path, sizeof(path), "%s/vmmap", state);
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	cr_assert_eq(st.st_mode & 0777, 0700, "mode %o", st.st_mode & 0777);
	snprintf(path, sizeof(path), "%s/vmmap/history", state);
	cr_assert(read_or_null(path) && strstr(read_or_null(path), "tables"));
	/* What was typed is private, as bash's history is. */
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	cr_assert_eq(st.st_mode & 0777, 0600, "history mode %o", st.st_mode & 0777);

	/* Without XDG_STATE_HOME: ~/.local/state/vmmap/history. */
	pty_start(&p, (const char *[]){ NULL }, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	pty_type(&p, "exit\r");
	cr_assert_eq(pty_wait(&p), 0);
	snprintf(path, sizeof(path), "%s/.local/state/vmmap/history", dir);
	cr_assert_not_null(read_or_null(path), "%s", path);
}

/* No lost history: when it cannot be written (a file size limit here), or
 * its path is a symlink, the old file stays, the shell says why and exits
 * 2. */
Test(shell, history_that_cannot_be_written_is_not_lost)
{
	char hist[160], env[192], link[160], target[160], line[1300];
	struct pty_proc p;
	size_t m;
	FILE *f;

	snprintf(hist, sizeof(hist), "%s/hist", dir);
	snprintf(env, sizeof(env), "VMMAP_HISTFILE=%s", hist);
	f = fopen(hist, "w");
	cr_assert_not_null(f);
	fputs("old history\n", f);
	fclose(f);
	pty_start(&p, (const char *[]){ env, "RLIMIT_FSIZE=1024", NULL },
		  "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	memcpy(line + sizeof(line) - 2, "\r", 2); /* a 1.3 KB comment */
	m = pty_type(&p, line);
	pty_expect(&p, m, "vmmap> ");
	m = pty_type(&p, "exit\r");
	pty_expect(&p, m, "hist: File too large (the previous file is untouched)");
	cr_assert_eq(pty_wait(&p), 2, "a history not saved is exit status 2");
	cr_assert_str_eq(read_or_null(hist), "old history\n");

	snprintf(link, sizeof(link), "%s/hist-link", dir);
	snprintf(target, sizeof(target), "%s/hist-target", dir);
	f = fopen(target, "w");
	cr_assert_not_null(f);
	fputs("target\n", f);
	fclose(f);
	cr_assert_eq(symlink(target, link), 0);
	snprintf(env, sizeof(env), "VMMAP_HISTFILE=%s", link);
	/* A symlink is never written through: one line says so at the start,
	 * and the exit status is the commands' (it was 2). */
	pty_start(&p, (const char *[]){ env, NULL }, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "hist-link: is a symbolic link: the history is read from it "
		   "but not saved");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "show\r");
	pty_expect(&p, m, "vmmap> ");
	pty_type(&p, "exit\r");
	cr_assert_eq(pty_wait(&p), 0);
	cr_assert_str_eq(read_or_null(target), "target\n", "written through the symlink");
}

/* A history file that is a device is not read (reading /dev/zero hung the
 * shell before its first prompt) and not written. */
Test(shell, a_history_file_that_is_a_device_is_refused)
{
	struct pty_proc p;
	size_t m;

	pty_start(&p, (const char *[]){ "VMMAP_HISTFILE=/dev/zero", NULL },
		  "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "/dev/zero: not a regular file: the history is neither read "
		   "nor saved");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "show\r");
	pty_expect(&p, m, "memory: 2 regions");
	pty_type(&p, "exit\r");
	cr_assert_eq(pty_wait(&p), 0);
}

Test(shell, empty_histfile_disables_history)
{
	struct pty_proc p;
	char path[192];
	size_t m;

	pty_start(&p, (const char *[]){ "VMMAP_HISTFILE=", NULL }, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "show\r");
	pty_expect(&p, m, "memory: 2 regions");
	pty_expect(&p, m, "vmmap> ");
	pty_type(&p, "exit\r");
	cr_assert_eq(pty_wait(&p), 0);
	snprintf(path, sizeof(path), "%s/.local/state/vmmap/history", dir);
	cr_assert_null(read_or_null(path), "history written although VMMAP_HISTFILE is empty");
}

/* history lists what was typed, oldest first; -h is --help. */
Test(shell, history_lists_the_lines_typed)
{
	struct pty_proc p;
	size_t m;

	pty_start(&p, (const char *[]){ "VMMAP_HISTFILE=", NULL }, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "version\r");
	pty_expect(&p, m, "vmmap> ");
	m = pty_type(&p, "show -h\r");
	pty_expect(&p, m, "-?, -h, --help");
	pty_expect(&p, m, "vmmap> ");
	m = pty_type(&p, "history\r");
	pty_expect(&p, m, "    1  version");
	pty_expect(&p, m, "    2  show -h");
	pty_expect(&p, m, "    3  history");
	pty_type(&p, "quit\r");
	cr_assert_eq(pty_wait(&p), 0);
}

/* Unsaved edits: the first quit, Ctrl-D or unload names them and stays;
 * the second goes ahead, as ed does. */
Test(shell, unsaved_edits_are_named_once_before_leaving)
{
	struct pty_proc p;
	size_t m;

	pty_start(&p, (const char *[]){ "VMMAP_HISTFILE=", NULL }, "fixtures/qemu-pc-128m.json");
	pty_expect(&p, 0, "vmmap> ");
	m = pty_type(&p, "region add 0x100000000 128M 0x7f4a2c000000 0 dimm\r");
	pty_expect(&p, m, "qemu-pc-128m: added region 0x100000000+0x8000000");
	pty_expect(&p, m, "vmmap> ");
	m = pty_type(&p, "unload qemu-pc-128m\r");
	pty_expect(&p, m, "qemu-pc-128m: unsaved edits (save FILE first, or unload again");
	pty_expect(&p, m, "vmmap> ");
	m = pty_type(&p, "quit\r");
	pty_expect(&p, m, "vmmap: unsaved edits in qemu-pc-128m (save FILE first, or quit "
		   "again to leave)");
	pty_expect(&p, m, "vmmap> ");
	m = pty_type(&p, "\x04"); /* Ctrl-D: named once already, so it leaves */
	cr_assert_eq(pty_wait(&p), 0);
}

/* A shell with a capture listening in the background, and a frontend
 * connected to it that has done the handshake; returns the frontend. */
static int shell_with_frontend(struct pty_proc *p, char *sock, size_t len)
{
	char cmd[192];
	size_t m;
	int fd;

	snprintf(sock, len, "%s/vu.sock", dir);
	pty_start(p, (const char *[]){ "VMMAP_HISTFILE=", NULL }, "fixtures/qemu-pc-128m.json");
	pty_expect(p, 0, "vmmap> ");
	snprintf(cmd, sizeof(cmd), "capture --listen %s\r", sock);
	m = pty_type(p, cmd);
	pty_expect(p, m, "vmmap [live: 0 regions]> ");
	fd = connect_retry(sock);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	return fd;
}

/* The prompt waits while a frontend sends its table: the capture's status
 * line and prompt change with no key pressed. */
Test(shell, live_capture_updates_at_the_prompt)
{
	char sock[128];
	struct pty_proc p;
	size_t m;
	int fd = shell_with_frontend(&p, sock, sizeof(sock));

	m = p.len;
	region_msg(fd, 37, 0x9, 0x0, 0xa0000, 0x7f0000000000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	pty_expect(&p, m, "live: ADD_MEM_REG (message 4), now 1 region");
	pty_expect(&p, m, "vmmap [live: 1 region]> ");
	m = pty_type(&p, "translate 0x1000\r");
	pty_expect(&p, m, "uaddr 00007f0000001000");
	pty_expect(&p, m, "vmmap [live: 1 region]> ");
	close(fd);
	m = p.len;
	pty_expect(&p, m, "live: capture ended (disconnect)");
	pty_expect(&p, m, "vmmap> ");
	pty_type(&p, "quit\r");
	cr_assert_eq(pty_wait(&p), 0);
	cr_assert_neq(access(sock, F_OK), 0, "the socket is removed");
}

/* Reads one whole message on fd (closing any descriptors that came with
 * it); returns its request code. */
static uint32_t take_msg(int fd)
{
	uint32_t hdr[3];
	uint8_t p[4096];

	cr_assert_eq(recv(fd, hdr, 12, MSG_WAITALL), 12);
	cr_assert_leq(hdr[2], sizeof(p));
	if (hdr[2])
		cr_assert_eq(recv(fd, p, hdr[2], MSG_WAITALL), (ssize_t)hdr[2]);
	return hdr[0];
}

/* The shell's capture with --forward: the table follows the frontend's
 * requests while the backend answers them, and a backend that leaves ends
 * the capture and closes the frontend. */
Test(shell, forwarding_capture_at_the_prompt)
{
	char front[128], back[128], cmd[320];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pty_proc p;
	uint64_t v = 0;
	size_t m;
	int lb = socket(AF_UNIX, SOCK_STREAM, 0), f, b;
	char c;

	snprintf(front, sizeof(front), "%s/front.sock", dir);
	snprintf(back, sizeof(back), "%s/back.sock", dir);
	cr_assert_lt(strlen(back), sizeof(sa.sun_path));
	memcpy(sa.sun_path, back, strlen(back) + 1);
	cr_assert_eq(bind(lb, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lb, 1), 0);
	pty_start(&p, (const char *[]){ "VMMAP_HISTFILE=", NULL }, NULL);
	pty_expect(&p, 0, "vmmap> ");
	snprintf(cmd, sizeof(cmd), "capture --listen %s --forward %s\r", front, back);
	m = pty_type(&p, cmd);
	pty_expect(&p, m, "forwarding to the backend at");
	pty_expect(&p, m, "vmmap [live: 0 regions]> ");
	f = connect_retry(front);
	b = accept(lb, NULL, NULL);
	cr_assert_geq(b, 0);
	/* GET_PROTOCOL_FEATURES answered by the backend, SET_PROTOCOL_FEATURES,
	 * then an ADD_MEM_REG it acknowledges. */
	send_msg(f, 15, 1, NULL, 0, 0);
	cr_assert_eq(take_msg(b), 15);
	v = REPLY_ACK | MEM_SLOTS;
	send_msg(b, 15, 0x5, &v, 8, 0);
	cr_assert_eq(read_reply(f, 15, 8), REPLY_ACK | MEM_SLOTS);
	u64_msg(f, 16, 1, REPLY_ACK | MEM_SLOTS, 0);
	cr_assert_eq(take_msg(b), 16);
	m = p.len;
	region_msg(f, 37, 0x9, 0x0, 0xa0000, 0x7f0000000000, 0, 1);
	cr_assert_eq(take_msg(b), 37);
	v = 0;
	send_msg(b, 37, 0x5, &v, 8, 0);
	cr_assert_eq(read_reply(f, 37, 8), 0);
	pty_expect(&p, m, "live: ADD_MEM_REG (message 2), now 1 region");
	pty_expect(&p, m, "vmmap [live: 1 region]> ");
	m = p.len;
	close(b);
	pty_expect(&p, m, "live: capture ended (backend-disconnect)");
	cr_assert_eq(recv(f, &c, 1, 0), 0, "the frontend is closed when the backend leaves");
	close(f);
	close(lb);
	pty_type(&p, "quit\r");
	cr_assert_eq(pty_wait(&p), 0);
}

/* A frontend that drips one byte every 1.5 s cannot hold the prompt:
 * commands typed meanwhile are answered at once, and the engine still
 * sends the frontend away 2 s after its message began. */
Test(shell, a_drip_feeding_frontend_cannot_hold_the_prompt)
{
	uint32_t hdr[3] = { 37, 1, 40 };
	char sock[128];
	struct pty_proc p;
	struct timespec t0, t1;
	double worst = 0;
	size_t m;
	int fd = shell_with_frontend(&p, sock, sizeof(sock));

	cr_assert_eq(send(fd, hdr, 1, MSG_NOSIGNAL), 1); /* a message begins */
	for (int i = 0; i < 3; i++) {
		double ms;

		usleep(300000);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		m = pty_type(&p, "version\r");
		pty_expect(&p, m, "document version 1");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		worst = ms > worst ? ms : worst;
		if (i == 1)
			send(fd, (char *)hdr + 1, 1, MSG_NOSIGNAL); /* one more byte */
	}
	fprintf(stderr, "a command typed while a frontend drips its message: answered in "
		"at most %.1f ms\n", worst);
	cr_assert_lt(worst, 100.0, "the prompt waited %.1f ms", worst);
	m = p.len;
	pty_expect(&p, m, "live: capture ended (stalled)");
	close(fd);
	pty_type(&p, "quit\r");
	cr_assert_eq(pty_wait(&p), 0);
}

/* A status line never garbles a half-typed line: it clears the line,
 * prints above, and the prompt and the typed text are drawn again. */
Test(shell, a_status_line_keeps_the_half_typed_line)
{
	char sock[128];
	struct pty_proc p;
	size_t m;
	int fd = shell_with_frontend(&p, sock, sizeof(sock));

	m = pty_type(&p, "translate 0x1"); /* no Enter */
	pty_expect(&p, m, "translate 0x1");
	m = p.len;
	region_msg(fd, 37, 0x9, 0x0, 0xa0000, 0x7f0000000000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	/* The status clears the line first ... */
	pty_expect(&p, m, "\r\033[Klive: ADD_MEM_REG (message 4), now 1 region");
	/* ... then the prompt, now with the new size, and the half line. */
	pty_expect(&p, m, "vmmap [live: 1 region]> translate 0x1");
	m = pty_type(&p, "000\r");
	pty_expect(&p, m, "uaddr 00007f0000001000");
	close(fd);
	pty_type(&p, "quit\r");
	cr_assert_eq(pty_wait(&p), 0);
}

static void say(int fd, const char *text)
{
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static void wait_for(const char *path, const char *want)
{
	for (int i = 0; i < 500; i++) {
		const char *t = read_or_null(path);

		if (t && strstr(t, want))
			return;
		usleep(10000);
	}
	cr_assert_fail("%s never showed \"%s\": %s", path, want, read_or_null(path));
}

/* vmmap shell reading a pipe (*in: its write end), its standard output
 * and error going to outp and errp. */
static pid_t piped_shell(const char *outp, const char *errp, int *in)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(p[0], 0);
		dup2(o, 1);
		dup2(e, 2);
		close(p[1]);
		execl(VMMAP_BIN, "vmmap", "shell", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	*in = p[1];
	return pid;
}

/* Under a pipe: the table changes between two commands, served while the
 * shell waits for its next line. */
Test(shell, live_capture_between_commands_in_batch)
{
	char sock[128], outp[128], errp[128], line[256];
	int in_fd, fd, st;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/vu.sock", dir);
	snprintf(outp, sizeof(outp), "%s/out", dir);
	snprintf(errp, sizeof(errp), "%s/err", dir);
	pid = piped_shell(outp, errp, &in_fd);
	snprintf(line, sizeof(line), "capture --listen %s as vm\n", sock);
	say(in_fd, line);
	fd = connect_retry(sock);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	region_msg(fd, 37, 0x9, 0x0, 0xa0000, 0x7f0000000000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0, "the shell answers while it waits for input");
	say(in_fd, "show vm\ntables\n");
	wait_for(outp, "(live)"); /* both lines ran before the next region */
	region_msg(fd, 37, 0x9, 0xc0000, 0x7f40000, 0x7f00000c0000, 0xc0000, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	say(in_fd, "translate vm 0xc1000\n");
	usleep(100000);
	close(fd);
	usleep(100000);
	say(in_fd, "tables\nsave ");
	snprintf(line, sizeof(line), "%s/saved.json\n", dir);
	say(in_fd, line);
	close(in_fd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "stderr: %s", read_or_null(errp));

	char *out = strdup(read_or_null(outp));

	cr_assert(strstr(out, "memory: 1 region\n"), "%s", out);
	cr_assert(strstr(out, "vm                   1 region "), "%s", out);
	cr_assert(strstr(out, "(live)"), "%s", out);
	cr_assert(strstr(out, "uaddr 00007f00000c1000"), "%s\nstderr: %s", out, read_or_null(errp));
	cr_assert(strstr(out, "vm                   2 regions"), "%s", out);
	cr_assert(strstr(out, "(ended)"), "%s", out);
	free(out);
	cr_assert(strstr(read_or_null(errp), "vm: ADD_MEM_REG (message 4), now 1 region"), "%s",
		  read_or_null(errp));
	snprintf(line, sizeof(line), "%s/saved.json", dir);
	cr_assert(read_or_null(line) && strstr(read_or_null(line), "\"memory_size\": \"0x7f40000\""),
		  "the captured table was saved");
}

/* Little-endian stores into a test's guest memory. */
static void put16(uint8_t *m, uint64_t at, uint16_t v) { memcpy(m + at, &v, 2); }
static void put32(uint8_t *m, uint64_t at, uint32_t v) { memcpy(m + at, &v, 4); }
static void put64(uint8_t *m, uint64_t at, uint64_t v) { memcpy(m + at, &v, 8); }

static void desc(uint8_t *m, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	put64(m, table + 16u * i, addr);
	put32(m, table + 16u * i + 8, len);
	put16(m, table + 16u * i + 12, flags);
	put16(m, table + 16u * i + 14, next);
}

/*
 * Guest memory on the live capture: a frontend shares a 1 MiB memfd as
 * the table's region and sets up ring 0 (8 entries) in it, with a chain of
 * a readable and a writable buffer, and a chain that loops.  vring shows
 * both (the loop named, not followed) and the buffer's bytes, mem dumps
 * them by either address, save writes the snapshot that the offline
 * vring decodes the same; then the frontend shrinks its memfd under
 * vmmap: reading past the new end is "unreadable", not a SIGBUS.
 */
Test(shell, live_guest_memory_rings_and_a_memfd_that_shrinks)
{
	char sock[128], outp[128], errp[128], saved[128], line[256], cmd[512];
	const uint64_t U = 0x7f0000000000, MB = 1 << 20;
	int in_fd, fd, mfd, st;
	uint8_t *m;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/vu.sock", dir);
	snprintf(outp, sizeof(outp), "%s/out", dir);
	snprintf(errp, sizeof(errp), "%s/err", dir);
	snprintf(saved, sizeof(saved), "%s/saved.json", dir);
	mfd = memfd_create("guest", 0);
	cr_assert_geq(mfd, 0);
	cr_assert_eq(ftruncate(mfd, MB), 0);
	m = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	cr_assert_neq(m, MAP_FAILED);
	/* Ring 0: desc 0x10000, avail 0x11000, used 0x12000. */
	desc(m, 0x10000, 0, 0x20000, 16, 1, 1);  /* NEXT */
	desc(m, 0x10000, 1, 0x20010, 5, 2, 0);   /* WRITE */
	desc(m, 0x10000, 2, 0x20100, 8, 1, 3);   /* a loop: 2 -> 3 -> 2 */
	desc(m, 0x10000, 3, 0x20200, 8, 1, 2);
	put16(m, 0x11000 + 4, 0);
	put16(m, 0x11000 + 6, 2);
	put16(m, 0x11000 + 2, 2);                /* avail idx 2 */
	memcpy(m + 0x20000, "hello guest mem!", 16);
	pid = piped_shell(outp, errp, &in_fd);
	snprintf(line, sizeof(line), "capture --listen %s --snapshot-bytes 16 as vm\n", sock);
	say(in_fd, line);
	fd = connect_retry(sock);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	{
		uint64_t p[5] = { 0, 0, MB, U, 0 };
		uint32_t hdr[3] = { 37, 0x9, 40 };
		uint8_t buf[52];

		memcpy(buf, hdr, 12);
		memcpy(buf + 12, p, 40);
		send_fds(fd, buf, sizeof(buf), &mfd, 1);
		cr_assert_eq(read_reply(fd, 37, 8), 0);
	}
	{
		uint32_t num[2] = { 0, 8 }, base[2] = { 0, 0 };
		struct { uint32_t index, flags; uint64_t desc, used, avail, log; } a = {
			0, 0, U + 0x10000, U + 0x12000, U + 0x11000, 0 };

		send_msg(fd, 8, 1, num, 8, 0);     /* SET_VRING_NUM */
		send_msg(fd, 10, 1, base, 8, 0);   /* SET_VRING_BASE */
		send_msg(fd, 9, 0x9, &a, 40, 0);   /* SET_VRING_ADDR, acked: handled */
		cr_assert_eq(read_reply(fd, 9, 8), 0);
	}
	snprintf(cmd, sizeof(cmd), "tables\nvring vm 0 --bytes 16\nmem vm 0x20000 21\n"
		 "mem vm --from uaddr 0x%llx 4\nsave %s\ntables\n",
		 (unsigned long long)(U + 0x20000), saved);
	say(in_fd, cmd);
	wait_for(errp, "saved 1 region");
	/* The frontend's memfd shrinks to 64 KiB: the ring and the buffers
	 * are past its end now. */
	cr_assert_eq(ftruncate(mfd, 0x10000), 0);
	say(in_fd, "mem vm 0x20000 16\nvring vm 0\ntables\n");
	wait_for(outp, "shrank");
	close(fd);
	close(in_fd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "vmmap survived the shrunk memfd (signal %d)",
		  WIFSIGNALED(st) ? WTERMSIG(st) : 0);

	char *out = strdup(read_or_null(outp));

	cr_assert(strstr(out, "pending: 2 chains from 0 (the base"), "%s", out);
	cr_assert(strstr(out, "#0     0x20000            len 16       NEXT"), "%s", out);
	cr_assert(strstr(out, "data 68656c6c6f206775657374206d656d21"), "%s", out);
	cr_assert(strstr(out, "head 2: 2 descriptors, 16 bytes  ! a loop"), "%s", out);
	cr_assert(strstr(out, "0000000000020000  68 65 6c 6c 6f 20 67 75  65 73 74 20 6d 65 6d 21"
			      "  |hello guest mem!|"), "%s", out);
	cr_assert(strstr(out, "00007f0000020000  68 65 6c 6c"), "%s", out);
	cr_assert(strstr(out, "0000000000020000-000000000002000f (16 bytes): unreadable: its "
			      "file shrank under vmmap to 65536 bytes"), "%s", out);
	cr_assert(strstr(out, "! the available ring cannot be read"), "%s", out);
	free(out);
	/* The snapshot saved before: the same chains, offline. */
	snprintf(cmd, sizeof(cmd), "%s vring %s 0 > %s/offline 2>&1", VMMAP_BIN, saved, dir);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 1, "a loop is a problem: exit 1");
	snprintf(line, sizeof(line), "%s/offline", dir);
	cr_assert(strstr(read_or_null(line), "head 2: 2 descriptors, 16 bytes  ! a loop"), "%s",
		  read_or_null(line));
	cr_assert(strstr(read_or_null(line), "#1     0x20010            len 5        WRITE"), "%s",
		  read_or_null(line));
	struct stat sb;

	cr_assert_eq(stat(saved, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "buffer bytes: a private file (mode %o)",
		     sb.st_mode & 0777);
	munmap(m, MB);
	close(mfd);
}
