/*
 * fw_cfg over I/O ports (QEMU docs/specs/fw_cfg.txt): write a 16-bit key
 * to the selector port 0x510, read the item's bytes from the data port
 * 0x511 in order.  Key 0 holds "QEMU" (the device is there); key 0x19 is
 * the file directory: a big-endian count, then per file a big-endian size,
 * key and reserved word and a 56-byte NUL-padded name.
 *
 * Without the device the data port reads 0xff, the signature check fails
 * and every lookup returns -1.  The selector and data ports are one shared
 * cursor, so fwcfg_lock makes each lookup atomic.
 */
#include "fwcfg.h"

#include <kspan/platform.h>
#include "cpu.h"
#include "lib/spinlock.h"

#define PORT_SEL   0x510
#define PORT_DATA  0x511
#define KEY_SIG    0x0000
#define KEY_DIR    0x0019

static struct ks_spinlock fwcfg_lock = KS_SPINLOCK_INIT("fwcfg", KS_RANK_FWCFG);

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static void select_key(uint16_t key)
{
	outw(PORT_SEL, key);
}

static void read_bytes(void *dst, size_t n)
{
	uint8_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = inb(PORT_DATA);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int name_eq(const char *a, const char *b, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		if (a[i] != b[i])
			return 0;
		if (!a[i])
			return 1;
	}
	return 0;
}

long ks_fwcfg_read(const char *name, char *buf, size_t cap)
{
	long found = -1;
	ks_irqstate_t st = ks_spin_lock_irqsave(&fwcfg_lock);
	char sig[4];
	select_key(KEY_SIG);
	read_bytes(sig, 4);
	if (sig[0] != 'Q' || sig[1] != 'E' || sig[2] != 'M' || sig[3] != 'U')
		goto out;
	uint8_t cnt[4];
	select_key(KEY_DIR);
	read_bytes(cnt, 4);
	uint32_t n = be32(cnt);
	uint32_t size = 0;
	uint16_t key = 0;
	for (uint32_t i = 0; i < n && i < 4096; i++) {
		struct { uint8_t size[4], key[2], res[2]; char name[56]; } e;
		read_bytes(&e, sizeof(e));
		e.name[55] = 0;
		if (found < 0 && name_eq(e.name, name, sizeof(e.name))) {
			size = be32(e.size);
			key = (uint16_t)(e.key[0] << 8 | e.key[1]);
			found = size;
		}
	}
	if (found >= 0 && cap) {
		size_t take = size < cap - 1 ? size : cap - 1;
		select_key(key);
		read_bytes(buf, take);
		buf[take] = 0;
	}
out:
	ks_spin_unlock_irqrestore(&fwcfg_lock, st);
	return found;
}

int ks_fwcfg_uint(const char *name, uint64_t *out)
{
	char buf[32];
	if (ks_fwcfg_read(name, buf, sizeof(buf)) <= 0)
		return -1;
	uint64_t v = 0;
	size_t i = 0;
	for (; buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(buf[i] - '0');
	if (i == 0 || (buf[i] && buf[i] != '\n'))
		return -1;
	*out = v;
	return 0;
}
