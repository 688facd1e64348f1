/*
 * vmmap capture: be a vhost-user backend and record the memory table a real
 * frontend sends, message by message, checked against the protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "num.h"
#include "vhost_user.h"
#include "vu_socket.h"

enum {
	OPT_LISTEN = 1000, OPT_CONNECT, OPT_TIMEOUT, OPT_UPDATES, OPT_NO_MEM_SLOTS,
	OPT_MAX_SLOTS, OPT_FOLLOW, OPT_KEEP, OPT_SESSIONS, OPT_RECORD, OPT_REPLAY,
};

struct capture_args {
	struct vmmap_ctx *ctx;
	const char *listen, *connect, *output, *record, *replay;
	const char *timeout, *updates, *max_slots, *sessions;
	bool no_mem_slots, follow, keep;
	const char *extra;
};

static const struct argp_option capture_options[] = {
	{ "listen", OPT_LISTEN, "PATH", 0,
	  "Create the socket PATH (mode 0600) and wait for a frontend "
	  "(QEMU's chardev socket without server=on, DPDK virtio-user's default)", 0 },
	{ "connect", OPT_CONNECT, "PATH", 0,
	  "Connect to a frontend listening at PATH (QEMU server=on, DPDK server=1)", 0 },
	{ "output", 'o', "FILE", 0,
	  "Write the capture to FILE (atomically) instead of standard output", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0, "Stop after SECONDS", 0 },
	{ "updates", OPT_UPDATES, "N", 0,
	  "Stop after N table changes (each SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG)", 0 },
	{ "no-mem-slots", OPT_NO_MEM_SLOTS, NULL, 0,
	  "Do not offer CONFIGURE_MEM_SLOTS: the frontend sends SET_MEM_TABLE", 0 },
	{ "max-slots", OPT_MAX_SLOTS, "N", 0,
	  "Answer GET_MAX_MEM_SLOTS with N (default 509)", 0 },
	{ "follow", OPT_FOLLOW, NULL, 0,
	  "Print each message as it arrives (JSON lines under --json)", 0 },
	{ "keep-listening", OPT_KEEP, NULL, 0,
	  "With --listen: after a frontend leaves, wait for the next one; each "
	  "session rewrites the output when it ends", 0 },
	{ "sessions", OPT_SESSIONS, "N", 0,
	  "With --keep-listening: stop after N sessions", 0 },
	{ "record", OPT_RECORD, "FILE", 0,
	  "Also write every message as received to FILE, for --replay", 0 },
	{ "replay", OPT_REPLAY, "FILE", 0,
	  "Read the messages from a --record FILE instead of a socket", 0 },
	{ 0 },
};

static error_t capture_parse(int key, char *arg, struct argp_state *state)
{
	struct capture_args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = a->ctx;
		return 0;
	case OPT_LISTEN: a->listen = arg; return 0;
	case OPT_CONNECT: a->connect = arg; return 0;
	case 'o': a->output = arg; return 0;
	case OPT_TIMEOUT: a->timeout = arg; return 0;
	case OPT_UPDATES: a->updates = arg; return 0;
	case OPT_NO_MEM_SLOTS: a->no_mem_slots = true; return 0;
	case OPT_MAX_SLOTS: a->max_slots = arg; return 0;
	case OPT_FOLLOW: a->follow = true; return 0;
	case OPT_KEEP: a->keep = true; return 0;
	case OPT_SESSIONS: a->sessions = arg; return 0;
	case OPT_RECORD: a->record = arg; return 0;
	case OPT_REPLAY: a->replay = arg; return 0;
	case ARGP_KEY_ARG:
		if (!a->extra)
			a->extra = arg;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_capture_argp = {
	.options = capture_options,
	.parser = capture_parse,
	.args_doc = "--listen PATH | --connect PATH | --replay FILE",
	.doc = "Act as a vhost-user backend and record the memory table a frontend "
	       "(QEMU, DPDK virtio-user) sends: SET_MEM_TABLE, ADD_MEM_REG and "
	       "REM_MEM_REG, the ring addresses, the negotiated features, and every "
	       "protocol violation.  The output is a vmmap table that show, "
	       "translate, diff and validate accept, with a \"capture\" section.\v"
	       "The capture ends when the frontend disconnects (with --keep-listening: "
	       "after --sessions), after --timeout, after --updates, or on "
	       "SIGINT/SIGTERM; the output is written whole in every case.  A "
	       "frontend that stalls for 2 s in the middle of a message or with "
	       "its replies unread is disconnected.\n"
	       "Exit status: 0 captured cleanly, 1 protocol violations (in any "
	       "session) or no frontend, 2 usage, socket or output error.",
	.children = cli_global_children,
};

/* The signal that asked the capture to stop (SIGINT, SIGTERM, SIGHUP),
 * and a pending SIGUSR1 checkpoint.  Signals are blocked except inside
 * ppoll, so they are seen at once and never between a check and a wait. */
static volatile sig_atomic_t stop_signal, checkpoint_signal;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		checkpoint_signal = 1;
	else
		stop_signal = sig;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#define STALL_NS ((uint64_t)VU_STALL_MS * 1000000u)
/* The longest --timeout: what a u32 of seconds holds. */
#define TIMEOUT_MAX UINT64_C(4294967295)

struct capture {
	struct vmmap_ctx *ctx;
	struct capture_args *a;
	struct vu_config cfg;
	struct vu_session s;
	FILE *follow;        /* where --follow lines go, or NULL */
	uint64_t start_ns, connect_ns, deadline_ns; /* deadline 0: none */
	uint64_t max_updates; /* 0: no limit */
	uint64_t max_sessions; /* 0: no limit */
	size_t reported;      /* violations already printed */
	size_t sessions;      /* sessions ended so far */
	size_t updates_done;  /* table changes in the sessions before this one */
	bool connected;
	bool violated;        /* some session had violations */
	bool said_unlisted;
	struct cli_atomic out; /* -o: opened at start, so it is proven writable */
	struct cli_atomic rec; /* --record, while a session runs (fd >= 0) */
	const char *end;
	int fatal;            /* exit status 2 reason seen */
};

/*
 * Waits for events on fd (none: fd -1) until the capture's deadline or
 * until, if not 0, the earlier `until` (a stall limit), honouring signals.
 * Returns 1 ready, 0 the capture's deadline, 2 `until`, -1 a stop signal,
 * -2 a checkpoint signal.
 */
static int wait_for(struct capture *c, int fd, short events, uint64_t until)
{
	struct pollfd p = { .fd = fd, .events = events };
	struct timespec ts, *tp;
	sigset_t none;
	int r;

	sigemptyset(&none);
	for (;;) {
		uint64_t now = now_ns(), end = c->deadline_ns;
		bool stall = until && (!end || until < end);

		if (stop_signal)
			return -1;
		if (checkpoint_signal)
			return -2;
		if (stall)
			end = until;
		tp = NULL;
		if (end) {
			if (now >= end)
				return stall ? 2 : 0;
			ts.tv_sec = (time_t)((end - now) / 1000000000u);
			ts.tv_nsec = (long)((end - now) % 1000000000u);
			tp = &ts;
		}
		r = ppoll(&p, fd >= 0, tp, &none);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static void report_violations(struct capture *c)
{
	for (; c->reported < c->s.nviolations; c->reported++) {
		const struct vu_violation *v = &c->s.violations[c->reported];
		const char *name = vhost_user_request_name(v->request);

		fprintf(stderr, "vmmap: capture: message %zu (%s): %s\n", v->msg,
			name ? name : "unknown request", v->what);
	}
	if (c->s.violations_total > c->s.nviolations && !c->said_unlisted) {
		fprintf(stderr, "vmmap: capture: more than %d violations: the rest are "
			"counted, not listed\n", VU_MAX_VIOLATIONS);
		c->said_unlisted = true;
	}
}

static void follow_line(struct capture *c, const struct vu_msg *m,
			const struct vu_reply *r, size_t updates_before)
{
	const char *name = vhost_user_request_name(m->request);
	bool changed = c->s.updates_total > updates_before;

	if (!c->follow)
		return;
	if (c->ctx->json) {
		json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:b}",
				      "message", (json_int_t)(c->s.nmsgs - 1),
				      "time_ns", (json_int_t)m->time_ns,
				      "request_id", (json_int_t)m->request,
				      "request", name ? name : "unknown",
				      "flags", (json_int_t)m->flags,
				      "size", (json_int_t)m->size,
				      "fds", (json_int_t)m->nfds, "reply", r->len > 0);

		if (o && changed)
			json_object_set_new(o, "regions",
					    json_integer((json_int_t)c->s.table.umem.nregions));
		if (o) {
			json_dumpf(o, c->follow, JSON_COMPACT);
			fputc('\n', c->follow);
			json_decref(o);
		}
	} else {
		fprintf(c->follow, "+%.6fs #%zu %s flags 0x%" PRIx32 " size %" PRIu32
			" fds %zu%s", (double)m->time_ns / 1e9, c->s.nmsgs - 1,
			name ? name : "unknown", m->flags, m->size, m->nfds,
			r->len ? " -> reply" : "");
		if (changed && c->s.updates_total == c->s.nupdates) {
			const struct vu_update *u = &c->s.updates[c->s.nupdates - 1];

			fprintf(c->follow, "  table: +%zu -%zu = %zu region%s", u->nadded,
				u->nremoved, u->nregions, u->nregions == 1 ? "" : "s");
		} else if (changed) {
			fprintf(c->follow, "  table: %zu region%s", c->s.table.umem.nregions,
				c->s.table.umem.nregions == 1 ? "" : "s");
		}
		fputc('\n', c->follow);
	}
	fflush(c->follow);
}

/* Appends m to the --record file, in the current recording format. */
static void record(struct capture *c, const struct vu_msg *m)
{
	static uint8_t buf[VU_RECORD_MAX];

	if (c->rec.fd >= 0)
		cli_atomic_write(c->ctx, &c->rec, buf, vu_encode_record(m, buf));
}

/* Handles one message read from the frontend (or a recording) and queues
 * its reply.  Returns false when the capture of this session must end. */
static bool handle(struct capture *c, struct vu_msg *m, struct vu_conn *conn)
{
	struct vu_reply reply;
	size_t updates_before = c->s.updates_total;
	int rc;

	record(c, m);
	if (vu_session_handle(&c->s, m, &reply)) {
		c->end = "error";
		c->fatal = 1;
		return false;
	}
	/* A frontend that went away may still have messages on the way: they
	 * are read to the end, so what it sent is recorded. */
	if (reply.len && conn && !conn->peer_gone &&
	    (rc = vu_conn_send(conn, &reply, now_ns())) && rc != -EPIPE &&
	    rc != -ECONNRESET) {
		fprintf(stderr, "vmmap: capture: sending a reply: %s\n", strerror(-rc));
		c->end = "error";
		report_violations(c);
		return false;
	}
	follow_line(c, m, &reply, updates_before);
	report_violations(c);
	if (c->max_updates && c->updates_done + c->s.updates_total >= c->max_updates) {
		c->end = "updates";
		return false;
	}
	return true;
}

static int write_capture(struct capture *c, const char *end);

/* Serves one frontend until it leaves or the capture must end. */
static void serve(struct capture *c, int fd)
{
	struct vu_conn conn;
	char why[256];
	uint32_t request;

	if (vu_conn_init(&conn, fd)) {
		vu_conn_close(&conn);
		c->end = "error";
		c->fatal = 1;
		return;
	}
	for (;;) {
		bool out = vu_conn_pending(&conn);
		/* A message, or a reply the frontend leaves unread, has
		 * VU_STALL_MS from its start; between messages, no limit. */
		uint64_t until = out ? conn.out_since_ns + STALL_NS
			       : conn.started_ns ? conn.started_ns + STALL_NS : 0;
		enum vu_read rr;
		int w = wait_for(c, conn.fd, out ? POLLOUT : POLLIN, until);

		if (w == -2) {
			checkpoint_signal = 0;
			if (write_capture(c, "checkpoint"))
				c->fatal = 1;
			continue;
		}
		if (w == 2 && out) {
			vu_session_violation(&c->s, c->s.nmsgs - 1, 0,
					     "the frontend left its replies unread for %d ms "
					     "with the socket buffer full; connection closed",
					     VU_STALL_MS);
			c->end = "stalled";
			break;
		}
		if (w == 2) {
			vu_conn_partial(&conn, why, sizeof(why), &request);
			vu_session_violation(&c->s, c->s.nmsgs, request,
					     "%s, for %d ms; connection closed", why, VU_STALL_MS);
			c->end = "stalled";
			break;
		}
		if (w <= 0) {
			c->end = w == 0 ? "timeout" : "signal";
			break;
		}
		if (out) {
			if (vu_conn_flush(&conn, now_ns()) && !conn.peer_gone)
				break;
			continue;
		}
		/* One message per wait: a signal is seen between any two. */
		rr = vu_conn_read(&conn, now_ns(), why, sizeof(why));
		if (rr == VU_READ_AGAIN)
			continue;
		if (rr == VU_READ_EOF ||
		    (rr == VU_READ_ERROR && (errno == ECONNRESET || errno == EPIPE))) {
			/* A frontend that closes with replies unread resets the
			 * connection: it left all the same. */
			c->end = "disconnect";
			break;
		}
		if (rr == VU_READ_FRAMING) {
			vu_session_violation(&c->s, c->s.nmsgs, 0, "%s; connection closed", why);
			c->end = "framing";
			break;
		}
		if (rr == VU_READ_ERROR) {
			fprintf(stderr, "vmmap: capture: reading from the frontend: %s\n",
				strerror(errno));
			c->end = "error";
			break;
		}
		conn.m->time_ns = now_ns() - c->connect_ns;
		conn.m->direction = VU_FRONT_TO_BACK;
		conn.m->channel = VU_MAIN_CHANNEL;
		if (!handle(c, conn.m, &conn)) {
			vu_conn_drop_fds(&conn);
			break;
		}
		/* Every fd is closed once its message is handled. */
		vu_conn_drop_fds(&conn);
	}
	report_violations(c);
	vu_conn_close(&conn);
}

/* Feeds a --record file through the session, as if from a frontend
 * (replies are dropped; the recorded times stand). */
static int replay(struct capture *c, const char *path)
{
	struct vu_msg *m = malloc(sizeof(*m));
	char why[256], *buf = NULL;
	size_t len = 0, off = 0, n;
	int rc, version;

	if (!m)
		return cli_error(c->ctx, "nomem", "out of memory");
	if ((rc = cli_read_input(c->ctx, path, &buf, &len))) {
		free(m);
		return rc;
	}
	c->connected = true;
	c->end = "replay";
	version = vu_record_version((const uint8_t *)buf, len, &off, why, sizeof(why));
	if (!version) {
		free(buf);
		free(m);
		return cli_error(c->ctx, "input", "%s: %s", path, why);
	}
	while (off < len) {
		if (!(n = vu_decode_record(m, version, (const uint8_t *)buf + off,
					   len - off, why, sizeof(why)))) {
			vu_session_violation(&c->s, c->s.nmsgs, 0, "%s: at byte %zu: %s", path,
					     off, why);
			c->end = "framing";
			break;
		}
		off += n;
		/* A backend session takes the frontend's requests; the rest of a
		 * forwarding recording is for other readers. */
		if (m->direction != VU_FRONT_TO_BACK || m->channel != VU_MAIN_CHANNEL)
			continue;
		if (!handle(c, m, NULL))
			break;
	}
	report_violations(c);
	free(buf);
	free(m);
	return 0;
}

static int parse_count(struct vmmap_ctx *ctx, const char *opt, const char *arg,
		       uint64_t max, uint64_t *out)
{
	const char *why;

	if (vm_parse_addr(arg, out, &why))
		return cli_error(ctx, "usage", "invalid %s '%s': %s", opt, arg, why);
	if (*out == 0)
		return cli_error(ctx, "usage", "invalid %s '%s': must be at least 1",
				 opt, arg);
	if (*out > max)
		return cli_error(ctx, "usage", "invalid %s '%s': at most %" PRIu64, opt,
				 arg, max);
	return 0;
}

/* Starts a session: a fresh protocol state, and the --record file. */
static int session_begin(struct capture *c)
{
	uint8_t head[VU_RECORD_FILE_HDR];

	vu_session_init(&c->s, &c->cfg);
	c->reported = 0;
	c->said_unlisted = false;
	c->rec.fd = -1;
	if (c->a->record) {
		if (cli_atomic_open(c->ctx, c->a->record, &c->rec)) {
			c->rec.fd = -1;
			return VMMAP_EXIT_ERROR;
		}
		vu_record_file_header(head);
		cli_atomic_write(c->ctx, &c->rec, head, sizeof(head));
	}
	return 0;
}

/*
 * Writes the capture so far (atomically to -o, else to standard output),
 * with end as its end reason.  When -o cannot take it, the capture goes to
 * a new private file in $TMPDIR, which the error names: never nowhere.
 * Returns 0 or VMMAP_EXIT_ERROR.
 */
static int write_capture(struct capture *c, const char *end)
{
	struct vmmap_ctx *ctx = c->ctx;
	json_t *doc = vu_session_to_json(&c->s, end);
	char *text = NULL;
	int rc = 0;

	if (doc && c->a->keep &&
	    json_object_set_new(json_object_get(doc, "capture"), "session",
				json_integer((json_int_t)(c->sessions + c->connected)))) {
		json_decref(doc);
		doc = NULL;
	}
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	if (!text)
		return cli_error(ctx, "nomem", "out of memory");
	if (c->a->output)
		rc = cli_atomic_replace(ctx, &c->out, text, "\n");
	else if (!ctx->quiet)
		printf("%s\n", text), fflush(stdout);
	free(text);
	return rc;
}

/*
 * Ends a session: writes the capture, commits the recording and prints
 * the summary.  Returns 0 or VMMAP_EXIT_ERROR.
 */
static int session_end(struct capture *c)
{
	struct vmmap_ctx *ctx = c->ctx;
	char who[32] = "";
	int rc;

	if (c->a->keep)
		snprintf(who, sizeof(who), "session %zu: ", c->sessions + c->connected);
	rc = write_capture(c, c->end);
	c->sessions += c->connected;
	if (c->rec.fd >= 0 && cli_atomic_commit(ctx, &c->rec))
		rc = VMMAP_EXIT_ERROR;
	c->rec.fd = -1;
	if (!rc && !ctx->quiet)
		fprintf(stderr, "vmmap: capture: %s%s after %zu message%s: %zu region%s, "
			"%zu table change%s, %zu violation%s%s\n", who, c->end, c->s.nmsgs,
			c->s.nmsgs == 1 ? "" : "s", c->s.table.umem.nregions,
			c->s.table.umem.nregions == 1 ? "" : "s", c->s.updates_total,
			c->s.updates_total == 1 ? "" : "s", c->s.violations_total,
			c->s.violations_total == 1 ? "" : "s",
			c->s.warnings_total ? ", warnings (see \"warnings\")" : "");
	c->violated |= c->s.violations_total > 0;
	c->updates_done += c->s.updates_total;
	vu_session_clean(&c->s);
	return rc;
}

/* Connects to the frontend, retrying while it is not there yet (until the
 * deadline) or its backlog is full (with a backoff up to 100 ms).
 * Returns the fd, or -1 when the capture ends first (c->end says why) or
 * on an error (*rc set). */
static int connect_frontend(struct capture *c, int *rc)
{
	const char *path = c->a->connect, *why = "";
	uint64_t backoff_ms = 1;

	for (;;) {
		bool pending;
		int fd = vu_connect(path, &pending, &why), w, e;

		if (fd >= 0 && pending) {
			w = wait_for(c, fd, POLLOUT, 0);
			if (w == 1 && !(e = vu_connect_finish(fd)))
				return fd;
			close(fd);
			if (w == 1) {
				fd = e;
			} else if (w == -2) {
				checkpoint_signal = 0;
				continue;
			} else {
				c->end = w == 0 ? "timeout" : "signal";
				return -1;
			}
		}
		if (fd >= 0)
			return fd;
		if (fd != -EAGAIN && ((fd != -ENOENT && fd != -ECONNREFUSED) ||
				      !c->deadline_ns)) {
			*rc = cli_error(c->ctx, "io", "%s: %s: %s", path, why, strerror(-fd));
			return -1;
		}
		w = wait_for(c, -1, 0, now_ns() + backoff_ms * 1000000u);
		if (w == 0 || w == -1) {
			c->end = w == 0 ? "timeout" : "signal";
			return -1;
		}
		checkpoint_signal = 0; /* nothing captured yet */
		if (fd == -EAGAIN && backoff_ms < 100)
			backoff_ms *= 2;
		else if (fd != -EAGAIN)
			backoff_ms = 50;
	}
}

/* Opens the connection to the next frontend: -1 when the capture ends
 * first (c->end says why) or on an error (*rc set). */
static int next_frontend(struct capture *c, int lfd, int *rc)
{
	int conn, w;

	if (lfd < 0)
		return connect_frontend(c, rc);
	for (;;) {
		w = wait_for(c, lfd, POLLIN, 0);
		if (w == -2) {
			checkpoint_signal = 0; /* between sessions: all is written */
			continue;
		}
		if (w <= 0) {
			c->end = w == 0 ? "timeout" : "signal";
			return -1;
		}
		conn = vu_accept(lfd);
		if (conn >= 0)
			return conn;
		if (conn == -EAGAIN || conn == -ECONNABORTED)
			continue; /* it left before we took it */
		*rc = cli_error(c->ctx, "io", "%s: accept: %s", c->a->listen, strerror(-conn));
		c->end = "error";
		return -1;
	}
}

/* The checks of the options; 0 or VMMAP_EXIT_ERROR. */
static int check_args(struct vmmap_ctx *ctx, struct capture_args *a,
		      struct capture *c, uint64_t *timeout)
{
	if (a->extra)
		return cli_error(ctx, "usage", "unexpected argument '%s'", a->extra);
	if ((!!a->listen + !!a->connect + !!a->replay) != 1)
		return cli_error(ctx, "usage", "give exactly one of --listen PATH, "
				 "--connect PATH and --replay FILE");
	if (a->keep && !a->listen)
		return cli_error(ctx, "usage", "--keep-listening needs --listen");
	if (a->sessions && !a->keep)
		return cli_error(ctx, "usage", "--sessions needs --keep-listening");
	if (a->record && a->replay)
		return cli_error(ctx, "usage", "--record and --replay do not go together");
	if ((a->timeout && parse_count(ctx, "--timeout", a->timeout, TIMEOUT_MAX, timeout)) ||
	    (a->updates && parse_count(ctx, "--updates", a->updates, UINT64_MAX,
				       &c->max_updates)) ||
	    (a->sessions && parse_count(ctx, "--sessions", a->sessions, UINT64_MAX,
					&c->max_sessions)))
		return VMMAP_EXIT_ERROR;
	if (a->max_slots && parse_count(ctx, "--max-slots", a->max_slots, UINT64_MAX,
					&c->cfg.max_slots))
		return VMMAP_EXIT_ERROR;
	if (c->cfg.max_slots > VU_MAX_SLOTS)
		return cli_error(ctx, "usage", "invalid --max-slots '%s': at most %d "
				 "(KVM's own slot limit)", a->max_slots, VU_MAX_SLOTS);
	if ((a->output && !*a->output) || (a->record && !*a->record))
		return cli_error(ctx, "usage", "%s: an empty file name",
				 a->output && !*a->output ? "-o" : "--record");
	/* Refused now, not after an hour of capture: the output's temporary
	 * file is made at once, and the recording's path is checked. */
	if ((a->record && cli_output_ok(ctx, a->record)) ||
	    (a->output && cli_atomic_open(ctx, a->output, &c->out)))
		return VMMAP_EXIT_ERROR;
	return 0;
}

int cmd_capture(struct vmmap_ctx *ctx, int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1 };
	struct capture_args a = { .ctx = ctx };
	struct capture c = { .ctx = ctx, .a = &a, .end = "timeout" };
	struct sigaction sa = { .sa_handler = on_signal }, old_sa[4];
	struct vu_listener l = { .fd = -1 };
	sigset_t block, saved;
	uint64_t timeout = 0;
	int conn, rc;
	const char *why = "";
	bool left;

	c.cfg = (struct vu_config){ .mem_slots = true, .max_slots = 509, .queues = 1 };
	c.rec.fd = -1;
	c.out.fd = -1;
	if ((rc = cli_parse(ctx, &cmd_capture_argp, argc, argv, &a)))
		return rc;
	if ((rc = check_args(ctx, &a, &c, &timeout)))
		return rc;
	c.cfg.mem_slots = !a.no_mem_slots;
	if (a.follow)
		c.follow = a.output ? stdout : stderr;

	stop_signal = checkpoint_signal = 0;
	sigemptyset(&block);
	for (size_t i = 0; i < 4; i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &saved);
	for (size_t i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old_sa[i]);
	c.start_ns = now_ns();
	c.deadline_ns = timeout ? c.start_ns + timeout * 1000000000u : 0;

	if (a.replay) {
		if (!(rc = session_begin(&c)) && !(rc = replay(&c, a.replay)))
			rc = session_end(&c);
		else
			cli_atomic_abort(&c.rec), vu_session_clean(&c.s);
		goto out;
	}
	if (a.listen) {
		rc = vu_listen(&l, a.listen, &why);
		if (rc < 0) {
			/* "exists and is not a socket" says it all; others need errno. */
			rc = rc == -EEXIST || rc == -EADDRINUSE
				? cli_error(ctx, "io", "%s: %s", a.listen, why)
				: cli_error(ctx, "io", "%s: %s: %s", a.listen, why, strerror(-rc));
			goto out;
		}
		if (!ctx->quiet)
			fprintf(stderr, "vmmap: capture: listening on %s%s\n", a.listen,
				a.keep ? " (keeps listening)" : "");
	}
	for (;;) {
		c.connected = false;
		conn = next_frontend(&c, l.fd, &rc);
		if (rc)
			break;
		if (conn < 0) {
			/* Nobody came: an empty capture, unless one was written. */
			if (c.sessions == 0) {
				if (!ctx->quiet)
					fprintf(stderr, "vmmap: capture: no frontend connected "
						"(%s)\n", c.end);
				if (!(rc = session_begin(&c)))
					rc = session_end(&c);
			}
			break;
		}
		if ((rc = session_begin(&c))) {
			close(conn);
			vu_session_clean(&c.s);
			break;
		}
		c.connected = true;
		c.connect_ns = now_ns();
		serve(&c, conn);
		rc = session_end(&c);
		/* Keep listening after whatever ended this frontend's session
		 * (it left, was sent away, or its connection failed), not after
		 * a signal, the deadline or --updates. */
		left = strcmp(c.end, "signal") && strcmp(c.end, "timeout") &&
		       strcmp(c.end, "updates");
		if (rc || c.fatal || !a.keep || !left ||
		    (c.max_sessions && c.sessions >= c.max_sessions))
			break;
	}
out:
	if (!rc)
		rc = c.fatal ? VMMAP_EXIT_ERROR
		   : (!c.sessions || c.violated) ? VMMAP_EXIT_NEGATIVE
		   : VMMAP_EXIT_OK;
	cli_atomic_abort(&c.out);
	vu_listen_close(&l, a.listen);
	for (size_t i = 0; i < 4; i++)
		sigaction(sigs[i], &old_sa[i], NULL);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return rc;
}
