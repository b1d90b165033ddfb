/*
 * Small-object bookkeeping of a span: free bits, the allocation word, remote
 * frees.  See mm/mspan.h for the invariants and mm/malloc.c for the
 * overview.  Nothing here takes a lock: callers either own the span (their
 * CPU caches it, interrupts off) or hold its mcentral lock.
 */
#include "mm/mspan.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/debugheap.h"
#include "mm/mgc.h"

void mspan_init_small(struct mspan *s, spanclass_t sc)
{
	unsigned cls = ks_spanclass_sizeclass(sc);
	KS_ASSERT(cls > 0 && cls < KS_NUM_SIZE_CLASSES);
	KS_ASSERT(s->npages == ks_class_to_npages[cls]);

	s->spanclass = sc;
	s->manual = 0;
	s->gc = 0;
	s->noscan = 0;
	s->elemsize = ks_class_to_size[cls];
	s->divmul = ks_class_to_divmul[cls];
	s->nelems = ks_class_to_nelems[cls];
	s->nwords = (uint16_t)((s->nelems + 63) / 64);
	s->owner = KS_NO_OWNER;
	s->nfree = s->nelems;
	s->nremote = 0;
	s->allocCache = 0;
	s->curword = 0;
	s->rot = 0;
	s->groupbase = s->base;
#if KSPAN_DEBUG_HEAP
	/* Every free object carries the poison the debug heap checks. */
	__builtin_memset((void *)s->base, KS_POISON_BYTE,
	                 (size_t)s->nelems * s->elemsize);
#endif
	for (unsigned w = 0; w < KS_FREE_WORDS; w++) {
		s->remotebits[w] = 0;
		s->markbits[w] = 0;
		if (w + 1 < s->nwords)
			s->freebits[w] = ~0ull;
		else if (w + 1 == s->nwords)
			s->freebits[w] = (s->nelems % 64) ? (1ull << (s->nelems % 64)) - 1
			                                  : ~0ull;
		else
			s->freebits[w] = 0;
	}
}

bool mspan_obj_is_free(const struct mspan *s, uint32_t idx)
{
	uint32_t w = idx / 64;
	uint64_t bit = 1ull << (idx % 64);
	if (s->freebits[w] & bit)
		return true;
	if (__atomic_load_n(&s->remotebits[w], __ATOMIC_RELAXED) & bit)
		return true;
	return s->owner != KS_NO_OWNER && w == s->curword &&
	       (s->allocCache & mspan_cache_bit(s, idx % 64));
}

void mspan_merge_remote(struct mspan *s)
{
	if (__atomic_load_n(&s->nremote, __ATOMIC_ACQUIRE) == 0)
		return;
	uint32_t merged = 0;
	for (unsigned w = 0; w < s->nwords; w++) {
		uint64_t r = __atomic_exchange_n(&s->remotebits[w], 0,
		                                 __ATOMIC_ACQ_REL);
		if (!r)
			continue;
		uint64_t have = s->freebits[w];
		if (s->owner != KS_NO_OWNER && w == s->curword)
			have |= ks_rotl64(s->allocCache, mspan_rot(s));
		if (ks_unlikely(have & r)) {
			unsigned bit = (unsigned)__builtin_ctzll(have & r);
			ks_panic("kfree(%p): double free (object already free; "
			         "found when merging remote frees of span %p "
			         "[%p-%p) size %u)",
			         (void *)(s->base + (w * 64 + bit) * (uintptr_t)s->elemsize),
			         (void *)s, (void *)s->base, (void *)mspan_end(s),
			         (unsigned)s->elemsize);
		}
		if (s->owner != KS_NO_OWNER && w == s->curword)
			s->allocCache |= ks_rotr64(r, mspan_rot(s));
		else
			s->freebits[w] |= r;
		merged += (uint32_t)ks_popcount64(r);
	}
	if (s->owner == KS_NO_OWNER)
		s->nfree += merged;
	__atomic_fetch_sub(&s->nremote, merged, __ATOMIC_ACQ_REL);
}

void mspan_free_owned(struct mspan *s, uint32_t idx, uintptr_t p)
{
	uint32_t w = idx / 64;
	uint64_t bit = w == s->curword ? mspan_cache_bit(s, idx % 64) : 1ull << (idx % 64);
	uint64_t *word = w == s->curword ? &s->allocCache : &s->freebits[w];
	KS_CHECK(!(*word & bit), "kfree(%p): double free (object already free) "
	         "in span %p [%p-%p) size %u", (void *)p, (void *)s,
	         (void *)s->base, (void *)mspan_end(s), (unsigned)s->elemsize);
	*word |= bit;
}

void mspan_release_word(struct mspan *s)
{
	s->freebits[s->curword] |= ks_rotl64(s->allocCache, mspan_rot(s));
	s->allocCache = 0;
}

void mspan_count_free(struct mspan *s)
{
	uint32_t n = 0;
	for (unsigned w = 0; w < s->nwords; w++)
		n += (uint32_t)ks_popcount64(s->freebits[w]);
	s->nfree = n;
}

/* A random number for the object order (any CPU, no lock: a Weyl
 * sequence through a mixer; lost updates between CPUs are harmless). */
static uint64_t order_seq;

static unsigned order_rand(void)
{
	return (unsigned)ks_mix64(__atomic_add_fetch(&order_seq, 0x9E3779B97F4A7C15ull,
	                                            __ATOMIC_RELAXED));
}

void mspan_seed_order(uint64_t seed)
{
	order_seq = seed;
}

bool mspan_load_word(struct mspan *s)
{
	KS_ASSERT(s->allocCache == 0);
	unsigned r = KSPAN_RANDOMIZE ? order_rand() : 0;
	unsigned first = KSPAN_RANDOMIZE ? (r >> 8) % s->nwords : 0;
	for (unsigned k = 0; k < s->nwords; k++) {
		unsigned w = (first + k) % s->nwords;
		if (s->freebits[w]) {
			s->curword = (uint16_t)w;
			s->rot = (uint8_t)(r & 63);
			s->allocCache = ks_rotr64(s->freebits[w], mspan_rot(s));
			s->freebits[w] = 0;
			s->groupbase = s->base + (uintptr_t)w * 64 * s->elemsize;
			return true;
		}
	}
	return false;
}

void mspan_check(const struct mspan *s)
{
	KS_CHECK(s->state == MSPAN_INUSE || s->state == MSPAN_FREE,
	         "mspan_check: span %p has bad state %u", (void *)s,
	         (unsigned)s->state);
	KS_CHECK((s->base & (KS_PAGE_SIZE - 1)) == 0 && s->npages > 0,
	         "mspan_check: span %p has bad range base %p npages %lu",
	         (void *)s, (void *)s->base, (unsigned long)s->npages);
	if (s->state != MSPAN_INUSE || s->spanclass == 0)
		return;
	unsigned cls = ks_spanclass_sizeclass(s->spanclass);
	KS_CHECK(cls < KS_NUM_SIZE_CLASSES && s->elemsize == ks_class_to_size[cls] &&
	         s->nelems == ks_class_to_nelems[cls] &&
	         s->npages == ks_class_to_npages[cls],
	         "mspan_check: span %p [%p] has fields that disagree with class %u",
	         (void *)s, (void *)s->base, cls);
	uint32_t count = 0, rcount = 0;
	for (unsigned w = 0; w < KS_FREE_WORDS; w++) {
		uint64_t f = s->freebits[w];
		uint64_t r = __atomic_load_n(&s->remotebits[w], __ATOMIC_RELAXED);
		if (s->owner != KS_NO_OWNER && w == s->curword) {
			KS_CHECK(f == 0, "mspan_check: span %p [%p]: cached word %u "
			         "also in freebits", (void *)s, (void *)s->base, w);
			f = ks_rotl64(s->allocCache, mspan_rot(s));
		}
		KS_CHECK(!(f & r), "mspan_check: span %p [%p]: object both free "
		         "and remotely freed in word %u", (void *)s,
		         (void *)s->base, w);
		uint64_t valid = w + 1 < s->nwords ? ~0ull
		               : w + 1 == s->nwords && (s->nelems % 64)
		                 ? (1ull << (s->nelems % 64)) - 1
		               : w + 1 == s->nwords ? ~0ull : 0;
		KS_CHECK(!((f | r) & ~valid), "mspan_check: span %p [%p]: free "
		         "bit beyond the last object in word %u", (void *)s,
		         (void *)s->base, w);
		count += (uint32_t)ks_popcount64(f);
		rcount += (uint32_t)ks_popcount64(r);
	}
	KS_CHECK(s->owner != KS_NO_OWNER || count == s->nfree,
	         "mspan_check: span %p [%p] class %u: nfree %u but %u free bits",
	         (void *)s, (void *)s->base, cls, (unsigned)s->nfree,
	         (unsigned)count);
	KS_CHECK(rcount == __atomic_load_n(&s->nremote, __ATOMIC_RELAXED),
	         "mspan_check: span %p [%p] class %u: nremote %u but %u "
	         "remote bits", (void *)s, (void *)s->base, cls,
	         (unsigned)s->nremote, (unsigned)rcount);
}

void mspan_sweep(struct mspan *s, uint64_t *freed, uint64_t *live)
{
	KS_ASSERT(s->gc && s->owner == KS_NO_OWNER && s->nremote == 0);
	for (unsigned w = 0; w < s->nwords; w++) {
		uint64_t valid = (w + 1 < s->nwords || s->nelems % 64 == 0)
		                 ? ~0ull : (1ull << (s->nelems % 64)) - 1;
		uint64_t allocated = ~s->freebits[w] & valid;
		uint64_t dead = allocated & ~s->markbits[w];
		s->freebits[w] |= dead;
		*freed += ks_popcount64(dead);
		*live += ks_popcount64(allocated & s->markbits[w]);
		s->markbits[w] = 0;
	}
	mspan_count_free(s);
}
