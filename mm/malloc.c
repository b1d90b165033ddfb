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
 *   arena      the heap's address range; with spans[] and (with the
 *              collector) the heap bitmap it forms one reservation laid out
 *              as Go 1.10 (mm/arena.c).
 *   span       a run of contiguous pages (struct mspan, mm/mspan.h).  A
 *              small-object span's free bits are its allocation state:
 *              1 = free; allocation clears a bit, free sets it.  The
 *              span a CPU allocates from lends one word of them to the
 *              CPU's allocation cache (cachebits, Go's allocCache):
 *              allocation takes from the cache, frees set free bits, and
 *              a free object is in exactly one of the two.
 *   size class one of 66 object sizes from 8 B to 32 KiB (Go's table,
 *              mm/sizeclass.h; its spans grown to hold a batch of
 *              min(32, 64 KiB / size) objects, tcmalloc's rule); class 0
 *              means "large": a span of its own.
 *   span class size class << 1 | noscan.  Objects with pointers (scan) and
 *              without (noscan) never share a span, so the collector can
 *              skip noscan spans whole.  kmalloc objects are noscan.
 *   mheap      the page heap: free spans, split and coalesce (mm/mheap.c).
 *   mcentral   per span class (and per object cache): spinlocked lists of
 *              the spans no CPU owns, and a small reserve of empty ones
 *              (mm/mcentral.c).
 *   mcache     per CPU slot: for each class the spans the CPU owns (at
 *              most 8 to 16 of a kmalloc class, up to 64 of an object
 *              cache: room for 512 objects, ownmax) and the one it
 *              allocates from (mm/mcache.c).
 *   slot       who an mcache belongs to: a CPU (a host thread), and in
 *              kspan's kernel also each CPU's interrupt handlers
 *              (include/kspan/platform.h, KSPAN_OWN_SLOTS).
 *   owner      the slot that owns a span: only it sets or clears its bits
 *              without a lock.
 *
 * Allocating an object of n <= 32 KiB bytes (kmalloc)
 *   1. Sizes up to 1 KiB find their class with one load from the CPU's
 *      cache front (ks_mcache_of[slot]->bysize); larger ones through the
 *      size-class tables.
 *   2. Take the lowest set bit of the word the class allocates from (the
 *      allocation cache of the span it owns as cur, or, for a word with
 *      fewer than 16 free objects, that word of free bits itself): object
 *      = base + bit * size.  An empty cache first takes the frees into its
 *      word since.  No lock, no atomic, no call: the fast path
 *      (mm/malloc.h; interrupts off for it unless the platform gives
 *      callers slots of their own).
 *   3. The word is empty: fold in the frees other CPUs sent (one atomic
 *      exchange for all of them, mm/mremote.c), take a queued free, move to
 *      another word of cur, or to the owned span with most free objects
 *      among the next few (round robin; each span's nfree counts them), or
 *      take a span from mcentral (one lock).
 *   4. mcentral hands out a partial span, else one of its reserve, else it
 *      takes pages for a new span from mheap (heap lock), which grows into
 *      the arena if it must.
 * Larger objects are spans of their own straight from mheap.
 *
 * Freeing an object (kfree)
 *   1. spans[(p - arena_start) >> 13] gives the span in O(1).
 *   2. This CPU owns it, p is an object's start (one multiply by the
 *      class's reciprocal, exact or not) and not tagged as already on its
 *      way to being freed: set its bit, unless it was set or the object is
 *      in the allocation cache (a double free either way).  The fast path:
 *      no lock, no atomic, and nothing the next allocation waits for.
 *   3. Another CPU owns it: batch the object for that CPU (one atomic per
 *      batch of up to 62; the owner folds them in on its next slow path
 *      and gives the empty batch back to its sender, one atomic more).
 *      No CPU owns it: take the span over if the class is in use here and
 *      the CPU owns fewer than its bound of spans of it, else queue it
 *      (tagged); a full queue goes to mcentral under one lock.
 *   4. Anything not in an in-use span, not at an object's start, or
 *      already free stops the kernel with a message naming the address,
 *      the span and the fault, whichever path finds it.
 *   5. A span no CPU owns whose objects are all free goes to its mcentral's
 *      reserve or back to mheap, which coalesces it with its free
 *      neighbours; when too much free memory is committed (more still when
 *      the heap is shrinking), the scavenger gives pages back to the
 *      platform, and the span structs of emptied chunks go back with them
 *      (mm/fixalloc.c).
 *
 * Object caches (kmem_cache, mm/slab.c): each cache is one more class
 * after the 66 size classes, with its exact object size, its own mcentral
 * and a slot in every CPU's cache front, so kmem_cache_alloc and
 * kmem_cache_free take the same steps as kmalloc and kfree above; a span
 * records its cache (s->central->cache), so kfree of a cache object works
 * and misuse names the cache.
 *
 * Under memory pressure (an allocation about to fail) the CPU drains its
 * cache, asks the others to drain theirs (ks_front_flush), runs the
 * registered shrinkers and the collector, and tries again; when a commit
 * failed (mm/commit.c) it also scavenges what it asked for, and if a
 * commit fails again every free page, before the last try (mm/reclaim.c).
 *
 * Zeroing: pages committed afresh read as zero; reused objects are not
 * cleared (kzalloc/kcalloc clear what they return).
 *
 * Locks: the one rank table is lib/spinlock.h (collector -> mcentral ->
 * mheap -> guarded pool -> metadata pools -> the platform's page source,
 * page tables and frame map -> console), checked in debug builds.  All are
 * ticket spinlocks taken with interrupts off, so any function here may be
 * called from an interrupt handler.  Nothing allocates or logs while
 * holding a lock, except the panic that stops everything.
 *
 * Memory layout (Go 1.10, see mm/arena.c for the numbers):
 *   [ spans: 8 B per page ][ committed bits ][ bitmap: 2 bits per word ][ arena ]
 *   span of p   = spans[(p - arena_start) >> 13]
 *   bitmap of p = byte bitmap - ((p - arena_start) / 8) / 4 - 1
 *   (the bitmap only with the collector, KSPAN_GC)
 */
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "lib/bits.h"
#include "lib/check.h"
#include "mm/arena.h"
#include "mm/debugheap.h"
#include "mm/guard.h"
#include "mm/malloc.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/meta.h"
#include "mm/mgc.h"
#include "mm/mheap.h"
#include "mm/mremote.h"
#include "mm/reclaim.h"
#include "mm/sizeclass.h"
#include "mm/slab.h"

#define DEFAULT_SCAVENGE_THRESHOLD ((size_t)32 << 20)

static bool kspan_ready;

int kspan_init(const struct kspan_config *cfg)
{
	KS_CHECK(!kspan_ready, "kspan_init: called twice");
	KS_CHECK(cfg && cfg->arena_bytes >= ((size_t)4 << 20),
	         "kspan_init: arena of %lu bytes is too small (4 MiB at least)",
	         cfg ? (unsigned long)cfg->arena_bytes : 0ul);
	ks_bits_init();
	ks_sizeclass_check();
	if (arena_init(cfg->arena_bytes) != 0)
		return -1;
	size_t scav = cfg->scavenge_threshold ? cfg->scavenge_threshold
	                                      : DEFAULT_SCAVENGE_THRESHOLD;
	if (mheap_init(scav) != 0 || remote_init() != 0)
		return -1;
	uint64_t seed = cfg->seed ? cfg->seed : ks_plat_now();
	mcentral_init();
	mcache_init_all(ks_mix64(seed ^ 1));
	ks_reclaim_init(cfg->kick_idle_cpus);
	ks_debugheap_seed(ks_mix64(seed ^ 3));
	ks_guard_init();   /* no pool: kmalloc_guarded returns NULL */
	if (ks_slab_init() != 0)
		return -1;
	kspan_ready = true;
	return 0;
}

/* ---- errors ----------------------------------------------------------- */

__attribute__((noreturn, cold))
static void bad_free(const char *fn, uintptr_t p, const struct mspan *s,
                     const char *what)
{
	if (s && s->central && s->central->cache)
		ks_panic("%s(%p): %s (span %p [%p-%p) of cache \"%s\")", fn, (void *)p,
		         what, (const void *)s, (void *)s->base, (void *)mspan_end(s),
		         ks_slab_name(s->central->cache));
	if (s)
		ks_panic("%s(%p): %s (span %p [%p-%p) %s, %s)", fn, (void *)p,
		         what, (const void *)s, (void *)s->base,
		         (void *)mspan_end(s),
		         s->central ? "small objects" : "large object",
		         s->state == MSPAN_INUSE ? "in use" :
		         s->state == MSPAN_FREE ? "free" : "dead");
	ks_panic("%s(%p): %s", fn, (void *)p, what);
}

/* The in-use span holding p, or a panic saying why there is none. */
struct mspan *ks_span_of_live(const char *fn, uintptr_t p)
{
	struct mspan *s = spanof(p);
	if (ks_unlikely(!s))
		bad_free(fn, p, NULL, "pointer is not in the heap");
	if (ks_unlikely(s->state != MSPAN_INUSE || p < s->base || p >= mspan_end(s)))
		bad_free(fn, p, NULL, "page is not in use (freed or never allocated)");
	return s;
}

/* Index of object p in small span s; panics unless p is an object's start. */
uint32_t ks_object_index(const char *fn, const struct mspan *s, uintptr_t p)
{
	uintptr_t off = p - s->base;
	if (ks_unlikely(off >= s->limit))
		bad_free(fn, p, s, "pointer is past the last object");
	bool exact;
	uint32_t idx = mspan_index(s, off, &exact);
	if (ks_unlikely(!exact))
		bad_free(fn, p, s, "interior pointer (not an object's start)");
	return idx;
}

/* ---- small objects ---------------------------------------------------- */

/* The slow path, out of line so that the fast path keeps no register live
 * across a call (no pushes and pops on it).  It looks everything up again
 * under the real guard: an interrupt, or a flush request, may have
 * changed the cache.  NULL before kspan_init (the host shim then sets the
 * heap up and asks again). */
__attribute__((noinline))
static void *small_alloc_slow(unsigned cls)
{
	if (ks_unlikely(!kspan_ready))
		return NULL;
	ks_irqstate_t st = ks_plat_irq_save();
	struct mcache *c = mcache_get((int)ks_plat_cpu_id());
	void *p = c ? mcache_alloc_slow(c, &c->cls[cls]) : NULL;
	ks_plat_irq_restore(st);
	return p;
}

/* Steps 1-2 of the allocation path, for a class: no lock, no atomic. */
static inline void *small_alloc(unsigned cls)
{
	ks_irqstate_t st = mcache_fast_enter();
	void *p = mcache_take(ks_mcache_of[mcache_fast_slot()]->bycls[cls]);
	mcache_fast_exit(st);
	if (ks_likely(p))
		return p;
	return small_alloc_slow(cls);
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

/* Everything ks_malloc's fast path does not serve: sizes above 1 KiB
 * (small ones through the second size table, large ones from the page
 * heap) and a class whose word is empty.  Out of line: the fast path stays
 * short and keeps nothing live across a call. */
static void *malloc_slow_once(size_t size)
{
	if (size <= KS_SMALL_SIZE_MAX)
		return small_alloc_slow(ks_size_to_class(size));
	if (size <= KS_MAX_SMALL_SIZE)
		return small_alloc(ks_size_to_class(size));
	return large_alloc(size, 0, false);
}

/* Could a request of size bytes (aligned to align) ever be served?  If
 * not it fails at once, without reclaiming anything. */
static bool could_fit(size_t size, size_t align)
{
	size_t arena = ks_arena.arena_end - ks_arena.arena_start;
	return kspan_ready && size <= arena && align <= arena;
}

__attribute__((noinline))
void *ks_malloc_slow(size_t size)
{
	void *p = malloc_slow_once(size);
	if (ks_likely(p) || !could_fit(size, 0))
		return p;
	for (unsigned pass = 0; !p && ks_reclaim(size, pass); pass++)
		p = malloc_slow_once(size);
	return p;
}

/* The whole raw allocation: the fast path inline, the slow one a tail
 * call.  It is kmalloc itself where there is no debug heap. */
static inline __attribute__((always_inline)) void *malloc_raw(size_t size)
{
	void *p;
	if (ks_likely(ks_malloc_fast(size, &p)))
		return p;
	return ks_malloc_slow(size);
}

void *ks_malloc(size_t size)
{
#if KSPAN_DEBUG_HEAP
	return malloc_raw(size);
#else
	return kmalloc(size);
#endif
}

/* Everything kfree's fast path does not handle: NULL, spans this CPU does
 * not own, large objects, bad pointers, double frees. */
__attribute__((noinline))
void ks_free_slow(void *ptr, const char *fn)
{
	uintptr_t p = (uintptr_t)ptr;
	if (!ptr)
		return;
	if (ks_guard_owns(p)) {
		ks_guard_free(p, __builtin_return_address(0));
		return;
	}
	struct mspan *s = ks_span_of_live(fn, p);
	if (ks_unlikely(s->gc))
		bad_free(fn, p, s, "object is managed by the collector "
		         "(it is reclaimed when unreachable; never free it)");
	if (!s->central) {
		if (ks_unlikely(s->manual))
			bad_free(fn, p, s, "block is from kpages_alloc (use kpages_free)");
		if (ks_unlikely(p != s->base))
			bad_free(fn, p, s, "interior pointer into a large object");
		large_free(s);
		return;
	}
	uint32_t idx = ks_object_index(fn, s, p);
	/* An object cache that checks its objects (mm/slab.c) frees them
	 * itself. */
	if (ks_unlikely(s->central->cache) &&
	    ks_slab_free_checked(s->central->cache, s, p, fn, __builtin_return_address(0)))
		return;
	ks_free_small(s, p, idx, fn);
}

void ks_free_small(struct mspan *s, uintptr_t p, uint32_t idx, const char *fn)
{
	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	struct mcache *c = mcache_get(cpu);
	if (ks_likely(c)) {
		mcache_free_slow(c, mcache_class_of(c, s), s, p, idx, fn);
	} else {
		/* No memory left even for this CPU's cache: it owns no span,
		 * so the object's span is unowned or another CPU's. */
		void *one = (void *)p, *fwd;
		unsigned nfwd;
		mcentral_free_objects(s->central, &one, 1, cpu, &fwd, &nfwd);
		if (nfwd)
			remote_free_alone(__atomic_load_n(&s->owner, __ATOMIC_ACQUIRE), p);
	}
	ks_plat_irq_restore(st);
}

void ks_free(void *ptr, const char *fn)
{
	if (ks_likely(ks_free_fast(ptr)))
		return;
	ks_free_slow(ptr, fn);
}

#if !KSPAN_DEBUG_HEAP
/* kfree where there is no debug heap. */
static inline __attribute__((always_inline)) void free_raw(void *ptr)
{
	if (ks_likely(ks_free_fast(ptr)))
		return;
	ks_free_slow(ptr, "kfree");
}
#endif

/* ---- bulk calls (Linux's kmem_cache_alloc_bulk / free_bulk) ----------------
 *
 * One guard for the whole call.  Allocation takes objects word by word
 * from the class's current word (a bit scan each); free skips the span
 * lookup while consecutive objects share a span.  Everything the fast
 * paths would not do goes through the per-object slow paths. */

size_t kmalloc_bulk(size_t size, size_t n, void **out)
{
	if (n == 0)
		return 0;
	if (KSPAN_DEBUG_HEAP || size > KS_MAX_SMALL_SIZE) {
		/* One by one (the debug heap arms each object's red zone). */
		for (size_t k = 0; k < n; k++)
			if (!(out[k] = kmalloc(size))) {
				kfree_bulk(k, out);
				return 0;
			}
		return n;
	}
	unsigned cls = ks_size_to_class(size);
	void **o = out, **end = out + n;
	while (o < end) {
		ks_irqstate_t st = mcache_fast_enter();
		struct mcache_class *pc = ks_mcache_of[mcache_fast_slot()]->bycls[cls];
		uint64_t *wp = pc->word;
		uint64_t m = __atomic_load_n(wp, __ATOMIC_RELAXED);
		uintptr_t base = pc->base, esize = pc->size, key = pc->key;
		/* As many objects as the word has, or as are left. */
		size_t take = ks_popcount64(m);
		if (take > (size_t)(end - o))
			take = (size_t)(end - o);
		for (void **stop = o + take; o < stop; o++) {
			uintptr_t b = ks_lowest_bit(m);
			m &= m - 1;
			if (KSPAN_RANDOMIZE)
				b ^= key;
			*o = (void *)(base + b * esize);
		}
		__atomic_store_n(wp, m, __ATOMIC_RELAXED);
		mcache_fast_exit(st);
		if (o < end) {
			/* The word ran out: one object the slow way, which
			 * moves the class to its next word or span. */
			void *p = small_alloc_slow(cls);
			for (unsigned pass = 0; !p && ks_reclaim(size, pass); pass++)
				p = small_alloc_slow(cls);
			if (!p) {
				kfree_bulk((size_t)(o - out), out);
				return 0;
			}
			*o++ = p;
		}
	}
	return n;
}

void kfree_bulk(size_t n, void **objs)
{
	if (KSPAN_DEBUG_HEAP) {
		for (size_t k = 0; k < n; k++)
			kfree(objs[k]);
		return;
	}
	void **o = objs, **end = objs + n;
	uintptr_t secret = ks_queue_secret;
	while (o < end) {
		ks_irqstate_t st = mcache_fast_enter();
		int me = (int)mcache_fast_slot();
		/* The span of the run of objects being freed, its fields in
		 * registers; limit 0 until the first lookup. */
		uintptr_t base = 0, limit = 0, magic = 0, key = 0;
		uint64_t *bits = NULL;
		struct mspan *run = NULL;
		for (; o < end; o++) {
			uintptr_t p = (uintptr_t)*o;
			uintptr_t soff = p - base;
			if (ks_unlikely(soff >= limit)) {
				uintptr_t off = p - ks_arena.arena_start;
				if (off >= ks_used_bytes_fast())
					break;
				struct mspan *s = ks_arena.spans[off >> KS_PAGE_SHIFT];
				if (__atomic_load_n(&s->owner, __ATOMIC_RELAXED) != me)
					break;
				base = s->base;
				limit = s->limit;
				magic = s->divmagic;
				key = s->key;
				bits = s->freebits;
				run = s;
				soff = p - base;
				if (soff >= limit)
					break;
			}
			unsigned __int128 prod = (unsigned __int128)soff * magic;
			uintptr_t idx = (uintptr_t)(prod >> 64);
			uintptr_t pos = KSPAN_RANDOMIZE ? idx ^ key : idx;
			if ((uint64_t)prod >= magic ||                   /* not exact */
			    *(volatile uintptr_t *)p == secret ||        /* tagged */
			    ks_set_free_bit(bits, pos))
				break;
			run->nfree++;
		}
		mcache_fast_exit(st);
		if (o < end)
			ks_free_slow(*o++, "kfree_bulk");   /* the slow way */
	}
}

size_t ks_usable_size(const void *ptr, const char *fn)
{
	if (!ptr)
		return 0;
	uintptr_t p = (uintptr_t)ptr;
	if (ks_guard_owns(p))
		return ks_guard_size(p);
	struct mspan *s = ks_span_of_live(fn, p);
	if (!s->central) {
		if (p != s->base)
			bad_free(fn, p, s, "interior pointer into a large object");
		return s->npages << KS_PAGE_SHIFT;
	}
	uint32_t idx = ks_object_index(fn, s, p);
	/* A free object has no size (krealloc of a freed pointer must not
	 * copy from it).  Exact on the owning CPU; for other spans a racing
	 * free can only make this miss, not misfire. */
	if (ks_unlikely(mspan_obj_is_free(s, idx)))
		bad_free(fn, p, s, "object is free (use after free or double free?)");
	return s->elemsize;
}

static void *aligned_once(size_t size, size_t align);

void *ks_malloc_aligned(size_t size, size_t align)
{
	void *p = aligned_once(size, align);
	if (ks_likely(p) || (align & (align - 1)) || !could_fit(size, align))
		return p;
	for (unsigned pass = 0; !p && ks_reclaim(size + align, pass); pass++)
		p = aligned_once(size, align);
	return p;
}

static void *aligned_once(size_t size, size_t align)
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
				return small_alloc(cls);
	}
	return large_alloc(size > KS_MAX_SMALL_SIZE ? size : KS_MAX_SMALL_SIZE + 1,
	                   align, false);
}

void *kpages_alloc(size_t n)
{
	if (n == 0 || n > SIZE_MAX / KS_PAGE_SIZE)
		return NULL;
	void *p = large_alloc(n * KS_PAGE_SIZE, 0, true);
	if (ks_likely(p) || !could_fit(n * KS_PAGE_SIZE, 0))
		return p;
	for (unsigned pass = 0; !p && ks_reclaim(n * KS_PAGE_SIZE, pass); pass++)
		p = large_alloc(n * KS_PAGE_SIZE, 0, true);
	return p;
}

void kpages_free(void *ptr, size_t n)
{
	uintptr_t p = (uintptr_t)ptr;
	if (!ptr)
		return;
	struct mspan *s = ks_span_of_live("kpages_free", p);
	if (ks_unlikely(!s->manual))
		bad_free("kpages_free", p, s, "block is not from kpages_alloc");
	if (ks_unlikely(p != s->base))
		bad_free("kpages_free", p, s, "pointer is not the block's start");
	if (ks_unlikely(n != s->npages))
		ks_panic("kpages_free(%p, %lu): block has %lu pages", ptr,
		         (unsigned long)n, (unsigned long)s->npages);
	large_free(s);
}

static void drain_slot(int cpu)
{
	if (cpu < KSPAN_MAX_CPUS && mcache_in_use(cpu)) {
		struct mcache *c = ks_mcache_real[cpu];
		ks_gc_drain_cpu(c);
		mcache_drain(c, true);
	}
}

/* This CPU's slot and, where the platform gives interrupt handlers slots
 * of their own, its interrupt slot: with interrupts off here, none of
 * this CPU's handlers can be using it. */
void ks_drain_cpu_caches(void)
{
	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	drain_slot(cpu);
#if KSPAN_OWN_SLOTS
	if ((int)ks_plat_own_slot() == cpu)
		drain_slot((int)ks_plat_irq_slot((unsigned)cpu));
#endif
	ks_plat_irq_restore(st);
}

void kspan_drain_cpu(void)
{
	ks_drain_cpu_caches();
	mcentral_release_empty();
}

/* Every allocator lock in lock order (lib/spinlock.h): the collector's,
 * the central lists, the heap, the guarded pool, the metadata pools. */
static void for_each_lock(void (*fn)(struct ks_spinlock *))
{
	ks_gc_for_each_lock(fn);
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		fn(&ks_mcentral[sc].lock);
#if KSPAN_GC
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		fn(&ks_gccentral[sc].lock);
#endif
	fn(&ks_mheap.lock);
	fn(ks_guard_lock());
	fn(ks_meta_lock());
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
	mcentral_release_empty();
	return mheap_scavenge(0) << KS_PAGE_SHIFT;
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
	struct kmem_cache *k = ks_slab_cache_of((uintptr_t)p);
	if (k)
		return ks_slab_ksize(k, (uintptr_t)p, fn);
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

/* kmalloc and kfree inline their fast paths (mm/malloc.h) where there is
 * no debug heap, which wants the call site. */
void *kmalloc(size_t size)
{
#if KSPAN_DEBUG_HEAP
	return kspan_malloc_as(size, "kmalloc", RET_ADDR);
#else
	return malloc_raw(size);
#endif
}

void kfree(void *p)
{
#if KSPAN_DEBUG_HEAP
	kspan_free_as(p, "kfree", RET_ADDR);
#else
	free_raw(p);
#endif
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

/* ---- the rest of the kmalloc family ------------------------------------- */

void *kmalloc_array(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return kspan_malloc_as(total, "kmalloc_array", RET_ADDR);
}

void *krealloc_array(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	return kspan_realloc_as(p, total, "krealloc_array", RET_ADDR);
}

static void *dup_as(const void *src, size_t len, size_t alloc, const char *fn, void *site)
{
	char *q = kspan_malloc_as(alloc, fn, site);
	if (!q)
		return NULL;
	__builtin_memcpy(q, src, len);
	if (alloc > len)
		q[len] = 0;
	return q;
}

static size_t str_len(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

char *kstrdup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = str_len(s, SIZE_MAX - 1);
	return dup_as(s, n, n + 1, "kstrdup", RET_ADDR);
}

char *kstrndup(const char *s, size_t max)
{
	if (!s)
		return NULL;
	size_t n = str_len(s, max < SIZE_MAX ? max : SIZE_MAX - 1);
	return dup_as(s, n, n + 1, "kstrndup", RET_ADDR);
}

void *kmemdup(const void *p, size_t len)
{
	if (!p)
		return NULL;
	return dup_as(p, len, len, "kmemdup", RET_ADDR);
}
