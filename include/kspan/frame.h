/*
 * The physical frame map: which 4 KiB frames of physical memory are free.
 *
 * Built once from a normalized ks_memrange map (include/kspan/memmap.h).
 * Every frame of a free-RAM range (KS_MEM_USABLE, and KS_MEM_RECLAIMABLE
 * when reclaim_boot is set) starts free; every other frame is never handed
 * out, and neither is frame 0 (physical address 0 is the error value).  The
 * map keeps one bit per free-RAM frame, grouped per range (holes in the
 * physical address space cost nothing), and places those bitmaps, with a
 * small descriptor per range of the map, in the first free frames big
 * enough for them (those frames are then marked used and counted as
 * meta_frames).  Frame addresses are physical.
 *
 * Locking: a spinlock inside the map, taken with interrupts off; all calls
 * are safe from any CPU and from interrupt handlers.  It ranks below the
 * heap's locks (lib/spinlock.h has the one lock order).
 */
#ifndef KSPAN_FRAME_H
#define KSPAN_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/memmap.h>

struct ks_frame_stats {
	uint64_t usable_frames;   /* free-RAM frames in the map (not frame 0) */
	uint64_t free_frames;     /* of those, currently free */
	uint64_t meta_frames;     /* used by the frame map's own bitmaps */
	uint64_t ranges;          /* free-RAM ranges */
	uint64_t allocs;          /* successful ks_frame_alloc calls */
	uint64_t alloc_fails;     /* ks_frame_alloc calls that returned 0 */
	uint64_t frees;           /* ks_frame_free calls */
};

/*
 * Build the frame map, replacing any earlier one.  map must be normalized
 * (a map that is not -- unsorted, overlapping, unaligned, unknown type --
 * stops with a message naming the entry).  phys_to_virt converts a physical
 * address to a pointer the caller can use (identity on kspan's kernel; an
 * offset on a higher-half kernel; host tests pass their own); it is called
 * once, for the metadata.  Returns 0, or -1 with a message through
 * ks_plat_write if there is no free RAM or no range can hold the bitmaps
 * (the map is then empty: every allocation fails).
 */
int ks_frame_init(const struct ks_memrange *map, size_t n, int reclaim_boot,
                  void *(*phys_to_virt)(uint64_t phys));

/* Allocate n physically contiguous frames aligned to align bytes (a power
 * of two >= KS_FRAME_SIZE), all inside one range of the map.  Returns the
 * physical address, or 0 if there is no such run (frame 0 is never handed
 * out).  n == 0 or a bad align stops with a message. */
uint64_t ks_frame_alloc(size_t n, size_t align);

/* Free n frames starting at phys.  Freeing a frame that is not in use, that
 * is not free RAM, that holds the map's own bitmaps, or an unaligned
 * address, stops with a message naming the address; nothing is freed then. */
void ks_frame_free(uint64_t phys, size_t n);

/* Is the frame holding phys currently handed out (1; the map's own frames
 * count as handed out), free (0), or not free RAM (-1)? */
int ks_frame_state(uint64_t phys);

void ks_frame_stats(struct ks_frame_stats *out);

/* Bytes currently free (free_frames * KS_FRAME_SIZE). */
uint64_t ks_frame_free_bytes(void);

/* Recount every bitmap and check it against the free counts and stats
 * (slow: for tests and kspan_check).  Stops with a message on a mismatch. */
void ks_frame_check(void);

#endif
