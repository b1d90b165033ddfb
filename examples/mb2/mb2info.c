/*
 * Reading the Multiboot2 boot information GRUB leaves for the kernel.
 *
 * The block is: u32 total_size, u32 reserved, then tags, each starting on
 * an 8-byte boundary with u32 type, u32 size (size counts the 8-byte tag
 * header, not the padding), ending with a type-0 tag of size 8.  Every read
 * is bounds-checked against total_size first; anything malformed stops the
 * kernel with a panic naming the address and what was wrong, because a
 * wrong memory map would hand out memory the firmware still uses.
 *
 * Memory map tag (type 6): u32 entry_size, u32 entry_version, then entries
 * of entry_size bytes (walked with that stride, which may grow in later
 * versions): u64 base, u64 length, u32 type, u32 reserved.
 */
#include <stdint.h>

#include "kernel.h"

#define TAG_END     0
#define TAG_CMDLINE 1
#define TAG_MMAP    6

#define INFO_MAX    (1u << 20)  /* sanity bound on total_size */

struct tag {
	uint32_t type;
	uint32_t size;
};

struct mmap_entry {
	uint64_t base;
	uint64_t len;
	uint32_t type;
	uint32_t reserved;
};

uint32_t mb2_check(uint32_t magic, uint64_t info_phys)
{
	if (magic != MB2_BOOT_MAGIC)
		panic("not started by a Multiboot2 loader: EAX = 0x%x, expected 0x%x",
		      magic, MB2_BOOT_MAGIC);
	if (info_phys == 0 || (info_phys & 7))
		panic("Multiboot2 info at 0x%lx: not 8-byte aligned or NULL",
		      info_phys);
	const uint32_t *hdr = phys_to_virt(info_phys);
	uint32_t total = hdr[0];
	if (total < 16 || total > INFO_MAX || (total & 7))
		panic("Multiboot2 info at 0x%lx: bad total_size %u", info_phys, total);

	/* Walk the tags once: sizes must stay inside the block, and it must
	 * end with the end tag. */
	uint32_t off = 8;
	for (;;) {
		if (off + sizeof(struct tag) > total)
			panic("Multiboot2 info at 0x%lx: tag at offset %u runs past "
			      "total_size %u", info_phys, off, total);
		const struct tag *t = phys_to_virt(info_phys + off);
		if (t->size < sizeof(struct tag) || t->size > total - off)
			panic("Multiboot2 info at 0x%lx: tag type %u at offset %u has "
			      "bad size %u", info_phys, t->type, off, t->size);
		if (t->type == TAG_END)
			break;
		off += (t->size + 7) & ~7u;
	}
	return total;
}

/* The first tag of a type, or NULL.  mb2_check() validated the framing. */
static const struct tag *find_tag(uint64_t info_phys, uint32_t type)
{
	uint32_t total = *(const uint32_t *)phys_to_virt(info_phys);
	uint32_t off = 8;
	while (off + sizeof(struct tag) <= total) {
		const struct tag *t = phys_to_virt(info_phys + off);
		if (t->type == type)
			return t;
		if (t->type == TAG_END)
			break;
		off += (t->size + 7) & ~7u;
	}
	return 0;
}

const char *mb2_cmdline(uint64_t info_phys)
{
	const struct tag *t = find_tag(info_phys, TAG_CMDLINE);
	if (!t)
		return "";
	const char *s = (const char *)(t + 1);
	size_t max = t->size - sizeof(*t);
	for (size_t i = 0; i < max; i++)
		if (s[i] == 0)
			return s;
	panic("Multiboot2 command line tag at %p is not NUL-terminated", (const void *)t);
}

static uint32_t ks_type_of(uint32_t mb2_type)
{
	switch (mb2_type) {
	case 1: return KS_MEM_USABLE;
	case 3: return KS_MEM_ACPI_RECLAIM;
	case 4: return KS_MEM_ACPI_NVS;
	case 5: return KS_MEM_BAD;
	default: return KS_MEM_RESERVED;
	}
}

void mb2_memmap(uint64_t info_phys, struct ks_memrange *out, size_t *n,
                size_t cap)
{
	const struct tag *t = find_tag(info_phys, TAG_MMAP);
	if (!t)
		panic("Multiboot2 info at 0x%lx has no memory map tag", info_phys);
	if (t->size < 16)
		panic("Multiboot2 memory map tag at %p: size %u is too small",
		      (const void *)t, t->size);
	const uint32_t *h = (const uint32_t *)(t + 1);
	uint32_t esize = h[0];
	if (esize < sizeof(struct mmap_entry) || (esize & 7))
		panic("Multiboot2 memory map tag at %p: entry_size %u (need a "
		      "multiple of 8, >= %u)", (const void *)t, esize,
		      (unsigned)sizeof(struct mmap_entry));
	const uint8_t *p = (const uint8_t *)(h + 2);
	const uint8_t *end = (const uint8_t *)t + t->size;
	for (; p + esize <= end; p += esize) {
		const struct mmap_entry *e = (const struct mmap_entry *)p;
		if (e->len == 0)
			continue;
		if (*n >= cap)
			panic("Multiboot2 memory map at %p has more than %lu entries",
			      (const void *)t, (uint64_t)cap);
		out[*n].base = e->base;
		out[*n].len = e->len;
		out[*n].type = ks_type_of(e->type);
		out[*n].flags = 0;
		(*n)++;
	}
	if (p != end)
		panic("Multiboot2 memory map tag at %p: %ld trailing bytes are not "
		      "a whole entry of %u", (const void *)t, (long)(end - p), esize);
}
