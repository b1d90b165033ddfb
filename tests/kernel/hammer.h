/*
 * The heap workload the SMP self-tests share (hammer.c): each CPU keeps a
 * table of slots and, at random, frees a full slot's object (checking its
 * fill pattern first) or fills an empty one with a new object of a random
 * size (mostly small, some up to 16 KiB, a rare large object).  Used by
 * tests/kernel/test_heap_smp.c and test_gc_smp.c.
 *
 * Work runs on CPUs 0..n-1 through ks_run_on_cpus; each CPU writes only
 * its own struct kt_hammer, which CPU 0 reads after the run.
 */
#ifndef KSPAN_TESTS_KERNEL_HAMMER_H
#define KSPAN_TESTS_KERNEL_HAMMER_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/platform.h>
#include "kernel/selftest.h"
#include "tests/kernel/smp_run.h"

#define KT_HAMMER_SLOTS 512

struct kt_slot {
	void *p;
	size_t n;
	uint64_t seed;
};

struct kt_hammer {
	unsigned cpu;
	uint64_t ops;              /* to do; 0: until stop_flag */
	struct kt_slot *slots;
	uint64_t done, allocs, frees, bytes, bad, fails;
	uint64_t cycles;
	uint64_t progress;         /* read by other CPUs while running */
	uint64_t stop_flag;        /* run until set (ops == 0) */
	uint64_t slow0, fslow0;    /* slow-path counters at setup */
} __attribute__((aligned(64)));

extern struct kt_hammer kt_hammer[KSPAN_MAX_CPUS];

/* Random request size: mostly small, some up to 2 KiB, few up to 16 KiB
 * and a rare large object (a span of its own, through the heap lock). */
size_t kt_rand_size(uint64_t r);

/* Prepare CPUs 0..n-1 for ops operations each (0: until stop_flag);
 * -1 if a slot table could not be allocated. */
int kt_hammer_setup(unsigned n, uint64_t ops);
/* The work (arg: &kt_hammer[cpu]); frees everything it holds at the end. */
void kt_hammer_fn(void *arg);
/* Per-CPU TAP comments and checks: no corruption, no failed allocation,
 * as many frees as allocations. */
void kt_hammer_report(struct ks_test *kt, unsigned n, const char *what);
void kt_hammer_teardown(unsigned n);

/* Every CPU's cache drained, the heap checked: its free pages. */
uint64_t kt_drained_free_pages(void);

#endif
