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

json_t *vu_session_to_json(const struct vu_session *s, const char *end)
{
	json_t *doc = vm_table_to_json(&s->table, 0);
	json_t *rings = json_array(), *timeline = json_array();
	json_t *violations = findings_json(s->violations, s->nviolations);
	json_t *warnings = findings_json(s->warnings, s->nwarnings);
	json_t *requests = json_object(), *cap;

	for (int i = 0; rings && i < VU_MAX_VRINGS; i++) {
		const struct vu_vring *v = &s->vring[i];
		json_t *o;

		if (!v->has_num && !v->has_base && !v->has_addr)
			continue;
		o = json_pack("{s:i, s:i, s:i, s:b}", "index", i, "num", (int)v->num,
			      "base", (int)v->base, "enabled", v->enabled);
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
	for (size_t i = 0; timeline && i < s->nupdates; i++) {
		const struct vu_update *u = &s->updates[i];

		if (json_array_append_new(timeline, json_pack("{s:I, s:s, s:I, s:o, s:o, s:I}",
				"message", (json_int_t)u->msg,
				"request", name_of(u->request),
				"time_ns", (json_int_t)u->time_ns,
				"added", regions_json(u->added, u->nadded),
				"removed", regions_json(u->removed, u->nremoved),
				"regions", (json_int_t)u->nregions))) {
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
			"features", "offered", vm_json_hex(s->features),
			"acked", s->has_acked_features ? vm_json_hex(s->acked_features)
						       : json_null(),
			"protocol_features", "offered", vm_json_hex(s->protocol_features),
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
	if (!doc || !cap || json_object_set_new(doc, "capture", cap)) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
