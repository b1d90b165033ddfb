/*
 * fastpath: the tight loop whose instructions callgrind counts to get an
 * allocator's cost per malloc(32)+free pair (bench/run.py does the counting).
 *
 *   fastpath pair N     N x { p = malloc(32); free(p); }  in fp_pairs()
 *   fastpath empty N    the same loop without the two calls, in fp_empty()
 *
 * Both warm up with 10000 pairs first, outside the measured function.  The
 * driver collects only inside fp_pairs/fp_empty (callgrind --toggle-collect)
 * and takes (count(2N) - count(N)) / N for each, then subtracts the empty
 * loop's per-iteration cost (4 instructions with gcc -O2: the counter's
 * add/cmp/jne and the move of the would-be pointer): what remains is the
 * argument setup, the two calls, the PLT jumps and the allocator's own
 * instructions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FP_SIZE 32
#define FP_LIVE 16

static void *live[FP_LIVE];

__attribute__((noinline)) void fp_pairs(long n);
__attribute__((noinline)) void fp_empty(long n);

__attribute__((noinline)) void fp_pairs(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(FP_SIZE);

		__asm__ volatile("" : "+r"(p) : : "memory");
		free(p);
	}
}

__attribute__((noinline)) void fp_empty(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = (void *)i;

		__asm__ volatile("" : "+r"(p) : : "memory");
	}
}

int main(int argc, char **argv)
{
	long n;

	if (argc != 3 || (strcmp(argv[1], "pair") && strcmp(argv[1], "empty")) ||
	    (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: fastpath pair|empty N\n");
		return 2;
	}
	for (int i = 0; i < 10000; i++) {
		void *p = malloc(FP_SIZE);

		if (!p)
			return 1;
		memset(p, 0x5a, FP_SIZE);
		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
	/* Live neighbours, as any real program has: without them the loop's one
	 * block is the only one in its page or span, and an allocator that
	 * retires an empty page on free (mimalloc) would be timed on that
	 * slow path on every iteration. */
	for (int i = 0; i < FP_LIVE; i++)
		if (!(live[i] = malloc(FP_SIZE)))
			return 1;
	if (!strcmp(argv[1], "pair"))
		fp_pairs(n);
	else
		fp_empty(n);
	for (int i = 0; i < FP_LIVE; i++)
		free(live[i]);
	return 0;
}
