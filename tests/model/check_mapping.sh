#!/usr/bin/env bash
# check_mapping.sh: check tests/model/MAPPING.md against src/ and the models.
#
# For every row of the tables in MAPPING.md (| label | file | function |
# `code` | note |) it looks for the quoted code text inside the body of the
# named function in the named file: a line that is exactly that text (spaces
# trimmed) if there is exactly one, else the only line that contains it; a
# code cell `code` #N names the N-th line of the function that contains
# the text, for a line the function has twice. It prints "label file:LINE
# function" and fails if the text is missing or ambiguous. It also checks
# that each label is a tag in its model (a comment "/* R12 */" in
# remote_free.pml for R, pool_transfer.pml for A, abandon_adopt.pml for X,
# lend.pml for L, shared.pml for S, huge_run.pml for H, huge_cache.pml for K,
# span_arena.pml for M, reserve.pml for W, span_depot.pml for D), that every tag in a model has a row, and that each
# tagged line records its step for -DCOVER (HIT(12), or a macro drain(x, 12),
# self_wait(x, 12) or get_heap(x, 12) whose second argument is the call
# site, or avail_set(12), avail_clear(12), whole_set(12), whole_clear(12) or
# give_pools(12) whose argument
# is) and each HIT(12) sits on a line tagged R12.
#
# Usage: check_mapping.sh [-q]   (-q: print only problems and a count)
# Works from any directory. Exit status 0 when everything matches.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
map="$here/MAPPING.md"
quiet=0
[ "${1:-}" = "-q" ] && quiet=1

model_of() {
    case "$1" in
        R) echo remote_free.pml ;;
        A) echo pool_transfer.pml ;;
        X) echo abandon_adopt.pml ;;
        L) echo lend.pml ;;
        S) echo shared.pml ;;
        H) echo huge_run.pml ;;
        K) echo huge_cache.pml ;;
        M) echo span_arena.pml ;;
        W) echo reserve.pml ;;
        D) echo span_depot.pml ;;
        *) return 1 ;;
    esac
}

# The rows, as label TAB file TAB function TAB code TAB N ("\|" in a cell
# is "|"; N is 0 unless the code cell ends in #N).
rows() {
    awk '
        /^\| *[RAXLSHKMWD][0-9]+ *\|/ {
            line = $0
            gsub(/\\\|/, "\001", line)
            n = split(line, f, "|")
            for (i = 2; i <= 5; i++) {
                gsub(/^[ \t]+|[ \t]+$/, "", f[i])
                gsub("\001", "|", f[i])
            }
            code = f[5]
            occ = 0
            if (match(code, /` #[0-9]+$/)) {
                occ = substr(code, RSTART + 3) + 0
                code = substr(code, 1, RSTART)
            }
            if (code !~ /^`.*`$/) { print "BADROW\t" f[2]; next }
            code = substr(code, 2, length(code) - 2)
            print f[2] "\t" f[3] "\t" f[4] "\t" code "\t" occ
        }' "$map"
}

# Line number of CODE inside the body of function FUNC of FILE (the OCC-th
# of several when OCC > 0), or a message starting with "!" when it is
# missing or ambiguous.
find_line() {
    FUNC="$2" CODE="$3" OCC="${4:-0}" awk '
        BEGIN { fn = ENVIRON["FUNC"]; code = ENVIRON["CODE"]; occ = ENVIRON["OCC"] + 0; state = 0 }
        state == 0 && $0 ~ ("^[A-Za-z_].*[^A-Za-z0-9_]" fn "\\(") && $0 !~ /;[ \t]*$/ {
            state = 1
        }
        state == 1 {
            t = $0
            gsub(/^[ \t]+|[ \t]+$/, "", t)
            if (t == code) exact[++ne] = NR
            if (index($0, code)) sub_[++ns] = NR
            if ($0 ~ /^}/) state = 2
        }
        END {
            if (state == 0) { print "!function " fn " not found"; exit }
            if (occ > 0) {
                if (ns >= occ) { print sub_[occ]; exit }
                print "!code found " ns " times in " fn ", not " occ; exit
            }
            if (ne == 1) { print exact[1]; exit }
            if (ns == 1) { print sub_[1]; exit }
            if (ns == 0) print "!code not found in " fn
            else print "!code found " ns " times in " fn
        }' "$1"
}

fail=0
count=0
declare -A seen=()

while IFS=$'\t' read -r label file func code occ; do
    if [ "$label" = BADROW ]; then
        echo "MAPPING.md: row $file: the code column must be one \`...\` span" >&2
        fail=1
        continue
    fi
    count=$((count + 1))
    if [ -n "${seen[$label]:-}" ]; then
        echo "MAPPING.md: $label has two rows" >&2
        fail=1
    fi
    seen[$label]=1
    if [ ! -f "$root/$file" ]; then
        echo "$label: no file $file" >&2
        fail=1
        continue
    fi
    res=$(find_line "$root/$file" "$func" "$code" "$occ")
    if [ "${res#!}" != "$res" ]; then
        echo "$label $file: ${res#!}: $code" >&2
        fail=1
    elif [ "$quiet" = 0 ]; then
        echo "$label $file:$res $func"
    fi
    prefix=${label%%[0-9]*}
    num=${label#"$prefix"}
    pml="$here/$(model_of "$prefix")"
    if ! grep -qF "/* $label */" "$pml"; then
        echo "$label: no tag /* $label */ in $(basename "$pml")" >&2
        fail=1
    fi
done < <(rows)

# In each model, a line with a tag /* R12 */ records it: it has HIT(12) (or
# a drain(x, 12), self_wait(x, 12), get_heap(x, 12), avail_set(12),
# avail_clear(12), whole_set(12), whole_clear(12) or give_pools(12), whose
# macros do HIT(site)), and a line
# with HIT(12) has the tag. And every tag has a row.
for prefix in R A X L S H K M; do
    pml="$here/$(model_of "$prefix")"
    if ! P="$prefix" F="$(basename "$pml")" awk '
        BEGIN { P = ENVIRON["P"]; F = ENVIRON["F"]; bad = 0 }
        {
            nt = 0; nh = 0; line = $0
            while (match(line, "/\\* " P "[0-9]+ \\*/")) {
                T[++nt] = substr(line, RSTART + 3 + length(P), RLENGTH - 6 - length(P))
                line = substr(line, RSTART + RLENGTH)
            }
            line = $0
            while (match(line, /HIT\([0-9]+\)/)) {
                H[++nh] = substr(line, RSTART + 4, RLENGTH - 5)
                line = substr(line, RSTART + RLENGTH)
            }
            line = $0
            while (match(line, /(drain|self_wait|get_heap)\([a-z]+, [0-9]+\)|(avail_set|avail_clear|whole_set|whole_clear|give_pools)\([0-9]+\)/)) {
                d = substr(line, RSTART, RLENGTH); sub(/.*\(/, "", d); sub(/.*, /, "", d); sub(/\)/, "", d)
                H[++nh] = d
                line = substr(line, RSTART + RLENGTH)
            }
            for (i = 1; i <= nt; i++) {
                ok = 0
                for (j = 1; j <= nh; j++) if (T[i] == H[j]) ok = 1
                if (!ok) { print F ":" NR ": tag " P T[i] " without HIT(" T[i] ")" > "/dev/stderr"; bad = 1 }
            }
            for (j = 1; j <= nh; j++) {
                ok = 0
                for (i = 1; i <= nt; i++) if (T[i] == H[j]) ok = 1
                if (!ok) { print F ":" NR ": HIT(" H[j] ") without the tag " P H[j] > "/dev/stderr"; bad = 1 }
            }
        }
        END { exit bad }' "$pml"; then
        fail=1
    fi
    for tag in $(grep -oE "/\* $prefix[0-9]+ \*/" "$pml" | grep -oE "$prefix[0-9]+" | sort -u); do
        if [ -z "${seen[$tag]:-}" ]; then
            echo "$(basename "$pml"): tag $tag has no row in MAPPING.md" >&2
            fail=1
        fi
    done
done

if [ "$fail" != 0 ]; then
    echo "check_mapping: FAILED" >&2
    exit 1
fi
echo "check_mapping: $count steps map to src/ and to their model tags"
