#!/usr/bin/env bash
# bench/address_space.sh [--limit-mib N] [--out FILE]
#
# What each allocator leaves of an address-space limit (RLIMIT_AS) to the
# program, side by side: obmt (build/release/libobmt-override.so), obmt in
# legacy mode (OBMT_RESERVE_EAGER=1: the whole window reserved at start-up),
# glibc, jemalloc, mimalloc and tcmalloc (Debian 12 packages). Builds
# bench/address_space.c, runs it once per allocator under `ulimit -v`
# (default 1 GiB), and prints a markdown table (to FILE with --out). The
# columns are the keys of address_space.c's header. Seconds in all.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=1024
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --limit-mib) limit=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--limit-mib N] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
bash scripts/deps.sh build-essential cmake pkg-config libck-dev libbenchmark-dev \
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev >/dev/null
source bench/peers.sh
peers_setup address_space address_space >/dev/null
{
  echo "RLIMIT_AS $limit MiB (\`bash bench/address_space.sh --limit-mib $limit\`), obmt at $(git rev-parse --short HEAD)"
  echo
  echo "| allocator | threads after the limit is lowered to 200 MiB | VmSize at start (MiB) | largest malloc (MiB) | 90% after 80% freed | VmSize after (MiB) |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for a in obmt obmt-eager glibc jemalloc mimalloc tcmalloc; do
    lib=${preload[${a%-eager}]}
    env=()
    [ "$a" = obmt-eager ] && env=(OBMT_RESERVE_EAGER=1)
    line=$( (ulimit -v $((limit * 1024)); env "${env[@]}" LD_PRELOAD="$lib" "$bin") || echo "failed")
    eval "$(echo "$line" | tr ' ' '\n' | grep '=' || true)"
    echo "| $a | ${threads_low:-?}/8 | ${vm_start:-?} | ${largest:-?} | $([ "${reuse:-0}" = 1 ] && echo yes || echo no) | ${vm_after:-?} |"
    unset threads_low vm_start largest reuse vm_after
  done
} | tee ${out:+"$out"}
