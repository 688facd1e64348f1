/*
 * Fuzz target: what QEMU and DPDK print, as vmmap import reads it
 * (core/qemu_import.c).  The first byte chooses: `info mtree -f` text
 * imported with a fixed set of memory backends (a shared memfd "mem", a
 * memory-backend-ram "d1", a share=off memfd "d2") and a made-up gpa2hva,
 * or DPDK vhost's log.  Whatever the text: no crash, and an answer or one
 * reason; every region imported lies within 2^64 and comes from a backend
 * with a descriptor.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_import.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fake_hva(void *arg, uint64_t gpa, uint64_t *hva, char *why, size_t len)
{
	(void)arg;
	if (gpa & 1) { /* some answers are refusals */
		strncpy(why, "gpa2hva: refused", len);
		return -1;
	}
	*hva = gpa ^ 0x7f0000000000;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *objects, *memdevs;
	char *text, why[256] = "";
	json_t *doc;

	if (!size)
		return 0;
	if (!objects) {
		objects = json_loads("[{\"name\": \"mem\", \"type\": \"child<memory-backend-memfd>\"},"
				     "{\"name\": \"d1\", \"type\": \"child<memory-backend-ram>\"},"
				     "{\"name\": \"d2\", \"type\": \"child<memory-backend-memfd>\"}]",
				     0, NULL);
		memdevs = json_loads("[{\"id\": \"mem\", \"share\": true}, {\"id\": \"d1\", "
				     "\"share\": false}, {\"id\": \"d2\", \"share\": false}]", 0,
				     NULL);
		CHECK(objects && memdevs);
	}
	text = strndup((const char *)data + 1, size - 1);
	CHECK(text);
	if (data[0] & 1) {
		doc = vm_dpdk_log_import(text, why, sizeof(why));
	} else {
		struct vm_qemu_facts f = { .mtree = text, .objects = objects, .memdevs = memdevs,
					   .hva = fake_hva };

		doc = vm_qemu_import(&f, why, sizeof(why));
		CHECK(doc || why[0]);
	}
	if (doc) {
		json_t *r = json_object_get(json_object_get(doc, "memory"), "regions"), *e;
		size_t i;

		json_array_foreach(r, i, e) {
			uint64_t g = strtoull(json_string_value(json_object_get(e, "guest_phys_addr")),
					      NULL, 16);
			uint64_t z = strtoull(json_string_value(json_object_get(e, "memory_size")),
					      NULL, 16);
			const char *n = json_string_value(json_object_get(e, "name"));

			CHECK(z == 0 ? (data[0] & 1) : g + (z - 1) >= g);
			CHECK(!n || strcmp(n, "d1"));
		}
		json_decref(doc);
	}
	free(text);
	return 0;
}
