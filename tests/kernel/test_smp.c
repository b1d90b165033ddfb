/*
 * SMP machinery self-tests (arch/x86_64/smp_boot.c, smp_call.c, park.c,
 * lib/spinlock.h): every CPU online (as many as the runner's -smp, told
 * through fw_cfg) with its index in GS, its own guarded stack and working
 * exceptions; a phantom CPU (runner hook) reported and left out; a stray
 * interrupt vector EOIed; ks_smp_call_all exactly once per CPU, also with
 * every CPU calling at once; a remapped page read through every CPU's TLB
 * after the lazy NMI shootdown, also when another CPU did the unmap, and
 * parked CPUs spared that NMI; a ticket
 * lock taken by every CPU at once; stop-the-world freezing every other CPU
 * (parked, not spinning) and letting it go.  The heap under several CPUs
 * is tests/kernel/test_heap_smp.c, the collector test_gc_smp.c.
 *
 * Work shared out over the CPUs is a fixed amount in all (kt_share), so a
 * boot's time does not grow with -smp.  It runs on CPUs 0..N-1 through
 * ks_run_on_cpus (interrupts on) with a progress watchdog, so a deadlock
 * fails the test instead of hanging the boot.
 *
 * Tests run one at a time from CPU 0; per-CPU state lives in arrays
 * indexed by CPU (each CPU writes only its own entry) and is read by CPU 0
 * after ks_run_on_cpus returned.  Shared counters are atomics; the lock
 * test's counter is guarded by its lock.
 */
#include "kernel/selftest.h"

#include <kspan/platform.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fwcfg.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/trap.h"
#include "arch/x86_64/tsc.h"
#include "kernel/kernel.h"
#include "lib/spinlock.h"
#include "tests/kernel/smp_run.h"
#include "tests/kernel/testlib.h"
#include <kspan/frame.h>

#define RUN_TIMEOUT_US KT_RUN_TIMEOUT_US
#define CALLS_TOTAL    192u          /* ks_smp_call_all calls in all */
#define LOCK_TOTAL     20000u        /* lock acquisitions in all */

/* ---- identity ------------------------------------------------------------- */

struct ident {
	unsigned cpu_id, index;
	uint32_t apic;
	uint64_t rflags, gsbase;
	int probe_rc;
	unsigned probe_vec;
	uint64_t probe_cr2;
	uint64_t rsp;
} __attribute__((aligned(64)));

static struct ident ident[KSPAN_MAX_CPUS];

static void ident_fn(void *arg)
{
	struct ident *d = arg;
	uint64_t v;
	d->cpu_id = ks_cpu_index();
	d->index = ks_this_cpu()->index;
	d->apic = ks_lapic_id();
	d->rflags = read_rflags();
	d->gsbase = rdmsr(KS_MSR_GS_BASE);
	d->rsp = read_rsp();
	/* Exceptions work here: a read of page 0 faults and the probe's
	 * fixup returns -1, on this CPU's record. */
	d->probe_rc = ks_probe_read64((const void *)8, &v);
	d->probe_vec = ks_probe_last_vector();
	d->probe_cr2 = ks_probe_last_cr2();
}

KS_SELFTEST("smp: every CPU online, with its index in GS, its own stack, and working exceptions")
{
	unsigned n = ks_smp_ncpus();
	uint64_t want = 0, phantom = 0;
	if (ks_fwcfg_uint("opt/kspan/cpus", &want) == 0)   /* the runner's -smp */
		KT_EXPECT_EQ(n, want < KSPAN_MAX_CPUS ? want : KSPAN_MAX_CPUS);
	/* A phantom CPU (runner option) never answers: reported, left out,
	 * and the boot went on without it. */
	KT_EXPECT_EQ(ks_smp_left_out(),
	             ks_fwcfg_uint("opt/kspan/smp-phantom", &phantom) == 0 ? 1 : 0);
	KT_ASSERT(n >= 1 && n <= KSPAN_MAX_CPUS);
	KT_ASSERT_EQ(ks_run_on_cpus(n, ident_fn, ident, sizeof(ident[0]),
	                            RUN_TIMEOUT_US), 0);
	for (unsigned i = 0; i < n; i++) {
		const struct ident *d = &ident[i];
		KT_EXPECT_EQ(d->cpu_id, i);
		KT_EXPECT_EQ(d->index, i);
		KT_EXPECT_EQ(d->apic, ks_smp_apic_id(i));
		KT_EXPECT_EQ(d->gsbase, (uint64_t)(uintptr_t)&ks_percpu_area[i]);
		KT_EXPECT(d->rflags & KS_RFLAGS_IF);
		KT_EXPECT_EQ(d->probe_rc, -1);
		KT_EXPECT_EQ(d->probe_vec, 14);
		KT_EXPECT_EQ(d->probe_cr2, 8);
		if (i > 0)
			KT_EXPECT(d->rsp > ks_percpu_area[i].stack_lo &&
			          d->rsp <= ks_percpu_area[i].stack_hi);
		for (unsigned j = 0; j < i; j++)
			KT_EXPECT(ident[j].apic != d->apic);
	}
	/* The trampoline frames boot/ reserved: below 1 MiB, kernel memory. */
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	if (n > 1) {
		KT_EXPECT(bi->ap_trampoline >= 0x1000 &&
		          bi->ap_trampoline + bi->ap_trampoline_size <= 0xa0000);
		KT_EXPECT(kt_map_inside(bi->ap_trampoline, bi->ap_trampoline_size,
		                        KS_MEM_KERNEL));
	}
	kprintf("# %u CPU(s), APIC ids", n);
	for (unsigned i = 0; i < n; i++)
		kprintf(" %u", ident[i].apic);
	kprintf("\n");
}

KS_SELFTEST("smp: an AP's stack has an unmapped guard page below it")
{
	unsigned n = ks_smp_ncpus();
	for (unsigned i = 1; i < n; i++) {
		uint64_t lo = ks_percpu_area[i].stack_lo;
		KT_EXPECT(ks_paging_query(lo, NULL, NULL));
		KT_EXPECT(!ks_paging_query(lo - 4096, NULL, NULL));
		uint64_t v;
		KT_EXPECT_EQ(ks_probe_read64((const void *)(uintptr_t)(lo - 8), &v), -1);
	}
}

static void count_tick(void)
{
}

KS_SELFTEST("smp: an interrupt on a vector nobody handles is counted and EOIed; the timer still runs after it")
{
	struct ks_smp_cpu_stats s0, s1, s2;
	unsigned me = ks_cpu_index();
	ks_smp_cpu_stats(me, &s0);
	/* A fixed IPI to ourselves on vector 0x80, which has no handler. */
	KT_ASSERT_EQ(ks_lapic_send_ipi(ks_lapic_id(), KS_ICR_FIXED | 0x80), 0);
	uint64_t end = rdtsc() + ks_tsc_from_us(1000000);
	do
		ks_smp_cpu_stats(me, &s1);
	while (s1.stray == s0.stray && (int64_t)(rdtsc() - end) < 0);
	KT_EXPECT_EQ(s1.stray, s0.stray + 1);
	KT_EXPECT(!ks_lapic_in_service(0x80));
	/* Had the stray handler not sent EOI, vector 0x80 would block the
	 * timer (0x40, a lower priority class). */
	ks_smp_timer(1000, count_tick);
	end = rdtsc() + ks_tsc_from_us(5000000);
	do
		ks_smp_cpu_stats(me, &s2);
	while (s2.timer_ticks < s1.timer_ticks + 5 && (int64_t)(rdtsc() - end) < 0);
	ks_smp_timer(0, NULL);
	KT_EXPECT(s2.timer_ticks >= s1.timer_ticks + 5);
}

/* ---- cross-CPU calls -------------------------------------------------------- */

static uint64_t call_count[KSPAN_MAX_CPUS];
static uint64_t call_bad[KSPAN_MAX_CPUS];

static void count_fn(void *arg)
{
	unsigned me = ks_cpu_index();
	if (read_rflags() & KS_RFLAGS_IF)
		call_bad[me]++;          /* must run with interrupts off */
	__atomic_fetch_add(&call_count[me], (uint64_t)(uintptr_t)arg,
	                   __ATOMIC_RELAXED);
}

static unsigned calls_each(unsigned n)
{
	return (unsigned)kt_share(CALLS_TOTAL, n, 1);
}

static void call_storm(void *arg)
{
	(void)arg;
	unsigned calls = calls_each(ks_smp_ncpus());
	for (unsigned k = 0; k < calls; k++) {
		ks_smp_call_all(count_fn, (void *)1);
		ks_run_tick();
	}
}

KS_SELFTEST("smp: ks_smp_call_all runs on every other CPU once, _self on all; every CPU calls at once")
{
	unsigned n = ks_smp_ncpus();
	unsigned me = ks_cpu_index();
	__builtin_memset(call_count, 0, sizeof(call_count));
	__builtin_memset(call_bad, 0, sizeof(call_bad));
	ks_smp_call_all(count_fn, (void *)1);
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(call_count[i], i == me ? 0 : 1);
	ks_smp_call_all_self(count_fn, (void *)10);
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(call_count[i], i == me ? 10 : 11);
	/* Every CPU calls every other CPU calls_each() times, all at once. */
	__builtin_memset(call_count, 0, sizeof(call_count));
	KT_ASSERT_EQ(ks_run_on_cpus(n, call_storm, NULL, 0, RUN_TIMEOUT_US), 0);
	for (unsigned i = 0; i < n; i++) {
		KT_EXPECT_EQ(call_count[i], (uint64_t)calls_each(n) * (n - 1));
		KT_EXPECT_EQ(call_bad[i], 0);
	}
}

/* ---- TLB shootdown -------------------------------------------------------- */

static volatile uint64_t *tlb_va;
static uint64_t tlb_seen[KSPAN_MAX_CPUS];

static void tlb_read(void *arg)
{
	(void)arg;
	tlb_seen[ks_cpu_index()] = *tlb_va;
}

/* A page of fresh address space (tlb_va) and two frames, each holding a
 * word of its own, the page mapped to the first. */
struct tlb_page {
	uint64_t v, f1, f2;
};

static bool tlb_page_get(struct ks_test *kt, struct tlb_page *t, uint64_t w1, uint64_t w2)
{
	void *va = ks_plat_reserve(4096, 4096);
	t->v = (uint64_t)(uintptr_t)va;
	t->f1 = ks_frame_alloc(1, 4096);
	t->f2 = ks_frame_alloc(1, 4096);
	if (!KT_EXPECT(va != NULL && t->f1 && t->f2))
		return false;
	*(volatile uint64_t *)(uintptr_t)t->f1 = w1;
	*(volatile uint64_t *)(uintptr_t)t->f2 = w2;
	tlb_va = (volatile uint64_t *)va;
	return KT_EXPECT_EQ(ks_paging_map(t->v, t->f1, KS_MAP_WRITE), 0);
}

/* The page mapped to the second frame is unmapped, the frames freed. */
static void tlb_page_put(struct ks_test *kt, struct tlb_page *t)
{
	uint64_t old = 0;
	KT_EXPECT_EQ(ks_paging_unmap(t->v, &old), 0);
	KT_EXPECT_EQ(old, t->f2);
	ks_paging_sync();
	ks_frame_free(t->f1, 1);
	ks_frame_free(t->f2, 1);
}

KS_SELFTEST("smp: a page unmapped and mapped to another frame reads the new frame on every CPU")
{
	unsigned n = ks_smp_ncpus();
	struct tlb_page t;
	KT_ASSERT(tlb_page_get(kt, &t, 0x1111111111111111ull, 0x2222222222222222ull));
	struct ks_paging_stats p0, p1;
	ks_smp_call_all_self(tlb_read, NULL);      /* every TLB now holds f1 */
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(tlb_seen[i], 0x1111111111111111ull);
	uint64_t old = 0;
	KT_ASSERT_EQ(ks_paging_unmap(t.v, &old), 0);
	KT_EXPECT_EQ(old, t.f1);
	ks_paging_stats(&p0);
	KT_ASSERT_EQ(ks_paging_map(t.v, t.f2, KS_MAP_WRITE), 0);
	ks_paging_stats(&p1);
	ks_smp_call_all_self(tlb_read, NULL);
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(tlb_seen[i], 0x2222222222222222ull);
	if (n > 1)
		KT_EXPECT_EQ(p1.shootdowns, p0.shootdowns + 1);
	tlb_page_put(kt, &t);
}

/* The unmap done by another CPU than the one that maps the page again:
 * the mapping CPU's own TLB must not keep the old frame (it had read the
 * page; only the unmapping CPU ran invlpg). */
static uint32_t tlb_unmapped;

static void tlb_unmap(void *arg)
{
	uint64_t *old = arg;
	if (ks_paging_unmap((uint64_t)(uintptr_t)tlb_va, old) != 0)
		*old = 0;
	__atomic_store_n(&tlb_unmapped, 1, __ATOMIC_RELEASE);
}

KS_SELFTEST("smp: a page another CPU unmapped, mapped to another frame here, reads the new frame here")
{
	unsigned n = ks_smp_ncpus();
	if (n < 2) {
		kprintf("# one CPU: no other CPU to unmap\n");
		return;
	}
	struct tlb_page t;
	KT_ASSERT(tlb_page_get(kt, &t, 0x5555555555555555ull, 0x6666666666666666ull));
	KT_EXPECT_EQ(*tlb_va, 0x5555555555555555ull);   /* this TLB holds f1 */
	uint64_t old = 0;
	unsigned other = ks_cpu_index() == 0 ? 1 : 0;
	/* Spin, not park: a kick (an NMI) would flush this TLB. */
	tlb_unmapped = 0;
	KT_ASSERT_EQ(ks_smp_run(other, tlb_unmap, &old), 0);
	uint64_t end = rdtsc() + ks_tsc_from_us(RUN_TIMEOUT_US);
	while (!__atomic_load_n(&tlb_unmapped, __ATOMIC_ACQUIRE))
		KT_ASSERT((int64_t)(rdtsc() - end) < 0);
	KT_ASSERT_EQ(old, t.f1);
	struct ks_paging_stats p0, p1;
	ks_paging_stats(&p0);
	KT_ASSERT_EQ(ks_paging_map(t.v, t.f2, KS_MAP_WRITE), 0);
	ks_paging_stats(&p1);
	KT_EXPECT_EQ(*tlb_va, 0x6666666666666666ull);
	KT_ASSERT_EQ(ks_smp_wait(other, RUN_TIMEOUT_US), 0);
	KT_EXPECT_EQ(p1.shootdowns, p0.shootdowns + 1);
	KT_EXPECT_EQ(p1.local_flushes, p0.local_flushes + 1);
	ks_smp_call_all_self(tlb_read, NULL);
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(tlb_seen[i], 0x6666666666666666ull);
	tlb_page_put(kt, &t);
}

/* Every other CPU idle and in its halt window (or 0 after a second). */
static int others_parked(unsigned n)
{
	uint64_t end = rdtsc() + ks_tsc_from_us(1000000);
	unsigned me = ks_cpu_index();
	for (unsigned i = 0; i < n; i++) {
		if (i == me)
			continue;
		while (__atomic_load_n(&ks_percpu_area[i].park_halted,
		                       __ATOMIC_ACQUIRE) != 1 ||
		       !ks_smp_idle(i))
			if ((int64_t)(rdtsc() - end) > 0)
				return 0;
	}
	return 1;
}

KS_SELFTEST("smp: a shootdown spares parked CPUs the NMI; they flush when they wake and read the new frame")
{
	unsigned n = ks_smp_ncpus();
	if (n < 2) {
		kprintf("# one CPU: no shootdown\n");
		return;
	}
	struct tlb_page t;
	KT_ASSERT(tlb_page_get(kt, &t, 0x3333333333333333ull, 0x4444444444444444ull));
	ks_smp_call_all_self(tlb_read, NULL);      /* every TLB holds f1 */
	uint64_t old = 0;
	KT_ASSERT_EQ(ks_paging_unmap(t.v, &old), 0);
	struct ks_smp_cpu_stats s0[KSPAN_MAX_CPUS], s1;
	int parked = others_parked(n);
	for (unsigned i = 0; i < n; i++)
		ks_smp_cpu_stats(i, &s0[i]);
	KT_ASSERT_EQ(ks_paging_map(t.v, t.f2, KS_MAP_WRITE), 0);   /* shootdown */
	ks_smp_call_all_self(tlb_read, NULL);
	unsigned spared = 0;
	for (unsigned i = 0; i < n; i++) {
		KT_EXPECT_EQ(tlb_seen[i], 0x4444444444444444ull);
		ks_smp_cpu_stats(i, &s1);
		spared += s1.tlb_deferred > s0[i].tlb_deferred;
	}
	kprintf("# %u of %u other CPUs were parked and spared the NMI\n", spared,
	        n - 1);
	KT_EXPECT(parked);
	if (parked)
		KT_EXPECT_EQ(spared, n - 1);
	tlb_page_put(kt, &t);
}

/* ---- a ticket lock under every CPU ----------------------------------------- */

static struct ks_spinlock test_lock = KS_SPINLOCK_INIT("selftest", KS_RANK_NONE);
static uint64_t lock_count;              /* guarded by test_lock */
static int32_t lock_inside = -1;         /* who is inside; -1 nobody */

struct locker {
	unsigned cpu;
	uint64_t rounds, done, overlaps;
	uint64_t cycles, worst;
} __attribute__((aligned(64)));

static struct locker locker[KSPAN_MAX_CPUS];

static void lock_fn(void *arg)
{
	struct locker *l = arg;
	uint64_t t0 = rdtsc();
	for (uint64_t k = 0; k < l->rounds; k++) {
		uint64_t a = rdtsc();
		ks_irqstate_t st = ks_spin_lock_irqsave(&test_lock);
		uint64_t waited = rdtsc() - a;
		if (waited > l->worst)
			l->worst = waited;
		if (__atomic_exchange_n(&lock_inside, (int32_t)l->cpu,
		                        __ATOMIC_ACQ_REL) != -1)
			l->overlaps++;
		uint64_t c = lock_count;
		for (int i = 0; i < 8; i++)     /* a critical section worth */
			cpu_pause();            /* queueing behind */
		lock_count = c + 1;
		if (__atomic_exchange_n(&lock_inside, -1, __ATOMIC_ACQ_REL) !=
		    (int32_t)l->cpu)
			l->overlaps++;
		ks_spin_unlock_irqrestore(&test_lock, st);
		l->done++;
		if ((k & 63) == 0)
			ks_run_tick();
	}
	l->cycles = rdtsc() - t0;
}

KS_SELFTEST("smp: a ticket lock taken by every CPU at once: one holder at a time, every CPU gets its turns, waiters park")
{
	unsigned n = ks_smp_ncpus();
	uint64_t rounds = kt_share(LOCK_TOTAL, n, 1);
	struct ks_smp_cpu_stats s0[KSPAN_MAX_CPUS], s1;
	for (unsigned i = 0; i < n; i++) {
		__builtin_memset(&locker[i], 0, sizeof(locker[i]));
		locker[i].cpu = i;
		locker[i].rounds = rounds;
		ks_smp_cpu_stats(i, &s0[i]);
	}
	lock_count = 0;
	KT_ASSERT_EQ(ks_run_on_cpus(n, lock_fn, locker, sizeof(locker[0]),
	                            RUN_TIMEOUT_US), 0);
	uint64_t parks = 0, kicks = 0, worst = 0;
	for (unsigned i = 0; i < n; i++) {
		ks_smp_cpu_stats(i, &s1);
		parks += s1.parks - s0[i].parks;
		kicks += s1.kicks - s0[i].kicks;
		if (locker[i].worst > worst)
			worst = locker[i].worst;
		KT_EXPECT_EQ(locker[i].done, rounds);
		KT_EXPECT_EQ(locker[i].overlaps, 0);
	}
	kprintf("# %u CPUs x %llu acquisitions: %llu halt windows, %llu kicks, "
	        "longest wait %llu us\n", n, (unsigned long long)rounds,
	        (unsigned long long)parks, (unsigned long long)kicks,
	        (unsigned long long)ks_tsc_to_us(worst));
	KT_EXPECT_EQ(lock_count, rounds * n);
	KT_EXPECT_EQ(test_lock.owner, test_lock.next);
	KT_EXPECT_EQ(test_lock.parked, 0);
	/* Three or more CPUs queue up: whoever is not next in line parks,
	 * and every unlock that finds parked waiters kicks. */
	if (n >= 3)
		KT_EXPECT(parks > 0 && kicks > 0);
}

/* ---- stop the world -------------------------------------------------------- */

struct spinner {
	uint64_t progress;         /* read by CPU 0 while running */
	uint64_t stop_flag;
} __attribute__((aligned(64)));

static struct spinner spinner[KSPAN_MAX_CPUS];

static void spin_fn(void *arg)
{
	struct spinner *s = arg;
	while (!__atomic_load_n(&s->stop_flag, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&s->progress, s->progress + 1, __ATOMIC_RELAXED);
		if ((s->progress & 1023) == 0)
			ks_run_tick();
	}
}

static unsigned stop_rounds(unsigned n)
{
	unsigned r = 40 / n;
	return r < 4 ? 4 : r > 10 ? 10 : r;
}

KS_SELFTEST("smp: stop the world freezes every other CPU mid-loop, parked, and start lets them go")
{
	unsigned n = ks_smp_ncpus();
	if (n < 2) {
		kprintf("# one CPU: nothing to stop\n");
		return;
	}
	__builtin_memset(spinner, 0, sizeof(spinner));
	for (unsigned i = 1; i < n; i++)
		KT_ASSERT_EQ(ks_smp_run(i, spin_fn, &spinner[i]), 0);
	uint64_t deadline = rdtsc() + ks_tsc_from_us(RUN_TIMEOUT_US);
	for (unsigned i = 1; i < n; i++)
		while (__atomic_load_n(&spinner[i].progress, __ATOMIC_RELAXED) < 1000 &&
		       (int64_t)(rdtsc() - deadline) < 0)
			cpu_pause();

	unsigned rounds = stop_rounds(n);
	int frozen_ok = 0, parked_ok = 0, moved_after = 0;
	uint64_t snap[KSPAN_MAX_CPUS];
	struct ks_smp_cpu_stats p0[KSPAN_MAX_CPUS], p1;
	for (unsigned round = 0; round < rounds; round++) {
		for (unsigned i = 1; i < n; i++)
			ks_smp_cpu_stats(i, &p0[i]);
		ks_smp_stop_world();
		KT_EXPECT(ks_smp_world_stopped());
		for (unsigned i = 1; i < n; i++)
			snap[i] = __atomic_load_n(&spinner[i].progress, __ATOMIC_RELAXED);
		ks_delay_us(20000);
		int still = 1, parked = 1;
		for (unsigned i = 1; i < n; i++) {
			if (__atomic_load_n(&spinner[i].progress, __ATOMIC_RELAXED) != snap[i])
				still = 0;
			if (!__atomic_load_n(&ks_percpu_area[i].stopped, __ATOMIC_RELAXED))
				still = 0;
			ks_smp_cpu_stats(i, &p1);
			if (p1.parks == p0[i].parks)
				parked = 0;
		}
		ks_smp_start_world();
		frozen_ok += still;
		parked_ok += parked;
		uint64_t wait = rdtsc() + ks_tsc_from_us(RUN_TIMEOUT_US);
		int moved = 0;
		while (!moved && (int64_t)(rdtsc() - wait) < 0) {
			moved = 1;
			for (unsigned i = 1; i < n; i++)
				if (__atomic_load_n(&spinner[i].progress, __ATOMIC_RELAXED) ==
				    snap[i])
					moved = 0;
			cpu_pause();
		}
		moved_after += moved;
	}
	KT_EXPECT_EQ(frozen_ok, rounds);
	KT_EXPECT_EQ(parked_ok, rounds);
	KT_EXPECT_EQ(moved_after, rounds);
	KT_EXPECT(!ks_smp_world_stopped());
	for (unsigned i = 1; i < n; i++)
		__atomic_store_n(&spinner[i].stop_flag, 1, __ATOMIC_RELEASE);
	int late = 0;
	for (unsigned i = 1; i < n; i++)
		if (ks_smp_wait(i, RUN_TIMEOUT_US) != 0)
			late++;
	KT_EXPECT_EQ(late, 0);
	kprintf("# stop: %u stops held %u CPUs still (parked) for 20 ms each\n",
	        rounds, n - 1);
}
