#!/usr/bin/env python3
"""Render a kspan heap dump as a PNG map of the arena.

Reads the output of kspan_dump_heap() (format in include/kspan/kmalloc.h)
from a file or stdin; the dump may sit inside a serial log with other
lines around it: the lines from "kspan-heapdump v1" to "end" are used (the
last complete dump when there are several, or --index N).

The map draws the used part of the arena (the `used` pages), one cell per
8 KiB page, 256 pages to a row, in address order (left to right, top to
bottom).  Cells are coloured by what the page belongs to:

    free span, committed      light grey
    free span, decommitted    white with a grey dot (memory given back)
    large object              blue
    kpages_alloc block        purple
    object cache span         magenta (kmem_cache, include/kspan/slab.h),
                              pale to full by occupancy as small spans
    small-object span         a colour per size class (red for 8 B through
                              orange, yellow and green to cyan for 32 KiB),
                              pale when few of its objects are in use and
                              full when all are (occupancy = in use/objects)

The first page of every span is drawn a little darker, so neighbouring
spans of the same kind stay apart.  Arenas with more than 65536 used pages
are drawn with several pages per cell (their colours averaged).  A title
gives the totals, a legend the colours.

With matplotlib (Agg) importable the figure is drawn with it (Debian's
/usr/bin/python3 has python3-matplotlib); otherwise, or with
--backend stdlib, the PNG is written with the standard library alone (a
small PNG encoder and a built-in 5x7 pixel font), so the script works on
any python3.

Usage: scripts/heapmap.py [DUMP|-] [-o OUT.png] [--index N]
                          [--backend auto|matplotlib|stdlib] [--cols N]
       scripts/heapmap.py [DUMP|-] --verify OUT.png
Prints the totals on stdout.  --verify decodes OUT.png (stdlib) and checks
it is a well-formed PNG showing the colours the dump calls for (the tests
use it).  Exit status: 0 ok, 1 --verify found a problem, 2 no dump or a
malformed one.
"""
import argparse
import colorsys
import struct
import sys
import zlib

KINDS = ("free", "small", "large", "pages", "cache")
NUM_CLASSES = 67
# Size class -> object size (mm/sizeclass.h), for the legend.
CLASS_SIZES = [0, 8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192,
               208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512,
               576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
               2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144,
               6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288,
               13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
               27264, 28672, 32768]
MAX_CELLS = 256 * 256

FREE_COMMITTED = (200, 200, 200)
FREE_DECOMMITTED = (250, 250, 250)
DECOMMITTED_DOT = (165, 165, 165)
LARGE = (40, 90, 190)
PAGES = (125, 55, 160)
CACHE = (215, 40, 150)
BACKGROUND = (255, 255, 255)
GAP = (235, 235, 235)
TEXT = (20, 20, 20)


class DumpError(Exception):
    pass


# ---- parsing ------------------------------------------------------------

def extract(lines, index=None):
    """The dumps in lines (each a list of lines from header to end)."""
    dumps, cur = [], None
    for raw in lines:
        line = raw.replace("\r", "").rstrip("\n")
        at = line.find("kspan-heapdump v1")
        if at >= 0:
            cur = [line[at:]]
            continue
        if cur is None:
            continue
        text = line.strip()
        if text == "end":
            cur.append("end")
            dumps.append(cur)
            cur = None
        elif text.startswith("span ") or text.startswith("bad "):
            cur.append(text)
        # other lines (interleaved log output) are skipped
    if not dumps:
        raise DumpError("no complete kspan-heapdump v1 ... end block found"
                        + (" (a dump starts but never ends)" if cur else ""))
    if index is None:
        return dumps[-1]
    if not -len(dumps) <= index < len(dumps):
        raise DumpError(f"--index {index}: the input holds {len(dumps)} dumps")
    return dumps[index]


def parse(block):
    """A dump's lines -> (header dict, list of span dicts); checked."""
    head = {}
    for field in block[0].split()[2:]:
        key, _, val = field.partition("=")
        head[key] = val
    try:
        hdr = {"arena_start": int(head["arena_start"], 16),
               "page_size": int(head["page_size"]),
               "pages": int(head["pages"]),
               "used": int(head["used"])}
    except (KeyError, ValueError) as e:
        raise DumpError(f"bad header {block[0]!r}: {e}")
    spans, nxt = [], 0
    for line in block[1:-1]:
        f = line.split()
        if f[0] == "bad":
            raise DumpError(f"the dump stopped at a bad page: {line!r}")
        if len(f) != 9:
            raise DumpError(f"span line with {len(f)} fields: {line!r}")
        try:
            s = {"first": int(f[1]), "npages": int(f[2]), "kind": f[3],
                 "sizeclass": int(f[4]), "noscan": int(f[5]),
                 "objects": int(f[6]), "inuse": int(f[7]),
                 "decommitted": int(f[8])}
        except ValueError:
            raise DumpError(f"non-numeric field in {line!r}")
        if s["kind"] not in KINDS:
            raise DumpError(f"unknown span kind in {line!r}")
        if s["first"] != nxt or s["npages"] <= 0:
            raise DumpError(f"span at page {s['first']}, expected page {nxt}: "
                            f"{line!r}")
        if s["inuse"] > s["objects"] or s["decommitted"] > s["npages"]:
            raise DumpError(f"inconsistent counts in {line!r}")
        if s["kind"] == "small" and not 0 < s["sizeclass"] < NUM_CLASSES:
            raise DumpError(f"bad size class in {line!r}")
        nxt += s["npages"]
        spans.append(s)
    if nxt != hdr["used"]:
        raise DumpError(f"spans cover {nxt} pages, the header says used={hdr['used']}")
    return hdr, spans


def totals(hdr, spans):
    t = {k: {"spans": 0, "pages": 0} for k in KINDS}
    t["objects"] = t["inuse"] = t["decommitted"] = 0
    t["cache_objects"] = t["cache_inuse"] = 0
    t["inuse_bytes"] = 0
    for s in spans:
        k = t[s["kind"]]
        k["spans"] += 1
        k["pages"] += s["npages"]
        t["decommitted"] += s["decommitted"]
        if s["kind"] == "cache":
            t["cache_objects"] += s["objects"]
            t["cache_inuse"] += s["inuse"]
        if s["kind"] == "small":
            t["objects"] += s["objects"]
            t["inuse"] += s["inuse"]
            t["inuse_bytes"] += s["inuse"] * CLASS_SIZES[s["sizeclass"]]
    return t


def size_text(nbytes):
    if nbytes >= 1 << 20:
        return f"{nbytes / (1 << 20):.1f}".removesuffix(".0") + " MiB"
    return f"{nbytes / 1024:.0f} KiB"


def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_lines(hdr, t):
    ps = hdr["page_size"]
    fr = t["free"]["pages"]
    return [
        f"kspan heap map: arena {size_text(hdr['pages'] * ps)} "
        f"({hdr['pages']} pages of {ps // 1024} KiB) at {hdr['arena_start']:#x}, "
        f"used {hdr['used']} pages ({size_text(hdr['used'] * ps)})",
        f"small: {plural(t['small']['spans'], 'span')}, {t['small']['pages']} pages, "
        f"{t['inuse']} of {t['objects']} objects in use "
        f"({size_text(t['inuse_bytes'])}); "
        f"large: {plural(t['large']['spans'], 'object')}, "
        f"{size_text(t['large']['pages'] * ps)}; "
        f"kpages: {plural(t['pages']['spans'], 'block')}, "
        f"{size_text(t['pages']['pages'] * ps)}; "
        f"object caches: {plural(t['cache']['spans'], 'span')}, {t['cache']['pages']} pages, "
        f"{t['cache_inuse']} of {t['cache_objects']} objects in use",
        f"free: {fr} pages in {plural(t['free']['spans'], 'span')} "
        f"({size_text(fr * ps)}), {t['decommitted']} of them decommitted",
    ]


# ---- colours ------------------------------------------------------------

def class_color(sc):
    """Size class 1..66 -> a colour from red (8 B) to cyan (32 KiB)."""
    x = (sc - 1) / (NUM_CLASSES - 2)
    r, g, b = colorsys.hsv_to_rgb(0.5 * x, 0.85, 0.92)
    return (int(r * 255), int(g * 255), int(b * 255))


def mix(c, w, a):
    """Blend colour c with w: a = 1 gives c, 0 gives w."""
    return tuple(int(round(w[i] + (c[i] - w[i]) * a)) for i in range(3))


def shade(c, f):
    return tuple(int(v * f) for v in c)


def page_cells(hdr, spans):
    """One entry per used page: (colour, decommitted?, first page of span?)."""
    cells = []
    for s in spans:
        n = s["npages"]
        if s["kind"] == "free":
            # Which pages of a free span are decommitted is not in the dump,
            # only how many: the scavenger decommits from the span's end.
            dec = s["decommitted"]
            for i in range(n):
                d = i >= n - dec
                cells.append((FREE_DECOMMITTED if d else FREE_COMMITTED, d, i == 0))
            continue
        if s["kind"] in ("small", "cache"):
            occ = s["inuse"] / s["objects"] if s["objects"] else 0.0
            base = class_color(s["sizeclass"]) if s["kind"] == "small" else CACHE
            col = mix(base, BACKGROUND, 0.2 + 0.8 * occ)
        else:
            col = LARGE if s["kind"] == "large" else PAGES
        for i in range(n):
            cells.append((col, False, i == 0))
    return cells


def grid(hdr, spans, cols):
    """The map as rows of RGB tuples (None past the end), pages per cell,
    and whether cells are single pages."""
    cells = page_cells(hdr, spans)
    per = max(1, -(-len(cells) // MAX_CELLS))
    out = []
    for i in range(0, len(cells), per):
        chunk = cells[i:i + per]
        if per == 1:
            col, dec, first = chunk[0]
            if first and not dec:
                col = shade(col, 0.78)
            out.append((col, dec))
        else:
            out.append((tuple(sum(c[0][k] for c in chunk) // len(chunk)
                              for k in range(3)), False))
    rows = [out[r:r + cols] for r in range(0, len(out), cols)]
    if not rows:                      # nothing used yet: one empty row
        rows = [[(BACKGROUND, False)] * cols]
    return rows, per


# ---- stdlib PNG ---------------------------------------------------------

# 5x7 font: each glyph is 7 rows of 5 bits (MSB = left column).  The
# letters with descenders (DESCENDERS) are drawn two rows lower.
FONT = {
    " ": "00000 00000 00000 00000 00000 00000 00000",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "a": "00000 00000 01110 00001 01111 10001 01111",
    "b": "10000 10000 10110 11001 10001 10001 11110",
    "c": "00000 00000 01110 10000 10000 10001 01110",
    "d": "00001 00001 01101 10011 10001 10001 01111",
    "e": "00000 00000 01110 10001 11111 10000 01110",
    "f": "00110 01001 01000 11100 01000 01000 01000",
    "g": "01111 10001 10001 10011 01101 00001 01110",
    "h": "10000 10000 10110 11001 10001 10001 10001",
    "i": "00100 00000 01100 00100 00100 00100 01110",
    "j": "00010 00000 00110 00010 00010 10010 01100",
    "k": "10000 10000 10010 10100 11000 10100 10010",
    "l": "01100 00100 00100 00100 00100 00100 01110",
    "m": "00000 00000 11010 10101 10101 10001 10001",
    "n": "00000 00000 10110 11001 10001 10001 10001",
    "o": "00000 00000 01110 10001 10001 10001 01110",
    "p": "11110 10001 10001 11110 10000 10000 10000",
    "q": "01111 10001 10001 01111 00001 00001 00001",
    "r": "00000 00000 10110 11001 10000 10000 10000",
    "s": "00000 00000 01110 10000 01110 00001 11110",
    "t": "01000 01000 11100 01000 01000 01001 00110",
    "u": "00000 00000 10001 10001 10001 10011 01101",
    "v": "00000 00000 10001 10001 10001 01010 00100",
    "w": "00000 00000 10001 10001 10101 10101 01010",
    "x": "00000 00000 10001 01010 00100 01010 10001",
    "y": "10001 10001 10001 01111 00001 10001 01110",
    "z": "00000 00000 11111 00010 00100 01000 11111",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    ";": "00000 01100 01100 00000 01100 00100 01000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "[": "01110 01000 01000 01000 01000 01000 01110",
    "]": "01110 00010 00010 00010 00010 00010 01110",
    "/": "00001 00010 00010 00100 01000 01000 10000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "'": "00100 00100 01000 00000 00000 00000 00000",
    "<": "00010 00100 01000 10000 01000 00100 00010",
    ">": "01000 00100 00010 00001 00010 00100 01000",
    "?": "01110 10001 00001 00010 00100 00000 00100",
}
GLYPHS = {ch: [int(row, 2) for row in bits.split()] for ch, bits in FONT.items()}
DESCENDERS = set("gpqy")


class Canvas:
    def __init__(self, w, h, bg=BACKGROUND):
        self.w, self.h = w, h
        self.px = bytearray(bytes(bg) * (w * h))

    def rect(self, x, y, w, h, c):
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.w, x + w), min(self.h, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        row = bytes(c) * (x1 - x0)
        for yy in range(y0, y1):
            o = (yy * self.w + x0) * 3
            self.px[o:o + len(row)] = row

    def text(self, x, y, s, scale=1, c=TEXT):
        for ch in s:
            g = GLYPHS.get(ch) or GLYPHS["?"]
            dy = 2 if ch in DESCENDERS else 0
            for r, bits in enumerate(g):
                for col in range(5):
                    if bits & (16 >> col):
                        self.rect(x + col * scale, y + (r + dy) * scale,
                                  scale, scale, c)
            x += 6 * scale
        return x

    def png(self):
        raw = bytearray()
        stride = self.w * 3
        for y in range(self.h):
            raw.append(0)                 # filter: none
            raw += self.px[y * stride:(y + 1) * stride]

        def chunk(tag, data):
            return (struct.pack(">I", len(data)) + tag + data +
                    struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff))
        ihdr = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def text_width(s, scale):
    return len(s) * 6 * scale


def wrap(line, maxchars):
    words, out, cur = line.split(" "), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > maxchars:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        out.append(cur)
    return out


def size_label(n):
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


def render_stdlib(hdr, spans, t, out, cols):
    rows, per = grid(hdr, spans, cols)
    nrows = len(rows)
    pitch = 5 if nrows <= 96 else 4 if nrows <= 160 else 3
    cell = pitch - 1
    label_w = 8 * 6 + 6                  # "+1024M" row labels
    margin = 12
    grid_w = cols * pitch
    width = max(margin * 2 + label_w + grid_w, 760)
    maxchars = (width - 2 * margin) // 12
    title = []
    for i, line in enumerate(summary_lines(hdr, t)):
        title += [(l, 2 if i == 0 else 1) for l in wrap(line, maxchars if i == 0 else maxchars * 2)]
    title_h = sum(13 * s for _, s in title)
    grid_h = nrows * pitch
    legend_h = 22 + 34 + 28
    height = margin + title_h + 8 + grid_h + 16 + legend_h + margin
    cv = Canvas(width, height)
    y = margin
    for line, s in title:
        cv.text(margin, y, line, s)
        y += 13 * s
    y += 8
    gx, gy = margin + label_w, y
    cv.rect(gx - 1, gy - 1, grid_w + 1, grid_h + 1, GAP)
    row_bytes = cols * per * hdr["page_size"]
    label_every = max(1, -(-24 // pitch))   # a label every ~24 px
    for r, row in enumerate(rows):
        yy = gy + r * pitch
        if r % label_every == 0:
            off = r * row_bytes
            lab = f"+{off >> 20}M" if off >= 1 << 20 else f"+{off >> 10}K" if off else "0"
            cv.text(gx - 6 - text_width(lab, 1), yy, lab, 1)
        for c, (col, dec) in enumerate(row):
            xx = gx + c * pitch
            cv.rect(xx, yy, cell, cell, col)
            if dec and cell >= 3:
                cv.rect(xx + cell // 2, yy + cell // 2, 1, 1, DECOMMITTED_DOT)
    y = gy + grid_h + 16
    # Legend: kinds, then the class ramp and the occupancy ramp.
    def swatch(x, yy, col, label, dot=False):
        cv.rect(x, yy, 12, 12, GAP)
        cv.rect(x + 1, yy + 1, 10, 10, col)
        if dot:
            cv.rect(x + 5, yy + 5, 2, 2, DECOMMITTED_DOT)
        return cv.text(x + 18, yy + 3, label, 1) + 18
    x = margin
    x = swatch(x, y, FREE_COMMITTED, "free, committed")
    x = swatch(x, y, FREE_DECOMMITTED, "free, decommitted", dot=True)
    x = swatch(x, y, LARGE, "large object")
    x = swatch(x, y, PAGES, "kpages block")
    x = swatch(x, y, CACHE, "object cache span")
    y += 22
    cv.text(margin, y + 3, "small spans by size class:", 1)
    rx = margin + text_width("small spans by size class:", 1) + 10
    for sc in range(1, NUM_CLASSES):
        cv.rect(rx + (sc - 1) * 6, y, 6, 12, class_color(sc))
    for sc in (1, 17, 31, 43, 50, 58, 66):
        lx = rx + (sc - 1) * 6
        cv.rect(lx + 2, y + 12, 1, 3, TEXT)
        cv.text(lx, y + 17, size_label(CLASS_SIZES[sc]), 1)
    y += 34
    cv.text(margin, y + 3, "occupancy (objects in use):", 1)
    ox = margin + text_width("occupancy (objects in use):", 1) + 10
    base = class_color(20)
    for i in range(11):
        cv.rect(ox + i * 14, y, 14, 12, mix(base, BACKGROUND, 0.2 + 0.8 * i / 10))
    cv.text(ox, y + 17, "0%", 1)
    cv.text(ox + 10 * 14 - 6, y + 17, "100%", 1)
    note = (f"one cell = {per} pages of {hdr['page_size'] // 1024} KiB" if per > 1
            else f"one cell = one {hdr['page_size'] // 1024} KiB page; darker cell = first page of a span")
    cv.text(ox + 11 * 14 + 20, y + 3, note + f"; {cols * per} pages per row", 1)
    with open(out, "wb") as f:
        f.write(cv.png())


# ---- checking a PNG (for the tests) --------------------------------------

def read_png(path):
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what both renderers
    write), checking its structure: signature, chunk CRCs, IHDR first,
    IEND last, the image data's size.  Returns (width, height, rows of
    RGB tuples)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise DumpError(f"{path}: not a PNG (bad signature)")
    pos, chunks = 8, []
    while pos < len(data):
        if pos + 8 > len(data):
            raise DumpError(f"{path}: truncated chunk header at {pos}")
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if len(body) != n or pos + 12 + n > len(data):
            raise DumpError(f"{path}: truncated {tag!r} chunk")
        crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if crc != zlib.crc32(tag + body) & 0xffffffff:
            raise DumpError(f"{path}: bad CRC in the {tag!r} chunk")
        chunks.append((tag, body))
        pos += 12 + n
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise DumpError(f"{path}: IHDR must come first and IEND last")
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise DumpError(f"{path}: not 8-bit RGB(A) non-interlaced "
                        f"(depth {depth}, colour type {ctype}, interlace {interlace})")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(b for t, b in chunks if t == b"IDAT"))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        raise DumpError(f"{path}: {len(raw)} bytes of image data, "
                        f"expected {h * (stride + 1)} for {w}x{h}")
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
            elif ft != 0:
                raise DumpError(f"{path}: bad filter type {ft} in row {y}")
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def verify(path, hdr, spans):
    """Check the PNG at path and that every colour the dump calls for
    (free committed / decommitted, large, kpages, the size classes of
    full spans) appears in it.  Returns a list of problems."""
    w, h, rows = read_png(path)
    seen = {}
    for row in rows:
        for px in row:
            seen[px] = seen.get(px, 0) + 1
    want = {}
    for s in spans:
        if s["kind"] == "free":
            if s["npages"] > s["decommitted"]:
                want[FREE_COMMITTED] = "free, committed"
            if s["decommitted"]:
                want[FREE_DECOMMITTED] = "free, decommitted"
        elif s["kind"] == "large":
            want[LARGE] = "large object"
        elif s["kind"] == "pages":
            want[PAGES] = "kpages block"
        elif s["kind"] == "cache":
            if s["inuse"] == s["objects"] and s["npages"] > 1:
                want[CACHE] = "object cache span"
        elif s["inuse"] == s["objects"] and s["npages"] > 1:
            want[class_color(s["sizeclass"])] = f"size class {s['sizeclass']}"
    problems = [f"no pixel of the {name} colour {col}" for col, name in want.items()
                if not seen.get(col)]
    # Proportions: cells drawn in the exact colour of a kind (a span's
    # first page is shaded) must cover areas in the ratio of their counts.
    rows_, per = grid(hdr, spans, 256)
    if per == 1:
        cells = {}
        for s in spans:
            if s["kind"] in ("large", "pages"):
                col = LARGE if s["kind"] == "large" else PAGES
                cells[col] = cells.get(col, 0) + s["npages"] - 1
            elif s["kind"] == "free":
                com = s["npages"] - s["decommitted"]
                cells[FREE_COMMITTED] = cells.get(FREE_COMMITTED, 0) + max(0, com - 1)
        big = [(c, n) for c, n in cells.items() if n >= 100 and seen.get(c)]
        for i in range(len(big)):
            for j in range(i + 1, len(big)):
                (ca, na), (cb, nb) = big[i], big[j]
                r, m = na / nb, seen[ca] / seen[cb]
                if not r / 1.35 <= m <= r * 1.35:
                    problems.append(f"colours {ca} and {cb} cover areas in the ratio "
                                    f"{m:.2f}, the dump has {na} and {nb} cells ({r:.2f})")
    print(f"heapmap: {path}: valid PNG, {w}x{h}, {len(seen)} colours; "
          f"{len(want) - len(problems)} of {len(want)} expected colours present")
    return problems


# ---- matplotlib ---------------------------------------------------------

def render_matplotlib(hdr, spans, t, out, cols):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, BoundaryNorm
    from matplotlib.patches import Patch
    from matplotlib.cm import ScalarMappable

    rows, per = grid(hdr, spans, cols)
    nrows = len(rows)
    img = [[(1.0, 1.0, 1.0)] * cols for _ in range(nrows)]
    dots = ([], [])
    for r, row in enumerate(rows):
        for c, (col, dec) in enumerate(row):
            img[r][c] = tuple(v / 255 for v in col)
            if dec:
                dots[0].append(c)
                dots[1].append(r)
    # Layout in inches, top to bottom: title, map, legend, class bar.
    cell_in = 0.05 if nrows <= 96 else 0.035
    # A few rows get taller cells so that their labels do not collide.
    map_in = max(nrows * cell_in, min(0.6, 0.3 * nrows))
    title_in, gap_in, legend_in, bar_in = 0.7, 0.15, 0.3, 0.65
    left_in, map_w_in = 0.9, cols * cell_in
    fig_w = max(8.0, left_in + map_w_in + 0.3)
    fig_h = title_in + map_in + gap_in + legend_in + bar_in
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=110)
    ax = fig.add_axes([left_in / fig_w, (legend_in + bar_in + gap_in) / fig_h,
                       map_w_in / fig_w, map_in / fig_h])
    ax.imshow(img, interpolation="nearest", aspect="auto",
              extent=(0, cols, nrows, 0))
    if dots[0] and nrows * cols <= 40000:
        ax.scatter([x + 0.5 for x in dots[0]], [y + 0.5 for y in dots[1]],
                   s=0.6, c=[tuple(v / 255 for v in DECOMMITTED_DOT)],
                   marker="s", linewidths=0)
    row_bytes = cols * per * hdr["page_size"]
    step = max(1, nrows // 8)
    ticks = list(range(0, nrows, step))
    ax.set_yticks([r + 0.5 for r in ticks])
    ax.set_yticklabels([f"+{(r * row_bytes) / (1 << 20):.0f} MiB" if r * row_bytes >= 1 << 20
                        else f"+{(r * row_bytes) >> 10} KiB" if r else "0"
                        for r in ticks], fontsize=7)
    ax.set_xticks([])
    ax.set_xlim(0, cols)
    ax.set_ylim(nrows, 0)
    lines = summary_lines(hdr, t)
    fig.text(left_in / fig_w, 1 - 0.08 / fig_h, "\n".join(lines), fontsize=8,
             va="top", ha="left")
    handles = [Patch(color=[v / 255 for v in FREE_COMMITTED], label="free, committed"),
               Patch(facecolor=[v / 255 for v in FREE_DECOMMITTED],
                     edgecolor=[v / 255 for v in DECOMMITTED_DOT],
                     label="free, decommitted"),
               Patch(color=[v / 255 for v in LARGE], label="large object"),
               Patch(color=[v / 255 for v in PAGES], label="kpages block"),
               Patch(color=[v / 255 for v in CACHE], label="object cache span")]
    fig.legend(handles=handles, loc="upper left", ncol=4, fontsize=7,
               frameon=False,
               bbox_to_anchor=(left_in / fig_w - 0.01, (legend_in + bar_in) / fig_h))
    cmap = ListedColormap([[v / 255 for v in class_color(sc)]
                           for sc in range(1, NUM_CLASSES)])
    norm = BoundaryNorm(list(range(1, NUM_CLASSES + 1)), cmap.N)
    bar_w = min(map_w_in * 0.55, 7.0)
    cax = fig.add_axes([left_in / fig_w, 0.38 / fig_h, bar_w / fig_w, 0.13 / fig_h])
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax,
                      orientation="horizontal")
    marks = (1, 17, 31, 43, 50, 58, 66)
    cb.set_ticks([m + 0.5 for m in marks])
    cb.set_ticklabels([size_label(CLASS_SIZES[m]) for m in marks])
    cb.ax.tick_params(labelsize=7)
    cb.ax.set_title("small spans: size class (pale = few objects in use, "
                    "full colour = all)", fontsize=7, loc="left")
    note = (f"one cell = {per} pages" if per > 1 else
            "one cell = one 8 KiB page; darker = first page of a span")
    fig.text((left_in + bar_w + 0.4) / fig_w, 0.38 / fig_h,
             note + f"\n{cols * per} pages per row", fontsize=7)
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump", nargs="?", default="-",
                    help="file holding a kspan_dump_heap() dump (- or none: stdin)")
    ap.add_argument("-o", "--output", default="heapmap.png")
    ap.add_argument("--index", type=int, default=None,
                    help="which dump of the input (0 = first, -1 = last; default last)")
    ap.add_argument("--backend", choices=("auto", "matplotlib", "stdlib"),
                    default="auto")
    ap.add_argument("--cols", type=int, default=256, help="pages per row (default 256)")
    ap.add_argument("--verify", metavar="PNG",
                    help="do not draw: check that PNG is a valid image of this dump")
    a = ap.parse_args(argv)
    if a.cols < 16 or a.cols > 1024:
        ap.error("--cols must be 16..1024")
    try:
        if a.dump == "-":
            lines = sys.stdin.readlines()
        else:
            with open(a.dump, errors="replace") as f:
                lines = f.readlines()
        hdr, spans = parse(extract(lines, a.index))
    except (DumpError, OSError) as e:
        print(f"heapmap: {e}", file=sys.stderr)
        return 2
    t = totals(hdr, spans)
    if a.verify:
        try:
            problems = verify(a.verify, hdr, spans)
        except (DumpError, OSError, zlib.error) as e:
            problems = [str(e)]
        for p in problems:
            print(f"heapmap: {a.verify}: {p}", file=sys.stderr)
        return 1 if problems else 0
    for line in summary_lines(hdr, t):
        print(line)
    backend = a.backend
    if backend == "auto":
        try:
            import matplotlib  # noqa: F401
            backend = "matplotlib"
        except ImportError:
            backend = "stdlib"
    if not spans:
        print("heapmap: the heap has no used pages yet; drawing an empty map",
              file=sys.stderr)
    if backend == "matplotlib":
        render_matplotlib(hdr, spans, t, a.output, a.cols)
    else:
        render_stdlib(hdr, spans, t, a.output, a.cols)
    print(f"heapmap: wrote {a.output} ({backend})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
