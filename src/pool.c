/*
 * pool.c: size classes, setting a pool up for a class, and the pool's
 * remote-free list (push by any thread, take-all by the owner).
 */
#include "internal.h"

/* pool_class_recip[c] = ceil(2^32 / size(c)) (plus one when size(c) is a
 * power of two, which only adds to the slack): the exact-division test of
 * pool_offset_is_block in internal.h. */
#define RECIP(c) (uint32_t)(((uint64_t)1 << 32) / ((uint64_t)((c) + 1) << OBMT_ALIGN_SHIFT) + 1)
#define R4(c) RECIP(c), RECIP(c + 1), RECIP(c + 2), RECIP(c + 3)
#define R16(c) R4(c), R4(c + 4), R4(c + 8), R4(c + 12)
#define R64(c) R16(c), R16(c + 16), R16(c + 32), R16(c + 48)
const uint32_t pool_class_recip[64] = { R64(0) };
_Static_assert(OBMT_NCLASSES <= 64, "pool_class_recip covers 64 classes");

void pool_carve(pool_header *p)
{
    /* Carve every block that starts in the page of the next virgin block:
     * that page is touched by the first of them anyway, so memory is still
     * never touched before a block in it is handed out, and the fast path
     * comes here once per page instead of once per block. */
    uint32_t off = p->nextoffset, size = p->size, max = p->maxnextoffset;
    uint32_t page_end = (off | (OBMT_CARVE_PAGE - 1)) + 1;
    char *base = (char *)p;
    block *head = (block *)(base + off), *b = head;
    for (off += size; off < page_end && off <= max; off += size) {
        block *nb = (block *)(base + off);
        b->next = nb;
        b = nb;
    }
    b->next = NULL;
    p->nextoffset = (uint16_t)off;
    p->freeblock = head;
}

void pool_init(pool_header *p, unsigned c, struct heap *h)
{
    p->state = POOL_USED;
    p->in_cache = 0;
    p->nextpool = p->prevpool = NULL;
    obmt_store_relaxed(&p->owner, h);
    /* obmalloc's shortcut: a pool that last held blocks of this class has
     * its header and free list ready (count is 0, every carved block is on
     * the free list). A decommitted pool reads as zeros: size 0. */
    if (p->size == class_size(c) && p->szidx == c && p->freeblock != NULL)
        return;
    uint32_t size = (uint32_t)class_size(c);
    p->szidx = (uint16_t)c;
    p->size = size;
    p->recip = pool_class_recip[c];
    p->count = 0;
    p->nextoffset = OBMT_POOL_OVERHEAD;
    p->maxnextoffset = (uint16_t)(OBMT_POOL_SIZE - size);
    pool_carve(p);
}

uint32_t pool_drain_remote(pool_header *p)
{
    /* The owner's flags are clear here (FULL is set only by the owner, on an
     * empty list, and any push clears it), so taking the list leaves 0. */
    uintptr_t w = obmt_exchange_acquire(&p->remote, (uintptr_t)0);
    return pool_take_list(p, (block *)(w & ~REMOTE_FLAGS));
}

uint32_t pool_take_list(pool_header *p, block *list)
{
    if (!list)
        return 0;
    uint32_t n = 0;
    block *tail = list;
    for (;;) {
        if (unlikely(!pool_is_carved_block(p, tail)))
            os_fatal("free(): invalid pointer", tail, "freed by another thread, not a block in use");
        if (unlikely(++n > p->count))
            os_fatal("free(): double free of", tail, "freed by another thread after its pool had no block left in use");
        if (!tail->next)
            break;
        tail = tail->next;
    }
    tail->next = p->freeblock;
    p->freeblock = list;
    p->count -= n;
    return n;
}

uintptr_t pool_push_remote(pool_header *p, block *b)
{
    uintptr_t old = obmt_load_relaxed(&p->remote);
    uintptr_t nw;
    do {
        b->next = (block *)(old & ~REMOTE_FLAGS);
        /* Pushing clears FULL: the pusher that clears it hands the pool back
         * to its owner. ABANDONED stays for the adopter to see. */
        nw = (uintptr_t)b | (old & REMOTE_ABANDONED);
        /* acq_rel: release publishes b->next and the user's writes to the
         * owner; acquire makes the freer that clears FULL (or sees
         * ABANDONED) see everything the owner did before setting it. */
    } while (!obmt_cas_acq_rel(&p->remote, &old, nw));
    return old & REMOTE_FLAGS;
}
