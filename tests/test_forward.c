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
	va_list ap;
	pid_t pid;

	va_start(ap, first);
	pid = spawn_capture(out_path, err_path, follow_path, first, ap);
	va_end(ap);
	return pid;
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

/* The problems of the document's violations, one a line, into all. */
static void problems(json_t *doc, char *all, size_t len)
{
	json_t *v = jget(doc, "capture.violations");

	all[0] = '\0';
	for (size_t i = 0; i < json_array_size(v); i++) {
		strncat(all, json_string_value(json_object_get(json_array_get(v, i), "problem")),
			len - strlen(all) - 2);
		strcat(all, "\n");
	}
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

	send_fds(from, b, len, fds, nfds);
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
	cr_assert(strstr(slurp(follow_path), "<- #7 ADD_MEM_REG flags 0x5 size 8 fds 0 ack 0x1  "),
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
	/* REM_MEM_REG: the region's descriptor stays until the backend
	 * accepts the removal (a refusal brings the region back). */
	through(f, b, 38, 0x9, region, 40, NULL, 0, "REM_MEM_REG");
	cr_assert_eq(count_fds(pid), before + 4, "kept while the backend has not answered");
	reply_u64(b, f, 38, zero, "REM_MEM_REG ack");
	after = settle_fds(pid, before + 3);
	cr_assert_eq(after, before + 3, "%zu descriptors after the removal was accepted, %zu "
		     "before", after, before);
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

/* ---- the backend's request channel (SET_BACKEND_REQ_FD) ---- */

#define BACKEND_REQ (1u << 5)
#define BACKEND_SEND_FD (1u << 10)
#define HOST_NOTIFIER (1u << 11)

/* The frontend hands over its channel socket (one end of a pair it keeps
 * the other end of, *fch) and the backend gets one (*bch).  Returns
 * whether the backend's is the frontend's own file. */
static bool hand_over(int f, int b, int *fch, int *bch)
{
	int sv[2];
	struct wire w;
	uint8_t msg[12];
	size_t len = build(msg, 21, 0x9, NULL, 0);
	bool same;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	send_fds(f, msg, len, &sv[1], 1);
	recv_wire(b, &w, "SET_BACKEND_REQ_FD");
	cr_assert_eq(w.len, len);
	cr_assert_eq(memcmp(w.b, msg, len), 0, "the bytes are unchanged");
	cr_assert_eq(w.nfds, 1);
	same = same_file(w.fds[0], sv[1]);
	close(sv[1]);
	*fch = sv[0];
	*bch = w.fds[0];
	reply_u64(b, f, 21, 0, "SET_BACKEND_REQ_FD ack");
	return same;
}

/*
 * The channel is relayed: the backend gets vmmap's socket, not the
 * frontend's; its requests reach the frontend whole with their
 * descriptors, the frontend's replies come back, each is recorded, and a
 * close on one end closes the other.
 */
Test(forward, backend_channel_relayed)
{
	int lb = listen_at(back_path), f, b, fch, bch, page = memfd(4096);
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path, "--follow",
				"--record", rec_path, "--timeout", "50", NULL);
	uint64_t notifier[3] = { 1, 4096, 0 };
	char cmd[512], c;
	json_t *doc, *again;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK | BACKEND_REQ | BACKEND_SEND_FD | HOST_NOTIFIER);
	cr_assert(!hand_over(f, b, &fch, &bch), "the backend got vmmap's relay socket");

	through(bch, fch, 2, 0x9, NULL, 0, NULL, 0, "CONFIG_CHANGE_MSG on the channel");
	through(fch, bch, 2, 0x5, (uint64_t[]){ 0 }, 8, NULL, 0, "the frontend's reply");
	through(bch, fch, 3, 0x9, notifier, 24, &page, 1, "VRING_HOST_NOTIFIER_MSG, a page");
	/* A reply with NEED_REPLY still set: relayed, and a finding. */
	through(fch, bch, 3, 0xd, (uint64_t[]){ 0 }, 8, NULL, 0, "a reply with bad flags");
	through(bch, fch, 2, 0x1, NULL, 0, NULL, 0, "CONFIG_CHANGE_MSG, no reply asked");

	close(bch); /* the backend closes its end: the frontend's closes too */
	wait_readable(fch, "the frontend's channel end");
	cr_assert_eq(recv(fch, &c, 1, 0), 0, "the frontend's channel is closed");
	close(fch);
	/* The main channel goes on. */
	through(f, b, 1, 1, NULL, 0, NULL, 0, "GET_FEATURES after the channel closed");
	reply_u64(b, f, 1, UINT64_C(1) << 32, "GET_FEATURES reply");
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	close(page);

	cr_assert_eq(wait_status(pid), 1, "the bad reply flags: %s", slurp(err_path));
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	cr_assert(json_is_true(jget(doc, "capture.backend_channel.relayed")));
	cr_assert(json_is_false(jget(doc, "capture.backend_channel.open")));
	cr_assert_eq(jint(doc, "capture.backend_channel.messages"), 3);
	cr_assert_eq(jint(doc, "capture.backend_channel.requests.CONFIG_CHANGE_MSG"), 2);
	cr_assert_eq(jint(doc, "capture.backend_channel.replies"), 2);
	cr_assert_eq(jint(doc, "capture.backend_channel.unanswered"), 0);
	cr_assert_str_eq(jstr(doc, "capture.backend_channel.log.2.request"),
			 "VRING_HOST_NOTIFIER_MSG");
	cr_assert_eq(jint(doc, "capture.backend_channel.log.2.fds"), 1);
	cr_assert_str_eq(jstr(doc, "capture.backend_channel.log.1.direction"), "to-backend");
	cr_assert_eq(jint(doc, "capture.backend_channel.log.1.reply_to"), 0);
	cr_assert_eq(json_array_size(jget(doc, "capture.violations")), 1, "%s",
		     slurp(out_path));
	cr_assert(strstr(jstr(doc, "capture.violations.0.problem"), "backend channel: the "
			 "frontend's reply to VRING_HOST_NOTIFIER_MSG has flags 0xd, not 0x5"),
		  "%s", jstr(doc, "capture.violations.0.problem"));
	cr_assert(strstr(slurp(follow_path), "<= B#0 CONFIG_CHANGE_MSG flags 0x9 size 0 fds 0"),
		  "%s", slurp(follow_path));
	cr_assert(strstr(slurp(follow_path), "=> B#0 CONFIG_CHANGE_MSG flags 0x5 size 8 fds 0 "
				     "value 0x0  "), "%s", slurp(follow_path));
	/* What the backend's request says, decoded. */
	cr_assert(strstr(slurp(follow_path), "<= B#1 VRING_HOST_NOTIFIER_MSG flags 0x9 size 24 "
				     "fds 1 index 1 nofd no size 0x1000 offset 0x0"),
		  "%s", slurp(follow_path));
	/* The recording holds the channel too, and replays to the same. */
	snprintf(cmd, sizeof(cmd), "%s capture --replay %s -o %s/replayed.json 2>/dev/null",
		 VMMAP_BIN, rec_path, dir);
	cr_assert_eq(WEXITSTATUS(system(cmd)), 1);
	snprintf(cmd, sizeof(cmd), "%s/replayed.json", dir);
	again = json_load_file(cmd, 0, NULL);
	cr_assert_not_null(again);
	json_object_set_new(json_object_get(again, "capture"), "end", json_string("disconnect"));
	/* The replay cannot see the close of the channel, only its messages. */
	json_object_set_new(json_object_get(json_object_get(again, "capture"), "backend_channel"),
			    "open", json_false());
	cr_assert(json_equal(again, doc), "the replay differs:\n%s", slurp(cmd));
	json_decref(again);
	json_decref(doc);
}

/* --no-backend-channel: the frontend's own socket reaches the backend. */
Test(forward, backend_channel_passed_through)
{
	int lb = listen_at(back_path), f, b, fch, bch;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--no-backend-channel", "--timeout", "50", NULL);
	json_t *doc;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK | BACKEND_REQ);
	cr_assert(hand_over(f, b, &fch, &bch), "the backend got the frontend's own socket");
	close(fch);
	close(bch);
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	cr_assert_eq(wait_status(pid), 0, "%s", slurp(err_path));
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	cr_assert(json_is_false(jget(doc, "capture.backend_channel.relayed")));
	json_decref(doc);
}

/* The channel's rules, each finding naming the side that broke it. */
Test(forward, backend_channel_rules)
{
	int lb = listen_at(back_path), f, b, fch, bch, page = memfd(4096);
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	uint64_t notifier[3] = { 0, 8192, 100 };
	json_t *doc;
	char all[4096] = "";

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, BACKEND_REQ); /* no REPLY_ACK, no BACKEND_SEND_FD */
	{
		int sv[2];
		struct wire w;
		uint8_t msg[12];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		send_fds(f, msg, build(msg, 21, 0x1, NULL, 0), &sv[1], 1);
		recv_wire(b, &w, "SET_BACKEND_REQ_FD");
		close(sv[1]);
		fch = sv[0];
		bch = w.fds[0];
	}
	through(bch, fch, 3, 0x9, notifier, 24, &page, 1, "a notifier breaking four rules");
	through(fch, bch, 2, 0x5, (uint64_t[]){ 1 }, 8, NULL, 0, "a reply to nothing");
	close(fch);
	close(bch);
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	close(page);
	cr_assert_eq(wait_status(pid), 1);
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	problems(doc, all, sizeof(all));
	cr_assert(strstr(all, "NEED_REPLY without REPLY_ACK negotiated"), "%s", all);
	cr_assert(strstr(all, "carries 1 descriptor without BACKEND_SEND_FD negotiated"), "%s", all);
	cr_assert(strstr(all, "VRING_HOST_NOTIFIER_MSG without HOST_NOTIFIER negotiated"), "%s",
		  all);
	cr_assert(strstr(all, "maps 0x2000 bytes at offset 0x64"), "%s", all);
	cr_assert(strstr(all, "the frontend replied to CONFIG_CHANGE_MSG, which no backend "
			 "request awaits"), "%s", all);
	json_decref(doc);
}

/* The backend's replies on the main channel: flags exactly VERSION|REPLY,
 * GET_INFLIGHT_FD's 24 bytes, a reply for every NEED_REPLY that is due,
 * and none where none is. */
Test(forward, backend_reply_conformance)
{
	int lb = listen_at(back_path), f, b;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	uint64_t inflight_req[3] = { 0x1000, 1, 256 }, p16[2] = { 0x1000, 0 }, v = 0;
	uint32_t num[2] = { 0, 256 };
	json_t *doc;
	char all[4096] = "";

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK | (1u << 12));
	/* GET_FEATURES answered with NEED_REPLY's bit left set. */
	through(f, b, 1, 1, NULL, 0, NULL, 0, "GET_FEATURES");
	through(b, f, 1, 0xd, &v, 8, NULL, 0, "a reply with flags 0xd");
	/* GET_INFLIGHT_FD answered with 16 bytes. */
	through(f, b, 31, 1, inflight_req, 24, NULL, 0, "GET_INFLIGHT_FD");
	through(b, f, 31, 0x5, p16, 16, NULL, 0, "a 16-byte GET_INFLIGHT_FD reply");
	/* SET_VRING_NUM asks NEED_REPLY; the backend skips it and answers
	 * the next request. */
	through(f, b, 8, 0x9, num, 8, NULL, 0, "SET_VRING_NUM with NEED_REPLY");
	through(f, b, 1, 1, NULL, 0, NULL, 0, "GET_FEATURES");
	reply_u64(b, f, 1, 0, "GET_FEATURES reply");
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	cr_assert_eq(wait_status(pid), 1);
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	problems(doc, all, sizeof(all));
	cr_assert(strstr(all, "the backend's reply to GET_FEATURES has flags 0xd, not 0x5"),
		  "%s", all);
	cr_assert(strstr(all, "the backend's reply to GET_INFLIGHT_FD carries 16 payload "
			 "bytes; QEMU expects 24"), "%s", all);
	cr_assert(strstr(all, "the backend sent no reply to SET_VRING_NUM, which asked "
			 "NEED_REPLY with REPLY_ACK negotiated"), "%s", all);
	cr_assert_eq(json_array_size(jget(doc, "capture.violations")), 3, "%s", all);
	json_decref(doc);
}

/* A reply to a NEED_REPLY that REPLY_ACK did not make due. */
Test(forward, backend_reply_not_due)
{
	int lb = listen_at(back_path), f, b;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	json_t *doc;
	char all[4096] = "";

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, 0);
	through(f, b, 3, 0x9, NULL, 0, NULL, 0, "SET_OWNER with NEED_REPLY, no REPLY_ACK");
	reply_u64(b, f, 3, 0, "an ack nobody was due");
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	cr_assert_eq(wait_status(pid), 1);
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	problems(doc, all, sizeof(all));
	cr_assert(strstr(all, "NEED_REPLY without REPLY_ACK negotiated"), "frontend's: %s", all);
	cr_assert(strstr(all, "the backend replied to SET_OWNER's NEED_REPLY without "
			 "REPLY_ACK negotiated"), "%s", all);
	json_decref(doc);
}

/* A frontend that adds more regions than the backend's GET_MAX_MEM_SLOTS:
 * a finding, and the table follows what the backend accepted. */
Test(forward, frontend_beyond_slots)
{
	int lb = listen_at(back_path), f, b, mem = memfd(0x200000);
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	uint64_t r1[5] = { 0, 0, 0x100000, 0x7f0000000000, 0 },
		 r2[5] = { 0, 0x100000, 0x100000, 0x7f0000100000, 0x100000 }, proto;
	json_t *doc;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	through(f, b, 15, 1, NULL, 0, NULL, 0, "GET_PROTOCOL_FEATURES");
	proto = REPLY_ACK | MEM_SLOTS;
	reply_u64(b, f, 15, proto, "its reply");
	through(f, b, 16, 1, &proto, 8, NULL, 0, "SET_PROTOCOL_FEATURES");
	through(f, b, 36, 1, NULL, 0, NULL, 0, "GET_MAX_MEM_SLOTS");
	reply_u64(b, f, 36, 1, "one slot");
	through(f, b, 37, 0x9, r1, 40, &mem, 1, "the first region");
	reply_u64(b, f, 37, 0, "ack");
	through(f, b, 37, 0x9, r2, 40, &mem, 1, "a second region, past the slots");
	reply_u64(b, f, 37, 0, "the backend accepts it all the same");
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	close(mem);
	cr_assert_eq(wait_status(pid), 1);
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	cr_assert(strstr(jstr(doc, "capture.violations.0.problem"), "ADD_MEM_REG would make 2 "
			 "regions; the backend announced 1 slots"), "%s",
		  jstr(doc, "capture.violations.0.problem"));
	cr_assert_eq(json_array_size(jget(doc, "memory.regions")), 2,
		     "the table is what the backend accepted");
	json_decref(doc);
}

/*
 * A second SET_BACKEND_REQ_FD replaces the relay (the first channel's ends
 * are closed), a close by the frontend reaches the backend, and the
 * frontend's own breaches on the channel are its findings: a message
 * without the REPLY flag, a reply of the wrong size.  Features the backend
 * did not offer are the frontend's finding too.
 */
Test(forward, backend_channel_handover_and_frontend_rules)
{
	int lb = listen_at(back_path), f, b, fch, bch, fch2, bch2;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	uint64_t acked = (UINT64_C(1) << 32) | (UINT64_C(1) << 30) | 0x46 | (1u << 20);
	json_t *doc;
	char all[4096] = "", c;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK | BACKEND_REQ);
	through(f, b, 2, 1, &acked, 8, NULL, 0, "SET_FEATURES with a bit not offered");
	cr_assert(!hand_over(f, b, &fch, &bch));
	cr_assert(!hand_over(f, b, &fch2, &bch2));
	wait_readable(fch, "the first channel's frontend end");
	cr_assert_eq(recv(fch, &c, 1, 0), 0, "the first relay is gone");
	close(fch);
	close(bch);
	through(fch2, bch2, 2, 0x1, NULL, 0, NULL, 0, "a frontend message that is no reply");
	through(bch2, fch2, 2, 0x9, NULL, 0, NULL, 0, "CONFIG_CHANGE_MSG");
	through(fch2, bch2, 2, 0x5, (uint32_t[]){ 0 }, 4, NULL, 0, "a 4-byte reply");
	close(fch2); /* the frontend closes: the backend's end follows */
	wait_readable(bch2, "the backend's channel end");
	cr_assert_eq(recv(bch2, &c, 1, 0), 0, "the backend's channel is closed");
	close(bch2);
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	cr_assert_eq(wait_status(pid), 1);
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	cr_assert_eq(jint(doc, "capture.backend_channel.handovers"), 2);
	problems(doc, all, sizeof(all));
	cr_assert(strstr(all, "SET_FEATURES acks 0x100000, bits the backend did not offer"),
		  "%s", all);
	cr_assert(strstr(all, "backend channel: the frontend sent CONFIG_CHANGE_MSG without the "
			 "REPLY flag"), "%s", all);
	cr_assert(strstr(all, "backend channel: the frontend's reply to CONFIG_CHANGE_MSG "
			 "carries 4 payload bytes, not 8"), "%s", all);
	json_decref(doc);
}

/* A message above the 4096-byte payload limit is not read: both sides
 * are closed, and the document says why (end "framing"). */
Test(forward, payload_above_the_limit)
{
	int lb = listen_at(back_path), f, b;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	uint32_t hdr[3] = { 24, 1, 5000 };
	json_t *doc;
	char c;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	handshake_through(f, b, REPLY_ACK);
	send_fds(f, hdr, sizeof(hdr), NULL, 0);
	wait_readable(b, "the backend");
	cr_assert_eq(recv(b, &c, 1, 0), 0, "the backend is closed, nothing forwarded");
	wait_readable(f, "the frontend");
	cr_assert_eq(recv(f, &c, 1, 0), 0, "the frontend is closed");
	close(f);
	close(b);
	close(lb);
	cr_assert_eq(wait_status(pid), 1);
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	cr_assert_str_eq(jstr(doc, "capture.end"), "framing");
	cr_assert(strstr(jstr(doc, "capture.violations.0.problem"), "5000-byte payload"),
		  "%s", jstr(doc, "capture.violations.0.problem"));
	json_decref(doc);
}

/* A reply slower than 2 s is reported, never cut: it reaches the
 * frontend, and the session goes on. */
Test(forward, slow_reply_is_a_warning)
{
	int lb = listen_at(back_path), f, b;
	pid_t pid = start_vmmap("--listen", front_path, "--forward", back_path,
				"--timeout", "50", NULL);
	json_t *doc;

	f = connect_retry(front_path);
	b = accept_one(lb, "vmmap's connection to the backend");
	through(f, b, 1, 1, NULL, 0, NULL, 0, "GET_FEATURES");
	usleep(2100000);
	reply_u64(b, f, 1, UINT64_C(1) << 32, "the reply, 2.1 s later");
	through(f, b, 3, 1, NULL, 0, NULL, 0, "SET_OWNER: the session goes on");
	close(f);
	wait_readable(b, "the backend");
	close(b);
	close(lb);
	cr_assert_eq(wait_status(pid), 0, "a slow reply is no violation: %s", slurp(err_path));
	doc = json_load_file(out_path, 0, NULL);
	cr_assert_not_null(doc);
	cr_assert(strstr(jstr(doc, "capture.warnings.0.problem"), "the backend took 2."),
		  "%s", slurp(out_path));
	cr_assert_geq(jint(doc, "capture.forward.replies.0.latency_ns"), 2000000000);
	json_decref(doc);
}
