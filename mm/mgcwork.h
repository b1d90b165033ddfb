/*
 * Mark work queues (Go's gcWork and workbufs).  See mm/mgcwork.c.
 */
#ifndef KSPAN_MM_MGCWORK_H
#define KSPAN_MM_MGCWORK_H

#include <stdbool.h>
#include <stdint.h>

/* A range of words to scan: an object, or a piece of a large one. */
struct gcwentry {
	uintptr_t base;
	uintptr_t nwords;
};

#define GCWBUF_BYTES 4096u
#define GCWBUF_CAP   ((GCWBUF_BYTES - 16) / sizeof(struct gcwentry))

struct gcwbuf {
	struct gcwbuf *next;     /* on the full or empty list (atomic) */
	uint32_t n;              /* entries e[0..n) */
	uint32_t pad;
	struct gcwentry e[GCWBUF_CAP];
};

/* One marker's queue: two buffers of its own (the second absorbs the
 * push/pop ping-pong at a buffer's edge), full ones go to the shared list
 * where idle markers take them. */
struct gcwork {
	struct gcwbuf *cur, *spare;
	uint64_t overflows;      /* entries dropped: no buffer left */
	bool published;          /* a buffer went to the shared list (the
	                            owner clears it) */
};

/* kgc_init: room for at most max buffers (address space only). */
void gcwork_init_pool(unsigned max);

/* Leader, world stopped, before a mark: have at least nbufs buffers in
 * the pool (committed as needed, kept across cycles),
 * and set the capacity of a marker's queue: limit entries in all (0: no
 * limit but the pool; a marker with a limit never takes buffers from the
 * pool or gives any to it, so it overflows exactly when it holds limit
 * entries).  Returns the buffers the pool has. */
unsigned gcwork_prepare(unsigned nbufs, unsigned limit);

/* Take n empty buffers from the pool into bufs (the leader, before a
 * round: two for each marker, so that a marker can always join).  Returns
 * how many it got. */
unsigned gcwork_take(struct gcwbuf **bufs, unsigned n);

/* An empty buffer back to the pool (one a marker that did not join was
 * given). */
void gcwork_give(struct gcwbuf *b);

/* A marker joins with the two empty buffers it was given. */
void gcwork_init(struct gcwork *w, struct gcwbuf *a, struct gcwbuf *b);
/* A marker leaves (its queue empty): its buffers back to the pool. */
void gcwork_dispose(struct gcwork *w);

/* Queue a range when w->cur is full (the fast path is the caller's):
 * into the spare buffer, or a fresh one, the full one going to the shared
 * list (w->published).  False (and w->overflows++) when w has no room and
 * no buffer is free: the caller must make sure the range is scanned later
 * (the mark's rescan). */
bool gcwork_push_slow(struct gcwork *w, uintptr_t base, uintptr_t nwords);
/* Entries a buffer takes (GCWBUF_CAP, or less under a test's limit): the
 * fast path of a push (mm/mgcmark.c) stores into w->cur while its n is
 * below it. */
extern uint32_t gcwork_cap;

/* Is there work on the shared list? */
bool gcwork_shared_nonempty(void);

/* Take a range: w's own first, then a full buffer from the shared list.
 * False when both are empty. */
bool gcwork_pop_slow(struct gcwork *w, struct gcwentry *out);

static inline bool gcwork_pop(struct gcwork *w, struct gcwentry *out)
{
	struct gcwbuf *b = w->cur;
	uint32_t n = b->n;
	if (__builtin_expect(n == 0, 0)) {
		if (w->spare->n == 0 && !gcwork_shared_nonempty())
			return false;   /* a list: one at a time, often */
		return gcwork_pop_slow(w, out);
	}
	*out = b->e[n - 1];
	b->n = n - 1;
	return true;
}

/* Take a range from w's current buffer only: false when it is empty (the
 * spare and the shared list are not looked at). */
static inline bool gcwork_pop_local(struct gcwork *w, struct gcwentry *out)
{
	struct gcwbuf *b = w->cur;
	uint32_t n = b->n;
	if (n == 0)
		return false;
	*out = b->e[n - 1];
	b->n = n - 1;
	return true;
}

/* Give some of w's work to the shared list if it is empty (other markers
 * are idle). */
void gcwork_balance(struct gcwork *w);

#endif
