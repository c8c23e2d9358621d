/*
 * shared.pml: model 5 of 5. The shared level (src/shared.c): one Treiber
 * stack of partly used, ownerless pools per size class. The thread whose
 * CAS set ABANDONED in a pool's `remote` word (heap_release_unowned: a
 * collect's give_away, or thread exit's abandon_used) pushes the pool on
 * the stack of its class if it has a free block; any malloc slow path
 * (shared_take) pops it and adopts it by the CAS that clears ABANDONED, the
 * same CAS a remote freer that meets ABANDONED adopts with
 * (remote_hand_over): exactly one of them wins, and a popper that finds the
 * flag gone drops the entry.
 *
 * The stack: g_shared[c].head = {generation, pool number + 1}; push: store
 * shared_next (relaxed), CAS head (release) to {gen + 1, p}; pop: load head
 * (acquire), load the top's shared_next (relaxed; the top may be stale),
 * CAS head (acq_rel) to {gen + 1, next}. pool_header.shared_on: the pusher
 * exchanges it to 1 first and pushes only if it was 0; the popper exchanges
 * it to 0 after its pop and before its load of `remote`. Nothing else
 * writes shared_on or shared_next.
 *
 * Code modelled (src/): shared.c shared_push, shared_pop, shared_take;
 * heap.c heap_malloc_slow (shared_take, then a pool from the arena),
 * heap_release_unowned, give_away (heap_collect's), heap_adopt (pool_place,
 * cache_or_give, give_back), heap_pool_emptied; pool.c pool_push_remote;
 * remote.c remote_hand_over (the ABANDONED branch); api.c obmt_free's owner
 * test. Every step tagged S<n> (with HIT(n)) is listed with its code line in
 * tests/model/MAPPING.md, which check_mapping.sh verifies against src/.
 *
 * Actors (NP = 2 pools, NC = 2 classes, both pools of class 0 at the start,
 * each with NB0 blocks out, which F holds):
 *  O (owner()): holds both pools; gives them away (p0, then p1: both on
 *     class 0's stack, p1 on top); then OOPS operations, each one of
 *     - a malloc of a class c it holds no pool of (heap_malloc_slow):
 *       shared_take(c); if that finds nothing, a pool given back to the
 *       arena (pool_init for class c: a pool of class 0 may come back as
 *       class 1; its first block goes to F), or a fresh pool (not
 *       modelled: nothing);
 *     - a give_away (heap_collect) of a pool it holds.
 *  P (popper()): POPS mallocs of a class it holds no pool of, by
 *     shared_take(c) alone (it pops until the stack is empty or it has a
 *     pool of class c: each stale entry dropped, each pool adopted filed
 *     under its own class); between them, and after, it may give away a
 *     pool it holds; it may stop at any moment.
 *  F (freer()): frees the blocks it holds, in any order: into a pool it
 *     holds, the owner's free (the last block out gives the pool back to
 *     its arena); else a remote free (pool_push_remote), and if the word it
 *     replaced had ABANDONED, remote_hand_over's CAS clearing it: adopt
 *     (heap_adopt: take the list; an empty pool goes back to the arena).
 *     It may give away a pool it holds (its heap's collect, which
 *     heap_adopt runs). It ends when it has nothing to free and O is done.
 * So a pool can be: on a stack while a freer adopts it (stale entry), given
 * back to its arena and taken for class 1 with its entry still on class
 * 0's stack, abandoned again while that entry is there (no second push) or
 * after a popper cleared shared_on (pushed on class 1's stack), popped from
 * class 0's stack and adopted as a class 1 pool; poppers and freers race
 * for the flag.
 *
 * Granularity: one Promela step per atomic operation on a shared word
 * (head[c], shared_on, shared_next, remote). What only a pool's holder can
 * touch (count, the class, the lists of its heap, the remote list it just
 * took) is folded into the neighbouring step.
 *
 * Abstractions (MAPPING.md has the full list): spin is sequentially
 * consistent (the acquire/release argument of shared.c's header is not
 * checked here). A pool is its count of blocks out (live or on its remote
 * list), its remote word (ABANDONED + the list's length), its class, and
 * the shared fields; blocks are counts. NB (the class's block count) is
 * large enough that no pool fills up: FULL (models 1, 3) is left out, so
 * has_free is always true, and abandon_flagged's full pools (a full pool ABANDONED without
 * a push, maybe while a stale entry of it is on a stack) is not modelled.
 * The arena is a set (model 2); an empty pool always goes back
 * (OBMT_KEEP_EMPTY_POOLS 0). A malloc's block from a pool taken from a
 * stack is freed back at once (not modelled); the block of a pool from the
 * arena goes to F. heap_adopt's collect, heap ticks and lenders are the
 * choice to give away a held pool at any moment; remote batches are handed
 * over at once. The generation is small (GEN < 250 asserted; the code: 32
 * bits). Fork is not modelled.
 *
 * Checks (assertions):
 *  (1) a pool has at most one holder: adopting (popper's CAS, freer's CAS)
 *      and taking from the arena assert that nobody holds it and that it
 *      is not in the arena; only the holder gives it away or back; a pool
 *      with ABANDONED set has no holder.
 *  (2) after every step that writes a head, shared_next or shared_on, the
 *      stacks are walked: acyclic, every pool on at most one stack at most
 *      once, exactly the pools pushed and not popped since (ghost
 *      onstack), each with shared_on set.
 *  (3) a pool ABANDONED with a free block (ghost `watch`, set by the CAS
 *      that set the flag, cleared by the one that clears it) is, at every
 *      step, on a stack, or popped by a popper that has not yet looked at
 *      `remote` (ghost inpop: from its pop until its load, or its CAS,
 *      finds the flag; its clear of shared_on comes first), or its pusher
 *      (some pusher) is between its CAS and its push or its exchange that
 *      found shared_on set (ghost pushing, a count). At the end (every
 *      process done): on a stack.
 *  (4) a popper adopts only by the CAS that clears ABANDONED (the flag is
 *      in the word it replaces), never a pool in the arena or held.
 *  - at the end: each pool's count is the blocks F holds plus its remote
 *    list; a pool in the arena has count 0, remote 0 and no holder.
 *  - -DTERM: LTL `term`, <> ended: every run ends (pan -a).
 *  - -DCOVER: pan prints "COVERED: n n ..." at exit, the tags executed.
 *
 * Negative checks (spin must find a violation):
 *  -DNOGEN              the head word has no generation: a popper whose
 *                       top was popped and pushed again meanwhile installs
 *                       its stale next (a pool popped since, and given
 *                       back): the walk of the stack finds a pool that is
 *                       not on it (check 2).
 *  -DBROKEN_NO_ON_FLAG  push without the shared_on exchange: a pool
 *                       abandoned again while its entry is on the stack is
 *                       pushed twice (check 2).
 *  -DBROKEN_CLEAR_LATE  the popper loads `remote` before it clears
 *                       shared_on: it pops a stale entry (the pool was
 *                       adopted and given back since) and sees no
 *                       ABANDONED; the pool is taken from the arena and
 *                       abandoned again, its abandoner finds shared_on
 *                       still set and does not push, the popper drops the
 *                       entry: an abandoned pool with free blocks on no
 *                       stack and held by nobody (check 3).
 */

#ifndef NB0
#define NB0 1           /* blocks out of each pool at the start (F holds them) */
#endif
#ifndef OOPS
#define OOPS 2          /* O's operations after its two give_aways */
#endif
#ifndef POPS
#define POPS 2          /* P's mallocs (shared_take) */
#endif
#define NB 6            /* blocks per pool (class_blocks): no pool fills up */
#define NP 2            /* pools 0, 1 (pool number + 1 on the stacks) */
#define NC 2            /* classes 0, 1 */
#define NONE 9

/* holders (ghost): 0 nobody, O, P, F */
#define ID_O 1
#define ID_P 2
#define ID_F 3

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

/* pool->remote: list length << 1 | ABANDONED */
#define RAB      1
#define RONE     2
#define RLIST(w) ((w) >> 1)

/* g_shared[c].head: gen << 2 | (pool number + 1), 0 empty */
#define TOP(h)   ((h) & 3)
#define GEN(h)   ((h) >> 2)
#ifdef NOGEN
#define NEWHEAD(h, n) (n)
#else
#define NEWHEAD(h, n) ((((h) >> 2) + 1) << 2 | (n))
#endif

short head[NC];
byte remote[NP];
bit shared_on[NP];
byte shared_next[NP];        /* pool number + 1, 0: none */

/* the holder's fields of each pool */
byte count[NP];              /* blocks out: live, or on the remote list */
byte cls[NP];                /* szidx */

/* ghosts */
byte holder[NP];             /* ID_O, ID_P, ID_F, or 0 */
bool in_arena[NP];           /* given back (arena_give_pool) */
byte bag[NP];                /* blocks of the pool that F holds */
byte onstack[NP];            /* c + 1: pushed on stack c and not popped since */
byte inpop[NP];              /* poppers that popped it and have not yet looked at remote */
byte pushing[NP];            /* pushers between their CAS (ABANDONED) and their push */
bit watch[NP];               /* ABANDONED, set with a free block */
bool o_done;
byte ndone;
bool ended;

hidden byte ck_k, ck_n, ck_s, ck_seen;

#define HOLDS(who, c) ((holder[0] == who && cls[0] == c) || (holder[1] == who && cls[1] == c))

/* Checks (2) and (3) and part of (1), in the step that may break them. */
inline check()
{
    ck_seen = 0;
    ck_k = 0;
    do
    :: ck_k < NC ->
        assert(GEN(head[ck_k]) < 250);
        ck_n = TOP(head[ck_k]);
        ck_s = 0;
        do
        :: ck_n != 0 ->
            assert(ck_n <= NP && ck_s < NP);                 /* acyclic */
            assert(!(ck_seen & (1 << (ck_n - 1))));         /* on one stack, once */
            ck_seen = ck_seen | (1 << (ck_n - 1));
            assert(onstack[ck_n - 1] == ck_k + 1);          /* pushed there, not popped */
            assert(shared_on[ck_n - 1]);
            ck_n = shared_next[ck_n - 1];
            ck_s++
        :: else -> break
        od;
        ck_k++
    :: else -> break
    od;
    ck_k = 0;
    do
    :: ck_k < NP ->
        assert(onstack[ck_k] == 0 || (ck_seen & (1 << ck_k)));
        assert(!watch[ck_k] || onstack[ck_k] != 0 || inpop[ck_k] != 0 || pushing[ck_k] != 0);
        assert(!(remote[ck_k] & RAB) || holder[ck_k] == 0);
        ck_k++
    :: else -> break
    od;
    ck_k = 0; ck_n = 0; ck_s = 0; ck_seen = 0
}

/* give_back (disown: remote asserted 0; arena_give_pool: model 2) */
inline give_back(p)
{
    assert(holder[p] == me && count[p] == 0 && remote[p] == 0 && bag[p] == 0);
    holder[p] = 0;
    in_arena[p] = true
}

/* heap_adopt after the CAS that cleared ABANDONED: the holder takes the
 * list and files the pool (pool_place): an empty one goes back
 * (cache_or_give). */
inline adopt_place(p, w)
{
    count[p] = count[p] - RLIST(w);
    if
    :: count[p] == 0 -> give_back(p); HIT(30)                  /* S30 */
    :: else -> skip
    fi
}

/* shared_push(p, c) */
inline shared_push(p, c)
{
#ifndef BROKEN_NO_ON_FLAG
    d_step { HIT(1);                                            /* S1 */
        old = shared_on[p];
        shared_on[p] = 1;
        if
        :: old -> pushing[p]--; HIT(2)                          /* S2 */
        :: else -> skip
        fi;
        check()
    };
#else
    d_step { shared_on[p] = 1; old = 0; check() };
#endif
    if
    :: !old ->
        d_step { top = head[c]; HIT(3) };                       /* S3 */
        do
        :: d_step { shared_next[p] = TOP(top); check(); HIT(4) };   /* S4 */
            atomic { HIT(5);                                    /* S5 */
                if
                :: head[c] == top ->
                    assert(onstack[p] == 0);                    /* (2): at most once */
                    head[c] = NEWHEAD(top, p + 1);
                    onstack[p] = c + 1;
                    pushing[p]--;
                    check();
                    break
                :: else -> top = head[c]
                fi
            }
        od
    :: else -> skip
    fi;
    old = 0;
    top = 0
}

/* heap_release_unowned(h, p, w), after the caller took the list w (folded
 * into the caller's exchange) */
inline release_unowned(p)
{
    do
    :: d_step { count[p] == 0 -> give_back(p); HIT(25) }; break  /* S25 */
    :: else ->
        atomic { HIT(26);                                       /* S26 */
            c = cls[p];
            hf = count[p] < NB;
            if
            :: remote[p] == 0 ->
                assert(!watch[p] && holder[p] == me);
                remote[p] = RAB;
                holder[p] = 0;
                watch[p] = hf;
                pushing[p] = pushing[p] + hf;
                check();
                ok = true
            :: else -> ok = false
            fi
        };
        if
        :: ok ->
            ok = false;
            if
            :: hf -> HIT(27); shared_push(p, c)                 /* S27 */
            :: else -> skip
            fi;
            break
        :: else ->
            d_step { w = remote[p]; remote[p] = 0; count[p] = count[p] - RLIST(w); HIT(28) }  /* S28 */
        fi
    od;
    c = 0;
    hf = false;
    w = 0
}

/* heap_collect's give_away(h, p): p is the caller's, unlinked from its
 * lists; exchange remote with 0 (take the list), then release_unowned */
inline give_away(p)
{
    d_step { HIT(29);                                           /* S29 */
        assert(holder[p] == me);
        w = remote[p];
        remote[p] = 0;
        assert(!(w & RAB));
        count[p] = count[p] - RLIST(w)
    };
    release_unowned(p)
}

/* shared_take(h, c): sets took (usedpools[c] not NULL at the end). It
 * pops until the stack is empty or a pool of class c is filed. */
inline shared_take(c)
{
    do
    :: /* shared_pop(c) */
        d_step { top = head[c]; HIT(6) };                       /* S6 */
        do
        :: d_step { TOP(top) == 0 -> pp = NONE; HIT(7); HIT(16) }; break  /* S7 */ /* S16 */
        :: else ->
            d_step { pp = TOP(top) - 1; nx = NEWHEAD(top, shared_next[pp]); HIT(8) };  /* S8 */
            atomic { HIT(9);                                    /* S9 */
                if
                :: head[c] == top ->
                    assert(onstack[pp] == c + 1);
                    head[c] = nx;
                    onstack[pp] = 0;
                    inpop[pp]++;
                    check();
                    break
                :: else -> top = head[c]
                fi
            }
        od;
        top = 0;
        nx = 0;
        if
        :: pp == NONE -> took = HOLDS(me, c); pp = 0; break    /* (false here) */
        :: else -> skip
        fi;
#ifndef BROKEN_CLEAR_LATE
        d_step { shared_on[pp] = 0; check(); HIT(10) };         /* S10 */
        /* (back in shared_take) */
        d_step { HIT(11);                                       /* S11 */
            w = remote[pp];
            if
            :: !(w & RAB) -> inpop[pp]--
            :: else -> skip
            fi;
            check()
        };
#else
        d_step { w = remote[pp]; if :: !(w & RAB) -> inpop[pp]-- :: else -> skip fi; check() };
        d_step { shared_on[pp] = 0; check() };
#endif
        do
        :: d_step { !(w & RAB) -> HIT(12) }; break              /* S12 */
        :: else ->
            atomic { HIT(13);                                   /* S13 */
                if
                :: remote[pp] == w ->
                    /* (4): the flag cleared by this CAS; nobody holds the pool */
                    assert((w & RAB) && holder[pp] == 0 && !in_arena[pp] && inpop[pp] > 0);
                    remote[pp] = 0;
                    holder[pp] = me;
                    watch[pp] = 0;
                    inpop[pp]--;
                    check();
                    ok = true;
                    break
                :: else ->
                    w = remote[pp];
                    if
                    :: !(w & RAB) -> inpop[pp]--; check()
                    :: else -> skip
                    fi
                fi
            }
        od;
        if
        :: ok ->
            ok = false;
            /* heap_adopt: filed under its own class cls[pp] */
            d_step { adopt_place(pp, w); HIT(14) };             /* S14 */
            if
            :: HOLDS(me, c) -> HIT(15); took = true             /* S15 */
            :: else -> skip
            fi
        :: else -> skip
        fi;
        w = 0;
        pp = 0;
        if
        :: took -> break
        :: else -> skip
        fi
    od
}

proctype owner()
{
    byte me = ID_O;
    byte p, c, w, old, pp, nx, i;
    short top;
    bool hf, ok, took;

    /* its collect gives both pools away (p1 ends on top) */
    give_away(0);
    give_away(1);
    c = NONE;
    do
    :: i < OOPS ->
        if
        :: !HOLDS(ID_O, 0) -> i++; shared_take(0); c = 0
        :: !HOLDS(ID_O, 1) -> i++; shared_take(1); c = 1
        :: holder[0] == ID_O -> i++; give_away(0)
        :: holder[1] == ID_O -> i++; give_away(1)
        fi;
        if
        :: c != NONE && !took ->
            /* take_cached_empty (none: KEEP 0), arena_take_pool, pool_init */
            atomic { HIT(17);                                   /* S17 */
                if
                :: in_arena[0] -> p = 0
                :: in_arena[1] -> p = 1
                :: else -> p = NONE     /* a fresh pool: not modelled */
                fi;
                if
                :: p != NONE ->
                    assert(holder[p] == 0 && count[p] == 0 && remote[p] == 0 && bag[p] == 0);
                    in_arena[p] = false;
                    holder[p] = ID_O;
                    cls[p] = c;
                    count[p] = 1;
                    bag[p] = 1          /* its first block, for F to free */
                :: else -> skip
                fi;
                p = 0
            }
        :: else -> skip
        fi;
        c = NONE;
        took = false
    :: else -> break
    od;
    o_done = true;
    ndone++
}

proctype popper()
{
    byte me = ID_P;
    byte p, c, w, old, pp, nx, i;
    short top;
    bool hf, ok, took;

    do
    :: i < POPS && !HOLDS(ID_P, 0) -> i++; shared_take(0); took = false
    :: i < POPS && !HOLDS(ID_P, 1) -> i++; shared_take(1); took = false
    :: holder[0] == ID_P -> give_away(0)
    :: holder[1] == ID_P -> give_away(1)
    :: break
    od;
    ndone++
}

/* F's free of a block of pool p */
inline free_one(p)
{
    if
    :: d_step { holder[p] == ID_F -> HIT(18);                   /* S18 */
            /* obmt_free: the owner's free; the last block out:
             * heap_pool_emptied, cache_or_give, give_back */
            bag[p]--;
            count[p]--;
            if
            :: count[p] == 0 -> give_back(p); HIT(19)            /* S19 */
            :: else -> skip
            fi
        }
    :: else ->
        /* heap_free_remote (the batch handed over at once): pool_push_remote */
        d_step { assert(!in_arena[p] && count[p] > 0); old = remote[p]; HIT(20) };  /* S20 */
        do
        :: atomic { HIT(21);                                    /* S21 */
                if
                :: remote[p] == old -> remote[p] = old + RONE; bag[p]--; check(); break
                :: else -> old = remote[p]
                fi
            }
        od;
        if
        :: old & RAB ->
            /* remote_hand_over: the push saw ABANDONED */
            d_step { w = remote[p]; HIT(22) };                  /* S22 */
            do
            :: d_step { !(w & RAB) -> HIT(23) }; break          /* S23 */
            :: else ->
                atomic { HIT(24);                               /* S24 */
                    if
                    :: remote[p] == w ->
                        assert(holder[p] == 0 && !in_arena[p]);
                        remote[p] = 0;
                        holder[p] = ID_F;
                        watch[p] = 0;
                        adopt_place(p, w);                      /* heap_adopt */
                        check();
                        break
                    :: else -> w = remote[p]
                    fi
                }
            od
        :: else -> skip
        fi
    fi;
    old = 0;
    w = 0
}

proctype freer()
{
    byte me = ID_F;
    byte p, c, w, old;
    short top;
    bool hf, ok;

    do
    :: bag[0] > 0 -> free_one(0)
    :: bag[1] > 0 -> free_one(1)
    :: holder[0] == ID_F -> give_away(0)
    :: holder[1] == ID_F -> give_away(1)
    :: o_done && bag[0] == 0 && bag[1] == 0 -> break
    od;
    ndone++
}

init
{
    byte p;

    atomic {
        COVER_INIT;
        p = 0;
        do
        :: p < NP ->
            holder[p] = ID_O;
            cls[p] = 0;
            count[p] = NB0;
            bag[p] = NB0;
            p++
        :: else -> break
        od;
        run owner();
        run popper();
        run freer()
    }
    (ndone == 3);
    d_step {
        check();
        p = 0;
        do
        :: p < NP ->
            assert(inpop[p] == 0 && pushing[p] == 0);
            assert(!watch[p] || onstack[p] != 0);                /* (3) at the end */
            if
            :: in_arena[p] ->
                assert(count[p] == 0 && remote[p] == 0 && holder[p] == 0 && bag[p] == 0)
            :: else ->
                assert(count[p] == bag[p] + RLIST(remote[p]))
            fi;
            p++
        :: else -> break
        od;
        ended = true
    }
}

#ifdef TERM
ltl term { <> ended }
#endif
