/*
 * vmmap-fwd-bench: what `vmmap capture --forward` costs a vhost-user
 * session, against the same session direct, same scripted peers, same run.
 *
 *   vmmap-fwd-bench VMMAP [--quick]
 *
 * The backend is a thread of this process that answers GET_FEATURES and
 * counts everything else; the frontend is the main thread.
 * A third path is a null relay: a process that only copies bytes between
 * two sockets (poll, read, write; no framing, no descriptors), the least
 * any process in the middle costs, so what vmmap adds beyond it shows.
 *  1. Round trips: GET_FEATURES and its reply, one at a time, in rounds
 *     that alternate direct, null relay and vmmap; the median of each and
 *     the added latency (against direct, and against the relay).
 *  2. Rate: 1,000,000 SET_VRING_NUM (no reply) sent as fast as the socket
 *     takes them, until the backend has counted them all; messages per
 *     second on each path, and vmmap's resident set after the first
 *     100,000 and at the end (flat memory).
 * Nothing is asserted: the figures are printed, with their ratios.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/vmmap-fwd-bench-XXXXXX";
static char back_path[128], front_path[128], out_path[128], relay_path[128];
static atomic_ulong counted;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "vmmap-fwd-bench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int unix_socket(const char *path, int listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (listening) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8))
			die("listen");
		return fd;
	}
	for (int i = 0; i < 500; i++) {
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		usleep(10000);
	}
	die(path);
	return -1;
}

static void full_read(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			die("read");
		p = (char *)p + r;
		n -= (size_t)r;
	}
}

static void full_write(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r <= 0)
			die("write");
		p = (const char *)p + r;
		n -= (size_t)r;
	}
}

/* The scripted backend: each connection (a thread of its own) answers
 * GET_FEATURES and counts the rest, until it closes. */
static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t *buf = malloc(1 << 16);
	size_t have = 0;

	for (;;) {
		ssize_t r = read(fd, buf + have, (1 << 16) - have);
		size_t off = 0;

		if (r <= 0)
			break;
		have += (size_t)r;
		while (have - off >= 12) {
			uint32_t h[3];

			memcpy(h, buf + off, 12);
			if (have - off < 12 + h[2])
				break;
			if (h[0] == 1) {
				uint32_t rep[5] = { 1, 0x5, 8, 0x46, 0x1 };

				full_write(fd, rep, sizeof(rep));
			} else {
				atomic_fetch_add(&counted, 1);
			}
			off += 12 + h[2];
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	free(buf);
	close(fd);
	return NULL;
}

static void *backend(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (fd < 0)
			return NULL;
		pthread_create(&t, NULL, serve, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}

static pid_t start_vmmap(const char *vmmap)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		execl(vmmap, vmmap, "-q", "capture", "--listen", front_path, "--forward",
		      back_path, "-o", out_path, "--timeout", "600", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The null relay: one connection, bytes copied both ways until either
 * side closes. */
static pid_t start_relay(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int l = unix_socket(relay_path, 1), a = accept4(l, NULL, NULL, 0);
		int b = unix_socket(back_path, 0);
		static char buf[1 << 16];

		for (;;) {
			struct pollfd p[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };

			if (poll(p, 2, -1) < 0)
				_exit(1);
			for (int i = 0; i < 2; i++) {
				ssize_t n;

				if (!p[i].revents)
					continue;
				n = read(p[i].fd, buf, sizeof(buf));
				if (n <= 0)
					_exit(0);
				full_write(p[!i].fd, buf, (size_t)n);
			}
		}
	}
	return pid;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtol(line + 6, NULL, 10);
	fclose(f);
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* n round trips on fd, each timed into t. */
static void round_trips(int fd, uint64_t *t, size_t n)
{
	uint32_t req[3] = { 1, 1, 0 }, rep[5];

	for (size_t i = 0; i < n; i++) {
		uint64_t a = now_ns();

		full_write(fd, req, sizeof(req));
		full_read(fd, rep, sizeof(rep));
		t[i] = now_ns() - a;
	}
}

/* n one-way messages on fd; returns the time until the backend counted
 * them all.  rss_at (vmmap's pid, or 0) samples its RSS after 100,000. */
static double one_way(int fd, size_t n, pid_t vmmap, long *rss_early)
{
	uint32_t msg[5] = { 8, 1, 8, 0, 256 }; /* SET_VRING_NUM vring 0, 256 */
	unsigned long start = atomic_load(&counted);
	uint64_t a = now_ns();

	for (size_t i = 0; i < n; i++) {
		full_write(fd, msg, sizeof(msg));
		if (vmmap && i == 100000) {
			while (atomic_load(&counted) - start < 100000)
				;
			*rss_early = rss_kib(vmmap);
		}
	}
	while (atomic_load(&counted) - start < n)
		usleep(100);
	return (double)(now_ns() - a) / 1e9;
}

/* The handshake that lets SET_VRING_NUM through the session unremarked. */
static void handshake(int fd)
{
	uint32_t gf[3] = { 1, 1, 0 }, rep[5];

	full_write(fd, gf, sizeof(gf));
	full_read(fd, rep, sizeof(rep));
}

static void print_rtt(const char *name, const uint64_t *t, size_t n, uint64_t direct,
		      uint64_t relay)
{
	uint64_t m = t[n / 2];

	printf("  %-14s %8.2f us  90th %8.2f us", name, m / 1e3, t[n * 9 / 10] / 1e3);
	if (direct && m != direct)
		printf("  added %6.2f us (%.2fx)", ((double)m - (double)direct) / 1e3,
		       (double)m / (double)direct);
	if (relay)
		printf(", %+.2f us beside the relay", ((double)m - (double)relay) / 1e3);
	putchar('\n');
}

int main(int argc, char **argv)
{
	const char *vmmap = argc > 1 ? argv[1] : "build/vmmap";
	bool quick = argc > 2 && !strcmp(argv[2], "--quick");
	size_t rounds = quick ? 2 : 10, per = quick ? 500 : 2000, n;
	size_t nmsg = quick ? 200000 : 1000000;
	uint64_t *t[3];
	long rss_early = -1, rss_end;
	double secs[3];
	const char *names[3] = { "direct", "null relay", "through vmmap" };
	pthread_t th;
	int lfd, fd[3];
	pid_t pid, relay;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(back_path, sizeof(back_path), "%s/back.sock", dir);
	snprintf(front_path, sizeof(front_path), "%s/front.sock", dir);
	snprintf(relay_path, sizeof(relay_path), "%s/relay.sock", dir);
	snprintf(out_path, sizeof(out_path), "%s/capture.json", dir);
	lfd = unix_socket(back_path, 1);
	pthread_create(&th, NULL, backend, (void *)(intptr_t)lfd);
	pid = start_vmmap(vmmap);
	relay = start_relay();
	fd[0] = unix_socket(back_path, 0);
	fd[1] = unix_socket(relay_path, 0);
	fd[2] = unix_socket(front_path, 0);
	for (int p = 0; p < 3; p++) {
		handshake(fd[p]);
		t[p] = calloc(rounds * per, sizeof(*t[p]));
	}

	/* 1. Round trips, the three paths in turn. */
	for (size_t r = 0; r < rounds; r++)
		for (int p = 0; p < 3; p++)
			round_trips(fd[p], t[p] + r * per, per);
	n = rounds * per;
	for (int p = 0; p < 3; p++)
		qsort(t[p], n, sizeof(*t[p]), cmp_u64);
	printf("round trip (GET_FEATURES and its reply), median of %zu in %zu rounds "
	       "taking the paths in turn:\n", n, rounds);
	print_rtt(names[0], t[0], n, 0, 0);
	print_rtt(names[1], t[1], n, t[0][n / 2], 0);
	print_rtt(names[2], t[2], n, t[0][n / 2], t[1][n / 2]);
	printf("  goal: vmmap adds at most 15 us per round trip over direct\n");

	/* 2. Rate. */
	for (int p = 0; p < 3; p++)
		secs[p] = one_way(fd[p], nmsg, p == 2 ? pid : 0, &rss_early);
	rss_end = rss_kib(pid);
	printf("one-way messages (SET_VRING_NUM), %zu on each path:\n", nmsg);
	for (int p = 0; p < 3; p++)
		printf("  %-14s %10.0f messages/s  (%.2fx of direct)\n", names[p],
		       nmsg / secs[p], secs[0] / secs[p]);
	printf("  goal: vmmap forwards at least 100000 messages/s\n");
	printf("  vmmap resident set: %ld KiB after 100000 messages, %ld KiB after %zu\n",
	       rss_early, rss_end, nmsg);

	for (int p = 0; p < 3; p++) {
		close(fd[p]);
		free(t[p]);
	}
	waitpid(pid, NULL, 0);
	waitpid(relay, NULL, 0);
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	unlink(out_path);
	unlink(back_path);
	unlink(relay_path);
	rmdir(dir);
	return 0;
}
