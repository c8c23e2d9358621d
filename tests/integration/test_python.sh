#!/usr/bin/env bash
# test_python.sh LIB: CPython under obmt, with PYTHONMALLOC=malloc so that
# every object goes through malloc.
#  1. py_workload.py (dicts, lists, strings, objects, sets, bytes above
#     8 KiB, JSON, threads passing objects to each other): its own checks
#     pass, and its output equals that of a run on glibc's malloc;
#  2. part of CPython's own test suite (package libpython3.X-testsuite),
#     modules that take a few seconds in all, some of them multi-threaded.
# obmt must have served every interpreter process (the test suite starts
# some), threads included, with blocks freed by threads other than their
# maker (remote frees).
source "$(dirname "$0")/lib.sh"
integ_init "$@"
need "$PY"
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

say "py_workload.py on glibc's malloc, then under obmt"
env -u LD_PRELOAD "$PY" "$INTEG_DIR/py_workload.py" >glibc.out || fail "py_workload.py fails on glibc's malloc"
obmt_run "$PY" "$INTEG_DIR/py_workload.py" >obmt.out || fail "py_workload.py fails under obmt (rc $?): $(tail -n 5 obmt.out)"
grep -qx "ALL OK" obmt.out || fail "py_workload.py under obmt did not finish: $(tail -n 5 obmt.out)"
cmp -s glibc.out obmt.out || fail "py_workload.py prints different results under obmt: $(diff glibc.out obmt.out | head -n 20)"
say "ok: py_workload.py, $(wc -l <obmt.out) result lines equal to glibc's"
# Its 7 threads were served (thread caches) and freed each other's objects.
check_stats --min-lines 1 --min-heaps 4 --min-remote-frees 1000 --min-big 100
stats_next

# The test suite: about 8 s of containers, strings, objects, garbage
# collection and threads. (Not test_io, test_threading, test_queue,
# test_weakref, test_pickle, test_itertools, ...: correct under obmt, but
# slower.)
modules=(test_dict test_list test_tuple test_set test_unicode test_bytes test_json test_re
    test_collections test_deque test_ordered_dict test_sort test_heapq test_functools
    test_class test_gc test_thread test_threading_local test_memoryview test_struct)
if ! env -u LD_PRELOAD "$PY" -c 'import test.test_dict' 2>/dev/null; then
    missing "CPython's test suite ($(env -u LD_PRELOAD "$PY" -c 'import sys; print("package libpython%d.%d-testsuite" % sys.version_info[:2])'))"
fi
say "python3 -m test: ${#modules[@]} modules under obmt"
obmt_run "$PY" -m test --timeout 120 "${modules[@]}" >regrtest.out 2>&1 ||
    fail "CPython's test suite fails under obmt (rc $?):
$(grep -vE '^\[ *[0-9]+/[0-9]+\]' regrtest.out | tail -n 30)"
grep -q "Tests result: SUCCESS" regrtest.out || fail "no 'Tests result: SUCCESS' in the test suite's output"
say "ok: $(grep -E '^(All )?[0-9]+ tests? OK' regrtest.out | head -n 1)"

# The test suite's interpreters (some tests start more) each took pools.
check_stats --min-lines 1
integ_done
