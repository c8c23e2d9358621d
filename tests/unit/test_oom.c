/* Out of memory in the arena layer: when the OS refuses to commit a new
 * arena (injected through os_fail_commits), small requests fall back to the
 * underlying allocator instead of failing, free routes those blocks back to
 * it, and obmt serves again once memory is available, in the slot whose
 * commit failed: failures do not use up the reservation (stress_oom found
 * 40,000 failed requests taking all 32,768 slots). A thread with a heap
 * whose pool commit failed passes the request on at once: it does not try
 * a span, which would need a commit of its own (stress_oom in secure mode
 * found those tries using up slots); one refusal is enough to send it to
 * the underlying allocator. */
#include "unit_util.h"

int main(void)
{
    CHECK(obmt_ensure_init());
    /* Use up the first arena's pools so that the next pool needs a new arena. */
    enum { N = OBMT_POOLS_PER_ARENA * (OBMT_POOL_USABLE / 512) };
    static void *held[N];
    for (int i = 0; i < N; i++) {
        held[i] = obmt_malloc(512);
        CHECK(held[i] && obmt_owns(held[i]));
    }
    struct obmt_arena_counts k;
    arena_counts(&k);
    size_t slots = k.slots_used;

    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    uint64_t passed = st.large_allocs;
    obmt_store_relaxed(&os_fail_commits, 1);
    void *p = obmt_malloc(512);
    CHECK_MSG(p != NULL && !obmt_owns(p), "one refused commit: %p should be the underlying allocator's", p);
    CHECK(obmt_load_relaxed(&os_fail_commits) == 0);
    CHECK(obmt_stats_get(&st) == 0 && st.large_allocs == passed + 1);
    obmt_free(p);

    obmt_store_relaxed(&os_fail_commits, 1000);
    p = obmt_malloc(512);
    CHECK_MSG(p != NULL, "the underlying allocator should have served it");
    CHECK(!obmt_owns(p));
    memset(p, 0x5a, 512);
    obmt_free(p);
    /* Aligned requests that a pool cannot serve must not fall back to the
     * underlying malloc, which aligns to 16 only (found in review). */
    for (size_t align = 32; align <= 128; align *= 2) {
        for (size_t n = 1; n <= 512; n += 37) {
            void *q = NULL;
            CHECK(obmt_posix_memalign(&q, align, n) == 0);
            CHECK_MSG((uintptr_t)q % align == 0, "posix_memalign(%zu, %zu) = %p", align, n, q);
            obmt_free(q);
            q = obmt_aligned_alloc(align, n);
            CHECK_MSG(q && (uintptr_t)q % align == 0, "aligned_alloc(%zu, %zu) = %p", align, n, q);
            obmt_free(q);
        }
    }
    for (int i = 0; i < 100; i++) {
        errno = 0;
        pool_header *pool = arena_take_pool();
        CHECK(pool == NULL && errno == ENOMEM);
    }
    arena_counts(&k);
    CHECK_MSG(k.slots_used == slots + 1, "failed commits used %zu slots", k.slots_used - slots);

    obmt_store_relaxed(&os_fail_commits, 0);
    p = obmt_malloc(512);
    CHECK(p && obmt_owns(p));
    arena_counts(&k);
    CHECK(k.slots_used == slots + 1);
    obmt_free(p);
    for (int i = 0; i < N; i++)
        obmt_free(held[i]);
    CHECK_DONE("oom");
}
