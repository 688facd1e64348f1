/*
 * A ring's view as JSON, tapes of guest memory, device headers
 * (vring_view.h).
 */
#include "vring_view.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "vhost_user.h"

/* ---- tapes ---- */

void vq_tape_free(struct vq_tape *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->runs[i].bytes);
	free(t->runs);
	t->runs = NULL;
	t->n = 0;
}

/* The first run that ends at or after gpa (runs are sorted and apart). */
static size_t run_at(const struct vq_tape *t, uint64_t gpa)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vq_tape_run *r = &t->runs[mid];

		if (r->gpa + (r->len - 1) < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vq_tape_read(void *arg, uint64_t gpa, void *buf, size_t len)
{
	const struct vq_tape *t = arg;
	size_t i;

	if (!len)
		return 0;
	if (gpa + (len - 1) < gpa)
		return -EFAULT;
	i = run_at(t, gpa);
	if (i == t->n || t->runs[i].gpa > gpa ||
	    gpa - t->runs[i].gpa + len > t->runs[i].len)
		return -EIO;
	memcpy(buf, t->runs[i].bytes + (gpa - t->runs[i].gpa), len);
	return 0;
}

/* Adds [gpa, gpa + len) with its bytes, merging the runs it touches. */
static int tape_add(struct vq_tape *t, uint64_t gpa, const uint8_t *buf, size_t len)
{
	size_t i = run_at(t, gpa ? gpa - 1 : 0), j = i;
	uint64_t lo = gpa, hi = gpa + (len - 1); /* inclusive */
	struct vq_tape_run r;

	/* Runs from i that touch [lo - 1, hi + 1] are merged into one. */
	while (j < t->n && (hi == UINT64_MAX || t->runs[j].gpa <= hi + 1)) {
		if (t->runs[j].gpa < lo)
			lo = t->runs[j].gpa;
		if (t->runs[j].gpa + (t->runs[j].len - 1) > hi)
			hi = t->runs[j].gpa + (t->runs[j].len - 1);
		j++;
	}
	if (hi - lo >= SIZE_MAX)
		return -ENOMEM;
	r.gpa = lo;
	r.len = (size_t)(hi - lo + 1);
	r.bytes = malloc(r.len);
	if (!r.bytes)
		return -ENOMEM;
	for (size_t k = i; k < j; k++)
		memcpy(r.bytes + (t->runs[k].gpa - lo), t->runs[k].bytes, t->runs[k].len);
	memcpy(r.bytes + (gpa - lo), buf, len);
	if (j == i) {
		struct vq_tape_run *v = realloc(t->runs, (t->n + 1) * sizeof(*v));

		if (!v) {
			free(r.bytes);
			return -ENOMEM;
		}
		t->runs = v;
		memmove(&t->runs[i + 1], &t->runs[i], (t->n - i) * sizeof(*v));
		t->n++;
	} else {
		for (size_t k = i; k < j; k++)
			free(t->runs[k].bytes);
		memmove(&t->runs[i + 1], &t->runs[j], (t->n - j) * sizeof(*t->runs));
		t->n -= j - i - 1;
	}
	t->runs[i] = r;
	return 0;
}

int vq_tape_record(void *arg, uint64_t gpa, void *buf, size_t len)
{
	struct vq_tape *t = arg;
	int rc = t->read(t->arg, gpa, buf, len);

	if (!rc && len && tape_add(t, gpa, buf, len))
		t->failed = true;
	return rc;
}

json_t *vq_hex_json(const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	json_t *j;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[b[i] >> 4];
		s[2 * i + 1] = digits[b[i] & 15];
	}
	s[2 * n] = 0;
	j = json_stringn(s, 2 * n);
	free(s);
	return j;
}

json_t *vq_tape_json(const struct vq_tape *t)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < t->n; i++) {
		json_t *o = json_object();

		if (!vm_json_put(&o, "guest_phys_addr", vm_json_hex(t->runs[i].gpa)) ||
		    !vm_json_put(&o, "bytes", vq_hex_json(t->runs[i].bytes, t->runs[i].len)) ||
		    json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int vq_hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *b;

	*out = NULL;
	*len = 0;
	if (!n || strlen(hex) % 2)
		return -EINVAL;
	if (!(b = malloc(n)))
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		int hi = unhex(hex[2 * k]), lo = unhex(hex[2 * k + 1]);

		if (hi < 0 || lo < 0) {
			free(b);
			return -EINVAL;
		}
		b[k] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	*len = n;
	return 0;
}

static bool parse_hex64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || strncmp(s, "0x", 2) || !s[2])
		return false;
	errno = 0;
	*v = strtoull(s + 2, &end, 16);
	return !errno && !*end;
}

int vq_tape_load(struct vq_tape *t, const json_t *memory, char *why, size_t whylen)
{
	size_t i;
	json_t *o;

	memset(t, 0, sizeof(*t));
	if (!json_is_array(memory)) {
		snprintf(why, whylen, "\"memory\" is not an array");
		return -1;
	}
	json_array_foreach(memory, i, o) {
		const char *h = json_string_value(json_object_get(o, "bytes"));
		size_t n = h ? strlen(h) : 0;
		uint64_t gpa;
		uint8_t *b;
		int rc;

		if (!parse_hex64(json_string_value(json_object_get(o, "guest_phys_addr")),
				 &gpa) || !h || !n || n % 2) {
			snprintf(why, whylen, "memory[%zu]: needs \"guest_phys_addr\" (\"0x...\") "
				 "and \"bytes\" (an even number of hex digits)", i);
			goto bad;
		}
		if (gpa + (n / 2 - 1) < gpa) {
			snprintf(why, whylen, "memory[%zu]: its bytes run past 2^64-1", i);
			goto bad;
		}
		if ((rc = vq_hex_decode(h, &b, &n))) {
			snprintf(why, whylen, rc == -ENOMEM ? "out of memory" : "memory[%zu]: "
				 "\"bytes\" holds a character that is no lowercase hex digit", i);
			goto bad;
		}
		if (tape_add(t, gpa, b, n)) {
			free(b);
			snprintf(why, whylen, "out of memory");
			goto bad;
		}
		free(b);
	}
	return 0;
bad:
	vq_tape_free(t);
	return -1;
}

/* ---- names ---- */

const char *const vq_device_names[] = {
	[VQ_DEV_NONE] = "none", [VQ_DEV_NET] = "net", [VQ_DEV_BLK] = "blk", NULL,
};

int vq_device_parse(const char *name)
{
	for (int i = 0; vq_device_names[i]; i++)
		if (!strcmp(vq_device_names[i], name))
			return i;
	return -1;
}

const char *vq_flag_names(uint16_t flags, bool packed, char *buf, size_t len)
{
	static const char *const split[] = { "NEXT", "WRITE", "INDIRECT" };
	size_t at = 0;

	buf[0] = 0;
	for (unsigned b = 0; b < 16; b++) {
		const char *name = b < 3 ? split[b] : packed && b == 7 ? "AVAIL"
					      : packed && b == 15 ? "USED" : NULL;
		char other[8];

		if (!(flags & (1u << b)))
			continue;
		if (!name) {
			snprintf(other, sizeof(other), "bit%u", b);
			name = other;
		}
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s", at ? "|" : "",
				       name);
	}
	return buf;
}

static json_t *flags_json(uint16_t flags, bool packed)
{
	char buf[128];
	json_t *a = json_array();
	char *save = NULL;

	vq_flag_names(flags, packed, buf, sizeof(buf));
	for (char *w = strtok_r(buf, "|", &save); a && w; w = strtok_r(NULL, "|", &save))
		if (json_array_append_new(a, json_string(w)))
			json_decref(a), a = NULL;
	return a;
}

/* ---- device headers ---- */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void mac(char *out, const uint8_t *p)
{
	sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3], p[4], p[5]);
}

static void ip4(char *out, const uint8_t *p)
{
	inet_ntop(AF_INET, p, out, INET_ADDRSTRLEN);
}

static void ip6(char *out, const uint8_t *p)
{
	inet_ntop(AF_INET6, p, out, INET6_ADDRSTRLEN);
}

/*
 * An Ethernet frame's summary (f[0..n) are its first bytes): addresses,
 * ethertype, the IP protocol and ports; for DHCP/BOOTP its op and
 * client address.  Says where the bytes ran out.
 */
static json_t *frame_json(const uint8_t *f, size_t n)
{
	json_t *o = json_object();
	char a[64], b[64];
	uint16_t type;
	size_t at = 14, l4 = 0;
	int proto = -1;

	if (n < 14)
		return vm_json_put(&o, "truncated", json_true()) ? o : NULL;
	mac(a, f + 6);
	mac(b, f);
	type = be16(f + 12);
	if (type == 0x8100 && n >= 18) {
		vm_json_put(&o, "vlan", json_integer(be16(f + 14) & 0xfff));
		type = be16(f + 16);
		at = 18;
	}
	vm_json_put(&o, "src", json_string(a));
	vm_json_put(&o, "dst", json_string(b));
	snprintf(a, sizeof(a), "0x%04x", type);
	vm_json_put(&o, "ethertype", json_string(a));
	if (type == 0x0800 && n >= at + 20 && (f[at] >> 4) == 4) {
		ip4(a, f + at + 12);
		ip4(b, f + at + 16);
		vm_json_put(&o, "ip_src", json_string(a));
		vm_json_put(&o, "ip_dst", json_string(b));
		proto = f[at + 9];
		l4 = at + 4u * (f[at] & 15);
	} else if (type == 0x86dd && n >= at + 40) {
		ip6(a, f + at + 8);
		ip6(b, f + at + 24);
		vm_json_put(&o, "ip_src", json_string(a));
		vm_json_put(&o, "ip_dst", json_string(b));
		proto = f[at + 6];
		l4 = at + 40;
	} else if (type == 0x0806 && n >= at + 28) {
		ip4(a, f + at + 14);
		ip4(b, f + at + 24);
		vm_json_put(&o, "arp", json_string(be16(f + at + 6) == 1 ? "request"
						    : be16(f + at + 6) == 2 ? "reply" : "other"));
		vm_json_put(&o, "ip_src", json_string(a));
		vm_json_put(&o, "ip_dst", json_string(b));
	}
	if (proto >= 0)
		vm_json_put(&o, "proto", proto == 6 ? json_string("tcp") : proto == 17
			    ? json_string("udp") : proto == 1 ? json_string("icmp")
			    : proto == 58 ? json_string("icmpv6") : json_integer(proto));
	if ((proto == 6 || proto == 17) && n >= l4 + 4) {
		uint16_t sp = be16(f + l4), dp = be16(f + l4 + 2);

		vm_json_put(&o, "sport", json_integer(sp));
		vm_json_put(&o, "dport", json_integer(dp));
		/* BOOTP/DHCP (RFC 2131): op at the payload's start, chaddr at 28. */
		if (proto == 17 && (sp == 67 || sp == 68) && (dp == 67 || dp == 68) &&
		    n >= l4 + 8 + 34) {
			const uint8_t *p = f + l4 + 8;

			mac(a, p + 28);
			vm_json_put(&o, "bootp", json_string(p[0] == 1 ? "BOOTREQUEST"
							     : p[0] == 2 ? "BOOTREPLY" : "other"));
			vm_json_put(&o, "bootp_chaddr", json_string(a));
		}
	} else if (proto >= 0 && l4 && n < l4 + 4) {
		vm_json_put(&o, "truncated", json_true());
	}
	return o;
}

/* Reads up to max bytes of the chain's descriptors d[0..n) that are (or,
 * with write, are not) device-writable, in order, into buf. */
static size_t gather(const struct vq_view *v, const struct vq_desc *d, size_t n, bool write,
		     uint8_t *buf, size_t max)
{
	size_t got = 0;

	for (size_t i = 0; i < n && got < max; i++) {
		size_t take = d[i].len < max - got ? d[i].len : max - got;

		if (!!(d[i].flags & VRING_DESC_F_WRITE) != write || (d[i].flags & VRING_DESC_F_INDIRECT))
			continue;
		if (!take || v->read(v->arg, d[i].addr, buf + got, take))
			break;
		got += take;
	}
	return got;
}

/* The virtio-net header (10 bytes, 12 with MRG_RXBUF or VERSION_1) and
 * the frame behind it: a TX chain's readable buffers, or an RX chain's
 * written ones as far as the used length says. */
static json_t *net_json(const struct vq_view *v, const struct vq_chain *c,
			const struct vq_desc *d)
{
	size_t hl = v->features & (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MRG_RXBUF)
			    ? 12 : 10;
	size_t max = v->buffer_bytes < VQ_HEADER_BYTES ? v->buffer_bytes : VQ_HEADER_BYTES;
	bool rx = c->n && (d[0].flags & VRING_DESC_F_WRITE);
	uint8_t buf[VQ_HEADER_BYTES];
	size_t got;
	json_t *o;

	if (rx && !c->has_used)
		return NULL; /* posted, not yet written */
	if (rx && c->used_len < max)
		max = c->used_len;
	got = gather(v, d, c->n, rx, buf, max);
	if (got < hl)
		return NULL;
	o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "flags", buf[0], "gso_type", buf[1],
		      "hdr_len", le16(buf + 2), "gso_size", le16(buf + 4), "csum_start",
		      le16(buf + 6), "csum_offset", le16(buf + 8));
	if (hl == 12)
		vm_json_put(&o, "num_buffers", json_integer(le16(buf + 10)));
	vm_json_put(&o, "frame", frame_json(buf + hl, got - hl));
	return o;
}

static const char *blk_type(uint32_t t)
{
	switch (t) {
	case 0: return "IN";
	case 1: return "OUT";
	case 4: return "FLUSH";
	case 8: return "GET_ID";
	case 11: return "DISCARD";
	case 13: return "WRITE_ZEROES";
	case 14: return "SECURE_ERASE";
	}
	return NULL;
}

/* The virtio-blk request: its header (type, sector) in the first buffer,
 * the data between, the status byte (a used chain's) at the last. */
static json_t *blk_json(const struct vq_view *v, const struct vq_chain *c,
			const struct vq_desc *d)
{
	uint8_t h[16], st;
	uint32_t type;
	uint64_t sector, data = 0;
	json_t *o;

	if (c->n < 2 || v->buffer_bytes < 16 || d[0].len < 16 ||
	    (d[0].flags & (VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT)) ||
	    v->read(v->arg, d[0].addr, h, 16))
		return NULL;
	memcpy(&type, h, 4);
	memcpy(&sector, h + 8, 8);
	for (size_t i = 1; i + 1 < c->n; i++)
		data += d[i].len;
	o = json_pack("{s:o, s:I, s:I}", "type", blk_type(type) ? json_string(blk_type(type))
		      : json_integer(type), "sector", (json_int_t)sector, "data_bytes",
		      (json_int_t)data);
	if (c->has_used && (d[c->n - 1].flags & VRING_DESC_F_WRITE) && d[c->n - 1].len &&
	    !v->read(v->arg, d[c->n - 1].addr + d[c->n - 1].len - 1, &st, 1))
		vm_json_put(&o, "status", json_string(st == 0 ? "OK" : st == 1 ? "IOERR"
					: st == 2 ? "UNSUPP" : "other"));
	return o;
}

/* ---- the ring ---- */

static bool get_hex(const json_t *o, const char *key, uint64_t *v)
{
	return parse_hex64(json_string_value(json_object_get(o, key)), v);
}

static json_t *desc_json(const struct vq_view *v, const struct vq_desc *d, bool packed)
{
	json_t *o = json_pack("{s:i, s:o, s:I, s:o}", "index", d->index, "addr",
			      vm_json_hex(d->addr), "len", (json_int_t)d->len, "flags",
			      flags_json(d->flags, packed));
	if (packed)
		vm_json_put(&o, "id", json_integer(d->next));
	else if (d->flags & VRING_DESC_F_NEXT)
		vm_json_put(&o, "next", json_integer(d->next));
	if (d->indirect)
		vm_json_put(&o, "in_indirect", json_true());
	/* Where the decoder found it in the table (vring.c). */
	if (d->has_uaddr && !d->problem)
		vm_json_put(&o, "userspace_addr", vm_json_hex(d->uaddr));
	if (d->has_unmapped)
		vm_json_put(&o, "unmapped_at", vm_json_hex(d->unmapped_at));
	if (d->problem)
		vm_json_put(&o, "problem", json_string(d->problem));
	if (v->data_bytes && d->len && !(d->flags & VRING_DESC_F_INDIRECT)) {
		size_t n = d->len < v->data_bytes ? d->len : v->data_bytes;
		uint8_t *b = malloc(n);

		if (b && !v->read(v->arg, d->addr, b, n))
			vm_json_put(&o, "data", vq_hex_json(b, n));
		else if (b)
			vm_json_put(&o, "data_unreadable", json_true());
		free(b);
	}
	return o;
}

static json_t *chains_json(const struct vq_view *v, const struct vq_chain *c, size_t n,
			   const struct vq_desc *descs, bool packed)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		json_t *o = json_pack("{s:i, s:I}", "head", c[i].head, "bytes",
				      (json_int_t)c[i].bytes), *ds = json_array(), *dev = NULL;

		if (c[i].has_used)
			vm_json_put(&o, "used_len", json_integer(c[i].used_len));
		if (c[i].problem)
			vm_json_put(&o, "problem", json_string(c[i].problem));
		for (size_t k = 0; ds && k < c[i].n; k++)
			if (json_array_append_new(ds, desc_json(v, &descs[c[i].first + k], packed)))
				json_decref(ds), ds = NULL;
		vm_json_put(&o, "descs", ds);
		if (v->buffer_bytes && v->device == VQ_DEV_NET)
			dev = net_json(v, &c[i], &descs[c[i].first]);
		else if (v->buffer_bytes && v->device == VQ_DEV_BLK)
			dev = blk_json(v, &c[i], &descs[c[i].first]);
		if (dev)
			vm_json_put(&o, v->device == VQ_DEV_NET ? "net" : "blk", dev);
		if (json_array_append_new(a, o))
			json_decref(a), a = NULL;
	}
	return a;
}

static json_t *inflight_json(const struct vq_view *v, bool packed)
{
	struct vq_inflight f;
	json_t *o, *a;

	if (vq_inflight_decode(v->inflight, v->inflight_len, packed, v->inflight_queue_size, &f))
		return NULL;
	o = json_pack("{s:s, s:i, s:i, s:o}", "layout", packed ? "packed" : "split", "version",
		      f.version, "desc_num", f.desc_num, "features", vm_json_hex(f.features));
	if (packed) {
		vm_json_put(&o, "free_head", json_integer(f.free_head));
		vm_json_put(&o, "old_free_head", json_integer(f.old_free_head));
		vm_json_put(&o, "used_idx", json_integer(f.used_idx));
		vm_json_put(&o, "old_used_idx", json_integer(f.old_used_idx));
		vm_json_put(&o, "used_wrap_counter", json_integer(f.used_wrap_counter));
	} else {
		vm_json_put(&o, "last_batch_head", json_integer(f.last_batch_head));
		vm_json_put(&o, "used_idx", json_integer(f.used_idx));
	}
	a = json_array();
	for (size_t i = 0; a && i < f.ninflight; i++) {
		const struct vq_inflight_desc *d = &f.inflight[i];
		json_t *e = json_pack("{s:i, s:I}", "index", d->index, "counter",
				      (json_int_t)d->counter);

		if (packed && e &&
		    (!vm_json_put(&e, "id", json_integer(d->id)) ||
		     !vm_json_put(&e, "num", json_integer(d->num)) ||
		     !vm_json_put(&e, "addr", vm_json_hex(d->addr)) ||
		     !vm_json_put(&e, "len", json_integer(d->len))))
			e = NULL;
		if (json_array_append_new(a, e))
			json_decref(a), a = NULL;
	}
	vm_json_put(&o, "in_flight", a);
	if (f.problem)
		vm_json_put(&o, "problem", json_string(f.problem));
	vq_inflight_free(&f);
	return o;
}

/* What a decoded ring (split or packed) says of its chains. */
struct chains {
	const char *ring_problem;
	uint16_t from;
	int wrap;                /* packed: the wrap counter at from; -1: split */
	const char *by;          /* where from comes from */
	const struct vq_chain *c;
	size_t npending, nchains;
	const struct vq_desc *descs;
	size_t nproblems;
	bool packed;
};

static void put_chains(json_t **o, const struct vq_view *v, const struct chains *k)
{
	if (k->ring_problem)
		vm_json_put(o, "problem", json_string(k->ring_problem));
	vm_json_put(o, "pending_from", json_integer(k->from));
	if (k->wrap >= 0)
		vm_json_put(o, "pending_wrap", json_integer(k->wrap));
	vm_json_put(o, "pending_by", json_string(k->by));
	vm_json_put(o, "pending", chains_json(v, k->c, k->npending, k->descs, k->packed));
	/* A ring that could not be read has no chains (NULL). */
	vm_json_put(o, "used_chains", chains_json(v, k->c ? k->c + k->npending : NULL,
						  k->nchains - k->npending, k->descs, k->packed));
	vm_json_put(o, "problems", json_integer((json_int_t)k->nproblems));
}

/* The ring's three areas, by the capture's user and guest addresses. */
static bool area(const json_t *ring, const char *key, json_t **o, uint64_t *gpa)
{
	const json_t *a = json_object_get(ring, key);
	uint64_t u;

	if (!a || !get_hex(a, "userspace_addr", &u))
		return false;
	vm_json_put(o, key, json_deep_copy(a));
	return get_hex(a, "guest_phys_addr", gpa);
}

json_t *vq_view_json(const struct vq_view *v)
{
	const json_t *r = v->ring;
	bool packed = v->features & (1ull << VIRTIO_F_RING_PACKED);
	bool event_idx = v->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	json_int_t num = json_integer_value(json_object_get(r, "num"));
	const json_t *base = json_object_get(r, "base");
	uint64_t desc = 0, avail = 0, used = 0;
	bool mapped;
	json_t *o;
	int rc;

	o = json_pack("{s:I, s:I, s:s, s:O, s:O}", "index",
		      json_integer_value(json_object_get(r, "index")), "num", num, "layout",
		      packed ? "packed" : "split", "enabled",
		      json_object_get(r, "enabled") ? json_object_get(r, "enabled") : json_null(),
		      "started",
		      json_object_get(r, "started") ? json_object_get(r, "started") : json_null());
	if (json_is_integer(base))
		vm_json_put(&o, "base", json_integer(json_integer_value(base)));
	mapped = area(r, "desc", &o, &desc);
	mapped &= area(r, "avail", &o, &avail);
	mapped &= area(r, "used", &o, &used);
	if (v->inflight && o)
		vm_json_put(&o, "inflight", inflight_json(v, packed));
	if (!o)
		return NULL;
	if (v->features & (1ull << VIRTIO_F_IOMMU_PLATFORM)) {
		vm_json_put(&o, "iommu", json_true());
		vm_json_put(&o, "problem", json_string(
			"VIRTIO_F_IOMMU_PLATFORM was negotiated: ring and buffer addresses are "
			"IOVAs, not decoded as guest-physical"));
		return o;
	}
	if (!json_object_get(r, "desc")) {
		vm_json_put(&o, "problem", json_string("no addresses were set (SET_VRING_ADDR)"));
		return o;
	}
	if (!mapped) {
		vm_json_put(&o, "problem", json_string("an area's user address is not in the "
						       "memory table"));
		return o;
	}
	if (num <= 0 || num > VQ_MAX_NUM || (!packed && (num & (num - 1)))) {
		vm_json_put(&o, "problem", json_string(packed ? "its size is not 1 to 32768"
						       : "its size is not a power of 2 up to 32768"));
		return o;
	}
	if (!packed) {
		struct vq_split_cfg cfg = { .num = (uint16_t)num, .desc = desc, .avail = avail,
					    .used = used, .event_idx = event_idx,
					    .has_base = v->device_base && json_is_integer(base),
					    .base = (uint16_t)json_integer_value(base),
					    .umem = v->umem };
		struct vq_split s;

		if ((rc = vq_split_decode(&cfg, v->read, v->arg, &s))) {
			json_decref(o);
			return NULL;
		}
		vm_json_put(&o, "avail_flags", json_integer(s.avail_flags));
		vm_json_put(&o, "avail_idx", json_integer(s.avail_idx));
		vm_json_put(&o, "used_flags", json_integer(s.used_flags));
		vm_json_put(&o, "used_idx", json_integer(s.used_idx));
		if (event_idx) {
			vm_json_put(&o, "used_event", json_integer(s.used_event));
			vm_json_put(&o, "avail_event", json_integer(s.avail_event));
		}
		put_chains(&o, v, &(struct chains){ s.ring_problem, s.from, -1,
			   cfg.has_base ? "base" : "used_idx", s.chains, s.npending, s.nchains,
			   s.descs, s.nproblems, false });
		vq_split_free(&s);
	} else {
		uint64_t b = json_is_integer(base) ? (uint64_t)json_integer_value(base) : 0;
		struct vq_packed_cfg cfg = { .num = (uint16_t)num, .desc = desc, .driver = avail,
					     .device = used, .has_base = json_is_integer(base),
					     .last_avail_idx = (uint16_t)(b & 0x7fff),
					     .avail_wrap = (b >> 15) & 1, .umem = v->umem };
		struct vq_packed p;

		if ((rc = vq_packed_decode(&cfg, v->read, v->arg, &p))) {
			json_decref(o);
			return NULL;
		}
		vm_json_put(&o, "driver_event", json_pack("{s:i, s:i}", "off_wrap",
							  p.driver_off_wrap, "flags",
							  p.driver_flags));
		vm_json_put(&o, "device_event", json_pack("{s:i, s:i}", "off_wrap",
							  p.device_off_wrap, "flags",
							  p.device_flags));
		put_chains(&o, v, &(struct chains){ p.ring_problem, p.from, p.wrap,
			   cfg.has_base ? "base" : "start", p.chains, p.npending, p.nchains,
			   p.descs, p.nproblems, true });
		vq_packed_free(&p);
	}
	return o;
}
