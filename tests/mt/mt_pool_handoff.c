/* A pool filled by one thread and emptied by another: A fills whole pools
 * of one class, B frees every block. The pools go FULL, the remote frees
 * hand them back to A, and A's next allocations reuse exactly those blocks
 * instead of taking new pools. Repeated, with both threads alive. */
#include "mt_util.h"

#define POOLS 4 /* <= OBMT_KEEP_EMPTY_POOLS: all of them stay in A's heap when empty */
#define MAX_N ((32768 / 96) * POOLS) /* pools are at most 32 KiB */
#define ROUNDS SCALE(400)

static int N; /* blocks of 96 bytes in POOLS pools (128-byte pool header) */
static void *blocks[MAX_N];
static pthread_barrier_t barrier;

static void *freer(void *arg)
{
    for (int r = 0; r < ROUNDS; r++) {
        pthread_barrier_wait(&barrier); /* A has filled the pools */
        for (int i = 0; i < N; i++) {
            CHECK(pattern_ok(blocks[i], 96, (uint64_t)r));
            obmt_free(blocks[i]);
        }
        pthread_barrier_wait(&barrier); /* all freed */
    }
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    pthread_t t;
    pthread_barrier_init(&barrier, NULL, 2);
    CHECK(pthread_create(&t, NULL, freer, NULL) == 0);
    N = (int)blocks_per_pool_for(96) * POOLS;
    static void *first[MAX_N], *now[MAX_N];
    uint64_t taken_after_first = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            blocks[i] = obmt_malloc(96);
            CHECK(blocks[i] && obmt_owns(blocks[i]));
            pattern_fill(blocks[i], 96, (uint64_t)r);
        }
        if (r == 0) {
            memcpy(first, blocks, N * sizeof first[0]);
            qsort(first, N, sizeof first[0], cmp_ptr);
            taken_after_first = stats_now().pools_taken;
        } else {
            /* The same blocks, handed back through the remote frees. */
            memcpy(now, blocks, N * sizeof now[0]);
            qsort(now, N, sizeof now[0], cmp_ptr);
            CHECK_MSG(memcmp(now, first, N * sizeof now[0]) == 0, "round %d used other blocks", r);
        }
        pthread_barrier_wait(&barrier);
        pthread_barrier_wait(&barrier);
    }
    pthread_join(t, NULL);
    struct obmt_stats st = stats_now();
    CHECK_MSG(st.pools_taken == taken_after_first, "pools taken %llu, after round 0 %llu",
              (unsigned long long)st.pools_taken, (unsigned long long)taken_after_first);
    CHECK(st.remote_frees >= (uint64_t)N * ROUNDS);
    CHECK_DONE("mt_pool_handoff");
}
