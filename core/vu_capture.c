/*
 * The capture engine.  See vu_capture.h.
 */
#include "vu_capture_int.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --connect retries: every 50 ms while nobody listens; from 1 ms doubling
 * to 100 ms while the backlog is full. */
#define RETRY_MS 50
#define BACKOFF_MAX_MS 100

void vu_capture_report(struct vu_capture *c)
{
	for (; c->reported < c->s.nviolations; c->reported++)
		if (c->ops->violation)
			c->ops->violation(c->arg, c, &c->s.violations[c->reported]);
	/* Past the list: said once, with no violation. */
	if (c->s.violations_total > c->s.nviolations && !c->said_unlisted) {
		c->said_unlisted = true;
		if (c->ops->violation)
			c->ops->violation(c->arg, c, NULL);
	}
}

static void begin_session(struct vu_capture *c, bool connected, uint64_t now_ns)
{
	/* The last session stays readable until the next begins. */
	vu_session_clean(&c->s);
	vu_session_init(&c->s, &c->o.cfg);
	c->reported = 0;
	c->said_unlisted = false;
	c->in_session = true;
	c->connected = connected;
	c->connect_ns = now_ns;
	c->end = "running";
	if (c->ops->session_begin && c->ops->session_begin(c->arg, c))
		c->fatal = true;
}

/* Whether a session that ended so lets a --keep-listening capture go on:
 * the frontend left or was sent away, not a signal, the deadline or
 * --updates. */
static bool frontend_left(const char *end)
{
	return strcmp(end, "signal") && strcmp(end, "timeout") && strcmp(end, "updates") &&
	       strcmp(end, "settled");
}

/* --settle: the session holds a table and every enabled ring has its
 * addresses; the capture may end when that has held for settle_ns since
 * the frontend's last message.  Returns when (0: not complete). */
static uint64_t settle_at(const struct vu_capture *c)
{
	if (!c->o.settle_ns || !c->in_session || !c->connected ||
	    !c->s.table.umem.nregions)
		return 0;
	for (int i = 0; i < VU_MAX_VRINGS; i++)
		if (c->s.vring[i].enabled && !c->s.vring[i].has_addr)
			return 0;
	return c->last_msg_ns + c->o.settle_ns;
}

void vu_capture_end_session(struct vu_capture *c, const char *end)
{
	vu_capture_report(c);
	c->end = end;
	c->in_session = false;
	/* Disconnects mirror: one side gone, the other is closed. */
	vu_conn_close(&c->conn);
	vu_forward_close(c);
	/* Guest memory is still there for the callback (a last snapshot). */
	if (c->ops->session_end && c->ops->session_end(c->arg, c))
		c->fatal = true;
	vu_guest_close(c);
	c->sessions += c->connected;
	c->violated |= c->s.violations_total > 0;
	c->had_table |= c->connected && c->s.updates_total > 0;
	c->backend_left |= !strcmp(end, "backend-disconnect");
	c->updates_done += c->s.updates_total;
	if (c->fatal || !c->o.keep || !frontend_left(end) || !c->o.listen ||
	    (c->o.max_sessions && c->sessions >= c->o.max_sessions))
		c->phase = VU_CAPTURE_DONE;
	else
		c->phase = VU_CAPTURE_WAITING;
}

static struct vu_endpoint *next_endpoint(struct vu_capture *c);

void vu_capture_stop(struct vu_capture *c, const char *end, uint64_t now_ns)
{
	if (c->phase == VU_CAPTURE_DONE)
		return;
	/* Forwarding, stopped while a backend was awaited: said so. */
	if (c->phase == VU_CAPTURE_WAITING && c->forwarding &&
	    next_endpoint(c) == &c->back) {
		c->unreached = c->back.connect ? c->back.connect : c->back.listen;
		c->front_closed = c->conn.fd >= 0;
	}
	if (c->phase == VU_CAPTURE_WAITING && c->sessions == 0) {
		/* Nobody came: an empty capture, still written. */
		begin_session(c, false, now_ns);
	} else if (c->phase == VU_CAPTURE_WAITING) {
		c->end = end;
		c->phase = VU_CAPTURE_DONE;
		return;
	}
	vu_capture_end_session(c, end);
	c->phase = VU_CAPTURE_DONE;
}

static _Thread_local uint8_t rec[VU_RECORD_MAX];

static bool out_of_memory(struct vu_capture *c)
{
	c->fatal = true;
	c->end = "error";
	snprintf(c->why, sizeof(c->why), "out of memory");
	c->err = ENOMEM;
	return false;
}

bool vu_capture_take_reply(struct vu_capture *c, struct vu_msg *m)
{
	size_t updates_before = c->s.updates_total;
	struct vu_reply_rec r;

	if (c->o.record && c->ops->record)
		c->ops->record(c->arg, c, rec, vu_encode_record(m, rec));
	if (vu_session_reply(&c->s, m, &r))
		return out_of_memory(c);
	if (c->ops->reply)
		c->ops->reply(c->arg, c, m, &r, updates_before);
	vu_capture_report(c);
	return true;
}

bool vu_capture_take_channel(struct vu_capture *c, struct vu_msg *m)
{
	struct vu_reply_rec r;

	if (c->o.record && c->ops->record)
		c->ops->record(c->arg, c, rec, vu_encode_record(m, rec));
	if (vu_session_channel(&c->s, m, &r))
		return out_of_memory(c);
	if (c->ops->channel)
		c->ops->channel(c->arg, c, m, &r);
	vu_capture_report(c);
	return true;
}

bool vu_capture_handle(struct vu_capture *c, struct vu_msg *m, struct vu_conn *conn,
		       uint64_t now_ns)
{
	size_t updates_before = c->s.updates_total;
	struct vu_reply reply;
	int rc;

	c->last_msg_ns = now_ns;
	if (c->o.record && c->ops->record)
		c->ops->record(c->arg, c, rec, vu_encode_record(m, rec));
	if (vu_session_handle(&c->s, m, &reply))
		return out_of_memory(c);
	/* A frontend that went away may still have messages on the way: they
	 * are read to the end, so what it sent is recorded. */
	if (reply.len && conn && !conn->peer_gone &&
	    (rc = vu_conn_send(conn, &reply, now_ns)) && rc != -EPIPE &&
	    rc != -ECONNRESET) {
		c->err = -rc;
		snprintf(c->why, sizeof(c->why), "sending a reply");
		c->end = "error";
		return false;
	}
	if (c->ops->message)
		c->ops->message(c->arg, c, m, &reply, updates_before);
	vu_capture_report(c);
	if (c->o.max_updates && c->updates_done + c->s.updates_total >= c->o.max_updates) {
		c->end = "updates";
		return false;
	}
	return true;
}

/* Both peers are there (the frontend; when forwarding, the backend too):
 * the session starts. */
static void begin_serving(struct vu_capture *c, uint64_t now_ns)
{
	begin_session(c, true, now_ns);
	c->phase = c->fatal ? VU_CAPTURE_DONE : VU_CAPTURE_SESSION;
}

/* The endpoint whose peer comes next.  Forwarding makes the backend
 * connection first, except that a frontend vmmap accepts comes before the
 * backend vmmap connects to for it (so an idle backend is never held). */
static struct vu_endpoint *next_endpoint(struct vu_capture *c)
{
	bool back_first = c->forwarding && !(c->front.listen && c->back.connect);

	if (!c->forwarding || (!back_first && c->conn.fd < 0) ||
	    (back_first && c->bconn.fd >= 0))
		return &c->front;
	return &c->back;
}

/* The peer of ep is connected on fd: when the other is there too (or not
 * needed), the session starts. */
static void peer_ready(struct vu_capture *c, struct vu_endpoint *ep, int fd,
		       uint64_t now_ns)
{
	struct vu_conn *conn = ep == &c->front ? &c->conn : &c->bconn;

	ep->backoff_ms = 0;
	if (vu_conn_init(conn, fd)) {
		vu_conn_close(conn);
		c->fatal = true;
		c->phase = VU_CAPTURE_DONE;
		return;
	}
	if (c->conn.fd >= 0 && (!c->forwarding || c->bconn.fd >= 0))
		begin_serving(c, now_ns);
}

/* The peer of ep cannot be had (rc: -errno): the capture fails, or, when
 * a frontend waits for its backend and more may come (--keep-listening),
 * that frontend is sent away with one line and the next is awaited. */
static void peer_failed(struct vu_capture *c, struct vu_endpoint *ep, int rc,
			const char *what)
{
	const char *path = ep->connect ? ep->connect : ep->listen;

	c->err = -rc;
	c->failed_path = path;
	snprintf(c->why, sizeof(c->why), "%s", what);
	if (ep == &c->back && c->conn.fd >= 0 && c->o.keep && c->ops->event) {
		char line[400];

		snprintf(line, sizeof(line), "%s: %s: %s; the frontend is closed", path,
			 what, strerror(-rc));
		c->ops->event(c->arg, c, line);
		vu_conn_close(&c->conn);
		c->err = 0;
		c->failed_path = NULL;
		return;
	}
	if (ep == &c->back && c->conn.fd >= 0)
		snprintf(c->why, sizeof(c->why), "%s; the frontend is closed", what);
	vu_conn_close(&c->conn);
	vu_conn_close(&c->bconn);
	c->failed = true;
	c->end = "error";
	c->phase = VU_CAPTURE_DONE;
}

/* One try to connect ep; retries are scheduled, other errors end it. */
static int try_connect(struct vu_capture *c, struct vu_endpoint *ep, uint64_t now_ns)
{
	const char *why = "connect";
	bool pending;
	int fd = vu_connect(ep->connect, &pending, &why);

	if (fd >= 0 && !pending) {
		peer_ready(c, ep, fd, now_ns);
		return 0;
	}
	if (fd >= 0) {
		ep->connect_fd = fd;
		return 0;
	}
	return fd;
}

/* After a failed connect: when to try again, or -errno when not. */
static int retry_connect(struct vu_capture *c, struct vu_endpoint *ep, int rc,
			 uint64_t now_ns)
{
	struct stat st;

	ep->last_err = -rc;
	/* A file that is there and is no socket will not become one: what
	 * connect() said (ECONNREFUSED), at once. */
	if (rc == -ECONNREFUSED && !stat(ep->connect, &st) && !S_ISSOCK(st.st_mode)) {
		peer_failed(c, ep, rc, ep == &c->back ? "connecting to the backend (no socket "
			    "there)" : "connect (no socket there)");
		return rc;
	}
	if (rc == -EAGAIN) { /* the backlog is full: back off */
		ep->backoff_ms = ep->backoff_ms ? ep->backoff_ms * 2 : 1;
		if (ep->backoff_ms > BACKOFF_MAX_MS)
			ep->backoff_ms = BACKOFF_MAX_MS;
	} else if ((rc == -ENOENT || rc == -ECONNREFUSED) && c->deadline_ns) {
		ep->backoff_ms = RETRY_MS; /* not listening yet */
	} else {
		peer_failed(c, ep, rc, ep == &c->back ? "connecting to the backend" : "connect");
		return rc;
	}
	ep->next_connect_ns = now_ns + ep->backoff_ms * 1000000u;
	return 0;
}

void vu_capture_init(struct vu_capture *c)
{
	memset(c, 0, sizeof(*c));
	c->front.l.fd = c->back.l.fd = c->front.connect_fd = c->back.connect_fd = -1;
	c->conn.fd = c->bconn.fd = c->cfront.fd = c->cback.fd = c->inflight.fd = -1;
	c->front.who = "frontend";
	c->back.who = "backend";
	c->end = "running";
}

int vu_capture_start(struct vu_capture *c, const struct vu_capture_opts *o,
		     const struct vu_capture_ops *ops, void *arg, uint64_t now_ns)
{
	struct vu_endpoint *eps[2];
	const char *why = "";
	int rc;

	vu_capture_init(c);
	c->o = *o;
	c->forwarding = o->forward || o->forward_listen;
	c->o.cfg.observer = c->forwarding;
	c->o.cfg.relay_channel = c->forwarding && !o->no_backend_channel;
	c->ops = ops;
	c->arg = arg;
	c->start_ns = now_ns;
	c->deadline_ns = o->timeout_ns ? now_ns + o->timeout_ns : 0;
	c->phase = VU_CAPTURE_WAITING;
	c->front.listen = o->listen;
	c->front.connect = o->connect;
	c->back.listen = o->forward_listen;
	c->back.connect = o->forward;
	vu_session_init(&c->s, &c->o.cfg);
	/* The sockets vmmap listens on exist from the start. */
	eps[0] = &c->front;
	eps[1] = c->forwarding ? &c->back : NULL;
	for (int i = 0; i < 2 && eps[i]; i++) {
		if (!eps[i]->listen || !(rc = vu_listen(&eps[i]->l, eps[i]->listen, &why)))
			continue;
		c->err = -rc;
		c->failed_path = eps[i]->listen;
		snprintf(c->why, sizeof(c->why), "%s", why);
		vu_capture_close(c);
		return rc;
	}
	if (next_endpoint(c)->connect && (rc = try_connect(c, next_endpoint(c), now_ns)) &&
	    (rc = retry_connect(c, next_endpoint(c), rc, now_ns))) {
		c->failed = false;
		vu_capture_close(c);
		return rc;
	}
	return 0;
}

int vu_capture_pollfds(struct vu_capture *c, struct pollfd *pfd, uint64_t *wake_ns)
{
	struct vu_endpoint *ep = next_endpoint(c);
	uint64_t wake = c->deadline_ns, w = 0;
	int n = 0;

	if (c->phase == VU_CAPTURE_SESSION && c->forwarding) {
		n = vu_forward_pollfds(c, pfd, &w);
	} else if (c->phase == VU_CAPTURE_SESSION) {
		bool out = vu_conn_pending(&c->conn);

		pfd[n++] = (struct pollfd){ c->conn.fd, out ? POLLOUT : POLLIN, 0 };
		/* A message, or a reply the frontend leaves unread, has
		 * VU_STALL_MS from its start; between messages, no limit. */
		w = out ? c->conn.out_since_ns + STALL_NS
		  : c->conn.started_ns ? c->conn.started_ns + STALL_NS : 0;
	} else if (c->phase == VU_CAPTURE_WAITING && ep->l.fd >= 0) {
		pfd[n++] = (struct pollfd){ ep->l.fd, POLLIN, 0 };
	} else if (c->phase == VU_CAPTURE_WAITING && ep->connect_fd >= 0) {
		pfd[n++] = (struct pollfd){ ep->connect_fd, POLLOUT, 0 };
	} else if (c->phase == VU_CAPTURE_WAITING) {
		w = ep->next_connect_ns ? ep->next_connect_ns : 1;
	}
	if (w && (!wake || w < wake))
		wake = w;
	if ((w = settle_at(c)) && (!wake || w < wake))
		wake = w;
	*wake_ns = c->phase == VU_CAPTURE_DONE ? 0 : wake;
	return n;
}

static short revents_of(const struct pollfd *pfd, int n, int fd)
{
	for (int i = 0; pfd && i < n; i++)
		if (pfd[i].fd == fd)
			return pfd[i].revents;
	return 0;
}

/* One step of a session: a stall, a reply to send, or one message. */
static void session_step(struct vu_capture *c, short ev, uint64_t now_ns)
{
	struct vu_conn *conn = &c->conn;
	int dup[VU_MAX_FDS];
	size_t ndup;
	char why[256];
	enum vu_read rr;

	if (vu_conn_pending(conn) && now_ns >= conn->out_since_ns + STALL_NS) {
		vu_session_violation(&c->s, c->s.nmsgs ? c->s.nmsgs - 1 : 0, 0,
				     "the frontend left its replies unread for %d ms "
				     "with the socket buffer full; connection closed",
				     VU_STALL_MS);
		vu_capture_end_session(c, "stalled");
		return;
	}
	if (!vu_conn_pending(conn) && conn->started_ns &&
	    now_ns >= conn->started_ns + STALL_NS) {
		vu_capture_stalled(c, conn, "frontend");
		return;
	}
	if (!ev)
		return;
	if (vu_conn_pending(conn)) {
		vu_conn_flush(conn, now_ns); /* a gone peer: read what is left */
		return;
	}
	rr = vu_conn_read(conn, now_ns, why, sizeof(why));
	switch (rr) {
	case VU_READ_AGAIN:
		return;
	case VU_READ_OK:
		conn->m->time_ns = now_ns - c->connect_ns;
		conn->m->direction = VU_FRONT_TO_BACK;
		conn->m->channel = VU_MAIN_CHANNEL;
		vu_guest_dup(conn->m, conn->fds, conn->nfds, dup, &ndup);
		if (!vu_capture_handle(c, conn->m, conn, now_ns)) {
			while (ndup)
				if (dup[--ndup] >= 0)
					close(dup[ndup]);
			vu_conn_drop_fds(conn);
			vu_capture_end_session(c, c->end);
			return;
		}
		/* Every fd is closed once its message is handled; those of
		 * guest memory live on as duplicates. */
		vu_conn_drop_fds(conn);
		if (vu_guest_keep(c, conn->m, dup, ndup)) {
			out_of_memory(c);
			vu_capture_end_session(c, c->end);
		}
		return;
	case VU_READ_EOF:
		vu_capture_end_session(c, "disconnect");
		return;
	case VU_READ_FRAMING:
		vu_session_violation(&c->s, c->s.nmsgs, 0, "%s; connection closed", why);
		vu_capture_end_session(c, "framing");
		return;
	case VU_READ_ERROR:
		/* A frontend that closes with replies unread resets the
		 * connection: it left all the same. */
		if (errno == ECONNRESET || errno == EPIPE) {
			vu_capture_end_session(c, "disconnect");
			return;
		}
		c->err = errno;
		snprintf(c->why, sizeof(c->why), "reading from the frontend");
		vu_capture_end_session(c, "error");
		return;
	}
}

bool vu_capture_step(struct vu_capture *c, const struct pollfd *pfd, int n,
		     uint64_t now_ns)
{
	struct vu_endpoint *ep;
	int fd, rc;

	if (c->phase == VU_CAPTURE_DONE)
		return false;
	if (c->deadline_ns && now_ns >= c->deadline_ns) {
		vu_capture_stop(c, "timeout", now_ns);
		return false;
	}
	if (settle_at(c) && now_ns >= settle_at(c)) {
		vu_capture_stop(c, "settled", now_ns);
		return false;
	}
	if (c->phase == VU_CAPTURE_SESSION && c->forwarding) {
		short ev[4] = {
			revents_of(pfd, n, c->conn.fd), revents_of(pfd, n, c->bconn.fd),
			revents_of(pfd, n, c->cfront.fd), revents_of(pfd, n, c->cback.fd),
		};

		vu_forward_step(c, ev, now_ns);
	} else if (c->phase == VU_CAPTURE_SESSION) {
		session_step(c, revents_of(pfd, n, c->conn.fd), now_ns);
	} else if ((ep = next_endpoint(c))->l.fd >= 0) {
		if (!revents_of(pfd, n, ep->l.fd))
			return true;
		fd = vu_accept(ep->l.fd);
		if (fd >= 0)
			peer_ready(c, ep, fd, now_ns);
		else if (fd != -EAGAIN && fd != -ECONNABORTED)
			peer_failed(c, ep, fd, "accept");
	} else if (ep->connect_fd >= 0) {
		if (!revents_of(pfd, n, ep->connect_fd))
			return true;
		fd = ep->connect_fd;
		ep->connect_fd = -1;
		if (!(rc = vu_connect_finish(fd))) {
			peer_ready(c, ep, fd, now_ns);
		} else {
			close(fd);
			retry_connect(c, ep, rc, now_ns);
		}
	} else if (now_ns >= ep->next_connect_ns) {
		if ((rc = try_connect(c, ep, now_ns)))
			retry_connect(c, ep, rc, now_ns);
	}
	return c->phase != VU_CAPTURE_DONE;
}

/* Whether a recording holds the backend's messages (a forwarded session). */
static bool has_replies(int version, const uint8_t *buf, size_t len, size_t off)
{
	static _Thread_local struct vu_msg m;
	char why[256];
	size_t n;

	for (; off < len && (n = vu_decode_record(&m, version, buf + off, len - off, why,
						  sizeof(why))); off += n)
		if (m.direction == VU_BACK_TO_FRONT || m.channel == VU_BACKEND_CHANNEL)
			return true;
	return false;
}

int vu_capture_replay(struct vu_capture *c, const struct vu_capture_opts *o,
		      const struct vu_capture_ops *ops, void *arg, const char *name,
		      const uint8_t *buf, size_t len)
{
	static _Thread_local struct vu_msg m;
	char why[256];
	size_t off, n;
	int version;

	vu_capture_init(c);
	c->o = *o;
	c->o.keep = false;
	c->ops = ops;
	c->arg = arg;
	c->phase = VU_CAPTURE_SESSION;
	vu_session_init(&c->s, &o->cfg);
	version = vu_record_version(buf, len, &off, c->why, sizeof(c->why));
	if (!version) {
		c->phase = VU_CAPTURE_DONE;
		return -1;
	}
	c->forwarding = c->o.cfg.observer = c->o.cfg.relay_channel =
		has_replies(version, buf, len, off);
	begin_session(c, true, 0);
	c->end = "replay";
	while (!c->fatal && off < len) {
		if (!(n = vu_decode_record(&m, version, buf + off, len - off, why,
					   sizeof(why)))) {
			vu_session_violation(&c->s, c->s.nmsgs, 0, "%s: at byte %zu: %s", name,
					     off, why);
			c->end = "framing";
			break;
		}
		off += n;
		if (m.channel != VU_MAIN_CHANNEL) {
			if (c->forwarding && !vu_capture_take_channel(c, &m))
				break;
			continue;
		}
		if (m.direction == VU_BACK_TO_FRONT ? !vu_capture_take_reply(c, &m)
						     : !vu_capture_handle(c, &m, NULL, 0))
			break;
	}
	vu_capture_end_session(c, c->end);
	c->phase = VU_CAPTURE_DONE;
	return 0;
}

void vu_capture_close(struct vu_capture *c)
{
	vu_conn_close(&c->conn);
	vu_forward_close(c);
	for (int i = 0; i < 2; i++) {
		struct vu_endpoint *ep = i ? &c->back : &c->front;

		if (ep->connect_fd >= 0)
			close(ep->connect_fd);
		ep->connect_fd = -1;
		vu_listen_close(&ep->l, ep->listen);
	}
	vu_guest_close(c);
	vu_session_clean(&c->s);
	c->phase = VU_CAPTURE_DONE;
}
