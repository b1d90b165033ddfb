/*
 * The physical frame map (include/kspan/frame.h): a bitmap allocator of 4 KiB frames.
 *
 * Layout.  ks_frame_init() keeps one descriptor per range of the normalized
 * memory map (so a bad free can name the type of the memory it hit) and,
 * for each free-RAM range, a bitmap with one bit per frame: 1 = in use,
 * 0 = free.  The descriptors and bitmaps live together in a run of frames
 * taken from the start of the lowest free-RAM range that can hold them;
 * those meta frames are marked in use.  Bits past the end of a range in its
 * last bitmap word are set, so word scans never see them as free.
 *
 * Invariants, for every free-RAM range r:
 *   - r->nfree == number of zero bits among its r->nframes bits;
 *   - frame 0 is in no bitmap (a range starting at 0 starts at frame 1);
 *   - the meta frames' bits stay set for the life of the map.
 *
 * Allocation.  A single frame is next-fit: the scan resumes at the range
 * and 64-bit word where the last one was found, skipping full words and
 * full ranges, so a long run of single-frame allocations costs about one
 * word test each.  A run of n frames (or an aligned one) is first-fit over
 * the ranges in address order: try each aligned start, and on meeting a
 * used frame jump to the next aligned start past it; the search in a range
 * starts at its run_word, below which every word is full (kept as a lower
 * bound: advanced past full words by the search, lowered by frees), so
 * taking many runs in a row does not rescan what the earlier ones took.
 *
 * Locking: fm.lock (irqsave) guards everything below it; ks_frame_init
 * takes it too.  Panics are raised after the lock is dropped.
 */
#include <kspan/frame.h>

#include <stdbool.h>
#include "lib/fmt.h"
#include "lib/bits.h"
#include "lib/spinlock.h"

#define WORD_BITS 64
#define ALL_USED  (~(uint64_t)0)

struct frame_range {
	uint64_t base;       /* first frame number */
	uint64_t nframes;    /* frames (0 for free RAM that was only frame 0) */
	uint64_t *bits;      /* 1 = in use; NULL if not free RAM */
	uint64_t nfree;      /* zero bits in bits */
	uint64_t hint;       /* word where the next single-frame scan starts */
	uint32_t type;       /* enum ks_memtype */
	uint32_t run_word;   /* words below it are all used (a lower bound):
	                        where the search for a run starts */
};

static struct {
	struct ks_spinlock lock;
	struct frame_range *ranges;   /* in the meta frames */
	size_t nranges;
	size_t hint_range;            /* range of the last single-frame alloc */
	uint64_t meta_base;           /* first meta frame number */
	struct ks_frame_stats st;
} fm = { .lock = KS_SPINLOCK_INIT("frame", KS_RANK_FRAME) };

static uint64_t words_for(uint64_t nframes)
{
	return (nframes + WORD_BITS - 1) / WORD_BITS;
}

static bool is_meta(uint64_t f)
{
	return f >= fm.meta_base && f - fm.meta_base < fm.st.meta_frames;
}

/* The descriptor of the range holding frame f, or NULL (binary search:
 * ranges are sorted and disjoint). */
static struct frame_range *find_range(uint64_t f)
{
	size_t lo = 0, hi = fm.nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct frame_range *r = &fm.ranges[mid];
		if (f < r->base)
			hi = mid;
		else if (f - r->base >= r->nframes)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* ---- Bitmap helpers (bit i of a range = frame base + i) --------------- */

static bool bit_test(const struct frame_range *r, uint64_t i)
{
	return (r->bits[i / WORD_BITS] >> (i % WORD_BITS)) & 1;
}

/* Mask of bits [from, from + count) within one word; count <= 64 - from. */
static uint64_t word_mask(unsigned from, unsigned count)
{
	uint64_t m = count == WORD_BITS ? ALL_USED
	                                : (((uint64_t)1 << count) - 1);
	return m << from;
}

/* Set (used = true) or clear bits [i, i + n). */
static void bits_assign(struct frame_range *r, uint64_t i, uint64_t n,
                        bool used)
{
	while (n > 0) {
		unsigned b = (unsigned)(i % WORD_BITS);
		unsigned cnt = WORD_BITS - b;
		if (cnt > n)
			cnt = (unsigned)n;
		uint64_t m = word_mask(b, cnt);
		if (used)
			r->bits[i / WORD_BITS] |= m;
		else
			r->bits[i / WORD_BITS] &= ~m;
		i += cnt;
		n -= cnt;
	}
}

/* First set bit in [from, to), or to if there is none. */
static uint64_t first_used(const struct frame_range *r, uint64_t from,
                           uint64_t to)
{
	while (from < to) {
		unsigned b = (unsigned)(from % WORD_BITS);
		unsigned cnt = WORD_BITS - b;
		if (cnt > to - from)
			cnt = (unsigned)(to - from);
		uint64_t w = r->bits[from / WORD_BITS] & word_mask(b, cnt);
		if (w)
			return (from - b) + (uint64_t)__builtin_ctzll(w);
		from += cnt;
	}
	return to;
}

/* First clear bit in [from, to), or to if there is none. */
static uint64_t first_free(const struct frame_range *r, uint64_t from,
                           uint64_t to)
{
	while (from < to) {
		unsigned b = (unsigned)(from % WORD_BITS);
		unsigned cnt = WORD_BITS - b;
		if (cnt > to - from)
			cnt = (unsigned)(to - from);
		uint64_t w = ~r->bits[from / WORD_BITS] & word_mask(b, cnt);
		if (w)
			return (from - b) + (uint64_t)__builtin_ctzll(w);
		from += cnt;
	}
	return to;
}

/* ---- Init --------------------------------------------------------------- */

static void reset_locked(void)
{
	fm.ranges = NULL;
	fm.nranges = 0;
	fm.hint_range = 0;
	fm.meta_base = 0;
	struct ks_frame_stats zero = { 0 };
	fm.st = zero;
}

/* Check that map[0..n) keeps memmap.h's guarantees; panic naming the first
 * entry that does not. */
static void check_normalized(const struct ks_memrange *map, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ks_memrange *e = &map[i];
		const char *bad = NULL;
		if (e->type < KS_MEM_USABLE || e->type >= KS_MEM_TYPE_MAX)
			bad = "has an unknown type";
		else if (e->len == 0 || (e->base | e->len) % KS_FRAME_SIZE)
			bad = "is empty or not frame aligned";
		else if (e->len > UINT64_MAX - e->base)
			bad = "wraps past 2^64";
		else if (i > 0 && map[i - 1].base + map[i - 1].len > e->base)
			bad = "is out of order or overlaps the one before";
		if (bad)
			ks_panic("ks_frame_init: map entry %zu (0x%llx +0x%llx, "
			         "type %u) %s: normalize the map first", i,
			         (unsigned long long)e->base,
			         (unsigned long long)e->len, (unsigned)e->type,
			         bad);
	}
}

/* The range's frames that can be free: all of them, less frame 0. */
static void free_span(const struct ks_memrange *e, uint64_t *first,
                      uint64_t *count)
{
	*first = e->base / KS_FRAME_SIZE;
	*count = e->len / KS_FRAME_SIZE;
	if (*first == 0) {
		*first = 1;
		(*count)--;
	}
}

int ks_frame_init(const struct ks_memrange *map, size_t n, int reclaim_boot,
                  void *(*phys_to_virt)(uint64_t phys))
{
	if (!phys_to_virt)
		ks_panic("ks_frame_init: phys_to_virt is NULL");
	if (n > 0 && !map)
		ks_panic("ks_frame_init: map is NULL with %zu entries", n);
	check_normalized(map, n);

	ks_spin_init(&fm.lock, "frame", KS_RANK_FRAME);
	ks_irqstate_t irq = ks_spin_lock_irqsave(&fm.lock);
	reset_locked();

	/* Size the metadata: descriptors, then one bitmap per free range. */
	uint64_t meta_bytes = (uint64_t)n * sizeof(struct frame_range);
	uint64_t nfree_ranges = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ks_memtype_is_free(map[i].type, reclaim_boot))
			continue;
		uint64_t first, count;
		free_span(&map[i], &first, &count);
		meta_bytes += words_for(count) * sizeof(uint64_t);
		nfree_ranges++;
	}
	uint64_t meta_frames = (meta_bytes + KS_FRAME_SIZE - 1) / KS_FRAME_SIZE;

	/* The first free range with room for it all. */
	uint64_t meta_base = 0;
	for (size_t i = 0; i < n && !meta_base; i++) {
		if (!ks_memtype_is_free(map[i].type, reclaim_boot))
			continue;
		uint64_t first, count;
		free_span(&map[i], &first, &count);
		if (count >= meta_frames)
			meta_base = first;
	}
	if (!nfree_ranges || !meta_base) {
		ks_spin_unlock_irqrestore(&fm.lock, irq);
		ks_printf("kspan: ks_frame_init: %s (%zu map entries, %llu "
		          "bytes of frame map needed)\n",
		          nfree_ranges ? "no free range can hold the frame map"
		                       : "no free RAM in the memory map",
		          n, (unsigned long long)meta_bytes);
		return -1;
	}

	uint8_t *meta = phys_to_virt(meta_base * KS_FRAME_SIZE);
	if (!meta || (uintptr_t)meta % sizeof(uint64_t))
		ks_panic("ks_frame_init: phys_to_virt(0x%llx) gave %p",
		         (unsigned long long)(meta_base * KS_FRAME_SIZE),
		         (void *)meta);
	fm.ranges = (struct frame_range *)meta;
	fm.nranges = n;
	uint64_t *bits = (uint64_t *)(meta + n * sizeof(struct frame_range));

	for (size_t i = 0; i < n; i++) {
		struct frame_range *r = &fm.ranges[i];
		r->type = map[i].type;
		r->run_word = 0;
		r->hint = 0;
		if (!ks_memtype_is_free(map[i].type, reclaim_boot)) {
			r->base = map[i].base / KS_FRAME_SIZE;
			r->nframes = map[i].len / KS_FRAME_SIZE;
			r->bits = NULL;
			r->nfree = 0;
			continue;
		}
		free_span(&map[i], &r->base, &r->nframes);
		uint64_t nw = words_for(r->nframes);
		r->bits = bits;
		bits += nw;
		for (uint64_t w = 0; w < nw; w++)
			r->bits[w] = 0;
		/* The tail bits past the last frame are permanently used. */
		uint64_t tail = nw * WORD_BITS - r->nframes;
		if (tail)
			bits_assign(r, r->nframes, tail, true);
		r->nfree = r->nframes;
		fm.st.usable_frames += r->nframes;
		if (r->nframes)
			fm.st.ranges++;
	}

	/* The metadata's own frames are in use from now on. */
	struct frame_range *mr = find_range(meta_base);
	bits_assign(mr, meta_base - mr->base, meta_frames, true);
	mr->nfree -= meta_frames;
	fm.meta_base = meta_base;
	fm.st.meta_frames = meta_frames;
	fm.st.free_frames = fm.st.usable_frames - meta_frames;
	fm.hint_range = (size_t)(mr - fm.ranges);

	ks_spin_unlock_irqrestore(&fm.lock, irq);
	return 0;
}

/* ---- Allocation --------------------------------------------------------- */

/* Next-fit single frame: returns the frame number, or 0.  A range whose
 * free count says it has a free frame but whose bitmap has none is
 * corruption: *corrupt is set to its index + 1. */
static uint64_t alloc_one_locked(size_t *corrupt)
{
	for (size_t k = 0; k < fm.nranges; k++) {
		size_t ri = fm.hint_range + k;
		if (ri >= fm.nranges)
			ri -= fm.nranges;
		struct frame_range *r = &fm.ranges[ri];
		if (!r->bits || r->nfree == 0)
			continue;
		uint64_t nw = words_for(r->nframes);
		for (uint64_t j = 0; j < nw; j++) {
			uint64_t w = r->hint + j;
			if (w >= nw)
				w -= nw;
			uint64_t word = r->bits[w];
			if (word == ALL_USED)
				continue;
			unsigned b = (unsigned)__builtin_ctzll(~word);
			r->bits[w] = word | ((uint64_t)1 << b);
			r->nfree--;
			r->hint = w;
			fm.hint_range = ri;
			return r->base + w * WORD_BITS + b;
		}
		*corrupt = ri + 1;
		return 0;
	}
	return 0;
}

/* First-fit run of n frames starting at a multiple of align_frames:
 * returns the frame number, or 0. */
static uint64_t alloc_run_locked(uint64_t n, uint64_t align_frames)
{
	for (size_t ri = 0; ri < fm.nranges; ri++) {
		struct frame_range *r = &fm.ranges[ri];
		if (!r->bits || r->nfree < n)
			continue;
		/* Skip the words known to be full, and the ones found full
		 * now (remembered: the next search starts there too). */
		uint64_t nw = words_for(r->nframes);
		while (r->run_word < nw && r->bits[r->run_word] == ALL_USED)
			r->run_word++;
		uint64_t lo = (uint64_t)r->run_word * WORD_BITS;
		uint64_t mask = align_frames - 1;
		uint64_t i = ((r->base + lo + mask) & ~mask) - r->base;
		while (i < r->nframes && r->nframes - i >= n) {
			uint64_t used = first_used(r, i, i + n);
			if (used == i + n) {
				bits_assign(r, i, n, true);
				r->nfree -= n;
				return r->base + i;
			}
			i = ((r->base + used + 1 + mask) & ~mask) - r->base;
		}
	}
	return 0;
}

uint64_t ks_frame_alloc(size_t n, size_t align)
{
	if (n == 0)
		ks_panic("ks_frame_alloc: n is 0");
	if (align < KS_FRAME_SIZE || (align & (align - 1)))
		ks_panic("ks_frame_alloc: align 0x%zx is not a power of two "
		         ">= 0x1000 (n %zu)", align, n);

	ks_irqstate_t irq = ks_spin_lock_irqsave(&fm.lock);
	uint64_t f;
	size_t corrupt = 0;
	if (n == 1 && align == KS_FRAME_SIZE)
		f = alloc_one_locked(&corrupt);
	else
		f = alloc_run_locked(n, align / KS_FRAME_SIZE);
	if (corrupt) {
		struct frame_range *r = &fm.ranges[corrupt - 1];
		ks_spin_unlock_irqrestore(&fm.lock, irq);
		ks_panic("ks_frame_alloc: range at 0x%llx counts %llu free "
		         "frames but its bitmap has none (corrupted frame map)",
		         (unsigned long long)(r->base * KS_FRAME_SIZE),
		         (unsigned long long)r->nfree);
	}
	if (f) {
		fm.st.free_frames -= n;
		fm.st.allocs++;
	} else {
		fm.st.alloc_fails++;
	}
	ks_spin_unlock_irqrestore(&fm.lock, irq);
	return f * KS_FRAME_SIZE;
}

/* ---- Free and queries ------------------------------------------------- */

/* Why frame f cannot be freed, or NULL if it can; *r is its range. */
static const char *free_problem(uint64_t f, struct frame_range **r)
{
	if (f == 0)
		return "is never handed out (physical 0 is the error value)";
	*r = find_range(f);
	if (!*r)
		return "is not in the memory map";
	if (!(*r)->bits)
		return "is not free RAM";
	if (is_meta(f))
		return "holds the frame map's own bitmaps";
	if (!bit_test(*r, f - (*r)->base))
		return "is not in use (double free?)";
	return NULL;
}

void ks_frame_free(uint64_t phys, size_t n)
{
	if (phys % KS_FRAME_SIZE)
		ks_panic("ks_frame_free: address 0x%llx is not frame aligned",
		         (unsigned long long)phys);
	if (n == 0)
		ks_panic("ks_frame_free: n is 0 (address 0x%llx)",
		         (unsigned long long)phys);

	uint64_t f0 = phys / KS_FRAME_SIZE;
	ks_irqstate_t irq = ks_spin_lock_irqsave(&fm.lock);
	/* Check every frame before freeing any, a range's worth at a time:
	 * the first frame of each piece in full, the rest of it a word at a
	 * time (meta frames, frames not in use).  The report names the first
	 * frame that cannot be freed. */
	for (uint64_t i = 0; i < n;) {
		struct frame_range *r = NULL;
		uint64_t f = f0 + i;
		const char *why = free_problem(f, &r);
		uint64_t cnt = 1;
		if (!why) {
			uint64_t idx = f - r->base;
			cnt = r->nframes - idx;
			if (cnt > n - i)
				cnt = n - i;
			uint64_t bad = first_free(r, idx, idx + cnt);
			uint64_t mb = fm.meta_base, me = mb + fm.st.meta_frames;
			if (mb < f + cnt && me > f && (mb > f ? mb : f) - r->base < bad)
				bad = (mb > f ? mb : f) - r->base;
			if (bad < idx + cnt) {
				f = r->base + bad;
				why = free_problem(f, &r);
			}
		}
		if (why) {
			uint32_t type = r ? r->type : 0;
			ks_spin_unlock_irqrestore(&fm.lock, irq);
			if (r && !r->bits)
				ks_panic("ks_frame_free: frame 0x%llx %s (type %s)",
				         (unsigned long long)(f * KS_FRAME_SIZE),
				         why, ks_memtype_name(type));
			ks_panic("ks_frame_free: frame 0x%llx %s (freeing %zu "
			         "frames at 0x%llx)",
			         (unsigned long long)(f * KS_FRAME_SIZE),
			         why, n, (unsigned long long)phys);
		}
		i += cnt;
	}
	for (uint64_t i = 0; i < n;) {
		struct frame_range *r = find_range(f0 + i);
		uint64_t idx = f0 + i - r->base;
		uint64_t cnt = r->nframes - idx;
		if (cnt > n - i)
			cnt = n - i;
		bits_assign(r, idx, cnt, false);
		if (idx / WORD_BITS < r->run_word)
			r->run_word = (uint32_t)(idx / WORD_BITS);
		r->nfree += cnt;
		i += cnt;
	}
	fm.st.free_frames += n;
	fm.st.frees++;
	ks_spin_unlock_irqrestore(&fm.lock, irq);
}

int ks_frame_state(uint64_t phys)
{
	uint64_t f = phys / KS_FRAME_SIZE;
	int state = -1;
	ks_irqstate_t irq = ks_spin_lock_irqsave(&fm.lock);
	struct frame_range *r = f ? find_range(f) : NULL;
	if (r && r->bits)
		state = bit_test(r, f - r->base);
	ks_spin_unlock_irqrestore(&fm.lock, irq);
	return state;
}

void ks_frame_stats(struct ks_frame_stats *out)
{
	ks_irqstate_t irq = ks_spin_lock_irqsave(&fm.lock);
	*out = fm.st;
	ks_spin_unlock_irqrestore(&fm.lock, irq);
}

uint64_t ks_frame_free_bytes(void)
{
	ks_irqstate_t irq = ks_spin_lock_irqsave(&fm.lock);
	uint64_t bytes = fm.st.free_frames * KS_FRAME_SIZE;
	ks_spin_unlock_irqrestore(&fm.lock, irq);
	return bytes;
}

/* ---- Consistency check ---------------------------------------------------- */

/* The first inconsistency of the map, written to msg; 0 if there is none. */
static int check_locked(char *msg, size_t cap)
{
	uint64_t usable = 0, nfree = 0;
	for (size_t i = 0; i < fm.nranges; i++) {
		const struct frame_range *r = &fm.ranges[i];
		uint64_t addr = r->base * KS_FRAME_SIZE;
		if (i > 0 && fm.ranges[i - 1].base + fm.ranges[i - 1].nframes >
		             r->base) {
			ks_snprintf(msg, cap, "range at 0x%llx overlaps the one "
			            "before", (unsigned long long)addr);
			return -1;
		}
		if (!r->bits)
			continue;
		uint64_t nw = words_for(r->nframes), used = 0;
		for (uint64_t w = 0; w < nw; w++) {
			if (w < r->run_word && r->bits[w] != ALL_USED) {
				ks_snprintf(msg, cap, "range at 0x%llx: frame 0x%llx "
				            "is free below the run search start",
				            (unsigned long long)addr,
				            (unsigned long long)((r->base + w * WORD_BITS +
				                (uint64_t)__builtin_ctzll(~r->bits[w])) *
				                KS_FRAME_SIZE));
				return -1;
			}
			used += ks_popcount64(r->bits[w]);
		}
		uint64_t tail = nw * WORD_BITS - r->nframes;
		uint64_t tmask = tail ? word_mask((unsigned)(r->nframes %
		                                             WORD_BITS),
		                                  (unsigned)tail) : 0;
		if (tail && (r->bits[nw - 1] & tmask) != tmask) {
			ks_snprintf(msg, cap, "range at 0x%llx: tail bits past "
			            "its end are clear", (unsigned long long)addr);
			return -1;
		}
		used -= tail;
		if (r->nframes - used != r->nfree) {
			ks_snprintf(msg, cap, "range at 0x%llx counts %llu free "
			            "frames, its bitmap has %llu",
			            (unsigned long long)addr,
			            (unsigned long long)r->nfree,
			            (unsigned long long)(r->nframes - used));
			return -1;
		}
		usable += r->nframes;
		nfree += r->nfree;
	}
	for (uint64_t k = 0; k < fm.st.meta_frames; k++) {
		const struct frame_range *r = find_range(fm.meta_base + k);
		if (!r || !r->bits || !bit_test(r, fm.meta_base + k - r->base)) {
			ks_snprintf(msg, cap, "meta frame 0x%llx is not marked "
			            "in use", (unsigned long long)
			            ((fm.meta_base + k) * KS_FRAME_SIZE));
			return -1;
		}
	}
	if (usable != fm.st.usable_frames || nfree != fm.st.free_frames) {
		ks_snprintf(msg, cap, "stats say %llu usable / %llu free "
		            "frames, the ranges %llu / %llu",
		            (unsigned long long)fm.st.usable_frames,
		            (unsigned long long)fm.st.free_frames,
		            (unsigned long long)usable, (unsigned long long)nfree);
		return -1;
	}
	return 0;
}

void ks_frame_check(void)
{
	char msg[160];
	ks_irqstate_t irq = ks_spin_lock_irqsave(&fm.lock);
	int bad = check_locked(msg, sizeof(msg));
	ks_spin_unlock_irqrestore(&fm.lock, irq);
	if (bad)
		ks_panic("ks_frame_check: %s", msg);
}
