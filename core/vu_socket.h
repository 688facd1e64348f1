/*
 * The vhost-user transport: a unix stream socket with file descriptors in
 * SCM_RIGHTS, framed as 12-byte header + payload.  Every socket here is
 * non-blocking: a message is read as its bytes arrive (vu_conn_read), and
 * the caller waits in poll with its own deadlines and signals, so no peer
 * can hold vmmap inside a read, a send or a connect.
 */
#ifndef VMMAP_VU_SOCKET_H
#define VMMAP_VU_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vhost_user.h"

/* The socket vmmap bound, so that only it is removed at the end. */
struct vu_listener {
	int fd;
	dev_t dev;
	ino_t ino;
};

/*
 * Creates PATH as a listening socket, mode 0600.  A socket already at PATH
 * is replaced only when it is stale (connect() to it is refused): a live
 * one belongs to another process and is left alone.  Anything else there
 * (a file, a directory, a symlink) is left alone too.  Returns 0 or -errno;
 * *why says what failed.
 */
int vu_listen(struct vu_listener *l, const char *path, const char **why);
/* Closes the socket and removes PATH if it is still the one bound. */
void vu_listen_close(struct vu_listener *l, const char *path);
/* Accepts one frontend (non-blocking).  Returns the fd or -errno. */
int vu_accept(int lfd);
/*
 * Starts a connection to a peer listening at PATH, without blocking.
 * Returns the fd (connected, or *pending set when the connection completes
 * later: wait for POLLOUT, then vu_connect_finish), or -errno: -EAGAIN when
 * the listener's backlog is full (try again later), -ENOENT or
 * -ECONNREFUSED when nobody listens yet.
 */
int vu_connect(const char *path, bool *pending, const char **why);
/* The outcome of a pending connect once the fd is writable: 0 or -errno. */
int vu_connect_finish(int fd);

/* Outcomes of vu_conn_read. */
enum vu_read {
	VU_READ_OK,      /* a whole message is in m */
	VU_READ_AGAIN,   /* not all of it has arrived: poll, then call again */
	VU_READ_EOF,     /* the peer closed between messages */
	VU_READ_FRAMING, /* framing is lost: the connection must close */
	VU_READ_ERROR,   /* a system error; errno tells */
};

/* One connection and the message being read from it. */
struct vu_conn {
	int fd;
	struct vu_msg *m;      /* the message being read (owned) */
	size_t got;            /* its bytes so far, header included */
	uint8_t hdr[VHOST_USER_HDR_SIZE]; /* its header as it arrives */
	int fds[VU_MAX_FDS];   /* the descriptors that came with it */
	size_t nfds;
	uint64_t started_ns;   /* when its first byte came; 0 between messages */
	/* A message (a reply, or one forwarded) that the peer has not taken
	 * yet, and the descriptors that go with its first byte (owned until
	 * they are sent). */
	uint8_t out[VHOST_USER_HDR_SIZE + VU_MAX_PAYLOAD];
	size_t out_len, out_off;
	int out_fds[VU_MAX_FDS];
	size_t out_nfds;
	uint64_t out_since_ns; /* when the send first found the socket full */
	bool peer_gone;        /* sending failed (EPIPE): read what is left */
};

/* Sets up c over a connected fd (made non-blocking).  0 or -ENOMEM. */
int vu_conn_init(struct vu_conn *c, int fd);
/* Closes the fd and any descriptors still held; frees the message. */
void vu_conn_close(struct vu_conn *c);

/*
 * Reads what has arrived of the current message, without blocking.  now_ns
 * (any monotonic clock) stamps the first byte in started_ns.  On
 * VU_READ_OK the message is in c->m, with m->fd_facts filled from the
 * descriptors in c->fds (the caller closes them with vu_conn_drop_fds
 * once the message is handled).  On VU_READ_FRAMING, why (at least 160
 * bytes) says what went wrong: a payload above VU_MAX_PAYLOAD (refused
 * before it is read), or the peer leaving in the middle of a message.
 */
enum vu_read vu_conn_read(struct vu_conn *c, uint64_t now_ns, char *why,
			  size_t whylen);
/* Closes the descriptors of the message just handled. */
void vu_conn_drop_fds(struct vu_conn *c);
/*
 * Describes where the current message stopped ("after 5 of the 12 header
 * bytes", "in the middle of the 40-byte payload of ADD_MEM_REG"), for a
 * stall; *request is its request code, or 0 when the header is not whole.
 */
void vu_conn_partial(const struct vu_conn *c, char *why, size_t whylen,
		     uint32_t *request);

/*
 * Queues one message, the bytes of its header and payload (len at most
 * VHOST_USER_HDR_SIZE + VU_MAX_PAYLOAD), with nfds descriptors, which the
 * connection owns from here: they go in SCM_RIGHTS with the message's
 * first byte and are closed once sent (or when sending fails, or the
 * connection closes).  Sends what the socket takes now.  One message at a
 * time: -EBUSY while one is pending (the descriptors are closed).  Returns
 * 0 (sent, or the rest pending: wait for POLLOUT and call vu_conn_flush),
 * or -errno (-EPIPE, -ECONNRESET: the peer is gone; the caller may still
 * read what it sent before).
 */
int vu_conn_send_msg(struct vu_conn *c, const void *buf, size_t len, const int *fds,
		     size_t nfds, uint64_t now_ns);
/*
 * The same for the message just read on from (forwarding): its header and
 * payload as received, straight into to's buffer, and its descriptors,
 * which to owns from here.
 */
int vu_conn_pass(struct vu_conn *from, struct vu_conn *to, uint64_t now_ns);
/* The same for a reply of vmmap's own: with no descriptors, or a new
 * memfd of r->memfd_size bytes (GET_INFLIGHT_FD). */
int vu_conn_send(struct vu_conn *c, const struct vu_reply *r, uint64_t now_ns);
int vu_conn_flush(struct vu_conn *c, uint64_t now_ns);
static inline bool vu_conn_pending(const struct vu_conn *c)
{
	return c->out_off < c->out_len;
}

/*
 * How long a peer may stall in the middle of a message (from its first
 * byte), or leave a reply unread with the socket buffer full, before vmmap
 * gives up on it (between messages it may stay quiet as long as it likes).
 */
#define VU_STALL_MS 2000

/* The facts of a received descriptor (fstat, and /proc/self/fd for the
 * name of a memfd or a shared memory object). */
void vu_fd_fact(int fd, struct vu_fd_fact *f);

#endif
