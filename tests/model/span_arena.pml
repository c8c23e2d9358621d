/*
 * span_arena.pml: model 9. Medium blocks as spans (runs of pools) in span
 * arenas (src/span.c): the free bitmap F of a span arena, taken by one CAS
 * from the value it compares against and given back by fetch_or, with no
 * generation; the dirty bitmap D; the hint bits of g_span_avail ("may
 * have free pools") and g_span_whole ("may be wholly free") with the
 * clear-and-recheck rule; the purge pass's partial purge (T = F & D taken
 * by one CAS, decommitted, D cleared, given back by fetch_or) and its
 * retirement of a wholly free span arena (CAS F ALL -> 0, then back to
 * arena.c); a maker that makes an arena it took whole from arena.c a span
 * arena (a plain store of F); realloc's growth in place (a CAS taking the
 * pools right after a held span) and shrink (a give of the tail).
 *
 * Code modelled: src/span.c avail_set, avail_clear, whole_set, whole_clear,
 * take_from_arenas,
 * take_at, take_new_arena, give_pools (from give_spans: a free that the
 * heap's span cache does not keep, a put's trim of a full stack, or a
 * cache flush; and from span_resize_in_place's shrink), span_purge, span_resize_in_place's growth, span_to_huge. A span in a heap's
 * cache is held, as a worker's here. Every step tagged
 * M<n> (with HIT(n), or avail_set(n), avail_clear(n), give_pools(n),
 * macros whose argument is the call site) is listed with its code line in
 * tests/model/MAPPING.md, which check_mapping.sh verifies. Tags M1-M10 are
 * the steps that span.c's comments mark M1 .. M10; M11 and up are the
 * other steps (loads, call sites) of the same functions.
 *
 * One arena (slot) of NPOOLS = 3 pools (the code: 64; OBMT_SECURE's
 * SPAN_POOLS, all but the last, is the same protocol on fewer pools), so
 * that spans of 1 and 2 pools interleave. Its words:
 *   F      free bitmap: bit i set = pool i is free and may be taken. Taken
 *          only by CAS(F, x, x & ~r) with r set in x; given back only by
 *          fetch_or of bits the giver holds; stored by the maker (F = ALL &
 *          ~run) only while it holds the arena whole.
 *   D      dirty bitmap: bit i = pool i's pages may be resident. Set by a
 *          giver (fetch_or) before its fetch_or of F; cleared by the purger
 *          for pools it holds; stored by the maker and by the retirement.
 *   avail  the arena's bit of g_span_avail (a hint: "may have free pools").
 *   whole  its bit of g_span_whole (a hint: "may be wholly free", F == ALL).
 *          Set (whole_set: load, fetch_or if clear) by whoever's RMW made F
 *          ALL (a giver, the purge's give-back); cleared (whole_clear:
 *          fetch_and, load F, fetch_or again if F is ALL) by whoever's RMW
 *          took F from ALL (a take, the retirement, a partial purge), and
 *          by a scanner that meets the bit with F not ALL (the takers'
 *          second pass, which goes over avail & whole, and every purge
 *          pass, which visits avail | whole). -DWHOLE=0 leaves it out.
 *   mode   SPAN (a span arena: to arena.c a one-arena huge run) or OTHER
 *          (arena.c's: wholly free there, or used for anything else).
 * Ghosts: holder[i] of each pool: 0 (free in F), worker 1 or 2, PU (the
 * purger), AC (arena.c, while mode is OTHER: the whole arena), and
 * resident[i]: pool i's pages may hold non-zero data.
 *
 * Processes:
 *  W1, W2 (worker(t)): OPS operations each. Holding nothing: a malloc of a
 *     span of k = 1 or 2 pools: take_from_arenas (load the hint bit; if
 *     set, load F; if 0, avail_clear (stale); else, if k fits, load F
 *     again and take any place where k fits by CAS, retried from the value
 *     the CAS returns while k fits; if the CAS emptied F, avail_clear), and
 *     if that found nothing, take_new_arena (a cached huge run's first
 *     arena or arena_take_run: the arena if arena.c, or the huge cache,
 *     holds it whole (AC), else another arena, not modelled, and
 *     the malloc makes no state change here; then D = ALL or 0 (the pages
 *     are zero), F = ALL & ~run by a store, avail_set). With BATCH (the
 *     default) a malloc of 1-pool spans may take two or three of them by
 *     the one CAS, or make the arena with them (a cache miss's batch,
 *     take_at's and take_new_arena's `want`); the worker then holds them
 *     as a thread's cache does, and gives back some of them together (a
 *     put into a full stack: cache_trim, one fetch_or) or all (a flush).
 *     Holding a span: a
 *     free (give_pools: the worker wrote to its pools; fetch_or D, fetch_or
 *     F, avail_set if F was 0), a growth by one pool (span_resize_in_place:
 *     load F, CAS taking the pool after the span while it is free; if that
 *     emptied F, avail_clear), or a shrink of a 2-pool span to 1 (the tail
 *     given back), or its conversion, with any spans of a batch it holds,
 *     into a huge block of the arena (span_to_huge: CAS F from exactly the
 *     bits of the pools it does not hold to 0, avail_clear, D = 0; then the
 *     block's free: the arena to arena.c, OTHER).
 *  P (purger()): PURGES passes of span_purge over the one slot (one pass
 *     at a time in the code: g_purging): load the hint bit; if set, load F;
 *     if ALL, retire (CAS F ALL -> 0, avail_clear, D = 0, arena_give_run_at:
 *     mode OTHER, arena.c holds it); else partial purge (T = F & D, CAS F x
 *     -> x & ~T, retried; if that emptied F, avail_clear; decommit T, which
 *     may fail; fetch_and D ~done; fetch_or F T; avail_set if F was 0).
 *     The purge delay and last_give_ms are hints (when), not modelled:
 *     any pass may handle the slot. After span_purge, arena.c's pass may
 *     decommit the arena while it is OTHER and wholly free there (model
 *     2's protocol; here its effect: the pages go).
 * Avail_set/avail_clear: avail_set loads the bit and sets it by fetch_or
 * if it read it clear; avail_clear clears it (fetch_and), loads F and sets
 * it again (fetch_or) if F is non-zero. Whole_set/whole_clear the same for
 * the whole bit and F == ALL. A worker's scan loads both bits (M14, M51:
 * loads that only choose the arena); with both set it is the code's second
 * pass, which clears a stale whole bit (F read not ALL) before it takes.
 *
 * The start (chosen): the arena is arena.c's (OTHER; resident or not; a
 * stale hint bit or not, of each kind), or a span arena with every pool
 * free (F = ALL, both its bits set) that was never used (D = 0) or whose pools were used and
 * given back (D = ALL, resident).
 *
 * Checks, in every step that writes F, D, mode or a holder:
 *  I1  a pool is free in F exactly when nobody holds it (a take asserts
 *      the pools it takes are nobody's, a give that the giver holds them:
 *      no pool held by two, none handed out twice);
 *  I2  F != 0 only while mode == SPAN;
 *  I5  a free pool whose pages may be resident has its D bit set;
 *  and: a take (M3, M33) finds the arena SPAN; the maker takes the arena
 *  from arena.c only while arena.c holds all of it (nobody holds a pool,
 *  F == 0) and stores F only while it holds it whole; a taker whose pools'
 *  D bits are clear (calloc skips the memset) and a maker with `zero` get
 *  pools that are not resident; the purger decommits only pools it holds;
 *  the retirement holds every pool when it gives the arena back. At the
 *  end (every process done): I1, I2, I5; each worker holds exactly what it
 *  believes it holds, and every other pool is free (or arena.c's, OTHER);
 *  the purger holds nothing; and if F != 0 the hint bit is set (the hint
 *  invariant: once the threads are done, every arena with free pools has
 *  its bit), and if F == ALL the whole bit is set (stale set bits are
 *  allowed: a giver's whole_set that comes after a taker's whole_clear
 *  leaves one; scanners and the purge clear them).
 *
 * Negative variants, each must fail:
 *  -DBROKEN_GROW_CACHED_ALL      the growth into the worker's cached spans
 *                               (grow_from_cache) takes the whole tail as
 *                               its own without the CAS for the part F
 *                               holds: a pool held twice, fails
 *  -DBROKEN_GIVE_STORE          give_pools stores F = (F it loaded) | run:
 *                               a concurrent take or give is lost (I1);
 *  -DBROKEN_RETIRE_LOAD_STORE   the retirement stores F = 0 after its load
 *                               read ALL, no CAS: a pool taken in between
 *                               is held twice;
 *  -DBROKEN_CLEAR_NORECHECK     avail_clear does not load F again: an
 *                               arena with free pools and no hint bit at
 *                               the end (a giver's avail_set read the bit
 *                               set before the clear);
 *  -DBROKEN_PURGE_CLEAR_D_FIRST the purge clears D's bits of T before its
 *                               CAS takes T: a free resident pool without
 *                               its D bit (I5);
 *  -DBROKEN_TAKE_LOAD_STORE     a take stores F = x & ~run from the x it
 *                               loaded, no CAS: a pool handed out twice;
 *  -DBROKEN_WHOLE_NORECHECK     whole_clear does not load F again: a
 *                               wholly free arena without its whole bit at
 *                               the end (a giver's whole_set read the bit
 *                               set before a taker's clear);
 *  -DBROKEN_CONVERT_LOAD_STORE  span_to_huge stores F = 0 after its load
 *                               read the other pools all free, no CAS: a
 *                               pool taken in between is held twice;
 *  -DWEAK_AVAIL_SET             give_pools's avail_set reads the hint bit
 *                               before its fetch_or of F takes effect: the
 *                               store-buffering reordering that C11 allows
 *                               when that load is relaxed (or avail_clear's
 *                               fetch_and is not seq_cst): a clearer and
 *                               the giver both miss, the hint invariant
 *                               fails at the end.
 *
 * Memory order is abstracted: spin is sequentially consistent. The hint
 * protocol is a Dekker pattern (a giver: RMW of F, then load of the bit;
 * a clearer: RMW of the bit, then load of F) and needs both sides seq_cst;
 * -DWEAK_AVAIL_SET shows what goes wrong without.
 */

#define NPOOLS 3
#define ALL 7

#ifndef TRIM_MIDDLE
#define TRIM_MIDDLE 1
#endif
#ifndef OPS
#define OPS 3           /* each worker's operations */
#endif
#ifndef PURGES
#define PURGES 2        /* the purger's passes */
#endif
#ifndef NW
#define NW 2            /* workers (1 or 2) */
#endif
#ifndef BATCH
#define BATCH 1         /* takes and gives of several spans at once (the cache's batches) */
#endif
#ifndef GROW
#define GROW 1          /* the workers also grow and shrink in place */
#endif
#ifndef WHOLE
#define WHOLE 1         /* the g_span_whole hint (0: left out, the bit stays 0: the largest run) */
#endif

#define OTHER 0
#define SPAN  1

/* holders: 0 nobody (free in F), 1 and 2 the workers, PU the purger, AC arena.c */
#define PU 3
#define AC 4

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

byte F = 0;
byte D = 0;
bit avail = 0;
bit whole = 0;     /* the arena's bit of g_span_whole (a hint: "may be wholly free") */
bit mode = OTHER;
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
        assert(((F >> c) & 1) == (holder[c] == 0 -> 1 : 0));           /* I1 */
        assert(!(((F >> c) & 1) && resident[c]) || ((D >> c) & 1));     /* I5 */
        assert(mode == SPAN || holder[c] != 0);                         /* OTHER: nothing free in F */
        c++
    :: else -> break
    od;
    assert(F == 0 || mode == SPAN);                                     /* I2 */
    c = 0
}

/* the pools in r become who's (they were free: nobody's) */
inline hold(hr, who)
{
    c = 0;
    do
    :: c < NPOOLS ->
        if
        :: (hr >> c) & 1 -> assert(holder[c] == 0); holder[c] = who
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

inline unhold(hr, who)
{
    c = 0;
    do
    :: c < NPOOLS ->
        if
        :: (hr >> c) & 1 -> assert(holder[c] == who); holder[c] = 0
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

/* the holder writes to the pools in r */
inline use(hr, who)
{
    c = 0;
    do
    :: c < NPOOLS ->
        if
        :: (hr >> c) & 1 -> assert(holder[c] == who); resident[c] = true
        :: else -> skip
        fi;
        c++
    :: else -> break
    od;
    c = 0
}

/* the taker of the pools in r (their D bits now in D, which nobody else
 * changes while it holds them) was told their D bits: where a bit is clear
 * it gets zeros (calloc skips the memset) */
inline zero_check(hr)
{
    c = 0;
    do
    :: c < NPOOLS ->
        assert(!((hr >> c) & 1) || ((D >> c) & 1) || !resident[c]);
        c++
    :: else -> break
    od;
    c = 0
}

/* avail_set (M1, M11), called at `site`; uses the caller's `seen` */
#define avail_set(site) \
    d_step { seen = avail; HIT(1); HIT(site) };                         /* M1 */ \
    if \
    :: !seen -> d_step { avail = 1; HIT(11) }                           /* M11 */ \
    :: else -> skip \
    fi; \
    seen = 0

/* avail_clear (M2, M12, M13), called at `site` */
#ifndef BROKEN_CLEAR_NORECHECK
#define avail_clear(site) \
    d_step { avail = 0; HIT(2); HIT(site) };                            /* M2 */ \
    if \
    :: d_step { F != 0 -> HIT(12) };                                    /* M12 */ \
        d_step { avail = 1; HIT(13) }                                   /* M13 */ \
    :: d_step { F == 0 -> HIT(12) }                                     /* M12 */ \
    fi
#else
#define avail_clear(site) \
    d_step { avail = 0; HIT(2); HIT(site) }                             /* M2 */
#endif

#if WHOLE
/* whole_set (M43, M45), called at `site`: after the RMW that made F ALL */
#define whole_set(site) \
    d_step { seen = whole; HIT(43); HIT(site) };                        /* M43 */ \
    if \
    :: !seen -> d_step { whole = 1; HIT(45) }                           /* M45 */ \
    :: else -> skip \
    fi; \
    seen = 0

/* whole_clear (M44, M46, M47), called at `site`: after the RMW that took F
 * from ALL, or a scanner's stale bit */
#ifndef BROKEN_WHOLE_NORECHECK
#define whole_clear(site) \
    d_step { whole = 0; HIT(44); HIT(site) };                           /* M44 */ \
    if \
    :: d_step { F == ALL -> HIT(46) };                                  /* M46 */ \
        d_step { whole = 1; HIT(47) }                                   /* M47 */ \
    :: d_step { F != ALL -> HIT(46) }                                   /* M46 */ \
    fi
#else
#define whole_clear(site) \
    d_step { whole = 0; HIT(44); HIT(site) }                            /* M44 */
#endif
/* give_pools's whole_set */
#define GIVE_WHOLE \
    if \
    :: (old | gr) == ALL -> whole_set(48)                               /* M48 */ \
    :: else -> skip \
    fi;
#else
#define GIVE_WHOLE
#endif

/* give_pools (M5, M6, M23), called at `site`: the caller holds the pools
 * in `gr` and wrote to them */
#ifdef BROKEN_GIVE_STORE
#define GIVE_F \
    d_step { old = F; HIT(6) };                                         /* M6 */ \
    d_step { F = old | gr; unhold(gr, me); check() }
#else
#define GIVE_F \
    d_step { old = F; assert((old & gr) == 0); F = F | gr; unhold(gr, me); check(); HIT(6) }  /* M6 */
#endif
#ifdef WEAK_AVAIL_SET
#define give_pools(site) \
    d_step { use(gr, me); D = D | gr; check(); HIT(5); HIT(site) };     /* M5 */ \
    d_step { seen = avail };                                            /* avail_set's load, before */ \
    GIVE_F; \
    if \
    :: old == 0 && !seen -> d_step { avail = 1 } \
    :: else -> skip \
    fi; \
    seen = 0; \
    GIVE_WHOLE \
    old = 0; gr = 0
#else
#define give_pools(site) \
    d_step { use(gr, me); D = D | gr; check(); HIT(5); HIT(site) };     /* M5 */ \
    GIVE_F; \
    if \
    :: old == 0 -> avail_set(23)                                        /* M23 */ \
    :: else -> skip \
    fi; \
    GIVE_WHOLE \
    old = 0; gr = 0
#endif

proctype worker(byte t)
{
    byte ops = OPS, x, r, k, gr, old, tl, c, mine = 0, lo, held, need;
    bool ok, seen, sw, zero, multi = false;
    byte me = t;
    (started);
    do
    :: ops > 0 ->
        ops--;
        if
        :: mine == 0 ->
            /* span_malloc of k pools */
            if
            :: k = 1
            :: k = 2
            fi;
            /* take_from_arenas: the scan */
            /* (the two hint words' loads, which only choose the arena, as
             * one step) */
            d_step { seen = avail; sw = (avail && whole); HIT(14); HIT(51) };  /* M14 */ /* M51 */
            if
            :: seen ->
                seen = 0;
                d_step { x = F; sw = (sw && x != ALL); HIT(15) };           /* M15 */
#if WHOLE
                /* the second pass met a stale whole bit */
                if
                :: sw -> sw = 0; whole_clear(50)                            /* M50 */
                :: else -> skip
                fi;
#endif
                if
                :: x == 0 ->
                    avail_clear(16)                                         /* M16 */
                :: x != 0 && ((k == 1) || (x & 3) == 3 || (x & 6) == 6) ->
                    /* M3: load again, the CAS from it, retried */
                    d_step { x = F; HIT(17) };                              /* M17 */
                    do
                    :: r != 0 -> break
                    :: r == 0 ->
                        atomic {
                            /* fit_place: any place where k fits (the code's
                             * best fit, or an aligned start, is among them) */
                            if
                            :: k == 1 && (x & 1) -> tl = 1
                            :: k == 1 && (x & 2) -> tl = 2
                            :: k == 1 && (x & 4) -> tl = 4
                            :: k == 2 && (x & 3) == 3 -> tl = 3
                            :: k == 2 && (x & 6) == 6 -> tl = 6
#if BATCH
                            /* a miss's batch (take_at's want > 1): two or
                             * three spans of one pool, adjacent in one free
                             * stretch, by the one CAS */
                            :: k == 1 && (x & 3) == 3 -> tl = 3
                            :: k == 1 && (x & 6) == 6 -> tl = 6
                            :: k == 1 && x == 7 -> tl = 7
#endif
                            :: else -> tl = 0
                            fi;
                            if
                            :: tl == 0 -> break                             /* taken meanwhile */
                            :: else -> skip
                            fi;
#ifndef BROKEN_TAKE_LOAD_STORE
                            d_step {
                                if
                                :: F == x ->
                                    assert(mode == SPAN);                   /* nobody takes from an OTHER arena */
                                    F = x & ~tl; hold(tl, me); check();
                                    zero_check(tl);                         /* M19, folded */
                                    r = tl; HIT(3); HIT(19)                 /* M3 */ /* M19 */
                                :: else -> x = F; HIT(3)                    /* M3 */
                                fi;
                                tl = 0
                            }
#else
                            d_step {
                                F = x & ~tl; hold(tl, me); check(); r = tl; tl = 0; HIT(3)  /* M3 */
                            }
#endif
                        }
                    od;
                    if
                    :: r != 0 && (x & ~r) == 0 ->
                        avail_clear(18)                                     /* M18 */
                    :: else -> skip
                    fi
#if WHOLE
                    ;
                    if
                    :: r != 0 && x == ALL ->
                        whole_clear(49)                                     /* M49 */
                    :: else -> skip
                    fi
#endif
                :: else -> skip                                             /* no room for k */
                fi
            :: else -> skip
            fi;
            if
            :: r == 0 ->
                /* take_new_arena: arena_take_run(1) gives this arena if
                 * arena.c has it wholly free (else another, not modelled) */
                d_step {
                    if
                    :: mode == OTHER && holder[0] == AC ->
                        assert(F == 0);
                        c = 0;
                        do
                        :: c < NPOOLS -> assert(holder[c] == AC); holder[c] = me; c++
                        :: else -> break
                        od;
                        c = 0;
                        zero = !resident[0] && !resident[1] && !resident[2];
                        ok = true
                    :: else -> ok = false
                    fi;
                    HIT(20)                                                 /* M20 */
                };
                if
                :: ok ->
                    r = k;      /* run_bits(0, k): 1 or 3 */
#if BATCH
                    if
                    :: k == 1 -> r = 3  /* a batch: run_bits(0, k * want) */
                    :: k == 1 -> r = 7
                    :: true -> skip
                    fi;
#endif
                    d_step { D = (zero -> 0 : ALL); HIT(21) };              /* M21 */
                    d_step {
                        assert(F == 0 && mode == OTHER);
                        F = ALL & ~r; mode = SPAN; tl = F; unhold(tl, me); tl = 0; check();
                        assert(!zero || (!resident[0] && !resident[1]));    /* *dirty = zero ? 0 : run */
                        HIT(4)                                              /* M4 */
                    };
                    avail_set(22)                                           /* M22 */
                :: else -> skip
                fi;
                ok = false; zero = false
            :: else -> skip
            fi;
            mine = r;
            multi = (k == 1 && r != 0 && (r & (r - 1)) != 0);  /* a batch of 1-pool spans */
            x = 0; r = 0; k = 0
        :: mine != 0 ->
            /* span_free, or a cache's flush of what it holds (give_spans:
             * the spans of one arena given back by one fetch_or) */
            gr = mine;
            mine = 0;
            multi = false;
            give_pools(37)                                                  /* M37 */
        :: BATCH && multi ->
            /* a put into a full stack (cache_trim): some of the cached
             * spans go back together, the newest stay */
            if
            :: gr = mine & (mine - 1)   /* all but the lowest */
            :: gr = mine & ~(mine >> 1) & ~(mine >> 2) & 7 /* (the highest: 4 or 2) */
#if TRIM_MIDDLE
            :: mine == 7 -> gr = 2      /* (the middle one: the cache's order is not
                                         * the pools'; leaves a span and a cached one
                                         * with a pool between, for the growth below) */
#endif
            fi;
            mine = mine & ~gr;
            multi = ((mine & (mine - 1)) != 0);
            give_pools(42)                                                  /* M42 */
        :: GROW && !multi && (mine == 1 || mine == 2) ->
            /* span_resize_in_place: grow by the pool after the span */
            tl = mine << 1;
            d_step { x = F; HIT(34) };                                      /* M34 */
            do
            :: (x & tl) != tl -> break
            :: (x & tl) == tl ->
                d_step {
                    if
                    :: F == x ->
                        assert(mode == SPAN);
                        F = x & ~tl; hold(tl, me); check(); ok = true; HIT(33)  /* M33 */
                    :: else -> x = F; HIT(33)                               /* M33 */
                    fi
                };
                if
                :: ok -> break
                :: else -> skip
                fi
            od;
            if
            :: ok ->
                mine = mine | tl;
                if
                :: (x & ~tl) == 0 ->
                    avail_clear(35)                                         /* M35 */
                :: else -> skip
                fi
            :: else -> skip
            fi;
            x = 0; tl = 0; ok = false
        :: GROW && multi ->
            /* span_resize_other_class with spans of the worker's own cache
             * in the arena (grow_from_cache): the span (the lowest pool
             * the worker holds) grows by the pool after it; the worker's
             * other pools are spans in its cache, which leave it (no
             * shared step: held already); the CAS takes what the tail
             * still needs from F (M33; none when the cache held it all);
             * then the cached pools it does not grow into go back (M58),
             * or, when the CAS found its pool taken, all of them (M59) */
            if
            :: (mine & 1) -> lo = 1
            :: !(mine & 1) && (mine & 2) -> lo = 2
            :: !(mine & 3) -> lo = 4
            fi;
            tl = lo << 1;
            if
            :: tl > 4 -> skip   /* (the arena's last pool: nothing after it) */
            :: tl <= 4 ->
                held = mine & ~lo;
#ifndef BROKEN_GROW_CACHED_ALL
                need = tl & ~held;
#else
                need = 0;   /* as if the cache held the whole tail */
#endif
                if
                :: need == 0 -> ok = true
                :: need != 0 ->
                    d_step { x = F; HIT(34) };                                  /* M34 */
                    do
                    :: (x & need) != need -> break
                    :: (x & need) == need ->
                        d_step {
                            if
                            :: F == x ->
                                assert(mode == SPAN);
                                F = x & ~need; hold(need, me); check(); ok = true; HIT(33)  /* M33 */
                            :: else -> x = F; HIT(33)                           /* M33 */
                            fi
                        };
                        if
                        :: ok -> break
                        :: else -> skip
                        fi
                    od;
                    if
                    :: ok && (x & ~need) == 0 ->
                        avail_clear(35)                                         /* M35 */
                    :: else -> skip
                    fi
                fi;
                multi = false;
                if
                :: ok ->
                    gr = held & ~tl;
                    mine = lo | tl;
                    if
                    :: gr != 0 -> give_pools(58)                                /* M58 */
                    :: else -> skip
                    fi
                :: else ->
                    gr = held;
                    mine = lo;
                    give_pools(59)                                              /* M59 */
                fi
            fi;
            x = 0; tl = 0; ok = false; lo = 0; held = 0; need = 0
        :: GROW && mine != 0 ->
            /* span_to_huge: a span anywhere in the arena takes every other
             * pool by one CAS from exactly "all the others free" to 0
             * (M38); with a batch held (multi), the spans the worker's
             * cache holds are its own as the span is (cache_spans_in: the
             * code's first CAS leaves them out, fails, and the second,
             * this one, takes exactly the free pools) */
#ifndef BROKEN_CONVERT_LOAD_STORE
            d_step {
                if
                :: F == (ALL & ~mine) ->
                    assert(mode == SPAN);
                    tl = F; hold(tl, me); F = 0; check(); ok = true; HIT(38)  /* M38 */
                :: else -> HIT(38)                                          /* M38 */
                fi;
                tl = 0
            };
#else
            d_step { x = F; HIT(38) };                                      /* M38 */
            if
            :: x == (ALL & ~mine) ->
                d_step { tl = x; hold(tl, me); F = 0; check(); ok = true; tl = 0 }
            :: else -> skip
            fi;
            x = 0;
#endif
            if
            :: ok ->
                mine = ALL;
                avail_clear(39);                                            /* M39 */
                d_step { D = 0; check(); HIT(40) };                         /* M40 */
                /* a huge block of the arena now; its free (huge_free, the
                 * cache or not: model 7) gives the arena to arena.c */
                d_step {
                    use(ALL, me);
                    c = 0;
                    do
                    :: c < NPOOLS -> assert(holder[c] == me); holder[c] = AC; c++
                    :: else -> break
                    od;
                    c = 0;
                    mode = OTHER; check(); HIT(41)                          /* M41 */
                };
                mine = 0;
                multi = false
            :: else -> skip
            fi;
            ok = false
        :: GROW && !multi && (mine == 3 || mine == 6) ->
            /* span_resize_in_place: shrink to one pool, the tail given back */
            gr = mine & (mine << 1);    /* the upper pool */
            mine = mine & ~gr;
            give_pools(36)                                                  /* M36 */
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
    byte passes = PURGES, x, tk, done, old, c;
    bool ok, seen, sa, sw;
    (started);
    do
    :: passes > 0 ->
        passes--;
        /* span_purge: the slot's bit */
        d_step { sa = avail; sw = whole; HIT(24); HIT(53) };                /* M24 */ /* M53 */
        if
        :: sa || sw ->
            d_step { x = F; sw = (sw && x != ALL); HIT(25) };               /* M25 */
#if WHOLE
            if
            :: sw -> sw = 0; whole_clear(54)                                /* M54 */
            :: else -> skip
            fi;
#endif
            if
            :: !sa -> skip                                                  /* only the stale whole bit */
            :: sa && x == ALL ->
                /* M7: retire it */
#ifndef BROKEN_RETIRE_LOAD_STORE
                d_step {
                    if
                    :: F == x -> F = 0; hold(ALL, PU); check(); ok = true
                    :: else -> ok = false
                    fi;
                    HIT(7)                                                  /* M7 */
                };
#else
                d_step { F = 0; hold(ALL, PU); check(); ok = true; HIT(7) };  /* M7 */
#endif
                if
                :: ok ->
                    avail_clear(26);                                        /* M26 */
#if WHOLE
                    whole_clear(55);                                        /* M55 */
#endif
                    d_step { D = 0; check(); HIT(27) };                     /* M27 */
                    d_step {
                        /* arena_give_run_at: arena.c's now, wholly free */
                        assert(F == 0);
                        c = 0;
                        do
                        :: c < NPOOLS -> assert(holder[c] == PU); holder[c] = AC; c++
                        :: else -> break
                        od;
                        c = 0;
                        mode = OTHER; check(); HIT(28)                      /* M28 */
                    }
                :: else -> skip
                fi
            :: sa && x != ALL ->
                /* M8: take T = F & D, one CAS, retried */
                do
                ::
#ifdef BROKEN_PURGE_CLEAR_D_FIRST
                    d_step { tk = x & D; D = D & ~tk; check(); HIT(29) };   /* M29 */
#else
                    d_step { tk = x & D; HIT(29) };                         /* M29 */
#endif
                    if
                    :: tk == 0 -> break
                    :: else ->
                        d_step {
                            if
                            :: F == x -> F = x & ~tk; hold(tk, PU); check(); ok = true
                            :: else -> x = F; ok = false
                            fi;
                            HIT(8)                                          /* M8 */
                        };
                        if
                        :: ok -> break
                        :: else -> skip
                        fi
                    fi
                od;
                if
                :: ok ->
                    if
                    :: (x & ~tk) == 0 ->
                        avail_clear(30)                                     /* M30 */
                    :: else -> skip
                    fi;
#if WHOLE
                    if
                    :: x == ALL ->
                        whole_clear(56)                                     /* M56 */
                    :: else -> skip
                    fi;
#endif
                    /* decommit_pools: the OS may refuse */
                    if
                    :: done = tk
                    :: done = 0
                    fi;
                    d_step {
                        c = 0;
                        do
                        :: c < NPOOLS ->
                            if
                            :: (tk >> c) & 1 ->
                                assert(holder[c] == PU);                    /* decommits only what it holds */
                                if
                                :: (done >> c) & 1 -> resident[c] = false
                                :: else -> skip
                                fi
                            :: else -> skip
                            fi;
                            c++
                        :: else -> break
                        od;
                        c = 0;
                        HIT(31)                                             /* M31 */
                    };
                    d_step { D = D & ~done; check(); HIT(9) };              /* M9 */
                    d_step { old = F; F = F | tk; unhold(tk, PU); check(); HIT(10) };  /* M10 */
                    if
                    :: old == 0 ->
                        avail_set(32)                                       /* M32 */
                    :: else -> skip
                    fi
#if WHOLE
                    ;
                    if
                    :: (old | tk) == ALL ->
                        whole_set(57)                                       /* M57 */
                    :: else -> skip
                    fi
#endif
                :: else -> skip
                fi
            fi
        :: else -> skip
        fi;
        /* arena.c's pass after span_purge: a wholly free arena of its own
         * may be decommitted (model 2's protocol; here: the pages go) */
        if
        :: d_step {
                mode == OTHER && holder[0] == AC && holder[1] == AC && holder[2] == AC ->
                resident[0] = false; resident[1] = false; resident[2] = false
            }
        :: skip
        fi;
        d_step { x = 0; tk = 0; done = 0; old = 0; ok = false; sa = 0; sw = 0 }
    :: else -> break
    od;
    c = 0;   /* (a break may not jump into a d_step) */
    d_step { ndone++ }
}

init {
    byte c;
    COVER_INIT;
    atomic {
        /* the start: arena.c's arena (resident or not, a stale hint bit or
         * not), or a span arena with every pool free (never used, or used
         * and given back) */
        if
        :: mode = OTHER; F = 0; D = 0;
            c = 0; do :: c < NPOOLS -> holder[c] = AC; c++ :: else -> break od; c = 0;
            if
            :: skip
            :: c = 0; do :: c < NPOOLS -> resident[c] = true; c++ :: else -> break od; c = 0
            fi;
            if
            :: avail = 0
            :: avail = 1
            fi;
            if
            :: whole = 0
            :: whole = WHOLE
            fi
        :: mode = SPAN; F = ALL; D = 0; avail = 1; whole = WHOLE
        :: mode = SPAN; F = ALL; D = ALL; avail = 1; whole = WHOLE;
            c = 0; do :: c < NPOOLS -> resident[c] = true; c++ :: else -> break od; c = 0
        fi;
        run worker(1);
        if
        :: NW > 1 -> run worker(2)
        :: else -> ndone++
        fi;
        run purger();
        started = true
    }
    (ndone == 3);
    d_step {
        c = 0;
        do
        :: c < NPOOLS ->
            assert(((F >> c) & 1) == (holder[c] == 0 -> 1 : 0));               /* I1 */
            assert(!(((F >> c) & 1) && resident[c]) || ((D >> c) & 1));         /* I5 */
            assert(holder[c] != PU);                                            /* the purger gave all back */
            assert(mode == SPAN || holder[c] == AC);
            assert(mode == OTHER || holder[c] != AC);
            c++
        :: else -> break
        od;
        assert(F == 0 || mode == SPAN);                                         /* I2 */
        assert(F == 0 || avail == 1);                                           /* the hint invariant */
        assert(!WHOLE || F != ALL || whole == 1)                                /* the whole hint's */
    }
}
