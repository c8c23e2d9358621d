/* The purge: free pools of a partly used arena keep their pages until the
 * arena has had no pool back for the purge delay; then the next pool slow
 * path (here arena_maybe_purge) gives exactly those pages back and nothing
 * else. A wholly free arena waits for the delay too, then is decommitted;
 * arena_maybe_purge(true) (obmt_collect) does not wait; delay -1 never
 * purges. Purged pools come back as fresh, zeroed memory. */
#include "unit_util.h"

#include <sys/mman.h>
#include <time.h>

#define NP OBMT_POOLS_PER_ARENA
#define DELAY_MS 100


static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int main(void)
{
    CHECK(obmt_ensure_init());
    CHECK(obmt_option_set("purge_delay_ms", DELAY_MS) == 0);
    CHECK(obmt_option_set("keep_free_arenas", 0) == 0);
    static pool_header *A[NP];
    for (unsigned i = 0; i < NP; i++)
        A[i] = take_used();
    struct obmt_arena_counts k0;
    arena_counts(&k0);
    uint64_t purged0 = arena_pools_purged();

    /* Give 10 pools back: they stay resident while the delay runs. */
    for (unsigned i = 0; i < 10; i++)
        arena_give_pool(A[i]);
    arena_maybe_purge(false);
    for (unsigned i = 0; i < 10; i++)
        CHECK_MSG(resident_pages(pool_mem(A[i]), OBMT_POOL_SIZE) == OBMT_POOL_SIZE / 4096, "pool %u purged early", i);
    CHECK(arena_pools_purged() == purged0);

    /* After the delay: exactly those pools' pages go back. */
    sleep_ms(2 * DELAY_MS);
    arena_maybe_purge(false);
    for (unsigned i = 0; i < 10; i++)
        CHECK_MSG(resident_pages(pool_mem(A[i]), OBMT_POOL_SIZE) == 0, "pool %u still resident", i);
    for (unsigned i = 10; i < NP; i++)
        CHECK_MSG(resident_pages(pool_mem(A[i]), OBMT_POOL_SIZE) == OBMT_POOL_SIZE / 4096, "live pool %u purged", i);
    CHECK(arena_pools_purged() == purged0 + 10);
    struct obmt_arena_counts k;
    arena_counts(&k);
    CHECK(k.free_pools == k0.free_pools + 10 && k.committed == k0.committed);

    /* A second pass finds nothing new to purge. */
    sleep_ms(2 * DELAY_MS);
    arena_maybe_purge(true);
    CHECK(arena_pools_purged() == purged0 + 10);

    /* Purged pools are taken again (they are still free in the arena): their
     * memory reads as zeros and their header (out of line) says purged. */
    for (unsigned i = 0; i < 10; i++) {
        pool_header *p = arena_take_pool();
        CHECK(arena_slot_of((uintptr_t)pool_mem(p)) == arena_slot_of((uintptr_t)pool_mem(A[0])));
        CHECK(p->size == 0 && p->freeblock == NULL && p->carved_bound == 0);
        CHECK(((unsigned char *)pool_mem(p))[0] == 0 && ((unsigned char *)pool_mem(p))[OBMT_POOL_SIZE - 1] == 0);
        A[i] = p;
        memset(pool_mem(p), 0xcd, OBMT_POOL_SIZE);
        p->size = 16;
    }

    /* Delay -1: nothing is ever purged. */
    CHECK(obmt_option_set("purge_delay_ms", -1) == 0);
    arena_give_pool(A[0]);
    sleep_ms(2 * DELAY_MS);
    arena_maybe_purge(true);
    CHECK(resident_pages(pool_mem(A[0]), OBMT_POOL_SIZE) == OBMT_POOL_SIZE / 4096);
    A[0] = arena_take_pool();
    A[0]->size = 16;

    /* A wholly free arena waits for the delay as well, then is decommitted;
     * arena_maybe_purge(true) does not wait. */
    CHECK(obmt_option_set("purge_delay_ms", 60 * 1000) == 0);
    for (unsigned i = 0; i < NP; i++)
        arena_give_pool(A[i]);
    arena_maybe_purge(false);
    arena_counts(&k);
    CHECK_MSG(k.committed == k0.committed, "decommitted before the delay");
    arena_maybe_purge(true);
    arena_counts(&k);
    CHECK_MSG(k.committed == k0.committed - 1, "committed %zu", k.committed);
    CHECK(resident_pages(pool_mem(A[NP - 1]), OBMT_POOL_SIZE) == 0);
    CHECK_DONE("purge");
}
