#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [libFuzzer options...]
#
# Builds the libFuzzer target fuzz_alloc (clang, AddressSanitizer, obmt's
# sources compiled in with coverage) in build/fuzz and runs it for SECONDS
# (default 60) on the corpus build/fuzz/corpus, which starts from the
# built-in seed inputs and grows from run to run (delete it to start over).
# Any crash, failed check, leak, timeout or memory blow-up fails the run; the
# input is then saved under build/fuzz/artifacts/. To see what it does:
#   FUZZ_ALLOC_TRACE=1 build/fuzz/tests/fuzz/fuzz_alloc_replay build/fuzz/artifacts/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
# OBMT_SECURE=1 in the environment: the same in secure mode, in build/fuzz-secure.
build=build/fuzz
secure=OFF
if [ "${OBMT_SECURE:-0}" = 1 ]; then build=build/fuzz-secure; secure=ON; fi
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOBMT_SANITIZE=address -DOBMT_BUILD_TESTS=ON -DOBMT_BUILD_FUZZ=ON -DOBMT_SECURE="$secure" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_alloc fuzz_alloc_replay >/dev/null
corpus=$build/corpus
artifacts=$build/artifacts
log=$build/fuzz.log
mkdir -p "$corpus" "$artifacts"
"$build/tests/fuzz/fuzz_alloc_replay" --write-seeds "$corpus" >/dev/null

echo "== fuzz_alloc for $secs s: corpus $corpus ($(ls "$corpus" | wc -l) inputs), log $log"
rc=0
"$build/tests/fuzz/fuzz_alloc" -max_total_time="$secs" -rss_limit_mb=3072 -timeout=60 \
  -max_len=5120 -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" "$corpus" \
  >"$log" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
  tail -n 80 "$log"
  grep -m1 '^fuzz_alloc: FAILED' "$log" >&2 || true
  echo "fuzz_alloc FAILED (exit $rc); the input is in $artifacts/:" >&2
  ls -t "$artifacts" | head -n 3 >&2
  echo "replay: FUZZ_ALLOC_TRACE=1 $build/tests/fuzz/fuzz_alloc_replay $artifacts/<file>" >&2
  exit 1
fi
edges=$(sed -n 's/.*Loaded [0-9]* modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -n 1)
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$done_line")
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
echo "$done_line"
echo "fuzz_alloc: $execs inputs in $secs s ($rate/s), coverage $cov of ${edges:-?} edges," \
  "corpus $(ls "$corpus" | wc -l) inputs, peak RSS $rss MiB: no failure"
