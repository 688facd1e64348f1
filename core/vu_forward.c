/*
 * The capture engine between a frontend and its real backend: every
 * message goes to the other side unchanged, its bytes and its descriptors,
 * in order, and the session watches (vu_session_handle for the frontend's
 * requests, vu_session_reply for the backend's replies).
 *
 * A side is read only while the other side has taken everything sent to it
 * (and, for the frontend, while fewer than VU_MAX_PENDING requests await
 * their replies): order is kept, a slow peer slows the other as it would
 * directly, and vmmap holds at most one message per direction.  The
 * descriptors of a message pass to the other side's connection, which
 * closes them once sent; vmmap keeps duplicates of the regions' ones (for
 * the table as it stands) and of GET_INFLIGHT_FD's memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vu_capture_int.h"
#include "vu_session.h"

/* Frees what the forwarder keeps: called when a session ends. */
void vu_forward_close(struct vu_capture *c)
{
	vu_conn_close(&c->bconn);
	vu_conn_close(&c->cfront);
	vu_conn_close(&c->cback);
}

static void channel_stalled(struct vu_capture *c, struct vu_conn *conn,
				       const char *who);

int vu_forward_pollfds(struct vu_capture *c, struct pollfd *pfd, uint64_t *wake_ns)
{
	struct vu_conn *f = &c->conn, *b = &c->bconn;
	short fev = 0, bev = 0;
	uint64_t w = 0;

	if (!vu_conn_pending(b) && vu_session_can_forward(&c->s))
		fev |= POLLIN;
	if (vu_conn_pending(f))
		fev |= POLLOUT;
	if (!vu_conn_pending(f))
		bev |= POLLIN;
	if (vu_conn_pending(b))
		bev |= POLLOUT;
	/* A side not to be read is left out: a peer that hung up would
	 * otherwise wake the poll at once, for ever. */
	pfd[0] = (struct pollfd){ fev ? f->fd : -1, fev, 0 };
	pfd[1] = (struct pollfd){ bev ? b->fd : -1, bev, 0 };
	/* The backend's request channel, the same way. */
	fev = bev = 0;
	if (c->cfront.fd >= 0) {
		fev = (short)((vu_conn_pending(&c->cback) ? 0 : POLLIN) |
			      (vu_conn_pending(&c->cfront) ? POLLOUT : 0));
		bev = (short)((vu_conn_pending(&c->cfront) ? 0 : POLLIN) |
			      (vu_conn_pending(&c->cback) ? POLLOUT : 0));
	}
	pfd[2] = (struct pollfd){ fev ? c->cfront.fd : -1, fev, 0 };
	pfd[3] = (struct pollfd){ bev ? c->cback.fd : -1, bev, 0 };
	/* Only a stall inside a message is cut: a peer may take as long as
	 * it likes to answer, or to read. */
	for (int i = 0; i < 4; i++) {
		const struct vu_conn *k = i == 0 ? f : i == 1 ? b : i == 2 ? &c->cfront
								     : &c->cback;

		if (k->fd >= 0 && k->started_ns && (!w || k->started_ns + STALL_NS < w))
			w = k->started_ns + STALL_NS;
	}
	*wake_ns = w;
	return 4;
}

/*
 * SET_BACKEND_REQ_FD hands the backend a socket to send its requests on:
 * the backend gets one end of vmmap's own pair instead, and vmmap relays
 * between the other end and the frontend's socket (the one place where a
 * forwarded message changes: a descriptor, never bytes).  A new one
 * replaces the relay.  0 or -errno (the message then goes unchanged).
 */
static int relay_channel(struct vu_capture *c)
{
	struct vu_conn *f = &c->conn;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	vu_conn_close(&c->cfront);
	vu_conn_close(&c->cback);
	if (vu_conn_init(&c->cfront, f->fds[0]) || vu_conn_init(&c->cback, sv[0])) {
		/* Out of memory: the frontend's socket stays the message's and
		 * goes to the backend as it was; the pair is dropped. */
		c->cfront.fd = -1;
		vu_conn_close(&c->cfront);
		vu_conn_close(&c->cback);
		close(sv[1]);
		return -ENOMEM;
	}
	f->fds[0] = sv[1]; /* forwarded, then closed by the backend's conn */
	return 0;
}

/* The relay ends when either side closes its end: the other is closed. */
static void channel_closed(struct vu_capture *c)
{
	vu_conn_close(&c->cfront);
	vu_conn_close(&c->cback);
	vu_channel_reset(&c->s, false);
}

/* One message on the channel, from one end to the other. */
static void channel_step(struct vu_capture *c, struct vu_conn *from, struct vu_conn *to,
			 uint8_t direction, uint64_t now_ns)
{
	char why[256];
	enum vu_read rr = vu_conn_read(from, now_ns, why, sizeof(why));
	int rc;

	if (rr == VU_READ_AGAIN)
		return;
	if (rr != VU_READ_OK) {
		if (rr == VU_READ_FRAMING)
			vu_session_violation(&c->s, c->s.nmsgs ? c->s.nmsgs - 1 : 0,
					     VHOST_USER_SET_BACKEND_REQ_FD, "backend channel: "
					     "the %s: %s; the channel is closed",
					     direction == VU_BACK_TO_FRONT ? "backend" : "frontend",
					     why);
		channel_closed(c);
		vu_capture_report(c);
		return;
	}
	from->m->time_ns = now_ns - c->connect_ns;
	from->m->direction = direction;
	from->m->channel = VU_BACKEND_CHANNEL;
	rc = vu_conn_pass(from, to, now_ns);
	if (!vu_capture_take_channel(c, from->m)) {
		vu_capture_end_session(c, c->end);
		return;
	}
	if (rc)
		channel_closed(c);
}

/* A read that did not give a message: the session ends or goes on. */
static bool read_failed(struct vu_capture *c, enum vu_read rr, bool front, const char *why)
{
	const char *gone = front ? "disconnect" : "backend-disconnect";

	switch (rr) {
	case VU_READ_OK:
	case VU_READ_AGAIN:
		return false;
	case VU_READ_EOF:
		vu_capture_end_session(c, gone);
		return true;
	case VU_READ_FRAMING:
		vu_session_violation(&c->s, c->s.nmsgs, 0, "%s: %s; both connections closed",
				     front ? "frontend" : "backend", why);
		vu_capture_end_session(c, "framing");
		return true;
	case VU_READ_ERROR:
		if (errno == ECONNRESET || errno == EPIPE) {
			vu_capture_end_session(c, gone);
			return true;
		}
		c->err = errno;
		snprintf(c->why, sizeof(c->why), "reading from the %s",
			 front ? "frontend" : "backend");
		vu_capture_end_session(c, "error");
		return true;
	}
	return false;
}

/* A send that failed: the receiving side is gone (or an error). */
static void send_failed(struct vu_capture *c, int rc, bool to_front)
{
	if (rc == -EPIPE || rc == -ECONNRESET) {
		vu_capture_end_session(c, to_front ? "disconnect" : "backend-disconnect");
		return;
	}
	c->err = -rc;
	snprintf(c->why, sizeof(c->why), "forwarding to the %s",
		 to_front ? "frontend" : "backend");
	vu_capture_end_session(c, "error");
}

/* One request of the frontend: kept what is kept, forwarded, watched. */
static void from_frontend(struct vu_capture *c, uint64_t now_ns)
{
	struct vu_conn *f = &c->conn, *b = &c->bconn;
	struct vu_msg *m = f->m;
	int dup[VU_MAX_FDS];
	size_t ndup;
	int rc;

	m->time_ns = now_ns - c->connect_ns;
	m->direction = VU_FRONT_TO_BACK;
	m->channel = VU_MAIN_CHANNEL;
	/* The descriptors kept are duplicated before they go. */
	vu_guest_dup(m, f->fds, f->nfds, dup, &ndup);
	if (vu_session_relays_channel(&c->s, m) && (rc = relay_channel(c)))
		vu_session_violation(&c->s, c->s.nmsgs, m->request, "backend channel: "
				     "cannot relay it (%s); the frontend's socket went to "
				     "the backend as it was", strerror(-rc));
	rc = vu_conn_pass(f, b, now_ns);
	if (!vu_capture_handle(c, m, NULL, now_ns)) {
		for (size_t i = 0; i < ndup; i++)
			if (dup[i] >= 0)
				close(dup[i]);
		vu_capture_end_session(c, c->end);
		return;
	}
	if (vu_guest_keep(c, m, dup, ndup)) {
		c->fatal = true;
		c->err = ENOMEM;
		snprintf(c->why, sizeof(c->why), "out of memory");
		vu_capture_end_session(c, "error");
		return;
	}
	if (rc)
		send_failed(c, rc, false);
}

/* One message of the backend: forwarded, matched to its request. */
static void from_backend(struct vu_capture *c, uint64_t now_ns)
{
	struct vu_conn *f = &c->conn, *b = &c->bconn;
	struct vu_msg *m = b->m;
	int rc;

	m->time_ns = now_ns - c->connect_ns;
	m->direction = VU_BACK_TO_FRONT;
	m->channel = VU_MAIN_CHANNEL;
	if (m->request == VHOST_USER_GET_INFLIGHT_FD && b->nfds == 1 &&
	    (m->flags & VHOST_USER_REPLY_MASK))
		vu_guest_keep_inflight(c, m, fcntl(b->fds[0], F_DUPFD_CLOEXEC, 0));
	rc = vu_conn_pass(b, f, now_ns);
	if (!vu_capture_take_reply(c, m)) {
		vu_capture_end_session(c, c->end);
		return;
	}
	/* An answered table change: the regions it removed go. */
	vu_guest_sync(c);
	if (rc)
		send_failed(c, rc, true);
}

static void channel_stalled(struct vu_capture *c, struct vu_conn *conn,
				       const char *who)
{
	char why[256];
	uint32_t request;

	vu_conn_partial(conn, why, sizeof(why), &request);
	vu_session_violation(&c->s, c->s.nmsgs ? c->s.nmsgs - 1 : 0,
			     VHOST_USER_SET_BACKEND_REQ_FD, "backend channel: the %s: %s, for "
			     "%d ms; the channel is closed", who, why, VU_STALL_MS);
	vu_capture_report(c);
}

void vu_capture_stalled(struct vu_capture *c, struct vu_conn *conn, const char *who)
{
	char why[256];
	uint32_t request;

	vu_conn_partial(conn, why, sizeof(why), &request);
	if (c->forwarding)
		vu_session_violation(&c->s, c->s.nmsgs, request, "%s: %s, for %d ms; both "
				     "connections closed", who, why, VU_STALL_MS);
	else
		vu_session_violation(&c->s, c->s.nmsgs, request, "%s, for %d ms; connection "
				     "closed", why, VU_STALL_MS);
	vu_capture_end_session(c, "stalled");
}

void vu_forward_step(struct vu_capture *c, const short ev[4], uint64_t now_ns)
{
	struct vu_conn *f = &c->conn, *b = &c->bconn;
	short fev = ev[0], bev = ev[1];
	char why[256];
	int rc;

	/* The channel first: a backend waiting there for the frontend's
	 * answer may hold up a main-channel reply the frontend waits for. */
	for (int i = 0; i < 2 && c->cfront.fd >= 0; i++) {
		struct vu_conn *from = i ? &c->cfront : &c->cback,
			       *to = i ? &c->cback : &c->cfront;
		short e = ev[i ? 2 : 3], eto = ev[i ? 3 : 2];

		if (from->started_ns && now_ns >= from->started_ns + STALL_NS) {
			channel_stalled(c, from, i ? "frontend" : "backend");
			channel_closed(c);
			break;
		}
		if ((eto & (POLLOUT | POLLERR | POLLHUP)) && vu_conn_pending(to) &&
		    vu_conn_flush(to, now_ns)) {
			channel_closed(c);
			break;
		}
		if (e && !vu_conn_pending(to))
			channel_step(c, from, to, i ? VU_FRONT_TO_BACK : VU_BACK_TO_FRONT,
				     now_ns);
		if (!c->in_session)
			return;
	}

	if (f->started_ns && now_ns >= f->started_ns + STALL_NS) {
		vu_capture_stalled(c, f, "frontend");
		return;
	}
	if (b->started_ns && now_ns >= b->started_ns + STALL_NS) {
		vu_capture_stalled(c, b, "backend");
		return;
	}
	/* What a side has not taken yet goes first. */
	if ((fev & (POLLOUT | POLLERR | POLLHUP)) && vu_conn_pending(f) &&
	    (rc = vu_conn_flush(f, now_ns))) {
		send_failed(c, rc, true);
		return;
	}
	if ((bev & (POLLOUT | POLLERR | POLLHUP)) && vu_conn_pending(b) &&
	    (rc = vu_conn_flush(b, now_ns))) {
		send_failed(c, rc, false);
		return;
	}
	/* Then the messages waiting each way, each only when the other side
	 * can take it at once: from the frontend up to VU_FORWARD_BATCH a step
	 * (a stream of messages costs one poll per batch), so the caller
	 * still sees signals and deadlines between batches. */
	for (int i = 0; fev && i < VU_FORWARD_BATCH && !vu_conn_pending(b) &&
			vu_session_can_forward(&c->s); i++) {
		enum vu_read rr = vu_conn_read(f, now_ns, why, sizeof(why));

		if (rr == VU_READ_AGAIN)
			break;
		if (rr == VU_READ_OK)
			from_frontend(c, now_ns);
		else if (read_failed(c, rr, true, why))
			return;
		if (c->phase != VU_CAPTURE_SESSION || !c->in_session)
			return;
	}
	/* The backend answers what was asked: one message a step, which
	 * spares a round trip the read that would find nothing more. */
	if (bev && !vu_conn_pending(f)) {
		enum vu_read rr = vu_conn_read(b, now_ns, why, sizeof(why));

		if (rr == VU_READ_OK)
			from_backend(c, now_ns);
		else
			read_failed(c, rr, false, why);
	}
}
