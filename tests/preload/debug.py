#!/usr/bin/env python3
"""Checks of the debug shim (build/host/libkspan-debug.so) under LD_PRELOAD,
part of make test-preload:

  debug.py --lib build/host/libkspan-debug.so --bin build/host/preload

  - fork many times from a multi-threaded process (tests/preload/debugshim.c
    forks: 1000 forks while 4 threads allocate, children that start threads
    and fork grandchildren), without and with the guard mode;
  - python3 started through a bash wrapper script under LD_PRELOAD: 4
    threads allocating while the interpreter forks 300 times, plus
    subprocesses; without and with the guard mode;
  - every function of the malloc family from 4 threads with contents
    checked, in every guard mode (all, 1/N, below);
  - the recorded call site is the program's: the address a report gives
    ("allocated at", "freed at") resolves with addr2line (and gdb, when
    installed) to the marked line of debugshim.c, in the guard mode and
    with red zones;
  - misuse stops with a message that names the function the program
    called (free, cfree, realloc, reallocarray, malloc_usable_size) and
    says "double free" for a double free;
  - bad KSPAN_GUARD* values stop the process with a clear message, and so
    does KSPAN_GUARD with the release shim.

Every check prints one line; the last line is "N passed, M failed".
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys

from checks import RESULTS, no_core, report

HERE = os.path.dirname(os.path.abspath(__file__))
KSPAN_ENV = re.compile(r"^(KSPAN_.*|LD_PRELOAD)$")


def run(cmd, lib, env=None, timeout=300):
    e = {k: v for k, v in os.environ.items() if not KSPAN_ENV.match(k)}
    if os.environ.get("KSPAN_TEST_SEED"):
        e["KSPAN_TEST_SEED"] = os.environ["KSPAN_TEST_SEED"]
    e.update(env or {})
    if lib:
        e["LD_PRELOAD"] = lib
    try:
        p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, preexec_fn=no_core)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", "(timed out after %ds)" % timeout


def tail(s, n=800):
    s = s.strip()
    return s[-n:] if s else "(nothing)"


GUARD_MODES = [
    ("no guard mode", {}),
    ("KSPAN_GUARD=1/10", {"KSPAN_GUARD": "1/10"}),
    ("KSPAN_GUARD=all", {"KSPAN_GUARD": "all"}),
    ("KSPAN_GUARD=all KSPAN_GUARD_BELOW=1", {"KSPAN_GUARD": "all", "KSPAN_GUARD_BELOW": "1"}),
]


def fork_checks(lib, prog):
    for name, env in GUARD_MODES[:3]:
        n = "1000" if not env else "300"
        rc, out, err = run([prog, "forks", n, "4"], lib, env)
        report(rc == 0 and out.strip() == "forks ok %s" % n,
               "%s forks while 4 threads allocate (children start threads, fork "
               "grandchildren), %s" % (n, name), "status %s: %s%s" % (rc, out, tail(err)))


PY_FORKS = r'''
import os, sys, threading, subprocess
stop = False
def busy(seed):
    keep = []
    i = 0
    while not stop:
        keep.append(bytearray((i * seed) % 3000))
        keep.append(str(i) * (i % 50))
        if len(keep) > 200:
            del keep[:100]
        i += 1
ts = [threading.Thread(target=busy, args=(s,)) for s in range(1, 5)]
for t in ts:
    t.start()
for i in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        x = [bytes(i % 500) for _ in range(50)]
        os._exit(0 if len(x) == 50 else 1)
    _, st = os.waitpid(pid, 0)
    if st != 0:
        print("child", i, "status", st)
        sys.exit(1)
for i in range(10):
    r = subprocess.run(["sh", "-c", "echo sub"], capture_output=True)
    assert r.stdout == b"sub\n", r
stop = True
for t in ts:
    t.join()
print("python ok")
'''


def python_checks(lib, work):
    py = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    wrapper = os.path.join(work, "python3-wrapper")
    with open(wrapper, "w") as f:
        f.write("#!/bin/bash\n# python3 started through a bash script\nexec %s \"$@\"\n" % py)
    os.chmod(wrapper, 0o755)
    # CPython keeps flags in the low bits of pointers to objects it
    # allocates with odd sizes: the guard mode's default alignment and 8
    # must both serve it.
    for name, env in (("no guard mode", {}),
                      ("KSPAN_GUARD=1/20", {"KSPAN_GUARD": "1/20"}),
                      ("KSPAN_GUARD=1/20 KSPAN_GUARD_ALIGN=8",
                       {"KSPAN_GUARD": "1/20", "KSPAN_GUARD_ALIGN": "8"})):
        n = "300" if not env else "100"
        rc, out, err = run(["bash", wrapper, "-c", PY_FORKS, n], lib, env)
        report(rc == 0 and out.strip() == "python ok",
               "python3 through a bash wrapper: %s forks while 4 threads allocate, "
               "subprocesses, %s" % (n, name), "status %s: %s%s" % (rc, out, tail(err)))


def churn_checks(lib, prog):
    for name, env in GUARD_MODES:
        rc, out, err = run([prog, "churn", "4"], lib, env)
        report(rc == 0 and out.strip() == "churn ok",
               "the malloc family from 4 threads, contents checked, %s" % name,
               "status %s: %s%s" % (rc, out, tail(err)))


def marked_line(mark):
    with open(os.path.join(HERE, "debugshim.c")) as f:
        for i, l in enumerate(f, 1):
            if l.rstrip().endswith("/* %s */" % mark):
                return i
    raise SystemExit("debug.py: no %s in debugshim.c" % mark)


def symbol(prog, name):
    out = subprocess.run(["nm", prog], capture_output=True, text=True).stdout
    for l in out.splitlines():
        f = l.split()
        if len(f) == 3 and f[2] == name:
            return int(f[0], 16)
    return None


def resolve(prog, bias, addr):
    """file:line of the call that returned to addr (so addr - 1), by
    addr2line and, when installed, gdb: both must agree."""
    off = addr - bias - 1
    a = subprocess.run(["addr2line", "-e", prog, hex(off)], capture_output=True,
                       text=True).stdout.strip()
    m = re.search(r"([^/]+):(\d+)", a)
    got = (m.group(1), int(m.group(2))) if m else None
    if shutil.which("gdb"):
        g = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info line *%s" % hex(off), prog],
                           capture_output=True, text=True).stdout
        mg = re.search(r'Line (\d+) of "([^"]+)"', g)
        gg = (os.path.basename(mg.group(2)), int(mg.group(1))) if mg else None
        if gg != got:
            return None, "addr2line says %s, gdb says %s" % (a, g.strip()[:200])
    return got, a


def site_checks(lib, prog):
    main = symbol(prog, "main")
    site_line = marked_line("SITE-LINE")
    free_line = marked_line("FREE-LINE")
    for mode, env, pat in (
            ("guard", {"KSPAN_GUARD": "all", "KSPAN_GUARD_ALIGN": "1"},
             r"^kspan: out-of-bounds write at 0x[0-9a-f]+: object 0x[0-9a-f]+ of 24 bytes "
             r"allocated at (0x[0-9a-f]+)$"),
            ("uaf", {"KSPAN_GUARD": "all"},
             r"^kspan: use-after-free read at 0x[0-9a-f]+: object 0x[0-9a-f]+ of 24 bytes "
             r"allocated at (0x[0-9a-f]+), freed at (0x[0-9a-f]+)$"),
            ("redzone", {},
             r"^kspan: free\(0x[0-9a-f]+\): heap overflow: object of 24 bytes allocated at "
             r"(0x[0-9a-f]+) was written past its end at offset 24$")):
        rc, out, err = run([prog, "site", mode], lib, env)
        mm = re.search(r"^main=(0x[0-9a-f]+)$", err, re.M)
        m = re.search(pat, err, re.M)
        if rc != -signal.SIGABRT or not m or not mm or main is None:
            report(False, "site %s: the report names the allocation site" % mode,
                   "status %s, stderr: %s" % (rc, tail(err)))
            continue
        bias = int(mm.group(1), 16) - main
        for what, addr, line in (("allocated at", m.group(1), site_line),
                                 ("freed at", m.group(2) if m.lastindex >= 2 else None, free_line)):
            if addr is None:
                continue
            got, raw = resolve(prog, bias, int(addr, 16))
            report(got == ("debugshim.c", line),
                   "site %s: '%s %s' is debugshim.c:%d (addr2line%s)" % (
                       mode, what, addr, line, " and gdb" if shutil.which("gdb") else ""),
                   "resolved to %s" % raw)


DIE = [
    ("double-free", r"^kspan: free\(0x[0-9a-f]+\): double free"),
    ("cfree-twice", r"^kspan: cfree\(0x[0-9a-f]+\): double free"),
    ("realloc-freed", r"^kspan: realloc\(0x[0-9a-f]+\): double free"),
    ("reallocarray-freed", r"^kspan: reallocarray\(0x[0-9a-f]+\): double free"),
    ("usable-freed", r"^kspan: malloc_usable_size\(0x[0-9a-f]+\): use after free"),
    ("realloc-interior", r"^kspan: realloc\(0x[0-9a-f]+\): (interior pointer|not the start)"),
]


def die_checks(lib, prog):
    for name, env in (("red zones", {}), ("KSPAN_GUARD=all", {"KSPAN_GUARD": "all"})):
        for case, pat in DIE:
            rc, out, err = run([prog, "die", case], lib, env)
            msg = [l for l in err.splitlines() if l.startswith("kspan: ")]
            ok = rc == -signal.SIGABRT and msg and re.search(pat, msg[0])
            report(bool(ok), "%s, %s: %s" % (case, name, msg[0][:100] if msg else "-"),
                   "status %s, stderr: %s" % (rc, tail(err)))


BAD_ENV = [
    ({"KSPAN_GUARD": "some"}, "KSPAN_GUARD must be all, 1/N"),
    ({"KSPAN_GUARD": "1/0"}, "KSPAN_GUARD must be all, 1/N"),
    ({"KSPAN_GUARD": "all", "KSPAN_GUARD_BELOW": "yes"}, "KSPAN_GUARD_BELOW must be 0 or 1"),
    ({"KSPAN_GUARD": "all", "KSPAN_GUARD_ALIGN": "3"}, "KSPAN_GUARD_ALIGN must be 1, 2, 4, 8 or 16"),
    ({"KSPAN_GUARD": "all", "KSPAN_GUARD_QUARANTINE": "0"}, "KSPAN_GUARD_QUARANTINE must be"),
    ({"KSPAN_GUARD": "all", "KSPAN_GUARD_MAX_MB": "x"}, "KSPAN_GUARD_MAX_MB must be"),
    ({"KSPAN_GUARD": "all", "KSPAN_GUARD_POOL_GB": "99999"}, "KSPAN_GUARD_POOL_GB must be"),
    ({"KSPAN_TEST_SEED": "0xzz"}, "KSPAN_TEST_SEED must be"),
]


def env_checks(lib, release):
    for env, want in BAD_ENV:
        rc, out, err = run(["/bin/true"], lib, env)
        report(rc == -signal.SIGABRT and ("kspan: " + want) in err,
               "%s stops the process: %s" % (" ".join("%s=%s" % kv for kv in env.items()),
                                             err.strip()[:90]),
               "status %s: %s" % (rc, tail(err)))
    if release:
        rc, out, err = run(["sort", "/dev/null"], release, {"KSPAN_GUARD": "all"})
        report(rc == -signal.SIGABRT and "KSPAN_GUARD needs the debug shim" in err,
               "KSPAN_GUARD with the release libkspan.so stops: %s" % err.strip()[:90],
               "status %s: %s" % (rc, tail(err)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", required=True, help="the debug shim")
    ap.add_argument("--release", help="the release shim (for the KSPAN_GUARD check)")
    ap.add_argument("--bin", required=True, help="where debugshim was built")
    args = ap.parse_args()
    lib = os.path.abspath(args.lib)
    release = os.path.abspath(args.release) if args.release else None
    prog = os.path.join(os.path.abspath(args.bin), "debugshim")
    work = os.path.join(os.path.abspath(args.bin), "work-debug")
    os.makedirs(work, exist_ok=True)
    print("debug shim: fork from threads")
    fork_checks(lib, prog)
    python_checks(lib, work)
    print("debug shim: the malloc family in every guard mode")
    churn_checks(lib, prog)
    print("debug shim: call sites")
    site_checks(lib, prog)
    print("debug shim: reports name the function called")
    die_checks(lib, prog)
    print("debug shim: bad settings")
    env_checks(lib, release)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    if RESULTS["failed"] == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
