/*
 * Memory-map normalization: turn whatever a firmware reported into the map
 * include/kspan/memmap.h promises (known types, whole 4 KiB frames, sorted,
 * no overlaps -- the most restrictive type wins -- and no adjacent ranges of
 * one type).
 *
 * It works in place in the caller's array, allocates nothing and needs no
 * libc, so boot code can run it before any allocator exists.  The steps:
 *
 *   1. check every entry (type known, base + len fits in 64 bits) before
 *      touching anything, so a rejected map comes back unchanged;
 *   2. align: usable-like ranges (usable, reclaimable, ACPI reclaim) shrink
 *      to the whole frames inside them, every other type grows to the frames
 *      it touches; drop what becomes empty;
 *   3. drop every range that a union of more restrictive ranges covers
 *      entirely: it would not survive anyway, and dropping it first is what
 *      makes step 5 fit in cap entries exactly when the result does;
 *   4. sort by type (most restrictive first) and merge overlapping or
 *      adjacent ranges of the same type;
 *   5. paint: take the ranges most restrictive first and add each one's
 *      parts that are not covered yet to a sorted output at the front of
 *      the array, while the ranges still to come wait at its back.
 *
 * Why step 5 never runs out of room when the result fits: after steps 3-4
 * every waiting range adds at least one output range of its own, and a
 * range once painted never changes, so (output so far) + (waiting) never
 * exceeds the final count: it fails with KS_MEMMAP_ENOSPC exactly when the
 * result would need more than cap entries (the array's contents are then
 * unspecified; ETYPE and ERANGE leave it untouched).  The work is O(n^2) in
 * the number of entries, which is small (firmware maps have tens to a few
 * hundred).
 *
 * Two edge rules: an entry whose base + len does not fit in 64 bits (it
 * wraps, or ends exactly at 2^64) is KS_MEMMAP_ERANGE, and so is a
 * reserved-like entry whose end would have to round up to 2^64.  Output
 * entries have flags 0.
 *
 * No state and no locks: the caller owns the array.
 */
#include <kspan/memmap.h>

#include <stdbool.h>

#define FRAME_MASK (KS_FRAME_SIZE - 1)

static const char *const memtype_names[KS_MEM_TYPE_MAX] = {
	[0] = "invalid",
	[KS_MEM_USABLE] = "usable",
	[KS_MEM_RECLAIMABLE] = "reclaimable",
	[KS_MEM_ACPI_RECLAIM] = "acpi-reclaim",
	[KS_MEM_KERNEL] = "kernel",
	[KS_MEM_ACPI_NVS] = "acpi-nvs",
	[KS_MEM_FIRMWARE] = "firmware",
	[KS_MEM_PERSISTENT] = "persistent",
	[KS_MEM_RESERVED] = "reserved",
	[KS_MEM_MMIO] = "mmio",
	[KS_MEM_BAD] = "bad",
};

static bool type_valid(uint32_t type)
{
	return type >= KS_MEM_USABLE && type < KS_MEM_TYPE_MAX;
}

const char *ks_memtype_name(uint32_t type)
{
	return type_valid(type) ? memtype_names[type] : "unknown";
}

int ks_memtype_is_free(uint32_t type, int reclaim_boot)
{
	if (type == KS_MEM_USABLE)
		return 1;
	if (type == KS_MEM_RECLAIMABLE)
		return reclaim_boot != 0;
	return 0;
}

uint64_t ks_memmap_total(const struct ks_memrange *map, size_t n,
                         uint32_t type)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		if (map[i].type == type)
			sum += map[i].len;
	return sum;
}

/* Usable-like types shrink to whole frames; the rest grow. */
static bool shrinks_inward(uint32_t type)
{
	return type == KS_MEM_USABLE || type == KS_MEM_RECLAIMABLE ||
	       type == KS_MEM_ACPI_RECLAIM;
}

static uint64_t range_end(const struct ks_memrange *r)
{
	return r->base + r->len;
}

/* ---- Sorting (heap sort: no recursion, no allocation) --------------- */

typedef bool (*memrange_less)(const struct ks_memrange *a,
                              const struct ks_memrange *b);

static bool less_by_base(const struct ks_memrange *a,
                         const struct ks_memrange *b)
{
	if (a->base != b->base)
		return a->base < b->base;
	if (a->type != b->type)
		return a->type < b->type;
	return a->len < b->len;
}

/* Most restrictive type first; by base within a type. */
static bool less_by_type_desc(const struct ks_memrange *a,
                              const struct ks_memrange *b)
{
	if (a->type != b->type)
		return a->type > b->type;
	if (a->base != b->base)
		return a->base < b->base;
	return a->len < b->len;
}

static void swap_ranges(struct ks_memrange *a, struct ks_memrange *b)
{
	struct ks_memrange t = *a;
	*a = *b;
	*b = t;
}

static void sift_down(struct ks_memrange *a, size_t root, size_t n,
                      memrange_less less)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && less(&a[child], &a[child + 1]))
			child++;
		if (!less(&a[root], &a[child]))
			return;
		swap_ranges(&a[root], &a[child]);
		root = child;
	}
}

static void sort_ranges(struct ks_memrange *a, size_t n, memrange_less less)
{
	if (n < 2)
		return;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(a, i, n, less);
	for (size_t end = n - 1; end > 0; end--) {
		swap_ranges(&a[0], &a[end]);
		sift_down(a, 0, end, less);
	}
}

/* ---- Steps ---------------------------------------------------------- */

/* Step 1: is entry e acceptable?  Returns 0 or a KS_MEMMAP_E* code. */
static long check_entry(const struct ks_memrange *e)
{
	if (!type_valid(e->type))
		return KS_MEMMAP_ETYPE;
	if (e->len == 0)
		return 0;
	if (e->len > UINT64_MAX - e->base)
		return KS_MEMMAP_ERANGE;           /* end wraps past 2^64 */
	uint64_t end = e->base + e->len;
	if (!shrinks_inward(e->type) && (end & FRAME_MASK) &&
	    end > UINT64_MAX - FRAME_MASK)
		return KS_MEMMAP_ERANGE;           /* growing would wrap */
	return 0;
}

/* Step 2: align entry e to whole frames.  Returns false if nothing is
 * left of it. */
static bool align_entry(struct ks_memrange *e)
{
	if (e->len == 0)
		return false;
	uint64_t base = e->base, end = e->base + e->len;
	if (shrinks_inward(e->type)) {
		if (base > UINT64_MAX - FRAME_MASK)
			return false;
		base = (base + FRAME_MASK) & ~FRAME_MASK;
		end &= ~FRAME_MASK;
		if (end <= base)
			return false;
	} else {
		base &= ~FRAME_MASK;
		end = (end + FRAME_MASK) & ~FRAME_MASK;
	}
	e->base = base;
	e->len = end - base;
	e->flags = 0;
	return true;
}

/*
 * Step 3 helper.  The ranges a[0..nlo) and a[hi..n) form one list sorted by
 * base; is e covered entirely by the union of its ranges of a type more
 * restrictive than e's?
 */
static bool covered_by_higher(const struct ks_memrange *a, size_t nlo,
                              size_t hi, size_t n,
                              const struct ks_memrange *e)
{
	uint64_t reach = e->base, end = range_end(e);
	for (size_t k = 0; k < nlo + (n - hi); k++) {
		const struct ks_memrange *r = k < nlo ? &a[k] : &a[hi + k - nlo];
		if (r->base > reach)
			return false;   /* a gap no later range can fill */
		if (r->type > e->type && range_end(r) > reach) {
			reach = range_end(r);
			if (reach >= end)
				return true;
		}
	}
	return false;
}

/* Step 3: drop the ranges a more restrictive union covers.  a is sorted by
 * base.  Dropping one is safe for the checks of the others: what covers it
 * is more restrictive still, so every union it was part of stays whole. */
static size_t drop_covered(struct ks_memrange *a, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		struct ks_memrange e = a[i];
		if (!covered_by_higher(a, w, i + 1, n, &e))
			a[w++] = e;
	}
	return w;
}

/* Step 4: a is sorted by type (descending) then base; merge overlapping or
 * touching ranges of one type. */
static size_t merge_same_type(struct ks_memrange *a, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && a[w - 1].type == a[i].type &&
		    a[i].base <= range_end(&a[w - 1])) {
			if (range_end(&a[i]) > range_end(&a[w - 1]))
				a[w - 1].len = range_end(&a[i]) - a[w - 1].base;
			continue;
		}
		a[w++] = a[i];
	}
	return w;
}

/* Insert r at out[at], shifting out[at..*nout) up by one. */
static void insert_at(struct ks_memrange *out, size_t *nout, size_t at,
                      uint64_t base, uint64_t end, uint32_t type)
{
	for (size_t k = *nout; k > at; k--)
		out[k] = out[k - 1];
	out[at].base = base;
	out[at].len = end - base;
	out[at].type = type;
	out[at].flags = 0;
	(*nout)++;
}

/*
 * Step 5: a[0..n) is sorted most restrictive first.  Builds the result in
 * a[0..count) and returns count, or KS_MEMMAP_ENOSPC.
 */
static long paint(struct ks_memrange *a, size_t n, size_t cap)
{
	/* Park the ranges at the back of the array (moving up: copy from the
	 * top so nothing is overwritten before it is read). */
	for (size_t k = n; k-- > 0;)
		a[cap - n + k] = a[k];
	size_t nout = 0, nwait = n;

	while (nwait > 0) {
		struct ks_memrange e = a[cap - nwait];
		nwait--;
		uint64_t x = e.base, end = range_end(&e);

		/* First output range that ends after x. */
		size_t i = 0;
		while (i < nout && range_end(&a[i]) <= x)
			i++;
		while (x < end) {
			if (i < nout && a[i].base <= x) {
				/* Already covered by something stronger. */
				x = range_end(&a[i]);
				i++;
				continue;
			}
			uint64_t piece_end = end;
			if (i < nout && a[i].base < end)
				piece_end = a[i].base;
			if (nout + 1 > cap - nwait)
				return KS_MEMMAP_ENOSPC;
			insert_at(a, &nout, i, x, piece_end, e.type);
			i++;
			x = piece_end;
		}
	}
	return (long)nout;
}

/* Merge adjacent ranges of one type in a sorted, non-overlapping map. */
static size_t merge_adjacent(struct ks_memrange *a, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && a[w - 1].type == a[i].type &&
		    range_end(&a[w - 1]) == a[i].base) {
			a[w - 1].len += a[i].len;
			continue;
		}
		a[w++] = a[i];
	}
	return w;
}

long ks_memmap_normalize(struct ks_memrange *map, size_t n, size_t cap,
                         size_t *err_index)
{
	if (cap < n)
		return KS_MEMMAP_ENOSPC;

	for (size_t i = 0; i < n; i++) {
		long err = check_entry(&map[i]);
		if (err) {
			if (err_index)
				*err_index = i;
			return err;
		}
	}

	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		struct ks_memrange e = map[i];
		if (align_entry(&e))
			map[m++] = e;
	}

	sort_ranges(map, m, less_by_base);
	m = drop_covered(map, m);
	sort_ranges(map, m, less_by_type_desc);
	m = merge_same_type(map, m);

	long count = paint(map, m, cap);
	if (count < 0)
		return count;
	return (long)merge_adjacent(map, (size_t)count);
}
