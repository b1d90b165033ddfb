/*
 * Self-tests of the frame map (phys/frame.c) as the kernel built it from the
 * boot map with boot-services memory reclaimed.
 */
#include "kernel/selftest.h"

#include "kernel/kernel.h"
#include "tests/kernel/testlib.h"
#include <kspan/frame.h>

KS_SELFTEST("frame map: free frames = map's usable + reclaimable - metadata")
{
	size_t n;
	const struct ks_memrange *m = kt_map(&n);
	uint64_t ram = ks_memmap_total(m, n, KS_MEM_USABLE) +
	               ks_memmap_total(m, n, KS_MEM_RECLAIMABLE);
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	/* Frame 0 is free RAM on a PC but the frame map leaves it out. */
	const struct ks_memrange *r0 = kt_map_find(0);
	uint64_t zero = r0 && ks_memtype_is_free(r0->type, 1) ? 1 : 0;
	KT_EXPECT_EQ(st.usable_frames + zero, ram / KS_FRAME_SIZE);
	KT_EXPECT(st.meta_frames > 0);
	/* Nothing else holds frames but the kernel's page tables and pages
	 * the page source committed. */
	KT_EXPECT_EQ(st.free_frames + kt_frames_in_kernel_use(),
	             st.usable_frames - st.meta_frames);
}

struct sweep {
	uint64_t frames, runs;
	uint64_t *seen;                 /* one bit per frame number */
	uint64_t seen_bits;
	uint64_t bad;                   /* first offending frame */
	const char *why;
};

/* Mark frame numbers [f, f + n) seen; the first one seen before, or
 * f + n. */
static uint64_t mark_seen(struct sweep *s, uint64_t f, uint64_t n)
{
	uint64_t none = f + n, twice = none, stop = none;
	if (stop > s->seen_bits)
		stop = s->seen_bits;
	while (f < stop) {
		unsigned b = (unsigned)(f % 64);
		unsigned cnt = 64 - b < stop - f ? 64 - b : (unsigned)(stop - f);
		uint64_t m = (cnt == 64 ? ~0ull : ((1ull << cnt) - 1)) << b;
		uint64_t *w = &s->seen[f / 64];
		if ((*w & m) && twice == none)
			twice = (f - b) + (uint64_t)__builtin_ctzll(*w & m);
		*w |= m;
		f += cnt;
	}
	return twice;
}

/* A grabbed run: inside free-RAM ranges of the map, never frame 0, marked
 * in use (its first and last frame and 64 frames spread between: a run is
 * one allocation, or single frames that came out contiguous), and no
 * frame of it handed out before. */
static int check_run(uint64_t base, uint64_t frames, void *arg)
{
	struct sweep *s = arg;
	uint64_t end = base + frames * KS_FRAME_SIZE;
	s->frames += frames;
	s->runs++;
	for (uint64_t p = base; p < end && !s->why;) {
		const struct ks_memrange *r = kt_map_find(p);
		if (p == 0)
			s->why = "frame 0 handed out";
		else if (!r)
			s->why = "frame outside the memory map";
		else if (!ks_memtype_is_free(r->type, 1))
			s->why = ks_memtype_name(r->type);
		if (s->why) {
			s->bad = p;
			return 1;
		}
		p = r->base + r->len < end ? r->base + r->len : end;
	}
	/* In use: the first and last frame, and 64 frames spread between. */
	uint64_t stride = frames / 64 > 1 ? frames / 64 : 1;
	for (uint64_t i = 0; i < frames + stride; i += stride) {
		uint64_t p = i < frames ? base + i * KS_FRAME_SIZE : end - KS_FRAME_SIZE;
		if (ks_frame_state(p) != 1) {
			s->why = "handed out but not marked in use";
			s->bad = p;
			return 1;
		}
	}
	if (s->seen) {
		uint64_t f = base / KS_FRAME_SIZE;
		uint64_t twice = mark_seen(s, f, frames);
		if (twice != f + frames) {
			s->why = "handed out twice";
			s->bad = twice * KS_FRAME_SIZE;
			return 1;
		}
	}
	return 0;
}

KS_SELFTEST("frame map: allocating everything hands out only free RAM, once")
{
	struct ks_frame_stats before, empty, after;
	ks_frame_stats(&before);
	struct kt_grab g;
	kt_grab_frames(&g, 0);
	ks_frame_stats(&empty);

	/* A bitmap of the frames seen (to catch a frame handed out twice),
	 * kept in a grabbed run big enough for it. */
	struct sweep s = { 0 };
	uint64_t bits = ks_kernel_bootinfo()->identity_top / KS_FRAME_SIZE;
	uint64_t need = (bits / 8 + KS_FRAME_SIZE - 1) / KS_FRAME_SIZE;
	uint64_t scratch = kt_grab_scratch(&g, need);
	if (scratch) {
		s.seen = (uint64_t *)(uintptr_t)scratch;
		s.seen_bits = bits;
		__builtin_memset(s.seen, 0, need * KS_FRAME_SIZE);
	}
	int bad = kt_grab_each_run(&g, check_run, &s);
	uint64_t runs = g.runs, frames = g.frames;
	kt_release_frames(&g);
	ks_frame_stats(&after);
	kprintf("# took all %llu free frames (%llu MiB, %llu runs), gave them back%s\n",
	        (unsigned long long)frames, (unsigned long long)(frames >> 8),
	        (unsigned long long)runs,
	        s.seen ? "" : "; no run big enough for the duplicate check");
	if (bad)
		KT_FAIL("frame 0x%llx: %s", (unsigned long long)s.bad, s.why);
	KT_EXPECT(s.seen != NULL);
	KT_EXPECT_EQ(s.frames, frames);
	KT_EXPECT_EQ(empty.free_frames, 0);
	KT_EXPECT_EQ(frames, before.free_frames);
	KT_EXPECT_EQ(after.free_frames, before.free_frames);
}

KS_SELFTEST("frame map: aligned runs, states, and frames outside free RAM")
{
	struct ks_frame_stats before, after;
	ks_frame_stats(&before);
	uint64_t p = ks_frame_alloc(16, 1u << 16);
	KT_ASSERT(p != 0);
	KT_EXPECT_EQ(p & 0xffff, 0);
	for (int i = 0; i < 16; i++)
		KT_EXPECT_EQ(ks_frame_state(p + (uint64_t)i * KS_FRAME_SIZE), 1);
	ks_frame_free(p, 16);
	for (int i = 0; i < 16; i++)
		KT_EXPECT_EQ(ks_frame_state(p + (uint64_t)i * KS_FRAME_SIZE), 0);
	ks_frame_stats(&after);
	KT_EXPECT_EQ(after.free_frames, before.free_frames);

	/* The kernel image and the boot info are never free RAM. */
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	KT_EXPECT_EQ(ks_frame_state(bi->image_base & ~0xfffull), -1);
	KT_EXPECT_EQ(ks_frame_state((uint64_t)(uintptr_t)bi), -1);
	KT_EXPECT_EQ(ks_frame_state(bi->stack_base), -1);
}
