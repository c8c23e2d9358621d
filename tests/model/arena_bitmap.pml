/*
 * arena_bitmap.pml: model 8, the protocol of docs/plan-issue-11.md stage B,
 * checked before the code: an arena's free pools as a bitmap with no
 * generation. It stands for no code yet (no tags, no MAPPING.md rows); the
 * commit that rewrites src/arena.c on it turns this into model 2's
 * successor, tagged and mapped.
 *
 * One arena of NPOOLS = 3 pools (the code: 64), so that a 2-run and a
 * single pool interleave (4 pools: a search past 4 GiB). Its words:
 *   A     free bitmap: bit p set = pool p is free and may be taken. Taken
 *         only by CAS(A, x, x & ~r) with r set in x, the new value computed
 *         from the value compared against; given back only by fetch_or of
 *         bits the giver holds.
 *   D     dirty bitmap: bit p = pool p's pages may be resident. Set by a
 *         giver (fetch_or) before it gives the pool back; cleared only by
 *         the purger for pools it holds, after it gave their pages back.
 *   M     mode: 0, CLAIMED, DECOMMITTED or HUGE. Changed only by the
 *         holder of all pools (it emptied A with its own CAS), or by a CAS
 *         DECOMMITTED -> CLAIMED while A == 0.
 *   kept  0/1: counted in g_kept (the KEEP wholly free arenas kept
 *         resident). Set by CAS 0 -> 1, cleared by CAS 1 -> 0; the clearing
 *         CAS's winner does the fetch_sub.
 * Why no generation is needed (the plan's argument, which this model
 * checks): a CAS on A that succeeds after a change and a change back
 * removes the same bits from the same value, and those bits are free
 * (set); fetch_or sets only bits their holder cleared; M has one writer at
 * a time; kept is a flag whose set and clear pair through CAS.
 *
 * Actors:
 *  W0, W1 (worker(t)): OPS operations each: take one pool (load A, pick
 *     any set bit: the code's pick1 is a policy among them; CAS; then
 *     clear kept if it loads it set), take a 2-run (one CAS for both
 *     bits), recommit a DECOMMITTED arena (CAS M DECOMMITTED -> CLAIMED,
 *     commit or fail, M = 0, then A = ALL & ~r: it holds r), give back
 *     what it holds (fetch_or D, then fetch_or A; if that made A ALL,
 *     wholly_free), and write to the pools it holds (asserting they are
 *     writable).
 *  P (purger()): PURGES passes: purge (load A, load D, T = A & D, CAS A
 *     x -> x & ~T; the pages go; fetch_and D ~T; fetch_or A T; if that made
 *     A ALL, wholly_free), or decommit a wholly free arena (CAS A ALL -> 0;
 *     if kept is set, give it all back; else M = CLAIMED, the pages go,
 *     D = 0, M = DECOMMITTED).
 *  H (huge()): HOPS operations: claim the arena whole for a huge run
 *     (CAS A ALL -> 0, clear kept as a taker does, M = HUGE; or CAS M
 *     DECOMMITTED -> CLAIMED, commit, M = HUGE), write to it, give it back
 *     (M = 0, fetch_or D ALL, fetch_or A ALL, wholly_free).
 *  wholly_free (inline, by whoever made A ALL): fetch_add g_kept; under
 *     KEEP, CAS kept 0 -> 1 and then re-load A: if it is no longer ALL (a
 *     taker's CAS came first and may have loaded kept before the set), CAS
 *     kept 1 -> 0 and fetch_sub; otherwise fetch_sub. With a purge delay of
 *     0 (chosen at the start) a giver then decommits, as the purger does.
 * The start is chosen: a resident arena never used (A ALL, D 0), one with
 * pools used and given back (A ALL, D ALL), or a DECOMMITTED one.
 *
 * Checks, in every step that writes A, D, M or a holder:
 *  I1  a pool is free in A or held by exactly one actor (DECOMMITTED: A is
 *      0 and nobody holds a pool);
 *  I2  M != 0 implies A == 0;
 *  I5  a free pool whose pages may be resident has its D bit set, and a
 *      free pool with its D bit set may be resident (a decommit clears D);
 *  and: a pool is taken only from a writable (committed) arena and written
 *  only while writable; the decommitter holds every pool when the pages go;
 *  a 2-run is two adjacent pools taken by one CAS. At the end: I4, g_kept
 *  is KEPT0 plus this arena's kept; kept implies A == ALL and M == 0;
 *  nothing is CLAIMED; what each actor holds is what it believes it holds.
 *
 * Negative variants, each must fail:
 *  -DBROKEN_GIVE_STORE          a give stores A = (A it loaded) | r: a
 *                               concurrent give is lost (I1);
 *  -DBROKEN_DECOMMIT_NOCLAIM    the decommitter tests A == ALL with a load,
 *                               not a CAS: a taker's pool is out when the
 *                               pages go;
 *  -DBROKEN_KEPT_NORECHECK      wholly_free does not re-load A after
 *                               setting kept: an arena stays kept with a
 *                               pool out (end check);
 *  -DBROKEN_PURGE_CLEAR_D_FIRST the purger clears D before its CAS on A: a
 *                               free resident pool without its D bit (I5).
 *
 * Memory order is abstracted: spin is sequentially consistent, as the
 * plan's CASes, fetch_or and the kept loads are (seq_cst; the Dekker pair
 * of wholly_free's re-load and a taker's kept load needs it).
 */

#define NPOOLS 3
#define ALL 7

#ifndef OPS
#define OPS 3           /* each worker's operations */
#endif
#ifndef PURGES
#define PURGES 2        /* the purger's passes */
#endif
#ifndef HOPS
#define HOPS 2          /* the huge claimer's operations (claim, give) */
#endif
#ifndef NW
#define NW 2            /* workers (1 or 2) */
#endif
#ifndef KEEP
#define KEEP 1          /* OBMT_KEEP_FREE_ARENAS */
#endif

/* modes */
#define M_NONE    0
#define M_CLAIMED 1
#define M_DEC     2
#define M_HUGE    3

/* holders: 0 nobody, 1 and 2 the workers, PU the purger, HU the huge claimer */
#define PU 3
#define HU 4

byte A = ALL;
byte D = 0;
byte M = M_NONE;
byte kept = 0;
byte g_kept = 0;        /* KEPT0 + kept, once no one is inside wholly_free or a take's kept clear */
byte kept0 = 0;         /* other arenas kept at the start (0 or KEEP: both branches of wholly_free) */
bool delay0 = false;    /* OPT_PURGE_DELAY_MS == 0: a giver decommits at once */
bool writable = true;   /* the arena is committed */
byte holder[NPOOLS];
bool resident[NPOOLS];  /* ghost: the pool's pages may hold data */
byte ndone = 0;
bool started = false;


/* I1, I2, I5 */
inline check()
{
    c = 0;
    do
    :: c < NPOOLS ->
        if
        :: M == M_DEC -> assert(((A >> c) & 1) == 0 && holder[c] == 0)
        :: else -> assert(((A >> c) & 1) == (holder[c] == 0 -> 1 : 0))
        fi;
        assert(!(((A >> c) & 1) && resident[c]) || ((D >> c) & 1));   /* I5 */
        assert(!(((A >> c) & 1) && ((D >> c) & 1)) || resident[c]);   /* a free dirty pool's pages may be resident */
        assert(M != M_DEC || !resident[c]);
        c++
    :: else -> break
    od;
    assert(M == M_NONE || A == 0);                                       /* I2 */
    assert(M != M_DEC || D == 0);
    c = 0
}

/* the pools in r become who's (asserted free in A: the caller's CAS took them) */
inline hold(r, who)
{
    c = 0;
    do
    :: c < NPOOLS ->
        if
        :: (r >> c) & 1 -> assert(holder[c] == 0); holder[c] = who
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

inline unhold(r, who)
{
    c = 0;
    do
    :: c < NPOOLS ->
        if
        :: (r >> c) & 1 -> assert(holder[c] == who); holder[c] = 0
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

/* the holder writes to the pools in r */
inline use(r, who)
{
    c = 0;
    do
    :: c < NPOOLS ->
        if
        :: (r >> c) & 1 ->
            assert(holder[c] == who);
            assert(writable);          /* written only while the arena is committed */
            resident[c] = true
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

/* a taker's CAS removed bits from A: if kept is set, clear it (the CAS's
 * winner does the fetch_sub) */
inline clear_kept()
{
    if
    :: kept == 1 ->
        d_step {
            if
            :: kept == 1 -> kept = 0; g_kept--
            :: else -> skip
            fi
        }
    :: else -> skip
    fi
}

/* arena_wholly_free, by whoever made A ALL */
inline wholly_free()
{
    d_step { n = g_kept; g_kept++ }
    if
    :: n < KEEP ->
        d_step {
            if
            :: kept == 0 -> kept = 1; ok = true
            :: else -> ok = false
            fi
        }
        if
        :: ok ->
#ifndef BROKEN_KEPT_NORECHECK
            /* re-load A: a taker's CAS before the set may have loaded kept
             * as 0; then it is ours to clear */
            if
            :: A != ALL ->
                d_step {
                    if
                    :: kept == 1 -> kept = 0; g_kept--
                    :: else -> skip
                    fi
                }
            :: else -> skip
            fi
#else
            skip
#endif
        :: else -> d_step { g_kept-- }
        fi
    :: else -> d_step { g_kept-- }
    fi;
    n = 0;
    ok = false
}

/* decommit the arena if it is wholly free: claim it by emptying A */
inline decommit(who)
{
#ifdef BROKEN_DECOMMIT_NOCLAIM
    if
    :: A == ALL ->
        /* negative check: the test above, then as if the CAS had won */
        d_step {
            A = 0;
            c = 0;
            do
            :: c < NPOOLS ->
                if
                :: holder[c] == 0 -> holder[c] = who
                :: else -> skip      /* a taker's since the test */
                fi;
                c++
            :: else -> break
            od;
            c = 0;
            ok = true
        }
    :: else -> ok = false
    fi;
#else
    d_step {
        if
        :: A == ALL -> A = 0; hold(ALL, who); check(); ok = true
        :: else -> ok = false
        fi
    }
#endif
    if
    :: ok ->
        if
        :: kept == 1 ->
            /* kept: it stays resident; give it all back */
            d_step { A = A | ALL; unhold(ALL, who); check() }
        :: else ->
            d_step { assert(A == 0 && M == M_NONE); M = M_CLAIMED; check() }
            /* os_release: the pages and the commit go (the decommitter
             * holds every pool); header_reset */
            d_step {
                c = 0;
                do
                :: c < NPOOLS -> assert(holder[c] == who); resident[c] = false; c++
                :: else -> break
                od;
                c = 0;
                writable = false
            }
            d_step { D = 0; check() }
            d_step { unhold(ALL, who); M = M_DEC; check() }
        fi
    :: else -> skip
    fi;
    ok = false
}

proctype worker(byte t)
{
    byte ops = OPS, x, r, n, c, mine = 0;
    bool ok;
    byte me = t + 1;
    (started);
    do
    :: ops > 0 ->
        ops--;
        if
        :: mine == 0 ->
            /* take one pool, or a 2-run */
            x = A;                                               /* load */
            if
            :: x != 0 ->
                /* any free pool (pick1 chooses among these), or two adjacent */
                if
                :: (x & 1) -> r = 1
                :: (x & 2) -> r = 2
                :: (x & 4) -> r = 4
                :: (x & 3) == 3 -> r = 3
                :: (x & 6) == 6 -> r = 6
                fi;
                d_step {
                    if
                    :: A == x ->
                        assert(writable && M == M_NONE);
                        A = x & ~r;
                        hold(r, me);
                        check();
                        mine = r
                    :: else -> skip    /* the code loads again and retries */
                    fi
                }
                if
                :: mine != 0 -> clear_kept()
                :: else -> skip
                fi
            :: x == 0 && M == M_DEC ->
                /* arena_recommit: claim, commit (or fail), publish with r taken */
                d_step {
                    if
                    :: M == M_DEC -> M = M_CLAIMED; hold(ALL, me); check(); ok = true
                    :: else -> ok = false
                    fi
                }
                if
                :: ok ->
                    if
                    :: d_step { writable = true }                 /* committed */
                        d_step { M = M_NONE; check() }
                        d_step { assert(A == 0); A = ALL & ~1; unhold(ALL & ~1, me); check(); mine = 1 }
                    :: d_step { unhold(ALL, me); M = M_DEC; check() }   /* the OS refused */
                    fi
                :: else -> skip
                fi;
                ok = false
            :: else -> skip
            fi;
            x = 0; r = 0
        :: mine != 0 ->
            /* it wrote to its pools, then gives them back */
            d_step { use(mine, me); D = D | mine; check() }          /* fetch_or D */
#ifdef BROKEN_GIVE_STORE
                x = A;                                               /* load */
                d_step { A = x | mine; unhold(mine, me); x = x | mine }   /* store */
#else
                d_step { x = A; assert((x & mine) == 0); A = A | mine; unhold(mine, me); check(); x = x | mine }
#endif
                mine = 0;
                if
                :: x == ALL ->
                    wholly_free();
                    if
                    :: delay0 -> decommit(me)
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                x = 0
        fi
    :: else -> break
    od;
    c = 0;   /* (a break may not jump into a d_step) */
    d_step {
        c = 0;
        do
        :: c < NPOOLS -> assert(((mine >> c) & 1) == (holder[c] == me -> 1 : 0)); c++
        :: else -> break
        od;
        c = 0;
        ndone++
    }
}

proctype purger()
{
    byte passes = PURGES, x, d, tk, old, n, c;
    bool ok;
    (started);
    do
    :: passes > 0 ->
        passes--;
        if
        :: /* arena_purge */
            x = A;                                                   /* load A */
#ifdef BROKEN_PURGE_CLEAR_D_FIRST
            d = D;
            tk = x & d;
            d_step { D = D & ~tk }                                   /* negative: D first */
#else
            d = D;                                                   /* load D */
            tk = x & d;
#endif
            if
            :: tk != 0 ->
                d_step {
                    if
                    :: A == x -> A = x & ~tk; hold(tk, PU); check(); ok = true
                    :: else -> ok = false
                    fi
                }
                if
                :: ok ->
                    clear_kept();
                    /* os_decommit of the pools taken, header_reset */
                    d_step {
                        c = 0;
                        do
                        :: c < NPOOLS ->
                            if
                            :: (tk >> c) & 1 -> assert(holder[c] == PU); resident[c] = false
                            :: else -> skip
                            fi;
                            c++
                        :: else -> break
                        od;
                        c = 0
                    }
#ifndef BROKEN_PURGE_CLEAR_D_FIRST
                    d_step { D = D & ~tk; check() }                  /* fetch_and D */
#endif
                    d_step { old = A; A = A | tk; unhold(tk, PU); check(); old = old | tk }
                    if
                    :: old == ALL ->
                        wholly_free();
                        decommit(PU)                                 /* old enough: the pass decommits it */
                    :: else -> skip
                    fi
                :: else -> skip
                fi
            :: else -> skip
            fi
        :: /* the pass finds the arena wholly free and old */
            decommit(PU)
        fi;
        x = 0; d = 0; tk = 0; old = 0; ok = false
    :: else -> break
    od;
    c = 0;   /* (a break may not jump into a d_step) */
    d_step { ndone++ }
}

proctype huge()
{
    byte hops = HOPS, n, c, x;
    bool ok, have = false;
    (started);
    do
    :: hops > 0 ->
        hops--;
        if
        :: !have ->
            if
            :: A == ALL ->
                /* run_claim_slot on a resident wholly free arena */
                d_step {
                    if
                    :: A == ALL -> assert(writable && M == M_NONE); A = 0; hold(ALL, HU); check(); ok = true
                    :: else -> ok = false
                    fi
                }
                if
                :: ok ->
                    clear_kept();
                    d_step { M = M_HUGE; check() };
                    have = true
                :: else -> skip
                fi
            :: M == M_DEC ->
                d_step {
                    if
                    :: M == M_DEC -> M = M_CLAIMED; hold(ALL, HU); check(); ok = true
                    :: else -> ok = false
                    fi
                }
                if
                :: ok ->
                    if
                    :: d_step { writable = true }
                        d_step { M = M_HUGE; check() };
                        have = true
                    :: d_step { unhold(ALL, HU); M = M_DEC; check() }   /* the OS refused */
                    fi
                :: else -> skip
                fi
            :: else -> skip
            fi;
            ok = false
        :: have ->
            /* it wrote to the block, then frees it (arena_give_run_at) */
            d_step { use(ALL, HU); assert(M == M_HUGE); M = M_NONE; check() }
            d_step { D = D | ALL; check() }
            d_step { x = A; assert(x == 0); A = A | ALL; unhold(ALL, HU); check() }
            have = false;
            wholly_free()
        fi
    :: else -> break
    od;
    c = 0;   /* (a break may not jump into a d_step) */
    d_step {
        if
        :: have -> c = 0; do :: c < NPOOLS -> assert(holder[c] == HU); c++ :: else -> break od; c = 0
        :: else -> skip
        fi;
        ndone++
    }
}

init {
    byte c;
    atomic {
        /* the start: a resident arena never used, one used and given back,
         * or a decommitted one; others kept or not; the purge delay */
        if
        :: A = ALL; D = 0
        :: A = ALL; D = ALL; c = 0; do :: c < NPOOLS -> resident[c] = true; c++ :: else -> break od; c = 0
        :: A = 0; D = 0; M = M_DEC; writable = false
        fi;
        if
        :: kept0 = 0
        :: kept0 = KEEP
        fi;
        g_kept = kept0;
        if
        :: delay0 = false
        :: delay0 = true
        fi;
        run worker(0);
        if
        :: NW > 1 -> run worker(1)
        :: else -> ndone++
        fi;
        run purger();
        run huge();
        started = true
    }
    (ndone == 4);
    d_step {
        c = 0;
        do
        :: c < NPOOLS ->
            if
            :: M == M_DEC -> assert(((A >> c) & 1) == 0 && holder[c] == 0)
            :: else -> assert(((A >> c) & 1) == (holder[c] == 0 -> 1 : 0))   /* I1 */
            fi;
            assert(!(((A >> c) & 1) && resident[c]) || ((D >> c) & 1));          /* I5 */
            c++
        :: else -> break
        od;
        assert(M != M_CLAIMED);
        assert(g_kept == kept0 + kept);                                        /* I4 */
        assert(kept == 0 || (A == ALL && M == M_NONE))
    }
}
