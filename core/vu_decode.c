/*
 * What a message says: its payload decoded into named fields, for the
 * --follow trace (vhost_user.h: vu_decode_payload).  Every read is bounded
 * by the payload's size; a payload too short for its request is named as
 * such, never read past.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_user.h"

#define DEV_BITS 24 /* device-specific feature bits 0-23 (virtio 1.2, 6) */

/* Transport feature bits (virtio 1.2, 6; vhost's LOG_ALL and vhost-user's
 * PROTOCOL_FEATURES). */
static const char *const transport_names[64] = {
	[24] = "NOTIFY_ON_EMPTY", [26] = "LOG_ALL", [27] = "ANY_LAYOUT",
	[28] = "INDIRECT_DESC", [29] = "EVENT_IDX", [30] = "PROTOCOL_FEATURES",
	[32] = "VERSION_1", [33] = "ACCESS_PLATFORM", [34] = "RING_PACKED",
	[35] = "IN_ORDER", [36] = "ORDER_PLATFORM", [37] = "SR_IOV",
	[38] = "NOTIFICATION_DATA", [39] = "NOTIF_CONFIG_DATA", [40] = "RING_RESET",
	[41] = "ADMIN_VQ",
};

/* Device feature bits, per device type (virtio 1.2, 5.x); net's reach
 * past bit 23. */
static const char *const net_names[64] = {
	"CSUM", "GUEST_CSUM", "CTRL_GUEST_OFFLOADS", "MTU", NULL, "MAC", "GSO",
	"GUEST_TSO4", "GUEST_TSO6", "GUEST_ECN", "GUEST_UFO", "HOST_TSO4", "HOST_TSO6",
	"HOST_ECN", "HOST_UFO", "MRG_RXBUF", "STATUS", "CTRL_VQ", "CTRL_RX",
	"CTRL_VLAN", "CTRL_RX_EXTRA", "GUEST_ANNOUNCE", "MQ", "CTRL_MAC_ADDR",
	[52] = "VQ_NOTF_COAL", [53] = "NOTF_COAL", [54] = "GUEST_USO4",
	[55] = "GUEST_USO6", [56] = "HOST_USO", [57] = "HASH_REPORT",
	[59] = "GUEST_HDRLEN", [60] = "RSS", [61] = "RSC_EXT", [62] = "STANDBY",
	[63] = "SPEED_DUPLEX",
};
static const char *const blk_names[DEV_BITS] = {
	"BARRIER", "SIZE_MAX", "SEG_MAX", NULL, "GEOMETRY", "RO", "BLK_SIZE", "SCSI",
	NULL, "FLUSH", "TOPOLOGY", "CONFIG_WCE", "MQ", "DISCARD", "WRITE_ZEROES",
	"LIFETIME", "SECURE_ERASE", "ZONED",
};
static const char *const scsi_names[DEV_BITS] = { "INOUT", "HOTPLUG", "CHANGE", "T10_PI" };
static const char *const fs_names[DEV_BITS] = { "NOTIFICATION" };
static const char *const vsock_names[DEV_BITS] = { "STREAM", "SEQPACKET" };
static const char *const gpio_names[DEV_BITS] = { "IRQ" };
static const char *const i2c_names[DEV_BITS] = { "ZERO_LENGTH_REQUEST" };

const char *vu_feature_name(int type, unsigned bit)
{
	static const char *const *const dev[VU_DEV_NTYPES] = {
		[VU_DEV_NET] = net_names, [VU_DEV_BLK] = blk_names,
		[VU_DEV_SCSI] = scsi_names, [VU_DEV_FS] = fs_names,
		[VU_DEV_VSOCK] = vsock_names, [VU_DEV_GPIO] = gpio_names,
		[VU_DEV_I2C] = i2c_names,
	};
	const char *const *names = type >= 0 && type < VU_DEV_NTYPES ? dev[type] : NULL;

	if (bit >= 64)
		return NULL;
	if (transport_names[bit])
		return transport_names[bit];
	if (!names || (bit >= DEV_BITS && names != net_names))
		return NULL;
	return names[bit];
}

static const char *protocol_name(int type, unsigned bit)
{
	(void)type;
	return vhost_user_protocol_feature_name(bit);
}

static const char *status_name(int type, unsigned bit)
{
	static const char *const names[8] = {
		"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK", NULL, NULL,
		"DEVICE_NEEDS_RESET", "FAILED",
	};

	(void)type;
	return bit < 8 ? names[bit] : NULL;
}

static const char *vring_flag_name(int type, unsigned bit)
{
	(void)type;
	return bit == 0 ? "LOG" : NULL;
}

json_t *vu_bit_names(enum vu_bits which, uint64_t v, int type)
{
	static const char *(*const namers[])(int, unsigned) = {
		[VU_BITS_FEATURES] = vu_feature_name, [VU_BITS_PROTOCOL] = protocol_name,
		[VU_BITS_STATUS] = status_name, [VU_BITS_VRING_ADDR] = vring_flag_name,
	};
	const char *(*name)(int, unsigned) = namers[which];
	json_t *a = json_array();
	uint64_t unknown = 0;

	for (unsigned b = 0; a && b < 64; b++) {
		const char *n;

		if (!(v & (UINT64_C(1) << b)))
			continue;
		n = name(type, b);
		if (!n)
			unknown |= UINT64_C(1) << b;
		else if (json_array_append_new(a, json_string(n)))
			json_decref(a), a = NULL;
	}
	if (a && unknown && json_array_append_new(a, vm_json_hex(unknown)))
		json_decref(a), a = NULL;
	return a;
}

static uint32_t u32_at(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, 4);
	return v;
}

static uint64_t u64_at(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, 8);
	return v;
}

/* A region description at p (32 bytes), with descriptor i's identity. */
static json_t *region_at(const uint8_t *p, const struct vu_fd_fact *facts, size_t nfds,
			 size_t i)
{
	struct vm_region r = {
		.guest_phys_addr = u64_at(p, 0), .memory_size = u64_at(p, 8),
		.userspace_addr = u64_at(p, 16), .mmap_offset = u64_at(p, 24),
	};
	json_t *o;

	if (facts && i < nfds && facts[i].type != VM_FD_UNKNOWN)
		r.fd = vm_fd_id_new((unsigned)facts[i].type, facts[i].dev, facts[i].ino,
				    facts[i].size, facts[i].path);
	o = vm_json_region(&r);
	free(r.fd);
	return o;
}

/* A ring address in the frontend's space and, when the table maps it, the
 * guest-physical one (key_gpa; null when unmapped). */
static void ring_addr(json_t **o, const struct vm_umem *umem, const char *key,
		      const char *key_gpa, uint64_t uaddr)
{
	struct vm_piece p;
	struct vm_translation tr;
	bool mapped = vm_umem_translate(umem, NULL, VM_SPACE_UADDR, uaddr, 1, &p, 1, &tr) == 0;

	if (vm_json_put(o, key, vm_json_hex(uaddr)))
		vm_json_put(o, key_gpa, mapped ? vm_json_hex(p.guest_phys_addr) : json_null());
}

static json_t *hex_bytes(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char buf[2 * VU_MAX_PAYLOAD + 1];

	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = digits[p[i] >> 4];
		buf[2 * i + 1] = digits[p[i] & 15];
	}
	buf[2 * n] = '\0';
	return json_string(buf);
}

/* A u64 payload by what the request carries. */
static void u64_fields(json_t **o, const struct vu_session *s, uint32_t request, uint64_t v,
		       bool reply)
{
	int type = s->cfg.observer ? -1 : (int)s->cfg.type;
	bool vring_fd = request == VHOST_USER_SET_VRING_KICK ||
			request == VHOST_USER_SET_VRING_CALL ||
			request == VHOST_USER_SET_VRING_ERR;

	if (!vring_fd && !vm_json_put(o, "value", vm_json_hex(v)))
		return;
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_FEATURES:
		vm_json_put(o, "features", vu_bit_names(VU_BITS_FEATURES, v, type));
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		vm_json_put(o, "protocol_features", vu_bit_names(VU_BITS_PROTOCOL, v, type));
		break;
	case VHOST_USER_GET_STATUS:
	case VHOST_USER_SET_STATUS:
		vm_json_put(o, "status", vu_bit_names(VU_BITS_STATUS, v, type));
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		if (vm_json_put(o, "index", json_integer((json_int_t)(v & 0xff))))
			vm_json_put(o, "nofd", json_boolean(v & 0x100));
		break;
	default: {
		const struct vu_request_info *ri = vu_request_info(request);

		/* A reply to a request without data is REPLY_ACK's status. */
		if (reply && (!ri || ri->reply == VU_REPLY_ACK)) {
			json_object_del(*o, "value");
			vm_json_put(o, "ack", v ? vm_json_hex(v) : json_string("success"));
		}
		break;
	}
	}
}

/* A vring state: index and num, base or enable; a packed ring's base as
 * its two indexes and wrap counters. */
static void vring_state(json_t **o, const struct vu_session *s, uint32_t request,
			const uint8_t *p)
{
	uint32_t v = u32_at(p, 4);
	bool packed = s->has_acked_features &&
		      (s->acked_features & (UINT64_C(1) << VIRTIO_F_RING_PACKED));

	if (!vm_json_put(o, "index", json_integer(u32_at(p, 0))))
		return;
	if (request == VHOST_USER_SET_VRING_NUM) {
		vm_json_put(o, "num", json_integer(v));
	} else if (request == VHOST_USER_SET_VRING_ENABLE) {
		vm_json_put(o, "enable", json_integer(v));
	} else if (packed) {
		if (vm_json_put(o, "base", vm_json_hex(v)) &&
		    vm_json_put(o, "last_avail_idx", json_integer(v & 0x7fff)) &&
		    vm_json_put(o, "last_avail_wrap", json_integer(v >> 15 & 1)) &&
		    vm_json_put(o, "last_used_idx", json_integer(v >> 16 & 0x7fff)))
			vm_json_put(o, "last_used_wrap", json_integer(v >> 31 & 1));
	} else {
		vm_json_put(o, "base", json_integer(v));
	}
}

static void frontend_request(json_t **o, const struct vu_session *s, uint32_t request,
			     const uint8_t *p, uint32_t size, const struct vu_fd_fact *facts,
			     size_t nfds, bool reply)
{
	switch (request) {
	case VHOST_USER_SET_MEM_TABLE: {
		uint32_t n = u32_at(p, 0), have = (size - 8) / 32;
		json_t *a = json_array();

		for (uint32_t i = 0; a && i < n && i < have && i < VHOST_MEMORY_BASELINE_NREGIONS; i++)
			if (json_array_append_new(a, region_at(p + 8 + 32 * i, facts, nfds, i)))
				json_decref(a), a = NULL;
		if (vm_json_put(o, "nregions", json_integer(n)))
			vm_json_put(o, "regions", a);
		else
			json_decref(a);
		break;
	}
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG:
		vm_json_put(o, "region", region_at(p + 8, facts, nfds, 0));
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		vring_state(o, s, request, p);
		break;
	case VHOST_USER_GET_VRING_BASE:
		if (reply)
			vring_state(o, s, VHOST_USER_SET_VRING_BASE, p);
		else
			vm_json_put(o, "index", json_integer(u32_at(p, 0)));
		break;
	case VHOST_USER_SET_VRING_ADDR:
		if (vm_json_put(o, "index", json_integer(u32_at(p, 0))) &&
		    vm_json_put(o, "flags", vu_bit_names(VU_BITS_VRING_ADDR, u32_at(p, 4), 0))) {
			ring_addr(o, &s->table.umem, "desc", "desc_gpa", u64_at(p, 8));
			ring_addr(o, &s->table.umem, "used", "used_gpa", u64_at(p, 16));
			ring_addr(o, &s->table.umem, "avail", "avail_gpa", u64_at(p, 24));
			vm_json_put(o, "log", vm_json_hex(u64_at(p, 32)));
		}
		break;
	case VHOST_USER_SET_LOG_BASE:
		if (vm_json_put(o, "mmap_size", vm_json_hex(u64_at(p, 0))))
			vm_json_put(o, "mmap_offset", vm_json_hex(u64_at(p, 8)));
		break;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG: {
		uint32_t len = u32_at(p, 4);

		if (vm_json_put(o, "offset", json_integer(u32_at(p, 0))) &&
		    vm_json_put(o, "size", json_integer(len)) &&
		    vm_json_put(o, "flags", json_integer(u32_at(p, 8))))
			vm_json_put(o, "config", hex_bytes(p + 12, len < size - 12 ? len : size - 12));
		break;
	}
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		if (vm_json_put(o, "mmap_size", vm_json_hex(u64_at(p, 0))) &&
		    vm_json_put(o, "mmap_offset", vm_json_hex(u64_at(p, 8))) &&
		    vm_json_put(o, "num_queues", json_integer(p[16] | p[17] << 8)))
			vm_json_put(o, "queue_size", json_integer(p[18] | p[19] << 8));
		break;
	case VHOST_USER_NET_SET_MTU:
		vm_json_put(o, "mtu", json_integer((json_int_t)u64_at(p, 0)));
		break;
	default:
		if (size == 8)
			u64_fields(o, s, request, u64_at(p, 0), reply);
		break;
	}
}

static void backend_request(json_t **o, uint32_t request, const uint8_t *p)
{
	static const char *const iotlb_types[] = {
		"MISS", "UPDATE", "INVALIDATE", "ACCESS_FAIL",
	};
	uint8_t perm, type;

	switch (request) {
	case VHOST_USER_BACKEND_IOTLB_MSG:
		perm = p[24];
		type = p[25];
		if (vm_json_put(o, "iova", vm_json_hex(u64_at(p, 0))) &&
		    vm_json_put(o, "size", vm_json_hex(u64_at(p, 8))) &&
		    vm_json_put(o, "uaddr", vm_json_hex(u64_at(p, 16))) &&
		    vm_json_put(o, "perm", json_string(perm == 1 ? "RO" : perm == 2 ? "WO"
						: perm == 3 ? "RW" : "none")))
			vm_json_put(o, "type", type >= 1 && type <= 4 ? json_string(iotlb_types[type - 1])
							      : json_integer(type));
		break;
	case VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG:
		if (vm_json_put(o, "index", json_integer((json_int_t)(u64_at(p, 0) & 0xff))) &&
		    vm_json_put(o, "nofd", json_boolean(u64_at(p, 0) & 0x100)) &&
		    vm_json_put(o, "size", vm_json_hex(u64_at(p, 8))))
			vm_json_put(o, "offset", vm_json_hex(u64_at(p, 16)));
		break;
	case VHOST_USER_BACKEND_VRING_CALL:
	case VHOST_USER_BACKEND_VRING_ERR:
		if (vm_json_put(o, "index", json_integer((json_int_t)(u64_at(p, 0) & 0xff))))
			vm_json_put(o, "value", vm_json_hex(u64_at(p, 0)));
		break;
	default:
		break;
	}
}

/* The least payload each decoded request needs; 0: nothing to decode. */
static uint32_t needs(enum vu_decode_kind kind, uint32_t request)
{
	if (kind == VU_DECODE_BACKEND_REQUEST)
		return request == VHOST_USER_BACKEND_IOTLB_MSG ? 32
		     : request == VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG ? 24
		     : request == VHOST_USER_BACKEND_VRING_CALL ||
		       request == VHOST_USER_BACKEND_VRING_ERR ? 8 : 0;
	if (kind == VU_DECODE_BACKEND_REPLY)
		return 8;
	switch (request) {
	case VHOST_USER_SET_MEM_TABLE: return 8;
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG: return 40;
	case VHOST_USER_SET_VRING_ADDR: return 40;
	case VHOST_USER_GET_VRING_BASE: return kind == VU_DECODE_REPLY ? 8 : 4;
	case VHOST_USER_SET_LOG_BASE: return kind == VU_DECODE_REPLY ? 8 : 16;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE: return 8;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG: return 12;
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD: return 20;
	case VHOST_USER_NET_SET_MTU: return 8;
	default: return 0; /* a u64 when the size is 8; else nothing */
	}
}

json_t *vu_decode_payload(const struct vu_session *s, enum vu_decode_kind kind,
			  uint32_t request, const uint8_t *p, uint32_t size,
			  const struct vu_fd_fact *facts, size_t nfds)
{
	json_t *o = json_object();
	const struct vu_request_info *ri = vu_request_info(request);
	uint32_t need = needs(kind, request);

	if (!o || !size)
		return o;
	/* A reply that is only REPLY_ACK's status. */
	if (kind == VU_DECODE_REPLY && (!ri || ri->reply == VU_REPLY_ACK)) {
		if (size >= 8)
			u64_fields(&o, s, request, u64_at(p, 0), true);
		return o;
	}
	if (size < need) {
		vm_json_put(&o, "undecoded", json_string("payload shorter than the request's"));
		return o;
	}
	if (kind == VU_DECODE_BACKEND_REQUEST)
		backend_request(&o, request, p);
	else if (kind == VU_DECODE_BACKEND_REPLY)
		vm_json_put(&o, "value", vm_json_hex(u64_at(p, 0)));
	else
		frontend_request(&o, s, request, p, size, facts, nfds,
				 kind == VU_DECODE_REPLY);
	return o;
}
