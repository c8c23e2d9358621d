/*
 * huge_cache.pml: model 7. The cache of freed huge runs (src/huge.c):
 * CACHE words, each 0 or one run held whole, moved as ownership tokens.
 *  - huge_free (cache_put): the first word read 0 gets the run by CAS from
 *    0; if none, an exchange into the word the rotating hint names, and the
 *    run that comes out goes back to the arenas;
 *  - huge_malloc (cache_take): relaxed loads find a word whose run has the
 *    k wanted; an exchange with 0 takes it (a run of another k that came
 *    out meanwhile is put back, cache_put, and the malloc misses); if no
 *    word has k, every non-zero word is exchanged with 0 and its run given
 *    back (the flush); a miss takes a run from the arenas;
 *  - the purge pass (huge_cache_purge): loads a word and, if its run is
 *    old, takes it by CAS from that value to 0 and gives it back;
 *  - a new span arena (huge_cache_take_arena): the first non-zero word
 *    exchanged with 0; of the run that comes out the thread keeps the
 *    first arena and puts the rest back (cache_put);
 *  - a huge block that grows (huge_resize_in_place, cache_take_after):
 *    relaxed loads find the word whose run starts right after the block;
 *    an exchange with 0 takes it; if it is that run, its arenas join the
 *    block, and what the block does not need goes back (cache_put), as do
 *    all of them when the growth fails further on; if another run came
 *    out, it is put back.
 *
 * Code modelled: cache_put (cache_put_at), cache_take, huge_cache_purge,
 * huge_cache_take_arena, cache_take_after, huge_resize_in_place's puts
 * (src/huge.c).
 * Every step tagged K<n> (with HIT(n)) is listed with its code line in
 * tests/model/MAPPING.md, which check_mapping.sh verifies.
 *
 * Abstractions:
 *  - a run is an id 1..NR with kk[r] arenas; the arenas (model 6 checks
 *    their protocol) are one owner, ARENAS: a miss takes any run they own
 *    (whatever its size: a malloc that wanted another still holds one
 *    run), a give-back hands the run to them. A split gives the part put
 *    back an unused id (owner SPARE; none left: no split); a join makes
 *    the joined run's id SPARE. The arenas are conserved: kk summed over
 *    the ids in use stays TOTAL;
 *  - which cached run starts right after a block is not modelled: any
 *    cached run may be the one (the code compares the first slot; the
 *    model the id, which stands for it);
 *  - the rotating hint and the put times are hints: nondeterministic
 *    choices (which word to evict into; whether a cached run is old);
 *  - memory orders: spin is sequentially consistent (the code uses acq_rel
 *    on every CAS and exchange of a word).
 *  - ghost own[r]: who holds run r (a thread, a cache word, the arenas).
 *
 * Checks:
 *  - whoever takes a run out of a word (exchange, CAS) finds it owned by
 *    that word, and whoever gives a run back or puts it in a word holds it:
 *    no run is held by two, none is handed out twice;
 *  - at the end (every thread has freed what it held, then the purge has
 *    emptied the cache): every run belongs to the arenas (or is an unused
 *    id), every word is 0, and the arenas held add up to TOTAL: none lost
 *    or counted twice by a split or a join.
 *  - -DBROKEN_TAKE_LOAD_STORE: cache_take takes its word by a load and a
 *    plain store of 0 instead of the exchange: a run handed to two threads;
 *    must fail.
 *  - -DBROKEN_PURGE_STORE: the purge empties a word by a plain store of 0
 *    after its load: a run put there in between is lost (given back twice
 *    or never); must fail.
 */

#ifndef NR
#define NR 5            /* run ids: 3 runs at the start (1, 2 and 1 arenas), 2 unused */
#endif
#define TOTAL 4         /* arenas in all */
#define SPARE 30        /* own[] of an unused id */
#ifndef CACHE
#define CACHE 2         /* cache words */
#endif
#ifndef OPS
#define OPS 3           /* operations of each thread */
#endif
#define ARENAS 20
#define WORD0 10        /* own[] of cache word i: WORD0 + i */

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

byte cache[CACHE];      /* 0 or a run id */
byte own[NR + 1];       /* ghost: who holds each run */
byte kk[NR + 1];        /* its size class */
byte done;              /* threads finished */

/* Hand run r (held by `from`) to the arenas. */
inline give_back(r, from)
{
    assert(own[r] == from);
    own[r] = ARENAS
}

/* cache_put: thread t holds run r. */
inline cache_put(t, r)
{
    i = 0;
    put = false;
    do
    :: i < CACHE && !put ->
        if
        :: d_step { cache[i] != 0 -> HIT(1) }                            /* K1 */
        :: d_step { cache[i] == 0 -> HIT(1) };                           /* K1 */
            d_step {
                if
                :: cache[i] == 0 -> assert(own[r] == t); cache[i] = r; own[r] = WORD0 + i; put = true; HIT(2)  /* K2 */
                :: else -> HIT(2)                                        /* K2 */
                fi
            }
        fi;
        i++
    :: i == CACHE || put -> break
    od;
    if
    :: !put ->
        /* the hint: any word */
        i = 0;
        do
        :: i + 1 < CACHE -> i++
        :: break
        od;
        skip;
        d_step {
            v = cache[i]; assert(own[r] == t); cache[i] = r; own[r] = WORD0 + i;
            if :: v != 0 -> assert(own[v] == WORD0 + i); own[v] = t :: else -> skip fi;
            HIT(3)                                                       /* K3 */
        };
        if
        :: v != 0 -> d_step { give_back(v, t); HIT(4) }                  /* K4 */
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* A split of run r (held by t, kk[r] > n >= 1): r keeps n arenas, the
 * rest become run sp (an unused id, now t's; 0 if none: no split). */
inline split(r, n)
{
    sp = 1;
    do
    :: sp <= NR && own[sp] == SPARE -> break
    :: sp <= NR && own[sp] != SPARE -> sp++
    :: sp > NR -> sp = 0; break
    od;
    if
    :: sp != 0 -> assert(own[r] == t && kk[r] > n); own[sp] = t; kk[sp] = kk[r] - n; kk[r] = n
    :: else -> skip
    fi
}

proctype thread(byte t)
{
    byte ops = 0, i, v, r, best, want, cached, sp;
    bool put, held;
    byte mine = 0;      /* the run this thread holds, 0 if none */
    COVER_INIT;
    do
    :: ops < OPS && mine == 0 ->
        /* huge_cache_take_arena: a span arena for a medium block */
        i = 0;
        do
        :: i < CACHE && mine == 0 ->
            d_step {
                if
                :: cache[i] != 0 -> v = cache[i]; cache[i] = 0; assert(own[v] == WORD0 + i); own[v] = t
                :: else -> v = 0
                fi;
                HIT(14)                                                  /* K14 */
            };
            if
            :: v != 0 ->
                r = v;  /* (cache_put uses v and i) */
                if
                :: kk[r] > 1 ->
                    d_step { split(r, 1) };
                    if
                    :: sp != 0 -> HIT(15); cache_put(t, sp)              /* K15 */
                    :: else -> skip
                    fi;
                    sp = 0
                :: else -> skip
                fi;
                mine = r; r = 0; v = 0; HIT(16)                          /* K16 */
            :: else -> skip
            fi;
            i++
        :: else -> break
        od;
        ops++
    :: ops < OPS && mine != 0 ->
        /* huge_resize_in_place's growth: cache_take_after */
        i = 0;
        do
        :: i < CACHE ->
            d_step { v = cache[i]; HIT(17) };                            /* K17 */
            if
            :: v != 0 -> break      /* (the run after the block: any, a choice) */
            :: true -> i++
            fi
        :: else -> v = 0; break
        od;
        if
        :: v != 0 ->
            d_step {
                r = cache[i]; cache[i] = 0;
                if :: r != 0 -> assert(own[r] == WORD0 + i); own[r] = t :: else -> skip fi;
                HIT(18)                                                  /* K18 */
            };
            if
            :: r == v ->
                /* its arenas join the block */
                d_step { assert(own[r] == t && own[mine] == t); kk[mine] = kk[mine] + kk[r]; own[r] = SPARE; kk[r] = 0; HIT(19) };  /* K19 */
                if
                :: kk[mine] > 1 ->
                    /* more than the block needs (K20), or the growth
                     * failed further on: all it took back (K21) */
                    d_step { split(mine, 1) };
                    if
                    :: sp != 0 -> HIT(20); cache_put(t, sp)              /* K20 */
                    :: sp != 0 -> HIT(21); cache_put(t, sp)              /* K21 */
                    :: else -> skip
                    fi;
                    sp = 0
                :: kk[mine] > 1 -> skip
                :: else -> skip
                fi
            :: r != 0 && r != v ->
                HIT(22);                                                 /* K22 */
                cache_put(t, r)
            :: else -> skip
            fi;
            r = 0; v = 0
        :: else -> skip
        fi;
        ops++
    :: ops < OPS && mine != 0 ->
        /* huge_free: the run into the cache */
        r = mine;
        mine = 0;
        cache_put(t, r);
        ops++
    :: ops < OPS && mine == 0 ->
        /* huge_malloc of class want */
        if
        :: want = 1
        :: want = 2
        fi;
        best = CACHE;
        cached = 0;
        i = 0;
        do
        :: i < CACHE ->
            d_step { v = cache[i]; HIT(5) };                             /* K5 */
            if
            :: v != 0 -> cached++; if :: kk[v] == want -> best = i :: else -> skip fi
            :: else -> skip
            fi;
            i++
        :: else -> break
        od;
        if
        :: best == CACHE ->
            /* the flush */
            i = 0;
            do
            :: cached > 0 && i < CACHE ->
                d_step {
                    if
                    :: cache[i] != 0 -> v = cache[i]; cache[i] = 0
                    :: else -> v = 0
                    fi;
                    if :: v != 0 -> assert(own[v] == WORD0 + i); own[v] = t :: else -> skip fi;
                    HIT(6)                                               /* K6 */
                };
                if
                :: v != 0 -> d_step { give_back(v, t); HIT(7) }          /* K7 */
                :: else -> skip
                fi;
                i++
            :: else -> break
            od
        :: else ->
#ifndef BROKEN_TAKE_LOAD_STORE
            d_step {
                v = cache[best]; cache[best] = 0;
                if :: v != 0 -> assert(own[v] == WORD0 + best); own[v] = t :: else -> skip fi;
                HIT(8)                                                   /* K8 */
            };
#else
            d_step { v = cache[best]; HIT(8) };                           /* K8 */
            d_step {
                cache[best] = 0;
                if :: v != 0 -> assert(own[v] == WORD0 + best); own[v] = t :: else -> skip fi
            };
#endif
            if
            :: v != 0 && kk[v] != want ->
                /* another thread swapped another run in: put it back */
                HIT(9);                                                  /* K9 */
                r = v;  /* (cache_put uses v for what it pushes out) */
                cache_put(t, r);
                v = 0
            :: v != 0 && kk[v] == want -> mine = v; HIT(10)              /* K10 */
            :: else -> skip
            fi
        fi;
        if
        :: mine == 0 ->
            /* a miss: the arenas serve (model 6), or have nothing */
            d_step {
                r = 1;
                do
                :: r <= NR && own[r] == ARENAS -> own[r] = t; mine = r; break
                :: r <= NR && own[r] != ARENAS -> r++
                :: r > NR -> break
                od
            }
        :: else -> skip
        fi;
        ops++
    :: ops == OPS ->
        if
        :: mine != 0 -> d_step { give_back(mine, t); mine = 0 }   /* (a free through the cache is one of the ops) */
        :: else -> skip
        fi;
        break
    od;
    skip;
    d_step { done++ }
}

/* The purge pass, any time; at the end (threads done) it empties the
 * cache, as obmt_collect's pass would (now = true). */
active proctype purge()
{
    byte i, v, r;
    COVER_INIT;
    do
    :: i = 0;
        do
        :: i < CACHE ->
            d_step { v = cache[i]; HIT(11) };                            /* K11 */
            if
            :: v != 0 ->
                /* old enough (or a forced pass): take it */
#ifndef BROKEN_PURGE_STORE
                d_step {
                    if
                    :: cache[i] == v -> cache[i] = 0; assert(own[v] == WORD0 + i); own[v] = 255; HIT(12)  /* K12 */
                    :: else -> v = 0; HIT(12)                            /* K12 */
                    fi
                };
#else
                d_step { cache[i] = 0; assert(own[v] == WORD0 + i); own[v] = 255 };
#endif
                if
                :: v != 0 -> d_step { give_back(v, 255); HIT(13) }       /* K13 */
                :: else -> skip
                fi
            :: v != 0 && done < 2 -> skip   /* not old yet */
            :: v == 0 -> skip
            fi;
            i++
        :: else -> break
        od
    :: done == 2 && cache[0] == 0 && cache[CACHE - 1] == 0 -> break
    od;
    skip;
    /* The end: every run back with the arenas, the cache empty. */
    d_step {
        r = 1; v = 0;
        do
        :: r <= NR -> assert(own[r] == ARENAS || own[r] == SPARE); if :: own[r] == ARENAS -> v = v + kk[r] :: else -> skip fi; r++
        :: else -> break
        od;
        assert(v == TOTAL);
        i = 0;
        do
        :: i < CACHE -> assert(cache[i] == 0); i++
        :: else -> break
        od
    }
}

init {
    byte r = 1;
    d_step {
        do
        :: r <= 3 -> own[r] = ARENAS; kk[r] = 1; r++
        :: r > 3 && r <= NR -> own[r] = SPARE; kk[r] = 0; r++
        :: else -> break
        od;
        kk[2] = 2
    };
    atomic { run thread(1); run thread(2) }
}
