/*
 * pool.c: size classes, setting a pool up for a class, and the pool's
 * remote-free list (push of a chain by any thread, take-all by the owner).
 */
#include "internal.h"

#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- size classes -----------------------------------------------------------
 * Everything here is a constant expression: no table is filled at run time,
 * so malloc can classify a request before obmt is initialised. */

#define COARSE_SIZE(j) OBMT_COARSE(OBMT_COARSE_K(j))
/* The smallest coarse class that holds x bytes (x <= OBMT_SMALL_MAX). */
#define CO(x, j) ((x) <= COARSE_SIZE(j) ? (j) :
#define COARSE_OF(x) (CO(x, 0) CO(x, 1) CO(x, 2) CO(x, 3) CO(x, 4) CO(x, 5) CO(x, 6) CO(x, 7) \
                      CO(x, 8) CO(x, 9) CO(x, 10) CO(x, 11) CO(x, 12) CO(x, 13) 14)))))))))))))))
#define CLASS_SIZE(c) ((c) < OBMT_NFINE ? ((c) + 1) << OBMT_ALIGN_SHIFT : COARSE_SIZE((c) - OBMT_NFINE))
/* Class of a request of ((i + 1) * 16) bytes; entries past OBMT_SMALL_MAX unused. */
#define CLASS_OF(i) ((i) < OBMT_NFINE ? (i) : OBMT_NFINE + COARSE_OF(((i) + 1) << OBMT_ALIGN_SHIFT))
#define X256(M, i) X64(M, i), X64(M, i + 64), X64(M, i + 128), X64(M, i + 192)

#define X4(M, i) M(i), M(i + 1), M(i + 2), M(i + 3)
#define X16(M, i) X4(M, i), X4(M, i + 4), X4(M, i + 8), X4(M, i + 12)
#define X64(M, i) X16(M, i), X16(M, i + 16), X16(M, i + 32), X16(M, i + 48)

#define CLASS_OF_ENTRY(i) (uint8_t)(CLASS_OF(i) < OBMT_NCLASSES ? CLASS_OF(i) : 0)
const uint8_t obmt_class_of[512] = { X256(CLASS_OF_ENTRY, 0), X256(CLASS_OF_ENTRY, 256) };
#define CLASS_SIZE_ENTRY(c) (uint32_t)((c) < OBMT_NCLASSES ? CLASS_SIZE(c) : 0)
const uint32_t obmt_class_size[64] = { X64(CLASS_SIZE_ENTRY, 0) };
/* The block stack's room per class (bstack.c): OBMT_BSTACK_DEPTH blocks, or
 * fewer where they would pass OBMT_BSTACK_CLASS_BYTES; at least one. */
#define BSTACK_BY_BYTES(c, bytes) ((bytes) / CLASS_SIZE(c) ? (bytes) / CLASS_SIZE(c) : 1)
#define BSTACK_BLOCKS(c, bytes) (uint8_t)((c) < OBMT_NCLASSES ? \
    (BSTACK_BY_BYTES(c, bytes) < OBMT_BSTACK_DEPTH ? BSTACK_BY_BYTES(c, bytes) : OBMT_BSTACK_DEPTH) : 0)
#define BSTACK_CAP(c) BSTACK_BLOCKS(c, OBMT_BSTACK_CLASS_BYTES)
const uint8_t obmt_bstack_cap[64] = { X64(BSTACK_CAP, 0) };
/* ... and the most a grown stack may hold (bstack_grow):
 * OBMT_BSTACK_GROWN_CLASS_BYTES of blocks, within OBMT_BSTACK_DEPTH. */
#define BSTACK_GROWN_CAP(c) BSTACK_BLOCKS(c, OBMT_BSTACK_GROWN_CLASS_BYTES)
const uint8_t obmt_bstack_grown_cap[64] = { X64(BSTACK_GROWN_CAP, 0) };

/* pool_class_recip[c] = floor(2^32 / size(c)) + 1: the multiplier of block
 * keys (internal.h), which needs s * m > 2^32 also for powers of two. */
#define RECIP(c) (uint32_t)((c) < OBMT_NCLASSES ? ((uint64_t)1 << 32) / (uint64_t)(CLASS_SIZE(c) ? CLASS_SIZE(c) : 1) + 1 : 0)
const uint32_t pool_class_recip[64] = { X64(RECIP, 0) };

/* Secure mode: the blocks that start in one carving page go on the free
 * list in a random order (Fisher-Yates, with a per-thread xorshift seeded
 * from the free key and the thread), so that the next block's address
 * cannot be told from the last one's. *off moves past the blocks carved. */
static OBMT_TLS uint64_t carve_rng;
static uint64_t mix64(uint64_t x);

void pool_atfork_child(void)
{
    carve_rng = 0; /* the child's order is not its parent's */
}
static block *carve_shuffled(char *base, uint32_t *off, uint32_t size, uint32_t page_end, uint32_t max,
                             uintptr_t key)
{
    uint16_t order[OBMT_CARVE_PAGE / OBMT_ALIGNMENT + 1];
    uint32_t n = 0;
    for (uint32_t o = *off; o < page_end && o <= max; o += size)
        order[n++] = (uint16_t)o;
    *off = order[n - 1] + size;
    /* Seeded per thread from the link key (not the free key, which free
     * blocks carry), the thread and the process (a fork child draws anew). */
    uint64_t x = carve_rng ? carve_rng
                           : mix64(obmt_load_relaxed(&g_hot.link_key) ^ mix64((uintptr_t)&carve_rng ^ ((uint64_t)getpid() << 32)));
    for (uint32_t i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t j = (uint32_t)(((x >> 32) * (uint64_t)(i + 1)) >> 32); /* 0..i */
        uint16_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    carve_rng = x ? x : 1;
    for (uint32_t i = 0; i < n; i++)
        block_set_free((block *)(base + order[i]), i + 1 < n ? (block *)(base + order[i + 1]) : NULL, key);
    return (block *)(base + order[0]);
}

void pool_carve(pool_header *p)
{
    /* Carve every block that starts in the page of the next virgin block:
     * that page is touched by the first of them anyway, so memory is still
     * never touched before a block in it is handed out, and the fast path
     * comes here once per page instead of once per block. */
    uint32_t off = p->nextoffset, size = p->size, max = p->maxnextoffset;
    uint32_t page_end = (off | (OBMT_CARVE_PAGE - 1)) + 1;
    char *base = pool_mem(p);
    uintptr_t key = free_key(); /* a carved block is free: freeing it is a fault */
    block *head;
    if (OBMT_SECURE) {
        head = carve_shuffled(base, &off, size, page_end, max, key);
    } else {
        block *b = head = (block *)(base + off);
        for (off += size; off < page_end && off <= max; off += size) {
            block *nb = (block *)(base + off);
            block_set_free(b, nb, key);
            b = nb;
        }
        block_set_free(b, NULL, key);
    }
    p->nextoffset = (uint16_t)off;
    /* The key of the next virgin block: (off - overhead) is a multiple of
     * the size, so this is (blocks carved) * delta (internal.h). */
    obmt_store_relaxed(&p->carved_bound, (off - OBMT_POOL_OVERHEAD) * p->recip);
    LIST_ORDER(); /* (the links before the list: fork) */
    p->freeblock = head;
}

/* ---- free keys ----------------------------------------------------------------
 * (internal.h, struct block.) The key is made once, before any block exists:
 * the kernel's 16 random bytes for the process (AT_RANDOM: no system call,
 * no allocation), folded, made odd. A fork child keeps its parent's, as it
 * keeps the parent's free blocks. */
static uint64_t mix64(uint64_t x) /* splitmix64's finaliser */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

void pool_init_process(void)
{
    /* getrandom (a system call, no allocation), not AT_RANDOM alone: those
     * bytes are also glibc's stack canary and pointer guard, which a leaked
     * key must not give away. Without it (an old kernel, a seccomp filter),
     * AT_RANDOM, the clock and addresses, hashed. */
    uint64_t w[4] = { 0, 0, (uintptr_t)&w, os_now_ms() };
    if (getrandom(w, 2 * sizeof w[0], GRND_NONBLOCK) != (ssize_t)(2 * sizeof w[0])) {
        const void *r = (const void *)getauxval(AT_RANDOM); /* 16 bytes, not aligned */
        if (r)
            memcpy(w, r, 2 * sizeof w[0]);
        w[0] ^= mix64(w[2] ^ mix64(w[3]));
    }
    uint64_t k0 = mix64(w[0] ^ mix64(w[1])), k1 = mix64(k0 ^ w[1] ^ 0x9e3779b97f4a7c15u);
    obmt_store_relaxed(&g_hot.free_key, (uintptr_t)(k0 | 1));
    if (OBMT_SECURE) /* a second secret for the links: reading free_key out of a free block tells nothing of it */
        obmt_store_relaxed(&g_hot.link_key, (uintptr_t)(k1 | 1));
}

#if OBMT_TEST_HOOKS
void (*pool_pop_test_hook)(pool_header *p, block *b);
void (*pool_hint_test_hook)(const block *b, uintptr_t hint);
#endif

void block_link_corrupt(const block *b)
{
    os_fatal("free list corrupted at", b, "a free block's link was overwritten (a write after free, or an overflow)");
}

void block_keyed_check(const pool_header *p, block *b, const char *what)
{
    /* A free block links to NULL or to a carved block of its pool (a free
     * list, a remote list or batch, or a carving are all chains of one
     * pool), or, stacked (bstack.c), to a block of the same class in
     * another pool of the same owner. Anything else in the first word is
     * the program's data. The other pool's header is read only if the
     * window holds the link (headers stay mapped: window.c); its owner
     * and class are compared relaxed, as a racing reuse of that pool may
     * change them (then the block is taken for live, as before stacks). */
    block *n = block_next_raw(b);
    if (n && (pool_of(n) != p || !pool_is_block_start(p, n))) {
        if (!pool_header_readable(n))
            return; /* a live block whose second word is the secret by chance */
        pool_header *q = pool_of(n);
        if (obmt_load_relaxed(&q->owner) != obmt_load_relaxed(&p->owner) ||
            obmt_load_relaxed(&q->szidx) != obmt_load_relaxed(&p->szidx) || !pool_is_block_start(q, n))
            return;
    }
    os_fatal(what, b, "the block is free already (freed before, or never handed out)");
}

/* A pool that held blocks of another class has the free key in the second
 * word of every block it carved then (count is 0: all were free), which
 * the new class's blocks would hand out in their interiors: a program that
 * moved such bytes to the start of a block would then be told it freed it
 * twice. Clear them, so that the key only ever sits in the second word of a
 * free block of the pool's class. A page that the reclaim pass purged reads
 * as zeros and is not written (reading maps the zero page, no memory). */
static void pool_clear_keys(pool_header *p)
{
    uintptr_t key = free_key();
    uint32_t old = p->size, end = p->nextoffset;
    char *base = pool_mem(p);
    VG_DEFINED(base, OBMT_POOL_USABLE);
    for (uint32_t off = 0; off < end && off + sizeof(block) <= OBMT_POOL_END; off += old) {
        block *b = (block *)(base + off);
        if (b->key == key)
            b->key = 0;
    }
}

void pool_reset_for_run(pool_header *p)
{
    if (p->size)
        pool_clear_keys(p);
    pool_mark_purged(p);
}

void pool_init(pool_header *p, unsigned c, struct heap *h)
{
    p->state = POOL_USED;
    obmt_store_relaxed(&p->nextpool, NULL); /* (relaxed: heap.c's list helpers) */
    p->prevpool = NULL;
    obmt_store_relaxed(&p->owner, h);
    /* obmalloc's shortcut: a pool that last held blocks of this class has
     * its header and free list ready (count is 0, every carved block is on
     * the free list). A purged or decommitted pool has size 0 (arena.c,
     * header_reset). */
    if (p->size == class_size(c) && p->szidx == c && p->freeblock != NULL)
        return;
    uint32_t size = (uint32_t)class_size(c);
    if (p->size && p->size != size)
        pool_clear_keys(p);
    obmt_store_relaxed(&p->szidx, (uint16_t)c); /* relaxed: statistics read it */
    p->size = size;
    p->recip = pool_class_recip[c];
    obmt_store_relaxed(&p->count, 0);
    p->nextoffset = (uint16_t)OBMT_POOL_OVERHEAD;
    p->maxnextoffset = (uint16_t)(OBMT_POOL_END - size);
    /* A pool is full exactly when all its blocks are out (count includes
     * the blocks on `remote`), so free's fast path tells "not full and not
     * about to empty" from count alone: count in [2, blocks - 1]. */
    p->count_span = class_blocks(c) - 2;
    _Static_assert(OBMT_POOL_USABLE / OBMT_SMALL_MAX >= 2, "count_span needs 2 blocks per pool");
    /* Under valgrind, no block of the pool is the program's yet. */
    VG_NOACCESS(pool_mem(p), OBMT_POOL_USABLE);
    pool_carve(p);
}

uint32_t pool_drain_remote(pool_header *p)
{
    /* The owner's flags are clear here (FULL is set only by the owner, on an
     * empty list, and any push clears it; an ARMED pool, whose FULL the
     * owner left set, is never drained), so taking the list leaves 0. */
    return pool_take_list(p, obmt_exchange_acquire(&p->remote, (uintptr_t)0));
}

uint32_t pool_take_list(pool_header *p, uintptr_t w)
{
    block *list = (block *)(w & REMOTE_PTR);
    uint32_t n = (uint32_t)(w >> REMOTE_COUNT_SHIFT);
    if (unlikely(w & REMOTE_RECLAIMED)) {
        /* Every block had come back and the reclaim pass purged the pages:
         * the pool is empty, its free list gone (pool_init starts over). */
        if (unlikely(list))
            os_fatal("free(): double free of", list, "its pool had every block freed already");
        n = obmt_load_relaxed(&p->count);
        if (unlikely(n != class_blocks(p->szidx))) /* the owner freed one of them again */
            os_fatal("free(): double free into the pool at", pool_mem(p), "its blocks had all been freed by other threads");
        obmt_store_relaxed(&p->count, 0);
        pool_mark_purged(p); /* every page is gone: no free list, nothing to clear */
        return n;
    }
    if (!list)
        return 0;
    if (unlikely(n > p->count))
        os_fatal("free(): double free of", list, "more blocks freed by other threads than its pool has in use");
    obmt_count_add(&p->count, -n);
    if (!p->freeblock) { /* malloc's refill: the list is the free list as it is */
        p->freeblock = list;
        return n;
    }
    /* The walk to the tail is bounded by the count the word carries: a
     * list longer than that (a cycle: a block freed twice with others in
     * between) or shorter is a corrupted one, reported, not followed. */
    block *tail = list;
    uint32_t k = 1;
    for (block *nx; (nx = block_next(p, tail)) != NULL; tail = nx)
        if (unlikely(++k > n))
            os_fatal("free(): double free or corruption in the pool at", pool_mem(p),
                     "its remote list is longer than its count (a block freed twice)");
    if (unlikely(k != n))
        os_fatal("free(): double free or corruption in the pool at", pool_mem(p), "its remote list is shorter than its count");
    block_set_next(tail, p->freeblock);
    LIST_ORDER(); /* (the tail's link before the list: fork) */
    p->freeblock = list;
    return n;
}

uintptr_t pool_push_remote(pool_header *p, block *head, block *tail, uint32_t n)
{
    uintptr_t old = obmt_load_relaxed(&p->remote);
    uintptr_t nw;
    do {
        block *top = (block *)(old & REMOTE_PTR);
        if (unlikely(top == head))
            os_fatal("free(): double free of", head, "it is already on its pool's remote list");
        block_set_next(tail, top);
        /* Pushing clears FULL: the pusher that clears it hands the pool back
         * to its owner. ABANDONED stays for the adopter to see. */
        nw = ((old & ~REMOTE_PTR & ~REMOTE_FULL) + n * REMOTE_COUNT_ONE) | (uintptr_t)head;
        /* acq_rel: release publishes the chain's links and the user's
         * writes to the owner; acquire makes the freer that clears FULL (or
         * sees ABANDONED) see everything the owner did before setting it. */
    } while (!obmt_cas_acq_rel(&p->remote, &old, nw));
    return old & REMOTE_FLAGS;
}
