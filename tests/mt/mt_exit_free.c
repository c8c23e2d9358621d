/* Frees that run after a thread's heap was torn down. glibc frees its own
 * per-thread buffers after the last round of thread-specific-data
 * destructors; here a destructor that re-arms itself until the last round
 * (PTHREAD_DESTRUCTOR_ITERATIONS) does the same with the thread's blocks.
 * They must not make the dying thread take a new heap that nothing would
 * release (found in review: one heap and one pool leaked per exiting
 * thread), and the pools must still go back to their arenas. */
#include "mt_util.h"

#include <limits.h>

#define THREADS SCALE(2000)
#define BLOCKS 64

static pthread_key_t late_key;
static __thread int rounds;

/* ThreadSanitizer finishes a thread's state in the last destructor round
 * itself, so under TSan the frees come one round earlier (then obmt's own
 * destructor could still run again; the exact schedule of the regression is
 * checked in the plain build). */
#define FREE_ROUND (UNDER_TSAN ? PTHREAD_DESTRUCTOR_ITERATIONS - 1 : PTHREAD_DESTRUCTOR_ITERATIONS)

static void late_destructor(void *arg)
{
    if (++rounds < FREE_ROUND) {
        pthread_setspecific(late_key, arg); /* again in the next round */
        return;
    }
    void **blocks = arg;
    for (int i = 0; i < BLOCKS; i++) {
        CHECK(pattern_ok(blocks[i], 48, (uint64_t)i));
        obmt_free(blocks[i]);
    }
    obmt_free(blocks);
}

static void *worker(void *arg)
{
    void **blocks = obmt_malloc(BLOCKS * sizeof(void *));
    CHECK(blocks != NULL);
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = obmt_malloc(48);
        CHECK(blocks[i] != NULL);
        pattern_fill(blocks[i], 48, (uint64_t)i);
    }
    pthread_setspecific(late_key, blocks);
    return arg;
}

int main(void)
{
    void *warm = obmt_malloc(16); /* obmt's key is created first: its destructor runs first */
    obmt_free(warm);
    CHECK(pthread_key_create(&late_key, late_destructor) == 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
        CHECK(pthread_join(t, NULL) == 0);
    }
    struct obmt_stats st = stats_now();
    printf("exit_free: %d threads, heaps created %llu, in use %llu, arenas committed %llu\n", THREADS,
           (unsigned long long)st.heaps_used_hwm, (unsigned long long)st.heaps_in_use,
           (unsigned long long)st.arenas_committed);
    CHECK_MSG(st.heaps_used_hwm <= 3, "heaps created: %llu", (unsigned long long)st.heaps_used_hwm);
    CHECK_MSG(st.heaps_in_use <= 1, "heaps in use: %llu", (unsigned long long)st.heaps_in_use); /* main's */
    CHECK_MSG(st.arenas_committed <= 2, "arenas committed: %llu", (unsigned long long)st.arenas_committed);
    CHECK_MSG(st.pools_taken - st.pools_given <= 40, "pools out: %llu",
              (unsigned long long)(st.pools_taken - st.pools_given));
    CHECK_DONE("mt_exit_free");
}
