/*
 * Checks shared by the vhost-user fuzz targets: a reply is well formed, and
 * a capture document's table always loads back.
 */
#ifndef VMMAP_FUZZ_VU_COMMON_H
#define VMMAP_FUZZ_VU_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "vhost_user.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s\n", #c); abort(); } } while (0)

static inline void check_reply(const struct vu_msg *m, const struct vu_reply *r)
{
	uint32_t hdr[3];

	if (!r->len)
		return;
	CHECK(r->len >= VHOST_USER_HDR_SIZE && r->len <= sizeof(r->buf));
	memcpy(hdr, r->buf, sizeof(hdr));
	CHECK(hdr[0] == m->request);
	CHECK(hdr[1] == (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK));
	CHECK(hdr[2] == r->len - VHOST_USER_HDR_SIZE);
}

static inline void check_session(const struct vu_session *s)
{
	const struct vm_umem *u = &s->table.umem;

	CHECK(vm_itree_check(&u->gpa_tree) == NULL);
	CHECK(vm_itree_check(vm_umem_tree(u, VM_SPACE_UADDR)) == NULL);
	/* Forwarding follows the backend's slot count, which may come late
	 * or shrink; vmmap's own bound holds all the same. */
	CHECK(u->nregions <= (s->cfg.observer ? VU_MAX_SLOTS
			      : s->cfg.max_slots > VHOST_MEMORY_BASELINE_NREGIONS
			      ? s->cfg.max_slots : VHOST_MEMORY_BASELINE_NREGIONS));
	CHECK(s->npending <= VU_MAX_PENDING && s->nreplies <= VU_MAX_REPLIES);
	CHECK(s->nviolations <= VU_MAX_VIOLATIONS && s->nupdates <= VU_MAX_UPDATES);
}

/* The capture document is built whole, and its table loads back holding
 * the same regions.  Loading the whole document costs twice as much: the
 * loader lexes the "capture" member only to skip it. */
static inline void check_document(const struct vu_session *s)
{
	json_t *doc = vu_session_to_json(s, "replay");
	struct vm_table t;
	struct vm_error err;
	char *text;

	/* Skipping a generic object is fuzz_json's work (its seeds include
	 * real captures). */
	CHECK(doc && json_object_get(doc, "capture"));
	json_object_del(doc, "capture");
	text = json_dumps(doc, JSON_COMPACT);
	CHECK(text);
	vm_table_init(&t);
	if (vm_table_load_buffer(&t, "capture", text, strlen(text), 0, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	CHECK(t.umem.nregions == s->table.umem.nregions);
	vm_table_clean(&t);
	free(text);
	json_decref(doc);
}

#endif
