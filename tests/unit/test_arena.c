/* Arenas: pools come from the arena with the fewest free pools (obmalloc's
 * usable_arenas order), a returned pool re-files its arena at once, a wholly
 * free arena is kept (hysteresis) and the next one is given back to the OS. */
#include "unit_util.h"

#include <sys/mman.h>

#define NP OBMT_POOLS_PER_ARENA

static size_t slot(pool_header *p) { return arena_slot_of((uintptr_t)p); }
static void *pool_at_test(size_t s) { return (void *)(g_hot.base + (s << OBMT_ARENA_SHIFT)); }


/* Pools out of one arena, as a stack. */
struct out { pool_header *p[NP]; unsigned n; };
static void take_into(struct out *o, pool_header *p) { o->p[o->n++] = p; }
static void give_from(struct out *o) { arena_give_pool(o->p[--o->n]); }

int main(void)
{
    CHECK(obmt_ensure_init());
    /* Purge delay 0: a wholly free arena beyond the kept one is decommitted
     * at once (test_purge covers the delay). */
    CHECK(obmt_option_set("purge_delay_ms", 0) == 0);
    static struct out A, B;
    for (unsigned i = 0; i < NP; i++)
        take_into(&A, arena_take_pool());
    for (unsigned i = 0; i < NP; i++)
        take_into(&B, arena_take_pool());
    size_t sa = slot(A.p[0]), sb = slot(B.p[0]);
    CHECK(sa != sb);
    for (unsigned i = 0; i < NP; i++) {
        CHECK(slot(A.p[i]) == sa && slot(B.p[i]) == sb);
        memset(A.p[i], 1, OBMT_POOL_SIZE); /* make both arenas resident */
        memset(B.p[i], 1, OBMT_POOL_SIZE);
    }
    struct obmt_arena_counts k;
    arena_counts(&k);
    CHECK(k.committed == 2 && k.free_pools == 0);

    /* A has 3 free pools, B has 10: new pools come from A, the fuller. */
    for (unsigned i = 0; i < 10; i++)
        give_from(&B);
    for (unsigned i = 0; i < 3; i++)
        give_from(&A);
    arena_counts(&k);
    CHECK(k.free_pools == 13);
    for (unsigned i = 0; i < 3; i++) {
        pool_header *p = arena_take_pool();
        CHECK_MSG(slot(p) == sa, "pool %u came from the emptier arena", i);
        take_into(&A, p);
    }
    /* A is full again: the next pool comes from B, its last freed pool. */
    pool_header *last_b = B.p[B.n];
    pool_header *p = arena_take_pool();
    CHECK(slot(p) == sb && p == last_b);
    take_into(&B, p);
    /* Re-filing is immediate: give 20 of A back; B (9 free) is now fuller. */
    for (unsigned i = 0; i < 20; i++)
        give_from(&A);
    p = arena_take_pool();
    CHECK(slot(p) == sb);
    take_into(&B, p);

    /* Empty A wholly: it is kept committed (hysteresis keeps one). */
    while (A.n)
        give_from(&A);
    arena_counts(&k);
    CHECK(k.committed == 2 && k.decommits == 0);
    CHECK(resident_pages(pool_at_test(sa), OBMT_ARENA_SIZE) > 0);

    /* Empty B wholly: A is already kept, so B goes back to the OS. */
    while (B.n)
        give_from(&B);
    arena_counts(&k);
    CHECK(k.committed == 1 && k.decommits == 1);
    CHECK(k.free_pools == NP); /* the kept arena; B's are decommitted */
    CHECK(resident_pages(pool_at_test(sb), OBMT_ARENA_SIZE) == 0);

    /* Taking pools again prefers the kept arena, then reuses B's slot
     * rather than a new one, committing it again. */
    for (unsigned i = 0; i < NP; i++)
        take_into(&A, arena_take_pool());
    for (unsigned i = 0; i < NP; i++)
        CHECK(slot(A.p[i]) == sa);
    p = arena_take_pool();
    CHECK(slot(p) == sb);
    arena_counts(&k);
    CHECK(k.committed == 2 && k.slots_used == 2);
    CHECK_DONE("arena");
}
