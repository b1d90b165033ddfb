/*
 * Off-heap metadata pools (mm/meta.h): fixallocs under one lock.
 */
#include "mm/meta.h"
#include "lib/spinlock.h"

static struct ks_spinlock meta_lock = KS_SPINLOCK_INIT("meta", KS_RANK_META);
#define MAX_POOLS 8
static struct fixalloc *pools[MAX_POOLS];
static unsigned npools;

int meta_pool_init(struct fixalloc *f, size_t size, size_t max)
{
	if (npools == MAX_POOLS || fixalloc_init(f, size, max) != 0)
		return -1;
	pools[npools++] = f;
	return 0;
}

size_t ks_meta_committed(void)
{
	size_t n = 0;
	for (unsigned i = 0; i < npools; i++)
		n += __atomic_load_n(&pools[i]->committed, __ATOMIC_RELAXED);
	return n;
}

void *meta_alloc(struct fixalloc *f)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&meta_lock);
	void *p = fixalloc_alloc(f);
	ks_spin_unlock_irqrestore(&meta_lock, st);
	return p;
}

void meta_free(struct fixalloc *f, void *p)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&meta_lock);
	fixalloc_free(f, p);
	ks_spin_unlock_irqrestore(&meta_lock, st);
}

struct ks_spinlock *ks_meta_lock(void)
{
	return &meta_lock;
}
