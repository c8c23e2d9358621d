#!/usr/bin/env bash
# stress/run.sh SANITIZER SECONDS THREADS [SEED]
#
# Builds the stress programs (SANITIZER: none, thread, address or undefined)
# and runs each of them for SECONDS with THREADS threads: random, pingpong,
# churn (10,000 short-lived threads), fork, memreturn, blowup (many threads
# freeing each other's blocks, then idle: the idle bound) and oom. Each program
# checks every block's payload before freeing it and fails on any mismatch,
# corruption or lost block; ThreadSanitizer reports fail the run too, and so
# does a program still running long after SECONDS (a hang).
# OBMT_STRESS_BUILD=DIR builds in DIR instead of build/stress-SANITIZER;
# OBMT_SECURE=1 builds obmt in secure mode (in build/stress-SANITIZER-secure).
set -euo pipefail
cd "$(dirname "$0")/.."
san=${1:?usage: stress/run.sh none|thread|address|undefined SECONDS THREADS [SEED]}
secs=${2:?seconds}
threads=${3:?threads}
seed=${4:-$(date +%s)}
[ "$san" = none ] && san=""
secure=OFF
suffix=""
if [ "${OBMT_SECURE:-0}" = 1 ]; then secure=ON; suffix=-secure; fi
build=${OBMT_STRESS_BUILD:-build/stress-${san:-plain}$suffix}
cc=cc
[ "$san" = thread ] && cc=clang
CC=$cc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOBMT_SANITIZE="$san" \
  -DOBMT_BUILD_STRESS=ON -DOBMT_BUILD_TESTS=OFF -DOBMT_SECURE="$secure" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
export TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}"
# Generous: sanitizers are slow, and stress_churn runs 10,000 threads even
# when SECONDS is short.
limit=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 4 + 120 }')
failed=()
for prog in "$build"/stress/stress_*; do
  name=$(basename "$prog")
  echo "== $name $secs s, $threads threads, seed $seed${san:+, $san sanitizer}${suffix:+, secure mode}"
  start=$(date +%s.%N)
  rc=0
  timeout -s KILL "$limit" "$prog" "$secs" "$threads" "$seed" || rc=$?
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 137 ] && echo "FAULT: $name still running after $limit s: a hang (or killed)"
    echo "== $name FAILED (exit $rc) after $took s; replay: $prog $secs $threads $seed"
    failed+=("$name")
  else
    echo "== $name done in $took s"
  fi
done
# Every program runs even when one fails, so that one fault hides no other.
if [ "${#failed[@]}" -ne 0 ]; then
  echo "== FAILED: ${failed[*]} (seed $seed)"
  exit 1
fi
