/* RLIMIT_AS (window.c): obmt maps address space as it uses it, so a
 * program under an address-space limit keeps that limit for itself. The
 * test re-executes itself under a 1 GiB limit (obmt starts under it), then
 * lowers the limit to 200 MiB after start-up and creates threads (glibc's
 * own thread-failure tests do this), then raises it again and takes 80% of
 * the limit from obmt, one block of 800 MiB first. Run with
 * OBMT_RESERVE_EAGER=1 it fails (legacy mode takes half the limit).
 * Not built under sanitizers: their shadow memory needs more than the limit. */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define LIMIT ((size_t)1 << 30)

static size_t vm_size(void)
{
    return vm_size_kib() << 10;
}

static void set_soft_limit(size_t bytes)
{
    struct rlimit r;
    CHECK(getrlimit(RLIMIT_AS, &r) == 0);
    r.rlim_cur = bytes;
    CHECK(setrlimit(RLIMIT_AS, &r) == 0);
}

static void *thread_work(void *arg)
{
    (void)arg;
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = obmt_malloc(i % 8 == 0 ? 300000 : 100 + 50 * i);
        CHECK(p[i] != NULL && obmt_owns(p[i]));
    }
    for (int i = 0; i < 64; i++)
        obmt_free(p[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        struct rlimit r = { LIMIT, LIMIT };
        CHECK(setrlimit(RLIMIT_AS, &r) == 0);
        char *args[] = { argv[0], "under-limit", NULL };
        execv("/proc/self/exe", args);
        CHECK_MSG(0, "execv: %s", strerror(errno));
    }
    /* Started under the limit: the window is not reserved, and it is sized
     * by the limit (four times it: window_auto_size), so that its per-slot
     * tables take 0.1% of the limit, not the 18 MiB of a 64 GiB window. */
    CHECK(window_on_demand());
    CHECK_MSG(g_hot.reserved == 4 * LIMIT, "window %zu MiB under a %zu MiB limit", (size_t)(g_hot.reserved >> 20),
              LIMIT >> 20);
    size_t vm0 = vm_size();
    CHECK_MSG(vm0 < LIMIT / 16, "VmSize %zu MiB at start under a %zu MiB limit", vm0 >> 20, LIMIT >> 20);

    /* Lowered to 200 MiB after start-up: threads and their blocks. */
    set_soft_limit(200u << 20);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        CHECK_MSG(pthread_create(&t[i], NULL, thread_work, NULL) == 0, "thread %d under 200 MiB (VmSize %zu MiB)",
                  i, vm_size() >> 20);
    for (int i = 0; i < 8; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    set_soft_limit(LIMIT);

    /* A 1 GiB alignment: the slots skipped to reach it cost their
     *    headers' slices, not their memory. */
    size_t vm1 = vm_size();
    void *aligned = obmt_memalign((size_t)1 << 30, 4u << 20);
    CHECK_MSG(aligned != NULL && obmt_owns(aligned) && ((uintptr_t)aligned & ((1u << 30) - 1)) == 0,
              "memalign(1 GiB, 4 MiB) under a 1 GiB limit: %p", aligned);
    CHECK_MSG(vm_size() - vm1 < (64u << 20), "VmSize grew by %zu MiB for a 4 MiB block", (vm_size() - vm1) >> 20);
    obmt_free(aligned);

    /* One block of 800 MiB (the up-front reservation left 496 MiB). */
    char *big = obmt_malloc(800u << 20);
    CHECK_MSG(big != NULL && obmt_owns(big), "800 MiB under a 1 GiB limit: %p", (void *)big);
    big[0] = 1;
    big[(800u << 20) - 1] = 1;
    obmt_free(big);
    /* Then 900 MiB: the freed run, held for the purge delay, does not fit
     *    it, and its address space must go back first (a refused mapping
     *    forces a purge and one more try). */
    char *bigger = obmt_malloc(900u << 20);
    CHECK_MSG(bigger != NULL && obmt_owns(bigger), "900 MiB after 800 MiB freed: %p", (void *)bigger);
    bigger[(900u << 20) - 1] = 1;
    obmt_free(bigger);

    /* Given back, address space too: a limit lowered after the peak
     *    leaves room for threads again. */
    obmt_collect();
    size_t vm2 = vm_size();
    CHECK_MSG(vm2 < vm0 + (128u << 20), "VmSize %zu MiB after the 800 MiB block went back (start %zu MiB)",
              vm2 >> 20, vm0 >> 20);
    set_soft_limit(vm2 + (100u << 20));
    for (int i = 0; i < 8; i++)
        CHECK_MSG(pthread_create(&t[i], NULL, thread_work, NULL) == 0, "thread %d after the peak", i);
    for (int i = 0; i < 8; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    set_soft_limit(LIMIT);

    /* Blocks of 16 MiB until obmt says ENOMEM: at least 80% of the limit,
     * every one obmt's. */
    static void *blocks[64];
    size_t n = 0;
    while (n < 64 && (blocks[n] = obmt_malloc(16u << 20)) != NULL) {
        if (!obmt_owns(blocks[n])) { /* (the underlying allocator's, when obmt could not) */
            obmt_free(blocks[n]);
            break;
        }
        n++;
    }
    CHECK_MSG(n * (16u << 20) >= LIMIT / 10 * 8, "only %zu MiB from obmt under a 1 GiB limit", n * 16);
    for (size_t i = 0; i < n; i++)
        obmt_free(blocks[i]);
    CHECK_DONE("rlimit");
}
