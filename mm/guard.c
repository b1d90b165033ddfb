/*
 * The guarded pool (after Linux's KFENCE and GWP-ASan, for every
 * allocation if asked): each object gets a slot of its own whose end (or,
 * in "below" mode, whose start) touches a page that is never mapped, and
 * a freed object's pages are unmapped and stay so while its slot is in
 * quarantine.  The first access past the object, or any access after it
 * was freed, faults, and the fault handler asks kspan_guard_fault what
 * happened: the object, its size, where it was allocated and freed.
 *
 * Layout.  The pool is one reservation (kspan_guard_configure's
 * pool_bytes, 4 GiB by default; the host shim takes 64 GiB) cut into
 * NCLASS regions of equal size, a power of two, aligned to it.  Region c
 * holds slots of 2 << c guard pages (GP, 4 KiB: the platform's commit
 * granularity), 8 KiB up to 256 MiB:
 *
 *   above (default)  [ data: (2 << c) - 1 pages ............ ][ guard ]
 *   below            [ guard ][ data: (2 << c) - 1 pages ............ ]
 *
 * An object goes into the smallest slot that holds it, against the guard
 * page, and only the pages it covers are committed (the rest of the slot
 * stays unmapped, a guard too).  Its address keeps the natural alignment
 * of its size (the largest power of two dividing it, at most 16), so in
 * "above" mode every object ends exactly at its guard page and one byte
 * past the end faults; an explicit alignment (kmalloc_aligned) is kept and
 * may leave up to align - 1 bytes of slack.  In "below" mode the object
 * starts on the page after the guard, and an overflow faults only when it
 * leaves the object's last page.  The slot of a region's neighbour is
 * unmapped where the slot is not, so an underflow (above) or overflow
 * (below) of up to a page faults too.
 *
 * Slots.  Each region bumps through fresh slots; a freed slot joins the
 * quarantine, a FIFO of at most `quarantine` slots (65536 by default),
 * whose oldest slot is then released to its region's free list (LIFO),
 * which allocations use before fresh slots.  A region with no free or
 * fresh slot but some in quarantine releases quarantined slots early,
 * oldest first, until one of its own comes out.  A released slot keeps its record (sites, size)
 * until it is used again, so a stale access is still reported as a use
 * after free.  Slot records (struct gslot, 40 bytes) live in a second
 * reservation, committed as regions use fresh slots; data pages are
 * committed on allocation and decommitted on free.
 *
 * Bounds.  Memory committed for live objects stays under max_committed
 * (256 MiB by default) and live objects under max_live (no limit by
 * default; the host shim derives one from vm.max_map_count, since every
 * live slot costs the process two memory mappings).  An allocation that
 * would pass a bound, or finds its region full, is not guarded: the debug
 * heap then serves it with a red zone (counted as a fallback).  Committed
 * memory beyond that: the slot records of every slot used so far (at most
 * live + quarantine slots, 40 bytes each) and the page tables of the
 * address space they cover.
 *
 * Commits call ks_plat_commit itself, not ks_commit (mm/commit.c): a
 * failure here is a fallback to the heap, not a failed allocation.
 *
 * Lock: guard_lock (KS_RANK_GUARD), with interrupts off; ks_plat_commit
 * and decommit are called under it (they may not call the allocator, by
 * contract).  kspan_guard_fault reads slot records without it (a fault
 * handler may have interrupted a holder): it only reads records of slots
 * below a region's fresh count, whose pages are committed for good.
 */
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "lib/bits.h"
#include "lib/check.h"
#include "lib/fmt.h"
#include "lib/spinlock.h"
#include "mm/guard.h"

#define GP_SHIFT 12
#define GP ((uintptr_t)1 << GP_SHIFT)
#define NCLASS 16                       /* slots of 2 .. 65536 pages */
#define NONE 0u                         /* "no slot" in links (slot ids are + 1) */

#define DEFAULT_POOL        ((size_t)4 << 30)
#define MIN_POOL            ((size_t)16 << 20)
#define DEFAULT_COMMITTED   ((size_t)256 << 20)
#define DEFAULT_QUARANTINE  65536u
#define META_STEP           ((uintptr_t)64 << 10)   /* slot records committed at a time */

enum slot_state { SLOT_EMPTY = 0, SLOT_LIVE, SLOT_FREED };

struct gslot {
	uintptr_t obj;        /* the object (0: never used) */
	size_t size;          /* the size asked for */
	void *site;           /* who allocated it */
	void *free_site;      /* who freed it */
	uint32_t next;        /* quarantine or free-list link (id + 1) */
	uint8_t state;
	uint8_t below;
	uint16_t pad;
};

struct gclass {
	uint32_t first;       /* id of the region's slot 0 */
	uint32_t cap;         /* slots in the region */
	uint32_t fresh;       /* slots used at least once (release store) */
	uint32_t meta_done;   /* slots whose records are committed */
	uint32_t free_head;   /* released slots, LIFO (id + 1) */
	uint32_t quarantined; /* slots of the region in the quarantine */
};

static struct ks_spinlock guard_lock = KS_SPINLOCK_INIT("guard", KS_RANK_GUARD);

/* The pool: written once, under the lock, before pool_base (release). */
static uintptr_t pool_base;
static size_t pool_bytes;
static unsigned region_shift;
static struct gslot *meta;
static size_t meta_bytes;
static struct gclass cls[NCLASS];

/* Settings (kspan_guard_configure). */
static size_t want_pool = DEFAULT_POOL;
static size_t max_committed = DEFAULT_COMMITTED;
static size_t max_live;
static size_t qmax = DEFAULT_QUARANTINE;
static int below_mode;
static size_t min_align;   /* kspan_guard_config.min_align */
static unsigned sample_every;

/* Quarantine: FIFO of freed slots (ids + 1). */
static uint32_t q_head, q_tail;
static size_t q_len;

/* Counters (under the lock; read racily for statistics). */
static struct kspan_guard_stats st;

/* Sampling state, per CPU (touched by its CPU with interrupts off); a CPU
 * whose epoch is not samp_epoch starts its gaps again from the seed. */
static struct {
	uint64_t rng;
	uint32_t left;
	uint32_t epoch;
} __attribute__((aligned(64))) samp[KSPAN_MAX_CPUS];
static uint64_t samp_seed = 0x2545F4914F6CDD1Dull;
static uint32_t samp_epoch = 1;

struct ks_spinlock *ks_guard_lock(void)
{
	return &guard_lock;
}

int ks_guard_init(void)
{
	return 0;
}

void ks_guard_seed(uint64_t seed)
{
	samp_seed = seed | 1;
	__atomic_fetch_add(&samp_epoch, 1, __ATOMIC_RELAXED);
}

/* ---- sampling ----------------------------------------------------------- */

void kspan_guard_sample(unsigned every)
{
	__atomic_store_n(&sample_every, every, __ATOMIC_RELAXED);
	__atomic_fetch_add(&samp_epoch, 1, __ATOMIC_RELEASE);
}

static uint32_t next_gap(uint64_t *rng, unsigned every)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	/* Uniform in [1, 2 * every - 1]: mean every. */
	uint64_t span = 2 * (uint64_t)every - 1;
	return (uint32_t)(1 + (*rng >> 11) % span);
}

bool ks_guard_sample_now(void)
{
	unsigned every = __atomic_load_n(&sample_every, __ATOMIC_RELAXED);
	if (every <= 1)
		return every == 1;
	ks_irqstate_t s = ks_plat_irq_save();
	unsigned cpu = ks_plat_cpu_id() % KSPAN_MAX_CPUS;
	bool hit = false;
	uint32_t epoch = __atomic_load_n(&samp_epoch, __ATOMIC_ACQUIRE);
	if (samp[cpu].epoch != epoch) {
		samp[cpu].epoch = epoch;
		samp[cpu].rng = ks_mix64(samp_seed ^ cpu) | 1;
		samp[cpu].left = next_gap(&samp[cpu].rng, every);
	}
	if (samp[cpu].left > 2 * every)
		samp[cpu].left = next_gap(&samp[cpu].rng, every);   /* N got smaller */
	if (--samp[cpu].left == 0) {
		hit = true;
		samp[cpu].left = next_gap(&samp[cpu].rng, every);
	}
	ks_plat_irq_restore(s);
	return hit;
}

/* ---- the pool ----------------------------------------------------------- */

static uintptr_t stride_of(unsigned c)
{
	return GP << (c + 1);
}

static uintptr_t region_bytes(void)
{
	return (uintptr_t)1 << region_shift;
}

static uintptr_t slot_base(unsigned c, uint32_t k)
{
	return pool_base + ((uintptr_t)c << region_shift) + (uintptr_t)k * stride_of(c);
}

bool ks_guard_owns(uintptr_t p)
{
	uintptr_t base = __atomic_load_n(&pool_base, __ATOMIC_ACQUIRE);
	return base && p - base < pool_bytes;
}

/* Reserve the pool and the slot records; guard_lock held. */
static int pool_create(void)
{
	if (pool_base)
		return 0;
	size_t want = want_pool;
	unsigned shift = 0;
	while (((uintptr_t)2 << shift) <= want / NCLASS)
		shift++;
	/* shift: the largest power of two <= want / NCLASS. */
	size_t bytes = (size_t)NCLASS << shift;
	uint32_t total = 0;
	for (unsigned c = 0; c < NCLASS; c++) {
		uintptr_t cap = stride_of(c) <= ((uintptr_t)1 << shift)
		                ? ((uintptr_t)1 << shift) / stride_of(c) : 0;
		if (cap > 0x40000000u)
			return -1;   /* a pool of petabytes: ids would overflow */
		cls[c] = (struct gclass){ .first = total, .cap = (uint32_t)cap };
		total += (uint32_t)cap;
	}
	size_t mbytes = ((size_t)total * sizeof(struct gslot) + GP - 1) & ~(GP - 1);
	void *p = ks_plat_reserve(bytes, (size_t)1 << shift);
	if (!p)
		return -1;
	void *m = ks_plat_reserve(mbytes, GP);
	if (!m)
		return -1;   /* the pool's address space stays reserved, unused */
	meta = m;
	meta_bytes = mbytes;
	pool_bytes = bytes;
	region_shift = shift;
	st.pool_bytes = bytes;
	st.pool_base = (uintptr_t)p;
	__atomic_store_n(&pool_base, (uintptr_t)p, __ATOMIC_RELEASE);
	return 0;
}

int kspan_guard_configure(const struct kspan_guard_config *cfg)
{
	if (!cfg || (cfg->below != 0 && cfg->below != 1))
		return -1;
	if (cfg->min_align > 16 || (cfg->min_align & (cfg->min_align - 1)))
		return -1;
	if (cfg->pool_bytes && cfg->pool_bytes < MIN_POOL)
		return -1;
	ks_irqstate_t s = ks_spin_lock_irqsave(&guard_lock);
	if (cfg->pool_bytes && pool_base && cfg->pool_bytes != want_pool) {
		ks_spin_unlock_irqrestore(&guard_lock, s);
		return -1;   /* the pool exists: its size is fixed */
	}
	if (cfg->pool_bytes)
		want_pool = cfg->pool_bytes;
	max_committed = cfg->max_committed ? cfg->max_committed : DEFAULT_COMMITTED;
	max_live = cfg->max_live;
	qmax = cfg->quarantine ? cfg->quarantine : DEFAULT_QUARANTINE;
	below_mode = cfg->below;
	min_align = cfg->min_align;
	int rc = cfg->sample ? pool_create() : 0;
	ks_spin_unlock_irqrestore(&guard_lock, s);
	if (rc == 0)
		kspan_guard_sample(cfg->sample);
	return rc;
}

void kspan_guard_stats(struct kspan_guard_stats *out)
{
	ks_irqstate_t s = ks_spin_lock_irqsave(&guard_lock);
	*out = st;
	out->quarantined = q_len;
	out->sample = __atomic_load_n(&sample_every, __ATOMIC_RELAXED);
	out->below = (uint64_t)below_mode;
	ks_spin_unlock_irqrestore(&guard_lock, s);
}

static struct gslot *rec(uint32_t id)
{
	return &meta[id];
}

/* Commit the records of region c up to slot k (inclusive); lock held. */
static int meta_commit(struct gclass *k, uint32_t upto)
{
	if (upto < k->meta_done)
		return 0;
	uint32_t want = k->meta_done + (uint32_t)(META_STEP / sizeof(struct gslot));
	if (want <= upto)
		want = upto + 1;
	if (want > k->cap)
		want = k->cap;
	uintptr_t lo = (uintptr_t)&meta[k->first + k->meta_done] & ~(GP - 1);
	uintptr_t hi = ((uintptr_t)&meta[k->first + want] + GP - 1) & ~(GP - 1);
	if (hi > (uintptr_t)meta + meta_bytes)
		hi = (uintptr_t)meta + meta_bytes;
	if (ks_plat_commit((void *)lo, hi - lo) != 0)
		return -1;
	st.meta_committed += hi - lo;   /* pages shared by two steps count twice: an upper bound */
	k->meta_done = want;
	return 0;
}

static unsigned class_of_id(uint32_t id)
{
	unsigned c = 0;
	while (c + 1 < NCLASS && cls[c + 1].cap && cls[c + 1].first <= id)
		c++;
	return c;
}

/* Move the oldest quarantined slot to its region's free list. */
static void release_oldest(void)
{
	uint32_t id = q_head - 1;
	struct gslot *g = rec(id);
	q_head = g->next;
	if (!q_head)
		q_tail = NONE;
	q_len--;
	unsigned c = class_of_id(id);
	cls[c].quarantined--;
	g->next = cls[c].free_head;
	cls[c].free_head = id + 1;
	st.released++;
}

/* A slot of region c for a new object, or NONE+... (returns id + 1). */
static uint32_t take_slot(unsigned c)
{
	struct gclass *k = &cls[c];
	for (;;) {
		if (k->free_head) {
			uint32_t id = k->free_head - 1;
			k->free_head = rec(id)->next;
			return id + 1;
		}
		if (k->fresh < k->cap) {
			if (meta_commit(k, k->fresh) != 0)
				return NONE;
			uint32_t id = k->first + k->fresh;
			__atomic_store_n(&k->fresh, k->fresh + 1, __ATOMIC_RELEASE);
			return id + 1;
		}
		if (!k->quarantined)
			return NONE;        /* every slot of the region is live */
		release_oldest();   /* early, oldest first, until one of ours comes out */
	}
}

/* Where an object of size bytes aligned to a goes in a slot of region c,
 * as an offset from the slot's start; false if it does not fit. */
static bool place(unsigned c, size_t size, size_t a, int below, uintptr_t *off)
{
	uintptr_t stride = stride_of(c);
	if (cls[c].cap == 0 || a > stride)
		return false;
	if (below) {
		uintptr_t o = (GP + a - 1) & ~(uintptr_t)(a - 1);
		if (o > stride || size > stride - o)
			return false;
		*off = o;
		return true;
	}
	if (size > stride - GP)
		return false;
	*off = (stride - GP - size) & ~(uintptr_t)(a - 1);
	return true;
}

/* The alignment of a guarded malloc(size): with at_least 0, kmalloc's
 * (16 for sizes above 8, else 8); else the natural alignment of the size
 * (the largest power of two dividing it, at most 16), raised to at_least
 * for objects of at least at_least bytes. */
static size_t natural_align(size_t size, size_t at_least)
{
	if (at_least == 0)
		return size > 8 ? 16 : 8;
	if (size == 0)
		return 16;
	size_t a = size & (~size + 1);
	if (a > 16)
		a = 16;
	while (a < at_least && a * 2 <= size)
		a *= 2;
	return a;
}

/* The slack around an object in its committed pages (before it, and
 * after it up to the next page or the guard) holds this, checked on free:
 * an overflow that stays in the slack is caught there. */
#define SLACK_BYTE 0xCB

static void fill_slack(uintptr_t obj, size_t size)
{
	uintptr_t lo = obj & ~(GP - 1);
	uintptr_t hi = (obj + size + GP - 1) & ~(GP - 1);
	if (hi == lo)
		return;
	__builtin_memset((void *)lo, SLACK_BYTE, obj - lo);
	__builtin_memset((void *)(obj + size), SLACK_BYTE, hi - (obj + size));
}

/* The first slack byte written, as an offset from obj (negative: before
 * it), or 0 if none was. */
static intptr_t check_slack(uintptr_t obj, size_t size)
{
	uintptr_t lo = obj & ~(GP - 1);
	uintptr_t hi = (obj + size + GP - 1) & ~(GP - 1);
	if (hi == lo)
		return 0;
	const uint8_t *o = (const uint8_t *)obj;
	size_t after = ks_first_not(o, size, hi - obj, SLACK_BYTE);
	if (after != hi - obj)
		return (intptr_t)after;
	const uint8_t *l = (const uint8_t *)lo;
	if (ks_first_not(l, 0, obj - lo, SLACK_BYTE) == obj - lo)
		return 0;
	/* Something before the object: name the byte nearest to it. */
	for (uintptr_t a = obj; a > lo; a--)
		if (*(const uint8_t *)(a - 1) != SLACK_BYTE)
			return -(intptr_t)(obj - (a - 1));
	return 0;
}

static void *guard_alloc(size_t size, size_t align, int below, void *site)
{
	size_t a = align ? align : natural_align(size, __atomic_load_n(&min_align, __ATOMIC_RELAXED));
	if (a & (a - 1))
		return 0;
	ks_irqstate_t s = ks_spin_lock_irqsave(&guard_lock);
	if (pool_create() != 0) {
		st.fallbacks++;
		ks_spin_unlock_irqrestore(&guard_lock, s);
		return 0;
	}
	unsigned c = 0;
	uintptr_t off = 0;
	while (c < NCLASS && !place(c, size, a, below, &off))
		c++;
	if (c == NCLASS)
		goto fallback;
	if (max_live && st.live >= max_live)
		goto fallback;
	/* Checked before committing: the pages the object covers. */
	uintptr_t rel_lo = off & ~(GP - 1);
	uintptr_t rel_hi = (off + size + GP - 1) & ~(GP - 1);
	size_t bytes = rel_hi - rel_lo;
	if (st.committed + bytes > max_committed)
		goto fallback;
	uint32_t id1 = take_slot(c);
	if (id1 == NONE)
		goto fallback;
	uint32_t id = id1 - 1;
	uintptr_t base = slot_base(c, id - cls[c].first);
	if (bytes && ks_plat_commit((void *)(base + rel_lo), bytes) != 0) {
		ks_plat_decommit((void *)(base + rel_lo), bytes);
		rec(id)->next = cls[c].free_head;
		cls[c].free_head = id1;
		goto fallback;
	}
	if (bytes)
		fill_slack(base + off, size);
	struct gslot *g = rec(id);
	g->obj = base + off;
	g->size = size;
	g->site = site;
	g->free_site = 0;
	g->next = NONE;
	g->below = (uint8_t)below;
	__atomic_store_n(&g->state, SLOT_LIVE, __ATOMIC_RELEASE);
	st.allocs++;
	st.live++;
	st.committed += bytes;
	if (st.live > st.peak_live)
		st.peak_live = st.live;
	if (st.committed > st.peak_committed)
		st.peak_committed = st.committed;
	ks_spin_unlock_irqrestore(&guard_lock, s);
	return (void *)(base + off);
fallback:
	st.fallbacks++;
	ks_spin_unlock_irqrestore(&guard_lock, s);
	return 0;
}

void *ks_guard_alloc(size_t size, void *site)
{
	return guard_alloc(size, 0, __atomic_load_n(&below_mode, __ATOMIC_RELAXED), site);
}

void *ks_guard_alloc_aligned(size_t size, size_t align, void *site)
{
	if (align == 0)
		return 0;
	return guard_alloc(size, align, __atomic_load_n(&below_mode, __ATOMIC_RELAXED), site);
}

void *kmalloc_guarded(size_t size)
{
	if (size > KS_GUARD_MAX)
		return 0;
	/* Its own contract: 16-byte aligned, against the guard above. */
	return guard_alloc(size, 16, 0, __builtin_return_address(0));
}

/* The slot id holding p (in the pool), or -1 if p is past a region's
 * fresh slots.  No lock needed: fresh only grows. */
static int64_t slot_id(uintptr_t p, unsigned *cp, uint32_t *kp)
{
	uintptr_t off = p - pool_base;
	unsigned c = (unsigned)(off >> region_shift);
	if (c >= NCLASS)
		return -1;
	uintptr_t k = (off & (region_bytes() - 1)) / stride_of(c);
	if (k >= __atomic_load_n(&cls[c].fresh, __ATOMIC_ACQUIRE))
		return -1;
	if (cp)
		*cp = c;
	if (kp)
		*kp = (uint32_t)k;
	return (int64_t)cls[c].first + (int64_t)k;
}

/* A stop for a pointer that is not a live guarded object's start. */
__attribute__((noreturn, cold))
static void bad_pointer(const char *fn, uintptr_t p, bool freeing)
{
	int64_t id = slot_id(p, 0, 0);
	struct gslot g = { 0 };
	if (id >= 0)
		g = *rec((uint32_t)id);
	ks_spin_unlock(&guard_lock);
	if (g.state == SLOT_FREED && g.obj == p) {
		if (freeing)
			ks_panic("%s(%p): double free of a guarded object (%lu bytes, "
			         "allocated at %p, freed at %p)", fn, (void *)p,
			         (unsigned long)g.size, g.site, g.free_site);
		ks_panic("%s(%p): use after free of a guarded object (%lu bytes, "
		         "allocated at %p, freed at %p)", fn, (void *)p,
		         (unsigned long)g.size, g.site, g.free_site);
	}
	if (g.state != SLOT_EMPTY && p > g.obj && p < g.obj + g.size)
		ks_panic("%s(%p): interior pointer, %lu bytes into the %s guarded "
		         "object %p of %lu bytes allocated at %p: not the start of a "
		         "live guarded object", fn, (void *)p,
		         (unsigned long)(p - g.obj),
		         g.state == SLOT_LIVE ? "live" : "freed", (void *)g.obj,
		         (unsigned long)g.size, g.site);
	ks_panic("%s(%p): not the start of a live guarded object", fn, (void *)p);
}

void ks_guard_free_as(uintptr_t p, const char *fn, void *site)
{
	ks_irqstate_t s = ks_spin_lock_irqsave(&guard_lock);
	int64_t id = slot_id(p, 0, 0);
	struct gslot *g = id >= 0 ? rec((uint32_t)id) : 0;
	if (!g || g->state != SLOT_LIVE || g->obj != p)
		bad_pointer(fn, p, true);
	intptr_t bad = check_slack(p, g->size);
	if (bad) {
		size_t n = g->size;
		void *at = g->site;
		ks_spin_unlock(&guard_lock);
		ks_panic("%s(%p): heap overflow: guarded object of %lu bytes allocated "
		         "at %p was written %s at offset %ld (in the slack of its "
		         "page, short of the guard page)", fn, (void *)p,
		         (unsigned long)n, at, bad > 0 ? "past its end" : "before its start",
		         (long)bad);
	}
	uintptr_t lo = p & ~(GP - 1);
	uintptr_t hi = (p + g->size + GP - 1) & ~(GP - 1);
	if (hi > lo)
		ks_plat_decommit((void *)lo, hi - lo);
	g->free_site = site;
	__atomic_store_n(&g->state, SLOT_FREED, __ATOMIC_RELEASE);
	st.frees++;
	st.live--;
	st.committed -= hi - lo;
	/* Into the quarantine, newest last. */
	g->next = NONE;
	if (q_tail)
		rec(q_tail - 1)->next = (uint32_t)id + 1;
	else
		q_head = (uint32_t)id + 1;
	q_tail = (uint32_t)id + 1;
	q_len++;
	cls[class_of_id((uint32_t)id)].quarantined++;
	while (q_len > qmax)
		release_oldest();
	ks_spin_unlock_irqrestore(&guard_lock, s);
}

void ks_guard_free(uintptr_t p, void *site)
{
	ks_guard_free_as(p, "kfree", site);
}

size_t ks_guard_size_as(uintptr_t p, const char *fn, bool freeing)
{
	ks_irqstate_t s = ks_spin_lock_irqsave(&guard_lock);
	int64_t id = slot_id(p, 0, 0);
	struct gslot *g = id >= 0 ? rec((uint32_t)id) : 0;
	if (!g || g->state != SLOT_LIVE || g->obj != p)
		bad_pointer(fn, p, freeing);
	size_t n = g->size;
	ks_spin_unlock_irqrestore(&guard_lock, s);
	return n;
}

size_t ks_guard_size(uintptr_t p)
{
	return ks_guard_size_as(p, "ksize", false);
}

void *ks_guard_site(uintptr_t p)
{
	ks_irqstate_t s = ks_spin_lock_irqsave(&guard_lock);
	int64_t id = slot_id(p, 0, 0);
	void *site = 0;
	if (id >= 0 && rec((uint32_t)id)->obj == p)
		site = rec((uint32_t)id)->site;
	ks_spin_unlock_irqrestore(&guard_lock, s);
	return site;
}

/* ---- fault reports ------------------------------------------------------ */

/* Distance from addr to [obj, obj + size): 0 inside. */
static uintptr_t distance(uintptr_t addr, const struct gslot *g)
{
	if (addr < g->obj)
		return g->obj - addr;
	if (addr >= g->obj + g->size)
		return addr - (g->obj + g->size) + 1;
	return 0;
}

int kspan_guard_fault(uintptr_t addr, int access, char *buf, size_t cap)
{
	if (!ks_guard_owns(addr))
		return 0;
	const char *rw = access == 1 ? "write" : access == 0 ? "read" : "access";
	unsigned c;
	uint32_t k;
	int64_t id = slot_id(addr, &c, &k);
	/* The nearest object among this slot and its two neighbours: one the
	 * address is inside (freed: a use after free), else the nearest live
	 * one (out of bounds), else the nearest freed one. */
	struct gslot best = { 0 };
	uintptr_t best_d = 0;
	int best_rank = 3;   /* 0 inside freed, 1 live, 2 freed outside */
	if (id < 0) {
		/* Past the region's fresh slots: only the slot below can be near. */
		uintptr_t off = addr - pool_base;
		c = (unsigned)(off >> region_shift);
		if (c < NCLASS) {
			k = (uint32_t)((off & (region_bytes() - 1)) / stride_of(c));
			id = (int64_t)cls[c].first + k;
		}
	}
	if (c < NCLASS) {
		uint32_t fresh = __atomic_load_n(&cls[c].fresh, __ATOMIC_ACQUIRE);
		for (int d = -1; d <= 1; d++) {
			int64_t j = (int64_t)k + d;
			if (j < 0 || j >= (int64_t)fresh)
				continue;
			struct gslot g = *rec(cls[c].first + (uint32_t)j);
			uint8_t state = __atomic_load_n(&g.state, __ATOMIC_ACQUIRE);
			if (state == SLOT_EMPTY || !g.obj)
				continue;
			uintptr_t dist = distance(addr, &g);
			int rank = state == SLOT_FREED ? (dist == 0 ? 0 : 2) : 1;
			if (rank < best_rank || (rank == best_rank && dist < best_d)) {
				best = g;
				best.state = state;
				best_rank = rank;
				best_d = dist;
			}
		}
	}
	if (best_rank == 3)
		ks_snprintf(buf, cap, "fault (%s) at %p in the guarded pool, near no "
		            "guarded object", rw, (void *)addr);
	else if (best.state == SLOT_FREED)
		ks_snprintf(buf, cap, "use-after-free %s at %p: object %p of %lu bytes "
		            "allocated at %p, freed at %p", rw, (void *)addr,
		            (void *)best.obj, (unsigned long)best.size, best.site,
		            best.free_site);
	else
		ks_snprintf(buf, cap, "out-of-bounds %s at %p: object %p of %lu bytes "
		            "allocated at %p", rw, (void *)addr, (void *)best.obj,
		            (unsigned long)best.size, best.site);
	return 1;
}

int kspan_guard_describe(uintptr_t addr, char *buf, size_t cap)
{
	return kspan_guard_fault(addr, -1, buf, cap);
}
