/*
 * kmain: the kernel's boot sequence, entered from boot/efi_main.c on the
 * kernel's own page tables and stack with interrupts off.
 *
 *   1. console (COM1), GDT + TSS, the per-CPU block and GS base (CPU 0:
 *      ks_plat_cpu_id works from here on), IDT: from here every CPU
 *      exception is reported instead of resetting the machine;
 *   2. check the boot-info block (magic, version, size);
 *   3. adopt the page tables; unmap page 0 (NULL dereferences fault) and
 *      the stack's guard frame (overflows fault);
 *   4. print the memory map, build the frame map with boot-services memory
 *      reclaimed (nothing of the firmware is in use any more: our tables,
 *      stack, GDT and IDT), print its totals;
 *   5. page-table frames and the page source now come from the frame map;
 *   6. the heap's boot hook (ks_kernel_heap_init: kspan and the collector);
 *   7. SMP (arch/x86_64/smp_boot.c): ACPI, timers, LAPIC, the other CPUs
 *      started and parked in their idle loops (smp_call.c); spinlock
 *      waiters park from here on; then interrupts on (IPIs reach this
 *      CPU);
 *   8. run the self-tests; if the runner asked for it (fw_cfg file
 *      opt/kspan/bench = 1), the SMP scaling benchmark; leave QEMU with
 *      the self-tests' verdict.
 *
 * Runs on the boot CPU; the others idle in smp_call.c until the self-tests
 * give them work.  No locks here.
 */
#include "kernel.h"

#include <stddef.h>
#include <kspan/platform.h>
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fwcfg.h"
#include "arch/x86_64/gdt.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/qemu_exit.h"
#include "arch/x86_64/serial.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/trap.h"
#include "kernel/heap.h"
#include "kernel/meminfo.h"
#include "kernel/pagesrc.h"
#include "kernel/selftest.h"
#include <kspan/frame.h>

extern char __image_start[], __image_end[];

static const struct ks_bootinfo *boot_info;

const struct ks_bootinfo *ks_kernel_bootinfo(void)
{
	return boot_info;
}

static void *identity(uint64_t phys)
{
	return (void *)(uintptr_t)phys;
}

static uint64_t table_frame_from_frame_map(void)
{
	return ks_frame_alloc(1, KS_FRAME_SIZE);
}

/* Without tests/kernel/bench_smp.c linked in there is no benchmark. */
__attribute__((weak)) void ks_bench_smp(void)
{
	kprintf("kspan: no benchmark linked into this kernel\n");
}

__attribute__((weak)) void ks_kernel_heap_init(const struct ks_bootinfo *bi)
{
	(void)bi;
	kprintf("kspan: no heap linked into this kernel\n");
}

static void check_bootinfo(const struct ks_bootinfo *bi)
{
	if (!bi)
		kpanic("kmain: no boot info");
	if (bi->magic != KS_BOOTINFO_MAGIC)
		kpanic("kmain: boot info at %p has magic 0x%llx, expected "
		       "0x%llx", (const void *)bi, (unsigned long long)bi->magic,
		       (unsigned long long)KS_BOOTINFO_MAGIC);
	if (bi->version != KS_BOOTINFO_VERSION ||
	    bi->size < sizeof(struct ks_bootinfo))
		kpanic("kmain: boot info at %p is version %u size %u; this "
		       "kernel needs version %u size %lu", (const void *)bi,
		       bi->version, bi->size, KS_BOOTINFO_VERSION,
		       (unsigned long)sizeof(struct ks_bootinfo));
	if (bi->memmap_count == 0 || bi->memmap_count > bi->memmap_cap)
		kpanic("kmain: boot info memory map has %llu entries (cap %llu)",
		       (unsigned long long)bi->memmap_count,
		       (unsigned long long)bi->memmap_cap);
}

static void unmap_guard(const char *what, uint64_t va)
{
	int rc = ks_paging_unmap(va, NULL);
	if (rc < 0)
		kpanic("kmain: no page-table frame to unmap the %s at 0x%llx",
		       what, (unsigned long long)va);
}

void kmain(const struct ks_bootinfo *bi)
{
	ks_serial_init();
	ks_gdt_init();
	ks_smp_early_init();
	ks_idt_init();
	check_bootinfo(bi);
	boot_info = bi;

	kprintf("\nkspan: kernel running; image at 0x%llx, %llu KiB "
	        "(gdb: add-symbol-file build/kernel/kspan.elf -o 0x%llx)\n",
	        (unsigned long long)bi->image_base,
	        (unsigned long long)(bi->image_size >> 10),
	        (unsigned long long)(uintptr_t)__image_start);
	kprintf("kspan: firmware \"%s\", boot info v%u, ExitBootServices "
	        "attempts %u, ACPI RSDP %s0x%llx\n", bi->fw_vendor, bi->version,
	        bi->ebs_attempts, bi->rsdp_acpi2 ? "(2.0) " : "",
	        (unsigned long long)bi->rsdp);

	ks_paging_init(bi->pt_pool, bi->pt_pool_frames, bi->pt_pool_used);
	unmap_guard("null page", 0);
	unmap_guard("stack guard frame", bi->stack_base);
	kprintf("kspan: paging: identity map [0, 0x%llx), %llu of %llu "
	        "pool frames used; page 0 and the stack guard unmapped\n",
	        (unsigned long long)bi->identity_top,
	        (unsigned long long)bi->pt_pool_used,
	        (unsigned long long)bi->pt_pool_frames);

	const struct ks_memrange *map = ks_bootinfo_memmap(bi);
	size_t n = (size_t)bi->memmap_count;
	ks_meminfo_print_map(map, n);
	if (ks_frame_init(map, n, 1, identity) != 0)
		kpanic("kmain: ks_frame_init failed on a %zu-entry map", n);
	ks_meminfo_print_frames();

	ks_paging_set_table_source(table_frame_from_frame_map);
	ks_pagesrc_init(bi->identity_top);

	ks_kernel_heap_init(bi);

	struct ks_smp_boot sb = { .rsdp = bi->rsdp, .identity_top = bi->identity_top,
	                          .trampoline = bi->ap_trampoline,
	                          .trampoline_size = bi->ap_trampoline_size };
	ks_smp_init(&sb);
	cpu_sti();

	int total = 0;
	uint64_t t0 = rdtsc();
	int failed = ks_selftest_run(&total);
	uint64_t dt = rdtsc() - t0;
	kprintf("# self-tests took %llu Mcycles\n",
	        (unsigned long long)(dt / 1000000));
	uint64_t bench = 0;
	if (ks_fwcfg_uint("opt/kspan/bench", &bench) == 0 && bench)
		ks_bench_smp();
	ks_kernel_heap_report();
	kprintf("%d passed, %d failed\n", total - failed, failed);
	if (total == 0) {
		kprintf("kspan: no self-tests were registered\n");
		ks_qemu_exit(0);
	}
	ks_qemu_exit(failed == 0);
}
