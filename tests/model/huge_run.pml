/*
 * huge_run.pml: model 6. Runs of whole arenas for huge blocks (src/arena.c,
 * "runs of whole arenas"; src/huge.c). A huge taker claims k adjacent
 * wholly free arenas left to right, each by one CAS of its state word (a
 * resident one straight to HUGE, a decommitted one to CLAIMED until it is
 * committed and HUGE is stored), and gives the claimed ones back (the
 * holder's store of the word it took each from) when a claim fails, then
 * searches again; when the search finds no run, or after its rounds, it
 * takes k fresh slots at the frontier with one CAS of g_slots_used
 * (n -> n + k), commits them and stores HUGE. A run is given back arena by
 * arena with a CAS from the HUGE word (secure mode: to CLAIMED, then
 * decommit_held). A run grows in place (arena_grow_run: the arenas after it
 * claimed the same way, with rollback, then fresh slots by one CAS of
 * g_slots_used from exactly the run's new end) or shrinks (its tail given
 * back). Fresh slots whose commit fails go back to the frontier when no
 * claim came after them (frontier_return), else become UNUSABLE. Against them: a pool taker/giver on wholly free arenas
 * (arena_try_pop, arena_recommit, arena_give_pool) that also takes new
 * arenas (arena_new_pool's fetch_add on g_slots_used, which may overshoot,
 * or claim_failed_slot's CAS on an UNUSABLE slot), and a decommitter
 * (arena_decommit, from the purge pass).
 *
 * Code modelled: src/arena.c arena_take_run_aligned, run_find (abstracted),
 * run_claim_slot, run_unclaim_slot, run_drop_committed, run_prepare,
 * run_fresh, frontier_return, arena_grow_run, arena_give_run_at (with decommit_held in
 * secure mode), arena_try_pop on a wholly free arena with arena_recommit,
 * arena_give_pool making an arena wholly free, arena_new_pool with
 * claim_failed_slot, purge_if_due's arena_decommit; src/huge.c huge_free
 * and huge_resize_in_place's shrink, as calls. Every step tagged H<n> (with
 * HIT(n)) is listed with its code line in tests/model/MAPPING.md, which
 * check_mapping.sh verifies.
 *
 * Slots: NS = g_max_arenas slots, the first USED0 = 3 published at the
 * start (g_slots_used = 3): slot 0 wholly free and resident, slot 1 wholly
 * free and decommitted, slot 2 with a pool out (P's). Each slot's state
 * word is abstracted to what decides the protocol:
 *   FRESH     never published, the word is 0 (nfree 0: everyone skips it)
 *   FREE      wholly free, resident (nfree NPOOLS, not CLAIMED)
 *   DEC       wholly free, DECOMMITTED (not writable)
 *   POOLS     P holds a pool of it (nfree < NPOOLS)
 *   CLAIMEDW  CLAIMED, every pool free (a decommit, a recommit, a claim of
 *             a decommitted arena for a run, a secure give-back)
 *   HUGEW     HUGE: part of a huge block's run
 *   UNUSABLE  CLAIMED | DECOMMITTED with nfree 0: its commit failed
 * A CAS compares this abstract word. The generation is left out (model 2
 * checks the ABA it prevents): every CAS here sits in a loop that reloads
 * and retries while the word still allows its change, or is a holder's
 * CAS that nobody else can race, so a CAS that the generation would fail
 * on an equal abstract word succeeds on the retry with the same effect.
 * KEPT and g_kept are model 2's (a flag that only decides the decommitter's
 * skip, and a counter); so is the free-pool stack inside an arena.
 *
 * Processes:
 *  T0, T1 (taker(t, k, ops)): huge takers of runs of K0 = 2 and K1 = 1
 *     arenas; OPS0/OPS1 operations, each a huge_malloc (arena_take_run)
 *     while the taker holds no run, else a huge_free of its run, or, with
 *     -DGROW=n, a grow to kk + n arenas or (kk > 1) a shrink by one.
 *     arena_take_run: ROUNDS (2; the code: up to 64) rounds of run_find,
 *     a claim of each arena left to right (run_claim_slot: load; if wholly
 *     free and not CLAIMED, CAS, retried on failure; else stop), and on a
 *     failed claim a rollback of the claimed ones (run_unclaim_slot); then
 *     run_prepare (commit the decommitted ones; on a failed commit every
 *     arena goes back, the committed ones resident and virgin, and the call
 *     fails with ENOMEM; else HUGE stored in the committed ones); with no
 *     run found, or the rounds used up, run_fresh: load g_slots_used, CAS
 *     it n0 -> n0 + k (ENOMEM when the reservation has fewer than k slots
 *     left), commit each slot (on a failure: the committed ones wholly
 *     free, the rest back to the frontier by frontier_return's CAS of
 *     g_slots_used from exactly n0 + k, or, if a claim came after them,
 *     UNUSABLE; ENOMEM), store HUGE in each. With -DALIGNED (a request
 *     aligned above the arena size, huge_malloc_aligned) the CAS may take a
 *     pad slot first (n0 -> n0 + 1 + k), left wholly free and DECOMMITTED
 *     (pad_release: headers mapped, memory not), or UNUSABLE if the OS
 *     refuses its headers, and the run goes on after it;
 *     run_find's aligned starts are among the starts it already chooses
 *     from.
 *  P (pooler()): POPS operations: give its pool back (arena_give_pool: the
 *     arena is then wholly free), or take a pool from a wholly free arena
 *     (arena_try_pop with want NPOOLS: CAS FREE -> POOLS; a DEC arena is
 *     claimed, committed and published with its pool taken, or DEC again
 *     if the commit fails), or, finding none, from a new arena
 *     (arena_new_pool: claim_failed_slot's CAS on an UNUSABLE slot, or the
 *     fetch_add on g_slots_used; commit, publish, or UNUSABLE).
 *  D (decommitter()): DOPS decommits of any slot (purge_if_due's
 *     arena_decommit, or arena_wholly_free's with a purge delay of 0):
 *     load; if FREE, CAS to CLAIMED, release the pages, store DEC.
 * Secure mode (a give-back through CLAIMED and decommit_held) is -DSECURE=0
 * or 1, else chosen at the start.
 *
 * Granularity: one Promela step per atomic operation on a shared word (a
 * slot's state word, g_slots_used). What only a holder touches (run_old,
 * here a local bitmask `decs`; the headers; its commits, one atomic choice
 * of the first that fails; the load of a HUGE word before its give-back's
 * CAS, and the give-back's links) is folded into the neighbouring step.
 * The buckets are hints: run_find's choice is any start of k slots below
 * the g_slots_used it loads, or none (a stale bit may point anywhere, the
 * bits of a run may not be set yet); P and D try any slot (one at or past
 * g_slots_used is FRESH: they skip it). Not modelled: huge.c's cache (a
 * freed run kept whole, still HUGE, in a token word that moves it to its
 * next holder by exchange and CAS: the arena words do not change; here a
 * freed run goes back at once, as the cache gives it back later), the
 * statistics, bucket_clear/bucket_set (hints), committed_end_extend, and
 * OBMT_TEST_HOOKS' arena_run_fail_claim.
 *
 * Ghost state: own[i], who holds slot i (0 nobody, t + 1 taker t, PP for P
 * while a pool of it is out or it recommits it, DD for D), taken only from
 * nobody; held[t], the slots taker t believes it holds (claimed in this
 * round, or its run); wr[i], slot i's memory is writable (committed, not
 * released); runfirst[t], runk[t], pslot: the runs and P's slot, for the
 * end check.
 *
 * Checks:
 *  - no slot held by two: every claim (run_claim_slot, the frontier CAS
 *    and the grow's, P's pop and recommit, arena_new_pool's slot,
 *    claim_failed_slot, D's claim) asserts that nobody holds the slot, a
 *    fresh slot also that its word is FRESH; every holder's store asserts
 *    that it holds the slot;
 *  - a run handed out, grown, shrunk or kept after a failed grow: its slots
 *    are contiguous from its first, each HUGE, held by the taker and
 *    writable, and the taker holds nothing else; a pool P takes is
 *    writable; a committed arena given back resident is writable;
 *  - after a rollback (a failed claim, a failed commit, a failed fresh
 *    commit, a failed grow), every slot a taker holds is one it believes
 *    it holds (none is left claimed by no one);
 *  - at the end: every published slot is below g_slots_used, and every
 *    slot is free (FREE, DEC, UNUSABLE, or FRESH past g_slots_used) and held by nobody, or held by exactly one: P's POOLS
 *    slot, or a slot of a taker's live run (HUGE); nothing is CLAIMED.
 *  - -DTERM: LTL `term`, <> ended: every run ends (pan -a).
 *  - -DCOVER: pan prints "COVERED: n n ..." at exit, the tags executed.
 *
 * Negative variants, each must fail:
 *  -DBROKEN_NO_ROLLBACK      the claimed arenas are not given back when a
 *                            claim fails: they stay HUGE/CLAIMED, held by a
 *                            taker that no longer knows it holds them;
 *  -DBROKEN_FRONTIER_STORE   run_fresh loads g_slots_used and stores n0 + k
 *                            (no CAS): two runs, or a run and a slot handed
 *                            out since, overlap;
 *  -DBROKEN_FRONTIER_RETURN  frontier_return stores g_slots_used back (no
 *                            CAS): a slot claimed since falls past the
 *                            frontier, and is handed out again;
 *  -DBROKEN_CLAIM_LOAD_STORE run_claim_slot tests the word it loaded, then
 *                            stores HUGE/CLAIMED (no CAS): a slot held by
 *                            two.
 */

#ifndef NS
#define NS 5            /* g_max_arenas: slots in the reservation */
#endif
#define USED0 3         /* g_slots_used at the start */
#ifndef K0
#define K0 2            /* arenas in T0's runs */
#endif
#ifndef K1
#define K1 1            /* arenas in T1's runs */
#endif
#ifndef OPS0
#define OPS0 2          /* T0's operations (take, free, ...) */
#endif
#ifndef OPS1
#define OPS1 2
#endif
#ifndef POPS
#define POPS 1          /* P's operations */
#endif
#ifndef DOPS
#define DOPS 1          /* D's decommits */
#endif
#ifndef ROUNDS
#define ROUNDS 2        /* arena_take_run's rounds (the code: 64) */
#endif
/* -DGROW=n: a taker with a run may also grow it by n arenas (realloc in
 * place: arena_grow_run), or give its last arena back (a shrink) */

/* v = any slot (NS <= 7); a `select` would put its loop's exit in front
 * of the d_step that follows, which spin refuses */
#define PICK(v) if :: v = 0 :: v = 1 :: v = 2 :: NS > 3 -> v = 3 :: NS > 4 -> v = 4 \
                   :: NS > 5 -> v = 5 :: NS > 6 -> v = 6 fi

#ifdef BROKEN_NO_ROLLBACK
#define ROLLBACK 0
#else
#define ROLLBACK 1
#endif

#define PP 3            /* own[] value of P */
#define DD 4            /* own[] value of D */
#define NONE 255

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

/* the abstract state word */
#define FRESH    0
#define FREE     1
#define DEC      2
#define POOLS    3
#define CLAIMEDW 4
#define HUGEW    5
#define UNUSABLE 6

byte word[NS];               /* g_arenas[i].state */
byte g_slots_used = USED0;   /* may overshoot NS (arena_new_pool's fetch_add) */
bool secure;                 /* OBMT_SECURE */

/* ghosts */
byte own[NS];                /* 0 nobody, t + 1 taker t, PP, DD */
bool wr[NS];                 /* writable: committed and not released */
byte held[2];                /* bit i: taker t believes it holds slot i */
byte runfirst[2], runk[2];   /* taker t's run (runk 0: none), for the end check */
byte pslot = NONE;           /* P's pool's slot, for the end check */
byte ndone;
bool ended;

/* `who` takes slot sl from nobody */
inline acquire(a_sl, a_who)
{
    assert(own[a_sl] == 0);                /* no slot held by two */
    own[a_sl] = a_who
}

/* the holder of slot sl lets go */
inline release(r_sl, r_who)
{
    assert(own[r_sl] == r_who);
    own[r_sl] = 0
}

/* after a rollback: every slot a taker holds is one it believes it holds
 * (none is left claimed by nobody) */
inline check_live()
{
    c = 0;
    do
    :: c < NS ->
        if
        :: own[c] == 1 -> assert(held[0] & (1 << c))
        :: own[c] == 2 -> assert(held[1] & (1 << c))
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

/* the run [first, first + k) is handed out to taker t: contiguous, each
 * slot HUGE, held by t, writable; t holds nothing else */
inline check_run(cr_t, cr_first, cr_k)
{
    c = cr_first;
    do
    :: c < cr_first + cr_k ->
        assert(word[c] == HUGEW && own[c] == cr_t + 1 && wr[c]);
        c++
    :: else -> break
    od;
    assert(held[cr_t] == ((1 << (cr_first + cr_k)) - (1 << cr_first)));
    runfirst[cr_t] = cr_first;
    runk[cr_t] = cr_k;
    c = 0
}

/* run_unclaim_slot(sl): the holder's store of the word it claimed sl from,
 * FREE or DEC (run_old: here the taker's bitmask `decs`; its load of the
 * word before the store folded in: only the holder changes it) */
inline unclaim(u_sl, u_t, u_dec)
{
    assert(word[u_sl] == HUGEW || word[u_sl] == CLAIMEDW);
    release(u_sl, u_t + 1);
    held[u_t] = held[u_t] & ~(1 << u_sl);
    word[u_sl] = (u_dec -> DEC : FREE)
}

/* run_drop_committed(sl): a committed held arena goes back wholly free,
 * resident and virgin */
inline drop_committed(d_sl, d_t)
{
    assert(wr[d_sl]);
    release(d_sl, d_t + 1);
    held[d_t] = held[d_t] & ~(1 << d_sl);
    word[d_sl] = FREE
}

/* frontier_return(from, end) for taker t: the fresh slots [from, end) whose
 * commits failed go back to the frontier by one CAS of g_slots_used from
 * exactly end (their words still FRESH: nobody else saw them published),
 * else each becomes UNUSABLE. fr_x: the loop variable, from on entry. */
inline frontier_return(fr_from, fr_end, fr_x)
{
    d_step { HIT(29);                                                               /* H29 */
#ifdef BROKEN_FRONTIER_RETURN
        /* negative check: a plain store, whoever claimed since */
        if
        :: true ->
#else
        if
        :: g_slots_used == fr_end ->
#endif
            g_slots_used = fr_from;
            do
            :: fr_x < fr_end ->
                assert(word[fr_x] == FRESH);
                release(fr_x, t + 1);
                held[t] = held[t] & ~(1 << fr_x);
                fr_x++
            :: else -> break
            od
        :: else -> skip
        fi
    }
    do
    :: fr_x < fr_end ->
        d_step { HIT(21);                                                           /* H21 */
            release(fr_x, t + 1);
            held[t] = held[t] & ~(1 << fr_x);
            word[fr_x] = UNUSABLE;
            fr_x++
        }
    :: else -> break
    od;
    fr_x = 0   /* (a break may not jump into the caller's next d_step) */
}

/* run_claim_slot(base + j), the j-th arena of a claim, for taker t: ok
 * and j + 1 if claimed (bit j of decs: it was DEC), else !ok. */
inline claim_slot(cs_base)
{
    d_step { i = cs_base + j; s = word[i]; HIT(3) }                                 /* H3 */
    do
    :: s == NONE -> s = 0; break      /* claimed */
    :: d_step { s != FREE && s != DEC && s != NONE -> HIT(4); ok = false; s = 0 }; break  /* H4 */
    :: s == FREE || s == DEC ->
#ifdef BROKEN_CLAIM_LOAD_STORE
        /* negative check: the test of the word loaded, then a plain store */
        d_step { HIT(5);                                                            /* H5 */
            word[i] = (s == DEC -> CLAIMEDW : HUGEW);
            acquire(i, t + 1);
            held[t] = held[t] | (1 << i);
            decs = decs | ((s == DEC) << j);
            j++;
            s = NONE
        }
#else
        d_step { HIT(5);                                                            /* H5 */
            if
            :: word[i] == s ->
                /* resident: HUGE at once; decommitted: CLAIMED */
                word[i] = (s == DEC -> CLAIMEDW : HUGEW);
                acquire(i, t + 1);
                held[t] = held[t] | (1 << i);
                decs = decs | ((s == DEC) << j);
                j++;
                s = NONE
            :: else -> s = word[i]
            fi
        }
#endif
    od;
    i = 0
}

/* run_prepare(pf, pk) for taker t, its claims' decs: commit the DEC ones
 * (the holder's: one atomic choice of the first commit that fails, f, or
 * none), then on a failure give everything back (the committed ones FREE,
 * the others as they were), else store HUGE in the committed ones. */
inline prepare(pf, pk)
{
    atomic {
        f = NONE; j = 0;
        do
        :: j < pk && !((decs >> j) & 1) -> j++
        :: j < pk && ((decs >> j) & 1) ->
            if
            :: wr[pf + j] = true; HIT(14); j++                                      /* H14 */
            :: f = j; HIT(10); break                                                /* H10 */
            fi
        :: else -> break
        od;
        j = 0
    }
    if
    :: f != NONE ->
        do
        :: j < pk && j < f && ((decs >> j) & 1) ->
            d_step { HIT(11); HIT(12); drop_committed(pf + j, t); j++ }             /* H11 */ /* H12 */
        :: j < pk && !(j < f && ((decs >> j) & 1)) ->
            d_step { HIT(13); HIT(7); unclaim(pf + j, t, (decs >> j) & 1); j++ }    /* H13 */ /* H7 */
        :: else ->
            d_step { check_live(); j = 0; decs = 0 };
            break
        od
    :: else ->
        /* the resident ones' used headers are reset (the holder's) */
        do
        :: j < pk && ((decs >> j) & 1) ->
            d_step { HIT(15);                                                       /* H15 */
                assert(own[pf + j] == t + 1 && word[pf + j] == CLAIMEDW);
                word[pf + j] = HUGEW;
                j++
            }
        :: j < pk && !((decs >> j) & 1) -> j++
        :: else -> atomic { j = 0; decs = 0 }; break
        od
    fi
}

/* arena_give_run_at(gf, gk): each arena by a CAS from the HUGE word (the
 * load before it folded: only the holder changes it; a failed CAS aborts
 * the process, a double free) to FREE (every pool on its free stack),
 * or in secure mode to CLAIMED, then decommit_held. */
inline give(gf, gk)
{
    g = 0;
    do
    :: g < gk && !sec ->
        d_step { HIT(23); HIT(26);                                                  /* H23 */ /* H26 */
            assert(word[gf + g] == HUGEW);
            release(gf + g, t + 1);
            held[t] = held[t] & ~(1 << (gf + g));
            word[gf + g] = FREE;
            /* arena_wholly_free: kept, or decommitted (D) */
            g++
        }
    :: g < gk && sec ->
        d_step { HIT(23); HIT(24);                                                  /* H23 */ /* H24 */
            assert(word[gf + g] == HUGEW && own[gf + g] == t + 1);
            word[gf + g] = CLAIMEDW
        }
        d_step { HIT(25);                                                           /* H25 */
            /* decommit_held: os_release, then DECOMMITTED */
            release(gf + g, t + 1);
            held[t] = held[t] & ~(1 << (gf + g));
            wr[gf + g] = false;
            word[gf + g] = DEC;
            g++
        }
    :: else -> g = 0; break
    od
}

/* Taker t: huge_malloc (arena_take_run(k)) while it has no run; while it
 * has one, huge_free (the run given back), or with -DGROW a realloc in
 * place: arena_grow_run to kk + GROW arenas, or the tail given back. */
proctype taker(byte t; byte k; byte ops)
{
    byte first, rf, kk, j, i, g, s, n0, round, decs, f, c, m, pad;
    bool ok, have, sec;

    sec = secure;
    do
    :: ops > 0 && !have ->
        ops--;
        /* arena_take_run: rounds of search and claim (the code: up to 64) */
        round = 0;
        ok = false;
        do
        :: round < ROUNDS ->
            round++;
            atomic {
                /* run_find: slots_used(), then the bucket's bits (hints):
                 * any start of k slots below it, or none */
                n0 = (g_slots_used < NS -> g_slots_used : NS); HIT(1);           /* H1 */
                first = 0;
                do
                :: first + k < n0 -> first++
                :: break
                od;
                if
                :: first + k > n0 -> first = NONE
                :: first + k <= n0
                :: first + k <= n0 -> first = NONE
                fi;
                n0 = 0
            }
            if
            :: atomic { first == NONE -> HIT(2) }; break                            /* H2 */
            :: else
            fi;
            /* claim left to right */
            j = 0; decs = 0; ok = true;
            do
            :: j < k && ok -> claim_slot(first)
            :: else -> break
            od;
            if
            :: ok -> break                        /* all k claimed */
            :: else ->
                /* a claim failed (its arena re-filed: a hint): the claimed
                 * ones go back, then the next round */
                do
                :: ROLLBACK && j > 0 ->
                    d_step { j--; HIT(6); HIT(7); unclaim(first + j, t, (decs >> j) & 1) }  /* H6 */ /* H7 */
                :: else ->
                    d_step { HIT(8); held[t] = 0; check_live(); j = 0; decs = 0; first = NONE }  /* H8 */
                    break
                od
            fi
        :: else -> break
        od;
        if
        :: ok ->
            prepare(first, k);
            if
            :: f != NONE -> d_step { assert(held[t] == 0) }   /* ENOMEM: prepare gave them back */
            :: else -> d_step { HIT(9); check_run(t, first, k); have = true; rf = first; kk = k }  /* H9 */
            fi
        :: else ->
            /* run_fresh(k); with -DALIGNED, a request aligned above the
             * arena size: pad slots (here 0 or 1, a choice: whether the
             * frontier is aligned) skipped to an aligned one */
            d_step { n0 = g_slots_used; HIT(16) }                                    /* H16 */
#ifdef ALIGNED
            if
            :: pad = 0
            :: pad = 1
            fi;
#else
            pad = 0;
#endif
            do
            :: d_step { n0 >= NS || k + pad > NS - n0 -> HIT(17); ok = false }; break     /* H17 */
            :: else ->
#ifdef BROKEN_FRONTIER_STORE
                /* negative check: the load above, then a plain store */
                d_step { HIT(18);                                                    /* H18 */
                    g_slots_used = n0 + k;
                    i = n0;
                    do
                    :: i < n0 + k -> acquire(i, t + 1); assert(word[i] == FRESH); held[t] = held[t] | (1 << i); i++
                    :: else -> break
                    od;
                    i = 0;
                    ok = true
                }
                break
#else
                d_step { HIT(18);                                                    /* H18 */
                    if
                    :: g_slots_used == n0 ->
                        g_slots_used = n0 + pad + k;
                        i = n0;
                        do
                        :: i < n0 + pad + k -> acquire(i, t + 1); assert(word[i] == FRESH); held[t] = held[t] | (1 << i); i++
                        :: else -> break
                        od;
                        i = 0;
                        ok = true
                    :: else -> n0 = g_slots_used
                    fi
                }
                if
                :: ok -> break
                :: else -> skip
                fi
#endif
            od;
            if
            :: ok && pad ->
                /* pad_release: the pad slot's headers mapped (its memory
                 * is not: not writable), then published wholly free and
                 * DECOMMITTED; or, the OS refusing its headers, UNUSABLE
                 * (arena_new_pool tries it again). Either way the run
                 * goes on after it. */
                d_step { HIT(73) };                                                  /* H73 */
                if
                :: d_step { HIT(74); assert(!wr[n0] && word[n0] == FRESH); release(n0, t + 1); held[t] = held[t] & ~(1 << n0); word[n0] = DEC; n0++ }  /* H74 */
                :: d_step { HIT(75); assert(!wr[n0] && word[n0] == FRESH); release(n0, t + 1); held[t] = held[t] & ~(1 << n0); word[n0] = UNUSABLE; n0++ }  /* H75 */
                fi
            :: else -> skip
            fi;
            if
            :: ok ->
                /* commit each slot (the holder's: f, the first that
                 * fails, or none) */
                atomic {
                    f = NONE; j = 0;
                    do
                    :: j < k ->
                        if
                        :: wr[n0 + j] = true; HIT(19); j++                           /* H19 */
                        :: f = j; break
                        fi
                    :: else -> break
                    od;
                    j = 0
                }
                if
                :: f != NONE ->
                    /* out of memory: the committed ones become wholly free
                     * arenas, the rest back to the frontier (or UNUSABLE);
                     * ENOMEM */
                    do
                    :: j < f ->
                        d_step { HIT(20); HIT(12); drop_committed(n0 + j, t); j++ }  /* H20 */ /* H12 */
                    :: else -> break
                    od;
                    j = n0 + f;
                    frontier_return(n0 + f, n0 + k, j);
                    d_step { assert(held[t] == 0); check_live(); j = 0 }
                :: else ->
                    do
                    :: j < k ->
                        d_step { HIT(22);                                            /* H22 */
                            assert(own[n0 + j] == t + 1 && word[n0 + j] == FRESH);
                            word[n0 + j] = HUGEW;
                            j++
                        }
                    :: else ->
                        d_step { HIT(28); check_run(t, n0, k); have = true; rf = n0; kk = k }  /* H28 */
                        break
                    od
                fi
            :: else -> skip
            fi
        fi;
        atomic { first = 0; j = 0; i = 0; s = 0; n0 = 0; round = 0; decs = 0; f = 0; ok = false; pad = 0 }
    :: ops > 0 && have ->
        ops--;
        /* huge_free: the run goes back (through the cache, or not) */
        d_step { HIT(27) }                                                           /* H27 */
        give(rf, kk);
        atomic { runk[t] = 0; runfirst[t] = 0; have = false; rf = 0; kk = 0 }
#ifdef GROW
    :: ops > 0 && have && kk > 1 ->
        ops--;
        /* huge_resize_in_place to kk - 1 arenas: the tail goes back */
        d_step { HIT(72) }                                                           /* H72 */
        give(rf + kk - 1, 1);
        atomic { kk--; check_run(t, rf, kk) }
    :: ops > 0 && have ->
        ops--;
        /* arena_grow_run(rf, kk, kk + GROW) */
        d_step { n0 = (g_slots_used < NS -> g_slots_used : NS); HIT(60) }            /* H60 */
        if
        :: d_step { rf + kk + GROW > NS -> HIT(61); ok = false }                     /* H61 */
        :: else ->
            /* the wholly free arenas after the run, left to right */
            j = 0; decs = 0; ok = true;
            do
            :: ok && kk + j < kk + GROW && rf + kk + j < n0 -> HIT(62); claim_slot(rf + kk)  /* H62 */
            :: else -> break
            od;
            if
            :: !ok ->
                do
                :: j > 0 ->
                    d_step { j--; HIT(63); HIT(7); unclaim(rf + kk + j, t, (decs >> j) & 1) }  /* H63 */ /* H7 */
                :: else -> d_step { decs = 0; check_live() }; break
                od
            :: else ->
                m = j;                   /* claimed and, if prepare succeeds, HUGE */
                if
                :: m > 0 ->
                    d_step { HIT(64) };                                              /* H64 */
                    prepare(rf + kk, m);
                    ok = (f == NONE)
                :: else -> skip          /* (run_prepare skipped) */
                fi;
                if
                :: !ok -> d_step { check_live() }   /* run_prepare gave them back */
                :: else ->
                    /* the rest from the frontier, by one CAS from exactly
                     * after the m arenas claimed */
                    i = rf + kk + m;
                    if
                    :: d_step { i == rf + kk + GROW -> HIT(65) }                     /* H65 */
                    :: else ->
                        n0 = i;
                        d_step { HIT(66);                                            /* H66 */
                            if
                            :: g_slots_used == n0 ->
                                g_slots_used = rf + kk + GROW;
                                c = n0;
                                do
                                :: c < rf + kk + GROW -> acquire(c, t + 1); assert(word[c] == FRESH); held[t] = held[t] | (1 << c); c++
                                :: else -> break
                                od;
                                c = 0;
                                ok = true
                            :: else -> ok = false
                            fi
                        }
                        if
                        :: ok ->
                            /* commits while they succeed: i, the first that
                             * fails, or the end */
                            atomic {
                                do
                                :: i < rf + kk + GROW -> wr[i] = true; HIT(67); i++  /* H67 */
                                :: break
                                od
                            }
                            j = n0;
                            do
                            :: j < i ->
                                d_step { HIT(68);                                    /* H68 */
                                    assert(own[j] == t + 1 && word[j] == FRESH);
                                    word[j] = HUGEW;
                                    j++
                                }
                            :: else -> break
                            od;
                            if
                            :: d_step { i == rf + kk + GROW -> HIT(69) }             /* H69 */
                            :: else ->
                                /* out of memory: the rest back to the frontier */
                                d_step { HIT(70) };                                  /* H70 */
                                frontier_return(i, rf + kk + GROW, j);
                                ok = false
                            fi
                        :: else -> skip
                        fi;
                        if
                        :: !ok && i > rf + kk ->
                            /* what it holds after the run goes back */
                            d_step { HIT(71) };                                      /* H71 */
                            give(rf + kk, i - (rf + kk))
                        :: else -> skip
                        fi
                    fi
                fi
            fi
        fi;
        atomic {
            if
            :: ok -> kk = kk + GROW
            :: else -> check_live()
            fi;
            check_run(t, rf, kk);
            j = 0; i = 0; n0 = 0; decs = 0; f = 0; m = 0; ok = false
        }
#endif
    :: else -> break
    od;
    ndone++
}

/* P: gives its pool back, or takes a pool from a wholly free arena or a
 * new one. */
proctype pooler()
{
    byte ops = POPS, i, s, c, mine = 2;
    bool ok;

    do
    :: ops > 0 && mine != NONE ->
        ops--;
        /* arena_give_pool: the arena is wholly free again (its load folded:
         * nobody else changes a word with P's pool out) */
        d_step { HIT(36);                                                            /* H36 */
            assert(word[mine] == POOLS);
            release(mine, PP);
            word[mine] = FREE;
            mine = NONE;
            pslot = NONE
        }
        /* arena_wholly_free: kept, or decommitted (D) */
    :: ops > 0 && mine == NONE ->
        ops--;
        /* arena_take_pool: arena_try_pop(i, want NPOOLS) on a wholly free
         * arena (the buckets are hints: any slot; one at or past
         * g_slots_used is FRESH) */
        atomic { PICK(i); s = word[i]; HIT(30) }                                     /* H30 */
        do
        :: d_step { s != FREE && s != DEC -> HIT(31); s = NONE }; break              /* H31 */
        :: s == DEC ->
            d_step { HIT(32);                                                        /* H32 */
                if
                :: word[i] == s -> word[i] = CLAIMEDW; acquire(i, PP); ok = true
                :: else -> s = word[i]; ok = false
                fi
            }
            if
            :: ok ->
                /* arena_recommit: arena_commit, then publish with the first
                 * pool taken, or DEC again if the commit failed */
                if
                :: d_step { HIT(33); wr[i] = true; word[i] = POOLS; mine = i; pslot = i; s = 0 }  /* H33 */
                :: d_step { HIT(34); release(i, PP); word[i] = DEC; s = 0 }          /* H34 */
                fi;
                break
            :: else -> skip
            fi
        :: s == FREE ->
            d_step { HIT(35);                                                        /* H35 */
                if
                :: word[i] == s ->
                    assert(wr[i]);       /* the taker writes the pool */
                    word[i] = POOLS; acquire(i, PP); mine = i; pslot = i; s = 0; ok = true
                :: else -> s = word[i]; ok = false
                fi
            }
            if
            :: ok -> break
            :: else -> skip
            fi
        od;
        if
        :: s == NONE ->
            /* no pool found: arena_new_pool */
            if
            :: atomic {
                    /* claim_failed_slot: a CAS on an UNUSABLE slot */
                    PICK(c); HIT(41);                                                /* H41 */
                    if
                    :: word[c] == UNUSABLE -> word[c] = CLAIMEDW; acquire(c, PP); i = c
                    :: else -> i = NONE
                    fi;
                    c = 0
                }
            :: d_step { HIT(37);                                                     /* H37 */
                    i = g_slots_used;
                    g_slots_used++;
                    if
                    :: i < NS -> acquire(i, PP); assert(word[i] == FRESH)
                    :: else -> HIT(38); i = NONE                                     /* H38 */
                    fi
                }
            fi;
            if
            :: i != NONE ->
                if
                :: d_step { HIT(39); wr[i] = true; word[i] = POOLS; mine = i; pslot = i }  /* H39 */
                :: d_step { HIT(40); release(i, PP); word[i] = UNUSABLE }            /* H40 */
                fi
            :: else -> skip
            fi
        :: else -> skip
        fi;
        atomic { i = 0; s = 0; ok = false }
    :: else -> break
    od;
    ndone++
}

/* D: arena_decommit of any slot (the purge pass, or arena_trim_free after
 * a huge free). */
proctype decommitter()
{
    byte ops = DOPS, i, s;
    bool ok;

    do
    :: ops > 0 ->
        ops--;
        atomic { PICK(i); s = word[i]; HIT(50); HIT(54) }                            /* H50 */ /* H54 */
        do
        :: d_step { s != FREE -> HIT(51); s = 0; i = 0 }; break                      /* H51 */
        :: else ->
            d_step { HIT(52);                                                        /* H52 */
                if
                :: word[i] == s -> word[i] = CLAIMEDW; acquire(i, DD); ok = true
                :: else -> s = word[i]; ok = false
                fi
            }
            if
            :: ok ->
                /* decommit_held: os_release (not writable), then DECOMMITTED */
                d_step { HIT(25); release(i, DD); wr[i] = false; word[i] = DEC; s = 0; i = 0; ok = false }  /* H25 */
                break
            :: else -> skip
            fi
        od
    :: else -> break
    od;
    ndone++
}

init
{
    byte c, t;

    atomic {
        COVER_INIT;
        word[0] = FREE; wr[0] = true;
        word[1] = DEC;
        word[2] = POOLS; wr[2] = true; own[2] = PP; pslot = 2;
#ifdef SECURE
        secure = SECURE;
#else
        if
        :: secure = false
        :: secure = true
        fi;
#endif
        run taker(0, K0, OPS0);
        run taker(1, K1, OPS1);
        run pooler();
        run decommitter()
    }
    (ndone == 4);
    d_step {
        c = 0;
        do
        :: c < NS ->
            assert(word[c] == FRESH || c < g_slots_used);   /* published: below the frontier */
            if
            :: word[c] == FRESH -> assert(c >= g_slots_used && own[c] == 0)
            :: word[c] == FREE -> assert(own[c] == 0 && wr[c])        /* resident */
            :: word[c] == DEC -> assert(own[c] == 0 && !wr[c])        /* released */
            :: word[c] == UNUSABLE -> assert(own[c] == 0)
            :: word[c] == POOLS -> assert(own[c] == PP && pslot == c && wr[c])
            :: word[c] == HUGEW ->
                assert(own[c] == 1 || own[c] == 2);
                t = own[c] - 1;
                assert(runk[t] != 0 && runfirst[t] <= c && c < runfirst[t] + runk[t]);
                assert(wr[c])
            :: word[c] == CLAIMEDW -> assert(false)    /* nothing is left CLAIMED */
            fi;
            c++
        :: else -> break
        od;
        assert(held[0] == (runk[0] -> ((1 << (runfirst[0] + runk[0])) - (1 << runfirst[0])) : 0));
        assert(held[1] == (runk[1] -> ((1 << (runfirst[1] + runk[1])) - (1 << runfirst[1])) : 0));
        ended = true
    }
}

#ifdef TERM
ltl term { <> ended }
#endif
