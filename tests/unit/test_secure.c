/* Secure mode (-DOBMT_SECURE=ON; built and run only there): links of free
 * blocks are encoded and checked, a pool's free-list head must lie in the
 * pool, carving hands a page's blocks out in a random order, and each
 * arena ends in a guard page. */
#include "unit_util.h"

#if !OBMT_SECURE
#error "test_secure.c is built only with -DOBMT_SECURE=ON"
#endif

static int target; /* an address a forged link points to */

/* A write after free aims a free block's link at `target`: the malloc that
 * follows the link must abort, not hand `target` out. */
static void forged_link(void *unused)
{
    (void)unused;
    void *keep = obmt_malloc(48), *x = obmt_malloc(48), *y = obmt_malloc(48);
    obmt_free(x);
    obmt_free(y);
    *(void **)y = &target; /* as a program that writes through a stale pointer would */
    void *a = obmt_malloc(48);
    void *b = obmt_malloc(48);
    fprintf(stderr, "handed out %p and %p\n", a, b);
    (void)keep;
}

/* The same with a link aimed at another block's interior in the pool. */
static void forged_interior(void *unused)
{
    (void)unused;
    char *keep = obmt_malloc(48), *x = obmt_malloc(48), *y = obmt_malloc(48);
    obmt_free(x);
    obmt_free(y);
    /* Even a program that knew the secret and encoded its link (a block's
     * interior, in the same pool) is caught: the link must be a carved
     * block start. */
    *(uintptr_t *)y = (uintptr_t)(keep + 8) ^ link_mask((block *)y);
    CHECK(block_next_raw((block *)y) == (block *)(keep + 8));
    CHECK(obmt_malloc(48) == NULL);
    CHECK(obmt_malloc(48) == NULL);
}

/* An overflow into a pool header points its free-list head elsewhere. */
static void forged_head(void *unused)
{
    (void)unused;
    void *x = obmt_malloc(80);
    pool_header *p = pool_of(x);
    p->freeblock = (block *)&target;
    CHECK(obmt_malloc(80) == NULL); /* (a call whose result is unused may be dropped) */
}

/* A read of the page at the end of an arena. */
static void touch_guard(void *unused)
{
    (void)unused;
    char *x = obmt_malloc(16);
    volatile char *guard = (char *)(((uintptr_t)x | (OBMT_ARENA_SIZE - 1)) + 1) - 4096;
    fprintf(stderr, "read %d\n", guard[0]);
}

int main(void)
{
    CHECK(g_hot.link_key != 0 && g_hot.link_key != g_hot.free_key);

    /* A link is stored encoded: the raw word is not the next block's
     * address, and decodes to it. */
    void *keep = obmt_malloc(48), *x = obmt_malloc(48), *y = obmt_malloc(48);
    CHECK(pool_of(x) == pool_of(y));
    obmt_free(x);
    obmt_free(y);
    CHECK(pool_of(y)->freeblock == (block *)y && block_next(pool_of(y), (block *)y) == (block *)x);
    CHECK_MSG(*(void **)y != x, "the link of %p is stored in the clear", y);
    CHECK(obmt_malloc(48) == y && obmt_malloc(48) == x);
    /* A block handed out holds neither its encoded link (with the next
     * block's address, the next malloc's result, it would give the link key
     * away) nor the free key. */
    CHECK(((uintptr_t *)y)[0] == 0 && ((uintptr_t *)y)[1] == 0);
    obmt_free(x);
    obmt_free(y);
    obmt_free(keep);

    /* Carving order: the first 64 blocks of a fresh pool of 16-byte blocks
     * (256 carved with the first page) are not handed out in address order
     * (the chance that a random order is ascending: 1/64!). */
    enum { K = 64 };
    static char *v[4096];
    size_t n = 0, start = SIZE_MAX;
    while (start == SIZE_MAX && n < 4096) { /* until a malloc opens a fresh pool */
        v[n] = obmt_malloc(16);
        if (pool_of(v[n])->count == 1 && pool_of(v[n])->nextoffset <= 4096 + 16)
            start = n;
        n++;
    }
    CHECK(start != SIZE_MAX);
    for (size_t i = 1; i < K; i++)
        v[n++] = obmt_malloc(16);
    size_t ascending = 0;
    for (size_t i = start + 1; i < start + K; i++) {
        CHECK(pool_of(v[i]) == pool_of(v[start]));
        ascending += v[i] > v[i - 1];
    }
    CHECK_MSG(ascending < K - 1, "%zu of %d steps went up: carved in address order", ascending, K - 1);
    for (size_t i = 0; i < n; i++)
        obmt_free(v[i]);

    expect_death(forged_link, NULL, SIGABRT, "forged link", "free list corrupted");
    expect_death(forged_interior, NULL, SIGABRT, "link into a block's interior", "free list corrupted");
    expect_death(forged_head, NULL, SIGABRT, "forged free-list head", "free list corrupted");
    expect_death(touch_guard, NULL, SIGSEGV, "the guard page at an arena's end", NULL);
    CHECK_DONE("secure");
}
