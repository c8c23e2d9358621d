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
 * What a remote free costs: the checks, the block linked into its batch,
 * the batch's length. A block that joins a batch is not an event of the
 * heap: its statistics (remote_frees) are counted when the batch is handed
 * over, and obmt_stats_get adds the blocks still waiting; and the heap
 * ticks (heap_tick) when a batch starts or is handed over, not for every
 * block. So the age bound above is counted in the heap's ticks, which
 * batches now bring one per batch, not one per block: a partly filled
 * batch may wait far longer than 256 frees (a thread that stops freeing
 * flushes it at its next tick, collect or exit, as before), and the size
 * bound keeps what waits at OBMT_RBATCH_SLOTS * OBMT_RBATCH_BYTES whatever
 * the wait. A fork child drops dead heaps' batches, and with them their
 * blocks' count in remote_frees.
 *
 * Synchronisation: the batches are owner-only (the heap's thread, or the
 * thread tearing the heap down); `pool` and `n` are written with relaxed
 * stores because obmt_stats_get reads them (relaxed) to take the waiting
 * blocks off the blocks in use. Everything shared is in
 * the hand-over below, unchanged in shape from a single-block push: the
 * CAS on `remote` publishes the chain (release: the user's writes and the
 * links), and its acquire lets the freer that clears FULL or meets
 * ABANDONED see what the owner did before setting the flag.
 *
 * A thread without a heap (one being torn down, or that never allocated)
 * hands each block over at once.
 *
 * ==== Hints ==================================================================
 *
 * The owner takes a batch's chain as its pool's free list and pops it one
 * malloc at a time; each pop loads the link of a block whose line the
 * freer's core wrote last, so in a producer/consumer program every malloc
 * waited for one miss, and the next could not start before it: the link
 * says where the next block is. The chain's order is the freer's, which
 * after many round trips says nothing about the addresses (internal.h,
 * pool_pop_prefetch), so no guess from the addresses finds the blocks
 * ahead. The freer knows them: as it links block i of a batch, it puts in
 * the link's top 16 bits (internal.h, LINK_HINT_SHIFT) the low 16 bits of
 * block i - D's address (D is OBMT_REMOTE_HINT_DISTANCE; the heap's
 * `rbatch_recent` keeps each slot's last D blocks). The owner pops block
 * i - D D pops after block i, and its pop of block i prefetches it (a pool
 * is 32 KiB: the popped block's address supplies the other bits, so the
 * hint lies in the block's 64 KiB frame, two pools of its arena). The
 * misses of a chain then overlap D at a time.
 *
 * A hint is never followed, only prefetched: a stale one (the first D
 * blocks of a batch name blocks of the slot's batches before it) costs at
 * most one line of the arena fetched for nothing, never a wrong result;
 * links that the owner wrote carry none (0: nothing is fetched). Every
 * reader of a link masks the hint off (link_ptr). The hint is written
 * with the link, before the hand-over's release CAS, and read with it by
 * the owner after taking the list with acquire. Nothing past a
 * block's first two words is written, so every class has hints, 16 bytes
 * too. No hints in secure mode (BLOCK_HINTS), whose links are encoded
 * whole. What it costs the freer (instr_count remote): 65.1 -> 77.1
 * instructions a free at 16 bytes, 65.4 -> 77.5 at 64 (the ring's load
 * and store, the index, the flag bit, the shift and or; 73.1 and 73.5
 * since heap_free_remote_owned_leave).
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
    obmt_count_add(&h->stats.remote_frees, n);
    obmt_count_add(&h->stats.remote_batches, 1);
    remote_hand_over(into, p, head, tail, n);
}

static void flush_all(struct heap *h, struct heap *into)
{
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

/* The hint for b, the i-th block linked into the batch in slot k (from
 * 0): the block linked OBMT_REMOTE_HINT_DISTANCE before it, which the
 * owner pops that many pops after b (see "Hints"). The first ones of a
 * batch name blocks of the slot's batches before it, of another pool or
 * of this one: a line fetched for nothing at worst. NULL without hints. */
static inline block *batch_hint(struct heap *h, size_t k, block *b, uint32_t i)
{
    if (!BLOCK_HINTS)
        return NULL;
    block **r = &h->rbatch_recent[k][i & (OBMT_REMOTE_HINT_DISTANCE - 1)];
    block *hint = *r;
    *r = b;
    return hint;
}

/* A thread without a heap (h is &heap_empty), or whose heap a lender
 * holds (&heap_lending: a detour, lend.c): no batches, no counters of its
 * own; the block is handed over at once. Leaves. */
static OBMT_NOINLINE void remote_heapless_leave(struct heap *h, pool_header *p, block *b, uintptr_t key)
{
    if (h == &heap_lending)
        obmt_fetch_add_relaxed(&g_lend_detours, 1);
    obmt_fetch_add_relaxed(&g_remote_frees_heapless, 1);
    block_set_free(b, NULL, key);
    remote_hand_over(NULL, p, b, b, 1);
    lend_leave();
}

/* A block of p for slot s of h, which holds another pool's batch or none
 * (or p's, whose head is b: a double free), that batch goes, b starts p's.
 * A tick: starting a batch is an event of the heap (see "What a remote
 * free costs"). Or h is &heap_empty or &heap_lending, whose slots stay
 * empty (nothing here writes them), so that the fast path need not test
 * for them. Leaves. */
static OBMT_NOINLINE void rbatch_start_leave(struct heap *h, struct rbatch *s, pool_header *p, block *b, uintptr_t key)
{
    if (h == &heap_empty || h == &heap_lending) {
        remote_heapless_leave(h, p, b, key);
        return;
    }
    if (s->pool == p)
        os_fatal("free(): double free of", b, "it was just freed by this thread");
    if (unlikely(obmt_load_relaxed(&p->owner) == NULL))
        os_fatal("free(): double free or invalid pointer", b, "its pool holds no block in use");
    if (s->pool)
        rbatch_flush(h, s, h);
    block_set_free_hint(b, NULL, key, batch_hint(h, (size_t)(s - h->rbatch), b, 0));
    s->head = s->tail = b;
    obmt_store_relaxed(&s->n, 1);
    s->left = OBMT_RBATCH_BYTES / p->size - 1; /* blocks it may still take: >= 1 (tunables.h) */
    obmt_store_relaxed(&s->pool, p);
    heap_tick(h); /* after: the batch is consistent, and a tick flushes them all */
    lend_leave();
}

/* The batch in slot s is full (b, the last block it takes, is in it):
 * handed over, then a tick. Leaves. */
static OBMT_NOINLINE void rbatch_full_leave(struct heap *h, struct rbatch *s)
{
    rbatch_flush(h, s, h);
    heap_tick(h);
    lend_leave();
}

/* Add b (a checked block of p, which h does not own) to h's batch for p,
 * and leave. Its slow halves leave themselves: every call here is a tail
 * call, and the path needs no stack frame. */
static inline void rbatch_add_leave(struct heap *h, pool_header *p, block *b, uintptr_t key)
{
    size_t k = pool_number(p) & (OBMT_RBATCH_SLOTS - 1);
    struct rbatch *s = &h->rbatch[k];
    block *head = s->head;
    if (likely(s->pool == p && b != head)) {
        uint32_t n = obmt_load_relaxed(&s->n);
        block_set_free_hint(b, head, key, batch_hint(h, k, b, n));
        s->head = b;
        obmt_store_relaxed(&s->n, n + 1);
        if (likely(--s->left != 0)) {
            lend_leave();
            return;
        }
        rbatch_full_leave(h, s);
        return;
    }
    rbatch_start_leave(h, s, p, b, key);
}

/* The block carries the free key: abort unless a live block holds the
 * secret by chance (then it is freed as any other). */
static OBMT_NOINLINE void remote_keyed_leave(struct heap *h, pool_header *p, block *b)
{
    block_keyed_check(p, b, "free(): double free of");
    rbatch_add_leave(h, p, b, free_key());
}

/* b, a block of p, failed one of heap_free_remote_leave's tests: abort
 * with the fault's name. A function of its own, so that the free sets up
 * a stack frame for the call only on this path (its other calls are tail
 * calls). */
static OBMT_NOINLINE void remote_invalid(pool_header *p, block *b)
{
    /* A free pool (in its arena, or part of a huge block's run) holds no
     * block: its header may still describe its last blocks. */
    if (obmt_load_relaxed(&p->owner) == NULL)
        os_fatal("free(): invalid pointer", b, "its pool is free (a double free?)");
    if (!pool_is_block_start(p, b))
        os_fatal("free(): invalid pointer", b, "not the start of a block");
    os_fatal("free(): invalid pointer", b, "not a block its pool has handed out");
}

void heap_free_remote_leave(pool_header *p, struct heap *h, block *b)
{
    if (unlikely(obmt_load_relaxed(&p->owner) == NULL)) {
        remote_invalid(p, b);
        return;
    }
    heap_free_remote_owned_leave(p, h, b);
}

void heap_free_remote_owned_leave(pool_header *p, struct heap *h, block *b)
{
    if (unlikely(!pool_is_block_start(p, b) || !pool_is_carved_block_remote(p, b))) {
        remote_invalid(p, b);
        return;
    }
    /* Free already, at any depth of any list, or never handed out: the free
     * key (internal.h, struct block). The block reached this thread through
     * the program's own synchronisation, so reading it races with nothing. */
    uintptr_t key = free_key();
    if (unlikely(block_has_key(b, key))) {
        remote_keyed_leave(h, p, b);
        return;
    }
    rbatch_add_leave(h, p, b, key);
}
