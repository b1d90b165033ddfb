/*
 * The halt window of park.c (see park.h):
 *
 *   uint32_t ks_park_halt(const uint32_t *word, uint32_t val, uint32_t seq,
 *                         uint32_t *halted, const uint32_t *wake_seq)
 *
 * Marks this CPU halted (*halted = 1: out of TLB shootdowns from here), and
 * executes hlt only if *word is still val and no interrupt or NMI came
 * since the caller read seq (*wake_seq == seq).  Returns the halted state
 * it leaves (0 if a trap took it away, 1, or 2 when a TLB shootdown was
 * deferred to this CPU: the caller flushes).
 *
 * Every trap entry (park.c, ks_park_trap_entry) bumps *wake_seq, leaves
 * the halted state, and moves a RIP in [ks_park_window, ks_park_window_end)
 * to ks_park_window_end: an interrupt or kick that lands between the checks
 * and the hlt cancels the hlt instead of being lost.  A hlt that was
 * executed returns there anyway.
 */
	.text
	.code64

	.globl ks_park_halt, ks_park_window, ks_park_window_end
	.hidden ks_park_window, ks_park_window_end
ks_park_halt:
ks_park_window:
	movl $1, (%rcx)
	cmpl %esi, (%rdi)
	jne ks_park_window_end
	cmpl %edx, (%r8)
	jne ks_park_window_end
	hlt
ks_park_window_end:
	xorl %eax, %eax
	xchgl %eax, (%rcx)
	ret

	.section .note.GNU-stack,"",@progbits
