/*
 * Host test helpers: death tests through fork, the run's seed and seeded
 * random numbers (see support.h).
 */
#include "tests/host/support.h"
#include "tests/common/pattern.h"
#include "lib/bits.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

int ks_run_child(void (*fn)(void *), void *arg, char *err, size_t cap)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		fn(arg);
		fprintf(stderr, "ks_run_child: function returned\n");
		_exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t r;
	while ((r = read(fds[0], err + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	err[len] = '\0';
	close(fds[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

void ks_expect_abort(void (*fn)(void *), void *arg, const char *want)
{
	char buf[4096];
	int status = ks_run_child(fn, arg, buf, sizeof(buf));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("expected abort with \"%s\", child %s %d; stderr: %s",
		         want, WIFSIGNALED(status) ? "got signal" : "exited with",
		         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
		         buf);
	if (!strstr(buf, want))
		fail_msg("abort message lacks \"%s\"; stderr: %s", want, buf);
}

uint64_t ks_test_rand(uint64_t *state)
{
	return ks_rand(state);
}

static uint64_t run_seed;
static pid_t seed_pid;   /* the process that owns the run (not a death test) */

/* Sanitizers call this when they stop the process: say how to replay. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void report_seed(void)
{
	if (getpid() == seed_pid)
		fprintf(stderr, "FAILED: replay with KSPAN_TEST_SEED=%llu\n",
		        (unsigned long long)run_seed);
}

static uint64_t parse_seed(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (!*s || *end) {
		fprintf(stderr, "KSPAN_TEST_SEED=%s is not a number\n", s);
		exit(2);
	}
	return v;
}

uint64_t ks_test_seed(void)
{
	if (run_seed)
		return run_seed;
	const char *env = getenv("KSPAN_TEST_SEED");
	uint64_t s = 0;
	if (env && *env) {
		s = parse_seed(env);
	} else if (getrandom(&s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
		s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	}
	if (!s)
		s = 1;   /* 0 means "pick one" to kspan_init */
	run_seed = s;
	seed_pid = getpid();
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(report_seed);
	printf("# KSPAN_TEST_SEED=%llu\n", (unsigned long long)s);
	fflush(stdout);
	return s;
}

uint64_t ks_test_rng(uint64_t tag)
{
	uint64_t x = ks_mix64(ks_test_seed() ^ ks_mix64(tag));
	return x ? x : 1;
}

int ks_test_finish(const char *group, int failures)
{
	if (failures)
		fprintf(stderr, "FAILED: %s: %d test(s) failed; replay with "
		        "KSPAN_TEST_SEED=%llu\n", group, failures,
		        (unsigned long long)ks_test_seed());
	return failures;
}
