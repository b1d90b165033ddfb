/*
 * UEFI memory map -> kspan memory map (see efi_memmap.h).
 *
 * The firmware's map is read descriptor by descriptor at the firmware's
 * stride (DescriptorSize), copied out with memcpy so no alignment is assumed,
 * typed with ks_efi_memtype(), followed by the carve-outs, and handed to
 * ks_memmap_normalize() which sorts, clips overlaps (most restrictive type
 * wins), aligns and merges.  Boot-services and loader memory stay a separate
 * type (KS_MEM_RECLAIMABLE) so the kernel decides when they become free.
 *
 * Pure: builds for the host tests and runs in the loader after
 * ExitBootServices.  No state, no locks.
 */
#include "efi_memmap.h"

uint32_t ks_efi_memtype(uint32_t efi_type)
{
	switch (efi_type) {
	case KS_EFI_CONVENTIONAL:
		return KS_MEM_USABLE;
	case KS_EFI_LOADER_CODE:
	case KS_EFI_LOADER_DATA:
	case KS_EFI_BOOT_SERVICES_CODE:
	case KS_EFI_BOOT_SERVICES_DATA:
		return KS_MEM_RECLAIMABLE;
	case KS_EFI_ACPI_RECLAIM:
		return KS_MEM_ACPI_RECLAIM;
	case KS_EFI_ACPI_NVS:
		return KS_MEM_ACPI_NVS;
	case KS_EFI_RUNTIME_SERVICES_CODE:
	case KS_EFI_RUNTIME_SERVICES_DATA:
		return KS_MEM_FIRMWARE;
	case KS_EFI_MMIO:
	case KS_EFI_MMIO_PORT_SPACE:
		return KS_MEM_MMIO;
	case KS_EFI_UNUSABLE:
		return KS_MEM_BAD;
	case KS_EFI_PERSISTENT:
		return KS_MEM_PERSISTENT;
	case KS_EFI_RESERVED:
	case KS_EFI_PAL_CODE:
	case KS_EFI_UNACCEPTED:
	default:
		return KS_MEM_RESERVED;
	}
}

static int check_layout(size_t map_size, size_t desc_size)
{
	if (desc_size < sizeof(struct ks_efi_desc) || desc_size % 8 != 0)
		return KS_EFI_EDESCSIZE;
	if (map_size % desc_size != 0)
		return KS_EFI_EMAPSIZE;
	return 0;
}

static void read_desc(const void *map, size_t desc_size, size_t i,
                      struct ks_efi_desc *d)
{
	__builtin_memcpy(d, (const unsigned char *)map + i * desc_size,
	                 sizeof(*d));
}

static long fail(struct ks_efi_map_error *err, long code, int in_carve,
                 size_t index)
{
	if (err) {
		err->code = (int)code;
		err->in_carve = in_carve;
		err->index = index;
	}
	return code;
}

long ks_efi_memmap_translate(const void *map, size_t map_size,
                             size_t desc_size,
                             const struct ks_memrange *carve, size_t ncarve,
                             struct ks_memrange *out, size_t cap,
                             struct ks_efi_map_error *err)
{
	int rc = check_layout(map_size, desc_size);
	if (rc)
		return fail(err, rc, 0, 0);
	size_t ndesc = map_size / desc_size;
	if (ndesc + ncarve > cap)
		return fail(err, KS_MEMMAP_ENOSPC, 0, 0);

	/* out[i] is descriptor i and out[ndesc + j] carve-out j, so an index
	 * reported by normalize names its source. */
	for (size_t i = 0; i < ndesc; i++) {
		struct ks_efi_desc d;
		read_desc(map, desc_size, i, &d);
		if (d.npages > (UINT64_MAX >> 12))
			return fail(err, KS_MEMMAP_ERANGE, 0, i);
		out[i].base = d.phys_start;
		out[i].len = d.npages * KS_EFI_PAGE_SIZE;
		out[i].type = ks_efi_memtype(d.type);
		out[i].flags = 0;
	}
	for (size_t j = 0; j < ncarve; j++) {
		out[ndesc + j] = carve[j];
		out[ndesc + j].flags = 0;
	}

	size_t bad = 0;
	long n = ks_memmap_normalize(out, ndesc + ncarve, cap, &bad);
	if (n < 0) {
		if (n == KS_MEMMAP_ENOSPC)
			return fail(err, n, 0, 0);
		return fail(err, n, bad >= ndesc, bad >= ndesc ? bad - ndesc : bad);
	}
	return n;
}

uint64_t ks_efi_map_top(const void *map, size_t map_size, size_t desc_size)
{
	if (check_layout(map_size, desc_size))
		return 0;
	uint64_t top = 0;
	for (size_t i = 0; i < map_size / desc_size; i++) {
		struct ks_efi_desc d;
		read_desc(map, desc_size, i, &d);
		if (d.npages > (UINT64_MAX >> 12))
			continue;
		uint64_t len = d.npages * KS_EFI_PAGE_SIZE;
		if (d.phys_start > UINT64_MAX - len)
			continue;
		if (d.phys_start + len > top)
			top = d.phys_start + len;
	}
	return top;
}
