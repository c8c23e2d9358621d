/*
 * bench_larson: thread succession, shaped like Larson and Krishnan's server
 * benchmark (larson in mimalloc-bench).
 *
 *   larson/W/L   W chains run at once. Each chain owns an array of 5,000
 *                blocks (random sizes 8..1000 bytes). A chain is a
 *                succession of threads: each thread replaces L random
 *                slots (free the old block, malloc a new one), then starts
 *                its successor, which takes the array over, and exits.
 *
 * So threads live for 2L calls, the first frees of each thread are of blocks that
 * an earlier, by then dead, thread allocated, and threads are created and
 * torn down all the time: what an allocator keeps per thread (caches,
 * heaps, pools) is built and abandoned at every step. One iteration is
 * GENERATIONS successions per chain; items are replaced blocks. The arrays
 * are filled before the timing starts, and every block carries a tag that
 * is checked before it is freed (a block handed out twice aborts the run).
 * W is 2 or 8; L is 1,000 (short-lived threads: thread start and exit
 * dominate) or 100,000 (each thread replaces its whole array about 20 times,
 * like larson's 5,000 x 100 rounds, so that the successor frees blocks of a
 * dead thread's pools first and then its own). Thread creation is timed:
 * it is part of the shape.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_NAME "bench_larson"
#include "bench_util.h"

#define MAXW BENCH_MAXT
#define SLOTS 5000
#define MINSZ 8
#define MAXSZ 1000
#define GENERATIONS 8
#define MAGIC 0x1a75011a75011a75ULL

struct chain {
    uint64_t *slot[SLOTS];
    uint64_t rng;
    int ops;          /* L: replacements per thread */
    int generations;  /* threads left in this iteration's succession */
};

static struct chain chains[MAXW];
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int running; /* chains whose succession has not ended (under done_mu) */

static uint64_t *new_block(uint64_t *rng)
{
    size_t n = MINSZ + (size_t)(rng_next(rng) % (MAXSZ - MINSZ + 1));
    uint64_t *p = malloc(n);
    if (!p)
        fault("malloc returned NULL", NULL);
    p[0] = (uintptr_t)p ^ MAGIC;
    return p;
}

static void check_free(uint64_t *p)
{
    if (p[0] != ((uintptr_t)p ^ MAGIC))
        fault("tag overwritten before free (block handed out twice?)", p);
    free(p);
}

static void *chain_thread(void *arg)
{
    struct chain *c = arg;
    for (int i = 0; i < c->ops; i++) {
        size_t k = (size_t)(rng_next(&c->rng) % SLOTS);
        check_free(c->slot[k]);
        c->slot[k] = new_block(&c->rng);
    }
    if (--c->generations > 0) {
        /* Start the successor before exiting, as larson does. */
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, chain_thread, c) != 0)
            fault("pthread_create failed", NULL);
        pthread_attr_destroy(&attr);
    } else {
        pthread_mutex_lock(&done_mu);
        if (--running == 0)
            pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&done_mu);
    }
    return NULL;
}

static void bm_larson(gb_state *s)
{
    int w = (int)gb_range(s, 0), ops = (int)gb_range(s, 1);
    for (int i = 0; i < w; i++) {
        chains[i].rng = 0x1a2b3c4d5e6f7788ULL * (uint64_t)(i + 1);
        chains[i].ops = ops;
        for (int k = 0; k < SLOTS; k++)
            chains[i].slot[k] = new_block(&chains[i].rng);
    }
    while (gb_keep_running(s)) {
        pthread_mutex_lock(&done_mu);
        running = w;
        pthread_mutex_unlock(&done_mu);
        for (int i = 0; i < w; i++) {
            chains[i].generations = GENERATIONS;
            pthread_attr_t attr;
            pthread_t t;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, chain_thread, &chains[i]) != 0)
                fault("pthread_create failed", NULL);
            pthread_attr_destroy(&attr);
        }
        pthread_mutex_lock(&done_mu);
        while (running > 0)
            pthread_cond_wait(&done_cv, &done_mu);
        pthread_mutex_unlock(&done_mu);
    }
    for (int i = 0; i < w; i++)
        for (int k = 0; k < SLOTS; k++)
            check_free(chains[i].slot[k]);
    gb_set_items_processed(s, gb_iteration_count(s) * w * GENERATIONS * ops);
}

int main(int argc, char **argv)
{
    static const int wdef[] = { 2, 8 };
    static const int ls[] = { 1000, 100000 };
    size_t nw = sizeof wdef / sizeof wdef[0];
    const int *ws = bench_threads(wdef, &nw); /* W is the thread count */
    gb_bench *b = gb_register("larson", bm_larson);
    for (size_t i = 0; i < nw; i++)
        for (size_t j = 0; j < sizeof ls / sizeof ls[0]; j++)
            gb_args2(b, ws[i], ls[j]);
    gb_real_time(b);
    return gb_main(argc, argv);
}
