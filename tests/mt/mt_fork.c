/* fork in a multi-threaded parent: while worker threads allocate and free
 * (across threads too), the main thread forks; each child allocates, frees,
 * frees blocks that the parent's threads allocated, checks contents, and
 * exits with its verdict. */
#include "mt_util.h"

#include <sys/wait.h>

#define WORKERS 3
#define FORKS SCALE(40)
#define SLOTS 4096

static void *shared_slot[SLOTS];
static size_t shared_n[SLOTS];
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER; /* the test's own data, not obmt's */
static int stop;

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(intptr_t)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        uint64_t x = rng_next(&seed);
        size_t i = x % SLOTS, n = (x >> 20) % 700;
        void *p = obmt_malloc(n);
        CHECK(p != NULL);
        pattern_fill(p, n, i);
        pthread_mutex_lock(&slot_lock);
        void *old = shared_slot[i];
        size_t old_n = shared_n[i];
        shared_slot[i] = p;
        shared_n[i] = n;
        pthread_mutex_unlock(&slot_lock);
        if (old) {
            CHECK(pattern_ok(old, old_n, i));
            obmt_free(old); /* often a block another thread allocated */
        }
    }
    return NULL;
}

static int child_main(void)
{
    /* Only this thread exists here. Use obmt freely. */
    void *mine[2000];
    for (int i = 0; i < 2000; i++) {
        mine[i] = obmt_malloc((size_t)(i % 600));
        if (!mine[i])
            return 2;
        pattern_fill(mine[i], (size_t)(i % 600), 99);
    }
    /* Free the blocks the parent's threads left in the slots (the parent
     * held slot_lock across fork, so the slots are consistent). */
    for (int i = 0; i < SLOTS; i++) {
        if (shared_slot[i]) {
            if (!pattern_ok(shared_slot[i], shared_n[i], (uint64_t)i))
                return 5;
            obmt_free(shared_slot[i]);
        }
    }
    for (int i = 0; i < 2000; i++) {
        if (!pattern_ok(mine[i], (size_t)(i % 600), 99))
            return 3;
        obmt_free(mine[i]);
    }
    void *big = obmt_malloc(1 << 20);
    if (!big)
        return 4;
    obmt_free(big);
    return 0;
}

int main(void)
{
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)(i + 1)) == 0);
    usleep(10000);
    for (int f = 0; f < FORKS; f++) {
        pthread_mutex_lock(&slot_lock); /* no worker is mid-update at fork */
        pid_t pid = fork();
        pthread_mutex_unlock(&slot_lock);
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child_main());
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork %d: child status %d", f, status);
        usleep(1000);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++)
        if (shared_slot[i]) {
            CHECK(pattern_ok(shared_slot[i], shared_n[i], (uint64_t)i));
            obmt_free(shared_slot[i]);
        }
    printf("fork: %d children of a %d-thread parent allocated and freed\n", FORKS, WORKERS + 1);
    CHECK_DONE("mt_fork");
}
