/*
 * A ring as the vring command shows it, as JSON (vmmap-vring(1)): what
 * the capture says of it (a "rings" entry of the capture section, the
 * negotiated features) decoded through a guest-memory reader: the live
 * mapping (guestmem.h) or a snapshot's bytes (a tape).  One model for the
 * live shell, --json and the offline command: the CLI prints text from
 * it.
 *
 * A tape records every byte a decode read, so the same decode can run
 * again later on the tape alone: that is a snapshot.  Buffers' contents
 * are read only when asked (buffer_bytes): guest memory can hold secrets.
 */
#ifndef VMMAP_VRING_VIEW_H
#define VMMAP_VRING_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umem.h"
#include "vring.h"

/* Bytes of a chain read to decode its device header and what follows. */
#define VQ_HEADER_BYTES 128u
/* The most bytes of one buffer a snapshot holds (--snapshot-bytes). */
#define VQ_SNAPSHOT_BYTES_MAX 65536u

/* Guest memory read so far: runs of bytes by guest address, sorted, apart. */
struct vq_tape {
	struct vq_tape_run {
		uint64_t gpa;
		size_t len;
		uint8_t *bytes;
	} *runs;
	size_t n;
	bool failed;      /* out of memory: runs are incomplete */
	vq_read_fn read;  /* recording: the reader it wraps (else NULL) */
	void *arg;
};

/* Reads through tape->read and keeps what it read (vq_read_fn). */
int vq_tape_record(void *tape, uint64_t gpa, void *buf, size_t len);
/* Reads from the tape alone: -EIO for bytes it does not hold. */
int vq_tape_read(void *tape, uint64_t gpa, void *buf, size_t len);
void vq_tape_free(struct vq_tape *t);
/* [{"guest_phys_addr": "0x...", "bytes": "hex"}] and back; the loader
 * names what is wrong (into why) and returns -1. */
json_t *vq_tape_json(const struct vq_tape *t);
int vq_tape_load(struct vq_tape *t, const json_t *memory, char *why, size_t whylen);

/* Bytes as a string of lowercase hex digits, and back (malloc'ed into
 * *out): 0, -EINVAL (empty, odd, or another character), -ENOMEM. */
json_t *vq_hex_json(const uint8_t *b, size_t n);
int vq_hex_decode(const char *hex, uint8_t **out, size_t *len);

/* The device whose headers are decoded. */
enum vq_device { VQ_DEV_NONE, VQ_DEV_NET, VQ_DEV_BLK };
/* "net", "blk" (and "none"): the type, or -1. */
extern const char *const vq_device_names[];
int vq_device_parse(const char *name);

struct vq_view {
	const json_t *ring;      /* the capture's rings[] entry */
	uint64_t features;       /* the acked virtio features */
	enum vq_device device;
	const struct vm_umem *umem;
	/* The ring's base (SET_VRING_BASE) is the device's position: vmmap
	 * is the device and uses nothing, so the chains past it are exactly
	 * the pending ones.  Else (a proxy: the device's position is not in
	 * guest memory) they are counted from used.idx, exact only for a
	 * device that completes in order. */
	bool device_base;
	vq_read_fn read;
	void *arg;
	/* Bytes of each buffer that may be read for its device header (at
	 * most VQ_HEADER_BYTES of the chain are); 0: none.  data_bytes: at
	 * most that many of each buffer shown as "data" (hex); 0: none. */
	size_t buffer_bytes, data_bytes;
	/* The queue's part of the in-flight area, or NULL. */
	const uint8_t *inflight;
	size_t inflight_len;
	uint16_t inflight_queue_size;
};

/* The ring's view (vmmap-vring(1)'s JSON), or NULL: out of memory. */
json_t *vq_view_json(const struct vq_view *v);

/* The flags' names, '|' between ("NEXT|WRITE"), into buf. */
const char *vq_flag_names(uint16_t flags, bool packed, char *buf, size_t len);

#endif
