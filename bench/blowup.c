/*
 * blowup: how much memory an allocator holds beyond the live data when many
 * threads free each other's blocks (Berger et al.'s "blowup", the shape of
 * issue 10). Plain malloc and free only (no obmt API, no Google Benchmark),
 * so that it measures whichever allocator is LD_PRELOADed; bench/blowup.sh
 * runs it under obmt, glibc, jemalloc, mimalloc and tcmalloc.
 *
 *   blowup [--threads T] [--ops N] [--slots S] [--min B] [--max B]
 *          [--idle SECONDS] [--activity N] [--seed N]
 *
 * T workers (default 64) each allocate N blocks (default 20,000) of a
 * uniformly random size in [B_min, B_max] (default 1..8000 bytes). Each new
 * block replaces one of S shared slots (default 4,096), chosen at random,
 * by an atomic exchange; the block it displaces, most likely allocated by
 * another thread, is checked and freed. So live data never exceeds
 * S * B_max bytes (about 32 MB; about 16 MB on average) and almost every
 * free is a cross-thread free. Every block carries a tag in its first
 * words and a marker in its last byte, checked before it is freed (a
 * mismatch aborts).
 *
 * Phases, reported as one line of key=value (RSS from /proc/self/statm,
 * MiB):
 *   rss_base     the workers started and parked, before their work
 *   rss_alive    every worker has done its N operations and is parked,
 *                alive (the slots hold the live data)
 *   rss_idle     IDLE seconds (default 2) later, in ten steps of a tenth
 *                of the time, each followed by a tenth of ACTIVITY (default
 *                10,000) malloc/free pairs on the main thread through a
 *                ring of 64 blocks: the allocator calls that let an
 *                allocator without a background thread act on time-based
 *                purging, as a server's main thread would. The workers stay
 *                parked: what their thread caches hold is what this
 *                measures.
 *   rss_exited   the workers have exited (joined)
 *   live_mib     the bytes the slots hold (requested sizes) at rss_alive
 *   ops_per_s    the workers' operations (one malloc and one free each,
 *                but the first S) per second of wall time, all together
 * With BLOWUP_STATS=1 in the environment and obmt preloaded, obmt's
 * statistics (obmt_stats_print, found with dlsym) go to stderr at
 * rss_alive and rss_idle.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc_rss.h"

static int nthreads = 64, idle_s = 2;
static long ops = 20000, nslots = 4096, bmin = 1, bmax = 8000, activity = 10000;
static unsigned long seed = 1;
static _Atomic(unsigned char *) *slots;
static pthread_barrier_t start_bar, done_bar, exit_bar;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* A block: [size:8][tag:8 if it fits] ... [marker:1]. */
static void stamp(unsigned char *p, size_t size, uint64_t tag)
{
    memcpy(p, &size, 8);
    memcpy(p + 8, &tag, 8);
    p[size - 1] = (unsigned char)(size * 31 + 7);
}

static size_t check(unsigned char *p)
{
    size_t size;
    memcpy(&size, p, 8);
    if (size < 16 || size > (size_t)bmax) {
        fprintf(stderr, "blowup: block %p has a bad size word %zu (corrupted)\n", (void *)p, size);
        abort();
    }
    if (p[size - 1] != (unsigned char)(size * 31 + 7)) {
        fprintf(stderr, "blowup: block %p of %zu bytes lost its end marker (corrupted)\n", (void *)p, size);
        abort();
    }
    return size;
}

/* Sizes under 16 are rounded up to 16, so that every block has room for
 * its size word and tag and can be checked. */
static size_t pick_size(uint64_t *s)
{
    size_t size = (size_t)(bmin + (long)(rng(s) % (uint64_t)(bmax - bmin + 1)));
    return size < 16 ? 16 : size;
}

static _Atomic long live_bytes;

static void stats_line(const char *line, void *arg)
{
    fprintf(stderr, "[%s] %s\n", (const char *)arg, line);
}

static void obmt_stats_at(const char *phase)
{
    const char *e = getenv("BLOWUP_STATS");
    if (!e || *e != '1')
        return;
    void (*print)(void (*)(const char *, void *), void *) =
        (void (*)(void (*)(const char *, void *), void *))dlsym(RTLD_DEFAULT, "obmt_stats_print");
    if (print)
        print(stats_line, (void *)phase);
}

static void *worker(void *arg)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + (uint64_t)(uintptr_t)arg * 7919 + 1;
    pthread_barrier_wait(&start_bar);
    for (long i = 0; i < ops; i++) {
        size_t size = pick_size(&s);
        unsigned char *b = malloc(size);
        if (!b) {
            fprintf(stderr, "blowup: malloc(%zu) failed: %s\n", size, strerror(errno));
            abort();
        }
        memset(b, (int)(i & 0xff), size);
        stamp(b, size, ((uint64_t)(uintptr_t)arg << 32) | (uint64_t)i);
        atomic_fetch_add_explicit(&live_bytes, (long)size, memory_order_relaxed);
        unsigned char *old = atomic_exchange_explicit(&slots[rng(&s) % (uint64_t)nslots], b, memory_order_acq_rel);
        if (old) {
            size_t osize = check(old);
            atomic_fetch_sub_explicit(&live_bytes, (long)osize, memory_order_relaxed);
            free(old);
        }
    }
    if (getenv("BLOWUP_COLLECT")) {
        void (*collect)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "obmt_collect");
        if (collect)
            collect();
    }
    pthread_barrier_wait(&done_bar);
    pthread_barrier_wait(&exit_bar); /* parked, alive, until main has measured */
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: blowup [--threads T] [--ops N] [--slots S] [--min B] [--max B] [--idle SECONDS] "
                    "[--activity N] [--seed N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        long v = strtol(argv[++i], NULL, 10);
        if (!strcmp(a, "--threads")) nthreads = (int)v;
        else if (!strcmp(a, "--ops")) ops = v;
        else if (!strcmp(a, "--slots")) nslots = v;
        else if (!strcmp(a, "--min")) bmin = v;
        else if (!strcmp(a, "--max")) bmax = v;
        else if (!strcmp(a, "--idle")) idle_s = (int)v;
        else if (!strcmp(a, "--activity")) activity = v;
        else if (!strcmp(a, "--seed")) seed = (unsigned long)v;
        else usage();
    }
    if (nthreads < 1 || ops < 1 || nslots < 1 || bmin < 1 || bmax < bmin || bmax < 16 || idle_s < 0)
        usage();
    slots = calloc((size_t)nslots, sizeof *slots);
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    if (!slots || !t)
        abort();
    pthread_barrier_init(&start_bar, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&done_bar, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&exit_bar, NULL, (unsigned)nthreads + 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10); /* 1,024 threads: 256 MiB of stacks, reserved, not resident */
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], &attr, worker, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "blowup: pthread_create %d failed\n", i);
            return 1;
        }
    double rss_base = rss_mib();
    double t0 = now_s();
    pthread_barrier_wait(&start_bar);
    pthread_barrier_wait(&done_bar);
    double secs = now_s() - t0;
    double rss_alive = rss_mib();
    double live = (double)atomic_load(&live_bytes) / (1024.0 * 1024.0);
    obmt_stats_at("alive");
    uint64_t s = seed + 12345;
    unsigned char *ring[64] = {0};
    for (int step = 0; step < 10; step++) {
        usleep((useconds_t)idle_s * 100000u);
        for (long i = step * activity / 10; i < (step + 1) * activity / 10; i++) {
            unsigned k = (unsigned)(i & 63);
            if (ring[k])
                free(ring[k]);
            size_t size = pick_size(&s);
            ring[k] = malloc(size);
            if (!ring[k])
                abort();
            memset(ring[k], 1, size);
        }
    }
    for (unsigned k = 0; k < 64; k++)
        free(ring[k]);
    double rss_idle = rss_mib();
    obmt_stats_at("idle");
    pthread_barrier_wait(&exit_bar);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    double rss_exited = rss_mib();
    for (long i = 0; i < nslots; i++) {
        unsigned char *b = atomic_load(&slots[i]);
        if (b) {
            check(b);
            free(b);
        }
    }
    printf("threads=%d ops=%ld slots=%ld live_mib=%.1f rss_base=%.1f rss_alive=%.1f rss_idle=%.1f rss_exited=%.1f "
           "ops_per_s=%.0f\n",
           nthreads, ops, nslots, live, rss_base, rss_alive, rss_idle, rss_exited,
           (double)nthreads * (double)ops / secs);
    free(t);
    free(slots);
    return 0;
}
