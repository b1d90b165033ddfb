/*
 * Checks of the debug shim (build/host/libkspan-debug.so), run under
 * LD_PRELOAD by tests/preload/debug.py.  Built with -O0 -g, so that the
 * call sites it reports map to the lines marked below.
 *
 *   debugshim forks N T     T threads allocate, reallocate and free without
 *                           pause while the main thread forks N times; every
 *                           child allocates (and every 16th starts a thread
 *                           and forks a grandchild) and exits 0.  Prints
 *                           "forks ok N".
 *   debugshim churn T       T threads: every function of the malloc family,
 *                           contents checked, objects freed by other threads.
 *                           Prints "churn ok".
 *   debugshim site MODE     prints "main=0x..." (to find the load bias), then:
 *                             guard   malloc(24) at SITE-LINE, write p[24]
 *                             uaf     malloc(24) at SITE-LINE, free at
 *                                     FREE-LINE, read p[3]
 *                             redzone malloc(24) at SITE-LINE, write p[24],
 *                                     free
 *   debugshim die NAME      a misuse the shim must stop, naming the function
 *                           called: double-free, cfree-twice, realloc-freed,
 *                           reallocarray-freed, usable-freed, realloc-interior
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv);

static volatile int stop;

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *busy(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
	char *slot[64] = { 0 };
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned k = (unsigned)(next(&rng) % 64);
		size_t n = (size_t)(next(&rng) % 2000) + 1;
		if (slot[k] && next(&rng) % 3 == 0) {
			slot[k] = realloc(slot[k], n);
			memset(slot[k], 1, n);
		} else {
			free(slot[k]);
			slot[k] = malloc(n);
			memset(slot[k], 2, n);
		}
	}
	for (int k = 0; k < 64; k++)
		free(slot[k]);
	return NULL;
}

static void *child_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++)
		free(malloc((size_t)i * 7 + 1));
	return NULL;
}

static int child(int i)
{
	char *p[32];
	for (int k = 0; k < 32; k++) {
		p[k] = malloc((size_t)(k * 37 + i % 100) + 1);
		if (!p[k])
			return 10;
		memset(p[k], k, (size_t)(k * 37 + i % 100) + 1);
	}
	for (int k = 0; k < 32; k++)
		free(p[k]);
	if (i % 16 == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, child_thread, NULL) != 0)
			return 11;
		pthread_join(t, NULL);
		pid_t g = fork();
		if (g < 0)
			return 12;
		if (g == 0)
			_exit(child(i + 1));
		int st = 0;
		if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 13;
	}
	return 0;
}

static int forks(int n, int nthreads)
{
	pthread_t t[16];
	if (nthreads > 16)
		nthreads = 16;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, busy, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			alarm(30);
			_exit(child(i));
		}
		int st = 0;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fork %d: child status %#x\n", i, st);
			return 1;
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	printf("forks ok %d\n", n);
	return 0;
}

/* ---- churn ---------------------------------------------------------------- */

#define PER 3000
static char *handoff[8][PER];
static size_t handlen[8][PER];

static void fill(char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(tag + i * 7);
}

static int same(const char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (char)(tag + i * 7))
			return 0;
	return 1;
}

static int nthr;
static pthread_barrier_t bar;
static volatile int churn_bad;

static void *churn_thread(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t rng = id * 0x2545F4914F6CDD1Dull + 7;
	for (int i = 0; i < PER; i++) {
		size_t n = (size_t)(next(&rng) % (i % 50 == 0 ? 70000 : 600));
		char *p;
		void *v = NULL;
		switch (i % 6) {
		case 0: p = malloc(n); break;
		case 1: p = calloc(1, n);
			for (size_t k = 0; k < n; k++)
				if (p[k])
					churn_bad = 1;
			break;
		case 2: p = posix_memalign(&v, 64, n) == 0 ? v : NULL;
			if ((uintptr_t)p % 64)
				churn_bad = 2;
			break;
		case 3: p = aligned_alloc(32, n); break;
		case 4: p = realloc(NULL, n); break;
		default: p = memalign(128, n);
			if ((uintptr_t)p % 128)
				churn_bad = 3;
			break;
		}
		if (!p && n) {
			churn_bad = 4;
			continue;
		}
		fill(p, n, id + (unsigned)i);
		if (i % 5 == 0) {
			size_t m = n / 2 + 3;
			p = realloc(p, m);
			if (!same(p, m < n ? m : n, id + (unsigned)i))
				churn_bad = 5;
			fill(p, m, id + (unsigned)i);
			n = m;
		}
		if (malloc_usable_size(p) < n)
			churn_bad = 6;
		handoff[id][i] = p;
		handlen[id][i] = n;
	}
	pthread_barrier_wait(&bar);
	unsigned from = (id + 1) % (unsigned)nthr;
	for (int i = 0; i < PER; i++) {
		if (!same(handoff[from][i], handlen[from][i], from + (unsigned)i))
			churn_bad = 7;
		free(handoff[from][i]);
	}
	return NULL;
}

static int churn(int n)
{
	pthread_t t[8];
	nthr = n < 1 ? 1 : n > 8 ? 8 : n;
	pthread_barrier_init(&bar, NULL, (unsigned)nthr);
	for (int i = 0; i < nthr; i++)
		pthread_create(&t[i], NULL, churn_thread, (void *)(uintptr_t)i);
	for (int i = 0; i < nthr; i++)
		pthread_join(t[i], NULL);
	if (churn_bad) {
		printf("churn failed: check %d\n", churn_bad);
		return 1;
	}
	printf("churn ok\n");
	return 0;
}

/* ---- call sites ------------------------------------------------------------ */

static int site(const char *mode)
{
	fprintf(stderr, "main=%p\n", (void *)main);
	volatile char *p = malloc(24); /* SITE-LINE */
	if (!strcmp(mode, "guard")) {
		p[24] = 1;
	} else if (!strcmp(mode, "uaf")) {
		free((void *)p); /* FREE-LINE */
		(void)p[3];
	} else if (!strcmp(mode, "redzone")) {
		p[24] = 1;
		free((void *)p);
	} else {
		return 2;
	}
	fprintf(stderr, "site: not stopped\n");
	return 3;
}

/* ---- misuse naming the function called ------------------------------------ */

static int die(const char *name)
{
	char *p = malloc(40);
	char *keep = malloc(40);
	if (!strcmp(name, "double-free")) {
		free(p);
		free(p);
	} else if (!strcmp(name, "cfree-twice")) {
		/* glibc no longer links cfree; the shim exports it. */
		void (*cf)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
		if (!cf)
			return 4;
		cf(p);
		cf(p);
	} else if (!strcmp(name, "realloc-freed")) {
		free(p);
		p = realloc(p, 100);
	} else if (!strcmp(name, "reallocarray-freed")) {
		free(p);
		p = reallocarray(p, 10, 10);
	} else if (!strcmp(name, "usable-freed")) {
		free(p);
		printf("%zu\n", malloc_usable_size(p));
	} else if (!strcmp(name, "realloc-interior")) {
		p = realloc(p + 8, 100);
	} else {
		return 2;
	}
	free(keep);
	fprintf(stderr, "die: '%s' not stopped\n", name);
	return 3;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "forks"))
		return forks(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "churn"))
		return churn(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "site"))
		return site(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "die"))
		return die(argv[2]);
	fprintf(stderr, "usage: debugshim forks N T | churn T | site MODE | die NAME\n");
	return 2;
}
