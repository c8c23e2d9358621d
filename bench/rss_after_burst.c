/*
 * rss_after_burst: how much of a burst's memory an allocator gives back to
 * the OS, and when. Plain malloc and free only (no obmt API, no Google
 * Benchmark), so that it measures whichever allocator is LD_PRELOADed;
 * bench/rss.sh runs it under obmt, glibc, jemalloc, mimalloc and tcmalloc.
 *
 *   rss_after_burst [--scenario free|keep64|keep512|all] [--threads T]
 *                   [--mib N] [--idle SECONDS] [--activity N]
 *                   [--activity-on main|workers] [--smoke]
 *
 * Scenarios (one burst each; `all` runs the three in turn in one process,
 * each starting from what the one before left):
 *   free      burst, all freed
 *   keep64    burst, every 64th block of each thread kept alive to the end
 *             (fragmentation: nearly every page of small blocks stays pinned)
 *   keep512   burst, every 512th block kept
 *
 * The burst: T worker threads (default 2) allocate N MiB in all (requested
 * bytes, default 256) of blocks of mixed sizes: 55% 16..128, 27% 129..512,
 * 12% 513..1024 and 6% 1025..8192 bytes (about 490 bytes on average, some
 * 540,000 blocks for 256 MiB). Every block is written in full (a program
 * that asks for memory writes it) and carries a tag in its second word and
 * a marker in its last byte, checked before it is freed (a mismatch
 * aborts). Blocks are chained through their first word, so the harness
 * holds no memory that grows with the burst. A thread's blocks alternate
 * between a list it frees itself and a list that thread (t + 1) % T frees:
 * half of all frees are cross-thread. In the keep scenarios every 64th
 * (512th) block a thread allocates goes to a third list instead and stays
 * live to the end of the scenario.
 *
 * Phases, each reported as one line (RSS from /proc/self/statm):
 *   baseline     workers started and parked, before the burst
 *   peak         every worker has allocated its share (nothing freed yet)
 *   freed        every worker has done its frees (workers parked, alive)
 *   idle1        IDLE seconds (default 2) of sleep, then ACTIVITY (default
 *                10,000) malloc/free pairs of the same mixed sizes through a
 *                ring of 64 live blocks, on the main thread (or, with
 *                --activity-on workers, on each worker): the allocator calls
 *                that let an allocator without a background thread act on a
 *                time-based purge
 *   idle2        another IDLE seconds, then the same activity
 *   joined       the workers have exited (pthread_join), measured at once
 *   joined_idle  another IDLE seconds, then the activity on the main thread
 * The workers stay alive and idle from `freed` to `idle2`, as a server's
 * thread pool does after a burst of traffic; `joined` and `joined_idle`
 * show what changes once they exit.
 *
 * Output: a comment line (#), then one line per (scenario, phase), e.g.
 *   rss scenario=keep64 threads=2 phase=idle1 t_s=2.213 rss_mib=31.2 live_mib=4.000 live_blocks=8600
 * t_s: seconds since the scenario started. live_mib and live_blocks: the
 * blocks the program holds at that point (requested bytes: the whole burst
 * at `peak`, the kept blocks after it), which is what RSS is to be compared
 * with. The activity holds nothing when a phase is measured. The process's
 * own fixed RSS (code, thread stacks, allocator metadata) is in `baseline`.
 *
 * --smoke: all three scenarios, 2 threads, 8 MiB, 0.1 s idle, 1,000
 * activity pairs (ctest -L bench).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc_rss.h"

#define MAXT 64
#define MAGIC 0x5ca1ab1e0ddba11ULL
#define MAXSIZE 8192

struct blk {                            /* the head of every block (>= 16 bytes) */
    struct blk *next;
    uint64_t tag;                       /* size ^ MAGIC */
};

struct worker {
    pthread_t tid;
    int index;
    uint64_t rng;
    struct blk *own;                    /* freed by this thread */
    struct blk *give;                   /* freed by thread (index + 1) % T */
    struct blk *kept;                   /* live to the end of the scenario */
    size_t kept_blocks, kept_bytes;
    size_t burst_blocks, burst_bytes;   /* the whole burst */
    char pad[64];
};

static struct {
    const char *scenario;
    int threads;
    size_t burst_bytes;
    double idle_s;
    long activity;
    bool activity_on_workers;
} cfg = { "free", 2, (size_t)256 << 20, 2.0, 10000, false };

static struct worker workers[MAXT];
static pthread_barrier_t bar;           /* the workers and the main thread */
static enum { CMD_ACTIVITY, CMD_EXIT } command;
static unsigned keep_every;             /* 0: keep nothing */
static struct timespec t0;

/* ---- helpers ----------------------------------------------------------------- */

static _Noreturn void die(const char *what, const void *p)
{
    fprintf(stderr, "rss_after_burst: FAULT: %s (%p)\n", what, p);
    abort();
}

/* splitmix64 */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline size_t rand_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 55)
        return 16 + (size_t)(r % 113);    /* 16..128 */
    if (pick < 82)
        return 129 + (size_t)(r % 384);   /* 129..512 */
    if (pick < 94)
        return 513 + (size_t)(r % 512);   /* 513..1024 */
    return 1025 + (size_t)(r % (MAXSIZE - 1024)); /* 1025..8192 */
}

static struct blk *blk_new(size_t sz)
{
    struct blk *b = malloc(sz);
    if (!b)
        die("malloc returned NULL", NULL);
    memset(b, (int)(sz & 0xff), sz);    /* write it all: it is the program's memory */
    b->tag = sz ^ MAGIC;
    if (sz > 16) /* at 16 the last byte is the tag's */
        ((unsigned char *)b)[sz - 1] = (unsigned char)(sz * 7 + 1);
    return b;
}

static void blk_free(struct blk *b)
{
    size_t sz = (size_t)(b->tag ^ MAGIC);
    if (sz < 16 || sz > MAXSIZE || (sz > 16 && ((unsigned char *)b)[sz - 1] != (unsigned char)(sz * 7 + 1)))
        die("block overwritten before free", b);
    free(b);
}

static void free_list(struct blk *b)
{
    while (b) {
        struct blk *next = b->next;
        blk_free(b);
        b = next;
    }
}


static double since_t0(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A little allocator traffic on the calling thread: n malloc/free pairs of
 * the burst's sizes through a ring of 64 live blocks; holds nothing on
 * return. */
static void activity(long n, uint64_t seed)
{
    struct blk *ring[64] = { 0 };
    uint64_t rng = seed;
    for (long i = 0; i < n; i++) {
        unsigned k = (unsigned)(rng_next(&rng) & 63);
        if (ring[k])
            blk_free(ring[k]);
        ring[k] = blk_new(rand_size(&rng));
    }
    for (unsigned k = 0; k < 64; k++)
        if (ring[k])
            blk_free(ring[k]);
}

static void report(const char *phase)
{
    double rss = rss_mib(); /* first: nothing below allocates before it */
    bool peak = strcmp(phase, "peak") == 0;
    size_t blocks = 0, bytes = 0;
    for (int i = 0; i < cfg.threads; i++) {
        blocks += peak ? workers[i].burst_blocks : workers[i].kept_blocks;
        bytes += peak ? workers[i].burst_bytes : workers[i].kept_bytes;
    }
    printf("rss scenario=%s threads=%d phase=%s t_s=%.3f rss_mib=%.1f live_mib=%.3f live_blocks=%zu\n",
           cfg.scenario, cfg.threads, phase, since_t0(), rss, (double)bytes / (1024.0 * 1024.0), blocks);
    fflush(stdout);
}

/* ---- the workers ------------------------------------------------------------------ */

/* Each step is one barrier of the workers and the main thread, which
 * measures between them. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int n = cfg.threads;
    size_t quota = cfg.burst_bytes / (size_t)n, bytes = 0, count = 0;
    pthread_barrier_wait(&bar); /* parked: main takes the baseline */
    pthread_barrier_wait(&bar); /* go */
    while (bytes < quota) {
        size_t sz = rand_size(&w->rng);
        struct blk *b = blk_new(sz);
        bytes += sz;
        if (keep_every && count % keep_every == 0) {
            b->next = w->kept;
            w->kept = b;
            w->kept_blocks++;
            w->kept_bytes += sz;
        } else if (count & 1) {
            b->next = w->give;
            w->give = b;
        } else {
            b->next = w->own;
            w->own = b;
        }
        count++;
    }
    w->burst_blocks = count;
    w->burst_bytes = bytes;
    pthread_barrier_wait(&bar); /* allocated: main takes the peak */
    pthread_barrier_wait(&bar); /* free */
    free_list(w->own);
    w->own = NULL;
    struct worker *from = &workers[(w->index + n - 1) % n]; /* the list it gave us */
    free_list(from->give);
    from->give = NULL;
    pthread_barrier_wait(&bar); /* freed */
    for (;;) {
        pthread_barrier_wait(&bar); /* main posts a command */
        if (command == CMD_EXIT)
            return NULL;
        activity(cfg.activity, 0xac71b17ULL + (uint64_t)w->index);
        pthread_barrier_wait(&bar); /* done */
    }
}

/* Idle, then some allocator traffic, then measure. */
static void idle_phase(const char *phase, bool workers_alive)
{
    sleep_s(cfg.idle_s);
    if (workers_alive && cfg.activity_on_workers) {
        command = CMD_ACTIVITY;
        pthread_barrier_wait(&bar);
        pthread_barrier_wait(&bar);
    } else {
        activity(cfg.activity, 0xac71b17ULL);
    }
    report(phase);
}

static void run_scenario(const char *name)
{
    cfg.scenario = name;
    if (strcmp(name, "free") == 0)
        keep_every = 0;
    else if (strcmp(name, "keep64") == 0)
        keep_every = 64;
    else if (strcmp(name, "keep512") == 0)
        keep_every = 512;
    else
        die("unknown scenario", NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (pthread_barrier_init(&bar, NULL, (unsigned)cfg.threads + 1) != 0)
        die("pthread_barrier_init failed", NULL);
    for (int i = 0; i < cfg.threads; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].index = i;
        workers[i].rng = 0x9b05688c2b3e6c1fULL * (uint64_t)(i + 1);
    }
    for (int i = 0; i < cfg.threads; i++)
        if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]) != 0)
            die("pthread_create failed", NULL);
    pthread_barrier_wait(&bar);
    report("baseline");
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    report("peak");
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    report("freed");
    idle_phase("idle1", true);
    idle_phase("idle2", true);
    command = CMD_EXIT;
    pthread_barrier_wait(&bar);
    for (int i = 0; i < cfg.threads; i++)
        pthread_join(workers[i].tid, NULL);
    report("joined");
    idle_phase("joined_idle", false);
    pthread_barrier_destroy(&bar);
    /* Free the kept blocks (checked), for the next scenario of `all`. */
    for (int i = 0; i < cfg.threads; i++) {
        free_list(workers[i].kept);
        workers[i].kept = NULL;
        workers[i].kept_blocks = workers[i].kept_bytes = 0;
    }
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: rss_after_burst [--scenario free|keep64|keep512|all] [--threads T] [--mib N]\n"
                    "           [--idle SECONDS] [--activity N] [--activity-on main|workers] [--smoke]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *scenario = "free";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--smoke") == 0) {
            scenario = "all";
            cfg.threads = 2;
            cfg.burst_bytes = (size_t)8 << 20;
            cfg.idle_s = 0.1;
            cfg.activity = 1000;
            continue;
        }
        if (!v)
            usage();
        char *end = NULL;
        if (strcmp(a, "--scenario") == 0) {
            scenario = v;
        } else if (strcmp(a, "--threads") == 0) {
            cfg.threads = (int)strtol(v, &end, 10);
        } else if (strcmp(a, "--mib") == 0) {
            cfg.burst_bytes = (size_t)strtoul(v, &end, 10) << 20;
        } else if (strcmp(a, "--idle") == 0) {
            cfg.idle_s = strtod(v, &end);
        } else if (strcmp(a, "--activity") == 0) {
            cfg.activity = strtol(v, &end, 10);
        } else if (strcmp(a, "--activity-on") == 0) {
            if (strcmp(v, "main") && strcmp(v, "workers"))
                usage();
            cfg.activity_on_workers = strcmp(v, "workers") == 0;
        } else {
            usage();
        }
        if (end && (*end || end == v))
            usage();
        i++;
    }
    if (cfg.threads < 1 || cfg.threads > MAXT || cfg.burst_bytes == 0 || !(cfg.idle_s >= 0) || cfg.activity < 0)
        usage();
    if (strcmp(scenario, "all") && strcmp(scenario, "free") && strcmp(scenario, "keep64") &&
        strcmp(scenario, "keep512"))
        usage();
    printf("# rss_after_burst: scenario %s, %d threads, %zu MiB, idle %g s, activity %ld pairs on %s\n", scenario,
           cfg.threads, cfg.burst_bytes >> 20, cfg.idle_s, cfg.activity,
           cfg.activity_on_workers ? "each worker (idle1, idle2) and main (joined_idle)" : "the main thread");
    fflush(stdout);
    if (strcmp(scenario, "all") == 0) {
        run_scenario("free");
        run_scenario("keep64");
        run_scenario("keep512");
    } else {
        run_scenario(scenario);
    }
    return 0;
}
