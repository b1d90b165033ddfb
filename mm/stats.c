/*
 * Statistics and the whole-heap check.  Figures are gathered when asked
 * for, by walking mcentral lists and summing per-CPU counters, so the
 * allocation paths pay nothing for them but one counter increment.  While
 * other CPUs allocate the figures are a snapshot, not exact.
 */
#include <kspan/kmalloc.h>

#include "mm/arena.h"
#include "lib/bits.h"
#include "lib/check.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/mheap.h"

void kspan_heap_stats(struct kspan_heap_stats *o)
{
	struct ks_arena *a = &ks_arena;
	struct mheap *h = &ks_mheap;
	*o = (struct kspan_heap_stats){ 0 };
	o->arena_bytes = a->arena_end - a->arena_start;
	o->spans_bytes = a->spans_bytes;
	o->bitmap_bytes = a->bitmap_bytes;
	o->pages_total = o->arena_bytes >> KS_PAGE_SHIFT;
	o->meta_committed = a->shadow_mapped / 32 + a->shadow_mapped / 1024 +
	                    a->committed_bytes + h->spanalloc.committed;
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	o->pages_free = mheap_free_pages_total();
	o->pages_committed = h->pages_inuse + h->pages_free_committed;
	o->pages_scavenged_total = h->pages_scavenged_total;
	ks_spin_unlock_irqrestore(&h->lock, st);
	o->largest_free_run = mheap_largest_free();
	o->large_inuse = __atomic_load_n(&h->large_inuse, __ATOMIC_RELAXED);
	o->large_bytes = __atomic_load_n(&h->large_pages, __ATOMIC_RELAXED) << KS_PAGE_SHIFT;
	for (unsigned cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++) {
		const struct mcache *c = &ks_mcaches[cpu];
		o->fast_allocs += c->fast_allocs;
		o->slow_allocs += c->slow_allocs;
		o->fast_frees += c->fast_frees;
		o->slow_frees += c->slow_frees;
		o->refills += c->refills;
	}
}

void kspan_cpu_stats(unsigned cpu, struct kspan_cpu_stats *o)
{
	*o = (struct kspan_cpu_stats){ 0 };
	if (cpu >= KSPAN_MAX_CPUS)
		return;
	const struct mcache *c = &ks_mcaches[cpu];
	o->fast_allocs = __atomic_load_n(&c->fast_allocs, __ATOMIC_RELAXED);
	o->slow_allocs = __atomic_load_n(&c->slow_allocs, __ATOMIC_RELAXED);
	o->fast_frees = __atomic_load_n(&c->fast_frees, __ATOMIC_RELAXED);
	o->slow_frees = __atomic_load_n(&c->slow_frees, __ATOMIC_RELAXED);
	o->refills = __atomic_load_n(&c->refills, __ATOMIC_RELAXED);
}

void kspan_class_stats(struct kspan_class_stats *out)
{
	for (unsigned cls = 0; cls < KS_NUM_SIZE_CLASSES; cls++) {
		struct kspan_class_stats *o = &out[cls];
		*o = (struct kspan_class_stats){ 0 };
		o->size = ks_class_to_size[cls];
		o->npages = ks_class_to_npages[cls];
		if (cls == 0)
			continue;
		for (unsigned noscan = 0; noscan < 2; noscan++) {
			struct mcentral *c = &ks_mcentral[ks_make_spanclass(cls, noscan)];
			uint64_t inuse, spans;
			mcentral_count(c, &inuse, &spans);
			o->inuse += inuse;
			o->spans += spans;
			o->refills += __atomic_load_n(&c->nrefills, __ATOMIC_RELAXED);
		}
		o->bytes = o->spans * o->npages * KS_PAGE_SIZE;
	}
}

void kspan_print_stats(void)
{
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	struct kspan_heap_stats hs;
	kspan_class_stats(cs);
	kspan_heap_stats(&hs);
	ks_printf("kspan size classes (classes with spans only)\n");
	ks_printf("  class   size  pages   inuse   spans      bytes  refills\n");
	for (unsigned cls = 1; cls < KSPAN_NUM_CLASSES; cls++) {
		if (!cs[cls].spans && !cs[cls].refills)
			continue;
		ks_printf("  %5u %6u %6u %7lu %7lu %10lu %8lu\n", cls,
		          (unsigned)cs[cls].size, (unsigned)cs[cls].npages,
		          (unsigned long)cs[cls].inuse, (unsigned long)cs[cls].spans,
		          (unsigned long)cs[cls].bytes, (unsigned long)cs[cls].refills);
	}
	uint64_t allocs = hs.fast_allocs + hs.slow_allocs;
	uint64_t frees = hs.fast_frees + hs.slow_frees;
	ks_printf("kspan page heap: %lu pages (%lu MiB), %lu free, %lu committed, "
	          "largest free run %lu pages, %lu pages scavenged so far\n",
	          (unsigned long)hs.pages_total,
	          (unsigned long)(hs.arena_bytes >> 20),
	          (unsigned long)hs.pages_free, (unsigned long)hs.pages_committed,
	          (unsigned long)hs.largest_free_run,
	          (unsigned long)hs.pages_scavenged_total);
	ks_printf("kspan large objects: %lu in use, %lu KiB\n",
	          (unsigned long)hs.large_inuse, (unsigned long)(hs.large_bytes >> 10));
	ks_printf("kspan per-CPU caches: %lu of %lu small allocations and %lu of "
	          "%lu frees without a lock (%lu.%02lu%% / %lu.%02lu%%), %lu refills\n",
	          (unsigned long)hs.fast_allocs, (unsigned long)allocs,
	          (unsigned long)hs.fast_frees, (unsigned long)frees,
	          (unsigned long)(allocs ? hs.fast_allocs * 100 / allocs : 0),
	          (unsigned long)(allocs ? hs.fast_allocs * 10000 / allocs % 100 : 0),
	          (unsigned long)(frees ? hs.fast_frees * 100 / frees : 0),
	          (unsigned long)(frees ? hs.fast_frees * 10000 / frees % 100 : 0),
	          (unsigned long)hs.refills);
}

void kspan_dump_heap(void)
{
	struct ks_arena *a = &ks_arena;
	ks_printf("kspan-heapdump v1 arena_start=%p page_size=%u pages=%lu used=%lu\n",
	          (void *)a->arena_start, (unsigned)KS_PAGE_SIZE,
	          (unsigned long)((a->arena_end - a->arena_start) >> KS_PAGE_SHIFT),
	          (unsigned long)((a->arena_used - a->arena_start) >> KS_PAGE_SHIFT));
	uintptr_t p = a->arena_start;
	while (p < a->arena_used) {
		const struct mspan *s = a->spans[arena_page(p)];
		if (!s || s->base != p || s->npages == 0) {
			ks_printf("bad %lu\n", (unsigned long)arena_page(p));
			break;
		}
		const char *kind = s->state == MSPAN_FREE ? "free"
		                 : s->spanclass == 0 ? (s->manual ? "pages" : "large")
		                 : "small";
		unsigned inuse = 0;
		if (s->state == MSPAN_INUSE && s->spanclass) {
			unsigned nfree = 0;
			for (unsigned w = 0; w < s->nwords; w++)
				nfree += ks_popcount64(s->freebits[w] | s->remotebits[w]);
			if (s->owner >= 0)
				nfree += ks_popcount64(s->allocCache);
			inuse = s->nelems - nfree;
		}
		/* span <first page> <pages> <kind> <size class> <noscan> <objects> <in use> <decommitted pages> */
		ks_printf("span %lu %lu %s %u %u %u %u %lu\n", (unsigned long)arena_page(p),
		          (unsigned long)s->npages, kind,
		          (unsigned)ks_spanclass_sizeclass(s->spanclass),
		          (unsigned)ks_spanclass_noscan(s->spanclass),
		          (unsigned)(s->spanclass ? s->nelems : 0), inuse,
		          (unsigned long)(s->state == MSPAN_FREE ? s->nscav : 0));
		p = mspan_end(s);
	}
	ks_printf("end\n");
}

void kspan_check(void)
{
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		mcentral_check(&ks_mcentral[sc]);
	mheap_check();
}
