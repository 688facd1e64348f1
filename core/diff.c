/*
 * Table diff and apply.  See diff.h.
 */
#include "diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* REM_MEM_REG identity: guest_phys_addr, userspace_addr, memory_size. */
/* A region's identity: guest_phys_addr, userspace_addr and memory_size;
 * under VM_DIFF_LAYOUT guest_phys_addr, memory_size and mmap_offset. */
static int identity_cmp(const struct vm_region *r, const struct vm_region *s,
			unsigned flags)
{
	uint64_t x = flags & VM_DIFF_LAYOUT ? r->mmap_offset : r->userspace_addr;
	uint64_t y = flags & VM_DIFF_LAYOUT ? s->mmap_offset : s->userspace_addr;

	if (r->guest_phys_addr != s->guest_phys_addr)
		return r->guest_phys_addr < s->guest_phys_addr ? -1 : 1;
	if (r->memory_size != s->memory_size)
		return r->memory_size < s->memory_size ? -1 : 1;
	if (x != y)
		return x < y ? -1 : 1;
	return 0;
}

/* qsort_r order: identity, then insertion order. */
static int cmp_identity(const void *a, const void *b, void *flags)
{
	const struct vm_umem_node *x = *(const struct vm_umem_node *const *)a;
	const struct vm_umem_node *y = *(const struct vm_umem_node *const *)b;
	int c = identity_cmp(&x->region, &y->region, *(const unsigned *)flags);

	return c ? c : (vm_umem_seq(x) < vm_umem_seq(y) ? -1 : vm_umem_seq(x) > vm_umem_seq(y));
}

static int cmp_seq(const void *a, const void *b)
{
	const struct vm_umem_node *x = *(const struct vm_umem_node *const *)a;
	const struct vm_umem_node *y = *(const struct vm_umem_node *const *)b;

	return vm_umem_seq(x) < vm_umem_seq(y) ? -1 : vm_umem_seq(x) > vm_umem_seq(y);
}

static int cmp_op_seq(const void *a, const void *b)
{
	const struct vm_mem_op *x = a, *y = b;

	return cmp_seq(&x->node, &y->node);
}

static int cmp_change_seq(const void *a, const void *b)
{
	const struct vm_mem_change *x = a, *y = b;

	return cmp_seq(&x->old, &y->old);
}

/*
 * The regions in identity order.  The guest-physical tree already gives
 * guest_phys_addr order, so only runs with an equal start need sorting: a
 * table without shared starts costs O(n).
 */
static const struct vm_umem_node **by_identity(const struct vm_umem *umem, unsigned flags)
{
	const struct vm_umem_node **v = (const struct vm_umem_node **)vm_umem_sorted(umem);
	size_t i = 0, j;

	if (!v)
		return NULL;
	while (i < umem->nregions) {
		for (j = i + 1; j < umem->nregions &&
		     v[j]->region.guest_phys_addr == v[i]->region.guest_phys_addr; j++)
			;
		if (j - i > 1)
			qsort_r(&v[i], j - i, sizeof(*v), cmp_identity, &flags);
		i = j;
	}
	return v;
}

static int diff_memory(const struct vm_umem *old, const struct vm_umem *new,
		       unsigned flags, struct vm_diff *d)
{
	const struct vm_umem_node **a = by_identity(old, flags), **b = by_identity(new, flags);
	struct vm_mem_op *adds = malloc((new->nregions + 1) * sizeof(*adds));
	size_t i = 0, j = 0, nadd = 0;
	int rc = -ENOMEM;

	d->ops = malloc((old->nregions + new->nregions + 1) * sizeof(*d->ops));
	d->changes = malloc((old->nregions + 1) * sizeof(*d->changes));
	if (!a || !b || !adds || !d->ops || !d->changes)
		goto out;

	/* Merge walk over both tables in identity order. */
	while (i < old->nregions || j < new->nregions) {
		int c = i == old->nregions ? 1 : j == new->nregions ? -1
		      : identity_cmp(&a[i]->region, &b[j]->region, flags);

		if (c < 0) {
			d->ops[d->nrem++] = (struct vm_mem_op){ VM_REM_MEM_REG, a[i++] };
		} else if (c > 0) {
			adds[nadd++] = (struct vm_mem_op){ VM_ADD_MEM_REG, b[j++] };
		} else {
			if (!(flags & VM_DIFF_LAYOUT) &&
			    (a[i]->region.mmap_offset != b[j]->region.mmap_offset ||
			     !vm_name_equal(a[i]->region.name, b[j]->region.name)))
				d->changes[d->nchanges++] =
					(struct vm_mem_change){ a[i], b[j] };
			else
				d->unchanged++;
			i++;
			j++;
		}
	}
	/* REM_MEM_REG in reverse table order, as QEMU sends them... */
	qsort(d->ops, d->nrem, sizeof(*d->ops), cmp_op_seq);
	for (size_t k = 0; k < d->nrem / 2; k++) {
		struct vm_mem_op t = d->ops[k];

		d->ops[k] = d->ops[d->nrem - 1 - k];
		d->ops[d->nrem - 1 - k] = t;
	}
	/* ...then ADD_MEM_REG in the new table's order. */
	qsort(adds, nadd, sizeof(*adds), cmp_op_seq);
	memcpy(&d->ops[d->nrem], adds, nadd * sizeof(*adds));
	d->nops = d->nrem + nadd;
	qsort(d->changes, d->nchanges, sizeof(*d->changes), cmp_change_seq);
	rc = 0;
out:
	free(a);
	free(b);
	free(adds);
	return rc;
}

/* A registration's identity: (addr, len, device, kind). */
static int cmp_io_key(const struct vm_io_range *a, const struct vm_io_range *b)
{
	int c;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if ((c = strcmp(a->dev, b->dev)))
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->has_datamatch != b->has_datamatch)
		return a->has_datamatch ? 1 : -1;
	return a->datamatch < b->datamatch ? -1 : a->datamatch > b->datamatch;
}

/* qsort order: identity, then position in the bus array. */
static int cmp_io(const void *x, const void *y)
{
	const struct vm_io_range *a = *(const struct vm_io_range *const *)x;
	const struct vm_io_range *b = *(const struct vm_io_range *const *)y;
	int c = cmp_io_key(a, b);

	return c ? c : (a < b ? -1 : a > b);
}

/* Registrations by (device, position in the bus). */
static int cmp_dev(const void *x, const void *y)
{
	const struct vm_io_range *a = *(const struct vm_io_range *const *)x;
	const struct vm_io_range *b = *(const struct vm_io_range *const *)y;
	int c = strcmp(a->dev, b->dev);

	return c ? c : (a < b ? -1 : a > b);
}

static int cmp_pos(const void *x, const void *y)
{
	const struct vm_io_range *a = *(const struct vm_io_range *const *)x;
	const struct vm_io_range *b = *(const struct vm_io_range *const *)y;

	return a < b ? -1 : a > b;
}

static const struct vm_io_range **ptrs(const struct vm_io_bus *bus)
{
	const struct vm_io_range **v = malloc((bus->dev_count + 1) * sizeof(*v));

	if (v)
		for (size_t i = 0; i < bus->dev_count; i++)
			v[i] = &bus->range[i];
	return v;
}

static int diff_bus(const struct vm_io_bus *old, const struct vm_io_bus *new,
		    struct vm_bus_diff *bd)
{
	const struct vm_io_range **a = ptrs(old), **b = ptrs(new);
	const struct vm_io_range **ra = NULL, **rb = NULL;
	size_t i = 0, j = 0, na = 0, nb = 0;
	int rc = -ENOMEM;

	ra = malloc((old->dev_count + 1) * sizeof(*ra));
	rb = malloc((new->dev_count + 1) * sizeof(*rb));
	bd->moved = malloc((old->dev_count + 1) * sizeof(*bd->moved));
	if (!a || !b || !ra || !rb || !bd->moved)
		goto out;
	qsort(a, old->dev_count, sizeof(*a), cmp_io);
	qsort(b, new->dev_count, sizeof(*b), cmp_io);
	while (i < old->dev_count || j < new->dev_count) {
		int c = i == old->dev_count ? 1 : j == new->dev_count ? -1
		      : cmp_io_key(a[i], b[j]);

		if (c < 0)
			ra[na++] = a[i++];
		else if (c > 0)
			rb[nb++] = b[j++];
		else {
			bd->unchanged++;
			i++;
			j++;
		}
	}
	/* What is left pairs up by device name: a move. */
	qsort(ra, na, sizeof(*ra), cmp_dev);
	qsort(rb, nb, sizeof(*rb), cmp_dev);
	bd->removed = a; /* reuse the arrays for the results */
	bd->added = b;
	a = b = NULL;
	for (i = j = 0; i < na || j < nb;) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(ra[i]->dev, rb[j]->dev);

		if (c < 0)
			bd->removed[bd->nremoved++] = ra[i++];
		else if (c > 0)
			bd->added[bd->nadded++] = rb[j++];
		else
			bd->moved[bd->nmoved++] = (struct vm_io_move){ ra[i++], rb[j++] };
	}
	qsort(bd->removed, bd->nremoved, sizeof(*bd->removed), cmp_pos);
	qsort(bd->added, bd->nadded, sizeof(*bd->added), cmp_pos);
	rc = 0;
out:
	free(a);
	free(b);
	free(ra);
	free(rb);
	return rc;
}

void vm_diff_free(struct vm_diff *d)
{
	free(d->ops);
	free(d->changes);
	for (int b = 0; b < VM_NR_BUSES; b++) {
		free(d->bus[b].removed);
		free(d->bus[b].added);
		free(d->bus[b].moved);
	}
	memset(d, 0, sizeof(*d));
}

int vm_table_diff_flags(const struct vm_table *old, const struct vm_table *new,
			unsigned flags, struct vm_diff *d)
{
	memset(d, 0, sizeof(*d));
	if (diff_memory(&old->umem, &new->umem, flags, d))
		goto fail;
	for (int b = 0; !(flags & VM_DIFF_LAYOUT) && b < VM_NR_BUSES; b++)
		if (diff_bus(&old->bus[b], &new->bus[b], &d->bus[b]))
			goto fail;
	return 0;
fail:
	vm_diff_free(d);
	return -ENOMEM;
}

int vm_table_diff(const struct vm_table *old, const struct vm_table *new,
		  struct vm_diff *d)
{
	return vm_table_diff_flags(old, new, 0, d);
}

int vm_diff_empty(const struct vm_diff *d)
{
	if (d->nops || d->nchanges)
		return 0;
	for (int b = 0; b < VM_NR_BUSES; b++)
		if (d->bus[b].nremoved || d->bus[b].nadded || d->bus[b].nmoved)
			return 0;
	return 1;
}

/* Registers a copy of r, its datamatch included: the index or an error. */
static long register_copy(struct vm_io_bus *bus, const struct vm_io_range *r)
{
	long idx = vm_io_bus_register_dev(bus, r->addr, r->len, r->dev, r->kind);

	if (idx >= 0 && r->has_datamatch)
		vm_io_set_datamatch(bus, (size_t)idx, r->datamatch);
	return idx;
}

/* Removes the registration equal to r in range, device and kind. */
static int unregister_exact(struct vm_io_bus *bus, const struct vm_io_range *r)
{
	for (size_t i = 0; i < bus->dev_count; i++)
		if (!cmp_io_key(&bus->range[i], r)) {
			vm_io_bus_remove(bus, i);
			return 0;
		}
	return -ENOENT;
}

int vm_table_apply(struct vm_table *t, const struct vm_diff *d)
{
	struct vm_umem_node *n;
	long idx;
	int rc;

	/* Removals, then changes (to regions that were already there), then
	 * additions. */
	for (size_t i = 0; i < d->nrem; i++) {
		if (!(n = vm_umem_find_exact(&t->umem, &d->ops[i].node->region)))
			return -ENOENT;
		vm_umem_remove(&t->umem, n);
	}
	for (size_t i = 0; i < d->nchanges; i++) {
		const struct vm_region *to = &d->changes[i].new->region;
		char *name = NULL;
		struct vm_fd_id *fd = NULL;

		if (!(n = vm_umem_find_exact(&t->umem, &d->changes[i].old->region)))
			return -ENOENT;
		if ((to->name && !(name = strdup(to->name))) ||
		    (to->fd && !(fd = vm_fd_id_dup(to->fd)))) {
			free(name);
			return -ENOMEM;
		}
		free(n->region.name);
		n->region.name = name;
		free(n->region.fd);
		n->region.fd = fd;
		n->region.mmap_offset = to->mmap_offset;
	}
	for (size_t i = d->nrem; i < d->nops; i++)
		if ((rc = vm_umem_add(&t->umem, &d->ops[i].node->region, NULL)))
			return rc;
	for (int b = 0; b < VM_NR_BUSES; b++) {
		const struct vm_bus_diff *bd = &d->bus[b];
		struct vm_io_bus *bus = &t->bus[b];

		for (size_t i = 0; i < bd->nremoved; i++)
			if ((rc = unregister_exact(bus, bd->removed[i])))
				return rc;
		for (size_t i = 0; i < bd->nmoved; i++)
			if ((rc = unregister_exact(bus, bd->moved[i].old)))
				return rc;
		for (size_t i = 0; i < bd->nmoved; i++) {
			const struct vm_io_range *r = bd->moved[i].new;

			if ((idx = register_copy(bus, r)) < 0)
				return (int)idx;
		}
		for (size_t i = 0; i < bd->nadded; i++) {
			const struct vm_io_range *r = bd->added[i];

			if ((idx = register_copy(bus, r)) < 0)
				return (int)idx;
		}
	}
	return 0;
}
