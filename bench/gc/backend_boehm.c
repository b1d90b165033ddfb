/*
 * The Boehm-Demers-Weiser adapter (gcb.h), with Debian's libgc.
 *
 * GC_MALLOC for objects with pointers (scanned conservatively, every word),
 * GC_MALLOC_ATOMIC for pointer-free data, GC_gcollect, GC_disable /
 * GC_enable.  The pointer maps are not used.  Roots: Boehm scans the data
 * segment (where gcb_roots lives), the registers and the C stack by itself.
 * The number of markers comes from Boehm's own GC_MARKERS environment
 * variable (the driver sets GC_MARKERS=1 for one marker and leaves it unset
 * for Boehm's default); GC_start_mark_threads starts them at init.
 *
 * How the figures are taken (README.md), all in GC_set_on_collection_event:
 *   pause      CLOCK_MONOTONIC at GC_EVENT_START and GC_EVENT_END (the whole
 *              collection, run on the allocating thread with the allocation
 *              lock held: world stopped, mark, restart, eager part of the
 *              sweep; Boehm sweeps the rest lazily, during allocation).
 *   mark       rdtsc at GC_EVENT_MARK_START and GC_EVENT_MARK_END, on the
 *              thread that runs the collection (with parallel markers the
 *              other markers work inside that interval).
 *   marked     at GC_EVENT_END (lock held, mark bits still valid),
 *              GC_enumerate_reachable_objects_inner: the objects marked and
 *              their sizes (GC_size, granule-rounded).  Its time is
 *              outside the pause and subtracted from the total.
 */
#define GC_THREADS
#include <gc/gc.h>
#include <gc/gc_mark.h>
#include <stdio.h>

#include "gcb.h"

static GC_word base_gc_no;
static bool disabled;

struct enum_acc {
	uint64_t bytes, objs;
};

static void GC_CALLBACK count_obj(void *obj, size_t bytes, void *data)
{
	struct enum_acc *a = data;
	(void)obj;
	a->bytes += bytes;
	a->objs++;
}

static void GC_CALLBACK on_event(GC_EventType e)
{
	switch (e) {
	case GC_EVENT_START:
		/* Non-incremental Boehm never abandons a collection it started;
		 * if it did (START without END), gcb_rec_begin stops the run. */
		gcb_rec_begin();
		break;
	case GC_EVENT_MARK_START:
		gcb_rec_mark_begin();
		break;
	case GC_EVENT_MARK_END:
		gcb_rec_mark_end(0);
		break;
	case GC_EVENT_END: {
		gcb_rec_end();
		uint64_t t = gcb_now_ns();
		struct enum_acc a = { 0, 0 };
		GC_enumerate_reachable_objects_inner(count_obj, &a);
		gcb_rec_marked(gcb_rec_count() - 1, a.bytes, a.objs);
		gcb_rec_instr(gcb_now_ns() - t);
		break;
	}
	default:
		break;
	}
}

void gcb_type_init(struct gcb_type *t)
{
	t->impl = 0;   /* Boehm scans every word of a GC_MALLOC object */
}

void *gcb_alloc(size_t size, const struct gcb_type *t)
{
	(void)t;
	void *p = GC_MALLOC(size);
	if (!p)
		gcb_fail("GC_MALLOC(%zu): out of memory", size);
	return p;
}

void *gcb_alloc_noscan(size_t size)
{
	void *p = GC_MALLOC_ATOMIC(size);
	if (!p)
		gcb_fail("GC_MALLOC_ATOMIC(%zu): out of memory", size);
	return p;
}

bool gcb_is_live(const void *p)
{
	return GC_base((void *)p) == p;
}

void gcb_collect(void)
{
	GC_gcollect();
}

void gcb_auto(bool on)
{
	/* GC_disable also blocks GC_gcollect; the workloads turn it back on
	 * before they force collections. */
	if (on && disabled)
		GC_enable();
	else if (!on && !disabled)
		GC_disable();
	disabled = !on;
}

void gcb_backend_init(void)
{
	GC_INIT();
	GC_start_mark_threads();   /* else started at the first pthread_create */
	GC_set_on_collection_event(on_event);
	base_gc_no = GC_get_gc_no();
}

const char *gcb_backend_name(void)
{
	return "boehm";
}

void gcb_backend_flush(void)
{
	/* Everything is recorded at GC_EVENT_END already. */
}

void gcb_backend_finish(struct gcb_backend_info *info)
{
	unsigned v = GC_get_version();
	info->name = "boehm";
	snprintf(info->version, sizeof(info->version), "%u.%u.%u", v >> 16, (v >> 8) & 0xff,
	         v & 0xff);
	info->markers = (unsigned)GC_get_parallel() + 1;
	info->parallel_mark = GC_get_parallel() > 0;
	info->cycles = GC_get_gc_no() - base_gc_no;
	info->heap_bytes = GC_get_heap_size();
	snprintf(info->config, sizeof(info->config),
	         "free_space_divisor=%lu all_interior_pointers=%d incremental=%d "
	         "full_freq=%d markers=%u",
	         (unsigned long)GC_get_free_space_divisor(), GC_get_all_interior_pointers(),
	         GC_is_incremental_mode(), GC_get_full_freq(), info->markers);
}
