/* Medium blocks (span.c): the class table, spans carved from span arenas
 * (pool 0 of a new arena, best fit, the fullest arena first), coalescing,
 * in-place realloc, calloc over dirty pools, the purge of free pools and the
 * retirement of a wholly free span arena, statistics and the map, frees
 * from other threads, and the aborts for bad pointers. */
#include "unit_util.h"

#include <semaphore.h>

#define KIB ((size_t)1024)
#define NP OBMT_POOLS_PER_ARENA

/* This thread's span cache, and the depot's chains (span_depot.c), back
 * to their arenas. */
static void flush(void)
{
    span_cache_flush(heap_self());
    depot_purge(true, os_now_ms(), 0);
}

static size_t pool_index(const void *p) { return ((uintptr_t)p - arena_base()) >> OBMT_POOL_SHIFT; }
static size_t slot_of(const void *p) { return arena_slot_of((uintptr_t)p); }

/* The hints (span.c): for every span arena, its bit in g_span_avail is
 * set when it has free pools, and its bit in g_span_whole when they are
 * all of its pools. `exact` (bit 0: avail, bit 1: whole): and that bit is
 * not set otherwise (one thread: no stale bit); else a stale set bit is
 * allowed (the protocol's races leave some: a purge pass clears the stale
 * whole bits, a scanner a stale avail bit that it meets). */
#define SPAN_ALL (OBMT_SECURE ? ~(uint64_t)0 >> 1 : ~(uint64_t)0)
_Static_assert(NP == 64, "SPAN_ALL: 64 pools an arena");
static unsigned check_hints(unsigned exact)
{
    unsigned whole = 0;
    for (size_t slot = 0; slot < arena_slots_used(); slot++) {
        uint64_t F = 0, D;
        bool span = span_arena_pools(slot, &F, &D);
        unsigned h = span_arena_hints(slot);
        bool want_avail = span && F != 0, want_whole = span && F == SPAN_ALL;
        CHECK_MSG(!want_avail || (h & 1), "slot %zu has free pools (%016llx) and no avail bit", slot, (unsigned long long)F);
        CHECK_MSG(!want_whole || (h & 2), "slot %zu is wholly free and has no whole bit", slot);
        CHECK_MSG(!(exact & 1) || ((h & 1) != 0) == want_avail, "slot %zu: avail bit %u, free pools %016llx", slot, h & 1,
                  (unsigned long long)F);
        CHECK_MSG(!(exact & 2) || ((h & 2) != 0) == want_whole, "slot %zu: whole bit %u, free pools %016llx", slot,
                  (h >> 1) & 1, (unsigned long long)F);
        whole += want_whole;
    }
    return whole;
}

/* Threads that take and give spans at once (section 8d): each allocates
 * blocks of random medium sizes and frees its neighbour's. */
#define HINT_THREADS 4
static void *hint_blocks[HINT_THREADS][16];
static pthread_barrier_t hint_barrier;
static void *hint_live[HINT_THREADS][16]; /* left live by the last round */
static void *hint_worker(void *arg)
{
    size_t t = (size_t)arg;
    uint64_t seed = 0x9e3779b97f4a7c15u * (t + 1);
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 16; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            size_t n = OBMT_SMALL_MAX + 1 + (size_t)((seed >> 20) % (OBMT_MEDIUM_MAX - OBMT_SMALL_MAX));
            hint_blocks[t][i] = obmt_malloc(n);
            CHECK(hint_blocks[t][i] != NULL);
        }
        pthread_barrier_wait(&hint_barrier);
        for (int i = 0; i < 16; i++) {
            void *p = hint_blocks[(t + 1) % HINT_THREADS][i];
            if (round == 39 && i % 3 == 0)
                hint_live[t][i] = p;
            else
                obmt_free(p);
        }
        if (round % 8 == 7)
            span_cache_flush(heap_self());
        pthread_barrier_wait(&hint_barrier);
    }
    return NULL;
}

/* Section 8e: a thread whose scan waits between its two passes. */
static sem_t gap_at, gap_go;
static __thread bool gap_armed;
static void *gap_block;
static void gap_hook(void)
{
    if (!gap_armed)
        return;
    gap_armed = false;
    sem_post(&gap_at);
    sem_wait(&gap_go);
}
static void *gap_taker(void *arg)
{
    (void)arg;
    gap_armed = true;
    gap_block = obmt_malloc(64 * KIB); /* a new thread: its cache is empty, it has no hint arena */
    CHECK(gap_block != NULL && !gap_armed);
    return NULL;
}

/* ---- death tests ---- */
static void double_free(void *arg)
{
    (void)arg;
    void *p = obmt_malloc(64 * KIB);
    obmt_free(p);
    obmt_free(p);
}
static void interior_head(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(64 * KIB);
    obmt_free(p + 4096);
}
static void interior_pool(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(64 * KIB);
    obmt_free(p + OBMT_POOL_SIZE); /* the span's second pool */
}
static void usable_freed(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(20 * KIB);
    obmt_free(p);
    (void)obmt_usable_size(p);
}
static void realloc_freed(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(20 * KIB);
    obmt_free(p);
    (void)obmt_realloc(p, 30 * KIB);
}

static void double_free_cached(void *arg)
{
    (void)arg;
    void *p = obmt_malloc(64 * KIB);
    obmt_free(p); /* into the cache */
    obmt_free(p);
}
static void usable_cached(void *arg)
{
    (void)arg;
    char *p = obmt_malloc(64 * KIB);
    obmt_free(p);
    (void)obmt_usable_size(p);
}

/* A thread that frees 3 MiB of medium blocks and reports what it kept. */
static size_t cache_seen;
static void *cache_in_thread(void *arg)
{
    (void)arg;
    void *q[12];
    for (int i = 0; i < 12; i++)
        q[i] = obmt_malloc(256 * KIB);
    for (int i = 0; i < 12; i++)
        obmt_free(q[i]);
    cache_seen = heap_self()->span_cached_bytes;
    return NULL;
}

static void *free_in_thread(void *p)
{
    obmt_free(p);
    return NULL;
}

/* A thread that mallocs a 64 KiB span, frees it into its cache, and keeps
 * it there until told to exit (section 9e). */
static sem_t keeper_has, keeper_go;
static void *keeper_span;
static void *keep_in_thread(void *arg)
{
    (void)arg;
    keeper_span = obmt_malloc(64 * KIB);
    sem_post(&keeper_has);
    sem_wait(&keeper_go);
    obmt_free(keeper_span); /* cached here */
    sem_post(&keeper_has);
    sem_wait(&keeper_go);
    return NULL;
}

/* A huge block made from a span after pool 0 of its arena (section 9e):
 * a pointer into the pools before it, or inside it, is no block. */
static char *huge_after_pool0(void)
{
    obmt_collect();
    char *x = obmt_malloc(64 * KIB);
    char *y = obmt_malloc(64 * KIB);
    span_cache_flush(heap_self());
    obmt_free(x);
    span_cache_flush(heap_self());
    char *y2 = obmt_realloc(y, OBMT_MEDIUM_MAX + 1);
    CHECK(y2 == y && ((uintptr_t)y & (OBMT_ARENA_SIZE - 1)) != 0);
    return y2;
}
static void free_before_huge(void *arg)
{
    (void)arg;
    char *y = huge_after_pool0();
    obmt_free(y - OBMT_POOL_SIZE);
}
static void free_inside_huge(void *arg)
{
    (void)arg;
    char *y = huge_after_pool0();
    obmt_free(y + 4096);
}
static void free_huge_pool(void *arg)
{
    (void)arg;
    char *y = huge_after_pool0();
    obmt_free(y + OBMT_POOL_SIZE);
}

/* Bit i: pools i..i+k-1 all set in x, one bit at a time. */
static uint64_t fit_starts_ref(uint64_t x, unsigned k)
{
    uint64_t r = 0;
    for (unsigned i = 0; i + k <= 64; i++) {
        bool all = true;
        for (unsigned j = i; j < i + k && all; j++)
            all = (x >> j) & 1;
        if (all)
            r |= (uint64_t)1 << i;
    }
    return r;
}

int main(void)
{
    /* 0. fit_starts, the test of "a run of k free pools from here", is the
     *    bit-by-bit answer for every k and words of every shape: random,
     *    long runs, a run of every length at every place. */
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (int it = 0; it < 4000; it++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint64_t x = rng;
        if (it % 3 == 1)
            x |= (x >> 1) | (x >> 2) | (x >> 5); /* (longer runs) */
        if (it % 3 == 2) {
            unsigned len = (unsigned)(it / 3) % 64 + 1, at = (unsigned)(it / 192) % (65 - len);
            x = (len == 64 ? ~(uint64_t)0 : (((uint64_t)1 << len) - 1)) << at;
        }
        for (unsigned k = 1; k <= 64; k++)
            CHECK_MSG(span_fit_starts(x, k) == fit_starts_ref(x, k), "fit_starts(%#llx, %u)", (unsigned long long)x, k);
    }

    /* 1. Classes: every request above the pools' sizes gets the smallest
     *    class that holds it; classes are at most 25% apart, 4 per doubling,
     *    and the largest is OBMT_MEDIUM_MAX. */
    size_t prev = 0;
    unsigned nclasses = 0;
    for (size_t n = OBMT_SMALL_MAX + 1; n <= OBMT_MEDIUM_MAX; n++) {
        unsigned c = span_class(n);
        size_t sz = span_class_size(c);
        CHECK_MSG(sz >= n && (c == 0 || span_class_size(c - 1) < n), "n=%zu class %u size %zu", n, c, sz);
        if (sz != prev) {
            CHECK_MSG(prev == 0 || (sz - prev) * 4 <= prev, "classes %zu -> %zu more than 25%% apart", prev, sz);
            prev = sz;
            nclasses++;
        }
    }
    CHECK(prev == OBMT_MEDIUM_MAX && span_class(OBMT_MEDIUM_MAX) < OBMT_NSPAN);
    CHECK_MSG(nclasses >= 27, "%u classes", nclasses);
    /* malloc's class (its table by KiB, span_class_kib) is span_class's on
     * both sides of every KiB, with a span cached for the class (the hit
     * path) and without. */
    for (size_t kib = OBMT_SMALL_MAX / 1024 + 1; kib <= OBMT_MEDIUM_MAX / 1024; kib++) {
        for (size_t n = kib * 1024 - 1; n <= kib * 1024 + 1 && n <= OBMT_MEDIUM_MAX; n++) {
            if (n <= OBMT_SMALL_MAX)
                continue;
            size_t want = span_class_size(span_class(n));
            for (int hit = 0; hit < 2; hit++) {
                void *p = obmt_malloc(n);
                CHECK_MSG(p && obmt_usable_size(p) == want, "malloc(%zu): %zu usable, class size %zu", n,
                          p ? obmt_usable_size(p) : 0, want);
                obmt_free(p);
            }
        }
    }
    flush();

    /* 2. A first span takes pool 0 of a new span arena; the next ones the
     *    pools after it (the shortest free stretch that holds them). A
     *    miss after misses of its class takes a batch of spans with it
     *    (section 9a); flush() gives back what the cache holds and starts
     *    the batches again at 0, so that each malloc here takes one span
     *    and the next sees the arena as the previous one left it. */
    struct obmt_stats st0 = unit_stats();
    char *a = obmt_malloc(64 * KIB);  /* 2 pools */
    CHECK(a && obmt_owns(a) && pool_index(a) % NP == 0 && obmt_usable_size(a) == 64 * KIB);
    flush();
    char *b = obmt_malloc(10 * KIB);  /* 1 pool */
    flush();
    char *c = obmt_malloc(100 * KIB); /* 112 KiB: 4 pools */
    flush();
    CHECK(obmt_usable_size(c) == 112 * KIB);
    CHECK(pool_index(b) == pool_index(a) + 2 && pool_index(c) == pool_index(a) + 3);
    struct obmt_stats st1 = unit_stats();
    CHECK(st1.medium_allocs == st0.medium_allocs + 3);
    CHECK(st1.medium_bytes_in_use == st0.medium_bytes_in_use + (64 + 10 + 112) * KIB);
    CHECK(st1.bytes_medium >= OBMT_ARENA_SIZE);
    unit_check_reconciles();

    /* The map: a span's pools are MEDIUM, the free pools after them FREE or
     * PURGED. */
    size_t mapn = obmt_arena_map(NULL, 0);
    unsigned char *map = malloc(mapn);
    CHECK(obmt_arena_map(map, mapn) == mapn);
    size_t at = pool_index(a);
    CHECK(map[at] == OBMT_MAP_MEDIUM && map[at + 1] == OBMT_MAP_MEDIUM && map[at + 6] == OBMT_MAP_MEDIUM);
    CHECK(map[at + 7] == OBMT_MAP_FREE || map[at + 7] == OBMT_MAP_PURGED);
    free(map);

    /* 3. Coalescing: a and b freed, their three pools hold a 96 KiB span
     *    (3 pools) at a's address. */
    obmt_free(a);
    obmt_free(b);
    flush();
    char *d = obmt_malloc(96 * KIB);
    flush();
    CHECK_MSG(d == a, "d %p a %p", (void *)d, (void *)a);
    /* Best fit: with a 1-pool hole (d freed, then 2 of its pools retaken)
     * a 1-pool request takes the hole, not the long free stretch. */
    obmt_free(d);
    flush();
    char *e = obmt_malloc(64 * KIB);
    flush();
    CHECK(e == a);
    char *f = obmt_malloc(20 * KIB);
    flush();
    CHECK(f == a + 2 * OBMT_POOL_SIZE);

    /* 4. realloc in place: within its class nothing changes; grow into the
     *    free pools after the span, shrink by giving the tail back;
     *    contents kept. */
    memset(c, 0x5c, 100 * KIB);
    {
        struct obmt_stats sr0 = unit_stats();
        CHECK(obmt_realloc(c, 112 * KIB) == c && obmt_realloc(c, 97 * KIB) == c && obmt_usable_size(c) == 112 * KIB);
        struct obmt_stats sr1 = unit_stats();
        CHECK(sr1.medium_bytes_in_use == sr0.medium_bytes_in_use && sr1.medium_allocs == sr0.medium_allocs);
    }
    char *c2 = obmt_realloc(c, 200 * KIB); /* 224 KiB: 7 pools, the 3 after c free */
    CHECK(c2 == c && obmt_usable_size(c2) == 224 * KIB);
    CHECK(c2[0] == 0x5c && c2[100 * KIB - 1] == 0x5c);
    char *c3 = obmt_realloc(c2, 40 * KIB); /* 40 KiB: 2 pools, 5 given back */
    CHECK(c3 == c && obmt_usable_size(c3) == 40 * KIB && c3[40 * KIB - 1] == 0x5c);
    char *g = obmt_malloc(150 * KIB); /* 160 KiB: 5 pools, right after c3 */
    CHECK(g == c3 + 2 * OBMT_POOL_SIZE);
    /* Blocked by g: a growth moves the block, a quarter larger. */
    char *c4 = obmt_realloc(c3, 100 * KIB);
    CHECK(c4 != c3 && obmt_usable_size(c4) >= 125 * KIB && c4[0] == 0x5c && c4[40 * KIB - 1] == 0x5c);
    /* Down to a pool block when it would waste more than half. */
    char *c5 = obmt_realloc(c4, 1000);
    CHECK(obmt_usable_size(c5) < OBMT_SMALL_MAX && c5[999] == 0x5c);
    obmt_free(c5);
    flush();
    unit_check_reconciles();

    /* 4b. A pool block that realloc grows past OBMT_REALLOC_SPAN_MIN moves
     *     into a span, where it grows on in place with no copy (the span's
     *     first pool first: realloc_mul15/1048576 copied every pool-class
     *     step up to 8 KiB); growth up to it stays in the pool classes. A
     *     span shrunk to a size above OBMT_REALLOC_SPAN_MIN stays where it
     *     is, cut to the smallest span class (its other pools given back:
     *     no move back and forth around that size, and no large span kept
     *     for a few KiB); below it, a move to a pool block when it would
     *     waste more than half. */
    {
        char *s1 = obmt_malloc(3000);
        memset(s1, 0x4b, 3000);
        char *s2 = obmt_realloc(s1, OBMT_REALLOC_SPAN_MIN);
        CHECK(s2 && obmt_usable_size(s2) <= OBMT_SMALL_MAX && pool_of(s2)->owner != OWNER_SPAN);
        char *s3 = obmt_realloc(s2, obmt_usable_size(s2) + 1); /* (past its class: growing) */
        CHECK(s3 && pool_of(s3)->owner == OWNER_SPAN && obmt_usable_size(s3) > OBMT_SMALL_MAX);
        CHECK(s3[0] == 0x4b && s3[2999] == 0x4b);
        size_t smallest = obmt_usable_size(s3); /* the smallest span class: one pool */
        s3[OBMT_REALLOC_SPAN_MIN] = 0x4c;
        CHECK(obmt_realloc(s3, 7000) == s3 && obmt_realloc(s3, 20 * KIB) == s3);
        char *s4 = obmt_realloc(s3, OBMT_REALLOC_SPAN_MIN + 1); /* the band just above: kept */
        CHECK(s4 == s3 && s4[OBMT_REALLOC_SPAN_MIN] == 0x4c && s4[0] == 0x4b);
        CHECK_MSG(obmt_usable_size(s4) == smallest, "usable %zu after the cut, %zu expected", obmt_usable_size(s4), smallest);
        /* A span of several pools cut so: the same address, its other
         * pools back in the arena. */
        char *big = obmt_malloc(200 * KIB);
        memset(big, 0x4e, 200 * KIB);
        size_t bigu = obmt_usable_size(big);
        struct obmt_stats sb0 = unit_stats();
        char *cut = obmt_realloc(big, OBMT_REALLOC_SPAN_MIN + 1);
        CHECK(cut == big && obmt_usable_size(cut) == smallest && cut[OBMT_REALLOC_SPAN_MIN] == 0x4e);
        struct obmt_stats sb1 = unit_stats();
        CHECK_MSG(sb1.medium_bytes_in_use + (bigu - smallest) == sb0.medium_bytes_in_use, "medium in use %llu -> %llu",
                  (unsigned long long)sb0.medium_bytes_in_use, (unsigned long long)sb1.medium_bytes_in_use);
        obmt_free(cut);
        char *s5 = obmt_realloc(s4, 1000);
        CHECK(s5 && s5 != s4 && pool_of(s5)->owner != OWNER_SPAN && s5[999] == 0x4b);
        obmt_free(s5);
        flush();
        unit_check_reconciles();
    }

    /* 5. calloc over dirty pools reads zeros. */
    memset(g, 0xAB, 150 * KIB);
    obmt_free(g);
    flush();
    unsigned char *z = obmt_calloc(1, 150 * KIB); /* at c3's pools: the free stretch starts there */
    CHECK(z == (unsigned char *)c3);
    for (size_t i = 0; i < 150 * KIB; i++)
        CHECK_MSG(z[i] == 0, "calloc byte %zu is %d", i, z[i]);
    obmt_free(z);

    /* 6. Fullest first: with a second span arena, spans come from the one
     *    with fewer free pools. */
    size_t slot1 = slot_of(e);
    char *big[NP];
    size_t nbig = 0;
    while (nbig < NP) { /* fill the rest of the first arena and more */
        big[nbig] = obmt_malloc(OBMT_MEDIUM_MAX);
        if (slot_of(big[nbig++]) != slot1)
            break;
    }
    size_t slot2 = slot_of(big[nbig - 1]);
    CHECK(slot2 != slot1);
    obmt_free(big[0]); /* 32 pools free in slot1 (and the holes), 32 in slot2 */
    obmt_free(e);      /* slot1 now the emptier of the two */
    flush();
    char *h = obmt_malloc(200 * KIB);
    CHECK_MSG(slot_of(h) == slot2, "took from slot %zu, the fuller is %zu", slot_of(h), slot2);
    obmt_free(h);
    flush();

    /* 7. Frees from another thread and from a thread without a heap. */
    char *t = obmt_malloc(300 * KIB);
    flush();
    run_in_thread(free_in_thread, t); /* into that thread's cache, given back at its exit */
    CHECK(unit_stats().bytes_medium_cached == 0);
    char *t2 = obmt_malloc(300 * KIB);
    CHECK_MSG(t2 == t, "t %p (slot %zu pool %zu) t2 %p (slot %zu pool %zu)", (void *)t, slot_of(t), pool_index(t) % NP, (void *)t2, slot_of(t2), pool_index(t2) % NP);
    obmt_free(t);
    flush();

    /* 8. Everything freed: the purge gives the free pools' pages back and
     *    retires the wholly free span arenas (their arenas go back to
     *    arena.c and, after the delay, to the OS). */
    obmt_free(f);
    for (size_t i = 1; i < nbig; i++)
        obmt_free(big[i]);
    flush();
    st1 = unit_stats();
    CHECK(st1.medium_allocs - st1.medium_frees == st0.medium_allocs - st0.medium_frees);
    CHECK(st1.medium_bytes_in_use == st0.medium_bytes_in_use);
    unit_check_reconciles();
    obmt_collect();
    struct obmt_stats st2 = unit_stats();
    CHECK_MSG(st2.bytes_medium == 0, "%llu bytes of span arenas after a collect", (unsigned long long)st2.bytes_medium);
    CHECK(resident_pages(big[1], OBMT_MEDIUM_MAX) == 0);
    unit_check_reconciles();
    /* A partly used span arena: its free pools are purged, its live span
     * stays. */
    char *live = obmt_malloc(64 * KIB);
    flush();
    char *gone = obmt_malloc(512 * KIB);
    memset(live, 1, 64 * KIB);
    memset(gone, 2, 512 * KIB);
    obmt_free(gone);
    flush();
    CHECK(resident_pages(gone, 512 * KIB) > 0);
    uint64_t purged0 = unit_stats().medium_pools_purged;
    obmt_collect();
    CHECK(resident_pages(gone, 512 * KIB) == 0 && live[64 * KIB - 1] == 1);
    CHECK(unit_stats().medium_pools_purged >= purged0 + 16);
    CHECK(unit_stats().bytes_medium == OBMT_ARENA_SIZE);
    /* A purged pool taken again reads zeros without a memset. */
    unsigned char *zz = obmt_calloc(1, 512 * KIB);
    CHECK(zz == (unsigned char *)gone && zz[0] == 0 && zz[512 * KIB - 1] == 0);
    obmt_free(zz);
    obmt_free(live);
    flush();
    unit_check_reconciles();

    /* 8b. The thread's hint arena (the last it took from) is taken from
     *     again without a scan only while it is at least half full or no
     *     emptier than that take left it: an arena that got spans back is
     *     not preferred over a fuller one. */
    {
        obmt_collect(); /* no span arena left */
        char *x[3];
        for (int i = 0; i < 3; i++) {
            x[i] = obmt_malloc(OBMT_MEDIUM_MAX / 2); /* arena A: 16 pools each */
            flush();
        }
        char *y1 = obmt_malloc(OBMT_MEDIUM_MAX); /* 32 pools: not in A, arena B, the hint now */
        flush();
        CHECK(slot_of(x[0]) == slot_of(x[1]) && slot_of(x[0]) == slot_of(x[2]) && slot_of(y1) != slot_of(x[0]));
        obmt_free(y1);
        flush(); /* B wholly free: emptier than the take left it */
        obmt_free(x[1]);
        obmt_free(x[2]);
        flush(); /* A a quarter used, the fuller */
        char *h2 = obmt_malloc(64 * KIB);
        CHECK_MSG(slot_of(h2) == slot_of(x[0]), "took from the hint arena %zu (wholly free), not from %zu (a quarter used)",
                  slot_of(h2), slot_of(x[0]));
        obmt_free(h2);
        obmt_free(x[0]);
        flush();
        unit_check_reconciles();
    }

    /* 8c. The wholly free hint: a span arena's bit in g_span_whole is set
     *     while all its pools are free, and a take that finds no partly
     *     used arena with room takes from the first such arena without
     *     reading the others' words (a 1 MiB take read every wholly free
     *     arena's F first). A take from it clears the bit; the retirement
     *     too. */
    {
        obmt_collect(); /* no span arena left */
        CHECK(check_hints(3) == 0);
        char *q[3 * NP];
        size_t nq = 0, slots[3], nslots = 0;
        while (nslots < 3 || slot_of(q[nq - 1]) == slots[2]) {
            q[nq] = obmt_malloc(OBMT_MEDIUM_MAX / 2);
            flush();
            if (nslots == 0 || slot_of(q[nq]) != slots[nslots - 1]) {
                if (nslots == 3)
                    break;
                slots[nslots++] = slot_of(q[nq]);
            }
            nq++;
        }
        /* (q[nq], a fourth arena's, was not counted: free it now) */
        obmt_free(q[nq]);
        flush();
        CHECK(nq >= 6 && slots[0] < slots[1] && slots[1] < slots[2]);
        /* The first two arenas wholly free, the third a quarter free. */
        for (size_t i = 0; i < nq; i++)
            if (slot_of(q[i]) != slots[2] || i == nq - 1)
                obmt_free(q[i]);
        flush();
        CHECK_MSG(check_hints(3) >= 2, "%u wholly free span arenas", check_hints(3));
        CHECK(span_arena_hints(slots[0]) == 3 && span_arena_hints(slots[1]) == 3 && span_arena_hints(slots[2]) == 1);
        /* No hint arena: the scan. A 64 KiB span from the partly used one. */
        heap_self()->span_hint = 0;
        char *m = obmt_malloc(64 * KIB);
        flush();
        CHECK_MSG(slot_of(m) == slots[2], "64 KiB from slot %zu, the partly used one is %zu", slot_of(m), slots[2]);
        check_hints(3);
        /* A span that the partly used one cannot hold: from the first
         * wholly free arena, whose bit goes. */
        heap_self()->span_hint = 0;
        char *l = obmt_malloc(OBMT_MEDIUM_MAX);
        flush();
        CHECK_MSG(slot_of(l) == slots[0] || slot_of(l) > slots[2], "1 MiB from slot %zu", slot_of(l));
        if (slot_of(l) == slots[0])
            CHECK(span_arena_hints(slots[0]) == 1);
        check_hints(3);
        /* A stale whole bit on the partly used arena: the takers' first
         * scan would pass it over; a purge pass clears it (and retires
         * the wholly free second arena). */
        span_whole_mark(slots[2]);
        CHECK(span_arena_hints(slots[2]) == 3);
        check_hints(0);
        obmt_collect();
        CHECK(span_arena_hints(slots[2]) == 1 && span_arena_hints(slots[1]) == 0);
        check_hints(3);
        obmt_free(l);
        obmt_free(m);
        for (size_t i = 0; i < nq; i++)
            if (slot_of(q[i]) == slots[2] && i != nq - 1)
                obmt_free(q[i]);
        flush();
        CHECK(check_hints(3) >= 2);
        obmt_collect(); /* retired: no bit left */
        CHECK(check_hints(3) == 0);
        CHECK(span_arena_hints(slots[0]) == 0 && span_arena_hints(slots[2]) == 0);
    }

    /* 8d. Threads taking and giving spans at once: when they are done,
     *     every span arena with free pools has its avail bit and every
     *     wholly free one its whole bit (stale set bits are allowed: the
     *     races leave some); after a purge pass, which retires the wholly
     *     free arenas and clears the stale whole bits, the whole bits are
     *     exact. (A stale avail bit on a full arena stays until a taker's
     *     scan meets it.) Some blocks stay live, so that partly used
     *     arenas remain. */
    {
        pthread_t th[HINT_THREADS];
        CHECK(pthread_barrier_init(&hint_barrier, NULL, HINT_THREADS) == 0);
        for (size_t t = 0; t < HINT_THREADS; t++)
            CHECK(pthread_create(&th[t], NULL, hint_worker, (void *)t) == 0);
        for (size_t t = 0; t < HINT_THREADS; t++)
            CHECK(pthread_join(th[t], NULL) == 0);
        pthread_barrier_destroy(&hint_barrier);
        check_hints(0);
        obmt_collect();
        check_hints(2);
        for (size_t t = 0; t < HINT_THREADS; t++)
            for (int i = 0; i < 16; i++)
                obmt_free(hint_live[t][i]);
        flush();
        CHECK(check_hints(0) > 0);
        obmt_collect();
        CHECK(check_hints(2) == 0);
        unit_check_reconciles();
    }

    /* 8e. An arena whose whole bit goes between the scan's two passes (a
     *     take from it by another thread) is in neither: the scan runs
     *     again, and takes from it, rather than make a new span arena. */
    {
        obmt_collect();
        char *w0 = obmt_malloc(64 * KIB);
        flush();
        obmt_free(w0);
        flush(); /* one span arena, wholly free */
        CHECK(span_arenas() == 1 && span_arena_hints(slot_of(w0)) == 3);
        CHECK(sem_init(&gap_at, 0, 0) == 0 && sem_init(&gap_go, 0, 0) == 0);
        span_scan_test_hook = gap_hook;
        pthread_t th;
        CHECK(pthread_create(&th, NULL, gap_taker, NULL) == 0);
        CHECK(sem_wait(&gap_at) == 0); /* between its passes, the first found nothing */
        char *mine = obmt_malloc(64 * KIB); /* from the arena: its whole bit goes */
        CHECK(slot_of(mine) == slot_of(w0) && span_arena_hints(slot_of(w0)) == 1);
        CHECK(sem_post(&gap_go) == 0);
        CHECK(pthread_join(th, NULL) == 0);
        span_scan_test_hook = NULL;
        CHECK_MSG(slot_of(gap_block) == slot_of(w0) && span_arenas() == 1,
                  "the other thread's span in slot %zu (the arena with room: %zu), %zu span arenas",
                  slot_of(gap_block), slot_of(w0), span_arenas());
        obmt_free(gap_block);
        obmt_free(mine);
        flush();
        obmt_collect();
        sem_destroy(&gap_at);
        sem_destroy(&gap_go);
        unit_check_reconciles();
    }

    /* 9a. The thread's cache: a freed span is kept whole for the next
     *     malloc of its class, which takes it without touching its arena;
     *     the head says freed (a second free aborts, below). A class's
     *     stack holds span_stack[c].max spans: OBMT_SPAN_CACHE_DEPTH, or
     *     fewer where they would take more than half the budget. A miss
     *     takes span_cache_batch[c] more spans of its class with the same
     *     CAS, right below the caller's: none at first, then 1, 3, ... up
     *     to half the stack (slow start); a put into a full stack gives
     *     back its newest half, together. A class unused between
     *     two decays gives its spans back. */
    struct heap *me = heap_self();
    unsigned c64 = span_class(64 * KIB);
    unsigned max64 = me->span_stack[c64].max, half = max64 / 2;
    size_t budget = me->span_cache_budget;
    CHECK_MSG(max64 == (budget / 2 / (64 * KIB) < OBMT_SPAN_CACHE_DEPTH ? budget / 2 / (64 * KIB) : OBMT_SPAN_CACHE_DEPTH),
              "64 KiB stack limit %u, budget %zu", max64, budget);
    CHECK(max64 >= 2);
    flush(); /* (the batch starts again at 0) */
    CHECK(unit_stats().bytes_medium_cached == 0 && me->span_cache_batch[c64] == 0);
    char *k1 = obmt_malloc(64 * KIB); /* the first miss: no batch */
    CHECK(unit_stats().bytes_medium_cached == 0);
    size_t ks = slot_of(k1);
    uint64_t F0, D0, F1, D1;
    CHECK(span_arena_pools(ks, &F0, &D0));
    obmt_free(k1);
    CHECK(unit_stats().bytes_medium_cached == 64 * KIB);
    CHECK(unit_stats().medium_bytes_in_use == st0.medium_bytes_in_use);
    char *k2 = obmt_malloc(64 * KIB);
    CHECK(k2 == k1 && unit_stats().bytes_medium_cached == 0);
    CHECK(span_arena_pools(ks, &F1, &D1) && F1 == F0);
    /* Misses in a row: batches of 1, 3, ... up to half the stack. */
    char *many[2 * OBMT_SPAN_CACHE_DEPTH + 2];
    unsigned nmany = 0, bt = 1;
    many[nmany++] = k2;
    for (int miss = 0; miss < 4; miss++) {
        unsigned want = bt < half ? bt : half;
        char *m = obmt_malloc(64 * KIB);
        many[nmany++] = m;
        CHECK_MSG(unit_stats().bytes_medium_cached == want * 64 * KIB, "miss %d: %llu cached, %u expected", miss + 2,
                  (unsigned long long)unit_stats().bytes_medium_cached, want);
        CHECK(me->span_stack[c64].n == want);
        /* the batch: right below m, each a span of the class whose head
         * says freed, none of their pools free in the arena */
        uint64_t F, D;
        CHECK(span_arena_pools(slot_of(m), &F, &D));
        unsigned seen = 0;
        for (char *x = me->span_cache[c64]; x; x = (char *)pool_of(x)->nextpool, seen++) {
            pool_header *xp = pool_of(x);
            CHECK(xp->owner == OWNER_SPAN && xp->nextpool != SPAN_LIVE && xp->huge_run == 2);
            CHECK(slot_of(x) == slot_of(m) && !((F >> (pool_index(x) % NP)) & 3));
            CHECK_MSG(pool_index(x) == pool_index(m) - 2 * (seen + 1), "cached span %u at pool %zu, m at %zu", seen,
                      pool_index(x), pool_index(m));
        }
        CHECK(seen == want);
        for (unsigned i = 0; i < want; i++) { /* hits: the arena untouched */
            CHECK(span_arena_pools(slot_of(m), &F1, &D1));
            many[nmany] = obmt_malloc(64 * KIB);
            CHECK(many[nmany] == m - (i + 1) * 2 * OBMT_POOL_SIZE);
            CHECK(span_arena_pools(slot_of(m), &F, &D) && F == F1);
            nmany++;
        }
        bt = 2 * bt + 1;
    }
    CHECK(nmany >= (unsigned)max64 + 1 && nmany <= sizeof many / sizeof many[0]);
    flush();
    /* max64 puts fill the stack; the next put gives back all but the oldest
     * half (the newest, from the top, the put's own span with them), in the
     * arenas again: a stack that has not grown (cache_grow) does not use
     * the depot (span_depot.c). */
    for (unsigned i = 0; i < max64; i++)
        obmt_free(many[i]);
    CHECK(unit_stats().bytes_medium_cached == max64 * 64 * KIB);
    obmt_free(many[max64]);
    CHECK(unit_stats().bytes_medium_cached == half * 64 * KIB && me->span_stack[c64].n == half);
    CHECK(me->span_cache[c64] == many[half - 1] && depot_chains(c64) == 0);
    for (unsigned i = 0; i <= max64; i++) {
        uint64_t F, D;
        CHECK(span_arena_pools(slot_of(many[i]), &F, &D));
        bool is_free = ((F >> (pool_index(many[i]) % NP)) & 3) == 3;
        CHECK_MSG(is_free == (i >= half), "span %u of the batch: free %d", i, is_free);
        CHECK(pool_of(many[i])->owner == (i >= half ? NULL : OWNER_SPAN));
    }
    for (unsigned i = max64 + 1; i < nmany; i++)
        obmt_free(many[i]);
    flush();
    unit_check_reconciles();
    /* No class takes more than half the budget: with a full stack of
     * 256 KiB spans, a 1 MiB block is still cached. */
    if (budget >= 2 * OBMT_MEDIUM_MAX) {
        unsigned c256 = span_class(256 * KIB), m256 = me->span_stack[c256].max;
        CHECK(m256 * 256 * KIB <= budget / 2 && m256 >= 1);
        for (unsigned i = 0; i < m256; i++)
            many[i] = obmt_malloc(256 * KIB);
        char *w = obmt_malloc(OBMT_MEDIUM_MAX);
        flush();
        for (unsigned i = 0; i < m256; i++)
            obmt_free(many[i]);
        CHECK(me->span_stack[c256].n == m256);
        obmt_free(w);
        CHECK(me->span_cache[span_class(OBMT_MEDIUM_MAX)] == w);
        CHECK(unit_stats().bytes_medium_cached == m256 * 256 * KIB + OBMT_MEDIUM_MAX);
        unit_check_reconciles();
    }
    /* A put that the budget refuses while its own stack has room: the
     * deepest of the other stacks (the most spans) gives back its newest
     * spans, as many as the put needs, and no other class gives any
     * (cache_make_room; until 2026-12-02 each class in turn, smallest
     * first, gave half). The cache holds 256 KiB spans (half the
     * budget), 8 of 64 KiB and enough of 16 KiB that a 160 KiB span is
     * 32 KiB over the budget: two 16 KiB spans go, the newest. (The
     * default budget where idle heaps can be lent, 2 MiB: 24 of them. A
     * build with another OBMT_SPAN_CACHE_BYTES may need more 16 KiB spans
     * than their stack holds; the unlent 256 KiB holds no 256 KiB span
     * beside the others.) */
    unsigned room_c16 = span_class(16 * KIB), room_c256 = span_class(256 * KIB), room_n64 = 8;
    uint64_t room_held = me->span_stack[room_c256].max * 256 * KIB + room_n64 * 64 * KIB;
    uint64_t room_n16 = budget + 32 * KIB > room_held + 160 * KIB
                            ? (budget + 32 * KIB - room_held - 160 * KIB) / (16 * KIB) : 0;
    bool room_fits = budget >= 2 * OBMT_MEDIUM_MAX && room_n16 >= 3 && room_n16 <= me->span_stack[room_c16].max &&
                     room_n64 <= me->span_stack[c64].max;
    CHECK_MSG(room_fits || budget != ((size_t)2 << 20), "%llu spans of 16 KiB for a budget of %zu",
              (unsigned long long)room_n16, budget);
    if (room_fits) {
        flush();
        unsigned c16 = room_c16, c160 = span_class(160 * KIB), c256 = room_c256;
        unsigned m256 = me->span_stack[c256].max, n64 = room_n64, n16 = (unsigned)room_n16;
        uint64_t s160 = span_class_size(c160);
        CHECK(s160 == 160 * KIB);
        char *v16[OBMT_SPAN_CACHE_DEPTH], *v64[8], *v256[OBMT_SPAN_CACHE_DEPTH];
        for (unsigned i = 0; i < n16; i++)
            v16[i] = obmt_malloc(16 * KIB);
        for (unsigned i = 0; i < n64; i++)
            v64[i] = obmt_malloc(64 * KIB);
        for (unsigned i = 0; i < m256; i++)
            v256[i] = obmt_malloc(256 * KIB);
        char *v160 = obmt_malloc(160 * KIB);
        char *x16 = obmt_malloc(16 * KIB); /* (freed last, below) */
        flush(); /* (what the misses' batches left in the cache) */
        for (unsigned i = 0; i < m256; i++)
            obmt_free(v256[i]);
        for (unsigned i = 0; i < n64; i++)
            obmt_free(v64[i]);
        for (unsigned i = 0; i < n16; i++)
            obmt_free(v16[i]);
        CHECK(me->span_cached_bytes == budget + 32 * KIB - s160);
        obmt_free(v160);
        CHECK_MSG(me->span_stack[c16].n == n16 - 2 && me->span_stack[c64].n == n64 &&
                      me->span_stack[c256].n == m256 && me->span_cache[c160] == v160,
                  "16 KiB: %u of %u cached, 64 KiB: %u of %u, 256 KiB: %u of %u", me->span_stack[c16].n, n16,
                  me->span_stack[c64].n, n64, me->span_stack[c256].n, m256);
        CHECK(me->span_cache[c16] == v16[n16 - 3] && me->span_cached_bytes == budget);
        for (unsigned i = n16 - 2; i < n16; i++) { /* the two newest: back in their arena */
            uint64_t F, D;
            CHECK(span_arena_pools(slot_of(v16[i]), &F, &D) && (F >> (pool_index(v16[i]) % NP) & 1));
        }
        /* The putting class is no candidate, even when it is the deepest:
         * a 16 KiB put now (16 KiB over) takes the newest 64 KiB span from
         * the next deepest stack, and the 16 KiB stack grows by one. */
        CHECK(n16 - 2 > n64 && n64 > m256);
        obmt_free(x16);
        CHECK_MSG(me->span_stack[c16].n == n16 - 1 && me->span_cache[c16] == x16 && me->span_stack[c64].n == n64 - 1 &&
                      me->span_stack[c256].n == m256 && me->span_cached_bytes == budget - 48 * KIB,
                  "16 KiB: %u cached, 64 KiB: %u, 256 KiB: %u", me->span_stack[c16].n, me->span_stack[c64].n,
                  me->span_stack[c256].n);
        unit_check_reconciles();
    }
    flush();
    char *m1 = obmt_malloc(OBMT_MEDIUM_MAX), *m2 = obmt_malloc(OBMT_MEDIUM_MAX), *m3 = obmt_malloc(OBMT_MEDIUM_MAX);
    char *s1 = obmt_malloc(64 * KIB);
    obmt_free(s1);
    obmt_free(m1);
    obmt_free(m2);
    obmt_free(m3);
    CHECK(unit_stats().bytes_medium_cached <= OBMT_SPAN_CACHE_BYTES);
    span_cache_decay(me); /* both classes were used since the last decay */
    CHECK(unit_stats().bytes_medium_cached > 0);
    span_cache_decay(me); /* now unused for a whole period */
    CHECK(unit_stats().bytes_medium_cached == 0);
    unit_check_reconciles();

    /* 9. Secure mode: the arena's last pool (its guard page) is never part
     *    of a span. */
    if (OBMT_SECURE) {
        char *s[8];
        for (int i = 0; i < 8; i++) {
            s[i] = obmt_malloc(OBMT_MEDIUM_MAX / 4 * 3); /* 24 pools: 2 a span arena */
            CHECK(pool_index(s[i]) % NP + 24 <= NP - 1);
        }
        for (int i = 0; i < 8; i++)
            obmt_free(s[i]);
    }

    /* 9b. A span that ends at the arena's last pool grows by moving (the
     *     bound is tested before the tail's bits are computed: a shift by
     *     64 otherwise, which the undefined-behaviour build aborts on). */
    {
        char *fill[NP];
        size_t nf = 0, last = SIZE_MAX;
        while (nf < NP * 3) {
            char *q = obmt_malloc(20 * KIB); /* one pool each */
            fill[nf % NP] = q;
            nf++;
            if (pool_index(q) % NP == NP - 1 - (OBMT_SECURE ? 1 : 0)) {
                last = nf - 1;
                break;
            }
            if (nf % NP == 0) /* (freed at once: keep the array bounded) */
                for (size_t i = 0; i < NP; i++)
                    obmt_free(fill[i]);
        }
        CHECK(last != SIZE_MAX);
        char *q = fill[last % NP];
        memset(q, 7, 20 * KIB);
        char *q2 = obmt_realloc(q, 100 * KIB);
        CHECK(q2 && q2 != q && q2[20 * KIB - 1] == 7);
        fill[last % NP] = q2;
        for (size_t i = 0; i <= last % NP; i++)
            obmt_free(fill[i]);
        flush();
    }

    /* 9c. Where idle heaps cannot be lent, a thread's span cache holds at
     *     most OBMT_SPAN_CACHE_BYTES_UNLENT: nothing else would empty the
     *     cache of a thread that goes idle. */
    long lend0 = 1;
    CHECK(obmt_option_get("lend_idle", &lend0) == 0);
    CHECK(obmt_option_set("lend_idle", 0) == 0);
    uint64_t cached0 = unit_stats().bytes_medium_cached;
    run_in_thread(cache_in_thread, NULL);
    CHECK(obmt_option_set("lend_idle", lend0) == 0);
    CHECK_MSG(cache_seen <= OBMT_SPAN_CACHE_BYTES_UNLENT && cache_seen > 0, "cached %zu", cache_seen);
    CHECK(unit_stats().bytes_medium_cached == cached0); /* (and given back at its exit) */
    unit_check_reconciles();

    /* 9d. A buffer that grows by realloc past the medium sizes from pool 0
     *     of a span arena with no other span is not copied: it becomes a
     *     huge block of that arena (span_to_huge) and grows into the
     *     cached run right after it (its arenas join as they are). A new
     *     span arena is the first arena of a cached run. Secure mode has no
     *     huge cache and moves instead. */
    {
        bool cache = !OBMT_SECURE && OBMT_HUGE_CACHE != 0;
        obmt_collect(); /* no span arena left, the huge cache empty */
        char *hb = obmt_malloc(8 * OBMT_ARENA_SIZE - OBMT_POOL_SIZE);
        CHECK(hb && ((uintptr_t)hb & (OBMT_ARENA_SIZE - 1)) == 0);
        uint32_t hb_count = pool_of(hb)->count; /* what a second free of hb compares against */
        obmt_free(hb); /* cached: a run of 8 arenas */
        char *a = obmt_malloc(200 * KIB); /* a new span arena: pool 0 */
        flush();
        CHECK(((uintptr_t)a & (OBMT_ARENA_SIZE - 1)) == 0);
        if (cache)
            CHECK_MSG(a == hb, "a new span arena from the cached run: %p, run at %p", (void *)a, (void *)hb);
        /* The span's head has a new generation: a free of hb that raced the
         * first one fails its CAS (huge_free) instead of taking the live
         * span for the huge block. */
        if (a == hb)
            CHECK_MSG(pool_of(a)->count >> 1 != hb_count >> 1 && pool_of(a)->nextpool == SPAN_LIVE,
                      "span head count %u (a generation << 1), huge block's %u", pool_of(a)->count, hb_count);
        memset(a, 3, 200 * KIB);
        char *a2 = obmt_realloc(a, OBMT_MEDIUM_MAX);
        CHECK(a2 == a);
        memset(a2 + 200 * KIB, 4, 100 * KIB);
        a2[OBMT_MEDIUM_MAX - 1] = 5;
        struct obmt_stats sg0 = unit_stats();
        char *a3 = obmt_realloc(a2, OBMT_MEDIUM_MAX + OBMT_MEDIUM_MAX / 2);
        CHECK(a3 && a3[0] == 3 && a3[300 * KIB - 1] == 4 && a3[OBMT_MEDIUM_MAX - 1] == 5);
        if (!OBMT_SECURE) {
            CHECK(a3 == a2 && obmt_usable_size(a3) == OBMT_ARENA_SIZE);
            struct obmt_stats sg1 = unit_stats();
            CHECK(sg1.huge_allocs == sg0.huge_allocs + 1 && sg1.medium_frees == sg0.medium_frees + 1);
        }
        if (cache) {
            char *a4 = obmt_realloc(a3, 4 * OBMT_ARENA_SIZE);
            CHECK(a4 == a3 && obmt_usable_size(a4) == 4 * OBMT_ARENA_SIZE);
            CHECK(a4[0] == 3 && a4[OBMT_MEDIUM_MAX - 1] == 5);
            a4[4 * OBMT_ARENA_SIZE - 1] = 6;
            a3 = a4;
        }
        unit_check_reconciles();
        obmt_free(a3);
        flush();
        unit_check_reconciles();
        /* Not at an arena's first pool, another span live before it: past
         * the medium sizes, a move. */
        obmt_collect();
        char *x = obmt_malloc(600 * KIB); /* a new span arena: pool 0 */
        flush();
        char *y = obmt_malloc(64 * KIB);  /* the only arena with room */
        flush();
        CHECK(((uintptr_t)x & (OBMT_ARENA_SIZE - 1)) == 0 && slot_of(y) == slot_of(x));
        memset(x, 8, 600 * KIB);
        memset(y, 9, 64 * KIB);
        char *y2 = obmt_realloc(y, OBMT_MEDIUM_MAX + 1);
        CHECK(y2 && y2 != y && y2[0] == 9 && y2[64 * KIB - 1] == 9);
        /* At the first pool but another span in its arena: a move too, and
         * the other span stays as it was. */
        char *z2 = obmt_malloc(64 * KIB);
        CHECK(slot_of(z2) == slot_of(x));
        memset(z2, 10, 64 * KIB);
        char *x2 = obmt_realloc(x, OBMT_MEDIUM_MAX + 1);
        CHECK(x2 && x2 != x && x2[0] == 8 && x2[600 * KIB - 1] == 8);
        CHECK(z2[0] == 10 && z2[64 * KIB - 1] == 10);
        obmt_free(x2);
        obmt_free(y2);
        obmt_free(z2);
        flush();
        unit_check_reconciles();
    }

    /* 9e. A span after pool 0 whose arena holds no other span, or none but
     *     spans in the calling thread's own cache, also becomes a huge
     *     block where it lies: the block starts at that pool (its usable
     *     size is the arena's less the pools before it, which hold nothing
     *     and give their pages back), the cached spans leave the cache.
     *     (realloc_mul15/16777216 after the other realloc rows: a cached
     *     64 KiB span at pool 0 had made every chain copy 1 MiB.) A span
     *     that another thread caches keeps its pools, and the buffer
     *     moves. */
    if (!OBMT_SECURE) {
        obmt_collect();
        char *x = obmt_malloc(600 * KIB); /* a new span arena: pools 0-19 */
        flush();
        char *y = obmt_malloc(64 * KIB);  /* pools 20-21 */
        flush();
        CHECK(((uintptr_t)x & (OBMT_ARENA_SIZE - 1)) == 0 && slot_of(y) == slot_of(x));
        memset(x, 8, 600 * KIB);
        memset(y, 9, 64 * KIB);
        size_t x_size = obmt_usable_size(x); /* 640 KiB, 20 pools */
        obmt_free(x);
        flush(); /* x's pools free again, dirty */
        size_t below = (uintptr_t)y & (OBMT_ARENA_SIZE - 1);
        CHECK_MSG(below == x_size, "y at pool %zu", below / OBMT_POOL_SIZE);
        struct obmt_stats s0 = unit_stats();
        char *y2 = obmt_realloc(y, OBMT_MEDIUM_MAX + 1);
        CHECK_MSG(y2 == y, "moved from %p to %p", (void *)y, (void *)y2);
        CHECK(y2[0] == 9 && y2[64 * KIB - 1] == 9);
        CHECK(obmt_usable_size(y2) == OBMT_ARENA_SIZE - below);
        struct obmt_stats s1 = unit_stats();
        CHECK(s1.huge_allocs == s0.huge_allocs + 1 && s1.medium_frees == s0.medium_frees + 1);
        CHECK(s1.huge_bytes_in_use == s0.huge_bytes_in_use + OBMT_ARENA_SIZE - below);
        CHECK_MSG(resident_pages(y2 - below, below) == 0, "%zu pages before the block resident",
                  resident_pages(y2 - below, below));
        unit_check_reconciles();
        memset(y2, 7, OBMT_ARENA_SIZE - below); /* all of it is the block's */
        /* Growing into the arenas after it, when they are free: the usable
         * size counts from the block's start. */
        char *y3 = obmt_realloc(y2, 3 * OBMT_ARENA_SIZE);
        CHECK(y3 && y3[0] == 7 && y3[OBMT_ARENA_SIZE - below - 1] == 7);
        if (y3 == y2)
            CHECK(obmt_usable_size(y3) == 4 * OBMT_ARENA_SIZE - below);
        else
            CHECK(obmt_usable_size(y3) >= 3 * OBMT_ARENA_SIZE);
        /* Shrinking to a medium size: a move into a span. */
        char *y4 = obmt_realloc(y3, 100 * KIB);
        CHECK(y4 && y4[0] == 7 && y4[100 * KIB - 1] == 7 && obmt_usable_size(y4) < OBMT_MEDIUM_MAX);
        obmt_free(y4);
        flush();
        unit_check_reconciles();
        struct obmt_stats s2 = unit_stats();
        CHECK(s2.huge_allocs == s2.huge_frees && s2.huge_bytes_in_use == s0.huge_bytes_in_use);

        /* The span before it in this thread's cache. */
        if (heap_self()->span_cache_budget >= 64 * KIB) {
            obmt_collect();
            char *u = obmt_malloc(64 * KIB); /* a new span arena: pools 0-1 */
            flush(); /* (no batch next) */
            char *v = obmt_malloc(64 * KIB); /* pools 2-3 */
            flush();
            CHECK(slot_of(u) == slot_of(v) && pool_index(v) == pool_index(u) + 2);
            memset(v, 11, 64 * KIB);
            obmt_free(u); /* cached */
            uint64_t cached = heap_self()->span_cached_bytes;
            CHECK(cached >= 64 * KIB);
            char *v2 = obmt_realloc(v, OBMT_MEDIUM_MAX + 1);
            CHECK_MSG(v2 == v, "moved from %p to %p", (void *)v, (void *)v2);
            CHECK(v2[0] == 11 && v2[64 * KIB - 1] == 11 && obmt_usable_size(v2) == OBMT_ARENA_SIZE - 2 * (size_t)OBMT_POOL_SIZE);
            CHECK(heap_self()->span_cached_bytes == cached - 64 * KIB);
            CHECK(resident_pages(v2 - 2 * OBMT_POOL_SIZE, 2 * OBMT_POOL_SIZE) == 0);
            unit_check_reconciles();
            /* The cache goes on working without u. */
            char *w = obmt_malloc(64 * KIB);
            CHECK(w && slot_of(w) != slot_of(v2));
            obmt_free(w);
            obmt_free(v2);
            flush();
            unit_check_reconciles();
        }

        /* The span before it in another thread's cache: a move. */
        obmt_collect();
        sem_init(&keeper_has, 0, 0);
        sem_init(&keeper_go, 0, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, keep_in_thread, NULL) == 0);
        sem_wait(&keeper_has);
        char *v = obmt_malloc(64 * KIB);
        flush();
        CHECK(slot_of(v) == slot_of(keeper_span) && pool_index(v) == pool_index(keeper_span) + 2);
        sem_post(&keeper_go);
        sem_wait(&keeper_has); /* the keeper's span is in its cache now (or back, with no cache) */
        memset(v, 12, 64 * KIB);
        char *v2 = obmt_realloc(v, OBMT_MEDIUM_MAX + 1);
        CHECK(v2 && v2[0] == 12 && v2[64 * KIB - 1] == 12);
        /* (the keeper caches only with a budget; without, its span is back
         * in the arena and v becomes huge where it lies) */
        if (span_cache_budget() >= 64 * KIB)
            CHECK_MSG(v2 != v && ((uintptr_t)v2 & (OBMT_ARENA_SIZE - 1)) == 0, "%p became huge in place", (void *)v);
        sem_post(&keeper_go);
        CHECK(pthread_join(t, NULL) == 0);
        obmt_free(v2);
        flush();
        unit_check_reconciles();
    }

    /* 10. Bad pointers abort with a message that names the fault. */
    expect_death(double_free, NULL, SIGABRT, "double free of a medium block", "double free");
    expect_death(interior_head, NULL, SIGABRT, "inside a medium block's first pool", "inside a medium block");
    expect_death(interior_pool, NULL, SIGABRT, "inside a medium block's span", "free(): invalid pointer");
    expect_death(usable_freed, NULL, SIGABRT, "usable size of a freed medium block", "malloc_usable_size(): invalid pointer");
    expect_death(realloc_freed, NULL, SIGABRT, "realloc of a freed medium block", "realloc(): invalid pointer");
    expect_death(double_free_cached, NULL, SIGABRT, "double free of a cached medium block", "not in use");
    expect_death(usable_cached, NULL, SIGABRT, "usable size of a cached medium block", "not in use");
    if (!OBMT_SECURE) {
        expect_death(free_before_huge, NULL, SIGABRT, "a pool before a huge block that starts after pool 0", "invalid pointer");
        expect_death(free_inside_huge, NULL, SIGABRT, "inside such a huge block's first pool", "inside a huge block");
        expect_death(free_huge_pool, NULL, SIGABRT, "inside such a huge block's second pool", "invalid pointer");
    }
    CHECK_DONE("unit_span");
}
