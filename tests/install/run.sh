#!/usr/bin/env bash
# Install test for obmt (ctest "install_downstream"): install the build tree
# into a fresh prefix, then build downstream/main.c against it three ways
# (find_package + obmt::obmt, find_package + obmt::static, pkg-config) and
# run each. Usage: run.sh SOURCE_DIR BUILD_DIR SCRATCH_DIR C_COMPILER
# Env (optional): CMAKE, PKG_CONFIG, OBMT_LIBDIR (CMAKE_INSTALL_LIBDIR;
# read from BUILD_DIR/CMakeCache.txt when unset).
set -euo pipefail

die() { echo "run.sh: FAILED: $*" >&2; exit 1; }
trap 'echo "run.sh: FAILED at line $LINENO (exit $?)" >&2' ERR
run() { echo "+ $*"; "$@"; }

[ $# -eq 4 ] || die "usage: $0 SOURCE_DIR BUILD_DIR SCRATCH_DIR C_COMPILER"
src=$(cd "$1" && pwd -P)
build=$(cd "$2" && pwd -P)
scratch=$3
cc=$4
cmake=${CMAKE:-cmake}
pkgconfig=${PKG_CONFIG:-pkg-config}
libdir=${OBMT_LIBDIR:-$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")}
[ -n "$libdir" ] || die "cannot tell CMAKE_INSTALL_LIBDIR"

# The scratch dir is wiped, so insist that it lies inside the build tree.
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd -P)
case "$scratch/" in "$build"/?*) ;; *) die "scratch dir $scratch is not under $build" ;; esac
prefix=$scratch/prefix
echo "== cleaning $scratch"
rm -rf "$prefix" "$scratch/downstream-build" "$scratch/pkgconfig-bin"

echo "== 1. installing $build into $prefix"
run "$cmake" --install "$build" --prefix "$prefix"
for f in "include/obmt.h" "$libdir/libobmt.so" "$libdir/libobmt.a" \
         "$libdir/libobmt-override.so" "$libdir/cmake/obmt/obmtConfig.cmake" \
         "$libdir/pkgconfig/obmt.pc"; do
  [ -e "$prefix/$f" ] || die "not installed: $prefix/$f"
done

echo "== 2. building downstream project with find_package(obmt)"
run "$cmake" -S "$src/tests/install/downstream" -B "$scratch/downstream-build" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix"
found=$(sed -n 's/^obmt_DIR:[A-Z]*=//p' "$scratch/downstream-build/CMakeCache.txt")
[ "$found" = "$prefix/$libdir/cmake/obmt" ] || die "find_package used $found, not the test prefix"
run "$cmake" --build "$scratch/downstream-build"

echo "== 3. running the CMake-built executables"
shared_exe=$scratch/downstream-build/use_shared
static_exe=$scratch/downstream-build/use_static
run "$shared_exe"
run "$static_exe"
# use_shared must load the installed libobmt.so; use_static must not need it.
# (ldd output captured first: grep -q closing the pipe early trips pipefail.)
deps=$(ldd "$shared_exe"); echo "$deps"
grep -qF "$prefix/$libdir/libobmt.so" <<<"$deps" || die "use_shared does not load $prefix/$libdir/libobmt.so"
deps=$(ldd "$static_exe")
if grep -q 'libobmt' <<<"$deps"; then die "use_static links libobmt dynamically"; fi

echo "== 4. building with pkg-config"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# obmt.pc derives its prefix from its own location: it must name this prefix.
pc_prefix=$("$pkgconfig" --variable=prefix obmt)
if [ "$(cd "$pc_prefix" 2>/dev/null && pwd -P)" != "$(cd "$prefix" && pwd -P)" ]; then
  die "obmt.pc says prefix=$pc_prefix, not $prefix (not relocatable)"
fi
flags=$("$pkgconfig" --cflags --libs obmt)
echo "pkg-config --cflags --libs obmt: $flags"
mkdir -p "$scratch/pkgconfig-bin"
pc_exe=$scratch/pkgconfig-bin/use_pkgconfig
# shellcheck disable=SC2086  # $flags must split into words
run "$cc" -std=c11 -o "$pc_exe" "$src/tests/install/downstream/main.c" $flags

echo "== 5. running the pkg-config executable"
export LD_LIBRARY_PATH=$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
run "$pc_exe"
deps=$(ldd "$pc_exe"); echo "$deps"
grep -qF "$prefix/$libdir/libobmt.so" <<<"$deps" || die "use_pkgconfig does not load $prefix/$libdir/libobmt.so"

echo "== install_downstream: all passed"
