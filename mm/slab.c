/*
 * Object caches: Bonwick's slab allocator (USENIX 1994), Linux's
 * kmem_cache, on kspan's spans and per-CPU caches (include/kspan/slab.h).
 *
 * See mm/malloc.c for the overview.
 *
 * A cache is a class of its own beyond the kmalloc size classes: cache
 * slot i is class KS_NUM_SIZE_CLASSES + i of every CPU's cache front
 * (mcache_front.bycls), with a central of its own (struct kmem_cache's
 * central: elemsize, npages, nelems), so the per-CPU machinery of kmalloc
 * serves it unchanged: a CPU's class of the cache owns spans, allocation
 * takes the lowest set bit of its word, a free into an owned span sets a
 * bit, other frees queue, go to the owner in batches or to the central
 * lists.  A CPU's class of a cache (a struct mcache_class from class_pool)
 * is made on its first allocation from the cache; until then its front
 * entry is ks_class_empty, where every allocation misses.
 *
 *   Geometry.  elemsize = the size rounded up to the alignment (8 at
 *   least); a cache with a constructor gets one word more, where a free
 *   object keeps its first word while a queue tag or link sits there
 *   (mcentral.saveoff: SLUB moves its free pointer out of constructed
 *   objects the same way); a red zone adds KS_RZ bytes.  A span holds a
 *   batch (ks_span_batch, as the size classes' spans) and its tail waste
 *   is 1/8 or less: from the fewest pages that hold a batch, the fewest
 *   (of the next 8) with 1/32 or less, else the least waste of those 8,
 *   else the fewest pages with 1/8 (span_pages).
 *   Constructors run once per object when mcentral carves its span
 *   (ks_slab_carved); objects come back constructed and are handed out
 *   again as they are.
 *   Checked caches (KSPAN_SLAB_POISON, KSPAN_SLAB_RED_ZONE, or every cache
 *   in the debug heap) never get a CPU class: every allocation and free
 *   takes the central lock (mcentral_alloc_object, mcentral_free_objects)
 *   and runs the debug heap's checks (mm/debugheap.c, ks_rz_*), so kfree,
 *   which finds the cache through the span, checks them too.
 *   kfree of a cache object works: the span names its central, and
 *   central.cache the cache.
 *
 * Invariants: a cache's spans all have central == &cache->central and
 * spanclass 0; every CPU front entry of a cache slot is ks_class_empty or
 * that CPU's class of the live cache in the slot (whose central is the
 * cache's); a checked cache has no CPU class.
 *
 * Destroy: with slab_lock held (the CPUs' drains of their cache classes
 * take it too, so no CPU drains while it runs) every CPU's class of the
 * cache gives its spans back, then its queued frees, then goes back to
 * class_pool; the cache's slot is free again.  Objects still allocated in
 * its spans are leaks (reported, then kspan stops), except those that
 * carry the queue tag: frees on their way to a CPU (a batch); the cache
 * then stays as a zombie, its spans going back as those frees land, and
 * its struct is reused once it has no span left.
 *
 * Locks: slab_lock (KS_RANK_SLAB) over the registry, destroy and drains;
 * then the caches' central locks (KS_RANK_CENTRAL), as kmalloc's.
 */
#include <kspan/kmalloc.h>
#include <kspan/platform.h>
#include <kspan/slab.h>

#include "lib/bits.h"
#include "lib/check.h"
#include "lib/spinlock.h"
#include "mm/arena.h"
#include "mm/debugheap.h"
#include "mm/guard.h"
#include "mm/malloc.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/meta.h"
#include "mm/mremote.h"
#include "mm/slab.h"
#include "mm/reclaim.h"

#define RET_ADDR __builtin_return_address(0)
#define MAX_SPAN_PAGES 255               /* mcentral.npages is 8 bits */
#define HWCACHE 64

_Static_assert(__builtin_offsetof(struct kmem_cache, central) == 0,
               "kmem_cache_free compares a span's central with the cache");

static struct ks_spinlock slab_lock = KS_SPINLOCK_INIT("slab", KS_RANK_SLAB);
static struct kmem_cache *slab_registry[KSPAN_SLAB_MAX_CACHES];   /* kspan-gdb.py reads it */
static struct kmem_cache *zombies;
static unsigned ncaches;
static struct fixalloc cache_pool;       /* struct kmem_cache */
static struct fixalloc class_pool;       /* CPUs' classes of caches */
static uint64_t key_seq;                 /* keys of spans carved under a lock */
static bool slab_ready;

int ks_slab_init(void)
{
	if (meta_pool_init(&cache_pool, sizeof(struct kmem_cache),
	                   4 * KSPAN_SLAB_MAX_CACHES) != 0 ||
	    meta_pool_init(&class_pool, sizeof(struct mcache_class),
	                   (size_t)KSPAN_SLAB_MAX_CACHES * KSPAN_MAX_CPUS) != 0)
		return -1;
	slab_ready = true;
	return 0;
}

const char *ks_slab_name(const struct kmem_cache *k)
{
	return k->name;
}

static uint8_t next_key(void)
{
	return (uint8_t)ks_mix64(__atomic_add_fetch(&key_seq, 1, __ATOMIC_RELAXED));
}

static bool same_str(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* The functions whose report names a cache makes at create (k->who). */
static const char *const who_fns[] = { "kmem_cache_alloc", "kmem_cache_free", "kfree" };
_Static_assert(sizeof(who_fns) / sizeof(who_fns[0]) ==
               sizeof(((struct kmem_cache *)0)->who) / sizeof(((struct kmem_cache *)0)->who[0]),
               "one report name per function");

/* "cache \"name\": fn", the function a debug report names: made once
 * for the usual functions (every checked allocation and free would
 * otherwise format it), in buf for others (krealloc, kfree_bulk). */
static const char *report_fn(char *buf, size_t cap, const char *fn,
                             const struct kmem_cache *k)
{
	for (unsigned i = 0; i < sizeof(who_fns) / sizeof(who_fns[0]); i++)
		if (same_str(fn, who_fns[i]))
			return k->who[i];
	ks_snprintf(buf, cap, "cache \"%s\": %s", k->name, fn);
	return buf;
}

/* ---- create ---------------------------------------------------------------- */

/* Tail waste of n-page spans of elem-byte objects, in bytes; UINTPTR_MAX
 * when none fits or too many would (the free bits' bound). */
static uintptr_t waste_of(uint32_t n, uint32_t elem)
{
	uintptr_t bytes = (uintptr_t)n * KS_PAGE_SIZE, nelems = bytes / elem;
	if (nelems == 0 || nelems > KS_MAX_OBJS_PER_SPAN)
		return UINTPTR_MAX;
	return bytes - nelems * elem;
}

/* Is the waste of n-page spans at most 1/div of the span? */
static bool waste_within(uint32_t n, uint32_t elem, uintptr_t div)
{
	uintptr_t w = waste_of(n, elem);
	return w != UINTPTR_MAX && w * div <= (uintptr_t)n * KS_PAGE_SIZE;
}

/* Pages per span for elemsize-byte objects, from first, the fewest that
 * hold a batch (ks_span_batch): the fewest of GOOD_PAGES from there whose
 * tail waste is 1/32 or less, else the one of those with the least waste
 * if it is 1/8 or less (a bigger span for a big object that packs badly:
 * 2752-byte tasks lose 33% of one page, 3.4% of eight), else the fewest
 * with 1/8 or less; 0 if none fits. */
#define GOOD_PAGES 8
static uint32_t span_pages(uint32_t elem)
{
	uint32_t best = 0;
	uint32_t first = (uint32_t)(((uintptr_t)ks_span_batch(elem) * elem + KS_PAGE_SIZE - 1) /
	                            KS_PAGE_SIZE);
	for (uint32_t n = first; n < first + GOOD_PAGES && n <= MAX_SPAN_PAGES; n++) {
		if (waste_within(n, elem, 32))
			return n;
		/* Less waste per byte of span: w/n < wb/best. */
		uintptr_t w = waste_of(n, elem);
		if (w != UINTPTR_MAX &&
		    (!best || w * best < waste_of(best, elem) * n))
			best = n;
	}
	if (best && waste_within(best, elem, 8))
		return best;
	for (uint32_t n = first + GOOD_PAGES; n <= MAX_SPAN_PAGES; n++)
		if (waste_within(n, elem, 8))
			return n;
	return 0;
}

static uintptr_t round_up(uintptr_t x, uintptr_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Reap zombies without spans.  slab_lock held. */
static void reap_zombies(void)
{
	for (struct kmem_cache **pk = &zombies; *pk;) {
		struct kmem_cache *z = *pk;
		ks_spin_lock(&z->central.lock);
		uint64_t n = z->central.nspans;
		ks_spin_unlock(&z->central.lock);
		if (n) {
			pk = &z->next;
			continue;
		}
		*pk = z->next;
		meta_free(&cache_pool, z);
	}
}

static const char *setup(struct kmem_cache *k, const char *name, size_t size,
                         size_t align, unsigned flags, void (*ctor)(void *))
{
	if (size == 0 || size > KSPAN_SLAB_MAX_SIZE)
		return "size out of range (1 to KSPAN_SLAB_MAX_SIZE bytes)";
	if (align & (align - 1))
		return "alignment is not a power of two";
	if (align > KS_PAGE_SIZE)
		return "alignment above the page size";
	if (flags & ~(KSPAN_SLAB_HWCACHE_ALIGN | KSPAN_SLAB_POISON |
	              KSPAN_SLAB_RED_ZONE | KSPAN_SLAB_PANIC))
		return "unknown flags";
	if (align < 8)
		align = 8;
	if ((flags & KSPAN_SLAB_HWCACHE_ALIGN) && align < HWCACHE)
		align = HWCACHE;
	k->size = (uint32_t)size;
	k->align = (uint32_t)align;
	k->flags = flags;
	k->ctor = ctor;
	k->redzone = (flags & KSPAN_SLAB_RED_ZONE) || KSPAN_DEBUG_HEAP;
	/* Constructed objects keep their state while free: no poison. */
	k->poison = ((flags & KSPAN_SLAB_POISON) || KSPAN_DEBUG_HEAP) && !ctor;
	k->checked = k->redzone || k->poison;
	uintptr_t elem = size, saveoff = 0;
	if (k->redzone)
		elem = size + KS_RZ;
	else if (ctor) {
		saveoff = round_up(size, 8);
		elem = saveoff + 8;
	}
	elem = round_up(elem, align);
	uint32_t npages = span_pages((uint32_t)elem);
	if (!npages)
		return "no span size fits the object";
	mcentral_init_class(&k->central, "kmem_cache", (uint32_t)elem, (uint8_t)npages, 0, false);
	k->central.cache = k;
	k->central.saveoff = (uint32_t)saveoff;
	k->dying = 0;
	k->locked_allocs = 0;
	k->next = NULL;
	ks_snprintf(k->name, sizeof(k->name), "%s", name ? name : "?");
	for (unsigned i = 0; i < sizeof(who_fns) / sizeof(who_fns[0]); i++)
		ks_snprintf(k->who[i], sizeof(k->who[i]), "cache \"%s\": %s", k->name, who_fns[i]);
	return NULL;
}

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     unsigned flags, void (*ctor)(void *obj))
{
	const char *why = NULL;
	struct kmem_cache *k = slab_ready ? meta_alloc(&cache_pool) : NULL;
	if (!k)
		why = slab_ready ? "out of memory" : "kspan_init was not called";
	if (k && !(why = setup(k, name, size, align, flags, ctor))) {
		ks_irqstate_t st = ks_spin_lock_irqsave(&slab_lock);
		reap_zombies();
		why = "no cache slot left (KSPAN_SLAB_MAX_CACHES)";
		for (uint32_t id = 0; id < KSPAN_SLAB_MAX_CACHES; id++)
			if (!slab_registry[id]) {
				k->id = id;
				k->cls = KS_NUM_SIZE_CLASSES + id;
				__atomic_store_n(&slab_registry[id], k, __ATOMIC_RELEASE);
				ncaches++;
				why = NULL;
				break;
			}
		ks_spin_unlock_irqrestore(&slab_lock, st);
	}
	if (!why)
		return k;
	if (k)
		meta_free(&cache_pool, k);
	if (flags & KSPAN_SLAB_PANIC)
		ks_panic("kmem_cache_create(\"%s\", %lu, %lu): %s", name ? name : "?",
		         (unsigned long)size, (unsigned long)align, why);
	return NULL;
}

size_t kmem_cache_size(const struct kmem_cache *k)
{
	return k->size;
}

/* ---- carving ------------------------------------------------------------------ */

void ks_slab_carved(struct kmem_cache *k, struct mspan *s)
{
	KS_ASSERT(s->central == &k->central && s->spanclass == 0 &&
	          s->elemsize == k->central.elemsize && s->owner == KS_NO_OWNER);
	for (uintptr_t p = s->base; p < s->base + s->limit; p += s->elemsize) {
		if (k->checked)
			ks_rz_carve((uint8_t *)p, s->elemsize, k->poison, k->redzone);
		if (k->ctor)
			k->ctor((void *)p);
	}
}

/* ---- allocation ---------------------------------------------------------------- */

/* CPU c's class of k, made on first use; NULL without memory.
 * Interrupts off, c this CPU's. */
static struct mcache_class *class_get(struct mcache *c, struct kmem_cache *k)
{
	struct mcache_class *pc = c->front.bycls[k->cls];
	if (ks_likely(pc != &ks_class_empty))
		return pc;
	pc = meta_alloc(&class_pool);
	if (!pc)
		return NULL;
	mcache_class_init(pc, &k->central, c->cpu);
	__atomic_store_n(&c->front.bycls[k->cls], pc, __ATOMIC_RELEASE);
	return pc;
}

struct mcache_class *ks_slab_class_of(struct mcache *c, const struct kmem_cache *k)
{
	struct mcache_class *pc = __atomic_load_n(&c->front.bycls[k->cls], __ATOMIC_ACQUIRE);
	if (pc == &ks_class_empty)
		return NULL;
	KS_ASSERT(pc->central == &k->central);
	return pc;
}

/* Under the central lock (a checked cache, or no per-CPU cache). */
static void *alloc_locked(struct kmem_cache *k, void *site, const char *fn)
{
	void *p = mcentral_alloc_object(&k->central, next_key());
	if (!p)
		return NULL;
	__atomic_fetch_add(&k->locked_allocs, 1, __ATOMIC_RELAXED);
	if (k->checked) {
		char buf[64];
		ks_rz_alloc(report_fn(buf, sizeof(buf), fn, k), spanof((uintptr_t)p),
		            p, k->size, site, k->poison, k->redzone);
	}
	return p;
}

/* site: the allocation's call site.  The debug heap passes it; otherwise
 * (so that the fast path does not read it) it is this function's return
 * address, kmem_cache_alloc's caller where alloc_as tail-calls this, as
 * -O2 builds do. */
static void *alloc_slow_once(struct kmem_cache *k, void *site)
{
	if (k->checked)
		return alloc_locked(k, site, "kmem_cache_alloc");
	ks_irqstate_t st = ks_plat_irq_save();
	struct mcache *c = mcache_get((int)ks_plat_cpu_id());
	struct mcache_class *pc = c ? class_get(c, k) : NULL;
	void *p = pc ? mcache_alloc_slow(c, pc) : NULL;
	ks_plat_irq_restore(st);
	if (!pc)
		p = alloc_locked(k, site, "kmem_cache_alloc");
	return p;
}

/* The slow path, and when it finds no memory the reclaim (mm/reclaim.c:
 * every CPU's cache, shrinkers, the collector, scavenging) and one more
 * try. */
__attribute__((noinline))
static void *alloc_slow(struct kmem_cache *k, void *site)
{
	if (!site)
		site = RET_ADDR;
	void *p = alloc_slow_once(k, site);
	for (unsigned pass = 0; ks_unlikely(!p) && ks_reclaim(k->size, pass); pass++)
		p = alloc_slow_once(k, site);
	return p;
}

/* The fast path: the cache's class in this CPU's front, its word's lowest
 * set bit (mcache_pop), as kmalloc's without the size lookup. */
static inline __attribute__((always_inline)) void *alloc_as(struct kmem_cache *k)
{
	void *p;
	ks_irqstate_t st = mcache_fast_enter();
	bool hit = mcache_pop(ks_mcache_of[mcache_fast_slot()]->bycls[k->cls], &p);
	mcache_fast_exit(st);
	if (ks_likely(hit))
		return p;
	return alloc_slow(k, KSPAN_DEBUG_HEAP ? RET_ADDR : NULL);
}

void *kmem_cache_alloc(struct kmem_cache *k)
{
	return alloc_as(k);
}

void *kmem_cache_zalloc(struct kmem_cache *k)
{
	KS_CHECK(!k->ctor, "kmem_cache_zalloc(cache \"%s\"): the cache has a "
	         "constructor: its objects keep their constructed state, and "
	         "zeroing one would destroy it (use kmem_cache_alloc)", k->name);
	void *p = alloc_as(k);
	if (p)
		__builtin_memset(p, 0, k->size);
	return p;
}

/* ---- free ------------------------------------------------------------------------ */

/* Free object p of span s of checked cache k: its checks, then its bit
 * under the central lock. */
static void free_checked(struct kmem_cache *k, struct mspan *s, uintptr_t p,
                         uint32_t idx, const char *fn)
{
	char buf[64];
	const char *rfn = report_fn(buf, sizeof(buf), fn, k);
	KS_CHECK(!mspan_obj_is_free(s, idx), "%s(%p): double free (object already "
	         "free) in span %p [%p-%p) size %u", rfn, (void *)p, (void *)s,
	         (void *)s->base, (void *)mspan_end(s), (unsigned)s->elemsize);
	ks_rz_free(rfn, s, (uint8_t *)p, k->poison, k->redzone);
	void *one = (void *)p, *fwd;
	unsigned nfwd;
	ks_irqstate_t st = ks_plat_irq_save();
	mcentral_free_objects(&k->central, &one, 1, INT32_MIN, &fwd, &nfwd);   /* no CPU */
	ks_plat_irq_restore(st);
}

bool ks_slab_free_checked(struct kmem_cache *k, struct mspan *s, uintptr_t p,
                          const char *fn, void *site)
{
	(void)site;
	if (!k->checked)
		return false;
	bool exact;
	free_checked(k, s, p, (uint32_t)mspan_index(s, p - s->base, &exact), fn);
	return true;
}

struct kmem_cache *ks_slab_cache_of(uintptr_t p)
{
	struct mspan *s = spanof(p);
	if (!s || s->state != MSPAN_INUSE || !s->central || p < s->base ||
	    p >= mspan_end(s))
		return NULL;
	return s->central->cache;
}

void ks_slab_kfree(struct kmem_cache *k, void *ptr, const char *fn, void *site)
{
	uintptr_t p = (uintptr_t)ptr;
	struct mspan *s = ks_span_of_live(fn, p);
	uint32_t idx = ks_object_index(fn, s, p);
	if (!ks_slab_free_checked(k, s, p, fn, site))
		ks_free_small(s, p, idx, fn);
}

size_t ks_slab_ksize(struct kmem_cache *k, uintptr_t p, const char *fn)
{
	struct mspan *s = ks_span_of_live(fn, p);
	uint32_t idx = ks_object_index(fn, s, p);
	KS_CHECK(!mspan_obj_is_free(s, idx), "%s(%p): object is free (use after "
	         "free or double free?) in span %p [%p-%p) of cache \"%s\"", fn,
	         (void *)p, (void *)s, (void *)s->base, (void *)mspan_end(s), k->name);
	return k->checked ? k->size : s->elemsize;
}

/* Everything kmem_cache_free's fast path does not take: NULL, another
 * CPU's or no CPU's span, a checked cache, and every misuse. */
__attribute__((noinline))
static void free_slow(struct kmem_cache *k, void *ptr)
{
	void *site = RET_ADDR;   /* as alloc_slow's */
	static const char fn[] = "kmem_cache_free";
	uintptr_t p = (uintptr_t)ptr;
	if (!ptr)
		return;
	if (ks_guard_owns(p))
		ks_panic("%s(%p): object is from kmalloc (kmalloc_guarded), not from "
		         "cache \"%s\"", fn, ptr, k->name);
	struct mspan *s = spanof(p);
	if (!s || s->state != MSPAN_INUSE || p < s->base || p >= mspan_end(s))
		ks_panic("%s(%p): not an object of cache \"%s\": %s", fn, ptr, k->name,
		         !s ? "pointer is not in the heap"
		            : "page is not in use (freed or never allocated)");
	if (ks_unlikely(s->central != &k->central)) {
		if (s->central && s->central->cache)
			ks_panic("%s(%p): object of cache \"%s\" freed to cache \"%s\"",
			         fn, ptr, s->central->cache->name, k->name);
		ks_panic("%s(%p): object is from %s, not from cache \"%s\"", fn, ptr,
		         s->gc ? "the collector (kgc_alloc)" :
		         s->manual ? "kpages_alloc" : "kmalloc", k->name);
	}
	uint32_t idx = ks_object_index(fn, s, p);
	if (!ks_slab_free_checked(k, s, p, fn, site))
		ks_free_small(s, p, idx, fn);
}

static inline __attribute__((always_inline)) void free_as(struct kmem_cache *k, void *p)
{
	if (ks_likely(ks_free_fast_in(p, true, &k->central)))
		return;
	free_slow(k, p);
}

void kmem_cache_free(struct kmem_cache *k, void *p)
{
	free_as(k, p);
}

/* ---- bulk ------------------------------------------------------------------------- */

size_t kmem_cache_alloc_bulk(struct kmem_cache *k, size_t n, void **out)
{
	for (size_t i = 0; i < n; i++)
		if (!(out[i] = alloc_as(k))) {
			for (size_t j = 0; j < i; j++)
				free_as(k, out[j]);
			return 0;
		}
	return n;
}

void kmem_cache_free_bulk(struct kmem_cache *k, size_t n, void **objs)
{
	for (size_t i = 0; i < n; i++)
		free_as(k, objs[i]);
}

/* ---- drains, shrink, memory pressure -------------------------------------------- */

void ks_slab_drain_cpu(struct mcache *c)
{
	ks_spin_lock(&slab_lock);
	for (unsigned i = KS_NUM_SIZE_CLASSES; i < KS_NUM_FRONT_CLASSES; i++) {
		struct mcache_class *pc = c->front.bycls[i];
		if (pc != &ks_class_empty)
			mcache_class_drain(c, pc);
	}
	ks_spin_unlock(&slab_lock);
}

bool ks_slab_cpu_holds(const struct mcache *c)
{
	for (unsigned i = KS_NUM_SIZE_CLASSES; i < KS_NUM_FRONT_CLASSES; i++) {
		const struct mcache_class *pc = c->front.bycls[i];
		if (pc->nqueued || pc->cur || pc->partial)
			return true;
	}
	return false;
}

static uint64_t central_pages(struct mcentral *m)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&m->lock);
	uint64_t n = m->nspans * m->npages;
	ks_spin_unlock_irqrestore(&m->lock, st);
	return n;
}

size_t kmem_cache_shrink(struct kmem_cache *k)
{
	uint64_t before = central_pages(&k->central);
	ks_irqstate_t st = ks_plat_irq_save();
	int cpu = (int)ks_plat_cpu_id();
	struct mcache *c = mcache_in_use(cpu) ? ks_mcache_real[cpu] : NULL;
	struct mcache_class *pc = c ? ks_slab_class_of(c, k) : NULL;
	if (pc)
		mcache_class_drain(c, pc);
	ks_plat_irq_restore(st);
	mcentral_release_empty_one(&k->central);
	uint64_t after = central_pages(&k->central);
	return before > after ? (size_t)((before - after) << KS_PAGE_SHIFT) : 0;
}

uintptr_t ks_slab_release_empty(void)
{
	uintptr_t pages = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&slab_lock);
	for (unsigned id = 0; id < KSPAN_SLAB_MAX_CACHES; id++)
		if (slab_registry[id])
			pages += mcentral_release_empty_one(&slab_registry[id]->central);
	ks_spin_unlock_irqrestore(&slab_lock, st);
	return pages;
}

/* ---- destroy ------------------------------------------------------------------------ */

struct leaks {
	uint64_t n, in_flight;
	unsigned shown;
	uintptr_t obj[KSPAN_SLAB_LEAK_REPORT];
	void *site[KSPAN_SLAB_LEAK_REPORT];
};

/* The allocated objects of the spans on one central list.  Lock held. */
static void scan_list(const struct kmem_cache *k, const struct mspan *s, struct leaks *l)
{
	for (; s; s = s->next)
		for (uint32_t i = 0; i < s->nelems; i++) {
			if (mspan_obj_is_free(s, i))
				continue;
			uintptr_t p = s->base + (uintptr_t)i * s->elemsize;
			if (!k->checked && *(uintptr_t *)p == ks_queue_secret) {
				l->in_flight++;   /* a free on its way to a CPU */
				continue;
			}
			if (l->shown < KSPAN_SLAB_LEAK_REPORT) {
				l->obj[l->shown] = p;
				l->site[l->shown++] = k->redzone ? ks_rz_site((const uint8_t *)p, s->elemsize)
				                                 : NULL;
			}
			l->n++;
		}
}

void kmem_cache_destroy(struct kmem_cache *k)
{
	if (!k)
		return;
	ks_irqstate_t st = ks_plat_irq_save();
	/* This CPU's own frees on their way go now, and those sent here land. */
	int me = (int)ks_plat_cpu_id();
	if (mcache_in_use(me)) {
		remote_receive(ks_mcache_real[me]);
		remote_send_all(ks_mcache_real[me]);
	}
	ks_spin_lock(&slab_lock);
	KS_CHECK(k->id < KSPAN_SLAB_MAX_CACHES && slab_registry[k->id] == k && !k->dying,
	         "kmem_cache_destroy(%p): not a live cache (destroyed twice?)", (void *)k);
	k->dying = 1;
	ks_spin_lock(&k->central.lock);
	k->central.dead = 1;   /* no reserve: empty spans go to the heap */
	ks_spin_unlock(&k->central.lock);
	/* Every CPU's class gives its spans back, then (no CPU owning one of
	 * them now) its queued frees; then the class goes. */
	for (int pass = 0; pass < 3; pass++)
		for (int cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++) {
			struct mcache *c = __atomic_load_n(&ks_mcache_real[cpu], __ATOMIC_ACQUIRE);
			struct mcache_class *pc = c ? ks_slab_class_of(c, k) : NULL;
			if (!pc)
				continue;
			if (pass == 0) {
				mcache_class_reclaim_spans(pc);
			} else if (pass == 1) {
				mcache_class_reclaim_queue(pc);
			} else {
				__atomic_store_n(&c->front.bycls[k->cls], &ks_class_empty,
				                 __ATOMIC_RELEASE);
				meta_free(&class_pool, pc);
			}
		}
	slab_registry[k->id] = NULL;
	ncaches--;
	ks_spin_unlock(&slab_lock);

	struct leaks mine = { 0 };
	ks_spin_lock(&k->central.lock);
	scan_list(k, k->central.partial, &mine);
	scan_list(k, k->central.full, &mine);
	ks_spin_unlock(&k->central.lock);
	ks_plat_irq_restore(st);
	if (mine.n) {
		for (unsigned i = 0; i < mine.shown; i++)
			if (mine.site[i])
				ks_printf("kmem_cache_destroy(\"%s\"): object %p remaining, "
				          "allocated at %p\n", k->name, (void *)mine.obj[i],
				          mine.site[i]);
			else
				ks_printf("kmem_cache_destroy(\"%s\"): object %p remaining\n",
				          k->name, (void *)mine.obj[i]);
		ks_panic("kmem_cache_destroy(\"%s\"): %lu objects remaining (%u shown); "
		         "the cache is still in use", k->name, (unsigned long)mine.n,
		         mine.shown);
	}
	mcentral_release_empty_one(&k->central);
	st = ks_spin_lock_irqsave(&slab_lock);
	if (mine.in_flight) {
		k->next = zombies;      /* its last frees land later */
		zombies = k;
	} else {
		KS_ASSERT(k->central.nspans == 0);
		meta_free(&cache_pool, k);
	}
	ks_spin_unlock_irqrestore(&slab_lock, st);
}

/* ---- statistics -------------------------------------------------------------------- */

struct span_sums {
	const struct mcentral *central;
	uint64_t active, spans;
};

static void sum_span(const struct mspan *s, void *arg)
{
	struct span_sums *ss = arg;
	if (s->state != MSPAN_INUSE || s->central != ss->central)
		return;
	uint32_t nfree = 0;
	for (unsigned w = 0; w < s->nwords; w++)
		nfree += ks_popcount64(mspan_free_word(s, w));
	ss->active += s->nelems - nfree;
	ss->spans++;
}

void kmem_cache_stats(const struct kmem_cache *k, struct kspan_slab_stats *o)
{
	*o = (struct kspan_slab_stats){ 0 };
	ks_snprintf(o->name, sizeof(o->name), "%s", k->name);
	o->objsize = k->size;
	o->elemsize = k->central.elemsize;
	o->objs_per_span = k->central.nelems;
	o->pages_per_span = k->central.npages;
	o->flags = k->flags | (k->poison ? KSPAN_SLAB_POISON : 0) |
	           (k->redzone ? KSPAN_SLAB_RED_ZONE : 0);
	o->ctor = k->ctor != NULL;
	struct span_sums ss = { &k->central, 0, 0 };
	ks_each_span(sum_span, &ss);
	uint64_t queued = 0, fast = 0, slow = __atomic_load_n(&k->locked_allocs, __ATOMIC_RELAXED);
	for (int cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++) {
		struct mcache *c = __atomic_load_n(&ks_mcache_real[cpu], __ATOMIC_ACQUIRE);
		struct mcache_class *pc = c ? ks_slab_class_of(c, k) : NULL;
		if (!pc)
			continue;
		queued += __atomic_load_n(&pc->nqueued, __ATOMIC_RELAXED);
		fast += __atomic_load_n(&pc->nfast, __ATOMIC_RELAXED);
		slow += __atomic_load_n(&pc->nslow, __ATOMIC_RELAXED);
	}
	o->active_objs = ss.active > queued ? ss.active - queued : 0;
	o->spans = ss.spans;
	o->total_objs = ss.spans * k->central.nelems;
	o->bytes = ss.spans * k->central.npages * KS_PAGE_SIZE;
	o->fast_allocs = (int64_t)fast > 0 ? fast : 0;
	o->slow_allocs = slow;
}

size_t kspan_slab_stats(struct kspan_slab_stats *out, size_t max)
{
	size_t n = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&slab_lock);
	for (unsigned id = 0; id < KSPAN_SLAB_MAX_CACHES; id++) {
		struct kmem_cache *k = slab_registry[id];
		if (!k)
			continue;
		if (n < max)
			kmem_cache_stats(k, &out[n]);
		n++;
	}
	ks_spin_unlock_irqrestore(&slab_lock, st);
	return n;
}

void ks_slab_print_stats(void)
{
	struct kspan_slab_stats s;
	bool head = false;
	for (unsigned id = 0; id < KSPAN_SLAB_MAX_CACHES; id++) {
		ks_irqstate_t st = ks_spin_lock_irqsave(&slab_lock);
		struct kmem_cache *k = slab_registry[id];
		if (k)
			kmem_cache_stats(k, &s);
		ks_spin_unlock_irqrestore(&slab_lock, st);
		if (!k)
			continue;
		if (!head) {
			ks_printf("kspan object caches (slabinfo)\n");
			ks_printf("  %-20s %10s %10s %8s %8s %8s %6s %6s\n", "name",
			          "active", "total", "objsize", "elemsize", "objs/span",
			          "pages", "hit%");
			head = true;
		}
		uint64_t all = s.fast_allocs + s.slow_allocs;
		unsigned tenths = all ? (unsigned)(s.fast_allocs * 1000 / all) : 0;
		ks_printf("  %-20s %10lu %10lu %8u %8u %8u %6u %4u.%u%s\n", s.name,
		          (unsigned long)s.active_objs, (unsigned long)s.total_objs,
		          s.objsize, s.elemsize, s.objs_per_span, s.pages_per_span,
		          tenths / 10, tenths % 10,
		          (s.flags & (KSPAN_SLAB_POISON | KSPAN_SLAB_RED_ZONE)) ? " checked" : "");
	}
}

void ks_slab_check(void)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&slab_lock);
	for (unsigned id = 0; id < KSPAN_SLAB_MAX_CACHES; id++)
		if (slab_registry[id]) {
			struct kmem_cache *k = slab_registry[id];
			KS_CHECK(k->id == id && k->cls == KS_NUM_SIZE_CLASSES + id &&
			         k->central.cache == k && !k->dying,
			         "kspan_check: cache \"%s\" in slot %u is inconsistent",
			         k->name, id);
			mcentral_check(&k->central);
		}
	ks_spin_unlock_irqrestore(&slab_lock, st);
}
