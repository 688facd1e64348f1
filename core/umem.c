/*
 * Guest memory table.  See umem.h.
 */
#include "umem.h"

#include "bigalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vm_umem_init(struct vm_umem *umem)
{
	memset(umem, 0, sizeof(*umem));
}

static void node_free(struct vm_umem *umem, struct vm_umem_node *node)
{
	free(node->region.name);
	node->region.name = NULL;
	if (!node->in_slab) { /* slab nodes go with their slab */
		umem->nheap--;
		free(node);
	}
}

void vm_umem_clean(struct vm_umem *umem)
{
	struct vm_umem_node *node = umem->head, *next;
	struct vm_umem_slab *slab = umem->slabs, *snext;

	/* A big loaded table is all slab nodes without names: nothing to
	 * visit (touching every node again is a cache miss each). */
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
	vm_umem_init(umem);
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
	node->seq = ++umem->generation;
}

int vm_umem_add(struct vm_umem *umem, const struct vm_region *r,
		struct vm_umem_node **out)
{
	struct vm_umem_node *node;

	if (r->memory_size == 0)
		return -EINVAL;
	if (r->memory_size - 1 > UINT64_MAX - r->guest_phys_addr ||
	    r->memory_size - 1 > UINT64_MAX - r->userspace_addr)
		return -EOVERFLOW;

	node = calloc(1, sizeof(*node));
	if (!node)
		return -ENOMEM;
	node->region = *r;
	node->region.name = NULL;
	if (r->name && !(node->region.name = strdup(r->name))) {
		free(node);
		return -ENOMEM;
	}
	umem->nheap++;
	node->gpa.start = r->guest_phys_addr;
	node->gpa.last = vm_region_last(r);
	node->uaddr.start = r->userspace_addr;
	node->uaddr.last = vm_region_ulast(r);
	vm_itree_insert(&umem->gpa_tree, &node->gpa);
	vm_itree_insert(&umem->uaddr_tree, &node->uaddr);
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
		size_t cap = 65536;

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
	node->region.name = NULL;
	if (r->name && !(node->region.name = strdup(r->name)))
		return NULL;
	umem->slab_names |= r->name != NULL;
	slab->used++; /* only now: a failed name leaves nothing half-made */
	node->in_slab = 1;
	node->gpa.start = r->guest_phys_addr;
	node->gpa.last = vm_region_last(r);
	node->uaddr.start = r->userspace_addr;
	node->uaddr.last = vm_region_ulast(r);
	link_tail(umem, node);
	return node;
}

/* Tree order in one space: start, then insertion order. */
static int cmp_in(const struct vm_umem_node *x, const struct vm_umem_node *y,
		  enum vm_space space)
{
	uint64_t xs = space == VM_SPACE_GPA ? x->gpa.start : x->uaddr.start;
	uint64_t ys = space == VM_SPACE_GPA ? y->gpa.start : y->uaddr.start;

	if (xs != ys)
		return xs < ys ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_gpa(const void *a, const void *b)
{
	return cmp_in(*(struct vm_umem_node *const *)a, *(struct vm_umem_node *const *)b,
		      VM_SPACE_GPA);
}

static int cmp_uaddr(const void *a, const void *b)
{
	return cmp_in(*(struct vm_umem_node *const *)a, *(struct vm_umem_node *const *)b,
		      VM_SPACE_UADDR);
}

/* Builds one tree from the list: sorted by start, equal starts in
 * insertion order, which the list order is. */
static void build_tree(struct vm_umem *umem, struct vm_umem_node **v,
		       struct vm_itree_node **it, enum vm_space space)
{
	size_t n = umem->nregions, i = 0;
	bool sorted = true;

	for (struct vm_umem_node *node = umem->head; node; node = node->next, i++) {
		v[i] = node;
		if (i && cmp_in(v[i - 1], v[i], space) > 0)
			sorted = false;
	}
	if (!sorted) /* seq breaks ties: the order is total, qsort is enough */
		qsort(v, n, sizeof(*v), space == VM_SPACE_GPA ? cmp_gpa : cmp_uaddr);
	for (i = 0; i < n; i++)
		it[i] = space == VM_SPACE_GPA ? &v[i]->gpa : &v[i]->uaddr;
	vm_itree_build(space == VM_SPACE_GPA ? &umem->gpa_tree : &umem->uaddr_tree, it, n);
}

int vm_umem_bulk_end(struct vm_umem *umem)
{
	size_t n = umem->nregions;
	struct vm_umem_node **v = malloc((n + 1) * sizeof(*v));
	struct vm_itree_node **it = malloc((n + 1) * sizeof(*it));

	umem->bulk = false;
	if (!v || !it) {
		free(v);
		free(it);
		return -ENOMEM;
	}
	build_tree(umem, v, it, VM_SPACE_GPA);
	build_tree(umem, v, it, VM_SPACE_UADDR);
	free(v);
	free(it);
	return 0;
}

void vm_umem_remove(struct vm_umem *umem, struct vm_umem_node *node)
{
	vm_itree_remove(&umem->gpa_tree, &node->gpa);
	vm_itree_remove(&umem->uaddr_tree, &node->uaddr);
	if (node->prev)
		node->prev->next = node->next;
	else
		umem->head = node->next;
	if (node->next)
		node->next->prev = node->prev;
	else
		umem->tail = node->prev;
	umem->nregions--;
	umem->generation++;
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

static const struct vm_itree *tree_of(const struct vm_umem *umem,
				      enum vm_space space)
{
	return space == VM_SPACE_GPA ? &umem->gpa_tree : &umem->uaddr_tree;
}

static struct vm_umem_node *node_of(const struct vm_itree_node *it,
				    enum vm_space space)
{
	return space == VM_SPACE_GPA
		? vm_container_of(it, struct vm_umem_node, gpa)
		: vm_container_of(it, struct vm_umem_node, uaddr);
}

/*
 * First address of the hole around an unmapped addr: one past the highest
 * `last` of the ranges starting at or before addr (all of which end before
 * it), or 0.  O(log n) with subtree_last.
 */
static uint64_t hole_first(const struct vm_itree *tree, uint64_t addr)
{
	const struct vm_itree_node *n = tree->root;
	uint64_t best = 0;
	int found = 0;

	while (n) {
		if (n->start <= addr) {
			/* n and its whole left subtree start at or before addr. */
			uint64_t m = n->last;

			if (n->left && n->left->subtree_last > m)
				m = n->left->subtree_last;
			if (!found || m > best)
				best = m;
			found = 1;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return found ? best + 1 : 0;
}

/*
 * The current flat index of a space, built if the table changed since; NULL
 * when the regions overlap (or memory is short): then the tree answers.
 * The index is a cache, so it may be built through a const table.
 */
static struct vm_flat_index *usable_index(const struct vm_umem *cumem,
					  enum vm_space space)
{
	struct vm_umem *umem = (struct vm_umem *)cumem;
	struct vm_flat_index **slot = &umem->index[space];

	if (!*slot && !(*slot = calloc(1, sizeof(**slot))))
		return NULL;
	if (!(*slot)->eyt || (*slot)->generation != umem->generation) {
		struct vm_flat_index *idx = *slot;

		if (vm_flat_index_build(idx, tree_of(umem, space), umem->generation))
			return NULL;
		for (size_t i = 0; i < idx->n; i++) {
			const struct vm_region *r = &node_of(idx->e[i].node, space)->region;

			idx->e[i].other = space == VM_SPACE_GPA ? r->userspace_addr
							     : r->guest_phys_addr;
			idx->e[i].offset = r->mmap_offset;
		}
	}
	return (*slot)->disjoint ? *slot : NULL;
}

/* translate_desc over the flat index: the same pieces as the tree walk for
 * disjoint regions, found by the Eytzinger search or the last-hit cache. */
static int translate_flat(struct vm_flat_index *idx, enum vm_space from,
			  uint64_t addr, uint64_t last, struct vm_piece *pieces,
			  size_t max_pieces, struct vm_translation *tr)
{
	/* The inline fast path already tried the last hit.  In a big table,
	 * where a search costs hundreds of ns, an address past the last hit
	 * but not past the next region (a walk moving on, or into the gap
	 * before it) is placed without one.  Small tables search at once:
	 * there the extra test costs random lookups more than it saves
	 * (measured).  Disjoint starts increase strictly, so
	 * last[mru] < addr <= last[mru + 1] gives the upper bound directly. */
	size_t up, i, m = idx->mru;

	/* One unsigned compare (a random address fails it predictably):
	 * addr - last[m] - 1 < last[m + 1] - last[m]. */
	if (idx->n >= VM_FLAT_WALK_MIN && m + 1 < idx->n &&
	    addr - idx->e[m].last - 1 < idx->e[m + 1].last - idx->e[m].last)
		up = addr >= idx->e[m + 1].start ? m + 2 : m + 1;
	else
		up = vm_flat_index_upper(idx, addr);
	i = up - 1;

	for (;;) {
		const struct vm_umem_node *n;
		struct vm_piece *p;
		uint64_t delta, piece_last;

		if (tr->npieces >= max_pieces) {
			tr->fault_addr = addr;
			return -ENOBUFS;
		}
		if (up == 0 || idx->e[i].last < addr) {
			tr->fault_addr = addr;
			tr->hole_first = up > 0 ? idx->e[up - 1].last + 1 : 0;
			tr->hole_last = up < idx->n ? idx->e[up].start - 1 : UINT64_MAX;
			return -EFAULT;
		}
		/* Only the index's arrays are read: the node's address is
		 * computed, never loaded. */
		n = node_of(idx->e[i].node, from);
		delta = addr - idx->e[i].start;
		piece_last = idx->e[i].last < last ? idx->e[i].last : last;

		p = &pieces[tr->npieces++];
		p->region = &n->region;
		p->len = piece_last - addr + 1;
		p->guest_phys_addr = from == VM_SPACE_GPA ? addr : idx->e[i].other + delta;
		p->userspace_addr = from == VM_SPACE_GPA ? idx->e[i].other + delta : addr;
		p->mmap_offset = idx->e[i].offset + delta;
		if (piece_last == last) {
			vm_flat_index_hit(idx, i);
			return 0;
		}
		addr = piece_last + 1;
		/* Ranges run on into the next region, which then starts right
		 * there: no search needed. */
		if (i + 1 < idx->n && idx->e[i + 1].start == addr)
			up = ++i + 1;
		else
			i = (up = vm_flat_index_upper(idx, addr)) - 1;
	}
}

void vm_umem_prefetch(const struct vm_umem *umem, enum vm_space from,
		      const uint64_t *addr, size_t n)
{
	struct vm_flat_index *idx = usable_index(umem, from);

	if (idx)
		vm_flat_index_prefetch(idx, addr, n);
}

int vm_umem_translate_index(const struct vm_flat_index *idx, enum vm_space from,
			    uint64_t addr, uint64_t len, struct vm_piece *pieces,
			    size_t max_pieces, struct vm_translation *tr)
{
	tr->npieces = 0;
	tr->fault_addr = tr->hole_first = tr->hole_last = 0;
	/* The index's last-hit cache is lookup state, not table state. */
	return translate_flat((struct vm_flat_index *)idx, from, addr, addr + len - 1,
			      pieces, max_pieces, tr);
}

int vm_umem_translate_slow(const struct vm_umem *umem, enum vm_space from,
			   uint64_t addr, uint64_t len, struct vm_piece *pieces,
			   size_t max_pieces, struct vm_translation *tr)
{
	const struct vm_itree *tree = tree_of(umem, from);
	struct vm_flat_index *idx;
	uint64_t last;

	tr->npieces = 0;
	tr->fault_addr = tr->hole_first = tr->hole_last = 0;
	if (len == 0)
		return -EINVAL;
	if (len - 1 > UINT64_MAX - addr)
		return -EOVERFLOW;
	/* last stays fixed while addr walks (the Nov 2022 translate_desc fix). */
	last = addr + len - 1;
	if ((idx = usable_index(umem, from)))
		return translate_flat(idx, from, addr, last, pieces, max_pieces, tr);

	for (;;) {
		const struct vm_itree_node *it;
		const struct vm_umem_node *n;
		struct vm_piece *p;
		uint64_t delta, piece_last;

		if (tr->npieces >= max_pieces) {
			tr->fault_addr = addr;
			return -ENOBUFS;
		}
		it = vm_itree_iter_first(tree, addr, last);
		if (!it || it->start > addr) {
			/* The lowest-starting overlap begins after addr, so it is
			 * also where the hole ends. */
			tr->fault_addr = addr;
			tr->hole_first = hole_first(tree, addr);
			if (!it)
				it = vm_itree_iter_first(tree, addr, UINT64_MAX);
			tr->hole_last = it ? it->start - 1 : UINT64_MAX;
			return -EFAULT;
		}
		n = node_of(it, from);
		delta = addr - it->start;
		piece_last = it->last < last ? it->last : last;

		p = &pieces[tr->npieces++];
		p->region = &n->region;
		p->len = piece_last - addr + 1;
		p->guest_phys_addr = n->region.guest_phys_addr + delta;
		p->userspace_addr = n->region.userspace_addr + delta;
		p->mmap_offset = n->region.mmap_offset + delta;
		if (piece_last == last)
			return 0;
		addr = piece_last + 1;
	}
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
