/*
 * The vhost-user request table (vhost_user.c): every request of the
 * specification named, the descriptor rules the specification's list
 * leaves out, and one order of checks for every request.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_user.h"

/* docs/interop/vhost-user.rst as of QEMU 8.2, front-end requests 1..43. */
static const char *const spec[] = {
	NULL, "GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER",
	"SET_MEM_TABLE", "SET_LOG_BASE", "SET_LOG_FD", "SET_VRING_NUM",
	"SET_VRING_ADDR", "SET_VRING_BASE", "GET_VRING_BASE", "SET_VRING_KICK",
	"SET_VRING_CALL", "SET_VRING_ERR", "GET_PROTOCOL_FEATURES",
	"SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "SET_VRING_ENABLE", "SEND_RARP",
	"NET_SET_MTU", "SET_BACKEND_REQ_FD", "IOTLB_MSG", "SET_VRING_ENDIAN",
	"GET_CONFIG", "SET_CONFIG", "CREATE_CRYPTO_SESSION", "CLOSE_CRYPTO_SESSION",
	"POSTCOPY_ADVISE", "POSTCOPY_LISTEN", "POSTCOPY_END", "GET_INFLIGHT_FD",
	"SET_INFLIGHT_FD", "GPU_SET_SOCKET", "RESET_DEVICE", "VRING_KICK",
	"GET_MAX_MEM_SLOTS", "ADD_MEM_REG", "REM_MEM_REG", "SET_STATUS",
	"GET_STATUS", "GET_SHARED_OBJECT", "SET_DEVICE_STATE_FD",
	"CHECK_DEVICE_STATE",
};

static const char *const backend_spec[] = {
	NULL, "IOTLB_MSG", "CONFIG_CHANGE_MSG", "VRING_HOST_NOTIFIER_MSG",
	"VRING_CALL", "VRING_ERR", "SHARED_OBJECT_ADD", "SHARED_OBJECT_REMOVE",
	"SHARED_OBJECT_LOOKUP",
};

Test(requests, every_request_of_the_specification_is_named)
{
	for (uint32_t r = 1; r < sizeof(spec) / sizeof(*spec); r++) {
		cr_assert_not_null(vhost_user_request_name(r), "request %u", r);
		cr_assert_str_eq(vhost_user_request_name(r), spec[r]);
		cr_assert_not_null(vu_request_info(r));
	}
	cr_assert_null(vhost_user_request_name(0));
	cr_assert_null(vhost_user_request_name(44));
	cr_assert_null(vu_request_info(44));
	for (uint32_t r = 1; r < sizeof(backend_spec) / sizeof(*backend_spec); r++)
		cr_assert_str_eq(vhost_user_backend_request_name(r), backend_spec[r]);
	cr_assert_null(vhost_user_backend_request_name(0));
	cr_assert_null(vhost_user_backend_request_name(9));
}

/* What the specification's list of requests with descriptors leaves out. */
Test(requests, descriptor_rules_beyond_the_specification_list)
{
	cr_assert_eq(vu_request_info(VHOST_USER_GPU_SET_SOCKET)->fds, VU_FDS_ONE_SOCKET);
	cr_assert_eq(vu_request_info(VHOST_USER_GET_INFLIGHT_FD)->reply_fds, VU_FDS_ONE);
	cr_assert_eq(vu_request_info(VHOST_USER_POSTCOPY_ADVISE)->reply_fds, VU_FDS_ONE);
	cr_assert_eq(vu_request_info(VHOST_USER_SET_DEVICE_STATE_FD)->reply_fds,
		     VU_FDS_OPTIONAL);
	cr_assert_eq(vu_request_info(VHOST_USER_SET_BACKEND_REQ_FD)->fds, VU_FDS_ONE_SOCKET);
	cr_assert_eq(vu_request_info(VHOST_USER_SET_MEM_TABLE)->fds, VU_FDS_PER_REGION);
	cr_assert_eq(vu_request_info(VHOST_USER_GET_FEATURES)->fds, VU_FDS_NONE);
}

static struct vu_session s;

static void feed(uint32_t request, uint32_t flags, uint32_t size, size_t nfds,
		 unsigned fd_type)
{
	static struct vu_msg m;
	struct vu_reply r;

	memset(&m, 0, sizeof(m));
	m.request = request;
	m.flags = flags;
	m.size = size;
	m.nfds = nfds;
	for (size_t i = 0; i < nfds; i++)
		m.fd_facts[i].type = fd_type;
	cr_assert_eq(vu_session_handle(&s, &m, &r), 0);
}

static const char *problem(size_t i)
{
	cr_assert_lt(i, s.nviolations, "only %zu violations", s.nviolations);
	return s.violations[i].what;
}

/* Feature, size, descriptors: in that order, whatever the request. */
Test(requests, checks_run_in_one_order)
{
	struct vu_config cfg = { .mem_slots = true, .max_slots = 8, .queues = 1 };

	vu_session_init(&s, &cfg);
	feed(VHOST_USER_ADD_MEM_REG, 1, 16, 2, VM_FD_MEMFD);
	cr_assert_str_eq(problem(0), "ADD_MEM_REG without CONFIGURE_MEM_SLOTS negotiated");
	cr_assert_str_eq(problem(1), "ADD_MEM_REG carries 16 payload bytes, the protocol "
			 "says 40");
	cr_assert_str_eq(problem(2), "ADD_MEM_REG came with 2 file descriptors, the "
			 "protocol says 1");
	feed(VHOST_USER_SET_STATUS, 1, 4, 0, 0);
	cr_assert_str_eq(problem(3), "SET_STATUS without STATUS negotiated");
	cr_assert_str_eq(problem(4), "SET_STATUS carries 4 payload bytes, the protocol "
			 "says 8");
	feed(VHOST_USER_GPU_SET_SOCKET, 1, 0, 1, VM_FD_FIFO);
	cr_assert_str_eq(problem(5), "GPU_SET_SOCKET carries a pipe; the protocol says "
			 "a socket");
	cr_assert_str_eq(problem(6), "GPU_SET_SOCKET is not served by this backend "
			 "(recorded)");
	feed(VHOST_USER_ADD_MEM_REG, 1, 8, 1, VM_FD_MEMFD);
	cr_assert_str_eq(problem(8), "ADD_MEM_REG carries 8 payload bytes: an 8-byte "
			 "payload is the postcopy end marker, but postcopy was not set up");
	feed(VHOST_USER_SET_LOG_BASE, 1, 16, 1, VM_FD_MEMFD);
	cr_assert_str_eq(problem(9), "SET_LOG_BASE without LOG_SHMFD negotiated");
	cr_assert_eq(s.nviolations, 10, "one violation: no handler, feature missing");
	vu_session_clean(&s);
}

/* What the trace shows: a decoded payload as compact JSON. */
static char *decoded(enum vu_decode_kind kind, uint32_t request, const void *p,
		     uint32_t size, const struct vu_fd_fact *facts, size_t nfds)
{
	json_t *o = vu_decode_payload(&s, kind, request, p, size, facts, nfds);
	char *t;

	cr_assert_not_null(o);
	t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	cr_assert_not_null(t);
	return t;
}

#define EXPECT_DECODED(want, ...) do { \
		char *got_ = decoded(__VA_ARGS__); \
		cr_expect_str_eq(got_, want); \
		free(got_); \
	} while (0)

Test(requests, payloads_decode_by_name)
{
	struct vu_config cfg = { .mem_slots = true, .max_slots = 8, .queues = 1,
				 .type = VU_DEV_BLK };
	uint64_t v = (UINT64_C(1) << 32) | (UINT64_C(1) << 12) | (UINT64_C(1) << 9) |
		     (UINT64_C(1) << 22) | (UINT64_C(1) << 45);
	uint32_t st[2] = { 1, 0x80058003 };
	uint8_t reg[40] = { 0 }, iotlb[32] = { 0 }, table[8 + 9 * 32] = { 0 };
	struct vu_fd_fact fact = { .type = VM_FD_MEMFD, .size = 0x1000, .dev = 1, .ino = 42,
				   .path = "/memfd:memory-backend-memfd (deleted)" };
	uint64_t r[4] = { 0x1000, 0x2000, 0x7f0000000000, 0 };
	uint32_t nine = 9;

	vu_session_init(&s, &cfg);
	/* Device bits by the device type, unnamed ones as one hex string. */
	EXPECT_DECODED("{\"value\":\"0x200100401200\",\"features\":[\"FLUSH\",\"MQ\",\"VERSION_1\","
		       "\"0x200000400000\"]}", VU_DECODE_REQUEST, VHOST_USER_SET_FEATURES,
		       &v, 8, NULL, 0);
	/* A packed ring's base, once RING_PACKED is acked. */
	s.acked_features = UINT64_C(1) << VIRTIO_F_RING_PACKED;
	s.has_acked_features = true;
	EXPECT_DECODED("{\"index\":1,\"base\":\"0x80058003\",\"last_avail_idx\":3,"
		       "\"last_avail_wrap\":1,\"last_used_idx\":5,\"last_used_wrap\":1}",
		       VU_DECODE_REQUEST, VHOST_USER_SET_VRING_BASE, st, 8, NULL, 0);
	/* A region with its descriptor's identity. */
	memcpy(reg + 8, r, 32);
	EXPECT_DECODED("{\"region\":{\"guest_phys_addr\":\"0x1000\",\"memory_size\":\"0x2000\","
		       "\"userspace_addr\":\"0x7f0000000000\",\"mmap_offset\":\"0x0\",\"fd\":"
		       "{\"type\":\"memfd\",\"path\":\"/memfd:memory-backend-memfd (deleted)\","
		       "\"dev\":\"00:01\",\"ino\":42,\"size\":\"0x1000\"}}}",
		       VU_DECODE_REQUEST, VHOST_USER_ADD_MEM_REG, reg, 40, &fact, 1);
	/* A table that announces more regions than it carries: only those
	 * there are read. */
	memcpy(table, &nine, 4);
	EXPECT_DECODED("{\"nregions\":9,\"regions\":[{\"guest_phys_addr\":\"0x0\",\"memory_size\":"
		       "\"0x0\",\"userspace_addr\":\"0x0\",\"mmap_offset\":\"0x0\"}]}",
		       VU_DECODE_REQUEST, VHOST_USER_SET_MEM_TABLE, table, 40, NULL, 0);
	/* Too short for its request: named, not read. */
	EXPECT_DECODED("{\"undecoded\":\"payload shorter than the request's\"}",
		       VU_DECODE_REQUEST, VHOST_USER_SET_VRING_ADDR, reg, 39, NULL, 0);
	/* REPLY_ACK's status, and a data reply. */
	v = 0;
	EXPECT_DECODED("{\"ack\":\"success\"}", VU_DECODE_REPLY, VHOST_USER_ADD_MEM_REG, &v,
		       8, NULL, 0);
	v = 1;
	EXPECT_DECODED("{\"ack\":\"0x1\"}", VU_DECODE_REPLY, VHOST_USER_SET_MEM_TABLE, &v, 8,
		       NULL, 0);
	v = 0xf;
	EXPECT_DECODED("{\"value\":\"0xf\",\"status\":[\"ACKNOWLEDGE\",\"DRIVER\",\"DRIVER_OK\","
		       "\"FEATURES_OK\"]}", VU_DECODE_REQUEST, VHOST_USER_SET_STATUS, &v, 8,
		       NULL, 0);
	/* The backend's channel. */
	memcpy(iotlb, (uint64_t[3]){ 0x1000, 0x1000, 0 }, 24);
	iotlb[24] = 3;
	iotlb[25] = 1;
	EXPECT_DECODED("{\"iova\":\"0x1000\",\"size\":\"0x1000\",\"uaddr\":\"0x0\",\"perm\":\"RW\","
		       "\"type\":\"MISS\"}", VU_DECODE_BACKEND_REQUEST,
		       VHOST_USER_BACKEND_IOTLB_MSG, iotlb, 32, NULL, 0);
	/* Forwarding, the device type is the backend's: device bits stay bits. */
	s.cfg.observer = true;
	v = UINT64_C(1) << 9;
	EXPECT_DECODED("{\"value\":\"0x200\",\"features\":[\"0x200\"]}", VU_DECODE_REPLY,
		       VHOST_USER_GET_FEATURES, &v, 8, NULL, 0);
	vu_session_clean(&s);
}
