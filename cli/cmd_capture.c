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
	OPT_MAX_SLOTS, OPT_FOLLOW,
};

struct capture_args {
	struct vmmap_ctx *ctx;
	const char *listen, *connect, *output;
	const char *timeout, *updates, *max_slots;
	bool no_mem_slots, follow;
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
	.args_doc = "--listen PATH | --connect PATH",
	.doc = "Act as a vhost-user backend and record the memory table a frontend "
	       "(QEMU, DPDK virtio-user) sends: SET_MEM_TABLE, ADD_MEM_REG and "
	       "REM_MEM_REG, the ring addresses, the negotiated features, and every "
	       "protocol violation.  The output is a vmmap table that show, "
	       "translate, diff and validate accept, with a \"capture\" section.\v"
	       "The capture ends when the frontend disconnects, after --timeout, "
	       "after --updates, or on SIGINT/SIGTERM; the output is written "
	       "whole in every case.\n"
	       "Exit status: 0 captured cleanly, 1 protocol violations or no "
	       "frontend, 2 usage, socket or output error.",
	.children = cli_global_children,
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

struct capture {
	struct vmmap_ctx *ctx;
	struct capture_args *a;
	struct vu_session s;
	FILE *follow;        /* where --follow lines go, or NULL */
	uint64_t start_ns, connect_ns, deadline_ns; /* deadline 0: none */
	uint64_t max_updates; /* 0: no limit */
	size_t reported;      /* violations already printed */
	bool connected;
	const char *end;
	int fatal;            /* exit status 2 reason seen */
};

/* Waits for fd to be readable, honouring the deadline and signals.
 * Returns 1 ready, 0 timed out, -1 signal (or error). */
static int wait_readable(struct capture *c, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts, *tp = NULL;
	sigset_t none;
	int r;

	sigemptyset(&none);
	for (;;) {
		if (stop_signal)
			return -1;
		if (c->deadline_ns) {
			uint64_t now = now_ns();

			if (now >= c->deadline_ns)
				return 0;
			ts.tv_sec = (time_t)((c->deadline_ns - now) / 1000000000u);
			ts.tv_nsec = (long)((c->deadline_ns - now) % 1000000000u);
			tp = &ts;
		}
		/* Signals are blocked except inside ppoll: no lost wake-up. */
		r = ppoll(&p, 1, tp, &none);
		if (r > 0)
			return 1;
		if (r == 0)
			continue; /* re-check the deadline */
		if (errno != EINTR)
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
}

static void follow_line(struct capture *c, const struct vu_msg *m,
			const struct vu_reply *r, size_t updates_before)
{
	const char *name = vhost_user_request_name(m->request);
	bool changed = c->s.nupdates > updates_before;

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
		if (changed) {
			const struct vu_update *u = &c->s.updates[c->s.nupdates - 1];

			fprintf(c->follow, "  table: +%zu -%zu = %zu region%s", u->nadded,
				u->nremoved, u->nregions, u->nregions == 1 ? "" : "s");
		}
		fputc('\n', c->follow);
	}
	fflush(c->follow);
}

/* Serves one frontend until it leaves or the capture must end. */
static void serve(struct capture *c, int conn)
{
	struct vu_msg *m = malloc(sizeof(*m));
	int fds[VU_MAX_FDS];
	char why[256];

	if (!m) {
		c->end = "error";
		c->fatal = 1;
		return;
	}
	for (;;) {
		struct vu_reply reply;
		enum vu_read rr;
		size_t nfds, updates_before;
		int w = wait_readable(c, conn);

		if (w <= 0) {
			c->end = w == 0 ? "timeout" : "signal";
			break;
		}
		rr = vu_read_msg(conn, m, fds, &nfds, why, sizeof(why));
		if (rr == VU_READ_EOF) {
			c->end = "disconnect";
			break;
		}
		if (rr != VU_READ_OK) {
			for (size_t i = 0; i < nfds; i++)
				close(fds[i]);
			if (rr == VU_READ_FRAMING) {
				vu_session_violation(&c->s, c->s.nmsgs, 0, "%s; connection closed",
						     why);
				c->end = "framing";
			} else {
				fprintf(stderr, "vmmap: capture: reading from the frontend: %s\n",
					strerror(errno));
				c->end = "error";
			}
			break;
		}
		m->time_ns = now_ns() - c->connect_ns;
		updates_before = c->s.nupdates;
		if (vu_session_handle(&c->s, m, &reply)) {
			c->end = "error";
			c->fatal = 1;
		}
		/* Every fd is closed once its message is handled. */
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		if (c->fatal)
			break;
		if (reply.len && vu_send(conn, &reply)) {
			c->end = "disconnect"; /* the frontend went away */
			break;
		}
		follow_line(c, m, &reply, updates_before);
		report_violations(c);
		if (c->max_updates && c->s.nupdates >= c->max_updates) {
			c->end = "updates";
			break;
		}
	}
	report_violations(c);
	free(m);
}

static int parse_count(struct vmmap_ctx *ctx, const char *opt, const char *arg,
		       uint64_t *out)
{
	const char *why;

	if (vm_parse_addr(arg, out, &why))
		return cli_error(ctx, "usage", "invalid %s '%s': %s", opt, arg, why);
	if (*out == 0)
		return cli_error(ctx, "usage", "invalid %s '%s': must be at least 1",
				 opt, arg);
	return 0;
}

int cmd_capture(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct capture_args a = { .ctx = ctx };
	struct capture c = { .ctx = ctx, .a = &a, .end = "timeout" };
	struct vu_config cfg = { .mem_slots = true, .max_slots = 509, .queues = 1 };
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, saved;
	uint64_t timeout = 0;
	int lfd = -1, conn = -1, rc;
	const char *why = "";
	char *text;
	json_t *doc;

	if ((rc = cli_parse(ctx, &cmd_capture_argp, argc, argv, &a)))
		return rc;
	if (a.extra)
		return cli_error(ctx, "usage", "unexpected argument '%s'", a.extra);
	if (!a.listen == !a.connect)
		return cli_error(ctx, "usage", "give exactly one of --listen PATH and --connect PATH");
	if ((a.timeout && parse_count(ctx, "--timeout", a.timeout, &timeout)) ||
	    (a.updates && parse_count(ctx, "--updates", a.updates, &c.max_updates)) ||
	    (a.max_slots && parse_count(ctx, "--max-slots", a.max_slots, &cfg.max_slots)))
		return VMMAP_EXIT_ERROR;
	cfg.mem_slots = !a.no_mem_slots;
	if (a.follow)
		c.follow = a.output ? stdout : stderr;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &saved);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	vu_session_init(&c.s, &cfg);
	c.start_ns = now_ns();
	c.deadline_ns = timeout ? c.start_ns + timeout * 1000000000u : 0;

	if (a.listen) {
		lfd = vu_listen(a.listen, &why);
		if (lfd < 0) {
			/* "exists and is not a socket" says it all; others need errno. */
			rc = lfd == -EEXIST
				? cli_error(ctx, "io", "%s: %s", a.listen, why)
				: cli_error(ctx, "io", "%s: %s: %s", a.listen, why, strerror(-lfd));
			goto out;
		}
		if (!ctx->quiet)
			fprintf(stderr, "vmmap: capture: listening on %s\n", a.listen);
		rc = wait_readable(&c, lfd);
		if (rc > 0)
			conn = vu_accept(lfd);
		if (rc <= 0)
			c.end = rc == 0 ? "timeout" : "signal";
		else if (conn < 0)
			c.end = "error";
		rc = 0;
	} else {
		/* The frontend may not be listening yet: retry until the deadline. */
		for (;;) {
			conn = vu_connect(a.connect, &why);
			if (conn >= 0 || (conn != -ENOENT && conn != -ECONNREFUSED) ||
			    !c.deadline_ns) {
				if (conn < 0) {
					rc = cli_error(ctx, "io", "%s: %s: %s", a.connect, why,
						       strerror(-conn));
					goto out;
				}
				break;
			}
			struct timespec ts = { 0, 50 * 1000000 };
			sigset_t none;

			sigemptyset(&none);
			if (now_ns() >= c.deadline_ns) {
				c.end = "timeout";
				break;
			}
			if (ppoll(NULL, 0, &ts, &none) < 0 && stop_signal) {
				c.end = "signal";
				break;
			}
		}
	}
	if (conn >= 0) {
		c.connected = true;
		c.connect_ns = now_ns();
		serve(&c, conn);
		close(conn);
	} else if (!ctx->quiet) {
		fprintf(stderr, "vmmap: capture: no frontend connected (%s)\n", c.end);
	}

	doc = vu_session_to_json(&c.s, c.end);
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	if (!text) {
		rc = cli_error(ctx, "nomem", "out of memory");
	} else if (a.output) {
		char *nl = NULL;

		if (asprintf(&nl, "%s\n", text) < 0)
			rc = cli_error(ctx, "nomem", "out of memory");
		else
			rc = cli_write_atomic(ctx, a.output, nl);
		free(nl);
	} else if (!ctx->quiet) {
		puts(text);
	}
	free(text);
	if (!rc && !ctx->quiet)
		fprintf(stderr, "vmmap: capture: %s after %zu message%s: %zu region%s, "
			"%zu table change%s, %zu violation%s\n", c.end, c.s.nmsgs,
			c.s.nmsgs == 1 ? "" : "s", c.s.table.umem.nregions,
			c.s.table.umem.nregions == 1 ? "" : "s", c.s.nupdates,
			c.s.nupdates == 1 ? "" : "s", c.s.nviolations,
			c.s.nviolations == 1 ? "" : "s");
	if (!rc)
		rc = c.fatal ? VMMAP_EXIT_ERROR
		   : (!c.connected || c.s.nviolations) ? VMMAP_EXIT_NEGATIVE
		   : VMMAP_EXIT_OK;
out:
	if (lfd >= 0) {
		close(lfd);
		unlink(a.listen);
	}
	vu_session_clean(&c.s);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return rc;
}
