/*
 * bench_realloc: realloc growth chains, as a growing buffer makes them.
 *
 *   realloc_add16/MAX/threads:T  start at 1..16 bytes, realloc(p, n + 16)
 *                                until n reaches MAX, then free
 *   realloc_mul15/MAX/threads:T  the same with n = ceil(1.5 n) steps
 *
 * One chain per iteration; its start size cycles through 1..16. MAX is
 * 4 KiB, 16 KiB, 64 KiB, 256 KiB, 1 MiB or 16 MiB (the last step is
 * clamped to MAX): the pool classes, then medium and huge blocks. After each realloc the
 * chain checks that the first byte and the old last byte survived the move
 * and writes a new last byte (a mismatch aborts); the buffer is not filled,
 * so the copies realloc makes are what is measured. Threads run independent
 * chains (T = 1, 2, 4, 8, real time). Items are reallocs; the chain's
 * malloc and free are included in the time but not counted.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_NAME "bench_realloc"
#include "bench_util.h"

static inline size_t next_add16(size_t n) { return n + 16; }
static inline size_t next_mul15(size_t n) { return (3 * n + 1) / 2; }

/* One chain from `start` to `max`; returns the number of reallocs. */
static inline int64_t chain(size_t start, size_t max, size_t (*next)(size_t))
{
    size_t n = start;
    unsigned char *p = malloc(n);
    int64_t count = 0;
    if (!p)
        fault("malloc returned NULL", NULL);
    p[0] = 0xa5;
    if (n > 1)
        p[n - 1] = (unsigned char)n;
    while (n < max) {
        size_t m = next(n);
        if (m > max)
            m = max;
        unsigned char *q = realloc(p, m);
        if (!q)
            fault("realloc returned NULL", p);
        if (q[0] != 0xa5 || (n > 1 && q[n - 1] != (unsigned char)n))
            fault("realloc lost the old contents", q);
        q[m - 1] = (unsigned char)m;
        p = q;
        n = m;
        count++;
    }
    free(p);
    return count;
}

static inline void run(gb_state *s, size_t (*next)(size_t))
{
    size_t max = (size_t)gb_range(s, 0);
    int64_t reallocs = 0;
    size_t start = (size_t)gb_thread_index(s);
    while (gb_keep_running(s)) {
        reallocs += chain(1 + start % 16, max, next);
        start++;
    }
    gb_set_items_processed(s, reallocs);
}

static void bm_add16(gb_state *s) { run(s, next_add16); }
static void bm_mul15(gb_state *s) { run(s, next_mul15); }

static const int64_t maxes[] = { 4096, 16384, 65536, 262144, 1048576, 16777216 };
static const int threads[] = { 1, 2, 4, 8 };

int main(int argc, char **argv)
{
    static const struct bench_fn all[] = {
        { "realloc_add16", bm_add16 }, { "realloc_mul15", bm_mul15 },
    };
    register_grid(all, sizeof all / sizeof all[0], maxes, sizeof maxes / sizeof maxes[0], threads,
                  sizeof threads / sizeof threads[0]);
    return gb_main(argc, argv);
}
