/*
 * The mb2 example kernel's console and exits: COM1 at 115200 8N1, written
 * by polling (so it works with interrupts off, in exception handlers and
 * in panics, and never allocates), QEMU's isa-debug-exit device, and
 * panic().  Formatting is kspan's (<kspan/fmt.h>): this file only moves
 * bytes.
 */
#include <stdarg.h>
#include <stdint.h>
#include <kspan/fmt.h>

#include "kernel.h"

#define COM1     0x3f8
#define LSR_THRE 0x20           /* line status: transmit holding empty */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

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
	while (!(inb(COM1 + 5) & LSR_THRE))
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

/* If the device is missing (real hardware), stop the CPU instead. */
void qemu_exit(uint32_t code)
{
	__asm__ volatile("outl %0, %1" : : "a"(code), "Nd"((uint16_t)QEMU_EXIT_PORT));
	for (;;)
		__asm__ volatile("cli; hlt");
}

void panic(const char *fmt, ...)
{
	va_list ap;
	__asm__ volatile("cli");
	serial_write("\nPANIC: ", 8);
	va_start(ap, fmt);
	ks_vprint_to(serial_write, fmt, ap);
	va_end(ap);
	serial_write("\n", 1);
	qemu_exit(QEMU_EXIT_FAIL);
}
