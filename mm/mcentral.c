/*
 * mcentral: the central layer between the per-CPU caches and the page heap.
 *
 * See mm/malloc.c for the overview.
 *
 * As in Go 1.10, mcentral does not hold free objects: the spans do (their
 * free bits).  Each mcentral keeps two lists of its class's spans:
 *   nonempty  spans no CPU caches that have at least one free object;
 *   empty     spans a CPU caches (owner set), or with no free object.
 * A CPU whose cached span runs out gives it back (uncache) and takes a
 * span from nonempty (cache), or a fresh one from the heap.  Frees of
 * objects in spans the freeing CPU does not own arrive here in batches:
 * into freebits if no CPU owns the span, into remotebits if one does.  A
 * span no CPU owns whose objects are all free goes back to the heap.
 *
 * Invariants: a span is on exactly one list of its mcentral; an uncached
 * span has nremote == 0 and nfree exact; owner changes only here, under the
 * lock.
 *
 * Lock: one ticket spinlock per mcentral, taken with interrupts off, after
 * no other allocator lock; the heap lock may be taken inside it.
 */
#include "mm/mcentral.h"
#include "mm/arena.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/mheap.h"
#include "mm/mgc.h"

struct mcentral ks_mcentral[KS_NUM_SPAN_CLASSES];
struct mcentral ks_gccentral[KS_NUM_SPAN_CLASSES];

void mcentral_init(void)
{
	for (unsigned i = 0; i < KS_NUM_SPAN_CLASSES; i++) {
		for (unsigned gc = 0; gc < 2; gc++) {
			struct mcentral *c = gc ? &ks_gccentral[i] : &ks_mcentral[i];
			ks_spin_init(&c->lock, gc ? "gccentral" : "mcentral", KS_RANK_CENTRAL);
			c->spanclass = (spanclass_t)i;
			c->gc = (uint8_t)gc;
			c->nonempty = c->empty = NULL;
			c->nspans = c->nrefills = 0;
		}
	}
}

static void push(struct mspan **head, struct mspan *s, uint8_t id)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
	s->list = id;
}

static void unlink(struct mcentral *c, struct mspan *s)
{
	struct mspan **head = s->list == MSPAN_ON_NONEMPTY ? &c->nonempty : &c->empty;
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->list = MSPAN_ON_NONE;
}

static void set_owner(struct mspan *s, int owner)
{
	__atomic_store_n(&s->owner, (int16_t)owner, __ATOMIC_RELEASE);
}

struct mspan *mcentral_cache_span(struct mcentral *c, int cpu)
{
	/* cpu: the owner value (a CPU id, + KS_OWNER_GC for collector spans) */
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	struct mspan *s = c->nonempty;
	if (s) {
		unlink(c, s);
		KS_ASSERT(s->nremote == 0 && s->nfree > 0);
		set_owner(s, cpu);
		push(&c->empty, s, MSPAN_ON_EMPTY);
		c->nrefills++;
		ks_spin_unlock_irqrestore(&c->lock, st);
		mspan_load_word(s);
		return s;
	}
	ks_spin_unlock_irqrestore(&c->lock, st);

	unsigned cls = ks_spanclass_sizeclass(c->spanclass);
	s = mheap_alloc(ks_class_to_npages[cls], 1);
	if (!s)
		return NULL;
	mspan_init_small(s, c->spanclass);
	s->gc = c->gc;

	st = ks_spin_lock_irqsave(&c->lock);
	set_owner(s, cpu);
	push(&c->empty, s, MSPAN_ON_EMPTY);
	c->nspans++;
	c->nrefills++;
	ks_spin_unlock_irqrestore(&c->lock, st);
	mspan_load_word(s);
	return s;
}

/* s is uncached and its nfree exact: file it, or return it to the heap if
 * it is all free.  Lock held; returns the span to free to the heap after
 * unlocking, or NULL. */
static struct mspan *refile(struct mcentral *c, struct mspan *s)
{
	if (s->nfree == s->nelems) {
		unlink(c, s);
		c->nspans--;
		return s;
	}
	uint8_t want = s->nfree ? MSPAN_ON_NONEMPTY : MSPAN_ON_EMPTY;
	if (s->list != want) {
		unlink(c, s);
		push(want == MSPAN_ON_NONEMPTY ? &c->nonempty : &c->empty, s, want);
	}
	return NULL;
}

void mcentral_uncache_span(struct mcentral *c, struct mspan *s)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	mspan_release_word(s);
	set_owner(s, KS_NO_OWNER);
	mspan_count_free(s);
	mspan_merge_remote(s);
	struct mspan *dead = refile(c, s);
	ks_spin_unlock_irqrestore(&c->lock, st);
	if (dead)
		mheap_free(dead);
}

/* Free one object whose span no CPU owns; lock held. */
static struct mspan *free_uncached(struct mcentral *c, struct mspan *s,
                                   uint32_t idx, uintptr_t p)
{
	uint32_t w = idx / 64;
	uint64_t bit = 1ull << (idx % 64);
	KS_CHECK(!(s->freebits[w] & bit), "kfree(%p): double free (object "
	         "already free) in span %p [%p-%p) size %u", (void *)p,
	         (void *)s, (void *)s->base, (void *)mspan_end(s),
	         (unsigned)s->elemsize);
	s->freebits[w] |= bit;
	s->nfree++;
	return refile(c, s);
}

/* Free one object whose span another CPU owns: park it in remotebits. */
static void free_remote(struct mspan *s, uint32_t idx, uintptr_t p)
{
	uint64_t bit = 1ull << (idx % 64);
	uint64_t old = __atomic_fetch_or(&s->remotebits[idx / 64], bit,
	                                 __ATOMIC_ACQ_REL);
	KS_CHECK(!(old & bit), "kfree(%p): double free (object already freed "
	         "from another CPU) in span %p [%p-%p) size %u", (void *)p,
	         (void *)s, (void *)s->base, (void *)mspan_end(s),
	         (unsigned)s->elemsize);
	__atomic_fetch_add(&s->nremote, 1, __ATOMIC_ACQ_REL);
}

void mcentral_free_objects(struct mcentral *c, void *const *objs, unsigned n,
                           int cpu)
{
	struct mspan *dead[16];
	unsigned ndead = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	for (unsigned i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)objs[i];
		struct mspan *s = spanof(p);
		KS_ASSERT(s && s->state == MSPAN_INUSE && s->spanclass == c->spanclass);
		uint32_t idx = mspan_obj_index(s, p);
		int16_t owner = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
		if (owner == KS_NO_OWNER) {
			struct mspan *d = free_uncached(c, s, idx, p);
			if (d) {
				if (ndead == 16) {
					ks_spin_unlock_irqrestore(&c->lock, st);
					for (unsigned k = 0; k < ndead; k++)
						mheap_free(dead[k]);
					ndead = 0;
					st = ks_spin_lock_irqsave(&c->lock);
				}
				dead[ndead++] = d;
			}
		} else if (owner == cpu) {
			mspan_free_owned(s, idx, p);
		} else {
			free_remote(s, idx, p);
		}
	}
	ks_spin_unlock_irqrestore(&c->lock, st);
	for (unsigned k = 0; k < ndead; k++)
		mheap_free(dead[k]);
}

static uint64_t check_list(struct mcentral *c, struct mspan *head, uint8_t id)
{
	uint64_t n = 0;
	for (struct mspan *s = head; s; s = s->next) {
		KS_CHECK(s->list == id && s->spanclass == c->spanclass &&
		         s->state == MSPAN_INUSE && s->gc == c->gc,
		         "mcentral_check: span %p [%p] on class %u list %u has "
		         "list %u class %u state %u", (void *)s, (void *)s->base,
		         (unsigned)c->spanclass, (unsigned)id, (unsigned)s->list,
		         (unsigned)s->spanclass, (unsigned)s->state);
		KS_CHECK(spanof(s->base) == s, "mcentral_check: spans[] does not map "
		         "span %p [%p]", (void *)s, (void *)s->base);
		if (id == MSPAN_ON_NONEMPTY)
			KS_CHECK(s->owner == KS_NO_OWNER && s->nfree > 0 &&
			         s->nfree < s->nelems,
			         "mcentral_check: nonempty span %p [%p] owner %d nfree %u",
			         (void *)s, (void *)s->base, (int)s->owner,
			         (unsigned)s->nfree);
		else
			KS_CHECK(s->owner != KS_NO_OWNER || s->nfree == 0,
			         "mcentral_check: empty-list span %p [%p] is uncached "
			         "with %u free objects", (void *)s, (void *)s->base,
			         (unsigned)s->nfree);
		mspan_check(s);
		n++;
	}
	return n;
}

void mcentral_check(struct mcentral *c)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	uint64_t n = check_list(c, c->nonempty, MSPAN_ON_NONEMPTY) +
	             check_list(c, c->empty, MSPAN_ON_EMPTY);
	KS_CHECK(n == c->nspans, "mcentral_check: class %u has %lu spans on its "
	         "lists, nspans says %lu", (unsigned)c->spanclass,
	         (unsigned long)n, (unsigned long)c->nspans);
	ks_spin_unlock_irqrestore(&c->lock, st);
}

static uint64_t count_free_bits(const struct mspan *s)
{
	uint64_t n = 0;
	for (unsigned w = 0; w < s->nwords; w++)
		n += (uint64_t)ks_popcount64(s->freebits[w] |
		                                    s->remotebits[w]);
	if (s->owner != KS_NO_OWNER)
		n += (uint64_t)ks_popcount64(s->allocCache);
	return n;
}

void mcentral_count(struct mcentral *c, uint64_t *inuse, uint64_t *spans)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	uint64_t used = 0;
	for (struct mspan *s = c->nonempty; s; s = s->next)
		used += s->nelems - count_free_bits(s);
	for (struct mspan *s = c->empty; s; s = s->next)
		used += s->nelems - count_free_bits(s);
	*inuse = used;
	*spans = c->nspans;
	ks_spin_unlock_irqrestore(&c->lock, st);
}

void mcentral_sweep(struct mcentral *c, uint64_t *freed_objs,
                    uint64_t *freed_bytes, uint64_t *live_objs,
                    uint64_t *live_bytes)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	struct mspan *dead = NULL;
	struct mspan *lists[2] = { c->nonempty, c->empty };
	for (int l = 0; l < 2; l++) {
		struct mspan *next;
		for (struct mspan *s = lists[l]; s; s = next) {
			next = s->next;
			uint64_t freed = 0, live = 0;
			mspan_sweep(s, &freed, &live);
			*freed_objs += freed;
			*freed_bytes += freed * s->elemsize;
			*live_objs += live;
			*live_bytes += live * s->elemsize;
			if (refile(c, s)) {
				s->next = dead;   /* off every list: reuse the link */
				dead = s;
			}
		}
	}
	ks_spin_unlock_irqrestore(&c->lock, st);
	while (dead) {
		struct mspan *next = dead->next;
		dead->next = NULL;
		mheap_free(dead);
		dead = next;
	}
}
