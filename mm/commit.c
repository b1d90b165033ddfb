/*
 * Commits: every part of mm/ that backs memory (the arena's pages and
 * shadows, fixalloc's chunks, the guarded pool) calls ks_commit, which
 * notes a failure for the calling slot.
 *
 * See mm/malloc.c for the overview.
 *
 * Why: the reclaim (mm/reclaim.c) gives free heap pages back to the
 * platform only when that can help, that is when an allocation failed
 * because a commit did.  An allocation that fails for want of a free run
 * of pages (a fragmented or full heap) gains nothing from decommitting the
 * free ones, and would only pay to commit them again.
 *
 * Invariant: failed[s] is 1 if a commit failed on slot s (a CPU, the
 * interrupt slot or the overflow slot: the slot the caller's slow paths
 * use) since the last ks_commit_failed_take there.  A slot's entry is
 * written by other slots only through migration between the commit and
 * the take; the note is a hint (a stale one costs a scavenge, a missed one
 * a NULL that a second failure corrects), read and written atomically.
 */
#include "mm/commit.h"

#include <kspan/platform.h>

static uint8_t failed[KSPAN_MAX_CPUS + 1];

static uint8_t *my_note(void)
{
	ks_irqstate_t st = ks_plat_irq_save();
	unsigned s = ks_plat_cpu_id();
	ks_plat_irq_restore(st);
	return &failed[s < KSPAN_MAX_CPUS ? s : KSPAN_MAX_CPUS];
}

int ks_commit(void *addr, size_t len)
{
	int r = ks_plat_commit(addr, len);
	if (r != 0)
		__atomic_store_n(my_note(), 1, __ATOMIC_RELAXED);
	return r;
}

bool ks_commit_failed_take(void)
{
	return __atomic_exchange_n(my_note(), 0, __ATOMIC_RELAXED) != 0;
}
