/*
 * instr_count MODE SIZE N: the local fast path, for callgrind.
 *
 * Keeps 100 SIZE-byte blocks live (so no pool, page or span of that class
 * goes empty and the path measured is the steady local one; 100 is no
 * multiple of any class's blocks per pool, 64 was once obmt's pools became
 * all blocks: 64 blocks of 512 bytes filled one exactly), then does N
 * malloc/free pairs (LIFO) with callgrind collecting only inside the malloc
 * calls (MODE "malloc"), only inside the free calls (MODE "free"), or only
 * around an empty call through the same kind of pointer ("baseline", the
 * cost of the call and the loop). Run it as
 *   valgrind --tool=callgrind --collect-atstart=no instr_count malloc 64 100000
 * under LD_PRELOAD of the allocator to measure; instructions per call =
 * (Ir(mode) - Ir(baseline)) / N. bench/run.sh does this for every peer.
 *
 * MODE "remote": the remote free. Another thread allocates the blocks, in
 * rounds of at most 16 MiB, and stays alive (its pools stay its own); this
 * one frees each round in the order it was allocated, N frees in all,
 * collecting only inside the free calls. The baseline is the same empty
 * call.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

static void *volatile sink;
static __attribute__((noinline)) void *nothing(size_t n) { (void)n; return (void *)&sink; }

static void *(*volatile alloc)(size_t) = malloc; /* called through a pointer: no folding */
static void (*volatile release)(void *) = free;

/* The remote mode's two threads: the owner allocates a round of blocks
 * when asked (stage 1 -> 2) and stays alive between rounds (its pools stay
 * its own); stage 3 lets it exit. A round holds at most 16 MiB of blocks. */
struct remote_job {
    void **blocks;
    long k;      /* blocks in this round */
    size_t size;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stage;
};

static void *remote_owner(void *arg)
{
    struct remote_job *j = arg;
    pthread_mutex_lock(&j->lock);
    for (;;) {
        while (j->stage != 1 && j->stage != 3)
            pthread_cond_wait(&j->cond, &j->lock);
        if (j->stage == 3)
            break;
        for (long i = 0; i < j->k; i++)
            j->blocks[i] = alloc(j->size);
        j->stage = 2;
        pthread_cond_broadcast(&j->cond);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

static void remote_stage(struct remote_job *j, int to, int wait_for)
{
    pthread_mutex_lock(&j->lock);
    j->stage = to;
    pthread_cond_broadcast(&j->cond);
    while (wait_for && j->stage != wait_for)
        pthread_cond_wait(&j->cond, &j->lock);
    pthread_mutex_unlock(&j->lock);
}

static int remote(size_t size, long n)
{
    long round = (long)((16u << 20) / (size ? size : 1));
    if (round < 1)
        round = 1;
    if (round > n)
        round = n;
    struct remote_job j = { .size = size, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
    j.blocks = calloc((size_t)round, sizeof *j.blocks);
    pthread_t t;
    if (!j.blocks || pthread_create(&t, NULL, remote_owner, &j) != 0)
        return 1;
    for (long done = 0; done < n; done += j.k) {
        j.k = n - done < round ? n - done : round;
        remote_stage(&j, 1, 2); /* the owner allocates a round */
        for (long i = 0; i < j.k; i++) {
            void *p = j.blocks[i];
            CALLGRIND_TOGGLE_COLLECT;
            release(p);
            CALLGRIND_TOGGLE_COLLECT;
        }
    }
    remote_stage(&j, 3, 0);
    pthread_join(t, NULL);
    free(j.blocks);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s malloc|free|remote|baseline SIZE N\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    size_t size = (size_t)atol(argv[2]);
    long n = atol(argv[3]);
    if (strcmp(mode, "remote") == 0)
        return remote(size, n);
    void *(*volatile empty)(size_t) = nothing;
    void *warm[100];
    for (int i = 0; i < 100; i++)
        warm[i] = alloc(size);
    int m = strcmp(mode, "malloc") == 0, f = strcmp(mode, "free") == 0;
    for (long i = 0; i < n; i++) {
        if (m)
            CALLGRIND_TOGGLE_COLLECT;
        void *p = m || f ? alloc(size) : NULL;
        if (m)
            CALLGRIND_TOGGLE_COLLECT;
        if (!m && !f) {
            CALLGRIND_TOGGLE_COLLECT;
            sink = empty(size);
            CALLGRIND_TOGGLE_COLLECT;
        }
        if (f)
            CALLGRIND_TOGGLE_COLLECT;
        if (p)
            release(p);
        if (f)
            CALLGRIND_TOGGLE_COLLECT;
    }
    for (int i = 0; i < 100; i++)
        release(warm[i]);
    return 0;
}
