# bench/peers.sh: sourced by the scripts that compare allocators
# (bench/run.sh, bench/rss.sh, bench/blowup.sh, bench/compare.sh), after
# `set -euo pipefail`.
#
# peers_table NAME OBMT_LIB [ALLOC...]: sets `preload`, an associative array
# allocator -> the library to LD_PRELOAD (obmt: OBMT_LIB; glibc: none;
# jemalloc, mimalloc, tcmalloc: the Debian 12 packages), and fails (naming
# NAME) if one of ALLOC (default: all five) is missing.
#
# peers_setup NAME TARGET: builds TARGET and obmt-override in build/release
# (configured with -DOBMT_BUILD_BENCH=ON if it is not yet) and sets
#   build    build/release
#   bin      the TARGET binary
#   preload  an associative array: allocator -> the library to LD_PRELOAD
#            (obmt, glibc = none, jemalloc, mimalloc, tcmalloc: Debian 12
#            packages); fails if one is missing. Callers add variants of
#            obmt (same library, other options) with extra_env.
# peers_meta: prints the key=value lines every report starts with (date,
# host, CPUs, kernel, obmt's commit and build type, whether src/ was
# committed, the peers' package versions).
peers_setup() {
  local name=$1 target=$2
  echo "== building $target and obmt-override (build/release)"
  build=build/release
  if ! grep -qs '^OBMT_BUILD_BENCH:BOOL=ON' "$build/CMakeCache.txt"; then
    cmake -S . -B "$build" -DOBMT_BUILD_BENCH=ON >/dev/null
  fi
  cmake --build "$build" --target "$target" obmt-override -j"$(nproc)" >/dev/null
  bin=$build/bench/$target
  peers_table "$name" "$PWD/$build/libobmt-override.so"
}

peers_table() {
  local name=$1 obmt_lib=$2
  shift 2
  local libdir
  libdir=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
  declare -gA preload=(
    [obmt]=$obmt_lib
    [glibc]=""
    [jemalloc]=$libdir/libjemalloc.so.2
    [mimalloc]=$libdir/libmimalloc.so.2
    [tcmalloc]=$libdir/libtcmalloc_minimal.so.4
  )
  local list=("$@") a p
  [ $# -gt 0 ] || list=(obmt glibc jemalloc mimalloc tcmalloc)
  for a in "${list[@]}"; do
    p=${preload[$a]}
    if [ -n "$p" ] && [ ! -e "$p" ]; then echo "$name: $a not found at $p" >&2; exit 1; fi
  done
}

peers_meta() {
  echo "date=$(date -u +%Y-%m-%d)"
  echo "host=$(hostname)"
  echo "ncpu=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "kernel=$(uname -r)"
  echo "obmt=$(git describe --always --dirty 2>/dev/null || echo '?') ($(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2) build)"
  if git diff --quiet HEAD -- src include 2>/dev/null; then
    echo "obmt_src=src/ and include/ as committed"
  else
    echo "obmt_src=built from a working tree with uncommitted changes in src/ or include/ (diff sha1 $(git diff HEAD -- src include | sha1sum | cut -c1-12))"
  fi
  echo "peers=glibc $(dpkg-query -W -f='${Version}' libc6), jemalloc $(dpkg-query -W -f='${Version}' libjemalloc2), mimalloc $(dpkg-query -W -f='${Version}' libmimalloc2.0), tcmalloc $(dpkg-query -W -f='${Version}' libtcmalloc-minimal4) (Debian packages)"
}
