/*
 * span.c: medium blocks (OBMT_SMALL_MAX < n <= OBMT_MEDIUM_MAX), each a
 * run of whole pools ("a span") in a span arena.
 *
 * Classes. Four per doubling, every step at most 25%: class c has
 * (5 + c % 4) << (c / 4 + 10) bytes, 5 KiB, 6, 7, 8, 10, 12, 14, 16, 20, ...
 * 896 KiB, 1 MiB; a request takes the smallest class that holds it, and a
 * span of class c is ceil(size / pool size) contiguous pools. The classes
 * below OBMT_SMALL_MAX serve only aligned requests (aligned_malloc). The
 * untouched tail of a span's last pool costs address space, not resident
 * memory.
 *
 * Span arenas. A span arena is an arena held whole (arena_take_run(1): to
 * arena.c it is a one-arena huge run, HUGE in its state word, so pool
 * takers, the purge and huge claimers leave it alone) whose pools are
 * handed out as spans through one word, its free bitmap:
 *   g_span[slot].free  F: bit i set = pool i is free and may be taken.
 * A span is taken by one CAS that clears its k bits from the value it
 * compares against, and given back by one fetch_or of its bits. Adjacent
 * free spans coalesce because adjacent bits do, and a run of k free pools
 * is found with O(log k) word operations (fit_starts), not a scan of the
 * arena. There is no generation and no ABA: every CAS removes set bits
 * from exactly the value it compared against, so a success after any
 * history performs the same removal on the same current value, and a
 * fetch_or sets only bits that its caller holds. F != 0 only while the
 * arena is a span arena: it is set by the thread that made it one (a store:
 * nobody else knows the arena yet), and the arena stops being one only by
 * a CAS of F from all-free to 0 (span_purge, the purge pass: whoever wins
 * it holds every pool, so nobody can give one back after it), then it goes
 * back to arena.c (arena_give_run) as a wholly free arena.
 *   g_span[slot].dirty  D: bit i = pool i's pages may be resident. Set
 *       by the giver (fetch_or relaxed, before its fetch_or of F, which
 *       publishes it), cleared only by the purge for pools it holds.
 *       A taker whose pools all have D clear gets zeros (calloc skips the
 *       memset).
 *   g_span[slot].last_give_ms: when a span was last given back (relaxed
 *       store; the purge's hint).
 * The purge pass (span_purge, with arena.c's g_purging held, so one
 * thread at a time) handles each span arena that has had no span back for
 * the purge delay: one wholly free goes back to arena.c (its pages follow
 * after the delay, as any wholly free arena's); in one partly used, the
 * free pools whose D bits are set are taken with one CAS (T = F & D),
 * their pages given back (arena_decommit_pages, runs of adjacent pools at once),
 * their D bits cleared and the pools given back with one fetch_or. Clean
 * free pools stay takeable meanwhile.
 *
 * Finding a span arena. g_span_avail is a bitmap over slots: bit i set
 * means "arena i may be a span arena with free pools" (a hint; F is the
 * truth). Whoever makes F non-zero (the maker, a giver whose fetch_or
 * found 0) sets the bit after it; a taker whose CAS left F at 0, or a
 * scanner that meets a bit whose F reads 0, clears it and then reads F
 * again, setting the bit again if F is non-zero (the buckets' rule,
 * arena.c): once the threads are done, every arena with free pools has its
 * bit. g_span_whole is a second bitmap, bit i: "arena i may be wholly free"
 * (F == SPAN_POOLS), kept by the same rule: whoever's RMW makes F all free
 * (a giver, the purge's give-back) sets it after (whole_set, M43);
 * whoever's RMW takes F from all free (a take, the retirement, a partial
 * purge) clears it and reads F again (whole_clear, M44). A set bit may be
 * stale (a giver's whole_set that comes after a taker's whole_clear): the
 * takers' second pass and every purge pass clear the stale bits they meet.
 * Until then the first pass passes over that arena, a matter of placement
 * only (F decides what every CAS takes); with the purge off (purge delay
 * -1) a stale bit lasts until the arena is wholly free again or a second
 * pass meets it. A taker first tries the arena it last took from (its
 * heap's hint) while that is at least half full or no emptier than its last
 * take left it; else it scans the avail bits that have no whole bit (in the
 * order of the slots), and among the arenas with room takes from the
 * fullest it meets (stopping at the first that is at least half full): the
 * emptiest drain and go back. Only when none has room does it go over the
 * bits with a whole bit, and take from the first wholly free arena (the
 * last choice, and any is as good as another; when this second pass finds
 * nothing after the first skipped marked arenas, the scan runs again: an
 * arena whose bit went between the passes is in neither): with many wholly
 * free arenas (a burst given back, before the purge retires them) a take no
 * longer reads every one's F, about 400 instructions a 1 MiB take that way.
 * Within an arena it takes the start of the shortest free stretch that
 * holds the span (best fit: long stretches stay whole for large spans), and
 * a cache miss's batch (below) the spans after it in the same stretch, the
 * caller the highest of them. With no room anywhere it makes a new span
 * arena (arena_take_run: a wholly free arena first, else a fresh one).
 *
 * Growing buffers. Past OBMT_MEDIUM_MAX (up to what the arena holds from
 * the span's start on, in one realloc), a span whose arena has no other
 * span, or none but spans in the calling thread's own cache, becomes a huge
 * block of that arena where it lies (span_to_huge, M38: one CAS of F from
 * exactly the bits of the pools the caller does not hold to 0, which, like
 * a retirement, makes its winner hold every pool; to arena.c the arena is
 * a one-arena huge run already; the cached spans leave the cache, and the
 * pools before the block give their pages back until the run is freed),
 * which then grows into the arenas after it (huge.c). A new span arena is
 * the first arena of a cached huge run when there is one (resident, and
 * the run's other arenas, still cached, are where such a block grows
 * next), else arena.c's. (Moving a growing span to pool 0 of an arena of
 * its own, so that it could always do this, was measured and left out: N
 * buffers realloc'd past 256 KiB then held N arenas, up to 4x the commit
 * charge.)
 *
 * Chains. A buffer that realloc grows step by step through the pool
 * classes paid a copy at every step (realloc_mul15/65536: 15 copies, 16
 * KiB copied, a chain; glibc grows it in place at the top of its heap).
 * Now a growing pool block that the thread's previous growing move
 * returned (a chain: the heap's chain.last, owner-only) moves into a span of
 * the smallest class at once, whatever its size, and grows on there in
 * place (its small steps kept without a call: obmt_realloc). The cost is
 * a pool's span for a small buffer, so a heap holds at most
 * OBMT_REALLOC_CHAIN_SPANS of them (the state stays with the heap when a
 * new thread takes it: short-lived threads do not each add as many): a
 * slot is free again once its span is no longer a live span of the
 * smallest class (freed, or grown past it), which a look at its head
 * tells (relaxed loads: the pool may be anyone's by now, a wrong answer
 * is a wrong hint; heap.c and pool.c store nextpool relaxed for this);
 * once a look found every slot taken, each chain looks at one in turn. A
 * chain's span is not moved back into a pool block when it shrinks. A
 * thread without a heap of its own (lent, or none yet) makes no chains.
 * Such a span goes where any span goes, except after a span of the thread
 * outgrew the medium sizes: the next chain's span then starts an arena
 * (an aligned take, a cached huge run's first arena where no span arena
 * has pool 0 free), so that it too can become a huge block where it lies
 * (with a live medium block at the start of the arena every chain of
 * realloc_mul15/16777216 copied 1 MiB: 0.7 M reallocs/s, not 35). One
 * arena start a chain that outgrew: no more than the huge run it left.
 * A span that grows into pools held by spans in the thread's own cache
 * (the first such pool's head says cached) takes those out of the cache (grow_from_cache: a chain of 256 KiB met the
 * spans earlier chains had left cached right after it), and takes from F
 * by its CAS only what the tail still needs (M33, M58, M59).
 *
 * Spin model 9 (tests/model/span_arena.pml) checks these steps with two
 * takers/givers, the purge (partial purge and retirement) and a maker,
 * and both hints' bits (tags M*, tests/model/MAPPING.md).
 *
 * The head header (pool_of the span's first byte):
 *   owner     OWNER_SPAN while the block is live or in a thread's cache,
 *             NULL once its pools are back in the arena
 *   nextpool  SPAN_LIVE while live; while cached, the next span down its
 *             class's stack in the caching heap (a link, never SPAN_LIVE);
 *             NULL once given back. The free tests it against SPAN_LIVE
 *             and its push onto the stack overwrites it with the link: a
 *             free, a realloc or a usable-size query of a freed block,
 *             cached or not, aborts (relaxed stores; two threads freeing
 *             one block at the same moment are not both caught, as for
 *             pool blocks, unless both give its pools back: give_pools).
 *             The live mark is where the stacks' link is, so that malloc's
 *             pop marks the span live with one constant store and free's
 *             push clears the mark with the link it writes anyway (it had
 *             been count's low bit: a load, an or and a store in malloc, an
 *             and and a store in free)
 *   count     a generation << 1 (bumped each time the pool becomes a
 *             span's head: huge_free's CAS, below)
 *   szidx     OBMT_SZ_SPAN0 + class
 *   huge_run  pools in the span
 * The other pools' headers stay reset (owner NULL, carved_bound 0), so a
 * pointer into them fails free's checks of a pool block and aborts; a
 * pointer into the head pool past its first byte aborts here. The block
 * reached whoever frees it or asks its size through the program's own
 * synchronisation, so plain (relaxed) accesses suffice.
 *
 * No heap is involved: malloc and free of a span work the same in every
 * thread, with a heap or without, lent or not; only the statistics go to
 * the calling thread's heap (owner-only counters) or to globals.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define NPOOLS OBMT_POOLS_PER_ARENA
/* The pools a span arena hands out: all of them, but in secure mode the
 * last, whose end page is the arena's guard. */
#define ALL_POOLS (NPOOLS == 64 ? ~(uint64_t)0 : ((uint64_t)1 << NPOOLS) - 1)
#define SPAN_POOLS (OBMT_SECURE ? ALL_POOLS >> 1 : ALL_POOLS)

_Static_assert(OBMT_SMALL_MAX >= 4096, "span classes start above 4 KiB");
_Static_assert(((OBMT_MEDIUM_MAX + OBMT_POOL_SIZE - 1) >> OBMT_POOL_SHIFT) < NPOOLS,
               "a span of the largest medium class fits an arena, with a pool to spare");
_Static_assert(OBMT_SZ_SPAN0 >= OBMT_NCLASSES && OBMT_SZ_SPAN0 + OBMT_NSPAN <= 0xffff, "span szidx");

struct span_arena {
    alignas(64) uint64_t free;  /* F */
    uint64_t dirty;             /* D */
    uint64_t last_give_ms;
};

/* Sized by the window (span_tables_place, before READY; written once): a
 * span_arena a slot, and a bit a slot. */
static struct span_arena *g_span;
static uint64_t *g_span_avail;
static uint64_t *g_span_whole;
size_t span_tables_bytes(size_t nslots)
{
    return TABLE_ROUND(nslots * sizeof(struct span_arena)) + 2 * TABLE_ROUND((nslots + 63) / 64 * sizeof(uint64_t));
}

void span_tables_place(char *mem, size_t nslots)
{
    size_t bits = TABLE_ROUND((nslots + 63) / 64 * sizeof(uint64_t));
    g_span = (struct span_arena *)mem;
    g_span_avail = (uint64_t *)(mem + TABLE_ROUND(nslots * sizeof(struct span_arena)));
    g_span_whole = (uint64_t *)((char *)g_span_avail + bits);
}

static size_t g_span_arenas;     /* span arenas now (fetch_add/sub relaxed): statistics */
static uint64_t g_span_pools_purged; /* statistics (purge pass only) */

uint64_t g_span_allocs_heapless, g_span_frees_heapless;
int64_t g_span_bytes_heapless;

/* ---- classes ---------------------------------------------------------- */

size_t span_class_size(unsigned c)
{
    return (size_t)(5 + (c & 3)) << (c / 4 + 10);
}

/* The class of n as a table by KiB: class boundaries are whole KiB, so
 * every n in ((i) KiB, (i + 1) KiB] has the class of (i + 1) KiB, whose
 * m = n - 1 has its top bit lg and its next two bits t: class
 * (lg - 12) * 4 + t. A load instead of a dozen instructions on malloc's
 * cache hit; entries at 4 KiB and below are never read (medium requests
 * are above OBMT_SMALL_MAX). */
#define CLASS_OF_M(m) ((63u - (unsigned)__builtin_clzll(m) - 12) * 4 + (unsigned)(((m) >> (61u - (unsigned)__builtin_clzll(m))) & 3))
#define CK1(i) (uint8_t)((i) < 4 ? 0 : CLASS_OF_M((unsigned long long)((i) + 1) * 1024 - 1))
#define CK4(i) CK1(i), CK1((i) + 1), CK1((i) + 2), CK1((i) + 3)
#define CK16(i) CK4(i), CK4((i) + 4), CK4((i) + 8), CK4((i) + 12)
#define CK64(i) CK16(i), CK16((i) + 16), CK16((i) + 32), CK16((i) + 48)
#define CK256(i) CK64(i), CK64((i) + 64), CK64((i) + 128), CK64((i) + 192)
const uint8_t span_class_kib[1024] = { CK256(0), CK256(256), CK256(512), CK256(768) };
_Static_assert((OBMT_MEDIUM_MAX >> 10) <= 1024, "span_class_kib covers OBMT_MEDIUM_MAX");


/* The sizes as a table, for the cache's paths (a load instead of the
 * arithmetic). */
#define SZ4(lg) (5u << (lg)), (6u << (lg)), (7u << (lg)), (8u << (lg))
static const uint32_t span_size_table[OBMT_NSPAN] = { SZ4(10), SZ4(11), SZ4(12), SZ4(13),
                                                      SZ4(14), SZ4(15), SZ4(16), SZ4(17) };
_Static_assert(OBMT_NSPAN == 32, "span_size_table has 32 classes");

static inline unsigned span_class_pools(unsigned c)
{
    return (unsigned)((span_class_size(c) + OBMT_POOL_SIZE - 1) >> OBMT_POOL_SHIFT);
}

static inline uint64_t run_bits(unsigned idx, unsigned k)
{
    return (((uint64_t)1 << k) - 1) << idx; /* k < 64 */
}

/* ---- statistics --------------------------------------------------------- */


static void span_account(uint64_t allocs, uint64_t frees, int64_t bytes)
{
    struct heap *h = heap_counting();
    if (h) {
        obmt_count_add(&h->stats.span_allocs, allocs);
        obmt_count_add(&h->stats.span_frees, frees);
        obmt_count_add(&h->stats.span_bytes, bytes);
    } else {
        obmt_fetch_add_relaxed(&g_span_allocs_heapless, allocs);
        obmt_fetch_add_relaxed(&g_span_frees_heapless, frees);
        obmt_fetch_add_relaxed(&g_span_bytes_heapless, bytes);
    }
}

size_t span_arenas(void) { return obmt_load_relaxed(&g_span_arenas); }
uint64_t span_pools_purged(void) { return obmt_load_relaxed(&g_span_pools_purged); }

/* ---- the availability hints ------------------------------------------- */

/* M1: after the RMW that made F non-zero. With M2 this is Dekker's
 * pattern (a setter: RMW of F, then load of the bit; a clearer: RMW of the
 * bit, then load of F): all four are seq_cst, so that one of the two sees
 * the other (with a relaxed load here or an acq_rel clear, both may read
 * the old value on arm64 or POWER, and an arena with free pools is left
 * without its bit for good: model 9's -DWEAK_AVAIL_SET). On x86-64 a
 * seq_cst load is a plain load. */
static inline void avail_set(size_t slot)
{
    uint64_t bit = (uint64_t)1 << (slot & 63);
    if (!(__atomic_load_n(&g_span_avail[slot >> 6], __ATOMIC_SEQ_CST) & bit))
        __atomic_fetch_or(&g_span_avail[slot >> 6], bit, __ATOMIC_SEQ_CST);
}

/* M2: F was seen 0. Clear the bit, then read F again: set it back if some
 * giver made F non-zero meanwhile (its own set may have come before our
 * clear). */
static void avail_clear(size_t slot)
{
    uint64_t bit = (uint64_t)1 << (slot & 63);
    __atomic_fetch_and(&g_span_avail[slot >> 6], ~bit, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&g_span[slot].free, __ATOMIC_SEQ_CST) != 0)
        __atomic_fetch_or(&g_span_avail[slot >> 6], bit, __ATOMIC_SEQ_CST);
}

/* M43: after the RMW that made F all free (SPAN_POOLS). The same Dekker
 * pattern as M1/M2, between this and whole_clear: seq_cst on all four. */
static inline void whole_set(size_t slot)
{
    uint64_t bit = (uint64_t)1 << (slot & 63);
    if (!(__atomic_load_n(&g_span_whole[slot >> 6], __ATOMIC_SEQ_CST) & bit))
        __atomic_fetch_or(&g_span_whole[slot >> 6], bit, __ATOMIC_SEQ_CST);
}

/* M44: F went from all free to less (a take, the purge), or a scanner saw
 * the bit set with F not all free. Clear the bit, then read F again: set
 * it back if some giver made F all free meanwhile. */
static void whole_clear(size_t slot)
{
    uint64_t bit = (uint64_t)1 << (slot & 63);
    __atomic_fetch_and(&g_span_whole[slot >> 6], ~bit, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&g_span[slot].free, __ATOMIC_SEQ_CST) == SPAN_POOLS)
        __atomic_fetch_or(&g_span_whole[slot >> 6], bit, __ATOMIC_SEQ_CST);
}

/* ---- finding room in an arena ----------------------------------------- */

/* Bit i of the result: pools i..i+k-1 are all set in x (k >= 1). Runs of
 * 1, 2, 4, ... pools by doubling, up to the largest power of two s <= k,
 * then one more step over the last k - s pools (which overlaps the first
 * s: k - s <= s): four instructions a step. (A loop that took the smaller
 * of `have` and `k - have` at each step cost 12 a step, and the scans of
 * take_from_arenas call this for every arena they visit: with 256 live
 * blocks of 9-256 KiB, 6 million of 84.6 million instructions.) */
static inline uint64_t fit_starts(uint64_t x, unsigned k)
{
    uint64_t r = x;
    unsigned s = 1;
    for (; 2 * s <= k; s *= 2)
        r &= r >> s;
    if (k > s)
        r &= r >> (k - s);
    return r;
}

/* Where in x a span of k pools goes: the start of the shortest maximal
 * stretch of free pools that holds it (lowest among equals), or, with an
 * alignment (amask: the allowed starts), the lowest allowed start. NPOOLS
 * when none. */
static unsigned fit_place(uint64_t x, unsigned k, uint64_t amask)
{
    uint64_t r = fit_starts(x, k) & amask;
    if (!r)
        return NPOOLS;
    if (amask != SPAN_POOLS)
        return (unsigned)__builtin_ctzll(r);
    unsigned best = NPOOLS, best_len = NPOOLS + 1;
    while (x) {
        unsigned lo = (unsigned)__builtin_ctzll(x);
        uint64_t rest = ~(x >> lo);
        unsigned len = rest ? (unsigned)__builtin_ctzll(rest) : 64 - lo;
        if (len >= k && len < best_len) {
            best = lo;
            best_len = len;
            if (len == k)
                break;
        }
        x = lo + len >= 64 ? 0 : x & ~(((uint64_t)1 << (lo + len)) - 1);
    }
    return best;
}

/* ---- taking and giving ------------------------------------------------ */

#if defined(__x86_64__) && !defined(__POPCNT__)
/* x86-64's baseline has no popcnt instruction, and the compiler's builtin
 * would call libgcc's __popcountdi2: the CPU is asked once, at load (a
 * constructor; a malloc before it, from another library's constructor,
 * counts in software, as on a CPU without popcnt). Written before any
 * thread of the program starts, read plainly after. */
static bool g_has_popcnt;

__attribute__((constructor)) static void popcnt_detect(void)
{
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    g_has_popcnt = (c >> 23) & 1; /* CPUID.1:ECX.POPCNT */
}
#endif

/* Bits set in x: the span arenas' scans count each arena's free pools
 * (take_from_arenas). In software that is 12 instructions; with popcnt,
 * callgrind over random medium sizes (bench/results/2026-12-02-span-
 * quotas.md's harness) gives 205.7 -> 197.9 instructions an operation
 * with 256 live blocks of 9-256 KiB and 638.5 -> 580.1 with 32 of 9 KiB-1
 * MiB, whose takes scan the most. */
static inline unsigned popcount64(uint64_t x)
{
#if defined(__x86_64__) && !defined(__POPCNT__)
    if (likely(g_has_popcnt)) {
        uint64_t n;
        __asm__("popcnt %1, %0" : "=r"(n) : "rm"(x) : "cc");
        return (unsigned)n;
    }
#elif defined(__aarch64__) || defined(__POPCNT__)
    return (unsigned)__builtin_popcountll(x); /* (one instruction, or a few NEON ones) */
#endif
    x = x - ((x >> 1) & 0x5555555555555555u);
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
    return (unsigned)((x * 0x0101010101010101u) >> 56);
}

/* The CAS of a take (M3) on the arena in `slot`, from x: a span of k
 * pools where fit_place puts it and, with want > 1 (no alignment then),
 * up to want - 1 more right after it in the same free stretch, all
 * removed by one CAS; retried while one fits. Returns their pools' bits,
 * one run (0: none fits any more); *dirty: D's bits of them, *left: free
 * pools after. */
static uint64_t take_at(size_t slot, uint64_t x, unsigned k, uint64_t amask, unsigned want, uint64_t *dirty,
                        unsigned *left)
{
    for (;;) {
        unsigned idx = fit_place(x, k, amask);
        if (idx >= NPOOLS)
            return 0; /* taken meanwhile */
        unsigned m = 1;
        if (want > 1) {
            uint64_t used = ~(x >> idx);
            unsigned len = used ? (unsigned)__builtin_ctzll(used) : 64 - idx;
            m = len / k < want ? len / k : want;
            while (k * m > 63)
                m--; /* (run_bits) */
        }
        uint64_t got = run_bits(idx, k * m);
        if (__atomic_compare_exchange_n(&g_span[slot].free, &x, x & ~got, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
            if ((x & ~got) == 0)
                avail_clear(slot); /* M2 */
            if (x == SPAN_POOLS)
                whole_clear(slot); /* M44 */
            *dirty = obmt_load_relaxed(&g_span[slot].dirty) & got;
            *left = popcount64(x & ~got);
            return got;
        }
    }
}

/* The arena to take from: the thread's hint arena while the span fits
 * there and the arena is at least half full or no emptier than after the
 * thread's last take from it (nobody gave pools back: it is still what
 * the scan chose, the fullest with room, or fuller), else the fullest
 * with room that the scan meets. Returns what take_at does, *at the
 * arena's slot. */
static uint64_t take_from_arenas(struct heap *h, unsigned k, uint64_t amask, unsigned want, size_t *at,
                                 uint64_t *dirty, unsigned *left)
{
    /* The hint first: the scan below would stop at the first arena at
     * least half full anyway, and this one's lines are likely in this
     * core's cache. Taking a batch of spans emptied half an arena's pools
     * without a rescan, where a scan per take of an arena that was not yet
     * half full cost fastpath_batch/65536 half its time. */
    size_t hint = h->span_hint;
    if (hint) {
        uint64_t x = obmt_load_acquire(&g_span[hint - 1].free);
        unsigned nf = popcount64(x);
        if (x && (nf <= NPOOLS / 2 || nf <= h->span_hint_free) && (fit_starts(x, k) & amask)) {
            uint64_t got = take_at(hint - 1, x, k, amask, want, dirty, left);
            if (got) {
                *at = hint - 1;
                return got;
            }
        }
    }
    size_t nwords = (arena_slots_used() + 63) >> 6;
    for (int round = 0; round < 8; round++) {
        size_t best = SIZE_MAX;
        unsigned best_free = NPOOLS + 1;
        bool skipped = false; /* the first pass passed over marked arenas */
        /* The arenas not marked wholly free: the fullest with room. */
        for (size_t w = 0; w < nwords && best_free > NPOOLS / 2; w++) {
            uint64_t whole = obmt_load_relaxed(&g_span_whole[w]);
            uint64_t avail = obmt_load_relaxed(&g_span_avail[w]);
            uint64_t bits = avail & ~whole;
            skipped |= (avail & whole) != 0;
            while (bits && best_free > NPOOLS / 2) {
                size_t slot = (w << 6) + (size_t)__builtin_ctzll(bits);
                bits &= bits - 1;
                uint64_t x = obmt_load_acquire(&g_span[slot].free);
                if (!x) {
                    avail_clear(slot); /* M2: stale */
                    continue;
                }
                if (x == SPAN_POOLS) { /* (its whole bit comes right after its give) */
                    if (best == SIZE_MAX) {
                        best = slot;
                        best_free = NPOOLS;
                    }
                    continue;
                }
                unsigned nf = popcount64(x);
                if (nf < best_free && (fit_starts(x, k) & amask)) {
                    best = slot;
                    best_free = nf;
                }
            }
        }
#if OBMT_TEST_HOOKS
        if (span_scan_test_hook && best == SIZE_MAX)
            span_scan_test_hook();
#endif
        /* None: the first wholly free one met (the last choice, and any
         * such is as good as another), so that a take does not read every
         * wholly free arena's line. A bit met whose F is not all free is
         * stale (M44 clears it): that arena is taken from if the span fits
         * there, as one of the arenas above would have been. */
        for (size_t w = 0; w < nwords && best == SIZE_MAX; w++) {
            uint64_t bits = obmt_load_relaxed(&g_span_avail[w]) & obmt_load_relaxed(&g_span_whole[w]);
            while (bits && best == SIZE_MAX) {
                size_t slot = (w << 6) + (size_t)__builtin_ctzll(bits);
                bits &= bits - 1;
                uint64_t x = obmt_load_acquire(&g_span[slot].free);
                if (x == SPAN_POOLS) {
                    best = slot;
                    continue;
                }
                whole_clear(slot); /* M44: stale */
                if (!x)
                    avail_clear(slot); /* M2: stale, and F 0 */
                else if (fit_starts(x, k) & amask)
                    best = slot;
            }
        }
        /* Nothing: scan again if the first pass skipped marked arenas. The
         * second reads the words again, and an arena whose bit went
         * meanwhile (a take from it, a stale bit cleared) is in neither
         * pass: without this round, a take made a new span arena while
         * that one had room. */
        if (best == SIZE_MAX) {
            if (skipped)
                continue;
            return 0;
        }
        /* M3: the take, one CAS from the value the place was computed from. */
        uint64_t got = take_at(best, obmt_load_acquire(&g_span[best].free), k, amask, want, dirty, left);
        if (got) {
            *at = best;
            return got;
        }
        /* (taken meanwhile: scan again) */
    }
    return 0;
}

/* A new span arena with `want` spans of k pools from pool 0 on (fewer if
 * they do not fit; want is 1 with an alignment: the span at pool 0 is
 * aligned for any alignment up to the arena's).
 * Returns their pools' bits, or 0; *at its slot, *dirty and *left as
 * take_at's. */
static uint64_t take_new_arena(unsigned k, unsigned want, size_t *at, uint64_t *dirty, unsigned *left)
{
    bool zero = false;
    /* A cached huge run first: resident memory, with free arenas after it
     * (where a buffer that outgrows the medium sizes grows in place). */
    size_t slot = huge_cache_take_arena();
    if (slot == SIZE_MAX && (slot = arena_take_run(1, &zero)) == SIZE_MAX)
        return 0;
    arena_thp_leave(slot); /* (a cached run's arena, or a former run's: no huge page for a span) */
    char *base = (char *)(arena_base() + (slot << OBMT_ARENA_SHIFT));
    /* Secure mode: guard pages inside the arena go (OBMT_GUARD_EVERY_POOL);
     * the arena's last one stays, and its pool is never handed out. */
    if (OBMT_SECURE && os_commit(base, OBMT_ARENA_SIZE - OBMT_POOL_GUARD) != 0) {
        arena_give_run(slot, 1);
        errno = ENOMEM;
        return 0;
    }
    /* Under valgrind, no pool of it is the program's yet (a pool arena's
     * pools before may have been left accessible): overruns past a span
     * into a free pool are seen. */
    VG_NOACCESS(base, OBMT_ARENA_SIZE - OBMT_POOL_GUARD);
    struct span_arena *a = &g_span[slot];
    if (want > 1 && k * want > NPOOLS - 1)
        want = (NPOOLS - 1) / k > 1 ? (NPOOLS - 1) / k : 1; /* (k * want < 64: run_bits; secure mode's last pool stays free) */
    uint64_t run = run_bits(0, k * want);
    obmt_store_relaxed(&a->dirty, zero ? 0 : SPAN_POOLS);
    obmt_store_relaxed(&a->last_give_ms, os_now_ms());
    obmt_fetch_add_relaxed(&g_span_arenas, 1);
    /* M4: nobody else knows the arena: a store publishes it. */
    __atomic_store_n(&a->free, SPAN_POOLS & ~run, __ATOMIC_SEQ_CST);
    avail_set(slot); /* M1 */
    *at = slot;
    *dirty = zero ? 0 : run;
    *left = popcount64(SPAN_POOLS & ~run);
    return run;
}

/* Give pools `run` of the span arena in `slot` back (the caller holds
 * them: one span, or several given back together by a cache's flush). */
static void give_pools(size_t slot, uint64_t run, uint64_t t)
{
    struct span_arena *a = &g_span[slot];
    obmt_store_relaxed(&a->last_give_ms, t);
    obmt_fetch_or_relaxed(&a->dirty, run); /* M5: published by the fetch_or below */
    uint64_t old = __atomic_fetch_or(&a->free, run, __ATOMIC_SEQ_CST); /* M6 */
    if (unlikely(old & run))
        os_fatal("free(): double free of",
                 (void *)(arena_base() + (slot << OBMT_ARENA_SHIFT) + ((size_t)__builtin_ctzll(old & run) << OBMT_POOL_SHIFT)),
                 "a pool of its medium block was free already");
    if (old == 0)
        avail_set(slot); /* M1 */
    if ((old | run) == SPAN_POOLS)
        whole_set(slot); /* M43 */
}

/* ---- the purge ---------------------------------------------------------- */

/* Decommit the pools `bits` of the arena at `base`, runs of adjacent pools
 * with one call each; the pools whose pages went. */
static uint64_t decommit_pools(char *base, uint64_t bits)
{
    uint64_t done = 0;
    while (bits) {
        unsigned lo = (unsigned)__builtin_ctzll(bits);
        uint64_t rest = ~(bits >> lo);
        unsigned len = rest ? (unsigned)__builtin_ctzll(rest) : 64 - lo;
        uint64_t run = len >= 64 ? ~(uint64_t)0 : run_bits(lo, len);
        if (arena_decommit_pages(base + ((size_t)lo << OBMT_POOL_SHIFT), (size_t)len << OBMT_POOL_SHIFT) == 0)
            done |= run;
        bits &= ~run;
    }
    return done;
}

void span_purge(bool now, uint64_t t, long delay)
{
    size_t nwords = (arena_slots_used() + 63) >> 6;
    for (size_t w = 0; w < nwords; w++) {
        uint64_t avail = obmt_load_relaxed(&g_span_avail[w]);
        uint64_t whole = obmt_load_relaxed(&g_span_whole[w]);
        uint64_t bits = avail | whole;
        while (bits) {
            size_t slot = (w << 6) + (size_t)__builtin_ctzll(bits);
            uint64_t bit = bits & -bits;
            bits &= bits - 1;
            struct span_arena *a = &g_span[slot];
            /* F first: a give it shows has its time stored (before its
             * fetch_or) and seen here. Signed: a give after t was read is
             * not old. */
            uint64_t x = obmt_load_acquire(&a->free);
            /* A whole bit whose arena is not all free is stale (a give's
             * whole_set after a take's or the retirement's whole_clear):
             * every pass clears such bits, so that a partly used arena is
             * not passed over by the takers' first scan for long. */
            if ((whole & bit) && x != SPAN_POOLS)
                whole_clear(slot); /* M44: stale */
            if (!(avail & bit))
                continue;
            if (!now && (int64_t)(t - obmt_load_relaxed(&a->last_give_ms)) < (int64_t)delay)
                continue;
            if (x == SPAN_POOLS) {
                /* M7: wholly free: retire it. Whoever wins holds every pool. */
                if (!__atomic_compare_exchange_n(&a->free, &x, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                    continue;
                avail_clear(slot); /* M2 (F is 0 for good: only a new maker sets it) */
                whole_clear(slot); /* M44 */
                obmt_store_relaxed(&a->dirty, 0);
                obmt_fetch_sub_relaxed(&g_span_arenas, 1);
                /* As if given back when its last span was: the same pass
                 * decommits it once that is a delay ago (arena.c). */
                arena_give_run_at(slot, 1, now ? t : obmt_load_relaxed(&a->last_give_ms));
                continue;
            }
            /* M8: take the free pools that may hold pages, one CAS. */
            uint64_t T;
            for (;;) {
                T = x & obmt_load_relaxed(&a->dirty);
                if (!T || __atomic_compare_exchange_n(&a->free, &x, x & ~T, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
                    break;
            }
            if (!T)
                continue;
            if ((x & ~T) == 0)
                avail_clear(slot); /* M2 */
            if (x == SPAN_POOLS)
                whole_clear(slot); /* M44 (it became all free after the load above) */
            uint64_t done = decommit_pools((char *)(arena_base() + (slot << OBMT_ARENA_SHIFT)), T);
            obmt_fetch_add_relaxed(&g_span_pools_purged, (uint64_t)__builtin_popcountll(done));
            obmt_fetch_and_relaxed(&a->dirty, ~done); /* M9: we hold T: no giver sets these bits now */
            uint64_t old = __atomic_fetch_or(&a->free, T, __ATOMIC_SEQ_CST); /* M10 */
            if (old == 0)
                avail_set(slot); /* M1 */
            if ((old | T) == SPAN_POOLS)
                whole_set(slot); /* M43 */
        }
    }
}

/* ---- blocks --------------------------------------------------------------- */

/* ---- the per-thread cache ------------------------------------------------ */

/* A class's cached spans are a stack linked through their head headers'
 * nextpool (owner-only; a span head has no pool list), newest first:
 * span_cache[c] the top, span_stack[c].n how many. The head of a cached
 * span says freed (nextpool a link, not SPAN_LIVE; owner OWNER_SPAN,
 * huge_run and szidx kept): a free of it aborts.
 *
 * A class's stack holds at most span_stack[c].max spans: OBMT_SPAN_CACHE_DEPTH,
 * or fewer where they would take more than half the budget (one at least,
 * if it fits), so that one class cannot keep the others out.
 *
 * Batches. A miss takes span_cache_batch[c] more spans of its class with
 * the same CAS, right below the caller's in its free stretch (take_at:
 * into the cache, within the budget), and a put that finds the class's
 * stack full gives back its newest half, the spans of one arena with one
 * fetch_or (give_spans), or, in a grown class (cache_grow, below), as one
 * chain into the span depot (span_depot.c), from which the next miss of the
 * class in any thread takes it whole before it looks at the arenas: a loop of 256 mallocs then 256 frees of
 * 64 KiB (a stack of 16 there: half the budget) takes one atomic
 * operation per nine blocks each way, not one per block
 * (fastpath_batch/65536; per 17 for classes whose stack is the full 32). The batch starts at 0 and grows with each
 * miss (1, 3, ... up to half the stack; it goes back to 0 when the class
 * decays), as tcmalloc's free lists start slow: a program that mallocs a
 * medium block now and then does not hold a batch of them. */

static inline void cache_push(struct heap *h, unsigned c, void *b, pool_header *p)
{
    /* (relaxed: also the live mark's clear, which a racing second free
     * of the block may read: span_check) */
    obmt_store_relaxed(&p->nextpool, (pool_header *)h->span_cache[c]);
    h->span_cache[c] = b;
    h->span_stack[c].n++;
}

static void give_span_head(void *b);

/* Give back the spans of class c in v[0..n), the heads of them reset: one
 * fetch_or per arena among them. */
static inline __attribute__((always_inline)) void give_spans(void **v, unsigned n, unsigned c, uint64_t t)
{
    unsigned k = span_class_pools(c);
    uint64_t done = 0; /* n <= 64 */
    for (unsigned i = 0; i < n; i++) {
        if (done >> i & 1)
            continue;
        size_t slot = ((uintptr_t)v[i] - arena_base()) >> OBMT_ARENA_SHIFT;
        uint64_t bits = 0;
        for (unsigned j = i; j < n; j++) {
            uintptr_t off = (uintptr_t)v[j] - arena_base();
            if (off >> OBMT_ARENA_SHIFT != slot)
                continue;
            give_span_head(v[j]);
            bits |= run_bits((unsigned)((off >> OBMT_POOL_SHIFT) & (NPOOLS - 1)), k);
            done |= (uint64_t)1 << j;
        }
        give_pools(slot, bits, t);
    }
}

/* Give back the 64 cached spans of class c from b down its stack (a trim
 * of a grown stack, beyond what one give_spans takes); returns the span
 * below them. */
static OBMT_NOINLINE void *give_64(void *b, unsigned c, uint64_t t)
{
    void *v[64];
    for (unsigned i = 0; i < 64; i++, b = pool_of(b)->nextpool)
        v[i] = b;
    give_spans(v, 64, c, t);
    return b;
}

/* The stack's top m spans leave it (top: the first of them, b: the span
 * below them), counted out. The stack and its counts change before any of
 * them is given back: a span given back may be taken by another thread at
 * once (and counted live there), and a fork child walks the stack from
 * its top (span_cache_drop). */
static inline void cache_cut(struct heap *h, unsigned c, unsigned keep, unsigned m, void *b)
{
    h->span_cache[c] = b;
    h->span_stack[c].n = (uint16_t)keep;
    int64_t bytes = (int64_t)m * (int64_t)span_size_table[c];
    obmt_store_relaxed(&h->span_cached_bytes, h->span_cached_bytes - (uint64_t)bytes);
    obmt_count_add(&h->stats.span_bytes, -bytes);
}

void span_give_chain(unsigned c, void *top, unsigned n, uint64_t t)
{
    for (; n > 64; n -= 64) /* (64 at a time: give_spans' mask) */
        top = give_64(top, c, t);
    void *v[64];
    for (unsigned i = 0; i < n; i++, top = pool_of(top)->nextpool)
        v[i] = top;
    give_spans(v, n, c, t);
}

/* cache_trim of more than 64 spans (a grown stack): cut first, then given
 * back. */
static OBMT_NOINLINE void cache_trim_long(struct heap *h, unsigned c, unsigned keep, unsigned m, uint64_t t)
{
    void *top = h->span_cache[c], *b = top;
    for (unsigned i = 0; i < m; i++)
        b = pool_of(b)->nextpool;
    cache_cut(h, c, keep, m, b);
    span_give_chain(c, top, m, t);
}

/* Give back all but `keep` of the cached spans of class c: the newest,
 * popped from the top, so that only the spans given back are read (each a
 * dependent load of a header: walking past the kept ones to reach the
 * oldest had been half of a full put's time, fastpath_batch/16384). They
 * are also the ones most likely to lie together in their arenas (a batch's
 * spans come back in a row), so their give-back coalesces. */
static void cache_trim(struct heap *h, unsigned c, unsigned keep, uint64_t t)
{
    unsigned n = h->span_stack[c].n;
    if (n <= keep)
        return;
    unsigned m = n - keep;
    if (unlikely(m > 64)) {
        cache_trim_long(h, c, keep, m, t);
        return;
    }
    void *v[64];
    void *b = h->span_cache[c];
    for (unsigned i = 0; i < m; i++, b = pool_of(b)->nextpool)
        v[i] = b;
    cache_cut(h, c, keep, m, b);
    give_spans(v, m, c, t);
}

/* Class c's stack limit under a budget: OBMT_SPAN_CACHE_DEPTH, or fewer
 * where they would take more than half of it (one at least, if it fits). */
static unsigned base_max(uint64_t budget, unsigned c)
{
    uint64_t size = span_size_table[c], m = budget / 2 / size;
    if (m > OBMT_SPAN_CACHE_DEPTH)
        m = OBMT_SPAN_CACHE_DEPTH;
    if (m == 0 && size <= budget)
        m = 1;
    return (unsigned)m;
}

/* A full stack's trim (span_put_slow_leave) in a grown class: its newest
 * spans beyond `keep` leave it as one chain for the depot (span_depot.c), which any
 * thread's next miss of the class takes whole; if the depot has no room,
 * they go back to their arenas as cache_trim's (depot_room first). Only
 * the chain is walked (to its last span, which ends it). */
static OBMT_NOINLINE void cache_trim_to_depot(struct heap *h, unsigned c, unsigned keep, uint64_t t)
{
    unsigned n = h->span_stack[c].n;
    if (n <= keep)
        return;
    unsigned m = n - keep;
    /* No room (a burst larger than the depot's bound): the walk that
     * gives them back is the only one (a chain that failed its put would
     * be walked twice). */
    if (!depot_room(c, (uint64_t)m * span_size_table[c])) {
        cache_trim(h, c, keep, t);
        return;
    }
    void *top = h->span_cache[c], *last = top;
    for (unsigned i = 1; i < m; i++)
        last = pool_of(last)->nextpool;
    pool_header *lp = pool_of(last);
    cache_cut(h, c, keep, m, lp->nextpool);
    obmt_store_relaxed(&lp->nextpool, NULL); /* (relaxed: the live mark's field, span_check) */
    if (!depot_put(c, top, m, t))
        span_give_chain(c, top, m, t);
}

/* Classes of spans above a quarter of an arena never grow (cache_grow), so
 * never put a chain in the depot: their misses do not look there (the
 * depot's words cost a 1 MiB miss about 40 instructions, 5%). */
static inline bool class_may_grow(unsigned c)
{
    return span_class_pools(c) <= NPOOLS / 4;
}

/* Can a lender collect idle heaps (and so empty an idle thread's cache)? */
static bool lendable(void)
{
    return lend_available() && option_get(OPT_LEND_IDLE);
}

/* The shared allowance (OBMT_SPAN_CACHE_GROWN_TOTAL): what all heaps'
 * budgets together exceed OBMT_SPAN_CACHE_BYTES_MAX by. Each heap grows
 * its budget to OBMT_SPAN_CACHE_BYTES_MAX on its own, as before the
 * allowance; only beyond that does it draw on it, so that no thread's
 * growth starves another's below what it had (the review of the first
 * version, where every byte above the base was shared, found one thread of
 * four holding all 32 MiB and another missing 100 times as often as
 * before). A heap's share is share_of(its span_cache_budget), and only
 * budget_set, cache_limits_reset and the fork child (span_cache_drop,
 * then span_cache_atfork_child's count) change a budget or the count, each by the owner or a lender
 * holding the heap (budget_set only by the owner: cache_grow, the decay,
 * a put the budget refuses), so that the shares sum to the counter
 * whenever no heap is between its RMW here and its store of the budget.
 * Reserved with a CAS that never takes it past the bound, given back with
 * a fetch_sub of what was reserved, both relaxed: it publishes nothing,
 * and a CAS's test depends only on the counter's current value, so a
 * value that came back (ABA) decides the same. */
static uint64_t g_span_grown;

static inline uint64_t share_of(uint64_t budget)
{
    return budget > OBMT_SPAN_CACHE_BYTES_MAX ? budget - OBMT_SPAN_CACHE_BYTES_MAX : 0;
}

/* h's budget to `want` (its base at least), or as far toward it beyond
 * OBMT_SPAN_CACHE_BYTES_MAX as the allowance lets it grow; `want` is kept
 * (span_cache_want), so that a put the budget refuses asks again. */
static void budget_set(struct heap *h, uint64_t want)
{
    h->span_cache_want = want;
    uint64_t have = share_of(h->span_cache_budget), extra = share_of(want);
    if (extra <= have) {
        if (extra < have)
            obmt_fetch_sub_relaxed(&g_span_grown, have - extra);
        h->span_cache_budget = want;
        return;
    }
    uint64_t d = extra - have, g = obmt_load_relaxed(&g_span_grown);
    do {
        uint64_t room = g < OBMT_SPAN_CACHE_GROWN_TOTAL ? OBMT_SPAN_CACHE_GROWN_TOTAL - g : 0;
        if (d > room)
            d = room;
        if (d == 0)
            break;
    } while (!obmt_cas_relaxed(&g_span_grown, &g, g + d));
    h->span_cache_budget = OBMT_SPAN_CACHE_BYTES_MAX + have + d; /* (want is beyond it) */
}

uint64_t span_cache_grown(void)
{
    return obmt_load_relaxed(&g_span_grown);
}

/* Back to the fixed limits (span_cache_init's), for a heap that is
 * emptied or taken anew, or whose lending changed: its share of the
 * allowance goes back. */
static void cache_limits_reset(struct heap *h, uint64_t budget)
{
    if (share_of(h->span_cache_budget))
        obmt_fetch_sub_relaxed(&g_span_grown, share_of(h->span_cache_budget));
    h->span_cache_budget = h->span_cache_base = h->span_cache_want = budget;
    h->span_cache_lendable = lendable();
    /* The kept huge run (huge.c) likewise needs a lender to take an idle
     * thread's run back: none kept without. */
    h->huge_keep_max = OBMT_SPAN_CACHE_BYTES && h->span_cache_lendable ? OBMT_HUGE_KEEP_ARENAS : 0;
    for (unsigned c = 0; c < OBMT_NSPAN; c++) {
        h->span_stack[c].max = (uint16_t)base_max(budget, c);
        h->span_cache_gave[c] = h->span_cache_took[c] = 0;
    }
    h->span_grown = 0;
}

/* The budget a heap asks for: the base, plus what each grown class may
 * hold beyond its fixed limit, OBMT_SPAN_CACHE_HEAP_MAX at most (budget_set
 * grants what the allowance has left of it). */
static uint64_t grown_budget(const struct heap *h)
{
    uint64_t base = h->span_cache_base, b = base;
    for (unsigned c = 0; c < OBMT_NSPAN; c++) {
        unsigned floor = base_max(base, c);
        if (h->span_stack[c].max > floor)
            b += (uint64_t)(h->span_stack[c].max - floor) * span_size_table[c];
    }
    return b < OBMT_SPAN_CACHE_HEAP_MAX ? b : OBMT_SPAN_CACHE_HEAP_MAX;
}

/* A miss of class c after its full stack gave spans back (since its last
 * miss): the class cycles spans through the arenas, a burst larger than
 * its stack. It keeps twice as many from now on, up to
 * OBMT_SPAN_CACHE_DEPTH_MAX spans and OBMT_SPAN_CACHE_BYTES_MAX bytes, and
 * the heap's budget grows by what it may now hold beyond its fixed limit
 * (grown_budget). A grown class may fill OBMT_SPAN_CACHE_BYTES_MAX alone
 * (not half of it, as a class within the base budget): a stack that only
 * just holds a burst gives half back whenever a miss's batch leaves a span
 * or two in it, and never settles. Each trip of a span costs its header's
 * writes and a share of a CAS and a fetch_or on its arena's bitmap each
 * way. Not for spans of more than a quarter of an arena (above 512 KiB):
 * two or three of them fill an arena, so a batch saves little, and eight
 * such spans would hold the whole budget. Only in a heap that a lender
 * may collect when idle (lending available and on, the heap open to
 * lenders, and its base the lent one): nothing else would empty an idle
 * thread's grown cache. (The empty-pool cap, heap.c, asks only whether
 * lending is available and on.) */
static void cache_grow(struct heap *h, unsigned c)
{
    if (!h->span_cache_lendable || !lendable() || obmt_load_relaxed(&h->lend_state) != LEND_OPEN ||
        !class_may_grow(c))
        return;
    uint64_t want = 2 * (uint64_t)h->span_stack[c].max, fit = OBMT_SPAN_CACHE_BYTES_MAX / span_size_table[c];
    if (want > OBMT_SPAN_CACHE_DEPTH_MAX)
        want = OBMT_SPAN_CACHE_DEPTH_MAX;
    if (want > fit)
        want = fit;
    if (want <= h->span_stack[c].max)
        return;
    h->span_stack[c].max = (uint16_t)want;
    h->span_grown |= (uint32_t)1 << c;
    budget_set(h, grown_budget(h));
}

/* A miss of class c that found no room in any span arena: the other
 * classes that are grown give back what they hold beyond their fixed
 * limits (they stay grown), so that their pools serve c before the heap
 * makes a new arena. A thread that moved from bursts of one class to
 * another otherwise held both for a collect period (fastpath_batch/1048576
 * after /65536, whose stack of 128 held 8 MiB: 17.1 -> 15.4 M items/s).
 * True if spans went back. */
static bool cache_shrink_grown(struct heap *h, unsigned c)
{
    uint64_t base = h->span_cache_base, t = 0;
    bool gave = false;
    for (unsigned d = 0; d < OBMT_NSPAN; d++) {
        unsigned floor = base_max(base, d);
        if (d == c || h->span_stack[d].max <= floor || h->span_stack[d].n <= floor)
            continue;
        if (!gave)
            t = os_now_ms();
        cache_trim(h, d, floor, t);
        gave = true;
    }
    return gave;
}

void span_cache_flush(struct heap *h)
{
    if (!heap_real(h))
        return;
    memset(h->span_cache_batch, 0, sizeof h->span_cache_batch);
    cache_limits_reset(h, span_cache_budget()); /* (a grown cache starts small again) */
    if (!h->span_cached_bytes)
        return;
    uint64_t t = os_now_ms();
    for (unsigned c = 0; c < OBMT_NSPAN; c++)
        cache_trim(h, c, 0, t);
    memset(h->span_cache_put, 0, sizeof h->span_cache_put);
}

/* At a collect: a class with no put since the last one gives its spans
 * back; a grown class with no miss since then halves its stack (down to
 * its fixed limit), and the budget follows (grown_budget). If the lending
 * option changed since the heap was taken (obmt_option_set), the fixed
 * limits of the new base apply at once. */
void span_cache_decay(struct heap *h)
{
    if (!heap_real(h))
        return;
    uint64_t t = h->span_cached_bytes ? os_now_ms() : 0;
    if (lendable() != h->span_cache_lendable) {
        cache_limits_reset(h, span_cache_budget());
        if (!h->span_cache_lendable)
            huge_keep_flush(h); /* (its kept run too: no lender would take it back) */
    }
    uint64_t base = h->span_cache_base;
    for (unsigned c = 0; c < OBMT_NSPAN; c++) {
        if (!h->span_cache_put[c]) {
            cache_trim(h, c, 0, t);
            h->span_cache_batch[c] = 0;
        }
        unsigned floor = base_max(base, c), max = h->span_stack[c].max;
        if (max > floor && !h->span_cache_took[c]) {
            max = max / 2 > floor ? max / 2 : floor;
            h->span_stack[c].max = (uint16_t)max;
            if (max == floor)
                h->span_grown &= ~((uint32_t)1 << c);
        }
        if (h->span_cache_batch[c] > max / 2)
            h->span_cache_batch[c] = (uint16_t)(max / 2);
        cache_trim(h, c, max, t);
        h->span_cache_put[c] = h->span_cache_took[c] = h->span_cache_gave[c] = 0;
    }
    budget_set(h, grown_budget(h));
    /* (what is beyond the budget goes back, the smallest classes first) */
    for (unsigned c = 0; c < OBMT_NSPAN && h->span_cached_bytes > h->span_cache_budget; c++)
        cache_trim(h, c, 0, t);
}

size_t span_cache_budget(void)
{
    if (!OBMT_SPAN_CACHE_BYTES)
        return 0;
    return lendable() ? OBMT_SPAN_CACHE_BYTES : OBMT_SPAN_CACHE_BYTES_UNLENT;
}

void span_cache_init(struct heap *h)
{
    cache_limits_reset(h, span_cache_budget());
}

void span_cache_drop(struct heap *h)
{
    /* The child is single-threaded here. The dead thread's cached spans go
     * back to their arenas, each checked first: the thread may have been
     * halfway through a push, a pop or a trim at the fork, so the walk of a
     * stack stops at its depth and at the first link that is not a cached
     * span of its class (what is left stays taken: a bounded leak). */
    uint64_t t = os_now_ms();
    for (unsigned c = 0; c < OBMT_NSPAN; c++) {
        void *b = h->span_cache[c];
        for (unsigned i = 0; i < h->span_stack[c].n && b; i++) {
            if (((uintptr_t)b & (OBMT_POOL_SIZE - 1)) || !pool_header_readable(b))
                break;
            pool_header *p = pool_of(b);
            if (obmt_load_relaxed(&p->owner) != OWNER_SPAN || obmt_load_relaxed(&p->nextpool) == SPAN_LIVE ||
                obmt_load_relaxed(&p->szidx) != OBMT_SZ_SPAN0 + c)
                break;
            void *next = p->nextpool;
            uintptr_t off = (uintptr_t)b - arena_base();
            give_span_head(b);
            give_pools(off >> OBMT_ARENA_SHIFT,
                       run_bits((unsigned)((off >> OBMT_POOL_SHIFT) & (NPOOLS - 1)), span_class_pools(c)), t);
            obmt_count_add(&h->stats.span_bytes, -(int64_t)span_size_table[c]);
            b = next;
        }
        h->span_cache[c] = NULL;
        h->span_stack[c].n = 0; /* (the stacks' limits stay: the heap is not taken anew) */
    }
    memset(h->span_cache_put, 0, sizeof h->span_cache_put);
    memset(h->span_cache_batch, 0, sizeof h->span_cache_batch);
    obmt_store_relaxed(&h->span_cached_bytes, 0);
    /* Its share of the allowance goes with it (its budget back to its
     * base: it is taken anew, span_cache_init, before it caches again);
     * span_cache_atfork_child counts the allowance afresh. */
    h->span_cache_budget = h->span_cache_want = h->span_cache_base;
}

void span_cache_atfork_child(const struct heap *me)
{
    /* Single-threaded here, the dead heaps dropped (span_cache_drop) and
     * every heap not in use at the fork flushed at its exit: the forking
     * thread's share is the whole count. A CAS that a dead thread had made
     * without its store of the budget is forgotten. */
    obmt_store_relaxed(&g_span_grown, share_of(me->span_cache_budget));
}

size_t span_cached_bytes(void)
{
    size_t sum = 0;
    uint32_t n = heaps_used();
    for (uint32_t i = 0; i < n; i++) {
        const struct heap *h = heap_at(i);
        if (h)
            sum += obmt_load_relaxed(&h->span_cached_bytes);
    }
    return sum;
}

/* ---- blocks --------------------------------------------------------------- */

/* Statistics of the calling thread (h: its heap, maybe &heap_empty or
 * &heap_lending, which count in the globals). */
static inline void span_count(struct heap *h, uint64_t allocs, uint64_t frees, int64_t bytes)
{
    if (likely(heap_real(h))) {
        obmt_count_add(&h->stats.span_allocs, allocs);
        obmt_count_add(&h->stats.span_frees, frees);
        obmt_count_add(&h->stats.span_bytes, bytes);
    } else {
        span_account(allocs, frees, bytes);
    }
}

/* Write the head of a span of class c (k pools) at b: live (nextpool
 * SPAN_LIVE), or to be cached (the caller's cache_push writes the link).
 * The count is a generation << 1, bumped here as huge.c bumps its own: a
 * huge block's free that lost the race with another free of it
 * (huge_free's CAS, from a live huge head's odd count) then fails its CAS
 * if the pool has become a span's head in between, rather than freeing
 * the span as a huge run. */
static inline void span_head(char *b, unsigned c, unsigned k, bool live)
{
    pool_header *p = pool_of(b);
    p->huge_run = k;
    obmt_store_relaxed(&p->szidx, (uint16_t)(OBMT_SZ_SPAN0 + c));
    obmt_store_relaxed(&p->owner, OWNER_SPAN);
    uint32_t gen = (obmt_load_relaxed(&p->count) >> 1) + 1;
    obmt_store_relaxed(&p->count, gen << 1);
    if (live)
        obmt_store_relaxed(&p->nextpool, SPAN_LIVE);
}

/* A miss of class c (its stack empty) that took a chain of dn cached
 * spans from the depot: top is the caller's block, as many of the others
 * as the stack and the budget hold become the stack, the rest go back to
 * their arenas. The heap's own thread, inside lend_enter. */
static OBMT_NOINLINE void *span_from_depot(struct heap *h, unsigned c, void *top, unsigned dn, size_t n, bool zero)
{
    size_t size = span_size_table[c];
    pool_header *p = pool_of(top);
    void *rest = p->nextpool, *cut = rest, *last = NULL;
    uint64_t spare = h->span_cache_budget > h->span_cached_bytes ? h->span_cache_budget - h->span_cached_bytes : 0;
    unsigned keep = dn - 1;
    if (keep > h->span_stack[c].max)
        keep = h->span_stack[c].max;
    if ((uint64_t)keep > spare / size)
        keep = (unsigned)(spare / size);
    /* (Walked only to cut it: the chain's last link is NULL already. A
     * walk is a dependent load a span: it had cost fastpath_batch/262144
     * a tenth of its time.) */
    if (keep < dn - 1) {
        for (unsigned i = 0; i < keep; i++) {
            last = cut;
            cut = pool_of(cut)->nextpool;
        }
        if (last)
            obmt_store_relaxed(&pool_of(last)->nextpool, NULL); /* (relaxed: as cache_push) */
    }
    /* Counted before the stack holds them, as span_malloc_arenas counts
     * its batch (a fork child's span_cache_drop takes off what it finds). */
    span_count(h, 1, 0, (int64_t)((1 + (uint64_t)keep) * size));
    if (keep) {
        h->span_cache[c] = rest;
        h->span_stack[c].n = (uint16_t)keep;
        obmt_store_relaxed(&h->span_cached_bytes, h->span_cached_bytes + (uint64_t)keep * size);
        h->span_cache_put[c] = 1; /* (in use: not given back by the next decay) */
    }
    uint64_t t = os_now_ms();
    if (keep < dn - 1)
        span_give_chain(c, cut, dn - 1 - keep, t);
    /* Active, as span_malloc_arenas marks it. */
    obmt_store_relaxed(&h->last_tick_ms, t);
    obmt_store_relaxed(&p->nextpool, SPAN_LIVE); /* live again (rest was read above) */
    void *b = VG_ALLOC(top, size);
    if (zero)
        memset(b, 0, n);
    return b;
}

/* From the arenas: a span of class c (not cached), its head written and
 * counted live, and, with `batch` and no alignment, span_cache_batch[c]
 * (at most span_stack[c].max / 2) more of its class taken by the same CAS
 * into the cache (within its budget). Inside lend_enter (h: the heap read
 * there). */
static OBMT_NOINLINE void *span_malloc_arenas(struct heap *h, unsigned c, size_t n, size_t align, bool zero,
                                              bool batch)
{
    if (!obmt_ensure_init())
        return NULL;
    if (OBMT_SPAN_CACHE_BYTES && unlikely(h == &heap_empty) && (h = heap_get_slow()) == NULL)
        h = &heap_empty; /* (none to be had: do without the cache) */
    if (heap_real(h))
        heap_tick(h); /* a slow path: the cache's decay, collects, the purge */
    unsigned k = span_class_pools(c);
    size_t size = span_size_table[c];
    /* Allowed starts: every pool, or every (align / pool size)-th. */
    uint64_t amask = SPAN_POOLS;
    unsigned want = 1;
    if (align > OBMT_POOL_SIZE) {
        size_t step = align >> OBMT_POOL_SHIFT; /* <= NPOOLS: align <= the arena size */
        uint64_t m = 0;
        for (size_t i = 0; i < NPOOLS; i += step)
            m |= (uint64_t)1 << i;
        amask &= m;
    } else if (OBMT_SPAN_CACHE_BYTES && batch && heap_real(h) && h == heap_self()) {
        h->span_cache_took[c] = 1;
        if (h->span_cache_gave[c]) {
            h->span_cache_gave[c] = 0;
            cache_grow(h, c);
        }
        /* (the budget's test as span_free's: cached bytes + size <= budget) */
        unsigned half = h->span_stack[c].max / 2, b = h->span_cache_batch[c];
        unsigned room = half > h->span_stack[c].n ? half - h->span_stack[c].n : 0;
        if (room > b)
            room = b;
        h->span_cache_batch[c] = (uint16_t)(2 * b + 1 < half ? 2 * b + 1 : half); /* slow start */
        uint64_t spare = h->span_cache_budget > h->span_cached_bytes ? h->span_cache_budget - h->span_cached_bytes : 0;
        if ((uint64_t)room > spare / size)
            room = (unsigned)(spare / size);
        want += room;
        /* A chain of the class in the depot first (span_depot.c): spans
         * that a full stack gave up, taken whole by one exchange, with no
         * search of the arenas and no header to write but the caller's. */
        unsigned dn;
        void *top = class_may_grow(c) ? depot_take(c, &dn) : NULL;
        if (top)
            return span_from_depot(h, c, top, dn, n, zero);
    }
    uint64_t dirty = 0;
    unsigned left = 0;
    size_t slot = 0;
    uint64_t got = take_from_arenas(h, k, amask, want, &slot, &dirty, &left);
    /* Before a new span arena: what grown classes of the cache hold
     * beyond their fixed limits goes back (cache_shrink_grown), and the
     * depot's chains (depot_drain), and the arenas are tried again. */
    if (!got) {
        bool gave = heap_real(h) && h == heap_self() && cache_shrink_grown(h, c);
        if (depot_drain(os_now_ms()) || gave)
            got = take_from_arenas(h, k, amask, want, &slot, &dirty, &left);
    }
    if (!got) {
        /* A new span arena comes from a cached huge run first: this
         * thread's kept one joins the shared ones (huge.c). */
        if (heap_real(h))
            huge_keep_flush(h);
        if (!(got = take_new_arena(k, want, &slot, &dirty, &left)))
            return NULL;
    }
    if (heap_real(h)) {
        h->span_hint = (uint32_t)(slot + 1);
        h->span_hint_free = (uint8_t)left;
        /* Active, as a pool take marks it (heap.c): a thread whose medium
         * traffic refills its cache here is not lent at every reclaim pass
         * (lend_wanted lends a heap that holds cached spans). */
        obmt_store_relaxed(&h->last_tick_ms, os_now_ms());
    }
    char *base = (char *)(arena_base() + (slot << OBMT_ARENA_SHIFT));
    /* The highest span is the caller's: the pools after it are those its
     * free stretch had left, where a realloc grows it in place (the cached
     * ones come before it). With an alignment it is the only one. */
    unsigned idx = 64 - (unsigned)__builtin_clzll(got) - k;
    char *b = base + ((size_t)idx << OBMT_POOL_SHIFT);
    span_head(b, c, k, true);
    dirty &= run_bits(idx, k);
    uint64_t rest = got & ~run_bits(idx, k);
    /* Counted before the batch goes into the cache, as cache_cut counts
     * before giving back: a fork child's span_cache_drop takes off only
     * what was counted. */
    span_count(heap_self(), 1, 0, (int64_t)((unsigned)popcount64(got) / k * size));
    unsigned extra = 0;
    while (rest) {
        idx = (unsigned)__builtin_ctzll(rest);
        rest &= ~run_bits(idx, k);
        char *s = base + ((size_t)idx << OBMT_POOL_SHIFT);
        span_head(s, c, k, false);
        cache_push(h, c, s, pool_of(s));
        extra++;
    }
    if (extra) {
        obmt_store_relaxed(&h->span_cached_bytes, h->span_cached_bytes + (uint64_t)extra * size);
        h->span_cache_put[c] = 1; /* (in use: not given back by the next decay) */
    }
    b = VG_ALLOC(b, size);
    if (zero && dirty)
        memset(b, 0, n);
    else if (zero)
        VG_DEFINED(b, n); /* (zeros already: fresh or purged pages) */
    return b;
}

/* Inside lend_enter; leaves. */
static OBMT_NOINLINE void *span_malloc_slow(struct heap *h, unsigned c, size_t n, size_t align, bool zero, bool batch)
{
    void *b = span_malloc_arenas(h, c, n, align, zero, batch);
    lend_leave();
    if (unlikely(!b) && align == 0) {
        /* No arena to be had (reservation exhausted, OS refusing memory,
         * init failed): the underlying allocator may still serve. */
        b = zero ? large_calloc(1, n) : large_malloc(n);
    }
    return b;
}

static inline void *span_malloc_from(size_t n, size_t align, bool zero, bool batch)
{
    unsigned c = span_class(n);
    lend_enter();
    struct heap *h = heap_self();
    /* The cache's hit path. &heap_empty and &heap_lending cache nothing
     * (their stacks stay empty: span_free never fills them). */
    char *b = h->span_cache[c];
    if (OBMT_SPAN_CACHE_BYTES && likely(b != NULL && align <= OBMT_POOL_SIZE)) {
        pool_header *p = pool_of(b);
        h->span_cache[c] = p->nextpool;
        obmt_store_relaxed(&p->nextpool, SPAN_LIVE); /* live again */
        h->span_stack[c].n--;
        obmt_store_relaxed(&h->span_cached_bytes, h->span_cached_bytes - span_size_table[c]);
        obmt_count_add(&h->stats.span_hits, 1);
        lend_leave();
        b = VG_ALLOC(b, span_size_table[c]);
        if (zero)
            memset(b, 0, n);
        return b;
    }
    return span_malloc_slow(h, c, n, align, zero, batch);
}

void *span_malloc(size_t n, size_t align, bool zero)
{
    return span_malloc_from(n, align, zero, true);
}

void *span_malloc_plain(size_t n)
{
    return span_malloc_from(n, 0, false, true);
}

void *span_malloc_to_grow(size_t n)
{
    return span_malloc_from(n, 0, false, false);
}

/* Not the start of a live span: abort with the fault's name. */
static OBMT_NOINLINE noreturn void span_bad(pool_header *p, const void *b, const char *what, const char *what_freed)
{
    if ((uintptr_t)b & (OBMT_POOL_SIZE - 1))
        os_fatal(what, b, "inside a medium block");
    (void)p;
    os_fatal(what_freed, b, "its medium block is not in use");
}

/* b's header p says OWNER_SPAN: b must be the start of a live span
 * (nextpool SPAN_LIVE). */
static inline void span_check(pool_header *p, const void *b, const char *what, const char *what_freed)
{
    if (unlikely(!span_live_start(p, b)))
        span_bad(p, b, what, what_freed);
}

static inline unsigned span_class_of(const pool_header *p)
{
    return (unsigned)obmt_load_relaxed(&p->szidx) - OBMT_SZ_SPAN0;
}

/* A span's head, reset as it goes back to its arena. */
static void give_span_head(void *b)
{
    pool_header *p = pool_of(b);
    p->huge_run = 0;
    obmt_store_relaxed(&p->nextpool, NULL); /* (not live: a stale free finds owner NULL first) */
    obmt_store_relaxed(&p->owner, NULL);
}

/* After giving spans back: the slow path's chores. */
static void span_gave(struct heap *h, uint64_t t)
{
    if (heap_real(h))
        heap_tick(h);
    arena_maybe_purge_at(t);
}

/* The span b of class c straight back to its arena (no room in the cache). */
static OBMT_NOINLINE void span_free_arena(struct heap *h, unsigned c, void *b)
{
    uint64_t t = os_now_ms();
    uintptr_t off = (uintptr_t)b - arena_base();
    give_span_head(b);
    give_pools(off >> OBMT_ARENA_SHIFT, run_bits((unsigned)((off >> OBMT_POOL_SHIFT) & (NPOOLS - 1)), span_class_pools(c)), t);
    span_gave(h, t);
}

/* A put of class c that the budget refused while c's stack has room: the
 * other classes hold the budget. The deepest of their stacks gives back
 * its newest spans, as many as c's span needs (all of them if that is
 * not enough, and then the next deepest): a class that the thread has
 * moved on from drains at the pace of the new one's puts, not at the
 * next collect, as tcmalloc's thread cache scavenges its lists when it
 * outgrows its size. (A burst of 16 KiB blocks grew its class to 4 MiB;
 * a burst of 64 KiB blocks that followed found half the budget taken,
 * and every put beyond it went to its arena one span at a time:
 * fastpath_batch/65536 after /16384 fell from 65 to 52 M items/s.)
 *
 * The deepest stack, and no more than the put needs: until 2026-12-02
 * each class in turn, smallest first, gave its newest half back until
 * the span fit. A program that mixes medium sizes keeps the cache at its
 * budget, and each such put emptied half of a class that the program
 * still used, whose mallocs then missed and took spans from the arenas
 * again: with 16 live blocks of 9 to 64 KiB replaced at random, 212
 * instructions an operation (10% misses, 7% of frees here, each trimming
 * 8 classes), 116 now (tcmalloc 98); with 8 blocks of 9 to 300 KiB 304 ->
 * 116 (tcmalloc 195); with 32 of 9 KiB to 1 MiB 804 -> 633 (tcmalloc
 * 500); with 256 of 9 to 64 KiB level, 115. The stack with the most
 * bytes rather than the most spans had taken the largest classes, the
 * ones that uniform sizes draw most often: 256 blocks got worse, 115 ->
 * 185 (bench/results/2026-12-02-span-quotas.md). True if it fits now. */
static bool cache_make_room(struct heap *h, unsigned c, uint64_t size, uint64_t t)
{
    /* A budget that the allowance cut short asks again (the caller's put
     * is over it): others may have given theirs back since (one compare
     * where it was not cut short). */
    if (unlikely(h->span_cache_budget < h->span_cache_want))
        budget_set(h, h->span_cache_want);
    while (h->span_cached_bytes + size > h->span_cache_budget) {
        /* The deepest other stack (the lowest class among equals): the
         * largest key n << 8 | (255 - d), a maximum without a branch (a
         * loop that compared and branched on every class was 285
         * instructions of a 600-instruction put). */
        uint32_t best = 0;
        uint16_t own = h->span_stack[c].n;
        h->span_stack[c].n = 0; /* (no candidate; restored below: owner-only, inside lend_enter) */
#pragma GCC unroll 32
        for (unsigned d = 0; d < OBMT_NSPAN; d++) {
            uint32_t key = (uint32_t)h->span_stack[d].n << 8 | (255 - d);
            best = key > best ? key : best;
        }
        h->span_stack[c].n = own;
        unsigned most = best >> 8, deepest = 255 - (best & 255);
        if (most == 0)
            break;
        uint64_t dsize = span_size_table[deepest], over = h->span_cached_bytes + size - h->span_cache_budget;
        uint64_t m = (over + dsize - 1) / dsize;
        cache_trim(h, deepest, m < most ? most - (unsigned)m : 0, t);
    }
    return h->span_cached_bytes + size <= h->span_cache_budget;
}

/* A put that finds class c's stack full (span_stack[c].max), or no room
 * in the budget. Full: b goes on the stack, which keeps its oldest half
 * and gives the rest back together (one fetch_or per arena). No room: the
 * other classes make room (cache_make_room). A stack of one span, and a
 * put for which no room is made, give b straight back. Inside
 * lend_enter; leaves (free's tail call: span_free_leave needs no stack
 * frame). */
static OBMT_NOINLINE void span_put_slow_leave(struct heap *h, unsigned c, void *b)
{
    unsigned max = h->span_stack[c].max;
    uint64_t size = span_size_table[c];
    uint64_t t;
    if (h->span_stack[c].n < max && size <= h->span_cache_budget / 2 &&
        cache_make_room(h, c, size, t = os_now_ms())) {
        cache_push(h, c, b, pool_of(b));
        h->span_cache_put[c] = 1;
        obmt_store_relaxed(&h->span_cached_bytes, h->span_cached_bytes + size);
        obmt_count_add(&h->stats.span_puts, 1);
        span_gave(h, t);
    } else if (max >= 2 && h->span_stack[c].n >= max) {
        cache_push(h, c, b, pool_of(b));
        h->span_cache_put[c] = 1;
        h->span_cache_gave[c] = 1; /* (a miss before the next collect grows the stack: cache_grow) */
        obmt_store_relaxed(&h->span_cached_bytes, h->span_cached_bytes + size);
        obmt_count_add(&h->stats.span_puts, 1);
        uint64_t t = os_now_ms();
        /* Only a grown class (cache_grow: this thread missed after its
         * full stack gave spans back, a burst larger than its stack) uses
         * the depot: its own next misses take the chains back. A stack
         * that only fills (a thread that frees what others allocate)
         * gives its spans back as before: through the depot they cost the
         * freer a walk and a put and saved the allocating thread nothing
         * measurable (instr_count remote 65536: 118.1 -> 121.7
         * instructions a free, and more in all). */
        if (h->span_grown >> c & 1)
            cache_trim_to_depot(h, c, max / 2, t);
        else
            cache_trim(h, c, max / 2, t);
        span_gave(h, t);
    } else {
        span_count(h, 0, 1, -(int64_t)size);
        span_free_arena(h, c, b);
    }
    lend_leave();
}

/* free of b, whose head p is not that of a live span: aborts. A function
 * of its own, so that span_free_leave sets up a stack frame for the call
 * only on this path (its other calls are tail calls). */
static OBMT_NOINLINE void span_free_bad(pool_header *p, const void *b)
{
    span_bad(p, b, "free(): invalid pointer", "free(): double free of");
}

void span_free_leave(pool_header *p, struct heap *h, void *b)
{
    if (unlikely(!span_live_start(p, b))) {
        span_free_bad(p, b); /* (span_check's test, with a tail call) */
        return;
    }
    /* Freed by the store that follows, whichever path it takes: the push
     * onto a stack (its link), or the give-back (give_span_head: NULL). A
     * second free, a realloc or a usable-size query of it then aborts. A
     * plain store, as pool blocks' frees: two threads that free one block
     * at the same moment are not both caught (one is, if it gives the pools
     * back twice: give_pools). */
    unsigned c = span_class_of(p);
    size_t size = span_size_table[c];
    /* Into the freeing thread's cache: the block reached it through the
     * program's own synchronisation, so it is this thread's to keep.
     * (&heap_empty and &heap_lending have a budget of 0.) A full stack
     * keeps its oldest half and gives the rest back (cache_trim). */
    uint64_t bytes = h->span_cached_bytes + size; /* (one load: the stores below may alias it) */
    if (OBMT_SPAN_CACHE_BYTES && likely(h->span_stack[c].n < h->span_stack[c].max && bytes <= h->span_cache_budget)) {
        cache_push(h, c, b, p);
        h->span_cache_put[c] = 1;
        obmt_store_relaxed(&h->span_cached_bytes, bytes);
        obmt_count_add(&h->stats.span_puts, 1);
        lend_leave();
        return;
    }
    span_put_slow_leave(h, c, b);
}

size_t span_usable(pool_header *p, const void *b, const char *what)
{
    span_check(p, b, what, what);
    return span_size_table[span_class_of(p)];
}

/* ---- chains: buffers that realloc grows again and again ------------------ */

/* s (a block a chain's move returned) is still a live span of the
 * smallest class. Relaxed loads: the pool may have been given back and
 * taken by anyone since (an answer from such a pool is a wrong hint, no
 * more); pool_header_readable first, as the header may be in a region
 * given back to the OS. */
static bool chain_span_small(const void *s)
{
    if (!s || !pool_header_readable(s))
        return false;
    pool_header *p = pool_of(s);
    return obmt_load_relaxed(&p->owner) == OWNER_SPAN && span_live_start(p, s) && span_smallest(p);
}

int span_chain_slot(struct heap *h)
{
    /* All slots taken at the last look (buffers kept at their small
     * sizes): one slot a chain, in turn, so that a slot freed since is
     * found within OBMT_REALLOC_CHAIN_SPANS chains (a look at all of them
     * reads four span heads: 9% of a loop building and keeping 200,000
     * strings of 128 bytes). */
    if (h->chain.full) {
        unsigned i = h->chain.next;
        h->chain.next = (uint8_t)((i + 1) % OBMT_REALLOC_CHAIN_SPANS);
        if (chain_span_small(h->chain.spans[i]))
            return -2;
        h->chain.full = 0;
        return (int)i;
    }
    for (int i = 0; i < OBMT_REALLOC_CHAIN_SPANS; i++)
        if (!chain_span_small(h->chain.spans[i]))
            return i;
    h->chain.full = 1;
    return -2;
}

void *span_malloc_chain(size_t n)
{
    struct heap *h = heap_self();
    if (heap_real(h) && h->chain.outgrew) {
        h->chain.outgrew = 0;
        void *b = span_malloc_from(n, OBMT_ARENA_SIZE, false, false);
        if (b)
            return b;
    }
    return span_malloc_from(n, 0, false, false);
}

void span_chain_outgrew(void)
{
    struct heap *h = heap_self();
    if (!OBMT_SECURE && heap_real(h)) /* (secure mode: a span never becomes a huge block) */
        h->chain.outgrew = 1;
}


static OBMT_NOINLINE bool span_resize_other_class(pool_header *p, void *b, size_t n);

bool span_resize_in_place(pool_header *p, void *b, size_t n)
{
    span_check(p, b, "realloc(): invalid pointer", "realloc(): invalid pointer");
    /* The same class: nothing changes (a buffer grown a little at a time,
     * most of its steps; obmt_realloc tests this first, inline). */
    if (likely(span_same_class(p, n)))
        return true;
    return span_resize_other_class(p, b, n);
}

static uint64_t cache_spans_in(struct heap *h, size_t slot, uint64_t within, bool take);

/* A span of arena `slot` grows into pools `tail`, not all of which F (x)
 * has: those that are not free may be spans in the calling thread's cache,
 * as cache_spans_in finds them for span_to_huge (a chain met the 256 KiB
 * spans that earlier chains had left cached right after it, and each of
 * its steps there copied: realloc_mul15/262144 at 10 and 18 M reallocs/s
 * in 2 runs of 6, 45-87 in the others). If the free pools and those cover
 * the tail, the spans of this thread's cache that hold pools of the tail
 * leave the cache, held by the caller as its own span is; their pools are
 * returned (a span may reach past the tail: its pools beyond go back, M58;
 * 0 otherwise, nothing changed). */
static uint64_t grow_from_cache(size_t slot, uint64_t x, uint64_t tail)
{
    /* The first pool of the tail that F does not have: a cached span's
     * head (OWNER_SPAN, not live), or no walk of the cache. (The arena is a
     * span arena for as long as the caller's span is in it: its headers
     * are spans', read and written relaxed.) */
    uint64_t missing = tail & ~x;
    pool_header *first = pool_of((void *)(arena_base() + (slot << OBMT_ARENA_SHIFT) +
                                          ((size_t)__builtin_ctzll(missing) << OBMT_POOL_SHIFT)));
    if (obmt_load_relaxed(&first->owner) != OWNER_SPAN || obmt_load_relaxed(&first->nextpool) == SPAN_LIVE)
        return 0;
    uint64_t held = 0;
    lend_enter(); /* (the cache: a lender flushing it waits) */
    struct heap *h = heap_self();
    if (heap_real(h) && h->span_cached_bytes && ((x | cache_spans_in(h, slot, missing, false)) & tail) == tail)
        held = cache_spans_in(h, slot, missing, true);
    lend_leave();
    return held;
}

static OBMT_NOINLINE bool span_resize_other_class(pool_header *p, void *b, size_t n)
{
    size_t old = span_usable(p, b, "realloc(): invalid pointer");
    if (n > OBMT_MEDIUM_MAX)
        return false;
    if (n <= OBMT_SMALL_MAX) {
        /* Kept while it wastes less than half; else a pool block, but not
         * above OBMT_REALLOC_SPAN_MIN, where realloc moves a growing pool
         * block into a span (api.c): there it stays a span, of the
         * smallest class, its other pools given back (no move back and
         * forth around that size, and no 1 MiB span kept for 7 KiB).
         * A chain's span (span_chain_slot) stays a span whatever the size:
         * it grows on (the steps below the cut are its first steps), and
         * there are few of them a thread. (Every span holds more than
         * OBMT_SMALL_MAX.) */
        if (n > old / 2)
            return true;
        if (span_chain_holds(heap_self(), b)) {
            if (span_smallest(p))
                return true;
        } else if (n <= OBMT_REALLOC_SPAN_MIN) {
            return false;
        }
        n = OBMT_SMALL_MAX + 1;
    }
    unsigned c2 = span_class(n);
    unsigned k = (unsigned)p->huge_run, k2 = span_class_pools(c2);
    uintptr_t off = (uintptr_t)b - arena_base();
    size_t slot = off >> OBMT_ARENA_SHIFT;
    unsigned idx = (unsigned)((off >> OBMT_POOL_SHIFT) & (NPOOLS - 1));
    if (k2 < k) {
        give_pools(slot, run_bits(idx + k2, k - k2), os_now_ms()); /* the tail */
    } else if (k2 > k) {
        /* The free pools right after the span, by one CAS (M3). */
        if (idx + k2 > NPOOLS)
            return false; /* (tested first: idx + k may be 64, past run_bits' shifts) */
        uint64_t tail = run_bits(idx + k, k2 - k);
        if (tail & ~SPAN_POOLS)
            return false;
        struct span_arena *a = &g_span[slot];
        uint64_t x = obmt_load_acquire(&a->free);
        uint64_t held = 0;    /* pools taken from this thread's cache (grow_from_cache) */
        uint64_t need = tail; /* what the CAS takes from F */
        for (;;) {
            if ((x & need) != need) {
                if (!held && (held = grow_from_cache(slot, x, tail)) != 0) {
                    need = tail & ~held;
                    continue;
                }
                if (held)
                    give_pools(slot, held, os_now_ms()); /* (taken meanwhile: back, as a free's) */
                return false;
            }
            if (!need || __atomic_compare_exchange_n(&a->free, &x, x & ~need, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
                break;
        }
        if (need && (x & ~need) == 0)
            avail_clear(slot); /* M2 */
        if (held & ~tail)
            give_pools(slot, held & ~tail, os_now_ms()); /* the cached pools it does not grow into */
    }
    p->huge_run = k2;
    obmt_store_relaxed(&p->szidx, (uint16_t)(OBMT_SZ_SPAN0 + c2));
    size_t size = span_class_size(c2);
    /* Inside the busy region: a lender flushing this heap's cache writes
     * span_bytes too. */
    lend_enter();
    span_count(heap_self(), 0, 0, (int64_t)size - (int64_t)old);
    lend_leave();
    VG_RESIZE(b, old, size);
    return true;
}

/* The pools of slot `slot` that spans in h's cache hold (h: the calling
 * thread's heap, inside lend_enter); with `take`, those spans leave the
 * cache, their heads reset, held by the caller. At most OBMT_SPAN_CACHE_DEPTH
 * spans of each class (OBMT_SPAN_CACHE_DEPTH_MAX of a grown one; at most
 * OBMT_SPAN_CACHE_HEAP_MAX of them in all, about 3,650 spans of the
 * smallest classes, 512 a class): a walk of a few dozen headers, rarely
 * more, for span_to_huge. */
static uint64_t cache_spans_in(struct heap *h, size_t slot, uint64_t within, bool take)
{
    uint64_t bits = 0, bytes = 0;
    for (unsigned c = 0; c < OBMT_NSPAN; c++) {
        void **link = &h->span_cache[c];
        while (*link) {
            void *s = *link;
            pool_header *q = pool_of(s);
            uintptr_t off = (uintptr_t)s - arena_base();
            uint64_t run = run_bits((unsigned)((off >> OBMT_POOL_SHIFT) & (NPOOLS - 1)), span_class_pools(c));
            if (off >> OBMT_ARENA_SHIFT != slot || !(run & within)) {
                link = (void **)&q->nextpool;
                continue;
            }
            bits |= run;
            if (!take) {
                link = (void **)&q->nextpool;
                continue;
            }
            *link = q->nextpool;
            h->span_stack[c].n--;
            bytes += span_size_table[c];
            give_span_head(s);
        }
    }
    if (bytes) {
        obmt_store_relaxed(&h->span_cached_bytes, h->span_cached_bytes - bytes);
        obmt_count_add(&h->stats.span_bytes, -(int64_t)bytes);
    }
    return bits;
}

bool span_to_huge(pool_header *p, void *b, size_t n)
{
    uintptr_t off = (uintptr_t)b - arena_base();
    size_t slot = off >> OBMT_ARENA_SHIFT;
    unsigned idx = (unsigned)((off >> OBMT_POOL_SHIFT) & (NPOOLS - 1));
    size_t below = (size_t)idx << OBMT_POOL_SHIFT; /* the pools before it, unused while it is huge */
    /* (Secure mode: pool 63, the guard's, is no span's. Larger n: the
     * block would have to grow further, which may fail, and a realloc that
     * fails leaves its block as it was.) */
    if (OBMT_SECURE || n > OBMT_ARENA_SIZE - below)
        return false;
    struct span_arena *a = &g_span[slot];
    uint64_t ours = run_bits(idx, (unsigned)p->huge_run), cached = 0;
    /* M38: every other pool, taken with one CAS from exactly the value
     * that says they are all free. Then nobody else holds a pool of the
     * arena (no span, live or cached, no purge) and nobody can give one
     * back: the caller holds it whole, as a retirement (M7) does, and to
     * arena.c it is what a huge block of one arena is, HUGE. */
    uint64_t x = SPAN_POOLS & ~ours;
    lend_enter(); /* (the cache below: a lender flushing it waits) */
    struct heap *h = heap_self();
    bool won = __atomic_compare_exchange_n(&a->free, &x, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    if (!won && heap_real(h) && h->span_cached_bytes) {
        /* The pools the CAS found held may all be spans in this thread's
         * cache (held by it as the span is): the chains of growing buffers
         * in realloc_mul15/16777216 found one 64 KiB span cached at pool 0
         * and copied 1 MiB each. With those the caller holds every pool
         * but the free ones, and the same CAS from exactly the free ones
         * takes the rest (M38); the cached spans then leave the cache. */
        cached = cache_spans_in(h, slot, ~(uint64_t)0, false);
        if (cached && (x | cached | ours) == SPAN_POOLS) {
            x = SPAN_POOLS & ~ours & ~cached;
            won = __atomic_compare_exchange_n(&a->free, &x, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        }
        if (won)
            cache_spans_in(h, slot, ~(uint64_t)0, true);
    }
    if (!won) {
        lend_leave();
        return false;
    }
    size_t size = span_class_size(span_class_of(p));
    span_count(h, 0, 1, -(int64_t)size);
    lend_leave();
    avail_clear(slot); /* M2 (F is 0 for good: only a new maker sets it) */
    uint64_t dirty = obmt_load_relaxed(&a->dirty);
    obmt_store_relaxed(&a->dirty, 0);
    obmt_fetch_sub_relaxed(&g_span_arenas, 1);
    /* The pools before the block hold nothing now: their pages go back
     * until the run is freed (after which they are free pools of a wholly
     * free arena, whose takers do not count on zeros unless the arena was
     * decommitted). */
    if (below && ((dirty | cached) & run_bits(0, idx)))
        arena_decommit_pages((void *)(arena_base() + (slot << OBMT_ARENA_SHIFT)), below);
    huge_adopt_arena(p, b, size);
    return true;
}

/* ---- the map ---------------------------------------------------------------- */

bool span_arena_pools(size_t slot, uint64_t *free_pools, uint64_t *dirty)
{
    uint64_t x = obmt_load_acquire(&g_span[slot].free);
    *free_pools = x;
    *dirty = obmt_load_relaxed(&g_span[slot].dirty);
    /* F is 0 in every other arena; a span arena with no free pool has a
     * span at pool 0 (a span starts at its first pool, so pool 0 is never
     * inside one). */
    return x != 0 || obmt_load_relaxed(&pool_of((void *)(arena_base() + (slot << OBMT_ARENA_SHIFT)))->owner) == OWNER_SPAN;
}

#if OBMT_TEST_HOOKS
void (*span_scan_test_hook)(void);

void span_whole_mark(size_t slot) { whole_set(slot); }

uint64_t span_fit_starts(uint64_t x, unsigned k) { return fit_starts(x, k); }

void span_cache_grown_add(int64_t d) { obmt_fetch_add_relaxed(&g_span_grown, (uint64_t)d); }

unsigned span_arena_hints(size_t slot)
{
    uint64_t bit = (uint64_t)1 << (slot & 63);
    return ((obmt_load_relaxed(&g_span_avail[slot >> 6]) & bit) ? 1u : 0u) |
           ((obmt_load_relaxed(&g_span_whole[slot >> 6]) & bit) ? 2u : 0u);
}
#endif
