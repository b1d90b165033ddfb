/*
 * Writers of the heap bitmap (see mm/mbitmap.h for the layout).  Readers are
 * the inline functions in the header.
 */
#include "lib/config.h"
#if KSPAN_GC
#include "mm/mbitmap.h"

void heapbits_clear(uintptr_t addr, uintptr_t nwords)
{
	struct heapbits h = heapbits_for(addr);
	for (uintptr_t i = 0; i < nwords; i++) {
		*h.byte &= (uint8_t)~((KS_BIT_POINTER | KS_BIT_SCAN) << h.shift);
		h = heapbits_next(h);
	}
}

void heapbits_set_object(uintptr_t addr, uintptr_t nwords,
                         const uint8_t *ptrmask)
{
	uintptr_t last = 0;
	bool any = false;
	for (uintptr_t i = 0; i < nwords; i++) {
		if (!ptrmask || (ptrmask[i / 8] >> (i % 8)) & 1) {
			last = i;
			any = true;
		}
	}
	struct heapbits h = heapbits_for(addr);
	for (uintptr_t i = 0; i < nwords; i++) {
		uint8_t bits = 0;
		if (!ptrmask || (ptrmask[i / 8] >> (i % 8)) & 1)
			bits |= KS_BIT_POINTER;
		if (any && i <= last)
			bits |= KS_BIT_SCAN;
		*h.byte = (uint8_t)((*h.byte & ~((KS_BIT_POINTER | KS_BIT_SCAN) << h.shift)) |
		                    (bits << h.shift));
		h = heapbits_next(h);
	}
}
#endif /* KSPAN_GC */
