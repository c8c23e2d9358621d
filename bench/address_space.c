/*
 * address_space.c: what an allocator leaves of RLIMIT_AS to the program
 * (issue 11, docs/design.md section 1, "ownership test"). Run under a
 * limit (bench/address_space.sh sets `ulimit -v`); plain malloc and free,
 * so that it measures whichever allocator is preloaded. Prints one line of
 * key=value pairs:
 *   threads_low   threads created (of 8) after the limit is lowered to
 *                 200 MiB right after start-up (glibc's own thread tests
 *                 do this)
 *   vm_start      VmSize at start, MiB
 *   largest       the largest single malloc, MiB (binary search)
 *   reuse         after malloc and free of 80% of the limit, a block of
 *                 90% of it: 1 if it is served
 *   vm_after      VmSize after those blocks were freed, MiB
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void *touch(void *arg)
{
    (void)arg;
    void *p = malloc(1000);
    free(p);
    return NULL;
}

static size_t vm_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib >> 10;
}

static void soft_limit(rlim_t v)
{
    struct rlimit r;
    getrlimit(RLIMIT_AS, &r);
    r.rlim_cur = v;
    setrlimit(RLIMIT_AS, &r);
}

int main(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_AS, &r);
    if (r.rlim_cur == RLIM_INFINITY) {
        fprintf(stderr, "address_space: run it under a limit (ulimit -v)\n");
        return 2;
    }
    size_t limit = (size_t)r.rlim_cur, vm_start = vm_mib();
    soft_limit(200u << 20);
    int threads = 0;
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, touch, NULL) == 0) {
            pthread_join(t, NULL);
            threads++;
        }
    }
    soft_limit(limit);
    size_t lo = 0, hi = limit >> 20;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        void *p = malloc(mid << 20);
        if (p) {
            free(p);
            lo = mid;
        } else {
            hi = mid;
        }
    }
    void *a = malloc(limit / 10 * 8);
    if (a)
        memset(a, 1, 4096);
    free(a);
    void *b = malloc(limit / 10 * 9);
    int reuse = b != NULL;
    free(b);
    printf("threads_low=%d vm_start=%zu largest=%zu reuse=%d vm_after=%zu\n", threads, vm_start, lo, reuse, vm_mib());
    return 0;
}
