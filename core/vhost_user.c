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
	bool failed;  /* what the REPLY_ACK reports */
	bool size_ok; /* the payload has the size its row says */
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

	n = get_u32(m, 0); /* the size rule gave 8 bytes at least */
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
	uint64_t v = get_u64(h->m, 0);
	if (v & ~UINT64_C(0x1ff))
		bad(h, "%s value 0x%" PRIx64 " sets bits above the index and the "
		    "no-fd flag", name_of(h->m->request), v);
	want_fds(h, v & 0x100 ? 0 : 1);
	vring_at(h, (uint32_t)(v & 0xff));
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
	if (s->acked_features & ~s->features)
		bad(h, "SET_FEATURES acks 0x%" PRIx64 ", bits the backend did not offer",
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
	if (s->acked_protocol_features & ~s->protocol_features)
		bad(h, "SET_PROTOCOL_FEATURES acks 0x%" PRIx64 ", bits the backend did "
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

static void mem_table(struct hctx *h, struct vu_reply *r)
{
	(void)r;
	if (h->m->request == VHOST_USER_SET_MEM_TABLE)
		set_mem_table(h);
	else if (h->m->request == VHOST_USER_ADD_MEM_REG)
		add_mem_reg(h);
	else
		rem_mem_reg(h);
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
		bad(h, "SET_VRING_ENABLE with %" PRIu32 ", not 0 or 1", get_u32(m, 4));
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
		vr->enabled = false; /* GET_VRING_BASE stops the ring */
	}
	reply_bytes(r, h->m->request, st, sizeof(st));
}

static void vring_fd_handler(struct hctx *h, struct vu_reply *r)
{
	(void)r;
	vring_fd(h);
}

static void set_status(struct hctx *h, struct vu_reply *r)
{
	(void)r;
	h->s->status = get_u64(h->m, 0);
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
	ROW(SET_MEM_TABLE, MIN, 8, PER_REGION, NONE, -1, ACK, mem_table),
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
	ROW(GET_CONFIG, MIN, 12, NONE, NONE, F(CONFIG), DATA, NULL),
	ROW(SET_CONFIG, MIN, 12, NONE, NONE, F(CONFIG), ACK, NULL),
	ROW(CREATE_CRYPTO_SESSION, ANY, 0, NONE, NONE, F(CRYPTO_SESSION), DATA, NULL),
	ROW(CLOSE_CRYPTO_SESSION, EXACT, 8, NONE, NONE, F(CRYPTO_SESSION), ACK, NULL),
	ROW(POSTCOPY_ADVISE, EXACT, 0, NONE, ONE, F(PAGEFAULT), DATA, NULL),
	ROW(POSTCOPY_LISTEN, EXACT, 0, NONE, NONE, F(PAGEFAULT), ACK, NULL),
	ROW(POSTCOPY_END, EXACT, 0, NONE, NONE, F(PAGEFAULT), DATA, NULL),
	ROW(GET_INFLIGHT_FD, EXACT, 24, NONE, ONE, F(INFLIGHT_SHMFD), DATA, NULL),
	ROW(SET_INFLIGHT_FD, EXACT, 24, ONE, NONE, F(INFLIGHT_SHMFD), ACK, NULL),
	ROW(GPU_SET_SOCKET, EXACT, 0, ONE_SOCKET, NONE, -1, ACK, NULL),
	ROW(RESET_DEVICE, EXACT, 0, NONE, NONE, F(RESET_DEVICE), ACK, NULL),
	ROW(VRING_KICK, EXACT, 8, NONE, NONE, F(INBAND_NOTIFICATIONS), ACK, NULL),
	ROW(GET_MAX_MEM_SLOTS, EXACT, 0, NONE, NONE, F(CONFIGURE_MEM_SLOTS), DATA,
	    get_max_mem_slots),
	[VHOST_USER_ADD_MEM_REG] = {
		{ "ADD_MEM_REG", VU_SIZE_EXACT, 40, VU_FDS_ONE, VU_FDS_NONE,
		  F(CONFIGURE_MEM_SLOTS), VU_REPLY_ACK, 8,
		  "an 8-byte payload is the postcopy end marker, but postcopy was not "
		  "set up" }, mem_table },
	ROW(REM_MEM_REG, EXACT, 40, NONE_LEGACY, NONE, F(CONFIGURE_MEM_SLOTS), ACK,
	    mem_table),
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
		bad(h, "%s carries %" PRIu32 " payload bytes: %s", ri->name, n, ri->note);
	else
		bad(h, "%s carries %" PRIu32 " payload bytes, the protocol says %s%" PRIu16,
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
			bad(h, "%s came with %zu file descriptor%s; it takes none (closed)",
			    ri->name, m->nfds, plural(m->nfds));
		break;
	case VU_FDS_NONE_LEGACY:
		if (m->nfds)
			bad(h, "%s came with %zu file descriptor%s; it should carry none "
			    "(QEMU before 7.1 sent one)", ri->name, m->nfds, plural(m->nfds));
		break;
	case VU_FDS_ONE:
	case VU_FDS_ONE_SOCKET:
		want_fds(h, 1);
		if (ri->fds == VU_FDS_ONE_SOCKET && m->nfds == 1 &&
		    m->fd_facts[0].type != VU_FD_UNKNOWN && m->fd_facts[0].type != VU_FD_SOCKET)
			bad(h, "%s carries a %s; the protocol says a socket", ri->name,
			    vu_fd_type_name((unsigned)m->fd_facts[0].type));
		break;
	case VU_FDS_OPTIONAL:
		if (m->nfds > 1)
			want_fds(h, 1);
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
	if (m->request <= VHOST_USER_MAX_REQUEST)
		s->counts[m->request]++;
	/* One order for every request: the header, the feature it needs, its
	 * payload size, its descriptors, then its handler. */
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
	h.failed = false; /* header findings do not fail the request itself */

	if (!ri) {
		if (m->nfds)
			bad(&h, "unknown request came with %zu file descriptor%s; it takes "
			    "none (closed)", m->nfds, plural(m->nfds));
		bad(&h, "unknown request %" PRIu32, m->request);
	} else {
		if (ri->feature >= 0 && !acked_protocol(s, ri->feature))
			bad(&h, "%s without %s negotiated", ri->name,
			    vhost_user_protocol_feature_name((unsigned)ri->feature));
		h.size_ok = size_ok(&h, ri);
		fds_ok(&h, ri);
		if (row->handle && (h.size_ok || ri->reply == VU_REPLY_DATA))
			row->handle(&h, reply);
		else if (!row->handle && (ri->feature < 0 || acked_protocol(s, ri->feature)))
			bad(&h, "%s is not served by this backend (recorded)", ri->name);
	}
	if (need_reply && !reply->len)
		reply_u64(reply, m->request, h.failed ? 1 : 0);
	return h.nomem ? -ENOMEM : 0;
}
