/*
 * Time from the TSC, calibrated once at boot (see tsc.c).
 */
#ifndef KSPAN_ARCH_X86_64_TSC_H
#define KSPAN_ARCH_X86_64_TSC_H

#include <stdint.h>

/* Measure the TSC rate against the ACPI PM timer at pm_port (24-bit
 * counter unless pm_32bit), or against PIT channel 2 when pm_port is 0.
 * Returns the rate in Hz; on a timer that does not move, falls back to
 * 1 GHz and says so.  Call once on the boot CPU before the other CPUs
 * start. */
uint64_t ks_tsc_calibrate(uint16_t pm_port, int pm_32bit);

/* TSC ticks per second (0 before calibration). */
uint64_t ks_tsc_hz(void);
/* Which reference the calibration used: "ACPI PM timer", "PIT", ... */
const char *ks_tsc_source(void);

uint64_t ks_tsc_from_us(uint64_t us);
uint64_t ks_tsc_to_us(uint64_t ticks);

/* Busy-wait at least us microseconds. */
void ks_delay_us(uint64_t us);

#endif
