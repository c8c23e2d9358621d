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
 * plain stores on malloc's and free's fast paths, no fence ("The owner's
 * free" below says why free's are back). A lender, which
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
 *   6. else collects the heap (heap_collect_lent, "The lender's collect"
 *      below): takes out of it the pools that hold no block of the owner's;
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
 *     into the slow path, which does without a heap, as a thread that has
 *     none: a span straight from a span arena (api.c, malloc_heapless),
 *     which any thread may free;
 *   - free: no pool is owned by heap_lending, so the fast path takes the
 *     remote path, which stays inside the busy region with the heap it
 *     read (&heap_lending) and hands the block over as a thread without a
 *     heap does:
 *     one CAS onto its pool's remote list, where the lender (or the owner
 *     later) finds it, with every check a remote free makes. So does every
 *     other slow half of free that finds &heap_lending once it has entered
 *     (below);
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
 * ==== The owner's free ========================================================
 *
 * Every path of free that may touch the thread's own heap runs inside the
 * busy region: the local fast path enters before it reads tls_self.heap,
 * and pushes the block on its class's block stack (bstack.c), heap state
 * that the lender flushes (step a below), or, with the stack full, on the
 * pool's list. A free of another heap's block (a remote free into the
 * thread's batches, a medium block into its span cache: heap state too)
 * goes on inside the same busy region with the heap the fast path read;
 * only huge blocks and foreign pointers, which need no heap, leave first.
 * So the
 * Dekker pair of steps 2-4 keeps every owner path out of the heap while a
 * lender holds it, and a free that reads &heap_lending does without the
 * heap (above).
 *
 * From 2026-11 until the block stack, free's local fast path marked
 * nothing: it wrote only the pool of the block it freed, a pool with a
 * live block, which the lender left alone, and stored the pool's count
 * last with release for the lender's acquire load. That saved two stores
 * a free; the stack needs them back (a free pushing on a stack the lender
 * flushes would lose a block or free it twice). The lender's test of c
 * below still holds against such a free, and spin model 4 keeps the old
 * way as a broken variant (-DBROKEN_FREE_NO_BUSY).
 *
 * ==== The lender's collect =====================================================
 *
 * heap_collect_lent, while the owner is kept out of the heap:
 *   a. flushes the block stacks: each stacked block back on its pool's
 *      list as the owner's free would put it there (heap_free_owner:
 *      no tick), so that the pools they came from may empty and leave
 *      below; a pool that empties goes to the heap's cache of empty pools
 *      whatever it holds (never straight to its arena: the lender takes
 *      the cache, step d, and purges it once the heap is back, step 7). An
 *      idle thread's stacks would otherwise pin a pool for each block on
 *      them (bench/blowup: 64 parked workers kept 417-447 MiB instead of
 *      32-38);
 *   a'. hands the heap's remote batches over (blocks of other heaps'
 *      pools: heap state the fast path does not read). A hand-over that
 *      would adopt a pool (it found ABANDONED, or cleared FULL of a pool
 *      whose owner is gone) releases it instead (heap_release_unowned with
 *      no heap: the shared level, or its arena if empty). Adopting into
 *      the lent heap is not safe: heap_adopt stores the owner before it
 *      takes the list, and a free fast path that read the owner could then
 *      push onto that pool's list as the lender files it. Adopting into the
 *      lender's own heap would give a lender that has none (the background
 *      thread) a heap, and a pool to a thread that did not ask for one;
 *      released, the pool waits for whoever's malloc needs its class.
 *   b. takes the `returned` stack (exchange) but not as the owner does:
 *      returned_place drains remote lists into pools that may hold live
 *      blocks (an ARMED pool, or a PENDING one the owner freed into), on
 *      which the owner's free fast path may be running. Each pool there
 *      gets the test of c (its remote word may also read RECLAIMED: the
 *      reclaim pass found every block on the list): one that passes leaves
 *      the heap (unlinked from usedpools if ARMED, from fullpools if FULL
 *      or PENDING); the others go back on the stack untouched (one CAS;
 *      exit cannot close it while the lender holds the heap), where the
 *      owner or the reclaim pass (which runs right after the lend,
 *      reclaim.c) finds them. An ABANDONED pool there (an exited thread's
 *      of this heap that arrived late) is released as that exit would have
 *      (heap_abandon_late). Without this, a heap whose pools went full
 *      and came back through `returned` with blocks on their local lists
 *      kept them all while idle (mt_lend).
 *   c. for each USED pool p of usedpools (ARMED ones are skipped: FULL set
 *      and a block out, or a freer cleared FULL and the pool was on
 *      `returned`, step b): c1 = count (acquire). c1 == 0: no
 *      block is out (the sole pool of its class, empty); take it. Else
 *      w = remote (acquire): if w has no flag and its count is c1, CAS
 *      remote w -> 0; success takes the list (count 0) and the pool.
 *      Otherwise p holds a block that is live (or in a freer's batch): it
 *      is left as it is, its remote list included.
 *   d. FULL pools not on `returned` stay (every block of theirs is live or
 *      in a freer's batch); every cached empty pool (emptypools, an
 *      owner-only list) is taken.
 * A pool taken is unlinked, disowned (owner NULL, release) and given back
 * after the heap is restored (step 7).
 *
 * Why c is safe. While the heap is lent no path of the owner runs in it
 * (every malloc and free of the owner's happened before the lender's busy
 * load, or finds &heap_lending and does without the heap), so count of p
 * changes only by the lender's own flush (step a, done before c) and
 * stays put during c; remote only grows (pushes by other threads: nobody
 * but the lender takes it meanwhile, so the CAS meets no ABA). If w has no
 * flag and counts c1 blocks, every block out of p is on that list, and a
 * CAS that succeeds took them all: no block of p is out anywhere, so no
 * legal free can reach p after. The empty case (c1 == 0) has no block to
 * free. The test holds, too, against an owner's free that runs on without
 * the busy flag (free's old fast path, "The owner's free"): such a free of
 * a block b of p either has not stored its count yet (then b counts in c1
 * and is on no list, so w's count is below c1 and p stays) or its release
 * store is what c1's acquire load read, which orders every access of that
 * free before what the lender does to p next. Pools the lender does not
 * take it reads through count, remote and state, and writes as the
 * owner's paths do, all of it owner-only state that the busy region keeps
 * the owner out of: their list links (unlinking a neighbour), and, in its
 * flush of the stacks, their local lists, count and state (FULL to ARMED,
 * and FULL cleared with a CAS on a pool that empties, as the owner's free
 * does: no other thread can have cleared it with no block out). Spin model
 * 4 checks this against the owner's paths (free onto the block stack or
 * the pool, malloc from either), remote pushes and the edge path
 * (tests/model/lend.pml).
 *
 * ==== When ===================================================================
 *
 * A heap is lent when its thread has had no slow-path tick and taken no
 * pool for a purge delay (at least 10 ms), and either it took or adopted
 * pools since it was last lent, or something new is on top of its
 * `returned` stack (the lender pushes back what it leaves there, and
 * remembers the top), or its span cache holds medium blocks (up to 32 MiB
 * while classes are grown, span.c), or eight purge delays passed (blocks
 * others freed into its remaining pools since). The reclaim pass visits the heap right
 * after the lend (reclaim.c). A thread whose traffic stays on the fast paths for that long
 * (no tick: no pool runs dry, none empties) is lent too, and pays the
 * refill of the pools that were empty at that moment: at most once per
 * purge delay, since taking a pool marks it active for one. A thread
 * that only frees, within the non-edge counts, never ticks and is lent
 * between two of its frees; a free that meets the lender does without the
 * heap (above). A thread that frees other threads' blocks ticks once per
 * batch it starts or hands over (remote.c), not per block: a consumer
 * whose frees fill a few long batches (256 blocks of 64 bytes each) ticks
 * about once per 32,000 frees, and may be lent between them while it is
 * busy; each such lend costs one membarrier, and each free that meets it
 * one CAS (a detour). A thread whose mallocs all come off its block stacks
 * still ticks, every OBMT_BSTACK_TICK_POPS of them (bstack.c), and so runs
 * the reclaim pass that lends the others. The owner's fast paths never learn
 * about any of this; when it wakes, its malloc finds usedpools empty where
 * pools were given back and takes new ones.
 *
 * Fork: lending runs only inside the reclaim pass, whose flag the fork's
 * prepare handler takes (reclaim.c): no heap is lent across a fork.
 */
#include "internal.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

struct heap heap_lending; /* (as heap_empty: no pool, a span cache budget of 0) */
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
    if (r && r != RETURNED_CLOSED && r != h->lent_returned)
        return true; /* pools handed back since the last lend (a hint: the top alone is compared) */
    if (obmt_load_relaxed(&h->span_cached_bytes))
        return true; /* medium blocks cached (up to 32 MiB while classes are grown: span.c) */
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
    pool_header *empties = heap_collect_lent(h);
    h->lent_taken = obmt_load_relaxed(&h->stats.pools_taken) + obmt_load_relaxed(&h->stats.adopted);
    h->lent_ms = now;
    uint32_t st = lend_restore(tls, h);
    obmt_store_release(&h->lend_state, st);
    heap_give_back_purged(empties); /* the pools are nobody's: after the heap is back */
    obmt_fetch_add_relaxed(&g_heaps_lent, 1);
    return true;
}
