/*
 * stress_oom DURATION_S THREADS SEED
 *
 * Out of memory. Rounds of an out-of-memory window while THREADS threads
 * allocate through it, the window made in turn three ways:
 *  hook:  the test hook os_fail_commits (src/os.c), kept topped up by two
 *         more threads, so that every commit of a new arena fails while
 *         the allocating threads use up the free pools. The underlying
 *         allocator still has memory, and small requests that get no pool
 *         are documented to fall back to it (src/api.c, test_oom.c): every
 *         request must succeed, aligned ones aligned; blocks obmt does not
 *         own are counted as fallbacks.
 *  small: setrlimit(RLIMIT_DATA) at the current data size. Found by trying
 *         it: it makes glibc's brk and mmap fail, and also obmt's commits,
 *         which mprotect part of a PROT_NONE reservation read-write, which
 *         the kernel counts as data (RLIMIT_AS would not touch them: their
 *         address space is reserved at start-up). Each thread first uses up
 *         what glibc has left, with large requests, then makes small ones.
 *  mixed: the same limit, half small and half large requests.
 * Under the limit a request may fail, and then it must return NULL with
 * errno == ENOMEM (posix_memalign: ENOMEM and *out untouched; realloc: NULL,
 * ENOMEM and the old block intact). A window ends after EVENTS_PER_WINDOW
 * fallbacks or failures (all threads together) or a byte cap per thread.
 * After each window: the blocks every thread has held since before the
 * first window are intact, the window's blocks are checked and freed (half
 * by another thread), and every thread allocates a block of every class
 * and some large ones: the small ones must come from obmt's pools again.
 * The limit windows are skipped under ThreadSanitizer, whose own
 * allocations fail under the limit.
 *
 * A failed commit must not use up an arena slot: the slot is tried again
 * by the next new arena. At the end, the slots ever used must not exceed
 * the arenas ever committed by more than the threads that can fail a
 * commit at the same moment (this program first found each failure taking
 * a slot for good, all 32,768 of them in a long run).
 */
#include "stress_util.h"

#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h" /* os_fail_commits, the class sizes */

#define EVENTS_PER_WINDOW 24
#define MAX_WINDOW_BLOCKS 65536
#define INJECTORS 2

enum { ROUTE_HOOK, ROUTE_RLIMIT_SMALL, ROUTE_RLIMIT_LARGE, NROUTES };

struct blk { void *p; size_t n; uint64_t tag; };
struct thread_state {
    struct blk held[OBMT_NCLASSES + 3];
    int nheld;
    struct blk *win; /* this window's blocks */
    size_t nwin;
};

static struct thread_state *ts;
static int nthreads;
static uint64_t base_seed;
static pthread_barrier_t barrier;
static int route, stop, allocators_done;
static size_t window_cap; /* bytes per thread and window, set by main */

struct counts {
    uint64_t requests, fallbacks, small_null, large_null, memalign_failures, realloc_failures, post_checks;
};
static struct counts total[NROUTES];

static size_t class_sizes[OBMT_NCLASSES];
static int nclasses;

static void add_counts(int r, const struct counts *c)
{
    struct counts *t = &total[r];
    __atomic_fetch_add(&t->requests, c->requests, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->fallbacks, c->fallbacks, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->small_null, c->small_null, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->large_null, c->large_null, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->realloc_failures, c->realloc_failures, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->memalign_failures, c->memalign_failures, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->post_checks, c->post_checks, __ATOMIC_RELAXED);
}

static int check_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n && i < 256; i++)
        if (p[i])
            return 0;
    for (size_t i = n > 256 ? n - 256 : 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A failed request: NULL (or ENOMEM from posix_memalign) with errno ENOMEM,
 * and only where the underlying allocator is out of memory too. */
static void failed(int r, int err, size_t n, const char *what)
{
    if (r == ROUTE_HOOK)
        dief("%s(%zu) failed (errno %d) with only obmt's commits failing: the underlying allocator "
             "should have served it", what, n, err);
    if (err != ENOMEM)
        dief("%s(%zu) failed with errno %d, not ENOMEM", what, n, err);
}

static int window_events; /* out-of-memory events in this window, all threads */

static int window_open(void)
{
    return __atomic_load_n(&window_events, __ATOMIC_RELAXED) < EVENTS_PER_WINDOW;
}

static void event(void)
{
    __atomic_fetch_add(&window_events, 1, __ATOMIC_RELAXED);
}

/* Use up what the underlying allocator has left under the limit, with
 * large requests (which use no arena slot when they fail), halving the size
 * on each failure: afterwards, small requests that get no pool fail rather
 * than fall back. */
static size_t drain_underlying(struct thread_state *me, uint64_t tag, struct counts *c, size_t cap)
{
    size_t bytes = 0;
    for (size_t n = (size_t)256 << 10; n > OBMT_SMALL_MAX && bytes < cap && me->nwin < MAX_WINDOW_BLOCKS;) {
        errno = 0;
        void *p = obmt_malloc(n);
        c->requests++;
        if (!p) {
            if (errno != ENOMEM)
                dief("malloc(%zu) failed with errno %d, not ENOMEM", n, errno);
            c->large_null++;
            n /= 2;
            continue;
        }
        block_fill(p, n, tag);
        me->win[me->nwin++] = (struct blk){ p, n, tag };
        bytes += n;
    }
    return bytes;
}

/* Allocate through the window until EVENTS_PER_WINDOW fallbacks or failures
 * (all threads together), or this thread's byte cap. */
static void window(struct thread_state *me, int r, uint64_t *seed, uint64_t tag, struct counts *c)
{
    size_t bytes = 0, cap = __atomic_load_n(&window_cap, __ATOMIC_RELAXED);
    me->nwin = 0;
    if (r == ROUTE_RLIMIT_SMALL)
        drain_underlying(me, tag, c, cap);
    while (window_open() && bytes < cap && me->nwin < MAX_WINDOW_BLOCKS) {
        uint64_t x = rng_next(seed);
        size_t n;
        if (r == ROUTE_RLIMIT_LARGE && (x & 1))
            n = OBMT_SMALL_MAX + 1 + (x >> 8) % (256 << 10); /* the underlying allocator */
        else if (x & 6)
            n = 4081 + (x >> 8) % (OBMT_SMALL_MAX - 4080); /* big classes: pools run out sooner */
        else
            n = 1 + (x >> 8) % OBMT_FINE_MAX;
        unsigned op = (unsigned)(x >> 40) % 16;
        void *p = NULL;
        c->requests++;
        if (op == 0 && n <= OBMT_FINE_MAX) {
            size_t align = (size_t)32 << ((x >> 50) % 3); /* 32, 64, 128 */
            void *sentinel = (void *)(uintptr_t)0x5a5a5a50;
            p = sentinel;
            int rc = obmt_posix_memalign(&p, align, n);
            if (rc) {
                if (p != sentinel)
                    dief("posix_memalign(%zu, %zu) failed with %d but wrote *out", align, n, rc);
                failed(r, rc, n, "posix_memalign");
                c->memalign_failures++;
                event();
                continue;
            }
            if ((uintptr_t)p % align)
                dief("posix_memalign(%zu, %zu) = %p: misaligned (fallback %d)", align, n, p, !obmt_owns(p));
        } else if (op == 1) {
            errno = 0;
            p = obmt_calloc(1, n);
            if (!p) {
                failed(r, errno, n, "calloc");
                if (n <= OBMT_SMALL_MAX)
                    c->small_null++;
                else
                    c->large_null++;
                event();
                continue;
            }
            if (!check_zero(p, n))
                dief("calloc(1, %zu) = %p: not zeroed", n, p);
        } else if (op == 2 && r != ROUTE_HOOK && me->nwin > 0) {
            /* Move a block of this window to another class, or grow it into
             * the underlying allocator. */
            struct blk *b = &me->win[me->nwin - 1];
            size_t nn = r == ROUTE_RLIMIT_SMALL ? n : b->n + (1 << 20);
            uint64_t head = 0;
            if (b->n >= sizeof head)
                memcpy(&head, b->p, sizeof head);
            errno = 0;
            void *q = obmt_realloc(b->p, nn);
            if (!q) {
                failed(r, errno, nn, "realloc");
                block_check(b->p, b->n, b->tag, "after a failed realloc");
                c->realloc_failures++;
                event();
                continue;
            }
            if (b->n >= sizeof head && nn >= sizeof head && memcmp(q, &head, sizeof head) != 0)
                dief("realloc(%zu -> %zu) did not keep the contents", b->n, nn);
            if (nn <= OBMT_SMALL_MAX && !obmt_owns(q)) {
                c->fallbacks++;
                event();
            }
            b->p = q;
            b->n = nn;
            block_fill(q, nn, b->tag);
            bytes += nn;
            continue;
        } else {
            errno = 0;
            p = obmt_malloc(n);
            if (!p) {
                failed(r, errno, n, "malloc");
                if (n <= OBMT_SMALL_MAX)
                    c->small_null++;
                else
                    c->large_null++;
                event();
                continue;
            }
        }
        if (n <= OBMT_SMALL_MAX && !obmt_owns(p)) {
            c->fallbacks++;
            event();
        }
        block_fill(p, n, tag);
        me->win[me->nwin++] = (struct blk){ p, n, tag };
        bytes += n;
    }
}

/* After a window: a block of every class (from a pool) and a few large ones. */
static void post_check(uint64_t tag, struct counts *c)
{
    static const size_t large[] = { OBMT_SMALL_MAX + 1, 100000, 1 << 20 };
    for (int i = 0; i < nclasses + 3; i++) {
        size_t n = i < nclasses ? class_sizes[i] : large[i - nclasses];
        void *p = block_alloc(n, tag);
        if (n <= OBMT_SMALL_MAX && !obmt_owns(p))
            dief("after the out-of-memory window, a %zu-byte request was not served from a pool", n);
        block_check_free(p, n, tag, "after the window");
        c->post_checks++;
    }
    void *p = NULL;
    if (obmt_posix_memalign(&p, 64, 200) != 0 || (uintptr_t)p % 64 || !obmt_owns(p))
        dief("after the out-of-memory window, posix_memalign(64, 200) = %p", p);
    obmt_free(p);
}

static void *allocator(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct thread_state *me = &ts[id], *next = &ts[(id + 1) % nthreads];
    uint64_t seed = base_seed * 1000003 + (uint64_t)id;
    struct counts c = { 0 };
    static const size_t large[] = { OBMT_SMALL_MAX + 1, 100000, 1 << 20 };
    for (int i = 0; i < nclasses + 3; i++) { /* held across every window */
        size_t n = i < nclasses ? class_sizes[i] : large[i - nclasses];
        uint64_t tag = (uint64_t)(id * 64 + i) & 0xffff;
        me->held[me->nheld++] = (struct blk){ block_alloc(n, tag), n, tag };
    }
    for (uint64_t round = 0;; round++) {
        pthread_barrier_wait(&barrier); /* 1: the window opens */
        if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
            break;
        int r = __atomic_load_n(&route, __ATOMIC_RELAXED);
        uint64_t tag = (round * 256 + (uint64_t)id) & 0xffff;
        window(me, r, &seed, tag, &c);
        __atomic_fetch_add(&allocators_done, 1, __ATOMIC_RELEASE);
        pthread_barrier_wait(&barrier); /* 2: the window closes */
        pthread_barrier_wait(&barrier); /* 3: memory is back */
        for (int i = 0; i < me->nheld; i++)
            block_check(me->held[i].p, me->held[i].n, me->held[i].tag, "held through the window");
        for (size_t i = 0; i < me->nwin; i += 2)
            block_check_free(me->win[i].p, me->win[i].n, me->win[i].tag, "window, own");
        for (size_t i = 1; i < next->nwin; i += 2)
            block_check_free(next->win[i].p, next->win[i].n, next->win[i].tag, "window, another thread's");
        pthread_barrier_wait(&barrier); /* 4: the window's blocks are freed */
        post_check(tag, &c);
        obmt_collect();
        add_counts(r, &c);
        c = (struct counts){ 0 };
        pthread_barrier_wait(&barrier); /* 5: round over */
    }
    for (int i = 0; i < me->nheld; i++)
        block_check_free(me->held[i].p, me->held[i].n, me->held[i].tag, "held, at the end");
    return NULL;
}

/* Route (a): keep the hook above zero while the allocators are in the window. */
static void *injector(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_barrier_wait(&barrier); /* 1 */
        if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
            break;
        if (__atomic_load_n(&route, __ATOMIC_RELAXED) == ROUTE_HOOK) {
            while (__atomic_load_n(&allocators_done, __ATOMIC_ACQUIRE) < nthreads) {
                if (__atomic_load_n(&os_fail_commits, __ATOMIC_RELAXED) < 1024)
                    __atomic_fetch_add(&os_fail_commits, 1024, __ATOMIC_RELAXED);
                sched_yield();
            }
        }
        pthread_barrier_wait(&barrier); /* 2 */
        pthread_barrier_wait(&barrier); /* 3 */
        pthread_barrier_wait(&barrier); /* 4 */
        pthread_barrier_wait(&barrier); /* 5 */
    }
    return NULL;
}

static size_t vm_data_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    if (!f)
        die("cannot read /proc/self/status");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %zu kB", &kib) == 1)
            break;
    fclose(f);
    if (!kib)
        die("no VmData in /proc/self/status");
    return kib << 10;
}

int main(int argc, char **argv)
{
    double duration;
    parse_args(argc, argv, &duration, &nthreads, &base_seed);
    for (size_t n = 16; n <= OBMT_FINE_MAX; n += 16)
        class_sizes[nclasses++] = n;
    for (int j = OBMT_NCOARSE - 1; j >= 0; j--) /* OBMT_COARSE_K falls as the size grows */
        class_sizes[nclasses++] = OBMT_COARSE(OBMT_COARSE_K(j));
    ts = calloc((size_t)nthreads, sizeof *ts);
    for (int i = 0; i < nthreads; i++)
        ts[i].win = calloc(MAX_WINDOW_BLOCKS, sizeof *ts[i].win);
    pthread_barrier_init(&barrier, NULL, (unsigned)(nthreads + INJECTORS + 1));
    pthread_t *t = calloc((size_t)(nthreads + INJECTORS), sizeof *t);
    for (int i = 0; i < nthreads + INJECTORS; i++)
        if (pthread_create(&t[i], NULL, i < nthreads ? allocator : injector, (void *)(intptr_t)i) != 0)
            die("pthread_create");
    struct rlimit orig;
    if (getrlimit(RLIMIT_DATA, &orig) != 0)
        die("getrlimit");

    double end = now_s() + duration;
    struct obmt_stats st = stats_now();
    int rounds[NROUTES] = { 0 };
    for (int k = 0;; k++) {
        st = stats_now();
        double now = now_s();
        if (k > 0 && now >= end)
            __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        int r = UNDER_TSAN ? ROUTE_HOOK : k % NROUTES;
        __atomic_store_n(&route, r, __ATOMIC_RELAXED);
        __atomic_store_n(&allocators_done, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&window_events, 0, __ATOMIC_RELAXED);
        /* Enough to use up every free pool of the arenas ever committed
         * (reusing them needs no commit), and then some. */
        __atomic_store_n(&window_cap, (size_t)(st.arenas_committed_hwm * st.arena_size) / (size_t)nthreads + ((size_t)16 << 20),
                         __ATOMIC_RELAXED);
        if (r != ROUTE_HOOK && !__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
            /* No new data mapping at all: obmt's commits and glibc's brk and
             * mmap fail; what is already mapped still serves. */
            struct rlimit lim = { vm_data_bytes(), orig.rlim_max };
            if (lim.rlim_cur > orig.rlim_cur)
                lim.rlim_cur = orig.rlim_cur;
            if (setrlimit(RLIMIT_DATA, &lim) != 0)
                die("setrlimit(RLIMIT_DATA)");
        }
        pthread_barrier_wait(&barrier); /* 1 */
        if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
            break;
        pthread_barrier_wait(&barrier); /* 2 */
        if (r == ROUTE_HOOK)
            __atomic_store_n(&os_fail_commits, 0, __ATOMIC_RELAXED);
        else if (setrlimit(RLIMIT_DATA, &orig) != 0)
            die("setrlimit(RLIMIT_DATA) back");
        pthread_barrier_wait(&barrier); /* 3 */
        pthread_barrier_wait(&barrier); /* 4 */
        pthread_barrier_wait(&barrier); /* 5 */
        rounds[r]++;
    }
    for (int i = 0; i < nthreads + INJECTORS; i++)
        pthread_join(t[i], NULL);
    st = stats_now();
    static const char *names[NROUTES] = { "commit hook", "RLIMIT_DATA, small", "RLIMIT_DATA, mixed" };
    printf("stress_oom: %d threads, %.1f s, seed %llu%s\n", nthreads, duration, (unsigned long long)base_seed,
           UNDER_TSAN ? " (RLIMIT_DATA windows skipped: ThreadSanitizer's own allocations fail under the limit)" : "");
    for (int r = 0; r < NROUTES; r++) {
        struct counts *c = &total[r];
        printf("  %-19s %4d windows: %llu requests; %llu small served by the fallback; NULL+ENOMEM: %llu small, "
               "%llu large, %llu posix_memalign ENOMEM, %llu realloc (block intact); %llu checked after\n",
               names[r], rounds[r], (unsigned long long)c->requests, (unsigned long long)c->fallbacks,
               (unsigned long long)c->small_null, (unsigned long long)c->large_null,
               (unsigned long long)c->memalign_failures, (unsigned long long)c->realloc_failures,
               (unsigned long long)c->post_checks);
    }
    printf("  arena slots used %llu of %llu, %llu arenas committed at most\n", (unsigned long long)st.arenas_used_hwm,
           (unsigned long long)(st.reserved_bytes / st.arena_size), (unsigned long long)st.arenas_committed_hwm);
    if (st.arenas_used_hwm > st.arenas_committed_hwm + (uint64_t)nthreads + INJECTORS + 1)
        die("failed commits used up arena slots");
    printf("  0 faults\n");
    if (rounds[ROUTE_HOOK] && !total[ROUTE_HOOK].fallbacks)
        die("the commit hook never made a request fall back: the windows did not reach a commit");
    if (rounds[ROUTE_RLIMIT_SMALL] && !total[ROUTE_RLIMIT_SMALL].small_null)
        printf("  note: RLIMIT_DATA never made a small request fail (does the kernel ignore it?)\n");
    for (int i = 0; i < nthreads; i++)
        free(ts[i].win);
    free(ts);
    free(t);
    return 0;
}
