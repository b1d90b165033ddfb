/*
 * Host test helpers: death tests through fork, seeded random numbers.
 */
#include "tests/host/support.h"
#include "tests/common/pattern.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

void ks_expect_abort(void (*fn)(void *), void *arg, const char *want)
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
		fprintf(stderr, "ks_expect_abort: function returned\n");
		_exit(0);
	}
	close(fds[1]);
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	while ((r = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(fds[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
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
