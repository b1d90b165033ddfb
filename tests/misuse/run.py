#!/usr/bin/env python3
"""Memory-misuse scoreboard: builds the programs of tests/misuse/cases/, runs
each one under every allocator configuration, and says for each pair whether
the bug was caught at the bad access, caught later, crashed the program
without a word, or went unnoticed.  See tests/misuse/README.md.

  tests/misuse/run.py [--build build/misuse] [--kspan build/host/libkspan.so]
                      [--kspan-debug build/host/libkspan-debug.so]
                      [--configs a,b] [--cases a,b] [--timeout S] [--repeat N]
                      [--require CONFIG[,CONFIG]]... [--cc cc] [--list] [--build-only]

Writes <build>/results.md and <build>/results.json and prints the table.
--require CONFIG: exit 1 unless CONFIG is available, catches every case its
mechanisms are expected to catch (the case headers' catch= fields), in time
(at the access unless the mechanism reports later) and, for kspan, with a
message that names the right bug class; and runs every control cleanly.
Python standard library only.
"""

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# ---- the case schema ------------------------------------------------------

# Bug classes, and the kspan messages that name each one.  A kspan message
# is a stderr line starting with "kspan: "; the class is right when one of
# the patterns is found in it.
CLASSES = {
    "control":        None,
    "uaf-read":       [r"use-after-free read\b"],
    "uaf-write":      [r"use-after-free write\b"],
    "overflow-read":  [r"out-of-bounds read\b"],
    "overflow-write": [r"out-of-bounds write\b", r"heap overflow"],
    "underflow-read": [r"out-of-bounds read\b"],
    # An underflow write lands in the red zone of the object below, which
    # then reports a heap overflow.
    "underflow-write": [r"out-of-bounds write\b", r"heap overflow"],
    "double-free":    [r"double free", r"page is not in use", r"object is free",
                       r"not the start of a live guarded object"],
    "invalid-free":   [r"interior pointer", r"not in the heap", r"past the last object",
                       r"page is not in use", r"not the start of a live guarded object"],
    # API misuse: the allocator must refuse the request (the program checks).
    "api-overflow":   None,
    "api-align":      None,
}

# Detection mechanisms a case can name in catch= / may=, and when each one
# reports: at the bad access itself, or later (at a free, the next malloc).
MECHANISMS = {
    "free":        "access",   # every free/realloc is checked (kspan release)
    "api":         "access",   # a request that must fail, fails
    "guard":       "access",   # guard pages after objects, freed slots unmapped
    "guard-below": "access",   # guard pages before objects (KSPAN_GUARD_BELOW=1)
    "redzone":     "later",    # red zone checked when the object or a neighbour is freed
    "poison":      "later",    # freed memory poisoned, checked when handed out again
}

# The line format of kspan's guard-page reports (the SIGSEGV handler).
GUARD_LINE = re.compile(
    r"^kspan: (use-after-free|out-of-bounds) (read|write) at (0x[0-9a-f]+): "
    r"object (0x[0-9a-f]+) of (\d+) bytes allocated at (0x[0-9a-f]+)"
    r"(?:, freed at (0x[0-9a-f]+))?$")

MARK = "misuse: "
BUG_MARK = re.compile(r"^misuse: bug (.*?) obj=(\S+) size=(\d+)(?: at=(\S+))?$")

CFLAGS = ["-std=gnu11", "-O1", "-g", "-fno-omit-frame-pointer", "-Wall", "-Wextra",
          "-fno-builtin", "-U_FORTIFY_SOURCE", "-pthread"]


class CaseError(Exception):
    pass


def parse_case(path):
    name = os.path.splitext(os.path.basename(path))[0]
    fields, about = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^//\s*misuse:\s*(.*)$", line)
            if m:
                for tok in m.group(1).split():
                    if "=" not in tok:
                        raise CaseError("%s: header token %r is not key=value" % (path, tok))
                    k, v = tok.split("=", 1)
                    if k in fields:
                        raise CaseError("%s: header key %r given twice" % (path, k))
                    fields[k] = v
                continue
            m = re.match(r"^//\s*misuse-about:\s*(.*)$", line)
            if m:
                about.append(m.group(1).strip())
    if "class" not in fields:
        raise CaseError("%s: no '// misuse: class=...' header" % path)
    cls = fields.pop("class")
    if cls not in CLASSES:
        raise CaseError("%s: unknown class %r (known: %s)" % (path, cls, ", ".join(CLASSES)))

    def mechs(key):
        v = fields.pop(key, "-")
        out = []
        for tok in ([] if v in ("-", "") else v.split(",")):
            mech, _, when = tok.partition("@")
            if mech not in MECHANISMS:
                raise CaseError("%s: %s= names unknown mechanism %r (known: %s)"
                                % (path, key, mech, ", ".join(MECHANISMS)))
            if when not in ("", "access", "later"):
                raise CaseError("%s: %s=%s: the timing must be @access or @later" % (path, key, tok))
            out.append((mech, when or MECHANISMS[mech]))
        return out

    catch, may = mechs("catch"), mechs("may")
    if fields:
        raise CaseError("%s: unknown header keys %s" % (path, ", ".join(sorted(fields))))
    if cls == "control" and (catch or may):
        raise CaseError("%s: a control catches nothing" % path)
    if cls.startswith("api-") and any(m != "api" for m, _ in catch):
        raise CaseError("%s: an api- case is caught by 'api' only" % path)
    return {"name": name, "path": path, "class": cls, "catch": catch, "may": may,
            "about": " ".join(about)}


def spec_text(case):
    if case["class"] == "control":
        return "control"
    def fmt(lst):
        return ",".join(m + ("@" + w if w != MECHANISMS[m] else "") for m, w in lst)
    s = fmt(case["catch"]) or "-"
    if case["may"]:
        s += " (may: %s)" % fmt(case["may"])
    return s


# ---- building -------------------------------------------------------------

def build_cases(cases, outdir, cc):
    bindir = os.path.join(outdir, "bin")
    os.makedirs(bindir, exist_ok=True)
    header = os.path.join(HERE, "misuse.h")
    flags = [cc] + CFLAGS + ["-I", HERE]
    stamp = os.path.join(bindir, ".cflags")
    old = open(stamp).read() if os.path.exists(stamp) else ""
    if old != " ".join(flags):
        for f in os.listdir(bindir):
            if not f.startswith("."):
                os.unlink(os.path.join(bindir, f))
        with open(stamp, "w") as f:
            f.write(" ".join(flags))
    built = 0
    for c in cases:
        out = os.path.join(bindir, c["name"])
        c["bin"] = out
        if (os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(c["path"])
                and os.path.getmtime(out) >= os.path.getmtime(header)):
            continue
        r = subprocess.run(flags + [c["path"], "-o", out], capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            raise SystemExit("misuse: failed to build %s" % c["path"])
        if r.stderr.strip():
            sys.stderr.write(r.stderr)
        built += 1
    return built


# ---- the allocator configurations -----------------------------------------

def elf_ident(path):
    try:
        with open(path, "rb") as f:
            h = f.read(20)
    except OSError:
        return None
    if len(h) < 20 or h[:4] != b"\x7fELF":
        return None
    order = "little" if h[5] == 1 else "big"
    return (h[4], int.from_bytes(h[18:20], order))


def ldconfig_paths(soname):
    exe = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-p"], capture_output=True, text=True).stdout
    except OSError:
        return []
    paths = []
    for line in out.splitlines():
        m = re.match(r"^\s*(\S+)\s.*=>\s*(\S+)\s*$", line)
        if m and m.group(1) == soname:
            paths.append(m.group(2))
    return paths


def find_peer(sonames, want):
    for so in sonames:
        for p in ldconfig_paths(so):
            if os.path.exists(p) and elf_ident(p) == want:
                return os.path.realpath(p)
    return None


def package_of(path):
    """'package version' of the Debian package holding path, or ''."""
    if not shutil.which("dpkg"):
        return ""
    for p in (path, os.path.realpath(path)):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0 and ":" in r.stdout:
            pkg = r.stdout.split(":")[0].strip()
            v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                               capture_output=True, text=True).stdout.strip()
            return "%s %s" % (pkg, v)
    return ""


PEERS = [
    ("jemalloc", ["libjemalloc.so.2"]),
    ("tcmalloc", ["libtcmalloc_minimal.so.4"]),
    ("mimalloc", ["libmimalloc.so.2"]),
]

CONFIG_ORDER = ["glibc", "jemalloc", "tcmalloc", "mimalloc", "kspan", "kspan-debug",
                "kspan-guard", "kspan-guard-below"]


def is_underflow(case):
    return case["class"].startswith("underflow-") or case["class"] == "control"


def make_configs(args, want_ident):
    glibc_ver = ""
    try:
        glibc_ver = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        pass
    cfgs = [{"name": "glibc", "kspan": False, "preload": None, "env": {}, "mechs": [],
             "available": True, "note": glibc_ver, "applies": None}]
    for name, sonames in PEERS:
        p = find_peer(sonames, want_ident)
        cfgs.append({"name": name, "kspan": False, "preload": p, "env": {}, "mechs": [],
                     "available": p is not None,
                     "note": (package_of(p) or os.path.basename(p)) if p else
                             "skipped: %s not found (ldconfig -p)" % " / ".join(sonames),
                     "applies": None})

    def lib(path, what):
        p = os.path.abspath(path)
        shown = os.path.relpath(p, ROOT) if p.startswith(ROOT + os.sep) else path
        if os.path.exists(p):
            return p, shown
        return None, "skipped: %s not built (%s)" % (shown, what)

    rel, rel_note = lib(args.kspan, "make host")
    cfgs.append({"name": "kspan", "kspan": True, "preload": rel, "env": {},
                 "mechs": ["free", "api"], "available": rel is not None,
                 "note": rel_note, "applies": None})
    dbg, dbg_note = lib(args.kspan_debug, "the debug shim")
    cfgs.append({"name": "kspan-debug", "kspan": True, "preload": dbg, "env": {},
                 "mechs": ["free", "api", "redzone", "poison"], "available": dbg is not None,
                 "note": dbg_note, "applies": None})
    cfgs.append({"name": "kspan-guard", "kspan": True, "preload": dbg,
                 "env": {"KSPAN_GUARD": "all", "KSPAN_GUARD_ALIGN": "1"},
                 "mechs": ["free", "api", "guard"], "available": dbg is not None,
                 "note": dbg_note if dbg is None else "KSPAN_GUARD=all KSPAN_GUARD_ALIGN=1",
                 "applies": None})
    cfgs.append({"name": "kspan-guard-below", "kspan": True, "preload": dbg,
                 "env": {"KSPAN_GUARD": "all", "KSPAN_GUARD_BELOW": "1"},
                 "mechs": ["free", "api", "guard-below"], "available": dbg is not None,
                 "note": dbg_note if dbg is None else
                         "KSPAN_GUARD=all KSPAN_GUARD_BELOW=1 (underflow cases and controls)",
                 "applies": is_underflow})
    return cfgs


# Variables that tune or replace an allocator: removed so that every
# configuration runs with its defaults plus its own settings only.
TUNING_ENV = re.compile(r"^(LD_PRELOAD|MALLOC_.*|GLIBC_TUNABLES|MIMALLOC_.*|TCMALLOC_.*|"
                        r"JEMALLOC_.*|KSPAN_.*)$")


def base_env():
    env = {k: v for k, v in os.environ.items() if not TUNING_ENV.match(k)}
    env["LIBC_FATAL_STDERR_"] = "1"   # glibc's fatal messages to stderr, not the tty
    return env


# ---- running and classifying ----------------------------------------------

def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_one(case, cfg, timeout):
    env = base_env()
    env.update(cfg["env"])
    if cfg["preload"]:
        env["LD_PRELOAD"] = cfg["preload"]
    t0 = time.monotonic()
    p = subprocess.Popen([case["bin"]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, start_new_session=True,
                         preexec_fn=no_core)
    try:
        out, err = p.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        hung = True
    dt = time.monotonic() - t0
    return classify(case, cfg, p.returncode, out.decode("utf-8", "replace"),
                    err.decode("utf-8", "replace"), hung, dt)


# Failures of a peer's control that are known bugs of the packaged version:
# still reported as a failure, with the reference.
KNOWN_PEER_BUGS = [
    {"config": "mimalloc", "case": "control-basic",
     "reason": re.compile(r"aligned_alloc\(256, 512\) gave"),
     "note": "mimalloc 2.0.x can return blocks of up to 1 KiB aligned below a requested "
             "256, 512 or 1024 (microsoft/mimalloc#700, fixed upstream in 2023)"},
]


def known_bug(case, cfg, res):
    for k in KNOWN_PEER_BUGS:
        if (k["config"] == cfg["name"] and k["case"] == case["name"]
                and k["reason"].search(res.get("reason") or "")):
            res["known"] = k["note"]


def signame(rc):
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return "signal %d" % -rc


def check_message(case, msg, bug):
    """Why kspan's message msg does not fit the case, or None if it does."""
    pats = CLASSES[case["class"]] or []
    if not any(re.search(p, msg) for p in pats):
        return "the message does not name a %s" % case["class"]
    if re.search(r"(use-after-free|out-of-bounds) (read|write) at ", msg):
        m = GUARD_LINE.match(msg)
        if not m:
            return "a guard report not in the documented format"
        kind, rw, addr, obj, size, _site, freed = m.groups()
        if (kind == "use-after-free") != (freed is not None):
            return "a use-after-free report names a free site, an out-of-bounds one does not"
        if bug:
            if int(obj, 16) != bug["obj"]:
                return "object %s, the case's object is %#x" % (obj, bug["obj"])
            if int(size) != bug["size"]:
                return "%s bytes, the case's object has %d" % (size, bug["size"])
            if bug["at"] is not None and int(addr, 16) != bug["at"]:
                return "address %s, the first bad byte is %#x" % (addr, bug["at"])
    return None


def classify(case, cfg, rc, out, err, hung, dt):
    lines = err.splitlines()
    res = {"rc": rc, "time": round(dt, 3), "signal": signame(rc) if rc is not None and rc < 0 else None,
           "message": None, "reason": None, "stderr": "\n".join(lines[-12:])[-2000:]}
    idx = {"bug": None, "after": None, "end": None}
    bug = None
    msgs = []   # (line index, text)
    api = None
    for i, l in enumerate(lines):
        if l.startswith(MARK):
            m = BUG_MARK.match(l)
            if m and idx["bug"] is None:
                idx["bug"] = i
                def num(s):
                    return None if s is None or s == "(nil)" else int(s, 16)
                bug = {"obj": num(m.group(2)), "size": int(m.group(3)), "at": num(m.group(4))}
            elif l == "misuse: after" and idx["after"] is None:
                idx["after"] = i
            elif l == "misuse: end":
                idx["end"] = i
            elif l.startswith("misuse: n/a "):
                res.update(outcome="n/a", reason=l[len("misuse: n/a "):])
                return res
            elif l.startswith("misuse: setup failed"):
                res.update(outcome="fail" if case["class"] == "control" else "error",
                           reason=l[len(MARK):])
                known_bug(case, cfg, res)
                return res
            elif l.startswith("misuse: rejected "):
                api = ("rejected", l[len("misuse: rejected "):])
            elif l.startswith("misuse: accepted "):
                api = ("accepted", l[len("misuse: accepted "):])
        elif l.strip():
            msgs.append((i, l.strip()))
    if cfg["kspan"]:
        kmsgs = [(i, l) for i, l in msgs if l.startswith("kspan: ")]
        if msgs and not kmsgs:
            res["reason"] = "stderr has lines, none from kspan"
        msgs = kmsgs
    if msgs:
        res["message"] = msgs[0][1][:300]
    if hung:
        res.update(outcome="hang", reason="killed after the timeout")
        return res
    if case["class"] == "control":
        if rc == 0 and idx["end"] is not None and not msgs:
            res["outcome"] = "ok"
        else:
            res.update(outcome="fail", reason=res["message"] or
                       ("killed by %s" % res["signal"] if res["signal"] else "exit %s" % rc))
            known_bug(case, cfg, res)
        return res
    if idx["bug"] is None:
        res.update(outcome="error", reason="stopped before the bug marker")
        return res
    if msgs:
        first = msgs[0][0]
        if first < idx["bug"]:
            res.update(outcome="early", reason="a message before the bug was reached")
            return res
        when = "access" if idx["after"] is None or first < idx["after"] else "later"
        if cfg["kspan"]:
            why = check_message(case, msgs[0][1], bug)
            if why:
                res.update(outcome="wrong", when=when, reason=why)
                return res
        res.update(outcome=when, when=when)
        return res
    if rc is not None and rc < 0:
        res.update(outcome="crash", when="access" if idx["after"] is None else "later")
        return res
    if api is not None and rc == 0:
        res.update(outcome="refused" if api[0] == "rejected" else "missed", reason=api[1])
        return res
    if rc == 0 and idx["end"] is not None:
        res["outcome"] = "missed"
        return res
    res.update(outcome="error", reason="exit %s without a message" % rc)
    return res


# ---- expectations ---------------------------------------------------------

CAUGHT = ("access", "later", "refused")


def expectation(case, cfg):
    """None if cfg is not expected to catch case, else 'access' or 'later'
    (the latest acceptable report)."""
    req = [w for m, w in case["catch"] if m in cfg["mechs"]]
    if not req:
        return None
    return "access" if "access" in req else "later"


def meets(res, need):
    o = res["outcome"]
    if o == "n/a":
        return True
    if need == "access":
        return o in ("access", "refused")
    return o in CAUGHT


# ---- output ---------------------------------------------------------------

def cell(case, cfg, res):
    if res is None:
        return "—"
    o = res["outcome"]
    text = o
    if o == "crash":
        text = "crash (%s%s)" % (res["signal"].replace("SIG", ""),
                                 ", later" if res.get("when") == "later" else "")
    elif o == "wrong":
        text = "wrong msg"
    elif o == "varies":
        text = "varies: " + "/".join(res["varies"])
    if res.get("known"):
        return text + " (known bug)"
    if case["class"] == "control":
        return text if o == "ok" else "**%s** ✗" % text
    need = expectation(case, cfg)
    if need is None:
        return text
    return "%s ✓" % text if meets(res, need) else "**%s** ✗" % text


def totals(cases, cfg, results):
    t = {k: 0 for k in ("access", "later", "crash", "missed", "other", "n/a")}
    req = [0, 0]
    ctl = [0, 0]
    for c in cases:
        r = results[c["name"]].get(cfg["name"])
        if r is None:
            continue
        if c["class"] == "control":
            ctl[1] += 1
            ctl[0] += r["outcome"] == "ok"
            continue
        o = r["outcome"]
        k = {"refused": "access"}.get(o, o)
        t[k if k in t else "other"] += 1
        need = expectation(c, cfg)
        if need is not None:
            req[1] += 1
            req[0] += meets(r, need)
    return t, req, ctl


def render(cases, cfgs, results, meta):
    live = [c for c in cfgs if c["available"]]
    out = []
    out.append("# Memory misuse: who catches what")
    out.append("")
    out.append("%s; %d cases; each run %d time%s per configuration, timeout %g s." % (
        meta["date"], len(cases), meta["repeat"], "" if meta["repeat"] == 1 else "s", meta["timeout"]))
    out.append("")
    out.append("Configurations:")
    out.append("")
    for c in cfgs:
        out.append("- **%s**: %s" % (c["name"], c["note"] or ("no preload" if not c["preload"] else "")))
    out.append("")
    out.append("Outcomes: **access** caught with a message at the bad access; **later** "
               "caught with a message after it (a later free, malloc or exit); "
               "**crash** killed by a signal with no message; **missed** ran to the end "
               "silently; **refused** the allocator refused a request it must refuse (API "
               "cases); **wrong msg** kspan stopped it but its message names another bug (or "
               "another object, address or size); **early** a message before the bug; "
               "**n/a** the bug could not be set up under this allocator; **varies** the outcome differed between repeated runs (address-space randomisation); **ok** / **fail** "
               "a control ran cleanly / did not; — not run.  ✓ / ✗: the configuration is "
               "expected to catch the case (its catch= header) and did / did not.")
    out.append("")
    head = ["case", "class", "expect"] + [c["name"] for c in live]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    for c in cases:
        row = [c["name"], c["class"], spec_text(c)]
        for cfg in live:
            row.append(cell(c, cfg, results[c["name"]].get(cfg["name"])))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Totals (bug cases run; controls separately):")
    out.append("")
    head = ["configuration", "access (incl. refused)", "later", "crash", "missed", "other", "n/a",
            "expected caught", "controls ok"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    for cfg in live:
        t, req, ctl = totals(cases, cfg, results)
        out.append("| %s | %d | %d | %d | %d | %d | %d | %s | %d/%d |" % (
            cfg["name"], t["access"], t["later"], t["crash"], t["missed"], t["other"], t["n/a"],
            "%d/%d" % tuple(req) if req[1] else "—", ctl[0], ctl[1]))
    known = sorted({(cfg["name"], r["known"]) for c in cases for cfg in live
                    for r in [results[c["name"]].get(cfg["name"])] if r and r.get("known")})
    if known:
        out.append("")
        for name, note in known:
            out.append("Known bug (%s): %s." % (name, note))
    skipped = [c for c in cfgs if not c["available"]]
    if skipped:
        out.append("")
        for c in skipped:
            out.append("Not run: **%s** (%s)." % (c["name"], c["note"]))
    return "\n".join(out) + "\n"


def render_details(cases, cfgs, results):
    out = ["", "## Messages", ""]
    for c in cases:
        lines = []
        for cfg in cfgs:
            r = results[c["name"]].get(cfg["name"])
            if r and (r.get("message") or r.get("reason")):
                s = r.get("message") or ""
                if r.get("reason"):
                    s += (" — " if s else "") + r["reason"]
                lines.append("  - %s (%s): `%s`" % (cfg["name"], r["outcome"],
                                                    s.replace("`", "'")[:240]))
        if lines:
            out.append("- **%s**: %s" % (c["name"], c["about"]))
            out.extend(lines)
    return "\n".join(out) + "\n"


# ---- main -----------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "misuse"),
                    help="where the case binaries and results go (default build/misuse)")
    ap.add_argument("--kspan", default=os.path.join(ROOT, "build", "host", "libkspan.so"))
    ap.add_argument("--kspan-debug", default=os.path.join(ROOT, "build", "host", "libkspan-debug.so"))
    ap.add_argument("--configs", help="comma-separated subset of: " + ",".join(CONFIG_ORDER))
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per run (default 10)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each case N times per configuration; differing outcomes "
                         "are reported as 'varies' (default 1)")
    ap.add_argument("--require", action="append", default=[],
                    help="configuration(s) that must catch everything expected of them")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--list", action="store_true", help="list the cases and their headers")
    ap.add_argument("--build-only", action="store_true", help="build the cases, run nothing")
    args = ap.parse_args()

    try:
        cases = [parse_case(os.path.join(HERE, "cases", f))
                 for f in sorted(os.listdir(os.path.join(HERE, "cases"))) if f.endswith(".c")]
    except CaseError as e:
        raise SystemExit("misuse: %s" % e)
    if args.cases:
        want = args.cases.split(",")
        unknown = set(want) - {c["name"] for c in cases}
        if unknown:
            raise SystemExit("misuse: no such case: %s" % ", ".join(sorted(unknown)))
        cases = [c for c in cases if c["name"] in want]
    if args.list:
        for c in cases:
            print("%-32s %-16s %-28s %s" % (c["name"], c["class"], spec_text(c), c["about"]))
        return 0

    if args.repeat < 1:
        raise SystemExit("misuse: --repeat wants N >= 1")
    require = [r for arg in args.require for r in arg.split(",") if r]
    for r in require:
        if r not in CONFIG_ORDER:
            raise SystemExit("misuse: --require: unknown configuration %r" % r)

    built = build_cases(cases, args.build, args.cc)
    if args.build_only:
        print("misuse: %d cases (%d rebuilt) in %s" % (len(cases), built, os.path.relpath(args.build)))
        return 0
    ident = elf_ident(cases[0]["bin"])
    cfgs = make_configs(args, ident)
    if args.configs:
        sel = args.configs.split(",")
        bad = set(sel) - set(CONFIG_ORDER)
        if bad:
            raise SystemExit("misuse: unknown configuration: %s" % ", ".join(sorted(bad)))
        cfgs = [c for c in cfgs if c["name"] in sel or c["name"] in require]

    print("misuse: %d cases (%d rebuilt) in %s" % (len(cases), built,
          os.path.relpath(args.build)), flush=True)
    results = {c["name"]: {} for c in cases}
    for cfg in cfgs:
        if not cfg["available"]:
            print("misuse: %-18s %s" % (cfg["name"], cfg["note"]), flush=True)
            continue
        t0 = time.monotonic()
        for c in cases:
            if cfg["applies"] and not cfg["applies"](c):
                continue
            runs = [run_one(c, cfg, args.timeout) for _ in range(args.repeat)]
            res = runs[0]
            seen = []
            for r in runs:
                if r["outcome"] not in seen:
                    seen.append(r["outcome"])
            if len(seen) > 1:
                res = dict(res, outcome="varies", varies=seen,
                           reason="outcomes over %d runs: %s" % (len(runs), ", ".join(
                               r["outcome"] for r in runs)),
                           message=next((r["message"] for r in runs if r.get("message")), None))
            results[c["name"]][cfg["name"]] = res
        print("misuse: %-18s %d runs, %.1f s" % (cfg["name"],
              sum(1 for c in cases if cfg["name"] in results[c["name"]]),
              time.monotonic() - t0), flush=True)

    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "timeout": args.timeout, "repeat": args.repeat, "cc": args.cc, "cflags": CFLAGS}
    table = render(cases, cfgs, results, meta)
    print()
    print(table)
    os.makedirs(args.build, exist_ok=True)
    with open(os.path.join(args.build, "results.md"), "w") as f:
        f.write(table)
        f.write(render_details(cases, cfgs, results))
    doc = {
        "meta": meta,
        "configs": [{k: v for k, v in c.items() if k != "applies"} for c in cfgs],
        "cases": [{"name": c["name"], "class": c["class"], "about": c["about"],
                   "catch": ["%s@%s" % x for x in c["catch"]],
                   "may": ["%s@%s" % x for x in c["may"]]} for c in cases],
        "results": results,
    }
    with open(os.path.join(args.build, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")

    failed = False
    for r in require:
        cfg = next(c for c in cfgs if c["name"] == r)
        if not cfg["available"]:
            print("misuse: --require %s: not available (%s)" % (r, cfg["note"]))
            failed = True
            continue
        bad = []
        for c in cases:
            res = results[c["name"]].get(r)
            if res is None:
                continue
            if c["class"] == "control":
                if res["outcome"] != "ok":
                    bad.append("%s: control %s (%s)" % (c["name"], res["outcome"], res.get("reason")))
                continue
            need = expectation(c, cfg)
            if need is not None and not meets(res, need):
                bad.append("%s: %s, expected %s%s" % (
                    c["name"], res["outcome"], "at the access" if need == "access" else "caught",
                    " (%s)" % res["reason"] if res.get("reason") else ""))
        t, req, ctl = totals(cases, cfg, results)
        if bad:
            failed = True
            print("misuse: --require %s: FAILED, %d/%d expected catches, %d/%d controls:"
                  % (r, req[0], req[1], ctl[0], ctl[1]))
            for b in bad:
                print("  " + b)
        else:
            print("misuse: --require %s: ok, %d/%d expected catches, %d/%d controls"
                  % (r, req[0], req[1], ctl[0], ctl[1]))
    print("misuse: results in %s" % os.path.relpath(os.path.join(args.build, "results.md")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
