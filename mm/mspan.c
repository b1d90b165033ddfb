/*
 * The objects of a span: free bits, the word an owner allocates from, the
 * span validator.  See mm/mspan.h for the invariants and mm/malloc.c for
 * the overview.  Nothing here takes a lock: callers either own the span
 * (their CPU holds it, interrupts off) or hold its mcentral lock.
 */
#include "mm/mspan.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/debugheap.h"
#include "mm/mcentral.h"
#include "mm/slab.h"

void mspan_init_small(struct mspan *s, struct mcentral *c, uint8_t key)
{
	KS_ASSERT(s->npages == c->npages);
	s->central = c;
	s->spanclass = c->spanclass;
	s->manual = 0;
	s->gc = c->gc;
	s->noscan = 0;
	s->elemsize = c->elemsize;
	s->divmagic = c->divmagic;
	s->nelems = c->nelems;
	s->limit = (uintptr_t)c->nelems * c->elemsize;
	s->nwords = (uint16_t)((s->nelems + 63) / 64);
	s->owner = KS_NO_OWNER;
	s->nfree = s->nelems;
	s->curword = 0;
	s->key = KSPAN_RANDOMIZE ? key & 63 : 0;
#if KSPAN_DEBUG_HEAP
	/* Every free object carries the poison the debug heap checks. */
	__builtin_memset((void *)s->base, KS_POISON_BYTE, s->limit);
#endif
	/* Object i is at bit i ^ key: the key permutes bits within a word, so
	 * a word's set of valid bits is the same set permuted.  Only the last
	 * word can be partial. */
	for (unsigned w = 0; w < KS_FREE_WORDS; w++) {
		uint64_t bits = 0;
		if (w + 1 < s->nwords) {
			bits = ~0ull;
		} else if (w + 1 == s->nwords) {
			unsigned n = s->nelems - w * 64;
			for (unsigned i = 0; i < n; i++)
				bits |= 1ull << ((i ^ s->key) & 63);
		}
		s->freebits[w] = bits;
		s->cachebits[w] = 0;   /* the collector's mark bits, too */
	}
}

bool mspan_obj_is_free(const struct mspan *s, uint32_t idx)
{
	uint32_t pos = mspan_bitpos(s, idx);
	return (mspan_free_word(s, pos / 64) >> (pos % 64)) & 1;
}

void mspan_free_bit(struct mspan *s, uint32_t idx, uintptr_t p, const char *fn)
{
	uint32_t pos = mspan_bitpos(s, idx);
	uint64_t w = mspan_word(s, pos / 64), bit = 1ull << (pos % 64);
	if (ks_unlikely((w & bit) || (!s->gc && mspan_in_cache(s, pos)))) {
		if (s->central->cache)
			ks_panic("%s(%p): double free (object already free) in span "
			         "%p [%p-%p) size %u of cache \"%s\"", fn, (void *)p,
			         (void *)s, (void *)s->base, (void *)mspan_end(s),
			         (unsigned)s->elemsize, ks_slab_name(s->central->cache));
		ks_panic("%s(%p): double free (object already free) in span "
		         "%p [%p-%p) size %u", fn, (void *)p, (void *)s, (void *)s->base,
		         (void *)mspan_end(s), (unsigned)s->elemsize);
	}
	mspan_set_word(s, pos / 64, w | bit);
	s->nfree++;
}

uint32_t mspan_count_bits(const struct mspan *s)
{
	uint32_t n = 0;
	for (unsigned w = 0; w < s->nwords; w++)
		n += ks_popcount64(mspan_free_word(s, w));
	return n;
}

uint32_t mspan_count_free(struct mspan *s)
{
	return s->nfree = mspan_count_bits(s);
}

bool mspan_pick_word(struct mspan *s, uint64_t rnd, unsigned want)
{
	unsigned first = KSPAN_RANDOMIZE ? (unsigned)(rnd % s->nwords) : 0;
	unsigned best = 0, bestn = 0;
	for (unsigned k = 0; k < s->nwords; k++) {
		unsigned w = first + k < s->nwords ? first + k : first + k - s->nwords;
		unsigned n = (unsigned)ks_popcount64(mspan_word(s, w));
		if (n >= want && n) {
			s->curword = (uint16_t)w;
			return true;
		}
		if (n > bestn) {
			best = w;
			bestn = n;
		}
	}
	if (!bestn)
		return false;
	s->curword = (uint16_t)best;
	return true;
}

void mspan_check(const struct mspan *s)
{
	KS_CHECK(s->state == MSPAN_INUSE || s->state == MSPAN_FREE,
	         "mspan_check: span %p has bad state %u", (void *)s,
	         (unsigned)s->state);
	KS_CHECK((s->base & (KS_PAGE_SIZE - 1)) == 0 && s->npages > 0,
	         "mspan_check: span %p has bad range base %p npages %lu",
	         (void *)s, (void *)s->base, (unsigned long)s->npages);
	if (s->state != MSPAN_INUSE || !s->central)
		return;
	const struct mcentral *c = s->central;
	KS_CHECK(s->elemsize == c->elemsize && s->nelems == c->nelems &&
	         s->npages == c->npages && s->divmagic == c->divmagic &&
	         s->limit == (uintptr_t)s->nelems * s->elemsize &&
	         s->limit <= (s->npages << KS_PAGE_SHIFT),
	         "mspan_check: span %p [%p] has fields that disagree with its "
	         "class (%u-byte objects)", (void *)s, (void *)s->base,
	         (unsigned)c->elemsize);
	uint32_t count = 0;
	for (unsigned w = 0; w < KS_FREE_WORDS; w++) {
		uint64_t f = mspan_word(s, w), valid = 0;
		if (!s->gc) {
			uint64_t cb = s->cachebits[w];
			KS_CHECK(!(f & cb) && (!cb || (w == s->curword && s->owner != KS_NO_OWNER)),
			         "mspan_check: span %p [%p]: allocation cache word %u "
			         "(0x%llx) overlaps its free bits, is not the word its "
			         "owner allocates from, or there is no owner", (void *)s,
			         (void *)s->base, w, (unsigned long long)cb);
			f |= cb;
		}
		if (w + 1 < s->nwords)
			valid = ~0ull;
		else if (w + 1 == s->nwords)
			for (unsigned i = 0; i < s->nelems - w * 64u; i++)
				valid |= 1ull << ((i ^ s->key) & 63);
		KS_CHECK(!(f & ~valid), "mspan_check: span %p [%p]: free bit "
		         "beyond the last object in word %u", (void *)s,
		         (void *)s->base, w);
		count += ks_popcount64(f);
	}
	KS_CHECK(s->owner != KS_NO_OWNER || count == s->nfree,
	         "mspan_check: span %p [%p] (%u-byte objects): nfree %u but %u "
	         "free bits", (void *)s, (void *)s->base, (unsigned)s->elemsize,
	         (unsigned)s->nfree, (unsigned)count);
}
