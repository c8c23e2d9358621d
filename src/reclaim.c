/*
 * reclaim.c: pools that other threads freed empty, purged in place while
 * their owner is idle.
 *
 * A pool that went FULL leaves its owner's usedpools. The first thread that
 * frees into it clears FULL and pushes it on the owner's `returned` stack
 * (remote.c); the owner takes the stack in its slow paths and files each
 * pool again. An owner that has gone idle (a worker parked on a queue, a
 * thread pool's spare thread) never takes it: every pool it filled and
 * others emptied stays with it, resident. With T threads passing objects
 * around, that is most of the pools the program ever used (bench/blowup.c:
 * 64 threads, 16 MiB live, 560 MiB of such pools).
 *
 * The reclaim pass gives those pages back without the owner. Whichever
 * thread runs it (a heap's tick, at most every purge delay / 4 over the
 * whole process; obmt_collect) visits every other heap in use whose
 * `returned` stack is not empty, takes the stack whole (a CAS to NULL), and
 * for each pool whose remote list holds every one of its blocks, swaps the
 * remote word for REMOTE_RECLAIMED (one CAS from the value it read) and
 * gives back the pool's pages but the first (the header's), with no system
 * call but madvise. Then it pushes the stack back. The pool stays its
 * owner's: when the owner takes it from `returned` (or exit, or a fork
 * child, or an adopter takes its list) the flag says "empty, no free list"
 * (pool_take_list), and the pool is filed as empty: kept, or given back to
 * its arena.
 *
 * Nothing the owner does changes: it takes no lock and no extra atomic.
 * Why the pass may purge such a pool while its owner runs:
 *  - its remote count is its block count, so no block is out with a user,
 *    in a freer's batch (those count as out but are not on the list) or on
 *    the owner's local list: no legal free can reach the pool, and it has
 *    no block to hand out, so the owner's paths read only its header. (Such
 *    a pool is FULL or PENDING, or ABANDONED by exit, in its owner's view;
 *    never ARMED: an ARMED pool has a block on its owner's local list);
 *  - the pass took it off `returned`, so neither the owner nor exit can
 *    take its list meanwhile; the CAS fails if anything was pushed since
 *    the pass read the word (only a double free could push: the owner's
 *    take reports it later).
 * Exit closes `returned` while the pass may hold pools: the push-back then
 * finds it closed and the pass does what exit does with a late pool
 * (abandon it: an empty one goes back to its arena). Exit's writes to those
 * pools (their state, owner, list links) happen before its close, which
 * the pass's acquire load (or failed CAS) of `returned` reads.
 *
 * A double free by the owner into a pool whose every block came back
 * would have made the remote count exceed the pool's count; with the flag
 * the list is gone, so the owner's take compares the pool's count with its
 * block count instead (pool_take_list).
 *
 * obmt_collect promises the caller's pools back: while a pass holds them
 * off the caller's `returned` stack its own collect would not see them
 * (stress_memreturn: every thread collecting at once left 250 pools out).
 * So obmt_collect collects its heap under the pass flag (reclaim_collect:
 * it waits for a running pass and holds new ones off), then runs the pass.
 *
 * Fork: the prepare handler waits for a running pass and keeps others out
 * until the fork is done (heap.c), so that no pool is off a stack in the
 * child. (A fork from a signal handler that interrupted a pass on the same
 * thread would wait forever; fork is not async-signal-safe with obmt.)
 *
 * The whole pool is purged: its header lives out of line (internal.h,
 * pool_of), so no page of it has to stay.
 */
#include "internal.h"

#include <sched.h>
#include <unistd.h>

uint64_t g_pools_reclaimed; /* fetch_add relaxed; statistics */
/* RECLAIM_PASS while a pass runs, RECLAIM_FORK while a fork is under way */
#define RECLAIM_PASS 1u
#define RECLAIM_FORK 2u
static uint32_t g_reclaiming;
static uint64_t g_next_reclaim_ms;

/* Purge p in place if every block is on its remote list (the caller took p
 * off its owner's `returned`). */
static bool reclaim_pool(pool_header *p, size_t page)
{
    uintptr_t w = obmt_load_acquire(&p->remote);
    if ((w & REMOTE_FLAGS) || (uint32_t)(w >> REMOTE_COUNT_SHIFT) != class_blocks(obmt_load_relaxed(&p->szidx)))
        return false;
    if (!obmt_cas_acq_rel(&p->remote, &w, REMOTE_RECLAIMED))
        return false;
    arena_decommit_pages(pool_mem(p) + page, OBMT_POOL_END - page); /* (a guard page has nothing to give) */
    obmt_fetch_add_relaxed(&g_pools_reclaimed, 1);
    return true;
}

static size_t reclaim_heap(struct heap *h, size_t page)
{
    pool_header *list = obmt_load_acquire(&h->returned);
    do {
        if (!list || list == RETURNED_CLOSED)
            return 0;
    } while (!obmt_cas_acq_rel(&h->returned, &list, NULL));
    pool_header *tail = NULL;
    size_t n = 0;
    for (pool_header *p = list; p; p = p->returned_next) {
        n += reclaim_pool(p, page);
        tail = p;
    }
    /* Back on the stack, in front of what freers pushed meanwhile. Acquire:
     * if this load already sees CLOSED, it is what orders the exit's writes
     * to these pools (abandon_flagged) before ours. */
    pool_header *head = obmt_load_acquire(&h->returned);
    do {
        if (head == RETURNED_CLOSED) {
            /* h's thread exited meanwhile: do with each pool what its
             * exit does with one that arrives late. */
            tail->returned_next = NULL;
            while (list) {
                pool_header *p = list;
                list = p->returned_next;
                heap_abandon_late(p);
            }
            return n;
        }
        tail->returned_next = head;
    } while (!obmt_cas_acq_rel(&h->returned, &head, list));
    return n;
}

size_t reclaim_purged_bytes(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return page > OBMT_POOL_SIZE ? 0 : OBMT_POOL_END;
}

/* Take the pass flag: at once, or (wait) after a running pass ends; never
 * while a fork holds it (an atfork handler may call obmt_collect). */
static bool pass_acquire(bool wait)
{
    uint32_t expected = 0;
    while (!obmt_cas_acq_rel(&g_reclaiming, &expected, RECLAIM_PASS)) {
        if (!wait || expected == RECLAIM_FORK)
            return false;
        expected = 0;
        sched_yield();
    }
    return true;
}

/* The pass itself, the flag held. */
static size_t pass_run(uint64_t t, long delay, bool now)
{
    uint64_t every = (uint64_t)(delay / 4 < 10 ? 10 : delay / 4);
    obmt_store_relaxed(&g_next_reclaim_ms, t + every);
    size_t purged = reclaim_purged_bytes();
    if (purged == 0) /* large pages: nothing to purge in place */
        return 0;
    struct heap *me = heap_self(); /* (no lender while this pass runs: it is the only one) */
    uint32_t used = heaps_used();
    size_t n = 0;
    for (uint32_t i = 0; i < used; i++) {
        struct heap *h = heap_at(i); /* (never NULL below heaps_used: heap.c, heap_new) */
        if (!h || h == me || !obmt_load_relaxed(&h->in_use))
            continue;
        /* A heap idle for a purge delay is collected for its thread, when
         * that thread is outside obmt (lend.c): its pools that hold no
         * block of its own go back, purged. Its `returned` stack is left
         * to the pass below. */
        lend_try(h, t, delay);
        /* A heap that ticked within the last period is busy: it takes its
         * own `returned` stack soon (heap_collect, at most a purge delay
         * away), and would fault the purged pages in again at once. */
        if (!now && (int64_t)(t - obmt_load_relaxed(&h->last_tick_ms)) < (int64_t)every) /* signed: a tick after t */
            continue;
        pool_header *r = obmt_load_relaxed(&h->returned);
        if (!r || r == RETURNED_CLOSED)
            continue;
        n += reclaim_heap(h, OBMT_POOL_END - purged); /* 0: from the pool's first byte */
    }
    return n;
}

size_t reclaim_pass(bool now)
{
    long delay = option_get(OPT_PURGE_DELAY_MS);
    if (delay < 0)
        return 0; /* purging is off */
    uint64_t t = os_now_ms();
    if (!now && t < obmt_load_relaxed(&g_next_reclaim_ms))
        return 0;
    /* A running pass: a tick leaves the job to it; obmt_collect promises
     * the pages back, and that pass may be past the heaps it means: wait
     * for it and run one more. */
    if (!pass_acquire(now))
        return 0;
    size_t n = pass_run(t, delay, now);
    obmt_store_release(&g_reclaiming, 0u);
    return n;
}

size_t reclaim_collect(struct heap *h)
{
    /* While a pass holds pools off h's `returned` stack, h's own collect
     * cannot see them, and obmt_collect promises them back: collect under
     * the flag (waiting for a running pass, holding new ones off), then
     * run the pass over the other heaps. */
    long delay = option_get(OPT_PURGE_DELAY_MS);
    bool held = pass_acquire(true);
    if (held)
        h = heap_self(); /* the caller read &heap_lending? No lender runs now (lend.c) */
    heap_collect(h, true);
    size_t n = 0;
    if (held) {
        if (delay >= 0)
            n = pass_run(os_now_ms(), delay, true);
        obmt_store_release(&g_reclaiming, 0u);
    }
    return n;
}

void reclaim_atfork_prepare(void)
{
    uint32_t expected = 0;
    while (!obmt_cas_acq_rel(&g_reclaiming, &expected, RECLAIM_FORK)) {
        expected = 0;
        sched_yield();
    }
}

void reclaim_atfork_parent(void)
{
    obmt_store_release(&g_reclaiming, 0u);
}

void reclaim_atfork_child(void)
{
    obmt_store_relaxed(&g_reclaiming, 0u);
}
