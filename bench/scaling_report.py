#!/usr/bin/env python3
"""bench/scaling_report.py RAW OUT ALLOC...: the report of bench/scaling.sh.

RAW holds one Google Benchmark JSON file per round, allocator and binary
(ROUND-ALLOC-BINARY.json) and meta.txt. OUT gets a Markdown table of the
median items/s (M) of each row and allocator over the rounds, the best
column other than obmt's (and obmt's own variants, named obmt*) and its
ratio to obmt (above 1: that allocator is faster), then the median peak RSS
of the memory rows.
"""
import collections
import glob
import json
import os
import statistics
import sys


def main():
    raw, out, allocs = sys.argv[1], sys.argv[2], sys.argv[3:]
    speed = collections.defaultdict(lambda: collections.defaultdict(list))
    rss = collections.defaultdict(lambda: collections.defaultdict(list))
    order = []
    skipped = set()
    for path in sorted(glob.glob(os.path.join(raw, "*.json"))):
        r, rest = os.path.basename(path).split("-", 1)
        alloc = next((a for a in sorted(allocs, key=len, reverse=True) if rest.startswith(a + "-bench_")), None)
        if alloc is None:
            continue
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            name = b["name"].replace("/real_time", "")
            if b.get("error_occurred"):
                # The benchmark skipped the row itself (producer_pairs and
                # xmalloc at an odd thread count): listed, not measured.
                skipped.add(f"{name}: {b.get('error_message')}")
                continue
            if name not in order:
                order.append(name)
            if "items_per_second" in b:
                speed[name][alloc].append(b["items_per_second"] / 1e6)
            if "peak_rss_MiB" in b:
                rss[name][alloc].append(b["peak_rss_MiB"])
    meta = open(os.path.join(raw, "meta.txt")).read().strip().splitlines()
    peers = [a for a in allocs if not a.startswith("obmt")]
    lines = ["# Scaling: the cross-thread rows at more threads (bench/scaling.sh)", ""]
    lines += ["```"] + meta + ["```", ""]
    lines += ["Medians over the rounds, M items/s (higher is better). Last column: the",
              "fastest peer and its speed over obmt's (above 1: obmt is behind).", ""]
    lines.append("| row | " + " | ".join(allocs) + " | best peer / obmt |")
    lines.append("| --- " * (len(allocs) + 2) + "|")
    for name in order:
        if not speed[name]:
            continue
        m = {a: statistics.median(v) for a, v in speed[name].items() if v}
        cells = " | ".join(f"{m[a]:.1f}" if a in m else "-" for a in allocs)
        best = max(((m[a], a) for a in peers if a in m), default=None)
        ratio = f"{best[1]} {best[0] / m['obmt']:.2f}" if best and m.get("obmt") else "-"
        lines.append(f"| {name} | {cells} | {ratio} |")
    if rss:
        lines += ["", "Peak RSS of the memory rows, MiB (median over the rounds; lower is better;",
                  "one process runs them all, so each row starts from what the one before left):", ""]
        lines.append("| row | " + " | ".join(allocs) + " |")
        lines.append("| --- " * (len(allocs) + 1) + "|")
        for name in order:
            if rss[name]:
                m = {a: statistics.median(v) for a, v in rss[name].items() if v}
                lines.append(f"| {name} | " + " | ".join(f"{m[a]:.1f}" if a in m else "-" for a in allocs) + " |")
    if skipped:
        lines += ["", "Rows the benchmarks skipped (not measured):", ""]
        lines += [f"- {x}" for x in sorted(skipped)]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[lines.index("```", 3) + 2:]))


if __name__ == "__main__":
    main()
