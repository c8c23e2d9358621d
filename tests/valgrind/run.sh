#!/usr/bin/env bash
# tests/valgrind/run.sh VALGRIND PRELOAD CASE PROGRAM [ARG...]
#
# Runs PROGRAM under memcheck, with PRELOAD (libobmt-override built with
# OBMT_VALGRIND=ON; "-" for none, when PROGRAM is linked with obmt), and checks
# memcheck's report: CASE leak, uaf, overrun, uaf_medium, overrun_medium or uninit must be reported
# (vg_faults.c), and clean must give no error and lose nothing.
#
# --soname-synonyms=somalloc=nouserintercepts: by default memcheck replaces
# malloc & co. in every library that exports them, libobmt-override
# included, and obmt would never run. With it, memcheck replaces them only
# in glibc and libstdc++: the program's malloc is obmt's, whose client
# requests describe its blocks, and what obmt passes on to glibc's
# __libc_malloc reaches memcheck's replacement (same address).
set -uo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 VALGRIND PRELOAD|- CASE PROGRAM [ARG...]" >&2
  exit 2
fi
vg=$1 preload=$2 case=$3
shift 3
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# A small reservation: memcheck shadows all of it, and with --track-origins
# the default 64 GiB costs it some 40 s.
export OBMT_RESERVE_MIB=1024

opts=(--tool=memcheck --soname-synonyms=somalloc=nouserintercepts --leak-check=full
  --error-exitcode=99)
[ "$case" = uninit ] && opts+=(--track-origins=yes)
if [ "$preload" = - ]; then
  "$vg" "${opts[@]}" "$@" >"$log" 2>&1
else
  LD_PRELOAD=$preload "$vg" "${opts[@]}" "$@" >"$log" 2>&1
fi
rc=$?

# What memcheck must say for each case (fixed strings, all of them; the
# function names as stack frames, where the faulty access is).
case $case in
  leak) want=("64 bytes in 1 blocks are definitely lost" "leak_block (vg_faults.c") ;;
  uaf) want=("Invalid read of size 1" "use_after_free (vg_faults.c" "is 10 bytes inside a block of size 64 free'd") ;;
  overrun) want=("Invalid read of size 1" "overrun (vg_faults.c" "is 0 bytes after a" "block of size 112 alloc'd") ;;
  uaf_medium) want=("Invalid read of size 1" "use_after_free_medium (vg_faults.c"
                    "is 10 bytes inside a block of size 65,536 free'd") ;;
  overrun_medium) want=("Invalid read of size 1" "overrun_medium (vg_faults.c" "is 0 bytes after a"
                        "block of size 65,536 alloc'd") ;;
  uninit) want=("Conditional jump or move depends on uninitialised value(s)" "uninit (vg_faults.c"
                "Uninitialised value was created by a heap allocation") ;;
  clean) want=("ERROR SUMMARY: 0 errors") ;;
  *) echo "run.sh: unknown case $case" >&2; exit 2 ;;
esac
fail=0
if [ "$case" = clean ]; then
  [ $rc -eq 0 ] || { echo "FAIL: exit status $rc, expected 0"; fail=1; }
  if grep -Eq "(definitely|indirectly|possibly) lost: [1-9]" "$log"; then
    echo "FAIL: memory lost"; fail=1
  fi
else
  [ $rc -eq 99 ] || { echo "FAIL: exit status $rc, expected memcheck's 99"; fail=1; }
  # Exactly the one fault: no error from obmt's own accesses on the way.
  grep -q "ERROR SUMMARY: 1 errors" "$log" || { echo "FAIL: expected exactly 1 error"; fail=1; }
fi
for w in "${want[@]}"; do
  grep -qF -- "$w" "$log" || { echo "FAIL: memcheck did not report: $w"; fail=1; }
done
if [ $fail -ne 0 ]; then
  echo "---- memcheck output ($case: $*)"
  cat "$log"
  exit 1
fi
echo "ok: $case: $*"
grep -E "Invalid|depends on|definitely lost in|ERROR SUMMARY" "$log" | sed 's/^==[0-9]*== /  /'
