/*
 * A "kernel" for tests/lib/check-lib.sh that uses names kspan uses
 * internally.  It is only linked, never run: the link must succeed, and
 * the library must keep calling its own functions of these names.
 */
#include <stddef.h>
#include <stdint.h>
#include <kspan/kmalloc.h>
#include <kspan/platform.h>

int arena_init(void);
int arena_init(void) { return 1; }
void *mheap_alloc(int x);
void *mheap_alloc(int x) { return (void *)(uintptr_t)x; }
void gc_mark(void);
void gc_mark(void) { }
void ks_panic(const char *fmt, ...);
void ks_panic(const char *fmt, ...) { (void)fmt; for (;;) { } }

/* The hooks and mem* functions a kernel provides (stubs: never run). */
void ks_plat_write(const char *s, size_t n) { (void)s; (void)n; }
void ks_plat_abort(const char *msg) { (void)msg; for (;;) { } }
unsigned ks_plat_cpu_id(void) { return 0; }
ks_irqstate_t ks_plat_irq_save(void) { return 0; }
void ks_plat_irq_restore(ks_irqstate_t st) { (void)st; }
void ks_plat_cpu_relax(void) { }
uint64_t ks_plat_now(void) { return 0; }
void *ks_plat_reserve(size_t len, size_t align) { (void)len; (void)align; return NULL; }
int ks_plat_commit(void *a, size_t n) { (void)a; (void)n; return -1; }
void ks_plat_decommit(void *a, size_t n) { (void)a; (void)n; }
void *memset(void *d, int c, size_t n);
void *memset(void *d, int c, size_t n) { unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }
void *memcpy(void *d, const void *s, size_t n);
void *memcpy(void *d, const void *s, size_t n) { unsigned char *p = d; const unsigned char *q = s; while (n--) *p++ = *q++; return d; }
void *memmove(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n) { return memcpy(d, s, n); }
int memcmp(const void *a, const void *b, size_t n);
int memcmp(const void *a, const void *b, size_t n) { (void)a; (void)b; (void)n; return 0; }

void clash_entry(void);
void clash_entry(void)
{
	struct kspan_config cfg = { .arena_bytes = 64u << 20 };
	if (kspan_init(&cfg) == 0 && arena_init() && mheap_alloc(1))
		kfree(kmalloc(16));
	gc_mark();
	for (;;) { }
}
