/*
 * Ranked ticket spinlocks, for every layer of kspan (the heap, the frame
 * map, the kernel's platform code).
 *
 * Fairness: FIFO.  A CPU takes a ticket and gets the lock when the owner
 * count reaches it, so CPUs get the lock in the order they asked for it
 * and no waiter is ever passed over: a busy mcentral cannot starve one
 * CPU, and a waiter with k CPUs ahead of it waits for exactly k critical
 * sections.  The _irqsave variants also disable interrupts on this CPU for
 * as long as the lock is held (and while it waits for it), which is what
 * makes kmalloc/kfree safe to call from interrupt handlers: an interrupt
 * can never arrive on a CPU that holds an allocator lock and then ask for
 * the same lock again.
 *
 * How a waiter waits (ks_spin_wait, spinlock.c): it knows its distance d
 * to the lock (the critical sections still ahead of it).
 *   - d = 1 (next in line): it polls, pausing between polls; after
 *     KS_SPIN_NEXT_POLLS polls it parks too (the holder may have lost its
 *     CPU: an emulator's host preempts virtual CPUs).
 *   - d >= 2: it parks, if the platform gave parking hooks
 *     (ks_spin_set_parking: kspan's kernel halts the CPU until an NMI,
 *     the host build sleeps in futex, arch/host/park.c);
 *     without hooks (a kernel that gives none, or before
 *     the kernel's other CPUs start) it polls with a pause proportional to
 *     d between polls, so that a long queue does not hammer the line.
 *   - Unlocking hands the lock to the next ticket and, if anybody is
 *     parked on this lock, kicks the new owner and the new next-in-line
 *     (ticket + 1), so the CPU that will take the lock after next is awake
 *     and polling by the time its turn comes: the wake-up overlaps the
 *     current critical section instead of following it.  Nobody else is
 *     woken (no thundering herd).
 * Why: with more virtual CPUs than host cores (16 on 2 under TCG), a
 * spinning waiter burns the host time its lock holder, or the waiter whose
 * turn is next, needs to run; FIFO then stalls every waiter behind one
 * that is not running.  Parked waiters leave the host cores to the holder
 * and the next in line.
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
	KS_RANK_SLAB = 2,      /* object caches: the registry, destroy and the
	                          CPUs' drains of their cache classes */
	KS_RANK_CENTRAL = 3,   /* mcentral[sc], gccentral[sc], each cache's */
	KS_RANK_HEAP = 4,      /* mheap: free spans, arena growth, scavenger */
	KS_RANK_GUARD = 5,     /* guarded-allocation pool */
	KS_RANK_META = 6,      /* off-heap metadata pools: per-CPU caches,
	                          remote-free batches, object caches */
	/* The platform hooks, which the heap calls with its locks held
	 * (include/kspan/platform.h).  kspan's own kernel: */
	KS_RANK_PAGESRC = 7,   /* page source: ks_plat_reserve/commit/decommit */
	KS_RANK_PAGING = 8,    /* page tables (under the page source) */
	KS_RANK_FRAME = 9,     /* frame map (phys/frame.c; under both) */
	KS_RANK_FWCFG = 10,    /* QEMU fw_cfg reads (a leaf) */
	KS_RANK_CONSOLE = 11,  /* ks_plat_write: called with any lock held */
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
	uint16_t rank;      /* enum ks_lockrank */
	uint16_t parked;    /* waiters parked on it right now */
};

#define KS_SPINLOCK_INIT(n, r) { 0, 0, (n), -1, (r), 0 }

/* Polls the next-in-line makes before it parks (when it can park). */
#define KS_SPIN_NEXT_POLLS 256u

/*
 * Parking (optional; kspan's kernel installs it once its other CPUs can
 * be kicked, arch/x86_64/park.h).  prepare announces that this CPU waits
 * on word for ticket tag and returns a wake sequence; wait halts unless
 * *word != val or a wake came since prepare (and may return early);
 * cancel withdraws the announcement; kick wakes the CPUs announced on
 * word whose tag is in [lo, lo + n).  NULL: spin.
 */
struct ks_spin_parking {
	uint32_t (*prepare)(const void *word, uint32_t tag);
	void (*cancel)(void);
	void (*wait)(const uint32_t *word, uint32_t val, uint32_t seq);
	void (*kick)(const void *word, uint32_t lo, uint32_t n);
};
void ks_spin_set_parking(const struct ks_spin_parking *p);

/* Out of line: wait for ticket me (spinlock.c); kick after an unlock. */
void ks_spin_wait(struct ks_spinlock *l, uint32_t me);
void ks_spin_kick(struct ks_spinlock *l, uint32_t owner);

void ks_spin_debug_acquire(struct ks_spinlock *l);
void ks_spin_debug_release(struct ks_spinlock *l);

static inline void ks_spin_init(struct ks_spinlock *l, const char *name,
                                int rank)
{
	l->next = 0;
	l->owner = 0;
	l->name = name;
	l->holder = -1;
	l->rank = (uint16_t)rank;
	l->parked = 0;
}

static inline void ks_spin_lock(struct ks_spinlock *l)
{
#if KSPAN_DEBUG
	ks_spin_debug_acquire(l);
#endif
	uint32_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != me)
		ks_spin_wait(l, me);
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
	uint32_t next = l->owner + 1;
	/* Sequentially consistent (an xchg on x86): the store of the owner
	 * comes before the read of parked, against the waiter's increment of
	 * parked before its last read of the owner. */
	__atomic_store_n(&l->owner, next, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&l->parked, __ATOMIC_SEQ_CST))
		ks_spin_kick(l, next);
}

/* Forget every waiter and holder: for a fork child, where the threads
 * that held or waited for the lock no longer exist. */
static inline void ks_spin_reset(struct ks_spinlock *l)
{
	l->owner = l->next;
	l->holder = -1;
	l->parked = 0;
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
