/*
 * Guarded allocations (after Linux's KFENCE): an object placed against an
 * unmapped page, so that the first access past its end, or any access
 * after it was freed, faults, and the fault handler can say exactly what
 * happened (kspan_guard_describe).
 *
 * The pool is a reservation of 2 * KS_GUARD_SLOTS frames: slot i's object
 * page is frame 2i, and frame 2i + 1 is never committed (the guard).  An
 * object sits at the end of its page, so an overflow runs into the guard;
 * freeing decommits the page, so a use after free faults too.  Freed slots
 * are reused in round-robin order, so a freed page stays unmapped for as
 * long as possible.  The debug heap samples every n-th kmalloc into the
 * pool (kspan_guard_sample); kmalloc_guarded asks for it directly.
 *
 * Objects must fit in a page less the alignment slack (KS_GUARD_MAX).
 * Lock: guard_lock, with interrupts off; ks_plat_commit / decommit are
 * called under it (they may not call the allocator, by contract).
 */
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "lib/check.h"
#include "lib/fmt.h"
#include "mm/guard.h"
#include "lib/spinlock.h"

#define GUARD_PAGE 4096u

enum slot_state { SLOT_EMPTY = 0, SLOT_LIVE, SLOT_FREED };

struct guard_slot {
	uint8_t state;
	uint32_t size;
	uintptr_t obj;
	void *site;        /* who allocated it */
	void *free_site;   /* who freed it */
};

static struct ks_spinlock guard_lock = KS_SPINLOCK_INIT("guard", KS_RANK_GUARD);
static uintptr_t pool;
static struct guard_slot slots[KS_GUARD_SLOTS];
static unsigned next_slot;
static unsigned sample_every;
static unsigned sample_count;

struct ks_spinlock *ks_guard_lock(void)
{
	return &guard_lock;
}

int ks_guard_init(void)
{
	void *p = ks_plat_reserve(2 * KS_GUARD_SLOTS * GUARD_PAGE, GUARD_PAGE);
	if (!p)
		return -1;
	pool = (uintptr_t)p;
	return 0;
}

void kspan_guard_sample(unsigned every)
{
	__atomic_store_n(&sample_every, every, __ATOMIC_RELAXED);
}

bool ks_guard_sample_now(void)
{
	unsigned every = __atomic_load_n(&sample_every, __ATOMIC_RELAXED);
	return every && __atomic_add_fetch(&sample_count, 1, __ATOMIC_RELAXED) % every == 0;
}

bool ks_guard_owns(uintptr_t p)
{
	return pool && p - pool < 2 * KS_GUARD_SLOTS * GUARD_PAGE;
}

void *ks_guard_alloc(size_t size, void *site)
{
	if (!pool || size > KS_GUARD_MAX)
		return 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&guard_lock);
	/* Round robin from the slot after the last one used: an empty slot,
	 * else the longest-freed one. */
	for (unsigned k = 0; k < KS_GUARD_SLOTS; k++) {
		unsigned i = (next_slot + k) % KS_GUARD_SLOTS;
		if (slots[i].state == SLOT_LIVE)
			continue;
		uintptr_t page = pool + 2 * (uintptr_t)i * GUARD_PAGE;
		if (ks_plat_commit((void *)page, GUARD_PAGE) != 0)
			break;
		/* Right-aligned, 16-byte aligned: at most 15 bytes of slack. */
		uintptr_t obj = (page + GUARD_PAGE - (size ? size : 1)) & ~(uintptr_t)15;
		slots[i] = (struct guard_slot){ SLOT_LIVE, (uint32_t)size, obj, site, 0 };
		next_slot = (i + 1) % KS_GUARD_SLOTS;
		ks_spin_unlock_irqrestore(&guard_lock, st);
		return (void *)obj;
	}
	ks_spin_unlock_irqrestore(&guard_lock, st);
	return 0;
}

static struct guard_slot *slot_of(uintptr_t p)
{
	return &slots[(p - pool) / (2 * GUARD_PAGE)];
}

void ks_guard_free(uintptr_t p, void *site)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&guard_lock);
	struct guard_slot *s = slot_of(p);
	if (s->state != SLOT_LIVE || s->obj != p) {
		uint8_t state = s->state;
		uintptr_t obj = s->obj;
		ks_spin_unlock_irqrestore(&guard_lock, st);
		if (state == SLOT_FREED && obj == p)
			ks_panic("kfree(%p): double free of a guarded object "
			         "(%u bytes, allocated at %p, freed at %p)", (void *)p,
			         (unsigned)s->size, s->site, s->free_site);
		ks_panic("kfree(%p): not the start of a live guarded object", (void *)p);
	}
	ks_plat_decommit((void *)(p & ~(uintptr_t)(GUARD_PAGE - 1)), GUARD_PAGE);
	s->state = SLOT_FREED;
	s->free_site = site;
	ks_spin_unlock_irqrestore(&guard_lock, st);
}

size_t ks_guard_size(uintptr_t p)
{
	struct guard_slot *s = slot_of(p);
	KS_CHECK(s->state == SLOT_LIVE && s->obj == p,
	         "ksize(%p): not the start of a live guarded object", (void *)p);
	return s->size;
}

int kspan_guard_describe(uintptr_t addr, char *buf, size_t cap)
{
	if (!ks_guard_owns(addr))
		return 0;
	/* Read without the lock: the fault handler may have interrupted a
	 * holder; the slot array itself is always readable. */
	struct guard_slot *s = slot_of(addr);
	uintptr_t page = pool + ((addr - pool) & ~(uintptr_t)(2 * GUARD_PAGE - 1));
	bool in_guard = addr >= page + GUARD_PAGE;
	if (s->state == SLOT_FREED)
		ks_snprintf(buf, cap, "use-after-free at %p: object %p of %u bytes "
		            "allocated at %p, freed at %p", (void *)addr,
		            (void *)s->obj, (unsigned)s->size, s->site, s->free_site);
	else if (s->state == SLOT_LIVE && (in_guard || addr >= s->obj + s->size))
		ks_snprintf(buf, cap, "out-of-bounds at %p: %lu bytes past the end of "
		            "object %p of %u bytes allocated at %p", (void *)addr,
		            (unsigned long)(addr - (s->obj + s->size)), (void *)s->obj,
		            (unsigned)s->size, s->site);
	else if (s->state == SLOT_LIVE && addr < s->obj)
		ks_snprintf(buf, cap, "out-of-bounds at %p: %lu bytes before object "
		            "%p of %u bytes allocated at %p", (void *)addr,
		            (unsigned long)(s->obj - addr), (void *)s->obj,
		            (unsigned)s->size, s->site);
	else
		ks_snprintf(buf, cap, "fault at %p in the guarded-allocation pool "
		            "(slot %lu never used)", (void *)addr,
		            (unsigned long)((addr - pool) / (2 * GUARD_PAGE)));
	return 1;
}

void *kmalloc_guarded(size_t size)
{
	return ks_guard_alloc(size, __builtin_return_address(0));
}
