/*
 * The waiting side of lib/spinlock.h (ks_spin_wait, ks_spin_kick: see the
 * header for the policy), and the debug-build checks: a lock taken twice
 * on one CPU
 * (which would deadlock; typically an allocator call from an interrupt
 * handler that arrived while the lock was held with interrupts on), an
 * unlock by a CPU that does not hold the lock, and the lock order of the
 * rank table.
 *
 * Each CPU counts the locks it holds per rank, so any number of locks can
 * be held (kspan_lock_all takes every lock for fork) and released in any
 * order; a new lock is refused if a lock of a higher rank is held.  Only
 * the CPU itself touches its row, with interrupts off (locks are taken
 * irqsave).  Compiled in every build so that objects built with and
 * without KSPAN_DEBUG link together; only debug builds call it.
 */
#include "lib/spinlock.h"
#include "lib/fmt.h"

static const struct ks_spin_parking *parking;

void ks_spin_set_parking(const struct ks_spin_parking *p)
{
	__atomic_store_n(&parking, p, __ATOMIC_RELEASE);
}

void ks_spin_wait(struct ks_spinlock *l, uint32_t me)
{
	const struct ks_spin_parking *p = __atomic_load_n(&parking, __ATOMIC_ACQUIRE);
	unsigned polls = 0;
	for (;;) {
		uint32_t o = __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE);
		uint32_t d = me - o;
		if (d == 0)
			return;
		if (p && (d > 1 || polls >= KS_SPIN_NEXT_POLLS)) {
			/* Counted before the announcement and the last look at
			 * the owner: an unlock that does not see the count is
			 * seen by that look. */
			__atomic_fetch_add(&l->parked, 1, __ATOMIC_SEQ_CST);
			uint32_t seq = p->prepare(&l->owner, me);
			if (__atomic_load_n(&l->owner, __ATOMIC_SEQ_CST) == o)
				p->wait(&l->owner, o, seq);
			else
				p->cancel();
			__atomic_fetch_sub(&l->parked, 1, __ATOMIC_RELAXED);
			polls = 0;
			continue;
		}
		/* About d critical sections to go: look again after a pause
		 * that grows with them. */
		for (uint32_t k = d; k; k--)
			ks_plat_cpu_relax();
		polls++;
	}
}

void ks_spin_kick(struct ks_spinlock *l, uint32_t owner)
{
	const struct ks_spin_parking *p = __atomic_load_n(&parking, __ATOMIC_ACQUIRE);
	if (p)
		p->kick(&l->owner, owner, 2);    /* the new owner and the next */
}

#if KSPAN_DEBUG
static struct {
	uint32_t held[KS_RANK_COUNT];   /* locks of each rank this CPU holds */
} cpu_ranks[KSPAN_MAX_CPUS];

static const char *rank_name(int r)
{
	static const char *const names[KS_RANK_COUNT] = {
		"unranked", "gc", "slab", "mcentral", "mheap", "guard", "meta", "pagesrc",
		"paging", "frame", "fwcfg", "console",
	};
	return r >= 0 && r < KS_RANK_COUNT ? names[r] : "?";
}
#endif

void ks_spin_debug_acquire(struct ks_spinlock *l)
{
#if KSPAN_DEBUG
	int32_t me = (int32_t)ks_plat_cpu_id();
	if (__atomic_load_n(&l->holder, __ATOMIC_RELAXED) == me)
		ks_panic("spinlock %s: taken twice on cpu %d (deadlock)",
		         l->name, (int)me);
	if (l->rank <= KS_RANK_NONE || l->rank >= KS_RANK_COUNT)
		return;
	uint32_t *held = cpu_ranks[(unsigned)me % KSPAN_MAX_CPUS].held;
	for (int r = KS_RANK_COUNT - 1; r > l->rank; r--)
		if (held[r])
			ks_panic("spinlock %s (rank %d) taken while holding a %s "
			         "lock (rank %d) on cpu %d: lock order violated "
			         "(lib/spinlock.h)", l->name, (int)l->rank,
			         rank_name(r), r, (int)me);
	held[l->rank]++;
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
	if (l->rank <= KS_RANK_NONE || l->rank >= KS_RANK_COUNT)
		return;
	uint32_t *held = cpu_ranks[(unsigned)me % KSPAN_MAX_CPUS].held;
	if (held[l->rank] == 0)
		ks_panic("spinlock %s: released on cpu %d, which holds no %s lock",
		         l->name, (int)me, rank_name(l->rank));
	held[l->rank]--;
#else
	(void)l;
#endif
}

void ks_spin_debug_forget_held(void)
{
#if KSPAN_DEBUG
	unsigned cpu = ks_plat_cpu_id() % KSPAN_MAX_CPUS;
	for (int r = 0; r < KS_RANK_COUNT; r++)
		cpu_ranks[cpu].held[r] = 0;
#endif
}
