/* The purge clock after weeks without a pool slow path. Time was 32-bit
 * milliseconds compared as int32 differences: 24.8 days after the last
 * pool came back to an arena, the purge took it for the future and never
 * ran (until the clock wrapped again, 49.7 days on). This test moves the
 * clock obmt reads (clock_gettime, defined here over the real one) forward
 * by 30 and then 60 days between a give-back and the purge, and the purge
 * must run each time. */
#include "unit_util.h"

#include <sys/syscall.h>
#include <time.h>

#define NP OBMT_POOLS_PER_ARENA
#define DAY_S (24L * 3600)

static long g_offset_s; /* added to every clock obmt reads */

int clock_gettime(clockid_t id, struct timespec *ts)
{
    long r = syscall(SYS_clock_gettime, id, ts);
    if (r == 0)
        ts->tv_sec += g_offset_s;
    return (int)r;
}

int main(void)
{
    CHECK(obmt_ensure_init());
    CHECK(obmt_option_set("purge_delay_ms", 100) == 0);
    CHECK(obmt_option_set("keep_free_arenas", 0) == 0);
    static pool_header *A[NP];
    for (unsigned i = 0; i < NP; i++)
        A[i] = take_used();
    for (int round = 1; round <= 2; round++) {
        /* Half the arena back: its free pools wait for the delay. */
        for (unsigned i = 0; i < NP; i += 2)
            arena_give_pool(A[i]);
        uint64_t before = arena_pools_purged();
        arena_maybe_purge(false);
        CHECK_MSG(arena_pools_purged() == before, "round %d: purged before the delay", round);
        g_offset_s += 30 * DAY_S; /* a month without a pool slow path */
        arena_maybe_purge(false);
        CHECK_MSG(arena_pools_purged() >= before + NP / 2,
                  "round %d, %ld days on: %llu pools purged, %u were due", round, g_offset_s / DAY_S,
                  (unsigned long long)(arena_pools_purged() - before), (unsigned)NP / 2);
        for (unsigned i = 0; i < NP; i += 2)
            A[i] = take_used();
    }
    CHECK_DONE("clock");
}
