/*
 * kspan's neutral physical memory map.
 *
 * Every way of booting (UEFI in boot/, Multiboot2 in examples/, any other
 * kernel) describes physical memory to kspan as an array of ks_memrange.
 * ks_memmap_normalize() turns whatever a firmware reported into a map with
 * these guarantees, which everything downstream (the frame map) relies on:
 *
 *   - every range has a known type and a length > 0;
 *   - base and length are multiples of KS_FRAME_SIZE (4 KiB): usable-like
 *     ranges shrink inwards to whole frames, reserved-like ranges grow
 *     outwards, so no frame is both;
 *   - ranges are sorted by base and do not overlap; where the input
 *     overlapped, the more restrictive type wins (see ks_memtype order);
 *   - adjacent ranges of the same type are merged.
 */
#ifndef KSPAN_MEMMAP_H
#define KSPAN_MEMMAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KS_FRAME_SHIFT 12
#define KS_FRAME_SIZE  ((uint64_t)1 << KS_FRAME_SHIFT)

/* Ordered from least to most restrictive: on overlap the larger value wins. */
enum ks_memtype {
	KS_MEM_USABLE = 1,      /* free RAM */
	KS_MEM_RECLAIMABLE,     /* boot-services / loader memory: free RAM once
	                           the firmware's boot services are gone */
	KS_MEM_ACPI_RECLAIM,    /* ACPI tables; RAM once they have been read */
	KS_MEM_KERNEL,          /* kernel image, boot info, early page tables,
	                           stacks: in use by the kernel, never handed out */
	KS_MEM_ACPI_NVS,        /* firmware-owned, must be preserved */
	KS_MEM_FIRMWARE,        /* UEFI runtime services code/data */
	KS_MEM_PERSISTENT,      /* persistent memory: not for the heap */
	KS_MEM_RESERVED,        /* reserved, unknown types */
	KS_MEM_MMIO,            /* memory-mapped I/O */
	KS_MEM_BAD,             /* unusable (errors detected) */
	KS_MEM_TYPE_MAX
};

struct ks_memrange {
	uint64_t base;  /* physical address */
	uint64_t len;   /* bytes */
	uint32_t type;  /* enum ks_memtype */
	uint32_t flags; /* reserved, 0 */
};

/* Name of a type ("usable", "reserved", ...). */
const char *ks_memtype_name(uint32_t type);

/* Is this type free RAM for the frame map?  reclaim_boot: count
 * KS_MEM_RECLAIMABLE as free (true after ExitBootServices). */
int ks_memtype_is_free(uint32_t type, int reclaim_boot);

/*
 * Normalize map[0..n) in place into the guarantees above.  The result may
 * have more entries than the input (an overlap can split a range in three),
 * up to cap entries.  Returns the new count, or a negative value on error:
 *   KS_MEMMAP_ETYPE  an entry has an unknown type (err_index says which);
 *   KS_MEMMAP_ERANGE an entry wraps past 2^64;
 *   KS_MEMMAP_ENOSPC splitting overlaps needed more than cap entries.
 * Zero-length entries, and usable entries smaller than one frame once
 * aligned, are dropped (not an error).
 */
#define KS_MEMMAP_ETYPE  (-1)
#define KS_MEMMAP_ERANGE (-2)
#define KS_MEMMAP_ENOSPC (-3)
long ks_memmap_normalize(struct ks_memrange *map, size_t n, size_t cap,
                         size_t *err_index);

/* Sum of the lengths of ranges of one type. */
uint64_t ks_memmap_total(const struct ks_memrange *map, size_t n,
                         uint32_t type);

#ifdef __cplusplus
}
#endif

#endif /* KSPAN_MEMMAP_H */
