/* Lending (src/lend.c): the heap of a thread that is idle outside obmt is
 * collected on its behalf, and what it held empty goes back to the arenas,
 * purged.
 *
 * 1. A allocates blocks of a fine and two coarse classes, frees
 *    some itself (its pools then hold free blocks on their local lists),
 *    hands the rest to main, keeps KEEP blocks live, and parks. Main frees
 *    what it was handed (remote frees into A's pools, which sit on their
 *    remote lists while A sleeps), waits a purge delay and calls
 *    obmt_collect(). Then, with A still parked: A's heap was lent (the
 *    statistics count it), every pool of A's that holds no live block is
 *    back in its arena with no page resident, and only the pools of A's
 *    KEEP live blocks are still in use. A wakes, checks its live blocks,
 *    frees them, allocates and frees again, and exits.
 *    With OBMT_LEND_IDLE=0 the same steps leave A's pools with it (the
 *    test fails: that is its point).
 * 2. Under load: WORKERS threads allocate, hand blocks to each other through
 *    a ring, free what they take, and now and then sleep outside obmt (up
 *    to 20 ms), while a collector runs obmt_collect() in a loop with the
 *    purge delay at 0, so that a worker idle for 10 ms is lent: some tries
 *    meet the worker inside obmt (busy), and a worker that wakes while its
 *    heap is lent does without it (its mallocs are served without the heap,
 *    by spans, its frees go onto their pools' remote lists). Every block's pattern is checked before it is freed;
 *    under ThreadSanitizer this is the race check of lenders against
 *    owners. At the end nothing is in use.
 * 3. free's fast path against a lender. free's local fast path does not
 *    mark its thread busy (lend.c, "The owner's free"): a lender may take
 *    the heap while it runs, and must keep to the pools with no live
 *    block. The owner allocates many blocks (some handed to a remote
 *    freer, which frees them while the owner frees its own), then frees
 *    its own in a scattered order, checking each payload first, for much
 *    longer than the purge delay (5 ms): almost every free is on the fast
 *    path, which never ticks, so the heap counts as idle and a collector
 *    running obmt_collect() in a loop lends it again and again meanwhile.
 *    A pool the lender took with a live block in it would be purged or
 *    given to another thread: its payloads would change (or free would
 *    abort). Under ThreadSanitizer the release store of count and the
 *    lender's acquire load are what orders the two. At the end nothing is
 *    in use and the lends are counted. This catches gross errors (a lender
 *    that takes a pool with a live block); a wrong order inside the fast
 *    path (count stored before the push) passed it in review's mutation
 *    runs: that is spin model 4's to catch (-DBROKEN_COUNT_FIRST). */
#include "mt_util.h"

#include <stdatomic.h>
#include <time.h>

static const size_t sizes[3] = { 48, 1500, 6000 }; /* a fine, a coarse and a large coarse class (secure mode's largest is 7168) */
#define PER_CLASS 400
#define KEEP 3
static void *handed[3][PER_CLASS];
static void *kept[KEEP];
static pthread_barrier_t barrier;

static uint64_t pools_held(const struct obmt_stats *st)
{
    uint64_t n = 0;
    for (uint32_t c = 0; c < st->nclasses; c++)
        n += st->classes[c].pools_used + st->classes[c].pools_full + st->classes[c].pools_empty;
    return n;
}

static void *owner_a(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        static void *mine[PER_CLASS];
        for (int i = 0; i < PER_CLASS; i++) {
            mine[i] = obmt_malloc(sizes[k]);
            handed[k][i] = obmt_malloc(sizes[k]);
            CHECK(mine[i] && handed[k][i] && obmt_owns(handed[k][i]));
            pattern_fill(handed[k][i], sizes[k], 1);
        }
        for (int i = 0; i < PER_CLASS; i++)
            obmt_free(mine[i]); /* local frees: free blocks on A's own lists */
    }
    for (int i = 0; i < KEEP; i++) {
        kept[i] = obmt_malloc(sizes[i % 3]);
        CHECK(kept[i]);
        pattern_fill(kept[i], sizes[i % 3], 2);
    }
    pthread_barrier_wait(&barrier); /* 1: handed over; A parks (outside obmt) */
    pthread_barrier_wait(&barrier); /* 2: main has checked */
    for (int i = 0; i < KEEP; i++) {
        CHECK_MSG(pattern_ok(kept[i], sizes[i % 3], 2), "A's live block %d changed while its heap was lent", i);
        obmt_free(kept[i]);
    }
    for (int r = 0; r < 3; r++) {
        static void *again[PER_CLASS];
        for (int i = 0; i < PER_CLASS; i++) {
            again[i] = obmt_malloc(sizes[i % 3]);
            CHECK(again[i]);
            pattern_fill(again[i], sizes[i % 3], (uint64_t)r + 3);
        }
        for (int i = 0; i < PER_CLASS; i++) {
            CHECK(pattern_ok(again[i], sizes[i % 3], (uint64_t)r + 3));
            obmt_free(again[i]);
        }
    }
    return NULL;
}

static void part1(void)
{
    long lend = 1;
    CHECK(obmt_option_get("lend_idle", &lend) == 0);
    CHECK(obmt_option_set("purge_delay_ms", 20) == 0);
    pthread_t a;
    pthread_barrier_init(&barrier, NULL, 2);
    CHECK(pthread_create(&a, NULL, owner_a, NULL) == 0);
    pthread_barrier_wait(&barrier); /* 1 */
    size_t pool = stats_now().pool_size;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < PER_CLASS; i++) {
            CHECK(pattern_ok(handed[k][i], sizes[k], 1));
            obmt_free(handed[k][i]);
        }
    struct obmt_stats st0 = stats_now();
    CHECK_MSG(pools_held(&st0) > 2 * KEEP, "A holds only %llu pools", (unsigned long long)pools_held(&st0));
    struct timespec ts = { 0, 60 * 1000000L }; /* three purge delays: A is idle */
    nanosleep(&ts, NULL);
    obmt_collect(); /* main's batches (none: main has no heap), then the pass, which lends A's heap */
    struct obmt_stats st = stats_now();
    CHECK_MSG(st.heaps_lent > st0.heaps_lent, "A's heap was not lent (lend_idle=%ld; %llu tries found it busy)",
              lend, (unsigned long long)st.lend_busy);
    /* Only the pools of A's live blocks are still held. */
    CHECK_MSG(pools_held(&st) <= KEEP, "A still holds %llu pools (held %llu before), for %d live blocks",
              (unsigned long long)pools_held(&st), (unsigned long long)pools_held(&st0), KEEP);
    /* And the pools it gave back are not resident: every pool A used is
     * either a kept block's or has no page in memory. */
    int resident = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < PER_CLASS; i++) {
            void *p = (void *)((uintptr_t)handed[k][i] & ~(uintptr_t)(pool - 1));
            int keeps = 0;
            for (int j = 0; j < KEEP; j++)
                keeps |= ((uintptr_t)kept[j] & ~(uintptr_t)(pool - 1)) == (uintptr_t)p;
            if (!keeps)
                resident += pool_resident_pages(p, pool, 0);
        }
    CHECK_MSG(resident == 0, "%d pages of the pools A gave back are still resident", resident);
    pthread_barrier_wait(&barrier); /* 2 */
    pthread_join(a, NULL);
    st = stats_now();
    CHECK_MSG(pools_held(&st) == 0, "%llu pools held after A exited", (unsigned long long)pools_held(&st));
    pthread_barrier_destroy(&barrier);
}

/* The end of parts 2 and 3: collect, print the lending counters since
 * st0, check that a heap was lent and that nothing is in use, and put the
 * purge delay back. */
static void part_end(int part, const struct obmt_stats *st0, const char *never_lent)
{
    obmt_collect();
    struct obmt_stats st = stats_now();
    printf("mt_lend part %d: %llu heaps lent, %llu tries found the thread busy, %llu calls did without a lent heap\n",
           part, (unsigned long long)(st.heaps_lent - st0->heaps_lent),
           (unsigned long long)(st.lend_busy - st0->lend_busy), (unsigned long long)(st.lend_detours - st0->lend_detours));
    CHECK_MSG(st.heaps_lent > st0->heaps_lent, "%s", never_lent);
    CHECK_MSG(pools_held(&st) == 0 && st.bytes_in_use == 0, "%llu pools, %llu bytes in use at the end",
              (unsigned long long)pools_held(&st), (unsigned long long)st.bytes_in_use);
    CHECK(obmt_option_set("purge_delay_ms", 1000) == 0);
}

/* ---- part 2 ---- */

#define WORKERS 3
#define RING 128
#define ROUNDS SCALE(400)
static void *ring[RING];
static size_t ring_size[RING];
static unsigned ring_head, ring_tail; /* under ring_lock */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int workers_left = WORKERS, stop_collector;

static void ring_put_or_free(void *p, size_t n)
{
    pthread_mutex_lock(&ring_lock);
    if (ring_head - ring_tail < RING) {
        ring[ring_head % RING] = p;
        ring_size[ring_head % RING] = n;
        ring_head++;
        p = NULL;
    }
    pthread_mutex_unlock(&ring_lock);
    if (p) {
        CHECK(pattern_ok(p, n, 7));
        obmt_free(p);
    }
}

static int ring_take_free(void)
{
    void *p = NULL;
    size_t n = 0;
    pthread_mutex_lock(&ring_lock);
    if (ring_tail != ring_head) {
        p = ring[ring_tail % RING];
        n = ring_size[ring_tail % RING];
        ring_tail++;
    }
    pthread_mutex_unlock(&ring_lock);
    if (!p)
        return 0;
    CHECK(pattern_ok(p, n, 7));
    obmt_free(p); /* most likely another worker's block: a remote free */
    return 1;
}

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 104729 + 3;
    enum { LIVE = 64 };
    void *live[LIVE] = { 0 };
    size_t live_n[LIVE] = { 0 };
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < 200; i++) {
            uint64_t x = rng_next(&seed);
            size_t n = 1 + x % (x & 0x300 ? 700 : 8000);
            void *p = obmt_malloc(n);
            CHECK(p);
            pattern_fill(p, n, 7);
            unsigned s = (unsigned)(x >> 32) % LIVE;
            if (live[s]) {
                if (x & 0x10000)
                    ring_put_or_free(live[s], live_n[s]);
                else {
                    CHECK(pattern_ok(live[s], live_n[s], 7));
                    obmt_free(live[s]); /* local */
                }
            }
            live[s] = p;
            live_n[s] = n;
            if (x & 0x20000)
                ring_take_free();
        }
        if (rng_next(&seed) % 4 == 0) {
            /* Idle outside obmt, 0-20 ms: past 10 ms (the shortest idle
             * time a lender waits for) the heap may be lent meanwhile. */
            struct timespec ts = { 0, (long)(rng_next(&seed) % 20000) * 1000L };
            nanosleep(&ts, NULL);
        }
    }
    for (int s = 0; s < LIVE; s++)
        if (live[s]) {
            CHECK(pattern_ok(live[s], live_n[s], 7));
            obmt_free(live[s]);
        }
    atomic_fetch_sub(&workers_left, 1);
    return NULL;
}

static void *collector(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_collector)) {
        obmt_collect();
        sched_yield();
    }
    return NULL;
}

static void part2(void)
{
    CHECK(obmt_option_set("purge_delay_ms", 0) == 0); /* every idle moment is worth a try */
    struct obmt_stats st0 = stats_now();
    pthread_t w[WORKERS], c;
    CHECK(pthread_create(&c, NULL, collector, NULL) == 0);
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    atomic_store(&stop_collector, 1);
    pthread_join(c, NULL);
    while (ring_take_free())
        ;
    part_end(2, &st0, "no heap was lent under load");
}

/* ---- part 3 ---- */

#define P3_BLOCKS SCALE(160000)
#define P3_ROUNDS 3
static void **p3_mine, **p3_theirs;
static atomic_int p3_handed, p3_stop;

static void *p3_remote_freer(void *arg)
{
    (void)arg;
    int done = 0;
    while (!atomic_load(&p3_stop) || done < atomic_load(&p3_handed)) {
        int n = atomic_load(&p3_handed);
        if (done == n) {
            sched_yield();
            continue;
        }
        for (; done < n; done++) {
            CHECK_MSG(pattern_ok(p3_theirs[done], 64, 11), "a handed block changed (%d)", done);
            obmt_free(p3_theirs[done]);
        }
    }
    return NULL;
}

static void *p3_owner(void *arg)
{
    (void)arg;
    int nt = 0; /* blocks handed so far, all rounds */
    for (int r = 0; r < P3_ROUNDS; r++) {
        int nm = 0;
        for (int i = 0; i < P3_BLOCKS; i++) {
            void *p = obmt_malloc(64);
            CHECK(p);
            if (i % 5 == 4) {
                pattern_fill(p, 64, 11);
                p3_theirs[nt++] = p;
            } else {
                pattern_fill(p, 64, 12);
                p3_mine[nm++] = p;
            }
        }
        atomic_store(&p3_handed, nt); /* the freer frees them while the owner frees its own */
        /* A scattered order: consecutive frees hit different pools, and
         * most pools keep live blocks until late. */
        for (int k = 0; k < nm; k++) {
            int i = (int)(((uint64_t)k * 7919) % (uint64_t)nm);
            CHECK_MSG(pattern_ok(p3_mine[i], 64, 12), "a live block of the owner's changed while it freed (round %d, %d)",
                      r, k);
            obmt_free(p3_mine[i]);
            if (k % (nm / 1000 + 1) == 0) {
                /* about 1000 short pauses a round, outside obmt: the phase
                 * lasts well over 20 purge delays whatever the speed */
                struct timespec ts = { 0, 100 * 1000L };
                nanosleep(&ts, NULL);
            }
        }
    }
    return NULL;
}

static void part3(void)
{
    CHECK(obmt_option_set("purge_delay_ms", 5) == 0);
    p3_mine = obmt_malloc(sizeof(void *) * P3_BLOCKS);
    p3_theirs = obmt_malloc(sizeof(void *) * P3_BLOCKS * P3_ROUNDS);
    CHECK(p3_mine && p3_theirs);
    struct obmt_stats st0 = stats_now();
    atomic_store(&stop_collector, 0);
    pthread_t o, f, c;
    CHECK(pthread_create(&c, NULL, collector, NULL) == 0);
    CHECK(pthread_create(&f, NULL, p3_remote_freer, NULL) == 0);
    CHECK(pthread_create(&o, NULL, p3_owner, NULL) == 0);
    pthread_join(o, NULL);
    atomic_store(&p3_stop, 1);
    pthread_join(f, NULL);
    atomic_store(&stop_collector, 1);
    pthread_join(c, NULL);
    obmt_free(p3_mine);
    obmt_free(p3_theirs);
    part_end(3, &st0, "the owner's heap was never lent while it freed");
}

int main(void)
{
    part1();
    part2();
    part3();
    printf("mt_lend: ok\n");
    return 0;
}
