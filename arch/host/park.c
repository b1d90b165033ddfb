/*
 * Parking for the host build: spinlock waiters sleep in futex(2) instead
 * of spinning (the host side of lib/spinlock.h's ks_spin_parking, as
 * arch/x86_64/park.h is the kernel's).
 *
 * Why: a host thread holding a kspan lock, or the waiter whose ticket is
 * next, can lose its core to the scheduler.  With more threads than
 * cores (larson with 8 threads on 2 cores) every waiter behind it then
 * spins away the time slices the holder needs, and throughput collapses
 * (perf: 45% of the run in ks_spin_wait, most of the rest in sched_yield).
 * Parked waiters give their cores back until the lock comes near them.
 *
 * How: a waiter for ticket t waits on the lock's owner word with
 * FUTEX_WAIT_BITSET and the bit t % 32; the kernel's futex checks that
 * the word still holds the owner the waiter saw, atomically with going to
 * sleep, so a wake-up cannot be lost between the waiter's last look and
 * its sleep.  An unlock that sees parked waiters wakes the bits of the new
 * owner and the next in line (FUTEX_WAKE_BITSET): only them, or the few
 * that share their bits.  A waiter woken for another reason just looks
 * again.  Fairness is unchanged: tickets are still served in order.
 *
 * Installed by a constructor, before main and before any thread: the host
 * suites and the shim link this object, libkspan.a (for other kernels)
 * does not.
 */
#define _GNU_SOURCE
#include "lib/spinlock.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The ticket this thread announced (prepare), for its wait's bit. */
static __thread __attribute__((tls_model("initial-exec"))) uint32_t park_tag;

static uint32_t host_prepare(const void *word, uint32_t tag)
{
	(void)word;
	park_tag = tag;
	return 0;
}

static void host_cancel(void)
{
}

static void host_wait(const uint32_t *word, uint32_t val, uint32_t seq)
{
	(void)seq;
	syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, val, NULL, NULL,
	        1u << (park_tag & 31));
}

static void host_kick(const void *word, uint32_t lo, uint32_t n)
{
	uint32_t bits = 0;
	for (uint32_t i = 0; i < n && i < 32; i++)
		bits |= 1u << ((lo + i) & 31);
	syscall(SYS_futex, word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL,
	        bits);
}

static const struct ks_spin_parking host_parking = {
	.prepare = host_prepare,
	.cancel = host_cancel,
	.wait = host_wait,
	.kick = host_kick,
};

__attribute__((constructor))
static void host_parking_init(void)
{
	ks_spin_set_parking(&host_parking);
}
