/*
 * pool_transfer.pml: model 2 of 3. Empty pools move between threads and
 * their arena through the arena's state word, changed only by CAS:
 *  - a thread gives a pool back (arena_give_pool), then, if that made the
 *    arena wholly free, keeps it (KEPT) or, with a purge delay of 0,
 *    decommits it (arena_wholly_free, arena_decommit: CAS CLAIMED, then a
 *    store of the all-virgin DECOMMITTED state);
 *  - other threads take pools from the same arena (arena_try_pop: pop the
 *    free-pool stack, or take the next virgin pool; a DECOMMITTED arena,
 *    which os_release left read-only, is first claimed with a CAS, committed
 *    again, and published with its first pool taken, or DECOMMITTED again
 *    if the OS refuses: arena_recommit);
 *  - the purger (the one thread that holds g_purging) decommits a wholly free
 *    arena, or takes the arena's whole free-pool stack with one CAS, gives
 *    the pools' pages back, and pushes the stack back in front of whatever
 *    was given back meanwhile (arena_purge).
 *
 * Code modelled (src/arena.c): arena_try_pop, arena_give_pool,
 * arena_wholly_free, arena_decommit, arena_purge, the per-arena part of
 * purge_if_due, and the first publication of a slot (arena_new_pool) as an
 * initial state. Every step tagged A<n> (with HIT(n)) is listed with its code
 * line in tests/model/MAPPING.md, which check_mapping.sh verifies.
 *
 * The state word packs nfree | head | virgin | CLAIMED | DECOMMITTED | KEPT
 * | generation into one int that every writer changes with a CAS on the whole
 * word (a d_step: compare, then swap or refresh `expected`). The free-pool
 * links (arena_object.next[]) are separate shared bytes: a taker reads the
 * head pool's link between its load and its CAS, possibly after that pool was
 * popped by another thread and given back with another link, or taken by the
 * purger; the generation makes that CAS fail.
 *
 * Granularity: one Promela step per atomic operation on a shared word (the
 * state word, one next[] link, g_kept). Thread-local arithmetic is folded into
 * the neighbouring step.
 *
 * Abstractions (MAPPING.md has the full list):
 *  - memory ordering is abstracted away: spin is sequentially consistent
 *    (state_cas is ck_pr_cas_64_value, sequentially consistent).
 *  - one arena of NPOOLS = 3 pools (the code has 64); the nfreepools buckets
 *    and their summary word only decide which arena a taker tries, and with
 *    which `want` (the bucket's count): here the count the taker loads
 *    first; a stale count, like bucket_take's first try with `skip` =
 *    DECOMMITTED, can only make the call return no pool, which changes
 *    nothing (the code would go on to other arenas).
 *  - os_decommit changes nothing the model tracks (the links are outside the
 *    pools' pages), so it has no step of its own.
 *  - the purger runs at any time (dirty, last_give_ms and the delay are hints
 *    that only decide when); PURGES passes. A giver calling purge_if_due is
 *    the purger running then. OPT_PURGE_DELAY_MS == 0 (a giver decommits at
 *    once) is chosen at the start, as is KEPT0 (0 or 1 other arenas already
 *    kept, so both arena_wholly_free branches are explored);
 *    OPT_KEEP_FREE_ARENAS is KEEP (1).
 *  - the generation does not wrap (the code: 37 bits).
 *  - ghost state: holder[p] (which thread holds pool p; the purger holds the
 *    stack it took), and `writable` (the arena's memory can be written:
 *    false from os_release in a decommit to the commit of a recommit), for
 *    the checks.
 *
 * Checks:
 *  - at every write of the state word: the free-pool stack holds distinct,
 *    carved pools that nobody holds; nfree == stack length + virgin pools
 *    left; no virgin pool is held; a CLAIMED arena has every pool free; a
 *    pool popped was held by nobody (no pool handed out twice) and its
 *    arena is writable; a give never finds KEPT, DECOMMITTED or CLAIMED set
 *    (a pool is out).
 *  - at the end: every pool held by exactly one thread or free in the arena,
 *    no decommit half done, g_kept == KEPT0 + (the arena is KEPT ? 1 : 0).
 *  - -DTERM: LTL `term`, <> ended: every run ends (pan -a).
 *  - -DCOVER: pan prints "COVERED: n n ..." at exit, the tags executed.
 *
 * Initial states (chosen nondeterministically):
 *  (a) as arena_new_pool publishes a fresh slot: {nfree 2, head 0,
 *      virgin 1}, pool 0 held by thread 0 (gen + 1 from a slot that is new,
 *      or that a failed commit had left UNUSABLE: not modelled);
 *  (b) all pools carved, stack p1 -> p0, pool 2 held by thread 1 (reached
 *      from (a) by: take, take, give p0, give p1, thread 1 keeping p2).
 *      From (b) thread 0 can sit in a take between its read of p1's link
 *      (p0) and its CAS while thread 1 takes p1, takes p0, gives p2, gives
 *      p1: the word is {nfree 2, head p1, virgin 3} again.
 *
 * -DBROKEN_RECOMMIT: negative check, a taker pops a DECOMMITTED arena
 *  directly (as before decommitting released the commit charge): spin must
 *  find a pool handed out while the arena is not writable.
 *
 * -DNOGEN: negative check, the generation never changes. Spin must find the
 *  ABA above: thread 0's CAS succeeds and makes p0, held by thread 1, the
 *  stack head (assertion violated).
 */

#ifndef NPOOLS
#define NPOOLS 3        /* initial state (b) is written for 3 */
#endif
#ifndef OPS0
#define OPS0 3          /* operations of thread 0 */
#endif
#ifndef OPS1
#define OPS1 4          /* operations of thread 1 */
#endif
#ifndef PURGES
#define PURGES 1        /* purge passes */
#endif
#ifndef KEEP
#define KEEP 1          /* OPT_KEEP_FREE_ARENAS */
#endif
#define NT 2
#define PURGER 3        /* holder[] value of the purger */

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

/* the state word: bits 0..2 nfree, 3..5 head (pool + 1), 6..8 virgin,
 * 9 CLAIMED, 10 DECOMMITTED, 11 KEPT, 12.. generation */
#define NFREE(s)   ((s) & 7)
#define HEAD(s)    (((s) >> 3) & 7)
#define VIRGIN(s)  (((s) >> 6) & 7)
#define CLAIMED    512
#define DECOMMITTED 1024
#define KEPT       2048
#define GEN_ONE    4096
#define GEN_MASK   (~4095)
#ifdef NOGEN
#define GINC       0
#else
#define GINC       GEN_ONE
#endif
#define MK(gf, nfree, head, virgin) ((gf) | (nfree) | ((head) << 3) | ((virgin) << 6))

int state;                   /* g_arenas[slot].state */
byte next[NPOOLS];           /* g_arenas[slot].next[]: pool + 1 below it, 0 = end */
byte g_kept;
bool delay0;                 /* OPT_PURGE_DELAY_MS == 0 */
bool writable = true;        /* the arena's memory can be written (committed, not released) */

/* ghosts */
byte holder[NPOOLS];         /* 0 nobody, t + 1 thread t, PURGER */
byte kept0;
byte ndone;
bool ended;

/* The invariant of the free-pool stack, inside every d_step that writes
 * the state word. */
inline check_stack()
{
    if
    :: (state & CLAIMED) == 0 ->
        iv_x = HEAD(state);
        iv_n = 0;
        iv_seen = 0;
        do
        :: iv_x != 0 ->
            iv_p = iv_x - 1;
            assert(iv_p < VIRGIN(state));          /* carved */
            assert(holder[iv_p] == 0);             /* free */
            assert((iv_seen & (1 << iv_p)) == 0);  /* once */
            iv_seen = iv_seen | (1 << iv_p);
            iv_n++;
            assert(iv_n <= NPOOLS);
            iv_x = next[iv_p]
        :: else -> break
        od;
        assert(NFREE(state) == iv_n + NPOOLS - VIRGIN(state));
        iv_p = VIRGIN(state);
        do
        :: iv_p < NPOOLS -> assert(holder[iv_p] == 0); iv_p++
        :: else -> break
        od
    :: else ->
        /* CLAIMED for a decommit: every pool is free */
        iv_p = 0;
        do
        :: iv_p < NPOOLS -> assert(holder[iv_p] == 0); iv_p++
        :: else -> break
        od
    fi;
    iv_x = 0; iv_n = 0; iv_p = 0; iv_seen = 0
}

/* arena_try_pop(slot, &old, skip = 0, want): got = pool + 1, or 0. `want`
 * is the count of the bucket the taker found the arena in (b + 1 >= 1):
 * here the count of the first load. A stale bucket count only makes the
 * call return no pool, which changes nothing. */
inline take(t)
{
    got = 0;
    d_step { s = state; want = NFREE(s); HIT(1) }                        /* A1 */
    do
    :: d_step { NFREE(s) == 0 || NFREE(s) != want || (s & CLAIMED) -> HIT(6) }; break  /* A6 */
#ifndef BROKEN_RECOMMIT
    :: (s & DECOMMITTED) && !(NFREE(s) == 0 || NFREE(s) != want || (s & CLAIMED)) ->
        /* arena_try_pop: a decommitted arena is claimed first */
        d_step { HIT(7);                                                 /* A7 */
            if
            :: state == s -> state = (s + GINC) | CLAIMED; ok = true; check_stack()
            :: else -> s = state; ok = false
            fi
        }
        if
        :: ok ->
            /* arena_recommit: we hold the arena; os_commit succeeds or not */
            if
            :: d_step { HIT(8);                                          /* A8 */
                    writable = true;
                    state = MK((s & GEN_MASK) + 2 * GINC, NPOOLS - 1, 0, 1);
                    assert(holder[0] == 0);
                    holder[0] = t + 1;
                    check_stack()
                }
                got = 1
            :: d_step { HIT(9);                                          /* A9 */
                    state = MK(((s & GEN_MASK) + 2 * GINC) | DECOMMITTED, NPOOLS, 0, 0);
                    check_stack()
                }
            fi;
            break
        :: else -> skip
        fi
#endif
    :: else ->
        if
        :: HEAD(s) != 0 ->
            idx = HEAD(s) - 1;
            d_step { nx = next[idx]; HIT(2) };                           /* A2 */
            ns = MK((s & GEN_MASK) + GINC, NFREE(s) - 1, nx & 7, VIRGIN(s))
        :: else ->
            idx = VIRGIN(s);
            ns = MK((s & GEN_MASK) + GINC, NFREE(s) - 1, 0, VIRGIN(s) + 1)
        fi;
        d_step { HIT(3);                                                 /* A3 */
            if
            :: state == s ->
                state = ns; ok = true;
                if :: HEAD(s) == 0 -> HIT(5) :: else -> skip fi;         /* A5 */
                assert(idx < NPOOLS);
                assert(holder[idx] == 0);          /* never handed out twice */
                assert(writable);                  /* the taker writes the pool at once */
                holder[idx] = t + 1;
                check_stack()
            :: else -> s = state; ok = false
            fi;
            nx = 0; ns = 0
        }
        if
        :: ok ->
            if
            :: (s & KEPT) -> d_step { g_kept--; HIT(4) }                 /* A4 */
            :: else -> skip
            fi;
            got = idx + 1;
            break
        :: else -> skip
        fi
    od;
    s = 0; idx = 0; ok = false; want = 0
}

/* arena_decommit */
inline decommit()
{
    d_step { s = state; HIT(30) }                                        /* A30 */
    do
    :: d_step { NFREE(s) != NPOOLS || (s & (KEPT | CLAIMED | DECOMMITTED)) != 0 -> HIT(31); ok = false }; break  /* A31 */
    :: else ->
        d_step { HIT(32);                                                /* A32 */
            if
            :: state == s -> state = (s + GINC) | CLAIMED; ok = true; check_stack()
            :: else -> s = state; ok = false
            fi
        }
        if
        :: ok -> break
        :: else -> skip
        fi
    od;
    if
    :: ok ->
        /* we hold the arena: os_release (pages and charge go; the range
         * is no longer writable), then publish it all virgin */
        d_step { HIT(33);                                                /* A33 */
            writable = false;
            state = MK(((s & GEN_MASK) + 2 * GINC) | DECOMMITTED, NPOOLS, 0, 0);
            check_stack()
        }
    :: else -> skip
    fi;
    s = 0; ok = false
}

/* arena_wholly_free: the arena was seen wholly free. */
inline wholly_free()
{
    d_step { s = state; HIT(20) }                                        /* A20 */
    d_step { k = g_kept; g_kept++; HIT(21) }                             /* A21 */
    if
    :: k < KEEP ->
        do
        :: NFREE(s) == NPOOLS && (s & (KEPT | CLAIMED | DECOMMITTED)) == 0 ->
            d_step { HIT(22);                                            /* A22 */
                if
                :: state == s -> state = (s + GINC) | KEPT; ok = true; check_stack()
                :: else -> s = state; ok = false
                fi
            }
            if
            :: ok -> break
            :: else -> skip
            fi
        :: else ->
            d_step { g_kept--; HIT(23) };                                /* A23 */
            break
        od
    :: else ->
        d_step { g_kept--; HIT(24) };                                    /* A24 */
        if
        :: d_step { delay0 -> HIT(29) }; decommit()                      /* A29 */
        :: else -> skip
        fi
    fi;
    k = 0; s = 0; ok = false
}

/* arena_give_pool(pool idx) */
inline give(t, pidx)
{
    idx = pidx;
    d_step { s = state; HIT(10) }                                        /* A10 */
    do
    :: d_step { next[idx] = HEAD(s); HIT(11) };                          /* A11 */
        d_step { HIT(12);                                                /* A12 */
            if
            :: state == s ->
                assert((s & (DECOMMITTED | KEPT | CLAIMED)) == 0);   /* a pool is out */
                state = MK((s & GEN_MASK) + GINC | (s & (DECOMMITTED | KEPT)),
                           NFREE(s) + 1, idx + 1, VIRGIN(s));
                ok = true;
                assert(holder[idx] == t + 1);
                holder[idx] = 0;
                check_stack()
            :: else -> s = state; ok = false
            fi
        }
        if
        :: ok -> break
        :: else -> skip
        fi
    od;
    /* bucket_move: hints, not modelled; purge_if_due: the purger process */
    if
    :: d_step { NFREE(s) + 1 == NPOOLS -> HIT(13); idx = 0 }; wholly_free()  /* A13 */
    :: else -> skip
    fi;
    s = 0; idx = 0; ok = false
}

/* arena_purge, run by the purger */
inline purge()
{
    d_step { s = state; HIT(50) }                                        /* A50 */
    do
    :: d_step { (s & (CLAIMED | DECOMMITTED | KEPT)) != 0 -> HIT(51) }; ok = false; break  /* A51 */
    :: else ->
        nstack = NFREE(s) - (NPOOLS - VIRGIN(s));
        if
        :: d_step { nstack == 0 || HEAD(s) == 0 -> HIT(52) }; ok = false; break  /* A52 */
        :: else ->
            d_step { HIT(53);                                            /* A53 */
                if
                :: state == s ->
                    state = MK((s & GEN_MASK) + GINC, NFREE(s) - nstack, 0, VIRGIN(s));
                    ok = true;
                    /* the taken stack is the purger's now */
                    iv_x = HEAD(s);
                    do
                    :: iv_x != 0 -> assert(holder[iv_x - 1] == 0); holder[iv_x - 1] = PURGER; iv_x = next[iv_x - 1]
                    :: else -> break
                    od;
                    check_stack()
                :: else -> s = state; ok = false
                fi
            }
            if
            :: ok -> break
            :: else -> skip
            fi
        fi
    od;
    if
    :: ok ->
        /* walk the links of the taken stack (nobody else writes them now);
         * os_decommit of the used ones changes nothing modelled */
        d_step { HIT(54);                                                /* A54 */
            n = 0;
            iv_x = HEAD(s);
            do
            :: iv_x != 0 && n < NPOOLS -> order[n] = iv_x - 1; n++; iv_x = next[iv_x - 1]
            :: else -> break
            od;
            assert(n == nstack);
            iv_x = 0
        }
        /* relink them in their order (the same links: no visible change) */
        d_step { HIT(55);                                                /* A55 */
            iv_x = 0;
            do
            :: iv_x + 1 < n -> next[order[iv_x]] = order[iv_x + 1] + 1; iv_x++
            :: else -> break
            od;
            iv_x = 0
        }
        d_step { s = state; HIT(56) }                                    /* A56 */
        do
        :: d_step { next[order[n - 1]] = HEAD(s); HIT(57) };             /* A57 */
            d_step { HIT(58);                                            /* A58 */
                if
                :: state == s ->
                    state = MK((s & GEN_MASK) + GINC, NFREE(s) + n, order[0] + 1, VIRGIN(s));
                    ok = true;
                    iv_x = 0;
                    do
                    :: iv_x < n -> assert(holder[order[iv_x]] == PURGER); holder[order[iv_x]] = 0; iv_x++
                    :: else -> break
                    od;
                    check_stack()
                :: else -> s = state; ok = false
                fi
            }
            if
            :: ok -> break
            :: else -> skip
            fi
        od;
        if
        :: d_step { NFREE(s) + n == NPOOLS -> HIT(59); HIT(60) };      /* A59 */ /* A60 */
            wholly_free();
            decommit()
        :: else -> skip
        fi
    :: else -> skip
    fi;
    s = 0; ok = false; n = 0; nstack = 0;
    order[0] = 0; order[1] = 0; order[2] = 0
}

#define HOLDS(t) (holder[0] == (t) + 1 || (NPOOLS >= 2 && holder[1] == (t) + 1) || \
                  (NPOOLS >= 3 && holder[2] == (t) + 1) || (NPOOLS >= 4 && holder[3] == (t) + 1))

inline pick_held(t, pidx)
{
    if
    :: holder[0] == t + 1 -> pidx = 0
    :: NPOOLS >= 2 && holder[1] == t + 1 -> pidx = 1
    :: NPOOLS >= 3 && holder[2] == t + 1 -> pidx = 2
    :: NPOOLS >= 4 && holder[3] == t + 1 -> pidx = 3
    fi
}

proctype worker(byte t; byte ops)
{
    int s, ns;
    byte idx, nx, got, k, pidx, want;
    byte iv_x, iv_n, iv_p, iv_seen;
    bool ok;

    do
    :: ops > 0 ->
        ops--;
        if
        :: take(t); got = 0
        :: HOLDS(t) -> pick_held(t, pidx); give(t, pidx); pidx = 0
        fi
    :: else -> break
    od;
    ndone++
}

/* The thread that won g_purging, PURGES passes over the arena
 * (purge_if_due's per-arena body). */
proctype purger()
{
    int s;
    byte k, n, nstack;
    byte order[NPOOLS];
    byte iv_x, iv_n, iv_p, iv_seen;
    bool ok;
    byte passes = PURGES;

    do
    :: passes > 0 ->
        passes--;
        d_step { s = state; HIT(40) }                                    /* A40 */
        if
        :: d_step { NFREE(s) == NPOOLS -> HIT(41) }; decommit()          /* A41 */
        :: d_step { NFREE(s) != NPOOLS -> HIT(42) }; purge()             /* A42 */
        fi
    :: else -> break
    od;
    ndone++
}

init
{
    byte iv_x, iv_n, iv_p, iv_seen;

    atomic {
        COVER_INIT;
        if
        :: /* (a) a fresh slot, as arena_new_pool publishes it */
            state = MK(GEN_ONE, NPOOLS - 1, 0, 1); HIT(0);               /* A0 */
            holder[0] = 1
        :: /* (b) stack p1 -> p0, p2 held by thread 1, all carved */
            next[0] = 0;
            next[1] = 1;
            state = MK(5 * GEN_ONE, 2, 2, 3);
            holder[2] = 2
        fi;
        if
        :: kept0 = 0
        :: kept0 = 1
        fi;
        g_kept = kept0;
        if
        :: delay0 = false
        :: delay0 = true
        fi;
        check_stack();
        run worker(0, OPS0);
        run worker(1, OPS1);
        run purger()
    }
    (ndone == NT + 1);
    d_step {
        check_stack();
        assert((state & CLAIMED) == 0);
        iv_p = 0;
        do
        :: iv_p < NPOOLS -> assert(holder[iv_p] != PURGER); iv_p++
        :: else -> break
        od;
        assert(g_kept == kept0 + ((state & KEPT) != 0));
        ended = true
    }
}

#ifdef TERM
ltl term { <> ended }
#endif
