#!/usr/bin/env python3
"""bench/recheck.py OUT_MD BENCH_DIR ROUNDS MIN_TIME ALLOC=LIB...: run the
shortfalls of a comparison again, longer.

bench/run.sh --quick times each row for 0.02 s, three times. On a shared or
small machine one slow run can put a row on the list of those where obmt is
more than 1.25x behind the best peer. This reads that list from OUT_MD (the
report bench/report.py wrote), runs each listed row again ROUNDS times under
obmt and under the peer named there, alternating the two and which goes
first, with --benchmark_min_time=MIN_TIME, one process per run, and appends
the medians to OUT_MD: the row stays a shortfall only if it is one again.
ALLOC=LIB gives the library to LD_PRELOAD for each allocator (empty: none,
glibc). Standard library only.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

LINE = re.compile(r"^- (\S+) `([^`]+)`: (\S+) is ([0-9.]+)x faster$")


def shortfalls(out_md):
    rows, inside = [], False
    with open(out_md) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("## "):
                inside = line.startswith("## Where obmt is more than 1.25x slower")
                continue
            m = LINE.match(line) if inside else None
            if m:
                rows.append((m.group(1), m.group(2), m.group(3), float(m.group(4))))
    return rows


def run_once(binary, row, alloc, lib, min_time):
    """items/s of one run of row, or None if it did not report any."""
    env = dict(os.environ, OBMT_BENCH_DIRECT="1" if alloc == "obmt" else "0")
    if lib:
        env["LD_PRELOAD"] = lib
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        r = subprocess.run([binary, "--benchmark_filter=^%s$" % re.escape(row),
                            "--benchmark_min_time=%s" % min_time,
                            "--benchmark_out=%s" % tmp.name, "--benchmark_out_format=json"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return None
        try:
            data = json.load(open(tmp.name))
        except ValueError:
            return None
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") == "iteration" and "items_per_second" in b:
            return b["items_per_second"]
    return None


def main():
    out_md, bench_dir, rounds, min_time = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    libs = dict(a.split("=", 1) for a in sys.argv[5:])
    rows = shortfalls(out_md)
    lines = ["## Shortfalls rechecked", "",
             "Each row above run again: %d rounds of obmt and the peer named there, alternating, "
             "one process each, `--benchmark_min_time=%s`; medians, items/s (`bench/recheck.py`)."
             % (rounds, min_time), ""]
    if not rows:
        lines += ["- none to recheck", ""]
    else:
        lines += ["| benchmark | quick ratio | obmt | peer | peer / obmt | still a shortfall |",
                  "|---|---|---|---|---|---|"]
        still = 0
        for family, row, peer, quick in rows:
            binary = os.path.join(bench_dir, "bench_" + family)
            got = {"obmt": [], peer: []}
            for r in range(rounds):
                order = ["obmt", peer] if r % 2 == 0 else [peer, "obmt"]
                for a in order:
                    v = run_once(binary, row, a, libs.get(a, ""), min_time)
                    if v:
                        got[a].append(v)
            if not got["obmt"] or not got[peer]:
                lines.append("| %s | %.2f (%s) | - | - | - | not measured |" % (row, quick, peer))
                continue
            o, p = statistics.median(got["obmt"]), statistics.median(got[peer])
            ratio = p / o
            still += ratio > 1.25
            lines.append("| %s | %.2f (%s) | %.4g | %.4g | %.2f | %s |"
                         % (row, quick, peer, o, p, ratio, "yes" if ratio > 1.25 else "no"))
        lines += ["", "%d of %d rows still more than 1.25x behind." % (still, len(rows)), ""]
    with open(out_md, "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
