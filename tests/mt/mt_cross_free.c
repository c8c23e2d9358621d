/* Cross-thread frees at scale: each round every thread allocates a batch of
 * random sizes (small and large), then frees the batch of its neighbour,
 * checking each block's pattern first. Meanwhile a reader takes the
 * statistics over and over: remote_frees must never go down between two
 * reads (the heaps' handed-over counts and their waiting blocks are read
 * at different moments: stats.c). */
#include "mt_util.h"

#include <stdatomic.h>

#define THREADS 4
#define ROUNDS 20
#define BATCH SCALE(20000)

struct item { void *p; size_t n; };
static struct item *batches[THREADS];
static pthread_barrier_t barrier;

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = 1234 + (uint64_t)id;
    struct item *mine = obmt_malloc(sizeof(struct item) * BATCH);
    CHECK(mine != NULL);
    batches[id] = mine;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BATCH; i++) {
            uint64_t x = rng_next(&seed);
            size_t n = (x & 15) == 0 ? 513 + (x >> 8) % 8000 : (x >> 8) % 513;
            mine[i].p = obmt_malloc(n);
            mine[i].n = n;
            CHECK(mine[i].p != NULL);
            pattern_fill(mine[i].p, n, (uint64_t)r);
        }
        pthread_barrier_wait(&barrier);
        struct item *theirs = batches[(id + 1) % THREADS];
        for (int i = 0; i < BATCH; i++) {
            CHECK_MSG(pattern_ok(theirs[i].p, theirs[i].n, (uint64_t)r),
                      "round %d block %d of thread %d corrupted", r, i, (id + 1) % THREADS);
            obmt_free(theirs[i].p);
        }
        pthread_barrier_wait(&barrier);
    }
    pthread_barrier_wait(&barrier);
    obmt_free(mine);
    return NULL;
}

static atomic_int workers_done;

static void *stats_reader(void *unused)
{
    (void)unused;
    uint64_t last = 0, reads = 0;
    while (!atomic_load(&workers_done)) {
        struct obmt_stats st = stats_now();
        CHECK_MSG(st.remote_frees >= last, "remote_frees went down: %llu -> %llu after %llu reads",
                  (unsigned long long)last, (unsigned long long)st.remote_frees,
                  (unsigned long long)reads);
        last = st.remote_frees;
        reads++;
    }
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS], reader;
    CHECK(pthread_create(&reader, NULL, stats_reader, NULL) == 0);
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&workers_done, 1);
    pthread_join(reader, NULL);
    struct obmt_stats st = stats_now();
    CHECK_MSG(st.remote_frees >= (uint64_t)THREADS * ROUNDS * BATCH / 2,
              "remote frees %llu", (unsigned long long)st.remote_frees);
    CHECK(st.heaps_in_use == 0);
    printf("cross_free: %d threads x %d rounds x %d blocks, %llu remote frees\n",
           THREADS, ROUNDS, BATCH, (unsigned long long)st.remote_frees);
    CHECK_DONE("mt_cross_free");
}
