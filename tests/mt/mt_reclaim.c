/* The reclaim pass (src/reclaim.c): pools that other threads freed empty
 * go back to their arenas while their owner is parked.
 *
 * 1. A fills POOLS whole pools of one class and parks. Main frees every
 *    block (remote frees: each pool goes back to A's `returned` stack) and
 *    calls obmt_collect(), whose reclaim pass must purge the pages of all
 *    those pools but their header pages (mincore) while A is still parked,
 *    and the statistics must count their blocks as free. A then wakes,
 *    fills and frees pools again (the purged ones come back to it as
 *    empty), and exits.
 * 2. Under load: two producers hand blocks of several classes to a consumer
 *    through a ring and now and then park for a while, while a fourth
 *    thread runs reclaim passes (obmt_collect) in a loop. Every block's
 *    pattern is checked before it is freed; under ThreadSanitizer this is
 *    the race check of the pass against owners, freers and parked threads.
 * 3. Exits: a short-lived thread fills pools (a few ARMED), main frees its
 *    blocks (handing the pools back to it), and the thread exits while a
 *    collector runs reclaim passes in a loop: exit and the pass race for
 *    those pools (heap_abandon_late). At the end nothing is left abandoned,
 *    purged in place or in use. */
#include "mt_util.h"

#include <stdatomic.h>
#include <sys/mman.h>

#define POOLS 6
#define SIZE 96
#define MAX_N ((32768 / SIZE) * POOLS)

static int N;
static void *blocks[MAX_N];
static pthread_barrier_t barrier;

/* Pages of the pool of block b that are resident: all of them count, the
 * first too, now that the header lives out of line and the pass purges the
 * whole pool. */
static int resident_pages(void *b)
{
    size_t pool = stats_now().pool_size;
    return pool_resident_pages((void *)((uintptr_t)b & ~(uintptr_t)(pool - 1)), pool, 0);
}

static void *owner_a(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = obmt_malloc(SIZE);
        CHECK(blocks[i]);
        pattern_fill(blocks[i], SIZE, 1);
    }
    pthread_barrier_wait(&barrier); /* 1: filled */
    pthread_barrier_wait(&barrier); /* 2: parked until main has checked */
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < N; i++) {
            blocks[i] = obmt_malloc(SIZE);
            CHECK(blocks[i]);
            pattern_fill(blocks[i], SIZE, (uint64_t)r + 2);
        }
        for (int i = 0; i < N; i++) {
            CHECK(pattern_ok(blocks[i], SIZE, (uint64_t)r + 2));
            obmt_free(blocks[i]);
        }
    }
    return NULL;
}

static void part1(void)
{
    N = (int)blocks_per_pool_for(SIZE) * POOLS;
    pthread_t a;
    pthread_barrier_init(&barrier, NULL, 2);
    CHECK(pthread_create(&a, NULL, owner_a, NULL) == 0);
    pthread_barrier_wait(&barrier); /* 1 */
    static void *pools[MAX_N];
    int npools = 0, before = 0;
    size_t pool = stats_now().pool_size;
    for (int i = 0; i < N; i++) {
        void *p = (void *)((uintptr_t)blocks[i] & ~(uintptr_t)(pool - 1));
        if (npools == 0 || pools[npools - 1] != p) {
            pools[npools++] = p;
            before += resident_pages(p);
        }
    }
    CHECK_MSG(npools >= POOLS && before > 0, "A's %d blocks are in %d pools, %d pages resident", N, npools, before);
    struct obmt_stats st0 = stats_now();
    uint64_t live0 = st0.bytes_in_use;
    for (int i = 0; i < N; i++) {
        CHECK(pattern_ok(blocks[i], SIZE, 1));
        obmt_free(blocks[i]);
    }
    obmt_collect(); /* hands main's batches over, then the reclaim pass */
    int after = 0;
    for (int i = 0; i < npools; i++)
        after += resident_pages(pools[i]);
    CHECK_MSG(after == 0, "with A parked, %d of the %d pages of its emptied pools are still resident", after, before);
    struct obmt_stats st = stats_now();
    CHECK_MSG(st.bytes_in_use + (uint64_t)N * SIZE <= live0 + SIZE * 64,
              "statistics: %llu bytes in use after %d blocks were freed, %llu before",
              (unsigned long long)st.bytes_in_use, N, (unsigned long long)live0);
    CHECK_MSG(st.pools_reclaimed >= st0.pools_reclaimed + (uint64_t)npools &&
                  /* every page of blocks (secure mode's pools end in a page without blocks) */
                  st.bytes_reclaimed >= (uint64_t)npools * (blocks_per_pool_for(SIZE) * SIZE),
              "statistics: %llu pools reclaimed (%llu before), %llu bytes purged now, for %d pools",
              (unsigned long long)st.pools_reclaimed, (unsigned long long)st0.pools_reclaimed,
              (unsigned long long)st.bytes_reclaimed, npools);
    pthread_barrier_wait(&barrier); /* 2 */
    pthread_join(a, NULL);
    /* A took its pools back (as empty ones) and exited: none is purged in
     * place any more. */
    st = stats_now();
    CHECK_MSG(st.bytes_reclaimed == 0, "%llu bytes still counted as purged in place after A exited",
              (unsigned long long)st.bytes_reclaimed);
    pthread_barrier_destroy(&barrier);
}

/* ---- part 2 ---- */

#define RING 256
#define ITEMS SCALE(200000)
static void *ring[RING];
static size_t ring_size[RING];
static uint64_t ring_tag[RING];
static unsigned ring_head, ring_tail; /* under ring_lock */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int producers_left = 2, stop_collector;

static void *producer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 7919 + 1;
    for (int i = 0; i < ITEMS; i++) {
        seed = mix64(seed + (uint64_t)i);
        size_t size = 16 + (seed % 4) * 240 + (seed >> 8) % 16; /* four classes apart */
        void *p = obmt_malloc(size);
        CHECK(p);
        pattern_fill(p, size, seed);
        for (;;) {
            pthread_mutex_lock(&ring_lock);
            if (ring_head - ring_tail < RING) {
                ring[ring_head % RING] = p;
                ring_size[ring_head % RING] = size;
                ring_tag[ring_head % RING] = seed;
                ring_head++;
                pthread_mutex_unlock(&ring_lock);
                break;
            }
            pthread_mutex_unlock(&ring_lock);
            sched_yield();
        }
        if (i % 4096 == 4095)
            usleep(2000); /* parked: its handed-back pools are the pass's */
    }
    atomic_fetch_sub(&producers_left, 1);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&ring_lock);
        if (ring_tail == ring_head) {
            pthread_mutex_unlock(&ring_lock);
            if (atomic_load(&producers_left) == 0) {
                pthread_mutex_lock(&ring_lock);
                int empty = ring_tail == ring_head;
                pthread_mutex_unlock(&ring_lock);
                if (empty)
                    return NULL;
            }
            sched_yield();
            continue;
        }
        void *p = ring[ring_tail % RING];
        size_t size = ring_size[ring_tail % RING];
        uint64_t tag = ring_tag[ring_tail % RING];
        ring_tail++;
        pthread_mutex_unlock(&ring_lock);
        CHECK(pattern_ok(p, size, tag));
        obmt_free(p);
    }
}

static void *collector(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_collector)) {
        obmt_collect();
        usleep(500);
    }
    return NULL;
}

static void part2(void)
{
    pthread_t p1, p2, c, k;
    CHECK(pthread_create(&k, NULL, collector, NULL) == 0);
    CHECK(pthread_create(&c, NULL, consumer, NULL) == 0);
    CHECK(pthread_create(&p1, NULL, producer, (void *)1) == 0);
    CHECK(pthread_create(&p2, NULL, producer, (void *)2) == 0);
    pthread_join(p1, NULL);
    pthread_join(p2, NULL);
    pthread_join(c, NULL);
    atomic_store(&stop_collector, 1);
    pthread_join(k, NULL);
}

/* ---- part 3 ---- */

#define EXITS (UNDER_TSAN ? 200 : 400)
#define BOX 2048
static void *box[BOX];
static atomic_int box_ready, box_taken;

/* Fills BOX blocks (full pools), frees a few of them itself (those pools
 * go ARMED), then waits until main has freed the rest and exits: its exit
 * races with the collector's reclaim pass, which may hold the pools main's
 * frees handed back to it. */
static void *short_lived(void *arg)
{
    uint64_t tag = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < BOX; i++) {
        box[i] = obmt_malloc(96);
        CHECK(box[i]);
        pattern_fill(box[i], 96, tag + (uint64_t)i);
    }
    for (int i = 0; i < BOX; i += 97) {
        obmt_free(box[i]);
        box[i] = NULL;
    }
    atomic_store(&box_ready, 1);
    while (!atomic_load(&box_taken))
        sched_yield();
    return NULL;
}

/* Passes back to back: the widest window for a pass to hold pools while
 * their heap closes. */
static void *tight_collector(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_collector))
        obmt_collect();
    return NULL;
}

static void part3(void)
{
    struct obmt_stats st0 = stats_now();
    atomic_store(&stop_collector, 0);
    pthread_t k;
    CHECK(pthread_create(&k, NULL, tight_collector, NULL) == 0);
    for (int it = 0; it < EXITS; it++) {
        atomic_store(&box_ready, 0);
        atomic_store(&box_taken, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, short_lived, (void *)(uintptr_t)(it * 7919)) == 0);
        while (!atomic_load(&box_ready))
            sched_yield();
        for (int i = 0; i < BOX; i++)
            if (box[i]) {
                CHECK(pattern_ok(box[i], 96, (uint64_t)it * 7919 + (uint64_t)i));
                obmt_free(box[i]);
            }
        obmt_collect(); /* hands main's batches over */
        atomic_store(&box_taken, 1);
        pthread_join(t, NULL);
    }
    atomic_store(&stop_collector, 1);
    pthread_join(k, NULL);
    obmt_collect();
    /* Every pool of the exited threads went back (through the exit, or the
     * pass's heap_abandon_late): none is left abandoned, purged in place or
     * holding a block. */
    struct obmt_stats st = stats_now();
    CHECK_MSG(st.pools_abandoned == 0 && st.bytes_reclaimed == 0 && st.bytes_in_use <= st0.bytes_in_use,
              "after %d exits: %llu pools abandoned, %llu bytes purged in place, %llu bytes in use (%llu before)",
              EXITS, (unsigned long long)st.pools_abandoned, (unsigned long long)st.bytes_reclaimed,
              (unsigned long long)st.bytes_in_use, (unsigned long long)st0.bytes_in_use);
}

int main(void)
{
    part1();
    part2();
    part3();
    CHECK_DONE("mt_reclaim");
}
