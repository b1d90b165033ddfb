/*
 * kmain: the C entry of the mb2 example kernel, called by boot.S on the
 * higher-half stack with the Multiboot2 magic and the boot information's
 * physical address.
 *
 * It shows the whole porting recipe of docs/porting.md in order:
 *   1. console and exception handlers first, so every later failure is
 *      reported (and the kernel stack's guard page is unmapped);
 *   2. the firmware memory map from Multiboot2 -> struct ks_memrange[],
 *      plus KS_MEM_KERNEL ranges for the kernel image (with its page tables
 *      and stack) and the boot information, plus a reserved range for RAM
 *      above the identity map this kernel cannot reach;
 *   3. ks_memmap_normalize, then ks_frame_init over the identity map;
 *   4. kspan_init with arena_bytes = usable RAM;
 *   5. the allocator smoke test (or, with failtest=NAME on the command
 *      line, a deliberate failure that must stop the kernel with a message),
 *      then exit QEMU: QEMU_EXIT_PASS only if nothing failed.
 */
#include <stdint.h>
#include <kspan/fmt.h>
#include <kspan/frame.h>
#include <kspan/kmalloc.h>
#include <kspan/memmap.h>
#include <kspan/platform.h>

#include "kernel.h"

#define MAP_CAP 256

static struct ks_memrange memmap[MAP_CAP];

void kmain(uint32_t magic, uint64_t info);

static void print_map(const char *title, const struct ks_memrange *m, size_t n)
{
	ks_printf("mb2: %s (%lu entries)\n", title, (uint64_t)n);
	for (size_t i = 0; i < n; i++)
		ks_printf("  [0x%012lx - 0x%012lx) %10lu KiB  %s\n", m[i].base,
		          m[i].base + m[i].len, m[i].len >> 10,
		          ks_memtype_name(m[i].type));
}

static void add_range(size_t *n, uint64_t base, uint64_t len, uint32_t type)
{
	if (*n >= MAP_CAP)
		panic("memory map full (%d entries) adding [0x%lx, +0x%lx)",
		      MAP_CAP, base, len);
	memmap[*n] = (struct ks_memrange){ .base = base, .len = len, .type = type };
	(*n)++;
}

/* Unmap the page below the kernel stack, so an overflow faults (#PF on the
 * exception stack) instead of overwriting .bss. */
static void guard_stack(void)
{
	uintptr_t g = (uintptr_t)boot_stack_guard;
	uint64_t phys = g - KERNEL_VMA;
	if (phys >= 0x200000) {
		ks_printf("mb2: note: stack guard at phys 0x%lx is outside the 4 KiB-"
		          "mapped first 2 MiB; no guard page\n", phys);
		return;
	}
	if (pg_unmap(g) != phys)
		panic("stack guard %p was not mapped to 0x%lx", (void *)g, phys);
}

void kmain(uint32_t magic, uint64_t info)
{
	/* 1. Console, exceptions, stack guard. */
	serial_init();
	ks_printf("\nmb2: kspan example kernel: Multiboot2, long mode, kernel at %p\n",
	          (void *)kmain);
	idt_init();
	guard_stack();

	uint32_t info_size = mb2_check(magic, info);
	const char *cmdline = mb2_cmdline(info);
	ks_printf("mb2: boot info at 0x%lx (%u bytes), command line \"%s\"\n",
	          info, info_size, cmdline);

	/* 2. The memory map. */
	size_t n = 0;
	mb2_memmap(info, memmap, &n, MAP_CAP - 3);
	print_map("firmware memory map", memmap, n);
	uint64_t top = 0;
	for (size_t i = 0; i < n; i++)
		if (memmap[i].base + memmap[i].len > top)
			top = memmap[i].base + memmap[i].len;
	uint64_t kstart = (uint64_t)(uintptr_t)__kernel_phys_start;
	uint64_t kend = (uint64_t)(uintptr_t)__kernel_phys_end;
	add_range(&n, kstart, kend - kstart, KS_MEM_KERNEL);
	add_range(&n, info, info_size, KS_MEM_KERNEL);
	if (top > IDENTITY_TOP) {
		/* This kernel reaches physical memory only through its identity
		 * map: whatever lies above it must never become a frame. */
		uint64_t lost = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t b = memmap[i].base, e = b + memmap[i].len;
			if (memmap[i].type == KS_MEM_USABLE && e > IDENTITY_TOP)
				lost += e - (b > IDENTITY_TOP ? b : IDENTITY_TOP);
		}
		ks_printf("mb2: addresses above 0x%lx are not identity mapped: marked "
		          "reserved (%lu MiB of usable RAM left out)\n",
		          (uint64_t)IDENTITY_TOP, lost >> 20);
		add_range(&n, IDENTITY_TOP, top - IDENTITY_TOP, KS_MEM_RESERVED);
	}

	/* 3. Normalize, build the frame map. */
	size_t bad = 0;
	long m = ks_memmap_normalize(memmap, n, MAP_CAP, &bad);
	if (m < 0)
		panic("ks_memmap_normalize failed with %ld at entry %lu "
		      "[0x%lx, +0x%lx) type %u", m, (uint64_t)bad, memmap[bad].base,
		      memmap[bad].len, memmap[bad].type);
	print_map("normalized memory map", memmap, (size_t)m);
	uint64_t usable = ks_memmap_total(memmap, (size_t)m, KS_MEM_USABLE);
	if (ks_frame_init(memmap, (size_t)m, 0, phys_to_virt) != 0)
		panic("ks_frame_init failed");
	struct ks_frame_stats fs;
	ks_frame_stats(&fs);
	ks_printf("mb2: frame map: %lu usable frames (%lu MiB), %lu free, %lu for "
	          "the map itself, %lu ranges\n", fs.usable_frames,
	          fs.usable_frames >> 8, fs.free_frames, fs.meta_frames, fs.ranges);

	/* 4. The heap. */
	struct kspan_config cfg = { .arena_bytes = usable, .scavenge_threshold = 0 };
	uint64_t t0 = ks_plat_now();
	if (kspan_init(&cfg) != 0)
		panic("kspan_init(arena_bytes = %lu) failed", (uint64_t)usable);
	ks_printf("mb2: kspan_init: arena %lu MiB, %lu KiB committed for metadata "
	          "(%lu cycles)\n", (uint64_t)usable >> 20,
	          plat_committed_bytes() >> 10, ks_plat_now() - t0);

	/* 5. Tests. */
	failtest_run(cmdline);          /* returns only without failtest= */
	int failed = smoke_run();
	qemu_exit(failed ? QEMU_EXIT_FAIL : QEMU_EXIT_PASS);
}
