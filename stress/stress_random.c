/*
 * stress_random DURATION_S THREADS SEED
 *
 * Random sizes across small and large with mixed lifetimes. Each thread
 * works on its own slots and, 7/16 of the time, on a table shared by all
 * threads, so that about 30-50% of frees are done by a thread that did not
 * allocate the block. Every block carries a pattern derived from its
 * address, size and a tag; it is checked before every free. Prints the
 * allocation and free counts; exits 1 on any mismatch or lost block.
 */
#include "stress_util.h"

#define PRIVATE_SLOTS 4096
#define SHARED_SLOTS 16384

struct slot { void *p; uint64_t meta; }; /* meta = size << 16 | owner id << 8 | tag */
/* The shared table holds descriptors (themselves obmt blocks, freed by
 * whichever thread takes them), moved with atomic exchange and CAS. */
static struct slot **shared;
static double duration;
static uint64_t base_seed;
static uint64_t total_allocs, total_frees, cross_frees;

static size_t pick_size(uint64_t x)
{
    switch (x & 15) {
    case 0: /* large; one in 256 of them huge (1 to 8 MiB: a run of arenas), one in
             * 16 a large medium block (64 KiB to 1 MiB: a span of 2 to 32 pools) */
        if (((x >> 56) & 255) == 0)
            return ((size_t)1 << 20) + 1 + (x >> 8) % ((size_t)7 << 20);
        if (((x >> 52) & 15) == 0)
            return ((size_t)64 << 10) + (x >> 8) % ((size_t)960 << 10);
        return 513 + (x >> 8) % 64000;
    case 1: return (x >> 8) % 4;                /* tiny, incl. 0 */
    default: return 1 + (x >> 8) % 512;         /* small */
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = base_seed * 1000003 + (uint64_t)id;
    static __thread struct slot mine[PRIVATE_SLOTS];
    uint64_t allocs = 0, frees = 0, cross = 0;
    double end = now_s() + duration;
    while (now_s() < end) {
        for (int k = 0; k < 1000; k++) {
            uint64_t x = rng_next(&seed);
            if ((x >> 60) < 7) { /* 7/16: the shared table */
                size_t i = (x >> 20) % SHARED_SLOTS;
                struct slot *d = __atomic_exchange_n(&shared[i], NULL, __ATOMIC_ACQ_REL);
                if (d) {
                    block_check_free(d->p, d->meta >> 16, d->meta & 0xffff, "shared");
                    if ((int)(d->meta >> 8 & 0xff) != id)
                        cross += 2; /* the block and its descriptor */
                    obmt_free(d);
                    frees += 2;
                } else {
                    size_t n = pick_size(rng_next(&seed));
                    d = obmt_malloc(sizeof *d);
                    if (!d)
                        die("obmt_malloc returned NULL");
                    d->meta = (uint64_t)n << 16 | (uint64_t)(id & 0xff) << 8 | (x & 0xff);
                    d->p = block_alloc(n, d->meta & 0xffff);
                    allocs += 2;
                    struct slot *expected = NULL;
                    if (!__atomic_compare_exchange_n(&shared[i], &expected, d, 0, __ATOMIC_ACQ_REL,
                                                     __ATOMIC_RELAXED)) {
                        block_check_free(d->p, n, d->meta & 0xffff, "raced");
                        obmt_free(d);
                        frees += 2;
                    }
                }
            } else {
                size_t i = (x >> 20) % PRIVATE_SLOTS;
                if (mine[i].p) {
                    block_check_free(mine[i].p, mine[i].meta >> 16, mine[i].meta & 0xffff, "private");
                    frees++;
                    mine[i].p = NULL;
                } else {
                    size_t n = pick_size(rng_next(&seed));
                    mine[i].meta = (uint64_t)n << 16 | (uint64_t)(id & 0xff) << 8 | (x & 0xff);
                    mine[i].p = block_alloc(n, mine[i].meta & 0xffff);
                    allocs++;
                }
            }
        }
    }
    for (int i = 0; i < PRIVATE_SLOTS; i++)
        if (mine[i].p) {
            block_check_free(mine[i].p, mine[i].meta >> 16, mine[i].meta & 0xffff, "private");
            frees++;
        }
    __atomic_fetch_add(&total_allocs, allocs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&total_frees, frees, __ATOMIC_RELAXED);
    __atomic_fetch_add(&cross_frees, cross, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads;
    parse_args(argc, argv, &duration, &threads, &base_seed);
    shared = obmt_calloc(SHARED_SLOTS, sizeof *shared);
    if (!shared)
        die("no memory for the slot table");
    run_threads(threads, worker);
    for (int i = 0; i < SHARED_SLOTS; i++)
        if (shared[i]) {
            block_check_free(shared[i]->p, shared[i]->meta >> 16, shared[i]->meta & 0xffff, "shared");
            obmt_free(shared[i]);
            total_frees += 2;
        }
    obmt_free(shared);
    if (total_allocs != total_frees)
        die("allocations and frees do not match: a block was lost");
    printf("stress_random: %d threads, %.1f s, seed %llu: %llu allocations, %llu frees (%.0f%% by another thread), 0 faults\n",
           threads, duration, (unsigned long long)base_seed, (unsigned long long)total_allocs,
           (unsigned long long)total_frees, 100.0 * (double)cross_frees / (double)(total_frees ? total_frees : 1));
    return 0;
}
