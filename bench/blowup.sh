#!/usr/bin/env bash
# bench/blowup.sh [--reps N] [--threads "8 64 256 1024"] [--out FILE]
#
# Memory held beyond the live data when many threads free each other's
# blocks (issue 10), side by side: obmt, obmt with OBMT_BACKGROUND_THREAD=1,
# glibc, jemalloc, mimalloc and tcmalloc (Debian 12 packages, loaded with
# LD_PRELOAD; obmt through build/release/libobmt-override.so). It
#  1. installs what is missing (scripts/deps.sh);
#  2. builds blowup and obmt-override in build/release (configured with
#     -DOBMT_BUILD_BENCH=ON if it is not yet);
#  3. runs bench/blowup.c (see its header: T workers, 20,000 blocks of
#     1..8000 bytes each through 4,096 shared slots, then parked; RSS while
#     alive, after 2 s idle, after they exit) for every thread count and
#     allocator, N repetitions (default 3), one run at a time (ops/s is
#     measured too), the order of the allocators rotated each time; also
#     obmt and obmt-bg with --activity 0 (nothing allocates while the
#     workers are parked: only a background thread can give memory back);
#  4. writes bench/results/blowup-DATE.md (medians) and
#     bench/results/charts/blowup.svg (idle RSS against threads) through
#     bench/blowup_report.py.
# With the defaults about 15 minutes on 2 cores (the 1,024-thread runs take
# 20-40 s each); --threads "8 64 256" takes about 4.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=3
threads="8 64 256 1024"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift ;;
    --threads) threads=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench/blowup.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/deps.sh build-essential cmake pkg-config libck-dev libbenchmark-dev \
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev python3 gnuplot-nox

. bench/peers.sh
peers_setup bench/blowup.sh blowup
preload[obmt-bg]=${preload[obmt]}
declare -A extra_env=([obmt-bg]="OBMT_BACKGROUND_THREAD=1")

# The runs: "activity threads allocators...".
peers="obmt obmt-bg glibc jemalloc mimalloc tcmalloc"
cases=()
for t in $threads; do
  cases+=("10000 $t $peers")
done
for t in $threads; do
  [ "$t" -le 256 ] && cases+=("0 $t obmt obmt-bg")
done

stamp=$(date -u +%Y%m%d-%H%M%S)
raw=$build/blowup-raw/$stamp
mkdir -p "$raw"
{
  peers_meta
  echo "command=bash bench/blowup.sh$([ "$reps" = 3 ] || echo " --reps $reps")$([ "$threads" = "8 64 256 1024" ] || echo " --threads \"$threads\"")"
  echo "reps=$reps"
} > "$raw/meta.txt"

total=0
for c in "${cases[@]}"; do set -- $c; total=$(( total + reps * ($# - 2) )); done
echo "== running: $total runs ($reps repetitions), one at a time"
n=0
start=$(date +%s)
for ((r = 1; r <= reps; r++)); do
  for c in "${cases[@]}"; do
    set -- $c
    act=$1 t=$2
    shift 2
    allocs=("$@")
    k=${#allocs[@]}
    for ((i = 0; i < k; i++)); do
      a=${allocs[$(( (i + r - 1) % k ))]}
      f="$raw/$r-$a-$act-$t"
      env ${preload[$a]:+LD_PRELOAD=${preload[$a]}} ${extra_env[$a]:-} "$bin" --threads "$t" --activity "$act" \
        >"$f.txt" 2>"$f.err" || echo "exit $?" >"$f.failed"
      n=$((n + 1))
      printf '\r   %d/%d runs, %ds' "$n" "$total" "$(( $(date +%s) - start ))"
    done
  done
done
echo
if ls "$raw"/*.failed >/dev/null 2>&1; then
  echo "bench/blowup.sh: runs failed:" >&2
  for f in "$raw"/*.failed; do echo "  $(basename "$f" .failed): $(cat "$f")" >&2; tail -3 "${f%.failed}.err" >&2; done
  exit 1
fi
out=${out:-bench/results/blowup-$(date -u +%Y-%m-%d).md}
python3 bench/blowup_report.py "$raw" "$out" bench/results/charts
