/*
 * remote_free.pml: model 1 of 3. The remote-free push onto pool->remote,
 * the owner's take of that list (pool_drain_remote / pool_take_list), and the
 * FULL hand-back through the owner heap's `returned` stack.
 *
 * Code modelled (src/): pool.c pool_push_remote, pool_drain_remote,
 * pool_take_list, pool_init; heap.c pool_refill, pool_place, cache_or_give,
 * returned_push, take_returned, returned_place, free_into_full,
 * heap_free_remote_leave (its FULL branch), heap_malloc_slow, take_cached_empty,
 * heap_collect (run at any time: heap_ticked runs it from the owner's slow
 * paths now and then); internal.h pool_pop; api.c obmt_free (the owner's
 * path); reclaim.c reclaim_heap, reclaim_pool (the reclaim pass, run by
 * another thread at any time); pool.c pool_init's carve of a pool whose
 * free list the pass purged.
 * Every step tagged R<n> (with HIT(n), see below) is listed with the code line
 * it stands for in tests/model/MAPPING.md, which check_mapping.sh verifies
 * against src/.
 *
 * Actors: one owner thread (heap h) with NP pools, pool p being the only pool
 * of size class p, NF remote freers, and a purger that runs the reclaim pass
 * over h (PASSES times, at any moments). The owner mallocs blocks and either
 * keeps them (and frees them itself later) or hands them to a freer through
 * a channel (the user's own synchronisation); freers free what they get.
 * The purger takes h's `returned` stack whole, swaps the remote word of each
 * pool whose remote list holds all its blocks for RECLAIMED (a CAS from the
 * value it read), purges the pool's blocks (their words read 0 afterwards),
 * and pushes the stack back.
 *
 * Granularity: one Promela step per atomic operation on a shared word
 * (pool->remote, heap->returned). A CAS is one d_step that compares the whole
 * word and either swaps it or refreshes `expected`, as the strong
 * __atomic_compare_exchange_n does. Work on data that only one thread can
 * touch at that moment (the owner's pool header fields and lists; a block
 * being freed, before the CAS that publishes it; a list just taken with an
 * exchange) is folded into the neighbouring step: no other thread can observe
 * the intermediate states, so no interleaving is lost.
 *
 * Abstractions (MAPPING.md has the full list):
 *  - memory ordering is abstracted away: spin is sequentially consistent.
 *    The acquire/release orders in the code are what makes these SC steps a
 *    sound picture on x86-64/arm64; this model does not check them
 *    (ThreadSanitizer and the stress tests do).
 *  - pools are fully carved from the start (nextoffset > maxnextoffset):
 *    carving is owner-only and only delays the FULL transition.
 *  - pool->remote is packed as count<<6 | head<<3 | flags (FULL 1,
 *    ABANDONED 2, RECLAIMED 4), the shape of count<<48 | ptr | flags in the
 *    code; a block is its index 1..7.
 *  - remote frees are batched per pool (remote.c): a freer hands over a
 *    chain of one or two blocks of one pool with one CAS; the count in the
 *    word grows by the chain's length. (Model 3 keeps chains of one block:
 *    what follows a push, the FULL and ABANDONED handling, does not depend
 *    on the length.)
 *  - the owner never exits here (model 3 has abandon/adopt), so a freer's
 *    loads of pool->owner would always see h and h->returned is never
 *    CLOSED: those loads are not modelled.
 *  - a malloc that finds no pool of its class would take one from an arena
 *    (model 2); here it returns no block. Empty pools go to the heap's cache
 *    (OBMT_KEEP_EMPTY_POOLS >= NP), never back to the arena.
 *  - ghost state (live[], nfree_g[], on_returned[], busy, nheld) exists only
 *    for the checks.
 *
 * Modes (spin -D...):
 *  default      bounded: the owner does OPS operations, then frees what it
 *               holds, waits for the freers (a join), collects, and checks
 *               that every block is free exactly once, on its own pool's
 *               free list, no remote list holds a block and every pool is
 *               back in the cache. Assertions on the way: a block is never
 *               handed out twice, take_list never sees more blocks than are
 *               out, a pool is on `returned` at most once, the purger
 *               purges a pool only when every block of it is free and on
 *               its remote list (none with the user, the owner's free list,
 *               a freer), and no free reaches a purged pool. pan -DSAFETY.
 *  -DLIVE       unbounded loops (NP = 1); LTL `live`: a pool that has a free
 *               block while it is out of the owner's reach (FULL, PENDING,
 *               on `returned`) always comes back within reach:
 *               []<> !stranded(0). pan -a -f (weak fairness).
 *  -DTERM       bounded, with LTL `term`: <> ended (every run ends: no CAS
 *               loop or wait spins forever). pan -a -f.
 *  -DCOVER      record which tagged steps the search executed; pan prints
 *               "COVERED: n n ..." at exit (run_spin.sh checks that all are).
 *  -DBROKEN_FULL  negative check: in pool_refill the owner sets FULL with
 *               a plain store after seeing the list empty (no CAS). Spin
 *               must find a lost block (assertion violated). It proves the
 *               checker can fail. (pool_place's CAS is left as it is: that
 *               step is never reached, see MAPPING.md.)
 *  -DBROKEN_ARMED  negative check: pool_refill treats an ARMED pool as a
 *               used one (drains it, or sets FULL again) instead of
 *               looking whether a hand-over cleared FULL: it sets FULL on a
 *               pool still on its way through `returned`, which a second
 *               hand-over pushes there again. Spin must find a violation:
 *               the first it meets is an ARMED pool emptied with FULL gone
 *               (R6's assertion); the second push (!on_returned) is
 *               reachable too (pan -c0).
 *  -DBROKEN_HANDBACK  negative check (with -DLIVE): the freer that clears
 *               FULL does not push the pool on `returned`. Spin must find an
 *               acceptance cycle (the pool is stranded forever).
 *  -DBROKEN_RECLAIM  negative check: the purger purges a pool whose remote
 *               list holds some of its blocks, not all. Spin must find a
 *               pool purged with a block out (assertion violated).
 */

#ifndef NP
#ifdef LIVE
#define NP 1
#else
#define NP 2
#endif
#endif
#ifndef NB
#define NB 2            /* blocks per pool */
#endif
#ifndef NF
#define NF 2            /* remote freers */
#endif
#ifndef OPS
#define OPS 5           /* owner operations in bounded mode */
#endif
#ifndef MAXHELD
#define MAXHELD 1       /* blocks the owner keeps at once */
#endif
#ifndef PASSES
#define PASSES 1        /* reclaim passes (a bounded number: the code runs
                         * one at most every purge delay / 4) */
#endif
#define NBLK (NP * NB)
#define MAXBLK 7
#define MAXP 3

#ifdef COVER
c_code {
int cov_[64];
static void cov_print(void) { int i; printf("COVERED:"); for (i = 0; i < 64; i++) if (cov_[i]) printf(" %d", i); printf("\n"); }
}
#define HIT(n) c_code { cov_[n] = 1; }
#define COVER_INIT c_code { static int cov_once; if (!cov_once) { cov_once = 1; atexit(cov_print); } }
#else
#define HIT(n) skip
#define COVER_INIT skip
#endif

/* pool->remote: count << 6 | head block << 3 | flags (REMOTE_FULL,
 * REMOTE_ABANDONED, REMOTE_RECLAIMED); count <= 3 keeps it in a byte */
#define RFULL    1
#define RABAND   2
#define RRECL    4
#define RFLAGS   7
#define PTRMASK  56
#define CNTONE   64
#define PTR(w)   (((w) >> 3) & 7)
#define CNT(w)   ((w) >> 6)
#define MKPTR(b) ((b) << 3)

/* enum pool_state */
#define P_USED    1
#define P_FULL    2
#define P_PENDING 3
#define P_EMPTY   4
#define P_ARMED   6   /* in usedpools with FULL (maybe) still set */

#ifdef BROKEN_ARMED
#define ARMED_REFILL 0
#else
#define ARMED_REFILL 1
#endif

/* live[b] (ghost): 0 free, OWN held by the owner, HAND in the channel, 3+k freer k */
#define OWN  1
#define HAND 2

#define POOL(b) (((b) - 1) / NB)

byte remote[MAXP];           /* pool->remote */
byte nxt[MAXBLK + 1];        /* a free block's first word: next block, 0 = NULL */
byte returned;               /* heap->returned: pool + 1, 0 = NULL */
byte returned_next[MAXP];    /* pool->returned_next */

/* pool header fields and heap lists: owner only */
byte freeblock[MAXP];
byte count[MAXP];
byte pstate[MAXP];
bool in_used[MAXP];          /* in h->usedpools[p] (the only pool of class p) */
bool in_full[MAXP];          /* in h->fullpools */
bool in_empty[MAXP];         /* in h->emptypools */

/* ghosts */
byte live[MAXBLK + 1];
byte nfree_g[MAXP];          /* blocks of p that are not live */
bool on_returned[MAXP];      /* also while the purger holds it off the stack */
bool purged[MAXP];           /* the purger purged its blocks; until pool_init carves it */
bool pbusy;                  /* the purger is in a pass */
bool pstop;                  /* the owner's join: no pass starts any more */
byte busy;                   /* freers inside free() */
byte nheld;                  /* blocks the owner holds */
bool ended;

chan hand = [NBLK] of { byte };

#define stranded(p) (!in_used[p] && !in_empty[p] && nfree_g[p] > 0)

/* ---- owner-side building blocks --------------------------------------- */

/* pool_take_list(p, w): owner only; the list came out of an exchange. */
inline take_list(p, w)
{
    d_step {
        tl_list = PTR(w);
        tl_n = CNT(w);
        if
        :: (w & RRECL) ->
            /* every block came back and the purger purged the pool: it is
             * empty, its free list gone */
            HIT(42);                                                     /* R42 */
            assert(tl_list == 0);          /* else os_fatal: double free */
            assert(purged[p] && count[p] == NB && freeblock[p] == 0);
            count[p] = 0;
            freeblock[p] = 0
        :: !(w & RRECL) && tl_list != 0 ->
            assert(tl_n <= count[p]);       /* else os_fatal: double free */
            count[p] = count[p] - tl_n;
            if
            :: freeblock[p] == 0 ->
                HIT(8);                                                  /* R8 */
                freeblock[p] = tl_list
            :: else ->
                HIT(9);                                                  /* R9 */
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

/* pool_drain_remote(p): exchange remote with 0 (R7; `site` tags the call
 * site), then take the list. A macro, not an inline, so that the site
 * reaches HIT's c_code. */
#define drain(p, site) \
    d_step { w = remote[p]; remote[p] = 0; assert((w & (RFULL | RABAND)) == 0); HIT(7); HIT(site) }; /* R7 */ \
    take_list(p, w); \
    w = 0

/* cache_or_give: OBMT_KEEP_EMPTY_POOLS >= NP, so always kept. */
inline cache_or_give(p)
{
    d_step { pstate[p] = P_EMPTY; in_empty[p] = true; HIT(18) }          /* R18 */
}

/* pool_place(p): file a pool that is in none of h's lists. */
inline pool_place(p)
{
    if
    :: count[p] == 0 -> cache_or_give(p)
    :: else ->
        do
        :: freeblock[p] != 0 ->
            d_step { pstate[p] = P_USED; in_used[p] = true; HIT(17) };  /* R17 */
            break
        :: else ->
            d_step { HIT(14);                                            /* R14 */
                if
                :: remote[p] == 0 -> remote[p] = RFULL; ok = true
                :: else -> ok = false
                fi
            }
            if
            :: ok -> d_step { pstate[p] = P_FULL; in_full[p] = true; HIT(15) }; break  /* R15 */
            :: else ->
                drain(p, 16);                            /* R16 */
                if
                :: count[p] == 0 -> cache_or_give(p); break
                :: else -> skip
                fi
            fi
        od
    fi
}

/* take_returned(h) with returned_place(h, p) for each pool. */
inline take_returned()
{
    d_step { list = returned; returned = 0; HIT(20) }                    /* R20 */
    do
    :: list != 0 ->
        d_step {
            p = list - 1;
            list = returned_next[p]; HIT(21);                            /* R21 */
            assert(on_returned[p]);
            on_returned[p] = false;
            if
            :: pstate[p] == P_ARMED ->
                assert(in_used[p]);                  /* a freer cleared FULL before it ran dry */
                in_used[p] = false; HIT(29)                              /* R29 */
            :: else ->
                assert(pstate[p] == P_FULL || pstate[p] == P_PENDING);
                assert(in_full[p]);
                in_full[p] = false; HIT(22)                              /* R22 */
            fi
        }
        /* owner == h: no store */
        drain(p, 23);                                    /* R23 */
        pool_place(p)
    :: else -> break
    od;
    p = 0
}

/* pool_refill for a pool that is not ARMED (-DBROKEN_ARMED: for every
 * pool; it then sets FULL again on a pool still on its way back). */
inline pool_refill_used(c)
{
    d_step { old = remote[c]; HIT(10) }                                  /* R10 */
    do
    :: (old & PTRMASK) != 0 ->
        drain(c, 11);                                    /* R11 */
        break
    :: else ->
        /* CAS 0 -> FULL; -DBROKEN_FULL: a plain store after seeing the list
         * empty. (Inside an inline an #if must skip fewer than 8 lines, or
         * spin's line numbers in counterexamples go wrong.) */
#ifndef BROKEN_FULL
        d_step { HIT(12); if :: remote[c] == old -> remote[c] = RFULL; ok = true :: else -> old = remote[c]; ok = false fi }  /* R12 */
#else
        d_step { HIT(12); remote[c] = RFULL; ok = true }                 /* R12 */
#endif
        if
        :: ok ->
            d_step { in_used[c] = false; pstate[c] = P_FULL; in_full[c] = true; HIT(13) }  /* R13 */
            break
        :: else -> skip
        fi
    od;
    old = 0
}

/* pool_refill(h, p, b): p's local list just ran out (fully carved). */
inline pool_refill(c)
{
    if
    :: ARMED_REFILL && pstate[c] == P_ARMED ->
        /* ARMED: FULL was left set. Still FULL: file it FULL, no RMW; else a
         * hand-over cleared it and brings the pool back: PENDING. The load
         * of remote is the step; the list moves are the owner's. */
        d_step { HIT(5); in_used[c] = false; in_full[c] = true;          /* R5 */
            if :: remote[c] == RFULL -> pstate[c] = P_FULL :: else -> pstate[c] = P_PENDING fi }
    :: else -> pool_refill_used(c)
    fi
}

/* pool_pop(h, p): malloc's fast path. */
inline pool_pop(c)
{
    d_step { HIT(1);                                                     /* R1 */
        b = freeblock[c];
        assert(b != 0 && POOL(b) == c);
        assert(live[b] == 0);                   /* never handed out twice */
        nb = nxt[b];
        count[c]++;
        freeblock[c] = nb;
        live[b] = OWN;
        nfree_g[c]--
    }
    if
    :: nb == 0 -> pool_refill(c)
    :: else -> skip
    fi;
    nb = 0
}

/* malloc of class c: the fast path, or heap_malloc_slow. */
inline owner_malloc(c)
{
    b = 0;
    if
    :: in_used[c] -> pool_pop(c)
    :: else ->
        if
        :: atomic { returned != 0 -> HIT(19) }; take_returned()          /* R19 */
        :: else -> skip
        fi;
        if
        :: in_used[c] -> pool_pop(c)
        :: !in_used[c] && in_empty[c] ->
            /* take_cached_empty, then pool_init (its shortcut: same class,
             * free list ready), then usedpools */
            d_step { in_empty[c] = false; assert(remote[c] == 0); HIT(24) }  /* R24 */
            if
            :: freeblock[c] != 0 ->
                d_step { HIT(25);                                        /* R25 */
                    assert(count[c] == 0 && !purged[c]);
                    pstate[c] = P_USED; in_used[c] = true
                }
            :: else ->
                /* the purger purged it: carve it again (owner-only) */
                d_step { HIT(43);                                        /* R43 */
                    assert(count[c] == 0 && purged[c] && nfree_g[c] == NB);
                    b = 0;
                    do
                    :: b < NB ->
                        nxt[c * NB + b + 1] = (b + 1 < NB -> c * NB + b + 2 : 0);
                        b++
                    :: else -> break
                    od;
                    b = 0;
                    freeblock[c] = c * NB + 1;
                    purged[c] = false;
                    pstate[c] = P_USED; in_used[c] = true
                }
            fi
            pool_pop(c)
        :: else -> skip       /* would take a pool from an arena: model 2 */
        fi
    fi
}

/* obmt_free by the owner (pool->owner == h), then free_into_full. */
inline owner_free(b)
{
    c = POOL(b);
    d_step {
        assert(live[b] == OWN);
        fb = freeblock[c];
        assert((fb == 0) == (count[c] == NB));  /* api.c tests count (count_span): full iff all blocks out */
        assert(count[c] >= 1 && b != fb);       /* free_invalid */
        live[b] = 0;
        nfree_g[c]++;
        nheld--;
        if
        :: fb != 0 ->
            HIT(2);                                                      /* R2 */
            nxt[b] = fb; freeblock[c] = b; count[c]--;
            /* pool_file_emptied: the sole pool of its class stays in
             * usedpools when USED (an ARMED one first clears FULL, below);
             * PENDING waits for returned; a FULL pool has no free block. */
            assert(count[c] > 0 || pstate[c] == P_USED || pstate[c] == P_PENDING || pstate[c] == P_ARMED)
        :: else ->
            /* free_into_full: p is FULL or PENDING */
            HIT(3);                                                      /* R3 */
            assert(pstate[c] == P_FULL || pstate[c] == P_PENDING);
            nxt[b] = 0; freeblock[c] = b; count[c]--;
            if
            :: pstate[c] == P_FULL ->
                /* back to usedpools, ARMED: FULL stays set, no atomic */
                in_full[c] = false; pstate[c] = P_ARMED; in_used[c] = true; HIT(4)  /* R4 */
            :: else -> skip                         /* PENDING: returned_place files it */
            fi
        fi;
        fb = 0
    }
    /* pool_file_emptied of an ARMED pool: no block is out, so no freer can
     * have cleared FULL: the CAS FULL -> 0 cannot fail (else os_fatal). */
    if
    :: count[c] == 0 && pstate[c] == P_ARMED ->
        d_step { HIT(6); assert(remote[c] == RFULL); remote[c] = 0; pstate[c] = P_USED }  /* R6 */
    :: else -> skip
    fi
}

/* heap_collect(h, false): take returned, drain the used pools' remote lists. */
inline heap_collect()
{
    take_returned();
    c = 0;
    do
    :: c < NP ->
        if
        :: in_used[c] && pstate[c] == P_ARMED -> d_step { HIT(35) }      /* R35 */
            /* nothing to drain while FULL is set; if a hand-over cleared
             * it, the pool arrives through `returned` */
        :: in_used[c] && pstate[c] != P_ARMED ->
            drain(c, 26);                                /* R26 */
            if
            :: count[c] == 0 -> d_step { in_used[c] = false; HIT(27) }; cache_or_give(c)  /* R27 */
            :: else -> skip
            fi
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

/* The owner's block b: hand it to a freer, or keep it. */
inline dispose(b)
{
    if
    :: b != 0 ->
        if
        :: atomic { hand!b; live[b] = HAND; nheld-- }
        :: nheld <= MAXHELD -> skip
        fi
    :: else -> skip
    fi
}

inline pick_held(b)
{
    if
    :: live[1] == OWN -> b = 1
    :: NBLK >= 2 && live[2] == OWN -> b = 2
    :: NBLK >= 3 && live[3] == OWN -> b = 3
    :: NBLK >= 4 && live[4] == OWN -> b = 4
    :: NBLK >= 5 && live[5] == OWN -> b = 5
    :: NBLK >= 6 && live[6] == OWN -> b = 6
    fi
}

inline pick_class(c)
{
    if
    :: c = 0
    :: NP >= 2 -> c = 1
    :: NP >= 3 -> c = 2
    fi
}

active proctype owner()
{
    byte b, nb, c, p, fb, w, old, list;
    byte tl_list, tl_n, tl_tail, tl_k;
    bool ok;
#ifndef LIVE
    byte ops = OPS;
#endif

    /* pool_init: every pool USED, fully carved, all blocks on its free list */
    d_step {
        COVER_INIT;
        c = 0;
        do
        :: c < NP ->
            b = 0;
            do
            :: b < NB ->
                nxt[c * NB + b + 1] = (b + 1 < NB -> c * NB + b + 2 : 0);
                b++
            :: else -> break
            od;
            freeblock[c] = c * NB + 1;
            pstate[c] = P_USED;
            in_used[c] = true;
            nfree_g[c] = NB;
            c++
        :: else -> break
        od;
        b = 0; c = 0
    }

#ifdef LIVE
end_loop:
    do
    :: pick_class(c); owner_malloc(c); if :: b != 0 -> nheld++ :: else fi; dispose(b); b = 0; c = 0
    :: nheld > 0 -> pick_held(b); owner_free(b); b = 0
    :: d_step { HIT(28) }; heap_collect()                                /* R28 */
    od
#else
    do
    :: ops > 0 ->
        ops--;
        if
        :: pick_class(c); owner_malloc(c); if :: b != 0 -> nheld++ :: else fi; dispose(b)
        :: nheld > 0 -> pick_held(b); owner_free(b)
        :: d_step { HIT(28) }; heap_collect()                            /* R28 */
        fi;
        b = 0; c = 0
    :: else -> break
    od;
    /* free what the owner still holds, then join the freers */
    do
    :: nheld > 0 -> pick_held(b); owner_free(b); b = 0
    :: else -> break
    od;
    (busy == 0 && empty(hand));
    atomic { !pbusy -> pstop = true };
    heap_collect();

    /* Final check: every block free exactly once, on its own pool's free
     * list; nothing on a remote list; every pool empty and in the cache. */
    d_step {
        assert(returned == 0 && !pbusy);
        c = 0;
        do
        :: c < NP ->
            assert(remote[c] == 0);
            assert(count[c] == 0);
            assert(pstate[c] == P_EMPTY && in_empty[c] && !in_used[c] && !in_full[c]);
            assert(!on_returned[c]);
            assert(nfree_g[c] == NB);
            c++
        :: else -> break
        od;
        c = 0;
        do
        :: c < NP ->
            nb = 0;
            if
            :: purged[c] ->            /* purged: free, no list (pool_init carves it) */
                assert(freeblock[c] == 0);
                b = c * NB + 1;
                do
                :: b <= c * NB + NB -> assert(live[b] == 0); live[b] = 9; nb++; b++
                :: else -> break
                od
            :: else ->
                b = freeblock[c];
                do
                :: b != 0 ->
                    assert(POOL(b) == c);
                    assert(live[b] == 0);
                    live[b] = 9;           /* seen */
                    nb++;
                    assert(nb <= NB);
                    b = nxt[b]
                :: else -> break
                od
            fi;
            b = 0;
            assert(nb == NB);
            c++
        :: else -> break
        od;
        b = 1;
        do
        :: b <= NBLK -> assert(live[b] == 9); live[b] = 0; b++
        :: else -> break
        od;
        ended = true
    }
#endif
}

active [NF] proctype freer()
{
    byte b, b2, p, old, nw, head, n;
    byte me = 2 + _pid;
    bool ok;

end_loop:
    do
    :: atomic { hand?b -> busy++; live[b] = me }
        p = POOL(b);
        /* remote.c heap_free_remote_leave: the block joins the thread's batch for
         * its pool. The batch may take a second block of the same pool
         * before it is handed over (rbatch_flush -> remote_hand_over), as
         * one chain b -> b2 with one CAS; or it is handed over alone (its
         * slot is wanted, the thread ticks, exits, the batch is full). */
        n = 1;
        if
        :: atomic { nempty(hand) -> hand?<b2>;
               if
               :: POOL(b2) == p -> hand?b2; live[b2] = me; n = 2
               :: else -> b2 = 0
               fi
           }
        :: skip
        fi;
        /* remote_hand_over -> pool_push_remote(p, head = b, tail, n) */
        d_step { old = remote[p]; HIT(30) }                              /* R30 */
        do
        :: atomic { HIT(31);                                             /* R31 */
               assert(PTR(old) != b);        /* else os_fatal: double free */
               assert(!(old & RRECL));       /* no legal free reaches a purged pool */
               if                            /* the chain is still private: folded in */
               :: n == 2 -> nxt[b] = b2; nxt[b2] = PTR(old)
               :: else -> nxt[b] = PTR(old)
               fi;
               nw = ((old & ~PTRMASK & ~RFULL) + n * CNTONE) | MKPTR(b);
               if
               :: remote[p] == old ->
                   remote[p] = nw; ok = true;
                   live[b] = 0; nfree_g[p]++;
                   if
                   :: n == 2 -> live[b2] = 0; nfree_g[p]++
                   :: else -> skip
                   fi
               :: else -> old = remote[p]; ok = false
               fi
           }
           if
           :: ok -> break
           :: else -> skip
           fi
        od;
        if
        :: d_step { (old & RFULL) -> HIT(32) }                            /* R32 */
            /* We cleared FULL: hand the pool back to its owner (the owner
             * never exits here: pool->owner == h, h->returned is open). */
#ifndef BROKEN_HANDBACK
            d_step { head = returned; HIT(33) }                          /* R33 */
            do
            :: atomic { HIT(34);                                         /* R34 */
                   returned_next[p] = head;  /* p is ours until the CAS: folded in */
                   if
                   :: returned == head ->
                       returned = p + 1; ok = true;
                       assert(!on_returned[p]); on_returned[p] = true
                   :: else -> head = returned; ok = false
                   fi
               }
               if
               :: ok -> break
               :: else -> skip
               fi
            od
#endif
        :: else -> skip
        fi;
        atomic { busy--; b = 0; b2 = 0; n = 0; p = 0; old = 0; nw = 0; head = 0; ok = false }
    od
}

#ifdef BROKEN_RECLAIM
#define RECLAIMABLE(w) (CNT(w) >= 1)
#else
#define RECLAIMABLE(w) (CNT(w) == NB)
#endif

/* The reclaim pass over h (reclaim.c reclaim_heap): take the `returned`
 * stack whole, purge in place each pool whose remote list holds all its
 * blocks, push the stack back in front of what arrived meanwhile. The
 * pass's first unlocked look at h->returned (a hint) is left out. */
#if PASSES > 0
active proctype purger()
{
    byte list, q, tail, head, p, w, k;
    bool ok;
    byte passes = PASSES;

end_loop:
    do
    :: atomic { passes > 0 && !pstop -> passes--; pbusy = true }
        d_step { list = returned; HIT(36) }                              /* R36 */
        do
        :: list == 0 -> break
        :: list != 0 ->
            d_step { HIT(37);                                            /* R37 */
                if
                :: returned == list -> returned = 0; ok = true
                :: else -> list = returned; ok = false
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
                p = q - 1;
                assert(on_returned[p]);
                d_step { w = remote[p]; HIT(38) }                        /* R38 */
                if
                :: (w & RFLAGS) == 0 && RECLAIMABLE(w) ->
                    d_step { HIT(39);                                    /* R39 */
                        if
                        :: remote[p] == w ->
                            /* purging a block that is not free loses it */
                            assert(nfree_g[p] == NB && freeblock[p] == 0);
                            remote[p] = RRECL;
                            purged[p] = true;
                            k = p * NB + 1;  /* os_decommit: the blocks read 0 */
                            do
                            :: k <= p * NB + NB -> nxt[k] = 0; k++
                            :: else -> break
                            od;
                            k = 0
                        :: else -> skip
                        fi
                    }
                :: else -> skip
                fi;
                tail = q;
                q = returned_next[p]          /* the purger's own pools: folded */
            :: else -> break
            od;
            p = 0;
            d_step { head = returned; HIT(40) }                          /* R40 */
            do
            :: atomic { HIT(41);                                         /* R41 */
                   returned_next[tail - 1] = head;   /* the purger's: folded in */
                   if
                   :: returned == head -> returned = list; ok = true
                   :: else -> head = returned; ok = false
                   fi
               }
               if
               :: ok -> break
               :: else -> skip
               fi
            od
        :: else -> skip
        fi;
        atomic { pbusy = false; list = 0; q = 0; tail = 0; head = 0; p = 0; w = 0; ok = false }
    :: else -> break
    od
}
#endif

#ifdef LIVE
ltl live { [] <> !stranded(0) }
#endif
#ifdef TERM
ltl term { <> ended }
#endif
