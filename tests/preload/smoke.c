/*
 * Checks of kspan's C allocation functions (shim/shim.c) from inside
 * a process whose malloc is kspan's.  Built twice by mk/shim.mk:
 *   smoke          plain; tests/preload/run.py runs it with
 *                  LD_PRELOAD=libkspan.so
 *   smoke-linked   -DLINKED_KSPAN, linked with libkspan.a
 *
 *   smoke              run every check; prints "N passed, M failed" and
 *                      exits 0 only if nothing failed
 *   smoke die NAME     commit the misuse NAME (see die_cases); kspan must
 *                      stop the process (SIGABRT, "kspan: ..." on stderr).
 *                      Reaching the end is reported and exits 3.
 *
 * The first check makes sure kspan really is the allocator (a 40000-byte
 * block is a large object of its own: 8 KiB aligned, 40960 usable bytes),
 * so the rest cannot pass against glibc by accident.  Every block is
 * filled with a pattern derived from its address and size and checked
 * before it is freed, so overlapping blocks or lost contents show up.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef LINKED_KSPAN
void cfree(void *p);
#endif

/* The checks ask for impossible sizes and look at a pointer's value after
 * a failed realloc on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

static int passed, failed;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (cond) {                                               \
			passed++;                                         \
		} else {                                                  \
			failed++;                                         \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,     \
			        __LINE__, #cond);                         \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
		}                                                         \
	} while (0)

/* Counted once per batch, not per byte, so that the totals stay readable. */
#define CHECK_QUIET(cond, ...)                                            \
	do {                                                              \
		if (!(cond)) {                                            \
			failed++;                                         \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,     \
			        __LINE__, #cond);                         \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			ok = 0;                                           \
		}                                                         \
	} while (0)

static int aligned_to(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

static unsigned char pat(const void *base, size_t i, size_t salt)
{
	uintptr_t b = (uintptr_t)base;
	return (unsigned char)((b >> 4) * 131 + i * 7 + salt * 13 + (i >> 8));
}

static void fill(void *p, size_t n, size_t salt)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = pat(p, i, salt);
}

/* Index of the first wrong byte, or n. */
static size_t verify(const void *p, size_t n, size_t salt)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != pat(p, i, salt))
			return i;
	return n;
}

/* A simple deterministic generator (each thread its own state). */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mostly small sizes, some medium, a few large. */
static size_t rnd_size(uint64_t *s)
{
	uint64_t r = rnd(s);
	switch (r % 16) {
	case 0:  return (size_t)(r >> 8) % 300000;
	case 1: case 2: return (size_t)(r >> 8) % 32768;
	default: return (size_t)(r >> 8) % 512;
	}
}

/* ---- kspan is the allocator -------------------------------------------- */

static void check_is_kspan(void)
{
	void *p = malloc(40000);
	CHECK(p && aligned_to(p, 8192) && malloc_usable_size(p) == 40960,
	      "malloc(40000) = %p, usable %zu: not kspan's large object "
	      "(8 KiB aligned, 40960 usable); is kspan loaded?", p,
	      p ? malloc_usable_size(p) : 0);
	free(p);
}

/* ---- malloc, free, malloc_usable_size ----------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

static void check_malloc(void)
{
	enum { NZERO = 1000 };
	static void *zero[NZERO];
	int ok = 1;
	for (int i = 0; i < NZERO; i++) {
		zero[i] = malloc(0);
		CHECK_QUIET(zero[i] != NULL, "malloc(0) #%d returned NULL", i);
	}
	qsort(zero, NZERO, sizeof(zero[0]), cmp_ptr);
	for (int i = 1; i < NZERO; i++)
		CHECK_QUIET(zero[i] != zero[i - 1], "malloc(0) returned %p twice", zero[i]);
	for (int i = 0; i < NZERO; i++)
		free(zero[i]);
	CHECK(ok, "malloc(0) pointers are unique and non-NULL");

	/* Every size up to 1 KiB, then around powers of two and class
	 * boundaries up to 4 MiB; all live at once, filled to their usable
	 * size, then verified. */
	enum { MAXB = 4096 };
	static void *blk[MAXB];
	static size_t sz[MAXB], us[MAXB];
	int n = 0;
	for (size_t s = 1; s <= 1024; s++)
		sz[n++] = s;
	for (size_t s = 2048; s <= ((size_t)4 << 20); s *= 2)
		for (size_t d = 0; d < 3; d++)
			sz[n++] = s - 1 + d;
	for (size_t s = 1100; s < 70000; s += 977)
		sz[n++] = s;
	ok = 1;
	for (int i = 0; i < n; i++) {
		blk[i] = malloc(sz[i]);
		CHECK_QUIET(blk[i] != NULL, "malloc(%zu) returned NULL", sz[i]);
		if (!blk[i])
			continue;
		size_t a = sz[i] > 8 ? 16 : 8;
		CHECK_QUIET(aligned_to(blk[i], a), "malloc(%zu) = %p not %zu-aligned",
		            sz[i], blk[i], a);
		us[i] = malloc_usable_size(blk[i]);
		CHECK_QUIET(us[i] >= sz[i], "malloc_usable_size(malloc(%zu)) = %zu",
		            sz[i], us[i]);
		fill(blk[i], us[i], sz[i]);
	}
	for (int i = 0; i < n; i++) {
		if (!blk[i])
			continue;
		size_t bad = verify(blk[i], us[i], sz[i]);
		CHECK_QUIET(bad == us[i], "block %p of %zu bytes overwritten at %zu",
		            blk[i], sz[i], bad);
		free(blk[i]);
	}
	CHECK(ok, "%d sizes: aligned, usable size >= size, no overlap", n);
	CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");
	free(NULL);
	passed++; /* free(NULL) returned */
}

/* ---- failures and errno ------------------------------------------------- */

/* A value the compiler cannot see (clang rejects impossible alignments it
 * can see; here they are the point). */
static size_t opaque(size_t x)
{
	volatile size_t v = x;
	return v;
}

static void check_errors(void)
{
	errno = 0;
	CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM, "malloc(SIZE_MAX): errno %d", errno);
	errno = 0;
	CHECK(malloc((size_t)1 << 46) == NULL && errno == ENOMEM,
	      "malloc(64 TiB): errno %d", errno);
	errno = 0;
	CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM,
	      "calloc overflow: errno %d", errno);
	errno = 0;
	CHECK(calloc((size_t)1 << 23, (size_t)1 << 23) == NULL && errno == ENOMEM,
	      "calloc(64 TiB): errno %d", errno);

	char *p = malloc(100);
	fill(p, 100, 1);
	errno = 0;
	CHECK(realloc(p, SIZE_MAX - 4096) == NULL && errno == ENOMEM,
	      "realloc to SIZE_MAX: errno %d", errno);
	CHECK(verify(p, 100, 1) == 100, "failed realloc kept the block");
	errno = 0;
	CHECK(reallocarray(p, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM,
	      "reallocarray overflow: errno %d", errno);
	CHECK(verify(p, 100, 1) == 100, "failed reallocarray kept the block");
	free(p);

	void *sentinel = (void *)0x5a5a, *q = sentinel;
	static const size_t bad_align[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, 4097 };
	int ok = 1;
	for (size_t i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
		int rc = posix_memalign(&q, opaque(bad_align[i]), 64);
		CHECK_QUIET(rc == EINVAL && q == sentinel,
		            "posix_memalign(align %zu) = %d, memptr %p", bad_align[i], rc, q);
	}
	CHECK(ok, "posix_memalign rejects bad alignments with EINVAL");
	errno = 0;
	int rc = posix_memalign(&q, 64, SIZE_MAX - 8192);
	CHECK(rc == ENOMEM && q == sentinel, "posix_memalign huge = %d", rc);

	static const size_t bad_aa[] = { 0, 3, 12, 24, 48, 100, 4097 };
	ok = 1;
	for (size_t i = 0; i < sizeof(bad_aa) / sizeof(bad_aa[0]); i++) {
		errno = 0;
		void *r = aligned_alloc(opaque(bad_aa[i]), 64);
		CHECK_QUIET(r == NULL && errno == EINVAL,
		            "aligned_alloc(%zu, 64) = %p, errno %d", bad_aa[i], r, errno);
	}
	CHECK(ok, "aligned_alloc rejects non-power-of-two alignments with EINVAL");
	errno = 0;
	CHECK(aligned_alloc(4096, SIZE_MAX - 8192) == NULL && errno == ENOMEM,
	      "aligned_alloc huge: errno %d", errno);
	errno = 0;
	CHECK(memalign(opaque(SIZE_MAX / 2 + 2), 16) == NULL && errno == EINVAL,
	      "memalign(huge alignment): errno %d", errno);
	errno = 0;
	CHECK(valloc(SIZE_MAX - 100) == NULL && errno == ENOMEM, "valloc huge: errno %d", errno);
	errno = 0;
	CHECK(pvalloc(SIZE_MAX - 100) == NULL && errno == ENOMEM, "pvalloc huge: errno %d", errno);
}

/* ---- calloc ----------------------------------------------------------- */

static void check_calloc(void)
{
	static const size_t sizes[] = { 1, 7, 16, 100, 1000, 4096, 5000, 32768,
	                                40000, 300000, (size_t)3 << 20 };
	int ok = 1;
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t n = sizes[i];
			/* Dirty a block of the same size first, so that the
			 * calloc'ed one is likely to reuse dirty memory. */
			unsigned char *d = malloc(n);
			memset(d, 0xab, malloc_usable_size(d));
			free(d);
			unsigned char *c = calloc(n / 4 + 1, 4);
			CHECK_QUIET(c != NULL, "calloc(%zu, 4) NULL", n / 4 + 1);
			if (!c)
				continue;
			for (size_t k = 0; k < (n / 4 + 1) * 4; k++)
				if (c[k]) {
					CHECK_QUIET(0, "calloc(%zu, 4)[%zu] = %#x", n / 4 + 1, k, c[k]);
					break;
				}
			free(c);
		}
	}
	CHECK(ok, "calloc returns zeroed memory over reused blocks");
	void *z = calloc(0, 5), *z2 = calloc(5, 0);
	CHECK(z && z2 && z != z2, "calloc with a zero count gives unique pointers");
	free(z);
	free(z2);
}

/* ---- realloc and reallocarray ------------------------------------------ */

static void check_realloc(void)
{
	int ok = 1;
	size_t n = 1;
	unsigned char *p = realloc(NULL, n);
	CHECK(p != NULL, "realloc(NULL, 1)");
	p[0] = 0x11;
	/* Grow through every class and into large objects; each step keeps
	 * the old bytes and adds fresh ones. */
	size_t sizes[200];
	int ns = 0;
	for (size_t s = 1; s < ((size_t)2 << 20) && ns < 200; s = s * 5 / 4 + 3)
		sizes[ns++] = s;
	fill(p, 1, 0);
	/* Contents are checked against a reference copy: the pattern depends
	 * on the address, which moves. */
	unsigned char *ref = malloc(sizes[ns - 1]);
	memcpy(ref, p, 1);
	for (int i = 1; i < ns; i++) {
		size_t m = sizes[i];
		unsigned char *q = realloc(p, m);
		CHECK_QUIET(q != NULL, "realloc to %zu", m);
		if (!q)
			break;
		CHECK_QUIET(memcmp(q, ref, n) == 0, "realloc %zu -> %zu lost contents", n, m);
		CHECK_QUIET(aligned_to(q, m > 8 ? 16 : 8), "realloc(%zu) = %p misaligned", m, q);
		for (size_t k = n; k < m; k++)
			q[k] = ref[k] = (unsigned char)(k * 37 + i);
		p = q;
		n = m;
	}
	for (int i = ns - 2; i >= 0; i--) {
		size_t m = sizes[i];
		unsigned char *q = realloc(p, m);
		CHECK_QUIET(q != NULL, "realloc down to %zu", m);
		if (!q)
			break;
		CHECK_QUIET(memcmp(q, ref, m) == 0, "realloc %zu -> %zu lost contents", n, m);
		CHECK_QUIET(malloc_usable_size(q) >= m, "realloc down usable");
		p = q;
		n = m;
	}
	CHECK(ok, "realloc up through %d sizes to %zu bytes and back keeps contents",
	      ns, sizes[ns - 1]);
	free(ref);
	CHECK(realloc(p, 0) == NULL, "realloc(p, 0) frees p and returns NULL (glibc)");

	/* realloc(NULL, 0) is malloc(0). */
	void *z = realloc(NULL, 0);
	CHECK(z != NULL, "realloc(NULL, 0) returns a unique pointer");
	free(z);

	unsigned char *a = reallocarray(NULL, 10, 10);
	CHECK(a != NULL && malloc_usable_size(a) >= 100, "reallocarray(NULL, 10, 10)");
	fill(a, 100, 5);
	unsigned char *b = reallocarray(a, 1000, 10);
	CHECK(b != NULL && malloc_usable_size(b) >= 10000, "reallocarray grows");
	int same = 1;
	for (size_t k = 0; k < 100; k++)
		same &= b[k] == pat(a, k, 5);
	CHECK(same, "reallocarray keeps contents");
	free(b);
}

/* ---- the aligned family ------------------------------------------------- */

static void check_aligned(void)
{
	enum { MAXA = 2048 };
	static void *blk[MAXA];
	static size_t sz[MAXA];
	int n = 0, ok = 1;
	for (size_t a = 1; a <= ((size_t)2 << 20); a *= 2) {
		size_t sizes[] = { 0, 1, 7, 8, 9, 16, 17, 100, a - 1, a, a + 1, 3 * a, 40000 };
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t s = sizes[i];
			void *p = aligned_alloc(a, s);
			CHECK_QUIET(p && aligned_to(p, a), "aligned_alloc(%zu, %zu) = %p", a, s, p);
			if (a >= sizeof(void *)) {
				void *q = NULL;
				int rc = posix_memalign(&q, a, s);
				CHECK_QUIET(rc == 0 && q && aligned_to(q, a),
				            "posix_memalign(%zu, %zu) = %d, %p", a, s, rc, q);
				if (rc == 0 && n < MAXA) {
					blk[n] = q;
					sz[n++] = s;
				}
			}
			void *m = memalign(a, s);
			CHECK_QUIET(m && aligned_to(m, a), "memalign(%zu, %zu) = %p", a, s, m);
			void *all[] = { p, m };
			for (int k = 0; k < 2; k++) {
				if (all[k] && n < MAXA) {
					blk[n] = all[k];
					sz[n++] = s;
				}
			}
		}
	}
	/* memalign rounds a non-power-of-two alignment up (glibc). */
	static const size_t odd[] = { 3, 24, 48, 100, 3000, 5000 };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		size_t up = 1;
		while (up < odd[i])
			up <<= 1;
		void *m = memalign(odd[i], 50);
		CHECK_QUIET(m && aligned_to(m, up), "memalign(%zu, 50) = %p", odd[i], m);
		if (m && n < MAXA) {
			blk[n] = m;
			sz[n++] = 50;
		}
	}
	static const size_t vs[] = { 0, 1, 100, 4095, 4096, 4097, 10000, 100000 };
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		void *v = valloc(vs[i]);
		CHECK_QUIET(v && aligned_to(v, 4096), "valloc(%zu) = %p", vs[i], v);
		void *pv = pvalloc(vs[i]);
		size_t want = vs[i] ? (vs[i] + 4095) & ~(size_t)4095 : 4096;
		CHECK_QUIET(pv && aligned_to(pv, 4096) && malloc_usable_size(pv) >= want,
		            "pvalloc(%zu) = %p, usable %zu (want %zu)", vs[i], pv,
		            pv ? malloc_usable_size(pv) : 0, want);
		if (v && n < MAXA) {
			blk[n] = v;
			sz[n++] = vs[i];
		}
		if (pv && n < MAXA) {
			blk[n] = pv;
			sz[n++] = want;
		}
	}
	for (int i = 0; i < n; i++) {
		size_t u = malloc_usable_size(blk[i]);
		CHECK_QUIET(u >= sz[i], "usable %zu < %zu", u, sz[i]);
		fill(blk[i], u, i);
	}
	for (int i = 0; i < n; i++) {
		size_t u = malloc_usable_size(blk[i]);
		CHECK_QUIET(verify(blk[i], u, i) == u, "aligned block %p overwritten", blk[i]);
		free(blk[i]);
	}
	CHECK(ok, "%d aligned blocks (aligned_alloc, posix_memalign, memalign, "
	      "valloc, pvalloc) aligned, usable, no overlap", n);
	/* The ones not kept (past MAXA) leak; there are none with MAXA so big. */
	CHECK(n < MAXA, "the aligned check kept every block (%d)", n);
}

static void check_cfree(void)
{
#ifdef LINKED_KSPAN
	void (*cf)(void *) = cfree;
#else
	void (*cf)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
#endif
	CHECK(cf != NULL, "cfree is exported");
	if (cf) {
		void *p = malloc(77);
		cf(p);
		void *q = malloc(77);   /* still a working heap */
		CHECK(q != NULL, "malloc after cfree");
		free(q);
	}
}

/* ---- threads ------------------------------------------------------------ */

#define NTHREADS 4
#define RING 512

struct ring {
	pthread_mutex_t lock;
	void *p[RING];
	size_t n[RING];
	unsigned head, tail;
};

static struct ring rings[NTHREADS];
static int thread_errors;

static int ring_put(struct ring *r, void *p, size_t n)
{
	pthread_mutex_lock(&r->lock);
	int ok = r->head - r->tail < RING;
	if (ok) {
		r->p[r->head % RING] = p;
		r->n[r->head % RING] = n;
		r->head++;
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static void *ring_get(struct ring *r, size_t *n)
{
	void *p = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->tail != r->head) {
		p = r->p[r->tail % RING];
		*n = r->n[r->tail % RING];
		r->tail++;
	}
	pthread_mutex_unlock(&r->lock);
	return p;
}

static void take_and_free(struct ring *r)
{
	size_t n;
	void *p;
	while ((p = ring_get(r, &n)) != NULL) {
		if (verify(p, n, n) != n)
			__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
		free(p);
	}
}

/* Allocate, hand every other block to the next thread, free what the
 * previous thread handed over: most frees are of another thread's
 * memory. */
static void *ring_worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(me + 1);
	void *keep[64] = { 0 };
	size_t keepn[64] = { 0 };
	for (int i = 0; i < 60000; i++) {
		size_t n = rnd_size(&s);
		void *p = malloc(n);
		if (!p) {
			__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		fill(p, n, n);
		if (i & 1) {
			if (!ring_put(&rings[(me + 1) % NTHREADS], p, n)) {
				free(p);
			}
		} else {
			int k = (int)(rnd(&s) % 64);
			if (keep[k]) {
				if (verify(keep[k], keepn[k], keepn[k]) != keepn[k])
					__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
				free(keep[k]);
			}
			keep[k] = p;
			keepn[k] = n;
		}
		if ((i & 15) == 0)
			take_and_free(&rings[me]);
	}
	for (int k = 0; k < 64; k++)
		if (keep[k]) {
			if (verify(keep[k], keepn[k], keepn[k]) != keepn[k])
				__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
			free(keep[k]);
		}
	return NULL;
}

/* Many threads alive at once (more than kspan's 63 slots, so some share
 * the overflow slot), each allocating and exiting with blocks it leaves to
 * the main thread. */
#define NCHURN 100
#define CHURN_BLOCKS 200
static pthread_barrier_t churn_barrier;
static void *churn_out[NCHURN][CHURN_BLOCKS];

static void *churn_worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint64_t s = 12345 + (uint64_t)me;
	pthread_barrier_wait(&churn_barrier);
	for (int i = 0; i < CHURN_BLOCKS; i++) {
		size_t n = 16 + rnd(&s) % 2000;
		void *p = malloc(n);
		void *junk = malloc(n / 2 + 1);
		free(junk);
		if (!p) {
			__atomic_fetch_add(&thread_errors, 1, __ATOMIC_RELAXED);
			churn_out[me][i] = NULL;
			continue;
		}
		fill(p, 16, (size_t)me);
		churn_out[me][i] = p;
	}
	return NULL;
}

static void check_threads(void)
{
	pthread_t t[NCHURN];
	for (int i = 0; i < NTHREADS; i++)
		pthread_mutex_init(&rings[i].lock, NULL);
	thread_errors = 0;
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, ring_worker, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NTHREADS; i++)
		take_and_free(&rings[i]);
	CHECK(thread_errors == 0, "%d threads freeing each other's blocks: %d errors",
	      NTHREADS, thread_errors);

	for (int round = 0; round < 3; round++) {
		thread_errors = 0;
		pthread_barrier_init(&churn_barrier, NULL, NCHURN);
		int created = 0;
		for (int i = 0; i < NCHURN; i++)
			if (pthread_create(&t[i], NULL, churn_worker, (void *)(intptr_t)i) == 0)
				created++;
		CHECK(created == NCHURN, "created %d of %d threads", created, NCHURN);
		if (created != NCHURN)
			abort(); /* the barrier would never open */
		for (int i = 0; i < NCHURN; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&churn_barrier);
		int bad = 0;
		for (int i = 0; i < NCHURN; i++)
			for (int k = 0; k < CHURN_BLOCKS; k++) {
				if (churn_out[i][k] && verify(churn_out[i][k], 16, (size_t)i) != 16)
					bad++;
				free(churn_out[i][k]);
			}
		CHECK(thread_errors == 0 && bad == 0,
		      "round %d: %d threads at once, blocks freed after the threads "
		      "exited: %d errors, %d bad", round, NCHURN, thread_errors, bad);
	}
}

/* ---- fork --------------------------------------------------------------- */

static volatile int stop_bg;

/* Keeps the allocator busy (slow paths and locks too) while the main
 * thread forks. */
static void *bg_worker(void *arg)
{
	uint64_t s = 777 + (uint64_t)(intptr_t)arg;
	void *slot[256] = { 0 };
	while (!stop_bg) {
		int k = (int)(rnd(&s) % 256);
		free(slot[k]);
		slot[k] = (rnd(&s) & 1) ? malloc(rnd_size(&s)) : calloc(1, rnd_size(&s));
		if (rnd(&s) % 8 == 0) {
			void *r = realloc(slot[k], rnd_size(&s) + 1);
			if (r)
				slot[k] = r;
		}
	}
	for (int k = 0; k < 256; k++)
		free(slot[k]);
	return NULL;
}

static void *child_thread(void *arg)
{
	(void)arg;
	uint64_t s = 4242;
	for (int i = 0; i < 5000; i++) {
		size_t n = rnd_size(&s);
		void *p = malloc(n);
		if (!p)
			return (void *)1;
		fill(p, n, 3);
		if (verify(p, n, 3) != n)
			return (void *)1;
		free(p);
	}
	return NULL;
}

/* The child: free blocks the parent's threads allocated, allocate through
 * every path (small, large, aligned, realloc), start a thread. */
static int child_main(void **inherited, int ninh)
{
	alarm(10); /* a lock left held across fork would hang here */
	for (int i = 0; i < ninh; i++) {
		if (inherited[i] && verify(inherited[i], 64, 64) != 64)
			return 10;
		free(inherited[i]);
	}
	uint64_t s = 99;
	void *keep[512];
	for (int i = 0; i < 512; i++) {
		size_t n = rnd_size(&s);
		keep[i] = (i % 7 == 0) ? memalign(4096, n) : malloc(n);
		if (!keep[i])
			return 11;
		fill(keep[i], n, n);
		if (i % 5 == 0) {
			/* The pattern depends on the address: compare a copy. */
			unsigned char head[64];
			size_t h = n < sizeof(head) ? n : sizeof(head);
			memcpy(head, keep[i], h);
			void *r = realloc(keep[i], n + 1000);
			if (!r || memcmp(r, head, h) != 0)
				return 12;
			keep[i] = r;
			fill(r, n, n);
		}
		if (i % 3 == 0) {
			free(keep[i]);
			keep[i] = NULL;
		}
	}
	for (int i = 0; i < 512; i++)
		free(keep[i]);
	pthread_t t;
	void *res = (void *)1;
	if (pthread_create(&t, NULL, child_thread, NULL) != 0)
		return 13;
	pthread_join(t, &res);
	if (res != NULL)
		return 14;
	void *big = malloc((size_t)8 << 20);
	if (!big)
		return 15;
	memset(big, 1, (size_t)8 << 20);
	free(big);
	return 0;
}

static void *bg_alloc_64(void *arg)
{
	void **out = arg;
	for (int i = 0; i < 32; i++) {
		out[i] = malloc(64);
		if (out[i])
			fill(out[i], 64, 64);
	}
	return NULL;
}

static void check_fork(void)
{
	pthread_t bg[3];
	stop_bg = 0;
	for (int i = 0; i < 3; i++)
		pthread_create(&bg[i], NULL, bg_worker, (void *)(intptr_t)i);

	/* Blocks allocated by a thread that will not exist in the child. */
	void *inh[64] = { 0 };
	pthread_t t;
	pthread_create(&t, NULL, bg_alloc_64, inh);
	pthread_join(t, NULL);
	for (int i = 32; i < 64; i++) {
		inh[i] = malloc(64);
		fill(inh[i], 64, 64);
	}

	int ok = 1;
	for (int f = 0; f < 20; f++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(child_main(inh, 64));
		CHECK_QUIET(pid > 0, "fork failed: %s", strerror(errno));
		if (pid < 0)
			break;
		/* The parent goes on allocating meanwhile. */
		for (int i = 0; i < 2000; i++) {
			void *p = malloc((size_t)(i * 13 % 5000));
			free(p);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		CHECK_QUIET(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		            "fork child %d: %s %d%s", f,
		            WIFEXITED(st) ? "exit status" : "killed by signal",
		            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
		            WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM
		            ? " (SIGALRM: hung on a lock held across fork?)" : "");
		if (!ok)
			break;
	}
	stop_bg = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(bg[i], NULL);
	for (int i = 0; i < 64; i++) {
		CHECK_QUIET(!inh[i] || verify(inh[i], 64, 64) == 64, "parent's block changed");
		free(inh[i]);
	}
	CHECK(ok, "20 forks while 3 threads allocate: children allocate, free the "
	      "parent's blocks, start threads; the parent goes on");

	/* A child of a child. */
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20);
		pid_t g = fork();
		if (g == 0)
			_exit(child_main(NULL, 0));
		int st = 0;
		waitpid(g, &st, 0);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 20);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "grandchild: status %#x", st);
}

/* ---- misuse that kspan must stop ----------------------------------------- */

static void *free_in_thread(void *p)
{
	free(p);
	return NULL;
}

static int die_case(const char *name)
{
	volatile int on_stack = 1;
	if (!strcmp(name, "double-free")) {
		void *p = malloc(24);
		free(p);
		free(p);
	} else if (!strcmp(name, "double-free-large")) {
		void *p = malloc((size_t)1 << 20);
		free(p);
		free(p);
	} else if (!strcmp(name, "double-free-threads")) {
		/* Freed by another thread (which exits, flushing its queue),
		 * then again by the owner. */
		void *p = malloc(48);
		pthread_t t;
		pthread_create(&t, NULL, free_in_thread, p);
		pthread_join(t, NULL);
		free(p);
	} else if (!strcmp(name, "interior")) {
		char *p = malloc(64);
		free(p + 16);
	} else if (!strcmp(name, "wild")) {
		free((void *)(uintptr_t)0x12345670);
	} else if (!strcmp(name, "stack")) {
		free((void *)&on_stack);
	} else if (!strcmp(name, "realloc-freed")) {
		void *p = malloc(32);
		free(p);
		p = realloc(p, 64);
	} else if (!strcmp(name, "realloc-zero-then-free")) {
		/* realloc(p, 0) must have freed p, so this is a double free. */
		void *p = malloc(32);
		if (realloc(p, 0) != NULL) {
			fprintf(stderr, "realloc(p, 0) did not return NULL\n");
			return 4;
		}
		free(p);
	} else {
		fprintf(stderr, "smoke: no die case '%s'\n", name);
		return 2;
	}
	fprintf(stderr, "smoke: misuse '%s' was not stopped\n", name);
	return 3;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "die"))
		return die_case(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: smoke [die NAME]\n");
		return 2;
	}
	check_is_kspan();
	check_malloc();
	check_errors();
	check_calloc();
	check_realloc();
	check_aligned();
	check_cfree();
	check_threads();
	check_fork();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
