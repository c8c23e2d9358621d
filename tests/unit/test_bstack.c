/* The block stack (src/bstack.c): the owner's frees go on their class's
 * stack in the heap and its mallocs take them back, last in first out,
 * without touching the pool (a full pool stays full); a full stack sends
 * the free to the pool; a second free of a stacked block aborts, by the
 * owner or by another thread; statistics count stacked blocks free;
 * collect, thread exit and a lender give them back to their pools; and
 * malloc's pops tick the heap. */
#include "unit_util.h"

#include <pthread.h>

/* The depth of h's class c stack: its pushes less its pops. */
static unsigned bstack_n(struct heap *h, size_t c)
{
    return (unsigned)bstack_depth(h, c, h->bstack_pushes[c]);
}

static void free_twice(void *p)
{
    obmt_free(p);
    obmt_free(p);
}

static void *free_it(void *p)
{
    obmt_free(p);
    return NULL;
}

/* In a child: main stacks p, another thread frees it again. */
static void free_stacked_remote(void *p)
{
    obmt_free(p);
    run_in_thread(free_it, p);
}

/* In a child: two blocks stacked, the top's link overwritten as a write
 * after free would; the malloc that pops the top follows the link. */
static void overwrite_stacked_link(void *unused)
{
    (void)unused;
    void *x = obmt_malloc(64), *y = obmt_malloc(64);
    obmt_free(x);
    obmt_free(y);
    static int elsewhere;
    memcpy(y, &(void *){ &elsewhere }, sizeof(void *));
    void *z = obmt_malloc(64);
    fprintf(stderr, "the malloc after the overwrite returned %p\n", z);
}

static uint64_t in_use(unsigned c)
{
    struct obmt_stats s = { .version = OBMT_STATS_VERSION, .size = sizeof s };
    CHECK(obmt_stats_get(&s) == 0);
    return s.classes[c].blocks_in_use;
}

/* A thread that fills one pool of 4096-byte blocks and takes one block of
 * a second, frees every block of the first (all onto its stack: the pool
 * stays FULL), then parks (arg != NULL) or not, frees the last block and
 * exits. */
static pthread_barrier_t bar;
static pool_header *t_pool;
static struct heap *t_heap;
static void *stacker(void *arg)
{
    const unsigned c = size_class(4096);
    const size_t per = blocks_per_pool(c);
    void *b[64];
    CHECK(per <= 64 && per <= obmt_bstack_cap[c]);
    b[0] = obmt_malloc(4096);
    t_pool = pool_of(b[0]);
    for (size_t i = 1; i < per; i++)
        CHECK(pool_of(b[i] = obmt_malloc(4096)) == t_pool);
    CHECK(t_pool->state == POOL_FULL);
    void *extra = obmt_malloc(4096); /* a second pool of the class, live: t_pool is not the sole one */
    CHECK(pool_of(extra) != t_pool);
    for (size_t i = 0; i < per; i++)
        obmt_free(b[i]);
    t_heap = heap_self();
    CHECK(bstack_n(t_heap, c) == per && t_pool->count == per && t_pool->state == POOL_FULL);
    if (arg) {
        pthread_barrier_wait(&bar); /* parked: outside obmt */
        pthread_barrier_wait(&bar);
    }
    obmt_free(extra);
    return NULL;
}

int main(void)
{
    const unsigned c = size_class(4096);
    const size_t per = blocks_per_pool(c), cap = obmt_bstack_cap[c];
    struct heap *h;
    void *b[256];
    CHECK(cap >= 2 && cap <= OBMT_BSTACK_DEPTH && cap * 4096 <= OBMT_BSTACK_CLASS_BYTES && per < 64);
    CHECK(obmt_bstack_cap[size_class(16)] == OBMT_BSTACK_DEPTH);

    /* Where idle heaps cannot be lent, nothing would flush an idle
     * thread's stacks: there are none (unit_bstack_nolend). */
    if (!lend_available() || !option_get(OPT_LEND_IDLE)) {
        void *x = obmt_malloc(4096), *y = obmt_malloc(4096);
        CHECK_MSG(heap_self()->bstack_cap[c] == 0, "a block stack without lending (cap %u)", heap_self()->bstack_cap[c]);
        /* No stack, so no growth: mallocs from pools leave the flag clear,
         * and the frees stay on their fast path. */
        CHECK(heap_self()->bstack_growable[c] == 0 && heap_self()->bstack_under[c] == 0);
        obmt_free(x);
        CHECK(bstack_n(heap_self(), c) == 0 && pool_of(x)->freeblock == x);
        CHECK_MSG(heap_self()->bstack_cap[c] == 0, "a stack without lending grew to %u", heap_self()->bstack_cap[c]);
        obmt_free(y);
        printf("unit_bstack: no lending, no block stack: ok\n");
        return 0;
    }

    /* A full pool: a free goes on the stack and leaves the pool full; the
     * next malloc of the class takes it back from there. */
    for (size_t i = 0; i < per; i++)
        b[i] = obmt_malloc(4096);
    h = heap_self();
    pool_header *p = pool_of(b[0]);
    CHECK(pool_of(b[per - 1]) == p && p->state == POOL_FULL && h->bstack_cap[c] == cap);
    CHECK(bstack_n(h, c) == 0);
    uint64_t used = in_use(c);
    obmt_free(b[3]);
    CHECK(bstack_n(h, c) == 1 && h->btop[c] == b[3] && block_next_raw(b[3]) == NULL);
    CHECK(p->state == POOL_FULL && p->count == per && p->freeblock == NULL);
    CHECK_MSG(in_use(c) == used - 1, "a stacked block counts in use: %llu, was %llu",
              (unsigned long long)in_use(c), (unsigned long long)used);
    obmt_free(b[5]);
    CHECK(obmt_malloc(4000) == b[5] && obmt_malloc(4096) == b[3]); /* last in, first out */
    CHECK(bstack_n(h, c) == 0 && p->state == POOL_FULL && p->count == per);
    CHECK(((uintptr_t *)b[3])[1] != free_key()); /* handed out: the secret has left it */

    /* A second free of a stacked block aborts, by its owner or another thread. */
    expect_death(free_twice, b[2], SIGABRT, "owner's double free of a stacked block", "double free");
    expect_death(free_stacked_remote, b[2], SIGABRT, "remote double free of a stacked block", "double free");

    /* A full stack whose class has not cycled past it (no malloc of the
     * class went to a pool since the stack last grew): the next free goes
     * to its pool. (The mallocs below do go to pools: the test says
     * otherwise, so that the stack keeps its bound; "Grown stacks" below
     * takes the other branch.) */
    size_t n = cap + 1;
    CHECK(per + n <= 256);
    for (size_t i = per; i < per + n; i++)
        b[i] = obmt_malloc(4096);
    CHECK_MSG(h->bstack_under[c] == 1, "mallocs from a pool did not mark the class's stack empty");
    h->bstack_under[c] = 0;
    for (size_t i = per; i < per + n; i++)
        obmt_free(b[i]);
    CHECK(h->bstack_cap[c] == cap);
    CHECK(bstack_n(h, c) == cap && h->btop[c] == b[per + cap - 1]);
    /* Linked through the blocks, newest first, down to NULL. */
    block *s = h->btop[c];
    for (size_t i = 0; i < cap; i++, s = block_next_raw(s))
        CHECK_MSG(s == b[per + cap - 1 - i], "stacked block %zu out of order", i);
    CHECK(s == NULL);
    /* A stacked block whose link leads into another pool of the class (the
     * first block of the third pool links to the last of the second): a
     * second free of it is still caught, by the owner and by another
     * thread. */
    CHECK(2 * per < per + cap && pool_of(b[2 * per]) != pool_of(b[2 * per - 1]));
    CHECK(block_next_raw(b[2 * per]) == b[2 * per - 1]);
    expect_death(free_twice, b[2 * per], SIGABRT, "owner's double free of a block linked across pools", "double free");
    expect_death(free_stacked_remote, b[2 * per], SIGABRT, "remote double free of a block linked across pools", "double free");
    if (OBMT_SECURE) /* a write after free over a stacked link: the pop that follows it aborts */
        expect_death(overwrite_stacked_link, NULL, SIGABRT, "stacked link overwritten", "free list corrupted");
    /* The counters are 8 bits and wrap: 300 more pops and pushes leave
     * the depth right, and the bound still holds. */
    uint8_t pushes = h->bstack_pushes[c];
    for (int i = 0; i < 300; i++) {
        void *x = obmt_malloc(4096);
        CHECK(x == b[per + cap - 1] && bstack_n(h, c) == cap - 1);
        obmt_free(x);
    }
    CHECK(h->bstack_pushes[c] == (uint8_t)(pushes + 300) && bstack_n(h, c) == cap);
    CHECK(h->btop[c] == b[per + cap - 1]);
    pool_header *last = pool_of(b[per + n - 1]);
    CHECK_MSG(last->freeblock == b[per + n - 1], "a free past a full stack did not go to its pool");

    /* Collect gives every stacked block back to its pool. */
    for (size_t i = 0; i < per; i++)
        obmt_free(b[i]); /* (the stack is full: into p, which empties) */
    obmt_collect();
    for (unsigned k = 0; k < OBMT_NCLASSES; k++)
        CHECK_MSG(bstack_n(h, k) == 0, "class %u: %u blocks stacked after a collect", k, bstack_n(h, k));
    for (size_t i = per; i < per + n; i++)
        CHECK_MSG(obmt_load_acquire(&pool_of(b[i])->owner) != h || pool_of(b[i])->count == 0,
                  "block %zu's pool still counts it after the collect", i);

    /* Grown stacks (bstack.c): a class that cycles more blocks than its
     * stack holds. A burst of 3 * cap mallocs (from pools: the stack is
     * empty after the collect) and then its frees: the free that finds
     * the stack full grows it to twice its bound and is stacked, and so
     * on up to obmt_bstack_grown_cap[c]; the frees past that go to their
     * pools. */
    {
        const size_t grown = obmt_bstack_grown_cap[c];
        static void *g[3 * 256];
        const size_t burst = 3 * cap;
        const int32_t ticks = h->ticks;
        const uint64_t used0 = in_use(c);
        h->ticks = 1 << 30; /* (no collect in between: it would flush and reset) */
        CHECK(grown == (OBMT_BSTACK_GROWN_CLASS_BYTES / 4096 < OBMT_BSTACK_DEPTH ? OBMT_BSTACK_GROWN_CLASS_BYTES / 4096
                                                                                  : OBMT_BSTACK_DEPTH));
        CHECK(grown > 2 * cap && burst < grown && h->bstack_cap[c] == cap && h->bstack_grown_bytes == 0);
        for (size_t i = 0; i < burst; i++)
            g[i] = obmt_malloc(4096);
        CHECK(h->bstack_under[c] == 1);
        for (size_t i = 0; i < cap; i++)
            obmt_free(g[i]);
        CHECK(bstack_n(h, c) == cap && h->bstack_cap[c] == cap); /* full, not grown yet */
        obmt_free(g[cap]);
        CHECK_MSG(h->bstack_cap[c] == 2 * cap && bstack_n(h, c) == cap + 1 && h->btop[c] == g[cap],
                  "the free past a full stack of a cycling class: bound %u, depth %u", h->bstack_cap[c], bstack_n(h, c));
        CHECK(h->bstack_under[c] == 0 && h->bstack_grown_bytes == cap * 4096);
        /* No malloc went to a pool since: the next full stack does not grow. */
        for (size_t i = cap + 1; i < burst; i++)
            obmt_free(g[i]);
        CHECK_MSG(h->bstack_cap[c] == 2 * cap && bstack_n(h, c) == 2 * cap, "bound %u, depth %u without a miss between",
                  h->bstack_cap[c], bstack_n(h, c));
        CHECK_MSG(pool_of(g[burst - 1])->freeblock == g[burst - 1], "a free past a full grown stack did not go to its pool");
        /* Round two: the mallocs empty the stack and go on into the pools;
         * the frees grow it again, to the class's grown bound at most. */
        for (int round = 0; round < 4; round++) {
            for (size_t i = 0; i < burst; i++)
                g[i] = obmt_malloc(4096);
            for (size_t i = 0; i < burst; i++)
                obmt_free(g[i]);
        }
        CHECK_MSG(h->bstack_cap[c] == grown && bstack_n(h, c) == burst, "after four rounds of %zu: bound %u (grown bound %zu), depth %u",
                  burst, h->bstack_cap[c], grown, bstack_n(h, c));
        CHECK(h->bstack_grown_bytes == (grown - cap) * 4096);
        /* At its grown bound the class is no longer growable: its mallocs
         * from pools leave the flag clear. */
        CHECK(h->bstack_growable[c] == 0);
        for (size_t i = 0; i < grown + 1; i++)
            g[i] = obmt_malloc(4096);
        CHECK_MSG(h->bstack_under[c] == 0, "a class at its grown bound was marked to grow");
        for (size_t i = 0; i < grown + 1; i++)
            obmt_free(g[i]);
        CHECK(h->bstack_cap[c] == grown && bstack_n(h, c) == grown);
        /* A grown stack's blocks count free, as any stacked block's. */
        CHECK_MSG(in_use(c) == used0, "%llu blocks in use with a grown stack, %llu before the burst",
                  (unsigned long long)in_use(c), (unsigned long long)used0);
        /* The heap's bound on growth: with all but 3 blocks' worth of it
         * used, a class grows by 3 blocks, then no more. */
        const unsigned c1k = size_class(1024), cap1k = obmt_bstack_cap[c1k];
        CHECK(h->bstack_cap[c1k] == cap1k && obmt_bstack_grown_cap[c1k] > cap1k + 3);
        const uint32_t had = h->bstack_grown_bytes;
        h->bstack_grown_bytes = OBMT_BSTACK_GROWN_BYTES - 3 * 1024;
        for (size_t i = 0; i < cap1k + 5; i++)
            g[i] = obmt_malloc(1000);
        for (size_t i = 0; i < cap1k + 5; i++)
            obmt_free(g[i]);
        CHECK_MSG(h->bstack_cap[c1k] == cap1k + 3 && bstack_n(h, c1k) == cap1k + 3,
                  "1 KiB class at the heap's bound: bound %u, depth %u (fixed bound %u)", h->bstack_cap[c1k],
                  bstack_n(h, c1k), cap1k);
        CHECK(h->bstack_grown_bytes == OBMT_BSTACK_GROWN_BYTES);
        h->bstack_grown_bytes = had + 3 * 1024;
        /* A collect flushes every stack and puts the bounds back. */
        h->ticks = ticks;
        obmt_collect();
        CHECK_MSG(h->bstack_cap[c] == cap && h->bstack_cap[c1k] == cap1k && h->bstack_grown_bytes == 0 &&
                      bstack_n(h, c) == 0 && bstack_n(h, c1k) == 0 && h->bstack_under[c] == 0 &&
                      h->bstack_growable[c] == 1,
                  "after a collect: bounds %u and %u, %u bytes grown", h->bstack_cap[c], h->bstack_cap[c1k],
                  h->bstack_grown_bytes);
        /* OBMT_BLOCK_STACK bounds a grown stack too (its value at the last
         * reset, here set by hand: the option is fixed at start-up). */
        h->bstack_limit = (uint8_t)(cap + 2);
        h->ticks = 1 << 30;
        for (size_t i = 0; i < burst; i++)
            g[i] = obmt_malloc(4096);
        for (size_t i = 0; i < burst; i++)
            obmt_free(g[i]);
        CHECK_MSG(h->bstack_cap[c] == cap + 2, "a stack grew past OBMT_BLOCK_STACK: %u", h->bstack_cap[c]);
        h->ticks = ticks;
        obmt_collect();
        CHECK(h->bstack_limit == (uint8_t)option_get(OPT_BLOCK_STACK) && h->bstack_cap[c] == cap);
    }

    /* malloc's pops tick: a thread whose blocks never leave its stacks
     * still runs heap_ticked (its purge, its reclaim pass). */
    void *x = obmt_malloc(64), *y = obmt_malloc(64);
    h->ticks = 1000;
    h->bstack_ticks = 2;
    obmt_free(x);
    obmt_free(y);
    CHECK(obmt_malloc(64) == y && h->ticks == 1000);
    CHECK(obmt_malloc(64) == x);
    CHECK_MSG(h->ticks == OBMT_HEAP_TICKS && h->bstack_ticks == OBMT_BSTACK_TICK_POPS,
              "the second pop did not tick (ticks %d, pops left %u)", h->ticks, h->bstack_ticks);
    obmt_free(x);
    obmt_free(y);

    /* The deepest stack: blocks of 16 bytes, obmt_bstack_cap (255 with
     * OBMT_BSTACK_DEPTH 255: one short of the 8-bit counters' wrap). The
     * free after the cap's goes to its pool; the mallocs take the stacked
     * blocks back newest first, then the pool's. (No tick in between: a
     * collect would flush the stack.) */
    {
        const unsigned c16 = size_class(16);
        const size_t cap16 = obmt_bstack_cap[c16];
        static void *d[256];
        const int32_t ticks = h->ticks;
        CHECK(cap16 == OBMT_BSTACK_DEPTH && bstack_n(h, c16) == 0);
        h->ticks = 1 << 30;
        h->bstack_ticks = OBMT_BSTACK_TICK_POPS;
        for (size_t i = 0; i <= cap16; i++)
            d[i] = obmt_malloc(16);
        for (size_t i = 0; i <= cap16; i++)
            obmt_free(d[i]);
        CHECK_MSG(bstack_n(h, c16) == cap16, "a stack of %u blocks of 16 bytes, not %zu", bstack_n(h, c16), cap16);
        CHECK(h->btop[c16] == d[cap16 - 1]);
        CHECK_MSG(pool_of(d[cap16])->freeblock == d[cap16], "the free past a stack of %zu did not go to its pool", cap16);
        for (size_t i = 0; i < cap16; i++)
            CHECK_MSG(obmt_malloc(16) == d[cap16 - 1 - i], "pop %zu of the deepest stack out of order", i);
        CHECK(bstack_n(h, c16) == 0 && h->btop[c16] == NULL);
        CHECK(obmt_malloc(16) == d[cap16]); /* then its pool's list */
        for (size_t i = 0; i <= cap16; i++)
            obmt_free(d[i]);
        h->ticks = ticks;
    }

    /* Thread exit: the exiting thread's stacked blocks go back to their
     * pool, which empties and goes back to its arena (not abandoned). */
    run_in_thread(stacker, NULL);
    CHECK_MSG(obmt_load_acquire(&t_pool->owner) == NULL, "the exited thread's pool is owned by %p",
              (void *)obmt_load_acquire(&t_pool->owner));

    /* A lender flushes an idle thread's stacks: the pool its blocks came
     * from empties and goes back. */
    if (lend_available()) {
        pthread_barrier_init(&bar, NULL, 2);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, stacker, &bar) == 0);
        pthread_barrier_wait(&bar);
        struct heap *th = t_heap;
        CHECK(obmt_load_acquire(&t_pool->owner) == th);
        /* No empty pool kept: the flush's emptied pool still waits in the
         * heap's cache, for the lender to purge once the heap is back, and
         * does not go straight to its arena, unpurged, during the lend. */
        long keep = -1;
        CHECK(obmt_option_get("keep_empty_pools", &keep) == 0 && keep >= 0);
        CHECK(obmt_option_set("keep_empty_pools", 0) == 0);
        CHECK_MSG(lend_try(th, os_now_ms() + 10000, 1000), "the parked heap was not lent");
        CHECK(obmt_option_set("keep_empty_pools", keep) == 0);
        CHECK_MSG(bstack_n(th, c) == 0, "%u blocks left stacked by the lender", bstack_n(th, c));
        CHECK_MSG(obmt_load_acquire(&t_pool->owner) != th, "the lender kept the pool of the stacked blocks");
        CHECK_MSG(t_pool->size == 0, "the lender gave the emptied pool back unpurged (size %u)", t_pool->size);
        pthread_barrier_wait(&bar);
        pthread_join(t, NULL);
        pthread_barrier_destroy(&bar);
    } else {
        printf("unit_bstack: no membarrier here, the lender's flush not tested\n");
    }
    printf("unit_bstack: ok\n");
    return 0;
}
