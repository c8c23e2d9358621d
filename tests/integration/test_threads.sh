#!/usr/bin/env bash
# test_threads.sh LIB: multi-threaded programs under obmt.
#  - xz -T2 compresses a generated 8 MiB file in 1 MiB blocks (two encoder
#    threads) and decompresses it with two threads; the checksum must be the
#    original's, and xz without obmt must read obmt's output and the other
#    way round;
#  - sort --parallel=2 sorts 400,000 generated lines in several ways
#    (text, numeric, by key; with a small buffer, so it merges temporary
#    files); the output must equal that of sort without obmt.
# Every process took pools; in xz's compressor, threads other than the
# main one were served (heaps_used_hwm >= 2).
source "$(dirname "$0")/lib.sh"
integ_init "$@"
need xz sort sha256sum awk cmp
nolib() { env -u LD_PRELOAD "$@"; }
export LC_ALL=C

say "generate the data"
# Compressible but not trivial: words from a small vocabulary, numbers.
awk 'BEGIN { srand(42); for (i = 0; i < 400000; i++)
    printf "%08d %s %.6f w%d\n", int(rand() * 1e8), substr("alphabetagammadeltaepsilonzetaetatheta", 1 + int(rand() * 30), 1 + int(rand() * 8)), rand() * 1000, int(rand() * 5000) }' >lines.txt
head -c 8388608 lines.txt >data.bin
orig=$(sha256sum <data.bin)

say "xz -T2: $(du -h data.bin | cut -f1) in 1 MiB blocks"
obmt_run xz -T2 --block-size=1MiB -3 -k -c data.bin >obmt.xz
nolib xz -T2 --block-size=1MiB -3 -k -c data.bin >glibc.xz
check_eq "$(obmt_run xz -T2 -d -c obmt.xz | sha256sum)" "$orig" "xz -T2 round trip under obmt"
check_eq "$(nolib xz -d -c obmt.xz | sha256sum)" "$orig" "obmt's .xz read by xz without obmt"
check_eq "$(obmt_run xz -T2 -d -c glibc.xz | sha256sum)" "$orig" "xz under obmt reads glibc's .xz"
cmp -s obmt.xz glibc.xz || fail "xz -T2 output differs under obmt"
say "ok: xz -T2 output identical with and without obmt ($(du -h obmt.xz | cut -f1))"
obmt_run xz -t -T2 obmt.xz || fail "xz -t under obmt"
# Four xz processes; the encoder threads of the first allocate (the
# decoders' threads use buffers the main thread made).
check_stats --min-lines 4 --min-heaps 2
stats_next

say "sort --parallel=2: $(wc -l <lines.txt) lines"
mkdir -p sorttmp
for opts in "" "-n" "-k3,3g -k1,1" "-t w -k2,2n -s" "-u -k2,2"; do
    # shellcheck disable=SC2086
    obmt_run sort --parallel=2 -S 4M -T sorttmp $opts lines.txt >obmt.sorted
    # shellcheck disable=SC2086
    nolib sort -S 64M -T sorttmp $opts lines.txt >glibc.sorted
    cmp -s obmt.sorted glibc.sorted || fail "sort --parallel=2 $opts differs under obmt"
    say "ok: sort --parallel=2 -S 4M $opts: $(wc -l <obmt.sorted) lines equal without obmt"
done

# Five sort processes. (sort's threads merge in memory that the main thread
# allocated: only the main thread calls malloc.)
check_stats --min-lines 5
integ_done
