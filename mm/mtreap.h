/*
 * mtreap: the page heap's index of large free spans (Go 1.10's freelarge),
 * a treap ordered by (npages, base) with random priorities, so that
 * best-fit lookup, insertion and removal take O(log n) expected time.
 * Nodes are the free spans themselves (tleft/tright/tparent/tprio in
 * struct mspan): no allocation.  Heap lock held by every caller.
 */
#ifndef KSPAN_MM_MTREAP_H
#define KSPAN_MM_MTREAP_H

#include "mm/mspan.h"

struct mtreap {
	struct mspan *root;
	uint64_t seed;      /* priority generator state */
	uintptr_t count;
};

void mtreap_insert(struct mtreap *t, struct mspan *s);
void mtreap_remove(struct mtreap *t, struct mspan *s);
/* The smallest span with at least npages pages (lowest base among equals),
 * or NULL. */
struct mspan *mtreap_best_fit(const struct mtreap *t, uintptr_t npages);
/* The largest span, or NULL. */
struct mspan *mtreap_max(const struct mtreap *t);
/* Check the order and heap properties and parent links; returns the number
 * of nodes.  Stops with a message if broken. */
uintptr_t mtreap_check(const struct mtreap *t);

#endif
