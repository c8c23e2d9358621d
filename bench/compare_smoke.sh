#!/usr/bin/env bash
# compare_smoke.sh LIB DIR: bench/compare.sh on tiny commands (ctest
# bench_smoke_compare): obmt (LIB, not rebuilt) against glibc, one round.
# A program whose output is the same under both gets a table row each; one
# that fails is reported and not timed; one whose output differs is caught
# by --check-output.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lib=$1
dir=$2
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "compare_smoke: $*"; exit 1; }
run() { bash "$here/bench/compare.sh" --rounds 2 --allocators obmt,glibc --obmt-lib "$lib" "$@"; }

run --check-output --env OBMT_VERBOSE=0 --out "$dir/ok.md" -- sh -c 'seq 1000 | sort -r | head -1' >"$dir/ok.log" 2>&1 ||
  fail "the command that works: $(tail -5 "$dir/ok.log")"
grep -q '^| obmt | 2 of 2 |' "$dir/ok.md" && grep -q '^| glibc | 2 of 2 |' "$dir/ok.md" || fail "ok.md lacks its rows: $(cat "$dir/ok.md")"
grep -q 'with `OBMT_VERBOSE=0`' "$dir/ok.md" || fail "ok.md does not name the environment"
[ -s "$dir/ok.svg" ] || fail "no chart"

run --out "$dir/fails.md" -- sh -c 'exit 3' >"$dir/fails.log" 2>&1 && fail "every run failed, yet compare.sh succeeded"
grep -q 'exit status 3' "$dir/fails.md" || fail "fails.md does not report the exit status: $(cat "$dir/fails.md")"

# Differs between runs (a new time stamp each time): caught by --check-output.
run --check-output --out "$dir/differs.md" -- sh -c 'date +%s%N' >"$dir/differs.log" 2>&1 || true
grep -q 'output differs' "$dir/differs.md" || fail "differs.md does not report the differing output: $(cat "$dir/differs.md")"
echo "compare_smoke: ok"
