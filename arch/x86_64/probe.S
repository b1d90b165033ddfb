/*
 * Fault-tolerant memory probes (see trap.h).  ks_trap() recognizes a fault
 * whose RIP is ks_probe_read64_insn or ks_probe_write64_insn and resumes at
 * the matching fixup label, which returns -1.
 *
 *   int ks_probe_read64(const volatile void *addr, uint64_t *out)
 *   int ks_probe_write64(volatile void *addr, uint64_t val)
 */
	.text
	.code64

	.globl ks_probe_read64, ks_probe_read64_insn, ks_probe_read64_fixup
	.hidden ks_probe_read64_insn, ks_probe_read64_fixup
ks_probe_read64:
ks_probe_read64_insn:
	movq (%rdi), %rax
	movq %rax, (%rsi)
	xorl %eax, %eax
	ret
ks_probe_read64_fixup:
	movl $-1, %eax
	ret

	.globl ks_probe_write64, ks_probe_write64_insn, ks_probe_write64_fixup
	.hidden ks_probe_write64_insn, ks_probe_write64_fixup
ks_probe_write64:
ks_probe_write64_insn:
	movq %rsi, (%rdi)
	xorl %eax, %eax
	ret
ks_probe_write64_fixup:
	movl $-1, %eax
	ret

	.section .note.GNU-stack,"",@progbits
