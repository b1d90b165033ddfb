/*
 * Debug-build checks for mm/spinlock.h: a lock taken twice on one CPU (which
 * would deadlock, typically an allocator call from an interrupt handler that
 * arrived while the lock was held with interrupts on) and an unlock by a CPU
 * that does not hold the lock.  Compiled in every build so that objects
 * built with and without KSPAN_DEBUG link together; only debug builds call it.
 */
#include "mm/spinlock.h"
#include "mm/fmt.h"

void ks_spin_debug_acquire(struct ks_spinlock *l)
{
#if KSPAN_DEBUG
	int32_t me = (int32_t)ks_plat_cpu_id();
	if (__atomic_load_n(&l->holder, __ATOMIC_RELAXED) == me)
		ks_panic("spinlock %s: taken twice on cpu %d (deadlock)",
		         l->name, (int)me);
#else
	(void)l;
#endif
}

void ks_spin_debug_release(struct ks_spinlock *l)
{
#if KSPAN_DEBUG
	int32_t me = (int32_t)ks_plat_cpu_id();
	int32_t holder = __atomic_load_n(&l->holder, __ATOMIC_RELAXED);
	if (holder != me)
		ks_panic("spinlock %s: released by cpu %d, held by %d", l->name,
		         (int)me, (int)holder);
#else
	(void)l;
#endif
}
