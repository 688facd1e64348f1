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
/* The longest descriptor path kept, with its NUL (vu_fd_fact). */
#define VU_FD_PATH_MAX 256
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

/* Front-end requests (docs/interop/vhost-user.rst, QEMU 8.2). */
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
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_CREATE_CRYPTO_SESSION = 26,
	VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_POSTCOPY_LISTEN = 29,
	VHOST_USER_POSTCOPY_END = 30,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_GPU_SET_SOCKET = 33,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_VRING_KICK = 35,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_GET_SHARED_OBJECT = 41,
	VHOST_USER_SET_DEVICE_STATE_FD = 42,
	VHOST_USER_CHECK_DEVICE_STATE = 43,
	VHOST_USER_MAX_REQUEST = 44,
};

/* Back-end requests, on the backend's request channel. */
enum vhost_user_backend_request {
	VHOST_USER_BACKEND_IOTLB_MSG = 1,
	VHOST_USER_BACKEND_CONFIG_CHANGE_MSG = 2,
	VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
	VHOST_USER_BACKEND_VRING_CALL = 4,
	VHOST_USER_BACKEND_VRING_ERR = 5,
	VHOST_USER_BACKEND_SHARED_OBJECT_ADD = 6,
	VHOST_USER_BACKEND_SHARED_OBJECT_REMOVE = 7,
	VHOST_USER_BACKEND_SHARED_OBJECT_LOOKUP = 8,
	VHOST_USER_BACKEND_MAX_REQUEST = 9,
};

/* What a request's payload must be. */
enum vu_size_rule {
	VU_SIZE_EXACT, /* exactly size bytes */
	VU_SIZE_MIN,   /* at least size bytes (the handler checks the rest) */
	VU_SIZE_ANY,   /* not checked here (recorded only) */
};

/* Which descriptors a request (or its reply) carries. */
enum vu_fd_rule {
	VU_FDS_NONE,        /* none */
	VU_FDS_ONE,         /* exactly one */
	VU_FDS_ONE_SOCKET,  /* exactly one, a socket */
	VU_FDS_PER_REGION,  /* one per region (SET_MEM_TABLE: its handler) */
	VU_FDS_VRING,       /* one unless bit 8 of the index (the handler) */
	VU_FDS_NONE_LEGACY, /* none, though old frontends sent one */
	VU_FDS_OPTIONAL,    /* zero or one */
};

/* What a backend answers. */
enum vu_reply_kind {
	VU_REPLY_ACK,  /* a u64 status, only when NEED_REPLY is set */
	VU_REPLY_DATA, /* always: the handler fills it */
};

/*
 * One row per request: everything about a request lives here, and the
 * names, the size and descriptor checks and the dispatch all come from it,
 * in one order (header, feature, size, descriptors, handler).
 */
struct vu_request_info {
	const char *name;
	enum vu_size_rule size_rule;
	uint16_t size;
	enum vu_fd_rule fds, reply_fds;
	int8_t feature;       /* protocol feature bit it needs, or -1 */
	enum vu_reply_kind reply;
	/* A payload size with a meaning of its own, and what it means. */
	uint16_t note_size;
	const char *note;
};
/* The row of a front-end request, or NULL when unknown. */
const struct vu_request_info *vu_request_info(uint32_t request);

/* The name of a back-end request ("CONFIG_CHANGE_MSG"), or NULL; and the
 * same for messages: the name, or "backend request N". */
const char *vhost_user_backend_request_name(uint32_t request);
const char *vu_backend_request_label(uint32_t request);
/* The name of a protocol feature bit ("REPLY_ACK"), or NULL. */
const char *vhost_user_protocol_feature_name(unsigned bit);

/* Virtio feature bits. */
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_IOMMU_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_RARP 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_NET_MTU 4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN 6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION 7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT 8
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER 11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16
#define VHOST_USER_PROTOCOL_F_XEN_MMAP 17
#define VHOST_USER_PROTOCOL_F_SHARED_OBJECT 18
#define VHOST_USER_PROTOCOL_F_DEVICE_STATE 19

/* The name of a request ("SET_MEM_TABLE"), or NULL when unknown. */
const char *vhost_user_request_name(uint32_t request);
/* The same for messages: the name, or "request N" when unknown. */
const char *vu_request_label(uint32_t request);

/* What a received descriptor is (vu_fd_fact in vu_socket.h finds out). */
struct vu_fd_fact {
	uint64_t type; /* enum vm_fd_type (umem.h) */
	uint64_t size; /* st_size */
	uint64_t dev, ino;
	/* What /proc/self/fd names it ("/memfd:NAME (deleted)", a file's
	 * path), cut at VU_FD_PATH_MAX - 1 bytes; "" when not known. */
	char path[VU_FD_PATH_MAX];
};

/* Which way a message went, and on which channel (a recording keeps
 * both; a backend session handles frontend requests on the main one). */
enum vu_direction { VU_FRONT_TO_BACK, VU_BACK_TO_FRONT };
enum vu_channel { VU_MAIN_CHANNEL, VU_BACKEND_CHANNEL };

/* One message as received: header, payload, how many fds came with it. */
struct vu_msg {
	uint32_t request, flags, size;
	uint8_t payload[VU_MAX_PAYLOAD];
	size_t nfds;
	bool fds_truncated; /* the control data did not fit (MSG_CTRUNC) */
	uint64_t time_ns;   /* since the frontend connected */
	uint8_t direction, channel;
	/* Each descriptor's facts, taken by the transport when the message
	 * arrived: the session checks regions against them without I/O. */
	struct vu_fd_fact fd_facts[VU_MAX_FDS];
};

/* A reply to send back; len 0 when there is none.  The largest is
 * GET_CONFIG's: its 12-byte header and up to 256 bytes of config space. */
struct vu_reply {
	uint8_t buf[VHOST_USER_HDR_SIZE + 12 + 256];
	size_t len;
	/* GET_INFLIGHT_FD: the reply carries a new memfd of this many bytes,
	 * which the transport makes (0: no descriptor), with the header of
	 * each of inflight_queues parts of inflight_part bytes set as a
	 * backend sets it (version 1, desc_num inflight_queue_size). */
	uint64_t memfd_size, inflight_part;
	uint16_t inflight_queues, inflight_queue_size;
};

struct vu_vring {
	/* enabled: SET_VRING_ENABLE's value; started: a kick came
	 * (SET_VRING_KICK) and no GET_VRING_BASE stopped it since. */
	bool has_num, has_base, has_addr, enabled, started;
	uint32_t num, base;
	uint32_t addr_flags;
	uint64_t desc, used, avail, log; /* frontend user addresses */
};

/* A protocol violation (or a warning), tied to the message that showed it. */
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
	bool rollback;    /* the backend refused message msg: its change undone */
};

/* The device types vmmap can be the backend of (--type), as QEMU 7.2
 * starts them: each offers its own features and, where QEMU asks for it,
 * answers GET_CONFIG. */
enum vu_device_type {
	VU_DEV_NET, VU_DEV_BLK, VU_DEV_SCSI, VU_DEV_FS, VU_DEV_VSOCK, VU_DEV_GPIO,
	VU_DEV_I2C, VU_DEV_RNG, VU_DEV_NTYPES,
};
/* Their names ("net", "blk", ...), NULL-terminated, in enum order. */
extern const char *const vu_device_type_names[VU_DEV_NTYPES + 1];
/* The type named s, or -1. */
int vu_device_type_parse(const char *s);

struct vu_config {
	bool mem_slots;     /* offer CONFIGURE_MEM_SLOTS (ADD/REM_MEM_REG) */
	uint64_t max_slots; /* GET_MAX_MEM_SLOTS answer */
	uint64_t queues;    /* GET_QUEUE_NUM answer: pairs for net, else
			     * virtqueues; above 1 the device's MQ bit too */
	unsigned type;      /* enum vu_device_type */
	uint64_t capacity;  /* blk: the disk's size in bytes (GET_CONFIG) */
	uint64_t cid;       /* vsock: the guest's CID (GET_CONFIG) */
	bool no_packed;     /* do not offer VIRTIO_F_RING_PACKED */
	/* Forwarding: the session answers nothing; what the backend offers
	 * and answers comes from its replies (vu_session_reply). */
	bool observer;
	/* and vmmap relays the backend's request channel (vu_session_channel) */
	bool relay_channel;
};

/* Forwarding keeps the first this many replies, decoded; the rest are
 * counted per request, so memory stays flat over any number. */
#define VU_MAX_REPLIES 1000
/* Requests awaiting the backend's reply (forwarding); a frontend past
 * this is not read until replies come back. */
#define VU_MAX_PENDING 4096
/* A reply slower than this is reported (never cut). */
#define VU_SLOW_REPLY_NS UINT64_C(2000000000)
/* The largest config space a GET_CONFIG reply is kept with (the protocol's
 * VHOST_USER_MAX_CONFIG_SIZE). */
#define VU_MAX_CONFIG 256

/* A request forwarded to the backend that awaits its reply. */
struct vu_pending {
	size_t msg;
	uint32_t request;
	bool sure;        /* a data reply, always sent; else only a NEED_REPLY ack */
	bool due;         /* the reply is due: a data reply, or REPLY_ACK negotiated */
	uint64_t time_ns;
	uint64_t arg;     /* the vring index (GET_VRING_BASE), the config size */
	/* A table change undone when the backend refuses it (NACK). */
	struct vm_region *added, *removed;
	size_t nadded, nremoved;
	bool has_change;
};

/* One reply of the backend, with its request. */
struct vu_reply_rec {
	size_t msg;           /* the request's message index */
	uint32_t request;
	uint32_t flags, size;
	size_t nfds;
	uint64_t time_ns, latency_ns;
	uint64_t value;       /* the u64 of a u64 reply (an ACK's status) */
	uint32_t vring[2];    /* GET_VRING_BASE: index, num */
	bool has_value, has_vring;
	/* The backend's request channel: a backend request (is_request, msg
	 * its index on the channel) or the frontend's reply to one (msg the
	 * index of the request it answers, SIZE_MAX: none). */
	bool is_request;
	uint8_t direction;
};

/* Backend requests awaiting the frontend's reply on the channel. */
#define VU_CHAN_WAIT 64

/* The backend's request channel as vmmap relays it (forwarding). */
struct vu_backend_channel {
	bool relayed;         /* a SET_BACKEND_REQ_FD socket is relayed */
	bool open;            /* and both ends are still there */
	size_t handovers;     /* SET_BACKEND_REQ_FD messages relayed */
	size_t nmsgs;         /* backend requests on it */
	size_t counts[VHOST_USER_BACKEND_MAX_REQUEST + 1];
	size_t replies_total, unanswered;
	struct vu_reply_rec *log; /* the first VU_MAX_REPLIES messages, both ways */
	size_t nlog, log_total;
	struct {
		size_t msg;
		uint32_t request, flags;
		uint64_t time_ns;
	} wait[VU_CHAN_WAIT];
	size_t whead, nwait;
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
	uint32_t last_request;        /* the request of the last message */
	size_t counts[VHOST_USER_MAX_REQUEST + 1]; /* messages per request */
	struct vu_update *updates;   /* the first VU_MAX_UPDATES changes */
	size_t nupdates, updates_total;
	struct vu_violation *violations; /* the first VU_MAX_VIOLATIONS */
	size_t nviolations, violations_total;
	/* What is suspect but within the protocol (a region past the end of
	 * its file, a descriptor that is no file): the exit status ignores
	 * them.  As many are kept as violations. */
	struct vu_violation *warnings;
	size_t nwarnings, warnings_total;

	/* Forwarding (cfg.observer): the backend's side. */
	bool has_features, has_protocol_features; /* its offers were seen */
	struct vu_pending *pending;  /* a ring of VU_MAX_PENDING, oldest first */
	size_t pending_head, npending;
	struct vu_reply_rec *replies; /* the first VU_MAX_REPLIES */
	size_t nreplies, replies_total, unanswered;
	size_t reply_counts[VHOST_USER_MAX_REQUEST + 1];
	uint64_t latency_max_ns[VHOST_USER_MAX_REQUEST + 1];
	uint64_t latency_sum_ns[VHOST_USER_MAX_REQUEST + 1];
	/* The last GET_CONFIG reply's config space. */
	uint8_t config[VU_MAX_CONFIG];
	uint32_t config_offset, config_size;
	bool has_config;
	/* The first message whose change the backend refused: its state is
	 * not known from there on (0 with unknown_state false: all known). */
	size_t unknown_from;
	bool unknown_state;
	struct vu_backend_channel chan;
};

/*
 * Decodes a 12-byte header (host order, as on the wire) into m.  Returns 0,
 * or -EMSGSIZE when the payload size is above VU_MAX_PAYLOAD (why says so):
 * the stream cannot be followed past such a header.
 */
int vu_decode_header(struct vu_msg *m, const uint8_t hdr[VHOST_USER_HDR_SIZE],
		     char *why, size_t whylen);

/*
 * A recorded session (capture --record, --replay, the fuzzers' input).
 *
 * Version 3 starts with the 8 bytes "VMMAPREC" and a u32 version (3), then
 * holds records: a flags byte (bit 0: backend to frontend, bit 1: the
 * backend's request channel, bit 7: the control data was truncated), the
 * number of descriptors (u8, at most VU_MAX_FDS), 2 zero bytes, the time
 * in ns since the connection (u64), the 12-byte header as received, the
 * payload, and for each descriptor its facts (type, size, device, inode:
 * four u64) and its path (a u16 length below VU_FD_PATH_MAX, then that
 * many bytes, no NUL).  Numbers are in host order, as on the wire.
 *
 * Version 2 is version 3 without the paths; it still replays.
 *
 * Version 1 (no magic) is a sequence of records of one byte (bits 0-5: how
 * many fds came with the message, bit 7: the control data was truncated),
 * the 12-byte header and the payload; it still replays.
 */
#define VU_RECORD_MAGIC "VMMAPREC"
#define VU_RECORD_VERSION 3
#define VU_RECORD_FILE_HDR 12
#define VU_RECORD_FDS_MASK 0x3fu
#define VU_RECORD_TRUNCATED 0x80u
#define VU_RECORD_BACK_TO_FRONT 0x01u
#define VU_RECORD_BACKEND_CHANNEL 0x02u
/* The most bytes one record takes. */
#define VU_RECORD_MAX (12 + VHOST_USER_HDR_SIZE + VU_MAX_PAYLOAD + \
		       VU_MAX_FDS * (32 + 2 + VU_FD_PATH_MAX - 1))

/*
 * The version of the recording that starts at buf[0..len) (1 to 3); *skip
 * is the length of its file header (0 for version 1).  Returns 0 for a
 * version this vmmap does not read (why says so).
 */
int vu_record_version(const uint8_t *buf, size_t len, size_t *skip, char *why,
		      size_t whylen);
/* The file header of a new recording: VU_RECORD_FILE_HDR bytes. */
void vu_record_file_header(uint8_t out[VU_RECORD_FILE_HDR]);
/* Encodes m as one record of the current version into out (at least
 * VU_RECORD_MAX bytes); returns its length. */
size_t vu_encode_record(const struct vu_msg *m, uint8_t *out);
/*
 * Decodes the record of the given version at buf[0..len): returns its
 * length (m filled; m->nfds at most VU_MAX_FDS; facts unknown in version
 * 1, paths in versions before 3), 0 when the stream ends inside it or a header is refused (why says
 * which), and never reads outside buf.
 */
size_t vu_decode_record(struct vu_msg *m, int version, const uint8_t *buf,
			size_t len, char *why, size_t whylen);

/*
 * What a message's payload says, as a JSON object of named fields
 * (vu_decode.c): regions (with the identity of their descriptors, from
 * facts), vring index, num, base (a packed ring's as indexes and wrap
 * counters) and addresses (in the frontend's space and, where the
 * session's table maps them, the guest's), enable values, features,
 * protocol features and status bits by name (bits without a name as one
 * "0x..." string), config bytes, a reply's value.  Device feature bits are
 * named for the session's device type, and left as bits when forwarding
 * (the type is the backend's).  {} when there is nothing to decode; NULL
 * when out of memory.
 */
enum vu_decode_kind {
	VU_DECODE_REQUEST,         /* the frontend's request */
	VU_DECODE_REPLY,           /* the reply to it */
	VU_DECODE_BACKEND_REQUEST, /* a backend request on its channel */
	VU_DECODE_BACKEND_REPLY,   /* the frontend's reply to one */
};
json_t *vu_decode_payload(const struct vu_session *s, enum vu_decode_kind kind,
			  uint32_t request, const uint8_t *p, uint32_t size,
			  const struct vu_fd_fact *facts, size_t nfds);
/* A virtio feature bit's name ("VERSION_1", net's "MRG_RXBUF") for a
 * device type (enum vu_device_type; -1: unknown, transport bits only),
 * or NULL. */
const char *vu_feature_name(int type, unsigned bit);
/* The set bits of v by name, as a JSON array of strings; those without
 * a name as one "0x..." string at the end.  type as for vu_feature_name. */
enum vu_bits {
	VU_BITS_FEATURES,   /* virtio feature bits */
	VU_BITS_PROTOCOL,   /* vhost-user protocol features */
	VU_BITS_STATUS,     /* virtio device status */
	VU_BITS_VRING_ADDR, /* SET_VRING_ADDR flags */
};
json_t *vu_bit_names(enum vu_bits which, uint64_t v, int type);

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
 * Forwarding: takes the backend's message m (direction VU_BACK_TO_FRONT,
 * time_ns set) on the main channel: matches it to the oldest request that
 * awaits it, records it with its latency, learns what it answers (offered
 * features, queues, slots, config, vring base) and, when the backend
 * refuses a table change (a REPLY_ACK with a non-zero status), undoes that
 * change.  *req is set to the request's message index, or SIZE_MAX when
 * nothing awaited this reply (a violation).  Returns 0 or -ENOMEM.
 */
int vu_session_reply(struct vu_session *s, const struct vu_msg *m,
		     struct vu_reply_rec *rec);
/*
 * Forwarding: takes a message m of the backend's request channel (m->channel
 * VU_BACKEND_CHANNEL; direction VU_BACK_TO_FRONT: a backend request,
 * VU_FRONT_TO_BACK: the frontend's reply), checks it against the channel's
 * rules (each finding naming its side), matches replies to requests, and
 * records it in *rec.  Returns 0 or -ENOMEM.
 */
int vu_session_channel(struct vu_session *s, const struct vu_msg *m,
		       struct vu_reply_rec *rec);
/* The channel was handed over again (a new SET_BACKEND_REQ_FD relayed) or
 * closed: what awaited a reply there will not get one. */
void vu_channel_reset(struct vu_session *s, bool open);
/* Whether m hands over a backend channel that vmmap relays: a
 * SET_BACKEND_REQ_FD with one socket, when relaying (cfg.relay_channel). */
bool vu_session_relays_channel(const struct vu_session *s, const struct vu_msg *m);

/* Forwarding: whether a reply is awaited, and whether a new request may be
 * read (fewer than VU_MAX_PENDING await theirs). */
static inline bool vu_session_can_forward(const struct vu_session *s)
{
	return s->npending < VU_MAX_PENDING;
}

/*
 * Records a violation found outside the session (by the transport) against
 * message index msg.  Returns 0 or -ENOMEM.
 */
int vu_session_violation(struct vu_session *s, size_t msg, uint32_t request,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * The capture as a vmmap document: the table, plus a "capture" section with
 * the negotiated features, the rings (user addresses translated to guest
 * physical with the final table), the timeline of table changes, the
 * violations and the warnings.  end says why the capture ended.
 */
json_t *vu_session_to_json(const struct vu_session *s, const char *end);
/* The capture section's "rings" array alone (as vu_session_to_json has it). */
json_t *vu_session_rings_json(const struct vu_session *s);
/* What vmmap vring reads of a live session: {"rings", "features":
 * {"acked"}, "device"} (device null as a proxy), without the table. */
json_t *vu_session_ring_view(const struct vu_session *s);

#endif
