# kspan-gdb.py: gdb commands for looking at kspan's heap in a live kernel
# (QEMU's gdb stub) or a host program that links mm/ (tests, the shim).
#
# Load:  gdb -x scripts/kspan-gdb.py ...      (or `source` it in gdb)
#
#   kspan-span ADDR           the span holding ADDR (any expression): its
#                             range, state, list, span/size class, object
#                             size and count, free objects, owner; for a
#                             small span, which object ADDR falls in
#   kspan-mcentral SC [gc]    mcentral[SC] (SC = span class = size class*2
#                             + noscan; kmalloc's are odd): its partial and
#                             full lists and the spans CPUs own, one line
#                             per span; "gc": the collector's central
#   kspan-mcache CPU          CPU's per-CPU cache: per class the span it
#                             allocates from and the other spans it owns,
#                             their free objects, the queued frees, the
#                             remote-free batches, and its counters
#   kspan-caches              the object caches (kmem_cache): per cache its
#                             name, object and element size, objects and
#                             pages per span, spans, checks, constructor,
#                             and the CPUs holding spans of it
#   kspan-heap                arena bounds and layout, mheap counters, free
#                             lists and treap, spans per class
#   kspan-dump [FILE]         the heap map of kspan_dump_heap() (the
#                             "kspan-heapdump v1" format), read from memory
#                             by gdb: works on a stopped or crashed kernel,
#                             without running any of its code; to FILE (for
#                             scripts/heapmap.py) or the screen
#   kspan-load [OFFSET|LOG]   kernel only: add the kernel's symbols
#                             (build/kernel/kspan.elf) at the load offset
#                             the firmware chose.  The kernel prints it at
#                             boot ("gdb: add-symbol-file ... -o 0x...");
#                             without an OFFSET it is read from LOG
#                             (default build/qemu/debug.log, the serial log
#                             of `make debug`)
#   kspan-attach [LOG]        kernel only: connect to QEMU (:1234) if not
#                             connected, let the guest run until the kernel
#                             has printed its load offset to LOG, stop it
#                             and kspan-load the symbols
#
# The commands read kspan's globals (ks_arena, ks_mheap, ks_mcentral,
# ks_mcache_real) through the program's debug information, so the program must
# be built with -g (every kspan build is).  They only read memory.
import os
import re
import signal
import threading
import time

import gdb

HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
ROOT = os.path.dirname(HERE)
DEFAULT_LOG = os.path.join(ROOT, "build", "qemu", "debug.log")
DEFAULT_ELF = os.path.join(ROOT, "build", "kernel", "kspan.elf")
PAGE_SHIFT = 13
LIST_NAMES = {0: "none", 1: "mheap free list", 2: "mheap treap (freelarge)",
              3: "mcentral partial", 4: "mcentral full", 5: "a CPU's cache"}
STATE_NAMES = {0: "dead", 1: "free", 2: "inuse"}
NO_OWNER = -1
OWNER_GC = 0x100
MAX_WALK = 1 << 20


def val(expr):
    return gdb.parse_and_eval(expr)


def has_field(v, name):
    try:
        return any(f.name == name for f in v.type.strip_typedefs().fields())
    except (gdb.error, TypeError):
        return False


def addr_of(arg):
    if not arg.strip():
        raise gdb.GdbError("an address (any expression) is needed")
    v = val(arg)
    return int(v.cast(gdb.lookup_type("unsigned long"))) if v.type.code != gdb.TYPE_CODE_INT else int(v)


def span_ptr_type():
    return gdb.lookup_type("struct mspan").pointer()


def span_at(ptr):
    return gdb.Value(ptr).cast(span_ptr_type()).dereference()


def popcount(x):
    return bin(int(x) & 0xFFFFFFFFFFFFFFFF).count("1")


def arena():
    try:
        return val("ks_arena")
    except gdb.error as e:
        raise gdb.GdbError(f"ks_arena not found ({e}); for the kernel, load its "
                           "symbols first: kspan-load")


def sizeclass_of(sc):
    return sc >> 1


def class_size(cls):
    try:
        return int(val(f"ks_class_to_size[{cls}]"))
    except gdb.error:
        return None


def owner_text(owner):
    if owner == NO_OWNER:
        return "none (not cached)"
    if owner == -2:
        return "-2 (placeholder span)"
    if owner >= OWNER_GC:
        return f"cpu {owner - OWNER_GC} (collector cache)"
    return f"cpu {owner}"


def free_word(s, w):
    """Word w of a small span's free objects: its free bits, and the
    allocation cache's (mm/mspan.h; collector spans have none)."""
    f = int(s["freebits"][w])
    if not int(s["gc"]):
        f |= int(s["cachebits"][w])
    return f


def free_objects(s):
    """Free objects of a small span: its set free bits."""
    return sum(popcount(free_word(s, w)) for w in range(int(s["nwords"])))


def span_brief(s):
    base, npages = int(s["base"]), int(s["npages"])
    sc = int(s["spanclass"])
    state = STATE_NAMES.get(int(s["state"]), str(int(s["state"])))
    out = f"span {int(s.address):#x} [{base:#x}-{base + (npages << PAGE_SHIFT):#x}) {npages} page{'s' if npages != 1 else ''} {state}"
    if int(s["state"]) == 2 and int(s["central"]):
        nfree = free_objects(s)
        out += (f" class {sizeclass_of(sc)} ({int(s['elemsize'])} B) "
                f"free {nfree}/{int(s['nelems'])} owner {owner_text(int(s['owner']))}")
    elif int(s["state"]) == 2:
        out += " kpages block" if int(s["manual"]) else " large object"
    elif int(s["state"]) == 1:
        out += f" decommitted {int(s['nscav'])}"
    return out


def find_span(addr):
    """The span covering addr, or (None, reason)."""
    a = arena()
    start, used = int(a["arena_start"]), int(a["arena_used"])
    if not start <= addr < used:
        return None, (f"{addr:#x} is not in the used arena "
                      f"[{start:#x}-{used:#x}) (arena end {int(a['arena_end']):#x})")
    spans = int(a["spans"])
    page = (addr - start) >> PAGE_SHIFT
    # In-use spans map every page; free spans only their first and last:
    # walk back to the first page whose entry covers addr.  spans[] is read
    # in blocks (one remote read per 4096 entries under QEMU), and each
    # distinct span pointer is looked at once.
    inf = gdb.selected_inferior()
    tried = set()
    hi = page + 1
    while hi > 0 and page - hi < MAX_WALK:
        lo = max(0, hi - 4096)
        raw = bytes(inf.read_memory(spans + 8 * lo, 8 * (hi - lo)))
        for i in range(hi - lo - 1, -1, -1):
            ptr = int.from_bytes(raw[8 * i:8 * i + 8], "little")
            if not ptr or ptr in tried:
                continue
            tried.add(ptr)
            s = span_at(ptr)
            base, npages = int(s["base"]), int(s["npages"])
            if int(s["state"]) != 0 and base <= addr < base + (npages << PAGE_SHIFT):
                return s, None
        hi = lo
    return None, f"no live span covers {addr:#x} (page {page})"


class KspanSpan(gdb.Command):
    """kspan-span ADDR: the kspan span holding ADDR and what ADDR is in it."""

    def __init__(self):
        super().__init__("kspan-span", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        addr = addr_of(arg)
        s, why = find_span(addr)
        if s is None:
            print(f"kspan-span: {why}")
            return
        a = arena()
        base, npages = int(s["base"]), int(s["npages"])
        state = int(s["state"])
        sc = int(s["spanclass"])
        first = (base - int(a["arena_start"])) >> PAGE_SHIFT
        print(f"span {int(s.address):#x}: base {base:#x} end "
              f"{base + (npages << PAGE_SHIFT):#x} npages {npages} "
              f"(arena pages {first}..{first + npages - 1})")
        print(f"  state {STATE_NAMES.get(state, state)}, list "
              f"{LIST_NAMES.get(int(s['list']), int(s['list']))}")
        if state == 1:
            print(f"  free span: nscav {int(s['nscav'])} (decommitted pages)")
            return
        gc = int(s["gc"]) if has_field(s, "gc") else 0
        if not int(s["central"]):
            kind = "kpages block (manual)" if int(s["manual"]) else "large object"
            if gc:
                kind += ", collector-managed"
            print(f"  spanclass 0: {kind}, {npages << PAGE_SHIFT} bytes")
            off = addr - base
            print(f"  {addr:#x} is {'the start' if off == 0 else f'{off} bytes into it'}")
            return
        cache = int(s["central"].dereference()["cache"])
        if cache:
            k = s["central"].dereference()["cache"].dereference()
            print(f"  object cache \"{k['name'].string()}\" ({cache:#x})")
        cls = sizeclass_of(sc)
        elem, nelems = int(s["elemsize"]), int(s["nelems"])
        nfree = free_objects(s)
        print(f"  spanclass {sc} = sizeclass {cls} {'noscan' if sc & 1 else 'scan'}"
              f"{', collector-managed' if gc else ''}, elemsize {elem}, nelems {nelems}")
        print(f"  free {nfree} (nfree field {int(s['nfree'])}, exact while no CPU "
              f"owns it), inuse {nelems - nfree}")
        key = int(s["key"])
        print(f"  owner {owner_text(int(s['owner']))}, curword {int(s['curword'])}, "
              f"nwords {int(s['nwords'])}, key {key}")
        off = addr - base
        idx = off // elem
        if idx >= nelems:
            print(f"  {addr:#x} is past the last object (tail waste)")
            return
        pos = idx ^ key
        is_free = bool(free_word(s, pos // 64) >> (pos % 64) & 1)
        where = "its start" if off == idx * elem else f"{off - idx * elem} bytes into it"
        print(f"  {addr:#x}: object {idx} at {base + idx * elem:#x} ({where}), "
              f"{'free' if is_free else 'allocated'}")


def walk(head):
    seen, p = set(), int(head)
    while p and len(seen) < MAX_WALK:
        if p in seen:
            print(f"    (list loops back to {p:#x})")
            return
        seen.add(p)
        s = span_at(p)
        yield s
        p = int(s["next"])


class KspanMcentral(gdb.Command):
    """kspan-mcentral SPANCLASS [gc]: walk mcentral[SPANCLASS]'s span lists."""

    def __init__(self):
        super().__init__("kspan-mcentral", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        args = arg.split()
        if not args:
            raise gdb.GdbError("usage: kspan-mcentral SPANCLASS [gc]")
        sc = int(val(args[0]))
        table = "ks_gccentral" if len(args) > 1 and args[1] == "gc" else "ks_mcentral"
        n = int(val(f"sizeof({table}) / sizeof({table}[0])"))
        if not 0 <= sc < n:
            raise gdb.GdbError(f"span class {sc} is not in 0..{n - 1}")
        c = val(f"{table}[{sc}]")
        cls = sizeclass_of(sc)
        size = class_size(cls)
        lock = c["lock"]
        print(f"{table}[{sc}]: size class {cls} ({size} B), "
              f"{'noscan' if sc & 1 else 'scan'}; nspans {int(c['nspans'])}, "
              f"nrefills {int(c['nrefills'])}; lock ticket {int(lock['owner'])}/"
              f"{int(lock['next'])}{' (held)' if int(lock['owner']) != int(lock['next']) else ''}")
        for name in ("partial", "full"):
            spans = list(walk(c[name]))
            print(f"  {name}: {len(spans)} span{'s' if len(spans) != 1 else ''}")
            for s in spans:
                print("    " + span_brief(s))
        owned = [s for _, _, s in owned_spans(int(c.address))]
        print(f"  owned by CPUs: {len(owned)} span{'s' if len(owned) != 1 else ''}")
        for s in owned:
            print("    " + span_brief(s))


def mcache_of(cpu):
    """CPU slot cpu's cache (ks_mcache_real[cpu]), or None."""
    n = int(val("sizeof(ks_mcache_real) / sizeof(ks_mcache_real[0])"))
    if not 0 <= cpu < n:
        raise gdb.GdbError(f"cpu {cpu} is not in 0..{n - 1}")
    p = int(val(f"ks_mcache_real[{cpu}]"))
    return val(f"*ks_mcache_real[{cpu}]") if p else None


def class_spans(pc):
    """The spans a CPU's class owns: its current one, then its partials."""
    if int(pc["cur"]):
        yield "cur", span_at(int(pc["cur"]))
    for s in walk(pc["partial"]):
        yield "partial", s


def owned_spans(central):
    """(cpu, role, span) for every span of central that some CPU owns."""
    n = int(val("sizeof(ks_mcache_real) / sizeof(ks_mcache_real[0])"))
    ncls = int(val("sizeof(ks_mcache_real[0]->cls) / sizeof(ks_mcache_real[0]->cls[0])"))
    for cpu in range(n):
        c = mcache_of(cpu)
        if c is None:
            continue
        for cls in range(ncls):
            pc = c["cls"][cls]
            if int(pc["central"]) == central:
                for role, s in class_spans(pc):
                    yield cpu, role, s


class KspanMcache(gdb.Command):
    """kspan-mcache CPU: the per-CPU cache of slot CPU."""

    def __init__(self):
        super().__init__("kspan-mcache", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: kspan-mcache CPU")
        cpu = int(val(arg))
        c = mcache_of(cpu)
        if c is None:
            print(f"cpu {cpu}: no cache yet (it never allocated)")
            return
        print(f"ks_mcache_real[{cpu}]: slow_allocs {int(c['slow_allocs'])} "
              f"locked_frees {int(c['locked_frees'])} queued_frees {int(c['queued_frees'])} "
              f"remote_frees {int(c['remote_frees'])} (batches {int(c['remote_batches'])}) "
              f"received_frees {int(c['received_frees'])} adoptions {int(c['adoptions'])} "
              f"flushes {int(c['flushes'])}")
        ncls = int(val(f"sizeof(ks_mcache_real[{cpu}]->cls) / sizeof(ks_mcache_real[{cpu}]->cls[0])"))
        total = queued = 0
        for cls in range(1, ncls):
            pc = c["cls"][cls]
            for role, s in class_spans(pc):
                total += 1
                print(f"  class {cls} ({int(pc['size'])} B): {role} span {int(s.address):#x} "
                      f"base {int(s['base']):#x} free {free_objects(s)}/{int(s['nelems'])}"
                      f"{' word ' + str(int(s['curword'])) if role == 'cur' else ''}, owner "
                      f"{owner_text(int(s['owner']))}")
            n = int(pc["nqueued"])
            if n:
                queued += n
                objs = ", ".join(f"{int(pc['queue'][i]):#x}" for i in range(min(n, 4)))
                print(f"  class {cls}: {n} queued free{'s' if n != 1 else ''} "
                      f"({objs}{', ...' if n > 4 else ''})")
        if total == 0:
            print("  no owned spans")
        if not queued:
            print("  no queued frees")
        nout = sum(1 for o in range(int(val("sizeof(ks_mcache_real[0]->out) / sizeof(ks_mcache_real[0]->out[0])")))
                   if int(c["out"][o]))
        print(f"  remote-free batches being filled: {nout}; inbox "
              f"{'empty' if int(c['inbox']) in (0, 1) else 'has batches'}"
              f"{' (parked: it drained)' if int(c['inbox']) == 1 else ''}")
        if has_field(c, "gc") and int(c["gc"]):
            g = c["gc"].dereference()
            if int(g["tiny"]):
                print(f"  tiny block {int(g['tiny']):#x} offset {int(g['tinyoffset'])}")


def treap_walk(n, out, depth=0):
    p = int(n)
    if not p or len(out) >= MAX_WALK or depth > 200:
        return
    s = span_at(p)
    treap_walk(s["tleft"], out, depth + 1)
    out.append(s)
    treap_walk(s["tright"], out, depth + 1)


class KspanHeap(gdb.Command):
    """kspan-heap: arena bounds and layout, mheap counters and free spans."""

    def __init__(self):
        super().__init__("kspan-heap", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        a = arena()
        h = val("ks_mheap")
        start, used, end = int(a["arena_start"]), int(a["arena_used"]), int(a["arena_end"])
        print(f"arena: [{start:#x}-{end:#x}) {(end - start) >> 20} MiB, "
              f"{(end - start) >> PAGE_SHIFT} pages; used up to {used:#x} "
              f"({(used - start) >> PAGE_SHIFT} pages)")
        print(f"  reservation {int(a['reserve_base']):#x} +{int(a['reserve_len']):#x}: "
              f"spans {int(a['spans']):#x} ({int(a['spans_bytes'])} B), committed bits "
              f"{int(a['committed']):#x}, bitmap end {int(a['bitmap']):#x} "
              f"({int(a['bitmap_bytes'])} B), shadow mapped {int(a['shadow_mapped']) >> 20} MiB")
        print(f"mheap: pages_inuse {int(h['pages_inuse'])} pages_free {int(h['pages_free'])} "
              f"(committed {int(h['pages_free_committed'])}) scav_threshold "
              f"{int(h['scav_threshold'])} pages_scavenged_total {int(h['pages_scavenged_total'])}")
        print(f"  large_inuse {int(h['large_inuse'])} large_pages {int(h['large_pages'])}; "
              f"lock ticket {int(h['lock']['owner'])}/{int(h['lock']['next'])}")
        nlists = int(val("sizeof(ks_mheap.free) / sizeof(ks_mheap.free[0])"))
        sizes = []
        for i in range(1, nlists):
            k = sum(1 for _ in walk(h["free"][i]))
            if k:
                sizes.append(f"{i}p x{k}")
        print(f"  free lists: {', '.join(sizes) if sizes else 'empty'}")
        big = []
        treap_walk(h["freelarge"]["root"], big)
        print(f"  treap (>= {nlists} pages): {len(big)} span{'s' if len(big) != 1 else ''}"
              + (": " + ", ".join(f"{int(s['npages'])}p at {int(s['base']):#x}" for s in big[:8])
                 + (" ..." if len(big) > 8 else "") if big else ""))
        nsc = int(val("sizeof(ks_mcentral) / sizeof(ks_mcentral[0])"))
        cls = []
        for sc in range(2, nsc):
            n = int(val(f"ks_mcentral[{sc}].nspans"))
            if n:
                cls.append(f"{sc}(class {sizeclass_of(sc)}):{n}")
        print(f"  spans per span class: {' '.join(cls) if cls else 'none'}")


class KspanCaches(gdb.Command):
    """kspan-caches: the object caches (kmem_cache) and the CPUs holding
    their spans."""

    def __init__(self):
        super().__init__("kspan-caches", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        try:
            reg = val("slab_registry")
        except gdb.error:
            print("kspan-caches: no object caches in this program (slab_registry)")
            return
        nslots = int(val("sizeof(slab_registry) / sizeof(slab_registry[0])"))
        ncpu = int(val("sizeof(ks_mcache_real) / sizeof(ks_mcache_real[0])"))
        empty = int(val("&ks_class_empty"))
        n = 0
        for i in range(nslots):
            p = int(reg[i])
            if not p:
                continue
            n += 1
            k = reg[i].dereference()
            c = k["central"]
            checks = [w for w, f in (("poison", "poison"), ("redzone", "redzone")) if int(k[f])]
            print(f"cache {i} \"{k['name'].string()}\" at {p:#x}: size {int(k['size'])}, "
                  f"align {int(k['align'])}, elemsize {int(c['elemsize'])}, "
                  f"{int(c['nelems'])} objects in {int(c['npages'])}-page spans, "
                  f"{int(c['nspans'])} spans; "
                  f"{'checks ' + '+'.join(checks) if checks else 'per-CPU fast path'}"
                  f"{', ctor ' + str(k['ctor']) if int(k['ctor']) else ''}")
            cpus = []
            for cpu in range(ncpu):
                mc = int(val(f"ks_mcache_real[{cpu}]"))
                if not mc:
                    continue
                pc = val(f"ks_mcache_real[{cpu}]->front.bycls[{int(k['cls'])}]")
                if int(pc) == empty:
                    continue
                pcd = pc.dereference()
                held = int(pcd["npartial"]) + (1 if int(pcd["cur"]) else 0)
                cpus.append(f"cpu {cpu}: {held} spans, {int(pcd['nqueued'])} queued")
            if cpus:
                print("  " + "; ".join(cpus))
        print(f"{n} object cache{'s' if n != 1 else ''}")


class KspanDump(gdb.Command):
    """kspan-dump [FILE]: write the heap map (kspan_dump_heap's format)
    read from memory, to FILE or the screen."""

    def __init__(self):
        super().__init__("kspan-dump", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        a = arena()
        start, used, end = int(a["arena_start"]), int(a["arena_used"]), int(a["arena_end"])
        spans = a["spans"]
        lines = [f"kspan-heapdump v1 arena_start={start:#x} page_size={1 << PAGE_SHIFT} "
                 f"pages={(end - start) >> PAGE_SHIFT} used={(used - start) >> PAGE_SHIFT}"]
        p = start
        while p < used:
            page = (p - start) >> PAGE_SHIFT
            ptr = int(spans[page])
            s = span_at(ptr) if ptr else None
            if s is None or int(s["base"]) != p or int(s["npages"]) == 0:
                lines.append(f"bad {page}")
                break
            state, sc = int(s["state"]), int(s["spanclass"])
            small = state == 2 and int(s["central"]) != 0
            cache = small and int(s["central"].dereference()["cache"]) != 0
            kind = ("free" if state == 1 else "cache" if cache else "small" if small else
                    ("pages" if int(s["manual"]) else "large"))
            inuse = int(s["nelems"]) - free_objects(s) if small else 0
            lines.append(f"span {page} {int(s['npages'])} {kind} {sc >> 1} {sc & 1} "
                         f"{int(s['nelems']) if small else 0} {inuse} "
                         f"{int(s['nscav']) if state == 1 else 0}")
            p += int(s["npages"]) << PAGE_SHIFT
        lines.append("end")
        text = "\n".join(lines) + "\n"
        if arg.strip():
            with open(arg.strip(), "w") as f:
                f.write(text)
            print(f"kspan-dump: {len(lines) - 2} spans written to {arg.strip()}")
        else:
            gdb.write(text)


# ---- kernel symbols ----------------------------------------------------

OFFSET_RE = re.compile(r"gdb: add-symbol-file (\S+) -o (0x[0-9a-fA-F]+)")


def offset_from_log(path):
    try:
        with open(path, errors="replace") as f:
            found = OFFSET_RE.findall(f.read())
    except OSError:
        return None, None
    if not found:
        return None, None
    elf, off = found[-1]
    return elf, int(off, 16)


def load_symbols(elf, off):
    if not os.path.isabs(elf):
        elf = os.path.join(ROOT, elf)
    if not os.path.exists(elf):
        raise gdb.GdbError(f"{elf} not found (make kernel)")
    gdb.execute(f"add-symbol-file {elf} -o {off:#x}", to_string=True)
    print(f"kspan: symbols of {elf} loaded at offset {off:#x}")


class KspanLoad(gdb.Command):
    """kspan-load [OFFSET|LOGFILE]: add the kernel's symbols at its load offset."""

    def __init__(self):
        super().__init__("kspan-load", gdb.COMMAND_FILES)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if arg and not os.path.exists(arg):
            load_symbols(DEFAULT_ELF, int(val(arg)))
            return
        log = arg or DEFAULT_LOG
        elf, off = offset_from_log(log)
        if off is None:
            raise gdb.GdbError(f"no 'gdb: add-symbol-file ... -o 0x...' line in {log} "
                               "yet: let the kernel run (continue, or kspan-attach)")
        load_symbols(elf, off)


def connected():
    try:
        return gdb.selected_inferior().pid != 0 and gdb.selected_thread() is not None
    except gdb.error:
        return False


class KspanAttach(gdb.Command):
    """kspan-attach [LOGFILE]: connect to QEMU, run until the kernel printed
    its load offset to LOGFILE, stop there and load the symbols."""

    def __init__(self):
        super().__init__("kspan-attach", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        log = arg.strip() or DEFAULT_LOG
        if not connected():
            gdb.execute("target remote :1234")
        elf, off = offset_from_log(log)
        if off is None:
            done = threading.Event()

            def watch():
                while not done.is_set():
                    if offset_from_log(log)[1] is not None:
                        time.sleep(0.05)
                        os.kill(os.getpid(), signal.SIGINT)   # as Ctrl-C
                        return
                    time.sleep(0.1)
            t = threading.Thread(target=watch, daemon=True)
            t.start()
            print(f"kspan-attach: running the guest until {log} shows the load offset")
            try:
                gdb.execute("continue")
            finally:
                done.set()
            elf, off = offset_from_log(log)
            if off is None:
                raise gdb.GdbError("the guest stopped before printing its load offset")
        load_symbols(elf, off)
        gdb.execute("frame", to_string=False)


KspanSpan()
KspanMcentral()
KspanMcache()
KspanHeap()
KspanDump()
KspanCaches()
KspanLoad()
KspanAttach()
