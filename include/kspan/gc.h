/*
 * kspan's optional mark-sweep collector for kernel objects (Go's collector:
 * stop-the-world mark on every stopped CPU, lazy sweep, non-generational,
 * non-compacting).  See mm/mgc.c.
 *
 * Objects from kgc_alloc / kgc_alloc_noscan are reclaimed once nothing
 * reachable from the registered roots points at them.  kmalloc objects are
 * never collected and never scanned: they live in the same heap, in spans
 * of their own.  A pointer into the middle of an object keeps it alive.
 *
 * Built when KSPAN_GC is 1 (the default); kgc_enable(0) turns automatic
 * collection off at run time.
 */
#ifndef KSPAN_GC_H
#define KSPAN_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What an object holds: its size and which of its 8-byte words are
 * pointers (bit i of ptrmask = word i, like Go's type pointer maps).  An
 * allocation larger than size repeats the type (an array). */
struct kgc_type {
	size_t size;
	const uint8_t *ptrmask;
	const char *name;
};

struct kgc_config {
	/* Collect when the collected heap has grown by this percentage since
	 * the last cycle (Go's GOGC).  0: no automatic collection. */
	unsigned gc_percent;
	/* Bytes of collected heap before the first automatic cycle (0: 4 MiB). */
	size_t min_trigger;
	/* Stop every other CPU outside the allocator (interrupts off, spinning)
	 * until start_world; NULL on a single CPU.  The collector gives back
	 * every CPU's cached collector spans itself while the world stands. */
	void (*stop_world)(void);
	void (*start_world)(void);
	/* Instead of the two above, so that the stopped CPUs mark too
	 * (optional): stop every other CPU as stop_world does, have each of
	 * them run helper(arg) there, and run fn(arg, n) here, n being the
	 * number of CPUs that run helper; return once every one of them has
	 * returned.  Helpers may start before or after fn: the collector
	 * waits for all n before it touches anything.  helper calls nothing of
	 * the platform but ks_plat_cpu_relax, so on the host the helpers may
	 * be threads of a pool that never allocate (a program's switch: it
	 * sets this hook and markers). */
	void (*stop_world_run)(void (*fn)(void *arg, unsigned n),
	                       void (*helper)(void *arg), void *arg);
	/* CPUs that mark, this one included (0: every one stop_world_run
	 * offers; kgc_set_markers changes it later). */
	unsigned markers;
	/* Is [addr, addr + len) mapped and readable?  Checked for every root
	 * range; NULL: not checked. */
	bool (*is_mapped)(const void *addr, size_t len);
};

struct kgc_stats {
	uint64_t cycles;          /* collections run */
	uint64_t live_objects;    /* marked by the last cycle */
	uint64_t live_bytes;      /*   (slot sizes; large objects in whole pages) */
	uint64_t freed_objects;   /* found dead by all cycles (freed now, or */
	uint64_t freed_bytes;     /*   owed to the sweep: unswept_* below) */
	uint64_t heap_before;     /* collected heap bytes before the last cycle */
	uint64_t heap_after;      /* and after it */
	uint64_t last_pause;      /* ks_plat_now() units (TSC cycles in the kernel) */
	uint64_t total_pause;
	uint64_t last_mark;       /* of last_pause: the mark phase */
	uint64_t total_mark;
	uint64_t marked_bytes;    /* scanned by the last cycle's mark (each object
	                             up to its last pointer word) */
	uint64_t mark_overflows;  /* rescans after a mark queue overflowed */
	uint64_t roots;           /* registered root ranges */
	/* Now: */
	uint64_t inuse_objects;   /* allocated, the unswept dead included */
	uint64_t inuse_bytes;
	uint64_t unswept_spans;   /* spans the lazy sweep has not reached */
	uint64_t unswept_objects; /* dead objects in them, not yet reusable */
	uint64_t unswept_bytes;
	/* The last cycle's mark: */
	uint64_t last_markers;          /* CPUs that could mark */
	uint64_t last_working_markers;  /* of those, CPUs that scanned objects */
	uint64_t last_overflow_markers; /* of those, CPUs whose queue overflowed */
};

/* Start the collector (after kspan_init).  Returns 0. */
int kgc_init(const struct kgc_config *cfg);

/* An object of size bytes whose pointers type describes (NULL: scan every
 * word conservatively).  Zeroed.  NULL when out of memory (after a
 * collection). */
void *kgc_alloc(size_t size, const struct kgc_type *type);

/* A pointer-free object: never scanned, so pointers stored in it do not
 * keep anything alive.  Objects under 16 bytes share 16-byte blocks (Go's
 * tiny allocator).  Zeroed. */
void *kgc_alloc_noscan(size_t size);

/* Register [addr, addr + len) as a root: every aligned word in it is a
 * possible pointer.  Stops with a message for a range that wraps, is not
 * mapped, or lies in a free heap object. */
void kgc_root_add(const void *addr, size_t len);
/* Unregister the root that starts at addr; stops with a message if there
 * is none. */
void kgc_root_remove(const void *addr);

/* Collect now (marking only: the dead are swept lazily, see kgc_sweep).
 * Returns the bytes found dead; 0 at once if another CPU is collecting
 * already. */
size_t kgc_collect(void);

/* Sweep up to max_spans spans the last collection left unswept (0: all of
 * them), as a background pass would; returns the spans still unswept.
 * Allocation sweeps on its own, and kspan_drain_cpu finishes the sweep. */
size_t kgc_sweep(size_t max_spans);

/* Turn automatic collection on or off (kgc_collect always works). */
void kgc_enable(bool on);

/* Mark with at most n CPUs from the next cycle on (0: all that
 * stop_world_run offers). */
void kgc_set_markers(unsigned n);

/* Tests: a marker holds at most n ranges to scan before it overflows (and
 * the mark rescans); 0 restores the default (as much as memory allows). */
void kgc_set_mark_queue(unsigned n);

void kgc_stats(struct kgc_stats *out);

/* Is p a live collector-managed object (or inside one): allocated, and
 * not found dead by a collection?  For tests; safe on any CPU at any time
 * (it takes the lock of the object's class). */
bool kgc_is_live(const void *p);

#ifdef __cplusplus
}
#endif

#endif
