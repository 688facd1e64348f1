/*
 * The device types vmmap is the backend of: what each offers and what its
 * config space holds, in one table.  The measured requirements of QEMU 7.2
 * (../shared/reference/real-peers.md): blk, vsock and gpio need the
 * protocol feature CONFIG and ask GET_CONFIG; QEMU builds the config of
 * net, scsi, fs, i2c and rng itself.
 */
#include <string.h>

#include "vring.h"
#include "vu_session.h"

#define VIRTIO_NET_F_MQ 22
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12

struct device_row {
	uint64_t features; /* beyond VERSION_1 and PROTOCOL_FEATURES */
	int mq_bit;        /* the device's own MQ feature, or -1 */
	bool config;       /* QEMU asks GET_CONFIG */
};

static const struct device_row devices[VU_DEV_NTYPES] = {
	[VU_DEV_NET] = { BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
			 BIT(VIRTIO_RING_F_EVENT_IDX), VIRTIO_NET_F_MQ, false },
	[VU_DEV_BLK] = { BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
			 BIT(VIRTIO_RING_F_EVENT_IDX), VIRTIO_BLK_F_MQ, true },
	[VU_DEV_SCSI] = { BIT(VIRTIO_RING_F_INDIRECT_DESC), -1, false },
	[VU_DEV_FS] = { 0, -1, false },
	[VU_DEV_VSOCK] = { 0, -1, true },
	[VU_DEV_GPIO] = { 0, -1, true },
	[VU_DEV_I2C] = { 0, -1, false },
	[VU_DEV_RNG] = { 0, -1, false },
};

const char *const vu_device_type_names[VU_DEV_NTYPES + 1] = {
	"net", "blk", "scsi", "fs", "vsock", "gpio", "i2c", "rng", NULL,
};

int vu_device_type_parse(const char *s)
{
	for (int i = 0; i < VU_DEV_NTYPES; i++)
		if (!strcmp(s, vu_device_type_names[i]))
			return i;
	return -1;
}

void vu_device_offers(const struct vu_config *cfg, uint64_t *features, uint64_t *protocol)
{
	const struct device_row *d = &devices[cfg->type < VU_DEV_NTYPES ? cfg->type : 0];

	*features = BIT(VIRTIO_F_VERSION_1) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
		    d->features;
	if (d->mq_bit >= 0 && cfg->queues > 1)
		*features |= BIT(d->mq_bit);
	if (!cfg->no_packed)
		*features |= BIT(VIRTIO_F_RING_PACKED);
	*protocol = BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	if (cfg->mem_slots)
		*protocol |= BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	if (d->config)
		*protocol |= BIT(VHOST_USER_PROTOCOL_F_CONFIG);
	if (cfg->type == VU_DEV_BLK)
		*protocol |= BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
}

/*
 * GET_INFLIGHT_FD: the backend chooses the in-flight area's size from the
 * queue count and size the frontend sent, as libvhost-user and DPDK do
 * for split rings: per queue a QueueRegionSplit (vq_inflight_queue_bytes:
 * a 16-byte header and 16 bytes a descriptor, rounded up to 64).
 * The reply is QEMU 7.2's 24 bytes (mmap_size, mmap_offset, num_queues,
 * queue_size) with a memfd of that size.
 */
void vu_device_get_inflight(struct hctx *h, struct vu_reply *r)
{
	const struct vu_msg *m = h->m;
	uint8_t out[24] = { 0 };
	uint16_t nq, qs;
	uint64_t per, size, zero = 0;

	if (h->s->cfg.observer || m->size != 24)
		return;
	memcpy(&nq, m->payload + 16, 2);
	memcpy(&qs, m->payload + 18, 2);
	if (!nq || !qs || nq > VU_MAX_VRINGS) {
		vu_bad(h, "GET_INFLIGHT_FD for %u queue%s of %u descriptors", nq,
		       vu_plural(nq), qs);
		return;
	}
	/* Split rings' QueueRegionSplit per queue (vring.h), the size
	 * libvhost-user and DPDK give it. */
	per = vq_inflight_queue_bytes(false, qs);
	size = per * nq;
	memcpy(out, &size, 8);
	memcpy(out + 8, &zero, 8);
	memcpy(out + 16, &nq, 2);
	memcpy(out + 18, &qs, 2);
	reply_bytes(r, m->request, out, sizeof(out));
	r->memfd_size = size;
	r->inflight_part = per;
	r->inflight_queues = nq;
	r->inflight_queue_size = qs;
}

/* The device's config space, little-endian as virtio has it. */
static void config_space(const struct vu_config *cfg, uint8_t out[VU_MAX_CONFIG])
{
	uint64_t v;
	uint16_t q;

	memset(out, 0, VU_MAX_CONFIG);
	switch (cfg->type) {
	case VU_DEV_BLK: /* virtio_blk_config: capacity in 512-byte sectors */
		v = cfg->capacity >> 9;
		memcpy(out, &v, 8);
		q = (uint16_t)(cfg->queues > 0xffff ? 0xffff : cfg->queues);
		memcpy(out + 34, &q, 2); /* num_queues */
		break;
	case VU_DEV_VSOCK: /* virtio_vsock_config: guest_cid */
		memcpy(out, &cfg->cid, 8);
		break;
	case VU_DEV_GPIO: /* virtio_gpio_config: ngpio, then no names */
		q = 1;
		memcpy(out, &q, 2);
		break;
	}
}

void vu_device_get_config(struct hctx *h, struct vu_reply *r)
{
	const struct vu_msg *m = h->m;
	uint8_t space[VU_MAX_CONFIG], out[12 + VU_MAX_CONFIG] = { 0 };
	uint32_t off, size, n;

	if (h->s->cfg.observer)
		return; /* forwarding: the backend answers */
	if (!devices[h->s->cfg.type < VU_DEV_NTYPES ? h->s->cfg.type : 0].config) {
		vu_bad(h, "GET_CONFIG to a %s backend, whose config QEMU builds itself",
		       vu_device_type_names[h->s->cfg.type]);
		return;
	}
	if (m->size < 12)
		return; /* the size rule said so */
	off = get_u32(m, 0);
	size = get_u32(m, 4);
	n = m->size - 12;
	if (size != n)
		vu_bad(h, "GET_CONFIG asks for %" PRIu32 " bytes in a %" PRIu32 "-byte payload",
		       size, m->size);
	if (n > VU_MAX_CONFIG) {
		vu_bad(h, "GET_CONFIG asks for %" PRIu32 " bytes; the config space holds "
		       "at most %d", n, VU_MAX_CONFIG);
		n = VU_MAX_CONFIG;
	}
	/* The reply: the request's header, then exactly the bytes asked for. */
	config_space(&h->s->cfg, space);
	memcpy(out, m->payload, 12);
	for (uint32_t i = 0; i < n; i++)
		out[12 + i] = (uint64_t)off + i < VU_MAX_CONFIG ? space[off + i] : 0;
	reply_bytes(r, m->request, out, 12 + n);
}
