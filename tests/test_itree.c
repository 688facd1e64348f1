/*
 * The augmented interval tree against a brute-force model: after every batch
 * of random inserts and removes the invariants hold (order, AVL balance,
 * heights, subtree_last, parent links), and overlap queries return exactly
 * the overlapping nodes in (start, insertion) order.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "itree.h"

struct item {
	struct vm_itree_node node;
	uint64_t seq; /* insertion order, for the expected order of equal starts */
	int live;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void random_range(uint64_t *start, uint64_t *last)
{
	switch (rnd() % 8) {
	case 0: /* at the very top of the address space */
		*last = UINT64_MAX;
		*start = UINT64_MAX - rnd() % 4096;
		return;
	case 1: /* a long range, overlapping many others */
		*start = rnd() % 20000;
		*last = *start + 2000 + rnd() % 20000;
		return;
	default: /* short ranges on a small key space: many equal starts */
		*start = rnd() % 20000;
		*last = *start + rnd() % 300;
		return;
	}
}

static int overlaps(const struct item *it, uint64_t s, uint64_t l)
{
	return it->node.start <= l && it->node.last >= s;
}

/* Expected: live overlapping items ordered by (start, seq). */
static size_t brute(struct item *items, size_t n, uint64_t s, uint64_t l,
		    struct item **out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (items[i].live && overlaps(&items[i], s, l))
			out[k++] = &items[i];
	for (size_t i = 1; i < k; i++) /* insertion sort, k is small */
		for (size_t j = i; j > 0; j--) {
			struct item *a = out[j - 1], *b = out[j];

			if (a->node.start < b->node.start ||
			    (a->node.start == b->node.start && a->seq < b->seq))
				break;
			out[j - 1] = b;
			out[j] = a;
		}
	return k;
}

static void check_query(struct vm_itree *t, struct item *items, size_t n,
			struct item **want, uint64_t s, uint64_t l)
{
	size_t k = brute(items, n, s, l, want), got = 0;
	const struct vm_itree_node *it;

	for (it = vm_itree_iter_first(t, s, l); it; it = vm_itree_iter_next(it, s, l)) {
		cr_assert_lt(got, k, "query [%#lx,%#lx]: more results than the model",
			     (unsigned long)s, (unsigned long)l);
		cr_assert_eq(it, &want[got]->node,
			     "query [%#lx,%#lx]: result %zu differs from the model",
			     (unsigned long)s, (unsigned long)l, got);
		got++;
	}
	cr_assert_eq(got, k, "query [%#lx,%#lx]: %zu results, model has %zu",
		     (unsigned long)s, (unsigned long)l, got, k);
}

Test(itree, random_against_model)
{
	enum { SLOTS = 1500, OPS = 100000 };
	struct item *items = calloc(SLOTS, sizeof(*items));
	struct item **want = calloc(SLOTS, sizeof(*want));
	struct vm_itree t = { 0 };
	uint64_t seq = 0;
	size_t live = 0;
	const char *err;

	cr_assert(items && want);
	for (int op = 0; op < OPS; op++) {
		struct item *it = &items[rnd() % SLOTS];
		uint64_t s, l;

		if (it->live) {
			vm_itree_remove(&t, &it->node);
			it->live = 0;
			live--;
		} else {
			random_range(&it->node.start, &it->node.last);
			it->seq = seq++;
			it->node.aux = (uint32_t)(it->seq * 2654435761u);
			it->live = 1;
			vm_itree_insert(&t, &it->node);
			live++;
		}
		cr_assert_eq(t.count, live);
		if (op % 100 == 0) {
			err = vm_itree_check(&t);
			cr_assert_null(err, "after %d operations: %s", op + 1, err);
			for (size_t i = 0; i < SLOTS; i++) /* the container's word */
				cr_assert(!items[i].live || items[i].node.aux ==
					  (uint32_t)(items[i].seq * 2654435761u),
					  "the tree wrote aux");
		}
		if (op % 10 == 0) {
			random_range(&s, &l);
			check_query(&t, items, SLOTS, want, s, l);
			check_query(&t, items, SLOTS, want, s, s); /* a point */
		}
	}
	err = vm_itree_check(&t);
	cr_assert_null(err, "%s", err);
	check_query(&t, items, SLOTS, want, 0, UINT64_MAX);

	/* Drain completely: the tree must stay sound down to empty. */
	for (size_t i = 0; i < SLOTS; i++)
		if (items[i].live) {
			vm_itree_remove(&t, &items[i].node);
			items[i].live = 0;
			if (i % 50 == 0)
				cr_assert_null(vm_itree_check(&t));
		}
	cr_assert_null(t.root);
	cr_assert_eq(t.count, 0);
	free(items);
	free(want);
}

/* Sorted input is the worst case for an unbalanced tree. */
Test(itree, balanced_on_sorted_input)
{
	enum { N = 100000 };
	struct item *items = calloc(N, sizeof(*items));
	struct vm_itree t = { 0 };

	cr_assert(items);
	for (size_t i = 0; i < N; i++) {
		items[i].node.start = i * 4096;
		items[i].node.last = i * 4096 + 4095;
		vm_itree_insert(&t, &items[i].node);
	}
	cr_assert_null(vm_itree_check(&t));
	/* AVL height bound: < 1.45 log2(n + 2); log2(100002) ~ 16.6. */
	cr_assert_leq(t.root->height, 24, "height %d", t.root->height);
	cr_assert_eq(t.root->subtree_last, (uint64_t)N * 4096 - 1);

	/* Remove every other node, then check queries still find the rest. */
	for (size_t i = 0; i < N; i += 2)
		vm_itree_remove(&t, &items[i].node);
	cr_assert_null(vm_itree_check(&t));
	cr_assert_eq(t.count, N / 2);
	cr_assert_null(vm_itree_iter_first(&t, 0, 4095));
	cr_assert_eq(vm_itree_iter_first(&t, 4096, 4096), &items[1].node);
	cr_assert_eq(vm_itree_iter_first(&t, 5000, UINT64_MAX), &items[1].node);
	free(items);
}

Test(itree, equal_starts_keep_insertion_order)
{
	struct item items[5];
	struct vm_itree t = { 0 };
	const struct vm_itree_node *it;
	int i = 0;

	for (int k = 0; k < 5; k++) {
		items[k].node.start = 0x1000;
		items[k].node.last = 0x1000 + (uint64_t)(5 - k) * 0x100;
		vm_itree_insert(&t, &items[k].node);
	}
	for (it = vm_itree_iter_first(&t, 0x1000, 0x1000); it;
	     it = vm_itree_iter_next(it, 0x1000, 0x1000))
		cr_assert_eq(it, &items[i++].node, "position %d", i);
	cr_assert_eq(i, 5);
}

Test(itree, empty_and_extremes)
{
	struct vm_itree t = { 0 };
	struct item top = { .node = { .start = UINT64_MAX, .last = UINT64_MAX } };
	struct item all = { .node = { .start = 0, .last = UINT64_MAX } };

	cr_assert_null(vm_itree_iter_first(&t, 0, UINT64_MAX));
	cr_assert_null(vm_itree_first(&t));
	cr_assert_null(vm_itree_check(&t));

	vm_itree_insert(&t, &top.node);
	cr_assert_eq(vm_itree_iter_first(&t, UINT64_MAX, UINT64_MAX), &top.node);
	cr_assert_null(vm_itree_iter_first(&t, 0, UINT64_MAX - 1));
	vm_itree_insert(&t, &all.node);
	cr_assert_eq(vm_itree_iter_first(&t, UINT64_MAX, UINT64_MAX), &all.node);
	cr_assert_eq(vm_itree_iter_next(&all.node, UINT64_MAX, UINT64_MAX), &top.node);
	cr_assert_null(vm_itree_iter_next(&top.node, UINT64_MAX, UINT64_MAX));
	cr_assert_null(vm_itree_check(&t));
}
