/*
 * kspan public allocation API.
 *
 * A tcmalloc / Go-runtime style allocator: per-CPU caches (mcache) over a
 * spinlocked central layer (mcentral) over a page heap (mheap) of 8 KiB
 * pages.  See mm/malloc.c for the design.
 *
 * Guarantees:
 *   - kmalloc(n) returns memory aligned to 16 bytes for n > 8 (8 for n <= 8),
 *     or NULL when n is impossible or memory ran out (the heap stays
 *     consistent).  kmalloc(0) returns a unique minimum-size object.
 *   - kfree(NULL) does nothing.  kfree of anything that is not the start of a
 *     live object (outside the heap, interior pointer, already free, a page
 *     not in use) stops with a message naming the address, the span and what
 *     was wrong.
 *   - Every function may be called on any CPU, from interrupt handlers too.
 */
#ifndef KSPAN_KMALLOC_H
#define KSPAN_KMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KSPAN_PAGE_SHIFT 13
#define KSPAN_PAGE_SIZE  ((size_t)1 << KSPAN_PAGE_SHIFT) /* heap page */
#define KSPAN_MAX_SMALL  32768                          /* largest class */

struct kspan_config {
	/* Address space the heap arena may cover, in bytes.  kspan reserves it
	 * up front (with its spans array and bitmap, Go 1.10 layout) and commits
	 * it as the heap grows.  The kernel passes its usable RAM. */
	size_t arena_bytes;
	/* Free heap pages kept committed before scavenging returns memory to
	 * the platform (bytes).  0 picks a default. */
	size_t scavenge_threshold;
	/* Seed of everything kspan randomises: the object order within spans
	 * and the secrets of queue tags and red-zone trailers.  0: one from
	 * ks_plat_now().  Tests pass theirs so that a run replays. */
	uint64_t seed;
	/* Optional.  When an allocation finds no memory, kspan drains the
	 * calling CPU's cache and asks every other CPU to drain its own at its
	 * next allocation; this hook (called in a normal context, no kspan
	 * lock held) makes the CPUs that are idle now call kspan_drain_cpu
	 * in a normal context of theirs, and returns when they have (kspan's
	 * own kernel posts it to their idle loops).  NULL: idle CPUs keep
	 * their caches until they allocate again. */
	void (*kick_idle_cpus)(void);
};

/* Set up the heap.  Call once, before any other function here.  Returns 0,
 * or -1 if the platform could not reserve or commit the metadata. */
int kspan_init(const struct kspan_config *cfg);

void  *kmalloc(size_t size);
void  *kzalloc(size_t size);
void  *kcalloc(size_t n, size_t size);              /* NULL on overflow */
void  *krealloc(void *p, size_t size);              /* in place if it fits */
void   kfree(void *p);
size_t ksize(const void *p);                        /* usable size */
void  *kmalloc_aligned(size_t size, size_t align);  /* power-of-two align */

/* The rest of Linux's kmalloc family.  kmalloc_array and krealloc_array
 * return NULL when n * size overflows (krealloc_array then leaves p as it
 * was); kstrdup(NULL) and kmemdup(NULL, ...) return NULL; kstrndup copies
 * at most max bytes of s and always ends the copy with a NUL.  Free with
 * kfree.  Object caches: include/kspan/slab.h. */
void  *kmalloc_array(size_t n, size_t size);
void  *krealloc_array(void *p, size_t n, size_t size);
char  *kstrdup(const char *s);
char  *kstrndup(const char *s, size_t max);
void  *kmemdup(const void *p, size_t len);

/* Bulk calls (as Linux's kmem_cache_alloc_bulk / kmem_cache_free_bulk):
 * n objects of size bytes into out[0..n), returning n, or 0 with nothing
 * allocated when memory ran out; free n objects (each checked as kfree
 * checks it).  Cheaper per object than n single calls: one interrupt
 * guard for the call, and a span looked up once for consecutive objects
 * in it. */
size_t kmalloc_bulk(size_t size, size_t n, void **out);
void   kfree_bulk(size_t n, void **p);

/* For wrappers around kspan (a libc-style malloc, C++ operator new): the
 * same as kmalloc, kfree, ksize, kmalloc_aligned, krealloc and kcalloc,
 * except that a report names fn as the function the program called, and
 * the debug heap records site (the program's call site, e.g. the
 * wrapper's __builtin_return_address(0)) as the allocation or free site.
 * kmalloc(n) is kspan_malloc_as(n, "kmalloc", <its caller>). */
void  *kspan_malloc_as(size_t size, const char *fn, void *site);
void   kspan_free_as(void *p, const char *fn, void *site);
size_t kspan_size_as(const void *p, const char *fn);
void  *kspan_aligned_as(size_t size, size_t align, const char *fn, void *site);
void  *kspan_realloc_as(void *p, size_t size, const char *fn, void *site);
void  *kspan_calloc_as(size_t n, size_t size, const char *fn, void *site);

/* Page-level allocation: n contiguous heap pages of KSPAN_PAGE_SIZE bytes,
 * aligned to KSPAN_PAGE_SIZE.  kpages_free must be given the same n. */
void  *kpages_alloc(size_t n);
void   kpages_free(void *p, size_t n);

/* Guarded allocation (after Linux's KFENCE): the object ends where an
 * unmapped page begins, and its pages are unmapped when it is freed (and
 * stay so while its slot is in quarantine), so an overflow or a use after
 * free faults at once.  Objects up to 4080 bytes, 16-byte aligned; NULL
 * when the pool cannot take one (kspan_guard_configure's bounds).  Free
 * with kfree. */
void  *kmalloc_guarded(size_t size);

/* The guard mode of the debug heap (DEBUG=1; docs/debugging.md): sampled
 * kmallocs get a slot of the guarded pool instead of a red zone, of any
 * size the pool's largest slot holds (256 MiB with the default pool), at
 * kmalloc's alignment (min_align below chooses others, down to the
 * natural alignment of the size, at which one byte past every object
 * faults) or the alignment kmalloc_aligned asked for, against the guard
 * page; slack left by an alignment is filled and checked on free.  An allocation the pool cannot take gets a red zone as
 * usual.  Without the debug heap only kmalloc_guarded uses
 * the pool. */
struct kspan_guard_config {
	unsigned sample;        /* guard 1 in `sample` kmallocs, on average
	                           (random gaps, per CPU); 1: every one; 0: none */
	int below;              /* 1: objects start right after a guard page
	                           (underflows fault) instead of ending right
	                           before one; 0 or 1 */
	size_t pool_bytes;      /* address space of the pool; 0: 4 GiB.  Fixed
	                           once the pool is reserved (the first
	                           guarded allocation, or this call with sample) */
	size_t max_committed;   /* memory committed for live guarded objects;
	                           0: 256 MiB */
	size_t max_live;        /* live guarded objects; 0: no limit */
	size_t quarantine;      /* freed slots kept unmapped before their reuse
	                           (FIFO); 0: 65536 */
	size_t min_align;       /* 0: kmalloc's alignment (16 above 8 bytes,
	                           else 8); 1: the natural alignment of the
	                           size, so that every object ends exactly at
	                           its guard page; 2, 4, 8 or 16: at least that
	                           much for objects of at least that size
	                           (pointer-tagging code: CPython needs 8).
	                           Slack before the guard page is checked on
	                           free */
};
/* Set the guard mode.  Returns 0, or -1 if cfg is invalid (below not 0
 * or 1, pool_bytes under 16 MiB or changed after the pool was reserved)
 * or the pool could not be reserved. */
int    kspan_guard_configure(const struct kspan_guard_config *cfg);
/* Debug heap: guard 1 in every kmallocs on average (1: all, 0: none).
 * Every call restarts each CPU's random gaps from the seed: the same
 * kmallocs after the same call are sampled alike (replayable tests). */
void   kspan_guard_sample(unsigned every);

/* For a fault handler: if addr is in the guarded pool, write one line
 * (no "kspan: " prefix, no newline) saying what happened to buf and
 * return 1; else return 0.  access: 0 read, 1 write, -1 unknown.
 *   use-after-free read at 0xADDR: object 0xOBJ of N bytes allocated at 0xSITE, freed at 0xSITE2
 *   out-of-bounds write at 0xADDR: object 0xOBJ of N bytes allocated at 0xSITE
 * (the object nearest to ADDR; N is the size asked for). */
int    kspan_guard_fault(uintptr_t addr, int access, char *buf, size_t cap);
/* The same with the access unknown ("use-after-free access at ..."). */
int    kspan_guard_describe(uintptr_t addr, char *buf, size_t cap);

struct kspan_guard_stats {
	uint64_t allocs;          /* guarded allocations so far */
	uint64_t frees;
	uint64_t fallbacks;       /* allocations the pool could not take */
	uint64_t released;        /* slots that left the quarantine */
	uint64_t live;            /* live guarded objects */
	uint64_t committed;       /* bytes committed for them (whole pages) */
	uint64_t peak_live;
	uint64_t peak_committed;
	uint64_t quarantined;     /* freed slots in quarantine now */
	uint64_t pool_base;       /* the pool's address (0: no pool yet) */
	uint64_t pool_bytes;      /* its reserved address space */
	uint64_t meta_committed;  /* bytes committed for slot records */
	uint64_t sample;          /* the settings now: kspan_guard_sample's N */
	uint64_t below;           /* and kspan_guard_config.below */
};
void   kspan_guard_stats(struct kspan_guard_stats *out);

/* Debug heap (DEBUG=1): where the object at p was allocated; NULL in
 * other builds. */
void  *kspan_alloc_site(const void *p);

/* Give everything cached on this CPU back to the central layer, and the
 * central layer's reserve of empty spans back to the page heap.  In an
 * interrupt handler of a platform with interrupt slots (kspan's kernel)
 * that is the CPU's interrupt slot, never the cache of the code it
 * interrupted. */
void   kspan_drain_cpu(void);

/* Memory-pressure callback: before any allocation returns NULL, kspan
 * drains the caches (this CPU's, the others' through flush requests and
 * kspan_config.kick_idle_cpus), calls every registered shrinker with the
 * bytes wanted, runs the collector, and tries again; if ks_plat_commit
 * failed it also scavenges (the pages wanted, then, if a commit fails
 * again, every free page) before each further try.  A
 * shrinker gives back what memory of its own it can (kfree, kpages_free)
 * and returns the bytes it freed.  It is called with no kspan lock held,
 * possibly from an interrupt handler or on several CPUs at once; an
 * allocation it makes that finds no memory fails without reclaiming
 * again.  Up to 16 shrinkers; returns 0, or -1 when the table is full or
 * fn is NULL.  Shrinkers stay registered. */
int    kspan_register_shrinker(size_t (*fn)(void *arg, size_t want), void *arg);

/* For fork(): kspan_lock_all() before fork takes every allocator lock in
 * lock order, so no other thread is inside the allocator; after it the
 * parent calls kspan_unlock_all() and the child kspan_fork_child(), which
 * frees every lock outright (threads that held a ticket are gone). */
void   kspan_lock_all(void);
void   kspan_unlock_all(void);
void   kspan_fork_child(void);

/* Return free committed pages to the platform now. Returns bytes released. */
size_t kspan_scavenge(void);

/* ---- Statistics ----------------------------------------------------- */

struct kspan_class_stats {
	uint32_t size;        /* object size in bytes */
	uint32_t npages;      /* pages per span */
	uint64_t inuse;       /* objects handed out and not freed */
	uint64_t queued;      /* freed, but still queued on a CPU for their
	                         span (reused there, or handed back at its next
	                         flush or drain); not counted in inuse */
	uint64_t spans;       /* spans of this class */
	uint64_t bytes;       /* bytes of those spans */
	uint64_t refills;     /* spans handed to per-CPU caches */
};

/* The per-CPU caches count only on their slow paths: the fast paths (an
 * allocation or a free that stays in the CPU's own spans) touch no counter.
 * A caller that knows how many operations it made gets the fast ones as
 * the difference. */
struct kspan_heap_stats {
	uint64_t arena_bytes;       /* reserved arena */
	uint64_t spans_bytes;       /* spans array */
	uint64_t bitmap_bytes;      /* heap bitmap (0 without the collector) */
	uint64_t meta_committed;    /* metadata with memory behind it: the
	                               spans and bitmap shadows of the arena
	                               used so far, the committed-page bits, the
	                               mspan structs, the per-CPU caches and the
	                               remote-free batches */
	uint64_t pages_total;       /* heap pages in the arena */
	uint64_t pages_free;        /* pages in free spans */
	uint64_t pages_committed;   /* pages with memory behind them */
	uint64_t largest_free_run;  /* pages */
	uint64_t pages_scavenged_total; /* pages ever returned to the platform */
	uint64_t large_inuse;       /* large objects in use */
	uint64_t large_bytes;       /* bytes of large objects in use */
	uint64_t slow_allocs;       /* small allocations that missed the fast path */
	uint64_t locked_frees;      /* small frees that reached an mcentral lock */
	uint64_t queued_frees;      /* small frees queued on a CPU (unowned span) */
	uint64_t remote_frees;      /* small frees sent to the CPU owning the span */
	uint64_t remote_batches;    /* batches those went in */
	uint64_t adoptions;         /* unowned spans a freeing CPU took over */
	uint64_t refills;           /* spans handed to per-CPU caches */
	uint64_t queued_objects;    /* now: freed objects queued on CPUs */
	uint64_t remote_pending;    /* now: freed objects on their way to the
	                               CPU that owns their span */
	uint64_t owned_spans;       /* now: spans the CPUs' caches hold */
	uint64_t reserve_spans;     /* now: empty spans the central layer keeps */
	uint64_t reclaims;          /* allocations that found no memory and
	                               reclaimed (kspan_register_shrinker) */
};

#define KSPAN_NUM_CLASSES 67

/* One CPU slot's share of those counters (zero for a slot that never
 * allocated).  A snapshot while it runs. */
struct kspan_cpu_stats {
	uint64_t slow_allocs;
	uint64_t locked_frees;
	uint64_t queued_frees;
	uint64_t remote_frees;
	uint64_t remote_batches;
	uint64_t received_frees;    /* frees other CPUs sent this one */
	uint64_t adoptions;
	uint64_t refills;
	uint64_t flushes;           /* flush requests it served */
	uint64_t queued_objects;    /* now */
	uint64_t owned_spans;       /* now */
};
void kspan_cpu_stats(unsigned cpu, struct kspan_cpu_stats *out);

void kspan_heap_stats(struct kspan_heap_stats *out);
/* Fill out[0..KSPAN_NUM_CLASSES) (class 0 is unused: large objects). */
void kspan_class_stats(struct kspan_class_stats *out);
/* Print per-class and heap statistics through ks_plat_write. */
void kspan_print_stats(void);

/* Print a map of the heap, one line per span, for scripts/heapmap.py:
 *   kspan-heapdump v1 arena_start=<addr> page_size=<bytes> pages=<n> used=<n>
 *   span <first page> <pages> <free|small|large|pages|cache> <size class> <noscan>
 *        <objects> <in use> <decommitted pages>
 *   end
 * (cache: a span of an object cache, include/kspan/slab.h; size class 0)
 * Meant for a quiescent heap (other CPUs idle); it takes no lock. */
void kspan_dump_heap(void);

/* Check every invariant of the heap (slow).  Stops with a message on the
 * first inconsistency. */
void kspan_check(void);

#ifdef __cplusplus
}
#endif

#endif /* KSPAN_KMALLOC_H */
