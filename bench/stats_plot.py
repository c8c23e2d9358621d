#!/usr/bin/env python3
"""stats_plot.py FILE [--pid PID] [--out DIR] [--classes N]: charts of obmt's
statistics over time.

FILE is an OBMT_STATS_FILE written with OBMT_STATS_INTERVAL_MS (one JSON
line per interval, "at":"interval", and one at exit). For one process (the
one with the most lines, or --pid), writes into DIR (default: next to FILE)
  stats-PID-memory.svg   committed memory by category over time (MiB): in
                         use, free in used pools (of which purged in place
                         by the reclaim pass), empty pools kept by threads,
                         free pools in arenas
  stats-PID-classes.svg  pools (used + full) of the N busiest classes over
                         time (default 6)
through gnuplot, and prints one summary line. Python 3 and gnuplot only
(Debian: python3, gnuplot-nox).
"""
import argparse
import json
import os
import subprocess
import sys
from collections import Counter


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--out")
    ap.add_argument("--classes", type=int, default=6)
    a = ap.parse_args()
    recs = []
    with open(a.file, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict) and "time_ms" in r and "pid" in r:
                recs.append(r)
    if not recs:
        sys.exit("stats_plot: no statistics lines with time stamps in %s" % a.file)
    pid = a.pid if a.pid is not None else Counter(r["pid"] for r in recs).most_common(1)[0][0]
    recs = sorted((r for r in recs if r["pid"] == pid), key=lambda r: r["time_ms"])
    if len(recs) < 2:
        sys.exit("stats_plot: process %d has %d line(s): nothing to draw over time" % (pid, len(recs)))
    out = a.out or os.path.dirname(os.path.abspath(a.file))
    os.makedirs(out, exist_ok=True)
    t0 = recs[0]["time_ms"]
    mib = 1024.0 * 1024.0

    # Memory by category, stacked: each column is the running sum.
    cats = [("in use", "bytes_in_use"), ("free in used pools", "bytes_free_in_pools"),
            ("empty pools", "bytes_empty_pools"), ("free pools", "bytes_free_pools")]
    mem = os.path.join(out, "stats-%d-memory" % pid)
    with open(mem + ".dat", "w") as f:
        for r in recs:
            acc, row = 0.0, []
            for _, k in cats:
                acc += r.get(k, 0) / mib
                row.append(acc)
            f.write("%.3f %s %.3f\n" % ((r["time_ms"] - t0) / 1000.0, " ".join("%.3f" % v for v in row),
                                       r.get("bytes_reclaimed", 0) / mib))
    n = len(cats)
    plots = []
    for i in range(n, 0, -1):  # the tallest (the sum) first, so that each is drawn over the last
        plots.append("'%s.dat' using 1:%d with filledcurves x1 title '%s'" % (mem, i + 1, cats[i - 1][0]))
    plots.append("'%s.dat' using 1:%d with lines lw 2 lc rgb 'black' title 'purged in place (part of free in used pools)'"
                 % (mem, n + 2))
    gnuplot(mem, "obmt committed memory of process %d over time (MiB, stacked; free pools may be purged)" % pid,
            "MiB", plots)

    # Pools of the busiest classes.
    peak = Counter()
    for r in recs:
        for c in r.get("classes", []):
            peak[c["class"]] = max(peak[c["class"]], c["pools_used"] + c["pools_full"])
    top = [c for c, _ in peak.most_common(a.classes)]
    cls = os.path.join(out, "stats-%d-classes" % pid)
    size = {}
    with open(cls + ".dat", "w") as f:
        for r in recs:
            by = {c["class"]: c for c in r.get("classes", [])}
            vals = []
            for c in top:
                k = by.get(c)
                if k:
                    size[c] = k["block_size"]
                vals.append(k["pools_used"] + k["pools_full"] if k else 0)
            f.write("%.3f %s\n" % ((r["time_ms"] - t0) / 1000.0, " ".join(str(v) for v in vals)))
    plots = ["'%s.dat' using 1:%d with lines lw 2 title 'class %d (%d bytes)'" % (cls, i + 2, c, size.get(c, 0))
             for i, c in enumerate(top)]
    if plots:
        gnuplot(cls, "obmt pools of the %d busiest classes, process %d" % (len(top), pid), "pools (used + full)", plots)
    last = recs[-1]
    print("stats_plot: process %d, %d lines over %.1f s; at the end %.1f MiB committed, %.1f MiB in use; wrote %s.svg%s"
          % (pid, len(recs), (last["time_ms"] - t0) / 1000.0, last.get("bytes_committed", 0) / mib,
             last.get("bytes_in_use", 0) / mib, mem, " and %s.svg" % cls if plots else ""))


def gnuplot(base, title, ylabel, plots):
    with open(base + ".gp", "w") as f:
        f.write("""set terminal svg size 900,480 dynamic font 'sans,10'
set output '%s.svg'
set title "%s"
set xlabel 'seconds'
set ylabel '%s'
set key outside right
set grid
set yrange [0:*]
set style fill transparent solid 0.6 noborder
plot %s
""" % (base, title, ylabel, ", \\\n     ".join(plots)))
    r = subprocess.run(["gnuplot", base + ".gp"], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(base + ".svg"):
        sys.exit("stats_plot: gnuplot failed on %s.gp: %s" % (base, r.stderr.strip()[:500]))
    os.remove(base + ".gp")
    os.remove(base + ".dat")


if __name__ == "__main__":
    main()
