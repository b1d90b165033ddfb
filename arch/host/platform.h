/*
 * Host-only controls of the host platform (arch/host/platform.c), for tests
 * and the LD_PRELOAD shim (shim/shim.c).  mm/ never includes this.
 */
#ifndef KSPAN_ARCH_HOST_PLATFORM_H
#define KSPAN_ARCH_HOST_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Bytes currently committed, over all reservations. */
size_t ks_host_committed(void);

/* Make ks_plat_commit fail once committed bytes would exceed limit
 * (0 = no limit).  For out-of-memory tests. */
void ks_host_set_commit_limit(size_t limit);

/* Called on a thread's exit before its CPU slot is released (the shim and
 * tests set it to kspan_drain_cpu). */
void ks_host_set_thread_exit_hook(void (*fn)(void));

/* Number of CPU slots currently held by live threads. */
unsigned ks_host_slots_in_use(void);

/* Run the calling thread on CPU slot slot from now on, and return the
 * slot it had (claiming one first if it had none): for a test driver that
 * plays several CPUs from one thread, one after the other, where a thread
 * handoff would cost two context switches per switch (tests/fuzz).  slot
 * must be claimed (by a thread that now waits, or by this one: switching
 * back) and no other thread may run kspan on it until the caller switches
 * away; otherwise the process aborts. */
unsigned ks_host_switch_slot(unsigned slot);

/* Number of slots retired in a fork child (their threads did not survive
 * the fork; see ks_host_atfork_child). */
unsigned ks_host_slots_lost(void);

/* fork() support, for the shim's pthread_atfork handlers.  Prepare, in this
 * order: ks_host_atfork_prepare_slots() (the overflow slot's guard, outside
 * every allocator lock), then kspan's locks, then
 * ks_host_atfork_prepare_memory() (the reservation lock, inside the heap
 * lock).  After fork: ks_host_atfork_parent() in the parent (after kspan's
 * locks are released) and ks_host_atfork_child() in the child, which
 * releases both locks and retires the CPU slots of the threads that did
 * not survive the fork. */
void ks_host_atfork_prepare_slots(void);
void ks_host_atfork_prepare_memory(void);
void ks_host_atfork_parent(void);
void ks_host_atfork_child(void);

/* Put the reservation [addr, addr + len), in which nothing is committed
 * yet, in guard-marker mode: one read-write mapping whose uncommitted
 * pages carry Linux's lightweight guard markers (MADV_GUARD_INSTALL, Linux
 * 6.13), so that commits and decommits split no mapping.  Returns 0, or -1
 * (the kernel has no guard markers, or addr/len is not a whole fresh
 * reservation): it stays as it was, PROT_NONE where not committed. */
int ks_host_guard_markers(void *addr, size_t len);

/* The guard mode's fault handler (builds with assertions or the debug
 * heap; not the release shim).  Installs a SIGSEGV handler (SA_SIGINFO,
 * SA_ONSTACK) that asks kspan_guard_fault about the faulting address, with
 * read or write from the page-fault error code (x86_64: REG_ERR bit 1):
 * for an address in the guarded pool it writes the one-line report to
 * stderr and aborts; any other SIGSEGV goes to the handler that was
 * installed before (or gets the default action: the fault repeats with
 * SIG_DFL, a kill(2)ed SIGSEGV is raised again).  Returns 0, or -1 if
 * sigaction failed. */
int ks_host_guard_faults(void);

/* vm.max_map_count (/proc/sys/vm/max_map_count), or 65530 when it cannot
 * be read.  Every live guarded object costs two mappings. */
unsigned long ks_host_max_map_count(void);

#endif
