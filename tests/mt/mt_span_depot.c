/* The span depot across threads (src/span_depot.c): three threads allocate
 * bursts of 64 KiB blocks (48 KiB every third round: another class),
 * larger than their span caches hold, so that their classes grow and
 * their full puts' trims go to the depot as chains, which any thread's
 * miss takes; half the rounds through calloc (a chain's spans are dirty:
 * they must come back zeroed). Every block carries its owner's pattern,
 * checked before it is freed. Meanwhile a fourth thread collects
 * (obmt_collect: the drain and a purge pass now), reads the statistics and
 * switches the purge delay between 0 and 5 ms, so that chains are put,
 * taken, purged and drained at once. At the end, quiet, after a collect:
 * no medium block in use or cached (the depot empty), and the statistics
 * reconcile.
 *
 * The statistics, read without a pause while the owners put, trim and
 * take chains: medium_allocs never goes down nor below medium_frees, and
 * at the end it is exactly the mallocs made (mt_span_stats checks each
 * read against the mallocs begun). */
#include "mt_util.h"

#include <stdatomic.h>
#include <stdbool.h>

#define THREADS 3
#define ROUNDS SCALE(48)
#define BURST 300 /* 18.75 MiB of 64 KiB blocks: more than a class may cache (8 MiB) */

static atomic_int stop;
static atomic_ullong made; /* mallocs and callocs of the workers */

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    static __thread void *v[BURST];
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = r % 3 == 2 ? (size_t)48 << 10 : (size_t)64 << 10;
        bool zero = r & 1;
        for (int i = 0; i < BURST; i++) {
            v[i] = zero ? obmt_calloc(1, n) : obmt_malloc(n);
            CHECK(v[i] != NULL);
            if (zero) {
                const unsigned char *c = v[i];
                for (size_t j = 0; j < n; j += 4096)
                    CHECK_MSG(c[j] == 0 && c[n - 1] == 0, "calloc of %zu: byte %zu not zero", n, j);
            }
            pattern_fill(v[i], n, (uint64_t)id << 32 | (uint64_t)r << 12 | (uint64_t)i);
        }
        atomic_fetch_add(&made, BURST);
        for (int i = 0; i < BURST; i++) {
            CHECK_MSG(pattern_ok(v[i], n, (uint64_t)id << 32 | (uint64_t)r << 12 | (uint64_t)i),
                      "thread %d round %d block %d overwritten", id, r, i);
            obmt_free(v[i]);
        }
    }
    return NULL;
}

/* Reads the statistics without a pause. */
static void *reader(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    while (!atomic_load(&stop)) {
        struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
        CHECK(obmt_stats_get(&st) == 0);
        CHECK_MSG(st.medium_allocs >= last && st.medium_allocs >= st.medium_frees,
                  "medium_allocs %llu after %llu, medium_frees %llu", (unsigned long long)st.medium_allocs,
                  (unsigned long long)last, (unsigned long long)st.medium_frees);
        last = st.medium_allocs;
    }
    return NULL;
}

static void *collector(void *arg)
{
    (void)arg;
    unsigned k = 0;
    while (!atomic_load(&stop)) {
        struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
        switch (k++ % 4) {
        case 0:
            obmt_collect();
            break;
        case 1:
            CHECK(obmt_stats_get(&st) == 0);
            CHECK(st.bytes_medium_cached <= st.bytes_medium + ((size_t)16 << 20));
            break;
        case 2:
            CHECK(obmt_option_set("purge_delay_ms", 0) == 0);
            break;
        case 3:
            CHECK(obmt_option_set("purge_delay_ms", 5) == 0);
            break;
        }
        usleep(300);
    }
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS], c, rd;
    struct obmt_stats st0 = { .version = OBMT_STATS_VERSION, .size = sizeof st0 };
    CHECK(obmt_stats_get(&st0) == 0);
    CHECK(pthread_create(&c, NULL, collector, NULL) == 0);
    CHECK(pthread_create(&rd, NULL, reader, NULL) == 0);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    atomic_store(&stop, 1);
    CHECK(pthread_join(c, NULL) == 0);
    CHECK(pthread_join(rd, NULL) == 0);
    obmt_collect();
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    CHECK_MSG(st.medium_bytes_in_use == 0 && st.bytes_medium_cached == 0, "medium in use %llu, cached %llu",
              (unsigned long long)st.medium_bytes_in_use, (unsigned long long)st.bytes_medium_cached);
    CHECK_MSG(st.medium_allocs - st0.medium_allocs == atomic_load(&made) &&
                  st.medium_frees - st0.medium_frees == atomic_load(&made),
              "%llu mallocs and %llu frees counted, %llu made", (unsigned long long)(st.medium_allocs - st0.medium_allocs),
              (unsigned long long)(st.medium_frees - st0.medium_frees), (unsigned long long)atomic_load(&made));
    CHECK_MSG(st.bytes_committed == st.bytes_in_use + st.bytes_free_in_pools + st.bytes_empty_pools +
                  st.bytes_free_pools + st.bytes_huge + st.bytes_medium,
              "committed %llu does not reconcile", (unsigned long long)st.bytes_committed);
    CHECK_DONE("mt_span_depot");
}
