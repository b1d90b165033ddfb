/*
 * memset, memcpy, memmove and memcmp for the freestanding kernel build.
 * The compiler emits calls to them (struct copies, __builtin_memset in mm/)
 * even with -ffreestanding.  GNU-EFI's libefi.a defines memset and memcpy
 * too, in init.o next to InitializeLib; boot/ never calls into libefi, so
 * that member is never pulled into the link and these are the only ones.
 *
 * rep movsb / stosb: short, and the compiler cannot turn them back into a
 * call to the function being defined.
 */
#include <stddef.h>
#include <stdint.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep stosb"
	                 : "+D"(d), "+c"(n)
	                 : "a"(c)
	                 : "memory");
	return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep movsb"
	                 : "+D"(d), "+S"(src), "+c"(n)
	                 :
	                 : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	/* Overlap with dst above src: copy backwards. */
	void *dl = (char *)dst + n - 1;
	const void *sl = (const char *)src + n - 1;
	__asm__ volatile("std\n\trep movsb\n\tcld"
	                 : "+D"(dl), "+S"(sl), "+c"(n)
	                 :
	                 : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
