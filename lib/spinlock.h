/*
 * Ranked ticket spinlocks, for every layer of kspan (the heap, the frame
 * map, the kernel's platform code).
 *
 * A ticket lock is fair: CPUs get the lock in the order they asked for it,
 * so a busy mcentral cannot starve one CPU.  The _irqsave variants also
 * disable interrupts on this CPU for as long as the lock is held, which is
 * what makes kmalloc/kfree safe to call from interrupt handlers: an
 * interrupt can never arrive on a CPU that holds an allocator lock and then
 * ask for the same lock again.
 *
 * The lock order.  This table is the one place it is written: every lock
 * in the tree has a rank here, and a CPU may take a lock only if it holds
 * none of a higher rank (equal ranks may nest: kspan_lock_all takes every
 * mcentral lock).  Debug builds (KSPAN_DEBUG) check it on every
 * acquisition, as Go's lockrank.go does, and panic naming both locks; they
 * also catch a lock taken twice on one CPU and an unlock by a CPU that does
 * not hold the lock.
 */
#ifndef KSPAN_LIB_SPINLOCK_H
#define KSPAN_LIB_SPINLOCK_H

#include <stdint.h>
#include <kspan/platform.h>
#include "lib/config.h"

enum ks_lockrank {
	KS_RANK_NONE = 0,      /* not checked (only for tests of the checker) */
	/* The heap (mm/), outermost first. */
	KS_RANK_GC = 1,        /* collector: roots, large-object list, counters */
	KS_RANK_CENTRAL = 2,   /* mcentral[sc] and gccentral[sc] */
	KS_RANK_HEAP = 3,      /* mheap: free spans, arena growth, scavenger */
	KS_RANK_GUARD = 4,     /* guarded-allocation pool */
	KS_RANK_META = 5,      /* off-heap metadata pools: per-CPU caches,
	                          remote-free batches */
	/* The platform hooks, which the heap calls with its locks held
	 * (include/kspan/platform.h).  kspan's own kernel: */
	KS_RANK_PAGESRC = 6,   /* page source: ks_plat_reserve/commit/decommit */
	KS_RANK_PAGING = 7,    /* page tables (under the page source) */
	KS_RANK_FRAME = 8,     /* frame map (phys/frame.c; under both) */
	KS_RANK_FWCFG = 9,     /* QEMU fw_cfg reads (a leaf) */
	KS_RANK_CONSOLE = 10,  /* ks_plat_write: called with any lock held */
	KS_RANK_COUNT
};
/* The host platform's pthread mutexes follow the same order: its
 * overflow-slot guard stands for "interrupts off" and comes before every
 * lock; its reservation lock is the page source (KS_RANK_PAGESRC). */

struct ks_spinlock {
	uint32_t next;      /* next ticket to hand out */
	uint32_t owner;     /* ticket now being served */
	const char *name;
	int32_t holder;     /* CPU holding it, -1 if none (debug builds; the
	                       fields exist in every build so that objects
	                       built with and without KSPAN_DEBUG agree) */
	int32_t rank;       /* enum ks_lockrank */
};

#define KS_SPINLOCK_INIT(n, r) { 0, 0, (n), -1, (r) }

void ks_spin_debug_acquire(struct ks_spinlock *l);
void ks_spin_debug_release(struct ks_spinlock *l);

static inline void ks_spin_init(struct ks_spinlock *l, const char *name,
                                int rank)
{
	l->next = 0;
	l->owner = 0;
	l->name = name;
	l->holder = -1;
	l->rank = rank;
}

static inline void ks_spin_lock(struct ks_spinlock *l)
{
#if KSPAN_DEBUG
	ks_spin_debug_acquire(l);
#endif
	uint32_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != me)
		ks_plat_cpu_relax();
#if KSPAN_DEBUG
	__atomic_store_n(&l->holder, (int32_t)ks_plat_cpu_id(), __ATOMIC_RELAXED);
#endif
}

static inline void ks_spin_unlock(struct ks_spinlock *l)
{
#if KSPAN_DEBUG
	ks_spin_debug_release(l);
	__atomic_store_n(&l->holder, -1, __ATOMIC_RELAXED);
#endif
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

/* Forget every waiter and holder: for a fork child, where the threads
 * that held or waited for the lock no longer exist. */
static inline void ks_spin_reset(struct ks_spinlock *l)
{
	l->owner = l->next;
	l->holder = -1;
}

/* Debug builds: forget the ranked locks this CPU holds (fork child). */
void ks_spin_debug_forget_held(void);

static inline ks_irqstate_t ks_spin_lock_irqsave(struct ks_spinlock *l)
{
	ks_irqstate_t st = ks_plat_irq_save();
	ks_spin_lock(l);
	return st;
}

static inline void ks_spin_unlock_irqrestore(struct ks_spinlock *l,
                                             ks_irqstate_t st)
{
	ks_spin_unlock(l);
	ks_plat_irq_restore(st);
}

#endif
