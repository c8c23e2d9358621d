/*
 * stress_pingpong DURATION_S THREADS SEED
 *
 * The malloc/free pattern that moves a pool in and out of a thread cache:
 * each thread repeatedly allocates exactly enough blocks of one class to
 * fill its current pool and spill one block into the next, frees them in a
 * random order (so the pools empty, refill, go FULL and come back), and
 * every fourth round hands its batch to the next thread to free instead,
 * so that full pools are handed back by remote frees. The class changes
 * every round. Every block's pattern is checked before it is freed.
 */
#include "stress_util.h"

#define MAX_BATCH 4096

struct batch {
    void *p[MAX_BATCH];
    size_t n, size;
    uint64_t tag;
};

static double duration;
static uint64_t base_seed;
static int nthreads;
static struct batch **mailbox; /* one slot per thread: a batch to free, or NULL */
static uint64_t total_allocs, total_frees;

static void free_batch(struct batch *b, uint64_t *seed)
{
    for (size_t i = b->n; i > 1; i--) { /* shuffle, then free in that order */
        size_t j = rng_next(seed) % i;
        void *t = b->p[i - 1];
        b->p[i - 1] = b->p[j];
        b->p[j] = t;
    }
    for (size_t i = 0; i < b->n; i++)
        block_check_free(b->p[i], b->size, b->tag, "pingpong");
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t seed = base_seed * 7919 + (uint64_t)id;
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    obmt_stats_get(&st);
    struct batch *b = obmt_malloc(sizeof *b);
    if (!b)
        die("no memory for a batch");
    uint64_t allocs = 0, frees = 0, round = 0;
    double end = now_s() + duration;
    while (now_s() < end) {
        size_t size = 16 + 16 * (rng_next(&seed) % 64); /* 16..1024 */
        b->size = size;
        b->tag = round & 0xffff;
        b->n = 0;
        b->p[b->n++] = block_alloc(size, b->tag);
        /* A pool's worth of blocks of this class, plus one into the next pool. */
        size_t per_pool = 0, usable = obmt_usable_size(b->p[0]);
        for (uint32_t c = 0; c < st.nclasses && !per_pool; c++)
            if (st.classes[c].block_size == usable)
                per_pool = st.classes[c].blocks_per_pool;
        size_t want = per_pool + 1 < MAX_BATCH ? per_pool + 1 : MAX_BATCH;
        while (b->n < want)
            b->p[b->n++] = block_alloc(size, b->tag);
        allocs += b->n;
        if (round % 4 == 3 && nthreads > 1) {
            /* Hand the batch over; take whatever was handed to us. */
            int to = (id + 1) % nthreads;
            struct batch *fresh = obmt_malloc(sizeof *fresh);
            if (!fresh)
                die("no memory for a batch");
            struct batch *prev = __atomic_exchange_n(&mailbox[to], b, __ATOMIC_ACQ_REL);
            b = fresh;
            if (prev) {
                free_batch(prev, &seed);
                frees += prev->n;
                obmt_free(prev);
            }
            struct batch *mine = __atomic_exchange_n(&mailbox[id], NULL, __ATOMIC_ACQ_REL);
            if (mine) {
                free_batch(mine, &seed);
                frees += mine->n;
                obmt_free(mine);
            }
        } else {
            free_batch(b, &seed);
            frees += b->n;
        }
        round++;
    }
    obmt_free(b);
    __atomic_fetch_add(&total_allocs, allocs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&total_frees, frees, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv, &duration, &nthreads, &base_seed);
    mailbox = obmt_calloc((size_t)nthreads, sizeof *mailbox);
    if (!mailbox)
        die("no memory for the mailboxes");
    run_threads(nthreads, worker);
    uint64_t seed = base_seed;
    for (int i = 0; i < nthreads; i++)
        if (mailbox[i]) {
            free_batch(mailbox[i], &seed);
            total_frees += mailbox[i]->n;
            obmt_free(mailbox[i]);
        }
    obmt_free(mailbox);
    if (total_allocs != total_frees)
        die("allocations and frees do not match: a block was lost");
    printf("stress_pingpong: %d threads, %.1f s, seed %llu: %llu allocations, %llu frees, 0 faults\n", nthreads,
           duration, (unsigned long long)base_seed, (unsigned long long)total_allocs,
           (unsigned long long)total_frees);
    return 0;
}
