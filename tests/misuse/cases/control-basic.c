// misuse: class=control
// misuse-about: correct use of the whole malloc family, contents checked
#include "../misuse.h"
#include <malloc.h>

static void check(int ok, const char *what)
{
	if (!ok)
		misuse_fail("%s", what);
}

/* The alignment malloc(n) must have: 16 for n > 8 (glibc's), except in
 * the exact guard mode of kspan's debug shim (KSPAN_GUARD with
 * KSPAN_GUARD_ALIGN=1), which gives n bytes the natural alignment of n
 * (the largest power of two dividing n, at most 16: enough for any object
 * of exactly n bytes) so that the object ends at its guard page and one
 * byte past it faults, and the default guard mode, which gives 16 only to
 * n >= 16 (8 to n = 12). */
static size_t malloc_align(size_t n)
{
	if (n <= 8)
		return 1;
	const char *g = getenv("KSPAN_GUARD");
	if (g && *g && strcmp(g, "0") != 0) {
		const char *ga = getenv("KSPAN_GUARD_ALIGN");
		if (ga && strcmp(ga, "1") == 0) {
			size_t a = n & (~n + 1);
			return a < 16 ? a : 16;
		}
		return n >= 16 ? 16 : 8;
	}
	return 16;
}

int main(void)
{
	/* Every size touched at its first and last byte. */
	static const size_t sizes[] = { 0, 1, 7, 8, 9, 13, 16, 24, 31, 32, 33, 48, 64, 100,
		127, 128, 255, 256, 1000, 1024, 3000, 4095, 4096, 4097, 8192, 20000,
		32768, 32769, 65536, 100000, (size_t)1 << 20 };
	char *p[sizeof(sizes) / sizeof(sizes[0])];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		p[i] = xmalloc(n);
		check((uintptr_t)p[i] % malloc_align(n) == 0, "malloc alignment");
		if (n) {
			wr(p[i], (unsigned char)i);
			wr(p[i] + n - 1, (unsigned char)i);
		}
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		if (n)
			check(rd(p[i]) == (unsigned char)i && rd(p[i] + n - 1) == (unsigned char)i,
			      "contents");
		free(p[i]);
	}

	/* calloc is zeroed; realloc keeps the contents as it grows and shrinks. */
	char *c = launder(calloc(100, 37));
	check(c != NULL, "calloc");
	for (size_t i = 0; i < 3700; i++)
		check(rd(c + i) == 0, "calloc zeroed");
	char *r = xmalloc(10);
	for (int i = 0; i < 10; i++)
		wr(r + i, (unsigned char)(i + 1));
	for (size_t n = 20; n <= 300000; n = n * 3) {
		r = launder(realloc(r, n));
		check(r != NULL, "realloc grow");
		wr(r + n - 1, 0x77);
		for (int i = 0; i < 10; i++)
			check(rd(r + i) == i + 1, "realloc kept the contents");
	}
	r = launder(realloc(r, 5));
	check(r != NULL, "realloc shrink");
	for (int i = 0; i < 5; i++)
		check(rd(r + i) == i + 1, "realloc shrink kept the contents");
	free(r);
	free(c);

	/* Aligned allocations, written in full. */
	static const size_t aligns[] = { 16, 32, 64, 256, 4096, 65536 };
	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		size_t al = aligns[i];
		void *v = NULL;
		if (posix_memalign(&v, al, 300) != 0 || (uintptr_t)v % al)
			misuse_fail("posix_memalign(%zu, 300) gave %p", al, v);
		wr_range(v, 300, 0xa1);
		free(v);
		char *a = launder(aligned_alloc(al, al * 2));
		if (!a || (uintptr_t)a % al)
			misuse_fail("aligned_alloc(%zu, %zu) gave %p", al, al * 2, (void *)a);
		wr_range(a, al * 2, 0xa2);
		free(a);
		a = launder(memalign(al, 50));
		if (!a || (uintptr_t)a % al)
			misuse_fail("memalign(%zu, 50) gave %p", al, (void *)a);
		wr_range(a, 50, 0xa3);
		free(a);
	}
	char *v = launder(valloc(5000));
	check(v && (uintptr_t)v % 4096 == 0, "valloc");
	wr_range(v, 5000, 1);
	free(v);

	/* Usable size covers the request. */
	char *u = xmalloc(77);
	check(malloc_usable_size(u) >= 77, "malloc_usable_size");
	free(u);

	free(NULL);
	r = launder(realloc(NULL, 40));
	check(r != NULL, "realloc(NULL, n)");
	free(r);
	return misuse_end();
}
