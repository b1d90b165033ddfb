#!/usr/bin/env python3
"""Runs programs with kspan as their malloc (LD_PRELOAD) and checks them.

  run.py smoke  --lib build/host/libkspan.so --bin build/host/preload
  run.py stress --lib build/host/libkspan.so --bin build/host/preload

smoke (make test-preload, well under 2 minutes):
  - tests/preload/smoke.c's checks, under LD_PRELOAD (smoke) and linked
    with libkspan.a (smoke-linked): every exported function, errno, threads
    freeing each other's memory, fork while other threads allocate;
  - deliberate misuse (double free, interior pointer, wild pointer, ...):
    the process must die of SIGABRT with kspan's message on stderr;
  - python3 (a multithreaded dict/list/string workload), sort and sqlite3,
    each run without and with kspan: same exit status, byte-identical
    output.

stress (make stress-preload): bigger runs of real programs, each without
and with kspan, output compared (normalised where the program itself is
not deterministic: python's test runner prints timings), and a table of
wall times.  python3 with its own test modules, sqlite3 (100k rows, index,
joins), gcc, git (200 files, commit, log, gc, fsck), sort of 50 MB.

Every check prints one line; the last line is "N passed, M failed" and the
exit status is 0 only if nothing failed.  The work files go to
<bin>/work-<mode>/ and are removed when everything passed.
"""
import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys

from checks import RESULTS, no_core, report
import time

STATS_MARK = b"kspan page heap:"  # a line of kspan_print_stats
TIMES = []  # (name, seconds without, seconds with)


class Runner:
    def __init__(self, lib, workdir):
        self.lib = os.path.abspath(lib)
        self.work = workdir

    def env(self, preload, extra=None):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env["LC_ALL"] = "C"
        env["TZ"] = "UTC"
        env["PYTHONHASHSEED"] = "0"
        if extra:
            env.update(extra)
        if preload:
            env["LD_PRELOAD"] = self.lib
        return env

    def run(self, cmd, preload, stdin=None, cwd=None, extra_env=None,
            timeout=600, shell=False):
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, input=stdin, cwd=cwd or self.work,
                               env=self.env(preload, extra_env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, preexec_fn=no_core, shell=shell)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = "timeout", e.stdout or b"", (e.stderr or b"") + \
                b"\n(timed out after %ds)" % timeout
        return rc, out, err, time.monotonic() - t0

    def outcome(self, name, cmd, stdin=None, normalise=None, timeout=600,
                setup=None, cwd=None, extra_env=None, shell=False, timed=False,
                outfile=None):
        """Run cmd without and with kspan; same status, same output (stdout,
        after normalise if given; plus the sha256 of outfile if given).
        Returns (ok, what, detail) for report()."""
        res, digest, fsize = {}, {}, 0
        for preload in (False, True):
            if setup:
                setup()
            if outfile and os.path.exists(outfile):
                os.unlink(outfile)
            env = dict(extra_env or {})
            stats = os.path.join(self.work, "kspan-stats.txt")
            if os.path.exists(stats):
                os.unlink(stats)
            if preload:
                env["KSPAN_STATS"] = stats   # proof that kspan was the malloc
            res[preload] = self.run(cmd, preload, stdin, cwd, env, timeout, shell)
            if preload:
                with open(stats, "rb") if os.path.exists(stats) else open(os.devnull, "rb") as f:
                    got_stats = STATS_MARK in f.read()
            if outfile:
                # Taken now: the next run writes the same file.
                digest[preload] = file_sha256(outfile)
                fsize = os.path.getsize(outfile) if digest[preload] else 0
        (rc0, out0, err0, t0), (rc1, out1, err1, t1) = res[False], res[True]
        if timed:
            TIMES.append((name, t0, t1))
        if rc0 != 0:
            return (False, name, "fails even without kspan (status %s): %s"
                    % (rc0, tail(err0)))
        if rc1 != 0:
            return (False, name, "with kspan: status %s: %s"
                    % (rc1, tail(err1)))
        if b"cannot be preloaded" in err1 or not got_stats:
            return (False, name, "kspan was not the allocator (no statistics "
                    "at exit with KSPAN_STATS): %s" % tail(err1))
        n0 = normalise(out0) if normalise else out0
        n1 = normalise(out1) if normalise else out1
        if outfile and (digest[False] is None or digest[False] != digest[True]):
            return (False, name, "%s differs with kspan (sha256 %s / %s)"
                    % (outfile, digest[False], digest[True]))
        if n0 != n1:
            return (False, name, "output differs with kspan:\n%s"
                          % first_diff(n0, n1))
        what = "%d bytes" % len(out0)
        if outfile:
            what = "%s: %d bytes, same sha256" % (os.path.basename(outfile), fsize)
        elif normalise:
            what += ", compared without timings"
        return (True, "%s: same output with and without kspan (%s)" % (name, what), "")

    def compare(self, *args, **kw):
        return report(*self.outcome(*args, **kw))

    def self_check(self, py):
        """The comparison must be able to fail: a program whose output
        depends on LD_PRELOAD has to be reported as differing, through
        stdout and through an output file."""
        code = "import os, sys; print(os.environ.get('LD_PRELOAD', ''))"
        ok1, _, d1 = self.outcome("self-check", [py, "-c", code])
        out = os.path.join(self.work, "self-check.txt")
        code2 = ("import os; open(%r, 'w').write(os.environ.get('LD_PRELOAD', ''))" % out)
        ok2, _, d2 = self.outcome("self-check", [py, "-c", code2], outfile=out)
        report(not ok1 and "differs" in d1 and not ok2 and "differs" in d2,
               "the comparison detects a difference (stdout and output file)",
               "stdout: %s / file: %s" % (d1, d2))


def tail(b, n=600):
    s = b.decode("utf-8", "replace").strip()
    return s[-n:] if s else "(no stderr)"


def first_diff(a, b):
    if isinstance(a, bytes):
        a = a.decode("utf-8", "replace")
        b = b.decode("utf-8", "replace")
    if not isinstance(a, str):
        return "without: %r\nwith:    %r" % (a, b)
    la, lb = a.splitlines(), b.splitlines()
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else "<end>"
        y = lb[i] if i < len(lb) else "<end>"
        if x != y:
            return "line %d\n  without: %s\n  with:    %s" % (i + 1, x[:200], y[:200])
    return "(lengths differ)"


def pick_python(need_tests):
    """The interpreter for the workloads: Debian's (scripts/deps.sh installs
    its test modules), else the one running this script."""
    for py in ("/usr/bin/python3", sys.executable):
        if not py or not os.access(py, os.X_OK):
            continue
        if not need_tests:
            return py
        if subprocess.run([py, "-c", "import test.test_list, test.test_dict"],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return py
    return None


# ---- workloads --------------------------------------------------------------

PY_WORKLOAD = r'''
import hashlib, json, sys, threading
N, T = int(sys.argv[1]), int(sys.argv[2])
out = {}
def work(seed):
    d, lst, strs = {}, [], []
    for i in range(N):
        k = "k%d-%d" % (seed, (i * 7919) % 10007)
        d[k] = [i, str(i) * (i % 7), {"x": i, "y": [i] * (i % 5)}]
        lst.append(k.upper() + "|" * (i % 13))
        strs.append(("%x" % (i * seed + 1)) * (1 + i % 9))
        if i % 3 == 0:
            d.pop(next(iter(d)))
        if i % 1000 == 999:
            lst = sorted(set(lst))[: len(lst) // 2]
            strs = [s[::-1] for s in strs[::2]]
    blob = "".join(sorted(lst)[::97]) + "".join(strs[::31])
    j = json.dumps(d, sort_keys=True)
    out[seed] = [len(d), len(lst), hashlib.sha256(blob.encode()).hexdigest(),
                 hashlib.sha256(j.encode()).hexdigest(), sum(len(v[1]) for v in d.values())]
ts = [threading.Thread(target=work, args=(s,)) for s in range(1, T + 1)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(out, sort_keys=True, indent=1))
'''


def gen_lines(path, nbytes, seed):
    """A deterministic file of text lines: words, numbers, some duplicates."""
    rnd = random.Random(seed)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 12)))
             for _ in range(5000)]
    with open(path, "w") as f:
        size = 0
        while size < nbytes:
            line = "%s,%d,%s %s\n" % (rnd.choice(words), rnd.randint(-10**6, 10**6),
                                      rnd.choice(words), rnd.random())
            f.write(line)
            size += len(line)


def sqlite_script(rows):
    return ("""
.headers on
PRAGMA cache_size = 2000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %(rows)d)
INSERT INTO t SELECT x, x %% 97, printf('name-%%08d-%%s', (x * 7919) %% 100003, hex(x * x)),
       (x * 31 %% 1000) / 7.0, zeroblob(x %% 300) FROM c;
CREATE INDEX t_grp ON t(grp, val);
CREATE TABLE g AS SELECT grp, count(*) AS n, sum(val) AS s, max(name) AS mx FROM t GROUP BY grp;
SELECT grp, n, printf('%%.3f', s), mx FROM g ORDER BY s DESC LIMIT 15;
SELECT count(*), sum(length(blob)), min(name), max(name) FROM t WHERE grp BETWEEN 10 AND 40;
SELECT t.grp, count(*), printf('%%.2f', avg(t.val)) FROM t JOIN g ON t.grp = g.grp
  WHERE g.n > %(half)d / 97 GROUP BY t.grp ORDER BY 2 DESC, 1 LIMIT 10;
UPDATE t SET name = upper(name) || '-u' WHERE id %% 5 = 0;
DELETE FROM t WHERE id %% 7 = 0;
SELECT count(*), sum(length(name)), group_concat(substr(name, 1, 3), '') FROM
  (SELECT name FROM t WHERE id %% 1013 = 1 ORDER BY name);
CREATE INDEX t_name ON t(name);
SELECT name FROM t WHERE name LIKE 'NAME-0001%%' ORDER BY name LIMIT 5;
VACUUM;
PRAGMA integrity_check;
""" % {"rows": rows, "half": rows // 2}).encode()


C_PROGRAM_FUNCS = 400


def gen_c(path, nfuncs):
    rnd = random.Random(7)
    with open(path, "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n")
        f.write("struct s { int a; double b; char name[32]; struct s *next; };\n")
        for i in range(nfuncs):
            ops = " + ".join("(x %s %d)" % (rnd.choice("+-*^|&"), rnd.randint(1, 999))
                             for _ in range(rnd.randint(3, 12)))
            f.write("""
static int f%(i)d(int x, struct s *p) {
    int acc = 0;
    for (int k = 0; k < (x & 15); k++) {
        acc += %(ops)s;
        if (p && p->a > k) acc ^= p->a * %(m)d;
        switch ((acc + k) %% 5) { case 0: acc += k; break; case 1: acc -= %(m)d; break;
          case 2: acc *= 3; break; default: acc = acc / 2 + 1; }
    }
    char buf[64]; snprintf(buf, sizeof buf, "%%d-%(i)d", acc);
    return acc + (int)strlen(buf);
}
""" % {"i": i, "ops": ops, "m": rnd.randint(2, 99)})
        f.write("int main(void) {\n  struct s node = {3, 1.5, \"n\", 0};\n  long t = 0;\n")
        for i in range(nfuncs):
            f.write("  t += f%d(%d, &node);\n" % (i, rnd.randint(0, 1000)))
        f.write('  printf("%ld\\n", t);\n  return 0;\n}\n')


# ---- smoke ------------------------------------------------------------------

DIE_CASES = [
    ("double-free", "double free"),
    ("double-free-large", "not in use"),
    ("double-free-threads", "double free"),
    ("interior", "interior pointer"),
    ("wild", "not in the heap"),
    ("stack", "not in the heap"),
    ("realloc-freed", "double free"),
    ("realloc-zero-then-free", "double free"),
]


def c_checks(r, bindir):
    for name, cmd, preload in (
            ("smoke.c under LD_PRELOAD", [os.path.join(bindir, "smoke")], True),
            ("smoke.c linked with libkspan.a", [os.path.join(bindir, "smoke-linked")], False)):
        rc, out, err, t = r.run(cmd, preload, timeout=120)
        m = re.search(rb"^(\d+) passed, (\d+) failed$", out, re.M)
        ok = rc == 0 and m is not None and m.group(2) == b"0"
        report(ok, "%s: %s (%.1f s)" % (name, m.group(0).decode() if m else "no result", t),
               "status %s\n%s" % (rc, tail(err + out, 3000)))


def die_checks(r, bindir):
    for case, want in DIE_CASES:
        for binary, preload in (("smoke", True), ("smoke-linked", False)):
            if binary == "smoke-linked" and case not in ("double-free", "interior"):
                continue
            rc, out, err, _ = r.run([os.path.join(bindir, binary), "die", case],
                                    preload, timeout=60)
            text = err.decode("utf-8", "replace")
            ok = (rc == -signal.SIGABRT and "kspan: " in text and want in text)
            msg = [l for l in text.splitlines() if l.startswith("kspan: ")]
            report(ok, "%s (%s) stops with kspan's message: %s"
                   % (case, binary, msg[0][:110] if msg else "-"),
                   "status %s, stderr: %s" % (rc, tail(err)))


def env_checks(r, bindir, py):
    """KSPAN_ARENA_GB: a bad value stops the process with a message; a
    small arena makes a too-big allocation fail cleanly (MemoryError in
    python, which glibc would have granted)."""
    rc, out, err, _ = r.run([os.path.join(bindir, "smoke")], True,
                            extra_env={"KSPAN_ARENA_GB": "12x"}, timeout=60)
    text = err.decode("utf-8", "replace")
    report(rc == -signal.SIGABRT and "kspan: KSPAN_ARENA_GB must be" in text,
           "KSPAN_ARENA_GB=12x stops the process: %s" % text.strip()[:90],
           "status %s: %s" % (rc, tail(err)))
    code = ("b = bytearray(1 << 20)\n"
            "try:\n    big = bytearray(3 << 30)\nexcept MemoryError:\n    print('MemoryError')\n"
            "c = bytearray(1 << 20)\nprint(len(b) + len(c))\n")
    rc, out, err, _ = r.run([py, "-c", code], True, extra_env={"KSPAN_ARENA_GB": "1"},
                            timeout=60)
    report(rc == 0 and out == b"MemoryError\n2097152\n",
           "KSPAN_ARENA_GB=1: python's 3 GiB bytearray fails with MemoryError, "
           "the heap goes on", "status %s, out %r: %s" % (rc, out, tail(err)))


def smoke(r, bindir):
    print("C checks of every function:")
    c_checks(r, bindir)
    print("misuse must stop the process:")
    die_checks(r, bindir)
    env_checks(r, bindir, pick_python(False))
    print("real programs, without and with kspan:")
    py = pick_python(False)
    r.self_check(py)
    r.compare("python3 (4 threads, dicts, lists, strings)",
              [py, "-c", PY_WORKLOAD, "20000", "4"], timeout=120)
    data = os.path.join(r.work, "lines.txt")
    gen_lines(data, 3 << 20, 1)
    r.compare("sort of 3 MB", ["sort", data], timeout=120)
    r.compare("sort -t, -k2,2n -S 1M (temporary files, merges)",
              ["sort", "-t,", "-k2,2n", "-k1,1", "-S", "1M", "-T", r.work, data],
              timeout=120)
    r.compare("sqlite3 (5000 rows, index, joins)", ["sqlite3", ":memory:"],
              stdin=sqlite_script(5000), timeout=120)


# ---- stress -----------------------------------------------------------------

def regrtest_summary(out):
    """What python's test runner says about each test, without timings."""
    s = out.decode("utf-8", "replace")
    per = sorted(set(re.findall(r"\] (test_\w+) (passed|failed|skipped|crashed|resource denied)", s)))
    res = re.findall(r"^Tests result: (\w+)", s, re.M)
    return repr((per, res))


def file_sha256(path):
    """sha256 of a file, or None if it does not exist."""
    if not os.path.exists(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stress(r, bindir):
    py = pick_python(True)
    if py is None:
        report(False, "python3 with its test modules",
               "no interpreter has test.test_list: install libpython3.11-testsuite "
               "(scripts/deps.sh lists it)")
    pyw = py or pick_python(False)
    r.compare("python3 workload (8 threads)", [pyw, "-c", PY_WORKLOAD, "150000", "8"],
              timed=True)
    if py:
        r.compare("python3 -m test (list dict string set json re collections "
                  "pickle bytes threading)",
                  [py, "-m", "test", "-j2", "test_list", "test_dict", "test_string",
                   "test_set", "test_json", "test_re", "test_collections",
                   "test_pickle", "test_bytes", "test_threading"],
                  normalise=regrtest_summary, timed=True, timeout=1200)

    r.compare("sqlite3 (100k rows, indexes, joins, vacuum)", ["sqlite3", ":memory:"],
              stdin=sqlite_script(100000), timed=True)
    dbfile = os.path.join(r.work, "db.sqlite")

    def fresh_db():
        if os.path.exists(dbfile):
            os.unlink(dbfile)
    r.compare("sqlite3 on a file (100k rows)", ["sqlite3", dbfile],
              stdin=sqlite_script(100000), setup=fresh_db, timed=True)

    csrc = os.path.join(r.work, "gen.c")
    gen_c(csrc, C_PROGRAM_FUNCS)
    obj = os.path.join(r.work, "gen.o")
    r.compare("gcc -O2 -c (%d functions)" % C_PROGRAM_FUNCS,
              ["gcc", "-O2", "-g", "-c", csrc, "-o", obj],
              outfile=obj, timed=True)
    asm = os.path.join(r.work, "gen.s")
    r.compare("gcc -O2 -S", ["gcc", "-O2", "-S", csrc, "-o", asm],
              outfile=asm, timed=True)

    repo = os.path.join(r.work, "repo")

    def fresh_repo():
        shutil.rmtree(repo, ignore_errors=True)
        os.makedirs(repo)
        rnd = random.Random(3)
        for i in range(200):
            d = os.path.join(repo, "dir%02d" % (i % 17))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "file%03d.txt" % i), "w") as f:
                for k in range(rnd.randint(10, 400)):
                    f.write("line %d of file %d: %x\n" % (k, i, rnd.getrandbits(64)))
    git_env = {"GIT_AUTHOR_NAME": "kspan", "GIT_AUTHOR_EMAIL": "kspan@example.invalid",
               "GIT_COMMITTER_NAME": "kspan", "GIT_COMMITTER_EMAIL": "kspan@example.invalid",
               "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
               "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
               "GIT_CONFIG_NOSYSTEM": "1", "HOME": r.work}
    git_script = r"""
set -e
git init -q -b main .
git add .
git commit -q -m 'two hundred files'
for i in 1 2 3 4 5; do
  sed -i "s/line $i /LINE $i /" dir0$i/*.txt
  git commit -q -am "edit $i"
done
git rev-parse HEAD
git log --stat --format='%H %s' | head -200
git -c pack.threads=1 gc -q --aggressive
git count-objects -v | grep -E '^(count|in-pack|packs|garbage)'
git fsck --full --strict
git ls-tree -r HEAD | sha256sum
git diff HEAD~5 --stat | tail -3
"""
    r.compare("git (200 files: add, commit, log, gc, fsck)", ["bash", "-c", git_script],
              cwd=repo, setup=fresh_repo, extra_env=git_env, timed=True)

    big = os.path.join(r.work, "big.txt")
    gen_lines(big, 50 << 20, 2)
    sorted_out = os.path.join(r.work, "sorted.txt")
    r.compare("sort of 50 MB (--parallel=2)",
              ["sort", "--parallel=2", "-T", r.work, "-o", sorted_out, big],
              outfile=sorted_out, timed=True)
    r.compare("sort -n -k2 of 50 MB, 16 MB buffer",
              ["sort", "-t,", "-k2,2n", "-S", "16M", "--parallel=2", "-T", r.work,
               "-o", sorted_out, big],
              outfile=sorted_out, timed=True)

    print("\nwall time without and with kspan:")
    print("  %-52s %10s %10s %7s" % ("program", "glibc", "kspan", "ratio"))
    for name, t0, t1 in TIMES:
        print("  %-52s %9.2fs %9.2fs %6.2fx" % (name[:52], t0, t1, t1 / t0 if t0 else 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["smoke", "stress"])
    ap.add_argument("--lib", required=True, help="libkspan.so")
    ap.add_argument("--bin", required=True, help="folder of the test programs")
    args = ap.parse_args()
    if not os.path.exists(args.lib):
        sys.exit("run.py: %s is missing (make host)" % args.lib)
    work = os.path.join(args.bin, "work-" + args.mode)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    r = Runner(args.lib, os.path.abspath(work))
    t0 = time.monotonic()
    (smoke if args.mode == "smoke" else stress)(r, os.path.abspath(args.bin))
    print("preload %s: %.0f s" % (args.mode, time.monotonic() - t0))
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    if RESULTS["failed"] == 0:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
