/*
 * The optional mark-sweep collector (include/kspan/gc.h): configuration,
 * roots, the trigger, the cycle, statistics, and the live-object query.
 *
 * See mm/malloc.c for the heap.  The collector is Go's, with the mark in
 * a stop-the-world pause and the sweep lazy:
 *
 *   Objects.  kgc_alloc objects (mm/mgcalloc.c) live in spans of their
 *   own, marked gc: the per-CPU caches keep them in struct mcache_gc
 *   (owner = CPU + KS_OWNER_GC, so kfree's fast path never matches), the
 *   central lists in ks_gccentral[]; large ones are spans on the gclarge
 *   list.  Span class scan/noscan says whether the collector looks inside.
 *   For scan objects, the heap bitmap's pointer bits (mm/mbitmap.h) come
 *   from the type's pointer map: a fresh span gets them for every slot
 *   from its first object, and an allocation writes an object's own only
 *   where they differ (mm/mgcalloc.c: gcuniform).  Every collected object is
 *   zeroed, so stale words never keep garbage alive.  The pages of every
 *   collector span are recorded in the bitmap's side words (gcpage_state),
 *   which kgc_is_live and the rescan read.
 *
 *   The cycle (kgc_collect), all in one pause:
 *     1. Stop the world: the platform's stop_world, or stop_world_run,
 *        whose stopped CPUs run gc_mark_helper; the collector waits until
 *        all of them are there.  Give back every CPU's cached collector
 *        spans and tiny block, so each span's free bits say exactly which
 *        objects exist; finish the last cycle's sweep (usually done by
 *        then, mm/mgcsweep.c).
 *     2. Mark from a copy of the roots (mm/mgcmark.c) with the markers
 *        asked for (kgc_set_markers): per-span mark bits, and the live
 *        objects and bytes counted exactly.
 *     3. Large objects are swept at once (a bit each); every small span
 *        becomes unswept, to be swept lazily (mm/mgcsweep.c).  The dead
 *        are the objects allocated at step 1 less the marked ones.
 *     4. Set the next trigger, restart the world.
 *
 *   Trigger.  Like GOGC: when the collected heap has grown by gc_percent
 *   since the last cycle's live bytes (at least min_trigger), the next
 *   slow path of kgc_alloc collects first.
 *
 * Locks: gc_lock protects roots, the large-object list (and its pages'
 * state) and the statistics; the collecting flag lets one CPU run a cycle
 * at a time (a CPU that finds one running returns at once: waiting with
 * interrupts off would deadlock against stop-the-world).  Neither is held
 * while allocating pages.  kmalloc objects are never touched.
 */
#include "lib/config.h"
#if KSPAN_GC
#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "lib/check.h"
#include "mm/arena.h"
#include "mm/mbitmap.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/mgc.h"
#include "mm/mheap.h"

#define DEFAULT_MIN_TRIGGER ((uint64_t)4 << 20)

static struct ks_spinlock gc_lock = KS_SPINLOCK_INIT("gc", KS_RANK_GC);
/* 1 while a CPU runs a cycle.  Not a spinlock: a CPU that finds a cycle
 * running must not wait for it with interrupts off (it would never answer
 * the collector's stop-the-world), so it simply returns. */
static int collecting;
static struct kgc_config config;
bool gc_ready;
static bool gc_enabled;
static unsigned markers_wanted;

static struct gc_root roots[GC_MAX_ROOTS];
static unsigned nroots;
static struct mspan *gclarge;          /* collector large spans */

uint64_t gc_heap_live;                 /* bytes live after the last cycle */
uint64_t gc_next_trigger;
static struct kgc_stats stats;

void ks_gc_for_each_lock(void (*fn)(struct ks_spinlock *))
{
	fn(&gc_lock);
}

int kgc_init(const struct kgc_config *cfg)
{
	KS_CHECK(!gc_ready, "kgc_init: called twice");
	config = *cfg;
	gc_alloc_init();
	gc_mark_init();
	if (!config.min_trigger)
		config.min_trigger = DEFAULT_MIN_TRIGGER;
	markers_wanted = config.markers;
	gc_next_trigger = config.min_trigger;
	gc_enabled = true;
	__atomic_store_n(&gc_ready, true, __ATOMIC_RELEASE);
	return 0;
}

void kgc_enable(bool on)
{
	__atomic_store_n(&gc_enabled, on, __ATOMIC_RELAXED);
}

void kgc_set_markers(unsigned n)
{
	__atomic_store_n(&markers_wanted, n, __ATOMIC_RELAXED);
}

void kgc_set_mark_queue(unsigned n)
{
	__atomic_store_n(&gc_markqueue_limit, n, __ATOMIC_RELAXED);
}

void gc_maybe_collect(void)
{
	if (config.gc_percent && __atomic_load_n(&gc_enabled, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&gc_heap_live, __ATOMIC_RELAXED) +
	    __atomic_load_n(&gc_allocated_since, __ATOMIC_RELAXED) >=
	    __atomic_load_n(&gc_next_trigger, __ATOMIC_RELAXED))
		kgc_collect();
}

void gc_large_add(struct mspan *s)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	s->gcprev = 0;
	s->gcnext = gclarge;
	if (gclarge)
		gclarge->gcprev = s;
	gclarge = s;
	for (uintptr_t i = 0; i < s->npages; i++)
		__atomic_store_n(gcpage_state(arena_page(s->base) + i), GCPAGE_LARGE,
		                 __ATOMIC_RELEASE);
	ks_spin_unlock_irqrestore(&gc_lock, st);
}

void ks_gc_drain_cpu(struct mcache *c)
{
	if (!__atomic_load_n(&gc_ready, __ATOMIC_ACQUIRE))
		return;
	gc_drain_classes(c);
	gc_sweep(0);
}

size_t kgc_sweep(size_t max_spans)
{
	KS_CHECK(gc_ready, "kgc_sweep: kgc_init has not been called");
	return gc_sweep(max_spans);
}

/* ---- finding an object ---------------------------------------------------- */

/* The live collector object holding p: its start and size, or false.  Its
 * class's lock (or gc_lock) is held while its span is looked at, and the
 * page's state checked again under it: a span is recorded as the
 * collector's only once set up and forgotten before it is freed, so what
 * is read under the lock is a whole, live span. */
static bool find_object(uintptr_t p, uintptr_t *base, uintptr_t *size)
{
	uintptr_t off = p - ks_arena.arena_start;
	if (off >= __atomic_load_n(&ks_arena.used_bytes, __ATOMIC_ACQUIRE))
		return false;
	uintptr_t page = off >> KS_PAGE_SHIFT;
	uint64_t st = __atomic_load_n(gcpage_state(page), __ATOMIC_ACQUIRE);
	if (!st)
		return false;
	bool live = false;
	struct ks_spinlock *l = st == GCPAGE_LARGE ? &gc_lock : &ks_gccentral[st & 0xff].lock;
	ks_irqstate_t is = ks_spin_lock_irqsave(l);
	if (__atomic_load_n(gcpage_state(page), __ATOMIC_ACQUIRE) == st) {
		const struct mspan *s = ks_arena.spans[page];
		uintptr_t o = p - s->base;
		if (st == GCPAGE_LARGE) {
			live = true;
			*base = s->base;
			*size = s->npages << KS_PAGE_SHIFT;
		} else if (o < s->limit) {
			bool exact;
			uintptr_t idx = mspan_index(s, o, &exact);
			live = gc_span_obj_live(s, idx);
			*base = s->base + idx * s->elemsize;
			*size = s->elemsize;
		}
	}
	ks_spin_unlock_irqrestore(l, is);
	return live;
}

bool kgc_is_live(const void *ptr)
{
	uintptr_t base, size;
	return __atomic_load_n(&gc_ready, __ATOMIC_ACQUIRE) &&
	       find_object((uintptr_t)ptr, &base, &size);
}

/* ---- roots ------------------------------------------------------------- */

/* A root in a kmalloc object (or free heap memory): checked through its
 * span, which the caller's own allocation of the object ordered before
 * this (only a bad range can meet a span being reused). */
static void check_kmalloc_root(uintptr_t a, size_t len)
{
	struct mspan *s = spanof(a);
	KS_CHECK(s->state == MSPAN_INUSE && a >= s->base && a + len <= mspan_end(s) &&
	         !s->gc,
	         "kgc_root_add(%p, %lu): the range is in free heap memory",
	         (void *)a, (unsigned long)len);
	if (s->central) {
		bool exact;
		uint32_t idx = (uint32_t)mspan_index(s, a - s->base, &exact);
		uintptr_t obj = s->base + (uintptr_t)idx * s->elemsize;
		KS_CHECK(a - s->base < s->limit && !mspan_obj_is_free(s, idx) &&
		         a + len <= obj + s->elemsize,
		         "kgc_root_add(%p, %lu): the range is not inside one "
		         "allocated heap object", (void *)a, (unsigned long)len);
	}
}

void kgc_root_add(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	KS_CHECK(gc_ready, "kgc_root_add: kgc_init has not been called");
	KS_CHECK(len > 0 && a + len > a, "kgc_root_add(%p, %lu): the range is "
	         "empty or wraps around", addr, (unsigned long)len);
	KS_CHECK(!config.is_mapped || config.is_mapped(addr, len),
	         "kgc_root_add(%p, %lu): the range is not mapped memory", addr,
	         (unsigned long)len);
	if (spanof(a)) {
		/* In the heap: it must lie inside one live object. */
		uintptr_t base, size;
		if (__atomic_load_n(gcpage_state(arena_page(a)), __ATOMIC_ACQUIRE)) {
			KS_CHECK(find_object(a, &base, &size),
			         "kgc_root_add(%p, %lu): the range is in free heap memory",
			         addr, (unsigned long)len);
			KS_CHECK(a + len <= base + size, "kgc_root_add(%p, %lu): the range is "
			         "not inside one allocated heap object", addr, (unsigned long)len);
		} else {
			check_kmalloc_root(a, len);
		}
	}
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	KS_CHECK(nroots < GC_MAX_ROOTS, "kgc_root_add(%p): more than %d roots", addr,
	         GC_MAX_ROOTS);
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

struct cycle {
	uint64_t mark_time, dead_objects, dead_bytes, live_objects, live_bytes, before;
	struct gc_markstats ms;
};

/* Free the unmarked large objects, clear the marks of the others; count
 * both. */
static void sweep_large(uint64_t *live_objs, uint64_t *live_bytes, uint64_t *dead_objs,
                        uint64_t *dead_bytes)
{
	struct mspan *dead = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	struct mspan *next;
	for (struct mspan *s = gclarge; s; s = next) {
		next = s->gcnext;
		if (s->markbits[0] & 1) {
			s->markbits[0] = 0;
			*live_objs += 1;
			*live_bytes += s->npages << KS_PAGE_SHIFT;
			continue;
		}
		if (s->gcprev)
			s->gcprev->gcnext = s->gcnext;
		else
			gclarge = s->gcnext;
		if (s->gcnext)
			s->gcnext->gcprev = s->gcprev;
		for (uintptr_t i = 0; i < s->npages; i++)
			__atomic_store_n(gcpage_state(arena_page(s->base) + i), 0, __ATOMIC_RELEASE);
		s->gcnext = dead;
		dead = s;
		*dead_objs += 1;
		*dead_bytes += s->npages << KS_PAGE_SHIFT;
	}
	ks_spin_unlock_irqrestore(&gc_lock, st);
	__atomic_fetch_sub(&gc_inuse_objects, *dead_objs, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&gc_inuse_bytes, *dead_bytes, __ATOMIC_RELAXED);
	while (dead) {
		next = dead->gcnext;
		dead->gcnext = dead->gcprev = 0;
		mheap_free(dead);
		dead = next;
	}
}

/* Steps 1-4 with the world stopped, on cpus CPUs. */
static void cycle(struct cycle *cy, unsigned cpus)
{
	/* 1. Every CPU's collector spans back; the last sweep finished. */
	for (unsigned cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++)
		if (mcache_in_use((int)cpu))
			gc_drain_classes(ks_mcache_real[cpu]);
	gc_sweep(0);
	uint64_t objs = __atomic_load_n(&gc_inuse_objects, __ATOMIC_RELAXED);
	cy->before = __atomic_load_n(&gc_inuse_bytes, __ATOMIC_RELAXED);

	/* 2. Mark.  The roots are copied: kgc_root_add may not run now. */
	static struct gc_root snapshot[GC_MAX_ROOTS];
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	unsigned n = nroots;
	for (unsigned i = 0; i < n; i++)
		snapshot[i] = roots[i];
	ks_spin_unlock_irqrestore(&gc_lock, st);
	unsigned want = __atomic_load_n(&markers_wanted, __ATOMIC_RELAXED);
	unsigned markers = want && want < cpus ? want : cpus;
	uint64_t tm = ks_plat_now();
	gc_mark(snapshot, n, markers, &cy->ms);
	cy->mark_time = ks_plat_now() - tm;

	/* 3. Sweep the large objects now, the small ones lazily. */
	uint64_t llive = 0, lbytes = 0, ldead = 0, ldeadb = 0, slive = 0, sbytes = 0;
	sweep_large(&llive, &lbytes, &ldead, &ldeadb);
	KS_CHECK(llive + ldead <= objs && lbytes + ldeadb <= cy->before,
	         "kgc_collect: %lu large objects (%lu bytes) of %lu allocated (%lu bytes)",
	         (unsigned long)(llive + ldead), (unsigned long)(lbytes + ldeadb),
	         (unsigned long)objs, (unsigned long)cy->before);
	gc_sweep_begin(objs - llive - ldead, cy->before - lbytes - ldeadb, &slive, &sbytes);
	cy->live_objects = llive + slive;
	cy->live_bytes = lbytes + sbytes;
	cy->dead_objects = objs - cy->live_objects;
	cy->dead_bytes = cy->before - cy->live_bytes;

	/* 4. The next trigger. */
	uint64_t live = cy->live_bytes;
	uint64_t goal = live + live / 100 * config.gc_percent;
	__atomic_store_n(&gc_heap_live, live, __ATOMIC_RELAXED);
	__atomic_store_n(&gc_next_trigger, goal > config.min_trigger ? goal : config.min_trigger,
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&gc_allocated_since, 0, __ATOMIC_RELAXED);
}

/* stop_world_run's fn: the cycle, once every helper is there. */
static void cycle_leader(void *arg, unsigned nhelpers)
{
	gc_mark_wait_helpers(nhelpers);
	cycle(arg, 1 + nhelpers);
	gc_mark_helpers_close();
}

size_t kgc_collect(void)
{
	KS_CHECK(gc_ready, "kgc_collect: kgc_init has not been called");
	if (__atomic_exchange_n(&collecting, 1, __ATOMIC_ACQUIRE))
		return 0;   /* another CPU is collecting right now */
	ks_irqstate_t cst = ks_plat_irq_save();
	struct cycle cy;
	uint64_t t0 = ks_plat_now();
	if (config.stop_world_run) {
		gc_mark_helpers_open();
		config.stop_world_run(cycle_leader, gc_mark_helper, &cy);
	} else {
		if (config.stop_world)
			config.stop_world();
		cycle(&cy, 1);
		if (config.start_world)
			config.start_world();
	}
	uint64_t pause = ks_plat_now() - t0;

	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	stats.cycles++;
	stats.live_objects = cy.live_objects;
	stats.live_bytes = cy.live_bytes;
	stats.freed_objects += cy.dead_objects;
	stats.freed_bytes += cy.dead_bytes;
	stats.heap_before = cy.before;
	stats.heap_after = cy.live_bytes;
	stats.last_pause = pause;
	stats.total_pause += pause;
	stats.last_mark = cy.mark_time;
	stats.total_mark += cy.mark_time;
	stats.marked_bytes = cy.ms.scanned_bytes;
	stats.mark_overflows += cy.ms.overflows;
	stats.last_markers = cy.ms.markers;
	stats.last_working_markers = cy.ms.working_markers;
	stats.last_overflow_markers = cy.ms.overflowed_markers;
	ks_spin_unlock_irqrestore(&gc_lock, st);
	__atomic_store_n(&collecting, 0, __ATOMIC_RELEASE);
	ks_plat_irq_restore(cst);
	return (size_t)cy.dead_bytes;
}

void kgc_stats(struct kgc_stats *out)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&gc_lock);
	*out = stats;
	out->roots = nroots;
	ks_spin_unlock_irqrestore(&gc_lock, st);
	out->inuse_objects = __atomic_load_n(&gc_inuse_objects, __ATOMIC_RELAXED);
	out->inuse_bytes = __atomic_load_n(&gc_inuse_bytes, __ATOMIC_RELAXED);
	gc_sweep_pending(&out->unswept_spans, &out->unswept_objects, &out->unswept_bytes);
}

/* Memory pressure (mm/reclaim.c): a full cycle, then the whole sweep, so
 * that the dead objects' empty spans are pages the heap can hand out. */
size_t ks_gc_reclaim(void)
{
	if (!__atomic_load_n(&gc_ready, __ATOMIC_ACQUIRE))
		return 0;
	size_t n = kgc_collect();
	gc_sweep(0);
	return n;
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
