#!/usr/bin/env bash
# bench/threads_smoke.sh BIN_DIR: OBMT_BENCH_THREADS (bench_util.h) in every
# binary that takes it. Each registers the listed counts and runs a row at 16
# threads (8 at most was all their tables held once, and 16 crashed them);
# a count beyond BENCH_MAXT, or a malformed list, is refused with exit 2.
set -euo pipefail
dir=$1
fail() { echo "threads_smoke: $*" >&2; exit 1; }
for spec in "larson|larson/16/1000/real_time" \
            "server|server/1024/real_time/threads:16" \
            "producer|producer_1toN/64/real_time/threads:16" \
            "xmalloc|xmalloc/16/real_time/threads:16" \
            "falseshare|falseshare_thrash/64/real_time/threads:16" \
            "memory|memory_burst_remote/iterations:3/real_time/threads:16" \
            "realloc|realloc_add16/4096/real_time/threads:16"; do
  IFS='|' read -r b row <<<"$spec"
  # The listed counts replace the default ones (all of which include 8).
  list=$(OBMT_BENCH_THREADS=3,16 "$dir/bench_$b" --benchmark_list_tests)
  row3=$(sed 's/threads:16/threads:3/; s|^larson/16/|larson/3/|' <<<"$row")
  row8=$(sed 's/threads:16/threads:8/; s|^larson/16/|larson/8/|' <<<"$row")
  for r in "$row" "$row3"; do
    grep -qx "$r" <<<"$list" || fail "bench_$b did not register $r"
  done
  ! grep -qx "$row8" <<<"$list" || fail "bench_$b kept its default count 8 ($row8)"
  out=$(OBMT_BENCH_THREADS=16 "$dir/bench_$b" --benchmark_filter="^$row\$" --benchmark_min_time=0.001 2>&1) ||
    fail "bench_$b failed at 16 threads: $out"
  grep -q "^$row " <<<"$out" || fail "bench_$b printed no result for $row: $out"
  for bad in 65 0 "4,x" "4,"; do
    set +e
    msg=$(OBMT_BENCH_THREADS=$bad "$dir/bench_$b" --benchmark_list_tests 2>&1); rc=$?
    set -e
    [ "$rc" = 2 ] && grep -q 'OBMT_BENCH_THREADS' <<<"$msg" || fail "bench_$b took OBMT_BENCH_THREADS=$bad (rc $rc): $msg"
  done
done
echo "threads_smoke: ok"
