/*
 * The heap under several CPUs at once.  Every test shares a fixed amount
 * of work out over the CPUs online (at 16 CPUs each does a sixteenth of
 * what one CPU does alone), so a boot's time does not grow with -smp, and
 * checks exact counts:
 *
 *   hammer   every CPU allocates and frees at once (random sizes, pattern
 *            checks on every object, hammer.c): 10^6 operations in all;
 *   rings    objects allocated on CPU i are freed on CPU j, through one
 *            single-producer/single-consumer ring per ordered pair (i, j),
 *            FIFO order and contents checked: 2*10^5 objects sent in all;
 *   timer    the LAPIC timer interrupts every CPU 1000 times a second and
 *            its handler allocates and frees (pattern-checked) while the
 *            CPU's main code hammers the heap (2.5*10^5 operations in all,
 *            at least 800 timer interrupts in all), from the CPU's
 *            interrupt slot, never the slot of the fast path it may have
 *            interrupted (arch/x86_64/percpu.h);
 *   no leak  after each of these, every CPU frees what it holds, every
 *            CPU drains its cache (ks_kernel_heap_drain_all), and the heap's
 *            free pages equal the count before, with kspan_check passing.
 *
 * The work runs on CPUs 0..N-1 through ks_run_on_cpus (interrupts on) with
 * a progress watchdog (KT_RUN_TIMEOUT_US without progress = stuck), so a
 * deadlock fails the test instead of hanging the boot.  Per-CPU results
 * are printed as TAP comments ("# cpu 2: ...").
 *
 * Tests run one at a time from CPU 0; per-CPU state lives in arrays
 * indexed by CPU (each CPU writes only its own entry) and is read by CPU 0
 * after ks_run_on_cpus returned.  Shared counters are atomics.
 */
#include "kernel/selftest.h"

#include <kspan/kmalloc.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/tsc.h"
#include "kernel/kernel.h"
#include "tests/kernel/hammer.h"
#include "tests/kernel/smp_run.h"
#include "tests/common/pattern.h"

#define HAMMER_OPS   1000000ull      /* in all, shared out */
#define RING_SENDS   200000ull       /* objects sent in all */
#define TIMER_OPS    250000ull       /* hammer operations in all */
#define TIMER_TICKS  800u            /* timer interrupts in all, at least */

/* ---- hammer: every CPU allocates and frees at once ----------------------- */

KS_SELFTEST("heap smp: every CPU allocates and frees at once, pattern-checked, nothing leaks")
{
	unsigned n = ks_smp_ncpus();
	uint64_t ops = kt_share(HAMMER_OPS, n, 1);
	KT_ASSERT_EQ(kt_hammer_setup(n, ops), 0);
	uint64_t before = kt_drained_free_pages();
	KT_ASSERT_EQ(ks_run_on_cpus(n, kt_hammer_fn, kt_hammer, sizeof(kt_hammer[0]),
	                            KT_RUN_TIMEOUT_US), 0);
	kt_hammer_report(kt, n, "");
	for (unsigned i = 0; i < n; i++)
		KT_EXPECT_EQ(kt_hammer[i].done, ops);
	KT_EXPECT_EQ(kt_drained_free_pages(), before);
	kt_hammer_teardown(n);
}

/* ---- rings: every ordered pair of CPUs hands objects over ----------------- */

#define RING_CAP 64

/* Objects in flight per ring (n * (n - 1) rings): a CPU that cannot
 * produce or consume waits for its peers, so the rings must hold enough
 * to keep each CPU busy for a host time slice. */
static unsigned ring_cap(unsigned n)
{
	(void)n;
	return RING_CAP;
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
		} else if (mine != ~0ull) {
			/* Nothing moved in the last pass: the peers are behind
			 * (under TCG: off their host cores).  Give this CPU's
			 * core to them for a moment instead of spinning. */
			ks_run_idle_us(200);
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
		} else if (ks_tsc_to_us(now - last_move) > KT_RUN_TIMEOUT_US) {
			r->timeouts++;
			break;
		}
		int producing = r->sent < want && !r->fails;
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

KS_SELFTEST("heap smp: objects allocated on each CPU are freed on every other, through a ring per ordered pair")
{
	unsigned n = ks_smp_ncpus();
	if (n < 2) {
		kprintf("# one CPU: no pairs\n");
		return;
	}
	uint64_t per_pair = kt_share(kt_share(RING_SENDS, n, 1), n - 1, 1);
	struct ring *rings = kzalloc((size_t)n * n * sizeof(struct ring));
	KT_ASSERT(rings != NULL);
	uint64_t before = kt_drained_free_pages();
	for (unsigned i = 0; i < n; i++) {
		__builtin_memset(&ringer[i], 0, sizeof(ringer[i]));
		ringer[i].cpu = i;
		ringer[i].n = n;
		ringer[i].rings = rings;
		ringer[i].per_pair = per_pair;
	}
	struct kspan_heap_stats h0, h1;
	kspan_heap_stats(&h0);
	KT_ASSERT_EQ(ks_run_on_cpus(n, ring_fn, ringer, sizeof(ringer[0]),
	                            KT_RUN_TIMEOUT_US), 0);
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
		KT_EXPECT_EQ(r->sent, per_pair * (n - 1));
	}
	/* Whatever a failed run left in the rings goes back too. */
	for (unsigned k = 0; k < n * n; k++)
		for (uint64_t h = rings[k].head; h < rings[k].tail; h++)
			kfree(rings[k].slot[h % RING_CAP]);
	KT_EXPECT_EQ(kt_drained_free_pages(), before);
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
	uint64_t ticks, allocs, frees, bad, fails, if_on, wrong_slot;
} __attribute__((aligned(64)));

static struct ticker ticker[KSPAN_MAX_CPUS];

static void tick_fn(void)
{
	struct ticker *t = &ticker[ks_cpu_index()];
	t->ticks++;
	if (read_rflags() & KS_RFLAGS_IF)
		t->if_on++;              /* a handler must run with IF off */
	/* A handler has no own kspan slot (the fast paths fall through)
	 * and allocates from its CPU's interrupt slot. */
	if (ks_plat_own_slot() != KSPAN_MAX_CPUS ||
	    ks_plat_cpu_id() != KS_IRQ_SLOT(ks_cpu_index()))
		t->wrong_slot++;
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

static unsigned ticks_each(unsigned n)
{
	return (unsigned)kt_share(TIMER_TICKS, n, 25);
}

static void timer_hammer_fn(void *arg)
{
	struct kt_hammer *h = arg;
	struct ticker *t = &ticker[h->cpu];
	t->rng = ks_selftest_rng(0xABCDEFull + h->cpu);
	ks_smp_timer(TIMER_HZ, tick_fn);
	kt_hammer_fn(h);
	/* Keep going until the timer fired a good number of times (it
	 * parks the CPU between ticks). */
	unsigned want = ticks_each(ks_smp_ncpus());
	uint64_t limit = rdtsc() + ks_tsc_from_us(KT_RUN_TIMEOUT_US / 2);
	while (__atomic_load_n(&t->ticks, __ATOMIC_RELAXED) < want &&
	       (int64_t)(rdtsc() - limit) < 0) {
		ks_run_tick();
		cpu_sti_hlt();
	}
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

KS_SELFTEST("heap smp: the LAPIC timer handler allocates and frees on every CPU while the CPUs hammer the heap")
{
	/* Outside handlers the fast paths' slot is the CPU's own. */
	KT_EXPECT_EQ(ks_plat_own_slot(), ks_cpu_index());
	KT_EXPECT_EQ(ks_plat_cpu_id(), ks_cpu_index());
	unsigned n = ks_smp_ncpus();
	uint64_t ops = kt_share(TIMER_OPS, n, 1);
	KT_ASSERT_EQ(kt_hammer_setup(n, ops), 0);
	__builtin_memset(ticker, 0, sizeof(ticker));
	uint64_t before = kt_drained_free_pages();
	KT_ASSERT_EQ(ks_run_on_cpus(n, timer_hammer_fn, kt_hammer, sizeof(kt_hammer[0]),
	                            KT_RUN_TIMEOUT_US), 0);
	kt_hammer_report(kt, n, " (with timer)");
	for (unsigned i = 0; i < n; i++) {
		const struct ticker *t = &ticker[i];
		kprintf("# cpu %u: timer fired %llu times, handler did %llu allocs, "
		        "%llu frees\n", i, (unsigned long long)t->ticks,
		        (unsigned long long)t->allocs, (unsigned long long)t->frees);
		KT_EXPECT(t->ticks >= ticks_each(n));
		KT_EXPECT_EQ(t->bad, 0);
		KT_EXPECT_EQ(t->fails, 0);
		KT_EXPECT_EQ(t->if_on, 0);
		KT_EXPECT_EQ(t->wrong_slot, 0);
		KT_EXPECT_EQ(t->allocs, t->frees);
		KT_EXPECT(t->allocs > 0);
		KT_EXPECT_EQ(kt_hammer[i].done, ops);
	}
	KT_EXPECT_EQ(kt_drained_free_pages(), before);
	kt_hammer_teardown(n);
}
