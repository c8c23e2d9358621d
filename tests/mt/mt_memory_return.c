/* Memory return: allocate 256 MiB in small blocks across several threads,
 * free it all (half by the owner, half by another thread), let the threads
 * exit, then check through obmt's statistics, the residency of obmt's own
 * arenas (mincore) and /proc/self/statm that the memory went back to the OS. */
#include "mt_util.h"

#include <sys/mman.h>

#define THREADS 4
#define TOTAL ((size_t)256 << 20)
#define BLOCK 256
#define PER_THREAD (TOTAL / THREADS / BLOCK)
#define DELAY_MS 100

static void **arrays[THREADS];
static pthread_barrier_t barrier;

static long statm_resident_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    long size, resident;
    CHECK(fscanf(f, "%ld %ld", &size, &resident) == 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Resident bytes inside obmt's arenas, found by walking the addresses that
 * obmt_owns, 1 MiB at a time, between the lowest and highest block seen. */
static uintptr_t lo = UINTPTR_MAX, hi;
static size_t arena_resident_bytes(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    unsigned char vec[256];
    for (uintptr_t a = lo & ~(uintptr_t)((1 << 20) - 1); a < hi; a += 1 << 20) {
        if (!obmt_owns((void *)a))
            continue;
        CHECK(mincore((void *)a, 1 << 20, vec) == 0);
        for (size_t i = 0; i < (1 << 20) / page; i++)
            n += (vec[i] & 1) * page;
    }
    return n;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    void **mine = obmt_malloc(PER_THREAD * sizeof(void *));
    CHECK(mine != NULL);
    arrays[id] = mine;
    for (size_t i = 0; i < PER_THREAD; i++) {
        mine[i] = obmt_malloc(BLOCK);
        CHECK(mine[i] != NULL);
        memset(mine[i], id + 1, BLOCK); /* touch: make it resident */
    }
    pthread_barrier_wait(&barrier); /* 1: all allocated */
    pthread_barrier_wait(&barrier); /* 2: main measured the peak */
    void **theirs = arrays[(id + 1) % THREADS];
    for (size_t i = 0; i < PER_THREAD / 2; i++)
        obmt_free(mine[i]);
    for (size_t i = PER_THREAD / 2; i < PER_THREAD; i++)
        obmt_free(theirs[i]);
    pthread_barrier_wait(&barrier); /* 3: all freed, before any thread exits */
    pthread_barrier_wait(&barrier); /* 4: nobody reads the arrays any more */
    obmt_free(mine);
    return NULL;
}

/* A thread that takes one pool and exits (giving it back). */
static void *poke(void *arg)
{
    obmt_free(obmt_malloc(3000));
    return arg;
}

int main(void)
{
    CHECK(obmt_option_set("OBMT_PURGE_DELAY_MS", DELAY_MS) == 0);
    long rss0 = statm_resident_kib();
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    pthread_barrier_wait(&barrier);
    for (int k = 0; k < THREADS; k++)
        for (size_t i = 0; i < PER_THREAD; i++) {
            uintptr_t a = (uintptr_t)arrays[k][i];
            if (a < lo)
                lo = a;
            if (a > hi)
                hi = a;
        }
    struct obmt_stats peak = stats_now();
    long rss_peak = statm_resident_kib();
    size_t arena_peak = arena_resident_bytes();
    CHECK_MSG(peak.bytes_committed >= TOTAL, "committed %llu", (unsigned long long)peak.bytes_committed);
    CHECK_MSG(arena_peak >= TOTAL, "resident in arenas %zu", arena_peak);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* The pages go back once their arenas have had no pool back for the
     * purge delay, at the next pool slow path: wait, then take one pool. */
    usleep(3 * DELAY_MS * 1000);
    pthread_t poker;
    CHECK(pthread_create(&poker, NULL, poke, NULL) == 0);
    pthread_join(poker, NULL);

    struct obmt_stats end = stats_now();
    long rss_end = statm_resident_kib();
    size_t arena_end = arena_resident_bytes();
    printf("memory_return: committed %llu MiB -> %llu MiB (%llu arenas decommitted), "
           "arena resident %zu MiB -> %zu MiB, RSS %ld MiB -> %ld MiB -> %ld MiB\n",
           (unsigned long long)(peak.bytes_committed >> 20), (unsigned long long)(end.bytes_committed >> 20),
           (unsigned long long)end.arenas_decommitted, arena_peak >> 20, arena_end >> 20,
           rss0 >> 10, rss_peak >> 10, rss_end >> 10);
    CHECK_MSG(end.arenas_committed <= 1, "arenas still committed: %llu", (unsigned long long)end.arenas_committed);
    CHECK(end.heaps_in_use == 0);
    CHECK_MSG(arena_end <= end.arenas_committed * end.arena_size, "resident in arenas after: %zu", arena_end);
#if !UNDER_TSAN
    /* Under ThreadSanitizer the process RSS includes TSan's shadow of the
     * 256 MiB, which TSan keeps; obmt's own arenas are checked above. */
    CHECK_MSG(rss_peak - rss0 >= (long)(TOTAL >> 10), "peak RSS grew by %ld KiB only", rss_peak - rss0);
    CHECK_MSG(rss_end - rss0 <= 16 * 1024, "RSS stayed %ld KiB above start", rss_end - rss0);
#endif
    CHECK_DONE("mt_memory_return");
}
