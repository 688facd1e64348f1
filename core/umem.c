/*
 * The guest memory table (see umem.h): regions, their trees, and changes.
 * Lookups are in umem_lookup.c.
 */
#include "umem.h"
#include "flatindex.h"

#include "bigalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Generations are numbered across all tables of the process, from 1: a
 * caller's record (struct vm_umem_last) then needs one compare to know it
 * is of this table as it is now, and a zeroed record matches none.
 */
static uint64_t next_generation(void)
{
	static uint64_t gen;

	return __atomic_add_fetch(&gen, 1, __ATOMIC_RELAXED);
}

void vm_umem_init(struct vm_umem *umem)
{
	memset(umem, 0, sizeof(*umem));
	umem->generation = next_generation();
}

const char *vm_fd_type_name(unsigned type)
{
	static const char *const names[VM_FD_NTYPES] = {
		"unknown", "regular file", "memfd", "shared memory object", "socket",
		"pipe", "character device", "block device", "directory", "other file",
	};

	return type < VM_FD_NTYPES ? names[type] : "other file";
}

static const char *const fd_keys[VM_FD_NTYPES] = {
	"unknown", "file", "memfd", "shm", "socket", "fifo", "chr", "blk", "dir", "other",
};

const char *vm_fd_type_key(unsigned type)
{
	return type < VM_FD_NTYPES ? fd_keys[type] : "other";
}

int vm_fd_type_from_key(const char *key)
{
	for (int i = 0; i < VM_FD_NTYPES; i++)
		if (!strcmp(fd_keys[i], key))
			return i;
	return -1;
}

struct vm_fd_id *vm_fd_id_new(unsigned type, uint64_t dev, uint64_t ino,
			      uint64_t size, const char *path)
{
	size_t len = path ? strlen(path) : 0;
	struct vm_fd_id *id = malloc(sizeof(*id) + len + 1);

	if (!id)
		return NULL;
	*id = (struct vm_fd_id){ .dev = dev, .ino = ino, .size = size, .type = type };
	if (len)
		memcpy(id->path, path, len);
	id->path[len] = '\0';
	return id;
}

struct vm_fd_id *vm_fd_id_dup(const struct vm_fd_id *id)
{
	return id ? vm_fd_id_new(id->type, id->dev, id->ino, id->size, id->path) : NULL;
}

/* Copies r's name and descriptor identity into n (whose region is a
 * copy of r): 0 or -ENOMEM, with nothing left allocated. */
static int own_strings(struct vm_region *n, const struct vm_region *r)
{
	n->name = NULL;
	n->fd = NULL;
	if (r->name && !(n->name = strdup(r->name)))
		return -ENOMEM;
	if (r->fd && !(n->fd = vm_fd_id_dup(r->fd))) {
		free(n->name);
		n->name = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void node_free(struct vm_umem *umem, struct vm_umem_node *node)
{
	free(node->region.name);
	node->region.name = NULL;
	free(node->region.fd);
	node->region.fd = NULL;
	if (node->uaddr_heap) {
		umem->nheap--;
		free(node->uaddr);
	}
	node->uaddr = NULL;
	node->uaddr_heap = 0;
	if (!node->in_slab) { /* slab nodes go with their slab */
		umem->nheap--;
		free(node);
	}
}

void vm_umem_clean(struct vm_umem *umem)
{
	struct vm_umem_node *node = umem->head, *next;
	struct vm_umem_slab *slab = umem->slabs, *snext;

	/* A big loaded table is all slab nodes without names or lone
	 * user-address nodes: nothing to visit (touching every node again is
	 * a cache miss each). */
	if (umem->nheap || umem->slab_names)
		for (; node; node = next) {
			next = node->next;
			node_free(umem, node);
		}
	for (; slab; slab = snext) {
		snext = slab->next;
		free(slab);
	}
	for (int s = 0; s < 2; s++)
		if (umem->index[s]) {
			vm_flat_index_free(umem->index[s]);
			free(umem->index[s]);
		}
	free(umem->ubulk);
	vm_umem_init(umem); /* a new generation */
}

/* The table changed: a new generation, which makes the flat indexes
 * (rebuilt lazily) and the callers' records stale. */
static void table_changed(struct vm_umem *umem)
{
	umem->generation = next_generation();
}

static void link_tail(struct vm_umem *umem, struct vm_umem_node *node)
{
	node->prev = umem->tail;
	node->next = NULL;
	if (umem->tail)
		umem->tail->next = node;
	else
		umem->head = node;
	umem->tail = node;
	umem->nregions++;
	table_changed(umem);
	if (umem->next_seq == UINT32_MAX) { /* renumber: the order stays */
		uint32_t seq = 0;

		for (struct vm_umem_node *n = umem->head; n; n = n->next)
			n->gpa.aux = seq++;
		umem->next_seq = seq;
	}
	node->gpa.aux = umem->next_seq++;
}

int vm_umem_add(struct vm_umem *umem, const struct vm_region *r,
		struct vm_umem_node **out)
{
	struct vm_umem_node *node;
	struct vm_umem_unode *un = NULL;

	if (r->memory_size == 0)
		return -EINVAL;
	if (r->memory_size - 1 > UINT64_MAX - r->guest_phys_addr ||
	    r->memory_size - 1 > UINT64_MAX - r->userspace_addr)
		return -EOVERFLOW;

	node = calloc(1, sizeof(*node));
	if (umem->uaddr_built && node)
		un = malloc(sizeof(*un));
	if (!node || (umem->uaddr_built && !un)) {
		free(node);
		return -ENOMEM;
	}
	node->region = *r;
	if (own_strings(&node->region, r)) {
		free(un);
		free(node);
		return -ENOMEM;
	}
	umem->nheap++;
	node->gpa.start = r->guest_phys_addr;
	node->gpa.last = vm_region_last(r);
	vm_itree_insert(&umem->gpa_tree, &node->gpa);
	if (un) {
		umem->nheap++; /* counts the lone user-address node too */
		un->it.start = r->userspace_addr;
		un->it.last = vm_region_ulast(r);
		un->node = node;
		node->uaddr = un;
		node->uaddr_heap = 1;
		vm_itree_insert(&umem->uaddr_tree, &un->it);
	}
	link_tail(umem, node);
	if (out)
		*out = node;
	return 0;
}

void vm_umem_bulk_begin(struct vm_umem *umem)
{
	umem->bulk = true;
}

struct vm_umem_node *vm_umem_bulk_add(struct vm_umem *umem,
				      const struct vm_region *r)
{
	struct vm_umem_slab *slab = umem->slabs;
	struct vm_umem_node *node;

	if (!slab || slab->used == slab->cap) {
		/* Doubling from 64 to 65536 nodes: a small table costs a small
		 * allocation, a big one few (and huge pages). */
		size_t cap = !slab ? 64 : slab->cap < 65536 ? 2 * slab->cap : 65536;

		slab = vm_malloc_big(sizeof(*slab) + cap * sizeof(slab->nodes[0]));
		if (!slab)
			return NULL;
		slab->used = 0;
		slab->cap = cap;
		slab->next = umem->slabs;
		umem->slabs = slab;
	}
	node = &slab->nodes[slab->used];
	memset(node, 0, sizeof(*node));
	node->region = *r;
	if (own_strings(&node->region, r))
		return NULL;
	umem->slab_names |= r->name || r->fd;
	slab->used++; /* only now: a failed name leaves nothing half-made */
	node->in_slab = 1;
	node->gpa.start = r->guest_phys_addr;
	node->gpa.last = vm_region_last(r);
	link_tail(umem, node);
	return node;
}

/* Guest-physical tree order: start, then insertion order. */
static int cmp_gpa(const void *a, const void *b)
{
	const struct vm_umem_node *x = *(struct vm_umem_node *const *)a;
	const struct vm_umem_node *y = *(struct vm_umem_node *const *)b;

	if (x->gpa.start != y->gpa.start)
		return x->gpa.start < y->gpa.start ? -1 : 1;
	return vm_umem_seq(x) < vm_umem_seq(y) ? -1 : vm_umem_seq(x) > vm_umem_seq(y);
}

static struct vm_itree_node *list_next(void *ctx)
{
	struct vm_umem_node **pos = ctx, *n = *pos;

	*pos = n->next;
	return &n->gpa;
}

static struct vm_itree_node *array_next(void *ctx)
{
	struct vm_umem_node ***pos = ctx;

	return &(*(*pos)++)->gpa;
}

/*
 * Builds the guest-physical tree from the list.  A table listed in address
 * order (every real one, and every big generated one) is fed to the tree
 * straight from the list, with no array; any other is sorted first.
 */
int vm_umem_bulk_end(struct vm_umem *umem)
{
	size_t n = umem->nregions, i = 0;
	struct vm_umem_node *node, **v, **pos;

	umem->bulk = false;
	table_changed(umem); /* an index or a record of the empty table is stale */
	if (umem->uaddr_built) { /* built empty before the load: again on use */
		free(umem->ubulk);
		umem->ubulk = NULL;
		umem->uaddr_built = false;
	}
	for (node = umem->head; node && node->next; node = node->next)
		if (node->gpa.start > node->next->gpa.start)
			break;
	if (!node || !node->next) {
		node = umem->head;
		vm_itree_build_from(&umem->gpa_tree, n, list_next, &node);
		return 0;
	}
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (node = umem->head; node; node = node->next)
		v[i++] = node;
	/* seq breaks ties: the order is total, qsort is enough */
	qsort(v, n, sizeof(*v), cmp_gpa);
	pos = v;
	vm_itree_build_from(&umem->gpa_tree, n, array_next, &pos);
	free(v);
	return 0;
}

static int cmp_uaddr(const void *a, const void *b)
{
	const struct vm_umem_unode *x = *(struct vm_umem_unode *const *)a;
	const struct vm_umem_unode *y = *(struct vm_umem_unode *const *)b;

	if (x->it.start != y->it.start)
		return x->it.start < y->it.start ? -1 : 1;
	/* The array is in list order, which is insertion order. */
	return x < y ? -1 : x > y;
}

static struct vm_itree_node *unode_next(void *ctx)
{
	struct vm_umem_unode **pos = ctx;

	return &(*pos)++->it;
}

static struct vm_itree_node *unode_array_next(void *ctx)
{
	struct vm_umem_unode ***pos = ctx;

	return &(*(*pos)++)->it;
}

/* The user-address tree, built from the list on first use. */
static int uaddr_build(struct vm_umem *umem)
{
	size_t n = umem->nregions, i = 0;
	struct vm_umem_unode *u = vm_malloc_big((n ? n : 1) * sizeof(*u));
	struct vm_umem_node *node;
	bool sorted = true;

	if (!u)
		return -ENOMEM;
	for (node = umem->head; node; node = node->next, i++) {
		u[i].it.start = node->region.userspace_addr;
		u[i].it.last = vm_region_ulast(&node->region);
		u[i].node = node;
		if (i && u[i - 1].it.start > u[i].it.start)
			sorted = false;
	}
	if (sorted) {
		struct vm_umem_unode *pos = u;

		vm_itree_build_from(&umem->uaddr_tree, n, unode_next, &pos);
	} else {
		struct vm_umem_unode **v = malloc((n ? n : 1) * sizeof(*v)), **pos = v;

		if (!v) {
			free(u);
			return -ENOMEM;
		}
		for (i = 0; i < n; i++)
			v[i] = &u[i];
		qsort(v, n, sizeof(*v), cmp_uaddr);
		vm_itree_build_from(&umem->uaddr_tree, n, unode_array_next, &pos);
		free(v);
	}
	for (i = 0; i < n; i++)
		u[i].node->uaddr = &u[i];
	umem->ubulk = u;
	umem->uaddr_built = true;
	return 0;
}

const struct vm_itree *vm_umem_tree(const struct vm_umem *cumem, enum vm_space space)
{
	struct vm_umem *umem = (struct vm_umem *)cumem; /* a derived index */

	if (space == VM_SPACE_GPA)
		return &umem->gpa_tree;
	if (!umem->uaddr_built && uaddr_build(umem))
		return NULL;
	return &umem->uaddr_tree;
}

void vm_umem_remove(struct vm_umem *umem, struct vm_umem_node *node)
{
	vm_itree_remove(&umem->gpa_tree, &node->gpa);
	if (node->uaddr)
		vm_itree_remove(&umem->uaddr_tree, &node->uaddr->it);
	if (node->prev)
		node->prev->next = node->next;
	else
		umem->head = node->next;
	if (node->next)
		node->next->prev = node->prev;
	else
		umem->tail = node->prev;
	umem->nregions--;
	table_changed(umem);
	node_free(umem, node);
}

int vm_name_equal(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

int vm_region_equal(const struct vm_region *a, const struct vm_region *b)
{
	return a->guest_phys_addr == b->guest_phys_addr &&
	       a->memory_size == b->memory_size &&
	       a->userspace_addr == b->userspace_addr &&
	       a->mmap_offset == b->mmap_offset &&
	       vm_name_equal(a->name, b->name);
}

/* The first inserted region starting at gpa for which match() holds. */
static struct vm_umem_node *find_at(const struct vm_umem *umem, uint64_t gpa,
				    int (*match)(const struct vm_region *, const void *),
				    const void *arg)
{
	const struct vm_itree_node *it;

	/* Candidates start exactly at gpa; in tree order they come in
	 * insertion order, after any regions that start lower and cover gpa. */
	for (it = vm_itree_iter_first(&umem->gpa_tree, gpa, gpa);
	     it && it->start <= gpa; it = vm_itree_iter_next(it, gpa, gpa)) {
		struct vm_umem_node *n = vm_container_of(it, struct vm_umem_node, gpa);

		if (it->start == gpa && match(&n->region, arg))
			return n;
	}
	return NULL;
}

static int match_identity(const struct vm_region *r, const void *arg)
{
	const struct vm_region *want = arg;

	return r->memory_size == want->memory_size &&
	       r->userspace_addr == want->userspace_addr;
}

static int match_exact(const struct vm_region *r, const void *arg)
{
	return vm_region_equal(r, arg);
}

struct vm_umem_node *vm_umem_find(const struct vm_umem *umem,
				  uint64_t guest_phys_addr,
				  uint64_t userspace_addr,
				  uint64_t memory_size)
{
	struct vm_region want = {
		.guest_phys_addr = guest_phys_addr, .memory_size = memory_size,
		.userspace_addr = userspace_addr,
	};

	return find_at(umem, guest_phys_addr, match_identity, &want);
}

struct vm_umem_node *vm_umem_find_exact(const struct vm_umem *umem,
					const struct vm_region *r)
{
	return find_at(umem, r->guest_phys_addr, match_exact, r);
}

struct vm_umem_node **vm_umem_sorted(const struct vm_umem *umem)
{
	struct vm_umem_node **v;
	const struct vm_itree_node *it;
	size_t i = 0;

	v = malloc((umem->nregions ? umem->nregions : 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (it = vm_itree_first(&umem->gpa_tree); it; it = vm_itree_next(it))
		v[i++] = vm_container_of(it, struct vm_umem_node, gpa);
	return v;
}

long vm_umem_holes(const struct vm_umem *umem, struct vm_hole **out)
{
	const struct vm_itree_node *it = vm_itree_first(&umem->gpa_tree);
	struct vm_hole *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t covered;

	*out = NULL;
	if (!it)
		return 0;
	covered = it->last; /* highest address mapped so far */
	for (it = vm_itree_next(it); it; it = vm_itree_next(it)) {
		if (covered != UINT64_MAX && it->start > covered + 1) {
			if (n == cap) {
				struct vm_hole *nv;

				cap = cap ? 2 * cap : 8;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			v[n].start = covered + 1;
			v[n].last = it->start - 1;
			n++;
		}
		if (it->last > covered)
			covered = it->last;
	}
	*out = v;
	return (long)n;
}
