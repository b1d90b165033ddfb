/*
 * Mark work queues for the collector's markers (mm/mgcmark.c), after Go's
 * gcWork: each marker pushes and pops ranges to scan on two buffers of its
 * own (no atomics); a full buffer goes to a shared list, where a marker
 * that ran dry takes it, and a busy marker hands work over when others are
 * idle and the list is empty (gcwork_balance).
 *
 * Buffers are 4 KiB, from an off-heap metadata pool (mm/meta.h), taken by
 * the leader while the world is stopped (at kgc_init, and more after a
 * mark that ran out of them) and kept across cycles; markers never
 * allocate.  A marker
 * starts a round with two buffers the leader set aside for it.  When a
 * marker has no room and no free buffer is left it drops the range and
 * counts an overflow; the mark then rescans every marked object
 * (mm/mgcmark.c), so running out costs time, never correctness.
 *
 * The shared lists (full, empty) are lock-free stacks whose top word packs
 * a buffer's address (x86_64 canonical: the top 16 bits are a sign
 * extension) with a 16-bit tag bumped on every change, against ABA.  The
 * `next` links are read and written with atomics: a marker may read the
 * link of a buffer another marker has just popped.
 */
#include "lib/config.h"
#if KSPAN_GC
#include "lib/check.h"
#include "mm/meta.h"
#include "mm/mgcwork.h"

static struct fixalloc bufpool;   /* off the heap (mm/meta.h) */
static uint64_t full_top, empty_top;
static unsigned nbufs;          /* buffers in the pool (leader only) */
uint32_t gcwork_cap = GCWBUF_CAP;
static bool limited;

static uint64_t pack(struct gcwbuf *b, uint64_t old)
{
	return (uint64_t)(uintptr_t)b << 16 | ((old + 1) & 0xffff);
}

static struct gcwbuf *unpack(uint64_t v)
{
	return (struct gcwbuf *)(uintptr_t)((int64_t)v >> 16);
}

static void lf_push(uint64_t *top, struct gcwbuf *b)
{
	uint64_t old = __atomic_load_n(top, __ATOMIC_RELAXED);
	do {
		__atomic_store_n(&b->next, unpack(old), __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(top, &old, pack(b, old), true,
	                                      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

static struct gcwbuf *lf_pop(uint64_t *top)
{
	uint64_t old = __atomic_load_n(top, __ATOMIC_ACQUIRE);
	for (;;) {
		struct gcwbuf *b = unpack(old);
		if (!b)
			return 0;
		struct gcwbuf *next = __atomic_load_n(&b->next, __ATOMIC_RELAXED);
		/* seq_cst: a marker that sees the list emptied by this pop
		 * also sees the taker leave its wait (mm/mgcmark.c, solo). */
		if (__atomic_compare_exchange_n(top, &old, pack(next, old), true,
		                                __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
			return b;
	}
}

void gcwork_init_pool(unsigned max)
{
	KS_CHECK(meta_pool_init(&bufpool, GCWBUF_BYTES, max) == 0,
	         "kgc_init: no address space for %u mark buffers", max);
}

unsigned gcwork_prepare(unsigned want, unsigned limit)
{
	while (nbufs < want) {
		struct gcwbuf *b = meta_alloc(&bufpool);
		if (!b)
			break;
		lf_push(&empty_top, b);
		nbufs++;
	}
	limited = limit != 0;
	uint32_t cap = limited ? (limit / 2 ? limit / 2 : 1) : GCWBUF_CAP;
	gcwork_cap = cap < GCWBUF_CAP ? cap : GCWBUF_CAP;
	return nbufs;
}

unsigned gcwork_take(struct gcwbuf **bufs, unsigned n)
{
	unsigned got = 0;
	while (got < n && (bufs[got] = lf_pop(&empty_top)) != 0)
		got++;
	return got;
}

void gcwork_give(struct gcwbuf *b)
{
	b->n = 0;
	lf_push(&empty_top, b);
}

void gcwork_init(struct gcwork *w, struct gcwbuf *a, struct gcwbuf *b)
{
	w->overflows = 0;
	w->published = false;
	w->cur = a;
	w->spare = b;
}

void gcwork_dispose(struct gcwork *w)
{
	if (!w->cur)
		return;
	w->cur->n = w->spare->n = 0;
	lf_push(&empty_top, w->cur);
	lf_push(&empty_top, w->spare);
	w->cur = w->spare = 0;
}

bool gcwork_push_slow(struct gcwork *w, uintptr_t base, uintptr_t nwords)
{
	struct gcwbuf *b = w->cur;
	if (w->spare->n == 0) {
		w->cur = w->spare;
		w->spare = b;
	} else {
		struct gcwbuf *e = limited ? 0 : lf_pop(&empty_top);
		if (!e) {
			w->overflows++;
			return false;
		}
		lf_push(&full_top, b);
		w->published = true;
		w->cur = e;
	}
	b = w->cur;
	b->e[b->n].base = base;
	b->e[b->n].nwords = nwords;
	b->n++;
	return true;
}

bool gcwork_pop_slow(struct gcwork *w, struct gcwentry *out)
{
	struct gcwbuf *b = w->cur;
	if (w->spare->n) {
		w->cur = w->spare;
		w->spare = b;
	} else {
		struct gcwbuf *f = lf_pop(&full_top);
		if (!f)
			return false;
		lf_push(&empty_top, b);
		w->cur = f;
	}
	b = w->cur;
	*out = b->e[--b->n];
	return true;
}

bool gcwork_shared_nonempty(void)
{
	return unpack(__atomic_load_n(&full_top, __ATOMIC_SEQ_CST)) != 0;
}

void gcwork_balance(struct gcwork *w)
{
	if (limited || gcwork_shared_nonempty())
		return;
	if (w->spare->n) {
		struct gcwbuf *e = lf_pop(&empty_top);
		if (e) {
			lf_push(&full_top, w->spare);
			w->published = true;
			w->spare = e;
		}
		return;
	}
	struct gcwbuf *b = w->cur;
	if (b->n < 4)
		return;
	struct gcwbuf *e = lf_pop(&empty_top);
	if (!e)
		return;
	/* Hand over the older half (the bottom of the stack). */
	uint32_t half = b->n / 2;
	for (uint32_t i = 0; i < half; i++)
		e->e[i] = b->e[i];
	for (uint32_t i = half; i < b->n; i++)
		b->e[i - half] = b->e[i];
	e->n = half;
	b->n -= half;
	lf_push(&full_top, e);
	w->published = true;
}
#endif /* KSPAN_GC */
