#!/usr/bin/env python3
"""bench/rss_report.py RAW_DIR OUT_MD: the RSS-after-a-burst report.

RAW_DIR holds what bench/rss.sh collected:
  REP-ALLOC-VARIANT-SCENARIO-THREADS.txt  the output of one run of
                                          rss_after_burst (lines "rss key=value ...")
  meta.txt                                key=value lines (date, host, versions, ...)
It writes the Markdown file OUT_MD: medians over repetitions, in MiB.
Standard library only.
"""
import glob
import os
import re
import statistics
import sys
from collections import defaultdict

ALLOCS = ["obmt", "glibc", "jemalloc", "mimalloc", "tcmalloc", "obmt-delay0"]
LABEL = {"obmt-delay0": "obmt, delay 0 (ref.)"}
PHASES = ["baseline", "peak", "freed", "idle1", "idle2", "joined", "joined_idle"]
SCENARIOS = ["free", "keep64", "keep512"]
SCEN_TITLE = {
    "free": "burst, all freed",
    "keep64": "burst, 1 in 64 kept",
    "keep512": "burst, 1 in 512 kept",
}
PHASE_TEXT = {
    "baseline": "workers started, before the burst",
    "peak": "all allocated",
    "freed": "right after the frees (workers alive, idle)",
    "idle1": "+{idle} s idle + activity",
    "idle2": "+{idle} s more idle + activity",
    "joined": "workers exited (joined)",
    "joined_idle": "+{idle} s idle + activity (main)",
}
SPREAD_MIB = 16.0  # report cells whose runs differ by more than this

ALLOCATOR_NOTES = """\
## What each allocator does with freed memory (defaults as shipped)

- **obmt** (this repository): a pool (32 KiB) whose last block is freed goes back to its
  arena (2 MiB), unless its thread keeps it: each thread keeps the last pool of every size class
  it uses and up to `OBMT_KEEP_EMPTY_POOLS` (4) empty pools. Free pools' pages go back to the OS
  (`MADV_DONTNEED`) once their arena has had no pool back for `OBMT_PURGE_DELAY_MS` (1000 ms);
  wholly free arenas beyond `OBMT_KEEP_FREE_ARENAS` (1) are decommitted after the same delay. The
  check runs when some thread takes a pool from an arena or gives one back (no background
  thread, no timer); `obmt_collect()` purges at once (no program here calls it). A block freed
  by another thread waits on its pool's remote list until the owning thread takes the list
  back (on a slow path of its own malloc) or exits.
- **glibc** 2.36 (ptmalloc2): one arena per thread (up to 8 x CPUs). Memory goes back to the OS
  only from the top of a heap: the main arena trims with `sbrk` when its top chunk exceeds
  `M_TRIM_THRESHOLD` (128 KiB, raised dynamically), thread arenas shrink their heap
  (`heap_trim`); free chunks below a live one stay resident. There is no time-based release.
  `malloc_trim(0)` would also give back the free pages inside every arena; no program here
  calls it. Chunks up to 128 bytes go to fastbins and are only coalesced by a later
  consolidation.
- **jemalloc** 5.3.0: `opt.dirty_decay_ms` 10000 and `opt.muzzy_decay_ms` 0 (checked with
  `MALLOC_CONF=stats_print:true`): dirty pages are purged along a smoothstep curve over 10 s,
  advanced only by allocator calls on that arena (`background_thread` is false); 8 arenas
  (4 x CPUs), threads spread over them. When a thread exits and its arena has no thread left,
  `tcache_destroy` purges that arena at once ("Force purging when no threads assigned to the
  arena anymore", src/tcache.c).
- **mimalloc** 2.0.9 (what Debian 12 ships; `MIMALLOC_VERBOSE=1` lists the options): v2.0.x has no
  `purge_delay` yet (that is v2.1+, 10 ms); it has `decommit_delay` 25 ms (free spans inside a
  segment are decommitted 25 ms after, by the owning thread on a later call),
  `segment_decommit_delay` 500 ms (for freed segments in the segment cache), `allow_decommit` 1,
  `page_reset` 0. Blocks freed by another thread go to the page's thread-free list and are
  collected by the owning thread on its next allocations, or at its exit.
- **tcmalloc** (gperftools 2.10, `libtcmalloc_minimal.so.4`): per-thread caches, central free
  lists, a page heap. Spans whose objects are all free go back to the page heap, which returns
  pages to the OS (`MADV_DONTNEED`) at `TCMALLOC_RELEASE_RATE` (default 1.0), paced by the number
  of pages freed into it, not by time; `MallocExtension::ReleaseFreeMemory()` would release all
  (no program here calls it).
"""


def load(raw):
    # (variant, scenario, threads, phase) -> alloc -> [rss]; live and t_s likewise
    rss = defaultdict(lambda: defaultdict(list))
    live = defaultdict(list)
    tsec = defaultdict(list)
    blocks = []  # blocks in a burst (at peak)
    pat = re.compile(r"^(\d+)-(.+)-(main|workers)-(free|keep64|keep512)-(\d+)\.txt$")
    for path in sorted(glob.glob(os.path.join(raw, "*.txt"))):
        m = pat.match(os.path.basename(path))
        if not m:
            continue
        _, alloc, variant, _, _ = m.groups()
        with open(path) as f:
            for line in f:
                if not line.startswith("rss "):
                    continue
                kv = dict(tok.split("=", 1) for tok in line.split()[1:] if "=" in tok)
                key = (variant, kv["scenario"], int(kv["threads"]), kv["phase"])
                rss[key][alloc].append(float(kv["rss_mib"]))
                live[key].append(float(kv["live_mib"]))
                tsec[key].append(float(kv["t_s"]))
                if kv["phase"] == "peak":
                    blocks.append(int(kv["live_blocks"]))
    return rss, live, tsec, blocks


def med(v):
    return statistics.median(v) if v else None


def fmt(v):
    return "-" if v is None else "%.1f" % v


def fmt_live(v):
    return "-" if v is None else "%.2f" % v


def main():
    raw, out_md = sys.argv[1:3]
    meta = {}
    mpath = os.path.join(raw, "meta.txt")
    if os.path.exists(mpath):
        with open(mpath) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    rss, live, tsec, blocks = load(raw)
    idle = meta.get("idle", "2")
    allocs = [a for a in ALLOCS if any(a in d for d in rss.values())]

    def label(a):
        return LABEL.get(a, a)

    def combos(variant):
        return sorted({(k[1], k[2]) for k in rss if k[0] == variant},
                      key=lambda c: (SCENARIOS.index(c[0]), c[1]))

    lines = []
    w = lines.append
    w("# RSS after a burst, %s" % meta.get("date", "?"))
    w("")
    w("- host: `%s`, %s, %s CPUs, kernel %s, transparent huge pages `%s`"
      % (meta.get("host", "?"), meta.get("cpu", "?"), meta.get("ncpu", "?"), meta.get("kernel", "?"),
         meta.get("thp", "?")))
    w("- command: `%s`; every figure is the median of %s runs, each a fresh process, interleaved (the "
      "order of the allocators rotated each time), %s runs at a time (their idle periods overlap; RSS "
      "is per process)" % (meta.get("command", "bash bench/rss.sh"), meta.get("reps", "?"), meta.get("jobs", "?")))
    w("- obmt %s, %s; preloaded as `build/release/libobmt-override.so`; peers, preloaded: %s"
      % (meta.get("obmt", "?"), meta.get("obmt_src", "?"), meta.get("peers", "?")))
    w("- `obmt, delay 0 (ref.)`: obmt with `OBMT_PURGE_DELAY_MS=0` (purge at once), a reference for "
      "what the purge can give back, not a default")
    w("- program: `bench/rss_after_burst.c` (plain malloc/free). T worker threads allocate %s MiB in all "
      "(requested bytes) of blocks of 16..8192 bytes (55%% up to 128, 27%% up to 512, 12%% up to 1024, "
      "6%% up to 8192; about %s blocks), writing each in full; half of them are freed by the thread "
      "that allocated them, half by another thread. `keep64` / `keep512` keep every 64th / 512th block "
      "alive to the end. The workers then stay alive and idle (a thread pool after a burst) through "
      "`idle1` and `idle2`, and exit before `joined`. \"activity\" is 10,000 malloc/free pairs of the "
      "same sizes, on the main thread (main matrix) or on each worker (last section): without a "
      "background thread, that is what lets obmt, jemalloc and mimalloc act on their time-based "
      "purge." % (meta.get("mib", "256"), "{:,}".format(int(med(blocks))) if blocks else "?"))
    w("- RSS from `/proc/self/statm`, in MiB; `live` is what the program holds at that point "
      "(requested bytes). A figure well above `live` + `baseline` is memory the allocator keeps.")
    w("")

    # ---- summary ----
    w("## Summary: RSS (MiB) after the burst, activity on the main thread")
    w("")
    w("`idle2`: %s s after the frees, workers alive and idle; `joined_idle`: workers exited, then %s s "
      "more. `peak` for scale." % (2 * float(idle) if idle.replace(".", "", 1).isdigit() else "2 x idle", idle))
    w("")
    w("| scenario | threads | phase | live | " + " | ".join(label(a) for a in allocs) + " |")
    w("|---|---|---|---|" + "---|" * len(allocs))
    for s, t in combos("main"):
        for ph in ("peak", "idle2", "joined_idle"):
            key = ("main", s, t, ph)
            if key not in rss:
                continue
            cells = [fmt(med(rss[key].get(a, []))) for a in allocs]
            w("| %s | %d | %s | %s | %s |" % (SCEN_TITLE[s], t, ph, fmt_live(med(live[key])), " | ".join(cells)))
    w("")

    spread = []

    def table(variant, s, t):
        cols = [a for a in allocs if any(a in d for k, d in rss.items() if k[0] == variant)]
        w("| phase | when | t (s) | live | " + " | ".join(label(a) for a in cols) + " |")
        w("|---|---|---|---|" + "---|" * len(cols))
        for ph in PHASES:
            key = (variant, s, t, ph)
            if key not in rss:
                continue
            cells = []
            for a in cols:
                v = rss[key].get(a, [])
                cells.append(fmt(med(v)))
                if len(v) > 1 and max(v) - min(v) > SPREAD_MIB:
                    spread.append("%s, %s, %d threads, %s, %s: %s" % (
                        variant, s, t, ph, label(a), ", ".join("%.1f" % x for x in v)))
            w("| %s | %s | %.2f | %s | %s |" % (ph, PHASE_TEXT[ph].format(idle=idle), med(tsec[key]),
                                               fmt_live(med(live[key])), " | ".join(cells)))
        w("")

    w("## Every phase, activity on the main thread (MiB)")
    w("")
    for s, t in combos("main"):
        w("### %s, %d threads" % (SCEN_TITLE[s], t))
        w("")
        table("main", s, t)
    if combos("workers"):
        w("## Every phase, activity on the workers (MiB)")
        w("")
        w("The same runs with the idle-time activity done by each worker instead of the main thread "
          "(`idle1`, `idle2`; `joined_idle` is on the main thread, the workers being gone): the "
          "workers' own allocator calls let them take back the blocks other threads freed into their "
          "pages.")
        w("")
        for s, t in combos("workers"):
            w("### %s, %d threads, activity on the workers" % (SCEN_TITLE[s], t))
            w("")
            table("workers", s, t)
    w("## Spread")
    w("")
    if spread:
        w("Cells whose runs differ by more than %.0f MiB (every run listed):" % SPREAD_MIB)
        w("")
        for x in spread:
            w("- " + x)
    else:
        w("No cell's runs differ by more than %.0f MiB." % SPREAD_MIB)
    w("")
    w(ALLOCATOR_NOTES)
    with open(out_md, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
