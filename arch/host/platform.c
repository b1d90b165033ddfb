/*
 * The host (Linux, user space) implementation of include/kspan/platform.h.
 *
 * It lets the very same mm/ code that runs in the kernel run in a process:
 *   - a "CPU" is a slot a thread claims on first use and gives back when it
 *     exits, so each live thread has its own mcache and the lock-free fast
 *     path stays lock-free.  When every slot is taken, further threads share
 *     one overflow slot and ks_plat_irq_save() serialises them with a lock
 *     (the host's stand-in for "interrupts off on this CPU");
 *   - address space is reserved with mmap(PROT_NONE, MAP_NORESERVE),
 *     committed with mprotect (fresh pages read as zero) and decommitted
 *     with madvise(MADV_DONTNEED) + mprotect(PROT_NONE), so the heap's
 *     scavenging really gives memory back to the kernel;
 *   - it checks its callers the way a page source should (after Fuchsia's
 *     test PageManager): commit and decommit must be page aligned and lie
 *     inside one reservation, or the process aborts with a message.  It
 *     counts committed bytes exactly (a bit per 4 KiB page) and can be told
 *     to fail commits beyond a limit, for out-of-memory tests;
 *   - fork support for the LD_PRELOAD shim (shim/shim.c): the shim
 *     takes this file's two mutexes around fork, in lock order, and in the
 *     child the slots of the threads that did not survive the fork are
 *     retired for good (see ks_host_atfork_child);
 *   - for the guard mode (mm/guard.c): a reservation can be switched to
 *     guard-marker mode (ks_host_guard_markers: one read-write mapping,
 *     uncommitted pages marked with MADV_GUARD_INSTALL, so no mapping is
 *     split per object), and the SIGSEGV handler that turns a fault in the
 *     guarded pool into kspan's one-line report (ks_host_guard_faults; not
 *     in the release shim).
 *
 * The same file serves the cmocka suites (ASan, -O1) and the release shim
 * (-O2, LTO, -fPIC).  For the shim the per-thread variables use the
 * initial-exec TLS model: a preloaded or linked library gets static TLS, so
 * reading the slot is one %fs-relative load with no __tls_get_addr call,
 * and LTO can inline ks_plat_cpu_id/irq_save/irq_restore into kmalloc and
 * kfree with their slow parts (slot claim, overflow lock) left out of line.
 * (The price: the library cannot be dlopen()ed into a process whose static
 * TLS is used up; it is meant for LD_PRELOAD and static linking.)
 *
 * Re-entrancy: claiming a slot calls pthread_setspecific, which may itself
 * call calloc (keys past the first 32).  The slot is recorded before that
 * call, so the nested allocation runs on the slot just claimed instead of
 * recursing into another claim.
 */
#define _GNU_SOURCE
#include <kspan/platform.h>
#include <kspan/kmalloc.h>
#include "arch/host/platform.h"
#include "lib/config.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define HOST_PAGE 4096u
#define MAX_RESERVATIONS 64

/* Thread-local, initial-exec (see the header comment). */
#define HOST_TLS __thread __attribute__((tls_model("initial-exec")))

/* The rare parts of the slot hooks (claiming a slot, the overflow slot's
 * lock) stay out of line, so that the inlined fast paths stay short. */
#define HOST_COLD __attribute__((noinline, cold))

/* ---- Output ---------------------------------------------------------- */

void ks_plat_write(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(2, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void ks_plat_abort(const char *msg)
{
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "kspan: %s\n", msg);
	if (n > 0)
		ks_plat_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	abort();
}

uint64_t ks_plat_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ks_plat_cpu_relax(void)
{
	static HOST_TLS unsigned spins;
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
	/* A host thread holding a spinlock can be preempted: yield now and
	 * then instead of burning the holder's time slice. */
	if ((++spins & 63) == 0)
		sched_yield();
}

/* ---- CPU slots ------------------------------------------------------- */

/* Slot KSPAN_MAX_CPUS - 1 is the shared overflow slot. */
#define OVERFLOW_SLOT (KSPAN_MAX_CPUS - 1)
#define SLOT_WORDS ((KSPAN_MAX_CPUS + 63) / 64)

/* slot_used: claimed slots.  slot_lost: slots whose threads did not survive
 * a fork (child side); they stay claimed so that nobody reuses an mcache
 * that may have been caught mid-update, and are not counted as in use. */
static uint64_t slot_used[SLOT_WORDS];
static uint64_t slot_lost[SLOT_WORDS];
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static void (*thread_exit_hook)(void);
static pthread_mutex_t overflow_lock = PTHREAD_MUTEX_INITIALIZER;

/* -1: no slot yet; -2: the thread has exited (late calls share the
 * overflow slot); otherwise the slot. */
static HOST_TLS int my_slot = -1;
static HOST_TLS unsigned guard_depth;
/* my_slot when the thread has a slot of its own, else KSPAN_MAX_CPUS: what
 * the allocator's fast paths read (ks_plat_own_slot), one %fs load.  The
 * allocator keeps slot KSPAN_MAX_CPUS's cache empty and owning nothing, so
 * a thread without a slot of its own falls to the guarded slow paths. */
static HOST_TLS unsigned my_fast = KSPAN_MAX_CPUS;

static void slot_release(void *arg)
{
	(void)arg;
	if (my_slot < 0)
		return;
	if (thread_exit_hook)
		thread_exit_hook();
	if (my_slot != OVERFLOW_SLOT)
		__atomic_fetch_and(&slot_used[my_slot / 64],
		                   ~(1ull << (my_slot % 64)), __ATOMIC_RELEASE);
	my_slot = -2; /* exited: late calls use the overflow slot */
	my_fast = KSPAN_MAX_CPUS;
}

static void slot_key_init(void)
{
	if (pthread_key_create(&slot_key, slot_release) != 0)
		ks_plat_abort("host platform: pthread_key_create failed");
}

/* First use of a slot by this thread (or first use after its exit). */
HOST_COLD static void slot_claim(void)
{
	if (my_slot == -2) {
		my_slot = OVERFLOW_SLOT;
		return;
	}
	pthread_once(&slot_once, slot_key_init);
	for (int i = 0; i < OVERFLOW_SLOT; i++) {
		uint64_t bit = 1ull << (i % 64);
		uint64_t old = __atomic_fetch_or(&slot_used[i / 64], bit,
		                                 __ATOMIC_ACQUIRE);
		if (!(old & bit)) {
			/* Record the slot first: pthread_setspecific may
			 * allocate, and that allocation must find it. */
			my_slot = i;
			/* Non-NULL value so the destructor runs at exit. */
			if (pthread_setspecific(slot_key, (void *)1) != 0) {
				/* No destructor, so no drain at exit: keep
				 * to the overflow slot instead. */
				__atomic_fetch_and(&slot_used[i / 64], ~bit,
				                   __ATOMIC_RELEASE);
				my_slot = OVERFLOW_SLOT;
			}
			return;
		}
	}
	my_slot = OVERFLOW_SLOT;
}

void ks_host_set_thread_exit_hook(void (*fn)(void))
{
	thread_exit_hook = fn;
}

unsigned ks_host_slots_in_use(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < SLOT_WORDS; i++)
		n += (unsigned)__builtin_popcountll(
			__atomic_load_n(&slot_used[i], __ATOMIC_RELAXED) &
			~__atomic_load_n(&slot_lost[i], __ATOMIC_RELAXED));
	return n;
}

unsigned ks_host_slots_lost(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < SLOT_WORDS; i++)
		n += (unsigned)__builtin_popcountll(
			__atomic_load_n(&slot_lost[i], __ATOMIC_RELAXED));
	return n;
}

unsigned ks_host_switch_slot(unsigned slot)
{
	unsigned old = ks_plat_cpu_id();   /* claims a slot if it had none */
	if (slot > OVERFLOW_SLOT || (slot != OVERFLOW_SLOT &&
	    !(__atomic_load_n(&slot_used[slot / 64], __ATOMIC_ACQUIRE) & (1ull << (slot % 64))))) {
		char msg[96];
		snprintf(msg, sizeof(msg), "ks_host_switch_slot(%u): not a claimed CPU slot", slot);
		ks_plat_abort(msg);
	}
	my_slot = (int)slot;
	my_fast = slot == OVERFLOW_SLOT ? KSPAN_MAX_CPUS : slot;
	return old;
}

HOST_COLD static unsigned cpu_id_slow(void)
{
	if (my_slot < 0)
		slot_claim();
	if (my_slot != OVERFLOW_SLOT)
		my_fast = (unsigned)my_slot;
	return (unsigned)my_slot;
}

unsigned ks_plat_cpu_id(void)
{
	unsigned s = my_fast;
	if (__builtin_expect(s >= KSPAN_MAX_CPUS, 0))
		return cpu_id_slow();
	return s;
}

unsigned ks_plat_own_slot(void)
{
	return my_fast;
}

/* No interrupts here, so no interrupt slots. */
unsigned ks_plat_irq_slot(unsigned cpu)
{
	(void)cpu;
	return KSPAN_MAX_CPUS;
}

/* Threads that share the overflow slot take turns, as if each disabled
 * interrupts on that one CPU.  Returns 1 if this call took the lock
 * (nested guards do not), which ks_plat_irq_restore gets back. */
HOST_COLD static ks_irqstate_t irq_save_slow(void)
{
	if (cpu_id_slow() != OVERFLOW_SLOT)
		return 0;
	if (guard_depth++ == 0)
		pthread_mutex_lock(&overflow_lock);
	return 1;
}

HOST_COLD static void overflow_leave(void)
{
	if (--guard_depth == 0)
		pthread_mutex_unlock(&overflow_lock);
}

ks_irqstate_t ks_plat_irq_save(void)
{
	if (__builtin_expect(my_fast >= KSPAN_MAX_CPUS, 0))
		return irq_save_slow();
	return 0;
}

void ks_plat_irq_restore(ks_irqstate_t st)
{
	if (__builtin_expect(st != 0, 0))
		overflow_leave();
}

/* ---- Address space --------------------------------------------------- */

struct reservation {
	uintptr_t base;
	size_t len;
	uint64_t *committed; /* one bit per HOST_PAGE */
	uint64_t *touched;   /* guard-marker mode: one bit per MARKER_CHUNK
	                        whose uncommitted pages carry guard markers;
	                        NULL: PROT_NONE mode */
};

/* Guard-marker mode (ks_host_guard_markers): Linux 6.13's lightweight
 * guard regions.  The reservation is one read-write mapping; pages not
 * committed carry guard markers (an access faults, like PROT_NONE), put
 * in 2 MiB at a time around the first commit there; commit removes them,
 * decommit puts them back (which also discards the pages).  No mapping is
 * split, so the number of live guarded objects is not bounded by
 * vm.max_map_count, and a commit or decommit is one madvise. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE  103
#endif
#define MARKER_CHUNK ((uintptr_t)2 << 20)

static struct reservation resv[MAX_RESERVATIONS];
static int nresv;
static pthread_mutex_t resv_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t committed_bytes;
static size_t commit_limit;

size_t ks_host_committed(void)
{
	return __atomic_load_n(&committed_bytes, __ATOMIC_RELAXED);
}

void ks_host_set_commit_limit(size_t limit)
{
	commit_limit = limit;
}

static void *map_none(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void *ks_plat_reserve(size_t len, size_t align)
{
	if (align < HOST_PAGE || (align & (align - 1)) || len == 0)
		ks_plat_abort("ks_plat_reserve: bad length or alignment");
	len = (len + HOST_PAGE - 1) & ~(size_t)(HOST_PAGE - 1);
	if (len + align < len)
		return NULL;
	uint8_t *raw = map_none(len + align);
	if (!raw)
		return NULL;
	uintptr_t base = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
	if (base > (uintptr_t)raw)
		munmap(raw, base - (uintptr_t)raw);
	uintptr_t end = (uintptr_t)raw + len + align;
	if (end > base + len)
		munmap((void *)(base + len), end - (base + len));

	size_t bits_bytes = ((len / HOST_PAGE + 63) / 64) * 8;
	uint64_t *bits = mmap(NULL, bits_bytes, PROT_READ | PROT_WRITE,
	                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (bits == MAP_FAILED) {
		munmap((void *)base, len);
		return NULL;
	}
	pthread_mutex_lock(&resv_lock);
	if (nresv == MAX_RESERVATIONS)
		ks_plat_abort("ks_plat_reserve: too many reservations");
	resv[nresv++] = (struct reservation){ base, len, bits, NULL };
	pthread_mutex_unlock(&resv_lock);
	return (void *)base;
}

/* Find the reservation holding [p, p+len); resv_lock held. */
static struct reservation *resv_find(uintptr_t p, size_t len, const char *who)
{
	char msg[200];
	if ((p | len) & (HOST_PAGE - 1)) {
		snprintf(msg, sizeof(msg), "%s: range %#lx+%#lx is not page aligned",
		         who, (unsigned long)p, (unsigned long)len);
		ks_plat_abort(msg);
	}
	for (int i = 0; i < nresv; i++)
		if (p >= resv[i].base && p + len <= resv[i].base + resv[i].len &&
		    p + len >= p)
			return &resv[i];
	snprintf(msg, sizeof(msg), "%s: range %#lx+%#lx is not in a reservation",
	         who, (unsigned long)p, (unsigned long)len);
	ks_plat_abort(msg);
}

int ks_plat_commit(void *addr, size_t len)
{
	uintptr_t p = (uintptr_t)addr;
	pthread_mutex_lock(&resv_lock);
	struct reservation *r = resv_find(p, len, "ks_plat_commit");
	size_t first = (p - r->base) / HOST_PAGE, n = len / HOST_PAGE;
	size_t fresh = 0;
	for (size_t i = first; i < first + n; i++)
		if (!(r->committed[i / 64] & (1ull << (i % 64))))
			fresh++;
	if (commit_limit && committed_bytes + fresh * HOST_PAGE > commit_limit) {
		pthread_mutex_unlock(&resv_lock);
		return -1;
	}
	if (fresh && r->touched) {
		/* Markers on the chunks around the range first, as far from it
		 * as it is long (so that the rest of a guarded slot, and the
		 * pages next to it, fault), then none on the range. */
		uintptr_t margin = len + HOST_PAGE;
		uintptr_t lo = p - r->base > margin ? p - margin : r->base;
		uintptr_t hi = r->base + r->len - (p + len) > margin ? p + len + margin
		                                                     : r->base + r->len;
		for (uintptr_t c = (lo - r->base) / MARKER_CHUNK;
		     c <= (hi - 1 - r->base) / MARKER_CHUNK; c++) {
			if (r->touched[c / 64] & (1ull << (c % 64)))
				continue;
			uintptr_t cs = r->base + c * MARKER_CHUNK;
			size_t cl = cs + MARKER_CHUNK <= r->base + r->len ? MARKER_CHUNK
			                                                  : r->base + r->len - cs;
			if (madvise((void *)cs, cl, MADV_GUARD_INSTALL) != 0) {
				pthread_mutex_unlock(&resv_lock);
				return -1;
			}
			r->touched[c / 64] |= 1ull << (c % 64);
		}
		if (madvise(addr, len, MADV_GUARD_REMOVE) != 0) {
			pthread_mutex_unlock(&resv_lock);
			return -1;
		}
	} else if (fresh && mprotect(addr, len, PROT_READ | PROT_WRITE) != 0) {
		pthread_mutex_unlock(&resv_lock);
		return -1;
	}
	for (size_t i = first; i < first + n; i++)
		r->committed[i / 64] |= 1ull << (i % 64);
	committed_bytes += fresh * HOST_PAGE;
	pthread_mutex_unlock(&resv_lock);
	return 0;
}

void ks_plat_decommit(void *addr, size_t len)
{
	uintptr_t p = (uintptr_t)addr;
	pthread_mutex_lock(&resv_lock);
	struct reservation *r = resv_find(p, len, "ks_plat_decommit");
	size_t first = (p - r->base) / HOST_PAGE, n = len / HOST_PAGE;
	size_t gone = 0;
	for (size_t i = first; i < first + n; i++) {
		uint64_t bit = 1ull << (i % 64);
		if (r->committed[i / 64] & bit) {
			r->committed[i / 64] &= ~bit;
			gone++;
		}
	}
	if (gone && r->touched) {
		/* Installing markers discards the pages under them. */
		if (madvise(addr, len, MADV_GUARD_INSTALL) != 0)
			ks_plat_abort("ks_plat_decommit: MADV_GUARD_INSTALL failed");
	} else if (gone) {
		madvise(addr, len, MADV_DONTNEED);
		mprotect(addr, len, PROT_NONE);
	}
	committed_bytes -= gone * HOST_PAGE;
	pthread_mutex_unlock(&resv_lock);
}

int ks_host_guard_markers(void *addr, size_t len)
{
	uintptr_t p = (uintptr_t)addr;
	pthread_mutex_lock(&resv_lock);
	struct reservation *r = resv_find(p, len, "ks_host_guard_markers");
	int rc = -1;
	if (r->base != p || r->len != len || r->touched)
		goto out;
	for (size_t i = 0; i < (len / HOST_PAGE + 63) / 64; i++)
		if (r->committed[i])
			goto out;   /* only a reservation nothing was committed in */
	size_t tbytes = ((len / MARKER_CHUNK + 1 + 63) / 64) * 8;
	uint64_t *touched = mmap(NULL, tbytes, PROT_READ | PROT_WRITE,
	                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (touched == MAP_FAILED)
		goto out;
	/* Read-write over the whole reservation, then markers on the first
	 * page to see that the kernel has them (EINVAL before 6.13). */
	void *m = mmap(addr, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (m != addr || madvise(addr, HOST_PAGE, MADV_GUARD_INSTALL) != 0) {
		if (mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		         MAP_NORESERVE | MAP_FIXED, -1, 0) != addr)
			ks_plat_abort("ks_host_guard_markers: cannot restore the reservation");
		munmap(touched, tbytes);
		goto out;
	}
	r->touched = touched;
	rc = 0;
out:
	pthread_mutex_unlock(&resv_lock);
	return rc;
}

/* ---- fork ------------------------------------------------------------ */

/* The overflow slot's guard comes first in kspan's lock order (it stands
 * for "interrupts off", taken before any spinlock); the reservation lock
 * comes last (the platform's own, under the heap lock). */
void ks_host_atfork_prepare_slots(void)
{
	pthread_mutex_lock(&overflow_lock);
}

void ks_host_atfork_prepare_memory(void)
{
	pthread_mutex_lock(&resv_lock);
}

void ks_host_atfork_parent(void)
{
	pthread_mutex_unlock(&resv_lock);
	pthread_mutex_unlock(&overflow_lock);
}

void ks_host_atfork_child(void)
{
	/* The child's thread is the replica of the one that took both locks
	 * in prepare, so it may release them (a mutex, unlike a ticket lock,
	 * keeps no queue that the vanished waiters could still own). */
	pthread_mutex_unlock(&resv_lock);
	pthread_mutex_unlock(&overflow_lock);
	/* Retire every slot but the caller's.  Their threads are gone and may
	 * have been in the middle of their lock-free fast path when the
	 * address space was copied, so their mcaches cannot be trusted: they
	 * stay claimed forever (what they cached is leaked, at most one span
	 * per class and a few queued frees per slot).  The overflow slot was
	 * guarded by overflow_lock across the fork and stays usable. */
	for (int w = 0; w < SLOT_WORDS; w++) {
		uint64_t lost = slot_used[w];
		if (my_slot >= 0 && my_slot != OVERFLOW_SLOT && my_slot / 64 == w)
			lost &= ~(1ull << (my_slot % 64));
		slot_lost[w] |= lost;
	}
}

/* ---- guard-mode faults ------------------------------------------------ */

/* Only in builds with assertions or the debug heap: the release shim has
 * no guard mode, and its libkspan.a needs nothing of libc beyond what
 * tests/preload/check-lib.sh allows. */
#if KSPAN_DEBUG || KSPAN_DEBUG_HEAP
static struct sigaction prev_segv;

static void guard_fault(int sig, siginfo_t *si, void *ucv)
{
	int access = -1;
#if defined(__x86_64__)
	const ucontext_t *uc = ucv;
	access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;   /* #PF error code: W */
#endif
	char line[512] = "kspan: ";
	if (si->si_code > 0 &&
	    kspan_guard_fault((uintptr_t)si->si_addr, access, line + 7, sizeof(line) - 8)) {
		size_t n = strlen(line);
		line[n++] = '\n';
		ks_plat_write(line, n);
		abort();
	}
	/* Not the pool's: whoever handled SIGSEGV before, or the default. */
	if ((prev_segv.sa_flags & SA_SIGINFO) && prev_segv.sa_sigaction) {
		prev_segv.sa_sigaction(sig, si, ucv);
		return;
	}
	if (!(prev_segv.sa_flags & SA_SIGINFO) && prev_segv.sa_handler != SIG_DFL &&
	    prev_segv.sa_handler != SIG_IGN) {
		prev_segv.sa_handler(sig);
		return;
	}
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);   /* sent, not a fault: it would not repeat */
	/* A fault: returning runs the instruction again, which now kills the
	 * process as if no handler had been installed. */
}

int ks_host_guard_faults(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	struct sigaction old;
	if (sigaction(SIGSEGV, &sa, &old) != 0)
		return -1;
	if (old.sa_sigaction != guard_fault)
		prev_segv = old;
	return 0;
}

unsigned long ks_host_max_map_count(void)
{
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 65530;
	char buf[32];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unsigned long v = 0;
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (unsigned long)(buf[i] - '0');
	return v ? v : 65530;
}
#endif
