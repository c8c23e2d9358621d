/* The shared level (src/shared.c), one step at a time:
 *  1. A heap's collect gives its mostly free pools (all but the head of the
 *     class) to the shared level; another thread's malloc of that class then
 *     takes them, blocks from those pools, before it takes a fresh pool from
 *     an arena. The blocks left live in them stay intact and are freed later
 *     as remote frees into the taker's pools.
 *  2. The pools a thread leaves at exit with free blocks go the same way.
 *  3. A stale bit (the pool was adopted by a freer after it was marked)
 *     is dropped by the malloc that meets it: it does not adopt a pool
 *     another heap owns.
 *  4. A pool more than a quarter used stays with its heap.
 *  5. A pool with a stale bit in one class's map (adopted by a freer after
 *     it was marked), emptied, reused for another class and abandoned again
 *     is found by that class's mallocs (with one stack per class and one
 *     link per pool, the stale entry kept it off the new class's stack).
 *  6. A malloc that meets such a stale bit adopts the pool (of another
 *     class) and, if its heap has a pool of that class already, lets it go
 *     again at once, marked in its class's map. */
#include "internal.h"
#include "unit_util.h"

#include <pthread.h>

/* Each test its own class (all of them with 100+ blocks a pool), so that
 * what one leaves on the shared level does not meet the next. */
static unsigned SIZE;
#define POOLS 6

static struct obmt_stats stats(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    return st;
}

/* What a producer thread leaves behind: one live block in each of POOLS
 * pools (the rest of each pool freed), and those pools' headers. */
struct leftovers {
    unsigned keep_per_pool;        /* live blocks left in each pool */
    bool collect;                  /* obmt_collect before returning */
    void *live[POOLS][64];
    pool_header *pools[POOLS];
};

static void *producer(void *arg)
{
    struct leftovers *L = arg;
    unsigned per = class_blocks(size_class(SIZE));
    unsigned n = per * (POOLS + 1); /* POOLS full pools, and the head one */
    void **all = calloc(n, sizeof *all);
    CHECK(all);
    for (unsigned i = 0; i < n; i++) {
        all[i] = obmt_malloc(SIZE);
        CHECK(all[i]);
        memset(all[i], 0xA5, SIZE);
    }
    /* The first POOLS distinct pools: keep keep_per_pool blocks of each,
     * free the rest of the blocks. */
    unsigned np = 0;
    for (unsigned i = 0; i < n; i++) {
        pool_header *p = pool_of(all[i]);
        unsigned k;
        for (k = 0; k < np && L->pools[k] != p; k++)
            ;
        if (k == np && np < POOLS)
            L->pools[np++] = p;
        if (k < POOLS) {
            unsigned kept = 0;
            while (kept < L->keep_per_pool && L->live[k][kept])
                kept++;
            if (kept < L->keep_per_pool) {
                L->live[k][kept] = all[i];
                continue;
            }
        }
        obmt_free(all[i]);
    }
    CHECK(np == POOLS);
    free(all);
    if (L->collect)
        obmt_collect();
    return NULL;
}

static bool in_pools(const struct leftovers *L, const void *b)
{
    for (unsigned k = 0; k < POOLS; k++)
        if (pool_of(b) == L->pools[k])
            return true;
    return false;
}

static void free_leftovers(struct leftovers *L)
{
    for (unsigned k = 0; k < POOLS; k++)
        for (unsigned j = 0; j < L->keep_per_pool; j++) {
            unsigned char *b = L->live[k][j];
            for (unsigned i = 0; i < SIZE; i++)
                CHECK_MSG(b[i] == 0xA5, "live block %p byte %u overwritten", (void *)b, i);
            obmt_free(b);
        }
}

/* The consumer (this thread, or a fresh one): malloc class SIZE blocks and
 * count how many come from L's pools, and how many pools it took from
 * arenas meanwhile. */
struct consumer {
    struct leftovers *L;
    unsigned want, from_leftovers;
    uint64_t pools_taken;
    void *got[POOLS * 256];
};

static void *consumer(void *arg)
{
    struct consumer *C = arg;
    uint64_t taken0 = stats().pools_taken;
    for (unsigned i = 0; i < C->want; i++) {
        C->got[i] = obmt_malloc(SIZE);
        CHECK(C->got[i]);
        C->from_leftovers += in_pools(C->L, C->got[i]);
    }
    C->pools_taken = stats().pools_taken - taken0;
    for (unsigned i = 0; i < C->want; i++)
        obmt_free(C->got[i]);
    return NULL;
}

/* A thread that runs fn(arg), then stays alive (its heap in use) until
 * park_end: what it holds stays its own meanwhile. */
struct parked {
    pthread_t t;
    pthread_barrier_t done, go;
    void *(*fn)(void *);
    void *arg;
};

static void *parked_main(void *arg)
{
    struct parked *P = arg;
    P->fn(P->arg);
    pthread_barrier_wait(&P->done);
    pthread_barrier_wait(&P->go);
    return NULL;
}

static void park_start(struct parked *P, void *(*fn)(void *), void *arg)
{
    P->fn = fn;
    P->arg = arg;
    CHECK(pthread_barrier_init(&P->done, NULL, 2) == 0 && pthread_barrier_init(&P->go, NULL, 2) == 0);
    CHECK(pthread_create(&P->t, NULL, parked_main, P) == 0);
    pthread_barrier_wait(&P->done);
}

static void park_end(struct parked *P)
{
    pthread_barrier_wait(&P->go);
    CHECK(pthread_join(P->t, NULL) == 0);
    pthread_barrier_destroy(&P->done);
    pthread_barrier_destroy(&P->go);
}

static struct consumer *consume(struct leftovers *L, unsigned want)
{
    static struct consumer C;
    memset(&C, 0, sizeof C);
    C.L = L;
    C.want = want;
    run_in_thread(consumer, &C);
    return &C;
}

/* 1: the producer stays alive; its collect gave all but its head pool away. */
static void test_collect_gives_away(void)
{
    static struct leftovers L;
    memset(&L, 0, sizeof L);
    L.keep_per_pool = 1;
    L.collect = true;
    unsigned per = class_blocks(size_class(SIZE));
    uint64_t shared0 = stats().pools_shared, from0 = stats().pools_from_shared;
    struct parked P;
    park_start(&P, producer, &L);
    CHECK_MSG(stats().pools_shared - shared0 == POOLS - 1, "%llu pools shared, expected %d",
              (unsigned long long)(stats().pools_shared - shared0), POOLS - 1);
    /* Every free block of those pools, in a fresh thread: no fresh pool. */
    struct consumer *C = consume(&L, (POOLS - 1) * (per - 1));
    CHECK_MSG(C->from_leftovers == C->want, "%u of %u blocks from the left pools", C->from_leftovers, C->want);
    CHECK_MSG(C->pools_taken == 0, "%llu pools taken from arenas", (unsigned long long)C->pools_taken);
    CHECK(stats().pools_from_shared - from0 == POOLS - 1);
    park_end(&P);
    free_leftovers(&L);
}

/* 2: the producer exits: every pool it leaves with free blocks is shared. */
static void test_exit_gives_away(void)
{
    static struct leftovers L;
    memset(&L, 0, sizeof L);
    L.keep_per_pool = 1;
    unsigned per = class_blocks(size_class(SIZE));
    uint64_t from0 = stats().pools_from_shared;
    run_in_thread(producer, &L);
    struct consumer *C = consume(&L, POOLS * (per - 1));
    CHECK_MSG(C->from_leftovers == C->want, "%u of %u blocks from the left pools", C->from_leftovers, C->want);
    CHECK_MSG(C->pools_taken == 0, "%llu pools taken from arenas", (unsigned long long)C->pools_taken);
    CHECK(stats().pools_from_shared - from0 >= POOLS);
    free_leftovers(&L);
}

/* 3: a freer adopts a pool after it went to the shared level: its bit in
 * the map is stale, and a malloc that meets it must leave the pool. */
static void *free_one(void *arg)
{
    obmt_free(arg);
    obmt_collect(); /* hands the batch over: this thread adopts the pool */
    return NULL;
}

static void test_stale_bit(void)
{
    static struct leftovers L;
    memset(&L, 0, sizeof L);
    L.keep_per_pool = 2;
    unsigned per = class_blocks(size_class(SIZE));
    run_in_thread(producer, &L);
    pool_header *p0 = L.pools[0];
    CHECK(obmt_load_acquire(&p0->owner) == OWNER_ABANDONED);
    /* Another thread frees one live block of pool 0, adopts the pool, and
     * stays alive: pool 0's bit in the map is stale. */
    struct parked P;
    park_start(&P, free_one, L.live[0][0]);
    L.live[0][0] = NULL;
    struct heap *holder = obmt_load_acquire(&p0->owner);
    CHECK(holder != OWNER_ABANDONED && holder != NULL);
    uint64_t from0 = stats().pools_from_shared;
    struct consumer *C = consume(&L, (POOLS - 1) * (per - 2));
    CHECK_MSG(C->from_leftovers == C->want, "%u of %u blocks from the left pools", C->from_leftovers, C->want);
    CHECK_MSG(C->pools_taken == 0, "%llu pools taken from arenas", (unsigned long long)C->pools_taken);
    CHECK_MSG(stats().pools_from_shared - from0 == POOLS - 1, "%llu pools from the shared level, expected %d",
              (unsigned long long)(stats().pools_from_shared - from0), POOLS - 1);
    CHECK(obmt_load_acquire(&p0->owner) == holder); /* left to its owner */
    /* The holder exits: pool 0 is abandoned again and marked again, so the
     * next consumer finds it. */
    park_end(&P);
    from0 = stats().pools_from_shared;
    C = consume(&L, per - 1);
    CHECK_MSG(C->from_leftovers == C->want, "%u of %u blocks from pool 0", C->from_leftovers, C->want);
    CHECK(stats().pools_from_shared - from0 >= 1);
    for (unsigned k = 0; k < POOLS; k++)
        for (unsigned j = 0; j < 2; j++)
            if (L.live[k][j]) {
                unsigned char *b = L.live[k][j];
                CHECK(b[0] == 0xA5 && b[SIZE - 1] == 0xA5);
                obmt_free(b);
            }
}

/* 4: pools more than a quarter used stay with their heap on a collect. */
static void test_threshold(void)
{
    unsigned per = class_blocks(size_class(SIZE));
    unsigned n = per * 3;
    void **b = calloc(n, sizeof *b);
    CHECK(b);
    for (unsigned i = 0; i < n; i++)
        CHECK((b[i] = obmt_malloc(SIZE)) != NULL);
    /* Free every other block: each pool half used. */
    for (unsigned i = 0; i < n; i += 2)
        obmt_free(b[i]);
    uint64_t shared0 = stats().pools_shared;
    obmt_collect();
    CHECK_MSG(stats().pools_shared == shared0, "a half-used pool was given away");
    for (unsigned i = 1; i < n; i += 2)
        CHECK(obmt_load_relaxed(&pool_of(b[i])->owner) == heap_self());
    for (unsigned i = 1; i < n; i += 2)
        obmt_free(b[i]);
    free(b);
}

/* A fresh thread's mallocs of `size` (p's class, p's one live block kept):
 * every free block of p, and no pool from an arena. */
static void consume_from(pool_header *p, unsigned size)
{
    unsigned saved = SIZE;
    SIZE = size;
    static struct leftovers only_p;
    memset(&only_p, 0, sizeof only_p);
    only_p.pools[0] = p;
    struct consumer *C = consume(&only_p, class_blocks(size_class(size)) - 1);
    CHECK_MSG(C->from_leftovers == C->want, "%u of %u blocks of %u bytes from the pool", C->from_leftovers, C->want,
              size);
    CHECK_MSG(C->pools_taken == 0, "%llu pools taken from arenas", (unsigned long long)C->pools_taken);
    SIZE = saved;
}

/* 5: the misfiled pool. */
struct reuse {
    void *stale_block;   /* the live block of a pool marked in class A's map */
    unsigned size_b;
    pool_header *p;      /* that pool */
    void *kept;          /* its block of class B, left live at exit */
};

static void *reuse_for_b(void *arg)
{
    struct reuse *R = arg;
    obmt_free(obmt_malloc(16)); /* this thread's heap */
    obmt_free(R->stale_block);
    heap_flush_remote(heap_self()); /* the hand-over adopts p, which empties: cached */
    CHECK(obmt_load_acquire(&R->p->owner) == heap_self());
    R->kept = obmt_malloc(R->size_b); /* class B: the cached empty pool p */
    CHECK_MSG(R->kept && pool_of(R->kept) == R->p, "class B's block not from the cached pool");
    memset(R->kept, 0x5A, R->size_b);
    return NULL; /* exit: p, class B with a free block, abandoned */
}

static void test_misfiled(void)
{
    static struct leftovers L;
    memset(&L, 0, sizeof L);
    L.keep_per_pool = 1;
    run_in_thread(producer, &L); /* class A's pools, each with one live block, marked */
    pool_header *p0 = L.pools[0];
    CHECK(obmt_load_acquire(&p0->owner) == OWNER_ABANDONED);
    struct reuse R = { .stale_block = L.live[0][0], .size_b = 336, .p = p0 };
    L.live[0][0] = NULL;
    run_in_thread(reuse_for_b, &R);
    CHECK(obmt_load_acquire(&p0->owner) == OWNER_ABANDONED && p0->szidx == size_class(R.size_b));
    /* A malloc of class B in a fresh thread: pool p0, not a fresh pool. */
    consume_from(p0, R.size_b);
    unsigned char *k = R.kept;
    for (unsigned i = 0; i < R.size_b; i++)
        CHECK(k[i] == 0x5A);
    obmt_free(k);
    for (unsigned j = 1; j < POOLS; j++)
        if (L.live[j][0]) {
            unsigned char *b = L.live[j][0];
            CHECK(b[0] == 0xA5 && b[SIZE - 1] == 0xA5);
            obmt_free(b);
        }
}

/* 6: a heap that has a class B pool meets a class B pool through a stale
 * class A bit: it lets it go again. */
struct two_step {
    pthread_barrier_t step;
    unsigned size_a, size_b;
    void *b_block, *a_block;
};

static void *heap_with_b(void *arg)
{
    struct two_step *S = arg;
    S->b_block = obmt_malloc(S->size_b); /* a fresh class B pool: the map is empty */
    CHECK(S->b_block);
    pthread_barrier_wait(&S->step);     /* the pool of test 5's shape is made meanwhile */
    pthread_barrier_wait(&S->step);
    S->a_block = obmt_malloc(S->size_a); /* meets the stale class A bit */
    CHECK(S->a_block);
    pthread_barrier_wait(&S->step);     /* checked while this heap is alive */
    pthread_barrier_wait(&S->step);
    obmt_free(S->a_block);
    obmt_free(S->b_block);
    return NULL;
}

static void test_let_go_again(void)
{
    static struct leftovers L;
    memset(&L, 0, sizeof L);
    L.keep_per_pool = 1;
    struct two_step S = { .size_a = SIZE, .size_b = 368 };
    CHECK(pthread_barrier_init(&S.step, NULL, 2) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, heap_with_b, &S) == 0);
    pthread_barrier_wait(&S.step);
    run_in_thread(producer, &L); /* class A's pools, marked */
    pool_header *p0 = L.pools[0];
    /* The other class A pools: adopted by this thread (their bits stale). */
    for (unsigned k = 1; k < POOLS; k++) {
        obmt_free(L.live[k][0]);
        L.live[k][0] = NULL;
    }
    heap_flush_remote(heap_self());
    struct reuse R = { .stale_block = L.live[0][0], .size_b = S.size_b, .p = p0 };
    L.live[0][0] = NULL;
    run_in_thread(reuse_for_b, &R); /* p0: class B, abandoned, stale bit in A's map */
    CHECK(obmt_load_acquire(&p0->owner) == OWNER_ABANDONED && p0->szidx == size_class(S.size_b));
    pthread_barrier_wait(&S.step);
    pthread_barrier_wait(&S.step);
    CHECK_MSG(obmt_load_acquire(&p0->owner) == OWNER_ABANDONED,
              "the heap kept a class B pool met through a stale class A bit");
    CHECK(pool_of(S.a_block) != p0);
    /* ... and p0 is in class B's map: a fresh thread's class B mallocs find it. */
    consume_from(p0, S.size_b);
    pthread_barrier_wait(&S.step);
    CHECK(pthread_join(t, NULL) == 0);
    pthread_barrier_destroy(&S.step);
    obmt_free(R.kept);
}

int main(void)
{
    SIZE = 256;
    test_collect_gives_away();
    SIZE = 272;
    test_exit_gives_away();
    SIZE = 288;
    test_stale_bit();
    SIZE = 304;
    test_threshold();
    SIZE = 320;
    test_misfiled();
    SIZE = 352;
    test_let_go_again();
    printf("unit_shared: ok\n");
    return 0;
}
