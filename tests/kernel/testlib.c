/*
 * Self-test helpers (see testlib.h).  A grab's run list lives in index
 * frames taken from the grab itself; no other grabbed frame is written.  No locks: tests
 * run on one CPU, one at a time.
 */
#include "tests/kernel/testlib.h"

#include "arch/x86_64/paging.h"
#include "kernel/kernel.h"
#include "kernel/pagesrc.h"
#include <kspan/frame.h>

#define RUN_MAX 512     /* single frames merged into one run at most */

const struct ks_memrange *kt_map(size_t *n)
{
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	*n = (size_t)bi->memmap_count;
	return ks_bootinfo_memmap(bi);
}

const struct ks_memrange *kt_map_find(uint64_t phys)
{
	size_t n;
	const struct ks_memrange *m = kt_map(&n);
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (phys < m[mid].base)
			hi = mid;
		else if (phys - m[mid].base >= m[mid].len)
			lo = mid + 1;
		else
			return &m[mid];
	}
	return NULL;
}

int kt_map_inside(uint64_t base, uint64_t len, uint32_t type)
{
	const struct ks_memrange *r = kt_map_find(base);
	return r && r->type == type && len <= r->len - (base - r->base);
}

static uint64_t *frame_words(uint64_t phys)
{
	return (uint64_t *)(uintptr_t)phys;
}

/* Index frame: word 0 next index frame, word 1 entry count, then pairs
 * (run base, run length). */
#define INDEX_CAP ((KS_FRAME_SIZE / 8 - 2) / 2)

static uint64_t free_now(void)
{
	struct ks_frame_stats st;
	ks_frame_stats(&st);
	return st.free_frames;
}

/* Record the run [base, base + len); its first frame becomes a new index
 * frame when the current one is full. */
static void grab_record(struct kt_grab *g, uint64_t base, uint64_t len)
{
	g->frames += len;
	if (!g->last || frame_words(g->last)[1] == INDEX_CAP) {
		frame_words(base)[0] = 0;
		frame_words(base)[1] = 0;
		if (g->last)
			frame_words(g->last)[0] = base;
		else
			g->index = base;
		g->last = base;
		base += KS_FRAME_SIZE;
		if (--len == 0)
			return;
	}
	uint64_t *ix = frame_words(g->last);
	uint64_t k = ix[1]++;
	ix[2 + 2 * k] = base;
	ix[3 + 2 * k] = len;
	g->runs++;
}

/*
 * Big aligned blocks first (1 GiB down to 2 MiB: the frame map's aligned
 * first-fit skips a used block in one step, so each costs about as many
 * steps as there are such blocks), then single frames (the next-fit path:
 * about one word test each), merged into runs while they come out
 * contiguous, which next-fit mostly does.  Taking everything from a big
 * guest stays cheap, and no grabbed frame but the index frames is written.
 */
#define GRAB_ORDER_MAX 18       /* 2^18 frames = 1 GiB */
#define GRAB_ORDER_MIN 9        /* 2 MiB */

void kt_grab_frames(struct kt_grab *g, uint64_t leave)
{
	g->index = g->last = 0;
	g->runs = g->frames = 0;
	uint64_t avail = free_now();
	for (int order = GRAB_ORDER_MAX; order >= GRAB_ORDER_MIN; order--) {
		uint64_t n = 1ull << order;
		while (avail >= leave + n) {
			uint64_t p = ks_frame_alloc((size_t)n, (size_t)(n * KS_FRAME_SIZE));
			if (!p)
				break;
			grab_record(g, p, n);
			avail -= n;
		}
	}
	uint64_t run = 0, len = 0;
	for (;;) {
		uint64_t p = avail > leave ? ks_frame_alloc(1, KS_FRAME_SIZE) : 0;
		if (p && run && p == run + len * KS_FRAME_SIZE && len < RUN_MAX) {
			len++;
			avail--;
			continue;
		}
		if (run)
			grab_record(g, run, len);
		if (!p)
			break;
		run = p;
		len = 1;
		avail--;
	}
}

int kt_grab_each_run(const struct kt_grab *g,
                     int (*fn)(uint64_t base, uint64_t frames, void *arg),
                     void *arg)
{
	for (uint64_t ix = g->index; ix; ix = frame_words(ix)[0]) {
		int rc = fn(ix, 1, arg);
		if (rc)
			return rc;
		const uint64_t *w = frame_words(ix);
		for (uint64_t k = 0; k < w[1]; k++) {
			rc = fn(w[2 + 2 * k], w[3 + 2 * k], arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

uint64_t kt_grab_scratch(const struct kt_grab *g, uint64_t n)
{
	for (uint64_t ix = g->index; ix; ix = frame_words(ix)[0]) {
		const uint64_t *w = frame_words(ix);
		for (uint64_t k = 0; k < w[1]; k++)
			if (w[3 + 2 * k] >= n)
				return w[2 + 2 * k];
	}
	return 0;
}

void kt_release_frames(struct kt_grab *g)
{
	uint64_t ix = g->index;
	while (ix) {
		const uint64_t *w = frame_words(ix);
		for (uint64_t k = 0; k < w[1]; k++)
			ks_frame_free(w[2 + 2 * k], (size_t)w[3 + 2 * k]);
		uint64_t next = w[0];
		ks_frame_free(ix, 1);
		ix = next;
	}
	g->index = g->last = 0;
	g->runs = g->frames = 0;
}

uint64_t kt_frames_in_kernel_use(void)
{
	struct ks_paging_stats ps;
	struct ks_pagesrc_stats ss;
	ks_paging_stats(&ps);
	ks_pagesrc_stats(&ss);
	return ps.source_frames + ss.committed_frames;
}
