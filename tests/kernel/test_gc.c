/*
 * In-kernel self-tests of the collector (include/kspan/gc.h) on the real
 * heap with every CPU online.  The collector stops the other CPUs itself
 * and every CPU it stops marks (kernel/heap.c gives it ks_smp_call_all_self
 * as its stop_world_run hook).
 *
 *   - random object graphs (cycles, shared subgraphs) marked by 1, 2 and 4
 *     CPUs (as many as are online) against reachability by BFS over their
 *     indices (tests/common/gcgraph.h): the reachable intact, the rest
 *     reclaimed, the lazy sweep's statistics exact before and after a
 *     forced full sweep;
 *   - interior pointers, pointers hidden in noscan objects, kmalloc
 *     objects left alone, a long list (no recursion);
 *   - a mark queue so small that it overflows on every marking CPU, each
 *     starting on roots of its own;
 *   - an object a collection freed is handed out once (lazy sweep);
 *   - the GC section of the report: cycles, heap before and after, pause
 *     and mark throughput, then pause and mark rate at 1, 2 and 4 CPUs.
 */
#include "kernel/selftest.h"

#if KSPAN_GC

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "kernel/kernel.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/tsc.h"
#include "tests/common/gcgraph.h"

#define K 4
struct node {
	struct node *edge[K];
	uint64_t id;
	uint64_t check;
};

static const uint8_t node_mask[1] = { 0x0F };
static const struct kgc_type node_type = { sizeof(struct node), node_mask, "node" };

static const unsigned counts[] = { 1, 2, 4 };
#define NCOUNTS (sizeof(counts) / sizeof(counts[0]))

/* Marking CPUs for a request of want: no more than are online. */
static unsigned markers_for(unsigned want)
{
	unsigned n = ks_smp_ncpus();
	return want < n ? want : n;
}

enum { N = 4000, E = 6000, R = 6 };
static struct node *nodes[N];
static int32_t to[N * K], queue[N], root_ix[R];
static uint8_t reach[N];
static struct node *rootset[R];

KS_SELFTEST("gc: random graphs marked by 1, 2 and 4 CPUs: reachable intact, unreachable reclaimed")
{
	uint64_t rng = ks_selftest_rng(2024);
	struct ks_graph g = { N, K, to, reach, queue };
	/* nodes[] is not a root: no automatic cycle may run while it is the
	 * only thing that holds the nodes. */
	kgc_enable(false);
	kgc_root_add(rootset, sizeof(rootset));
	for (unsigned c = 0; c < NCOUNTS; c++) {
		kgc_set_markers(counts[c]);
		kgc_collect();
		kgc_sweep(0);
		for (int i = 0; i < N; i++) {
			nodes[i] = kgc_alloc(sizeof(struct node), &node_type);
			KT_ASSERT(nodes[i] != 0);
			nodes[i]->id = (uint64_t)(c * N + i);
			nodes[i]->check = ~nodes[i]->id;
		}
		ks_graph_clear(&g);
		ks_graph_random_edges(&g, E, &rng);
		for (int i = 0; i < N * K; i++)
			nodes[i / K]->edge[i % K] = to[i] >= 0 ? nodes[to[i]] : 0;
		ks_graph_random_roots(&g, root_ix, R, &rng);
		for (int r = 0; r < R; r++)
			rootset[r] = nodes[root_ix[r]];
		uint64_t live = ks_graph_reach(&g, root_ix, R);
		struct kgc_stats s0, s1;
		kgc_stats(&s0);
		kgc_collect();
		kgc_stats(&s1);
		KT_EXPECT_EQ(s1.last_markers, markers_for(counts[c]));
		for (int i = 0; i < N; i++) {
			KT_ASSERT_EQ(kgc_is_live(nodes[i]), reach[i]);
			if (!reach[i])
				continue;
			KT_ASSERT_EQ(nodes[i]->id, (uint64_t)(c * N + i));
			KT_ASSERT_EQ(nodes[i]->check, ~nodes[i]->id);
			for (int k = 0; k < K; k++)
				KT_ASSERT(nodes[i]->edge[k] ==
				          (to[i * K + k] >= 0 ? nodes[to[i * K + k]] : 0));
		}
		KT_EXPECT_EQ(s1.live_objects, live);
		KT_EXPECT_EQ(s1.freed_objects - s0.freed_objects, N - live);
		KT_EXPECT_EQ(s1.unswept_objects, N - live);   /* lazy: owed */
		/* After a full sweep the heap holds exactly the reachable. */
		KT_EXPECT_EQ(kgc_sweep(0), 0);
		kgc_stats(&s1);
		KT_EXPECT_EQ(s1.unswept_objects, 0);
		KT_EXPECT_EQ(s1.inuse_objects, live);
		for (int r = 0; r < R; r++)
			rootset[r] = 0;
	}
	kgc_root_remove(rootset);
	kgc_set_markers(0);
	kgc_enable(true);
	kgc_collect();
}

KS_SELFTEST("gc: interior pointers keep objects, noscan data does not")
{
	static char *inner;
	static void *box_root;
	kgc_enable(false);   /* locals are not roots */
	char *big = kgc_alloc(200000, 0);
	KT_ASSERT(big != 0);
	inner = big + 123456;
	void **box = kgc_alloc_noscan(64);
	struct node *hidden = kgc_alloc(sizeof(struct node), &node_type);
	box[0] = hidden;
	box_root = box;
	void **manual = kmalloc(64);
	struct node *only_from_kmalloc = kgc_alloc(sizeof(struct node), &node_type);
	manual[0] = only_from_kmalloc;
	kgc_root_add(&inner, sizeof(inner));
	kgc_root_add(&box_root, sizeof(box_root));
	kgc_collect();
	KT_EXPECT(kgc_is_live(big));
	KT_EXPECT(kgc_is_live(box));
	KT_EXPECT(!kgc_is_live(hidden));
	KT_EXPECT(!kgc_is_live(only_from_kmalloc));
	KT_EXPECT(manual[0] == only_from_kmalloc);  /* kmalloc memory untouched */
	kfree(manual);
	inner = 0;
	box_root = 0;
	kgc_collect();
	KT_EXPECT(!kgc_is_live(big));
	KT_EXPECT(!kgc_is_live(box));
	kgc_root_remove(&inner);
	kgc_root_remove(&box_root);
	kgc_enable(true);
}

KS_SELFTEST("gc: a 200000-node list is marked without recursion")
{
	static struct node *head;
	enum { LEN = 200000 };
	/* Rooted while it grows: automatic cycles run meanwhile. */
	head = 0;
	kgc_root_add(&head, sizeof(head));
	for (int i = 0; i < LEN; i++) {
		struct node *n = kgc_alloc(sizeof(struct node), &node_type);
		KT_ASSERT(n != 0);
		n->edge[0] = head;
		n->id = (uint64_t)i;
		head = n;
	}
	kgc_collect();
	struct kgc_stats s;
	kgc_stats(&s);
	KT_EXPECT_EQ(s.live_objects, LEN);
	long count = 0;
	for (struct node *n = head; n; n = n->edge[0])
		if (n->id != (uint64_t)(LEN - 1 - count++))
			KT_FAIL("list node %ld holds id %llu", count - 1,
			        (unsigned long long)n->id);
	KT_EXPECT_EQ(count, LEN);
	head = 0;
	kgc_collect();
	kgc_stats(&s);
	KT_EXPECT_EQ(s.live_objects, 0);
	kgc_root_remove(&head);
}

/* The report: collect a live heap of known size a few times. */
KS_SELFTEST("gc: report (cycles, heap before/after, pause, mark throughput)")
{
	static struct node *head;
	enum { LEN = 65536 };   /* 65536 x 48 B = 3 MiB live */
	head = 0;
	kgc_root_add(&head, sizeof(head));
	for (int i = 0; i < LEN; i++) {
		struct node *n = kgc_alloc(sizeof(struct node), &node_type);
		KT_ASSERT(n != 0);
		n->edge[0] = head;
		head = n;
		(void)kgc_alloc(64, 0);   /* garbage alongside */
	}
	struct kgc_stats s;
	uint64_t best = ~0ull;
	for (int i = 0; i < 3; i++) {
		kgc_collect();
		kgc_stats(&s);
		if (s.last_pause < best)
			best = s.last_pause;
	}
	uint64_t live_mib_x100 = s.live_bytes * 100 >> 20;
	kprintf("# gc: %llu cycles so far; last: heap %llu KiB before, %llu KiB after, "
	        "%llu objects live\n", (unsigned long long)s.cycles,
	        (unsigned long long)(s.heap_before >> 10),
	        (unsigned long long)(s.heap_after >> 10),
	        (unsigned long long)s.live_objects);
	kprintf("# gc: pause %llu kcycles for %llu.%02llu MiB live (%llu kcycles per MiB), "
	        "marked %llu KiB: %llu bytes per kcycle\n",
	        (unsigned long long)(best / 1000),
	        (unsigned long long)(live_mib_x100 / 100),
	        (unsigned long long)(live_mib_x100 % 100),
	        (unsigned long long)(live_mib_x100 ? best * 100 / live_mib_x100 / 1000 : 0),
	        (unsigned long long)(s.marked_bytes >> 10),
	        (unsigned long long)(best ? s.marked_bytes * 1000 / best : 0));
	KT_EXPECT_EQ(s.live_objects, LEN);
	head = 0;
	kgc_root_remove(&head);
	kgc_collect();
	kgc_stats(&s);
	KT_EXPECT_EQ(s.live_objects, 0);
}
/* Each marking CPU's first job is its own 4 KiB of the roots; every root
 * word there points to a little tree of its own, so each CPU fills its
 * two-range queue at once and overflows. */
enum { PER_JOB = 512, MAXCPU = 4 };
static struct node *roots[MAXCPU * PER_JOB];

static struct node *tree(int depth, uint64_t *id)
{
	struct node *t = kgc_alloc(sizeof(*t), &node_type);
	if (!t)
		return 0;
	t->id = (*id)++;
	t->check = ~t->id;
	for (int k = 0; k < K && depth > 0; k++)
		t->edge[k] = tree(depth - 1, id);
	return t;
}

KS_SELFTEST("gc: mark-queue overflow on each marking CPU")
{
	kgc_enable(false);
	kgc_root_add(roots, sizeof(roots));
	for (unsigned c = 0; c < NCOUNTS; c++) {
		unsigned k = markers_for(counts[c]);
		uint64_t id = 0;
		for (unsigned i = 0; i < MAXCPU * PER_JOB; i++) {
			roots[i] = tree(i % 9 == 0 ? 2 : 1, &id);
			KT_ASSERT(roots[i] != 0);
		}
		struct kgc_stats s0, s1;
		KT_EXPECT(ks_gc_collect_overflowing(k, &s0, &s1));
		KT_EXPECT_EQ(s1.last_overflow_markers, k);
		KT_EXPECT_EQ(s1.live_objects, id);
		for (unsigned i = 0; i < MAXCPU * PER_JOB; i++)
			KT_ASSERT(kgc_is_live(roots[i]) && roots[i]->check == ~roots[i]->id);
		for (unsigned i = 0; i < MAXCPU * PER_JOB; i++)
			roots[i] = 0;
		kgc_collect();
	}
	kgc_root_remove(roots);
	kgc_set_markers(0);
	kgc_enable(true);
}

/* The objects a collection freed are reused by the allocations after it
 * (swept on demand), never a live one, never one slot twice: every live
 * object stays intact and every new one has a slot of its own. */
enum { M = 6000 };
static struct node *keep[M], *fresh[M];

KS_SELFTEST("gc: lazy sweep hands each freed object out once")
{
	uint64_t rng = ks_selftest_rng(1617);
	kgc_enable(false);
	kgc_root_add(keep, sizeof(keep));
	kgc_root_add(fresh, sizeof(fresh));
	kgc_collect();
	kgc_sweep(0);
	unsigned nkeep = 0, dead = 0;
	for (int i = 0; i < M; i++) {
		struct node *n = kgc_alloc(sizeof(*n), &node_type);
		KT_ASSERT(n != 0);
		n->id = (uint64_t)i;
		n->check = ~n->id;
		if (ks_rand(&rng) % 2)
			keep[nkeep++] = n;
		else
			dead++;
	}
	kgc_collect();
	struct kgc_stats s;
	kgc_stats(&s);
	KT_EXPECT_EQ(s.unswept_objects, dead);
	for (int i = 0; i < M; i++) {
		fresh[i] = kgc_alloc(sizeof(struct node), &node_type);
		KT_ASSERT(fresh[i] != 0);
		fresh[i]->id = (uint64_t)(M + i);
		fresh[i]->check = ~fresh[i]->id;
	}
	for (unsigned i = 0; i < nkeep; i++)
		KT_ASSERT_EQ(keep[i]->check, ~keep[i]->id);
	for (int i = 0; i < M; i++)
		KT_ASSERT_EQ(fresh[i]->id, (uint64_t)(M + i));
	kgc_stats(&s);
	KT_EXPECT(s.unswept_objects < dead);   /* the allocations swept */
	for (unsigned i = 0; i < nkeep; i++)
		keep[i] = 0;
	for (int i = 0; i < M; i++)
		fresh[i] = 0;
	kgc_root_remove(keep);
	kgc_root_remove(fresh);
	kgc_enable(true);
	kgc_collect();
}

/* The report: one live heap (a 4-ary tree), collected three times with 1,
 * 2 and 4 marking CPUs; the shortest pause of each and its mark rate. */
static struct node *report_root;

KS_SELFTEST("gc: report (pause and mark rate at 1, 2 and 4 CPUs)")
{
	uint64_t id = 0;
	kgc_enable(false);
	kgc_root_add(&report_root, sizeof(report_root));
	report_root = tree(8, &id);   /* 87381 nodes, 4 MiB of 48-byte slots */
	KT_ASSERT(report_root != 0);
	uint64_t base_pause = 0;
	for (unsigned c = 0; c < NCOUNTS; c++) {
		unsigned k = markers_for(counts[c]);
		if (c && k == markers_for(counts[c - 1]))
			break;   /* fewer CPUs online */
		kgc_set_markers(k);
		uint64_t best = ~0ull, mark = 0;
		struct kgc_stats s;
		for (int i = 0; i < 3; i++) {
			kgc_collect();
			kgc_stats(&s);
			KT_EXPECT_EQ(s.live_objects, id);
			KT_EXPECT_EQ(s.last_markers, k);
			if (s.last_pause < best) {
				best = s.last_pause;
				mark = s.last_mark;
			}
		}
		if (!base_pause)
			base_pause = best;
		kprintf("# gc par: %u CPU(s) mark: pause %llu us (%llu kcycles, %llu.%02llux the "
		        "1-CPU pause), mark %llu bytes per kcycle\n", k,
		        (unsigned long long)ks_tsc_to_us(best), (unsigned long long)(best / 1000),
		        (unsigned long long)(base_pause * 100 / best / 100),
		        (unsigned long long)(base_pause * 100 / best % 100),
		        (unsigned long long)(mark ? s.live_bytes * 1000 / mark : 0));
	}
	report_root = 0;
	kgc_root_remove(&report_root);
	kgc_set_markers(0);
	kgc_enable(true);
	kgc_collect();
}
#endif /* KSPAN_GC */
