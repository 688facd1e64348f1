/*
 * Forwarding: the backend's replies on the main channel.  A request that
 * awaits a reply waits in a ring of VU_MAX_PENDING entries; a reply is
 * matched to the oldest entry of its request (an ack that a backend may
 * leave unsent is passed over; a data reply never is), recorded with its
 * latency, and what it answers is learnt.  A refused table change is
 * undone.  No I/O here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vu_session.h"

static struct vu_pending *entry(struct vu_session *s, size_t i)
{
	return &s->pending[(s->pending_head + i) % VU_MAX_PENDING];
}

static void entry_free(struct vu_pending *p)
{
	free(p->added);
	free(p->removed);
	p->added = p->removed = NULL;
	p->has_change = false;
}

/* Drops the oldest entry. */
static void pop(struct vu_session *s)
{
	entry_free(entry(s, 0));
	s->pending_head = (s->pending_head + 1) % VU_MAX_PENDING;
	s->npending--;
}

int vu_pending_push(struct hctx *h, bool sure)
{
	struct vu_session *s = h->s;
	const struct vu_msg *m = h->m;

	if (!s->pending && !(s->pending = calloc(VU_MAX_PENDING, sizeof(*s->pending))))
		return -ENOMEM;
	if (s->npending == VU_MAX_PENDING) {
		/* The engine reads no request past the bound; only acks that
		 * the backend never sent can fill it: the oldest is given up. */
		pop(s);
		s->unanswered++;
	}
	*entry(s, s->npending) = (struct vu_pending){
		.msg = h->idx, .request = m->request, .sure = sure, .time_ns = m->time_ns,
		.arg = m->size,
		.due = sure || vu_acked_protocol(s, VHOST_USER_PROTOCOL_F_REPLY_ACK),
	};
	if (m->request == VHOST_USER_GET_VRING_BASE && m->size >= 4)
		entry(s, s->npending)->arg = get_u32(m, 0);
	s->npending++;
	return 0;
}

struct vu_pending *vu_pending_of(struct hctx *h)
{
	struct vu_session *s = h->s;
	struct vu_pending *p;

	if (!s->npending)
		return NULL;
	p = entry(s, s->npending - 1);
	return p->msg == h->idx ? p : NULL;
}

void vu_pending_clean(struct vu_session *s)
{
	while (s->pending && s->npending)
		pop(s);
	free(s->pending);
	s->pending = NULL;
}

/* Whether the request's reply is a u64 (its ack too). */
static bool u64_reply(uint32_t request, bool sure)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
		return true;
	default:
		return !sure;
	}
}

static bool table_request(uint32_t request)
{
	return request == VHOST_USER_SET_MEM_TABLE || request == VHOST_USER_ADD_MEM_REG ||
	       request == VHOST_USER_REM_MEM_REG;
}

/* What the reply answers, learnt into the session. */
static int learn(struct vu_session *s, const struct vu_msg *m, const struct vu_pending *p,
		 struct vu_reply_rec *rec)
{
	const char *name = vu_request_label(p->request);
	uint64_t v = 0;
	int rc = 0;

	if (u64_reply(p->request, p->sure)) {
		if (m->size != 8)
			return vu_session_violation(s, p->msg, p->request, "the backend's reply "
						    "to %s carries %" PRIu32 " payload bytes, not 8",
						    name, m->size);
		v = get_u64(m, 0);
		rec->value = v;
		rec->has_value = true;
	}
	switch (p->sure ? p->request : 0) {
	case VHOST_USER_GET_FEATURES:
		s->features = v;
		s->has_features = true;
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		s->protocol_features = v;
		s->has_protocol_features = true;
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		s->cfg.queues = v;
		break;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		s->cfg.max_slots = v < VU_MAX_SLOTS ? v : VU_MAX_SLOTS;
		if (v > VU_MAX_SLOTS)
			rc = vu_session_violation(s, p->msg, p->request, "the backend announces "
						  "%" PRIu64 " memory slots; vmmap follows at "
						  "most %d", v, VU_MAX_SLOTS);
		break;
	case VHOST_USER_GET_VRING_BASE:
		if (m->size != 8)
			return vu_session_violation(s, p->msg, p->request, "the backend's reply "
						    "to GET_VRING_BASE carries %" PRIu32
						    " payload bytes, not 8", m->size);
		rec->vring[0] = get_u32(m, 0);
		rec->vring[1] = get_u32(m, 4);
		rec->has_vring = true;
		break;
	case VHOST_USER_GET_CONFIG:
		/* The reply has the request's size (QEMU refuses any other). */
		if (m->size != p->arg)
			rc = vu_session_violation(s, p->msg, p->request, "the backend's reply to "
						  "GET_CONFIG carries %" PRIu32 " payload bytes; "
						  "the request asked for %" PRIu64, m->size,
						  p->arg);
		if (m->size >= 12) {
			uint32_t n = m->size - 12;

			s->config_offset = get_u32(m, 0);
			s->config_size = n < VU_MAX_CONFIG ? n : VU_MAX_CONFIG;
			memcpy(s->config, m->payload + 12, s->config_size);
			s->has_config = true;
		}
		break;
	}
	return rc;
}

/* The reply's own form: flags exactly VERSION|REPLY, and a reply at all
 * only where one is due. */
static int conform(struct vu_session *s, const struct vu_msg *m, const struct vu_pending *p)
{
	const char *name = vu_request_label(p->request);

	if (m->flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK) &&
	    vu_session_violation(s, p->msg, p->request, "the backend's reply to %s has "
				 "flags 0x%" PRIx32 ", not 0x5 (VERSION|REPLY)", name, m->flags))
		return -ENOMEM;
	if (!p->due &&
	    vu_session_violation(s, p->msg, p->request, "the backend replied to %s's "
				 "NEED_REPLY without REPLY_ACK negotiated", name))
		return -ENOMEM;
	if (p->sure && p->request == VHOST_USER_GET_INFLIGHT_FD && m->size != 24 &&
	    vu_session_violation(s, p->msg, p->request, "the backend's reply to "
				 "GET_INFLIGHT_FD carries %" PRIu32 " payload bytes; QEMU "
				 "expects 24", m->size))
		return -ENOMEM;
	return 0;
}

/* A refused request: the finding, and a table change undone. */
static int refused(struct vu_session *s, const struct vu_msg *m, const struct vu_pending *p)
{
	const char *name = vu_request_label(p->request);
	int rc;

	if (!table_request(p->request)) {
		struct hctx h = { .s = s, .m = m, .idx = p->msg };

		vu_warn(&h, "the backend refused %s (status %" PRIu64 ")", name,
			get_u64(m, 0));
		return h.nomem ? -ENOMEM : 0;
	}
	if (!s->unknown_state) {
		s->unknown_state = true;
		s->unknown_from = p->msg;
	}
	rc = vu_session_violation(s, p->msg, p->request, "the backend refused %s (status "
				  "%" PRIu64 "): the table is back to the last one it "
				  "accepted, and its state is unknown from this message on",
				  name, get_u64(m, 0));
	if (!rc && p->has_change)
		rc = vu_mem_undo(s, p, m->time_ns);
	return rc;
}

int vu_session_reply(struct vu_session *s, const struct vu_msg *m,
		     struct vu_reply_rec *out)
{
	struct vu_reply_rec rec = { .msg = SIZE_MAX, .request = m->request,
				    .flags = m->flags, .size = m->size, .nfds = m->nfds,
				    .time_ns = m->time_ns };
	size_t last = s->nmsgs ? s->nmsgs - 1 : 0, i;
	struct vu_pending p;
	int rc = 0;

	*out = rec;
	if (!(m->flags & VHOST_USER_REPLY_MASK))
		return vu_session_violation(s, last, m->request, "the backend sent %s without "
					    "the REPLY flag on the main channel (forwarded)",
					    vu_request_label(m->request));
	/* Its request: the oldest entry of the same request; acks a backend
	 * may leave unsent are passed over, a data reply is not. */
	for (i = 0; i < s->npending; i++)
		if (entry(s, i)->request == m->request || entry(s, i)->sure)
			break;
	if (i == s->npending || entry(s, i)->request != m->request)
		return vu_session_violation(s, last, m->request, "the backend replied to %s, "
					    "which no request awaits (forwarded)",
					    vu_request_label(m->request));
	/* Acks passed over were never sent: a fault when they were due. */
	for (; i; i--) {
		if (entry(s, 0)->due &&
		    vu_session_violation(s, entry(s, 0)->msg, entry(s, 0)->request, "the "
					 "backend sent no reply to %s, which asked NEED_REPLY "
					 "with REPLY_ACK negotiated",
					 vu_request_label(entry(s, 0)->request)))
			return -ENOMEM;
		pop(s);
		s->unanswered++;
	}
	p = *entry(s, 0);
	/* The entry's undo stays ours until used. */
	entry(s, 0)->added = entry(s, 0)->removed = NULL;
	entry(s, 0)->has_change = false;
	pop(s);
	rec.msg = p.msg;
	i = p.request < VHOST_USER_MAX_REQUEST ? p.request : VHOST_USER_MAX_REQUEST;
	rec.latency_ns = m->time_ns > p.time_ns ? m->time_ns - p.time_ns : 0;
	s->replies_total++;
	s->reply_counts[i]++;
	s->latency_sum_ns[i] += rec.latency_ns;
	if (rec.latency_ns > s->latency_max_ns[i])
		s->latency_max_ns[i] = rec.latency_ns;
	rc = conform(s, m, &p);
	if (!rc)
		rc = learn(s, m, &p, &rec);
	if (!rc && !p.sure && rec.has_value && rec.value)
		rc = refused(s, m, &p);
	if (!rc && rec.latency_ns >= VU_SLOW_REPLY_NS) {
		struct hctx h = { .s = s, .m = m, .idx = p.msg };

		vu_warn(&h, "the backend took %.3f s to answer %s",
			(double)rec.latency_ns / 1e9, vu_request_label(p.request));
		rc = h.nomem ? -ENOMEM : 0;
	}
	if (!rc && s->nreplies < VU_MAX_REPLIES) {
		if (vu_grow((void **)&s->replies, s->nreplies, sizeof(*s->replies)))
			rc = -ENOMEM;
		else
			s->replies[s->nreplies++] = rec;
	}
	*out = rec;
	entry_free(&p);
	return rc;
}
