/*
 * Remote frees: how a free reaches the CPU that owns the object's span.
 *
 * See mm/malloc.c for the overview.
 *
 * A CPU never writes the free bits of a span another CPU owns.  It queues
 * the object in its batch for that owner (out[owner]); a full batch, or
 * every batch when the CPU drains, runs its slow path or serves a flush
 * request, is sent: pushed onto the owner's inbox, a lock-free stack, with
 * one compare-and-swap (snmalloc's message queues; BatchIt, ISMM 2024).
 * The owner takes its whole inbox with one exchange on its next slow path
 * and folds the objects in without a lock: a bit set each, the same check
 * for double frees as its own frees.  An object whose span the owner no
 * longer owns is freed as any free of that CPU would be.
 *
 * Safety: a span with an object in a batch has that object allocated, so
 * it cannot go back to the heap before the batch arrives; owner can change
 * meanwhile, which the receiver checks.  Batches are out of band (512
 * bytes each, from a pool of their own, never the heap).  A folded batch
 * goes back to its sender (onto its returned stack: one compare-and-swap
 * per batch, and the sender takes the whole stack with one exchange when
 * it needs a batch), so memory flowing one way, producer to consumer,
 * never takes the pool's lock in steady state; a CPU sending to itself
 * (its own queue's frees) or whose sender has no cache keeps it as a spare.
 * Every batch a CPU holds (being filled, spare or returned) came from the
 * pool for it, so what a CPU holds is bounded by what it ever had in
 * flight at once.  If the pool has no memory, an object
 * travels alone through the owner's urgent list, linked through its first
 * word encoded with the per-boot secret; the receiver checks every link
 * is an object of a span it is meant for.
 *
 * Lock: the metadata pools' (mm/meta.h) for the batch pool; everything
 * else is per CPU with interrupts off, or atomic (inbox, returned,
 * urgent: stacks many CPUs push onto with a compare-and-swap and only
 * their CPU empties, whole, with an exchange, so there is no ABA).
 */
#include "mm/mremote.h"
#include <kspan/platform.h>
#include "lib/check.h"
#include "mm/arena.h"
#include "mm/debugheap.h"
#include "mm/meta.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"

#define SPARE_MAX 4
#define POOL_MAX ((size_t)1 << 17)   /* batches: 64 MiB of address space */

static struct fixalloc pool;
/* Objects sent alone (no batch memory), per owner: encoded links. */
static uintptr_t urgent[KSPAN_MAX_CPUS];

int remote_init(void)
{
	return meta_pool_init(&pool, sizeof(struct ks_rbatch), POOL_MAX);
}

size_t remote_pool_batches(void)
{
	return __atomic_load_n(&pool.inuse, __ATOMIC_RELAXED);
}

static struct ks_rbatch *batch_get(struct mcache *c)
{
	struct ks_rbatch *b = c->spare;
	if (!b && __atomic_load_n(&c->returned, __ATOMIC_RELAXED)) {
		/* The batches receivers gave back: all of them spares now. */
		b = __atomic_exchange_n(&c->returned, NULL, __ATOMIC_ACQUIRE);
		for (struct ks_rbatch *r = b; r; r = r->next)
			c->nspare++;
	}
	if (b) {
		c->spare = b->next;
		c->nspare--;
		return b;
	}
	return meta_alloc(&pool);
}

/* A batch c folded in: back to its sender, else a spare here, else to the
 * pool. */
static void batch_put(struct mcache *c, struct ks_rbatch *b)
{
	struct mcache *from = b->from < KSPAN_MAX_CPUS && (int)b->from != c->cpu
	                      ? ks_mcache_real[b->from] : NULL;
	if (from) {
		struct ks_rbatch *head = __atomic_load_n(&from->returned, __ATOMIC_RELAXED);
		do
			b->next = head;
		while (!__atomic_compare_exchange_n(&from->returned, &head, b, true,
		                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
		return;
	}
	if (c->nspare < SPARE_MAX) {
		b->next = c->spare;
		c->spare = b;
		c->nspare++;
		return;
	}
	meta_free(&pool, b);
}

/* The inbox of a CPU that drained: it owns nothing, so a batch for it is
 * freed by its sender instead (mcache_drain parks, the CPU's next slow
 * path unparks). */
#define PARKED ((struct ks_rbatch *)1)

static void receive_list(struct mcache *c, struct ks_rbatch *b);

/* Free a batch's objects as this CPU's own frees (their owner drained). */
static void free_here(struct mcache *c, struct ks_rbatch *b)
{
	receive_list(c, b);
}

static void send(struct mcache *c, int owner)
{
	struct ks_rbatch *b = c->out[owner];
	struct mcache *dst = ks_mcache_real[owner];
	KS_ASSERT(b && dst);
	c->out[owner] = NULL;
	b->from = (uint32_t)c->cpu;
	struct ks_rbatch *head = __atomic_load_n(&dst->inbox, __ATOMIC_RELAXED);
	do {
		if (head == PARKED) {
			b->next = NULL;
			free_here(c, b);
			return;
		}
		b->next = head;
	} while (!__atomic_compare_exchange_n(&dst->inbox, &head, b, true,
	                                      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	c->remote_batches++;
}

static uintptr_t encode(uintptr_t link, uintptr_t at)
{
	return link ^ at ^ ks_queue_secret;
}

void remote_free_alone(int owner, uintptr_t p)
{
	KS_ASSERT(owner >= 0 && owner < KSPAN_MAX_CPUS);
	uintptr_t head = __atomic_load_n(&urgent[owner], __ATOMIC_RELAXED);
	mcentral_tag_save(spanof(p)->central, p, encode(head, p));
	do {
		*(uintptr_t *)p = encode(head, p);
	} while (!__atomic_compare_exchange_n(&urgent[owner], &head, p, true,
	                                      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void remote_free(struct mcache *c, int owner, uintptr_t p)
{
	KS_ASSERT(owner >= 0 && owner < KSPAN_MAX_CPUS && owner != c->cpu);
	c->remote_frees++;
	struct ks_rbatch *b = c->out[owner];
	if (!b) {
		b = batch_get(c);
		if (!b) {
			remote_free_alone(owner, p);   /* no memory for a batch */
			return;
		}
		b->n = 0;
		c->out[owner] = b;
	}
	mcentral_tag_save(spanof(p)->central, p, ks_queue_secret);   /* the queue tag (mcache.c) */
	b->obj[b->n++] = (void *)p;
	if (b->n == KS_RBATCH_OBJS)
		send(c, owner);
}

void remote_send_all(struct mcache *c)
{
	for (int o = 0; o < KSPAN_MAX_CPUS; o++)
		if (c->out[o])
			send(c, o);
}

/* Object p arrived for this CPU: free it here. */
static void receive_one(struct mcache *c, uintptr_t p)
{
	struct mspan *s = spanof(p);
	KS_CHECK(s && s->state == MSPAN_INUSE && s->central && p >= s->base &&
	         p - s->base < s->limit,
	         "kfree(%p): a remote free names no object of a live span "
	         "(corrupted batch?)", (void *)p);
	bool exact;
	uint32_t idx = mspan_index(s, p - s->base, &exact);
	KS_CHECK(exact, "kfree(%p): a remote free is not an object's start "
	         "(corrupted batch?)", (void *)p);
	mcentral_tag_restore(s->central, p);   /* drop the tag or link */
	c->received_frees++;
	if (__atomic_load_n(&s->owner, __ATOMIC_RELAXED) == c->cpu) {
		mspan_free_bit(s, idx, p, "kfree");
		return;
	}
	/* Not ours any more: free it as this CPU's own free. */
	mcache_free_slow(c, mcache_class_of(c, s), s, p, idx, "kfree");
}

static void receive_list(struct mcache *c, struct ks_rbatch *b)
{
	while (b) {
		struct ks_rbatch *next = b->next;
		KS_CHECK(b->n <= KS_RBATCH_OBJS, "kspan: remote batch %p holds %u "
		         "objects (corrupted)", (void *)b, (unsigned)b->n);
		for (uint32_t i = 0; i < b->n; i++)
			receive_one(c, (uintptr_t)b->obj[i]);
		batch_put(c, b);
		b = next;
	}
}

static void receive_urgent(struct mcache *c)
{
	uintptr_t p = __atomic_exchange_n(&urgent[c->cpu], 0, __ATOMIC_ACQUIRE);
	while (p) {
		struct mspan *s = spanof(p);
		KS_CHECK(s && s->state == MSPAN_INUSE && s->central && p >= s->base,
		         "kfree(%p): a remote free names no object of a live span "
		         "(corrupted link?)", (void *)p);
		uintptr_t next = encode(*(uintptr_t *)p, p);
		receive_one(c, p);
		p = next;
	}
}

void remote_receive(struct mcache *c)
{
	struct ks_rbatch *b = __atomic_load_n(&c->inbox, __ATOMIC_ACQUIRE);
	if (b && b != PARKED) {
		b = __atomic_exchange_n(&c->inbox, NULL, __ATOMIC_ACQUIRE);
		if (b == PARKED)   /* cannot happen: only this CPU parks */
			b = NULL;
		receive_list(c, b);
	}
	if (__atomic_load_n(&urgent[c->cpu], __ATOMIC_RELAXED))
		receive_urgent(c);
}

void remote_park(struct mcache *c)
{
	struct ks_rbatch *b = __atomic_exchange_n(&c->inbox, PARKED, __ATOMIC_ACQ_REL);
	if (b != PARKED)
		receive_list(c, b);
	if (__atomic_load_n(&urgent[c->cpu], __ATOMIC_RELAXED))
		receive_urgent(c);
}

void remote_unpark(struct mcache *c)
{
	struct ks_rbatch *want = PARKED;
	__atomic_compare_exchange_n(&c->inbox, &want, NULL, false,
	                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

bool remote_parked(const struct mcache *c)
{
	return __atomic_load_n(&c->inbox, __ATOMIC_RELAXED) == PARKED;
}
