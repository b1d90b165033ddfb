/*
 * The kspan adapter (gcb.h): kgc_* on the host build of mm/ (arch/host/
 * platform.c, one thread, so one CPU).
 *
 *   kspan       kgc_alloc with the workload's pointer map (precise objects)
 *   kspan-cons  kgc_alloc with type NULL: every word of an object is a
 *               possible pointer, as in Boehm (run with -c)
 *   kspan-par   kspan with -m N: N threads mark, the collecting one and
 *               N - 1 helpers (arch/host/gcpool.c through the collector's
 *               stop_world_run hook)
 * Pointer-free data goes to kgc_alloc_noscan in all.  The one root range
 * is gcb_roots (kgc_root_add); the C stack is not a root.
 *
 * How the figures are taken (README.md):
 *   pause      the collector's stop_world / start_world hooks (public API,
 *              struct kgc_config): CLOCK_MONOTONIC at each.  kgc_collect
 *              calls them first and last (with helpers, the pool calls
 *              them around waking the helpers and the cycle), so the pause
 *              covers draining the caches, finishing the last sweep, mark,
 *              the large objects' sweep, the small spans handed to the lazy
 *              sweep and the next trigger.  The lazy sweep itself runs in
 *              the mutator, as Boehm's does.
 *   mark       kgc_stats.last_mark: the collector times its mark phase
 *              itself (ks_plat_now, nanoseconds on the host), converted to
 *              TSC cycles with the run's measured TSC rate; marked_bytes
 *              the bytes it scanned for pointers.
 *   marked     after the cycle, kgc_stats: live_bytes and live_objects, the
 *              objects the mark reached (slot sizes; large objects in whole
 *              pages).  Read at the next stop_world hook and at the end.
 */
#include <stdio.h>
#include <stdlib.h>

#include <kspan/gc.h>
#include <kspan/kmalloc.h>

#include "arch/host/gcpool.h"
#include "gcb.h"

static uint64_t base_cycles;
static bool pending;   /* a cycle whose figures are not read yet */

static void flush_pending(void)
{
	if (!pending)
		return;
	struct kgc_stats s;
	kgc_stats(&s);
	uint64_t n = gcb_rec_count();
	if (s.cycles != base_cycles + n)
		gcb_fail("kspan: %llu cycles since start, the hooks saw %llu",
		         (unsigned long long)(s.cycles - base_cycles), (unsigned long long)n);
	gcb_rec_mark_told(n - 1, s.last_mark, s.marked_bytes);
	gcb_rec_marked(n - 1, s.live_bytes, s.live_objects);
	pending = false;
}

static void hook_stop_world(void)
{
	uint64_t t = gcb_now_ns();
	flush_pending();
	gcb_rec_instr(gcb_now_ns() - t);
	gcb_rec_begin();
}

static void hook_start_world(void)
{
	gcb_rec_end();
	pending = true;
}

void gcb_type_init(struct gcb_type *t)
{
	struct kgc_type *kt = malloc(sizeof(*kt));
	uint8_t *mask = malloc(8);
	if (!kt || !mask)
		gcb_fail("no memory");
	for (int i = 0; i < 8; i++)
		mask[i] = (uint8_t)(t->ptrmask >> (8 * i));
	kt->size = t->size;
	kt->ptrmask = mask;
	kt->name = t->name;
	t->impl = kt;
}

void *gcb_alloc(size_t size, const struct gcb_type *t)
{
	void *p = kgc_alloc(size, gcb_opts.conservative ? 0 : (const struct kgc_type *)t->impl);
	if (!p)
		gcb_fail("kgc_alloc(%zu): out of memory", size);
	return p;
}

void *gcb_alloc_noscan(size_t size)
{
	void *p = kgc_alloc_noscan(size);
	if (!p)
		gcb_fail("kgc_alloc_noscan(%zu): out of memory", size);
	return p;
}

bool gcb_is_live(const void *p)
{
	return kgc_is_live(p);
}

void gcb_collect(void)
{
	kgc_collect();
}

void gcb_auto(bool on)
{
	kgc_enable(on);
}

#define GC_PERCENT 100

void gcb_backend_init(void)
{
	/* Address space only (committed as the heap grows): room for the
	 * largest workload at this scale, many times over. */
	double arena = 4.0 * (1u << 30) + gcb_opts.scale * 2.0 * (1u << 30);
	struct kspan_config cfg = {
		.arena_bytes = (size_t)arena,
		.seed = gcb_opts.seed ? gcb_opts.seed : 1,
	};
	if (kspan_init(&cfg) != 0)
		gcb_fail("kspan_init failed");
	struct kgc_config gc = {
		.gc_percent = GC_PERCENT,
		.min_trigger = 0,   /* kspan's default, 4 MiB */
		.stop_world = hook_stop_world,
		.start_world = hook_start_world,
		.is_mapped = 0,
	};
	if (gcb_opts.markers > 1 && ks_host_gc_pool(&gc, gcb_opts.markers) + 1 != gcb_opts.markers)
		gcb_fail("kspan: could not start %u marker threads", gcb_opts.markers - 1);
	kgc_init(&gc);
	kgc_root_add(&gcb_roots, sizeof(gcb_roots));
	struct kgc_stats s;
	kgc_stats(&s);
	base_cycles = s.cycles;
}

const char *gcb_backend_name(void)
{
	if (gcb_opts.markers > 1)
		return gcb_opts.conservative ? "kspan-cons-par" : "kspan-par";
	return gcb_opts.conservative ? "kspan-cons" : "kspan";
}

void gcb_backend_flush(void)
{
	flush_pending();
}

void gcb_backend_finish(struct gcb_backend_info *info)
{
	flush_pending();
	struct kgc_stats s;
	kgc_stats(&s);
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	info->name = gcb_backend_name();
	snprintf(info->version, sizeof(info->version), "this tree");
	info->markers = gcb_opts.markers;
	info->parallel_mark = gcb_opts.markers > 1;
	info->cycles = s.cycles - base_cycles;
	info->heap_bytes = hs.pages_committed * KSPAN_PAGE_SIZE;
	snprintf(info->config, sizeof(info->config),
	         "gc_percent=%d min_trigger=default(4MiB) types=%s markers=%u "
	         "KSPAN_DEBUG=0 KSPAN_RANDOMIZE=%d",
	         GC_PERCENT, gcb_opts.conservative ? "NULL(conservative)" : "pointer maps",
	         gcb_opts.markers, (int)KSPAN_RANDOMIZE);
}
