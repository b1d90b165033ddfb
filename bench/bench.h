/*
 * Shared pieces of the allocator benchmark workloads (bench/w_*.c): options,
 * a per-thread random generator, timing, RSS readings, fill patterns that
 * depend on an object's address and size, alignment checks, and the one
 * result line every workload prints.
 *
 * The workloads call only the C allocation interface (malloc, free, calloc,
 * realloc, posix_memalign), so the same binary measures whichever allocator
 * LD_PRELOAD puts in front of glibc.
 */
#ifndef KSPAN_BENCH_H
#define KSPAN_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Command-line options common to every workload. */
struct bench_opts {
	double scale;		/* multiplies the default amount of work */
	int threads;		/* 0: the workload's default */
	long size_mib;		/* frag: total MiB per phase (0: default) */
	double max_seconds;	/* large, realloc: stop early after this long
				 * (0: no limit); ops counts the work done */
	uint64_t seed;
};

/* One workload: name, what it does, entry point.  threads > 0 makes a
 * thread-count variant of a workload whose default is 2 threads (larson-4t,
 * xmalloc-8t, ...): it runs with that many threads and with its work per
 * thread scaled by 2/threads, so the total work, and each op, stay those of
 * the 2-thread workload (main.c). */
struct workload {
	const char *name;
	const char *what;
	int (*run)(const struct bench_opts *o);
	int threads;
};

extern const struct workload bench_workloads[];

/* The workloads (bench/w_*.c); each returns 0 or ends the process through
 * bench_fail(). */
int w_larson(const struct bench_opts *o);
int w_xmalloc(const struct bench_opts *o);
int w_cache_scratch(const struct bench_opts *o);
int w_mstress(const struct bench_opts *o);
int w_alloc_test(const struct bench_opts *o);
int w_small_loop(const struct bench_opts *o);
int w_small_batch(const struct bench_opts *o);
int w_large(const struct bench_opts *o);
int w_realloc(const struct bench_opts *o);
int w_frag(const struct bench_opts *o);

extern const char *bench_current;	/* name of the running workload */

/* ---- random numbers: splitmix64 per thread --------------------------- */

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = seed * 0xD1B54A32D192ED03ull + stream * 0x8CB92BA72F3D8DD7ull + 1;
	(void)rng_next(r);
}

/* Uniform in [0, n). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(struct rng *r, size_t lo, size_t hi)
{
	return lo + (size_t)rng_below(r, (uint64_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi]: every doubling is equally likely. */
size_t rng_logsize(struct rng *r, size_t lo, size_t hi);

/* ---- fill patterns ----------------------------------------------------- */

/* The seed of an object's pattern: a hash of its address and size, so that
 * an object that overlaps another, or that the allocator handed out twice,
 * shows up as a mismatch. */
static inline uint64_t pat_seed(const void *p, size_t n)
{
	uint64_t x = (uint64_t)(uintptr_t)p ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return x | 1;
}

/* The pattern word at byte offset off (a multiple of 8). */
static inline uint64_t pat_word(uint64_t seed, size_t off)
{
	return seed ^ ((uint64_t)off * 0x9E3779B97F4A7C15ull);
}

/* Full pattern: every byte of [p, p+n). */
void fill_full(void *p, size_t n, uint64_t seed);
/* Check the full pattern of the first n bytes; returns the offset of the
 * first bad byte, or (size_t)-1 when all match. */
size_t check_full(const void *p, size_t n, uint64_t seed);

/* Full pattern on the byte range [from, to) of an object, with the offsets
 * counted from p (so a buffer can be filled piecewise as it grows). */
void fill_range(void *p, size_t from, size_t to, uint64_t seed);

/* Sparse pattern: the first and last 8 bytes (fewer if n < 8) and one word
 * every 4 KiB, so that every page of a large object is written. */
void fill_sparse(void *p, size_t n, uint64_t seed);
size_t check_sparse(const void *p, size_t n, uint64_t seed);

/* Alignment malloc(n) must give: 16 for n >= 16, else the largest power of
 * two not above n (C11's fundamental alignment for such objects). */
static inline int aligned_ok(const void *p, size_t n)
{
	size_t a = n >= 16 ? 16 : n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;

	return ((uintptr_t)p & (a - 1)) == 0;
}

/* ---- checks that end the run ------------------------------------------ */

/* Print "result workload=... verify=FAIL error=MESSAGE" (error= last, up to
 * the end of the line) and a message on stderr, then _exit(1).  Called from any thread on the first failed check. */
__attribute__((noreturn, format(printf, 1, 2)))
void bench_fail(const char *fmt, ...);

/* The common checks on a fresh block: not NULL, aligned. */
static inline void *check_new(void *p, size_t n, const char *what)
{
	if (!p)
		bench_fail("%s(%zu) returned NULL", what, n);
	if (!aligned_ok(p, n))
		bench_fail("%s(%zu) returned misaligned %p", what, n, p);
	return p;
}

/* Check a pattern and fail with a clear message if it does not match. */
void verify_full(const void *p, size_t n, uint64_t seed, const char *what);
void verify_sparse(const void *p, size_t n, uint64_t seed, const char *what);

/* Keep the compiler from eliding an allocation. */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* ---- time, memory, results -------------------------------------------- */

double now_s(void);

/* Resident set size now, and its high-water mark, in KiB (from /proc). */
long rss_now_kib(void);
long rss_peak_kib(void);

/* mmap'd arrays, kept outside the allocator being measured. */
void *bench_map(size_t bytes);
void bench_unmap(void *p, size_t bytes);

/* The thread count to use: o->threads, or def when that is 0. */
int bench_threads(const struct bench_opts *o, int def);

/* True once a run that started at t0 has used up o->max_seconds. */
int bench_out_of_time(const struct bench_opts *o, double t0);

/* Scale a default count by o->scale (at least min). */
long bench_scaled(const struct bench_opts *o, long def, long min);

/* Print the result line:
 *   result workload=W threads=T ops=N seconds=S ops_per_s=R verify=OK
 *          rss_peak_kib=P rss_end_kib=E malloc_from=LIB [extra]
 * extra (may be NULL) is appended as more key=value pairs. */
void bench_report(int threads, double ops, double seconds, const char *extra);

/* Start threads running fn(i, arg) for i in [0, n) and join them all. */
void run_threads(int n, void *(*fn)(void *), void *args, size_t argsize);

#endif
