#!/usr/bin/env bash
# bench/instr_budget.sh LIB INSTR_COUNT: fail when obmt's local fast path
# grows past its instruction budget.
#
# Callgrind counts instructions exactly and repeatably, so unlike a timing
# this can be a test (ctest -L budget). For each size it runs instr_count
# (bench/instr_count.c: LIFO malloc/free pairs with 100 blocks of the class
# kept live) under LD_PRELOAD=LIB in three modes and takes
# (Ir(mode) - Ir(baseline)) / N per call. The budgets are today's counts
# (every pool class: malloc 23, free 37, since the block stack (src/bstack.c):
# malloc pops the class's stack first, 20 instructions, and counts its pops
# down to a tick (2, plus heap_ticked every 1024 pops: 22.2 measured); free
# pushes there, which reads the class and the depth instead of the count,
# and marks the thread busy again (+2: a lender flushes the stacks), 37;
# malloc 20 and free 32 before; malloc was 18 for the fine classes
# and 24 for the coarse ones before one table served both (a mix of sizes
# mispredicted the test between them half the time); free was 37
# before block keys and count_span, 28 before the free key caught double
# frees at any depth (+2: load and compare the key, store it), 30 before
# pool headers moved out of line (+2: the header is found by a shift, an
# and and an add instead of an and; it cut larson's cache misses), 32
# before idle heaps could be lent (+2 on malloc and on free: the two
# stores of tls_self.busy around the work, src/lend.c; the slow halves
# leave by themselves so that the fast paths keep their tail calls; free
# took its 2 back when its local fast path stopped marking busy: a lender
# keeps to pools that hold no live block instead), coarse
# malloc 29 before malloc_other looked coarse sizes up first; 64 KiB, a
# medium block from the thread's span cache: malloc 34 (36 before a live
# span was marked by its head's nextpool, 48 before obmt_malloc
# called span_malloc_plain itself, without malloc_other and span_malloc's
# arguments; 51 before the
# request went straight to malloc_other, 53 before the
# cache became stacks linked through the span heads, 59 before its class
# became a table by KiB), free 49 (51 with the live mark in count, 60 before free's owner test went on to
# the span inside its busy region, tail calls all the way; 58 before free's busy stores came back
# ahead of the owner test, 59 before that), from 325
# and 188 through the span arenas' CAS and fetch_or, 135 and 116 with a
# cache behind three calls each, statistics by heap_counting and a CAS on
# the head's count); lower them as the fast path gets
# cheaper, so that no later change can give the gain back unnoticed.
set -euo pipefail
lib=$1
bin=$2
n=20000
# Pool classes: 22 since malloc tests the block stack's top rather than a
# depth and reads a stacked link without masking hint bits (2026-12-01:
# 23, 22.2 measured); 21 since the tops are first in the heap (2026-12-02:
# btop[c] at h + 8c, so the compiler no longer computes the slot's address
# once for the load and the store: 21.2 -> 20.2 measured, and free -1).
# 65536: 34 since a live span is marked by its head's nextpool (SPAN_LIVE,
# one constant store in the cache's pop) rather than count's low bit (a
# load, an or and a store): 36 -> 34 (2026-12-02).
declare -A malloc_budget=([16]=21 [64]=21 [512]=21 [1024]=21 [4096]=21 [65536]=34)
# 65536: 53 since the span cache's depths and limits became 16-bit (they
# grow to 512 spans a class): free's put reads both through one computed
# address, an instruction more than with 8-bit ones (52); 51 since free
# tests OWNER_SPAN with the owner word its fast path read, rather than
# through free_not_owner_leave (a jump, a second load and test); 49
# since the live mark is nextpool, which the push writes anyway (count's
# low bit had cost an and and a store: 2026-12-02).
# Pool classes: 35 since the block stack is linked through its blocks
# (2026-12-01: 37 with an array of slots in the heap); 37 since its depth
# is two counters, free's pushes and malloc's pops (free reads both and
# subtracts: +2; fastpath_lifo +25-35%, as neither side waits for the
# other's store: bench/results/2026-12-01-bstack-split.md); 36 since the
# tops are first in the heap (above).
declare -A free_budget=([16]=36 [64]=36 [512]=36 [1024]=36 [4096]=36 [65536]=49)
# The remote free (instr_count's "remote" mode: blocks another live thread
# allocated, in rounds of at most 16 MiB, freed in allocation order): the
# checks, the block linked into
# its pool's batch, and per batch one CAS and a tick (16 KiB of blocks a
# batch: 4 blocks of 4 KiB, so that class pays the hand-over most often).
# The medium block (65536) goes into the freeing thread's span cache, which
# fills and gives half back every 8 frees here. 114 at 16 bytes before
# remote frees stayed in free's busy region, ticked per batch instead of
# per block and counted their statistics per batch (e49b77c). 65536: 117.2
# since the 16-bit depths (free's instruction, and the stack's flag that a
# trim gave spans back: cache_grow), 115.8 before; 118.1 since the
# g_span_whole hint (each give back tests whether it made its arena wholly
# free, and every 32 frees here one does and sets the arena's bit), which
# saves a 1 MiB take about 400 instructions after a burst; 118.4 since the
# span depot (a full put tests whether its class has grown: only a grown
# class's trims go to the depot; sending this freer's trims there too had
# cost 121.7); 116.4 since free's OWNER_SPAN test (above). The pool
# blocks' counts rose by 12 with remote chains' prefetch hints (remote.c,
# "Hints": the top bits of each link name a block further down, from the
# batch slot's ring of recent blocks): 65.1 -> 77.1 at 16 bytes, 65.4 ->
# 77.5 at 64; the owner's mallocs of those blocks then overlap their misses
# (producer_1toN/64/threads:4 on 2 cores: 11.0 -> 33.0 M items/s); 4
# fewer since free's path skips a second test of the owner word it has
# just read (heap_free_remote_owned_leave): 73.1 at 16 bytes, 73.5 at 64.
# 65536: 115.4 since the live mark moved to nextpool (above), 116.4 before.
declare -A remote_budget=([16]=74 [64]=74 [512]=77 [1024]=81 [4096]=103 [65536]=116)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
for size in 16 64 512 1024 4096 65536; do
  declare -A ir=()
  for m in baseline malloc free remote; do
    LD_PRELOAD=$lib valgrind --tool=callgrind --collect-atstart=no \
      --callgrind-out-file="$out/cg.$m" "$bin" "$m" "$size" "$n" >/dev/null 2>"$out/err" || {
        echo "instr_budget: valgrind failed (size $size, $m):"; tail -5 "$out/err"; exit 1; }
    ir[$m]=$(awk '/^summary:/ { print $2 }' "$out/cg.$m")
  done
  read -r pm pf pr < <(awk -v b="${ir[baseline]}" -v m="${ir[malloc]}" -v f="${ir[free]}" \
    -v r="${ir[remote]}" -v n=$n 'BEGIN { printf "%.1f %.1f %.1f\n", (m - b) / n, (f - b) / n, (r - b) / n }')
  verdict=ok
  if awk -v x="$pm" -v y="${malloc_budget[$size]}" 'BEGIN { exit !(x > y + 0.05) }'; then verdict=FAIL; fail=1; fi
  if awk -v x="$pf" -v y="${free_budget[$size]}" 'BEGIN { exit !(x > y + 0.05) }'; then verdict=FAIL; fail=1; fi
  if awk -v x="$pr" -v y="${remote_budget[$size]}" 'BEGIN { exit !(x > y + 0.05) }'; then verdict=FAIL; fail=1; fi
  printf '%-4s size %5s: malloc %5s (budget %s), free %5s (budget %s), remote free %5s (budget %s) instructions\n' \
    "$verdict" "$size" "$pm" "${malloc_budget[$size]}" "$pf" "${free_budget[$size]}" "$pr" "${remote_budget[$size]}"
done
exit $fail
