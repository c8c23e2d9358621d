"""check_stats.py: check obmt's statistics for the processes of one
integration test (called by check_stats in lib.sh, never under LD_PRELOAD).

Input: the OBMT_STATS_FILE of the test, one JSON object per line, appended
by each process at exit. Every line must be well formed and its bytes must
add up; the options set minimums over all lines.
"""
import argparse
import json
import sys

KEYS = ("pid", "pools_taken", "pools_given", "bytes_in_use", "bytes_committed",
        "bytes_free_in_pools", "bytes_empty_pools", "bytes_free_pools", "heaps_used_hwm",
        "heaps_in_use", "threads_seen", "remote_frees", "large_allocs",
        "pools_adopted", "pools_abandoned", "pools_purged", "remote_batches", "remote_blocks_waiting",
        "pools_reclaimed", "bytes_reclaimed", "bytes_huge", "huge_allocs", "bytes_medium", "medium_allocs")
CLASS_KEYS = ("class", "block_size", "pools_used", "pools_full", "pools_empty", "blocks_in_use")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def form_error(r):
    """What is missing from one parsed line, or None."""
    if not isinstance(r, dict):
        return "not a JSON object"
    bad = [k for k in KEYS if not is_int(r.get(k))]
    if bad:
        return f"missing or not an integer: {', '.join(bad)}"
    classes = r.get("classes")
    if not isinstance(classes, list) or not all(
            isinstance(c, dict) and all(is_int(c.get(k)) for k in CLASS_KEYS) for c in classes):
        return f"classes: not a list of objects with integer {', '.join(CLASS_KEYS)}"
    return None


def sum_errors(r):
    """The sums of one well-formed line that do not add up."""
    errors = []
    # Every committed byte is in exactly one place. obmt reads these figures
    # at exit without stopping other threads, and a program may exit while
    # its threads still allocate: a pool taken or given back between the
    # reads puts the sum one pool off (seen: 10 in 200 exits of a program
    # whose 4 threads were in malloc/free). So only where no other thread
    # cache is in use (heaps_in_use <= 1: the exiting thread's) is the
    # process quiet and the sum exact.
    parts = ("bytes_in_use", "bytes_free_in_pools", "bytes_empty_pools", "bytes_free_pools", "bytes_huge",
             "bytes_medium")
    total = sum(r[k] for k in parts)
    if r["heaps_in_use"] <= 1 and total != r["bytes_committed"]:
        errors.append(f"{' + '.join(parts)} = {total} != bytes_committed {r['bytes_committed']}")
    # Pools purged in place by the reclaim pass are free space in used pools.
    if r["heaps_in_use"] <= 1 and r["bytes_reclaimed"] > r["bytes_free_in_pools"]:
        errors.append(f"bytes_reclaimed {r['bytes_reclaimed']} > bytes_free_in_pools {r['bytes_free_in_pools']}")
    # A batch holds at least one block: never more hand-overs than blocks.
    if r["remote_batches"] > r["remote_frees"]:
        errors.append(f"remote_batches {r['remote_batches']} > remote_frees {r['remote_frees']}")
    in_classes = sum(c["blocks_in_use"] * c["block_size"] for c in r["classes"])
    if in_classes != r["bytes_in_use"]:
        errors.append(f"sum of blocks_in_use * block_size over classes = {in_classes}"
                      f" != bytes_in_use {r['bytes_in_use']}")
    return errors


def read_stats(path, errors):
    recs = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except ValueError as e:
                errors.append(f"line {n}: not JSON ({e}): {line.strip()[:200]}")
                continue
            bad = form_error(r)
            if bad:
                errors.append(f"line {n}: {bad}")
                continue
            errors.extend(f"line {n} (pid {r['pid']}): {msg}" for msg in sum_errors(r))
            recs.append(r)
    return recs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="")
    ap.add_argument("--min-lines", type=int, default=1)
    ap.add_argument("--min-heaps", type=int, default=1)
    ap.add_argument("--min-remote-frees", type=int, default=0)
    ap.add_argument("--min-big", type=int, default=0)
    ap.add_argument("--max-large", type=int, default=0,
                    help="requests passed to the underlying allocator, all processes together"
                         " (obmt serves every size: none unless memory runs out)")
    ap.add_argument("--any-pools", action="store_true",
                    help="pools taken in at least one process, not in each")
    ap.add_argument("path")
    a = ap.parse_args()

    errors = []
    recs = read_stats(a.path, errors)
    tag = f"[{a.label}] obmt statistics"
    n = len(recs)
    taken = sum(r["pools_taken"] for r in recs)
    heaps = max((r["heaps_used_hwm"] for r in recs), default=0)
    remote = sum(r["remote_frees"] for r in recs)
    large = sum(r["large_allocs"] for r in recs)
    big = sum(r["medium_allocs"] + r["huge_allocs"] for r in recs)
    none_taken = [r for r in recs if r["pools_taken"] <= 0]
    multi = sum(r["heaps_in_use"] > 1 for r in recs)
    print(f"{tag}: {n} process(es); pools taken {taken} in all,"
          f" {max((r['pools_taken'] for r in recs), default=0)} at most in one;"
          f" heaps_used_hwm at most {heaps}; remote frees {remote}; medium and huge allocs {big};"
          f" passed to the underlying allocator {large};"
          f" bytes_committed at most {max((r['bytes_committed'] for r in recs), default=0)};"
          f" committed bytes balance checked in {n - multi}, not in {multi} (threads running at exit)")
    if n < a.min_lines:
        errors.append(f"{n} statistics line(s) in {a.path}, expected at least {a.min_lines}"
                      " (one per process run under obmt that exits normally)")
    if recs and taken <= 0:
        errors.append("no pool taken in any process: obmt served no request")
    if none_taken and not a.any_pools:
        errors.append(f"{len(none_taken)} process(es) took no pool, e.g. pid {none_taken[0]['pid']}")
    if recs and heaps < a.min_heaps:
        errors.append(f"heaps_used_hwm at most {heaps}, expected >= {a.min_heaps} (threads served by obmt)")
    if remote < a.min_remote_frees:
        errors.append(f"remote frees {remote}, expected >= {a.min_remote_frees}")
    if large > a.max_large:
        errors.append(f"{large} request(s) passed to the underlying allocator, expected <= {a.max_large}"
                      " (obmt serves every size, threads without a heap too)")
    if big < a.min_big:
        errors.append(f"medium and huge allocs {big}, expected >= {a.min_big}")
    for e in errors:
        print(f"{tag}: FAIL: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
