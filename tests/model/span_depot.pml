/*
 * span_depot.pml: model 11. The span depot (src/span_depot.c): a class's
 * SLOTS words, each 0 or one chain of cached spans held whole, moved as
 * ownership tokens, and the byte counter that bounds them.
 *  - a trim (depot_put): reserve the chain's bytes (fetch_add; over the
 *    bound: fetch_sub, and the chain goes to the arenas), then the first
 *    word read 0 gets the chain by CAS from 0; if no word takes it, the
 *    bytes come off again (fetch_sub) and the chain goes to the arenas;
 *  - a miss (depot_take): relaxed loads find a non-zero word, an exchange
 *    with 0 takes what is there (any chain of the class will do), and the
 *    chain's bytes come off (fetch_sub);
 *  - the purge pass (depot_purge): loads a word and, if its chain is old,
 *    takes it by CAS from that value to 0, takes its bytes off and gives
 *    it back; depot_drain is a take of every word (the miss's steps),
 *    after one relaxed load of the byte counter: 0, and it returns at
 *    once (D11, a step the purge process may take at any time).
 *
 * Code modelled: depot_put, depot_take, depot_purge, depot_drain's
 * shortcut (src/span_depot.c).
 * Every step tagged D<n> (with HIT(n)) is listed with its code line in
 * tests/model/MAPPING.md, which check_mapping.sh verifies.
 *
 * Abstractions:
 *  - a chain is an id 1..NC of sz[c] units (its spans' bytes); what it
 *    is made of, and the arenas it goes back to (model 9 checks the span
 *    arenas), are one owner, ARENAS. A thread's trim makes a chain of the
 *    spans it holds (any chain id it holds: the model gives each thread
 *    one to start with), a take gives it one;
 *  - depot_room's relaxed loads (a hint that skips the put) are not
 *    modelled: the put's own steps decide;
 *  - the put time is a hint: whether a chain is old is a nondeterministic
 *    choice of the purge;
 *  - memory orders: spin is sequentially consistent (the code uses acq_rel
 *    on every CAS and exchange of a word; the byte counter is relaxed and
 *    orders nothing itself). D11's check in one global order stands for
 *    the relaxed load because the words' acq_rel put a chain's
 *    reservation (D1, before its CAS D4) before the fetch_sub of whoever
 *    takes it out (D7, D10, after D6 or D9, which read D4's value) in the
 *    counter's modification order; with relaxed word operations that
 *    would not hold, and the model cannot show it;
 *  - ghost own[c]: who holds chain c (a thread, a word, the arenas).
 *
 * Checks:
 *  - whoever takes a chain out of a word finds it owned by that word, and
 *    whoever puts a chain in a word or gives it back holds it: no chain is
 *    held by two, none handed out twice or lost;
 *  - the chains in the words hold at most BOUND units at every step (the
 *    reservation comes before the CAS and goes after the take);
 *  - whenever the counter reads 0, every word is 0: depot_drain's
 *    shortcut skips no chain (D11);
 *  - at the end (every thread done, then the purge has emptied the words):
 *    every chain is back with the arenas or a thread, every word is 0, and
 *    the counter is 0 (every reservation taken off once).
 *  - -DBROKEN_TAKE_LOAD_STORE: depot_take takes its word by a load and a
 *    plain store of 0 instead of the exchange: a chain handed to two
 *    threads; must fail.
 *  - -DBROKEN_RESERVE_LATE: the put reserves its bytes after its CAS: the
 *    words may hold more than the bound; must fail.
 *  - -DBROKEN_TAKE_BYTES_FIRST: depot_take takes the chain's bytes off
 *    before its exchange: the counter reads 0 while a word still holds
 *    the chain, and a drain would skip it; must fail.
 */

#ifndef NC
#define NC 4            /* chains: 2 a thread to start with */
#endif
#ifndef SLOTS
#define SLOTS 2
#endif
#ifndef OPS
#define OPS 3           /* operations of each thread */
#endif
#ifndef BOUND
#define BOUND 3         /* units the words may hold */
#endif
#define ARENAS 20
#define WORD0 10        /* own[] of word i: WORD0 + i */
#define PURGER 30

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

byte word[SLOTS];       /* 0 or a chain id */
byte own[NC + 1];       /* ghost: who holds each chain */
byte sz[NC + 1];        /* its units */
byte bytes;             /* g_depot_bytes */
byte done;              /* threads finished */

/* The units the words hold now: at most BOUND. */
inline check_bound()
{
    j = 0; u = 0;
    do
    :: j < SLOTS -> if :: word[j] != 0 -> u = u + sz[word[j]] :: else -> skip fi; j++
    :: else -> break
    od;
    assert(u <= BOUND)
}

/* depot_put: thread t holds chain r. */
inline depot_put(t, r)
{
    put = false;
#ifndef BROKEN_RESERVE_LATE
    d_step { old = bytes; bytes = bytes + sz[r]; HIT(1) };                  /* D1 */
    if
    :: old + sz[r] > BOUND -> d_step { bytes = bytes - sz[r]; HIT(2) }        /* D2 */
    :: else ->
#endif
        i = 0;
        do
        :: i < SLOTS && !put ->
            if
            :: d_step { word[i] != 0 -> HIT(3) }                              /* D3 */
            :: d_step { word[i] == 0 -> HIT(3) };                             /* D3 */
                d_step {
                    if
                    :: word[i] == 0 -> assert(own[r] == t); word[i] = r; own[r] = WORD0 + i; put = true; check_bound(); HIT(4)  /* D4 */
                    :: else -> HIT(4)                                         /* D4 */
                    fi
                }
            fi;
            i++
        :: i == SLOTS || put -> break
        od;
#ifndef BROKEN_RESERVE_LATE
        if
        :: !put -> d_step { bytes = bytes - sz[r]; HIT(5) }                   /* D5 */
        :: else -> skip
        fi
    fi;
#else
        if
        :: put -> d_step { old = bytes; bytes = bytes + sz[r] }
        :: else -> skip
        fi;
#endif
    if
    :: !put -> d_step { assert(own[r] == t); own[r] = ARENAS }   /* (span_give_chain) */
    :: else -> skip
    fi
}

/* depot_take: thread t, which holds no chain, takes one (mine) or none. */
inline depot_take(t)
{
    i = 0;
    do
    :: i < SLOTS && mine == 0 ->
#ifdef BROKEN_TAKE_BYTES_FIRST
        /* the bytes of the chain it read off first, then a CAS from it */
        d_step { v = word[i]; if :: v != 0 -> bytes = bytes - sz[v] :: else -> skip fi };
        d_step {
            if
            :: v != 0 && word[i] == v -> word[i] = 0; assert(own[v] == WORD0 + i); own[v] = t
            :: v != 0 && word[i] != v -> bytes = bytes + sz[v]; v = 0
            :: else -> skip
            fi
        };
#elif !defined(BROKEN_TAKE_LOAD_STORE)
        d_step {
            v = word[i]; word[i] = 0;
            if :: v != 0 -> assert(own[v] == WORD0 + i); own[v] = t :: else -> skip fi;
            HIT(6)                                                            /* D6 */
        };
#else
        v = word[i];
        d_step { word[i] = 0; if :: v != 0 -> assert(own[v] == WORD0 + i); own[v] = t :: else -> skip fi };
#endif
        if
#ifndef BROKEN_TAKE_BYTES_FIRST
        :: v != 0 -> mine = v; d_step { bytes = bytes - sz[v]; HIT(7) }      /* D7 */
#else
        :: v != 0 -> mine = v
#endif
        :: else -> skip
        fi;
        i++
    :: else -> break
    od
}

proctype thread(byte t; byte first)
{
    byte ops = 0, i, j, u, v, old;
    bool put;
    byte mine = first;  /* the chain this thread holds, 0 if none */
    COVER_INIT;
    do
    :: ops < OPS && mine != 0 ->
        /* a full stack's trim: its chain to the depot */
        depot_put(t, mine); mine = 0; ops++
    :: ops < OPS && mine == 0 ->
        /* a miss: a chain from the depot, if there is one */
        depot_take(t); ops++
    :: ops < OPS && mine == 0 ->
        /* a miss that found none: a chain from the arenas (its spans) */
        d_step {
            v = 1;
            do
            :: v <= NC && own[v] == ARENAS -> own[v] = t; mine = v; v = NC + 1
            :: v <= NC && own[v] != ARENAS -> v++
            :: v > NC -> break
            od
        };
        ops++
    :: ops == OPS -> break
    od;
    /* (a thread may end holding a chain: its stack) */
    skip;
    d_step { done++ }
}

/* The purge pass, any time; at the end (threads done) it empties the
 * words, as obmt_collect's pass would (now = true). */
active proctype purge()
{
    byte i, j, u, v;
    COVER_INIT;
    do
    :: i = 0;
        do
        :: i < SLOTS ->
            d_step { v = word[i]; HIT(8) };                                   /* D8 */
            if
            :: v != 0 ->
                /* old enough (or a forced pass): take it */
                d_step {
                    if
                    :: word[i] == v -> word[i] = 0; assert(own[v] == WORD0 + i); own[v] = PURGER; HIT(9)  /* D9 */
                    :: else -> v = 0; HIT(9)                                  /* D9 */
                    fi
                };
                if
                :: v != 0 -> d_step { bytes = bytes - sz[v]; HIT(10) };      /* D10 */
                    d_step { assert(own[v] == PURGER); own[v] = ARENAS }
                :: else -> skip
                fi
            :: v != 0 && done < 2 -> skip   /* not old yet */
            :: v == 0 -> skip
            fi;
            i++
        :: else -> break
        od
    :: d_step {
            /* depot_drain's shortcut: the counter reads 0, so no word
             * holds a chain (every chain's bytes are reserved from before
             * its CAS to after its take) */
            bytes == 0 ->
#ifndef BROKEN_RESERVE_LATE /* (which breaks this too: left to the bound's check) */
            j = 0;
            do
            :: j < SLOTS -> assert(word[j] == 0); j++
            :: else -> break
            od;
#endif
            HIT(11)                                                           /* D11 */
        }
    :: done == 2 && word[0] == 0 && word[SLOTS - 1] == 0 -> break
    od;
    skip;
    /* The end: the words empty, no bytes reserved, every chain with the
     * arenas or a thread. */
    d_step {
        assert(bytes == 0);
        i = 0;
        do
        :: i < SLOTS -> assert(word[i] == 0); i++
        :: else -> break
        od;
        v = 1;
        do
        :: v <= NC -> assert(own[v] == ARENAS || own[v] == 1 || own[v] == 2); v++
        :: else -> break
        od
    }
}

init {
    d_step {
        own[1] = 1; sz[1] = 2;
        own[2] = 2; sz[2] = 1;
        own[3] = ARENAS; sz[3] = 2;
        own[4] = ARENAS; sz[4] = 1
    };
    atomic { run thread(1, 1); run thread(2, 2) }
}
