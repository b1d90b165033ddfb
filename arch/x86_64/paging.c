/*
 * Page tables for kspan's kernel.
 *
 * The loader builds an identity map of physical memory from 2 MiB pages in
 * a pool of KERNEL-typed frames it allocated before ExitBootServices
 * (ks_paging_build_identity) and switches CR3 to it.  The kernel then maps
 * and unmaps single 4 KiB pages anywhere in the lower half: the page source
 * (kernel/pagesrc.c) in its window above the identity map, and the kernel
 * itself for guard pages inside the identity map, which splits the 2 MiB
 * (or 1 GiB) page around the address into 512 smaller ones first.
 *
 * Invariants: tables are addressed through the identity map (physical
 * address == pointer); a table, once linked in, is never freed, so a walk
 * never sees a dangling table; a 4 KiB leaf is installed only where no
 * mapping exists; every change of a present entry is followed by invlpg on
 * this CPU.
 *
 * Other CPUs' TLBs (lazy shootdown, as Linux does for vmalloc space): an
 * unmap flushes this CPU and marks the TLBs of the CPUs that did not unmap
 * stale; before the next mapping is installed -- which is the only way an
 * unmapped address or its old frame can come back into use through a page
 * table -- every CPU whose TLB is stale flushes it: the others by NMI
 * (smp_call.c, so it works under any lock and with the world stopped), and
 * the mapping CPU itself when another CPU did one of the unmaps (its TLB
 * may still hold that page: reading the remapped page would read the old
 * frame, which may belong to another page by then).  So a run of unmaps
 * (the scavenger returning many pages) costs one shootdown, not one per
 * page.  ks_paging_sync() forces it.  Until then another CPU may still
 * read an unmapped page's old frame instead of faulting; no correct
 * kernel code touches a page it unmapped.  Splitting a large page keeps
 * every translation as it was, so it needs no shootdown.
 *
 * Locks: paging_lock (a spinlock, interrupts off) serializes every walk and
 * change.  Taking a table frame from the source happens under it, so the
 * source's own lock ranks below paging_lock.
 */
#include "paging.h"

#include "cpu.h"
#include "percpu.h"
#include "smp.h"
#include "lib/spinlock.h"
#include "lib/fmt.h"

#define ENTRIES 512
#define LEAF_FLAGS (KS_PTE_PRESENT | KS_PTE_WRITE | KS_PTE_USER | \
                    KS_PTE_PWT | KS_PTE_PCD | KS_PTE_ACCESSED | \
                    KS_PTE_DIRTY | KS_PTE_GLOBAL | KS_PTE_NX)
#define TABLE_FLAGS (KS_PTE_PRESENT | KS_PTE_WRITE)

static struct ks_spinlock paging_lock = KS_SPINLOCK_INIT("paging", KS_RANK_PAGING);
static uint64_t pool_base;
static size_t pool_frames, pool_next;
static uint64_t (*table_source)(void);
static struct ks_paging_stats stats;
/* Who unmapped since the last shootdown: STALE_NONE, one CPU's index, or
 * STALE_MANY for more than one CPU. */
#define STALE_NONE (-1)
#define STALE_MANY (-2)
static int stale_by = STALE_NONE;

/* paging_lock held. */
static void sync_locked(void)
{
	if (stale_by == STALE_NONE)
		return;
	ks_smp_flush_tlb_others();
	if (stale_by != (int)ks_cpu_index()) {
		flush_tlb_local();
		stats.local_flushes++;
	}
	stale_by = STALE_NONE;
	stats.shootdowns++;
}

static inline uint64_t *table_at(uint64_t phys)
{
	return (uint64_t *)(uintptr_t)phys;
}

static inline unsigned index_of(uint64_t va, int level)
{
	/* level 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT */
	return (unsigned)(va >> (12 + 9 * (level - 1))) & (ENTRIES - 1);
}

static void zero_frame(uint64_t phys)
{
	uint64_t *t = table_at(phys);
	for (int i = 0; i < ENTRIES; i++)
		t[i] = 0;
}

size_t ks_paging_identity_frames(uint64_t top)
{
	uint64_t pdpts = (top + (512ull << 30) - 1) >> 39;
	uint64_t pds = (top + KS_PAGE_1G - 1) >> 30;
	if (pdpts == 0)
		pdpts = 1;
	if (pds == 0)
		pds = 1;
	return (size_t)(1 + pdpts + pds);
}

uint64_t ks_paging_build_identity(uint64_t pool, size_t nframes, uint64_t top,
                                  size_t *used)
{
	size_t need = ks_paging_identity_frames(top);
	if (need > nframes || top > (1ull << 47))
		return 0;
	for (size_t i = 0; i < need; i++)
		zero_frame(pool + i * KS_PAGE_4K);
	size_t next = 1;
	uint64_t pml4 = pool;
	for (uint64_t a = 0; a < top; a += KS_PAGE_2M) {
		uint64_t *l4 = table_at(pml4);
		uint64_t *e4 = &l4[index_of(a, 4)];
		if (!(*e4 & KS_PTE_PRESENT))
			*e4 = (pool + next++ * KS_PAGE_4K) | TABLE_FLAGS;
		uint64_t *l3 = table_at(*e4 & KS_PTE_ADDR);
		uint64_t *e3 = &l3[index_of(a, 3)];
		if (!(*e3 & KS_PTE_PRESENT))
			*e3 = (pool + next++ * KS_PAGE_4K) | TABLE_FLAGS;
		uint64_t *l2 = table_at(*e3 & KS_PTE_ADDR);
		l2[index_of(a, 2)] = a | KS_PTE_PRESENT | KS_PTE_WRITE |
		                     KS_PTE_LARGE;
	}
	*used = next;
	return pml4;
}

void ks_paging_init(uint64_t pool, size_t nframes, size_t used)
{
	pool_base = pool;
	pool_frames = nframes;
	pool_next = used;
	stats.pool_frames = nframes;
	stats.pool_used = used;
}

void ks_paging_set_table_source(uint64_t (*alloc_frame)(void))
{
	ks_irqstate_t f = ks_spin_lock_irqsave(&paging_lock);
	table_source = alloc_frame;
	ks_spin_unlock_irqrestore(&paging_lock, f);
}

/* paging_lock held. */
static uint64_t alloc_table_locked(void)
{
	uint64_t phys = 0;
	if (pool_next < pool_frames) {
		phys = pool_base + pool_next++ * KS_PAGE_4K;
		stats.pool_used = pool_next;
	} else if (table_source) {
		phys = table_source();
		if (phys & (KS_PAGE_4K - 1))
			ks_panic("paging: table source returned unaligned frame "
			         "0x%llx", (unsigned long long)phys);
		if (phys)
			stats.source_frames++;
	}
	if (phys)
		zero_frame(phys);
	return phys;
}

static void check_va(const char *what, uint64_t va)
{
	uint64_t hi = va >> 47;
	if ((hi != 0 && hi != 0x1ffff) || (va & (KS_PAGE_4K - 1)))
		ks_panic("%s: virtual address 0x%llx is not canonical and 4 KiB "
		         "aligned", what, (unsigned long long)va);
}

/*
 * Split the large page in *entry (level 3: 1 GiB, level 2: 2 MiB) into a
 * table of 512 pages one level smaller, mapping exactly the same memory
 * with the same flags.  paging_lock held.  Returns 0 or -1 (no frame).
 */
static int split_locked(uint64_t *entry, int level, uint64_t va)
{
	uint64_t t = alloc_table_locked();
	if (!t)
		return -1;
	uint64_t old = *entry;
	uint64_t base = old & KS_PTE_ADDR & ~((level == 3 ? KS_PAGE_1G :
	                                       KS_PAGE_2M) - 1);
	uint64_t step = level == 3 ? KS_PAGE_2M : KS_PAGE_4K;
	uint64_t flags = old & LEAF_FLAGS;
	uint64_t *nt = table_at(t);
	for (int i = 0; i < ENTRIES; i++)
		nt[i] = (base + (uint64_t)i * step) | flags |
		        (level == 3 ? KS_PTE_LARGE : 0);
	*entry = t | TABLE_FLAGS | (old & KS_PTE_USER);
	invlpg(va);
	stats.splits++;
	return 0;
}

/*
 * Walk to the level-1 entry of va.  alloc: create missing tables.  split:
 * split large pages on the way.  Returns the entry, or NULL with *why:
 *   0 not mapped (and !alloc), 1 inside a large page (and !split; *large
 *   gets that entry and *level its level), -1 out of frames.
 * paging_lock held.
 */
static uint64_t *walk_locked(uint64_t va, int alloc, int split, int *why,
                             uint64_t **large, int *large_level)
{
	uint64_t *t = table_at(read_cr3() & KS_PTE_ADDR);
	for (int level = 4; level > 1; level--) {
		uint64_t *e = &t[index_of(va, level)];
		if (!(*e & KS_PTE_PRESENT)) {
			if (!alloc) {
				*why = 0;
				return NULL;
			}
			uint64_t nt = alloc_table_locked();
			if (!nt) {
				*why = -1;
				return NULL;
			}
			*e = nt | TABLE_FLAGS;
		} else if (*e & KS_PTE_LARGE) {
			if (level == 4)
				ks_panic("paging: PML4 entry 0x%llx for 0x%llx has "
				         "the large-page bit",
				         (unsigned long long)*e,
				         (unsigned long long)va);
			if (!split) {
				*why = 1;
				*large = e;
				*large_level = level;
				return NULL;
			}
			if (split_locked(e, level, va)) {
				*why = -1;
				return NULL;
			}
		}
		t = table_at(*e & KS_PTE_ADDR);
	}
	return &t[index_of(va, 1)];
}

int ks_paging_map(uint64_t virt, uint64_t phys, uint64_t flags)
{
	check_va("ks_paging_map", virt);
	if (phys & ~KS_PTE_ADDR)
		ks_panic("ks_paging_map: physical address 0x%llx for 0x%llx is "
		         "not a 4 KiB frame", (unsigned long long)phys,
		         (unsigned long long)virt);
	if (flags & ~(uint64_t)(KS_MAP_WRITE | KS_MAP_NOCACHE))
		ks_panic("ks_paging_map: bad flags 0x%llx for 0x%llx",
		         (unsigned long long)flags, (unsigned long long)virt);
	ks_irqstate_t f = ks_spin_lock_irqsave(&paging_lock);
	int why = 0, level = 0;
	uint64_t *large = NULL;
	uint64_t *pte = walk_locked(virt, 1, 0, &why, &large, &level);
	if (!pte && why == 1)
		ks_panic("ks_paging_map: 0x%llx is already mapped by a %s page "
		         "(entry 0x%llx)", (unsigned long long)virt,
		         level == 3 ? "1 GiB" : "2 MiB",
		         (unsigned long long)*large);
	if (!pte) {
		ks_spin_unlock_irqrestore(&paging_lock, f);
		return -1;
	}
	if (*pte & KS_PTE_PRESENT)
		ks_panic("ks_paging_map: 0x%llx is already mapped to 0x%llx",
		         (unsigned long long)virt,
		         (unsigned long long)(*pte & KS_PTE_ADDR));
	sync_locked();
	*pte = phys | flags | KS_PTE_PRESENT;
	stats.maps++;
	ks_spin_unlock_irqrestore(&paging_lock, f);
	return 0;
}

int ks_paging_unmap(uint64_t virt, uint64_t *phys)
{
	check_va("ks_paging_unmap", virt);
	ks_irqstate_t f = ks_spin_lock_irqsave(&paging_lock);
	int why = 0, level = 0;
	uint64_t *large = NULL;
	int rc;
	uint64_t *pte = walk_locked(virt, 0, 1, &why, &large, &level);
	if (!pte) {
		rc = why < 0 ? -1 : 1;
	} else if (!(*pte & KS_PTE_PRESENT)) {
		rc = 1;
	} else {
		if (phys)
			*phys = *pte & KS_PTE_ADDR;
		*pte = 0;
		invlpg(virt);
		if (ks_smp_ncpus() > 1) {
			int me = (int)ks_cpu_index();
			stale_by = stale_by == STALE_NONE || stale_by == me ? me : STALE_MANY;
		}
		stats.unmaps++;
		rc = 0;
	}
	ks_spin_unlock_irqrestore(&paging_lock, f);
	return rc;
}

int ks_paging_query(uint64_t virt, uint64_t *phys, uint64_t *flags)
{
	uint64_t hi = virt >> 47;
	if (hi != 0 && hi != 0x1ffff)
		return 0;
	ks_irqstate_t f = ks_spin_lock_irqsave(&paging_lock);
	uint64_t *t = table_at(read_cr3() & KS_PTE_ADDR);
	int mapped = 0;
	for (int level = 4; level >= 1; level--) {
		uint64_t e = t[index_of(virt, level)];
		if (!(e & KS_PTE_PRESENT))
			break;
		if (level == 1 || (e & KS_PTE_LARGE)) {
			uint64_t size = 1ull << (12 + 9 * (level - 1));
			if (phys)
				*phys = (e & KS_PTE_ADDR & ~(size - 1)) +
				        (virt & (size - 1));
			if (flags)
				*flags = e & (LEAF_FLAGS | KS_PTE_LARGE);
			mapped = 1;
			break;
		}
		t = table_at(e & KS_PTE_ADDR);
	}
	ks_spin_unlock_irqrestore(&paging_lock, f);
	return mapped;
}

void ks_paging_sync(void)
{
	ks_irqstate_t f = ks_spin_lock_irqsave(&paging_lock);
	sync_locked();
	ks_spin_unlock_irqrestore(&paging_lock, f);
}

void ks_paging_stats(struct ks_paging_stats *out)
{
	ks_irqstate_t f = ks_spin_lock_irqsave(&paging_lock);
	*out = stats;
	ks_spin_unlock_irqrestore(&paging_lock, f);
}
