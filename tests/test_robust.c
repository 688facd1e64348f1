/*
 * vmmap capture against frontends and users that would make it hang, lose
 * a capture or fool it: a frontend that drips one byte at a time, a
 * deadline or a signal inside a message, SIGHUP and SIGUSR1, a frontend
 * that pipelines its messages and leaves, a full listen backlog, another
 * process's socket at the path, an output that cannot be written, and the
 * rules that apply at capture time (offset wrap, descriptor warnings).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"

static char dir[64], sock_path[128], out_path[128], err_path[128];
static pid_t vm = -1;

static void setup(void)
{
	scratch_setup(dir, sizeof(dir), "vmmap-robust", sock_path, out_path, err_path,
		      sizeof(sock_path));
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	kill_child(&vm);
	scratch_remove(dir);
}

TestSuite(robust, .init = setup, .fini = teardown, .timeout = 60);

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts `vmmap capture ARGS...` (NULL-terminated) with stderr to err_path. */
static void run(const char *dummy, ...)
{
	va_list ap;

	va_start(ap, dummy);
	vm = spawn_vmmap((const char *[]){ VMMAP_BIN, "capture", dummy, NULL }, ap,
			 err_path, 0);
	va_end(ap);
}

static void wait_socket(void)
{
	struct stat st;

	for (int i = 0; i < 500 && lstat(sock_path, &st); i++)
		usleep(10000);
	cr_assert_eq(lstat(sock_path, &st), 0, "vmmap did not create its socket");
}

/* Waits for vmmap to exit (at most `limit` s, then fails); its status. */
static int finish_within(double limit)
{
	double end = now_s() + limit;
	int st;

	for (;;) {
		pid_t r = waitpid(vm, &st, WNOHANG);

		if (r == vm)
			break;
		cr_assert_eq(r, 0);
		if (now_s() > end) {
			kill(vm, SIGKILL);
			waitpid(vm, NULL, 0);
			vm = -1;
			cr_assert_fail("vmmap still ran after %.1f s; stderr: %s", limit,
				       slurp(err_path));
		}
		usleep(2000);
	}
	vm = -1;
	cr_assert(WIFEXITED(st), "vmmap died with signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

static json_t *capture_of(const char *path)
{
	json_t *doc = json_load_file(path, 0, NULL);

	cr_assert_not_null(doc, "no whole capture in %s: %s", path, slurp(path));
	return doc;
}

static const char *end_of(json_t *doc)
{
	return json_string_value(json_object_get(json_object_get(doc, "capture"), "end"));
}

static size_t regions_of(json_t *doc)
{
	return json_array_size(json_object_get(json_object_get(doc, "memory"), "regions"));
}

/* Whether some entry of capture.LIST has a problem containing needle. */
static bool has_finding(json_t *doc, const char *list, const char *needle)
{
	json_t *v = json_object_get(json_object_get(doc, "capture"), list);

	for (size_t i = 0; i < json_array_size(v); i++)
		if (strstr(json_string_value(json_object_get(json_array_get(v, i), "problem")),
			   needle))
			return true;
	return false;
}

/* Sends one byte at a time, `gap` s apart, until vmmap closes the
 * connection (or n bytes went); returns the s from the first byte to the
 * close. */
static double drip(int fd, const uint8_t *p, size_t n, double gap)
{
	double t0 = now_s();

	for (size_t i = 0; i < n; i++) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		char c;

		if (send(fd, p + i, 1, MSG_NOSIGNAL) != 1)
			break;
		/* Replies may come; a close (recv 0) ends the drip. */
		if (poll(&pf, 1, (int)(gap * 1e3)) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) == 0)
			break;
	}
	return now_s() - t0;
}

/* The header and payload of an ADD_MEM_REG, as bytes to drip. */
static void add_mem_reg_bytes(uint8_t out[52])
{
	uint32_t hdr[3] = { 37, 1, 40 };
	uint64_t p[5] = { 0, 0x0, 0x1000, 0x7f0000000000, 0 };

	memcpy(out, hdr, 12);
	memcpy(out + 12, p, 40);
}

/* The 2 s stall limit counts from a message's first byte: one byte every
 * 1.5 s (each read under 2 s) no longer holds vmmap for minutes. */
Test(robust, a_drip_fed_message_is_cut_2_s_after_its_first_byte)
{
	uint8_t bytes[52];
	double took;
	json_t *doc;
	int fd;

	add_mem_reg_bytes(bytes);
	run("--listen", sock_path, "-o", out_path, "--timeout", "60", NULL);
	wait_socket();
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	took = drip(fd, bytes, sizeof(bytes), 1.5);
	close(fd);
	fprintf(stderr, "drip at 1.5 s a byte: closed %.2f s after the first byte\n", took);
	cr_assert_lt(took, 3.0, "vmmap held the message %.1f s", took);
	cr_assert_eq(finish_within(5), 1, "a stall is a violation; %s", slurp(err_path));
	doc = capture_of(out_path);
	cr_assert_str_eq(end_of(doc), "stalled");
	cr_assert(has_finding(doc, "violations", "of the 12 header bytes"), "%s",
		  slurp(out_path));
	json_decref(doc);
}

/* --timeout is honoured inside a message. */
Test(robust, the_deadline_ends_a_capture_inside_a_message)
{
	uint8_t bytes[52];
	double t0, took;
	json_t *doc;
	int fd;

	add_mem_reg_bytes(bytes);
	run("--listen", sock_path, "-o", out_path, "--timeout", "1", NULL);
	wait_socket();
	t0 = now_s();
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	drip(fd, bytes, 8, 0.3);
	cr_assert_eq(finish_within(3), 1, "no table was sent: %s", slurp(err_path));
	took = now_s() - t0;
	close(fd);
	fprintf(stderr, "--timeout 1 inside a message: vmmap ended after %.2f s\n", took);
	cr_assert_lt(took, 2.0);
	doc = capture_of(out_path);
	cr_assert_str_eq(end_of(doc), "timeout");
	json_decref(doc);
}

/* A signal inside a message is acted on at once; the output is whole and
 * the socket removed.  SIGHUP (a closed terminal) is handled as SIGTERM. */
static void signal_inside_a_message(int sig)
{
	uint8_t bytes[52];
	double t0, took;
	struct stat st;
	json_t *doc;
	int fd;

	add_mem_reg_bytes(bytes);
	run("--listen", sock_path, "-o", out_path, NULL);
	wait_socket();
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	send(fd, bytes, 5, MSG_NOSIGNAL);
	usleep(300000);
	t0 = now_s();
	kill(vm, sig);
	cr_assert_eq(finish_within(2), 1, "no table was sent: %s", slurp(err_path));
	took = now_s() - t0;
	close(fd);
	fprintf(stderr, "signal %d inside a message: vmmap ended %.1f ms later\n", sig,
		took * 1e3);
	cr_assert_lt(took, 0.5);
	doc = capture_of(out_path);
	cr_assert_str_eq(end_of(doc), "signal");
	json_decref(doc);
	cr_assert_neq(lstat(sock_path, &st), 0, "the socket is removed");
}

Test(robust, sigterm_inside_a_message)
{
	signal_inside_a_message(SIGTERM);
}

Test(robust, sighup_ends_a_capture_like_sigterm)
{
	signal_inside_a_message(SIGHUP);
}

/* SIGUSR1 writes the capture so far and the capture goes on. */
Test(robust, sigusr1_writes_a_checkpoint)
{
	json_t *doc = NULL;
	int fd;

	run("--listen", sock_path, "-o", out_path, NULL);
	wait_socket();
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	region_msg(fd, 37, 0x9, 0x0, 0x1000, 0x7f0000000000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	kill(vm, SIGUSR1);
	for (int i = 0; i < 200 && !doc; i++) {
		usleep(10000);
		doc = json_load_file(out_path, 0, NULL);
	}
	cr_assert_not_null(doc, "no checkpoint; stderr: %s", slurp(err_path));
	cr_assert_str_eq(end_of(doc), "checkpoint");
	cr_assert_eq(regions_of(doc), 1);
	json_decref(doc);
	/* Still serving. */
	region_msg(fd, 37, 0x9, 0x100000, 0x1000, 0x7f0000100000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	close(fd);
	cr_assert_lt(finish_within(5), 2, "%s", slurp(err_path));
	doc = capture_of(out_path);
	cr_assert_str_eq(end_of(doc), "disconnect");
	cr_assert_eq(regions_of(doc), 2);
	json_decref(doc);
}

/* A frontend that pipelines GET_FEATURES and three ADD_MEM_REG and closes:
 * the reply cannot be sent, and what it sent is still read and recorded. */
Test(robust, messages_after_a_failed_reply_are_recorded)
{
	json_t *doc;
	int fd;

	run("--listen", sock_path, "-o", out_path, "--timeout", "20", NULL);
	wait_socket();
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	send_msg(fd, 1, 1, NULL, 0, 0);
	for (int i = 0; i < 3; i++)
		region_msg(fd, 37, 0x1, (uint64_t)i << 20, 0x1000,
			   0x7f0000000000 + ((uint64_t)i << 20), 0, 1);
	close(fd);
	cr_assert_eq(finish_within(10), 0, "%s", slurp(err_path));
	doc = capture_of(out_path);
	cr_assert_eq(regions_of(doc), 3, "%s", slurp(out_path));
	cr_assert_str_eq(end_of(doc), "disconnect");
	json_decref(doc);
}

/* --connect to a frontend whose listen backlog is full: vmmap retries
 * without blocking, ends at --timeout, and a signal ends it too. */
static int full_backlog(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0), n = 0;

	strcpy(sa.sun_path, sock_path);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(l, 0), 0);
	for (;;) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (connect(c, (struct sockaddr *)&sa, sizeof(sa))) {
			cr_assert_eq(errno, EAGAIN, "%s", strerror(errno));
			close(c);
			break;
		}
		cr_assert_lt(++n, 64); /* the clients stay open: the backlog stays full */
	}
	return l;
}

Test(robust, connect_to_a_full_backlog_ends_at_the_timeout)
{
	int l = full_backlog();
	json_t *doc;

	run("--connect", sock_path, "-o", out_path, "--timeout", "1", NULL);
	cr_assert_eq(finish_within(4), 1, "nobody connected: exit 1; %s", slurp(err_path));
	cr_assert(strstr(slurp(err_path), "no frontend connected (timeout)"), "%s",
		  slurp(err_path));
	doc = capture_of(out_path);
	cr_assert_str_eq(end_of(doc), "timeout");
	json_decref(doc);
	close(l);
}

Test(robust, connect_to_a_full_backlog_ends_on_sigterm)
{
	int l = full_backlog();
	json_t *doc;

	run("--connect", sock_path, "-o", out_path, NULL);
	usleep(300000);
	kill(vm, SIGTERM);
	cr_assert_eq(finish_within(2), 1, "%s", slurp(err_path));
	doc = capture_of(out_path);
	cr_assert_str_eq(end_of(doc), "signal");
	json_decref(doc);
	close(l);
}

/* Another process's live socket at the --listen path is left alone. */
Test(robust, a_live_socket_at_the_listen_path_is_left_alone)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c;

	strcpy(sa.sun_path, sock_path);
	cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(l, 4), 0);
	run("--listen", sock_path, "--timeout", "5", NULL);
	cr_assert_eq(finish_within(3), 2);
	cr_assert(strstr(slurp(err_path), "a process is listening on this socket (left "
		  "alone)"), "%s", slurp(err_path));
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "the other process's socket still answers");
	close(c);
	close(l);
	/* A stale one (nobody listens) is replaced, as before. */
	run("--listen", sock_path, "--timeout", "1", "-q", NULL);
	cr_assert_eq(finish_within(3), 1, "%s", slurp(err_path));
}

/* At exit vmmap removes its socket only: a file put at the path after it
 * started is kept. */
Test(robust, only_the_socket_vmmap_bound_is_removed_at_exit)
{
	struct stat st;
	FILE *f;

	run("--listen", sock_path, "-o", out_path, NULL);
	wait_socket();
	cr_assert_eq(unlink(sock_path), 0);
	f = fopen(sock_path, "w");
	cr_assert_not_null(f);
	fputs("someone else's\n", f);
	fclose(f);
	kill(vm, SIGTERM);
	finish_within(2);
	cr_assert_eq(lstat(sock_path, &st), 0, "the file is kept");
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_str_eq(slurp(sock_path), "someone else's\n");
}

/* An output that cannot be written is found before the socket exists. */
Test(robust, an_unwritable_output_is_refused_before_the_socket)
{
	struct stat st;

	run("--listen", sock_path, "-o", "/nonexistent-dir/capture.json", NULL);
	cr_assert_eq(finish_within(3), 2);
	cr_assert(strstr(slurp(err_path), "/nonexistent-dir/capture.json: cannot create a "
		  "temporary file: No such file or directory"), "%s", slurp(err_path));
	cr_assert_neq(lstat(sock_path, &st), 0, "no socket was created");
	run("--listen", sock_path, "-o", "", NULL);
	cr_assert_eq(finish_within(3), 2);
	cr_assert(strstr(slurp(err_path), "an empty file name"), "%s", slurp(err_path));
	cr_assert_neq(lstat(sock_path, &st), 0, "no socket was created");
}

/* --timeout beyond a u32 of seconds would overflow the deadline. */
Test(robust, a_timeout_beyond_u32_seconds_is_a_usage_error)
{
	run("--replay", "/dev/null", "--timeout", "18446744073", NULL);
	cr_assert_eq(finish_within(3), 2);
	cr_assert(strstr(slurp(err_path), "invalid --timeout '18446744073': at most "
		  "4294967295"), "%s", slurp(err_path));
	run("--replay", "/dev/null", "--timeout", "4294967295", "-q", NULL);
	cr_assert_eq(finish_within(3), 0, "%s", slurp(err_path));
}

/* Sends a region message with one given descriptor. */
static void region_with_fd(int fd, uint64_t gpa, uint64_t size, uint64_t off, int passfd)
{
	uint32_t hdr[3] = { 37, 0x9, 40 };
	uint64_t p[5] = { 0, gpa, size, 0x7f0000000000 + gpa, off };
	char buf[52];
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	memcpy(buf, hdr, 12);
	memcpy(buf + 12, p, 40);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	cr_assert_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), 52);
}

/*
 * At capture time: an mmap_offset + memory_size that wraps is a violation
 * (validate's offset-wrap); a region past the end of its memfd, or whose
 * descriptor is a pipe, is a warning (exit status unchanged).  A recording
 * keeps the descriptors' facts, so --replay gives the same warnings.
 */
Test(robust, regions_are_checked_against_their_descriptors)
{
	char rec[160], again[160];
	int fd, mfd = memfd_create("guest", 0), pipefd[2];
	json_t *doc, *w1, *w2;

	snprintf(rec, sizeof(rec), "%s/session.bin", dir);
	snprintf(again, sizeof(again), "%s/again.json", dir);
	cr_assert_eq(ftruncate(mfd, 0x1000), 0);
	cr_assert_eq(pipe(pipefd), 0);
	run("--listen", sock_path, "-o", out_path, "--record", rec, NULL);
	wait_socket();
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	region_with_fd(fd, 0x0, 0x1000, 0, mfd);       /* fits */
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	region_with_fd(fd, 0x100000, 0x2000, 0, mfd);  /* past the memfd's end */
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	region_with_fd(fd, 0x200000, 0x1000, 0, pipefd[0]); /* not a file */
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	region_with_fd(fd, 0x300000, 0x2000, UINT64_MAX - 0xfff, mfd); /* wraps */
	cr_assert_eq(read_reply(fd, 37, 8), 1);
	close(fd);
	cr_assert_eq(finish_within(5), 1, "the wrap is a violation; %s", slurp(err_path));
	doc = capture_of(out_path);
	cr_assert(has_finding(doc, "violations", "mmap_offset 0xfffffffffffff000 + "
			      "memory_size runs past 2^64-1"), "%s", slurp(out_path));
	cr_assert(has_finding(doc, "warnings", "maps up to offset 0x2000 of a memfd of "
			      "0x1000 bytes"), "%s", slurp(out_path));
	cr_assert(has_finding(doc, "warnings", "is a pipe, not a regular file"), "%s",
		  slurp(out_path));
	w1 = json_object_get(json_object_get(doc, "capture"), "warnings");
	cr_assert_eq(json_array_size(w1), 2, "the region that fits has no warning");
	cr_assert_eq(regions_of(doc), 3);

	run("--replay", rec, "-o", again, NULL);
	cr_assert_eq(finish_within(5), 1, "%s", slurp(err_path));
	{
		json_t *d2 = capture_of(again);

		w2 = json_object_get(json_object_get(d2, "capture"), "warnings");
		cr_assert(json_equal(w1, w2), "replay warnings differ: %s", slurp(again));
		/* The whole document replays the same (times included: the
		 * recording keeps them), but for why it ended. */
		json_object_del(json_object_get(d2, "capture"), "end");
		json_object_del(json_object_get(doc, "capture"), "end");
		cr_assert(json_equal(doc, d2), "the replay differs from the capture: %s",
			  slurp(again));
		json_decref(d2);
	}
	json_decref(doc);
	close(mfd);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* Past the first 1000 violations the rest are counted, and stderr says so
 * once. */
Test(robust, violations_past_the_list_are_said_once)
{
	char cmd[256];
	FILE *p;
	int fd, n = 0;

	run("--listen", sock_path, "-o", out_path, NULL);
	wait_socket();
	fd = connect_retry(sock_path);
	for (int i = 0; i < 1005; i++)
		send_msg(fd, 1, 2, NULL, 0, 0); /* version bits 2: a violation each */
	close(fd);
	cr_assert_eq(finish_within(10), 1, "%s", slurp(err_path));
	/* stderr is over 64 KiB: grep counts in the whole file. */
	snprintf(cmd, sizeof(cmd), "grep -c 'more than 1000 violations: the rest are "
		 "counted' %s", err_path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	cr_assert_eq(n, 1, "the notice came %d times", n);
}
