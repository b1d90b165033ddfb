/*
 * The boot-info block: everything boot/ hands to the kernel (kmain).
 *
 * boot/efi_main.c fills one struct ks_bootinfo after ExitBootServices and
 * passes its address to kmain().  The block is plain data (no GNU-EFI types)
 * so that any other loader could produce it.  All addresses are physical;
 * when kmain runs, physical memory is identity mapped over [0, identity_top)
 * by the kernel's own page tables (cr3), so an address can be used as a
 * pointer directly.
 *
 * Guarantees the loader gives (Limine PROTOCOL.md style):
 *
 *   - magic == KS_BOOTINFO_MAGIC, version == KS_BOOTINFO_VERSION and size ==
 *     sizeof(struct ks_bootinfo) for this version.  A newer version only
 *     appends fields, so size grows and older fields keep their offsets.
 *   - The memory map (memmap, memmap_count entries of struct ks_memrange) is
 *     the firmware's final map (taken for ExitBootServices) in kspan's
 *     normalized form (include/kspan/memmap.h): every entry has a known
 *     type and a length > 0, bases and lengths are multiples of 4 KiB,
 *     entries are sorted by base, never overlap, and neighbours of the same
 *     type are merged.
 *   - Firmware boot-services memory and the loader's own leftovers are
 *     KS_MEM_RECLAIMABLE: free RAM as soon as the kernel runs on its own page
 *     tables, stack, GDT and IDT (it does from kmain's first instruction for
 *     the page tables and stack).
 *   - Everything the kernel keeps is KS_MEM_KERNEL: the kernel image
 *     [image_base, image_base + image_size), this block, the memory-map
 *     array itself, the kernel stack (including its guard frame), the
 *     page-table pool and (version 2) the AP trampoline's low frames.
 *   - rsdp is the physical address of the ACPI RSDP (ACPI 2.0+ preferred),
 *     0 when the firmware has none; its frame is never typed free RAM.
 *   - Interrupts are disabled; no UEFI service may be called any more.
 *
 * Locking: none; the block is written once by the loader and read-only after.
 */
#ifndef KSPAN_BOOT_BOOTINFO_H
#define KSPAN_BOOT_BOOTINFO_H

#include <stdint.h>
#include <kspan/memmap.h>

#define KS_BOOTINFO_MAGIC   0x4f464e494e415053ull /* "SPANINFO" */
#define KS_BOOTINFO_VERSION 2   /* 2: ap_trampoline fields appended */

struct ks_bootinfo {
	uint64_t magic;
	uint32_t version;
	uint32_t size;               /* sizeof(struct ks_bootinfo) */

	/* Normalized physical memory map: memmap_count entries at memmap;
	 * the array has room for memmap_cap entries. */
	uint64_t memmap;
	uint64_t memmap_count;
	uint64_t memmap_cap;

	/* The kernel image (the EFI application) as loaded. */
	uint64_t image_base;
	uint64_t image_size;

	uint64_t rsdp;               /* ACPI RSDP, 0 if none */
	uint32_t rsdp_acpi2;         /* 1: found through the ACPI 2.0 GUID */
	uint32_t ebs_attempts;       /* ExitBootServices calls (1 or 2) */

	/* Kernel stack: [stack_base, stack_base + stack_size); the lowest
	 * frame is a guard frame the kernel unmaps.  The stack grows down
	 * from stack_base + stack_size. */
	uint64_t stack_base;
	uint64_t stack_size;

	/* Page tables.  cr3 is the root (PML4) the loader switched to; every
	 * table lives in the pool [pt_pool, pt_pool + pt_pool_frames * 4 KiB),
	 * of which the first pt_pool_used frames hold the identity map; the
	 * rest are spare for later 4 KiB mappings. */
	uint64_t cr3;
	uint64_t pt_pool;
	uint64_t pt_pool_frames;
	uint64_t pt_pool_used;
	uint64_t identity_top;       /* [0, identity_top) mapped 1:1 */

	/* The firmware's map, for diagnostics. */
	uint64_t efi_map_entries;
	uint32_t efi_desc_size;
	uint32_t efi_desc_version;

	uint64_t tsc_at_entry;       /* rdtsc at efi_main entry */
	char fw_vendor[48];          /* firmware vendor, ASCII, NUL-ended */

	/* Version 2.  Frames below 1 MiB for the application processors'
	 * real-mode start-up code (arch/x86_64/trampoline.h): 4 KiB aligned,
	 * not frame 0, KS_MEM_KERNEL in the map, identity mapped; 0 if the
	 * firmware had no low memory to give. */
	uint64_t ap_trampoline;
	uint64_t ap_trampoline_size; /* bytes */
};

static inline struct ks_memrange *ks_bootinfo_memmap(const struct ks_bootinfo *bi)
{
	return (struct ks_memrange *)(uintptr_t)bi->memmap;
}

#endif /* KSPAN_BOOT_BOOTINFO_H */
