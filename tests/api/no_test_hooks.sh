#!/usr/bin/env bash
# no_test_hooks.sh LIB... TESTLIB: the test hook os_fail_commits (src/os.c)
# is in the obmt-test library only: none of the libraries users link or
# install (each LIB) defines it, and TESTLIB does (so the check can fail).
set -euo pipefail
has_hook() { local syms; syms=$(nm "$1" 2>/dev/null || true); grep -qw os_fail_commits <<<"$syms"; }
args=("$@")
test_lib=${args[-1]}
unset 'args[-1]'
has_hook "$test_lib" || { echo "no_test_hooks: $test_lib lacks the hook: the check cannot see it"; exit 1; }
for lib in "${args[@]}"; do
  if has_hook "$lib"; then echo "no_test_hooks: $lib carries the test hook os_fail_commits"; exit 1; fi
done
echo "no_test_hooks: ok (${#args[@]} libraries)"
