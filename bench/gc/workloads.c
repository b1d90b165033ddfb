/*
 * The collector benchmark's workloads (bench/gc/README.md), each written
 * once against the adapter in gcb.h.  Each computes a checksum from what it
 * built and what it found intact; the checksum depends only on the seed
 * and the scale, never on addresses, so every backend must print the same.
 *
 * Rule for every workload (kspan scans no stack): a collected pointer is
 * stored in a reachable object, a named root or the shadow stack before the
 * next allocation.
 */
#include <stdio.h>
#include <string.h>

#include "gcb.h"

#define GOLDEN 0x9E3779B97F4A7C15ull

/* ==== 1. GCBench ===================================================== */
/*
 * The classic collector benchmark of Ellis, Kovac and Boehm, written here
 * from its description: after a throw-away "stretch" tree of depth 18, a
 * long-lived tree of depth 16 and an array of 500,000 doubles stay live
 * while, for every even depth d from 4 to 16, short-lived complete binary
 * trees of depth d are built NumIters(d) times top-down (a node first, then
 * its children filled in) and NumIters(d) times bottom-up (children first,
 * then the node that joins them), where NumIters(d) = 2 * TreeSize(18) /
 * TreeSize(d) and TreeSize(d) = 2^(d+1) - 1 nodes, so every depth allocates
 * about the same number of nodes.  At the end the long-lived tree and the
 * array must still be intact.  A node is two pointers and two 32-bit ints.
 *
 * Additions for this harness: the iteration counts are multiplied by the
 * scale (at least 1); every node records its depth and a sequence number;
 * one short-lived tree in 16 (every one with -V) and the last of each kind
 * and depth are walked and checked before they are dropped, and those
 * walks, the long-lived tree and the array go into the checksum.
 */
enum {
	GB_STRETCH_DEPTH = 18,
	GB_LONG_DEPTH = 16,
	GB_ARRAY_SIZE = 500000,
	GB_MIN_DEPTH = 4,
	GB_MAX_DEPTH = 16,
};

struct gnode {
	struct gnode *left, *right;
	int32_t depth, seq;
};

static struct gcb_type gnode_t = { sizeof(struct gnode), 0x3, "gcbench.node", 0 };
static uint64_t gb_seq, gb_objects;

static struct gnode *gb_node(int depth)
{
	struct gnode *n = gcb_alloc(sizeof(struct gnode), &gnode_t);
	n->depth = depth;
	n->seq = (int32_t)(gb_seq++ & 0x7fffffff);
	gb_objects++;
	return n;
}

static uint64_t tree_size(int d)
{
	return ((uint64_t)1 << (d + 1)) - 1;
}

/* Top-down: n is reachable; give it children down to depth 0. */
static void gb_populate(int d, struct gnode *n)
{
	if (d <= 0)
		return;
	n->left = gb_node(d - 1);    /* stored before the next allocation */
	n->right = gb_node(d - 1);
	gb_populate(d - 1, n->left);
	gb_populate(d - 1, n->right);
}

/* Bottom-up: both subtrees first (held on the shadow stack), then the
 * node. */
static struct gnode *gb_make(int d)
{
	if (d <= 0)
		return gb_node(0);
	gcb_push(gb_make(d - 1));
	gcb_push(gb_make(d - 1));
	struct gnode *n = gb_node(d);
	n->right = gcb_pop();
	n->left = gcb_pop();
	return n;
}

/* -V: every object a check reaches must still be allocated. */
static void check_live(const void *p, const char *what)
{
	if (gcb_opts.verify_all && !gcb_is_live(p))
		gcb_fail("%s: a reachable object was freed", what);
}

static uint64_t gb_check(const struct gnode *n, int d)
{
	if (!n || n->depth != d)
		gcb_fail("gcbench: tree damaged (depth %d)", d);
	check_live(n, "gcbench");
	if (d == 0) {
		if (n->left || n->right)
			gcb_fail("gcbench: leaf with children");
		return (uint64_t)(uint32_t)n->seq;
	}
	uint64_t h = gcb_mix((uint64_t)(uint32_t)n->seq, (uint64_t)d);
	h = gcb_mix(h, gb_check(n->left, d - 1));
	return gcb_mix(h, gb_check(n->right, d - 1));
}

static void run_gcbench(struct gcb_result *r)
{
	void **slot = &gcb_roots.named[0];   /* the short-lived tree */
	uint64_t h = 0;
	gcb_type_init(&gnode_t);
	gb_seq = gb_objects = 0;

	/* Stretch the heap with a tree that dies at once. */
	*slot = gb_make(GB_STRETCH_DEPTH);
	*slot = 0;

	/* The long-lived data. */
	struct gnode *longlived = gb_node(GB_LONG_DEPTH);
	gcb_roots.named[1] = longlived;
	gb_populate(GB_LONG_DEPTH, longlived);
	double *array = gcb_alloc_noscan(GB_ARRAY_SIZE * sizeof(double));
	gcb_roots.named[2] = array;
	for (int i = 0; i < GB_ARRAY_SIZE / 2; i++)
		array[i] = 1.0 / (i + 1);
	for (int i = GB_ARRAY_SIZE / 2; i < GB_ARRAY_SIZE; i++)
		array[i] = (double)i;

	for (int d = GB_MIN_DEPTH; d <= GB_MAX_DEPTH; d += 2) {
		uint64_t iters = 2 * tree_size(GB_STRETCH_DEPTH) / tree_size(d);
		iters = (uint64_t)(iters * gcb_opts.scale);
		if (iters < 1)
			iters = 1;
		for (uint64_t i = 0; i < iters; i++) {
			struct gnode *t = gb_node(d);
			*slot = t;
			gb_populate(d, t);
			if (gcb_opts.verify_all || i % 16 == 0 || i == iters - 1)
				h = gcb_mix(h, gb_check(t, d));
			*slot = 0;
		}
		for (uint64_t i = 0; i < iters; i++) {
			struct gnode *t = gb_make(d);
			*slot = t;
			if (gcb_opts.verify_all || i % 16 == 0 || i == iters - 1)
				h = gcb_mix(h, gb_check(t, d));
			*slot = 0;
		}
	}
	gcb_timed_end();
	gcb_final_check(tree_size(GB_LONG_DEPTH) + 1);

	h = gcb_mix(h, gb_check(longlived, GB_LONG_DEPTH));
	if (array[1000] != 1.0 / 1001)
		gcb_fail("gcbench: the long-lived array was damaged");
	for (int i = 0; i < GB_ARRAY_SIZE; i += 997) {
		uint64_t bits;
		memcpy(&bits, &array[i], sizeof bits);
		h = gcb_mix(h, bits);
	}
	r->checksum = gcb_mix(h, gb_seq);
	r->live_bytes = tree_size(GB_LONG_DEPTH) * sizeof(struct gnode) +
	                GB_ARRAY_SIZE * sizeof(double);
	r->live_objects = tree_size(GB_LONG_DEPTH) + 1;
	r->objects = gb_objects + 1;
	r->allocated_bytes = gb_objects * sizeof(struct gnode) + GB_ARRAY_SIZE * sizeof(double);
	gcb_roots.named[1] = gcb_roots.named[2] = 0;
}

/* ==== 2. Garbage-heavy =============================================== */
/*
 * 2 GiB (times the scale) of objects of 16..128 bytes (uniform, in steps
 * of 8), each a pointer word, a header word and payload words.  A ring of
 * 8 MiB of such objects stays live (filled first).  Then objects are made
 * in batches of 1024 held on the shadow stack; when a batch is done, one
 * object in 16 (at random) replaces a random ring entry and the whole rest
 * of the batch dies at once.  Every object is checked (header and payload)
 * before it is dropped, and the ring is checked at the end.
 */
#define GA_TOTAL      ((double)(2ull << 30))
#define GA_RING_BYTES (8u << 20)
#define GA_BATCH      1024
#define GA_KEEP       16
#define GA_HMASK      0xA5C3000000000000ull
#define GA_AVG        72                 /* mean object size */
#define GA_RING       (GA_RING_BYTES / GA_AVG)

struct gobj {
	struct gobj *ptr;   /* the pointer word (kept NULL: no chains) */
	uint64_t hdr;       /* (seq << 8 | size) ^ GA_HMASK */
	uint64_t w[];
};

static struct gcb_type gobj_t[15];
static struct gcb_type ptrs_t = { sizeof(void *), 0x1, "pointer-array", 0 };

static struct gobj *ga_new(uint64_t seq, size_t size)
{
	struct gobj *o = gcb_alloc(size, &gobj_t[(size - 16) / 8]);
	o->hdr = (seq << 8 | size) ^ GA_HMASK;
	for (size_t k = 0; k < size / 8 - 2; k++)
		o->w[k] = seq * GOLDEN + k;
	return o;
}

static uint64_t ga_check(const struct gobj *o)
{
	if (!o)
		gcb_fail("garbage: ring entry missing");
	check_live(o, "garbage");
	uint64_t hdr = o->hdr ^ GA_HMASK;
	uint64_t seq = hdr >> 8;
	size_t size = hdr & 0xff;
	if (size < 16 || size > 128 || size % 8 || o->ptr)
		gcb_fail("garbage: object header damaged");
	for (size_t k = 0; k < size / 8 - 2; k++)
		if (o->w[k] != seq * GOLDEN + k)
			gcb_fail("garbage: object %llu damaged", (unsigned long long)seq);
	return hdr;
}

static void run_garbage(struct gcb_result *r)
{
	uint64_t rng = gcb_opts.seed ^ 0x67617262616765ull, seq = 0, h = 0;
	uint64_t total = (uint64_t)(GA_TOTAL * gcb_opts.scale), allocated = 0;
	uint64_t ring_bytes = 0, replaced = 0;
	for (int k = 0; k < 15; k++) {
		gobj_t[k].size = 16 + 8 * (size_t)k;
		gobj_t[k].ptrmask = 0x1;
		gobj_t[k].name = "garbage.obj";
		gcb_type_init(&gobj_t[k]);
	}
	gcb_type_init(&ptrs_t);

	struct gobj **ring = gcb_alloc(GA_RING * sizeof(void *), &ptrs_t);
	gcb_roots.named[0] = ring;
	for (uint64_t i = 0; i < GA_RING; i++) {
		size_t size = 16 + 8 * (gcb_rand(&rng) % 15);
		ring[i] = ga_new(seq++, size);
		ring_bytes += size;
		allocated += size;
	}
	while (allocated < total) {
		unsigned base = gcb_sp;
		for (unsigned b = 0; b < GA_BATCH; b++) {
			size_t size = 16 + 8 * (gcb_rand(&rng) % 15);
			gcb_push(ga_new(seq++, size));
			allocated += size;
		}
		for (unsigned b = 0; b < GA_BATCH; b++) {
			struct gobj *o = gcb_roots.stack[base + b];
			uint64_t hdr = ga_check(o);
			if (gcb_rand(&rng) % GA_KEEP == 0) {
				uint64_t i = gcb_rand(&rng) % GA_RING;
				uint64_t old = ga_check(ring[i]);
				h = gcb_mix(h, old);
				ring_bytes -= old & 0xff;
				ring_bytes += hdr & 0xff;
				ring[i] = o;
				replaced++;
			}
		}
		while (gcb_sp > base)
			(void)gcb_pop();   /* the rest of the batch dies at once */
	}
	gcb_timed_end();
	gcb_final_check(GA_RING + 1);

	for (uint64_t i = 0; i < GA_RING; i++)
		h = gcb_mix(h, ga_check(ring[i]));
	r->checksum = gcb_mix(gcb_mix(h, replaced), seq);
	r->live_bytes = ring_bytes + GA_RING * sizeof(void *);
	r->live_objects = GA_RING + 1;
	r->objects = seq + 1;
	r->allocated_bytes = allocated + GA_RING * sizeof(void *);
	gcb_roots.named[0] = 0;
}

/* ==== 3. Large live heaps ============================================ */
/*
 * A balanced binary search tree or a singly linked list of N nodes of 24
 * bytes (32-byte slots in both collectors), N = bytes / 32, built with
 * automatic collection off; then gcb_opts.forced full collections with all
 * of it live.  The pauses of those collections are the figures that
 * matter here.
 */
struct tnode {
	struct tnode *left, *right;
	uint64_t key;
};
static struct gcb_type tnode_t = { sizeof(struct tnode), 0x3, "tree.node", 0 };

/* Node for keys [lo, hi): created into *slot (reachable), then its
 * children. */
static void tree_build(struct tnode **slot, uint64_t lo, uint64_t hi)
{
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct tnode *n = gcb_alloc(sizeof(struct tnode), &tnode_t);
		*slot = n;
		n->key = mid;
		tree_build(&n->left, lo, mid);
		slot = &n->right;   /* the right subtree: loop instead of recursing */
		lo = mid + 1;
	}
}

static uint64_t tree_check(const struct tnode *n, uint64_t lo, uint64_t hi, uint64_t *count)
{
	uint64_t h = 0;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (!n || n->key != mid)
			gcb_fail("tree: node for key %llu damaged", (unsigned long long)mid);
		check_live(n, "tree");
		h = gcb_mix(h, mid * GOLDEN);
		h = gcb_mix(h, tree_check(n->left, lo, mid, count));
		(*count)++;
		n = n->right;
		lo = mid + 1;
	}
	if (n)
		gcb_fail("tree: unexpected node");
	return h;
}

static void run_tree(struct gcb_result *r, double bytes)
{
	uint64_t n = (uint64_t)(bytes * gcb_opts.scale) / 32, count = 0;
	if (n < 1)
		n = 1;
	gcb_type_init(&tnode_t);
	gcb_auto(false);
	tree_build((struct tnode **)&gcb_roots.named[0], 0, n);
	gcb_auto(true);
	for (unsigned k = 0; k < gcb_opts.forced; k++)
		gcb_collect();
	gcb_timed_end();
	gcb_final_check(n);

	uint64_t h = tree_check(gcb_roots.named[0], 0, n, &count);
	if (count != n)
		gcb_fail("tree: %llu nodes, expected %llu", (unsigned long long)count,
		         (unsigned long long)n);
	r->checksum = gcb_mix(h, n);
	r->live_bytes = n * sizeof(struct tnode);
	r->live_objects = n;
	r->objects = n;
	r->allocated_bytes = n * sizeof(struct tnode);
	gcb_roots.named[0] = 0;
}

static void run_tree64(struct gcb_result *r)
{
	run_tree(r, (double)(64u << 20));
}

static void run_tree256(struct gcb_result *r)
{
	run_tree(r, (double)(256u << 20));
}

struct lnode {
	struct lnode *next;
	uint64_t key, val;
};
static struct gcb_type lnode_t = { sizeof(struct lnode), 0x1, "list.node", 0 };

static void run_list256(struct gcb_result *r)
{
	uint64_t n = (uint64_t)((double)(256u << 20) * gcb_opts.scale) / 32;
	if (n < 1)
		n = 1;
	gcb_type_init(&lnode_t);
	gcb_auto(false);
	struct lnode *tail = gcb_alloc(sizeof(struct lnode), &lnode_t);
	gcb_roots.named[0] = tail;
	tail->key = 0;
	tail->val = 0;
	for (uint64_t i = 1; i < n; i++) {
		struct lnode *x = gcb_alloc(sizeof(struct lnode), &lnode_t);
		x->key = i;
		x->val = i * GOLDEN;
		tail->next = x;
		tail = x;
	}
	gcb_auto(true);
	for (unsigned k = 0; k < gcb_opts.forced; k++)
		gcb_collect();
	gcb_timed_end();
	gcb_final_check(n);

	uint64_t h = 0, i = 0;
	for (const struct lnode *x = gcb_roots.named[0]; x; x = x->next, i++) {
		if (x->key != i || x->val != i * GOLDEN)
			gcb_fail("list: node %llu damaged", (unsigned long long)i);
		check_live(x, "list");
		h = gcb_mix(h, x->val);
	}
	if (i != n)
		gcb_fail("list: %llu nodes, expected %llu", (unsigned long long)i,
		         (unsigned long long)n);
	r->checksum = gcb_mix(h, n);
	r->live_bytes = n * sizeof(struct lnode);
	r->live_objects = n;
	r->objects = n;
	r->allocated_bytes = n * sizeof(struct lnode);
	gcb_roots.named[0] = 0;
}

const struct gcb_workload gcb_workloads[] = {
	{ "gcbench", run_gcbench, false },
	{ "garbage", run_garbage, false },
	{ "tree64", run_tree64, true },
	{ "tree256", run_tree256, true },
	{ "list256", run_list256, true },
	{ 0, 0, false },
};
