/*
 * bench_falseshare: allocator-induced false sharing, after Hoard's
 * cache-thrash and cache-scratch.
 *
 *   falseshare_thrash/SIZE/threads:T   every thread, on its own: malloc(SIZE),
 *                                      write it heavily, free, repeat
 *   falseshare_scratch/SIZE/threads:T  thread 0 first allocates T objects of
 *                                      SIZE back to back and hands object i to
 *                                      thread i, which frees it and then does
 *                                      the thrash loop
 *
 * The heavy writing is WRITES passes over every byte of the object (a
 * volatile read-modify-write of each byte). When an allocator puts objects
 * of different threads in the same 64-byte cache line (thrash: passive false
 * sharing, scratch: the freed neighbour handed straight back to the thread
 * that freed it), the line bounces between cores and the throughput drops;
 * otherwise every write hits the thread's own L1. SIZE is 8, 16, 32, 64.
 *
 * Items are objects (one malloc, WRITES passes over its bytes, one free).
 * Each object's last pass is checked (mismatch aborts). The hand-off array
 * is set by thread 0 before its first gb_keep_running; the others read it
 * only after theirs (a barrier).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_NAME "bench_falseshare"
#include "bench_util.h"

#define MAXT BENCH_MAXT
#define WRITES 64  /* passes over the object's bytes per object */
#define OBJS 4     /* objects per iteration */

static void *handed[MAXT];

/* One object's life: malloc, WRITES passes, check, free. */
static inline void work(size_t size)
{
    volatile unsigned char *p = malloc(size);
    if (!p)
        fault("malloc returned NULL", NULL);
    for (size_t k = 0; k < size; k++)
        p[k] = (unsigned char)k;
    for (int w = 0; w < WRITES; w++)
        for (size_t k = 0; k < size; k++)
            p[k] = (unsigned char)(p[k] + 1);
    for (size_t k = 0; k < size; k++)
        if (p[k] != (unsigned char)(k + WRITES))
            fault("object changed under its owner", (void *)p);
    free((void *)p);
}

static void bm_thrash(gb_state *s)
{
    size_t size = (size_t)gb_range(s, 0);
    while (gb_keep_running(s))
        for (int i = 0; i < OBJS; i++)
            work(size);
    gb_set_items_processed(s, gb_iteration_count(s) * OBJS);
}

static void bm_scratch(gb_state *s)
{
    size_t size = (size_t)gb_range(s, 0);
    int t = gb_thread_index(s), n = gb_thread_count(s);
    if (t == 0)
        for (int i = 0; i < n; i++) {
            unsigned char *p = malloc(size);
            if (!p)
                fault("malloc returned NULL", NULL);
            for (size_t k = 0; k < size; k++)
                p[k] = (unsigned char)i;
            handed[i] = p;
        }
    bool first = true;
    while (gb_keep_running(s)) {
        if (first) {
            first = false;
            unsigned char *p = handed[t];
            for (size_t k = 0; k < size; k++)
                if (p[k] != (unsigned char)t)
                    fault("handed object overwritten", p);
            free(p);
        }
        for (int i = 0; i < OBJS; i++)
            work(size);
    }
    gb_set_items_processed(s, gb_iteration_count(s) * OBJS);
}

static const int64_t sizes[] = { 8, 16, 32, 64 };
static const int threads[] = { 1, 2, 4, 8 };

int main(int argc, char **argv)
{
    static const struct bench_fn all[] = {
        { "falseshare_thrash", bm_thrash }, { "falseshare_scratch", bm_scratch },
    };
    register_grid(all, sizeof all / sizeof all[0], sizes, sizeof sizes / sizeof sizes[0], threads,
                  sizeof threads / sizeof threads[0]);
    return gb_main(argc, argv);
}
