/*
 * Fuzz target: one vhost-user message, as a record (capture --record
 * format: a version 1 record, or a version 2 file header and record; see
 * vhost_user.h), decoded and handled by a
 * session that has already negotiated every feature vmmap offers and holds
 * two regions and a ring, so that each request's payload decoding is
 * reached from a state where the request is valid.
 */
#include <stdint.h>

#include "vu_common.h"

static void feed(struct vu_session *s, uint32_t request, uint32_t flags, const void *p,
		 uint32_t size, size_t nfds)
{
	struct vu_msg m = { .request = request, .flags = flags, .size = size, .nfds = nfds };
	struct vu_reply r;

	if (size)
		memcpy(m.payload, p, size);
	CHECK(vu_session_handle(s, &m, &r) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vu_msg m;
	struct vu_config cfg = { .mem_slots = true, .max_slots = 8, .queues = 2 };
	struct vu_session s;
	struct vu_reply r;
	char why[256];
	uint64_t all = ~UINT64_C(0);

	size_t skip;
	int version = vu_record_version(data, size, &skip, why, sizeof(why));

	/* A version 2 file header, then its first record; else version 1. */
	if (!version || !vu_decode_record(&m, version, data + skip, size - skip, why,
					  sizeof(why))) {
		CHECK(why[0] != '\0');
		return 0;
	}
	vu_session_init(&s, &cfg);
	feed(&s, 1, 1, NULL, 0, 0);
	all = s.features;
	feed(&s, 2, 1, &all, 8, 0);
	feed(&s, 15, 1, NULL, 0, 0);
	all = s.protocol_features;
	feed(&s, 16, 1, &all, 8, 0);
	feed(&s, 3, 1, NULL, 0, 0);
	feed(&s, 37, 9, (uint64_t[5]){ 0, 0x0, 0xa0000, 0x7f0000000000, 0 }, 40, 1);
	feed(&s, 37, 9, (uint64_t[5]){ 0, 0x100000, 0x100000, 0x7f0000100000, 0x100000 },
	     40, 1);
	feed(&s, 8, 1, (uint32_t[2]){ 0, 256 }, 8, 0);
	feed(&s, 9, 1, (uint64_t[5]){ 0, 0x7f0000100000, 0x7f0000101000, 0x7f0000102000, 0 },
	     40, 0);
	CHECK(s.nviolations == 0);

	CHECK(vu_session_handle(&s, &m, &r) == 0);
	check_reply(&m, &r);
	check_session(&s);
	check_document(&s);
	vu_session_clean(&s);
	return 0;
}
