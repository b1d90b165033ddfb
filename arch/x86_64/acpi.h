/*
 * The little of ACPI the kernel needs: from the RSDP, the CPUs and I/O
 * APICs of the MADT and the PM timer of the FADT (see acpi.c).
 */
#ifndef KSPAN_ARCH_X86_64_ACPI_H
#define KSPAN_ARCH_X86_64_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define KS_ACPI_MAX_CPUS    256   /* enabled LAPIC entries recorded */
#define KS_ACPI_MAX_IOAPICS 16

struct ks_acpi_cpu {
	uint32_t apic_id;       /* xAPIC or x2APIC id */
	uint32_t acpi_uid;      /* processor id (type 0) or UID (type 9) */
	uint8_t x2apic;         /* from a Processor Local x2APIC entry */
};

struct ks_acpi_ioapic {
	uint32_t id;
	uint32_t addr;
	uint32_t gsi_base;
};

struct ks_acpi_info {
	char oem[7];                  /* RSDP OEM id, NUL-ended */
	uint8_t revision;             /* RSDP revision (0: ACPI 1.0) */
	uint8_t use_xsdt;             /* 1: XSDT, 0: RSDT */
	uint64_t root;                /* XSDT or RSDT address */
	uint64_t madt;                /* its address */
	uint64_t lapic_addr;          /* after any address override */
	uint32_t madt_flags;          /* bit 0: PC-AT 8259s present */
	/* Enabled processor entries, in MADT order, duplicates dropped. */
	unsigned ncpus;
	struct ks_acpi_cpu cpu[KS_ACPI_MAX_CPUS];
	unsigned disabled;            /* entries without the enabled flag */
	unsigned dropped;             /* enabled entries beyond KS_ACPI_MAX_CPUS */
	unsigned duplicates;          /* the same APIC id listed twice */
	unsigned nioapic;
	struct ks_acpi_ioapic ioapic[KS_ACPI_MAX_IOAPICS];
	/* FADT: the ACPI PM timer (3.579545 MHz), port 0 if none. */
	uint16_t pm_timer_port;
	uint8_t pm_timer_32bit;
	uint8_t have_fadt;
};

/*
 * Find and check the tables from the RSDP at physical address rsdp; every
 * table must lie in [4096, limit) (the identity map) and is read through
 * it.  Checks: signatures, checksums (RSDP, its extended part, root table,
 * MADT, FADT), lengths (header, entry arrays, every MADT entry against its
 * type and the table's end).  Returns 0 and fills *out, or -1 with a
 * message naming the table, the address and what was wrong in err.
 * Never loops on a malformed table: every entry advances by its checked
 * length.
 */
int ks_acpi_parse(uint64_t rsdp, uint64_t limit, struct ks_acpi_info *out,
                  char *err, size_t errcap);

#endif
