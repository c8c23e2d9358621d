/* The bootstrap area (large.c) while init runs: a thread that calls in
 * while another initialises obmt is served from it, for every size and
 * every entry (malloc, calloc, aligned, medium, huge), not by the
 * underlying allocator; and a block from there that realloc moves once
 * obmt is ready moves into obmt, small or large (found in review: past
 * 8 KiB it went to glibc). A request the area cannot hold (a 1 MiB
 * alignment) is passed on without using the area up (found in review: a
 * refused request still moved the bump pointer). Played here by setting
 * g_init_state to INIT_RUNNING for a moment, in a thread without a heap
 * yet. */
#include "unit_util.h"

static struct obmt_stats stats(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    return st;
}

static void *during_init(void *arg)
{
    void **out = arg;
    out[0] = obmt_malloc(100);
    out[1] = obmt_malloc(20000);           /* medium */
    out[2] = obmt_calloc(1, 9000);         /* medium, zeroed */
    out[3] = obmt_aligned_alloc(64, 100);
    out[4] = obmt_malloc(3u << 20);        /* huge: larger than the area, so the underlying allocator's */
    out[5] = obmt_malloc(5000);
    for (int i = 0; i < 4; i++) {      /* larger than the area: passed on, the area untouched */
        void *a = obmt_memalign((size_t)1 << 20, 100);
        CHECK(a && !obmt_owns(a) && ((uintptr_t)a & ((1u << 20) - 1)) == 0);
        obmt_free(a);
    }
    out[6] = obmt_malloc(200000);      /* so this still fits the 256 KiB area */
    return NULL;
}

int main(void)
{
    void *warm = obmt_malloc(16); /* init, for real */
    CHECK(warm && obmt_owns(warm));
    uint64_t passed = stats().large_allocs;

    void *b[7] = { 0 };
    obmt_store_release(&g_init_state, INIT_RUNNING);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, during_init, b) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    obmt_store_release(&g_init_state, INIT_READY);

    for (int i = 0; i < 7; i++)
        CHECK_MSG(b[i] != NULL, "block %d", i);
    for (int i = 0; i < 7; i++)
        if (i != 4)
            CHECK_MSG(!obmt_owns(b[i]), "block %d is obmt's: init was running", i);
    CHECK(((uintptr_t)b[3] & 63) == 0);
    for (int i = 0; i < 9000; i++)
        CHECK(((unsigned char *)b[2])[i] == 0);
    /* Only the blocks too large for the 256 KiB area were passed on. */
    CHECK_MSG(stats().large_allocs == passed + 5, "%llu passed on, expected 5",
              (unsigned long long)(stats().large_allocs - passed));
    obmt_free(b[4]);

    /* Ready now: realloc moves bootstrap blocks into obmt, above and below
     * the pools' largest size. */
    memset(b[0], 0x11, 100);
    memset(b[5], 0x22, 5000);
    void *r0 = obmt_realloc(b[0], 20000), *r5 = obmt_realloc(b[5], 6000);
    CHECK(r0 && obmt_owns(r0) && r5 && obmt_owns(r5));
    for (int i = 0; i < 100; i++)
        CHECK(((unsigned char *)r0)[i] == 0x11);
    for (int i = 0; i < 5000; i++)
        CHECK(((unsigned char *)r5)[i] == 0x22);
    CHECK_MSG(stats().large_allocs == passed + 5, "realloc passed %llu on",
              (unsigned long long)(stats().large_allocs - passed - 5));
    obmt_free(r0);
    obmt_free(r5);
    for (int i = 1; i < 4; i++)
        obmt_free(b[i]); /* (ignored: the area is never reused) */
    obmt_free(b[6]);
    obmt_free(warm);
    CHECK_DONE("boot");
}
