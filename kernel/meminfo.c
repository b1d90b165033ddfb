/*
 * Memory reports printed at boot: the normalized memory map from the boot
 * info (one line per range, then MiB per type: usable, reclaimable,
 * reserved-like types one by one, kernel) and the frame map's totals.
 * Read-only; no locks beyond the console's.
 */
#include "meminfo.h"

#include <stdint.h>
#include "kernel.h"
#include <kspan/frame.h>

static uint64_t mib(uint64_t bytes)
{
	return bytes >> 20;
}

static uint64_t kib_rem(uint64_t bytes)
{
	/* Hundredths of a MiB, for small totals like the kernel's. */
	return ((bytes & ((1u << 20) - 1)) * 100) >> 20;
}

void ks_meminfo_print_map(const struct ks_memrange *map, size_t n)
{
	kprintf("memory map: %zu regions\n", n);
	for (size_t i = 0; i < n; i++)
		kprintf("  [0x%012llx-0x%012llx) %8llu KiB  %s\n",
		        (unsigned long long)map[i].base,
		        (unsigned long long)(map[i].base + map[i].len),
		        (unsigned long long)(map[i].len >> 10),
		        ks_memtype_name(map[i].type));
	uint64_t usable = ks_memmap_total(map, n, KS_MEM_USABLE);
	uint64_t recl = ks_memmap_total(map, n, KS_MEM_RECLAIMABLE);
	uint64_t kern = ks_memmap_total(map, n, KS_MEM_KERNEL);
	kprintf("memory map: usable %llu MiB, reclaimable %llu MiB, "
	        "kernel %llu.%02llu MiB, free RAM after reclaim %llu MiB\n",
	        (unsigned long long)mib(usable), (unsigned long long)mib(recl),
	        (unsigned long long)mib(kern), (unsigned long long)kib_rem(kern),
	        (unsigned long long)mib(usable + recl));
	uint64_t other = 0;
	for (uint32_t t = KS_MEM_USABLE; t < KS_MEM_TYPE_MAX; t++) {
		if (t == KS_MEM_USABLE || t == KS_MEM_RECLAIMABLE ||
		    t == KS_MEM_KERNEL)
			continue;
		uint64_t b = ks_memmap_total(map, n, t);
		if (b) {
			kprintf("memory map: %-13s %llu.%02llu MiB\n",
			        ks_memtype_name(t), (unsigned long long)mib(b),
			        (unsigned long long)kib_rem(b));
			other += b;
		}
	}
	kprintf("memory map: not free RAM (reserved-like) %llu.%02llu MiB\n",
	        (unsigned long long)mib(other),
	        (unsigned long long)kib_rem(other));
}

void ks_meminfo_print_frames(void)
{
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	kprintf("frame map: %llu ranges, %llu usable frames (%llu MiB), "
	        "%llu free, %llu for its own bitmaps\n",
	        (unsigned long long)st.ranges,
	        (unsigned long long)st.usable_frames,
	        (unsigned long long)(st.usable_frames >> 8),
	        (unsigned long long)st.free_frames,
	        (unsigned long long)st.meta_frames);
}
