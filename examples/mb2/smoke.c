/*
 * Smoke test of libkspan.a inside a real kernel: the allocation API
 * (kmalloc, kzalloc, kcalloc, krealloc, kfree, ksize, kmalloc_aligned,
 * kpages_*, kspan_scavenge), through the kernel's own hooks (platform.c)
 * and page tables.
 *
 * Output is TAP: "ok N - name" or "not ok N - name" per test, "# ..." lines
 * for the details of a failure, then the plan "1..N" and the plain line
 * "P passed, F failed" that the runner looks for.
 *
 * Every check can fail: objects are filled with a pattern that depends on
 * the object and the offset, and verified only after their neighbours were
 * allocated and written, so overlapping or reused-while-live memory shows;
 * sizes, alignment and zeroing are checked byte for byte; the last tests
 * compare the allocator's and the frame map's accounting with the hooks'
 * own count of committed pages.
 */
#include <stdint.h>
#include <kspan/fmt.h>
#include <kspan/frame.h>
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

#include "kernel.h"

static int cur_failed;  /* checks failed in the running test */
static int n_run, n_passed, n_failed;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			check_failed(__LINE__, #cond);                       \
			ks_printf("#   " __VA_ARGS__);                       \
			ks_printf("\n");                                     \
		}                                                            \
	} while (0)

static void check_failed(int line, const char *cond)
{
	/* Report the first few failures of a test in full, then count. */
	if (cur_failed++ < 8)
		ks_printf("# smoke.c:%d: check failed: %s\n", line, cond);
}

static void run(const char *name, void (*fn)(void))
{
	cur_failed = 0;
	uint64_t t0 = ks_plat_now();
	fn();
	uint64_t dt = ks_plat_now() - t0;
	n_run++;
	if (cur_failed) {
		n_failed++;
		ks_printf("not ok %d - %s (%d checks failed)\n", n_run, name, cur_failed);
	} else {
		n_passed++;
		ks_printf("ok %d - %s # %lu Mcycles\n", n_run, name, dt / 1000000);
	}
}

/* ---- patterns ---- */

static uint8_t pat(uint64_t seed, size_t off)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + off;
	return (uint8_t)(x ^ (x >> 13) ^ (off >> 8));
}

static void fill(void *p, size_t n, uint64_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = pat(seed, i);
}

/* Offset of the first wrong byte, or n if all are right. */
static size_t verify(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(seed, i))
			return i;
	return n;
}

static size_t first_nonzero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return i;
	return n;
}

static int aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* ---- tests ---- */

static const size_t sizes[] = {
	0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 100, 128,
	255, 256, 500, 512, 1000, 1024, 2000, 2048, 3000, 4096, 5000, 8192,
	10000, 16384, 20000, 32767, 32768, 32769, 65536, 100000, 1 << 20,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void t_sizes_alignment(void)
{
	void *p[NSIZES];
	size_t ks[NSIZES];
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		p[i] = kmalloc(n);
		CHECK(p[i], "kmalloc(%lu) returned NULL", (uint64_t)n);
		if (!p[i])
			continue;
		size_t a = n > 8 ? 16 : 8;
		CHECK(aligned(p[i], a), "kmalloc(%lu) = %p not %lu-aligned",
		      (uint64_t)n, p[i], (uint64_t)a);
		ks[i] = ksize(p[i]);
		size_t want = n ? n : 1;
		CHECK(ks[i] >= want, "ksize(kmalloc(%lu)) = %lu", (uint64_t)n,
		      (uint64_t)ks[i]);
		if (n <= KSPAN_MAX_SMALL)
			CHECK(ks[i] <= 2 * want + 16, "ksize(kmalloc(%lu)) = %lu: too "
			      "much slack for a small size", (uint64_t)n, (uint64_t)ks[i]);
		else
			CHECK(ks[i] < n + KSPAN_PAGE_SIZE && ks[i] % KSPAN_PAGE_SIZE == 0,
			      "ksize(kmalloc(%lu)) = %lu: a large object should be whole "
			      "pages", (uint64_t)n, (uint64_t)ks[i]);
		fill(p[i], ks[i], i);
	}
	/* Verify only now: every object was written after the others were
	 * allocated, so any overlap has corrupted one of them. */
	for (size_t i = 0; i < NSIZES; i++) {
		if (!p[i])
			continue;
		size_t bad = verify(p[i], ks[i], i);
		CHECK(bad == ks[i], "kmalloc(%lu) = %p: byte %lu of %lu overwritten",
		      (uint64_t)sizes[i], p[i], (uint64_t)bad, (uint64_t)ks[i]);
	}
	for (size_t i = 0; i < NSIZES; i++)
		kfree(p[i]);
	kfree(0);       /* must do nothing */
}

static void t_zero_size_unique(void)
{
	void *a = kmalloc(0), *b = kmalloc(0);
	CHECK(a && b, "kmalloc(0) returned NULL (%p, %p)", a, b);
	CHECK(a != b, "two kmalloc(0) returned the same pointer %p", a);
	kfree(a);
	kfree(b);
}

static void t_kzalloc(void)
{
	static const size_t zs[] = { 8, 24, 64, 200, 1024, 4000, 32768, 70000 };
	for (size_t i = 0; i < sizeof(zs) / sizeof(zs[0]); i++) {
		/* Dirty memory of this size first, so kzalloc most likely gets
		 * recycled memory and must really clear it. */
		void *d = kmalloc(zs[i]);
		CHECK(d, "kmalloc(%lu) returned NULL", (uint64_t)zs[i]);
		if (d) {
			memset(d, 0xa5, ksize(d));
			kfree(d);
		}
		uint8_t *z = kzalloc(zs[i]);
		CHECK(z, "kzalloc(%lu) returned NULL", (uint64_t)zs[i]);
		if (!z)
			continue;
		size_t nz = first_nonzero(z, zs[i]);
		CHECK(nz == zs[i], "kzalloc(%lu) = %p (%s): byte %lu is 0x%x",
		      (uint64_t)zs[i], (void *)z, z == d ? "recycled" : "fresh",
		      (uint64_t)nz, z[nz < zs[i] ? nz : 0]);
		kfree(z);
	}
}

static void t_kcalloc(void)
{
	uint8_t *d = kmalloc(2400);
	if (d) {
		memset(d, 0x5a, 2400);
		kfree(d);
	}
	uint8_t *p = kcalloc(100, 24);
	CHECK(p, "kcalloc(100, 24) returned NULL");
	if (p) {
		size_t nz = first_nonzero(p, 2400);
		CHECK(nz == 2400, "kcalloc(100, 24): byte %lu not zero", (uint64_t)nz);
		CHECK(ksize(p) >= 2400, "ksize(kcalloc(100, 24)) = %lu",
		      (uint64_t)ksize(p));
		kfree(p);
	}
	void *o1 = kcalloc((size_t)1 << 33, (size_t)1 << 33);
	CHECK(!o1, "kcalloc(2^33, 2^33) overflows but returned %p", o1);
	void *o2 = kcalloc(SIZE_MAX / 2, 3);
	CHECK(!o2, "kcalloc(SIZE_MAX/2, 3) overflows but returned %p", o2);
}

static void t_krealloc(void)
{
	static const size_t steps[] = { 10, 100, 1000, 5000, 40000, 200000, 50, 3 };
	uint8_t *p = krealloc(0, 10);   /* krealloc(NULL, n) is kmalloc(n) */
	CHECK(p, "krealloc(NULL, 10) returned NULL");
	if (!p)
		return;
	fill(p, 10, 77);
	size_t have = 10;               /* bytes carrying the pattern */
	for (size_t i = 1; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t n = steps[i];
		uint8_t *q = krealloc(p, n);
		CHECK(q, "krealloc(%p, %lu) returned NULL", (void *)p, (uint64_t)n);
		if (!q) {
			kfree(p);
			return;
		}
		size_t keep = have < n ? have : n;
		size_t bad = verify(q, keep, 77);
		CHECK(bad == keep, "krealloc %lu -> %lu: byte %lu of the old "
		      "contents lost", (uint64_t)have, (uint64_t)n, (uint64_t)bad);
		CHECK(ksize(q) >= n, "ksize after krealloc to %lu is %lu",
		      (uint64_t)n, (uint64_t)ksize(q));
		fill(q, n, 77);
		have = n;
		p = q;
	}
	kfree(p);

	/* Growing within the usable size stays in place. */
	uint8_t *a = kmalloc(100);
	CHECK(a, "kmalloc(100) returned NULL");
	if (a) {
		size_t ks = ksize(a);
		fill(a, 100, 5);
		uint8_t *b = krealloc(a, ks);
		CHECK(b == a, "krealloc(%p, ksize %lu) moved to %p", (void *)a,
		      (uint64_t)ks, (void *)b);
		CHECK(b && verify(b, 100, 5) == 100, "contents changed in place");
		kfree(b ? b : a);
	}
}

static void t_kmalloc_aligned(void)
{
	static const size_t as[] = { 16, 32, 64, 128, 256, 512, 1024, 4096,
	                             8192, 16384, 65536, 1 << 20 };
	static const size_t ns[] = { 1, 100, 5000, 40000 };
	for (size_t i = 0; i < sizeof(as) / sizeof(as[0]); i++) {
		for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			uint8_t *p = kmalloc_aligned(ns[j], as[i]);
			CHECK(p, "kmalloc_aligned(%lu, %lu) returned NULL",
			      (uint64_t)ns[j], (uint64_t)as[i]);
			if (!p)
				continue;
			CHECK(aligned(p, as[i]), "kmalloc_aligned(%lu, %lu) = %p",
			      (uint64_t)ns[j], (uint64_t)as[i], (void *)p);
			CHECK(ksize(p) >= ns[j], "ksize(kmalloc_aligned(%lu, %lu)) = %lu",
			      (uint64_t)ns[j], (uint64_t)as[i], (uint64_t)ksize(p));
			fill(p, ns[j], i * 16 + j);
			CHECK(verify(p, ns[j], i * 16 + j) == ns[j], "readback failed");
			kfree(p);
		}
	}
}

static void t_kpages(void)
{
	static const size_t np[] = { 1, 2, 3, 8, 64 };
	void *p[5];
	for (size_t i = 0; i < 5; i++) {
		p[i] = kpages_alloc(np[i]);
		CHECK(p[i], "kpages_alloc(%lu) returned NULL", (uint64_t)np[i]);
		if (!p[i])
			continue;
		CHECK(aligned(p[i], KSPAN_PAGE_SIZE), "kpages_alloc(%lu) = %p not "
		      "page aligned", (uint64_t)np[i], p[i]);
		fill(p[i], np[i] * KSPAN_PAGE_SIZE, 1000 + i);
	}
	for (size_t i = 0; i < 5; i++) {
		if (!p[i])
			continue;
		size_t n = np[i] * KSPAN_PAGE_SIZE;
		size_t bad = verify(p[i], n, 1000 + i);
		CHECK(bad == n, "kpages_alloc(%lu) = %p: byte %lu overwritten",
		      (uint64_t)np[i], p[i], (uint64_t)bad);
		kpages_free(p[i], np[i]);
	}
}

#define MANY 20000

static size_t many_size(size_t i, unsigned round)
{
	return 1 + (i * 37 + round * 1009) % 3000;
}

static void t_many_objects(void)
{
	void **v = kmalloc(MANY * sizeof(void *));   /* itself a large object */
	CHECK(v, "kmalloc(%lu) for the pointer array returned NULL",
	      (uint64_t)(MANY * sizeof(void *)));
	if (!v)
		return;
	size_t got = 0;
	for (size_t i = 0; i < MANY; i++) {
		v[i] = kmalloc(many_size(i, 0));
		if (v[i]) {
			fill(v[i], many_size(i, 0), i);
			got++;
		}
	}
	CHECK(got == MANY, "only %lu of %d allocations succeeded", (uint64_t)got, MANY);
	size_t bad = 0;
	for (size_t i = 0; i < MANY; i++)
		if (v[i] && verify(v[i], many_size(i, 0), i) != many_size(i, 0))
			bad++;
	CHECK(bad == 0, "%lu of %d objects were overwritten by others",
	      (uint64_t)bad, MANY);

	/* Free every other one, allocate them again with other sizes, so freed
	 * slots are reused among live neighbours. */
	for (size_t i = 1; i < MANY; i += 2) {
		kfree(v[i]);
		v[i] = 0;
	}
	for (size_t i = 1; i < MANY; i += 2) {
		v[i] = kmalloc(many_size(i, 1));
		if (v[i])
			fill(v[i], many_size(i, 1), i + MANY);
	}
	bad = 0;
	for (size_t i = 0; i < MANY; i++) {
		if (!v[i]) {
			bad++;
			continue;
		}
		unsigned r = i & 1;
		if (verify(v[i], many_size(i, r), i + r * MANY) != many_size(i, r))
			bad++;
	}
	CHECK(bad == 0, "%lu of %d objects missing or overwritten after reuse",
	      (uint64_t)bad, MANY);
	for (size_t i = MANY; i-- > 0;)
		kfree(v[i]);
	kfree(v);
}

static void t_large_objects(void)
{
	static const size_t ls[] = { 40000, 1 << 20, 3 << 20, 16 << 20 };
	void *p[4];
	for (size_t i = 0; i < 4; i++) {
		p[i] = kmalloc(ls[i]);
		CHECK(p[i], "kmalloc(%lu) returned NULL", (uint64_t)ls[i]);
		if (p[i])
			fill(p[i], ls[i], 500 + i);
	}
	for (size_t i = 0; i < 4; i++) {
		if (!p[i])
			continue;
		size_t bad = verify(p[i], ls[i], 500 + i);
		CHECK(bad == ls[i], "kmalloc(%lu) = %p: byte %lu overwritten",
		      (uint64_t)ls[i], p[i], (uint64_t)bad);
		kfree(p[i]);
	}
}

/* Frames handed out by the frame map = committed heap pages + page tables:
 * the platform hooks and the frame map agree, nothing leaked. */
static void check_frame_accounting(const char *when)
{
	struct ks_frame_stats fs;
	ks_frame_stats(&fs);
	uint64_t used = fs.usable_frames - fs.free_frames - fs.meta_frames;
	uint64_t ours = (plat_committed_bytes() >> 12) + pg_table_frames();
	CHECK(used == ours, "%s: frame map has %lu frames in use, the kernel "
	      "holds %lu committed + %lu page-table frames", when, used,
	      plat_committed_bytes() >> 12, pg_table_frames());
}

static void t_out_of_memory(void)
{
	void *h1 = kmalloc(SIZE_MAX);
	CHECK(!h1, "kmalloc(SIZE_MAX) returned %p", h1);
	void *h2 = kmalloc(SIZE_MAX / 2 + 1);
	CHECK(!h2, "kmalloc(SIZE_MAX/2+1) returned %p", h2);
	struct ks_frame_stats fs;
	ks_frame_stats(&fs);
	size_t ram = (size_t)fs.usable_frames << 12;
	void *h3 = kmalloc(ram * 2);
	CHECK(!h3, "kmalloc(twice the RAM, %lu) returned %p", (uint64_t)ram * 2, h3);
	void *h4 = kpages_alloc(ram / KSPAN_PAGE_SIZE * 2);
	CHECK(!h4, "kpages_alloc(twice the RAM) returned %p", h4);

	/* Exhaust memory with 1 MiB blocks chained through their first word;
	 * the heap must answer NULL, stay consistent, and recover. */
	const size_t blk = 1 << 20;
	void *head = 0;
	size_t nblk = 0, limit = ram / blk + 16;
	while (nblk < limit) {
		void **b = kmalloc(blk);
		if (!b)
			break;
		b[0] = head;
		b[blk / sizeof(void *) - 1] = (void *)(uintptr_t)nblk;
		head = b;
		nblk++;
	}
	CHECK(nblk < limit, "%lu MiB allocated from %lu MiB of RAM without NULL",
	      (uint64_t)nblk, (uint64_t)(ram >> 20));
	CHECK(nblk * blk >= ram / 2, "out of memory after only %lu MiB of %lu MiB",
	      (uint64_t)nblk, (uint64_t)(ram >> 20));
	void *small = kmalloc(64);      /* may or may not fit; must not crash */
	kfree(small);
	kspan_check();
	size_t seen = 0, broken = 0;
	while (head) {
		void **b = head;
		head = b[0];
		if ((uintptr_t)b[blk / sizeof(void *) - 1] != nblk - 1 - seen)
			broken++;
		seen++;
		kfree(b);
	}
	CHECK(seen == nblk && broken == 0, "%lu blocks walked of %lu, %lu with a "
	      "wrong tail mark", (uint64_t)seen, (uint64_t)nblk, (uint64_t)broken);
	void *again = kmalloc(blk);
	CHECK(again, "kmalloc(1 MiB) fails after everything was freed");
	kfree(again);
	check_frame_accounting("after exhaustion");
}

static void t_scavenge(void)
{
	/* Free memory went back to the heap; scavenging returns it to the
	 * platform: the hooks must free exactly the frames they unmap. */
	void *p = kmalloc(8 << 20);
	CHECK(p, "kmalloc(8 MiB) returned NULL");
	if (p) {
		fill(p, 8 << 20, 9);
		kfree(p);
	}
	uint64_t before = plat_committed_bytes();
	struct ks_frame_stats f0, f1;
	ks_frame_stats(&f0);
	size_t released = kspan_scavenge();
	ks_frame_stats(&f1);
	uint64_t after = plat_committed_bytes();
	CHECK(released > 0, "kspan_scavenge released nothing with %lu MiB "
	      "committed", before >> 20);
	CHECK(after < before, "committed bytes %lu -> %lu", before, after);
	CHECK(f1.free_frames - f0.free_frames == (before - after) >> 12,
	      "frame map gained %lu free frames, the hooks decommitted %lu",
	      f1.free_frames - f0.free_frames, (before - after) >> 12);
	/* Decommitted memory can be committed again. */
	uint8_t *q = kmalloc(8 << 20);
	CHECK(q, "kmalloc(8 MiB) after scavenge returned NULL");
	if (q) {
		fill(q, 8 << 20, 10);
		CHECK(verify(q, 8 << 20, 10) == (8u << 20), "readback failed");
		kfree(q);
	}
	check_frame_accounting("after scavenge");
}

static struct kspan_class_stats cls0[KSPAN_NUM_CLASSES];
static struct kspan_class_stats cls1[KSPAN_NUM_CLASSES];
static struct kspan_heap_stats hs0;

static void t_balance(void)
{
	struct kspan_heap_stats hs1;
	kspan_drain_cpu();
	kspan_class_stats(cls1);
	kspan_heap_stats(&hs1);
	for (int c = 1; c < KSPAN_NUM_CLASSES; c++)
		CHECK(cls1[c].inuse == cls0[c].inuse, "class %d (%u bytes): %lu "
		      "objects in use before the tests, %lu after", c, cls1[c].size,
		      cls0[c].inuse, cls1[c].inuse);
	CHECK(hs1.large_inuse == hs0.large_inuse, "large objects in use: %lu "
	      "before, %lu after", hs0.large_inuse, hs1.large_inuse);
	CHECK(hs1.large_bytes == hs0.large_bytes, "large bytes in use: %lu "
	      "before, %lu after", hs0.large_bytes, hs1.large_bytes);
	CHECK(hs1.pages_free <= hs1.pages_total, "pages_free %lu > pages_total %lu",
	      hs1.pages_free, hs1.pages_total);
	kspan_check();
	ks_frame_check();       /* recounts the frame map's bitmaps */
	check_frame_accounting("at the end");
}

int smoke_run(void)
{
	kspan_class_stats(cls0);
	kspan_heap_stats(&hs0);
	ks_printf("TAP version 13\n");
	run("kmalloc sizes, alignment, ksize, no overlap", t_sizes_alignment);
	run("kmalloc(0) unique", t_zero_size_unique);
	run("kzalloc zeroes recycled memory", t_kzalloc);
	run("kcalloc zeroes and detects overflow", t_kcalloc);
	run("krealloc keeps contents, grows in place", t_krealloc);
	run("kmalloc_aligned", t_kmalloc_aligned);
	run("kpages_alloc / kpages_free", t_kpages);
	run("20000 mixed objects, free half, reuse", t_many_objects);
	run("large objects up to 16 MiB", t_large_objects);
	run("out of memory: NULL, consistent, recovers", t_out_of_memory);
	run("kspan_scavenge returns frames", t_scavenge);
	run("everything freed: stats balance, kspan_check, ks_frame_check", t_balance);
	ks_printf("1..%d\n", n_run);
	kspan_print_stats();
	ks_printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed;
}
