/*
 * kspan object caches (Bonwick's slab allocator, Linux's kmem_cache).
 *
 * A cache holds objects of one exact size (rounded only to its
 * alignment) in spans of its own, served by the same per-CPU fast path as
 * kmalloc: no lock and no atomic when the CPU's cache has an object or
 * owns the object's span.  See mm/slab.c for the design.
 *
 *   kmem_cache_create   NULL when out of memory, out of cache slots
 *                       (KSPAN_SLAB_MAX_CACHES live caches) or given a bad
 *                       size or alignment, unless KSPAN_SLAB_PANIC: then it
 *                       stops with a message.  name is copied (up to 31
 *                       bytes).  align 0 means 8; otherwise a power of two
 *                       up to KSPAN_PAGE_SIZE.  size 1 .. KSPAN_SLAB_MAX_SIZE.
 *   ctor                runs once per object, when the span holding it is
 *                       carved (interrupts off, no kspan lock held: it may
 *                       call kmalloc, not this cache).  Objects go back to
 *                       the cache in their constructed state and are not
 *                       constructed again on reuse.
 *   kmem_cache_zalloc   a zeroed object; on a cache with a ctor it is an
 *                       error (the message names the cache).
 *   kmem_cache_free     c must be the object's cache: a wrong cache, a
 *                       kmalloc object, a double free or an interior
 *                       pointer stops with a message naming the address
 *                       and both caches (or the cache and "kmalloc").
 *                       NULL does nothing.
 *   kfree(obj)          works for a cache object, as in Linux since 6.4:
 *                       the object's span names its cache.
 *   kmem_cache_alloc_bulk  n objects into out[0..n): n, or 0 and nothing
 *                       allocated.
 *   kmem_cache_shrink   give the empty spans this CPU and the cache's
 *                       central lists hold back to the page heap now;
 *                       returns the bytes given back.  (Other CPUs give
 *                       theirs back when they drain.)
 *   kmem_cache_destroy  the cache must not be in use on any CPU, and every
 *                       object must have been freed, the frees of other
 *                       CPUs delivered (a CPU sends its frees of objects
 *                       whose spans another CPU holds in batches, at its
 *                       next slow path or kspan_drain_cpu; a host thread's
 *                       exit drains).  Live objects are a bug: each is
 *                       printed (with its allocation site where the cache
 *                       keeps one), up to KSPAN_SLAB_LEAK_REPORT of them,
 *                       then kspan stops, as SLUB's "objects remaining"
 *                       report does.  An empty cache gives every span back.
 *                       NULL does nothing.
 *
 * Flags:
 *   KSPAN_SLAB_HWCACHE_ALIGN  objects aligned to (and sized in steps of)
 *                             64 bytes, the cache line
 *   KSPAN_SLAB_POISON         free objects are filled with 0xDB and checked
 *                             when handed out: a write after free stops
 *                             with "use-after-free write" (not on a cache
 *                             with a ctor, whose free objects hold their
 *                             constructed state, as in SLUB)
 *   KSPAN_SLAB_RED_ZONE       a red zone after each object (and its
 *                             allocation site), checked on free and when a
 *                             neighbour is allocated or freed: a write past
 *                             the end stops with "heap overflow"
 *   KSPAN_SLAB_PANIC          stop with a message instead of returning NULL
 *                             from kmem_cache_create
 * POISON and RED_ZONE work in every build (slub_debug=PZ,<cache>); such a
 * cache is served under its central lock, not from the per-CPU fast path.
 * The debug heap (DEBUG=1) sets both on every cache.
 *
 * Every function may be called on any CPU, from interrupt handlers too,
 * except kmem_cache_create and kmem_cache_destroy (not from interrupt
 * handlers: destroy walks every CPU's caches).
 */
#ifndef KSPAN_SLAB_H
#define KSPAN_SLAB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KSPAN_SLAB_HWCACHE_ALIGN 0x1u
#define KSPAN_SLAB_POISON        0x2u
#define KSPAN_SLAB_RED_ZONE      0x4u
#define KSPAN_SLAB_PANIC         0x8u

#define KSPAN_SLAB_MAX_CACHES 128      /* live caches at once */
#define KSPAN_SLAB_MAX_SIZE   32768    /* largest object */
#define KSPAN_SLAB_LEAK_REPORT 16      /* leaked objects destroy prints */

struct kmem_cache;
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
                                     unsigned flags, void (*ctor)(void *obj));
void  *kmem_cache_alloc(struct kmem_cache *c);
void  *kmem_cache_zalloc(struct kmem_cache *c);
void   kmem_cache_free(struct kmem_cache *c, void *obj);
size_t kmem_cache_alloc_bulk(struct kmem_cache *c, size_t n, void **out);  /* n, or 0 and nothing allocated */
void   kmem_cache_free_bulk(struct kmem_cache *c, size_t n, void **objs);
size_t kmem_cache_shrink(struct kmem_cache *c);                              /* bytes given back */
void   kmem_cache_destroy(struct kmem_cache *c);
size_t kmem_cache_size(const struct kmem_cache *c);                          /* object size */

/* slabinfo: one cache's figures (a snapshot while other CPUs use it). */
struct kspan_slab_stats {
	char name[32];
	uint64_t active_objs;     /* allocated, not freed */
	uint64_t total_objs;      /* objects of its spans */
	uint32_t objsize;         /* the size asked for */
	uint32_t elemsize;        /* bytes per object in the span (alignment,
	                             red zone, a constructed cache's tag word) */
	uint32_t objs_per_span;
	uint32_t pages_per_span;
	uint64_t spans;
	uint64_t bytes;           /* of those spans */
	uint64_t fast_allocs;     /* objects the per-CPU words gave the fast
	                             path (counted per word, on slow paths) */
	uint64_t slow_allocs;     /* allocations that missed the fast path */
	uint32_t flags;           /* KSPAN_SLAB_* the cache has */
	uint32_t ctor;            /* 1 if it has a constructor */
};
/* The figures of every live cache, up to max of them into out; returns
 * how many caches there are. */
size_t kspan_slab_stats(struct kspan_slab_stats *out, size_t max);
/* The figures of cache c. */
void   kmem_cache_stats(const struct kmem_cache *c, struct kspan_slab_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* KSPAN_SLAB_H */
