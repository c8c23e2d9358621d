/* stress_util.h: what every stress program shares: argument parsing
 * (DURATION_S THREADS SEED), a clock, a PRNG, and blocks whose payload is a
 * pattern of their address, size and tag, checked before every free. They
 * call obmt_* so that they also build under ThreadSanitizer. */
#ifndef OBMT_STRESS_UTIL_H
#define OBMT_STRESS_UTIL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "obmt.h"

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

static inline void die(const char *why)
{
    fprintf(stderr, "FAULT: %s\n", why);
    exit(1);
}

/* die() with a printf format. */
__attribute__((format(printf, 1, 2))) static inline void dief(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAULT: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static inline struct obmt_stats stats_now(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    if (obmt_stats_get(&st) != 0)
        die("obmt_stats_get failed");
    return st;
}

/* Sizes across every kind of request: tiny (0..3), fine classes (..512),
 * coarse classes (513..8192) and, 1/16 of the time, the underlying
 * allocator (8193..65536). */
static inline size_t pick_any_size(uint64_t x)
{
    switch (x & 15) {
    case 0: return 8193 + (x >> 8) % (65536 - 8192);
    case 1: return (x >> 8) % 4;
    case 2: case 3: case 4: case 5: return 513 + (x >> 8) % (8192 - 512);
    default: return 1 + (x >> 8) % 512;
    }
}

/* Resident memory of the process, KiB (/proc/self/statm). */
static inline long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
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

/* Write the pattern into a block of n bytes at p. */
static inline void block_fill(void *vp, size_t n, uint64_t tag)
{
    unsigned char *p = vp;
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
}

static inline void *block_alloc(size_t n, uint64_t tag)
{
    void *p = obmt_malloc(n);
    if (!p)
        die("obmt_malloc returned NULL");
    if (obmt_usable_size(p) < n)
        die("usable size below the request");
    block_fill(p, n, tag);
    return p;
}

/* Check a block's pattern without freeing it. */
static inline void block_check(const void *vp, size_t n, uint64_t tag, const char *where)
{
    const unsigned char *p = vp;
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
}

static inline void block_check_free(void *p, size_t n, uint64_t tag, const char *where)
{
    block_check(p, n, tag, where);
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
