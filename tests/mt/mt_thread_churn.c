/* 1,000 threads that allocate and exit; other threads free their blocks
 * afterwards. Threads run in waves; the heaps of exited threads are reused,
 * and once every block is freed the arenas go back to the OS. */
#include "mt_util.h"

#define THREADS 1000
#define WAVE 8
#define PER_THREAD SCALE(2000)
#define FREERS 3

struct item { void *p; size_t n; };
static struct item *items; /* THREADS * PER_THREAD */

static void *alloc_and_exit(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = (uint64_t)id * 7919;
    for (int i = 0; i < PER_THREAD; i++) {
        uint64_t x = rng_next(&seed);
        size_t n = (x & 31) == 0 ? 600 + (x >> 8) % 4000 : 1 + (x >> 8) % 512;
        struct item *it = &items[(size_t)id * PER_THREAD + i];
        it->p = obmt_malloc(n);
        it->n = n;
        CHECK(it->p != NULL);
        pattern_fill(it->p, n, (uint64_t)id);
    }
    return NULL;
}

static void *free_share(void *arg)
{
    int k = (int)(intptr_t)arg;
    for (size_t i = (size_t)k; i < (size_t)THREADS * PER_THREAD; i += FREERS) {
        struct item *it = &items[i];
        CHECK_MSG(pattern_ok(it->p, it->n, i / PER_THREAD), "block %zu corrupted", i);
        obmt_free(it->p);
    }
    return NULL;
}

int main(void)
{
    items = obmt_calloc((size_t)THREADS * PER_THREAD, sizeof *items);
    CHECK(items != NULL);
    for (int base = 0; base < THREADS; base += WAVE) {
        pthread_t t[WAVE];
        for (int i = 0; i < WAVE; i++)
            CHECK(pthread_create(&t[i], NULL, alloc_and_exit, (void *)(intptr_t)(base + i)) == 0);
        for (int i = 0; i < WAVE; i++)
            pthread_join(t[i], NULL);
    }
    struct obmt_stats st = stats_now();
    /* Exited threads' heaps are reused: never more than a wave (plus the
     * main thread) at once. */
    CHECK_MSG(st.heaps_used_hwm <= WAVE + 1, "heaps created %llu", (unsigned long long)st.heaps_used_hwm);
    CHECK(st.heaps_in_use == 0); /* every worker's heap was recycled at exit */
    uint64_t peak_committed = st.arenas_committed;

    pthread_t f[FREERS];
    for (int k = 0; k < FREERS; k++)
        CHECK(pthread_create(&f[k], NULL, free_share, (void *)(intptr_t)k) == 0);
    for (int k = 0; k < FREERS; k++)
        pthread_join(f[k], NULL);
    obmt_free(items);
    obmt_collect();
    st = stats_now();
    CHECK_MSG(st.pools_adopted > 0, "abandoned pools were never adopted");
    /* Every small block is free: all arenas but the one kept are decommitted. */
    CHECK_MSG(st.arenas_committed <= 1, "committed %llu of peak %llu",
              (unsigned long long)st.arenas_committed, (unsigned long long)peak_committed);
    printf("thread_churn: %d threads, %d blocks each, heaps %llu, arenas peak %llu now %llu\n",
           THREADS, PER_THREAD, (unsigned long long)st.heaps_used_hwm,
           (unsigned long long)peak_committed, (unsigned long long)st.arenas_committed);
    CHECK_DONE("mt_thread_churn");
}
