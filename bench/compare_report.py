#!/usr/bin/env python3
"""compare_report.py RAW_DIR OUT_MD CHECK_OUTPUT: the report of bench/compare.sh.

RAW_DIR holds meta.txt and, per run, ROUND-ALLOC.time (GNU time's line:
status= wall= user= sys= maxrss_kib= minflt= majflt=), ROUND-ALLOC.out and
.err. Writes OUT_MD (medians, ratios to obmt, spread) and the chart
OUT_MD without .md + .svg (wall time and peak RSS per allocator, gnuplot),
and prints the table. A run that failed, or whose stdout differs from the
first allocator's first run when CHECK_OUTPUT is 1, is listed and not
counted.
"""
import os
import re
import statistics
import subprocess
import sys


def main():
    raw, out_md, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    meta = {}
    for line in open(os.path.join(raw, "meta.txt")):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    allocs = meta["allocators"].split(",")
    rounds = int(meta["rounds"])
    ref = None
    if check:
        ref_path = os.path.join(raw, "1-%s.out" % allocs[0])
        ref = open(ref_path, "rb").read() if os.path.exists(ref_path) else None
    runs = {a: [] for a in allocs}
    problems = []
    for r in range(1, rounds + 1):
        for a in allocs:
            base = os.path.join(raw, "%d-%s" % (r, a))
            try:
                text = open(base + ".time").read()
            except OSError:
                problems.append("round %d, %s: no timing (the run did not start)" % (r, a))
                continue
            lines = [l for l in text.splitlines() if "status=" in l]
            if not lines:
                problems.append("round %d, %s: %s" % (r, a, text.strip()[:200]))
                continue
            kv = dict(x.split("=", 1) for x in lines[-1].split())
            status = int(kv["status"])
            if status != 0 or re.search(r"terminated by signal", text):
                err = open(base + ".err", errors="replace").read().strip().splitlines()
                problems.append("round %d, %s: exit status %d%s" % (r, a, status, (": " + err[-1][:200]) if err else ""))
                continue
            if check and ref is not None and open(base + ".out", "rb").read() != ref:
                problems.append("round %d, %s: output differs from %s's first run" % (r, a, allocs[0]))
                continue
            runs[a].append({"wall": float(kv["wall"]), "user": float(kv["user"]), "sys": float(kv["sys"]),
                            "rss": int(kv["maxrss_kib"]) / 1024.0, "minflt": int(kv["minflt"]),
                            "majflt": int(kv["majflt"])})

    def med(a, k):
        v = [x[k] for x in runs[a]]
        return statistics.median(v) if v else None

    def spread(a, k):
        v = [x[k] for x in runs[a]]
        return (min(v), max(v)) if v else None

    base_wall, base_rss = med("obmt", "wall") if "obmt" in runs else None, med("obmt", "rss") if "obmt" in runs else None
    lines = []
    w = lines.append
    w("# Your program under each allocator, %s" % meta.get("date", "?"))
    w("")
    w("- command: `%s`%s" % (meta["command"], (" with `%s`" % meta["env"]) if meta.get("env") else ""))
    w("- %d rounds, allocators rotated each round; medians; ratios are allocator / obmt (above 1: more than obmt)"
      % rounds)
    w("- machine: %s, %s CPUs (%s); obmt %s; run by `bench/compare.sh`" %
      (meta.get("host", "?"), meta.get("ncpu", "?"), meta.get("cpu", "?"), meta.get("obmt", "?")))
    w("")
    w("| allocator | runs | wall s | / obmt | wall min..max | user s | sys s | peak RSS MiB | / obmt | minor faults |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for a in allocs:
        if not runs[a]:
            w("| %s | 0 of %d | - | - | - | - | - | - | - | - |" % (a, rounds))
            continue
        wall, rss = med(a, "wall"), med(a, "rss")
        lo, hi = spread(a, "wall")
        rw = "%.2f" % (wall / base_wall) if base_wall else "-"
        rr = "%.2f" % (rss / base_rss) if base_rss else "-"
        w("| %s | %d of %d | %.3f | %s | %.3f..%.3f | %.3f | %.3f | %.1f | %s | %d |" %
          (a, len(runs[a]), rounds, wall, rw, lo, hi, med(a, "user"), med(a, "sys"), rss, rr, med(a, "minflt")))
    if problems:
        w("")
        w("Runs not counted:")
        w("")
        for p in problems:
            w("- " + p)
    chart = os.path.splitext(out_md)[0] + ".svg"
    w("")
    w("![time and peak memory](%s)" % os.path.basename(chart))
    w("")
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    with open(out_md, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(l for l in lines if l.startswith("|") or l.startswith("- round") or l == "Runs not counted:"))
    print("wrote %s and %s" % (out_md, chart))

    ok = [a for a in allocs if runs[a]]
    if not ok:
        sys.exit("compare_report: no run succeeded")
    dat = chart[:-4] + ".dat"
    with open(dat, "w") as f:
        for a in ok:
            f.write("%s %.4f %.2f\n" % (a, med(a, "wall"), med(a, "rss")))
    gp = chart[:-4] + ".gp"
    with open(gp, "w") as f:
        f.write("""set terminal svg size 900,380 dynamic font 'sans,10'
set output '%s'
set multiplot layout 1,2 title "%s"
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xtics scale 0
set title 'wall time (s, median; lower is better)'
plot '%s' using 0:2:xtic(1) with boxes lc rgb '#4477aa' notitle
set title 'peak RSS (MiB, median; lower is better)'
plot '%s' using 0:3:xtic(1) with boxes lc rgb '#cc6677' notitle
unset multiplot
""" % (chart, meta["command"].replace('"', "'")[:80], dat, dat))
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode != 0:
        print("compare_report: gnuplot failed: %s" % r.stderr.strip()[:300], file=sys.stderr)
    os.remove(gp)
    os.remove(dat)


if __name__ == "__main__":
    main()
