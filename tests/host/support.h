/*
 * Helpers shared by the host cmocka suites.
 *
 * Randomness is reproducible: every random choice a suite makes, and the
 * allocator's own (object order, secrets: kspan_config.seed), comes from
 * one seed per run.  It is KSPAN_TEST_SEED from the environment (decimal
 * or 0x-hex) or, when that is unset, a fresh one; it is printed at the
 * start of the run and again, as a replay command, when the run fails.
 * Suites assert only what holds for every seed.
 */
#ifndef KSPAN_TESTS_HOST_SUPPORT_H
#define KSPAN_TESTS_HOST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Run fn(arg) in a forked child with its stderr captured into err (cap
 * bytes, NUL-terminated); the child's wait status. */
int ks_run_child(void (*fn)(void *), void *arg, char *err, size_t cap);

/*
 * Death test: run fn(arg) in a forked child and assert (cmocka) that it
 * stopped through ks_plat_abort (or abort()) with a message on stderr that
 * contains want.  A child that returns normally, or dies with another
 * message, fails the calling test.
 */
void ks_expect_abort(void (*fn)(void *), void *arg, const char *want);

/* Deterministic xorshift64* random numbers for seeded tests. */
uint64_t ks_test_rand(uint64_t *state);

/* The run's seed (see above); the first call prints it. */
uint64_t ks_test_seed(void);

/* A random-number state for one use (a test, a thread): the run's seed
 * mixed with tag, never 0. */
uint64_t ks_test_rng(uint64_t tag);

/* Report a group's result: on failure, print the seed to replay with.
 * Returns failures (the exit status of main). */
int ks_test_finish(const char *group, int failures);

/* main()'s body for a cmocka group, with the seed reported. */
#define KS_TEST_MAIN(name, tests, setup, teardown)                        \
	(ks_test_seed(),                                                   \
	 ks_test_finish(name, _cmocka_run_group_tests(name, tests,           \
	        sizeof(tests) / sizeof((tests)[0]), setup, teardown)))

#endif
