/*
 * launch: run one benchmark process under a chosen allocator and report its
 * exit status and peak RSS (ru_maxrss from wait4).
 *
 *   launch [-p PRELOAD_LIB] [-t TIMEOUT_S] -- PROG [ARGS...]
 *
 * Prints, after PROG's own output:
 *   launch status=N signal=S timeout=0|1 maxrss_kib=K wall_s=W
 *
 * Why a launcher: Linux folds the RSS high-water mark of the address space a
 * process had before execve into its ru_maxrss, so a child started straight
 * from the Python driver (fork/vfork of a large interpreter) would report at
 * least the interpreter's RSS.  Forked from this small program, the child's
 * ru_maxrss is its own.  PRELOAD_LIB goes into LD_PRELOAD of the child only;
 * without -p the child runs with LD_PRELOAD removed (plain glibc).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;
static volatile pid_t child;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (child > 0)
		kill(child, SIGKILL);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	const char *preload = NULL;
	unsigned timeout = 0;
	struct rusage ru;
	int opt, status = 0, code, sig;
	double t0;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+p:t:")) != -1) {
		switch (opt) {
		case 'p': preload = optarg; break;
		case 't': timeout = (unsigned)strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: launch [-p LIB] [-t SECONDS] -- PROG [ARGS...]\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "launch: no program given\n");
		return 2;
	}
	fflush(stdout);
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("launch: fork");
		return 2;
	}
	if (pid == 0) {
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "launch: cannot run %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	child = pid;
	signal(SIGALRM, on_alarm);
	if (timeout)
		alarm(timeout);
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("launch: wait4");
			return 2;
		}
	alarm(0);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	printf("launch status=%d signal=%d timeout=%d maxrss_kib=%ld wall_s=%.3f\n",
	       code, sig, (int)timed_out, ru.ru_maxrss, now() - t0);
	return sig ? 128 + sig : code;
}
