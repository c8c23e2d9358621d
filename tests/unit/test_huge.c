/* Huge blocks (src/huge.c, arena.c's runs): a run of whole arenas per
 * block, arena-aligned; freed runs stay resident and are reused (best fit,
 * adjacent ones coalesce) until the purge gives them back; the claim rolls
 * back when an arena of the run is taken meanwhile; bad pointers abort;
 * realloc keeps or moves them with their contents; the statistics count
 * them and still reconcile. */
#include "unit_util.h"

#include <stdio.h>
#include <time.h>

#define MIB ((size_t)1 << 20)
#define ARENA OBMT_ARENA_SIZE

static size_t cap_of(size_t k) { return k * ARENA - OBMT_POOL_GUARD; }
/* A request that needs exactly k arenas. */
static size_t req_of(size_t k) { return cap_of(k) - 4096; }

static void fill(unsigned char *p, size_t n, unsigned char seed)
{
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (unsigned char)(seed + i / 4096);
    p[n - 1] = seed;
}

/* The first n bytes of what fill(p, filled, seed) wrote. */
static void check_fill(const unsigned char *p, size_t n, size_t filled, unsigned char seed)
{
    for (size_t i = 0; i < n; i += 4096)
        CHECK_MSG(p[i] == (unsigned char)(seed + i / 4096) || i == filled - 1, "byte %zu of %p", i, (const void *)p);
    if (n == filled)
        CHECK(p[n - 1] == seed);
}

static void *free_in_thread(void *p)
{
    obmt_free(p);
    return NULL;
}

/* ---- death tests ---- */
static void double_free(void *arg)
{
    (void)arg;
    void *p = obmt_malloc(3 * MIB);
    obmt_free(p);
    obmt_free(p);
}
static void interior_head(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(3 * MIB);
    obmt_free(p + 4096);
}
static void interior_pool(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(3 * MIB);
    obmt_free(p + ARENA + 64);
}
static void usable_freed_head(void *arg)
{
    (void)arg;
    void *p = obmt_malloc(3 * MIB);
    obmt_free(p);
    fprintf(stderr, "%zu\n", obmt_usable_size(p));
}
static void usable_interior_pool(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(3 * MIB);
    fprintf(stderr, "%zu\n", obmt_usable_size(p + ARENA));
}
static void realloc_freed(void *arg)
{
    (void)arg;
    void *p = obmt_malloc(3 * MIB);
    obmt_free(p);
    unit_huge_caches_empty();
    fprintf(stderr, "%p\n", obmt_realloc(p, 4 * MIB));
}
static void usable_freed(void *arg)
{
    (void)arg;
    void *p = obmt_malloc(3 * MIB);
    obmt_free(p);
    void *q = obmt_malloc(100); /* something else */
    fprintf(stderr, "%zu %p\n", obmt_usable_size((char *)p + 4096), q);
}

/* A thread that frees a 3-arena block and exits (with a heap: a thread
 * that never allocated anything else has none, and keeps no run). */
static size_t keep_expected; /* arenas the thread's heap should keep */
static void *keep_in_thread(void *arg)
{
    (void)arg;
    obmt_free(obmt_malloc(16));
    void *p = obmt_malloc(req_of(3));
    CHECK(p != NULL);
    obmt_free(p);
    CHECK_MSG(huge_kept_arenas() == keep_expected, "%zu arenas kept, %zu expected", huge_kept_arenas(), keep_expected);
    return NULL;
}

int main(void)
{
    CHECK(obmt_ensure_init());
    obmt_free(obmt_malloc(16)); /* this thread's heap, one arena for pools */

    /* 1. A fresh run: arena-aligned, obmt's, the run's capacity usable,
     *    counted, drawn in the map. */
    struct obmt_stats st0 = unit_stats();
    unsigned char *a = obmt_malloc(3 * MIB);
    CHECK(a != NULL && obmt_owns(a) && ((uintptr_t)a & (ARENA - 1)) == 0);
    CHECK(obmt_usable_size(a) == cap_of(2));
    fill(a, cap_of(2), 1);
    struct obmt_stats st1 = unit_stats();
    CHECK(st1.huge_allocs == st0.huge_allocs + 1 && st1.bytes_huge == st0.bytes_huge + 2 * ARENA);
    CHECK(st1.huge_bytes_in_use == st0.huge_bytes_in_use + cap_of(2));
    CHECK(st1.huge_request_min == OBMT_MEDIUM_MAX + 1);
    unit_check_reconciles();
    size_t mapn = obmt_arena_map(NULL, 0);
    unsigned char *map = malloc(mapn);
    CHECK(obmt_arena_map(map, mapn) == mapn);
    size_t at = (size_t)((uintptr_t)a - arena_base()) / OBMT_POOL_SIZE;
    CHECK(map[at] == OBMT_MAP_HUGE && map[at + 2 * OBMT_POOLS_PER_ARENA - 1] == OBMT_MAP_HUGE);
    free(map);
    /* The smallest huge request, and one below it (the largest medium block). */
    void *s1 = obmt_malloc(OBMT_MEDIUM_MAX + 1), *s0 = obmt_malloc(OBMT_MEDIUM_MAX);
    CHECK(obmt_owns(s1) && obmt_usable_size(s1) == cap_of(1));
    CHECK(obmt_owns(s0) && obmt_usable_size(s0) == OBMT_MEDIUM_MAX && (uintptr_t)s0 % OBMT_POOL_SIZE == 0);
    obmt_free(s0);
    obmt_free(s1);

    /* 2. Freed, then asked again: the same run, still resident (secure mode
     *    decommits it at once: its guard pages went). */
    obmt_free(a);
    CHECK(unit_stats().huge_frees == st0.huge_frees + 2);
    unit_check_reconciles();
    unsigned char *a2 = obmt_malloc(3 * MIB);
    CHECK_MSG(a2 == a, "%p then %p", (void *)a, (void *)a2);
    if (!OBMT_SECURE)
        CHECK_MSG(resident_pages(a2, 3 * MIB) == 3 * MIB / 4096, "%zu pages resident",
                  resident_pages(a2, 3 * MIB));

    /* 3. calloc zeroes a reused (dirty) run, and a fresh one reads zeros. */
    fill(a2, 3 * MIB, 7);
    obmt_free(a2);
    unsigned char *z = obmt_calloc(3, MIB);
    CHECK(z == a);
    for (size_t i = 0; i < 3 * MIB; i += 512)
        CHECK_MSG(z[i] == 0, "calloc: byte %zu", i);
    unsigned char *zf = obmt_calloc(1, 5 * MIB);
    CHECK(obmt_owns(zf));
    for (size_t i = 0; i < 5 * MIB; i += 512)
        CHECK(zf[i] == 0);
    obmt_free(zf);
    obmt_free(z);

    /* 4. The cache: a freed run is kept whole, and the next huge malloc of
     *    the same number of arenas takes it; one of another size gives the
     *    cached runs back to their arenas first. */
    unit_huge_caches_empty();
    CHECK(unit_stats().bytes_huge_cached == 0);
    unsigned char *c5 = obmt_malloc(req_of(5));
    obmt_free(c5);
    CHECK_MSG(unit_stats().bytes_huge_cached == (OBMT_SECURE ? 0 : 5 * ARENA), "cached %llu", (unsigned long long)unit_stats().bytes_huge_cached);
    CHECK(unit_stats().bytes_huge == (OBMT_SECURE ? 0 : 5 * ARENA) + st0.bytes_huge);
    unsigned char *c5b = obmt_malloc(req_of(5) - 100000);
    CHECK(OBMT_SECURE || c5b == c5);
    CHECK(unit_stats().bytes_huge_cached == 0);
    obmt_free(c5b);
    unsigned char *c3 = obmt_malloc(req_of(3));
    CHECK(unit_stats().bytes_huge_cached == 0 && unit_stats().bytes_huge == 3 * ARENA + st0.bytes_huge);
    unit_check_reconciles();
    obmt_free(c3);

    /* 4b. The thread's kept run: a freed run of up to OBMT_HUGE_KEEP_ARENAS
     *     arenas stays in the freeing thread's heap, not in the shared
     *     cache, and the thread's next malloc of the same size takes it; a
     *     newer one, a malloc of another size, a decay with no put since
     *     the last, and the thread's exit move it to the shared cache. */
    if (!OBMT_SECURE && OBMT_HUGE_KEEP_ARENAS >= 4) {
        struct heap *me = heap_self();
        unit_huge_caches_empty();
        unsigned char *k3 = obmt_malloc(req_of(3));
        obmt_free(k3);
        CHECK(huge_cache_arenas() == 0 && huge_kept_arenas() == 3 && me->huge_kept != 0);
        CHECK(unit_stats().bytes_huge_cached == 3 * ARENA);
        unsigned char *k3b = obmt_malloc(req_of(3) - 12345);
        CHECK(k3b == k3 && huge_kept_arenas() == 0 && huge_cache_arenas() == 0);
        unsigned char *k4 = obmt_malloc(req_of(4));
        obmt_free(k3b);
        obmt_free(k4); /* the newer is kept, the older goes to the shared cache */
        CHECK(huge_kept_arenas() == 4 && huge_cache_arenas() == 3);
        unsigned char *big = obmt_malloc(req_of(OBMT_HUGE_KEEP_ARENAS + 1));
        CHECK(huge_kept_arenas() == 0); /* another size: the kept run went to the shared cache */
        CHECK(huge_cache_arenas() == 0); /* ... which, with no run of that size, gave its runs back */
        obmt_free(big); /* too large to keep: the shared cache */
        CHECK(huge_kept_arenas() == 0 && huge_cache_arenas() == OBMT_HUGE_KEEP_ARENAS + 1);
        unit_huge_caches_empty();
        unsigned char *k2 = obmt_malloc(req_of(2));
        obmt_free(k2);
        huge_keep_decay(me); /* kept since the last decay: stays */
        CHECK(huge_kept_arenas() == 2 && huge_cache_arenas() == 0);
        huge_keep_decay(me); /* unused for a whole period: to the shared cache */
        CHECK(huge_kept_arenas() == 0 && huge_cache_arenas() == 2);
        unit_huge_caches_empty();
        keep_expected = 3;
        run_in_thread(keep_in_thread, NULL); /* its kept run reaches the shared cache at its exit */
        CHECK_MSG(huge_kept_arenas() == 0 && huge_cache_arenas() == 3, "%zu kept, %zu cached", huge_kept_arenas(),
                  huge_cache_arenas());
        CHECK(unit_stats().bytes_huge_cached == 3 * ARENA);
        unit_huge_caches_empty();
        CHECK(unit_stats().bytes_huge_cached == 0);
        /* Where idle heaps cannot be lent, nothing would take an idle
         * thread's run back: a heap taken then keeps none. */
        long lend0 = 1;
        CHECK(obmt_option_get("lend_idle", &lend0) == 0);
        CHECK(obmt_option_set("lend_idle", 0) == 0);
        keep_expected = 0;
        run_in_thread(keep_in_thread, NULL);
        CHECK(obmt_option_set("lend_idle", lend0) == 0);
        CHECK(huge_kept_arenas() == 0 && huge_cache_arenas() == 3);
        unit_huge_caches_empty();
        /* realloc grows a block into the kept run right after it, in place. */
        unit_hold_free_arenas(); /* (so that the two are adjacent, from the frontier) */
        unsigned char *ga = obmt_malloc(req_of(2)), *gb = obmt_malloc(req_of(2));
        CHECK(gb == ga + 2 * ARENA);
        {
            fill(ga, req_of(2), 9);
            obmt_free(gb); /* kept */
            CHECK(huge_kept_arenas() == 2);
            unsigned char *ga2 = obmt_realloc(ga, req_of(4));
            CHECK_MSG(ga2 == ga, "moved: %p -> %p", (void *)ga, (void *)ga2);
            check_fill(ga2, req_of(2), req_of(2), 9);
            ga = ga2;
        }
        obmt_free(ga);
        unit_release_held();
        unit_huge_caches_empty();
        CHECK(unit_stats().bytes_huge_cached == 0);
        unit_check_reconciles();
    }

    /* 5. Best fit and coalescing in the arenas, with the cache emptied and
     *    every free arena held, so that the only free runs are those made
     *    here: an 11-arena run, of which arenas 1-5 and 7-9 are given back
     *    (0, 6 and 10 stay held as separators). */
    unit_hold_free_arenas();
    bool zero;
    size_t f = arena_take_run(11, &zero);
    CHECK(f != SIZE_MAX);
    unsigned char *run = (unsigned char *)(arena_base() + (f << OBMT_ARENA_SHIFT));
    arena_give_run(f + 1, 5);
    arena_give_run(f + 7, 3);
    unsigned char *y3 = obmt_malloc(req_of(3));
    CHECK_MSG(y3 == run + 7 * ARENA, "best fit: %p, the 3-run is %p, the 5-run %p", (void *)y3,
              (void *)(run + 7 * ARENA), (void *)(run + ARENA));
    huge_free(pool_of(y3), y3); /* (into the cache) */
    unit_huge_caches_empty();
    arena_give_run(f + 6, 1); /* the separator: 5 + 1 + 3 adjacent free arenas */
    unsigned char *y9 = obmt_malloc(req_of(9));
    CHECK_MSG(y9 == run + ARENA, "coalesced: %p, expected %p", (void *)y9, (void *)(run + ARENA));
    obmt_free(y9);
    unit_huge_caches_empty();

    /* 6. A claim that fails part-way (the test hook fails the 2nd arena's
     *    claim once) rolls back and tries again: the same run, the arenas'
     *    free-pool counts as they should be. */
    struct obmt_stats before = unit_stats();
    obmt_store_relaxed(&arena_run_fail_claim, 2);
    unsigned char *r3 = obmt_malloc(req_of(9));
    CHECK(obmt_load_relaxed(&arena_run_fail_claim) == 0);
    CHECK_MSG(r3 == run + ARENA, "after a rollback: %p, expected %p", (void *)r3, (void *)(run + ARENA));
    struct obmt_stats after = unit_stats();
    /* (secure mode: the run was decommitted, so its pools were not counted free) */
    CHECK_MSG((OBMT_SECURE || after.pools_free_in_arenas == before.pools_free_in_arenas - 9 * OBMT_POOLS_PER_ARENA) &&
              after.bytes_huge == before.bytes_huge + 9 * ARENA, "free pools %llu then %llu",
              (unsigned long long)before.pools_free_in_arenas, (unsigned long long)after.pools_free_in_arenas);
    unit_check_reconciles();
    obmt_free(r3);
    arena_give_run(f, 1);
    arena_give_run(f + 10, 1);
    unit_release_held();
    unit_check_reconciles();

    /* 7. realloc to another huge size: in place when the number of arenas
     *    does not change, cut when it shrinks, grown into the free arenas
     *    (here the frontier's) when it grows; moved, a quarter larger, when
     *    the arena after it is taken; to a medium or pool block below the
     *    huge sizes. Contents kept throughout. */
    unit_hold_free_arenas();
    unsigned char *g = obmt_malloc(3 * MIB);
    fill(g, 3 * MIB, 3);
    CHECK(obmt_realloc(g, cap_of(2)) == g);
    CHECK(obmt_realloc(g, 3 * MIB) == g && obmt_usable_size(g) == cap_of(2));
    unsigned char *g2 = obmt_realloc(g, 9 * MIB);
    CHECK(g2 == (OBMT_SECURE ? g2 : g) && obmt_usable_size(g2) == cap_of(OBMT_SECURE ? 6 : 5)); /* (secure: moved, 9 + 9/4 MiB) */
    check_fill(g2, 3 * MIB, 3 * MIB, 3);
    unsigned char *blocker = obmt_malloc(req_of(1));
    CHECK(OBMT_SECURE || blocker == g2 + 5 * ARENA);
    fill(g2 + 3 * MIB, 6 * MIB, 9); /* (and the rest of the 9 MiB) */
    unsigned char *g3 = obmt_realloc(g2, 13 * MIB);
    CHECK(g3 != NULL && g3 != g2 && obmt_owns(g3) && obmt_usable_size(g3) == cap_of(9)); /* 13 + 13/4 MiB */
    check_fill(g3, 3 * MIB, 3 * MIB, 3);
    check_fill(g3 + 3 * MIB, 6 * MIB, 6 * MIB, 9);
    obmt_free(blocker);
    unit_release_held();
    unit_check_reconciles();
    unsigned char *g4 = obmt_realloc(g3, 3 * MIB); /* 9 arenas to 2: the tail goes back */
    CHECK(g4 == (OBMT_SECURE ? g4 : g3) && obmt_usable_size(g4) == cap_of(2));
    check_fill(g4, 3 * MIB, 3 * MIB, 3);
    unit_check_reconciles();
    unsigned char *g5 = obmt_realloc(g4, 512 * 1024); /* a medium block */
    CHECK(g5 != NULL && obmt_owns(g5) && obmt_usable_size(g5) == 512 * 1024);
    check_fill(g5, 512 * 1024, 3 * MIB, 3);
    unsigned char *g6 = obmt_realloc(g5, 4 * MIB); /* back to a huge block */
    CHECK(g6 != NULL && obmt_owns(g6) && (uintptr_t)g6 % ARENA == 0);
    check_fill(g6, 512 * 1024, 3 * MIB, 3);
    unsigned char *g7 = obmt_realloc(g6, 100); /* into a pool */
    CHECK(obmt_owns(g7) && obmt_usable_size(g7) < 4096 && g7[0] == 3);
    obmt_free(g7);

    /* 7a. A cached run split for a new span arena (huge_cache_take_arena)
     *     keeps its age: the rest, put back, goes to the purge a delay
     *     after the block's free, not a delay after the split (else a run
     *     split again and again never went back: 74 of 100 MiB still
     *     cached after 4.8 s). */
    if (!OBMT_SECURE && OBMT_HUGE_CACHE != 0) {
        unit_huge_caches_empty();
        unsigned char *hr = obmt_malloc(req_of(8));
        obmt_free(hr); /* kept by this thread, then in the shared cache: 8 arenas */
        huge_keep_flush(heap_self());
        CHECK(huge_cache_arenas() == 8);
        struct timespec ts = { 0, 30 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        size_t s0 = huge_cache_take_arena();
        CHECK(s0 == arena_slot_of((uintptr_t)hr) && huge_cache_arenas() == 7);
        long delay = 1000;
        huge_cache_purge(false, os_now_ms() + (uint64_t)delay - 15, delay); /* 15 ms short of a delay after the split */
        CHECK_MSG(huge_cache_arenas() == 0, "%zu arenas still cached", huge_cache_arenas());
        arena_give_run(s0, 1);
        unit_check_reconciles();
    }

    /* 7b. A freed run's arenas go back with their pools on the free stack,
     *     dirty: once a pool taker has one of them, the purge still gives
     *     the others' pages back (filed virgin, they would stay). */
    if (!OBMT_SECURE) {
        unit_hold_free_arenas();
        unsigned char *d = obmt_malloc(req_of(1));
        memset(d, 0x5a, req_of(1));
        obmt_free(d);
        unit_huge_caches_empty();
        pool_header *taken[4096];
        size_t ntaken = 0;
        bool in_d = false;
        while (!in_d) {
            CHECK(ntaken < 4096);
            pool_header *tp = arena_take_pool();
            CHECK(tp != NULL);
            taken[ntaken++] = tp;
            in_d = (unsigned char *)pool_mem(tp) >= d && (unsigned char *)pool_mem(tp) < d + ARENA;
        }
        obmt_collect();
        size_t res = resident_pages(d, ARENA);
        CHECK_MSG(res <= OBMT_POOL_SIZE / 4096, "%zu pages of the run's arena resident after the purge", res);
        while (ntaken)
            arena_give_pool(taken[--ntaken]);
        unit_release_held();
        unit_check_reconciles();
    }

    /* 8. Aligned requests: up to the arena's alignment obmt's. */
    void *al = NULL;
    CHECK(obmt_posix_memalign(&al, ARENA, 3 * MIB) == 0 && obmt_owns(al) && ((uintptr_t)al & (ARENA - 1)) == 0);
    obmt_free(al);
    void *al2 = obmt_aligned_alloc(2 * ARENA, 3 * MIB);
    CHECK(al2 != NULL && ((uintptr_t)al2 & (2 * ARENA - 1)) == 0);
    obmt_free(al2);
    /* Above it too: a run from an aligned slot, nothing over-allocated
     * (the arenas skipped at the frontier are left wholly free: the huge
     * bytes held are the run's). */
    for (size_t align = 2 * ARENA; align <= 64 * MIB; align *= 2) {
        static const size_t ns[] = { 0, 100, 3 * MIB, 9 * MIB };
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            struct obmt_stats sa0 = unit_stats();
            unsigned char *a = obmt_aligned_alloc(align, ns[i]);
            size_t k = ns[i] ? (ns[i] + OBMT_POOL_GUARD + ARENA - 1) / ARENA : 1;
            CHECK_MSG(a && obmt_owns(a) && (uintptr_t)a % align == 0, "aligned_alloc(%zu, %zu) = %p", align, ns[i], (void *)a);
            CHECK(obmt_usable_size(a) == cap_of(k));
            struct obmt_stats sa1 = unit_stats();
            CHECK_MSG(sa1.bytes_huge == sa0.bytes_huge + k * ARENA, "%llu bytes of huge runs for %zu arenas",
                      (unsigned long long)(sa1.bytes_huge - sa0.bytes_huge), k);
            /* (the slots skipped at the frontier are not committed) */
            CHECK_MSG(sa1.bytes_committed <= sa0.bytes_committed + k * ARENA, "committed %llu more for %zu arenas",
                      (unsigned long long)(sa1.bytes_committed - sa0.bytes_committed), k);
            if (ns[i]) {
                fill(a, ns[i], 13);
                check_fill(a, ns[i], ns[i], 13);
            }
            unit_check_reconciles();
            obmt_free(a);
        }
    }
    {
        /* A 1 GiB alignment skips up to 511 slots at the frontier: none is
         * committed or charged, all stay free for later runs. */
        struct obmt_stats sg0 = unit_stats();
        void *g1 = obmt_aligned_alloc((size_t)1 << 30, 100);
        CHECK(g1 && ((uintptr_t)g1 & (((size_t)1 << 30) - 1)) == 0);
        CHECK(unit_stats().bytes_committed <= sg0.bytes_committed + ARENA);
        unit_check_reconciles();
        obmt_free(g1);
    }

    /* 9. Freed by another thread, and by one without a heap. */
    void *t1 = obmt_malloc(5 * MIB);
    run_in_thread(free_in_thread, t1);
    unit_check_reconciles();

    /* 10. The purge gives freed runs back to the OS (all but the one arena
     *    kept, OBMT_KEEP_FREE_ARENAS). */
    unsigned char *big = obmt_malloc(req_of(6));
    fill(big, req_of(6), 9);
    obmt_free(big);
    obmt_collect();
    size_t res = 0;
    for (size_t i = 0; i < 6; i++)
        res += resident_pages(big + i * ARENA, ARENA) > 0;
    CHECK_MSG(res <= OBMT_KEEP_FREE_ARENAS, "%zu arenas of a freed run still resident after the purge", res);
    unit_check_reconciles();
    /* ... and they come back, zero-filled, when asked for. */
    unsigned char *back = obmt_calloc(1, req_of(6));
    CHECK(obmt_owns(back));
    for (size_t i = 0; i < req_of(6); i += 4096)
        CHECK(back[i] == 0);
    obmt_free(back);

    /* 11. The OS refuses the commit of a fresh run: the request falls back
     *     to the underlying allocator, and the arenas are tried again later.
     *     A failed fresh run gives its slots back to the frontier: a long
     *     out-of-memory episode must not use up the reservation. */
    unit_hold_free_arenas(); /* (so that no run of 40 free arenas is left below the frontier) */
    /* (Purging off: with it, a refusal is tried once more after a forced
     * purge, 11b below, and these one-off refusals would not be seen.) */
    long delay = 0;
    CHECK(obmt_option_get("purge_delay_ms", &delay) == 0 && obmt_option_set("purge_delay_ms", -1) == 0);
    size_t used0 = arena_slots_used();
    for (int i = 0; i < 8; i++) {
        obmt_store_relaxed(&os_fail_commits, 1 + i % 3); /* the 1st, 2nd or 3rd commit fails */
        void *oom = obmt_malloc(req_of(40)); /* more than every free run: fresh */
        CHECK(oom != NULL && !obmt_owns(oom));
        obmt_free(oom);
        obmt_store_relaxed(&os_fail_commits, 0);
        /* (the arenas committed before the failure stay, wholly free, below it) */
        CHECK(arena_slots_used() <= used0 + (size_t)(i % 3));
        used0 = arena_slots_used();
    }
    void *ok = obmt_malloc(req_of(40));
    CHECK(ok != NULL && obmt_owns(ok));
    CHECK_MSG(arena_slot_of((uintptr_t)ok) + 40 == arena_slots_used(), "run at %zu, frontier %zu", arena_slot_of((uintptr_t)ok), arena_slots_used()); /* the run ends at the frontier */
    /* A grow in place at the frontier whose commits fail: the fresh slots
     * go back too (the realloc then moves the block: obmt's run fails the
     * same way, so to the underlying allocator, contents kept). */
    used0 = arena_slots_used();
    fill(ok, MIB, 11);
    obmt_store_relaxed(&os_fail_commits, 1000);
    void *moved = obmt_realloc(ok, req_of(44));
    obmt_store_relaxed(&os_fail_commits, 0);
    CHECK(moved != NULL && !obmt_owns(moved));
    check_fill(moved, MIB, MIB, 11);
    CHECK(arena_slots_used() == used0);
    obmt_free(moved);
    CHECK(obmt_option_set("purge_delay_ms", delay) == 0);
    /* 11b. With purging on, a refusal is followed by a forced purge and
     *     one more try if the purge gave something back (what the delay
     *     held, address space included: under RLIMIT_AS that is what makes
     *     room): a one-off refusal is not seen. */
    obmt_store_relaxed(&os_fail_commits, 1);
    void *retry = obmt_malloc(req_of(44)); /* (more than the free run the realloc left) */
    CHECK(obmt_load_relaxed(&os_fail_commits) == 0); /* (it was refused once) */
    /* Secure mode holds nothing whole to give back (freed runs are
     * decommitted at once): no second try, the fallback serves. */
    CHECK(retry != NULL && obmt_owns(retry) == !OBMT_SECURE);
    obmt_free(retry);
    unit_release_held();
    unit_check_reconciles();

    /* 5b. Resident arenas first: a decommitted 2-arena stretch and a
     *     resident 3-arena one; a 2-arena request takes the resident one
     *     (no page faulted in afresh), not the shorter. (Secure mode
     *     decommits a freed run at once: no free arena is resident.) */
    if (!OBMT_SECURE) {
        unit_hold_free_arenas();
        long keep = 0;
        CHECK(obmt_option_get("keep_free_arenas", &keep) == 0 && obmt_option_set("keep_free_arenas", 0) == 0);
        bool z;
        size_t g = arena_take_run(9, &z);
        CHECK(g != SIZE_MAX);
        unsigned char *gr = (unsigned char *)(arena_base() + (g << OBMT_ARENA_SHIFT));
        arena_give_run(g, 2);
        arena_maybe_purge(true); /* (the only wholly free arenas: decommitted) */
        arena_give_run(g + 3, 3); /* resident; g + 2 and g + 6..8 stay held */
        unsigned char *y2 = obmt_malloc(req_of(2));
        CHECK_MSG(y2 == gr + 3 * ARENA, "resident first: %p, the resident run is %p, the decommitted %p", (void *)y2,
                  (void *)(gr + 3 * ARENA), (void *)gr);
        obmt_free(y2);
        unit_huge_caches_empty();
        arena_give_run(g + 2, 1);
        arena_give_run(g + 6, 3);
        CHECK(obmt_option_set("keep_free_arenas", keep) == 0);
        unit_release_held();
        unit_check_reconciles();
    }

    /* 12. Bad pointers abort with a message that names the fault. */
    expect_death(double_free, NULL, SIGABRT, "double free of a huge block", "free(): invalid pointer");
    expect_death(interior_head, NULL, SIGABRT, "inside a huge block's first pool", "inside a huge block");
    expect_death(interior_pool, NULL, SIGABRT, "inside a huge block's run", "free(): invalid pointer");
    expect_death(usable_freed, NULL, SIGABRT, "usable size inside a freed block", "malloc_usable_size(): invalid pointer");
    expect_death(usable_freed_head, NULL, SIGABRT, "usable size of a freed block", "malloc_usable_size(): invalid pointer");
    expect_death(usable_interior_pool, NULL, SIGABRT, "usable size inside a block's run", "malloc_usable_size(): invalid pointer");
    expect_death(realloc_freed, NULL, SIGABRT, "realloc of a freed block", "realloc(): invalid pointer");

    /* 13. Sizes across the boundaries of k, with contents. */
    for (size_t k = 1; k <= 9; k++) {
        size_t sizes[3] = { cap_of(k) - 1, cap_of(k), cap_of(k) + 1 };
        for (int i = 0; i < 3; i++) {
            unsigned char *p = obmt_malloc(sizes[i]);
            CHECK(p && obmt_owns(p) && obmt_usable_size(p) >= sizes[i] && obmt_usable_size(p) - sizes[i] < ARENA);
            fill(p, sizes[i], (unsigned char)k);
            check_fill(p, sizes[i], sizes[i], (unsigned char)k);
            obmt_free(p);
        }
    }
    unit_check_reconciles();
    CHECK_DONE("unit_huge");
}
