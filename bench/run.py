#!/usr/bin/env python3
"""Allocator benchmark driver: runs every bench/ workload unchanged under
glibc, jemalloc, tcmalloc, mimalloc, kspan and the hobby-kernel peers
liballoc, TLSF and o1heap (through LD_PRELOAD), in round-robin rounds, and
reports median ops/s, every allocator's ratio to the best mainstream
allocator (glibc, jemalloc, tcmalloc, mimalloc) on each workload and the
geometric mean of those ratios, peak RSS and kspan's peak RSS over the
lowest of the size-segregated peers, the fragmentation test's RSS after each
phase, and the instructions per malloc+free pair that callgrind counts on a
tight loop.

Writes <out>/results.md, <out>/results.json and <out>/bench.png.

  bench/run.py [--rounds R] [--scale X] [--full] [--workloads a,b]
               [--allocs a,b] [--no-callgrind] [--smoke] [--seed N]
               [--peers build/bench/peers] [--peers-src ../shared/peers]
               --bin build/bench --out build/bench --kspan build/host/libkspan.so

--peers names the folder bench/peers.sh built the hobby-kernel peers into
(lib<peer>.so, and a status file saying why a peer is missing); --peers-src
is the peers' source folder (PEERS_DIR), only for their versions and notes.

kspan's debug shim (--kspan-debug, default libkspan-debug.so next to
--kspan) adds allocators that are not run unless --allocs names them:
kspan-debug (red zones and poison), kspan-guard (KSPAN_GUARD=all) and
kspan-guard100 (KSPAN_GUARD=1/100), both with the guard mode's default
alignment (the workloads check C11's malloc alignment); the report then has a table of their
ops/s and peak RSS over the release shim's, from the same run, and of the
share of allocations the guarded pool took (its statistics at exit).
--kspan-env "K=V ..." adds variables to the kspan (release) run.

--smoke runs each workload very briefly under every allocator present,
checking results only; it exits non-zero if any allocator fails a check.
Only the Python standard library is needed; the plot uses matplotlib (from
this interpreter or another python3 on PATH), and is skipped without it.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

WORKLOADS = [
    "larson", "larson-4t", "larson-8t", "xmalloc", "xmalloc-4t", "xmalloc-8t",
    "cache-scratch", "mstress", "alloc-test",
    "small-loop", "small-batch", "large", "realloc", "frag",
]

# The mainstream allocators: every ratio is taken to the best of these on the
# workload, in the same run.
MAINSTREAM = ["glibc", "jemalloc", "tcmalloc", "mimalloc"]
# The size-segregated ones among them: kspan's peak RSS is compared with the
# lowest of these.
SEGREGATED = ["jemalloc", "tcmalloc", "mimalloc"]
# Allocators from hobby kernels and embedded systems, built from PEERS_DIR by
# bench/peers.sh into --peers as lib<name>.so; the value is the name in
# PEERS_DIR's README table.
HOBBY = {"liballoc": "liballoc", "tlsf": "TLSF", "o1heap": "o1heap"}

ALLOC_ORDER = MAINSTREAM + ["kspan"] + list(HOBBY)

# kspan's debug shim in its modes: only when --allocs names them (slow).
# The environment each one runs with.  The workloads check C11's malloc
# alignment (aligned_ok in bench/bench.h), which the guard mode's default
# alignment (16 for n >= 16) gives; KSPAN_GUARD_ALIGN=1 would not.
KSPAN_DEBUG = {
    "kspan-debug": {},
    "kspan-guard": {"KSPAN_GUARD": "all"},
    "kspan-guard100": {"KSPAN_GUARD": "1/100"},
}
KNOWN_ALLOCS = ALLOC_ORDER + list(KSPAN_DEBUG)

# Allocators that need more room.  timeout_factor multiplies the per-run
# timeout.  work[workload] = (fraction, why) runs that workload with that
# fraction of the work (its scale times the fraction) under this allocator
# only; the tables mark such a cell with a dagger and say why.  ops/s stays
# a measured rate over the work done.  Only for runs that would otherwise
# take minutes.
SLOW = {
    "liballoc": {
        "timeout_factor": 3,
        "work": {
            "small-loop": (1 / 40.0,
                           "its free() unmaps the 64 KiB chunk that became empty and "
                           "the next malloc() maps a new one (about 5 us a pair): at scale 1 "
                           "its 80M pairs would take about 6 minutes"),
        },
    },
}

# Peer allocators: the shared objects to preload, in order of preference.
# tcmalloc_minimal is gperftools' tcmalloc without the heap profiler hooks.
PEERS = {
    "jemalloc": ["libjemalloc.so.2"],
    "tcmalloc": ["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"],
    "mimalloc": ["libmimalloc.so.2"],
}

# Environment variables that tune one of the allocators; removed so that
# every allocator runs with its defaults.
TUNING_ENV = re.compile(r"^(MALLOC_|MIMALLOC_|TCMALLOC_|JEMALLOC_|KSPAN_|GLIBC_TUNABLES$|LD_PRELOAD$)")

# Failures of a peer that are known upstream bugs of the packaged version:
# reported as FAIL in the tables (never timed) but they do not fail the run.
KNOWN_PEER_BUGS = [
    {
        "alloc": "mimalloc",
        "workload": "mstress",
        "error": re.compile(r"posix_memalign.*misaligned"),
        "max_version": (2, 1),
        "note": "mimalloc 2.0.x can return a block of up to 1 KiB aligned below "
                "a requested 256, 512 or 1024 bytes (upstream microsoft/mimalloc#700, "
                "fixed upstream in 2023)",
    },
]

DEFAULT_SEED = 42
SMOKE_SCALE = 0.01
SMOKE_FRAG_MIB = 8
# Seconds after which the large and realloc workloads stop early (their ops/s
# stays a measured rate); keeps a page-faulting allocator from taking 10x long.
RUN_CAP_S = 3.0
SMOKE_CAP_S = 1.0
FULL_FRAG_MIB = 1024
CALLGRIND_N = 100000


def log(msg=""):
    print(msg, flush=True)


# ---- finding the allocators ---------------------------------------------

def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def elf_ident(path):
    """(class, machine) of an ELF file, or None."""
    try:
        with open(path, "rb") as f:
            h = f.read(20)
    except OSError:
        return None
    if len(h) < 20 or h[:4] != b"\x7fELF":
        return None
    order = "little" if h[5] == 1 else "big"
    return (h[4], int.from_bytes(h[18:20], order))


def multiarch_dirs():
    dirs = []
    triplet = run_text(["cc", "-print-multiarch"]).strip()
    for base in ("/usr/lib", "/lib", "/usr/local/lib"):
        if triplet:
            dirs.append(os.path.join(base, triplet))
        dirs.append(base)
    return dirs


def find_library(soname, want_ident):
    """Locate a shared object by soname: the dynamic linker's cache, then the
    package database, then the multiarch library folders.  Only a file of
    the benchmark binaries' ELF class and machine qualifies."""
    cands = []
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
    if ldconfig:
        for line in run_text([ldconfig, "-p"]).splitlines():
            m = re.match(r"\s*(\S+)\s+\(.*\)\s+=>\s+(\S+)", line)
            if m and m.group(1) == soname:
                cands.append(("ldconfig -p", m.group(2)))
    if shutil.which("dpkg"):
        for line in run_text(["dpkg", "-S", soname]).splitlines():
            pkg, _, path = line.partition(": ")
            if os.path.basename(path.strip()) == soname:
                cands.append(("dpkg -S (%s)" % pkg.strip(), path.strip()))
    for d in multiarch_dirs():
        cands.append(("multiarch dir", os.path.join(d, soname)))
    for how, path in cands:
        if os.path.isfile(path) and elf_ident(path) == want_ident:
            return path, how
    return None, None


def package_of(path):
    """(package, version) owning a file, from dpkg; (None, None) elsewhere."""
    if not shutil.which("dpkg"):
        return None, None
    for p in {path, os.path.realpath(path)}:
        out = run_text(["dpkg", "-S", p]).strip().splitlines()
        if out:
            pkg = out[0].split(":")[0].strip()
            ver = run_text(["dpkg-query", "-W", "-f", "${Version}", pkg]).strip()
            return pkg, ver or None
    return None, None


def version_tuple(ver):
    nums = re.findall(r"\d+", ver or "")
    return tuple(int(n) for n in nums[:2]) if nums else None


def discover(args):
    want = elf_ident(os.path.join(args.bin, "kbench"))
    allocs = {}
    glibc_ver = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    allocs["glibc"] = {"status": "ok", "lib": None, "found_by": "default (no preload)",
                       "version": glibc_ver, "expect_from": "libc.so.6"}
    for name, sonames in PEERS.items():
        for soname in sonames:
            path, how = find_library(soname, want)
            if path:
                pkg, ver = package_of(path)
                allocs[name] = {"status": "ok", "lib": path, "found_by": how,
                                "package": pkg, "version": ver,
                                "expect_from": os.path.basename(path)}
                break
        else:
            allocs[name] = {"status": "not found", "lib": None,
                            "found_by": "looked for " + ", ".join(sonames)}
    so = os.path.abspath(args.kspan)
    if os.path.isfile(so):
        allocs["kspan"] = {"status": "ok", "lib": so, "found_by": "this build",
                           "version": git_describe(), "expect_from": os.path.basename(so)}
    else:
        allocs["kspan"] = {"status": "not built", "lib": None,
                           "found_by": "%s is missing (make host)" % args.kspan}
    if args.kspan_env and allocs["kspan"]["status"] == "ok":
        allocs["kspan"]["env"] = dict(args.kspan_env)
        allocs["kspan"]["found_by"] += "; with " + " ".join(
            "%s=%s" % kv for kv in args.kspan_env)
    dbg = os.path.abspath(args.kspan_debug or os.path.join(os.path.dirname(so),
                                                            "libkspan-debug.so"))
    for name, env in KSPAN_DEBUG.items():
        if os.path.isfile(dbg):
            allocs[name] = {"status": "ok", "lib": dbg, "env": dict(env),
                            "found_by": "this build" + ("; " + " ".join(
                                "%s=%s" % kv for kv in env.items()) if env else ""),
                            "version": git_describe(), "expect_from": os.path.basename(dbg)}
        else:
            allocs[name] = {"status": "not built", "lib": None,
                            "found_by": "%s is missing (make host)" % dbg}
    allocs.update(discover_hobby(args, want))
    return allocs


def hobby_versions(src):
    """{peer: (version, source)} from the table in PEERS_DIR's README.md:
    '| liballoc 1.1 | what | github.com/... @ commit | license |'."""
    out = {}
    if not src:
        return out
    try:
        with open(os.path.join(src, "README.md")) as f:
            text = f.read()
    except OSError:
        return out
    for name, title in HOBBY.items():
        m = re.search(r"^\|\s*%s\s+([0-9][\w.]*)\s*\|[^|\n]*\|\s*([^|\n]*?)\s*\|"
                      % re.escape(title), text, re.M | re.I)
        if m:
            out[name] = (m.group(1), m.group(2))
    return out


def discover_hobby(args, want):
    """The hobby-kernel peers bench/peers.sh built into args.peers."""
    allocs, reasons = {}, {}
    if args.peers:
        try:
            with open(os.path.join(args.peers, "status")) as f:
                for line in f:
                    name, sep, why = line.partition(": ")
                    if sep:
                        reasons[name.strip()] = why.strip()
        except OSError:
            pass
    versions = hobby_versions(args.peers_src)
    for name in HOBBY:
        so = os.path.abspath(os.path.join(args.peers, "lib%s.so" % name)) if args.peers else None
        if so and os.path.isfile(so) and elf_ident(so) == want:
            ver, source = versions.get(name, (None, None))
            allocs[name] = {"status": "ok", "lib": so, "version": ver, "source": source,
                            "found_by": "built by %s/build.sh" % (args.peers_src or "PEERS_DIR"),
                            "expect_from": os.path.basename(so)}
        elif not args.peers:
            allocs[name] = {"status": "not built", "lib": None,
                            "found_by": "no --peers folder given"}
        else:
            allocs[name] = {"status": "not built", "lib": None,
                            "found_by": reasons.get(name) or
                            "%s/lib%s.so is missing (make bench builds it from PEERS_DIR)"
                            % (args.peers, name)}
    return allocs


def git_describe():
    out = run_text(["git", "-C", HERE, "describe", "--always", "--dirty"]).strip()
    return out or None


# ---- machine --------------------------------------------------------------

def machine_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "compiler": (run_text(["cc", "--version"]).splitlines() or [None])[0],
        "loadavg_at_start": list(load) if load else None,
    }


# ---- running one workload -------------------------------------------------

def parse_kv(line):
    """key=value fields after the first word; error= takes the rest of the line."""
    out = {}
    line, sep, err = line.partition(" error=")
    if sep:
        out["error"] = err.strip()
    for tok in line.split()[1:]:
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


GUARD_STATS = re.compile(r"^kspan guard: (\d+) guarded allocations, (\d+) frees, "
                         r"(\d+) not guarded \(pool limits\), \d+ live \(peak (\d+)\), "
                         r"\d+ KiB committed \(peak (\d+) KiB\)", re.M)


def run_workload(args, env, alloc, info, workload, scale, frag_mib, timeout):
    stats = None
    if info.get("env"):
        env = dict(env, **info["env"])
        if "KSPAN_GUARD" in info["env"]:
            # The guarded pool's statistics at exit: how much it took.
            fd, stats = tempfile.mkstemp(prefix="kbench-guard-", suffix=".txt")
            os.close(fd)
            env["KSPAN_STATS"] = stats
    cmd = [os.path.join(args.bin, "launch"), "-t", str(timeout)]
    if info["lib"]:
        cmd += ["-p", info["lib"]]
    cmd += ["--", os.path.join(args.bin, "kbench"), workload, "-s", repr(scale),
            "-T", repr(args.cap), "-r", str(args.seed)]
    if workload == "frag":
        cmd += ["-m", str(frag_mib)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    guard = None
    if stats:
        with open(stats) as f:
            m = GUARD_STATS.search(f.read())
        os.unlink(stats)
        if m:
            g = [int(x) for x in m.groups()]
            guard = {"guarded": g[0], "frees": g[1], "fallbacks": g[2],
                     "peak_live": g[3], "peak_committed_kib": g[4]}
    res, launch = None, None
    for line in p.stdout.splitlines():
        if line.startswith("result "):
            res = parse_kv(line)
        elif line.startswith("launch "):
            launch = parse_kv(line)
    run = {"ok": False, "error": None, "result": res, "launch": launch, "guard": guard}
    err_tail = " | ".join(p.stderr.strip().splitlines()[-3:])
    if launch is None:
        run["error"] = "launcher failed: " + (err_tail or "no output")
    elif launch.get("timeout") == "1":
        run["error"] = "timed out after %d s" % timeout
    elif launch.get("signal") not in (None, "0"):
        run["error"] = "killed by signal %s" % launch["signal"]
        if err_tail:
            run["error"] += ": " + err_tail
    elif res is None:
        run["error"] = "no result line (exit %s): %s" % (launch.get("status"), err_tail)
    elif res.get("verify") != "OK":
        run["error"] = "verification failed: " + res.get("error", "?")
    elif launch.get("status") != "0":
        run["error"] = "exit status %s: %s" % (launch.get("status"), err_tail)
    elif res.get("malloc_from") != info["expect_from"]:
        run["error"] = "malloc came from %s, not %s: preload not in effect" % (
            res.get("malloc_from"), info["expect_from"])
    else:
        run["ok"] = True
        run["ops_per_s"] = num(res.get("ops_per_s"))
        run["seconds"] = num(res.get("seconds"))
        run["maxrss_kib"] = num(launch.get("maxrss_kib"))
    return run


def run_plan(alloc, workload, scale, timeout):
    """(scale, timeout, fraction, why) of one allocator's run of a workload:
    SLOW's longer timeout and, where it says so, a fraction of the work."""
    slow = SLOW.get(alloc, {})
    frac, why = slow.get("work", {}).get(workload, (1.0, None))
    return scale * frac, int(timeout * slow.get("timeout_factor", 1)), frac, why


def known_bug(alloc, info, workload, error):
    for b in KNOWN_PEER_BUGS:
        if b["alloc"] != alloc or b["workload"] != workload or not b["error"].search(error or ""):
            continue
        v = version_tuple(info.get("version"))
        if v is None or v < b["max_version"]:
            return b["note"]
    return None


# ---- callgrind: instructions per malloc+free pair ------------------------

def callgrind_count(fastpath, mode, n, lib, env, tmpdir):
    out = os.path.join(tmpdir, "cg.%s.%d.out" % (mode, n))
    e = dict(env)
    if lib:
        e["LD_PRELOAD"] = lib
    # callgrind does not replace malloc (unlike memcheck), so the preloaded
    # allocator runs on the simulated CPU as is; --soname-synonyms would not
    # change anything.  Count only inside fp_pairs/fp_empty, inclusive.
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
           "--collect-atstart=no", "--toggle-collect=fp_pairs", "--toggle-collect=fp_empty",
           fastpath, mode, str(n)]
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError("valgrind exit %d: %s" % (
            p.returncode, " | ".join(p.stderr.strip().splitlines()[-2:])))
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in callgrind output")


def fastpath_counts(args, env, allocs):
    res = {}
    if not shutil.which("valgrind"):
        log("fast path: valgrind not found, skipped")
        return {"error": "valgrind not found"}
    fastpath = os.path.join(args.bin, "fastpath")
    n = CALLGRIND_N
    with tempfile.TemporaryDirectory(prefix="kbench-cg-") as tmp:
        try:
            e1 = callgrind_count(fastpath, "empty", n, None, env, tmp)
            e2 = callgrind_count(fastpath, "empty", 2 * n, None, env, tmp)
        except (RuntimeError, OSError) as ex:
            log("fast path: empty loop failed: %s" % ex)
            return {"error": str(ex)}
        loop = (e2 - e1) / n
        res["_loop_instructions"] = loop
        for a in args.allocs:
            info = allocs[a]
            if info["status"] != "ok":
                res[a] = {"status": info["status"]}
                continue
            try:
                c1 = callgrind_count(fastpath, "pair", n, info["lib"], env, tmp)
                c2 = callgrind_count(fastpath, "pair", 2 * n, info["lib"], env, tmp)
                per = (c2 - c1) / n - loop
                res[a] = {"status": "ok", "instr_per_pair": round(per, 2),
                          "count_n": c1, "count_2n": c2, "n": n}
            except (RuntimeError, OSError) as ex:
                res[a] = {"status": "error", "error": str(ex)}
    return res


def run_slab(path, scale, timeout):
    """The object-cache workload (bench/slab/main.c): its table rows and
    its slab-json line."""
    if not path or not os.path.exists(path):
        return {"ok": False, "error": "not built (%s)" % path}
    try:
        p = subprocess.run([path, repr(scale)], capture_output=True, text=True,
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timed out after %d s" % timeout}
    if p.returncode != 0:
        return {"ok": False, "error": "exit %d: %s" % (p.returncode, p.stderr.strip()[-200:])}
    rows, js = [], None
    for line in p.stdout.splitlines():
        if line.startswith("slab-json "):
            js = json.loads(line[len("slab-json "):])
        elif line.startswith("  ") and line.strip().endswith("%"):
            f = line.split()
            rows.append(f if len(f) == 6 else [f[0], ""] + f[1:])
    if js is None:
        return {"ok": False, "error": "no slab-json line"}
    return {"ok": True, "json": js, "rows": rows, "text": p.stdout}


def lib_pair_counts(perf_bin, env):
    """Instructions per kmalloc(32)+kfree and per kmem_cache_alloc +
    kmem_cache_free pair of a 32-byte cache, in the library build
    (tests/perf/fastpath.c, as scripts/fastpath.sh counts them)."""
    n = CALLGRIND_N
    res = {}
    with tempfile.TemporaryDirectory(prefix="kbench-lib-") as tmp:
        def count(mode, k):
            out = os.path.join(tmp, "cg.%s.%d" % (mode, k))
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                   perf_bin, str(k), "32", "1"] + ([mode] if mode else [])
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if p.returncode != 0:
                raise RuntimeError("valgrind exit %d" % p.returncode)
            with open(out) as f:
                for line in f:
                    if line.startswith("summary:") or line.startswith("totals:"):
                        return int(line.split()[1])
            raise RuntimeError("no totals in callgrind output")
        empty = (count("empty", 2 * n) - count("empty", n)) / n
        for name, mode in (("kmalloc", None), ("kmem_cache", "cache")):
            res[name] = (count(mode, 2 * n) - count(mode, n)) / n - empty
    return res


# ---- tables ----------------------------------------------------------------

DAGGER = "\u2020"


def fmt_rate(v):
    if v is None:
        return "-"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return "%.3g%s" % (v / div, suf)
    return "%.3g" % v


def fmt_mib(kib):
    return "-" if kib is None else ("%.1f" % (kib / 1024.0))


def fmt_frac(f):
    inv = 1.0 / f
    return "1/%d" % round(inv) if abs(inv - round(inv)) < 1e-6 else "%g" % f


def fmt_ratio(r):
    return "-" if r is None else "%.3f" % r if r < 0.1 else "%.2f" % r


def cell_status(cell):
    if cell is None:
        return "-"
    if cell.get("status") == "FAIL":
        return "FAIL*" if cell.get("known_bug") else "FAIL"
    return None


def render(summary, md):
    """The report as text lines: Markdown tables when md, else aligned columns."""
    allocs = [a for a in summary["allocators_order"]]
    meta = summary["meta"]
    lines = []

    def table(title, header, rows):
        if md:
            lines.append("### " + title)
            lines.append("")
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            for r in rows:
                lines.append("| " + " | ".join(r) + " |")
        else:
            lines.append(title)
            widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
            for r in [header] + rows:
                lines.append("  ".join(
                    (str(x).ljust(w) if i == 0 else str(x).rjust(w))
                    for i, (x, w) in enumerate(zip(r, widths))))
        lines.append("")

    def para(text):
        lines.append(text)
        lines.append("")

    m = meta["machine"]
    head = "kspan allocator benchmark, %s" % meta["date"]
    lines.append(("## " if md else "") + head)
    lines.append("")
    lines.append("machine: %s CPUs usable (%s), %s, kernel %s; load at start %s" % (
        m["nproc"], m["cpu_model"], m["arch"], m["kernel"],
        " ".join("%.2f" % x for x in (m["loadavg_at_start"] or []))))
    if md:
        lines.append("")
    lines.append("run: %d round(s), allocators in rotating order within each round, "
                 "scale %g, seed %s, frag %d MiB per phase, large/realloc capped at %g s%s; "
                 "compiler: %s" % (
                     meta["rounds"], meta["scale"], meta.get("seed"), meta["frag_mib"],
                     meta["cap_s"], ", FULL" if meta["full"] else "", m["compiler"]))
    lines.append("")
    lines.append("allocators:")
    lines.append("")
    for a in allocs:
        i = summary["allocators"][a]
        if i["status"] == "ok":
            desc = i["lib"] or "glibc malloc, no preload"
            extra = []
            if i.get("package"):
                extra.append("%s %s" % (i["package"], i.get("version") or ""))
            elif i.get("version"):
                extra.append(i["version"])
            if i.get("source"):
                extra.append(i["source"])
            extra.append("found by " + i["found_by"] if not i["found_by"].startswith("built")
                         else i["found_by"])
            lines.append("%s %-9s %s (%s)" % ("-" if md else " ", a, desc, "; ".join(extra)))
        else:
            lines.append("%s %-9s %s: %s" % ("-" if md else " ", a, i["status"].upper(),
                                              i["found_by"]))
    lines.append("")

    res = summary["results"]
    wls = summary["workloads_order"]
    base = summary["baseline"]
    geo = summary["geomean"]
    rows = []
    for w in wls:
        r = [w]
        for a in allocs:
            c = res[w].get(a)
            s = cell_status(c)
            if s is None and c.get("status") == "ok":
                s = "%s (%s)" % (fmt_rate(c["ops_per_s_median"]), fmt_ratio(c.get("ratio")))
                if c.get("work_fraction", 1.0) != 1.0:
                    s += DAGGER
            r.append(s if s is not None else c.get("status", "-"))
        r.append(base[w]["alloc"] if base.get(w) else "none")
        rows.append(r)
    r = ["geomean"]
    partial = False
    for a in allocs:
        g = geo.get(a)
        if not g or g["geomean"] is None:
            r.append("-")
            continue
        cell = fmt_ratio(g["geomean"])
        if g["n"] < g["of"]:
            cell += " [%d/%d]" % (g["n"], g["of"])
            partial = True
        r.append(cell)
    r.append("")
    rows.append(r)
    table("Throughput: median ops/s (ratio to the best mainstream allocator, glibc/jemalloc/"
          "tcmalloc/mimalloc, on the row; higher is better)",
          ["workload"] + allocs + ["baseline"], rows)
    if partial:
        out = []
        for a in allocs:
            g = geo.get(a)
            if g and g["left_out"] and g["geomean"] is not None:
                out.append("%s without %s" % (a, ", ".join(
                    "%s (%s)" % (x["workload"], x["why"]) for x in g["left_out"])))
        para("geomean [n/m]: over the n of m workloads with a ratio; left out: "
             + "; ".join(out) + ".")

    nobase = [w for w in wls if not base.get(w)]
    if nobase:
        para("no mainstream allocator ran on %s: no ratios there." % ", ".join(nobase))

    rows = []
    seg = meta.get("segregated", SEGREGATED)
    for w in wls:
        r = [w]
        for a in allocs:
            c = res[w].get(a)
            s = cell_status(c)
            if s is None and c.get("status") == "ok":
                s = fmt_mib(c["peak_rss_kib_median"])
                if c.get("work_fraction", 1.0) != 1.0:
                    s += DAGGER
            r.append(s if s is not None else c.get("status", "-"))
        rr = summary["kspan_rss_ratio"].get(w)
        r.append("%.2f (%s)" % (rr["ratio"], rr["lowest"]) if rr else "-")
        rows.append(r)
    table("Peak RSS, MiB (ru_maxrss of the workload process, median of rounds); "
          "kspan/seg = kspan's peak RSS over the lowest of %s" % "/".join(seg),
          ["workload"] + allocs + ["kspan/seg"], rows)

    if "frag" in res:
        rows = []
        for a in allocs:
            c = res["frag"].get(a)
            if not c or c.get("status") != "ok":
                rows.append([a] + [cell_status(c) or (c or {}).get("status", "-")] * 5)
                continue
            f = c["frag"]
            rows.append([a, fmt_mib(f["rss_small_kib"]), fmt_mib(f["rss_freed_kib"]),
                         fmt_mib(f["rss_mixed_kib"]), fmt_mib(c["peak_rss_kib_median"]),
                         fmt_mib(f["rss_end_kib"])])
        table("frag: RSS in MiB after each phase (%d MiB of 64 B objects, 90%% freed, "
              "%d MiB of 256 B objects; after free-all = RSS once everything is freed)" % (
                  meta["frag_mib"], meta["frag_mib"]),
              ["allocator", "64 B filled", "90% freed", "+256 B filled", "peak",
               "after free-all"], rows)
        keep = [a for a in ("tlsf", "o1heap") if res["frag"].get(a, {}).get("status") == "ok"]
        if keep:
            one = len(keep) == 1
            para("%s never return%s memory to the OS: %s RSS after free-all stays at "
                 "%s peak, less frag's own pointer arrays (unmapped before that "
                 "reading)." % (" and ".join(keep), "s" if one else "",
                                "its" if one else "their", "its" if one else "their"))

    dbg = [a for a in allocs if a in KSPAN_DEBUG]
    if dbg and "kspan" in allocs:
        rows = []
        for w in wls:
            k = res[w].get("kspan", {})
            r = [w]
            for a in dbg:
                c = res[w].get(a, {})
                if k.get("status") != "ok" or c.get("status") != "ok":
                    r.append(cell_status(c) or c.get("status", "-"))
                    continue
                cell = "%.3g / %.3g" % (k["ops_per_s_median"] / c["ops_per_s_median"],
                                        c["peak_rss_kib_median"] / k["peak_rss_kib_median"])
                g = c.get("guard")
                if g:
                    total = g["guarded"] + g["fallbacks"]
                    if a == "kspan-guard" and total:
                        cell += " (%.0f%% guarded)" % (100.0 * g["guarded"] / total)
                    elif total:
                        cell += " (%d guarded)" % g["guarded"]
                r.append(cell)
            rows.append(r)
        r = ["geomean"]
        for a in dbg:
            pairs = [(res[w]["kspan"]["ops_per_s_median"] / res[w][a]["ops_per_s_median"],
                      res[w][a]["peak_rss_kib_median"] / res[w]["kspan"]["peak_rss_kib_median"])
                     for w in wls if res[w].get("kspan", {}).get("status") == "ok"
                     and res[w].get(a, {}).get("status") == "ok"]
            r.append("%.3g / %.3g" % (geomean([x for x, _ in pairs]),
                                      geomean([y for _, y in pairs])) if pairs else "-")
        rows.append(r)
        table("kspan's debug shim against the release shim, same run: slowdown "
              "(release ops/s over the mode's) / peak RSS over release's; guard "
              "modes: share or number of allocations the guarded pool took",
              ["workload"] + dbg, rows)

    fp = summary.get("fastpath")
    if fp and "error" not in fp:
        parts = []
        for a in allocs:
            c = fp.get(a, {})
            if c.get("status") == "ok":
                parts.append("%s %.1f" % (a, c["instr_per_pair"]))
            else:
                parts.append("%s %s" % (a, c.get("status", "-")))
        lines.append("Fast path: instructions per malloc(32)+free pair (callgrind, "
                     "call and PLT overhead included, the loop's %.0f subtracted): "
                     % fp["_loop_instructions"] + " | ".join(parts))
        lines.append("")
    elif fp:
        lines.append("Fast path: not measured (%s)" % fp["error"])
        lines.append("")

    sl = summary.get("slab")
    if sl and sl.get("ok"):
        j = sl["json"]
        rows = [r for r in sl["rows"]]
        table("Object caches (kspan's kmem_cache, bench/slab): %d live objects of a "
              "kernel's exact sizes, heap memory with one cache per type against "
              "kmalloc of the same sizes" % j["live"],
              ["type", "size", "live", "kmalloc KiB", "cache KiB", "saved"], rows)
        para("Object caches: churn %s ops/s with caches, %s with kmalloc; alloc+free "
             "pair (inode, 616 B) %.1f ns with kmem_cache, %.1f ns with kmalloc." % (
                 fmt_rate(j["churn_cache"]), fmt_rate(j["churn_kmalloc"]),
                 j["pair_ns_cache"], j["pair_ns_kmalloc"]))
    elif sl:
        para("Object caches: not measured (%s)" % sl.get("error"))

    notes = list(summary.get("notes", []))
    for a, v in meta.get("slow", {}).items():
        if a in allocs and summary["allocators"][a]["status"] == "ok" and \
                v.get("timeout_factor", 1) != 1:
            notes.append("%s runs get %dx the per-run timeout (%d s)." % (
                a, v["timeout_factor"], meta.get("timeout_s", 0) * v["timeout_factor"]))
    if notes:
        lines.append("Notes:")
        lines.append("")
        for n in notes:
            lines.append(("- " if md else "  ") + n)
        lines.append("")
    return lines


# ---- summaries -------------------------------------------------------------

def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarise(args, allocs, present, runs):
    """Per workload and allocator: medians, FAIL cells, ratios to the best
    mainstream allocator; per allocator: the geomean of its ratios; per
    workload: kspan's peak RSS over the lowest size-segregated peer's."""
    results, notes, unexpected = {}, [], []
    for w in args.workloads:
        results[w] = {}
        for a in args.allocs:
            if a not in present:
                results[w][a] = {"status": allocs[a]["status"]}
                continue
            rs = runs[w][a]
            bad = [x for x in rs if not x["ok"]]
            if bad:
                note = known_bug(a, allocs[a], w, bad[0]["error"])
                results[w][a] = {"status": "FAIL", "error": bad[0]["error"],
                                 "failed_rounds": len(bad), "rounds": len(rs),
                                 "known_bug": note}
                if note:
                    if "FAIL* = known upstream bug: " + note not in notes:
                        notes.append("FAIL* = known upstream bug: " + note)
                else:
                    unexpected.append("%s under %s: %s" % (w, a, bad[0]["error"]))
                continue
            ops = [x["ops_per_s"] for x in rs]
            rss = [x["maxrss_kib"] for x in rs]
            c = {"status": "ok", "ops_per_s": ops,
                 "ops_per_s_median": statistics.median(ops),
                 "peak_rss_kib": rss, "peak_rss_kib_median": statistics.median(rss),
                 "seconds": [x["seconds"] for x in rs],
                 "rss_end_kib": statistics.median(num(x["result"]["rss_end_kib"]) for x in rs),
                 "work_fraction": rs[0]["work_fraction"]}
            if rs[0]["work_fraction"] != 1.0:
                c["work_note"] = rs[0]["work_note"]
            if all(x.get("guard") for x in rs):
                c["guard"] = {k: statistics.median(x["guard"][k] for x in rs)
                              for k in rs[0]["guard"]}
            if w == "frag":
                c["frag"] = {k: statistics.median(num(x["result"][k]) for x in rs)
                             for k in ("rss_small_kib", "rss_freed_kib", "rss_mixed_kib",
                                       "rss_end_kib")}
            results[w][a] = c

    # The baseline of a workload: the best mainstream allocator on it.
    baselines = {}
    for w in args.workloads:
        ok = [(results[w][a]["ops_per_s_median"], a) for a in MAINSTREAM
              if results[w].get(a, {}).get("status") == "ok"]
        if not ok:
            baselines[w] = None
            continue
        best, who = max(ok)
        baselines[w] = {"alloc": who, "ops_per_s": best}
        for c in results[w].values():
            if c.get("status") == "ok":
                c["ratio"] = c["ops_per_s_median"] / best

    # Geomean of each allocator's ratios over the workloads it has one for.
    geo = {}
    for a in args.allocs:
        if a not in present:
            continue
        have, left_out = [], []
        for w in args.workloads:
            c = results[w][a]
            if "ratio" in c:
                have.append(c["ratio"])
            elif baselines[w] is None:
                left_out.append({"workload": w, "why": "no mainstream baseline"})
            elif c.get("known_bug"):
                left_out.append({"workload": w, "why": "known upstream failure (FAIL*)"})
            else:
                left_out.append({"workload": w, "why": "FAIL"})
        geo[a] = {"geomean": geomean(have), "n": len(have), "of": len(args.workloads),
                  "left_out": left_out}

    # kspan's peak RSS over the lowest peak of the size-segregated peers.
    rss_ratio = {}
    for w in args.workloads:
        k = results[w].get("kspan", {})
        seg = [(results[w][a]["peak_rss_kib_median"], a) for a in SEGREGATED
               if results[w].get(a, {}).get("status") == "ok"]
        if k.get("status") != "ok" or not seg:
            rss_ratio[w] = None
            continue
        low, who = min(seg)
        rss_ratio[w] = {"ratio": k["peak_rss_kib_median"] / low, "lowest": who,
                        "lowest_kib": low, "kspan_kib": k["peak_rss_kib_median"]}

    for a in args.allocs:
        for w in args.workloads:
            c = results[w].get(a, {})
            if c.get("work_note"):
                notes.append("%s = %s ran %s of the work on %s: %s. Its ops/s is the rate "
                             "over the work it did." % (
                                 DAGGER, a, fmt_frac(c["work_fraction"]), w, c["work_note"]))
    return results, baselines, geo, rss_ratio, notes, unexpected


# ---- main ------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="folder with kbench, launch, fastpath")
    ap.add_argument("--out", required=True, help="folder for results.{md,json}, bench.png")
    ap.add_argument("--kspan", required=True, help="kspan's drop-in library (.so)")
    ap.add_argument("--kspan-debug", default=None,
                    help="kspan's debug shim (default: libkspan-debug.so next to --kspan)")
    ap.add_argument("--kspan-env", default="",
                    help="extra environment of the kspan run: 'K=V K2=V2'")
    ap.add_argument("--peers", default=None,
                    help="folder with the hobby-kernel peers' lib<peer>.so (bench/peers.sh)")
    ap.add_argument("--peers-src", default=None,
                    help="the peers' source folder (PEERS_DIR), for versions and notes")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--full", action="store_true", help="5 rounds, 1 GiB frag run")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--allocs", default=",".join(ALLOC_ORDER))
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--fastpath-only", action="store_true",
                    help="only the callgrind count of instructions per malloc(32)+free "
                         "pair through the preload, one line per allocator (make fastpath)")
    ap.add_argument("--slab", default=None,
                    help="the object-cache workload (bench/slab/main.c's program)")
    ap.add_argument("--lib-fastpath", default=None,
                    help="with --fastpath-only: tests/perf/fastpath.c's program, for the "
                         "library's kmalloc and kmem_cache pairs")
    ap.add_argument("--smoke", action="store_true",
                    help="brief runs, verification only; fail on any failed check")
    ap.add_argument("--timeout", type=int, default=None, help="seconds per run")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED,
                    help="the workloads' random seed (kbench -r)")
    args = ap.parse_args()
    args.cap = SMOKE_CAP_S if args.smoke else RUN_CAP_S

    args.workloads = [w for w in args.workloads.split(",") if w]
    args.allocs = [a for a in args.allocs.split(",") if a]
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error("unknown workload %s (have: %s)" % (w, ", ".join(WORKLOADS)))
    for a in args.allocs:
        if a not in KNOWN_ALLOCS:
            ap.error("unknown allocator %s (have: %s)" % (a, ", ".join(KNOWN_ALLOCS)))
    kv = []
    for tok in args.kspan_env.split():
        k, sep, v = tok.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
            ap.error("--kspan-env wants K=V words, not %r" % tok)
        kv.append((k, v))
    args.kspan_env = kv
    if args.seed < 0:
        ap.error("--seed must be >= 0")
    rounds = args.rounds or (1 if args.smoke else 5 if args.full else 3)
    scale = args.scale * (SMOKE_SCALE if args.smoke else 1.0)
    frag_mib = SMOKE_FRAG_MIB if args.smoke else FULL_FRAG_MIB if args.full else 256
    frag_mib = max(1, int(frag_mib * args.scale)) if args.scale != 1.0 else frag_mib
    timeout = args.timeout or (20 if args.smoke else 600)

    env = {k: v for k, v in os.environ.items() if not TUNING_ENV.match(k)}
    dropped = sorted(k for k in os.environ if TUNING_ENV.match(k))

    allocs = discover(args)
    present = [a for a in args.allocs if allocs[a]["status"] == "ok"]

    if args.fastpath_only:
        fp = fastpath_counts(args, env, allocs)
        if "error" in fp:
            log("fastpath: %s" % fp["error"])
            return 1
        log("preload: instructions per malloc(32)+free pair through LD_PRELOAD "
            "(callgrind, bench/fastpath.c, the loop's %.0f subtracted; the calls and "
            "PLT jumps included)" % fp["_loop_instructions"])
        for a in args.allocs:
            r = fp.get(a, {})
            if r.get("status") == "ok":
                log("  %-10s %6.1f" % (a, r["instr_per_pair"]))
            else:
                log("  %-10s %s" % (a, r.get("error") or allocs[a]["status"]))
        if args.lib_fastpath:
            try:
                lc = lib_pair_counts(args.lib_fastpath, env)
                log("library: instructions per pair of the 32-byte class / cache "
                    "(callgrind, tests/perf/fastpath.c, the loop subtracted)")
                log("  %-28s %6.1f" % ("kmalloc(32) + kfree", lc["kmalloc"]))
                log("  %-28s %6.1f" % ("kmem_cache_alloc + _free", lc["kmem_cache"]))
            except (RuntimeError, OSError) as ex:
                log("library: %s" % ex)
                return 1
        return 0 if fp.get("kspan", {}).get("status") == "ok" else 1

    log("%s: %d workload(s) x %d allocator(s), %d round(s), scale %g, seed %d" % (
        "bench-smoke" if args.smoke else "bench", len(args.workloads), len(present),
        rounds, scale, args.seed))
    for a in args.allocs:
        i = allocs[a]
        if i["status"] == "ok":
            log("  %-14s %s  [%s]" % (a, i["lib"] or "(glibc, no preload)", i["found_by"]))
        else:
            log("  %-14s %s (%s)" % (a, i["status"], i["found_by"]))
    if dropped:
        log("  removed from the environment: " + " ".join(dropped))

    # runs[w][a] = list of run dicts
    runs = {w: {a: [] for a in present} for w in args.workloads}
    for r in range(rounds):
        for wi, w in enumerate(args.workloads):
            # Alternate allocators within the round; rotate the order from one
            # workload and round to the next so none always runs first.
            k = (r + wi) % max(1, len(present))
            order = present[k:] + present[:k]
            for a in order:
                a_scale, a_timeout, frac, why = run_plan(a, w, scale, timeout)
                run = run_workload(args, env, a, allocs[a], w, a_scale, frag_mib, a_timeout)
                run["work_fraction"], run["work_note"] = frac, why
                runs[w][a].append(run)
                mark = " %s %s of the work" % (DAGGER, fmt_frac(frac)) if frac != 1.0 else ""
                if run["ok"]:
                    log("  [%d/%d] %-13s %-14s %10s ops/s  %6.2f s  %7s MiB  ok%s" % (
                        r + 1, rounds, w, a, fmt_rate(run["ops_per_s"]), run["seconds"],
                        fmt_mib(run["maxrss_kib"]), mark))
                else:
                    note = known_bug(a, allocs[a], w, run["error"])
                    log("  [%d/%d] %-13s %-14s FAIL%s: %s" % (
                        r + 1, rounds, w, a, " (known upstream bug)" if note else "",
                        run["error"]))

    results, baselines, geo, rss_ratio, notes, unexpected = summarise(
        args, allocs, present, runs)

    slab = None
    if args.slab:
        slab = run_slab(args.slab, scale * (0.01 if args.smoke else 1.0), timeout)
        if slab["ok"]:
            j = slab["json"]
            log("  slab: %d live objects, %d KiB with caches, %d KiB with kmalloc; "
                "pair %.1f ns (cache) / %.1f ns (kmalloc)" % (
                    j["live"], j["cache_kib"], j["kmalloc_kib"], j["pair_ns_cache"],
                    j["pair_ns_kmalloc"]))
        else:
            unexpected.append("slab: " + slab["error"])

    if args.smoke:
        if unexpected:
            log("bench-smoke: FAILED")
            for u in unexpected:
                log("  " + u)
            return 1
        xf = sum(1 for w in results for c in results[w].values() if c.get("known_bug"))
        log("bench-smoke: %d workload(s) x %d allocator(s) verified%s" % (
            len(args.workloads), len(present),
            ", %d known upstream failure(s) reported" % xf if xf else ""))
        for n in notes:
            log("  " + n)
        return 0

    fastpath = None
    if not args.no_callgrind:
        log("fast path: callgrind, %d and %d malloc(32)+free pairs per allocator ..." % (
            CALLGRIND_N, 2 * CALLGRIND_N))
        fastpath = fastpath_counts(args, env, allocs)

    summary = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "rounds": rounds, "scale": scale, "full": args.full, "frag_mib": frag_mib,
            "cap_s": args.cap, "seed": args.seed, "timeout_s": timeout,
            "kspan_commit": git_describe(),
            "env_removed": dropped,
            "peers_src": args.peers_src,
            "mainstream": MAINSTREAM, "segregated": SEGREGATED, "hobby": list(HOBBY),
            "slow": {a: {"timeout_factor": v.get("timeout_factor", 1),
                         "work": {w: f for w, (f, _) in v.get("work", {}).items()}}
                     for a, v in SLOW.items()},
        },
        "allocators_order": args.allocs,
        "allocators": allocs,
        "workloads_order": args.workloads,
        "results": results,
        "baseline": baselines,
        "geomean": geo,
        "kspan_rss_ratio": rss_ratio,
        "frag_rss_end_kib": ({a: c["frag"]["rss_end_kib"] for a, c in results["frag"].items()
                              if c.get("status") == "ok"} if "frag" in results else None),
        "fastpath": fastpath,
        "slab": slab,
        "notes": notes + ["unexpected failure: " + u for u in unexpected],
        "raw_runs": {w: {a: runs[w][a] for a in runs[w]} for w in runs},
    }
    os.makedirs(args.out, exist_ok=True)
    jpath = os.path.join(args.out, "results.json")
    mpath = os.path.join(args.out, "results.md")
    with open(jpath, "w") as f:
        json.dump(summary, f, indent=1, default=str)
    with open(mpath, "w") as f:
        f.write("\n".join(render(summary, md=True)))
    log("")
    log("\n".join(render(summary, md=False)))
    log("wrote %s and %s" % (mpath, jpath))
    plot(jpath, os.path.join(args.out, "bench.png"))
    return 1 if unexpected else 0


def plot(jpath, png):
    """Draw with this interpreter's matplotlib, or with another python3 on
    PATH that has it; skip the plot when there is none."""
    script = os.path.join(HERE, "plot.py")
    pythons = [sys.executable]
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "python3")
        if os.access(p, os.X_OK) and p not in pythons:
            pythons.append(p)
    for py in pythons:
        ok = subprocess.run([py, "-c", "import matplotlib"], capture_output=True,
                            check=False).returncode == 0
        if not ok:
            continue
        p = subprocess.run([py, script, jpath, png], capture_output=True, text=True,
                           check=False)
        if p.returncode == 0:
            log("wrote %s" % png)
        else:
            log("plot failed: %s" % p.stderr.strip().splitlines()[-1:])
        return
    log("plot skipped: no python3 with matplotlib found")


if __name__ == "__main__":
    sys.exit(main())
