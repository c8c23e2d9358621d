/* Out of memory in the arena layer: when the OS refuses to commit a new
 * arena (injected through os_fail_commits), small requests fall back to the
 * underlying allocator instead of failing, free routes those blocks back to
 * it, and obmt serves again once memory is available, in the slot whose
 * commit failed: failures do not use up the reservation (stress_oom found
 * 40,000 failed requests taking all 32,768 slots). */
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

    obmt_store_relaxed(&os_fail_commits, 1000);
    void *p = obmt_malloc(512);
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
