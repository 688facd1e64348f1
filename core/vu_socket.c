/*
 * vhost-user transport.  See vu_socket.h.
 */
#include "vu_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fill_addr(struct sockaddr_un *sa, const char *path, const char **why)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!*path) {
		*why = "empty socket path";
		return -ENOENT;
	}
	if (strlen(path) >= sizeof(sa->sun_path)) {
		*why = "socket path too long";
		return -ENAMETOOLONG;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/* Whether a process listens on the socket at sa: connect() is refused on a
 * stale socket.  A full backlog (EAGAIN) is a live listener too. */
static bool socket_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc, e;

	if (fd < 0)
		return true; /* cannot tell: leave it alone */
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(fd);
	return rc == 0 || (e != ECONNREFUSED && e != ENOENT);
}

int vu_listen(struct vu_listener *l, const char *path, const char **why)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd, rc, e;

	l->fd = -1;
	if ((rc = fill_addr(&sa, path, why)))
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*why = "exists and is not a socket (left alone)";
			return -EEXIST;
		}
		if (socket_is_live(&sa)) {
			*why = "a process is listening on this socket (left alone)";
			return -EADDRINUSE;
		}
		if (unlink(path)) {
			*why = "cannot remove the stale socket";
			return -errno;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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
	if (stat(path, &st) || listen(fd, 1)) {
		e = errno;
		close(fd);
		unlink(path);
		*why = "listen";
		return -e;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

void vu_listen_close(struct vu_listener *l, const char *path)
{
	struct stat st;

	if (l->fd < 0)
		return;
	/* Whatever replaced the socket since (another vmmap's, a file) stays. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(path);
	close(l->fd);
	l->fd = -1;
}

int vu_accept(int lfd)
{
	int fd;

	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int vu_connect(const char *path, bool *pending, const char **why)
{
	struct sockaddr_un sa;
	int fd, rc, e;

	*pending = false;
	if ((rc = fill_addr(&sa, path, why)))
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why = "socket";
		return -errno;
	}
	do
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (rc && errno == EINTR);
	if (rc && errno == EINPROGRESS) {
		*pending = true;
		return fd;
	}
	if (rc) {
		/* On AF_UNIX a full backlog is EAGAIN, not EINPROGRESS. */
		e = errno;
		close(fd);
		*why = "connect";
		return -e;
	}
	return fd;
}

int vu_connect_finish(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len))
		return -errno;
	return -e;
}

int vu_conn_init(struct vu_conn *c, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	c->m = malloc(sizeof(*c->m));
	return c->m ? 0 : -ENOMEM;
}

static void drop_out_fds(struct vu_conn *c)
{
	for (size_t i = 0; i < c->out_nfds; i++)
		close(c->out_fds[i]);
	c->out_nfds = 0;
}

void vu_conn_drop_fds(struct vu_conn *c)
{
	for (size_t i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
}

void vu_conn_close(struct vu_conn *c)
{
	vu_conn_drop_fds(c);
	drop_out_fds(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->m);
	c->m = NULL;
}

void vu_fd_fact(int fd, struct vu_fd_fact *f)
{
	char link[64];
	struct stat st;
	ssize_t n;

	memset(f, 0, sizeof(*f));
	if (fstat(fd, &st))
		return; /* VM_FD_UNKNOWN */
	f->dev = (uint64_t)st.st_dev;
	f->ino = (uint64_t)st.st_ino;
	f->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	/* readlink cuts a longer path at the buffer's end. */
	n = readlink(link, f->path, sizeof(f->path) - 1);
	f->path[n > 0 ? n : 0] = '\0';
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		f->type = VM_FD_FILE;
		if (!strncmp(f->path, "/memfd:", 7))
			f->type = VM_FD_MEMFD;
		else if (!strncmp(f->path, "/dev/shm/", 9))
			f->type = VM_FD_SHM;
		break;
	case S_IFSOCK: f->type = VM_FD_SOCKET; break;
	case S_IFIFO: f->type = VM_FD_FIFO; break;
	case S_IFCHR: f->type = VM_FD_CHR; break;
	case S_IFBLK: f->type = VM_FD_BLK; break;
	case S_IFDIR: f->type = VM_FD_DIR; break;
	default: f->type = VM_FD_OTHER; break;
	}
}

/* Takes the descriptors of one control message block into c->fds; those
 * past VU_MAX_FDS are closed and flagged. */
static void take_fds(struct vu_conn *c, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nfds < VU_MAX_FDS) {
				c->fds[c->nfds++] = fd;
			} else {
				close(fd);
				c->m->fds_truncated = true;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		c->m->fds_truncated = true;
}

enum vu_read vu_conn_read(struct vu_conn *c, uint64_t now_ns, char *why,
			  size_t whylen)
{
	struct vu_msg *m = c->m;
	union {
		char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;

	if (c->got == 0) {
		m->nfds = 0;
		m->fds_truncated = false;
		m->size = 0;
	}
	for (;;) {
		bool in_header = c->got < VHOST_USER_HDR_SIZE;
		/* Never past this message's end: the next one's fds stay queued. */
		size_t want = in_header ? VHOST_USER_HDR_SIZE - c->got
					: VHOST_USER_HDR_SIZE + m->size - c->got;
		struct iovec iov = {
			in_header ? (void *)(c->hdr + c->got)
				  : (void *)(m->payload + (c->got - VHOST_USER_HDR_SIZE)),
			want,
		};
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t r;

		if (want == 0)
			break;
		do
			r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? VU_READ_AGAIN
								       : VU_READ_ERROR;
		if (r == 0) {
			size_t have = c->got;

			if (have == 0)
				return VU_READ_EOF;
			if (have < VHOST_USER_HDR_SIZE)
				snprintf(why, whylen, "the peer closed the connection after "
					 "%zu of the 12 header bytes", have);
			else
				snprintf(why, whylen, "the peer closed the connection after "
					 "%zu of the %" PRIu32 " payload bytes of %s",
					 have - VHOST_USER_HDR_SIZE, m->size,
					 vu_request_label(m->request));
			c->got = 0;
			c->started_ns = 0;
			return VU_READ_FRAMING;
		}
		if (!c->got)
			c->started_ns = now_ns ? now_ns : 1;
		take_fds(c, &mh);
		c->got += (size_t)r;
		if (in_header && c->got == VHOST_USER_HDR_SIZE &&
		    vu_decode_header(m, c->hdr, why, whylen)) {
			c->got = 0;
			c->started_ns = 0;
			return VU_READ_FRAMING;
		}
	}
	/* Whole: its descriptors' facts go with it. */
	m->nfds = c->nfds;
	for (size_t i = 0; i < c->nfds; i++)
		vu_fd_fact(c->fds[i], &m->fd_facts[i]);
	c->got = 0;
	c->started_ns = 0;
	return VU_READ_OK;
}

void vu_conn_partial(const struct vu_conn *c, char *why, size_t whylen,
		     uint32_t *request)
{
	*request = 0;
	if (c->got < VHOST_USER_HDR_SIZE) {
		snprintf(why, whylen, "the peer stopped sending after %zu of the 12 "
			 "header bytes", c->got);
		return;
	}
	*request = c->m->request;
	snprintf(why, whylen, "the peer stopped sending after %zu of the %" PRIu32
		 " payload bytes of %s", c->got - VHOST_USER_HDR_SIZE, c->m->size,
		 vu_request_label(c->m->request));
}

/* Sends from c->out_off on; the descriptors still held go with this part
 * (the first: none of the message has gone yet). */
static ssize_t send_part(struct vu_conn *c)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	} ctl;
	struct iovec iov = {
		.iov_base = c->out + c->out_off, .iov_len = c->out_len - c->out_off,
	};
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (c->out_nfds) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * c->out_nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * c->out_nfds);
		memcpy(CMSG_DATA(cm), c->out_fds, sizeof(int) * c->out_nfds);
	}
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		drop_out_fds(c); /* the peer holds them now */
	return n;
}

int vu_conn_flush(struct vu_conn *c, uint64_t now_ns)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send_part(c);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->out_since_ns)
				c->out_since_ns = now_ns ? now_ns : 1;
			return 0;
		}
		if (n < 0) {
			int e = errno;

			drop_out_fds(c);
			c->out_off = c->out_len = 0;
			c->out_since_ns = 0;
			c->peer_gone = true;
			return -e;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	c->out_since_ns = 0;
	return 0;
}

/* Whether c can take a message of len bytes and nfds descriptors now:
 * 0, or -errno (the descriptors are closed then). */
static int can_send(struct vu_conn *c, size_t len, const int *fds, size_t nfds)
{
	int rc = 0;

	if (c->peer_gone)
		rc = -EPIPE;
	else if (vu_conn_pending(c))
		rc = -EBUSY;
	else if (len > sizeof(c->out) || nfds > VU_MAX_FDS)
		rc = -EMSGSIZE;
	for (size_t i = 0; rc && i < nfds; i++)
		close(fds[i]);
	return rc;
}

/* Sends the len bytes now in c->out with the nfds descriptors now in
 * c->out_fds. */
static int start_send(struct vu_conn *c, size_t len, size_t nfds, uint64_t now_ns)
{
	c->out_nfds = nfds;
	c->out_len = len;
	c->out_off = 0;
	return vu_conn_flush(c, now_ns);
}

int vu_conn_send_msg(struct vu_conn *c, const void *buf, size_t len, const int *fds,
		     size_t nfds, uint64_t now_ns)
{
	int rc = can_send(c, len, fds, nfds);

	if (rc)
		return rc;
	memcpy(c->out, buf, len);
	if (nfds)
		memcpy(c->out_fds, fds, nfds * sizeof(*fds));
	return start_send(c, len, nfds, now_ns);
}

int vu_conn_pass(struct vu_conn *from, struct vu_conn *to, uint64_t now_ns)
{
	size_t len = VHOST_USER_HDR_SIZE + from->m->size, nfds = from->nfds;
	int rc;

	from->nfds = 0; /* the other connection owns them now */
	if ((rc = can_send(to, len, from->fds, nfds)))
		return rc;
	memcpy(to->out, from->hdr, VHOST_USER_HDR_SIZE);
	memcpy(to->out + VHOST_USER_HDR_SIZE, from->m->payload, from->m->size);
	if (nfds)
		memcpy(to->out_fds, from->fds, nfds * sizeof(*from->fds));
	return start_send(to, len, nfds, now_ns);
}

int vu_conn_send(struct vu_conn *c, const struct vu_reply *r, uint64_t now_ns)
{
	int fd;

	if (!r->len)
		return 0;
	if (!r->memfd_size)
		return vu_conn_send_msg(c, r->buf, r->len, NULL, 0, now_ns);
	/* GET_INFLIGHT_FD: a new, zeroed area of the size the reply names,
	 * each queue's header set as libvhost-user sets it (QueueRegionSplit:
	 * version 1 at byte 8, desc_num at 10); nothing is ever in flight,
	 * since vmmap takes no descriptor. */
	fd = memfd_create("vmmap-inflight", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)r->memfd_size)) {
		int e = errno;

		close(fd);
		return -e;
	}
	for (uint16_t q = 0; q < r->inflight_queues; q++) {
		uint16_t h[2] = { 1, r->inflight_queue_size };

		if (pwrite(fd, h, sizeof(h), (off_t)(r->inflight_part * q + 8)) != sizeof(h)) {
			int e = errno ? errno : EIO;

			close(fd);
			return -e;
		}
	}
	return vu_conn_send_msg(c, r->buf, r->len, &fd, 1, now_ns);
}
