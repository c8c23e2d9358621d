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
 * MODE "remote": the remote free. Another thread allocates N blocks and
 * waits (alive: its pools stay its own); this one frees them in the order
 * they were allocated, collecting only inside the free calls. The baseline
 * is the same empty call.
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

struct remote_job {
    void **blocks;
    long n;
    size_t size;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stage; /* 1: blocks allocated, 2: freed (the owner may exit) */
};

static void *remote_owner(void *arg)
{
    struct remote_job *j = arg;
    for (long i = 0; i < j->n; i++)
        j->blocks[i] = alloc(j->size);
    pthread_mutex_lock(&j->lock);
    j->stage = 1;
    pthread_cond_broadcast(&j->cond);
    while (j->stage != 2)
        pthread_cond_wait(&j->cond, &j->lock);
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

static int remote(size_t size, long n)
{
    struct remote_job j = { .n = n, .size = size, .lock = PTHREAD_MUTEX_INITIALIZER,
                            .cond = PTHREAD_COND_INITIALIZER };
    j.blocks = calloc((size_t)n, sizeof *j.blocks);
    pthread_t t;
    if (!j.blocks || pthread_create(&t, NULL, remote_owner, &j) != 0)
        return 1;
    pthread_mutex_lock(&j.lock);
    while (j.stage != 1)
        pthread_cond_wait(&j.cond, &j.lock);
    pthread_mutex_unlock(&j.lock);
    for (long i = 0; i < n; i++) {
        void *p = j.blocks[i];
        CALLGRIND_TOGGLE_COLLECT;
        release(p);
        CALLGRIND_TOGGLE_COLLECT;
    }
    pthread_mutex_lock(&j.lock);
    j.stage = 2;
    pthread_cond_broadcast(&j.cond);
    pthread_mutex_unlock(&j.lock);
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
