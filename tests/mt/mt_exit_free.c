/* Frees that run after a thread's heap was torn down. glibc frees its own
 * per-thread buffers after the last round of thread-specific-data
 * destructors; here a destructor that re-arms itself until the last round
 * (PTHREAD_DESTRUCTOR_ITERATIONS) does the same with the thread's blocks.
 * They must not make the dying thread take a new heap that nothing would
 * release (found in review: one heap and one pool leaked per exiting
 * thread), and the pools must still go back to their arenas.
 *
 * The destructor also allocates, as C++ thread_local destructors and
 * glibc's own do: obmt serves those mallocs without a heap (api.c,
 * malloc_heapless), passes none to the underlying allocator, and a later
 * thread (also past its heap) frees them. */
#include "mt_util.h"

#include <limits.h>

#define THREADS SCALE(2000)
#define BLOCKS 64

static pthread_key_t late_key;
static __thread int rounds;

#define LATE 8   /* blocks a destructor allocates, one of each size */
#define KEPT 4   /* the last threads' late blocks, freed by a later thread */
static const size_t late_sizes[LATE] = { 1, 16, 100, 512, 1000, 4096, 8192, 20000 };
static void *kept[KEPT][LATE]; /* written by one thread at a time (the threads run one after another) */
static unsigned exits;

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
    void **slot = kept[exits++ % KEPT];
    for (int i = 0; i < LATE; i++) {
        if (slot[i]) { /* an earlier thread's, also allocated past its heap */
            CHECK(pattern_ok(slot[i], late_sizes[i], (uint64_t)i + 100));
            obmt_free(slot[i]);
        }
        slot[i] = i & 1 ? obmt_calloc(1, late_sizes[i]) : obmt_malloc(late_sizes[i]);
        CHECK(slot[i] != NULL && obmt_owns(slot[i]) && obmt_usable_size(slot[i]) >= late_sizes[i]);
        if (i & 1)
            for (size_t k = 0; k < late_sizes[i]; k++)
                CHECK(((unsigned char *)slot[i])[k] == 0);
        pattern_fill(slot[i], late_sizes[i], (uint64_t)i + 100);
    }
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
    for (int j = 0; j < KEPT; j++)
        for (int i = 0; i < LATE; i++) {
            if (kept[j][i]) {
                CHECK(pattern_ok(kept[j][i], late_sizes[i], (uint64_t)i + 100));
                obmt_free(kept[j][i]);
            }
        }
    struct obmt_stats st = stats_now();
    printf("exit_free: %d threads, heaps created %llu, in use %llu, arenas committed %llu\n", THREADS,
           (unsigned long long)st.heaps_used_hwm, (unsigned long long)st.heaps_in_use,
           (unsigned long long)st.arenas_committed);
    CHECK_MSG(st.large_allocs == 0, "%llu requests passed to the underlying allocator",
              (unsigned long long)st.large_allocs);
    CHECK_MSG(st.heaps_used_hwm <= 3, "heaps created: %llu", (unsigned long long)st.heaps_used_hwm);
    CHECK_MSG(st.heaps_in_use <= 1, "heaps in use: %llu", (unsigned long long)st.heaps_in_use); /* main's */
    CHECK_MSG(st.arenas_committed <= 2, "arenas committed: %llu", (unsigned long long)st.arenas_committed);
    CHECK_MSG(st.pools_taken - st.pools_given <= 40, "pools out: %llu",
              (unsigned long long)(st.pools_taken - st.pools_given));
    CHECK_DONE("mt_exit_free");
}
