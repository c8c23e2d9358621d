/* Chains (span.c): a pool block that realloc grows and moves a second
 * time in a row goes into a span of the smallest class and grows on there
 * in place; at most OBMT_REALLOC_CHAIN_SPANS such spans a thread hold
 * small data.
 *
 *  1. A buffer grown by half each step from 16 bytes to 64 KiB moves once
 *     in the pool classes, and its second move takes it into a span
 *     (pool-aligned, at a size far below the pool classes' end), then it
 *     moves never again: every later step
 *     returns the same pointer, and the contents survive every step.
 *  2. A chain's span shrunk to a few bytes stays where it is (any other
 *     span that small moves back into a pool block), and so does a step
 *     that grows it again.
 *  3. The bound: with OBMT_REALLOC_CHAIN_SPANS chains kept at 100 bytes,
 *     the next chain stays in the pool classes; once one of the kept spans
 *     is freed, a chain within the next OBMT_REALLOC_CHAIN_SPANS goes into
 *     a span again (with every slot taken, each chain looks at one in
 *     turn), and once one grows past the smallest class, the next.
 *  4. A block the thread did not move last is no chain: two buffers grown
 *     by turns stay pool blocks.
 *  6. A span grows in place into pools that spans in the thread's own
 *     cache hold (grow_from_cache): those leave the cache (a malloc of
 *     their class does not return them while the grown span lives), the
 *     statistics' medium bytes in use count the grown span, and the bytes
 *     reconcile.
 *  7. The bound is a heap's, not a thread's: 20 threads one after the
 *     other (each takes the heap the one before gave up at its exit), each
 *     keeping 8 buffers built by chains, leave at most
 *     OBMT_REALLOC_CHAIN_SPANS of the 160 in spans.
 *  5. After a chain outgrew the medium sizes, the next chain's span starts
 *     an arena (span_malloc_chain), even with a live medium block at the
 *     start of the arena it would otherwise share, and it grows past the
 *     medium sizes into a huge block without moving (not in secure mode,
 *     where a span never becomes a huge block).
 */
#include "unit_util.h"

#define SPAN_MIN (span_class_size(span_class(OBMT_SMALL_MAX + 1)))

static bool is_span(const void *b)
{
    return arena_contains(b) && obmt_load_relaxed(&pool_of(b)->owner) == OWNER_SPAN;
}

/* Fill [from, to) of b with a pattern of its offsets; check [0, to). */
static void fill(unsigned char *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        b[i] = (unsigned char)(i * 7 + 3);
}
static void check_fill(const unsigned char *b, size_t to)
{
    for (size_t i = 0; i < to; i++)
        if (b[i] != (unsigned char)(i * 7 + 3))
            CHECK_MSG(0, "byte %zu of %zu lost", i, to);
}

/* Grow b (n bytes) by half a step until it holds max; the number of
 * different addresses it had, and the address it had at `at` bytes. */
static unsigned char *grow(unsigned char *b, size_t *n, size_t max, unsigned *moves, size_t at, void **at_ptr)
{
    while (*n < max) {
        size_t m = (3 * *n + 1) / 2;
        if (m > max)
            m = max;
        unsigned char *q = obmt_realloc(b, m);
        CHECK(q != NULL);
        check_fill(q, *n);
        fill(q, *n, m);
        if (q != b)
            ++*moves;
        if (*n < at && m >= at && at_ptr)
            *at_ptr = q;
        b = q;
        *n = m;
    }
    return b;
}

/* A buffer of 16 bytes grown into the first steps of a chain: returns it
 * at about 100 bytes. */
static unsigned char *chain_100(void)
{
    size_t n = 16;
    unsigned moves = 0;
    unsigned char *b = obmt_malloc(n);
    CHECK(b != NULL);
    fill(b, 0, n);
    return grow(b, &n, 100, &moves, 0, NULL);
}

enum { THREADS = 20, KEPT = 8 };
static unsigned char *g_kept[THREADS * KEPT];
static int g_round;

static void *keep_chains(void *arg)
{
    (void)arg;
    for (int i = 0; i < KEPT; i++)
        g_kept[g_round * KEPT + i] = chain_100();
    return NULL;
}

int main(void)
{
    CHECK(obmt_option_set("purge_delay_ms", 3600 * 1000) == 0);
    /* 1 */
    size_t n = 16;
    unsigned moves = 0;
    unsigned char *b = obmt_malloc(n);
    CHECK(b != NULL);
    fill(b, 0, n);
    b = grow(b, &n, 200, &moves, 0, NULL);
    CHECK_MSG(is_span(b) && ((uintptr_t)b & (OBMT_POOL_SIZE - 1)) == 0, "a chain at 200 bytes: %p", (void *)b);
    CHECK_MSG(moves == 2, "%u moves to 200 bytes (a pool block, then the span)", moves);
    CHECK(obmt_usable_size(b) == SPAN_MIN);
    void *span = b;
    b = grow(b, &n, 64 * 1024, &moves, 0, NULL);
    CHECK_MSG(b == span && moves == 2, "the span grew in place to 64 KiB: %u moves", moves);
    /* 2 */
    CHECK(obmt_realloc(b, 8) == b);
    CHECK(is_span(b) && obmt_usable_size(b) == SPAN_MIN); /* (cut to the smallest class) */
    CHECK(obmt_realloc(b, 5) == b && obmt_realloc(b, 300) == b);
    check_fill(b, 5);
    unsigned char *s = obmt_malloc(OBMT_SMALL_MAX + 100); /* no chain's (b is live: not at b's address) */
    CHECK(is_span(s));
    unsigned char *t = obmt_realloc(s, 100);
    CHECK_MSG(t != s && !is_span(t), "a span that is no chain's moves into a pool when cut to 100 bytes");
    obmt_free(t);
    obmt_free(b);
    /* 3 */
    unsigned char *kept[OBMT_REALLOC_CHAIN_SPANS + 1];
    for (int i = 0; i < OBMT_REALLOC_CHAIN_SPANS; i++) {
        kept[i] = chain_100();
        CHECK_MSG(is_span(kept[i]), "chain %d at 100 bytes is a span", i);
    }
    unsigned char *more = chain_100();
    CHECK_MSG(!is_span(more), "chain %d stays in the pool classes", OBMT_REALLOC_CHAIN_SPANS);
    obmt_free(more);
    if (OBMT_REALLOC_CHAIN_SPANS > 0) {
        /* (with every slot taken, each chain looks at one slot in turn) */
        obmt_free(kept[0]);
        kept[0] = NULL;
        for (int t = 0; t < OBMT_REALLOC_CHAIN_SPANS && !kept[0]; t++) {
            unsigned char *c = chain_100();
            if (is_span(c))
                kept[0] = c;
            else
                obmt_free(c);
        }
        CHECK_MSG(kept[0] != NULL, "no chain a span within %d after a kept span was freed", OBMT_REALLOC_CHAIN_SPANS);
        size_t m = 100;
        unsigned mv = 0;
        kept[0] = grow(kept[0], &m, 2 * SPAN_MIN, &mv, 0, NULL);
        more = chain_100();
        CHECK_MSG(is_span(more), "a chain after a kept span grew past the smallest class is a span");
        obmt_free(more);
    }
    for (int i = 0; i < OBMT_REALLOC_CHAIN_SPANS; i++)
        obmt_free(kept[i]);
    /* 4: two buffers by turns */
    size_t na = 16, nb = 16;
    unsigned ma = 0, mb = 0;
    unsigned char *a = obmt_malloc(na), *c = obmt_malloc(nb);
    CHECK(a && c);
    fill(a, 0, na);
    fill(c, 0, nb);
    for (size_t to = 24; to <= 4096; to = to * 3 / 2) {
        a = grow(a, &na, to, &ma, 0, NULL);
        c = grow(c, &nb, to, &mb, 0, NULL);
    }
    CHECK_MSG(!is_span(a) && !is_span(c), "buffers grown by turns are no chains");
    obmt_free(a);
    obmt_free(c);
    /* 6 */
    {
        enum { NS = 8 };
        char *sp[NS];
        for (int i = 0; i < NS; i++)
            CHECK((sp[i] = obmt_malloc(OBMT_SMALL_MAX + 100)) != NULL && is_span(sp[i]));
        int a = -1;
        for (int i = 0; i < NS && a < 0; i++)
            for (int j = 0; j < NS; j++)
                if (sp[j] == sp[i] + OBMT_POOL_SIZE)
                    a = i;
        CHECK_MSG(a >= 0, "no two of %d one-pool spans adjacent", NS);
        char *grown = sp[a];
        memset(grown, 0x5a, OBMT_SMALL_MAX + 100);
        for (int i = 0; i < NS; i++)
            if (i != a)
                obmt_free(sp[i]); /* (into the cache: its depth and budget hold them) */
        struct obmt_stats s0 = unit_stats();
        size_t before = obmt_usable_size(grown);
        CHECK_MSG(obmt_realloc(grown, 2 * OBMT_POOL_SIZE - 4096) == grown, "grown in place into a cached span");
        CHECK(grown[0] == 0x5a && grown[OBMT_SMALL_MAX + 99] == 0x5a);
        memset(grown, 0x5b, 2 * OBMT_POOL_SIZE - 4096);
        struct obmt_stats s1 = unit_stats();
        unit_check_reconciles();
        CHECK_MSG(s1.medium_bytes_in_use == s0.medium_bytes_in_use + obmt_usable_size(grown) - before,
                  "medium in use %llu -> %llu", (unsigned long long)s0.medium_bytes_in_use,
                  (unsigned long long)s1.medium_bytes_in_use);
        for (int i = 0; i < NS; i++) {
            CHECK((sp[i] = obmt_malloc(OBMT_SMALL_MAX + 100)) != NULL);
            CHECK_MSG(sp[i] < grown || sp[i] >= grown + 2 * OBMT_POOL_SIZE, "a span inside the grown one: %p",
                      (void *)sp[i]);
        }
        for (int i = 0; i < NS; i++)
            obmt_free(sp[i]);
        obmt_free(grown);
    }
    /* 7 */
    for (g_round = 0; g_round < THREADS; g_round++)
        run_in_thread(keep_chains, NULL);
    int spans = 0;
    for (int i = 0; i < THREADS * KEPT; i++) {
        check_fill(g_kept[i], 100);
        spans += is_span(g_kept[i]);
        obmt_free(g_kept[i]);
    }
    CHECK_MSG(spans <= OBMT_REALLOC_CHAIN_SPANS, "%d of %d buffers kept by %d threads in spans", spans,
              THREADS * KEPT, THREADS);
    /* 5 */
    if (!OBMT_SECURE) {
        void *live = obmt_malloc(80 * 1024); /* a live span, likely at the start of an arena */
        CHECK(is_span(live));
        for (int round = 0; round < 3; round++) {
            n = 16;
            moves = 0;
            void *at_span = NULL;
            b = obmt_malloc(n);
            CHECK(b != NULL);
            fill(b, 0, n);
            b = grow(b, &n, 4 * OBMT_ARENA_SIZE, &moves, 200, &at_span);
            CHECK(at_span != NULL); /* (a span then: a huge block now, where it grew in place) */
            if (round > 0) {
                CHECK_MSG(((uintptr_t)at_span & (OBMT_ARENA_SIZE - 1)) == 0,
                          "round %d: the chain's span starts an arena: %p", round, at_span);
                CHECK_MSG(b == at_span && moves == 2, "round %d: grown to %zu bytes in place: %u moves", round,
                          n, moves);
            }
            check_fill(b, n);
            obmt_free(b);
        }
        obmt_free(live);
    }
    printf("span_chain: ok\n");
    return 0;
}
