/*
 * Page source for mm/ on kspan's kernel: address space from a window above
 * the identity map, memory from the frame map.
 *
 *   reserve   bump allocation in [window_base, window_end), aligned as
 *             asked; reserved space has no page-table entries.
 *   commit    every 4 KiB page of the range that is not mapped gets a fresh
 *             frame from ks_frame_alloc, zeroed through the identity map,
 *             mapped read/write.  Mapped pages are left alone (idempotent).
 *             -1 when frames (for data or page tables) run out; what was
 *             committed before that stays committed.
 *   decommit  every mapped page of the range is unmapped (with invlpg) and
 *             its frame goes back to the frame map.
 *
 * Invariants: a page in the window is mapped iff it is committed, and then
 * to a frame that the frame map shows as in use and that nothing else
 * references.  Ranges outside what reserve handed out, or not 4 KiB
 * aligned, are a caller's bug and panic with the address.
 *
 * Locks: pagesrc_lock serializes reserve/commit/decommit (so two CPUs never
 * race to map the same page).  Order: pagesrc_lock -> paging_lock -> the
 * frame map's lock.  Called with mm/'s heap lock held (ranks above).
 */
#include "pagesrc.h"

#include <stddef.h>
#include <kspan/platform.h>
#include "arch/x86_64/paging.h"
#include "kernel.h"
#include <kspan/frame.h>
#include "lib/spinlock.h"

static struct ks_spinlock pagesrc_lock = KS_SPINLOCK_INIT("pagesrc", KS_RANK_PAGESRC);
static uint64_t window_base, window_end, window_brk;
static struct ks_pagesrc_stats stats;

void ks_pagesrc_init(uint64_t identity_top)
{
	uint64_t base = (identity_top + (1ull << 40) - 1) & ~((1ull << 40) - 1);
	if (base < KS_PAGESRC_MIN_BASE)
		base = KS_PAGESRC_MIN_BASE;
	if (base + KS_PAGESRC_WINDOW > (1ull << 47))
		kpanic("pagesrc: identity map up to 0x%llx leaves no room for "
		       "the page-source window", (unsigned long long)identity_top);
	window_base = window_brk = base;
	window_end = base + KS_PAGESRC_WINDOW;
	stats.window_base = window_base;
	stats.window_end = window_end;
}

void *ks_plat_reserve(size_t len, size_t align)
{
	if (!window_base)
		kpanic("ks_plat_reserve(%zu, %zu) before ks_pagesrc_init", len,
		       align);
	if (align < KS_FRAME_SIZE || (align & (align - 1)))
		kpanic("ks_plat_reserve: alignment %zu is not a power of two >= "
		       "4096", align);
	if (len == 0)
		return NULL;
	ks_irqstate_t f = ks_spin_lock_irqsave(&pagesrc_lock);
	uint64_t start = (window_brk + align - 1) & ~((uint64_t)align - 1);
	uint64_t size = ((uint64_t)len + KS_FRAME_SIZE - 1) &
	                ~(KS_FRAME_SIZE - 1);
	void *p = NULL;
	if (start >= window_brk && start <= window_end &&
	    size <= window_end - start) {
		window_brk = start + size;
		stats.reserved_bytes += size;
		p = (void *)(uintptr_t)start;
	}
	ks_spin_unlock_irqrestore(&pagesrc_lock, f);
	return p;
}

/* Zero a frame through the identity map: plain 8-byte stores, eight to an
 * iteration.  Under QEMU's TCG this is about three times faster than the
 * rep stosq the compiler makes of memset (every rep iteration is a trip
 * through the translated-code loop), and committing is what an emptied
 * heap spends its time on. */
static void zero_frame(uint64_t phys)
{
	uint64_t *p = (uint64_t *)(uintptr_t)phys;
	for (unsigned i = 0; i < KS_FRAME_SIZE / 8; i += 8) {
		p[i] = 0;
		p[i + 1] = 0;
		p[i + 2] = 0;
		p[i + 3] = 0;
		p[i + 4] = 0;
		p[i + 5] = 0;
		p[i + 6] = 0;
		p[i + 7] = 0;
	}
}

static void check_range(const char *what, uint64_t a, size_t len)
{
	if ((a | len) & (KS_FRAME_SIZE - 1))
		kpanic("%s(0x%llx, 0x%zx): not 4 KiB aligned", what,
		       (unsigned long long)a, len);
	if (a < window_base || a > window_brk || len > window_brk - a)
		kpanic("%s(0x%llx, 0x%zx): outside the reserved page-source "
		       "space [0x%llx, 0x%llx)", what, (unsigned long long)a,
		       len, (unsigned long long)window_base,
		       (unsigned long long)window_brk);
}

int ks_plat_commit(void *addr, size_t len)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;
	ks_irqstate_t f = ks_spin_lock_irqsave(&pagesrc_lock);
	check_range("ks_plat_commit", a, len);
	stats.commit_calls++;
	int rc = 0;
	for (uint64_t va = a; va < a + len; va += KS_FRAME_SIZE) {
		if (ks_paging_query(va, NULL, NULL))
			continue;
		uint64_t frame = ks_frame_alloc(1, KS_FRAME_SIZE);
		if (!frame) {
			rc = -1;
			break;
		}
		zero_frame(frame);
		if (ks_paging_map(va, frame, KS_MAP_WRITE)) {
			ks_frame_free(frame, 1);
			rc = -1;
			break;
		}
		stats.committed_frames++;
	}
	if (rc)
		stats.commit_failures++;
	ks_spin_unlock_irqrestore(&pagesrc_lock, f);
	return rc;
}

void ks_plat_decommit(void *addr, size_t len)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;
	ks_irqstate_t f = ks_spin_lock_irqsave(&pagesrc_lock);
	check_range("ks_plat_decommit", a, len);
	stats.decommit_calls++;
	for (uint64_t va = a; va < a + len; va += KS_FRAME_SIZE) {
		uint64_t frame;
		int rc = ks_paging_unmap(va, &frame);
		if (rc == 1)
			continue;
		if (rc != 0)
			kpanic("ks_plat_decommit: unmapping 0x%llx failed (%d)",
			       (unsigned long long)va, rc);
		ks_frame_free(frame, 1);
		stats.committed_frames--;
	}
	ks_spin_unlock_irqrestore(&pagesrc_lock, f);
}

void ks_pagesrc_stats(struct ks_pagesrc_stats *out)
{
	ks_irqstate_t f = ks_spin_lock_irqsave(&pagesrc_lock);
	*out = stats;
	ks_spin_unlock_irqrestore(&pagesrc_lock, f);
}
