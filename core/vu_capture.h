/*
 * The capture engine: vmmap as a vhost-user backend, over a socket or a
 * recording.  It owns the listening socket, the connection to a frontend
 * and the protocol session, in one poll loop that the caller drives
 * (vmmap capture in the foreground, the shell between keystrokes): the
 * caller polls the descriptors the engine names until the deadline it
 * names, then lets it step.  A step never blocks: each message is read as
 * its bytes arrive and must be whole within VU_STALL_MS of its first byte,
 * a reply is queued and sent as the socket takes it, and the capture's
 * own deadline is honoured at any point.  What happens is reported
 * through callbacks (a message handled, a violation, a session's begin and
 * end), which the CLI prints and writes; the engine does no terminal or
 * file output.
 */
#ifndef VMMAP_VU_CAPTURE_H
#define VMMAP_VU_CAPTURE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "guestmem.h"
#include "vhost_user.h"
#include "vu_socket.h"

/* What a capture is asked to do (checked by the caller's option parser). */
struct vu_capture_opts {
	const char *listen;     /* create this socket and wait for frontends */
	const char *connect;    /* or connect to a frontend listening here */
	/* Forwarding (at most one): connect to the real backend listening
	 * here, or create this socket and wait for the backend to connect.
	 * The session is then an observer (cfg.observer): vmmap answers
	 * nothing, every message goes to the other side unchanged. */
	const char *forward;
	const char *forward_listen;
	/* Forwarding: pass the frontend's SET_BACKEND_REQ_FD socket to the
	 * backend as it is, instead of relaying the channel. */
	bool no_backend_channel;
	struct vu_config cfg;   /* what the backend offers and answers */
	uint64_t timeout_ns;    /* 0: no deadline */
	uint64_t max_updates;   /* 0: no limit (table changes, all sessions) */
	uint64_t max_sessions;  /* 0: no limit (with keep) */
	bool keep;              /* --keep-listening */
	/* --settle: end once a table and every enabled ring's addresses are
	 * there and no message came for this long (0: never). */
	uint64_t settle_ns;
	bool record;            /* hand each message to ops->record */
	/* How guest memory is copied out (guestmem.h): the caller's SIGBUS
	 * guard, or NULL for pread. */
	vm_gm_copy_fn guest_copy;
};

struct vu_capture;

struct vu_capture_ops {
	/* A session starts (a frontend connected, a replay begins, or the
	 * capture ends with nobody connected).  Non-zero stops the capture
	 * with an error. */
	int (*session_begin)(void *arg, struct vu_capture *c);
	/* A message was handled; updates_before: the session's table changes
	 * before it.  Forwarding: a frontend's message, forwarded (r empty). */
	void (*message)(void *arg, struct vu_capture *c, const struct vu_msg *m,
			const struct vu_reply *r, size_t updates_before);
	/* Forwarding: the backend's message m was forwarded to the frontend;
	 * rec is its record (rec->msg SIZE_MAX: no request awaited it). */
	void (*reply)(void *arg, struct vu_capture *c, const struct vu_msg *m,
		      const struct vu_reply_rec *rec, size_t updates_before);
	/* Forwarding: a message of the backend's request channel was relayed
	 * (m->direction says which way; rec as vu_session_channel made it). */
	void (*channel)(void *arg, struct vu_capture *c, const struct vu_msg *m,
			const struct vu_reply_rec *rec);
	/* Something to say outside a session: a backend that could not be
	 * reached, so a frontend was sent away (one line, no newline). */
	void (*event)(void *arg, struct vu_capture *c, const char *line);
	/* A violation was found (each once, in order); v NULL, once a
	 * session: more than VU_MAX_VIOLATIONS, the rest only counted. */
	void (*violation)(void *arg, struct vu_capture *c, const struct vu_violation *v);
	/* The bytes of one record of the message, for --record. */
	void (*record)(void *arg, struct vu_capture *c, const uint8_t *buf, size_t len);
	/* A session ended (c->end says why); its state is still in c->s.
	 * Non-zero stops the capture with an error. */
	int (*session_end)(void *arg, struct vu_capture *c);
};

enum vu_capture_phase {
	VU_CAPTURE_WAITING, /* for a frontend (listening, or connecting) */
	VU_CAPTURE_SESSION, /* serving one */
	VU_CAPTURE_DONE,
};

/* How many descriptors a capture may ask to poll. */
#define VU_CAPTURE_MAX_POLL 4

/* Where a peer comes from: a socket vmmap listens on, or one it connects
 * to (retrying while nobody listens, until the capture's deadline). */
struct vu_endpoint {
	const char *listen, *connect;
	const char *who;           /* "frontend", "backend" */
	struct vu_listener l;
	int connect_fd;            /* a connection under way, or -1 */
	uint64_t next_connect_ns;  /* when to try again */
	uint64_t backoff_ms;
	int last_err;              /* what the last connect() said (an errno), 0 */
};

/* The in-flight area vmmap keeps: GET_INFLIGHT_FD's reply (forwarding)
 * or SET_INFLIGHT_FD's (both), whose payloads share one layout. */
struct vu_inflight_kept {
	int fd;                    /* -1: none */
	uint64_t mmap_size, mmap_offset;
	uint16_t num_queues, queue_size;
};

struct vu_capture {
	struct vu_capture_opts o;
	const struct vu_capture_ops *ops;
	void *arg;
	enum vu_capture_phase phase;
	struct vu_session s;       /* the current (or last) session */
	struct vu_endpoint front, back; /* back: forwarding only */
	struct vu_conn conn;       /* the frontend; fd -1 when none */
	struct vu_conn bconn;      /* the backend (forwarding); fd -1 when none */
	/* The backend's request channel, relayed: the frontend's socket and
	 * vmmap's end of the pair whose other end the backend got. */
	struct vu_conn cfront, cback;
	bool forwarding;
	/* Guest memory: the descriptors of the table's regions, duplicated
	 * as they came and mapped read-only (vu_guest.c), until the region
	 * leaves the table or the session ends; and the in-flight area. */
	struct vm_guestmem gm;
	struct vu_inflight_kept inflight;
	bool backend_left;         /* a session ended because the backend left */
	/* The capture stopped while this backend was awaited (and a frontend
	 * that waited for it was closed). */
	const char *unreached;
	bool front_closed;
	uint64_t start_ns, deadline_ns, connect_ns;
	uint64_t last_msg_ns;      /* when the frontend's last message came */
	size_t sessions;           /* sessions ended */
	size_t updates_done;       /* table changes of the sessions before */
	size_t reported;           /* violations of this session reported */
	bool said_unlisted;        /* the violation callback had its NULL */
	bool in_session;           /* s holds a session (begun, not ended) */
	bool connected;            /* that session has a frontend */
	bool violated;             /* a session had violations */
	bool had_table;            /* a session got a table (a change of it) */
	bool fatal;                /* out of memory, or a callback failed */
	bool failed;               /* accept or connect failed: err, why */
	const char *failed_path;   /* the socket that failed */
	const char *end;           /* why the session (or capture) ended */
	int err;                   /* a socket error that ended it (errno) */
	char why[200];             /* what failed, with err */
};

/* Sets up an empty capture that vu_capture_close accepts. */
void vu_capture_init(struct vu_capture *c);

/*
 * Starts a capture at time now_ns (any monotonic clock): creates the
 * socket (--listen) or starts connecting (--connect).  Returns 0, or
 * -errno with c->why saying what failed (the capture is then closed).
 */
int vu_capture_start(struct vu_capture *c, const struct vu_capture_opts *o,
		     const struct vu_capture_ops *ops, void *arg, uint64_t now_ns);
/*
 * The descriptors to poll (up to VU_CAPTURE_MAX_POLL) and when to step
 * at the latest (*wake_ns, 0: only on an event).  Returns how many.
 */
int vu_capture_pollfds(struct vu_capture *c, struct pollfd *pfd, uint64_t *wake_ns);
/*
 * Does what is due at now_ns, given the poll results of the descriptors
 * vu_capture_pollfds named (pfd may be NULL after a timeout): at most one
 * message is read per step (forwarding: up to VU_FORWARD_BATCH from the
 * frontend, one from the backend), so the caller sees signals between
 * any two steps.  Returns true while the capture runs.
 */
bool vu_capture_step(struct vu_capture *c, const struct pollfd *pfd, int n,
		     uint64_t now_ns);
#define VU_FORWARD_BATCH 32

/* Ends the capture now (a signal: end "signal"), writing its session. */
void vu_capture_stop(struct vu_capture *c, const char *end, uint64_t now_ns);
/*
 * Runs a recording through a session, as if from a frontend (replies are
 * dropped, the recorded times stand), and ends with "replay" or
 * "framing".  A recording of a forwarded session (it holds the backend's
 * replies) replays as one: the replies are taken as they came.  name is for the violation that a cut recording gets.
 * Returns 0, or -1 when the recording's version is not read here (c->why).
 */
int vu_capture_replay(struct vu_capture *c, const struct vu_capture_opts *o,
		      const struct vu_capture_ops *ops, void *arg, const char *name,
		      const uint8_t *buf, size_t len);
/*
 * The capture's snapshot of guest memory (vmmap-capture(1)): for each ring
 * of cap (the capture section vu_session_to_json made), every byte the
 * ring's decode reads (indices, entries, descriptors, indirect tables) and,
 * with buffer_bytes, at most that many bytes of each buffer listed; and
 * each queue's part of the in-flight area.  {"buffer_bytes", "memory",
 * "inflight"}, or NULL: out of memory.
 */
json_t *vu_capture_snapshot(struct vu_capture *c, const json_t *cap, size_t buffer_bytes);
/* The queue's part of the in-flight area kept (malloc'ed into *buf, its
 * length read into *len): 0, -ENOENT (none kept for it), -ERANGE, -ENOMEM. */
int vu_inflight_queue(const struct vu_capture *c, unsigned index, bool packed, uint8_t **buf,
		      size_t *len);
/* Closes the sockets and frees the session. */
void vu_capture_close(struct vu_capture *c);

#endif
