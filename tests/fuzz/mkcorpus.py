#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses into tests/fuzz/corpus/NAME/.

Each seed is a small operation program in the input format of
tests/fuzz/fuzz_engine.c (see tests/fuzz/README.md): one opcode byte, then
the operation's argument bytes.  fuzz_smp's inputs are a header byte and
records of 8 bytes, one operation each.  The seeds give each fuzzer a start
in every area: sizes at every class boundary, large objects and page
blocks, aligned allocation, kcalloc overflow, krealloc in all directions,
frees from other CPUs, out-of-memory under a commit limit, impossible
requests, guarded objects, the statistics cross-check; filling the arena
(fuzz_exhaust), guard-page sampling (fuzz_debugheap), objects handed
between threads (fuzz_smp).

Usage: tests/fuzz/mkcorpus.py [OUTDIR]   (default: the corpus folder next
to this script).  The output is deterministic: rerunning it rewrites the
same files; files of other names in the harness folders are left alone.
"""
import os
import sys

(OP_MALLOC, OP_ZALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_PAGES, OP_FREE,
 OP_KSIZE, OP_DRAIN, OP_SCAVENGE, OP_CHECK, OP_ON_CPU, OP_OOM, OP_BURST,
 OP_IMPOSSIBLE, OP_STATS, OP_GUARDED, OP_EXHAUST, OP_SAMPLE, OP_PASS,
 OP_CACHE_ALLOC, OP_CACHE_SHRINK, OP_CACHE_CYCLE) = range(23)

NUM_CLASSES = 67      # KSPAN_NUM_CLASSES (class 0: large objects)


def size(n):
    """Argument bytes that make read_size() return exactly n."""
    if n <= 32768:
        return [2, n & 255, n >> 8]                 # mode 2: v % 32769
    assert n <= 4 << 20
    v = n >> 8
    return [7, v & 255, v >> 8, n & 255]            # mode 7


def boundary(cls, delta):
    """read_size() mode 1: the size of class cls + delta (-2..2)."""
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


def scavenge():
    return [OP_SCAVENGE, 0xff]          # the key byte (warm heaps)


def oom(units, scavenge_first=False):
    """A commit limit of units x 64 KiB more; with scavenge_first, the free
    pages of a warm heap are decommitted first.  oom_off() lifts it."""
    a = units | (0xc0 if scavenge_first else 0)
    return [OP_OOM, a if a else 0x40]


def oom_off():
    return [OP_OOM, 0]


def burst(slot, n, count, pattern):
    return [OP_BURST, slot] + size(n) + [count - 1, pattern]


def cat(*ops):
    return sum(ops, [])


# ---- seeds for the one-context harnesses --------------------------------

COMMON = {}

# Ordinary allocation and free, a few sizes of each range.
COMMON["basic"] = cat(
    malloc(0, 0), malloc(1, 1), malloc(2, 8), malloc(3, 9), malloc(4, 100),
    zalloc(5, 1000), malloc(6, 32768), malloc(7, 32769), malloc(8, 100000),
    ksize(3), ksize(7), free(1), free(4), malloc(1, 24), [OP_CHECK],
    free(0), free(2), free(3), free(5), free(6), free(7), free(8), free(1))

# Both sides of every class boundary, then holes.
b = []
for cls in range(1, NUM_CLASSES):
    for d, slot in ((-1, cls % 32), (0, (cls + 11) % 32), (1, (cls + 22) % 32)):
        b += [OP_MALLOC, slot] + boundary(cls, d)
    if cls % 16 == 0:
        b += [OP_STATS]
COMMON["class-boundaries"] = b

# Bursts of one class with objects freed in between, then a drain.
COMMON["bursts"] = cat(
    burst(0, 48, 8, 0x55), burst(8, 4096, 8, 0xAA), burst(16, 1, 8, 0x0F),
    [OP_DRAIN], [OP_STATS], burst(24, 32768, 8, 0x33), [OP_CHECK])

# Large objects, page blocks, the treap (>= 128 pages), scavenging.
COMMON["large"] = cat(
    malloc(0, 32769), malloc(1, 40000), malloc(2, 1 << 20),
    malloc(3, 1200 << 10), pages(4, 1), pages(5, 150), pages(6, 129),
    free(1), free(5), scavenge(), malloc(1, 1 << 20), pages(5, 2),
    ksize(2), ksize(4), [OP_STATS], free(0), free(2), free(3), free(4),
    free(5), free(6), [OP_CHECK])

# krealloc: grow, shrink, across the small/large boundary, to 0, from NULL.
COMMON["realloc"] = cat(
    malloc(0, 10), realloc(0, 20), realloc(0, 200), realloc(0, 5000),
    realloc(0, 40000), realloc(0, 100000), realloc(0, 40000),
    realloc(0, 300), realloc(0, 0), realloc(1, 77), realloc(1, 70),
    pages(2, 3), realloc(2, 100), realloc(3, 0), [OP_STATS])

# kmalloc_aligned: every power of two 1 B .. 1 MiB, and invalid ones.
a = []
for shift in range(21):
    a += aligned(shift % 32, [1, 24, 100, 5000, 40000][shift % 5], shift)
a += aligned(30, 64, 3, 0x80) + aligned(31, 64, 5, 0xC0)
a += [OP_STATS]
COMMON["aligned"] = a

# kcalloc: zeroed, n = 0, and overflowing products.
COMMON["calloc"] = cat(
    [OP_CALLOC, 0, 10, 100, 0], [OP_CALLOC, 1, 0, 50, 0],
    [OP_CALLOC, 2, 100, 0, 0x80], [OP_CALLOC, 3, 127, 0xff, 0x7f],
    [OP_CALLOC, 4, 0x85, 0x10, 0x00], [OP_CALLOC, 5, 0xbf, 0xff, 0xff],
    zalloc(6, 70000), free(0), [OP_CALLOC, 0, 3, 8, 0])

# Objects allocated on one CPU and freed on another (remote frees), with
# drains in between.
r = []
for i in range(20):
    r += on_cpu(i % 2, malloc(i, 16 + 8 * i))
for i in range(0, 20, 2):
    r += free(i)
r += on_cpu(0, free(1)) + on_cpu(1, free(3)) + [OP_DRAIN]
for i in range(20, 32):
    r += malloc(i, 48)
r += on_cpu(0, [OP_DRAIN])
for i in range(20, 32, 3):
    r += on_cpu(1, free(i))
r += on_cpu(1, [OP_DRAIN]) + [OP_STATS, OP_CHECK]
COMMON["remote"] = r

# Requests that must fail, with live objects around.
i = malloc(0, 64) + malloc(1, 40000)
for k in range(8):
    i += [OP_IMPOSSIBLE, k | (0 << 3)]
i += [OP_IMPOSSIBLE, 7 | (1 << 3)] + [OP_CHECK]
COMMON["impossible"] = i

# Guarded objects: sizes 0 .. 4080, one too big, realloc out of the pool,
# freed and reused, on another CPU too.
g = []
for k, n in enumerate([0, 1, 15, 16, 100, 4080, 4081, 2000]):
    g += [OP_GUARDED, k, n & 255, n >> 8]
g += realloc(4, 50) + realloc(3, 8) + free(5) + free(1)
g += on_cpu(0, [OP_GUARDED, 9, 64, 0]) + on_cpu(1, free(9))
g += [OP_GUARDED, 1, 0x00, 0x08, OP_STATS]
COMMON["guarded"] = g

# Out of memory under a commit limit, then recovery (in a warm heap the
# free pages are decommitted first, so that allocations need commits).
OOM_WARM = cat(
    malloc(0, 100), oom(3, True), malloc(1, 1 << 20), malloc(2, 200000),
    pages(3, 64), burst(10, 8192, 8, 0), realloc(0, 1 << 20),
    [OP_CHECK], oom_off(), malloc(1, 1 << 20), [OP_STATS])
OOM_COLD = cat(
    malloc(0, 100), oom(3), malloc(1, 1 << 20), malloc(2, 200000),
    pages(3, 64), burst(10, 8192, 8, 0), realloc(0, 3 << 20),
    [OP_CHECK], oom_off(), malloc(1, 1 << 20), [OP_STATS])

# Inputs that found bugs, kept once fixed.
# mheap (fixed in 2cbb4f9): kmalloc_aligned whose commit fails under a
# commit limit left the split-off unaligned head and the span as two
# adjacent free spans (mheap_check: "free span ... follows a free span").
# Object caches: each of the engine's caches (the constructed one, the
# poisoned and red-zoned one), zeroed, freed with kmem_cache_free and kfree,
# shrink, ksize of cache objects, caches of their own created and destroyed.
s = []
for k in range(40):
    s += [OP_CACHE_ALLOC, k % 32, k % 16]
s += free(1) + free(3) + [OP_KSIZE, 4] + [OP_CACHE_SHRINK, 0, OP_DRAIN]
for k in range(0, 32, 3):
    s += [OP_CACHE_ALLOC, k, (k * 5) % 16]
s += [OP_CACHE_CYCLE] + size(40) + [50, 0] + [OP_CACHE_CYCLE] + size(700) + [30, 1]
s += [OP_CACHE_CYCLE] + size(1) + [63, 2] + [OP_CACHE_CYCLE] + size(3000) + [20, 3]
s += [OP_STATS, OP_CHECK] + on_cpu(0x30, free(5) + free(6) + free(7) + free(8))
s += [OP_CACHE_SHRINK, 1, OP_CACHE_SHRINK, 2, OP_STATS]
COMMON["caches"] = s

REGRESS = {"mheap-aligned-oom": cat(
    malloc(0, 8), scavenge(), oom(0), aligned(1, 24, 14), [OP_CHECK])}

HEAP = dict(COMMON, oom=OOM_WARM)

# fuzz_exhaust: the arena filled to the last page with page blocks, with
# live objects around, then under a commit limit; full sizes.
EXHAUST = dict(COMMON, oom=OOM_COLD)
EXHAUST["large"] = cat(
    malloc(0, 32769), malloc(1, 40000), malloc(2, 1 << 20),
    malloc(3, (3 << 20) + 5), pages(4, 1), pages(5, 300), pages(6, 129),
    free(1), free(5), scavenge(), malloc(1, 2 << 20), pages(5, 2),
    ksize(2), ksize(4), [OP_STATS], free(0), free(2), free(3), free(4),
    free(5), free(6), scavenge(), [OP_CHECK])
# (OP_EXHAUST runs once per input, with a key byte >= 0xf0.)
EXHAUST["exhaust"] = cat(
    malloc(0, 100), pages(1, 7), malloc(2, 1 << 20),
    [OP_EXHAUST, 0xf0, 0, 0], [OP_CHECK], [OP_STATS])
EXHAUST["exhaust-big"] = cat(
    burst(0, 3000, 8, 0x5a), [OP_EXHAUST, 0xff, 0xe8, 0x03], [OP_CHECK],
    [OP_STATS])
EXHAUST["exhaust-oom"] = cat(
    malloc(0, 100), oom(40), [OP_EXHAUST, 0xf8, 0x30, 0], oom_off(),
    [OP_STATS])
for k in ("bursts", "calloc", "guarded", "impossible"):
    del EXHAUST[k]           # fuzz_heap's; keep this corpus small

# fuzz_debugheap: red zones right after every size, kmalloc(0), guard-page
# sampling of kmalloc (OP_SAMPLE n: every (n % 8) + 1-th kmalloc; 0 off).
DEBUG = {k: COMMON[k] for k in ("basic", "class-boundaries", "realloc",
                                "aligned", "calloc", "guarded", "remote")}
DEBUG["oom"] = OOM_WARM
DEBUG["zero-sizes"] = cat(
    malloc(0, 0), malloc(1, 0), zalloc(2, 0), [OP_CALLOC, 3, 0, 7, 0],
    realloc(0, 0), realloc(4, 0), ksize(0), ksize(1), aligned(5, 0, 6),
    [OP_STATS], free(1), realloc(2, 1), realloc(2, 0))
s = [OP_SAMPLE, 1]                        # every 2nd kmalloc guarded
for k in range(24):
    s += malloc(k, [0, 1, 16, 100, 1000, 4000, 4080, 5000][k % 8])
s += realloc(3, 2000) + realloc(5, 10) + zalloc(25, 300) + [OP_STATS]
s += [OP_SAMPLE, 0] + malloc(26, 100) + free(0) + free(2) + on_cpu(0, free(4))
DEBUG["sample"] = s
DEBUG["caches"] = COMMON["caches"]

# ---- fuzz_smp: a header byte and 8-byte records ------------------------


def rec(op):
    assert len(op) <= 8
    return op + [0] * (8 - len(op))


def smp(threads, parallel, per_step, steps):
    """steps: a list of steps, each a list (one per thread) of per_step
    operations."""
    h = (threads - 2) | (4 if parallel else 0) | ((per_step - 1) << 3)
    out = [h]
    for st in steps:
        assert len(st) == threads
        for ops in st:
            assert len(ops) == per_step
            for op in ops:
                out += rec(op)
    return out


def pass_to(slot, k, hint=0):
    """Hand slot's object to the k-th other thread (0-based)."""
    return [OP_PASS, slot, k, hint]


SMP = {}
# Two threads in lockstep: each allocates, passes to the other, which
# frees (remote free) or keeps and frees later.
st = []
for i in range(6):
    st.append([[malloc(i, 48 + 16 * i), pass_to(i, 0, i)],
               [malloc(i, 32768 if i == 3 else 100), pass_to(i, 0, 10 + i)]])
st.append([[free(10), [OP_STATS]], [free(2), [OP_DRAIN]]])
SMP["lockstep-2"] = smp(2, False, 2, st)
# Three threads at once: bursts, passes round the ring, drains, stats.
st = []
for i in range(5):
    st.append([[burst(4 * i, 64, 8, 0x00), pass_to(4 * i, i % 2, 20 + i)]
               for _ in range(3)])
st.append([[[OP_DRAIN], [OP_STATS]] for _ in range(3)])
for i in range(3):
    st.append([[pass_to(20 + i, 0), free(4 * i + 1)] for _ in range(3)])
st.append([[[OP_CHECK], [OP_DRAIN]] for _ in range(3)])
SMP["parallel-3"] = smp(3, True, 2, st)
# Four threads in lockstep: large objects and page blocks passed on,
# krealloc of received objects, a commit limit.
st = []
for i in range(4):
    st.append([[malloc(i, 40000 + 1000 * t), pages(8 + i, 2 + t),
                pass_to(i, t % 3), pass_to(8 + i, (t + 1) % 3, 16)]
               for t in range(4)])
st.append([[realloc(16, 300), realloc(17, 70000), [OP_STATS], oom(2, True)]
           for _ in range(4)])
st.append([[malloc(24, 100000), oom_off(), [OP_DRAIN], free(16)]
           for _ in range(4)])
SMP["lockstep-4"] = smp(4, False, 4, st)
# Four threads at once, one operation per step: small objects ping-pong.
st = []
for i in range(12):
    if i % 2 == 0:
        st.append([[malloc(i % 32, 16 + 24 * t)] for t in range(4)])
    else:
        st.append([[pass_to((i - 1) % 32, t % 3, i)] for t in range(4)])
SMP["parallel-4"] = smp(4, True, 1, st)
# Four threads: cache objects passed round and freed on other CPUs.
st = []
for i in range(12):
    if i % 2 == 0:
        st.append([[[OP_CACHE_ALLOC, i % 32, (t + i) % 16]] for t in range(4)])
    else:
        st.append([[pass_to((i - 1) % 32, t % 3, i)] for t in range(4)])
st.append([[[OP_DRAIN]] for _ in range(4)])
SMP["caches-4"] = smp(4, True, 1, st)

# Regressions of the debug heap only: ksize() of a kpages_alloc block
# panicked, "heap overflow: the red zone trailer of this 16384-byte block
# is overwritten" (the debug heap read a red-zone trailer that kpages
# blocks do not have).
DEBUG_REGRESS = dict(REGRESS)
DEBUG_REGRESS["ksize-kpages"] = cat(pages(0, 2), ksize(0))

CORPORA = {
    "heap": (HEAP, REGRESS),
    "exhaust": (EXHAUST, REGRESS),
    "debugheap": (DEBUG, DEBUG_REGRESS),
    "smp": (SMP, {}),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    for harness, (seeds, regress) in sorted(CORPORA.items()):
        d = os.path.join(out, harness)
        os.makedirs(d, exist_ok=True)
        for prefix, progs in (("seed-", seeds), ("regress-", regress)):
            for name, prog in sorted(progs.items()):
                data = bytes(prog)
                with open(os.path.join(d, prefix + name), "wb") as f:
                    f.write(data)
                print(f"{harness}/{prefix}{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
