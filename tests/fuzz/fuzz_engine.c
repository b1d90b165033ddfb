/*
 * The operation interpreter shared by the kspan fuzz harnesses; see
 * tests/fuzz/fuzz_engine.h and tests/fuzz/README.md.
 *
 * What is checked, for every operation:
 *   - every allocation that must succeed does: NULL is accepted only under
 *     an OP_OOM commit limit, when the guarded pool is full, or when no free
 *     run of the heap is big enough (kspan_heap_stats: largest_free_run);
 *     every request that must fail (overflowing kcalloc, bad alignment,
 *     impossible sizes) returns NULL;
 *   - ksize(p) >= the request: the exact class size for small kmalloc and
 *     whole pages for large objects (the request itself with the debug
 *     heap); the alignment promised; zeroes from kzalloc/kcalloc;
 *   - no live object of the context overlaps the new one; each object is
 *     filled with a pattern (tests/common/pattern.h) and the pattern is
 *     verified before every kfree / kpages_free / krealloc and on OP_KSIZE,
 *     so lost contents and bad krealloc copies show.  Objects up to
 *     FULL_LIMIT bytes are covered whole, bigger ones on a fixed number of
 *     samples (head, tail, FZ_SAMPLES stripes between), so that the work of
 *     an operation does not grow with the size it asks for;
 *   - kmalloc_guarded objects end against their guard page;
 *   - OP_STATS: kspan_heap_stats / kspan_class_stats against the model.
 *
 * Every input starts from the same heap: fz_init grows the heap over the
 * whole arena once and gives it back (so the layout never depends on how
 * far earlier inputs grew it) and warms the span-struct allocator; every
 * input ends with nothing allocated, every CPU drained, every page free in
 * one span, and either every page committed (a warm heap: fuzz_heap,
 * fuzz_debugheap, fuzz_smp; re-committed if the input scavenged) or none
 * (fuzz_exhaust, after kspan_scavenge).  With the allocator's seed fixed,
 * an input does the same thing in a fresh process as after a million
 * others (tests/fuzz/determinism.sh checks it).
 */
#define _GNU_SOURCE
#include "tests/fuzz/fuzz_engine.h"

#include <kspan/kmalloc.h>
#include <kspan/platform.h>
#include <kspan/slab.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/host/platform.h"
#include "tests/common/pattern.h"

#define PAGE        KSPAN_PAGE_SIZE
#define GUARD_MAX   (4096 - 16)   /* largest kmalloc_guarded object */
#define GUARD_SLOTS 64            /* objects the guarded pool holds */
#define SEED        0x6b7370616eull
#define DEBUG_RZ    24            /* debug heap: red zone + trailer per block */

/* Objects up to FULL_LIMIT bytes are filled and checked whole; bigger ones
 * on HEAD bytes, TAIL bytes and at most FZ_SAMPLES stripes of STRIPE bytes
 * between, at least MIN_STRIDE apart. */
#define FULL_LIMIT  ((size_t)2 << 10)
#define HEAD        ((size_t)512)
#define TAIL        ((size_t)512)
#define STRIPE      ((size_t)32)
#define FZ_SAMPLES  6
#define MIN_STRIDE  ((size_t)1024)

const struct fz_config *fz_cfg;
bool fz_trace;

static const char *const op_names[FZ_NOPS] = {
	"malloc", "zalloc", "calloc", "realloc", "aligned", "pages", "free",
	"ksize", "drain", "scavenge", "check", "on_cpu", "oom", "burst",
	"impossible", "stats", "guarded", "exhaust", "sample", "pass",
	"kmem_cache_alloc", "kmem_cache_shrink", "cache_cycle",
};

/* The size classes, from kspan_class_stats (class 0: large objects). */
static uint32_t class_size[KSPAN_NUM_CLASSES];
static uint32_t class_npages[KSPAN_NUM_CLASSES];
static uint8_t class_of8[KSPAN_MAX_SMALL / 8 + 1];   /* by (req + 7) / 8 */
static size_t max_class_npages;

static uintptr_t arena_base;        /* the heap's first page */

/* The engine's object caches, made once (fz_init) and kept: an exact small
 * size, one with a constructor (its objects' first word must be the
 * constructor's mark whenever one is handed out: queue tags and links
 * must not destroy the constructed state), one with poison and red zones,
 * one bigger and cache-line aligned. */
#define CTOR_MARK 0x6374c0de5eed0b1full
static struct kmem_cache *caches[FZ_NCACHES];
static const size_t cache_size[FZ_NCACHES] = { 24, 200, 616, 3000 };
static const size_t cache_align[FZ_NCACHES] = { 8, 8, 8, 64 };

static void fz_ctor(void *obj)
{
	*(uint64_t *)obj = CTOR_MARK;
}
static uint64_t heap_pages;         /* kspan_heap_stats: pages_total */
static bool oom_active;
static bool exhausted;              /* OP_EXHAUST: once per input */
static unsigned checks_run;         /* OP_CHECK / OP_SCAVENGE this input */
static bool scavenged;              /* warm heap: scavenged this input */
static unsigned check_every;
static unsigned sample_every;       /* OP_SAMPLE setting (debug heap) */
static unsigned cpus_dirty;         /* bit cpu: ran an operation since it
                                       was last drained */
static unsigned pooled_live;        /* objects in the guarded pool */
static bool mix_addrs = true;       /* addresses go into the digest */
static bool sampled_input;          /* OP_SAMPLE ran in this input */
/* Set around record() for kmalloc_aligned with an alignment above 16:
 * which block the heap chose depends on the path taken. */
static __thread bool raw_unknown;

#define TRACE(...) do { if (fz_trace) fprintf(stderr, __VA_ARGS__); } while (0)

void fz_fail(const struct fz_ctx *c, const char *fmt, ...)
{
	char buf[640];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (c)
		fprintf(stderr, "%s: FAILED at operation %u of thread %u (cpu %u): %s\n",
		        fz_cfg->name, c->op_index, c->id, c->cpu, buf);
	else
		fprintf(stderr, "%s: FAILED: %s\n", fz_cfg->name, buf);
	abort();
}

void fz_mix(struct fz_ctx *c, uint64_t v)
{
	uint64_t x = (c->digest ^ v) * 0x9E3779B97F4A7C15ull;
	c->digest = x ^ (x >> 31);
}

void fz_print_digest(uint64_t d)
{
	/* Contexts that ran at once: not a replayable digest. */
	if (!mix_addrs) {
		d = 0;
	}
	static int on = -1;
	if (on < 0) {
		const char *e = getenv("FUZZ_DIGEST");
		on = e && *e == '1';
	}
	if (on && mix_addrs)
		fprintf(stderr, "DIGEST %s %016llx\n", fz_cfg->name, (unsigned long long)d);
	else if (on)
		fprintf(stderr, "DIGEST %s -\n", fz_cfg->name);
}

/* ---- input reader ---------------------------------------------------- */

uint8_t fz_rd8(struct fz_reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint16_t rd16(struct fz_reader *r)
{
	uint16_t lo = fz_rd8(r);
	return (uint16_t)(lo | (uint16_t)fz_rd8(r) << 8);
}

static unsigned rd_slot(struct fz_reader *r)
{
	return fz_rd8(r) % fz_cfg->nslots;
}

/* A request size: 3 bytes (selector, 16-bit value), one more for mode 7.
 * Covers 0, tiny sizes, both sides of every class boundary, the
 * small/large boundary, page multiples +-1 up to 4 MiB (folded to at most
 * cfg->large_cap). */
static size_t read_size_raw(struct fz_reader *r);

static size_t fold_large(size_t req)
{
	size_t cap = fz_cfg->large_cap;
	if (!cap || req <= cap)
		return req;
	return KSPAN_MAX_SMALL + 1 + req % (cap - KSPAN_MAX_SMALL);
}

static size_t read_size(struct fz_reader *r)
{
	return fold_large(read_size_raw(r));
}

static size_t read_size_raw(struct fz_reader *r)
{
	uint8_t sel = fz_rd8(r);
	uint16_t v = rd16(r);
	unsigned hi = sel >> 3;
	switch (sel & 7) {
	case 0:
		return v % 257;
	case 1: {
		unsigned c = 1 + v % (KSPAN_NUM_CLASSES - 1);
		return class_size[c] + (hi % 5) - 2;   /* size-2 .. size+2 */
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
		return ((size_t)v << 8 | fz_rd8(r)) % (((size_t)4 << 20) + 1);
	}
}

/* ---- size classes ------------------------------------------------------ */

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static unsigned size_class(size_t req)
{
	return class_of8[(req + 7) / 8];
}

static size_t small_class_size(size_t req)
{
	return class_size[size_class(req)];
}

/* The size of the block the heap allocates for a kmalloc-family request
 * of req bytes (the debug heap adds its red zone and trailer). */
static size_t raw_size(size_t req)
{
	return fz_cfg->debug_heap ? (req > SIZE_MAX - DEBUG_RZ ? SIZE_MAX : req + DEBUG_RZ)
	                          : req;
}

static void init_classes(void)
{
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_class_stats(cs);
	for (unsigned c = 0; c < KSPAN_NUM_CLASSES; c++) {
		class_size[c] = cs[c].size;
		class_npages[c] = cs[c].npages;
		max_class_npages = max_sz(max_class_npages, cs[c].npages);
		if (c > 1 && cs[c].size <= cs[c - 1].size)
			fz_fail(NULL, "class %u (%u B) is not bigger than class %u",
			        c, cs[c].size, c - 1);
	}
	if (class_size[KSPAN_NUM_CLASSES - 1] != KSPAN_MAX_SMALL || class_size[1] < 8 ||
	    class_size[1] % 8)
		fz_fail(NULL, "unexpected class table (%u .. %u B)", class_size[1],
		        class_size[KSPAN_NUM_CLASSES - 1]);
	unsigned c = 1;
	for (size_t i = 0; i <= KSPAN_MAX_SMALL / 8; i++) {
		while (class_size[c] < i * 8)
			c++;
		class_of8[i] = (uint8_t)c;
	}
}

/* ---- fill patterns over the sampled regions ------------------------- */

/* The pattern loops are the harness's own work, not code under test: no
 * coverage instrumentation (it would triple their cost and tell the
 * fuzzer nothing), and no ASan checks either: they only touch kspan's
 * arena, which ASan does not track. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#define NO_COVERAGE_ASAN __attribute__((no_sanitize("coverage", "address")))
#else
#define NO_COVERAGE
#define NO_COVERAGE_ASAN __attribute__((no_sanitize_address))
#endif

/* tests/common/pattern.h's ks_pattern_word, as a macro: an inline function
 * would not be inlined into the functions below (other attributes). */
#define PAT_WORD(w, seed) ({ uint64_t x_ = ((uint64_t)(w) + (seed)) * 0x9E3779B97F4A7C15ull; \
                             x_ ^ (x_ >> 29); })
#define PAT_BYTE(i, seed) ((uint8_t)(PAT_WORD((i) >> 3, seed) >> (8 * ((i) & 7))))

NO_COVERAGE_ASAN __attribute__((noinline)) static void pat_fill(uint8_t *p, size_t from, size_t to, uint64_t seed)
{
	size_t i = from;
	for (; i < to && (i & 7); i++)
		p[i] = PAT_BYTE(i, seed);
	for (; i + 8 <= to; i += 8) {
		uint64_t v = PAT_WORD(i >> 3, seed);
		memcpy(p + i, &v, 8);
	}
	for (; i < to; i++)
		p[i] = PAT_BYTE(i, seed);
}

/* First offset in [from, to) that breaks the pattern, or SIZE_MAX. */
NO_COVERAGE_ASAN __attribute__((noinline)) static size_t pat_check(const uint8_t *p, size_t from, size_t to, uint64_t seed)
{
	size_t i = from;
	for (; i < to && (i & 7); i++)
		if (p[i] != PAT_BYTE(i, seed))
			return i;
	for (; i + 8 <= to; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		if (v != PAT_WORD(i >> 3, seed))
			for (size_t j = i; j < i + 8; j++)
				if (p[j] != PAT_BYTE(j, seed))
					return j;
	}
	for (; i < to; i++)
		if (p[i] != PAT_BYTE(i, seed))
			return i;
	return SIZE_MAX;
}

NO_COVERAGE_ASAN __attribute__((noinline)) static size_t zero_check(const uint8_t *p, size_t from, size_t to, uint64_t seed)
{
	(void)seed;
	for (size_t i = from; i < to; i++)
		if (p[i])
			return i;
	return SIZE_MAX;
}

typedef size_t (*region_check_fn)(const uint8_t *, size_t, size_t, uint64_t);


/* Visit the sampled regions of an object of n bytes that lie below limit.
 * fill: pat_fill each; else run check and return the first bad offset. */
NO_COVERAGE static size_t over_regions(uint8_t *p, size_t n, size_t limit, uint64_t seed,
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
	/* Stripes spread over the middle, at an offset that depends on the
	 * object's seed (different objects probe different bytes). */
	size_t stride = max_sz(MIN_STRIDE, ((n - HEAD - TAIL) / FZ_SAMPLES) & ~(size_t)7);
	size_t k = HEAD + (size_t)(seed % (stride / 8)) * 8;
	for (; k < n - TAIL && k < limit; k += stride)
		REGION(k, min_sz(k + STRIPE, n - TAIL));
	REGION(n - TAIL, n);
#undef REGION
	return bad;
}

static void obj_fill(struct fz_obj *o)
{
	over_regions(o->p, o->usable, o->usable, o->seed, NULL);
}

static void obj_verify(const struct fz_ctx *c, const struct fz_obj *o, const char *when)
{
	size_t bad = over_regions(o->p, o->usable, o->usable, o->seed, pat_check);
	if (bad != SIZE_MAX)
		fz_fail(c, "%s: object %p (request %zu, usable %zu, seed %llx, from "
		        "thread %u cpu %u) has a wrong byte at offset %zu: 0x%02x, "
		        "expected 0x%02x (overlapping objects or a lost write)", when,
		        (void *)o->p, o->req, o->usable, (unsigned long long)o->seed,
		        o->ctx, o->cpu, bad, o->p[bad], ks_pattern_byte(bad, o->seed));
}

/* ---- model bookkeeping ---------------------------------------------- */

static uint64_t addr_key(const uint8_t *p, bool pooled)
{
	/* Heap addresses relative to the arena; guarded ones within their
	 * page (the pool's slots rotate across inputs). */
	return pooled ? (uintptr_t)p % 4096 : (uintptr_t)p - arena_base;
}

static bool in_pool(const void *p)
{
	char buf[8];
	return kspan_guard_describe((uintptr_t)p, buf, sizeof(buf)) == 1;
}

NO_COVERAGE __attribute__((noinline)) static const struct fz_obj *find_overlap(const struct fz_ctx *c, unsigned s,
                                                   const uint8_t *p, size_t usable)
{
	for (unsigned i = 0; i < fz_cfg->nslots; i++) {
		const struct fz_obj *o = &c->slots[i];
		if (o->kind && i != s &&
		    (o->p == p || (o->p < p + usable && p < o->p + o->usable)))
			return o;   /* the same address (size 0 too), or overlapping */
	}
	return NULL;
}

/* Check a fresh allocation p of req bytes with alignment align and record
 * it in slot s.  exact: ksize must be what kmalloc(req) gives (the class
 * size, or whole pages for a large object; req with the debug heap);
 * zeroed: the first req bytes must read as zero. */
static void record(struct fz_ctx *c, unsigned s, uint8_t *p, size_t req, size_t align,
                   uint8_t kind, size_t npages, bool exact, bool zeroed,
                   const char *what)
{
	bool pooled = kind == K_GUARDED || (sample_every && in_pool(p));
	/* A guarded kmalloc has kmalloc's alignment, never a large object's
	 * whole pages (it ends at its guard page). */
	if (pooled && kind == K_KMALLOC && align > 16)
		align = 16;
	if ((uintptr_t)p % align)
		fz_fail(c, "%s(%zu) = %p is not aligned to %zu", what, req, (void *)p, align);
	size_t usable;
	usable = ksize(p);
	/* kmalloc(0) gives a minimum object; with the debug heap (and in the
	 * guarded pool) ksize is the request, 0. */
	if (usable < req || (usable == 0 && kind != K_GUARDED && !fz_cfg->debug_heap))
		fz_fail(c, "%s(%zu) = %p: ksize %zu is below the request", what, req,
		        (void *)p, usable);
	if (exact) {
		size_t want = fz_cfg->debug_heap || pooled ? req
		            : req <= KSPAN_MAX_SMALL ? small_class_size(req)
		            : (req + PAGE - 1) / PAGE * PAGE;
		if (usable != want)
			fz_fail(c, "%s(%zu) = %p: ksize %zu, expected %zu", what, req,
			        (void *)p, usable, want);
	} else if (kind == K_PAGES && usable != npages * PAGE) {
		fz_fail(c, "kpages_alloc(%zu) = %p: ksize %zu, expected %zu", npages,
		        (void *)p, usable, npages * PAGE);
	}
	if (fz_cfg->debug_heap && kind == K_KMALLOC && !pooled && !kspan_alloc_site(p))
		fz_fail(c, "%s(%zu) = %p: the debug heap has no call site for it",
		        what, req, (void *)p);
	if (zeroed) {
		size_t bad = over_regions(p, req, req, 0, zero_check);
		if (bad != SIZE_MAX)
			fz_fail(c, "%s(%zu) = %p: byte %zu is 0x%02x, not zero", what,
			        req, (void *)p, bad, p[bad]);
	}
	/* No live object may overlap the new one's usable range (the pattern
	 * check catches overlaps too, but this names them). */
	const struct fz_obj *ov = find_overlap(c, s, p, usable);
	if (ov)
		fz_fail(c, "%s(%zu) = %p [usable %zu] overlaps live object %p "
		        "[usable %zu]", what, req, (void *)p, usable,
		        (void *)ov->p, ov->usable);
	struct fz_obj *o = &c->slots[s];
	*o = (struct fz_obj){ .p = p, .req = req, .usable = usable, .align = align,
	                      .npages = npages,
	                      .seed = ((uint64_t)c->id << 56) | ++c->next_seed,
	                      .kind = kind, .cpu = (uint8_t)c->cpu,
	                      .ctx = (uint8_t)c->id, .pooled = pooled,
	                      .raw = kind == K_KMALLOC && !raw_unknown ? raw_size(req) : 0 };
	c->live_bytes += usable;
	if (pooled)
		__atomic_add_fetch(&pooled_live, 1, __ATOMIC_RELAXED);
	fz_mix(c, (mix_addrs ? addr_key(p, pooled) << 8 : 0) | kind);
	fz_mix(c, usable);
	obj_fill(o);
	TRACE("  -> slot %u = %p usable %zu%s\n", s, (void *)p, usable,
	      pooled ? " (guarded pool)" : "");
}

static void free_obj(struct fz_ctx *c, struct fz_obj *o)
{
	obj_verify(c, o, "before free");
	if (o->kind == K_CACHE) {
		if (o->cache == 1)
			*(uint64_t *)(void *)o->p = CTOR_MARK;   /* constructed again */
		if (o->via_kfree)
			kfree(o->p);
		else
			kmem_cache_free(caches[o->cache], o->p);
	} else if (o->kind == K_PAGES)
		kpages_free(o->p, o->npages);
	else
		kfree(o->p);
	if (o->pooled)
		__atomic_sub_fetch(&pooled_live, 1, __ATOMIC_RELAXED);
}

static void release(struct fz_ctx *c, unsigned s)
{
	struct fz_obj *o = &c->slots[s];
	if (!o->kind)
		return;
	TRACE("  free slot %u %p\n", s, (void *)o->p);
	free_obj(c, o);
	c->live_bytes -= o->usable;
	*o = (struct fz_obj){ 0 };
}

/* Would holding about `bytes` more exceed the budget?  Then the
 * allocation is skipped (the input stays meaningful, memory bounded). */
static bool over_budget(const struct fz_ctx *c, size_t bytes)
{
	return bytes > fz_cfg->live_budget || c->live_bytes + bytes > fz_cfg->live_budget;
}

static void expect_null(const struct fz_ctx *c, const void *p, const char *what)
{
	if (p)
		fz_fail(c, "%s returned %p, expected NULL", what, p);
}

/* Pages a request needs from the heap: a span of its class, or its pages
 * plus room to align them (for an aligned small request, whichever of a
 * span of a suitable class or a large block it takes: the most). */
static size_t pages_needed(size_t req, size_t align)
{
	req = raw_size(req);
	if (req <= KSPAN_MAX_SMALL && align <= 16)
		return class_npages[size_class(req)];
	size_t n = (max_sz(req, KSPAN_MAX_SMALL + 1) + PAGE - 1) / PAGE;
	n += align > PAGE ? align / PAGE - 1 : 0;
	return req <= KSPAN_MAX_SMALL ? max_sz(n, max_class_npages) : n;
}

/* NULL from an allocation that must succeed: fine under a commit limit or
 * when no free run of the heap could hold it; anything else is a bug. */
static bool null_ok(struct fz_ctx *c, const void *p, const char *what, size_t req,
                    size_t need)
{
	fz_mix(c, p != NULL);
	if (p)
		return false;
	if (oom_active) {
		TRACE("  -> NULL (commit limit)\n");
		return true;
	}
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	if (hs.largest_free_run < need) {
		TRACE("  -> NULL (largest free run %llu pages, %zu needed)\n",
		      (unsigned long long)hs.largest_free_run, need);
		return true;
	}
	fz_fail(c, "%s(%zu) returned NULL with %zu bytes live in this thread, a "
	        "free run of %llu pages (%zu needed) and no commit limit", what,
	        req, c->live_bytes, (unsigned long long)hs.largest_free_run, need);
}

static size_t kmalloc_align(size_t req)
{
	if (req > KSPAN_MAX_SMALL)
		return PAGE;
	return req > 8 ? 16 : 8;
}

/* ---- operations ------------------------------------------------------ */

/* OP_CHECK, OP_SCAVENGE and OP_STATS cost what the heap holds, not what
 * the operation reads: a budget per input keeps inputs cheap. */
static bool check_budget(void)
{
	unsigned n = __atomic_fetch_add(&checks_run, 1, __ATOMIC_RELAXED);
	return !fz_cfg->max_checks || n < fz_cfg->max_checks;
}

/* A warm heap: one scavenge an input (OP_SCAVENGE or OP_OOM's). */
static bool decommit_budget(void)
{
	if (!fz_cfg->warm_heap)
		return true;
	return !__atomic_exchange_n(&scavenged, true, __ATOMIC_RELAXED);
}

/* The bytes kzalloc / kcalloc zero and krealloc copies grow with the
 * request: above cfg->copy_cap, a large request is folded to a smaller
 * large one (still above the small/large boundary). */
static size_t cap_copy(size_t req)
{
	size_t cap = fz_cfg->copy_cap;
	if (!cap || req <= cap)
		return req;
	return KSPAN_MAX_SMALL + 1 + req % (cap - KSPAN_MAX_SMALL);
}

static void op_alloc(struct fz_ctx *c, struct fz_reader *r, int op)
{
	unsigned s = rd_slot(r);
	size_t req = read_size(r);
	if (op == OP_ZALLOC)
		req = cap_copy(req);
	release(c, s);
	if (over_budget(c, req))
		return;
	TRACE("%s(%zu)\n", op_names[op], req);
	uint8_t *p = op == OP_ZALLOC ? kzalloc(req) : kmalloc(req);
	if (null_ok(c, p, op_names[op], req, pages_needed(req, 1)))
		return;
	record(c, s, p, req, kmalloc_align(req), K_KMALLOC, 0, true,
	       op == OP_ZALLOC, op_names[op]);
}

static void op_calloc(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	uint8_t mode = fz_rd8(r);
	size_t each = rd16(r);
	release(c, s);
	if (mode & 0x80) {
		/* n * each overflows size_t: must be NULL. */
		if (each < 2)
			each += 2;
		size_t n = SIZE_MAX / each + 1 + (mode & 0x3f);
		TRACE("calloc(%zu, %zu) overflow\n", n, each);
		expect_null(c, kcalloc(n, each), "kcalloc with an overflowing product");
		expect_null(c, kcalloc(each, n), "kcalloc with an overflowing product");
		return;
	}
	size_t n = mode & 0x7f;            /* 0 .. 127, 0 included */
	each %= 32769;
	if (n && fz_cfg->copy_cap && n * each > fz_cfg->copy_cap)
		each = cap_copy(n * each) / n;
	size_t req = n * each;
	if (over_budget(c, req))
		return;
	TRACE("calloc(%zu, %zu)\n", n, each);
	uint8_t *p = kcalloc(n, each);
	if (null_ok(c, p, "kcalloc", req, pages_needed(req, 1)))
		return;
	record(c, s, p, req, kmalloc_align(req), K_KMALLOC, 0, true, true, "kcalloc");
}

static void op_realloc(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	size_t req = cap_copy(read_size(r));
	struct fz_obj *o = &c->slots[s];
	if (over_budget(c, req))
		return;
	if (!o->kind || o->kind == K_PAGES || o->kind == K_CACHE) {
		/* krealloc(NULL, n) is kmalloc(n); kpages blocks are not
		 * krealloc's to take, and the model keeps cache objects in
		 * their caches, so the slot is emptied first. */
		release(c, s);
		TRACE("realloc(NULL, %zu)\n", req);
		uint8_t *p = krealloc(NULL, req);
		if (null_ok(c, p, "krealloc(NULL)", req, pages_needed(req, 1)))
			return;
		record(c, s, p, req, kmalloc_align(req), K_KMALLOC, 0, true, false,
		       "krealloc(NULL)");
		return;
	}
	obj_verify(c, o, "before krealloc");
	struct fz_obj old = *o;
	TRACE("realloc(slot %u %p usable %zu, %zu)\n", s, (void *)o->p,
	      o->usable, req);
	uint8_t *p = krealloc(o->p, req);
	if (null_ok(c, p, "krealloc", req, pages_needed(req, 1))) {
		obj_verify(c, o, "after a failed krealloc");
		return;
	}
	/* Contents up to the smaller of the two requests survive. */
	size_t keep = min_sz(old.req, req);
	size_t bad = over_regions(p, old.usable, keep, old.seed, pat_check);
	if (bad != SIZE_MAX)
		fz_fail(c, "krealloc(%p [request %zu usable %zu], %zu) = %p lost byte "
		        "%zu: 0x%02x, expected 0x%02x", (void *)old.p, old.req,
		        old.usable, req, (void *)p, bad, p[bad],
		        ks_pattern_byte(bad, old.seed));
	c->live_bytes -= old.usable;
	if (old.pooled)
		__atomic_sub_fetch(&pooled_live, 1, __ATOMIC_RELAXED);
	*o = (struct fz_obj){ 0 };
	/* The result is an ordinary kmalloc object (krealloc(p, 0) gives a
	 * minimum one); in place, it keeps its old usable size. */
	size_t want = kmalloc_align(req);
	if (want > 16 && sample_every && in_pool(p))
		want = 16;   /* guarded: kmalloc's alignment, not whole pages */
	if ((uintptr_t)p % want)
		fz_fail(c, "krealloc(%zu) = %p is misaligned", req, (void *)p);
	bool moved = p != old.p;
	record(c, s, p, req, moved ? kmalloc_align(req) : old.align,
	       moved ? K_KMALLOC : old.kind, 0, moved, false, "krealloc");
	/* In place, the block is the old one (a large one may have grown). */
	if (!moved)
		c->slots[s].raw = old.raw && c->slots[s].usable == old.usable ? old.raw : 0;
}

static void op_aligned(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	size_t req = read_size(r);
	uint8_t a = fz_rd8(r);
	unsigned e = a % 21;               /* 1 B .. 1 MiB */
	size_t align = (size_t)1 << e;
	release(c, s);
	if (a & 0x80) {
		/* Not a power of two (or 0): must be NULL. */
		size_t badalign = (a & 0x40) ? 0 : align * 3 + (e == 0 ? 2 : 0);
		TRACE("aligned(%zu, %zu) invalid\n", req, badalign);
		expect_null(c, kmalloc_aligned(req, badalign),
		            "kmalloc_aligned with an invalid alignment");
		return;
	}
	if (over_budget(c, req + align))
		return;
	TRACE("aligned(%zu, %zu)\n", req, align);
	uint8_t *p = kmalloc_aligned(req, align);
	if (null_ok(c, p, "kmalloc_aligned", req, pages_needed(req, align)))
		return;
	raw_unknown = align > 16;
	record(c, s, p, req, align, K_KMALLOC, 0, fz_cfg->debug_heap, false,
	       "kmalloc_aligned");
	raw_unknown = false;
}

static void op_pages(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	size_t n = 1 + rd16(r) % 512;      /* up to 4 MiB */
	if (fz_cfg->large_cap && n * PAGE > fz_cfg->large_cap)
		n = 1 + n % (fz_cfg->large_cap / PAGE);
	release(c, s);
	if (over_budget(c, n * PAGE))
		return;
	TRACE("pages(%zu)\n", n);
	uint8_t *p = kpages_alloc(n);
	if (null_ok(c, p, "kpages_alloc", n * PAGE, n))
		return;
	record(c, s, p, n * PAGE, PAGE, K_PAGES, n, false, false, "kpages_alloc");
}

/* kmalloc_guarded: objects up to GUARD_MAX bytes, right-aligned against
 * the guard page, 16-byte aligned; NULL when the pool is full. */
static void op_guarded(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	size_t req = rd16(r) % (GUARD_MAX + 64);
	release(c, s);
	TRACE("guarded(%zu)\n", req);
	uint8_t *p = kmalloc_guarded(req);
	if (req > GUARD_MAX) {
		expect_null(c, p, "kmalloc_guarded(more than a page less 16)");
		return;
	}
	if (!p && (fz_cfg->threaded ||
	           __atomic_load_n(&pooled_live, __ATOMIC_RELAXED) >= GUARD_SLOTS)) {
		fz_mix(c, 0);
		return;      /* full (with other threads: maybe full) */
	}
	if (oom_active) {
		/* Under a commit limit whether the pool must commit (a page of
		 * slot records, as fresh slots are used) depends on the slots
		 * earlier inputs used: what it gives is not kept, so that an
		 * input does the same in a fresh process. */
		if (p)
			kfree(p);
		fz_mix(c, 0);
		return;
	}
	if (!p)
		fz_fail(c, "kmalloc_guarded(%zu) returned NULL with %u objects in the "
		        "pool and no commit limit", req, pooled_live);
	fz_mix(c, 1);
	size_t end = ((uintptr_t)p + req) % 4096;
	if (req && end != 0 && end <= 4096 - 16)
		fz_fail(c, "kmalloc_guarded(%zu) = %p: the object ends %zu bytes before "
		        "its page does (an overflow would not reach the guard)",
		        req, (void *)p, 4096 - end);
	record(c, s, p, req, 16, K_GUARDED, 0, false, false, "kmalloc_guarded");
	if (c->slots[s].usable != req)
		fz_fail(c, "kmalloc_guarded(%zu) = %p: ksize %zu", req, (void *)p,
		        c->slots[s].usable);
}

/* Fill the whole arena with kpages blocks of n pages until kpages_alloc
 * says NULL; then no free run of n pages may be left (unless a commit
 * limit is what failed).  Every block is marked and checked, then freed. */
static void op_exhaust(struct fz_ctx *c, struct fz_reader *r)
{
	uint8_t key = fz_rd8(r);
	size_t n = 16 + rd16(r) % 4081;             /* 128 KiB .. 32 MiB */
	/* Walking the whole arena is slow (every page is committed and
	 * decommitted): only with a key byte >= 0xf0, once per input. */
	if (!fz_cfg->exhaust || key < 0xf0 || exhausted)
		return;
	exhausted = true;
	size_t cap = fz_cfg->arena_bytes / (16 * PAGE) + 16;
	uint64_t **blocks = malloc(cap * sizeof(*blocks));
	if (!blocks)
		fz_fail(c, "out of memory for the block list");
	size_t nb = 0;
	TRACE("exhaust(%zu pages per block)\n", n);
	for (;;) {
		uint64_t *p = kpages_alloc(n);
		if (!p)
			break;
		if (nb == cap)
			fz_fail(c, "kpages_alloc(%zu) returned %zu blocks, more than the "
			        "arena holds", n, nb);
		if ((uintptr_t)p % PAGE)
			fz_fail(c, "kpages_alloc(%zu) = %p is not page aligned", n, (void *)p);
		p[0] = 0x6578686175737400ull + nb;  /* "exhaust" + index */
		blocks[nb++] = p;
	}
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	if (!oom_active && hs.largest_free_run >= n)
		fz_fail(c, "kpages_alloc(%zu) returned NULL after %zu blocks, but the "
		        "largest free run is %llu pages", n, nb,
		        (unsigned long long)hs.largest_free_run);
	TRACE("  -> %zu blocks, largest free run %llu\n", nb,
	      (unsigned long long)hs.largest_free_run);
	fz_mix(c, nb);
	kspan_check();
	for (size_t i = 0; i < nb; i++) {
		if (blocks[i][0] != 0x6578686175737400ull + i)
			fz_fail(c, "block %zu of kpages_alloc(%zu) at %p was overwritten "
			        "(overlapping blocks)", i, n, (void *)blocks[i]);
		kpages_free(blocks[i], n);
	}
	free(blocks);
}

static void op_ksize(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	const struct fz_obj *o = &c->slots[s];
	if (!o->kind)
		return;
	TRACE("ksize(slot %u %p)\n", s, (void *)o->p);
	size_t n = ksize(o->p);
	if (n != o->usable)
		fz_fail(c, "ksize(%p) = %zu, it was %zu at allocation", (void *)o->p,
		        n, o->usable);
	obj_verify(c, o, "ksize");
}

static void op_burst(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	size_t req = read_size(r);
	unsigned count = 1 + fz_rd8(r) % 8;
	uint8_t pattern = fz_rd8(r);
	if (req > KSPAN_MAX_SMALL)
		req %= KSPAN_MAX_SMALL + 1;   /* many objects of one small class */
	TRACE("burst(%u x %zu)\n", count, req);
	for (unsigned i = 0; i < count; i++) {
		unsigned k = (s + i) % fz_cfg->nslots;
		release(c, k);
		if (over_budget(c, req))
			break;
		uint8_t *p = kmalloc(req);
		if (null_ok(c, p, "kmalloc (burst)", req, pages_needed(req, 1)))
			break;
		record(c, k, p, req, kmalloc_align(req), K_KMALLOC, 0, true, false,
		       "kmalloc");
	}
	/* Free a subset, leaving holes in the spans. */
	for (unsigned i = 0; i < count; i++)
		if ((pattern >> (i % 8)) & 1)
			release(c, (s + i) % fz_cfg->nslots);
}

static void op_impossible(struct fz_ctx *c, struct fz_reader *r)
{
	uint8_t sel = fz_rd8(r);
	TRACE("impossible(%u)\n", sel % 8);
	switch (sel % 8) {
	case 0:
		expect_null(c, kmalloc(SIZE_MAX - (sel >> 3)), "kmalloc(SIZE_MAX - k)");
		break;
	case 1: {
		/* The guarded pool may take it (its slots reach 256 MiB). */
		void *p = kmalloc(fz_cfg->arena_bytes + 1 + ((size_t)sel << 20));
		if (p && sample_every && in_pool(p))
			kfree(p);
		else
			expect_null(c, p, "kmalloc(more than the arena)");
		break;
	}
	case 2:
		expect_null(c, kzalloc(SIZE_MAX - PAGE + 1 + (sel >> 3)),
		            "kzalloc(SIZE_MAX - page + k)");
		break;
	case 3:
		expect_null(c, kpages_alloc(0), "kpages_alloc(0)");
		expect_null(c, kpages_alloc(SIZE_MAX / PAGE + 1 - (sel >> 3)),
		            "kpages_alloc(huge)");
		break;
	case 4:
		expect_null(c, kpages_alloc(fz_cfg->arena_bytes / PAGE + 1 + (sel >> 3)),
		            "kpages_alloc(more than the arena)");
		break;
	case 5:
		expect_null(c, kmalloc_aligned(64, (size_t)1 << (40 + (sel >> 3) % 24)),
		            "kmalloc_aligned(64, 2^40+)");
		break;
	case 6:
		expect_null(c, kmalloc_aligned(SIZE_MAX - (sel >> 3), 4096),
		            "kmalloc_aligned(SIZE_MAX - k, 4096)");
		break;
	default: {
		/* krealloc to an impossible size fails and keeps the object. */
		unsigned s = (sel >> 3) % fz_cfg->nslots;
		struct fz_obj *o = &c->slots[s];
		if (!o->kind || o->kind == K_PAGES)
			break;
		expect_null(c, krealloc(o->p, SIZE_MAX - 16), "krealloc(p, SIZE_MAX - 16)");
		obj_verify(c, o, "after krealloc to an impossible size");
		break;
	}
	}
}

/* A commit limit: a = 0 lifts it; else commits may add (a & 0x3f) x 64 KiB
 * to what is committed now.  In a warm heap (every free page committed)
 * nothing but metadata and the guarded pool would need committing, so
 * with both top bits set and cfg->scavenge the free pages are given back
 * first (once an input, like OP_SCAVENGE).  Without cfg->scavenge (the
 * main harness) heap commits under a limit are fuzz_exhaust's. */
static void op_oom(struct fz_ctx *c, struct fz_reader *r)
{
	uint8_t a = fz_rd8(r);
	if (!fz_cfg->oom)
		return;
	if (a == 0) {
		TRACE("oom off\n");
		ks_host_set_commit_limit(0);
		oom_active = false;
		return;
	}
	if (fz_cfg->warm_heap && fz_cfg->scavenge && (a & 0xc0) == 0xc0 &&
	    decommit_budget() && check_budget()) {
		TRACE("scavenge, then ");
		kspan_scavenge();
	}
	size_t limit = ks_host_committed() + (size_t)(a & 0x3f) * (64 << 10);
	TRACE("oom limit %zu (+%u x 64 KiB)\n", limit, a & 0x3f);
	/* 0 would mean "no limit": commit nothing more instead. */
	ks_host_set_commit_limit(limit ? limit : 1);
	oom_active = true;
	(void)c;
}

/* Debug heap: send every n-th kmalloc to the guarded pool (n = 2, 4 or
 * 8; a % 4 == 0: off).  The heap counts sampled kmallocs from one input
 * to the next: fz_end_input brings the count back to a multiple of 8. */
static void op_sample(struct fz_ctx *c, struct fz_reader *r)
{
	uint8_t a = fz_rd8(r);
	if (!fz_cfg->debug_heap || fz_cfg->threaded)
		return;
	sample_every = a % 4 == 0 ? 0 : 1u << (a % 4);
	sampled_input = true;
	TRACE("sample every %u\n", sample_every);
	kspan_guard_sample(sample_every);
	(void)c;
}

/* Hand the object of a slot to another context: it leaves this model for
 * the sender's outbox; fz_deliver (all threads idle) moves it to the
 * receiver's inbox, which takes it at its next turn (and frees it, later,
 * on its own CPU). */
static void op_pass(struct fz_ctx *c, struct fz_reader *r, struct fz_ctx **peers)
{
	unsigned s = rd_slot(r);
	uint8_t t = fz_rd8(r);
	uint8_t hint = fz_rd8(r);
	if (!peers || c->nthreads < 2)
		return;
	unsigned to = (c->id + 1 + t % (c->nthreads - 1)) % c->nthreads;
	struct fz_obj *o = &c->slots[s];
	if (!o->kind || c->noutbox == FZ_MAILBOX)
		return;
	TRACE("pass(slot %u %p -> thread %u)\n", s, (void *)o->p, to);
	obj_verify(c, o, "before passing");
	c->outbox[c->noutbox++] = (struct fz_mail){ .obj = *o, .hint = hint,
	                                            .to = (uint8_t)to };
	c->live_bytes -= o->usable;
	*o = (struct fz_obj){ 0 };
	fz_mix(c, 0x9a55 + to);
}

void fz_deliver(struct fz_ctx *const *ctxs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct fz_ctx *c = ctxs[i];
		for (unsigned k = 0; k < c->noutbox; k++) {
			struct fz_ctx *d = ctxs[c->outbox[k].to];
			if (d->ninbox == FZ_INBOX)
				fz_fail(c, "inbox of thread %u full", d->id);
			d->inbox[d->ninbox++] = c->outbox[k];
		}
		c->noutbox = 0;
	}
}

/* ---- object caches ----------------------------------------------------- */

/* OP_CACHE_ALLOC slot b: an object of cache b % FZ_NCACHES; b & 4: zeroed
 * (not on the constructed cache); b & 8: freed later with kfree. */
static void op_cache_alloc(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned s = rd_slot(r);
	uint8_t b = fz_rd8(r);
	unsigned k = b % FZ_NCACHES;
	bool zero = (b & 4) && k != 1;
	release(c, s);
	size_t req = cache_size[k];
	if (over_budget(c, req))
		return;
	TRACE("kmem_cache_%salloc(cache %u, %zu B)\n", zero ? "z" : "", k, req);
	uint8_t *p = zero ? kmem_cache_zalloc(caches[k]) : kmem_cache_alloc(caches[k]);
	if (null_ok(c, p, "kmem_cache_alloc", req, 8))
		return;
	if (k == 1 && *(uint64_t *)(void *)p != CTOR_MARK)
		fz_fail(c, "kmem_cache_alloc(constructed cache) = %p: its first word "
		        "is %#llx, not the constructor's mark (constructed state lost)",
		        (void *)p, (unsigned long long)*(uint64_t *)(void *)p);
	record(c, s, p, req, cache_align[k], K_CACHE, 0, false, zero, "kmem_cache_alloc");
	c->slots[s].cache = (uint8_t)k;
	c->slots[s].via_kfree = (b & 8) != 0;
}

static void op_cache_shrink(struct fz_ctx *c, struct fz_reader *r)
{
	unsigned k = fz_rd8(r) % FZ_NCACHES;
	TRACE("kmem_cache_shrink(cache %u)\n", k);
	fz_mix(c, kmem_cache_shrink(caches[k]) != 0);
}

/* OP_CACHE_CYCLE size n mode: a cache of its own (size from read_size,
 * folded to 1..4096; mode & 1: a constructor, & 2: poison and red zone),
 * n % 64 objects allocated, checked, freed (every third with kfree), the
 * cache destroyed: it must end with no object left. */
static void op_cache_cycle(struct fz_ctx *c, struct fz_reader *r)
{
	size_t size = read_size_raw(r) % 4096 + 1;
	unsigned n = fz_rd8(r) % 64;
	uint8_t mode = fz_rd8(r);
	if (!fz_cfg->cache_cycle)
		return;
	if ((mode & 1) && size < 8)
		size = 8;   /* room for the constructor's mark */
	TRACE("cache_cycle(%zu B, %u objects, mode %u)\n", size, n, mode & 3);
	struct kmem_cache *k = kmem_cache_create("fz_cycle", size, 0,
	        mode & 2 ? KSPAN_SLAB_POISON | KSPAN_SLAB_RED_ZONE : 0,
	        mode & 1 ? fz_ctor : NULL);
	if (!k)
		fz_fail(c, "kmem_cache_create(%zu) failed", size);
	if (kmem_cache_size(k) != size)
		fz_fail(c, "kmem_cache_size = %zu, created with %zu", kmem_cache_size(k), size);
	uint8_t *p[64];
	unsigned got = 0;
	for (; got < n; got++) {
		if (!(p[got] = kmem_cache_alloc(k)))
			break;
		if ((mode & 1) && *(uint64_t *)(void *)p[got] != CTOR_MARK)
			fz_fail(c, "cache_cycle: object %p not constructed", (void *)p[got]);
		for (unsigned i = 0; i < got; i++)
			if (p[i] == p[got])
				fz_fail(c, "cache_cycle: %p handed out twice", (void *)p[got]);
		memset(p[got], 0xa0 + (int)(got % 16), size);
	}
	for (unsigned i = 0; i < got; i++) {
		for (size_t b = 0; b < size; b += 61)
			if (p[i][b] != (uint8_t)(0xa0 + i % 16))
				fz_fail(c, "cache_cycle: object %p byte %zu changed", (void *)p[i], b);
		if (mode & 1)
			fz_ctor(p[i]);
		if (i % 3 == 2)
			kfree(p[i]);
		else
			kmem_cache_free(k, p[i]);
	}
	struct kspan_slab_stats st;
	kmem_cache_stats(k, &st);
	if (st.active_objs != 0)
		fz_fail(c, "cache_cycle: %llu objects active after freeing all",
		        (unsigned long long)st.active_objs);
	kmem_cache_destroy(k);
	fz_mix(c, got);
}

/* ---- helper CPUs ----------------------------------------------------- */

struct worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	void (*fn)(void *);
	void *arg;
	bool busy;
};
static struct worker workers[FZ_MAX_WORKERS];
static unsigned nworkers;
static unsigned helper_slot[FZ_MAX_WORKERS];   /* the CPU slot each claimed */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->busy)
			pthread_cond_wait(&w->cv, &w->lock);
		pthread_mutex_unlock(&w->lock);
		w->fn(w->arg);
		pthread_mutex_lock(&w->lock);
		w->busy = false;
		pthread_cond_broadcast(&w->cv);
	}
	return NULL;
}

void fz_worker_start(unsigned i, void (*fn)(void *), void *arg)
{
	struct worker *w = &workers[i];
	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->arg = arg;
	w->busy = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lock);
}

void fz_worker_wait(unsigned i)
{
	struct worker *w = &workers[i];
	pthread_mutex_lock(&w->lock);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void fz_worker_run(unsigned i, void (*fn)(void *), void *arg)
{
	fz_worker_start(i, fn, arg);
	fz_worker_wait(i);
}

/* fn(arg) on helper i's CPU slot, while the helper waits: by the fuzzing
 * thread itself on that slot (switch_slot: no thread handoff, two context
 * switches fewer), or by the helper. */
static void on_helper(unsigned i, void (*fn)(void *), void *arg)
{
	if (!fz_cfg->switch_slot) {
		fz_worker_run(i, fn, arg);
		return;
	}
	unsigned own = ks_host_switch_slot(helper_slot[i]);
	fn(arg);
	ks_host_switch_slot(own);
}

void fz_note_cpu(unsigned cpu)
{
	__atomic_or_fetch(&cpus_dirty, 1u << cpu, __ATOMIC_RELAXED);
}

static void drain_fn(void *arg)
{
	(void)arg;
	kspan_drain_cpu();
}

/* Drain every CPU that ran an operation since it was last drained (the
 * helpers idle): then no CPU caches anything. */
static void drain_used(void)
{
	unsigned used = __atomic_exchange_n(&cpus_dirty, 0, __ATOMIC_RELAXED);
	if (used & 1)
		kspan_drain_cpu();
	for (unsigned w = 0; w < nworkers; w++)
		if (used & (2u << w))
			on_helper(w, drain_fn, NULL);
}

/* ---- the interpreter ------------------------------------------------- */

struct on_cpu_arg {
	struct fz_ctx *c;
	struct fz_reader *r;
	unsigned n;
};

static void run_op_peers(struct fz_ctx *c, struct fz_reader *r, struct fz_ctx **peers);

static void on_cpu_fn(void *arg)
{
	struct on_cpu_arg *a = arg;
	for (unsigned i = 0; i < a->n && a->r->n; i++) {
		if (i)
			a->c->op_index++;
		run_op_peers(a->c, a->r, NULL);
	}
}


static void run_op_peers(struct fz_ctx *c, struct fz_reader *r, struct fz_ctx **peers)
{
	int op = fz_rd8(r) % FZ_NOPS;
	if (fz_trace && op != OP_ON_CPU)
		fprintf(stderr, "#%u t%u cpu%u ", c->op_index, c->id, c->cpu);
	fz_mix(c, (uint64_t)op << 32 | c->op_index);
	switch (op) {
	case OP_MALLOC:
	case OP_ZALLOC:
		op_alloc(c, r, op);
		break;
	case OP_CALLOC:
		op_calloc(c, r);
		break;
	case OP_REALLOC:
		op_realloc(c, r);
		break;
	case OP_ALIGNED:
		op_aligned(c, r);
		break;
	case OP_PAGES:
		op_pages(c, r);
		break;
	case OP_FREE: {
		unsigned s = rd_slot(r);
		TRACE("free(slot %u)\n", s);
		release(c, s);
		break;
	}
	case OP_KSIZE:
		op_ksize(c, r);
		break;
	case OP_DRAIN:
		TRACE("drain\n");
		kspan_drain_cpu();
		break;
	case OP_SCAVENGE:
		/* In a warm heap, with a key byte (a quarter of them) and once
		 * an input: a scavenge undoes what the inputs before committed
		 * and touched, which costs. */
		if (!fz_cfg->scavenge || (fz_rd8(r) < 0xc0 && fz_cfg->warm_heap))
			break;
		TRACE("scavenge\n");
		if (decommit_budget() && check_budget())
			kspan_scavenge();
		break;
	case OP_CHECK:
		TRACE("check\n");
		/* kspan_check wants a quiescent heap: not while other
		 * threads run. */
		if (!fz_cfg->threaded && check_budget())
			kspan_check();
		break;
	case OP_ON_CPU: {
		/* The next 1 + (b / 16) % 4 operations on helper b % nworkers. */
		uint8_t b = fz_rd8(r);
		unsigned w = b % (nworkers ? nworkers : 1);
		if (!fz_cfg->on_cpu || c->cpu != 0 || !r->n || !nworkers)
			break;             /* no nesting */
		struct on_cpu_arg a = { c, r, 1 + (b >> 4) % 4 };
		unsigned saved = c->cpu;
		c->cpu = w + 1;
		fz_note_cpu(c->cpu);
		on_helper(w, on_cpu_fn, &a);
		c->cpu = saved;
		break;
	}
	case OP_OOM:
		op_oom(c, r);
		break;
	case OP_BURST:
		op_burst(c, r);
		break;
	case OP_IMPOSSIBLE:
		op_impossible(c, r);
		break;
	case OP_STATS:
		if (c->cpu == 0 && !fz_cfg->threaded && check_budget()) {
			TRACE("stats\n");
			struct fz_ctx *one[1] = { c };
			fz_check_stats(one, 1);
		}
		break;
	case OP_GUARDED:
		op_guarded(c, r);
		break;
	case OP_EXHAUST:
		op_exhaust(c, r);
		break;
	case OP_SAMPLE:
		op_sample(c, r);
		break;
	case OP_PASS:
		op_pass(c, r, peers);
		break;
	case OP_CACHE_ALLOC:
		op_cache_alloc(c, r);
		break;
	case OP_CACHE_SHRINK:
		op_cache_shrink(c, r);
		break;
	case OP_CACHE_CYCLE:
		op_cache_cycle(c, r);   /* reads its bytes even when off */
		break;
	}
}

static struct fz_ctx **cur_peers;

void fz_run_op(struct fz_ctx *c, struct fz_reader *r)
{
	fz_note_cpu(c->cpu);
	run_op_peers(c, r, cur_peers);
	c->op_index++;
	if (check_every && c->op_index % check_every == 0 && !fz_cfg->threaded)
		kspan_check();
}

void fz_set_peers(struct fz_ctx **peers, bool digest_addresses)
{
	cur_peers = peers;
	mix_addrs = digest_addresses;
}

void fz_take_inbox(struct fz_ctx *c)
{
	if (c->ninbox)
		fz_note_cpu(c->cpu);
	for (unsigned i = 0; i < c->ninbox; i++) {
		struct fz_mail *m = &c->inbox[i];
		/* The first free slot from the hint on; none: free it now
		 * (a free on another CPU than the one that allocated it). */
		unsigned s = fz_cfg->nslots;
		for (unsigned k = 0; k < fz_cfg->nslots; k++) {
			unsigned j = (m->hint + k) % fz_cfg->nslots;
			if (!c->slots[j].kind) {
				s = j;
				break;
			}
		}
		obj_verify(c, &m->obj, "received from another thread");
		if (s == fz_cfg->nslots || over_budget(c, m->obj.usable)) {
			TRACE("t%u cpu%u: free the received %p\n", c->id, c->cpu,
			      (void *)m->obj.p);
			free_obj(c, &m->obj);
			fz_mix(c, 0xf7ee);
		} else {
			TRACE("t%u cpu%u: received %p into slot %u\n", c->id, c->cpu,
			      (void *)m->obj.p, s);
			c->slots[s] = m->obj;
			c->live_bytes += m->obj.usable;
			fz_mix(c, 0x5107 + s);
		}
	}
	c->ninbox = 0;
}

void fz_release_all(struct fz_ctx *c)
{
	if (c->noutbox)
		fz_fail(c, "fz_release_all with %u objects not delivered", c->noutbox);
	fz_note_cpu(c->cpu);
	fz_take_inbox(c);
	for (unsigned s = 0; s < fz_cfg->nslots; s++)
		release(c, s);
	if (c->live_bytes != 0)
		fz_fail(c, "model: %zu bytes live after freeing every slot", c->live_bytes);
}

/* ---- whole-model checks -------------------------------------------- */

static int by_addr(const void *a, const void *b)
{
	const struct fz_obj *x = *(const struct fz_obj *const *)a;
	const struct fz_obj *y = *(const struct fz_obj *const *)b;
	return x->p < y->p ? -1 : x->p > y->p;
}

void fz_check_disjoint(struct fz_ctx *const *ctxs, unsigned n)
{
	const struct fz_obj *all[FZ_MAX_WORKERS * (FZ_MAX_SLOTS + FZ_INBOX + FZ_MAILBOX)];
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		for (unsigned s = 0; s < fz_cfg->nslots; s++)
			if (ctxs[i]->slots[s].kind)
				all[k++] = &ctxs[i]->slots[s];
		for (unsigned m = 0; m < ctxs[i]->ninbox; m++)
			all[k++] = &ctxs[i]->inbox[m].obj;
		for (unsigned m = 0; m < ctxs[i]->noutbox; m++)
			all[k++] = &ctxs[i]->outbox[m].obj;
	}
	qsort(all, k, sizeof(all[0]), by_addr);
	for (unsigned i = 1; i < k; i++)
		if (all[i - 1]->p + all[i - 1]->usable > all[i]->p)
			fz_fail(NULL, "objects overlap: %p [usable %zu, thread %u] and "
			        "%p [usable %zu, thread %u]", (void *)all[i - 1]->p,
			        all[i - 1]->usable, all[i - 1]->ctx, (void *)all[i]->p,
			        all[i]->usable, all[i]->ctx);
}

void fz_check_stats(struct fz_ctx *const *ctxs, unsigned n)
{
	drain_used();
	struct kspan_heap_stats hs;
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_heap_stats(&hs);
	kspan_class_stats(cs);
	uint64_t large = 0, large_bytes = 0, small[KSPAN_NUM_CLASSES] = { 0 };
	uint64_t incache[FZ_NCACHES] = { 0 };
	size_t heap_bytes = 0;
	bool exact = true;   /* every object's block size is known */
	for (unsigned i = 0; i < n; i++) {
		for (unsigned s = 0; s < fz_cfg->nslots + ctxs[i]->ninbox; s++) {
			const struct fz_obj *o = s < fz_cfg->nslots ? &ctxs[i]->slots[s]
			                       : &ctxs[i]->inbox[s - fz_cfg->nslots].obj;
			if (!o->kind || o->pooled)
				continue;    /* guarded objects live outside the heap */
			heap_bytes += o->usable;
			if (o->kind == K_CACHE) {
				incache[o->cache]++;
				continue;
			}
			/* The block: the kpages block, the object itself, or
			 * with the debug heap what it asked the heap for. */
			size_t blk = o->kind == K_PAGES || !fz_cfg->debug_heap ? o->usable
			           : o->raw;
			if (!blk) {
				exact = false;
				continue;
			}
			if (o->kind == K_PAGES || blk > KSPAN_MAX_SMALL) {
				large++;
				large_bytes += (blk + PAGE - 1) / PAGE * PAGE;
			} else {
				small[size_class(blk)]++;
			}
		}
	}
	if (exact) {
		if (hs.large_inuse != large || hs.large_bytes != large_bytes)
			fz_fail(NULL, "heap stats: %llu large objects, %llu bytes; the "
			        "model holds %llu, %llu bytes",
			        (unsigned long long)hs.large_inuse,
			        (unsigned long long)hs.large_bytes, (unsigned long long)large,
			        (unsigned long long)large_bytes);
		for (unsigned c = 1; c < KSPAN_NUM_CLASSES; c++)
			if (cs[c].inuse != small[c])
				fz_fail(NULL, "class %u (%u B): stats say %llu in use, the "
				        "model holds %llu", c, (unsigned)cs[c].size,
				        (unsigned long long)cs[c].inuse,
				        (unsigned long long)small[c]);
	}
	for (unsigned k = 0; k < FZ_NCACHES; k++) {
		struct kspan_slab_stats st;
		kmem_cache_stats(caches[k], &st);
		if (st.active_objs != incache[k])
			fz_fail(NULL, "cache %u (%zu B): stats say %llu active, the model "
			        "holds %llu", k, cache_size[k],
			        (unsigned long long)st.active_objs,
			        (unsigned long long)incache[k]);
	}
	if (hs.pages_free > hs.pages_total || hs.pages_committed > hs.pages_total)
		fz_fail(NULL, "heap stats: %llu free / %llu committed of %llu pages",
		        (unsigned long long)hs.pages_free,
		        (unsigned long long)hs.pages_committed,
		        (unsigned long long)hs.pages_total);
	if (hs.pages_total - hs.pages_free < (heap_bytes + PAGE - 1) / PAGE)
		fz_fail(NULL, "heap stats: %llu pages in use but %zu bytes are live",
		        (unsigned long long)(hs.pages_total - hs.pages_free), heap_bytes);
}

/* ---- inputs ------------------------------------------------------------ */

void fz_ctx_reset(struct fz_ctx *c, unsigned id, unsigned cpu)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->cpu = cpu;
	c->nthreads = 1;
}

void fz_begin_input(void)
{
	exhausted = false;
	scavenged = false;
	checks_run = 0;
	__atomic_store_n(&cpus_dirty, 0, __ATOMIC_RELAXED);   /* every CPU drained */
}

/* A warm heap: every page of the arena committed (and free). */
static void commit_all(void)
{
	uint8_t *all = kpages_alloc(heap_pages);
	if (!all)
		fz_fail(NULL, "kpages_alloc of the whole (free) arena, %llu pages, failed",
		        (unsigned long long)heap_pages);
	if ((uintptr_t)all != arena_base)
		fz_fail(NULL, "the arena moved: %p, it was at %p", (void *)all,
		        (void *)arena_base);
	kpages_free(all, heap_pages);
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	if (hs.pages_committed != heap_pages)
		fz_fail(NULL, "%llu of %llu pages committed after allocating them all",
		        (unsigned long long)hs.pages_committed,
		        (unsigned long long)heap_pages);
}

/* Everything freed, every CPU drained: the heap must be empty.  Then it is
 * brought back to where every input starts: no page committed (or, for a
 * warm heap, every page). */
void fz_end_input(void)
{
	ks_host_set_commit_limit(0);
	oom_active = false;
	if (sampled_input) {
		/* Sampling off; the next kspan_guard_sample restarts the gaps
		 * from the seed, so no input sees where this one left them. */
		sampled_input = false;
		sample_every = 0;
		kspan_guard_sample(0);
	}
	drain_used();
	if (fz_cfg->heavy_end)
		kspan_check();
	struct kspan_heap_stats hs;
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	kspan_heap_stats(&hs);
	kspan_class_stats(cs);
	if (hs.pages_free != heap_pages || hs.pages_total != heap_pages)
		fz_fail(NULL, "end of input: %llu free pages of %llu (pages leaked)",
		        (unsigned long long)hs.pages_free, (unsigned long long)heap_pages);
	if (hs.large_inuse || hs.large_bytes)
		fz_fail(NULL, "end of input: %llu large objects (%llu bytes) still in use",
		        (unsigned long long)hs.large_inuse,
		        (unsigned long long)hs.large_bytes);
	for (unsigned c = 1; c < KSPAN_NUM_CLASSES; c++)
		if (cs[c].inuse || cs[c].spans)
			fz_fail(NULL, "end of input: class %u has %llu objects in use in "
			        "%llu spans", c, (unsigned long long)cs[c].inuse,
			        (unsigned long long)cs[c].spans);
	for (unsigned k = 0; k < FZ_NCACHES; k++) {
		struct kspan_slab_stats st;
		kmem_cache_stats(caches[k], &st);
		if (st.active_objs || st.spans)
			fz_fail(NULL, "end of input: cache %u has %llu objects active in "
			        "%llu spans", k, (unsigned long long)st.active_objs,
			        (unsigned long long)st.spans);
	}
	if (hs.largest_free_run != heap_pages)
		fz_fail(NULL, "end of input: every page is free but the largest free "
		        "run is %llu of %llu pages (not coalesced)",
		        (unsigned long long)hs.largest_free_run,
		        (unsigned long long)heap_pages);
	if (__atomic_load_n(&pooled_live, __ATOMIC_RELAXED))
		fz_fail(NULL, "end of input: model counts %u guarded objects", pooled_live);
	if (fz_cfg->warm_heap) {
		/* Every page committed again, if the input decommitted any. */
		if (hs.pages_committed != heap_pages)
			commit_all();
		return;
	}
	/* Give every free page back: the next input starts from a heap with
	 * nothing committed, whatever this one did. */
	if (hs.pages_committed) {
		kspan_scavenge();
		kspan_heap_stats(&hs);
		if (hs.pages_committed != 0)
			fz_fail(NULL, "end of input: %llu pages still committed after "
			        "kspan_scavenge with nothing allocated",
			        (unsigned long long)hs.pages_committed);
	}
}

/* Warming up, on each CPU slot in turn: every engine cache used once (a
 * CPU's first object of a cache sets its class up, and its frees take
 * other paths before), a guarded object (the pool commits its first page
 * of slot records), and a free of an object the next slot allocated (a
 * remote batch: the batch pool commits its first chunk).  What an input
 * meets then no longer depends on the inputs before it. */
static void *warm_obj;

static void warm_cpu(void *arg)
{
	(void)arg;
	for (unsigned k = 0; k < FZ_NCACHES; k++) {
		void *p = kmem_cache_alloc(caches[k]);
		if (!p)
			fz_fail(NULL, "kmem_cache_alloc(cache %u) failed while warming up", k);
		kmem_cache_free(caches[k], p);
	}
	kfree(kmalloc_guarded(64));
	if (warm_obj)
		kfree(warm_obj);   /* the previous slot's: a remote free */
	if (!(warm_obj = kmalloc(64)))
		fz_fail(NULL, "kmalloc(64) failed while warming up");
}

static void claim_fn(void *arg)
{
	kspan_drain_cpu();   /* claims this thread's CPU slot */
	*(unsigned *)arg = ks_plat_cpu_id();
}

void fz_init(const struct fz_config *cfg)
{
	fz_cfg = cfg;
	const char *t = getenv("FUZZ_HEAP_TRACE");
	fz_trace = t && *t && *t != '0';
	check_every = cfg->check_every;
	const char *ce = getenv("FUZZ_HEAP_CHECK_EVERY");
	if (ce && atoi(ce) > 0)
		check_every = (unsigned)atoi(ce);
	if (cfg->nslots > FZ_MAX_SLOTS || cfg->nworkers > FZ_MAX_WORKERS)
		fz_fail(NULL, "bad configuration");
	/* A fixed seed: the same input does the same thing in every run. */
	struct kspan_config kc = { .arena_bytes = cfg->arena_bytes,
	                           .scavenge_threshold = cfg->scavenge_threshold,
	                           .seed = SEED };
	if (kspan_init(&kc) != 0)
		fz_fail(NULL, "kspan_init failed");
	init_classes();
	for (unsigned k = 0; k < FZ_NCACHES; k++)
		caches[k] = kmem_cache_create("fz_cache", cache_size[k], cache_align[k],
		                              (k == 2 ? KSPAN_SLAB_POISON | KSPAN_SLAB_RED_ZONE : 0) |
		                              (k == 3 ? KSPAN_SLAB_HWCACHE_ALIGN : 0) | KSPAN_SLAB_PANIC,
		                              k == 1 ? fz_ctor : NULL);
	/* CPU slots in a fixed order: this thread, then the helpers. */
	kspan_drain_cpu();
	for (unsigned i = 0; i < cfg->nworkers; i++) {
		struct worker *w = &workers[i];
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cv, NULL);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			fz_fail(NULL, "pthread_create failed");
		nworkers = i + 1;
		fz_worker_run(i, claim_fn, &helper_slot[i]);
	}
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	heap_pages = hs.pages_total;
	/* Grow the heap over the whole arena once, so that no input's layout
	 * depends on how far the inputs before it grew the heap. */
	uint8_t *all = kpages_alloc(heap_pages);
	if (!all)
		fz_fail(NULL, "kpages_alloc of the whole arena (%llu pages) failed",
		        (unsigned long long)heap_pages);
	arena_base = (uintptr_t)all;
	kpages_free(all, heap_pages);
	/* Make the span structs an input can need: committing them later
	 * would count against an input's commit limit. */
	size_t nwarm = min_sz(heap_pages / 2, 4096);
	void **warm = malloc(nwarm * sizeof(*warm));
	if (!warm)
		fz_fail(NULL, "out of memory");
	for (size_t i = 0; i < nwarm; i++)
		if (!(warm[i] = kpages_alloc(1)))
			fz_fail(NULL, "kpages_alloc(1) failed while warming up");
	for (size_t i = 0; i < nwarm; i += 2)
		kpages_free(warm[i], 1);
	for (size_t i = 1; i < nwarm; i += 2)
		kpages_free(warm[i], 1);
	free(warm);
	warm_cpu(NULL);
	for (unsigned i = 0; i < cfg->nworkers; i++)
		fz_worker_run(i, warm_cpu, NULL);
	warm_cpu(NULL);   /* the last helper's object, freed here */
	kfree(warm_obj);
	kspan_drain_cpu();
	for (unsigned i = 0; i < cfg->nworkers; i++)
		fz_worker_run(i, drain_fn, NULL);
	if (!cfg->warm_heap)
		kspan_scavenge();
	fz_begin_input();
	fz_end_input();
}

/* The driver of the one-context harnesses (fuzz_heap, fuzz_exhaust,
 * fuzz_debugheap): the whole input is one program, on the fuzzing thread
 * (and the helpers, through OP_ON_CPU). */
int fz_run_single(const struct fz_config *cfg, const uint8_t *data, size_t size)
{
	static struct fz_ctx ctx;
	if (!fz_cfg)
		fz_init(cfg);
	fz_begin_input();
	fz_ctx_reset(&ctx, 0, 0);
	fz_set_peers(NULL, true);
	struct fz_reader r = { data, size };
	while (r.n && ctx.op_index < cfg->max_ops)
		fz_run_op(&ctx, &r);
	fz_release_all(&ctx);
	fz_end_input();
	fz_print_digest(ctx.digest);
	return 0;
}
