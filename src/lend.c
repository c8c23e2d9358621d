/*
 * lend.c: lending an idle thread's heap to another thread, so that memory
 * an idle thread holds beyond its live blocks goes back without it.
 *
 * ==== Why ====================================================================
 *
 * A heap's used pools are its owner's alone: malloc and free work on them
 * with plain loads and stores, no lock and no atomic read-modify-write. So
 * nobody else may drain their remote lists or give them back, and a thread
 * that goes idle (a worker parked on a queue) keeps every pool it holds, in
 * every class, with whatever others freed into them waiting on their remote
 * lists. The reclaim pass (reclaim.c) can purge only pools that went full
 * and came back whole; bench/blowup with 256 parked workers still held
 * 640 MiB for 16 MiB of live data, most of it in pools like that.
 *
 * ==== The handshake ==========================================================
 *
 * The owner announces that it is inside obmt: every entry that may touch its
 * heap stores 1 to its tls_self.busy before it reads tls_self.heap, and 0 (release)
 * when it is done with the heap (internal.h, lend_enter/lend_leave): two
 * plain stores on malloc's and free's fast paths, no fence. A lender, which
 * runs inside the reclaim pass (its flag held: one lender at a time, and
 * none across a fork),
 *
 *   1. takes the heap: CAS lend_state OPEN -> HELD (an exiting owner CASes
 *      OPEN -> CLOSED, so the owner's TLS outlives what follows);
 *   2. CASes the owner's tls_self.heap from the heap to &heap_lending (a
 *      CAS, not a store: if the word does not hold the heap, it is not the
 *      heap's thread's any more, see "Threads that never close" below;
 *      the lender closes the heap for good and leaves);
 *   3. issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
 *   4. reads the owner's tls_self.busy (acquire);
 *   5. if it is 1, gives up: puts the heap back in tls_self.heap (a CAS from
 *      &heap_lending, lend_restore), lend_state OPEN (the thread is active;
 *      it will try again in a later pass);
 *   6. else collects the heap as its owner would, every empty pool taken
 *      out of it (heap_collect_idle);
 *   7. puts the heap back in tls_self.heap (lend_restore: release), then
 *      lend_state OPEN; then purges the empty pools and gives them back to
 *      their arenas (heap_give_back_purged: the madvise calls do not
 *      lengthen the time the thread does without its heap).
 *
 * Steps 2-4 against the owner's "store busy, load tls_self.heap" are Dekker's
 * pattern made asymmetric by the membarrier: the system call runs a full
 * barrier on every CPU that runs one of the process's threads (a thread not
 * running gets one from its context switch). If the owner's busy store came
 * before that barrier, step 4 sees it and the lender backs off; if after,
 * the owner's later load of tls_self.heap sees &heap_lending (this is liburcu's
 * memb flavour, without its global grace periods: one heap, one barrier).
 * The owner never waits for the lender to allocate or free (DESIGN.md: no
 * thread waits for another to allocate or free). What an entry that meets
 * &heap_lending does instead:
 *   - malloc: heap_lending's usedpools are all NULL, so the fast path falls
 *     into the slow path, which does without a heap: the underlying
 *     allocator serves the request, as for a thread that has no heap (its
 *     pointers go back to it by address);
 *   - free: no pool is owned by heap_lending, so the fast path takes the
 *     remote path, which hands the block over as a thread without a heap
 *     does: one CAS onto its pool's remote list, where the lender (or the
 *     owner later) finds it, with every check a remote free makes;
 *   - obmt_collect skips its own heap (the lender is collecting it);
 *   - thread exit waits for the lender (heap_self_wait), which is not an
 *     allocation: the lender holds the heap for one collect.
 * A thread meets &heap_lending also when a lender backs off (step 5), for
 * the length of a system call; it does the same. So tls_self.heap is read
 * once per entry, and everything after that gets the heap passed down. The
 * read is an acquire: a heap stored back comes with the lender's writes.
 *
 * Nesting: the busy flag does not count. obmt calls nothing inside a busy
 * region that can call malloc, but pthread_setspecific in heap_get_slow
 * (glibc allocates a second-level key block for keys past 32): it runs
 * before the heap is published, and heap_get_slow marks the thread busy
 * again after it.
 *
 * Threads that never close: a heap is opened only once pthread_setspecific
 * succeeded, so that its key destructor (heap_thread_exit, which closes it)
 * runs at exit. A thread whose first allocation comes in the last round of
 * key destructors (a destructor that set its own key again three times,
 * then allocates) gets a heap whose destructor never runs; its tls_self.heap
 * then dies with the thread. If glibc gives that TLS to a new thread, the
 * lender's CAS (step 2) finds a value other than the heap and closes it for
 * good (the heap stays leaked, as such a heap always was), and so does the
 * CAS that puts the heap back if that happened during the lend; if glibc
 * unmapped the dead thread's stack meanwhile, the CAS faults. That needs
 * both a heap first taken in the last destructor round and a stack cache
 * over its limit (glibc: 40 MiB), and is left as a known limit
 * (docs/design.md, section 5).
 *
 * If the process cannot register for membarrier (kernels before 4.14, a
 * seccomp filter, valgrind), lending is off and the reclaim pass does what
 * it did before. Under ThreadSanitizer, which does not model membarrier,
 * the owner's busy store and tls_self.heap load and the lender's tls_self.heap store
 * and busy load are sequentially consistent: the same Dekker pair in the C
 * memory model, and the release/acquire pairs (busy 0 -> lender, tls_self.heap
 * back -> owner) give TSan the happens-before it checks.
 *
 * ==== When ===================================================================
 *
 * A heap is lent when its thread has had no slow-path tick and taken no
 * pool for a purge delay (at least 10 ms), and either it took or adopted
 * pools since it was last lent, or pools wait on its `returned` stack, or
 * eight purge delays passed (blocks others freed into its remaining pools
 * since). A thread whose traffic stays on the fast paths for that long
 * (no tick: no pool runs dry, none empties) is lent too, and pays a collect
 * and the refill of the pools that were empty at that moment: at most once
 * per purge delay, since taking a pool marks it active for one. The owner's fast paths never learn about any
 * of this; when it wakes, its malloc finds usedpools empty where pools were
 * given back and takes new ones.
 *
 * Fork: lending runs only inside the reclaim pass, whose flag the fork's
 * prepare handler takes (reclaim.c): no heap is lent across a fork.
 */
#include "internal.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

struct heap heap_lending;
uint64_t g_heaps_lent, g_lend_busy, g_lend_detours;
static bool g_lend_ok; /* written once by init before READY */

static long sys_membarrier(int cmd)
{
    return syscall(__NR_membarrier, cmd, 0, 0);
}

void lend_init_process(void)
{
    if (OBMT_UNDER_TSAN) {
        g_lend_ok = true; /* sequentially consistent accesses instead (above) */
        return;
    }
    long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
    g_lend_ok = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

bool lend_available(void)
{
    return g_lend_ok;
}

struct heap *heap_self_wait(void)
{
    struct heap *h = heap_self();
    while (unlikely(h == &heap_lending)) {
        sched_yield();
        h = obmt_load_acquire(&tls_self.heap);
    }
    return h;
}

void lend_open(struct heap *h)
{
    h->lend_tls = &tls_self.heap;
    h->lend_busy = &tls_self.busy;
    obmt_store_release(&h->lend_state, LEND_OPEN); /* the two pointers before it */
}

void lend_close(struct heap *h)
{
    /* The caller is h's thread, inside lend_enter (it got h through
     * heap_self_wait): a lender that holds h now finds it busy and gives it
     * back at once. */
    uint32_t expected = LEND_OPEN;
    while (!obmt_cas_acq_rel(&h->lend_state, &expected, LEND_CLOSED)) {
        if (expected == LEND_CLOSED)
            return;
        expected = LEND_OPEN;
        sched_yield();
    }
}

/* Worth a membarrier? See "When" above. The delay counts as at least
 * 10 ms (a pass's shortest period), so that a purge delay of 0 does not
 * make every pass lend every heap that is outside obmt for a moment. */
static bool lend_wanted(struct heap *h, uint64_t now, long delay)
{
    if (delay < 10)
        delay = 10;
    if ((int64_t)(now - obmt_load_relaxed(&h->last_tick_ms)) < (int64_t)delay)
        return false; /* active (or only just idle) */
    uint64_t taken = obmt_load_relaxed(&h->stats.pools_taken) + obmt_load_relaxed(&h->stats.adopted);
    if (taken != h->lent_taken)
        return true;
    pool_header *r = obmt_load_relaxed(&h->returned);
    if (r && r != RETURNED_CLOSED)
        return true;
    return (int64_t)(now - h->lent_ms) >= 8 * (int64_t)delay;
}

/* Steps 5 and 7: the heap back to its thread's tls_self.heap, from
 * &heap_lending (release: with the collect's writes, for heap_self's
 * acquire). A CAS, as step 2's: the word cannot change meanwhile while the
 * thread lives (only a lender writes it then, and only one runs), but if
 * the thread died without closing the heap and glibc gave its TLS to a new
 * thread since step 2, the word is that thread's now: leave it, and close
 * the heap for good. Returns the heap's next lend_state. */
static uint32_t lend_restore(struct heap **tls, struct heap *h)
{
    struct heap *lending = &heap_lending;
    if (__atomic_compare_exchange_n(tls, &lending, h, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return LEND_OPEN;
    return LEND_CLOSED;
}

bool lend_try(struct heap *h, uint64_t now, long delay)
{
    if (!g_lend_ok || !option_get(OPT_LEND_IDLE) || !lend_wanted(h, now, delay))
        return false;
    uint32_t expected = LEND_OPEN;
    if (!obmt_cas_acq_rel(&h->lend_state, &expected, LEND_HELD))
        return false; /* no thread, or it is exiting */
    struct heap **tls = h->lend_tls;
    uint32_t *busy = h->lend_busy;
    struct heap *mine = h;
    uint32_t b;
#if OBMT_UNDER_TSAN
    bool swapped = __atomic_compare_exchange_n(tls, &mine, &heap_lending, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
#else
    bool swapped = __atomic_compare_exchange_n(tls, &mine, &heap_lending, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#endif
    if (!swapped) {
        /* The word is not the heap's thread's any more (see "Threads that
         * never close"): never try this heap again. */
        obmt_store_release(&h->lend_state, LEND_CLOSED);
        return false;
    }
#if OBMT_UNDER_TSAN
    b = __atomic_load_n(busy, __ATOMIC_SEQ_CST);
#else
    if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
        b = 1; /* cannot tell: leave the heap alone */
    else
        b = obmt_load_acquire(busy);
#endif
    if (b) {
        uint32_t st = lend_restore(tls, h);
        obmt_store_release(&h->lend_state, st);
        obmt_fetch_add_relaxed(&g_lend_busy, 1);
        return false;
    }
    pool_header *empties = heap_collect_idle(h);
    h->lent_taken = obmt_load_relaxed(&h->stats.pools_taken) + obmt_load_relaxed(&h->stats.adopted);
    h->lent_ms = now;
    uint32_t st = lend_restore(tls, h);
    obmt_store_release(&h->lend_state, st);
    heap_give_back_purged(empties); /* the pools are nobody's: after the heap is back */
    obmt_fetch_add_relaxed(&g_heaps_lent, 1);
    return true;
}
