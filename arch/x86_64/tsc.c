/*
 * TSC calibration and delays.
 *
 * INIT-SIPI-SIPI needs real delays (10 ms, 200 us), timeouts need a clock,
 * and the benchmark wants seconds.  The TSC is the clock; its rate is
 * measured on the boot CPU over three 50 ms windows of a timer whose rate is
 * architectural:
 *
 *   ACPI PM timer  3.579545 MHz, an I/O port from the FADT; 24 or 32 bits
 *                  wide, wrap-around handled by masking the difference.
 *   PIT channel 2  1.193182 MHz, gated by port 0x61 bit 0, counting down
 *                  once in mode 0; port 0x61 bit 5 (OUT2) rises at 0.
 *
 * Both loops are bounded (a timer that never moves reads as failure, then
 * a 1 GHz guess is used and reported), so calibration cannot hang.  The
 * rate is the median of three measurements: under an emulator on a busy
 * host one 50 ms window now and then comes out wrong (755 MHz and
 * 1.2 MHz were seen against 2103 MHz in every other boot), and a rate
 * 1000 times too low made every timeout 1000 times too short (15 of 16
 * CPUs "did not answer INIT-SIPI-SIPI within 2000 ms").
 * The rate is written once before other CPUs start and only read after;
 * no locks.  The TSC is shared by all CPUs (constant rate, and QEMU keeps
 * the vCPUs' TSCs in step), so delays and timeouts work on any CPU.
 */
#include "tsc.h"

#include "cpu.h"

#define PM_HZ   3579545ull
#define PIT_HZ  1193182ull
#define CAL_MS  50ull

static uint64_t tsc_hz;
static const char *tsc_source = "uncalibrated";

static uint64_t by_pm_timer(uint16_t port, int wide)
{
	uint32_t mask = wide ? 0xffffffffu : 0xffffffu;
	uint64_t want = PM_HZ * CAL_MS / 1000;
	uint32_t start = inl(port) & mask;
	/* Line up with a tick edge so the measured span is exact. */
	uint32_t p = start;
	for (unsigned long spin = 0; p == start; spin++) {
		if (spin > 100000000ul)
			return 0;
		p = inl(port) & mask;
	}
	uint64_t t0 = rdtsc();
	uint64_t elapsed = 0;
	for (unsigned long spin = 0; elapsed < want; spin++) {
		if (spin > 1000000000ul)
			return 0;
		uint32_t now = inl(port) & mask;
		elapsed = (now - p) & mask;
	}
	uint64_t t1 = rdtsc();
	return (t1 - t0) * PM_HZ / elapsed;
}

static uint64_t by_pit(void)
{
	uint16_t count = (uint16_t)(PIT_HZ * CAL_MS / 1000);
	uint8_t gate = inb(0x61);
	outb(0x61, (uint8_t)((gate & ~0x02) & ~0x01));   /* gate low, no speaker */
	outb(0x43, 0xb0);          /* channel 2, lobyte/hibyte, mode 0, binary */
	outb(0x42, (uint8_t)count);
	outb(0x42, (uint8_t)(count >> 8));
	outb(0x61, (uint8_t)((gate & ~0x02) | 0x01));    /* gate high: start */
	uint64_t t0 = rdtsc();
	int done = 0;
	for (unsigned long spin = 0; spin < 1000000000ul; spin++) {
		if (inb(0x61) & 0x20) {
			done = 1;
			break;
		}
	}
	uint64_t t1 = rdtsc();
	outb(0x61, gate);
	if (!done)
		return 0;
	return (t1 - t0) * PIT_HZ / count;
}

/* The median of three measurements by one timer, or 0 if one failed. */
static uint64_t median3(uint16_t pm_port, int pm_32bit)
{
	uint64_t r[3];
	for (int i = 0; i < 3; i++) {
		r[i] = pm_port ? by_pm_timer(pm_port, pm_32bit) : by_pit();
		if (!r[i])
			return 0;
	}
	uint64_t lo = r[0] < r[1] ? r[0] : r[1], hi = r[0] < r[1] ? r[1] : r[0];
	return r[2] < lo ? lo : r[2] > hi ? hi : r[2];
}

uint64_t ks_tsc_calibrate(uint16_t pm_port, int pm_32bit)
{
	uint64_t hz = 0;
	if (pm_port) {
		hz = median3(pm_port, pm_32bit);
		tsc_source = "ACPI PM timer";
	}
	if (!hz) {
		hz = median3(0, 0);
		tsc_source = "PIT channel 2";
	}
	if (!hz) {
		hz = 1000000000ull;
		tsc_source = "no working timer: assumed 1 GHz";
	}
	tsc_hz = hz;
	return hz;
}

uint64_t ks_tsc_hz(void) { return tsc_hz; }
const char *ks_tsc_source(void) { return tsc_source; }

uint64_t ks_tsc_from_us(uint64_t us)
{
	uint64_t hz = tsc_hz ? tsc_hz : 1000000000ull;
	return us * (hz / 1000000) + us * (hz % 1000000) / 1000000;
}

uint64_t ks_tsc_to_us(uint64_t ticks)
{
	uint64_t hz = tsc_hz ? tsc_hz : 1000000000ull;
	return ticks / hz * 1000000 + ticks % hz * 1000000 / hz;
}

void ks_delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + ks_tsc_from_us(us);
	while ((int64_t)(rdtsc() - end) < 0)
		cpu_pause();
}
