/*
 * COM1 serial output and kprintf for the mb2 example kernel.
 *
 * The UART is programmed once (115200 baud, 8N1, FIFO on) and then written
 * by polling the transmit-holding-empty bit, so output works with
 * interrupts off and from any context.  kprintf formats into a small stack
 * buffer piece by piece; it supports only what this kernel prints.
 */
#include <stdint.h>

#include "console.h"
#include "cpu.h"

#define COM1 0x3f8

void serial_init(void)
{
	outb(COM1 + 1, 0x00);   /* no interrupts */
	outb(COM1 + 3, 0x80);   /* DLAB on */
	outb(COM1 + 0, 0x01);   /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);   /* 8N1, DLAB off */
	outb(COM1 + 2, 0xc7);   /* FIFO on, cleared, 14-byte threshold */
	outb(COM1 + 4, 0x03);   /* DTR, RTS */
}

static void serial_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}

/* Buffered output of one kprintf call. */
struct pbuf {
	char buf[128];
	size_t len;
};

static void pb_flush(struct pbuf *b)
{
	serial_write(b->buf, b->len);
	b->len = 0;
}

static void pb_putc(struct pbuf *b, char c)
{
	if (b->len == sizeof(b->buf))
		pb_flush(b);
	b->buf[b->len++] = c;
}

static void pb_pad(struct pbuf *b, const char *s, size_t n, int width,
                   int left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (fill-- > 0)
			pb_putc(b, pad);
	for (size_t i = 0; i < n; i++)
		pb_putc(b, s[i]);
	if (left)
		while (fill-- > 0)
			pb_putc(b, ' ');
}

static void pb_num(struct pbuf *b, uint64_t v, int neg, unsigned base,
                   int width, int left, char pad)
{
	char tmp[24];
	int i = (int)sizeof(tmp);
	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg) {
		if (pad == '0') {
			pb_putc(b, '-');
			width--;
		} else {
			tmp[--i] = '-';
		}
	}
	pb_pad(b, tmp + i, sizeof(tmp) - (size_t)i, width, left, pad);
}

void kvprintf(const char *fmt, va_list ap)
{
	struct pbuf b;
	b.len = 0;
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			pb_putc(&b, *p);
			continue;
		}
		const char *start = p++;
		int left = 0, width = 0, lng = 0;
		char pad = ' ';
		for (; *p == '-' || *p == '0'; p++) {
			if (*p == '-')
				left = 1;
			else
				pad = '0';
		}
		for (; *p >= '0' && *p <= '9'; p++)
			width = width * 10 + (*p - '0');
		for (; *p == 'l' || *p == 'z'; p++)
			lng++;
		if (left)
			pad = ' ';
		switch (*p) {
		case 'd': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			pb_num(&b, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, 10,
			       width, left, pad);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			pb_num(&b, v, 0, *p == 'x' ? 16 : 10, width, left, pad);
			break;
		}
		case 'p':
			pb_putc(&b, '0');
			pb_putc(&b, 'x');
			pb_num(&b, (uintptr_t)va_arg(ap, void *), 0, 16, width, left, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n = 0;
			if (!s)
				s = "(null)";
			while (s[n])
				n++;
			pb_pad(&b, s, n, width, left, ' ');
			break;
		}
		case 'c':
			pb_putc(&b, (char)va_arg(ap, int));
			break;
		case '%':
			pb_putc(&b, '%');
			break;
		default:        /* unknown: show it as written */
			for (; start <= p && *start; start++)
				pb_putc(&b, *start);
			if (!*p)
				p--;
			break;
		}
	}
	pb_flush(&b);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

void kpanic(const char *fmt, ...)
{
	va_list ap;
	__asm__ volatile("cli");
	kprintf("\nPANIC: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	qemu_exit(QEMU_EXIT_FAIL);
}
