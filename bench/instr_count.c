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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

static void *volatile sink;
static __attribute__((noinline)) void *nothing(size_t n) { (void)n; return (void *)&sink; }

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s malloc|free|baseline SIZE N\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    size_t size = (size_t)atol(argv[2]);
    long n = atol(argv[3]);
    void *(*volatile alloc)(size_t) = malloc; /* called through a pointer: no folding */
    void (*volatile release)(void *) = free;
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
