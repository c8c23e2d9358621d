/* Huge and medium blocks across threads (src/huge.c, src/span.c): four
 * threads allocate batches of huge, medium and small blocks and free their
 * neighbour's batch, so runs of arenas are claimed, rolled back, given back
 * and coalesced concurrently, beside pool takers in the same arenas, and
 * spans are taken from and given back to span arenas that the purge
 * retires under them; half the rounds with a purge delay
 * of 0, so that freed runs are decommitted and committed again under the
 * claims. Then huge blocks outlive the thread that allocated them, and a
 * fork child (forked while the threads allocate) frees the parent's huge
 * blocks and allocates its own. At the end, quiet, the statistics
 * reconcile. */
#include "mt_util.h"

#include <stdlib.h>
#include <sys/wait.h>

#define THREADS 4
#define ROUNDS SCALE(160)
#define BATCH 12
#define MIB ((size_t)1 << 20)
#define OBMT_POOL_SIZE_BYTES ((uintptr_t)32768) /* the default pool size (a span starts a pool) */

struct item { void *p; size_t n; };
static struct item batches[THREADS][BATCH];
static pthread_barrier_t barrier;
static size_t huge_min, small_max;

static size_t draw(uint64_t *seed)
{
    uint64_t x = rng_next(seed);
    if (x % 3 == 0)
        return huge_min + (size_t)((x >> 8) % (6 * MIB)); /* 1 to 7 MiB */
    if (x % 3 == 1)
        return small_max + 1 + (size_t)((x >> 8) % (huge_min - 1 - small_max)); /* medium: a span */
    return 1 + (size_t)((x >> 8) % 8192);
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = 99 + (uint64_t)id;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BATCH; i++) {
            size_t n = draw(&seed);
            void *p = obmt_malloc(n);
            CHECK(p != NULL);
            CHECK_MSG(obmt_owns(p), "n=%zu", n);
            if (n > small_max && n < huge_min)
                CHECK_MSG(obmt_usable_size(p) >= n && obmt_usable_size(p) - n <= n / 4 &&
                          ((uintptr_t)p & (OBMT_POOL_SIZE_BYTES - 1)) == 0, "medium n=%zu p=%p", n, p);
            if (n >= huge_min)
                CHECK_MSG(obmt_owns(p) && obmt_usable_size(p) >= n && ((uintptr_t)p & (2 * MIB - 1)) == 0,
                          "huge n=%zu p=%p", n, p);
            pattern_fill(p, n, (uint64_t)r);
            batches[id][i] = (struct item){ p, n };
        }
        pthread_barrier_wait(&barrier);
        if (id == 0) {
            long delay = (r & 1) ? 0 : 1000;
            CHECK(obmt_option_set("purge_delay_ms", delay) == 0);
        }
        struct item *theirs = batches[(id + 1) % THREADS];
        for (int i = 0; i < BATCH; i++) {
            CHECK_MSG(pattern_ok(theirs[i].p, theirs[i].n, (uint64_t)r), "round %d: block of %zu bytes", r,
                      theirs[i].n);
            obmt_free(theirs[i].p);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

/* A thread that allocates huge and medium blocks (and frees some medium
 * ones into its span cache, given back at its exit) and exits; main frees
 * the rest. */
static struct item left[8];
static void *leaver(void *arg)
{
    (void)arg;
    uint64_t seed = 7;
    for (int i = 0; i < 6; i++)
        obmt_free(obmt_malloc(small_max + 1 + (size_t)i * 100000));
    for (int i = 0; i < 8; i++) {
        size_t n = (i & 1) ? small_max + 1 + (size_t)(rng_next(&seed) % (huge_min - 1 - small_max))
                           : huge_min + (size_t)(rng_next(&seed) % (4 * MIB));
        left[i] = (struct item){ obmt_malloc(n), n };
        CHECK(left[i].p != NULL);
        pattern_fill(left[i].p, n, 3);
    }
    return NULL;
}

static struct item forked[6];
static volatile int stop;
static void *allocator(void *arg)
{
    uint64_t seed = (uint64_t)(intptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        size_t n = draw(&seed);
        void *p = obmt_malloc(n);
        CHECK(p != NULL);
        pattern_fill(p, n, 1);
        CHECK(pattern_ok(p, n, 1));
        obmt_free(p);
    }
    return NULL;
}

/* A thread that keeps a freed huge run in its heap and sleeps across the
 * forks: in each child it is a dead thread whose run must not stay kept. */
static pthread_barrier_t keeper_ready, keeper_done;
static void *keeper(void *arg)
{
    (void)arg;
    obmt_free(obmt_malloc(16)); /* a heap */
    void *p = obmt_malloc(huge_min + 2 * MIB);
    CHECK(p != NULL);
    obmt_free(p); /* kept */
    pthread_barrier_wait(&keeper_ready);
    pthread_barrier_wait(&keeper_done);
    return NULL;
}

static int child_main(void)
{
    for (int i = 0; i < 6; i++) {
        if (!pattern_ok(forked[i].p, forked[i].n, 4))
            return 2;
        obmt_free(forked[i].p);
    }
    uint64_t seed = 5;
    for (int i = 0; i < 40; i++) {
        size_t n = draw(&seed);
        void *p = obmt_malloc(n);
        if (!p)
            return 3;
        pattern_fill(p, n, 6);
        if (!pattern_ok(p, n, 6))
            return 4;
        obmt_free(p);
    }
    /* The parent's other threads are gone here: the runs their heaps kept
     * went back to their arenas at the fork (huge_keep_drop), so nothing
     * stays cached once the child's own are given back. */
    obmt_collect();
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    if (obmt_stats_get(&st) != 0 || st.bytes_huge_cached != 0)
        return 5;
    return 0;
}

int main(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    huge_min = st.huge_request_min;
    small_max = st.small_request_max;
    CHECK(huge_min > 8192);

    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(obmt_option_set("purge_delay_ms", 1000) == 0);

    pthread_t lt;
    CHECK(pthread_create(&lt, NULL, leaver, NULL) == 0);
    CHECK(pthread_join(lt, NULL) == 0);
    for (int i = 0; i < 8; i++) {
        CHECK(pattern_ok(left[i].p, left[i].n, 3));
        obmt_free(left[i].p);
    }

    pthread_t kt;
    pthread_barrier_init(&keeper_ready, NULL, 2);
    pthread_barrier_init(&keeper_done, NULL, 2);
    CHECK(pthread_create(&kt, NULL, keeper, NULL) == 0);
    pthread_barrier_wait(&keeper_ready);
    for (int round = 0; round < SCALE(16) + 2; round++) {
        uint64_t seed = 11 + (uint64_t)round;
        for (int i = 0; i < 6; i++) {
            size_t n = huge_min + (size_t)(rng_next(&seed) % (5 * MIB));
            forked[i] = (struct item){ obmt_malloc(n), n };
            CHECK(forked[i].p != NULL);
            pattern_fill(forked[i].p, n, 4);
        }
        __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
        pthread_t a[2];
        for (int i = 0; i < 2; i++)
            CHECK(pthread_create(&a[i], NULL, allocator, (void *)(intptr_t)(i + 1 + round * 2)) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child_main());
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child status %d", status);
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        for (int i = 0; i < 2; i++)
            CHECK(pthread_join(a[i], NULL) == 0);
        for (int i = 0; i < 6; i++) {
            CHECK(pattern_ok(forked[i].p, forked[i].n, 4));
            obmt_free(forked[i].p);
        }
    }

    pthread_barrier_wait(&keeper_done);
    CHECK(pthread_join(kt, NULL) == 0);
    CHECK(obmt_stats_get(&st) == 0);
    CHECK_MSG(st.huge_allocs == st.huge_frees && st.huge_bytes_in_use == 0 && st.bytes_huge == st.bytes_huge_cached,
              "huge: %llu allocated, %llu freed, %llu bytes live, %llu bytes held, %llu of them cached",
              (unsigned long long)st.huge_allocs, (unsigned long long)st.huge_frees,
              (unsigned long long)st.huge_bytes_in_use, (unsigned long long)st.bytes_huge,
              (unsigned long long)st.bytes_huge_cached);
    CHECK_MSG(st.medium_allocs == st.medium_frees && st.medium_bytes_in_use == 0,
              "medium: %llu allocated, %llu freed, %llu bytes live", (unsigned long long)st.medium_allocs,
              (unsigned long long)st.medium_frees, (unsigned long long)st.medium_bytes_in_use);
    CHECK(st.medium_allocs > 0);
    obmt_collect(); /* gives the cached runs back, retires the wholly free span arenas */
    CHECK(obmt_stats_get(&st) == 0);
    CHECK_MSG(st.bytes_huge == 0 && st.bytes_huge_cached == 0 && st.bytes_medium == 0,
              "after obmt_collect: %llu bytes held by huge blocks, %llu by span arenas",
              (unsigned long long)st.bytes_huge, (unsigned long long)st.bytes_medium);
    CHECK_MSG(st.bytes_committed == st.bytes_in_use + st.bytes_free_in_pools + st.bytes_empty_pools +
              st.bytes_free_pools + st.bytes_huge + st.bytes_medium, "committed %llu does not reconcile",
              (unsigned long long)st.bytes_committed);
    CHECK_DONE("mt_huge");
}
