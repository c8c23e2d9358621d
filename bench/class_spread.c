/*
 * class_spread: a cache-behaviour probe for the server-shaped gap.
 *
 *   class_spread CLASSES STEPS SLOTS MAXSIZE
 *
 * CLASSES size classes (16 .. MAXSIZE bytes, evenly spread), SLOTS live
 * blocks of each, filled first. Each step picks a random slot of a random
 * class, frees its block, mallocs a new one of the same size and writes its
 * first byte. One thread, plain malloc/free (run it under LD_PRELOAD of each
 * allocator). Prints nanoseconds per step.
 *
 * Its use is under cachegrind, whose counts do not depend on the machine's
 * load: with many classes and many live blocks, the pools in use outnumber
 * what the cache can hold of their headers, and the misses per step show
 * what an allocator's metadata costs (bench/results/2026-11-29-cross-thread.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s CLASSES STEPS SLOTS MAXSIZE\n", argv[0]);
        return 2;
    }
    int nclass = atoi(argv[1]);
    long steps = atol(argv[2]);
    int slots = atoi(argv[3]);
    size_t maxsz = (size_t)atol(argv[4]);
    if (nclass < 1 || nclass > 512 || steps < 1 || slots < 1 || maxsz < 16) {
        fprintf(stderr, "class_spread: bad arguments\n");
        return 2;
    }
    void **slot = calloc((size_t)nclass * (size_t)slots, sizeof *slot);
    size_t *sz = calloc((size_t)nclass, sizeof *sz);
    if (!slot || !sz)
        return 1;
    for (int c = 0; c < nclass; c++)
        sz[c] = 16 + (size_t)c * ((maxsz - 16) / (size_t)(nclass > 1 ? nclass - 1 : 1)) / 16 * 16;
    for (int c = 0; c < nclass; c++)
        for (int k = 0; k < slots; k++) {
            void *p = malloc(sz[c]);
            if (!p)
                return 1;
            *(volatile char *)p = 1;
            slot[(size_t)c * slots + k] = p;
        }
    uint64_t r = 88172645463325252ull;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < steps; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        int c = (int)(r % (uint64_t)nclass);
        size_t k = (size_t)c * slots + (size_t)((r >> 20) % (uint64_t)slots);
        free(slot[k]);
        void *p = malloc(sz[c]);
        if (!p)
            return 1;
        *(volatile char *)p = 1;
        slot[k] = p;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.2f ns per step\n", ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)steps);
    for (size_t k = 0; k < (size_t)nclass * slots; k++)
        free(slot[k]);
    free(slot);
    free(sz);
    return 0;
}
