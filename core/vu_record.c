/*
 * The recording format of capture --record (vhost_user.h): versions 1 to
 * 3, encoded and decoded here only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vhost_user.h"

int vu_record_version(const uint8_t *buf, size_t len, size_t *skip, char *why,
		      size_t whylen)
{
	uint32_t v;

	*skip = 0;
	if (len < 8 || memcmp(buf, VU_RECORD_MAGIC, 8))
		return 1; /* version 1 has no file header */
	if (len < VU_RECORD_FILE_HDR) {
		snprintf(why, whylen, "the recording ends inside its file header");
		return 0;
	}
	memcpy(&v, buf + 8, 4);
	if (v < 2 || v > VU_RECORD_VERSION) {
		snprintf(why, whylen, "recording format version %" PRIu32 " (this vmmap "
			 "reads 1 to %d)", v, VU_RECORD_VERSION);
		return 0;
	}
	*skip = VU_RECORD_FILE_HDR;
	return (int)v;
}

void vu_record_file_header(uint8_t out[VU_RECORD_FILE_HDR])
{
	uint32_t v = VU_RECORD_VERSION;

	memcpy(out, VU_RECORD_MAGIC, 8);
	memcpy(out + 8, &v, 4);
}

size_t vu_encode_record(const struct vu_msg *m, uint8_t *out)
{
	size_t nfds = m->nfds < VU_MAX_FDS ? m->nfds : VU_MAX_FDS, o = 12;
	uint16_t len;

	out[0] = (uint8_t)((m->direction == VU_BACK_TO_FRONT ? VU_RECORD_BACK_TO_FRONT : 0) |
			   (m->channel == VU_BACKEND_CHANNEL ? VU_RECORD_BACKEND_CHANNEL : 0) |
			   (m->fds_truncated ? VU_RECORD_TRUNCATED : 0));
	out[1] = (uint8_t)nfds;
	out[2] = out[3] = 0;
	memcpy(out + 4, &m->time_ns, 8);
	memcpy(out + o, &m->request, 4);
	memcpy(out + o + 4, &m->flags, 4);
	memcpy(out + o + 8, &m->size, 4);
	o += VHOST_USER_HDR_SIZE;
	memcpy(out + o, m->payload, m->size);
	o += m->size;
	for (size_t i = 0; i < nfds; i++) {
		const struct vu_fd_fact *f = &m->fd_facts[i];

		memcpy(out + o, &f->type, 8);
		memcpy(out + o + 8, &f->size, 8);
		memcpy(out + o + 16, &f->dev, 8);
		memcpy(out + o + 24, &f->ino, 8);
		o += 32;
		len = (uint16_t)strnlen(f->path, VU_FD_PATH_MAX - 1);
		memcpy(out + o, &len, 2);
		memcpy(out + o + 2, f->path, len);
		o += 2 + (size_t)len;
	}
	return o;
}

size_t vu_decode_record(struct vu_msg *m, int version, const uint8_t *buf,
			size_t len, char *why, size_t whylen)
{
	size_t pre = version == 1 ? 1 : 12, nfds, o;

	if (len < pre + VHOST_USER_HDR_SIZE) {
		snprintf(why, whylen, "the recording ends inside a header");
		return 0;
	}
	if (vu_decode_header(m, buf + pre, why, whylen))
		return 0;
	if (len - pre - VHOST_USER_HDR_SIZE < m->size) {
		snprintf(why, whylen, "the recording ends inside the %" PRIu32
			 "-byte payload of request %" PRIu32, m->size, m->request);
		return 0;
	}
	m->fds_truncated = (buf[0] & VU_RECORD_TRUNCATED) != 0;
	o = pre + VHOST_USER_HDR_SIZE;
	memcpy(m->payload, buf + o, m->size);
	o += m->size;
	if (version == 1) {
		nfds = buf[0] & VU_RECORD_FDS_MASK;
		m->nfds = nfds < VU_MAX_FDS ? nfds : VU_MAX_FDS;
		memset(m->fd_facts, 0, m->nfds * sizeof(m->fd_facts[0]));
		m->direction = VU_FRONT_TO_BACK;
		m->channel = VU_MAIN_CHANNEL;
		m->time_ns = 0;
		return o;
	}
	if (buf[0] & ~(VU_RECORD_BACK_TO_FRONT | VU_RECORD_BACKEND_CHANNEL |
		       VU_RECORD_TRUNCATED) || buf[1] > VU_MAX_FDS || buf[2] || buf[3]) {
		snprintf(why, whylen, "a record's flags 0x%02x, descriptor count %u or "
			 "reserved bytes are not valid", buf[0], buf[1]);
		return 0;
	}
	m->direction = buf[0] & VU_RECORD_BACK_TO_FRONT ? VU_BACK_TO_FRONT : VU_FRONT_TO_BACK;
	m->channel = buf[0] & VU_RECORD_BACKEND_CHANNEL ? VU_BACKEND_CHANNEL
							 : VU_MAIN_CHANNEL;
	m->nfds = buf[1];
	memcpy(&m->time_ns, buf + 4, 8);
	for (size_t i = 0; i < m->nfds; i++) {
		struct vu_fd_fact *f = &m->fd_facts[i];
		uint16_t plen = 0;

		f->path[0] = '\0';
		if (len - o < (version >= 3 ? 34u : 32u))
			goto short_facts;
		memcpy(&f->type, buf + o, 8);
		memcpy(&f->size, buf + o + 8, 8);
		memcpy(&f->dev, buf + o + 16, 8);
		memcpy(&f->ino, buf + o + 24, 8);
		if (f->type >= VM_FD_NTYPES)
			f->type = VM_FD_OTHER;
		o += 32;
		if (version < 3)
			continue;
		memcpy(&plen, buf + o, 2);
		o += 2;
		if (plen >= VU_FD_PATH_MAX) {
			snprintf(why, whylen, "a descriptor path of %u bytes in request %"
				 PRIu32 " (at most %d)", plen, m->request, VU_FD_PATH_MAX - 1);
			return 0;
		}
		if (len - o < plen)
			goto short_facts;
		memcpy(f->path, buf + o, plen);
		f->path[plen] = '\0';
		o += plen;
	}
	return o;
short_facts:
	snprintf(why, whylen, "the recording ends inside the descriptor facts of "
		 "request %" PRIu32, m->request);
	return 0;
}
