/*
 * The capture engine.  See vu_capture.h.
 */
#include "vu_capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STALL_NS ((uint64_t)VU_STALL_MS * 1000000u)
/* --connect retries: every 50 ms while nobody listens; from 1 ms doubling
 * to 100 ms while the backlog is full. */
#define RETRY_MS 50
#define BACKOFF_MAX_MS 100

static void report(struct vu_capture *c)
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
	return strcmp(end, "signal") && strcmp(end, "timeout") && strcmp(end, "updates");
}

static void end_session(struct vu_capture *c, const char *end)
{
	report(c);
	c->end = end;
	c->in_session = false;
	vu_conn_close(&c->conn);
	if (c->ops->session_end && c->ops->session_end(c->arg, c))
		c->fatal = true;
	c->sessions += c->connected;
	c->violated |= c->s.violations_total > 0;
	c->updates_done += c->s.updates_total;
	if (c->fatal || !c->o.keep || !frontend_left(end) || !c->o.listen ||
	    (c->o.max_sessions && c->sessions >= c->o.max_sessions))
		c->phase = VU_CAPTURE_DONE;
	else
		c->phase = VU_CAPTURE_WAITING;
}

void vu_capture_stop(struct vu_capture *c, const char *end, uint64_t now_ns)
{
	if (c->phase == VU_CAPTURE_DONE)
		return;
	if (c->phase == VU_CAPTURE_WAITING && c->sessions == 0) {
		/* Nobody came: an empty capture, still written. */
		begin_session(c, false, now_ns);
	} else if (c->phase == VU_CAPTURE_WAITING) {
		c->end = end;
		c->phase = VU_CAPTURE_DONE;
		return;
	}
	end_session(c, end);
	c->phase = VU_CAPTURE_DONE;
}

/* Handles one message (from the frontend, or a recording when conn is
 * NULL).  Returns false when the session must end (c->end set). */
static bool handle(struct vu_capture *c, struct vu_msg *m, struct vu_conn *conn,
		   uint64_t now_ns)
{
	static _Thread_local uint8_t rec[VU_RECORD_MAX];
	size_t updates_before = c->s.updates_total;
	struct vu_reply reply;
	int rc;

	if (c->o.record && c->ops->record)
		c->ops->record(c->arg, c, rec, vu_encode_record(m, rec));
	if (vu_session_handle(&c->s, m, &reply)) {
		c->fatal = true;
		c->end = "error";
		snprintf(c->why, sizeof(c->why), "out of memory");
		c->err = ENOMEM;
		return false;
	}
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
	report(c);
	if (c->o.max_updates && c->updates_done + c->s.updates_total >= c->o.max_updates) {
		c->end = "updates";
		return false;
	}
	return true;
}

/* A frontend is there: its session starts. */
static void serve(struct vu_capture *c, int fd, uint64_t now_ns)
{
	if (vu_conn_init(&c->conn, fd)) {
		vu_conn_close(&c->conn);
		c->fatal = true;
		c->phase = VU_CAPTURE_DONE;
		return;
	}
	begin_session(c, true, now_ns);
	c->phase = c->fatal ? VU_CAPTURE_DONE : VU_CAPTURE_SESSION;
}

/* One try at --connect; retries are scheduled, other errors end it. */
static int try_connect(struct vu_capture *c, uint64_t now_ns)
{
	const char *why = "connect";
	bool pending;
	int fd = vu_connect(c->o.connect, &pending, &why);

	if (fd >= 0 && !pending) {
		serve(c, fd, now_ns);
		return 0;
	}
	if (fd >= 0) {
		c->connect_fd = fd;
		return 0;
	}
	return fd;
}

/* After a failed connect: when to try again, or -errno when not. */
static int retry_connect(struct vu_capture *c, int rc, uint64_t now_ns)
{
	if (rc == -EAGAIN) { /* the backlog is full: back off */
		c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 1;
		if (c->backoff_ms > BACKOFF_MAX_MS)
			c->backoff_ms = BACKOFF_MAX_MS;
	} else if ((rc == -ENOENT || rc == -ECONNREFUSED) && c->deadline_ns) {
		c->backoff_ms = RETRY_MS; /* not listening yet */
	} else {
		c->err = -rc;
		snprintf(c->why, sizeof(c->why), "connect");
		c->failed = true;
		return rc;
	}
	c->next_connect_ns = now_ns + c->backoff_ms * 1000000u;
	return 0;
}

int vu_capture_start(struct vu_capture *c, const struct vu_capture_opts *o,
		     const struct vu_capture_ops *ops, void *arg, uint64_t now_ns)
{
	const char *why = "";
	int rc;

	memset(c, 0, sizeof(*c));
	c->o = *o;
	c->ops = ops;
	c->arg = arg;
	c->l.fd = c->conn.fd = c->connect_fd = -1;
	c->start_ns = now_ns;
	c->deadline_ns = o->timeout_ns ? now_ns + o->timeout_ns : 0;
	c->end = "running";
	c->phase = VU_CAPTURE_WAITING;
	vu_session_init(&c->s, &o->cfg);
	if (o->listen) {
		rc = vu_listen(&c->l, o->listen, &why);
		if (rc) {
			c->err = -rc;
			snprintf(c->why, sizeof(c->why), "%s", why);
			vu_capture_close(c);
			return rc;
		}
		return 0;
	}
	rc = try_connect(c, now_ns);
	if (rc && (rc = retry_connect(c, rc, now_ns))) {
		vu_capture_close(c);
		return rc;
	}
	return 0;
}

int vu_capture_pollfds(struct vu_capture *c, struct pollfd *pfd, uint64_t *wake_ns)
{
	uint64_t wake = c->deadline_ns, w = 0;
	int n = 0;

	if (c->phase == VU_CAPTURE_SESSION) {
		bool out = vu_conn_pending(&c->conn);

		pfd[n++] = (struct pollfd){ c->conn.fd, out ? POLLOUT : POLLIN, 0 };
		/* A message, or a reply the frontend leaves unread, has
		 * VU_STALL_MS from its start; between messages, no limit. */
		w = out ? c->conn.out_since_ns + STALL_NS
		  : c->conn.started_ns ? c->conn.started_ns + STALL_NS : 0;
	} else if (c->phase == VU_CAPTURE_WAITING && c->l.fd >= 0) {
		pfd[n++] = (struct pollfd){ c->l.fd, POLLIN, 0 };
	} else if (c->phase == VU_CAPTURE_WAITING && c->connect_fd >= 0) {
		pfd[n++] = (struct pollfd){ c->connect_fd, POLLOUT, 0 };
	} else if (c->phase == VU_CAPTURE_WAITING) {
		w = c->next_connect_ns;
	}
	if (w && (!wake || w < wake))
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
	char why[256];
	uint32_t request;
	enum vu_read rr;

	if (vu_conn_pending(conn) && now_ns >= conn->out_since_ns + STALL_NS) {
		vu_session_violation(&c->s, c->s.nmsgs ? c->s.nmsgs - 1 : 0, 0,
				     "the frontend left its replies unread for %d ms "
				     "with the socket buffer full; connection closed",
				     VU_STALL_MS);
		end_session(c, "stalled");
		return;
	}
	if (!vu_conn_pending(conn) && conn->started_ns &&
	    now_ns >= conn->started_ns + STALL_NS) {
		vu_conn_partial(conn, why, sizeof(why), &request);
		vu_session_violation(&c->s, c->s.nmsgs, request,
				     "%s, for %d ms; connection closed", why, VU_STALL_MS);
		end_session(c, "stalled");
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
		if (!handle(c, conn->m, conn, now_ns)) {
			vu_conn_drop_fds(conn);
			end_session(c, c->end);
			return;
		}
		/* Every fd is closed once its message is handled. */
		vu_conn_drop_fds(conn);
		return;
	case VU_READ_EOF:
		end_session(c, "disconnect");
		return;
	case VU_READ_FRAMING:
		vu_session_violation(&c->s, c->s.nmsgs, 0, "%s; connection closed", why);
		end_session(c, "framing");
		return;
	case VU_READ_ERROR:
		/* A frontend that closes with replies unread resets the
		 * connection: it left all the same. */
		if (errno == ECONNRESET || errno == EPIPE) {
			end_session(c, "disconnect");
			return;
		}
		c->err = errno;
		snprintf(c->why, sizeof(c->why), "reading from the frontend");
		end_session(c, "error");
		return;
	}
}

bool vu_capture_step(struct vu_capture *c, const struct pollfd *pfd, int n,
		     uint64_t now_ns)
{
	int fd, rc;

	if (c->phase == VU_CAPTURE_DONE)
		return false;
	if (c->deadline_ns && now_ns >= c->deadline_ns) {
		vu_capture_stop(c, "timeout", now_ns);
		return false;
	}
	if (c->phase == VU_CAPTURE_SESSION) {
		session_step(c, revents_of(pfd, n, c->conn.fd), now_ns);
	} else if (c->l.fd >= 0) {
		if (!revents_of(pfd, n, c->l.fd))
			return true;
		fd = vu_accept(c->l.fd);
		if (fd >= 0) {
			serve(c, fd, now_ns);
		} else if (fd != -EAGAIN && fd != -ECONNABORTED) {
			c->err = -fd;
			snprintf(c->why, sizeof(c->why), "accept");
			c->end = "error";
			c->failed = true;
			c->phase = VU_CAPTURE_DONE;
		}
	} else if (c->connect_fd >= 0) {
		if (!revents_of(pfd, n, c->connect_fd))
			return true;
		fd = c->connect_fd;
		c->connect_fd = -1;
		if (!(rc = vu_connect_finish(fd))) {
			serve(c, fd, now_ns);
		} else {
			close(fd);
			if (retry_connect(c, rc, now_ns))
				c->phase = VU_CAPTURE_DONE;
		}
	} else if (now_ns >= c->next_connect_ns) {
		if ((rc = try_connect(c, now_ns)) && retry_connect(c, rc, now_ns))
			c->phase = VU_CAPTURE_DONE;
	}
	return c->phase != VU_CAPTURE_DONE;
}

int vu_capture_replay(struct vu_capture *c, const struct vu_capture_opts *o,
		      const struct vu_capture_ops *ops, void *arg, const char *name,
		      const uint8_t *buf, size_t len)
{
	static _Thread_local struct vu_msg m;
	char why[256];
	size_t off, n;
	int version;

	memset(c, 0, sizeof(*c));
	c->o = *o;
	c->o.keep = false;
	c->ops = ops;
	c->arg = arg;
	c->l.fd = c->conn.fd = c->connect_fd = -1;
	c->phase = VU_CAPTURE_SESSION;
	vu_session_init(&c->s, &o->cfg);
	version = vu_record_version(buf, len, &off, c->why, sizeof(c->why));
	if (!version) {
		c->phase = VU_CAPTURE_DONE;
		return -1;
	}
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
		/* A backend session takes the frontend's requests; the rest of a
		 * forwarding recording is for other readers. */
		if (m.direction != VU_FRONT_TO_BACK || m.channel != VU_MAIN_CHANNEL)
			continue;
		if (!handle(c, &m, NULL, 0))
			break;
	}
	end_session(c, c->end);
	c->phase = VU_CAPTURE_DONE;
	return 0;
}

void vu_capture_close(struct vu_capture *c)
{
	vu_conn_close(&c->conn);
	if (c->connect_fd >= 0)
		close(c->connect_fd);
	c->connect_fd = -1;
	vu_listen_close(&c->l, c->o.listen);
	vu_session_clean(&c->s);
	c->phase = VU_CAPTURE_DONE;
}
