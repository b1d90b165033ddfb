/*
 * SMP self-tests.  The machinery: every CPU online (as many as the runner's
 * -smp, told through fw_cfg) with its index in GS, its own guarded stack
 * and working exceptions; a phantom CPU (runner hook) reported and left
 * out; a stray interrupt vector EOIed; ks_smp_call_all exactly once per
 * CPU, also with every CPU calling at once; a remapped page read through
 * every CPU's TLB after the lazy NMI shootdown.  Then the heap under real
 * concurrency --
 *
 *   hammer   every CPU allocates and frees at once (random sizes, pattern
 *            checks on every object): 10^6 operations per CPU up to 4
 *            CPUs; beyond, 4*10^6 shared out and each CPU also stops after
 *            a time budget, so -smp 8 / 16 boots stay short (TCG runs the
 *            vCPUs on two host cores, where spinlock holders get
 *            descheduled and the heap's locks convoy);
 *   rings    objects allocated on CPU i are freed on CPU j, through one
 *            single-producer/single-consumer ring per ordered pair (i, j),
 *            FIFO order and contents checked;
 *   timer    the LAPIC timer interrupts every CPU 1000 times a second and
 *            its handler allocates and frees (pattern-checked) while the
 *            CPU's main code hammers the heap;
 *   stop     stop-the-world really stops the other CPUs mid-workload, and
 *            a collection (kgc) runs while they allocate;
 *   no leak  after each of these, every CPU frees what it holds, every
 *            CPU drains its cache (ks_smp_call_all_self), and the heap's
 *            free pages equal the count before, with kspan_check passing.
 *
 * The work runs on CPUs 0..N-1 through ks_run_on_cpus (interrupts on) with
 * a progress watchdog (RUN_TIMEOUT_US without progress = stuck), so a
 * deadlock fails the test instead of hanging the boot.
 * Per-CPU results are printed as TAP comments ("# cpu 2: ...").
 *
 * Tests run one at a time from CPU 0; per-CPU state lives in arrays
 * indexed by CPU (each CPU writes only its own entry) and is read by CPU 0
 * after ks_run_on_cpus returned.  Shared counters are atomics.
 */
#include "kernel/selftest.h"

#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fwcfg.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/trap.h"
#include "arch/x86_64/tsc.h"
#include "kernel/kernel.h"
#include "kernel/heap.h"
#include "tests/kernel/smp_run.h"
#include "tests/kernel/testlib.h"
#include <kspan/frame.h>
#include "tests/common/pattern.h"

/* A CPU that makes no progress for this long is stuck (deadlock): the
 * test fails instead of hanging.  Slow is fine -- under TCG, with more
 * vCPUs than host cores, a lock holder can be descheduled for a while. */
#define RUN_TIMEOUT_US (30ull * 1000000)

/* Operations per CPU for the hammer: 10^6 up to 4 CPUs, then 4*10^6 in
 * all ... */
static uint64_t ops_per_cpu(unsigned n)
{
	return n <= 4 ? 1000000 : 4000000 / n;
}

/* ... and beyond 4 CPUs, at most this long (then 0: no time limit). */
static uint64_t budget_deadline(unsigned n, uint64_t us)
{
	return n <= 4 || !us ? 0 : rdtsc() + ks_tsc_from_us(us);
}

/* ---- helpers ------------------------------------------------------------- */

/* Every CPU's cache drained, the heap checked: its free pages. */
static uint64_t drained_free_pages(void)
{
	ks_kernel_heap_drain_all();
	kspan_check();
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	return hs.pages_free;
}

/* Random request size: mostly small, some up to 2 KiB, few up to 16 KiB
 * and a rare large object (a span of its own, through the heap lock). */
static size_t rand_size(uint64_t r)
{
	unsigned kind = (unsigned)(r % 1000);
	r >>= 10;
	if (kind < 800)
		return 1 + r % 128;
	if (kind < 985)
		return 129 + r % 1920;
	if (kind < 999)
		return 2049 + r % 14336;
	return 32769 + r % 65536;
}

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
	d->cpu_id = ks_plat_cpu_id();
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
	unsigned me = ks_plat_cpu_id();
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
	unsigned me = ks_plat_cpu_id();
	if (read_rflags() & KS_RFLAGS_IF)
		call_bad[me]++;          /* must run with interrupts off */
	__atomic_fetch_add(&call_count[me], (uint64_t)(uintptr_t)arg,
	                   __ATOMIC_RELAXED);
}

static unsigned calls_each(unsigned n)
{
	return n <= 4 ? 50 : n <= 8 ? 20 : 8;
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
	unsigned me = ks_plat_cpu_id();
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
	tlb_seen[ks_plat_cpu_id()] = *tlb_va;
}

KS_SELFTEST("smp: a page unmapped and mapped to another frame reads the new frame on every CPU")
{
	unsigned n = ks_smp_ncpus();
	void *va = ks_plat_reserve(4096, 4096);
	KT_ASSERT(va != NULL);
	uint64_t v = (uint64_t)(uintptr_t)va;
	uint64_t f1 = ks_frame_alloc(1, 4096), f2 = ks_frame_alloc(1, 4096);
	KT_ASSERT(f1 && f2);
	*(volatile uint64_t *)(uintptr_t)f1 = 0x1111111111111111ull;
	*(volatile uint64_t *)(uintptr_t)f2 = 0x2222222222222222ull;
	tlb_va = (volatile uint64_t *)va;
	struct ks_paging_stats p0, p1;

	KT_ASSERT_EQ(ks_paging_map(v, f1, KS_MAP_WRITE), 0);
	ks_smp_call_all_self(tlb_read, NULL);      /* every TLB now holds f1 */
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(tlb_seen[i], 0x1111111111111111ull);
	uint64_t old = 0;
	KT_ASSERT_EQ(ks_paging_unmap(v, &old), 0);
	KT_EXPECT_EQ(old, f1);
	ks_paging_stats(&p0);
	KT_ASSERT_EQ(ks_paging_map(v, f2, KS_MAP_WRITE), 0);
	ks_paging_stats(&p1);
	ks_smp_call_all_self(tlb_read, NULL);
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(tlb_seen[i], 0x2222222222222222ull);
	if (n > 1)
		KT_EXPECT_EQ(p1.shootdowns, p0.shootdowns + 1);
	KT_EXPECT_EQ(ks_paging_unmap(v, &old), 0);
	KT_EXPECT_EQ(old, f2);
	ks_paging_sync();
	ks_frame_free(f1, 1);
	ks_frame_free(f2, 1);
}

/* ---- hammer: every CPU allocates and frees at once ----------------------- */

#define HAMMER_SLOTS 512

struct slot {
	void *p;
	size_t n;
	uint64_t seed;
};

struct hammer {
	unsigned cpu;
	uint64_t ops;              /* to do */
	struct slot *slots;
	uint64_t done, allocs, frees, bytes, bad, fails;
	uint64_t cycles;
	uint64_t progress;         /* read by other CPUs while running */
	uint64_t stop_flag;        /* run until set (ops == 0) */
	uint64_t deadline;         /* TSC; stop there if not 0 */
	uint64_t slow0, fslow0;    /* slow-path counters at setup */
} __attribute__((aligned(64)));

static struct hammer hammer[KSPAN_MAX_CPUS];

static int hammer_step(struct hammer *h, uint64_t *rng, uint64_t op)
{
	uint64_t r = ks_rand(rng);
	struct slot *s = &h->slots[r % HAMMER_SLOTS];
	r >>= 9;
	if (s->p) {
		if (!check_pattern(s->p, s->n, s->seed)) {
			if (!h->bad++)
				kprintf("# cpu %u: object %p (%zu bytes) corrupted\n",
				        h->cpu, s->p, s->n);
			return -1;
		}
		kfree(s->p);
		s->p = NULL;
		h->frees++;
	} else {
		size_t n = rand_size(r);
		void *p = kmalloc(n);
		if (!p) {
			h->fails++;
			return -1;
		}
		uint64_t seed = ((uint64_t)h->cpu << 48) ^ op;
		fill_pattern(p, n, seed);
		s->p = p;
		s->n = n;
		s->seed = seed;
		h->allocs++;
		h->bytes += n;
	}
	return 0;
}

static void hammer_free_all(struct hammer *h)
{
	for (unsigned i = 0; i < HAMMER_SLOTS; i++) {
		struct slot *s = &h->slots[i];
		if (!s->p)
			continue;
		if (!check_pattern(s->p, s->n, s->seed))
			h->bad++;
		kfree(s->p);
		s->p = NULL;
		h->frees++;
	}
}

static void hammer_fn(void *arg)
{
	struct hammer *h = arg;
	uint64_t rng = ks_selftest_rng(0x9E3779B97F4A7C15ull * (h->cpu + 1));
	uint64_t t0 = rdtsc();
	for (uint64_t op = 1; h->ops ? op <= h->ops :
	     !__atomic_load_n(&h->stop_flag, __ATOMIC_ACQUIRE); op++) {
		if (hammer_step(h, &rng, op) != 0)
			break;
		h->done++;
		__atomic_store_n(&h->progress, op, __ATOMIC_RELAXED);
		if ((op & 255) == 0) {
			ks_run_tick();
			if (h->deadline && (int64_t)(rdtsc() - h->deadline) > 0)
				break;
		}
	}
	hammer_free_all(h);
	h->cycles = rdtsc() - t0;
}

static int hammer_setup(unsigned n, uint64_t ops, uint64_t budget_us)
{
	uint64_t deadline = budget_deadline(n, budget_us);
	for (unsigned i = 0; i < n; i++) {
		struct hammer *h = &hammer[i];
		__builtin_memset(h, 0, sizeof(*h));
		h->cpu = i;
		h->ops = ops;
		h->deadline = deadline;
		struct kspan_cpu_stats cs;
		kspan_cpu_stats(i, &cs);
		h->slow0 = cs.slow_allocs;
		h->fslow0 = cs.locked_frees;
		h->slots = kzalloc(HAMMER_SLOTS * sizeof(struct slot));
		if (!h->slots)
			return -1;
	}
	return 0;
}

static void hammer_teardown(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		kfree(hammer[i].slots);
		hammer[i].slots = NULL;
	}
}

static void hammer_report(struct ks_test *kt, unsigned n, const char *what)
{
	uint64_t hz = ks_tsc_hz();
	for (unsigned i = 0; i < n; i++) {
		const struct hammer *h = &hammer[i];
		struct kspan_cpu_stats c;
		kspan_cpu_stats(i, &c);
		uint64_t us = hz ? h->cycles * 1000000 / hz : 0;
		/* The fast paths count nothing: fast = all - slow. */
		uint64_t sa = c.slow_allocs - h->slow0, sf = c.locked_frees - h->fslow0;
		uint64_t fa = h->allocs > sa ? h->allocs - sa : 0;
		uint64_t ff = h->frees > sf ? h->frees - sf : 0;
		kprintf("# cpu %u: %llu ops%s, %llu allocs, %llu frees, %llu KiB, "
		        "%llu ms, %llu kops/s; per-CPU cache served %llu.%01llu%% of "
		        "small allocs, %llu.%01llu%% of small frees\n", i,
		        (unsigned long long)h->done, what,
		        (unsigned long long)h->allocs, (unsigned long long)h->frees,
		        (unsigned long long)(h->bytes >> 10),
		        (unsigned long long)(us / 1000),
		        (unsigned long long)(us ? h->done * 1000 / us : 0),
		        (unsigned long long)(fa + sa ? fa * 100 / (fa + sa) : 0),
		        (unsigned long long)(fa + sa ? fa * 1000 / (fa + sa) % 10 : 0),
		        (unsigned long long)(ff + sf ? ff * 100 / (ff + sf) : 0),
		        (unsigned long long)(ff + sf ? ff * 1000 / (ff + sf) % 10 : 0));
		KT_EXPECT_EQ(h->bad, 0);
		KT_EXPECT_EQ(h->fails, 0);
		KT_EXPECT_EQ(h->allocs, h->frees);
	}
}

KS_SELFTEST("smp: every CPU allocates and frees at once, pattern-checked, nothing leaks")
{
	unsigned n = ks_smp_ncpus();
	uint64_t ops = ops_per_cpu(n);
	KT_ASSERT_EQ(hammer_setup(n, ops, n <= 8 ? 8000000 : 5000000), 0);
	uint64_t before = drained_free_pages();
	KT_ASSERT_EQ(ks_run_on_cpus(n, hammer_fn, hammer, sizeof(hammer[0]),
	                            RUN_TIMEOUT_US), 0);
	hammer_report(kt, n, "");
	for (unsigned i = 0; i < n; i++) {
		if (n <= 4)
			KT_EXPECT_EQ(hammer[i].done, ops);
		else
			KT_EXPECT(hammer[i].done > 0 && hammer[i].done <= ops);
	}
	KT_EXPECT_EQ(drained_free_pages(), before);
	hammer_teardown(n);
}

/* ---- rings: every ordered pair of CPUs hands objects over ----------------- */

#define RING_CAP 64

/* Objects in flight per ring: fewer with many CPUs, whose cross-CPU frees
 * all go through the heap's locks (and convoy there under TCG). */
static unsigned ring_cap(unsigned n)
{
	return n <= 4 ? RING_CAP : n <= 8 ? 16 : 8;
}

struct ring {
	uint64_t tail;             /* producer's */
	uint64_t closed;           /* producer's: 1 after its last object */
	uint64_t pad0[6];
	uint64_t head;             /* consumer's */
	uint64_t pad1[7];
	void *slot[RING_CAP];
} __attribute__((aligned(64)));

struct ringer {
	unsigned cpu, n;
	struct ring *rings;        /* [producer * n + consumer] */
	uint64_t per_pair;         /* objects each CPU sends each other CPU */
	uint64_t deadline;         /* TSC; stop sending there if not 0 */
	uint64_t sent, received, bad, fails, order, timeouts;
	uint64_t cycles;
} __attribute__((aligned(64)));

static struct ringer ringer[KSPAN_MAX_CPUS];

static uint64_t ring_seed(unsigned from, unsigned to, uint64_t seq)
{
	return ((uint64_t)from << 56) | ((uint64_t)to << 48) | seq;
}

static size_t ring_size(uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull;
	return 8 + (size_t)((x >> 40) % 1000);
}

static void ring_fn(void *arg)
{
	struct ringer *r = arg;
	unsigned me = r->cpu, n = r->n;
	uint64_t sent_to[KSPAN_MAX_CPUS] = { 0 }, got_from[KSPAN_MAX_CPUS] = { 0 };
	uint64_t want = r->per_pair * (n - 1);
	uint64_t cap = ring_cap(n);
	uint64_t t0 = rdtsc(), last_move = t0, last_ops = ~0ull, mine = ~0ull;
	int closed_out = 0;
	for (;;) {
		uint64_t now = rdtsc();
		if (r->sent + r->received != mine) {
			mine = r->sent + r->received;
			ks_run_tick();
		}
		/* Give up only when no CPU moved an object for a long time
		 * (a deadlock), not when this one waits on slow peers. */
		uint64_t all = 0;
		for (unsigned j = 0; j < n; j++)
			all += __atomic_load_n(&ringer[j].sent, __ATOMIC_RELAXED) +
			       __atomic_load_n(&ringer[j].received, __ATOMIC_RELAXED);
		if (all != last_ops) {
			last_ops = all;
			last_move = now;
		} else if (ks_tsc_to_us(now - last_move) > RUN_TIMEOUT_US) {
			r->timeouts++;
			break;
		}
		int producing = r->sent < want && !r->fails &&
		                !(r->deadline && (int64_t)(now - r->deadline) > 0);
		if (!producing && !closed_out) {
			for (unsigned j = 0; j < n; j++)
				if (j != me)
					__atomic_store_n(&r->rings[me * n + j].closed, 1,
					                 __ATOMIC_RELEASE);
			closed_out = 1;
		}
		int open_in = 0;
		for (unsigned j = 0; j < n; j++) {
			if (j == me)
				continue;
			/* Produce into (me -> j) while there is room. */
			struct ring *out = &r->rings[me * n + j];
			uint64_t tail = out->tail;
			while (producing && sent_to[j] < r->per_pair &&
			       tail - __atomic_load_n(&out->head, __ATOMIC_ACQUIRE) < cap) {
				uint64_t seed = ring_seed(me, j, sent_to[j]);
				size_t sz = ring_size(seed);
				void *p = kmalloc(sz);
				if (!p) {
					r->fails++;
					break;
				}
				fill_pattern(p, sz, seed);
				out->slot[tail % RING_CAP] = p;
				tail++;
				__atomic_store_n(&out->tail, tail, __ATOMIC_RELEASE);
				sent_to[j]++;
				__atomic_store_n(&r->sent, r->sent + 1, __ATOMIC_RELAXED);
			}
			/* Consume from (j -> me): check FIFO contents, free. */
			struct ring *in = &r->rings[j * n + me];
			int closed = (int)__atomic_load_n(&in->closed, __ATOMIC_ACQUIRE);
			uint64_t head = in->head;
			while (head < __atomic_load_n(&in->tail, __ATOMIC_ACQUIRE)) {
				void *p = in->slot[head % RING_CAP];
				uint64_t seed = ring_seed(j, me, got_from[j]);
				if (!check_pattern(p, ring_size(seed), seed)) {
					if (!r->bad++)
						kprintf("# cpu %u: object %p from cpu %u, #%llu, "
						        "corrupted or out of order\n", me, p, j,
						        (unsigned long long)got_from[j]);
				}
				kfree(p);
				head++;
				__atomic_store_n(&in->head, head, __ATOMIC_RELEASE);
				got_from[j]++;
				__atomic_store_n(&r->received, r->received + 1,
				                 __ATOMIC_RELAXED);
			}
			if (!closed || head != __atomic_load_n(&in->tail, __ATOMIC_ACQUIRE))
				open_in = 1;
		}
		if (closed_out && !open_in)
			break;
	}
	r->cycles = rdtsc() - t0;
}

KS_SELFTEST("smp: objects allocated on each CPU are freed on every other, through a ring per ordered pair")
{
	unsigned n = ks_smp_ncpus();
	if (n < 2) {
		kprintf("# one CPU: no pairs\n");
		return;
	}
	/* 2*10^5 operations (10^5 objects sent) per CPU up to -smp 4; beyond,
	 * 4*10^5 in all and a time budget for sending. */
	uint64_t per_pair = (n <= 4 ? 100000 : 200000 / n) / (n - 1);
	struct ring *rings = kzalloc((size_t)n * n * sizeof(struct ring));
	KT_ASSERT(rings != NULL);
	uint64_t before = drained_free_pages();
	uint64_t deadline = budget_deadline(n, n <= 8 ? 8000000 : 5000000);
	for (unsigned i = 0; i < n; i++) {
		__builtin_memset(&ringer[i], 0, sizeof(ringer[i]));
		ringer[i].cpu = i;
		ringer[i].n = n;
		ringer[i].rings = rings;
		ringer[i].per_pair = per_pair;
		ringer[i].deadline = deadline;
	}
	struct kspan_heap_stats h0, h1;
	kspan_heap_stats(&h0);
	KT_ASSERT_EQ(ks_run_on_cpus(n, ring_fn, ringer, sizeof(ringer[0]),
	                            RUN_TIMEOUT_US), 0);
	kspan_heap_stats(&h1);
	kprintf("# rings: at most %u objects in flight per pair; %llu frees went "
	        "to the owning CPU in %llu batches, %llu reached a lock, %llu span "
	        "refills\n", ring_cap(n),
	        (unsigned long long)(h1.remote_frees - h0.remote_frees),
	        (unsigned long long)(h1.remote_batches - h0.remote_batches),
	        (unsigned long long)(h1.locked_frees - h0.locked_frees),
	        (unsigned long long)(h1.refills - h0.refills));
	uint64_t hz = ks_tsc_hz();
	for (unsigned i = 0; i < n; i++) {
		const struct ringer *r = &ringer[i];
		uint64_t us = hz ? r->cycles * 1000000 / hz : 0;
		kprintf("# cpu %u: %llu ops, sent %llu to and received %llu from "
		        "%u CPUs, %llu ms\n", i,
		        (unsigned long long)(r->sent + r->received),
		        (unsigned long long)r->sent, (unsigned long long)r->received,
		        n - 1, (unsigned long long)(us / 1000));
		KT_EXPECT_EQ(r->bad, 0);
		KT_EXPECT_EQ(r->fails, 0);
		KT_EXPECT_EQ(r->timeouts, 0);
		/* Everything sent to this CPU arrived. */
		uint64_t to_me = 0;
		for (unsigned j = 0; j < n; j++)
			if (j != i)
				to_me += rings[j * n + i].tail;
		KT_EXPECT_EQ(r->received, to_me);
		if (n <= 4)
			KT_EXPECT_EQ(r->sent, per_pair * (n - 1));
		else
			KT_EXPECT(r->sent > 0);
	}
	/* Whatever a failed run left in the rings goes back too. */
	for (unsigned k = 0; k < n * n; k++)
		for (uint64_t h = rings[k].head; h < rings[k].tail; h++)
			kfree(rings[k].slot[h % RING_CAP]);
	KT_EXPECT_EQ(drained_free_pages(), before);
	kfree(rings);
}

/* ---- the timer interrupt allocates while the CPUs hammer ------------------ */

#define TICK_OBJS 16
#define TIMER_HZ  1000

struct ticker {
	void *obj[TICK_OBJS];
	size_t len[TICK_OBJS];
	uint64_t seed[TICK_OBJS];
	unsigned next;
	uint64_t rng;
	uint64_t ticks, allocs, frees, bad, fails, if_on;
} __attribute__((aligned(64)));

static struct ticker ticker[KSPAN_MAX_CPUS];

static void tick_fn(void)
{
	struct ticker *t = &ticker[ks_plat_cpu_id()];
	t->ticks++;
	if (read_rflags() & KS_RFLAGS_IF)
		t->if_on++;              /* a handler must run with IF off */
	for (int k = 0; k < 2; k++) {
		unsigned i = t->next++ % TICK_OBJS;
		if (t->obj[i]) {
			if (!check_pattern(t->obj[i], t->len[i], t->seed[i]))
				t->bad++;
			kfree(t->obj[i]);
			t->obj[i] = NULL;
			t->frees++;
		}
		uint64_t r = ks_rand(&t->rng);
		size_t n = 1 + r % 2048;
		void *p = kmalloc(n);
		if (!p) {
			t->fails++;
			continue;
		}
		t->seed[i] = r;
		t->len[i] = n;
		fill_pattern(p, n, r);
		t->obj[i] = p;
		t->allocs++;
	}
}

static void timer_hammer_fn(void *arg)
{
	struct hammer *h = arg;
	struct ticker *t = &ticker[h->cpu];
	t->rng = ks_selftest_rng(0xABCDEFull + h->cpu);
	ks_smp_timer(TIMER_HZ, tick_fn);
	hammer_fn(h);
	/* Keep going until the timer fired a good number of times. */
	uint64_t limit = rdtsc() + ks_tsc_from_us(RUN_TIMEOUT_US / 2);
	while (__atomic_load_n(&t->ticks, __ATOMIC_RELAXED) < 200 &&
	       (int64_t)(rdtsc() - limit) < 0)
		cpu_pause();
	ks_smp_timer(0, NULL);
	for (unsigned i = 0; i < TICK_OBJS; i++) {
		if (!t->obj[i])
			continue;
		if (!check_pattern(t->obj[i], t->len[i], t->seed[i]))
			t->bad++;
		kfree(t->obj[i]);
		t->obj[i] = NULL;
		t->frees++;
	}
}

KS_SELFTEST("smp: the LAPIC timer handler allocates and frees on every CPU while the CPUs hammer the heap")
{
	unsigned n = ks_smp_ncpus();
	uint64_t ops = ops_per_cpu(n) / 4;
	KT_ASSERT_EQ(hammer_setup(n, ops, 4000000), 0);
	__builtin_memset(ticker, 0, sizeof(ticker));
	uint64_t before = drained_free_pages();
	KT_ASSERT_EQ(ks_run_on_cpus(n, timer_hammer_fn, hammer, sizeof(hammer[0]),
	                            RUN_TIMEOUT_US), 0);
	hammer_report(kt, n, " (with timer)");
	for (unsigned i = 0; i < n; i++) {
		const struct ticker *t = &ticker[i];
		kprintf("# cpu %u: timer fired %llu times, handler did %llu allocs, "
		        "%llu frees\n", i, (unsigned long long)t->ticks,
		        (unsigned long long)t->allocs, (unsigned long long)t->frees);
		KT_EXPECT(t->ticks >= 200);
		KT_EXPECT_EQ(t->bad, 0);
		KT_EXPECT_EQ(t->fails, 0);
		KT_EXPECT_EQ(t->if_on, 0);
		KT_EXPECT_EQ(t->allocs, t->frees);
		KT_EXPECT(t->allocs > 0);
		if (n <= 4)
			KT_EXPECT_EQ(hammer[i].done, ops);
		else
			KT_EXPECT(hammer[i].done > 0 && hammer[i].done <= ops);
	}
	KT_EXPECT_EQ(drained_free_pages(), before);
	hammer_teardown(n);
}

/* ---- stop the world, and a collection while the others allocate --------- */

struct gc_node {
	struct gc_node *next;
	uint64_t value;
	uint64_t check;
};

#if KSPAN_GC
static const uint8_t gc_node_mask[1] = { 0x1 };   /* word 0 is a pointer */
static const struct kgc_type gc_node_type = {
	sizeof(struct gc_node), gc_node_mask, "gc_node" };
#endif

static void stop_hammer_fn(void *arg)
{
	hammer_fn(arg);
}

KS_SELFTEST("smp: stop the world halts every other CPU mid-workload; a collection runs while they allocate")
{
	unsigned n = ks_smp_ncpus();
	if (n < 2) {
		kprintf("# one CPU: nothing to stop\n");
		return;
	}
	KT_ASSERT_EQ(hammer_setup(n, 0, 0), 0);
	uint64_t before = drained_free_pages();
	/* CPUs 1..n-1 hammer until told to stop; CPU 0 does the rest. */
	for (unsigned i = 1; i < n; i++)
		KT_ASSERT_EQ(ks_smp_run(i, stop_hammer_fn, &hammer[i]), 0);
	uint64_t deadline = rdtsc() + ks_tsc_from_us(20000000);
	for (unsigned i = 1; i < n; i++)
		while (__atomic_load_n(&hammer[i].progress, __ATOMIC_RELAXED) < 1000 &&
		       (int64_t)(rdtsc() - deadline) < 0)
			cpu_pause();

	int frozen_ok = 0, moved_after = 0, rounds = n <= 4 ? 10 : 4;
	uint64_t snap[KSPAN_MAX_CPUS];
	for (int round = 0; round < rounds; round++) {
		ks_smp_stop_world();
		KT_EXPECT(ks_smp_world_stopped());
		for (unsigned i = 1; i < n; i++)
			snap[i] = __atomic_load_n(&hammer[i].progress, __ATOMIC_RELAXED);
		ks_delay_us(20000);
		int still = 1;
		for (unsigned i = 1; i < n; i++) {
			if (__atomic_load_n(&hammer[i].progress, __ATOMIC_RELAXED) != snap[i])
				still = 0;
			if (!__atomic_load_n(&ks_percpu_area[i].stopped, __ATOMIC_RELAXED))
				still = 0;
		}
		ks_smp_start_world();
		frozen_ok += still;
		uint64_t wait = rdtsc() + ks_tsc_from_us(RUN_TIMEOUT_US);
		int moved = 0;
		while (!moved && (int64_t)(rdtsc() - wait) < 0) {
			moved = 1;
			for (unsigned i = 1; i < n; i++)
				if (__atomic_load_n(&hammer[i].progress, __ATOMIC_RELAXED) ==
				    snap[i])
					moved = 0;
			cpu_pause();
		}
		moved_after += moved;
	}
	KT_EXPECT_EQ(frozen_ok, rounds);
	KT_EXPECT_EQ(moved_after, rounds);
	KT_EXPECT(!ks_smp_world_stopped());

#if KSPAN_GC
	/* A collected list, rooted here, survives collections that free the
	 * garbage allocated alongside it -- while the others keep going. */
	static struct gc_node *root;
	root = NULL;
	kgc_root_add(&root, sizeof(root));
	struct kgc_stats g0, g1;
	kgc_stats(&g0);
	enum { KEEP = 2000, GARBAGE = 20000 };
	for (int i = 0; i < KEEP + GARBAGE; i++) {
		struct gc_node *x = kgc_alloc(sizeof(*x), &gc_node_type);
		KT_ASSERT(x != NULL);
		x->value = (uint64_t)i;
		x->check = (uint64_t)i * 0x9E3779B97F4A7C15ull;
		if (i % 11 == 0 && i / 11 < KEEP) {
			x->next = root;
			root = x;
		}
	}
	kgc_collect();
	kgc_stats(&g1);
	uint64_t kept = 0, bad = 0, listed = 0;
	for (int i = 0; i < KEEP + GARBAGE; i++)
		listed += i % 11 == 0 && i / 11 < KEEP;
	for (struct gc_node *x = root; x; x = x->next) {
		kept++;
		if (x->check != x->value * 0x9E3779B97F4A7C15ull || !kgc_is_live(x))
			bad++;
	}
	kprintf("# gc: %llu cycles, %llu objects freed, %llu live, last pause "
	        "%llu us with %u CPUs stopped\n",
	        (unsigned long long)(g1.cycles - g0.cycles),
	        (unsigned long long)(g1.freed_objects - g0.freed_objects),
	        (unsigned long long)g1.live_objects,
	        (unsigned long long)ks_tsc_to_us(g1.last_pause), n - 1);
	KT_EXPECT(g1.cycles > g0.cycles);
	KT_EXPECT_EQ(kept, listed);
	KT_EXPECT_EQ(bad, 0);
	KT_EXPECT(g1.freed_objects - g0.freed_objects >= GARBAGE / 2);
	/* Drop the root: the next collection frees everything. */
	kgc_root_remove(&root);
	root = NULL;
	kgc_collect();
	struct kgc_stats g2;
	kgc_stats(&g2);
	KT_EXPECT_EQ(g2.live_objects, 0);
#endif

	for (unsigned i = 1; i < n; i++)
		__atomic_store_n(&hammer[i].stop_flag, 1, __ATOMIC_RELEASE);
	int late = 0;
	for (unsigned i = 1; i < n; i++)
		if (ks_smp_wait(i, RUN_TIMEOUT_US) != 0)
			late++;
	KT_ASSERT_EQ(late, 0);
	for (unsigned i = 1; i < n; i++) {
		KT_EXPECT_EQ(hammer[i].bad, 0);
		KT_EXPECT_EQ(hammer[i].fails, 0);
		KT_EXPECT_EQ(hammer[i].allocs, hammer[i].frees);
	}
	kprintf("# stop: %d stops held %u CPUs still for 20 ms each; CPU 1 did "
	        "%llu ops meanwhile\n", rounds, n - 1,
	        (unsigned long long)hammer[1].done);
	KT_EXPECT_EQ(drained_free_pages(), before);
	hammer_teardown(n);
}
