/*
 * vmmap capture: be a vhost-user backend and record the memory table a real
 * frontend sends, message by message, checked against the protocol.  The
 * engine is core's (vu_capture.c); here are its options, checked once for
 * the command and the shell's background capture, and what it reports:
 * the output and recording files, --follow lines, violations, summaries.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "num.h"
#include "vhost_user.h"
#include "vring_view.h"
#include "vu_capture.h"

enum {
	OPT_LISTEN = 1000, OPT_CONNECT, OPT_TIMEOUT, OPT_UPDATES, OPT_NO_MEM_SLOTS,
	OPT_MAX_SLOTS, OPT_FOLLOW, OPT_KEEP, OPT_SESSIONS, OPT_RECORD, OPT_REPLAY,
	OPT_FORWARD, OPT_FORWARD_LISTEN, OPT_NO_BACKEND_CHANNEL, OPT_TYPE, OPT_QUEUES,
	OPT_CAPACITY, OPT_CID, OPT_NO_PACKED, OPT_SETTLE, OPT_SNAPSHOT_BYTES,
};


static const struct argp_option capture_options[] = {
	{ "listen", OPT_LISTEN, "PATH", 0,
	  "Create the socket PATH (mode 0600) and wait for a frontend "
	  "(QEMU's chardev socket without server=on, DPDK virtio-user's default)", 0 },
	{ "connect", OPT_CONNECT, "PATH", 0,
	  "Connect to a frontend listening at PATH (QEMU server=on, DPDK server=1)", 0 },
	{ "forward", OPT_FORWARD, "BACKEND", 0,
	  "Stand between the frontend and its real backend listening at BACKEND: "
	  "forward every message both ways unchanged and record the exchange", 0 },
	{ "forward-listen", OPT_FORWARD_LISTEN, "BPATH", 0,
	  "The same with a backend that connects as a client: create the socket "
	  "BPATH and wait for it (OVS's dpdkvhostuserclient)", 0 },
	{ "no-backend-channel", OPT_NO_BACKEND_CHANNEL, NULL, 0,
	  "Forwarding: pass the frontend's SET_BACKEND_REQ_FD socket to the backend "
	  "as it is, instead of relaying the backend's request channel", 0 },
	{ "output", 'o', "FILE", 0,
	  "Write the capture to FILE (atomically) instead of standard output (- is "
	  "standard output)", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0, "Stop after SECONDS", 0 },
	{ "settle", OPT_SETTLE, "SECONDS", 0,
	  "Stop once a table and every enabled ring's addresses are there and no "
	  "message came for SECONDS", 0 },
	{ "updates", OPT_UPDATES, "N", 0,
	  "Stop after N table changes (each SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG)", 0 },
	{ "no-mem-slots", OPT_NO_MEM_SLOTS, NULL, 0,
	  "Do not offer CONFIGURE_MEM_SLOTS: the frontend sends SET_MEM_TABLE", 0 },
	{ "max-slots", OPT_MAX_SLOTS, "N", 0,
	  "Answer GET_MAX_MEM_SLOTS with N (default 509)", 0 },
	{ "type", OPT_TYPE, "TYPE", 0,
	  "Be a backend of this device type: net (default), blk, scsi, fs, vsock, "
	  "gpio, i2c or rng", 0 },
	{ "queues", OPT_QUEUES, "N", 0,
	  "Answer GET_QUEUE_NUM with N (queue pairs for net, virtqueues otherwise; "
	  "default 8); above 1 the device's MQ feature too", 0 },
	{ "capacity", OPT_CAPACITY, "SIZE", 0,
	  "blk: the disk's size in GET_CONFIG (default 1G)", 0 },
	{ "cid", OPT_CID, "N", 0, "vsock: the guest CID in GET_CONFIG (default 3)", 0 },
	{ "no-packed", OPT_NO_PACKED, NULL, 0,
	  "Do not offer packed rings (VIRTIO_F_RING_PACKED): the frontend uses split "
	  "ones", 0 },
	{ "snapshot-bytes", OPT_SNAPSHOT_BYTES, "N", 0,
	  "Put up to N bytes of each buffer of the rings' listed chains in the "
	  "snapshot (then the output file is mode 0600: guest memory can hold "
	  "secrets); default 0: ring metadata only", 0 },
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
	case OPT_LISTEN: a->listen = arg; return 0;
	case OPT_CONNECT: a->connect = arg; return 0;
	case OPT_FORWARD: a->forward = arg; return 0;
	case OPT_FORWARD_LISTEN: a->forward_listen = arg; return 0;
	case OPT_NO_BACKEND_CHANNEL: a->no_backend_channel = true; return 0;
	case OPT_TYPE: a->type = arg; return 0;
	case OPT_QUEUES: a->queues = arg; return 0;
	case OPT_CAPACITY: a->capacity = arg; return 0;
	case OPT_CID: a->cid = arg; return 0;
	case OPT_NO_PACKED: a->no_packed = true; return 0;
	case OPT_SETTLE: a->settle = arg; return 0;
	case OPT_SNAPSHOT_BYTES: a->snapshot_bytes = arg; return 0;
	case 'o':
		/* "-" is standard output, as for every other tool; a file
		 * named "-" is still "./-". */
		a->output_stdout = !strcmp(arg, "-");
		a->output = a->output_stdout ? NULL : arg;
		return 0;
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
	.args_doc = "--listen PATH | --connect PATH | --replay FILE\n"
		    "--listen PATH | --connect PATH  --forward BACKEND | --forward-listen BPATH",
	.doc = "Act as a vhost-user backend and record the memory table a frontend "
	       "(QEMU, DPDK virtio-user) sends: SET_MEM_TABLE, ADD_MEM_REG and "
	       "REM_MEM_REG, the ring addresses, the negotiated features, and every "
	       "protocol violation.  With --forward, stand between the frontend and "
	       "its real backend instead, forwarding every message unchanged, and "
	       "record both sides with each reply's latency.  The output is a vmmap "
	       "table that show, translate, diff and validate accept, with a "
	       "\"capture\" section.\v"
	       "The capture ends when the frontend disconnects (forwarding: when "
	       "either side does; the other is then closed), with --keep-listening "
	       "after --sessions, after --timeout, --updates or --settle, or on "
	       "SIGINT/SIGTERM; the output is written whole in every case.  A "
	       "peer that stalls for 2 s in the middle of a message is "
	       "disconnected, as is a frontend that leaves vmmap's own replies "
	       "unread.\n"
	       "Exit status: 0 captured cleanly, 1 protocol violations (in any "
	       "session), no frontend, no table in any session, or the backend "
	       "left, 2 usage, socket or output error.",
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

uint64_t cli_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The longest --timeout: what a u32 of seconds holds. */
#define TIMEOUT_MAX UINT64_C(4294967295)

static void record(void *arg, struct vu_capture *vc, const uint8_t *buf, size_t len)
{
	struct cli_capture *c = arg;

	(void)vc;
	if (c->rec.fd >= 0)
		cli_atomic_write(&c->ctx, &c->rec, buf, len);
}

/* A session starts: its recording file. */
static int session_begin(void *arg, struct vu_capture *vc)
{
	struct cli_capture *c = arg;
	uint8_t head[VU_RECORD_FILE_HDR];

	(void)vc;
	c->rec.fd = -1;
	/* A snapshot is its session's: the next one starts without. */
	json_decref(c->snapshot);
	c->snapshot = NULL;
	if (!c->a.record)
		return 0;
	if (cli_atomic_open(&c->ctx, c->a.record, &c->rec)) {
		c->rec.fd = -1;
		c->rc = VMMAP_EXIT_ERROR;
		return -1;
	}
	vu_record_file_header(head);
	cli_atomic_write(&c->ctx, &c->rec, head, sizeof(head));
	return 0;
}

/*
 * Writes the capture so far (atomically to -o, else to standard output
 * outside the shell), with end as its end reason.  When -o cannot take
 * it, the capture goes to a new private file in $TMPDIR, which the error
 * names: never nowhere.  Returns 0 or VMMAP_EXIT_ERROR.
 */
json_t *cli_capture_doc(struct cli_capture *c, const char *end)
{
	struct vu_capture *vc = &c->cap;
	json_t *doc = vu_session_to_json(&vc->s, end), *cap = json_object_get(doc, "capture");

	if (cap && (vc->gm.n || vc->inflight.fd >= 0)) {
		json_decref(c->snapshot);
		c->snapshot = vu_capture_snapshot(vc, cap, (size_t)c->snapshot_bytes);
		if (!c->snapshot)
			return json_decref(doc), NULL;
	}
	/* No ring was read and no in-flight area kept: nothing to record. */
	if (cap && c->snapshot &&
	    (json_array_size(json_object_get(c->snapshot, "memory")) ||
	     json_array_size(json_object_get(c->snapshot, "inflight"))) &&
	    json_object_set(cap, "snapshot", c->snapshot))
		return json_decref(doc), NULL;
	return doc;
}

int cli_capture_write(struct cli_capture *c, const char *end)
{
	struct vu_capture *vc = &c->cap;
	json_t *doc;
	char *text;
	int rc = 0;

	if (!c->a.output && !c->a.output_stdout && (c->shell_name || c->ctx.quiet))
		return 0;
	doc = cli_capture_doc(c, end);
	if (doc && c->a.keep &&
	    json_object_set_new(json_object_get(doc, "capture"), "session",
				json_integer((json_int_t)(vc->sessions + vc->connected)))) {
		json_decref(doc);
		doc = NULL;
	}
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	if (!text)
		return cli_error(&c->ctx, "nomem", "out of memory");
	if (c->a.output)
		rc = cli_atomic_replace(&c->ctx, &c->out, text, "\n");
	else
		printf("%s\n", text), fflush(stdout);
	free(text);
	return rc;
}

/* A session ended: the capture, the recording, the summary. */
static int session_end(void *arg, struct vu_capture *vc)
{
	struct cli_capture *c = arg;
	const struct vu_session *s = &vc->s;
	char who[32] = "";
	int rc;

	if (!vc->connected && vc->unreached && !c->ctx.quiet && !c->shell_name)
		fprintf(stderr, "vmmap: capture: %s: the backend was not reached (%s); the "
			"frontend was %s\n", vc->unreached, vc->end,
			vc->front_closed ? "closed" : "not connected");
	else if (!vc->connected && !c->a.replay && !c->ctx.quiet && !c->shell_name &&
		 vc->front.last_err)
		fprintf(stderr, "vmmap: capture: no frontend connected (%s); the last connect() "
			"to %s said: %s\n", vc->end, vc->front.connect,
			strerror(vc->front.last_err));
	else if (!vc->connected && !c->a.replay && !c->ctx.quiet && !c->shell_name)
		fprintf(stderr, "vmmap: capture: no frontend connected (%s)\n", vc->end);
	if (vc->err && !vc->failed && !c->shell_name)
		fprintf(stderr, "vmmap: capture: %s: %s\n", vc->why, strerror(vc->err));
	if (c->a.keep)
		snprintf(who, sizeof(who), "session %zu: ", vc->sessions + vc->connected);
	rc = cli_capture_write(c, vc->end);
	if (c->rec.fd >= 0 && cli_atomic_commit(&c->ctx, &c->rec))
		rc = VMMAP_EXIT_ERROR;
	c->rec.fd = -1;
	if (!rc && !c->ctx.quiet && !c->shell_name && vc->forwarding)
		fprintf(stderr, "vmmap: capture: %s%s after %zu message%s and %zu repl%s: "
			"%zu region%s, %zu table change%s, %zu violation%s%s\n", who,
			!strcmp(vc->end, "disconnect") ? "the frontend left"
			: !strcmp(vc->end, "backend-disconnect") ? "the backend left" : vc->end,
			s->nmsgs, s->nmsgs == 1 ? "" : "s", s->replies_total,
			s->replies_total == 1 ? "y" : "ies", s->table.umem.nregions,
			s->table.umem.nregions == 1 ? "" : "s", s->updates_total,
			s->updates_total == 1 ? "" : "s", s->violations_total,
			s->violations_total == 1 ? "" : "s",
			s->warnings_total ? ", warnings (see \"warnings\")" : "");
	else if (!rc && !c->ctx.quiet && !c->shell_name && vc->connected && !c->a.replay &&
		 !s->updates_total)
		/* No table: what the frontend last did says how far it got. */
		fprintf(stderr, "vmmap: capture: %s%s after %zu message%s%s%s; no table was "
			"sent, %zu violation%s\n", who,
			!strcmp(vc->end, "disconnect") ? "the frontend left" : vc->end,
			s->nmsgs, s->nmsgs == 1 ? "" : "s", s->nmsgs ? ", the last " : "",
			s->nmsgs ? vu_request_label(s->last_request) : "", s->violations_total,
			s->violations_total == 1 ? "" : "s");
	else if (!rc && !c->ctx.quiet && !c->shell_name)
		fprintf(stderr, "vmmap: capture: %s%s after %zu message%s: %zu region%s, "
			"%zu table change%s, %zu violation%s%s\n", who, vc->end, s->nmsgs,
			s->nmsgs == 1 ? "" : "s", s->table.umem.nregions,
			s->table.umem.nregions == 1 ? "" : "s", s->updates_total,
			s->updates_total == 1 ? "" : "s", s->violations_total,
			s->violations_total == 1 ? "" : "s",
			s->warnings_total ? ", warnings (see \"warnings\")" : "");
	if (rc)
		c->rc = rc;
	return rc;
}

static const struct vu_capture_ops ops = {
	.session_begin = session_begin, .message = cli_capture_follow,
	.reply = cli_capture_follow_reply, .channel = cli_capture_follow_channel,
	.event = cli_capture_event, .violation = cli_capture_violation, .record = record,
	.session_end = session_end,
};

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

/* The checks of the options, for the command and the shell alike; fills
 * o.  0 or VMMAP_EXIT_ERROR. */
/* Descriptors vmmap needs besides one per region kept: sockets, the
 * in-flight area, the messages' own descriptors, files. */
#define FD_RESERVE 64

/*
 * A descriptor is kept for every region of the table (guest memory is
 * read through it): the soft limit is raised to the hard one at start, and
 * a --max-slots (arg; NULL: not given) that cannot be held is refused.
 */
static int fd_room(struct vmmap_ctx *ctx, const char *arg, uint64_t slots)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!arg || rl.rlim_cur == RLIM_INFINITY || slots + FD_RESERVE <= rl.rlim_cur)
		return 0;
	return cli_error(ctx, "usage", "invalid --max-slots '%s': %" PRIu64 " regions need "
			 "%" PRIu64 " descriptors, and the limit is %llu (ulimit -Hn)", arg,
			 slots, slots + FD_RESERVE, (unsigned long long)rl.rlim_cur);
}

static int check_args(struct vmmap_ctx *ctx, struct capture_args *a,
		      struct vu_capture_opts *o, struct cli_atomic *out, uint64_t *snap)
{
	uint64_t timeout = 0;

	*o = (struct vu_capture_opts){
		.cfg = { .mem_slots = !a->no_mem_slots, .max_slots = 509, .queues = 8,
			 .capacity = UINT64_C(1) << 30, .cid = 3 },
		.listen = a->listen, .connect = a->connect, .keep = a->keep,
		.record = a->record != NULL,
		.guest_copy = cli_guard_copy,
	};
	if (a->extra)
		return cli_error(ctx, "usage", "unexpected argument '%s'", a->extra);
	if ((!!a->listen + !!a->connect + !!a->replay) != 1)
		return cli_error(ctx, "usage", "give exactly one of --listen PATH, "
				 "--connect PATH and --replay FILE");
	if (a->forward && a->forward_listen)
		return cli_error(ctx, "usage", "give one of --forward BACKEND and "
				 "--forward-listen BPATH");
	if ((a->forward || a->forward_listen) && a->replay)
		return cli_error(ctx, "usage", "--replay reads a recording; a forwarded "
				 "one replays as such without %s",
				 a->forward ? "--forward" : "--forward-listen");
	/* Forwarding, the backend answers: vmmap's own answers have no say. */
	const struct { bool given; const char *name; } own[] = {
		{ a->no_mem_slots, "--no-mem-slots" }, { a->max_slots, "--max-slots" },
		{ a->type, "--type" }, { a->queues, "--queues" },
		{ a->capacity, "--capacity" }, { a->cid, "--cid" },
		{ a->no_packed, "--no-packed" },
	};

	for (size_t i = 0; (a->forward || a->forward_listen) && i < sizeof(own) / sizeof(*own);
	     i++)
		if (own[i].given)
			return cli_error(ctx, "usage", "%s shapes vmmap's answers as a backend; "
					 "with %s the real backend answers", own[i].name,
					 a->forward ? "--forward" : "--forward-listen");
	o->cfg.no_packed = a->no_packed;
	if (a->type && (int)(o->cfg.type = (unsigned)vu_device_type_parse(a->type)) < 0) {
		char list[128] = "";

		for (const char *const *t = vu_device_type_names; *t; t++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 t == vu_device_type_names ? "" : ", ", *t);
		return cli_error(ctx, "usage", "invalid --type '%s': one of %s", a->type, list);
	}
	if ((a->capacity && o->cfg.type != VU_DEV_BLK) || (a->cid && o->cfg.type != VU_DEV_VSOCK))
		return cli_error(ctx, "usage", "%s is for --type %s", a->capacity ? "--capacity"
				 : "--cid", a->capacity ? "blk" : "vsock");
	if ((a->queues && parse_count(ctx, "--queues", a->queues, 0xffff, &o->cfg.queues)) ||
	    (a->cid && parse_count(ctx, "--cid", a->cid, UINT32_MAX, &o->cfg.cid)))
		return VMMAP_EXIT_ERROR;
	if (a->capacity) {
		const char *why;

		if (vm_parse_size(a->capacity, &o->cfg.capacity, &why))
			return cli_error(ctx, "usage", "invalid --capacity '%s': %s", a->capacity,
					 why);
		if (o->cfg.capacity < 512)
			return cli_error(ctx, "usage", "invalid --capacity '%s': at least 512 "
					 "bytes (one sector)", a->capacity);
	}
	if ((a->forward && !*a->forward) || (a->forward_listen && !*a->forward_listen))
		return cli_error(ctx, "usage", "%s: an empty socket path",
				 a->forward ? "--forward" : "--forward-listen");
	if (a->no_backend_channel && !a->forward && !a->forward_listen)
		return cli_error(ctx, "usage", "--no-backend-channel needs --forward or "
				 "--forward-listen");
	o->forward = a->forward;
	o->forward_listen = a->forward_listen;
	o->no_backend_channel = a->no_backend_channel;
	if (a->keep && !a->listen)
		return cli_error(ctx, "usage", "--keep-listening needs --listen");
	if (a->sessions && !a->keep)
		return cli_error(ctx, "usage", "--sessions needs --keep-listening");
	if (a->record && a->replay)
		return cli_error(ctx, "usage", "--record and --replay do not go together");
	if ((a->timeout && parse_count(ctx, "--timeout", a->timeout, TIMEOUT_MAX, &timeout)) ||
	    (a->updates && parse_count(ctx, "--updates", a->updates, UINT64_MAX,
				       &o->max_updates)) ||
	    (a->sessions && parse_count(ctx, "--sessions", a->sessions, UINT64_MAX,
					&o->max_sessions)))
		return VMMAP_EXIT_ERROR;
	o->timeout_ns = timeout * 1000000000u;
	if (a->settle && parse_count(ctx, "--settle", a->settle, TIMEOUT_MAX, &o->settle_ns))
		return VMMAP_EXIT_ERROR;
	if (a->settle && a->replay)
		return cli_error(ctx, "usage", "--settle is for a live capture, not --replay");
	o->settle_ns *= 1000000000u;
	if (a->max_slots && parse_count(ctx, "--max-slots", a->max_slots, UINT64_MAX,
					&o->cfg.max_slots))
		return VMMAP_EXIT_ERROR;
	if (o->cfg.max_slots > VU_MAX_SLOTS)
		return cli_error(ctx, "usage", "invalid --max-slots '%s': at most %d "
				 "(KVM's own slot limit)", a->max_slots, VU_MAX_SLOTS);
	if (!a->replay && fd_room(ctx, a->max_slots, o->cfg.max_slots))
		return VMMAP_EXIT_ERROR;
	if (a->snapshot_bytes && parse_count(ctx, "--snapshot-bytes", a->snapshot_bytes,
					     VQ_SNAPSHOT_BYTES_MAX, snap))
		return VMMAP_EXIT_ERROR;
	if (a->snapshot_bytes && a->replay)
		return cli_error(ctx, "usage", "--snapshot-bytes is for a live capture: a "
				 "recording holds no guest memory");
	/* Guest memory in the file: it is private, whatever was there. */
	out->private = *snap > 0;
	if ((a->output && !*a->output) || (a->record && !*a->record))
		return cli_error(ctx, "usage", "%s: an empty file name",
				 a->output && !*a->output ? "-o" : "--record");
	/* Refused now, not after an hour of capture: the output's temporary
	 * file is made at once, and the recording's path is checked. */
	if ((a->record && cli_output_ok(ctx, a->record)) ||
	    (a->output && cli_atomic_open(ctx, a->output, out)))
		return VMMAP_EXIT_ERROR;
	return 0;
}

int cli_capture_open(struct vmmap_ctx *ctx, int argc, char **argv, const char *shell_name,
		     struct cli_capture **out)
{
	struct cli_capture *c = calloc(1, sizeof(*c));
	struct vu_capture_opts o;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (!c)
		return cli_error(ctx, "nomem", "out of memory");
	c->ctx = *ctx;
	c->a.ctx = &c->ctx;
	c->out.fd = c->rec.fd = -1;
	vu_capture_init(&c->cap);
	c->shell_name = shell_name;
	if ((rc = cli_parse(&c->ctx, &cmd_capture_argp, argc, argv, &c->a)) ||
	    (rc = check_args(&c->ctx, &c->a, &o, &c->out, &c->snapshot_bytes))) {
		free(c);
		return rc;
	}
	c->json = c->ctx.json;
	if (c->a.follow)
		c->follow = c->a.output || shell_name ? stdout : stderr;
	if (c->a.replay) {
		if ((rc = cli_read_input(&c->ctx, c->a.replay, &buf, &len)))
			goto fail;
		if (vu_capture_replay(&c->cap, &o, &ops, c, c->a.replay, (const uint8_t *)buf,
				      len)) {
			rc = cli_error(&c->ctx, "input", "%s: %s", c->a.replay, c->cap.why);
			free(buf);
			goto fail;
		}
		free(buf);
	} else if ((rc = vu_capture_start(&c->cap, &o, &ops, c, cli_now_ns()))) {
		const char *p = c->cap.failed_path ? c->cap.failed_path
			      : o.listen ? o.listen : o.connect;

		/* "exists and is not a socket" says it all; others need errno. */
		rc = rc == -EEXIST || rc == -EADDRINUSE
			? cli_error(&c->ctx, "io", "%s: %s", p, c->cap.why)
			: cli_error(&c->ctx, "io", "%s: %s: %s", p, c->cap.why, strerror(-rc));
		goto fail;
	} else if (o.listen && !c->ctx.quiet && !shell_name) {
		fprintf(stderr, "vmmap: capture: listening on %s%s%s%s\n", o.listen,
			o.keep ? " (keeps listening)" : "",
			o.forward ? ", forwarding to " : o.forward_listen ? ", backend on " : "",
			o.forward ? o.forward : o.forward_listen ? o.forward_listen : "");
	} else if (o.forward_listen && !c->ctx.quiet && !shell_name) {
		fprintf(stderr, "vmmap: capture: waiting for the backend on %s\n",
			o.forward_listen);
	}
	*out = c;
	return 0;
fail:
	cli_atomic_abort(&c->out);
	free(c);
	return rc;
}

int cli_capture_status(struct cli_capture *c)
{
	struct vu_capture *vc = &c->cap;

	if (c->rc)
		return c->rc;
	if (vc->failed) /* the socket failed outside a session */
		return cli_error(&c->ctx, "io", "%s: %s: %s", vc->failed_path ? vc->failed_path
				 : vc->o.listen ? vc->o.listen : vc->o.connect, vc->why,
				 strerror(vc->err));
	if (vc->fatal)
		return VMMAP_EXIT_ERROR;
	/* As a backend, a capture is of a table: none in any session is a
	 * negative answer (fs, vsock, gpio, i2c and rng send none without a
	 * guest driver). */
	if (!vc->forwarding && !c->a.replay && !vc->had_table)
		return VMMAP_EXIT_NEGATIVE;
	return (!vc->sessions || vc->violated || vc->backend_left) ? VMMAP_EXIT_NEGATIVE
								    : VMMAP_EXIT_OK;
}

void cli_capture_close(struct cli_capture *c)
{
	if (!c)
		return;
	cli_atomic_abort(&c->rec);
	cli_atomic_abort(&c->out);
	vu_capture_close(&c->cap);
	json_decref(c->snapshot);
	free(c);
}

/* Runs the capture in the foreground until it ends, acting on signals. */
static void run(struct cli_capture *c)
{
	struct vu_capture *vc = &c->cap;
	sigset_t none;

	sigemptyset(&none);
	while (vc->phase != VU_CAPTURE_DONE) {
		struct pollfd pfd[VU_CAPTURE_MAX_POLL];
		uint64_t wake, now;
		struct timespec ts, *tp = NULL;
		int n = vu_capture_pollfds(vc, pfd, &wake), r;

		now = cli_now_ns();
		if (wake) {
			uint64_t d = wake > now ? wake - now : 0;

			ts.tv_sec = (time_t)(d / 1000000000u);
			ts.tv_nsec = (long)(d % 1000000000u);
			tp = &ts;
		}
		/* Signals are unblocked only here: no lost wake-up. */
		r = stop_signal || checkpoint_signal ? 0 : ppoll(pfd, (nfds_t)n, tp, &none);
		if (stop_signal) {
			vu_capture_stop(vc, "signal", cli_now_ns());
			break;
		}
		if (checkpoint_signal) {
			checkpoint_signal = 0;
			if (vc->in_session && cli_capture_write(c, "checkpoint"))
				c->rc = VMMAP_EXIT_ERROR;
			continue;
		}
		vu_capture_step(vc, r > 0 ? pfd : NULL, r > 0 ? n : 0, cli_now_ns());
	}
}

int cmd_capture(struct vmmap_ctx *ctx, int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1 };
	struct sigaction sa = { .sa_handler = on_signal }, old_sa[4];
	struct cli_capture *c;
	sigset_t block, saved;
	int rc;

	stop_signal = checkpoint_signal = 0;
	sigemptyset(&block);
	for (size_t i = 0; i < 4; i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &saved);
	for (size_t i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old_sa[i]);
	rc = cli_capture_open(ctx, argc, argv, NULL, &c);
	if (!rc) {
		run(c);
		rc = cli_capture_status(c);
		cli_capture_close(c);
	}
	for (size_t i = 0; i < 4; i++)
		sigaction(sigs[i], &old_sa[i], NULL);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return rc;
}
