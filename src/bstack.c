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
 * OBMT_BSTACK_CLASS_BYTES of blocks for the larger classes), in
 * h->bstack_cap[c], which free reads beside the pops. A stacked block
 * keeps its pool from emptying, so an idle thread's stacks would hold
 * pools: a lender flushes them (lend.c), and so does every collect.
 *
 * Grown stacks. A thread that cycles more blocks of a class than its
 * stack holds (a burst of N mallocs, then N frees) sends the rest through
 * their pools each round, about 8 instructions more a block and a pool
 * edge every few dozen (fastpath_batch/1024: 192 of each 256 blocks, with
 * a stack of 64). The sign is a free that finds the stack full after a
 * malloc of the class found it empty (malloc's pool path copies
 * bstack_growable[c], 0 for a class that is off or at its grown bound,
 * into bstack_under[c]: a load and a store); bstack_grow then doubles the
 * class's bound,
 * up to obmt_bstack_grown_cap[c] (OBMT_BSTACK_GROWN_CLASS_BYTES of blocks,
 * within OBMT_BSTACK_DEPTH and the OBMT_BLOCK_STACK option) while the
 * heap's stacks have grown by at most OBMT_BSTACK_GROWN_BYTES in all, and
 * the free pushes. Each flush (every collect, exit, a lender) puts the
 * bounds back (bstack_reset): a grown stack lasts one collect period, and
 * a class that still cycles grows again in a round or two. tcmalloc's
 * thread cache grows a free list's length when its mallocs find it empty,
 * within the thread's cache budget, much the same way. What it costs: the
 * pools a grown stack pins until the next collect (one a block at most:
 * docs/design.md, "General bound").
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

#include <string.h>

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

/* The most class c's stack may grow to in h: its grown bound, within
 * OBMT_BLOCK_STACK. */
static unsigned grown_max(const struct heap *h, size_t c)
{
    return obmt_bstack_grown_cap[c] < h->bstack_limit ? obmt_bstack_grown_cap[c] : h->bstack_limit;
}

void bstack_reset(struct heap *h)
{
    /* No block stack where idle heaps cannot be lent (OBMT_LEND_IDLE=0, no
     * membarrier): nothing else would flush an idle thread's stacks, whose
     * blocks keep their pools from emptying. */
    long depth = lend_available() && option_get(OPT_LEND_IDLE) ? option_get(OPT_BLOCK_STACK) : 0;
    h->bstack_limit = (uint8_t)depth;
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        h->bstack_cap[c] = (uint8_t)(depth < obmt_bstack_cap[c] ? depth : obmt_bstack_cap[c]);
        h->bstack_growable[c] = h->bstack_cap[c] != 0 && h->bstack_cap[c] < grown_max(h, c);
    }
    memset(h->bstack_under, 0, sizeof h->bstack_under);
    h->bstack_grown_bytes = 0;
}

bool bstack_grow(struct heap *h, size_t c)
{
    h->bstack_under[c] = 0;
    unsigned cap = h->bstack_cap[c];
    unsigned max = grown_max(h, c);
    if (cap == 0 || cap >= max) {
        h->bstack_growable[c] = 0;
        return false; /* (off, or grown as far as it may) */
    }
    unsigned want = 2 * cap < max ? 2 * cap : max;
    size_t size = class_size(c);
    size_t room = (OBMT_BSTACK_GROWN_BYTES - h->bstack_grown_bytes) / size;
    if (want - cap > room)
        want = cap + (unsigned)room;
    if (want == cap)
        return false; /* (the heap's stacks have grown as far as they may for now) */
    h->bstack_grown_bytes += (uint32_t)((want - cap) * size);
    h->bstack_cap[c] = (uint8_t)want;
    h->bstack_growable[c] = want < max;
    return true;
}

void bstack_flush(struct heap *h)
{
    flush(h, false);
    bstack_reset(h);
}

void bstack_flush_lent(struct heap *h)
{
    flush(h, true);
    bstack_reset(h);
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
