/*
 * Helpers shared by the misuse cases (the programs in tests/misuse/cases/).  See
 * tests/misuse/README.md for the header schema and the marker protocol.
 *
 * Every line a case prints goes to stderr, unbuffered, through write(2),
 * and starts with "misuse: ", so that the runner can tell the program's own
 * lines from the allocator's.  Nothing here allocates.
 *
 *   misuse: bug <what> obj=0x... size=N [at=0x...]   just before the bug
 *   misuse: after                                   the bug returned
 *   misuse: end                                     the program finished
 *   misuse: n/a <why>                               the bug could not be set
 *                                                   up under this allocator
 *   misuse: rejected <what> / misuse: accepted <what>
 *                                                   API cases: the allocator
 *                                                   refused / honoured a
 *                                                   request it must refuse
 *
 * The accessors go through launder() (an empty asm the compiler must assume
 * reads and changes the pointer) and volatile loads and stores, so that no
 * optimisation can drop, move or fold the bad access.
 */
#ifndef MISUSE_H
#define MISUSE_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MISUSE_FN static __attribute__((unused))

MISUSE_FN inline void *launder(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

static volatile unsigned long misuse_sink;

MISUSE_FN inline unsigned char rd(const void *p)
{
	return *(volatile const unsigned char *)launder((void *)p);
}

MISUSE_FN inline void wr(void *p, unsigned char v)
{
	*(volatile unsigned char *)launder(p) = v;
}

/* Read or write n bytes one at a time from p, in address order. */
MISUSE_FN inline void rd_range(const void *p, size_t n)
{
	const unsigned char *c = launder((void *)p);
	for (size_t i = 0; i < n; i++)
		misuse_sink += ((volatile const unsigned char *)c)[i];
}

MISUSE_FN inline void wr_range(void *p, size_t n, unsigned char v)
{
	unsigned char *c = launder(p);
	for (size_t i = 0; i < n; i++)
		((volatile unsigned char *)c)[i] = v;
}

__attribute__((format(printf, 1, 2)))
MISUSE_FN void say(const char *fmt, ...)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "misuse: ");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(2, buf + off, (size_t)(n - off));
		if (w <= 0)
			break;
		off += (int)w;
	}
}

/* The marker just before the bug: what it is, the object it concerns and,
 * for an access, the first address it touches outside the object (the
 * address a guard page must report).  at == NULL: no address. */
MISUSE_FN void misuse_bug(const char *what, const void *obj, size_t size, const void *at)
{
	if (at)
		say("bug %s obj=%p size=%zu at=%p", what, obj, size, at);
	else
		say("bug %s obj=%p size=%zu", what, obj, size);
}

MISUSE_FN void misuse_after(void)
{
	say("after");
}

MISUSE_FN int misuse_end(void)
{
	say("end");
	return 0;
}

__attribute__((noreturn))
MISUSE_FN void misuse_na(const char *why)
{
	say("n/a %s", why);
	exit(0);
}

/* Something a correct program may rely on went wrong (not the bug). */
__attribute__((noreturn, format(printf, 1, 2)))
MISUSE_FN void misuse_fail(const char *fmt, ...)
{
	char buf[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("setup failed: %s", buf);
	exit(2);
}

MISUSE_FN void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		misuse_fail("malloc returned NULL");
	return launder(p);
}

#endif
