/*
 * Augmented interval tree over closed u64 ranges [start, last].
 *
 * The tree is an intrusive AVL tree ordered by start (equal starts keep
 * insertion order: a new node goes after the ones already there).  Every node
 * also keeps subtree_last, the largest `last` in its subtree, which lets an
 * overlap query skip subtrees that end before the query starts.  The same
 * shape as Linux's INTERVAL_TREE_DEFINE (iter_first / iter_next), written
 * independently: the balancing here is AVL, not red-black.
 *
 * Ranges are closed so that a range ending at 2^64-1 needs no exclusive end.
 */
#ifndef VMMAP_ITREE_H
#define VMMAP_ITREE_H

#include <stddef.h>
#include <stdint.h>

struct vm_itree_node {
	struct vm_itree_node *parent, *left, *right;
	uint64_t start, last;   /* set by the caller before insert */
	uint64_t subtree_last;  /* maintained by the tree */
	int height;             /* maintained by the tree; leaf = 1 */
	/* Never read or written by the tree: 32 bits for the container to
	 * use, which would otherwise be padding. */
	uint32_t aux;
};

struct vm_itree {
	struct vm_itree_node *root;
	size_t count;
};

#define vm_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* O(log n).  node->start <= node->last must hold. */
void vm_itree_insert(struct vm_itree *t, struct vm_itree_node *node);
/* O(log n).  node must be in t. */
void vm_itree_remove(struct vm_itree *t, struct vm_itree_node *node);

/*
 * The node with the lowest start (earliest inserted among equal starts) that
 * overlaps [start, last], or NULL.  O(log n).
 */
struct vm_itree_node *vm_itree_iter_first(const struct vm_itree *t,
					  uint64_t start, uint64_t last);
/* The next overlapping node after node in tree order, or NULL. */
struct vm_itree_node *vm_itree_iter_next(const struct vm_itree_node *node,
					 uint64_t start, uint64_t last);

/*
 * Builds an empty tree from n nodes that next(ctx) yields in tree order (by
 * start, equal starts in insertion order), one per call: perfectly
 * balanced, O(n), no rotations, and no array of n pointers needed (a
 * table's own list can feed it).
 */
void vm_itree_build_from(struct vm_itree *t, size_t n,
			 struct vm_itree_node *(*next)(void *ctx), void *ctx);

/* Plain in-order traversal. */
struct vm_itree_node *vm_itree_first(const struct vm_itree *t);
struct vm_itree_node *vm_itree_next(const struct vm_itree_node *node);

/*
 * Checks every invariant (parent links, order, AVL heights and balance,
 * subtree_last, count).  Returns NULL when the tree is sound, otherwise a
 * static string naming the first broken invariant.  For tests; O(n).
 */
const char *vm_itree_check(const struct vm_itree *t);

#endif
