/*
 * arena.c: arenas, their state words, and the nfreepools buckets.
 *
 * The arenas are arena-aligned slots of one reserved address range. Slot i
 * spans [arena_base() + i*ARENA_SIZE, +ARENA_SIZE) and is described by
 * g_arenas[i].state, one 64-bit word:
 *
 *   bits  0..7   nfreepools  free pools (virgin ones included)
 *   bits  8..15  head        top of the free-pool stack: pool index + 1, 0 = empty
 *   bits 16..23  virgin      index of the next never-carved pool
 *   bit  24      CLAIMED     being decommitted or committed again; nobody may take a pool
 *   bit  25      DECOMMITTED its pages and commit charge went back to the OS; the
 *                            range is unmapped (on demand: window.c; in
 *                            legacy mode it reads zeros, not writable) until
 *                            a taker claims it and commits it (arena_recommit)
 *   bit  26      KEPT        wholly free and counted in g_kept (hysteresis)
 *   bit  27      HUGE        part of a run of whole arenas that holds one huge
 *                            block (huge.c); always with nfree 0, head 0,
 *                            virgin NPOOLS, so it looks full to everyone else
 *   bits 28..63  generation  +1 on every change
 * CLAIMED and DECOMMITTED together with no free pools: UNUSABLE, a slot
 * whose commit failed, kept for the next new arena to try again (fresh
 * slots of a huge run whose commit failed go back to the frontier instead
 * when no claim came after them: frontier_return).
 *
 * Synchronisation table for g_arenas[i].state:
 *   writers: any thread taking a pool (arena_take_pool), giving one back
 *            (arena_give_pool), or decommitting a wholly free arena; each by
 *            ConcurrencyKit's ck_pr_cas_64_value (sequentially consistent),
 *            except the first publication of a new slot (store release: no
 *            other thread knows the slot yet) and the end of a decommit or
 *            of a recommit (store release: the CLAIMED bit gave the
 *            decommitter or the recommitting taker the word).
 *   readers: the same, with an acquire load before their CAS.
 *   ABA: popping the free-pool stack reads the head's link (next[]) and CASes
 *        {head, gen} to {next, gen+1}. If the head pool was popped, reused
 *        and pushed back meanwhile, the generation differs and the CAS
 *        fails. 36 bits of generation wrap after 6.9e10 changes of one
 *        arena while a thread sits between its load and its CAS.
 *        Whoever holds an arena (CLAIMED, or HUGE: every pool is its own)
 *        is the only thread that may change its word, so its end of the hold
 *        may be a store.
 *
 * The buckets: g_buckets[k] is a bitmap over slots; bit i set means "arena i
 * may have exactly k+1 free pools". Bits are hints, the state word is the
 * truth. Whoever changes an arena's count from a to b then does
 * bucket_clear(a) and bucket_set(b); bucket_clear re-reads the state after
 * clearing and sets the bit again if the count is back at a. With the
 * bitmap RMWs at least acq_rel (a set is seq_cst, for the summary below; a
 * clear acq_rel), an arena with k > 0 free pools always has bit k-1 set
 * once the threads changing it are done: the last RMW on that bit is either
 * a set, or a clear whose re-read saw a count it then re-filed. Stale extra
 * bits are allowed; a scanner that meets one clears it the same way.
 * g_bucket_summary (below) lets a scan skip empty buckets.
 */
#include "internal.h"

#include <sys/prctl.h>

#include <ck_pr.h>
#include <errno.h>
#include <sched.h>
#include <unistd.h>

#define NPOOLS OBMT_POOLS_PER_ARENA

#define ST_NFREE(s)    ((unsigned)((s) & 0xff))
#define ST_HEAD(s)     ((unsigned)(((s) >> 8) & 0xff))
#define ST_VIRGIN(s)   ((unsigned)(((s) >> 16) & 0xff))
#define ST_CLAIMED     ((uint64_t)1 << 24)
#define ST_DECOMMITTED ((uint64_t)1 << 25)
#define ST_KEPT        ((uint64_t)1 << 26)
#define ST_HUGE        ((uint64_t)1 << 27)
#define ST_GEN_ONE     ((uint64_t)1 << 28)
#define ST_GEN_MASK    (~(ST_GEN_ONE - 1))

static inline uint64_t st_make(uint64_t gen_and_flags, unsigned nfree, unsigned head, unsigned virgin)
{
    return gen_and_flags | nfree | ((uint64_t)head << 8) | ((uint64_t)virgin << 16);
}

/*
 * struct arena_object: one per arena slot (two cache lines).
 *
 * field         writer                       how                    readers
 * state         see the table above          CAS (seq_cst)          anyone
 * next[i]       the thread giving pool i     relaxed store before   arena_try_pop: relaxed load,
 *               back (it owns the pool)      its state CAS          validated by the generation
 * last_give_ms  every giver                  relaxed store          the purger (a hint)
 * dirty         givers (+1), purger (-> 0)   fetch_add / exchange   the purger: free pools that
 *                                            relaxed                may hold resident pages
 * run_old       a huge claimer holding the   plain                  the same thread (rollback,
 *               arena (arena_take_run)                              header resets)
 * The free-pool links live here, not in the pools, so that a free pool's
 * memory can be given back to the OS whole (arena_purge) while stale
 * poppers may still read its link.
 */
struct arena_object {
    alignas(64) uint64_t state;
    uint64_t last_give_ms;
    uint32_t dirty;
    uint8_t next[NPOOLS];        /* free-pool stack links: index + 1, 0 = end */
    uint8_t thp;                 /* 1: advised for huge pages (below, "huge pages for runs") */
    uint64_t run_old;            /* the word a run claim took the arena from */
};

alignas(64) struct obmt_hot g_hot;

static size_t g_max_arenas;                     /* slots in the reservation (init) */
static size_t g_slots_used;                     /* the frontier: fetch_add/CAS seq_cst, may overshoot;
                                                   lowered only by frontier_return's CAS */
/* The per-slot tables, sized by the window (arena_tables_place, before
 * READY; written once): an arena object a slot, and each bucket's bitmap
 * (g_bucket_words words a bucket, one bit a slot). */
static struct arena_object *g_arenas;
static uint64_t *g_buckets_mem;
static size_t g_bucket_words;
#define BUCKET_WORD(b, w) g_buckets_mem[(size_t)(b) * g_bucket_words + (w)]
static size_t g_kept;                           /* KEPT arenas (fetch_add/sub relaxed) */
static size_t g_committed, g_committed_hwm, g_decommits; /* statistics */
static uint64_t g_pools_purged;                 /* statistics: fetch_add relaxed */
static uint64_t g_next_purge_ms;                /* earliest next purge pass (relaxed hint) */
static int g_purging;                           /* PURGE_PASS while a pass runs, PURGE_FORK while a fork is under
                                                 * way: CAS acq_rel / store release */
#define PURGE_PASS 1
#define PURGE_FORK 2

size_t arena_tables_bytes(size_t nslots)
{
    return TABLE_ROUND(nslots * sizeof(struct arena_object)) +
           TABLE_ROUND((size_t)NPOOLS * ((nslots + 63) / 64) * sizeof(uint64_t));
}

void arena_tables_place(char *mem, size_t nslots)
{
    g_bucket_words = (nslots + 63) / 64;
    g_arenas = (struct arena_object *)mem;
    g_buckets_mem = (uint64_t *)(mem + TABLE_ROUND(nslots * sizeof(struct arena_object)));
}

void arena_init(void *base, size_t reserved, void *meta)
{
    g_max_arenas = reserved >> OBMT_ARENA_SHIFT;
    obmt_store_relaxed(&g_hot.meta, (uintptr_t)meta);
    /* base is arena-aligned: (base >> 15) << 7 == base >> 8 (wraps: only
     * the sum with an address's part is used). */
    obmt_store_relaxed(&g_hot.meta_by_addr, (uintptr_t)meta - ((uintptr_t)base >> (OBMT_POOL_SHIFT - OBMT_HEADER_SHIFT)));
    obmt_store_relaxed(&g_hot.reserved, reserved);
    obmt_store_relaxed(&g_hot.base_xor, (uintptr_t)base ^ OBMT_BASE_XOR);
    obmt_store_relaxed(&g_hot.base_neg, 0 - (uintptr_t)base);
}

/* Pool idx of the arena in `slot`: its memory, and its header (internal.h,
 * pool_of: the headers live out of line, NPOOLS per arena, contiguous). */
static inline char *pool_addr(size_t slot, unsigned idx)
{
    return (char *)(arena_base() + (slot << OBMT_ARENA_SHIFT) + ((size_t)idx << OBMT_POOL_SHIFT));
}
static inline pool_header *pool_at(size_t slot, unsigned idx)
{
    return (pool_header *)(g_hot.meta + (((slot * NPOOLS) + idx) << OBMT_HEADER_SHIFT));
}

/* A pool's memory went back to the OS (purged, or its arena decommitted):
 * its header says so, as a header in the pool's first page read zeros
 * when headers lived there. size 0 makes pool_init set the pool up from
 * scratch and the purge skip it until it is used again; carved_bound 0
 * (relaxed: the arena map reads it) marks it purged in the map. The caller
 * holds the pool (it is free and off the arena's stack, or its arena is
 * CLAIMED); owner is already NULL. */
static void header_reset(pool_header *p)
{
    pool_mark_purged(p);
}

static inline bool state_cas(size_t slot, uint64_t *expected, uint64_t desired)
{
    return ck_pr_cas_64_value(&g_arenas[slot].state, *expected, desired, expected);
}

/* ---- buckets -------------------------------------------------------------- */

/* g_bucket_summary bit k: bucket k may have a bit set. The setter sets the
 * bucket bit, then (if it reads the summary bit clear) the summary bit; a
 * scanner that finds bucket k empty clears the summary bit, then re-reads
 * the bucket and sets the summary bit again if it is not empty. All four are
 * sequentially consistent, so that setter and scanner cannot both miss the
 * other's write (the store-buffering pattern). */
static uint64_t g_bucket_summary;

static inline void bucket_set(size_t slot, unsigned nfree)
{
    if (nfree - 1 >= NPOOLS) /* 0: a full arena is in no bucket */
        return;
    __atomic_fetch_or(&BUCKET_WORD(nfree - 1, slot >> 6), (uint64_t)1 << (slot & 63), __ATOMIC_SEQ_CST);
    uint64_t bit = (uint64_t)1 << (nfree - 1);
    if (!(__atomic_load_n(&g_bucket_summary, __ATOMIC_SEQ_CST) & bit))
        __atomic_fetch_or(&g_bucket_summary, bit, __ATOMIC_SEQ_CST);
}

/* A scan found bucket b empty (words [0, nwords)): clear its summary bit. */
static size_t slots_used_sc(void);
static void bucket_summary_clear(unsigned b)
{
    uint64_t bit = (uint64_t)1 << b;
    __atomic_fetch_and(&g_bucket_summary, ~bit, __ATOMIC_SEQ_CST);
    /* Re-read the slot count after the clear: an arena created since the
     * scan began may sit in a word the scan did not look at. */
    size_t nwords = (slots_used_sc() + 63) >> 6;
    for (size_t w = 0; w < nwords; w++) {
        if (__atomic_load_n(&BUCKET_WORD(b, w), __ATOMIC_SEQ_CST)) {
            __atomic_fetch_or(&g_bucket_summary, bit, __ATOMIC_SEQ_CST);
            return;
        }
    }
}

static inline void bucket_clear(size_t slot, unsigned nfree)
{
    if (nfree - 1 >= NPOOLS)
        return;
    __atomic_fetch_and(&BUCKET_WORD(nfree - 1, slot >> 6), ~((uint64_t)1 << (slot & 63)), __ATOMIC_ACQ_REL);
    uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
    if (ST_NFREE(s) == nfree && !(s & ST_CLAIMED))
        bucket_set(slot, nfree);
}

static inline void bucket_move(size_t slot, unsigned from, unsigned to)
{
    bucket_clear(slot, from);
    bucket_set(slot, to);
}

/* ---- statistics counters -------------------------------------------------- */

static void committed_add(void)
{
    size_t now = obmt_fetch_add_relaxed(&g_committed, 1) + 1;
    size_t hwm = obmt_load_relaxed(&g_committed_hwm);
    while (now > hwm && !__atomic_compare_exchange_n(&g_committed_hwm, &hwm, now, 0,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* ---- taking a pool --------------------------------------------------------- */

static pool_header *arena_recommit(size_t slot, uint64_t claimed, uint64_t *old_state);

/* Pop one pool from slot's arena if it has exactly `want` free pools (the
 * bucket it was found in: a stale bit must not bypass the fullest-first
 * order) and is not claimed (nor decommitted, if `skip` says so). A
 * DECOMMITTED arena is not writable (arena_decommit): the taker claims it
 * and commits it before any pool of it is taken (arena_recommit). */
static pool_header *arena_try_pop(size_t slot, uint64_t *old_state, uint64_t skip, unsigned want)
{
    uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
    for (;;) {
        unsigned nfree = ST_NFREE(s);
        if (nfree != want || (s & (ST_CLAIMED | skip)))
            return NULL;
        if (s & ST_DECOMMITTED) {
            if (state_cas(slot, &s, (s + ST_GEN_ONE) | ST_CLAIMED))
                return arena_recommit(slot, s, old_state);
            continue;
        }
        unsigned head = ST_HEAD(s), virgin = ST_VIRGIN(s), idx;
        uint64_t gen = (s & ST_GEN_MASK) + ST_GEN_ONE;
        uint64_t ns;
        if (head) {
            idx = head - 1;
            /* May read the link of a pool that another thread popped
             * meanwhile: the generation makes the CAS fail. */
            unsigned next = obmt_load_relaxed(&g_arenas[slot].next[idx]);
            ns = st_make(gen, nfree - 1, next & 0xff, virgin);
        } else {
            idx = virgin;
            ns = st_make(gen, nfree - 1, 0, virgin + 1);
        }
        if (state_cas(slot, &s, ns)) {
            *old_state = s;
            if (s & ST_KEPT)
                obmt_fetch_sub_relaxed(&g_kept, 1);
            if (nfree == NPOOLS)
                arena_thp_leave(slot); /* (a former huge run's arena now serves pools) */
            return pool_at(slot, idx);
        }
    }
}

/* g_slots_used may overshoot (a failed fetch_add past the last slot). */
static size_t slots_clamp(size_t n)
{
    return n < g_max_arenas ? n : g_max_arenas;
}

static size_t slots_used(void)
{
    return slots_clamp(obmt_load_relaxed(&g_slots_used));
}

static size_t slots_used_sc(void)
{
    return slots_clamp(__atomic_load_n(&g_slots_used, __ATOMIC_SEQ_CST));
}

/* A slot whose commit failed (out of memory; arena_new_pool, or a huge
 * run's fresh slots that frontier_return could not give back) is marked
 * UNUSABLE, counted in g_failed_slots, and tried again by the next
 * arena_new_pool before it uses up a new slot: out-of-memory episodes do
 * not eat the reservation.
 * Everything else skips an UNUSABLE slot (CLAIMED and DECOMMITTED, no free
 * pools). A retrier takes one with a CAS to CLAIMED. */
#define ST_UNUSABLE (ST_CLAIMED | ST_DECOMMITTED)
static size_t g_failed_slots; /* fetch_add/sub relaxed: a hint that a scan may find one */

/* A slot whose memory range holds somebody else's mapping (window.c: a
 * HOLE): UNUSABLE for good, not counted in g_failed_slots, skipped by
 * claim_failed_slot. The holder's store. */
static void slot_mark_hole(size_t slot)
{
    window_mark_hole(slot);
    uint64_t gen = obmt_load_relaxed(&g_arenas[slot].state) & ST_GEN_MASK;
    obmt_store_release(&g_arenas[slot].state, (gen + ST_GEN_ONE) | ST_UNUSABLE);
}

static size_t claim_failed_slot(void)
{
    size_t used = slots_used();
    for (size_t slot = 0; slot < used; slot++) {
        uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
        if ((s & ~ST_GEN_MASK) == ST_UNUSABLE && !window_slot_hole(slot) &&
            state_cas(slot, &s, ((s & ST_GEN_MASK) + ST_GEN_ONE) | ST_CLAIMED)) {
            obmt_fetch_sub_relaxed(&g_failed_slots, 1);
            return slot;
        }
    }
    return SIZE_MAX;
}

/* Secure mode: the page at the end of the arena's last pool (of every
 * pool, with OBMT_GUARD_EVERY_POOL) becomes a guard page when the arena is
 * committed, and stays one for good: purging (MADV_DONTNEED) keeps
 * protections. Each guard splits the arena's mapping (tunables.h). On
 * failure the arena is made inaccessible again. */
static int arena_guard_pools(void *addr)
{
    if (!OBMT_SECURE)
        return 0;
    for (size_t i = OBMT_GUARD_EVERY_POOL ? 0 : NPOOLS - 1; i < NPOOLS; i++) {
        if (os_guard((char *)addr + (i << OBMT_POOL_SHIFT) + OBMT_POOL_END, OBMT_POOL_GUARD) != 0) {
            os_guard(addr, OBMT_ARENA_SIZE);
            return ENOMEM;
        }
    }
    return 0;
}

/* Commit an arena's memory (and, in secure mode, its guard pages), mapping
 * its headers' slice and its memory first if this is the slot's first use
 * (window.c). 0, ENOMEM, or EEXIST: the slot is a HOLE, somebody else's
 * mapping is there (only for a slot never committed before). */
static uint64_t g_os_refusals; /* commits the OS refused (relaxed): purge_for_memory's trigger */

static int arena_commit(size_t slot)
{
    int e = window_map_headers(slot);
    if (e == 0)
        e = window_map_memory(slot);
    if (e == 0 && arena_guard_pools(pool_addr(slot, 0)) != 0)
        e = ENOMEM;
    if (e == ENOMEM)
        obmt_fetch_add_relaxed(&g_os_refusals, 1);
    return e;
}

/* The caller's CAS set CLAIMED on the DECOMMITTED arena in `slot`, whose
 * state was `claimed` before it: every pool free and virgin (as
 * arena_decommit left it), no taker, giver, purger or decommitter can
 * change the word while CLAIMED is set. Commit the memory, then publish
 * the arena with its first pool taken, or, if the OS refuses, DECOMMITTED
 * again. */
static pool_header *arena_recommit(size_t slot, uint64_t claimed, uint64_t *old_state)
{
    uint64_t gen = (claimed & ST_GEN_MASK) + 2 * ST_GEN_ONE;
    int e = arena_commit(slot);
    if (e == EEXIST) {
        /* Its memory was unmapped (window_release_memory, or a pad never
         * mapped) and somebody else's mapping took the range meanwhile. */
        slot_mark_hole(slot);
        errno = ENOMEM;
        return NULL;
    }
    if (e != 0) {
        obmt_store_release(&g_arenas[slot].state, st_make(gen | ST_DECOMMITTED, NPOOLS, 0, 0));
        bucket_set(slot, NPOOLS); /* a scanner may have cleared it while we held the arena */
        errno = ENOMEM;
        return NULL;
    }
    committed_add();
    *old_state = claimed;
    obmt_store_release(&g_arenas[slot].state, st_make(gen, NPOOLS - 1, 0, 1));
    return pool_at(slot, 0);
}

/* A fresh slot (or one whose commit failed before): commit it, hand pool 0
 * to the caller, file the rest. */
static pool_header *arena_new_pool(void)
{
    for (;;) {
        size_t slot = obmt_load_relaxed(&g_failed_slots) ? claim_failed_slot() : SIZE_MAX;
        if (slot == SIZE_MAX) {
            /* seq_cst: ordered before this slot's bucket_set, against a scanner's
             * summary clear and re-read of the slot count (bucket_summary_clear). */
            slot = __atomic_fetch_add(&g_slots_used, 1, __ATOMIC_SEQ_CST);
            if (slot >= g_max_arenas) {
                errno = ENOMEM;
                return NULL;
            }
        }
        uint64_t gen = obmt_load_relaxed(&g_arenas[slot].state) & ST_GEN_MASK; /* 0 for a new slot */
        int e = arena_commit(slot);
        if (e == EEXIST) {
            slot_mark_hole(slot); /* and on to the next slot */
            continue;
        }
        if (e != 0) {
            obmt_fetch_add_relaxed(&g_failed_slots, 1);
            obmt_store_release(&g_arenas[slot].state, (gen + ST_GEN_ONE) | ST_UNUSABLE);
            errno = ENOMEM;
            return NULL;
        }
        /* Its headers are mapped, so committed_end covers it unless a slower
         * taker's slot below is not yet (window.c): blocks handed out above
         * that gap are recognised by window_owns. */
        committed_add();
        obmt_store_release(&g_arenas[slot].state, st_make(gen + ST_GEN_ONE, NPOOLS - 1, 0, 1));
        bucket_set(slot, NPOOLS - 1);
        return pool_at(slot, 0);
    }
}

/* Scan bucket b for a pool; `skip` as in arena_try_pop. */
static pool_header *bucket_take(unsigned b, size_t nwords, uint64_t skip)
{
    bool seen = false;
    for (size_t w = 0; w < nwords; w++) {
        uint64_t bits = obmt_load_relaxed(&BUCKET_WORD(b, w));
        seen |= bits != 0;
        while (bits) {
            size_t slot = (w << 6) + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            uint64_t old;
            pool_header *p = arena_try_pop(slot, &old, skip, b + 1);
            if (p) {
                bucket_move(slot, b + 1, b);
                return p;
            }
            /* Stale bit (count changed, or claimed): re-file the arena. */
            uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
            if (ST_NFREE(s) != b + 1 || (s & ST_CLAIMED)) {
                bucket_clear(slot, b + 1);
                if (!(s & ST_CLAIMED))
                    bucket_set(slot, ST_NFREE(s));
            }
        }
    }
    if (!seen)
        bucket_summary_clear(b);
    return NULL;
}

static bool purge_for_memory(void);

pool_header *arena_take_pool(void)
{
    bool retried = false;
    arena_maybe_purge(false);
again:;
    uint64_t refusals = obmt_load_relaxed(&g_os_refusals);
    size_t nwords = (slots_used() + 63) >> 6;
    uint64_t summary = __atomic_load_n(&g_bucket_summary, __ATOMIC_SEQ_CST);
    while (summary) {
        unsigned b = (unsigned)__builtin_ctzll(summary);
        summary &= summary - 1;
        /* Among wholly free arenas, those still resident first. */
        pool_header *p = b == NPOOLS - 1 ? bucket_take(b, nwords, ST_DECOMMITTED) : NULL;
        if (p || (p = bucket_take(b, nwords, 0)))
            return p;
    }
    pool_header *p = arena_new_pool();
    if (!p && !retried && obmt_load_relaxed(&g_os_refusals) != refusals && purge_for_memory()) {
        retried = true; /* (once, as arena_take_run_aligned does) */
        goto again;
    }
    return p;
}

/* ---- giving a pool back ------------------------------------------------------ */

/* The arena in `slot` was seen wholly free: keep it (OBMT_KEEP_FREE_ARENAS
 * of them), or leave it to the purge, which decommits it once it has had no
 * pool back for the purge delay (at once when the delay is 0). */
static void arena_decommit(size_t slot);
static void decommit_held(size_t slot, uint64_t s);
static bool thp_forget(size_t slot);
static void purge_if_due(uint64_t t, bool now);
static void arena_wholly_free(size_t slot)
{
    uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
    if (obmt_fetch_add_relaxed(&g_kept, 1) < (size_t)option_get(OPT_KEEP_FREE_ARENAS)) {
        while (ST_NFREE(s) == NPOOLS && !(s & (ST_KEPT | ST_CLAIMED | ST_DECOMMITTED))) {
            if (state_cas(slot, &s, (s + ST_GEN_ONE) | ST_KEPT))
                return;
        }
        obmt_fetch_sub_relaxed(&g_kept, 1); /* someone took a pool meanwhile */
        return;
    }
    obmt_fetch_sub_relaxed(&g_kept, 1);
    if (option_get(OPT_PURGE_DELAY_MS) == 0)
        arena_decommit(slot);
}

/* Decommit the arena in `slot` if it is wholly free and neither kept nor
 * being decommitted by another thread. */
static void arena_decommit(size_t slot)
{
    uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
    for (;;) {
        if (ST_NFREE(s) != NPOOLS || (s & (ST_KEPT | ST_CLAIMED | ST_DECOMMITTED)))
            return;
        if (state_cas(slot, &s, (s + ST_GEN_ONE) | ST_CLAIMED))
            break;
    }
    /* We hold the arena: no pool of it is out (all NPOOLS are free) and
     * takers skip CLAIMED. */
    bucket_clear(slot, NPOOLS);
    decommit_held(slot, s);
}

/* The caller holds the wholly free arena in `slot` (CLAIMED; its word was
 * `s` before): give its pages back, then publish it DECOMMITTED. */
static void decommit_held(size_t slot, uint64_t s)
{
    /* Pages and commit charge go (and on demand the address space: the
     * range is unmapped, window.c); in legacy mode the arena stays
     * readable but not writable. A taker commits it again
     * (arena_recommit). */
    bool failed = window_release_memory(slot) != 0 &&
                  arena_decommit_pages(pool_addr(slot, 0), OBMT_ARENA_SIZE) != 0;
    thp_forget(slot); /* (unmapped: the advice went with the mapping) */
    for (unsigned i = 0; i < NPOOLS; i++)
        header_reset(pool_at(slot, i));
    obmt_fetch_sub_relaxed(&g_committed, 1);
    if (failed) {
        /* The OS refused both: the pages may still hold data (or, after a
         * MAP_FIXED that failed half-way, not be mapped at all), and a
         * huge run's arena lacks its guard pages. Not DECOMMITTED (a huge
         * claim would take its pages for zeros): UNUSABLE, so that
         * arena_new_pool commits it again from scratch (arena_commit:
         * mprotect, guards) before any pool of it is used. */
        obmt_fetch_add_relaxed(&g_failed_slots, 1);
        obmt_store_release(&g_arenas[slot].state, ((s & ST_GEN_MASK) + 2 * ST_GEN_ONE) | ST_UNUSABLE);
        return;
    }
    obmt_fetch_add_relaxed(&g_decommits, 1);
    uint64_t gen = (s & ST_GEN_MASK) + 2 * ST_GEN_ONE;
    obmt_store_release(&g_arenas[slot].state, st_make(gen | ST_DECOMMITTED, NPOOLS, 0, 0));
    bucket_set(slot, NPOOLS);
}

void arena_give_pool(pool_header *p)
{
    size_t slot = pool_number(p) / NPOOLS;
    unsigned idx = (unsigned)(pool_number(p) & (NPOOLS - 1));
    struct arena_object *a = &g_arenas[slot];
    uint64_t s = obmt_load_acquire(&a->state);
    for (;;) {
        obmt_store_relaxed(&a->next[idx], (uint8_t)ST_HEAD(s));
        uint64_t gen = (s & ST_GEN_MASK) + ST_GEN_ONE;
        uint64_t flags = s & (ST_DECOMMITTED | ST_KEPT); /* none can be set: a pool is out */
        uint64_t ns = st_make(gen | flags, ST_NFREE(s) + 1, idx + 1, ST_VIRGIN(s));
        if (state_cas(slot, &s, ns))
            break;
    }
    uint64_t t = os_now_ms();
    obmt_store_relaxed(&a->last_give_ms, t);
    obmt_fetch_add_relaxed(&a->dirty, 1);
    unsigned nfree = ST_NFREE(s) + 1;
    bucket_move(slot, nfree - 1, nfree);
    if (nfree == NPOOLS)
        arena_wholly_free(slot);
    purge_if_due(t, false);
}

/* ---- huge pages for runs ------------------------------------------------------ */

/*
 * A huge block's run is advised for transparent huge pages (MADV_HUGEPAGE,
 * where the kernel's mode is "madvise" and OBMT_HUGE_PAGES is 1; where it
 * is "always" every arena gets them without advice). Each of its 2 MiB
 * arenas, aligned as the window is, then faults in as one page: zeroing
 * 2 MiB instead of 512 faults of 4 KiB (1.7 us each here), and one TLB
 * entry instead of 512 for a program that walks the block. bench_large's
 * loop of 5..25 MiB blocks, each written whole: 130.8 -> 86.8 ms an
 * iteration (medians of 5; tcmalloc 136.9, which leaves THP to the
 * kernel's mode). Only huge blocks' runs (arena_take_huge_run,
 * arena_grow_run): a span arena faults its pools in one by one, and the
 * purge gives back only the pools spans used (their dirty bits), so a
 * huge page there would stay resident whole.
 *
 * The cost, for a program that touches its huge block sparsely: each
 * 2 MiB it touches becomes resident whole (a 64 MiB block of which one
 * byte per MiB is written: 64 MiB resident instead of 256 KiB), and the
 * first touch zeroes 2 MiB. OBMT_HUGE_PAGES=0 turns the advice off.
 *
 * The advice is the kernel's, per mapping: it outlives the block. A run's
 * arenas keep it while they are resident, through the cache and back to
 * the arenas and into the next run, so that a loop of huge blocks makes no
 * system call for it; a run whose arenas all carry it is not advised again
 * (g_arenas[slot].thp). An arena that starts serving pools (its first pool
 * popped while wholly free) or spans (a new span arena) loses the advice
 * (arena_thp_leave), so that its pools fault in 4 KiB at a time as they
 * are used. And since the advice would let khugepaged fill a 2 MiB range
 * whose pools the purge emptied, whoever gives pages of an advised arena
 * back withdraws it first
 * (arena_decommit_pages: the purge, a span purge, a heap's purged pools,
 * the reclaim pass, span_to_huge's pools below its block), and a whole
 * arena decommitted is unmapped, advice and all (decommit_held).
 *
 * thp, per arena: 1 while its range may carry the advice. Set (relaxed
 * store) by a run's taker just before its madvise, while it holds every
 * pool of the arena (HUGE); cleared by exchange (relaxed) by whoever gives
 * pages of the arena back or makes it serve pools or spans
 * (arena_thp_leave), holding at least one pool of it or the whole arena:
 * the setter and a clearer never overlap (the arena's state word orders
 * them, release/acquire). Two clearers may (a purge pass and a heap's
 * purge of its own pool): the exchange lets one of them withdraw the
 * advice. It is a hint: a stale 1 (a failed madvise) costs a needless
 * system call; an arena advised with a 0 would be one khugepaged may fill,
 * never a wrong block.
 */
static bool runs_advised(void)
{
    return os_thp_mode() == OS_THP_MADVISE && option_get(OPT_HUGE_PAGES);
}

/* Are a run's pages huge ones, so that faulting an arena in costs about a
 * page's zeroing? (run_release_resident's condition.) */
static bool run_faults_cheap(void)
{
    return os_thp_mode() == OS_THP_ALWAYS || runs_advised();
}

/* Advise the run [first, first+k) (held, HUGE) unless all of it is already. */
static void run_advise(size_t first, size_t k)
{
    if (!runs_advised())
        return;
    size_t j = 0;
    while (j < k && obmt_load_relaxed(&g_arenas[first + j].thp))
        j++;
    if (j == k)
        return;
    /* Set first: the byte means "may carry the advice", so that a call
     * that fails part-way (ENOMEM at vm.max_map_count) leaves nothing
     * advised that a later give-back would not withdraw. */
    for (j = 0; j < k; j++)
        obmt_store_relaxed(&g_arenas[first + j].thp, 1);
    os_advise_huge(pool_addr(first, 0), k << OBMT_ARENA_SHIFT, true);
}

/* The arena's advice is gone (or about to go): was it there? */
static bool thp_forget(size_t slot)
{
    return obmt_load_relaxed(&g_arenas[slot].thp) && obmt_exchange_relaxed(&g_arenas[slot].thp, 0);
}

void arena_thp_leave(size_t slot)
{
    if (thp_forget(slot))
        os_advise_huge(pool_addr(slot, 0), OBMT_ARENA_SIZE, false);
}

int arena_decommit_pages(void *p, size_t size)
{
    arena_thp_leave(arena_slot_of((uintptr_t)p));
    return os_decommit(p, size);
}

/* A run is about to fault `cold` arenas in (decommitted or fresh): first
 * give back as many resident wholly free arenas (not kept), beyond a slack
 * of 1/OBMT_RUN_RESIDENT_SLACK of the committed ones, the highest slots
 * first (on demand their address space goes too). Without it a loop of
 * huge blocks of changing sizes kept every run it could not reuse resident
 * and faulted fresh ones beside them: bench_large's peak 458 MiB for 353
 * MiB live (jemalloc 383); with it, 404. Only where faults are cheap
 * (run_faults_cheap): with 4 KiB pages the same loop ran 4.5x slower.
 * arena_decommit takes each arena by CAS, as the purge does, and skips one
 * that a taker got first. */
static void run_release_resident(size_t cold)
{
    if (!OBMT_RUN_RESIDENT_SLACK || !cold || !run_faults_cheap() || option_get(OPT_PURGE_DELAY_MS) < 0)
        return;
    /* Count them, up to the slack and `cold` more (the decommitted wholly
     * free arenas are in the bucket too, so stop early). */
    size_t nwords = (slots_used() + 63) >> 6, resident = 0;
    size_t slack = obmt_load_relaxed(&g_committed) / OBMT_RUN_RESIDENT_SLACK;
    for (size_t w = 0; w < nwords && resident < slack + cold; w++)
        for (uint64_t bits = obmt_load_relaxed(&BUCKET_WORD(NPOOLS - 1, w)); bits; bits &= bits - 1) {
            uint64_t st = obmt_load_relaxed(&g_arenas[(w << 6) + (size_t)__builtin_ctzll(bits)].state);
            resident += ST_NFREE(st) == NPOOLS && !(st & (ST_KEPT | ST_CLAIMED | ST_DECOMMITTED));
        }
    if (resident <= slack)
        return;
    /* Huge pages switched off for this process (prctl PR_SET_THP_DISABLE:
     * redis does it) make the faults 4 KiB ones after all. */
    if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) > 0)
        return;
    /* As a purge pass, one at a time and never across a fork (the prepare
     * handler waits for g_purging): a fork child finds no arena CLAIMED by
     * a thread it lost. Busy: skip (a hint, never needed for progress). */
    int expected = 0;
    if (!obmt_cas_acq_rel(&g_purging, &expected, PURGE_PASS))
        return;
    size_t n = resident - slack < cold ? resident - slack : cold;
    for (size_t w = nwords; w-- > 0 && n;) {
        uint64_t bits = obmt_load_relaxed(&BUCKET_WORD(NPOOLS - 1, w));
        while (bits && n) {
            unsigned i = 63 - (unsigned)__builtin_clzll(bits);
            bits &= ~((uint64_t)1 << i);
            size_t slot = (w << 6) + i;
            uint64_t st = obmt_load_relaxed(&g_arenas[slot].state);
            if (ST_NFREE(st) == NPOOLS && !(st & (ST_KEPT | ST_CLAIMED | ST_DECOMMITTED))) {
                arena_decommit(slot);
                n--;
            }
        }
    }
    obmt_store_release(&g_purging, 0);
}

/* ---- runs of whole arenas, for huge blocks (huge.c) ------------------------- */

/*
 * A huge block is a run of k adjacent arenas, all HUGE ({HUGE, nfree 0,
 * head 0, virgin NPOOLS}: full to takers, the purge and the decommitter,
 * which skip them with the tests they already make). Its claimer takes the
 * run from, in order:
 *   1. wholly free arenas (bucket NPOOLS-1, resident, kept or decommitted):
 *      the shortest run of set bits in that bucket that holds k, lowest
 *      address among equals (best fit, so that long runs stay whole). Each
 *      arena is claimed left to right by one CAS from its wholly free word
 *      (a resident one straight to HUGE, a decommitted one to CLAIMED
 *      until it is committed again); if one fails (a taker got there first,
 *      or the bit was stale) the ones already claimed go back as they were
 *      and the search starts again. A failed CAS means another thread
 *      succeeded: lock-free.
 *   2. fresh slots at the frontier: one CAS of g_slots_used from n to n+k
 *      (a CAS, not arena_new_pool's fetch_add, so that no slot is burnt by
 *      an overshoot), then a commit of each.
 * The freer gives each arena back wholly free and virgin: its headers were
 * all reset on the way in (a resident arena's used pools on the claim, the
 * head pool by huge_free), its pages still resident. It is then an ordinary
 * wholly free arena: pool takers reach it last (fullest first), a later
 * run takes it whole, and the purge decommits it once it has had nothing
 * back for the purge delay. Adjacent freed runs coalesce in the bucket.
 */

#if OBMT_TEST_HOOKS
int arena_run_fail_claim; /* test hook: the claim of the n-th arena of the next run fails (once) */
#endif

/* Claim the arena in `slot` for a run if it is wholly free and not
 * CLAIMED. Its old word goes to run_old (for the rollback and the header
 * resets); a resident arena becomes HUGE at once, a decommitted one
 * CLAIMED until arena_take_run has committed it. */
static bool run_claim_slot(size_t slot)
{
    uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
    for (;;) {
        if (ST_NFREE(s) != NPOOLS || (s & ST_CLAIMED))
            return false;
        uint64_t gen = (s & ST_GEN_MASK) + ST_GEN_ONE;
        uint64_t ns = (s & ST_DECOMMITTED) ? gen | ST_CLAIMED | (s & ~ST_GEN_MASK)
                                           : st_make(gen | ST_HUGE, 0, 0, NPOOLS);
        if (state_cas(slot, &s, ns))
            break;
    }
    g_arenas[slot].run_old = s;
    if (s & ST_KEPT)
        obmt_fetch_sub_relaxed(&g_kept, 1);
    bucket_clear(slot, NPOOLS);
    return true;
}

/* Undo run_claim_slot (nothing was written to the arena meanwhile: its
 * free-pool stack and headers are as they were). The holder's store. */
static void run_unclaim_slot(size_t slot)
{
    uint64_t old = g_arenas[slot].run_old;
    uint64_t cur = obmt_load_relaxed(&g_arenas[slot].state);
    if (old & ST_KEPT) /* counted before KEPT shows, as arena_wholly_free does */
        obmt_fetch_add_relaxed(&g_kept, 1);
    obmt_store_release(&g_arenas[slot].state, ((cur & ST_GEN_MASK) + ST_GEN_ONE) | (old & ~ST_GEN_MASK));
    bucket_set(slot, NPOOLS);
}

/* A held arena (CLAIMED or fresh) that was committed goes back wholly free,
 * resident and virgin (its headers are reset): a run that could not be
 * completed. */
static void run_drop_committed(size_t slot, uint64_t t)
{
    uint64_t cur = obmt_load_relaxed(&g_arenas[slot].state);
    obmt_store_relaxed(&g_arenas[slot].last_give_ms, t);
    obmt_fetch_add_relaxed(&g_arenas[slot].dirty, 1);
    obmt_store_release(&g_arenas[slot].state, st_make((cur & ST_GEN_MASK) + ST_GEN_ONE, NPOOLS, 0, 0));
    bucket_set(slot, NPOOLS);
}

/* The first slot >= from that is congruent to res modulo step. */
static inline size_t slot_align_up(size_t from, size_t step, size_t res)
{
    return from + (res + step - from % step) % step;
}

/* Among the maximal runs of set bits of bucket NPOOLS-1 that hold k arenas
 * from a slot congruent to res modulo step (1 and 0: any), the one whose
 * first k arenas have the fewest decommitted, then the shortest, then the
 * lowest: its first such slot, or SIZE_MAX. Bits and words are hints: the
 * claim checks each arena's word. */
static size_t run_find(size_t k, size_t step, size_t res)
{
    size_t nwords = (slots_used() + 63) >> 6;
    size_t best = SIZE_MAX, best_len = SIZE_MAX, best_cold = SIZE_MAX, start = 0, len = 0;
    for (size_t w = 0; w <= nwords; w++) {
        /* (a last word ends the run) */
        uint64_t bits = w < nwords ? obmt_load_relaxed(&BUCKET_WORD(NPOOLS - 1, w)) : 0;
        unsigned i = 0;
        while (i < 64) {
            uint64_t rest = bits >> i;
            if (rest & 1) { /* ones from i */
                unsigned ones = ~rest ? (unsigned)__builtin_ctzll(~rest) : 64 - i;
                if (!len)
                    start = (w << 6) + i;
                len += ones;
                i += ones;
            } else {
                size_t at = step == 1 ? start : slot_align_up(start, step, res);
                if (len >= k && at - start <= len - k && (best_cold || len < best_len)) {
                    /* Resident arenas first: a run whose pages are there
                     * faults nothing in (and keeps the resident set from
                     * growing while free resident arenas wait). */
                    size_t cold = 0;
                    for (size_t j = 0; j < k && cold < best_cold; j++)
                        cold += (obmt_load_relaxed(&g_arenas[at + j].state) & ST_DECOMMITTED) != 0;
                    if (cold < best_cold || (cold == best_cold && len < best_len)) {
                        best = at;
                        best_len = len;
                        best_cold = cold;
                    }
                }
                len = 0;
                if (!rest)
                    break;
                i += (unsigned)__builtin_ctzll(rest);
            }
        }
    }
    return best;
}

/* Commit the claimed arenas [first, first+k) whose old word says
 * DECOMMITTED, and reset the used pools' headers of the resident ones
 * (pool_reset_for_run: no stale free list or free key is left in memory
 * that becomes the program's). On a failed commit everything is given back
 * (committed ones resident and virgin) and ENOMEM returned. *zero: every
 * arena of the run reads zeros (all were decommitted). */
static int run_prepare(size_t first, size_t k, bool *zero)
{
    bool all_zero = true;
    for (size_t j = 0; j < k; j++) {
        size_t slot = first + j;
        uint64_t old = g_arenas[slot].run_old;
        if (!(old & ST_DECOMMITTED)) {
            all_zero = false;
            continue;
        }
        int e = arena_commit(slot);
        if (e != 0) {
            uint64_t t = os_now_ms();
            for (size_t i = 0; i < k; i++) {
                size_t si = first + i;
                if (i < j && (g_arenas[si].run_old & ST_DECOMMITTED))
                    run_drop_committed(si, t);
                else if (i == j && e == EEXIST)
                    slot_mark_hole(si); /* its memory was unmapped, and somebody else mapped there */
                else
                    run_unclaim_slot(si);
            }
            errno = ENOMEM;
            return e;
        }
        committed_add();
    }
    for (size_t j = 0; j < k; j++) {
        size_t slot = first + j;
        uint64_t old = g_arenas[slot].run_old;
        if (old & ST_DECOMMITTED) {
            obmt_store_release(&g_arenas[slot].state, st_make(((old & ST_GEN_MASK) + 2 * ST_GEN_ONE) | ST_HUGE, 0, 0, NPOOLS));
            continue;
        }
        for (unsigned i = 0; i < ST_VIRGIN(old); i++)
            pool_reset_for_run(pool_at(slot, i));
    }
    *zero = all_zero;
    return 0;
}

/* The fresh slots [from, end) a frontier CAS took (run_fresh, arena_grow_run)
 * whose commits failed, out of memory: back to the frontier with one CAS
 * of g_slots_used from exactly `end` to `from`, when no slot was taken
 * after them. Their words were never written (still 0: everyone skips
 * them, as an arena_new_pool slot before its commit) and no bucket bit
 * names them, so a reader that saw the higher count loses nothing, and
 * every slot below `from` stays counted (bucket_summary_clear's re-read).
 * If another claim came after them, they are marked UNUSABLE instead
 * (arena_new_pool retries them one by one). Without the CAS back, every
 * failed huge request under a memory limit would take k slots for good
 * (stress_oom found it: 63 slots used for 18 arenas committed). */
static void frontier_return(size_t from, size_t end)
{
    size_t e = end;
    if (from == end ||
        __atomic_compare_exchange_n(&g_slots_used, &e, from, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return;
    for (size_t s = from; s < end; s++) {
        obmt_fetch_add_relaxed(&g_failed_slots, 1);
        obmt_store_release(&g_arenas[s].state, ST_GEN_ONE | ST_UNUSABLE);
    }
}

/* The fresh slots [from, from + n) skipped to reach an aligned one
 * (run_fresh's pad), each published at once: wholly free and DECOMMITTED,
 * as the purge leaves an arena, for anyone, with only its headers' slice
 * mapped (pointers below committed_end must have readable headers); its
 * memory is mapped by whoever takes it (arena_recommit, run_prepare). A
 * HOLE among them is published as one; a slot whose headers the OS refused
 * is left UNUSABLE for arena_new_pool to try again. An alignment of 2^k
 * pads up to 2^(k-21) - 1 slots: their memory mapped had counted against
 * RLIMIT_AS (1 GiB for a 1 GiB alignment) and committed, their commit
 * charge (tens of GiB for 2^35, 30000 mappings in secure mode). */
static void pad_release(size_t from, size_t n)
{
    for (size_t slot = from; slot < from + n; slot++) {
        int e = window_map_headers(slot);
        if (e == EEXIST) {
            slot_mark_hole(slot);
        } else if (e != 0) {
            obmt_fetch_add_relaxed(&g_failed_slots, 1);
            obmt_store_release(&g_arenas[slot].state, ST_GEN_ONE | ST_UNUSABLE);
        } else {
            obmt_store_release(&g_arenas[slot].state, st_make(ST_GEN_ONE | ST_DECOMMITTED, NPOOLS, 0, 0));
            bucket_set(slot, NPOOLS);
        }
    }
}

/* k fresh slots at the frontier, committed and HUGE, from a slot congruent
 * to res modulo step; the slots skipped to get there (pad) are left wholly
 * free and decommitted (pad_release). */
static size_t run_fresh(size_t k, size_t step, size_t res, bool *zero)
{
again:;
    size_t n0 = __atomic_load_n(&g_slots_used, __ATOMIC_SEQ_CST), pad;
    do {
        pad = slot_align_up(n0, step, res) - n0;
        if (n0 >= g_max_arenas || k + pad > g_max_arenas - n0) {
            errno = ENOMEM;
            return SIZE_MAX;
        }
    } while (!__atomic_compare_exchange_n(&g_slots_used, &n0, n0 + pad + k, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    if (pad) {
        pad_release(n0, pad);
        n0 += pad;
    }
    for (size_t j = 0; j < k; j++) {
        int e = arena_commit(n0 + j);
        if (e == 0)
            continue;
        /* Out of memory, or a HOLE: the committed ones become wholly free
         * arenas, the rest go back to the frontier (frontier_return); past
         * a HOLE the run is looked for again, further on. */
        uint64_t t = os_now_ms();
        for (size_t i = 0; i < j; i++) {
            committed_add();
            run_drop_committed(n0 + i, t);
        }
        if (e == EEXIST) {
            slot_mark_hole(n0 + j);
            frontier_return(n0 + j + 1, n0 + k);
            goto again; /* (each HOLE is met once) */
        }
        frontier_return(n0 + j, n0 + k);
        errno = ENOMEM;
        return SIZE_MAX;
    }
    /* Every slot's headers are mapped, so committed_end covers the run
     * unless a slower taker's slot below is not yet (window.c). */
    for (size_t j = 0; j < k; j++) {
        committed_add();
        obmt_store_release(&g_arenas[n0 + j].state, st_make(ST_GEN_ONE | ST_HUGE, 0, 0, NPOOLS));
    }
    *zero = true;
    return n0;
}

/* The run itself; *cold: how many of its arenas it faults in (decommitted
 * or fresh). */
static size_t arena_take_run_aligned(size_t k, size_t step, size_t res, bool *zero, size_t *cold)
{
    bool retried = false;
    arena_maybe_purge(false);
again:;
    uint64_t refusals = obmt_load_relaxed(&g_os_refusals);
    /* Search and claim until a run is had or none is left. A failed claim
     * re-files the arena it failed on (bucket_clear reads its word again:
     * a stale bit goes, so the next search does not pick the same run), so
     * each round either drops a stale bit or lost to another thread's
     * success; after 64 such rounds the frontier serves. */
    for (int round = 0; round < 64; round++) {
        size_t first = run_find(k, step, res);
        if (first == SIZE_MAX)
            break;
        size_t j = 0;
        while (j < k && run_claim_slot(first + j)) {
#if OBMT_TEST_HOOKS
            if (obmt_load_relaxed(&arena_run_fail_claim) && (size_t)obmt_fetch_sub_relaxed(&arena_run_fail_claim, 1) == 1) {
                run_unclaim_slot(first + j);
                break;
            }
#endif
            j++;
        }
        if (j < k) {
            bucket_clear(first + j, NPOOLS); /* (sets the bit again if the arena is wholly free after all) */
            while (j--)
                run_unclaim_slot(first + j);
            continue;
        }
        int e = run_prepare(first, k, zero);
        if (e == EEXIST)
            continue; /* (a HOLE now: the search goes on without it) */
        if (e != 0)
            return SIZE_MAX;
        for (*cold = 0, j = 0; j < k; j++)
            *cold += (g_arenas[first + j].run_old & ST_DECOMMITTED) != 0;
        return first;
    }
    size_t first = run_fresh(k, step, res, zero);
    if (first != SIZE_MAX) {
        *cold = k;
        return first;
    }
    if (!retried && obmt_load_relaxed(&g_os_refusals) != refusals && purge_for_memory()) {
        retried = true; /* (once: what the pass gave back is searched again) */
        goto again;
    }
    return first;
}

size_t arena_take_run(size_t k, bool *zero)
{
    size_t cold;
    return arena_take_run_aligned(k, 1, 0, zero, &cold);
}

size_t arena_take_huge_run(size_t k, size_t step, size_t res, bool *zero)
{
    size_t cold = 0, first = arena_take_run_aligned(k, step, res, zero, &cold);
    if (first != SIZE_MAX) {
        run_release_resident(cold);
        run_advise(first, k);
    }
    return first;
}

bool arena_grow_run(size_t first, size_t k, size_t k2)
{
    size_t j = first + k, end = first + k2, used = slots_used_sc();
    if (end > g_max_arenas)
        return false;
    /* The wholly free arenas after the run, claimed left to right... */
    for (; j < end && j < used; j++) {
        if (!run_claim_slot(j)) {
            bucket_clear(j, NPOOLS); /* (a stale bit goes; a wholly free arena is filed again) */
            while (j-- > first + k)
                run_unclaim_slot(j);
            return false;
        }
    }
    bool zero;
    if (j > first + k && run_prepare(first + k, j - (first + k), &zero) != 0)
        return false; /* (run_prepare gave them back) */
    if (j == end) {
        run_advise(first + k, k2 - k);
        return true;
    }
    /* ... then, if the run reaches the frontier, fresh slots: one CAS from
     * exactly there (any other thread's slot in between and it fails). */
    size_t n0 = j;
    bool fresh = __atomic_compare_exchange_n(&g_slots_used, &n0, end, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    size_t i = j;
    int e = 0;
    while (fresh && i < end && (e = arena_commit(i)) == 0)
        i++;
    if (fresh) {
        for (size_t s = j; s < i; s++) {
            committed_add();
            obmt_store_release(&g_arenas[s].state, st_make(ST_GEN_ONE | ST_HUGE, 0, 0, NPOOLS));
        }
        if (i == end) {
            run_advise(first + k, k2 - k);
            return true;
        }
        if (e == EEXIST)
            slot_mark_hole(i);
        frontier_return(i + (e == EEXIST), end); /* out of memory, or past a HOLE: the rest back to the frontier */
    }
    if (i > first + k)
        arena_give_run(first + k, i - (first + k)); /* HUGE now: given back as a run's would be */
    return false;
}

void arena_give_run(size_t first, size_t k)
{
    arena_give_run_at(first, k, os_now_ms());
}

void arena_give_run_at(size_t first, size_t k, uint64_t t)
{
    for (size_t j = 0; j < k; j++) {
        size_t slot = first + j;
        struct arena_object *a = &g_arenas[slot];
        uint64_t s = obmt_load_acquire(&a->state);
        uint64_t gen = (s & ST_GEN_MASK) + ST_GEN_ONE;
        /* Secure mode: the run's guard pages went, so the arena is
         * decommitted before anyone can take a pool of it (arena_commit
         * guards it again); held CLAIMED meanwhile. */
        uint64_t ns = OBMT_SECURE ? gen | ST_CLAIMED | NPOOLS : st_make(gen, NPOOLS, 1, NPOOLS);
        /* Checked before anything is written to the arena: a run that is
         * not held whole is not the caller's (huge_free's CAS on the count
         * word lets one free of a block through; this catches the rest). */
        if ((s & ~ST_GEN_MASK) != st_make(ST_HUGE, 0, 0, NPOOLS))
            os_fatal("free(): double free of", pool_addr(first, 0), "an arena of its huge block's run is not held");
        obmt_store_relaxed(&a->last_give_ms, t); /* before: the purge must not find it old */
        /* Every pool on the free-pool stack, in address order, its header
         * dirty (pool_mark_dirty): once a taker has a pool of it, the purge
         * gives the others' pages back one by one (had they been filed
         * virgin, their old pages would stay until the whole arena is free
         * again). A stale popper may read these links: the generation
         * fails its CAS. */
        if (!OBMT_SECURE) {
            for (unsigned i = 0; i < NPOOLS; i++) {
                pool_mark_dirty(pool_at(slot, i));
                obmt_store_relaxed(&a->next[i], (uint8_t)(i + 1 < NPOOLS ? i + 2 : 0));
            }
        }
        /* A CAS, though the holder alone may change the word: a bug that let
         * two threads give one run back fails here rather than silently. */
        if (!state_cas(slot, &s, ns))
            os_fatal("free(): double free of", pool_addr(first, 0), "an arena of its huge block's run is not held");
        if (OBMT_SECURE) {
            decommit_held(slot, ns & ~ST_CLAIMED); /* (as if from a wholly free word) */
            continue;
        }
        obmt_fetch_add_relaxed(&a->dirty, 1);
        bucket_set(slot, NPOOLS);
        arena_wholly_free(slot);
    }
    purge_if_due(t, false);
}

/* ---- purging: free pools' pages back to the OS after a delay ---------------- */

/* Give back the pages of the free pools of a partly used arena. Takes the
 * arena's whole free-pool stack with one CAS (the pools are then the
 * purger's: no other thread can take them), decommits every pool that was
 * used since it was last purged (a used pool has a non-zero size in its
 * header; header_reset clears it), and pushes the stack back with one
 * CAS. Meanwhile other threads may take virgin pools or give pools back:
 * those go on a new stack in front of the returned one. */
static void arena_purge(size_t slot)
{
    struct arena_object *a = &g_arenas[slot];
    /* Clear dirty before the take: a pool given back after this clear is
     * either in the stack we take (purged now) or marks the arena again. */
    obmt_exchange_acq_rel(&a->dirty, 0);
    uint64_t s = obmt_load_acquire(&a->state);
    unsigned nstack;
    for (;;) {
        if (s & (ST_CLAIMED | ST_DECOMMITTED | ST_KEPT | ST_HUGE))
            return;
        nstack = ST_NFREE(s) - (NPOOLS - ST_VIRGIN(s)); /* free pools that are not virgin */
        if (nstack == 0 || ST_HEAD(s) == 0)
            return;
        uint64_t gen = (s & ST_GEN_MASK) + ST_GEN_ONE;
        if (state_cas(slot, &s, st_make(gen, ST_NFREE(s) - nstack, 0, ST_VIRGIN(s))))
            break;
    }
    bucket_move(slot, ST_NFREE(s), ST_NFREE(s) - nstack);
    unsigned order[NPOOLS], n = 0;
    for (unsigned i = ST_HEAD(s); i && n < NPOOLS; i = obmt_load_relaxed(&a->next[i - 1]))
        order[n++] = i - 1;
    /* Decommit runs of adjacent used pools with one call each. */
    uint64_t used = 0;
    for (unsigned k = 0; k < n; k++)
        if (pool_at(slot, order[k])->size != 0)
            used |= (uint64_t)1 << order[k];
    obmt_fetch_add_relaxed(&g_pools_purged, (uint64_t)__builtin_popcountll(used));
    while (used) {
        unsigned lo = (unsigned)__builtin_ctzll(used), hi = lo;
        while (hi + 1 < NPOOLS && (used >> (hi + 1) & 1))
            hi++;
        if (arena_decommit_pages(pool_addr(slot, lo), (size_t)(hi - lo + 1) << OBMT_POOL_SHIFT) == 0)
            for (unsigned i = lo; i <= hi; i++)
                header_reset(pool_at(slot, i)); /* (a failed purge leaves memory and headers as they were) */
        used &= ~((((uint64_t)2 << hi) - 1) & ~(((uint64_t)1 << lo) - 1));
    }
    /* Push the n pools back in their order, in front of whatever stack the
     * arena has now. */
    for (unsigned k = 0; k + 1 < n; k++)
        obmt_store_relaxed(&a->next[order[k]], (uint8_t)(order[k + 1] + 1));
    s = obmt_load_acquire(&a->state);
    for (;;) {
        obmt_store_relaxed(&a->next[order[n - 1]], (uint8_t)ST_HEAD(s));
        uint64_t gen = (s & ST_GEN_MASK) + ST_GEN_ONE;
        if (state_cas(slot, &s, st_make(gen, ST_NFREE(s) + n, order[0] + 1, ST_VIRGIN(s))))
            break;
    }
    unsigned nfree = ST_NFREE(s) + n;
    bucket_move(slot, ST_NFREE(s), nfree);
    if (nfree == NPOOLS) { /* idle for the delay already: keep it or decommit it */
        arena_wholly_free(slot);
        arena_decommit(slot);
    }
}

/* The OS refused memory (RLIMIT_AS, the commit limit; not a full window):
 * give back at once what the purge delay holds whole (cached huge runs,
 * wholly free arenas: their address space goes too on demand), so that the
 * caller's one more try may fit where glibc, which unmaps at free, would.
 * Free pools of arenas in use keep their pages (giving those back frees no
 * address space and no commit charge). Never waits: false when a pass is
 * running already, purging is off, or nothing was given back. */
static bool purge_for_memory(void)
{
    long delay = option_get(OPT_PURGE_DELAY_MS);
    int expected = 0;
    if (delay < 0 || !obmt_cas_acq_rel(&g_purging, &expected, PURGE_PASS))
        return false;
    size_t before = obmt_load_relaxed(&g_decommits);
    huge_cache_purge(true, os_now_ms(), delay);
    size_t used = slots_used();
    for (size_t slot = 0; slot < used; slot++) {
        uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
        if (ST_NFREE(s) == NPOOLS && !(s & (ST_KEPT | ST_CLAIMED | ST_DECOMMITTED))) {
            obmt_store_relaxed(&g_arenas[slot].dirty, 0);
            arena_decommit(slot);
        }
    }
    obmt_store_release(&g_purging, 0);
    return obmt_load_relaxed(&g_decommits) != before;
}

/* One purge pass over the arenas, at most every purge_delay_ms / 4: purge
 * those that have had no pool back for the delay (all of them if `now`).
 * At most one thread runs a pass; others skip it (purging is never needed
 * for progress). */
static void purge_if_due(uint64_t t, bool now)
{
    long delay = option_get(OPT_PURGE_DELAY_MS);
    if (delay < 0)
        return;
    if (!now && delay > 0 && t < obmt_load_relaxed(&g_next_purge_ms))
        return;
    /* A forced pass (obmt_collect promises the pages back on return) waits
     * for a running one: only collect ever waits, never malloc or free, and
     * never for a fork's hold (an atfork handler may call obmt_collect). */
    int expected = 0;
    while (!obmt_cas_acq_rel(&g_purging, &expected, PURGE_PASS)) {
        if (!now || expected == PURGE_FORK)
            return;
        expected = 0;
        sched_yield();
    }
    obmt_store_relaxed(&g_next_purge_ms, t + (uint64_t)(delay / 4 + 1));
    huge_cache_purge(now, t, delay); /* first: the runs it gives back are purged below once old */
    depot_purge(now, t, delay);      /* (its chains go back as freed now: their pages a delay later) */
    span_purge(now, t, delay);       /* (the span arenas it retires, too) */
    size_t used = slots_used();
    for (size_t slot = 0; slot < used; slot++) {
        struct arena_object *a = &g_arenas[slot];
        if (!obmt_load_relaxed(&a->dirty))
            continue;
        /* signed: a give after t was read is not old */
        if (!now && (int64_t)(t - obmt_load_relaxed(&a->last_give_ms)) < (int64_t)delay)
            continue;
        uint64_t s = obmt_load_acquire(&a->state);
        if (ST_NFREE(s) == NPOOLS) {
            obmt_store_relaxed(&a->dirty, 0);
            arena_decommit(slot);
        } else {
            arena_purge(slot);
        }
    }
    obmt_store_release(&g_purging, 0);
}

/* Before fork: wait for a running purge pass and hold others off, so that
 * the child finds no arena half purged (its pools off the free stack, or a
 * whole arena CLAIMED by a thread that is not in the child). */
void arena_atfork_prepare(void)
{
    int expected = 0;
    while (!obmt_cas_acq_rel(&g_purging, &expected, PURGE_FORK)) {
        expected = 0;
        sched_yield();
    }
}

void arena_atfork_parent(void)
{
    obmt_store_release(&g_purging, 0);
}

void arena_atfork_child(void)
{
    obmt_store_relaxed(&g_purging, 0);
    /* Slots that other threads had taken from the frontier but not yet
     * published (state word 0): their takers are not in the child. One
     * whose headers were not mapped yet would hold committed_end below it
     * for good (window.c; every block above it then takes free's slow
     * path): map them here and leave the slot for the next new arena, as
     * one whose commit failed. (The rest of such a slot, or of a run, is
     * the fork leak of claims in flight.) */
    size_t used = slots_used();
    for (size_t slot = obmt_load_relaxed(&g_hot.committed_end) >> OBMT_ARENA_SHIFT; slot < used; slot++) {
        if (obmt_load_relaxed(&g_arenas[slot].state) == 0 && window_adopt_orphan(slot)) {
            obmt_fetch_add_relaxed(&g_failed_slots, 1);
            obmt_store_release(&g_arenas[slot].state, ST_GEN_ONE | ST_UNUSABLE);
        }
    }
    window_advance_end(); /* (also over a slot whose taker set SLOT_HDR and was gone before it moved the end) */
}

void arena_maybe_purge(bool now)
{
    purge_if_due(os_now_ms(), now);
}

void arena_maybe_purge_at(uint64_t t)
{
    purge_if_due(t, false);
}

/* ---- statistics ---------------------------------------------------------------- */

void arena_walk_pools(void (*fn)(const pool_header *p, void *arg), void *arg)
{
    size_t used = slots_used();
    for (size_t slot = 0; slot < used; slot++) {
        uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
        if (!s || (s & (ST_DECOMMITTED | ST_CLAIMED | ST_HUGE))) /* (huge runs: counted by huge.c) */
            continue;
        for (unsigned i = 0; i < ST_VIRGIN(s); i++)
            fn(pool_at(slot, i), arg);
    }
}

size_t arena_slots_used(void)
{
    return slots_used();
}

size_t arena_slots_used_sc(void)
{
    return slots_used_sc();
}

#if OBMT_TEST_HOOKS
/* A slot taker stalled between its fetch_add and its mmap (unit_window):
 * the slot is taken and nothing of it is mapped, so committed_end cannot
 * pass it. Unstalled, it maps its headers (committed_end moves over every
 * slot ready above it) and is left for the next arena_new_pool, as a slot
 * whose commit failed. */
size_t arena_test_stall_slot(void)
{
    return __atomic_fetch_add(&g_slots_used, 1, __ATOMIC_SEQ_CST);
}

void arena_test_unstall_slot(size_t slot)
{
    if (window_map_headers(slot) != 0)
        os_fatal("arena_test_unstall_slot", NULL, "could not map the headers");
    obmt_fetch_add_relaxed(&g_failed_slots, 1);
    obmt_store_release(&g_arenas[slot].state, ST_GEN_ONE | ST_UNUSABLE);
}
#endif

int arena_slot_virgin(size_t slot)
{
    uint64_t s = obmt_load_acquire(&g_arenas[slot].state);
    if (s & ST_HUGE)
        return -2;
    if (!s || (s & (ST_DECOMMITTED | ST_CLAIMED)))
        return -1;
    return (int)ST_VIRGIN(s);
}

uint64_t arena_pools_purged(void)
{
    return obmt_load_relaxed(&g_pools_purged);
}

void arena_counts(struct obmt_arena_counts *out)
{
    size_t used = slots_used(), free_pools = 0, huge = 0;
    for (size_t i = 0; i < used; i++) {
        uint64_t s = obmt_load_relaxed(&g_arenas[i].state);
        huge += (s & ST_HUGE) != 0;
        if (s && !(s & (ST_DECOMMITTED | ST_CLAIMED)))
            free_pools += ST_NFREE(s);
    }
    out->huge = huge;
    out->slots_used = used;
    out->committed = obmt_load_relaxed(&g_committed);
    out->committed_hwm = obmt_load_relaxed(&g_committed_hwm);
    out->free_pools = free_pools;
    out->decommits = obmt_load_relaxed(&g_decommits);
}
