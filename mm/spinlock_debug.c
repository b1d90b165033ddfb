/*
 * Debug-build checks for mm/spinlock.h: a lock taken twice on one CPU (which
 * would deadlock, typically an allocator call from an interrupt handler that
 * arrived while the lock was held with interrupts on) and an unlock by a CPU
 * that does not hold the lock.  Compiled in every build so that objects
 * built with and without KSPAN_DEBUG link together; only debug builds call it.
 */
#include "mm/spinlock.h"
#include "mm/fmt.h"

#if KSPAN_DEBUG
/* Ranked locks each CPU holds, innermost last.  Only the CPU itself
 * touches its row, with interrupts off (locks are taken irqsave). */
#define MAX_HELD 8
static struct {
	const struct ks_spinlock *lock[MAX_HELD];
	unsigned depth;
	unsigned dropped;   /* nested deeper than MAX_HELD: not tracked */
} held[KSPAN_MAX_CPUS];
#endif

void ks_spin_debug_acquire(struct ks_spinlock *l)
{
#if KSPAN_DEBUG
	int32_t me = (int32_t)ks_plat_cpu_id();
	if (__atomic_load_n(&l->holder, __ATOMIC_RELAXED) == me)
		ks_panic("spinlock %s: taken twice on cpu %d (deadlock)",
		         l->name, (int)me);
	if (l->rank == KS_RANK_NONE)
		return;
	unsigned cpu = (unsigned)me % KSPAN_MAX_CPUS;
	unsigned d = held[cpu].depth;
	if (d > 0 && held[cpu].lock[d - 1]->rank > l->rank)
		ks_panic("spinlock %s (rank %d) taken while holding %s (rank %d) "
		         "on cpu %d: lock order violated", l->name, (int)l->rank,
		         held[cpu].lock[d - 1]->name,
		         (int)held[cpu].lock[d - 1]->rank, (int)me);
	if (d < MAX_HELD) {
		held[cpu].lock[d] = l;
		held[cpu].depth = d + 1;
	} else {
		held[cpu].dropped++;
	}
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
	if (l->rank == KS_RANK_NONE)
		return;
	unsigned cpu = (unsigned)me % KSPAN_MAX_CPUS;
	if (held[cpu].dropped) {
		held[cpu].dropped--;
		return;
	}
	/* Usually the innermost; kspan_unlock_all releases out of order. */
	for (unsigned i = held[cpu].depth; i-- > 0;) {
		if (held[cpu].lock[i] == l) {
			for (unsigned j = i; j + 1 < held[cpu].depth; j++)
				held[cpu].lock[j] = held[cpu].lock[j + 1];
			held[cpu].depth--;
			return;
		}
	}
#else
	(void)l;
#endif
}

void ks_spin_debug_forget_held(void)
{
#if KSPAN_DEBUG
	unsigned cpu = ks_plat_cpu_id() % KSPAN_MAX_CPUS;
	held[cpu].depth = 0;
	held[cpu].dropped = 0;
#endif
}
