/* More threads alive at once than obmt's heap table once held (16,384):
 * 17,000 threads with small stacks each take a heap with one malloc, and
 * wait until all are there; every block must be obmt's (before the heap
 * table grew on demand, threads past the 16,384th were served by glibc),
 * and the statistics must count a heap per thread.
 *
 * Needs the kernel and the session to allow that many threads: it exits 77
 * (ctest: skipped) if pthread_create fails before the last one
 * (RLIMIT_NPROC, kernel.threads-max, a pids cgroup such as systemd's
 * TasksMax, or memory), and under ThreadSanitizer, whose run-time has a
 * thread limit of its own. OBMT_TEST_THREADS=N runs N threads instead. */
#include "mt_util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#define SKIP 77

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int arrived, go;
static int not_obmt;

static void *one(void *arg)
{
    void *p = obmt_malloc(32);
    int ours = p && obmt_owns(p);
    if (p)
        pattern_fill(p, 32, (uintptr_t)arg);
    pthread_mutex_lock(&mu);
    not_obmt += !ours;
    arrived++;
    pthread_cond_broadcast(&cv);
    while (!go)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (p) {
        CHECK(pattern_ok(p, 32, (uintptr_t)arg));
        obmt_free(p);
    }
    return NULL;
}

int main(void)
{
    if (UNDER_TSAN) {
        printf("many_threads: skipped under ThreadSanitizer (its thread limit)\n");
        return SKIP;
    }
    int want = 17000;
    const char *env = getenv("OBMT_TEST_THREADS");
    if (env && atoi(env) > 0)
        want = atoi(env);
    void *mine = obmt_malloc(16);
    CHECK(mine && obmt_owns(mine));
    long min = sysconf(_SC_THREAD_STACK_MIN);
    size_t stack = 16 << 10;
    if (min > 0 && (size_t)min > stack)
        stack = (size_t)min;
    pthread_attr_t attr;
    CHECK(pthread_attr_init(&attr) == 0);
    CHECK(pthread_attr_setstacksize(&attr, stack) == 0);
    pthread_t *t = obmt_calloc((size_t)want, sizeof *t);
    CHECK(t != NULL);
    int made = 0, err = 0;
    for (; made < want; made++) {
        err = pthread_create(&t[made], &attr, one, (void *)(intptr_t)made);
        if (err)
            break;
    }
    pthread_mutex_lock(&mu);
    while (arrived < made)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    struct obmt_stats st = stats_now();
    int failed = not_obmt;
    pthread_mutex_lock(&mu);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < made; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    obmt_free(t);
    pthread_attr_destroy(&attr);
    obmt_free(mine);

    printf("many_threads: %d of %d threads alive at once (%zu KiB stacks), %d blocks not obmt's;"
           " heaps in use %llu, created %llu, threads seen %llu\n",
           made, want, stack >> 10, failed, (unsigned long long)st.heaps_in_use,
           (unsigned long long)st.heaps_used_hwm, (unsigned long long)st.threads_seen);
    CHECK_MSG(failed == 0, "%d of %d threads were served by the underlying allocator", failed, made);
    CHECK_MSG(st.heaps_in_use == (uint64_t)made + 1, "heaps in use %llu for %d threads and main",
              (unsigned long long)st.heaps_in_use, made);
    CHECK(st.heaps_used_hwm >= st.heaps_in_use && st.threads_seen >= (uint64_t)made + 1);
    if (made < want) {
        printf("many_threads: skipped: pthread_create failed after %d threads (%s); limits: see the header\n",
               made, strerror(err));
        return SKIP;
    }
    CHECK_DONE("mt_many_threads");
}
