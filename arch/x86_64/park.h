/*
 * How a CPU waits for another: parked in hlt until a kick (an NMI) or an
 * interrupt, instead of spinning.  Under QEMU's TCG every virtual CPU is a
 * host thread; a spinning CPU burns host time that the CPU it waits for
 * (a lock holder, a CPU that has to answer a request) needs, and with more
 * virtual CPUs than host cores that is what makes waits long.  A CPU in
 * hlt gives its host core back.  On hardware the same code saves power.
 *
 * The protocol, for a waiter that waits for *word to change (a lock's
 * owner ticket, a counter, an epoch):
 *
 *   for (;;) {
 *           uint32_t seq = ks_park_prepare(word, tag);  // announce
 *           if (<done, or something else to do>) {
 *                   ks_park_cancel();
 *                   break / continue;
 *           }
 *           ks_park_wait(word, seen, seq);               // hlt, maybe
 *   }
 *
 * and for the CPU that changes the word: store it, then ks_park_kick(word)
 * (or _kick_tag to wake only some of the waiters, or _kick_cpu for a
 * request the waiter checks besides the word).  Both sides use full
 * barriers (announce, then read; write, then read the announcements), so
 * either the waiter sees the change or the waker sees the announcement
 * and sends the NMI.  A kick or interrupt that arrives after prepare and
 * before the hlt bumps the CPU's wake sequence or moves it past the hlt
 * (ks_park_trap_entry), so it is never lost.  ks_park_wait may return
 * early, for any interrupt or NMI: callers loop.
 *
 * TLB: a CPU in the halt window touches no memory but its per-CPU block
 * and the word, so TLB shootdowns skip it (ks_park_defer_flush): it
 * flushes its own TLB on the way out, before it touches anything else.
 * The word must stay mapped while anyone parks on it (a live lock does).
 *
 * Parking with interrupts off is allowed (spinlock waiters, CPUs stopped
 * for the collector): only NMIs -- kicks -- end it then.  Kicks are sent
 * only once smp_call.c handles NMIs (ks_park_set_cpus with more than one
 * CPU); before that there is nobody to wait for.
 */
#ifndef KSPAN_ARCH_X86_64_PARK_H
#define KSPAN_ARCH_X86_64_PARK_H

#include <stdint.h>

struct ks_trapframe;

/* Announce that this CPU is about to park on word (tag: what it waits
 * for there, for ks_park_kick_tag), with a full barrier.  Returns the
 * wake sequence to pass to ks_park_wait. */
uint32_t ks_park_prepare(const void *word, uint32_t tag);
/* Withdraw the announcement (the caller will not wait after all). */
void ks_park_cancel(void);
/* Halt unless *word != val or an interrupt or NMI came since prepare;
 * then withdraw the announcement. */
void ks_park_wait(const uint32_t *word, uint32_t val, uint32_t seq);
/* The same with a time limit: with interrupts on, a one-shot LAPIC timer
 * ends the halt at deadline (TSC) if nothing else does; with interrupts
 * off it does not halt (it pauses once).  Returns 1 once the deadline has
 * passed, 0 otherwise. */
int ks_park_wait_until(const uint32_t *word, uint32_t val, uint32_t seq,
                       uint64_t deadline);

/* Kick every CPU announced on word; those whose tag is in
 * [lo, lo + n) (modulo 2^32); or cpu, whatever it is parked on, if it
 * parked with interrupts off (with interrupts on, the interrupt that
 * carries a request ends the park by itself). */
void ks_park_kick(const void *word);
void ks_park_kick_tag(const void *word, uint32_t lo, uint32_t n);
void ks_park_kick_cpu(unsigned cpu);

/* TLB shootdown (smp_call.c): 1 if cpu is in its halt window and will
 * flush its TLB before it touches memory again (it need not be sent the
 * NMI), 0 if it is running. */
int ks_park_defer_flush(unsigned cpu);

/* trap.c, first thing for every interrupt and NMI: bump the wake
 * sequence, move a RIP inside the halt window past the hlt, leave the
 * halted state (flushing the TLB if a shootdown was deferred). */
void ks_park_trap_entry(struct ks_trapframe *tf);

/* smp_call.c: CPUs 0..n-1 may be running and NMIs are handled; kicks go
 * to them from now on (the count only grows). */
void ks_park_set_cpus(unsigned n);

#endif
