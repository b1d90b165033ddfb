/*
 * efi_main: the UEFI application that is kspan's kernel loader and kernel.
 *
 * OVMF loads this image (built with GNU-EFI's crt0 and kspan's linker.ld)
 * and calls efi_main after crt0 applied the image's relocations.  Steps:
 *
 *   1. COM1 console; firmware watchdog off; the image's extent (loaded
 *      image protocol); the ACPI RSDP (ACPI 2.0 GUID, else 1.0).
 *   2. A first GetMemoryMap to size things: the highest address (for the
 *      identity map) and the number of descriptors.
 *   3. AllocatePages (EfiLoaderData) for everything the kernel keeps: the
 *      boot-info block, the kernel stack (with a guard frame), the
 *      page-table pool (identity map + spares), the ks_memrange array, the
 *      AP start-up trampoline's frames below 1 MiB (AllocateMaxAddress;
 *      never frame 0, which the kernel unmaps); and the buffer for the
 *      final map, with headroom for the entries those allocations add.
 *   4. GetMemoryMap into that buffer, ExitBootServices; on
 *      EFI_INVALID_PARAMETER (the map changed under us) get the map again
 *      into the same buffer and retry once.  Nothing is printed or
 *      allocated between GetMemoryMap and ExitBootServices.
 *   5. With boot services gone: interrupts off, translate the final map
 *      (efi_memmap.c) with the kept ranges carved out as KERNEL, fill the
 *      boot info, build the identity map in the pool, switch CR3 and stack
 *      and enter kmain.  No UEFI call and no GNU-EFI code after step 4.
 *
 * Only this file includes GNU-EFI headers.  Firmware calls go through
 * uefi_call_wrapper, which with GNU_EFI_USE_MS_ABI (set by mk/kernel.mk) is
 * a direct ms_abi call, so libefi.a's call thunks are not needed.
 *
 * Runs once, on the boot CPU; no locks.
 */
#include <efi.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/qemu_exit.h"
#include "arch/x86_64/serial.h"
#include "arch/x86_64/trampoline.h"
#include "boot/bootinfo.h"
#include "boot/efi_memmap.h"
#include "kernel/kernel.h"
#include "lib/fmt.h"

#define KSTACK_SIZE      (128u << 10)   /* usable stack */
#define PT_SPARE_FRAMES  64             /* for later 4 KiB mappings */
#define MAP_HEADROOM     64             /* descriptors */
#define NCARVE           7
#define LOW_LIMIT        0x9ffffull     /* trampoline: below the EBDA/VGA */

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st);
void ks_arch_enter(uint64_t cr3, uint64_t stack_top, void (*fn)(void *),
                   void *arg);
extern char __image_start[], __image_end[];

static void bprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ks_vprint_to(ks_serial_write, fmt, ap);
	va_end(ap);
}

__attribute__((noreturn)) static void boot_fail(const char *what, EFI_STATUS s)
{
	bprintf("kspan: boot failed: %s (EFI status 0x%llx)\n", what,
	        (unsigned long long)s);
	ks_qemu_exit(0);
}

static uint64_t pages_of(uint64_t bytes)
{
	return (bytes + KS_EFI_PAGE_SIZE - 1) / KS_EFI_PAGE_SIZE;
}

static uint64_t alloc_pages(EFI_BOOT_SERVICES *bs, uint64_t pages,
                            const char *what)
{
	EFI_PHYSICAL_ADDRESS a = 0;
	EFI_STATUS s = uefi_call_wrapper(bs->AllocatePages, 4, AllocateAnyPages,
	                                 EfiLoaderData, (UINTN)pages, &a);
	if (EFI_ERROR(s))
		boot_fail(what, s);
	return (uint64_t)a;
}

static void free_pages(EFI_BOOT_SERVICES *bs, uint64_t a, uint64_t pages)
{
	uefi_call_wrapper(bs->FreePages, 2, (EFI_PHYSICAL_ADDRESS)a,
	                  (UINTN)pages);
}

static int guid_eq(const EFI_GUID *a, const EFI_GUID *b)
{
	return __builtin_memcmp(a, b, sizeof(*a)) == 0;
}

static uint64_t find_rsdp(EFI_SYSTEM_TABLE *st, uint32_t *acpi2)
{
	EFI_GUID g20 = ACPI_20_TABLE_GUID, g10 = ACPI_TABLE_GUID;
	uint64_t v1 = 0;
	for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &st->ConfigurationTable[i];
		if (guid_eq(&t->VendorGuid, &g20)) {
			*acpi2 = 1;
			return (uint64_t)(uintptr_t)t->VendorTable;
		}
		if (guid_eq(&t->VendorGuid, &g10))
			v1 = (uint64_t)(uintptr_t)t->VendorTable;
	}
	*acpi2 = 0;
	return v1;
}

static void copy_vendor(char *dst, size_t cap, const CHAR16 *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < cap; i++)
		dst[i] = src[i] < 0x80 && src[i] >= 0x20 ? (char)src[i] : '?';
	dst[i] = 0;
}

/* KS_TR_FRAMES frames below 1 MiB for the AP trampoline, or 0 (then the
 * kernel runs on the boot CPU only).  Frame 0 is refused: the kernel
 * unmaps it to catch NULL dereferences. */
static uint64_t alloc_trampoline(EFI_BOOT_SERVICES *bs)
{
	uint64_t zero_block = 0;
	for (int tries = 0; tries < 2; tries++) {
		EFI_PHYSICAL_ADDRESS a = LOW_LIMIT;
		EFI_STATUS s = uefi_call_wrapper(bs->AllocatePages, 4,
		                                 AllocateMaxAddress, EfiLoaderData,
		                                 (UINTN)KS_TR_FRAMES, &a);
		if (EFI_ERROR(s)) {
			bprintf("kspan: no %u frames below 1 MiB for the AP "
			        "trampoline (EFI status 0x%llx): one CPU only\n",
			        KS_TR_FRAMES, (unsigned long long)s);
			a = 0;
		} else if (a == 0) {
			zero_block = 1;     /* keep it while asking again */
			continue;
		}
		if (zero_block)
			free_pages(bs, 0, KS_TR_FRAMES);
		return (uint64_t)a;
	}
	free_pages(bs, 0, KS_TR_FRAMES);
	bprintf("kspan: the only low frames for the AP trampoline start at 0: "
	        "one CPU only\n");
	return 0;
}

/* What the loader allocates for the kernel. */
struct boot_alloc {
	uint64_t bootinfo;              /* 1 page */
	uint64_t stack, stack_pages;    /* guard page + KSTACK_SIZE */
	uint64_t pt_pool, pt_frames;
	uint64_t map_buf, map_pages;    /* EFI map buffer */
	uint64_t ranges, range_pages;   /* struct ks_memrange[range_cap] */
	uint64_t range_cap;
	uint64_t trampoline;            /* KS_TR_FRAMES below 1 MiB, or 0 */
};

static void alloc_map_buffers(EFI_BOOT_SERVICES *bs, struct boot_alloc *ba,
                              uint64_t map_bytes, uint64_t desc_size)
{
	uint64_t cap_bytes = map_bytes + MAP_HEADROOM * desc_size;
	ba->map_pages = pages_of(cap_bytes);
	ba->map_buf = alloc_pages(bs, ba->map_pages, "memory map buffer");
	/* desc_size >= 40, so this many descriptors can never fit. */
	uint64_t max_desc = ba->map_pages * KS_EFI_PAGE_SIZE /
	                    sizeof(struct ks_efi_desc);
	ba->range_cap = ks_efi_memmap_cap(max_desc, NCARVE);
	ba->range_pages = pages_of(ba->range_cap * sizeof(struct ks_memrange));
	ba->ranges = alloc_pages(bs, ba->range_pages, "memory range array");
}

static void enter_kernel(void *arg)
{
	kmain((const struct ks_bootinfo *)arg);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st)
{
	uint64_t tsc = rdtsc();
	EFI_BOOT_SERVICES *bs = st->BootServices;
	EFI_STATUS s;

	ks_serial_init();
	bprintf("\nkspan: efi_main (image handle %p)\n", (void *)image);
	uefi_call_wrapper(bs->SetWatchdogTimer, 4, 0, 0, 0, NULL);

	/* 1. Image extent and ACPI. */
	EFI_GUID lip_guid = LOADED_IMAGE_PROTOCOL;
	EFI_LOADED_IMAGE *li = NULL;
	s = uefi_call_wrapper(bs->HandleProtocol, 3, image, &lip_guid,
	                      (void **)&li);
	if (EFI_ERROR(s) || !li)
		boot_fail("no loaded image protocol", s);
	uint64_t image_base = (uint64_t)(uintptr_t)li->ImageBase;
	uint64_t image_size = li->ImageSize;
	if (image_base != (uint64_t)(uintptr_t)__image_start)
		bprintf("kspan: warning: loaded image base 0x%llx != "
		        "__image_start %p\n", (unsigned long long)image_base,
		        (void *)__image_start);
	uint32_t acpi2 = 0;
	uint64_t rsdp = find_rsdp(st, &acpi2);

	/* 2. Size the map: highest address and descriptor count. */
	UINTN map_size = 0, key = 0, dsize = 0;
	UINT32 dver = 0;
	s = uefi_call_wrapper(bs->GetMemoryMap, 5, &map_size, NULL, &key,
	                      &dsize, &dver);
	if (s != EFI_BUFFER_TOO_SMALL || dsize < sizeof(struct ks_efi_desc))
		boot_fail("GetMemoryMap did not report its size", s);
	uint64_t probe_pages = pages_of(map_size + MAP_HEADROOM * dsize);
	uint64_t probe = alloc_pages(bs, probe_pages, "map probe buffer");
	map_size = probe_pages * KS_EFI_PAGE_SIZE;
	s = uefi_call_wrapper(bs->GetMemoryMap, 5, &map_size,
	                      (EFI_MEMORY_DESCRIPTOR *)(uintptr_t)probe, &key,
	                      &dsize, &dver);
	if (EFI_ERROR(s))
		boot_fail("GetMemoryMap (probe)", s);
	uint64_t top = ks_efi_map_top((void *)(uintptr_t)probe, map_size, dsize);
	free_pages(bs, probe, probe_pages);
	if (top < (4ull << 30))
		top = 4ull << 30;               /* MMIO: LAPIC, IOAPIC, ... */
	top = (top + KS_PAGE_2M - 1) & ~(KS_PAGE_2M - 1);

	/* 3. Everything the kernel keeps, and the final map's buffers. */
	struct boot_alloc ba = { 0 };
	ba.bootinfo = alloc_pages(bs, 1, "boot info");
	ba.stack_pages = 1 + KSTACK_SIZE / KS_EFI_PAGE_SIZE;
	ba.stack = alloc_pages(bs, ba.stack_pages, "kernel stack");
	ba.pt_frames = ks_paging_identity_frames(top) + PT_SPARE_FRAMES;
	ba.pt_pool = alloc_pages(bs, ba.pt_frames, "page-table pool");
	ba.trampoline = alloc_trampoline(bs);
	alloc_map_buffers(bs, &ba, map_size, dsize);
	bprintf("kspan: identity map up to 0x%llx, %llu page-table frames; "
	        "ExitBootServices\n", (unsigned long long)top,
	        (unsigned long long)ba.pt_frames);

	/* 4. Final map and ExitBootServices (no prints from here on). */
	for (int tries = 0;; tries++) {
		map_size = ba.map_pages * KS_EFI_PAGE_SIZE;
		s = uefi_call_wrapper(bs->GetMemoryMap, 5, &map_size,
		                      (EFI_MEMORY_DESCRIPTOR *)(uintptr_t)ba.map_buf,
		                      &key, &dsize, &dver);
		if (s != EFI_BUFFER_TOO_SMALL)
			break;
		if (tries == 3)
			boot_fail("memory map keeps growing", s);
		free_pages(bs, ba.map_buf, ba.map_pages);
		free_pages(bs, ba.ranges, ba.range_pages);
		alloc_map_buffers(bs, &ba, map_size, dsize);
	}
	if (EFI_ERROR(s))
		boot_fail("GetMemoryMap", s);
	uint32_t attempts = 1;
	s = uefi_call_wrapper(bs->ExitBootServices, 2, image, key);
	if (s == EFI_INVALID_PARAMETER) {
		attempts = 2;
		map_size = ba.map_pages * KS_EFI_PAGE_SIZE;
		s = uefi_call_wrapper(bs->GetMemoryMap, 5, &map_size,
		                      (EFI_MEMORY_DESCRIPTOR *)(uintptr_t)ba.map_buf,
		                      &key, &dsize, &dver);
		if (!EFI_ERROR(s))
			s = uefi_call_wrapper(bs->ExitBootServices, 2, image, key);
	}
	if (EFI_ERROR(s))
		boot_fail("ExitBootServices", s);

	/* 5. Boot services are gone. */
	cpu_cli();
	struct ks_bootinfo *bi = (struct ks_bootinfo *)(uintptr_t)ba.bootinfo;
	__builtin_memset(bi, 0, sizeof(*bi));

	struct ks_memrange carve[NCARVE];
	size_t nc = 0;
	carve[nc++] = (struct ks_memrange){ image_base & ~0xfffull,
		((image_base + image_size + 0xfff) & ~0xfffull) -
		(image_base & ~0xfffull), KS_MEM_KERNEL, 0 };
	carve[nc++] = (struct ks_memrange){ ba.bootinfo, KS_EFI_PAGE_SIZE,
		KS_MEM_KERNEL, 0 };
	carve[nc++] = (struct ks_memrange){ ba.stack,
		ba.stack_pages * KS_EFI_PAGE_SIZE, KS_MEM_KERNEL, 0 };
	carve[nc++] = (struct ks_memrange){ ba.pt_pool,
		ba.pt_frames * KS_EFI_PAGE_SIZE, KS_MEM_KERNEL, 0 };
	carve[nc++] = (struct ks_memrange){ ba.ranges,
		ba.range_pages * KS_EFI_PAGE_SIZE, KS_MEM_KERNEL, 0 };
	if (ba.trampoline)
		carve[nc++] = (struct ks_memrange){ ba.trampoline,
			KS_TR_FRAMES * KS_EFI_PAGE_SIZE, KS_MEM_KERNEL, 0 };
	if (rsdp) {
		/* Keep the RSDP's frames out of free RAM even if the firmware
		 * left it in boot-services memory. */
		uint64_t lo = rsdp & ~0xfffull;
		uint64_t hi = (rsdp + 36 + 0xfff) & ~0xfffull;
		carve[nc++] = (struct ks_memrange){ lo, hi - lo,
			KS_MEM_ACPI_RECLAIM, 0 };
	}

	struct ks_efi_map_error err = { 0 };
	struct ks_memrange *ranges = (struct ks_memrange *)(uintptr_t)ba.ranges;
	long n = ks_efi_memmap_translate((void *)(uintptr_t)ba.map_buf, map_size,
	                                 dsize, carve, nc, ranges, ba.range_cap,
	                                 &err);
	if (n <= 0) {
		bprintf("kspan: boot failed: memory map translation error %d at "
		        "%s %zu\n", err.code, err.in_carve ? "carve-out" :
		        "descriptor", err.index);
		ks_qemu_exit(0);
	}

	bi->magic = KS_BOOTINFO_MAGIC;
	bi->version = KS_BOOTINFO_VERSION;
	bi->size = sizeof(*bi);
	bi->memmap = ba.ranges;
	bi->memmap_count = (uint64_t)n;
	bi->memmap_cap = ba.range_cap;
	bi->image_base = image_base;
	bi->image_size = image_size;
	bi->rsdp = rsdp;
	bi->rsdp_acpi2 = acpi2;
	bi->ebs_attempts = attempts;
	bi->stack_base = ba.stack;
	bi->stack_size = ba.stack_pages * KS_EFI_PAGE_SIZE;
	bi->pt_pool = ba.pt_pool;
	bi->pt_pool_frames = ba.pt_frames;
	bi->identity_top = top;
	bi->efi_map_entries = map_size / dsize;
	bi->efi_desc_size = (uint32_t)dsize;
	bi->efi_desc_version = dver;
	bi->tsc_at_entry = tsc;
	copy_vendor(bi->fw_vendor, sizeof(bi->fw_vendor), st->FirmwareVendor);
	bi->ap_trampoline = ba.trampoline;
	bi->ap_trampoline_size = ba.trampoline ? KS_TR_FRAMES * KS_EFI_PAGE_SIZE : 0;

	size_t used = 0;
	uint64_t cr3 = ks_paging_build_identity(ba.pt_pool, ba.pt_frames, top,
	                                        &used);
	if (!cr3) {
		bprintf("kspan: boot failed: page-table pool too small\n");
		ks_qemu_exit(0);
	}
	bi->cr3 = cr3;
	bi->pt_pool_used = used;
	ks_arch_enter(cr3, bi->stack_base + bi->stack_size, enter_kernel, bi);
	return EFI_ABORTED;                     /* not reached */
}
