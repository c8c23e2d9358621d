#!/usr/bin/env bash
# bench/compare.sh [--rounds N] [--allocators obmt,glibc,jemalloc,mimalloc,tcmalloc]
#                  [--env VAR=VALUE]... [--check-output] [--out FILE] [--obmt-lib PATH]
#                  -- COMMAND [ARGS...]
#
# Your program under each allocator, side by side. It
#  1. installs what is missing (Debian 12: the peers jemalloc, mimalloc and
#     tcmalloc, GNU time, gnuplot, python3) and builds obmt's override
#     library in build/bench (Release), unless --obmt-lib names one;
#  2. runs COMMAND under each allocator (LD_PRELOAD; glibc is the system's)
#     for N rounds (default 3, at least 3 for medians that mean something),
#     the order of the allocators rotated each round, each run under GNU
#     time: exit status, wall, user and system seconds, peak RSS, page
#     faults. --env VAR=VALUE (repeatable) goes into every run's
#     environment; the program's stdout and stderr are kept in the raw
#     directory;
#  3. a run that fails (non-zero exit), or whose stdout differs from the
#     first allocator's first run (--check-output), is reported and not
#     timed;
#  4. writes a Markdown report (medians, ratios to obmt, spread min..max)
#     and an SVG chart of time and peak memory per allocator to FILE
#     (default bench/results/compare-DATE-HHMMSS.md; the chart beside it,
#     .svg), and prints the table.
# Example: bash bench/compare.sh -- xz -T2 -9 -k -c /usr/bin/gcc-12
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=3
allocators=obmt,glibc,jemalloc,mimalloc,tcmalloc
envs=()
check=0
out=""
obmt_lib=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --allocators) allocators=$2; shift ;;
    --env) envs+=("$2"); shift ;;
    --check-output) check=1 ;;
    --out) out=$2; shift ;;
    --obmt-lib) obmt_lib=$2; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "bench/compare.sh: unknown argument $1 (the command goes after --)" >&2; exit 2 ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "bench/compare.sh: no command (put it after --)" >&2; exit 2; }
[ "$rounds" -ge 1 ] 2>/dev/null || { echo "bench/compare.sh: --rounds must be a positive number" >&2; exit 2; }
IFS=, read -r -a allocs <<<"$allocators"

pkgs=(time python3 gnuplot-nox)
for a in "${allocs[@]}"; do
  case "$a" in
    obmt) [ -n "$obmt_lib" ] || pkgs+=(build-essential cmake pkg-config libck-dev) ;;
    glibc) ;;
    jemalloc) pkgs+=(libjemalloc-dev) ;;
    mimalloc) pkgs+=(libmimalloc-dev) ;;
    tcmalloc) pkgs+=(libgoogle-perftools-dev) ;;
    *) echo "bench/compare.sh: unknown allocator $a (obmt, glibc, jemalloc, mimalloc, tcmalloc)" >&2; exit 2 ;;
  esac
done
bash "$here/scripts/deps.sh" "${pkgs[@]}"

if [[ ",$allocators," == *,obmt,* ]]; then
  if [ -z "$obmt_lib" ]; then
    echo "== building obmt's override library (build/bench, Release)"
    (cd "$here" && cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DOBMT_BUILD_TESTS=OFF >/dev/null &&
      cmake --build build/bench --target obmt-override -j"$(nproc)" >/dev/null)
    obmt_lib=$here/build/bench/libobmt-override.so
  fi
  obmt_lib=$(readlink -f "$obmt_lib")
fi
. "$here/bench/peers.sh"
peers_table bench/compare.sh "$obmt_lib" "${allocs[@]}"

stamp=$(date -u +%Y%m%d-%H%M%S)
out=${out:-$here/bench/results/compare-$(date -u +%Y-%m-%d-%H%M%S).md}
raw=$(mktemp -d "${TMPDIR:-/tmp}/obmt-compare.XXXXXX")
{
  echo "date=$(date -u +%Y-%m-%d)"
  echo "host=$(hostname)"
  echo "ncpu=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "rounds=$rounds"
  echo "allocators=$allocators"
  echo "command=$*"
  echo "env=${envs[*]:-}"
  echo "obmt=$(cd "$here" && git describe --always --dirty 2>/dev/null || echo '?')"
} >"$raw/meta.txt"

total=$((rounds * ${#allocs[@]}))
echo "== running: $total runs ($rounds rounds x ${#allocs[@]} allocators): $*"
n=0
for ((r = 1; r <= rounds; r++)); do
  k=${#allocs[@]}
  for ((i = 0; i < k; i++)); do
    a=${allocs[$(( (i + r - 1) % k ))]}
    f="$raw/$r-$a"
    set +e
    env ${preload[$a]:+LD_PRELOAD=${preload[$a]}} "${envs[@]}" /usr/bin/time -o "$f.time" \
      -f 'status=%x wall=%e user=%U sys=%S maxrss_kib=%M minflt=%R majflt=%F' "$@" >"$f.out" 2>"$f.err" </dev/null
    set -e
    n=$((n + 1))
    printf '\r   %d/%d runs' "$n" "$total"
  done
done
echo
python3 "$here/bench/compare_report.py" "$raw" "$out" "$check"
echo "(raw runs: $raw)"
