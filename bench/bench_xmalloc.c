/*
 * bench_xmalloc: producer/consumer through one shared queue, shaped like
 * Lever and Boreham's malloc-test (xmalloc-test in mimalloc-bench).
 *
 *   xmalloc/SIZE/threads:T   T/2 writers malloc blocks of SIZE bytes in
 *                            batches of BATCH and put each batch on one
 *                            queue shared by all; T/2 readers take batches
 *                            off it, whichever writer made them, and free
 *                            every block. T is even.
 *
 * Unlike bench_producer's fixed 1:1 rings, any reader frees any writer's
 * blocks, so the blocks of one pool are freed by several threads and every
 * free is remote. The queue is a mutex and two condition variables (as in
 * malloc-test); its cost is one lock per BATCH blocks. Batch descriptors
 * are static, so only the blocks are allocated. Every writer and every
 * reader moves PER_ITER batches per iteration and Google Benchmark gives
 * all threads the same iteration count, so every block is freed before the
 * run ends. Each block's first word is a tag checked before free. With
 * T = 1 the one thread writes a batch and reads it back. Items are blocks
 * freed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_NAME "bench_xmalloc"
#include "bench_util.h"

#define BATCH 256
#define DEPTH 32      /* batches in flight at most (writers wait beyond) */
#define PER_ITER 4
#define MAGIC 0x0a110cf4eedba7c4ULL

struct batch {
    struct batch *next;
    void *blk[BATCH];
};

static struct batch batches[DEPTH];
static struct batch *full_q, *full_tail, *spare; /* under mu */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t have_full = PTHREAD_COND_INITIALIZER, have_spare = PTHREAD_COND_INITIALIZER;

static void reset_queue(void)
{
    full_q = full_tail = NULL;
    spare = NULL;
    for (int i = 0; i < DEPTH; i++) {
        batches[i].next = spare;
        spare = &batches[i];
    }
}

static void write_batch(size_t size)
{
    pthread_mutex_lock(&mu);
    while (!spare)
        pthread_cond_wait(&have_spare, &mu);
    struct batch *b = spare;
    spare = b->next;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < BATCH; i++) {
        uint64_t *p = malloc(size);
        if (!p)
            fault("malloc returned NULL", NULL);
        p[0] = (uintptr_t)p ^ MAGIC;
        b->blk[i] = p;
    }
    b->next = NULL;
    pthread_mutex_lock(&mu);
    if (full_tail)
        full_tail->next = b;
    else
        full_q = b;
    full_tail = b;
    pthread_cond_signal(&have_full);
    pthread_mutex_unlock(&mu);
}

static void read_batch(void)
{
    pthread_mutex_lock(&mu);
    while (!full_q)
        pthread_cond_wait(&have_full, &mu);
    struct batch *b = full_q;
    full_q = b->next;
    if (!full_q)
        full_tail = NULL;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < BATCH; i++) {
        uint64_t *p = b->blk[i];
        if (p[0] != ((uintptr_t)p ^ MAGIC))
            fault("tag overwritten before free", p);
        free(p);
    }
    pthread_mutex_lock(&mu);
    b->next = spare;
    spare = b;
    pthread_cond_signal(&have_spare);
    pthread_mutex_unlock(&mu);
}

static void bm_xmalloc(gb_state *s)
{
    size_t size = (size_t)gb_range(s, 0);
    int t = gb_thread_index(s), n = gb_thread_count(s);
    int64_t items = 0;
    if (t == 0)
        reset_queue(); /* before the start barrier of gb_keep_running */
    if (n % 2 != 0 && n != 1) {
        gb_skip_with_error(s, "xmalloc needs an even thread count");
        while (gb_keep_running(s)) {
        }
    } else if (n == 1) {
        while (gb_keep_running(s))
            for (int i = 0; i < PER_ITER; i++) {
                write_batch(size);
                read_batch();
            }
        items = gb_iteration_count(s) * PER_ITER * BATCH;
    } else if (t % 2 == 0) {
        while (gb_keep_running(s))
            for (int i = 0; i < PER_ITER; i++)
                write_batch(size);
    } else {
        while (gb_keep_running(s))
            for (int i = 0; i < PER_ITER; i++)
                read_batch();
        items = gb_iteration_count(s) * PER_ITER * BATCH;
    }
    gb_set_items_processed(s, items);
}

int main(int argc, char **argv)
{
    static const struct bench_fn all[] = { { "xmalloc", bm_xmalloc } };
    static const int64_t sizes[] = { 16, 64, 256 };
    static const int threads[] = { 2, 4, 8 };
    register_grid(all, 1, sizes, sizeof sizes / sizeof sizes[0], threads, sizeof threads / sizeof threads[0]);
    return gb_main(argc, argv);
}
