/*
 * In-kernel self-tests of the collector (include/kspan/gc.h) on the real
 * heap with every CPU online: random object graphs with known reachability
 * (cycles and shared subgraphs), interior pointers, pointers hidden in
 * noscan objects, a long list, and kmalloc objects left alone.  The
 * collector stops the other CPUs itself (kernel/heap.c gives it the hooks).
 * The last test prints the GC section of the report: cycles, heap before
 * and after, pause per cycle and mark throughput.
 */
#include "kernel/selftest.h"

#if KSPAN_GC

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "kernel/kernel.h"
#include "arch/x86_64/cpu.h"
#include "tests/common/pattern.h"

#define K 4
struct node {
	struct node *edge[K];
	uint64_t id;
	uint64_t check;
};

static const uint8_t node_mask[1] = { 0x0F };
static const struct kgc_type node_type = { sizeof(struct node), node_mask, "node" };

enum { N = 4000, E = 6000, R = 6 };
static struct node *nodes[N];
static int16_t adj[N][K];
static uint8_t reach[N];
static int queue[N];
static struct node *rootset[R];

KS_SELFTEST("gc: random graphs: reachable intact, unreachable reclaimed")
{
	uint64_t rng = ks_selftest_rng(2024);
	/* nodes[] is not a root: no automatic cycle may run while it is the
	 * only thing that holds the nodes. */
	kgc_enable(false);
	for (int round = 0; round < 3; round++) {
		struct kgc_stats s0, s1;
		kgc_collect();
		kgc_stats(&s0);
		for (int i = 0; i < N; i++) {
			nodes[i] = kgc_alloc(sizeof(struct node), &node_type);
			KT_ASSERT(nodes[i] != 0);
			nodes[i]->id = (uint64_t)(round * N + i);
			nodes[i]->check = ~nodes[i]->id;
			for (int k = 0; k < K; k++)
				adj[i][k] = -1;
		}
		for (int e = 0; e < E; e++) {
			int a = (int)(ks_rand(&rng) % N), b = (int)(ks_rand(&rng) % N);
			int k = (int)(ks_rand(&rng) % K);
			adj[a][k] = (int16_t)b;
			nodes[a]->edge[k] = nodes[b];
		}
		int qh = 0, qt = 0;
		for (int i = 0; i < N; i++)
			reach[i] = 0;
		for (int r = 0; r < R; r++) {
			int j = (int)(ks_rand(&rng) % N);
			rootset[r] = nodes[j];
			if (!reach[j]) {
				reach[j] = 1;
				queue[qt++] = j;
			}
		}
		while (qh < qt) {
			int i = queue[qh++];
			for (int k = 0; k < K; k++) {
				int j = adj[i][k];
				if (j >= 0 && !reach[j]) {
					reach[j] = 1;
					queue[qt++] = j;
				}
			}
		}
		kgc_root_add(rootset, sizeof(rootset));
		kgc_collect();
		kgc_stats(&s1);
		for (int i = 0; i < N; i++) {
			KT_ASSERT_EQ(kgc_is_live(nodes[i]), reach[i]);
			if (!reach[i])
				continue;
			KT_ASSERT_EQ(nodes[i]->id, (uint64_t)(round * N + i));
			KT_ASSERT_EQ(nodes[i]->check, ~nodes[i]->id);
			for (int k = 0; k < K; k++)
				KT_ASSERT(nodes[i]->edge[k] ==
				          (adj[i][k] >= 0 ? nodes[adj[i][k]] : 0));
		}
		KT_EXPECT_EQ(s1.live_objects, (uint64_t)qt);
		KT_EXPECT_EQ(s1.freed_objects - s0.freed_objects, (uint64_t)(N - qt));
		kgc_root_remove(rootset);
	}
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
#endif /* KSPAN_GC */
