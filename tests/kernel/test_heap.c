/*
 * In-kernel self-tests of the heap (kmalloc and friends, over the frame map
 * and the kernel's page source): every size class, a seeded random sequence
 * of 10^5 operations with pattern checks, large objects, alignment,
 * exhausting memory and recovering (at most KT_FILL_CAP of it: on a big
 * guest the rest of the free frames is held back, untouched), and
 * coalescing back to one span.  Each test leaves the heap as it found it,
 * and checks so.
 */
#include "kernel/selftest.h"

#include <kspan/kmalloc.h>
#include "kernel/kernel.h"
#include <kspan/frame.h>
#include "tests/common/pattern.h"
#include "tests/kernel/testlib.h"


KS_SELFTEST("heap: spans + bitmap take at most 4% of usable RAM")
{
	struct kspan_heap_stats hs;
	struct ks_frame_stats fs;
	kspan_heap_stats(&hs);
	ks_frame_stats(&fs);
	uint64_t usable = fs.usable_frames * KS_FRAME_SIZE;
	KT_EXPECT((hs.spans_bytes + hs.bitmap_bytes) * 100 <= usable * 4);
	KT_EXPECT(hs.arena_bytes >= (fs.usable_frames - fs.meta_frames) * KS_FRAME_SIZE / 2);
#if KSPAN_GC
	KT_EXPECT_EQ(hs.bitmap_bytes, hs.arena_bytes / 32);
#else
	/* No collector, no heap bitmap: the spans alone, 0.5% at most. */
	KT_EXPECT_EQ(hs.bitmap_bytes, 0);
	KT_EXPECT(hs.spans_bytes * 1000 <= usable * 5);
#endif
}

KS_SELFTEST("heap: every size class, smallest and largest request")
{
	uint64_t before = kt_heap_free_pages();
	enum { N = 200 };
	static void *objs[N];
	static struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_class_stats(cs);
	for (unsigned cls = 1; cls < KSPAN_NUM_CLASSES; cls++) {
		size_t size = cs[cls].size;
		for (int i = 0; i < N; i++) {
			size_t req = (i & 1) ? size : (size_t)cs[cls - 1].size + 1;
			objs[i] = kmalloc(req);
			KT_ASSERT(objs[i] != NULL);
			KT_ASSERT(ksize(objs[i]) >= req);
			KT_ASSERT_EQ((uintptr_t)objs[i] % (size >= 16 ? 16 : 8), 0);
			fill_pattern(objs[i], ksize(objs[i]), cls * N + i);
		}
		for (int i = 0; i < N; i++) {
			KT_ASSERT(check_pattern(objs[i], ksize(objs[i]), cls * N + i));
			kfree(objs[i]);
		}
	}
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
}

KS_SELFTEST("heap: 10^5 random kmalloc/krealloc/kfree with pattern checks")
{
	uint64_t before = kt_heap_free_pages();
	enum { SLOTS = 2048, OPS = 100000 };
	static struct { void *p; size_t n; uint64_t seed; } slot[SLOTS];
	uint64_t rng = 0xC0FFEE;
	for (uint64_t op = 1; op <= OPS; op++) {
		uint64_t r = ks_rand(&rng);
		unsigned i = (unsigned)(r % SLOTS);
		if (slot[i].p) {
			KT_ASSERT(check_pattern(slot[i].p, slot[i].n, slot[i].seed));
			if ((r >> 20) % 8 == 0) {
				size_t n = (r >> 24) % 3000;
				void *q = krealloc(slot[i].p, n);
				KT_ASSERT(q != NULL);
				KT_ASSERT(check_pattern(q, n < slot[i].n ? n : slot[i].n,
				                        slot[i].seed));
				fill_pattern(q, n, op);
				slot[i].p = q;
				slot[i].n = n;
				slot[i].seed = op;
			} else {
				kfree(slot[i].p);
				slot[i].p = 0;
			}
		} else {
			unsigned kind = (unsigned)((r >> 16) % 100);
			size_t n = kind < 70 ? (r >> 24) % 128
			         : kind < 98 ? (r >> 24) % 2048 : (r >> 24) % 100000;
			void *p = kmalloc(n);
			KT_ASSERT(p != NULL);
			fill_pattern(p, n, op);
			slot[i].p = p;
			slot[i].n = n;
			slot[i].seed = op;
		}
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		if (!slot[i].p)
			continue;
		KT_ASSERT(check_pattern(slot[i].p, slot[i].n, slot[i].seed));
		kfree(slot[i].p);
		slot[i].p = 0;
	}
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
}

KS_SELFTEST("heap: large objects and kpages")
{
	uint64_t before = kt_heap_free_pages();
	static const size_t sizes[] = { 32769, 65536, 1 << 20, (3 << 20) + 7 };
	void *p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = kmalloc(sizes[i]);
		KT_ASSERT(p[i] != NULL);
		KT_ASSERT_EQ((uintptr_t)p[i] % KSPAN_PAGE_SIZE, 0);
		fill_pattern(p[i], sizes[i], i);
	}
	void *pg = kpages_alloc(5);
	KT_ASSERT(pg != NULL);
	for (int i = 3; i >= 0; i--) {
		KT_ASSERT(check_pattern(p[i], sizes[i], i));
		kfree(p[i]);
	}
	kpages_free(pg, 5);
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
}

KS_SELFTEST("heap: kmalloc_aligned up to 4 MiB")
{
	uint64_t before = kt_heap_free_pages();
	for (size_t align = 8; align <= (4u << 20); align <<= 1) {
		static const size_t sizes[] = { 1, 24, 700, 5000, 40000 };
		for (unsigned i = 0; i < 5; i++) {
			void *p = kmalloc_aligned(sizes[i], align);
			KT_ASSERT(p != NULL);
			KT_ASSERT_EQ((uintptr_t)p % align, 0);
			fill_pattern(p, sizes[i], align);
			KT_ASSERT(check_pattern(p, sizes[i], align));
			kfree(p);
		}
	}
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
}

/* Allocate until memory runs out; free it all.  Returns the bytes held at
 * the peak. */
static uint64_t exhaust_and_free(struct ks_test *kt)
{
	/* Chain every object through its first word: no other memory needed. */
	void *chain = 0;
	uint64_t count = 0, bytes = 0;
	static const size_t sizes[] = { 4 << 20, 1 << 20, 65536, 4096, 64 };
	for (unsigned k = 0; k < 5; k++) {
		void *p;
		while ((p = kmalloc(sizes[k])) != 0) {
			*(void **)p = chain;
			chain = p;
			count++;
			bytes += sizes[k];
		}
	}
	kprintf("# exhausted after %llu objects, %llu MiB\n",
	        (unsigned long long)count, (unsigned long long)(bytes >> 20));
	KT_EXPECT(kmalloc(1 << 20) == 0);
	kspan_check();
	while (chain) {
		void *next = *(void **)chain;
		kfree(chain);
		chain = next;
	}
	return bytes;
}

KS_SELFTEST("heap: exhaust memory (at most 1 GiB of it), free it all, nothing leaks")
{
	uint64_t before = kt_heap_free_pages();
	kspan_scavenge();
	struct ks_frame_stats f0, f1, f2;
	struct kspan_heap_stats h0, h1;
	/* A big guest: hold all but KT_FILL_CAP back, so the heap runs out
	 * of frames there (commit fails) and the host backs 1 GiB, not all
	 * of the guest's RAM. */
	struct kt_grab held = { 0 };
	ks_frame_stats(&f0);
	uint64_t cap = KT_FILL_CAP / KS_FRAME_SIZE;
	if (f0.free_frames > cap)
		kt_grab_frames(&held, cap);
	ks_frame_stats(&f0);
	kspan_heap_stats(&h0);
	kprintf("# %llu MiB of free frames to fill, %llu MiB held back untouched\n",
	        (unsigned long long)(f0.free_frames >> 8),
	        (unsigned long long)(held.frames >> 8));
	KT_EXPECT(f0.free_frames <= cap || held.frames == 0);

	/* First round: the heap grows over the whole arena, so the spans and
	 * bitmap shadows (and page tables for the arena) get committed; they
	 * stay, as Go's do.  Everything else comes back. */
	uint64_t peak = exhaust_and_free(kt);
	KT_EXPECT(peak > (f0.free_frames * KS_FRAME_SIZE) / 2);
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
	kspan_scavenge();
	ks_frame_stats(&f1);
	kspan_heap_stats(&h1);
	uint64_t kept = (f0.free_frames - f1.free_frames) * KS_FRAME_SIZE;
	uint64_t meta = h1.meta_committed - h0.meta_committed;
	kprintf("# round 1 kept %llu KiB: %llu KiB heap metadata, the rest page tables\n",
	        (unsigned long long)(kept >> 10), (unsigned long long)(meta >> 10));
	KT_EXPECT(kept >= meta);
	/* Page tables for the arena: at most one 4 KiB table per 2 MiB. */
	KT_EXPECT(kept - meta <= (h1.arena_bytes >> 21) * KS_FRAME_SIZE + 16 * KS_FRAME_SIZE);

	/* Second round: nothing new to set up, so every frame comes back. */
	exhaust_and_free(kt);
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
	kspan_scavenge();
	ks_frame_stats(&f2);
	KT_EXPECT_EQ(f2.free_frames, f1.free_frames);
	void *again = kmalloc(1 << 20);
	KT_EXPECT(again != 0);
	kfree(again);
	kt_release_frames(&held);
}

KS_SELFTEST("heap: freed page runs coalesce back to one span")
{
	uint64_t before = kt_heap_free_pages();
	enum { N = 300 };
	static void *blk[N];
	static size_t len[N];
	uint64_t rng = 77;
	for (int i = 0; i < N; i++) {
		len[i] = 1 + ks_rand(&rng) % 40;
		blk[i] = kpages_alloc(len[i]);
		KT_ASSERT(blk[i] != 0);
	}
	/* Free in a shuffled order. */
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(ks_rand(&rng) % (uint64_t)(i + 1));
		void *tp = blk[i];
		size_t tl = len[i];
		blk[i] = blk[j];
		len[i] = len[j];
		blk[j] = tp;
		len[j] = tl;
	}
	for (int i = 0; i < N; i++)
		kpages_free(blk[i], len[i]);
	KT_EXPECT_EQ(kt_heap_free_pages(), before);
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	KT_EXPECT_EQ(hs.largest_free_run, hs.pages_free);
	KT_EXPECT_EQ(hs.pages_free, hs.pages_total);
}
