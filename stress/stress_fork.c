/*
 * stress_fork DURATION_S THREADS SEED
 *
 * fork under load. THREADS threads allocate and free without pause, through
 * a shared table (so that many frees are cross-thread), while the main
 * thread forks again and again, wherever they are. Each child, whose only
 * thread is the one that forked: checks and frees every block it inherited
 * through the table (blocks of the parent's threads, whose thread caches
 * are dead in the child), allocates blocks of every kind and frees half of
 * them, starts a thread that checks and frees the other half and allocates
 * and frees some of its own (not under ThreadSanitizer, which does not
 * support threads after a multi-threaded fork: there the child's main
 * thread does it), collects, and exits 0. Under ThreadSanitizer the child
 * also leaves alone blocks above OBMT_SMALL_MAX: obmt passes those to the
 * process's malloc, there TSan's, whose allocator can be inherited locked
 * from a parent thread and hangs the child (seen with clang 14: a child
 * stuck in SizeClassAllocator64::ReturnToAllocator); obmt's own pools are
 * what this program tests. The parent waits for each child:
 * a child that fails, dies from a signal, or runs for more than 10 s (a
 * lock or a state inherited broken) is a FAULT. Children add their counts
 * to a shared page. Every block's pattern is checked before it is freed,
 * in parent and children alike.
 */
#include "stress_util.h"
#include "tunables.h" /* OBMT_SMALL_MAX */

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define TABLE 4096
#define CHILD_TIMEOUT_S 10.0
#define CHILD_BLOCKS 2000

struct desc { void *p; uint64_t meta; }; /* meta = size << 16 | tag */
static struct desc **table;              /* moved with atomic exchange */
static double duration;
static uint64_t base_seed;
static int stop;
static uint64_t total_allocs, total_frees;

/* Counts the children report, in memory shared with the parent. */
struct child_counts { uint64_t inherited_freed, allocs, frees; };
static struct child_counts *shared_counts;

static uint64_t free_desc(struct desc *d, const char *where)
{
    block_check_free(d->p, d->meta >> 16, d->meta & 0xffff, where);
    obmt_free(d);
    return 2;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = base_seed * 1000003 + (uint64_t)id;
    uint64_t allocs = 0, frees = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        uint64_t x = rng_next(&seed);
        size_t i = (x >> 20) % TABLE;
        if (x & 1) {
            struct desc *d = __atomic_exchange_n(&table[i], NULL, __ATOMIC_ACQ_REL);
            if (d)
                frees += free_desc(d, "parent");
            continue;
        }
        struct desc *d = obmt_malloc(sizeof *d);
        if (!d)
            die("obmt_malloc returned NULL");
        size_t n = pick_any_size(rng_next(&seed));
        d->meta = (uint64_t)n << 16 | (x >> 48);
        d->p = block_alloc(n, d->meta & 0xffff);
        allocs += 2;
        struct desc *old = __atomic_exchange_n(&table[i], d, __ATOMIC_ACQ_REL);
        if (old)
            frees += free_desc(old, "parent");
    }
    __atomic_fetch_add(&total_allocs, allocs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&total_frees, frees, __ATOMIC_RELAXED);
    return NULL;
}

/* ---- the child ------------------------------------------------------------ */

struct child_batch { void **p; size_t *n; int count; uint64_t tag; };

static void *child_thread(void *arg)
{
    struct child_batch *b = arg;
    for (int i = 0; i < b->count; i++) /* the child main thread's blocks */
        block_check_free(b->p[i], b->n[i], b->tag, "child main's, in child thread");
    uint64_t seed = b->tag;
    for (int i = 0; i < 500; i++) {
        size_t n;
        do
            n = pick_any_size(rng_next(&seed));
        while (UNDER_TSAN && n > OBMT_SMALL_MAX);
        block_check_free(block_alloc(n, 7), n, 7, "child thread");
    }
    return NULL;
}

static int child_main(int fork_no)
{
    uint64_t inherited = 0, allocs = 0, frees = 0;
    /* The parent's threads are gone; what they left in the table is ours.
     * A block a thread held in its hands at fork is simply never freed. */
    for (size_t i = 0; i < TABLE; i++) {
        struct desc *d = __atomic_load_n(&table[i], __ATOMIC_ACQUIRE);
        if (d && (!UNDER_TSAN || obmt_owns(d->p)))
            inherited += free_desc(d, "inherited in child");
    }
    uint64_t seed = base_seed ^ ((uint64_t)fork_no << 32);
    static void *p[CHILD_BLOCKS];
    static size_t n[CHILD_BLOCKS];
    uint64_t tag = (uint64_t)fork_no & 0xffff;
    for (int i = 0; i < CHILD_BLOCKS; i++) {
        do
            n[i] = pick_any_size(rng_next(&seed));
        while (UNDER_TSAN && n[i] > OBMT_SMALL_MAX);
        p[i] = block_alloc(n[i], tag);
    }
    allocs += CHILD_BLOCKS;
    for (int i = 0; i < CHILD_BLOCKS; i += 2)
        block_check_free(p[i], n[i], tag, "child");
    frees += CHILD_BLOCKS / 2;
    /* The odd half: freed by a new thread of the child (cross-thread), or by
     * this thread where threads cannot be started after fork. */
    struct child_batch b = { obmt_malloc(sizeof(void *) * CHILD_BLOCKS / 2),
                             obmt_malloc(sizeof(size_t) * CHILD_BLOCKS / 2), 0, tag };
    if (!b.p || !b.n)
        die("obmt_malloc returned NULL in the child");
    for (int i = 1; i < CHILD_BLOCKS; i += 2) {
        b.p[b.count] = p[i];
        b.n[b.count++] = n[i];
    }
#if UNDER_TSAN
    child_thread(&b);
#else
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, &b) != 0)
        die("pthread_create in the child");
    pthread_join(t, NULL);
#endif
    frees += CHILD_BLOCKS / 2;
    obmt_free(b.p);
    obmt_free(b.n);
    obmt_collect();
    __atomic_fetch_add(&shared_counts->inherited_freed, inherited, __ATOMIC_RELAXED);
    __atomic_fetch_add(&shared_counts->allocs, allocs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&shared_counts->frees, frees, __ATOMIC_RELAXED);
    return 0;
}

/* ---- the parent ----------------------------------------------------------- */

static void wait_child(pid_t pid, int fork_no)
{
    double deadline = now_s() + CHILD_TIMEOUT_S;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return;
            if (WIFEXITED(status))
                dief("fork %d: child exited with status %d", fork_no, WEXITSTATUS(status));
            dief("fork %d: child killed by signal %d", fork_no, WTERMSIG(status));
        }
        if (r < 0 && errno != EINTR)
            dief("fork %d: waitpid failed", fork_no);
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            dief("fork %d: child still running after %.0f s: it hangs (a lock or state inherited broken)",
                 fork_no, CHILD_TIMEOUT_S);
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    int threads;
    parse_args(argc, argv, &duration, &threads, &base_seed);
    table = obmt_calloc(TABLE, sizeof *table);
    shared_counts = mmap(NULL, sizeof *shared_counts, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!table || shared_counts == MAP_FAILED)
        die("no memory for the tables");
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0)
            die("pthread_create");
    double end = now_s() + duration;
    int forks = 0;
    fflush(stdout);
    while (now_s() < end) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork failed");
        if (pid == 0)
            _exit(child_main(forks));
        wait_child(pid, forks);
        forks++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    free(t);
    for (size_t i = 0; i < TABLE; i++)
        if (table[i])
            total_frees += free_desc(table[i], "parent at the end");
    obmt_free(table);
    if (total_allocs != total_frees)
        dief("parent: allocations (%llu) and frees (%llu) do not match: a block was lost",
             (unsigned long long)total_allocs, (unsigned long long)total_frees);
    if (forks == 0)
        die("no fork completed");
    printf("stress_fork: %d threads, %.1f s, seed %llu: %d forks; parent %llu allocations, %llu frees; "
           "children freed %llu inherited blocks, %llu allocations, %llu frees of their own; 0 faults\n",
           threads, duration, (unsigned long long)base_seed, forks, (unsigned long long)total_allocs,
           (unsigned long long)total_frees, (unsigned long long)shared_counts->inherited_freed,
           (unsigned long long)shared_counts->allocs, (unsigned long long)shared_counts->frees);
    return 0;
}
