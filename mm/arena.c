/*
 * The heap's address space: Go 1.10's spans | bitmap | arena layout.
 *
 * See mm/malloc.c for the overview.
 *
 * At init kspan reserves one range of address space (the platform decides
 * what that means: kernel virtual space with nothing mapped, or an mmap'd
 * PROT_NONE range on the host) and carves it, low to high:
 *
 *   [ spans ][ committed ][ bitmap ][ pad ][ arena ........................ ]
 *
 *   arena      N bytes, sized by the caller (the kernel passes its usable
 *              RAM, so metadata scales with RAM, not with the span of
 *              physical addresses; physical holes never appear in it since
 *              the arena is virtual and any frame can back any page).
 *   spans      one struct mspan * per 8 KiB arena page: N/1024 bytes.
 *              spans[(p - arena_start) >> 13] is the span holding p.
 *   committed  one bit per arena page, set when memory backs it: N/65536.
 *   bitmap     Go 1.10's heap bitmap: 2 bits per 8-byte arena word, a
 *              pointer bit and a scan bit, N/32 bytes, indexed backwards
 *              from its end (which is arena_start's side): see mbitmap.h.
 *
 * Cost: N/1024 + N/32 + N/65536 = 3.23% of N.  At -m 6G (6135 MiB
 * usable) that is 6 MiB of spans and 192 MiB of bitmap, within the 4% of
 * usable RAM the design allows; at 512 MiB, 0.5 MiB and 16 MiB.
 *
 * Only the committed bitmap is backed at init.  The spans and bitmap
 * shadows are committed as the heap grows into the arena (arena_used
 * advances in arena_grow, as Go's setArenaUsed maps its shadows), and arena
 * pages are committed by mheap when it hands them out.  So metadata costs
 * memory in proportion to the heap actually used.
 *
 * Locking: arena_grow and the committed bits belong to the heap lock.
 * spanof() reads without a lock: a pointer the caller legitimately holds
 * lies in a span whose entries were written before the pointer was handed
 * out.
 */
#include "mm/arena.h"
#include "mm/commit.h"
#include "lib/bits.h"
#include "lib/check.h"
#include <kspan/platform.h>

struct ks_arena ks_arena;
struct mspan ks_nospan = { .state = MSPAN_DEAD, .owner = -2 };

#define RESERVE_ALIGN ((uintptr_t)2 << 20) /* arena starts 2 MiB aligned */
#define SHADOW_CHUNK  ((uintptr_t)4 << 20) /* arena bytes per shadow step */

static uintptr_t round_down_4k(uintptr_t x)
{
	return x & ~(uintptr_t)4095;
}

static uintptr_t round_up(uintptr_t x, uintptr_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int arena_init(size_t arena_bytes)
{
	struct ks_arena *a = &ks_arena;
	uintptr_t n = round_up(arena_bytes, SHADOW_CHUNK);
	if (n < arena_bytes || n == 0)
		return -1;
	uintptr_t npages = n >> KS_PAGE_SHIFT;

	a->spans_bytes = round_up(npages * sizeof(struct mspan *), 4096);
	a->committed_bytes = round_up((npages + 63) / 64 * 8, 4096);
	a->bitmap_bytes = KSPAN_GC ? round_up(n / 32, 4096) : 0;   /* collector only */
	uintptr_t meta = a->spans_bytes + a->committed_bytes + a->bitmap_bytes;
	uintptr_t pad = round_up(meta, RESERVE_ALIGN) - meta;
	a->reserve_len = meta + pad + n;

	uint8_t *base = ks_plat_reserve(a->reserve_len, RESERVE_ALIGN);
	if (!base)
		return -1;
	a->reserve_base = (uintptr_t)base;
	a->spans = (struct mspan **)base;
	a->committed = (uint64_t *)(base + a->spans_bytes);
	a->bitmap = base + a->spans_bytes + a->committed_bytes + a->bitmap_bytes;
	a->arena_start = (uintptr_t)base + meta + pad;
	a->arena_used = a->arena_start;
	a->arena_end = a->arena_start + n;
	a->shadow_mapped = 0;
	KS_ASSERT((a->arena_start & (RESERVE_ALIGN - 1)) == 0);

	if (ks_commit(a->committed, a->committed_bytes) != 0)
		return -1;
	return 0;
}

/* Commit the spans and bitmap entries of arena bytes [0, upto). */
static int arena_map_shadow(uintptr_t upto)
{
	struct ks_arena *a = &ks_arena;
	if (upto <= a->shadow_mapped)
		return 0;
	upto = round_up(upto, SHADOW_CHUNK);
	if (upto > a->arena_end - a->arena_start)
		upto = a->arena_end - a->arena_start;

	uintptr_t s0 = round_down_4k((uintptr_t)a->spans +
	                             (a->shadow_mapped >> KS_PAGE_SHIFT) * sizeof(void *));
	uintptr_t s1 = round_up((uintptr_t)a->spans +
	                        (upto >> KS_PAGE_SHIFT) * sizeof(void *), 4096);
	uintptr_t b0 = round_down_4k((uintptr_t)a->bitmap - upto / 32);
	uintptr_t b1 = round_up((uintptr_t)a->bitmap - a->shadow_mapped / 32, 4096);
	if (ks_commit((void *)s0, s1 - s0) != 0 ||
	    (KSPAN_GC && b1 > b0 && ks_commit((void *)b0, b1 - b0) != 0))
		return -1;
	a->shadow_mapped = upto;
	return 0;
}

uintptr_t arena_grow(uintptr_t npages)
{
	struct ks_arena *a = &ks_arena;
	uintptr_t bytes = npages << KS_PAGE_SHIFT;
	if (npages == 0 || bytes >> KS_PAGE_SHIFT != npages ||
	    bytes > a->arena_end - a->arena_used)
		return 0;
	uintptr_t start = a->arena_used;
	if (arena_map_shadow(start + bytes - a->arena_start) != 0)
		return 0;
	arena_set_spans(arena_page(start), npages, &ks_nospan);
	a->arena_used = start + bytes;
	/* Publish after the entries: lock-free readers of spans[] never see
	 * an unwritten one. */
	__atomic_store_n(&a->used_bytes, a->arena_used - a->arena_start,
	                 __ATOMIC_RELEASE);
	return start;
}

uintptr_t arena_count_committed(uintptr_t page, uintptr_t n)
{
	/* A word of the committed bits at a time, the partial first and
	 * last words masked. */
	uintptr_t c = 0, end = page + n;
	while (page < end) {
		uintptr_t w = page / 64, lo = page % 64;
		uintptr_t hi = end - w * 64 < 64 ? end - w * 64 : 64;   /* bits [lo, hi) */
		uint64_t m = ks_arena.committed[w] >> lo;
		if (hi - lo < 64)
			m &= ((uint64_t)1 << (hi - lo)) - 1;
		c += ks_popcount64(m);
		page = w * 64 + hi;
	}
	return c;
}

/* Apply fn to each maximal run of pages in [page, page+n) whose committed
 * bit equals want; flip the bits of runs fn accepted. */
static long arena_change_pages(uintptr_t page, uintptr_t n, int want,
                               int (*fn)(void *, size_t))
{
	long changed = 0;
	uintptr_t end = page + n;
	while (page < end) {
		if (arena_page_committed(page) != want) {
			page++;
			continue;
		}
		uintptr_t run = page;
		while (run < end && arena_page_committed(run) == want)
			run++;
		void *addr = (void *)(ks_arena.arena_start + (page << KS_PAGE_SHIFT));
		if (fn(addr, (run - page) << KS_PAGE_SHIFT) != 0) {
			/* A failed commit may have backed part of the run:
			 * give that back so no memory hides behind a 0 bit. */
			ks_plat_decommit(addr, (run - page) << KS_PAGE_SHIFT);
			return -1;
		}
		for (uintptr_t i = page; i < run; i++)
			ks_arena.committed[i / 64] ^= 1ull << (i % 64);
		changed += (long)(run - page);
		page = run;
	}
	return changed;
}

static int do_decommit(void *addr, size_t len)
{
	ks_plat_decommit(addr, len);
	return 0;
}

long arena_commit_pages(uintptr_t page, uintptr_t n)
{
	return arena_change_pages(page, n, 0, ks_commit);
}

long arena_decommit_pages(uintptr_t page, uintptr_t n)
{
	return arena_change_pages(page, n, 1, do_decommit);
}
