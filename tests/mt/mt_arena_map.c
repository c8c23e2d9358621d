/* The arena map (obmt_arena_map): one byte per pool, and it agrees with the
 * statistics: per class the used, full and empty pools, the free pools of
 * the committed arenas, the decommitted arenas, the abandoned pools; purged
 * pools show as purged; and it can be read while other threads allocate
 * (every byte a valid state; ThreadSanitizer in the TSan build). With
 * OBMT_STATS_MAP=1 and OBMT_STATS_FILE set (ctest does), the line at exit
 * carries the map, which the arena_map_draw test draws. */
#include "mt_util.h"

#define MAXMAP (1 << 20)
static unsigned char map[MAXMAP];
static size_t ppa;

struct census { size_t n, kind[256]; };

static void take_census(struct census *c, const char *when)
{
    memset(c, 0, sizeof *c);
    c->n = obmt_arena_map(map, MAXMAP);
    CHECK_MSG(c->n > 0 && c->n <= MAXMAP && c->n % ppa == 0, "%s: map of %zu bytes", when, c->n);
    for (size_t i = 0; i < c->n; i++)
        c->kind[map[i]]++;
}

/* The map and the statistics, taken with no other thread running. */
static void agree(const char *when)
{
    struct census c;
    take_census(&c, when);
    struct obmt_stats st = stats_now();
    CHECK_MSG(c.n == st.arenas_used_hwm * ppa, "%s: %zu bytes for %llu arena slots", when, c.n,
              (unsigned long long)st.arenas_used_hwm);
    CHECK_MSG(c.kind[OBMT_MAP_UNCOMMITTED] == (st.arenas_used_hwm - st.arenas_committed) * ppa,
              "%s: %zu pools in uncommitted arenas, stats: %llu of %llu arenas committed", when,
              c.kind[OBMT_MAP_UNCOMMITTED], (unsigned long long)st.arenas_committed,
              (unsigned long long)st.arenas_used_hwm);
    size_t free_pools = c.kind[OBMT_MAP_VIRGIN] + c.kind[OBMT_MAP_FREE] + c.kind[OBMT_MAP_PURGED];
    CHECK_MSG(free_pools == st.pools_free_in_arenas, "%s: %zu free pools in the map, %llu in the statistics",
              when, free_pools, (unsigned long long)st.pools_free_in_arenas);
    CHECK_MSG(c.kind[OBMT_MAP_ABANDONED] == st.pools_abandoned, "%s: %zu abandoned in the map, %llu in the statistics",
              when, c.kind[OBMT_MAP_ABANDONED], (unsigned long long)st.pools_abandoned);
    /* The statistics count abandoned and reclaimed pools in their classes;
     * the map gives them their own bytes. */
    size_t owned = c.kind[OBMT_MAP_ABANDONED] + c.kind[OBMT_MAP_RECLAIMED], classed = 0;
    for (uint32_t k = 0; k < st.nclasses; k++) {
        size_t e = c.kind[OBMT_MAP_EMPTY | k], u = c.kind[OBMT_MAP_USED | k], f = c.kind[OBMT_MAP_FULL | k];
        const struct obmt_class_stats *s = &st.classes[k];
        owned += e + u + f;
        classed += s->pools_empty + s->pools_used + s->pools_full;
        if (c.kind[OBMT_MAP_ABANDONED] + c.kind[OBMT_MAP_RECLAIMED] == 0)
            CHECK_MSG(e == s->pools_empty && u == s->pools_used && f == s->pools_full,
                      "%s: class %u (%u bytes): map %zu empty %zu used %zu full, statistics %llu %llu %llu", when,
                      k, s->block_size, e, u, f, (unsigned long long)s->pools_empty,
                      (unsigned long long)s->pools_used, (unsigned long long)s->pools_full);
    }
    CHECK_MSG(owned == classed, "%s: %zu pools held by threads in the map, %zu in the statistics", when, owned, classed);
    CHECK(owned + free_pools + c.kind[OBMT_MAP_UNCOMMITTED] == c.n); /* no other byte */
}

#define NB 6000
static void *blocks[NB];
static const size_t sizes[] = { 16, 96, 512, 1024, 4000, 7000 }; /* all from pools, in secure mode too */

static void *alloc_and_exit(void *arg)
{
    void **out = arg;
    for (int i = 0; i < 300; i++)
        out[i] = obmt_malloc(256);
    return NULL;
}

static int stop; /* atomic: relaxed store and loads */
static void *churn(void *arg)
{
    uint64_t seed = (uintptr_t)arg;
    void *mine[256] = { 0 };
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        for (int i = 0; i < 256; i++) {
            seed = mix64(seed + 1);
            if (mine[i])
                obmt_free(mine[i]);
            mine[i] = obmt_malloc(16 + seed % 6000);
            CHECK(mine[i] != NULL);
        }
    }
    for (int i = 0; i < 256; i++)
        obmt_free(mine[i]);
    return NULL;
}

int main(void)
{
    struct obmt_stats st = stats_now();
    ppa = st.arena_size / st.pool_size;
    CHECK(ppa >= 2 && ppa <= 64);
    CHECK(obmt_option_set("purge_delay_ms", -1) == 0); /* nothing purged behind the test's back */

    /* 1. Blocks of six classes from this thread: full pools, partial ones,
     * and one class freed whole (its pools empty, some kept). About 14 MiB:
     * several arenas. */
    for (int i = 0; i < NB; i++) {
        blocks[i] = obmt_malloc(sizes[i % 6]);
        CHECK(blocks[i] != NULL);
    }
    for (int i = 3; i < NB; i += 6)
        obmt_free(blocks[i]); /* the 1024-byte class: every pool empties */
    agree("after allocating");
    struct census c;
    take_census(&c, "after allocating");
    CHECK_MSG(c.kind[OBMT_MAP_FULL | 0] + c.kind[OBMT_MAP_USED | 0] > 0, "no pool of 16-byte blocks in the map");

    /* 2. All but the 7000-byte blocks freed and purged at once: their
     * arenas stay in use, and the pools freed in them show as purged. */
    for (int i = 0; i < NB; i++)
        if (i % 6 != 3 && i % 6 != 5)
            obmt_free(blocks[i]);
    CHECK(obmt_option_set("purge_delay_ms", 0) == 0);
    CHECK(obmt_option_set("keep_empty_pools", 0) == 0);
    obmt_collect();
    agree("after freeing and purging");
    take_census(&c, "after freeing and purging");
    CHECK_MSG(c.kind[OBMT_MAP_PURGED] > 0, "no purged pool in the map");
    /* 3. The rest freed: arenas wholly free beyond the one kept go back to
     * the OS, and show as uncommitted. */
    for (int i = 5; i < NB; i += 6)
        obmt_free(blocks[i]);
    obmt_collect();
    agree("after freeing everything");
    take_census(&c, "after freeing everything");
    CHECK_MSG(c.kind[OBMT_MAP_UNCOMMITTED] > 0, "no decommitted arena in the map");
    CHECK(obmt_option_set("purge_delay_ms", -1) == 0);

    /* 4. A thread exits with blocks out: its pools are abandoned; freeing
     * them here adopts them and gives them back. */
    static void *left[300];
    pthread_t t;
    CHECK(pthread_create(&t, NULL, alloc_and_exit, left) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    agree("after a thread exited with blocks out");
    take_census(&c, "after a thread exited with blocks out");
    CHECK_MSG(c.kind[OBMT_MAP_ABANDONED] >= 2, "%zu abandoned pools", c.kind[OBMT_MAP_ABANDONED]);
    for (int i = 0; i < 300; i++)
        obmt_free(left[i]);
    obmt_collect();
    agree("after adopting them");

    /* 5. Read while two threads allocate and free: every byte is a state. */
    pthread_t w[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&w[i], NULL, churn, (void *)(uintptr_t)(i + 1)) == 0);
    uint32_t nclasses = stats_now().nclasses;
    for (int r = 0; r < SCALE(400); r++) {
        size_t n = obmt_arena_map(map, MAXMAP);
        CHECK(n <= MAXMAP);
        for (size_t i = 0; i < n; i++)
            CHECK_MSG(OBMT_MAP_KIND(map[i]) ? OBMT_MAP_CLASS(map[i]) < nclasses : map[i] <= OBMT_MAP_ABANDONED,
                      "byte %zu of the map: %#x", i, map[i]);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(w[i], NULL) == 0);
    agree("after the threads stopped");
    /* A small buffer gets the map's first bytes and its whole size. */
    unsigned char head[3];
    CHECK(obmt_arena_map(head, sizeof head) == obmt_arena_map(NULL, 0));
    CHECK_DONE("arena_map");
}
