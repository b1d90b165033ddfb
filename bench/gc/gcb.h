/*
 * kspan collector benchmark (bench/gc/README.md): the adapter layer that the
 * workloads are written against, and the per-collection records that the
 * backends fill in.
 *
 * Every workload (workloads.c) is written once against this header.  Two
 * adapters implement it:
 *   backend_kspan.c  kgc_alloc with the type's pointer map (or, with -c, with
 *                    type NULL: every word scanned conservatively), explicit
 *                    roots, kgc_collect;
 *   backend_boehm.c  GC_MALLOC / GC_MALLOC_ATOMIC, GC_gcollect; roots are
 *                    found by Boehm's own scan of the data segment and stack.
 *
 * Roots.  Everything a workload keeps alive is reachable from gcb_roots, a
 * static array: kspan registers it with kgc_root_add, Boehm finds it in the
 * data segment.  kspan does not scan the C stack, so a workload never keeps
 * a collected pointer only in a local variable across an allocation: it
 * stores it in a reachable object first, or pushes it on the shadow stack
 * (gcb_push / gcb_pop).  Boehm scans the C stack too (conservatively);
 * the workloads never rely on that.
 */
#ifndef GCB_H
#define GCB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- object types ---------------------------------------------------- */

/* size bytes; bit i of ptrmask says word i holds a pointer (objects here
 * are at most 64 words, or arrays of such a type).  impl is the backend's
 * own descriptor, set by gcb_type_init. */
struct gcb_type {
	size_t size;
	uint64_t ptrmask;
	const char *name;
	void *impl;
};

void gcb_type_init(struct gcb_type *t);

/* ---- the adapter ----------------------------------------------------- */

/* An object of size bytes whose pointer words t describes (an allocation
 * larger than t->size repeats the type, an array).  Zeroed.  Never NULL: the
 * adapter stops the run when memory runs out. */
void *gcb_alloc(size_t size, const struct gcb_type *t);
/* A pointer-free object (never scanned).  Contents undefined. */
void *gcb_alloc_noscan(size_t size);
/* Is p the start of an object the collector holds allocated?  Used by the
 * -V checks: kspan answers exactly (kgc_is_live), Boehm only whether p is
 * an object's start in its heap (GC_base). */
bool gcb_is_live(const void *p);
/* A full collection, now. */
void gcb_collect(void);
/* Automatic collection on or off. */
void gcb_auto(bool on);

struct gcb_backend_info {
	const char *name;        /* kspan, kspan-cons, boehm */
	char version[32];
	unsigned markers;        /* marker threads */
	bool parallel_mark;      /* more than one marker */
	uint64_t cycles;         /* collections the backend itself counted */
	uint64_t heap_bytes;     /* the backend's heap size at the end */
	char config[160];        /* the collector settings, for the report */
};

/* kspan, kspan-cons or boehm. */
const char *gcb_backend_name(void);
/* Set up the backend (after gcb_opts is filled in). */
void gcb_backend_init(void);
/* Hand the figures of a finished collection that are known only after its
 * pause (kspan reads them at the next one) to gcb_rec_marked now. */
void gcb_backend_flush(void);
/* gcb_backend_flush, then fill in info. */
void gcb_backend_finish(struct gcb_backend_info *info);

/* ---- options --------------------------------------------------------- */

struct gcb_opts {
	double scale;
	uint64_t seed;
	unsigned forced;        /* forced collections in the live-heap workloads */
	bool conservative;      /* kspan: type NULL everywhere */
	unsigned markers;       /* kspan: threads that mark (1: the collecting one) */
	bool verify_all;        /* check every short-lived structure (smoke) */
};
extern struct gcb_opts gcb_opts;

/* ---- roots ----------------------------------------------------------- */

#define GCB_NAMED 16
#define GCB_STACK 4096
struct gcb_rootset {
	void *named[GCB_NAMED];
	void *stack[GCB_STACK];
};
extern struct gcb_rootset gcb_roots;
extern unsigned gcb_sp;

void gcb_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static inline void gcb_push(void *p)
{
	if (gcb_sp >= GCB_STACK)
		gcb_fail("shadow stack overflow");
	gcb_roots.stack[gcb_sp++] = p;
}

/* Pops and clears the slot, so that no stale root keeps garbage alive. */
static inline void *gcb_pop(void)
{
	void *p = gcb_roots.stack[--gcb_sp];
	gcb_roots.stack[gcb_sp] = 0;
	return p;
}

/* ---- clocks ---------------------------------------------------------- */

uint64_t gcb_now_ns(void);   /* CLOCK_MONOTONIC */

static inline uint64_t gcb_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_lfence();
	return __builtin_ia32_rdtsc();
#else
	return gcb_now_ns();
#endif
}

/* ---- per-collection records (filled by the backends) ----------------- */

struct gcb_cycle {
	uint64_t t0_ns, t1_ns;          /* the pause: mutator stopped */
	uint64_t mark_tsc0, mark_tsc1;  /* the mark phase, TSC */
	uint64_t mark_ns;               /* or its length in ns, told after the fact */
	uint64_t marked_bytes;          /* bytes of objects the mark found live */
	uint64_t marked_objs;
	uint64_t scanned_bytes;         /* kspan only: bytes scanned for pointers */
	bool have_mark, have_marked;
};

/* Called by the backends' hooks, in this order, once per collection. */
void gcb_rec_begin(void);                 /* pause starts */
void gcb_rec_mark_begin(void);
void gcb_rec_mark_end(uint64_t scanned_bytes);
/* For a backend that reports its mark phase once the cycle is over (kspan:
 * kgc_stats.last_mark): the mark of collection i lasted ns nanoseconds and
 * scanned scanned_bytes. */
void gcb_rec_mark_told(uint64_t i, uint64_t ns, uint64_t scanned_bytes);
void gcb_rec_end(void);                   /* pause ends */
/* The figures of collection i (0-based, counted since gcb_backend_init),
 * known after the pause. */
void gcb_rec_marked(uint64_t i, uint64_t bytes, uint64_t objs);
uint64_t gcb_rec_count(void);
/* Time spent in the benchmark's own measuring code (subtracted from the
 * workload's total time). */
void gcb_rec_instr(uint64_t ns);

/* ---- workloads ------------------------------------------------------- */

struct gcb_result {
	uint64_t checksum;
	uint64_t live_bytes;       /* what the workload keeps live (its own count) */
	uint64_t live_objects;
	uint64_t allocated_bytes;  /* requested bytes allocated */
	uint64_t objects;          /* objects allocated */
};

typedef void (*gcb_workload_fn)(struct gcb_result *r);
struct gcb_workload {
	const char *name;
	gcb_workload_fn run;
	bool forced_only;   /* automatic collection off: only forced collections */
};
extern const struct gcb_workload gcb_workloads[];

/* A workload calls this where its timed part ends (main.c); what follows
 * is verification only: gcb_final_check, then a walk of what it holds. */
void gcb_timed_end(void);
/* With everything the workload holds still reachable: one more full
 * collection (not counted in the figures), which must find at least
 * live_objects objects live; kspan with pointer maps, exactly that many. */
void gcb_final_check(uint64_t live_objects);

/* Deterministic random numbers (splitmix64). */
static inline uint64_t gcb_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint64_t gcb_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
	return h;
}

#endif
