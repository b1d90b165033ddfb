/*
 * ACPI table walk for SMP bring-up: RSDP -> XSDT (or RSDT) -> MADT + FADT.
 *
 * Everything is checked before it is used, and every failure is an error
 * return with a message naming the table, its address and the problem --
 * never a read outside the table and never a loop that does not advance:
 *
 *   RSDP   "RSD PTR " signature, checksum of the first 20 bytes; from
 *          revision 2 on, a length of 36..4096 and the extended checksum.
 *          The XSDT is used when revision >= 2 and its address is not 0.
 *   tables a header of 36 bytes at least, at most 16 MiB, inside
 *          [4096, limit), the expected signature, bytes summing to 0.
 *   XSDT / RSDT  the entry array is a whole number of 8- / 4-byte
 *          addresses; entries that point outside memory are an error.
 *   MADT   44 bytes at least; each entry has a length >= 2 that stays
 *          inside the table and is at least its type's size.  Processor
 *          entries (type 0 Local APIC, type 9 Local x2APIC) count only
 *          when enabled; an APIC id listed twice counts once.  Type 5
 *          overrides the LAPIC address; type 1 lists I/O APICs.
 *   FADT   optional: the PM timer port (X_PM_TMR_BLK in I/O space, else
 *          PM_TMR_BLK) when PM_TMR_LEN is 4 and the platform is not
 *          hardware-reduced; TMR_VAL_EXT says 32 or 24 bits.
 *
 * Tables are read through the identity map (physical == virtual below
 * limit).  Pure function of memory; no state, no locks.
 */
#include "acpi.h"

#include "lib/fmt.h"

#define HDR_LEN        36
#define MAX_TABLE      (16u << 20)
#define MADT_HDR_LEN   44

struct table {
	const uint8_t *p;
	uint32_t len;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
	return v;
}

static uint8_t sum8(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static int fail(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ks_vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

static int in_memory(uint64_t addr, uint64_t len, uint64_t limit)
{
	return addr >= 4096 && addr < limit && len <= limit - addr;
}

/* Check the table at addr: in memory, header, signature, checksum. */
static int load_table(uint64_t addr, const char *sig, uint64_t limit,
                      struct table *t, char *err, size_t cap)
{
	if (!in_memory(addr, HDR_LEN, limit))
		return fail(err, cap, "%s table address 0x%llx is outside memory "
		            "[0x1000, 0x%llx)", sig, (unsigned long long)addr,
		            (unsigned long long)limit);
	const uint8_t *p = (const uint8_t *)(uintptr_t)addr;
	if (__builtin_memcmp(p, sig, 4) != 0)
		return fail(err, cap, "table at 0x%llx has signature \"%c%c%c%c\", "
		            "expected \"%s\"", (unsigned long long)addr,
		            p[0] >= 32 && p[0] < 127 ? p[0] : '?',
		            p[1] >= 32 && p[1] < 127 ? p[1] : '?',
		            p[2] >= 32 && p[2] < 127 ? p[2] : '?',
		            p[3] >= 32 && p[3] < 127 ? p[3] : '?', sig);
	uint32_t len = rd32(p + 4);
	if (len < HDR_LEN || len > MAX_TABLE)
		return fail(err, cap, "%s at 0x%llx has length %u (want %u..%u)",
		            sig, (unsigned long long)addr, len, HDR_LEN, MAX_TABLE);
	if (!in_memory(addr, len, limit))
		return fail(err, cap, "%s at 0x%llx, %u bytes, runs past the end "
		            "of memory 0x%llx", sig, (unsigned long long)addr, len,
		            (unsigned long long)limit);
	uint8_t s = sum8(p, len);
	if (s != 0)
		return fail(err, cap, "%s at 0x%llx: checksum over %u bytes is "
		            "0x%02x, not 0", sig, (unsigned long long)addr, len, s);
	t->p = p;
	t->len = len;
	return 0;
}

static void add_cpu(struct ks_acpi_info *out, uint32_t apic_id, uint32_t uid,
                    int x2)
{
	for (unsigned i = 0; i < out->ncpus; i++) {
		if (out->cpu[i].apic_id == apic_id) {
			out->duplicates++;
			return;
		}
	}
	if (out->ncpus == KS_ACPI_MAX_CPUS) {
		out->dropped++;
		return;
	}
	out->cpu[out->ncpus++] = (struct ks_acpi_cpu){ apic_id, uid, (uint8_t)x2 };
}

/* Minimum length of each MADT entry type we read (ACPI 6.x). */
static unsigned madt_min_len(uint8_t type)
{
	switch (type) {
	case 0: return 8;     /* Processor Local APIC */
	case 1: return 12;    /* I/O APIC */
	case 2: return 10;    /* Interrupt Source Override */
	case 4: return 6;     /* Local APIC NMI */
	case 5: return 12;    /* Local APIC Address Override */
	case 9: return 16;    /* Processor Local x2APIC */
	case 10: return 12;   /* Local x2APIC NMI */
	default: return 2;
	}
}

static int parse_madt(uint64_t addr, const struct table *t,
                      struct ks_acpi_info *out, char *err, size_t cap)
{
	if (t->len < MADT_HDR_LEN)
		return fail(err, cap, "MADT at 0x%llx has length %u, less than "
		            "its %u-byte header", (unsigned long long)addr, t->len,
		            MADT_HDR_LEN);
	out->madt = addr;
	out->lapic_addr = rd32(t->p + 36);
	out->madt_flags = rd32(t->p + 40);
	for (uint32_t off = MADT_HDR_LEN; off < t->len;) {
		if (t->len - off < 2)
			return fail(err, cap, "MADT at 0x%llx: entry at offset %u is "
			            "cut off by the table's end (%u)",
			            (unsigned long long)addr, off, t->len);
		const uint8_t *e = t->p + off;
		uint8_t type = e[0], len = e[1];
		if (len < 2)
			return fail(err, cap, "MADT at 0x%llx: entry at offset %u "
			            "(type %u) has length %u", (unsigned long long)addr,
			            off, type, len);
		if (len > t->len - off)
			return fail(err, cap, "MADT at 0x%llx: entry at offset %u "
			            "(type %u, %u bytes) runs past the table's end (%u)",
			            (unsigned long long)addr, off, type, len, t->len);
		if (len < madt_min_len(type))
			return fail(err, cap, "MADT at 0x%llx: entry at offset %u "
			            "(type %u) has length %u, its type needs %u",
			            (unsigned long long)addr, off, type, len,
			            madt_min_len(type));
		switch (type) {
		case 0: {
			uint32_t flags = rd32(e + 4);
			if (flags & 1)
				add_cpu(out, e[3], e[2], 0);
			else
				out->disabled++;
			break;
		}
		case 9: {
			uint32_t id = rd32(e + 4), flags = rd32(e + 8);
			if (flags & 1)
				add_cpu(out, id, rd32(e + 12), 1);
			else
				out->disabled++;
			break;
		}
		case 1:
			if (out->nioapic < KS_ACPI_MAX_IOAPICS)
				out->ioapic[out->nioapic++] = (struct ks_acpi_ioapic){
					e[2], rd32(e + 4), rd32(e + 8) };
			break;
		case 5:
			out->lapic_addr = rd64(e + 4);
			break;
		default:
			break;
		}
		off += len;
	}
	return 0;
}

static void parse_fadt(const struct table *t, struct ks_acpi_info *out)
{
	out->have_fadt = 1;
	if (t->len < 116)
		return;
	uint32_t flags = rd32(t->p + 112);
	if (flags & (1u << 20))              /* HW_REDUCED_ACPI: no PM timer */
		return;
	if (t->p[91] != 4)                   /* PM_TMR_LEN */
		return;
	uint64_t port = rd32(t->p + 76);     /* PM_TMR_BLK */
	if (t->len >= 220 && t->p[208] == 1 && rd64(t->p + 212) != 0)
		port = rd64(t->p + 212);     /* X_PM_TMR_BLK in I/O space */
	if (port == 0 || port > 0xfffc)
		return;
	out->pm_timer_port = (uint16_t)port;
	out->pm_timer_32bit = (flags >> 8) & 1;  /* TMR_VAL_EXT */
}

int ks_acpi_parse(uint64_t rsdp, uint64_t limit, struct ks_acpi_info *out,
                  char *err, size_t cap)
{
	__builtin_memset(out, 0, sizeof(*out));
	if (cap)
		err[0] = 0;
	if (!rsdp)
		return fail(err, cap, "the firmware reported no ACPI RSDP");
	if (!in_memory(rsdp, 20, limit))
		return fail(err, cap, "RSDP address 0x%llx is outside memory "
		            "[0x1000, 0x%llx)", (unsigned long long)rsdp,
		            (unsigned long long)limit);
	const uint8_t *r = (const uint8_t *)(uintptr_t)rsdp;
	if (__builtin_memcmp(r, "RSD PTR ", 8) != 0)
		return fail(err, cap, "RSDP at 0x%llx has no \"RSD PTR \" signature",
		            (unsigned long long)rsdp);
	if (sum8(r, 20) != 0)
		return fail(err, cap, "RSDP at 0x%llx: checksum of the first 20 "
		            "bytes is 0x%02x, not 0", (unsigned long long)rsdp,
		            sum8(r, 20));
	__builtin_memcpy(out->oem, r + 9, 6);
	out->oem[6] = 0;
	out->revision = r[15];
	uint64_t root = rd32(r + 16);
	if (out->revision >= 2) {
		if (!in_memory(rsdp, 36, limit))
			return fail(err, cap, "RSDP at 0x%llx (revision %u) runs past "
			            "the end of memory", (unsigned long long)rsdp,
			            out->revision);
		uint32_t len = rd32(r + 20);
		if (len < 36 || len > 4096 || !in_memory(rsdp, len, limit))
			return fail(err, cap, "RSDP at 0x%llx (revision %u) has length "
			            "%u (want 36..4096)", (unsigned long long)rsdp,
			            out->revision, len);
		if (sum8(r, len) != 0)
			return fail(err, cap, "RSDP at 0x%llx: extended checksum over "
			            "%u bytes is 0x%02x, not 0",
			            (unsigned long long)rsdp, len, sum8(r, len));
		if (rd64(r + 24)) {
			root = rd64(r + 24);
			out->use_xsdt = 1;
		}
	}
	out->root = root;

	struct table rt;
	const char *rsig = out->use_xsdt ? "XSDT" : "RSDT";
	if (load_table(root, rsig, limit, &rt, err, cap))
		return -1;
	unsigned esize = out->use_xsdt ? 8 : 4;
	if ((rt.len - HDR_LEN) % esize)
		return fail(err, cap, "%s at 0x%llx: %u bytes of entries is not a "
		            "whole number of %u-byte addresses", rsig,
		            (unsigned long long)root, rt.len - HDR_LEN, esize);
	unsigned n = (rt.len - HDR_LEN) / esize;
	int have_madt = 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *ep = rt.p + HDR_LEN + i * esize;
		uint64_t a = esize == 8 ? rd64(ep) : rd32(ep);
		if (!in_memory(a, HDR_LEN, limit))
			return fail(err, cap, "%s at 0x%llx: entry %u points at 0x%llx, "
			            "outside memory", rsig, (unsigned long long)root, i,
			            (unsigned long long)a);
		const uint8_t *h = (const uint8_t *)(uintptr_t)a;
		struct table t;
		if (__builtin_memcmp(h, "APIC", 4) == 0 && !have_madt) {
			if (load_table(a, "APIC", limit, &t, err, cap) ||
			    parse_madt(a, &t, out, err, cap))
				return -1;
			have_madt = 1;
		} else if (__builtin_memcmp(h, "FACP", 4) == 0 && !out->have_fadt) {
			if (load_table(a, "FACP", limit, &t, err, cap))
				return -1;
			parse_fadt(&t, out);
		}
	}
	if (!have_madt)
		return fail(err, cap, "%s at 0x%llx lists no MADT (\"APIC\") table",
		            rsig, (unsigned long long)root);
	if (out->ncpus == 0)
		return fail(err, cap, "MADT at 0x%llx lists no enabled processor",
		            (unsigned long long)out->madt);
	return 0;
}
