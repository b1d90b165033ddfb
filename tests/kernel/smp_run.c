/*
 * ks_run_on_cpus (smp_run.h): post fn to CPUs 1..n-1 through ks_smp_run
 * (their idle loops run it with interrupts on), run the i = 0 part here,
 * then wait for each in slices of ks_smp_wait, restarting the clock
 * whenever the CPU's progress counter moved.  A CPU that is still busy
 * with earlier work or stops making progress is reported and counted,
 * never waited on forever.  Called from the boot CPU only (one poster per
 * CPU).  State: ks_run_progress, each entry written by its own CPU; a
 * barrier's gate, counted up atomically.
 */
#include "tests/kernel/smp_run.h"

#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "kernel/kernel.h"
#include <kspan/platform.h>
#include "arch/x86_64/tsc.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/park.h"

uint64_t ks_run_progress[KSPAN_MAX_CPUS];

/* Wait for cpu's posted work; 0 done, -1 no progress for stall_us. */
static int wait_progress(unsigned cpu, uint64_t stall_us)
{
	uint64_t seen = __atomic_load_n(&ks_run_progress[cpu], __ATOMIC_RELAXED);
	uint64_t last = rdtsc();
	for (;;) {
		if (ks_smp_wait(cpu, 100000) == 0)
			return 0;
		uint64_t now = __atomic_load_n(&ks_run_progress[cpu], __ATOMIC_RELAXED);
		if (now != seen) {
			seen = now;
			last = rdtsc();
		} else if (ks_tsc_to_us(rdtsc() - last) > stall_us) {
			return -1;
		}
	}
}

void ks_run_idle_us(uint64_t us)
{
	static uint32_t never;          /* nobody changes it or kicks it */
	uint64_t d = rdtsc() + ks_tsc_from_us(us);
	uint32_t seq = ks_park_prepare(&never, 0);
	ks_park_wait_until(&never, 0, seq, d);
}

void ks_run_barrier(uint32_t *gate, unsigned n)
{
	uint32_t v = __atomic_add_fetch(gate, 1, __ATOMIC_SEQ_CST);
	if (v >= n) {
		ks_park_kick(gate);
		return;
	}
	while ((v = __atomic_load_n(gate, __ATOMIC_ACQUIRE)) < n) {
		uint32_t seq = ks_park_prepare(gate, 0);
		if (__atomic_load_n(gate, __ATOMIC_ACQUIRE) >= n) {
			ks_park_cancel();
			break;
		}
		ks_park_wait(gate, v, seq);
	}
}

int ks_run_on_cpus(unsigned n, void (*fn)(void *), void *arg_base,
                   size_t arg_stride, uint64_t stall_us)
{
	if (ks_cpu_index() != 0)
		kpanic("ks_run_on_cpus: called on CPU %u, only CPU 0 posts work",
		       ks_cpu_index());
	if (n == 0 || n > ks_smp_ncpus())
		kpanic("ks_run_on_cpus: %u CPUs asked for, %u online", n,
		       ks_smp_ncpus());
	char *base = arg_base;
	int bad = 0;
	unsigned posted[64];
	unsigned np = 0;
	for (unsigned i = 1; i < n; i++) {
		if (ks_smp_run(i, fn, base + i * arg_stride) != 0) {
			kprintf("# ks_run_on_cpus: CPU %u is still busy with earlier "
			        "work; not used\n", i);
			bad++;
			continue;
		}
		posted[np++] = i;
	}
	fn(base);
	for (unsigned k = 0; k < np; k++) {
		if (wait_progress(posted[k], stall_us) != 0) {
			kprintf("# ks_run_on_cpus: CPU %u made no progress for %llu "
			        "ms: stuck\n", posted[k],
			        (unsigned long long)(stall_us / 1000));
			bad++;
		}
	}
	return bad;
}
