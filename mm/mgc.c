/*
 * The optional mark-sweep collector (include/kspan/gc.h): allocation of
 * collected objects, roots, the trigger, and the cycle.
 *
 * See mm/malloc.c for the heap; the collector is Go's, simplified to stop
 * the world for the whole cycle:
 *
 *   Objects.  kgc_alloc objects live in spans of their own, marked gc: the
 *   per-CPU caches keep them in gcalloc[] (owner = CPU + KS_OWNER_GC, so
 *   kfree's fast path never matches), the central lists in ks_gccentral[];
 *   large ones are spans on the gclarge list.  Span class scan/noscan says
 *   whether the collector looks inside.  For scan objects, allocation
 *   writes the heap bitmap (Go 1.10's 2 bits per word) from the type's
 *   pointer map.  Every collected object is zeroed, so stale words never
 *   keep garbage alive.
 *
 *   The cycle (kgc_collect).
 *     1. Stop the world (the platform's hook), so no CPU is inside the
 *        allocator; give back every CPU's cached collector spans and tiny
 *        block, so each span's free bits say exactly which objects exist.
 *     2. Mark from the roots (mm/mgcmark.c): per-span mark bits.
 *     3. Sweep: in every collector span, allocated objects without a mark
 *        bit become free (Go's "mark bits become the alloc bits", done with
 *        a few word operations per 64 objects); empty spans go back to the
 *        heap; unmarked large objects go back to the heap.
 *     4. Set the next trigger, restart the world.
 *
 *   Trigger.  Like GOGC: when the collected heap has grown by gc_percent
 *   since the last cycle's live bytes (at least min_trigger), the next
 *   kgc_alloc collects first.
 *
 * Locks: gc_lock protects roots, the large-object list and the counters;
 * the collecting flag lets one CPU run a cycle at a time (a CPU that finds
 * one running returns at once: waiting with interrupts off would deadlock
 * against stop-the-world).  Neither is held while allocating pages.
 * kmalloc objects are never touched.
 */
#include "lib/config.h"
#if KSPAN_GC
#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "mm/arena.h"
#include "lib/check.h"
#include "mm/mbitmap.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/meta.h"
#include "mm/mgc.h"
#include "mm/mheap.h"

#define MAX_ROOTS 256
#define DEFAULT_MIN_TRIGGER ((uint64_t)4 << 20)

static struct ks_spinlock gc_lock = KS_SPINLOCK_INIT("gc", KS_RANK_GC);
/* 1 while a CPU runs a cycle.  Not a spinlock: a CPU that finds a cycle
 * running must not wait for it with interrupts off (it would never answer
 * the collector's stop-the-world), so it simply returns. */
static int collecting;
static struct kgc_config config;
static bool gc_ready, gc_enabled;

static struct fixalloc gcclass_pool;   /* struct mcache_gc, one per CPU */
static struct gc_root roots[MAX_ROOTS];
static unsigned nroots;
static struct mspan *gclarge;          /* collector large spans */

static uint64_t heap_live;             /* bytes live after the last cycle */
static uint64_t allocated_since;       /* bytes allocated since then */
static uint64_t next_trigger;
static struct kgc_stats stats;

void ks_gc_for_each_lock(void (*fn)(struct ks_spinlock *))
{
	fn(&gc_lock);
}

int kgc_init(const struct kgc_config *cfg)
{
	KS_CHECK(!gc_ready, "kgc_init: called twice");
	config = *cfg;
	KS_CHECK(meta_pool_init(&gcclass_pool, sizeof(struct mcache_gc), KSPAN_MAX_CPUS) == 0,
	         "kgc_init: no address space for the per-CPU collector caches");
	if (!config.min_trigger)
		config.min_trigger = DEFAULT_MIN_TRIGGER;
	next_trigger = config.min_trigger;
	gc_enabled = true;
	gc_ready = true;
	return 0;
}

void kgc_enable(bool on)
{
	__atomic_store_n(&gc_enabled, on, __ATOMIC_RELAXED);
}

/* ---- allocation -------------------------------------------------------- */


/* CPU c's collector classes, set up on first use; NULL without memory. */
static struct mcache_gc *gc_classes(struct mcache *c)
{
	struct mcache_gc *g = c->gc;
	if (ks_likely(g))
		return g;
	g = meta_alloc(&gcclass_pool);
	if (!g)
		return NULL;
	for (unsigned sc = 2; sc < KS_NUM_SPAN_CLASSES; sc++)
		mcache_class_init(&g->cls[sc], &ks_gccentral[sc], c->cpu + KS_OWNER_GC);
	c->gc = g;
	return g;
}

/* An object of collector span class sc from this CPU's cache.  Interrupts
 * off. */
static void *gc_small(spanclass_t sc)
{
	struct mcache *c = mcache_get((int)ks_plat_cpu_id());
	struct mcache_gc *g = c ? gc_classes(c) : NULL;
	if (!g)
		return NULL;
	void *p = mcache_take(&g->cls[sc]);
	return p ? p : mcache_alloc_slow(c, &g->cls[sc]);
}

/* Go's tiny allocator: size < 16 bytes, no pointers, packed into 16-byte
 * noscan collector blocks (never freed explicitly).  Interrupts off. */
static void *tiny_alloc(size_t size)
{
	struct mcache *c = mcache_get((int)ks_plat_cpu_id());
	struct mcache_gc *g = c ? gc_classes(c) : NULL;
	if (!g)
		return NULL;
	/* Align as the size needs (Go: 8, 4 or 2 by the low bits). */
	uintptr_t off = g->tinyoffset;
	if ((size & 7) == 0)
		off = (off + 7) & ~(uintptr_t)7;
	else if ((size & 3) == 0)
		off = (off + 3) & ~(uintptr_t)3;
	else if ((size & 1) == 0)
		off = (off + 1) & ~(uintptr_t)1;
	if (g->tiny && off + size <= KS_TINY_SIZE) {
		g->tinyoffset = off + size;
		return (void *)(g->tiny + off);
	}
	void *block = gc_small(ks_make_spanclass(KS_TINY_SIZE_CLASS, true));
	if (!block)
		return NULL;
	/* Keep whichever block has more room left (Go does the same). */
	if (!g->tiny || size < g->tinyoffset) {
		g->tiny = (uintptr_t)block;
		g->tinyoffset = size;
	}
	return block;
}

void ks_gc_drain_cpu(struct mcache *c)
{
	struct mcache_gc *g = c->gc;
	if (!g)
		return;
	for (unsigned sc = 2; sc < KS_NUM_SPAN_CLASSES; sc++)
		mcache_class_drain(c, &g->cls[sc]);
	g->tiny = g->tinyoffset = 0;
}

/* Write the heap bitmap of a new scan object: word i is a pointer if it is
 * among the first reqwords and the type's mask (repeating every period
 * words) says so. */
static void set_heap_bits(uintptr_t p, uintptr_t objwords, uintptr_t reqwords,
                          const struct kgc_type *type)
{
	uintptr_t period = type ? (type->size + 7) / 8 : 1;
	const uint8_t *mask = type ? type->ptrmask : 0;
	uintptr_t last = 0;
	bool any = false;
	for (uintptr_t i = 0; i < reqwords; i++) {
		uintptr_t j = i % period;
		if (!mask || (mask[j / 8] >> (j % 8)) & 1) {
			last = i;
			any = true;
		}
	}
	struct heapbits h = heapbits_for(p);
	for (uintptr_t i = 0; i < objwords; i++) {
		uintptr_t j = i % period;
		uint8_t bits = 0;
		if (i < reqwords && (!mask || (mask[j / 8] >> (j % 8)) & 1))
			bits |= KS_BIT_POINTER;
		if (any && i <= last)
			bits |= KS_BIT_SCAN;
		*h.byte = (uint8_t)((*h.byte & ~((KS_BIT_POINTER | KS_BIT_SCAN) << h.shift)) |
		                    (bits << h.shift));
		h = heapbits_next(h);
	}
}

static void maybe_collect(size_t size)
{
	uint64_t since = __atomic_add_fetch(&allocated_since, size, __ATOMIC_RELAXED);
	if (config.gc_percent && __atomic_load_n(&gc_enabled, __ATOMIC_RELAXED) &&
	    heap_live + since >= next_trigger)
		kgc_collect();
}

static void *alloc_large(size_t size, bool noscan)
{
	uintptr_t npages = (size + KS_PAGE_SIZE - 1) >> KS_PAGE_SHIFT;
	struct mspan *s = mheap_alloc(npages, 1);
	if (!s)
		return 0;
	s->gc = 1;
	s->noscan = noscan;
	s->markbits[0] = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	s->gcprev = 0;
	s->gcnext = gclarge;
	if (gclarge)
		gclarge->gcprev = s;
	gclarge = s;
	ks_spin_unlock_irqrestore(&gc_lock, st);
	return (void *)s->base;
}

static void *gc_alloc(size_t size, const struct kgc_type *type, bool noscan)
{
	KS_CHECK(gc_ready, "kgc_alloc: kgc_init has not been called");
	if (size == 0)
		size = 1;
	if (size > (size_t)1 << 46)
		return 0;
	maybe_collect(size);
	for (int attempt = 0; attempt < 2; attempt++) {
		void *p;
		uintptr_t objsize;
		if (size <= KS_MAX_SMALL_SIZE) {
			spanclass_t sc = ks_make_spanclass(ks_size_to_class(size), noscan);
			ks_irqstate_t st = ks_plat_irq_save();
			p = gc_small(sc);
			objsize = ks_class_to_size[ks_spanclass_sizeclass(sc)];
			if (p && !noscan)
				set_heap_bits((uintptr_t)p, objsize / 8, (size + 7) / 8, type);
			ks_plat_irq_restore(st);
		} else {
			p = alloc_large(size, noscan);
			objsize = (size + KS_PAGE_SIZE - 1) & ~(KS_PAGE_SIZE - 1);
			if (p && !noscan)
				set_heap_bits((uintptr_t)p, objsize / 8, (size + 7) / 8, type);
		}
		if (p) {
			__builtin_memset(p, 0, size);
			return p;
		}
		/* Out of memory: collect once and try again. */
		if (attempt == 0)
			kgc_collect();
	}
	return 0;
}

void *kgc_alloc(size_t size, const struct kgc_type *type)
{
	KS_CHECK(!type || type->size > 0, "kgc_alloc(%lu): type %s has size 0",
	         (unsigned long)size, type->name ? type->name : "?");
	return gc_alloc(size, type, false);
}

void *kgc_alloc_noscan(size_t size)
{
	if (size > 0 && size < KS_TINY_SIZE) {
		KS_CHECK(gc_ready, "kgc_alloc_noscan: kgc_init has not been called");
		maybe_collect(size);
		ks_irqstate_t st = ks_plat_irq_save();
		void *p = tiny_alloc(size);
		ks_plat_irq_restore(st);
		if (!p) {
			kgc_collect();
			st = ks_plat_irq_save();
			p = tiny_alloc(size);
			ks_plat_irq_restore(st);
		}
		if (p)
			__builtin_memset(p, 0, size);
		return p;
	}
	return gc_alloc(size, 0, true);
}

/* ---- roots ------------------------------------------------------------- */

void kgc_root_add(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	KS_CHECK(len > 0 && a + len > a, "kgc_root_add(%p, %lu): the range is "
	         "empty or wraps around", addr, (unsigned long)len);
	KS_CHECK(!config.is_mapped || config.is_mapped(addr, len),
	         "kgc_root_add(%p, %lu): the range is not mapped memory", addr,
	         (unsigned long)len);
	struct mspan *s = spanof(a);
	if (s) {
		/* In the heap: it must lie inside one live object. */
		KS_CHECK(s->state == MSPAN_INUSE && a >= s->base && a + len <= mspan_end(s),
		         "kgc_root_add(%p, %lu): the range is in free heap memory",
		         addr, (unsigned long)len);
		if (s->central) {
			bool exact;
			uint32_t idx = mspan_index(s, a - s->base, &exact);
			uintptr_t obj = s->base + (uintptr_t)idx * s->elemsize;
			KS_CHECK(a - s->base < s->limit && !mspan_obj_is_free(s, idx) &&
			         a + len <= obj + s->elemsize,
			         "kgc_root_add(%p, %lu): the range is not inside one "
			         "allocated heap object", addr, (unsigned long)len);
		}
	}
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	KS_CHECK(nroots < MAX_ROOTS, "kgc_root_add(%p): more than %d roots", addr,
	         MAX_ROOTS);
	roots[nroots].base = a;
	roots[nroots].len = len;
	nroots++;
	ks_spin_unlock_irqrestore(&gc_lock, st);
}

void kgc_root_remove(const void *addr)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	for (unsigned i = 0; i < nroots; i++) {
		if (roots[i].base == (uintptr_t)addr) {
			roots[i] = roots[--nroots];
			ks_spin_unlock_irqrestore(&gc_lock, st);
			return;
		}
	}
	ks_spin_unlock_irqrestore(&gc_lock, st);
	ks_panic("kgc_root_remove(%p): no root starts there", addr);
}

/* ---- the cycle ---------------------------------------------------------- */

static void sweep_large(uint64_t *freed_objs, uint64_t *freed_bytes,
                        uint64_t *live_objs, uint64_t *live_bytes)
{
	struct mspan *dead = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	struct mspan *next;
	for (struct mspan *s = gclarge; s; s = next) {
		next = s->gcnext;
		uint64_t bytes = s->npages << KS_PAGE_SHIFT;
		if (s->markbits[0] & 1) {
			s->markbits[0] = 0;
			*live_objs += 1;
			*live_bytes += bytes;
			continue;
		}
		if (s->gcprev)
			s->gcprev->gcnext = s->gcnext;
		else
			gclarge = s->gcnext;
		if (s->gcnext)
			s->gcnext->gcprev = s->gcprev;
		s->gcnext = dead;
		dead = s;
		*freed_objs += 1;
		*freed_bytes += bytes;
	}
	ks_spin_unlock_irqrestore(&gc_lock, st);
	while (dead) {
		next = dead->gcnext;
		dead->gcnext = dead->gcprev = 0;
		mheap_free(dead);
		dead = next;
	}
}

size_t kgc_collect(void)
{
	KS_CHECK(gc_ready, "kgc_collect: kgc_init has not been called");
	if (__atomic_exchange_n(&collecting, 1, __ATOMIC_ACQUIRE))
		return 0;   /* another CPU is collecting right now */
	ks_irqstate_t cst = ks_plat_irq_save();
	uint64_t t0 = ks_plat_now();
	if (config.stop_world)
		config.stop_world();

	/* 1. Every CPU's collector spans back to the central lists. */
	for (unsigned cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++)
		if (mcache_in_use((int)cpu))
			ks_gc_drain_cpu(ks_mcache_real[cpu]);

	/* 2. Mark.  The roots are copied: kgc_root_add may not run now. */
	static struct gc_root snapshot[MAX_ROOTS];
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	unsigned n = nroots;
	for (unsigned i = 0; i < n; i++)
		snapshot[i] = roots[i];
	ks_spin_unlock_irqrestore(&gc_lock, st);
	struct gc_markstats ms = { 0, 0 };
	uint64_t tm = ks_plat_now();
	gc_mark(snapshot, n, &ms);
	tm = ks_plat_now() - tm;

	/* 3. Sweep. */
	uint64_t freed_objs = 0, freed_bytes = 0, live_objs = 0, live_bytes = 0;
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		mcentral_sweep(&ks_gccentral[sc], &freed_objs, &freed_bytes,
		               &live_objs, &live_bytes);
	sweep_large(&freed_objs, &freed_bytes, &live_objs, &live_bytes);

	/* 4. Account and set the next trigger. */
	uint64_t before = heap_live + __atomic_exchange_n(&allocated_since, 0, __ATOMIC_RELAXED);
	heap_live = live_bytes;
	uint64_t goal = live_bytes + live_bytes / 100 * config.gc_percent;
	next_trigger = goal > config.min_trigger ? goal : config.min_trigger;

	if (config.start_world)
		config.start_world();
	uint64_t pause = ks_plat_now() - t0;

	st = ks_spin_lock_irqsave(&gc_lock);
	stats.cycles++;
	stats.live_objects = live_objs;
	stats.live_bytes = live_bytes;
	stats.freed_objects += freed_objs;
	stats.freed_bytes += freed_bytes;
	stats.heap_before = before;
	stats.heap_after = live_bytes;
	stats.last_pause = pause;
	stats.total_pause += pause;
	stats.last_mark = tm;
	stats.total_mark += tm;
	stats.marked_bytes = ms.marked_bytes;
	stats.mark_overflows += ms.overflows;
	ks_spin_unlock_irqrestore(&gc_lock, st);
	__atomic_store_n(&collecting, 0, __ATOMIC_RELEASE);
	ks_plat_irq_restore(cst);
	return (size_t)freed_bytes;
}

void kgc_stats(struct kgc_stats *out)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	*out = stats;
	out->roots = nroots;
	ks_spin_unlock_irqrestore(&gc_lock, st);
}

bool kgc_is_live(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	struct mspan *s = spanof(p);
	if (!s || s->state != MSPAN_INUSE || !s->gc || p < s->base || p >= mspan_end(s))
		return false;
	if (!s->central)
		return true;
	if (p - s->base >= s->limit)
		return false;
	bool exact;
	uint32_t idx = mspan_index(s, p - s->base, &exact);
	return !mspan_obj_is_free(s, idx);
}

size_t ks_gc_reclaim(void)
{
	return __atomic_load_n(&gc_ready, __ATOMIC_ACQUIRE) ? kgc_collect() : 0;
}
#else
#include "mm/mgc.h"
void ks_gc_for_each_lock(void (*fn)(struct ks_spinlock *))
{
	(void)fn;
}

size_t ks_gc_reclaim(void)
{
	return 0;
}

void ks_gc_drain_cpu(struct mcache *c)
{
	(void)c;
}
#endif /* KSPAN_GC */
