#!/usr/bin/env bash
# bench/rss.sh [--reps N] [--jobs N] [--mib N] [--idle SECONDS] [--out FILE]
#
# RSS after a burst, side by side: obmt, glibc, jemalloc, mimalloc and
# tcmalloc (Debian 12 packages, loaded with LD_PRELOAD as bench/run.sh
# does; obmt through build/release/libobmt-override.so). It
#  1. installs what is missing (scripts/deps.sh);
#  2. builds rss_after_burst and obmt-override in build/release
#     (configured with -DOBMT_BUILD_BENCH=ON if it is not yet);
#  3. runs bench/rss_after_burst.c (see its header for the scenarios and
#     phases) under every allocator, N repetitions (default 3) interleaved,
#     the order of the allocators rotated each time:
#       - scenarios free, keep64, keep512 at 2 and 4 threads, the idle-time
#         activity on the main thread (the main matrix);
#       - the same three at 2 threads with the activity on the workers;
#       - obmt with OBMT_PURGE_DELAY_MS=0 as a reference, main matrix only;
#     each run is a fresh process; --jobs runs (default 4) go at once, which
#     overlaps their idle periods (RSS is per process; only the short bursts
#     compete for the CPUs);
#  4. writes bench/results/rss-after-burst-DATE.md: medians (MiB) per
#     scenario, threads, phase and allocator (bench/rss_report.py).
# About 4.5 minutes on 2 cores with the defaults (153 runs of about 6.5 s,
# mostly sleep, 4 at a time; 254 s measured).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=3
jobs=4
mib=256
idle=2
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --mib) mib=$2; shift ;;
    --idle) idle=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench/rss.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/deps.sh build-essential cmake pkg-config libck-dev libbenchmark-dev \
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev python3

. bench/peers.sh
peers_setup bench/rss.sh rss_after_burst
preload[obmt-delay0]=${preload[obmt]}
declare -A extra_env=([obmt-delay0]="OBMT_PURGE_DELAY_MS=0")

# The runs: "variant scenario threads allocators...".
peers="obmt glibc jemalloc mimalloc tcmalloc"
cases=()
for t in 2 4; do
  for s in free keep64 keep512; do
    cases+=("main $s $t $peers obmt-delay0")
  done
done
for s in free keep64 keep512; do
  cases+=("workers $s 2 $peers")
done

stamp=$(date -u +%Y%m%d-%H%M%S)
raw=$build/rss-raw/$stamp
mkdir -p "$raw"
{
  peers_meta
  echo "thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?')"
  echo "command=bash bench/rss.sh$([ "$reps" = 3 ] || echo " --reps $reps")$([ "$jobs" = 4 ] || echo " --jobs $jobs")$([ "$mib" = 256 ] || echo " --mib $mib")$([ "$idle" = 2 ] || echo " --idle $idle")"
  echo "reps=$reps"
  echo "jobs=$jobs"
  echo "mib=$mib"
  echo "idle=$idle"
} > "$raw/meta.txt"

# One run: its output goes to REP-ALLOC-VARIANT-SCENARIO-THREADS.txt; a
# failure leaves a .failed file (checked after the last run).
run_one() {
  local r=$1 a=$2 v=$3 s=$4 t=$5
  local f="$raw/$r-$a-$v-$s-$t"
  env ${preload[$a]:+LD_PRELOAD=${preload[$a]}} ${extra_env[$a]:-} "$bin" --scenario "$s" --threads "$t" \
    --mib "$mib" --idle "$idle" --activity-on "$v" >"$f.txt" 2>"$f.err" || echo "exit $?" >"$f.failed"
  return 0
}

total=0
for c in "${cases[@]}"; do set -- $c; total=$(( total + reps * ($# - 3) )); done
echo "== running: $total runs ($reps repetitions), $jobs at a time"
n=0
start=$(date +%s)
for ((r = 1; r <= reps; r++)); do
  ci=0
  for c in "${cases[@]}"; do
    set -- $c
    v=$1 s=$2 t=$3
    shift 3
    as=("$@")
    for ((k = 0; k < ${#as[@]}; k++)); do
      a=${as[$(( (k + r + ci) % ${#as[@]} ))]} # rotate the order
      while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
      n=$((n + 1))
      printf '\r[%3d/%d] %4ds  rep %d  %-7s %-7s %d threads  %-11s' "$n" "$total" \
        "$(( $(date +%s) - start ))" "$r" "$v" "$s" "$t" "$a"
      run_one "$r" "$a" "$v" "$s" "$t" &
    done
    ci=$((ci + 1))
  done
done
wait
echo
if ls "$raw"/*.failed >/dev/null 2>&1; then
  for f in "$raw"/*.failed; do
    echo "bench/rss.sh: $(basename "${f%.failed}") failed ($(cat "$f")):"; tail -5 "${f%.failed}.err"
  done
  exit 1
fi

[ -n "$out" ] || out=bench/results/rss-after-burst-$(date -u +%F).md
python3 bench/rss_report.py "$raw" "$out"
echo "== $(( $(date +%s) - start )) s; results: $out (raw: $raw)"
