/*
 * The guest memory a capture keeps (vu_capture_int.h): as a backend and
 * as a proxy alike, the descriptors of the current table's regions, mapped
 * read-only, and the in-flight area.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vu_capture_int.h"
#include "vring_view.h"
#include "vu_session.h"

static bool table_message(uint32_t request)
{
	return request == VHOST_USER_SET_MEM_TABLE || request == VHOST_USER_ADD_MEM_REG;
}

void vu_guest_dup(const struct vu_msg *m, const int *fds, size_t nfds, int *dup,
		  size_t *ndup)
{
	size_t n = 0;

	if (table_message(m->request)) {
		n = nfds < VHOST_MEMORY_BASELINE_NREGIONS ? nfds : VHOST_MEMORY_BASELINE_NREGIONS;
		if (m->request == VHOST_USER_ADD_MEM_REG && n > 1)
			n = 1;
	} else if (m->request == VHOST_USER_SET_INFLIGHT_FD && nfds == 1) {
		n = 1;
	}
	for (size_t i = 0; i < n; i++)
		dup[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
	*ndup = n;
}

/* Whether a table change still awaits the backend's answer. */
static bool table_change_pending(const struct vu_session *s)
{
	for (size_t i = 0; i < s->npending; i++)
		if (s->pending[(s->pending_head + i) % VU_MAX_PENDING].has_change)
			return true;
	return false;
}

void vu_guest_keep_inflight(struct vu_capture *c, const struct vu_msg *m, int fd)
{
	struct vu_inflight_kept *k = &c->inflight;

	if (fd < 0)
		return;
	if (m->size < 20) {
		close(fd);
		return;
	}
	if (k->fd >= 0)
		close(k->fd);
	k->fd = fd;
	memcpy(&k->mmap_size, m->payload, 8);
	memcpy(&k->mmap_offset, m->payload + 8, 8);
	memcpy(&k->num_queues, m->payload + 16, 2);
	memcpy(&k->queue_size, m->payload + 18, 2);
}

int vu_guest_keep(struct vu_capture *c, const struct vu_msg *m, int *dup, size_t ndup)
{
	const struct vm_umem *u = &c->s.table.umem;
	int rc = 0;

	if (m->request == VHOST_USER_SET_INFLIGHT_FD) {
		if (ndup)
			vu_guest_keep_inflight(c, m, dup[0]);
		return 0;
	}
	if (m->request == VHOST_USER_REM_MEM_REG) {
		vu_guest_sync(c);
		return 0;
	}
	if (!table_message(m->request))
		return 0;
	c->gm.copy = c->o.guest_copy;
	for (size_t i = 0; i < ndup; i++) {
		size_t off = m->request == VHOST_USER_ADD_MEM_REG ? 8 : 8 + 32 * i;
		const struct vm_umem_node *node;
		struct vm_region r;

		if (dup[i] < 0)
			continue;
		if (off + 32 > m->size) {
			close(dup[i]);
			continue;
		}
		memcpy(&r.guest_phys_addr, m->payload + off, 8);
		memcpy(&r.memory_size, m->payload + off + 8, 8);
		memcpy(&r.userspace_addr, m->payload + off + 16, 8);
		node = vm_umem_find(u, r.guest_phys_addr, r.userspace_addr, r.memory_size);
		if (!rc && node) {
			rc = vm_guestmem_keep(&c->gm, &node->region, dup[i]);
			continue;
		}
		close(dup[i]);
	}
	vu_guest_sync(c);
	return rc;
}

void vu_guest_sync(struct vu_capture *c)
{
	if (c->gm.n && !table_change_pending(&c->s))
		vm_guestmem_prune(&c->gm, &c->s.table.umem);
}

void vu_guest_close(struct vu_capture *c)
{
	vm_guestmem_clear(&c->gm);
	if (c->inflight.fd >= 0)
		close(c->inflight.fd);
	c->inflight.fd = -1;
}

int vu_inflight_queue(const struct vu_capture *c, unsigned index, bool packed, uint8_t **buf,
		      size_t *len)
{
	const struct vu_inflight_kept *k = &c->inflight;
	uint64_t per, off;
	ssize_t r;

	*buf = NULL;
	*len = 0;
	if (k->fd < 0 || index >= k->num_queues || !k->queue_size)
		return -ENOENT;
	per = vq_inflight_queue_bytes(packed, k->queue_size);
	off = k->mmap_offset + per * index;
	if (per * (index + 1) > k->mmap_size || !(*buf = malloc(per)))
		return *buf ? -ERANGE : -ENOMEM;
	r = pread(k->fd, *buf, per, (off_t)off);
	*len = r > 0 ? (size_t)r : 0;
	return 0;
}

json_t *vu_capture_snapshot(struct vu_capture *c, const json_t *cap, size_t buffer_bytes)
{
	const json_t *rings = json_object_get(cap, "rings");
	const char *acked = json_string_value(json_object_get(json_object_get(cap, "features"),
							      "acked"));
	uint64_t features = acked ? strtoull(acked, NULL, 16) : 0;
	bool packed = features & (1ull << VIRTIO_F_RING_PACKED);
	struct vq_tape tape = { .read = vm_guestmem_read, .arg = &c->gm };
	json_t *snap, *inflight = json_array();
	size_t i;
	json_t *r;

	json_array_foreach(rings, i, r) {
		json_int_t index = json_integer_value(json_object_get(r, "index"));
		struct vq_view v = { .ring = r, .features = features, .umem = &c->s.table.umem,
				     .device_base = !c->s.cfg.observer, .read = vq_tape_record,
				     .arg = &tape, .buffer_bytes = buffer_bytes,
				     .data_bytes = buffer_bytes };
		uint8_t *b;
		size_t n;

		json_decref(vq_view_json(&v));
		if (index < 0 || vu_inflight_queue(c, (unsigned)index, packed, &b, &n))
			continue;
		if (n) {
			json_t *o = json_pack("{s:I, s:s, s:i}", "index", index, "layout",
					      packed ? "packed" : "split", "queue_size",
					      c->inflight.queue_size);

			vm_json_put(&o, "bytes", vq_hex_json(b, n));
			if (!o || json_array_append_new(inflight, o))
				json_decref(inflight), inflight = NULL;
		}
		free(b);
	}
	snap = json_pack("{s:I, s:o, s:o}", "buffer_bytes", (json_int_t)buffer_bytes, "memory",
			 tape.failed ? NULL : vq_tape_json(&tape), "inflight", inflight);
	vq_tape_free(&tape);
	return snap;
}
