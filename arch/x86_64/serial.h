/*
 * 16550 UART console on COM1 (port 0x3f8), 115200 baud, 8N1, polled.
 * See serial.c.
 */
#ifndef KSPAN_ARCH_X86_64_SERIAL_H
#define KSPAN_ARCH_X86_64_SERIAL_H

#include <stddef.h>

/* Program the UART.  Idempotent; safe before and after ExitBootServices. */
void ks_serial_init(void);

/* Write n bytes, polling the transmit-holding-register-empty bit.  Takes no
 * lock: callers that need whole lines serialize (kernel/console.c). */
void ks_serial_write(const char *s, size_t n);

#endif
