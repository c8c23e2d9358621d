/* Remote frees: blocks freed by another thread go on their pool's remote
 * list and are drained by the owner; a full pool that gets a remote free is
 * handed back through the owner's `returned` stack; an abandoned pool is
 * adopted by the thread that frees into it. */
#include "unit_util.h"

struct job { void **blocks; size_t n; };

/* Invalid frees by a thread that does not own the pool are caught when the
 * owner takes the remote list (found in review: they used to corrupt the
 * pool or hang the owner). */
/* Blocks waiting in h's remote batches. */
static uint32_t batched(const struct heap *h)
{
    uint32_t n = 0;
    for (unsigned k = 0; k < OBMT_RBATCH_SLOTS; k++)
        if (h->rbatch[k].pool)
            n += h->rbatch[k].n;
    return n;
}

static void *free_twice_remote(void *arg)
{
    obmt_free(arg);
    obmt_free(arg);
    return NULL;
}
static void remote_double_free(void *unused)
{
    void *keep = obmt_malloc(64), *b = obmt_malloc(64);
    run_in_thread(free_twice_remote, b);
    obmt_collect(); /* drains the remote list */
    obmt_free(keep);
}
/* b, c, b again from a thread without a heap (each handed over at once),
 * with a write after free over b's second word in between: that hides the
 * second free from the free key (test_double_free), so the remote list
 * becomes a cycle of the count's length, b -> c -> b. */
static void *free_b_c_b(void *arg)
{
    void **x = arg;
    obmt_free(x[0]);
    obmt_free(x[1]);
    ((block *)x[0])->key = 0; /* the program's write after free */
    obmt_free(x[0]);
    return NULL;
}
/* The owner has free blocks of its own, so its take splices the list onto
 * them, walking to the tail: it must report the cycle, not loop in it (the
 * alarm ends the child if it does). */
static void remote_cycle(void *unused)
{
    (void)unused;
    alarm(10);
    void *keep = obmt_malloc(64), *b = obmt_malloc(64), *c = obmt_malloc(64);
    CHECK(keep && b && c && pool_of(b) == pool_of(c) && pool_of(b)->freeblock != NULL);
    void *x[2] = { b, c };
    run_in_thread(free_b_c_b, x);
    obmt_collect();
}
static void *free_one(void *arg)
{
    obmt_free(arg);
    return NULL;
}
static void remote_uncarved_free(void *unused)
{
    char *b = obmt_malloc(64);
    run_in_thread(free_one, b + 100 * 64); /* a slot past the carved page */
    obmt_collect();
}

static void *free_all(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        obmt_free(j->blocks[i]);
    return NULL;
}

/* Another thread frees every block of the pool, then runs a reclaim pass
 * (obmt_collect), which purges the pool in place while we are away. */
static void *free_all_and_reclaim(void *arg)
{
    free_all(arg);
    obmt_collect();
    return NULL;
}
/* The owner then frees one of those blocks again, one past the header's
 * page: the pass zeroed that page, so neither the free key (test_double_free)
 * nor the remote list that would have shown it is there, and the owner's
 * take must find the count wrong and abort (pool_take_list). */
static void reclaimed_double_free(void *unused)
{
    (void)unused;
    size_t per = class_blocks(size_class(512));
    void *t[256];
    CHECK(per <= 256);
    CHECK(obmt_malloc(512)); /* the class's first pool may hold other blocks: start a fresh one */
    pool_header *p = NULL;
    size_t n = 0;
    for (;;) { /* fill one pool whole */
        void *b = obmt_malloc(512);
        if (!p && pool_of(b)->count == 1)
            p = pool_of(b);
        if (p && pool_of(b) == p)
            t[n++] = b;
        if (n == per)
            break;
    }
    struct job j = { t, per };
    run_in_thread(free_all_and_reclaim, &j);
    CHECK(obmt_load_relaxed(&p->remote) == REMOTE_RECLAIMED);
    size_t k = per - 1; /* any block: the pass purged every page of the pool, its key with it */
    CHECK((char *)t[k] - pool_mem(p) >= 4096);
    obmt_free(t[k]); /* again */
    obmt_collect();   /* takes `returned`: must abort */
}

static void *alloc_and_exit(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->blocks[i] = obmt_malloc(64);
    return NULL;
}

/* Fill a pool, free one block into it (ARMED), exit. */
static void *fill_arm_and_exit(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->blocks[i] = obmt_malloc(64);
    pool_header *p = pool_of(j->blocks[0]);
    CHECK(p->state == POOL_FULL);
    obmt_free(j->blocks[0]);
    j->blocks[0] = NULL;
    CHECK(p->state == POOL_ARMED && obmt_load_relaxed(&p->remote) == REMOTE_FULL);
    return NULL;
}

/* 5. fork while another thread has an ARMED pool: the child must not adopt
 * it (its thread may have been halfway through a malloc or free on it). */
static pthread_mutex_t armed_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t armed_cond = PTHREAD_COND_INITIALIZER;
static int armed_ready, armed_done;
static void *arm_and_wait(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->blocks[i] = obmt_malloc(64);
    obmt_free(j->blocks[0]); /* ARMED */
    j->blocks[0] = NULL;
    pthread_mutex_lock(&armed_lock);
    armed_ready = 1;
    pthread_cond_broadcast(&armed_cond);
    while (!armed_done)
        pthread_cond_wait(&armed_cond, &armed_lock);
    pthread_mutex_unlock(&armed_lock);
    return NULL;
}
static void child_frees_armed(void *arg)
{
    void **t = arg;
    pool_header *q = pool_of(t[1]);
    struct heap *dead = q->owner;
    uint64_t adopted = heap_self()->stats.adopted;
    if (q->state != POOL_USED || obmt_load_relaxed(&q->remote) != 0)
        os_fatal("child:", q, "the dead thread's ARMED pool still carries FULL");
    obmt_free(t[1]);
    obmt_collect();
    if (q->owner != dead || heap_self()->stats.adopted != adopted)
        os_fatal("child:", q, "adopted a dead thread's ARMED pool");
}

/* 6. fork while another thread is in malloc's pop on an ARMED pool that a
 * remote free has handed back (it sits on the thread's `returned` stack):
 * the child adopts the pool (heap_atfork_child), so the pool's free list
 * must be whole at every point of the pop. In secure mode the pop clears
 * the head block's link (it is never handed out holding an encoded link);
 * it did so before it moved freeblock past the block, so a child forked
 * in between followed the zeroed link and aborted ("free list
 * corrupted", mt_fork about once in 100 runs on a loaded machine). The
 * popping thread waits in pool_pop_test_hook while we fork. */
#define POP_SIZE 96
static pool_header *pop_target;
static int pop_phase; /* 1: armed, 2: remote free done (malloc now), 3: in the hook, 4: go on */
static void *pop_got;
static void pop_hook(pool_header *p, block *b)
{
    (void)b;
    if (p != obmt_load_relaxed(&pop_target))
        return;
    pool_pop_test_hook = NULL; /* once (and never in the child) */
    __atomic_store_n(&pop_phase, 3, __ATOMIC_RELEASE);
    while (__atomic_load_n(&pop_phase, __ATOMIC_ACQUIRE) != 4)
        sched_yield();
}
static void *arm_and_pop(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->blocks[i] = obmt_malloc(POP_SIZE);
    pool_header *p = pool_of(j->blocks[0]);
    for (size_t i = 0; i < j->n; i++)
        CHECK(pool_of(j->blocks[i]) == p);
    CHECK(p->state == POOL_FULL);
    obmt_free(j->blocks[0]); /* ARMED: its one local free block */
    CHECK(p->state == POOL_ARMED && heap_self()->usedpools[size_class(POP_SIZE)] == p);
    __atomic_store_n(&pop_phase, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&pop_phase, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    pop_got = obmt_malloc(POP_SIZE); /* the fast path's pop of blocks[0]: waits in the hook */
    return NULL;
}
static void child_pops_adopted(void *arg)
{
    void **t = arg;
    pool_header *p = pool_of(t[1]);
    /* The handler took the pool off the dead thread's `returned` stack. */
    CHECK(p->owner == heap_self());
    void *got[64];
    for (size_t i = 0; i < 64; i++) {
        got[i] = obmt_malloc(POP_SIZE); /* every block of p that is free, then others */
        CHECK(got[i] != NULL);
        memset(got[i], 0x5c, POP_SIZE);
    }
    CHECK(got[0] == t[1]); /* the block the remote free handed back */
    for (size_t i = 0; i < 64; i++)
        obmt_free(got[i]);
}

/* Hints (remote.c, "Hints"): a batch's block names, in the top bits of its
 * link, the block linked OBMT_REMOTE_HINT_DISTANCE before it; in secure
 * mode no block gets one. */
#define HINT_SIZE 80
#define HINT_N 40
static void *free_all_then_exit(void *arg)
{
    obmt_free(obmt_malloc(8)); /* a heap: a thread without one batches nothing */
    CHECK(heap_self() != &heap_empty);
    free_all(arg); /* the thread's exit hands its batches over */
    return NULL;
}
/* The first block of a pool of the class of `size` that nothing else uses:
 * a fresh pool's. */
static void *fresh_pool_block(size_t size)
{
    for (;;) {
        void *b = obmt_malloc(size);
        CHECK(b != NULL);
        if (pool_of(b)->count == 1)
            return b;
    }
}
/* What the owner's pops prefetch for hints (pool_hint_test_hook). */
static const block *hint_popped[2 * HINT_N];
static uintptr_t hint_fetched[2 * HINT_N];
static size_t hint_n;
static void record_hint(const block *b, uintptr_t hint)
{
    if (hint_n < 2 * HINT_N) {
        hint_popped[hint_n] = b;
        hint_fetched[hint_n++] = hint;
    }
}
static uintptr_t fetched_for(const void *b)
{
    for (size_t i = 0; i < hint_n; i++)
        if (hint_popped[i] == b)
            return hint_fetched[i];
    return 0;
}

/* Two fresh pools, of the class of `size` and of a larger one, in
 * different batch slots, and HINT_N blocks of each, freed by another
 * thread alternately (a[0], b[0], a[1], ...): one batch a pool. Each chain
 * holds its blocks in the reverse order; block i's link names block
 * i - DISTANCE of its own pool (the first DISTANCE name whatever the
 * slot's ring held before: not checked); the owner's pop of block i
 * prefetches it; nothing past a block's first two words is written; in
 * secure mode no link carries a hint. */
static void remote_hints_chain(size_t size)
{
    void *t[2][HINT_N];
    size_t sz[2] = { size, size };
    pool_header *p[2];
    t[0][0] = fresh_pool_block(size);
    p[0] = pool_of(t[0][0]);
    do { /* (the next class up whose fresh pool is in another slot) */
        sz[1] += 16;
        t[1][0] = fresh_pool_block(sz[1]);
        p[1] = pool_of(t[1][0]);
    } while ((pool_number(p[1]) - pool_number(p[0])) % OBMT_RBATCH_SLOTS == 0);
    for (int k = 0; k < 2; k++)
        for (size_t i = 1; i < HINT_N; i++)
            CHECK(pool_of(t[k][i] = obmt_malloc(sz[k])) == p[k]);
    void *order[2 * HINT_N];
    for (size_t i = 0; i < HINT_N; i++)
        for (int k = 0; k < 2; k++) {
            memset(t[k][i], 0xab, sz[k]);
            order[2 * i + k] = t[k][i];
        }
    struct obmt_stats st = unit_stats();
    struct job j = { order, 2 * HINT_N };
    run_in_thread(free_all_then_exit, &j);
    CHECK(unit_stats().remote_batches == st.remote_batches + 2); /* one a pool */
    for (int k = 0; k < 2; k++) {
        uintptr_t w = obmt_load_relaxed(&p[k]->remote);
        CHECK((w >> REMOTE_COUNT_SHIFT) == HINT_N);
        block *x = (block *)(w & REMOTE_PTR);
        for (size_t n = 0; n < HINT_N; n++, x = block_next(p[k], x)) {
            size_t i = HINT_N - 1 - n; /* the chain's head is the last block freed */
            CHECK(x == t[k][i]);
            for (size_t c = 2 * sizeof(void *); c < sz[k]; c++)
                CHECK_MSG(((unsigned char *)x)[c] == 0xab, "size %zu: byte %zu of a free block written", sz[k], c);
            uintptr_t lw = block_link_word(x);
            if (!BLOCK_HINTS)
                CHECK(lw >> LINK_HINT_SHIFT == 0); /* a plain link */
            else if (i >= OBMT_REMOTE_HINT_DISTANCE)
                CHECK_MSG(link_hint(x, lw) == ((uintptr_t)t[k][i - OBMT_REMOTE_HINT_DISTANCE] | 1),
                          "size %zu, pool %d: block %zu's hint is %#lx, not block %zu", size, k, i,
                          (unsigned long)link_hint(x, lw), i - (size_t)OBMT_REMOTE_HINT_DISTANCE);
        }
        CHECK(x == NULL);
    }
    /* The owner's pops, in the chain's order, fetch what the links name. */
    struct heap *h = heap_self();
    hint_n = 0;
    pool_hint_test_hook = record_hint;
    for (int k = 0; k < 2; k++) {
        CHECK(pool_drain_remote(p[k]) == HINT_N);
        for (size_t n = 0; n < HINT_N; n++)
            CHECK(pool_pop(h, p[k]) == t[k][HINT_N - 1 - n]);
    }
    pool_hint_test_hook = NULL;
    for (int k = 0; k < 2; k++)
        for (size_t i = OBMT_REMOTE_HINT_DISTANCE; BLOCK_HINTS && i < HINT_N; i++)
            CHECK_MSG(fetched_for(t[k][i]) == ((uintptr_t)t[k][i - OBMT_REMOTE_HINT_DISTANCE] | 1),
                      "size %zu: the pop of block %zu fetched %#lx", size, i, (unsigned long)fetched_for(t[k][i]));
    CHECK(BLOCK_HINTS || hint_n == 0);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < HINT_N; i++)
            obmt_free(t[k][i]);
}
static void remote_hints(void)
{
    remote_hints_chain(16);
    remote_hints_chain(HINT_SIZE);

    /* 16 bytes: a whole fresh pool, every other block (by address) freed by
     * another thread; the blocks between keep every byte. */
    const size_t n16 = blocks_per_pool(size_class(16));
    void **u = calloc(n16, sizeof *u), **odd = calloc(n16, sizeof *odd);
    CHECK(u && odd);
    u[0] = fresh_pool_block(16);
    pool_header *q = pool_of(u[0]);
    for (size_t i = 1; i < n16; i++) {
        u[i] = obmt_malloc(16);
        CHECK(pool_of(u[i]) == q);
    }
    size_t nf = 0, no = 0;
    for (size_t i = 0; i < n16; i++) {
        memset(u[i], 0x5c, 16);
        if ((((char *)u[i] - pool_mem(q)) / 16) % 2 == 0)
            u[nf++] = u[i];
        else
            odd[no++] = u[i];
    }
    CHECK(nf == no && nf + no == n16);
    struct job j = { u, nf };
    run_in_thread(free_all_then_exit, &j);
    for (size_t i = 0; i < no; i++)
        for (size_t k = 0; k < 16; k++)
            CHECK_MSG(((unsigned char *)odd[i])[k] == 0x5c, "byte %zu of a live 16-byte block changed by a free of its neighbour", k);
    for (size_t i = 0; i < no; i++)
        obmt_free(odd[i]);
    obmt_collect();
    free(u);
    free(odd);
}

int main(void)
{
    const unsigned c = size_class(64);
    const size_t per = blocks_per_pool(c);
    void **b = calloc(2 * per, sizeof *b);
    struct heap *me;

    /* 1. Remote frees into a used pool: pushed, then drained by the owner. */
    for (size_t i = 0; i < per / 2; i++)
        b[i] = obmt_malloc(64);
    me = heap_self();
    pool_header *p = pool_of(b[0]);
    struct job j = { b, 10 };
    run_in_thread(free_all, &j);
    CHECK(p->count == per / 2); /* not drained yet */
    CHECK((obmt_load_relaxed(&p->remote) & ~REMOTE_FLAGS) != 0);
    CHECK(pool_drain_remote(p) == 10);
    CHECK(p->count == per / 2 - 10 && obmt_load_relaxed(&p->remote) == 0);
    for (size_t i = 0; i < 10; i++)
        b[i] = obmt_malloc(64); /* reuses the drained blocks */
    for (size_t i = 0; i < 10; i++)
        CHECK(pool_of(b[i]) == p);

    /* 2. Fill the pool: it goes FULL. A remote free hands it back. */
    for (size_t i = per / 2; i < per; i++)
        b[i] = obmt_malloc(64);
    CHECK(p->state == POOL_FULL && p->count == per);
    j = (struct job){ b + 5, 1 };
    run_in_thread(free_all, &j);
    CHECK(obmt_load_relaxed(&me->returned) == p); /* handed back */
    CHECK(obmt_load_relaxed(&p->remote) != REMOTE_FULL);
    /* The owner's next slow path picks it up: the block is reused. */
    CHECK(me->usedpools[c] == NULL); /* so the next malloc takes the slow path */
    void *x = obmt_malloc(64);
    CHECK(obmt_load_relaxed(&me->returned) == NULL);
    CHECK(x == b[5]);
    /* It handed out its one free block, so it is full again. */
    CHECK(p->state == POOL_FULL && obmt_load_relaxed(&p->remote) == REMOTE_FULL);
    b[5] = x;

    /* 2b. ARMED: the owner frees into the FULL pool (FULL stays set); then
     * another thread frees into it, which clears FULL and hands the pool
     * back. When its local list runs dry the owner sees FULL gone and files
     * it PENDING (not FULL: it is still on `returned`); the next slow path
     * places it and the remote block is reused. */
    obmt_free(b[6]);
    CHECK(p->state == POOL_ARMED && me->usedpools[c] == p);
    j = (struct job){ b + 7, 1 };
    run_in_thread(free_all, &j);
    CHECK(obmt_load_relaxed(&me->returned) == p && obmt_load_relaxed(&p->remote) != REMOTE_FULL);
    x = obmt_malloc(64);
    CHECK(x == b[6] && p->state == POOL_PENDING && me->fullpools == p && me->usedpools[c] == NULL);
    void *y = obmt_malloc(64);
    CHECK(y == b[7] && obmt_load_relaxed(&me->returned) == NULL);
    CHECK(p->state == POOL_FULL && obmt_load_relaxed(&p->remote) == REMOTE_FULL && p->count == per);
    /* The same, but the pool arrives through `returned` while still ARMED:
     * it leaves usedpools for a moment and is placed as a used pool. */
    obmt_free(b[6]);
    obmt_free(b[8]);
    j = (struct job){ b + 7, 1 };
    run_in_thread(free_all, &j);
    obmt_collect();
    CHECK(p->state == POOL_USED && me->usedpools[c] == p && obmt_load_relaxed(&p->remote) == 0);
    CHECK(p->count == per - 3 && obmt_load_relaxed(&me->returned) == NULL);
    CHECK(obmt_malloc(64) == b[7] && obmt_malloc(64) == b[8] && obmt_malloc(64) == b[6]);
    CHECK(p->state == POOL_FULL && p->count == per);

    /* 3. Abandon and adopt: a thread allocates a pool's worth and exits; we
     * free its blocks: the first free adopts the pool into our heap. */
    void **t = calloc(per, sizeof *t);
    j = (struct job){ t, per / 2 };
    run_in_thread(alloc_and_exit, &j);
    pool_header *q = pool_of(t[0]);
    CHECK(q->owner == OWNER_ABANDONED && (obmt_load_relaxed(&q->remote) & REMOTE_ABANDONED));
    uint64_t adopted = me->stats.adopted;
    obmt_free(t[0]);
    /* The free waits in this thread's batch for q: nothing handed over yet. */
    CHECK(q->owner == OWNER_ABANDONED && batched(me) == 1 && me->stats.adopted == adopted);
    /* Statistics (version 3 on): the waiting block, and the hand-overs; a
     * version 3, 2 or 1 caller gets its own prefix of the same figures. */
    struct obmt_stats st3 = { .version = OBMT_STATS_VERSION, .size = sizeof st3 };
    CHECK(OBMT_STATS_VERSION >= 3 && obmt_stats_get(&st3) == 0 && st3.remote_blocks_waiting == 1);
    struct obmt_stats v3;
    memset(&v3, 0xa5, sizeof v3);
    v3.version = 3;
    v3.size = OBMT_STATS_V3_SIZE;
    CHECK(obmt_stats_get(&v3) == 0 && v3.remote_blocks_waiting == 1 && v3.size == OBMT_STATS_V3_SIZE);
    CHECK(v3.pools_reclaimed == 0xa5a5a5a5a5a5a5a5ull); /* past its size: untouched */
    uint64_t batches = st3.remote_batches;
    CHECK(batches >= 1 && batches <= st3.remote_frees);
    struct obmt_stats st2;
    memset(&st2, 0xa5, sizeof st2);
    st2.version = 2;
    st2.size = OBMT_STATS_V2_SIZE;
    CHECK(obmt_stats_get(&st2) == 0 && st2.remote_frees == st3.remote_frees);
    CHECK(st2.remote_batches == 0xa5a5a5a5a5a5a5a5ull); /* past its size: untouched */
    st2.version = 2;
    st2.size = sizeof st2;
    errno = 0;
    CHECK(obmt_stats_get(&st2) == -1 && errno == EINVAL);
    /* The hand-over (here forced; a tick, a collect or a full batch does it
     * too) finds ABANDONED and adopts. */
    uint64_t remote_frees = st3.remote_frees; /* the waiting block counted already */
    heap_flush_remote(me);
    CHECK(batched(me) == 0);
    CHECK(obmt_stats_get(&st3) == 0 && st3.remote_batches == batches + 1 && st3.remote_blocks_waiting == 0);
    CHECK(st3.remote_frees == remote_frees); /* counted once: waiting, then handed over */
    CHECK(q->owner == me && me->stats.adopted == adopted + 1);
    CHECK(q->state == POOL_USED && q->count == per / 2 - 1);
    for (size_t i = 1; i < per / 2; i++)
        obmt_free(t[i]);
    /* Empty, and the only pool of its class in usedpools (p is full): it
     * stays there for the next malloc; obmt_collect gives it back. */
    CHECK(q->count == 0 && q->state == POOL_USED);
    CHECK(me->usedpools[c] == q && q->nextpool == NULL && q->prevpool == NULL);
    obmt_collect();
    CHECK(q->state == POOL_FREE && me->usedpools[c] == NULL);

    /* 4. A thread exits with an ARMED pool (FULL still set): it clears
     * FULL and leaves the pool ABANDONED like any used pool; our frees
     * adopt it, and it goes back to its arena once empty. */
    j = (struct job){ t, per };
    run_in_thread(fill_arm_and_exit, &j);
    q = pool_of(t[1]);
    CHECK(q->owner == OWNER_ABANDONED && obmt_load_relaxed(&q->remote) == REMOTE_ABANDONED);
    CHECK(q->count == per - 1);
    for (size_t i = 1; i < per; i++)
        obmt_free(t[i]);
    obmt_collect();
    CHECK(q->owner == NULL && q->state == POOL_FREE);

    /* 5. (see arm_and_wait) */
    j = (struct job){ t, per };
    pthread_t armer;
    CHECK(pthread_create(&armer, NULL, arm_and_wait, &j) == 0);
    pthread_mutex_lock(&armed_lock);
    while (!armed_ready)
        pthread_cond_wait(&armed_cond, &armed_lock);
    pthread_mutex_unlock(&armed_lock);
    CHECK(pool_of(t[1])->state == POOL_ARMED);
    char fmsg[512];
    int fst = run_in_child(child_frees_armed, t, fmsg, sizeof fmsg);
    CHECK_MSG(WIFEXITED(fst) && WEXITSTATUS(fst) == 0, "child status %d: %s", fst, fmsg);
    CHECK(pool_of(t[1])->state == POOL_ARMED); /* the parent's pool is untouched */
    pthread_mutex_lock(&armed_lock);
    armed_done = 1;
    pthread_cond_broadcast(&armed_cond);
    pthread_mutex_unlock(&armed_lock);
    CHECK(pthread_join(armer, NULL) == 0);
    for (size_t i = 1; i < per; i++)
        obmt_free(t[i]);

    for (size_t i = 0; i < per; i++)
        obmt_free(b[i]);
    free(t);
    free(b);

    char msg[512];
    int st = run_in_child(remote_double_free, NULL, msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d: %s", st, msg);
    CHECK_MSG(strstr(msg, "double free"), "message: %s", msg);
    st = run_in_child(remote_cycle, NULL, msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d (SIGALRM is 14: the walk looped): %s", st, msg);
    CHECK_MSG(strstr(msg, "longer than its count"), "message: %s", msg);
    st = run_in_child(reclaimed_double_free, NULL, msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d: %s", st, msg);
    CHECK_MSG(strstr(msg, "double free into the pool"), "message: %s", msg);
    st = run_in_child(remote_uncarved_free, NULL, msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d: %s", st, msg);
    CHECK_MSG(strstr(msg, "invalid pointer"), "message: %s", msg);

    /* 6. (see pop_hook) */
    {
        size_t per2 = blocks_per_pool(size_class(POP_SIZE));
        void **u = calloc(per2, sizeof *u);
        j = (struct job){ u, per2 };
        pthread_t popper;
        CHECK(pthread_create(&popper, NULL, arm_and_pop, &j) == 0);
        while (__atomic_load_n(&pop_phase, __ATOMIC_ACQUIRE) != 1)
            sched_yield();
        pool_header *pp = pool_of(u[1]);
        struct heap *owner = pp->owner;
        obmt_free(u[1]); /* clears FULL: the pool goes on its owner's `returned` */
        heap_flush_remote(me);
        CHECK(obmt_load_relaxed(&owner->returned) == pp && pp->state == POOL_ARMED);
        obmt_store_relaxed(&pop_target, pp);
        pool_pop_test_hook = pop_hook;
        __atomic_store_n(&pop_phase, 2, __ATOMIC_RELEASE);
        while (__atomic_load_n(&pop_phase, __ATOMIC_ACQUIRE) != 3)
            sched_yield();
        char pmsg[512];
        int pst = run_in_child(child_pops_adopted, u, pmsg, sizeof pmsg);
        CHECK_MSG(WIFEXITED(pst) && WEXITSTATUS(pst) == 0, "fork during a pop: child status %d: %s", pst, pmsg);
        __atomic_store_n(&pop_phase, 4, __ATOMIC_RELEASE);
        CHECK(pthread_join(popper, NULL) == 0);
        CHECK(pop_got == u[0]); /* its pop went on */
        for (size_t i = 0; i < per2; i++)
            if (i != 1)
                obmt_free(u[i]);
        free(u);
    }
    remote_hints();
    CHECK_DONE("remote");
}
