#!/usr/bin/env python3
"""arena_map.py FILE [--pid PID] [--line N] [--out SVG] [--check]: draw obmt's
arena map.

FILE holds JSON lines of obmt statistics written with OBMT_STATS_MAP=1
(OBMT_STATS_FILE, or OBMT_SHOW_STATS=2 on stderr): each carries
"arena_map", one byte per pool in hex (include/obmt.h, OBMT_MAP_*), and
"pools_per_arena". For one process (the one with the most lines with a map,
or --pid; among equals the last one in FILE) and one of its lines (the last, or --line N, counted from 0 among
that process's lines with a map), writes an SVG picture: one row per arena
slot, one cell per pool, coloured by what the pool is doing (used and full
pools in the colour of their size class, full ones darker). Prints one
summary line.

--check: also check the map against the figures of the same line (pools
free in arenas, pools held by threads per class, abandoned pools, arenas
committed) and exit 1 if they disagree; the line must have been written
while no other thread allocated (at exit, say).

Python 3 only (Debian: python3).
"""
import argparse
import colorsys
import json
import os
import sys
from collections import Counter, defaultdict

UNCOMMITTED, VIRGIN, FREE, PURGED, RECLAIMED, ABANDONED, HUGE = range(7)
EMPTY, USED, FULL = 0x40, 0x80, 0xC0
STATES = [
    (UNCOMMITTED, "#3a3a3a", "arena not committed"),
    (VIRGIN, "#f4f4f4", "free, never used"),
    (FREE, "#9fd49f", "free, resident"),
    (PURGED, "#ffffff", "free, pages given back"),
    (RECLAIMED, "#bcdcf2", "emptied by other threads, purged in place"),
    (ABANDONED, "#b07ce0", "blocks out, thread exited"),
    (HUGE, "#5a7fb0", "part of a huge block (or a cached freed one)"),
    (EMPTY, "#f2d16b", "empty, kept by a thread"),
]


def class_colour(c, full):
    h = (c * 0.61803398875) % 1.0
    r, g, b = colorsys.hls_to_rgb(h, 0.32 if full else 0.62, 0.65)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


def colour(b):
    kind = b & 0xC0
    if kind == 0:
        return dict((s, c) for s, c, _ in STATES).get(b, "#ff00ff")
    if kind == EMPTY:
        return dict((s, c) for s, c, _ in STATES)[EMPTY]
    return class_colour(b & 0x3F, kind == FULL)


def census(m):
    c = Counter(m)
    per_class = defaultdict(lambda: [0, 0, 0])  # empty, used, full
    for b, n in c.items():
        if b & 0xC0:
            per_class[b & 0x3F][(b >> 6) - 1] += n
    return c, per_class


def check(d, m, ppa):
    """Problems between the map and the line's own figures (a list)."""
    problems = []
    c, per_class = census(m)
    if len(m) != d["arenas_used_hwm"] * ppa:
        problems.append("map of %d pools for %d arena slots" % (len(m), d["arenas_used_hwm"]))
    unc = (d["arenas_used_hwm"] - d["arenas_committed"]) * ppa
    if c[UNCOMMITTED] != unc:
        problems.append("%d pools in uncommitted arenas, figures say %d" % (c[UNCOMMITTED], unc))
    free = c[VIRGIN] + c[FREE] + c[PURGED]
    if free != d["pools_free_in_arenas"]:
        problems.append("%d free pools, figures say %d" % (free, d["pools_free_in_arenas"]))
    if "bytes_huge" in d and c[HUGE] * d["pool_size"] != d["bytes_huge"]:
        problems.append("%d pools in huge blocks' arenas, figures say %d bytes" % (c[HUGE], d["bytes_huge"]))
    if c[ABANDONED] != d["pools_abandoned"]:
        problems.append("%d abandoned pools, figures say %d" % (c[ABANDONED], d["pools_abandoned"]))
    held_map = c[ABANDONED] + c[RECLAIMED] + sum(sum(v) for v in per_class.values())
    held = sum(k["pools_used"] + k["pools_full"] + k["pools_empty"] for k in d["classes"])
    if held_map != held:
        problems.append("%d pools held by threads, figures say %d" % (held_map, held))
    if c[ABANDONED] + c[RECLAIMED] == 0:
        for k in d["classes"]:
            e, u, f = per_class.get(k["class"], [0, 0, 0])
            if (e, u, f) != (k["pools_empty"], k["pools_used"], k["pools_full"]):
                problems.append("class %d (%d bytes): map %d empty %d used %d full, figures %d %d %d" % (
                    k["class"], k["block_size"], e, u, f, k["pools_empty"], k["pools_used"], k["pools_full"]))
    return problems


def draw(d, m, ppa, out, title):
    cell, gap, left, top = 10, 1, 56, 48
    rows = len(m) // ppa
    sizes = {k["class"]: k["block_size"] for k in d.get("classes", [])}
    c, per_class = census(m)
    classes = [k for k in sorted(per_class, key=lambda k: -(per_class[k][1] + per_class[k][2]))
               if per_class[k][1] + per_class[k][2]]
    more = classes[16:]
    classes = classes[:16]
    width = left + ppa * (cell + gap) + 320
    legend_rows = len(STATES) + 2 + len(classes)
    height = max(top + rows * (cell + gap), top + 16 * legend_rows) + 30
    o = []
    o.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">'
             % (width, height))
    o.append('<rect width="100%" height="100%" fill="white"/>')
    o.append('<text x="8" y="18" font-size="14">%s</text>' % title)
    o.append('<text x="8" y="36" fill="#555">one row per arena (%d pools of %d KiB), address order; '
             'used pools in the colour of their class, full ones darker</text>' % (ppa, d["pool_size"] // 1024))
    for r in range(rows):
        y = top + r * (cell + gap)
        if r % 4 == 0 or rows <= 16:
            o.append('<text x="%d" y="%d" text-anchor="end" fill="#555">%d</text>' % (left - 6, y + cell - 1, r))
        for i in range(ppa):
            b = m[r * ppa + i]
            stroke = ' stroke="#bbb" stroke-width="0.5"' if b in (PURGED, VIRGIN) else ""
            o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="%s"%s/>' % (
                left + i * (cell + gap), y, cell, cell, colour(b), stroke))
    lx, ly = left + ppa * (cell + gap) + 20, top
    for s, col, label in STATES:
        n = c[s] if s != EMPTY else sum(v[0] for v in per_class.values())
        o.append('<rect x="%d" y="%d" width="10" height="10" fill="%s" stroke="#bbb" stroke-width="0.5"/>' % (lx, ly, col))
        o.append('<text x="%d" y="%d">%s: %d</text>' % (lx + 16, ly + 9, label, n))
        ly += 16
    o.append('<text x="%d" y="%d" fill="#555">used / full pools by block size:</text>' % (lx, ly + 9))
    ly += 16
    for k in classes:
        e, u, f = per_class[k]
        o.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (lx, ly, class_colour(k, False)))
        o.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (lx + 12, ly, class_colour(k, True)))
        o.append('<text x="%d" y="%d">%s bytes: %d used, %d full</text>' % (
            lx + 28, ly + 9, sizes.get(k, "class %d" % k), u, f))
        ly += 16
    if more:
        o.append('<text x="%d" y="%d" fill="#555">and %d more classes: %d used, %d full</text>' % (
            lx, ly + 9, len(more), sum(per_class[k][1] for k in more), sum(per_class[k][2] for k in more)))
    o.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--line", type=int)
    ap.add_argument("--out")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    lines = defaultdict(list)
    with open(a.file) as f:
        for text in f:
            text = text.strip()
            if not text.startswith("{"):
                continue
            try:
                d = json.loads(text)
            except ValueError:
                continue
            if "arena_map" in d:
                lines[d["pid"]].append(d)
    if not lines:
        sys.exit("arena_map.py: no line with an arena map in %s (run with OBMT_STATS_MAP=1)" % a.file)
    order = {p: i for i, p in enumerate(lines)}  # ties: the process seen last (the latest run)
    pid = a.pid if a.pid is not None else max(lines, key=lambda p: (len(lines[p]), order[p]))
    if pid not in lines:
        sys.exit("arena_map.py: no map from pid %d" % pid)
    ds = lines[pid]
    d = ds[a.line if a.line is not None else -1]
    ppa = d["pools_per_arena"]
    m = bytes.fromhex(d["arena_map"])
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(a.file)), "arena-map-%d.svg" % pid)
    c, per_class = census(m)
    held = sum(u + f for _, u, f in per_class.values())
    title = "obmt arena map: pid %d, %s, %d arenas" % (pid, d.get("at", "line"), len(m) // ppa)
    draw(d, m, ppa, out, title)
    print("arena_map.py: %s: %d arenas, %d pools: %d used or full, %d empty, %d free (%d purged), "
          "%d abandoned, %d reclaimed, %d in huge blocks, %d in uncommitted arenas" % (
              out, len(m) // ppa, len(m), held, sum(e for e, _, _ in per_class.values()),
              c[VIRGIN] + c[FREE] + c[PURGED], c[PURGED], c[ABANDONED], c[RECLAIMED], c[HUGE], c[UNCOMMITTED]))
    if a.check:
        problems = check(d, m, ppa)
        for p in problems:
            print("arena_map.py: MISMATCH: " + p)
        if problems:
            sys.exit(1)
        print("arena_map.py: the map agrees with the figures of its line")


if __name__ == "__main__":
    main()
