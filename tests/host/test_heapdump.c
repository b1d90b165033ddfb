/*
 * kspan_dump_heap() on the host: allocate a known mix (small objects of a
 * few classes with freed holes, large objects, kpages blocks, a freed large
 * object between live ones, scavenged and committed free pages), capture
 * the dump (it goes through ks_plat_write, i.e. fd 2 on the host, so fd 2
 * is pointed at a temporary file around the call) and check that it is
 * well formed and says exactly what was allocated: span kinds, classes,
 * objects per span, pages, in-use counts, decommitted pages, and pages that
 * add up to `used` and agree with kspan_heap_stats.
 *
 * KSPAN_HEAPDUMP_OUT=FILE: also write the mix's dump to FILE (mk/debug.mk's
 * test-heapmap renders it with scripts/heapmap.py).
 * KSPAN_HEAPDUMP_EXAMPLE=FILE: also write the dump of a bigger, fragmented
 * heap (a seeded random workload) to FILE, for docs/heapmap.png.
 *
 * heapdump_gdb_probe() is where mk/debug.mk's test-gdb-helper stops the
 * program under gdb to try scripts/kspan-gdb.py on the live mix: the
 * objects are in heapdump_probe[] and their ksize() in heapdump_probe_ksize[],
 * an object of the cache "probe_cache" (100 live 200-byte objects, its
 * spans "cache" in the dump) in heapdump_probe_cobj.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <cmocka.h>

#include <kspan/kmalloc.h>
#include <kspan/slab.h>
#include "mm/arena.h"
#include "mm/sizeclass.h"
#include "tests/host/heap_fixture.h"
#include "tests/host/support.h"

/* ---- capturing and parsing the dump ---------------------------------- */

/* Run kspan_dump_heap with fd 2 redirected to a temporary file; returns
 * the text (malloc'd, NUL-terminated). */
static char *capture_dump(void)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	kspan_dump_heap();
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	/* fd 2 shared the file's offset: it is now at the end. */
	off_t len = lseek(fileno(tmp), 0, SEEK_END);
	assert_true(len > 0);
	char *text = malloc((size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(pread(fileno(tmp), text, (size_t)len, 0), len);
	text[len] = '\0';
	fclose(tmp);
	return text;
}

static void save_dump(const char *env, const char *text)
{
	const char *path = getenv(env);
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

enum span_kind { SK_FREE, SK_SMALL, SK_LARGE, SK_PAGES, SK_CACHE };

struct dspan {
	uint64_t first, npages;
	enum span_kind kind;
	unsigned sizeclass, noscan, objects, inuse;
	uint64_t decommitted;
};

struct dump {
	uint64_t arena_start, page_size, pages, used;
	struct dspan *spans;
	size_t n;
};

/* Parse and check the format: the header, span lines with every field,
 * spans that tile [0, used) in order, free spans never adjacent, "end". */
static void parse_dump(const char *text, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	const char *line = text;
	int got = sscanf(line, "kspan-heapdump v1 arena_start=%" SCNx64
	                 " page_size=%" SCNu64 " pages=%" SCNu64 " used=%" SCNu64,
	                 &d->arena_start, &d->page_size, &d->pages, &d->used);
	if (got != 4)
		fail_msg("bad header: %.120s", line);
	assert_int_equal(d->page_size, KSPAN_PAGE_SIZE);
	assert_true(d->used <= d->pages);
	size_t cap = 64;
	d->spans = malloc(cap * sizeof(*d->spans));
	assert_non_null(d->spans);
	uint64_t next = 0;
	bool ended = false, prev_free = false;
	while ((line = strchr(line, '\n')) != NULL && *++line) {
		assert_false(ended);         /* nothing after "end" */
		if (strncmp(line, "end\n", 4) == 0) {
			ended = true;
			continue;
		}
		struct dspan s;
		char kind[16];
		int len = 0;
		got = sscanf(line, "span %" SCNu64 " %" SCNu64 " %15s %u %u %u %u %"
		             SCNu64 "%n", &s.first, &s.npages, kind, &s.sizeclass,
		             &s.noscan, &s.objects, &s.inuse, &s.decommitted, &len);
		if (got != 8 || line[len] != '\n')
			fail_msg("bad span line: %.120s", line);
		if (!strcmp(kind, "free"))
			s.kind = SK_FREE;
		else if (!strcmp(kind, "small"))
			s.kind = SK_SMALL;
		else if (!strcmp(kind, "large"))
			s.kind = SK_LARGE;
		else if (!strcmp(kind, "pages"))
			s.kind = SK_PAGES;
		else if (!strcmp(kind, "cache"))
			s.kind = SK_CACHE;
		else
			fail_msg("unknown span kind '%s'", kind);
		if (s.first != next)
			fail_msg("span at page %lu: expected page %lu (spans must "
			         "tile the arena)", (unsigned long)s.first,
			         (unsigned long)next);
		assert_true(s.npages > 0);
		next = s.first + s.npages;
		assert_true(next <= d->used);
		if (s.kind == SK_FREE) {
			if (prev_free)
				fail_msg("free span at page %lu follows a free span",
				         (unsigned long)s.first);
			assert_int_equal(s.sizeclass, 0);
			assert_int_equal(s.objects, 0);
			assert_int_equal(s.inuse, 0);
			assert_true(s.decommitted <= s.npages);
		} else {
			assert_int_equal(s.decommitted, 0);
		}
		if (s.kind == SK_SMALL) {
			assert_true(s.sizeclass >= 1 && s.sizeclass < KS_NUM_SIZE_CLASSES);
			assert_int_equal(s.npages, ks_class_to_npages[s.sizeclass]);
			assert_int_equal(s.objects, ks_class_to_nelems[s.sizeclass]);
			assert_true(s.inuse <= s.objects);
		} else if (s.kind == SK_CACHE) {
			assert_int_equal(s.sizeclass, 0);
			assert_true(s.objects > 0 && s.inuse <= s.objects);
		} else if (s.kind != SK_FREE) {
			assert_int_equal(s.sizeclass, 0);
			assert_int_equal(s.objects, 0);
		}
		prev_free = s.kind == SK_FREE;
		if (d->n == cap) {
			cap *= 2;
			d->spans = realloc(d->spans, cap * sizeof(*d->spans));
			assert_non_null(d->spans);
		}
		d->spans[d->n++] = s;
	}
	assert_true(ended);
	assert_int_equal(next, d->used);
}

/* The span holding address p. */
static const struct dspan *span_at(const struct dump *d, const void *p)
{
	uint64_t page = ((uintptr_t)p - d->arena_start) / d->page_size;
	for (size_t i = 0; i < d->n; i++)
		if (page >= d->spans[i].first &&
		    page < d->spans[i].first + d->spans[i].npages)
			return &d->spans[i];
	fail_msg("no span holds %p (page %lu)", p, (unsigned long)page);
	return NULL;
}

/* Totals checked against kspan_heap_stats. */
static void check_totals(const struct dump *d)
{
	struct kspan_heap_stats hs;
	kspan_heap_stats(&hs);
	uint64_t free_pages = 0, decommitted = 0, inuse_pages = 0, large = 0;
	for (size_t i = 0; i < d->n; i++) {
		const struct dspan *s = &d->spans[i];
		if (s->kind == SK_FREE) {
			free_pages += s->npages;
			decommitted += s->decommitted;
		} else {
			inuse_pages += s->npages;
			large += s->kind == SK_LARGE || s->kind == SK_PAGES;
		}
	}
	assert_int_equal(d->pages, hs.pages_total);
	assert_int_equal(free_pages + (d->pages - d->used), hs.pages_free);
	assert_int_equal(inuse_pages + free_pages - decommitted, hs.pages_committed);
	assert_int_equal(large, hs.large_inuse);
}

/* ---- the known mix --------------------------------------------------- */

struct group {
	size_t size;
	unsigned count;
	unsigned free_every;   /* free objects i % free_every == 0 (0: none) */
};

static const struct group groups[] = {
	{ 100, 150, 3 },       /* class 8 (112 B): 73 per 1-page span */
	{ 1000, 40, 2 },       /* class 31 (1024 B): 8 per span */
	{ 5000, 10, 0 },       /* class 45 (5376 B): 3 per 2-page span */
	{ 32768, 4, 4 },       /* class 66: one per 4-page span */
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))
#define MAXOBJ 150

static void *objs[NGROUPS][MAXOBJ];

/* For the gdb helper test: a small object (100 B), a large one (100000 B),
 * a kpages block (3 pages), a 1000-byte object; and their ksize(). */
void *volatile heapdump_probe[4];
void *volatile heapdump_probe_cobj;   /* an object of cache "probe_cache" */
volatile size_t heapdump_probe_ksize[4];
void heapdump_gdb_probe(void);
__attribute__((noinline)) void heapdump_gdb_probe(void)
{
	__asm__ volatile("" ::: "memory");
}

static void test_dump_matches_mix(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	struct kspan_heap_stats hs0;
	kspan_heap_stats(&hs0);
	assert_int_equal(before, hs0.pages_total);   /* nothing else in use */

	for (unsigned g = 0; g < NGROUPS; g++)
		for (unsigned i = 0; i < groups[g].count; i++) {
			objs[g][i] = kmalloc(groups[g].size);
			assert_non_null(objs[g][i]);
			memset(objs[g][i], 0x5a, groups[g].size);
		}
	/* Large objects A, B, C one after another; kpages blocks. */
	void *a = kmalloc(100000), *b = kmalloc(1 << 20), *c = kmalloc(40000);
	void *p3 = kpages_alloc(3), *p200 = kpages_alloc(200);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(p3);
	assert_non_null(p200);
	/* An object cache with 100 live 200-byte objects. */
	struct kmem_cache *pc = kmem_cache_create("probe_cache", 200, 0, 0, NULL);
	static void *cobj[100];
	for (unsigned i = 0; i < 100; i++)
		assert_non_null(cobj[i] = kmem_cache_alloc(pc));
	heapdump_probe_cobj = cobj[7];
	void *probe[4] = { objs[0][1], a, p3, objs[1][1] };
	for (unsigned i = 0; i < 4; i++) {
		heapdump_probe[i] = probe[i];
		heapdump_probe_ksize[i] = ksize(probe[i]);
	}
	heapdump_gdb_probe();
	/* Holes in the small spans. */
	for (unsigned g = 0; g < NGROUPS; g++)
		for (unsigned i = 0; groups[g].free_every && i < groups[g].count; i++)
			if (i % groups[g].free_every == 0) {
				kfree(objs[g][i]);
				objs[g][i] = NULL;
			}
	/* Decommit every free page, then free B: a committed free span
	 * between A and C, decommitted free pages elsewhere. */
	kspan_drain_cpu();
	kspan_scavenge();
	kfree(b);
	kspan_drain_cpu();   /* exact in-use counts: no queued frees */

	char *text = capture_dump();
	save_dump("KSPAN_HEAPDUMP_OUT", text);
	struct dump d;
	parse_dump(text, &d);
	assert_int_equal(d.arena_start, ks_arena.arena_start);
	assert_int_equal(d.pages, (ks_arena.arena_end - ks_arena.arena_start) / KSPAN_PAGE_SIZE);
	assert_int_equal(d.used, (ks_arena.arena_used - ks_arena.arena_start) / KSPAN_PAGE_SIZE);
	check_totals(&d);

	/* Every live small object: in a small span of its class, and the
	 * span's in-use count is the number of live objects in it. */
	unsigned counted_spans = 0;
	for (size_t k = 0; k < d.n; k++) {
		const struct dspan *s = &d.spans[k];
		if (s->kind != SK_SMALL)
			continue;
		unsigned mine = 0;
		for (unsigned g = 0; g < NGROUPS; g++)
			for (unsigned i = 0; i < groups[g].count; i++) {
				if (!objs[g][i] || span_at(&d, objs[g][i]) != s)
					continue;
				assert_int_equal(s->sizeclass, ks_size_to_class(groups[g].size));
				assert_int_equal(s->noscan, 1);   /* kmalloc: noscan */
				mine++;
			}
		if (s->inuse != mine)
			fail_msg("small span at page %lu (class %u): dump says %u in "
			         "use, %u live objects are in it",
			         (unsigned long)s->first, s->sizeclass, s->inuse, mine);
		assert_true(mine > 0);   /* empty spans went back to the heap */
		counted_spans++;
	}
	/* The number of spans per class: what the live objects need at least
	 * (the holes may keep more spans alive, never fewer). */
	for (unsigned g = 0; g < NGROUPS; g++) {
		unsigned cls = ks_size_to_class(groups[g].size), live = 0, spans = 0;
		for (unsigned i = 0; i < groups[g].count; i++)
			live += objs[g][i] != NULL;
		for (size_t k = 0; k < d.n; k++)
			spans += d.spans[k].kind == SK_SMALL && d.spans[k].sizeclass == cls;
		unsigned per = ks_class_to_nelems[cls];
		assert_true(spans >= (live + per - 1) / per);
		assert_true(spans <= (groups[g].count + per - 1) / per);
	}
	assert_true(counted_spans > 0);

	/* Large objects and kpages blocks: a span of their own, from their
	 * first page, of exactly their pages. */
	struct { void *p; uint64_t pages; enum span_kind kind; } big[] = {
		{ a, (100000 + 8191) / 8192, SK_LARGE },
		{ c, 5, SK_LARGE },
		{ p3, 3, SK_PAGES },
		{ p200, 200, SK_PAGES },
	};
	for (unsigned i = 0; i < 4; i++) {
		const struct dspan *s = span_at(&d, big[i].p);
		assert_int_equal(s->kind, big[i].kind);
		assert_int_equal(s->first, ((uintptr_t)big[i].p - d.arena_start) / 8192);
		assert_int_equal(s->npages, big[i].pages);
	}
	unsigned nbig = 0;
	for (size_t k = 0; k < d.n; k++)
		nbig += d.spans[k].kind == SK_LARGE || d.spans[k].kind == SK_PAGES;
	assert_int_equal(nbig, 4);
	/* The cache's spans: marked as such, its 100 objects in them. */
	unsigned cinuse = 0, cspans = 0;
	for (size_t k = 0; k < d.n; k++)
		if (d.spans[k].kind == SK_CACHE) {
			cinuse += d.spans[k].inuse;
			cspans++;
		}
	assert_int_equal(cinuse, 100);
	assert_int_equal(span_at(&d, cobj[0])->kind, SK_CACHE);
	assert_true(cspans >= 1);

	/* B's pages: free, committed (freed after the scavenge), at least
	 * B's 128 pages (it may have merged with free neighbours). */
	const struct dspan *fb = span_at(&d, b);
	assert_int_equal(fb->kind, SK_FREE);
	assert_true(fb->npages >= 128);
	assert_true(fb->npages - fb->decommitted >= 128);
	/* And some free pages are decommitted (the scavenge). */
	uint64_t decommitted = 0;
	for (size_t k = 0; k < d.n; k++)
		decommitted += d.spans[k].decommitted;
	assert_true(decommitted > 0);

	free(d.spans);
	free(text);
	for (unsigned g = 0; g < NGROUPS; g++)
		for (unsigned i = 0; i < groups[g].count; i++)
			kfree(objs[g][i]);
	kfree(a);
	kfree(c);
	kpages_free(p3, 3);
	kpages_free(p200, 200);
	kmem_cache_free_bulk(pc, 100, cobj);
	kmem_cache_destroy(pc);
	assert_int_equal(heap_free_pages(), before);
}

/* An empty heap dumps as free spans only (one, as they coalesce). */
static void test_dump_empty_heap(void **state)
{
	(void)state;
	heap_free_pages();
	char *text = capture_dump();
	struct dump d;
	parse_dump(text, &d);
	check_totals(&d);
	for (size_t k = 0; k < d.n; k++)
		assert_int_equal(d.spans[k].kind, SK_FREE);
	assert_true(d.n <= 1);
	free(d.spans);
	free(text);
}

/* A fragmented heap of a few tens of MiB: a seeded random workload over
 * every class and large sizes, half of it freed, partly scavenged.  Its
 * dump must be well formed; it is the example for docs/heapmap.png. */
static void test_dump_fragmented(void **state)
{
	(void)state;
	uint64_t before = heap_free_pages();
	enum { N = 6000 };
	static void *p[N];
	static size_t sz[N];
	uint64_t rng = ks_test_rng(0x6b7370616e);   /* "kspan" */
	for (unsigned i = 0; i < N; i++) {
		uint64_t r = ks_test_rand(&rng);
		unsigned kind = r % 100;
		if (kind < 80)                     /* small, skewed to small sizes */
			sz[i] = 1 + (r >> 8) % (((r >> 40) & 3) == 0 ? 32768 : 1024);
		else if (kind < 99)                /* medium */
			sz[i] = 1024 + (r >> 8) % 16384;
		else                               /* large */
			sz[i] = 32769 + (r >> 8) % (512 << 10);
		p[i] = kmalloc(sz[i]);
		assert_non_null(p[i]);
		/* Free some as we go: holes everywhere. */
		if (i > 10 && (r >> 32) % 3 == 0) {
			unsigned j = (unsigned)((r >> 16) % i);
			kfree(p[j]);
			p[j] = NULL;
		}
	}
	void *pg[8];
	for (unsigned i = 0; i < 8; i++)
		pg[i] = kpages_alloc(1 + i * 7);
	/* Free the objects of one stretch of the arena: free spans, then
	 * decommit part of the free memory. */
	for (unsigned i = N / 3; i < N / 2; i++) {
		kfree(p[i]);
		p[i] = NULL;
	}
	kspan_drain_cpu();
	kspan_scavenge();
	for (unsigned i = N / 2; i < N / 2 + N / 10; i++) {
		kfree(p[i]);
		p[i] = NULL;
	}
	kspan_drain_cpu();

	char *text = capture_dump();
	save_dump("KSPAN_HEAPDUMP_EXAMPLE", text);
	struct dump d;
	parse_dump(text, &d);
	check_totals(&d);
	unsigned kinds[4] = { 0 };
	for (size_t k = 0; k < d.n; k++)
		kinds[d.spans[k].kind]++;
	for (unsigned k = 0; k < 4; k++)
		assert_true(kinds[k] > 0);
	free(d.spans);
	free(text);

	for (unsigned i = 0; i < N; i++)
		kfree(p[i]);
	for (unsigned i = 0; i < 8; i++)
		kpages_free(pg[i], 1 + i * 7);
	assert_int_equal(heap_free_pages(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_empty_heap),
		cmocka_unit_test(test_dump_matches_mix),
		cmocka_unit_test(test_dump_fragmented),
	};
	return KS_TEST_MAIN("heapdump", tests, heap_fixture_setup, NULL);
}
