/*
 * Split virtqueues read from guest memory (vring.h).
 */
#include "vring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An indirect table holds at most this many descriptors: one more would
 * be a chain longer than any ring (virtio: a chain fits in Queue Size). */
#define VQ_MAX_INDIRECT VQ_MAX_NUM

struct walk {
	const struct vq_split_cfg *cfg;
	vq_read_fn read;
	void *arg;
	/* The answer's descriptor list (split or packed) and its count of
	 * problems: push appends there. */
	struct vq_desc **descs;
	size_t *ndescs, *nproblems;
	size_t cap;
	/* Per descriptor of the ring, and of an indirect table: the walk
	 * that last visited it (stamp: this one), so that no walk clears
	 * them. */
	uint32_t *seen, *iseen;
	uint32_t stamp, istamp;
	/* The last region a buffer was found in: the next is likely there. */
	struct vm_umem_last last;
};

static int push(struct walk *w, const struct vq_desc *d)
{
	if (*w->ndescs == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct vq_desc *v = realloc(*w->descs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		*w->descs = v;
		w->cap = cap;
	}
	(*w->descs)[(*w->ndescs)++] = *d;
	if (d->problem)
		(*w->nproblems)++;
	return 0;
}

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The problem of a descriptor that could not be read: a chain ends at it
 * (compared by address). */
static const char unreadable[] = "the descriptor cannot be read";

/* Descriptor i of the table at table: 0, or a problem. */
static const char *read_desc(struct walk *w, uint64_t table, uint32_t i, struct vq_desc *d)
{
	uint8_t b[16];

	if (w->read(w->arg, table + 16ull * i, b, sizeof(b)))
		return unreadable;
	memcpy(&d->addr, b, 8);
	memcpy(&d->len, b + 8, 4);
	d->flags = u16(b + 12);
	d->next = u16(b + 14);
	return NULL;
}

/* Where an indirect table starts in the frontend's space (the table
 * itself is read through the reader, which says if it cannot be). */
static void locate(struct walk *w, struct vq_desc *d)
{
	struct vm_translation tr;
	struct vm_piece pc;

	if (w->cfg->umem && !d->problem &&
	    !vm_umem_translate(w->cfg->umem, &w->last, VM_SPACE_GPA, d->addr, 1, &pc, 1, &tr)) {
		d->has_uaddr = true;
		d->uaddr = pc.userspace_addr;
	}
}

/* The buffer's own checks: a length that wraps, a buffer outside the
 * table; and where it starts in the frontend's space. */
static void check_buffer(struct walk *w, struct vq_desc *d)
{
	struct vm_translation tr;

	if (d->len && d->len - 1 > UINT64_MAX - d->addr) {
		d->problem = "its buffer runs past 2^64-1";
		return;
	}
	if (!d->len) {
		d->mapped = true;
		return;
	}
	d->mapped = true;
	/* Piece by piece, as vhost's translate_desc: a buffer may cross
	 * regions; one byte in a hole is enough to fail it. */
	for (uint64_t addr = d->addr, left = d->len; w->cfg->umem && left;) {
		struct vm_piece pc[8];
		int rc = vm_umem_translate(w->cfg->umem, &w->last, VM_SPACE_GPA, addr, left, pc,
					   8, &tr);

		if (addr == d->addr && (rc == 0 || rc == -ENOBUFS ||
					(rc == -EFAULT && tr.npieces))) {
			d->has_uaddr = true;
			d->uaddr = pc[0].userspace_addr;
		}
		if (rc == -ENOBUFS) {
			left -= tr.fault_addr - addr;
			addr = tr.fault_addr;
			continue;
		}
		d->mapped = rc == 0;
		if (rc == -EFAULT) {
			d->has_unmapped = true;
			d->unmapped_at = tr.fault_addr;
		}
		break;
	}
	if (!d->mapped)
		d->problem = "its buffer is not in the memory table";
}

/*
 * Where a chain goes after d, in a table of n descriptors whose visited
 * ones carry stamp: the next index, or -1 at its end (a descriptor that
 * could not be read, no NEXT, stop set) or at a problem (c->problem names
 * it: past, or loop).
 */
static long next_of(const struct vq_desc *d, uint32_t n, const uint32_t *seen, uint32_t stamp,
		    bool stop, const char *past, const char *loop, struct vq_chain *c)
{
	if (d->problem == unreadable ||
	    !(d->flags & VRING_DESC_F_NEXT) || stop)
		return -1;
	if (d->next >= n) {
		c->problem = past;
		return -1;
	}
	if (seen[d->next] == stamp) {
		c->problem = loop;
		return -1;
	}
	return d->next;
}

/* An indirect table's chain, from its first descriptor. */
static int walk_indirect(struct walk *w, const struct vq_desc *top, struct vq_chain *c)
{
	uint32_t n = top->len / 16, i = 0;
	struct vq_desc d;
	long next;
	int rc;

	w->istamp++;
	for (;;) {
		memset(&d, 0, sizeof(d));
		d.index = (uint16_t)i;
		d.indirect = true;
		d.problem = read_desc(w, top->addr, i, &d);
		if (!d.problem) {
			if (d.flags & VRING_DESC_F_INDIRECT)
				d.problem = "an indirect descriptor inside an indirect table";
			else
				check_buffer(w, &d);
		}
		w->iseen[i] = w->istamp;
		c->bytes += d.len;
		c->n++;
		if ((rc = push(w, &d)))
			return rc;
		next = next_of(&d, n, w->iseen, w->istamp, false,
			       "a next index past the indirect table",
			       "a loop in the indirect table", c);
		if (next < 0)
			return 0;
		i = (uint32_t)next;
	}
}

/* The chain from head: its descriptors pushed, its problem named. */
static int walk_chain(struct walk *w, uint16_t head, struct vq_chain *c)
{
	const struct vq_split_cfg *cfg = w->cfg;
	uint16_t i = head;
	struct vq_desc d;
	long next;
	int rc;

	c->head = head;
	c->first = *w->ndescs;
	if (head >= cfg->num) {
		c->problem = "its head index is past the ring";
		return 0;
	}
	w->stamp++;
	for (;;) {
		memset(&d, 0, sizeof(d));
		d.index = i;
		d.problem = read_desc(w, cfg->desc, i, &d);
		if (!d.problem && (d.flags & VRING_DESC_F_INDIRECT)) {
			if (d.flags & VRING_DESC_F_NEXT)
				d.problem = "INDIRECT with NEXT (the spec forbids both)";
			else if (d.len % 16 || !d.len || d.len / 16 > VQ_MAX_INDIRECT)
				d.problem = "an indirect table whose length is not 1 to 32768 "
					    "descriptors of 16 bytes";
			else if (d.len - 1 > UINT64_MAX - d.addr)
				d.problem = "its table runs past 2^64-1";
			locate(w, &d);
		} else if (!d.problem) {
			check_buffer(w, &d);
		}
		w->seen[i] = w->stamp;
		if (!(d.flags & VRING_DESC_F_INDIRECT))
			c->bytes += d.len;
		c->n++;
		if ((rc = push(w, &d)))
			return rc;
		if ((d.flags & VRING_DESC_F_INDIRECT) && !d.problem)
			return walk_indirect(w, &d, c);
		/* A bad indirect descriptor ends the chain: devices differ
		 * on what follows it (vhost takes NEXT, QEMU does not). */
		next = next_of(&d, cfg->num, w->seen, w->stamp, d.flags & VRING_DESC_F_INDIRECT,
			       "a next index past the ring",
			       "a loop: the chain comes back to a descriptor", c);
		if (next < 0)
			return 0;
		i = (uint16_t)next;
	}
}

static int add_chain(struct walk *w, struct vq_split *s, uint16_t head, bool used,
		     uint32_t used_len)
{
	struct vq_chain *c = &s->chains[s->nchains];
	int rc;

	memset(c, 0, sizeof(*c));
	c->has_used = used;
	c->used_len = used_len;
	rc = walk_chain(w, head, c);
	if (c->problem)
		s->nproblems++;
	s->nchains++;
	return rc;
}

int vq_split_decode(const struct vq_split_cfg *cfg, vq_read_fn read, void *arg,
		    struct vq_split *out)
{
	struct walk w = { .cfg = cfg, .read = read, .arg = arg, .descs = &out->descs,
			  .ndescs = &out->ndescs, .nproblems = &out->nproblems };
	uint8_t hdr[4], ev[2];
	uint16_t navail, nused;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!cfg->num || cfg->num > VQ_MAX_NUM || (cfg->num & (cfg->num - 1)))
		return -EINVAL;
	if (read(arg, cfg->avail, hdr, 4)) {
		out->ring_problem = "the available ring cannot be read";
		return 0;
	}
	out->avail_flags = u16(hdr);
	out->avail_idx = u16(hdr + 2);
	if (read(arg, cfg->used, hdr, 4)) {
		out->ring_problem = "the used ring cannot be read";
		return 0;
	}
	out->used_flags = u16(hdr);
	out->used_idx = u16(hdr + 2);
	if (cfg->event_idx) {
		if (!read(arg, cfg->avail + 4 + 2ull * cfg->num, ev, 2))
			out->used_event = u16(ev);
		if (!read(arg, cfg->used + 4 + 8ull * cfg->num, ev, 2))
			out->avail_event = u16(ev);
	}
	out->from = cfg->has_base ? cfg->base : out->used_idx;
	navail = (uint16_t)(out->avail_idx - out->from);
	if (navail > cfg->num) {
		out->ring_problem = "the available index is more than the ring's size ahead";
		navail = cfg->num;
	}
	out->pending = navail;
	/* Entries used so far, as many as the index says (it wraps at 2^16:
	 * a small index may be a wrapped one, and then shows fewer). */
	nused = out->used_idx < VQ_USED_CHAINS ? out->used_idx : VQ_USED_CHAINS;
	if (nused > cfg->num)
		nused = cfg->num;
	out->chains = calloc((size_t)navail + nused + 1, sizeof(*out->chains));
	/* Room for a few descriptors a chain at once: growing a big array
	 * step by step costs more than the walk. */
	w.cap = 4 * ((size_t)navail + nused) + 16;
	out->descs = malloc(w.cap * sizeof(*out->descs));
	w.seen = calloc(cfg->num, sizeof(*w.seen));
	w.iseen = calloc(VQ_MAX_INDIRECT, sizeof(*w.iseen));
	if (!out->chains || !out->descs || !w.seen || !w.iseen) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint16_t k = 0; k < navail && !rc; k++) {
		uint16_t slot = (uint16_t)(out->from + k) & (uint16_t)(cfg->num - 1);

		if (read(arg, cfg->avail + 4 + 2ull * slot, ev, 2)) {
			out->ring_problem = "an available ring entry cannot be read";
			break;
		}
		rc = add_chain(&w, out, u16(ev), false, 0);
	}
	out->npending = out->nchains;
	/* The latest used entries, newest first. */
	for (uint16_t k = 0; k < nused && !rc; k++) {
		uint16_t slot = (uint16_t)(out->used_idx - 1 - k) & (uint16_t)(cfg->num - 1);
		uint8_t e[8];
		uint32_t id, len;

		if (read(arg, cfg->used + 4 + 8ull * slot, e, 8)) {
			out->ring_problem = "a used ring entry cannot be read";
			break;
		}
		memcpy(&id, e, 4);
		memcpy(&len, e + 4, 4);
		if (id >= cfg->num) {
			struct vq_chain *c = &out->chains[out->nchains++];

			memset(c, 0, sizeof(*c));
			c->head = (uint16_t)id;
			c->has_used = true;
			c->used_len = len;
			c->first = out->ndescs;
			c->problem = "the used entry's id is past the ring";
			out->nproblems++;
			continue;
		}
		rc = add_chain(&w, out, (uint16_t)id, true, len);
	}
out:
	free(w.seen);
	free(w.iseen);
	if (rc)
		vq_split_free(out);
	return rc;
}

void vq_split_free(struct vq_split *s)
{
	free(s->chains);
	free(s->descs);
	memset(s, 0, sizeof(*s));
}

/* ---- packed rings ---- */

/* A packed indirect table: len / 16 descriptors, read in order (no NEXT
 * inside one: the spec has them consecutive). */
static int packed_indirect(struct walk *w, const struct vq_desc *top, struct vq_chain *c)
{
	uint32_t n = top->len / 16;
	struct vq_desc d;
	int rc;

	for (uint32_t i = 0; i < n; i++) {
		memset(&d, 0, sizeof(d));
		d.index = (uint16_t)i;
		d.indirect = true;
		d.problem = read_desc(w, top->addr, i, &d);
		if (!d.problem && (d.flags & VRING_DESC_F_INDIRECT))
			d.problem = "an indirect descriptor inside an indirect table";
		else if (!d.problem)
			check_buffer(w, &d);
		c->bytes += d.len;
		c->n++;
		if ((rc = push(w, &d)))
			return rc;
		if (d.problem == unreadable)
			return 0;
	}
	return 0;
}

static bool pavail(uint16_t flags, bool wrap)
{
	return !!(flags & VRING_PACKED_DESC_F_AVAIL) == wrap &&
	       !!(flags & VRING_PACKED_DESC_F_USED) != wrap;
}

int vq_packed_decode(const struct vq_packed_cfg *cfg, vq_read_fn read, void *arg,
		     struct vq_packed *out)
{
	/* The split walk's reader, table check and list; its cfg gives
	 * check_buffer the table. */
	struct vq_split_cfg scfg = { .num = cfg->num, .desc = cfg->desc, .umem = cfg->umem };
	struct walk w = { .cfg = &scfg, .read = read, .arg = arg, .descs = &out->descs,
			  .ndescs = &out->ndescs, .nproblems = &out->nproblems };
	uint8_t ev[4];
	uint32_t seen = 0, pos;
	bool wrap;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!cfg->num || cfg->num > VQ_MAX_NUM)
		return -EINVAL;
	if (!read(arg, cfg->driver, ev, 4)) {
		out->driver_off_wrap = u16(ev);
		out->driver_flags = u16(ev + 2);
	}
	if (!read(arg, cfg->device, ev, 4)) {
		out->device_off_wrap = u16(ev);
		out->device_flags = u16(ev + 2);
	}
	pos = cfg->has_base ? cfg->last_avail_idx : 0;
	wrap = cfg->has_base ? cfg->avail_wrap : true;
	if (pos >= cfg->num) {
		out->ring_problem = "the device's position is past the ring";
		return 0;
	}
	out->from = (uint16_t)pos;
	out->wrap = wrap;
	/* At most one chain a descriptor, plus the used ones. */
	out->chains = calloc((size_t)cfg->num + VQ_USED_CHAINS, sizeof(*out->chains));
	if (!out->chains)
		return -ENOMEM;
	/* Available chains: consecutive descriptors, NEXT linking them. */
	while (seen < cfg->num && !rc) {
		struct vq_chain *c = &out->chains[out->nchains];
		struct vq_desc d;

		memset(&d, 0, sizeof(d));
		d.index = (uint16_t)pos;
		if ((d.problem = read_desc(&w, cfg->desc, pos, &d))) {
			out->ring_problem = "a descriptor of the ring cannot be read";
			break;
		}
		if (!pavail(d.flags, wrap))
			break;
		memset(c, 0, sizeof(*c));
		c->head = (uint16_t)pos;
		c->first = out->ndescs;
		out->nchains++;
		for (;;) {
			if (d.flags & VRING_DESC_F_INDIRECT) {
				if (d.flags & VRING_DESC_F_NEXT)
					d.problem = "INDIRECT with NEXT (the spec forbids both)";
				else if (d.len % 16 || !d.len || d.len / 16 > VQ_MAX_NUM)
					d.problem = "an indirect table whose length is not 1 to "
						    "32768 descriptors of 16 bytes";
				locate(&w, &d);
			} else {
				check_buffer(&w, &d);
				c->bytes += d.len;
			}
			c->n++;
			seen++;
			if ((rc = push(&w, &d)))
				break;
			if ((d.flags & VRING_DESC_F_INDIRECT) && !d.problem &&
			    (rc = packed_indirect(&w, &d, c)))
				break;
			if (++pos == cfg->num) {
				pos = 0;
				wrap = !wrap;
			}
			if (!(d.flags & VRING_DESC_F_NEXT) || (d.flags & VRING_DESC_F_INDIRECT))
				break;
			if (seen >= cfg->num) {
				c->problem = "a chain longer than the ring";
				break;
			}
			memset(&d, 0, sizeof(d));
			d.index = (uint16_t)pos;
			if ((d.problem = read_desc(&w, cfg->desc, pos, &d)) ||
			    !pavail(d.flags, wrap)) {
				c->problem = d.problem ? d.problem
					   : "NEXT leads to a descriptor that is not available";
				break;
			}
		}
		if (c->problem)
			out->nproblems++;
	}
	out->npending = out->nchains;
	/* Used descriptors just before the device's position, latest first:
	 * there AVAIL and USED are equal (the device wrote both). */
	pos = out->from;
	wrap = out->wrap;
	for (uint32_t k = 0; k < VQ_USED_CHAINS && k < cfg->num && !rc; k++) {
		struct vq_chain *c;
		struct vq_desc d;

		if (pos == 0) {
			/* Without a base the ring is taken as new: there is
			 * no lap before its start. */
			if (!cfg->has_base)
				break;
			pos = cfg->num;
			wrap = !wrap;
		}
		pos--;
		memset(&d, 0, sizeof(d));
		d.index = (uint16_t)pos;
		if (read_desc(&w, cfg->desc, pos, &d) ||
		    !!(d.flags & VRING_PACKED_DESC_F_AVAIL) != wrap ||
		    !!(d.flags & VRING_PACKED_DESC_F_USED) != wrap)
			break;
		c = &out->chains[out->nchains++];
		memset(c, 0, sizeof(*c));
		c->head = (uint16_t)pos;
		c->has_used = true;
		c->used_len = d.len;
		c->first = out->ndescs;
		c->n = 1;
		rc = push(&w, &d);
	}
	if (rc)
		vq_packed_free(out);
	return rc;
}

void vq_packed_free(struct vq_packed *p)
{
	free(p->chains);
	free(p->descs);
	memset(p, 0, sizeof(*p));
}

/* ---- the in-flight region ---- */

#define INFLIGHT_ALIGN 64u

uint64_t vq_inflight_queue_bytes(bool packed, uint16_t queue_size)
{
	uint64_t b = packed ? 32 + 32ull * queue_size : 16 + 16ull * queue_size;

	return (b + INFLIGHT_ALIGN - 1) / INFLIGHT_ALIGN * INFLIGHT_ALIGN;
}

static uint64_t u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int by_counter(const void *a, const void *b)
{
	const struct vq_inflight_desc *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

int vq_inflight_decode(const uint8_t *buf, size_t len, bool packed, uint16_t queue_size,
		       struct vq_inflight *out)
{
	size_t hdr = packed ? 32 : 16, ent = packed ? 32 : 16, n;

	memset(out, 0, sizeof(*out));
	out->packed = packed;
	if (len < hdr) {
		out->problem = "the region is shorter than its header";
		return 0;
	}
	out->features = u64(buf);
	out->version = u16(buf + 8);
	out->desc_num = u16(buf + 10);
	if (packed) {
		out->free_head = u16(buf + 12);
		out->old_free_head = u16(buf + 14);
		out->used_idx = u16(buf + 16);
		out->old_used_idx = u16(buf + 18);
		out->used_wrap_counter = buf[20];
		out->old_used_wrap_counter = buf[21];
	} else {
		out->last_batch_head = u16(buf + 12);
		out->used_idx = u16(buf + 14);
	}
	if (out->version != 1)
		out->problem = "the region's version is not 1";
	else if (out->desc_num != queue_size)
		out->problem = "the region's desc_num is not the queue's size";
	n = out->desc_num < queue_size ? out->desc_num : queue_size;
	if (n > (len - hdr) / ent) {
		if (!out->problem)
			out->problem = "the region ends before its descriptors do";
		n = (len - hdr) / ent;
	}
	out->inflight = calloc(n + 1, sizeof(*out->inflight));
	if (!out->inflight)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = buf + hdr + ent * i;
		struct vq_inflight_desc *d = &out->inflight[out->ninflight];

		if (e[0] > 1 && !out->problem)
			out->problem = "an inflight flag that is not 0 or 1";
		if (!e[0])
			continue;
		memset(d, 0, sizeof(*d));
		d->index = (uint16_t)i;
		if (packed) {
			d->num = u16(e + 4);
			d->last = u16(e + 6);
			d->counter = u64(e + 8);
			d->id = u16(e + 16);
			d->flags = u16(e + 18);
			memcpy(&d->len, e + 20, 4);
			d->addr = u64(e + 24);
		} else {
			d->counter = u64(e + 8);
		}
		out->ninflight++;
	}
	qsort(out->inflight, out->ninflight, sizeof(*out->inflight), by_counter);
	for (size_t i = 1; i < out->ninflight && !out->problem; i++)
		if (out->inflight[i].counter == out->inflight[i - 1].counter)
			out->problem = "two descriptors in flight with one counter";
	return 0;
}

void vq_inflight_free(struct vq_inflight *f)
{
	free(f->inflight);
	memset(f, 0, sizeof(*f));
}
