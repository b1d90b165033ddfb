/*
 * The kernel's heap glue beyond the boot hook (see heap.c).
 */
#ifndef KSPAN_KERNEL_HEAP_H
#define KSPAN_KERNEL_HEAP_H

/* Every online CPU gives its cached spans and queued frees back
 * (kspan_drain_cpu on each, in its idle loop through ks_smp_run: a normal
 * context, never one that interrupted a kmalloc fast path).  The other
 * CPUs must be idle; one that is not is a panic naming it.  Not from an
 * interrupt handler. */
void ks_kernel_heap_drain_all(void);

/* Drain every CPU, check the heap, print its statistics. */
void ks_kernel_heap_report(void);

#endif
