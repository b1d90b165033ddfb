/*
 * The kernel's glue to the heap: size the arena from the frame map (all
 * usable RAM, so the heap's metadata scales with RAM and not with the span
 * of physical addresses), start kspan, and print what it reserved.
 * Called once by kmain on the boot CPU, before the self-tests.
 */
#include "kernel.h"

#include <kspan/kmalloc.h>
#include "mm/frame.h"

void ks_kernel_heap_report(void);

void ks_kernel_heap_init(const struct ks_bootinfo *bi)
{
	(void)bi;
	struct ks_frame_stats fs;
	ks_frame_stats(&fs);
	uint64_t usable = fs.free_frames * KS_FRAME_SIZE;
	struct kspan_config cfg = { .arena_bytes = (size_t)usable };
	if (kspan_init(&cfg) != 0)
		kpanic("heap: kspan_init could not reserve an arena of %llu MiB",
		       (unsigned long long)(usable >> 20));

	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	uint64_t meta = hs.spans_bytes + hs.bitmap_bytes;
	uint64_t per10k = meta * 10000 / usable;
	kprintf("kspan heap: arena %llu MiB for %llu MiB usable RAM; spans %llu KiB, "
	        "bitmap %llu KiB: %llu.%02llu%% of usable RAM (reserved; committed "
	        "as the heap grows)\n",
	        (unsigned long long)(hs.arena_bytes >> 20),
	        (unsigned long long)(usable >> 20),
	        (unsigned long long)(hs.spans_bytes >> 10),
	        (unsigned long long)(hs.bitmap_bytes >> 10),
	        (unsigned long long)(per10k / 100), (unsigned long long)(per10k % 100));
}

void ks_kernel_heap_report(void)
{
	kspan_drain_cpu();
	kspan_check();
	kspan_print_stats();
}
