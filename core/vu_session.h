/*
 * The session's private parts, shared by the request handlers
 * (vhost_user.c: the request table; vu_mem.c: the memory table requests).
 */
#ifndef VMMAP_VU_SESSION_H
#define VMMAP_VU_SESSION_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vhost_user.h"

#define BIT(n) (UINT64_C(1) << (n))

/* The message being handled, so checks can report against it. */
struct hctx {
	struct vu_session *s;
	const struct vu_msg *m;
	size_t idx;
	int nomem;
	bool failed;  /* what the REPLY_ACK reports */
	bool size_ok; /* the payload has the size its row says */
};

/* Findings against the message being handled: a violation (which fails
 * the request's REPLY_ACK) or a warning. */
__attribute__((format(printf, 2, 3)))
void vu_bad(struct hctx *h, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void vu_warn(struct hctx *h, const char *fmt, ...);
const char *vu_plural(size_t n);
/* The descriptor count must be n; a violation if not. */
void vu_want_fds(struct hctx *h, size_t n);
bool vu_acked_protocol(const struct vu_session *s, int bit);
/* Room for one more element in a doubling array of n; 0 or -ENOMEM. */
int vu_grow(void **v, size_t n, size_t size);

static inline void reply_bytes(struct vu_reply *r, uint32_t request, const void *p,
			uint32_t n)
{
	uint32_t hdr[3] = { request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, n };

	memcpy(r->buf, hdr, sizeof(hdr));
	memcpy(r->buf + VHOST_USER_HDR_SIZE, p, n);
	r->len = VHOST_USER_HDR_SIZE + n;
}

static inline void reply_u64(struct vu_reply *r, uint32_t request, uint64_t v)
{
	reply_bytes(r, request, &v, sizeof(v));
}

static inline uint64_t get_u64(const struct vu_msg *m, size_t off)
{
	uint64_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

static inline uint32_t get_u32(const struct vu_msg *m, size_t off)
{
	uint32_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

/* Forwarding (vu_reply.c): a request that awaits the backend's reply
 * (sure: a data reply; else a NEED_REPLY ack), and the entries' cleanup. */
int vu_pending_push(struct hctx *h, bool sure);
void vu_pending_clean(struct vu_session *s);
/* The entry of the message being handled, or NULL. */
struct vu_pending *vu_pending_of(struct hctx *h);

/* The device type's offers (vu_device.c), and GET_CONFIG's answer. */
void vu_device_offers(const struct vu_config *cfg, uint64_t *features, uint64_t *protocol);
void vu_device_get_config(struct hctx *h, struct vu_reply *r);
void vu_device_get_inflight(struct hctx *h, struct vu_reply *r);

/* SET_MEM_TABLE, ADD_MEM_REG and REM_MEM_REG (vu_mem.c). */
/* Undoes the change of a refused request p, recorded as a rollback at
 * time_ns.  0 or -ENOMEM. */
int vu_mem_undo(struct vu_session *s, const struct vu_pending *p, uint64_t time_ns);
void vu_mem_table_request(struct hctx *h, struct vu_reply *r);

#endif
