#!/usr/bin/env bash
# stress/run.sh SANITIZER SECONDS THREADS [SEED]
#
# Builds the stress programs (SANITIZER: none, thread, address or undefined)
# and runs each of them for SECONDS with THREADS threads. Each program
# checks every block's payload before freeing it and fails on any mismatch,
# corruption or lost block; ThreadSanitizer reports fail the run too.
set -euo pipefail
cd "$(dirname "$0")/.."
san=${1:?usage: stress/run.sh none|thread|address|undefined SECONDS THREADS [SEED]}
secs=${2:?seconds}
threads=${3:?threads}
seed=${4:-$(date +%s)}
[ "$san" = none ] && san=""
build=build/stress-${san:-plain}
cc=cc
[ "$san" = thread ] && cc=clang
CC=$cc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOBMT_SANITIZE="$san" \
  -DOBMT_BUILD_STRESS=ON -DOBMT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
export TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}"
for prog in "$build"/stress/stress_*; do
  echo "== $(basename "$prog") $secs s, $threads threads, seed $seed${san:+, $san sanitizer}"
  "$prog" "$secs" "$threads" "$seed"
done
