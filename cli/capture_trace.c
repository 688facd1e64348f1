/*
 * What a capture says as it runs: the --follow trace (the frontend's
 * messages, and when forwarding the backend's replies and the backend
 * channel, as text or JSON lines), violations and one-line events, for the
 * command and the shell's background capture alike (cmd_capture.c).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"
#include "vhost_user.h"
#include "vu_capture.h"

/* A region of a decoded payload (vm_json_region's object) in one line:
 * guest range, size, user address, offset, descriptor identity. */
static void text_region(FILE *f, json_t *r)
{
	uint64_t gpa = strtoull(json_string_value(json_object_get(r, "guest_phys_addr")), NULL, 16);
	uint64_t size = strtoull(json_string_value(json_object_get(r, "memory_size")), NULL, 16);
	json_t *fd = json_object_get(r, "fd");
	char range[CLI_RANGE_MAX], sz[VM_SIZE_MAX];

	if (size)
		cli_fmt_range(range, gpa, gpa + (size - 1 < UINT64_MAX - gpa ? size - 1
									   : UINT64_MAX - gpa));
	else
		snprintf(range, sizeof(range), "0x%" PRIx64 " (empty)", gpa);
	vm_fmt_size(sz, size);
	fprintf(f, "\n    region %s %s uaddr %s offset %s", range, sz,
		json_string_value(json_object_get(r, "userspace_addr")),
		json_string_value(json_object_get(r, "mmap_offset")));
	if (fd) {
		json_t *ino = json_object_get(fd, "ino");

		fprintf(f, " fd %s", json_string_value(json_object_get(fd, "type")));
		if (json_object_get(fd, "path"))
			fprintf(f, " %s", cli_safe(json_string_value(json_object_get(fd, "path"))));
		fprintf(f, " dev %s ino ", json_string_value(json_object_get(fd, "dev")));
		if (json_is_integer(ino))
			fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(ino));
		else
			fprintf(f, "%s", json_string_value(ino));
	}
}

/* The regions of a decoded payload, each on a line of its own (they end
 * the message's text). */
static void text_regions(FILE *f, json_t *o)
{
	json_t *v = json_object_get(o, "regions");

	if (json_object_get(o, "region"))
		text_region(f, json_object_get(o, "region"));
	for (size_t i = 0; i < json_array_size(v); i++)
		text_region(f, json_array_get(v, i));
}

/* A decoded payload (vu_decode_payload) but its regions as " key value"
 * pairs, names of bits joined by '|'. */
static void text_fields(FILE *f, json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (!strcmp(key, "region") || !strcmp(key, "regions")) {
			continue;
		} else if (json_is_array(v)) {
			fprintf(f, " %s ", key);
			if (!json_array_size(v))
				fputc('-', f);
			for (size_t i = 0; i < json_array_size(v); i++)
				fprintf(f, "%s%s", i ? "|" : "", json_string_value(json_array_get(v, i)));
		} else if (json_is_string(v)) {
			fprintf(f, " %s %s", key, cli_safe(json_string_value(v)));
		} else if (json_is_integer(v)) {
			fprintf(f, " %s %" JSON_INTEGER_FORMAT, key, json_integer_value(v));
		} else if (json_is_boolean(v)) {
			fprintf(f, " %s %s", key, json_is_true(v) ? "yes" : "no");
		} else if (json_is_null(v)) {
			fprintf(f, " %s %s", key, strstr(key, "_gpa") ? "unmapped" : "-");
		}
	}
}

/* One JSON line of the trace (o may be NULL: out of memory, nothing). */
static void json_line(struct cli_capture *c, json_t *o)
{
	if (!o)
		return;
	json_dumpf(o, c->follow, JSON_COMPACT);
	fputc('\n', c->follow);
	json_decref(o);
}

void cli_capture_violation(void *arg, struct vu_capture *vc, const struct vu_violation *v)
{
	struct cli_capture *c = arg;
	const char *pre = c->shell_name ? cli_status_start() : "vmmap: capture",
		   *who = c->shell_name ? c->shell_name : "";

	(void)vc;
	if (!v)
		fprintf(stderr, "%s%s: more than %d violations: the rest are counted, not "
			"listed\n", pre, who, VU_MAX_VIOLATIONS);
	else if (c->shell_name)
		fprintf(stderr, "%s%s: message %zu (%s): %s\n", pre, who, v->msg,
			vu_request_label(v->request), v->what);
	else
		fprintf(stderr, "%s: message %zu (%s): %s\n", pre, v->msg,
			vhost_user_request_name(v->request) ? vhost_user_request_name(v->request)
							    : "unknown request", v->what);
}

/* The start of a text line for a message that is not a frontend request:
 * time, arrow and index ("?" when nothing awaited it), request, header
 * fields, and what the payload says. */
static void text_head(struct cli_capture *c, const struct vu_msg *m, const char *arrow,
		      const char *name, const struct vu_reply_rec *rec, json_t *fields)
{
	fprintf(c->follow, "+%.6fs %s", (double)m->time_ns / 1e9, arrow);
	if (rec->msg != SIZE_MAX)
		fprintf(c->follow, "%zu ", rec->msg);
	else
		fprintf(c->follow, "? ");
	fprintf(c->follow, "%s flags 0x%" PRIx32 " size %" PRIu32 " fds %zu",
		name ? name : "unknown", m->flags, m->size, m->nfds);
	text_fields(c->follow, fields);
}

/* The end of a text line: its regions, a newline. */
static void text_end(struct cli_capture *c, json_t *fields)
{
	text_regions(c->follow, fields);
	fputc('\n', c->follow);
}

/* A message's payload decoded (NULL: out of memory, shown as nothing). */
static json_t *decode(const struct vu_capture *vc, enum vu_decode_kind kind,
		      const struct vu_msg *m)
{
	return vu_decode_payload(&vc->s, kind, m->request, m->payload, m->size,
				 kind == VU_DECODE_REQUEST ? m->fd_facts : NULL, m->nfds);
}

/* The table change a follow line ends with. */
static void table_note(struct cli_capture *c, const struct vu_session *s, bool changed)
{
	if (changed && s->updates_total == s->nupdates) {
		const struct vu_update *u = &s->updates[s->nupdates - 1];

		fprintf(c->follow, "  table: %s+%zu -%zu = %zu region%s",
			u->rollback ? "refused, undone: " : "", u->nadded, u->nremoved,
			u->nregions, u->nregions == 1 ? "" : "s");
	} else if (changed) {
		fprintf(c->follow, "  table: %zu region%s", s->table.umem.nregions,
			s->table.umem.nregions == 1 ? "" : "s");
	}
}

void cli_capture_follow(void *arg, struct vu_capture *vc, const struct vu_msg *m,
			const struct vu_reply *r, size_t updates_before)
{
	struct cli_capture *c = arg;
	const struct vu_session *s = &vc->s;
	const char *name = vhost_user_request_name(m->request);
	bool changed = s->updates_total > updates_before;
	json_t *fields, *rfields = NULL;

	if (!c->follow)
		return;
	fields = decode(vc, VU_DECODE_REQUEST, m);
	/* As the backend: what vmmap answered. */
	if (r->len >= VHOST_USER_HDR_SIZE)
		rfields = vu_decode_payload(s, VU_DECODE_REPLY, m->request,
					    r->buf + VHOST_USER_HDR_SIZE,
					    (uint32_t)(r->len - VHOST_USER_HDR_SIZE), NULL, 0);
	if (c->json) {
		json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:b}",
				      "message", (json_int_t)(s->nmsgs - 1),
				      "time_ns", (json_int_t)m->time_ns,
				      "request_id", (json_int_t)m->request,
				      "request", name ? name : "unknown",
				      "flags", (json_int_t)m->flags,
				      "size", (json_int_t)m->size,
				      "fds", (json_int_t)m->nfds, "reply", r->len > 0);

		if (o && vc->forwarding &&
		    json_object_set_new(o, "direction", json_string("to-backend")))
			json_decref(o), o = NULL;
		if (o && changed)
			json_object_set_new(o, "regions",
					    json_integer((json_int_t)s->table.umem.nregions));
		vm_json_put(&o, "payload", json_incref(fields));
		if (rfields)
			vm_json_put(&o, "reply_payload", json_incref(rfields));
		json_line(c, o);
	} else {
		fprintf(c->follow, "+%.6fs %s#%zu %s flags 0x%" PRIx32 " size %" PRIu32
			" fds %zu", (double)m->time_ns / 1e9, vc->forwarding ? "-> " : "",
			s->nmsgs - 1, name ? name : "unknown", m->flags, m->size, m->nfds);
		text_fields(c->follow, fields);
		if (r->len) {
			fprintf(c->follow, " -> reply");
			text_fields(c->follow, rfields);
		}
		table_note(c, s, changed);
		text_end(c, fields);
	}
	json_decref(fields);
	json_decref(rfields);
	fflush(c->follow);
}

/* Forwarding: the backend's message, with its request and latency. */
void cli_capture_follow_reply(void *arg, struct vu_capture *vc, const struct vu_msg *m,
			 const struct vu_reply_rec *rec, size_t updates_before)
{
	struct cli_capture *c = arg;
	const struct vu_session *s = &vc->s;
	const char *name = vhost_user_request_name(m->request);
	bool matched = rec->msg != SIZE_MAX;
	json_t *fields;

	if (!c->follow)
		return;
	fields = decode(vc, VU_DECODE_REPLY, m);
	if (c->json) {
		json_t *o = json_pack("{s:o, s:I, s:I, s:s, s:I, s:I, s:I, s:s, s:o}",
				      "reply_to", matched ? json_integer((json_int_t)rec->msg)
							  : json_null(),
				      "time_ns", (json_int_t)m->time_ns,
				      "request_id", (json_int_t)m->request,
				      "request", name ? name : "unknown",
				      "flags", (json_int_t)m->flags,
				      "size", (json_int_t)m->size,
				      "fds", (json_int_t)m->nfds, "direction", "to-frontend",
				      "latency_ns", matched ? json_integer((json_int_t)rec->latency_ns)
							    : json_null());

		if (o && rec->has_value &&
		    json_object_set_new(o, "value", vm_json_hex(rec->value)))
			json_decref(o), o = NULL;
		if (o && rec->has_vring &&
		    json_object_set_new(o, "vring", json_pack("{s:I, s:I}", "index",
				(json_int_t)rec->vring[0], "num", (json_int_t)rec->vring[1])))
			json_decref(o), o = NULL;
		if (o && s->updates_total > updates_before &&
		    json_object_set_new(o, "regions",
					json_integer((json_int_t)s->table.umem.nregions)))
			json_decref(o), o = NULL;
		vm_json_put(&o, "payload", json_incref(fields));
		json_line(c, o);
	} else {
		text_head(c, m, "<- #", name, rec, fields);
		if (matched)
			fprintf(c->follow, "  %.3f ms", (double)rec->latency_ns / 1e6);
		else
			fprintf(c->follow, "  (no request awaits it)");
		table_note(c, s, s->updates_total > updates_before);
		text_end(c, fields);
	}
	json_decref(fields);
	fflush(c->follow);
}

/* Forwarding: a message relayed on the backend's request channel: <= a
 * backend request (B#n: its index there), => the frontend's reply. */
void cli_capture_follow_channel(void *arg, struct vu_capture *vc, const struct vu_msg *m,
			   const struct vu_reply_rec *rec)
{
	struct cli_capture *c = arg;
	const char *name = vhost_user_backend_request_name(m->request);
	bool req = rec->is_request, matched = rec->msg != SIZE_MAX;
	json_t *fields;

	if (!c->follow)
		return;
	fields = decode(vc, req ? VU_DECODE_BACKEND_REQUEST : VU_DECODE_BACKEND_REPLY, m);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:o, s:I, s:I, s:s, s:I, s:I, s:I, s:o}",
				      "channel", "backend", req ? "backend_message" : "reply_to",
				      matched ? json_integer((json_int_t)rec->msg) : json_null(),
				      "time_ns", (json_int_t)m->time_ns,
				      "request_id", (json_int_t)m->request,
				      "request", name ? name : "unknown",
				      "flags", (json_int_t)m->flags, "size", (json_int_t)m->size,
				      "fds", (json_int_t)m->nfds,
				      "latency_ns", !req && matched
					? json_integer((json_int_t)rec->latency_ns) : json_null());

		if (o && rec->has_value &&
		    json_object_set_new(o, "value", vm_json_hex(rec->value)))
			json_decref(o), o = NULL;
		vm_json_put(&o, "payload", json_incref(fields));
		json_line(c, o);
	} else {
		text_head(c, m, req ? "<= B#" : "=> B#", name, rec, fields);
		if (!req && matched)
			fprintf(c->follow, "  %.3f ms", (double)rec->latency_ns / 1e6);
		else if (!req)
			fprintf(c->follow, "  (no backend request awaits it)");
		text_end(c, fields);
	}
	json_decref(fields);
	fflush(c->follow);
}

/* A line outside a session (a frontend sent away). */
void cli_capture_event(void *arg, struct vu_capture *vc, const char *line)
{
	struct cli_capture *c = arg;

	(void)vc;
	if (c->shell_name)
		fprintf(stderr, "%s%s: %s\n", cli_status_start(), c->shell_name, line);
	else
		fprintf(stderr, "vmmap: capture: %s\n", line);
}
