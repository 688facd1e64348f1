/*
 * Augmented AVL interval tree.  See itree.h.
 */
#include "itree.h"

static int height(const struct vm_itree_node *n)
{
	return n ? n->height : 0;
}

/* Recompute height and subtree_last of n from its children. */
static void pull(struct vm_itree_node *n)
{
	int hl = height(n->left), hr = height(n->right);
	uint64_t m = n->last;

	if (n->left && n->left->subtree_last > m)
		m = n->left->subtree_last;
	if (n->right && n->right->subtree_last > m)
		m = n->right->subtree_last;
	n->subtree_last = m;
	n->height = 1 + (hl > hr ? hl : hr);
}

/* Put child where old was under parent (or at the root). */
static void replace_child(struct vm_itree *t, struct vm_itree_node *parent,
			  struct vm_itree_node *old, struct vm_itree_node *child)
{
	if (!parent)
		t->root = child;
	else if (parent->left == old)
		parent->left = child;
	else
		parent->right = child;
	if (child)
		child->parent = parent;
}

/* Rotations return the new root of the rotated subtree. */
static struct vm_itree_node *rotate_left(struct vm_itree *t,
					 struct vm_itree_node *x)
{
	struct vm_itree_node *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	replace_child(t, x->parent, x, y);
	y->left = x;
	x->parent = y;
	pull(x);
	pull(y);
	return y;
}

static struct vm_itree_node *rotate_right(struct vm_itree *t,
					  struct vm_itree_node *x)
{
	struct vm_itree_node *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	replace_child(t, x->parent, x, y);
	y->right = x;
	x->parent = y;
	pull(x);
	pull(y);
	return y;
}

/*
 * Walk from n to the root, restoring heights, subtree_last and balance.
 * The whole path is visited because subtree_last can change all the way up.
 */
static void rebalance_up(struct vm_itree *t, struct vm_itree_node *n)
{
	while (n) {
		int bf;

		pull(n);
		bf = height(n->left) - height(n->right);
		if (bf > 1) {
			if (height(n->left->left) < height(n->left->right))
				rotate_left(t, n->left);
			n = rotate_right(t, n);
		} else if (bf < -1) {
			if (height(n->right->right) < height(n->right->left))
				rotate_right(t, n->right);
			n = rotate_left(t, n);
		}
		n = n->parent;
	}
}

void vm_itree_insert(struct vm_itree *t, struct vm_itree_node *node)
{
	struct vm_itree_node *parent = NULL, **link = &t->root;

	while (*link) {
		parent = *link;
		/* Equal starts go right: tree order is insertion order for them. */
		link = node->start < parent->start ? &parent->left : &parent->right;
	}
	node->parent = parent;
	node->left = node->right = NULL;
	node->height = 1;
	node->subtree_last = node->last;
	*link = node;
	t->count++;
	rebalance_up(t, parent);
}

static struct vm_itree_node *leftmost(struct vm_itree_node *n)
{
	while (n && n->left)
		n = n->left;
	return n;
}

void vm_itree_remove(struct vm_itree *t, struct vm_itree_node *z)
{
	struct vm_itree_node *fix;

	if (z->left && z->right) {
		/* Put z's in-order successor y where z was. */
		struct vm_itree_node *y = leftmost(z->right);

		if (y->parent != z) {
			fix = y->parent;
			replace_child(t, y->parent, y, y->right);
			y->right = z->right;
			y->right->parent = y;
		} else {
			fix = y;
		}
		replace_child(t, z->parent, z, y);
		y->left = z->left;
		y->left->parent = y;
	} else {
		fix = z->parent;
		replace_child(t, z->parent, z, z->left ? z->left : z->right);
	}
	z->parent = z->left = z->right = NULL;
	t->count--;
	rebalance_up(t, fix);
}

/*
 * Leftmost node of the subtree at n that overlaps [start, last], given that
 * some node of that subtree ends at or after start (n->subtree_last >= start).
 */
static struct vm_itree_node *subtree_first(struct vm_itree_node *n,
					   uint64_t start, uint64_t last)
{
	for (;;) {
		/*
		 * If anything on the left reaches start, the answer (if any) is
		 * there: every node to the left starts no later than n.
		 */
		if (n->left && n->left->subtree_last >= start) {
			n = n->left;
			continue;
		}
		if (n->start > last)
			return NULL; /* n and everything right of it start too late */
		if (n->last >= start)
			return n;
		if (!n->right || n->right->subtree_last < start)
			return NULL;
		n = n->right;
	}
}

struct vm_itree_node *vm_itree_iter_first(const struct vm_itree *t,
					  uint64_t start, uint64_t last)
{
	if (!t->root || t->root->subtree_last < start)
		return NULL;
	return subtree_first(t->root, start, last);
}

struct vm_itree_node *vm_itree_iter_next(const struct vm_itree_node *node,
					 uint64_t start, uint64_t last)
{
	const struct vm_itree_node *n = node;

	for (;;) {
		/* Everything after n in order: first its right subtree... */
		if (n->right && n->right->subtree_last >= start)
			return subtree_first(n->right, start, last);
		/* ...then the first ancestor we reach from its left side. */
		const struct vm_itree_node *child;

		do {
			child = n;
			n = n->parent;
			if (!n)
				return NULL;
		} while (n->right == child);
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return (struct vm_itree_node *)n;
	}
}

/* Builds a perfectly balanced subtree of the next n nodes that next()
 * yields, in order: the left half, then its root, then the right half. */
static struct vm_itree_node *build(size_t n, struct vm_itree_node *parent,
				   struct vm_itree_node *(*next)(void *), void *ctx)
{
	struct vm_itree_node *left, *root;

	if (n == 0)
		return NULL;
	left = build(n / 2, NULL, next, ctx);
	root = next(ctx);
	root->parent = parent;
	root->left = left;
	if (left)
		left->parent = root;
	root->right = build(n - n / 2 - 1, root, next, ctx);
	pull(root); /* the children are done: heights and subtree_last bottom-up */
	return root;
}

void vm_itree_build_from(struct vm_itree *t, size_t n,
			 struct vm_itree_node *(*next)(void *ctx), void *ctx)
{
	t->root = build(n, NULL, next, ctx);
	t->count = n;
}

struct vm_itree_node *vm_itree_first(const struct vm_itree *t)
{
	return leftmost(t->root);
}

struct vm_itree_node *vm_itree_next(const struct vm_itree_node *n)
{
	const struct vm_itree_node *child;

	if (n->right)
		return leftmost(n->right);
	do {
		child = n;
		n = n->parent;
	} while (n && n->right == child);
	return (struct vm_itree_node *)n;
}

static const char *check(const struct vm_itree_node *n,
			 const struct vm_itree_node *parent, size_t *count)
{
	const char *err;
	int hl, hr;
	uint64_t m;

	if (!n)
		return NULL;
	if (n->parent != parent)
		return "parent link";
	if (n->last < n->start)
		return "node with last < start";
	if (n->left && n->left->start > n->start)
		return "order (left child starts later)";
	if (n->right && n->right->start < n->start)
		return "order (right child starts earlier)";
	if ((err = check(n->left, n, count)) || (err = check(n->right, n, count)))
		return err;
	hl = height(n->left);
	hr = height(n->right);
	if (n->height != 1 + (hl > hr ? hl : hr))
		return "height";
	if (hl - hr > 1 || hr - hl > 1)
		return "balance";
	m = n->last;
	if (n->left && n->left->subtree_last > m)
		m = n->left->subtree_last;
	if (n->right && n->right->subtree_last > m)
		m = n->right->subtree_last;
	if (n->subtree_last != m)
		return "subtree_last";
	(*count)++;
	return NULL;
}

const char *vm_itree_check(const struct vm_itree *t)
{
	size_t count = 0;
	const char *err = check(t->root, NULL, &count);
	const struct vm_itree_node *n, *prev = NULL;

	if (err)
		return err;
	if (count != t->count)
		return "count";
	/* Whole in-order sequence, not just parent/child pairs. */
	for (n = vm_itree_first(t); n; prev = n, n = vm_itree_next(n))
		if (prev && prev->start > n->start)
			return "in-order sequence";
	return NULL;
}
