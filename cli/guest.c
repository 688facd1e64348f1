/*
 * Guest memory and rings for the vring and mem commands: a table argument
 * that is the shell's live capture reads guest memory through the
 * descriptors the capture keeps; a capture file (or a capture whose
 * session ended) reads only what its snapshot holds, and says so for the
 * rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shell.h"
#include "vhost_user.h"

int cli_guest_open(struct vmmap_ctx *ctx, char *const *pos, int npos, struct cli_guest *g,
		   int *used)
{
	struct cli_capture *run;
	json_error_t jerr;
	const json_t *snap;
	char why[160];
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = cli_table_open(ctx, pos, npos, 0, &g->tb, used)))
		return rc;
	run = ctx->shell ? shell_capture_of(ctx->shell, g->tb.t) : NULL;
	if (run && run->cap.gm.n) {
		/* Live: the rings and features, not the whole document. */
		g->live = &run->cap;
		g->doc = json_pack("{s:o}", "capture", vu_session_ring_view(&run->cap.s));
	} else if (run) {
		g->doc = cli_capture_doc(run, run->cap.end);
	} else if (g->tb.t->capture) {
		g->doc = json_loads(g->tb.t->capture, 0, &jerr);
		if (g->doc && json_is_object(g->doc)) {
			json_t *d = json_pack("{s:O}", "capture", g->doc);

			json_decref(g->doc);
			g->doc = d;
		}
	}
	if (!g->doc) {
		rc = run || g->tb.t->capture ? cli_error(ctx, "nomem", "out of memory")
			: cli_error(ctx, "input", "%s: no capture: guest memory and rings come "
				    "from a capture (vmmap capture -o FILE, or the shell's live "
				    "capture)", g->tb.name);
		cli_guest_close(g);
		return rc;
	}
	g->cap = json_object_get(g->doc, "capture");
	g->features = strtoull(json_string_value(json_object_get(json_object_get(
		g->cap, "features"), "acked")) ? json_string_value(json_object_get(
		json_object_get(g->cap, "features"), "acked")) : "0", NULL, 16);
	g->proxy = g->live ? g->live->s.cfg.observer : json_object_get(g->cap, "forward") != NULL;
	if (g->live) {
		g->buffer_bytes = VQ_HEADER_BYTES;
		return 0;
	}
	snap = json_object_get(g->cap, "snapshot");
	if (snap) {
		json_int_t n = json_integer_value(json_object_get(snap, "buffer_bytes"));

		if (vq_tape_load(&g->tape, json_object_get(snap, "memory"), why, sizeof(why))) {
			rc = cli_error(ctx, "input", "%s: capture.snapshot: %s", g->tb.name, why);
			cli_guest_close(g);
			return rc;
		}
		g->has_snapshot = true;
		g->buffer_bytes = n > 0 && n <= VQ_SNAPSHOT_BYTES_MAX ? (size_t)n : 0;
	}
	return 0;
}

void cli_guest_close(struct cli_guest *g)
{
	vq_tape_free(&g->tape);
	json_decref(g->doc);
	cli_table_close(&g->tb);
	memset(g, 0, sizeof(*g));
}

vq_read_fn cli_guest_reader(struct cli_guest *g, void **arg)
{
	if (g->live) {
		*arg = &g->live->gm;
		return vm_guestmem_read;
	}
	*arg = &g->tape;
	return vq_tape_read;
}

void cli_guest_piece(struct cli_guest *g, uint64_t gpa, uint64_t len, void *buf,
		     struct vm_gm_piece *p)
{
	size_t i;

	if (g->live) {
		vm_guestmem_read_piece(&g->live->gm, VM_SPACE_GPA, gpa, len, buf, p);
		return;
	}
	memset(p, 0, sizeof(*p));
	/* The snapshot's runs: the one holding gpa, or the gap to the next. */
	for (i = 0; i < g->tape.n; i++) {
		const struct vq_tape_run *r = &g->tape.runs[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->len) {
			p->len = r->len - (gpa - r->gpa) < len ? r->len - (gpa - r->gpa) : len;
			memcpy(buf, r->bytes + (gpa - r->gpa), p->len);
			return;
		}
		if (r->gpa > gpa)
			break;
	}
	p->status = VM_GM_UNREADABLE;
	p->len = i < g->tape.n && g->tape.runs[i].gpa - gpa < len ? g->tape.runs[i].gpa - gpa
								: len;
	snprintf(p->why, sizeof(p->why), g->has_snapshot ? "not in the snapshot"
		 : "the capture has no snapshot");
}

int cli_guest_inflight(struct cli_guest *g, unsigned index, bool packed, uint8_t **buf,
		       size_t *len, uint16_t *queue_size)
{
	const json_t *a = json_object_get(json_object_get(g->cap, "snapshot"), "inflight"), *o;
	size_t i;

	*buf = NULL;
	*len = 0;
	if (g->live) {
		*queue_size = g->live->inflight.queue_size;
		return vu_inflight_queue(g->live, index, packed, buf, len);
	}
	json_array_foreach(a, i, o) {
		const char *h = json_string_value(json_object_get(o, "bytes"));

		if (json_integer_value(json_object_get(o, "index")) != (json_int_t)index || !h)
			continue;
		if (vq_hex_decode(h, buf, len))
			return -EINVAL;
		*queue_size = (uint16_t)json_integer_value(json_object_get(o, "queue_size"));
		return 0;
	}
	return -ENOENT;
}
