/*
 * stats.c: statistics, in the spirit of CPython's sys._debugmallocstats().
 *
 * Two sources, both read while other threads may run:
 *  - counters: each heap's own (the owner writes them with relaxed stores),
 *    a few global ones (fetch_add relaxed) and the arenas' state words;
 *  - a walk over the header of every pool ever handed out (arena_walk_pools),
 *    which reads only owner, szidx, count and remote, all written
 *    atomically: it classifies each pool (free, used, full, empty cached,
 *    abandoned) and counts blocks in use per size class, less those waiting
 *    in threads' remote-free batches (freed, not yet handed over).
 * Each figure is exact once the threads are quiet; while they run, a sum
 * may mix moments.
 *
 * Output: obmt_stats_get (a versioned struct), obmt_stats_print (text, one
 * line per callback), obmt_stats_json (one JSON object). At exit a
 * destructor prints them as OBMT_SHOW_STATS and OBMT_STATS_FILE ask.
 * Formatting uses snprintf with integer conversions only, into stack
 * buffers: nothing here allocates.
 */
#include "internal.h"

#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* remote_frees is the heaps' handed-over counts (read first) plus the
 * blocks waiting in their batches (read after the arena walk). A batch
 * handed over between the two reads is counted in neither, so one read
 * could show fewer remote frees than the one before: each read reports at
 * least the largest it has reported (CAS-max, relaxed: a hint, as every
 * figure read while threads run). */
static uint64_t g_remote_frees_reported;

/* medium_allocs and medium_frees are read heap by heap while the threads
 * run: a heap's allocs read before one of its threads mallocs a block
 * from its cache and its frees read after that thread frees it show more
 * frees than mallocs (review of 2026-12-02: 1 read in 100,000 of a
 * thread churning bursts of medium blocks). The frees read are at most
 * the frees made, and so at most the mallocs made: medium_allocs reports
 * at least medium_frees, and at least the largest figure it reported
 * before, as remote_frees does: each is a figure at most the truth
 * (tests/mt/mt_span_stats.c checks every read against the mallocs
 * begun). */
static uint64_t g_medium_allocs_reported;

static uint64_t monotonic(uint64_t *reported, uint64_t n)
{
    uint64_t seen = obmt_load_relaxed(reported);
    while (seen < n && !obmt_cas_relaxed(reported, &seen, n)) {
    }
    return seen > n ? seen : n;
}

_Static_assert(OBMT_STATS_V1_SIZE == offsetof(struct obmt_stats, bytes_in_use), "version 1 layout");
_Static_assert(OBMT_STATS_V2_SIZE == offsetof(struct obmt_stats, remote_batches), "version 2 layout");
_Static_assert(OBMT_STATS_V3_SIZE == offsetof(struct obmt_stats, pools_reclaimed), "version 3 layout");
_Static_assert(OBMT_STATS_V4_SIZE == offsetof(struct obmt_stats, heaps_lent), "version 4 layout");
_Static_assert(OBMT_STATS_V5_SIZE == offsetof(struct obmt_stats, pools_shared), "version 5 layout");
_Static_assert(OBMT_STATS_V6_SIZE == offsetof(struct obmt_stats, huge_allocs), "version 6 layout");
_Static_assert(OBMT_STATS_V7_SIZE == offsetof(struct obmt_stats, medium_allocs), "version 7 layout");
_Static_assert(OBMT_NCLASSES <= OBMT_STATS_MAX_CLASSES, "classes[] holds every size class");

struct walk {
    struct obmt_stats *out;
    uint64_t owned, abandoned, reclaimed;
};

static void walk_pool(const pool_header *p, void *arg)
{
    struct walk *w = arg;
    struct heap *owner = obmt_load_relaxed(&p->owner);
    if (!owner || owner == OWNER_HUGE)
        return; /* free in its arena: counted from the state words; or a huge block's
                 * head claimed after the walk read its arena's word (counted there too) */
    unsigned c = obmt_load_relaxed(&p->szidx);
    if (c >= OBMT_NCLASSES)
        return; /* being set up right now */
    uint32_t count = obmt_load_relaxed(&p->count);
    uintptr_t remote = obmt_load_relaxed(&p->remote);
    uint32_t pending = (uint32_t)(remote >> REMOTE_COUNT_SHIFT);
    if (remote & REMOTE_RECLAIMED) { /* purged in place: every block came back */
        pending = count;
        w->reclaimed++;
    }
    uint32_t live = count > pending ? count - pending : 0;
    struct obmt_class_stats *k = &w->out->classes[c];
    w->owned++;
    if (owner == OWNER_ABANDONED)
        w->abandoned++;
    if (count == 0)
        k->pools_empty++;
    else if (count >= class_blocks(c))
        k->pools_full++; /* every block out, some perhaps on the remote list (FULL, PENDING) */
    else
        k->pools_used++;
    k->blocks_in_use += live;
}

int obmt_stats_get(struct obmt_stats *out)
{
    if (!out || !((out->version == OBMT_STATS_VERSION && out->size == sizeof *out) ||
                  (out->version == 7 && out->size == OBMT_STATS_V7_SIZE) ||
                  (out->version == 6 && out->size == OBMT_STATS_V6_SIZE) ||
                  (out->version == 5 && out->size == OBMT_STATS_V5_SIZE) ||
                  (out->version == 4 && out->size == OBMT_STATS_V4_SIZE) ||
                  (out->version == 3 && out->size == OBMT_STATS_V3_SIZE) ||
                  (out->version == 2 && out->size == OBMT_STATS_V2_SIZE) ||
                  (out->version == 1 && out->size == OBMT_STATS_V1_SIZE))) {
        errno = EINVAL;
        return -1;
    }
    struct obmt_stats s;
    memset(&s, 0, sizeof s);
    s.version = out->version;
    s.size = out->size;
    struct obmt_arena_counts a = {0};
    bool ready = obmt_load_acquire(&g_init_state) == INIT_READY;
    if (ready)
        arena_counts(&a);
    s.pool_size = OBMT_POOL_SIZE;
    s.small_request_max = OBMT_SMALL_MAX;
    s.arena_size = OBMT_ARENA_SIZE;
    s.reserved_bytes = obmt_load_relaxed(&g_hot.reserved);
    s.arenas_used_hwm = a.slots_used;
    s.arenas_committed = a.committed;
    s.arenas_committed_hwm = a.committed_hwm;
    s.arenas_decommitted = a.decommits;
    s.bytes_committed = (uint64_t)a.committed * OBMT_ARENA_SIZE;
    s.pools_free_in_arenas = a.free_pools;

    uint64_t given = obmt_load_relaxed(&g_pools_given_unowned);
    uint64_t remote = obmt_load_relaxed(&g_remote_frees_heapless);
    uint64_t batches = remote; /* a thread without a heap hands each block over alone */
    int64_t huge_bytes = obmt_load_relaxed(&g_huge_bytes_heapless);
    s.huge_allocs = obmt_load_relaxed(&g_huge_allocs_heapless);
    s.huge_frees = obmt_load_relaxed(&g_huge_frees_heapless);
    int64_t span_bytes = obmt_load_relaxed(&g_span_bytes_heapless);
    s.medium_allocs = obmt_load_relaxed(&g_span_allocs_heapless);
    s.medium_frees = obmt_load_relaxed(&g_span_frees_heapless);
    /* The span depot's chains are cached medium blocks of no thread. Read
     * before the heaps, as the huge cache below: a chain moving from a
     * heap's stack to the depot meanwhile is then missed, not counted
     * twice. */
    s.bytes_medium_cached = depot_bytes();
    uint32_t n = heaps_used();
    for (uint32_t i = 0; i < n; i++) {
        const struct heap *h = heap_at(i); /* (never NULL below heaps_used: heap.c, heap_new) */
        if (!h)
            continue;
        s.pools_taken += obmt_load_relaxed(&h->stats.pools_taken);
        given += obmt_load_relaxed(&h->stats.pools_given);
        remote += obmt_load_relaxed(&h->stats.remote_frees);
        batches += obmt_load_relaxed(&h->stats.remote_batches);
        s.pools_adopted += obmt_load_relaxed(&h->stats.adopted);
        s.huge_allocs += obmt_load_relaxed(&h->stats.huge_allocs);
        s.huge_frees += obmt_load_relaxed(&h->stats.huge_frees);
        huge_bytes += obmt_load_relaxed(&h->stats.huge_bytes);
        s.medium_allocs += obmt_load_relaxed(&h->stats.span_allocs) + obmt_load_relaxed(&h->stats.span_hits);
        s.medium_frees += obmt_load_relaxed(&h->stats.span_frees) + obmt_load_relaxed(&h->stats.span_puts);
        uint64_t cached = obmt_load_relaxed(&h->span_cached_bytes);
        s.bytes_medium_cached += cached;
        span_bytes += obmt_load_relaxed(&h->stats.span_bytes) - (int64_t)cached;
        s.heaps_in_use += obmt_load_relaxed(&h->in_use);
    }
    s.pools_given = given;
    s.remote_frees = remote;
    s.heaps_used_hwm = n;
    s.large_allocs = obmt_load_relaxed(&g_large_allocs);

    /* version 2 */
    s.large_bytes_in_use = 0; /* no longer measured (obmt.h) */
    s.threads_seen = obmt_load_relaxed(&g_threads_seen);
    s.pools_purged = ready ? arena_pools_purged() : 0;
    s.nclasses = OBMT_NCLASSES;
    struct walk w = { .out = &s };
    if (ready)
        arena_walk_pools(walk_pool, &w);
    /* Blocks waiting in threads' remote batches are free to the program
     * but still counted out by their pools: take them off their class. */
    for (uint32_t i = 0; ready && i < n; i++) {
        const struct heap *h = heap_at(i);
        for (unsigned k = 0; h && k < OBMT_RBATCH_SLOTS; k++) {
            const struct rbatch *b = &h->rbatch[k];
            pool_header *p = obmt_load_relaxed(&b->pool);
            uint32_t cnt = obmt_load_relaxed(&b->n);
            unsigned c = p ? obmt_load_relaxed(&p->szidx) : OBMT_NCLASSES;
            if (c < OBMT_NCLASSES) {
                s.remote_blocks_waiting += cnt;
                s.remote_frees += cnt; /* freed, not yet counted (remote.c) */
                uint64_t *in_use = &s.classes[c].blocks_in_use;
                *in_use = *in_use > cnt ? *in_use - cnt : 0;
            }
        }
        /* So are the blocks on its block stacks (bstack.c). */
        for (unsigned c = 0; h && c < OBMT_NCLASSES; c++) {
            /* pushes - pops, the pops read first, so that racing the
             * owner the difference seldom wraps below 0; clamped to the
             * most a stack of the class can hold, grown
             * (obmt_bstack_grown_cap: a snapshot, as the rest). Where that
             * is 255 (16 bytes to 1 KiB) the clamp cannot tell a wrap from
             * a full stack: a snapshot that sees a pop without the push
             * before it (relaxed stores, arm64) counts up to 255 blocks of
             * that class free that are not, until the next snapshot. */
            uint8_t pops = obmt_load_relaxed(&h->bstack_pops[c]);
            uint32_t cnt = (uint8_t)(obmt_load_relaxed(&h->bstack_pushes[c]) - pops);
            if (cnt > obmt_bstack_grown_cap[c])
                cnt = obmt_bstack_grown_cap[c];
            uint64_t *in_use = &s.classes[c].blocks_in_use;
            *in_use = *in_use > cnt ? *in_use - cnt : 0;
        }
    }
    s.remote_frees = monotonic(&g_remote_frees_reported, s.remote_frees);
    s.medium_allocs = monotonic(&g_medium_allocs_reported, s.medium_allocs > s.medium_frees ? s.medium_allocs : s.medium_frees);
    uint64_t empty = 0;
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        struct obmt_class_stats *k = &s.classes[c];
        k->block_size = (uint32_t)class_size(c);
        k->blocks_per_pool = class_blocks(c);
        s.bytes_in_use += k->blocks_in_use * k->block_size;
        empty += k->pools_empty;
    }
    s.pools_abandoned = w.abandoned;
    s.bytes_empty_pools = empty * OBMT_POOL_SIZE;
    uint64_t held = (w.owned - empty) * OBMT_POOL_SIZE; /* pools with blocks out */
    s.bytes_free_in_pools = held > s.bytes_in_use ? held - s.bytes_in_use : 0;
    s.bytes_free_pools = (uint64_t)a.free_pools * OBMT_POOL_SIZE;
    /* version 3 */
    s.remote_batches = batches;
    /* version 4 */
    s.pools_reclaimed = obmt_load_relaxed(&g_pools_reclaimed);
    s.bytes_reclaimed = w.reclaimed * reclaim_purged_bytes();
    /* version 5 */
    s.heaps_lent = obmt_load_relaxed(&g_heaps_lent);
    s.lend_busy = obmt_load_relaxed(&g_lend_busy);
    s.lend_detours = obmt_load_relaxed(&g_lend_detours);
    /* version 6 */
    s.pools_shared = obmt_load_relaxed(&g_pools_shared);
    s.pools_from_shared = obmt_load_relaxed(&g_pools_from_shared);
    /* version 7 */
    s.huge_bytes_in_use = huge_bytes > 0 ? (uint64_t)huge_bytes : 0;
    /* Span arenas are one-arena huge runs to arena.c. */
    size_t span_arenas_now = ready ? span_arenas() : 0;
    s.bytes_medium = (uint64_t)(span_arenas_now < a.huge ? span_arenas_now : a.huge) * OBMT_ARENA_SIZE;
    s.bytes_huge = (uint64_t)a.huge * OBMT_ARENA_SIZE - (s.version >= 8 ? s.bytes_medium : 0);
    s.huge_request_min = OBMT_MEDIUM_MAX + 1;
    if (ready) {
        /* The shared cache first: a run moving from a kept slot to it is
         * then missed, not counted twice; and never more than bytes_huge. */
        size_t cached = huge_cache_arenas();
        cached += huge_kept_arenas();
        s.bytes_huge_cached = (uint64_t)cached * OBMT_ARENA_SIZE;
        if (s.bytes_huge_cached > s.bytes_huge)
            s.bytes_huge_cached = s.bytes_huge;
    } else {
        s.bytes_huge_cached = 0;
    }
    /* version 8 */
    s.medium_bytes_in_use = span_bytes > 0 ? (uint64_t)span_bytes : 0;
    s.medium_pools_purged = ready ? span_pools_purged() : 0;
    memcpy(out, &s, out->size);
    return 0;
}

/* ---- text ---------------------------------------------------------------- */

static void line(void (*out)(const char *, void *), void *arg, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out(buf, arg);
}

typedef unsigned long long ull;

void obmt_stats_print(void (*out)(const char *line, void *arg), void *arg)
{
    struct obmt_stats s = { .version = OBMT_STATS_VERSION, .size = sizeof s };
    obmt_stats_get(&s);
    line(out, arg, "obmt %s statistics\n", obmt_version());
    size_t holes = window_holes();
    line(out, arg, "  pool size %llu KiB, arena size %llu KiB, window %llu MiB (%s%s), pools serve requests up to %llu bytes\n",
         (ull)s.pool_size >> 10, (ull)s.arena_size >> 10, (ull)s.reserved_bytes >> 20,
         window_on_demand() ? "mapped as used" : "reserved", holes ? ", with holes" : "", (ull)s.small_request_max);
    if (holes)
        line(out, arg, "  %llu arena slots hold somebody else's mapping (holes)\n", (ull)holes);
    line(out, arg, "  class  block  pools: used   full  empty    blocks in use      bytes in use\n");
    for (unsigned c = 0; c < s.nclasses; c++) {
        const struct obmt_class_stats *k = &s.classes[c];
        if (k->pools_used + k->pools_full + k->pools_empty == 0)
            continue;
        line(out, arg, "  %5u %6u  %11llu %6llu %6llu %16llu %17llu\n", c, k->block_size,
             (ull)k->pools_used, (ull)k->pools_full, (ull)k->pools_empty, (ull)k->blocks_in_use,
             (ull)k->blocks_in_use * k->block_size);
    }
    line(out, arg, "  bytes: %llu committed (%llu arenas, high-water %llu) = %llu in use + %llu free in used pools"
         " + %llu in empty pools + %llu in free pools + %llu in huge blocks' arenas + %llu in span arenas\n",
         (ull)s.bytes_committed, (ull)s.arenas_committed, (ull)s.arenas_committed_hwm, (ull)s.bytes_in_use,
         (ull)s.bytes_free_in_pools, (ull)s.bytes_empty_pools, (ull)s.bytes_free_pools, (ull)s.bytes_huge,
         (ull)s.bytes_medium);
    line(out, arg, "  medium blocks (%llu to %llu bytes, a run of pools in a span arena each): %llu allocated,"
         " %llu freed, %llu bytes usable in those live, %llu bytes of freed ones cached (threads and the span depot);"
         " span arena pools purged %llu times\n",
         (ull)s.small_request_max + 1, (ull)s.huge_request_min - 1, (ull)s.medium_allocs, (ull)s.medium_frees,
         (ull)s.medium_bytes_in_use, (ull)s.bytes_medium_cached, (ull)s.medium_pools_purged);
    line(out, arg, "  huge blocks (%llu bytes and up, a run of whole arenas each): %llu allocated, %llu freed,"
         " %llu bytes usable in those live, %llu bytes of freed runs cached\n",
         (ull)s.huge_request_min, (ull)s.huge_allocs, (ull)s.huge_frees, (ull)s.huge_bytes_in_use,
         (ull)s.bytes_huge_cached);
    line(out, arg, "  arenas: %llu slots used, given back to the OS %llu times; free pools purged %llu times\n",
         (ull)s.arenas_used_hwm, (ull)s.arenas_decommitted, (ull)s.pools_purged);
    line(out, arg, "  pools: %llu taken from arenas, %llu given back, %llu adopted, %llu abandoned now\n",
         (ull)s.pools_taken, (ull)s.pools_given, (ull)s.pools_adopted, (ull)s.pools_abandoned);
    line(out, arg, "  shared level: %llu pools with free and live blocks left to it, %llu taken by a malloc\n",
         (ull)s.pools_shared, (ull)s.pools_from_shared);
    line(out, arg, "  reclaim pass: %llu pools freed empty by other threads purged in place; %llu bytes of"
         " them purged now\n", (ull)s.pools_reclaimed, (ull)s.bytes_reclaimed);
    line(out, arg, "  lending: %s; idle threads' heaps collected for them %llu times, %llu tries found the"
         " thread busy, %llu calls did without a lent heap\n",
         !lend_available() ? "unavailable (no membarrier)" : option_get(OPT_LEND_IDLE) ? "on" : "off",
         (ull)s.heaps_lent, (ull)s.lend_busy, (ull)s.lend_detours);
    line(out, arg, "  background thread: %s, %llu wake-ups\n", background_running() ? "running" : "off",
         (ull)background_wakeups());
    line(out, arg, "  remote frees %llu in %llu batches, %llu blocks waiting in batches now\n",
         (ull)s.remote_frees, (ull)s.remote_batches, (ull)s.remote_blocks_waiting);
    line(out, arg, "  threads seen %llu; thread caches %llu created, %llu in use\n",
         (ull)s.threads_seen, (ull)s.heaps_used_hwm, (ull)s.heaps_in_use);
    line(out, arg, "  underlying allocator: %llu requests passed on\n", (ull)s.large_allocs);
}

/* ---- the arena map ---------------------------------------------------------- */

/* One pool's byte (obmt.h, OBMT_MAP_*), from the header words that the
 * statistics walk may read (written atomically: owner, szidx, count,
 * remote, carved_bound). A free pool whose pages the purge gave back has
 * carved_bound 0 (arena.c, header_reset), where a used one has carved a
 * page at least. */
static unsigned char map_pool(const pool_header *p)
{
    struct heap *owner = obmt_load_relaxed(&p->owner);
    if (!owner)
        return obmt_load_relaxed(&p->carved_bound) ? OBMT_MAP_FREE : OBMT_MAP_PURGED;
    if (owner == OWNER_HUGE) /* claimed after the map read its arena's word */
        return OBMT_MAP_HUGE;
    if (owner == OWNER_ABANDONED)
        return OBMT_MAP_ABANDONED;
    unsigned c = obmt_load_relaxed(&p->szidx);
    if (c >= OBMT_NCLASSES)
        return OBMT_MAP_FREE; /* being set up right now */
    if (obmt_load_relaxed(&p->remote) & REMOTE_RECLAIMED)
        return OBMT_MAP_RECLAIMED;
    uint32_t count = obmt_load_relaxed(&p->count);
    if (count == 0)
        return (unsigned char)(OBMT_MAP_EMPTY | c);
    return (unsigned char)((count >= class_blocks(c) ? OBMT_MAP_FULL : OBMT_MAP_USED) | c);
}

/* The bytes of arena slot `slot`. */
static void map_slot(size_t slot, unsigned char row[OBMT_POOLS_PER_ARENA])
{
    int virgin = arena_slot_virgin(slot);
    const pool_header *h = pool_of((const void *)(arena_base() + (slot << OBMT_ARENA_SHIFT)));
    uint64_t span_free = 0, span_dirty = 0;
    bool span = virgin == -2 && span_arena_pools(slot, &span_free, &span_dirty);
    for (int i = 0; i < (int)OBMT_POOLS_PER_ARENA; i++) {
        if (span) /* a span arena: its free pools (resident or purged), the others medium blocks' */
            row[i] = !(span_free >> i & 1) ? OBMT_MAP_MEDIUM : span_dirty >> i & 1 ? OBMT_MAP_FREE : OBMT_MAP_PURGED;
        else if (virgin == -2)
            row[i] = OBMT_MAP_HUGE;
        else if (virgin < 0)
            row[i] = OBMT_MAP_UNCOMMITTED;
        else if (i >= virgin)
            row[i] = OBMT_MAP_VIRGIN;
        else
            row[i] = map_pool(h + i);
    }
}

size_t obmt_arena_map(unsigned char *buf, size_t cap)
{
    if (obmt_load_acquire(&g_init_state) != INIT_READY)
        return 0;
    size_t slots = arena_slots_used();
    for (size_t slot = 0; slot < slots && slot * OBMT_POOLS_PER_ARENA < cap; slot++) {
        unsigned char row[OBMT_POOLS_PER_ARENA];
        map_slot(slot, row);
        size_t at = slot * OBMT_POOLS_PER_ARENA, n = cap - at < OBMT_POOLS_PER_ARENA ? cap - at : OBMT_POOLS_PER_ARENA;
        memcpy(buf + at, row, n);
    }
    return slots * OBMT_POOLS_PER_ARENA;
}

/* ---- JSON ---------------------------------------------------------------- */

/* Accumulates the object in a caller's buffer; flushes to out() when full. */
struct jbuf {
    char b[2048];
    size_t n;
    void (*out)(const char *, void *);
    void *arg;
};

static void jflush(struct jbuf *j)
{
    if (j->n) {
        j->b[j->n] = 0;
        j->out(j->b, j->arg);
        j->n = 0;
    }
}

static void jput(struct jbuf *j, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof tmp)
        n = sizeof tmp - 1;
    if (j->n + (size_t)n + 1 > sizeof j->b)
        jflush(j);
    memcpy(j->b + j->n, tmp, (size_t)n);
    j->n += (size_t)n;
}

/* The JSON object; `at`, if not NULL, says why it is written (the lines of
 * OBMT_STATS_FILE: "exit" or "interval"). time_ms: wall-clock milliseconds
 * since the epoch, to line the figures up with other logs. */
static void stats_json_at(void (*out)(const char *text, void *arg), void *arg, const char *at)
{
    struct obmt_stats s = { .version = OBMT_STATS_VERSION, .size = sizeof s };
    obmt_stats_get(&s);
    struct jbuf j = { .n = 0, .out = out, .arg = arg };
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    jput(&j, "{\"obmt\":\"%s\",\"pid\":%d,\"time_ms\":%llu", obmt_version(), (int)getpid(),
         (ull)now.tv_sec * 1000u + (ull)now.tv_nsec / 1000000u);
    if (at)
        jput(&j, ",\"at\":\"%s\"", at);
#define F(name) jput(&j, ",\"" #name "\":%llu", (ull)s.name)
    F(pool_size); F(arena_size); F(small_request_max); F(reserved_bytes);
    F(arenas_used_hwm); F(arenas_committed); F(arenas_committed_hwm); F(arenas_decommitted);
    F(bytes_committed);
    F(bytes_in_use); F(bytes_free_in_pools); F(bytes_empty_pools); F(bytes_free_pools); F(bytes_huge);
    F(huge_allocs); F(huge_frees); F(huge_bytes_in_use); F(huge_request_min); F(bytes_huge_cached);
    F(medium_allocs); F(medium_frees); F(medium_bytes_in_use); F(bytes_medium); F(medium_pools_purged); F(bytes_medium_cached);
    F(pools_free_in_arenas); F(pools_taken); F(pools_given); F(pools_adopted); F(pools_abandoned);
    F(pools_purged); F(pools_reclaimed); F(bytes_reclaimed); F(heaps_lent); F(lend_busy); F(lend_detours);
    F(pools_shared); F(pools_from_shared);
    F(remote_frees); F(remote_batches); F(remote_blocks_waiting);
    F(large_allocs);
    F(threads_seen); F(heaps_used_hwm); F(heaps_in_use);
#undef F
    /* The window (window.c): mapped as used or reserved up front, and the
     * slots somebody else's mapping holds. */
    jput(&j, ",\"window_on_demand\":%d,\"window_holes\":%llu", window_on_demand() ? 1 : 0, (ull)window_holes());
    jput(&j, ",\"classes\":[");
    bool first = true;
    for (unsigned c = 0; c < s.nclasses; c++) {
        const struct obmt_class_stats *k = &s.classes[c];
        if (k->pools_used + k->pools_full + k->pools_empty == 0)
            continue;
        jput(&j, "%s{\"class\":%u,\"block_size\":%u,\"pools_used\":%llu,\"pools_full\":%llu,"
             "\"pools_empty\":%llu,\"blocks_in_use\":%llu}", first ? "" : ",", c, k->block_size,
             (ull)k->pools_used, (ull)k->pools_full, (ull)k->pools_empty, (ull)k->blocks_in_use);
        first = false;
    }
    jput(&j, "]");
    if (option_get(OPT_STATS_MAP) && obmt_load_acquire(&g_init_state) == INIT_READY) {
        /* The arena map, two hex digits a pool, arena after arena. */
        size_t slots = arena_slots_used();
        jput(&j, ",\"pools_per_arena\":%u,\"arena_map\":\"", (unsigned)OBMT_POOLS_PER_ARENA);
        for (size_t slot = 0; slot < slots; slot++) {
            unsigned char row[OBMT_POOLS_PER_ARENA];
            char hex[2 * OBMT_POOLS_PER_ARENA + 1];
            map_slot(slot, row);
            for (unsigned i = 0; i < OBMT_POOLS_PER_ARENA; i++) {
                hex[2 * i] = "0123456789abcdef"[row[i] >> 4];
                hex[2 * i + 1] = "0123456789abcdef"[row[i] & 15];
            }
            hex[2 * OBMT_POOLS_PER_ARENA] = 0;
            jput(&j, "%s", hex);
        }
        jput(&j, "\"");
    }
    jput(&j, "}\n");
    jflush(&j);
}

void obmt_stats_json(void (*out)(const char *text, void *arg), void *arg)
{
    stats_json_at(out, arg, NULL);
}

/* ---- at exit, and every OBMT_STATS_INTERVAL_MS ------------------------------ */

static void to_fd(const char *text, void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t n = strlen(text);
    while (n) {
        ssize_t w = write(fd, text, n);
        if (w <= 0)
            return;
        text += w;
        n -= (size_t)w;
    }
}

/* One JSON object in one buffer, so that one write() appends it whole: a
 * static one, or, for a line with the arena map, one mapped for it. A piece
 * that does not fit marks the line truncated: it is not written. */
struct collect { char *b; size_t cap, n; bool truncated; };
static void to_buf(const char *text, void *arg)
{
    struct collect *c = arg;
    size_t n = strlen(text);
    if (c->n + n < c->cap) {
        memcpy(c->b + c->n, text, n);
        c->n += n;
    } else {
        c->truncated = true;
    }
}

/* A copy of stderr taken at start-up when OBMT_SHOW_STATS is set: programs
 * such as ls, sort and xz close stderr in their own exit handlers, before
 * obmt's destructor runs. */
static int g_stderr_copy = -1;

void stats_init_process(void)
{
    if (option_get(OPT_SHOW_STATS) == 0)
        return;
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 255); /* out of the way of low numbers */
    if (fd < 0)
        fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    g_stderr_copy = fd;
}

__attribute__((destructor)) static void stats_at_exit(void)
{
    if (obmt_load_acquire(&g_init_state) != INIT_READY)
        return;
    long show = option_get(OPT_SHOW_STATS);
    void *err = (void *)(intptr_t)(g_stderr_copy >= 0 ? g_stderr_copy : STDERR_FILENO);
    if (show == 1)
        obmt_stats_print(to_fd, err);
    else if (show == 2)
        obmt_stats_json(to_fd, err);
    stats_append_file("exit", true);
}

void stats_append_file(const char *at, bool at_exit)
{
    if (!g_stats_file[0])
        return;
    /* One buffer per caller (the exit destructor; the background thread),
     * so that one write() appends the line whole: O_APPEND writes to a
     * regular file do not interleave, even between processes. */
    static char exit_buf[16384], interval_buf[16384];
    struct collect c = { at_exit ? exit_buf : interval_buf, sizeof exit_buf, 0, false };
    size_t mapped = 0;
    if (option_get(OPT_STATS_MAP)) {
        /* Two hex digits a pool, with room for 64 more arenas than now. */
        mapped = sizeof exit_buf + 2 * OBMT_POOLS_PER_ARENA * (arena_slots_used() + 64);
        void *m = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return;
        c.b = m;
        c.cap = mapped;
    }
    int fd = open(g_stats_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        stats_json_at(to_buf, &c, at);
        if (!c.truncated) {
            ssize_t w = write(fd, c.b, c.n);
            (void)w;
        }
        close(fd);
    }
    if (mapped)
        munmap(c.b, mapped);
}
