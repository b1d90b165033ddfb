/*
 * The host drop-in malloc: the C allocation functions on top of kspan, for
 * LD_PRELOAD (build/host/libkspan.so) and static linking (libkspan.a).
 *
 *   malloc free calloc realloc reallocarray posix_memalign aligned_alloc
 *   memalign valloc pvalloc malloc_usable_size cfree
 *
 * are the only symbols the library exports (everything else is built with
 * -fvisibility=hidden; see mk/shim.mk).  With LTO, kmalloc/kfree and the
 * host platform's CPU-slot hooks inline into malloc and free, so their fast
 * paths are a TLS load, a bit scan and a store, with no call.
 *
 * Semantics (glibc's where C leaves a choice):
 *   - malloc(0) returns a unique pointer (kspan's smallest object);
 *   - realloc(NULL, n) is malloc(n); realloc(p, 0) with p != NULL frees p
 *     and returns NULL, as glibc does; a failed realloc leaves p alone;
 *   - every failure returns NULL with errno = ENOMEM, including calloc and
 *     reallocarray whose n * size overflows; posix_memalign returns the
 *     error (EINVAL or ENOMEM) instead and never writes *memptr on failure;
 *   - posix_memalign wants a power of two multiple of sizeof(void *);
 *     aligned_alloc a power of two (else NULL, errno EINVAL); memalign,
 *     like glibc's, rounds a non-power-of-two alignment up;
 *   - valloc and pvalloc align to 4096; pvalloc also rounds the size up to
 *     a multiple of 4096 (pvalloc(0) is one page);
 *   - malloc(n) is aligned to 16 for n > 8 and to 8 for n <= 8 (no object
 *     of 8 bytes or fewer needs more); in the guard mode of the debug
 *     shim (below) a guarded malloc(n) has that alignment or, when n is
 *     not a multiple of 16, the largest power of two n allows (8 for 12),
 *     and with KSPAN_GUARD_ALIGN=1 the natural alignment of n, so that
 *     its end touches the guard page; the memalign family keeps its
 *     alignment;
 *   - free or realloc of anything kspan did not hand out, an interior
 *     pointer or a double free stops the process with "kspan: ..." on
 *     stderr and SIGABRT (mm/ checks every free).
 *
 * Initialisation is lazy: the first call of any of these functions sets up
 * kspan under a spinlock (the other threads wait), with an arena of
 * KSPAN_ARENA_GB GiB of address space (default 64; reserved, not
 * committed: memory is committed as the heap grows).  When the default
 * cannot be reserved (a ulimit -v, valgrind's smaller address space), it
 * retries with 16, 4 and 1 GiB; an explicit KSPAN_ARENA_GB that cannot be
 * reserved is fatal.  Nothing during init allocates (getenv does not);
 * an allocation re-entering init would be a bug and aborts with a message
 * rather than deadlocking.
 *
 * The debug shim (libkspan-debug.so: the debug heap, assertions and lock
 * checks) reads the guard mode from the environment at the same time:
 *
 *   KSPAN_GUARD=all | 1/N      every allocation, or 1 in N on average,
 *                              gets a slot of the guarded pool (mm/guard.c)
 *                              whose end touches an unmapped page; freed
 *                              slots stay unmapped in quarantine.  0 or
 *                              unset: red zones only.
 *   KSPAN_GUARD_BELOW=1        objects start right after the guard page
 *                              instead (underflows fault)
 *   KSPAN_GUARD_QUARANTINE=N   freed slots kept unmapped (default 65536)
 *   KSPAN_GUARD_MAX_MB=N       memory committed for live guarded objects
 *                              (default 1024)
 *   KSPAN_GUARD_POOL_GB=N      address space of the pool (default 64,
 *                              then 16, 4 and 1 if it cannot be reserved)
 *   KSPAN_GUARD_ALIGN=N        16 (default), 8, 4, 2: a guarded malloc(n)
 *                              is aligned to at least N when n >= N, as
 *                              programs expect of malloc (CPython keeps
 *                              tags in the low bits of pointers to objects
 *                              of odd sizes); the slack between the end
 *                              and the guard page is checked on free.
 *                              1: the natural alignment of n (the largest
 *                              power of two dividing it), so that the
 *                              object ends exactly at its guard page and
 *                              a read one byte past it faults
 *
 * On Linux 6.13 and later the pool is one mapping whose unused pages carry
 * guard markers (MADV_GUARD_INSTALL; ks_host_guard_markers), and live
 * guarded objects are bounded by KSPAN_GUARD_MAX_MB only.  On older
 * kernels uncommitted pages are PROT_NONE, every live guarded object costs
 * two mappings, and they are also limited to (vm.max_map_count - 16384) / 2
 * (24573 with Linux's default), so that the program keeps mappings of its
 * own.  An allocation past a limit gets a red zone instead.  A SIGSEGV in the pool prints one line
 *   kspan: use-after-free read at 0x...: object 0x... of N bytes allocated at 0x..., freed at 0x...
 *   kspan: out-of-bounds write at 0x...: object 0x... of N bytes allocated at 0x...
 * and aborts; other SIGSEGVs keep their behaviour (ks_host_guard_faults).
 * A bad value stops the process with a message; so does KSPAN_GUARD with
 * the release shim, which has no guard mode.  KSPAN_TEST_SEED (decimal or
 * 0x-hex), when set, seeds kspan's randomness (the guard mode's sampling,
 * red-zone secrets), so that a run replays.
 *
 * KSPAN_STATS=1 in the environment prints kspan's statistics
 * (kspan_print_stats) on stderr when the process exits, KSPAN_STATS=PATH
 * (anything with a '/') appends them to the file PATH: a way to see that
 * kspan is the allocator of a program, and how its caches did.
 *
 * Threads: each thread gets a CPU slot of its own (arch/host/platform.c);
 * when it exits its cache is drained back to the central lists
 * (ks_host_set_thread_exit_hook(ks_drain_cpu_caches): kspan_drain_cpu but
 * the central reserves, which the other threads go on using).
 *
 * fork: pthread_atfork handlers take, in lock order, the init lock, the
 * platform's overflow-slot guard, every kspan lock (kspan_lock_all, in
 * lock order) and the platform's reservation lock,
 * so the child's copy of the heap is never caught mid-update under a lock.
 * The parent releases them.  The child resets them (kspan_fork_child): a
 * thread that was waiting on a ticket lock in the parent took a ticket that
 * nobody in the child will ever serve.  The child's other CPU slots are
 * retired (their threads are gone, possibly mid fast path; see
 * ks_host_atfork_child).
 *
 * Not async-signal-safe (like glibc's malloc): a signal handler that
 * allocates while its thread is inside malloc may corrupt that thread's
 * cache, since the host cannot disable "interrupts" cheaply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>

#include <kspan/kmalloc.h>
#include <kspan/platform.h>
#include "arch/host/platform.h"
#include "lib/config.h"
#include "mm/malloc.h"


#define KS_EXPORT __attribute__((visibility("default")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define SHIM_PAGE 4096u
#define DEFAULT_ARENA_GB 64u
/* Free memory kept committed before the scavenger gives pages back to the
 * kernel (madvise): enough that a program cycling large blocks does not
 * fault them in again and again. */
#define SHIM_SCAVENGE ((size_t)64 << 20)
#define MAX_ARENA_GB 16384u /* 16 TiB: well inside a 47-bit address space */

/* glibc dropped cfree's declaration; it is still exported for old code. */
KS_EXPORT void cfree(void *p);

/* ---- lazy initialisation ------------------------------------------------ */

static bool ready;              /* kspan is set up (release/acquire) */
static int init_lock;           /* 0 free, 1 held */
static __thread __attribute__((tls_model("initial-exec"))) bool in_init;

__attribute__((noreturn, cold))
static void die(const char *msg)
{
	ks_plat_abort(msg);
}

static void init_lock_take(void)
{
	while (__atomic_exchange_n(&init_lock, 1, __ATOMIC_ACQUIRE))
		ks_plat_cpu_relax();
}

static void init_lock_drop(void)
{
	__atomic_store_n(&init_lock, 0, __ATOMIC_RELEASE);
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

/* KSPAN_ARENA_GB, or 0 when unset.  Parsed by hand: nothing here may
 * allocate. */
static unsigned arena_gb_from_env(void)
{
	const char *s = getenv("KSPAN_ARENA_GB");
	if (!s || !*s)
		return 0;
	unsigned long v = 0;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9' || v > MAX_ARENA_GB)
			die("KSPAN_ARENA_GB must be a whole number of GiB from 1 to 16384");
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v == 0 || v > MAX_ARENA_GB)
		die("KSPAN_ARENA_GB must be a whole number of GiB from 1 to 16384");
	return (unsigned)v;
}

/* A whole number from the environment: def when unset or empty, else it
 * must be digits between lo and hi (or die with msg). */
__attribute__((unused))
static unsigned long env_number(const char *name, unsigned long def,
                                unsigned long lo, unsigned long hi, const char *msg)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	unsigned long v = 0;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9' || v > hi)
			die(msg);
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v < lo || v > hi)
		die(msg);
	return v;
}

/* (Not strcmp: libkspan.a needs only the libc functions
 * tests/preload/check-lib.sh lists.) */
static bool streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* KSPAN_GUARD: 0 (off), 1 (all) or N (1 in N). */
static unsigned guard_sample_from_env(void)
{
	static const char bad[] = "KSPAN_GUARD must be all, 1/N (N a whole number "
	                          "from 1 to 1000000000) or 0";
	const char *s = getenv("KSPAN_GUARD");
	if (!s || !*s || streq(s, "0"))
		return 0;
	if (streq(s, "all"))
		return 1;
	if (s[0] != '1' || s[1] != '/' || !s[2])
		die(bad);
	unsigned long v = 0;
	for (const char *c = s + 2; *c; c++) {
		if (*c < '0' || *c > '9' || v > 1000000000ul)
			die(bad);
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v == 0 || v > 1000000000ul)
		die(bad);
	return (unsigned)v;
}

/* KSPAN_TEST_SEED, decimal or 0x-hex; 0 when unset. */
static uint64_t seed_from_env(void)
{
	static const char bad[] = "KSPAN_TEST_SEED must be a decimal or 0x-hex number";
	const char *s = getenv("KSPAN_TEST_SEED");
	if (!s || !*s)
		return 0;
	uint64_t v = 0;
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			die(bad);
	}
	for (const char *c = s; *c; c++) {
		unsigned d;
		if (*c >= '0' && *c <= '9')
			d = (unsigned)(*c - '0');
		else if (base == 16 && *c >= 'a' && *c <= 'f')
			d = (unsigned)(*c - 'a' + 10);
		else if (base == 16 && *c >= 'A' && *c <= 'F')
			d = (unsigned)(*c - 'A' + 10);
		else
			die(bad);
		if (v > (UINT64_MAX - d) / base)
			die(bad);
		v = v * base + d;
	}
	return v;
}

#if KSPAN_DEBUG_HEAP
/* The guard mode (see the top of the file); after kspan_init. */
static void guard_init(void)
{
	unsigned sample = guard_sample_from_env();
	unsigned long below = env_number("KSPAN_GUARD_BELOW", 0, 0, 1,
	                                  "KSPAN_GUARD_BELOW must be 0 or 1");
	unsigned long quarantine = env_number("KSPAN_GUARD_QUARANTINE", 65536, 1,
	                                       1ul << 26, "KSPAN_GUARD_QUARANTINE must be "
	                                       "a number of slots from 1 to 67108864");
	unsigned long max_mb = env_number("KSPAN_GUARD_MAX_MB", 1024, 1, 1ul << 24,
	                                  "KSPAN_GUARD_MAX_MB must be a whole number "
	                                  "of MiB from 1 to 16777216");
	unsigned long pool_gb = env_number("KSPAN_GUARD_POOL_GB", 0, 1, 16384,
	                                   "KSPAN_GUARD_POOL_GB must be a whole number "
	                                   "of GiB from 1 to 16384");
	unsigned long align = env_number("KSPAN_GUARD_ALIGN", 16, 1, 16,
	                                 "KSPAN_GUARD_ALIGN must be 1, 2, 4, 8 or 16");
	if (align & (align - 1))
		die("KSPAN_GUARD_ALIGN must be 1, 2, 4, 8 or 16");
	if (!sample)
		return;
	unsigned long mmc = ks_host_max_map_count();
	struct kspan_guard_config cfg = {
		.sample = sample,
		.below = (int)below,
		.max_committed = (size_t)max_mb << 20,
		.max_live = mmc > 20000 ? (mmc - 16384) / 2 : mmc / 4,
		.quarantine = quarantine,
		.min_align = align,
	};
	int rc = -1;
	if (pool_gb) {
		cfg.pool_bytes = (size_t)pool_gb << 30;
		rc = kspan_guard_configure(&cfg);
		if (rc != 0)
			die("cannot reserve the guard pool of KSPAN_GUARD_POOL_GB GiB "
			    "(address space limit?); try a smaller KSPAN_GUARD_POOL_GB");
	} else {
		static const unsigned tries[] = { 64, 16, 4, 1 };
		for (size_t i = 0; rc != 0 && i < sizeof(tries) / sizeof(tries[0]); i++) {
			cfg.pool_bytes = (size_t)tries[i] << 30;
			rc = kspan_guard_configure(&cfg);
		}
		if (rc != 0)
			die("cannot reserve a guard pool of even 1 GiB (address space limit?)");
	}
	/* With guard markers (Linux 6.13) a live slot costs no mapping of
	 * its own: no bound on live objects but the committed memory. */
	struct kspan_guard_stats gs;
	kspan_guard_stats(&gs);
	if (ks_host_guard_markers((void *)(uintptr_t)gs.pool_base, gs.pool_bytes) == 0) {
		cfg.max_live = 0;
		if (kspan_guard_configure(&cfg) != 0)
			die("kspan_guard_configure failed");
	}
	if (ks_host_guard_faults() != 0)
		die("cannot install the guard mode's SIGSEGV handler");
}
#else
static void guard_init(void)
{
	if (guard_sample_from_env())
		die("KSPAN_GUARD needs the debug shim (build/host/libkspan-debug.so); "
		    "this is the release libkspan.so");
}
#endif

__attribute__((noinline, cold))
static void shim_init(void)
{
	if (in_init)
		die("malloc called while kspan was initialising itself (a bug: "
		    "nothing in kspan's init may allocate)");
	init_lock_take();
	if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		init_lock_drop();
		return;
	}
	in_init = true;
	unsigned gb = arena_gb_from_env();
	uint64_t seed = seed_from_env();
	int rc = -1;
	if (gb) {
		struct kspan_config cfg = { .arena_bytes = (size_t)gb << 30,
		                            .scavenge_threshold = SHIM_SCAVENGE,
		                            .seed = seed };
		rc = kspan_init(&cfg);
		if (rc != 0)
			die("cannot reserve the heap arena of KSPAN_ARENA_GB GiB "
			    "(address space limit?); try a smaller KSPAN_ARENA_GB");
	} else {
		static const unsigned tries[] = { DEFAULT_ARENA_GB, 16, 4, 1 };
		for (size_t i = 0; rc != 0 && i < sizeof(tries) / sizeof(tries[0]); i++) {
			struct kspan_config cfg = { .arena_bytes = (size_t)tries[i] << 30,
			                            .scavenge_threshold = SHIM_SCAVENGE,
			                            .seed = seed };
			rc = kspan_init(&cfg);
		}
		if (rc != 0)
			die("cannot reserve a heap arena of even 1 GiB "
			    "(address space limit?)");
	}
	guard_init();
	ks_host_set_thread_exit_hook(ks_drain_cpu_caches);
	in_init = false;
	__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	/* After ready: glibc's pthread_atfork may allocate its handler
	 * record, and that allocation must find the heap set up.  The init
	 * lock is still held, so a concurrent fork's prepare waits. */
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
		die("pthread_atfork failed: fork could not be made safe");
	init_lock_drop();
}

static inline void ensure_init(void)
{
	if (unlikely(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)))
		shim_init();
}

#if KSPAN_DEBUG_HEAP
/* The debug shim starts when it is loaded, so that a bad KSPAN_GUARD*
 * stops even a program that never calls malloc, and the guard mode's
 * SIGSEGV handler is in place before the program installs its own. */
__attribute__((constructor))
static void shim_load(void)
{
	ensure_init();
}
#endif

/* kspan's statistics and, in guard mode, the pool's. */
static void print_stats(void)
{
	kspan_print_stats();
#if KSPAN_DEBUG_HEAP
	struct kspan_guard_stats g;
	kspan_guard_stats(&g);
	if (!g.pool_bytes)
		return;
	char buf[400];
	int n = snprintf(buf, sizeof(buf), "kspan guard: %llu guarded allocations, "
	                 "%llu frees, %llu not guarded (pool limits), %llu live "
	                 "(peak %llu), %llu KiB committed (peak %llu KiB), %llu in "
	                 "quarantine, %llu released; slot records %llu KiB\n",
	                 (unsigned long long)g.allocs, (unsigned long long)g.frees,
	                 (unsigned long long)g.fallbacks, (unsigned long long)g.live,
	                 (unsigned long long)g.peak_live,
	                 (unsigned long long)(g.committed >> 10),
	                 (unsigned long long)(g.peak_committed >> 10),
	                 (unsigned long long)g.quarantined,
	                 (unsigned long long)g.released,
	                 (unsigned long long)(g.meta_committed >> 10));
	if (n > 0)
		ks_plat_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
#endif
}

/* KSPAN_STATS: statistics at exit (see the top of the file).  kspan prints
 * through ks_plat_write, to fd 2; for a file, fd 2 is pointed at it for the
 * time of the print (programs such as coreutils close stderr before exit). */
__attribute__((destructor))
static void shim_exit_stats(void)
{
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
		return;
	const char *s = getenv("KSPAN_STATS");
	if (!s || !*s || (s[0] == '0' && s[1] == 0))
		return;
	if (!strchr(s, '/')) {
		print_stats();
		return;
	}
	int fd = open(s, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	int saved = dup(2);
	if (dup2(fd, 2) == 2)
		print_stats();
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	} else {
		close(2);
	}
	close(fd);
}

/* ---- fork --------------------------------------------------------------- */

static void fork_prepare(void)
{
	init_lock_take();
	ks_host_atfork_prepare_slots();
	kspan_lock_all();
	ks_host_atfork_prepare_memory();
}

static void fork_parent(void)
{
	/* Releasing never blocks, so the order here does not matter. */
	kspan_unlock_all();
	ks_host_atfork_parent();
	init_lock_drop();
}

/* The child is single-threaded.  Releasing the locks is not enough: a
 * ticket lock serves waiters in turn, and a thread of the parent that was
 * already waiting holds a ticket no thread of the child will ever give
 * back.  kspan_fork_child() resets every allocator lock to free with no
 * waiters. */
static void fork_child(void)
{
	ks_host_atfork_child();
	kspan_fork_child();
	__atomic_store_n(&init_lock, 0, __ATOMIC_RELEASE);
}

/* ---- the C allocation functions ----------------------------------------- */

/* Out of line, so that malloc keeps nothing live across its call to
 * kmalloc (no spills on the fast path) and jumps here on failure. */
__attribute__((noinline, cold))
static void *nomem(void)
{
	errno = ENOMEM;
	return NULL;
}

/* Reports name the function the program called, and the debug heap records
 * the program's call site (the return address into the caller). */
#define SITE __builtin_return_address(0)

/* malloc's slow path, a tail call from its fast path: kspan's own slow
 * path, and on a NULL (before kspan is set up its caches are empty and its
 * slow path returns NULL, so malloc needs no test of its own) kspan set
 * up and asked again. */
#if !KSPAN_DEBUG_HEAP
__attribute__((noinline))
static void *malloc_miss(size_t size)
{
	void *p = ks_malloc_slow(size);
	if (likely(p))
		return p;
	ensure_init();
	p = kspan_malloc_as(size, "malloc", NULL);
	if (unlikely(!p))
		return nomem();
	return p;
}
#endif

/* The release shim inlines kspan's fast paths (mm/malloc.h): a hit is
 * straight-line code, a miss a tail call.  The debug shim's every call
 * goes through the debug heap, which records the call site. */
KS_EXPORT void *malloc(size_t size)
{
#if !KSPAN_DEBUG_HEAP
	void *p;
	if (likely(ks_malloc_fast(size, &p)))
		return p;
	return malloc_miss(size);
#else
	ensure_init();
	void *p = kspan_malloc_as(size, "malloc", SITE);
	if (unlikely(!p))
		return nomem();
	return p;
#endif
}

/* free(NULL) and frees before set-up need no test here: NULL, like any
 * pointer outside the heap, takes kspan's slow path, which returns for
 * NULL (and before set-up the heap holds nothing to free). */
KS_EXPORT void free(void *p)
{
#if !KSPAN_DEBUG_HEAP
	if (likely(ks_free_fast(p)))
		return;
	ks_free_slow(p, "free");
#else
	kspan_free_as(p, "free", SITE);
#endif
}

KS_EXPORT void cfree(void *p)
{
	if (unlikely(!p))
		return;
	ensure_init();
	kspan_free_as(p, "cfree", SITE);
}

KS_EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;
	if (unlikely(__builtin_mul_overflow(n, size, &total)))
		return nomem();
	ensure_init();
	void *p = kspan_calloc_as(n, size, "calloc", SITE);
	if (unlikely(!p))
		return nomem();
	return p;
}

/* realloc and reallocarray share this; fn and site are the program's. */
static void *realloc_as(void *p, size_t size, const char *fn, void *site)
{
	ensure_init();
	if (size == 0) {
		if (p)
			kspan_free_as(p, fn, site);
		return p ? NULL : kspan_malloc_as(0, fn, site);
	}
	void *q = kspan_realloc_as(p, size, fn, site);
	if (unlikely(!q))
		return nomem();
	return q;
}

KS_EXPORT void *realloc(void *p, size_t size)
{
	return realloc_as(p, size, "realloc", SITE);
}

KS_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (unlikely(__builtin_mul_overflow(n, size, &total)))
		return nomem();
	return realloc_as(p, total, "reallocarray", SITE);
}

/* size bytes aligned to align, a power of two. */
static void *aligned(size_t align, size_t size, const char *fn, void *site)
{
	ensure_init();
	/* Through kspan_aligned_as even for small alignments: the guard mode
	 * gives malloc only the size's natural alignment. */
	void *p = kspan_aligned_as(size, align, fn, site);
	if (unlikely(!p))
		return nomem();
	if (unlikely((uintptr_t)p & (align - 1)))
		die("kmalloc_aligned returned a misaligned block");
	return p;
}

static bool pow2(size_t x)
{
	return x && !(x & (x - 1));
}

KS_EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
	if (!pow2(align) || align % sizeof(void *))
		return EINVAL;
	void *p = aligned(align, size, "posix_memalign", SITE);
	if (!p)
		return ENOMEM;
	*memptr = p;
	return 0;
}

KS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (!pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return aligned(align, size, "aligned_alloc", SITE);
}

KS_EXPORT void *memalign(size_t align, size_t size)
{
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	/* glibc: a non-power-of-two alignment is rounded up to one. */
	size_t a = 1;
	while (a < align)
		a <<= 1;
	return aligned(a, size, "memalign", SITE);
}

KS_EXPORT void *valloc(size_t size)
{
	return aligned(SHIM_PAGE, size, "valloc", SITE);
}

KS_EXPORT void *pvalloc(size_t size)
{
	size_t rounded;
	if (unlikely(__builtin_add_overflow(size, SHIM_PAGE - 1, &rounded)))
		return nomem();
	rounded &= ~(size_t)(SHIM_PAGE - 1);
	return aligned(SHIM_PAGE, rounded ? rounded : SHIM_PAGE, "pvalloc", SITE);
}

KS_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	ensure_init();
	return kspan_size_as(p, "malloc_usable_size");
}
