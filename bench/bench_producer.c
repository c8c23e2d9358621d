/*
 * bench_producer: blocks allocated in one thread and freed in another
 * (remote frees), through bounded lock-free single-producer/single-consumer
 * rings written here. A message is a batch of 64 pointers, stored in the
 * ring slot itself, so the transfer costs two atomic index updates per 64
 * blocks, small next to 64 mallocs and 64 frees.
 *
 *   producer_pairs/SIZE/threads:T  T/2 independent 1:1 pairs (even T)
 *   producer_1toN/SIZE/threads:T   thread 0 allocates, T-1 threads free
 *   producer_Nto1/SIZE/threads:T   T-1 threads allocate, thread 0 frees
 *
 * Roles come from the Google Benchmark thread index; every thread does the
 * same number of iterations, and the per-iteration quotas below make the
 * totals match, so every block allocated is freed before the run ends.
 * With T = 1 every family degenerates to the same baseline: one thread
 * pushes a batch through a ring and pops it back (local frees plus the cost
 * of the transfer mechanism).
 *
 * The producer writes a tag into each block, the consumer checks it before
 * free (a mismatch aborts: a block was handed out twice or overwritten).
 * Waiting spins briefly and then yields, since 8 threads on 2 cores is a
 * valid case. Items are blocks transferred (malloc in one thread + free in
 * another); only consumers count them. SIZE is 16, 64, 256 or 1024 bytes;
 * at most 8 rings x 16 batches x 64 blocks are in flight (8 MiB at 1 KiB).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_NAME "bench_producer"
#include "bench_util.h"

#define MAXT BENCH_MAXT
#define BATCH 64                /* pointers per message */
#define RING 16                 /* messages per ring (power of two) */
#define PER_ITER 4              /* batches each consumer frees per iteration */
#define MAGIC 0x5eedf00dcafe1234ULL

struct ring {
    _Alignas(64) atomic_size_t head; /* next message to pop (consumer) */
    _Alignas(64) atomic_size_t tail; /* next message to push (producer) */
    _Alignas(64) void *msg[RING][BATCH];
};

static struct ring rings[MAXT];

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

static inline void backoff(unsigned *spins)
{
    if (++*spins < 64)
        cpu_relax();
    else {
        *spins = 0;
        sched_yield();
    }
}

/* Producer side: a batch is filled in place in the ring slot. */
static inline bool try_push(struct ring *r, size_t size)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) >= RING)
        return false;
    void **m = r->msg[t & (RING - 1)];
    for (int i = 0; i < BATCH; i++) {
        uint64_t *p = malloc(size);
        if (!p)
            fault("malloc returned NULL", NULL);
        p[0] = (uintptr_t)p ^ MAGIC;
        m[i] = p;
    }
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return true;
}

/* Consumer side: the batch is checked and freed in place. */
static inline bool try_pop(struct ring *r)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (atomic_load_explicit(&r->tail, memory_order_acquire) == h)
        return false;
    void **m = r->msg[h & (RING - 1)];
    for (int i = 0; i < BATCH; i++) {
        uint64_t *p = m[i];
        if (p[0] != ((uintptr_t)p ^ MAGIC))
            fault("tag overwritten before free", p);
        free(p);
    }
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return true;
}

static void push(struct ring *r, size_t size)
{
    unsigned spins = 0;
    while (!try_push(r, size))
        backoff(&spins);
}

static void pop(struct ring *r)
{
    unsigned spins = 0;
    while (!try_pop(r))
        backoff(&spins);
}

static void reset_rings(void)
{
    for (int i = 0; i < MAXT; i++) {
        atomic_store_explicit(&rings[i].head, 0, memory_order_relaxed);
        atomic_store_explicit(&rings[i].tail, 0, memory_order_relaxed);
    }
}

/* Thread 0 resets the rings before its first gb_keep_running; the others
 * touch them only after theirs, and Google Benchmark puts a barrier there. */
static int64_t run_self(gb_state *s, size_t size)
{
    struct ring *r = &rings[0];
    while (gb_keep_running(s))
        for (int b = 0; b < PER_ITER; b++) {
            push(r, size);
            pop(r);
        }
    return gb_iteration_count(s) * PER_ITER * BATCH;
}

static void bm_pairs(gb_state *s)
{
    size_t size = (size_t)gb_range(s, 0);
    int t = gb_thread_index(s), n = gb_thread_count(s);
    int64_t items = 0;
    if (t == 0)
        reset_rings();
    if (n == 1)
        items = run_self(s, size);
    else if (n % 2 != 0) {
        gb_skip_with_error(s, "producer_pairs needs an even thread count");
        while (gb_keep_running(s)) {
        }
    } else {
        struct ring *r = &rings[t / 2];
        if (t % 2 == 0) {
            while (gb_keep_running(s))
                for (int b = 0; b < PER_ITER; b++)
                    push(r, size);
        } else {
            while (gb_keep_running(s))
                for (int b = 0; b < PER_ITER; b++)
                    pop(r);
            items = gb_iteration_count(s) * PER_ITER * BATCH;
        }
    }
    gb_set_items_processed(s, items);
}

static void bm_1toN(gb_state *s)
{
    size_t size = (size_t)gb_range(s, 0);
    int t = gb_thread_index(s), n = gb_thread_count(s);
    int64_t items = 0;
    if (t == 0)
        reset_rings();
    if (n == 1)
        items = run_self(s, size);
    else if (t == 0) {
        /* Each consumer gets PER_ITER batches per iteration; fill whichever
         * ring has room, so that one slow consumer does not stall the rest. */
        int c = n - 1;
        while (gb_keep_running(s)) {
            int quota[MAXT], left = c * PER_ITER;
            for (int i = 0; i < c; i++)
                quota[i] = PER_ITER;
            unsigned spins = 0;
            while (left > 0) {
                bool any = false;
                for (int i = 0; i < c; i++)
                    if (quota[i] > 0 && try_push(&rings[i], size)) {
                        quota[i]--;
                        left--;
                        any = true;
                    }
                if (!any)
                    backoff(&spins);
            }
        }
    } else {
        struct ring *r = &rings[t - 1];
        while (gb_keep_running(s))
            for (int b = 0; b < PER_ITER; b++)
                pop(r);
        items = gb_iteration_count(s) * PER_ITER * BATCH;
    }
    gb_set_items_processed(s, items);
}

static void bm_Nto1(gb_state *s)
{
    size_t size = (size_t)gb_range(s, 0);
    int t = gb_thread_index(s), n = gb_thread_count(s);
    int64_t items = 0;
    if (t == 0)
        reset_rings();
    if (n == 1)
        items = run_self(s, size);
    else if (t == 0) {
        /* PER_ITER batches from each producer per iteration on average;
         * taken from whichever ring has one. */
        int p = n - 1;
        while (gb_keep_running(s)) {
            int left = p * PER_ITER;
            unsigned spins = 0;
            while (left > 0) {
                bool any = false;
                for (int i = 0; i < p && left > 0; i++)
                    if (try_pop(&rings[i])) {
                        left--;
                        any = true;
                    }
                if (!any)
                    backoff(&spins);
            }
        }
        items = gb_iteration_count(s) * p * PER_ITER * BATCH;
    } else {
        struct ring *r = &rings[t - 1];
        while (gb_keep_running(s))
            for (int b = 0; b < PER_ITER; b++)
                push(r, size);
    }
    gb_set_items_processed(s, items);
}

static const int64_t sizes[] = { 16, 64, 256, 1024 };
static const int threads[] = { 1, 2, 4, 8 };

int main(int argc, char **argv)
{
    static const struct bench_fn all[] = {
        { "producer_pairs", bm_pairs }, { "producer_1toN", bm_1toN }, { "producer_Nto1", bm_Nto1 },
    };
    register_grid(all, sizeof all / sizeof all[0], sizes, sizeof sizes / sizeof sizes[0], threads,
                  sizeof threads / sizeof threads[0]);
    return gb_main(argc, argv);
}
