/*
 * Guest memory, mapped read-only (guestmem.h).
 */
#include "guestmem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

void vm_guestmem_init(struct vm_guestmem *gm)
{
	memset(gm, 0, sizeof(*gm));
}

static void unmap(struct vm_gm_map *m)
{
	if (m->base)
		munmap((void *)m->base, m->maplen);
	close(m->fd);
}

void vm_guestmem_clear(struct vm_guestmem *gm)
{
	for (size_t i = 0; i < gm->n; i++)
		unmap(&gm->maps[i]);
	free(gm->maps);
	gm->maps = NULL;
	gm->n = 0;
	gm->hit = 0;
}

/* Maps m's part of its file: from the offset rounded down to the file's
 * page, up to the file's end (a whole page for mmap's length). */
static void map(struct vm_gm_map *m)
{
	long sys = sysconf(_SC_PAGESIZE);
	struct statfs sfs;
	struct stat st;
	uint64_t end;
	void *p;

	m->page = sys > 0 ? (uint64_t)sys : 4096;
	if (fstatfs(m->fd, &sfs) == 0 && sfs.f_bsize > 0 &&
	    (uint64_t)sfs.f_bsize > m->page && !((uint64_t)sfs.f_bsize & ((uint64_t)sfs.f_bsize - 1)))
		m->page = (uint64_t)sfs.f_bsize;
	if (fstat(m->fd, &st)) {
		m->map_err = errno;
		return;
	}
	m->file_size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	m->map_off = m->mmap_offset & ~(m->page - 1);
	end = m->mmap_offset + (m->size - 1) < m->mmap_offset ? UINT64_MAX
							       : m->mmap_offset + (m->size - 1) + 1;
	if (end > m->file_size || end == 0)
		end = m->file_size;
	if (end <= m->map_off)
		return; /* nothing of it is in the file: every read says so */
	m->maplen = end - m->map_off;
	if (m->maplen > SIZE_MAX - m->page) {
		m->map_err = EOVERFLOW;
		m->maplen = 0;
		return;
	}
	m->maplen = (m->maplen + m->page - 1) & ~(m->page - 1);
	p = mmap(NULL, (size_t)m->maplen, PROT_READ, MAP_SHARED, m->fd, (off_t)m->map_off);
	if (p == MAP_FAILED) {
		m->map_err = errno;
		m->maplen = 0;
		return;
	}
	m->base = p;
}

static bool same(const struct vm_gm_map *m, const struct vm_region *r)
{
	return m->gpa == r->guest_phys_addr && m->uaddr == r->userspace_addr &&
	       m->size == r->memory_size;
}

int vm_guestmem_keep(struct vm_guestmem *gm, const struct vm_region *r, int fd)
{
	struct vm_gm_map m = { .gpa = r->guest_phys_addr, .uaddr = r->userspace_addr,
			       .size = r->memory_size, .mmap_offset = r->mmap_offset,
			       .fd = fd };
	size_t i;

	if (!r->memory_size) {
		close(fd);
		return 0;
	}
	for (i = 0; i < gm->n && !same(&gm->maps[i], r); i++)
		;
	if (i == gm->n) {
		struct vm_gm_map *v = realloc(gm->maps, (gm->n + 1) * sizeof(*v));

		if (!v) {
			close(fd);
			return -ENOMEM;
		}
		gm->maps = v;
		gm->n++;
	} else {
		unmap(&gm->maps[i]);
	}
	map(&m);
	gm->maps[i] = m;
	return 0;
}

void vm_guestmem_prune(struct vm_guestmem *gm, const struct vm_umem *umem)
{
	size_t j = 0;

	for (size_t i = 0; i < gm->n; i++) {
		struct vm_gm_map *m = &gm->maps[i];

		if (vm_umem_find(umem, m->gpa, m->uaddr, m->size))
			gm->maps[j++] = *m;
		else
			unmap(m);
	}
	gm->n = j;
	gm->hit = 0;
}

static uint64_t start_of(const struct vm_gm_map *m, enum vm_space sp)
{
	return sp == VM_SPACE_GPA ? m->gpa : m->uaddr;
}

static bool holds(const struct vm_gm_map *m, enum vm_space sp, uint64_t addr)
{
	return addr >= start_of(m, sp) && addr - start_of(m, sp) <= m->size - 1;
}

/* Copies n bytes (within one page) at file offset fo of m: the guarded
 * copy from the mapping (all or nothing), or pread (up to the file's
 * end).  The bytes copied. */
static size_t copy(const struct vm_guestmem *gm, const struct vm_gm_map *m, uint64_t fo,
		   void *buf, size_t n)
{
	size_t done = 0;

	if (gm->copy)
		return gm->copy(buf, m->base + (fo - m->map_off), n) ? n : 0;
	while (done < n) {
		ssize_t r = pread(m->fd, (char *)buf + done, n - done, (off_t)(fo + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	return done;
}

static void unreadable(struct vm_gm_piece *p, uint64_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void unreadable(struct vm_gm_piece *p, uint64_t len, const char *fmt, ...)
{
	va_list ap;

	p->status = VM_GM_UNREADABLE;
	p->len = len;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

void vm_guestmem_read_piece(struct vm_guestmem *gm, enum vm_space sp, uint64_t addr,
			    uint64_t len, void *buf, struct vm_gm_piece *p)
{
	const struct vm_gm_map *m = NULL;
	uint64_t off, fo, n, got, next = UINT64_MAX;

	memset(p, 0, sizeof(*p));
	if (gm->hit < gm->n && holds(&gm->maps[gm->hit], sp, addr))
		m = &gm->maps[gm->hit];
	for (size_t i = 0; !m && i < gm->n; i++) {
		if (holds(&gm->maps[i], sp, addr)) {
			m = &gm->maps[i];
			gm->hit = i;
		} else if (start_of(&gm->maps[i], sp) > addr &&
			   start_of(&gm->maps[i], sp) < next) {
			next = start_of(&gm->maps[i], sp);
		}
	}
	if (!m) {
		p->status = VM_GM_UNMAPPED;
		p->len = next - addr < len ? next - addr : len;
		return;
	}
	off = addr - start_of(m, sp);
	n = m->size - off < len ? m->size - off : len;
	fo = m->mmap_offset + off;
	if (fo < m->mmap_offset) {
		unreadable(p, n, "its file offset passes 2^64");
		return;
	}
	if (fo >= m->file_size) {
		unreadable(p, n, "past the end of its file (%llu bytes when mapped)",
			   (unsigned long long)m->file_size);
		return;
	}
	if (!m->base) {
		unreadable(p, n, "not mapped (mmap: %s)", strerror(m->map_err));
		return;
	}
	if (n > m->file_size - fo)
		n = m->file_size - fo;
	/* Page by page from the second: a page that faults ends the piece. */
	p->len = 0;
	while (p->len < n) {
		uint64_t at = fo + p->len, chunk = m->page - (at & (m->page - 1));

		if (chunk > n - p->len)
			chunk = n - p->len;
		got = copy(gm, m, at, (char *)buf + p->len, (size_t)chunk);
		p->len += got;
		if (got < chunk) {
			struct stat st;

			if (p->len)
				break;
			if (fstat(m->fd, &st) == 0 && (uint64_t)st.st_size <= at)
				unreadable(p, chunk, "its file shrank under vmmap to %llu bytes",
					   (unsigned long long)st.st_size);
			else
				unreadable(p, chunk, "the read of its file failed");
			return;
		}
	}
	p->status = VM_GM_OK;
}

int vm_guestmem_read(void *arg, uint64_t gpa, void *buf, size_t len)
{
	struct vm_guestmem *gm = arg;
	struct vm_gm_piece p;

	if (len && gpa + (len - 1) < gpa)
		return -EFAULT;
	for (size_t done = 0; done < len; done += p.len) {
		vm_guestmem_read_piece(gm, VM_SPACE_GPA, gpa + done, len - done,
				       (char *)buf + done, &p);
		if (p.status != VM_GM_OK)
			return p.status == VM_GM_UNMAPPED ? -EFAULT : -EIO;
	}
	return 0;
}
