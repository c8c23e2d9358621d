/* stress_util.h: what every stress program shares: argument parsing
 * (DURATION_S THREADS SEED), a clock, a PRNG, and blocks whose payload is a
 * pattern of their address, size and tag, checked before every free. They
 * call obmt_* so that they also build under ThreadSanitizer. */
#ifndef OBMT_STRESS_UTIL_H
#define OBMT_STRESS_UTIL_H
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obmt.h"

static inline void die(const char *why)
{
    fprintf(stderr, "FAULT: %s\n", why);
    exit(1);
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline void parse_args(int argc, char **argv, double *duration, int *threads, uint64_t *seed)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DURATION_SECONDS THREADS SEED\n", argv[0]);
        exit(2);
    }
    *duration = atof(argv[1]);
    *threads = atoi(argv[2]);
    *seed = strtoull(argv[3], NULL, 10);
    if (*duration <= 0 || *threads < 1 || *threads > 1024) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        exit(2);
    }
}

/* The pattern: word k of the block holds mix(address, size, tag, k) for the
 * first 8 words and the last word. */
static inline uint64_t pattern_word(const void *p, size_t n, uint64_t tag, size_t k)
{
    uint64_t s = (uintptr_t)p ^ ((uint64_t)n << 32) ^ (tag << 48) ^ (k * 0x9e3779b97f4a7c15ULL);
    return rng_next(&s);
}

static inline void *block_alloc(size_t n, uint64_t tag)
{
    unsigned char *p = obmt_malloc(n);
    if (!p)
        die("obmt_malloc returned NULL");
    if (obmt_usable_size(p) < n)
        die("usable size below the request");
    size_t words = n / 8;
    for (size_t k = 0; k < words && k < 8; k++) {
        uint64_t w = pattern_word(p, n, tag, k);
        memcpy(p + 8 * k, &w, 8);
    }
    if (words > 8) {
        uint64_t w = pattern_word(p, n, tag, words - 1);
        memcpy(p + 8 * (words - 1), &w, 8);
    }
    for (size_t b = words * 8; b < n; b++)
        p[b] = (unsigned char)(tag + b);
    return p;
}

static inline void block_check_free(void *vp, size_t n, uint64_t tag, const char *where)
{
    unsigned char *p = vp;
    size_t words = n / 8;
    for (size_t k = 0; k < words; k++) {
        if (k >= 8 && k != words - 1)
            continue;
        uint64_t w;
        memcpy(&w, p + 8 * k, 8);
        if (w != pattern_word(p, n, tag, k)) {
            fprintf(stderr, "FAULT: %s block %p size %zu tag %llu: word %zu corrupted\n", where, vp, n,
                    (unsigned long long)tag, k);
            exit(1);
        }
    }
    for (size_t b = words * 8; b < n; b++)
        if (p[b] != (unsigned char)(tag + b)) {
            fprintf(stderr, "FAULT: %s block %p size %zu: byte %zu corrupted\n", where, vp, n, b);
            exit(1);
        }
    obmt_free(p);
}

static inline void run_threads(int n, void *(*fn)(void *))
{
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i) != 0)
            die("pthread_create");
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
}
#endif
