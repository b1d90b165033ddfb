#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/fuzz_heap.c into tests/fuzz/corpus/.

Each seed is a small operation program in the harness's input format (see
the opcode list and read_size() in fuzz_heap.c): one opcode byte, then the
operation's argument bytes.  The seeds give the fuzzer a start in every
area: sizes at every class boundary, large objects and page blocks,
aligned allocation, kcalloc overflow, krealloc in all directions, frees
from other CPUs, out-of-memory under a commit limit, impossible requests
guarded objects, filling the whole arena, and the statistics
cross-check.

Usage: tests/fuzz/mkcorpus.py [OUTDIR]   (default: the corpus folder next
to this script).  The output is deterministic: rerunning it rewrites the
same files.
"""
import os
import sys

(OP_MALLOC, OP_ZALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_PAGES, OP_FREE,
 OP_KSIZE, OP_DRAIN, OP_SCAVENGE, OP_CHECK, OP_ON_CPU, OP_OOM, OP_BURST,
 OP_IMPOSSIBLE, OP_STATS, OP_GUARDED, OP_EXHAUST) = range(18)

# Size classes (mm/sizeclass.h), for the boundary seeds.
CLASS_SIZES = [0, 8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192,
               208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512,
               576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
               2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144,
               6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288,
               13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
               27264, 28672, 32768]
PAGE = 8192


def size(n):
    """Argument bytes that make read_size() return exactly n."""
    if n <= 32768:
        return [2, n & 255, n >> 8]                 # mode 2: v % 32769
    assert n <= 4 << 20
    v = n >> 8
    return [7, v & 255, v >> 8, n & 255]            # mode 7


def boundary(cls, delta):
    """read_size() mode 1: class size + delta (-2..2)."""
    v = cls - 1
    return [1 | ((delta + 2) << 3), v & 255, v >> 8]


def malloc(slot, n):
    return [OP_MALLOC, slot] + size(n)


def zalloc(slot, n):
    return [OP_ZALLOC, slot] + size(n)


def realloc(slot, n):
    return [OP_REALLOC, slot] + size(n)


def aligned(slot, n, shift, invalid=0):
    return [OP_ALIGNED, slot] + size(n) + [shift | invalid]


def pages(slot, n):
    return [OP_PAGES, slot, (n - 1) & 255, (n - 1) >> 8]


def free(slot):
    return [OP_FREE, slot]


def ksize(slot):
    return [OP_KSIZE, slot]


def on_cpu(w, op):
    return [OP_ON_CPU, w] + op


SEEDS = {}

# Ordinary allocation and free, a few sizes of each range.
SEEDS["basic"] = sum([
    malloc(0, 0), malloc(1, 1), malloc(2, 8), malloc(3, 9), malloc(4, 100),
    zalloc(5, 1000), malloc(6, 32768), malloc(7, 32769), malloc(8, 100000),
    ksize(3), ksize(7), free(1), free(4), malloc(1, 24), [OP_CHECK],
    free(0), free(2), free(3), free(5), free(6), free(7), free(8), free(1),
], [])

# Both sides of every class boundary, then holes.
b = []
for cls in range(1, 67):
    for d, slot in ((-1, cls % 64), (0, (cls + 21) % 64), (1, (cls + 42) % 64)):
        b += [OP_MALLOC, slot] + boundary(cls, d)
    if cls % 8 == 0:
        b += [OP_CHECK]
SEEDS["class-boundaries"] = b

# Bursts of one class with every other object freed, then a drain.
SEEDS["bursts"] = sum([
    [OP_BURST, 0] + size(48) + [31, 0x55],
    [OP_BURST, 32] + size(4096) + [20, 0xAA],
    [OP_BURST, 10] + size(1) + [32, 0x0F],
    [OP_DRAIN], [OP_STATS],
    [OP_BURST, 40] + size(32768) + [10, 0x33],
    [OP_CHECK],
], [])

# Large objects, page blocks, the treap (>= 128 pages), scavenging.
SEEDS["large"] = sum([
    malloc(0, 32769), malloc(1, 40000), malloc(2, 1 << 20),
    malloc(3, (3 << 20) + 5), pages(4, 1), pages(5, 300), pages(6, 129),
    free(1), free(5), [OP_SCAVENGE], malloc(1, 2 << 20), pages(5, 2),
    ksize(2), ksize(4), [OP_STATS], free(0), free(2), free(3), free(4),
    free(5), free(6), [OP_SCAVENGE], [OP_CHECK],
], [])

# krealloc: grow, shrink, across the small/large boundary, to 0, from NULL.
SEEDS["realloc"] = sum([
    malloc(0, 10), realloc(0, 20), realloc(0, 200), realloc(0, 5000),
    realloc(0, 40000), realloc(0, 1 << 20), realloc(0, 40000),
    realloc(0, 300), realloc(0, 0), realloc(1, 77), realloc(1, 70),
    pages(2, 3), realloc(2, 100), realloc(3, 0), [OP_STATS],
], [])

# kmalloc_aligned: every power of two 1 B .. 1 MiB, and invalid ones.
a = []
for shift in range(21):
    a += aligned(shift, [1, 24, 100, 5000, 40000][shift % 5], shift)
a += aligned(30, 64, 3, 0x80) + aligned(31, 64, 5, 0xC0)
a += [OP_STATS]
SEEDS["aligned"] = a

# kcalloc: zeroed, n = 0, and overflowing products.
SEEDS["calloc"] = sum([
    [OP_CALLOC, 0, 10, 100, 0], [OP_CALLOC, 1, 0, 50, 0],
    [OP_CALLOC, 2, 100, 0, 0x80], [OP_CALLOC, 3, 127, 0xff, 0x7f],
    [OP_CALLOC, 4, 0x85, 0x10, 0x00], [OP_CALLOC, 5, 0xbf, 0xff, 0xff],
    zalloc(6, 70000), free(0), [OP_CALLOC, 0, 3, 8, 0],
], [])

# Objects allocated on one CPU and freed on another (remote frees), with
# drains in between.
r = []
for i in range(20):
    r += on_cpu(i % 2, malloc(i, 16 + 8 * i))
for i in range(0, 20, 2):
    r += free(i)
r += on_cpu(0, free(1)) + on_cpu(1, free(3)) + [OP_DRAIN]
for i in range(20, 40):
    r += malloc(i, 48)
r += on_cpu(0, [OP_DRAIN])
for i in range(20, 40, 3):
    r += on_cpu(1, free(i))
r += on_cpu(1, [OP_DRAIN]) + [OP_STATS, OP_CHECK]
SEEDS["remote"] = r

# Out of memory under a commit limit, then recovery.
SEEDS["oom"] = sum([
    malloc(0, 100), [OP_OOM, 3], malloc(1, 1 << 20), malloc(2, 200000),
    pages(3, 64), [OP_BURST, 10] + size(8192) + [30, 0], realloc(0, 3 << 20),
    [OP_CHECK], [OP_OOM, 0], malloc(1, 1 << 20), [OP_STATS],
], [])

# Requests that must fail, with live objects around.
i = malloc(0, 64) + malloc(1, 40000)
for k in range(8):
    i += [OP_IMPOSSIBLE, k | (0 << 3)]
i += [OP_IMPOSSIBLE, 7 | (1 << 3)] + [OP_CHECK]
SEEDS["impossible"] = i

# Guarded objects: sizes 0 .. 4080, one too big, realloc out of the pool,
# freed and reused, on another CPU too.
g = []
for k, n in enumerate([0, 1, 15, 16, 100, 4080, 4081, 2000]):
    g += [OP_GUARDED, k, n & 255, n >> 8]
g += realloc(4, 50) + realloc(3, 8) + free(5) + free(1)
g += on_cpu(0, [OP_GUARDED, 9, 64, 0]) + on_cpu(1, free(9))
g += [OP_GUARDED, 1, 0x00, 0x08, OP_STATS]
SEEDS["guarded"] = g

# The arena filled to the last page with page blocks, with live objects
# around, then under a commit limit.
# (OP_EXHAUST runs once per input, with a key byte >= 0xf0.)
SEEDS["exhaust"] = sum([
    malloc(0, 100), pages(1, 7), malloc(2, 1 << 20),
    [OP_EXHAUST, 0xf0, 0, 0], [OP_CHECK], [OP_STATS],
], [])
SEEDS["exhaust-big"] = sum([
    [OP_BURST, 0] + size(3000) + [20, 0x5a],
    [OP_EXHAUST, 0xff, 0xe8, 0x03], [OP_CHECK], [OP_STATS],
], [])
SEEDS["exhaust-oom"] = sum([
    malloc(0, 100), [OP_OOM, 40], [OP_EXHAUST, 0xf8, 0x30, 0], [OP_OOM, 0],
    [OP_STATS],
], [])

# Inputs that found bugs, kept once fixed (written as regress-NAME).
REGRESS = {}
# mheap (fixed in 2cbb4f9): kmalloc_aligned whose commit fails under a
# commit limit left the split-off unaligned head and the span as two
# adjacent free spans (mheap_check: "free span ... follows a free span").
REGRESS["mheap-aligned-oom"] = sum([
    malloc(0, 8), [OP_SCAVENGE], [OP_OOM, 1], aligned(1, 24, 14), [OP_CHECK],
], [])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for prefix, progs in (("seed-", SEEDS), ("regress-", REGRESS)):
        for name, prog in sorted(progs.items()):
            data = bytes(prog)
            with open(os.path.join(out, prefix + name), "wb") as f:
                f.write(data)
            print(f"{prefix}{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
