/*
 * Translation of a UEFI memory map into kspan's neutral map.
 *
 * Pure functions (no firmware calls, no efi.h) so the host test suite
 * (tests/host/test_efimap.c) can feed them synthetic maps.  The descriptor
 * layout and the type numbers below mirror the UEFI specification
 * (EFI_MEMORY_DESCRIPTOR, EFI_MEMORY_TYPE); the firmware's descriptors are
 * DescriptorSize bytes apart, which may be more than sizeof(struct
 * ks_efi_desc), so a map is always walked with that stride.
 *
 * No state, no locks.
 */
#ifndef KSPAN_BOOT_EFI_MEMMAP_H
#define KSPAN_BOOT_EFI_MEMMAP_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/memmap.h>

/* EFI_MEMORY_TYPE values (UEFI 2.10, 7.2). */
enum ks_efi_memtype {
	KS_EFI_RESERVED = 0,
	KS_EFI_LOADER_CODE = 1,
	KS_EFI_LOADER_DATA = 2,
	KS_EFI_BOOT_SERVICES_CODE = 3,
	KS_EFI_BOOT_SERVICES_DATA = 4,
	KS_EFI_RUNTIME_SERVICES_CODE = 5,
	KS_EFI_RUNTIME_SERVICES_DATA = 6,
	KS_EFI_CONVENTIONAL = 7,
	KS_EFI_UNUSABLE = 8,
	KS_EFI_ACPI_RECLAIM = 9,
	KS_EFI_ACPI_NVS = 10,
	KS_EFI_MMIO = 11,
	KS_EFI_MMIO_PORT_SPACE = 12,
	KS_EFI_PAL_CODE = 13,
	KS_EFI_PERSISTENT = 14,
	KS_EFI_UNACCEPTED = 15,
};

#define KS_EFI_PAGE_SIZE 4096u

/* EFI_MEMORY_DESCRIPTOR, version 1: the first 40 bytes of every descriptor. */
struct ks_efi_desc {
	uint32_t type;
	uint32_t pad;
	uint64_t phys_start;
	uint64_t virt_start;
	uint64_t npages;      /* 4 KiB EFI pages */
	uint64_t attribute;
};

/* kspan type for an EFI type.  Unknown and OEM/OS-defined types are
 * KS_MEM_RESERVED; so is unaccepted memory (it needs accepting first). */
uint32_t ks_efi_memtype(uint32_t efi_type);

/* Errors of ks_efi_memmap_translate (besides those of ks_memmap_normalize,
 * which it passes through: KS_MEMMAP_ETYPE, _ERANGE, _ENOSPC). */
#define KS_EFI_EDESCSIZE (-10) /* desc_size < 40 or not a multiple of 8 */
#define KS_EFI_EMAPSIZE  (-11) /* map_size not a multiple of desc_size */

/* Where an error was found. */
struct ks_efi_map_error {
	int code;            /* the negative return value */
	int in_carve;        /* 0: index is a descriptor, 1: a carve-out */
	size_t index;
};

/*
 * Translate map (map_size bytes of descriptors desc_size apart) into out,
 * add the carve-outs (ranges of any kspan type, typically KS_MEM_KERNEL for
 * what the kernel keeps; on overlap the more restrictive type wins, so a
 * KERNEL carve-out takes frames out of the free RAM around it), and
 * normalize the result (include/kspan/memmap.h).  out needs room for the
 * descriptors, the carve-outs and two more entries per carve-out (a
 * carve-out can split a range in three).
 *
 * Returns the number of entries in out, or a negative error with *err
 * filled in (err may be NULL).
 */
long ks_efi_memmap_translate(const void *map, size_t map_size,
                             size_t desc_size,
                             const struct ks_memrange *carve, size_t ncarve,
                             struct ks_memrange *out, size_t cap,
                             struct ks_efi_map_error *err);

/* Entries out needs for ks_efi_memmap_translate. */
static inline size_t ks_efi_memmap_cap(size_t ndesc, size_t ncarve)
{
	return ndesc + 3 * ncarve;
}

/* Highest end address (exclusive) of any descriptor; 0 for an empty or
 * malformed map.  Descriptors whose end would pass 2^64 are ignored. */
uint64_t ks_efi_map_top(const void *map, size_t map_size, size_t desc_size);

#endif /* KSPAN_BOOT_EFI_MEMMAP_H */
