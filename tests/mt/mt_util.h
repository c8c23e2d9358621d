/* mt_util.h: helpers for the multi-thread tests. They call obmt_* (never
 * malloc, which ThreadSanitizer owns in the TSan build) and check a pattern
 * derived from each block's address, size and a tag before freeing it. */
#ifndef OBMT_MT_UTIL_H
#define OBMT_MT_UTIL_H
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "obmt.h"
#include "../check.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif
/* ThreadSanitizer runs code 5-15x slower: scale the work down, not out. */
#define SCALE(n) (UNDER_TSAN ? (n) / 8 : (n))

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Write / check the pattern over the first min(n, 64) bytes and the last word. */
static inline void pattern_fill(void *p, size_t n, uint64_t tag)
{
    unsigned char *c = p;
    uint64_t s = mix64((uintptr_t)p ^ n ^ (tag << 20));
    size_t k = n < 64 ? n : 64;
    for (size_t i = 0; i < k; i++)
        c[i] = (unsigned char)(s >> ((i & 7) * 8)) ^ (unsigned char)i;
    if (n >= 72)
        memcpy(c + n - 8, &s, 8);
}
static inline int pattern_ok(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *c = p;
    uint64_t s = mix64((uintptr_t)p ^ n ^ (tag << 20));
    size_t k = n < 64 ? n : 64;
    for (size_t i = 0; i < k; i++)
        if (c[i] != ((unsigned char)(s >> ((i & 7) * 8)) ^ (unsigned char)i))
            return 0;
    if (n >= 72 && memcmp(c + n - 8, &s, 8) != 0)
        return 0;
    return 1;
}

static inline uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return mix64(*s);
}

/* Resident pages of the pool of `pool` bytes at `start`, from its page
 * `from` on (1: all but the header's page). An unmapped page (its arena
 * given back with its address space, src/window.c) is not resident. */
static inline int pool_resident_pages(const void *start, size_t pool, size_t from)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char vec[64];
    CHECK(pool / page <= 64 && from < pool / page);
    if (mincore((char *)start + from * page, pool - from * page, vec) != 0) {
        CHECK(errno == ENOMEM);
        for (size_t i = 0; i < pool / page - from; i++)
            if (mincore((char *)start + (from + i) * page, page, &vec[i]) != 0)
                vec[i] = 0;
    }
    int n = 0;
    for (size_t i = 0; i < pool / page - from; i++)
        n += vec[i] & 1;
    return n;
}

static inline struct obmt_stats stats_now(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    return st;
}

/* Blocks per pool of the class that serves `size` bytes (fewer in secure
 * mode, whose pools end in a page without blocks). */
static inline size_t blocks_per_pool_for(size_t size)
{
    struct obmt_stats st = stats_now();
    for (uint32_t c = 0; c < st.nclasses; c++)
        if (st.classes[c].block_size >= size)
            return st.classes[c].blocks_per_pool;
    CHECK_MSG(0, "no class serves %zu bytes", size);
    return 0;
}
#endif
