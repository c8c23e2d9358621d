/*
 * shared.pml: model 5 of 5. The shared level (src/shared.c): per size
 * class, a bitmap of the ownerless pools with a free block. The thread
 * whose CAS set ABANDONED in a pool's `remote` word (heap_release_unowned:
 * a collect's give_away, or thread exit's abandon_used) marks the pool in
 * its class's map if it has a free block; any malloc slow path
 * (shared_take) clears a bit and adopts the pool by the CAS that clears
 * ABANDONED, the same CAS a remote freer that meets ABANDONED adopts with
 * (remote_hand_over): exactly one of them wins, and a taker that finds the
 * flag gone drops the bit.
 *
 * The maps (one arena here): leaf[c] = g_shared_pools[c][slot], a bit per
 * pool; abit[c] = the arena's bit in g_shared[c].arenas. mark: load the
 * word, done if the pool's bit is set; else fetch_or the pool's bit, load
 * the arena's bit and fetch_or it if clear. take: load
 * the arena's bit; then until the word is empty or a pool of class c is
 * filed: load the word; if 0, clear the arena's bit, load the word again
 * and set the bit again if it is not 0; else clear the lowest bit
 * (fetch_and), and if this taker cleared it, load `remote` and adopt by
 * CAS if ABANDONED is there. All of it sequentially consistent in the code.
 *
 * Code modelled (src/): shared.c shared_mark, take_in_arena, shared_adopt,
 * shared_take; heap.c heap_malloc_slow (shared_take, then a pool from the
 * arena), heap_release_unowned, give_away (heap_collect's), heap_adopt
 * (pool_place, cache_or_give, give_back), pool_file_emptied; pool.c
 * pool_push_remote; remote.c remote_hand_over (the ABANDONED branch); api.c
 * obmt_free's owner test. Every step tagged S<n> (with HIT(n)) is listed
 * with its code line in tests/model/MAPPING.md, which check_mapping.sh
 * verifies against src/.
 *
 * Actors (NP = 2 pools, NC = 2 classes, both pools of class 0 at the start,
 * each with NB0 blocks out, which F holds):
 *  O (owner()): holds both pools; gives them away (both marked in class
 *     0's map); then OOPS operations, each one of
 *     - a malloc of a class c it holds no pool of (heap_malloc_slow):
 *       shared_take(c); if that finds nothing, a pool given back to the
 *       arena (pool_init for class c: a pool of class 0 may come back as
 *       class 1; its first block goes to F), or a fresh pool (not
 *       modelled: nothing);
 *     - a give_away (heap_collect) of a pool it holds.
 *  P (taker()): TAKES mallocs of a class it holds no pool of, by
 *     shared_take(c) alone (until the map is empty or it has a pool of
 *     class c: each stale bit dropped, each pool adopted filed under its
 *     own class, or let go again at once if it is of another class that P
 *     holds a pool of); between them, and after, it may give away a pool it
 *     holds; it may stop at any moment.
 *  F (freer()): frees the blocks it holds, in any order: into a pool it
 *     holds, the owner's free (the last block out gives the pool back to
 *     its arena); else a remote free (pool_push_remote), and if the word it
 *     replaced had ABANDONED, remote_hand_over's CAS clearing it: adopt
 *     (heap_adopt: take the list; an empty pool goes back to the arena).
 *     It may give away a pool it holds (its heap's collect, which
 *     heap_adopt runs). It ends when it has nothing to free and O is done.
 * So a pool can be: marked while a freer adopts it (stale bit), given back
 * to its arena and taken for class 1 with its bit still in class 0's map,
 * abandoned again and marked in class 1's map (in two maps at once), taken
 * from class 0's map and adopted as a class 1 pool; takers and freers race
 * for the flag, two takers for a bit, and takers' clears of the arena bit
 * against marks.
 *
 * Granularity: one Promela step per atomic operation on a shared word
 * (leaf[c], abit[c], remote). What only a pool's holder can touch (count,
 * the class, the lists of its heap, the remote list it just took) is
 * folded into the neighbouring step.
 *
 * Abstractions (MAPPING.md has the full list): spin is sequentially
 * consistent, as the code's map operations are (seq_cst), and so are the
 * abandoning CAS (S26) and the taker's first load of `remote` (S11): the
 * early return of a mark (S32) needs those two in one total order with the
 * map's operations (Dekker's pattern; -DBROKEN_LOAD_EARLY shows what a
 * release CAS and an acquire load would allow). The other acquire/release
 * pairs on `remote` are not checked here. One arena: the scan over
 * arena words is one bit per class (every arena's word and bit follow the
 * same steps). A pool is its count of blocks out (live or on its remote
 * list), its remote word (ABANDONED + the list's length) and its class;
 * blocks are counts. NB (the class's block count) is large enough that no
 * pool fills up: FULL (models 1, 3) is left out, so has_free is always
 * true, and abandon_flagged's full pools (ABANDONED without a mark) are
 * not modelled. The arena is a set (model 2); an empty pool always goes
 * back (OBMT_KEEP_EMPTY_POOLS 0). A malloc's block from a pool taken from
 * a map is freed back at once (not modelled); the block of a pool from the
 * arena goes to F. heap_adopt's collect, heap ticks and lenders are the
 * choice to give away a held pool at any moment; remote batches are handed
 * over at once. Fork is not modelled.
 *
 * Checks (assertions):
 *  (1) a pool has at most one holder: adopting (taker's CAS, freer's CAS)
 *      and taking from the arena assert that nobody holds it and that it
 *      is not in the arena; only the holder gives it away or back; a pool
 *      with ABANDONED set has no holder.
 *  (2) the arena bit, at every step: leaf[c] != 0 implies abit[c], or a
 *      marker is between its fetch_or and its load (and set) of the arena
 *      bit (ghost asetting), or a taker is between its clear of
 *      the arena bit and its load (and set) after it (ghost window).
 *  (3) a pool ABANDONED with a free block (ghost `watch`, set by the CAS
 *      that set the flag, cleared by the one that clears it) has, at every
 *      step, its bit in its class's map, or its abandoner is between its
 *      CAS and its mark (ghost marking), or a taker cleared its bit and has
 *      not yet found, in `remote`, the flag gone or cleared it (ghost
 *      intake).
 *  (4) a taker adopts only by the CAS that clears ABANDONED (the flag is
 *      in the word it replaces), never a pool in the arena or held.
 *  - at the end (every process done): (2) and (3) with no ghost in flight:
 *    every watched pool has its bit and its arena bit set, so the next
 *    malloc of its class finds it; each pool's count is the blocks F holds
 *    plus its remote list; a pool in the arena has count 0, remote 0 and
 *    no holder.
 *  - -DTERM: LTL `term`, <> ended: every run ends (pan -a).
 *  - -DCOVER: pan prints "COVERED: n n ..." at exit, the tags executed.
 *
 * Negative checks (spin must find a violation):
 *  -DBROKEN_MARK_FIRST  the abandoner marks before its CAS: a taker clears
 *                       the bit, finds no ABANDONED and drops it; the CAS
 *                       then leaves the pool ABANDONED with no bit (3).
 *  -DBROKEN_LOOK_FIRST  the taker loads `remote` before it clears the bit:
 *                       it sees no ABANDONED (a freer adopted the pool),
 *                       the pool is abandoned and marked again (the bit
 *                       was still set: no change), the taker clears the
 *                       bit and drops it: ABANDONED with no bit (3).
 *  -DBROKEN_LOAD_EARLY  the mark's load of the word comes before the
 *                       abandoning CAS (what C11 allows when the CAS is
 *                       release and the load does not order after it): it
 *                       sees a stale bit, a taker clears that bit and finds
 *                       no ABANDONED yet, the mark returns early: (3).
 *  -DBROKEN_NO_RECHECK  the taker clears the arena bit without loading the
 *                       word again: a mark between its load and its clear
 *                       (which found the arena bit still set) is left with
 *                       no arena bit (2).
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
#define NP 2            /* pools 0, 1 (bits 0, 1 of an arena's word) */
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

byte leaf[NC];               /* g_shared_pools[c][0]: bit p */
bit abit[NC];                /* g_shared[c].arenas[0], bit 0 */
byte remote[NP];

/* the holder's fields of each pool */
byte count[NP];              /* blocks out: live, or on the remote list */
byte cls[NP];                /* szidx */

/* ghosts */
byte holder[NP];             /* ID_O, ID_P, ID_F, or 0 */
bool in_arena[NP];           /* given back (arena_give_pool) */
byte bag[NP];                /* blocks of the pool that F holds */
byte marking[NP];            /* abandoners between their CAS and their mark */
byte intake[NP];             /* takers that cleared its bit and have not yet decided */
byte asetting[NC];           /* markers between their fetch_or and their arena bit (load, set) */
byte window[NC];             /* takers between their clear of the arena bit and the load after */
bit watch[NP];               /* ABANDONED, set with a free block */
bool o_done;
byte ndone;
bool ended;

hidden byte ck_k;

#define HOLDS(who, c) ((holder[0] == who && cls[0] == c) || (holder[1] == who && cls[1] == c))
#define BIT(p) (1 << (p))

/* Checks (2) and (3) and part of (1), in the step that may break them. */
inline check()
{
    ck_k = 0;
    do
    :: ck_k < NC ->
        assert(leaf[ck_k] == 0 || abit[ck_k] || asetting[ck_k] > 0 || window[ck_k] > 0);   /* (2) */
        ck_k++
    :: else -> break
    od;
    ck_k = 0;
    do
    :: ck_k < NP ->
        assert(!watch[ck_k] || (leaf[cls[ck_k]] & BIT(ck_k)) || marking[ck_k] > 0 || intake[ck_k] > 0);  /* (3) */
        assert(!(remote[ck_k] & RAB) || holder[ck_k] == 0);
        ck_k++
    :: else -> break
    od;
    ck_k = 0
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

/* shared_mark(p, c) */
inline shared_mark(p, c)
{
    d_step { HIT(31);                                           /* S31 */
        if
#ifndef BROKEN_LOAD_EARLY
        :: leaf[c] & BIT(p) ->
#else
        :: early ->
#endif
            old = 1;
#ifndef BROKEN_MARK_FIRST
            marking[p]--;
#endif
            skip
        :: else -> old = 0
        fi;
        check()
    };
    if
    :: old -> HIT(32)                                           /* S32 */
    :: else ->
        d_step { HIT(1);                                        /* S1 */
            leaf[c] = leaf[c] | BIT(p);
#ifndef BROKEN_MARK_FIRST
            marking[p]--;
#endif
            asetting[c]++;
            check()
        };
        d_step { HIT(2);                                        /* S2 */
            old = abit[c];
            if
            :: old -> asetting[c]--
            :: else -> skip
            fi;
            check()
        };
        if
        :: !old -> d_step { abit[c] = 1; asetting[c]--; check(); HIT(16) }  /* S16 */
        :: else -> skip
        fi
    fi;
    old = 0
}

/* heap_release_unowned(h, p, w), after the caller took the list w (folded
 * into the caller's exchange) */
inline release_unowned(p)
{
    do
    :: d_step { count[p] == 0 -> give_back(p); HIT(25) }; break  /* S25 */
    :: else ->
#ifdef BROKEN_MARK_FIRST
        c = cls[p];
        shared_mark(p, c);
#endif
#ifdef BROKEN_LOAD_EARLY
        d_step { early = leaf[cls[p]] & BIT(p) };
#endif
        atomic { HIT(26);                                       /* S26 */
            c = cls[p];
            hf = count[p] < NB;
            if
            :: remote[p] == 0 ->
                assert(!watch[p] && holder[p] == me);
                remote[p] = RAB;
                holder[p] = 0;
                watch[p] = hf;
#ifndef BROKEN_MARK_FIRST
                marking[p] = marking[p] + hf;
#endif
                check();
                ok = true
            :: else -> ok = false
            fi
        };
        if
        :: ok ->
            ok = false;
#ifndef BROKEN_MARK_FIRST
            if
            :: hf -> HIT(27); shared_mark(p, c)                 /* S27 */
            :: else -> skip
            fi;
#endif
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

/* shared_adopt(h, pp) after the taker cleared pp's bit: sets ok if it
 * adopted the pool */
inline shared_adopt(pp, c)
{
    d_step { HIT(11);                                           /* S11 */
        w = remote[pp];
        if
        :: !(w & RAB) -> intake[pp]--
        :: else -> skip
        fi;
        check()
    };
    do
    :: d_step { !(w & RAB) -> HIT(12) }; ok = false; break      /* S12 */
    :: else ->
        atomic { HIT(13);                                       /* S13 */
            if
            :: remote[pp] == w ->
                /* (4): the flag cleared by this CAS; nobody holds the pool */
                assert((w & RAB) && holder[pp] == 0 && !in_arena[pp] && intake[pp] > 0);
                remote[pp] = 0;
                holder[pp] = me;
                watch[pp] = 0;
                intake[pp]--;
                check();
                ok = true;
                break
            :: else ->
                w = remote[pp];
                if
                :: !(w & RAB) -> intake[pp]--; check()
                :: else -> skip
                fi
            fi
        }
    od;
    if
    :: ok && cls[pp] != c && holder[1 - pp] == me && cls[1 - pp] == cls[pp] ->
        /* a pool of another class, which h has a pool of: let go again */
        d_step { HIT(33); count[pp] = count[pp] - RLIST(w) };   /* S33 */
        release_unowned(pp);
        ok = false
    :: ok && !(cls[pp] != c && holder[1 - pp] == me && cls[1 - pp] == cls[pp]) ->
        d_step { adopt_place(pp, w); HIT(14) }                  /* S14 */
    :: else -> skip
    fi;
    w = 0
}

/* shared_take(h, c) with take_in_arena(h, c, 0): sets took
 * (usedpools[c] not NULL at the end) */
inline shared_take(c)
{
    d_step { m = abit[c]; HIT(3) };                             /* S3 */
    if
    :: m ->
        do
        :: d_step { m = leaf[c]; HIT(4) };                      /* S4 */
            if
            :: m == 0 ->
                /* the word is empty: clear the arena's bit, look again */
                d_step { abit[c] = 0; window[c]++; check(); HIT(5) };   /* S5 */
#ifndef BROKEN_NO_RECHECK
                d_step { HIT(6);                                /* S6 */
                    m = leaf[c];
                    if
                    :: m == 0 -> window[c]--
                    :: else -> skip
                    fi;
                    check()
                };
                if
                :: m -> d_step { abit[c] = 1; window[c]--; check(); HIT(7) }   /* S7 */
                :: else -> skip
                fi;
#else
                d_step { window[c]--; check() };
#endif
                m = 0;
                break
            :: else ->
                pp = ((m & 1) -> 0 : 1);
#ifdef BROKEN_LOOK_FIRST
                d_step { w = remote[pp] };
#endif
                d_step { HIT(8);                                /* S8 */
                    old = leaf[c];
                    leaf[c] = leaf[c] & (255 - BIT(pp));
                    if
                    :: old & BIT(pp) -> intake[pp]++
                    :: else -> skip
                    fi;
                    check()
                };
                if
                :: !(old & BIT(pp)) -> HIT(9)                   /* S9 */
                :: else ->
#ifndef BROKEN_LOOK_FIRST
                    shared_adopt(pp, c);
#else
                    d_step { if :: !(w & RAB) -> intake[pp]-- :: else -> skip fi; check() };
                    if
                    :: !(w & RAB) -> ok = false
                    :: else ->
                        atomic {
                            if
                            :: remote[pp] == w -> assert(holder[pp] == 0); remote[pp] = 0; holder[pp] = me; watch[pp] = 0; intake[pp]--; check(); ok = true
                            :: else -> ok = false; if :: intake[pp] > 0 -> intake[pp]-- :: else -> skip fi; check()
                            fi
                        };
                        if :: ok -> d_step { adopt_place(pp, w) } :: else -> skip fi
                    fi;
                    w = 0;
#endif
                    if
                    :: ok && HOLDS(me, c) -> HIT(10); ok = false; break  /* S10 */
                    :: else -> ok = false
                    fi
                fi;
                old = 0;
                pp = 0
            fi
        od
    :: else -> skip
    fi;
    old = 0;
    pp = 0;
    m = 0;
    took = HOLDS(me, c); HIT(15)                                /* S15 */
}

proctype owner()
{
    byte me = ID_O;
    byte p, c, w, old, pp, m, i, early;
    bool hf, ok, took;

    /* its collect gives both pools away */
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

proctype taker()
{
    byte me = ID_P;
    byte p, c, w, old, pp, m, i, early;
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
             * pool_file_emptied, cache_or_give, give_back */
            bag[p]--;
            count[p]--;
            if
            :: count[p] == 0 -> give_back(p); HIT(19)            /* S19 */
            :: else -> skip
            fi
        }
    :: else ->
        /* heap_free_remote_leave (the batch handed over at once): pool_push_remote */
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
    byte p, c, w, old, early;
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
        run taker();
        run freer()
    }
    (ndone == 3);
    d_step {
        check();
        p = 0;
        do
        :: p < NC ->
            assert(asetting[p] == 0 && window[p] == 0);
            assert(leaf[p] == 0 || abit[p]);                    /* (2) at the end */
            p++
        :: else -> break
        od;
        p = 0;
        do
        :: p < NP ->
            assert(intake[p] == 0 && marking[p] == 0);
            assert(!watch[p] || ((leaf[cls[p]] & BIT(p)) && abit[cls[p]]));   /* (3) at the end */
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
