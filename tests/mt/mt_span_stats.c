/* The medium blocks' statistics while threads run (src/stats.c). They are
 * read heap by heap while the owners malloc and free: two threads
 * allocate bursts of 1 to 300 blocks of 16 or 64 KiB and free them (cache
 * hits and puts, full stacks' trims, batches on misses), and now and then
 * collect (flushes: every span of the cache out at once), while a third
 * reads the statistics without a pause. medium_allocs never goes down nor
 * below medium_frees (review of 2026-12-02 saw the frees above the
 * mallocs once in 100,000 reads), and never above the mallocs begun (each
 * worker counts a malloc before it makes it): a figure that is kept from
 * going down must never have been too high. At the end, quiet, it is
 * exactly the mallocs made, as medium_frees is the frees. */
#include "mt_util.h"

#include <stdatomic.h>

#define WORKERS 2
#define ROUNDS SCALE(4000)

static atomic_int stop;
static atomic_ullong made; /* mallocs begun */
static struct obmt_stats st0;

static void *worker(void *arg)
{
    static __thread void *v[300];
    uint64_t x = 88172645463325252ull ^ (uint64_t)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned n = 1 + (unsigned)(x % 300);
        size_t size = (x >> 20) & 1 ? (size_t)16 << 10 : (size_t)64 << 10;
        for (unsigned i = 0; i < n; i++) {
            atomic_fetch_add(&made, 1);
            /* (with the reader's acquire fence: a reader that sees this
             * malloc counted sees it begun, on any architecture) */
            atomic_thread_fence(memory_order_release);
            v[i] = obmt_malloc(size);
            CHECK(v[i] != NULL);
            *(uint64_t *)v[i] = x + i;
        }
        for (unsigned i = 0; i < n; i++) {
            CHECK(*(uint64_t *)v[i] == x + i);
            obmt_free(v[i]);
        }
        if ((x >> 30) % 8 == 0)
            obmt_collect();
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    uint64_t last = 0, reads = 0;
    while (!atomic_load(&stop)) {
        struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
        CHECK(obmt_stats_get(&st) == 0);
        atomic_thread_fence(memory_order_acquire); /* (the statistics' loads before this one) */
        unsigned long long begun = atomic_load(&made);
        CHECK_MSG(st.medium_allocs >= last && st.medium_allocs >= st.medium_frees &&
                      st.medium_allocs - st0.medium_allocs <= begun,
                  "read %llu: medium_allocs %llu after %llu, medium_frees %llu, %llu mallocs begun since %llu",
                  (unsigned long long)reads, (unsigned long long)st.medium_allocs, (unsigned long long)last,
                  (unsigned long long)st.medium_frees, begun, (unsigned long long)st0.medium_allocs);
        last = st.medium_allocs;
        reads++;
    }
    return NULL;
}

int main(void)
{
    st0 = (struct obmt_stats){ .version = OBMT_STATS_VERSION, .size = sizeof st0 };
    CHECK(obmt_stats_get(&st0) == 0);
    pthread_t t[WORKERS], rd;
    CHECK(pthread_create(&rd, NULL, reader, NULL) == 0);
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)(i + 1)) == 0);
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    atomic_store(&stop, 1);
    CHECK(pthread_join(rd, NULL) == 0);
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    unsigned long long m = atomic_load(&made);
    CHECK_MSG(st.medium_allocs - st0.medium_allocs == m && st.medium_frees - st0.medium_frees == m,
              "%llu mallocs and %llu frees counted, %llu made", (unsigned long long)(st.medium_allocs - st0.medium_allocs),
              (unsigned long long)(st.medium_frees - st0.medium_frees), m);
    obmt_collect();
    CHECK(obmt_stats_get(&st) == 0);
    CHECK_MSG(st.medium_bytes_in_use == st0.medium_bytes_in_use, "medium in use %llu, %llu at the start",
              (unsigned long long)st.medium_bytes_in_use, (unsigned long long)st0.medium_bytes_in_use);
    CHECK_DONE("mt_span_stats");
}
