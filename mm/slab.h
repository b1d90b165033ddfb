/*
 * Object caches (include/kspan/slab.h): what the rest of mm/ sees of them.
 * See mm/slab.c.
 */
#ifndef KSPAN_MM_SLAB_H
#define KSPAN_MM_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kspan/slab.h>
#include "mm/mcentral.h"

struct mcache;
struct mcache_class;

struct kmem_cache {
	/* ---- read by the fast paths ------------------------------------- */
	struct mcentral central; /* its spans; central.cache points back.
	                            First: kmem_cache_free's fast path compares
	                            the span's central with the cache pointer */
	uint32_t cls;            /* its class in every CPU's cache front:
	                            KS_NUM_SIZE_CLASSES + id */
	uint32_t id;             /* slot in the registry */
	/* ---- the class ----------------------------------------------------- */
	void (*ctor)(void *obj);
	uint32_t size;           /* object size asked for */
	uint32_t align;
	unsigned flags;          /* KSPAN_SLAB_* asked for */
	uint8_t poison;          /* what it does: poison free objects */
	uint8_t redzone;         /*   red zone and call site after each */
	uint8_t checked;         /*   either: served under the central lock */
	uint8_t dying;           /* being destroyed, or waiting for frees on
	                            their way (a zombie: see kmem_cache_destroy) */
	uint64_t locked_allocs;  /* allocations under the central lock */
	struct kmem_cache *next; /* on the zombie list */
	char name[32];
	/* What a checked cache's debug reports name, made at create:
	 * "cache \"name\": kmem_cache_alloc", and the same for
	 * kmem_cache_free and kfree (who_fns, mm/slab.c). */
	char who[3][64];
};

/* Set the caches' pools up (kspan_init).  0 or -1. */
int ks_slab_init(void);

/* mcentral carved span s for cache k: run the constructor on every
 * object, poison them or mark their red zones free.  No lock held. */
void ks_slab_carved(struct kmem_cache *k, struct mspan *s);

/* Give every cache's reserve of empty spans back to the heap (memory
 * pressure).  Returns the pages given. */
uintptr_t ks_slab_release_empty(void);

/* Drain CPU c's classes of every cache (mcache_drain), and whether it
 * holds anything in them.  Interrupts off, c this CPU's. */
void ks_slab_drain_cpu(struct mcache *c);
bool ks_slab_cpu_holds(const struct mcache *c);

/* CPU c's class of cache k, NULL if it has none. */
struct mcache_class *ks_slab_class_of(struct mcache *c, const struct kmem_cache *k);

/* The cache of the in-use span holding p, or NULL (no span, kmalloc's). */
struct kmem_cache *ks_slab_cache_of(uintptr_t p);

/* A cache's name, for reports. */
const char *ks_slab_name(const struct kmem_cache *k);

/* kfree of object p (index checked) of span s of cache k: a cache that
 * checks its objects frees it under its lock (true); false for the others
 * (the ordinary path frees it).  site: the free's call site. */
bool ks_slab_free_checked(struct kmem_cache *k, struct mspan *s, uintptr_t p,
                          const char *fn, void *site);

/* kfree of object p of cache k (the debug heap's kfree), and ksize. */
void ks_slab_kfree(struct kmem_cache *k, void *p, const char *fn, void *site);
size_t ks_slab_ksize(struct kmem_cache *k, uintptr_t p, const char *fn);

/* The slabinfo table (kspan_print_stats) and every cache's central lists
 * checked (kspan_check). */
void ks_slab_print_stats(void);
void ks_slab_check(void);

#endif
