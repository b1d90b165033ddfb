/*
 * kspan's porting hooks (include/kspan/platform.h) for the mb2 example
 * kernel: one CPU, no preemption, interrupts kept off.
 *
 *   output     ks_plat_write -> COM1 (kspan's ks_printf, which this kernel
 *              uses for all its output, writes through it too);
 *              ks_plat_abort -> "PANIC: kspan: ..." on COM1, then QEMU
 *              exits with the failure status.
 *   CPU        always slot 0; the guard is pushfq / cli ... popfq-style
 *              (IF restored only if it was set), so it nests; the clock
 *              is the TSC.
 *   memory     ks_plat_reserve hands out aligned pieces of one 512 GiB
 *              window at HEAP_WINDOW_BASE (its own PML4 slot), bump-style:
 *              reservations are never returned (platform.h has no release).
 *              ks_plat_commit backs each 4 KiB page with a frame from
 *              ks_frame_alloc, zeroed first, mapped by paging.c;
 *              ks_plat_decommit unmaps pages and gives the frames back with
 *              ks_frame_free.  Both skip pages already in the wanted state
 *              (idempotent).
 *
 * Invariants: a page of the window is mapped iff it is committed, and then
 * it maps a frame the frame map shows as in use; committed_bytes counts
 * exactly those pages.  A commit/decommit range that is misaligned or not
 * inside one reservation is a bug in the caller: it stops the kernel with
 * the address and the reason.
 */
#include <stdint.h>
#include <kspan/fmt.h>
#include <kspan/frame.h>
#include <kspan/platform.h>

#include "kernel.h"

#define PAGE      ((uint64_t)KS_FRAME_SIZE)
#define MAX_RES   64
#define RFLAGS_IF 0x200u

struct reservation {
	uintptr_t base;
	size_t len;
};

static struct reservation res[MAX_RES];
static unsigned nres;
static uintptr_t window_next = HEAP_WINDOW_BASE;
static uint64_t committed_bytes;

/* ---- output and fatal errors ---- */

void ks_plat_write(const char *s, size_t n)
{
	serial_write(s, n);
}

void ks_plat_abort(const char *msg)
{
	panic("kspan: %s", msg);
}

/* ---- CPU and the interrupt guard ---- */

unsigned ks_plat_cpu_id(void)
{
	return 0;
}

ks_irqstate_t ks_plat_irq_save(void)
{
	uint64_t f;
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(f) : : "memory");
	return (ks_irqstate_t)(f & RFLAGS_IF);
}

void ks_plat_irq_restore(ks_irqstate_t st)
{
	if (st & RFLAGS_IF)
		__asm__ volatile("sti" : : : "memory");
}

void ks_plat_cpu_relax(void)
{
	__asm__ volatile("pause");
}

uint64_t ks_plat_now(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* ---- address space ---- */

void *ks_plat_reserve(size_t len, size_t align)
{
	const uintptr_t end = HEAP_WINDOW_BASE + HEAP_WINDOW_SIZE;
	if (len == 0 || align < PAGE || (align & (align - 1)))
		ks_plat_abort("ks_plat_reserve: len 0, or align not a power of two >= 4096");
	ks_irqstate_t st = ks_plat_irq_save();
	void *ret = 0;
	uintptr_t base = (window_next + align - 1) & ~(uintptr_t)(align - 1);
	size_t rlen = (len + PAGE - 1) & ~(size_t)(PAGE - 1);
	if (nres == MAX_RES) {
		ks_printf("mb2: ks_plat_reserve: all %d reservation slots used\n", MAX_RES);
	} else if (base >= window_next && base < end && rlen >= len &&
	           rlen <= end - base) {
		res[nres].base = base;
		res[nres].len = rlen;
		nres++;
		window_next = base + rlen;
		ret = (void *)base;
	}
	ks_plat_irq_restore(st);
	return ret;
}

/* Check that [va, va+len) is page aligned and inside one reservation. */
static void check_range(const char *who, uintptr_t va, size_t len)
{
	const char *what = 0;
	if ((va | len) & (PAGE - 1)) {
		what = "not a multiple of 4096";
	} else {
		unsigned i;
		for (i = 0; i < nres; i++)
			if (va >= res[i].base && va - res[i].base <= res[i].len &&
			    len <= res[i].len - (va - res[i].base))
				break;
		if (i == nres)
			what = "not inside one reservation";
	}
	if (what)
		panic("kspan: %s(%p, 0x%lx): %s", who, (void *)va, (uint64_t)len,
		      what);
}

int ks_plat_commit(void *addr, size_t len)
{
	uintptr_t va = (uintptr_t)addr;
	check_range("ks_plat_commit", va, len);
	ks_irqstate_t st = ks_plat_irq_save();
	int rc = 0;
	for (size_t off = 0; off < len; off += PAGE) {
		if (pg_lookup(va + off))
			continue;                       /* already committed */
		uint64_t f = ks_frame_alloc(1, PAGE);
		if (!f) {
			rc = -1;
			break;
		}
		memset(phys_to_virt(f), 0, PAGE);
		if (pg_map(va + off, f) != 0) {         /* no frame for a table */
			ks_frame_free(f, 1);
			rc = -1;
			break;
		}
		committed_bytes += PAGE;
	}
	ks_plat_irq_restore(st);
	return rc;
}

void ks_plat_decommit(void *addr, size_t len)
{
	uintptr_t va = (uintptr_t)addr;
	check_range("ks_plat_decommit", va, len);
	ks_irqstate_t st = ks_plat_irq_save();
	for (size_t off = 0; off < len; off += PAGE) {
		uint64_t f = pg_unmap(va + off);
		if (!f)
			continue;                       /* not committed */
		ks_frame_free(f, 1);
		committed_bytes -= PAGE;
	}
	ks_plat_irq_restore(st);
}

uint64_t plat_committed_bytes(void)
{
	return committed_bytes;
}
