/*
 * xmalloc: producer/consumer after xmalloc-test (Lever and Boreham): one
 * thread only allocates, another only frees, so every free is a remote free
 * and memory has to flow back from the consumer's side to the producer's.
 *
 * The producer fills batches of 64 blocks (log-uniform sizes 8..512, each
 * with its address/size pattern) and pushes them through a bounded queue
 * (16 batches, mutex + condition variables); the consumer checks each block
 * and frees it, and frees the batch record, which the producer malloc'd too.
 * With -t N (even) there are N/2 independent producer/consumer pairs.
 */
#include "bench.h"

#include <pthread.h>
#include <stdlib.h>

#define X_BATCH		64
#define X_QUEUE		16
#define X_MIN		8
#define X_MAX		512

struct batch {
	int count;
	struct { void *p; size_t n; } b[X_BATCH];
};

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	struct batch *ring[X_QUEUE];
	unsigned head, tail;		/* head - tail = batches queued */
	long nbatches;			/* the producer sends this many */
	uint64_t seed;
	int id;
};

static void q_push(struct queue *q, struct batch *b)
{
	pthread_mutex_lock(&q->lock);
	while (q->head - q->tail == X_QUEUE)
		pthread_cond_wait(&q->not_full, &q->lock);
	q->ring[q->head++ % X_QUEUE] = b;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

static struct batch *q_pop(struct queue *q)
{
	struct batch *b;

	pthread_mutex_lock(&q->lock);
	while (q->head == q->tail)
		pthread_cond_wait(&q->not_empty, &q->lock);
	b = q->ring[q->tail++ % X_QUEUE];
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return b;
}

static void *producer(void *argp)
{
	struct queue *q = argp;
	struct rng r;

	rng_seed(&r, q->seed, (uint64_t)q->id);
	for (long i = 0; i < q->nbatches; i++) {
		struct batch *b = check_new(malloc(sizeof *b), sizeof *b, "malloc");

		b->count = X_BATCH;
		for (int k = 0; k < X_BATCH; k++) {
			size_t n = rng_logsize(&r, X_MIN, X_MAX);
			void *p = check_new(malloc(n), n, "malloc");

			fill_sparse(p, n, pat_seed(p, n));
			b->b[k].p = p;
			b->b[k].n = n;
		}
		q_push(q, b);
	}
	q_push(q, NULL);
	return NULL;
}

static void *consumer(void *argp)
{
	struct queue *q = argp;
	struct batch *b;

	while ((b = q_pop(q))) {
		if (b->count != X_BATCH)
			bench_fail("xmalloc: batch record %p corrupted", (void *)b);
		for (int k = 0; k < X_BATCH; k++) {
			verify_sparse(b->b[k].p, b->b[k].n, pat_seed(b->b[k].p, b->b[k].n),
				      "xmalloc consumer");
			free(b->b[k].p);
		}
		free(b);
	}
	return NULL;
}

/* Thread i of the pair set: even ids produce, odd ids consume. */
struct xm_arg {
	struct queue *q;
	int producer;
};

static void *xm_thread(void *argp)
{
	struct xm_arg *a = argp;

	return a->producer ? producer(a->q) : consumer(a->q);
}

int w_xmalloc(const struct bench_opts *o)
{
	int pairs = bench_threads(o, 2) / 2;
	long nbatches = bench_scaled(o, 60000, 4);
	double t0, t1;

	if (pairs < 1)
		pairs = 1;

	struct queue qs[pairs];
	struct xm_arg args[2 * pairs];

	for (int i = 0; i < pairs; i++) {
		struct queue *q = &qs[i];

		pthread_mutex_init(&q->lock, NULL);
		pthread_cond_init(&q->not_full, NULL);
		pthread_cond_init(&q->not_empty, NULL);
		q->head = q->tail = 0;
		q->nbatches = nbatches;
		q->seed = o->seed;
		q->id = i;
		args[2 * i] = (struct xm_arg){ q, 1 };
		args[2 * i + 1] = (struct xm_arg){ q, 0 };
	}
	t0 = now_s();
	run_threads(2 * pairs, xm_thread, args, sizeof args[0]);
	t1 = now_s();
	for (int i = 0; i < pairs; i++) {
		pthread_mutex_destroy(&qs[i].lock);
		pthread_cond_destroy(&qs[i].not_full);
		pthread_cond_destroy(&qs[i].not_empty);
	}
	/* one op = one block allocated by the producer and freed by the consumer */
	bench_report(2 * pairs, (double)pairs * nbatches * X_BATCH, t1 - t0, NULL);
	return 0;
}
