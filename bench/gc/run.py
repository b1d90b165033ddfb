#!/usr/bin/env python3
"""Collector benchmark driver (bench/gc/README.md): kspan's collector
against the Boehm-Demers-Weiser collector on the same workloads.

Every (workload, backend) run is a child process started by the small C
launcher (bench/launch.c), which reports its peak RSS (ru_maxrss from
wait4).  Rounds are interleaved: each round runs every workload under every
backend, the backend order rotating from one workload and round to the
next.  Each figure in the tables is the median over the rounds.  Every run
prints a checksum; all runs of a workload (every backend, every round) must
print the same one, or the run fails.

  bench/gc/run.py --bin build/bench-gc --out build/bench-gc
                  [--rounds R] [--scale X] [--seed N] [--forced K]
                  [--workloads a,b] [--backends a,b] [--smoke]

Writes <out>/results.md and <out>/results.json and prints the Markdown to
stdout.  Exit status 1 if any run failed or any checksums disagree (after
the results are written).  Only the Python standard library is needed.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

WORKLOADS = ["gcbench", "garbage", "tree64", "tree256", "list256"]

def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# kspan-par marks with every usable CPU, as Boehm's default does.
PAR_MARKERS = max(2, usable_cpus())

# backend id -> binary, extra arguments, environment for the child
BACKENDS = {
    "kspan": ("gcb-kspan", [], {}),
    "kspan-par": ("gcb-kspan", ["-m", str(PAR_MARKERS)], {}),
    "kspan-cons": ("gcb-kspan", ["-c"], {}),
    "boehm-1": ("gcb-boehm", [], {"GC_MARKERS": "1"}),
    "boehm-default": ("gcb-boehm", [], {}),
}
BACKEND_ORDER = ["kspan", "kspan-par", "kspan-cons", "boehm-1", "boehm-default"]

DESCRIBE = {
    "kspan": "kspan, kgc_alloc with pointer maps, 1 marker (stop-the-world, lazy sweep)",
    "kspan-par": "kspan, pointer maps, %d markers (the collecting thread and %d helpers)"
                 % (PAR_MARKERS, PAR_MARKERS - 1),
    "kspan-cons": "kspan, kgc_alloc with type NULL (every word scanned), 1 marker",
    "boehm-1": "Boehm GC_MALLOC, GC_MARKERS=1",
    "boehm-default": "Boehm GC_MALLOC, default number of markers",
}

# Environment variables that tune Boehm (GC_MARKERS, GC_NPROCS,
# GC_INITIAL_HEAP_SIZE, GC_PRINT_STATS, ...): removed, so each backend runs
# with its defaults plus only what BACKENDS sets.
TUNING_ENV = re.compile(r"^GC_")

DEFAULT_ROUNDS = 5
SMOKE_SCALE = 0.05
SMOKE_FORCED = 3


def log(msg=""):
    print(msg, flush=True)


def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def git_describe():
    out = run_text(["git", "-C", HERE, "describe", "--always", "--dirty"]).strip()
    return out or None


def machine_info():
    cpu, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu is None:
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "constant_tsc": "constant_tsc" in flags,
        "nonstop_tsc": "nonstop_tsc" in flags,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "compiler": (run_text(["gcc", "--version"]).splitlines() or [None])[0],
        "loadavg_at_start": load,
    }


def child_env(backend):
    env = {k: v for k, v in os.environ.items() if not TUNING_ENV.match(k)}
    env.pop("LD_PRELOAD", None)
    env.update(BACKENDS[backend][2])
    return env


def parse_line(prefix, text):
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return line[len(prefix) + 1:]
    return None


def parse_kv(line):
    out = {}
    for tok in (line or "").split()[1:]:
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


def backend_info(args, backend):
    binary, extra, _ = BACKENDS[backend]
    p = subprocess.run([os.path.join(args.bin, binary)] + extra + ["--info"],
                       env=child_env(backend), capture_output=True, text=True, check=False)
    line = parse_line("gcbench-info", p.stdout)
    if p.returncode != 0 or line is None:
        return {"error": (p.stderr.strip() or "no --info output (exit %d)" % p.returncode)}
    return json.loads(line)


def run_one(args, backend, workload, timeout):
    binary, extra, _ = BACKENDS[backend]
    cmd = [os.path.join(args.bin, "launch"), "-t", str(timeout), "--",
           os.path.join(args.bin, binary)] + extra + [
           "-s", repr(args.scale), "-S", str(args.seed), "-k", str(args.forced)] + (
           ["-V"] if args.smoke else []) + [workload]
    p = subprocess.run(cmd, env=child_env(backend), capture_output=True, text=True, check=False)
    launch = None
    for line in p.stdout.splitlines():
        if line.startswith("launch "):
            launch = parse_kv(line)
    line = parse_line("gcbench-result", p.stdout)
    err_tail = " | ".join(p.stderr.strip().splitlines()[-3:])
    run = {"backend": backend, "workload": workload, "ok": False, "error": None,
           "result": None, "launch": launch, "stderr": p.stderr[-2000:] or None}
    if launch is None:
        run["error"] = "launcher failed: " + (err_tail or "no output")
    elif launch.get("timeout") == "1":
        run["error"] = "timed out after %d s" % timeout
    elif launch.get("signal") not in (None, "0"):
        run["error"] = "killed by signal %s: %s" % (launch["signal"], err_tail)
    elif launch.get("status") != "0" or line is None:
        run["error"] = "exit status %s: %s" % (launch.get("status"), err_tail or "no result")
    else:
        run["ok"] = True
        run["result"] = json.loads(line)
        run["maxrss_kib"] = int(launch["maxrss_kib"])
    return run


# ---- figures of one run ----------------------------------------------------

def figures(run):
    r = run["result"]
    n = r["collections"]
    f = {
        "total_s": r["total_ns"] / 1e9,
        "gc_s": r["gc_ns"] / 1e9,
        "collections": n,
        "pause_median_ms": r["pause_median_ns"] / 1e6 if n else None,
        "pause_max_ms": r["pause_max_ns"] / 1e6 if n else None,
        "mark_bytes_per_cycle": r["marked_bytes"] / r["mark_tsc"] if r["mark_tsc"] else None,
        "mark_cycles_per_object": (r["mark_tsc"] / r["marked_objects"]
                                   if r["marked_objects"] else None),
        "marked_mib_per_gc": r["marked_bytes"] / n / 2**20 if n else None,
        "peak_rss_mib": run["maxrss_kib"] / 1024,
        "tsc_ghz": r["tsc_hz"] / 1e9,
    }
    return f


def median_or_none(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


# ---- report ------------------------------------------------------------------

COLUMNS = [
    ("total s", "total_s", "%.3f"),
    ("GC s", "gc_s", "%.3f"),
    ("GCs", "collections", "%g"),
    ("pause med ms", "pause_median_ms", "%.2f"),
    ("pause max ms", "pause_max_ms", "%.2f"),
    ("mark B/cyc", "mark_bytes_per_cycle", "%.2f"),
    ("mark cyc/obj", "mark_cycles_per_object", "%.1f"),
    ("marked MiB/GC", "marked_mib_per_gc", "%.1f"),
    ("peak RSS MiB", "peak_rss_mib", "%.1f"),
]


def render(doc):
    out = []
    cfg = doc["config"]
    m = doc["machine"]
    title = "kspan collector vs Boehm GC" + (" — SMOKE SCALE (checks only, not a measurement)"
                                              if cfg["smoke"] else "")
    out.append("# " + title)
    out.append("")
    out.append("%s; scale %g, seed %d, %d round(s), %d forced collections per live-heap run; "
               "%s, %s CPU(s) usable, load at start %s; kspan %s; %s." % (
                   doc["date"], cfg["scale"], cfg["seed"], cfg["rounds"], cfg["forced"],
                   m["cpu_model"], m["nproc"],
                   " ".join("%.2f" % x for x in m["loadavg_at_start"] or []),
                   doc["git"], doc["boehm_note"]))
    out.append("")
    out.append("Medians over the rounds.  Times are wall clock (CLOCK_MONOTONIC); "
               "*mark B/cyc* is bytes marked per TSC cycle of the mark phase (rdtsc, "
               "reference cycles at %.2f GHz%s), *mark cyc/obj* TSC cycles per object "
               "marked; see bench/gc/README.md for how each figure is taken for each "
               "backend." % (doc["tsc_ghz"] or 0, "" if m["constant_tsc"] else
                             ", but this CPU does not report constant_tsc"))
    out.append("")
    head = ["workload", "backend"] + [c[0] for c in COLUMNS] + ["checksum"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] * 2 + ["---:"] * len(COLUMNS) + ["---"]) + "|")
    for w in cfg["workloads"]:
        for b in cfg["backends"]:
            cell = doc["summary"][w][b]
            row = [w, b]
            if cell["failed"]:
                row += ["FAIL"] * len(COLUMNS)
            else:
                for _, key, fmt in COLUMNS:
                    v = cell["median"][key]
                    row.append("–" if v is None else fmt % v)
            row.append(cell["checksum_status"])
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Backends: " + "; ".join("*%s*: %s" % (b, DESCRIBE[b]) for b in cfg["backends"])
               + ".")
    cs = ["%s %s" % (w, "/".join(doc["checksums"][w])) for w in cfg["workloads"]
          if w in doc["checksums"]]
    if cs:
        out.append("")
        out.append("Checksums (one per workload when every backend and round agree): "
                   + ", ".join(cs) + ".")
    if doc["failures"]:
        out.append("")
        out.append("## Failures")
        out.append("")
        for f in doc["failures"]:
            out.append("- " + f)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--scale", type=float)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--forced", type=int)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--backends", default=",".join(BACKEND_ORDER))
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.smoke else DEFAULT_ROUNDS
    if args.scale is None:
        args.scale = SMOKE_SCALE if args.smoke else 1.0
    if args.forced is None:
        args.forced = SMOKE_FORCED if args.smoke else 5
    workloads = [w for w in args.workloads.split(",") if w]
    backends = [b for b in args.backends.split(",") if b]
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit("run.py: unknown workload %s (known: %s)" % (w, ", ".join(WORKLOADS)))
    for b in backends:
        if b not in BACKENDS:
            sys.exit("run.py: unknown backend %s (known: %s)" % (b, ", ".join(BACKEND_ORDER)))
    if args.rounds < 1 or args.scale <= 0 or args.forced < 1:
        sys.exit("run.py: rounds and forced must be >= 1, scale > 0")
    os.makedirs(args.out, exist_ok=True)
    # Generous: the full 256 MiB runs take seconds; a hang must not stall CI.
    timeout = int(60 + 600 * args.scale)

    machine = machine_info()
    infos = {b: backend_info(args, b) for b in backends}
    failures = []
    for b, i in infos.items():
        if "error" in i:
            failures.append("%s: cannot start: %s" % (b, i["error"]))
    # Boehm's default number of markers, reported even when boehm-default
    # is not among the backends run.
    bd = infos.get("boehm-default") or backend_info(args, "boehm-default")
    if "markers" in bd:
        if bd.get("parallel_mark"):
            boehm_note = ("Boehm %s: parallel marking available, default %d markers"
                          % (bd["version"], bd["markers"]))
        else:
            boehm_note = ("Boehm %s: default is 1 marker (no parallel marking in this build, "
                          "or one CPU), so boehm-default equals boehm-1" % bd["version"])
    else:
        boehm_note = "Boehm default markers not measured"
    log("bench-gc: scale %g, seed %d, %d round(s), forced %d; %s" % (
        args.scale, args.seed, args.rounds, args.forced, boehm_note))

    runs = []
    for rnd in range(args.rounds):
        for wi, w in enumerate(workloads):
            k = (rnd + wi) % len(backends)
            order = backends[k:] + backends[:k]
            for b in order:
                if "error" in infos[b]:
                    continue
                run = run_one(args, b, w, timeout)
                run["round"] = rnd
                runs.append(run)
                if run["ok"]:
                    f = figures(run)
                    run["figures"] = f
                    log("  round %d  %-8s %-13s total %8.3f s  gc %7.3f s  %5d GCs  "
                        "pause med %8.2f ms  checksum %s" % (
                            rnd + 1, w, b, f["total_s"], f["gc_s"], f["collections"],
                            f["pause_median_ms"] or 0, run["result"]["checksum"]))
                else:
                    failures.append("%s / %s, round %d: %s" % (w, b, rnd + 1, run["error"]))
                    log("  round %d  %-8s %-13s FAIL: %s" % (rnd + 1, w, b, run["error"]))

    # Checksums: one value per workload over every backend and round.
    checksums = {}
    for r in runs:
        if r["ok"]:
            checksums.setdefault(r["workload"], set()).add(r["result"]["checksum"])
    for w, cs in checksums.items():
        if len(cs) > 1:
            detail = ", ".join("%s round %d: %s" % (r["backend"], r["round"] + 1,
                                                   r["result"]["checksum"])
                               for r in runs if r["ok"] and r["workload"] == w)
            failures.append("%s: checksums disagree (%s)" % (w, detail))

    summary = {}
    tsc = []
    for w in workloads:
        summary[w] = {}
        for b in backends:
            rs = [r for r in runs if r["workload"] == w and r["backend"] == b]
            ok = [r for r in rs if r["ok"]]
            failed = len(ok) < len(rs) or not rs
            cell = {"rounds": len(ok), "failed": failed, "median": {}, "per_round": {}}
            for key in ok[0]["figures"] if ok else []:
                vals = [r["figures"][key] for r in ok]
                cell["per_round"][key] = vals
                cell["median"][key] = median_or_none(vals)
            tsc += [r["figures"]["tsc_ghz"] for r in ok]
            if failed:
                cell["checksum_status"] = "FAIL"
            elif len(checksums.get(w, ())) == 1:
                cell["checksum_status"] = "ok"
            else:
                cell["checksum_status"] = "MISMATCH"
            if ok:
                last = ok[-1]["result"]
                cell["backend"] = {k: last[k] for k in ("backend", "version", "config",
                                                         "markers", "parallel_mark")}
            summary[w][b] = cell

    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_describe(),
        "config": {"smoke": args.smoke, "scale": args.scale, "seed": args.seed,
                   "rounds": args.rounds, "forced": args.forced,
                   "workloads": workloads, "backends": backends},
        "machine": machine,
        "backends": infos,
        "boehm_note": boehm_note,
        "tsc_ghz": statistics.median(tsc) if tsc else None,
        "checksums": {w: sorted(cs) for w, cs in checksums.items()},
        "summary": summary,
        "failures": failures,
        "runs": runs,
    }
    md = render(doc)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, default=sorted)
        f.write("\n")
    log("")
    log(md)
    log("bench-gc: wrote %s and %s" % (os.path.join(args.out, "results.md"),
                                       os.path.join(args.out, "results.json")))
    if failures:
        log("bench-gc: %d failure(s)" % len(failures))
        return 1
    nruns = len(runs)
    log("bench-gc: %d passed, 0 failed" % nruns if args.smoke else
        "bench-gc: %d runs, all checksums agree" % nruns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
