/*
 * mcentral: the central layer between the per-CPU caches and the page heap,
 * one per class.
 *
 * See mm/malloc.c for the overview.
 *
 * As in Go 1.10, mcentral does not hold free objects: the spans do (their
 * free bits).  It keeps the class's spans that no CPU owns on lists:
 *   partial   at least one object free;
 *   full      no object free;
 *   empty     every object free: a reserve of at most KS_CENTRAL_EMPTY
 *             spans of a kmalloc class (collector classes keep none), the
 *             next to be handed out after partial ones.
 * Spans a CPU owns are on none of them (the CPU's mcache holds them).  A
 * CPU that needs a span takes one from partial (cache), or a fresh one the
 * central carves from the heap; a CPU gives a span back when it is full,
 * when the CPU holds too many for the class, or when it drains (uncache);
 * a CPU that frees into an unowned span may take it over (adopt).  Frees
 * of objects in unowned spans arrive here in batches (a CPU's queue) and
 * set the objects' bits under the lock; a span whose objects are all free
 * goes to the reserve, or back to the heap when the reserve is full (and
 * under memory pressure: mcentral_release_empty).
 *
 * Invariants: an unowned span is on exactly the list its nfree says, and
 * its nfree is exact; an owned span is on no list; owner changes only
 * here, under the lock.
 *
 * Lock: one ticket spinlock per mcentral (rank KS_RANK_CENTRAL), taken with
 * interrupts off, with no other allocator lock held; the heap lock may be
 * taken inside it.
 */
#include "mm/mcentral.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/arena.h"
#include "mm/mheap.h"
#include "mm/slab.h"
#include "mm/spanlist.h"

struct mcentral ks_mcentral[KS_NUM_SPAN_CLASSES];
#if KSPAN_GC
struct mcentral ks_gccentral[KS_NUM_SPAN_CLASSES];
#endif

void mcentral_init_class(struct mcentral *c, const char *lockname,
                         uint32_t size, uint8_t npages, spanclass_t sc, bool gc)
{
	ks_spin_init(&c->lock, lockname, KS_RANK_CENTRAL);
	c->elemsize = size;
	c->npages = npages;
	c->nelems = (uint16_t)((npages * KS_PAGE_SIZE) / size);
	c->spanclass = sc;
	c->gc = gc;
	c->dead = 0;
	c->saveoff = 0;
	c->cache = NULL;
	c->divmagic = ks_divmagic(size);
	c->partial = c->full = c->empty = NULL;
	c->nempty = 0;
	c->nspans = c->nrefills = c->nadopted = 0;
}

void mcentral_init(void)
{
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++) {
		unsigned cls = ks_spanclass_sizeclass((spanclass_t)sc);
		if (cls == 0) {
			/* Class 0 is large objects: no spans, a lock all the
			 * same (kspan_lock_all takes every lock). */
			ks_spin_init(&ks_mcentral[sc].lock, "mcentral", KS_RANK_CENTRAL);
#if KSPAN_GC
			ks_spin_init(&ks_gccentral[sc].lock, "gccentral", KS_RANK_CENTRAL);
#endif
			continue;
		}
		mcentral_init_class(&ks_mcentral[sc], "mcentral", ks_class_to_size[cls],
		                    ks_class_to_npages[cls], (spanclass_t)sc, false);
#if KSPAN_GC
		mcentral_init_class(&ks_gccentral[sc], "gccentral", ks_class_to_size[cls],
		                    ks_class_to_npages[cls], (spanclass_t)sc, true);
#endif
	}
}

static struct mspan **list_of(struct mcentral *c, uint8_t id)
{
	return id == MSPAN_ON_PARTIAL ? &c->partial :
	       id == MSPAN_ON_FULL ? &c->full : &c->empty;
}

/* nempty is written under the lock and read without it, by the statistics
 * and by mcentral_release_empty_one's early out. */
static void set_nempty(struct mcentral *c, uint32_t n)
{
	__atomic_store_n(&c->nempty, n, __ATOMIC_RELAXED);
}

static void unlink(struct mcentral *c, struct mspan *s)
{
	KS_ASSERT(s->list == MSPAN_ON_PARTIAL || s->list == MSPAN_ON_FULL ||
	          s->list == MSPAN_ON_EMPTY);
	if (s->list == MSPAN_ON_EMPTY)
		set_nempty(c, c->nempty - 1);
	spanlist_remove(list_of(c, s->list), s);
	s->list = MSPAN_ON_NONE;
}

static void file(struct mcentral *c, struct mspan *s)
{
	uint8_t id = s->nfree ? MSPAN_ON_PARTIAL : MSPAN_ON_FULL;
	spanlist_push(list_of(c, id), s);
	s->list = id;
}

static void set_owner(struct mspan *s, int owner)
{
	__atomic_store_n(&s->owner, owner, __ATOMIC_RELEASE);
	s->list = owner == KS_NO_OWNER ? MSPAN_ON_NONE : MSPAN_ON_CPU;
}

/* A fresh span of the class from the heap, its objects free (an object
 * cache's constructed or poisoned: no lock held), or NULL. */
static struct mspan *carve(struct mcentral *c, uint8_t key)
{
	struct mspan *s = mheap_alloc(c->npages, 1);
	if (!s)
		return NULL;
	mspan_init_small(s, c, key);
	if (c->cache)
		ks_slab_carved(c->cache, s);
	return s;
}

struct mspan *mcentral_cache_span(struct mcentral *c, int owner, uint8_t key)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	struct mspan *s = c->partial ? c->partial : c->empty;
	if (s) {
		unlink(c, s);
		KS_ASSERT(s->nfree > 0);
		set_owner(s, owner);
		c->nrefills++;
		ks_spin_unlock_irqrestore(&c->lock, st);
		return s;
	}
	ks_spin_unlock_irqrestore(&c->lock, st);

	s = carve(c, key);
	if (!s)
		return NULL;

	st = ks_spin_lock_irqsave(&c->lock);
	set_owner(s, owner);
	c->nspans++;
	c->nrefills++;
	ks_spin_unlock_irqrestore(&c->lock, st);
	return s;
}

bool mcentral_adopt(struct mcentral *c, struct mspan *s, int owner)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	bool ok = s->owner == KS_NO_OWNER && s->state == MSPAN_INUSE &&
	          s->central == c && (s->list == MSPAN_ON_PARTIAL || s->list == MSPAN_ON_FULL);
	if (ok) {
		unlink(c, s);
		set_owner(s, owner);
		c->nadopted++;
	}
	ks_spin_unlock_irqrestore(&c->lock, st);
	return ok;
}

/* s is unowned and its nfree exact: file it, or take it off the class if
 * it is all free.  Lock held; returns the span to give to the heap after
 * unlocking, or NULL. */
static struct mspan *refile(struct mcentral *c, struct mspan *s)
{
	if (s->list != MSPAN_ON_NONE)
		unlink(c, s);
	if (s->nfree == s->nelems) {
		if (!c->gc && !c->dead && c->nempty < KS_CENTRAL_EMPTY) {
			spanlist_push(&c->empty, s);
			s->list = MSPAN_ON_EMPTY;
			set_nempty(c, c->nempty + 1);
			return NULL;
		}
		c->nspans--;
		return s;
	}
	file(c, s);
	return NULL;
}

void mcentral_uncache_span(struct mcentral *c, struct mspan *s)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	KS_ASSERT(s->list == MSPAN_ON_CPU);
	set_owner(s, KS_NO_OWNER);
	mspan_count_free(s);
	struct mspan *dead = refile(c, s);
	ks_spin_unlock_irqrestore(&c->lock, st);
	if (dead)
		mheap_free(dead);
}

void mcentral_dead_free(struct mcentral_dead *d)
{
	for (unsigned k = 0; k < d->n; k++)
		mheap_free(d->s[k]);
	d->n = 0;
}

void mcentral_dead_push(struct mcentral *c, ks_irqstate_t *st, struct mcentral_dead *d,
                        struct mspan *s)
{
	if (d->n == sizeof(d->s) / sizeof(d->s[0])) {
		ks_spin_unlock_irqrestore(&c->lock, *st);
		mcentral_dead_free(d);
		*st = ks_spin_lock_irqsave(&c->lock);
	}
	d->s[d->n++] = s;
}

void mcentral_free_objects(struct mcentral *c, void *const *objs, unsigned n,
                           int cpu, void **fwd, unsigned *nfwd)
{
	struct mcentral_dead dead = { .n = 0 };
	*nfwd = 0;
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	for (unsigned i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)objs[i];
		struct mspan *s = spanof(p);
		KS_ASSERT(s && s->state == MSPAN_INUSE && s->central == c);
		bool exact;
		uint32_t idx = mspan_index(s, p - s->base, &exact);
		int owner = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
		if (owner == cpu) {
			mspan_free_bit(s, idx, p, "kfree");
			continue;
		}
		if (owner != KS_NO_OWNER) {
			fwd[(*nfwd)++] = objs[i];    /* the owner frees it */
			continue;
		}
		mspan_free_bit(s, idx, p, "kfree");   /* nfree one up */
		if (s->nfree == 1 || s->nfree == s->nelems) {
			struct mspan *d = refile(c, s);
			if (d)
				mcentral_dead_push(c, &st, &dead, d);
		}
	}
	ks_spin_unlock_irqrestore(&c->lock, st);
	mcentral_dead_free(&dead);
}

void *mcentral_alloc_object(struct mcentral *c, uint8_t key)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	struct mspan *s = c->partial ? c->partial : c->empty;
	if (s) {
		unlink(c, s);
	} else {
		ks_spin_unlock_irqrestore(&c->lock, st);
		s = carve(c, key);
		if (!s)
			return NULL;
		st = ks_spin_lock_irqsave(&c->lock);
		c->nspans++;
	}
	KS_ASSERT(s->owner == KS_NO_OWNER && s->nfree > 0);
	unsigned w = 0;
	while (!mspan_word(s, w))
		w++;
	uint64_t m = mspan_word(s, w);
	uint32_t pos = w * 64 + (uint32_t)ks_lowest_bit(m);
	mspan_set_word(s, w, m & (m - 1));
	s->nfree--;
	file(c, s);
	ks_spin_unlock_irqrestore(&c->lock, st);
	return (void *)(s->base + (uintptr_t)mspan_posobj(s, pos) * s->elemsize);
}

static uint64_t check_list(struct mcentral *c, struct mspan *head, uint8_t id)
{
	uint64_t n = 0;
	for (struct mspan *s = head; s; s = s->next) {
		KS_CHECK(s->list == id && s->central == c && s->state == MSPAN_INUSE &&
		         s->owner == KS_NO_OWNER,
		         "mcentral_check: span %p [%p] on list %u of the %u-byte class "
		         "has list %u, owner %d, state %u", (void *)s, (void *)s->base,
		         (unsigned)id, (unsigned)c->elemsize, (unsigned)s->list,
		         (int)s->owner, (unsigned)s->state);
		KS_CHECK(spanof(s->base) == s, "mcentral_check: spans[] does not map "
		         "span %p [%p]", (void *)s, (void *)s->base);
		KS_CHECK(id == MSPAN_ON_PARTIAL ? s->nfree > 0 && s->nfree < s->nelems :
		         id == MSPAN_ON_FULL ? s->nfree == 0 : s->nfree == s->nelems,
		         "mcentral_check: span %p [%p] on the %s list has %u of %u "
		         "objects free", (void *)s, (void *)s->base,
		         id == MSPAN_ON_PARTIAL ? "partial" : id == MSPAN_ON_FULL ? "full" : "empty",
		         (unsigned)s->nfree, (unsigned)s->nelems);
		mspan_check(s);
		n++;
	}
	return n;
}

uintptr_t mcentral_release_empty_one(struct mcentral *c)
{
	uintptr_t pages = 0;
	/* Most classes keep no empty span: look before locking.  A span that
	 * another CPU empties meanwhile may stay; one this caller's frees (or
	 * anything that happened before this call) emptied is seen. */
	if (!__atomic_load_n(&c->nempty, __ATOMIC_RELAXED))
		return 0;
	for (;;) {
		ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
		struct mspan *s = c->empty;
		if (s) {
			unlink(c, s);
			c->nspans--;
		}
		ks_spin_unlock_irqrestore(&c->lock, st);
		if (!s)
			break;
		pages += s->npages;
		mheap_free(s);
	}
	return pages;
}

uintptr_t mcentral_release_empty(void)
{
	uintptr_t pages = 0;
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		pages += mcentral_release_empty_one(&ks_mcentral[sc]);
	return pages + ks_slab_release_empty();
}

void mcentral_check(struct mcentral *c)
{
	ks_irqstate_t st = ks_spin_lock_irqsave(&c->lock);
	uint64_t n = check_list(c, c->partial, MSPAN_ON_PARTIAL) +
	             check_list(c, c->full, MSPAN_ON_FULL) +
	             check_list(c, c->empty, MSPAN_ON_EMPTY);
	KS_CHECK(c->nempty <= KS_CENTRAL_EMPTY && (c->nempty == 0 || !c->gc),
	         "mcentral_check: the %u-byte class keeps %u empty spans",
	         (unsigned)c->elemsize, (unsigned)c->nempty);
	KS_CHECK(n <= c->nspans, "mcentral_check: the %u-byte class has %lu "
	         "spans on its lists, nspans says %lu", (unsigned)c->elemsize,
	         (unsigned long)n, (unsigned long)c->nspans);
	ks_spin_unlock_irqrestore(&c->lock, st);
}
