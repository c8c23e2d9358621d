/*
 * pool_transfer.pml: model 2. Empty pools move between threads and
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
 *    was given back meanwhile (arena_purge);
 *  - with -DHUGE_OPS=n, a huge claimer (n operations) takes the arena whole
 *    for a huge block's run, of which it is one arena (the others are not
 *    modelled; whether their claims or commits fail is a choice): one CAS
 *    from a wholly free word, to HUGE {nfree 0, head 0, virgin NPOOLS} if it
 *    is resident, or to CLAIMED if it is DECOMMITTED, committed, then a
 *    store of HUGE (run_claim_slot, run_prepare); or gives the claim back
 *    (run_unclaim_slot: the holder's store of the word it claimed the arena
 *    from, KEPT and g_kept restored; or run_drop_committed: wholly free,
 *    resident, virgin); and gives a HUGE arena back (arena_give_run_at:
 *    links every pool on the free-pool stack, then a CAS to {NPOOLS, head
 *    1, virgin NPOOLS} and arena_wholly_free; in secure mode a CAS to
 *    CLAIMED, then decommit_held).
 *
 * Code modelled (src/arena.c): arena_try_pop, arena_give_pool,
 * arena_wholly_free, arena_decommit, decommit_held, arena_purge, the
 * per-arena part of purge_if_due, and the first publication of a slot
 * (arena_new_pool) as an initial state; run_claim_slot, run_unclaim_slot,
 * run_drop_committed, run_prepare and arena_give_run_at for one arena of a
 * run (arena_take_run's and arena_grow_run's claims and rollbacks; huge.c's
 * frees, shrinks and cache evictions give runs back). Every step tagged A<n>
 * (with HIT(n)) is listed with its code line in tests/model/MAPPING.md,
 * which check_mapping.sh verifies.
 *
 * The state word packs nfree | head | virgin | CLAIMED | DECOMMITTED | KEPT
 * | HUGE | generation into one int that every writer changes with a CAS on
 * the whole word (a d_step: compare, then swap or refresh `expected`), but
 * for the holder of a CLAIMED or HUGE word, who ends its hold with a store
 * (a decommit, a recommit, the huge claimer's publication and rollback).
 * The free-pool
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
 *  - the generation does not wrap (the code: 36 bits).
 *  - the huge claimer's commit (arena_commit) writes nothing shared: folded
 *    into its next store of the held word; its header resets (resident
 *    arenas) and the give-back's pool_mark_dirty touch only headers, which
 *    no other process here reads; run_old is a local. The give-back's links
 *    are one step (the holder's stores; a stale taker may read any of
 *    them). Secure mode is a choice at each give-back.
 *  - ghost state: holder[p] (which thread holds pool p; the purger holds the
 *    stack it took, the huge claimer every pool while it holds the arena),
 *    wholder and hold_word (which process holds the word, CLAIMED or HUGE,
 *    and the value it last wrote), hugeheld, and `writable` (the arena's
 *    memory can be written: false from os_release in a decommit to the
 *    commit of a recommit or of a huge claim), for the checks.
 *
 * Checks:
 *  - at every write of the state word: the free-pool stack holds distinct,
 *    carved pools that nobody holds; nfree == stack length + virgin pools
 *    left (every free pool reachable); no virgin pool is held; a CLAIMED
 *    arena has every pool free, or every pool the huge claimer's; a HUGE
 *    word is exactly {HUGE, 0, 0, NPOOLS}, its arena writable and every pool
 *    the huge claimer's; a word is held (CLAIMED or HUGE) exactly while a
 *    process holds it, and while it is held nobody but its holder writes it
 *    (so no taker, giver, purger or decommitter takes a pool from or
 *    changes a HUGE arena); a pool popped was held by nobody (no pool
 *    handed out twice) and its arena is writable; a give never finds KEPT,
 *    DECOMMITTED or CLAIMED set (a pool is out); a claim (CLAIMED or HUGE)
 *    takes a word nobody holds, and every pool from nobody.
 *  - the rollback and the give-back leave a consistent stack (the check
 *    above at their stores); the give-back's CAS is asserted to succeed on
 *    the HUGE word (the code aborts: a double free).
 *  - at the end: every pool held by exactly one thread or free in the arena,
 *    no decommit half done, g_kept == KEPT0 + (the arena is KEPT ? 1 : 0)
 *    (also after a huge claim of a KEPT arena and its rollback).
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
 *
 * -DBROKEN_HUGE_CLAIM_STORE: negative check, the huge claimer tests the
 *  word it loaded (wholly free, not CLAIMED), then stores HUGE (or CLAIMED)
 *  with no CAS: spin must find a pool handed out twice (a taker popped a
 *  pool in between) or a word taken from its holder (a decommitter's).
 *
 * -DBROKEN_HUGE_GIVE_VIRGIN: negative check, a HUGE arena is given back
 *  {NPOOLS, head 0, virgin NPOOLS}: every pool free but none on the stack
 *  and none virgin, so takers find nfree > 0 and nothing to pop; spin must
 *  find nfree != stack length + virgin pools left.
 *
 * -DKEPT_BOUND: LTL `kept_bound`, g_kept is never below the number of KEPT
 *  arenas (pan -a). arena_wholly_free counts before it sets KEPT and takers
 *  uncount after they clear it; run_unclaim_slot counts the arena again
 *  (A76) before it stores KEPT back (A75). It once did the reverse, and
 *  spin found g_kept one short between them (MAPPING.md, "g_kept after a
 *  rollback"); -DBROKEN_KEPT_ORDER restores that order and must fail.
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
#ifndef HUGE_OPS
#define HUGE_OPS 0      /* operations of the huge claimer (0: no huge claimer) */
#endif
#define NT 2
#define PURGER 3        /* holder[] value of the purger */
#define HUGER 4         /* holder[] value of the huge claimer */
#define NHUGER (HUGE_OPS > 0)

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

/* the state word: bits 0..2 nfree, 3..5 head (pool + 1), 6..8 virgin,
 * 9 CLAIMED, 10 DECOMMITTED, 11 KEPT, 12 HUGE, 13.. generation */
#define NFREE(s)   ((s) & 7)
#define HEAD(s)    (((s) >> 3) & 7)
#define VIRGIN(s)  (((s) >> 6) & 7)
#define CLAIMED    512
#define DECOMMITTED 1024
#define KEPT       2048
#define HUGE       4096
#define GEN_ONE    8192
#define GEN_MASK   (~8191)
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
byte holder[NPOOLS];         /* 0 nobody, t + 1 thread t, PURGER, HUGER */
bool hugeheld;               /* every pool is the huge claimer's (it claimed the arena) */
byte wholder;                /* who holds the word (CLAIMED or HUGE): _pid + 1, 0 nobody */
int hold_word;               /* the word the holder last wrote */
byte kept0;
byte ndone;
bool ended;

/* Holding the word: the CAS that set CLAIMED or HUGE gave it to its
 * thread (hold), which alone writes it until it lets go (unhold). */
inline hold()
{
    assert(wholder == 0);                  /* not held by another */
    wholder = _pid + 1;
    hold_word = state
}

inline held_store()                        /* after the holder's store */
{
    assert(wholder == _pid + 1);
    hold_word = state
}

inline unhold()                            /* the holder's store let go */
{
    assert(wholder == _pid + 1);
    wholder = 0;
    hold_word = 0
}

/* The invariant of the free-pool stack, inside every d_step that writes
 * the state word. While a thread holds the word (CLAIMED or HUGE), it
 * alone writes it: the word is the one the holder last wrote. While the
 * huge claimer holds the arena (ghost hugeheld) every pool is its own
 * (holder HUGER). */
inline check_stack()
{
    assert(wholder == 0 || state == hold_word);
    assert((wholder != 0) == ((state & (CLAIMED | HUGE)) != 0));
    if
    :: (state & HUGE) ->
        /* {HUGE, nfree 0, head 0, virgin NPOOLS}: full to everyone else */
        assert(hugeheld);
        assert((state & ~GEN_MASK) == MK(HUGE, 0, 0, NPOOLS));
        assert(writable);                          /* the block is the program's */
        iv_p = 0;
        do
        :: iv_p < NPOOLS -> assert(holder[iv_p] == HUGER); iv_p++
        :: else -> break
        od
    :: else ->
        if
        :: (state & CLAIMED) == 0 ->
            assert(!hugeheld);
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
            /* every free pool reachable: on the stack or virgin */
            assert(NFREE(state) == iv_n + NPOOLS - VIRGIN(state));
            iv_p = VIRGIN(state);
            do
            :: iv_p < NPOOLS -> assert(holder[iv_p] == 0); iv_p++
            :: else -> break
            od
        :: else ->
            /* CLAIMED for a decommit or a recommit (every pool free), or by
             * the huge claimer (every pool its own) */
            iv_p = 0;
            do
            :: iv_p < NPOOLS -> assert(holder[iv_p] == (hugeheld -> HUGER : 0)); iv_p++
            :: else -> break
            od
        fi
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
            :: state == s -> state = (s + GINC) | CLAIMED; ok = true; hold(); check_stack()
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
                    unhold();
                    assert(holder[0] == 0);
                    holder[0] = t + 1;
                    check_stack()
                }
                got = 1
            :: d_step { HIT(9);                                          /* A9 */
                    state = MK(((s & GEN_MASK) + 2 * GINC) | DECOMMITTED, NPOOLS, 0, 0);
                    unhold();
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
            :: state == s -> state = (s + GINC) | CLAIMED; ok = true; hold(); check_stack()
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
            unhold();
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
    :: d_step { (s & (CLAIMED | DECOMMITTED | KEPT | HUGE)) != 0 -> HIT(51) }; ok = false; break  /* A51 */
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

/* The huge claimer's hold on every pool: taken at its claim (none may be
 * held by anyone: no pool handed out twice), given up at its rollback or
 * give-back. */
inline hold_all()
{
    iv_p = 0;
    do
    :: iv_p < NPOOLS -> assert(holder[iv_p] == 0); holder[iv_p] = HUGER; iv_p++
    :: else -> break
    od;
    iv_p = 0;
    hugeheld = true
}

inline release_all()
{
    iv_p = 0;
    do
    :: iv_p < NPOOLS -> assert(holder[iv_p] == HUGER); holder[iv_p] = 0; iv_p++
    :: else -> break
    od;
    iv_p = 0;
    hugeheld = false
}

/* run_unclaim_slot, first: a KEPT arena is counted again before its word
 * says KEPT again (as arena_wholly_free counts before its CAS). */
inline kept_back()
{
#ifndef BROKEN_KEPT_ORDER
    if
    :: (run_old & KEPT) -> g_kept++; HIT(76)                             /* A76 */
    :: else -> skip
    fi
#else
    skip
#endif
}

/* run_unclaim_slot: the holder's store of the word it claimed the arena
 * from (its flags: KEPT, DECOMMITTED; the generation + 1). Its load of the
 * word just before is folded in: only the holder changes it. */
inline unclaim()
{
    release_all();
    state = (((state & GEN_MASK) + GINC) | (run_old & ~GEN_MASK));
    unhold();
    check_stack()
}

/* -DBROKEN_KEPT_ORDER: the old order, KEPT stored back, then counted. */
inline kept_back_late()
{
#ifdef BROKEN_KEPT_ORDER
    if
    :: (run_old & KEPT) -> g_kept++
    :: else -> skip
    fi
#else
    skip
#endif
}

/* A huge block's run of k >= 1 arenas, of which this arena is one (the
 * others are not modelled: their claims and commits only decide, by a
 * choice here, whether the claim is rolled back). HUGE_OPS operations:
 * claim the arena if it does not hold it (arena_take_run's or
 * arena_grow_run's run_claim_slot, then run_prepare), or give it back if it
 * does (arena_give_run_at: a huge free through the cache, a shrink's tail,
 * a failed grow). */
proctype huger()
{
    int s, run_old;
    byte k, ops = HUGE_OPS;
    byte iv_x, iv_n, iv_p, iv_seen;
    bool ok;

    do
    :: ops > 0 ->
        ops--;
        if
        :: !hugeheld ->
            /* run_claim_slot, from arena_take_run's or arena_grow_run's
             * claim loop */
            d_step { s = state; HIT(70) }                                /* A70 */
            do
            :: d_step { NFREE(s) != NPOOLS || (s & CLAIMED) -> HIT(71); ok = false }; break  /* A71 */
            :: else ->
#ifdef BROKEN_HUGE_CLAIM_STORE
                /* negative check: the test above, then a plain store */
                d_step { HIT(72); HIT(73);                               /* A72 */ /* A73 */
                    state = ((s & DECOMMITTED) -> ((s + GINC) | CLAIMED) : MK(((s & GEN_MASK) + GINC) | HUGE, 0, 0, NPOOLS));
                    ok = true;
                    hold();
                    hold_all();
                    check_stack()
                }
                break
#else
                d_step { HIT(72);                                        /* A72 */
                    if
                    :: state == s ->
                        /* resident: HUGE at once; decommitted: CLAIMED
                         * (its flags kept) until it is committed */
                        if
                        :: (s & DECOMMITTED) -> state = (s + GINC) | CLAIMED; HIT(73)  /* A73 */
                        :: else -> state = MK(((s & GEN_MASK) + GINC) | HUGE, 0, 0, NPOOLS)
                        fi;
                        ok = true;
                        hold();
                        hold_all();
                        check_stack()
                    :: else -> s = state; ok = false
                    fi
                }
                if
                :: ok -> break
                :: else -> skip
                fi
#endif
            od;
            if
            :: ok ->
                run_old = s;
                if
                :: (s & KEPT) -> d_step { g_kept--; HIT(74) }            /* A74 */
                :: else -> skip
                fi;
                if
                :: /* arena_take_run: the claim of a later arena of the
                    * run failed; the claimed ones go back */
                    d_step { HIT(77); kept_back() }                      /* A77 */
                    d_step { HIT(75); unclaim() }                        /* A75 */
                    d_step { kept_back_late() }
                :: /* arena_grow_run: the claim of a later arena after
                    * the run failed */
                    d_step { HIT(79); kept_back() }                      /* A79 */
                    d_step { HIT(75); unclaim() }                        /* A75 */
                    d_step { kept_back_late() }
                :: /* run_prepare: a commit failed (this arena's, or
                    * another's of the run) before this arena's commit */
                    d_step { HIT(78); kept_back() }                      /* A78 */
                    d_step { HIT(75); unclaim() }                        /* A75 */
                    d_step { kept_back_late() }
                :: (s & DECOMMITTED) ->
                    /* run_prepare: arena_commit succeeded (`writable`,
                     * folded: the arena is held CLAIMED), then */
                    if
                    :: d_step { HIT(80); HIT(81);                        /* A80 */ /* A81 */
                            writable = true;
                            state = MK(((s & GEN_MASK) + 2 * GINC) | HUGE, 0, 0, NPOOLS);
                            held_store();
                            check_stack()
                        }
                    :: /* a later arena's commit failed: this one goes
                        * back wholly free, resident and virgin */
                        d_step { HIT(80); HIT(82); HIT(83);              /* A80 */ /* A82 */ /* A83 */
                            writable = true;
                            release_all();
                            state = MK((state & GEN_MASK) + GINC, NPOOLS, 0, 0);
                            unhold();
                            check_stack()
                        }
                    fi
                :: !(s & DECOMMITTED) -> skip
                fi;
                d_step {
                    if
                    :: hugeheld && (state & HUGE) && !(run_old & DECOMMITTED) ->
                        /* resident: run_prepare resets the used pools'
                         * headers (the holder's); the run is handed out */
                        HIT(84)                                          /* A84 */
                    :: else -> skip
                    fi;
                    s = 0; run_old = 0; ok = false
                }
            :: else -> skip
            fi
        :: !hugeheld ->
            /* run_release_resident: this thread holds another run that
             * will fault arenas in, and gives this one back if it is
             * resident and wholly free (arena_decommit's own test and CAS
             * decide; its first test is a relaxed hint) */
            d_step { s = state; HIT(91) }                                /* A91 */
            if
            :: d_step { NFREE(s) == NPOOLS && (s & (KEPT | CLAIMED | DECOMMITTED)) == 0 -> HIT(92) }; decommit()  /* A92 */
            :: else -> skip
            fi;
            s = 0
        :: hugeheld ->
            /* arena_give_run_at (huge_free through the cache, a shrink's
             * tail, a failed grow, secure mode's failed commit); its load
             * of the word is folded into the CAS: only the holder changes
             * it */
            if
            :: /* every pool on the free-pool stack in address order (the
                * holder's stores: a stale taker may read them; its CAS
                * then fails on the generation) */
                d_step { HIT(90);                                            /* A90 */
                    iv_p = 0;
                    do
                    :: iv_p + 1 < NPOOLS -> next[iv_p] = iv_p + 2; iv_p++
                    :: else -> next[iv_p] = 0; break
                    od;
                    iv_p = 0
                }
                d_step { s = state; HIT(85); HIT(86); HIT(88);            /* A85 */ /* A86 */ /* A88 */
                    /* the holder's word: nobody else changed it (else the
                     * code aborts: a double free) */
                    assert((s & ~GEN_MASK) == MK(HUGE, 0, 0, NPOOLS) && state == s);
                    release_all();
#ifdef BROKEN_HUGE_GIVE_VIRGIN
                    /* negative check: given back all virgin with no stack:
                     * nfree NPOOLS, head 0, virgin NPOOLS */
                    state = MK((s & GEN_MASK) + GINC, NPOOLS, 0, NPOOLS);
#else
                    state = MK((s & GEN_MASK) + GINC, NPOOLS, 1, NPOOLS);
#endif
                    unhold();
                    check_stack()
                }
                /* dirty, bucket_set: hints; then arena_wholly_free */
                wholly_free()
            :: /* secure mode: held CLAIMED, then decommit_held */
                d_step { s = state; HIT(85); HIT(86); HIT(87);           /* A85 */ /* A86 */ /* A87 */
                    assert((s & ~GEN_MASK) == MK(HUGE, 0, 0, NPOOLS) && state == s);
                    release_all();
                    state = MK(((s & GEN_MASK) + GINC) | CLAIMED, NPOOLS, 0, 0);
                    held_store();
                    check_stack();
                    s = state & ~CLAIMED        /* (as if from a wholly free word) */
                }
                d_step { HIT(33);                                        /* A33 */
                    writable = false;
                    state = MK(((s & GEN_MASK) + 2 * GINC) | DECOMMITTED, NPOOLS, 0, 0);
                    unhold();
                    check_stack()
                }
            fi;
            s = 0
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
        run purger();
        if
        :: NHUGER -> run huger()
        :: else -> skip
        fi
    }
    (ndone == NT + 1 + NHUGER);
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
#ifdef KEPT_BOUND
ltl kept_bound { [] (g_kept >= kept0 + ((state & KEPT) != 0)) }
#endif
