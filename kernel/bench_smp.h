/*
 * The SMP scaling benchmark (see bench_smp.c), run by kmain after the
 * self-tests when the runner passes fw_cfg opt/kspan/bench=1 (make run).
 */
#ifndef KSPAN_KERNEL_BENCH_SMP_H
#define KSPAN_KERNEL_BENCH_SMP_H

void ks_bench_smp(void);

#endif
