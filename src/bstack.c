/*
 * bstack.c: the block stack. Each heap keeps, per size class, a stack of
 * blocks of its own pools that its thread freed (internal.h, "bstack.c"):
 * the owner's free pushes there while the class's stack has room, and its
 * malloc pops from there before it looks at a pool. Both are inline on the
 * fast paths (api.c); this file holds what runs off them.
 *
 * Why: obmalloc's free puts a block back on its pool's list, and the pool's
 * count tells the edges apart (full, last block out). Pools of the coarse
 * classes hold 4 to 48 blocks, so a program that frees and allocates such
 * blocks at random (a server's buffers, larson's 8..8000-byte replacement)
 * meets an edge on most operations: the free into a FULL pool moves it back
 * to usedpools, the malloc that takes its one block files it FULL again.
 * A stacked block leaves its pool's count alone: the pool stays full, and
 * the next malloc of the class takes the block back without touching it.
 * tcmalloc's and jemalloc's thread caches are such stacks in front of
 * their central lists (snmalloc and mimalloc free into the page instead).
 *
 * What a stacked block is: free to the program, out to its pool (counted
 * by the pool's count, so no path that hands pools away takes its pool:
 * those that could, collect, thread exit and a lender, flush the stacks
 * first), and marked free (the free key, and a link: the block below it,
 * or NULL), so that a second
 * free of it, by any thread, and realloc of it, abort as for any free
 * block. Statistics count it free (stats.c).
 *
 * Bounds: obmt_bstack_cap[c] blocks a class (pool.c: OBMT_BSTACK_DEPTH, or
 * OBMT_BSTACK_CLASS_BYTES of blocks for the larger classes). A stacked
 * block keeps its pool from emptying, so an idle thread's stacks would hold
 * pools: a lender flushes them (lend.c), and so does every collect.
 *
 * Layout: a stack is linked through its blocks' first words from
 * h->btop[c]; free counts its pushes in bstack_pushes[c] and malloc its
 * pops in bstack_pops[c], and the depth is their difference (internal.h,
 * "bstack.c", says why not an array of slots in the heap, and why two
 * counters).
 *
 * Concurrency: the stacks are the owner's, written inside its busy region
 * (free's local path enters it for them: lend.c, "The owner's free"), or a
 * lender's while it holds the heap. The counters are stored relaxed,
 * because the statistics walk reads them from other threads.
 */
#include "internal.h"

static void flush(struct heap *h, bool lent)
{
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        block *b;
        while ((b = h->btop[c]) != NULL) {
            bstack_unlink(h, c, b); /* off the stack before it is on a list */
            pool_header *p = pool_of(b);
            if (unlikely(obmt_load_relaxed(&p->owner) != h))
                os_fatal("bstack: the block at", b, "is stacked in a heap that does not own its pool");
            heap_free_owner(h, p, b, lent);
        }
    }
}

void bstack_flush(struct heap *h)
{
    flush(h, false);
}

void bstack_flush_lent(struct heap *h)
{
    flush(h, true);
}

void bstack_drop(struct heap *h)
{
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        obmt_store_relaxed(&h->bstack_pushes[c], (uint8_t)0);
        obmt_store_relaxed(&h->bstack_pops[c], (uint8_t)0);
        h->btop[c] = NULL;
    }
}

void bstack_link_check(struct heap *h, size_t c, block *b, block *next)
{
    if (!next)
        return;
    pool_header *q = pool_header_readable(next) ? pool_of(next) : NULL;
    if (!q || obmt_load_relaxed(&q->owner) != h || obmt_load_relaxed(&q->szidx) != c || !pool_is_carved_block(q, next))
        block_link_corrupt(b);
}

void *bstack_ticked_leave(struct heap *h, block *b)
{
    h->bstack_ticks = OBMT_BSTACK_TICK_POPS;
    heap_ticked(h); /* (its collect may flush the stacks: b is off them already) */
    lend_leave();
    return b;
}
