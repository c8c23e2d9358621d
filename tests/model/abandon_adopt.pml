/*
 * abandon_adopt.pml: model 3 of 3. A thread exits while other threads still
 * hold blocks of its pools. heap_thread_exit takes its `returned` stack,
 * abandons its used pools (abandon_used -> release_unowned: owner =
 * ABANDONED, then CAS remote 0 -> ABANDONED, or give the pool back if it is
 * empty) and its ARMED and full pools (abandon_flagged: CAS FULL -> 0
 * while the owner is still this heap, then as a used pool, or, if a
 * hand-over cleared FULL, leave it to the `returned` route; it used to set
 * OWNER_ABANDONED first and then CAS FULL -> ABANDONED, an ABA that needs a
 * freer that adopts the pool and mallocs it FULL again before the exit's
 * CAS: -DREFILL gives F1 that malloc, and -DBROKEN_EXIT_ORDER, the old
 * order, then fails), gives back
 * its empty pools, closes `returned` (exchange RETURNED_CLOSED) and puts its
 * heap on the free-heap stack. Meanwhile other threads free blocks into those
 * pools; the freer that clears ABANDONED (or clears FULL and finds the owner
 * gone or its `returned` closed) adopts the pool with its remote list
 * (adopt), or, without a heap, releases it (release_unowned). A thread that
 * later gets the exited thread's heap back from the free-heap stack
 * (heap_get_slow reopens `returned`) may receive a pool that a freer was still
 * handing back to the heap's previous thread (returned_place, ABANDONED case).
 *
 * Code modelled (src/): heap.c heap_thread_exit, abandon_used, abandon_flagged,
 * pool_file_emptied (ARMED),
 * release_unowned, give_back, cache_or_give, pool_place, heap_free_remote_leave,
 * adopt, returned_push, take_returned, returned_place, heap_get_slow,
 * free_heap_pop, free_heap_push, heap_malloc_slow, take_cached_empty,
 * heap_collect (called by adopt and by heap_ticked), heap_free_remote_leave's tick,
 * pool_refill, free_into_full; pool.c pool_push_remote,
 * pool_drain_remote, pool_take_list, pool_init's carve; api.c obmt_free;
 * internal.h pool_pop; reclaim.c reclaim_heap, reclaim_pool (the reclaim
 * pass), with heap_abandon_late for the pools it holds when a heap closes.
 * Every step tagged X<n> (with HIT(n)) is listed with its code line in
 * tests/model/MAPPING.md, which check_mapping.sh verifies against src/.
 *
 * Actors (one proctype, three roles):
 *  O  (role 0): owns the pools (heap 1). Does OPS mallocs / frees of its own
 *     / collects (heap_ticked's heap_collect, which the ticks of its slow
 *     paths run now and then), handing blocks to the others through a channel
 *     (the user's own synchronisation), then exits (heap_thread_exit) and afterwards frees
 *     the blocks it still holds as a thread without a heap (tls_heap_exited,
 *     as in a later TLS destructor).
 *  F1 (role 1): frees what it receives (after each free, with a heap, it may
 *     collect: heap_free_remote_leave's heap_tick). Starts without a heap (heap_empty);
 *     heap_get_slow gives it one when it adopts, or once, at any moment, when
 *     it "mallocs another class" (which also drains its `returned`). That is
 *     heap 1 again if O has exited (free-heap stack), else a new heap. At the
 *     end it exits too (heap_thread_exit) if it has a heap.
 *  F2 (role 2): frees what it receives without a heap (a thread whose heap
 *     was torn down): it can only release pools (release_unowned(NULL, ...)).
 *  P  (purger): PASSES reclaim passes at any moments, each over every heap
 *     handed out so far: take its `returned` stack whole (unless NULL or
 *     CLOSED), swap the remote word of each pool whose remote list holds
 *     all its blocks for RECLAIMED and purge the blocks (their words read
 *     0), push the stack back; if the heap closed meanwhile (its thread
 *     exited, maybe another thread has it again), abandon each pool as
 *     exit does with a late one (heap_abandon_late).
 *
 * Granularity: one Promela step per atomic operation on a shared word
 * (pool->remote, pool->owner, heap->returned, the free-heap stack); work on
 * data only the current holder of a pool can touch is folded into d_steps.
 *
 * Abstractions (MAPPING.md has the full list):
 *  - memory ordering is abstracted away: spin is sequentially consistent.
 *  - pools are fully carved; one pool per size class (NP pools, NB blocks);
 *    F1 never mallocs from these classes (its "malloc" is of another class).
 *  - the arena side of give_back (arena_give_pool) is model 2: here a pool
 *    given back is marked in_arena (ghost) and never taken again.
 *  - the free-heap stack (a CAS with a generation, like the arena word) is
 *    one atomic step for push and one for pop.
 *  - statistics counters, tls_in_heap_get, obmt_ensure_init and
 *    pthread_setspecific are left out; heap_get_slow fails only for a thread
 *    whose heap was torn down (the heaps never run out: NH = 3).
 *  - fork (heap_atfork_child) is not modelled (nor the fork handlers'
 *    wait for a reclaim pass).
 *
 * Checks (assertions):
 *  - a block is never handed out twice; a free never finds its pool given
 *    back (owner == NULL); take_list never sees more blocks than are out;
 *    give_back finds an empty remote list; a pool is on a `returned` stack
 *    at most once; returned_place unlinks a pool only from the full list of
 *    the heap it is on, and otherwise finds it ABANDONED and in no list.
 *  - at the end (all threads gone): every pool is back in its arena (owner
 *    NULL, state FREE, count 0, remote 0) with all its blocks on its free
 *    list exactly once; no block is live; every heap's `returned` is NULL or
 *    CLOSED (nothing stranded on a dead heap).
 *  - the purger purges a pool only when every block of it is free and on
 *    its remote list; no free reaches a purged pool; a pool the purger held
 *    when its heap closed is ABANDONED and in no list.
 *  - -DTERM: LTL `term`, <> ended: every run ends (pan -a).
 *  - -DCOVER: pan prints "COVERED: n n ..." at exit, the tags executed.
 *
 * Negative checks (spin must find a violation):
 *  -DBROKEN_CLOSE   heap_thread_exit empties `returned` with NULL instead of
 *                   RETURNED_CLOSED: a freer that cleared FULL pushes the
 *                   pool onto a dead heap's stack, where nobody takes it.
 *  -DBROKEN_ABANDON release_unowned sets ABANDONED with a plain store after
 *                   seeing the list empty: a block pushed in between is lost.
 *  -DBROKEN_LATE    the purger pushes its pools back on a `returned` stack
 *                   it finds CLOSED (the CAS from CLOSED succeeds): they
 *                   stay on a dead heap's stack, and no one gives them back.
 *  -DREFILL -DBROKEN_EXIT_ORDER  exit's old order for a FULL or ARMED
 *                   pool (OWNER_ABANDONED stored first, then CAS FULL ->
 *                   ABANDONED): F1's free clears FULL, reads the owner
 *                   gone and adopts the pool, mallocs its last free block
 *                   (FULL again, set by F1 as its owner), and exit's CAS
 *                   succeeds on F1's pool: two heaps hold it.
 *  -DREFILL         (a pass mode) F1 may also malloc from a pool it
 *                   adopted, until the pool is FULL again, and free that
 *                   block later: the shape the old order failed on.
 */

#ifndef NP
#define NP 1
#endif
#ifndef NB
#define NB 2
#endif
#ifndef OPS
#define OPS 4           /* O's mallocs / frees before it exits */
#endif
#ifndef MAXHELD
#define MAXHELD 1
#endif
#ifndef KEEP
#define KEEP 4          /* OBMT_KEEP_EMPTY_POOLS */
#endif
#ifndef PASSES
#define PASSES 1        /* the purger's reclaim passes */
#endif
#define NBLK (NP * NB)
#define MAXBLK 7
#define MAXP 3
#define NH 3            /* heaps 1..NH */

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

/* pool->remote: count << 6 | head << 3 | flags (FULL, ABANDONED, RECLAIMED) */
#define RFULL    1
#define RABAND   2
#define RRECL    4
#define RFLAGS   7
#define PTRMASK  56
#define CNTONE   64
#define PTR(w)   (((w) >> 3) & 7)
#define CNT(w)   ((w) >> 6)
#define MKPTR(b) ((b) << 3)

/* pool->owner: 0 NULL, 1..NH a heap, OABAND = OWNER_ABANDONED */
#define OABAND 4
/* a thread's tls_heap when it has none: &heap_empty */
#define HEMPTY 5
/* heap->returned: 0 NULL, pool + 1, CLOSED = RETURNED_CLOSED */
#define CLOSED 9

/* enum pool_state */
#define P_FREE      0
#define P_USED      1
#define P_FULL      2
#define P_PENDING   3
#define P_EMPTY     4
#define P_ABANDONED 5
#define P_ARMED     6   /* in usedpools with FULL (maybe) still set */

/* which list of heap lheap[p] holds pool p */
#define W_NONE  0
#define W_USED  1
#define W_FULL  2
#define W_EMPTY 3

#define POOL(b) (((b) - 1) / NB)
#define INCHAN 8        /* live[b]: in the hand-off channel */

byte remote[MAXP];
byte owner[MAXP];
byte nxt[MAXBLK + 1];
byte returned[NH + 1];
byte returned_next[MAXP];
byte freeheaps;              /* the free-heap stack, as a set (bit h) */
byte nheaps = 1;             /* heaps handed out so far (g_heaps_used) */

/* pool header fields (written by the pool's current holder) and heap lists */
byte freeblock[MAXP];
byte count[MAXP];
byte pstate[MAXP];
byte where[MAXP];
byte lheap[MAXP];
byte nempty_[NH + 1];
byte adopted_since[NH + 1];  /* heap->adopted_since, collect_after (owner-only) */
byte collect_after[NH + 1];

/* ghosts */
byte live[MAXBLK + 1];       /* 0 free, role + 1 held by that thread, INCHAN */
bool on_returned[MAXP];
bool in_arena[MAXP];
bool purged[MAXP];           /* the purger purged its blocks; until pool_init carves it */
bool o_sent_all;
byte ndone;
bool ended;

chan hand = [NBLK] of { byte };

/* ---- building blocks for the thread that holds the pool ---------------- */

/* pool_take_list(p, w) */
inline take_list(p, w)
{
    d_step {
        tl_list = PTR(w);
        tl_n = CNT(w);
        if
        :: (w & RRECL) ->
            /* every block came back and the purger purged the pool */
            HIT(74);                                                     /* X74 */
            assert(tl_list == 0);          /* else os_fatal: double free */
            assert(purged[p] && count[p] == NB && freeblock[p] == 0);
            count[p] = 0;
            freeblock[p] = 0
        :: !(w & RRECL) && tl_list != 0 ->
            HIT(55);                                                     /* X55 */
            assert(tl_n <= count[p]);       /* else os_fatal: double free */
            count[p] = count[p] - tl_n;
            if
            :: freeblock[p] == 0 -> freeblock[p] = tl_list
            :: else ->
                tl_tail = tl_list;
                tl_k = 1;
                do
                :: nxt[tl_tail] != 0 -> tl_tail = nxt[tl_tail]; tl_k++; assert(tl_k <= NB)
                :: else -> break
                od;
                nxt[tl_tail] = freeblock[p];
                freeblock[p] = tl_list
            fi
        :: else -> assert(tl_n == 0)
        fi;
        tl_list = 0; tl_n = 0; tl_tail = 0; tl_k = 0
    }
}

/* pool_drain_remote(p): exchange remote with 0 (X54; `site` tags the call
 * site), then take the list. A macro so that `site` reaches HIT's c_code. */
#define drain(p, site) \
    d_step { w = remote[p]; remote[p] = 0; assert((w & (RFULL | RABAND)) == 0); HIT(54); HIT(site) }; /* X54 */ \
    take_list(p, w); \
    w = 0

/* give_back(h, p): back to its arena (model 2 does the arena side). */
inline give_back(p)
{
    d_step { assert(remote[p] == 0); assert(count[p] == 0); HIT(26) }    /* X26 */
    pstate[p] = P_FREE;
    d_step { owner[p] = 0; in_arena[p] = true; HIT(27) }                 /* X27 */
}

inline cache_or_give(h, p)
{
    if
    :: nempty_[h] < KEEP ->
        d_step { pstate[p] = P_EMPTY; where[p] = W_EMPTY; lheap[p] = h; nempty_[h]++; HIT(28) }  /* X28 */
    :: else -> give_back(p)
    fi
}

/* pool_place(h, p): p in none of h's lists, owner == h, flags clear */
inline pool_place(h, p)
{
    if
    :: d_step { count[p] == 0 -> assert(where[p] == W_NONE && owner[p] == h) }; cache_or_give(h, p)
    :: d_step { count[p] != 0 -> assert(where[p] == W_NONE && owner[p] == h) };
        do
        :: freeblock[p] != 0 ->
            d_step { pstate[p] = P_USED; where[p] = W_USED; lheap[p] = h; HIT(32) };  /* X32 */
            break
        :: else ->
            d_step { HIT(29);                                            /* X29 */
                if
                :: remote[p] == 0 -> remote[p] = RFULL; ok = true
                :: else -> ok = false
                fi
            }
            if
            :: ok -> d_step { pstate[p] = P_FULL; where[p] = W_FULL; lheap[p] = h; HIT(30) }; break  /* X30 */
            :: else ->
                drain(p, 31);                                            /* X31 */
                if
                :: count[p] == 0 -> cache_or_give(h, p); break
                :: else -> skip
                fi
            fi
        od
    fi
}

/* release_unowned(h, p, w): the caller holds p and will not keep it. */
inline release_unowned(p, w)
{
    pstate[p] = P_ABANDONED;
    d_step { owner[p] = OABAND; HIT(22) }                                /* X22 */
    take_list(p, w);
    do
    :: d_step { count[p] == 0 -> HIT(23) }; give_back(p); break          /* X23 */
    :: else ->
        /* CAS 0 -> ABANDONED; -DBROKEN_ABANDON: a test, then a plain store.
         * (Inside an inline an #if must skip fewer than 8 lines, or spin's
         * line numbers in counterexamples go wrong.) */
#ifndef BROKEN_ABANDON
        d_step { HIT(24); if :: remote[p] == 0 -> remote[p] = RABAND; ok = true :: else -> ok = false fi }  /* X24 */
#else
        if :: remote[p] == 0 -> d_step { HIT(24); remote[p] = RABAND; ok = true } :: else -> ok = false fi  /* X24 */
#endif
        if
        :: ok -> break
        :: else -> drain(p, 25)                                          /* X25 */
        fi
    od;
    ok = false
}

/* take_returned(h), returned_place(h, p) for each pool */
inline take_returned(h)
{
    d_step { list = returned[h]; returned[h] = 0; assert(list != CLOSED); HIT(33) }  /* X33 */
    do
    :: list != 0 ->
        d_step {
            q = list - 1;
            list = returned_next[q];
            assert(on_returned[q]);
            on_returned[q] = false;
            if
            :: pstate[q] == P_FULL || pstate[q] == P_PENDING ->
                HIT(34);                                                 /* X34 */
                assert(where[q] == W_FULL && lheap[q] == h);  /* still on our full list */
                where[q] = W_NONE
            :: pstate[q] == P_ARMED ->
                HIT(62);                                                 /* X62 */
                assert(where[q] == W_USED && lheap[q] == h);  /* FULL cleared before it ran dry */
                where[q] = W_NONE
            :: else ->
                /* from the exit of this heap's previous thread */
                assert(pstate[q] == P_ABANDONED && where[q] == W_NONE)
            fi
        }
        if
        :: d_step { owner[q] != h -> HIT(35) };                          /* X35 */
            d_step { owner[q] = h; HIT(36) }                             /* X36 */
        :: else -> skip
        fi;
        drain(q, 37);                                                    /* X37 */
        pool_place(h, q)
    :: else -> break
    od;
    q = 0
}

/* heap_collect(h, false): take `returned`, drain the used pools' remote
 * lists, file the empty ones; `left` counts the others. */
inline heap_collect(h)
{
    take_returned(h);
    left = 0;
    cq = 0;
    do
    :: cq < NP ->
        if
        :: where[cq] == W_USED && lheap[cq] == h && pstate[cq] == P_ARMED ->
            d_step { left++; HIT(63) }                                   /* X63 */
        :: where[cq] == W_USED && lheap[cq] == h && pstate[cq] != P_ARMED ->
            drain(cq, 57);                                               /* X57 */
            if
            :: count[cq] == 0 -> d_step { where[cq] = W_NONE; HIT(58) }; cache_or_give(h, cq)  /* X58 */
            :: else -> left++
            fi
        :: else -> skip
        fi;
        cq++
    :: else -> break
    od;
    cq = 0
}

/* adopt(h, p, w), with its collect every 64 + (pools left) adoptions (the
 * first adoption of a heap collects: collect_after starts at 0) */
inline adopt(h, p, w)
{
    d_step { owner[p] = h; HIT(21) }                                     /* X21 */
    take_list(p, w);
    pool_place(h, p);
    if
    :: d_step { adopted_since[h] + 1 > collect_after[h] -> adopted_since[h] = 0; HIT(56) };  /* X56 */
        heap_collect(h);
        d_step { collect_after[h] = 64 + left; left = 0 }
    :: else -> adopted_since[h]++
    fi
}

/* heap_get_slow: the thread's heap, a recycled one, a new one, or none. */
inline heap_get_slow(hh)
{
    if
    :: myh != HEMPTY -> hh = myh
    :: d_step { myh == HEMPTY && exited -> HIT(20); hh = 0 }             /* X20 */
    :: myh == HEMPTY && !exited ->
        d_step {
            if
            :: freeheaps & 2 -> hh = 1; freeheaps = freeheaps & ~2; reopened = true; HIT(17)  /* X17 */
            :: freeheaps & 4 -> hh = 2; freeheaps = freeheaps & ~4; reopened = true; HIT(17)  /* X17 */
            :: freeheaps & 8 -> hh = 3; freeheaps = freeheaps & ~8; reopened = true; HIT(17)  /* X17 */
            :: else -> assert(nheaps < NH); nheaps++; hh = nheaps; reopened = false; HIT(18)  /* X18 */
            fi
        }
        if
        :: reopened -> d_step { returned[hh] = 0; reopened = false; HIT(19) }  /* X19 */
        :: else -> skip
        fi;
        myh = hh
    fi
}

/* returned_push(o, p): ok = pushed */
inline returned_push(o, p)
{
    d_step { head = returned[o]; HIT(10) }                               /* X10 */
    do
    :: d_step { head == CLOSED -> HIT(11); ok = false }; break           /* X11 */
    :: else ->
        atomic { HIT(12);                                                /* X12 */
            returned_next[p] = head;   /* p is ours until the CAS: folded in */
            if
            :: returned[o] == head ->
                returned[o] = p + 1; ok = true;
                assert(!on_returned[p]); on_returned[p] = true
            :: else -> head = returned[o]; ok = false
            fi
        }
        if
        :: ok -> break
        :: else -> skip
        fi
    od;
    head = 0
}

/* heap_free_remote_leave(p, b) */
inline free_remote(p, b)
{
    d_step { assert(owner[p] != 0); HIT(6) }  /* X6 */ /* NULL: os_fatal, the pool is free */
    d_step { old = remote[p]; HIT(7) }                                   /* X7 */
    do
    :: atomic { HIT(8);                                                  /* X8 */
           assert(PTR(old) != b);
           assert(!(old & RRECL));       /* no legal free reaches a purged pool */
           nxt[b] = PTR(old);
           nw = ((old & ~PTRMASK & ~RFULL) + CNTONE) | MKPTR(b);
           if
           :: remote[p] == old -> remote[p] = nw; ok = true; live[b] = 0
           :: else -> old = remote[p]; ok = false
           fi
       }
       if
       :: ok -> break
       :: else -> skip
       fi
    od;
    if
    :: (old & RFULL) ->
        /* we cleared FULL: hand the pool back to its owner */
        assert((old & RABAND) == 0);
        d_step { o = owner[p]; assert(o != 0); ok = false; HIT(9) }      /* X9 */
        if
        :: o != OABAND -> returned_push(o, p)
        :: else -> skip
        fi;
        if
        :: !ok ->
            heap_get_slow(hh);
            d_step { w = remote[p]; remote[p] = 0; HIT(13) }             /* X13 */
            if
            :: hh != 0 -> adopt(hh, p, w)
            :: else -> release_unowned(p, w)
            fi
        :: else -> skip
        fi
    :: (old & RABAND) ->
        d_step { w = remote[p]; HIT(14) }                                /* X14 */
        do
        :: d_step { (w & RABAND) == 0 -> HIT(15); ok = false }; break  /* X15 */ /* another thread adopted it */
        :: else ->
            d_step { HIT(16);                                            /* X16 */
                if
                :: remote[p] == w -> remote[p] = 0; ok = true
                :: else -> w = remote[p]; ok = false
                fi
            }
            if
            :: ok -> break
            :: else -> skip
            fi
        od;
        if
        :: ok ->
            heap_get_slow(hh);
            if
            :: hh != 0 -> adopt(hh, p, w)
            :: else -> release_unowned(p, w)
            fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    old = 0; nw = 0; o = 0; w = 0; hh = 0; ok = false
}

/* obmt_free(b) by a thread whose tls_heap is myh */
inline do_free(b)
{
    p = POOL(b);
    d_step { o = owner[p]; HIT(1) }                                      /* X1 */
    if
    :: o == myh ->
        /* the owner's path: fast, or free_into_full */
        d_step {
            assert(live[b] == role + 1);
            fb = freeblock[p];
            assert((fb == 0) == (count[p] == NB));  /* api.c tests count (count_span): full iff all blocks out */
            assert(count[p] >= 1 && b != fb);
            live[b] = 0;
            if
            :: fb != 0 ->
                HIT(2);                                                  /* X2 */
                nxt[b] = fb; freeblock[p] = b; count[p]--;
                /* pool_file_emptied: the sole pool of its class stays in
                 * usedpools when USED (an ARMED one clears FULL first,
                 * below); PENDING waits for `returned` */
                assert(count[p] > 0 || pstate[p] == P_USED || pstate[p] == P_PENDING || pstate[p] == P_ARMED)
            :: else ->
                HIT(3);                                                  /* X3 */
                assert(pstate[p] == P_FULL || pstate[p] == P_PENDING);
                nxt[b] = 0; freeblock[p] = b; count[p]--;
                if
                :: pstate[p] == P_FULL ->
                    /* back to usedpools, ARMED: FULL stays set, no atomic */
                    assert(where[p] == W_FULL && lheap[p] == myh);
                    pstate[p] = P_ARMED; where[p] = W_USED; HIT(4)       /* X4 */
                :: else -> skip
                fi
            fi;
            fb = 0
        }
        /* pool_file_emptied of an ARMED pool: CAS FULL -> 0, cannot fail */
        if
        :: count[p] == 0 && pstate[p] == P_ARMED ->
            d_step { HIT(61); assert(remote[p] == RFULL); remote[p] = 0; pstate[p] = P_USED }  /* X61 */
        :: else -> skip
        fi
    :: else ->
        assert(live[b] == role + 1);
        free_remote(p, b)
    fi;
    p = 0; o = 0
}

/* pool_refill for a pool that is not ARMED (fully carved) */
inline pool_refill_used(h, c)
{
    d_step { old = remote[c]; HIT(39) }                                  /* X39 */
    do
    :: (old & PTRMASK) != 0 -> drain(c, 40); break                       /* X40 */
    :: else ->
        d_step { HIT(41);                                                /* X41 */
            if
            :: remote[c] == old -> remote[c] = RFULL; ok = true
            :: else -> old = remote[c]; ok = false
            fi
        }
        if
        :: ok -> d_step { pstate[c] = P_FULL; where[c] = W_FULL }; break
        :: else -> skip
        fi
    od;
    old = 0; ok = false
}

/* pool_refill(h, c): an ARMED pool, or pool_refill_used */
inline pool_refill(h, c)
{
    if
    :: pstate[c] == P_ARMED ->
        /* still FULL: file it FULL, no RMW; else it is on its way back */
        d_step { HIT(5); where[c] = W_FULL;                              /* X5 */
            if :: remote[c] == RFULL -> pstate[c] = P_FULL :: else -> pstate[c] = P_PENDING fi }
    :: else -> pool_refill_used(h, c)
    fi
}

/* pool_pop(h, p) */
inline pool_pop(h, c)
{
    d_step { HIT(38);                                                    /* X38 */
        b = freeblock[c];
        assert(b != 0 && POOL(b) == c);
        assert(live[b] == 0);                   /* never handed out twice */
        nb = nxt[b];
        count[c]++;
        freeblock[c] = nb;
        live[b] = role + 1
    }
    if
    :: nb == 0 -> pool_refill(h, c)
    :: else -> skip
    fi;
    nb = 0
}

/* malloc of class c by heap h: the fast path or heap_malloc_slow */
inline owner_malloc(h, c)
{
    b = 0;
    if
    :: where[c] == W_USED && lheap[c] == h -> pool_pop(h, c)
    :: else ->
        if
        :: atomic { returned[h] != 0 -> HIT(42) }; take_returned(h)      /* X42 */
        :: else -> skip
        fi;
        if
        :: where[c] == W_USED && lheap[c] == h -> pool_pop(h, c)
        :: where[c] == W_EMPTY && lheap[c] == h ->
            /* take_cached_empty, pool_init (its shortcut), usedpools */
            d_step { where[c] = W_NONE; nempty_[h]--; assert(remote[c] == 0); HIT(43) }  /* X43 */
            if
            :: d_step { freeblock[c] != 0 ->
                   assert(count[c] == 0 && owner[c] == h && !purged[c]);
                   pstate[c] = P_USED; where[c] = W_USED }
            :: d_step { freeblock[c] == 0 ->    /* purged: carve it again */
                   HIT(75);                                              /* X75 */
                   assert(count[c] == 0 && owner[c] == h && purged[c]);
                   b = 0;
                   do
                   :: b < NB -> nxt[c * NB + b + 1] = (b + 1 < NB -> c * NB + b + 2 : 0); b++
                   :: else -> break
                   od;
                   b = 0;
                   freeblock[c] = c * NB + 1;
                   purged[c] = false;
                   pstate[c] = P_USED; where[c] = W_USED }
            fi;
            pool_pop(h, c)
        :: else -> skip       /* would take a pool from an arena */
        fi
    fi
}

/* heap_thread_exit(h) */
inline thread_exit(h)
{
    d_step { myh = HEMPTY; exited = true; HIT(44); HIT(45) }            /* X44 */ /* X45 */
    take_returned(h);
    q = 0;
    do
    :: q < NP ->
        if
        :: where[q] == W_USED && lheap[q] == h && pstate[q] == P_ARMED ->
            where[q] = W_NONE;
            /* abandon_flagged (an ARMED pool): CAS FULL -> 0, then as a
             * used pool; if a hand-over cleared FULL, the pool is on its
             * way back through `returned` */
#ifndef BROKEN_EXIT_ORDER
            d_step { HIT(64);                                            /* X64 */
                if :: remote[q] == RFULL -> remote[q] = 0; ok = true :: else -> ok = false fi }
            if
            :: ok -> ok = false; w = 0; release_unowned(q, w)
            :: else -> pstate[q] = P_ABANDONED; d_step { owner[q] = OABAND; HIT(65) }  /* X65 */
            fi
#else
            /* the old abandon_full: OWNER_ABANDONED first, then CAS
             * FULL -> ABANDONED (the ABA fixed in de6c882) */
            pstate[q] = P_ABANDONED; owner[q] = OABAND;
            d_step { if :: remote[q] == RFULL -> remote[q] = RABAND :: else -> skip fi }
#endif
        :: where[q] == W_USED && lheap[q] == h && pstate[q] != P_ARMED ->
            where[q] = W_NONE;
            /* abandon_used */
            d_step { w = remote[q]; remote[q] = 0; HIT(46) }             /* X46 */
            release_unowned(q, w)
        :: else -> skip
        fi;
        q++
    :: else -> break
    od;
    q = 0;
    do
    :: q < NP ->
        if
        :: where[q] == W_FULL && lheap[q] == h ->
            where[q] = W_NONE;
            /* abandon_flagged (a FULL pool), as for an ARMED one above:
             * CAS FULL -> 0 while the owner is still this heap, then as a
             * used pool; if a hand-over cleared FULL, the pool comes back
             * through `returned` or its freer adopts it */
#ifndef BROKEN_EXIT_ORDER
            d_step { HIT(64);                                            /* X64 */
                if :: remote[q] == RFULL -> remote[q] = 0; ok = true :: else -> ok = false fi }
            if
            :: ok -> ok = false; w = 0; release_unowned(q, w)
            :: else -> pstate[q] = P_ABANDONED; d_step { owner[q] = OABAND; HIT(65) }  /* X65 */
            fi
#else
            /* the old abandon_full: OWNER_ABANDONED first, then CAS
             * FULL -> ABANDONED (the ABA fixed in de6c882) */
            pstate[q] = P_ABANDONED; owner[q] = OABAND;
            d_step { if :: remote[q] == RFULL -> remote[q] = RABAND :: else -> skip fi }
#endif
        :: else -> skip
        fi;
        q++
    :: else -> break
    od;
    q = 0;
    do
    :: q < NP ->
        if
        :: where[q] == W_EMPTY && lheap[q] == h ->
            d_step { where[q] = W_NONE; nempty_[h]--; HIT(50) };         /* X50 */
            give_back(q)
        :: else -> skip
        fi;
        q++
    :: else -> break
    od;
    q = 0;
#ifdef BROKEN_CLOSE
    d_step { list = returned[h]; returned[h] = 0 }
#else
    d_step { list = returned[h]; returned[h] = CLOSED; HIT(51) }         /* X51 */
#endif
    do
    :: list != 0 ->
        d_step {
            q = list - 1;
            list = returned_next[q]; HIT(52);                            /* X52 */
            assert(on_returned[q]);
            on_returned[q] = false;
            assert(pstate[q] == P_ABANDONED && where[q] == W_NONE)
        }
        d_step { w = remote[q]; remote[q] = 0; HIT(46) }                 /* X46 */
        release_unowned(q, w)
    :: else -> break
    od;
    q = 0;
    d_step { freeheaps = freeheaps | (1 << h); HIT(53) }                 /* X53 */
}

inline pick_class(c)
{
    if
    :: c = 0
    :: NP >= 2 -> c = 1
    :: NP >= 3 -> c = 2
    fi
}

proctype thread(byte role)
{
    byte myh, hh, xh, b, nb, c, p, q, cq, o, fb, w, old, nw, head, list, left;
    byte tl_list, tl_n, tl_tail, tl_k;
    bool exited, ok, reopened, did_malloc;
    byte ops = OPS;
    byte nheld;
    byte f1b;           /* -DREFILL: the block F1 malloc'ed, 0 if none */

    if
    :: role == 0 -> myh = 1
    :: role == 1 -> myh = HEMPTY
    :: role == 2 -> myh = HEMPTY; exited = true
    fi;

    if
    :: role == 0 ->
        do
        :: ops > 0 ->
            ops--;
            if
            :: pick_class(c); owner_malloc(myh, c);
                if
                :: b != 0 ->
                    if
                    :: atomic { hand!b; live[b] = INCHAN }
                    :: nheld < MAXHELD -> nheld++
                    fi
                :: else -> skip
                fi;
                c = 0
            :: nheld > 0 ->
                d_step { b = 1; do :: live[b] == 1 -> break :: else -> b++ od }
                do_free(b); nheld--
            :: d_step { HIT(60) }; heap_collect(myh)                      /* X60 */
            fi;
            b = 0
        :: else -> break
        od;
        o_sent_all = true;
        xh = 1;
        thread_exit(xh);
        /* after its exit: frees as a thread without a heap */
        do
        :: nheld > 0 ->
            d_step { b = 1; do :: live[b] == 1 -> break :: else -> b++ od }
            do_free(b); nheld--; b = 0
        :: else -> break
        od
    :: else ->
        do
        :: atomic { hand?b -> live[b] = role + 1 }
            do_free(b); b = 0;
            /* heap_free_remote_leave's (or the owner's free's) heap_tick: it may
             * collect this thread's heap */
            if
            :: d_step { myh != HEMPTY -> HIT(59); HIT(60) }; heap_collect(myh)  /* X59 */ /* X60 */
            :: skip
            fi
#ifdef REFILL
        :: role == 1 && f1b == 0 && myh != HEMPTY &&
           ((where[0] == W_USED && lheap[0] == myh && freeblock[0] != 0) ||
            (NP > 1 && where[NP - 1] == W_USED && lheap[NP - 1] == myh && freeblock[NP - 1] != 0)) ->
            /* a malloc of the class of a pool it adopted (owner_malloc's
             * fast path): its last free block makes the pool FULL again
             * (pool_refill), the shape of the exit ABA of de6c882 */
            if
            :: where[0] == W_USED && lheap[0] == myh && freeblock[0] != 0 -> c = 0
            :: else -> c = NP - 1
            fi;
            owner_malloc(myh, c);
            f1b = b; b = 0; c = 0
        :: role == 1 && f1b != 0 ->
            b = f1b; f1b = 0; do_free(b); b = 0
#endif
        :: role == 1 && !did_malloc ->
            /* a malloc of another class: heap_get_slow, then heap_malloc_slow
             * drains `returned` */
            did_malloc = true;
            heap_get_slow(hh);
            if
            :: atomic { returned[myh] != 0 -> HIT(42) }; take_returned(myh)  /* X42 */
            :: else -> skip
            fi;
            hh = 0
        :: (o_sent_all && empty(hand) && f1b == 0) -> break
        od;
        if
        :: myh != HEMPTY -> xh = myh; thread_exit(xh)
        :: else -> skip
        fi
    fi;
    ndone++
}

#ifdef BROKEN_RECLAIM
#define RECLAIMABLE(w) (CNT(w) >= 1)
#else
#define RECLAIMABLE(w) (CNT(w) == NB)
#endif
#ifdef BROKEN_LATE
#define LATE_CHECK 0
#else
#define LATE_CHECK 1
#endif

/* The reclaim pass (reclaim.c reclaim_pass -> reclaim_heap for each heap
 * handed out; the pass's unlocked looks at in_use and `returned` are hints
 * and are left out). */
proctype purger()
{
    byte xh, list, q, tail, head, w, k;
    byte tl_list, tl_n, tl_tail, tl_k;
    bool ok;
    byte passes = PASSES;

    do
    :: passes > 0 ->
        passes--;
        xh = 1;
        do
        :: xh <= nheaps ->
            d_step { list = returned[xh]; HIT(66) }                     /* X66 */
            do
            :: list == 0 || list == CLOSED -> list = 0; break
            :: else ->
                d_step { HIT(67);                                       /* X67 */
                    if
                    :: returned[xh] == list -> returned[xh] = 0; ok = true
                    :: else -> list = returned[xh]; ok = false
                    fi
                }
                if
                :: ok -> break
                :: else -> skip
                fi
            od;
            if
            :: list != 0 ->
                q = list;
                do
                :: q != 0 ->
                    assert(on_returned[q - 1]);
                    d_step { w = remote[q - 1]; HIT(68) }               /* X68 */
                    if
                    :: (w & RFLAGS) == 0 && RECLAIMABLE(w) ->
                        d_step { HIT(69);                               /* X69 */
                            if
                            :: remote[q - 1] == w ->
                                /* purging a block that is not free loses it */
                                assert(freeblock[q - 1] == 0);
                                k = (q - 1) * NB + 1;
                                do
                                :: k <= (q - 1) * NB + NB -> assert(live[k] == 0); nxt[k] = 0; k++
                                :: else -> break
                                od;
                                k = 0;
                                remote[q - 1] = RRECL;
                                purged[q - 1] = true
                            :: else -> skip
                            fi
                        }
                    :: else -> skip
                    fi;
                    tail = q;
                    q = returned_next[q - 1]      /* the purger's own pools: folded */
                :: else -> break
                od;
                w = 0;
                d_step { head = returned[xh]; HIT(70) }                 /* X70 */
                do
                :: d_step { head == CLOSED && LATE_CHECK -> HIT(71) };  /* X71 */
                    /* the heap's thread exited: abandon each pool as its
                     * exit does with one that arrives late */
                    returned_next[tail - 1] = 0;
                    do
                    :: list != 0 ->
                        d_step {
                            q = list - 1;
                            list = returned_next[q]; HIT(72);           /* X72 */
                            assert(on_returned[q]);
                            on_returned[q] = false;
                            assert(pstate[q] == P_ABANDONED && where[q] == W_NONE)
                        }
                        d_step { w = remote[q]; remote[q] = 0; HIT(46) } /* X46 */
                        release_unowned(q, w);
                        w = 0
                    :: else -> break
                    od;
                    break
                :: else ->
                    atomic { HIT(73);                                   /* X73 */
                        returned_next[tail - 1] = head;  /* the purger's: folded in */
                        if
                        :: returned[xh] == head -> returned[xh] = list; ok = true
                        :: else -> head = returned[xh]; ok = false
                        fi
                    }
                    if
                    :: ok -> break
                    :: else -> skip
                    fi
                od
            :: else -> skip
            fi;
            atomic { xh++; list = 0; q = 0; tail = 0; head = 0; ok = false }
        :: else -> break
        od
    :: else -> break
    od;
    ndone++
}

init
{
    byte b, p, n;

    atomic {
        COVER_INIT;
        /* O's heap 1 owns every pool: USED, fully carved, all blocks free */
        p = 0;
        do
        :: p < NP ->
            b = 0;
            do
            :: b < NB ->
                nxt[p * NB + b + 1] = (b + 1 < NB -> p * NB + b + 2 : 0);
                b++
            :: else -> break
            od;
            freeblock[p] = p * NB + 1;
            pstate[p] = P_USED;
            where[p] = W_USED;
            lheap[p] = 1;
            owner[p] = 1;
            p++
        :: else -> break
        od;
        run thread(0);
        run thread(1);
        run thread(2);
        if
        :: PASSES > 0 -> run purger()
        :: else -> ndone++
        fi
    }
    (ndone == 4);
    d_step {
        p = 0;
        do
        :: p < NP ->
            assert(in_arena[p] && owner[p] == 0 && pstate[p] == P_FREE);
            assert(count[p] == 0 && remote[p] == 0 && where[p] == W_NONE);
            assert(!on_returned[p]);
            n = 0;
            if
            :: purged[p] ->            /* purged: free, no list (pool_init carves it) */
                assert(freeblock[p] == 0);
                b = p * NB + 1;
                do
                :: b <= p * NB + NB -> assert(live[b] == 0); live[b] = 9; n++; b++
                :: else -> break
                od
            :: else ->
                b = freeblock[p];
                do
                :: b != 0 ->
                    assert(POOL(b) == p && live[b] == 0);
                    live[b] = 9;
                    n++;
                    assert(n <= NB);
                    b = nxt[b]
                :: else -> break
                od
            fi;
            assert(n == NB);
            p++
        :: else -> break
        od;
        b = 1;
        do
        :: b <= NBLK -> assert(live[b] == 9); live[b] = 0; b++
        :: else -> break
        od;
        p = 1;
        do
        :: p <= NH -> assert(returned[p] == 0 || returned[p] == CLOSED); p++
        :: else -> break
        od;
        ended = true
    }
}

#ifdef TERM
ltl term { <> ended }
#endif
