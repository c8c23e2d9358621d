#!/usr/bin/env bash
# bench/run.sh [--quick | --full] [--secure] [--out FILE]
#
# The comparison runner, obmt's main job. It
#  1. installs what is missing (Debian 12): the build tools, Google
#     Benchmark, and the peers: glibc (the system's), jemalloc, mimalloc and
#     tcmalloc, loaded with LD_PRELOAD; plus valgrind, gnuplot and GNU time;
#  2. builds obmt and the benchmark binaries (bench/bench_*.c);
#  3. runs every binary under every allocator, rotating the order of the
#     allocators each round so that none always runs first or last, for
#     3 rounds (--quick, under 2 minutes) or 5 (--full); bench_memory one
#     process per row (what a burst costs depends on what earlier rows left
#     in the process), the others one process per binary;
#  4. counts fast-path instructions per malloc, per free and per free of
#     another thread's block with callgrind;
#  5. writes bench/results/DATE-HOST.md (medians, ratios to obmt, peak RSS,
#     instruction counts, the cases where obmt is more than 1.25x slower
#     than the best peer) and one SVG chart per benchmark family in
#     bench/results/charts/;
#  6. with --quick, runs each of those cases again, longer (obmt and that
#     peer, 5 alternating rounds of 0.2 s: bench/recheck.py), and appends
#     which of them are still more than 1.25x behind.
# --secure adds obmt built with -DOBMT_SECURE=ON (column obmt_secure, in
# build/bench-secure), to measure what secure mode costs.
# RSS after a burst (memory given back, per allocator) is bench/rss.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=quick
secure=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --secure) secure=1 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/deps.sh build-essential cmake pkg-config libck-dev libbenchmark-dev \
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev valgrind gnuplot-nox time python3

echo "== building obmt and the benchmarks (Release)"
build=build/bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DOBMT_BUILD_BENCH=ON -DOBMT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
allocs=(obmt glibc jemalloc mimalloc tcmalloc)
. bench/peers.sh
peers_table bench/run.sh "$PWD/$build/libobmt-override.so"
if [ "$secure" = 1 ]; then
  echo "== building obmt in secure mode (build/bench-secure)"
  cmake -S . -B build/bench-secure -DCMAKE_BUILD_TYPE=Release -DOBMT_SECURE=ON -DOBMT_BUILD_TESTS=OFF >/dev/null
  cmake --build build/bench-secure --target obmt-override -j"$(nproc)" >/dev/null
  allocs=(obmt obmt_secure glibc jemalloc mimalloc tcmalloc)
  preload[obmt_secure]=$PWD/build/bench-secure/libobmt-override.so
fi

if [ "$mode" = quick ]; then
  reps=3; min_time=0.02
  # A representative subset: a few sizes, 1 and 4 threads.
  filter='^fastpath_[A-Za-z0-9_]+/(16|64|512)$|^obmt_lifo/64$|^fastpath_replace/(500|5000)$|^fastpath_replace_8k/20000$'
  filter+='|^(producer_[A-Za-z0-9_]+|falseshare_[A-Za-z0-9_]+)/64/real_time/threads:(1|4)$'
  filter+='|^server[A-Za-z0-9_]*/1024/real_time/threads:(1|4)$|^realloc_[A-Za-z0-9_]+/4096/real_time/threads:(1|4)$'
  filter+='|^churn_[A-Za-z0-9_]+/(1|8)/256/|^memory_[A-Za-z0-9_]+/iterations:3/real_time/threads:(1|4)$'
  filter+='|^larson/2/|^xmalloc/(16|64)/real_time/threads:(2|4)$'
  # Medium and huge blocks (issue 11), one thread.
  filter+='|^fastpath_[A-Za-z0-9_]+/(65536|1048576|16777216)$|^realloc_[A-Za-z0-9_]+/(65536|16777216)/real_time/threads:1$'
  filter+='|^memory_sized_(local|remote)/(1048576|16777216)/iterations:3/real_time/threads:1$|^large_loop/'
  filter+='|^fastpath_replace_medium/256$|^fastpath_replace_1m/32$|^fastpath_replace_medium_mt/256/'
else
  reps=5; min_time=0.1; filter='.'
fi

stamp=$(date -u +%Y%m%d-%H%M%S)
raw=$build/raw/$stamp
mkdir -p "$raw"
bins=("$build"/bench/bench_*)
total=$(( reps * ${#bins[@]} * ${#allocs[@]} ))
{
  echo "mode=$mode"
  echo "reps=$reps"
  echo "date=$(date -u +%Y-%m-%d)"
  echo "host=$(hostname)"
  echo "ncpu=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "command=bash bench/run.sh --$mode$([ "$secure" = 1 ] && echo ' --secure')"
  echo "peers=glibc $(dpkg-query -W -f='${Version}' libc6), jemalloc $(dpkg-query -W -f='${Version}' libjemalloc2), mimalloc $(dpkg-query -W -f='${Version}' libmimalloc2.0), tcmalloc $(dpkg-query -W -f='${Version}' libtcmalloc-minimal4) (Debian packages)"
} > "$raw/meta.txt"

echo "== running: ${#bins[@]} binaries x ${#allocs[@]} allocators x $reps rounds ($mode)"
n=0
start=$(date +%s)
for ((r = 1; r <= reps; r++)); do
  for bin in "${bins[@]}"; do
    name=$(basename "$bin")
    for ((k = 0; k < ${#allocs[@]}; k++)); do
      a=${allocs[$(( (k + r + ${#name}) % ${#allocs[@]} ))]} # rotate the order
      n=$((n + 1))
      printf '\r[%3d/%d] %4ds  round %d  %-18s %-9s' "$n" "$total" "$(( $(date +%s) - start ))" "$r" "$name" "$a"
      direct=0; [ "$a" = obmt ] && direct=1
      # bench_memory measures what a burst leaves resident, which depends on
      # what the rows before it left in the same process (tcmalloc keeps
      # and reuses it): one process per row there, as its header asks;
      # report.py takes the largest RSS of a round's processes.
      filters=("$filter"); suffix=("")
      if [ "$name" = bench_memory ]; then
        mapfile -t rows < <("$bin" --benchmark_list_tests --benchmark_filter="$filter" 2>/dev/null)
        filters=(); suffix=()
        for ((i = 0; i < ${#rows[@]}; i++)); do
          filters+=("^$(printf '%s' "${rows[$i]}" | sed 's/[][\\.*^$+?(){}|]/\\&/g')\$"); suffix+=("-$i")
        done
      fi
      for ((i = 0; i < ${#filters[@]}; i++)); do
        stem="$raw/$r-$name-$a${suffix[$i]}"
        env OBMT_BENCH_DIRECT=$direct ${preload[$a]:+LD_PRELOAD=${preload[$a]}} /usr/bin/time -f %M -o "$stem.rss" \
          "$bin" --benchmark_filter="${filters[$i]}" --benchmark_min_time="$min_time" \
          --benchmark_format=json --benchmark_out="$stem.json" --benchmark_out_format=json \
          >/dev/null 2>"$stem.err" || {
            echo; echo "bench/run.sh: $name failed under $a:"; tail -5 "$stem.err"; exit 1; }
      done
    done
  done
done
echo

echo "== fast-path instructions (callgrind)"
for a in "${allocs[@]}"; do
  for size in 16 64 256 512 65536; do
    declare -A ir=()
    for m in baseline malloc free remote; do
      env ${preload[$a]:+LD_PRELOAD=${preload[$a]}} valgrind --tool=callgrind --collect-atstart=no \
        --callgrind-out-file="$raw/cg.out" "$build/bench/instr_count" "$m" "$size" 20000 >/dev/null 2>&1
      ir[$m]=$(awk '/^summary:/ { print $2 }' "$raw/cg.out")
    done
    awk -v a="$a" -v s="$size" -v b="${ir[baseline]}" -v m="${ir[malloc]}" -v f="${ir[free]}" -v r="${ir[remote]}" \
      'BEGIN { printf "%s %s %.1f %.1f %.1f\n", a, s, (m - b) / 20000, (f - b) / 20000, (r - b) / 20000 }' >> "$raw/instr.tsv"
    printf '\r  %-9s size %-4s done' "$a" "$size"
  done
done
rm -f "$raw/cg.out"
echo

mkdir -p bench/results/charts
[ -n "$out" ] || out=bench/results/$(date -u +%Y-%m-%d)-$(hostname).md
python3 bench/report.py "$raw" "$out" bench/results/charts
if [ "$mode" = quick ]; then
  # One slow 0.02 s run can list a row: each listed row again, obmt against
  # the peer named, 5 alternating rounds of 0.2 s (bench/recheck.py).
  echo "== rechecking the shortfalls"
  libs=()
  for a in "${allocs[@]}"; do libs+=("$a=${preload[$a]:-}"); done
  python3 bench/recheck.py "$out" "$build/bench" 5 0.2 "${libs[@]}" >/dev/null
fi
echo "== $(( $(date +%s) - start )) s; results: $out"
sed -n '/^## Where obmt/,$p' "$out"
