/*
 * Helper threads for the collector's mark on the host (gcpool.h).
 *
 * A host process has no CPUs to stop: the program's own stop_world and
 * start_world hooks (if it has threads that allocate) do that.  This pool
 * only supplies the "stopped CPUs" the collector asks for in
 * stop_world_run: threads that sleep on a condition variable between
 * collections and run the collector's helper function during one.  They
 * never allocate and call no kspan function but that helper, so they hold
 * no CPU slot.  One pool per process (the collector is one per process).
 */
#include "arch/host/gcpool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <kspan/gc.h>
#include <kspan/platform.h>

static struct {
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	unsigned nthreads;
	uint64_t generation;          /* one per collection */
	unsigned finished;
	void (*helper)(void *);
	void *arg;
	void (*stop_world)(void);
	void (*start_world)(void);
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
           PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, 0 };

static void *pool_thread(void *unused)
{
	(void)unused;
	uint64_t seen = 0;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (pool.generation == seen)
			pthread_cond_wait(&pool.go, &pool.lock);
		seen = pool.generation;
		void (*helper)(void *) = pool.helper;
		void *arg = pool.arg;
		pthread_mutex_unlock(&pool.lock);
		helper(arg);
		pthread_mutex_lock(&pool.lock);
		if (++pool.finished == pool.nthreads)
			pthread_cond_signal(&pool.done);
	}
	return NULL;
}

static void pool_run(void (*fn)(void *, unsigned), void (*helper)(void *), void *arg)
{
	if (pool.stop_world)
		pool.stop_world();
	pthread_mutex_lock(&pool.lock);
	pool.helper = helper;
	pool.arg = arg;
	pool.finished = 0;
	pool.generation++;
	pthread_cond_broadcast(&pool.go);
	pthread_mutex_unlock(&pool.lock);
	fn(arg, pool.nthreads);
	pthread_mutex_lock(&pool.lock);
	while (pool.finished < pool.nthreads)
		pthread_cond_wait(&pool.done, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
	if (pool.start_world)
		pool.start_world();
}

unsigned ks_host_gc_pool(struct kgc_config *cfg, unsigned markers)
{
	if (markers <= 1)
		return 0;
	if (pool.nthreads)
		ks_plat_abort("ks_host_gc_pool: called twice");
	if (markers > KSPAN_MAX_CPUS)
		markers = KSPAN_MAX_CPUS;
	pthread_mutex_lock(&pool.lock);
	pool.stop_world = cfg->stop_world;
	pool.start_world = cfg->start_world;
	for (unsigned i = 0; i + 1 < markers; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, pool_thread, NULL) != 0)
			break;
		pthread_detach(t);
		pool.nthreads++;
	}
	unsigned n = pool.nthreads;
	pthread_mutex_unlock(&pool.lock);
	if (n) {
		cfg->stop_world_run = pool_run;
		cfg->markers = n + 1;
	}
	return n;
}
