/*
 * memset, memcpy, memmove, memcmp for the mb2 example kernel: a
 * freestanding C program must provide them, because compilers emit calls
 * to them for struct copies, zeroing and large initializers even with
 * -ffreestanding.  libkspan.a needs memset and memcpy besides its hooks
 * (docs/porting.md, section 3); the other two complete the set.  memset,
 * memcpy and memmove are string instructions in inline assembly, so the
 * compiler cannot turn a loop back into a call to the function itself.
 */
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

void *memset(void *d, int c, size_t n)
{
	void *p = d;
	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;
	__asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	if ((uintptr_t)d - (uintptr_t)s >= n)   /* no harmful overlap: forward */
		return memcpy(d, s, n);
	/* d lies inside [s, s+n): copy backwards, from the last byte. */
	void *pd = (char *)d + n - 1;
	const void *ps = (const char *)s + n - 1;
	__asm__ volatile("std; rep movsb; cld"
	                 : "+D"(pd), "+S"(ps), "+c"(n) : : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
