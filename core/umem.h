/*
 * The guest memory table: vhost memory regions kept in insertion order (as the
 * kernel keeps umem_list) and indexed by two interval trees, one over guest
 * physical addresses (what translate_desc walks) and one over the frontend's
 * user addresses (what backends walk for vring addresses, qva_to_va).
 *
 * Overlapping regions are accepted, as the kernel accepts them.  Lookups are
 * deterministic: the covering region with the lowest start wins, and among
 * regions with the same start the one inserted first.
 *
 * Functions return 0 or a negative errno, kernel style.
 */
#ifndef VMMAP_UMEM_H
#define VMMAP_UMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "itree.h"

/* What a descriptor is (fstat's file type; a regular file that
 * /proc/self/fd names "/memfd:..." or "/dev/shm/..." is a memfd or a
 * shared memory object). */
enum vm_fd_type {
	VM_FD_UNKNOWN, /* not known: a recording without facts, a fuzzer */
	VM_FD_FILE, VM_FD_MEMFD, VM_FD_SHM, VM_FD_SOCKET, VM_FD_FIFO, VM_FD_CHR,
	VM_FD_BLK, VM_FD_DIR, VM_FD_OTHER,
	VM_FD_NTYPES,
};
/* "regular file", "memfd", "pipe", ... */
const char *vm_fd_type_name(unsigned type);
/* The JSON token of a type: "file", "memfd", "shm", "socket", "fifo",
 * "chr", "blk", "dir", "other" ("unknown" for VM_FD_UNKNOWN). */
const char *vm_fd_type_key(unsigned type);
/* The type of a JSON token, or -1. */
int vm_fd_type_from_key(const char *key);

/*
 * The identity of the descriptor a captured region came with, as the
 * backend saw it: device and inode tell apart what names cannot (QEMU
 * names every memfd "memory-backend-memfd", so two NUMA nodes differ by
 * inode only), and path is what /proc/<pid>/fd and /proc/<pid>/maps show
 * for it on either side ("/memfd:memory-backend-memfd (deleted)", a
 * hugetlbfs file's path).  One allocation, path included.
 */
struct vm_fd_id {
	uint64_t dev;  /* st_dev */
	uint64_t ino;  /* st_ino */
	uint64_t size; /* st_size when it arrived */
	unsigned type; /* enum vm_fd_type */
	char path[];   /* "" when not known */
};
/* A copy of id (NULL for NULL), or NULL with errno ENOMEM. */
struct vm_fd_id *vm_fd_id_dup(const struct vm_fd_id *id);
struct vm_fd_id *vm_fd_id_new(unsigned type, uint64_t dev, uint64_t ino,
			      uint64_t size, const char *path);

struct vm_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
	char *name; /* NULL when unnamed; owned by the table */
	/* The descriptor it came with (a capture), or NULL; owned by the
	 * table.  Not part of the region's value: diff and equality leave
	 * it out, since every run of one VM has new descriptors. */
	struct vm_fd_id *fd;
};

struct vm_umem_unode;

/*
 * One region.  Only the guest-physical tree lives in the node: the
 * user-address tree is built the first time something asks for it (a
 * --from uaddr lookup, validate, a capture's ring addresses) and its nodes
 * sit outside (struct vm_umem_unode), so that loading and translating a big
 * table by guest address pays for one tree, not two.
 */
struct vm_umem_node {
	struct vm_region region;
	struct vm_itree_node gpa;   /* [guest_phys_addr, +memory_size) */
	struct vm_umem_unode *uaddr; /* its node in the user-address tree, or
				      * NULL while that tree is not built */
	struct vm_umem_node *prev, *next; /* insertion order */
	/* gpa.aux holds seq (see vm_umem_seq): it grows with every insert,
	 * so it orders nodes as the list does, in O(1). */
	unsigned line;       /* where the region was read from; 0 if unknown */
	unsigned col : 30;
	unsigned in_slab : 1; /* allocated by a bulk load, freed with the table */
	unsigned uaddr_heap : 1; /* uaddr malloc'ed alone, not in a bulk array */
};

/* A node of the user-address tree: [userspace_addr, +memory_size). */
struct vm_umem_unode {
	struct vm_itree_node it;
	struct vm_umem_node *node;
};

/* Node storage of a bulk load: one allocation for many nodes. */
struct vm_umem_slab {
	struct vm_umem_slab *next;
	size_t used, cap;
	struct vm_umem_node nodes[];
};

struct vm_flat_index;

struct vm_umem {
	struct vm_itree gpa_tree;
	struct vm_itree uaddr_tree; /* valid only when uaddr_built */
	struct vm_umem_node *head, *tail;
	size_t nregions;
	/* Renumbered by every add, remove and clean, from one count across
	 * all tables: no two tables, and no two states of one, share it. */
	uint64_t generation;
	uint32_t next_seq;   /* the seq of the next insert */
	/* Lookup indexes derived from the trees, per space, rebuilt lazily
	 * when generation has moved on (see flatindex.h), once a caller's
	 * lookups through the tree have cost about what building one costs
	 * (see umem_lookup.c).  Derived data: built on demand through a
	 * const table, like the user-address tree. */
	struct vm_flat_index *index[2];
	struct vm_umem_slab *slabs;
	/* The user-address nodes made at once when that tree was built. */
	struct vm_umem_unode *ubulk;
	/* Nodes (region or user-address) not in a bulk allocation, and
	 * whether a slab node got a name or a descriptor identity: when
	 * neither, cleaning up frees the slabs without visiting the nodes. */
	size_t nheap;
	bool slab_names;
	bool bulk; /* between vm_umem_bulk_begin and _end: trees not built */
	bool uaddr_built;
};

/* Which address space an address is given in. */
enum vm_space {
	VM_SPACE_GPA,   /* guest physical address */
	VM_SPACE_UADDR, /* frontend user address (userspace_addr) */
};

/* One piece of a translated range: the part that lies in one region. */
struct vm_piece {
	uint64_t guest_phys_addr;
	uint64_t userspace_addr;
	uint64_t mmap_offset; /* offset in the region's fd */
	uint64_t len;
	const struct vm_region *region;
};

struct vm_translation {
	size_t npieces;
	/* On -EFAULT: the first unmapped address, and the whole hole around
	 * it, [hole_first, hole_last].  On -ENOBUFS: where the next piece
	 * would start.  Not written on success (a hit in the last region
	 * stores only its piece and npieces: stores bound the walk). */
	uint64_t fault_addr;
	uint64_t hole_first, hole_last;
};

struct vm_hole {
	uint64_t start, last;
};

void vm_umem_init(struct vm_umem *umem);
/* Frees every region. */
void vm_umem_clean(struct vm_umem *umem);

/*
 * Copies r (and its name) into the table.  -EINVAL for a zero size,
 * -EOVERFLOW when the guest or user range would wrap past 2^64-1,
 * -ENOMEM.  On success *out (if out) is the new node.
 */
int vm_umem_add(struct vm_umem *umem, const struct vm_region *r,
		struct vm_umem_node **out);
/*
 * Loading many regions at once (the JSON loader): vm_umem_bulk_add only
 * stores and links a region (already checked: non-empty, no wrap) in
 * insertion order, from slabs; vm_umem_bulk_end builds the guest-physical
 * tree from the list in O(n) without an array when it is already sorted,
 * O(n log n) otherwise (the user-address tree waits for its first use).  The table
 * must be empty at begin, and is not searchable until end.
 */
void vm_umem_bulk_begin(struct vm_umem *umem);
struct vm_umem_node *vm_umem_bulk_add(struct vm_umem *umem,
				      const struct vm_region *r);
int vm_umem_bulk_end(struct vm_umem *umem);

/* Removes and frees one node. */
void vm_umem_remove(struct vm_umem *umem, struct vm_umem_node *node);
/*
 * The first inserted region with exactly this guest_phys_addr,
 * userspace_addr and memory_size (REM_MEM_REG identity), or NULL.
 */
struct vm_umem_node *vm_umem_find(const struct vm_umem *umem,
				  uint64_t guest_phys_addr,
				  uint64_t userspace_addr,
				  uint64_t memory_size);
/* The first inserted region equal to r in every field, name included. */
struct vm_umem_node *vm_umem_find_exact(const struct vm_umem *umem,
					const struct vm_region *r);
/* Whether two regions are equal in every field, name included. */
int vm_region_equal(const struct vm_region *a, const struct vm_region *b);

/*
 * A caller's record of its lookups in one table: per space, the last hit
 * (a walk asks about the same region again and again, and a range inside
 * it is answered from here without a search), and how many lookups the
 * tree answered (enough of them and the table's flat index is built).
 * Lookup state, not table state: the table holds none of it, and each
 * caller keeps its own.  Zero it before its first use; a change of the
 * table, or another table, makes it stale by itself (it keeps the
 * generation it was made at).  Its fields are translate's own.
 */
struct vm_umem_last {
	uint64_t generation; /* of the table it is a record of; 0: none */
	struct vm_umem_hit {
		/* [start, start + size): the region; size 0 matches nothing.
		 * other, offset: its address in the other space and its
		 * mmap_offset, minus start (mod 2^64).  pos: its place in the
		 * index. */
		uint64_t start, size, other, offset;
		const struct vm_region *region;
		size_t pos;
	} space[2];
	size_t tree_lookups[2];
};

/*
 * Translate [addr, addr + len - 1] given in space `from`, region by region,
 * like vhost's translate_desc: one piece per region crossed, at most
 * max_pieces.  last: the caller's record (see above), or NULL for a
 * lookup that learns nothing.  Returns 0, -EINVAL (len 0), -EOVERFLOW (the
 * range wraps past 2^64-1), -EFAULT (a hole; see tr->fault_addr), -ENOBUFS
 * (more pieces needed than max_pieces) or -ENOMEM (the user-address tree,
 * built on the first VM_SPACE_UADDR lookup, could not be).  The pieces
 * before a failure are kept in pieces[] and counted in tr->npieces.
 */
int vm_umem_translate(const struct vm_umem *umem, struct vm_umem_last *last,
		      enum vm_space from, uint64_t addr, uint64_t len,
		      struct vm_piece *pieces, size_t max_pieces, struct vm_translation *tr);
/*
 * A hint before translating several addresses: their searches in a big
 * table's flat index run side by side, level by level, so that their cache
 * misses overlap instead of coming one after another.  Changes no result;
 * does nothing for small tables or tables whose regions overlap.
 */
#define VM_UMEM_PREFETCH_MAX 16 /* searched side by side */
/* regions: the regions found will be read too (translate's JSON names
 * each piece's region): fetch them side by side as well. */
void vm_umem_prefetch(const struct vm_umem *umem, enum vm_space from,
		      const uint64_t *addr, size_t n, bool regions);

/*
 * The interval tree of one space, for walking (validate's overlap pairs):
 * the user-address tree is built here on first use.  NULL only when that
 * build runs out of memory.  Map its nodes back with vm_umem_node_of.
 */
const struct vm_itree *vm_umem_tree(const struct vm_umem *umem, enum vm_space space);

static inline struct vm_umem_node *vm_umem_node_of(const struct vm_itree_node *it,
						   enum vm_space space)
{
	return space == VM_SPACE_GPA
		? vm_container_of(it, struct vm_umem_node, gpa)
		: vm_container_of(it, struct vm_umem_unode, it)->node;
}

/* The region nodes in guest-physical order (equal starts: insertion order).
 * Returns a malloc'ed array of nregions pointers, or NULL (-ENOMEM) when
 * nregions > 0 and allocation fails. */
struct vm_umem_node **vm_umem_sorted(const struct vm_umem *umem);

/*
 * The unmapped gaps between the lowest and the highest mapped guest-physical
 * address, in order.  *out is malloc'ed (NULL when there are none).  Returns
 * the number of holes, or -ENOMEM.
 */
long vm_umem_holes(const struct vm_umem *umem, struct vm_hole **out);

/* Whether two optional names are equal (both NULL counts as equal). */
int vm_name_equal(const char *a, const char *b);

/* Insertion order in O(1): a < b when a was inserted first.  32 bits, so
 * after 2^32 inserts the live nodes are renumbered, in list order. */
static inline uint32_t vm_umem_seq(const struct vm_umem_node *n)
{
	return n->gpa.aux;
}

static inline uint64_t vm_region_last(const struct vm_region *r)
{
	return r->guest_phys_addr + r->memory_size - 1;
}

static inline uint64_t vm_region_ulast(const struct vm_region *r)
{
	return r->userspace_addr + r->memory_size - 1;
}

#endif
