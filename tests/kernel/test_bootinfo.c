/*
 * Self-tests of the boot handoff: the boot-info block's header, the ACPI
 * RSDP it points at, and that everything the kernel keeps is KERNEL memory
 * in the map.
 */
#include "kernel/selftest.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "kernel/kernel.h"
#include "tests/kernel/testlib.h"

extern char __image_start[], __image_end[];

KS_SELFTEST("boot info: magic, version and size")
{
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	KT_ASSERT(bi != NULL);
	KT_EXPECT_EQ(bi->magic, KS_BOOTINFO_MAGIC);
	KT_EXPECT_EQ(bi->version, KS_BOOTINFO_VERSION);
	KT_EXPECT_EQ(bi->size, sizeof(struct ks_bootinfo));
	KT_EXPECT(bi->ebs_attempts == 1 || bi->ebs_attempts == 2);
	KT_EXPECT(bi->memmap_count > 0 && bi->memmap_count <= bi->memmap_cap);
	KT_EXPECT(bi->efi_desc_size >= 40);
	KT_EXPECT_EQ(bi->cr3, read_cr3() & KS_PTE_ADDR);
}

static uint8_t sum_bytes(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

KS_SELFTEST("boot info: ACPI RSDP signature and checksums")
{
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	if (!bi->rsdp) {
		kprintf("# no RSDP reported by the firmware\n");
		return;
	}
	const uint8_t *r = (const uint8_t *)(uintptr_t)bi->rsdp;
	KT_ASSERT(__builtin_memcmp(r, "RSD PTR ", 8) == 0);
	KT_EXPECT_EQ(sum_bytes(r, 20), 0);
	uint8_t rev = r[15];
	if (rev >= 2) {
		uint32_t len;
		__builtin_memcpy(&len, r + 20, 4);
		KT_ASSERT(len >= 36 && len < 4096);
		KT_EXPECT_EQ(sum_bytes(r, len), 0);
	}
	/* The RSDP must not be in memory the frame map can hand out. */
	const struct ks_memrange *m = kt_map_find(bi->rsdp);
	KT_ASSERT(m != NULL);
	KT_EXPECT(!ks_memtype_is_free(m->type, 1));
	kprintf("# RSDP at 0x%llx: revision %u, OEM \"%c%c%c%c%c%c\", in %s "
	        "memory\n", (unsigned long long)bi->rsdp, rev, r[9], r[10],
	        r[11], r[12], r[13], r[14], ks_memtype_name(m->type));
}

KS_SELFTEST("boot info: image, stack, tables and the map itself are KERNEL memory")
{
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	KT_EXPECT_EQ(bi->image_base, (uint64_t)(uintptr_t)__image_start);
	KT_EXPECT((uint64_t)(uintptr_t)__image_end <=
	          bi->image_base + bi->image_size + 0xfff);
	KT_EXPECT(kt_map_inside(bi->image_base & ~0xfffull, bi->image_size,
	                        KS_MEM_KERNEL));
	KT_EXPECT(kt_map_inside((uint64_t)(uintptr_t)bi, sizeof(*bi),
	                        KS_MEM_KERNEL));
	KT_EXPECT(kt_map_inside(bi->memmap,
	                        bi->memmap_cap * sizeof(struct ks_memrange),
	                        KS_MEM_KERNEL));
	KT_EXPECT(kt_map_inside(bi->stack_base, bi->stack_size, KS_MEM_KERNEL));
	KT_EXPECT(kt_map_inside(bi->pt_pool, bi->pt_pool_frames * KS_FRAME_SIZE,
	                        KS_MEM_KERNEL));
	/* We are running on that stack. */
	uint64_t sp = read_rsp();
	KT_EXPECT(sp > bi->stack_base + KS_FRAME_SIZE &&
	          sp <= bi->stack_base + bi->stack_size);
	/* The identity map covers the whole map and the low 4 GiB. */
	size_t n;
	const struct ks_memrange *m = kt_map(&n);
	KT_EXPECT(bi->identity_top >= m[n - 1].base + m[n - 1].len);
	KT_EXPECT(bi->identity_top >= (4ull << 30));
}
