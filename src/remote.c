/*
 * remote.c: frees into pools that the calling thread does not own, and how
 * they reach the owner: batched per destination pool, handed over with one
 * CAS per batch, and the FULL hand-back and the adoption of abandoned pools
 * that such a hand-over can trigger.
 *
 * ==== Batches ================================================================
 *
 * A thread with a heap does not push each remote free at once. It keeps
 * OBMT_RBATCH_SLOTS batches, direct-mapped by pool address: a batch is a
 * chain of blocks of one pool (linked through their first words, as the
 * pool's lists are), with its head, tail and length. A free into another
 * thread's pool links the block into the batch of its pool; a batch is
 * handed over with one CAS that splices the whole chain onto the pool's
 * `remote` list and adds its length to the count there
 * (pool_push_remote). So producer/consumer traffic, where consecutive frees
 * hit the same pool, pays one atomic RMW per batch instead of one per
 * block, and the owner's line of the pool header is not written at all.
 *
 * A batch is handed over when
 *  - it holds OBMT_RBATCH_BYTES bytes of blocks (size bound),
 *  - its slot is wanted by a block of another pool,
 *  - its thread's heap ticks (every OBMT_HEAP_TICKS slow-path events, age
 *    bound), collects (obmt_collect, adoption) or exits,
 *  - its thread forks (the prepare handler: the child keeps the batches of
 *    the forking thread only, and those are its own).
 * At most OBMT_RBATCH_SLOTS * OBMT_RBATCH_BYTES bytes wait in one thread's
 * batches (128 KiB by default): blocks the program has freed that their
 * pools still count as out, a constant per thread in the memory bound.
 *
 * Synchronisation: the batches are owner-only (the heap's thread, or the
 * thread tearing the heap down); `pool`, `n` and rbatch_blocks are written
 * with relaxed stores because obmt_stats_get reads them (relaxed) to take
 * the waiting blocks off the blocks in use. Everything shared is in
 * the hand-over below, unchanged in shape from a single-block push: the
 * CAS on `remote` publishes the chain (release: the user's writes and the
 * links), and its acquire lets the freer that clears FULL or meets
 * ABANDONED see what the owner did before setting the flag.
 *
 * A thread without a heap (one being torn down, or that never allocated)
 * hands each block over at once.
 */
#include "internal.h"

/* ---- the hand-over ------------------------------------------------------- */

/* Push p onto o->returned; false if o has exited (the stack is closed). */
static bool returned_push(struct heap *o, pool_header *p)
{
    pool_header *head = obmt_load_acquire(&o->returned);
    do {
        if (head == RETURNED_CLOSED)
            return false;
        p->returned_next = head;
    } while (!__atomic_compare_exchange_n(&o->returned, &head, p, 0,
                                          __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
    return true;
}

/* Hand the chain head..tail (n blocks of p, validated) over to p's owner:
 * one CAS onto p->remote; then, if that push cleared FULL, the pool goes
 * back to its owner through `returned` (or is adopted when the owner is
 * gone), and if it found ABANDONED, the caller adopts (or releases) it.
 * `into`: the heap whose batch this was, which adopts; NULL for a thread
 * without one (it gets one now if it can); &heap_lending for a lender
 * flushing an idle heap's batches (lend.c): it adopts into no heap and
 * releases the pool instead (heap_release_unowned: to the shared level if
 * it has a free block, to its arena if it is empty). Adopting into the lent
 * heap would store its owner before taking its list, and the heap's thread
 * may be freeing into the pool's list on its fast path meanwhile (a live
 * block of a pool owned by the heap it read). */
static struct heap *adopter(struct heap *into)
{
    if (into == &heap_lending)
        return NULL;
    return into ? into : heap_get_slow();
}

static void remote_hand_over(struct heap *into, pool_header *p, block *head, block *tail, uint32_t n)
{
    if (obmt_load_acquire(&p->owner) == NULL)
        os_fatal("free(): double free or invalid pointer", head, "its pool holds no block in use");
    uintptr_t flags = pool_push_remote(p, head, tail, n);
    if (flags & REMOTE_FULL) {
        /* We cleared FULL: the pool is ours to hand back to its owner. */
        struct heap *o = obmt_load_acquire(&p->owner);
        if (o != OWNER_ABANDONED && returned_push(o, p))
            return;
        struct heap *h = adopter(into);
        uintptr_t w = obmt_exchange_acquire(&p->remote, (uintptr_t)0);
        heap_adopt_or_release(h, p, w);
    } else if (flags & REMOTE_ABANDONED) {
        uintptr_t w = obmt_load_relaxed(&p->remote);
        do {
            if (!(w & REMOTE_ABANDONED))
                return; /* another thread adopted it */
        } while (!obmt_cas_acq_rel(&p->remote, &w, (uintptr_t)0));
        /* We hold the pool: adopt it, or, without a heap (a thread being
         * torn down, or heaps exhausted), release it if it is now empty. */
        heap_adopt_or_release(adopter(into), p, w);
    }
}

/* ---- batches ------------------------------------------------------------- */

/* Hand over the batch in slot s of h (the caller is h's thread, or a
 * lender holding h: into is then &heap_lending, see remote_hand_over). The
 * slot is emptied first: the hand-over may adopt, adoption may collect,
 * and a collect flushes every batch, this one included. */
static void rbatch_flush(struct heap *h, struct rbatch *s, struct heap *into)
{
    pool_header *p = s->pool;
    block *head = s->head, *tail = s->tail;
    uint32_t n = s->n;
    obmt_store_relaxed(&s->pool, NULL);
    obmt_count_add(&h->rbatch_blocks, -n);
    obmt_count_add(&h->stats.remote_batches, 1);
    remote_hand_over(into, p, head, tail, n);
}

static void flush_all(struct heap *h, struct heap *into)
{
    if (!h->rbatch_blocks)
        return;
    for (unsigned i = 0; i < OBMT_RBATCH_SLOTS; i++)
        if (h->rbatch[i].pool)
            rbatch_flush(h, &h->rbatch[i], into);
}

void heap_flush_remote(struct heap *h)
{
    flush_all(h, h);
}

void heap_flush_remote_lent(struct heap *h)
{
    flush_all(h, &heap_lending);
}

/* Add b (a checked block of p, which h does not own) to h's batch for p. */
static void rbatch_add(struct heap *h, pool_header *p, block *b, uintptr_t key)
{
    struct rbatch *s = &h->rbatch[pool_number(p) & (OBMT_RBATCH_SLOTS - 1)];
    if (s->pool == p) {
        if (unlikely(b == s->head))
            os_fatal("free(): double free of", b, "it was just freed by this thread");
        block_set_free(b, s->head, key);
        s->head = b;
        obmt_count_add(&s->n, 1);
        obmt_count_add(&h->rbatch_blocks, 1);
        if (--s->left == 0)
            rbatch_flush(h, s, h);
        return;
    }
    if (unlikely(obmt_load_relaxed(&p->owner) == NULL))
        os_fatal("free(): double free or invalid pointer", b, "its pool holds no block in use");
    if (s->pool)
        rbatch_flush(h, s, h);
    block_set_free(b, NULL, key);
    s->head = s->tail = b;
    obmt_store_relaxed(&s->n, 1);
    s->left = OBMT_RBATCH_BYTES / p->size - 1; /* blocks it may still take: >= 1 (tunables.h) */
    obmt_store_relaxed(&s->pool, p);
    obmt_count_add(&h->rbatch_blocks, 1);
}

void heap_free_remote(struct heap *h, pool_header *p, block *b)
{
    /* A free pool (in its arena, or part of a huge block's run) holds no
     * block: its header may still describe its last blocks. */
    if (unlikely(obmt_load_relaxed(&p->owner) == NULL))
        os_fatal("free(): invalid pointer", b, "its pool is free (a double free?)");
    if (unlikely(!pool_is_block_start(p, b)))
        os_fatal("free(): invalid pointer", b, "not the start of a block");
    if (unlikely(!pool_is_carved_block_remote(p, b)))
        os_fatal("free(): invalid pointer", b, "not a block its pool has handed out");
    /* Free already, at any depth of any list, or never handed out: the free
     * key (internal.h, struct block). The block reached this thread through
     * the program's own synchronisation, so reading it races with nothing. */
    uintptr_t key = free_key();
    if (unlikely(block_has_key(b, key)))
        block_keyed_check(p, b, "free(): double free of");
    if (unlikely(h == &heap_empty)) {
        /* A thread without a heap: no batches, no counters of its own. */
        obmt_fetch_add_relaxed(&g_remote_frees_heapless, 1);
        block_set_free(b, NULL, key);
        remote_hand_over(NULL, p, b, b, 1);
        return;
    }
    obmt_count_add(&h->stats.remote_frees, 1);
    rbatch_add(h, p, b, key);
    heap_tick(h); /* after: the batch is consistent, and a tick flushes them all */
}
