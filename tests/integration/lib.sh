# tests/integration/lib.sh: sourced by each integration test (test_*.sh).
#
# Each test runs a real program under LD_PRELOAD of libobmt-override, checks
# the program's own results, and then checks obmt's statistics for every
# process it ran, to show that obmt served the program:
#
#   source "$(dirname "$0")/lib.sh"
#   integ_init "$@"                 # $1: path of libobmt-override.so
#   need sqlite3                    # missing program: skip, or fail in CI
#   obmt_run sqlite3 db.sqlite ...  # one command under obmt (with a timeout)
#   check_stats --min-lines 3       # at least 3 processes, pools taken, ...
#
# The statistics come from OBMT_STATS_FILE=$STATS: at exit each process
# appends one line of JSON ("pid", "pools_taken", "heaps_used_hwm",
# "remote_frees", "large_allocs", "bytes_*", "classes", ...), which
# check_stats.py reads.
#
# Environment:
#   OBMT_INTEGRATION_REQUIRED=1  a missing program fails the test instead of
#                                skipping it (tests/run.sh sets it: CI
#                                installs the programs)
#   OBMT_INTEG_TIMEOUT=S         limit for each command under obmt (120)
#   OBMT_INTEG_KEEP=1            keep the work directory even on success
set -euo pipefail

INTEG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=$(basename "$0" .sh)
# The Debian interpreter, not a pyenv shim: for the python workload, and for
# the checkers, which never run under LD_PRELOAD.
PY=/usr/bin/python3
SKIP_RC=77 # ctest SKIP_RETURN_CODE
T0=$(date +%s.%N)
BG_PIDS=()

say() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
fail() {
    printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

integ_cleanup() {
    local rc=$?
    local p
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP_RC" ]; then
            echo "[$TEST_NAME] work directory kept: $WORK" >&2
        elif [ "${OBMT_INTEG_KEEP:-0}" = 1 ]; then
            echo "[$TEST_NAME] work directory kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

# integ_init SO: check the library, make the work directory ($WORK, unique,
# removed at exit unless the test failed) and cd into it.
integ_init() {
    OBMT_SO=${1:-${OBMT_SO:-}}
    [ -n "$OBMT_SO" ] || fail "usage: $0 /path/to/libobmt-override.so"
    [ -f "$OBMT_SO" ] || fail "no such library: $OBMT_SO"
    OBMT_SO=$(readlink -f "$OBMT_SO") # absolute: the programs change directory
    [ -x "$PY" ] || fail "$PY is needed to check the statistics (package python3)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/obmt-$TEST_NAME.XXXXXX")
    trap integ_cleanup EXIT
    trap 'exit 130' INT TERM
    STATS=$WORK/obmt-stats.jsonl
    : >"$STATS"
    cd "$WORK"
    say "library $OBMT_SO, work directory $WORK"
}

# need PROG...: each must be on PATH (or an absolute path that exists).
need() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 && continue
        missing "program $p"
    done
}

# missing WHAT: skip the test, or fail it when OBMT_INTEGRATION_REQUIRED=1.
missing() {
    if [ "${OBMT_INTEGRATION_REQUIRED:-0}" = 1 ]; then
        fail "$1 is missing (OBMT_INTEGRATION_REQUIRED=1; see tests/integration/README.md for the packages)"
    fi
    say "SKIP: $1 is missing (see tests/integration/README.md for the packages)"
    exit "$SKIP_RC"
}

# obmt_run CMD...: run CMD under obmt, with statistics collected, bounded by
# OBMT_INTEG_TIMEOUT. Only CMD and its children run under obmt: `timeout`
# starts `env`, which sets LD_PRELOAD and execs CMD.
obmt_run() {
    local t=${OBMT_INTEG_TIMEOUT:-120} rc=0
    timeout -k 5 "$t" env LD_PRELOAD="$OBMT_SO" OBMT_STATS_FILE="$STATS" "$@" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "timed out after ${t}s under obmt: $*"
    fi
    return "$rc"
}

# obmt_env: the environment assignments of obmt_run, one a line, for a
# program started in the background (a server):
#   mapfile -t vars < <(obmt_env); env "${vars[@]}" prog ... &
obmt_env() {
    printf '%s\n' "LD_PRELOAD=$OBMT_SO" "OBMT_STATS_FILE=$STATS"
}

# check_stats [--min-lines N] [--min-heaps N] [--min-remote-frees N]
#             [--min-big N] [--max-large N] [--any-pools]
# The statistics of every process run under obmt so far: at least one line
# (N with --min-lines), every line well formed and its bytes adding up
# (check_stats.py says which sums), pools taken in every process
# (in at least one with --any-pools), the largest heaps_used_hwm at least
# --min-heaps, the sums of remote_frees and of medium_allocs + huge_allocs
# (requests above the pools' sizes, and small ones served without a heap,
# all by obmt) at least the minimum
# given, and no more than --max-large (default 0) requests passed to the
# underlying allocator. Prints a summary. (See stats_next for checking the
# processes of a test in groups.)
check_stats() {
    env -u LD_PRELOAD "$PY" "$INTEG_DIR/check_stats.py" --label "$TEST_NAME" "$@" "$STATS" ||
        fail "obmt's statistics do not show that it served the program"
}

# stats_next: start a new group of processes: check_stats from now on sees
# only the processes run after this call (the earlier statistics are kept
# in $WORK/obmt-stats-earlier.jsonl).
stats_next() {
    cat "$STATS" >>"$WORK/obmt-stats-earlier.jsonl"
    : >"$STATS"
}

# check_eq ACTUAL EXPECTED WHAT
check_eq() {
    [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
    say "ok: $3 = $1"
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    env -u LD_PRELOAD "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# integ_done: print the duration.
integ_done() {
    local t1
    t1=$(date +%s.%N)
    say "PASS in $(awk -v a="$T0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
}
