/*
 * show of a capture file: after the table, what the capture section says
 * (vmmap-capture(1)), read back as its JSON: the end, the negotiated
 * features by name, each ring in both address spaces, the violations and
 * warnings, and the timeline of table changes.  A section edited by hand
 * is shown as far as it holds what is expected; nothing in it is trusted
 * to have a type.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"
#include "vhost_user.h"

/* Timeline entries listed; the rest are counted. */
#define SHOW_TIMELINE 20

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? cli_safe(s) : "-";
}

static json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *yes(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return !v ? "-" : json_is_true(v) ? "yes" : "no";
}

/* "0x..." and its bits by name (vu_bit_names), '|' between. */
static void bits(const char *hex, enum vu_bits which, int type)
{
	json_t *names;

	if (!hex || strncmp(hex, "0x", 2)) {
		printf("-");
		return;
	}
	names = vu_bit_names(which, strtoull(hex, NULL, 16), type);
	printf("%s", cli_safe(hex));
	for (size_t i = 0; i < json_array_size(names); i++)
		printf("%s%s", i ? "|" : " ", json_string_value(json_array_get(names, i)));
	json_decref(names);
}

static void features(json_t *cap, const char *key, const char *label, enum vu_bits which,
		     int type)
{
	json_t *f = json_object_get(cap, key);

	printf("  %s: acked ", label);
	bits(json_string_value(json_object_get(f, "acked")), which, type);
	printf("\n    offered ");
	bits(json_string_value(json_object_get(f, "offered")), which, type);
	printf("\n");
}

/* A ring area: the frontend's address and the guest's (or "unmapped"). */
static void area(json_t *ring, const char *key)
{
	json_t *a = json_object_get(ring, key);
	const char *gpa = json_string_value(json_object_get(a, "guest_phys_addr"));

	if (!a)
		return;
	printf("    %-5s uaddr %-18s gpa %s\n", key, str(a, "userspace_addr"),
	       gpa ? cli_safe(gpa) : "unmapped");
}

static void findings(json_t *cap, const char *key, const char *label)
{
	json_t *v = json_object_get(cap, key);

	if (!json_array_size(v))
		return;
	printf("  %s: %zu\n", label, json_array_size(v) +
	       (size_t)num(cap, strcmp(key, "violations") ? "warnings_unlisted"
							 : "violations_unlisted"));
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);

		printf("    message %" JSON_INTEGER_FORMAT " (%s): %s\n", num(e, "message"),
		       str(e, "request"), str(e, "problem"));
	}
}

static void timeline(json_t *cap)
{
	json_t *tl = json_object_get(cap, "timeline");
	size_t n = json_array_size(tl), more = (size_t)num(cap, "timeline_unlisted");

	printf("  timeline: %zu table change%s\n", n + more, n + more == 1 ? "" : "s");
	for (size_t i = 0; i < n && i < SHOW_TIMELINE; i++) {
		json_t *e = json_array_get(tl, i);

		printf("    +%.6fs #%" JSON_INTEGER_FORMAT " %s +%zu -%zu = %" JSON_INTEGER_FORMAT
		       " region%s%s\n", (double)num(e, "time_ns") / 1e9, num(e, "message"),
		       str(e, "request"), json_array_size(json_object_get(e, "added")),
		       json_array_size(json_object_get(e, "removed")), num(e, "regions"),
		       num(e, "regions") == 1 ? "" : "s",
		       json_is_true(json_object_get(e, "rollback")) ? " (refused, undone)" : "");
	}
	if (n + more > SHOW_TIMELINE)
		printf("    ... %zu more\n", n + more - SHOW_TIMELINE);
}

void cli_show_capture(const char *text)
{
	json_t *cap = json_loads(text, 0, NULL), *rings;
	const char *dev;
	int type = -1;

	if (!json_is_object(cap)) {
		json_decref(cap);
		return;
	}
	dev = json_string_value(json_object_get(cap, "device"));
	for (int i = 0; dev && vu_device_type_names[i]; i++)
		if (!strcmp(dev, vu_device_type_names[i]))
			type = i;
	printf("capture: end %s, %" JSON_INTEGER_FORMAT " messages%s%s\n", str(cap, "end"),
	       num(cap, "messages"), dev ? ", vmmap answered as " : "",
	       dev ? cli_safe(dev) : "");
	features(cap, "features", "features", VU_BITS_FEATURES, type);
	features(cap, "protocol_features", "protocol features", VU_BITS_PROTOCOL, type);
	rings = json_object_get(cap, "rings");
	printf("  rings: %zu\n", json_array_size(rings));
	for (size_t i = 0; i < json_array_size(rings); i++) {
		json_t *r = json_array_get(rings, i);

		printf("  ring %" JSON_INTEGER_FORMAT ": num %" JSON_INTEGER_FORMAT " base %"
		       JSON_INTEGER_FORMAT " enabled %s started %s\n", num(r, "index"),
		       num(r, "num"), num(r, "base"), yes(r, "enabled"), yes(r, "started"));
		area(r, "desc");
		area(r, "avail");
		area(r, "used");
	}
	findings(cap, "violations", "violations");
	findings(cap, "warnings", "warnings");
	timeline(cap);
	json_decref(cap);
}

void cli_show_import(const char *text)
{
	json_t *imp = json_loads(text, 0, NULL), *u;
	size_t i;

	if (!json_is_object(imp)) {
		json_decref(imp);
		return;
	}
	printf("import: %s", str(imp, "source"));
	if (json_object_get(imp, "qemu"))
		printf(" (QEMU %s over %s, taken %s)", str(imp, "qemu"), str(imp, "qmp"),
		       str(imp, "taken"));
	printf("\n");
	u = json_object_get(imp, "unsent");
	if (json_array_size(u))
		printf("  guest RAM no vhost-user backend gets intact: %zu range%s\n",
		       json_array_size(u), json_array_size(u) == 1 ? "" : "s");
	for (i = 0; i < json_array_size(u); i++) {
		json_t *e = json_array_get(u, i);
		const char *g = json_string_value(json_object_get(e, "guest_phys_addr"));
		const char *z = json_string_value(json_object_get(e, "memory_size"));
		uint64_t gpa = g ? strtoull(g, NULL, 16) : 0, size = z ? strtoull(z, NULL, 16) : 0;
		char sz[24];

		vm_fmt_size(sz, size);
		printf("    %016" PRIx64 "-%016" PRIx64 " %9s  %s (%s%s%s): %s; fix: %s\n", gpa,
		       gpa + (size ? size - 1 : 0), sz, str(e, "backend"), str(e, "type"),
		       json_object_get(e, "device") ? ", plugged by " : "",
		       json_object_get(e, "device") ? str(e, "device") : "", str(e, "reason"),
		       str(e, "fix"));
	}
	json_decref(imp);
}
