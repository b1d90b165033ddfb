/*
 * Run a function on several CPUs at once, in ordinary kernel context
 * (interrupts on), and wait for all of them: the harness of the SMP
 * self-tests and the scaling benchmark (see smp_run.c).
 */
#ifndef KSPAN_KERNEL_SMP_RUN_H
#define KSPAN_KERNEL_SMP_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/platform.h>
#include "arch/x86_64/percpu.h"

/* A CPU that makes no progress for this long is stuck (deadlock): a test
 * fails instead of hanging.  Slow is fine -- under TCG, with more virtual
 * CPUs than host cores, a CPU can be off its host core for a while. */
#define KT_RUN_TIMEOUT_US (30ull * 1000000)

/* Work per CPU when total units are shared out over n CPUs (at least min
 * each): the SMP self-tests do a fixed amount of work in all, whatever
 * -smp says. */
static inline uint64_t kt_share(uint64_t total, unsigned n, uint64_t min)
{
	uint64_t each = total / (n ? n : 1);
	return each < min ? min : each;
}

/* Progress counters, one per CPU: a long-running fn calls ks_run_tick()
 * now and then, so the waiter can tell slow (an emulator sharing two host
 * cores with other work) from stuck. */
extern uint64_t ks_run_progress[KSPAN_MAX_CPUS];

static inline void ks_run_tick(void)
{
	unsigned me = ks_cpu_index();
	__atomic_store_n(&ks_run_progress[me], ks_run_progress[me] + 1,
	                 __ATOMIC_RELAXED);
}

/* Halt this CPU for about us microseconds (interrupts on: a one-shot
 * LAPIC timer ends it, or any other interrupt), so that under an emulator
 * the host core goes to a CPU that has work. */
void ks_run_idle_us(uint64_t us);

/* Wait until n CPUs have called it with the same gate (set to 0 before
 * the run); waiting CPUs park (arch/x86_64/park.h), the last one kicks
 * them. */
void ks_run_barrier(uint32_t *gate, unsigned n);

/*
 * Run fn(arg_base + i * arg_stride) on CPUs i = 0..n-1 -- the calling CPU
 * (which must be CPU 0) runs i = 0 itself -- and wait until every CPU has
 * returned.  A CPU whose progress counter has not moved for stall_us is
 * reported as stuck and no longer waited for.  Returns 0, or the number
 * of CPUs that were busy with earlier work or got stuck (they are named
 * on the console; their work is still posted, so later calls skip them).
 */
int ks_run_on_cpus(unsigned n, void (*fn)(void *), void *arg_base,
                   size_t arg_stride, uint64_t stall_us);

#endif
