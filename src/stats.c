/*
 * stats.c: statistics, summed from the arena table and every heap's
 * counters. Heaps write their counters with relaxed stores (owner-only);
 * this reads them with relaxed loads, so figures taken while threads run
 * are a consistent-enough snapshot, exact once they are quiet.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int obmt_stats_get(struct obmt_stats *out)
{
    if (!out || out->version != OBMT_STATS_VERSION || out->size != sizeof *out) {
        errno = EINVAL;
        return -1;
    }
    struct obmt_arena_counts a = {0};
    if (obmt_load_acquire(&g_init_state) == INIT_READY)
        arena_counts(&a);
    out->pool_size = OBMT_POOL_SIZE;
    out->small_request_max = OBMT_SMALL_MAX;
    out->arena_size = OBMT_ARENA_SIZE;
    out->reserved_bytes = obmt_load_relaxed(&g_reserved);
    out->arenas_used_hwm = a.slots_used;
    out->arenas_committed = a.committed;
    out->arenas_committed_hwm = a.committed_hwm;
    out->arenas_decommitted = a.decommits;
    out->bytes_committed = (uint64_t)a.committed * OBMT_ARENA_SIZE;
    out->pools_free_in_arenas = a.free_pools;

    uint64_t taken = 0, given = obmt_load_relaxed(&g_pools_given_unowned), remote = obmt_load_relaxed(&g_remote_frees_heapless), adopted = 0, large = 0, in_use = 0;
    uint32_t n = obmt_load_relaxed(&g_heaps_used);
    if (n > OBMT_MAX_HEAPS)
        n = OBMT_MAX_HEAPS;
    for (uint32_t i = 0; i < n; i++) {
        struct heap *h = &g_heaps[i];
        taken += obmt_load_relaxed(&h->stats.pools_taken);
        given += obmt_load_relaxed(&h->stats.pools_given);
        remote += obmt_load_relaxed(&h->stats.remote_frees);
        adopted += obmt_load_relaxed(&h->stats.adopted);
        large += obmt_load_relaxed(&h->stats.large_allocs);
        in_use += obmt_load_relaxed(&h->in_use);
    }
    out->pools_taken = taken;
    out->pools_given = given;
    out->remote_frees = remote;
    out->pools_adopted = adopted;
    out->large_allocs = large;
    out->heaps_used_hwm = n;
    out->heaps_in_use = in_use;
    return 0;
}

/* ---- printing ------------------------------------------------------------ */

/* Format into a stack buffer with snprintf (integer conversions only: glibc
 * does not allocate for those) and hand each line to `out`. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static void line(void (*out)(const char *, void *), void *arg, const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out(buf, arg);
}

void obmt_stats_print(void (*out)(const char *line, void *arg), void *arg)
{
    struct obmt_stats s = { .version = OBMT_STATS_VERSION, .size = sizeof s };
    obmt_stats_get(&s);
    typedef unsigned long long ull;
    line(out, arg, "obmt %s statistics\n", obmt_version());
    line(out, arg, "  pool size %llu KiB, arena size %llu KiB, reserved %llu MiB, pools serve requests up to %llu bytes\n",
         (ull)s.pool_size >> 10, (ull)s.arena_size >> 10, (ull)s.reserved_bytes >> 20, (ull)s.small_request_max);
    line(out, arg, "  arenas: %llu committed now (%llu KiB), high-water %llu, slots used %llu, given back to the OS %llu times\n",
         (ull)s.arenas_committed, (ull)s.bytes_committed >> 10, (ull)s.arenas_committed_hwm,
         (ull)s.arenas_used_hwm, (ull)s.arenas_decommitted);
    line(out, arg, "  pools: %llu taken from arenas, %llu given back, %llu free in committed arenas\n",
         (ull)s.pools_taken, (ull)s.pools_given, (ull)s.pools_free_in_arenas);
    line(out, arg, "  remote frees %llu, pools adopted %llu, requests passed to the underlying allocator %llu\n",
         (ull)s.remote_frees, (ull)s.pools_adopted, (ull)s.large_allocs);
    line(out, arg, "  thread caches: %llu created, %llu in use\n",
         (ull)s.heaps_used_hwm, (ull)s.heaps_in_use);
}

static void to_stderr(const char *text, void *arg)
{
    ssize_t w = write(STDERR_FILENO, text, strlen(text));
    (void)w;
    (void)arg;
}

static void show_stats_at_exit(void)
{
    obmt_stats_print(to_stderr, NULL);
}

void stats_init_process(void)
{
    const char *v = getenv("OBMT_SHOW_STATS");
    if (v && *v && *v != '0')
        atexit(show_stats_at_exit);
}
