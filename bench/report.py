#!/usr/bin/env python3
"""bench/report.py RAW_DIR OUT_MD CHART_DIR: the comparison report.

RAW_DIR holds what bench/run.sh collected:
  REP-BINARY-ALLOC.json   Google Benchmark JSON of one run of one binary
  REP-BINARY-ALLOC.rss    peak RSS of that run in KiB (GNU time %M)
  instr.tsv               alloc, size, instructions per malloc, per free, per remote free
  meta.txt                key=value lines (mode, host, cpu, date, versions)
It writes the Markdown results file OUT_MD and one SVG chart per benchmark
family (binary) into CHART_DIR, through gnuplot. Medians are over repetitions.
Standard library only.
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict

# obmt_secure: obmt built with -DOBMT_SECURE=ON (bench/run.sh --secure), shown beside obmt,
# never counted as a peer.
ALLOCS = ["obmt", "obmt_secure", "glibc", "jemalloc", "mimalloc", "tcmalloc"]


def load(raw):
    runs = defaultdict(lambda: defaultdict(list))  # (family, bench) -> alloc -> [items/s]
    counters = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))  # (family, bench) -> alloc -> counter -> [v]
    # family -> alloc -> round -> KiB: the largest of the round's processes
    # (bench_memory runs one process per row: bench/run.sh)
    peak = defaultdict(lambda: defaultdict(dict))
    order = defaultdict(list)  # family -> bench names in registration order
    for path in sorted(glob.glob(os.path.join(raw, "*.json"))):
        m = re.match(r"(\d+)-bench_(\w+?)-([a-z_]+)(?:-\d+)?\.json$", os.path.basename(path))
        if not m:
            continue
        rnd, family, alloc = m.groups()
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate" or b.get("error_occurred"):
                continue
            name = b["name"]
            key = (family, name)
            if name not in order[family]:
                order[family].append(name)
            if "items_per_second" in b:
                runs[key][alloc].append(float(b["items_per_second"]))
            for k, v in b.items():
                if k.endswith("_MiB") or k.endswith("_KiB"):
                    counters[key][alloc][k].append(float(v))
        rss_path = path[:-5] + ".rss"
        if os.path.exists(rss_path):
            with open(rss_path) as f:
                text = f.read().strip().splitlines()
            if text and text[-1].strip().isdigit():
                kib = int(text[-1].strip())
                peak[family][alloc][rnd] = max(kib, peak[family][alloc].get(rnd, 0))
    rss = defaultdict(lambda: defaultdict(list))  # family -> alloc -> [KiB], one a round
    for family in peak:
        for alloc in peak[family]:
            rss[family][alloc] = list(peak[family][alloc].values())
    return runs, counters, rss, order


def fmt_rate(v):
    if v >= 1e9:
        return "%.2f G" % (v / 1e9)
    if v >= 1e6:
        return "%.1f M" % (v / 1e6)
    if v >= 1e3:
        return "%.1f k" % (v / 1e3)
    return "%.0f" % v


def main():
    raw, out_md, chart_dir = sys.argv[1:4]
    os.makedirs(chart_dir, exist_ok=True)
    meta = {}
    if os.path.exists(os.path.join(raw, "meta.txt")):
        with open(os.path.join(raw, "meta.txt")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    runs, counters, rss, order = load(raw)
    allocs = [a for a in ALLOCS if any(a in runs[k] for k in runs)]
    med = {k: {a: statistics.median(v) for a, v in d.items() if v} for k, d in runs.items()}
    nreps = {k: {a: len(v) for a, v in d.items()} for k, d in runs.items()}

    lines = []
    w = lines.append
    w("# obmt benchmark comparison, %s" % meta.get("date", "?"))
    w("")
    w("- host: `%s`, %s, %s CPUs" % (meta.get("host", "?"), meta.get("cpu", "?"), meta.get("ncpu", "?")))
    w("- mode: `%s`; every figure is the median of %s interleaved runs (allocators rotated each round)"
      % (meta.get("mode", "?"), meta.get("reps", "?")))
    w("- command: `%s`" % meta.get("command", "bash bench/run.sh"))
    w("- peers, preloaded with LD_PRELOAD: %s" % meta.get("peers", "?"))
    w("- throughput is items per second (Google Benchmark `items_per_second`); the ratio is allocator / obmt, "
      "so above 1.00 the peer is faster")
    w("")

    shortfalls = []
    for family in sorted(order):
        names = [n for n in order[family] if (family, n) in med and med[(family, n)]]
        if not names:
            continue
        w("## %s" % family)
        w("")
        w("![%s](charts/%s.svg)" % (family, family))
        w("")
        w("| benchmark | " + " | ".join(allocs) + " | best peer / obmt |")
        w("|---|" + "---|" * len(allocs) + "---|")
        for n in names:
            m = med[(family, n)]
            o = m.get("obmt")
            cells = []
            for a in allocs:
                if a not in m:
                    cells.append("-")
                elif a == "obmt" or not o:
                    cells.append(fmt_rate(m[a]))
                else:
                    cells.append("%s (%.2f)" % (fmt_rate(m[a]), m[a] / o))
            peers = {a: v for a, v in m.items() if not a.startswith("obmt")}
            best = max(peers, key=peers.get) if peers else None
            ratio = peers[best] / o if best and o else None
            w("| %s | %s | %s |" % (n, " | ".join(cells), "%.2f (%s)" % (ratio, best) if ratio else "-"))
            if ratio and ratio > 1.25:
                shortfalls.append((family, n, best, ratio))
        cnt = {n: counters[(family, n)] for n in names if counters[(family, n)]}
        if cnt:
            w("")
            w("| benchmark | counter | " + " | ".join(allocs) + " |")
            w("|---|---|" + "---|" * len(allocs))
            for n, per_alloc in cnt.items():
                keys = sorted({k for a in per_alloc for k in per_alloc[a]})
                for k in keys:
                    vals = []
                    for a in allocs:
                        v = per_alloc.get(a, {}).get(k)
                        vals.append("%.1f" % statistics.median(v) if v else "-")
                    w("| %s | %s | %s |" % (n, k, " | ".join(vals)))
        w("")
        write_chart(family, names, med, allocs, chart_dir)

    w("## Peak RSS of each benchmark binary (MiB, median over runs, GNU time)")
    w("")
    w("| binary | " + " | ".join(allocs) + " |")
    w("|---|" + "---|" * len(allocs))
    for family in sorted(rss):
        vals = ["%.1f" % (statistics.median(rss[family][a]) / 1024) if rss[family].get(a) else "-" for a in allocs]
        w("| bench_%s | %s |" % (family, " | ".join(vals)))
    w("")

    instr = os.path.join(raw, "instr.tsv")
    if os.path.exists(instr):
        w("## Fast-path instructions (valgrind --tool=callgrind)")
        w("")
        w("Instructions per call on the local path (100 blocks of the size kept live, then malloc/free pairs "
          "of one block; bench/instr_count.c), less the cost of an empty call through the same loop; "
          "and per free of a block another thread (alive) allocated, in allocation order (`remote`). "
          "Instruction counts are repeatable on a noisy machine; they are not times.")
        w("")
        rows = defaultdict(dict)
        with open(instr) as f:
            for line in f:
                parts = line.split()
                if len(parts) in (4, 5):
                    a, size = parts[0], int(parts[1])
                    rows[size][a] = tuple(float(x) for x in parts[2:]) + ((None,) if len(parts) == 4 else ())
        w("| size | " + " | ".join("%s malloc / free / remote" % a for a in allocs) + " |")
        w("|---|" + "---|" * len(allocs))

        def cell(v):
            return "/".join("-" if x is None else "%.0f" % x for x in v).replace("/", " / ")
        for size in sorted(rows):
            w("| %d | %s |" % (size, " | ".join(cell(rows[size][a]) if a in rows[size] else "-" for a in allocs)))
        w("")

    w("## Where obmt is more than 1.25x slower than the best peer")
    w("")
    if shortfalls:
        for family, n, best, ratio in sorted(shortfalls, key=lambda x: -x[3]):
            w("- %s `%s`: %s is %.2fx faster" % (family, n, best, ratio))
    else:
        w("- none")
    w("")
    with open(out_md, "w") as f:
        f.write("\n".join(lines))
    print("wrote %s (%d shortfalls)" % (out_md, len(shortfalls)))


def write_chart(family, names, med, allocs, chart_dir):
    """Grouped bars: each benchmark's throughput relative to obmt (obmt = 1)."""
    rows = [n for n in names if med[(family, n)].get("obmt")]
    if not rows:
        return
    dat = os.path.join(chart_dir, family + ".dat")
    with open(dat, "w") as f:
        f.write("bench " + " ".join(allocs) + "\n")
        for n in rows:
            m = med[(family, n)]
            label = n.replace("/real_time", "").replace("threads:", "t")
            f.write('"%s" ' % label + " ".join("%.4f" % (m[a] / m["obmt"]) if a in m else "NaN" for a in allocs) + "\n")
    width = max(900, 28 * len(rows) * len(allocs) // 2 + 200)
    gp = os.path.join(chart_dir, family + ".gp")
    with open(gp, "w") as f:
        f.write("""set terminal svg size %d,520 dynamic font 'sans,10'
set output '%s'
set title "%s: throughput relative to obmt (obmt = 1.0; higher is faster)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key outside top horizontal
set xtics rotate by -45 scale 0 font ',8'
set yrange [0:*]
set grid ytics
set ylabel 'items/s relative to obmt'
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)
""" % (width, os.path.join(chart_dir, family + ".svg"), family, len(allocs) + 1, dat))
    subprocess.run(["gnuplot", gp], check=False)
    os.remove(gp)
    os.remove(dat)


if __name__ == "__main__":
    main()
