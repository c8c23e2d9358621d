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
 * Runs with OBMT_BLOCK_STACK=0, so that every free reaches its pool. */
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
    CHECK(option_get(OPT_KEEP_EMPTY_POOLS) == 4 && OBMT_KEEP_EMPTY_POOLS_MAX == 32);
    CHECK(obmt_option_set("purge_delay_ms", 3600 * 1000) == 0); /* no collect but the test's */
    unsigned per_pool = (unsigned)class_blocks(size_class(4096));
    size_t n = (size_t)POOLS * per_pool;
    void **b = obmt_malloc(n * sizeof *b);
    CHECK(b != NULL);
    struct heap *h = heap_self();
    static const uint32_t kept[5] = { 4, 8, 16, 32, 32 };
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
        if (round == 4)
            CHECK_MSG(took <= POOLS - 32, "round %d: %llu pools taken from arenas", round, (unsigned long long)took);
    }
    static const uint32_t decayed[5] = { 32, 16, 8, 4, 4 };
    for (int k = 0; k < 5; k++) {
        h->last_collect_ms = 0; /* a collect is due */
        heap_ticked(h);
        CHECK_MSG(h->nempty == decayed[k], "collect %d: %u empty pools kept, expected %u", k, h->nempty, decayed[k]);
    }
    obmt_free(b);
    CHECK_DONE("keep");
}
