#!/usr/bin/env bash
# bench/scaling.sh [--threads LIST] [--rounds N] [--min-time S] [--out FILE]
#                  [--alloc NAME=LIB]... [--only NAME,...] [--no-build]
#
# The cross-thread rows (larson, xmalloc, producer, server, false sharing,
# a remote burst's peak RSS) at the thread counts of LIST (default: 4, 8,
# then doubling up to the machine's CPUs), for a machine with more cores
# than the benchmarks' own lists (sized for 2) exercise: they run with
# OBMT_BENCH_THREADS=LIST. Every allocator runs each binary once per round,
# the order rotated each round; the report gives medians, the best peer and
# its ratio to obmt (above 1: the peer is faster), and keeps the raw JSON.
#
#   --alloc NAME=LIB  one more column, LIB under LD_PRELOAD (an older obmt,
#                     say); NAME=LIB with a known NAME replaces its library
#   --only LIST       only these allocators (comma-separated), in this order
#   --no-build        use build/bench as it is and install nothing (a
#                     machine without a package registry; RUN_PREFIX, if
#                     set, goes before every command, e.g. a carried
#                     dynamic loader: "DIR/ld-linux-x86-64.so.2 --library-path DIR";
#                     PEER_LIBDIR, if set, holds the peers' libraries)
#
# Installs what is missing (Debian 12) and builds build/bench (Release) as
# bench/run.sh does. Writes bench/results/scaling-DATE-HOST.md by default.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=""; rounds=3; min_time=0.2; out=""; only=""; build_it=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --min-time) min_time=$2; shift ;;
    --out) out=$2; shift ;;
    --alloc) extra+=("$2"); shift ;;
    --only) only=$2; shift ;;
    --no-build) build_it=0 ;;
    -h|--help) sed -n "2,23p" "$0"; exit 0 ;;
    *) echo "bench/scaling.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$threads" ]; then
  n=$(nproc); threads=4; t=8
  while [ "$t" -le "$n" ]; do threads+=",$t"; t=$((t * 2)); done
fi
build=build/bench
if [ "$build_it" = 1 ]; then
  bash scripts/deps.sh build-essential cmake pkg-config libbenchmark-dev \
    libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev python3
  echo "== building obmt and the benchmarks (Release, $build)"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DOBMT_BUILD_BENCH=ON -DOBMT_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" >/dev/null
fi
. bench/peers.sh
allocs=(obmt glibc jemalloc mimalloc tcmalloc)
declare -A preload=()
if [ "$build_it" = 1 ]; then
  peers_table bench/scaling.sh "$PWD/$build/libobmt-override.so"
else
  libdir=${PEER_LIBDIR:-/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)}
  preload=([obmt]=$PWD/$build/libobmt-override.so [glibc]="" [jemalloc]=$libdir/libjemalloc.so.2
           [mimalloc]=$libdir/libmimalloc.so.2 [tcmalloc]=$libdir/libtcmalloc_minimal.so.4)
fi
for e in "${extra[@]}"; do
  name=${e%%=*}; lib=${e#*=}
  [ -e "$lib" ] || { echo "bench/scaling.sh: $lib not found" >&2; exit 1; }
  [ -n "${preload[$name]+x}" ] || allocs+=("$name")
  preload[$name]=$lib
done
if [ -n "$only" ]; then IFS=, read -r -a allocs <<<"$only"; fi
for a in "${allocs[@]}"; do
  [ -n "${preload[$a]+x}" ] || { echo "bench/scaling.sh: unknown allocator $a" >&2; exit 2; }
  # ld.so ignores a preload it cannot find, which would measure glibc under $a's name.
  [ -z "${preload[$a]}" ] || [ -e "${preload[$a]}" ] || { echo "bench/scaling.sh: $a: ${preload[$a]} not found" >&2; exit 1; }
done

# binary | filter (the thread counts come from OBMT_BENCH_THREADS)
jobs=(
  "bench_larson|^larson/[0-9]+/100000/"
  "bench_xmalloc|^xmalloc/(16|64)/"
  "bench_producer|^producer_(pairs|Nto1|1toN)/64/"
  "bench_server|^server(_local)?/1024/"
  "bench_falseshare|^falseshare_thrash/64/"
  "bench_memory|^memory_burst_remote/"
)
stamp=$(date -u +%Y%m%d-%H%M%S)
raw=$build/raw/scaling-$stamp
mkdir -p "$raw"
{
  if [ "$build_it" = 1 ]; then
    peers_meta
  else
    # A carried build: this machine's git and packages say nothing about it.
    echo "date=$(date -u +%Y-%m-%d)"
    echo "host=$(hostname)"
    echo "ncpu=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "kernel=$(uname -r)"
    echo "obmt=$build as found (--no-build)"
    echo "peer_libdir=${PEER_LIBDIR:-default}"
    echo "run_prefix=${RUN_PREFIX:-none}"
  fi
  echo "threads=$threads"
  echo "rounds=$rounds"
  echo "min_time=$min_time"
  for a in "${allocs[@]}"; do echo "lib_$a=${preload[$a]:-none}"; done
} > "$raw/meta.txt"
read -r -a prefix <<<"${RUN_PREFIX:-}"
echo "== $rounds rounds x ${#allocs[@]} allocators at threads $threads"
start=$SECONDS
for ((r = 1; r <= rounds; r++)); do
  for ((k = 0; k < ${#allocs[@]}; k++)); do
    a=${allocs[$(( (k + r) % ${#allocs[@]} ))]}
    for j in "${jobs[@]}"; do
      bin=${j%%|*}; flt=${j#*|}
      env OBMT_BENCH_THREADS="$threads" ${preload[$a]:+"LD_PRELOAD=${preload[$a]}"} \
        "${prefix[@]}" "$build/bench/$bin" --benchmark_filter="$flt" --benchmark_min_time="$min_time" \
        --benchmark_format=json > "$raw/$r-$a-$bin.json" 2>"$raw/$r-$a-$bin.err" || {
          echo "bench/scaling.sh: $bin failed under $a:"; tail -5 "$raw/$r-$a-$bin.err"; exit 1; }
      if grep -q 'cannot be preloaded' "$raw/$r-$a-$bin.err"; then
        echo "bench/scaling.sh: $bin ran without $a's library:"; cat "$raw/$r-$a-$bin.err"; exit 1
      fi
    done
    printf '\r  round %d/%d: %-12s %4d s' "$r" "$rounds" "$a" $((SECONDS - start))
  done
done
echo
[ -n "$out" ] || out=bench/results/scaling-$(date -u +%Y-%m-%d)-$(hostname).md
python3 bench/scaling_report.py "$raw" "$out" "${allocs[@]}"
echo "== $((SECONDS - start)) s; results: $out (raw: $raw)"
