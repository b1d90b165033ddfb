/*
 * The local APIC of each CPU, in xAPIC (MMIO) or x2APIC (MSR) mode: enable,
 * EOI, IPIs, the periodic and one-shot timer (see lapic.c).
 */
#ifndef KSPAN_ARCH_X86_64_LAPIC_H
#define KSPAN_ARCH_X86_64_LAPIC_H

#include <stdint.h>

/* Interrupt vectors the kernel uses (priority class = vector >> 4). */
#define KS_VEC_TIMER     0x40
#define KS_VEC_WAKE      0xf0   /* ks_smp_run: work posted, leave hlt */
#define KS_VEC_CALL      0xf1   /* ks_smp_call_all */
#define KS_VEC_STOP      0xf2   /* stop the world */
#define KS_VEC_SPURIOUS  0xff

/* ICR delivery modes. */
#define KS_ICR_FIXED     0x000u
#define KS_ICR_NMI       0x400u
#define KS_ICR_INIT      0x500u
#define KS_ICR_STARTUP   0x600u
#define KS_ICR_ASSERT    0x4000u

/* Boot CPU: find the LAPIC (IA32_APIC_BASE; madt_addr is what the MADT
 * says, compared and reported), pick the mode the firmware left (x2APIC if
 * IA32_APIC_BASE.EXTD is set) and enable this CPU's LAPIC.  Returns 0, or
 * -1 with a message if there is no usable LAPIC. */
int ks_lapic_init_bsp(uint64_t madt_addr);
/* Any other CPU, once: enable its LAPIC in the boot CPU's mode. */
void ks_lapic_init_ap(void);

/* 1 once ks_lapic_init_bsp succeeded. */
int ks_lapic_ready(void);
int ks_lapic_x2apic(void);
uint64_t ks_lapic_base(void);

/* This CPU's APIC id. */
uint32_t ks_lapic_id(void);
/* Largest APIC id an IPI can name in the current mode. */
uint32_t ks_lapic_max_id(void);

void ks_lapic_eoi(void);

/* Is vector in service on this CPU (its ISR bit set)? */
int ks_lapic_in_service(unsigned vector);

/* Send an IPI: icr_low = vector | delivery mode | flags, physical
 * destination apic_id.  Interrupts are off across the ICR writes.  Returns
 * 0, or -1 if the previous IPI never left the LAPIC (delivery status stuck
 * for 100 ms). */
int ks_lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);

/* Timer: measure its rate against the TSC (boot CPU, once), then start a
 * periodic interrupt at hz on this CPU (vector KS_VEC_TIMER) or stop it. */
void ks_lapic_timer_calibrate(void);
uint64_t ks_lapic_timer_hz(void);
void ks_lapic_timer_start(unsigned hz);
void ks_lapic_timer_stop(void);
/* One interrupt on KS_VEC_TIMER after about us microseconds (replaces a
 * periodic timer; ks_lapic_timer_stop cancels it). */
void ks_lapic_timer_oneshot(uint64_t us);

#endif
