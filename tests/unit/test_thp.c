/* Huge pages for runs (arena.c, "huge pages for runs"): the kernel's mode is
 * read as the files say; a huge block's run is advised for transparent huge
 * pages where the mode is "madvise" and OBMT_HUGE_PAGES is 1, and not
 * otherwise; an advised arena loses the advice when it starts serving
 * pools, and the purge gives pages of it back; and a run that faults arenas in first gives
 * back the resident wholly free arenas beyond the slack, only where faults
 * are cheap (huge pages in effect). What the kernel records is read back
 * from /proc/self/smaps (VmFlags: hg advised, nh advice withdrawn). */
#include "unit_util.h"

#include <stdio.h>
#include <string.h>

#define MIB ((size_t)1 << 20)
#define ARENA OBMT_ARENA_SIZE

static size_t req_of(size_t k) { return k * ARENA - OBMT_POOL_GUARD - 4096; }

/* The mode as the files name it, read here independently. */
static void read_file(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, (int)cap, f))
            buf[0] = 0;
        fclose(f);
    }
}
static enum os_thp mode_of(const char *buf)
{
    return strstr(buf, "[always]") ? OS_THP_ALWAYS : strstr(buf, "[madvise]") ? OS_THP_MADVISE : OS_THP_NEVER;
}
static enum os_thp mode_from_file(void)
{
    char buf[128];
    read_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof buf);
    if (strtoul(buf, NULL, 10) != ARENA)
        return OS_THP_NEVER;
    read_file("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled", buf, sizeof buf);
    if (buf[0] && !strstr(buf, "[inherit]"))
        return mode_of(buf);
    read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf);
    return mode_of(buf);
}

/* The VmFlags of the mapping that holds p, in out (empty if none). */
static void vmflags_at(const void *p, char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f != NULL);
    char line[512];
    bool in = false;
    out[0] = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char c;
        if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(out, cap, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

static bool has_flag(const void *p, const char *flag)
{
    char flags[256], want[8];
    vmflags_at(p, flags, sizeof flags);
    snprintf(want, sizeof want, " %s", flag);
    return strstr(flags, want) != NULL;
}

static size_t decommits(void)
{
    struct obmt_arena_counts c;
    arena_counts(&c);
    return c.decommits;
}

static size_t committed(void)
{
    struct obmt_arena_counts c;
    arena_counts(&c);
    return c.committed;
}

int main(void)
{
    CHECK(obmt_ensure_init());
    obmt_free(obmt_malloc(16));
    CHECK(obmt_option_set("purge_delay_ms", 3600 * 1000) == 0); /* no purge but the test's */
    CHECK(obmt_option_set("keep_free_arenas", 0) == 0);          /* no arena kept back from the release */

    /* 1. The mode, as the file says. */
    enum os_thp mode = os_thp_mode();
    CHECK_MSG(mode == mode_from_file(), "mode %d, the file says %d", (int)mode, (int)mode_from_file());
    printf("transparent huge pages: %s\n", mode == OS_THP_ALWAYS ? "always" : mode == OS_THP_MADVISE ? "madvise" : "never");

    /* 2. A fresh run is advised where the mode is madvise and the option
     *    on; with the option off, or in another mode, it is not. */
    unit_hold_free_arenas();
    unsigned char *a = obmt_malloc(req_of(3));
    CHECK(a != NULL && ((uintptr_t)a & (ARENA - 1)) == 0);
    CHECK_MSG(has_flag(a, "hg") == (mode == OS_THP_MADVISE) && has_flag(a + 2 * ARENA, "hg") == (mode == OS_THP_MADVISE),
              "a fresh run's advice: %d", (int)has_flag(a, "hg"));
    CHECK(obmt_option_set("huge_pages", 0) == 0);
    unsigned char *b = obmt_malloc(req_of(2));
    CHECK(b != NULL && !has_flag(b, "hg"));
    obmt_free(b);
    CHECK(obmt_option_set("huge_pages", 1) == 0);

    /* 3. The advice stays with the run's arenas through the cache and back
     *    to the arenas; once one of them serves pools and the purge gives
     *    pages of it back, it is withdrawn (nh), from that arena only. */
    memset(a, 0x5a, req_of(3));
    obmt_free(a);
    unit_huge_caches_empty();
    CHECK(has_flag(a, "hg") == (mode == OS_THP_MADVISE));
    pool_header *taken[4096];
    size_t ntaken = 0;
    bool in_a = false;
    while (!in_a) { /* pools from the fullest arena first: the held ones are full, so a's come */
        CHECK(ntaken < 4096);
        pool_header *tp = arena_take_pool();
        CHECK(tp != NULL);
        taken[ntaken++] = tp;
        in_a = (unsigned char *)pool_mem(tp) >= a && (unsigned char *)pool_mem(tp) < a + 3 * ARENA;
    }
    unsigned char *pa = (unsigned char *)pool_mem(taken[ntaken - 1]);
    /* Its first pool out withdrew the arena's advice: its pools fault in
     * 4 KiB at a time from now on. */
    CHECK_MSG(!has_flag(pa, "hg"), "an arena serving pools is still advised");
    if (mode == OS_THP_MADVISE)
        CHECK(has_flag(pa, "nh"));
    unsigned char *arena_a = a + (size_t)(pa - a) / ARENA * ARENA; /* the arena the pool is in */
    obmt_collect(); /* purges that arena's free pools (the taken one keeps it from being decommitted whole) */
    CHECK_MSG(!has_flag(arena_a, "hg"), "the advice stayed on an arena whose pools were purged");
    CHECK(resident_pages(arena_a, ARENA) <= OBMT_POOL_SIZE / 4096);
    if (mode == OS_THP_MADVISE) /* (at the pool still taken: under TSan the purged ones are new mappings) */
        CHECK_MSG(has_flag(pa, "nh"), "the advice was not withdrawn");
    while (ntaken)
        arena_give_pool(taken[--ntaken]);
    unit_release_held();
    obmt_collect();

    /* 4. A run that faults arenas in (fresh ones from the frontier, or a
     *    decommitted free run) first gives back the resident wholly free
     *    arenas beyond the slack, as many as it faults in, where faults
     *    are cheap; nowhere else. Eight resident free arenas (a freed run,
     *    the cache emptied), the other free arenas held; then a run of
     *    twelve that cannot fit in them. */
    for (int pass = 0; pass < 4; pass++) {
        bool advise = pass % 2 == 0, from_decommitted = pass >= 2;
        bool cheap = mode == OS_THP_ALWAYS || (mode == OS_THP_MADVISE && advise);
        CHECK(obmt_option_set("huge_pages", advise) == 0);
        unit_hold_free_arenas();
        unsigned char *d12 = NULL, *sep = NULL;
        if (from_decommitted) { /* twelve decommitted free arenas, a held one after them */
            d12 = obmt_malloc(req_of(12));
            sep = obmt_malloc(req_of(1));
            CHECK(d12 != NULL && sep == d12 + 12 * ARENA);
        }
        unsigned char *r8 = obmt_malloc(req_of(8));
        CHECK(r8 != NULL);
        memset(r8, 1, req_of(8));
        if (from_decommitted) {
            obmt_free(d12);
            unit_huge_caches_empty();
            obmt_collect(); /* d12's arenas decommitted; r8 still live */
        }
        obmt_free(r8);
        unit_huge_caches_empty(); /* eight resident wholly free arenas, none kept */
        size_t d0 = decommits(), c0 = committed();
        unsigned char *r12 = obmt_malloc(req_of(12));
        CHECK(r12 != NULL && (r12 >= r8 + 8 * ARENA || r12 + 12 * ARENA <= r8));
        CHECK(!from_decommitted || r12 == d12);
        size_t slack = (c0 + 12) / OBMT_RUN_RESIDENT_SLACK;
        size_t want = !cheap || 8 <= slack ? 0 : 8 - slack < 12 ? 8 - slack : 12;
        CHECK_MSG(decommits() - d0 == want, "pass %d: %zu arenas given back, %zu expected (committed %zu)", pass,
                  decommits() - d0, want, c0);
        CHECK(committed() == c0 + 12 - want);
        if (want)
            CHECK(resident_pages(r8, 8 * ARENA) <= 512 * (8 - want)); /* (the pages went) */
        obmt_free(r12);
        if (sep)
            obmt_free(sep);
        unit_huge_caches_empty();
        unit_release_held();
        obmt_collect();
        unit_check_reconciles();
    }
    CHECK(obmt_option_set("huge_pages", 1) == 0);
    printf("unit_thp: ok\n");
    return 0;
}
