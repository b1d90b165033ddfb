/*
 * Local APIC driver.
 *
 * Mode: whatever the firmware left.  With IA32_APIC_BASE.EXTD (bit 10) set
 * the LAPIC is in x2APIC mode and every register is MSR 0x800 + offset/16
 * (the ICR is one 64-bit MSR, ids are 32 bits); otherwise xAPIC mode,
 * registers are 32-bit MMIO at the base from IA32_APIC_BASE, reached
 * through the identity map (the firmware's MTRRs make that range
 * uncacheable), and ids are 8 bits.  Every CPU uses the boot CPU's mode.
 *
 * Enabling: spurious-interrupt vector register = enable | KS_VEC_SPURIOUS,
 * task priority 0 (accept everything), timer and error LVTs masked.  LINT0
 * and LINT1 are left as the firmware set them on the boot CPU (virtual
 * wire, NMI) and masked on APs.
 *
 * IPIs: in xAPIC mode the ICR is two registers (high: destination, low:
 * command, whose write sends), so a send is done with interrupts off --
 * an interrupt handler sending its own IPI between the two writes would
 * change the destination.  The delivery-status bit is polled with a bound.
 *
 * State: the mode, base and timer rate are written once on the boot CPU
 * before other CPUs start; each CPU touches only its own LAPIC.  No locks.
 */
#include "lapic.h"

#include <kspan/platform.h>
#include "cpu.h"
#include "tsc.h"
#include "lib/fmt.h"

#define REG_ID        0x020
#define REG_VERSION   0x030
#define REG_TPR       0x080
#define REG_EOI       0x0b0
#define REG_SVR       0x0f0
#define REG_ISR       0x100
#define REG_ESR       0x280
#define REG_ICR_LOW   0x300
#define REG_ICR_HIGH  0x310
#define REG_LVT_TIMER 0x320
#define REG_LVT_LINT0 0x350
#define REG_LVT_LINT1 0x360
#define REG_LVT_ERROR 0x370
#define REG_TIMER_INIT 0x380
#define REG_TIMER_CUR 0x390
#define REG_TIMER_DIV 0x3e0

#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_EXTD   (1ull << 10)
#define LVT_MASKED       (1u << 16)
#define LVT_PERIODIC     (1u << 17)
#define ICR_BUSY         (1u << 12)

static int x2;
static volatile uint32_t *mmio;
static uint64_t base_phys;
static uint64_t timer_hz;     /* LAPIC timer ticks per second, divide by 16 */
static int ready;

static inline uint32_t rd(unsigned reg)
{
	if (x2)
		return (uint32_t)rdmsr(0x800u + (reg >> 4));
	return mmio[reg / 4];
}

static inline void wr(unsigned reg, uint32_t v)
{
	if (x2)
		wrmsr(0x800u + (reg >> 4), v);
	else
		mmio[reg / 4] = v;
}

static void enable_this_cpu(int is_bsp)
{
	uint64_t b = rdmsr(KS_MSR_APIC_BASE);
	if (!(b & APIC_BASE_ENABLE))
		wrmsr(KS_MSR_APIC_BASE, b | APIC_BASE_ENABLE);
	if (x2 && !(b & APIC_BASE_EXTD))
		wrmsr(KS_MSR_APIC_BASE, b | APIC_BASE_ENABLE | APIC_BASE_EXTD);
	wr(REG_TPR, 0);
	wr(REG_LVT_TIMER, LVT_MASKED | KS_VEC_TIMER);
	wr(REG_LVT_ERROR, LVT_MASKED);
	if (!is_bsp) {
		wr(REG_LVT_LINT0, LVT_MASKED);
		wr(REG_LVT_LINT1, LVT_MASKED);
	}
	wr(REG_SVR, 0x100u | KS_VEC_SPURIOUS);
	if (!x2)
		wr(REG_ESR, 0);   /* clear errors (write then read) */
	(void)rd(REG_ESR);
}

int ks_lapic_init_bsp(uint64_t madt_addr)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(d & (1u << 9))) {
		ks_printf("lapic: CPUID says this CPU has no local APIC\n");
		return -1;
	}
	uint64_t msr = rdmsr(KS_MSR_APIC_BASE);
	x2 = (msr & APIC_BASE_EXTD) != 0;
	base_phys = msr & 0x000ffffffffff000ull;
	if (!x2) {
		if (madt_addr && madt_addr != base_phys)
			ks_printf("lapic: MADT says the LAPIC is at 0x%llx, "
			          "IA32_APIC_BASE says 0x%llx; using the MSR\n",
			          (unsigned long long)madt_addr,
			          (unsigned long long)base_phys);
		mmio = (volatile uint32_t *)(uintptr_t)base_phys;
	}
	enable_this_cpu(1);
	ready = 1;
	return 0;
}

int ks_lapic_ready(void) { return ready; }

void ks_lapic_init_ap(void)
{
	enable_this_cpu(0);
}

int ks_lapic_x2apic(void) { return x2; }
uint64_t ks_lapic_base(void) { return base_phys; }

uint32_t ks_lapic_id(void)
{
	return x2 ? rd(REG_ID) : rd(REG_ID) >> 24;
}

uint32_t ks_lapic_max_id(void)
{
	return x2 ? 0xfffffffeu : 0xfeu;
}

void ks_lapic_eoi(void)
{
	wr(REG_EOI, 0);
}

int ks_lapic_in_service(unsigned vector)
{
	return (rd(REG_ISR + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

static int wait_idle(void)
{
	if (x2)
		return 0;   /* no delivery status in x2APIC mode */
	uint64_t end = 0;
	while (rd(REG_ICR_LOW) & ICR_BUSY) {
		uint64_t now = rdtsc();
		if (!end)
			end = now + ks_tsc_from_us(100000);
		else if ((int64_t)(now - end) > 0)
			return -1;
		cpu_pause();
	}
	return 0;
}

int ks_lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
	ks_irqstate_t st = ks_plat_irq_save();
	int rc = wait_idle();
	if (rc == 0) {
		if (x2) {
			wrmsr(0x830, ((uint64_t)apic_id << 32) | icr_low);
		} else {
			wr(REG_ICR_HIGH, apic_id << 24);
			wr(REG_ICR_LOW, icr_low);
			rc = wait_idle();
		}
	}
	ks_plat_irq_restore(st);
	return rc;
}

void ks_lapic_timer_calibrate(void)
{
	wr(REG_TIMER_DIV, 0x3);                  /* divide by 16 */
	wr(REG_LVT_TIMER, LVT_MASKED | KS_VEC_TIMER);
	wr(REG_TIMER_INIT, 0xffffffffu);
	uint64_t t0 = rdtsc();
	ks_delay_us(10000);
	uint32_t left = rd(REG_TIMER_CUR);
	uint64_t t1 = rdtsc();
	wr(REG_TIMER_INIT, 0);
	uint64_t ticks = 0xffffffffull - left;
	uint64_t us = ks_tsc_to_us(t1 - t0);
	timer_hz = us ? ticks * 1000000 / us : 0;
}

uint64_t ks_lapic_timer_hz(void) { return timer_hz; }

void ks_lapic_timer_start(unsigned hz)
{
	uint64_t init = hz && timer_hz ? timer_hz / hz : 0;
	if (init == 0)
		init = 1;
	if (init > 0xffffffffull)
		init = 0xffffffffull;
	wr(REG_TIMER_DIV, 0x3);
	wr(REG_LVT_TIMER, LVT_PERIODIC | KS_VEC_TIMER);
	wr(REG_TIMER_INIT, (uint32_t)init);
}

void ks_lapic_timer_oneshot(uint64_t us)
{
	uint64_t init = timer_hz ? timer_hz * us / 1000000 : 0;
	if (init == 0)
		init = 1;
	if (init > 0xffffffffull)
		init = 0xffffffffull;
	wr(REG_TIMER_DIV, 0x3);
	wr(REG_LVT_TIMER, KS_VEC_TIMER);         /* one-shot, unmasked */
	wr(REG_TIMER_INIT, (uint32_t)init);
}

void ks_lapic_timer_stop(void)
{
	wr(REG_LVT_TIMER, LVT_MASKED | KS_VEC_TIMER);
	wr(REG_TIMER_INIT, 0);
}
