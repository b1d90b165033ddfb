/*
 * Self-tests of the ACPI walk (arch/x86_64/acpi.c) on tables built here:
 * a well-formed RSDP -> XSDT -> MADT + FADT set, the same through an
 * ACPI 1.0 RSDT, and one defect at a time -- bad signatures, checksums,
 * lengths, a MADT entry of length 0 (which would loop forever if it were
 * trusted), entries past the table's end or shorter than their type,
 * pointers outside memory, no MADT.  Each defect must give an error whose
 * message names it, never a hang or a read outside the buffers.  And the
 * firmware's own tables must parse.
 *
 * The tables live in static buffers in the kernel image, which is
 * identity-mapped, so their addresses are physical addresses.  One test
 * at a time; no locks.
 */
#include "kernel/selftest.h"

#include "arch/x86_64/acpi.h"
#include "kernel/kernel.h"

static uint8_t rsdp[64] __attribute__((aligned(16)));
static uint8_t xsdt[64] __attribute__((aligned(16)));
static uint8_t rsdt[64] __attribute__((aligned(16)));
static uint8_t madt[256] __attribute__((aligned(16)));
static uint8_t fadt[280] __attribute__((aligned(16)));
static struct ks_acpi_info info;
static char err[256];

static void put32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return v;
}

/* Make bytes [0, len) of p sum to 0 by setting p[at]. */
static void fix_sum(uint8_t *p, uint32_t len, unsigned at)
{
	p[at] = 0;
	uint8_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	p[at] = (uint8_t)-s;
}

static void header(uint8_t *t, const char *sig, uint32_t len)
{
	__builtin_memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = 1;
	__builtin_memcpy(t + 10, "KSPAN ", 6);
}

static uint32_t madt_len;

static void madt_entry(const uint8_t *e)
{
	__builtin_memcpy(madt + madt_len, e, e[1]);
	madt_len += e[1];
}

static void seal_all(void)
{
	fix_sum(madt, get32(madt + 4), 9);
	fix_sum(fadt, get32(fadt + 4), 9);
	fix_sum(xsdt, get32(xsdt + 4), 9);
	fix_sum(rsdt, get32(rsdt + 4), 9);
	fix_sum(rsdp, 20, 8);
	fix_sum(rsdp, 36, 32);
}

/* A well-formed set: CPUs with APIC ids 0, 1 (enabled), 5 (disabled),
 * x2APIC id 300 (enabled), 1 again (duplicate); an I/O APIC; an NMI entry;
 * a FADT with a 32-bit PM timer at port 0x608. */
static void build(void)
{
	__builtin_memset(rsdp, 0, sizeof(rsdp));
	__builtin_memset(xsdt, 0, sizeof(xsdt));
	__builtin_memset(rsdt, 0, sizeof(rsdt));
	__builtin_memset(madt, 0, sizeof(madt));
	__builtin_memset(fadt, 0, sizeof(fadt));

	madt_len = 44;
	put32(madt + 36, 0xfee00000u);
	put32(madt + 40, 1);
	static const uint8_t lapic0[8] = { 0, 8, 0, 0, 1, 0, 0, 0 };
	static const uint8_t lapic1[8] = { 0, 8, 1, 1, 1, 0, 0, 0 };
	static const uint8_t lapic5[8] = { 0, 8, 2, 5, 0, 0, 0, 0 };
	static const uint8_t x2[16] = { 9, 16, 0, 0, 44, 1, 0, 0, 1, 0, 0, 0,
	                                3, 0, 0, 0 };
	static const uint8_t dup1[8] = { 0, 8, 4, 1, 1, 0, 0, 0 };
	static const uint8_t ioapic[12] = { 1, 12, 2, 0, 0, 0, 0xc0, 0xfe,
	                                    0, 0, 0, 0 };
	static const uint8_t nmi[6] = { 4, 6, 0xff, 0, 0, 1 };
	madt_entry(lapic0);
	madt_entry(lapic1);
	madt_entry(lapic5);
	madt_entry(x2);
	madt_entry(dup1);
	madt_entry(ioapic);
	madt_entry(nmi);
	header(madt, "APIC", madt_len);

	header(fadt, "FACP", 276);
	put32(fadt + 76, 0x608);    /* PM_TMR_BLK */
	fadt[91] = 4;               /* PM_TMR_LEN */
	put32(fadt + 112, 1u << 8); /* TMR_VAL_EXT */

	header(xsdt, "XSDT", 36 + 16);
	put64(xsdt + 36, (uint64_t)(uintptr_t)fadt);
	put64(xsdt + 44, (uint64_t)(uintptr_t)madt);

	header(rsdt, "RSDT", 36 + 8);
	put32(rsdt + 36, (uint32_t)(uintptr_t)fadt);
	put32(rsdt + 40, (uint32_t)(uintptr_t)madt);

	__builtin_memcpy(rsdp, "RSD PTR ", 8);
	__builtin_memcpy(rsdp + 9, "KSPAN ", 6);
	rsdp[15] = 2;
	put32(rsdp + 16, (uint32_t)(uintptr_t)rsdt);
	put32(rsdp + 20, 36);
	put64(rsdp + 24, (uint64_t)(uintptr_t)xsdt);
	seal_all();
}

static int parse(void)
{
	return ks_acpi_parse((uint64_t)(uintptr_t)rsdp,
	                     ks_kernel_bootinfo()->identity_top, &info, err,
	                     sizeof(err));
}

static int has(const char *hay, const char *needle)
{
	for (const char *h = hay; *h; h++) {
		const char *a = h, *b = needle;
		while (*a && *b && *a == *b) {
			a++;
			b++;
		}
		if (!*b)
			return 1;
	}
	return 0;
}

/* The tables' addresses in the kernel image must fit the 32-bit RSDT. */
KS_SELFTEST("acpi: well-formed tables: CPUs, disabled and duplicate entries, x2APIC, I/O APIC, PM timer")
{
	KT_ASSERT((uintptr_t)madt < (1ull << 32) && (uintptr_t)fadt < (1ull << 32));
	build();
	KT_ASSERT_EQ(parse(), 0);
	KT_EXPECT(info.use_xsdt);
	KT_EXPECT_EQ(info.revision, 2);
	KT_EXPECT_EQ(info.madt, (uintptr_t)madt);
	KT_EXPECT_EQ(info.lapic_addr, 0xfee00000u);
	KT_ASSERT_EQ(info.ncpus, 3);
	KT_EXPECT_EQ(info.cpu[0].apic_id, 0);
	KT_EXPECT_EQ(info.cpu[1].apic_id, 1);
	KT_EXPECT_EQ(info.cpu[2].apic_id, 300);
	KT_EXPECT_EQ(info.cpu[2].x2apic, 1);
	KT_EXPECT_EQ(info.cpu[2].acpi_uid, 3);
	KT_EXPECT_EQ(info.disabled, 1);
	KT_EXPECT_EQ(info.duplicates, 1);
	KT_ASSERT_EQ(info.nioapic, 1);
	KT_EXPECT_EQ(info.ioapic[0].addr, 0xfec00000u);
	KT_EXPECT_EQ(info.pm_timer_port, 0x608);
	KT_EXPECT_EQ(info.pm_timer_32bit, 1);

	/* The same through the ACPI 1.0 RSDT. */
	rsdp[15] = 0;
	fix_sum(rsdp, 20, 8);
	KT_ASSERT_EQ(parse(), 0);
	KT_EXPECT(!info.use_xsdt);
	KT_EXPECT_EQ(info.ncpus, 3);
}

#define EXPECT_ERROR(what)                                              \
	do {                                                            \
		int rc_ = parse();                                      \
		KT_EXPECT_EQ(rc_, -1);                                  \
		if (rc_ == -1 && !has(err, what))                       \
			KT_FAIL("error \"%s\" does not mention \"%s\"", \
			        err, what);                             \
	} while (0)

KS_SELFTEST("acpi: a bad RSDP is an error naming it")
{
	build();
	rsdp[0] = 'X';
	EXPECT_ERROR("no \"RSD PTR \" signature");
	build();
	rsdp[8] ^= 1;
	EXPECT_ERROR("checksum of the first 20 bytes");
	build();
	rsdp[33] ^= 1;
	EXPECT_ERROR("extended checksum");
	build();
	put32(rsdp + 20, 20);
	fix_sum(rsdp, 20, 8);
	EXPECT_ERROR("has length 20");
	KT_EXPECT_EQ(ks_acpi_parse(0, 1ull << 32, &info, err, sizeof(err)), -1);
	KT_EXPECT(has(err, "no ACPI RSDP"));
}

KS_SELFTEST("acpi: bad root tables and pointers are errors naming them")
{
	build();
	xsdt[40] ^= 1;                         /* checksum only */
	EXPECT_ERROR("XSDT at");
	KT_EXPECT(has(err, "checksum"));
	build();
	put32(xsdt + 4, 36 + 12);              /* not whole 8-byte entries */
	seal_all();
	EXPECT_ERROR("not a whole number");
	build();
	put64(xsdt + 44, 1ull << 50);          /* outside memory */
	seal_all();
	EXPECT_ERROR("outside memory");
	build();
	put64(rsdp + 24, 0x10);                /* inside page 0 */
	seal_all();
	EXPECT_ERROR("outside memory");
	build();
	__builtin_memcpy(xsdt, "XSDU", 4);
	seal_all();
	EXPECT_ERROR("expected \"XSDT\"");
	build();
	put64(xsdt + 44, (uint64_t)(uintptr_t)fadt);   /* no MADT listed */
	seal_all();
	EXPECT_ERROR("lists no MADT");
	build();
	put32(madt + 4, 20);                   /* shorter than a header */
	seal_all();
	EXPECT_ERROR("has length 20");
	build();
	put32(madt + 4, 0x7ffffff0u);          /* absurdly long (no checksum */
	EXPECT_ERROR("APIC at");               /* fixed: it is never read) */
	KT_EXPECT(has(err, "has length"));
}

KS_SELFTEST("acpi: malformed MADT entries are errors, never a loop or an overread")
{
	build();
	madt[44 + 1] = 0;                      /* first entry: length 0 */
	seal_all();
	EXPECT_ERROR("has length 0");
	build();
	madt[44 + 1] = 1;
	seal_all();
	EXPECT_ERROR("has length 1");
	build();
	madt[44 + 8 + 1] = 200;                /* past the table's end */
	seal_all();
	EXPECT_ERROR("runs past the table's end");
	build();
	madt[44 + 1] = 6;                      /* type 0 needs 8 bytes */
	seal_all();
	EXPECT_ERROR("its type needs 8");
	build();
	put32(madt + 4, madt_len + 1);         /* a lone byte at the end */
	seal_all();
	EXPECT_ERROR("cut off");
	build();
	put32(madt + 4, 40);
	seal_all();
	EXPECT_ERROR("less than its 44-byte header");
	build();                               /* every processor disabled */
	madt[44 + 4] = 0;
	madt[52 + 4] = 0;
	madt[68 + 8] = 0;
	madt[84 + 4] = 0;
	seal_all();
	EXPECT_ERROR("no enabled processor");
}

KS_SELFTEST("acpi: the firmware's tables parse and list this machine's CPUs")
{
	const struct ks_bootinfo *bi = ks_kernel_bootinfo();
	if (!bi->rsdp) {
		kprintf("# no RSDP from the firmware\n");
		return;
	}
	static struct ks_acpi_info fw;
	int rc = ks_acpi_parse(bi->rsdp, bi->identity_top, &fw, err, sizeof(err));
	if (rc)
		KT_FAIL("firmware ACPI: %s", err);
	KT_EXPECT(fw.ncpus >= 1);
	KT_EXPECT(fw.lapic_addr != 0);
	kprintf("# firmware MADT: %u enabled CPUs, %u disabled, %u I/O APIC(s), "
	        "PM timer port 0x%x (%u-bit)\n", fw.ncpus, fw.disabled,
	        fw.nioapic, fw.pm_timer_port, fw.pm_timer_32bit ? 32 : 24);
}
