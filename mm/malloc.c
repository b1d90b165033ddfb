/*
 * kspan: a kernel memory allocator in the shape of tcmalloc and Go's
 * runtime (Go 1.10's mheap/mcentral/mcache and its memory layout).
 *
 * This comment is the overview; every other mm/ file explains its own part.
 *
 * Glossary
 *   frame      4 KiB of physical memory, from the boot memory map
 *              (phys/frame.c).  Only the kernel's page source deals in frames.
 *   page       8 KiB of the heap arena (KS_PAGE_SIZE).  "Page" never means
 *              a frame here.
 *   arena      the heap's address range; with spans[] and the heap bitmap
 *              it forms one reservation laid out as Go 1.10 (mm/arena.c).
 *   span       a run of contiguous pages (struct mspan, mm/mspan.h).
 *   size class one of 66 object sizes from 8 B to 32 KiB (Go's table,
 *              mm/sizeclass.h); class 0 means "large": a span of its own.
 *   span class size class << 1 | noscan.  Objects with pointers (scan) and
 *              without (noscan) never share a span, so the collector can
 *              skip noscan spans whole.  kmalloc objects are noscan.
 *   mheap      the page heap: free spans, split and coalesce (mm/mheap.c).
 *   mcentral   per span class: spinlocked lists of spans (mm/mcentral.c).
 *   mcache     per CPU: the span each class allocates from, no lock
 *              (mm/mcache.c).
 *
 * Allocating an object of n <= 32 KiB bytes (kmalloc)
 *   1. Round n up to its size class (two table lookups, O(1)).
 *   2. With interrupts off on this CPU, take the lowest set bit of the
 *      allocCache of the CPU's span for the class: object = groupbase +
 *      bit * size.  No lock, no atomic; this is the fast path.
 *   3. If allocCache is empty: fold in objects other CPUs freed, load the
 *      span's next word of free bits; if the span is full, give it back to
 *      its mcentral and take a span with free objects from it (one lock).
 *   4. If mcentral has none, it takes pages for a new span from mheap (heap
 *      lock), which grows into the arena if it must.
 * Larger objects are spans of their own straight from mheap.
 *
 * Freeing an object (kfree)
 *   1. spans[(p - arena_start) >> 13] gives the span in O(1); anything not
 *      in an in-use span, not at an object's start, or already free stops
 *      the kernel with a message naming the address, the span and the fault.
 *   2. If this CPU owns the span, set the object's free bit: the fast path.
 *   3. Otherwise queue it; every 15 queued frees of a class go to mcentral
 *      under one lock, into the span's free bits, or into its remote bits
 *      if another CPU owns it (that CPU folds them in when it runs out).
 *   4. A span no CPU owns whose objects are all free goes back to mheap,
 *      which coalesces it with its free neighbours; when too much free
 *      memory is committed, the scavenger gives pages back to the platform.
 *
 * Zeroing: pages committed afresh read as zero; reused objects are not
 * cleared (kzalloc/kcalloc clear what they return).
 *
 * Locks, in the order they nest: mcentral[sc] -> mheap -> the platform's
 * own (frame map).  All are ticket spinlocks taken with interrupts off, so
 * any function here may be called from an interrupt handler.  Nothing
 * allocates or logs while holding a lock, except the panic that stops
 * everything.
 *
 * Memory layout (Go 1.10, see mm/arena.c for the numbers):
 *   [ spans: 8 B per page ][ committed bits ][ bitmap: 2 bits per word ][ arena ]
 *   span of p   = spans[(p - arena_start) >> 13]
 *   bitmap of p = byte bitmap - ((p - arena_start) / 8) / 4 - 1
 */
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "mm/arena.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/debugheap.h"
#include "mm/guard.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/mgc.h"
#include "mm/mheap.h"
#include "mm/sizeclass.h"

#define DEFAULT_SCAVENGE_THRESHOLD ((size_t)32 << 20)

static bool kspan_ready;

int kspan_init(const struct kspan_config *cfg)
{
	KS_CHECK(!kspan_ready, "kspan_init: called twice");
	KS_CHECK(cfg && cfg->arena_bytes >= ((size_t)4 << 20),
	         "kspan_init: arena of %lu bytes is too small (4 MiB at least)",
	         cfg ? (unsigned long)cfg->arena_bytes : 0ul);
	ks_sizeclass_check();
	if (arena_init(cfg->arena_bytes) != 0)
		return -1;
	size_t scav = cfg->scavenge_threshold ? cfg->scavenge_threshold
	                                      : DEFAULT_SCAVENGE_THRESHOLD;
	if (mheap_init(scav) != 0)
		return -1;
	uint64_t seed = cfg->seed ? cfg->seed : ks_plat_now();
	mcentral_init();
	mcache_init_all(ks_mix64(seed ^ 1));
	mspan_seed_order(ks_mix64(seed ^ 2));
	ks_debugheap_seed(ks_mix64(seed ^ 3));
	ks_guard_init();   /* no pool: kmalloc_guarded returns NULL */
	kspan_ready = true;
	return 0;
}

/* ---- errors ----------------------------------------------------------- */

__attribute__((noreturn, cold))
static void bad_free(const char *fn, uintptr_t p, const struct mspan *s,
                     const char *what)
{
	if (s)
		ks_panic("%s(%p): %s (span %p [%p-%p) class %u, %s)", fn, (void *)p,
		         what, (const void *)s, (void *)s->base,
		         (void *)mspan_end(s),
		         (unsigned)ks_spanclass_sizeclass(s->spanclass),
		         s->state == MSPAN_INUSE ? "in use" :
		         s->state == MSPAN_FREE ? "free" : "dead");
	ks_panic("%s(%p): %s", fn, (void *)p, what);
}

/* The in-use span holding p, or a panic saying why there is none. */
static struct mspan *span_of_live(const char *fn, uintptr_t p)
{
	struct mspan *s = spanof(p);
	if (ks_unlikely(!s))
		bad_free(fn, p, NULL, "pointer is not in the heap");
	if (ks_unlikely(s->state != MSPAN_INUSE || p < s->base || p >= mspan_end(s)))
		bad_free(fn, p, NULL, "page is not in use (freed or never allocated)");
	return s;
}

/* Index of object p in small span s; panics unless p is an object's start. */
static uint32_t object_index(const char *fn, const struct mspan *s, uintptr_t p)
{
	if (ks_unlikely(s->state != MSPAN_INUSE || p < s->base || p >= mspan_end(s)))
		bad_free(fn, p, NULL, "page is not in use (freed or never allocated)");
	uintptr_t off = p - s->base;
	uint32_t idx = mspan_obj_index(s, p);
	if (ks_unlikely(idx >= s->nelems || (uintptr_t)idx * s->elemsize != off))
		bad_free(fn, p, s, idx >= s->nelems ? "pointer is past the last object"
		                                    : "interior pointer (not an object's start)");
	return idx;
}

/* ---- small objects ---------------------------------------------------- */

/* The slow path, out of line so the fast path keeps no registers live
 * across a call (no pushes and pops on the fast path). */
__attribute__((noinline))
static void *small_alloc_slow(spanclass_t sc)
{
	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	struct mcache *c = mcache_get(cpu);
	struct mspan *s = c->alloc[sc];
	/* An interrupt may have refilled the cache since the fast path. */
	void *p;
	if (s->allocCache) {
		p = mcache_take(s);
		c->fast_allocs++;
	} else {
		p = mcache_alloc_slow(c, sc, cpu);
	}
	ks_plat_irq_restore(st);
	return p;
}

/* Steps 1-2 of the allocation path: about 20 instructions, no lock. */
static inline void *small_alloc(spanclass_t sc)
{
	ks_irqstate_t st = ks_plat_irq_save();
	struct mcache *c = ks_mcache_of[ks_plat_cpu_id()];
	struct mspan *s = c->alloc[sc];
	uint64_t m = s->allocCache;
	if (ks_likely(m)) {
		s->allocCache = m & (m - 1);
		unsigned obj = mspan_cache_obj(s, (unsigned)__builtin_ctzll(m));
		void *p = (void *)(s->groupbase + (uintptr_t)obj * s->elemsize);
		c->fast_allocs++;
		ks_plat_irq_restore(st);
		return p;
	}
	ks_plat_irq_restore(st);
	return small_alloc_slow(sc);
}

/* ---- large objects ---------------------------------------------------- */

static void *large_alloc(size_t size, size_t align, bool manual)
{
	uintptr_t npages = (size + KS_PAGE_SIZE - 1) >> KS_PAGE_SHIFT;
	uintptr_t apages = align > KS_PAGE_SIZE ? align >> KS_PAGE_SHIFT : 1;
	if (size > SIZE_MAX - KS_PAGE_SIZE)
		return NULL;
	struct mspan *s = mheap_alloc(npages, apages);
	if (!s)
		return NULL;
	s->manual = manual;
	__atomic_fetch_add(&ks_mheap.large_inuse, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&ks_mheap.large_pages, npages, __ATOMIC_RELAXED);
	return (void *)s->base;
}

static void large_free(struct mspan *s)
{
	__atomic_fetch_sub(&ks_mheap.large_inuse, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&ks_mheap.large_pages, s->npages, __ATOMIC_RELAXED);
	mheap_free(s);
}

/* ---- the raw allocator ----------------------------------------------------
 *
 * ks_malloc, ks_free, ks_usable_size and ks_malloc_aligned are the
 * allocator itself.  The public entry points at the end of this file call
 * them straight, or, with the debug heap (KSPAN_DEBUG_HEAP), through
 * mm/debugheap.c, which wraps them with red zones, poison and call sites.
 * fn names the function the program called, for reports. */

void *ks_malloc(size_t size)
{
	if (ks_likely(size <= KS_MAX_SMALL_SIZE))
		return small_alloc(ks_make_spanclass(ks_size_to_class(size), true));
	return large_alloc(size, 0, false);
}

/* Everything kfree's fast path does not handle: spans this CPU does not
 * own, large objects, bad pointers, pending remote frees. */
__attribute__((noinline))
static void free_slow(uintptr_t p, const char *fn)
{
	if (ks_guard_owns(p)) {
		ks_guard_free(p, __builtin_return_address(0));
		return;
	}
	struct mspan *s = span_of_live(fn, p);
	if (ks_unlikely(s->gc))
		bad_free(fn, p, s, "object is managed by the collector "
		         "(it is reclaimed when unreachable; never free it)");
	if (s->spanclass == 0) {
		if (ks_unlikely(s->manual))
			bad_free(fn, p, s, "block is from kpages_alloc (use kpages_free)");
		if (ks_unlikely(p != s->base))
			bad_free(fn, p, s, "interior pointer into a large object");
		large_free(s);
		return;
	}
	uint32_t idx = object_index(fn, s, p);
	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	struct mcache *c = mcache_get(cpu);
	if (__atomic_load_n(&s->owner, __ATOMIC_RELAXED) == cpu) {
		/* Ours after all (taken over since the caller looked), or
		 * remote frees wait to be folded in first. */
		mspan_merge_remote(s);
		mspan_free_owned(s, idx, p);
		c->fast_frees++;
	} else {
		mcache_free_slow(c, s, p, cpu);
	}
	ks_plat_irq_restore(st);
}

/* Steps 1-2 of the free path: spans lookup, index, bit test and set. */
void ks_free(void *ptr, const char *fn)
{
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t off = p - ks_arena.arena_start;
	if (ks_unlikely(off >= __atomic_load_n(&ks_arena.used_bytes, __ATOMIC_ACQUIRE)))
		goto slow;   /* NULL, or not in the heap */
	struct mspan *s = ks_arena.spans[off >> KS_PAGE_SHIFT];

	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	/* Owned by this CPU: an in-use small span; and no remote frees are
	 * waiting to be folded in (a double free across CPUs must meet the
	 * bit test below). */
	if (ks_likely(__atomic_load_n(&s->owner, __ATOMIC_RELAXED) == cpu &&
	              __atomic_load_n(&s->nremote, __ATOMIC_RELAXED) == 0)) {
		uintptr_t soff = p - s->base;
		uint32_t idx = mspan_obj_index(s, p);
		uint32_t w = idx >> 6;
		uint64_t *word = &s->freebits[w];
		uint64_t bit = 1ull << (idx & 63);
		if (w == s->curword) {
			word = &s->allocCache;
			bit = mspan_cache_bit(s, idx & 63);
		}
		if (ks_likely(idx < s->nelems && (uintptr_t)idx * s->elemsize == soff &&
		              !(*word & bit))) {
			*word |= bit;
			ks_mcaches[cpu].fast_frees++;
			ks_plat_irq_restore(st);
			return;
		}
	}
	ks_plat_irq_restore(st);
slow:
	if (!ptr)
		return;
	free_slow(p, fn);
}

size_t ks_usable_size(const void *ptr, const char *fn)
{
	if (!ptr)
		return 0;
	uintptr_t p = (uintptr_t)ptr;
	if (ks_guard_owns(p))
		return ks_guard_size(p);
	struct mspan *s = span_of_live(fn, p);
	if (s->spanclass == 0) {
		if (p != s->base)
			bad_free(fn, p, s, "interior pointer into a large object");
		return s->npages << KS_PAGE_SHIFT;
	}
	uint32_t idx = object_index(fn, s, p);
	/* A free object has no size (krealloc of a freed pointer must not
	 * copy from it).  Exact on the owning CPU; for other spans a racing
	 * free can only make this miss, not misfire. */
	if (ks_unlikely(mspan_obj_is_free(s, idx)))
		bad_free(fn, p, s, "object is free (use after free or double free?)");
	return s->elemsize;
}

void *ks_malloc_aligned(size_t size, size_t align)
{
	if (align == 0 || (align & (align - 1)))
		return NULL;
	if (align <= 16 && (size > 8 || align <= 8))
		return ks_malloc(size);
	if (size <= KS_MAX_SMALL_SIZE && align <= KS_PAGE_SIZE) {
		/* A class whose size is a multiple of align has every object
		 * aligned: spans start on a page boundary. */
		for (unsigned cls = ks_size_to_class(size < align ? align : size);
		     cls < KS_NUM_SIZE_CLASSES; cls++)
			if (ks_class_to_size[cls] % align == 0)
				return small_alloc(ks_make_spanclass(cls, true));
	}
	return large_alloc(size > KS_MAX_SMALL_SIZE ? size : KS_MAX_SMALL_SIZE + 1,
	                   align, false);
}

void *kpages_alloc(size_t n)
{
	if (n == 0 || n > SIZE_MAX / KS_PAGE_SIZE)
		return NULL;
	return large_alloc(n * KS_PAGE_SIZE, 0, true);
}

void kpages_free(void *ptr, size_t n)
{
	uintptr_t p = (uintptr_t)ptr;
	if (!ptr)
		return;
	struct mspan *s = span_of_live("kpages_free", p);
	if (ks_unlikely(!s->manual))
		bad_free("kpages_free", p, s, "block is not from kpages_alloc");
	if (ks_unlikely(p != s->base))
		bad_free("kpages_free", p, s, "pointer is not the block's start");
	if (ks_unlikely(n != s->npages))
		ks_panic("kpages_free(%p, %lu): block has %lu pages", ptr,
		         (unsigned long)n, (unsigned long)s->npages);
	large_free(s);
}

void kspan_drain_cpu(void)
{
	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	if (mcache_in_use(cpu))
		mcache_drain(ks_mcache_of[cpu], cpu);
	ks_plat_irq_restore(st);
}

/* Every allocator lock in lock order: the collector's, the central lists,
 * the heap, the guarded pool. */
static void for_each_lock(void (*fn)(struct ks_spinlock *))
{
	ks_gc_for_each_lock(fn);
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		fn(&ks_mcentral[sc].lock);
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		fn(&ks_gccentral[sc].lock);
	fn(&ks_mheap.lock);
	fn(ks_guard_lock());
}

static void lock_one(struct ks_spinlock *l)
{
	ks_spin_lock(l);
}

/* Releasing in any order is fine for ticket locks; the debug bookkeeping
 * handles out-of-order releases. */
static void unlock_one(struct ks_spinlock *l)
{
	ks_spin_unlock(l);
}

static void reset_one(struct ks_spinlock *l)
{
	ks_spin_reset(l);
}

void kspan_lock_all(void)
{
	for_each_lock(lock_one);
}

void kspan_unlock_all(void)
{
	for_each_lock(unlock_one);
}

void kspan_fork_child(void)
{
	for_each_lock(reset_one);
	ks_spin_debug_forget_held();
}

size_t kspan_scavenge(void)
{
	return mheap_scavenge(0) << KS_PAGE_SHIFT;
}

void *ks_tiny_alloc(size_t size)
{
	if (size == 0 || size >= KS_TINY_SIZE)
		return NULL;
	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	void *p = mcache_tiny_alloc(mcache_get(cpu), size, cpu);
	ks_plat_irq_restore(st);
	return p;
}

/* ---- the public entry points ----------------------------------------------
 *
 * Every kmalloc-family function comes here, under its real name in every
 * build.  A report names the function the program called (fn) and, with
 * the debug heap, the allocation records the program's call site (site). */

#define RET_ADDR __builtin_return_address(0)

void *kspan_malloc_as(size_t size, const char *fn, void *site)
{
#if KSPAN_DEBUG_HEAP
	return ks_debug_malloc(size, fn, site);
#else
	(void)fn;
	(void)site;
	return ks_malloc(size);
#endif
}

void kspan_free_as(void *p, const char *fn, void *site)
{
#if KSPAN_DEBUG_HEAP
	ks_debug_free(p, fn, site);
#else
	(void)site;
	ks_free(p, fn);
#endif
}

size_t kspan_size_as(const void *p, const char *fn)
{
#if KSPAN_DEBUG_HEAP
	return ks_debug_usable_size(p, fn);
#else
	return ks_usable_size(p, fn);
#endif
}

void *kspan_aligned_as(size_t size, size_t align, const char *fn, void *site)
{
#if KSPAN_DEBUG_HEAP
	return ks_debug_malloc_aligned(size, align, fn, site);
#else
	(void)fn;
	(void)site;
	return ks_malloc_aligned(size, align);
#endif
}

void *kspan_realloc_as(void *ptr, size_t size, const char *fn, void *site)
{
#if KSPAN_DEBUG_HEAP
	/* Red zones are re-armed in place; guarded objects always move. */
	return ks_debug_realloc(ptr, size, fn, site);
#endif
	if (!ptr)
		return kspan_malloc_as(size, fn, site);
	size_t have = kspan_size_as(ptr, fn);
	/* Stay in place while the new size uses the same size class, or the
	 * same number of pages for a large object. */
	if (size <= have) {
		if (have > KS_MAX_SMALL_SIZE ? size > KS_MAX_SMALL_SIZE &&
		                               (size + KS_PAGE_SIZE - 1) >> KS_PAGE_SHIFT ==
		                               have >> KS_PAGE_SHIFT
		                             : ks_class_to_size[ks_size_to_class(size)] == have)
			return ptr;
	}
#if !KSPAN_DEBUG_HEAP
	/* A large object grows in place when the pages after it are free. */
	if (size > have && have > KS_MAX_SMALL_SIZE && size <= SIZE_MAX - KS_PAGE_SIZE) {
		struct mspan *s = spanof((uintptr_t)ptr);
		uintptr_t npages = (size + KS_PAGE_SIZE - 1) >> KS_PAGE_SHIFT;
		uintptr_t old = s->npages;
		if (!s->manual && !s->gc && mheap_extend(s, npages)) {
			__atomic_fetch_add(&ks_mheap.large_pages, npages - old, __ATOMIC_RELAXED);
			return ptr;
		}
	}
#endif
	void *q = kspan_malloc_as(size, fn, site);
	if (!q)
		return NULL;
	__builtin_memcpy(q, ptr, size < have ? size : have);
	kspan_free_as(ptr, fn, site);
	return q;
}

void *kmalloc(size_t size)
{
	return kspan_malloc_as(size, "kmalloc", RET_ADDR);
}

void kfree(void *p)
{
	kspan_free_as(p, "kfree", RET_ADDR);
}

size_t ksize(const void *p)
{
	return kspan_size_as(p, "ksize");
}

void *kmalloc_aligned(size_t size, size_t align)
{
	return kspan_aligned_as(size, align, "kmalloc_aligned", RET_ADDR);
}

void *krealloc(void *p, size_t size)
{
	return kspan_realloc_as(p, size, "krealloc", RET_ADDR);
}

/* Zeroed: a large object on freshly committed pages is zero already, so
 * a huge kzalloc does not touch (and so commit, on a host) every page. */
static void *zalloc_as(size_t size, const char *fn, void *site)
{
	void *p = kspan_malloc_as(size, fn, site);
	if (!p)
		return p;
	if (size > KS_MAX_SMALL_SIZE) {
		struct mspan *s = spanof((uintptr_t)p);
		if (s && s->spanclass == 0 && !s->needzero)
			return p;
	}
	__builtin_memset(p, 0, size);
	return p;
}

void *kzalloc(size_t size)
{
	return zalloc_as(size, "kzalloc", RET_ADDR);
}

void *kspan_calloc_as(size_t n, size_t size, const char *fn, void *site)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return zalloc_as(total, fn, site);
}

void *kcalloc(size_t n, size_t size)
{
	return kspan_calloc_as(n, size, "kcalloc", RET_ADDR);
}
