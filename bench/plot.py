#!/usr/bin/env python3
"""Plot the allocator benchmark results written by bench/run.py.

  bench/plot.py results.json bench.png

Top: grouped bars of each allocator's median ops/s as a ratio to the best
allocator on that workload.  Bottom: peak RSS (MiB, log scale) of each run.
A workload an allocator failed is marked FAIL instead of a bar.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

COLORS = {"glibc": "#7f7f7f", "jemalloc": "#1f77b4", "tcmalloc": "#2ca02c",
          "mimalloc": "#ff7f0e", "kspan": "#d62728"}


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        s = json.load(f)
    wls = s["workloads_order"]
    allocs = [a for a in s["allocators_order"] if s["allocators"][a]["status"] == "ok"]
    res = s["results"]
    if not allocs or not wls:
        print("nothing to plot", file=sys.stderr)
        return 1

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(wls) + 2), 8.5),
                                   sharex=True)
    width = 0.8 / len(allocs)
    xs = range(len(wls))
    for k, a in enumerate(allocs):
        off = (k - (len(allocs) - 1) / 2) * width
        for ax, key, scale in ((ax1, "ratio_to_best", 1.0), (ax2, "peak_rss_kib_median", 1024.0)):
            vals, pos, fails = [], [], []
            for i, w in enumerate(wls):
                c = res[w].get(a, {})
                if c.get("status") == "ok":
                    vals.append(c[key] / scale)
                    pos.append(i + off)
                elif c.get("status") == "FAIL":
                    fails.append(i + off)
            ax.bar(pos, vals, width, label=a if ax is ax1 else None,
                   color=COLORS.get(a))
            for x in fails:
                # x in data units, y as a fraction of the axes (log or not)
                ax.text(x, 0.02, "FAIL", rotation=90, ha="center", va="bottom",
                        fontsize=7, color=COLORS.get(a, "black"),
                        transform=ax.get_xaxis_transform())
    m = s["meta"]
    mach = m["machine"]
    ax1.set_ylabel("ops/s relative to best (1 = best)")
    ax1.set_ylim(0, 1.1)
    ax1.axhline(1.0, color="black", linewidth=0.5)
    ax1.legend(ncol=len(allocs), loc="upper center", bbox_to_anchor=(0.5, 1.13), fontsize=9)
    ax1.set_title("kspan allocator benchmark, %s\n%s CPUs (%s), %d round(s), scale %g"
                  % (m["date"], mach["nproc"], mach["cpu_model"], m["rounds"], m["scale"]),
                  fontsize=10, pad=28)
    ax2.set_ylabel("peak RSS, MiB (log)")
    ax2.set_yscale("log")
    ax2.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax2.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax2.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels(wls, rotation=30, ha="right")
    txt = []
    fp = s.get("fastpath") or {}
    if fp and "error" not in fp:
        txt.append("instructions per malloc+free pair (callgrind): " + ", ".join(
            "%s %.1f" % (a, fp[a]["instr_per_pair"]) for a in allocs
            if fp.get(a, {}).get("status") == "ok"))
    missing = [a for a in s["allocators_order"] if a not in allocs]
    if missing:
        txt.append("not run: " + ", ".join(
            "%s (%s)" % (a, s["allocators"][a]["status"]) for a in missing))
    if txt:
        fig.text(0.01, 0.005, ";  ".join(txt), fontsize=8)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(sys.argv[2], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
