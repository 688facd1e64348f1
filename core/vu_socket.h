/*
 * The vhost-user transport: a unix stream socket with file descriptors in
 * SCM_RIGHTS, framed as 12-byte header + payload.
 */
#ifndef VMMAP_VU_SOCKET_H
#define VMMAP_VU_SOCKET_H

#include <stddef.h>

#include "vhost_user.h"

/*
 * Creates PATH as a listening socket, mode 0600.  An existing socket at PATH
 * is replaced; anything else there (a file, a directory, a symlink) is left
 * alone and is an error.  Returns the fd or -errno; *why says what failed.
 */
int vu_listen(const char *path, const char **why);
/* Accepts one frontend on a listening socket.  Returns the fd or -errno. */
int vu_accept(int lfd);
/* Connects to a frontend listening at PATH.  Returns the fd or -errno. */
int vu_connect(const char *path, const char **why);

/* Outcomes of vu_read_msg. */
enum vu_read {
	VU_READ_OK,
	VU_READ_EOF,     /* the frontend closed between messages */
	VU_READ_FRAMING, /* framing is lost: the connection must close */
	VU_READ_ERROR,   /* a system error; errno tells */
};

/*
 * Reads one message.  Received fds are stored in fds[] (*nfds of them, the
 * caller closes them); m->nfds and m->fds_truncated are set.  On
 * VU_READ_FRAMING, why (at least 160 bytes) says what went wrong: a header
 * cut short, a payload above VU_MAX_PAYLOAD (refused before it is read), or
 * the frontend leaving in the middle of a message.
 */
enum vu_read vu_read_msg(int fd, struct vu_msg *m, int fds[VU_MAX_FDS],
			 size_t *nfds, char *why, size_t whylen);

/* Sends a reply; 0 or -errno (-EAGAIN: the frontend stalled, see below). */
int vu_send(int fd, const struct vu_reply *r);

/*
 * How long a frontend may stall in the middle of a message, or leave a
 * reply unread with the socket buffer full, before vmmap gives up on it
 * (between messages it may stay quiet as long as it likes).
 */
#define VU_STALL_MS 2000
/* Sets those limits on a connected socket; 0 or -errno. */
int vu_set_stall_limit(int fd);

#endif
