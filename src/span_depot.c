/*
 * span_depot.c: the span depot, a shared level between the threads' span
 * caches (span.c) and the span arenas, for chains of freed medium blocks.
 *
 * Why. A thread's span cache holds a bounded stack per class. A burst of
 * frees larger than the stack (a server that frees a batch of 64 KiB
 * buffers, then allocates the next batch) gives the stack's newest half
 * back to the span arenas at each full put, one fetch_or per arena and
 * a header reset per span, and the next misses take the spans out of the
 * arenas' bitmaps again, a search and a CAS per batch and a header write
 * per span: fastpath_batch/65536 (a 16 MiB burst; a class holds 8 MiB)
 * spent about half its time in that round trip, where tcmalloc moves its
 * objects between the thread cache and a central transfer cache in
 * batches. The depot is that transfer level, for whole chains:
 *  - the full stack's trim of a grown class (span.c, cache_trim_to_depot:
 *    a class whose thread missed after its full stack gave spans back, a
 *    burst larger than the stack) cuts its newest half off as one chain, still linked through the heads' nextpool, the
 *    heads unchanged (cached: owner OWNER_SPAN, nextpool a link, class and
 *    pool count kept), and puts it in one of its class's words by one CAS;
 *  - a miss of the class in any thread (span_malloc_arenas) takes a whole
 *    chain by one exchange before it looks at the arenas: its top is the
 *    caller's block, the rest becomes the thread's stack (what the stack
 *    has no room for goes back to its arenas);
 *  - a miss that finds no room in any span arena (before it makes a new
 *    one) gives every chain back (depot_drain), as the grown classes of
 *    its thread's cache give back what they hold beyond their fixed
 *    limits: chains of a class the program has moved on from must not
 *    make it map more (fastpath_batch/262144 and /1048576 after /65536:
 *    16.8 -> 12.5 and 45.7 -> 36.1 M items/s without this);
 *  - the purge pass gives back every chain put there a purge delay ago or
 *    more (as freed at the pass: its pages follow a purge delay later, in
 *    its arenas), obmt_collect all of them (depot_drain, whatever the
 *    purge option), and so does a fork child (depot_atfork_child).
 * A class that has not grown gives its trims to the arenas as before: a
 * thread that only frees what others allocate filled the depot at the cost
 * of a walk and a put a trim and saved the allocating thread nothing
 * measurable (instr_count remote 65536: 118.1 -> 121.7 instructions a
 * free, and more in all). A chain that a grown class put is taken by
 * whichever thread misses first, its own or another's.
 *
 * Bounds. OBMT_SPAN_DEPOT_SLOTS chains a class, and OBMT_SPAN_DEPOT_BYTES
 * of spans in all: a put first reserves its chain's bytes in g_depot_bytes
 * (fetch_add relaxed; over the bound, it takes them off again and the
 * chain goes to its arenas), a take or the purge takes a chain's bytes off
 * once it holds the chain. The bound holds for every moment: a reservation
 * comes before the chain is in a word and leaves after it is out of it.
 * The pages of a chain's spans are resident, as a freed span's are in its
 * arena until the purge delay: the depot keeps them from other classes
 * (the bound) for a purge delay at most, it adds nothing resident.
 *
 * The words: g_depot[c].word[i] is 0, or a chain that nobody else holds:
 *   (spans << 32) | (index of the top span's first pool in the
 *   reservation + 1).
 * Each is an ownership token, moved only by CAS from 0 (a put), exchange
 * with 0 (a take) and CAS from the value read to 0 (the purge), all
 * acq_rel: the putter's writes to the chain (its links, the heads) reach
 * whoever takes it. Nobody reads a chain before holding it, so the links
 * are plain fields (span.c's nextpool, owner-only as in a thread's stack).
 * No operation acts on a value it read earlier except the purge's CAS,
 * which then holds whatever chain the word holds, and the value names that
 * chain entirely (its top and its length): no ABA. g_depot[c].put_ms[i]:
 * when the chain in word i was put there, a relaxed hint written before
 * the put's CAS (a putter that lost the word to another may leave its own
 * time with that one's chain, and the purge may pair a chain with another's
 * time: a chain goes back a pass early or late; a free chain given back,
 * never a lost one).
 * Spin model 11 (tests/model/span_depot.pml) checks the words, the byte
 * bound, and that the counter reads 0 only while no word holds a chain
 * (depot_drain's shortcut), with two threads and the purge (tags D*,
 * tests/model/MAPPING.md).
 *
 * Fork: the words are consistent in the child (each is one atomic word),
 * and the child gives every chain back (depot_atfork_child). A chain that a
 * thread of the parent held at the fork (between its take and its stack,
 * or between its trim and its put) stays taken in the child, as the rest
 * of a dead thread's cache that span_cache_drop cannot walk does: a bounded
 * leak of address space, never a block the program holds. That thread's
 * reservation in g_depot_bytes (between D1 and D4, or D6 and D7) would stay
 * too: the child, single-threaded with every word empty, sets the counter
 * to 0 (found in review: 3 forks in 500 under a burst left 4 MiB counted).
 */
#include "internal.h"

#define SLOTS OBMT_SPAN_DEPOT_SLOTS

#if SLOTS
struct depot_class {
    alignas(64) uint64_t word[SLOTS];
    uint64_t put_ms[SLOTS];
};
static struct depot_class g_depot[OBMT_NSPAN];
static uint64_t g_depot_bytes; /* fetch_add / fetch_sub relaxed: reserved by puts, released by takes */

_Static_assert(OBMT_MAX_ARENAS * OBMT_POOLS_PER_ARENA < ((uint64_t)1 << 32) - 1,
               "a depot word names a pool of the reservation in 32 bits");

static inline uint64_t chain_val(const void *top, unsigned n)
{
    return (uint64_t)n << 32 | ((((uintptr_t)top - arena_base()) >> OBMT_POOL_SHIFT) + 1);
}

static inline void *chain_top(uint64_t v)
{
    return (void *)(arena_base() + (((uintptr_t)(v & 0xffffffffu) - 1) << OBMT_POOL_SHIFT));
}

bool depot_put(unsigned c, void *top, unsigned n, uint64_t t)
{
    uint64_t bytes = (uint64_t)n * span_class_size(c);
    if (obmt_fetch_add_relaxed(&g_depot_bytes, bytes) + bytes > OBMT_SPAN_DEPOT_BYTES) { /* D1 */
        obmt_fetch_sub_relaxed(&g_depot_bytes, bytes); /* D2 */
        return false;
    }
    struct depot_class *d = &g_depot[c];
    uint64_t v = chain_val(top, n);
    for (unsigned i = 0; i < SLOTS; i++) {
        uint64_t zero = 0;
        if (obmt_load_relaxed(&d->word[i]) != 0) /* D3 */
            continue;
        obmt_store_relaxed(&d->put_ms[i], t); /* (before: the purge must not find it old) */
        if (__atomic_compare_exchange_n(&d->word[i], &zero, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) /* D4 */
            return true;
    }
    obmt_fetch_sub_relaxed(&g_depot_bytes, bytes); /* D5: every word holds a chain */
    return false;
}

bool depot_room(unsigned c, uint64_t bytes)
{
    if (obmt_load_relaxed(&g_depot_bytes) + bytes > OBMT_SPAN_DEPOT_BYTES)
        return false;
    for (unsigned i = 0; i < SLOTS; i++)
        if (obmt_load_relaxed(&g_depot[c].word[i]) == 0)
            return true;
    return false;
}

void *depot_take(unsigned c, unsigned *n)
{
    struct depot_class *d = &g_depot[c];
    /* Most misses find the class's words empty: one test of them all (a
     * loop over them had cost an empty miss 34 instructions, now 12). */
    uint64_t any = 0;
#pragma GCC unroll 4
    for (unsigned i = 0; i < SLOTS; i++)
        any |= obmt_load_relaxed(&d->word[i]);
    if (!any)
        return NULL;
    for (unsigned i = 0; i < SLOTS; i++) {
        uint64_t v = obmt_load_relaxed(&d->word[i]) ? __atomic_exchange_n(&d->word[i], 0, __ATOMIC_ACQ_REL) : 0; /* D6 */
        if (!v)
            continue;
        *n = (unsigned)(v >> 32);
        obmt_fetch_sub_relaxed(&g_depot_bytes, (uint64_t)*n * span_class_size(c)); /* D7 */
        return chain_top(v);
    }
    return NULL;
}

void depot_purge(bool now, uint64_t t, long delay)
{
    for (unsigned c = 0; c < OBMT_NSPAN; c++) {
        struct depot_class *d = &g_depot[c];
        for (unsigned i = 0; i < SLOTS; i++) {
            uint64_t v = obmt_load_acquire(&d->word[i]); /* D8 */
            if (!v)
                continue;
            uint64_t put = obmt_load_relaxed(&d->put_ms[i]);
            /* signed: a put after t was read is not old */
            if (!now && (int64_t)(t - put) < (int64_t)delay)
                continue;
            if (!__atomic_compare_exchange_n(&d->word[i], &v, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) /* D9 */
                continue;
            unsigned n = (unsigned)(v >> 32);
            obmt_fetch_sub_relaxed(&g_depot_bytes, (uint64_t)n * span_class_size(c)); /* D10 */
            /* As freed now, not at its put time: a give-back stores its
             * time in the arena (the purge's hint), and an old time would
             * make the arena look idle to this same pass, which would then
             * purge pools that other threads freed a moment ago (found in
             * review). Its pages follow a purge delay later. */
            span_give_chain(c, chain_top(v), n, t);
        }
    }
}

bool depot_drain(uint64_t t)
{
    /* An empty depot, the common case (only grown classes put chains):
     * one load instead of a take per class, 32 of them (about 980
     * instructions a call). Every chain in the depot has its bytes
     * reserved until it is taken (D1 before D4; D7 after D6, D10 after
     * D9), so 0 means none. The counter's operations are relaxed, but the
     * words' are acq_rel: the CAS that put a chain (D4) synchronises with
     * the exchange or CAS that takes it out (D6, D9), so its reservation
     * (D1) comes before the take's fetch_sub (D7, D10) in the counter's
     * order, and every value in that order counts every chain then in a
     * word. A put that a relaxed load does not see yet is one this drain
     * could miss anyway, as it misses puts made behind its loop. */
    if (obmt_load_relaxed(&g_depot_bytes) == 0) /* D11 */
        return false;
    bool gave = false;
    for (unsigned c = 0; c < OBMT_NSPAN; c++) {
        for (unsigned i = 0; i < SLOTS; i++) { /* (at most a take a word: puts may go on meanwhile) */
            unsigned n;
            void *top = depot_take(c, &n);
            if (!top)
                break;
            span_give_chain(c, top, n, t);
            gave = true;
        }
    }
    return gave;
}

void depot_atfork_child(void)
{
    depot_purge(true, os_now_ms(), 0);
    obmt_store_relaxed(&g_depot_bytes, 0);
}

size_t depot_bytes(void)
{
    return obmt_load_relaxed(&g_depot_bytes);
}

#if OBMT_TEST_HOOKS
unsigned depot_chains(unsigned c)
{
    unsigned k = 0;
    for (unsigned i = 0; i < SLOTS; i++)
        k += obmt_load_relaxed(&g_depot[c].word[i]) != 0;
    return k;
}
#endif

#else /* no depot (OBMT_SPAN_DEPOT_SLOTS 0) */
bool depot_put(unsigned c, void *top, unsigned n, uint64_t t) { (void)c, (void)top, (void)n, (void)t; return false; }
void *depot_take(unsigned c, unsigned *n) { (void)c, (void)n; return NULL; }
bool depot_room(unsigned c, uint64_t bytes) { (void)c, (void)bytes; return false; }
void depot_purge(bool now, uint64_t t, long delay) { (void)now, (void)t, (void)delay; }
bool depot_drain(uint64_t t) { (void)t; return false; }
void depot_atfork_child(void) {}
size_t depot_bytes(void) { return 0; }
#if OBMT_TEST_HOOKS
unsigned depot_chains(unsigned c) { (void)c; return 0; }
#endif
#endif
