/*
 * Why an address is unmapped (translate's answer to a hole): the regions
 * beside the hole in the space asked about, with the distance to each,
 * and on a capture file the address's history in the timeline: which
 * region mapped it, and by which messages it came and went.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"

/* The region that maps addr in space from, or NULL. */
static const struct vm_region *region_at(const struct vm_table *t, enum vm_space from,
					 uint64_t addr)
{
	struct vm_piece p;
	struct vm_translation tr;

	return vm_umem_translate(&t->umem, NULL, from, addr, 1, &p, 1, &tr) ? NULL : p.region;
}

static uint64_t first_of(const struct vm_region *r, enum vm_space s)
{
	return s == VM_SPACE_GPA ? r->guest_phys_addr : r->userspace_addr;
}

static json_t *neighbour(const struct vm_region *r, uint64_t distance)
{
	return r ? json_pack("{s:o, s:o}", "region", vm_json_region(r), "distance",
			     vm_json_hex(distance))
		 : json_null();
}

/* Whether region object o (vmmap-json) maps addr in space s. */
static bool maps(json_t *o, enum vm_space s, uint64_t addr)
{
	const char *a = json_string_value(json_object_get(o, s == VM_SPACE_GPA
					  ? "guest_phys_addr" : "userspace_addr"));
	const char *n = json_string_value(json_object_get(o, "memory_size"));
	uint64_t first, size;

	if (!a || !n)
		return false;
	first = strtoull(a, NULL, 16);
	size = strtoull(n, NULL, 16);
	return size && addr >= first && addr - first <= size - 1;
}

static bool same_region(json_t *a, json_t *b)
{
	static const char *const keys[] = { "guest_phys_addr", "userspace_addr", "memory_size" };

	for (int k = 0; k < 3; k++) {
		const char *x = json_string_value(json_object_get(a, keys[k]));
		const char *y = json_string_value(json_object_get(b, keys[k]));

		if (!x || !y || strcmp(x, y))
			return false;
	}
	return true;
}

/* The timeline's episodes of regions that mapped addr: [{region, added:
 * {message, request}, removed: {...} or null}]. */
static json_t *history(json_t *cap, enum vm_space s, uint64_t addr, bool *cut)
{
	json_t *tl, *out = json_array();

	*cut = json_integer_value(json_object_get(cap, "timeline_unlisted")) > 0;
	tl = json_object_get(cap, "timeline");
	for (size_t i = 0; out && i < json_array_size(tl); i++) {
		json_t *e = json_array_get(tl, i), *when;
		json_t *rem = json_object_get(e, "removed"), *add = json_object_get(e, "added");

		when = json_pack("{s:O?, s:O?, s:b}", "message", json_object_get(e, "message"),
				 "request", json_object_get(e, "request"),
				 "rollback", json_is_true(json_object_get(e, "rollback")));
		for (size_t k = 0; when && k < json_array_size(rem); k++) {
			json_t *r = json_array_get(rem, k);

			if (!maps(r, s, addr))
				continue;
			/* The latest open episode of this region closes. */
			for (size_t j = json_array_size(out); j-- > 0;) {
				json_t *ep = json_array_get(out, j);

				if (json_is_null(json_object_get(ep, "removed")) &&
				    same_region(json_object_get(ep, "region"), r)) {
					json_object_set(ep, "removed", when);
					break;
				}
			}
		}
		for (size_t k = 0; when && k < json_array_size(add); k++) {
			json_t *r = json_array_get(add, k);

			if (maps(r, s, addr) &&
			    json_array_append_new(out, json_pack("{s:O, s:O, s:n}", "region", r,
								 "added", when, "removed")))
				json_decref(out), out = NULL;
		}
		json_decref(when);
	}
	return out;
}

json_t *cli_why_unmapped(const struct vm_table *t, json_t *capture, enum vm_space s,
			 uint64_t addr, const struct vm_translation *tr)
{
	const struct vm_region *below = tr->hole_first ? region_at(t, s, tr->hole_first - 1)
						       : NULL;
	const struct vm_region *above = tr->hole_last < UINT64_MAX
					? region_at(t, s, tr->hole_last + 1) : NULL;
	json_t *o;
	bool cut = false;

	o = json_pack("{s:o, s:o}",
		      "below", neighbour(below, addr - tr->hole_first),
		      "above", neighbour(above, above ? first_of(above, s) - addr : 0));
	if (o && capture) {
		json_t *h = history(capture, s, addr, &cut);

		if (!h || json_object_set_new(o, "history", h) ||
		    (cut && json_object_set_new(o, "history_cut", json_true())))
			json_decref(o), o = NULL;
	}
	return o;
}

static void print_neighbour(json_t *n, enum vm_space s, const char *side)
{
	json_t *r = json_object_get(n, "region");
	const char *key = s == VM_SPACE_GPA ? "guest_phys_addr" : "userspace_addr";
	uint64_t first, size, dist;
	char range[CLI_RANGE_MAX], sz[VM_SIZE_MAX];
	const char *name = json_string_value(json_object_get(r, "name"));

	if (!r) {
		printf("  %s: no region\n", side);
		return;
	}
	first = strtoull(json_string_value(json_object_get(r, key)), NULL, 16);
	size = strtoull(json_string_value(json_object_get(r, "memory_size")), NULL, 16);
	dist = strtoull(json_string_value(json_object_get(n, "distance")), NULL, 16);
	cli_fmt_range(range, first, first + (size - 1));
	vm_fmt_size(sz, dist);
	printf("  %s: %s %s (%s)", side, s == VM_SPACE_GPA ? "gpa" : "uaddr", range,
	       name ? cli_safe(name) : "-");
	if (!strcmp(side, "below") && !dist)
		printf(", the address is the first byte past its end\n");
	else if (!strcmp(side, "below"))
		printf(", the address is %s (0x%" PRIx64 ") past its end\n", sz, dist);
	else
		printf(", %s (0x%" PRIx64 ") above the address\n", sz, dist);
}

static void print_when(json_t *w)
{
	printf("%s at message %" JSON_INTEGER_FORMAT "%s",
	       json_string_value(json_object_get(w, "request"))
		       ? cli_safe(json_string_value(json_object_get(w, "request"))) : "?",
	       json_integer_value(json_object_get(w, "message")),
	       json_is_true(json_object_get(w, "rollback")) ? " (a refused change undone)" : "");
}

void cli_why_unmapped_print(json_t *why, enum vm_space s)
{
	json_t *h = json_object_get(why, "history");

	print_neighbour(json_object_get(why, "below"), s, "below");
	print_neighbour(json_object_get(why, "above"), s, "above");
	if (!h)
		return;
	if (!json_array_size(h))
		printf("  never mapped in this capture%s\n",
		       json_is_true(json_object_get(why, "history_cut"))
			       ? " (as far as its timeline lists)" : "");
	for (size_t i = 0; i < json_array_size(h); i++) {
		json_t *ep = json_array_get(h, i), *r = json_object_get(ep, "region");
		uint64_t gpa = strtoull(json_string_value(json_object_get(r, "guest_phys_addr")),
					NULL, 16);
		uint64_t size = strtoull(json_string_value(json_object_get(r, "memory_size")),
					 NULL, 16);
		char range[CLI_RANGE_MAX];

		cli_fmt_range(range, gpa, gpa + (size - 1));
		printf("  mapped earlier by gpa %s (uaddr %s): added by ", range,
		       json_string_value(json_object_get(r, "userspace_addr")));
		print_when(json_object_get(ep, "added"));
		if (json_is_null(json_object_get(ep, "removed"))) {
			printf(", never removed\n");
		} else {
			printf(", removed by ");
			print_when(json_object_get(ep, "removed"));
			printf("\n");
		}
	}
}
