/*
 * stress_blowup DURATION_S THREADS SEED [WORKERS OPS SLOTS MAX_SIZE]
 *
 * Many threads that free each other's blocks and then go idle (issue 10,
 * bench/blowup.c's shape), with obmt's idle bound checked. Rounds until
 * DURATION_S: WORKERS threads (default 16 * THREADS, at most 1024) each
 * allocate OPS blocks (default 4,000) of 1..MAX_SIZE bytes (default 8,000,
 * or obmt's largest pool class if smaller: 7,168 in secure mode);
 * each new block replaces one of SLOTS shared slots (default 2,048) by an
 * atomic exchange, and the block it displaces, most likely another
 * thread's, has its pattern checked and is freed. Then the workers park
 * (blocked on a barrier: outside obmt), and with the background thread on
 * and a purge delay of 50 ms the main thread waits 30 purge delays. Then
 * obmt's resident memory must be within the bound docs/design.md states
 * for idle threads (section 5, "Idle bound"):
 *
 *   RSS_idle <= RSS_start + live_pools * POOL + KEEP_FREE_ARENAS * ARENA
 *               + headers + workers * THREAD_SLACK + SLACK
 *
 * live_pools: the pools that hold a live block (the slots', counted here
 * from their addresses; blocks the underlying allocator serves, past
 * obmt's pools, count with their size); headers: 8 KiB of pool headers per arena ever
 * committed; THREAD_SLACK: a parked thread's resident stack, TLS and
 * glibc's thread structure (32 KiB); SLACK: 8 MiB. Without lending
 * (OBMT_LEND_IDLE=0) the parked workers keep their pools and the check
 * fails (at 64 workers about 4x over). Under ThreadSanitizer and
 * AddressSanitizer resident memory includes their shadow: the payload
 * checks run, the bound is not checked (said so on stdout).
 * Then the workers wake and exit, and the next round starts with the live
 * slots as they are. At the end every slot is checked and freed.
 */
#include "stress_util.h"

#include <stdatomic.h>
#include <unistd.h>

#include "tunables.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define PURGE_DELAY_MS 50
#define THREAD_SLACK_KIB 32
#define SLACK_MIB 8

static int nworkers;
static long ops = 4000, nslots = 2048, max_size = 8000;
static uint64_t base_seed, round_no;
static _Atomic(unsigned char *) *slots;
static pthread_barrier_t done_bar, exit_bar;

/* A block's size lives in its first word (so that whoever takes it out of
 * a slot knows it); the pattern covers the rest. */
static unsigned char *blk_new(size_t n)
{
    if (n < 16)
        n = 16;
    unsigned char *p = obmt_malloc(n);
    if (!p)
        die("obmt_malloc returned NULL");
    memcpy(p, &n, sizeof n);
    block_fill(p + 8, n - 8, 1);
    return p;
}

static void blk_free(unsigned char *p)
{
    size_t n;
    memcpy(&n, p, sizeof n);
    if (n < 16 || n > (size_t)max_size + 16)
        dief("a block's size word reads %zu: overwritten", n);
    block_check(p + 8, n - 8, 1, "a displaced block");
    obmt_free(p);
}

static void *worker(void *arg)
{
    uint64_t seed = base_seed * 1000003 + round_no * 7919 + (uint64_t)(uintptr_t)arg;
    for (long i = 0; i < ops; i++) {
        uint64_t x = rng_next(&seed);
        size_t n = 1 + (size_t)(x % (uint64_t)max_size);
        unsigned char *p = blk_new(n);
        long s = (long)((x >> 32) % (uint64_t)nslots);
        unsigned char *old = atomic_exchange(&slots[s], p);
        if (old)
            blk_free(old);
    }
    pthread_barrier_wait(&done_bar); /* parked: outside obmt */
    pthread_barrier_wait(&exit_bar);
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Pools holding a live block of obmt's, and the live bytes (with those
 * the underlying allocator holds: none unless MAX_SIZE is past obmt's
 * pools). */
static size_t live_pools(size_t *bytes, size_t *other)
{
    uintptr_t *pools = malloc((size_t)nslots * sizeof *pools);
    if (!pools)
        die("malloc");
    size_t n = 0;
    *bytes = *other = 0;
    for (long s = 0; s < nslots; s++) {
        unsigned char *p = atomic_load(&slots[s]);
        if (!p)
            continue;
        size_t sz;
        memcpy(&sz, p, sizeof sz);
        *bytes += sz;
        if (obmt_owns(p))
            pools[n++] = (uintptr_t)p & ~(uintptr_t)(OBMT_POOL_SIZE - 1);
        else
            *other += sz + 32;
    }
    qsort(pools, n, sizeof *pools, cmp_ptr);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || pools[i] != pools[i - 1];
    free(pools);
    return distinct;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 8) {
        fprintf(stderr, "usage: %s DURATION_S THREADS SEED [WORKERS OPS SLOTS MAX_SIZE]\n", argv[0]);
        return 2;
    }
    double duration = atof(argv[1]);
    int threads = atoi(argv[2]);
    base_seed = strtoull(argv[3], NULL, 10);
    nworkers = threads * 16 > 1024 ? 1024 : threads * 16;
    if (argc == 8) {
        nworkers = atoi(argv[4]);
        ops = atol(argv[5]);
        nslots = atol(argv[6]);
        max_size = atol(argv[7]);
    }
    if (argc == 4 && (uint64_t)max_size > stats_now().small_request_max)
        max_size = (long)stats_now().small_request_max; /* secure mode: 7168 */
    if (duration <= 0 || threads < 1 || nworkers < 1 || nworkers > 1024 || ops < 1 || nslots < 1 ||
        max_size < 1 || max_size > (1L << 24)) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    if (UNDER_TSAN)
        ops /= 8;
    slots = calloc((size_t)nslots, sizeof *slots);
    if (!slots)
        die("calloc");
    if (obmt_option_set("purge_delay_ms", PURGE_DELAY_MS) != 0 || obmt_option_set("background_thread", 1) != 0)
        die("cannot set the purge delay or start the background thread");
    long lend = 0;
    obmt_option_get("lend_idle", &lend);
    long rss0 = rss_kib();
    double end = now_s() + duration;
    int rounds = 0;
    do {
        pthread_t *t = malloc((size_t)nworkers * sizeof *t);
        if (!t)
            die("malloc");
        pthread_barrier_init(&done_bar, NULL, (unsigned)nworkers + 1);
        pthread_barrier_init(&exit_bar, NULL, (unsigned)nworkers + 1);
        for (int i = 0; i < nworkers; i++)
            if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) != 0)
                die("pthread_create");
        pthread_barrier_wait(&done_bar);
        long rss_alive = rss_kib();
        long idle_ms = 30L * PURGE_DELAY_MS; /* 1.5 s */
        struct timespec ts = { idle_ms / 1000, idle_ms % 1000 * 1000000L };
        while (nanosleep(&ts, &ts) != 0)
            ;
        long rss_idle = rss_kib();
        size_t bytes, other, pools = live_pools(&bytes, &other);
        struct obmt_stats st = stats_now();
        long bound = rss0 + (long)(pools * OBMT_POOL_SIZE / 1024) + (long)(OBMT_KEEP_FREE_ARENAS * OBMT_ARENA_SIZE / 1024) +
                     (long)(st.arenas_committed_hwm * (OBMT_POOLS_PER_ARENA * OBMT_HEADER_SIZE) / 1024) +
                     (long)nworkers * THREAD_SLACK_KIB + SLACK_MIB * 1024 + (long)(other / 1024);
        printf("round %d: %d workers, %ld ops each: live %.1f MiB in %zu pools; RSS start %.1f, alive %.1f, idle %.1f MiB;"
               " bound %.1f MiB; heaps lent %llu (lend_idle=%ld)\n",
               rounds, nworkers, ops, bytes / 1048576.0, pools, rss0 / 1024.0, rss_alive / 1024.0, rss_idle / 1024.0,
               bound / 1024.0, (unsigned long long)st.heaps_lent, lend);
        if (UNDER_TSAN || UNDER_ASAN)
            printf("  (the bound is not checked under a sanitizer: its shadow memory is resident too)\n");
        else if (rss_idle > bound)
            dief("idle RSS %.1f MiB exceeds the bound %.1f MiB (live %.1f MiB in %zu pools)", rss_idle / 1024.0,
                 bound / 1024.0, bytes / 1048576.0, pools);
        pthread_barrier_wait(&exit_bar);
        for (int i = 0; i < nworkers; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&done_bar);
        pthread_barrier_destroy(&exit_bar);
        free(t);
        rounds++;
        round_no++;
    } while (now_s() < end);
    for (long s = 0; s < nslots; s++) {
        unsigned char *p = atomic_exchange(&slots[s], NULL);
        if (p)
            blk_free(p);
    }
    free(slots);
    printf("stress_blowup: %d rounds ok\n", rounds);
    return 0;
}
