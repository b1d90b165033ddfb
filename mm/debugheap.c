/*
 * The debug heap (build with DEBUG=1, i.e. KSPAN_DEBUG_HEAP): SLUB-debug
 * style checks wrapped around the allocator's public entry points.
 *
 *   Red zone.  Every kmalloc block is 24 bytes bigger than asked:
 *     [ object: size bytes ][ canary 0xCB ... ][ call site ][ size ^ secret ]
 *   kfree checks that every canary byte is intact (a write past the end of
 *   the object: "heap overflow") and that the trailer decodes to a
 *   plausible size, and names the call site that allocated the object.
 *   ksize() is the size asked for.
 *
 *   Poison.  Freed small objects are filled with 0xDB, and so is every
 *   object of a fresh span; kmalloc checks that an object it hands out is
 *   still all poison: anything else was written after it was freed ("use
 *   after free"), and it says where.
 *
 * These checks cost a pass over every object on allocation and free: for
 * finding bugs, not for production.  Always-on checks (double and invalid
 * frees) are in mm/malloc.c.
 */
#include "mm/debugheap.h"

#if KSPAN_DEBUG_HEAP
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "mm/arena.h"
#include "lib/check.h"
#include "mm/guard.h"

static uint64_t secret = 0x9E3779B97F4A7C15ull;

void ks_debugheap_seed(uint64_t s)
{
	secret = s | 1;
}

static uint64_t get_secret(void)
{
	return secret;
}

static bool is_small(const void *p)
{
	struct mspan *s = spanof((uintptr_t)p);
	return s && s->state == MSPAN_INUSE && s->spanclass != 0;
}

/* A block about to be handed out must still be all poison. */
static void check_poison(const uint8_t *p, size_t blk)
{
	for (size_t i = 0; i < blk; i++)
		if (p[i] != KS_POISON_BYTE)
			ks_panic("kmalloc: use-after-free write: object %p (%lu bytes) "
			         "was modified at offset %lu (byte 0x%x) after it was "
			         "freed", (const void *)p, (unsigned long)blk,
			         (unsigned long)i, (unsigned)p[i]);
}

static void *arm(uint8_t *p, size_t size, void *site, const char *fn)
{
	if (!p)
		return 0;
	size_t blk = ks_usable_size(p, fn);
	if (is_small(p))
		check_poison(p, blk);
	for (size_t i = size; i < blk - KS_RZ_TRAILER; i++)
		p[i] = KS_CANARY_BYTE;
	uint64_t trailer[2] = { (uint64_t)(uintptr_t)site, (uint64_t)size ^ get_secret() };
	__builtin_memcpy(p + blk - KS_RZ_TRAILER, trailer, sizeof(trailer));
	return p;
}

/* Returns the size asked for; panics if the red zone was written. */
static size_t check_redzone(const char *fn, const uint8_t *p, size_t *blkp)
{
	size_t blk = ks_usable_size(p, fn);   /* panics on a bad pointer */
	uint64_t trailer[2];
	__builtin_memcpy(trailer, p + blk - KS_RZ_TRAILER, sizeof(trailer));
	uint64_t size = trailer[1] ^ get_secret();
	if (size > blk - KS_RZ)
		ks_panic("%s(%p): heap overflow: the red zone trailer of this "
		         "%lu-byte block is overwritten", fn, (const void *)p,
		         (unsigned long)blk);
	for (size_t i = size; i < blk - KS_RZ_TRAILER; i++)
		if (p[i] != KS_CANARY_BYTE)
			ks_panic("%s(%p): heap overflow: object of %lu bytes allocated "
			         "at %p was written past its end at offset %lu",
			         fn, (const void *)p, (unsigned long)size,
			         (void *)(uintptr_t)trailer[0], (unsigned long)i);
	*blkp = blk;
	return (size_t)size;
}

void *ks_debug_malloc(size_t size, const char *fn, void *site)
{
	if (size > SIZE_MAX - KS_RZ)
		return 0;
	if (ks_guard_sample_now()) {
		/* Sampled: against a guard page instead of a red zone. */
		void *g = ks_guard_alloc(size, site);
		if (g)
			return g;
	}
	return arm(ks_malloc(size + KS_RZ), size, site, fn);
}

void *ks_debug_malloc_aligned(size_t size, size_t align, const char *fn, void *site)
{
	if (size > SIZE_MAX - KS_RZ)
		return 0;
	return arm(ks_malloc_aligned(size + KS_RZ, align), size, site, fn);
}

void ks_debug_free(void *ptr, const char *fn, void *site)
{
	if (!ptr)
		return;
	if (ks_guard_owns((uintptr_t)ptr)) {
		ks_guard_free((uintptr_t)ptr, site);
		return;
	}
	size_t blk;
	check_redzone(fn, ptr, &blk);
	if (is_small(ptr))
		__builtin_memset(ptr, KS_POISON_BYTE, blk);
	ks_free(ptr, fn);
}

size_t ks_debug_usable_size(const void *ptr, const char *fn)
{
	if (!ptr)
		return 0;
	if (ks_guard_owns((uintptr_t)ptr))
		return ks_guard_size((uintptr_t)ptr);
	size_t blk;
	return check_redzone(fn, ptr, &blk);
}

/* Where the object at p was allocated (for reports), or NULL. */
void *kspan_alloc_site(const void *ptr)
{
	if (ks_guard_owns((uintptr_t)ptr))
		return 0;
	size_t blk = ks_usable_size(ptr, "kspan_alloc_site");
	uint64_t site;
	__builtin_memcpy(&site, (const uint8_t *)ptr + blk - KS_RZ_TRAILER, 8);
	return (void *)(uintptr_t)site;
}
#else
/* Without the debug heap no call sites are kept. */
#include <stddef.h>
#include <stdint.h>
void ks_debugheap_seed(uint64_t s)
{
	(void)s;
}

void *kspan_alloc_site(const void *ptr);
void *kspan_alloc_site(const void *ptr)
{
	(void)ptr;
	return NULL;
}
#endif
