/*
 * Self-test of the memory map the loader handed over: the guarantees of
 * include/kspan/memmap.h and boot/bootinfo.h, checked on the real firmware
 * map.
 */
#include "kernel/selftest.h"

#include "kernel/kernel.h"
#include "tests/kernel/testlib.h"

KS_SELFTEST("memory map: typed, aligned, sorted, non-overlapping, merged")
{
	size_t n;
	const struct ks_memrange *m = kt_map(&n);
	KT_ASSERT(n > 0);
	for (size_t i = 0; i < n; i++) {
		int ok = m[i].type >= KS_MEM_USABLE &&
		         m[i].type < KS_MEM_TYPE_MAX && m[i].len > 0 &&
		         ((m[i].base | m[i].len) & (KS_FRAME_SIZE - 1)) == 0 &&
		         m[i].base + m[i].len > m[i].base && m[i].flags == 0;
		if (!ok)
			KT_FAIL("entry %zu is malformed: [0x%llx +0x%llx) "
			        "type %u", i,
			        (unsigned long long)m[i].base,
			        (unsigned long long)m[i].len, m[i].type);
		if (i == 0)
			continue;
		uint64_t prev_end = m[i - 1].base + m[i - 1].len;
		if (prev_end > m[i].base)
			KT_FAIL("entries %zu and %zu overlap or are unsorted: "
			        "end 0x%llx > base 0x%llx", i - 1, i,
			        (unsigned long long)prev_end,
			        (unsigned long long)m[i].base);
		if (prev_end == m[i].base && m[i - 1].type == m[i].type)
			KT_FAIL("entries %zu and %zu are adjacent %s ranges that "
			        "were not merged", i - 1, i,
			        ks_memtype_name(m[i].type));
	}
	KT_EXPECT(ks_memmap_total(m, n, KS_MEM_USABLE) > 0);
	KT_EXPECT(ks_memmap_total(m, n, KS_MEM_KERNEL) > 0);
}
