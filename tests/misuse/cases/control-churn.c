// misuse: class=control
// misuse-about: correct churn: 20000 allocations of mixed sizes (a fixed
// misuse-about: pseudo-random sequence), every byte written and checked,
// misuse-about: freed in random order, with realloc chains
#include "../misuse.h"

#define SLOTS 256

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static unsigned next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 16);
}

static size_t pick_size(void)
{
	unsigned r = next() % 100;
	if (r < 60)
		return next() % 128 + 1;
	if (r < 90)
		return next() % 4000 + 1;
	if (r < 99)
		return next() % 40000 + 1;
	return next() % 300000 + 1;
}

int main(void)
{
	static char *slot[SLOTS];
	static size_t len[SLOTS];
	for (int i = 0; i < 20000; i++) {
		unsigned k = next() % SLOTS;
		if (slot[k]) {
			unsigned char tag = (unsigned char)k;
			if (rd(slot[k]) != tag || rd(slot[k] + len[k] - 1) != tag)
				misuse_fail("contents changed");
			if (next() % 4 == 0) {
				size_t n = pick_size();
				char *q = launder(realloc(slot[k], n));
				if (!q)
					misuse_fail("realloc");
				size_t keep = n < len[k] ? n : len[k];
				if (rd(q) != tag || rd(q + keep - 1) != tag)
					misuse_fail("realloc lost the contents");
				wr_range(q, n, tag);
				slot[k] = q;
				len[k] = n;
				continue;
			}
			free(slot[k]);
			slot[k] = NULL;
		} else {
			len[k] = pick_size();
			slot[k] = (next() % 8 == 0) ? launder(calloc(1, len[k])) : launder(malloc(len[k]));
			if (!slot[k])
				misuse_fail("malloc");
			wr_range(slot[k], len[k], (unsigned char)k);
		}
	}
	for (int k = 0; k < SLOTS; k++)
		free(slot[k]);
	return misuse_end();
}
