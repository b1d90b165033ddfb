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

#if defined(KSPAN_THREAD_SLOTS) && KSPAN_THREAD_SLOTS
/* Only for platforms whose CPU slots are threads (kspan's host platform,
 * built with KSPAN_THREAD_SLOTS=1; a kernel never provides it): the
 * calling thread's own slot, which no interrupt or other thread ever uses,
 * or KSPAN_MAX_CPUS if it has none yet (or shares one).  No guard needed:
 * the fast paths call it instead of ks_plat_irq_save + ks_plat_cpu_id, and
 * take the guard on their slow paths. */
unsigned ks_plat_own_slot(void);
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
