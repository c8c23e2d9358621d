/*
 * bench_memory: how much memory a burst costs, and how much of it the
 * allocator gives back.
 *
 *   memory_burst_local/threads:T   each thread mallocs its share of 64 MiB
 *                                  (requested bytes) in mixed small sizes,
 *                                  then all threads free their own blocks
 *   memory_burst_remote/threads:T  the same, but thread i frees the blocks of
 *                                  thread (i + 1) % T (same as local for T=1)
 *   memory_sized_local/SIZE/threads:T, memory_sized_remote/SIZE/threads:T
 *                                  the same with every block SIZE bytes
 *                                  (16 KiB .. 16 MiB: medium and huge
 *                                  blocks; at 16 MiB each thread holds at
 *                                  least one), every page of each written
 *                                  (as a buffer that is filled)
 *
 * Sizes: 60% 16..128, 30% 129..512, 10% 513..1024 bytes (about 215 bytes on
 * average, some 310,000 blocks per burst). Each block gets a tag in its
 * first word and a marker in its last byte, checked before free (mismatch
 * aborts). Phases are separated by a barrier: all allocate / thread 0
 * samples RSS / all free / all done. One iteration is one burst; the
 * benchmarks run a fixed 3 iterations (gb_iterations), on real time.
 *
 * Counters (not rates), set by thread 0 only:
 *   peak_rss_MiB   the resident set at the top of the burst: the larger of
 *                  RSS sampled from /proc/self/statm when every thread has
 *                  allocated, and VmHWM from /proc/self/status, reset to the
 *                  current RSS at the start of the run by writing 5 to
 *                  /proc/self/clear_refs (where the kernel allows it)
 *   final_rss_MiB  RSS from /proc/self/statm after the last burst is freed
 *                  (the burst's threads still alive)
 *   base_rss_MiB   RSS from /proc/self/statm at the start of the run
 *   maxrss_MiB     getrusage(RUSAGE_SELF).ru_maxrss: the high-water mark of
 *                  the whole process so far, earlier runs included
 * Earlier runs in the same process leave whatever the allocator kept in
 * base_rss_MiB; run one case per process (--benchmark_filter) for clean
 * numbers. The pointer arrays (about 2.5 MiB resident) are mmap'ed here,
 * outside the allocator, and are part of every RSS figure.
 * Items are allocations (each one malloc and one free).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define BENCH_NAME "bench_memory"
#include "bench_util.h"

#include "proc_rss.h"

#define MAXT BENCH_MAXT
#define BURST ((size_t)64 << 20)        /* requested bytes per burst */
#define CAP (BURST / 16)                /* most blocks one thread can hold */
#define ITERS 3
#define MAGIC 0x77aa55cc33ee11ddULL

static void **ptrs[MAXT];               /* each thread's blocks */
static size_t counts[MAXT];
static pthread_barrier_t barrier;
static pthread_once_t arrays_once = PTHREAD_ONCE_INIT;

static void arrays_init(void)
{
    for (int i = 0; i < MAXT; i++) {
        void *m = mmap(NULL, CAP * sizeof(void *), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            fault("mmap of the pointer arrays failed", NULL);
        ptrs[i] = m;
    }
}

static inline size_t rand_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    unsigned pick = (unsigned)(r % 10);
    r >>= 8;
    if (pick < 6)
        return 16 + (size_t)(r % 113);   /* 16..128 */
    if (pick < 9)
        return 129 + (size_t)(r % 384);  /* 129..512 */
    return 513 + (size_t)(r % 512);      /* 513..1024 */
}


static bool reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0)
        return false;
    bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

static void burst(gb_state *s, bool remote, size_t fixed)
{
    int t = gb_thread_index(s), n = gb_thread_count(s);
    size_t quota = BURST / (size_t)n;
    int64_t allocs = 0;
    double base = 0, peak = 0;
    bool hwm_ok = false;
    uint64_t rng = 0x9b05688c2b3e6c1fULL * (uint64_t)(t + 1);

    if (t == 0) {
        pthread_once(&arrays_once, arrays_init);
        if (pthread_barrier_init(&barrier, NULL, (unsigned)n) != 0)
            fault("pthread_barrier_init failed", NULL);
        hwm_ok = reset_hwm();
        base = rss_mib();
    }
    /* Thread 0 set up the arrays and the barrier before this first call;
     * Google Benchmark's own barrier is inside it. */
    while (gb_keep_running(s)) {
        void **mine = ptrs[t];
        size_t c = 0, bytes = 0;
        while (bytes < quota && c < CAP) {
            size_t sz = fixed ? fixed : rand_size(&rng);
            uint64_t *p = malloc(sz);
            if (!p)
                fault("malloc returned NULL", NULL);
            for (size_t off = 4096; off < sz; off += 4096)
                ((unsigned char *)p)[off] = 1; /* resident, as a filled buffer */
            p[0] = (uintptr_t)p ^ MAGIC;
            p[1] = sz;
            if (sz > 16) /* at 16 the last byte is in word 1 */
                ((unsigned char *)p)[sz - 1] = (unsigned char)sz;
            mine[c++] = p;
            bytes += sz;
        }
        counts[t] = c;
        allocs += (int64_t)c;
        pthread_barrier_wait(&barrier);
        if (t == 0) {
            double r = rss_mib();
            if (r > peak)
                peak = r;
        }
        pthread_barrier_wait(&barrier);
        int victim = remote ? (t + 1) % n : t;
        void **theirs = ptrs[victim];
        for (size_t i = 0, m = counts[victim]; i < m; i++) {
            uint64_t *p = theirs[i];
            size_t sz = (size_t)p[1];
            if (p[0] != ((uintptr_t)p ^ MAGIC) || sz < 16 || sz > (fixed ? fixed : 1024) ||
                (sz > 16 && ((unsigned char *)p)[sz - 1] != (unsigned char)sz))
                fault("block overwritten before free", p);
            free(p);
        }
        pthread_barrier_wait(&barrier); /* before anyone refills the arrays */
    }
    gb_set_items_processed(s, allocs);
    if (t == 0) {
        /* Past the last gb_keep_running (a barrier): every block is freed. */
        double final = rss_mib();
        if (hwm_ok) {
            double h = hwm_mib();
            if (h > peak)
                peak = h;
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        gb_counter(s, "peak_rss_MiB", peak, false);
        gb_counter(s, "final_rss_MiB", final, false);
        gb_counter(s, "base_rss_MiB", base, false);
        gb_counter(s, "maxrss_MiB", (double)ru.ru_maxrss / 1024.0, false);
        pthread_barrier_destroy(&barrier);
    }
}

static void bm_local(gb_state *s) { burst(s, false, 0); }
static void bm_remote(gb_state *s) { burst(s, true, 0); }
static void bm_sized_local(gb_state *s) { burst(s, false, (size_t)gb_range(s, 0)); }
static void bm_sized_remote(gb_state *s) { burst(s, true, (size_t)gb_range(s, 0)); }

static const int tdef[] = { 1, 2, 4, 8 };
static const int64_t sized[] = { 16384, 65536, 262144, 1048576, 16777216 };

int main(int argc, char **argv)
{
    struct { const char *name; gb_fn fn; } all[] = {
        { "memory_burst_local", bm_local }, { "memory_burst_remote", bm_remote },
    };
    size_t nthreads = sizeof tdef / sizeof tdef[0];
    const int *threads = bench_threads(tdef, &nthreads);
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        gb_bench *b = gb_register(all[k].name, all[k].fn);
        for (size_t i = 0; i < nthreads; i++)
            gb_threads(b, threads[i]);
        gb_iterations(b, ITERS);
        gb_real_time(b);
    }
    struct { const char *name; gb_fn fn; } by_size[] = {
        { "memory_sized_local", bm_sized_local }, { "memory_sized_remote", bm_sized_remote },
    };
    for (size_t k = 0; k < sizeof by_size / sizeof by_size[0]; k++) {
        gb_bench *b = gb_register(by_size[k].name, by_size[k].fn);
        for (size_t j = 0; j < sizeof sized / sizeof sized[0]; j++)
            gb_arg(b, sized[j]);
        for (size_t i = 0; i < nthreads; i++)
            gb_threads(b, threads[i]); /* Google Benchmark runs every size with every count */
        gb_iterations(b, ITERS);
        gb_real_time(b);
    }
    return gb_main(argc, argv);
}
