/*
 * The collector's mark phase (see mm/mgc.c for the cycle), run by every
 * CPU the world-stop hook offers (kgc_config.stop_world_run), or by the
 * collecting CPU alone.
 *
 * Marking starts from the root ranges (every aligned word a possible
 * pointer) and follows pointers through the heap bitmap (mm/mbitmap.h):
 * the words of an object whose pointer bit is set, found 64 at a time
 * with a bit scan.  A word is a pointer to an object if it falls anywhere
 * inside an allocated collector object (interior pointers count), found in
 * O(1) through spans[] and the span's division magic.  Objects of noscan
 * spans are marked but never scanned; kmalloc objects are neither.
 *
 * Work.  Reached objects are queued as ranges to scan on the marker's own
 * queue (mm/mgcwork.c); idle markers take full buffers from a shared list.
 * A large object is scanned 8 KiB at a time, the rest queued again, so
 * other markers share it.  The scan of a range is preceded by a prefetch:
 * ranges go through a small FIFO between the queue and the scan, so the
 * object's first line is on its way while earlier ones are scanned.  The
 * FIFO is refilled from the marker's own buffer only (the shared list is
 * looked at when both are empty).  A chain (the last pointer an object
 * marks is followed at once, not queued) with nothing else queued runs in
 * a loop of its own, which calls nothing: a list pays neither the queue
 * nor the FIFO.  Its next node is nowhere predictable (randomised order
 * scatters it over its page), so once a chain has stayed RUN_PREFETCH
 * steps in one page the whole page is prefetched.  The loop is compiled
 * twice, for one marker and for several, so one marker tests no flag
 * per mark.
 *
 * Rounds.  A round hands out jobs (pieces of the root ranges, or of the
 * arena for a rescan) through an atomic cursor; job i < markers is marker
 * i's own (its first: so which marker meets which roots is fixed).  A
 * marker out of jobs and work waits until either shows up or
 * every marker waits (then the round is over: no marker can make more
 * work), as in Go's getfull.  The leader opens a round, marks, closes it
 * and waits until every marker that joined has left.
 *
 * Overflow.  A marker that finds its queue full and no free buffer drops
 * the range (the object stays marked) and records an overflow; after the
 * round the leader starts a rescan round, in which the markers scan every
 * marked object again (marking is idempotent), until a round ends without
 * overflow.  So a million-long list needs no deeper queue than a short one
 * and a test can force overflows on every marker (gc_markqueue_limit).
 *
 * Mark bits are set with an atomic OR only when more than one marker runs
 * (two markers may reach one object), and not while a marker is alone
 * with work (the others wait and there is none for them to take: solo(),
 * looked at every SOLO_SCANS scans: its fence waits for every miss in
 * flight); one marker uses plain stores.  The
 * world is stopped: nothing else writes the spans, the bitmap or the free
 * bits, so no lock is taken.  Markers call nothing of the platform but
 * ks_plat_cpu_relax, so host helper threads need no CPU slot.
 */
#include "lib/config.h"
#if KSPAN_GC
#include <kspan/platform.h>
#include "mm/mgc.h"

#include "lib/check.h"
#include "mm/arena.h"
#include "mm/mbitmap.h"
#include "mm/mgcwork.h"

#define JOB_BYTES    4096u                /* root bytes per job */
#define RESCAN_PAGES 256u                 /* arena pages per rescan job */
#define OBLET_WORDS  1024u                /* large objects: 8 KiB at a time */
#define PREFETCH     8u                   /* ranges in flight */
#define BALANCE_SCANS 64u                 /* scans between looks at idle markers */
#define SOLO_SCANS   1024u                /* scans between looks at being alone */
#define RUN_PREFETCH 4u                   /* chain steps in one page: fetch it all */
#define POOL_MIN     16u                  /* buffers at the start (64 KiB) */
#define POOL_MAX     4096u                /* at most 16 MiB of buffers */

unsigned gc_markqueue_limit;

enum { JOBS_ROOTS, JOBS_RESCAN };

/* The state markers share (one mark at a time: mm/mgc.c's collecting). */
static struct {
	/* Set by the leader before a round opens. */
	unsigned kind;
	const struct gc_root *roots;
	unsigned nroots;
	uintptr_t rootjobs_end[GC_MAX_ROOTS];   /* cumulative jobs per root */
	uintptr_t njobs, nstatic;
	uintptr_t used;                         /* arena bytes in use */
	unsigned markers;
	bool par;
	/* The round (atomics). */
	uintptr_t next;                         /* job cursor */
	uint8_t taken[KSPAN_MAX_CPUS];          /* static jobs claimed */
	struct gcwbuf *bufs[2 * KSPAN_MAX_CPUS]; /* each marker's two to start */
	uint8_t joined[KSPAN_MAX_CPUS];         /* marker i took its two */
	unsigned nproc, nwait;
	bool overflowed;
	/* Helpers (atomics). */
	unsigned arrived, round_open, round_closed, nactive;
	bool end;
	/* Results (atomics). */
	uint64_t scanned_bytes;
	uint32_t overflow_by[KSPAN_MAX_CPUS];   /* overflows of marker i */
	uint8_t worked[KSPAN_MAX_CPUS];         /* marker i scanned something */
} ms;

struct marker {
	struct gcwork w;
	bool par;           /* more than one marker this cycle */
	bool atomic;        /* mark bits with atomics (see solo) */
	uint64_t scanned_bytes;
};

/* ---- marking one word ---------------------------------------------------- */

/* What the hot loop reads of the heap's globals, copied into registers:
 * the stores of the mark could alias them otherwise. */
struct markenv {
	uintptr_t start, used;
	struct mspan *const *spans;
	uint8_t *bitmap;
};

static inline struct markenv markenv(void)
{
	struct markenv e = { ks_arena.arena_start, ms.used, ks_arena.spans, ks_arena.bitmap };
	return e;
}

static inline void push(struct marker *m, uintptr_t base, uintptr_t nwords)
{
	struct gcwbuf *b = m->w.cur;
	if (__builtin_expect(b->n != gcwork_cap, 1)) {
		b->e[b->n].base = base;
		b->e[b->n].nwords = nwords;
		b->n++;
		return;
	}
	if (!gcwork_push_slow(&m->w, base, nwords))
		__atomic_store_n(&ms.overflowed, true, __ATOMIC_RELAXED);
	if (m->w.published)
		m->atomic = m->par;   /* others may mark from now on */
}

/* Set the bit; false if it was set already. */
static inline bool mark_bit(bool par, uint64_t *word, uint64_t bit)
{
	uint64_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
	if (old & bit)
		return false;
	if (!par) {
		__atomic_store_n(word, old | bit, __ATOMIC_RELAXED);
		return true;
	}
	return !(__atomic_fetch_or(word, bit, __ATOMIC_RELAXED) & bit);
}

/* If v points into an allocated collector object, mark it; true if it was
 * not marked before and must be scanned (*out: what to scan).  The live
 * objects are counted from the mark bits afterwards (mm/mgcsweep.c), not
 * here.  multi: more than one marker this cycle (a constant in each copy
 * of the loop: one marker tests no flag per mark). */
static inline __attribute__((always_inline))
bool mark_object(struct marker *m, const struct markenv *env, uintptr_t v,
                 struct gcwentry *out, const bool multi)
{
	const bool par = multi && m->atomic;
	uintptr_t off = v - env->start;
	if (off >= env->used)
		return false;
	struct mspan *s = env->spans[off >> KS_PAGE_SHIFT];
	if (!s->gc)
		return false;   /* free, dead and kmalloc spans have gc clear */
	uintptr_t o = v - s->base;
	if (__builtin_expect(!s->central, 0)) {
		/* A large object (a free span's interior page may name an
		 * unrelated span: the range check rules it out). */
		if (o >= s->npages << KS_PAGE_SHIFT || !mark_bit(par, &s->markbits[0], 1) ||
		    s->noscan)
			return false;
		out->base = s->base;
		out->nwords = (s->npages << KS_PAGE_SHIFT) / 8;
		return true;
	}
	if (o >= s->limit)
		return false;   /* tail waste after the last object, or not this span */
	bool exact;
	uintptr_t idx = mspan_index(s, o, &exact);
	uintptr_t pos = mspan_bitpos(s, idx);
	/* A free slot's bit is set too (mm/mgcsweep.c). */
	if (!mark_bit(par, &s->markbits[pos / 64], 1ull << (pos % 64)) ||
	    ks_spanclass_noscan(s->spanclass))
		return false;
	/* A pointer to the object's start (the usual case) is its base: a
	 * branch, not a select, so that the scan of a list's next node need
	 * not wait for the multiply. */
	if (__builtin_expect(exact, 1))
		out->base = v;
	else
		out->base = s->base + idx * s->elemsize;
	out->nwords = s->elemsize / 8;
	__builtin_prefetch((const void *)out->base);   /* its scan comes soon */
	return true;
}

/* Mark v, and queue it to scan. */
static inline __attribute__((always_inline))
void mark_value(struct marker *m, const struct markenv *env, uintptr_t v, const bool multi)
{
	struct gcwentry e;
	if (mark_object(m, env, v, &e, multi))
		push(m, e.base, e.nwords);
}

/* Scan nwords words from base: every word whose pointer bit is set.
 * *scanned: the words it scanned (a large object's first 8 KiB only, the
 * rest is queued again).  For a small object, the last object it marks
 * is not queued but returned (true, in *next), so that a chain (a list)
 * goes from one object to the next without the queue. */
static inline __attribute__((always_inline))
bool scan(struct marker *m, const struct markenv *env, uintptr_t base, uintptr_t nwords,
          uintptr_t *scanned, struct gcwentry *next, const bool multi)
{
	const uintptr_t *obj = (const uintptr_t *)base;
	const uint64_t *ptrwords = (const uint64_t *)env->bitmap - 2;   /* heapbits_word */
	uintptr_t off = base - env->start, w = off >> 3;
	unsigned sh = (unsigned)(w & 63);
	if (__builtin_expect(sh + nwords <= 64, 1)) {
		/* A small object inside one chunk: one pointer word.  Its first
		 * word is read at once, alongside the bits (lists, trees). */
		*scanned += nwords;
		uintptr_t first = obj[0];
		uint64_t pw = *(const uint64_t *)((const uint8_t *)ptrwords -
		                                  ((off >> 5) & ~(uintptr_t)15));
		uint64_t bits = (pw >> sh) & (~0ull >> (64 - nwords));
		if (!bits)
			return false;
		if (bits == 1)   /* one pointer, the first word: a list node */
			return mark_object(m, env, first, next, multi);
		unsigned last = 63 - (unsigned)__builtin_clzll(bits);
		bits &= ~(1ull << last);
		if (bits & 1) {
			bits &= bits - 1;
			mark_value(m, env, first, multi);
		}
		while (bits) {
			unsigned i = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			mark_value(m, env, obj[i], multi);
		}
		return mark_object(m, env, last ? obj[last] : first, next, multi);
	}
	if (nwords > OBLET_WORDS) {
		push(m, base + OBLET_WORDS * 8, nwords - OBLET_WORDS);
		nwords = OBLET_WORDS;
	}
	*scanned += nwords;
	for (uintptr_t o = 0; o < nwords;) {
		sh = (unsigned)((w + o) & 63);
		uintptr_t n = 64 - sh < nwords - o ? 64 - sh : nwords - o;
		uint64_t bits = (ptrwords[-2 * (intptr_t)((w + o) >> 6)] >> sh) & (~0ull >> (64 - n));
		while (bits) {
			unsigned i = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			mark_value(m, env, obj[o + i], multi);
		}
		o += n;
	}
	return false;
}

/* Scan until the marker's queue and the shared list are empty.  Ranges go
 * through a FIFO of PREFETCH between the queue and the scan: each is
 * prefetched when it enters. */
static bool jobs_left(void);

/* Alone: every other marker waits for work and none is there to take
 * (none on the shared list, no job left).  Then only this marker can
 * write mark bits until it publishes work itself (gcwork published), so
 * it may mark without atomics: a long list marked with helpers costs no
 * more than with none.
 *
 * The order of the looks matters.  A marker leaves its wait (nwait--)
 * before it takes shared work or a job, and a late marker joins (nproc++)
 * before it claims a job.  So the work is looked at first and the counts
 * after it: work seen gone was taken by a marker whose count change is
 * then seen too.  (Counts first, work after, let a waiter slip between
 * the two looks: it took the buffer while this marker went on without
 * atomics, and a mark bit that both set in one word was lost -- a
 * reachable object freed: a clean-clone make test saw it once, in the
 * kernel's random-graph test on 2 CPUs.) */
static bool solo(struct marker *m)
{
	m->w.published = false;
	if (jobs_left() || gcwork_shared_nonempty())
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&ms.nwait, __ATOMIC_SEQ_CST) + 1 ==
	       __atomic_load_n(&ms.nproc, __ATOMIC_SEQ_CST);
}

/* After steps scans with other markers: every BALANCE_SCANS, feed the
 * idle ones; every SOLO_SCANS, see whether this one is alone (solo's fence
 * waits for every miss in flight: not often). */
static inline __attribute__((always_inline))
void drain_tick(struct marker *m, unsigned *k, unsigned steps, const bool multi)
{
	if (!multi)
		return;
	unsigned before = *k;
	*k += steps;
	if (before / BALANCE_SCANS != *k / BALANCE_SCANS) {
		if (__atomic_load_n(&ms.nwait, __ATOMIC_RELAXED))
			gcwork_balance(&m->w);
		if (before / SOLO_SCANS != *k / SOLO_SCANS)
			m->atomic = !solo(m);
	}
	/* Work handed out (here or by a push): others may mark from now on. */
	if (m->w.published)
		m->atomic = true;
}

/* The loop, one copy per multi. */
static inline __attribute__((always_inline))
void drain_loop(struct marker *m, const bool multi)
{
	const struct markenv env = markenv();
	struct gcwentry fifo[PREFETCH], e, next;
	unsigned head = 0, tail = 0, k = 0, run = 0;
	uintptr_t scanned = 0, run_page = 0;
	for (;;) {
		if (tail != head) {
			e = fifo[head++ % PREFETCH];
		} else if (!gcwork_pop(&m->w, &e)) {
			break;
		}
		struct gcwentry f;
		while (tail - head < PREFETCH && gcwork_pop_local(&m->w, &f)) {
			__builtin_prefetch((const void *)f.base);
			fifo[tail++ % PREFETCH] = f;
		}
		bool chained = scan(m, &env, e.base, e.nwords, &scanned, &next, multi);
		/* A chain (a list) with nothing else to do: follow it here, not
		 * through the queue and the FIFO, for up to BALANCE_SCANS
		 * objects (the loop calls nothing, so it keeps its registers). */
		unsigned steps = 1;
		while (chained && tail == head && m->w.cur->n == 0 && steps < BALANCE_SCANS) {
			e = next;
			/* A list's next node is anywhere in its page (randomised
			 * order), so nothing predicts it: once a chain has stayed
			 * in one page a while, fetch the whole page. */
			uintptr_t page = e.base >> KS_PAGE_SHIFT;
			if (page != run_page) {
				run_page = page;
				run = 0;
			} else if (++run == RUN_PREFETCH) {
				for (uintptr_t a = page << KS_PAGE_SHIFT, end = a + KS_PAGE_SIZE; a < end; a += 64)
					__builtin_prefetch((const void *)a, 0, 2);
			}
			chained = scan(m, &env, e.base, e.nwords, &scanned, &next, multi);
			steps++;
		}
		drain_tick(m, &k, steps, multi);
		if (chained)   /* the queue or the FIFO first: next waits its turn */
			push(m, next.base, next.nwords);
	}
	m->scanned_bytes += scanned * 8;
}

static void drain(struct marker *m)
{
	if (m->par)
		drain_loop(m, true);
	else
		drain_loop(m, false);
}

/* ---- jobs ------------------------------------------------------------------- */

static void do_root_job(struct marker *m, uintptr_t j)
{
	unsigned r = 0;
	while (ms.rootjobs_end[r] <= j)
		r++;
	uintptr_t first = r ? ms.rootjobs_end[r - 1] : 0;
	uintptr_t a = ms.roots[r].base + (j - first) * JOB_BYTES;
	uintptr_t e = ms.roots[r].base + ms.roots[r].len;
	if (e - a > JOB_BYTES)
		e = a + JOB_BYTES;
	const uintptr_t *w = (const uintptr_t *)((a + 7) & ~(uintptr_t)7);
	const uintptr_t *end = (const uintptr_t *)(e & ~(uintptr_t)7);
	const struct markenv env = markenv();
	for (; w < end; w++)
		mark_value(m, &env, *w, m->par);
}

/* Scan a marked object again (its last find queued like the others). */
static void rescan(struct marker *m, const struct markenv *env, uintptr_t base,
                   uintptr_t nwords)
{
	uintptr_t scanned = 0;
	struct gcwentry next;
	if (scan(m, env, base, nwords, &scanned, &next, m->par))
		push(m, next.base, next.nwords);
}

/* Scan the marked objects of the scan spans that start in job j's pages. */
static void do_rescan_job(struct marker *m, uintptr_t j)
{
	const struct markenv env = markenv();
	uintptr_t npages = ms.used >> KS_PAGE_SHIFT;
	uintptr_t p0 = j * RESCAN_PAGES, p1 = p0 + RESCAN_PAGES < npages ? p0 + RESCAN_PAGES : npages;
	for (uintptr_t p = p0; p < p1; p++) {
		if (!__atomic_load_n(gcpage_state(p), __ATOMIC_RELAXED))
			continue;
		struct mspan *s = ks_arena.spans[p];
		if (s->base != ks_arena.arena_start + (p << KS_PAGE_SHIFT))
			continue;   /* not the span's first page */
		if (!s->central) {
			if (!s->noscan && (s->markbits[0] & 1))
				rescan(m, &env, s->base, (s->npages << KS_PAGE_SHIFT) / 8);
		} else if (!ks_spanclass_noscan(s->spanclass)) {
			for (unsigned w = 0; w < s->nwords; w++) {
				/* Marked and allocated: free slots read as marked. */
				uint64_t bits = s->markbits[w] & ~mspan_word(s, w);
				while (bits) {
					unsigned b = (unsigned)__builtin_ctzll(bits);
					bits &= bits - 1;
					uintptr_t idx = mspan_posobj(s, w * 64 + b);
					if (idx >= s->nelems)
						continue;
					rescan(m, &env, s->base + idx * s->elemsize, s->elemsize / 8);
				}
			}
		}
		drain(m);
	}
}

/* Marker idx's own job first (every marker of the cycle joins each round:
 * they all stand ready), then any. */
static bool claim_job(unsigned idx, uintptr_t *j)
{
	if (idx < ms.nstatic && !__atomic_exchange_n(&ms.taken[idx], 1, __ATOMIC_SEQ_CST)) {
		*j = idx;
		return true;
	}
	uintptr_t n = __atomic_fetch_add(&ms.next, 1, __ATOMIC_SEQ_CST);
	if (n < ms.njobs) {
		*j = n;
		return true;
	}
	return false;
}

static bool jobs_left(void)
{
	if (__atomic_load_n(&ms.next, __ATOMIC_SEQ_CST) < ms.njobs)
		return true;
	for (uintptr_t k = 0; k < ms.nstatic; k++)
		if (!__atomic_load_n(&ms.taken[k], __ATOMIC_SEQ_CST))
			return true;
	return false;
}

/* Out of work: wait until some shows up (true) or every marker of the
 * round is waiting (false: the round is over). */
static bool wait_for_work(void)
{
	__atomic_fetch_add(&ms.nwait, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (gcwork_shared_nonempty() || jobs_left()) {
			__atomic_fetch_sub(&ms.nwait, 1, __ATOMIC_SEQ_CST);
			return true;
		}
		if (__atomic_load_n(&ms.nwait, __ATOMIC_SEQ_CST) ==
		    __atomic_load_n(&ms.nproc, __ATOMIC_SEQ_CST))
			return false;
		ks_plat_cpu_relax();
	}
}

/* Marker idx's part of the open round. */
static void work(unsigned idx)
{
	struct marker m;
	m.par = m.atomic = ms.par;
	m.scanned_bytes = 0;
	gcwork_init(&m.w, ms.bufs[2 * idx], ms.bufs[2 * idx + 1]);
	ms.joined[idx] = 1;
	__atomic_fetch_add(&ms.nproc, 1, __ATOMIC_SEQ_CST);
	do {
		uintptr_t j;
		while (claim_job(idx, &j)) {
			if (ms.kind == JOBS_ROOTS)
				do_root_job(&m, j);
			else
				do_rescan_job(&m, j);
			drain(&m);
		}
		drain(&m);
	} while (wait_for_work());
	gcwork_dispose(&m.w);
	__atomic_fetch_add(&ms.scanned_bytes, m.scanned_bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&ms.overflow_by[idx], (uint32_t)m.w.overflows, __ATOMIC_RELAXED);
	if (m.scanned_bytes)
		__atomic_store_n(&ms.worked[idx], 1, __ATOMIC_RELAXED);
}

/* ---- rounds, helpers --------------------------------------------------------- */

static void run_round(void)
{
	unsigned got = gcwork_take(ms.bufs, 2 * ms.markers);
	KS_CHECK(got == 2 * ms.markers, "kgc_collect: %u mark buffers for %u markers",
	         got, ms.markers);
	ms.nstatic = ms.njobs < ms.markers ? ms.njobs : ms.markers;
	for (unsigned k = 0; k < KSPAN_MAX_CPUS; k++)
		ms.taken[k] = ms.joined[k] = 0;
	ms.next = ms.nstatic;
	ms.nproc = ms.nwait = 0;
	ms.overflowed = false;
	unsigned r = ms.round_open + 1;
	__atomic_store_n(&ms.round_open, r, __ATOMIC_SEQ_CST);
	work(0);
	__atomic_store_n(&ms.round_closed, r, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&ms.nactive, __ATOMIC_SEQ_CST))
		ks_plat_cpu_relax();
	/* Markers with no job of their own that came too late. */
	for (unsigned k = 0; k < ms.markers; k++)
		if (!ms.joined[k]) {
			gcwork_give(ms.bufs[2 * k]);
			gcwork_give(ms.bufs[2 * k + 1]);
		}
}

void gc_mark_helpers_open(void)
{
	ms.arrived = ms.round_open = ms.round_closed = ms.nactive = 0;
	ms.markers = 1;
	__atomic_store_n(&ms.end, false, __ATOMIC_SEQ_CST);
}

void gc_mark_helper(void *arg)
{
	(void)arg;
	unsigned idx = __atomic_add_fetch(&ms.arrived, 1, __ATOMIC_SEQ_CST);
	unsigned seen = 0;
	for (;;) {
		unsigned r;
		while ((r = __atomic_load_n(&ms.round_open, __ATOMIC_SEQ_CST)) == seen) {
			if (__atomic_load_n(&ms.end, __ATOMIC_SEQ_CST))
				return;
			ks_plat_cpu_relax();
		}
		seen = r;
		if (idx >= __atomic_load_n(&ms.markers, __ATOMIC_SEQ_CST))
			continue;   /* not marking this cycle: stay stopped */
		__atomic_fetch_add(&ms.nactive, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&ms.round_closed, __ATOMIC_SEQ_CST) != r)
			work(idx);
		__atomic_fetch_sub(&ms.nactive, 1, __ATOMIC_SEQ_CST);
	}
}

void gc_mark_wait_helpers(unsigned n)
{
	while (__atomic_load_n(&ms.arrived, __ATOMIC_SEQ_CST) < n)
		ks_plat_cpu_relax();
}

void gc_mark_helpers_close(void)
{
	__atomic_store_n(&ms.end, true, __ATOMIC_SEQ_CST);
}

void gc_mark_init(void)
{
	gcwork_init_pool(POOL_MAX);
	gcwork_prepare(POOL_MIN, 0);
}

void gc_mark(const struct gc_root *roots, unsigned n, unsigned markers,
             struct gc_markstats *st)
{
	KS_ASSERT(n <= GC_MAX_ROOTS && markers >= 1 && markers <= KSPAN_MAX_CPUS);
	unsigned pool = gcwork_prepare(2 * markers + 8, gc_markqueue_limit);
	if (pool < 2 * markers)
		markers = pool / 2;
	KS_CHECK(markers, "kgc_collect: no memory for the mark's buffers");
	ms.markers = markers;
	ms.par = markers > 1;
	ms.used = __atomic_load_n(&ks_arena.used_bytes, __ATOMIC_ACQUIRE);
	ms.scanned_bytes = 0;
	for (unsigned i = 0; i < KSPAN_MAX_CPUS; i++)
		ms.overflow_by[i] = ms.worked[i] = 0;
	*st = (struct gc_markstats){ 0 };

	ms.kind = JOBS_ROOTS;
	ms.roots = roots;
	ms.nroots = n;
	uintptr_t jobs = 0;
	for (unsigned r = 0; r < n; r++) {
		jobs += (roots[r].len + JOB_BYTES - 1) / JOB_BYTES;
		ms.rootjobs_end[r] = jobs;
	}
	ms.njobs = jobs;
	run_round();
	while (ms.overflowed) {
		st->overflows++;
		if (!gc_markqueue_limit)
			gcwork_prepare(pool * 2 < POOL_MAX ? pool * 2 : POOL_MAX, 0);
		ms.kind = JOBS_RESCAN;
		ms.njobs = ((ms.used >> KS_PAGE_SHIFT) + RESCAN_PAGES - 1) / RESCAN_PAGES;
		run_round();
	}
	st->scanned_bytes = ms.scanned_bytes;
	st->markers = markers;
	for (unsigned i = 0; i < markers; i++) {
		st->overflowed_markers += ms.overflow_by[i] != 0;
		st->working_markers += ms.worked[i];
	}
}

uint64_t gc_mark_overflows_of(unsigned marker)
{
	return marker < KSPAN_MAX_CPUS ? ms.overflow_by[marker] : 0;
}
#endif /* KSPAN_GC */
