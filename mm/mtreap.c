/*
 * mtreap: see mm/mtreap.h.
 *
 * Why a treap: Go 1.10 used one for the same job; it needs no extra memory
 * (the nodes are the spans), its code is short, and expected O(log n)
 * matches a red-black tree in practice.  Spans below 128 pages never get
 * here (mheap keeps exact lists for them), so the treap holds few nodes.
 */
#include "mm/mtreap.h"
#include "lib/check.h"

static bool less(const struct mspan *a, const struct mspan *b)
{
	return a->npages < b->npages ||
	       (a->npages == b->npages && a->base < b->base);
}

static uint32_t next_prio(struct mtreap *t)
{
	uint64_t x = t->seed ? t->seed : 0x9E3779B97F4A7C15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->seed = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static void replace_child(struct mtreap *t, struct mspan *parent,
                          struct mspan *old, struct mspan *new)
{
	if (!parent)
		t->root = new;
	else if (parent->tleft == old)
		parent->tleft = new;
	else
		parent->tright = new;
	if (new)
		new->tparent = parent;
}

/* Rotate x's child c up into x's place. */
static void rotate_up(struct mtreap *t, struct mspan *c)
{
	struct mspan *x = c->tparent;
	replace_child(t, x->tparent, x, c);
	if (x->tleft == c) {
		x->tleft = c->tright;
		if (x->tleft)
			x->tleft->tparent = x;
		c->tright = x;
	} else {
		x->tright = c->tleft;
		if (x->tright)
			x->tright->tparent = x;
		c->tleft = x;
	}
	x->tparent = c;
}

void mtreap_insert(struct mtreap *t, struct mspan *s)
{
	s->tleft = s->tright = NULL;
	s->tprio = next_prio(t);
	struct mspan *parent = NULL, **link = &t->root;
	while (*link) {
		parent = *link;
		link = less(s, parent) ? &parent->tleft : &parent->tright;
	}
	*link = s;
	s->tparent = parent;
	while (s->tparent && s->tparent->tprio > s->tprio)
		rotate_up(t, s);
	t->count++;
}

void mtreap_remove(struct mtreap *t, struct mspan *s)
{
	/* Rotate s down until it has at most one child, then splice it out. */
	while (s->tleft && s->tright) {
		struct mspan *c = s->tleft->tprio < s->tright->tprio ? s->tleft
		                                                     : s->tright;
		rotate_up(t, c);
	}
	struct mspan *child = s->tleft ? s->tleft : s->tright;
	replace_child(t, s->tparent, s, child);
	s->tleft = s->tright = s->tparent = NULL;
	t->count--;
}

struct mspan *mtreap_best_fit(const struct mtreap *t, uintptr_t npages)
{
	struct mspan *best = NULL;
	for (struct mspan *n = t->root; n;) {
		if (n->npages >= npages) {
			best = n;      /* fits; a smaller fit is to the left */
			n = n->tleft;
		} else {
			n = n->tright;
		}
	}
	return best;
}

struct mspan *mtreap_max(const struct mtreap *t)
{
	struct mspan *n = t->root;
	while (n && n->tright)
		n = n->tright;
	return n;
}

static uintptr_t check_node(const struct mspan *n, const struct mspan *parent)
{
	if (!n)
		return 0;
	KS_CHECK(n->tparent == parent, "mtreap_check: span %p has parent %p, "
	         "expected %p", (void *)n, (void *)n->tparent, (void *)parent);
	KS_CHECK(n->list == MSPAN_ON_HEAP_TREAP && n->state == MSPAN_FREE,
	         "mtreap_check: span %p [%p] in the treap is not a free treap span",
	         (void *)n, (void *)n->base);
	if (n->tleft)
		KS_CHECK(less(n->tleft, n) && n->tleft->tprio >= n->tprio,
		         "mtreap_check: order or priority broken at %p", (void *)n);
	if (n->tright)
		KS_CHECK(less(n, n->tright) && n->tright->tprio >= n->tprio,
		         "mtreap_check: order or priority broken at %p", (void *)n);
	return 1 + check_node(n->tleft, n) + check_node(n->tright, n);
}

uintptr_t mtreap_check(const struct mtreap *t)
{
	uintptr_t n = check_node(t->root, NULL);
	KS_CHECK(n == t->count, "mtreap_check: %lu nodes, count says %lu",
	         (unsigned long)n, (unsigned long)t->count);
	return n;
}
