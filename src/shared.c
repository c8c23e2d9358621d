/*
 * shared.c: the shared level. Pools that still hold live blocks but that no
 * heap owns, one bitmap per size class, in which any thread's malloc takes
 * a pool before it takes a fresh one from an arena (Hoard's global heap,
 * for partially used pools).
 *
 * Without it a pool is usable only by its owner. A heap that stops
 * allocating a class keeps that class's pools, each pinned by a few live
 * blocks, while other threads take fresh pools for the same class; a
 * thread that exits leaves its pools ABANDONED, and only a thread that frees
 * into one of them adopts it. The memory other threads freed is then
 * usable by no one (docs/design.md, section 5: "partially used pools").
 *
 * ==== What goes there =========================================================
 *
 * An ABANDONED pool that has a free block (count below the class's block
 * count) is marked in the map of its class by the thread that abandoned
 * it (heap_release_unowned):
 *  - a heap's collect gives away every pool of a class but the head of its
 *    usedpools that is at most a quarter used (OBMT_SHARE_USED_PERCENT):
 *    the emptiness threshold. A collect runs at most once per purge delay
 *    from a heap's ticks, on obmt_collect and every 64+ adoptions: always
 *    the owner's own. A lender's collect of an idle heap (lend.c) gives
 *    nothing away: such a pool holds a live block, which the owner frees
 *    when it wakes, into a pool it expects to find its own;
 *  - a lender releases a pool that the hand-over of the lent heap's
 *    batches would have adopted (remote.c) rather than adopt it;
 *  - thread exit abandons every used pool of the heap.
 * A full pool (no free block) is not marked: it is of no use to a malloc;
 * the first thread that frees into it adopts it, as before.
 *
 * ==== Taking a pool =============================================================
 *
 * heap_malloc_slow, when usedpools[c] is empty and before the heap's empty
 * pools or an arena, looks for a pool in class c's bitmap (below), lowest
 * address first, and adopts it by the same CAS a remote freer adopts an
 * abandoned pool with: clear ABANDONED (and take the remote list) in
 * `remote`. Whoever clears the flag holds the pool; a taker that finds the
 * flag gone (a freer adopted the pool since it was marked) drops the bit:
 * the pool is someone's. A pool of another class (adopted, emptied, given
 * back and taken for another class since its bit was set, then abandoned
 * again) is adopted all the same and filed under its class.
 *
 * ==== The bitmaps =================================================================
 *
 * Membership is a bit, so it is idempotent: a pool may have a bit in two
 * classes' maps at once (a stale one in its old class's), and marking it
 * again in its class's map needs no knowledge of the old bit. (A first
 * version kept a Treiber stack per class with one link per pool; a stale
 * entry on one class's stack then kept the pool off its new class's stack,
 * out of reach of that class's mallocs: the one gap in the bound of
 * docs/design.md section 5, closed by this layout.)
 *
 * g_shared_pools[c][slot] (SHARED_POOLS(c, slot)): bit i set means pool i
 *   of arena `slot` may be an ownerless pool of class c with a free
 *   block. Set by the thread whose CAS set ABANDONED, after that CAS (fetch_or seq_cst), unless its load
 *   (seq_cst) finds the bit set already; cleared by a taker (fetch_and
 *   seq_cst) before it reads `remote`: a taker that cleared the bit is the
 *   one that looks at the pool for that marking, and if a marker found the
 *   bit set, the taker's clear comes after that marker's CAS, so its read
 *   of `remote` sees the ABANDONED the marker set (or a later word). That
 *   is Dekker's pattern (the marker: CAS remote, load the word; the taker:
 *   RMW the word, load remote), so the abandoning CAS and the taker's load
 *   of `remote` are seq_cst too: with a release CAS and an acquire load,
 *   C11 (and arm64's LDAPR) would let the taker read the word before the
 *   ABANDONED; x86-64's lock cmpxchg and mov are the same instructions
 *   either way. Most
 *   marks find their bit set: a pool adopted by a freer and abandoned again
 *   while its old bit waits (larson: 5.1 million marks, 0.6 million RMWs;
 *   every mark an RMW cost larson/2/1000 3-6%).
 * g_shared[c].arenas[j]: bit k set means g_shared_pools[c][64 j + k] may be
 *   non-zero. The marker, after its fetch_or, loads it (seq_cst) and sets
 *   the arena's bit (fetch_or seq_cst) if it reads it clear. A taker that
 *   loads an arena's word as 0 clears the arena's bit (fetch_and seq_cst),
 *   loads the word again (seq_cst), and sets the bit again if the word is
 *   not 0 (the arena buckets' hint protocol, arena.c).
 * So, all of these being sequentially consistent: once no thread is
 * between its abandoning CAS and the end of its mark, or between clearing
 * an arena's bit and loading its word again, every ownerless pool with a
 * free block has its bit set in its class's map and its arena's bit set:
 * of a marker's load of the arena bit and a taker's clear of it, either
 * the load comes after the clear (and the marker sets the bit), or the
 * marker's fetch_or came before the taker's second load of the word (and
 * the taker sets the bit again). And a taker clears a
 * pool's bit only to look at `remote` next: a pool it finds ABANDONED it
 * adopts (or loses to a freer that adopts it); one abandoned again after its
 * load is marked again by its new abandoner.
 *
 * Memory: one 64-bit word per arena and class, a row of 256 KiB per class
 * for a 64 GiB window, and 4 KiB per class for the arena bits, mapped at
 * start-up for the window's slots (shared_tables_place);
 * only the pages of slots in use are touched: a class's first mark touches
 * two pages (all classes marked: about 94 pages, 376 KiB, against a cache
 * line per class for the stacks). A class's words are contiguous, so that
 * marks and takes of different classes do not share a cache line (laid out
 * by arena, larson's exiting thread marking and its successor taking
 * fought over one arena's lines: shared_mark 2.4% -> 6.9% of its cycles).
 * A scan reads the arena words up to the slots in use (a seq_cst load, so
 * that it is ordered after the taker's earlier steps), 64 arenas (128 MiB)
 * a word.
 *
 * Nothing here is on a fast path: marks come from collects and exits,
 * takes from malloc's slow path when a class has no pool in the heap. A
 * take runs until the map is empty or a pool of the class is filed, so one
 * malloc may drop many stale bits (and adopt pools of other classes) first:
 * lock-free, paid for by the marks, but a latency tail.
 *
 * ==== Limits ======================================================================
 *
 *  - Hidden for a moment: a pool whose abandoner is between its CAS and its
 *    mark, or whose abandoner returned early while the marker that set the
 *    bit is still between its fetch_or and its arena bit; a pool whose bit
 *    a taker cleared and whose `remote` it has not yet looked at (each: one
 *    pool per thread); the pools marked in an arena while a taker sits
 *    between clearing that arena's bit and loading its word again (two
 *    instructions; a taker preempted there hides them until it runs again).
 *    And a scan is not a snapshot: a pool marked behind its cursor (an
 *    arena it has passed), or in an arena counted after its load of the
 *    slots in use, is not seen by it. A malloc that takes a fresh pool
 *    meanwhile does not see them; none of them is lost (their bits stay).
 *  - A malloc that meets stale bits of pools now of other classes adopts
 *    those pools (it cannot tell before its CAS), and lets each go again at
 *    once, marked in its own class's map, if its heap has a pool of that
 *    class: kept, it would wait behind the heap's head of that class until
 *    the heap's next collect. A pool of a class the heap has none of stays
 *    (as the head of that class, it serves the heap's next malloc there).
 *  - Fork: in the child, a taker cut by the fork between clearing a pool's
 *    bit and its CAS, or a marker cut between its CAS and its fetch_or,
 *    leaves a pool with no bit (free still adopts it); a marker cut between
 *    the word and the arena bit, or a taker between clearing an arena's bit
 *    and loading the word, would leave the arena's bit clear: the child's
 *    handler (shared_atfork_child) sets the arena bit of every non-zero
 *    word again.
 *  - A thread's own free of a live block in a pool its heap gave away is a
 *    remote free (batched; the hand-over adopts the pool back).
 */
#include "internal.h"

#define NPOOLS OBMT_POOLS_PER_ARENA
_Static_assert(OBMT_POOLS_PER_ARENA <= 64, "a pool bitmap of an arena is one word");

/* Sized by the window (shared_tables_place, before READY; the pointers are
 * written once): a word a class and slot, and a bit a class and slot, each
 * class's bits on lines of their own. */
static uint64_t *g_shared_pools_mem;
static size_t g_shared_slots;
#define SHARED_POOLS(c, slot) g_shared_pools_mem[(size_t)(c) * g_shared_slots + (slot)]
struct shared_class {
    uint64_t *arenas;
};
static struct shared_class g_shared[OBMT_NCLASSES];

/* A class's arena bits: whole lines. */
static size_t arena_bit_words(size_t nslots) { return ((nslots + 63) / 64 + 7) & ~(size_t)7; }

size_t shared_tables_bytes(size_t nslots)
{
    return TABLE_ROUND((size_t)OBMT_NCLASSES * nslots * sizeof(uint64_t)) +
           (size_t)OBMT_NCLASSES * arena_bit_words(nslots) * sizeof(uint64_t);
}

void shared_tables_place(char *mem, size_t nslots)
{
    g_shared_slots = nslots;
    g_shared_pools_mem = (uint64_t *)mem;
    uint64_t *bits = (uint64_t *)(mem + TABLE_ROUND((size_t)OBMT_NCLASSES * nslots * sizeof(uint64_t)));
    for (unsigned c = 0; c < OBMT_NCLASSES; c++)
        g_shared[c].arenas = bits + (size_t)c * arena_bit_words(nslots);
}

/* Statistics, fetch_add relaxed; a line each: markers (an exiting thread
 * marks all its pools in a row) and takers would otherwise fight over one. */
alignas(64) uint64_t g_pools_shared;      /* pools marked */
alignas(64) uint64_t g_pools_from_shared; /* pools adopted from a map */

static pool_header *pool_by_number(size_t n)
{
    return (pool_header *)(obmt_load_relaxed(&g_hot.meta) + (n << OBMT_HEADER_SHIFT));
}

void shared_mark(pool_header *p, unsigned c)
{
    size_t n = pool_number(p), slot = n / NPOOLS;
    uint64_t *word = &SHARED_POOLS(c, slot), bit = (uint64_t)1 << (n % NPOOLS);
    if (obmt_load_seq_cst(word) & bit)
        return; /* still marked: the taker that clears it reads `remote` after our CAS */
    obmt_fetch_or_seq_cst(word, bit);
    uint64_t *abit = &g_shared[c].arenas[slot / 64], one = (uint64_t)1 << (slot % 64);
    if (!(obmt_load_seq_cst(abit) & one))
        obmt_fetch_or_seq_cst(abit, one);
    obmt_fetch_add_relaxed(&g_pools_shared, 1);
}

/* Adopt p if it is still ownerless (the CAS that clears ABANDONED). A pool
 * of another class than c (its bit was stale: reused since) whose class
 * already has a pool in h is let go again at once, marked in its own
 * class's map: kept, it would be one more pool of that class in h, mostly
 * free, out of every other taker's reach until h's next collect. */
static bool shared_adopt(struct heap *h, pool_header *p, unsigned c)
{
    uintptr_t w = obmt_load_seq_cst(&p->remote); /* seq_cst: see the marks' early return */
    do {
        if (!(w & REMOTE_ABANDONED))
            return false; /* adopted since it was marked: the bit was stale */
    } while (!obmt_cas_acq_rel(&p->remote, &w, (uintptr_t)0));
    if (p->szidx != c && h->usedpools[p->szidx]) {
        heap_release_unowned(h, p, w & ~REMOTE_ABANDONED);
        return false;
    }
    obmt_fetch_add_relaxed(&g_pools_from_shared, 1);
    heap_adopt(h, p, w & ~REMOTE_ABANDONED);
    return true;
}

/* The marked pools of class c in arena `slot`, until one of class c is
 * filed in h (true) or the arena's word is empty (false). */
static bool take_in_arena(struct heap *h, unsigned c, size_t slot)
{
    uint64_t *word = &SHARED_POOLS(c, slot);
    for (;;) {
        uint64_t m = obmt_load_seq_cst(word);
        if (!m) {
            uint64_t *abit = &g_shared[c].arenas[slot / 64], one = (uint64_t)1 << (slot % 64);
            obmt_fetch_and_seq_cst(abit, ~one);
            if (obmt_load_seq_cst(word)) /* marked since: the bit again */
                obmt_fetch_or_seq_cst(abit, one);
            return false;
        }
        unsigned i = (unsigned)__builtin_ctzll(m);
        if (!(obmt_fetch_and_seq_cst(word, ~((uint64_t)1 << i)) & ((uint64_t)1 << i)))
            continue; /* another taker cleared it first */
        if (shared_adopt(h, pool_by_number(slot * NPOOLS + i), c) && h->usedpools[c])
            return true;
    }
}

bool shared_take(struct heap *h, unsigned c)
{
    /* Each turn removes one bit (a stale one, set once per abandonment, is
     * dropped once), so the work is paid for by the marks. */
    size_t words = (arena_slots_used_sc() + 63) / 64;
    for (size_t j = 0; j < words; j++) {
        uint64_t a = obmt_load_seq_cst(&g_shared[c].arenas[j]);
        for (; a; a &= a - 1)
            if (take_in_arena(h, c, j * 64 + (size_t)__builtin_ctzll(a)))
                return true;
    }
    return h->usedpools[c] != NULL;
}

void shared_atfork_child(void)
{
    size_t slots = arena_slots_used();
    for (unsigned c = 0; c < OBMT_NCLASSES; c++)
        for (size_t slot = 0; slot < slots; slot++)
            if (obmt_load_relaxed(&SHARED_POOLS(c, slot)))
                obmt_fetch_or_seq_cst(&g_shared[c].arenas[slot / 64], (uint64_t)1 << (slot % 64));
}
