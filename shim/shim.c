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
 *     of 8 bytes or fewer needs more);
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
 * KSPAN_STATS=1 in the environment prints kspan's statistics
 * (kspan_print_stats) on stderr when the process exits, KSPAN_STATS=PATH
 * (anything with a '/') appends them to the file PATH: a way to see that
 * kspan is the allocator of a program, and how its caches did.
 *
 * Threads: each thread gets a CPU slot of its own (arch/host/platform.c);
 * when it exits its cache is drained back to the central lists
 * (ks_host_set_thread_exit_hook(kspan_drain_cpu)).
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
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>

#include <kspan/kmalloc.h>
#include <kspan/platform.h>
#include "arch/host/platform.h"
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
	int rc = -1;
	if (gb) {
		struct kspan_config cfg = { .arena_bytes = (size_t)gb << 30,
		                            .scavenge_threshold = SHIM_SCAVENGE };
		rc = kspan_init(&cfg);
		if (rc != 0)
			die("cannot reserve the heap arena of KSPAN_ARENA_GB GiB "
			    "(address space limit?); try a smaller KSPAN_ARENA_GB");
	} else {
		static const unsigned tries[] = { DEFAULT_ARENA_GB, 16, 4, 1 };
		for (size_t i = 0; rc != 0 && i < sizeof(tries) / sizeof(tries[0]); i++) {
			struct kspan_config cfg = { .arena_bytes = (size_t)tries[i] << 30,
			                            .scavenge_threshold = SHIM_SCAVENGE };
			rc = kspan_init(&cfg);
		}
		if (rc != 0)
			die("cannot reserve a heap arena of even 1 GiB "
			    "(address space limit?)");
	}
	ks_host_set_thread_exit_hook(kspan_drain_cpu);
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
		kspan_print_stats();
		return;
	}
	int fd = open(s, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	int saved = dup(2);
	if (dup2(fd, 2) == 2)
		kspan_print_stats();
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
	void *p = align <= 8 ? kspan_malloc_as(size, fn, site)
	                     : kspan_aligned_as(size, align, fn, site);
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
