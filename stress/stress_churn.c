/*
 * stress_churn DURATION_S THREADS SEED
 *
 * Thread churn with blocks that outlive their threads. 10,000 short-lived
 * threads (THREADS of them alive at once; a new one starts as soon as one
 * is joined) each take a few blocks out of a shared table and check and
 * free them, then allocate a random set of blocks of every kind (fine and
 * coarse classes, and requests above 8192 bytes that go to the underlying
 * allocator), put most of them in the table and free the rest, and exit.
 * So most blocks are freed by a later thread, or by the main thread, after
 * the thread whose pool holds them has exited: the abandon/adopt path.
 * The run lasts DURATION_S or until 10,000 threads have run, whichever is
 * later (STRESS_CHURN_THREADS=N in the environment lowers the count, for
 * slow sanitizer builds; 10,000 take about 7 s under ThreadSanitizer on a
 * 2-core machine). While it runs, the pools out of their arenas must stay
 * bounded by the blocks that can be live, not grow with the threads run.
 * At the end the main thread frees what is left and checks that
 * allocations and frees match, that no thread cache leaked (heaps_in_use
 * back to the main thread's one, no more caches ever created than threads
 * alive at once), and that every pool went back to its arena.
 */
#include "stress_util.h"

#include "tunables.h" /* the hysteresis counts the library was built with */

#define DEFAULT_TARGET 10000
#define TABLE 8192

struct desc { void *p; uint64_t meta; }; /* meta = size << 16 | tag */
static struct desc **table;              /* moved with atomic exchange */
static uint64_t base_seed;
static uint64_t total_allocs, total_frees;

/* Take the descriptor in slot i, if any, and check and free it. Returns the
 * number of frees (block and descriptor). */
static uint64_t take_free(size_t i, const char *where)
{
    struct desc *d = __atomic_exchange_n(&table[i], NULL, __ATOMIC_ACQ_REL);
    if (!d)
        return 0;
    block_check_free(d->p, d->meta >> 16, d->meta & 0xffff, where);
    obmt_free(d);
    return 2;
}

static void *worker(void *arg)
{
    uint64_t serial = (uint64_t)(uintptr_t)arg;
    uint64_t seed = base_seed * 1000003 + serial;
    uint64_t allocs = 0, frees = 0;
    for (int k = 0; k < 8; k++)
        frees += take_free(rng_next(&seed) % TABLE, "left by an earlier thread");
    enum { MAX_KEEP = 64 };
    struct desc keep[MAX_KEEP];
    int nkeep = 0;
    int n = 16 + (int)(rng_next(&seed) % 112);
    for (int k = 0; k < n; k++) {
        uint64_t x = rng_next(&seed);
        size_t size = pick_any_size(x);
        uint64_t tag = (serial + (uint64_t)k) & 0xffff;
        void *p = block_alloc(size, tag);
        allocs++;
        if ((x >> 60) < 2 && nkeep < MAX_KEEP) { /* 1/8: freed by this thread */
            keep[nkeep++] = (struct desc){ p, (uint64_t)size << 16 | tag };
            continue;
        }
        struct desc *d = obmt_malloc(sizeof *d);
        if (!d)
            die("obmt_malloc returned NULL");
        allocs++;
        d->p = p;
        d->meta = (uint64_t)size << 16 | tag;
        struct desc *old = __atomic_exchange_n(&table[(x >> 20) % TABLE], d, __ATOMIC_ACQ_REL);
        if (old) {
            block_check_free(old->p, old->meta >> 16, old->meta & 0xffff, "displaced");
            obmt_free(old);
            frees += 2;
        }
    }
    for (int k = nkeep - 1; k >= 0; k--)
        block_check_free(keep[k].p, keep[k].meta >> 16, keep[k].meta & 0xffff, "own");
    frees += (uint64_t)nkeep;
    __atomic_fetch_add(&total_allocs, allocs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&total_frees, frees, __ATOMIC_RELAXED);
    return NULL;
}

/* Finished threads announce their slot here; the main thread joins them. */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int *done_slots, ndone;

/* Pools out of their arenas must stay bounded by what can be live: at most
 * one pool per live block (the table's, and those of the threads alive),
 * plus, per thread cache, one kept pool per class and the cached empty
 * ones. Pools that stay out after their blocks were freed grow with the
 * number of threads run, not with the live blocks. */
static void check_pools_bounded(int threads, long joined)
{
    struct obmt_stats st = stats_now();
    uint64_t out = st.pools_taken - st.pools_given;
    uint64_t bound = 2 * TABLE + (uint64_t)(threads + 1) * (2 * 128 + 64 + OBMT_KEEP_EMPTY_POOLS);
    if (out > bound)
        dief("after %ld threads, %llu pools are out of their arenas (%llu arenas committed) for at most %llu "
             "live blocks: pools whose blocks were freed are not coming back",
             joined, (unsigned long long)out, (unsigned long long)st.arenas_committed,
             (unsigned long long)(2 * TABLE + (uint64_t)threads * 2 * 128));
}

struct start { uint64_t serial; int slot; };
static struct start *starts;

static void *thread_main(void *arg)
{
    struct start *s = arg;
    worker((void *)(uintptr_t)s->serial);
    pthread_mutex_lock(&done_lock);
    done_slots[ndone++] = s->slot;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}

int main(int argc, char **argv)
{
    double duration;
    int threads;
    parse_args(argc, argv, &duration, &threads, &base_seed);
    long target = DEFAULT_TARGET;
    const char *env = getenv("STRESS_CHURN_THREADS");
    if (env && *env) {
        target = atol(env);
        if (target < 1)
            die("STRESS_CHURN_THREADS must be at least 1");
    }
    table = obmt_calloc(TABLE, sizeof *table);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    done_slots = calloc((size_t)threads, sizeof *done_slots);
    starts = calloc((size_t)threads, sizeof *starts);
    if (!table || !tids || !done_slots || !starts)
        die("no memory for the tables");

    double t0 = now_s(), end = t0 + duration;
    uint64_t seed = base_seed, main_frees = 0;
    long spawned = 0, joined = 0;
    int alive = 0;
    for (int i = 0; i < threads; i++) {
        starts[i] = (struct start){ (uint64_t)spawned++, i };
        if (pthread_create(&tids[i], NULL, thread_main, &starts[i]) != 0)
            die("pthread_create");
        alive++;
    }
    while (alive > 0) {
        pthread_mutex_lock(&done_lock);
        while (ndone == 0)
            pthread_cond_wait(&done_cond, &done_lock);
        int slot = done_slots[--ndone];
        pthread_mutex_unlock(&done_lock);
        pthread_join(tids[slot], NULL);
        alive--;
        joined++;
        /* The main thread frees a few blocks of exited threads too. */
        for (int k = 0; k < 4; k++)
            main_frees += take_free(rng_next(&seed) % TABLE, "main");
        if (joined % 256 == 0)
            check_pools_bounded(threads, joined);
        if (spawned < target || now_s() < end) {
            starts[slot] = (struct start){ (uint64_t)spawned++, slot };
            if (pthread_create(&tids[slot], NULL, thread_main, &starts[slot]) != 0)
                die("pthread_create");
            alive++;
        }
    }
    double elapsed = now_s() - t0;
    for (size_t i = 0; i < TABLE; i++)
        main_frees += take_free(i, "left at the end");
    total_frees += main_frees;
    obmt_free(table);
    obmt_collect();

    if (total_allocs != total_frees)
        dief("allocations (%llu) and frees (%llu) do not match: a block was lost",
             (unsigned long long)total_allocs, (unsigned long long)total_frees);
    struct obmt_stats st = stats_now();
    /* Only the main thread still has a thread cache, and caches were
     * recycled: never more than the threads alive at once, plus main. */
    if (st.heaps_in_use > 1)
        dief("%llu thread caches still in use after %ld threads exited: a cache leaked per thread",
             (unsigned long long)st.heaps_in_use, joined);
    if (st.heaps_used_hwm > (uint64_t)threads + 1)
        dief("%llu thread caches created for %d threads alive at once", (unsigned long long)st.heaps_used_hwm,
             threads);
    /* Every block is freed and the main thread collected: every pool must be
     * back in its arena and every arena but the kept ones decommitted. */
    if (st.pools_taken != st.pools_given)
        dief("pools taken %llu, given back %llu: pools lost in abandoned threads",
             (unsigned long long)st.pools_taken, (unsigned long long)st.pools_given);
    if (st.arenas_committed > OBMT_KEEP_FREE_ARENAS)
        dief("%llu arenas still committed with every block freed", (unsigned long long)st.arenas_committed);
    printf("stress_churn: %ld threads (%d at once) in %.1f s, seed %llu: %llu allocations, %llu frees "
           "(%llu by the main thread), %llu pools adopted, %llu remote frees, thread caches %llu created / %llu in use, "
           "arenas peak %llu now %llu, 0 faults\n",
           joined, threads, elapsed, (unsigned long long)base_seed, (unsigned long long)total_allocs,
           (unsigned long long)total_frees, (unsigned long long)main_frees, (unsigned long long)st.pools_adopted,
           (unsigned long long)st.remote_frees, (unsigned long long)st.heaps_used_hwm,
           (unsigned long long)st.heaps_in_use, (unsigned long long)st.arenas_committed_hwm,
           (unsigned long long)st.arenas_committed);
    free(tids);
    free(done_slots);
    free(starts);
    return 0;
}
