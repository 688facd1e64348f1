/*
 * The vhost-user transport (core/vu_socket.c) over a socketpair: a whole
 * message with its descriptors goes out as it came in, in as many parts as
 * the socket takes, and the descriptors a connection was given are never
 * leaked: sent, or closed when sending cannot be done.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vu_socket.h"

TestSuite(transport, .timeout = 30);

/* The open descriptors of this process. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own */
}

static uint64_t ino_of(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_ino;
}

/* A message of payload size len for request req, as it goes on the wire. */
static size_t wire(uint8_t *buf, uint32_t req, uint32_t len)
{
	uint32_t hdr[3] = { req, VHOST_USER_VERSION, len };

	memcpy(buf, hdr, sizeof(hdr));
	for (uint32_t i = 0; i < len; i++)
		buf[VHOST_USER_HDR_SIZE + i] = (uint8_t)(i * 7 + 3);
	return VHOST_USER_HDR_SIZE + len;
}

/* Fills the socket until it takes no more, with whole GET_FEATURES
 * headers (12 bytes: the kernel takes each whole or not at all). */
static size_t fill(int fd)
{
	uint32_t hdr[3] = { VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0 };
	size_t n = 0;

	while (send(fd, hdr, sizeof(hdr), MSG_DONTWAIT) == (ssize_t)sizeof(hdr))
		n++;
	cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "%s", strerror(errno));
	return n;
}

/* Runs both ends until a message other than fill's is read whole; returns
 * the outcome. */
static enum vu_read pump(struct vu_conn *tx, struct vu_conn *rx)
{
	char why[200];

	for (int spins = 0; spins < 1000000; spins++) {
		struct pollfd p[2] = { { .fd = rx->fd, .events = POLLIN },
				       { .fd = tx->fd, .events = POLLOUT } };
		enum vu_read r;

		cr_assert_geq(poll(p, vu_conn_pending(tx) ? 2 : 1, 100), 0);
		if (vu_conn_pending(tx))
			cr_assert_eq(vu_conn_flush(tx, 1), 0);
		r = vu_conn_read(rx, 1, why, sizeof(why));
		if (r == VU_READ_OK && rx->m->request == VHOST_USER_GET_FEATURES)
			continue; /* fill's */
		if (r != VU_READ_AGAIN)
			return r;
	}
	cr_assert_fail("the message never arrived");
	return VU_READ_ERROR;
}

Test(transport, a_whole_message_with_descriptors_through_a_full_socket)
{
	static uint8_t buf[VHOST_USER_HDR_SIZE + VU_MAX_PAYLOAD];
	int sv[2], fds[3], small = 1024, before = open_fds();
	uint64_t ino[3];
	struct vu_conn tx, rx;
	size_t len = wire(buf, VHOST_USER_SET_MEM_TABLE, VU_MAX_PAYLOAD);

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	cr_assert_eq(vu_conn_init(&tx, sv[0]), 0);
	cr_assert_eq(vu_conn_init(&rx, sv[1]), 0);
	fds[0] = memfd_create("vmmap-test", MFD_CLOEXEC);
	fds[1] = eventfd(0, EFD_CLOEXEC);
	fds[2] = dup(fds[0]);
	cr_assert(fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0);
	for (int i = 0; i < 3; i++)
		ino[i] = ino_of(fds[i]);

	/* A full socket: nothing of the message goes yet, and it keeps the
	 * descriptors for its first byte. */
	cr_assert_gt(fill(sv[0]), 0);
	cr_assert_eq(vu_conn_send_msg(&tx, buf, len, fds, 3, 1), 0);
	cr_assert(vu_conn_pending(&tx));
	cr_assert_eq(tx.out_off, 0);
	cr_assert_eq(tx.out_nfds, 3);
	cr_assert_eq(vu_conn_send_msg(&tx, buf, 12, NULL, 0, 1), -EBUSY);
	cr_assert_eq(pump(&tx, &rx), VU_READ_OK);
	cr_assert_eq(tx.out_nfds, 0, "the descriptors went with the first byte");
	cr_assert_eq(rx.m->request, VHOST_USER_SET_MEM_TABLE);
	cr_assert_eq(rx.m->size, VU_MAX_PAYLOAD);
	cr_assert_arr_eq(rx.m->payload, buf + VHOST_USER_HDR_SIZE, VU_MAX_PAYLOAD);
	cr_assert_eq(rx.nfds, 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rx.m->fd_facts[i].ino, ino[i], "descriptor %d", i);
	cr_assert_eq(rx.m->fd_facts[0].type, VM_FD_MEMFD);
	vu_conn_drop_fds(&rx);
	vu_conn_close(&tx);
	vu_conn_close(&rx);
	cr_assert_eq(open_fds(), before, "descriptors leaked");
}

/* A peer that is gone: the descriptors given are closed, not kept. */
Test(transport, descriptors_are_closed_when_the_peer_is_gone)
{
	static uint8_t buf[VHOST_USER_HDR_SIZE + 8];
	int sv[2], fds[2], before = open_fds();
	struct vu_conn tx;
	size_t len = wire(buf, VHOST_USER_SET_VRING_KICK, 8);

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(vu_conn_init(&tx, sv[0]), 0);
	close(sv[1]);
	fds[0] = eventfd(0, EFD_CLOEXEC);
	fds[1] = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(vu_conn_send_msg(&tx, buf, len, fds, 2, 1), -EPIPE);
	cr_assert(tx.peer_gone);
	fds[0] = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(vu_conn_send_msg(&tx, buf, len, fds, 1, 1), -EPIPE);
	vu_conn_close(&tx);
	cr_assert_eq(open_fds(), before, "descriptors leaked");
}

/* A reply of vmmap's own goes the same way, without descriptors. */
Test(transport, a_reply_is_a_message_without_descriptors)
{
	struct vu_reply r = { .len = 0 };
	int sv[2];
	struct vu_conn tx, rx;

	r.len = wire(r.buf, VHOST_USER_GET_QUEUE_NUM, 8);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(vu_conn_init(&tx, sv[0]), 0);
	cr_assert_eq(vu_conn_init(&rx, sv[1]), 0);
	cr_assert_eq(vu_conn_send(&tx, &r, 1), 0);
	cr_assert_eq(pump(&tx, &rx), VU_READ_OK);
	cr_assert_eq(rx.m->request, VHOST_USER_GET_QUEUE_NUM);
	cr_assert_eq(rx.nfds, 0);
	vu_conn_close(&tx);
	vu_conn_close(&rx);
}
