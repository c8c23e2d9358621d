/* The free key (internal.h, struct block): a block freed twice is caught
 * at any depth of any list, by its owner or by another thread, and so is a
 * block that was carved but never handed out; a live block that holds the
 * secret by chance is freed normally; malloc never hands the secret out. */
#include "unit_util.h"

static void expect_abort(void (*fn)(void *), void *arg, const char *what, const char *needle)
{
    expect_death(fn, arg, SIGABRT, what, needle);
}

/* The owner frees a, then two others, then a again: a is not the head of
 * the free list (that case was caught before the key), it is third. */
static void local_deep(void *unused)
{
    (void)unused;
    void *keep = obmt_malloc(64), *a = obmt_malloc(64), *b = obmt_malloc(64), *c = obmt_malloc(64);
    obmt_free(a);
    obmt_free(b);
    obmt_free(c);
    obmt_free(a);
    (void)keep;
}

/* The same through the full-pool path: a block freed into a FULL pool
 * (free_into_full) and freed again after another. */
static void local_deep_full(void *unused)
{
    (void)unused;
    const size_t per = blocks_per_pool(size_class(2048));
    void **b = calloc(per, sizeof *b);
    for (size_t i = 0; i < per; i++)
        b[i] = obmt_malloc(2048);
    CHECK(pool_of(b[0]) == pool_of(b[per - 1]) && pool_of(b[0])->freeblock == NULL);
    obmt_free(b[1]);
    obmt_free(b[2]);
    obmt_free(b[1]);
}

/* A block carved with the last one handed out (same page) but never
 * handed out itself: the second block on the free list of a fresh pool. */
static void local_uncarved(void *unused)
{
    (void)unused;
    char *a = obmt_malloc(64);
    pool_header *p = pool_of(a);
    block *never = block_next(p, p->freeblock);
    CHECK(never && pool_is_carved_block(p, never));
    obmt_free(never);
}

static void *free_list_of(void *arg)
{
    void **x = arg;
    for (; *x; x++)
        obmt_free(*x);
    return NULL;
}

/* Another thread frees a, b, c, a: its batch for the pool would become a
 * cycle (the old check saw only the batch's head). */
static void remote_deep(void *unused)
{
    (void)unused;
    void *keep = obmt_malloc(64), *a = obmt_malloc(64), *b = obmt_malloc(64), *c = obmt_malloc(64);
    void *x[] = { a, b, c, a, NULL };
    run_in_thread(free_list_of, x);
    (void)keep;
}

/* The owner frees a (on its local free list, under another block), then
 * another thread frees a. */
static void remote_after_owner(void *unused)
{
    (void)unused;
    void *keep = obmt_malloc(64), *a = obmt_malloc(64), *b = obmt_malloc(64);
    obmt_free(a);
    obmt_free(b);
    void *x[] = { a, NULL };
    run_in_thread(free_list_of, x);
    (void)keep;
}

/* Another thread frees a carved block the owner never handed out. */
static void remote_uncarved(void *unused)
{
    (void)unused;
    char *a = obmt_malloc(64);
    pool_header *p = pool_of(a);
    block *never = block_next(p, p->freeblock); /* on the free list, behind the head */
    CHECK(never && pool_is_carved_block(p, never));
    void *x[] = { never, NULL };
    run_in_thread(free_list_of, x);
}

/* realloc of a freed block (arg: the new size; 100 keeps the block, the
 * in-place fast path's case; 1000 moves it, obmt_realloc's move of a pool
 * block after the same checks), and of a pointer into a live block. */
static void realloc_freed(void *size)
{
    void *keep = obmt_malloc(100), *a = obmt_malloc(100), *b = obmt_malloc(100);
    obmt_free(a);
    obmt_free(b);
    obmt_realloc(a, (size_t)(uintptr_t)size);
    (void)keep;
}
static void realloc_interior_in_place(void *unused)
{
    (void)unused;
    char *a = obmt_malloc(100);
    obmt_realloc(a + 16, 90);
}
static void realloc_interior_moved(void *unused)
{
    (void)unused;
    char *a = obmt_malloc(100);
    obmt_realloc(a + 16, 1000);
}

int main(void)
{
    uintptr_t key = obmt_load_relaxed(&g_hot.free_key);
    CHECK_MSG(key & 1, "the key must be odd (never a block address): %#lx", (unsigned long)key);
    CHECK((uintptr_t)&g_hot % 64 == 0 && sizeof g_hot == 64); /* the read-mostly line */

    expect_abort(local_deep, NULL, "owner, at depth", "double free");
    expect_abort(local_deep_full, NULL, "owner, full pool", "free already");
    expect_abort(local_uncarved, NULL, "owner, never handed out", "never handed out");
    expect_abort(remote_deep, NULL, "other thread, at depth", "free already");
    expect_abort(remote_after_owner, NULL, "other thread after the owner", "free already");
    expect_abort(remote_uncarved, NULL, "other thread, never handed out", "never handed out");
    expect_abort(realloc_freed, (void *)(uintptr_t)50, "realloc of a freed block", "realloc(): invalid pointer");
    expect_abort(realloc_freed, (void *)(uintptr_t)100, "realloc of a freed block, same size", "realloc(): invalid pointer");
    expect_abort(realloc_interior_in_place, NULL, "realloc of an interior pointer", "realloc(): invalid pointer");
    expect_abort(realloc_freed, (void *)(uintptr_t)1000, "realloc of a freed block, growing", "realloc(): invalid pointer");
    expect_abort(realloc_interior_moved, NULL, "realloc of an interior pointer, growing", "realloc(): invalid pointer");

    /* malloc never hands the secret out: not in fresh blocks, not in
     * reused ones, in any class. */
    static void *v[20000];
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < 20000; i++) {
            v[i] = obmt_malloc(16 + (i * 37) % 8000);
            CHECK_MSG(((uintptr_t *)v[i])[1] != key, "block %zu of round %d holds the key", i, round);
        }
        for (size_t i = 0; i < 20000; i += 2)
            obmt_free(v[i]);
        for (size_t i = 0; i < 20000; i += 2) {
            v[i] = obmt_malloc(16 + (i * 37) % 8000);
            CHECK(((uintptr_t *)v[i])[1] != key);
        }
        for (size_t i = 0; i < 20000; i++)
            obmt_free(v[i]);
    }

    /* A pool that held 16-byte blocks, all freed and given back, then
     * serves 64-byte blocks: the keys the old blocks carried do not
     * surface inside the new ones (found in review: a program that moved
     * those bytes to the start of its block was told it freed it twice). */
    /* The emptied pools stay in this thread's cache, which serves any class. */
    CHECK(obmt_option_set("keep_empty_pools", 1000) == 0);
    CHECK(obmt_option_set("purge_delay_ms", -1) == 0); /* the old bytes stay */
    enum { NS = 20000 };
    static void *small[NS];
    static pool_header *was16[NS / 1000];
    size_t n16 = 0;
    for (size_t i = 0; i < NS; i++) {
        small[i] = obmt_malloc(16);
        if (n16 == 0 || was16[n16 - 1] != pool_of(small[i]))
            was16[n16++] = pool_of(small[i]);
    }
    for (size_t i = 0; i < NS; i++)
        obmt_free(small[i]);
    size_t reused = 0;
    for (size_t i = 0; i < NS / 4; i++) {
        uintptr_t *w = obmt_malloc(64);
        small[i] = w;
        for (size_t k = 0; k < n16; k++)
            reused += pool_of(w) == was16[k];
        for (int k = 0; k < 8; k++)
            CHECK_MSG(w[k] != key, "word %d of a fresh 64-byte block at %p holds the key", k, (void *)w);
        memmove(w, w + 2, 48); /* the program's own (uninitialised) bytes, moved */
    }
    CHECK_MSG(reused > 0, "no pool of 16-byte blocks was reused for 64-byte blocks");
    for (size_t i = 0; i < NS / 4; i++)
        obmt_free(small[i]);

    /* A live block holding the secret by chance, with data (not a link) in
     * its first word, is freed as any other, by its owner and by another
     * thread, and handed out again. */
    uintptr_t *keep = obmt_malloc(64), *lucky = obmt_malloc(64);
    lucky[0] = 0x1234567; /* not a block of its pool */
    lucky[1] = key;
    obmt_free(lucky);
    CHECK(obmt_malloc(64) == lucky && lucky[1] == 0);
    lucky[0] = (uintptr_t)keep + 8; /* inside the pool, but not a block start */
    lucky[1] = key;
    void *x[] = { lucky, NULL };
    run_in_thread(free_list_of, x);
    obmt_collect();
    obmt_free(keep);
    CHECK_DONE("double_free");
}
