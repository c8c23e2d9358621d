#!/usr/bin/env bash
# bench/demo.sh: the main job until the contention benchmark comparison
# exists. Builds obmt, then runs a real program (CPython with
# PYTHONMALLOC=malloc, four threads passing objects to each other) first on
# glibc's malloc and then under LD_PRELOAD of libobmt-override, and prints
# the wall time of each (median of 3) and obmt's statistics at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build-essential cmake pkg-config libck-dev python3
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j"$(nproc)" --target obmt-override >/dev/null
lib=$PWD/build/release/libobmt-override.so
py=/usr/bin/python3

median3() { # command...: run 3 times, print the median wall time in seconds
  local t=()
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    t+=("$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f", e - s }')")
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n 2p
}

export PYTHONMALLOC=malloc
echo "== python3 bench/demo.py, PYTHONMALLOC=malloc (median of 3 runs)"
g=$(median3 "$py" bench/demo.py)
o=$(median3 env LD_PRELOAD="$lib" "$py" bench/demo.py)
awk -v g="$g" -v o="$o" 'BEGIN { printf "  glibc malloc: %.3f s\n  obmt:         %.3f s  (%.2fx glibc time)\n", g, o, o / g }'
echo "== obmt's statistics at exit (OBMT_SHOW_STATS=1)"
OBMT_SHOW_STATS=1 LD_PRELOAD="$lib" "$py" bench/demo.py
