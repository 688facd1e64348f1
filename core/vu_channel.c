/*
 * Forwarding: the backend's request channel (SET_BACKEND_REQ_FD), as the
 * session sees it.  The backend sends requests (IOTLB_MSG,
 * CONFIG_CHANGE_MSG, VRING_HOST_NOTIFIER_MSG, ...), the frontend answers
 * those with NEED_REPLY.  Each message is checked against the channel's
 * rules, each finding naming the side that broke one, and logged (the
 * first VU_MAX_REPLIES, then counted).  No I/O here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vu_session.h"

/* The most descriptors a channel message carries (QEMU's limit). */
#define CHAN_MAX_FDS 8

/* A finding of the channel against message msg of the main channel (the
 * session numbers its findings by the frontend's messages: the last one). */
__attribute__((format(printf, 3, 4)))
static int finding(struct vu_session *s, bool violation, const char *fmt, ...)
{
	struct vu_msg m = { .request = VHOST_USER_SET_BACKEND_REQ_FD };
	struct hctx h = { .s = s, .m = &m, .idx = s->nmsgs ? s->nmsgs - 1 : 0 };
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (violation)
		vu_bad(&h, "backend channel: %s", what);
	else
		vu_warn(&h, "backend channel: %s", what);
	return h.nomem ? -ENOMEM : 0;
}

void vu_channel_reset(struct vu_session *s, bool open)
{
	struct vu_backend_channel *ch = &s->chan;

	ch->unanswered += ch->nwait;
	ch->nwait = ch->whead = 0;
	ch->open = open;
	if (open) {
		ch->relayed = true;
		ch->handovers++;
	}
}

static int log_msg(struct vu_session *s, const struct vu_reply_rec *r)
{
	struct vu_backend_channel *ch = &s->chan;

	ch->log_total++;
	if (ch->nlog >= VU_MAX_REPLIES)
		return 0;
	if (vu_grow((void **)&ch->log, ch->nlog, sizeof(*ch->log)))
		return -ENOMEM;
	ch->log[ch->nlog++] = *r;
	return 0;
}

/* A request of the backend. */
static int backend_request(struct vu_session *s, const struct vu_msg *m,
			   struct vu_reply_rec *r)
{
	struct vu_backend_channel *ch = &s->chan;
	const char *name = vu_backend_request_label(m->request);
	bool need = m->flags & VHOST_USER_NEED_REPLY_MASK;
	int rc = 0;

	r->is_request = true;
	r->msg = ch->nmsgs++;
	ch->counts[m->request < VHOST_USER_BACKEND_MAX_REQUEST ? m->request : 0]++;
	if ((m->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
		rc |= finding(s, true, "the backend's %s has version bits %" PRIu32 ", not 1",
			      name, m->flags & VHOST_USER_VERSION_MASK);
	if (m->flags & VHOST_USER_REPLY_MASK)
		rc |= finding(s, true, "the backend sent %s with the REPLY flag: the "
			      "frontend sends no requests here", name);
	if (!vhost_user_backend_request_name(m->request))
		rc |= finding(s, true, "the backend sent unknown %s (relayed)", name);
	if (need && !vu_acked_protocol(s, VHOST_USER_PROTOCOL_F_REPLY_ACK))
		rc |= finding(s, true, "the backend's %s asks NEED_REPLY without REPLY_ACK "
			      "negotiated", name);
	if (m->nfds && !vu_acked_protocol(s, VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD))
		rc |= finding(s, true, "the backend's %s carries %zu descriptor%s without "
			      "BACKEND_SEND_FD negotiated (relayed)", name, m->nfds,
			      vu_plural(m->nfds));
	if (m->nfds > CHAN_MAX_FDS || m->fds_truncated)
		rc |= finding(s, true, "the backend's %s carries more than %d descriptors",
			      name, CHAN_MAX_FDS);
	switch (m->request) {
	case VHOST_USER_BACKEND_CONFIG_CHANGE_MSG:
		if (m->size)
			rc |= finding(s, true, "the backend's CONFIG_CHANGE_MSG carries %" PRIu32
				      " payload bytes, the protocol says 0", m->size);
		break;
	case VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG: {
		uint64_t idx, size, off;

		if (!vu_acked_protocol(s, VHOST_USER_PROTOCOL_F_HOST_NOTIFIER))
			rc |= finding(s, true, "the backend sent VRING_HOST_NOTIFIER_MSG without "
				      "HOST_NOTIFIER negotiated");
		if (m->size != 24) {
			rc |= finding(s, true, "the backend's VRING_HOST_NOTIFIER_MSG carries %"
				      PRIu32 " payload bytes, the protocol says 24", m->size);
			break;
		}
		idx = get_u64(m, 0);
		size = get_u64(m, 8);
		off = get_u64(m, 16);
		if ((idx & 0xff) >= VU_MAX_VRINGS || idx & ~UINT64_C(0x1ff))
			rc |= finding(s, true, "the backend's VRING_HOST_NOTIFIER_MSG names vring "
				      "0x%" PRIx64, idx);
		if (idx & 0x100 ? m->nfds != 0 : m->nfds != 1)
			rc |= finding(s, true, "the backend's VRING_HOST_NOTIFIER_MSG for vring %"
				      PRIu64 " came with %zu descriptor%s; %s", idx & 0xff, m->nfds,
				      vu_plural(m->nfds), idx & 0x100 ? "bit 8 (no descriptor) "
				      "is set" : "one is due");
		else if (!(idx & 0x100) && (size != 4096 || off & 4095))
			rc |= finding(s, true, "the backend's VRING_HOST_NOTIFIER_MSG maps 0x%"
				      PRIx64 " bytes at offset 0x%" PRIx64 "; QEMU maps one "
				      "4096-byte page at a page-aligned offset", size, off);
		break;
	}
	default:
		break;
	}
	if (need) {
		if (ch->nwait == VU_CHAN_WAIT) { /* the oldest is given up */
			ch->whead = (ch->whead + 1) % VU_CHAN_WAIT;
			ch->nwait--;
			ch->unanswered++;
		}
		size_t i = (ch->whead + ch->nwait++) % VU_CHAN_WAIT;

		ch->wait[i].msg = r->msg;
		ch->wait[i].request = m->request;
		ch->wait[i].flags = m->flags;
		ch->wait[i].time_ns = m->time_ns;
	}
	return rc ? -ENOMEM : 0;
}

/* A reply of the frontend to the oldest backend request awaiting one. */
static int frontend_reply(struct vu_session *s, const struct vu_msg *m,
			  struct vu_reply_rec *r)
{
	struct vu_backend_channel *ch = &s->chan;
	const char *name = vu_backend_request_label(m->request);
	uint32_t want;
	int rc = 0;

	r->msg = SIZE_MAX;
	if (!(m->flags & VHOST_USER_REPLY_MASK))
		return finding(s, true, "the frontend sent %s without the REPLY flag: only "
			       "the backend sends requests here", name);
	if (!ch->nwait || ch->wait[ch->whead].request != m->request)
		return finding(s, true, "the frontend replied to %s, which no backend request "
			       "awaits", name);
	want = (ch->wait[ch->whead].flags & ~VHOST_USER_NEED_REPLY_MASK) |
	       VHOST_USER_REPLY_MASK;
	r->msg = ch->wait[ch->whead].msg;
	r->latency_ns = m->time_ns > ch->wait[ch->whead].time_ns
		      ? m->time_ns - ch->wait[ch->whead].time_ns : 0;
	ch->whead = (ch->whead + 1) % VU_CHAN_WAIT;
	ch->nwait--;
	ch->replies_total++;
	if (m->flags != want)
		rc |= finding(s, true, "the frontend's reply to %s has flags 0x%" PRIx32
			      ", not 0x%" PRIx32, name, m->flags, want);
	if (m->size != 8)
		return rc | finding(s, true, "the frontend's reply to %s carries %" PRIu32
				    " payload bytes, not 8", name, m->size);
	r->value = get_u64(m, 0);
	r->has_value = true;
	/* QEMU 7.2 answers what it does not handle with an error: the
	 * frontend's answer, recorded, not vmmap's doing. */
	if (r->value)
		rc |= finding(s, false, "the frontend answered %s with status %" PRIu64
			      " (failure)", name, r->value);
	return rc ? -ENOMEM : 0;
}

int vu_session_channel(struct vu_session *s, const struct vu_msg *m,
		       struct vu_reply_rec *rec)
{
	int rc;

	*rec = (struct vu_reply_rec){ .request = m->request, .flags = m->flags,
				      .size = m->size, .nfds = m->nfds, .time_ns = m->time_ns,
				      .direction = m->direction };
	rc = m->direction == VU_BACK_TO_FRONT ? backend_request(s, m, rec)
					      : frontend_reply(s, m, rec);
	return rc ? rc : log_msg(s, rec);
}

bool vu_session_relays_channel(const struct vu_session *s, const struct vu_msg *m)
{
	return s->cfg.relay_channel && m->request == VHOST_USER_SET_BACKEND_REQ_FD &&
	       m->nfds == 1 && (m->fd_facts[0].type == VM_FD_SOCKET ||
				m->fd_facts[0].type == VM_FD_UNKNOWN);
}
