/*
 * bench_util.h: what the benchmark binaries share. Define BENCH_NAME
 * ("bench_xxx") before including it.
 */
#ifndef OBMT_BENCH_UTIL_H
#define OBMT_BENCH_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gbench.h"

/* splitmix64 */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A block failed its check: say which and stop (a wrong result must not
 * pass as a fast one). */
static inline void fault(const char *what, void *p)
{
    fprintf(stderr, BENCH_NAME ": FAULT: %s (block %p)\n", what, p);
    abort();
}

struct bench_fn {
    const char *name;
    gb_fn fn;
};

/* The most threads a binary's static per-thread tables hold. */
#define BENCH_MAXT 64

/* The thread counts a binary registers: `def` (n entries), unless the
 * environment sets OBMT_BENCH_THREADS to a comma-separated list ("4,8,16"),
 * which replaces it. The lists are sized for the 2-core machine the
 * project is developed on; a machine with more cores measures scaling with
 * the override. A bad list is a fault, not a silent default. */
static inline const int *bench_threads(const int *def, size_t *n)
{
    static int list[32];
    const char *e = getenv("OBMT_BENCH_THREADS");
    if (!e || !*e)
        return def;
    size_t k = 0;
    for (;;) {
        char *end;
        long v = strtol(e, &end, 10);
        if (end == e || v < 1 || v > BENCH_MAXT || k == sizeof list / sizeof list[0] || (*end && *end != ',')) {
            fprintf(stderr, BENCH_NAME ": OBMT_BENCH_THREADS: want a comma-separated list of 1..%d (at most 32)\n", BENCH_MAXT);
            exit(2);
        }
        list[k++] = (int)v;
        if (!*end)
            break;
        e = end + 1;
    }
    *n = k;
    return list;
}

/* Register every function with every argument and every thread count,
 * timed in real time (they are multi-threaded). */
static inline void register_grid(const struct bench_fn *fns, size_t nfns, const int64_t *args, size_t nargs,
                                 const int *threads, size_t nthreads)
{
    threads = bench_threads(threads, &nthreads);
    for (size_t k = 0; k < nfns; k++) {
        gb_bench *b = gb_register(fns[k].name, fns[k].fn);
        for (size_t i = 0; i < nargs; i++)
            gb_arg(b, args[i]);
        for (size_t i = 0; i < nthreads; i++)
            gb_threads(b, threads[i]);
        gb_real_time(b);
    }
}
#endif
