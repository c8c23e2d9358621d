/* The address window (window.c): mapped slot by slot, not reserved up
 * front; somebody else's mapping inside it becomes a HOLE that obmt
 * allocates around and whose pointers go to the underlying allocator; a
 * block in a slot ready above a slower taker's gap is obmt's all the same.
 * Run a second time with OBMT_RESERVE_EAGER=1 (unit_window_eager): legacy
 * mode, the whole window reserved, the same behaviour otherwise. */
#include "unit_util.h"

#include <malloc.h>
#include <sys/sysinfo.h>
#include <stdio.h>
#include <stdlib.h>

static bool expect_on_demand(void)
{
    const char *eager = getenv("OBMT_RESERVE_EAGER");
#if defined(__SANITIZE_ADDRESS__) || OBMT_UNDER_TSAN
    return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
    return false;
#endif
#endif
    return !(eager && eager[0] == '1') && sysconf(_SC_PAGESIZE) <= 8192;
}

static char *slot_addr(size_t slot)
{
    return (char *)(arena_base() + (slot << OBMT_ARENA_SHIFT));
}

/* Somebody else's mapping over the next `n` fresh slots. */
static char *foreign_at_frontier(size_t n)
{
    char *at = slot_addr(arena_slots_used());
    char *q = mmap(at, n << OBMT_ARENA_SHIFT, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK_MSG(q == at, "mmap at %p: %p (%s)", (void *)at, (void *)q, strerror(errno));
    memset(q, 0x5a, n << OBMT_ARENA_SHIFT);
    return q;
}

static void append_text(const char *text, void *arg)
{
    size_t n = strlen(arg);
    snprintf((char *)arg + n, (1 << 16) - n, "%s", text);
}

static bool overlaps(const char *a, size_t na, const char *b, size_t nb)
{
    return a < b + nb && b < a + na;
}

static void child_contains(void *p)
{
    if (!arena_contains(p))
        _exit(3);
    void *q = obmt_malloc(100); /* the orphan slot is one to retry: a new arena may take it */
    _exit(q && obmt_owns(q) ? 0 : 4);
}

static void free_foreign(void *p)
{
    obmt_free(p);
}

static void realloc_foreign(void *p)
{
    obmt_realloc(p, 10);
}

static void usable_foreign(void *p)
{
    printf("%zu\n", obmt_usable_size(p));
}

int main(void)
{
    bool on_demand = window_on_demand();
    CHECK_MSG(on_demand == expect_on_demand(), "on demand %d, expected %d", on_demand, expect_on_demand());
    size_t window = g_hot.reserved;
    CHECK(window == (size_t)option_get(OPT_RESERVE_MIB) << 20);
    if (!getenv("OBMT_RESERVE_MIB")) {
        /* 0. The default size: on demand, from the machine (twice RAM and
         *    swap, a power of two, 64 GiB to 1 TiB; this test runs with no
         *    RLIMIT_AS); legacy mode, 64 GiB (halved if refused). */
        struct sysinfo si;
        CHECK(sysinfo(&si) == 0);
        uint64_t mem = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
        size_t lo = (size_t)1 << OBMT_RESERVE_AUTO_SHIFT, hi = (size_t)1 << OBMT_RESERVE_SHIFT;
        if (on_demand) {
            CHECK(window == window_auto_size());
            CHECK_MSG((window & (window - 1)) == 0 && window >= lo && window <= hi &&
                          (window >= 2 * mem || window == hi) && (window == lo || window / 2 < 2 * mem),
                      "window %zu MiB for %llu MiB of RAM and swap", window >> 20, (unsigned long long)(mem >> 20));
        } else {
            CHECK_MSG(window <= lo, "legacy window %zu MiB", window >> 20);
        }
    }

    /* 1. Address space: on demand, what is mapped is what is used (the
     *    BSS tables are a few tens of MiB); in legacy mode, the window. */
    size_t vm = vm_size_kib();
    if (on_demand)
        CHECK_MSG(vm < (256u << 10), "VmSize %zu KiB with a %zu MiB window", vm, window >> 20);
    else
        CHECK_MSG(vm > window >> 10, "VmSize %zu KiB, window %zu MiB reserved", vm, window >> 20);

    if (on_demand) {
        /* 2. A foreign mapping over the next fresh slot: a pool taker goes
         *    past it, the slot is a HOLE, its contents are untouched. */
        char *f1 = foreign_at_frontier(1);
        size_t holes0 = window_holes();
        pool_header *got[80];
        size_t n = 0;
        while (n < 80 && arena_slots_used() <= arena_slot_of((uintptr_t)f1) + 1)
            CHECK((got[n++] = arena_take_pool()) != NULL);
        for (size_t i = 0; i < n; i++)
            CHECK(!overlaps(pool_mem(got[i]), OBMT_POOL_SIZE, f1, OBMT_ARENA_SIZE));
        CHECK_MSG(window_holes() == holes0 + 1, "holes %zu -> %zu", holes0, window_holes());
        static char json[1 << 16];
        json[0] = 0;
        obmt_stats_json(append_text, json);
        CHECK_MSG(strstr(json, "\"window_on_demand\":1,\"window_holes\":1"), "%.300s", json);
        CHECK(window_slot_hole(arena_slot_of((uintptr_t)f1)));
        CHECK(f1[0] == 0x5a && f1[OBMT_ARENA_SIZE - 1] == 0x5a);
        CHECK(!obmt_owns(f1) && !obmt_owns(f1 + 100));
        CHECK(arena_contains(f1)); /* below committed_end: its headers are obmt's, and read zero */
        CHECK(pool_of(f1)->owner == NULL);
        for (size_t i = 0; i < n; i++) {
            got[i]->owner = NULL;
            arena_give_pool(got[i]);
        }

        /* 3. A huge run whose fresh slots meet a foreign mapping is looked
         *    for again past it. */
        char *f2 = foreign_at_frontier(2);
        char *big = obmt_malloc(3 << 20);
        CHECK(big != NULL && obmt_owns(big));
        CHECK(!overlaps(big, 3 << 20, f2, 2 << OBMT_ARENA_SHIFT));
        memset(big, 1, 3 << 20);
        CHECK(f2[0] == 0x5a && f2[(2 << OBMT_ARENA_SHIFT) - 1] == 0x5a);
        CHECK(window_holes() == holes0 + 3);

        /* 4. Pointers into a HOLE are somebody else's: free passes them to
         *    the underlying allocator (glibc's own check, not obmt's). */
        char msg[512];
        int st = run_in_child((void (*)(void *))free_foreign, f1 + 4096, msg, sizeof msg);
        CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d: %s", st, msg);
        CHECK_MSG(strstr(msg, "invalid pointer") && !strstr(msg, "obmt"), "not glibc's refusal: %s", msg);
        st = run_in_child((void (*)(void *))realloc_foreign, f1 + 4096, msg, sizeof msg);
        CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d: %s", st, msg);
        CHECK_MSG(strstr(msg, "invalid pointer") && !strstr(msg, "obmt"), "not glibc's refusal: %s", msg);
        obmt_free(big);
        munmap(f1, OBMT_ARENA_SIZE);
        munmap(f2, 2 << OBMT_ARENA_SHIFT);
    }

    /* 5. A stalled slot taker: blocks in slots above its gap are handed out
     *    and are obmt's although committed_end has not reached them. */
    size_t stalled = arena_test_stall_slot();
    size_t end0 = g_hot.committed_end;
    CHECK(end0 <= stalled << OBMT_ARENA_SHIFT);
    char *above = obmt_malloc(5 << 20);
    CHECK(above != NULL);
    CHECK(arena_slot_of((uintptr_t)above) > stalled);
    CHECK(!arena_contains(above)); /* the fast test says no ... */
    CHECK(obmt_owns(above));       /* ... and the window says yes */
    CHECK(obmt_usable_size(above) >= (5u << 20));
    memset(above, 7, 5 << 20);
    char *grown = obmt_realloc(above, 6 << 20);
    CHECK(grown != NULL && obmt_owns(grown) && grown[0] == 7 && grown[(5 << 20) - 1] == 7);
    /* A fork while the taker is stalled: in the child its thread is gone,
     *    and the child's fork handler maps the orphan slot's headers, so
     *    that committed_end passes it there. */
    char msg3[256];
    int st3 = run_in_child(child_contains, grown, msg3, sizeof msg3);
    CHECK_MSG(WIFEXITED(st3) && WEXITSTATUS(st3) == 0, "child: status %d: %s", st3, msg3);
    CHECK(!arena_contains(grown)); /* (the parent's taker is only stalled) */
    obmt_free(grown);
    arena_test_unstall_slot(stalled);
    CHECK_MSG(g_hot.committed_end >= (arena_slot_of((uintptr_t)grown) + 1) << OBMT_ARENA_SHIFT,
              "committed_end %zx", g_hot.committed_end);
    CHECK(arena_contains(grown));
    void *small = obmt_malloc(100);
    CHECK(small != NULL && obmt_owns(small));
    obmt_free(small);

    /* 6. A wild pointer in the window where nothing is mapped is refused
     *    by obmt with its message (in both modes). */
    char msg2[512];
    int st2 = run_in_child((void (*)(void *))free_foreign, slot_addr(window / OBMT_ARENA_SIZE - 1), msg2, sizeof msg2);
    CHECK_MSG(WIFSIGNALED(st2) && WTERMSIG(st2) == SIGABRT, "status %d", st2);
    CHECK_MSG(strstr(msg2, "reserved range"), "message: %s", msg2);

    void *libc = malloc(10);
    CHECK(!obmt_owns(libc));
    free(libc);

    /* 6b. A block whose arena the purge gave back (on demand: unmapped) is
     *     freed, reallocated or sized again: obmt's double-free abort. */
    {
        long keep = 0;
        CHECK(obmt_option_get("keep_free_arenas", &keep) == 0 && obmt_option_set("keep_free_arenas", 0) == 0);
        char *gone = obmt_malloc(5 << 20);
        CHECK(gone != NULL);
        gone[0] = 1;
        obmt_free(gone);
        obmt_collect();
        CHECK(!obmt_owns(gone) || !on_demand);
        void (*again[3])(void *) = { free_foreign, realloc_foreign, usable_foreign };
        for (int i = 0; i < 3; i++) {
            char m[512];
            int st = run_in_child(again[i], gone, m, sizeof m);
            CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%d: status %d: %s", i, st, m);
            CHECK_MSG(strstr(m, "obmt") && strstr(m, "its pool is free"), "%d: %s", i, m);
        }
        CHECK(obmt_option_set("keep_free_arenas", keep) == 0);
    }

    /* 7. The probe that picks legacy mode on a kernel that takes
     *    MAP_FIXED_NOREPLACE for a hint (before 4.17). */
    if (on_demand) {
        CHECK(window_noreplace_works());
        os_noreplace_ignored = 1;
        CHECK(!window_noreplace_works());
        os_noreplace_ignored = 0;
    }

    /* 8. Last (committed_end stops below it for good): a foreign mapping
     *    over the next slot's headers. That slot is a HOLE, and obmt goes
     *    on with the next ones: every block is still obmt's. */
    if (on_demand) {
        size_t next = arena_slots_used();
        char *slice = (char *)(g_hot.meta + next * ((size_t)OBMT_POOLS_PER_ARENA << OBMT_HEADER_SHIFT));
        void *q = mmap(slice, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        CHECK(q == slice);
        size_t holes = window_holes();
        static void *blocks[4096];
        for (int i = 0; i < 4096; i++) {
            blocks[i] = obmt_malloc(i % 64 == 0 ? 200000 : 2000);
            CHECK(blocks[i] != NULL && obmt_owns(blocks[i]));
        }
        CHECK(arena_slots_used() > next + 1);
        CHECK(window_slot_hole(next) && window_holes() == holes + 1);
        CHECK(g_hot.committed_end <= next << OBMT_ARENA_SHIFT);
        for (int i = 0; i < 4096; i++)
            obmt_free(blocks[i]);
    }
    CHECK_DONE("window");
}
