/*
 * Remote frees: frees of objects in spans another CPU owns, sent to that
 * CPU in batches.  See mm/mremote.c.
 */
#ifndef KSPAN_MM_MREMOTE_H
#define KSPAN_MM_MREMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_RBATCH_OBJS 62

/* A batch: up to KS_RBATCH_OBJS objects one CPU freed whose spans another
 * CPU owned, 512 bytes, out of band (from its own pool, never the heap). */
struct ks_rbatch {
	struct ks_rbatch *next;      /* in an inbox, a spare or returned list */
	uint32_t n;
	uint32_t from;               /* the sending CPU */
	void *obj[KS_RBATCH_OBJS];
};

struct mcache;

/* Set the batch pool up (kspan_init).  Returns 0 or -1. */
int remote_init(void);

/* Queue object p, whose span CPU owner owns, for that CPU: append it to
 * this CPU's batch for owner, sending the batch when it is full.  The
 * caller has checked p is not queued here already.  When the batch pool
 * has no memory left, p goes to owner alone, linked through its own first
 * word (encoded with the per-boot secret, checked on arrival): the one
 * case where a free object holds a pointer, and only until the owner's
 * next slow path.  Interrupts off, c this CPU's. */
void remote_free(struct mcache *c, int owner, uintptr_t p);

/* The same without a batch: p travels alone, linked through its first
 * word (for a CPU that has no cache, or no batch memory). */
void remote_free_alone(int owner, uintptr_t p);

/* Send every partly filled batch this CPU holds.  Interrupts off. */
void remote_send_all(struct mcache *c);

/* Fold in the frees other CPUs sent to this CPU: into the spans it owns
 * (a bit set each; a bit already set is a double free), the others as
 * frees of this CPU.  Interrupts off, c this CPU's. */
void remote_receive(struct mcache *c);

/* This CPU drained and owns nothing: fold in what was sent, and from now
 * on batches for it are freed by their senders.  remote_unpark (at its
 * next slow path) lets batches come in again.  Interrupts off. */
void remote_park(struct mcache *c);
void remote_unpark(struct mcache *c);
bool remote_parked(const struct mcache *c);

/* Batches taken from the pool and not given back to it (every CPU's, in
 * any state), for tests and statistics. */
size_t remote_pool_batches(void);

#endif
