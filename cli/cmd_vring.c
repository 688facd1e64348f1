/*
 * vmmap vring FILE [INDEX...]: the virtqueues of a capture, decoded from
 * guest memory (the shell's live capture) or from the capture's snapshot
 * (a file): indices, flags, the chains made available and not yet used,
 * the chains behind the last used entries, each descriptor translated,
 * device headers, and the in-flight area.  The JSON is core's
 * (vring_view.h); the text is printed from it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"
#include "vhost_user.h"

enum { OPT_DEVICE = 1000, OPT_BYTES, OPT_CHAINS };

struct vring_args {
	struct vmmap_ctx *ctx;
	const char *device, *bytes, *chains;
	char **pos;
	int npos;
};

static const struct argp_option vring_options[] = {
	{ "device", OPT_DEVICE, "TYPE", 0,
	  "Decode buffers as this device's: net (virtio-net header and the frame's "
	  "addresses, ethertype, protocol and ports), blk (request type, sector, "
	  "status) or none; default the capture's device (forwarded: none)", 0 },
	{ "bytes", OPT_BYTES, "N", 0,
	  "Show up to N bytes of each buffer (a snapshot: as many as it holds)", 0 },
	{ "chains", OPT_CHAINS, "N", 0,
	  "Text: list at most N chains of each kind (default 16; 0: all)", 0 },
	{ 0 },
};

static error_t vring_parse(int key, char *arg, struct argp_state *state)
{
	struct vring_args *a = state->input;

	switch (key) {
	case OPT_DEVICE: a->device = arg; return 0;
	case OPT_BYTES: a->bytes = arg; return 0;
	case OPT_CHAINS: a->chains = arg; return 0;
	case ARGP_KEY_ARGS:
		a->pos = state->argv + state->next;
		a->npos = state->argc - state->next;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_vring_argp = {
	.options = vring_options,
	.parser = vring_parse,
	.args_doc = "CAPTURE [INDEX...]",
	.doc = "Show a capture's virtqueues as the device sees them: per ring its size, "
	       "the three areas in both address spaces, the avail and used indices "
	       "and flags (and event-index values), the chains made available and "
	       "not yet used, the chains behind the last 8 used entries, each "
	       "descriptor with its guest address, length, flags and translation, "
	       "indirect tables followed, and the in-flight area.  Everything the "
	       "guest wrote is checked before it is followed; what is wrong is "
	       "named.\v"
	       "In the shell, on the live capture, guest memory is read through "
	       "the descriptors the frontend sent (read-only).  A capture FILE is "
	       "decoded from its snapshot (capture --snapshot-bytes for buffer "
	       "contents).  Exit status: 0 every ring decoded without a problem, "
	       "1 a ring or descriptor has one (named), 2 usage or input error.",
	.children = cli_global_children,
};

static const char *hexs(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static json_int_t num(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void area(const json_t *r, const char *key, const char *label)
{
	const json_t *a = json_object_get(r, key);

	if (a)
		printf("  %-6s userspace_addr %-18s guest_phys_addr %s\n", label,
		       hexs(a, "userspace_addr"), hexs(a, "guest_phys_addr"));
}

static void flags_text(const json_t *flags, char *buf, size_t len)
{
	size_t i, at = 0;
	json_t *f;

	buf[0] = 0;
	json_array_foreach(flags, i, f)
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s", i ? "|" : "",
				       json_string_value(f));
	if (!at)
		snprintf(buf, len, "-");
}

static void net_text(const json_t *n)
{
	const json_t *f = json_object_get(n, "frame");

	printf("      net: hdr flags %" JSON_INTEGER_FORMAT " gso_type %" JSON_INTEGER_FORMAT,
	       num(n, "flags"), num(n, "gso_type"));
	if (json_object_get(n, "num_buffers"))
		printf(" num_buffers %" JSON_INTEGER_FORMAT, num(n, "num_buffers"));
	if (!json_object_get(f, "src")) {
		printf("; frame cut short\n");
		return;
	}
	printf("\n      frame: %s > %s %s", hexs(f, "src"), hexs(f, "dst"), hexs(f, "ethertype"));
	if (json_object_get(f, "arp"))
		printf(" arp %s %s > %s", hexs(f, "arp"), hexs(f, "ip_src"), hexs(f, "ip_dst"));
	else if (json_object_get(f, "ip_src"))
		printf(" %s > %s", hexs(f, "ip_src"), hexs(f, "ip_dst"));
	if (json_is_string(json_object_get(f, "proto")))
		printf(" %s", hexs(f, "proto"));
	else if (json_object_get(f, "proto"))
		printf(" proto %" JSON_INTEGER_FORMAT, num(f, "proto"));
	if (json_object_get(f, "sport"))
		printf(" %" JSON_INTEGER_FORMAT " > %" JSON_INTEGER_FORMAT, num(f, "sport"),
		       num(f, "dport"));
	if (json_object_get(f, "truncated"))
		printf(" (cut short)");
	printf("\n");
	if (json_object_get(f, "bootp"))
		printf("      bootp: %s chaddr %s\n", hexs(f, "bootp"), hexs(f, "bootp_chaddr"));
}

static void blk_text(const json_t *b)
{
	const json_t *t = json_object_get(b, "type");

	printf("      blk: ");
	if (json_is_string(t))
		printf("%s", json_string_value(t));
	else
		printf("type %" JSON_INTEGER_FORMAT, json_integer_value(t));
	printf(" sector %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT " data bytes",
	       num(b, "sector"), num(b, "data_bytes"));
	if (json_object_get(b, "status"))
		printf(", status %s", hexs(b, "status"));
	printf("\n");
}

static void chains_text(const json_t *chains, const char *what, size_t max)
{
	size_t i, n = json_array_size(chains);
	json_t *c;

	json_array_foreach(chains, i, c) {
		const json_t *descs = json_object_get(c, "descs"), *d;
		size_t k;

		if (max && i == max) {
			printf("    ... %zu more %s chain%s (--chains)\n", n - max, what,
			       n - max == 1 ? "" : "s");
			break;
		}
		printf("    head %" JSON_INTEGER_FORMAT ": %zu descriptor%s, %" JSON_INTEGER_FORMAT
		       " byte%s", num(c, "head"), json_array_size(descs),
		       json_array_size(descs) == 1 ? "" : "s", num(c, "bytes"),
		       num(c, "bytes") == 1 ? "" : "s");
		if (json_object_get(c, "used_len"))
			printf(", used len %" JSON_INTEGER_FORMAT, num(c, "used_len"));
		if (json_object_get(c, "problem"))
			printf("  ! %s", hexs(c, "problem"));
		printf("\n");
		json_array_foreach(descs, k, d) {
			char flags[64], idx[24];

			flags_text(json_object_get(d, "flags"), flags, sizeof(flags));
			snprintf(idx, sizeof(idx), "%s%" JSON_INTEGER_FORMAT,
				 json_object_get(d, "in_indirect") ? "i" : "#", num(d, "index"));
			printf("      %-6s %-18s len %-8" JSON_INTEGER_FORMAT " %-16s", idx,
			       hexs(d, "addr"), num(d, "len"), flags);
			if (json_object_get(d, "id"))
				printf(" id %-5" JSON_INTEGER_FORMAT, num(d, "id"));
			if (json_object_get(d, "userspace_addr"))
				printf(" uaddr %s", hexs(d, "userspace_addr"));
			if (json_object_get(d, "problem"))
				printf("  ! %s", hexs(d, "problem"));
			if (json_object_get(d, "unmapped_at"))
				printf(" (at %s)", hexs(d, "unmapped_at"));
			printf("\n");
			if (json_object_get(d, "data"))
				printf("             data %s\n", hexs(d, "data"));
		}
		if (json_object_get(c, "net"))
			net_text(json_object_get(c, "net"));
		if (json_object_get(c, "blk"))
			blk_text(json_object_get(c, "blk"));
	}
}

static void inflight_text(const json_t *f)
{
	const json_t *a = json_object_get(f, "in_flight"), *d;
	size_t i;

	printf("  in-flight area: %s, version %" JSON_INTEGER_FORMAT ", desc_num %"
	       JSON_INTEGER_FORMAT ", used_idx %" JSON_INTEGER_FORMAT ", %zu in flight",
	       hexs(f, "layout"), num(f, "version"), num(f, "desc_num"), num(f, "used_idx"),
	       json_array_size(a));
	json_array_foreach(a, i, d)
		printf("%s%" JSON_INTEGER_FORMAT " (counter %" JSON_INTEGER_FORMAT ")",
		       i ? ", " : ": ", num(d, "index"), num(d, "counter"));
	if (json_object_get(f, "problem"))
		printf("  ! %s", hexs(f, "problem"));
	printf("\n");
}

struct vring_result {
	json_t *rings;
	const char *name;
	bool live, proxy;
	size_t max;
};

static json_t *vring_json(const void *p)
{
	const struct vring_result *r = p;

	return json_pack("{s:s, s:s, s:O}", "file", r->name, "source",
			 r->live ? "live" : "snapshot", "rings", r->rings);
}

static void vring_print(const void *p)
{
	const struct vring_result *r = p;
	size_t i;
	json_t *v;

	json_array_foreach(r->rings, i, v) {
		printf("%sring %" JSON_INTEGER_FORMAT " (%s, num %" JSON_INTEGER_FORMAT
		       "): enabled %s, started %s", i ? "\n" : "", num(v, "index"),
		       hexs(v, "layout"), num(v, "num"),
		       json_is_true(json_object_get(v, "enabled")) ? "yes" : "no",
		       json_is_true(json_object_get(v, "started")) ? "yes" : "no");
		if (json_object_get(v, "base"))
			printf(", base %" JSON_INTEGER_FORMAT, num(v, "base"));
		printf("\n");
		area(v, "desc", "desc");
		area(v, "avail", !strcmp(hexs(v, "layout"), "packed") ? "driver" : "avail");
		area(v, "used", !strcmp(hexs(v, "layout"), "packed") ? "device" : "used");
		if (json_object_get(v, "avail_idx"))
			printf("  avail flags 0x%llx idx %" JSON_INTEGER_FORMAT "; used flags 0x%llx "
			       "idx %" JSON_INTEGER_FORMAT "\n",
			       (unsigned long long)num(v, "avail_flags"), num(v, "avail_idx"),
			       (unsigned long long)num(v, "used_flags"), num(v, "used_idx"));
		if (json_object_get(v, "used_event"))
			printf("  event idx: used_event %" JSON_INTEGER_FORMAT ", avail_event %"
			       JSON_INTEGER_FORMAT "\n", num(v, "used_event"), num(v, "avail_event"));
		if (json_object_get(v, "driver_event"))
			printf("  event areas: driver off_wrap 0x%llx flags %" JSON_INTEGER_FORMAT
			       ", device off_wrap 0x%llx flags %" JSON_INTEGER_FORMAT "\n",
			       (unsigned long long)num(json_object_get(v, "driver_event"), "off_wrap"),
			       num(json_object_get(v, "driver_event"), "flags"),
			       (unsigned long long)num(json_object_get(v, "device_event"), "off_wrap"),
			       num(json_object_get(v, "device_event"), "flags"));
		if (json_object_get(v, "problem"))
			printf("  ! %s\n", hexs(v, "problem"));
		if (json_object_get(v, "pending")) {
			const char *by = hexs(v, "pending_by");

			printf("  pending: %zu chain%s from %" JSON_INTEGER_FORMAT "%s (%s)\n",
			       json_array_size(json_object_get(v, "pending")),
			       json_array_size(json_object_get(v, "pending")) == 1 ? "" : "s",
			       num(v, "pending_from"),
			       json_object_get(v, "pending_wrap")
				       ? num(v, "pending_wrap") ? ", wrap 1" : ", wrap 0" : "",
			       !strcmp(by, "base")
				       ? "the base: vmmap is the device and uses nothing"
				       : !strcmp(by, "used_idx")
				       ? "used.idx: a proxy does not see the device's position; "
					 "exact only for in-order completion"
				       : "the ring's start: no base was set");
			chains_text(json_object_get(v, "pending"), "pending", r->max);
			printf("  used (latest first): %zu chain%s\n",
			       json_array_size(json_object_get(v, "used_chains")),
			       json_array_size(json_object_get(v, "used_chains")) == 1 ? "" : "s");
			chains_text(json_object_get(v, "used_chains"), "used", r->max);
		}
		if (json_object_get(v, "inflight"))
			inflight_text(json_object_get(v, "inflight"));
		if (num(v, "problems"))
			printf("  %" JSON_INTEGER_FORMAT " problem%s (marked !)\n", num(v, "problems"),
			       num(v, "problems") == 1 ? "" : "s");
	}
	if (!json_array_size(r->rings))
		printf("no rings\n");
}

/* Whether index is asked for (no INDEX: all). */
static bool wanted(const uint64_t *want, size_t n, json_int_t index)
{
	for (size_t i = 0; i < n; i++)
		if ((json_int_t)want[i] == index)
			return true;
	return !n;
}

int cmd_vring(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vring_args a = { .ctx = ctx };
	struct vring_result r = { 0 };
	uint64_t bytes = 0, chains = 16, *want = NULL;
	const char *why, *devname;
	struct cli_guest g;
	int rc, used, device, negative = 0;
	size_t nwant = 0, i;
	json_t *ring;

	if ((rc = cli_parse(ctx, &cmd_vring_argp, argc, argv, &a)))
		return rc;
	device = a.device ? vq_device_parse(a.device) : 0;
	if (device < 0)
		return cli_error(ctx, "usage", "invalid --device '%s' (net, blk or none)",
				 a.device);
	if (a.bytes && (vm_parse_addr(a.bytes, &bytes, &why) || bytes > VQ_SNAPSHOT_BYTES_MAX))
		return cli_error(ctx, "usage", "invalid --bytes '%s': %s", a.bytes,
				 bytes > VQ_SNAPSHOT_BYTES_MAX ? "at most 65536" : why);
	if (a.chains && vm_parse_addr(a.chains, &chains, &why))
		return cli_error(ctx, "usage", "invalid --chains '%s': %s", a.chains, why);
	if ((rc = cli_guest_open(ctx, a.pos, a.npos, &g, &used)))
		return rc;
	want = calloc((size_t)(a.npos - used) + 1, sizeof(*want));
	if (!want) {
		rc = cli_error(ctx, "nomem", "out of memory");
		goto out;
	}
	for (int k = used; k < a.npos; k++) {
		if (vm_parse_addr(a.pos[k], &want[nwant], &why) || want[nwant] >= VU_MAX_VRINGS) {
			rc = cli_error(ctx, "usage", "invalid INDEX '%s': %s", a.pos[k],
				       want[nwant] >= VU_MAX_VRINGS ? "a ring index is below 256"
				       : why);
			goto out;
		}
		nwant++;
	}
	devname = json_string_value(json_object_get(g.cap, "device"));
	if (!a.device)
		device = devname && vq_device_parse(devname) > 0 ? vq_device_parse(devname) : 0;
	r.name = g.tb.name;
	r.live = g.live != NULL;
	r.max = (size_t)chains;
	r.rings = json_array();
	json_array_foreach(json_object_get(g.cap, "rings"), i, ring) {
		json_int_t index = json_integer_value(json_object_get(ring, "index"));
		struct vq_view v = { .ring = ring, .features = g.features,
				     .device = (enum vq_device)device, .umem = &g.tb.t->umem,
				     .device_base = !g.proxy,
.buffer_bytes = g.buffer_bytes,
				     .data_bytes = (size_t)bytes };
		uint8_t *fl = NULL;
		json_t *o;

		if (!wanted(want, nwant, index))
			continue;
		/* A snapshot holds at most its own bytes of each buffer. */
		if (!g.live && v.data_bytes > g.buffer_bytes)
			v.data_bytes = g.buffer_bytes;
		v.read = cli_guest_reader(&g, &v.arg);
		if (index >= 0 &&
		    !cli_guest_inflight(&g, (unsigned)index,
					g.features & (1ull << VIRTIO_F_RING_PACKED), &fl,
					&v.inflight_len, &v.inflight_queue_size))
			v.inflight = fl;
		o = vq_view_json(&v);
		free(fl);
		if (!o || json_array_append_new(r.rings, o)) {
			rc = cli_error(ctx, "nomem", "out of memory");
			goto out;
		}
		negative |= json_object_get(o, "problem") || num(o, "problems");
	}
	for (size_t k = 0; k < nwant; k++) {
		bool found = false;

		json_array_foreach(r.rings, i, ring)
			found |= num(ring, "index") == (json_int_t)want[k];
		if (!found) {
			rc = cli_error(ctx, "input", "%s: no ring %" PRIu64 " in the capture",
				       g.tb.name, want[k]);
			goto out;
		}
	}
	rc = cli_emit(ctx, &r, vring_json, vring_print,
		      negative ? VMMAP_EXIT_NEGATIVE : VMMAP_EXIT_OK);
out:
	json_decref(r.rings);
	free(want);
	cli_guest_close(&g);
	return rc;
}
