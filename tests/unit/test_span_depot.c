/* The span depot (span_depot.c): a grown class's full puts cut their
 * newest half off as one chain and put it in the depot; a miss of the
 * class in any thread takes a whole chain (no arena is touched); the
 * bounds (words a class, bytes in all); statistics; the purge, the drain
 * before a new span arena, and a double free of a span that sits in the
 * depot.
 *
 * Rounds of 256 blocks of 64 KiB (16 MiB: twice what a class's stack may
 * hold, OBMT_SPAN_CACHE_BYTES_MAX), allocated then freed, grow the class
 * (span.c, cache_grow); after that every full put's trim goes to the
 * depot. Also run with OBMT_LEND_IDLE=0 (unit_span_depot_nolend): the
 * class never grows there, and the depot stays empty. */
#include "unit_util.h"

#define SIZE ((size_t)64 << 10)
#define BURST 256
#define BIG 1024 /* 64 MiB: more chains than the depot's bytes hold */

static unsigned depot_all(void)
{
    unsigned k = 0;
    for (unsigned c = 0; c < OBMT_NSPAN; c++)
        k += depot_chains(c);
    return k;
}

/* Is the span at b free in its arena (all its pools' bits set in F)? */
static bool span_free_in_arena(const void *b, unsigned pools)
{
    uint64_t F, D;
    size_t slot = arena_slot_of((uintptr_t)b);
    CHECK(span_arena_pools(slot, &F, &D));
    unsigned i = (unsigned)(((uintptr_t)b >> OBMT_POOL_SHIFT) & (OBMT_POOLS_PER_ARENA - 1));
    uint64_t run = (pools >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << pools) - 1)) << i;
    return (F & run) == run;
}

static void *blocks[BIG];
static void *got_in_thread;

static void *one_malloc(void *arg)
{
    (void)arg;
    got_in_thread = obmt_malloc(SIZE);
    CHECK(got_in_thread != NULL);
    return NULL;
}

/* Rounds of BURST blocks until the depot holds a chain of class c (the
 * class grows again after a flush): false if 8 rounds put none. */
static bool fill_depot(unsigned c)
{
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < BURST; i++)
            CHECK((blocks[i] = obmt_malloc(SIZE)) != NULL);
        for (int i = 0; i < BURST; i++)
            obmt_free(blocks[i]);
        if (depot_chains(c))
            return true;
    }
    return false;
}

static void free_twice(void *arg)
{
    obmt_free(arg);
}

int main(void)
{
    CHECK(obmt_malloc(1) != NULL); /* (initialised, a heap) */
    struct heap *h = heap_self();
    unsigned c = span_class(SIZE), pools = (unsigned)(SIZE >> OBMT_POOL_SHIFT);
    bool grows = OBMT_SPAN_CACHE_BYTES != 0 && OBMT_SPAN_DEPOT_SLOTS != 0 && lend_available() && option_get(OPT_LEND_IDLE);
    obmt_collect();
    CHECK(depot_all() == 0 && depot_bytes() == 0);

    /* 1. Rounds until the class has grown: from then on a full put's trim
     *    goes to the depot, and never past its bounds. */
    int round;
    for (round = 0; round < 8; round++) {
        for (int i = 0; i < BURST; i++)
            CHECK((blocks[i] = obmt_malloc(SIZE)) != NULL);
        for (int i = 0; i < BURST; i++) {
            obmt_free(blocks[i]);
            CHECK(depot_bytes() <= OBMT_SPAN_DEPOT_BYTES && depot_chains(c) <= OBMT_SPAN_DEPOT_SLOTS);
        }
        if (depot_chains(c))
            break;
    }
    if (!grows) {
        CHECK_MSG(depot_all() == 0 && !(h->span_grown >> c & 1), "no lending: %u chains", depot_all());
        CHECK_DONE("unit_span_depot (the class never grows: no depot)");
    }
    CHECK_MSG(round < 8 && (h->span_grown >> c & 1), "no chain after %d rounds", round);
    unsigned max = h->span_stack[c].max, chain = max / 2 + 1;
    CHECK(depot_bytes() == (uint64_t)depot_chains(c) * chain * SIZE);
    /* Statistics: the depot's spans are cached medium blocks. */
    CHECK_MSG(unit_stats().bytes_medium_cached == h->span_cached_bytes + depot_bytes(), "%llu cached, %llu + %zu",
              (unsigned long long)unit_stats().bytes_medium_cached, (unsigned long long)h->span_cached_bytes,
              depot_bytes());
    unit_check_reconciles();
    /* The round's spans are in the stack, in the depot's chains, or free
     * in their arenas (the trims that found the depot full): none of the
     * depot's spans is free in its arena. */
    unsigned in_arena = 0, in_stack = 0;
    for (int i = 0; i < BURST; i++) {
        bool stacked = false;
        for (char *x = h->span_cache[c]; x && !stacked; x = (char *)pool_of(x)->nextpool)
            stacked = x == (char *)blocks[i];
        in_stack += stacked;
        in_arena += span_free_in_arena(blocks[i], pools);
    }
    /* (the stack may also hold spans that the round's last miss took in
     * its batch and no malloc used) */
    CHECK_MSG(in_arena == BURST - in_stack - depot_chains(c) * chain,
              "%u of the last round's spans free in their arenas, %u in the stack, %u chains of %u", in_arena,
              in_stack, depot_chains(c), chain);

    /* 2. A miss takes a whole chain: the stack empty, the malloc returns
     *    one of the round's blocks (a chain's top), no arena's F changes,
     *    and the rest of the chain is the stack now. */
    while (h->span_cache[c])
        CHECK(obmt_malloc(SIZE) != NULL); /* (hits; these stay allocated until the end: leaked on purpose) */
    uint64_t F0[BURST], D;
    for (int i = 0; i < BURST; i++)
        CHECK(span_arena_pools(arena_slot_of((uintptr_t)blocks[i]), &F0[i], &D));
    unsigned k0 = depot_chains(c);
    size_t bytes0 = depot_bytes();
    CHECK(k0 >= 1);
    void *m = obmt_malloc(SIZE);
    bool from_round = false;
    for (int i = 0; i < BURST; i++)
        from_round |= m == blocks[i];
    CHECK_MSG(from_round, "the miss's block %p was not freed in the last round", m);
    CHECK(depot_chains(c) == k0 - 1 && depot_bytes() == bytes0 - (size_t)chain * SIZE);
    CHECK_MSG(h->span_stack[c].n == chain - 1, "stack %u after a chain of %u", h->span_stack[c].n, chain);
    for (int i = 0; i < BURST; i++) {
        uint64_t F;
        CHECK(span_arena_pools(arena_slot_of((uintptr_t)blocks[i]), &F, &D));
        CHECK_MSG(F == F0[i], "an arena's free bitmap changed at the depot's take");
    }
    /* Each span of the stack now: a cached head of the class, its pools
     * held (the chain's links, ended by NULL at its last span). */
    unsigned seen = 0;
    for (char *x = h->span_cache[c]; x; x = (char *)pool_of(x)->nextpool, seen++) {
        pool_header *xp = pool_of(x);
        CHECK(xp->owner == OWNER_SPAN && xp->nextpool != SPAN_LIVE && xp->szidx == OBMT_SZ_SPAN0 + c);
        CHECK(!span_free_in_arena(x, pools));
    }
    CHECK(seen == chain - 1);
    unit_check_reconciles();

    /* 3. Another thread's miss takes a chain this thread put there. */
    if (depot_chains(c) == 0) { /* (one more round of frees puts one) */
        for (int i = 0; i < BURST; i++)
            CHECK((blocks[i] = obmt_malloc(SIZE)) != NULL);
        for (int i = 0; i < BURST; i++)
            obmt_free(blocks[i]);
    }
    unsigned k1 = depot_chains(c);
    CHECK(k1 >= 1);
    run_in_thread(one_malloc, NULL);
    CHECK_MSG(depot_chains(c) == k1 - 1, "%u chains, %u before the other thread's miss", depot_chains(c), k1);
    CHECK(pool_of(got_in_thread)->owner == OWNER_SPAN && pool_of(got_in_thread)->nextpool == SPAN_LIVE);
    obmt_free(got_in_thread);
    unit_check_reconciles();

    /* 4. The bytes bound: a burst of 64 MiB makes more chains than the
     *    depot's bytes hold; the depot fills to its bound (or its words),
     *    the other trims go to the arenas. */
    for (int r = 0; r < 8 && h->span_stack[c].max < OBMT_SPAN_CACHE_BYTES_MAX / SIZE; r++)
        fill_depot(c); /* (the class grows on, to chains of 65 spans: the bytes bind before the words) */
    for (int i = 0; i < BIG; i++)
        CHECK((blocks[i] = obmt_malloc(SIZE)) != NULL);
    depot_purge(true, os_now_ms(), 0);
    CHECK(depot_all() == 0 && depot_bytes() == 0);
    max = h->span_stack[c].max;
    chain = max / 2 + 1;
    for (int i = 0; i < BIG; i++) {
        obmt_free(blocks[i]);
        CHECK(depot_bytes() <= OBMT_SPAN_DEPOT_BYTES && depot_chains(c) <= OBMT_SPAN_DEPOT_SLOTS);
    }
    size_t fit = OBMT_SPAN_DEPOT_BYTES / ((size_t)chain * SIZE);
    if (fit > OBMT_SPAN_DEPOT_SLOTS)
        fit = OBMT_SPAN_DEPOT_SLOTS;
    CHECK_MSG(depot_chains(c) == fit && (BIG - max) / chain > fit, "%u chains of %u spans, %zu fit", depot_chains(c),
              chain, fit);
    if (OBMT_SPAN_CACHE_BYTES_MAX / SIZE == 128 && OBMT_SPAN_DEPOT_BYTES == (16 << 20) && OBMT_SPAN_DEPOT_SLOTS == 4)
        CHECK_MSG(chain == 65 && fit == 3, "chains of %u spans: the bytes bound 3 of them", chain);
    unsigned freed = 0;
    for (int i = 0; i < BIG; i++)
        freed += span_free_in_arena(blocks[i], pools);
    CHECK_MSG(freed >= BIG - max - fit * chain, "%u spans free in their arenas", freed);
    unit_check_reconciles();

    /* 5. The purge: young chains stay; a purge delay later they go back
     *    to their arenas, as freed when they were put. */
    unsigned k2 = depot_chains(c);
    CHECK(k2 >= 1);
    uint64_t t = os_now_ms();
    depot_purge(false, t, 1000);
    CHECK(depot_chains(c) == k2);
    depot_purge(false, t + 1000, 1000);
    CHECK(depot_all() == 0 && depot_bytes() == 0);
    CHECK(unit_stats().bytes_medium_cached == h->span_cached_bytes);
    for (int i = 0; i < BIG; i++)
        CHECK(!span_free_in_arena(blocks[i], pools) == (pool_of(blocks[i])->owner == OWNER_SPAN));
    unit_check_reconciles();

    /* 6. The drain: every chain back, true if there was one. */
    CHECK(fill_depot(c));
    bool had = depot_all() != 0;
    CHECK(had);
    CHECK(depot_drain(os_now_ms()) == had && depot_all() == 0 && depot_bytes() == 0);
    CHECK(!depot_drain(os_now_ms()));
    unit_check_reconciles();

    /* 6b. A miss that finds no room in any span arena drains the depot
     *     before it makes a new span arena: 1 MiB blocks, one after another,
     *     until the span arenas' committed bytes grow; by then no chain is
     *     left (they would hold their pools from the 1 MiB class). */
    CHECK(fill_depot(c));
    {
        void *big[64];
        int nb = 0;
        uint64_t before = unit_stats().bytes_medium;
        bool grew = false;
        while (nb < 64 && !grew) {
            CHECK((big[nb++] = obmt_malloc(OBMT_MEDIUM_MAX)) != NULL);
            grew = unit_stats().bytes_medium > before;
        }
        CHECK_MSG(grew && depot_all() == 0, "a new span arena after %d blocks with %u chains in the depot", nb,
                  depot_all());
        while (nb)
            obmt_free(big[--nb]);
    }
    obmt_collect();
    unit_check_reconciles();

    /* 7. A free of a span in the depot aborts (its head says freed; in the
     *    child the fork handler has given it back to its arena). */
    CHECK(fill_depot(c));
    void *in_depot = NULL;
    for (int i = 0; i < BURST && !in_depot; i++)
        if (pool_of(blocks[i])->owner == OWNER_SPAN && !span_free_in_arena(blocks[i], pools)) {
            bool cached = false;
            for (char *x = h->span_cache[c]; x && !cached; x = (char *)pool_of(x)->nextpool)
                cached = x == (char *)blocks[i];
            if (!cached)
                in_depot = blocks[i];
        }
    CHECK(in_depot != NULL && depot_chains(c) >= 1);
    expect_death(free_twice, in_depot, SIGABRT, "free of a span in the depot", "free(): ");
    obmt_collect();
    CHECK(depot_all() == 0);
    unit_check_reconciles();
    CHECK_DONE("unit_span_depot");
}
