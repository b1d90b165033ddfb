/*
 * Console reports of the boot memory map and the frame map (see meminfo.c).
 */
#ifndef KSPAN_KERNEL_MEMINFO_H
#define KSPAN_KERNEL_MEMINFO_H

#include <stddef.h>
#include <kspan/memmap.h>

/* Every range, then the totals per type and the free-RAM total. */
void ks_meminfo_print_map(const struct ks_memrange *map, size_t n);

/* The frame map's totals (<kspan/frame.h>'s ks_frame_stats). */
void ks_meminfo_print_frames(void);

#endif
