/*
 * Freestanding printf-style formatting for mm/ and the kernel console.
 * Only what kspan prints is supported; an unknown conversion is copied out
 * as it stands so a bad format string shows instead of crashing.
 */
#include "lib/fmt.h"

#include <stdint.h>
#include <kspan/platform.h>

struct out {
	char *buf;
	size_t cap;
	size_t len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width,
                       int left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (fill-- > 0)
			put(o, pad);
	while (n--)
		put(o, *s++);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static void put_number(struct out *o, uint64_t v, int neg, unsigned base,
                       int upper, int width, int left, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int i = (int)sizeof(tmp);
	do {
		tmp[--i] = digits[v % base];
		v /= base;
	} while (v);
	if (neg) {
		if (pad == '0') {
			put(o, '-');
			width--;
		} else {
			tmp[--i] = '-';
		}
	}
	put_padded(o, tmp + i, sizeof(tmp) - (size_t)i, width, left, pad);
}

int ks_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct out o = { buf, cap, 0 };
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			put(&o, *f);
			continue;
		}
		const char *start = f++;
		int left = 0, width = 0, lng = 0;
		char pad = ' ';
		for (;; f++) {
			if (*f == '-')
				left = 1;
			else if (*f == '0')
				pad = '0';
			else
				break;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		while (*f == 'l' || *f == 'z') {
			lng++;
			f++;
		}
		if (left)
			pad = ' ';
		switch (*f) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			put_number(&o, u, v < 0, 10, 0, width, left, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng ? va_arg(ap, uint64_t)
			                 : va_arg(ap, unsigned int);
			put_number(&o, v, 0, *f == 'u' ? 10 : 16, *f == 'X',
			           width, left, pad);
			break;
		}
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(ap, void *);
			put(&o, '0');
			put(&o, 'x');
			put_number(&o, v, 0, 16, 0, width, left, pad);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n = 0;
			if (!s)
				s = "(null)";
			while (s[n])
				n++;
			put_padded(&o, s, n, width, left, ' ');
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			/* Unknown: print it verbatim. */
			for (const char *p = start; p <= f && *p; p++)
				put(&o, *p);
			if (!*f)
				f--;
			break;
		}
	}
	if (o.cap)
		o.buf[o.len < o.cap ? o.len : o.cap - 1] = '\0';
	return (int)o.len;
}

int ks_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = ks_vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

void ks_vprint_to(void (*write)(const char *s, size_t n), const char *fmt,
                  va_list ap)
{
	char buf[512];
	int n = ks_vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	write(buf, (size_t)n);
}

void ks_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ks_vprint_to(ks_plat_write, fmt, ap);
	va_end(ap);
}

void ks_panic(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	ks_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ks_plat_abort(buf);
}
