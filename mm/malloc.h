/*
 * The fast paths of kmalloc and kfree, inline, for the entry points that
 * serve them: mm/malloc.c (kmalloc, kfree and the kmalloc family) and the
 * host shim (shim/shim.c: malloc, free).  Inlined whole into such an entry
 * point, a hit is straight-line code with no call, no frame and no
 * register saved, and a miss is a tail call to the entry point's slow path
 * (ks_malloc_slow, ks_free_slow, or the shim's own, which sets kspan up
 * first).
 *
 *   ks_malloc_fast(size, &p)  p = an object of size <= KS_SMALL_SIZE_MAX
 *                             bytes from this CPU's current word of the
 *                             size's class; false (p untouched) when the
 *                             size is larger or the word is empty.
 *   ks_free_fast(p)           (ks_free_fast_in(p, true, central) for
 *                             one central's spans only) free p when this CPU owns its span, p is an
 *                             object's start and its free bit is clear;
 *                             false (nothing done) otherwise: NULL, a
 *                             pointer outside the heap, another CPU's or
 *                             no CPU's span, a large object, an interior
 *                             pointer, a double free, an object queued or
 *                             sent for freeing (its tag, mm/mcache.c).
 *
 * Both run under mcache_fast_enter (mm/mcache.h): interrupts off, or
 * nothing at all where the slot is the caller's own (KSPAN_OWN_SLOTS).
 * Neither writes anything before its single committing store (the word,
 * the bit), so a miss leaves no trace.
 */
#ifndef KSPAN_MM_MALLOC_H
#define KSPAN_MM_MALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/bits.h"
#include "mm/arena.h"
#include "mm/mcache.h"
#include "mm/mspan.h"

/* ThreadSanitizer does not see inside asm: give it the C versions. */
#if defined(__SANITIZE_THREAD__)
#define KS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KS_TSAN 1
#endif
#endif
#ifndef KS_TSAN
#define KS_TSAN 0
#endif

/* The slow paths the fast ones fall to (mm/malloc.c). */
void *ks_malloc_slow(size_t size);
void ks_free_slow(void *p, const char *fn);

/* The slow free of object p (index idx) of small span s, checked to be an
 * object's start: this CPU's mcache frees it (mm/mcache.c).  fn: the
 * function the program called. */
void ks_free_small(struct mspan *s, uintptr_t p, uint32_t idx, const char *fn);

/* The in-use span holding p, or a stop naming fn, p and why there is
 * none; the index of object p in small span s, or a stop unless p is an
 * object's start. */
struct mspan *ks_span_of_live(const char *fn, uintptr_t p);
uint32_t ks_object_index(const char *fn, const struct mspan *s, uintptr_t p);

/* kspan_drain_cpu without the central reserves (a host thread's exit:
 * the other threads go on using them). */
void ks_drain_cpu_caches(void);

/* arena.used_bytes for the free fast path: it only grows, and the spans[]
 * entries below it were written before it grew (arena_grow, release), so
 * a plain read (which the compiler folds into the compare) is enough on
 * x86-64; ThreadSanitizer builds read it atomically to say so. */
static inline uintptr_t ks_used_bytes_fast(void)
{
#if KS_TSAN
	return __atomic_load_n(&ks_arena.used_bytes, __ATOMIC_ACQUIRE);
#else
	return ks_arena.used_bytes;
#endif
}

/* Set bit pos of the free bits words, returning true (and setting
 * nothing) if it was set already or the object is in the allocation cache
 * (the same bit of the word KS_FREE_WORDS further on, mm/mspan.h): both a
 * double free.  Two loads, bt and bts on registers (the bit number taken
 * mod 64 for free), and a store (the owner's only write; readers see
 * whole words).  Not bts with a memory operand: one instruction fewer,
 * but microcoded (its bit offset may reach past the word), and it made
 * kfree in a tight loop half as fast as this. */
static inline bool ks_set_free_bit(uint64_t *freebits, uintptr_t pos)
{
	uint64_t *w = &freebits[pos / 64];
	uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
	uint64_t c = __atomic_load_n(w + KS_FREE_WORDS, __ATOMIC_RELAXED);
#if defined(__x86_64__) && !KS_TSAN
	bool was;
	__asm__("btq %2, %1" : "=@ccc"(was) : "r"(c), "r"((uint64_t)pos));
	if (was)
		return true;
	__asm__("btsq %2, %0" : "+r"(v), "=@ccc"(was) : "r"((uint64_t)pos));
	if (was)
		return true;
#else
	uint64_t bit = 1ull << (pos % 64);
	if ((v | c) & bit)
		return true;
	v |= bit;
#endif
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
	return false;
}

/* Allocation steps 1-2 (mm/malloc.c's overview): the size's class through
 * one load from the CPU's cache front, then the lowest set bit of the word
 * the class allocates from is the object.  About 17 instructions. */
static inline __attribute__((always_inline)) bool
ks_malloc_fast(size_t size, void **out)
{
	if (ks_unlikely(size > KS_SMALL_SIZE_MAX))
		return false;
	ks_irqstate_t st = mcache_fast_enter();
	struct mcache_class *pc = ks_mcache_of[mcache_fast_slot()]
		->bysize[(size + KS_SMALL_SIZE_DIV - 1) / KS_SMALL_SIZE_DIV];
	bool hit = mcache_pop(pc, out);
	mcache_fast_exit(st);
	return hit;
}

/* Free steps 1-2: the span through spans[], owned by this CPU, the pointer
 * an object's start (one multiply), not queued or sent by some CPU (the
 * tag: that free, on its way, would free it again after it was reused),
 * not in the allocation cache, and its free bit clear, set, and the span's
 * free count one up.  With
 * check (a constant), the span must belong to central too
 * (kmem_cache_free: one compare more).  About 30 instructions. */
static inline __attribute__((always_inline)) bool
ks_free_fast_in(void *ptr, bool check, const struct mcentral *central)
{
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t off = p - ks_arena.arena_start;
	if (ks_unlikely(off >= ks_used_bytes_fast()))
		return false;   /* NULL, or not in the heap */
	struct mspan *s = ks_arena.spans[off >> KS_PAGE_SHIFT];
	bool done = false;
	ks_irqstate_t st = mcache_fast_enter();
	/* Owned by this CPU: an in-use small span it alone writes. */
	if (ks_likely(__atomic_load_n(&s->owner, __ATOMIC_RELAXED) == (int)mcache_fast_slot()) &&
	    (!check || ks_likely(s->central == central))) {
		uintptr_t soff = p - s->base;
		if (ks_likely(soff < s->limit)) {
			bool exact;
			uintptr_t idx = mspan_index(s, soff, &exact);
			uintptr_t pos = mspan_bitpos(s, idx);
			if (ks_likely(exact) &&
			    ks_likely(*(volatile uintptr_t *)p != ks_queue_secret) &&
			    ks_likely(!ks_set_free_bit(s->freebits, pos))) {
				s->nfree++;   /* the owner's count (mm/mspan.h) */
				done = true;
			}
		}
	}
	mcache_fast_exit(st);
	return done;
}

static inline __attribute__((always_inline)) bool ks_free_fast(void *ptr)
{
	return ks_free_fast_in(ptr, false, NULL);
}

#endif
