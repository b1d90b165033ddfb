/*
 * One run of one collector benchmark workload (bench/gc/README.md).
 *
 *   gcb-kspan | gcb-boehm [-s SCALE] [-S SEED] [-k FORCED] [-c] [-m N] [-V] WORKLOAD
 *     -s  scale of every workload's size (1: the full benchmark)
 *     -S  seed of every random choice (the garbage workload's sizes and
 *         picks, kspan's object order)
 *     -k  forced collections in the live-heap workloads
 *     -c  kspan only: type NULL for every object (conservative scan)
 *     -m  kspan only: N threads mark (the collecting one and N - 1 helpers,
 *         arch/host/gcpool.c); Boehm's markers come from GC_MARKERS
 *     -V  check every short-lived structure (the smoke run), not 1 in 16
 *   gcb-kspan | gcb-boehm --info
 *
 * Prints one line, "gcbench-result {JSON}", with the workload's checksum and
 * figures (see README.md for what each one is), or "gcbench-info {JSON}".
 * Exits 1 with "gcbench: FAIL ..." on stderr when a check fails.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcb.h"

struct gcb_opts gcb_opts = { 1.0, 1, 5, false, 1, false };
struct gcb_rootset gcb_roots;
unsigned gcb_sp;

#define MAX_CYCLES (1u << 20)
/* Not in the data segment: Boehm scans that, and TSC values could look
 * like heap addresses to it. */
static struct gcb_cycle *rec;
static uint64_t nrec;
static bool in_cycle;
static uint64_t instr_ns;
static uint64_t t_end_ns, tsc_end;
static bool timed_ended, final_checked;
static uint64_t timed_nrec;   /* collections in the timed part */
static uint64_t timed_instr;  /* instr_ns at its end */

void gcb_fail(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("gcbench: FAIL ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t gcb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- records --------------------------------------------------------- */

void gcb_rec_begin(void)
{
	if (in_cycle)
		gcb_fail("collection begins inside another");
	if (nrec >= MAX_CYCLES)
		gcb_fail("more than %u collections", MAX_CYCLES);
	in_cycle = true;
	rec[nrec].t0_ns = gcb_now_ns();
}

void gcb_rec_mark_begin(void)
{
	if (!in_cycle)
		gcb_fail("mark outside a collection");
	if (rec[nrec].have_mark)
		gcb_fail("two mark phases in one collection");
	rec[nrec].mark_tsc0 = gcb_tsc();
}

void gcb_rec_mark_end(uint64_t scanned_bytes)
{
	struct gcb_cycle *c = &rec[nrec];
	c->mark_tsc1 = gcb_tsc();
	c->scanned_bytes = scanned_bytes;
	c->have_mark = true;
}

void gcb_rec_mark_told(uint64_t i, uint64_t ns, uint64_t scanned_bytes)
{
	if (i >= nrec)
		gcb_fail("mark of collection %llu of %llu", (unsigned long long)i,
		         (unsigned long long)nrec);
	if (rec[i].have_mark)
		gcb_fail("two mark phases in one collection");
	rec[i].mark_ns = ns;
	rec[i].scanned_bytes = scanned_bytes;
	rec[i].have_mark = true;
}

void gcb_rec_end(void)
{
	if (!in_cycle)
		gcb_fail("collection ends without beginning");
	rec[nrec].t1_ns = gcb_now_ns();
	in_cycle = false;
	nrec++;
}

void gcb_rec_marked(uint64_t i, uint64_t bytes, uint64_t objs)
{
	if (i >= nrec)
		gcb_fail("figures for collection %llu of %llu", (unsigned long long)i,
		         (unsigned long long)nrec);
	rec[i].marked_bytes = bytes;
	rec[i].marked_objs = objs;
	rec[i].have_marked = true;
}

uint64_t gcb_rec_count(void)
{
	return nrec;
}

void gcb_rec_instr(uint64_t ns)
{
	instr_ns += ns;
}

void gcb_timed_end(void)
{
	t_end_ns = gcb_now_ns();
	tsc_end = gcb_tsc();
	timed_nrec = nrec;
	timed_instr = instr_ns;
	timed_ended = true;
}

static bool precise(void)
{
	return !strcmp(gcb_backend_name(), "kspan") || !strcmp(gcb_backend_name(), "kspan-par");
}

void gcb_final_check(uint64_t live_objects)
{
	if (!timed_ended)
		gcb_fail("final check inside the timed part");
	gcb_collect();
	gcb_backend_flush();
	if (nrec != timed_nrec + 1 || !rec[nrec - 1].have_marked)
		gcb_fail("the final collection was not recorded");
	uint64_t found = rec[nrec - 1].marked_objs;
	if (found < live_objects)
		gcb_fail("the final collection found %llu objects live, the workload holds %llu",
		         (unsigned long long)found, (unsigned long long)live_objects);
	if (precise() && found != live_objects)
		gcb_fail("precise kspan kept %llu objects live, the workload holds %llu",
		         (unsigned long long)found, (unsigned long long)live_objects);
	final_checked = true;
}

/* ---- report ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void json_str(const char *key, const char *v)
{
	printf("\"%s\": \"", key);
	for (; *v; v++)
		if (*v == '"' || *v == '\\')
			printf("\\%c", *v);
		else if ((unsigned char)*v >= 0x20)
			putchar(*v);
	printf("\", ");
}

static void print_info(const struct gcb_backend_info *bi)
{
	printf("gcbench-info {");
	json_str("backend", bi->name);
	json_str("version", bi->version);
	json_str("config", bi->config);
	printf("\"markers\": %u, \"parallel_mark\": %s}\n", bi->markers,
	       bi->parallel_mark ? "true" : "false");
}

static void usage(void)
{
	fprintf(stderr, "usage: gcb-BACKEND [-s SCALE] [-S SEED] [-k FORCED] [-c] [-m N] [-V] WORKLOAD\n"
	                "       gcb-BACKEND --info\nworkloads:");
	for (const struct gcb_workload *w = gcb_workloads; w->name; w++)
		fprintf(stderr, " %s", w->name);
	fputc('\n', stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *wname = 0;
	bool info = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-s") && i + 1 < argc)
			gcb_opts.scale = strtod(argv[++i], 0);
		else if (!strcmp(a, "-S") && i + 1 < argc)
			gcb_opts.seed = strtoull(argv[++i], 0, 0);
		else if (!strcmp(a, "-k") && i + 1 < argc)
			gcb_opts.forced = (unsigned)strtoul(argv[++i], 0, 0);
		else if (!strcmp(a, "-c"))
			gcb_opts.conservative = true;
		else if (!strcmp(a, "-m") && i + 1 < argc)
			gcb_opts.markers = (unsigned)strtoul(argv[++i], 0, 0);
		else if (!strcmp(a, "-V"))
			gcb_opts.verify_all = true;
		else if (!strcmp(a, "--info"))
			info = true;
		else if (a[0] != '-' && !wname)
			wname = a;
		else
			usage();
	}
	if (!(gcb_opts.scale > 0) || gcb_opts.scale > 1000 || gcb_opts.markers < 1 ||
	    gcb_opts.markers > 64)
		usage();

	rec = calloc(MAX_CYCLES, sizeof(*rec));   /* mmap'd: untouched pages cost nothing */
	if (!rec)
		gcb_fail("no memory for the records");
	gcb_backend_init();
	if (info) {
		struct gcb_backend_info bi;
		gcb_backend_finish(&bi);
		print_info(&bi);
		return 0;
	}
	const struct gcb_workload *w = gcb_workloads;
	while (w->name && (!wname || strcmp(w->name, wname)))
		w++;
	if (!w->name)
		usage();

	struct gcb_result r = { 0, 0, 0, 0, 0 };
	uint64_t t0 = gcb_now_ns(), tsc0 = gcb_tsc();
	w->run(&r);
	if (!timed_ended || !final_checked)
		gcb_fail("%s skipped gcb_timed_end or gcb_final_check", w->name);
	if (gcb_sp != 0)
		gcb_fail("%s left %u entries on the shadow stack", w->name, gcb_sp);
	struct gcb_backend_info bi;
	gcb_backend_finish(&bi);

	/* Checks: every collection was seen whole by the hooks. */
	if (bi.cycles != nrec)
		gcb_fail("the backend counted %llu collections, the hooks saw %llu",
		         (unsigned long long)bi.cycles, (unsigned long long)nrec);
	if (w->forced_only && timed_nrec != gcb_opts.forced)
		gcb_fail("%s: %llu collections, expected the %u forced ones", w->name,
		         (unsigned long long)timed_nrec, gcb_opts.forced);
	uint64_t gc_ns = 0, mark_tsc = 0, marked = 0, objs = 0, scanned = 0;
	double tsc_hz = (double)(tsc_end - tsc0) * 1e9 / (double)(t_end_ns - t0);
	/* The figures: the collections of the timed part only. */
	uint64_t n = timed_nrec;
	uint64_t *pauses = malloc((n ? n : 1) * sizeof(uint64_t));
	if (!pauses)
		gcb_fail("no memory");
	for (uint64_t i = 0; i < n; i++) {
		const struct gcb_cycle *c = &rec[i];
		if (!c->have_mark || !c->have_marked)
			gcb_fail("collection %llu: mark phase or figures missing", (unsigned long long)i);
		/* A forced collection with everything live must find all of it. */
		if (w->forced_only && c->marked_objs < r.live_objects)
			gcb_fail("forced collection %llu found %llu objects live, the workload "
			         "holds %llu", (unsigned long long)i, (unsigned long long)c->marked_objs,
			         (unsigned long long)r.live_objects);
		pauses[i] = c->t1_ns - c->t0_ns;
		gc_ns += pauses[i];
		mark_tsc += c->mark_ns ? (uint64_t)((double)c->mark_ns * tsc_hz / 1e9)
		                       : c->mark_tsc1 - c->mark_tsc0;
		marked += c->marked_bytes;
		objs += c->marked_objs;
		scanned += c->scanned_bytes;
	}
	qsort(pauses, n, sizeof(uint64_t), cmp_u64);
	uint64_t pmed = 0, pmax = 0;
	if (n) {
		pmed = n % 2 ? pauses[n / 2] : (pauses[n / 2 - 1] + pauses[n / 2]) / 2;
		pmax = pauses[n - 1];
	}
	uint64_t total = t_end_ns - t0;
	total = total > timed_instr ? total - timed_instr : 0;

	printf("gcbench-result {\"workload\": \"%s\", ", w->name);
	json_str("backend", bi.name);
	json_str("version", bi.version);
	json_str("config", bi.config);
	printf("\"markers\": %u, \"parallel_mark\": %s, ", bi.markers,
	       bi.parallel_mark ? "true" : "false");
	printf("\"scale\": %g, \"seed\": %llu, \"forced\": %u, ", gcb_opts.scale,
	       (unsigned long long)gcb_opts.seed, gcb_opts.forced);
	printf("\"checksum\": \"%016llx\", ", (unsigned long long)r.checksum);
	printf("\"total_ns\": %llu, \"gc_ns\": %llu, \"collections\": %llu, ",
	       (unsigned long long)total, (unsigned long long)gc_ns, (unsigned long long)n);
	printf("\"pause_median_ns\": %llu, \"pause_max_ns\": %llu, ", (unsigned long long)pmed,
	       (unsigned long long)pmax);
	printf("\"mark_tsc\": %llu, \"marked_bytes\": %llu, \"marked_objects\": %llu, ",
	       (unsigned long long)mark_tsc, (unsigned long long)marked, (unsigned long long)objs);
	if (!strncmp(bi.name, "kspan", 5))
		printf("\"scanned_bytes\": %llu, ", (unsigned long long)scanned);
	else
		printf("\"scanned_bytes\": null, ");
	printf("\"tsc_hz\": %.0f, \"instr_ns\": %llu, ", tsc_hz, (unsigned long long)timed_instr);
	printf("\"live_bytes\": %llu, \"live_objects\": %llu, \"allocated_bytes\": %llu, "
	       "\"objects\": %llu, \"final_marked_objects\": %llu, ",
	       (unsigned long long)r.live_bytes, (unsigned long long)r.live_objects,
	       (unsigned long long)r.allocated_bytes, (unsigned long long)r.objects,
	       (unsigned long long)rec[nrec - 1].marked_objs);
	printf("\"heap_bytes\": %llu, \"pauses_ns\": [", (unsigned long long)bi.heap_bytes);
	/* In collection order, for the forced-only workloads (few). */
	if (w->forced_only)
		for (uint64_t i = 0; i < n; i++)
			printf("%s%llu", i ? ", " : "", (unsigned long long)(rec[i].t1_ns - rec[i].t0_ns));
	printf("]}\n");
	return 0;
}
