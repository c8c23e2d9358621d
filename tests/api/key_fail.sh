#!/usr/bin/env bash
# key_fail.sh SHIM OVERRIDE PROGRAM: run PROGRAM with every pthread_key_create
# failing (SHIM preloaded first) under libobmt-override; it must pass and
# obmt must say, under OBMT_VERBOSE=1, that it hands everything over.
set -euo pipefail
err=$(mktemp)
trap 'rm -f "$err"' EXIT
rc=0
LD_PRELOAD="$1 $2" OBMT_VERBOSE=1 "$3" 2>"$err" || rc=$?
cat "$err" >&2
[ "$rc" -eq 0 ] || { echo "key_fail: exit status $rc"; exit 1; }
grep -q "could not create its thread key" "$err" || { echo "key_fail: no message on stderr"; exit 1; }
echo "key_fail: ok"
