/*
 * Object caches (include/kspan/slab.h) in the kernel, on every CPU online
 * (4 in make run and make test-boot):
 *
 *   ctor     a cache whose constructor records the CPU it ran on: every
 *            CPU allocates its share, each object was constructed on the
 *            CPU that allocated it (a fresh cache's spans are carved by the
 *            CPU that needs them; not so in the debug heap, whose checked
 *            caches share their spans), constructors ran once per object
 *            of the spans carved; then every CPU frees the next CPU's objects
 *            (remote frees, kfree for every third), everything is drained
 *            and destroying the cache gives every page back;
 *   reuse    objects reused after frees on other CPUs keep their
 *            constructed state, no constructor runs again while no span
 *            is carved;
 *   checked  poison and red zone caches used correctly, kfree and ksize of
 *            their objects, shrink;
 *   report   a cache left with objects in use ("kt_resident") so that the
 *            boot's heap report (make run) shows a slabinfo row.
 *
 * Work runs through ks_run_on_cpus; per-CPU results live in arrays indexed
 * by CPU, read by CPU 0 after the run.
 */
#include "kernel/selftest.h"

#include <stdbool.h>

#include <kspan/kmalloc.h>
#include <kspan/slab.h>
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "kernel/kernel.h"
#include "tests/common/pattern.h"
#include "tests/kernel/hammer.h"
#include "tests/kernel/smp_run.h"

#define SLAB_OBJS 24000ull   /* in all, shared out over the CPUs */

struct kt_obj {
	uint64_t magic;
	uint32_t ctor_cpu;      /* where the constructor ran */
	uint32_t owner;
	uint64_t payload[10];
};
#define KT_MAGIC 0x6b74736c6162ull

static uint64_t ctor_runs[KSPAN_MAX_CPUS];

static void kt_ctor(void *p)
{
	struct kt_obj *o = p;
	o->magic = KT_MAGIC;
	o->ctor_cpu = ks_cpu_index();
	o->owner = ~0u;
	__atomic_fetch_add(&ctor_runs[ks_cpu_index()], 1, __ATOMIC_RELAXED);
}

struct slab_work {
	struct kmem_cache *c;
	void **objs;              /* this CPU's allocations */
	void **next;              /* the next CPU's: freed here */
	uint64_t n;
	uint32_t *gate;
	unsigned ncpu;
	uint64_t wrong_cpu, bad;  /* results */
} __attribute__((aligned(64)));

static struct slab_work work[KSPAN_MAX_CPUS];

static void slab_fn(void *arg)
{
	struct slab_work *w = arg;
	unsigned me = ks_cpu_index();
	for (uint64_t i = 0; i < w->n; i++) {
		struct kt_obj *o = w->objs[i] = kmem_cache_alloc(w->c);
		if (!o || o->magic != KT_MAGIC) {
			w->bad++;
			continue;
		}
		if (o->ctor_cpu != me)
			w->wrong_cpu++;
		o->owner = me;
		fill_pattern(o->payload, sizeof(o->payload), i * 131 + me);
		if (i % 256 == 0)
			ks_run_tick();
	}
	ks_run_barrier(&w->gate[0], w->ncpu);
	unsigned from = (me + 1) % w->ncpu;
	for (uint64_t i = 0; i < w->n; i++) {
		struct kt_obj *o = w->next[i];
		if (!o)
			continue;
		if (o->owner != from || o->magic != KT_MAGIC ||
		    !check_pattern(o->payload, sizeof(o->payload), i * 131 + from))
			w->bad++;
		o->owner = ~0u;       /* back in its constructed state */
		if (i % 3 == 0)
			kfree(o);
		else
			kmem_cache_free(w->c, o);
		if (i % 256 == 0)
			ks_run_tick();
	}
	ks_run_barrier(&w->gate[1], w->ncpu);
}

static int slab_round(struct ks_test *kt, struct kmem_cache *c, unsigned n,
                      void ***objs, uint64_t each)
{
	static uint32_t gate[2];
	gate[0] = gate[1] = 0;
	for (unsigned i = 0; i < n; i++)
		work[i] = (struct slab_work){ c, objs[i], objs[(i + 1) % n], each, gate, n, 0, 0 };
	int r = ks_run_on_cpus(n, slab_fn, work, sizeof(work[0]), KT_RUN_TIMEOUT_US);
	KT_EXPECT_EQ(r, 0);
	return r;
}

KS_SELFTEST("slab smp: a constructor runs on the CPU that carves, once per object; CPUs free each other's objects; destroy gives every page back")
{
	unsigned n = ks_smp_ncpus();
	uint64_t each = kt_share(SLAB_OBJS, n, 100);
	void **objs[KSPAN_MAX_CPUS];
	for (unsigned i = 0; i < n; i++)
		KT_ASSERT((objs[i] = kmalloc_array(each, sizeof(void *))) != NULL);
	uint64_t before = kt_drained_free_pages();
	for (unsigned i = 0; i < n; i++)
		ctor_runs[i] = 0;
	struct kmem_cache *c = kmem_cache_create("kt_task", sizeof(struct kt_obj), 0,
	                                         KSPAN_SLAB_HWCACHE_ALIGN, kt_ctor);
	KT_ASSERT(c != NULL);

	/* A checked cache (the debug heap checks every cache) has no per-CPU
	 * spans: any CPU may carve the span another allocates from. */
	struct kspan_slab_stats s0;
	kmem_cache_stats(c, &s0);
	bool percpu = !(s0.flags & (KSPAN_SLAB_POISON | KSPAN_SLAB_RED_ZONE));
	if (slab_round(kt, c, n, objs, each) == 0) {
		uint64_t runs = 0;
		for (unsigned i = 0; i < n; i++) {
			kprintf("# cpu %u: %lu constructors run, %lu objects constructed "
			          "elsewhere, %lu bad\n", i, (unsigned long)ctor_runs[i],
			          (unsigned long)work[i].wrong_cpu, (unsigned long)work[i].bad);
			if (percpu) {
				KT_EXPECT_EQ(work[i].wrong_cpu, 0);
				KT_EXPECT(ctor_runs[i] >= each);
			}
			KT_EXPECT_EQ(work[i].bad, 0);
			runs += ctor_runs[i];
		}
		/* Frees of other CPUs' objects land when they drain. */
		(void)kt_drained_free_pages();
		struct kspan_slab_stats s;
		kmem_cache_stats(c, &s);
		KT_EXPECT_EQ(s.active_objs, 0);
		KT_EXPECT_EQ(runs % s.objs_per_span, 0);
		KT_EXPECT(runs >= n * each);
		KT_EXPECT_EQ(s.elemsize % 64, 0);
		/* Second round: reused objects keep their constructed state
		 * (magic, owner reset by the freeing CPU); constructors run only
		 * for spans carved anew. */
		if (slab_round(kt, c, n, objs, each) == 0)
			for (unsigned i = 0; i < n; i++)
				KT_EXPECT_EQ(work[i].bad, 0);
	}
	(void)kt_drained_free_pages();
	kmem_cache_destroy(c);
	KT_EXPECT_EQ(kt_drained_free_pages(), before);
	for (unsigned i = 0; i < n; i++)
		kfree(objs[i]);
}

KS_SELFTEST("slab: poison and red-zone caches, kfree and ksize of cache objects, shrink, the kmalloc family")
{
	uint64_t before = kt_drained_free_pages();
	struct kmem_cache *c = kmem_cache_create("kt_checked", 120, 0,
	                                         KSPAN_SLAB_POISON | KSPAN_SLAB_RED_ZONE, NULL);
	struct kmem_cache *f = kmem_cache_create("kt_fast", 120, 0, 0, NULL);
	KT_ASSERT(c != NULL && f != NULL);
	static void *p[2000], *q[2000];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 2000; i++) {
			KT_ASSERT((p[i] = kmem_cache_zalloc(c)) != NULL);
			KT_ASSERT((q[i] = kmem_cache_alloc(f)) != NULL);
			KT_EXPECT_EQ(((unsigned char *)p[i])[119], 0);
			fill_pattern(p[i], 120, (uint64_t)i);
			fill_pattern(q[i], 120, (uint64_t)i + 1);
		}
		KT_EXPECT_EQ(ksize(p[0]), 120);
		KT_EXPECT(ksize(q[0]) >= 120);
		for (int i = 0; i < 2000; i++) {
			KT_EXPECT(check_pattern(p[i], 120, (uint64_t)i));
			KT_EXPECT(check_pattern(q[i], 120, (uint64_t)i + 1));
			if (i % 2)
				kfree(p[i]);
			else
				kmem_cache_free(c, p[i]);
			kfree(q[i]);
		}
	}
	KT_EXPECT(kmem_cache_shrink(f) > 0);
	KT_EXPECT(kmem_cache_shrink(c) > 0);
	kmem_cache_destroy(c);
	kmem_cache_destroy(f);
	char *s = kstrdup("kspan");
	KT_ASSERT(s != NULL);
	KT_EXPECT_EQ(s[5], 0);
	KT_EXPECT(kmalloc_array(~(size_t)0 / 2, 4) == NULL);
	kfree(s);
	KT_EXPECT_EQ(kt_drained_free_pages(), before);
}

KS_SELFTEST("slab: a resident cache for the heap report's slabinfo table")
{
	/* Left in use on purpose: the boot's heap report (make run) prints
	 * it in its slabinfo table. */
	struct kmem_cache *c = kmem_cache_create("kt_resident", 200, 0, 0, NULL);
	KT_ASSERT(c != NULL);
	for (int i = 0; i < 100; i++)
		KT_ASSERT(kmem_cache_alloc(c) != NULL);
	struct kspan_slab_stats s;
	kmem_cache_stats(c, &s);
	KT_EXPECT_EQ(s.active_objs, 100);
	KT_EXPECT_EQ(s.objsize, 200);
}
