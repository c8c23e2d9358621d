/* The empty pools a thread keeps (heap.c, cache_or_give): 4 by default
 * (OBMT_KEEP_EMPTY_POOLS); a thread that gives pools back to their arena
 * and takes others from an arena within a collect period doubles what it
 * keeps, up to OBMT_KEEP_EMPTY_POOLS_MAX, so that a burst of blocks
 * allocated and freed again (256 blocks of 4 KiB: 32 pools) stops cycling
 * pools through the arenas; a collect period with no pool taken halves it
 * again and gives the rest back. Rounds of 40 pools' worth of 4 KiB
 * blocks, allocated then freed: the thread keeps 4, 8, 16, 32, 32 pools,
 * and in the last round takes only 8 from arenas; then each collect
 * without a take halves them: 32 (the period had takes), 16, 8, 4, 4.
 * Runs with OBMT_BLOCK_STACK=0, so that every free reaches its pool.
 * Also run (found in review) with OBMT_LEND_IDLE=0, where an idle thread
 * would keep them (no lender, and it runs no collect): 4 every round; and
 * with OBMT_KEEP_EMPTY_POOLS=0: none kept, ever. Then an option above the
 * maximum is the cap as it stands, not latched: set back to 4, the thread
 * keeps 4 again (8, after the round that took pools again). Lending
 * switched off at run time: the next collect keeps the option's 4. */
#include "unit_util.h"

#define POOLS 40

static uint64_t pools_taken(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    return st.pools_taken;
}

int main(void)
{
    CHECK(option_get(OPT_BLOCK_STACK) == 0);
    CHECK(OBMT_KEEP_EMPTY_POOLS_MAX == 32);
    uint32_t base = (uint32_t)option_get(OPT_KEEP_EMPTY_POOLS);
    bool adapts = base > 0 && lend_available() && option_get(OPT_LEND_IDLE);
    CHECK(base == 4 || base == 0);
    CHECK(obmt_option_set("purge_delay_ms", 3600 * 1000) == 0); /* no collect but the test's */
    unsigned per_pool = (unsigned)class_blocks(size_class(4096));
    size_t n = (size_t)POOLS * per_pool;
    void **b = obmt_malloc(n * sizeof *b);
    CHECK(b != NULL);
    struct heap *h = heap_self();
    static const uint32_t kept_adapting[5] = { 4, 8, 16, 32, 32 };
    uint32_t kept[5];
    for (int i = 0; i < 5; i++)
        kept[i] = adapts ? kept_adapting[i] : base;
    for (int round = 0; round < 5; round++) {
        uint64_t t0 = pools_taken();
        for (size_t i = 0; i < n; i++)
            CHECK((b[i] = obmt_malloc(4096)) != NULL);
        uint64_t took = pools_taken() - t0;
        for (size_t i = 0; i < n; i++)
            obmt_free(b[i]);
        /* The last pool of the class stays in usedpools; the rest are empty. */
        CHECK_MSG(h->nempty == kept[round], "round %d: %u empty pools kept, expected %u", round, h->nempty,
                  kept[round]);
        if (round == 4 && adapts)
            CHECK_MSG(took <= POOLS - 32, "round %d: %llu pools taken from arenas", round, (unsigned long long)took);
    }
    static const uint32_t decayed_adapting[5] = { 32, 16, 8, 4, 4 };
    uint32_t decayed[5];
    for (int i = 0; i < 5; i++)
        decayed[i] = adapts ? decayed_adapting[i] : base;
    for (int k = 0; k < 5; k++) {
        unit_collect_due(h);
        heap_ticked(h);
        CHECK_MSG(h->nempty == decayed[k], "collect %d: %u empty pools kept, expected %u", k, h->nempty, decayed[k]);
    }
    /* An option above the maximum: the cap is the option, and nothing
     * latches it: set back, the thread keeps what the option says. */
    CHECK(obmt_option_set("keep_empty_pools", 33) == 0); /* (40 pools: some go back, then come again) */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++)
            CHECK((b[i] = obmt_malloc(4096)) != NULL);
        for (size_t i = 0; i < n; i++)
            obmt_free(b[i]);
        CHECK_MSG(h->nempty == 33, "option 33: %u empty pools kept", h->nempty);
    }
    CHECK_MSG(h->keep_empty <= OBMT_KEEP_EMPTY_POOLS_MAX, "keep_empty %u", h->keep_empty);
    CHECK(obmt_option_set("keep_empty_pools", (long)base) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK((b[i] = obmt_malloc(4096)) != NULL);
    for (size_t i = 0; i < n; i++)
        obmt_free(b[i]);
    /* (The round gave pools back and took others: one doubling of 4.) */
    CHECK_MSG(h->nempty == (adapts ? 2 * base : base), "option back at %u: %u empty pools kept", base, h->nempty);
    /* Lending switched off at run time (found in review of the span
     * cache's growth, which has the same rule): the next collect keeps the
     * option's number, though the period took pools. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++)
            CHECK((b[i] = obmt_malloc(4096)) != NULL);
        for (size_t i = 0; i < n; i++)
            obmt_free(b[i]);
    }
    CHECK(obmt_option_set("lend_idle", 0) == 0);
    unit_collect_due(h);
    heap_ticked(h);
    CHECK_MSG(h->nempty == base && h->keep_empty <= base, "lending off: %u empty pools kept (cap %u)", h->nempty,
              h->keep_empty);
    CHECK(obmt_option_set("lend_idle", 1) == 0);
    obmt_free(b);
    CHECK_DONE("keep");
}
