/*
 * vhost-user transport.  See vu_socket.h.
 */
#include "vu_socket.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int fill_addr(struct sockaddr_un *sa, const char *path, const char **why)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		*why = "socket path too long";
		return -ENAMETOOLONG;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

int vu_listen(const char *path, const char **why)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd, rc, e;

	if ((rc = fill_addr(&sa, path, why)))
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*why = "exists and is not a socket (left alone)";
			return -EEXIST;
		}
		if (unlink(path)) {
			*why = "cannot remove the stale socket";
			return -errno;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = "socket";
		return -errno;
	}
	/* Owner-only from the start: no window with wider permissions. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	umask(old);
	if (rc) {
		close(fd);
		*why = "bind";
		return -e;
	}
	if (listen(fd, 1)) {
		e = errno;
		close(fd);
		unlink(path);
		*why = "listen";
		return -e;
	}
	return fd;
}

int vu_accept(int lfd)
{
	int fd;

	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int vu_connect(const char *path, const char **why)
{
	struct sockaddr_un sa;
	int fd, rc, e;

	if ((rc = fill_addr(&sa, path, why)))
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = "socket";
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		e = errno;
		close(fd);
		*why = "connect";
		return -e;
	}
	return fd;
}

/* Reads exactly n bytes; returns n, the bytes read before EOF, or -1. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

enum vu_read vu_read_msg(int fd, struct vu_msg *m, int fds[VU_MAX_FDS],
			 size_t *nfds, char *why, size_t whylen)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint32_t hdr[3];
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t r;
	size_t got;

	*nfds = 0;
	m->nfds = 0;
	m->fds_truncated = false;
	do
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return VU_READ_ERROR;
	if (r == 0)
		return VU_READ_EOF;

	/* The fds arrive with the first bytes of the header. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < n && *nfds < VU_MAX_FDS; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	m->nfds = *nfds;
	m->fds_truncated = mh.msg_flags & MSG_CTRUNC;

	got = (size_t)r;
	if (got < sizeof(hdr)) {
		r = read_full(fd, (char *)hdr + got, sizeof(hdr) - got);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			snprintf(why, whylen, "the frontend stopped sending after %zu of "
				 "the 12 header bytes", got);
			return VU_READ_FRAMING;
		}
		if (r < 0)
			return VU_READ_ERROR;
		if ((size_t)r < sizeof(hdr) - got) {
			snprintf(why, whylen, "the frontend closed the connection after "
				 "%zu of the 12 header bytes", got + (size_t)r);
			return VU_READ_FRAMING;
		}
	}
	if (vu_decode_header(m, (const uint8_t *)hdr, why, whylen))
		return VU_READ_FRAMING;
	r = read_full(fd, m->payload, m->size);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		snprintf(why, whylen, "the frontend stopped sending in the middle of the "
			 "%" PRIu32 "-byte payload of request %" PRIu32, m->size, m->request);
		return VU_READ_FRAMING;
	}
	if (r < 0)
		return VU_READ_ERROR;
	if ((size_t)r < m->size) {
		snprintf(why, whylen, "the frontend closed the connection after %zd of "
			 "the %" PRIu32 " payload bytes of request %" PRIu32, r, m->size,
			 m->request);
		return VU_READ_FRAMING;
	}
	return VU_READ_OK;
}

int vu_send(int fd, const struct vu_reply *r)
{
	size_t sent = 0;

	while (sent < r->len) {
		ssize_t n = send(fd, r->buf + sent, r->len - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		sent += (size_t)n;
	}
	return 0;
}

int vu_set_stall_limit(int fd)
{
	struct timeval tv = { VU_STALL_MS / 1000, (VU_STALL_MS % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}
