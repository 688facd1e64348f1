/*
 * Fuzz target: a whole recorded stream (capture --record format, version 2 or 3
 * after its "VMMAPREC" file header, version 1 otherwise: see vhost_user.h)
 * through the capture engine's replay, from the first message on, the way
 * `vmmap capture --replay FILE --max-slots 8` runs it: a crash file
 * reproduces with that command.  A recording that holds the backend's
 * messages replays as a forwarded session (the replies matched, learnt,
 * refused changes undone).  After every message the reply must be well
 * formed and the table sound, and every message (and vmmap's reply, and
 * each channel message) must decode as the --follow trace decodes it; at
 * the end the capture document is built whole and its table must load
 * back with the same regions.
 */
#include <stdint.h>

#include "vu_capture.h"
#include "vu_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What --follow shows of a payload: an object, never a read past it. */
static void check_decode(const struct vu_capture *c, enum vu_decode_kind kind,
			 uint32_t request, const uint8_t *p, uint32_t size,
			 const struct vu_msg *m)
{
	json_t *o = vu_decode_payload(&c->s, kind, request, p, size,
				      m ? m->fd_facts : NULL, m ? m->nfds : 0);

	CHECK(json_is_object(o));
	json_decref(o);
}

static void on_message(void *arg, struct vu_capture *c, const struct vu_msg *m,
		       const struct vu_reply *r, size_t updates_before)
{
	(void)arg;
	(void)updates_before;
	check_reply(m, r);
	check_session(&c->s);
	check_decode(c, VU_DECODE_REQUEST, m->request, m->payload, m->size, m);
	if (r->len >= VHOST_USER_HDR_SIZE)
		check_decode(c, VU_DECODE_REPLY, m->request, r->buf + VHOST_USER_HDR_SIZE,
			     (uint32_t)(r->len - VHOST_USER_HDR_SIZE), NULL);
}

static void on_channel(void *arg, struct vu_capture *c, const struct vu_msg *m,
		       const struct vu_reply_rec *rec)
{
	(void)arg;
	check_decode(c, rec->is_request ? VU_DECODE_BACKEND_REQUEST : VU_DECODE_BACKEND_REPLY,
		     m->request, m->payload, m->size, NULL);
}

static void on_reply(void *arg, struct vu_capture *c, const struct vu_msg *m,
		     const struct vu_reply_rec *rec, size_t updates_before)
{
	(void)arg;
	(void)m;
	(void)updates_before;
	CHECK(rec->msg == SIZE_MAX || rec->msg < c->s.nmsgs);
	CHECK(c->s.npending <= VU_MAX_PENDING);
	check_session(&c->s);
	check_decode(c, VU_DECODE_REPLY, m->request, m->payload, m->size, NULL);
}

static int on_end(void *arg, struct vu_capture *c)
{
	(void)arg;
	check_document(&c->s);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct vu_capture_ops ops = {
		.message = on_message, .reply = on_reply, .channel = on_channel,
		.session_end = on_end,
	};
	struct vu_capture_opts o = {
		.cfg = { .mem_slots = true, .max_slots = 8, .queues = 1 },
	};
	static struct vu_capture c;

	if (!vu_capture_replay(&c, &o, &ops, NULL, "fuzz", data, size))
		CHECK(c.phase == VU_CAPTURE_DONE);
	vu_capture_close(&c);
	return 0;
}
