#!/usr/bin/env python3
"""blowup_report.py RAW_DIR OUT_MD CHART_DIR: the report of bench/blowup.sh.

RAW_DIR holds meta.txt and one REP-ALLOC-ACTIVITY-THREADS.txt per run, whose
last line is blowup's key=value summary. Writes OUT_MD (medians over the
repetitions: RSS in MiB alive / idle / exited, operations per second, and
obmt's idle RSS against the lowest peer's) and CHART_DIR/blowup.svg (idle RSS
against threads, log scales) through gnuplot.
"""
import os
import re
import statistics
import subprocess
import sys

ALLOCS = ["obmt", "obmt-bg", "glibc", "jemalloc", "mimalloc", "tcmalloc"]
PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]


def main():
    raw, out_md, chart_dir = sys.argv[1:4]
    meta = {}
    for line in open(os.path.join(raw, "meta.txt")):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    runs = {}  # (alloc, activity, threads) -> list of dicts
    for name in os.listdir(raw):
        m = re.match(r"(\d+)-(.+)-(\d+)-(\d+)\.txt$", name)
        if not m:
            continue
        _, alloc, act, t = m.groups()
        lines = [l for l in open(os.path.join(raw, name)) if "=" in l]
        if not lines:
            continue
        kv = dict(x.split("=", 1) for x in lines[-1].split())
        runs.setdefault((alloc, int(act), int(t)), []).append({k: float(v) for k, v in kv.items()})

    def med(alloc, act, t, key):
        v = [r[key] for r in runs.get((alloc, act, t), []) if key in r]
        return statistics.median(v) if v else None

    threads = sorted({t for (_, act, t) in runs if act != 0})
    lines = []
    w = lines.append
    w("# Blowup: memory with many threads freeing each other's blocks, %s" % meta.get("date", "?"))
    w("")
    w("Command: `%s` (%s repetitions, medians; one run at a time). obmt %s; %s." %
      (meta.get("command", "?"), meta.get("reps", "?"), meta.get("obmt", "?"), meta.get("peers", "?")))
    w("Machine: %s CPUs (%s), kernel %s." % (meta.get("ncpu", "?"), meta.get("cpu", "?"), meta.get("kernel", "?")))
    w("")
    w("`bench/blowup` (see its header): T workers each allocate 20,000 blocks of 1..8000 bytes; each")
    w("replaces a random one of 4,096 shared slots and frees the block it displaces (so almost every")
    w("free is remote; about 16 MiB live). Then the workers park (alive), 2 s pass with 10,000")
    w("malloc/free pairs on the main thread (idle), and the workers exit (exited). obmt-bg is obmt with")
    w("`OBMT_BACKGROUND_THREAD=1`.")
    w("")
    w("## Resident memory once idle (MiB) and obmt against the lowest peer")
    w("")
    w("| threads | " + " | ".join(ALLOCS) + " | obmt / lowest peer |")
    w("| --- | " + " | ".join("---" for _ in ALLOCS) + " | --- |")
    for t in threads:
        row = [med(a, 10000, t, "rss_idle") for a in ALLOCS]
        peer = [med(a, 10000, t, "rss_idle") for a in PEERS]
        peer = [p for p in peer if p is not None]
        best = min(peer) if peer else None
        o = row[0]
        ratio = "%.2f" % (o / best) if o is not None and best else "?"
        w("| %d | " % t + " | ".join("%.0f" % v if v is not None else "-" for v in row) + " | %s |" % ratio)
    w("")
    w("## Every phase: RSS alive / idle / exited (MiB), and operations per second")
    w("")
    w("| threads | allocator | alive | idle | exited | ops/s |")
    w("| --- | --- | --- | --- | --- | --- |")
    for t in threads:
        for a in ALLOCS:
            v = [med(a, 10000, t, k) for k in ("rss_alive", "rss_idle", "rss_exited", "ops_per_s")]
            if v[0] is None:
                continue
            w("| %d | %s | %.0f | %.0f | %.0f | %.3g |" % (t, a, v[0], v[1], v[2], v[3]))
    quiet = sorted({t for (_, act, t) in runs if act == 0})
    if quiet:
        w("")
        w("## Nothing allocates while the workers are parked (`--activity 0`)")
        w("")
        w("Only a background thread can give memory back then.")
        w("")
        w("| threads | obmt idle | obmt-bg idle |")
        w("| --- | --- | --- |")
        for t in quiet:
            a, b = med("obmt", 0, t, "rss_idle"), med("obmt-bg", 0, t, "rss_idle")
            w("| %d | %s | %s |" % (t, "%.0f" % a if a is not None else "-", "%.0f" % b if b is not None else "-"))
    w("")
    w("![idle RSS against threads](charts/blowup.svg)")
    w("")
    with open(out_md, "w") as f:
        f.write("\n".join(lines))
    print("wrote %s" % out_md)

    os.makedirs(chart_dir, exist_ok=True)
    dat = os.path.join(chart_dir, "blowup.dat")
    with open(dat, "w") as f:
        f.write("threads " + " ".join(ALLOCS) + "\n")
        for t in threads:
            f.write("%d " % t + " ".join("%.1f" % v if v is not None else "NaN"
                                          for v in (med(a, 10000, t, "rss_idle") for a in ALLOCS)) + "\n")
    gp = os.path.join(chart_dir, "blowup.gp")
    with open(gp, "w") as f:
        f.write("""set terminal svg size 800,480 dynamic font 'sans,10'
set output '%s'
set title "blowup: resident memory once the threads are idle (lower is better; about 16 MiB live)"
set logscale xy
set xrange [5:1600]
set xtics (8, 64, 256, 1024)
set xlabel 'threads'
set ylabel 'RSS (MiB)'
set key outside right
set grid
plot for [i=2:%d] '%s' using 1:i with linespoints pt 7 ps 0.7 lw 1.5 title columnheader(i)
""" % (os.path.join(chart_dir, "blowup.svg"), len(ALLOCS) + 1, dat))
    subprocess.run(["gnuplot", gp], check=False)
    os.remove(gp)
    os.remove(dat)


if __name__ == "__main__":
    main()
