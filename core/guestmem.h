/*
 * Guest memory as a backend sees it: the descriptor of each region of the
 * current table, mapped read-only (MAP_SHARED, PROT_READ: vmmap never
 * writes guest memory) from the region's mmap_offset rounded down to the
 * file's page size (fstatfs: hugetlbfs refuses unaligned maps) and
 * clipped to the file's size when mapped (fstat).  A region leaves (its
 * mapping unmapped, its descriptor closed) when the table no longer holds
 * it: REM_MEM_REG, a new SET_MEM_TABLE, the session's end.
 *
 * A file can shrink under vmmap (a file backend, a peer's memfd): a mapped
 * page past the new end then raises SIGBUS when read.  Every read goes
 * through one path, vm_guestmem_read_piece, which copies with the
 * caller's guarded copy (the CLI's SIGBUS guard) or, without one, with
 * pread on the descriptor at the same offset; a read that faults is
 * answered as unreadable, never a crash.  core/ installs no signal
 * handler.
 */
#ifndef VMMAP_GUESTMEM_H
#define VMMAP_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umem.h"

struct vm_gm_map {
	uint64_t gpa, uaddr, size, mmap_offset; /* the region */
	int fd;                  /* owned */
	const uint8_t *base;     /* the mapping, or NULL (map_err says why) */
	uint64_t map_off;        /* the file offset it starts at (page-rounded) */
	uint64_t maplen;
	uint64_t file_size;      /* when mapped */
	uint64_t page;           /* the file's page size */
	int map_err;             /* mmap's errno, or 0 */
};

/*
 * A guarded copy of n bytes: false when the source faulted (the bytes
 * copied are then undefined).
 */
typedef bool (*vm_gm_copy_fn)(void *dst, const void *src, size_t n);

struct vm_guestmem {
	struct vm_gm_map *maps;
	size_t n;
	vm_gm_copy_fn copy;      /* NULL: pread */
	size_t hit;              /* the last map read, a hint */
};

enum vm_gm_status {
	VM_GM_OK,
	VM_GM_UNMAPPED,   /* no region holds the address */
	VM_GM_UNREADABLE, /* a region does, but its bytes cannot be read */
};

/* The first piece of a read: len bytes from addr with one status. */
struct vm_gm_piece {
	enum vm_gm_status status;
	uint64_t len;
	char why[96];     /* for UNREADABLE: why ("past the end of its file (N bytes)") */
};

void vm_guestmem_init(struct vm_guestmem *gm);
/* Unmaps and closes everything. */
void vm_guestmem_clear(struct vm_guestmem *gm);

/*
 * Takes fd (owned from here, closed on failure too) as region r's
 * descriptor and maps it; a descriptor held for the same region (guest
 * address, user address, size) is replaced.  A map that fails is kept
 * with its error (its reads say so).  0 or -ENOMEM.
 */
int vm_guestmem_keep(struct vm_guestmem *gm, const struct vm_region *r, int fd);

/* Lets go of every region that umem no longer holds. */
void vm_guestmem_prune(struct vm_guestmem *gm, const struct vm_umem *umem);

/*
 * Reads the first piece of [addr, addr + len) in space sp (len >= 1): as
 * many bytes as one region holds readable (copied to buf), or the run of
 * unmapped or unreadable bytes up to the next change.  Regions that
 * overlap: the first kept wins, as translate's first inserted.
 */
void vm_guestmem_read_piece(struct vm_guestmem *gm, enum vm_space sp, uint64_t addr,
			    uint64_t len, void *buf, struct vm_gm_piece *p);

/*
 * Reads [gpa, gpa + len) whole (vq_read_fn's shape: arg is the
 * vm_guestmem): 0, -EFAULT (some byte unmapped) or -EIO (unreadable).
 */
int vm_guestmem_read(void *gm, uint64_t gpa, void *buf, size_t len);

#endif
