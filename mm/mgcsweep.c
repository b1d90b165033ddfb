/*
 * The collector's sweep (see mm/mgc.c for the cycle): with the world
 * stopped and every CPU's collector spans back on the central lists, each
 * span's allocated objects without a mark bit become free, a few word
 * operations per 64 objects (Go's "the mark bits become the alloc bits");
 * a span whose objects are all free goes back to the heap.  Mark bits sit
 * at the same (key-permuted) positions as free bits.
 */
#include "lib/config.h"
#if KSPAN_GC
#include "mm/mgc.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/mcentral.h"
#include "mm/mheap.h"
#include "mm/spanlist.h"

uint64_t mspan_valid_bits(const struct mspan *s, unsigned w)
{
	if (w + 1 < s->nwords)
		return ~0ull;
	if (w + 1 > s->nwords)
		return 0;
	uint64_t v = 0;
	for (unsigned i = 0; i < s->nelems - w * 64u; i++)
		v |= 1ull << ((i ^ s->key) & 63);
	return v;
}

/* Sweep span s: returns the objects it frees; adds its live ones. */
static uint64_t sweep_span(struct mspan *s, uint64_t *live)
{
	KS_ASSERT(s->gc && s->owner == KS_NO_OWNER);
	uint64_t freed = 0;
	for (unsigned w = 0; w < s->nwords; w++) {
		uint64_t allocated = ~s->freebits[w] & mspan_valid_bits(s, w);
		uint64_t dead = allocated & ~s->markbits[w];
		s->freebits[w] |= dead;
		freed += ks_popcount64(dead);
		*live += ks_popcount64(allocated & s->markbits[w]);
		s->markbits[w] = 0;
	}
	mspan_count_free(s);
	return freed;
}

void mcentral_sweep(struct mcentral *c, uint64_t *freed_objs,
                    uint64_t *freed_bytes, uint64_t *live_objs,
                    uint64_t *live_bytes)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	struct mspan *dead = NULL;
	struct mspan *all = NULL;
	/* Take every span off both lists, sweep it, file it again. */
	while (c->partial || c->full) {
		struct mspan *s = c->partial ? c->partial : c->full;
		spanlist_remove(s == c->partial ? &c->partial : &c->full, s);
		s->list = MSPAN_ON_NONE;
		spanlist_push(&all, s);
	}
	while (all) {
		struct mspan *s = all;
		spanlist_remove(&all, s);
		uint64_t live = 0, freed = sweep_span(s, &live);
		*freed_objs += freed;
		*freed_bytes += freed * s->elemsize;
		*live_objs += live;
		*live_bytes += live * s->elemsize;
		if (s->nfree == s->nelems) {
			c->nspans--;
			s->next = dead;   /* off every list: reuse the link */
			dead = s;
			continue;
		}
		uint8_t id = s->nfree ? MSPAN_ON_PARTIAL : MSPAN_ON_FULL;
		spanlist_push(id == MSPAN_ON_PARTIAL ? &c->partial : &c->full, s);
		s->list = id;
	}
	ks_spin_unlock_irqrestore(&c->lock, st);
	while (dead) {
		struct mspan *next = dead->next;
		dead->next = NULL;
		mheap_free(dead);
		dead = next;
	}
}
#endif
