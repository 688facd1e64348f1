/*
 * A vhost-user backend session that records the memory table a frontend
 * (QEMU, DPDK virtio-user) sends, and checks each message against the
 * protocol.  The session is a state machine over decoded messages: it does
 * no I/O, so it can be driven by a socket (vu_socket.c), a test or a fuzzer.
 *
 * Names follow docs/interop/vhost-user.rst.
 */
#ifndef VMMAP_VHOST_USER_H
#define VMMAP_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "table.h"

/* Header: request, flags, size; all u32, host order. */
#define VHOST_USER_HDR_SIZE 12
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)
#define VHOST_USER_RESERVED_FLAGS (~0xfu)

/* The largest payload accepted (rust-vmm's MAX_MSG_SIZE); larger ones are
 * refused before they are read. */
#define VU_MAX_PAYLOAD 4096
/* File descriptors accepted with one message (rust-vmm's limit). */
#define VU_MAX_FDS 32
/* SET_MEM_TABLE carries at most this many regions. */
#define VHOST_MEMORY_BASELINE_NREGIONS 8
#define VU_MAX_VRINGS 32
/* The largest GET_MAX_MEM_SLOTS answer (--max-slots): KVM's own slot
 * limit on x86, so no real frontend needs more; it bounds the regions a
 * frontend can make vmmap hold. */
#define VU_MAX_SLOTS 32764
/* A session lists at most this many violations and table changes; more are
 * counted, not kept, so a frontend cannot grow vmmap without bound. */
#define VU_MAX_VIOLATIONS 1000
#define VU_MAX_UPDATES 10000

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_MAX_REQUEST = 44,
};

/* Virtio feature bits. */
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16

/* The name of a request ("SET_MEM_TABLE"), or NULL when unknown. */
const char *vhost_user_request_name(uint32_t request);

/* One message as received: header, payload, how many fds came with it. */
struct vu_msg {
	uint32_t request, flags, size;
	uint8_t payload[VU_MAX_PAYLOAD];
	size_t nfds;
	bool fds_truncated; /* the control data did not fit (MSG_CTRUNC) */
	uint64_t time_ns;   /* since the frontend connected */
};

/* A reply to send back; len 0 when there is none. */
struct vu_reply {
	uint8_t buf[VHOST_USER_HDR_SIZE + 64];
	size_t len;
};

struct vu_vring {
	bool has_num, has_base, has_addr, enabled;
	uint32_t num, base;
	uint32_t addr_flags;
	uint64_t desc, used, avail, log; /* frontend user addresses */
};

/* A protocol violation, tied to the message that showed it. */
struct vu_violation {
	size_t msg;        /* 0-based index of the message */
	uint32_t request;
	char *what;
};

/* One change of the table. */
struct vu_update {
	size_t msg;
	uint32_t request; /* SET_MEM_TABLE, ADD_MEM_REG or REM_MEM_REG */
	uint64_t time_ns;
	struct vm_region *added, *removed; /* copies, names NULL */
	size_t nadded, nremoved;
	size_t nregions;  /* regions in the table afterwards */
};

struct vu_config {
	bool mem_slots;     /* offer CONFIGURE_MEM_SLOTS (ADD/REM_MEM_REG) */
	uint64_t max_slots; /* GET_MAX_MEM_SLOTS answer */
	uint64_t queues;    /* GET_QUEUE_NUM answer */
};

struct vu_session {
	struct vu_config cfg;
	struct vm_table table; /* the memory table as the frontend set it */

	uint64_t features;           /* offered by GET_FEATURES */
	uint64_t protocol_features;  /* offered by GET_PROTOCOL_FEATURES */
	uint64_t acked_features;     /* SET_FEATURES */
	uint64_t acked_protocol_features;
	bool has_acked_features, has_acked_protocol_features;
	bool owner;
	uint64_t status;
	struct vu_vring vring[VU_MAX_VRINGS];

	size_t nmsgs;
	size_t counts[VHOST_USER_MAX_REQUEST + 1]; /* messages per request */
	struct vu_update *updates;   /* the first VU_MAX_UPDATES changes */
	size_t nupdates, updates_total;
	struct vu_violation *violations; /* the first VU_MAX_VIOLATIONS */
	size_t nviolations, violations_total;
};

/*
 * Decodes a 12-byte header (host order, as on the wire) into m.  Returns 0,
 * or -EMSGSIZE when the payload size is above VU_MAX_PAYLOAD (why says so):
 * the stream cannot be followed past such a header.
 */
int vu_decode_header(struct vu_msg *m, const uint8_t hdr[VHOST_USER_HDR_SIZE],
		     char *why, size_t whylen);

/*
 * A recorded session (capture --record, --replay, the fuzzers' input) is a
 * sequence of records: one byte (bits 0-5: how many fds came with the
 * message, bit 7: the control data was truncated), the 12-byte header as
 * received, and the payload.  Decodes the record at buf[0..len): returns
 * its length (m filled; m->nfds at most VU_MAX_FDS), 0 when the stream
 * ends inside it or a header is refused (why says which), and never reads
 * outside buf.
 */
#define VU_RECORD_FDS_MASK 0x3fu
#define VU_RECORD_TRUNCATED 0x80u
size_t vu_decode_record(struct vu_msg *m, const uint8_t *buf, size_t len, char *why,
			size_t whylen);

void vu_session_init(struct vu_session *s, const struct vu_config *cfg);
void vu_session_clean(struct vu_session *s);

/*
 * Handles one message: applies it, records violations, and fills *reply when
 * the frontend expects one.  Messages are numbered in the order handled.
 * Returns 0, or -ENOMEM (the session is then unusable).
 */
int vu_session_handle(struct vu_session *s, const struct vu_msg *m,
		      struct vu_reply *reply);

/*
 * Records a violation found outside the session (by the transport) against
 * message index msg.  Returns 0 or -ENOMEM.
 */
int vu_session_violation(struct vu_session *s, size_t msg, uint32_t request,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * The capture as a vmmap document: the table, plus a "capture" section with
 * the negotiated features, the rings (user addresses translated to guest
 * physical with the final table), the timeline of table changes and the
 * violations.  end says why the capture ended.
 */
json_t *vu_session_to_json(const struct vu_session *s, const char *end);

#endif
