/*
 * api.c: the public entry points. obmt_* always; malloc, free and friends
 * too when built as libobmt-override (OBMT_OVERRIDE), as aliases of the same
 * functions, so both symbol sets run one body of code.
 *
 * The fast paths are here: malloc pops the top block of the calling
 * thread's block stack for the class (bstack.c), or else the head block of
 * the head pool of its usedpools[class]; free of a block whose pool the
 * calling thread owns pushes it on that stack, or on the pool's free list
 * when the stack is full. Neither takes a lock or does an atomic
 * read-modify-write. Both bracket their work on the heap with
 * lend_enter/lend_leave (two plain stores: lend.c), read the heap once
 * there (heap_self) and pass it down; free's paths for blocks of other
 * heaps (remote and medium) go on inside the same busy region with that
 * heap, and those that need no heap (huge, foreign) leave first. A slow path
 * that meets &heap_lending (a lender holds the heap) does without it and
 * never waits: a malloc is served as for a thread without a heap
 * (malloc_heapless), a free is handed over as such a thread hands blocks
 * over.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static inline bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* A small request that its thread's heap cannot serve: the heap is lent
 * for a moment (lend.c), the thread has none (its heap was torn down and a
 * later thread-specific-data destructor allocates; the allocation inside
 * pthread_setspecific while the heap is being set up; no heap could be
 * mapped), or obmt is not initialised. obmt still serves it, without a heap:
 * a medium block of the smallest span class that holds it (5 to 8 KiB),
 * taken straight from a span arena (span.c), which any thread may free.
 * It costs a pool of its own (32 KiB of address space, the pages the
 * program writes: one for a small block) and an arena take (about 2.5 us
 * here, against 56 ns from a heap; 20,000 live 64-byte blocks held 81 MiB
 * resident): fine for what it serves, which is rare (a lend lasts one
 * collect; a thread past its heap is exiting), not for a program that
 * allocates much in its last destructors and keeps it.
 *
 * While another thread initialises obmt (microseconds, once), the
 * bootstrap area serves (large.c); if obmt could not start, or the window
 * and the OS refuse memory, the underlying allocator does (its blocks go
 * back to it by address). Those are the only blocks obmt passes on. */
static OBMT_NOINLINE void *malloc_heapless(size_t n)
{
    void *p;
    if (likely(obmt_ensure_init()))
        p = span_malloc(n, 0, false); /* (the underlying allocator if no arena is to be had) */
    else
        p = large_malloc(n); /* (the bootstrap area while init runs) */
    if (!p)
        errno = ENOMEM;
    return p;
}

/* Inside lend_enter; leaves. h is what the fast path read (maybe
 * &heap_empty or &heap_lending: heap_malloc_slow deals with both). */
static OBMT_NOINLINE void *malloc_small_slow(struct heap *h, size_t n)
{
    void *p = heap_malloc_slow(h, size_class(n));
    lend_leave();
    if (p)
        return VG_ALLOC(p, pool_of(p)->size);
    /* The thread had a heap (as the fast path read it, or just taken):
     * no arena could give it a pool (the window full, the OS refusing
     * memory). A span would be refused as well, and each try may cost a
     * fresh slot (found by stress_oom: failed commits used up arena
     * slots): the underlying allocator may still serve, as ever. (A
     * lender that takes the heap right now makes this a heapless try.) */
    struct heap *now = h == &heap_empty ? heap_self() : h;
    if (now != &heap_empty && now != &heap_lending) {
        p = large_malloc(n);
        if (!p)
            errno = ENOMEM;
        return p;
    }
    return malloc_heapless(n);
}

/* Requests above OBMT_MEDIUM_MAX: a huge block, or (reservation exhausted,
 * OS refusing memory) whatever the underlying allocator can do. */
static OBMT_NOINLINE void *malloc_huge(size_t n, bool zero)
{
    void *p = huge_malloc(n, zero);
    if (likely(p != NULL))
        return p;
    return zero ? large_calloc(1, n) : large_malloc(n);
}

/* malloc(0), and requests above OBMT_MEDIUM_MAX (obmt_malloc takes the
 * medium ones to span_malloc_plain itself). */
static OBMT_NOINLINE void *malloc_other(size_t n)
{
    if (n == 0)
        return obmt_malloc(1); /* a unique pointer: the 16-byte class */
    if (unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc_huge(n, false);
}

OBMT_FAST_ENTRY void *obmt_malloc(size_t n)
{
    /* Every pool class through the table, fine and coarse alike: one load
     * (and the table's address) instead of a test that a mix of sizes
     * mispredicts. With sizes drawn from 8..1000 bytes, the test of
     * m < OBMT_FINE_MAX went wrong on half the calls: fastpath_replace/500
     * (500 blocks, each item replaces a random one) ran at 83 M items/s
     * with it, 129 M without (docs/design.md, "malloc's class"). */
    size_t m = n - 1; /* 0 wraps around and takes the other path */
    if (likely(m < OBMT_SMALL_MAX)) {
        size_t c = obmt_class_of[m >> OBMT_ALIGN_SHIFT];
        lend_enter();
        struct heap *h = heap_self();
        block *b = h->btop[c];
        if (likely(b != NULL)) { /* a block this thread freed (bstack.c) */
            bstack_pop(h, c, b);
            if (unlikely(--h->bstack_ticks == 0))
                return VG_ALLOC(bstack_ticked_leave(h, b), class_size(c));
            lend_leave();
            return VG_ALLOC(b, class_size(c));
        }
        pool_header *p = h->usedpools[c];
        if (likely(p != NULL)) {
            bstack_note_under(h, c); /* (a real heap: it owns p) */
            return VG_ALLOC(pool_pop_leave(h, p), p->size); /* p has the block out: it stays ours */
        }
        return malloc_small_slow(h, n);
    }
    if (likely(m < OBMT_MEDIUM_MAX))
        return span_malloc_plain(n); /* a medium block, from the span cache first */
    return malloc_other(n);
}

void *api_malloc(size_t n)
{
    return obmt_malloc(n);
}

static OBMT_NOINLINE noreturn void free_invalid(pool_header *p, block *b)
{
    if (obmt_load_relaxed(&p->count) == 0)
        os_fatal("free(): double free of", b, "its pool has no block in use");
    os_fatal("free(): invalid pointer", b, "not the start of a block in use");
}

/* Push b on the owner's free list of p (fb its head) and store the new
 * count: with release, the last write of free's fast path to the pool (a
 * lender's acquire load of count pairs with it: lend.c). A plain mov on
 * x86-64, stlr on arm64. */
static inline void free_push_local(pool_header *p, block *b, block *fb, uint32_t count, uintptr_t key)
{
    block_set_free(b, fb, key);
    LIST_ORDER(); /* (b's link before b is on the list: fork) */
    p->freeblock = b;
    obmt_store_release(&p->count, count);
}

/* The owner's free when the fast path's test of count fails: the pool is
 * full (count = blocks per pool, freeblock NULL), this is its last block
 * out (count 1), or it has none out (count 0: a double free). Also right
 * for any other count (free_owner_checked). Inside lend_enter. */
static OBMT_NOINLINE void free_owner_edge(struct heap *h, pool_header *p, block *b)
{
    if (obmt_load_relaxed(&p->count) == 0)
        free_invalid(p, b);
    if (heap_free_owner(h, p, b, false))
        heap_tick(h); /* a pool emptied (filed, or the sole one of its class kept) */
}

/* The owner's free when the fast path's block test fails: b is not a
 * carved block of p (abort), or it carries the free key (abort, unless a
 * live block holds the secret by chance: then it is freed). Inside
 * lend_enter. */
static OBMT_NOINLINE void free_owner_checked(struct heap *h, pool_header *p, block *b)
{
    if (!pool_is_carved_block(p, b))
        free_invalid(p, b);
    block_keyed_check(p, b, "free(): double free of");
    if (!bstack_try_push_grown(h, p, b, free_key())) /* a live block: freed as the fast path would */
        free_owner_edge(h, p, b);
}

/* The owner's free that found its class's stack full after a malloc of the
 * class found it empty (bstack_under): onto the stack, grown, or to the
 * pool. Inside lend_enter; leaves. */
static OBMT_NOINLINE void free_owner_grow_leave(pool_header *p, struct heap *h, block *b)
{
    if (!bstack_try_push_grown(h, p, b, free_key()))
        free_owner_edge(h, p, b); /* (right for any count) */
    lend_leave();
}

/* free's slow halves on the owner's side, called from its fast path inside
 * lend_enter: each takes its path and leaves. The fast path reaches them by
 * a tail call and needs no stack frame (the pool first: the fast path
 * computes it in the first argument's register). */
static OBMT_NOINLINE void free_owner_checked_leave(pool_header *p, struct heap *h, block *b)
{
    free_owner_checked(h, p, b);
    lend_leave();
}

static OBMT_NOINLINE void free_owner_edge_leave(pool_header *p, struct heap *h, block *b)
{
    free_owner_edge(h, p, b);
    lend_leave();
}

/* A pointer below committed_end whose header reads no owner and whose slot
 * obmt has not mapped: somebody else's mapping in a HOLE (theirs), or
 * nothing mapped at all: an arena the purge unmapped after its last block
 * went (window.c), so a block freed already, or a pad or a failed slot
 * never handed out. One system call, on an error path only. */
static void check_unmapped_arena(const void *p, const char *what)
{
    if (!os_is_mapped(p))
        os_fatal(what, p, "its pool is free (a double free?)");
}

/* A header that reads no owner: a block of a free pool (a double or wild
 * free, which heap_free_remote_leave reports), or somebody else's mapping in a HOLE
 * of the window, whose zero headers are obmt's (window.c). Inside
 * lend_enter with h the heap read there; leaves. */
static OBMT_NOINLINE void free_owner_null_leave(pool_header *p, struct heap *h, block *b)
{
    if (!window_owns(b)) {
        lend_leave();
        check_unmapped_arena(b, "free(): invalid pointer");
        large_free(b);
        return;
    }
    heap_free_remote_leave(p, h, b);
}

/* A block whose pool the heap the fast path read (h, inside lend_enter)
 * does not own, nor a span (free_in_arena sends those to span_free_leave):
 * a huge block, a free pool's or a HOLE's header (owner NULL), a remote
 * free into the heap's batches, or h was &heap_lending. Leaves. */
static OBMT_NOINLINE void free_not_owner_leave(pool_header *p, struct heap *h, block *b)
{
    struct heap *o = obmt_load_relaxed(&p->owner);
    if (unlikely(o == OWNER_HUGE)) {
        lend_leave();
        huge_free(p, b); /* (its kept run: lend_enter there) */
        return;
    }
    if (unlikely(o == NULL)) {
        free_owner_null_leave(p, h, b); /* (a call of its own: the paths above stay tail calls) */
        return;
    }
    heap_free_remote_owned_leave(p, h, b); /* (a remote free: p's owner is another heap) */
}

/* free of a pointer whose header is readable: below committed_end (in a
 * HOLE too: free_not_owner_leave passes that on), or in a slot obmt mapped. */
static inline __attribute__((always_inline)) void free_in_arena(void *ptr)
{
    VG_FREE(ptr);
    pool_header *p = pool_of(ptr);
    block *b = ptr;
    /* Inside the busy region, all of it: the block stacks are heap state,
     * which a lender flushes (lend.c, "The owner's free"). */
    lend_enter();
    struct heap *h = heap_self();
    struct heap *o = obmt_load_relaxed(&p->owner);
    if (likely(o == h)) {
        /* One test for an interior pointer, the header and an uncarved
         * block (pool_block_key), one for a block that is free already
         * at any depth of any list or stack, or carved and never handed
         * out (the free key); free_owner_checked tells them apart. */
        uintptr_t key = free_key();
        if (unlikely(!pool_is_carved_block(p, b) || block_has_key(b, key))) {
            free_owner_checked_leave(p, h, b);
            return;
        }
        /* Onto its class's block stack while it has room (bstack.c): the
         * pool is not touched, whatever its count. */
        if (likely(bstack_try_push(h, p, b, key))) {
            lend_leave();
            return;
        }
        /* The stack is full: grown if a malloc of the class found it empty
         * since it last grew (bstack.c, "Grown stacks"), a tail call. */
        if (unlikely(h->bstack_under[p->szidx])) {
            free_owner_grow_leave(p, h, b);
            return;
        }
        /* One test for the three edges (count_span, pool.c): full, last
         * block out, none out. Between them freeblock is not NULL. */
        uint32_t count = obmt_load_relaxed(&p->count);
        if (likely(count - 2 < p->count_span)) {
            free_push_local(p, b, p->freeblock, count - 1, key);
            lend_leave();
            return;
        }
        free_owner_edge_leave(p, h, b);
        return;
    }
    /* A medium block: straight to its cache, with the owner word this
     * test has read (through free_not_owner_leave it had cost a jump and
     * a second load and test: 53 -> 51 instructions a 64 KiB free; the
     * other cases pay what they paid, one test here instead of there). */
    if (likely(o == OWNER_SPAN)) {
        span_free_leave(p, h, b); /* into the heap's span cache, or its arena */
        return;
    }
    free_not_owner_leave(p, h, b); /* (still inside) */
}

/* Not below committed_end: a block of a slot that is ready above a slower
 * taker's gap (window.c), or the underlying allocator's. */
static OBMT_NOINLINE void free_outside(void *ptr)
{
    if (window_owns(ptr))
        free_in_arena(ptr);
    else
        large_free(ptr);
}

OBMT_FAST_ENTRY void obmt_free(void *ptr)
{
    if (likely(arena_contains(ptr))) {
        free_in_arena(ptr);
        return;
    }
    if (ptr)
        free_outside(ptr);
}

void *obmt_calloc(size_t count, size_t size)
{
    size_t total;
    if (unlikely(__builtin_mul_overflow(count, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (likely(total <= OBMT_SMALL_MAX)) {
        void *p = obmt_malloc(total);
        if (p)
            memset(p, 0, total);
        return p;
    }
    if (unlikely(total > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > OBMT_MEDIUM_MAX)
        return malloc_huge(total, true);
    return span_malloc(total, 0, true);
}

/* Bytes usable in an obmt block: its class size. */
static inline size_t small_usable(const void *p) { return pool_of(p)->size; }

static void check_live_small(const void *ptr, const char *what)
{
    pool_header *p = pool_of(ptr);
    if (unlikely(obmt_load_relaxed(&p->owner) == NULL))
        os_fatal(what, ptr, "its pool is free");
    if (unlikely(!pool_is_block_start(p, ptr)))
        os_fatal(what, ptr, "not the start of a block");
}

/* Move ptr (usable size old) into a new block for n bytes (n_alloc of
 * them: the caller's headroom) and free it. A medium block moved to: a
 * miss of the cache takes no batch (span_malloc_to_grow: the batch's spans
 * would sit right where the block grows next, and each growth would move
 * it again: realloc_mul15/1048576 1.6 M reallocs/s so). */
static void *realloc_move(void *ptr, size_t n, size_t n_alloc, size_t old)
{
    void *q = n_alloc > OBMT_SMALL_MAX && n_alloc <= OBMT_MEDIUM_MAX ? span_malloc_to_grow(n_alloc) : obmt_malloc(n_alloc);
    if (!q)
        return NULL; /* ptr is untouched */
    memcpy(q, ptr, n < old ? n : old);
    obmt_free(ptr);
    return q;
}

/* A pool block (usable size old, checked live) that does not keep its
 * place for n bytes (1 <= n <= PTRDIFF_MAX): kept anyway where a new block
 * would be of its class, else moved with headroom. */
static void *realloc_pool_block(void *ptr, size_t n, size_t old)
{
    /* Keep the block when the new size still fits and does not waste
     * more than half of it (obmalloc keeps it above 3/4; half avoids
     * copying on small shrinks), or when a new block would be of the
     * same class anyway (16 bytes down to 1). */
    if (n <= old && (n > old / 2 || class_size(size_class(n)) == old))
        return ptr; /* same block, same usable size: nothing to tell valgrind */
    if (n <= old)
        return realloc_move(ptr, n, n, old);
    size_t n_alloc = n;
    /* Growing: take at least a quarter more, so that a chain of small
     * growths (a string appended to) moves O(log n) times, not O(n). */
    if (n < old + old / 4 && old + old / 4 <= OBMT_SMALL_MAX)
        n_alloc = old + old / 4;
    /* Past OBMT_REALLOC_SPAN_MIN, or moved a second time in a row (a
     * chain, span_chain_slot): into a span, where it grows on in place
     * (tunables.h). */
    struct heap *h = heap_self();
    int slot = -1;
    if (n <= OBMT_REALLOC_SPAN_MIN && span_chain_continues(h, ptr)) /* (above: a span anyway, no chain's) */
        slot = h->chain.refused ? -2 : span_chain_slot(h);
    if ((n > OBMT_REALLOC_SPAN_MIN || slot >= 0) && n_alloc <= OBMT_SMALL_MAX)
        n_alloc = OBMT_SMALL_MAX + 1;
    if (slot < 0) {
        void *q = realloc_move(ptr, n, n_alloc, old);
        if (q)
            span_chain_moved(h, q, slot);
        return q;
    }
    void *q = span_malloc_chain(n_alloc);
    if (!q)
        return NULL; /* ptr is untouched */
    memcpy(q, ptr, old);
    obmt_free(ptr);
    span_chain_moved(h, q, slot);
    return q;
}

/* realloc, all cases; span_tried: ptr is a medium block that
 * span_resize_in_place could not keep (obmt_realloc tried). */
static OBMT_NOINLINE void *realloc_general(void *ptr, size_t n, bool span_tried)
{
    if (!ptr)
        return obmt_malloc(n);
    if (n == 0) {
        /* As glibc (REALLOC_ZERO_BYTES_FREES), jemalloc and tcmalloc: a
         * free, and NULL. Programs written for glibc use it so. */
        obmt_free(ptr);
        return NULL;
    }
    if (unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t old, n_alloc = n;
    /* obmt's: below committed_end and not in a HOLE, or above it in a slot
     * obmt mapped (window.c). A HOLE's header reads zero. */
    bool ours = pool_header_readable(ptr);
    struct heap *owner = ours ? obmt_load_relaxed(&pool_of(ptr)->owner) : NULL;
    if (unlikely(ours && owner == NULL) && !(ours = window_owns(ptr)))
        check_unmapped_arena(ptr, "realloc(): invalid pointer");
    if (ours && owner == OWNER_SPAN) {
        if (!span_tried && span_resize_in_place(pool_of(ptr), ptr, n))
            return ptr;
        old = span_usable(pool_of(ptr), ptr, "realloc(): invalid pointer");
        /* Past the medium sizes: a span alone at the start of its arena
         * becomes a huge block of that arena, which later grows in place
         * into the arenas after it (no copy from a medium to a huge
         * block: realloc_mul15/16777216). */
        if (n > OBMT_MEDIUM_MAX) {
            span_chain_outgrew();
            if (span_to_huge(pool_of(ptr), ptr, n))
                return ptr;
        }
        if (n > old && n <= PTRDIFF_MAX / 5 * 4) /* growing, the pools after it taken: a quarter more */
            n_alloc = n + n / 4;
        if (n <= OBMT_MEDIUM_MAX && n_alloc > OBMT_MEDIUM_MAX)
            n_alloc = OBMT_MEDIUM_MAX; /* (not a 2 MiB huge block for a quarter more) */
    } else if (ours && owner == OWNER_HUGE) {
        if (huge_resize_in_place(pool_of(ptr), ptr, n))
            return ptr;
        old = huge_usable(pool_of(ptr), ptr, "realloc(): invalid pointer");
        if (n > old && n <= PTRDIFF_MAX / 5 * 4) /* growing, the arenas after it taken: a quarter more */
            n_alloc = n + n / 4;
    } else if (ours) {
        check_live_small(ptr, "realloc(): invalid pointer");
        if (unlikely(!pool_is_carved_block_remote(pool_of(ptr), ptr)))
            os_fatal("realloc(): invalid pointer", ptr, "not a block its pool has handed out");
        if (unlikely(block_has_key_live(ptr, free_key()))) /* a freed block: its contents are gone */
            block_keyed_check(pool_of(ptr), ptr, "realloc(): invalid pointer");
        return realloc_pool_block(ptr, n, small_usable(ptr));
    } else if (n > OBMT_SMALL_MAX) {
        /* The underlying allocator's block (one from before obmt started,
         * or one it passed on when memory ran out) stays there: glibc
         * grows it in place or with mremap, where a move into obmt would
         * copy it. */
        return large_realloc(ptr, n);
    } else {
        old = large_usable_size(ptr); /* moving a large block into a pool */
    }
    return realloc_move(ptr, n, n_alloc, old);
}

/* A medium block: kept in place when span_resize_in_place can, else the
 * general path (a call of its own: the fast path below needs no frame). */
static OBMT_NOINLINE void *realloc_span(pool_header *p, void *ptr, size_t n)
{
    return span_resize_in_place(p, ptr, n) ? ptr : realloc_general(ptr, n, true);
}

void *obmt_realloc(void *ptr, size_t n)
{
    /* A medium block that keeps its place (a buffer grown a little at a
     * time: most steps stay in their class) without the general path's
     * frame: realloc_add16/65536 136 -> 100 instructions a step under
     * callgrind. arena_contains(NULL) is false. */
    if (likely(arena_contains(ptr) && n - 1 < OBMT_MEDIUM_MAX)) {
        pool_header *p = pool_of(ptr);
        struct heap *o = obmt_load_relaxed(&p->owner);
        if (o == OWNER_SPAN) {
            /* Most steps of a growing buffer stay in their class: kept
             * here, without realloc_span's call and frame (a chain of +16
             * byte steps up to 64 KiB under callgrind: 67 -> 51
             * instructions a step, the loop included; realloc_add16/65536
             * 247 -> 324 M reallocs/s, tcmalloc 269). */
            if (likely(span_keeps_class(p, ptr, n)))
                return ptr;
            /* A chain's span in the smallest class, at a size of the pool
             * classes: its first steps, each kept (span_resize_other_class's
             * rule) without its calls (realloc_add16/4096: 116 -> 56
             * instructions a step under callgrind, the loop included). */
            if (n <= OBMT_SMALL_MAX && span_live_start(p, ptr) && span_smallest(p) && span_chain_holds(heap_self(), ptr))
                return ptr;
            return realloc_span(p, ptr, n);
        }
        /* A pool's block (its owner a heap, or abandoned) that keeps its
         * place by realloc_general's rule (the new size fits its class and
         * uses more than half of it), once the same checks have passed: a
         * block the pool carved, not a free one. Without realloc_general's
         * frame and its three calls: realloc_add16/4096 (a buffer grown 16
         * bytes at a time, most steps in place) 90 -> 44 instructions a
         * step under callgrind. Anything else, errors too, goes on. */
        if (o != NULL && o != OWNER_HUGE) {
            uint32_t size = p->size;
            if (pool_is_carved_block_remote(p, ptr) && !block_has_key_live(ptr, free_key())) {
                if (n <= size && n > size / 2)
                    return ptr; /* same block, same usable size: nothing to tell valgrind */
                /* The checks passed: moved (or kept) without
                 * realloc_general's tests again (realloc_mul15/4096, a
                 * buffer grown by half each step, every step a move). */
                return realloc_pool_block(ptr, n, size);
            }
        }
    }
    return realloc_general(ptr, n, false);
}

void *obmt_reallocarray(void *ptr, size_t count, size_t size)
{
    size_t total;
    if (unlikely(__builtin_mul_overflow(count, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return obmt_realloc(ptr, total);
}

/* A block of class c from the calling thread's heap, or NULL. */
static void *class_block(unsigned c)
{
    lend_enter();
    struct heap *h = heap_self();
    pool_header *p = h->usedpools[c];
    void *b = p ? pool_pop(h, p) : heap_malloc_slow(h, c);
    lend_leave();
    return b ? VG_ALLOC(b, pool_of(b)->size) : NULL;
}

/* alignment is a power of two here. */
static void *aligned_malloc(size_t alignment, size_t n)
{
    if (alignment <= OBMT_ALIGNMENT)
        return obmt_malloc(n);
    /* 2^63 (what memalign rounds the largest alignments to): no address but
     * 0 and 2^63 has it. Refused here: sanitizers' allocators abort on it. */
    if (unlikely(n > PTRDIFF_MAX || alignment > ((size_t)1 << 62))) {
        errno = ENOMEM;
        return NULL;
    }
    /* Blocks sit at pool + k * size with pools 32 KiB-aligned, so a fine
     * class whose size is a multiple of the alignment gives blocks aligned
     * to it. */
    if (alignment <= OBMT_FINE_MAX && n <= OBMT_FINE_MAX) {
        size_t r = n ? (n + alignment - 1) & ~(alignment - 1) : alignment;
        if (r <= OBMT_FINE_MAX) { /* fine classes only: coarse sizes are not multiples of 64 */
            /* Only a pool block is aligned by placement: no fallback to the
             * underlying malloc here, which aligns to 16 only. */
            void *b = class_block(size_class(r));
            if (b)
                return b;
        }
    }
    /* Huge blocks are arena-aligned; runs from an aligned slot serve the
     * larger alignments. */
    if (n > OBMT_MEDIUM_MAX && alignment <= OBMT_ARENA_SIZE) {
        void *p = huge_malloc(n, false);
        if (p)
            return p;
    }
    if (alignment > OBMT_ARENA_SIZE) {
        void *p = huge_malloc_aligned(n, alignment);
        if (p)
            return p;
    }
    /* Coarse classes of a power-of-two size (1024 ... 8192 with 32 KiB
     * pools) have blocks aligned to their size. */
    if (alignment <= OBMT_SMALL_MAX && n <= OBMT_SMALL_MAX) {
        size_t r = n > alignment ? (size_t)1 << (64 - __builtin_clzll((unsigned long long)(n - 1))) : alignment;
        void *b = r <= OBMT_SMALL_MAX && class_size(size_class(r)) == r ? class_block(size_class(r)) : NULL;
        if (b)
            return b;
    }
    /* Spans are pool-aligned, and placed at an aligned pool up to the
     * arena's alignment: a span of the smallest class that holds n. */
    if (n <= OBMT_MEDIUM_MAX && alignment <= OBMT_ARENA_SIZE) {
        void *p = span_malloc(n > OBMT_SMALL_MAX ? n : OBMT_SMALL_MAX + 1, alignment, false);
        if (p)
            return p;
    }
    return large_memalign(alignment, n);
}

int obmt_posix_memalign(void **out, size_t alignment, size_t n)
{
    if (!is_pow2(alignment) || alignment < sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = aligned_malloc(alignment, n);
    if (!p) {
        errno = saved; /* posix_memalign reports through its result */
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *obmt_aligned_alloc(size_t alignment, size_t n)
{
    if (!is_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_malloc(alignment, n);
}

void *obmt_memalign(size_t alignment, size_t n)
{
    /* glibc's memalign: an alignment up to the default one is malloc's
     * (0 included), any other is rounded up to a power of two; only one
     * too large to round fails (EINVAL). aligned_alloc and posix_memalign
     * keep rejecting alignments that are not powers of two. */
    if (alignment <= OBMT_ALIGNMENT)
        return obmt_malloc(n);
    if (unlikely(alignment > SIZE_MAX / 2 + 1)) {
        errno = EINVAL;
        return NULL;
    }
    if (!is_pow2(alignment))
        alignment = (size_t)1 << (64 - __builtin_clzll((unsigned long long)alignment));
    return aligned_malloc(alignment, n);
}

void *obmt_valloc(size_t n)
{
    return aligned_malloc((size_t)sysconf(_SC_PAGESIZE), n);
}

void *obmt_pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t r;
    if (unlikely(__builtin_add_overflow(n, page - 1, &r))) {
        errno = ENOMEM;
        return NULL;
    }
    r &= ~(page - 1);
    return aligned_malloc(page, r ? r : page);
}

size_t obmt_usable_size(const void *ptr)
{
    if (!ptr)
        return 0;
    /* obmt's as in realloc: a HOLE's header reads zero. */
    bool ours = pool_header_readable(ptr);
    if (ours && obmt_load_relaxed(&pool_of(ptr)->owner) == NULL && !(ours = window_owns(ptr)))
        check_unmapped_arena(ptr, "malloc_usable_size(): invalid pointer");
    if (ours) {
        pool_header *p = pool_of(ptr);
        if (obmt_load_relaxed(&p->owner) == OWNER_HUGE)
            return huge_usable(p, ptr, "malloc_usable_size(): invalid pointer");
        if (obmt_load_relaxed(&p->owner) == OWNER_SPAN)
            return span_usable(p, ptr, "malloc_usable_size(): invalid pointer");
        check_live_small(ptr, "malloc_usable_size(): invalid pointer");
        return small_usable(ptr);
    }
    return large_usable_size((void *)ptr);
}

int obmt_owns(const void *ptr)
{
    return window_owns(ptr);
}

void obmt_collect(void)
{
    lend_enter();
    struct heap *h = heap_self();
    if (h == &heap_lending)
        h = &heap_empty; /* (reclaim_collect reads it again once no lender runs) */
    if (obmt_load_acquire(&g_init_state) != INIT_READY) {
        heap_collect(h, true);
        lend_leave();
        return;
    }
    reclaim_collect(h); /* this heap, then the reclaim pass over the others */
    lend_leave();
    depot_drain(os_now_ms()); /* (whatever the purge option: a cache, as the threads' are) */
    arena_maybe_purge(true);
}

const char *obmt_version(void)
{
    return "0.1.0";
}

#ifdef OBMT_OVERRIDE
/* libobmt-override: the standard names, as aliases of the functions above. */
#define OBMT_ALIAS(name) __attribute__((alias(#name), visibility("default")))
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wmissing-attributes" /* the aliases need not repeat malloc/unused-result hints */
void *malloc(size_t) OBMT_ALIAS(obmt_malloc);
void free(void *) OBMT_ALIAS(obmt_free);
void *calloc(size_t, size_t) OBMT_ALIAS(obmt_calloc);
void *realloc(void *, size_t) OBMT_ALIAS(obmt_realloc);
void *reallocarray(void *, size_t, size_t) OBMT_ALIAS(obmt_reallocarray);
int posix_memalign(void **, size_t, size_t) OBMT_ALIAS(obmt_posix_memalign);
void *aligned_alloc(size_t, size_t) OBMT_ALIAS(obmt_aligned_alloc);
void *memalign(size_t, size_t) OBMT_ALIAS(obmt_memalign);
void *valloc(size_t) OBMT_ALIAS(obmt_valloc);
void *pvalloc(size_t) OBMT_ALIAS(obmt_pvalloc);
size_t malloc_usable_size(void *) OBMT_ALIAS(obmt_usable_size);
/* glibc's own names, which some programs call directly; obmt reaches
 * glibc's through dlsym (large.c). */
void *__libc_malloc(size_t) OBMT_ALIAS(obmt_malloc);
void __libc_free(void *) OBMT_ALIAS(obmt_free);
void *__libc_calloc(size_t, size_t) OBMT_ALIAS(obmt_calloc);
void *__libc_realloc(void *, size_t) OBMT_ALIAS(obmt_realloc);
void *__libc_memalign(size_t, size_t) OBMT_ALIAS(obmt_memalign);
void *__libc_valloc(size_t) OBMT_ALIAS(obmt_valloc);
void *__libc_pvalloc(size_t) OBMT_ALIAS(obmt_pvalloc);
#endif
