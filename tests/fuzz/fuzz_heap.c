/*
 * libFuzzer harness for the kspan heap (mm/ + the host platform).
 *
 * The input is a program: a sequence of operations, each an opcode byte
 * followed by its argument bytes (missing bytes read as 0).  The harness
 * runs it against the public API (include/kspan/kmalloc.h) and checks every
 * result against a shadow model of the live objects:
 *
 *   - every allocation that must succeed does (NULL is only accepted while
 *     an OP_OOM commit limit is in force), every request that must fail
 *     (overflowing kcalloc, bad alignment, impossible sizes) returns NULL;
 *   - ksize(p) >= the request (and the exact class size for small kmalloc),
 *     the alignment promised holds, kzalloc/kcalloc memory reads as zero;
 *   - each object is filled with a pattern (tests/common/pattern.h) over
 *     its whole usable size at allocation, and the pattern is verified
 *     before every kfree / kpages_free / krealloc and on OP_KSIZE, so
 *     overlapping objects, lost contents and bad krealloc copies show;
 *   - kmalloc_guarded objects end against their guard page;
 *   - OP_EXHAUST fills the arena with kpages blocks: kpages_alloc must
 *     return NULL only when no free run is big enough (once per input);
 *   - OP_STATS compares kspan_heap_stats / kspan_class_stats with the model
 *     (large objects in use, their bytes, small objects per class);
 *   - kspan_check() runs every CHECK_EVERY operations and at the end.
 *
 * Operations may run on other "CPUs": OP_ON_CPU runs the next operation on
 * one of two helper threads (each has its own CPU slot on the host), handed
 * over synchronously, so frees of objects another CPU owns take the
 * remote-free paths while the run stays deterministic.
 *
 * kspan_init runs once per process (a 256 MiB arena).  Every input ends by
 * freeing all it still holds, draining every CPU and checking that the heap
 * is back where it started: every page free, no large object or small
 * object in use, and after kspan_scavenge no page committed.  So inputs are
 * independent of each other.
 *
 * Built two ways (mk/fuzz.mk): with clang -fsanitize=fuzzer (libFuzzer
 * drives LLVMFuzzerTestOneInput), and as a plain replay program with
 * tests/fuzz/replay.c (any compiler, no libFuzzer).  For reading a crashing
 * input, the environment can set FUZZ_HEAP_TRACE=1 (print every operation)
 * and FUZZ_HEAP_CHECK_EVERY=N (kspan_check every N operations, default 32).
 */
#define _GNU_SOURCE
#include <kspan/kmalloc.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/host/platform.h"
#include "mm/sizeclass.h"
#include "tests/common/pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_BYTES   ((size_t)256 << 20)
#define LIVE_BUDGET   ((size_t)64 << 20)   /* usable bytes held at once */
#define NSLOTS        64
#define NWORKERS      2
#define CHECK_EVERY   32
#define MAX_OPS       2048
#define PAGE          KSPAN_PAGE_SIZE

/* Objects up to FULL_LIMIT bytes are filled and checked whole; bigger ones
 * on a sample: the first HEAD bytes, STRIDE_LEN bytes every STRIDE bytes,
 * and the last TAIL bytes. */
#define FULL_LIMIT    ((size_t)32 << 10)
#define HEAD          ((size_t)4 << 10)
#define TAIL          ((size_t)4 << 10)
#define STRIDE        ((size_t)4096)
#define STRIDE_LEN    ((size_t)64)

enum op {
	OP_MALLOC, OP_ZALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_PAGES,
	OP_FREE, OP_KSIZE, OP_DRAIN, OP_SCAVENGE, OP_CHECK, OP_ON_CPU,
	OP_OOM, OP_BURST, OP_IMPOSSIBLE, OP_STATS, OP_GUARDED, OP_EXHAUST,
	NOPS
};

static const char *const op_names[NOPS] = {
	"malloc", "zalloc", "calloc", "realloc", "aligned", "pages", "free",
	"ksize", "drain", "scavenge", "check", "on_cpu", "oom", "burst",
	"impossible", "stats", "guarded", "exhaust",
};

enum kind { K_NONE = 0, K_KMALLOC, K_PAGES, K_GUARDED };

#define GUARD_MAX   (4096 - 16)   /* largest kmalloc_guarded object */
#define GUARD_SLOTS 64            /* objects the guarded pool holds */

struct obj {
	uint8_t *p;
	size_t req;       /* bytes asked for */
	size_t usable;    /* ksize() at allocation */
	size_t align;     /* alignment promised */
	size_t npages;    /* K_PAGES only */
	uint64_t seed;    /* fill pattern */
	uint8_t kind;
	uint8_t cpu;      /* allocated on (for the trace) */
};

/* ---- harness state --------------------------------------------------- */

static struct obj slots[NSLOTS];
static size_t live_bytes;
static uint64_t next_seed;
static bool oom_active;
static unsigned cur_cpu;          /* 0 = the fuzzing thread */
static unsigned op_index;
static bool trace;
static unsigned check_every = CHECK_EVERY;
static uint64_t start_pages_free, total_pages;

struct worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	void (*fn)(void *);
	void *arg;
	bool busy;
	bool started;
};
static struct worker workers[NWORKERS];

__attribute__((noreturn, format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fuzz_heap: FAILED at operation %u (cpu %u): %s\n",
	        op_index, cur_cpu, buf);
	abort();
}

#define TRACE(...) do { if (trace) fprintf(stderr, __VA_ARGS__); } while (0)

/* ---- input reader ---------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t rd8(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint16_t rd16(struct reader *r)
{
	uint16_t lo = rd8(r);
	return (uint16_t)(lo | (uint16_t)rd8(r) << 8);
}

/* A request size: 3 bytes (selector, 16-bit value), one more for mode 7.
 * Covers 0, tiny sizes, both sides of every class boundary, the
 * small/large boundary, page multiples +-1 up to 4 MiB. */
static size_t read_size(struct reader *r)
{
	uint8_t sel = rd8(r);
	uint16_t v = rd16(r);
	unsigned hi = sel >> 3;
	switch (sel & 7) {
	case 0:
		return v % 257;
	case 1: {
		unsigned c = 1 + v % (KS_NUM_SIZE_CLASSES - 1);
		size_t s = ks_class_to_size[c];
		return s + (hi % 5) - 2;             /* size-2 .. size+2 */
	}
	case 2:
		return v % (KSPAN_MAX_SMALL + 1);
	case 3:
		return KSPAN_MAX_SMALL - 8 + v % 17;
	case 4:
		return KSPAN_MAX_SMALL + 1 + ((size_t)v * 16) % ((size_t)1 << 20);
	case 5:
		return (1 + (size_t)v % 512) * PAGE + (hi % 3) - 1;
	case 6:
		return (size_t)(v % 4097) * 8;
	default:
		return ((size_t)v << 8 | rd8(r)) % (((size_t)4 << 20) + 1);
	}
}

/* ---- fill patterns over the sampled regions ------------------------- */

/* The pattern loops are the harness's own work, not code under test: no
 * coverage instrumentation (it would triple their cost and tell the
 * fuzzer nothing). */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

NO_COVERAGE static void pat_fill(uint8_t *p, size_t from, size_t to, uint64_t seed)
{
	size_t i = from;
	for (; i < to && (i & 7); i++)
		p[i] = ks_pattern_byte(i, seed);
	for (; i + 8 <= to; i += 8) {
		uint64_t v = ks_pattern_word(i >> 3, seed);
		memcpy(p + i, &v, 8);
	}
	for (; i < to; i++)
		p[i] = ks_pattern_byte(i, seed);
}

/* First offset in [from, to) that breaks the pattern, or SIZE_MAX. */
NO_COVERAGE static size_t pat_check(const uint8_t *p, size_t from, size_t to, uint64_t seed)
{
	size_t i = from;
	for (; i < to && (i & 7); i++)
		if (p[i] != ks_pattern_byte(i, seed))
			return i;
	for (; i + 8 <= to; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		if (v != ks_pattern_word(i >> 3, seed))
			for (size_t j = i; j < i + 8; j++)
				if (p[j] != ks_pattern_byte(j, seed))
					return j;
	}
	for (; i < to; i++)
		if (p[i] != ks_pattern_byte(i, seed))
			return i;
	return SIZE_MAX;
}

NO_COVERAGE static size_t zero_check(const uint8_t *p, size_t from, size_t to, uint64_t seed)
{
	(void)seed;
	for (size_t i = from; i < to; i++)
		if (p[i])
			return i;
	return SIZE_MAX;
}

typedef size_t (*region_check_fn)(const uint8_t *, size_t, size_t, uint64_t);

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* Visit the sampled regions of an object of n bytes that lie below limit.
 * fill: pat_fill each; else run check and return the first bad offset. */
static size_t over_regions(uint8_t *p, size_t n, size_t limit, uint64_t seed,
                           region_check_fn check)
{
	size_t bad = SIZE_MAX;
	limit = min_sz(limit, n);
#define REGION(from, to)                                                     \
	do {                                                                 \
		size_t f_ = (from), t_ = min_sz((to), limit);                \
		if (f_ < t_) {                                               \
			if (!check)                                          \
				pat_fill(p, f_, t_, seed);                   \
			else if ((bad = check(p, f_, t_, seed)) != SIZE_MAX) \
				return bad;                                  \
		}                                                            \
	} while (0)
	if (n <= FULL_LIMIT) {
		REGION(0, n);
		return bad;
	}
	REGION(0, HEAD);
	for (size_t k = HEAD; k < n - TAIL && k < limit; k += STRIDE)
		REGION(k, min_sz(k + STRIDE_LEN, n - TAIL));
	REGION(n - TAIL, n);
#undef REGION
	return bad;
}

static void obj_fill(struct obj *o)
{
	over_regions(o->p, o->usable, o->usable, o->seed, NULL);
}

static void obj_verify(const struct obj *o, const char *when)
{
	size_t bad = over_regions(o->p, o->usable, o->usable, o->seed, pat_check);
	if (bad != SIZE_MAX)
		fail("%s: object %p (request %zu, usable %zu, seed %llu, from "
		     "cpu %u) has a wrong byte at offset %zu: 0x%02x, expected "
		     "0x%02x (overlapping objects or a lost write)", when,
		     (void *)o->p, o->req, o->usable,
		     (unsigned long long)o->seed, o->cpu, bad, o->p[bad],
		     ks_pattern_byte(bad, o->seed));
}

/* ---- model bookkeeping ---------------------------------------------- */

static size_t small_class_size(size_t req)
{
	return ks_class_to_size[ks_size_to_class(req)];
}

/* Check a fresh allocation p of req bytes with alignment align and record
 * it in slot s.  exact: ksize must be what kmalloc(req) gives (the class
 * size, or whole pages for a large object); zeroed: the first req bytes
 * must read as zero. */
static void record(unsigned s, uint8_t *p, size_t req, size_t align,
                   uint8_t kind, size_t npages, bool exact, bool zeroed,
                   const char *what)
{
	if ((uintptr_t)p % align)
		fail("%s(%zu) = %p is not aligned to %zu", what, req, (void *)p, align);
	size_t usable = ksize(p);
	if (usable < req || (usable == 0 && kind != K_GUARDED))
		fail("%s(%zu) = %p: ksize %zu is below the request", what, req,
		     (void *)p, usable);
	if (exact) {
		size_t want = req <= KSPAN_MAX_SMALL ? small_class_size(req)
		            : (req + PAGE - 1) / PAGE * PAGE;
		if (usable != want)
			fail("%s(%zu) = %p: ksize %zu, expected %zu", what, req,
			     (void *)p, usable, want);
	} else if (kind == K_PAGES && usable != npages * PAGE) {
		fail("kpages_alloc(%zu) = %p: ksize %zu, expected %zu", npages,
		     (void *)p, usable, npages * PAGE);
	}
	if (zeroed) {
		size_t bad = over_regions(p, req, req, 0, zero_check);
		if (bad != SIZE_MAX)
			fail("%s(%zu) = %p: byte %zu is 0x%02x, not zero", what,
			     req, (void *)p, bad, p[bad]);
	}
	/* No live object may start inside the new one's usable range (the
	 * pattern check catches overlaps too, but this names them). */
	for (unsigned i = 0; i < NSLOTS; i++) {
		const struct obj *o = &slots[i];
		if (o->kind && i != s && o->p < p + usable && p < o->p + o->usable)
			fail("%s(%zu) = %p [usable %zu] overlaps live object %p "
			     "[usable %zu]", what, req, (void *)p, usable,
			     (void *)o->p, o->usable);
	}
	struct obj *o = &slots[s];
	*o = (struct obj){ .p = p, .req = req, .usable = usable, .align = align,
	                   .npages = npages, .seed = ++next_seed, .kind = kind,
	                   .cpu = (uint8_t)cur_cpu };
	live_bytes += usable;
	obj_fill(o);
	TRACE("  -> slot %u = %p usable %zu\n", s, (void *)p, usable);
}

static void release(unsigned s)
{
	struct obj *o = &slots[s];
	if (!o->kind)
		return;
	obj_verify(o, "before free");
	TRACE("  free slot %u %p\n", s, (void *)o->p);
	if (o->kind == K_PAGES)
		kpages_free(o->p, o->npages);
	else
		kfree(o->p);
	live_bytes -= o->usable;
	*o = (struct obj){ 0 };
}

/* Would holding about `bytes` more exceed the budget?  Then the
 * allocation is skipped (the input stays meaningful, memory bounded). */
static bool over_budget(size_t bytes)
{
	return bytes > LIVE_BUDGET || live_bytes + bytes > LIVE_BUDGET;
}

static void expect_null(const void *p, const char *what)
{
	if (p)
		fail("%s returned %p, expected NULL", what, p);
}

/* NULL from an allocation that must succeed. */
static bool null_ok(const void *p, const char *what, size_t req)
{
	if (p)
		return false;
	if (!oom_active)
		fail("%s(%zu) returned NULL with %zu bytes live of a %zu MiB "
		     "arena and no commit limit", what, req, live_bytes,
		     ARENA_BYTES >> 20);
	TRACE("  -> NULL (commit limit)\n");
	return true;
}

static size_t kmalloc_align(size_t req)
{
	if (req > KSPAN_MAX_SMALL)
		return PAGE;
	return req > 8 ? 16 : 8;
}

/* ---- operations ------------------------------------------------------ */

static void op_alloc(struct reader *r, int op)
{
	unsigned s = rd8(r) % NSLOTS;
	size_t req = read_size(r);
	release(s);
	if (over_budget(req))
		return;
	TRACE("%s(%zu)\n", op_names[op], req);
	uint8_t *p = op == OP_ZALLOC ? kzalloc(req) : kmalloc(req);
	if (null_ok(p, op_names[op], req))
		return;
	record(s, p, req, kmalloc_align(req), K_KMALLOC, 0, true,
	       op == OP_ZALLOC, op_names[op]);
}

static void op_calloc(struct reader *r)
{
	unsigned s = rd8(r) % NSLOTS;
	uint8_t mode = rd8(r);
	size_t each = rd16(r);
	release(s);
	if (mode & 0x80) {
		/* n * each overflows size_t: must be NULL. */
		if (each < 2)
			each += 2;
		size_t n = SIZE_MAX / each + 1 + (mode & 0x3f);
		TRACE("calloc(%zu, %zu) overflow\n", n, each);
		expect_null(kcalloc(n, each), "kcalloc with an overflowing product");
		expect_null(kcalloc(each, n), "kcalloc with an overflowing product");
		return;
	}
	size_t n = mode & 0x7f;            /* 0 .. 127, 0 included */
	each %= 32769;
	size_t req = n * each;
	if (over_budget(req))
		return;
	TRACE("calloc(%zu, %zu)\n", n, each);
	uint8_t *p = kcalloc(n, each);
	if (null_ok(p, "kcalloc", req))
		return;
	record(s, p, req, kmalloc_align(req), K_KMALLOC, 0, true, true, "kcalloc");
}

static void op_realloc(struct reader *r)
{
	unsigned s = rd8(r) % NSLOTS;
	size_t req = read_size(r);
	struct obj *o = &slots[s];
	if (over_budget(req))
		return;
	if (!o->kind || o->kind == K_PAGES) {
		/* krealloc(NULL, n) is kmalloc(n); kpages blocks are not
		 * krealloc's to take, so the slot is emptied first. */
		release(s);
		TRACE("realloc(NULL, %zu)\n", req);
		uint8_t *p = krealloc(NULL, req);
		if (null_ok(p, "krealloc(NULL)", req))
			return;
		record(s, p, req, kmalloc_align(req), K_KMALLOC, 0, true, false,
		       "krealloc(NULL)");
		return;
	}
	obj_verify(o, "before krealloc");
	struct obj old = *o;
	TRACE("realloc(slot %u %p usable %zu, %zu)\n", s, (void *)o->p,
	      o->usable, req);
	uint8_t *p = krealloc(o->p, req);
	if (null_ok(p, "krealloc", req)) {
		obj_verify(o, "after a failed krealloc");
		return;
	}
	/* Contents up to the smaller of the two requests survive. */
	size_t keep = min_sz(old.req, req);
	size_t bad = over_regions(p, old.usable, keep, old.seed, pat_check);
	if (bad != SIZE_MAX)
		fail("krealloc(%p [request %zu usable %zu], %zu) = %p lost byte "
		     "%zu: 0x%02x, expected 0x%02x", (void *)old.p, old.req,
		     old.usable, req, (void *)p, bad, p[bad],
		     ks_pattern_byte(bad, old.seed));
	live_bytes -= old.usable;
	*o = (struct obj){ 0 };
	/* The result is an ordinary kmalloc object (krealloc(p, 0) gives a
	 * minimum one); in place, it keeps its old usable size. */
	if ((uintptr_t)p % kmalloc_align(req))
		fail("krealloc(%zu) = %p is misaligned", req, (void *)p);
	bool moved = p != old.p;
	record(s, p, req, moved ? kmalloc_align(req) : old.align,
	       moved ? K_KMALLOC : old.kind, 0, moved, false, "krealloc");
}

static void op_aligned(struct reader *r)
{
	unsigned s = rd8(r) % NSLOTS;
	size_t req = read_size(r);
	uint8_t a = rd8(r);
	unsigned e = a % 21;               /* 1 B .. 1 MiB */
	size_t align = (size_t)1 << e;
	release(s);
	if (a & 0x80) {
		/* Not a power of two (or 0): must be NULL. */
		size_t badalign = (a & 0x40) ? 0 : align * 3 + (e == 0 ? 2 : 0);
		TRACE("aligned(%zu, %zu) invalid\n", req, badalign);
		expect_null(kmalloc_aligned(req, badalign),
		            "kmalloc_aligned with an invalid alignment");
		return;
	}
	if (over_budget(req + align))
		return;
	TRACE("aligned(%zu, %zu)\n", req, align);
	uint8_t *p = kmalloc_aligned(req, align);
	if (null_ok(p, "kmalloc_aligned", req))
		return;
	record(s, p, req, align, K_KMALLOC, 0, false, false, "kmalloc_aligned");
}

static void op_pages(struct reader *r)
{
	unsigned s = rd8(r) % NSLOTS;
	size_t n = 1 + rd16(r) % 512;      /* up to 4 MiB */
	release(s);
	if (over_budget(n * PAGE))
		return;
	TRACE("pages(%zu)\n", n);
	uint8_t *p = kpages_alloc(n);
	if (null_ok(p, "kpages_alloc", n * PAGE))
		return;
	record(s, p, n * PAGE, PAGE, K_PAGES, n, false, false, "kpages_alloc");
}

/* kmalloc_guarded: objects up to GUARD_MAX bytes, right-aligned against
 * the guard page, 16-byte aligned; NULL when the pool is full. */
static void op_guarded(struct reader *r)
{
	unsigned s = rd8(r) % NSLOTS;
	size_t req = rd16(r) % (GUARD_MAX + 64);
	release(s);
	TRACE("guarded(%zu)\n", req);
	uint8_t *p = kmalloc_guarded(req);
	if (req > GUARD_MAX) {
		expect_null(p, "kmalloc_guarded(more than a page less 16)");
		return;
	}
	unsigned live = 0;
	for (unsigned i = 0; i < NSLOTS; i++)
		live += slots[i].kind == K_GUARDED;
	if (!p && live >= GUARD_SLOTS)
		return;
	if (null_ok(p, "kmalloc_guarded", req))
		return;
	size_t end = ((uintptr_t)p + req) % 4096;
	if (req && end != 0 && end <= 4096 - 16)
		fail("kmalloc_guarded(%zu) = %p: the object ends %zu bytes before "
		     "its page does (an overflow would not reach the guard)",
		     req, (void *)p, 4096 - end);
	record(s, p, req, 16, K_GUARDED, 0, false, false, "kmalloc_guarded");
	if (slots[s].usable != req)
		fail("kmalloc_guarded(%zu) = %p: ksize %zu", req, (void *)p,
		     slots[s].usable);
}

/* Fill the whole arena with kpages blocks of n pages until kpages_alloc
 * says NULL; then no free run of n pages may be left (unless a commit
 * limit is what failed).  Every block is marked and checked, then freed. */
static bool exhausted;   /* once per input: it costs ~50 ms */

static void op_exhaust(struct reader *r)
{
	uint8_t key = rd8(r);
	size_t n = 16 + rd16(r) % 4081;             /* 128 KiB .. 32 MiB */
	/* Walking the whole arena is slow (every page is committed and
	 * decommitted): only with a key byte >= 0xf0, once per input, so that
	 * random inputs seldom do it. */
	if (key < 0xf0 || exhausted)
		return;
	exhausted = true;
	static uint64_t *blocks[ARENA_BYTES / (16 * PAGE) + 16];
	const size_t cap = sizeof(blocks) / sizeof(blocks[0]);
	size_t nb = 0;
	TRACE("exhaust(%zu pages per block)\n", n);
	for (;;) {
		uint64_t *p = kpages_alloc(n);
		if (!p)
			break;
		if (nb == cap)
			fail("kpages_alloc(%zu) returned %zu blocks, more than the "
			     "arena holds", n, nb);
		if ((uintptr_t)p % PAGE)
			fail("kpages_alloc(%zu) = %p is not page aligned", n, (void *)p);
		p[0] = 0x6578686175737400ull + nb;  /* "exhaust" + index */
		blocks[nb++] = p;
	}
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	if (!oom_active && hs.largest_free_run >= n)
		fail("kpages_alloc(%zu) returned NULL after %zu blocks, but the "
		     "largest free run is %llu pages", n, nb,
		     (unsigned long long)hs.largest_free_run);
	TRACE("  -> %zu blocks, largest free run %llu\n", nb,
	      (unsigned long long)hs.largest_free_run);
	kspan_check();
	for (size_t i = 0; i < nb; i++) {
		if (blocks[i][0] != 0x6578686175737400ull + i)
			fail("block %zu of kpages_alloc(%zu) at %p was overwritten "
			     "(overlapping blocks)", i, n, (void *)blocks[i]);
		kpages_free(blocks[i], n);
	}
}

static void op_ksize(struct reader *r)
{
	unsigned s = rd8(r) % NSLOTS;
	const struct obj *o = &slots[s];
	if (!o->kind)
		return;
	TRACE("ksize(slot %u %p)\n", s, (void *)o->p);
	size_t n = ksize(o->p);
	if (n != o->usable)
		fail("ksize(%p) = %zu, it was %zu at allocation", (void *)o->p,
		     n, o->usable);
	obj_verify(o, "ksize");
}

static void op_burst(struct reader *r)
{
	unsigned s = rd8(r) % NSLOTS;
	size_t req = read_size(r);
	unsigned count = 1 + rd8(r) % 32;
	uint8_t pattern = rd8(r);
	if (req > 64 << 10)
		req %= 64 << 10;           /* many objects: keep them small */
	TRACE("burst(%u x %zu)\n", count, req);
	for (unsigned i = 0; i < count; i++) {
		unsigned k = (s + i) % NSLOTS;
		release(k);
		if (over_budget(req))
			break;
		uint8_t *p = kmalloc(req);
		if (null_ok(p, "kmalloc (burst)", req))
			break;
		record(k, p, req, kmalloc_align(req), K_KMALLOC, 0, true, false,
		       "kmalloc");
	}
	/* Free a subset, leaving holes in the spans. */
	for (unsigned i = 0; i < count; i++)
		if ((pattern >> (i % 8)) & 1)
			release((s + i) % NSLOTS);
}

static void op_impossible(struct reader *r)
{
	uint8_t sel = rd8(r);
	TRACE("impossible(%u)\n", sel % 8);
	switch (sel % 8) {
	case 0:
		expect_null(kmalloc(SIZE_MAX - (sel >> 3)), "kmalloc(SIZE_MAX - k)");
		break;
	case 1:
		expect_null(kmalloc(ARENA_BYTES + 1 + ((size_t)sel << 20)),
		            "kmalloc(more than the arena)");
		break;
	case 2:
		expect_null(kzalloc(SIZE_MAX - PAGE + 1 + (sel >> 3)),
		            "kzalloc(SIZE_MAX - page + k)");
		break;
	case 3:
		expect_null(kpages_alloc(0), "kpages_alloc(0)");
		expect_null(kpages_alloc(SIZE_MAX / PAGE + 1 - (sel >> 3)),
		            "kpages_alloc(huge)");
		break;
	case 4:
		expect_null(kpages_alloc(ARENA_BYTES / PAGE + 1 + (sel >> 3)),
		            "kpages_alloc(more than the arena)");
		break;
	case 5:
		expect_null(kmalloc_aligned(64, (size_t)1 << (40 + (sel >> 3) % 24)),
		            "kmalloc_aligned(64, 2^40+)");
		break;
	case 6:
		expect_null(kmalloc_aligned(SIZE_MAX - (sel >> 3), 4096),
		            "kmalloc_aligned(SIZE_MAX - k, 4096)");
		break;
	default: {
		/* krealloc to an impossible size fails and keeps the object. */
		unsigned s = (sel >> 3) % NSLOTS;
		struct obj *o = &slots[s];
		if (!o->kind || o->kind == K_PAGES)
			break;
		expect_null(krealloc(o->p, SIZE_MAX - 16), "krealloc(p, SIZE_MAX - 16)");
		obj_verify(o, "after krealloc to an impossible size");
		break;
	}
	}
}

/* Drain every CPU that has run an operation: this thread, then the
 * helpers (called on this thread, with the helpers idle). */
static void run_on_worker(unsigned w, void (*fn)(void *), void *arg);

static void drain_fn(void *arg)
{
	(void)arg;
	kspan_drain_cpu();
}

static void drain_all(void)
{
	kspan_drain_cpu();
	for (unsigned w = 0; w < NWORKERS; w++)
		if (workers[w].started)
			run_on_worker(w, drain_fn, NULL);
}

static void op_stats(void)
{
	TRACE("stats\n");
	drain_all();
	struct kspan_heap_stats hs;
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_heap_stats(&hs);
	kspan_class_stats(cs);
	uint64_t large = 0, large_bytes = 0, small[KSPAN_NUM_CLASSES] = { 0 };
	size_t heap_bytes = 0;
	for (unsigned i = 0; i < NSLOTS; i++) {
		const struct obj *o = &slots[i];
		if (!o->kind || o->kind == K_GUARDED)
			continue;    /* guarded objects live outside the heap */
		heap_bytes += o->usable;
		if (o->kind == K_PAGES || o->usable > KSPAN_MAX_SMALL) {
			large++;
			large_bytes += o->usable;
		} else {
			small[ks_size_to_class(o->usable)]++;
		}
	}
	if (hs.large_inuse != large || hs.large_bytes != large_bytes)
		fail("heap stats: %llu large objects, %llu bytes; the model holds "
		     "%llu, %llu bytes", (unsigned long long)hs.large_inuse,
		     (unsigned long long)hs.large_bytes, (unsigned long long)large,
		     (unsigned long long)large_bytes);
	for (unsigned c = 1; c < KSPAN_NUM_CLASSES; c++)
		if (cs[c].inuse != small[c])
			fail("class %u (%u B): stats say %llu in use, the model "
			     "holds %llu", c, (unsigned)cs[c].size,
			     (unsigned long long)cs[c].inuse,
			     (unsigned long long)small[c]);
	if (hs.pages_free > hs.pages_total || hs.pages_committed > hs.pages_total)
		fail("heap stats: %llu free / %llu committed of %llu pages",
		     (unsigned long long)hs.pages_free,
		     (unsigned long long)hs.pages_committed,
		     (unsigned long long)hs.pages_total);
	if (hs.pages_total - hs.pages_free < (heap_bytes + PAGE - 1) / PAGE)
		fail("heap stats: %llu pages in use but %zu bytes are live",
		     (unsigned long long)(hs.pages_total - hs.pages_free),
		     heap_bytes);
}

static void op_oom(struct reader *r)
{
	uint8_t a = rd8(r);
	if (a == 0) {
		TRACE("oom off\n");
		ks_host_set_commit_limit(0);
		oom_active = false;
		return;
	}
	size_t limit = ks_host_committed() + (size_t)(a - 1) * (64 << 10);
	TRACE("oom limit %zu (+%u x 64 KiB)\n", limit, a - 1);
	/* 0 would mean "no limit": commit nothing more instead. */
	ks_host_set_commit_limit(limit ? limit : 1);
	oom_active = true;
}

/* ---- helper CPUs ----------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->busy)
			pthread_cond_wait(&w->cv, &w->lock);
		w->fn(w->arg);
		w->busy = false;
		pthread_cond_broadcast(&w->cv);
	}
	return NULL;
}

static void run_on_worker(unsigned i, void (*fn)(void *), void *arg)
{
	struct worker *w = &workers[i];
	if (!w->started) {
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cv, NULL);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			fail("pthread_create failed");
		w->started = true;
	}
	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->arg = arg;
	w->busy = true;
	pthread_cond_broadcast(&w->cv);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* ---- the interpreter ------------------------------------------------- */

static void run_op(struct reader *r);

struct on_cpu_arg {
	struct reader *r;
	unsigned cpu;
};

static void on_cpu_fn(void *arg)
{
	struct on_cpu_arg *a = arg;
	cur_cpu = a->cpu;
	run_op(a->r);
	cur_cpu = 0;
}

static void run_op(struct reader *r)
{
	int op = rd8(r) % NOPS;
	if (trace && op != OP_ON_CPU)
		fprintf(stderr, "#%u cpu%u ", op_index, cur_cpu);
	switch (op) {
	case OP_MALLOC:
	case OP_ZALLOC:
		op_alloc(r, op);
		break;
	case OP_CALLOC:
		op_calloc(r);
		break;
	case OP_REALLOC:
		op_realloc(r);
		break;
	case OP_ALIGNED:
		op_aligned(r);
		break;
	case OP_PAGES:
		op_pages(r);
		break;
	case OP_FREE: {
		unsigned s = rd8(r) % NSLOTS;
		TRACE("free(slot %u)\n", s);
		release(s);
		break;
	}
	case OP_KSIZE:
		op_ksize(r);
		break;
	case OP_DRAIN:
		TRACE("drain\n");
		kspan_drain_cpu();
		break;
	case OP_SCAVENGE:
		TRACE("scavenge\n");
		kspan_scavenge();
		break;
	case OP_CHECK:
		TRACE("check\n");
		kspan_check();
		break;
	case OP_ON_CPU: {
		unsigned w = rd8(r) % NWORKERS;
		if (cur_cpu != 0 || !r->n)
			break;             /* no nesting */
		struct on_cpu_arg a = { r, w + 1 };
		run_on_worker(w, on_cpu_fn, &a);
		break;
	}
	case OP_OOM:
		op_oom(r);
		break;
	case OP_BURST:
		op_burst(r);
		break;
	case OP_IMPOSSIBLE:
		op_impossible(r);
		break;
	case OP_STATS:
		if (cur_cpu == 0)
			op_stats();
		break;
	case OP_GUARDED:
		op_guarded(r);
		break;
	case OP_EXHAUST:
		op_exhaust(r);
		break;
	}
}

static void init_once(void)
{
	static bool done;
	if (done)
		return;
	const char *t = getenv("FUZZ_HEAP_TRACE");
	trace = t && *t && *t != '0';
	const char *c = getenv("FUZZ_HEAP_CHECK_EVERY");
	if (c && atoi(c) > 0)
		check_every = (unsigned)atoi(c);
	/* A fixed seed: the same inputs in the same order replay exactly. */
	struct kspan_config cfg = { .arena_bytes = ARENA_BYTES,
	                            .scavenge_threshold = 8u << 20,
	                            .seed = 0x6b7370616e };
	if (kspan_init(&cfg) != 0) {
		fprintf(stderr, "fuzz_heap: kspan_init failed\n");
		abort();
	}
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	start_pages_free = hs.pages_free;
	total_pages = hs.pages_total;
	done = true;
}

/* Free everything, drain every CPU and check that the heap is back where
 * it started. */
static void finish_input(void)
{
	ks_host_set_commit_limit(0);
	oom_active = false;
	for (unsigned s = 0; s < NSLOTS; s++)
		release(s);
	if (live_bytes != 0)
		fail("model: %zu bytes live after freeing every slot", live_bytes);
	drain_all();
	kspan_check();
	struct kspan_heap_stats hs;
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_heap_stats(&hs);
	kspan_class_stats(cs);
	if (hs.pages_free != start_pages_free || hs.pages_free != total_pages)
		fail("end of input: %llu free pages, %llu at the start, %llu in "
		     "the arena (pages leaked)", (unsigned long long)hs.pages_free,
		     (unsigned long long)start_pages_free,
		     (unsigned long long)total_pages);
	if (hs.large_inuse || hs.large_bytes)
		fail("end of input: %llu large objects (%llu bytes) still in use",
		     (unsigned long long)hs.large_inuse,
		     (unsigned long long)hs.large_bytes);
	for (unsigned c = 1; c < KSPAN_NUM_CLASSES; c++)
		if (cs[c].inuse || cs[c].spans)
			fail("end of input: class %u has %llu objects in use in %llu "
			     "spans", c, (unsigned long long)cs[c].inuse,
			     (unsigned long long)cs[c].spans);
	/* Give every free page back: the next input starts from a heap with
	 * nothing committed, whatever this one did. */
	kspan_scavenge();
	kspan_heap_stats(&hs);
	if (hs.pages_committed != 0)
		fail("end of input: %llu pages still committed after kspan_scavenge "
		     "with nothing allocated", (unsigned long long)hs.pages_committed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	struct reader r = { data, size };
	op_index = 0;
	exhausted = false;
	while (r.n && op_index < MAX_OPS) {
		run_op(&r);
		op_index++;
		if (op_index % check_every == 0)
			kspan_check();
	}
	finish_input();
	return 0;
}
