/*
 * huge.c: blocks above OBMT_MEDIUM_MAX, each in a run of whole arenas.
 *
 * A request of n bytes takes k = ceil(n / arena size) adjacent arenas
 * (arena.c, arena_take_huge_run: wholly free ones first, best fit, else fresh
 * slots at the frontier). The block starts at the first byte of the run, so
 * it is arena-aligned (2 MiB), and every aligned request up to that is
 * served without over-allocating; only a medium block that realloc turned
 * into a huge one where it lay (span_to_huge) starts at a later pool of its
 * first arena, which its head header marks, and the pools before it stay
 * unused (their pages given back) until the run is freed. Free recognises
 * it as it recognises a pool's block, in O(1) from the address and reading
 * only obmt's memory: arena_contains, then the header of the pool it
 * starts in, whose owner is the sentinel OWNER_HUGE. No heap owns a huge block: free's fast path
 * fails its owner test and the slow path (api.c) calls huge_free, from any
 * thread, with or without a heap, lent or not.
 *
 * The head header (the pool the block starts in: pool 0 of the first arena
 * but after span_to_huge):
 *   owner       OWNER_HUGE while the block is live, NULL once freed
 *   count       a generation << 1, | 1 while live (+1 at each allocation;
 *               the free clears the low bit by CAS from the value it
 *               checked: of two racing frees, the second aborts)
 *   huge_run    k
 * The other pools' headers stay reset (size 0, carved_bound 0, owner NULL),
 * so a pointer into them fails free's checks for a pool block and aborts.
 * All of these are written by the claimer before the block is handed out
 * and by its freer; the block reached whoever frees it through the
 * program's own synchronisation, so plain (relaxed) accesses suffice.
 *
 * A freed run becomes wholly free arenas again, resident: a loop that frees
 * and allocates huge blocks pays no page faults for them within the purge
 * delay (OBMT_PURGE_DELAY_MS), after which the purge gives them back to the
 * OS. usable size is the run's whole capacity from the block's start (k
 * arenas, less the pools before a span_to_huge block's start and the final
 * guard page in secure mode): the memory is there. realloc to another huge
 * size keeps the block when the number of arenas does not change, gives
 * the tail back when it shrinks, and grows into the wholly free arenas
 * after the run (or fresh slots, at the frontier) when it can; only
 * otherwise is the block moved (api.c, a quarter larger than asked, so
 * that a growing buffer moves O(log n) times).
 *
 * The cache. Giving a run back and taking it again costs a few atomic
 * read-modify-writes per arena (the state word, the bucket bit): 16 MiB is
 * 8 arenas, about 300 ns a malloc/free pair. So a freed run is first kept
 * whole, still HUGE: in its freeing thread's heap if it has at most
 * OBMT_HUGE_KEEP_ARENAS arenas (the kept run, below), else, and when a
 * kept run makes way, in one of OBMT_HUGE_CACHE words, g_huge_cache[i]:
 *   0, or (arenas << 32) | (first slot + 1): a run that nobody else holds.
 * Each word is an ownership token moved with atomic exchange and CAS (acq_rel:
 * the freer's writes to the block and the header reach the next taker):
 *   - huge_free puts its run in an empty word (CAS from 0), else exchanges
 *     it with the word that `g_huge_cache_next` (a relaxed rotating hint)
 *     points at, and gives back the run it got out;
 *   - huge_malloc looks for a cached run of exactly its k arenas (relaxed
 *     loads) and takes it by exchange with 0 (if another thread took it
 *     first, or put another run there, it puts what it got back and goes
 *     on without the cache); if none has k arenas, it gives every cached
 *     run back (exchange with 0), so that they coalesce with their free
 *     neighbours before the arenas' best-fit search. Measured on a loop of
 *     random sizes (bench_large): without that flush the cached runs sat
 *     apart and the search took fresh memory (93 -> 150 ms, peak 432 ->
 *     445..608 MiB); cutting a larger cached run to size instead of a best
 *     fit over all free arenas cost 472 MiB against 456 for exact sizes
 *     only (432 without a cache);
 *   - span.c's take_new_arena (huge_cache_take_arena) takes the first
 *     non-empty word by exchange with 0, keeps the run's first arena as a
 *     new span arena and puts the rest back with the run's put time (so
 *     that splitting does not keep a run from aging out): resident memory,
 *     and arenas right after it for a buffer that grows out of the medium
 *     sizes there (span_to_huge);
 *   - a huge block that grows (huge_resize_in_place) first looks for the
 *     cached run that starts right after it (cache_take_after: relaxed
 *     loads, then exchange with 0; another run that came out is put back):
 *     its arenas are HUGE already, so they join the block with no change
 *     to their words, and what the block does not need is put back (with
 *     the run's put time)
 *     (realloc_mul15/16777216: the arena words' give-back and claim of the
 *     remainder had been half of the chain's time);
 *   - the purge pass (huge_cache_purge, g_purging held) takes by CAS and
 *     gives back a run put there a purge delay ago or more (by
 *     g_huge_cache_ms[i], a relaxed hint written before the put), as if it
 *     had been given back when it was freed, so that the same pass gives
 *     its pages back: a cached run goes back to the OS as a freed one
 *     would have.
 * No operation compares against a value it read earlier and then acts on
 * the run that value named, except the purge's CAS, which then holds
 * whatever run the word held (the value names the run entirely): no ABA.
 *
 * Statistics: blocks allocated and freed and the live blocks' usable bytes
 * (not changed by a realloc that keeps the number of arenas), counted by
 * the calling thread in its heap (owner-only counters, summed by stats.c),
 * or, by a thread without a heap, in g_huge_*_heapless (fetch_add
 * relaxed): a malloc/free pair pays no atomic read-modify-write for them
 * (it paid four, most of its cost: fastpath_lifo/16777216). The arenas held
 * (the cached runs' included) are counted from the state words
 * (arena_counts).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
#include <sys/single_threaded.h>
#endif

uint64_t g_huge_allocs_heapless, g_huge_frees_heapless;
int64_t g_huge_bytes_heapless;

/* The calling thread's statistics: allocs and frees (0 or 1 each), bytes. */
static void huge_account(uint64_t allocs, uint64_t frees, int64_t bytes)
{
    struct heap *h = heap_counting();
    if (h) {
        obmt_count_add(&h->stats.huge_allocs, allocs);
        obmt_count_add(&h->stats.huge_frees, frees);
        obmt_count_add(&h->stats.huge_bytes, bytes);
    } else {
        obmt_fetch_add_relaxed(&g_huge_allocs_heapless, allocs);
        obmt_fetch_add_relaxed(&g_huge_frees_heapless, frees);
        obmt_fetch_add_relaxed(&g_huge_bytes_heapless, bytes);
    }
}

#ifndef OBMT_HUGE_CACHE
#error "tunables.h defines OBMT_HUGE_CACHE"
#endif
#define CACHE_N (OBMT_SECURE ? 0 : OBMT_HUGE_CACHE)
#if CACHE_N
static uint64_t g_huge_cache[CACHE_N];
static unsigned g_huge_cache_next;         /* relaxed: which word to evict into */
static uint64_t g_huge_cache_ms[CACHE_N];   /* when each was put there: relaxed (a hint) */

static inline uint64_t cache_val(size_t first, size_t k) { return (uint64_t)k << 32 | (first + 1); }
static inline size_t cache_first(uint64_t v) { return (size_t)(v & 0xffffffffu) - 1; }
static inline size_t cache_k(uint64_t v) { return (size_t)(v >> 32); }
_Static_assert(OBMT_MAX_ARENAS < ((size_t)1 << 32), "a cache word holds a slot number in 32 bits");
#endif

#if CACHE_N
/* Keep a freed run in the cache, as freed at time t (now: the time now);
 * give back what that pushes out. */
static void cache_put_at(size_t first, size_t k, uint64_t t, uint64_t now, bool purge)
{
    uint64_t v = cache_val(first, k);
    /* The time goes first, so that a purge pass never pairs this run with
     * an older time than its own (a failed CAS leaves another run's time
     * different from its own: newer, and that run goes back one pass late;
     * or, when t is a split run's old time, older, and it goes back early:
     * a free run given back, never a lost one). */
    for (unsigned i = 0; i < CACHE_N; i++) {
        uint64_t zero = 0;
        if (obmt_load_relaxed(&g_huge_cache[i]) != 0)
            continue;
        obmt_store_relaxed(&g_huge_cache_ms[i], t);
        if (__atomic_compare_exchange_n(&g_huge_cache[i], &zero, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            if (purge)
                arena_maybe_purge_at(now);
            return;
        }
    }
    unsigned i = obmt_load_relaxed(&g_huge_cache_next) % CACHE_N;
    obmt_store_relaxed(&g_huge_cache_next, i + 1);
    obmt_store_relaxed(&g_huge_cache_ms[i], t);
    uint64_t old = __atomic_exchange_n(&g_huge_cache[i], v, __ATOMIC_ACQ_REL);
    if (old)
        arena_give_run(cache_first(old), cache_k(old));
}

static void cache_put(size_t first, size_t k)
{
    uint64_t t = os_now_ms();
    cache_put_at(first, k, t, t, true);
}

/* A cached run of exactly k arenas: its first slot, or SIZE_MAX. */
static size_t cache_take(size_t k)
{
    unsigned best = CACHE_N, cached = 0;
    for (unsigned i = 0; i < CACHE_N; i++) {
        uint64_t v = obmt_load_relaxed(&g_huge_cache[i]);
        cached += v != 0;
        if (v && cache_k(v) == k)
            best = i;
    }
    if (best == CACHE_N) {
        /* None fits: give them all back, so that they coalesce with their
         * free neighbours for this request (the arenas' best fit) rather
         * than sit apart while it takes fresh memory. */
        for (unsigned i = 0; cached && i < CACHE_N; i++) {
            uint64_t v = obmt_load_relaxed(&g_huge_cache[i]) ? __atomic_exchange_n(&g_huge_cache[i], 0, __ATOMIC_ACQ_REL) : 0;
            if (v)
                arena_give_run(cache_first(v), cache_k(v));
        }
        return SIZE_MAX;
    }
    uint64_t v = __atomic_exchange_n(&g_huge_cache[best], 0, __ATOMIC_ACQ_REL);
    if (!v)
        return SIZE_MAX;
    if (cache_k(v) != k) { /* another thread swapped another run in */
        cache_put(cache_first(v), cache_k(v));
        return SIZE_MAX;
    }
    return cache_first(v);
}

size_t huge_cache_take_arena(void)
{
    for (unsigned i = 0; i < CACHE_N; i++) {
        uint64_t v = obmt_load_relaxed(&g_huge_cache[i]) ? __atomic_exchange_n(&g_huge_cache[i], 0, __ATOMIC_ACQ_REL) : 0;
        if (!v)
            continue;
        /* After the exchange, which the putter's CAS or exchange released:
         * this run's time or a later one, never an earlier run's. */
        uint64_t put = obmt_load_relaxed(&g_huge_cache_ms[i]);
        /* The rest stays cached: its arenas stay HUGE, so that a block
         * growing from the first takes them with no change to their words
         * (cache_take_after), and they go back as any cached run would. */
        if (cache_k(v) > 1) /* (as old as the run was: the purge's clock goes on) */
            cache_put_at(cache_first(v) + 1, cache_k(v) - 1, put, os_now_ms(), true);
        return cache_first(v);
    }
    return SIZE_MAX;
}

/* The cached run that starts at slot `first`: its arenas (0 if none), and
 * when it was put there (*put). */
static size_t cache_take_after(size_t first, uint64_t *put)
{
    for (unsigned i = 0; i < CACHE_N; i++) {
        uint64_t v = obmt_load_relaxed(&g_huge_cache[i]);
        if (!v || cache_first(v) != first)
            continue;
        v = __atomic_exchange_n(&g_huge_cache[i], 0, __ATOMIC_ACQ_REL);
        *put = obmt_load_relaxed(&g_huge_cache_ms[i]); /* (after: as above) */
        if (v && cache_first(v) == first)
            return cache_k(v);
        if (v) /* another thread swapped another run in */
            cache_put(cache_first(v), cache_k(v));
        return 0;
    }
    return 0;
}

void huge_cache_purge(bool now, uint64_t t, long delay)
{
    for (unsigned i = 0; i < CACHE_N; i++) {
        uint64_t v = obmt_load_acquire(&g_huge_cache[i]);
        uint64_t put = obmt_load_relaxed(&g_huge_cache_ms[i]);
        /* signed: a put after t was read is not old */
        if (v && (now || (int64_t)(t - put) >= (int64_t)delay) &&
            __atomic_compare_exchange_n(&g_huge_cache[i], &v, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            arena_give_run_at(cache_first(v), cache_k(v), now ? t : put);
    }
}

#else /* no cache (OBMT_HUGE_CACHE 0, or secure mode) */
static void cache_put(size_t first, size_t k) { arena_give_run(first, k); }
static size_t cache_take(size_t k) { (void)k; return SIZE_MAX; }
size_t huge_cache_take_arena(void) { return SIZE_MAX; }
static void cache_put_at(size_t first, size_t k, uint64_t t, uint64_t now, bool purge) { (void)t, (void)now, (void)purge, arena_give_run(first, k); }
static size_t cache_take_after(size_t first, uint64_t *put) { (void)first, (void)put; return 0; }
void huge_cache_purge(bool now, uint64_t t, long delay) { (void)now, (void)t, (void)delay; }
#endif

/* ---- the run each thread keeps --------------------------------------------- */

/* A freed run of up to KEEP_MAX arenas goes first into its freeing thread's
 * heap (heap.huge_kept), and that thread's next malloc of the same number of
 * arenas takes it back: a malloc/free loop of such blocks takes no atomic
 * operation for the cache (the shared words cost an exchange each way:
 * fastpath_lifo/16777216). It is the heap's own, as its span cache is: read
 * and written by its thread inside the busy region, or by a lender holding
 * the heap (huge_keep_flush); relaxed stores, as statistics read it. A
 * malloc of another size moves it to the shared cache first (where, if that
 * has no run of the size either, it coalesces with its free neighbours,
 * cache_take), as does a free that keeps a newer run, a decay that finds it
 * unused for a whole collect period, thread exit, obmt_collect, a lender
 * collecting the idle heap, a realloc that grows a block (keep_release: the
 * block may grow into it) and a new span arena (span.c: it takes a cached
 * run first). A fork child gives a lost thread's run back to its arenas.
 * None is kept where idle heaps cannot be lent (heap.huge_keep_max 0). The
 * run stays HUGE in its arenas' words all the while. */
#define KEEP_MAX (CACHE_N ? OBMT_HUGE_KEEP_ARENAS : 0)

#if KEEP_MAX
/* The calling thread's kept run if it has k arenas (its first slot), else
 * SIZE_MAX, any other kept run moved to the shared cache. */
static size_t keep_take(size_t k)
{
    lend_enter();
    struct heap *h = heap_counting();
    uint64_t v = h ? h->huge_kept : 0;
    if (v)
        obmt_store_relaxed(&h->huge_kept, 0);
    lend_leave();
    if (!v)
        return SIZE_MAX;
    if (cache_k(v) == k)
        return cache_first(v);
    cache_put(cache_first(v), cache_k(v));
    return SIZE_MAX;
}

/* Keep the freed run (first, k) in the calling thread's heap: false if it
 * has none (or is lent). A run kept before goes to the shared cache. */
static bool keep_put(size_t first, size_t k)
{
    if (k > KEEP_MAX)
        return false;
    lend_enter();
    struct heap *h = heap_counting();
    uint64_t old = 0;
    if (h && k > h->huge_keep_max)
        h = NULL; /* (idle heaps cannot be lent: nothing would take an idle thread's run back) */
    if (h) {
        old = h->huge_kept;
        obmt_store_relaxed(&h->huge_kept, cache_val(first, k));
        h->huge_kept_put = 1;
    }
    lend_leave();
    if (old)
        cache_put(cache_first(old), cache_k(old));
    return h != NULL;
}

/* The calling thread's kept run, if any, to the shared cache (outside the
 * busy region). */
static void keep_release(void)
{
    (void)keep_take(0); /* (no run has 0 arenas) */
}

void huge_keep_flush(struct heap *h)
{
    uint64_t v = h->huge_kept;
    if (h->huge_kept_put)
        h->huge_kept_put = 0;
    if (!v)
        return;
    obmt_store_relaxed(&h->huge_kept, 0);
    /* No purge check here: a lender calls this while it holds the heap,
     * and lend.c purges only after giving it back; the other callers tick
     * the purge themselves (heap_ticked, obmt_collect) or are a malloc. */
    uint64_t t = os_now_ms();
    cache_put_at(cache_first(v), cache_k(v), t, t, false);
}

void huge_keep_decay(struct heap *h)
{
    if (!h->huge_kept_put)
        huge_keep_flush(h);
    else
        h->huge_kept_put = 0;
}

void huge_keep_drop(struct heap *h)
{
    /* The child is single-threaded here: the dead thread's run (kept, or
     * being taken or put when it vanished, and so no block of the child's)
     * goes back to its arenas. */
    uint64_t v = h->huge_kept;
    if (!v)
        return;
    obmt_store_relaxed(&h->huge_kept, 0);
    h->huge_kept_put = 0;
    arena_give_run(cache_first(v), cache_k(v));
}

size_t huge_kept_arenas(void)
{
    size_t n = 0;
    uint32_t used = heaps_used();
    for (uint32_t i = 0; i < used; i++) {
        const struct heap *h = heap_at(i);
        if (h)
            n += cache_k(obmt_load_relaxed(&h->huge_kept));
    }
    return n;
}
#else
static size_t keep_take(size_t k) { (void)k; return SIZE_MAX; }
static void keep_release(void) {}
static bool keep_put(size_t first, size_t k) { (void)first, (void)k; return false; }
void huge_keep_flush(struct heap *h) { (void)h; }
void huge_keep_decay(struct heap *h) { (void)h; }
void huge_keep_drop(struct heap *h) { (void)h; }
size_t huge_kept_arenas(void) { return 0; }
#endif

size_t huge_cache_arenas(void)
{
    size_t n = 0;
#if CACHE_N
    for (unsigned i = 0; i < CACHE_N; i++)
        n += cache_k(obmt_load_relaxed(&g_huge_cache[i]));
#endif
    return n;
}

static inline size_t run_capacity(size_t k)
{
    return (k << OBMT_ARENA_SHIFT) - OBMT_POOL_GUARD;
}

/* Where the huge block b starts in its first arena: 0, or a pool's offset
 * after span_to_huge. Its usable size is its run's capacity less that. */
static inline size_t head_offset(const void *b)
{
    return (uintptr_t)b & (OBMT_ARENA_SIZE - 1);
}

/* Arenas a block of n bytes needs (n <= PTRDIFF_MAX: no overflow). */
static inline size_t run_arenas(size_t n)
{
    return (n + OBMT_POOL_GUARD + OBMT_ARENA_SIZE - 1) >> OBMT_ARENA_SHIFT;
}

/* The run at `first` (k arenas, held) becomes a live huge block. */
static void *huge_start(size_t first, size_t k, size_t n, bool zero, bool fresh)
{
    char *b = (char *)(arena_base() + (first << OBMT_ARENA_SHIFT));
    /* Secure mode: the run's arenas came with their guard pages; only the
     * last one stays. */
    if (OBMT_SECURE && os_commit(b, run_capacity(k)) != 0) {
        arena_give_run(first, k);
        errno = ENOMEM;
        return NULL;
    }
    pool_header *p = pool_of(b);
    p->huge_run = k;
    obmt_store_relaxed(&p->count, (((obmt_load_relaxed(&p->count) >> 1) + 1) << 1) | 1);
    obmt_store_relaxed(&p->owner, OWNER_HUGE);
    huge_account(1, 0, (int64_t)run_capacity(k));
    b = VG_ALLOC(b, run_capacity(k));
    if (zero && !fresh)
        memset(b, 0, n);
    else if (zero)
        VG_DEFINED(b, n); /* (zeros already: fresh or decommitted pages) */
    return b;
}

void *huge_malloc(size_t n, bool zero)
{
    if (!obmt_ensure_init())
        return NULL;
    size_t k = run_arenas(n);
    bool fresh = false;
    size_t first = keep_take(k);
    if (first == SIZE_MAX)
        first = cache_take(k);
    if (first == SIZE_MAX && (first = arena_take_huge_run(k, 1, 0, &fresh)) == SIZE_MAX)
        return NULL;
    return huge_start(first, k, n, zero, fresh);
}

void *huge_malloc_aligned(size_t n, size_t align)
{
    if (!obmt_ensure_init())
        return NULL;
    size_t k = run_arenas(n ? n : 1), step = align >> OBMT_ARENA_SHIFT;
    /* The slots whose address is aligned: base + slot * arena size. */
    size_t res = ((align - (arena_base() & (align - 1))) & (align - 1)) >> OBMT_ARENA_SHIFT;
    bool fresh = false;
    size_t first = arena_take_huge_run(k, step, res, &fresh);
    return first == SIZE_MAX ? NULL : huge_start(first, k, n, false, fresh);
}

/* Has this process only ever had one thread? glibc clears
 * __libc_single_threaded at the first pthread_create, for good (2.36 does
 * not set it again in a fork child); while it is set two frees cannot
 * race, and the free's CAS (73% of huge_free's time in a malloc/free loop
 * of 16 MiB blocks, perf) can be a plain store: a second free, later,
 * still reads the cleared bit and aborts. Elsewhere: never. */
static inline bool process_single_threaded(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    return __libc_single_threaded;
#else
    return false;
#endif
}

/* b's header p says OWNER_HUGE: b must be the start of a live huge block.
 * Returns its count word. */
static uint32_t huge_check(pool_header *p, const void *b, const char *what)
{
    /* (The block starts at the start of its head's pool; a pointer into
     * any other pool of the run reads a reset header and never gets here.) */
    if (unlikely((uintptr_t)b & (OBMT_POOL_SIZE - 1)))
        os_fatal(what, b, "inside a huge block");
    uint32_t c = obmt_load_relaxed(&p->count);
    if (unlikely(!(c & 1)))
        os_fatal(what, b, "its huge block is not in use");
    return c;
}

void huge_free(pool_header *p, void *b)
{
    uint32_t c = huge_check(p, b, "free(): invalid pointer");
    /* One of two racing frees of the block wins this CAS; the other aborts
     * (it must not put the run in the cache a second time), also if the
     * block was freed and its pool became the head of another huge block or
     * of a span in between: that bumped the generation in the count word
     * (huge_start, span.c's span_head). A pool block there in between is
     * not caught, as two racing frees of a pool block are not. */
    if (process_single_threaded())
        obmt_store_relaxed(&p->count, c & ~(uint32_t)1); /* (no other thread: nobody races; a later free reads this) */
    else if (unlikely(!__atomic_compare_exchange_n(&p->count, &c, c & ~(uint32_t)1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)))
        os_fatal("free(): double free of", b, "its huge block is not in use");
    size_t k = p->huge_run;
    p->huge_run = 0;
    obmt_store_relaxed(&p->owner, NULL);
    huge_account(0, 1, -(int64_t)(run_capacity(k) - head_offset(b)));
    if (!keep_put(arena_slot_of((uintptr_t)b), k))
        cache_put(arena_slot_of((uintptr_t)b), k);
}

size_t huge_usable(pool_header *p, const void *b, const char *what)
{
    huge_check(p, b, what);
    return run_capacity(p->huge_run) - head_offset(b);
}

void huge_adopt_arena(pool_header *p, void *b, size_t old)
{
    p->huge_run = 1;
    obmt_store_relaxed(&p->count, (((obmt_load_relaxed(&p->count) >> 1) + 1) << 1) | 1);
    obmt_store_relaxed(&p->owner, OWNER_HUGE);
    huge_account(1, 0, (int64_t)(run_capacity(1) - head_offset(b)));
    VG_RESIZE(b, old, run_capacity(1) - head_offset(b));
}

bool huge_resize_in_place(pool_header *p, void *b, size_t n)
{
    size_t cap = huge_usable(p, b, "realloc(): invalid pointer"), k = p->huge_run;
    if (n <= OBMT_MEDIUM_MAX)
        return false; /* (a move into a span: api.c) */
    size_t off = head_offset(b), k2 = run_arenas(n + off);
    if (k2 == k)
        return true;
    /* Secure mode moves the block: its end guard page would have to move. */
    if (OBMT_SECURE)
        return false;
    size_t first = arena_slot_of((uintptr_t)b);
    if (k2 < k) {
        arena_give_run(first + k2, k - k2); /* the tail */
    } else {
        /* A cached run right after it first: its arenas are HUGE already,
         * so they join the block as they are (what they have beyond k2
         * goes back to the cache). The thread's kept run joins the shared
         * ones for that (realloc runs outside the busy region). */
        keep_release();
        uint64_t put = 0;
        size_t m = cache_take_after(first + k, &put);
        if (m && k + m > k2) {
            cache_put_at(first + k2, k + m - k2, put, os_now_ms(), true); /* (as old as the run was) */
            m = k2 - k;
        }
        if (m && k + m < k2 && !arena_grow_run(first, k + m, k2)) {
            cache_put_at(first + k, m, put, os_now_ms(), true); /* (as it was) */
            return false;
        }
        if (!m && !arena_grow_run(first, k, k2))
            return false;
    }
    p->huge_run = k2;
    huge_account(0, 0, (int64_t)(run_capacity(k2) - off) - (int64_t)cap);
    VG_RESIZE(b, cap, run_capacity(k2) - off);
    return true;
}
