#!/usr/bin/env bash
# run_spin.sh: model-check obmt's lock-free protocols with spin.
#
#   remote_free.pml    remote-free push, the owner's take, FULL hand-back,
#                      the reclaim pass purging emptied pools in place
#   pool_transfer.pml  pools to and from an arena: state word CAS with a
#                      generation, keep/decommit (and the claimed recommit of
#                      a decommitted, read-only arena), purge; with
#                      -DHUGE_OPS a huge claimer taking the wholly free arena
#                      whole (HUGE, or CLAIMED then committed), rolling the
#                      claim back, and giving it back (with its free stack,
#                      or decommitted in secure mode)
#   abandon_adopt.pml  thread exit (abandon, close `returned`) against
#                      remote frees, adoption, release, heap reuse, a
#                      freer that mallocs an adopted pool FULL again, and a
#                      reclaim pass holding pools of a heap that closes
#   lend.pml           lending an idle thread's heap: the owner's busy flag
#                      and tls_self.heap (every entry, free's fast path
#                      and its block stack included) against the reclaim
#                      pass's lend_try, the lender's flush of the block
#                      stack and its count/remote test and CAS on a pool,
#                      the entries that do without a lent heap,
#                      heap_get_slow and lend_open/lend_close with thread
#                      exit (its wait) and heap reuse, fork's prepare
#   shared.pml         the shared level: abandoned pools marked in per-class
#                      bitmaps (a bit per pool, a bit per arena) and taken
#                      and adopted by malloc's slow path, against remote
#                      freers adopting the same pools, other takers,
#                      re-abandonment, give-back and reuse for another class
#   huge_run.pml       runs of whole arenas for huge blocks: claims left to
#                      right with rollback, the frontier CAS of g_slots_used
#                      (and its return after failed commits), give-back,
#                      grow in place and shrink, against a pool taker (with
#                      arena_new_pool's fetch_add) and a decommitter
#   huge_cache.pml     the cache of freed huge runs
#   arena_bitmap.pml   the free-bitmap arena word of docs/plan-issue-11.md
#                      stage B (no generation), checked before its code:
#                      takes of one pool and of 2-runs, gives, kept,
#                      purge, decommit, recommit, a huge claim
#   span_arena.pml     medium blocks in span arenas: the free bitmap taken
#                      by CAS and given by fetch_or (no generation), the
#                      dirty bitmap, the g_span_avail and g_span_whole hint
#                      bits (clear, then re-read; the purge clears stale
#                      whole bits), the purge's partial purge and retirement, a
#                      maker, growth and shrink in place
#   reserve.pml        the address window mapped slot by slot: a slot's
#                      headers mapped, then committed_end moved over every
#                      ready slot (never past an unready one), HOLEs, the
#                      late ownership test of blocks above a gap, and (with
#                      -DRELEASE) a slot's memory unmapped by the purge and
#                      taken by somebody else's mapping
#   span_depot.pml     the span depot: chains of cached spans as ownership
#                      tokens in a class's words (CAS from 0, exchange,
#                      the purge's CAS), and the byte bound's reservation
#
# First check_mapping.sh (MAPPING.md against src/ and the models). Then, per
# model: exhaustive safety runs (pan -DSAFETY: assertions, invalid end
# states), a termination or liveness run with an LTL claim (pan -a, with weak
# fairness -f where the property needs it), and negative runs on a broken
# variant (-DBROKEN_..., -DNOGEN) that must FAIL, which shows that the checks
# can fail. The safety runs record which tagged steps they executed
# (-DCOVER): every step in MAPPING.md must be reached by some run, except the
# rows marked "not reached", which must not be.
#
# Fails (exit 1) on: an error (errors: N > 0, assertion violated, invalid end
# state, acceptance cycle) where a pass is expected; a negative run that does
# not find its violation; an incomplete search (max search depth too small,
# memory bound, vector size); a step not covered. Prints one line per run:
# states stored, transitions, depth, seconds (spin + cc + pan).
#
# Usage: run_spin.sh [-k] [-v] [-j N]
#   -k keep the work directory; -v print pan's output and the tagged steps
#   of each counterexample; -j N runs at once (default: the number of CPUs,
#   at most 2; each takes up to SPIN_MEMLIM MiB).
# Environment: SPIN, CC (default spin, gcc); SPIN_MEMLIM (MiB per pan run,
# default 2048). Works from any directory; builds in a temporary directory.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-gcc}
MEMLIM=${SPIN_MEMLIM:-2048}
keep=0
verbose=0
jobs=$(nproc 2>/dev/null || echo 1)
[ "$jobs" -gt 2 ] && jobs=2
while [ $# -gt 0 ]; do
    case "$1" in
        -k) keep=1 ;;
        -v) verbose=1 ;;
        -j) shift; jobs=${1:-1} ;;
        *) echo "usage: $0 [-k] [-v] [-j N]" >&2; exit 2 ;;
    esac
    shift
done

for tool in "$SPIN" "$CC"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run_spin: $tool not found" >&2
        exit 1
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/obmt-spin.XXXXXX")
if [ "$keep" = 1 ]; then
    echo "run_spin: work directory $work"
else
    trap 'rm -rf "$work"' EXIT
fi

# annotate_trail MODEL.pml < "spin -t -p" output: the tagged steps of a
# counterexample, one line each: "step  proc N (name)  TAG" (MAPPING.md says
# which code line each tag stands for). A tag applies to its line and, when
# that line opens a block ({ without its }), to the lines of the block.
annotate_trail() {
    awk -v PML="$1" '
        BEGIN {
            while ((getline l < PML) > 0) {
                n++
                t = ""
                if (match(l, /\/\* [RAXLSHKMWD][0-9]+ \*\//)) t = substr(l, RSTART + 3, RLENGTH - 6)
                if (t != "") tag[n] = t
                else if (depth > 0) tag[n] = cur
                o = gsub(/\{/, "{", l); c = gsub(/\}/, "}", l)
                if (depth == 0 && t != "" && o > c) { cur = t; depth = o - c }
                else if (depth > 0) { depth += o - c; if (depth <= 0) { depth = 0; cur = "" } }
            }
        }
        /START OF CYCLE/ { print "         <<<<< the cycle starts here >>>>>"; next }
        /proc +[0-9]+ \(/ {
            if (!match($0, /\.pml:[0-9]+/)) next
            ln = substr($0, RSTART + 5, RLENGTH - 5) + 0
            if (!(ln in tag)) next
            match($0, /proc +[0-9]+ \([^)]*\)/)
            who = substr($0, RSTART, RLENGTH)
            key = who " " tag[ln]
            if (key == last) next
            last = key
            printf "  %6s %-22s %s\n", $1, who, tag[ln]
        }'
}

# run_one NAME MODEL EXPECT SPINDEFS CCFLAGS PANFLAGS, in $work/NAME: writes
# `out` (the report), `status` (0 ok, 1 failed) and `covered` (tags reached).
#   EXPECT: pass, assert (an assertion violated) or cycle (acceptance cycle)
run_one() {
    local name=$1 model=$2 expect=$3 spindefs=$4 ccflags=$5 panflags=$6
    local d="$work/$name"
    local out="$d/out"
    echo 1 >"$d/status"
    cp "$here/$model" "$d/"
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    if ! (cd "$d" && "$SPIN" $spindefs -a "$model" >spin.log 2>&1); then
        { echo "FAIL $name: spin -a failed"; sed 's/^/    /' "$d/spin.log"; } >"$out"
        return
    fi
    # shellcheck disable=SC2086
    if ! (cd "$d" && "$CC" -w $ccflags -DCOLLAPSE -DMEMLIM="$MEMLIM" -o pan pan.c >cc.log 2>&1); then
        { echo "FAIL $name: $CC pan.c failed"; sed 's/^/    /' "$d/cc.log"; } >"$out"
        return
    fi
    # shellcheck disable=SC2086
    (cd "$d" && ./pan -m1000000 $panflags >pan.log 2>&1)
    local rc=$?
    t1=$(date +%s.%N)
    local log="$d/pan.log"
    local secs states trans depth errors what summary
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    states=$(awk '/states, stored/ { print $1; exit }' "$log")
    trans=$(awk '/transitions \(= / { print $1; exit }' "$log")
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$log" | head -1)
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$log" | head -1)
    what=$(grep -oE '^pan:[0-9]+: (assertion violated|invalid end state|acceptance cycle|non-progress cycle)' "$log" |
        sed 's/^pan:[0-9]*: //' | sort -u | paste -sd, -)
    summary="states=${states:-?} transitions=${trans:-?} depth=${depth:-?} ${secs}s"
    {
        [ "$verbose" = 1 ] && sed 's/^/    | /' "$log"
        if [ -z "$errors" ]; then
            echo "FAIL $name: no result from pan (exit $rc)"
            tail -5 "$log" | sed 's/^/    /'
            return
        fi
        case "$expect" in
            pass)
                if [ "$errors" != 0 ] || [ -n "$what" ] || [ "$rc" != 0 ]; then
                    echo "FAIL $name: errors: $errors${what:+ ($what)}, $summary"
                    grep -E '^pan:' "$log" | head -5 | sed 's/^/    /'
                    # shellcheck disable=SC2086
                    if (cd "$d" && "$SPIN" $spindefs -t -p "$model" >trail.txt 2>&1); then
                        echo "    counterexample, tagged steps (replay: cd $d && spin $spindefs -t -p $model; run with -k to keep it):"
                        annotate_trail "$d/$model" <"$d/trail.txt" | head -80
                    fi
                    return
                fi
                # (pan also says "Search not completed" when it stops at an
                # error, as the negative runs want: only here is it a failure)
                if grep -qE 'max search depth too small|reached -DMEMLIM bound|out of memory|Search not completed|VECTORSZ|aborting' "$log"; then
                    echo "FAIL $name: search incomplete ($summary)"
                    grep -E 'max search depth too small|MEMLIM|out of memory|Search not completed|VECTORSZ|aborting' "$log" | sed 's/^/    /'
                    return
                fi
                echo "ok   $name: errors: 0, $summary"
                ;;
            assert|cycle)
                local want="assertion violated"
                [ "$expect" = cycle ] && want="acceptance cycle"
                if [ "$errors" = 0 ] || ! grep -qE "^pan:[0-9]+: $want" "$log"; then
                    echo "FAIL $name: this broken variant must fail with: $want; got errors: $errors${what:+ ($what)}, $summary"
                    return
                fi
                echo "ok   $name: fails as it must: $(grep -m1 -E '^pan:[0-9]+:' "$log" | sed 's/^pan:[0-9]*: //'), $summary"
                # shellcheck disable=SC2086
                if (cd "$d" && "$SPIN" $spindefs -t -p "$model" >trail.txt 2>&1); then
                    annotate_trail "$d/$model" <"$d/trail.txt" >"$d/tagged.txt"
                    echo "     counterexample: $(wc -l <"$d/tagged.txt") tagged steps"
                    [ "$verbose" = 1 ] && cat "$d/tagged.txt"
                fi
                ;;
        esac
        sed -n 's/^COVERED://p' "$log" | tail -1 >"$d/covered"
        echo 0 >"$d/status"
    } >"$out" 2>&1
}

names=()
# run NAME MODEL EXPECT SPINDEFS CCFLAGS PANFLAGS: start it (at most $jobs at once)
run() {
    names+=("$1")
    mkdir -p "$work/$1"
    echo "$2" >"$work/$1/model"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    run_one "$@" &
}

failures=0
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

# check_coverage MODEL PREFIX: every row of MAPPING.md for PREFIX must have
# been reached by a run with -DCOVER, except those whose note says "not
# reached", which must not have been.
check_coverage() {
    local model=$1 prefix=$2 missing="" unexpected="" label num note covered=" " n
    for n in "${names[@]}"; do
        if [ "$(cat "$work/$n/model")" = "$model" ] && [ -s "$work/$n/covered" ]; then
            covered="$covered $(cat "$work/$n/covered") "
        fi
    done
    while IFS=$'\t' read -r label note; do
        num=${label#"$prefix"}
        if [[ "$note" == *"not reached"* ]]; then
            [[ "$covered" == *" $num "* ]] && unexpected="$unexpected $label"
        else
            [[ "$covered" == *" $num "* ]] || missing="$missing $label"
        fi
    done < <(awk -v P="$prefix" -F'|' '$2 ~ "^ *" P "[0-9]+ *$" { l = $2; gsub(/ /, "", l); print l "\t" $(NF-1) }' "$here/MAPPING.md")
    if [ -n "$missing" ]; then
        fail "$model: steps that no run reached:$missing"
    fi
    if [ -n "$unexpected" ]; then
        fail "$model: steps that MAPPING.md says are not reached were reached:$unexpected (update MAPPING.md)"
    fi
    if [ -z "$missing$unexpected" ]; then
        echo "ok   $model: every step in MAPPING.md reached (except those documented as not reached)"
    fi
}

start=$(date +%s)
echo "== mapping"
if ! bash "$here/check_mapping.sh" -q 2>&1; then
    fail "check_mapping.sh"
fi

# Model 1: remote_free.pml (remote-free push, FULL hand-back)
run rf-safety remote_free.pml pass "-DCOVER -DPASSES=0" "-O1 -DSAFETY" ""
run rf-safety-held2 remote_free.pml pass "-DCOVER -DMAXHELD=2 -DPASSES=0" "-O1 -DSAFETY" ""
run rf-reclaim remote_free.pml pass "-DCOVER -DPASSES=2 -DOPS=4" "-O1 -DSAFETY" ""
run rf-reclaim-held2 remote_free.pml pass "-DCOVER -DMAXHELD=2 -DOPS=4" "-O1 -DSAFETY" ""
run rf-term remote_free.pml pass "-DTERM -DOPS=4" "-O0" "-a"
run rf-live remote_free.pml pass "-DLIVE" "-O0" "-a -f"
run rf-broken-full remote_free.pml assert "-DBROKEN_FULL" "-O0 -DSAFETY" ""
run rf-broken-armed remote_free.pml assert "-DBROKEN_ARMED" "-O0 -DSAFETY" ""
run rf-broken-handback remote_free.pml cycle "-DLIVE -DBROKEN_HANDBACK" "-O0" "-a -f"
run rf-broken-reclaim remote_free.pml assert "-DBROKEN_RECLAIM -DOPS=4" "-O0 -DSAFETY" ""
# Model 2: pool_transfer.pml (arena state word, ABA, keep/decommit, purge)
run pt-safety-purge pool_transfer.pml pass "-DCOVER -DPURGES=1 -DOPS0=2 -DOPS1=3" "-O2 -DSAFETY" ""
run pt-safety pool_transfer.pml pass "-DCOVER -DPURGES=0 -DOPS0=3 -DOPS1=5" "-O1 -DSAFETY" ""
run pt-term pool_transfer.pml pass "-DTERM -DPURGES=1 -DOPS0=2 -DOPS1=2" "-O1" "-a"
run pt-nogen pool_transfer.pml assert "-DNOGEN -DPURGES=0" "-O0 -DSAFETY" ""
run pt-broken-recommit pool_transfer.pml assert "-DBROKEN_RECOMMIT -DPURGES=0" "-O0 -DSAFETY" ""
# ... with the huge claimer (HUGE bit, rollback, give-back)
run pt-huge pool_transfer.pml pass "-DCOVER -DHUGE_OPS=3 -DPURGES=0 -DOPS0=1 -DOPS1=2" "-O2 -DSAFETY" ""
run pt-huge-purge pool_transfer.pml pass "-DCOVER -DHUGE_OPS=2 -DPURGES=1 -DOPS0=0 -DOPS1=2" "-O2 -DSAFETY" ""
run pt-huge-term pool_transfer.pml pass "-DTERM -DHUGE_OPS=2 -DPURGES=1 -DOPS0=0 -DOPS1=2" "-O1" "-a"
# (-DKEEP=0: no KEPT arena, so that the first violation pan finds is the
# pool handed out twice, not the g_kept that the lost update also breaks)
run pt-broken-huge-store pool_transfer.pml assert "-DBROKEN_HUGE_CLAIM_STORE -DKEEP=0 -DHUGE_OPS=2 -DPURGES=0 -DOPS0=1 -DOPS1=2" "-O0 -DSAFETY" ""
run pt-broken-huge-virgin pool_transfer.pml assert "-DBROKEN_HUGE_GIVE_VIRGIN -DHUGE_OPS=2 -DPURGES=0 -DOPS0=1 -DOPS1=2" "-O0 -DSAFETY" ""
# g_kept never below the KEPT arenas (LTL), also across a rollback; the old
# order of run_unclaim_slot (KEPT stored back, then counted) must fail
run pt-kept-bound pool_transfer.pml pass "-DKEPT_BOUND -DHUGE_OPS=2 -DPURGES=0 -DOPS0=1 -DOPS1=2" "-O2" "-a"
run pt-broken-kept-order pool_transfer.pml assert "-DKEPT_BOUND -DBROKEN_KEPT_ORDER -DHUGE_OPS=2 -DPURGES=0 -DOPS0=1 -DOPS1=2" "-O0" "-a"
# Model 3: abandon_adopt.pml (thread exit, abandon/adopt, heap reuse)
run aa-safety abandon_adopt.pml pass "-DCOVER -DPASSES=0" "-O1 -DSAFETY" ""
run aa-safety-keep0 abandon_adopt.pml pass "-DCOVER -DKEEP=0 -DPASSES=0" "-O1 -DSAFETY" ""
run aa-safety-2pools abandon_adopt.pml pass "-DCOVER -DNP=2 -DNB=1 -DPASSES=0" "-O1 -DSAFETY" ""
run aa-safety-refill abandon_adopt.pml pass "-DCOVER -DREFILL -DPASSES=0" "-O2 -DSAFETY" ""
run aa-reclaim abandon_adopt.pml pass "-DCOVER -DOPS=3 -DMAXHELD=0" "-O1 -DSAFETY" ""
run aa-reclaim-held abandon_adopt.pml pass "-DCOVER -DOPS=2" "-O1 -DSAFETY" ""
run aa-term abandon_adopt.pml pass "-DTERM -DPASSES=0" "-O0" "-a"
run aa-term-reclaim abandon_adopt.pml pass "-DTERM -DOPS=2" "-O1" "-a"
run aa-broken-close abandon_adopt.pml assert "-DBROKEN_CLOSE -DPASSES=0" "-O0 -DSAFETY" ""
run aa-broken-abandon abandon_adopt.pml assert "-DBROKEN_ABANDON -DPASSES=0" "-O0 -DSAFETY" ""
run aa-broken-late abandon_adopt.pml assert "-DBROKEN_LATE -DOPS=3 -DMAXHELD=0" "-O0 -DSAFETY" ""
run aa-broken-exitorder abandon_adopt.pml assert "-DREFILL -DBROKEN_EXIT_ORDER -DPASSES=0" "-O0 -DSAFETY" ""
# Model 4: lend.pml (lending an idle heap: busy flag, tls_self.heap, lend_state)
run ln-safety lend.pml pass "-DCOVER -DPASSES=1" "-O1 -DSAFETY" ""
run ln-safety-1t lend.pml pass "-DCOVER -DNT=1 -DOPS=4 -DPASSES=3" "-O1 -DSAFETY" ""
run ln-collect lend.pml pass "-DCOVER -DCOLLECT_LENDS -DPASSES=1 -DFORKS=0" "-O1 -DSAFETY" ""
# (-DBCAP=0: no block stack, OPT_BLOCK_STACK 0: free's edge path, L85/L86)
run ln-safety-nostack lend.pml pass "-DCOVER -DBCAP=0 -DNT=1 -DOPS=4 -DPASSES=3" "-O1 -DSAFETY" ""
run ln-term lend.pml pass "-DTERM -DNO_HANDOFF -DOPS=2 -DPASSES=1 -DFORKS=0" "-O1" "-a -f"
run ln-term-fork lend.pml pass "-DTERM -DOPS=1 -DPASSES=1" "-O1" "-a -f"
run ln-term-collect lend.pml pass "-DTERM -DCOLLECT_LENDS -DOPS=2 -DPASSES=0 -DFORKS=0" "-O1" "-a -f"
run ln-term-1t lend.pml pass "-DTERM -DNT=1 -DOPS=3 -DPASSES=2" "-O1" "-a -f"
run ln-broken-nobusy lend.pml assert "-DBROKEN_NO_BUSY" "-O0 -DSAFETY" ""
run ln-broken-early lend.pml assert "-DBROKEN_LEAVE_EARLY" "-O0 -DSAFETY" ""
# (-DREVERSE: pan tries the lender first, so that the violation it reports
# is the lender's CAS on the dead thread's tls, not the end state's check)
run ln-broken-noclose lend.pml assert "-DBROKEN_NO_CLOSE -DNT=1" "-O0 -DSAFETY -DREVERSE" ""
run ln-broken-openfirst lend.pml assert "-DBROKEN_OPEN_FIRST" "-O0 -DSAFETY" ""
run ln-broken-fork lend.pml assert "-DBROKEN_FORK" "-O0 -DSAFETY" ""
run ln-broken-norestore lend.pml cycle "-DTERM -DBROKEN_NO_RESTORE -DNT=1 -DOPS=3" "-O0" "-a -f"
run ln-broken-nested lend.pml assert "-DBROKEN_NESTED" "-O0 -DSAFETY" ""
run ln-broken-nocount lend.pml assert "-DBROKEN_NO_COUNT_CHECK" "-O0 -DSAFETY" ""
run ln-broken-freenobusy lend.pml assert "-DBROKEN_FREE_NO_BUSY" "-O0 -DSAFETY" ""
# Model 5: shared.pml (the shared level: per-class bitmaps of abandoned pools)
run sh-safety shared.pml pass "-DCOVER" "-O1 -DSAFETY" ""
run sh-safety-nb2 shared.pml pass "-DCOVER -DNB0=2 -DOOPS=1 -DPOPS=1" "-O1 -DSAFETY" ""
run sh-safety-oops3 shared.pml pass "-DCOVER -DOOPS=3" "-O2 -DSAFETY" ""   # S33: ~40 s, 1 GB
run sh-term shared.pml pass "-DTERM -DOOPS=1" "-O1" "-a"
run sh-broken-markfirst shared.pml assert "-DBROKEN_MARK_FIRST" "-O0 -DSAFETY" ""
run sh-broken-lookfirst shared.pml assert "-DBROKEN_LOOK_FIRST" "-O0 -DSAFETY" ""
run sh-broken-norecheck shared.pml assert "-DBROKEN_NO_RECHECK" "-O0 -DSAFETY" ""
run sh-broken-loadearly shared.pml assert "-DBROKEN_LOAD_EARLY" "-O0 -DSAFETY" ""
# Model 6: huge_run.pml (runs of whole arenas: claim/rollback, frontier, grow)
run hr-safety huge_run.pml pass "-DCOVER -DSECURE=0 -DOPS0=2 -DOPS1=2" "-O2 -DSAFETY" ""
run hr-grow huge_run.pml pass "-DCOVER -DGROW=2 -DSECURE=0 -DOPS0=1 -DOPS1=3" "-O2 -DSAFETY" ""
run hr-pools huge_run.pml pass "-DCOVER -DSECURE=0 -DOPS0=1 -DOPS1=1 -DPOPS=2" "-O2 -DSAFETY" ""
run hr-grow-pools huge_run.pml pass "-DCOVER -DGROW=2 -DSECURE=0 -DOPS0=0 -DOPS1=2 -DPOPS=2" "-O2 -DSAFETY" ""   # a grow's failed fresh commits against new arenas (frontier_return's UNUSABLE branch)
run hr-aligned huge_run.pml pass "-DCOVER -DALIGNED -DSECURE=0 -DOPS0=2 -DOPS1=2 -DPOPS=1" "-O2 -DSAFETY" ""
run hr-secure huge_run.pml pass "-DCOVER -DSECURE=1 -DOPS0=2 -DOPS1=1" "-O2 -DSAFETY" ""
run hr-term huge_run.pml pass "-DTERM -DGROW=2 -DSECURE=0 -DOPS0=1 -DOPS1=2" "-O1" "-a"
run hr-broken-norollback huge_run.pml assert "-DBROKEN_NO_ROLLBACK" "-O0 -DSAFETY" ""
run hr-broken-frontier huge_run.pml assert "-DBROKEN_FRONTIER_STORE" "-O0 -DSAFETY" ""
run hr-broken-claimstore huge_run.pml assert "-DBROKEN_CLAIM_LOAD_STORE" "-O0 -DSAFETY" ""
run hr-broken-frontier-return huge_run.pml assert "-DBROKEN_FRONTIER_RETURN -DSECURE=0 -DOPS0=1 -DOPS1=1 -DPOPS=2" "-O0 -DSAFETY" ""
# Model 7: huge_cache.pml (the cache of freed huge runs: ownership tokens)
run hc-safety huge_cache.pml pass "-DCOVER" "-O2 -DSAFETY" ""
run hc-safety-1word huge_cache.pml pass "-DCOVER -DCACHE=1" "-O2 -DSAFETY" ""
run hc-broken-take huge_cache.pml assert "-DBROKEN_TAKE_LOAD_STORE" "-O0 -DSAFETY" ""
run hc-broken-purge huge_cache.pml assert "-DBROKEN_PURGE_STORE" "-O0 -DSAFETY" ""
# Model 8: arena_bitmap.pml (docs/plan-issue-11.md stage B: the free-bitmap
# arena word, checked before its code; no tags until src/arena.c uses it)
run ab-workers arena_bitmap.pml pass "-DOPS=2 -DPURGES=1 -DHOPS=0" "-O2 -DSAFETY" ""   # ~30 s, 0.9 GB
run ab-huge arena_bitmap.pml pass "-DOPS=2 -DPURGES=0 -DHOPS=2" "-O2 -DSAFETY" ""
run ab-one arena_bitmap.pml pass "-DNW=1 -DOPS=4 -DPURGES=1 -DHOPS=2" "-O2 -DSAFETY" ""
run ab-broken-givestore arena_bitmap.pml assert "-DBROKEN_GIVE_STORE -DOPS=2 -DPURGES=1 -DHOPS=0" "-O0 -DSAFETY" ""
run ab-broken-noclaim arena_bitmap.pml assert "-DBROKEN_DECOMMIT_NOCLAIM -DOPS=2 -DPURGES=1 -DHOPS=0" "-O0 -DSAFETY" ""
run ab-broken-norecheck arena_bitmap.pml assert "-DBROKEN_KEPT_NORECHECK -DOPS=2 -DPURGES=1 -DHOPS=0" "-O0 -DSAFETY" ""
run ab-broken-dfirst arena_bitmap.pml assert "-DBROKEN_PURGE_CLEAR_D_FIRST -DOPS=2 -DPURGES=1 -DHOPS=0" "-O0 -DSAFETY" ""
# Model 9: span_arena.pml (span arenas: free bitmap F, dirty bitmap D, the
# g_span_avail and g_span_whole hints, purge and retirement, maker, growth
# and shrink)
# (the g_span_whole hint in every run but the largest: with it, 3
# operations a worker take 135 M states and 6 GB; without, 33 M and 1.5 GB.
# The hint only chooses arenas: the other steps are the same with it or not;
# and without the cache trim that gives a batch's middle span back, which
# the other runs reach the partial growth of grow_from_cache with)
run sa-ops3 span_arena.pml pass "-DCOVER -DOPS=3 -DPURGES=1 -DWHOLE=0 -DTRIM_MIDDLE=0" "-O2 -DSAFETY" ""   # ~60 s, 1.5 GB
run sa-purges2 span_arena.pml pass "-DCOVER -DOPS=2 -DPURGES=2" "-O2 -DSAFETY" ""
run sa-one span_arena.pml pass "-DCOVER -DNW=1 -DOPS=6 -DPURGES=3" "-O2 -DSAFETY" ""
run sa-broken-givestore span_arena.pml assert "-DBROKEN_GIVE_STORE -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
run sa-broken-retirestore span_arena.pml assert "-DBROKEN_RETIRE_LOAD_STORE -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
run sa-broken-norecheck span_arena.pml assert "-DBROKEN_CLEAR_NORECHECK -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
run sa-broken-dfirst span_arena.pml assert "-DBROKEN_PURGE_CLEAR_D_FIRST -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
run sa-broken-takestore span_arena.pml assert "-DBROKEN_TAKE_LOAD_STORE -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
run sa-broken-convert span_arena.pml assert "-DBROKEN_CONVERT_LOAD_STORE -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
run sa-broken-growcached span_arena.pml assert "-DBROKEN_GROW_CACHED_ALL -DNW=1 -DOPS=4 -DPURGES=1" "-O0 -DSAFETY" ""
run sa-broken-wholenorecheck span_arena.pml assert "-DBROKEN_WHOLE_NORECHECK -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
# (the store-buffering reordering that a relaxed load in avail_set allows:
# the hint bit lost; sequential consistency, as spin has, rules it out)
run sa-weak-availset span_arena.pml assert "-DWEAK_AVAIL_SET -DOPS=2 -DPURGES=2" "-O0 -DSAFETY" ""
# Model 10: reserve.pml (the window mapped slot by slot: headers, the
# committed_end advance over ready slots, HOLEs, the late ownership test)
run rs-safety reserve.pml pass "-DCOVER" "-O2 -DSAFETY" ""
run rs-hole0 reserve.pml pass "-DCOVER -DFOREIGN=0" "-O2 -DSAFETY" ""
run rs-release reserve.pml pass "-DCOVER -DRELEASE -DNT=2" "-O2 -DSAFETY" ""
run rs-release-hole0 reserve.pml pass "-DCOVER -DRELEASE -DNT=2 -DFOREIGN=0" "-O2 -DSAFETY" ""
run rs-broken-extendmax reserve.pml assert "-DBROKEN_EXTEND_MAX" "-O0 -DSAFETY" ""
run rs-broken-advancefirst reserve.pml assert "-DBROKEN_ADVANCE_FIRST" "-O0 -DSAFETY" ""
run rs-broken-nolate reserve.pml assert "-DBROKEN_NO_LATE" "-O0 -DSAFETY" ""
run rs-broken-unmapfirst reserve.pml assert "-DRELEASE -DNT=2 -DBROKEN_UNMAP_FIRST" "-O0 -DSAFETY" ""
# Model 11: span_depot.pml (the span depot: chains as ownership tokens in a
# class's words, the byte bound)
run sd-safety span_depot.pml pass "-DCOVER" "-O2 -DSAFETY" ""
run sd-safety-1word span_depot.pml pass "-DCOVER -DSLOTS=1" "-O2 -DSAFETY" ""
run sd-broken-take span_depot.pml assert "-DBROKEN_TAKE_LOAD_STORE" "-O0 -DSAFETY" ""
run sd-broken-reserve span_depot.pml assert "-DBROKEN_RESERVE_LATE" "-O0 -DSAFETY" ""
run sd-broken-takebytes span_depot.pml assert "-DBROKEN_TAKE_BYTES_FIRST" "-O0 -DSAFETY" ""
wait

last=""
for n in "${names[@]}"; do
    m=$(cat "$work/$n/model")
    if [ "$m" != "$last" ]; then
        echo "== $m"
        last=$m
    fi
    if [ -f "$work/$n/out" ]; then
        cat "$work/$n/out"
    else
        echo "FAIL $n: no report"
    fi
    [ "$(cat "$work/$n/status" 2>/dev/null)" = 0 ] || failures=$((failures + 1))
done
echo "== coverage of the steps in MAPPING.md"
check_coverage remote_free.pml R
check_coverage pool_transfer.pml A
check_coverage abandon_adopt.pml X
check_coverage lend.pml L
check_coverage shared.pml S
check_coverage huge_run.pml H
check_coverage huge_cache.pml K
check_coverage span_arena.pml M
check_coverage reserve.pml W
check_coverage span_depot.pml D

echo "== $(($(date +%s) - start))s in all, $jobs at a time"
if [ "$failures" != 0 ]; then
    echo "run_spin: $failures FAILED"
    exit 1
fi
echo "run_spin: all model checks passed"
