/* glibc_init: under LD_PRELOAD of libobmt-override, glibc's own allocator
 * (which serves the requests obmt passes on: when memory runs out, and
 * pointers from before obmt started) must be set up by the time main()
 * runs. glibc sets it up lazily, in the process's first malloc-family
 * call, without a lock, relying on that call happening before a second
 * thread exists; under obmt that first call would be the first request
 * obmt passes on, from whatever thread makes it, so two threads could run
 * glibc's set-up at once (rptest aborted so when requests above 8 KiB
 * went to glibc: issue 13). obmt's start-up makes glibc set up first,
 * while it runs alone.
 *
 * mallinfo2() is glibc's, not obmt's: its `arena` (bytes glibc's main
 * arena got from the system) is 0 until glibc's allocator has been used. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    struct mallinfo2 mi = mallinfo2();
    if (mi.arena == 0) {
        fprintf(stderr, "glibc_init: FAIL: glibc's allocator not set up at main() (mallinfo2().arena == 0)\n");
        return 1;
    }
    void *p = malloc(1 << 20);
    if (!p)
        return 1;
    free(p);
    printf("glibc_init: glibc's allocator was set up before main() (arena %zu bytes)\n", mi.arena);
    return 0;
}
