/*
 * A scripted vhost-user frontend for tests: messages with fds, replies
 * checked byte by byte, the QEMU handshake.  Used by test_capture.c and
 * test_shell.c.
 */
#ifndef VMMAP_TEST_FRONTEND_H
#define VMMAP_TEST_FRONTEND_H

#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

/* A file's text (its first 64 KiB), or NULL when it cannot be read, in
 * one of 4 buffers used in turn (so one message can show several files):
 * for assertions and their messages. */
static inline char *read_or_null(const char *path)
{
	static char bufs[4][65536];
	static unsigned turn;
	char *buf = bufs[turn++ % 4];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(bufs[0]) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return f ? buf : NULL;
}

/* The same, "" when missing. */
static inline char *slurp(const char *path)
{
	char *t = read_or_null(path);

	return t ? t : (char *)"";
}

/* A test's scratch directory (dir holds the template, /tmp/NAME-XXXXXX),
 * and its socket, output and stderr paths in it. */
static inline void scratch_setup(char *dir, size_t dirlen, const char *name, char *sock,
				 char *out, char *err, size_t len)
{
	snprintf(dir, dirlen, "/tmp/%s-XXXXXX", name);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, len, "%s/vu.sock", dir);
	snprintf(out, len, "%s/capture.json", dir);
	snprintf(err, len, "%s/stderr.txt", dir);
}

/*
 * Starts VMMAP_BIN with the words of argv (NULL-terminated, at most 31)
 * followed by those of ap, standard error to err_path, and a file size
 * limit of fsize (0: none).  Returns the pid.
 */
static inline pid_t spawn_vmmap(const char *const *argv, va_list ap,
				const char *err_path, unsigned long fsize)
{
	const char *all[32];
	int n = 0;
	pid_t pid;

	for (; *argv && n < 31; argv++)
		all[n++] = *argv;
	for (const char *a = va_arg(ap, const char *); a && n < 31; a = va_arg(ap, const char *))
		all[n++] = a;
	all[n] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		struct rlimit rl = { fsize, fsize };

		dup2(fd, 2);
		if (fsize) {
			signal(SIGXFSZ, SIG_IGN);
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		execv(VMMAP_BIN, (char **)all);
		_exit(127);
	}
	return pid;
}

/*
 * Starts VMMAP_BIN capture -o OUT with the words first, ... (NULL-ended, at
 * most 27), standard error to err and standard output to out_std.  Returns
 * the pid.
 */
static inline pid_t spawn_capture(const char *out, const char *err, const char *out_std,
				  const char *first, va_list ap)
{
	const char *argv[32] = { VMMAP_BIN, "capture", "-o", out };
	int argc = 4;
	pid_t pid;

	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	argv[argc] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int o = open(out_std, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(e, 2);
		dup2(o, 1);
		execv(VMMAP_BIN, (char **)argv);
		_exit(127);
	}
	return pid;
}

/* Waits for pid, which must exit (not die of a signal); its status. */
static inline int wait_status(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "vmmap died with signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

/* Kills and reaps a child still running at the end of a test. */
static inline void kill_child(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = -1;
	}
}

static inline void scratch_remove(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* How many descriptors process pid has open. */
static inline size_t count_fds(pid_t pid)
{
	char path[64];
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2; /* . and .. */
}

/* count_fds once it is want, or after 2 s: a descriptor vmmap closes just
 * after the send the test has seen. */
static inline size_t settle_fds(pid_t pid, size_t want)
{
	size_t n = count_fds(pid);

	for (int i = 0; i < 200 && n != want; i++) {
		usleep(10000);
		n = count_fds(pid);
	}
	return n;
}

/* The value at a dotted path such as "capture.timeline.3.request". */
static inline json_t *jget(json_t *o, const char *path)
{
	char buf[128], *save, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		o = isdigit((unsigned char)tok[0]) ? json_array_get(o, (size_t)atoi(tok))
						   : json_object_get(o, tok);
	return o;
}

static inline const char *jstr(json_t *o, const char *path)
{
	json_t *v = jget(o, path);

	cr_assert(json_is_string(v), "%s is not a string", path);
	return json_string_value(v);
}

static inline json_int_t jint(json_t *o, const char *path)
{
	json_t *v = jget(o, path);

	cr_assert(json_is_integer(v), "%s is not an integer", path);
	return json_integer_value(v);
}

#define REPLY_ACK (1u << 3)
#define MEM_SLOTS (1u << 15)
#define MQ (1u << 0)

static inline int connect_retry(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	for (int i = 0; i < 200; i++) {
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		usleep(10000);
	}
	cr_assert_fail("cannot connect to %s: %s", path, strerror(errno));
	return -1;
}

/* Sends len bytes with nfds descriptors (at most 64; not closed) in one
 * sendmsg, the descriptors with the first byte. */
static inline void send_fds(int fd, const void *b, size_t len, const int *fds, size_t nfds)
{
	union {
		char b[CMSG_SPACE(64 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)b, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	cr_assert_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len, "sendmsg: %s",
		     strerror(errno));
}

/* Sends one message with nfds fresh fds (of /dev/null). */
static inline void send_msg(int fd, uint32_t request, uint32_t flags, const void *payload,
		     uint32_t size, int nfds)
{
	uint32_t hdr[3] = { request, flags, size };
	char buf[12 + 8192];
	int fds[64] = { 0 };

	memcpy(buf, hdr, 12);
	if (size)
		memcpy(buf + 12, payload, size);
	for (int i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	send_fds(fd, buf, 12 + size, fds, (size_t)nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

/* Reads a reply and checks its header: same request, flags exactly 0x5. */
static inline uint64_t read_reply(int fd, uint32_t request, uint32_t size)
{
	uint32_t hdr[3];
	uint8_t p[64] = { 0 };
	uint64_t v = 0;

	cr_assert_eq(recv(fd, hdr, 12, MSG_WAITALL), 12, "reply header to %u", request);
	cr_assert_eq(hdr[0], request, "reply code %u to request %u", hdr[0], request);
	cr_assert_eq(hdr[1], 0x5, "reply flags 0x%x, must be VERSION|REPLY", hdr[1]);
	cr_assert_eq(hdr[2], size, "reply size %u to request %u", hdr[2], request);
	cr_assert_eq(recv(fd, p, size, MSG_WAITALL), (ssize_t)size);
	memcpy(&v, p, size < 8 ? size : 8);
	return v;
}

static inline void u64_msg(int fd, uint32_t req, uint32_t flags, uint64_t v, int nfds)
{
	send_msg(fd, req, flags, &v, 8, nfds);
}

static inline void region_msg(int fd, uint32_t req, uint32_t flags, uint64_t gpa,
		       uint64_t size, uint64_t uaddr, uint64_t off, int nfds)
{
	uint64_t p[5] = { 0, gpa, size, uaddr, off };

	send_msg(fd, req, flags, p, 40, nfds);
}

/* The QEMU handshake up to SET_OWNER, negotiating proto features. */
static inline void handshake(int fd, uint64_t proto)
{
	uint64_t f = read_reply((send_msg(fd, 1, 1, NULL, 0, 0), fd), 1, 8);

	cr_assert(f & (UINT64_C(1) << 32), "VERSION_1 offered");
	cr_assert(f & (UINT64_C(1) << 30), "PROTOCOL_FEATURES offered");
	send_msg(fd, 15, 1, NULL, 0, 0);
	cr_assert_eq(read_reply(fd, 15, 8) & proto, proto, "protocol features offered");
	u64_msg(fd, 16, 1, proto, 0);
	if (proto & MQ) {
		send_msg(fd, 17, 1, NULL, 0, 0);
		cr_assert_eq(read_reply(fd, 17, 8), 8, "GET_QUEUE_NUM: the default 8");
	}
	send_msg(fd, 3, 1, NULL, 0, 0);
}

#endif
