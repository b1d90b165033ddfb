/*
 * kspan platform interface: everything mm/ needs from the machine it runs on.
 *
 * mm/ is the same C code in every build (kspan's UEFI kernel, the host
 * library used by cmocka tests and the LD_PRELOAD shim, and any hobby kernel
 * that links build/libkspan.a).  It calls only the functions declared here;
 * each build supplies them once:
 *
 *   arch/x86_64/platform.c + kernel/pagesrc.c   kspan's own kernel
 *   arch/host/platform.c                        Linux host (tests, shim)
 *   your kernel                                 see docs/porting.md
 *
 * Terms: a *frame* is 4 KiB of physical memory; a *page* is an 8 KiB heap page
 * (KSPAN_PAGE_SIZE).  The interface speaks in bytes of address space so that
 * it never needs to know either.
 *
 * Memory follows Go's state names: address space is Reserved (no memory
 * behind it), then Committed (readable and writable, zero on first commit),
 * and can be Decommitted again (memory returned; contents lost).
 *
 * Context rules: every hook may be called with interrupts disabled and with
 * kspan's spinlocks held.  Hooks must not call back into kspan (no kmalloc
 * inside ks_plat_commit).
 */
#ifndef KSPAN_PLATFORM_H
#define KSPAN_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of CPU slots (per-CPU caches) kspan keeps. */
#ifndef KSPAN_MAX_CPUS
#define KSPAN_MAX_CPUS 64
#endif

/* ---- Output and fatal errors ------------------------------------------ */

/* Write n bytes of text to the console / log.  Must not allocate. */
void ks_plat_write(const char *s, size_t n);

/* Stop everything: kspan found corrupted state or a caller's bug.  msg is a
 * complete human-readable message (already formatted).  Never returns. */
__attribute__((noreturn)) void ks_plat_abort(const char *msg);

/* ---- CPU identity and the interrupt / preemption guard ----------------- */

/* The caller's CPU slot, 0 <= id < KSPAN_MAX_CPUS.  Stable for as long as the
 * caller holds a guard from ks_plat_irq_save() (on the host: for the life of
 * the thread). */
unsigned ks_plat_cpu_id(void);

/* Disable interrupts and preemption on this CPU and return the previous
 * state; ks_plat_irq_restore() puts it back.  Nests. */
typedef uintptr_t ks_irqstate_t;
ks_irqstate_t ks_plat_irq_save(void);
void ks_plat_irq_restore(ks_irqstate_t st);

#if defined(KSPAN_OWN_SLOTS) && KSPAN_OWN_SLOTS
/* Only for a library built with KSPAN_OWN_SLOTS=1 (kspan's own kernel and
 * host platform; docs/porting.md, "Own slots"): the fast paths of kmalloc
 * and kfree then take no guard at all.
 *
 * ks_plat_own_slot: the caller's slot when nothing else can run kspan on
 * that slot before the caller returns (no other thread, no interrupt
 * handler, no preemption): a host thread's own slot, or a kernel CPU's
 * slot outside interrupt handlers.  KSPAN_MAX_CPUS when there is none: a
 * host thread that shares a slot, or any interrupt handler.  No guard
 * needed to call it.
 *
 * ks_plat_cpu_id must then give a caller without an own slot a slot no
 * fast path uses (kspan's slow paths serve it there under
 * ks_plat_irq_save): the host's shared overflow slot (its irq_save
 * serialises the threads that share it), or in a kernel the CPU's
 * interrupt slot, which only that CPU's interrupt handlers use.
 *
 * ks_plat_irq_slot: the interrupt slot of CPU slot cpu, or KSPAN_MAX_CPUS
 * if the platform has none (kspan_drain_cpu drains it too). */
unsigned ks_plat_own_slot(void);
unsigned ks_plat_irq_slot(unsigned cpu);
#endif

/* Called in spin loops (x86: pause; host: may yield after a while). */
void ks_plat_cpu_relax(void);

/* A monotonic cycle or nanosecond counter, for statistics only. */
uint64_t ks_plat_now(void);

/* ---- Address space and memory ---------------------------------------- */

/* Reserve len bytes of address space aligned to align (a power of two, at
 * least 4096).  Returns NULL if none is left.  Reserved space is not usable
 * until committed. */
void *ks_plat_reserve(size_t len, size_t align);

/* Back [addr, addr+len) with memory.  addr and len are multiples of 4096 and
 * lie in one reservation.  Idempotent: already committed parts stay as they
 * are.  Memory committed for the first time (or again after a decommit)
 * reads as zero.  Returns 0, or -1 when memory ran out (then any part may be
 * committed; the caller may decommit it). */
int ks_plat_commit(void *addr, size_t len);

/* Give the memory behind [addr, addr+len) back.  Idempotent.  The range stays
 * reserved and may be committed again. */
void ks_plat_decommit(void *addr, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* KSPAN_PLATFORM_H */
