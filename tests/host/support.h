/*
 * Helpers shared by the host cmocka suites.
 */
#ifndef KSPAN_TESTS_HOST_SUPPORT_H
#define KSPAN_TESTS_HOST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Death test: run fn(arg) in a forked child and assert (cmocka) that it
 * stopped through ks_plat_abort (or abort()) with a message on stderr that
 * contains want.  A child that returns normally, or dies with another
 * message, fails the calling test.
 */
void ks_expect_abort(void (*fn)(void *), void *arg, const char *want);

/* Deterministic xorshift64* random numbers for seeded tests. */
uint64_t ks_test_rand(uint64_t *state);

#endif
