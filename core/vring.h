/*
 * A split virtqueue read from guest memory, as a debugger sees it (virtio
 * 1.2, 2.7): the avail and used indices and flags, the event-index
 * values, the chains made available and not yet used, and the chains
 * behind the last used entries, each descriptor with its guest address,
 * length and flags, indirect tables followed one level, each buffer
 * checked against the memory table.
 *
 * Everything here was written by the guest: every index is bounded before
 * it is followed, a chain is walked at most once per descriptor (a loop is
 * named, not followed), an indirect table inside an indirect table is
 * named, lengths that wrap are named.  Problems are reported in the
 * answer; the decoder never fails on what the guest wrote.
 */
#ifndef VMMAP_VRING_H
#define VMMAP_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umem.h"

#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u

/* The largest split ring (virtio: Queue Size is at most 32768). */
#define VQ_MAX_NUM 32768u
/* Used entries whose chains are decoded, the latest first. */
#define VQ_USED_CHAINS 8u

/*
 * Reads len bytes of guest memory at guest-physical address gpa into buf:
 * 0, or a negative errno (-EFAULT unmapped, -EIO unreadable).
 */
typedef int (*vq_read_fn)(void *arg, uint64_t gpa, void *buf, size_t len);

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
	uint16_t index;    /* in its table */
	bool indirect;     /* it is in an indirect table */
	bool mapped;       /* its buffer lies wholly in the memory table */
	/* With a memory table: the user address of the buffer's (or indirect
	 * table's) first byte when the table maps it (has_uaddr); for a
	 * buffer the table does not hold whole, its first unmapped byte
	 * (has_unmapped). */
	bool has_uaddr, has_unmapped;
	uint64_t uaddr, unmapped_at;
	const char *problem; /* what is wrong with it, or NULL */
};

struct vq_chain {
	uint16_t head;
	bool has_used;     /* a used entry: its length */
	uint32_t used_len;
	size_t first, n;   /* its descriptors: descs[first .. first + n) */
	uint64_t bytes;    /* the sum of their lengths */
	const char *problem; /* a loop, a chain longer than the ring, ... */
};

struct vq_split_cfg {
	uint16_t num;            /* the ring's size (SET_VRING_NUM) */
	uint64_t desc, avail, used; /* guest-physical addresses */
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool has_base;           /* last_avail_idx is known (SET_VRING_BASE) */
	uint16_t base;
	const struct vm_umem *umem; /* buffers are checked against it; NULL: not */
};

struct vq_split {
	uint16_t avail_flags, avail_idx, used_flags, used_idx;
	uint16_t used_event, avail_event; /* with event_idx */
	uint16_t from;           /* where the pending chains start */
	uint16_t pending;        /* avail entries past it */
	const char *ring_problem; /* the ring itself could not be read, ... */
	struct vq_chain *chains; /* the pending ones, then the used ones */
	size_t nchains, npending;
	struct vq_desc *descs;
	size_t ndescs;
	size_t nproblems;        /* descriptors and chains with a problem */
};

/*
 * Decodes the split ring cfg describes through read.  The pending chains
 * start at cfg->base when known, else at the used index (exact for a
 * device that completes in order; a proxy does not see the device's own
 * position).  0, or -ENOMEM, or -EINVAL for a num that is 0, above
 * VQ_MAX_NUM or not a power of 2 (the spec's rule).  A ring that cannot
 * be read is 0 with ring_problem set.  Free with vq_split_free.
 */
int vq_split_decode(const struct vq_split_cfg *cfg, vq_read_fn read, void *arg,
		    struct vq_split *out);
void vq_split_free(struct vq_split *s);

/*
 * A packed virtqueue (virtio 1.2, 2.8): one ring of 16-byte descriptors
 * (addr, len, buffer id, flags) that the driver makes available by
 * setting AVAIL to its wrap counter and USED to the opposite, and the
 * device marks used by setting both to its own; and the two event
 * suppression areas.
 */
#define VRING_PACKED_DESC_F_AVAIL (1u << 7)
#define VRING_PACKED_DESC_F_USED (1u << 15)

struct vq_packed_cfg {
	uint16_t num;            /* 1 to 32768, any number */
	uint64_t desc, driver, device; /* ring, driver and device areas (gpa) */
	bool has_base;           /* SET_VRING_BASE gave the device's position */
	uint16_t last_avail_idx; /* bits 0-14 of the base */
	bool avail_wrap;         /* bit 15 */
	const struct vm_umem *umem;
};

struct vq_packed {
	/* The event suppression areas: offset (15 bits) and wrap, flags
	 * (0 enable, 1 disable, 2 at a descriptor). */
	uint16_t driver_off_wrap, driver_flags, device_off_wrap, device_flags;
	uint16_t from;           /* where the available chains start */
	bool wrap;               /* the wrap counter there */
	const char *ring_problem;
	struct vq_chain *chains; /* the available ones, then the last used */
	size_t nchains, npending;
	struct vq_desc *descs;   /* next holds the buffer id */
	size_t ndescs;
	size_t nproblems;
};

/*
 * Decodes a packed ring: the chains made available from the device's
 * position (cfg->last_avail_idx and avail_wrap; without a base, the
 * ring's start with wrap 1, as at its creation), in ring order until the
 * first descriptor that is not available, at most num descriptors; and
 * the used descriptors just before that position (up to VQ_USED_CHAINS;
 * AVAIL and USED both the wrap counter of their lap; not across the
 * ring's start without a base), latest first.  0, -ENOMEM, or -EINVAL for a num of 0 or above 32768.
 */
int vq_packed_decode(const struct vq_packed_cfg *cfg, vq_read_fn read, void *arg,
		     struct vq_packed *out);
void vq_packed_free(struct vq_packed *p);



/*
 * The in-flight region (GET_INFLIGHT_FD's memfd, vhost-user.rst "Inflight
 * I/O tracking"): per queue, a QueueRegionSplit (16-byte header: features
 * u64, version u16, desc_num u16, last_batch_head u16, used_idx u16; then
 * desc_num DescStateSplit of 16 bytes: inflight u8, 5 padding, next u16,
 * counter u64) or a QueueRegionPacked (32-byte header: features, version,
 * desc_num, free_head, old_free_head, used_idx, old_used_idx u16 each,
 * used_wrap_counter and old_used_wrap_counter u8, 7 padding; then
 * DescStatePacked of 32 bytes: inflight u8, padding u8, next, last, num
 * u16, counter u64, id, flags u16, len u32, addr u64), each queue's part
 * rounded up to 64 bytes.
 */
struct vq_inflight_desc {
	uint16_t index;          /* its slot: the head descriptor's index */
	uint64_t counter;        /* the order the backend fetched it in */
	/* Packed only: the buffer id, flags, length and address kept for
	 * resubmission, and its list's length and last entry. */
	uint16_t id, flags, num, last;
	uint32_t len;
	uint64_t addr;
};

struct vq_inflight {
	bool packed;
	uint64_t features;
	uint16_t version, desc_num;
	uint16_t last_batch_head, used_idx;          /* split */
	uint16_t free_head, old_free_head, old_used_idx; /* packed (and used_idx) */
	uint8_t used_wrap_counter, old_used_wrap_counter;
	struct vq_inflight_desc *inflight; /* in fetch order (counter) */
	size_t ninflight;
	const char *problem;     /* the first thing wrong with the region */
};

/* The bytes one queue's part takes for a queue of queue_size. */
uint64_t vq_inflight_queue_bytes(bool packed, uint16_t queue_size);
/*
 * Decodes one queue's part at buf[0..len) for a queue of queue_size
 * descriptors (the frontend's GET_INFLIGHT_FD request said so; the region
 * says desc_num itself: a disagreement is a problem, and the smaller is
 * read, within len).  0, or -ENOMEM.  Free with vq_inflight_free.
 */
int vq_inflight_decode(const uint8_t *buf, size_t len, bool packed, uint16_t queue_size,
		       struct vq_inflight *out);
void vq_inflight_free(struct vq_inflight *f);
#endif
