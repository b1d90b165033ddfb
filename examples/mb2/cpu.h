/*
 * x86_64 instructions the mb2 example kernel needs, as inline functions:
 * port I/O, control registers, TLB flush, the time-stamp counter, and the
 * QEMU isa-debug-exit device (the only way this kernel ends a run).
 */
#ifndef MB2_CPU_H
#define MB2_CPU_H

#include <stdint.h>
#include "layout.h"

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

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint64_t read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void invlpg(uintptr_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t read_rflags(void)
{
	uint64_t f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f) : : "memory");
	return f;
}

/* Leave QEMU: status (code << 1) | 1.  If the device is missing (real
 * hardware), stop the CPU instead of returning. */
__attribute__((noreturn)) static inline void qemu_exit(uint32_t code)
{
	outl(QEMU_EXIT_PORT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif
