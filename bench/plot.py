#!/usr/bin/env python3
"""Plot the allocator benchmark results written by bench/run.py.

  bench/plot.py results.json bench.png

Top: grouped bars of each mainstream allocator's and kspan's median ops/s as
a ratio to the best mainstream allocator (glibc, jemalloc, tcmalloc,
mimalloc) on that workload, and the geomean of those ratios.  Middle (when
any ran): the same ratios for the hobby-kernel peers (liballoc, TLSF,
o1heap) next to kspan, on a log scale.  Bottom: peak RSS (MiB, log scale) of
every allocator.  A workload an allocator failed is marked FAIL (FAIL* for a
known upstream bug) instead of a bar; a bar from a run with a fraction of
the work is marked with a dagger.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

COLORS = {"glibc": "#7f7f7f", "jemalloc": "#1f77b4", "tcmalloc": "#2ca02c",
          "mimalloc": "#ff7f0e", "kspan": "#d62728", "liballoc": "#8c564b",
          "tlsf": "#9467bd", "o1heap": "#17becf"}
MAINSTREAM = ["glibc", "jemalloc", "tcmalloc", "mimalloc"]
HOBBY = ["liballoc", "tlsf", "o1heap"]
DAGGER = "\u2020"


def bars(ax, s, allocs, key, scale, wls, with_geomean, legend):
    res = s["results"]
    width = 0.8 / max(1, len(allocs))
    for k, a in enumerate(allocs):
        off = (k - (len(allocs) - 1) / 2) * width
        vals, pos, fails, daggers = [], [], [], []
        for i, w in enumerate(wls):
            c = res[w].get(a, {})
            if c.get("status") == "ok" and c.get(key) is not None:
                vals.append(c[key] / scale)
                pos.append(i + off)
                if c.get("work_fraction", 1.0) != 1.0:
                    daggers.append((i + off, c[key] / scale))
            elif c.get("status") == "FAIL":
                fails.append((i + off, "FAIL*" if c.get("known_bug") else "FAIL"))
        if with_geomean:
            g = (s.get("geomean") or {}).get(a, {})
            if g.get("geomean"):
                vals.append(g["geomean"])
                pos.append(len(wls) + off)
        ax.bar(pos, vals, width, label=a if legend else None, color=COLORS.get(a))
        for x, txt in fails:
            # x in data units, y as a fraction of the axes (log or not)
            ax.text(x, 0.02, txt, rotation=90, ha="center", va="bottom",
                    fontsize=7, color=COLORS.get(a, "black"),
                    transform=ax.get_xaxis_transform())
        for x, y in daggers:
            ax.text(x, y, DAGGER, ha="center", va="bottom", fontsize=8)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        s = json.load(f)
    wls = s["workloads_order"]
    allocs = [a for a in s["allocators_order"] if s["allocators"][a]["status"] == "ok"]
    if not allocs or not wls:
        print("nothing to plot", file=sys.stderr)
        return 1
    top = [a for a in allocs if a not in HOBBY]
    hobby = [a for a in allocs if a in HOBBY]
    if hobby and "kspan" in allocs:
        hobby = ["kspan"] + hobby
    panels = 3 if hobby else 2
    labels = wls + ["geomean"]

    fig, axes = plt.subplots(panels, 1, figsize=(max(9, 1.1 * len(labels) + 2),
                                                 4.2 * panels + 0.5), sharex=True)
    ax1, ax3 = axes[0], axes[-1]
    m = s["meta"]
    mach = m["machine"]

    bars(ax1, s, top, "ratio", 1.0, wls, True, True)
    ymax = max([1.0] + [c.get("ratio") or 0 for w in wls for c in s["results"][w].values()
                        if isinstance(c, dict)])
    ax1.set_ylabel("ops/s / best mainstream")
    # headroom above the bars for the legend
    ax1.set_ylim(0, min(ymax, 5.0) * 1.3)
    ax1.axhline(1.0, color="black", linewidth=0.5)
    ax1.axvline(len(wls) - 0.5, color="black", linewidth=0.5, linestyle=":")
    ax1.legend(ncol=len(top), loc="upper center", fontsize=9)
    ax1.set_title("kspan allocator benchmark, %s\n%s CPUs (%s), %d round(s), scale %g, "
                  "seed %s; ratio to the best of glibc/jemalloc/tcmalloc/mimalloc"
                  % (m["date"], mach["nproc"], mach["cpu_model"], m["rounds"], m["scale"],
                     m.get("seed")), fontsize=10)

    if hobby:
        ax2 = axes[1]
        bars(ax2, s, hobby, "ratio", 1.0, wls, True, True)
        ax2.set_yscale("log")
        low = [c["ratio"] for w in wls for a, c in s["results"][w].items()
               if a in hobby and c.get("ratio")]
        low += [s["geomean"][a]["geomean"] for a in hobby
                if (s.get("geomean") or {}).get(a, {}).get("geomean")]
        lo, hi = ax2.get_ylim()
        ax2.set_ylim(min(low) / 3 if low else lo, max(hi, 1.0) * 12)
        ax2.set_ylabel("ops/s / best mainstream (log)")
        ax2.axhline(1.0, color="black", linewidth=0.5)
        ax2.axvline(len(wls) - 0.5, color="black", linewidth=0.5, linestyle=":")
        ax2.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax2.legend(ncol=len(hobby), loc="upper center", fontsize=9,
                   title="hobby-kernel peers (kspan for reference)", title_fontsize=8)

    bars(ax3, s, allocs, "peak_rss_kib_median", 1024.0, wls, False, False)
    ax3.set_ylabel("peak RSS, MiB (log)")
    ax3.set_yscale("log")
    ax3.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax3.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax3.yaxis.set_minor_formatter(ticker.NullFormatter())
    if hobby:
        lo, hi = ax3.get_ylim()
        ax3.set_ylim(lo, hi * 4)
        ax3.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=COLORS.get(a)) for a in allocs],
                   labels=allocs, ncol=len(allocs), fontsize=8, loc="upper left")
    ax3.set_xticks(list(range(len(labels))))
    ax3.set_xticklabels(labels, rotation=30, ha="right")

    txt = []
    fp = s.get("fastpath") or {}
    if fp and "error" not in fp:
        txt.append("instructions per malloc+free pair (callgrind): " + ", ".join(
            "%s %.1f" % (a, fp[a]["instr_per_pair"]) for a in allocs
            if fp.get(a, {}).get("status") == "ok"))
    if any(c.get("work_fraction", 1.0) != 1.0 for w in wls for c in s["results"][w].values()):
        txt.append(DAGGER + " = a fraction of the work (see results.md)")
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
