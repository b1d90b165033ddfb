/*
 * Polled 16550 UART driver for COM1, the kernel's only console.
 *
 * The UART is programmed for 115200 baud 8N1 with FIFOs on and interrupts
 * off; writes poll LSR.THRE before each byte.  If the line status register
 * reads 0xff there is no UART (real hardware without COM1): writes are
 * dropped instead of spinning forever.
 *
 * No lock here: a byte-level writer is safe to call from exception handlers
 * at any time; kernel/console.c serializes whole messages.
 */
#include "serial.h"

#include <stdint.h>
#include "cpu.h"

#define COM1        0x3f8
#define UART_DATA   0  /* DLL when DLAB=1 */
#define UART_IER    1  /* DLM when DLAB=1 */
#define UART_FCR    2
#define UART_LCR    3
#define UART_MCR    4
#define UART_LSR    5
#define LSR_THRE    0x20
#define LCR_DLAB    0x80
#define LCR_8N1     0x03

static int serial_present = -1;

void ks_serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);            /* no interrupts */
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DATA, 1);              /* 115200 = 115200 / 1 */
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, 0xc7);            /* FIFO on, cleared, 14 bytes */
	outb(COM1 + UART_MCR, 0x03);            /* DTR, RTS */
	serial_present = inb(COM1 + UART_LSR) != 0xff;
}

static void put_byte(char c)
{
	/* Bounded wait: a wedged UART must not hang a panic message. */
	for (unsigned spin = 0; spin < 1000000; spin++) {
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
		cpu_pause();
	}
	outb(COM1 + UART_DATA, (uint8_t)c);
}

void ks_serial_write(const char *s, size_t n)
{
	if (serial_present < 0)
		ks_serial_init();
	if (!serial_present)
		return;
	for (size_t i = 0; i < n; i++)
		put_byte(s[i]);
}
