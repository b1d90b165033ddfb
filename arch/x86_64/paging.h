/*
 * x86_64 4-level page tables: the boot-time identity map and single 4 KiB
 * page map / unmap / query.  See paging.c.
 */
#ifndef KSPAN_ARCH_X86_64_PAGING_H
#define KSPAN_ARCH_X86_64_PAGING_H

#include <stddef.h>
#include <stdint.h>

#define KS_PTE_PRESENT  (1ull << 0)
#define KS_PTE_WRITE    (1ull << 1)
#define KS_PTE_USER     (1ull << 2)
#define KS_PTE_PWT      (1ull << 3)
#define KS_PTE_PCD      (1ull << 4)
#define KS_PTE_ACCESSED (1ull << 5)
#define KS_PTE_DIRTY    (1ull << 6)
#define KS_PTE_LARGE    (1ull << 7)   /* PS: 2 MiB (PD) or 1 GiB (PDPT) */
#define KS_PTE_GLOBAL   (1ull << 8)
#define KS_PTE_NX       (1ull << 63)
#define KS_PTE_ADDR     0x000ffffffffff000ull

/* Flags ks_paging_map accepts. */
#define KS_MAP_WRITE    KS_PTE_WRITE
#define KS_MAP_NOCACHE  KS_PTE_PCD

#define KS_PAGE_4K (1ull << 12)
#define KS_PAGE_2M (1ull << 21)
#define KS_PAGE_1G (1ull << 30)

/* ---- Boot (runs before the kernel's tables are live) ------------------- */

/* Table frames an identity map of [0, top) with 2 MiB pages needs. */
size_t ks_paging_identity_frames(uint64_t top);

/* Build that identity map (read/write, executable) in the zeroed-here
 * frames pool[0 .. pool_frames) and return the PML4's physical address, or
 * 0 if the pool is too small.  *used gets the frames consumed (from the
 * start of the pool).  Only touches the pool: usable before the pool is
 * mapped by the tables it builds, as long as the current tables map it. */
uint64_t ks_paging_build_identity(uint64_t pool, size_t pool_frames,
                                  uint64_t top, size_t *used);

/* ---- Kernel ------------------------------------------------------------ */

/* Adopt the live tables (root = CR3).  Spare frames of the pool, from
 * pool_used on, serve later table allocations first. */
void ks_paging_init(uint64_t pool, size_t pool_frames, size_t pool_used);

/* Where page-table frames come from once the pool's spares are gone: a
 * function returning one 4 KiB frame's physical address, or 0 if none. */
void ks_paging_set_table_source(uint64_t (*alloc_frame)(void));

/* Map the 4 KiB page at virt to the frame at phys with flags (KS_MAP_*).
 * virt must be canonical, both 4 KiB aligned, and virt not mapped (not even
 * inside a 2 MiB / 1 GiB page): otherwise this panics naming the address.
 * Returns 0, or -1 if a page-table frame was needed and none was left. */
int ks_paging_map(uint64_t virt, uint64_t phys, uint64_t flags);

/* Remove the mapping of the 4 KiB page at virt and flush it from this
 * CPU's TLB; other CPUs' TLBs are flushed before the next ks_paging_map
 * installs anything, or by ks_paging_sync (see paging.c).
 * A 2 MiB or 1 GiB page around virt is first split into 4 KiB pages.
 * Returns 0 with the old frame in *phys (if phys != NULL), 1 if virt was
 * not mapped, -1 if a split needed a table frame and none was left. */
int ks_paging_unmap(uint64_t virt, uint64_t *phys);

/* Flush every other CPU's TLB now if anything was unmapped since the last
 * flush. */
void ks_paging_sync(void);

/* Translate virt: returns 1 and the physical address (and the leaf entry's
 * flags, if flags != NULL) when mapped, 0 when not. */
int ks_paging_query(uint64_t virt, uint64_t *phys, uint64_t *flags);

struct ks_paging_stats {
	uint64_t pool_frames;      /* frames in the boot pool */
	uint64_t pool_used;        /* of those, holding tables */
	uint64_t source_frames;    /* table frames taken from the source */
	uint64_t splits;           /* large pages split into smaller ones */
	uint64_t maps, unmaps;     /* 4 KiB pages mapped / unmapped */
	uint64_t shootdowns;       /* other CPUs' TLBs flushed (lazily) */
	uint64_t local_flushes;    /* of those, also the mapping CPU's own TLB
	                              (another CPU had unmapped) */
};
void ks_paging_stats(struct ks_paging_stats *out);

#endif
