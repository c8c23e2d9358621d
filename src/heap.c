/*
 * heap.c: thread caches (heaps). Each thread that allocates gets one heap:
 * its usedpools[] (obmalloc's fast path), its full pools, a few empty pools
 * kept as hysteresis, and `returned`, the stack on which other threads hand
 * back its full pools when they free into them.
 *
 * The heap table: heaps are created as threads come, with no cap but the
 * kernel's. They live in chunks of OBMT_HEAP_CHUNK heaps, mapped on demand
 * (os_map, never malloc) and found through a static directory of chunk
 * pointers (g_heap_dir) that indexes OBMT_HEAP_TABLE_SIZE heaps, Linux's
 * PID_MAX_LIMIT: more threads than a process can have at once. Heaps are
 * never unmapped: they are recycled through a free-heap stack when their
 * thread exits, so a thread-churning program uses as many heaps as it ever
 * had threads alive at once, and a heap stays readable by every thread
 * that may still look at it (a remote freer that loaded pool->owner, the
 * statistics walk, the reclaim pass, a lender) without any read-side
 * protocol: type-stable memory instead of deferred reclamation.
 *
 * Taking a new index (heap_new): a thread reads g_heaps_used = i, makes
 * sure chunk i / OBMT_HEAP_CHUNK is installed (the first thread to CAS its
 * directory slot from NULL installs its mapping, acq_rel; a loser unmaps
 * its own and uses the winner's), then CASes g_heaps_used i -> i + 1
 * (release; on failure it retries with the new value). The index is taken
 * only once its chunk is there, so a walker that reads g_heaps_used with
 * acquire finds every heap below it mapped (the CASes on g_heaps_used
 * form one release sequence), and a failed mapping leaves no hole: the
 * thread gets no heap and is served without one (api.c, malloc_heapless),
 * and the next thread tries the mapping again.
 *
 * Free-heap stack (g_free_heaps): one 64-bit word {generation:32, index+1:32}.
 *   push: the exiting thread, CAS release (after writing h->free_next).
 *   pop:  a new thread, CAS acq_rel from a word it loaded with acquire; it
 *         reads heap_at(index)->free_next in between. ABA: if that heap was
 *         popped and pushed back meanwhile, the generation differs and the
 *         CAS fails (32 bits: 4e9 pushes while one thread sits in its pop).
 *
 * `returned` (per heap): Treiber stack of pools, pushed by the one freer
 * that cleared a pool's FULL flag (CAS release), taken whole by the owner
 * (exchange acquire), or by a lender holding the heap (exchange acquire;
 * it pushes back what it leaves, CAS release: heap_collect_lent). The
 * owner's pop compares no head it read before; the
 * reclaim pass's take (reclaim.c) does, but installs NULL and reads no link
 * before its CAS, and its push back is a plain Treiber push: no ABA. At
 * thread exit the owner exchanges in RETURNED_CLOSED; a freer that finds the
 * stack closed adopts the pool itself instead of pushing.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

OBMT_TLS struct obmt_self tls_self = { .heap = &heap_empty };
/* never owns a pool: its usedpools are all NULL; caches no medium block:
 * its span cache budget is 0 (span.c) */
struct heap heap_empty;
struct heap *g_heap_dir[OBMT_HEAP_CHUNKS];
uint32_t g_heaps_used;
uint64_t g_heap_table_bytes;
uint64_t g_remote_frees_heapless;
uint64_t g_pools_given_unowned;
uint64_t g_threads_seen;

static uint64_t g_free_heaps;
static pthread_key_t g_heap_key;
static OBMT_TLS int tls_in_heap_get; /* recursion guard: pthread_setspecific may allocate */
/* Set once this thread's heap was torn down (its key destructor ran): frees
 * that glibc or other destructors do afterwards must not take a new heap,
 * which nothing would ever release. */
static OBMT_TLS int tls_heap_exited;

/* ---- owner-only list helpers --------------------------------------------- */

/* (nextpool is stored relaxed: a thread that still holds a stale pointer to
 * a span that was here reads the head of this pool with relaxed loads,
 * span.c's chain_span_small; on x86-64 and arm64 a plain store.) */

static inline void list_push_front(pool_header **head, pool_header *p)
{
    p->prevpool = NULL;
    obmt_store_relaxed(&p->nextpool, *head);
    if (*head)
        (*head)->prevpool = p;
    *head = p;
}

static inline void list_unlink(pool_header **head, pool_header *p)
{
    if (p->prevpool)
        obmt_store_relaxed(&p->prevpool->nextpool, p->nextpool);
    else
        *head = p->nextpool;
    if (p->nextpool)
        p->nextpool->prevpool = p->prevpool;
    obmt_store_relaxed(&p->nextpool, NULL);
    p->prevpool = NULL;
}

/* usedpools[c] is also known by its tail, usedtail[c], so that a pool can
 * join at the back. Every pool in usedpools[c] has szidx c. */
static inline void used_push_front(struct heap *h, pool_header *p)
{
    list_push_front(&h->usedpools[p->szidx], p);
    if (!p->nextpool)
        h->usedtail[p->szidx] = p;
}

/* At the back of its class's list, behind every pool that serves malloc
 * before it (mimalloc's "unfull" pages go to the back of their queue too):
 * a pool that gets a block back while full gathers frees for as long as
 * the pools ahead of it serve, instead of serving the next malloc with one
 * block and going full again. */
static inline void used_push_back(struct heap *h, pool_header *p)
{
    unsigned c = p->szidx;
    pool_header *last = h->usedtail[c];
    obmt_store_relaxed(&p->nextpool, NULL);
    p->prevpool = last;
    if (last)
        obmt_store_relaxed(&last->nextpool, p);
    else
        h->usedpools[c] = p;
    h->usedtail[c] = p;
}

static inline void used_unlink(struct heap *h, pool_header *p)
{
    if (!p->nextpool)
        h->usedtail[p->szidx] = p->prevpool;
    list_unlink(&h->usedpools[p->szidx], p);
}

/* ---- giving pools back ---------------------------------------------------- */

/* An empty pool leaves h (NULL: a thread without a heap releasing an
 * unowned pool): owned by nobody from here on, on its way to its arena.
 * A late free of one of its blocks is a double free, and aborts. */
static void disown(struct heap *h, pool_header *p)
{
    if (unlikely(obmt_load_relaxed(&p->remote) != 0))
        os_fatal("free(): the pool at", pool_mem(p), "has blocks on its remote list after its last block was freed (double free?)");
    p->state = POOL_FREE;
    obmt_store_release(&p->owner, NULL);
    if (h)
        obmt_count_add(&h->stats.pools_given, 1);
    else
        obmt_fetch_add_relaxed(&g_pools_given_unowned, 1);
}

static void give_back(struct heap *h, pool_header *p)
{
    disown(h, p);
    arena_give_pool(p);
}

/* An empty pool (in no list) into h's cache of empty pools. */
static void cache_keep(struct heap *h, pool_header *p)
{
    p->state = POOL_EMPTY;
    obmt_store_relaxed(&p->nextpool, h->emptypools);
    h->emptypools = p;
    h->nempty++;
}

/* The empty pools h may keep now: the option's number, or more while the
 * thread cycles pools (keep_empty). */
static uint32_t keep_cap(const struct heap *h)
{
    uint32_t base = (uint32_t)option_get(OPT_KEEP_EMPTY_POOLS);
    return h->keep_empty > base ? h->keep_empty : base;
}

/* An empty pool (in no list): keep it, or give it back to its arena. */
static void cache_or_give(struct heap *h, pool_header *p)
{
    if (h->nempty < keep_cap(h)) {
        cache_keep(h, p);
    } else {
        give_back(h, p);
        h->gave_pool = 1;
    }
}

/* malloc took a pool from an arena. If h gave one back since its last
 * collect, it is cycling pools through the arenas (a burst of blocks
 * allocated and freed again, larger than what it keeps): it keeps twice
 * as many from now on, up to OBMT_KEEP_EMPTY_POOLS_MAX. Each trip costs
 * an arena's CAS and bucket moves both ways and a pool_init. Not where
 * idle heaps cannot be lent (only the thread's own collects would give
 * the pools back, and an idle thread runs none: it would hoard them, as
 * the block stacks and the span cache are cut there too), and not with
 * the option at 0 (keep none) or above the maximum. */
static void pool_from_arena(struct heap *h)
{
    h->took_pool = 1;
    if (h->gave_pool) {
        h->gave_pool = 0;
        uint32_t base = (uint32_t)option_get(OPT_KEEP_EMPTY_POOLS), cap = keep_cap(h);
        uint32_t max = OBMT_KEEP_EMPTY_POOLS_MAX;
        if (base == 0 || cap >= max || !lend_available() || !option_get(OPT_LEND_IDLE) ||
            obmt_load_relaxed(&h->lend_state) != LEND_OPEN)
            return; /* (nor in a heap that lenders may not take: its setspecific failed, or it is closed) */
        h->keep_empty = (uint16_t)(2 * cap < max ? 2 * cap : max);
    }
}

/* Give the empty pools h keeps beyond `keep` back to their arenas. */
static void give_back_cached_beyond(struct heap *h, uint32_t keep)
{
    while (h->nempty > keep) {
        pool_header *p = h->emptypools;
        h->emptypools = p->nextpool;
        h->nempty--;
        give_back(h, p);
    }
}

/* At a collect: a thread that took no pool from an arena since the last
 * one halves what it keeps beyond the option's number, giving the rest
 * back (the purge can then return their pages); with lending switched off
 * since (obmt_option_set), all of it at once. */
static void keep_decay(struct heap *h)
{
    if (!h->took_pool)
        h->keep_empty /= 2;
    if (!lend_available() || !option_get(OPT_LEND_IDLE))
        h->keep_empty = 0;
    h->took_pool = h->gave_pool = 0;
    give_back_cached_beyond(h, keep_cap(h));
}

/* File a pool that is in none of h's lists: owner == h, remote flags clear. */
static void pool_place(struct heap *h, pool_header *p)
{
    if (p->count == 0) {
        cache_or_give(h, p);
        return;
    }
    while (!p->freeblock) {
        if (p->nextoffset <= p->maxnextoffset) {
            pool_carve(p);
            break;
        }
        uintptr_t expected = 0;
        if (obmt_cas_acq_rel(&p->remote, &expected, REMOTE_FULL)) {
            p->state = POOL_FULL;
            list_push_front(&h->fullpools, p);
            return;
        }
        pool_drain_remote(p); /* blocks arrived: use them */
        if (p->count == 0) {
            cache_or_give(h, p);
            return;
        }
    }
    p->state = POOL_USED;
    used_push_front(h, p);
}

/* ---- the returned stack ----------------------------------------------------- */

/* A pool handed back to h (through `returned`): take it into h's lists. */
static void returned_place(struct heap *h, pool_header *p)
{
    if (p->state == POOL_FULL || p->state == POOL_PENDING)
        list_unlink(&h->fullpools, p); /* still on our full list */
    else if (p->state == POOL_ARMED)
        used_unlink(h, p); /* a freer cleared FULL before it ran dry */
    /* else POOL_ABANDONED: from the exit of this heap's previous thread */
    if (obmt_load_relaxed(&p->owner) != h)
        obmt_store_release(&p->owner, h);
    pool_drain_remote(p);
    pool_place(h, p);
}

static void take_returned(struct heap *h)
{
    pool_header *list = obmt_exchange_acquire(&h->returned, NULL);
    while (list) {
        pool_header *p = list;
        list = p->returned_next;
        returned_place(h, p);
    }
}

/* ---- getting a heap ------------------------------------------------------------ */

static struct heap *free_heap_pop(void)
{
    uint64_t s = obmt_load_acquire(&g_free_heaps);
    for (;;) {
        uint32_t idx1 = (uint32_t)s;
        if (!idx1)
            return NULL;
        struct heap *h = heap_at(idx1 - 1); /* mapped: the heap was in use before its push */
        if (unlikely(!h))
            return NULL; /* cannot be (and tells the compiler so) */
        uint64_t ns = (((s >> 32) + 1) << 32) | obmt_load_relaxed(&h->free_next);
        if (obmt_cas_acq_rel(&g_free_heaps, &s, ns))
            return h;
    }
}

static void free_heap_push(struct heap *h)
{
    uint64_t s = obmt_load_relaxed(&g_free_heaps);
    uint64_t ns;
    do {
        obmt_store_relaxed(&h->free_next, (uint32_t)s);
        ns = (((s >> 32) + 1) << 32) | (h->index + 1);
    } while (!obmt_cas_release(&g_free_heaps, &s, ns));
}

/* Chunk k of the heap table, mapped and installed now if it was not. NULL
 * if the mapping failed. */
static struct heap *heap_chunk(uint32_t k)
{
    const size_t bytes = (size_t)OBMT_HEAP_CHUNK * sizeof(struct heap);
    struct heap *chunk = obmt_load_acquire(&g_heap_dir[k]);
    if (chunk)
        return chunk;
    struct heap *mine = os_map(bytes);
    if (!mine)
        return NULL;
    if (obmt_cas_acq_rel(&g_heap_dir[k], &chunk, mine)) {
        obmt_fetch_add_relaxed(&g_heap_table_bytes, (uint64_t)bytes);
        return mine;
    }
    os_unmap(mine, bytes); /* another thread installed one first: use it */
    return chunk;
}

/* A heap that no thread has used yet: the next index of the table, taken
 * once its chunk is mapped. NULL if the chunk cannot be mapped (or, which
 * the kernel's thread limit rules out, the table is full). */
static struct heap *heap_new(void)
{
    uint32_t i = obmt_load_relaxed(&g_heaps_used);
    for (;;) {
        if (i >= OBMT_HEAP_TABLE_SIZE)
            return NULL;
        struct heap *chunk = heap_chunk(i >> OBMT_HEAP_CHUNK_SHIFT);
        if (!chunk)
            return NULL;
        if (obmt_cas_release(&g_heaps_used, &i, i + 1)) {
            struct heap *h = chunk + (i & (OBMT_HEAP_CHUNK - 1));
            h->index = i;
            return h;
        }
    }
}

static void heap_key_destructor(void *arg)
{
    lend_enter();
    struct heap *h = arg;
    if (h && h == heap_self_wait())
        heap_thread_exit(h);
    lend_leave();
}

struct heap *heap_get_slow(void)
{
    struct heap *h = heap_self();
    if (h == &heap_lending)
        return NULL; /* lent for a moment: do without it (lend.c), never wait */
    if (h != &heap_empty)
        return h;
    if (tls_in_heap_get || tls_heap_exited || !obmt_ensure_init())
        return NULL;
    tls_in_heap_get = 1;
    h = free_heap_pop();
    if (h) {
        obmt_store_release(&h->returned, NULL); /* reopen: was RETURNED_CLOSED */
    } else {
        h = heap_new();
        if (!h) {
            tls_in_heap_get = 0;
            return NULL;
        }
    }
    obmt_store_relaxed(&h->last_tick_ms, os_now_ms());
    obmt_store_relaxed(&h->in_use, 1);
    h->bstack_ticks = OBMT_BSTACK_TICK_POPS;
    bstack_reset(h);
    h->keep_empty = 0;
    h->gave_pool = h->took_pool = 0;
    span_cache_init(h);
    obmt_fetch_add_relaxed(&g_threads_seen, 1);
    /* The key first: pthread_setspecific may allocate, and that malloc, with
     * tls_self.heap still &heap_empty, comes back here and the guard sends it
     * on without a heap (api.c, malloc_heapless: a span). Its lend_leave
     * cleared this thread's busy flag: set it again before the heap is
     * published (lend.c, "Nesting"). The heap is opened
     * to lenders only if the key is set, so that its destructor closes it
     * at exit (lend.c, "Threads that never close"). */
    int keyed = pthread_setspecific(g_heap_key, h) == 0;
    lend_enter();
    obmt_store_relaxed(&tls_self.heap, h); /* relaxed: no lender knows h before lend_open */
    if (keyed)
        lend_open(h);
    tls_in_heap_get = 0;
    return h;
}

/* ---- malloc's slow half ------------------------------------------------------------ */

/* An empty pool from h's cache, preferring one that last held class c (its
 * free list is ready, unless the reclaim pass purged it). */
static pool_header *take_cached_empty(struct heap *h, unsigned c)
{
    pool_header **link = &h->emptypools, **best = NULL;
    for (pool_header *p; (p = *link) != NULL; link = &p->nextpool) {
        if (p->szidx == c) {
            best = link;
            break;
        }
        if (!best)
            best = link;
    }
    if (!best)
        return NULL;
    pool_header *p = *best;
    *best = p->nextpool;
    h->nempty--;
    if (unlikely(obmt_load_acquire(&p->remote) != 0))
        os_fatal("free(): the pool at", pool_mem(p), "an empty pool, received a remote free (double free)");
    return p;
}

void *heap_malloc_slow(struct heap *h, unsigned c)
{
    if (unlikely(h == &heap_lending)) {
        /* A lender holds the heap (lend.c): the caller does without it
         * (api.c, malloc_heapless), rather than wait. */
        obmt_fetch_add_relaxed(&g_lend_detours, 1);
        return NULL;
    }
    if (unlikely(h == &heap_empty)) {
        h = heap_get_slow();
        if (!h)
            return NULL;
    }
    if (obmt_load_relaxed(&h->returned))
        take_returned(h);
    pool_header *p = h->usedpools[c];
    if (p)
        return pool_pop(h, p);
    /* A partly used pool that no heap owns before an empty one (shared.c). */
    if (shared_take(h, c))
        return pool_pop(h, h->usedpools[c]);
    p = take_cached_empty(h, c);
    if (!p) {
        p = arena_take_pool();
        if (!p)
            return NULL;
        obmt_count_add(&h->stats.pools_taken, 1);
        pool_from_arena(h);
        /* Active: a lender leaves the heap alone for a purge delay (a
         * thread that refills its pools between ticks is not idle). */
        obmt_store_relaxed(&h->last_tick_ms, os_now_ms());
    }
    pool_init(p, c, h);
    used_push_front(h, p);
    return pool_pop(h, p);
}

static void *pool_refill_list(struct heap *h, pool_header *p, void *b)
{
    if (p->nextoffset <= p->maxnextoffset) {
        pool_carve(p);
        return b;
    }
    if (p->state == POOL_ARMED) {
        /* FULL was never cleared since the owner freed into the pool: if
         * `remote` still reads FULL, no other thread has freed into it and
         * it is FULL again as it stands. Otherwise a hand-over cleared FULL
         * and is bringing the pool back through `returned`: it waits there
         * as PENDING (it must not be set FULL again before it arrives). */
        used_unlink(h, p);
        p->state = obmt_load_relaxed(&p->remote) == REMOTE_FULL ? POOL_FULL : POOL_PENDING;
        list_push_front(&h->fullpools, p);
        return b;
    }
    uintptr_t old = obmt_load_relaxed(&p->remote);
    for (;;) {
        if (old & REMOTE_PTR) {
            pool_drain_remote(p); /* the block just handed out keeps count >= 1 */
            return b;
        }
        if (obmt_cas_acq_rel(&p->remote, &old, REMOTE_FULL))
            break;
    }
    used_unlink(h, p);
    p->state = POOL_FULL;
    list_push_front(&h->fullpools, p);
    return b;
}

void *pool_refill(struct heap *h, pool_header *p, void *b)
{
    b = pool_refill_list(h, p, b);
    heap_tick(h); /* after: p is filed again, and heap_collect may see it */
    return b;
}

void *pool_refill_leave(struct heap *h, pool_header *p, void *b)
{
    b = pool_refill(h, p, b);
    lend_leave();
    return b;
}

/* ---- free's slow halves --------------------------------------------------------------- */

/* File p, which the owner's free just emptied (count 0), unless it is a
 * USED pool that is the sole one of its class in usedpools: clear FULL of
 * an ARMED pool, then file it as empty (a sole one stays). keep: a
 * lender's flush (bstack.c):
 * an emptied pool joins the cache whatever it holds, and the lender takes
 * the cache whole, to purge it once the heap is back (lend.c, step 7). */
static void pool_file_emptied(struct heap *h, pool_header *p, bool keep)
{
    if (p->state == POOL_ARMED) {
        /* No block is out, so no other thread can have freed into the pool
         * since FULL was set: FULL is still there, and ours to clear. */
        uintptr_t expected = REMOTE_FULL;
        if (unlikely(!obmt_cas_acq_rel(&p->remote, &expected, (uintptr_t)0)))
            os_fatal("free(): the pool at", pool_mem(p), "has blocks on its remote list after its last block was freed (double free?)");
        p->state = POOL_USED;
        if (!p->nextpool && !p->prevpool) /* the last pool of its class stays (docs/design.md, empty-pool hysteresis) */
            return;
    }
    /* POOL_PENDING: it is on its way through h->returned; returned_place
     * files it as empty. */
    if (p->state == POOL_USED) {
        used_unlink(h, p);
        if (keep)
            cache_keep(h, p);
        else
            cache_or_give(h, p);
    }
}


void heap_ticked(struct heap *h)
{
    h->ticks = OBMT_HEAP_TICKS;
    heap_flush_remote(h); /* the age bound of remote batches */
    long delay = option_get(OPT_PURGE_DELAY_MS);
    uint64_t t = os_now_ms();
    obmt_store_relaxed(&h->last_tick_ms, t); /* busy: the reclaim pass leaves it alone */
    if (delay < 0)
        return;
    /* At most once per purge delay (and 100 ms): take back the blocks other
     * threads freed into this heap's pools and give the pools that emptied
     * back to their arenas, so that the purge can return their pages. */
    if ((int64_t)(t - h->last_collect_ms) >= (int64_t)(delay > 100 ? delay : 100)) {
        h->last_collect_ms = t;
        heap_collect(h, false);
        keep_decay(h);       /* empty pools kept beyond the option's number, unused since */
        span_cache_decay(h); /* classes unused since the last collect give their spans back */
        huge_keep_decay(h);  /* and a kept huge run unused since goes to the shared cache */
    }
    reclaim_pass(false);
    arena_maybe_purge(false);
}

/* heap_free_owner into a pool whose local list is empty: true if p
 * emptied (then filed; keep as for pool_file_emptied). */
static bool free_into_full(struct heap *h, pool_header *p, block *b, bool keep)
{
    /* p is FULL or PENDING with an empty local list; count >= 1. */
    block_set_free(b, NULL, free_key());
    LIST_ORDER(); /* (b's link before b is on the list: fork) */
    p->freeblock = b;
    obmt_count_add(&p->count, -1u);
    if (p->state == POOL_FULL) {
        /* Back to usedpools, ARMED: FULL stays set in `remote` (no CAS). */
        list_unlink(&h->fullpools, p);
        p->state = POOL_ARMED;
        used_push_back(h, p);
        if (unlikely(p->count == 0)) { /* a pool of one block: none here (pool.c), one in model 3 */
            pool_file_emptied(h, p, keep);
            return true;
        }
    }
    /* POOL_PENDING: returned_place files it, empty or not. (Had a freer
     * cleared FULL of a FULL pool, it is PENDING for the owner only once
     * it runs dry again or arrives.) */
    return false;
}

bool heap_free_owner(struct heap *h, pool_header *p, block *b, bool keep)
{
    block *fb = p->freeblock;
    if (!fb)
        return free_into_full(h, p, b, keep); /* (a NULL freeblock: FULL or PENDING, count >= 1) */
    uint32_t count = obmt_load_relaxed(&p->count);
    block_set_free(b, fb, free_key());
    LIST_ORDER(); /* (b's link before b is on the list: fork) */
    p->freeblock = b;
    obmt_store_release(&p->count, count - 1);
    if (count > 1)
        return false;
    /* Empty: the last pool of its class stays in usedpools
     * (docs/design.md, empty-pool hysteresis); others leave. */
    if (p->state != POOL_USED || p->nextpool || p->prevpool)
        pool_file_emptied(h, p, keep);
    return true;
}

/* Adopt p, which the caller alone may now file (it cleared FULL and the owner
 * is gone, or it took the ABANDONED flag). The remote flags are clear. */
void heap_adopt(struct heap *h, pool_header *p, uintptr_t w)
{
    obmt_store_release(&p->owner, h);
    obmt_count_add(&h->stats.adopted, 1);
    pool_take_list(p, w);
    pool_place(h, p);
    /* A thread that frees but never allocates would otherwise keep every
     * pool it adopts, with the blocks others free into them piling up on
     * their remote lists (stress_churn found 18,000 pools held for at most
     * 17,400 live blocks). Collect once the adoptions since the last
     * collect exceed 64 + the pools it left: amortised O(1) per adoption. */
    if (++h->adopted_since > h->collect_after) {
        h->adopted_since = 0; /* before: the collect flushes remote batches, which may adopt */
        size_t left = heap_collect(h, false);
        h->collect_after = 64 + (uint32_t)(left < (1u << 30) ? left : (1u << 30));
    }
}

/* The caller holds p alone (it took the ABANDONED flag, cleared FULL with
 * the owner gone, or is the exiting owner) and will not keep it: take
 * the list of w, then give p back to its arena if that emptied it, else leave it
 * ABANDONED for the next freer. The CAS that sets ABANDONED succeeds only
 * from an empty list, so a block pushed meanwhile is taken on the next turn
 * instead of being stranded on an abandoned pool. h may be NULL. */
void heap_release_unowned(struct heap *h, pool_header *p, uintptr_t w)
{
    p->state = POOL_ABANDONED;
    obmt_store_release(&p->owner, OWNER_ABANDONED);
    pool_take_list(p, w);
    for (;;) {
        if (p->count == 0) {
            give_back(h, p);
            return;
        }
        /* Read before the CAS: after it the pool may be someone else's. */
        unsigned c = p->szidx;
        bool has_free = p->count < class_blocks(c);
        uintptr_t expected = 0;
        /* seq_cst: shared_mark's first load may find the pool's bit set
         * and return; the taker that clears that bit must then see this
         * ABANDONED (store, load on one side; RMW, load on the other:
         * Dekker's pattern, shared.c). */
        if (obmt_cas_seq_cst(&p->remote, &expected, REMOTE_ABANDONED)) {
            if (has_free)
                shared_mark(p, c); /* for any thread's malloc (shared.c) */
            return;
        }
        pool_drain_remote(p);
    }
}

/* Hoard's emptiness threshold: is p (drained, count > 0) so little used
 * that its heap gives it to the shared level? */
static bool pool_mostly_free(const pool_header *p)
{
    return (uint64_t)p->count * 100 <= (uint64_t)class_blocks(p->szidx) * OBMT_SHARE_USED_PERCENT;
}

/* Give p (in no list of h) to the shared level: ownerless, on its class's
 * stack, where any heap's malloc may take it. */
static void give_away(struct heap *h, pool_header *p)
{
    heap_release_unowned(h, p, obmt_exchange_acquire(&p->remote, (uintptr_t)0));
}

/* ---- collecting and exiting ------------------------------------------------------------- */

size_t heap_collect(struct heap *h, bool all)
{
    if (h == &heap_empty)
        return 0;
    size_t left = 0;
    bstack_flush(h); /* first: its blocks are out to their pools, which it may then give away */
    heap_flush_remote(h);
    take_returned(h);
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        pool_header *p = h->usedpools[c];
        while (p) {
            pool_header *next = p->nextpool;
            bool head = p == h->usedpools[c];
            if (p->state == POOL_ARMED) {
                /* Nothing to drain while FULL is set; if a hand-over
                 * cleared it, the pool arrives through `returned`, which
                 * drains it. Its blocks are out, so it is not empty. But
                 * the owner's own frees may have left it mostly free: with
                 * FULL still set no other thread has freed into it, and
                 * clearing FULL makes it a used pool to give away. */
                uintptr_t expected = REMOTE_FULL;
                if (!head && pool_mostly_free(p) && obmt_cas_acq_rel(&p->remote, &expected, (uintptr_t)0)) {
                    p->state = POOL_USED;
                    used_unlink(h, p);
                    give_away(h, p);
                } else {
                    left++;
                }
                p = next;
                continue;
            }
            pool_drain_remote(p);
            if (p->count == 0) {
                used_unlink(h, p);
                cache_or_give(h, p);
            } else if (!head && pool_mostly_free(p)) {
                used_unlink(h, p);
                give_away(h, p);
            } else {
                left++;
            }
            p = next;
        }
    }
    if (all) {
        give_back_cached_beyond(h, 0); /* all of them */
        span_cache_flush(h);
        huge_keep_flush(h);
    }
    return left;
}

/* heap_collect_lent: may the lender take p, a pool of the lent heap that
 * is USED, or off its `returned` stack (lend.c, "The lender's collect")?
 * Yes if no block of it is out (count 0), or if every block out is on its
 * remote list (or the reclaim pass found them all there and purged the
 * pool: RECLAIMED): then the CAS takes the list (p's count becomes 0). The
 * owner is out of the heap; the acquire load of count would pair with the
 * release store that ends a free of the owner's that ran on without the
 * busy flag, as free's fast path once did (lend.c, "Why c is safe"). */
static bool lent_pool_unused(pool_header *p)
{
    uint32_t c1 = obmt_load_acquire(&p->count);
    if (c1 == 0)
        return true;
    uintptr_t w = obmt_load_acquire(&p->remote);
    if (w != REMOTE_RECLAIMED && ((w & REMOTE_FLAGS) || (uint32_t)(w >> REMOTE_COUNT_SHIFT) != c1))
        return false; /* a block is live (or in a freer's batch): leave p as it is */
    if (!obmt_cas_acq_rel(&p->remote, &w, (uintptr_t)0))
        return false; /* a push since the load: so a block was out then */
    pool_take_list(p, w);
    return true;
}

/* p leaves the lent heap h (in no list of h now) for the lender's list. */
static pool_header *lent_take(struct heap *h, pool_header *p, pool_header *list)
{
    disown(h, p);
    obmt_store_relaxed(&p->nextpool, list);
    return p;
}

/* The lent heap's `returned` stack: the pools whose every block out came
 * back leave the heap; the others (a live block: ARMED, or PENDING with
 * blocks its owner freed into it) go back on the stack as they are,
 * untouched. A pool that an exited
 * thread of this heap abandoned (ABANDONED: it reached the stack late) is
 * handled as that exit would have (heap_abandon_late). Nobody else takes
 * the stack meanwhile: the owner is kept out of its paths, exit waits for
 * the lender, and the reclaim pass runs in the lender's thread. */
static pool_header *lent_take_returned(struct heap *h, pool_header *list)
{
    pool_header *r = obmt_exchange_acquire(&h->returned, NULL);
    pool_header *keep = NULL, *tail = NULL;
    while (r) {
        pool_header *p = r;
        r = p->returned_next;
        if (p->state == POOL_ABANDONED) {
            heap_abandon_late(p);
        } else if (lent_pool_unused(p)) {
            if (p->state == POOL_ARMED)
                used_unlink(h, p);
            else
                list_unlink(&h->fullpools, p); /* FULL or PENDING */
            list = lent_take(h, p, list);
        } else {
            p->returned_next = keep;
            keep = p;
            if (!tail)
                tail = p;
        }
    }
    if (keep) {
        pool_header *head = obmt_load_relaxed(&h->returned);
        do {
            if (unlikely(head == RETURNED_CLOSED)) /* exit waits for the lender */
                os_fatal("lend: the heap at", h, "was closed while lent");
            tail->returned_next = head;
        } while (!__atomic_compare_exchange_n(&h->returned, &head, keep, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    }
    h->lent_returned = keep; /* lend_wanted: lend again once something new is on top */
    return list;
}

pool_header *heap_collect_lent(struct heap *h)
{
    pool_header *list = NULL;
    bstack_flush_lent(h); /* first: the pools of the stacked blocks may then leave, below */
    heap_flush_remote_lent(h);
    span_cache_flush(h); /* the idle thread's cached medium blocks go back to their arenas */
    huge_keep_flush(h);  /* and its kept huge run to the shared cache */
    list = lent_take_returned(h, list);
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        pool_header *p = h->usedpools[c];
        while (p) {
            pool_header *next = p->nextpool;
            /* ARMED: FULL set, and a block out (the free that emptied
             * it, the flush's too, would have cleared FULL and made it
             * USED), or a freer cleared FULL and the pool is on
             * `returned`, which was taken above. */
            if (p->state == POOL_USED && lent_pool_unused(p)) {
                used_unlink(h, p);
                list = lent_take(h, p, list);
            }
            p = next;
        }
    }
    while (h->emptypools) {
        pool_header *p = h->emptypools;
        h->emptypools = p->nextpool;
        h->nempty--;
        list = lent_take(h, p, list);
    }
    return list;
}

void heap_give_back_purged(pool_header *list)
{
    size_t bytes = reclaim_purged_bytes();
    while (list) {
        pool_header *p = list;
        list = p->nextpool;
        if (bytes && p->size != 0 && arena_decommit_pages(pool_mem(p), bytes) == 0)
            pool_mark_purged(p);
        arena_give_pool(p);
    }
}

/* Leave a pool with live blocks for other threads to adopt. */
static void abandon_used(struct heap *h, pool_header *p)
{
    uintptr_t w = obmt_exchange_acquire(&p->remote, (uintptr_t)0);
    heap_release_unowned(h, p, w);
}

void heap_abandon_late(pool_header *p)
{
    abandon_used(NULL, p);
}

/* A FULL or ARMED pool at exit (its owner set FULL): if FULL is still set,
 * clear it (we then hold the pool: nobody else sets FULL, and a freer
 * that clears it finds the owner still ours and pushes the pool on our
 * `returned`) and release it as a used pool; if a hand-over cleared it,
 * the pool is on its way through `returned` (we take it below, or the
 * freer finds the stack closed, or reads OWNER_ABANDONED, and adopts it).
 *
 * The order matters. The old abandon_full stored OWNER_ABANDONED first and
 * then CASed FULL -> ABANDONED: a freer that cleared FULL in between read
 * OWNER_ABANDONED, adopted the pool, filled it (FULL set again by its new
 * owner), and the exiting thread's CAS, expecting FULL, succeeded on a pool
 * that another heap owned: ABA, two heaps linked one pool into their
 * lists, a cycle, a collect that never ended (larson, found with a delay
 * in that window). Clearing FULL while the owner is still this heap leaves
 * no such window: only an owner sets FULL. */
static void abandon_flagged(struct heap *h, pool_header *p)
{
    uintptr_t expected = REMOTE_FULL;
    if (obmt_cas_acq_rel(&p->remote, &expected, (uintptr_t)0)) {
        heap_release_unowned(h, p, 0);
        return;
    }
    p->state = POOL_ABANDONED;
    obmt_store_release(&p->owner, OWNER_ABANDONED);
}

void heap_thread_exit(struct heap *h)
{
    bstack_flush(h); /* its blocks back to their pools, before they are given back or abandoned */
    heap_flush_remote(h); /* while h is still ours: what it adopts, it abandons below */
    lend_close(h); /* no lender from here on (the caller waited out any) */
    span_cache_flush(h);
    huge_keep_flush(h);
    obmt_store_relaxed(&tls_self.heap, &heap_empty);
    tls_heap_exited = 1;
    take_returned(h);
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        while (h->usedpools[c]) {
            pool_header *p = h->usedpools[c];
            used_unlink(h, p);
            if (p->state == POOL_ARMED)
                abandon_flagged(h, p);
            else
                abandon_used(h, p);
        }
    }
    while (h->fullpools) {
        pool_header *p = h->fullpools;
        list_unlink(&h->fullpools, p);
        abandon_flagged(h, p);
    }
    give_back_cached_beyond(h, 0); /* all of them */
    pool_header *list = obmt_exchange_acq_rel(&h->returned, RETURNED_CLOSED);
    while (list) {
        pool_header *p = list;
        list = p->returned_next;
        /* p's state is POOL_ABANDONED (set above) and it is in no list. */
        abandon_used(h, p);
    }
    obmt_store_relaxed(&h->in_use, 0);
    free_heap_push(h);
}

/* ---- process set-up and fork ------------------------------------------------------------- */

static void heap_atfork_child(void)
{
    pool_atfork_child();
    /* Only the forking thread lives on in the child. Every other heap in use
     * is dead: close its `returned` stack, so that freers adopt its full
     * pools, and adopt the pools already handed back to it. Their used pools
     * (ARMED ones included, see below) keep taking remote frees; they are
     * never lost, only not reused. */
    arena_atfork_child();
    shared_atfork_child();
    reclaim_atfork_child();
    background_atfork_child();
    struct heap *me = heap_self(); /* no lender ran across the fork (prepare) */
    uint32_t n = heaps_used();
    for (uint32_t i = 0; i < n; i++) {
        struct heap *h = heap_at(i);
        if (!h || h == me || !obmt_load_relaxed(&h->in_use))
            continue;
        obmt_store_relaxed(&h->in_use, 0);
        obmt_store_relaxed(&h->lend_state, LEND_CLOSED); /* its thread is gone: never lend it */
        /* Its remote batches may have been half written at the fork: drop
         * them. Their blocks stay counted in their pools (a bounded leak in
         * the child, like the dead heap's used pools). */
        for (unsigned k = 0; k < OBMT_RBATCH_SLOTS; k++)
            obmt_store_relaxed(&h->rbatch[k].pool, NULL);
        /* Its cached medium blocks go back to their span arenas, checked
         * one by one (span_cache_drop: up to OBMT_SPAN_CACHE_HEAP_MAX a
         * dead heap, which would otherwise stay taken). */
        span_cache_drop(h);
        huge_keep_drop(h); /* (its kept huge run goes back to its arenas) */
        bstack_drop(h); /* its stacked blocks stay out in its pools */
        /* Its ARMED pools carry FULL while their thread may have been
         * halfway through a malloc or free on them: clear FULL so that no
         * free in the child adopts one (a freer that clears FULL of a dead
         * heap's pool adopts it). They stay as its used pools do: taking
         * remote frees, never reused. The walk is bounded: a list that the
         * dead thread was relinking is still a chain, but trust nothing. */
        size_t steps = 0;
        for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
            for (pool_header *p = h->usedpools[c]; p && steps < ((size_t)1 << 20); p = p->nextpool, steps++) {
                uintptr_t expected = REMOTE_FULL;
                if (p->state == POOL_ARMED && obmt_cas_acq_rel(&p->remote, &expected, (uintptr_t)0))
                    p->state = POOL_USED;
            }
        }
        pool_header *list = obmt_exchange_acq_rel(&h->returned, RETURNED_CLOSED);
        if (list == RETURNED_CLOSED)
            continue;
        while (list) {
            pool_header *p = list;
            list = p->returned_next;
            struct heap *mine = heap_get_slow(); /* (its lend_enter: left at the end) */
            p->state = POOL_ABANDONED; /* its list links belong to the dead heap */
            uintptr_t w = obmt_exchange_acquire(&p->remote, (uintptr_t)0);
            heap_adopt_or_release(mine, p, w);
        }
    }
    /* The span depot's chains go back to their arenas: the child starts
     * with no medium block cached but in its own thread's cache (a chain a
     * dead thread held at the fork stays taken: span_depot.c). */
    depot_atfork_child();
    span_cache_atfork_child(me); /* (the grown caches' allowance: the forking thread's share) */
    lend_leave(); /* heap_get_slow above marks the thread busy; a fork handler runs outside obmt */
}

/* Before fork: the forking thread hands its remote batches over, so that
 * the child starts with none pending from it. */
static void heap_atfork_prepare(void)
{
    /* A reclaim pass holds pools off some heap's `returned` stack (or
     * lends a heap, maybe this thread's), a purge pass pools off an
     * arena's free stack: let them end (and none start) so that the child
     * does not lose them. The reclaim pass first: after it no lender
     * holds this thread's heap. */
    reclaim_atfork_prepare();
    struct heap *h = heap_self();
    if (h != &heap_empty)
        heap_flush_remote(h);
    arena_atfork_prepare();
}

static void heap_atfork_parent(void)
{
    arena_atfork_parent();
    reclaim_atfork_parent();
}

int heap_init_process(void)
{
    /* Without the key no heap would be recycled at thread exit (each
     * thread's pools would stay with it), and without the fork handlers a
     * child could inherit a half-done pass: init fails instead, and the
     * underlying allocator serves the process. */
    int err = pthread_key_create(&g_heap_key, heap_key_destructor);
    if (err)
        return err;
    err = pthread_atfork(heap_atfork_prepare, heap_atfork_parent, heap_atfork_child);
    if (err)
        pthread_key_delete(g_heap_key);
    return err;
}
