#!/usr/bin/env bash
# tests/run.sh: the whole test suite, as a new user (and CI) runs it.
#  1. installs the build dependencies that are missing (Debian 12);
#  2. builds obmt (RelWithDebInfo) and runs every ctest: unit, api (direct
#     and under LD_PRELOAD), mt (multi-thread), install, and every benchmark
#     once at a tiny time (bench);
#  2b. builds with -DOBMT_VALGRIND=ON and runs the valgrind tests: memcheck
#     must report deliberate leaks, reads after free, overruns and
#     uninitialised reads in obmt's blocks, and no error in clean programs;
#  3. builds again with -fsanitize=thread (clang) and runs the unit, api and
#     multi-thread tests through the obmt_* API; any ThreadSanitizer report
#     fails the test that produced it;
#  4. builds with AddressSanitizer and with UBSan and runs the unit and API
#     tests in each;
#  5. runs every stress program for 10 s with 4 threads under ThreadSanitizer
#     (stress/run.sh; the seed is printed, to replay a failure), and for 5 s
#     in the default build, the only one whose address window is mapped on
#     demand (sanitizers' shadow memory makes them reserve it: src/window.c);
#  6. runs the libFuzzer target for 60 s under AddressSanitizer;
#  7. secure mode (-DOBMT_SECURE=ON): the unit tests that do not depend on
#     the default pool layout and unit_secure, the api and multi-thread
#     tests, every stress program for 5 s (no sanitizer), and the
#     libFuzzer target for 30 s.
# The release ctest includes the integration tests (real programs under
# LD_PRELOAD; here a missing program is a failure, not a skip) and the spin
# model checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build-essential cmake pkg-config clang libclang-rt-14-dev \
  libck-dev libbenchmark-dev spin valgrind \
  python3 libpython3.11-testsuite sqlite3 git xz-utils redis-server gnuplot-nox time
export OBMT_INTEGRATION_REQUIRED=1
jobs=$(nproc)

echo "== release build"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOBMT_BUILD_TESTS=ON \
  -DOBMT_BUILD_BENCH=ON >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== valgrind build (OBMT_VALGRIND=ON): memcheck sees obmt's blocks"
cmake -S . -B build/valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOBMT_VALGRIND=ON -DOBMT_BUILD_TESTS=ON >/dev/null
cmake --build build/valgrind -j"$jobs"
ctest --test-dir build/valgrind --output-on-failure -j"$jobs" -L valgrind

echo "== ThreadSanitizer build"
CC=clang CXX=clang++ cmake -S . -B build/tsan -DOBMT_SANITIZE=thread -DOBMT_BUILD_TESTS=ON >/dev/null
cmake --build build/tsan -j"$jobs"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
ctest --test-dir build/tsan --output-on-failure -L 'unit|api|mt'

for san in address undefined; do
  echo "== ${san} sanitizer build: unit and API tests"
  CC=clang CXX=clang++ cmake -S . -B "build/$san" -DOBMT_SANITIZE="$san" -DOBMT_BUILD_TESTS=ON >/dev/null
  cmake --build "build/$san" -j"$jobs"
  ctest --test-dir "build/$san" --output-on-failure -L 'unit|api'
done

echo "== stress programs under ThreadSanitizer"
bash stress/run.sh thread 10 4
echo "== stress programs, default build (the window mapped on demand)"
bash stress/run.sh none 5 4

echo "== libFuzzer: fuzz_alloc for 60 s under AddressSanitizer"
bash tests/fuzz/run.sh 60

echo "== secure mode (OBMT_SECURE=ON): tests, stress programs, fuzzing"
cmake -S . -B build/secure -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOBMT_SECURE=ON -DOBMT_BUILD_TESTS=ON >/dev/null
cmake --build build/secure -j"$jobs"
ctest --test-dir build/secure --output-on-failure -j"$jobs" -L 'secure|api|mt'
OBMT_SECURE=1 bash stress/run.sh none 5 4
OBMT_SECURE=1 bash tests/fuzz/run.sh 30
