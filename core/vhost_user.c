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

#include "diff.h"

#define BIT(n) (UINT64_C(1) << (n))

static const char *const request_names[VHOST_USER_MAX_REQUEST + 1] = {
	[1] = "GET_FEATURES", [2] = "SET_FEATURES", [3] = "SET_OWNER",
	[4] = "RESET_OWNER", [5] = "SET_MEM_TABLE", [6] = "SET_LOG_BASE",
	[7] = "SET_LOG_FD", [8] = "SET_VRING_NUM", [9] = "SET_VRING_ADDR",
	[10] = "SET_VRING_BASE", [11] = "GET_VRING_BASE", [12] = "SET_VRING_KICK",
	[13] = "SET_VRING_CALL", [14] = "SET_VRING_ERR",
	[15] = "GET_PROTOCOL_FEATURES", [16] = "SET_PROTOCOL_FEATURES",
	[17] = "GET_QUEUE_NUM", [18] = "SET_VRING_ENABLE", [19] = "SEND_RARP",
	[20] = "NET_SET_MTU", [21] = "SET_BACKEND_REQ_FD", [22] = "IOTLB_MSG",
	[23] = "SET_VRING_ENDIAN", [24] = "GET_CONFIG", [25] = "SET_CONFIG",
	[26] = "CREATE_CRYPTO_SESSION", [27] = "CLOSE_CRYPTO_SESSION",
	[28] = "POSTCOPY_ADVISE", [29] = "POSTCOPY_LISTEN", [30] = "POSTCOPY_END",
	[31] = "GET_INFLIGHT_FD", [32] = "SET_INFLIGHT_FD",
	[33] = "GPU_SET_SOCKET", [34] = "RESET_DEVICE", [35] = "VRING_KICK",
	[36] = "GET_MAX_MEM_SLOTS", [37] = "ADD_MEM_REG", [38] = "REM_MEM_REG",
	[39] = "SET_STATUS", [40] = "GET_STATUS", [41] = "GET_SHARED_OBJECT",
	[42] = "SET_DEVICE_STATE_FD", [43] = "CHECK_DEVICE_STATE",
};

const char *vhost_user_request_name(uint32_t request)
{
	return request <= VHOST_USER_MAX_REQUEST ? request_names[request] : NULL;
}

const char *vu_request_label(uint32_t request)
{
	static __thread char buf[24];
	const char *n = vhost_user_request_name(request);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "request %" PRIu32, request);
	return buf;
}

const char *vu_fd_type_name(unsigned type)
{
	static const char *const names[VU_FD_NTYPES] = {
		"unknown", "regular file", "memfd", "shared memory object", "socket",
		"pipe", "character device", "block device", "directory", "other file",
	};

	return type < VU_FD_NTYPES ? names[type] : "other file";
}

void vu_session_init(struct vu_session *s, const struct vu_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	vm_table_init(&s->table);
	s->features = BIT(VIRTIO_F_VERSION_1) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
		      BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		      BIT(VIRTIO_RING_F_EVENT_IDX);
	s->protocol_features = BIT(VHOST_USER_PROTOCOL_F_MQ) |
			       BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	if (cfg->mem_slots)
		s->protocol_features |= BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
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
	vm_table_clean(&s->table);
	memset(s, 0, sizeof(*s));
}

/* Room for one more element in a doubling array of n; 0 or -ENOMEM. */
static int grow(void **v, size_t n, size_t size)
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

int vu_record_version(const uint8_t *buf, size_t len, size_t *skip, char *why,
		      size_t whylen)
{
	uint32_t v;

	*skip = 0;
	if (len < 8 || memcmp(buf, VU_RECORD_MAGIC, 8))
		return 1; /* version 1 has no file header */
	if (len < VU_RECORD_FILE_HDR) {
		snprintf(why, whylen, "the recording ends inside its file header");
		return 0;
	}
	memcpy(&v, buf + 8, 4);
	if (v != VU_RECORD_VERSION) {
		snprintf(why, whylen, "recording format version %" PRIu32 " (this vmmap "
			 "reads 1 and %d)", v, VU_RECORD_VERSION);
		return 0;
	}
	*skip = VU_RECORD_FILE_HDR;
	return (int)v;
}

void vu_record_file_header(uint8_t out[VU_RECORD_FILE_HDR])
{
	uint32_t v = VU_RECORD_VERSION;

	memcpy(out, VU_RECORD_MAGIC, 8);
	memcpy(out + 8, &v, 4);
}

size_t vu_encode_record(const struct vu_msg *m, uint8_t *out)
{
	size_t nfds = m->nfds < VU_MAX_FDS ? m->nfds : VU_MAX_FDS, o = 12;

	out[0] = (uint8_t)((m->direction == VU_BACK_TO_FRONT ? VU_RECORD_BACK_TO_FRONT : 0) |
			   (m->channel == VU_BACKEND_CHANNEL ? VU_RECORD_BACKEND_CHANNEL : 0) |
			   (m->fds_truncated ? VU_RECORD_TRUNCATED : 0));
	out[1] = (uint8_t)nfds;
	out[2] = out[3] = 0;
	memcpy(out + 4, &m->time_ns, 8);
	memcpy(out + o, &m->request, 4);
	memcpy(out + o + 4, &m->flags, 4);
	memcpy(out + o + 8, &m->size, 4);
	o += VHOST_USER_HDR_SIZE;
	memcpy(out + o, m->payload, m->size);
	o += m->size;
	for (size_t i = 0; i < nfds; i++) {
		const struct vu_fd_fact *f = &m->fd_facts[i];

		memcpy(out + o, &f->type, 8);
		memcpy(out + o + 8, &f->size, 8);
		memcpy(out + o + 16, &f->dev, 8);
		memcpy(out + o + 24, &f->ino, 8);
		o += 32;
	}
	return o;
}

size_t vu_decode_record(struct vu_msg *m, int version, const uint8_t *buf,
			size_t len, char *why, size_t whylen)
{
	size_t pre = version == 1 ? 1 : 12, nfds, o;

	if (len < pre + VHOST_USER_HDR_SIZE) {
		snprintf(why, whylen, "the recording ends inside a header");
		return 0;
	}
	if (vu_decode_header(m, buf + pre, why, whylen))
		return 0;
	if (len - pre - VHOST_USER_HDR_SIZE < m->size) {
		snprintf(why, whylen, "the recording ends inside the %" PRIu32
			 "-byte payload of request %" PRIu32, m->size, m->request);
		return 0;
	}
	memset(m->fd_facts, 0, sizeof(m->fd_facts));
	m->fds_truncated = (buf[0] & VU_RECORD_TRUNCATED) != 0;
	o = pre + VHOST_USER_HDR_SIZE;
	memcpy(m->payload, buf + o, m->size);
	o += m->size;
	if (version == 1) {
		nfds = buf[0] & VU_RECORD_FDS_MASK;
		m->nfds = nfds < VU_MAX_FDS ? nfds : VU_MAX_FDS;
		m->direction = VU_FRONT_TO_BACK;
		m->channel = VU_MAIN_CHANNEL;
		m->time_ns = 0;
		return o;
	}
	if (buf[0] & ~(VU_RECORD_BACK_TO_FRONT | VU_RECORD_BACKEND_CHANNEL |
		       VU_RECORD_TRUNCATED) || buf[1] > VU_MAX_FDS || buf[2] || buf[3]) {
		snprintf(why, whylen, "a record's flags 0x%02x, descriptor count %u or "
			 "reserved bytes are not valid", buf[0], buf[1]);
		return 0;
	}
	m->direction = buf[0] & VU_RECORD_BACK_TO_FRONT ? VU_BACK_TO_FRONT : VU_FRONT_TO_BACK;
	m->channel = buf[0] & VU_RECORD_BACKEND_CHANNEL ? VU_BACKEND_CHANNEL
							 : VU_MAIN_CHANNEL;
	m->nfds = buf[1];
	memcpy(&m->time_ns, buf + 4, 8);
	if ((len - o) / 32 < m->nfds) {
		snprintf(why, whylen, "the recording ends inside the descriptor facts of "
			 "request %" PRIu32, m->request);
		return 0;
	}
	for (size_t i = 0; i < m->nfds; i++) {
		struct vu_fd_fact *f = &m->fd_facts[i];

		memcpy(&f->type, buf + o, 8);
		memcpy(&f->size, buf + o + 8, 8);
		memcpy(&f->dev, buf + o + 16, 8);
		memcpy(&f->ino, buf + o + 24, 8);
		if (f->type >= VU_FD_NTYPES)
			f->type = VU_FD_OTHER;
		o += 32;
	}
	return o;
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
	if (grow((void **)list, *n, sizeof(**list)) || vasprintf(&what, fmt, ap) < 0)
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

/* The message being handled, so checks can report against it. */
struct hctx {
	struct vu_session *s;
	const struct vu_msg *m;
	size_t idx;
	int nomem;
	bool failed; /* what the REPLY_ACK reports */
};

__attribute__((format(printf, 2, 3)))
static void bad(struct hctx *h, const char *fmt, ...)
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
static void warn(struct hctx *h, const char *fmt, ...)
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

/* The payload must be exactly n bytes; false (and a violation) if not. */
static bool want_size(struct hctx *h, uint32_t n)
{
	if (h->m->size == n)
		return true;
	bad(h, "%s carries %" PRIu32 " payload bytes, the protocol says %" PRIu32,
	    name_of(h->m->request), h->m->size, n);
	return false;
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

static void want_fds(struct hctx *h, size_t n)
{
	if (h->m->nfds != n)
		bad(h, "%s came with %zu file descriptor%s, the protocol says %zu",
		    name_of(h->m->request), h->m->nfds, plural(h->m->nfds), n);
}

/* Whether a request may carry file descriptors at all (the list in the
 * specification's "Communication" section). */
static bool takes_fds(uint32_t request)
{
	switch (request) {
	case VHOST_USER_SET_MEM_TABLE:
	case VHOST_USER_SET_LOG_BASE:
	case VHOST_USER_SET_LOG_FD:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
	case VHOST_USER_SET_BACKEND_REQ_FD:
	case 32: /* SET_INFLIGHT_FD */
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG: /* checked on its own: MAY carry one */
	case 42: /* SET_DEVICE_STATE_FD */
		return true;
	default:
		return false;
	}
}

static bool acked_protocol(const struct vu_session *s, int bit)
{
	return s->has_acked_protocol_features &&
	       (s->acked_protocol_features & BIT(bit));
}

static void reply_bytes(struct vu_reply *r, uint32_t request, const void *p,
			uint32_t n)
{
	uint32_t hdr[3] = { request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, n };

	memcpy(r->buf, hdr, sizeof(hdr));
	memcpy(r->buf + VHOST_USER_HDR_SIZE, p, n);
	r->len = VHOST_USER_HDR_SIZE + n;
}

static void reply_u64(struct vu_reply *r, uint32_t request, uint64_t v)
{
	reply_bytes(r, request, &v, sizeof(v));
}

static uint64_t get_u64(const struct vu_msg *m, size_t off)
{
	uint64_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

static uint32_t get_u32(const struct vu_msg *m, size_t off)
{
	uint32_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

/* A region description: guest_phys_addr, memory_size, userspace_addr,
 * mmap_offset, 32 bytes at off. */
static struct vm_region get_region(const struct vu_msg *m, size_t off)
{
	return (struct vm_region){
		.guest_phys_addr = get_u64(m, off),
		.memory_size = get_u64(m, off + 8),
		.userspace_addr = get_u64(m, off + 16),
		.mmap_offset = get_u64(m, off + 24),
	};
}

/* Whether a region can be held; a violation if not. */
static bool region_ok(struct hctx *h, const struct vm_region *r)
{
	if (r->memory_size == 0) {
		bad(h, "region at guest_phys_addr 0x%" PRIx64 " has memory_size 0",
		    r->guest_phys_addr);
		return false;
	}
	if (r->memory_size - 1 > UINT64_MAX - r->guest_phys_addr) {
		bad(h, "region 0x%" PRIx64 "+0x%" PRIx64 " runs past 2^64-1",
		    r->guest_phys_addr, r->memory_size);
		return false;
	}
	if (r->memory_size - 1 > UINT64_MAX - r->userspace_addr) {
		bad(h, "region userspace_addr 0x%" PRIx64 "+0x%" PRIx64
		    " runs past 2^64-1", r->userspace_addr, r->memory_size);
		return false;
	}
	/* validate's offset-wrap: no file has such an end. */
	if (r->memory_size - 1 > UINT64_MAX - r->mmap_offset) {
		bad(h, "region 0x%" PRIx64 "+0x%" PRIx64 ": mmap_offset 0x%" PRIx64
		    " + memory_size runs past 2^64-1", r->guest_phys_addr,
		    r->memory_size, r->mmap_offset);
		return false;
	}
	return true;
}

/* What the descriptor of a region says about it (fact i of the message):
 * warnings, since the frontend may know better (a file that grows). */
static void region_fd(struct hctx *h, const struct vm_region *r, size_t i)
{
	const struct vu_fd_fact *f = &h->m->fd_facts[i];

	if (i >= h->m->nfds || f->type == VU_FD_UNKNOWN)
		return;
	if (f->type != VU_FD_FILE && f->type != VU_FD_MEMFD && f->type != VU_FD_SHM) {
		warn(h, "the descriptor of region 0x%" PRIx64 "+0x%" PRIx64 " is a %s, "
		     "not a regular file, memfd or shared memory object",
		     r->guest_phys_addr, r->memory_size, vu_fd_type_name((unsigned)f->type));
		return;
	}
	if (r->memory_size > f->size || r->mmap_offset > f->size - r->memory_size)
		warn(h, "region 0x%" PRIx64 "+0x%" PRIx64 " maps up to offset 0x%" PRIx64
		     " of a %s of 0x%" PRIx64 " bytes: it runs past the end of the file",
		     r->guest_phys_addr, r->memory_size, r->mmap_offset + r->memory_size,
		     vu_fd_type_name((unsigned)f->type), f->size);
}

static struct vm_region *copy_regions(const struct vm_region *const *v, size_t n)
{
	struct vm_region *out = malloc((n ? n : 1) * sizeof(*out));

	if (out)
		for (size_t i = 0; i < n; i++) {
			out[i] = *v[i];
			out[i].name = NULL;
		}
	return out;
}

/* Records a table change: what went, what came. */
static void record_update(struct hctx *h, const struct vm_region *const *removed,
			  size_t nremoved, const struct vm_region *const *added,
			  size_t nadded)
{
	struct vu_session *s = h->s;
	struct vu_update *u;

	s->updates_total++;
	if (s->nupdates >= VU_MAX_UPDATES)
		return; /* counted, not listed */
	if (grow((void **)&s->updates, s->nupdates, sizeof(*s->updates))) {
		h->nomem = 1;
		return;
	}
	u = &s->updates[s->nupdates];
	*u = (struct vu_update){
		.msg = h->idx, .request = h->m->request, .time_ns = h->m->time_ns,
		.added = copy_regions(added, nadded), .nadded = nadded,
		.removed = copy_regions(removed, nremoved), .nremoved = nremoved,
		.nregions = s->table.umem.nregions,
	};
	if (!u->added || !u->removed) {
		free(u->added);
		free(u->removed);
		h->nomem = 1;
		return;
	}
	s->nupdates++;
}

static void set_mem_table(struct hctx *h)
{
	struct vu_session *s = h->s;
	const struct vu_msg *m = h->m;
	struct vm_table next;
	struct vm_diff d;
	uint32_t n;

	if (m->size < 8) {
		bad(h, "SET_MEM_TABLE carries %" PRIu32 " payload bytes, too few for "
		    "the region count", m->size);
		return;
	}
	n = get_u32(m, 0);
	if (get_u32(m, 4))
		bad(h, "SET_MEM_TABLE padding is 0x%" PRIx32 ", not 0", get_u32(m, 4));
	if ((uint64_t)m->size != 8 + (uint64_t)n * 32) {
		bad(h, "SET_MEM_TABLE announces %" PRIu32 " regions in %" PRIu32
		    " payload bytes; %" PRIu64 " bytes expected", n, m->size,
		    8 + (uint64_t)n * 32);
		if ((uint64_t)n * 32 > m->size - 8)
			return; /* the regions are not all there */
	}
	if (n == 0)
		bad(h, "SET_MEM_TABLE carries no region");
	if (n > VHOST_MEMORY_BASELINE_NREGIONS)
		bad(h, "SET_MEM_TABLE carries %" PRIu32 " regions; at most %d fit "
		    "(VHOST_MEMORY_BASELINE_NREGIONS); not applied", n,
		    VHOST_MEMORY_BASELINE_NREGIONS);
	if (m->nfds != n)
		bad(h, "SET_MEM_TABLE announces %" PRIu32 " region%s but came with %zu "
		    "file descriptor%s; one per region", n, plural(n), m->nfds,
		    plural(m->nfds));
	if (acked_protocol(s, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
		bad(h, "SET_MEM_TABLE after CONFIGURE_MEM_SLOTS was negotiated "
		    "(the frontend should use ADD_MEM_REG and REM_MEM_REG)");
	/* Refused, as ADD_MEM_REG past the slots is: the table stays within
	 * what a backend can hold. */
	if (n > VHOST_MEMORY_BASELINE_NREGIONS)
		return;

	/* Build the new table, then record its difference from the old. */
	vm_table_init(&next);
	for (uint32_t i = 0; i < n; i++) {
		struct vm_region r = get_region(m, 8 + (size_t)i * 32);

		if (!region_ok(h, &r))
			continue;
		region_fd(h, &r, i);
		if (vm_umem_add(&next.umem, &r, NULL))
			h->nomem = 1;
	}
	if (!vm_table_diff(&s->table, &next, &d)) {
		const struct vm_region **v = malloc((d.nops + 1) * sizeof(*v));
		struct vm_umem old;

		/* The diff lists removals, then additions. */
		for (size_t i = 0; v && i < d.nops; i++)
			v[i] = &d.ops[i].node->region;
		/* Swap first so the update counts the new table; the diff still
		 * points into both tables, which live until it is freed. */
		old = s->table.umem;
		s->table.umem = next.umem;
		next.umem = old;
		if (v)
			record_update(h, v, d.nrem, v + d.nrem, d.nops - d.nrem);
		else
			h->nomem = 1;
		free(v);
		vm_diff_free(&d);
	} else {
		h->nomem = 1;
	}
	vm_table_clean(&next);
}

static void add_mem_reg(struct hctx *h)
{
	struct vu_session *s = h->s;
	struct vm_region r;
	const struct vm_region *added;
	struct vm_umem_node *node;
	const struct vm_itree_node *it;

	if (!acked_protocol(s, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
		bad(h, "ADD_MEM_REG without CONFIGURE_MEM_SLOTS negotiated");
	if (h->m->size == 8) {
		bad(h, "ADD_MEM_REG with an 8-byte payload is the postcopy end marker, "
		    "but postcopy was not set up");
		return;
	}
	if (!want_size(h, 40))
		return;
	want_fds(h, 1);
	r = get_region(h->m, 8);
	if (!region_ok(h, &r))
		return;
	region_fd(h, &r, 0);
	if (vm_umem_find(&s->table.umem, r.guest_phys_addr, r.userspace_addr,
			 r.memory_size)) {
		bad(h, "ADD_MEM_REG of a region already in the table "
		    "(guest_phys_addr 0x%" PRIx64 ", memory_size 0x%" PRIx64 ")",
		    r.guest_phys_addr, r.memory_size);
		return;
	}
	it = vm_itree_iter_first(&s->table.umem.gpa_tree, r.guest_phys_addr,
				 vm_region_last(&r));
	if (it)
		bad(h, "ADD_MEM_REG region 0x%" PRIx64 "-0x%" PRIx64 " overlaps region "
		    "0x%" PRIx64 "-0x%" PRIx64 " in guest-physical space",
		    r.guest_phys_addr, vm_region_last(&r), it->start, it->last);
	if (s->table.umem.nregions + 1 > s->cfg.max_slots) {
		/* Refused, not recorded: the slot count bounds the table. */
		bad(h, "ADD_MEM_REG would make %zu regions; the backend announced %" PRIu64
		    " slots; not added", s->table.umem.nregions + 1, s->cfg.max_slots);
		return;
	}
	if (vm_umem_add(&s->table.umem, &r, &node)) {
		h->nomem = 1;
		return;
	}
	added = &node->region;
	record_update(h, NULL, 0, &added, 1);
}

static void rem_mem_reg(struct hctx *h)
{
	struct vu_session *s = h->s;
	struct vm_umem_node *node;
	struct vm_region r;
	const struct vm_region *removed = &r;

	if (!acked_protocol(s, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
		bad(h, "REM_MEM_REG without CONFIGURE_MEM_SLOTS negotiated");
	if (!want_size(h, 40))
		return;
	if (h->m->nfds)
		bad(h, "REM_MEM_REG came with %zu file descriptor%s; it should carry "
		    "none (QEMU before 7.1 sent one)", h->m->nfds, plural(h->m->nfds));
	r = get_region(h->m, 8);
	node = vm_umem_find(&s->table.umem, r.guest_phys_addr, r.userspace_addr,
			    r.memory_size);
	if (!node) {
		bad(h, "REM_MEM_REG of a region not in the table (guest_phys_addr 0x%"
		    PRIx64 ", userspace_addr 0x%" PRIx64 ", memory_size 0x%" PRIx64 ")",
		    r.guest_phys_addr, r.userspace_addr, r.memory_size);
		return;
	}
	r = node->region;
	r.name = NULL;
	vm_umem_remove(&s->table.umem, node);
	record_update(h, &removed, 1, NULL, 0);
}

/* The vring index of a vring-state or vring-address payload. */
static struct vu_vring *vring_at(struct hctx *h, uint32_t index)
{
	if (index < VU_MAX_VRINGS)
		return &h->s->vring[index];
	bad(h, "%s for vring %" PRIu32 "; this backend has %d", name_of(h->m->request),
	    index, VU_MAX_VRINGS);
	return NULL;
}

static void vring_fd(struct hctx *h)
{
	uint64_t v;

	if (!want_size(h, 8))
		return;
	v = get_u64(h->m, 0);
	if (v & ~UINT64_C(0x1ff))
		bad(h, "%s value 0x%" PRIx64 " sets bits above the index and the "
		    "no-fd flag", name_of(h->m->request), v);
	want_fds(h, v & 0x100 ? 0 : 1);
	vring_at(h, (uint32_t)(v & 0xff));
}

int vu_session_handle(struct vu_session *s, const struct vu_msg *m,
		      struct vu_reply *reply)
{
	struct hctx h = { .s = s, .m = m, .idx = s->nmsgs++ };
	bool need_reply, own_reply = false;
	struct vu_vring *vr;

	reply->len = 0;
	if (m->request <= VHOST_USER_MAX_REQUEST)
		s->counts[m->request]++;
	if ((m->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		bad(&h, "version bits are %" PRIu32 ", not 1; message ignored",
		    m->flags & VHOST_USER_VERSION_MASK);
		return h.nomem ? -ENOMEM : 0;
	}
	if (m->flags & VHOST_USER_RESERVED_FLAGS)
		bad(&h, "reserved flag bits 0x%" PRIx32 " are set",
		    m->flags & VHOST_USER_RESERVED_FLAGS);
	if (m->flags & VHOST_USER_REPLY_MASK)
		bad(&h, "the REPLY flag is set on a request");
	if (m->fds_truncated)
		bad(&h, "more file descriptors than the %d this backend accepts; "
		    "the rest were dropped", VU_MAX_FDS);
	need_reply = m->flags & VHOST_USER_NEED_REPLY_MASK;
	if (need_reply && !acked_protocol(s, VHOST_USER_PROTOCOL_F_REPLY_ACK)) {
		bad(&h, "NEED_REPLY without REPLY_ACK negotiated");
		need_reply = false;
	}
	if (m->nfds && !takes_fds(m->request))
		bad(&h, "%s came with %zu file descriptor%s; it takes none (closed)",
		    name_of(m->request), m->nfds, plural(m->nfds));
	h.failed = false; /* header findings do not fail the request itself */

	switch (m->request) {
	case VHOST_USER_GET_FEATURES:
		own_reply = true;
		want_size(&h, 0);
		reply_u64(reply, m->request, s->features);
		break;
	case VHOST_USER_SET_FEATURES:
		if (want_size(&h, 8)) {
			s->acked_features = get_u64(m, 0);
			s->has_acked_features = true;
			if (s->acked_features & ~s->features)
				bad(&h, "SET_FEATURES acks 0x%" PRIx64 ", bits the backend "
				    "did not offer", s->acked_features & ~s->features);
		}
		break;
	case VHOST_USER_SET_OWNER:
		want_size(&h, 0);
		s->owner = true;
		break;
	case VHOST_USER_RESET_OWNER:
		want_size(&h, 0);
		s->owner = false;
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		own_reply = true;
		want_size(&h, 0);
		reply_u64(reply, m->request, s->protocol_features);
		break;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (want_size(&h, 8)) {
			s->acked_protocol_features = get_u64(m, 0);
			s->has_acked_protocol_features = true;
			if (s->acked_protocol_features & ~s->protocol_features)
				bad(&h, "SET_PROTOCOL_FEATURES acks 0x%" PRIx64 ", bits the "
				    "backend did not offer",
				    s->acked_protocol_features & ~s->protocol_features);
		}
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		own_reply = true;
		want_size(&h, 0);
		if (!acked_protocol(s, VHOST_USER_PROTOCOL_F_MQ))
			bad(&h, "GET_QUEUE_NUM without MQ negotiated");
		reply_u64(reply, m->request, s->cfg.queues);
		break;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		own_reply = true;
		want_size(&h, 0);
		if (!acked_protocol(s, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
			bad(&h, "GET_MAX_MEM_SLOTS without CONFIGURE_MEM_SLOTS negotiated");
		reply_u64(reply, m->request, s->cfg.max_slots);
		break;
	case VHOST_USER_SET_MEM_TABLE:
		set_mem_table(&h);
		break;
	case VHOST_USER_ADD_MEM_REG:
		add_mem_reg(&h);
		break;
	case VHOST_USER_REM_MEM_REG:
		rem_mem_reg(&h);
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		if (!want_size(&h, 8) || !(vr = vring_at(&h, get_u32(m, 0))))
			break;
		if (m->request == VHOST_USER_SET_VRING_NUM) {
			vr->num = get_u32(m, 4);
			vr->has_num = true;
		} else if (m->request == VHOST_USER_SET_VRING_BASE) {
			vr->base = get_u32(m, 4);
			vr->has_base = true;
		} else if (get_u32(m, 4) > 1) {
			bad(&h, "SET_VRING_ENABLE with %" PRIu32 ", not 0 or 1", get_u32(m, 4));
		} else {
			vr->enabled = get_u32(m, 4);
		}
		break;
	case VHOST_USER_SET_VRING_ADDR:
		if (!want_size(&h, 40) || !(vr = vring_at(&h, get_u32(m, 0))))
			break;
		vr->addr_flags = get_u32(m, 4);
		vr->desc = get_u64(m, 8);
		vr->used = get_u64(m, 16);
		vr->avail = get_u64(m, 24);
		vr->log = get_u64(m, 32);
		vr->has_addr = true;
		break;
	case VHOST_USER_GET_VRING_BASE: {
		uint32_t st[2] = { 0, 0 };

		own_reply = true;
		if (want_size(&h, 8) && (vr = vring_at(&h, get_u32(m, 0)))) {
			st[0] = get_u32(m, 0);
			st[1] = vr->base;
			vr->enabled = false; /* GET_VRING_BASE stops the ring */
		}
		reply_bytes(reply, m->request, st, sizeof(st));
		break;
	}
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		vring_fd(&h);
		break;
	case VHOST_USER_SET_STATUS:
		if (want_size(&h, 8))
			s->status = get_u64(m, 0);
		if (!acked_protocol(s, VHOST_USER_PROTOCOL_F_STATUS))
			bad(&h, "SET_STATUS without STATUS negotiated");
		break;
	case VHOST_USER_GET_STATUS:
		own_reply = true;
		want_size(&h, 0);
		if (!acked_protocol(s, VHOST_USER_PROTOCOL_F_STATUS))
			bad(&h, "GET_STATUS without STATUS negotiated");
		reply_u64(reply, m->request, s->status);
		break;
	default:
		if (vhost_user_request_name(m->request))
			bad(&h, "%s needs a protocol feature this backend did not offer",
			    name_of(m->request));
		else
			bad(&h, "unknown request %" PRIu32, m->request);
		break;
	}

	if (need_reply && !own_reply)
		reply_u64(reply, m->request, h.failed ? 1 : 0);
	return h.nomem ? -ENOMEM : 0;
}

/* ---- output ---- */

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
	int mapped = vm_umem_translate(umem, VM_SPACE_UADDR, uaddr, 1, &p, 1, &tr) == 0;

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
