/*
 * vhost-user backend session.  See vhost_user.h.
 */
#include "vhost_user.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vu_session.h"


static const char *const backend_request_names[VHOST_USER_BACKEND_MAX_REQUEST] = {
	[1] = "IOTLB_MSG", [2] = "CONFIG_CHANGE_MSG", [3] = "VRING_HOST_NOTIFIER_MSG",
	[4] = "VRING_CALL", [5] = "VRING_ERR", [6] = "SHARED_OBJECT_ADD",
	[7] = "SHARED_OBJECT_REMOVE", [8] = "SHARED_OBJECT_LOOKUP",
};

const char *vhost_user_backend_request_name(uint32_t request)
{
	return request < VHOST_USER_BACKEND_MAX_REQUEST ? backend_request_names[request]
							 : NULL;
}

static const char *const protocol_feature_names[] = {
	"MQ", "LOG_SHMFD", "RARP", "REPLY_ACK", "NET_MTU", "BACKEND_REQ",
	"CROSS_ENDIAN", "CRYPTO_SESSION", "PAGEFAULT", "CONFIG", "BACKEND_SEND_FD",
	"HOST_NOTIFIER", "INFLIGHT_SHMFD", "RESET_DEVICE", "INBAND_NOTIFICATIONS",
	"CONFIGURE_MEM_SLOTS", "STATUS", "XEN_MMAP", "SHARED_OBJECT", "DEVICE_STATE",
};

const char *vhost_user_protocol_feature_name(unsigned bit)
{
	return bit < sizeof(protocol_feature_names) / sizeof(*protocol_feature_names)
		? protocol_feature_names[bit] : NULL;
}

/* A request's name, or "<kind> N" when it has none (in a buffer of the
 * calling thread that the next call reuses). */
static const char *label(const char *name, const char *kind, uint32_t request)
{
	static __thread char buf[40];

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "%s %" PRIu32, kind, request);
	return buf;
}

const char *vu_request_label(uint32_t request)
{
	return label(vhost_user_request_name(request), "request", request);
}

const char *vu_backend_request_label(uint32_t request)
{
	return label(vhost_user_backend_request_name(request), "backend request", request);
}

void vu_session_init(struct vu_session *s, const struct vu_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	vm_table_init(&s->table);
	if (cfg->observer) {
		/* The backend's offers and answers come with its replies; until
		 * it says, the slots are bounded by vmmap's own limit. */
		s->cfg.max_slots = VU_MAX_SLOTS;
		return;
	}
	s->has_features = s->has_protocol_features = true;
	vu_device_offers(cfg, &s->features, &s->protocol_features);
}

void vu_session_clean(struct vu_session *s)
{
	for (size_t i = 0; i < s->nupdates; i++) {
		free(s->updates[i].added);
		free(s->updates[i].removed);
	}
	free(s->updates);
	for (size_t i = 0; i < s->nviolations; i++)
		free(s->violations[i].what);
	free(s->violations);
	for (size_t i = 0; i < s->nwarnings; i++)
		free(s->warnings[i].what);
	free(s->warnings);
	vu_pending_clean(s);
	free(s->replies);
	free(s->chan.log);
	vm_table_clean(&s->table);
	memset(s, 0, sizeof(*s));
}


int vu_grow(void **v, size_t n, size_t size)
{
	void *nv;

	if (n & (n - 1) || (n && n < 8))
		return 0; /* not at a power of two from 8 on: room left */
	nv = realloc(*v, (n ? 2 * n : 8) * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

int vu_decode_header(struct vu_msg *m, const uint8_t hdr[VHOST_USER_HDR_SIZE],
		     char *why, size_t whylen)
{
	memcpy(&m->request, hdr, 4);
	memcpy(&m->flags, hdr + 4, 4);
	memcpy(&m->size, hdr + 8, 4);
	if (m->size > VU_MAX_PAYLOAD) {
		snprintf(why, whylen, "request %" PRIu32 " announces a %" PRIu32
			 "-byte payload, above the %d-byte maximum; not read", m->request,
			 m->size, VU_MAX_PAYLOAD);
		return -EMSGSIZE;
	}
	return 0;
}

/* Adds a finding to one of the session's bounded lists (violations or
 * warnings). */
__attribute__((format(printf, 6, 0)))
static int vfinding(struct vu_violation **list, size_t *n, size_t *total,
		    size_t msg, uint32_t request, const char *fmt, va_list ap)
{
	char *what;

	(*total)++;
	if (*n >= VU_MAX_VIOLATIONS)
		return 0; /* counted, not listed */
	if (vu_grow((void **)list, *n, sizeof(**list)) || vasprintf(&what, fmt, ap) < 0)
		return -ENOMEM;
	(*list)[(*n)++] = (struct vu_violation){ msg, request, what };
	return 0;
}

__attribute__((format(printf, 4, 0)))
static int vviolation(struct vu_session *s, size_t msg, uint32_t request,
		      const char *fmt, va_list ap)
{
	return vfinding(&s->violations, &s->nviolations, &s->violations_total, msg,
			request, fmt, ap);
}

int vu_session_violation(struct vu_session *s, size_t msg, uint32_t request,
			 const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vviolation(s, msg, request, fmt, ap);
	va_end(ap);
	return rc;
}

__attribute__((format(printf, 2, 3)))
void vu_bad(struct hctx *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vviolation(h->s, h->idx, h->m->request, fmt, ap))
		h->nomem = 1;
	va_end(ap);
	h->failed = true;
}

/* A warning: suspect, but no violation (the exit status ignores it). */
__attribute__((format(printf, 2, 3)))
void vu_warn(struct hctx *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfinding(&h->s->warnings, &h->s->nwarnings, &h->s->warnings_total, h->idx,
		     h->m->request, fmt, ap))
		h->nomem = 1;
	va_end(ap);
}

static const char *name_of(uint32_t request)
{
	const char *n = vhost_user_request_name(request);

	return n ? n : "unknown request";
}

const char *vu_plural(size_t n)
{
	return n == 1 ? "" : "s";
}

void vu_want_fds(struct hctx *h, size_t n)
{
	if (h->m->nfds != n)
		vu_bad(h, "%s came with %zu file descriptor%s, the protocol says %zu",
		    name_of(h->m->request), h->m->nfds, vu_plural(h->m->nfds), n);
}

bool vu_acked_protocol(const struct vu_session *s, int bit)
{
	return s->has_acked_protocol_features &&
	       (s->acked_protocol_features & BIT(bit));
}

/* The vring index of a vring-state or vring-address payload. */
static struct vu_vring *vring_at(struct hctx *h, uint32_t index)
{
	if (index < VU_MAX_VRINGS)
		return &h->s->vring[index];
	vu_bad(h, "%s for vring %" PRIu32 "; this backend has %d", name_of(h->m->request),
	    index, VU_MAX_VRINGS);
	return NULL;
}

/* SET_VRING_KICK, _CALL, _ERR: the ring, or NULL (a violation). */
static struct vu_vring *vring_fd(struct hctx *h)
{
	uint64_t v = get_u64(h->m, 0);
	if (v & ~UINT64_C(0x1ff))
		vu_bad(h, "%s value 0x%" PRIx64 " sets bits above the index and the "
		    "no-fd flag", name_of(h->m->request), v);
	vu_want_fds(h, v & 0x100 ? 0 : 1);
	return vring_at(h, (uint32_t)(v & 0xff));
}

/* ---- the request table ---- */

static void get_features(struct hctx *h, struct vu_reply *r)
{
	reply_u64(r, h->m->request, h->s->features);
}

static void set_features(struct hctx *h, struct vu_reply *r)
{
	struct vu_session *s = h->s;

	(void)r;
	s->acked_features = get_u64(h->m, 0);
	s->has_acked_features = true;
	if (s->has_features && s->acked_features & ~s->features)
		vu_bad(h, "SET_FEATURES acks 0x%" PRIx64 ", bits the backend did not offer",
		    s->acked_features & ~s->features);
}

static void set_owner(struct hctx *h, struct vu_reply *r)
{
	(void)r;
	h->s->owner = h->m->request == VHOST_USER_SET_OWNER;
}

static void get_protocol_features(struct hctx *h, struct vu_reply *r)
{
	reply_u64(r, h->m->request, h->s->protocol_features);
}

static void set_protocol_features(struct hctx *h, struct vu_reply *r)
{
	struct vu_session *s = h->s;

	(void)r;
	s->acked_protocol_features = get_u64(h->m, 0);
	s->has_acked_protocol_features = true;
	if (s->has_protocol_features && s->acked_protocol_features & ~s->protocol_features)
		vu_bad(h, "SET_PROTOCOL_FEATURES acks 0x%" PRIx64 ", bits the backend did "
		    "not offer", s->acked_protocol_features & ~s->protocol_features);
}

static void get_queue_num(struct hctx *h, struct vu_reply *r)
{
	reply_u64(r, h->m->request, h->s->cfg.queues);
}

static void get_max_mem_slots(struct hctx *h, struct vu_reply *r)
{
	reply_u64(r, h->m->request, h->s->cfg.max_slots);
}

static void vring_state(struct hctx *h, struct vu_reply *r)
{
	const struct vu_msg *m = h->m;
	struct vu_vring *vr = vring_at(h, get_u32(m, 0));

	(void)r;
	if (!vr)
		return;
	if (m->request == VHOST_USER_SET_VRING_NUM) {
		vr->num = get_u32(m, 4);
		vr->has_num = true;
	} else if (m->request == VHOST_USER_SET_VRING_BASE) {
		vr->base = get_u32(m, 4);
		vr->has_base = true;
	} else if (get_u32(m, 4) > 1) {
		vu_bad(h, "SET_VRING_ENABLE with %" PRIu32 ", not 0 or 1", get_u32(m, 4));
	} else {
		vr->enabled = get_u32(m, 4);
	}
}

static void vring_addr(struct hctx *h, struct vu_reply *r)
{
	const struct vu_msg *m = h->m;
	struct vu_vring *vr = vring_at(h, get_u32(m, 0));

	(void)r;
	if (!vr)
		return;
	vr->addr_flags = get_u32(m, 4);
	vr->desc = get_u64(m, 8);
	vr->used = get_u64(m, 16);
	vr->avail = get_u64(m, 24);
	vr->log = get_u64(m, 32);
	vr->has_addr = true;
}

static void get_vring_base(struct hctx *h, struct vu_reply *r)
{
	uint32_t st[2] = { 0, 0 };
	struct vu_vring *vr;

	if (h->size_ok && (vr = vring_at(h, get_u32(h->m, 0)))) {
		st[0] = get_u32(h->m, 0);
		st[1] = vr->base;
		vr->started = false; /* GET_VRING_BASE stops the ring */
	}
	reply_bytes(r, h->m->request, st, sizeof(st));
}

static void vring_fd_handler(struct hctx *h, struct vu_reply *r)
{
	struct vu_vring *vr;

	(void)r;
	vr = vring_fd(h);
	if (vr && h->m->request == VHOST_USER_SET_VRING_KICK)
		vr->started = true;
}

static void set_status(struct hctx *h, struct vu_reply *r)
{
	(void)r;
	h->s->status = get_u64(h->m, 0);
}

/* Requests that are checked and recorded, and change nothing vmmap
 * answers: SET_CONFIG (vmmap keeps its config space) and SET_INFLIGHT_FD
 * (it never maps the in-flight area). */
static void record_only(struct hctx *h, struct vu_reply *r)
{
	(void)h;
	(void)r;
}

static void get_status(struct hctx *h, struct vu_reply *r)
{
	reply_u64(r, h->m->request, h->s->status);
}

/* A row: the request's facts (vhost_user.h) and, if this backend serves
 * it, its handler.  Requests without one are checked and recorded. */
struct request_row {
	struct vu_request_info info;
	void (*handle)(struct hctx *h, struct vu_reply *r);
};

#define F(bit) VHOST_USER_PROTOCOL_F_##bit
#define ROW(id, size_rule, size, fds, reply_fds, feature, reply, handler) \
	[VHOST_USER_##id] = { { #id, VU_SIZE_##size_rule, size, VU_FDS_##fds,   \
				VU_FDS_##reply_fds, feature, VU_REPLY_##reply, 0,  \
				NULL }, handler }

static const struct request_row rows[VHOST_USER_MAX_REQUEST] = {
	ROW(GET_FEATURES, EXACT, 0, NONE, NONE, -1, DATA, get_features),
	ROW(SET_FEATURES, EXACT, 8, NONE, NONE, -1, ACK, set_features),
	ROW(SET_OWNER, EXACT, 0, NONE, NONE, -1, ACK, set_owner),
	ROW(RESET_OWNER, EXACT, 0, NONE, NONE, -1, ACK, set_owner),
	ROW(SET_MEM_TABLE, MIN, 8, PER_REGION, NONE, -1, ACK, vu_mem_table_request),
	ROW(SET_LOG_BASE, EXACT, 16, ONE, NONE, F(LOG_SHMFD), DATA, NULL),
	ROW(SET_LOG_FD, EXACT, 0, ONE, NONE, F(LOG_SHMFD), ACK, NULL),
	ROW(SET_VRING_NUM, EXACT, 8, NONE, NONE, -1, ACK, vring_state),
	ROW(SET_VRING_ADDR, EXACT, 40, NONE, NONE, -1, ACK, vring_addr),
	ROW(SET_VRING_BASE, EXACT, 8, NONE, NONE, -1, ACK, vring_state),
	ROW(GET_VRING_BASE, EXACT, 8, NONE, NONE, -1, DATA, get_vring_base),
	ROW(SET_VRING_KICK, EXACT, 8, VRING, NONE, -1, ACK, vring_fd_handler),
	ROW(SET_VRING_CALL, EXACT, 8, VRING, NONE, -1, ACK, vring_fd_handler),
	ROW(SET_VRING_ERR, EXACT, 8, VRING, NONE, -1, ACK, vring_fd_handler),
	ROW(GET_PROTOCOL_FEATURES, EXACT, 0, NONE, NONE, -1, DATA, get_protocol_features),
	ROW(SET_PROTOCOL_FEATURES, EXACT, 8, NONE, NONE, -1, ACK, set_protocol_features),
	ROW(GET_QUEUE_NUM, EXACT, 0, NONE, NONE, F(MQ), DATA, get_queue_num),
	ROW(SET_VRING_ENABLE, EXACT, 8, NONE, NONE, -1, ACK, vring_state),
	ROW(SEND_RARP, EXACT, 8, NONE, NONE, F(RARP), ACK, NULL),
	ROW(NET_SET_MTU, EXACT, 8, NONE, NONE, F(NET_MTU), ACK, NULL),
	ROW(SET_BACKEND_REQ_FD, EXACT, 0, ONE_SOCKET, NONE, F(BACKEND_REQ), ACK, NULL),
	ROW(IOTLB_MSG, ANY, 0, NONE, NONE, -1, ACK, NULL),
	ROW(SET_VRING_ENDIAN, EXACT, 8, NONE, NONE, F(CROSS_ENDIAN), ACK, NULL),
	ROW(GET_CONFIG, MIN, 12, NONE, NONE, F(CONFIG), DATA, vu_device_get_config),
	ROW(SET_CONFIG, MIN, 12, NONE, NONE, F(CONFIG), ACK, record_only),
	ROW(CREATE_CRYPTO_SESSION, ANY, 0, NONE, NONE, F(CRYPTO_SESSION), DATA, NULL),
	ROW(CLOSE_CRYPTO_SESSION, EXACT, 8, NONE, NONE, F(CRYPTO_SESSION), ACK, NULL),
	ROW(POSTCOPY_ADVISE, EXACT, 0, NONE, ONE, F(PAGEFAULT), DATA, NULL),
	ROW(POSTCOPY_LISTEN, EXACT, 0, NONE, NONE, F(PAGEFAULT), ACK, NULL),
	ROW(POSTCOPY_END, EXACT, 0, NONE, NONE, F(PAGEFAULT), DATA, NULL),
	ROW(GET_INFLIGHT_FD, EXACT, 24, NONE, ONE, F(INFLIGHT_SHMFD), DATA,
	    vu_device_get_inflight),
	ROW(SET_INFLIGHT_FD, EXACT, 24, ONE, NONE, F(INFLIGHT_SHMFD), ACK, record_only),
	ROW(GPU_SET_SOCKET, EXACT, 0, ONE_SOCKET, NONE, -1, ACK, NULL),
	ROW(RESET_DEVICE, EXACT, 0, NONE, NONE, F(RESET_DEVICE), ACK, NULL),
	ROW(VRING_KICK, EXACT, 8, NONE, NONE, F(INBAND_NOTIFICATIONS), ACK, NULL),
	ROW(GET_MAX_MEM_SLOTS, EXACT, 0, NONE, NONE, F(CONFIGURE_MEM_SLOTS), DATA,
	    get_max_mem_slots),
	[VHOST_USER_ADD_MEM_REG] = {
		{ "ADD_MEM_REG", VU_SIZE_EXACT, 40, VU_FDS_ONE, VU_FDS_NONE,
		  F(CONFIGURE_MEM_SLOTS), VU_REPLY_ACK, 8,
		  "an 8-byte payload is the postcopy end marker, but postcopy was not "
		  "set up" }, vu_mem_table_request },
	ROW(REM_MEM_REG, EXACT, 40, NONE_LEGACY, NONE, F(CONFIGURE_MEM_SLOTS), ACK,
	    vu_mem_table_request),
	ROW(SET_STATUS, EXACT, 8, NONE, NONE, F(STATUS), ACK, set_status),
	ROW(GET_STATUS, EXACT, 0, NONE, NONE, F(STATUS), DATA, get_status),
	ROW(GET_SHARED_OBJECT, EXACT, 16, NONE, ONE, F(SHARED_OBJECT), DATA, NULL),
	ROW(SET_DEVICE_STATE_FD, EXACT, 8, ONE, OPTIONAL, F(DEVICE_STATE), DATA, NULL),
	ROW(CHECK_DEVICE_STATE, EXACT, 0, NONE, NONE, F(DEVICE_STATE), DATA, NULL),
};

#undef ROW
#undef F

const struct vu_request_info *vu_request_info(uint32_t request)
{
	return request < VHOST_USER_MAX_REQUEST && rows[request].info.name
		? &rows[request].info : NULL;
}

const char *vhost_user_request_name(uint32_t request)
{
	const struct vu_request_info *ri = vu_request_info(request);

	return ri ? ri->name : NULL;
}

/* The size rule; false (a violation) when the payload breaks it. */
static bool size_ok(struct hctx *h, const struct vu_request_info *ri)
{
	uint32_t n = h->m->size;

	if (ri->size_rule == VU_SIZE_ANY || (ri->size_rule == VU_SIZE_EXACT && n == ri->size) ||
	    (ri->size_rule == VU_SIZE_MIN && n >= ri->size))
		return true;
	if (ri->note && n == ri->note_size)
		vu_bad(h, "%s carries %" PRIu32 " payload bytes: %s", ri->name, n, ri->note);
	else
		vu_bad(h, "%s carries %" PRIu32 " payload bytes, the protocol says %s%" PRIu16,
		    ri->name, n, ri->size_rule == VU_SIZE_MIN ? "at least " : "", ri->size);
	return false;
}

/* The descriptor rule (the per-region and per-vring ones are the
 * handlers'). */
static void fds_ok(struct hctx *h, const struct vu_request_info *ri)
{
	const struct vu_msg *m = h->m;

	switch (ri->fds) {
	case VU_FDS_NONE:
		if (m->nfds)
			vu_bad(h, "%s came with %zu file descriptor%s; it takes none (closed)",
			    ri->name, m->nfds, vu_plural(m->nfds));
		break;
	case VU_FDS_NONE_LEGACY:
		if (m->nfds)
			vu_bad(h, "%s came with %zu file descriptor%s; it should carry none "
			    "(QEMU before 7.1 sent one)", ri->name, m->nfds, vu_plural(m->nfds));
		break;
	case VU_FDS_ONE:
	case VU_FDS_ONE_SOCKET:
		vu_want_fds(h, 1);
		if (ri->fds == VU_FDS_ONE_SOCKET && m->nfds == 1 &&
		    m->fd_facts[0].type != VM_FD_UNKNOWN && m->fd_facts[0].type != VM_FD_SOCKET)
			vu_bad(h, "%s carries a %s; the protocol says a socket", ri->name,
			    vm_fd_type_name((unsigned)m->fd_facts[0].type));
		break;
	case VU_FDS_OPTIONAL:
		if (m->nfds > 1)
			vu_want_fds(h, 1);
		break;
	case VU_FDS_PER_REGION:
	case VU_FDS_VRING:
		break;
	}
}

int vu_session_handle(struct vu_session *s, const struct vu_msg *m,
		      struct vu_reply *reply)
{
	struct hctx h = { .s = s, .m = m, .idx = s->nmsgs++ };
	const struct request_row *row = m->request < VHOST_USER_MAX_REQUEST &&
					rows[m->request].info.name ? &rows[m->request] : NULL;
	const struct vu_request_info *ri = row ? &row->info : NULL;
	bool need_reply;

	reply->len = 0;
	reply->memfd_size = reply->inflight_part = 0;
	reply->inflight_queues = reply->inflight_queue_size = 0;
	s->last_request = m->request;
	if (m->request <= VHOST_USER_MAX_REQUEST)
		s->counts[m->request]++;
	/* One order for every request: the header, the feature it needs, its
	 * payload size, its descriptors, then its handler. */
	if ((m->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		vu_bad(&h, "version bits are %" PRIu32 ", not 1; message ignored",
		    m->flags & VHOST_USER_VERSION_MASK);
		return h.nomem ? -ENOMEM : 0;
	}
	if (m->flags & VHOST_USER_RESERVED_FLAGS)
		vu_bad(&h, "reserved flag bits 0x%" PRIx32 " are set",
		    m->flags & VHOST_USER_RESERVED_FLAGS);
	if (m->flags & VHOST_USER_REPLY_MASK)
		vu_bad(&h, "the REPLY flag is set on a request");
	if (m->fds_truncated)
		vu_bad(&h, "more file descriptors than the %d this backend accepts; "
		    "the rest were dropped", VU_MAX_FDS);
	need_reply = m->flags & VHOST_USER_NEED_REPLY_MASK;
	if (need_reply && !vu_acked_protocol(s, VHOST_USER_PROTOCOL_F_REPLY_ACK)) {
		vu_bad(&h, "NEED_REPLY without REPLY_ACK negotiated");
		need_reply = false;
	}
	h.failed = false; /* header findings do not fail the request itself */

	if (!ri) {
		if (m->nfds)
			vu_bad(&h, "unknown request came with %zu file descriptor%s; it takes "
			    "none (closed)", m->nfds, vu_plural(m->nfds));
		vu_bad(&h, "unknown request %" PRIu32, m->request);
	} else {
		if (ri->feature >= 0 && !vu_acked_protocol(s, ri->feature))
			vu_bad(&h, "%s without %s negotiated", ri->name,
			    vhost_user_protocol_feature_name((unsigned)ri->feature));
		h.size_ok = size_ok(&h, ri);
		fds_ok(&h, ri);
	}
	/* Forwarding: the backend answers; what it is to answer waits for
	 * its reply (a table change attaches its undo to the entry). */
	if (s->cfg.observer && ((ri && ri->reply == VU_REPLY_DATA) ||
				(m->flags & VHOST_USER_NEED_REPLY_MASK)) &&
	    vu_pending_push(&h, ri && ri->reply == VU_REPLY_DATA))
		h.nomem = 1;
	if (row && row->handle && (h.size_ok || ri->reply == VU_REPLY_DATA))
		row->handle(&h, reply);
	else if (row && !row->handle && !s->cfg.observer &&
		 (ri->feature < 0 || vu_acked_protocol(s, ri->feature)))
		vu_bad(&h, "%s is not served by this backend (recorded)", ri->name);
	if (need_reply && !reply->len)
		reply_u64(reply, m->request, h.failed ? 1 : 0);
	if (s->cfg.observer)
		reply->len = 0;
	if (vu_session_relays_channel(s, m))
		vu_channel_reset(s, true);
	return h.nomem ? -ENOMEM : 0;
}
