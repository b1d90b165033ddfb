/*
 * Object graphs over indices for the collector's tests, shared by the host
 * suites (tests/host/test_gc.c, test_gc_par.c) and the in-kernel
 * self-tests (tests/kernel/test_gc.c): a test allocates one collected
 * object per vertex and writes a pointer for each edge; this file keeps
 * the edges as indices, draws random edges and roots, and computes the
 * reference answer, reachability by BFS, without looking at the heap.
 * It also runs the one collection the mark-queue overflow tests share.
 * Freestanding (no libc), so the kernel can use it.
 *
 * Invariants: edge slot j of vertex i is to[i * k + j], -1 when empty;
 * after ks_graph_reach, reach[i] is 1 exactly for the vertices reachable
 * from the roots, and queue[0 .. the count it returned) lists each of them
 * once, in BFS order.
 */
#ifndef KSPAN_TESTS_COMMON_GCGRAPH_H
#define KSPAN_TESTS_COMMON_GCGRAPH_H

#include <stdint.h>
#include <kspan/gc.h>
#include "tests/common/pattern.h"

struct ks_graph {
	unsigned n;        /* vertices */
	unsigned k;        /* edge slots per vertex */
	int32_t *to;       /* n * k targets, -1 for none */
	uint8_t *reach;    /* n: reachable from the roots */
	int32_t *queue;    /* n: the BFS queue */
};

/* Every edge slot empty. */
static inline void ks_graph_clear(struct ks_graph *g)
{
	for (unsigned i = 0; i < g->n * g->k; i++)
		g->to[i] = -1;
}

/* edges random edges: slot (random) of vertex (random) points to a random
 * vertex; a later edge may replace an earlier one, and cycles and shared
 * subgraphs arise freely. */
static inline void ks_graph_random_edges(struct ks_graph *g, unsigned edges, uint64_t *rng)
{
	for (unsigned e = 0; e < edges; e++) {
		unsigned a = (unsigned)(ks_rand(rng) % g->n);
		unsigned j = (unsigned)(ks_rand(rng) % g->k);
		g->to[a * g->k + j] = (int32_t)(ks_rand(rng) % g->n);
	}
}

/* nroots random vertices (repeats allowed) in roots[]. */
static inline void ks_graph_random_roots(const struct ks_graph *g, int32_t *roots,
                                         unsigned nroots, uint64_t *rng)
{
	for (unsigned r = 0; r < nroots; r++)
		roots[r] = (int32_t)(ks_rand(rng) % g->n);
}

/* The reference reachability from roots[0 .. nroots): reach[] and the
 * number of reachable vertices. */
static inline unsigned ks_graph_reach(struct ks_graph *g, const int32_t *roots, unsigned nroots)
{
	unsigned qh = 0, qt = 0;
	for (unsigned i = 0; i < g->n; i++)
		g->reach[i] = 0;
	for (unsigned r = 0; r < nroots; r++)
		if (!g->reach[roots[r]]) {
			g->reach[roots[r]] = 1;
			g->queue[qt++] = roots[r];
		}
	while (qh < qt) {
		const int32_t *out = g->to + (unsigned)g->queue[qh++] * g->k;
		for (unsigned j = 0; j < g->k; j++)
			if (out[j] >= 0 && !g->reach[out[j]]) {
				g->reach[out[j]] = 1;
				g->queue[qt++] = out[j];   /* each vertex once: qt <= n */
			}
	}
	return qt;
}

/* One collection by markers markers with a mark queue of two ranges
 * (kgc_set_mark_queue), the statistics before and after it in *s0 and
 * *s1.  True if the queue overflowed on every one of the markers. */
static inline int ks_gc_collect_overflowing(unsigned markers, struct kgc_stats *s0,
                                            struct kgc_stats *s1)
{
	kgc_set_markers(markers);
	kgc_set_mark_queue(2);
	kgc_stats(s0);
	kgc_collect();
	kgc_set_mark_queue(0);
	kgc_stats(s1);
	return s1->mark_overflows > s0->mark_overflows && s1->last_markers == markers &&
	       s1->last_overflow_markers == markers;
}

#endif
