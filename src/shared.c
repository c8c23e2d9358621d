/*
 * shared.c: the shared level. Pools that still hold live blocks but that no
 * heap owns, one stack per size class, from which any thread's malloc takes
 * a pool before it takes a fresh one from an arena (Hoard's global heap,
 * for partially used pools).
 *
 * Without it a pool is usable only by its owner. A heap that stops
 * allocating a class keeps that class's pools, each pinned by a few live
 * blocks, while other threads take fresh pools for the same class; a
 * thread that exits leaves its pools ABANDONED, and only a thread that frees
 * into one of them adopts it. The memory other threads freed is then
 * usable by no one (docs/design.md, section 5: "partially used pools").
 *
 * ==== What goes there =========================================================
 *
 * An ABANDONED pool that has a free block (count below the class's block
 * count) is pushed on the stack of its class by the thread that abandoned
 * it (heap_release_unowned):
 *  - a heap's collect gives away every pool of a class but the head of its
 *    usedpools that is at most a quarter used (OBMT_SHARE_USED_PERCENT):
 *    the emptiness threshold. A collect runs at most once per purge delay
 *    from a heap's ticks, on obmt_collect and every 64+ adoptions: always
 *    the owner's own. A lender's collect of an idle heap (lend.c) gives
 *    nothing away: such a pool holds a live block, and the owner's free
 *    fast path may be writing it unannounced while the lender works;
 *  - a lender releases a pool that the hand-over of the lent heap's
 *    batches would have adopted (remote.c) rather than adopt it;
 *  - thread exit abandons every used pool of the heap.
 * A full pool (no free block) is not pushed: it is of no use to a malloc;
 * the first thread that frees into it adopts it, as before.
 *
 * ==== Taking a pool =============================================================
 *
 * heap_malloc_slow, when usedpools[c] is empty and before the heap's empty
 * pools or an arena, pops the stack of class c and adopts the pool by the
 * same CAS a remote freer adopts an abandoned pool with: clear ABANDONED
 * (and take the remote list) in `remote`. Whoever clears the flag holds the
 * pool; a popper that finds the flag gone (a freer adopted the pool since it
 * was pushed) drops the entry: the pool is someone's. A popped pool of
 * another class (adopted, emptied, given back and taken for another class
 * since it was pushed, then abandoned again while its old entry was still
 * on the stack) is adopted all the same and filed under its class.
 *
 * ==== The stack ===================================================================
 *
 * g_shared[c].head: one 64-bit word {generation:32, pool number + 1:32}.
 *   push: the abandoning thread, CAS release after a relaxed store of the
 *         pool's shared_next; pop: any malloc slow path, CAS acq_rel from a
 *         word loaded with acquire, reading the top pool's shared_next in
 *         between. Every successful CAS adds one to the generation, so a pop
 *         whose top was popped and pushed again meanwhile fails (ABA; 32
 *         bits: 4e9 operations on one class while one thread sits in its
 *         pop). Pool headers are committed for good (arena.c), so reading a
 *         stale top's shared_next never faults.
 * pool_header.shared_on: 1 while the pool is on a stack or popped and not
 *   yet looked at. The pusher sets it (exchange acq_rel) and pushes only if
 *   it was 0; the popper clears it (exchange acq_rel) after its pop and
 *   before it reads `remote`. So a pool is on at most one stack, at most
 *   once, and an abandoned pool with a free block is never off every stack
 *   and unowned: if the pusher found the flag set, the entry it found is
 *   either still on the stack, or held by a popper whose clear comes after
 *   the pusher's exchange, so that popper's acquire sees ABANDONED and
 *   adopts. Nothing else writes shared_on or shared_next (pool_init and
 *   the arena's header reset leave them), and an entry may be stale (the
 *   pool adopted, or given back to its arena, since): the popper's CAS on
 *   `remote` is the only test that counts.
 *
 * Nothing here is on a fast path: pushes come from collects and exits,
 * pops from malloc's slow path when a class has no pool in the heap. A pop
 * loop runs until the stack is empty or a pool of the class is filed, so one
 * malloc may drop many stale entries (and adopt pools of other classes)
 * first: lock-free, paid for by the pushes, but a latency tail.
 *
 * ==== Limits ======================================================================
 *
 *  - A misfiled pool. Entry E of pool p on class a's stack goes stale (a
 *    freer adopts p); p empties, goes back to its arena, is taken for class
 *    b and given away again while E is still on a's stack: shared_on is
 *    set, so p is not pushed on b's stack. It is not lost (a malloc of class
 *    a adopts it and files it under b, and a free into it adopts it), but
 *    mallocs of class b do not find it until then: the bound in
 *    docs/design.md assumes they do. A bitmap per class instead of a stack
 *    (membership idempotent, a pool in two classes' maps at once) would
 *    close it.
 *  - Fork: a thread cut by the fork between its pop and its clear of
 *    shared_on, or between its set and its push, leaves in the child a pool
 *    that is on no stack with shared_on set: never pushed again there (free
 *    still adopts it).
 *  - A thread's own free of a live block in a pool its heap gave away is a
 *    remote free (batched; the hand-over adopts the pool back).
 */
#include "internal.h"

struct shared_stack {
    alignas(64) uint64_t head; /* {generation:32, pool number + 1:32} */
};
static struct shared_stack g_shared[OBMT_NCLASSES];

uint64_t g_pools_shared;      /* pools pushed (fetch_add relaxed; statistics) */
uint64_t g_pools_from_shared; /* pools adopted from a stack (fetch_add relaxed) */

#define SHARED_GEN_ONE ((uint64_t)1 << 32)

static pool_header *pool_by_number(uint32_t n)
{
    return (pool_header *)(obmt_load_relaxed(&g_hot.meta) + ((uintptr_t)n << OBMT_HEADER_SHIFT));
}

void shared_push(pool_header *p, unsigned c)
{
    if (obmt_exchange_acq_rel(&p->shared_on, 1u) != 0)
        return; /* already on a stack, or a popper is about to look at it */
    uint64_t top = obmt_load_relaxed(&g_shared[c].head), next;
    do {
        obmt_store_relaxed(&p->shared_next, (uint32_t)top);
        next = ((top & ~(SHARED_GEN_ONE - 1)) + SHARED_GEN_ONE) | (uint64_t)(pool_number(p) + 1);
    } while (!obmt_cas_release(&g_shared[c].head, &top, next));
    obmt_fetch_add_relaxed(&g_pools_shared, 1);
}

/* Pop the top of class c's stack; NULL if it is empty. */
static pool_header *shared_pop(unsigned c)
{
    uint64_t top = obmt_load_acquire(&g_shared[c].head);
    pool_header *p;
    for (;;) {
        uint32_t n1 = (uint32_t)top;
        if (!n1)
            return NULL;
        p = pool_by_number(n1 - 1);
        uint64_t next = ((top & ~(SHARED_GEN_ONE - 1)) + SHARED_GEN_ONE) | obmt_load_relaxed(&p->shared_next);
        if (obmt_cas_acq_rel(&g_shared[c].head, &top, next))
            break;
    }
    obmt_exchange_acq_rel(&p->shared_on, 0u);
    return p;
}

bool shared_take(struct heap *h, unsigned c)
{
    /* Until the stack is empty or a pool of class c is filed: each turn
     * removes one entry (a stale one, pushed once per abandonment, is
     * dropped once), so the work is paid for by the pushes. */
    for (;;) {
        pool_header *p = shared_pop(c);
        if (!p)
            return h->usedpools[c] != NULL;
        uintptr_t w = obmt_load_acquire(&p->remote);
        do {
            if (!(w & REMOTE_ABANDONED))
                goto next; /* adopted since it was pushed: the entry was stale */
        } while (!obmt_cas_acq_rel(&p->remote, &w, (uintptr_t)0));
        obmt_fetch_add_relaxed(&g_pools_from_shared, 1);
        heap_adopt(h, p, w & ~REMOTE_ABANDONED);
        if (h->usedpools[c])
            return true;
    next:;
    }
}
