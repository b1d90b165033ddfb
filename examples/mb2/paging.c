/*
 * The mb2 example kernel's page-table code (4-level x86_64 paging).
 *
 * boot.S built the tables the kernel runs on: an identity map of
 * [0, IDENTITY_TOP) and the higher-half kernel map.  This file adds and
 * removes 4 KiB mappings for kspan's heap window (platform.c) and unmaps
 * the kernel stack's guard page.  Page tables are reached through the
 * identity map; new ones come from kspan's frame map (ks_frame_alloc) and
 * are zeroed before they are linked in.
 *
 * Invariants:
 *   - only 4 KiB leaf mappings are created or removed here; a walk that
 *     meets a 2 MiB page on the way stops with a panic (that would mean the
 *     heap window overlaps the identity or kernel map);
 *   - intermediate tables are never freed (a window's tables are reused
 *     when it is committed again), and they are counted in pg_table_frames;
 *   - the caller serialises (platform.c holds interrupts off; single CPU).
 */
#include <stdint.h>
#include <kspan/frame.h>

#include "kernel.h"

#define PTE_P     ((uint64_t)0x1)
#define PTE_W     ((uint64_t)0x2)
#define PTE_PS    ((uint64_t)0x80)
#define PTE_ADDR  ((uint64_t)0x000ffffffffff000)

static uint64_t table_frames;

static uint64_t *pml4(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	return phys_to_virt(cr3 & PTE_ADDR);
}

void *phys_to_virt(uint64_t phys)
{
	if (phys >= IDENTITY_TOP)
		panic("phys_to_virt(0x%lx): above the identity map (0x%lx)",
		      phys, (uint64_t)IDENTITY_TOP);
	return (void *)(uintptr_t)phys;
}

static uint64_t *table_of(uint64_t entry)
{
	return phys_to_virt(entry & PTE_ADDR);
}

/* The level-0 entry (PTE) for va, creating missing tables when create is
 * set.  Returns NULL if a table is missing (and create is clear) or no frame
 * was left for one. */
static uint64_t *walk(uintptr_t va, int create)
{
	uint64_t *table = pml4();
	for (int level = 3; level > 0; level--) {
		unsigned idx = (unsigned)(va >> (12 + 9 * level)) & 511;
		uint64_t *e = &table[idx];
		if (!(*e & PTE_P)) {
			if (!create)
				return 0;
			uint64_t f = ks_frame_alloc(1, KS_FRAME_SIZE);
			if (!f)
				return 0;
			uint64_t *t = phys_to_virt(f);
			for (int i = 0; i < 512; i++)
				t[i] = 0;
			table_frames++;
			*e = f | PTE_P | PTE_W;
		} else if (*e & PTE_PS) {
			panic("page walk for %p: level-%d entry 0x%lx is a large page",
			      (void *)va, level, *e);
		}
		table = table_of(*e);
	}
	return &table[(va >> 12) & 511];
}

int pg_map(uintptr_t va, uint64_t pa)
{
	if ((va | pa) & (KS_FRAME_SIZE - 1))
		panic("pg_map(%p, 0x%lx): not 4 KiB aligned", (void *)va, pa);
	uint64_t *pte = walk(va, 1);
	if (!pte)
		return -1;
	if (*pte & PTE_P)
		panic("pg_map(%p, 0x%lx): already mapped to 0x%lx", (void *)va, pa,
		      *pte & PTE_ADDR);
	*pte = pa | PTE_P | PTE_W;
	return 0;
}

uint64_t pg_unmap(uintptr_t va)
{
	uint64_t *pte = walk(va, 0);
	if (!pte || !(*pte & PTE_P))
		return 0;
	uint64_t pa = *pte & PTE_ADDR;
	*pte = 0;
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
	return pa;
}

uint64_t pg_lookup(uintptr_t va)
{
	uint64_t *pte = walk(va, 0);
	if (!pte || !(*pte & PTE_P))
		return 0;
	return *pte & PTE_ADDR;
}

uint64_t pg_table_frames(void)
{
	return table_frames;
}
