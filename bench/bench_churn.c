/*
 * bench_churn: thread churn. Short-lived threads allocate and exit; their
 * blocks outlive them and are freed by another thread.
 *
 *   churn_join/W/N     per iteration: start W threads, each mallocs N blocks
 *                      (random 16..512 bytes, tagged) into its part of a
 *                      shared array and exits; the benchmark thread (the
 *                      collector) joins them, then checks and frees all W*N
 *   churn_overlap/W/N  the same, but the collector frees the previous wave's
 *                      blocks while the current wave is running
 *
 * Everything an allocator keeps per thread (caches, heaps, pools) is
 * created and torn down W times per iteration, and every block is freed by
 * a thread other than its (by then usually dead) allocator. Thread start
 * and join are timed too: they are part of the churn. W is 1, 2, 4 or 8
 * (threads spawned here with pthread_create; the benchmark itself runs in
 * one Google Benchmark thread, on real time), N is 256 or 4096. Items are
 * blocks. Live memory: at most 2 waves x 8 x 4096 x 512 B = 32 MiB.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_NAME "bench_churn"
#include "bench_util.h"

#define MAXW 8
#define MAXN 4096
#define MAGIC 0x0bad5eedfeedbeefULL

struct worker {
    pthread_t tid;
    void **out;     /* where its N blocks go */
    int n;
    uint64_t seed;
};

static void *blocks[2][MAXW * MAXN]; /* two waves, for churn_overlap */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = w->seed;
    for (int i = 0; i < w->n; i++) {
        size_t n = 16 + (size_t)(rng_next(&rng) % 497);
        uint64_t *p = malloc(n);
        if (!p)
            fault("malloc returned NULL", NULL);
        p[0] = (uintptr_t)p ^ MAGIC;
        p[1] = n;
        if (n > 16) /* at 16 the last byte is in word 1 */
            ((unsigned char *)p)[n - 1] = (unsigned char)n;
        w->out[i] = p;
    }
    return NULL;
}

static void free_wave(void **b, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t *p = b[i];
        size_t n = (size_t)p[1];
        if (p[0] != ((uintptr_t)p ^ MAGIC) || n < 16 || n > 512 ||
            (n > 16 && ((unsigned char *)p)[n - 1] != (unsigned char)n))
            fault("block overwritten after its thread exited", p);
        free(p);
    }
}

static void start_wave(struct worker *w, int nw, int n, void **out, uint64_t seed)
{
    for (int i = 0; i < nw; i++) {
        w[i].out = out + (size_t)i * (size_t)n;
        w[i].n = n;
        w[i].seed = seed * MAXW + (uint64_t)i;
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
            fault("pthread_create failed", NULL);
    }
}

static void join_wave(struct worker *w, int nw)
{
    for (int i = 0; i < nw; i++)
        pthread_join(w[i].tid, NULL);
}

static void bm_join(gb_state *s)
{
    int nw = (int)gb_range(s, 0), n = (int)gb_range(s, 1);
    struct worker w[MAXW];
    uint64_t wave = 0;
    while (gb_keep_running(s)) {
        start_wave(w, nw, n, blocks[0], ++wave);
        join_wave(w, nw);
        free_wave(blocks[0], (size_t)nw * (size_t)n);
    }
    gb_set_items_processed(s, gb_iteration_count(s) * nw * n);
}

static void bm_overlap(gb_state *s)
{
    int nw = (int)gb_range(s, 0), n = (int)gb_range(s, 1);
    size_t count = (size_t)nw * (size_t)n;
    struct worker w[MAXW];
    uint64_t wave = 0;
    bool have_prev = false;
    while (gb_keep_running(s)) {
        int cur = (int)(wave & 1);
        start_wave(w, nw, n, blocks[cur], ++wave);
        if (have_prev)
            free_wave(blocks[cur ^ 1], count);
        join_wave(w, nw);
        have_prev = true;
    }
    if (have_prev)
        free_wave(blocks[(wave - 1) & 1], count);
    gb_set_items_processed(s, gb_iteration_count(s) * nw * n);
}

int main(int argc, char **argv)
{
    struct { const char *name; gb_fn fn; } all[] = {
        { "churn_join", bm_join }, { "churn_overlap", bm_overlap },
    };
    static const int64_t ws[] = { 1, 2, 4, 8 }, ns[] = { 256, 4096 };
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        gb_bench *b = gb_register(all[k].name, all[k].fn);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t j = 0; j < sizeof ws / sizeof ws[0]; j++)
                gb_args2(b, ws[j], ns[i]);
        gb_real_time(b);
    }
    return gb_main(argc, argv);
}
