/*
 * bench_large: huge blocks in a loop, one thread (the shape of
 * mimalloc-bench's malloc-large).
 *
 *   large_loop   20 slots; each step frees the block of a random slot and
 *                puts there a new block of 5..25 MiB (uniform), zero-filled
 *                as a C++ `make_unique<char[]>(n)` does (memset of the whole
 *                block), so that page faults and the allocator's policy for
 *                freed huge blocks (keep them resident, or give them back to
 *                the OS at once) are what is measured. 50 steps per
 *                iteration; the slots live across iterations.
 *
 * Counters: peak_rss_MiB (VmHWM at the end: the largest resident set of
 * the process), max_live_MiB (the most bytes the slots held at once: what
 * the peak cannot go below), live_MiB (the blocks in the slots at the
 * end). Items are steps (one free and one malloc of 5..25 MiB).
 * Deterministic: the same sizes under every allocator, and a fixed number
 * of iterations (ITERS), so that the peaks compare.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_NAME "bench_large"
#include "bench_util.h"

#include "proc_rss.h"

#define SLOTS 20
#define STEPS 50
#define MIN_SIZE ((size_t)5 << 20)
#define MAX_SIZE ((size_t)25 << 20)
#define ITERS 12

static void bm_large_loop(gb_state *s)
{
    unsigned char *slot[SLOTS] = { 0 };
    size_t size[SLOTS] = { 0 };
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    int64_t steps = 0;
    size_t live = 0, max_live = 0;
    while (gb_keep_running(s)) {
        for (int i = 0; i < STEPS; i++) {
            uint64_t r = rng_next(&rng);
            unsigned k = (unsigned)(r % SLOTS);
            size_t n = MIN_SIZE + (size_t)((r >> 8) % (MAX_SIZE - MIN_SIZE + 1));
            if (slot[k] && (slot[k][0] != (unsigned char)size[k] || slot[k][size[k] - 1] != 0x5a))
                fault("huge block overwritten before free", slot[k]);
            free(slot[k]);
            live -= size[k];
            unsigned char *p = malloc(n);
            if (!p)
                fault("malloc returned NULL", NULL);
            memset(p, 0, n);
            p[0] = (unsigned char)n;
            p[n - 1] = 0x5a;
            slot[k] = p;
            size[k] = n;
            live += n;
            if (live > max_live)
                max_live = live;
        }
        steps += STEPS;
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    gb_set_items_processed(s, steps);
    gb_counter(s, "peak_rss_MiB", hwm_mib(), false);
    gb_counter(s, "max_live_MiB", (double)max_live / (1 << 20), false);
    gb_counter(s, "live_MiB", (double)live / (1 << 20), false);
}

int main(int argc, char **argv)
{
    gb_iterations(gb_register("large_loop", bm_large_loop), ITERS);
    return gb_main(argc, argv);
}
