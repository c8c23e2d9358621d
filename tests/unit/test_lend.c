/* Lending (src/lend.c), one step at a time, on the internals:
 *  1. An entry that meets &heap_lending does without the heap and never
 *     waits: free of the thread's own live block (one whose first word links
 *     to another block of its pool, as a list node's does: the free key's
 *     false-positive rule) goes onto its pool's remote list with no abort,
 *     malloc is served by the underlying allocator; both count a detour.
 *     (The first version waited for the heap and then took the owner's
 *     checked path, which called such a node a double free.)
 *  2. lend_try's policy: a heap that ticked within the delay is not lent;
 *     one idle past it is, and its empty pools go back (usedpools empty);
 *     right after, with nothing taken since, it is not lent again; eight
 *     delays later it is.
 *  3. A heap whose thread's tls_self.heap no longer holds it (the thread
 *     died without its key destructor and glibc gave the TLS to another
 *     thread) is closed by the lender, which writes nothing there. */
#include "internal.h"
#include "unit_util.h"

#include <pthread.h>

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
    uint64_t detours = stats().lend_detours;
    /* What a lender's step 2 stores (this thread plays the lender too: if
     * free waited for the heap, it would wait forever). */
    obmt_store_relaxed(&tls_self.heap, &heap_lending);
    obmt_free(node);
    void *q = obmt_malloc(100);
    CHECK(q && !obmt_owns(q)); /* the underlying allocator's */
    obmt_free(q);
    obmt_store_release(&tls_self.heap, h);
    CHECK_MSG(stats().lend_detours == detours + 2, "detours %llu, expected %llu",
              (unsigned long long)stats().lend_detours, (unsigned long long)detours + 2);
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
    if (fake_reuse)
        obmt_store_relaxed(&tls_self.heap, &heap_empty); /* as a new thread's TLS reads */
    pthread_barrier_wait(&bar); /* parked: outside obmt */
    pthread_barrier_wait(&bar);
    if (fake_reuse)
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

int main(void)
{
    CHECK(obmt_malloc(1) != NULL); /* init, and a heap for this thread */
    test_detours();
    test_policy();
    test_reused_tls();
    printf("unit_lend: ok\n");
    return 0;
}
