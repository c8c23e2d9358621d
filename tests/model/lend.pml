/*
 * lend.pml: model 4 of 4. Lending an idle thread's heap (src/lend.c): the
 * reclaim pass takes a heap whose thread is outside obmt, swaps the
 * thread's tls_self.heap for &heap_lending, and collects the heap on the
 * thread's behalf (its block stacks first, src/bstack.c: every stacked
 * block back to its pool, then the pools whose count and remote count
 * show no live block); the thread's own entries into obmt announce
 * themselves with tls_self.busy (all of them: free's local fast path too,
 * since it pushes onto the heap's block stack), and one that reads
 * &heap_lending does without its
 * heap (malloc: a span without the heap; free: a heapless hand-over;
 * obmt_collect: the other heaps only). Only thread exit waits for the
 * lender.
 *
 * The handshake: the owner stores busy = 1 (lend_enter), then loads
 * tls_self.heap (acquire); the lender CASes tls_self.heap from the heap to
 * &heap_lending, issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), then
 * loads busy. That is Dekker's pattern, and the membarrier is what makes it
 * sound on the hardware (a full barrier on every CPU that runs one of the
 * process's threads, between the lender's store and its load). spin is
 * sequentially consistent, which stands for exactly that: here every load
 * sees the last store, so the model checks the protocol (which
 * interleavings exist and what each side does in them), not that the
 * membarrier, the compiler barrier in lend_enter and the release/acquire
 * pairs deliver sequential consistency for these accesses.
 * (ThreadSanitizer builds use seq_cst accesses for the Dekker pair:
 * lend.c.)
 *
 * Code modelled (src/): lend.c lend_try, lend_open, lend_close,
 * heap_self_wait; internal.h lend_enter, lend_leave, heap_self,
 * pool_pop_leave, bstack_push, bstack_pop; api.c obmt_malloc (every pool
 * class; its block stack pop), aligned_malloc, malloc_small_slow,
 * free_in_arena (all of it inside the busy region: the block stack push,
 * free_push_local, free_owner_edge_leave, the owner test's failure),
 * free_not_owner_leave; remote.c heap_free_remote_leave (rbatch_add_leave,
 * rbatch_start_leave, rbatch_full_leave, remote_heapless_leave); api.c
 * obmt_collect; bstack.c bstack_flush
 * (heap_free_owner folded); heap.c heap_get_slow (pthread_setspecific
 * first, lend_enter again, lend_open only with the key set),
 * heap_malloc_slow, heap_key_destructor, heap_thread_exit (its flush),
 * heap_collect (its flush), heap_collect_lent (bstack_flush,
 * lent_pool_unused, lent_take), heap_atfork_prepare, heap_adopt; pool.c pool_push_remote; remote.c
 * remote_hand_over, adopter (a heapless hand-over that adopts takes a
 * heap: heap_get_slow); reclaim.c pass_acquire, pass_run,
 * reclaim_pass, reclaim_collect, reclaim_atfork_prepare/parent. Every step
 * tagged L<n> (with HIT(n)) is listed with its code line in
 * tests/model/MAPPING.md, which check_mapping.sh verifies against src/.
 *
 * Actors:
 *  T1..NT (thread(t)): each does OPS operations, then exits. An operation
 *     is one of:
 *     - a malloc through obmt_malloc or aligned_malloc: busy
 *       = 1, load tls; obmt_malloc reads the block stack's depth (heap_empty's
 *       and heap_lending's are 0) and, if it is not 0, pops the top block
 *       (bstack_pop: the pool untouched) and leaves; else (and
 *       aligned_malloc) reads usedpools (heap_empty's and heap_lending's are
 *       NULL), pops, busy = 0; the slow path (heap_malloc_slow) does without
 *       a heap when it read &heap_lending (a span without the heap), takes
 *       the thread's first heap when it read &heap_empty, and takes a pool;
 *     - a free of a block of its own heap: busy = 1 (free_in_arena's
 *       lend_enter), then it reads tls; if that is its heap (the owner test
 *       passes) it is in its heap: it reads the block stack's depth and,
 *       below its bound bcap[h] (h->bstack_cap[c]: BCAP, raised by one
 *       up to BCAPMAX by a grow), pushes the block there (bstack_push:
 *       the pool and its count untouched); at the bound, if a malloc of
 *       its pool marked the class to grow (under[h], L10), it raises the
 *       bound and pushes (free_owner_grow_leave, bstack_grow: L107); else it loads the pool's
 *       count: 2 (NB - 1) is the local path, which pushes the block and
 *       then stores the count (release); 1 (the last block) is the edge
 *       path (free_owner_edge_leave: with a block stack the edge is never
 *       the last block, as the stack is full; -DBCAP=0 reaches it); then
 *       busy = 0. If the read was &heap_lending, the owner test fails and
 *       free_not_owner_leave goes on inside the busy region with that
 *       read: the heapless hand-over (a detour), then busy = 0;
 *     - a free of another heap's block: the same lend_enter and tls load,
 *       then, still inside, into its own heap's batches, or,
 *       heapless (no heap yet, or &heap_lending), a hand-over that may have
 *       to adopt the pool: heap_get_slow reads tls again and returns the
 *       thread's heap (enters it), NULL (&heap_lending: the pool is
 *       released), or a new heap;
 *     - obmt_collect: its heap (&heap_empty if it read &heap_lending),
 *       reclaim_collect (the pass flag, waited for; the heap collected;
 *       with -DCOLLECT_LENDS the pass lends the other heaps: a lender that
 *       is itself inside obmt, `me` read again under the flag);
 *     - (T1 only, FORKS times) a fork's prepare handler: the pass flag as
 *       RECLAIM_FORK, then heap_flush_remote without lend_enter.
 *     heap_get_slow: pop a heap from the free-heap stack (the previous
 *     thread's, heap reuse) or take a new one; pthread_setspecific, which
 *     may allocate (a nested malloc, with tls still &heap_empty: it is
 *     served without a heap, and its lend_leave clears busy) or fail (the heap is then
 *     never opened, its destructor never runs: a leaked heap, as before
 *     lending); lend_enter again; tls = heap; lend_open if the key is set.
 *     Exit is heap_key_destructor (only for a thread whose key is set):
 *     busy = 1, heap_self_wait (the one wait for a lender),
 *     heap_thread_exit (bstack_flush first; lend_close: CAS OPEN -> CLOSED, retried while a
 *     lender holds the heap; tls = &heap_empty; the heap goes on the
 *     free-heap stack), busy = 0; then the thread's TLS is gone (ghost
 *     tls_alive false).
 *  F (freer()): holds the blocks of a heap's pool that the heap's thread
 *     handed to it (a malloc's choice) and frees them, each one remote push
 *     onto the pool's list, at any moment (until its heap's thread exits:
 *     then the pool is abandoned, model 3's).
 *  L (lender()): PASSES reclaim passes at any moments (pass_acquire without
 *     waiting: a tick's pass); each tries every heap (or skips it:
 *     lend_wanted's timing is a choice): lend_try = CAS lend_state OPEN ->
 *     HELD (the thread's tls and busy pointers read after it), CAS the
 *     thread's tls from the heap to &heap_lending (if it fails: CLOSED for
 *     good), (membarrier: nothing in SC, or it fails and counts as busy),
 *     load busy; busy: store the heap back to tls, lend_state OPEN; not
 *     busy: heap_collect_lent (the lender is in the heap): bstack_flush
 *     (every stacked block back to the pool: count - 1 each), then the
 *     heap's pool, if it has one, is taken if its count (acquire) is 0, or if its remote
 *     count equals that count and the CAS of the remote word from the
 *     value read succeeds; then tls, then lend_state OPEN.
 *
 * "Being in the heap" (ghosts owner_in[h], lender_in[h]): the owner is in
 * its heap from its first access to the heap's owner-only data (the read
 * of usedpools, of the pool's free list, rbatch_add, heap_adopt, ...) until
 * its lend_leave (heap_thread_exit: until it pushes the heap on the
 * free-heap stack); the lender from heap_collect_lent until its last write
 * (h->lent_ms). Entering asserts that nobody else (the lender, or another
 * thread with the recycled heap) is in the heap. free's fast path enters
 * too, at its read of the block stack's depth (inside the busy region, as
 * every path now is). Ghosts within it: infl[h] from the local path's
 * count load to its count store, instk[h] from a free's or malloc's read
 * of the stack's depth to its write of it.
 *
 * Abstractions: a heap's pools are one pool of NB blocks, all carved,
 * has_pool[h] (usedpools[c] not NULL for the class the model uses), its
 * block stack's depth bst[h] (at most its bound bcap[h]: BCAP, default 1,
 * or up to BCAPMAX while grown, until a flush puts BCAP back: the blocks on it
 * are out to the pool, in pcount; which block is where is not modelled), its
 * count pcount[h] and its remote count prem[h] (the remote word without
 * flags and pointer: FULL, ARMED, PENDING and `returned` are model 1's; the
 * lender applies the same test to pools off `returned`), and the ghosts
 * hblocks[h] (blocks of it its thread holds), oblocks[h] (F's). A malloc
 * that would fill the pool with nothing on its remote list (FULL) takes a
 * block elsewhere, not modelled; a pool adopted by heap_adopt is one with
 * no block out. What a block holds is the other models' business. The
 * free-heap stack is a set changed in one step (as in model 3). Statistics,
 * lend_wanted's clock (a choice), the membarrier registration (on), the
 * init state, tls_in_heap_get (the nested malloc's way past the heap) and fork's
 * child are left out. The lender is one process (the pass flag admits one
 * lender at a time; -DCOLLECT_LENDS adds obmt_collect's passes). Waits
 * (heap_self_wait at exit, lend_close's and the flags' retries) are loops,
 * as in the code: the termination run needs weak fairness.
 *
 * Checks (assertions):
 *  - the lender takes a pool only when no block of it is live (its
 *    thread's or F's), none is on the block stack (flushed first), no
 *    local free of its thread's is between its count load and its count
 *    store on it, and the list it took holds every block out (count); the
 *    fast path's push finds the pool still the heap's.
 *  - the block stack: a flush (the lender's, collect's, exit's) finds no
 *    free or malloc of the owner's between its read of the stack's depth
 *    and its write of it (instk); exit leaves the stack empty.
 *  - no block lost or counted twice (COUNTED, at every entry into a heap
 *    and after every flush): the pool's count is the thread's blocks plus
 *    F's plus those on the remote list plus those on the block stack.
 *  - mutual exclusion: no two of (the owner, a lender, another thread with
 *    the recycled heap) are in a heap at once (the owner is in it on every
 *    path: malloc, free's stack, local, edge and remote paths); the lender's collect finds
 *    &heap_lending in the thread's tls; a thread is only ever in its own
 *    heap; heap_self_wait never returns &heap_lending.
 *  - the lender never stores to, nor loads from, the TLS of a thread that
 *    has exited (tls_alive); at its death a thread whose key was set has
 *    &heap_empty in its tls (nothing stored a heap back after its exit) and
 *    busy 0.
 *  - a heap taken from the free-heap stack (or new) is not held or entered
 *    by anyone and is CLOSED; a fork's prepare finds no heap HELD and no
 *    thread's tls &heap_lending (the child would inherit a lent heap).
 *  - at the end: every heap handed out is CLOSED and on the free-heap
 *    stack, or leaked by a thread whose pthread_setspecific failed (never
 *    opened); no invalid end state (every process ends).
 *  - -DTERM: LTL `term`, <> ended: every run ends, so every wait ends (the
 *    lender always stores the heap back and reopens it); pan -a -f (weak
 *    fairness: the waits spin). -DNO_HANDOFF (malloc never hands a
 *    block to F) keeps the two-thread termination run within memory.
 *  - -DCOVER: pan prints "COVERED: n n ..." at exit, the tags executed.
 *
 * Negative checks (spin must find a violation):
 *  -DBROKEN_NO_BUSY      lend_enter stores nothing: the lender reads busy 0
 *                        while the owner is in its heap.
 *  -DBROKEN_LEAVE_EARLY  the fast paths store busy = 0 right after loading
 *                        tls, before they touch the heap.
 *  -DBROKEN_NO_CLOSE     heap_thread_exit does not close the heap to
 *                        lending (as if heap_key_destructor never ran for
 *                        the thread, lend.c "Threads that never close"): a
 *                        lender CASes the dead thread's tls. (Run with NT=1,
 *                        and pan built with -DREVERSE so that this is the
 *                        violation it reports first.)
 *  -DBROKEN_OPEN_FIRST   the lender reopens the heap (lend_state OPEN)
 *                        before it stores the heap back to tls: an exit
 *                        closes it in between and the lender then writes a
 *                        heap into the tls of a thread that has exited.
 *  -DBROKEN_NO_RESTORE   (with -DTERM) the lender that finds the thread
 *                        busy reopens the heap but leaves &heap_lending in
 *                        its tls: the thread's exit waits forever
 *                        (acceptance cycle).
 *  -DBROKEN_FORK         the fork's prepare handler does not take the pass
 *                        flag: a lender lends the forking thread's heap
 *                        while the handler flushes it.
 *  -DBROKEN_NO_COUNT_CHECK  the lender takes a pool whose remote list is
 *                        not empty without comparing its count with the
 *                        pool's (the old collect drained every list): it
 *                        takes a pool with a live block.
 *  -DBROKEN_FREE_NO_BUSY  free's fast path as it was before the block
 *                        stack: no busy store (free_in_arena's lend_enter
 *                        stores nothing), not "in" the heap; the edge path
 *                        enters and reads tls again, as then. The lender
 *                        takes the heap between the owner's tls load and
 *                        its stack push and flushes the stack the owner is
 *                        pushing to (instk).
 *  -DBROKEN_NESTED       heap_get_slow as it was first written: tls and
 *                        lend_open before pthread_setspecific, and no
 *                        lend_enter after it. The nested malloc of an
 *                        allocating pthread_setspecific (it finds the new
 *                        heap in tls and fills it) clears busy with its
 *                        lend_leave while the outer malloc still has the
 *                        heap to fill: a lender collects it meanwhile.
 */

#ifndef NT
#define NT 2            /* threads 1..NT */
#endif
#ifndef OPS
#define OPS 2           /* operations per thread before it exits */
#endif
#ifndef PASSES
#define PASSES 2        /* the lender's reclaim passes */
#endif
#ifndef FORKS
#define FORKS 1         /* fork prepare handlers T1 runs */
#endif
#ifndef NB
#define NB 3            /* blocks per pool: free's fast path is count 2 -> 1, its edge 1 -> 0 */
#endif
#ifndef BCAP
#define BCAP 1          /* a class's fixed bound (bstack_reset: obmt_bstack_cap, OPT_BLOCK_STACK): 0, no block stack */
#endif
#ifndef BCAPMAX         /* its grown bound (bstack_grow: obmt_bstack_grown_cap); none without a stack */
#if BCAP > 0
#define BCAPMAX (BCAP + 1)
#else
#define BCAPMAX 0
#endif
#endif
#define NH NT           /* heaps 1..NH: never more than threads */

#ifdef COVER
c_code {
int cov_[128];
static void cov_print(void) { int i; printf("COVERED:"); for (i = 0; i < 128; i++) if (cov_[i]) printf(" %d", i); printf("\n"); }
}
#define HIT(n) c_code { cov_[n] = 1; }
#define COVER_INIT c_code { static int cov_once; if (!cov_once) { cov_once = 1; atexit(cov_print); } }
#else
#define HIT(n) skip
#define COVER_INIT skip
#endif

/* a thread's tls_self.heap: HEMPTY (&heap_empty), a heap 1..NH, LENDING */
#define HEMPTY  0
#define LENDING 7
/* heap->lend_state */
#define L_CLOSED 0
#define L_OPEN   1
#define L_HELD   2
/* g_reclaiming */
#define R_PASS 1
#define R_FORK 2

byte tls[NT + 1];            /* tls_self.heap of each thread */
bit busy[NT + 1];            /* tls_self.busy */
byte lend_state[NH + 1];
byte lend_who[NH + 1];       /* lend_tls / lend_busy: which thread's */
byte freeheaps;              /* the free-heap stack, as a set (bit h - 1) */
byte nheaps;                 /* g_heaps_used */
byte pass_flag;              /* g_reclaiming */

/* the heap's owner-only data, abstracted */
bool has_pool[NH + 1];       /* usedpools[c] != NULL */
/* its pool (USED: FULL, ARMED and PENDING are model 1's) */
byte pcount[NH + 1];         /* pool_header.count: blocks out, those on `remote` included */
byte prem[NH + 1];           /* the count in pool_header.remote (no flag here) */

/* ghosts */
byte hblocks[NH + 1];        /* blocks of its pool its thread holds (live) */
byte oblocks[NH + 1];        /* blocks of its pool the freer F holds (live) */
bit infl[NH + 1];            /* its thread's free fast path is between its count load and its count store */
byte bst[NH + 1];            /* bstack_pushes[c] - bstack_pops[c]: blocks on its block stack (free to the program, out to the pool) */
bit instk[NH + 1];           /* its thread's free or malloc is between its read of the stack (L96, L101) and its write (L97, L102) */
byte bcap[NH + 1];           /* h->bstack_cap[c]: BCAP, up to BCAPMAX once grown (owner; a flush, the lender's too, puts BCAP back) */
bit under[NH + 1];           /* h->bstack_under[c]: a malloc went to the pool while the class could grow (L10); cleared by a grow */
byte tdone;                  /* threads that have ended (F ends after them) */

/* ghosts */
bool tls_alive[NT + 1];      /* the thread (and its TLS) still exists */
bool keyed[NT + 1];          /* its pthread_setspecific succeeded */
byte myheap[NT + 1];         /* the heap the thread got (heap_get_slow) */
bool leaked[NH + 1];         /* a heap whose key was never set */
byte owner_in[NH + 1];       /* a thread is in the heap */
byte lender_in[NH + 1];      /* a lender is in the heap */
byte ndone;
bool ended;

/* ---- the owner's side -------------------------------------------------- */

#ifdef BROKEN_NO_BUSY
#define ENTER_STORE skip
#else
#define ENTER_STORE busy[t] = 1
#endif
/* free_in_arena's lend_enter; -DBROKEN_FREE_NO_BUSY: none (free's fast
 * path as it was before the block stack: outside the busy region, and not
 * "in" the heap, FREE_ENTER) */
#if defined(BROKEN_FREE_NO_BUSY) || defined(BROKEN_NO_BUSY)
#define FREE_ENTER_STORE skip
#else
#define FREE_ENTER_STORE busy[t] = 1
#endif
#ifdef BROKEN_LEAVE_EARLY
#define EARLY_LEAVE busy[t] = 0
#else
#define EARLY_LEAVE skip
#endif

/* No block lost or counted twice: the pool's count counts every block
 * out, the thread's, F's, those on its remote list and on the block stack
 * (not while the fast path is between its push and its count store). */
#define COUNTED(x) \
    assert(infl[x] || pcount[x] == hblocks[x] + oblocks[x] + prem[x] + bst[x])

/* The owner enters heap x (x: its own; no one else in it). */
#define OWNER_ENTER(x) \
    assert(x != HEMPTY && x != LENDING && x == myheap[t]); \
    assert(owner_in[x] == 0 && lender_in[x] == 0); \
    COUNTED(x); \
    owner_in[x] = 1; ins = x

/* free's fast path enters its heap (at its read of bstack_pushes): as
 * OWNER_ENTER; -DBROKEN_FREE_NO_BUSY: not "in" the heap (the old exception) */
#ifdef BROKEN_FREE_NO_BUSY
#define FREE_ENTER(x) assert(x == myheap[t])
#else
#define FREE_ENTER(x) OWNER_ENTER(x)
#endif

/* bstack_flush(x): every stacked block back to its pool as the owner's
 * free puts it there (heap_free_owner: count - 1 each; the pool
 * filed if it emptied: the model's sole pool stays), by the owner or by a
 * lender holding x: asserted that the owner is not inside a free or malloc
 * that reads or writes the stack. */
#define FLUSH(x) \
    assert(instk[x] == 0); \
    assert(pcount[x] >= bst[x]); \
    pcount[x] = pcount[x] - bst[x]; bst[x] = 0; \
    bcap[x] = BCAP; under[x] = 0; \
    COUNTED(x)

/* lend_leave: busy = 0 (release), the end of the owner's work on its heap */
#define LEAVE \
    if \
    :: ins != 0 -> owner_in[ins] = 0; ins = 0 \
    :: else -> skip \
    fi; \
    busy[t] = 0

/* A block from x's pool (malloc's pop, pool_unlink_head; the refill that
 * takes the remote list when the pop empties the local one, pool_refill,
 * folded), to its thread (dst hblocks) or to the freer F (oblocks). A pop
 * that would fill the pool with an empty remote list (FULL: model 1's)
 * takes a block of another pool, not modelled. */
#define POP_TO(x, dst) \
    if \
    :: pcount[x] < NB - 1 -> pcount[x]++; dst[x]++ \
    :: pcount[x] == NB - 1 && prem[x] > 0 -> pcount[x] = NB - prem[x]; prem[x] = 0; dst[x]++ \
    :: else -> skip \
    fi

/* The lender takes x's pool out of the heap (heap_collect_lent: unlinked,
 * disowned, given back after the heap is restored): no block of it may be
 * live, nor a fast-path free of the owner's under way. */
#define TAKE(x, n) \
    assert(hblocks[x] == 0 && oblocks[x] == 0 && infl[x] == 0 && bst[x] == 0); \
    assert(pcount[x] == n && prem[x] == 0); \
    pcount[x] = 0; has_pool[x] = false

/* heap_self_wait (lend.c), called at `site`: load tls; while it is
 * &heap_lending, sched_yield and load it again (acquire). */
#define self_wait(x, site) \
    d_step { x = tls[t]; HIT(64); HIT(site) };                  /* L64 */ \
    do \
    :: x == LENDING -> d_step { x = tls[t]; HIT(65) }           /* L65 */ \
    :: else -> break \
    od; \
    assert(x != LENDING && (x == HEMPTY || x == myheap[t]))

/* pthread_setspecific's own malloc (glibc allocates a second-level key
 * block): a nested obmt_malloc, inside heap_get_slow's caller's busy
 * region. It reads tls: &heap_empty (the heap is not stored yet), so it
 * ends with the guard (tls_in_heap_get) served without a heap (a span),
 * touching no heap's state; its
 * lend_leave clears busy. (-DBROKEN_NESTED: tls holds the new heap x, open
 * already: the nested malloc fills it from its slow path.) */
#define NESTED_MALLOC(x) \
    d_step { busy[t] = 1; gotp = (tls[t] != HEMPTY && tls[t] != LENDING) }; \
    if \
    :: gotp -> d_step { OWNER_ENTER(x); has_pool[x] = true; POP_TO(x, hblocks) } \
    :: else -> skip \
    fi; \
    d_step { LEAVE; gotp = false }

/* pthread_setspecific(g_heap_key, x): the key set (maybe with a nested
 * malloc), or not (ENOMEM: then the heap is never opened nor closed). */
#define SETSPECIFIC(x) \
    if \
    :: d_step { keyed[t] = true; HIT(58) }                      /* L58 */ \
    :: d_step { keyed[t] = true; HIT(58) };                     /* L58 */ \
        NESTED_MALLOC(x) \
    :: d_step { keyed[t] = false; leaked[x] = true; HIT(58) }   /* L58 */ \
    fi

/* lend_open(x) if the key is set */
#define OPEN_IF_KEYED(x) \
    if \
    :: keyed[t] -> \
        d_step { lend_who[x] = t; HIT(62) };                    /* L62 */ \
        d_step { lend_state[x] = L_OPEN; HIT(63) }              /* L63 */ \
    :: else -> d_step { HIT(61) }                               /* L61 */ \
    fi

/* heap_get_slow (its caller at `site`), returning x: a heap, or HEMPTY for
 * NULL. It reads tls again: &heap_lending (NULL: do without), the thread's
 * heap (a caller that read &heap_lending before, now back), or
 * &heap_empty: pop a heap from the free-heap stack or take a new one. */
#define get_heap(x, site) \
    d_step { x = tls[t]; HIT(54); HIT(site) };                  /* L54 */ \
    if \
    :: x == LENDING -> d_step { x = HEMPTY; HIT(55) }           /* L55 */ \
    :: x != LENDING && x != HEMPTY -> assert(x == myheap[t]) \
    :: x == HEMPTY -> \
        atomic { \
            if \
            :: freeheaps & 1 -> x = 1; HIT(56)                  /* L56 */ \
            :: freeheaps & 2 -> x = 2; HIT(56)                  /* L56 */ \
            :: freeheaps & 4 -> x = 3; HIT(56)                  /* L56 */ \
            :: freeheaps == 0 -> nheaps++; x = nheaps; HIT(57)  /* L57 */ \
            fi; \
            assert(x >= 1 && x <= NH); \
            freeheaps = freeheaps & ~(1 << (x - 1)); \
            assert(owner_in[x] == 0 && lender_in[x] == 0 && lend_state[x] == L_CLOSED); \
            myheap[t] = x \
        }; \
        HEAP_PUBLISH(x) \
    fi

#ifndef BROKEN_NESTED
#define HEAP_PUBLISH(x) \
        SETSPECIFIC(x); \
        d_step { ENTER_STORE; HIT(59) };                        /* L59 */ \
        d_step { tls[t] = x; HIT(60) };                         /* L60 */ \
        OPEN_IF_KEYED(x)
#else
#define HEAP_PUBLISH(x) \
        d_step { tls[t] = x }; \
        d_step { keyed[t] = true; lend_who[x] = t }; \
        d_step { lend_state[x] = L_OPEN }; \
        NESTED_MALLOC(x)
#endif

/* A lender's lend_try(x) (reclaim.c pass_run, the pass flag held). */
inline lend_try(x)
{
    atomic { HIT(66);                                           /* L66 */
        if
        :: lend_state[x] == L_OPEN -> lend_state[x] = L_HELD; lt = lend_who[x]; lok = true
        :: else -> lok = false
        fi
    }
    if
    :: lok ->
        d_step { HIT(67);                                       /* L67 */
            assert(tls_alive[lt]);
            if
            :: tls[lt] == x -> tls[lt] = LENDING
            :: else -> lok = false
            fi
        };
        if
        :: !lok ->
            /* not the heap's thread's word any more: never again */
            d_step { lend_state[x] = L_CLOSED; HIT(68) }        /* L68 */
        :: else ->
            /* membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): nothing in SC */
            if
            :: d_step { assert(tls_alive[lt]); lb = busy[lt]; HIT(69) }     /* L69 */
            :: d_step { lb = 1; HIT(70) }                                   /* L70 */
            fi;
            if
            :: lb ->
                HIT(71);                                                    /* L71 */
#if defined(BROKEN_NO_RESTORE)
                d_step { lend_state[x] = L_OPEN }
#elif defined(BROKEN_OPEN_FIRST)
                d_step { lend_state[x] = L_OPEN };
                d_step { assert(tls_alive[lt]); tls[lt] = x }
#else
                d_step { assert(tls_alive[lt]); assert(tls[lt] == LENDING); tls[lt] = x; HIT(72) };    /* L72 */ /* lend_restore: a CAS from LENDING */
                d_step { lend_state[x] = L_OPEN; HIT(73) }                  /* L73 */
#endif
            :: else ->
                d_step { HIT(74);                                           /* L74 */
                    assert(tls[lt] == LENDING);
                    assert(owner_in[x] == 0 && lender_in[x] == 0);
                    lender_in[x] = 1
                };
                /* heap_collect_lent: the block stack first, then the pool (USED) */
                d_step { FLUSH(x); HIT(104) };                              /* L104 */
                if
                :: has_pool[x] ->
                    d_step { lc = pcount[x]; HIT(75) };                     /* L75 */ /* acquire */
                    if
                    :: lc == 0 -> d_step { HIT(90); TAKE(x, 0); HIT(93) }   /* L90 */ /* L93 */
                    :: else ->
                        d_step { lw = prem[x]; HIT(91) };                   /* L91 */ /* acquire */
#ifdef BROKEN_NO_COUNT_CHECK
                        if
                        :: lw > 0 ->
#else
                        if
                        :: lw == lc ->
#endif
                            atomic { HIT(92);                               /* L92 */
                                if
                                :: prem[x] == lw -> prem[x] = 0; lok = true
                                :: else -> lok = false
                                fi
                            };
                            if
                            :: lok -> d_step { TAKE(x, lw); lok = false; HIT(93) }  /* L93 */ /* pool_take_list folded */
                            :: else -> skip
                            fi
                        :: else -> skip
                        fi
                    fi
                :: else -> skip
                fi;
                d_step { lender_in[x] = 0; lc = 0; lw = 0; HIT(76) };       /* L76 */
#ifdef BROKEN_OPEN_FIRST
                d_step { lend_state[x] = L_OPEN };
                d_step { assert(tls_alive[lt]); tls[lt] = x }
#else
                d_step { assert(tls_alive[lt]); assert(tls[lt] == LENDING); tls[lt] = x; HIT(77) };    /* L77 */ /* lend_restore: a CAS from LENDING */
                d_step { lend_state[x] = L_OPEN; HIT(78) }                  /* L78 */
#endif
            fi
        fi
    :: else -> skip
    fi;
    d_step { lt = 0; lb = 0; lok = false }
}

/* The reclaim pass over every heap but `me`, the flag held. */
inline pass_over(me)
{
    x = 1;
    do
    :: x <= NH ->
        if
        :: x != me ->
            if
            :: lend_try(x); HIT(80)                                     /* L80 */
            :: HIT(79)                                                  /* L79 */
            fi
        :: else -> skip
        fi;
        x++
    :: else -> break
    od;
    x = 0
}

/* malloc: obmt_malloc (e 0: every pool class), aligned_malloc (2) */
inline malloc_op()
{
    if
    :: d_step { ENTER_STORE; e = 0; HIT(1) }                            /* L1 */
    :: d_step { ENTER_STORE; e = 2; HIT(3) }                            /* L3 */
    fi;
    if
    :: e == 0 -> d_step { h = tls[t]; EARLY_LEAVE; HIT(4) }             /* L4 */
    :: e == 2 -> d_step { h = tls[t]; EARLY_LEAVE; HIT(6) }             /* L6 */
    fi;
    /* obmt_malloc: the block stack first (heap_empty's and heap_lending's
     * are empty); a block on it: pop it, then leave */
    if
    :: e == 0 && h != HEMPTY && h != LENDING ->
        d_step { OWNER_ENTER(h); lc = bst[h]; instk[h] = 1; HIT(101) }  /* L101 */
    :: else -> lc = 0
    fi;
    if
    :: lc != 0 ->
        if
        :: d_step { assert(bst[h] == lc); bst[h] = lc - 1; hblocks[h]++; instk[h] = 0; HIT(102) }  /* L102 */
#ifndef NO_HANDOFF
        :: d_step { assert(bst[h] == lc); bst[h] = lc - 1; oblocks[h]++; instk[h] = 0; HIT(102) }  /* L102 */
#endif
        fi;
        d_step { LEAVE; lc = 0; HIT(103) }                              /* L103 */
    :: else ->
    /* p = h->usedpools[c]: heap_empty's and heap_lending's are NULL */
    if
    :: e == 0 && h != HEMPTY && h != LENDING -> d_step { assert(ins == h); instk[h] = 0; gotp = has_pool[h]; HIT(7) }  /* L7 */
    :: e == 2 && h != HEMPTY && h != LENDING -> d_step { OWNER_ENTER(h); gotp = has_pool[h]; HIT(9) }  /* L9 */
    :: else -> gotp = false
    fi;
    if
    :: gotp && e != 2 ->
        if
        :: d_step { under[h] = (bcap[h] < BCAPMAX -> 1 : 0); POP_TO(h, hblocks); HIT(10) }  /* L10 */
#ifndef NO_HANDOFF
        :: d_step { under[h] = (bcap[h] < BCAPMAX -> 1 : 0); POP_TO(h, oblocks); HIT(10) }  /* L10 */
#endif
        fi;
        d_step { LEAVE; HIT(11) }                                       /* L11 */
    :: gotp && e == 2 ->
        d_step { POP_TO(h, hblocks); HIT(12) };                         /* L12 */
        d_step { LEAVE; HIT(13) }                                       /* L13 */
    :: else ->
        /* malloc_small_slow / aligned_malloc -> heap_malloc_slow(h, c) */
        if
        :: h == LENDING ->
            /* a lender holds the heap: NULL, served without it (a span) */
            d_step { h = HEMPTY; HIT(14) }                              /* L14 */
        :: h == HEMPTY -> get_heap(h, 15)                               /* L15 */
        :: h != HEMPTY && h != LENDING -> skip
        fi;
        if
        :: h != HEMPTY ->
            d_step {
                if
                :: ins == 0 -> OWNER_ENTER(h)
                :: else -> assert(ins == h)
                fi;
                gotp = has_pool[h]; HIT(16)                             /* L16 */
            };
            if
            :: gotp ->
                /* only -DBROKEN_NESTED: the nested malloc filled the heap */
                d_step { POP_TO(h, hblocks) }
            :: else ->
                /* a new pool (the fast path found usedpools[c] NULL; the
                 * model's heap has the one class) */
                d_step { assert(pcount[h] == 0 && prem[h] == 0); has_pool[h] = true; POP_TO(h, hblocks); HIT(17) }    /* L17 */
            fi
        :: else -> skip
        fi;
        if
        :: e != 2 -> d_step { LEAVE; HIT(18) }                          /* L18 */
        :: else -> d_step { LEAVE; HIT(13) }                            /* L13 */
        fi;
        if
        :: h == HEMPTY && e != 2 -> d_step { HIT(19) }                  /* L19 */
        :: else -> skip
        fi
    fi
    fi
}

/* heap_free_remote_leave(x, ...) for a block of the thread's own pool, inside
 * lend_enter, x read there: &heap_lending, a heapless hand-over (its
 * pool's remote list, one CAS). The other branch, the heap itself (onto
 * the block stack if it has room, else the pool), is only the broken
 * variant's (-DBROKEN_FREE_NO_BUSY, which read the heap again after
 * entering): free_not_owner_leave keeps the heap the fast path read, so
 * it reaches heap_free_remote_leave with &heap_lending only. */
#define FREE_OWN_ENTERED(x) \
    if \
    :: x == LENDING -> \
        d_step { HIT(24) };                                             /* L24 */ \
        d_step { prem[myheap[t]]++; hblocks[myheap[t]]--; HIT(88) }     /* L88 */ \
    :: else -> \
        assert(x == myheap[t]); \
        d_step { OWNER_ENTER(x); \
            if \
            :: bst[x] < bcap[x] -> bst[x]++ \
            :: else -> pcount[x]-- \
            fi; \
            hblocks[x]-- } \
    fi

/* free of a block of its own heap's pool (p->owner == myheap[t]), all of
 * free_in_arena inside lend_enter */
inline free_own()
{
    d_step { FREE_ENTER_STORE; HIT(95) };                               /* L95 */
    d_step { h = tls[t]; EARLY_LEAVE; HIT(21) };                        /* L21 */
    if
    :: h == myheap[t] ->
        /* the owner test passes; the block checks; the stack's depth */
        d_step { FREE_ENTER(h); lc = bst[h]; instk[h] = 1; HIT(96) };  /* L96 */
        if
        :: lc < bcap[h] ->
            /* onto the block stack: the pool is not touched */
            d_step { assert(has_pool[h] && bst[h] == lc && bcap[h] <= BCAPMAX); bst[h] = lc + 1; hblocks[h]--; instk[h] = 0; HIT(97) };  /* L97 */
            d_step { LEAVE; HIT(98) }                                   /* L98 */
        :: lc >= bcap[h] && under[h] ->
            /* free_owner_grow_leave: the full stack's bound raised
             * (bstack_grow), then the push, inside the same busy region */
            d_step { assert(has_pool[h] && bst[h] == lc && bcap[h] < BCAPMAX); under[h] = 0; bcap[h]++;
                     bst[h] = lc + 1; hblocks[h]--; instk[h] = 0; HIT(107) };  /* L107 */
            d_step { LEAVE; HIT(108) }                                  /* L108 */
        :: lc >= bcap[h] && !under[h] ->
            d_step { instk[h] = 0; lc = pcount[h]; infl[h] = (lc >= 2 && lc <= NB - 1); HIT(23) };   /* L23 */
            if
            :: infl[h] ->
                /* the local push, then the count (release) */
                d_step { assert(has_pool[h]); hblocks[h]--; HIT(22) };  /* L22 */
                d_step { pcount[h] = lc - 1; infl[h] = 0; HIT(94) };    /* L94 */
                d_step { LEAVE; HIT(99) }                               /* L99 */
            :: else ->
#ifndef BROKEN_FREE_NO_BUSY
                /* free_owner_edge_leave: the last block (count 1) */
                d_step { assert(ins == h); pcount[h]--; hblocks[h]--; HIT(85) };  /* L85 */
                d_step { LEAVE; HIT(86) }                               /* L86 */
#else
                /* the old free_owner_edge_enter: enter, read tls again */
                d_step { busy[t] = 1 };
                d_step { e = tls[t] };
                if
                :: e == h -> d_step { OWNER_ENTER(h); pcount[h]--; hblocks[h]-- }
                :: else -> FREE_OWN_ENTERED(e)
                fi;
                d_step { LEAVE }
#endif
            fi
        fi;
        lc = 0
    :: else ->
        /* h is &heap_lending: the owner test fails;
         * free_not_owner_leave goes on inside the same busy region with
         * the heap read there (heap_free_remote_leave(h): the heapless hand-over) */
        assert(h == LENDING);
        FREE_OWN_ENTERED(h);
        d_step { LEAVE; HIT(29) }                                       /* L29 */
    fi;
    e = 0
}

/* free of another heap's block: the owner test fails */
inline free_other()
{
    d_step { FREE_ENTER_STORE; HIT(95) };                               /* L95 */
    d_step { h = tls[t]; EARLY_LEAVE; HIT(21) };                        /* L21 */
#ifdef BROKEN_FREE_NO_BUSY
    /* the old remote path: it entered again and read tls again, so the
     * broken variant's unannounced fast path (FREE_ENTER_STORE: none)
     * does not also leave this path unannounced, and the run fails for
     * the block stack alone */
    d_step { busy[t] = 1 };
    d_step { h = tls[t] };
#endif
    /* free_not_owner_leave: inside the same busy region, with h */
    if
    :: h == LENDING -> d_step { h = HEMPTY; HIT(24) }; d_step { HIT(88) }   /* L24 */ /* L88 */
    :: else -> skip
    fi;
    if
    :: h != HEMPTY -> d_step { OWNER_ENTER(h); HIT(25) }                /* L25 */
    :: else ->
        /* heapless: hand the block over at once; the pool may have to be
         * adopted (it was ABANDONED, or FULL with its owner gone) */
        d_step { HIT(26) };                                             /* L26 */
        if
        :: skip
        :: get_heap(h, 27);                                             /* L27 */
            if
            :: h != HEMPTY -> d_step { OWNER_ENTER(h); has_pool[h] = true; HIT(28) }  /* L28 */
            :: else -> skip    /* NULL: released instead */
            fi
        fi
    fi;
    d_step { LEAVE; HIT(29) }                                           /* L29 */
}

/* obmt_collect */
inline collect_op()
{
    d_step { ENTER_STORE; HIT(30) };                                    /* L30 */
    d_step { h = tls[t]; HIT(31) };                                     /* L31 */
    if
    :: h == LENDING -> d_step { h = HEMPTY; HIT(32) }                   /* L32 */
    :: else -> skip
    fi;
    /* reclaim_collect: pass_acquire(true) */
    do
    :: atomic { HIT(33);                                                /* L33 */
        if
        :: pass_flag == 0 -> pass_flag = R_PASS; held_flag = true; lok = true
        :: pass_flag == R_FORK -> held_flag = false; lok = true
        :: pass_flag == R_PASS -> lok = false
        fi }
        if
        :: lok -> lok = false; break
        :: else -> d_step { HIT(34) }                                   /* L34 */
        fi
    od;
    /* with the flag held no lender runs: read the heap again (it may
     * have read LENDING at L31 from a lender that backed off since) */
    if
    :: held_flag -> d_step { h = tls[t]; assert(h != LENDING); HIT(81) }   /* L81 */
    :: else -> skip
    fi;
    if
    :: h != HEMPTY ->
        d_step { OWNER_ENTER(h); HIT(35) };                             /* L35 */
        d_step { FLUSH(h); HIT(105) }                                   /* L105 */
    :: else -> skip
    fi;
    if
    :: held_flag ->
#ifdef COLLECT_LENDS
        /* pass_run over the other heaps */
        d_step { me = tls[t]; assert(me != LENDING); HIT(36) };         /* L36 */
        pass_over(me);
        me = 0;
#endif
        d_step { pass_flag = 0; held_flag = false; HIT(37) }            /* L37 */
    :: else -> skip
    fi;
    d_step { LEAVE; HIT(38) }                                           /* L38 */
}

/* fork: heap_atfork_prepare, fork(), then the parent's handler */
inline fork_op()
{
    forks++;
#ifndef BROKEN_FORK
    do
    :: atomic { HIT(39);                                                /* L39 */
        if
        :: pass_flag == 0 -> pass_flag = R_FORK; lok = true
        :: else -> lok = false
        fi }
        if
        :: lok -> lok = false; break
        :: else -> skip
        fi
    od;
#endif
    atomic { h = tls[t]; assert(h != LENDING); HIT(40) };               /* L40 */
    if
    :: h != HEMPTY ->
        /* heap_flush_remote(h), outside lend_enter */
        d_step { OWNER_ENTER(h); HIT(41) };                             /* L41 */
        d_step { owner_in[h] = 0; ins = 0 }
    :: else -> skip
    fi;
    /* fork(): the child inherits no lent heap */
    d_step {
        x = 1;
        do
        :: x <= NH -> assert(lend_state[x] != L_HELD); x++
        :: else -> break
        od;
        x = 1;
        do
        :: x <= NT -> assert(tls[x] != LENDING); x++
        :: else -> break
        od;
        x = 0
    };
#ifndef BROKEN_FORK
    d_step { pass_flag = 0; HIT(42) }                                   /* L42 */
#else
    skip
#endif
}

proctype thread(byte t)
{
    byte h, ins, n, e, x, lt, me, forks, lc, lw;
    bit lb;
    bool gotp, lok, held_flag;

    do
    :: n < OPS ->
        if
        :: malloc_op()
        :: myheap[t] != HEMPTY && hblocks[myheap[t]] > 0 -> free_own()
        :: free_other()
        :: collect_op()
        :: t == 1 && forks < FORKS -> fork_op()
        fi;
        d_step { n++; h = 0; e = 0; gotp = false; assert(ins == 0 && busy[t] == 0) }
    :: else -> break
    od;

    /* ---- exit: heap_key_destructor, if the key was set */
    if
    :: keyed[t] ->
        atomic { ENTER_STORE; HIT(43) };                                /* L43 */
        self_wait(h, 44);                                               /* L44 */
        assert(h == myheap[t]);
        /* heap_thread_exit(h) */
        d_step { OWNER_ENTER(h); FLUSH(h); HIT(106) };                  /* L106 */
        d_step { HIT(45) };                                             /* L45 */
#ifndef BROKEN_NO_CLOSE
        /* lend_close(h) */
        do
        :: atomic { HIT(46);                                            /* L46 */
            if
            :: lend_state[h] == L_OPEN -> lend_state[h] = L_CLOSED; lok = true
            :: else -> lok = false
            fi }
            if
            :: lok -> lok = false; break
            :: else ->
                if
                :: lend_state[h] == L_CLOSED -> d_step { HIT(47) }; break   /* L47 */
                :: else -> d_step { HIT(48) }                           /* L48 */
                fi
            fi
        od;
#endif
        atomic { tls[t] = HEMPTY; HIT(49) };                            /* L49 */
        /* the rest of the exit, then free_heap_push */
        d_step { HIT(50);                                               /* L50 */
            assert(infl[h] == 0 && bst[h] == 0 && instk[h] == 0);
            has_pool[h] = false;
            hblocks[h] = 0;
            /* its pool is abandoned (model 3): F's blocks of it are none
             * of this model's business any more */
            oblocks[h] = 0;
            pcount[h] = 0;
            prem[h] = 0;
            bst[h] = 0;
            owner_in[h] = 0;
            ins = 0;
            freeheaps = freeheaps | (1 << (h - 1))
        };
        d_step { LEAVE; HIT(51) }                                       /* L51 */
    :: else -> skip     /* no heap, or its key never set: no destructor */
    fi;
    /* the thread is gone, and its TLS with it */
    d_step {
        assert(busy[t] == 0 && (tls[t] == HEMPTY || !keyed[t]));
        tls_alive[t] = false;
        h = 0
    };
    tdone++;
    ndone++
}

/* F: another thread that frees the blocks of a heap's pool that the
 * heap's thread handed to it: each a remote push onto the pool's list
 * (pool_push_remote's CAS, as one step: a batch of one). */
proctype freer()
{
    do
    :: d_step { oblocks[1] > 0 -> oblocks[1]--; prem[1]++; HIT(82) }  /* L82 */
#if NH >= 2
    :: d_step { oblocks[2] > 0 -> oblocks[2]--; prem[2]++; HIT(82) }  /* L82 */
#endif
#if NH >= 3
    :: d_step { oblocks[3] > 0 -> oblocks[3]--; prem[3]++; HIT(82) }  /* L82 */
#endif
    :: tdone == NT -> break
    od;
    ndone++
}

proctype lender()
{
    byte i, x, lt, lc, lw;
    bit lb;
    bool lok;

    do
    :: i < PASSES ->
        /* reclaim_pass: pass_acquire(false) */
        atomic { HIT(52);                                               /* L52 */
            if
            :: pass_flag == 0 -> pass_flag = R_PASS; lok = true
            :: else -> lok = false
            fi
        }
        if
        :: lok ->
            lok = false;
            pass_over(0);
            d_step { pass_flag = 0; HIT(53) }                           /* L53 */
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    ndone++
}

init
{
    byte x;

    atomic {
        COVER_INIT;
        x = 1;
        do
        :: x <= NH -> bcap[x] = BCAP; x++
        :: else -> break
        od;
        x = 1;
        do
        :: x <= NT -> tls_alive[x] = true; run thread(x); x++
        :: else -> break
        od;
        run lender();
        run freer()
    }
    (ndone == NT + 2);
    d_step {
        x = 1;
        do
        :: x <= NH ->
            assert(lend_state[x] == L_CLOSED && owner_in[x] == 0 && lender_in[x] == 0);
            assert(x > nheaps || leaked[x] || (freeheaps & (1 << (x - 1))));
            x++
        :: else -> break
        od;
        x = 1;
        do
        :: x <= NT -> assert(!tls_alive[x]); x++
        :: else -> break
        od;
        assert(pass_flag == 0);
        x = 0;
        ended = true
    }
}

#ifdef TERM
ltl term { <> ended }
#endif
