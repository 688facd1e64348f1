/*
 * A capture session as a vmmap document (vhost_user.h: vu_session_to_json).
 */
#include <inttypes.h>
#include <stdio.h>

#include "vhost_user.h"

static const char *name_of(uint32_t request)
{
	const char *n = vhost_user_request_name(request);

	return n ? n : "unknown request";
}

static json_t *regions_json(const struct vm_region *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, vm_json_region(&v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* A ring address: the frontend's user address and, when the table maps it,
 * the guest-physical one. */
static json_t *ring_addr_json(const struct vm_umem *umem, uint64_t uaddr)
{
	struct vm_piece p;
	struct vm_translation tr;
	int mapped = vm_umem_translate(umem, NULL, VM_SPACE_UADDR, uaddr, 1, &p, 1, &tr) == 0;

	return json_pack("{s:o, s:o}", "userspace_addr", vm_json_hex(uaddr),
			 "guest_phys_addr", mapped ? vm_json_hex(p.guest_phys_addr)
						   : json_null());
}

/* Violations or warnings as [{"message", "request", "problem"}]. */
static json_t *findings_json(const struct vu_violation *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_pack("{s:I, s:s, s:s}",
				"message", (json_int_t)v[i].msg,
				"request", name_of(v[i].request), "problem", v[i].what))) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

static json_t *reply_json(const struct vu_reply_rec *r)
{
	json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I}",
			      "message", (json_int_t)r->msg, "request", name_of(r->request),
			      "flags", (json_int_t)r->flags, "size", (json_int_t)r->size,
			      "fds", (json_int_t)r->nfds, "time_ns", (json_int_t)r->time_ns,
			      "latency_ns", (json_int_t)r->latency_ns);

	if (o && r->has_value && json_object_set_new(o, "value", vm_json_hex(r->value)))
		json_decref(o), o = NULL;
	if (o && r->has_vring &&
	    json_object_set_new(o, "vring", json_pack("{s:I, s:I}", "index",
			(json_int_t)r->vring[0], "num", (json_int_t)r->vring[1])))
		json_decref(o), o = NULL;
	return o;
}

/* Forwarding: the backend's request channel as relayed. */
static json_t *channel_json(const struct vu_session *s)
{
	const struct vu_backend_channel *ch = &s->chan;
	json_t *log = json_array(), *counts = json_object(), *o;

	for (size_t i = 0; log && i < ch->nlog; i++) {
		const struct vu_reply_rec *r = &ch->log[i];
		const char *n = vhost_user_backend_request_name(r->request);
		json_t *e = json_pack("{s:s, s:o, s:s, s:I, s:I, s:I, s:I}",
				      "direction", r->is_request ? "to-frontend" : "to-backend",
				      r->is_request ? "backend_message" : "reply_to",
				      r->msg == SIZE_MAX ? json_null()
							 : json_integer((json_int_t)r->msg),
				      "request", n ? n : "unknown",
				      "flags", (json_int_t)r->flags, "size", (json_int_t)r->size,
				      "fds", (json_int_t)r->nfds, "time_ns", (json_int_t)r->time_ns);

		if (e && !r->is_request && r->msg != SIZE_MAX &&
		    json_object_set_new(e, "latency_ns", json_integer((json_int_t)r->latency_ns)))
			json_decref(e), e = NULL;
		if (e && r->has_value && json_object_set_new(e, "value", vm_json_hex(r->value)))
			json_decref(e), e = NULL;
		if (json_array_append_new(log, e))
			json_decref(log), log = NULL;
	}
	for (uint32_t r = 0; counts && r < VHOST_USER_BACKEND_MAX_REQUEST; r++)
		if (ch->counts[r] && json_object_set_new(counts,
				vhost_user_backend_request_name(r) ? vhost_user_backend_request_name(r)
								   : "unknown",
				json_integer((json_int_t)ch->counts[r])))
			json_decref(counts), counts = NULL;
	o = json_pack("{s:b, s:b, s:I, s:I, s:o, s:I, s:I, s:o, s:I}",
		      "relayed", ch->relayed, "open", ch->open,
		      "handovers", (json_int_t)ch->handovers,
		      "messages", (json_int_t)ch->nmsgs, "requests", counts,
		      "replies", (json_int_t)ch->replies_total,
		      "unanswered", (json_int_t)(ch->unanswered + ch->nwait), "log", log,
		      "log_unlisted", (json_int_t)(ch->log_total - ch->nlog));
	return o;
}

/* Forwarding: the backend's replies, their latency per request, the last
 * config space, and from where the backend's state is unknown. */
static json_t *forward_json(const struct vu_session *s)
{
	static const char digits[] = "0123456789abcdef";
	json_t *replies = json_array(), *latency = json_object(), *o;
	char hex[2 * VU_MAX_CONFIG + 1];

	for (size_t i = 0; replies && i < s->nreplies; i++)
		if (json_array_append_new(replies, reply_json(&s->replies[i])))
			json_decref(replies), replies = NULL;
	for (uint32_t r = 0; latency && r <= VHOST_USER_MAX_REQUEST; r++)
		if (s->reply_counts[r] && json_object_set_new(latency,
				vhost_user_request_name(r) ? vhost_user_request_name(r) : "unknown",
				json_pack("{s:I, s:I, s:I}", "replies", (json_int_t)s->reply_counts[r],
					  "mean_ns", (json_int_t)(s->latency_sum_ns[r] /
								  s->reply_counts[r]),
					  "max_ns", (json_int_t)s->latency_max_ns[r])))
			json_decref(latency), latency = NULL;
	o = json_pack("{s:o, s:I, s:I, s:I, s:o, s:o}", "replies", replies,
		      "replies_total", (json_int_t)s->replies_total,
		      "replies_unlisted", (json_int_t)(s->replies_total - s->nreplies),
		      "unanswered", (json_int_t)(s->unanswered + s->npending),
		      "latency", latency,
		      "backend_state_unknown_from",
		      s->unknown_state ? json_integer((json_int_t)s->unknown_from) : json_null());
	if (o && s->has_config) {
		for (uint32_t i = 0; i < s->config_size; i++) {
			hex[2 * i] = digits[s->config[i] >> 4];
			hex[2 * i + 1] = digits[s->config[i] & 15];
		}
		hex[2 * s->config_size] = '\0';
		if (json_object_set_new(o, "config", json_pack("{s:I, s:I, s:s}",
				"offset", (json_int_t)s->config_offset,
				"size", (json_int_t)s->config_size, "bytes", hex)))
			json_decref(o), o = NULL;
	}
	return o;
}

json_t *vu_session_rings_json(const struct vu_session *s)
{
	json_t *rings = json_array();

	for (int i = 0; rings && i < VU_MAX_VRINGS; i++) {
		const struct vu_vring *v = &s->vring[i];
		json_t *o;

		if (!v->has_num && !v->has_base && !v->has_addr)
			continue;
		o = json_pack("{s:i, s:i, s:i, s:b, s:b}", "index", i, "num", (int)v->num,
			      "base", (int)v->base, "enabled", v->enabled, "started", v->started);
		if (o && v->has_addr &&
		    (json_object_set_new(o, "flags", json_integer(v->addr_flags)) ||
		     json_object_set_new(o, "desc", ring_addr_json(&s->table.umem, v->desc)) ||
		     json_object_set_new(o, "avail", ring_addr_json(&s->table.umem, v->avail)) ||
		     json_object_set_new(o, "used", ring_addr_json(&s->table.umem, v->used)) ||
		     json_object_set_new(o, "log", vm_json_hex(v->log)))) {
			json_decref(o);
			o = NULL;
		}
		if (json_array_append_new(rings, o)) {
			json_decref(rings);
			rings = NULL;
		}
	}
	return rings;
}

json_t *vu_session_ring_view(const struct vu_session *s)
{
	return json_pack("{s:o, s:{s:o}, s:o}", "rings", vu_session_rings_json(s), "features",
			 "acked", s->has_acked_features ? vm_json_hex(s->acked_features)
							: json_null(),
			 "device", s->cfg.observer ? json_null()
			 : json_string(vu_device_type_names[s->cfg.type < VU_DEV_NTYPES
							    ? s->cfg.type : 0]));
}

json_t *vu_session_to_json(const struct vu_session *s, const char *end)
{
	json_t *doc = vm_table_to_json(&s->table, 0);
	json_t *rings = vu_session_rings_json(s), *timeline = json_array();
	json_t *violations = findings_json(s->violations, s->nviolations);
	json_t *warnings = findings_json(s->warnings, s->nwarnings);
	json_t *requests = json_object(), *cap;

	for (size_t i = 0; timeline && i < s->nupdates; i++) {
		const struct vu_update *u = &s->updates[i];

		json_t *e = json_pack("{s:I, s:s, s:I, s:o, s:o, s:I}",
				      "message", (json_int_t)u->msg,
				      "request", name_of(u->request),
				      "time_ns", (json_int_t)u->time_ns,
				      "added", regions_json(u->added, u->nadded),
				      "removed", regions_json(u->removed, u->nremoved),
				      "regions", (json_int_t)u->nregions);

		if (e && u->rollback && json_object_set_new(e, "rollback", json_true()))
			json_decref(e), e = NULL;
		if (json_array_append_new(timeline, e)) {
			json_decref(timeline);
			timeline = NULL;
		}
	}
	for (uint32_t r = 0; requests && r <= VHOST_USER_MAX_REQUEST; r++)
		if (s->counts[r] && json_object_set_new(requests,
				vhost_user_request_name(r) ? vhost_user_request_name(r) : "unknown",
				json_integer((json_int_t)s->counts[r]))) {
			json_decref(requests);
			requests = NULL;
		}
	cap = json_pack("{s:s, s:I, s:o, s:{s:o, s:o}, s:{s:o, s:o}, s:o, s:o, s:o, s:o}",
			"end", end,
			"messages", (json_int_t)s->nmsgs,
			"requests", requests,
			"features", "offered", s->has_features ? vm_json_hex(s->features)
							       : json_null(),
			"acked", s->has_acked_features ? vm_json_hex(s->acked_features)
						       : json_null(),
			"protocol_features", "offered", s->has_protocol_features
				? vm_json_hex(s->protocol_features) : json_null(),
			"acked", s->has_acked_protocol_features
				 ? vm_json_hex(s->acked_protocol_features) : json_null(),
			"rings", rings, "timeline", timeline, "violations", violations,
			"warnings", warnings);
	/* Past the lists' limits: how many more there were. */
	if (cap && s->updates_total > s->nupdates &&
	    json_object_set_new(cap, "timeline_unlisted",
				json_integer((json_int_t)(s->updates_total - s->nupdates))))
		json_decref(cap), cap = NULL;
	if (cap && s->violations_total > s->nviolations &&
	    json_object_set_new(cap, "violations_unlisted",
				json_integer((json_int_t)(s->violations_total -
							  s->nviolations))))
		json_decref(cap), cap = NULL;
	if (cap && s->warnings_total > s->nwarnings &&
	    json_object_set_new(cap, "warnings_unlisted",
				json_integer((json_int_t)(s->warnings_total -
							  s->nwarnings))))
		json_decref(cap), cap = NULL;
	/* As the backend: the device type vmmap answered as. */
	if (cap && !s->cfg.observer &&
	    json_object_set_new(cap, "device",
				json_string(vu_device_type_names[s->cfg.type < VU_DEV_NTYPES
								 ? s->cfg.type : 0])))
		json_decref(cap), cap = NULL;
	if (cap && s->cfg.observer &&
	    json_object_set_new(cap, "forward", forward_json(s)))
		json_decref(cap), cap = NULL;
	if (cap && s->cfg.observer &&
	    json_object_set_new(cap, "backend_channel", channel_json(s)))
		json_decref(cap), cap = NULL;
	if (!doc || !cap || json_object_set_new(doc, "capture", cap)) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
