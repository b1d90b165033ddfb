"""What the preload drivers (run.py, debug.py) share: pass/fail lines and
their tally, and children without core dumps."""
import resource

RESULTS = {"passed": 0, "failed": 0}


def report(ok, what, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    line = "  %-5s %s" % ("ok" if ok else "FAIL", what)
    if detail and not ok:
        line += "\n        " + detail.replace("\n", "\n        ")
    print(line, flush=True)
    return ok


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
