/*
 * Fuzz target: the backend session state machine over a whole recorded
 * stream (capture --record format, version 2 after its "VMMAPREC" file
 * header, version 1 otherwise: see vhost_user.h), from the first message
 * on, the way
 * `vmmap capture --replay FILE --max-slots 8` runs it: a crash file
 * reproduces with that command.  After every message the reply must be
 * well formed and the table sound; at the end the capture document is
 * built whole and its table must load back with the same regions.
 */
#include <stdint.h>

#include "vu_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vu_msg m;
	struct vu_config cfg = { .mem_slots = true, .max_slots = 8, .queues = 1 };
	struct vu_session s;
	char why[256];
	size_t off = 0, n;
	int version = vu_record_version(data, size, &off, why, sizeof(why));

	if (!version)
		return 0;
	vu_session_init(&s, &cfg);
	while (off < size && (n = vu_decode_record(&m, version, data + off, size - off,
						    why, sizeof(why)))) {
		struct vu_reply r;

		off += n;
		/* As capture --replay: the frontend's requests only. */
		if (m.direction != VU_FRONT_TO_BACK || m.channel != VU_MAIN_CHANNEL)
			continue;
		CHECK(vu_session_handle(&s, &m, &r) == 0);
		check_reply(&m, &r);
		check_session(&s);
	}
	check_document(&s);
	vu_session_clean(&s);
	return 0;
}
