/*
 * stress_memreturn DURATION_S THREADS SEED
 *
 * Memory goes back to the OS after bursts. Repeatedly until DURATION_S,
 * THREADS long-lived threads each allocate BURST_MIB of blocks of the pool
 * classes (fine and coarse), free them (half their own, half a neighbour's:
 * cross-thread frees), and then each calls obmt_collect() twice, with a
 * barrier between: the first hands over the thread's batched remote frees,
 * the second takes back what the others handed over to its pools and gives
 * its empty pools, the kept ones too, back to their arenas. After every burst the main thread checks, against
 * the baseline taken before the first one:
 *  - obmt's statistics: every pool the burst took is back in its arena
 *    (pools taken - pools given as at the baseline), and arenas_committed
 *    is at most the baseline's plus OBMT_KEEP_FREE_ARENAS (the wholly free
 *    arenas kept committed as hysteresis, src/tunables.h);
 *  - RSS (/proc/self/statm): at most the baseline's plus RSS_SLACK_MIB plus
 *    the baseline's and the kept arenas (freed pools of an arena that stays
 *    committed may keep their pages). Under ThreadSanitizer those arenas
 *    count with their shadow and metadata (TSAN_BYTES_PER_BYTE): obmt
 *    decommits through mmap there, whose interceptor gives TSan's shadow of
 *    the range back too (src/os.c).
 * It prints the committed bytes, arenas and RSS before, at the peak and
 * after each burst, and fails if memory does not come back. Every block's
 * pattern is checked before it is freed.
 */
#include "stress_util.h"

#include <unistd.h>

#include "tunables.h" /* the hysteresis counts the library was built with */

#define BURST_MIB (UNDER_TSAN ? 8 : 32) /* per thread */
#define RSS_SLACK_MIB 8
/* Resident bytes per resident byte of the program under ThreadSanitizer: the
 * byte, up to 4 of shadow, half a byte of metadata, rounded up. */
#define TSAN_BYTES_PER_BYTE 6
#define MAX_BLOCKS ((size_t)BURST_MIB << 20 >> 4) /* all of the smallest class */

struct arr { void **p; uint32_t *n; size_t count; };
static struct arr *arrs; /* per thread; allocated before the baseline, reused */
static int nthreads;
static uint64_t base_seed;
static int stop;
static pthread_barrier_t barrier;
static uint64_t total_allocs, total_frees;

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = base_seed * 1000003 + (uint64_t)id;
    struct arr *mine = &arrs[id], *next = &arrs[(id + 1) % nthreads];
    uint64_t allocs = 0, frees = 0;
    for (uint64_t burst = 0;; burst++) {
        pthread_barrier_wait(&barrier); /* A: main took the baseline */
        if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
            break;
        uint64_t tag = (burst * 1024 + (uint64_t)id) & 0xffff;
        size_t bytes = 0;
        mine->count = 0;
        while (bytes < ((size_t)BURST_MIB << 20) && mine->count < MAX_BLOCKS) {
            uint64_t x = rng_next(&seed);
            /* Pool classes only: mostly fine, a quarter coarse. */
            size_t n = (x & 3) == 0 ? 513 + (x >> 8) % (8192 - 512) : 1 + (x >> 8) % 512;
            mine->p[mine->count] = block_alloc(n, tag);
            mine->n[mine->count++] = (uint32_t)n;
            bytes += n;
        }
        allocs += mine->count;
        pthread_barrier_wait(&barrier); /* B: all allocated; main measures the peak */
        pthread_barrier_wait(&barrier); /* C */
        /* Even-indexed blocks of our own, odd-indexed ones of the next thread. */
        for (size_t i = 0; i < mine->count; i += 2)
            block_check_free(mine->p[i], mine->n[i], tag, "own");
        uint64_t ntag = (burst * 1024 + (uint64_t)((id + 1) % nthreads)) & 0xffff;
        for (size_t i = 1; i < next->count; i += 2)
            block_check_free(next->p[i], next->n[i], ntag, "neighbour's");
        frees += (mine->count + 1) / 2 + next->count / 2;
        pthread_barrier_wait(&barrier); /* D: every block is freed */
        obmt_collect(); /* hand over this thread's remote-free batches */
        pthread_barrier_wait(&barrier); /* D2: every batch is handed over */
        obmt_collect(); /* take back the remote frees, give back empty pools */
        pthread_barrier_wait(&barrier); /* E: main measures what came back */
    }
    __atomic_fetch_add(&total_allocs, allocs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&total_frees, frees, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv)
{
    double duration;
    parse_args(argc, argv, &duration, &nthreads, &base_seed);
    arrs = obmt_calloc((size_t)nthreads, sizeof *arrs);
    if (!arrs)
        die("no memory");
    for (int i = 0; i < nthreads; i++) {
        arrs[i].p = obmt_malloc(MAX_BLOCKS * sizeof(void *));
        arrs[i].n = obmt_malloc(MAX_BLOCKS * sizeof(uint32_t));
        if (!arrs[i].p || !arrs[i].n)
            die("no memory for the block arrays");
        memset(arrs[i].p, 0, MAX_BLOCKS * sizeof(void *)); /* resident before the baseline */
        memset(arrs[i].n, 0, MAX_BLOCKS * sizeof(uint32_t));
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads + 1);
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0)
            die("pthread_create");
    obmt_collect();

    double end = now_s() + duration;
    struct obmt_stats first = stats_now(); /* the baseline */
    long first_rss = rss_kib();
    printf("baseline: committed %llu MiB (arenas %llu), RSS %ld MiB\n", (unsigned long long)(first.bytes_committed >> 20),
           (unsigned long long)first.arenas_committed, first_rss >> 10);
    int bursts = 0;
    uint64_t burst_bytes = (uint64_t)nthreads * BURST_MIB << 20;
    for (;; bursts++) {
        struct obmt_stats base = stats_now();
        long rss0 = rss_kib();
        if (bursts > 0 && now_s() >= end)
            __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        pthread_barrier_wait(&barrier); /* A */
        if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
            break;
        pthread_barrier_wait(&barrier); /* B */
        struct obmt_stats peak = stats_now();
        long rss_peak = rss_kib();
        pthread_barrier_wait(&barrier); /* C */
        pthread_barrier_wait(&barrier); /* D */
        pthread_barrier_wait(&barrier); /* D2 */
        pthread_barrier_wait(&barrier); /* E */
        struct obmt_stats after = stats_now();
        long rss_after = rss_kib();
        printf("burst %d: before -> peak -> after: committed %llu -> %llu -> %llu MiB (arenas %llu -> %llu -> %llu), "
               "RSS %ld -> %ld -> %ld MiB\n",
               bursts, (unsigned long long)(base.bytes_committed >> 20),
               (unsigned long long)(peak.bytes_committed >> 20), (unsigned long long)(after.bytes_committed >> 20),
               (unsigned long long)base.arenas_committed, (unsigned long long)peak.arenas_committed,
               (unsigned long long)after.arenas_committed, rss0 >> 10, rss_peak >> 10, rss_after >> 10);
        fflush(stdout);
        /* The burst really happened: its blocks were committed. */
        if (peak.bytes_committed < base.bytes_committed + burst_bytes / 2)
            dief("burst %d: committed only %llu MiB for %llu MiB of blocks", bursts,
                 (unsigned long long)(peak.bytes_committed >> 20), (unsigned long long)(burst_bytes >> 20));
        /* obmt's own books: every pool back in its arena, every arena the
         * burst committed back to the OS but the kept ones. */
        if (after.pools_taken - after.pools_given != first.pools_taken - first.pools_given)
            dief("burst %d: %llu pools out of their arenas after every block was freed and collected, %llu at "
                 "the baseline", bursts, (unsigned long long)(after.pools_taken - after.pools_given),
                 (unsigned long long)(first.pools_taken - first.pools_given));
        if (after.arenas_committed > first.arenas_committed + OBMT_KEEP_FREE_ARENAS)
            dief("burst %d: %llu arenas committed after it, %llu at the baseline: memory did not go back", bursts,
                 (unsigned long long)after.arenas_committed, (unsigned long long)first.arenas_committed);
        /* RSS: the baseline, plus the arenas that may stay resident (those
         * committed at the baseline and the kept ones), plus slack for the C
         * library and the kernel. */
        long kept_kib = (long)((first.arenas_committed + OBMT_KEEP_FREE_ARENAS) * (after.arena_size >> 10));
#if UNDER_TSAN
        kept_kib *= TSAN_BYTES_PER_BYTE;
#endif
        long bound = first_rss + (RSS_SLACK_MIB << 10) + kept_kib;
#if !UNDER_TSAN
        if (rss_peak - rss0 < (long)(burst_bytes >> 10) / 2)
            dief("burst %d: RSS grew by %ld KiB only for %llu MiB of blocks", bursts, rss_peak - rss0,
                 (unsigned long long)(burst_bytes >> 20));
#endif
        if (rss_after > bound)
            dief("burst %d: RSS %ld KiB after it, baseline %ld KiB, bound %ld KiB: memory did not go back",
                 bursts, rss_after, first_rss, bound);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    free(t);
    if (total_allocs != total_frees)
        dief("allocations (%llu) and frees (%llu) do not match: a block was lost",
             (unsigned long long)total_allocs, (unsigned long long)total_frees);
    struct obmt_stats st = stats_now();
    printf("stress_memreturn: %d threads, %.1f s, seed %llu: %d bursts of %llu MiB, %llu allocations, "
           "%llu frees, %llu arenas decommitted, 0 faults\n",
           nthreads, duration, (unsigned long long)base_seed, bursts, (unsigned long long)(burst_bytes >> 20),
           (unsigned long long)total_allocs, (unsigned long long)total_frees,
           (unsigned long long)st.arenas_decommitted);
    for (int i = 0; i < nthreads; i++) {
        obmt_free(arrs[i].p);
        obmt_free(arrs[i].n);
    }
    obmt_free(arrs);
    return 0;
}
