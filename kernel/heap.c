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
 *                              inside the allocator: the world is stopped).
 *                              From an interrupt handler (a kgc_alloc there
 *                              that collects), where ks_smp_call_all may
 *                              not run, the others are stopped with
 *                              ks_smp_stop_world and this CPU marks alone.
 *                              A CPU must not call ks_smp_stop_world while
 *                              another collects (each would wait for the
 *                              other with interrupts off).
 *   stop_world / start_world   arch/x86_64/smp.c (STOP IPI to every other
 *                              CPU; no-ops while one CPU runs), for the
 *                              case above
 *   is_mapped                  the page tables (every page of the range
 *                              present)
 *   gc_percent                 100 (collect when the collected heap has
 *                              doubled since the last cycle)
 *
 * ks_kernel_heap_init is called once by kmain on the boot CPU (with GS
 * set, so ks_plat_cpu_id works), before the other CPUs start.  Draining
 * every CPU's cache goes through ks_smp_call_all_self.  No state of its
 * own.
 */
#include "kernel.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trap.h"

#include <stdbool.h>
#include <kspan/gc.h>
#include <kspan/kmalloc.h>
#include "arch/x86_64/paging.h"
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

void ks_kernel_heap_init(const struct ks_bootinfo *bi)
{
	(void)bi;
	struct ks_frame_stats fs;
	ks_frame_stats(&fs);
	uint64_t usable = fs.free_frames * KS_FRAME_SIZE;
	struct kspan_config cfg = { .arena_bytes = (size_t)usable,
	                            .seed = ks_selftest_seed() };
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
	/* A fault in the guarded pool is reported as what it is. */
	ks_trap_set_fault_describer(kspan_guard_describe);
}

static void drain_this_cpu(void *arg)
{
	(void)arg;
	kspan_drain_cpu();
}

void ks_kernel_heap_drain_all(void)
{
	ks_smp_call_all_self(drain_this_cpu, NULL);
}

void ks_kernel_heap_report(void)
{
	ks_kernel_heap_drain_all();
	kspan_check();
	kspan_print_stats();
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
