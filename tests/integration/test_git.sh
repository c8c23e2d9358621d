#!/usr/bin/env bash
# test_git.sh LIB: git under obmt (every git process, and the children git
# starts: pack-objects, index-pack, upload-pack, ...) on a repository the
# test makes: 120 commits on main, a branch of 40 commits, a merge, a
# growing 2 MiB file (deltas), gc --aggressive with 2 pack threads, fsck, a
# clone through the pack protocol. Counts and file contents are checked
# against what the shell wrote, and the output of log -p, blame and archive
# against the same commands run without obmt.
source "$(dirname "$0")/lib.sh"
integ_init "$@"
need git awk tar cmp
# Nothing from the user's or the system's configuration; no automatic gc.
export HOME=$WORK GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=obmt GIT_AUTHOR_EMAIL=obmt@example.org \
    GIT_COMMITTER_NAME=obmt GIT_COMMITTER_EMAIL=obmt@example.org \
    GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
g() { obmt_run git -c gc.auto=0 -c pack.threads=2 "$@"; }

g init -q -b main repo
cd repo
big() { # big N: the 2 MiB file, version N (a few lines differ per version)
    awk -v n="$1" 'BEGIN { for (i = 0; i < 40000; i++) printf "line %06d %s\n", i, (i % 997 == n % 997) ? "changed" n : "same-same-same-same-same" }' >big.txt
}
commit_main() { # i
    echo "main $1" >>"f$(($1 % 10)).txt"
    if [ $(($1 % 20)) -eq 0 ]; then big "$1"; fi
    g add -A
    g commit -q -m "main $1"
}

say "120 commits on main, 40 on feature, merge"
big 0
for i in $(seq 1 60); do commit_main "$i"; done
g switch -q -c feature
for j in $(seq 1 40); do
    echo "feature $j" >>"g$((j % 5)).txt"
    g add -A
    g commit -q -m "feature $j"
done
g switch -q main
for i in $(seq 61 120); do commit_main "$i"; done
g merge -q --no-ff -m "merge feature" feature

check_eq "$(g rev-list --count HEAD)" 161 "rev-list --count HEAD"
check_eq "$(g rev-list --count --merges HEAD)" 1 "merges"
check_eq "$(g rev-list --count main..feature)" 0 "feature commits not in main"
check_eq "$(g log --format=%s | sort | cksum)" \
    "$({ seq 1 120 | sed 's/^/main /'; seq 1 40 | sed 's/^/feature /'; echo 'merge feature'; } | sort | cksum)" "commit subjects"

say "gc --aggressive, fsck, clone"
g gc -q --aggressive --prune=now
g fsck --full --strict --no-progress >fsck.out 2>&1 || fail "git fsck: $(cat fsck.out)"
[ ! -s fsck.out ] || fail "git fsck says: $(head fsck.out)"
check_eq "$(g count-objects -v | awk '$1 == "count:" || $1 == "packs:" { printf "%s%s ", $1, $2 }')" "count:0 packs:1 " "objects packed"
cd "$WORK"
g clone -q --no-local repo clone
check_eq "$(g -C clone rev-list --count HEAD)" 161 "rev-list --count HEAD in the clone"
g -C clone fsck --full --strict --no-progress >/dev/null 2>&1 || fail "git fsck in the clone"

say "contents and history equal to what the shell wrote, and to git without obmt"
mkdir expect tree
for k in $(seq 0 9); do seq 1 120 | awk -v k="$k" '$1 % 10 == k { print "main " $1 }' >"expect/f$k.txt"; done
for k in $(seq 0 4); do seq 1 40 | awk -v k="$k" '$1 % 5 == k { print "feature " $1 }' >"expect/g$k.txt"; done
(cd expect && big 120)
g -C clone archive --format=tar HEAD >tree.tar
tar -xf tree.tar -C tree
diff -r expect tree >/dev/null || fail "the merged tree differs from what the shell wrote: $(diff -r expect tree | head)"
say "ok: merged tree, $(find tree -type f | wc -l) files"
for cmd in "log -p --stat --format=%H%n%an%n%s" "blame -s f3.txt" "log --graph --oneline --all"; do
    # shellcheck disable=SC2086
    g -C repo $cmd >obmt.out
    # shellcheck disable=SC2086
    env -u LD_PRELOAD git -C repo $cmd >glibc.out
    cmp -s obmt.out glibc.out || fail "git $cmd differs under obmt"
    say "ok: git $cmd: $(wc -l <obmt.out) lines equal without obmt"
done

# Over 300 git processes ran; gc's pack-objects searches deltas in 2 threads.
check_stats --min-lines 300 --min-heaps 2
integ_done
