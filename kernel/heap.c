/*
 * The kernel's glue to the heap: size the arena from the frame map (all
 * usable RAM, so the heap's metadata scales with RAM and not with the span
 * of physical addresses), start kspan, print what it reserved, and start
 * the collector (include/kspan/gc.h) with the kernel's hooks:
 *
 *   stop_world_run             every stopped CPU marks: the cycle runs in
 *                              ks_smp_call_all_self, this CPU running the
 *                              collector's fn and every other CPU its
 *                              helper, from the CALL interrupt (which a CPU
 *                              takes only with interrupts on, so never
 *                              inside kgc_alloc or a slow path: the world
 *                              is stopped; an interrupted kmalloc fast path
 *                              touches nothing the collection does).
 *                              From an interrupt handler (a kgc_alloc there
 *                              that collects), where ks_smp_call_all may
 *                              not run, the others are stopped with
 *                              ks_smp_stop_world and this CPU marks alone.
 *                              A CPU must not call ks_smp_stop_world while
 *                              another collects (each would wait for the
 *                              other with interrupts off).
 *   stop_world / start_world   arch/x86_64/smp_call.c (STOP IPI to every other
 *                              CPU; no-ops while one CPU runs), for the
 *                              case above
 *   is_mapped                  the page tables (every page of the range
 *                              present)
 *   gc_percent                 100 (collect when the collected heap has
 *                              doubled since the last cycle)
 *
 * The guard mode (include/kspan/kmalloc.h, docs/debugging.md) is a boot
 * option: fw_cfg file opt/kspan/guard = all, 1/N or 0 (scripts/run-qemu.sh
 * --fw-cfg guard=VALUE), and opt/kspan/guard-below = 1 to put objects
 * right after their guard page.  It needs the debug heap (DEBUG=1); other
 * builds say so and go on without it.  A page fault in the guarded pool
 * is reported by the trap handler as a use after free or out-of-bounds
 * read or write (kspan_guard_fault).
 *
 * ks_kernel_heap_init is called once by kmain on the boot CPU (with GS
 * set, so ks_plat_cpu_id works), before the other CPUs start.  Draining
 * every CPU's cache runs kspan_drain_cpu in each CPU's idle loop
 * (ks_smp_run): kmalloc's fast paths take no guard in this kernel (their
 * slot is the CPU's own, interrupt handlers have slots of their own:
 * arch/x86_64/percpu.h), so a cross-CPU interrupt must not drain the
 * slot of the code it interrupted.  (A collection does drain the other
 * CPUs' collector caches from its stop interrupt: kgc_alloc's fast paths
 * keep the interrupt guard for that, mm/mgcalloc.c.)  No state of its own.
 */
#include "kernel.h"
#include "arch/x86_64/fwcfg.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trap.h"
#include "lib/config.h"

#include <stdbool.h>
#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/tsc.h"
#include "kernel/heap.h"
#include "kernel/selftest.h"
#include <kspan/frame.h>

#if KSPAN_GC
/* kgc_config.is_mapped: is every 4 KiB page of [addr, addr + len)
 * present?  Steps over large pages whole. */
static bool range_is_mapped(const void *addr, size_t len)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;
	if (len == 0 || a + len < a)
		return false;
	uint64_t end = a + len;
	for (uint64_t p = a & ~0xfffull; p < end;) {
		uint64_t flags = 0;
		if (!ks_paging_query(p, NULL, &flags))
			return false;
		uint64_t step = (flags & KS_PTE_LARGE) ? KS_PAGE_2M : KS_PAGE_4K;
		uint64_t next = (p & ~(step - 1)) + step;
		if (next <= p)
			break;           /* wrapped at the top of the address space */
		p = next;
	}
	return true;
}

/* kgc_config.stop_world_run (see the top of the file).  One collection at
 * a time (the collector's own flag), so one gc_run. */
static struct {
	void (*fn)(void *, unsigned);
	void (*helper)(void *);
	void *arg;
	unsigned leader, helpers;
} gc_run;

static void gc_run_here(void *unused)
{
	(void)unused;
	if (ks_plat_cpu_id() == gc_run.leader)
		gc_run.fn(gc_run.arg, gc_run.helpers);
	else
		gc_run.helper(gc_run.arg);
}

static void gc_stop_world_run(void (*fn)(void *, unsigned), void (*helper)(void *),
                              void *arg)
{
	unsigned n = ks_smp_ncpus();
	if (n <= 1 || ks_this_cpu()->irq_depth) {
		ks_smp_stop_world();
		fn(arg, 0);
		ks_smp_start_world();
		return;
	}
	gc_run.fn = fn;
	gc_run.helper = helper;
	gc_run.arg = arg;
	gc_run.leader = ks_plat_cpu_id();
	gc_run.helpers = n - 1;
	ks_smp_call_all_self(gc_run_here, NULL);
}
#endif

/* fw_cfg file name as a string: its length, or -1 if absent. */
static long boot_option(const char *name, char *buf, size_t cap)
{
	long n = ks_fwcfg_read(name, buf, cap);
	if (n >= (long)cap)
		kpanic("heap: boot option %s is %ld bytes long (at most %lu)", name,
		       n, (unsigned long)cap - 1);
	return n;
}

/* "all" -> 1, "1/N" -> N, "0" or "" -> 0; -1 if it is none of these. */
static long parse_guard(const char *v)
{
	if (v[0] == 0 || (v[0] == '0' && v[1] == 0))
		return 0;
	if (v[0] == 'a' && v[1] == 'l' && v[2] == 'l' && v[3] == 0)
		return 1;
	if (v[0] != '1' || v[1] != '/' || v[2] == 0)
		return -1;
	long n = 0;
	for (const char *c = v + 2; *c; c++) {
		if (*c < '0' || *c > '9' || n > 1000000000L)
			return -1;
		n = n * 10 + (*c - '0');
	}
	return n >= 1 && n <= 1000000000L ? n : -1;
}

static void guard_boot_option(void)
{
	char v[32], b[8];
	if (boot_option("opt/kspan/guard", v, sizeof(v)) < 0)
		return;
	long sample = parse_guard(v);
	if (sample < 0)
		kpanic("heap: boot option guard=%s: want all, 1/N (N a whole number "
		       "from 1 to 1000000000) or 0", v);
	long below = 0;
	if (boot_option("opt/kspan/guard-below", b, sizeof(b)) >= 0) {
		if ((b[0] != '0' && b[0] != '1') || b[1] != 0)
			kpanic("heap: boot option guard-below=%s: want 0 or 1", b);
		below = b[0] - '0';
	}
	if (!sample)
		return;
#if KSPAN_DEBUG_HEAP
	struct kspan_guard_config cfg = { .sample = (unsigned)sample, .below = (int)below };
	if (kspan_guard_configure(&cfg) != 0)
		kpanic("heap: boot option guard=%s: cannot reserve the guarded pool", v);
	struct kspan_guard_stats gs;
	kspan_guard_stats(&gs);
	kprintf("kspan heap: guard mode (boot option guard=%s%s): %s kmallocs get a "
	        "slot %s a guard page; pool %llu MiB of address space, live objects "
	        "up to 256 MiB committed, 65536 freed slots in quarantine\n", v,
	        below ? ", guard-below=1" : "", sample == 1 ? "all" : "1 in N",
	        below ? "right after" : "ending at",
	        (unsigned long long)(gs.pool_bytes >> 20));
#else
	(void)below;
	kprintf("kspan heap: boot option guard=%s ignored: the guard mode is part of "
	        "the debug heap (build with DEBUG=1); kmalloc_guarded works in "
	        "every build\n", v);
#endif
}

static void drain_this_cpu(void *arg)
{
	(void)arg;
	kspan_drain_cpu();
}

/* kspan_config.kick_idle_cpus (an allocation found no memory): every idle
 * CPU drains its cache in its idle loop; wait for each at most a second
 * (one that does not come drains at its next allocation, on the flush
 * request kspan sent it). */
static void kick_idle_cpus(void)
{
	unsigned me = ks_cpu_index(), n = ks_smp_ncpus();
	uint64_t posted = 0;
	for (unsigned cpu = 0; cpu < n && cpu < 64; cpu++)
		if (cpu != me && ks_smp_run(cpu, drain_this_cpu, NULL) == 0)
			posted |= 1ull << cpu;
	for (unsigned cpu = 0; cpu < n && cpu < 64; cpu++)
		if (posted & (1ull << cpu))
			ks_smp_wait(cpu, 1000000);
}

void ks_kernel_heap_init(const struct ks_bootinfo *bi)
{
	(void)bi;
	struct ks_frame_stats fs;
	ks_frame_stats(&fs);
	uint64_t usable = fs.free_frames * KS_FRAME_SIZE;
	struct kspan_config cfg = { .arena_bytes = (size_t)usable,
	                            .seed = ks_selftest_seed(),
	                            .kick_idle_cpus = kick_idle_cpus };
	if (kspan_init(&cfg) != 0)
		kpanic("heap: kspan_init could not reserve an arena of %llu MiB",
		       (unsigned long long)(usable >> 20));

	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	uint64_t meta = hs.spans_bytes + hs.bitmap_bytes;
	uint64_t per10k = meta * 10000 / usable;
	kprintf("kspan heap: arena %llu MiB for %llu MiB usable RAM; spans %llu KiB, "
	        "bitmap %llu KiB: %llu.%02llu%% of usable RAM (reserved; committed "
	        "as the heap grows)\n",
	        (unsigned long long)(hs.arena_bytes >> 20),
	        (unsigned long long)(usable >> 20),
	        (unsigned long long)(hs.spans_bytes >> 10),
	        (unsigned long long)(hs.bitmap_bytes >> 10),
	        (unsigned long long)(per10k / 100), (unsigned long long)(per10k % 100));

#if KSPAN_GC
	struct kgc_config gc = {
		.gc_percent = 100,
		.stop_world = ks_smp_stop_world,
		.start_world = ks_smp_start_world,
		.stop_world_run = gc_stop_world_run,
		.is_mapped = range_is_mapped,
	};
	kgc_init(&gc);
#endif
	guard_boot_option();
	/* A fault in the guarded pool is reported as what it is. */
	ks_trap_set_fault_describer(kspan_guard_fault);
}

void ks_kernel_heap_drain_all(void)
{
	unsigned me = ks_cpu_index(), n = ks_smp_ncpus();
	for (unsigned cpu = 0; cpu < n; cpu++)
		if (cpu != me && ks_smp_run(cpu, drain_this_cpu, NULL) != 0)
			kpanic("heap: CPU %u is busy: it cannot drain its cache", cpu);
	kspan_drain_cpu();
	for (unsigned cpu = 0; cpu < n; cpu++)
		if (cpu != me && ks_smp_wait(cpu, 60000000) != 0)
			kpanic("heap: CPU %u did not drain its cache within 60 s", cpu);
}

void ks_kernel_heap_report(void)
{
	ks_kernel_heap_drain_all();
	kspan_check();
	kspan_print_stats();
	struct kspan_heap_stats hs;
	struct ks_frame_stats fs;
	kspan_heap_stats(&hs);
	ks_frame_stats(&fs);
	uint64_t usable = fs.usable_frames * KS_FRAME_SIZE;
	uint64_t per10k = usable ? hs.meta_committed * 10000 / usable : 0;
	kprintf("kspan heap metadata: %llu KiB committed (spans and bitmap "
	        "shadows of the arena used so far, committed-page bits, mspans) "
	        "of %llu MiB arena: %llu.%02llu%% of usable RAM\n",
	        (unsigned long long)(hs.meta_committed >> 10),
	        (unsigned long long)(hs.arena_bytes >> 20),
	        (unsigned long long)(per10k / 100), (unsigned long long)(per10k % 100));
#if KSPAN_GC
	struct kgc_stats g;
	kgc_stats(&g);
	kprintf("kspan gc: %llu cycles, last: heap %llu KiB before, %llu KiB after, "
	        "%llu objects live; pauses %llu us last, %llu us total; "
	        "%llu objects (%llu KiB) freed in all; %llu mark-stack overflows\n",
	        (unsigned long long)g.cycles, (unsigned long long)(g.heap_before >> 10),
	        (unsigned long long)(g.heap_after >> 10),
	        (unsigned long long)g.live_objects,
	        (unsigned long long)ks_tsc_to_us(g.last_pause),
	        (unsigned long long)ks_tsc_to_us(g.total_pause),
	        (unsigned long long)g.freed_objects,
	        (unsigned long long)(g.freed_bytes >> 10),
	        (unsigned long long)g.mark_overflows);
#else
	kprintf("kspan gc: not built (GC=0)\n");
#endif
}
