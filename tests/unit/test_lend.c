/* Lending (src/lend.c), one step at a time, on the internals:
 *  1. An entry that meets &heap_lending does without the heap and never
 *     waits: free of the thread's own live block (one whose first word links
 *     to another block of its pool, as a list node's does: the free key's
 *     false-positive rule) goes onto its pool's remote list with no abort,
 *     malloc is served without the heap, by obmt (a block of the smallest
 *     span class, straight from a span arena), not passed on to the
 *     underlying allocator; both count a detour.
 *     (The first version waited for the heap and then took the owner's
 *     checked path, which called such a node a double free.)
 *  2. lend_try's policy: a heap that ticked within the delay is not lent;
 *     one idle past it is, and its empty pools go back (usedpools empty);
 *     right after, with nothing taken since, it is not lent again; eight
 *     delays later it is; one that cached medium blocks since is lent at
 *     once (its span cache goes back).
 *  3. A heap whose thread's tls_self.heap no longer holds it (the thread
 *     died without its key destructor and glibc gave the TLS to another
 *     thread) is closed by the lender, which writes nothing there.
 *  4. What a lend takes (heap_collect_lent): a parked thread holds a pool
 *     with a live block, blocks on its local free list and blocks other
 *     threads freed onto its remote list; a pool whose every block out was
 *     freed by another thread (flushed onto its remote list); a pool that
 *     went full, was freed into by its owner and then emptied by another
 *     thread (ARMED, then handed back through `returned` with blocks on its
 *     local list); and empty pools (cached, and the sole one of a class).
 *     The lend gives back all but the first, and leaves the first exactly
 *     as it was: owner, count, local free list, remote word. (This test
 *     runs with OBMT_BLOCK_STACK=0: unit_bstack tests the lender's flush
 *     of the stacks.) */
#include "internal.h"
#include "unit_util.h"

#include <pthread.h>
#include <string.h>

static struct obmt_stats stats(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    return st;
}

static void test_detours(void)
{
    void **node = obmt_malloc(16), **tail = obmt_malloc(16);
    CHECK(node && tail && pool_of(node) == pool_of(tail));
    node[0] = tail; /* a list: the first word links to a block of the same pool */
    node[1] = NULL;
    tail[0] = NULL;
    struct heap *h = heap_self();
    pool_header *p = pool_of(node);
    CHECK(p->owner == h);
    uint64_t detours = stats().lend_detours, passed = stats().large_allocs;
    /* What a lender's step 2 stores (this thread plays the lender too: if
     * free waited for the heap, it would wait forever). */
    obmt_store_relaxed(&tls_self.heap, &heap_lending);
    obmt_free(node);
    void *q = obmt_malloc(100);
    CHECK(q && obmt_owns(q) && pool_of(q)->owner == OWNER_SPAN);
    CHECK(obmt_usable_size(q) >= 100);
    memset(q, 0xa5, 100);
    obmt_free(q); /* (by the thread with its heap lent: the span goes back to its arena) */
    obmt_store_release(&tls_self.heap, h);
    CHECK_MSG(stats().lend_detours == detours + 2, "detours %llu, expected %llu",
              (unsigned long long)stats().lend_detours, (unsigned long long)detours + 2);
    CHECK(stats().large_allocs == passed);
    /* The node waits on its pool's remote list, counted out until taken. */
    uintptr_t w = obmt_load_acquire(&p->remote);
    CHECK_MSG((w & REMOTE_PTR) == (uintptr_t)node && (w >> REMOTE_COUNT_SHIFT) == 1,
              "remote word %#lx, node %p", (unsigned long)w, (void *)node);
    obmt_free(tail);
    obmt_collect();
    CHECK(obmt_load_acquire(&p->remote) == 0);
}

/* ---- 2 and 3: a parked thread's heap ---- */

static pthread_barrier_t bar;
static struct heap *parked_heap;
static int fake_reuse;

static void *parked(void *arg)
{
    (void)arg;
    void *b[300];
    for (int i = 0; i < 300; i++)
        CHECK((b[i] = obmt_malloc(64 + (size_t)(i % 3) * 1000)) != NULL);
    for (int i = 0; i < 300; i++)
        obmt_free(b[i]);
    parked_heap = heap_self();
    if (fake_reuse == 1)
        obmt_store_relaxed(&tls_self.heap, &heap_empty); /* as a new thread's TLS reads */
    pthread_barrier_wait(&bar); /* parked: outside obmt */
    pthread_barrier_wait(&bar);
    if (fake_reuse == 2) { /* medium blocks into its span cache, and parked again */
        void *m[4];
        for (int i = 0; i < 4; i++)
            CHECK((m[i] = obmt_malloc(64 * 1024)) != NULL);
        for (int i = 0; i < 4; i++)
            obmt_free(m[i]);
        CHECK(heap_self()->span_cached_bytes > 0);
        pthread_barrier_wait(&bar);
        pthread_barrier_wait(&bar);
    }
    if (fake_reuse == 1)
        obmt_store_relaxed(&tls_self.heap, parked_heap); /* so that its exit runs */
    void *again = obmt_malloc(64);
    CHECK(again);
    obmt_free(again);
    return NULL;
}

static size_t classes_held(const struct heap *h)
{
    size_t n = 0;
    for (unsigned c = 0; c < OBMT_NCLASSES; c++)
        n += h->usedpools[c] != NULL;
    return n;
}

/* Start a thread that fills pools of three classes and parks (reuse: as if
 * its TLS were another thread's); returns its heap. park_end wakes it and
 * waits for its exit. */
static pthread_t parked_thread;
static struct heap *park_start(int reuse)
{
    fake_reuse = reuse;
    pthread_barrier_init(&bar, NULL, 2);
    CHECK(pthread_create(&parked_thread, NULL, parked, NULL) == 0);
    pthread_barrier_wait(&bar);
    return parked_heap;
}

static void park_end(void)
{
    pthread_barrier_wait(&bar);
    pthread_join(parked_thread, NULL);
    pthread_barrier_destroy(&bar);
}

static void test_policy(void)
{
    struct heap *h = park_start(0);
    CHECK(lend_available());
    CHECK(obmt_load_acquire(&h->lend_state) == LEND_OPEN && classes_held(h) > 0);
    uint64_t now = os_now_ms(), lent = stats().heaps_lent;
    CHECK_MSG(!lend_try(h, now, 1000), "a heap that ticked just now was lent");
    CHECK_MSG(lend_try(h, now + 2000, 1000), "a heap idle for two delays was not lent");
    CHECK(stats().heaps_lent == lent + 1);
    CHECK_MSG(classes_held(h) == 0 && h->nempty == 0, "after the lend the heap holds %zu classes, %u empty pools",
              classes_held(h), h->nempty);
    CHECK(obmt_load_acquire(&h->lend_state) == LEND_OPEN && h->lend_tls && *h->lend_tls == h);
    CHECK_MSG(!lend_try(h, now + 2100, 1000), "lent again with nothing taken since");
    CHECK_MSG(lend_try(h, now + 2000 + 8 * 1000, 1000), "not lent again after eight delays");
    park_end();
    CHECK(obmt_load_acquire(&h->lend_state) == LEND_CLOSED); /* its exit closed it */
}

/* A heap lent once that has cached medium blocks since is lent again at
 * its next idle period, not only after eight delays: its span cache (up
 * to 32 MiB while classes are grown) goes back (found in review). */
static void test_policy_spans(void)
{
    struct heap *h = park_start(2);
    uint64_t now = os_now_ms();
    CHECK(lend_try(h, now + 2000, 1000));
    obmt_store_relaxed(&h->last_tick_ms, 0); /* as if its last tick were long ago */
    pthread_barrier_wait(&bar); /* it caches medium blocks */
    pthread_barrier_wait(&bar);
    /* Its cache's misses took spans from the arenas just now: active, as a
     * pool take makes it (found in review: lent at every reclaim pass). */
    CHECK_MSG(!lend_try(h, os_now_ms() + 500, 1000), "a heap that took spans just now was lent");
    uint64_t taken = obmt_load_relaxed(&h->stats.pools_taken) + obmt_load_relaxed(&h->stats.adopted);
    CHECK_MSG(taken == h->lent_taken, "pools taken since the lend: the test would not tell");
    CHECK(obmt_load_relaxed(&h->span_cached_bytes) > 0);
    CHECK_MSG(lend_try(h, os_now_ms() + 2000, 1000), "a heap with cached medium blocks was not lent again");
    CHECK(obmt_load_relaxed(&h->span_cached_bytes) == 0);
    park_end(); /* (its last barrier) */
}

static void test_reused_tls(void)
{
    struct heap *h = park_start(1);
    size_t held = classes_held(h);
    CHECK(obmt_load_acquire(&h->lend_state) == LEND_OPEN && held > 0);
    CHECK_MSG(!lend_try(h, os_now_ms() + 10000, 1000), "lent through a TLS word that does not hold the heap");
    CHECK(obmt_load_acquire(&h->lend_state) == LEND_CLOSED);
    CHECK_MSG(*h->lend_tls == &heap_empty, "the lender wrote into the other thread's TLS");
    CHECK(classes_held(h) == held);
    park_end();
}

/* ---- 4: what a lend takes ---- */

enum { L_LIVE_N = 10, L_ALLREM_N = 5 };
static void *l_handed[64 + 1024];
static int l_nhanded;
static pool_header *l_live_pool, *l_allrem_pool, *l_armed_pool, *l_empty_pools[3];
static void *l_live;
static struct heap *l_heap;

static void *lent_owner(void *arg)
{
    (void)arg;
    /* A pool of 48-byte blocks: one kept live, three freed here (local
     * list), six handed to main (remote list). */
    void *b[L_LIVE_N];
    for (int i = 0; i < L_LIVE_N; i++)
        CHECK((b[i] = obmt_malloc(48)) != NULL);
    l_live = b[0];
    memset(l_live, 0x5a, 48);
    for (int i = 1; i < 4; i++)
        obmt_free(b[i]);
    for (int i = 4; i < L_LIVE_N; i++)
        l_handed[l_nhanded++] = b[i];
    /* A pool of 160-byte blocks: all five out handed to main. */
    for (int i = 0; i < L_ALLREM_N; i++)
        CHECK((l_handed[l_nhanded++] = obmt_malloc(160)) != NULL);
    /* A pool of 1024-byte blocks (32 a pool) filled: FULL; one block freed
     * here makes it ARMED; the other 31 go to main, whose first free into
     * it clears FULL and hands it back through `returned`. */
    int na = (int)class_blocks(size_class(1024));
    void *a[32];
    CHECK(na <= 32);
    for (int i = 0; i < na; i++)
        CHECK((a[i] = obmt_malloc(1024)) != NULL);
    CHECK(pool_of(a[0]) == pool_of(a[na - 1]));
    void *next = obmt_malloc(1024); /* the first one is FULL now: a second pool for the class */
    CHECK(next && pool_of(next) != pool_of(a[0]));
    obmt_free(next);
    obmt_free(a[0]);
    CHECK(pool_of(a[1])->state == POOL_ARMED);
    for (int i = 1; i < na; i++)
        l_handed[l_nhanded++] = a[i];
    /* Four and a half pools of 2048-byte blocks: freed here, four go to
     * the empty cache and the last stays, empty, as the sole pool of its
     * class. */
    int ne = 4 * (int)class_blocks(size_class(2048)) + 2;
    void *e[128];
    CHECK(ne <= 128);
    for (int i = 0; i < ne; i++)
        CHECK((e[i] = obmt_malloc(2048)) != NULL);
    for (int i = 0; i < ne; i++)
        obmt_free(e[i]);
    l_heap = heap_self();
    l_live_pool = pool_of(l_live);
    l_allrem_pool = pool_of(l_handed[6]);
    l_armed_pool = pool_of(a[1]);
    pthread_barrier_wait(&bar); /* 1: main frees what it was handed */
    pthread_barrier_wait(&bar); /* 2: parked while main lends the heap */
    pthread_barrier_wait(&bar); /* 3: main has checked */
    for (int i = 0; i < 48; i++)
        CHECK(((unsigned char *)l_live)[i] == 0x5a);
    obmt_free(l_live);
    return NULL;
}

static bool l_given(const pool_header *p)
{
    return obmt_load_acquire(&p->owner) != l_heap;
}

static void test_lent_pools(void)
{
    pthread_barrier_init(&bar, NULL, 2);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, lent_owner, NULL) == 0);
    pthread_barrier_wait(&bar); /* 1 */
    struct heap *h = l_heap;
    for (int i = 0; i < l_nhanded; i++)
        obmt_free(l_handed[i]);
    heap_flush_remote(heap_self()); /* main's batches onto the pools' remote lists */
    pool_header *p = l_live_pool;
    CHECK(p->owner == h && p->state == POOL_USED && p->count == 7);
    uintptr_t w = obmt_load_acquire(&p->remote);
    CHECK_MSG((w >> REMOTE_COUNT_SHIFT) == 6 && !(w & REMOTE_FLAGS), "the live pool's remote word is %#lx",
              (unsigned long)w);
    block *fb = p->freeblock;
    uint32_t count = p->count;
    CHECK(l_allrem_pool->owner == h && l_allrem_pool->count == L_ALLREM_N);
    CHECK_MSG(l_armed_pool->state == POOL_ARMED && obmt_load_acquire(&h->returned) == l_armed_pool,
              "the ARMED pool is not on `returned` (state %d)", l_armed_pool->state);
    CHECK_MSG(h->nempty == 4 && h->usedpools[size_class(2048)] && h->usedpools[size_class(2048)]->count == 0,
              "%u empty pools cached", h->nempty);
    for (int i = 0; i < 3; i++)
        l_empty_pools[i] = i == 0 ? h->usedpools[size_class(2048)] : i == 1 ? h->emptypools : h->emptypools->nextpool;
    uint64_t given = h->stats.pools_given, lent = stats().heaps_lent;
    pthread_barrier_wait(&bar); /* 2 */
    CHECK_MSG(lend_try(h, os_now_ms() + 10000, 1000), "the parked heap was not lent");
    CHECK(stats().heaps_lent == lent + 1);
    /* The pool with a live block: untouched. */
    CHECK(p->owner == h && p->state == POOL_USED && p->count == count && p->freeblock == fb);
    CHECK_MSG(obmt_load_acquire(&p->remote) == w, "the live pool's remote list was touched: %#lx, was %#lx",
              (unsigned long)obmt_load_acquire(&p->remote), (unsigned long)w);
    CHECK(h->usedpools[size_class(48)] == p);
    /* Given back: the pool all of whose blocks came back remotely, the
     * ARMED one that came back through `returned`, the empty ones. */
    CHECK_MSG(l_given(l_allrem_pool) && h->usedpools[size_class(160)] == NULL, "the all-remote pool was kept");
    CHECK_MSG(l_given(l_armed_pool) && obmt_load_acquire(&h->returned) == NULL, "the pool on `returned` was kept");
    CHECK(h->usedpools[size_class(1024)] == NULL); /* the second pool of the class, emptied by its own free */
    for (int i = 0; i < 3; i++)
        CHECK_MSG(l_given(l_empty_pools[i]), "empty pool %d was kept", i);
    CHECK_MSG(h->nempty == 0 && h->emptypools == NULL && h->usedpools[size_class(2048)] == NULL,
              "%u empty pools kept after the lend", h->nempty);
    /* 2 (160, 1024 ARMED) + 1 (the other 1024 pool, empty) + 5 (2048) */
    CHECK_MSG(h->stats.pools_given == given + 8, "%llu pools given back, expected 8",
              (unsigned long long)(h->stats.pools_given - given));
    pthread_barrier_wait(&bar); /* 3 */
    pthread_join(t, NULL);
    pthread_barrier_destroy(&bar);
}

int main(void)
{
    CHECK(obmt_malloc(1) != NULL); /* init, and a heap for this thread */
    test_detours();
    test_policy();
    test_policy_spans();
    test_reused_tls();
    test_lent_pools();
    printf("unit_lend: ok\n");
    return 0;
}
