/*
 * Statistics, the heap dump and the whole-heap check.  Figures are
 * gathered when asked for, by walking the arena's spans and summing the
 * per-CPU caches' slow-path counters; the fast paths pay nothing for them.
 * While other CPUs allocate the figures are a snapshot, not exact: owned
 * spans and other CPUs' counters are read without their owner.
 */
#include <kspan/kmalloc.h>

#include "lib/bits.h"
#include "lib/check.h"
#include "mm/arena.h"
#include "mm/mcache.h"
#include "mm/mcentral.h"
#include "mm/meta.h"
#include "mm/mheap.h"
#include "mm/mremote.h"
#include "mm/reclaim.h"
#include "mm/slab.h"

/* Free objects of small span s (its bits; a snapshot if another CPU owns
 * it). */
static unsigned span_free(const struct mspan *s)
{
	unsigned n = 0;
	for (unsigned w = 0; w < s->nwords; w++)
		n += ks_popcount64(mspan_free_word(s, w));
	return n;
}

/* Visit every span of the used arena (no lock: a snapshot). */
void ks_each_span(void (*fn)(const struct mspan *s, void *arg), void *arg)
{
	struct ks_arena *a = &ks_arena;
	uintptr_t p = a->arena_start;
	uintptr_t end = __atomic_load_n(&a->used_bytes, __ATOMIC_ACQUIRE) + a->arena_start;
	while (p < end) {
		const struct mspan *s = __atomic_load_n(&a->spans[arena_page(p)], __ATOMIC_ACQUIRE);
		/* Each field read once: another CPU may be splitting, merging or
		 * recycling the span (its struct stays mapped). */
		uintptr_t base = s ? __atomic_load_n(&s->base, __ATOMIC_RELAXED) : 0;
		uintptr_t npages = s ? __atomic_load_n(&s->npages, __ATOMIC_RELAXED) : 0;
		uintptr_t next = base + (npages << KS_PAGE_SHIFT);
		if (!s || npages == 0 || base != p || next <= p || next > end) {
			p += KS_PAGE_SIZE;   /* changing under us: step a page */
			continue;
		}
		fn(s, arg);
		p = next;
	}
}

static void sum_cpus(struct kspan_cpu_stats *o)
{
	*o = (struct kspan_cpu_stats){ 0 };
	for (unsigned cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++) {
		struct kspan_cpu_stats c;
		kspan_cpu_stats(cpu, &c);
		o->slow_allocs += c.slow_allocs;
		o->locked_frees += c.locked_frees;
		o->queued_frees += c.queued_frees;
		o->remote_frees += c.remote_frees;
		o->remote_batches += c.remote_batches;
		o->received_frees += c.received_frees;
		o->adoptions += c.adoptions;
		o->refills += c.refills;
		o->flushes += c.flushes;
		o->queued_objects += c.queued_objects;
		o->owned_spans += c.owned_spans;
	}
}

void kspan_heap_stats(struct kspan_heap_stats *o)
{
	struct ks_arena *a = &ks_arena;
	struct mheap *h = &ks_mheap;
	*o = (struct kspan_heap_stats){ 0 };
	o->arena_bytes = a->arena_end - a->arena_start;
	o->spans_bytes = a->spans_bytes;
	o->bitmap_bytes = a->bitmap_bytes;
	o->pages_total = o->arena_bytes >> KS_PAGE_SHIFT;
	o->meta_committed = (KSPAN_GC ? a->shadow_mapped / 32 : 0) +
	                    a->shadow_mapped / 1024 + a->committed_bytes +
	                    h->spanalloc.committed + ks_meta_committed();
	ks_irqstate_t st = ks_spin_lock_irqsave(&h->lock);
	o->pages_free = mheap_free_pages_total();
	o->pages_committed = h->pages_inuse + h->pages_free_committed;
	o->pages_scavenged_total = h->pages_scavenged_total;
	ks_spin_unlock_irqrestore(&h->lock, st);
	o->largest_free_run = mheap_largest_free();
	o->large_inuse = __atomic_load_n(&h->large_inuse, __ATOMIC_RELAXED);
	o->large_bytes = __atomic_load_n(&h->large_pages, __ATOMIC_RELAXED) << KS_PAGE_SHIFT;
	struct kspan_cpu_stats c;
	sum_cpus(&c);
	o->slow_allocs = c.slow_allocs;
	o->locked_frees = c.locked_frees;
	o->queued_frees = c.queued_frees;
	o->remote_frees = c.remote_frees;
	o->remote_batches = c.remote_batches;
	o->adoptions = c.adoptions;
	o->refills = c.refills;
	o->queued_objects = c.queued_objects;
	o->remote_pending = c.remote_frees > c.received_frees ? c.remote_frees - c.received_frees : 0;
	o->owned_spans = c.owned_spans;
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		o->reserve_spans += __atomic_load_n(&ks_mcentral[sc].nempty, __ATOMIC_RELAXED);
	o->reclaims = ks_reclaim_count();
}

void kspan_cpu_stats(unsigned cpu, struct kspan_cpu_stats *o)
{
	*o = (struct kspan_cpu_stats){ 0 };
	if (cpu >= KSPAN_MAX_CPUS)
		return;
	const struct mcache *c = __atomic_load_n(&ks_mcache_real[cpu], __ATOMIC_ACQUIRE);
	if (!c)
		return;
	o->slow_allocs = __atomic_load_n(&c->slow_allocs, __ATOMIC_RELAXED);
	o->locked_frees = __atomic_load_n(&c->locked_frees, __ATOMIC_RELAXED);
	o->queued_frees = __atomic_load_n(&c->queued_frees, __ATOMIC_RELAXED);
	o->remote_frees = __atomic_load_n(&c->remote_frees, __ATOMIC_RELAXED);
	o->remote_batches = __atomic_load_n(&c->remote_batches, __ATOMIC_RELAXED);
	o->received_frees = __atomic_load_n(&c->received_frees, __ATOMIC_RELAXED);
	o->adoptions = __atomic_load_n(&c->adoptions, __ATOMIC_RELAXED);
	o->flushes = __atomic_load_n(&c->flushes, __ATOMIC_RELAXED);
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++) {
		const struct mcache_class *pc = &c->cls[cls];
		o->refills += __atomic_load_n(&pc->refills, __ATOMIC_RELAXED);
		o->queued_objects += __atomic_load_n(&pc->nqueued, __ATOMIC_RELAXED);
		o->owned_spans += __atomic_load_n(&pc->npartial, __ATOMIC_RELAXED) +
		                  (__atomic_load_n(&pc->cur, __ATOMIC_RELAXED) != NULL);
	}
}

struct class_sums {
	struct kspan_class_stats *out;
};

static void count_span(const struct mspan *s, void *arg)
{
	struct class_sums *cs = arg;
	if (s->state != MSPAN_INUSE || !s->central || s->gc || !s->spanclass)
		return;
	struct kspan_class_stats *o = &cs->out[ks_spanclass_sizeclass(s->spanclass)];
	o->inuse += s->nelems - span_free(s);
	o->spans++;
}

void kspan_class_stats(struct kspan_class_stats *out)
{
	for (unsigned cls = 0; cls < KS_NUM_SIZE_CLASSES; cls++) {
		struct kspan_class_stats *o = &out[cls];
		*o = (struct kspan_class_stats){ 0 };
		o->size = ks_class_to_size[cls];
		o->npages = ks_class_to_npages[cls];
		if (cls)
			o->refills = __atomic_load_n(&ks_mcentral[ks_make_spanclass(cls, true)].nrefills,
			                             __ATOMIC_RELAXED);
	}
	struct class_sums cs = { out };
	ks_each_span(count_span, &cs);
	/* Queued objects are allocated in their spans' bits: count them apart. */
	for (unsigned cpu = 0; cpu < KSPAN_MAX_CPUS; cpu++) {
		const struct mcache *c = __atomic_load_n(&ks_mcache_real[cpu], __ATOMIC_ACQUIRE);
		if (!c)
			continue;
		for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++) {
			uint64_t q = __atomic_load_n(&c->cls[cls].nqueued, __ATOMIC_RELAXED);
			q = q < out[cls].inuse ? q : out[cls].inuse;
			out[cls].queued += q;
			out[cls].inuse -= q;
		}
	}
	for (unsigned cls = 1; cls < KS_NUM_SIZE_CLASSES; cls++)
		out[cls].bytes = out[cls].spans * out[cls].npages * KS_PAGE_SIZE;
}

void kspan_print_stats(void)
{
	struct kspan_class_stats cs[KSPAN_NUM_CLASSES];
	struct kspan_heap_stats hs;
	kspan_class_stats(cs);
	kspan_heap_stats(&hs);
	ks_printf("kspan size classes (classes with spans only)\n");
	ks_printf("  class   size  pages   inuse  queued   spans      bytes  refills\n");
	for (unsigned cls = 1; cls < KSPAN_NUM_CLASSES; cls++) {
		if (!cs[cls].spans && !cs[cls].refills)
			continue;
		ks_printf("  %5u %6u %6u %7lu %7lu %7lu %10lu %8lu\n", cls,
		          (unsigned)cs[cls].size, (unsigned)cs[cls].npages,
		          (unsigned long)cs[cls].inuse, (unsigned long)cs[cls].queued,
		          (unsigned long)cs[cls].spans, (unsigned long)cs[cls].bytes,
		          (unsigned long)cs[cls].refills);
	}
	ks_printf("kspan page heap: %lu pages (%lu MiB), %lu free, %lu committed, "
	          "largest free run %lu pages, %lu pages scavenged so far\n",
	          (unsigned long)hs.pages_total,
	          (unsigned long)(hs.arena_bytes >> 20),
	          (unsigned long)hs.pages_free, (unsigned long)hs.pages_committed,
	          (unsigned long)hs.largest_free_run,
	          (unsigned long)hs.pages_scavenged_total);
	ks_slab_print_stats();
	ks_printf("kspan large objects: %lu in use, %lu KiB\n",
	          (unsigned long)hs.large_inuse, (unsigned long)(hs.large_bytes >> 10));
	ks_printf("kspan per-CPU caches: %lu slow allocations, %lu refills; frees: "
	          "%lu reached a lock, %lu queued, %lu sent to their owner in %lu "
	          "batches; %lu spans taken over; now %lu spans held, %lu frees "
	          "queued, %lu on their way; %lu empty spans in reserve; %lu "
	          "reclaims under memory pressure\n",
	          (unsigned long)hs.slow_allocs, (unsigned long)hs.refills,
	          (unsigned long)hs.locked_frees, (unsigned long)hs.queued_frees,
	          (unsigned long)hs.remote_frees, (unsigned long)hs.remote_batches,
	          (unsigned long)hs.adoptions, (unsigned long)hs.owned_spans,
	          (unsigned long)hs.queued_objects, (unsigned long)hs.remote_pending,
	          (unsigned long)hs.reserve_spans, (unsigned long)hs.reclaims);
}

static void dump_span(const struct mspan *s, void *arg)
{
	(void)arg;
	const char *kind = s->state == MSPAN_FREE ? "free"
	                 : !s->central ? (s->manual ? "pages" : "large")
	                 : s->central->cache ? "cache"
	                 : "small";
	unsigned inuse = 0;
	if (s->state == MSPAN_INUSE && s->central)
		inuse = s->nelems - span_free(s);
	/* span <first page> <pages> <kind> <size class> <noscan> <objects> <in use> <decommitted pages> */
	ks_printf("span %lu %lu %s %u %u %u %u %lu\n", (unsigned long)arena_page(s->base),
	          (unsigned long)s->npages, kind,
	          (unsigned)ks_spanclass_sizeclass(s->spanclass),
	          (unsigned)ks_spanclass_noscan(s->spanclass),
	          (unsigned)(s->central ? s->nelems : 0), inuse,
	          (unsigned long)(s->state == MSPAN_FREE ? s->nscav : 0));
}

void kspan_dump_heap(void)
{
	struct ks_arena *a = &ks_arena;
	ks_printf("kspan-heapdump v1 arena_start=%p page_size=%u pages=%lu used=%lu\n",
	          (void *)a->arena_start, (unsigned)KS_PAGE_SIZE,
	          (unsigned long)((a->arena_end - a->arena_start) >> KS_PAGE_SHIFT),
	          (unsigned long)((a->arena_used - a->arena_start) >> KS_PAGE_SHIFT));
	ks_each_span(dump_span, NULL);
	ks_printf("end\n");
}

void kspan_check(void)
{
	for (unsigned sc = 0; sc < KS_NUM_SPAN_CLASSES; sc++)
		if (ks_spanclass_sizeclass((spanclass_t)sc))
			mcentral_check(&ks_mcentral[sc]);
	ks_slab_check();
	mheap_check();
}
