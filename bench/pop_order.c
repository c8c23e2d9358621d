/*
 * pop_order: in what address order does a producer get blocks back, once
 * its consumers have freed them many times?
 *
 *   pop_order SIZE CONSUMERS BLOCKS
 *
 * The main thread mallocs blocks of SIZE bytes in messages of 64 and hands
 * each message to one of CONSUMERS threads (round robin over single-
 * producer/single-consumer rings of 16 messages), which free them: the
 * shape of bench_producer's producer_1toN. It records the address of every
 * block it mallocs (BLOCKS in all) and prints, for each sixteenth of the
 * run, the share of steps between two consecutive mallocs that go one
 * block up or one block down. A malloc whose next block is a neighbour can
 * be prefetched from the addresses (a stride); one whose next block is
 * anywhere cannot, and waits for the link that the consumer's core wrote.
 * Plain malloc and free, to run under LD_PRELOAD of each allocator
 * (bench/results/2026-12-01-remote-hints.md). Consumers only free; each
 * makes one malloc first, so that an allocator that gives a thread its
 * cache on its first malloc gives one to them too.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MSG 64
#define RING 16
#define MAXC 16

struct ring {
    _Alignas(64) atomic_size_t head;
    _Alignas(64) atomic_size_t tail;
    _Alignas(64) void *msg[RING][MSG];
};

static struct ring rings[MAXC];
static atomic_int done;

static void *consumer(void *arg)
{
    struct ring *r = arg;
    free(malloc(8));
    for (;;) {
        size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        while (atomic_load_explicit(&r->tail, memory_order_acquire) == h) {
            /* done, and still nothing: the producer's last push came
             * before its store of done (both seq_cst loads here) */
            if (atomic_load(&done) && atomic_load(&r->tail) == h)
                return NULL;
            sched_yield();
        }
        for (int i = 0; i < MSG; i++)
            free(r->msg[h % RING][i]);
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SIZE CONSUMERS BLOCKS\n", argv[0]);
        return 2;
    }
    size_t size = (size_t)atol(argv[1]), n = (size_t)atol(argv[3]);
    int nc = atoi(argv[2]);
    if (size < 8 || nc < 1 || nc > MAXC || n < 16 * MSG) {
        fprintf(stderr, "pop_order: SIZE >= 8, 1 <= CONSUMERS <= %d, BLOCKS >= %d\n", MAXC, 16 * MSG);
        return 2;
    }
    n -= n % MSG;
    uintptr_t *addr = malloc(n * sizeof *addr);
    if (!addr)
        return 1;
    pthread_t t[MAXC];
    for (int i = 0; i < nc; i++)
        if (pthread_create(&t[i], NULL, consumer, &rings[i]) != 0)
            return 1;
    size_t k = 0;
    for (int c = 0; k < n; c = (c + 1) % nc) {
        struct ring *r = &rings[c];
        size_t tl = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (tl - atomic_load_explicit(&r->head, memory_order_acquire) >= RING) {
            sched_yield();
            continue;
        }
        for (int i = 0; i < MSG; i++) {
            void *p = malloc(size);
            if (!p)
                return 1;
            *(volatile char *)p = 1;
            r->msg[tl % RING][i] = p;
            addr[k++] = (uintptr_t)p;
        }
        atomic_store_explicit(&r->tail, tl + 1, memory_order_release);
    }
    atomic_store(&done, 1);
    for (int i = 0; i < nc; i++)
        pthread_join(t[i], NULL);
    printf("pop_order: %zu blocks of %zu bytes, %d consumers: steps of one block up or down, by sixteenth of the run\n",
           n, size, nc);
    size_t part = n / 16;
    for (int w = 0; w < 16; w++) {
        size_t near = 0, all = 0;
        for (size_t i = w * part; i + 1 < (w + 1) * part; i++, all++) {
            intptr_t d = (intptr_t)(addr[i + 1] - addr[i]);
            near += d == (intptr_t)size || d == -(intptr_t)size;
        }
        printf("  %2d/16: %5.1f%%\n", w + 1, 100.0 * (double)near / (double)all);
    }
    free(addr);
    return 0;
}
