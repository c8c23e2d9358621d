/* A window larger than 64 GiB (window.c, tunables.h OBMT_RESERVE_SHIFT):
 * the per-slot tables are mapped at start-up for the window chosen, so
 * OBMT_RESERVE_MIB may ask for up to 1 TiB. Run with
 * OBMT_RESERVE_MIB=131072: obmt serves 72 GiB of 1 GiB blocks itself
 * (only their first and last pages are touched), passing nothing to the
 * underlying allocator; with the tables sized for 64 GiB, as they were,
 * the option was refused and the blocks past 64 GiB went to glibc. The
 * tables cost address space in proportion to the window (about 600 bytes
 * a 2 MiB slot), not memory. Not built under sanitizers (legacy mode
 * would reserve the whole window up front).
 *
 * unit_window_shrink runs it with OBMT_TEST_FAIL_TABLES=2 as well: the
 * tables' first two mappings fail (a commit limit), and init halves the
 * window twice (to 32 GiB) rather than give up; obmt serves. */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>

#define GIB ((size_t)1 << 30)
#define BLOCKS 72

int main(void)
{
    const char *want = getenv("OBMT_RESERVE_MIB");
    CHECK_MSG(want && strtoul(want, NULL, 10) == 131072, "run with OBMT_RESERVE_MIB=131072");
    void *warm = obmt_malloc(16); /* init */
    CHECK(warm && obmt_owns(warm));
    CHECK(window_on_demand());
    if (getenv("OBMT_TEST_FAIL_TABLES")) {
        CHECK_MSG(g_hot.reserved == 32 * GIB, "window %zu MiB after two refusals", (size_t)(g_hot.reserved >> 20));
        CHECK(option_get(OPT_RESERVE_MIB) == 32768);
        void *b = obmt_malloc(3 * GIB);
        CHECK(b && obmt_owns(b));
        obmt_free(b);
        obmt_free(warm);
        CHECK_DONE("window_shrink");
    }
    CHECK_MSG(g_hot.reserved == 128 * GIB, "window %zu MiB", (size_t)(g_hot.reserved >> 20));
    CHECK(option_get(OPT_RESERVE_MIB) == 131072);
    /* The tables for 65,536 slots: tens of MiB of address space. */
    size_t vm0 = vm_size_kib() << 10;
    CHECK_MSG(vm0 < 256 * ((size_t)1 << 20), "VmSize %zu MiB at start with a 128 GiB window", vm0 >> 20);

    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    uint64_t passed = st.large_allocs;
    static char *b[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        b[i] = obmt_malloc(GIB);
        CHECK_MSG(b[i] != NULL && obmt_owns(b[i]), "block %d (%zu GiB in all): %p", i, (size_t)i + 1, (void *)b[i]);
        b[i][0] = (char)i;
        b[i][GIB - 1] = (char)~i;
    }
    /* The last blocks lie past 64 GiB of the window. */
    char *top = b[0];
    for (int i = 1; i < BLOCKS; i++)
        if (b[i] > top)
            top = b[i];
    CHECK_MSG((uintptr_t)top - arena_base() >= 64 * GIB, "highest block at %zu GiB of the window",
              (size_t)(((uintptr_t)top - arena_base()) / GIB));
    for (int i = 0; i < BLOCKS; i++) {
        CHECK(b[i][0] == (char)i && b[i][GIB - 1] == (char)~i);
        CHECK(obmt_usable_size(b[i]) >= GIB);
    }
    CHECK(obmt_stats_get(&st) == 0);
    CHECK_MSG(st.large_allocs == passed, "%llu requests passed to the underlying allocator",
              (unsigned long long)(st.large_allocs - passed));
    for (int i = 0; i < BLOCKS; i++)
        obmt_free(b[i]);
    obmt_free(warm);
    obmt_collect();
    CHECK_DONE("window_large");
}
