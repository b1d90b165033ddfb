/*
 * Memory pressure: what an allocation does before it returns NULL.
 *
 * See mm/malloc.c for the overview.
 *
 * Memory can sit where the failing allocation cannot see it: in this
 * CPU's cache (owned spans with free objects, queued frees, open remote
 * batches), in other CPUs' caches, in mcentral's reserves of empty spans,
 * in a kernel's own caches, in unreachable collector objects, or
 * committed in free heap pages the platform needs back.  Before any
 * allocation fails (small, large, aligned, kpages, object caches; the
 * collector's own allocations call ks_reclaim_after_gc, which skips step
 * 4: they have just collected) ks_reclaim gives it back, in order of
 * cost, and the allocation tries again (at most three times):
 *
 *   1. this CPU drains its cache (ks_drain_cpu_caches);
 *   2. every other CPU is asked to drain its own (a flush request: it
 *      swaps the CPU's cache front for an empty one, so its next
 *      allocation drains it first, mm/mcache.c), and the platform's
 *      kick hook (kspan_config.kick_idle_cpus), when there is one, makes
 *      the idle CPUs drain now and waits for them;
 *   3. the registered shrinkers (kspan_register_shrinker) are called,
 *      outside every kspan lock, with the size wanted;
 *   4. the collector runs a full cycle, if it is set up and the caller is
 *      in a normal context (its own slot: never from an interrupt
 *      handler, where stopping the world could wait on the CPU it
 *      interrupted);
 *   5. mcentral's reserves go back to the heap, and the allocation tries
 *      again.
 * Scavenging helps only an allocation that failed because a commit did
 * (the platform needs commit budget for arena pages or metadata): one
 * that found no free run of pages gains nothing from decommitting free
 * ones, and would pay to commit them again.  So the heap scavenges only
 * when a commit failed on this slot (ks_commit_failed_take, mm/commit.c),
 * and as little as it can, as Go's heap limit scavenges what it is over
 * by, not everything:
 *   6. the request's pages and KS_RECLAIM_SLACK more, then a try;
 *   7. if a commit failed again, every free page, then a last try.
 * Passes: pass 0 runs steps 1-5 and step 6 if a commit had failed; each
 * later pass runs the next scavenging step if a commit failed since the
 * last one, and nothing otherwise (the allocation fails).
 *
 * Re-entrancy: a shrinker (or the collector) that allocates and fails does
 * not reclaim again; its allocation fails.  Concurrent reclaims on
 * different CPUs are fine: every step is safe to run twice.
 *
 * Locks: none held on entry (the callers release theirs first) and none
 * across the callbacks.  The shrinker table is written under no lock
 * either: registration publishes an entry with one release store.
 */
#include "mm/reclaim.h"

#include <kspan/kmalloc.h>
#include <kspan/platform.h>
#include "lib/check.h"
#include "mm/commit.h"
#include "mm/malloc.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/mgc.h"
#include "mm/mheap.h"

struct shrinker {
	size_t (*fn)(void *arg, size_t want);
	void *arg;
};

static struct shrinker shrinkers[KSPAN_MAX_SHRINKERS];
static unsigned nshrinkers;            /* entries published (release) */
static unsigned shrinker_claims;       /* entries claimed */
static void (*kick_idle)(void);
/* A slot already inside ks_reclaim: its allocations fail plainly. */
static uint8_t reclaiming[KSPAN_MAX_CPUS + 1];
/* The scavenging steps a slot's current reclaim has taken (0, 1 or 2). */
static uint8_t scavenged[KSPAN_MAX_CPUS + 1];
static uint64_t reclaims;

void ks_reclaim_init(void (*kick)(void))
{
	kick_idle = kick;
}

int kspan_register_shrinker(size_t (*fn)(void *arg, size_t want), void *arg)
{
	if (!fn)
		return -1;
	unsigned i = __atomic_fetch_add(&shrinker_claims, 1, __ATOMIC_RELAXED);
	if (i >= KSPAN_MAX_SHRINKERS)
		return -1;
	shrinkers[i].fn = fn;
	shrinkers[i].arg = arg;
	/* Publish in claim order: wait for the entries before this one. */
	while (__atomic_load_n(&nshrinkers, __ATOMIC_ACQUIRE) != i)
		ks_plat_cpu_relax();
	__atomic_store_n(&nshrinkers, i + 1, __ATOMIC_RELEASE);
	return 0;
}

uint64_t ks_reclaim_count(void)
{
	return __atomic_load_n(&reclaims, __ATOMIC_RELAXED);
}

/* The slot whose re-entrancy flag this caller uses (the slot its slow
 * paths use: its own CPU's, or the interrupt or overflow slot). */
static unsigned my_slot(void)
{
	ks_irqstate_t st = ks_plat_irq_save();
	unsigned s = ks_plat_cpu_id();
	ks_plat_irq_restore(st);
	return s < KSPAN_MAX_CPUS ? s : KSPAN_MAX_CPUS;
}

/* A normal context with a slot of its own (not an interrupt handler). */
static bool normal_context(void)
{
#if KSPAN_OWN_SLOTS
	return ks_plat_own_slot() < KSPAN_MAX_CPUS;
#else
	return false;   /* cannot tell: never run the collector from here */
#endif
}

/* Steps 6 and 7: the next scavenging step, if a commit failed since the
 * last; true if it gave pages back. */
static bool scavenge_step(unsigned slot, size_t want)
{
	if (!ks_commit_failed_take() || scavenged[slot] >= 2)
		return false;
	if (scavenged[slot]++ == 0)
		return mheap_scavenge_pages(want / KS_PAGE_SIZE + 1 + KS_RECLAIM_SLACK) > 0;
	return mheap_scavenge(0) > 0;
}

static bool reclaim(size_t want, unsigned pass, bool collect)
{
	unsigned slot = my_slot();
	if (reclaiming[slot])
		return false;
	if (pass > 0)
		return scavenge_step(slot, want);
	scavenged[slot] = 0;
	reclaiming[slot] = 1;
	__atomic_fetch_add(&reclaims, 1, __ATOMIC_RELAXED);

	ks_drain_cpu_caches();
	ks_irqstate_t st = ks_plat_irq_save();
	int self = (int)ks_plat_cpu_id();
	ks_plat_irq_restore(st);
	mcache_request_flush(self);
	if (kick_idle && normal_context())
		kick_idle();

	unsigned n = __atomic_load_n(&nshrinkers, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		shrinkers[i].fn(shrinkers[i].arg, want);

	if (collect && normal_context())
		ks_gc_reclaim();

	mcentral_release_empty();
	scavenge_step(slot, want);
	reclaiming[slot] = 0;
	return true;
}

bool ks_reclaim(size_t want, unsigned pass)
{
	return reclaim(want, pass, true);
}

bool ks_reclaim_after_gc(size_t want, unsigned pass)
{
	return reclaim(want, pass, false);
}
