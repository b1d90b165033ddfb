/*
 * Helpers shared by the benchmark workloads: fill patterns and their checks,
 * failure reporting, clocks, /proc RSS readings, the result line, threads.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

const char *bench_current = "?";

size_t rng_logsize(struct rng *r, size_t lo, size_t hi)
{
	/* Pick a doubling, then a uniform size inside it. */
	int bits_lo = 63 - __builtin_clzll(lo), bits_hi = 63 - __builtin_clzll(hi);
	int b = bits_lo + (int)rng_below(r, (uint64_t)(bits_hi - bits_lo + 1));
	size_t a = (size_t)1 << b, z = a * 2 - 1;

	if (a < lo)
		a = lo;
	if (z > hi)
		z = hi;
	return rng_range(r, a, z);
}

/* ---- patterns ---------------------------------------------------------- */

static inline void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* The expected byte at any offset: byte (off & 7) of pattern word off & ~7. */
static inline unsigned char pat_byte(uint64_t seed, size_t off)
{
	return (unsigned char)(pat_word(seed, off & ~(size_t)7) >> (8 * (off & 7)));
}

void fill_full(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = p;
	size_t off = 0;

	for (; off + 8 <= n; off += 8)
		put64(b + off, pat_word(seed, off));
	for (; off < n; off++)
		b[off] = pat_byte(seed, off);
}

void fill_range(void *p, size_t from, size_t to, uint64_t seed)
{
	unsigned char *b = p;
	size_t off = from;

	for (; off < to && (off & 7); off++)
		b[off] = pat_byte(seed, off);
	for (; off + 8 <= to; off += 8)
		put64(b + off, pat_word(seed, off));
	for (; off < to; off++)
		b[off] = pat_byte(seed, off);
}

size_t check_full(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	size_t off = 0;

	for (; off + 8 <= n; off += 8)
		if (get64(b + off) != pat_word(seed, off))
			goto slow;
	for (; off < n; off++)
		if (b[off] != pat_byte(seed, off))
			return off;
	return (size_t)-1;
slow:
	for (size_t i = off; i < off + 8; i++)
		if (b[i] != pat_byte(seed, i))
			return i;
	return off;
}

/* Sparse layout: bytes [0, min(n,8)), one 8-byte word at every 4 KiB
 * boundary, and the last 8 bytes.  Each byte holds pat_byte(seed, off), so
 * overlapping words agree. */
static void sparse_put(unsigned char *b, size_t n, size_t off, uint64_t seed)
{
	if (off + 8 <= n && (off & 7) == 0) {
		put64(b + off, pat_word(seed, off));
		return;
	}
	for (size_t i = off; i < off + 8 && i < n; i++)
		b[i] = pat_byte(seed, i);
}

static size_t sparse_get(const unsigned char *b, size_t n, size_t off, uint64_t seed)
{
	if (off + 8 <= n && (off & 7) == 0)
		return get64(b + off) == pat_word(seed, off) ? (size_t)-1 : off;
	for (size_t i = off; i < off + 8 && i < n; i++)
		if (b[i] != pat_byte(seed, i))
			return i;
	return (size_t)-1;
}

void fill_sparse(void *p, size_t n, uint64_t seed)
{
	unsigned char *b = p;

	sparse_put(b, n, 0, seed);
	for (size_t off = 4096; off + 8 <= n; off += 4096)
		sparse_put(b, n, off, seed);
	if (n > 8)
		sparse_put(b, n, n - 8, seed);
}

size_t check_sparse(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	size_t bad;

	if ((bad = sparse_get(b, n, 0, seed)) != (size_t)-1)
		return bad;
	for (size_t off = 4096; off + 8 <= n; off += 4096)
		if ((bad = sparse_get(b, n, off, seed)) != (size_t)-1)
			return bad;
	if (n > 8)
		return sparse_get(b, n, n - 8, seed);
	return (size_t)-1;
}

void verify_full(const void *p, size_t n, uint64_t seed, const char *what)
{
	size_t bad = check_full(p, n, seed);

	if (bad != (size_t)-1)
		bench_fail("%s: block %p size %zu corrupted at offset %zu", what, p, n, bad);
}

void verify_sparse(const void *p, size_t n, uint64_t seed, const char *what)
{
	size_t bad = check_sparse(p, n, seed);

	if (bad != (size_t)-1)
		bench_fail("%s: block %p size %zu corrupted at offset %zu", what, p, n, bad);
}

/* ---- failure ----------------------------------------------------------- */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

void bench_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One thread reports; the others wait here until _exit ends them. */
	pthread_mutex_lock(&fail_lock);
	/* error= is the last field and runs to the end of the line. */
	for (char *c = msg; *c; c++)
		if (*c == '\n')
			*c = ' ';
	printf("result workload=%s verify=FAIL error=%s\n", bench_current, msg);
	fflush(stdout);
	fprintf(stderr, "kbench %s: verification failed: %s\n", bench_current, msg);
	fflush(stderr);
	_exit(1);
}

/* ---- time and memory --------------------------------------------------- */

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long status_field_kib(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long rss_now_kib(void)
{
	long pages_total, pages_res;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages_total, &pages_res) != 2)
		pages_res = -1;
	fclose(f);
	return pages_res < 0 ? -1 : pages_res * (sysconf(_SC_PAGESIZE) / 1024);
}

long rss_peak_kib(void)
{
	return status_field_kib("VmHWM");
}

void *bench_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_fail("mmap(%zu) for the bookkeeping array failed (errno %d)", bytes, errno);
	return p;
}

void bench_unmap(void *p, size_t bytes)
{
	munmap(p, bytes);
}

int bench_threads(const struct bench_opts *o, int def)
{
	return o->threads > 0 ? o->threads : def;
}

int bench_out_of_time(const struct bench_opts *o, double t0)
{
	return o->max_seconds > 0 && now_s() - t0 > o->max_seconds;
}

long bench_scaled(const struct bench_opts *o, long def, long min)
{
	double v = (double)def * o->scale;

	return v < (double)min ? min : (long)v;
}

/* The library the process's malloc comes from, as the dynamic linker sees
 * it: tells a run under LD_PRELOAD from one that silently fell back. */
static const char *malloc_origin(void)
{
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, "malloc");
	const char *name, *slash;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "unknown";
	name = info.dli_fname;
	slash = strrchr(name, '/');
	return slash ? slash + 1 : name;
}

void bench_report(int threads, double ops, double seconds, const char *extra)
{
	printf("result workload=%s threads=%d ops=%.0f seconds=%.6f ops_per_s=%.1f "
	       "verify=OK rss_peak_kib=%ld rss_end_kib=%ld malloc_from=%s%s%s\n",
	       bench_current, threads, ops, seconds, seconds > 0 ? ops / seconds : 0.0,
	       rss_peak_kib(), rss_now_kib(), malloc_origin(),
	       extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

void run_threads(int n, void *(*fn)(void *), void *args, size_t argsize)
{
	pthread_t tid[n];

	for (int i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, fn, (char *)args + (size_t)i * argsize))
			bench_fail("pthread_create failed");
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
}
