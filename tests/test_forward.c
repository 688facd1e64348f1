/*
 * vmmap capture --forward between a scripted frontend and a scripted
 * backend, both played by this test: every message must arrive on the
 * other side byte for byte with the same open files behind its
 * descriptors; the table follows the requests and goes back when the
 * backend refuses a change; replies are matched with their latency;
 * disconnects mirror; the recording replays to the same document; and
 * vmmap's descriptor count comes back to where it started.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend.h"

static char dir[64], front_path[128], back_path[128], out_path[128], err_path[128],
	rec_path[128], follow_path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vmmap-forward-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(front_path, sizeof(front_path), "%s/front.sock", dir);
	snprintf(back_path, sizeof(back_path), "%s/back.sock", dir);
	snprintf(out_path, sizeof(out_path), "%s/capture.json", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr.txt", dir);
	snprintf(rec_path, sizeof(rec_path), "%s/session.bin", dir);
	snprintf(follow_path, sizeof(follow_path), "%s/follow.txt", dir);
}

static void teardown(void)
{
	scratch_remove(dir);
}

TestSuite(forward, .init = setup, .fini = teardown, .timeout = 60);

/* Starts vmmap capture -o out_path with the arguments (NULL-terminated);
 * standard output (the --follow lines) to follow_path. */
static pid_t start_vmmap(const char *first, ...)
{
	const char *argv[32] = { VMMAP_BIN, "capture", "-o", out_path };
	int argc = 4;
	va_list ap;
	pid_t pid;

	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int o = open(follow_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(e, 2);
		dup2(o, 1);
		execv(VMMAP_BIN, (char **)argv);
		_exit(127);
	}
	return pid;
}

static int wait_status(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "vmmap died with signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

/* A listening socket at path (the scripted backend, or frontend). */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s", path);
	cr_assert_eq(listen(fd, 4), 0);
	return fd;
}

/* Waits up to 10 s for fd to be readable. */
static void wait_readable(int fd, const char *what)
{
	struct pollfd p = { fd, POLLIN, 0 };

	cr_assert_eq(poll(&p, 1, 10000), 1, "nothing from %s in 10 s", what);
}

static int accept_one(int lfd, const char *what)
{
	int fd;

	wait_readable(lfd, what);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(fd, 0, "accept %s: %s", what, strerror(errno));
	return fd;
}

/* One whole message as it arrives: bytes (header + payload) and fds. */
struct wire {
	uint8_t b[12 + 4096];
	size_t len;
	int fds[8];
	size_t nfds;
};

static void recv_wire(int fd, struct wire *w, const char *what)
{
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint32_t size;

	w->len = w->nfds = 0;
	while (w->len < 12 || w->len < 12 + (size_t)size) {
		size_t want = w->len < 12 ? 12 - w->len : 12 + size - w->len;
		struct iovec iov = { w->b + w->len, want };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n;

		wait_readable(fd, what);
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		cr_assert_gt(n, 0, "%s: %s", what, n ? strerror(errno) : "closed");
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			memcpy(w->fds + w->nfds, CMSG_DATA(c), k * sizeof(int));
			w->nfds += k;
		}
		w->len += (size_t)n;
		if (w->len >= 12)
			memcpy(&size, w->b + 8, 4);
	}
}

/* Sends bytes with the given descriptors (not closed). */
static void send_wire(int fd, const void *b, size_t len, const int *fds, size_t nfds)
{
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
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

/* A message: header and payload. */
static size_t build(uint8_t *b, uint32_t request, uint32_t flags, const void *p, uint32_t size)
{
	uint32_t h[3] = { request, flags, size };

	memcpy(b, h, 12);
	if (size)
		memcpy(b + 12, p, size);
	return 12 + size;
}

/* Whether two descriptors are the same open file. */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * Sends a message from one side with fds, checks that the other side gets
 * it byte for byte with the same files, and closes the received copies.
 */
static void through(int from, int to, uint32_t request, uint32_t flags, const void *p,
		    uint32_t size, const int *fds, size_t nfds, const char *what)
{
	uint8_t b[12 + 4096];
	size_t len = build(b, request, flags, p, size);
	struct wire w;

	send_wire(from, b, len, fds, nfds);
	recv_wire(to, &w, what);
	cr_assert_eq(w.len, len, "%s: %zu bytes arrived, %zu sent", what, w.len, len);
	cr_assert_eq(memcmp(w.b, b, len), 0, "%s: the bytes differ", what);
	cr_assert_eq(w.nfds, nfds, "%s: %zu descriptors arrived, %zu sent", what, w.nfds, nfds);
	for (size_t i = 0; i < nfds; i++) {
		cr_assert(same_file(w.fds[i], fds[i]), "%s: descriptor %zu is another file",
			  what, i);
		close(w.fds[i]);
	}
}

static void reply_u64(int back, int front, uint32_t request, uint64_t v, const char *what)
{
	through(back, front, request, 0x5, &v, 8, NULL, 0, what);
}

/* vmmap's descriptor count once it is want, or what it is after 2 s. */
static size_t settle_fds(pid_t pid, size_t want)
{
	size_t n = count_fds(pid);

	for (int i = 0; i < 200 && n != want; i++) {
		usleep(10000);
		n = count_fds(pid);
	}
	return n;
}

static int memfd(size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* The handshake a QEMU-like frontend makes through vmmap, with the
 * backend's answers. */
static void handshake_through(int f, int b, uint64_t proto)
{
	uint64_t feat = (UINT64_C(1) << 32) | (UINT64_C(1) << 30) | 0x46;

	through(f, b, 1, 1, NULL, 0, NULL, 0, "GET_FEATURES");
	reply_u64(b, f, 1, feat, "GET_FEATURES reply");
	through(f, b, 15, 1, NULL, 0, NULL, 0, "GET_PROTOCOL_FEATURES");
	reply_u64(b, f, 15, proto, "GET_PROTOCOL_FEATURES reply");
	through(f, b, 16, 1, &proto, 8, NULL, 0, "SET_PROTOCOL_FEATURES");
	if (proto & MEM_SLOTS) {
		through(f, b, 36, 1, NULL, 0, NULL, 0, "GET_MAX_MEM_SLOTS");
		reply_u64(b, f, 36, 8, "GET_MAX_MEM_SLOTS reply");
	}
	through(f, b, 3, 1, NULL, 0, NULL, 0, "SET_OWNER");
}

/*
 * The whole exchange of one session, and what it records: bytes and
 * descriptors both ways, a refused ADD_MEM_REG undone, GET_CONFIG's
 * reply, a reply carrying a memfd, and the frontend leaving.
 */
Test(forward, transparent_both_ways)
{
	int lb = listen_at(back_path), f, b, pipefd[2], mem = memfd(0x200000), inflight;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path, "--follow",
				"--record", rec_path, "--timeout", "50", NULL);
	uint64_t region[5] = { 0, 0x0, 0x100000, 0x7f0000000000, 0 }, state = 0, ok = 0,
		 nack = 1;
	uint8_t cfg[12 + 8] = { 0 }, cfg_reply[12 + 8] = { 0 };
	uint64_t inflight_req[3] = { 0x1000, 2, 256 };
	char cmd[512];
	json_t *doc, *again;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK | MEM_SLOTS | (1u << 9) | (1u << 12));

	/* A kick eventfd stand-in: the backend writes to what it got, the
	 * frontend reads it from its own end. */
	cr_assert_eq(pipe(pipefd), 0);
	state = 0;
	through(f, b, 12, 1, &state, 8, &pipefd[1], 1, "SET_VRING_KICK with a descriptor");
	close(pipefd[1]);

	/* A region, accepted. */
	through(f, b, 37, 0x9, region, 40, &mem, 1, "ADD_MEM_REG");
	reply_u64(b, f, 37, ok, "ADD_MEM_REG ack");
	/* A second one, refused: the table goes back. */
	region[1] = 0x100000;
	region[3] = 0x7f0000100000;
	region[4] = 0x100000;
	through(f, b, 37, 0x9, region, 40, &mem, 1, "ADD_MEM_REG (to be refused)");
	reply_u64(b, f, 37, nack, "ADD_MEM_REG nack");

	/* GET_CONFIG: a virtio_blk_config whose capacity is 0x20000 sectors. */
	memcpy(cfg + 4, (uint32_t[]){ 8 }, 4);
	through(f, b, 24, 1, cfg, sizeof(cfg), NULL, 0, "GET_CONFIG");
	memcpy(cfg_reply, cfg, 12);
	memcpy(cfg_reply + 12, (uint64_t[]){ 0x20000 }, 8);
	through(b, f, 24, 0x5, cfg_reply, sizeof(cfg_reply), NULL, 0, "GET_CONFIG reply");

	/* GET_INFLIGHT_FD: the reply's memfd reaches the frontend. */
	through(f, b, 31, 1, inflight_req, 24, NULL, 0, "GET_INFLIGHT_FD");
	inflight = memfd(0x1000);
	{
		uint64_t p[3] = { 0x1000, 0, 0 };

		through(b, f, 31, 0x5, p, 24, &inflight, 1, "GET_INFLIGHT_FD reply with a memfd");
	}
	close(inflight);

	/* The frontend leaves: vmmap closes the backend. */
	close(f);
	wait_readable(b, "the backend's side after the frontend left");
	cr_assert_eq(recv(b, cmd, 1, 0), 0, "the backend sees the connection closed");
	close(b);
	close(lb);
	close(mem);
	close(pipefd[0]);

	cr_assert_eq(wait_status(pid), 1, "a refused change is a finding\n%s", slurp(err_path));
	cr_assert(strstr(slurp(err_path), "the frontend left after 10 messages and 7 replies"),
		  "%s", slurp(err_path));
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc, "%s", slurp(out_path));
	cr_assert_str_eq(jstr(doc, "capture.end"), "disconnect");
	cr_assert_eq(json_array_size(jget(doc, "memory.regions")), 1, "%s", slurp(out_path));
	cr_assert_str_eq(jstr(doc, "memory.regions.0.memory_size"), "0x100000");
	cr_assert_eq(json_array_size(jget(doc, "capture.timeline")), 3);
	cr_assert(json_is_true(jget(doc, "capture.timeline.2.rollback")));
	cr_assert_eq(jint(doc, "capture.timeline.2.message"), 7);
	cr_assert_eq(jint(doc, "capture.timeline.2.regions"), 1);
	cr_assert_eq(jint(doc, "capture.forward.backend_state_unknown_from"), 7);
	cr_assert(strstr(jstr(doc, "capture.violations.0.problem"), "refused ADD_MEM_REG"));
	cr_assert_str_eq(jstr(doc, "capture.features.offered"), "0x140000046");
	cr_assert_str_eq(jstr(doc, "capture.protocol_features.offered"), "0x9208");
	cr_assert_eq(jint(doc, "capture.forward.replies_total"), 7);
	cr_assert_str_eq(jstr(doc, "capture.forward.replies.3.request"), "ADD_MEM_REG");
	cr_assert_str_eq(jstr(doc, "capture.forward.replies.4.value"), "0x1");
	cr_assert_eq(jint(doc, "capture.forward.replies.4.message"), 7);
	cr_assert_geq(jint(doc, "capture.forward.replies.4.latency_ns"), 1);
	cr_assert_eq(jint(doc, "capture.forward.replies.6.fds"), 1);
	cr_assert_str_eq(jstr(doc, "capture.forward.config.bytes"), "0000020000000000");
	cr_assert_eq(jint(doc, "capture.forward.unanswered"), 0);
	cr_assert_eq(jint(doc, "capture.forward.latency.ADD_MEM_REG.replies"), 2);
	/* The trace shows both directions with each reply's latency. */
	cr_assert(strstr(slurp(follow_path), "-> #7 ADD_MEM_REG flags 0x9 size 40 fds 1"),
		  "%s", slurp(follow_path));
	cr_assert(strstr(slurp(follow_path), "<- #7 ADD_MEM_REG flags 0x5 size 8 fds 0 value 0x1  "),
		  "%s", slurp(follow_path));
	cr_assert(strstr(slurp(follow_path), "table: refused, undone: +0 -1 = 1 region"),
		  "%s", slurp(follow_path));

	/* The recording holds both sides and replays to the same document. */
	snprintf(cmd, sizeof(cmd), "%s capture --replay %s -o %s/replayed.json 2>/dev/null",
		 VMMAP_BIN, rec_path, dir);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 1, "the replay finds the refusal again");
	snprintf(cmd, sizeof(cmd), "%s/replayed.json", dir);
	again = json_load_file(cmd, 0, NULL);
	cr_assert_not_null(again);
	json_object_set_new(json_object_get(again, "capture"), "end", json_string("disconnect"));
	cr_assert(json_equal(again, doc), "the replay differs:\n%s", slurp(cmd));
	json_decref(again);
	json_decref(doc);
}

/* The backend dies in the middle: the frontend sees its connection
 * closed, the output is whole, and the end says the backend left. */
Test(forward, backend_leaves)
{
	int lb = listen_at(back_path), f, b;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	char c;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK | MEM_SLOTS);
	through(f, b, 1, 1, NULL, 0, NULL, 0, "GET_FEATURES awaiting its reply");
	close(b);
	wait_readable(f, "the frontend's side after the backend left");
	cr_assert_eq(recv(f, &c, 1, 0), 0, "the frontend sees the connection closed");
	close(f);
	close(lb);
	cr_assert_eq(wait_status(pid), 1, "%s", slurp(err_path));
	cr_assert(strstr(slurp(err_path), "the backend left after 6 messages and 3 replies"),
		  "%s", slurp(err_path));
	json_t *doc = json_load_file(out_path, 0, NULL);

	cr_assert_not_null(doc);
	cr_assert_str_eq(jstr(doc, "capture.end"), "backend-disconnect");
	cr_assert_eq(jint(doc, "capture.forward.unanswered"), 1, "GET_FEATURES went unanswered");
	json_decref(doc);
}

/* No backend at the path: the frontend is closed, one line says why. */
Test(forward, backend_unreachable)
{
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path, NULL);
	int f = connect_retry(front_path);
	char c;

	wait_readable(f, "the frontend's side");
	cr_assert_eq(recv(f, &c, 1, 0), 0, "the frontend is closed");
	close(f);
	cr_assert_eq(wait_status(pid), 2);
	cr_assert(strstr(slurp(err_path), "back.sock: connecting to the backend; the frontend "
				       "is closed: No such file or directory"),
		  "%s", slurp(err_path));
}

/*
 * --connect to a frontend that listens, --forward-listen for a backend
 * that connects (OVS's dpdkvhostuserclient); with --keep-listening over
 * --listen, a second frontend gets a fresh backend connection, and
 * vmmap's descriptors come back to their count between sessions.
 */
Test(forward, connect_and_forward_listen)
{
	int lf = listen_at(front_path), f, b;
	pid_t pid = start_vmmap("--connect", front_path, "--forward-listen", back_path,
				"--timeout", "50", NULL);

	b = connect_retry(back_path);
	f = accept_one(lf, "vmmap's connection to the frontend");
	handshake_through(f, b, REPLY_ACK);
	close(f);
	wait_readable(b, "the backend's side");
	close(b);
	close(lf);
	cr_assert_eq(wait_status(pid), 0, "%s", slurp(err_path));
}

Test(forward, keep_listening_fresh_backend_and_fds)
{
	int lb = listen_at(back_path), f, b, mem = memfd(0x100000), inflight = memfd(4096);
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--keep-listening", "--sessions", "2", "--timeout", "50", NULL);
	uint64_t region[5] = { 0, 0, 0x100000, 0x7f0000000000, 0 }, zero = 0;
	uint64_t inflight_req[3] = { 0x1000, 1, 256 }, p[3] = { 0x1000, 0, 0 };
	size_t before, after;

	for (int i = 0; i < 500 && access(front_path, F_OK); i++)
		usleep(10000);
	before = count_fds(pid);
	f = connect_retry(front_path);
	b = accept_one(lb, "the first backend connection");
	handshake_through(f, b, REPLY_ACK | MEM_SLOTS | (1u << 12));
	through(f, b, 37, 0x9, region, 40, &mem, 1, "ADD_MEM_REG");
	reply_u64(b, f, 37, zero, "ADD_MEM_REG ack");
	through(f, b, 31, 1, inflight_req, 24, NULL, 0, "GET_INFLIGHT_FD");
	through(b, f, 31, 0x5, p, 24, &inflight, 1, "GET_INFLIGHT_FD reply");
	/* vmmap closes its copy just after the send that the test sees. */
	after = settle_fds(pid, before + 4);
	cr_assert_eq(after, before + 2 + 2, "%zu descriptors, %zu before: both connections, "
		     "the region's and the in-flight memfd's duplicates", after, before);
	close(f);
	wait_readable(b, "the first backend");
	close(b);
	after = settle_fds(pid, before);
	cr_assert_eq(after, before, "%zu descriptors after the session, %zu before", after,
		     before);

	f = connect_retry(front_path);
	b = accept_one(lb, "a fresh backend connection for the second frontend");
	handshake_through(f, b, REPLY_ACK);
	close(f);
	wait_readable(b, "the second backend");
	close(b);
	close(lb);
	close(mem);
	close(inflight);
	cr_assert_eq(wait_status(pid), 0, "%s", slurp(err_path));
}

/* A reply nobody asked for is forwarded and reported. */
Test(forward, unsolicited_reply)
{
	int lb = listen_at(back_path), f, b;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK);
	reply_u64(b, f, 40, 0xf, "a GET_STATUS reply to nothing");
	close(f);
	wait_readable(b, "the backend's side");
	close(b);
	close(lb);
	cr_assert_eq(wait_status(pid), 1);
	cr_assert(strstr(slurp(err_path), "the backend replied to GET_STATUS, which no request "
				       "awaits (forwarded)"), "%s", slurp(err_path));
}

/*
 * --forward-listen with --keep-listening: a backend that reconnects after
 * leaving is taken for the next frontend (OVS restarting), and the first
 * frontend was closed when the backend left.
 */
Test(forward, forward_listen_backend_reconnects)
{
	pid_t pid = start_vmmap("--listen", front_path, "--forward-listen", back_path,
				"--keep-listening", "--sessions", "2", "--timeout", "50", NULL);
	int f, b;
	char c;

	for (int session = 0; session < 2; session++) {
		b = connect_retry(back_path);
		f = connect_retry(front_path);
		handshake_through(f, b, REPLY_ACK);
		if (session == 0) {
			close(b); /* the backend restarts */
			wait_readable(f, "the frontend after the backend left");
			cr_assert_eq(recv(f, &c, 1, 0), 0, "the frontend is closed");
			close(f);
		} else {
			close(f);
			wait_readable(b, "the second backend");
			close(b);
		}
	}
	cr_assert_eq(wait_status(pid), 1, "the backend left once: %s", slurp(err_path));
	cr_assert(strstr(slurp(err_path), "session 1: the backend left after 4 messages"),
		  "%s", slurp(err_path));
	cr_assert(strstr(slurp(err_path), "session 2: the frontend left after 4 messages"),
		  "%s", slurp(err_path));
}
