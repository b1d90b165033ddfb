/*
 * In-kernel self-tests of the guarded pool (mm/guard.c) over the kernel's
 * page source: a kmalloc_guarded object ends at an unmapped page and its
 * pages are unmapped once it is freed (probed without faulting: trap.h's
 * probes), and the sentence the page-fault handler prints
 * (kspan_guard_fault) names the read or write, the address, the object,
 * its size and its sites.  In DEBUG=1 kernels also the guard mode of the
 * debug heap: every kmalloc guarded (above and below the guard page), 1 in
 * N when sampled; the boot option's setting is put back afterwards.
 */
#include "kernel/selftest.h"

#include <stddef.h>
#include <stdint.h>
#include <kspan/fmt.h>
#include <kspan/kmalloc.h>
#include "arch/x86_64/trap.h"
#include "lib/config.h"

#define PAGE 4096u

/* Does reading 8 bytes at a fault, with CR2 = a? */
static int faults_at(uintptr_t a)
{
	uint64_t v;
	return ks_probe_read64((const volatile void *)a, &v) != 0 &&
	       ks_probe_last_vector() == 14 && ks_probe_last_cr2() == a;
}

/* The handler's sentence for addr begins with want (the sites vary). */
static int sentence_starts(uintptr_t addr, int access, const char *want)
{
	char got[256];
	if (!kspan_guard_fault(addr, access, got, sizeof(got)))
		return 0;
	for (size_t i = 0; want[i]; i++)
		if (got[i] != want[i])
			return 0;
	return 1;
}

KS_SELFTEST("guard: a guarded object ends at an unmapped page, is unmapped when freed, and faults are explained")
{
	char *p = kmalloc_guarded(100);
	KT_ASSERT(p != NULL);
	uintptr_t end = ((uintptr_t)p + 100 + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
	KT_EXPECT_EQ((uintptr_t)p % 16, 0);
	KT_EXPECT(end - ((uintptr_t)p + 100) <= 15);
	for (int i = 0; i < 100; i++)
		p[i] = (char)i;
	KT_EXPECT(!faults_at((uintptr_t)p));
	KT_EXPECT(faults_at(end));
	char want[200];
	ks_snprintf(want, sizeof(want), "out-of-bounds read at %p: object %p of 100 "
	            "bytes allocated at 0x", (void *)end, (void *)p);
	KT_EXPECT(sentence_starts(end, 0, want));
	ks_snprintf(want, sizeof(want), "out-of-bounds write at %p: object %p of 100 "
	            "bytes allocated at 0x", (void *)(end + 64), (void *)p);
	KT_EXPECT(sentence_starts(end + 64, 1, want));
	kfree(p);
	KT_EXPECT(faults_at((uintptr_t)p));
	ks_snprintf(want, sizeof(want), "use-after-free write at %p: object %p of 100 "
	            "bytes allocated at 0x", (void *)(p + 8), (void *)p);
	KT_EXPECT(sentence_starts((uintptr_t)(p + 8), 1, want));
	char got[256];
	KT_EXPECT(kspan_guard_fault((uintptr_t)(p + 8), 0, got, sizeof(got)) == 1);
	int freed_at = 0;
	for (size_t i = 0; got[i]; i++)
		freed_at |= got[i] == ',' && got[i + 1] == ' ' && got[i + 2] == 'f';
	KT_EXPECT(freed_at);
	int x;
	KT_EXPECT(kspan_guard_fault((uintptr_t)&x, 0, got, sizeof(got)) == 0);
}

#if KSPAN_DEBUG_HEAP
static void guard_mode(unsigned sample, int below, size_t min_align)
{
	struct kspan_guard_config cfg = { .sample = sample, .below = below,
	                                  .min_align = min_align };
	kspan_guard_configure(&cfg);
}

static uint64_t guarded_allocs(void)
{
	struct kspan_guard_stats gs;
	kspan_guard_stats(&gs);
	return gs.allocs;
}

KS_SELFTEST("guard: the debug heap's guard mode guards every kmalloc, above or below the guard page, or 1 in N")
{
	struct kspan_guard_stats boot;
	kspan_guard_stats(&boot);
	guard_mode(1, 0, 0);                             /* kmalloc's alignment */
	char *p = kmalloc(13);
	KT_EXPECT_EQ((uintptr_t)p % 16, 0);
	KT_EXPECT_EQ(((uintptr_t)p + 16) % PAGE, 0);    /* 3 bytes of slack */
	kfree(p);
	guard_mode(1, 0, 1);                             /* the size's own */
	uint64_t before = guarded_allocs();
	p = kmalloc(13);
	KT_EXPECT_EQ(guarded_allocs(), before + 1);
	KT_EXPECT_EQ(((uintptr_t)p + 13) % PAGE, 0);    /* one byte past: the guard */
	KT_EXPECT(faults_at((uintptr_t)p + 13));
	char *q = krealloc(p, 5000);                     /* moves: p is unmapped */
	KT_EXPECT(q != p && faults_at((uintptr_t)p & ~(uintptr_t)7));
	kfree(q);
	guard_mode(1, 1, 0);
	p = kmalloc(64);
	KT_EXPECT_EQ((uintptr_t)p % PAGE, 0);
	KT_EXPECT(faults_at((uintptr_t)p - 8));         /* underflow: the guard */
	kfree(p);
	guard_mode(10, 0, 0);
	before = guarded_allocs();
	static void *objs[2000];
	for (int i = 0; i < 2000; i++)
		objs[i] = kmalloc(48);
	uint64_t got = guarded_allocs() - before;
	for (int i = 0; i < 2000; i++)
		kfree(objs[i]);
	KT_EXPECT(got >= 120 && got <= 280);              /* 200 expected */
	guard_mode((unsigned)boot.sample, (int)boot.below, 0);
}
#endif
