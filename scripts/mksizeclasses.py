#!/usr/bin/env python3
"""Generate kspan's size-class tables: mm/sizeclass.h and mm/sizeclass.c.

This re-derives the size classes of Go 1.8-1.10 (runtime/mksizeclasses.go
of that era) from the rules, then checks the result against Go 1.10's
published table, so the tables in mm/ are reproducible and reviewable.

The rules, for object sizes from 8 B up to _MaxSmallSize = 32 KiB:

  * Alignment grows with size, so the rounding waste of a class stays small:
    8 for the first class, 16 from 16 B (SSE alignment), size/8 from 128 B
    on (bumped at each power of two), capped at 256 from 2 KiB on.
  * Each size gets the smallest number of 8 KiB pages whose tail (the part
    of the span no whole object fits in) is at most 1/8 of the span.
  * When a size needs the same pages and fits the same number of objects
    per span as the class before it, the two merge: the class keeps the
    larger size (same memory per span, fewer classes).
  * Finally each class grows to the largest multiple of 128 B that still
    fits as many objects in its span (8448 B fits 6 in 7 pages, and so
    does 9472 B: the extra bytes cost nothing).  Because of this and the
    merging, a class's span is not always the fewest pages for its size
    (3072 B uses 3 pages, 8 objects), and the gap to the class below can
    exceed one alignment step (768 -> 896 B).

Those are Go 1.10's classes, sizes and pages, checked against its table.
Then kspan grows the spans (never the sizes) by tcmalloc's rule: a span
holds at least as many objects as one batch moves, min(32, 64 KiB / size)
(gperftools' SizeMap: NumMoveSize, and "add pages until there are at
least as many objects in the span as are moved"), still with at most 1/8
tail waste.  A CPU's slow path moves the free objects of one span to its
fast path (a word of free bits at a time), so a 1 KiB class with Go's
1-page spans (8 objects) took a slow path every 8 allocations at best and
every 5 in larson; with 4 pages (32 objects), every 32 at best.  Classes
up to 256 B already hold 32 objects; from 2 KiB on spans are 64 KiB at
most (or the fewest pages for 2 objects with 1/8 waste).

It emits tables only, with the divmul constants that turn "offset / size"
into a multiply and a shift; mm/sizeclass_check.c (hand-written) re-checks
every property the allocator relies on at each init.

Usage: scripts/mksizeclasses.py [--out DIR]   (default: mm/ of this repo)
"""

import argparse
import os
import sys

PAGE_SHIFT = 13
PAGE_SIZE = 1 << PAGE_SHIFT          # heap page (KSPAN_PAGE_SIZE)
MAX_SMALL_SIZE = 32768               # _MaxSmallSize
BATCH_OBJS = 32                      # tcmalloc's kMaxObjectsToMove ...
BATCH_BYTES = 64 << 10               # ... and its 64 KiB per batch
SMALL_SIZE_DIV = 8                   # smallSizeDiv
SMALL_SIZE_MAX = 1024                # smallSizeMax
LARGE_SIZE_DIV = 128                 # largeSizeDiv
TINY_SIZE = 16                       # _TinySize

# Go 1.10 runtime/sizeclasses.go: class_to_size and class_to_allocnpages.
GO110_SIZES = [
    0, 8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
    240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768,
    896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200,
    3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
    10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
    27264, 28672, 32768,
]
GO110_NPAGES = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4,
    5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4,
]


def is_pow2(x):
    return x > 0 and x & (x - 1) == 0


def make_classes():
    """Return [(size, npages)], index = class; class 0 is (0, 0)."""
    classes = [(0, 0)]
    align = 8
    size = align
    while size <= MAX_SMALL_SIZE:
        if is_pow2(size):
            if size >= 2048:
                align = 256
            elif size >= 128:
                align = size // 8
            elif size >= 16:
                align = 16
        assert is_pow2(align), "alignment %d is not a power of two" % align

        # Smallest span whose tail waste is at most 1/8 of it.
        span = PAGE_SIZE
        while span % size > span // 8:
            span += PAGE_SIZE
        npages = span // PAGE_SIZE

        prev_size, prev_npages = classes[-1]
        if (len(classes) > 1 and npages == prev_npages
                and span // size == span // prev_size):
            classes[-1] = (size, npages)   # merge: keep the larger size
        else:
            classes.append((size, npages))
        size += align

    # Grow each class to the largest size that still fits the same number
    # of objects in its span (8448 B: 6 per 7 pages, so 9472 B costs
    # nothing).  Keep multiples of LARGE_SIZE_DIV so that the 128-byte
    # lookup table can still name every class.
    for c in range(1, len(classes)):
        size, npages = classes[c]
        span = npages * PAGE_SIZE
        grown = (span // (span // size)) // LARGE_SIZE_DIV * LARGE_SIZE_DIV
        if grown > size:
            classes[c] = (grown, npages)
    return classes


def batch_objs(size):
    """Objects one batch moves (tcmalloc's NumMoveSize): a span's least."""
    return max(1, min(BATCH_OBJS, BATCH_BYTES // size))


def batch_spans(go_classes):
    """Grow each class's span to the fewest pages, at least Go's, that
    hold batch_objs(size) objects with at most 1/8 tail waste."""
    out = [(0, 0)]
    for size, npages in go_classes[1:]:
        while ((npages * PAGE_SIZE) // size < batch_objs(size)
               or (npages * PAGE_SIZE) % size > (npages * PAGE_SIZE) // 8):
            npages += 1
        out.append((size, npages))
    return out


def divmul(size):
    """ceil(2^32 / size): (off * divmul) >> 32 == off // size."""
    return -(-(1 << 32) // size)


def check_divmul(size, npages):
    """Prove divmul exact for every offset of the span.

    floor(off * m / 2^32) is monotonic in off, so it equals off // size for
    every off iff it does at the first and last offset of each object (and
    of the tail)."""
    m = divmul(size)
    assert m < 1 << 32, "divmul of %d does not fit 32 bits" % size
    span = npages * PAGE_SIZE
    for first in range(0, span, size):
        last = min(first + size, span) - 1
        for off in (first, last):
            assert (off * m) >> 32 == off // size, \
                "divmul inexact for size %d at offset %d" % (size, off)


def size_to_class_tables(sizes):
    def smallest(sz):
        for c in range(1, len(sizes)):
            if sizes[c] >= sz:
                return c
        raise AssertionError("no class for size %d" % sz)

    t8 = [smallest(i * SMALL_SIZE_DIV)
          for i in range(SMALL_SIZE_MAX // SMALL_SIZE_DIV + 1)]
    t128 = [smallest(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV)
            for i in range((MAX_SMALL_SIZE - SMALL_SIZE_MAX)
                           // LARGE_SIZE_DIV + 1)]
    return t8, t128


def verify(go_classes, classes, t8, t128):
    assert [s for s, _ in go_classes] == GO110_SIZES, \
        "sizes differ from Go 1.10: %s" % go_classes
    assert [p for _, p in go_classes] == GO110_NPAGES, \
        "npages differ from Go 1.10: %s" % go_classes
    sizes = [s for s, _ in classes]
    npages = [p for _, p in classes]
    assert sizes == GO110_SIZES
    assert len(classes) == 67
    for c in range(1, len(classes)):
        assert npages[c] >= GO110_NPAGES[c]
        assert (npages[c] * PAGE_SIZE) // sizes[c] >= batch_objs(sizes[c]), \
            "class %d holds less than a batch" % c
    assert sizes[2] == TINY_SIZE
    assert t8[0] == 1, "size 0 must map to class 1"
    for c in range(1, len(classes)):
        span = npages[c] * PAGE_SIZE
        assert span % sizes[c] <= span // 8, "tail waste of class %d" % c
        assert npages[c] < 256
        check_divmul(sizes[c], npages[c])
    # Every size maps to the smallest class that holds it.
    for size in range(0, MAX_SMALL_SIZE + 1):
        if size <= SMALL_SIZE_MAX - 8:
            c = t8[(size + SMALL_SIZE_DIV - 1) // SMALL_SIZE_DIV]
        else:
            c = t128[(size - SMALL_SIZE_MAX + LARGE_SIZE_DIV - 1)
                     // LARGE_SIZE_DIV]
        want = 1
        while sizes[want] < size:
            want += 1
        assert c == want, "size %d: class %d, want %d" % (size, c, want)


def max_objs(classes):
    return max((p * PAGE_SIZE) // s for s, p in classes[1:])


def c_array(ctype, name, dim, values, per_line=12):
    lines = ["const %s %s[%s] = {" % (ctype, name, dim)]
    for i in range(0, len(values), per_line):
        chunk = ", ".join(str(v) for v in values[i:i + per_line])
        lines.append("\t" + chunk + ",")
    lines.append("};")
    return "\n".join(lines) + "\n"


def comment_table(classes):
    out = ["/*",
           " * %5s  %9s  %10s  %7s  %10s  %9s" % (
               "class", "bytes/obj", "bytes/span", "objects", "tail waste",
               "max waste")]
    prev = 0
    for c, (size, npages) in enumerate(classes):
        if c == 0:
            continue
        span = npages * PAGE_SIZE
        objs = span // size
        tail = span - objs * size
        # Worst case: every object holds prev+1 bytes, and the tail is lost.
        worst = ((size - prev - 1) * objs + tail) / span
        out.append(" * %5d  %9d  %10d  %7d  %10d  %8.2f%%" % (
            c, size, span, objs, tail, 100 * worst))
        prev = size
    out.append(" */")
    return "\n".join(out) + "\n"


HEADER = """\
/*
 * Size classes: generated by scripts/mksizeclasses.py; do not edit.
 *
 * Go 1.10's small-object size classes (runtime/sizeclasses.go): requests up
 * to KS_MAX_SMALL_SIZE bytes are rounded up to one of 66 classes; each class
 * is carved from spans of ks_class_to_npages[c] 8 KiB pages holding
 * ks_class_to_nelems[c] objects.  Class 0 means "large": a span of its own.
 * The sizes are Go's; the spans are Go's grown to hold at least one batch,
 * min(32, 64 KiB / size) objects (tcmalloc's rule; the generator says why).
 *
 * Invariants (checked by the generator and again by ks_sizeclass_check() at
 * init): sizes strictly increase and are multiples of 16 from class 2 on;
 * a span's tail waste is at most 1/8 of it and it holds a batch; every
 * size maps to the smallest
 * class that holds it; (off * ks_class_to_divmul[c]) >> 32 == off / size for
 * every offset off in the span.  Read-only data: no locks.
 *
 * tail waste: bytes at the end of a span no object fits in.  max waste: the
 * worst fraction of a span lost when every object is one byte bigger than
 * the class below it.
 */
#ifndef KSPAN_MM_SIZECLASS_H
#define KSPAN_MM_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

@TABLE@
#define KS_NUM_SIZE_CLASSES @NUM@
#define KS_MAX_SMALL_SIZE @MAXSMALL@
#define KS_SMALL_SIZE_DIV @SMALLDIV@
#define KS_SMALL_SIZE_MAX @SMALLMAX@
#define KS_LARGE_SIZE_DIV @LARGEDIV@
#define KS_TINY_SIZE @TINY@
#define KS_TINY_SIZE_CLASS @TINYCLASS@
#define KS_MAX_OBJS_PER_SPAN @MAXOBJS@   /* largest nelems of any class */
#define KS_SIZECLASS_PAGE_SIZE @PAGESIZE@   /* bytes per page in npages */

extern const uint16_t ks_class_to_size[KS_NUM_SIZE_CLASSES];
extern const uint8_t  ks_class_to_npages[KS_NUM_SIZE_CLASSES];   /* 8 KiB pages per span */
extern const uint16_t ks_class_to_nelems[KS_NUM_SIZE_CLASSES];   /* objects per span */
extern const uint32_t ks_class_to_divmul[KS_NUM_SIZE_CLASSES];   /* (off * divmul) >> 32 == off / size for every off < span bytes */
extern const uint8_t  ks_size_to_class8[KS_SMALL_SIZE_MAX / KS_SMALL_SIZE_DIV + 1];
extern const uint8_t  ks_size_to_class128[(KS_MAX_SMALL_SIZE - KS_SMALL_SIZE_MAX) / KS_LARGE_SIZE_DIV + 1];

/* The fewest objects a span of size-byte objects holds (a size class's,
 * and an object cache's, mm/slab.c): one batch, tcmalloc's
 * min(@BATCHOBJS@, @BATCHBYTES@ / size), at least 1. */
static inline uint32_t ks_span_batch(uint64_t size)
{
	uint64_t n = @BATCHBYTES@ / size;
	return n > @BATCHOBJS@ ? @BATCHOBJS@ : n < 1 ? 1 : (uint32_t)n;
}

/* size in 0..KS_MAX_SMALL_SIZE; size 0 maps to class 1 */
static inline unsigned ks_size_to_class(size_t size)
{
	return size <= KS_SMALL_SIZE_MAX - 8
	       ? ks_size_to_class8[(size + KS_SMALL_SIZE_DIV - 1) / KS_SMALL_SIZE_DIV]
	       : ks_size_to_class128[(size - KS_SMALL_SIZE_MAX + KS_LARGE_SIZE_DIV - 1) / KS_LARGE_SIZE_DIV];
}

/* A set of tables to check: the built-in ones (ks_sizeclass_tables) or a
 * copy (tests corrupt one on purpose). */
struct ks_sizeclass_tables {
	const uint16_t *class_to_size;
	const uint8_t  *class_to_npages;
	const uint16_t *class_to_nelems;
	const uint32_t *class_to_divmul;
	const uint8_t  *size_to_class8;
	const uint8_t  *size_to_class128;
};
extern const struct ks_sizeclass_tables ks_sizeclass_tables;

/* Check every invariant above.  Returns 0, or -1 with a message naming the
 * table and entry in err[0..cap). */
int ks_sizeclass_verify(const struct ks_sizeclass_tables *t, char *err,
                        size_t cap);

/* Check the built-in tables; ks_panic with the message on a mismatch. */
void ks_sizeclass_check(void);

#endif
"""

SOURCE_HEAD = """\
/*
 * Size-class tables: generated by scripts/mksizeclasses.py; do not edit.
 *
 * See mm/sizeclass.h for what the tables mean; mm/sizeclass_check.c
 * checks them at init.  Read-only data.
 */
#include "mm/sizeclass.h"

#include <kspan/kmalloc.h>

_Static_assert(KS_SIZECLASS_PAGE_SIZE == KSPAN_PAGE_SIZE,
               "size classes were generated for another page size");
_Static_assert(KS_NUM_SIZE_CLASSES == KSPAN_NUM_CLASSES &&
               KS_MAX_SMALL_SIZE == KSPAN_MAX_SMALL,
               "kmalloc.h and the size-class tables disagree");

"""

SOURCE_TAIL = """\
const struct ks_sizeclass_tables ks_sizeclass_tables = {
	ks_class_to_size, ks_class_to_npages, ks_class_to_nelems,
	ks_class_to_divmul, ks_size_to_class8, ks_size_to_class128,
};
"""


def render(classes, t8, t128):
    sizes = [s for s, _ in classes]
    npages = [p for _, p in classes]
    nelems = [0] + [(p * PAGE_SIZE) // s for s, p in classes[1:]]
    divs = [0] + [divmul(s) for s, _ in classes[1:]]
    mo = max_objs(classes)
    assert mo == max(nelems) and mo < 1 << 16

    subst = {
        "@TABLE@": comment_table(classes),
        "@NUM@": str(len(classes)),
        "@MAXSMALL@": str(MAX_SMALL_SIZE),
        "@SMALLDIV@": str(SMALL_SIZE_DIV),
        "@SMALLMAX@": str(SMALL_SIZE_MAX),
        "@LARGEDIV@": str(LARGE_SIZE_DIV),
        "@TINY@": str(TINY_SIZE),
        "@TINYCLASS@": str(sizes.index(TINY_SIZE)),
        "@MAXOBJS@": str(mo),
        "@PAGESIZE@": str(PAGE_SIZE),
        "@BATCHOBJS@": str(BATCH_OBJS),
        "@BATCHBYTES@": str(BATCH_BYTES),
    }
    header = HEADER
    for k, v in subst.items():
        header = header.replace(k, v)
    assert "@" not in header

    src = SOURCE_HEAD
    src += c_array("uint16_t", "ks_class_to_size", "KS_NUM_SIZE_CLASSES",
                   sizes)
    src += "\n" + c_array("uint8_t", "ks_class_to_npages",
                          "KS_NUM_SIZE_CLASSES", npages, 16)
    src += "\n" + c_array("uint16_t", "ks_class_to_nelems",
                          "KS_NUM_SIZE_CLASSES", nelems)
    src += "\n" + c_array("uint32_t", "ks_class_to_divmul",
                          "KS_NUM_SIZE_CLASSES",
                          ["%uu" % d for d in divs], 6)
    src += "\n" + c_array("uint8_t", "ks_size_to_class8",
                          "KS_SMALL_SIZE_MAX / KS_SMALL_SIZE_DIV + 1", t8, 16)
    src += "\n" + c_array("uint8_t", "ks_size_to_class128",
                          "(KS_MAX_SMALL_SIZE - KS_SMALL_SIZE_MAX) / "
                          "KS_LARGE_SIZE_DIV + 1", t128, 16)
    src += "\n" + SOURCE_TAIL
    return header, src


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "mm"),
                    help="directory for sizeclass.h and sizeclass.c")
    args = ap.parse_args()

    go_classes = make_classes()
    classes = batch_spans(go_classes)
    t8, t128 = size_to_class_tables([s for s, _ in classes])
    verify(go_classes, classes, t8, t128)
    header, src = render(classes, t8, t128)

    os.makedirs(args.out, exist_ok=True)
    for name, text in (("sizeclass.h", header), ("sizeclass.c", src)):
        with open(os.path.join(args.out, name), "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
