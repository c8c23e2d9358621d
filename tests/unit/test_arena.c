/* Arenas: pools come from the arena with the fewest free pools (obmalloc's
 * usable_arenas order), a returned pool re-files its arena at once, a wholly
 * free arena is kept (hysteresis) and the next one is given back to the OS. */
#include "unit_util.h"

#include <stdio.h>

#include <sys/mman.h>

#define NP OBMT_POOLS_PER_ARENA

static size_t slot(pool_header *p) { return arena_slot_of((uintptr_t)pool_mem(p)); }
static void *pool_at_test(size_t s) { return (void *)(arena_base() + (s << OBMT_ARENA_SHIFT)); }


/* Pools out of one arena, as a stack. */
struct out { pool_header *p[NP]; unsigned n; };
static void take_into(struct out *o, pool_header *p) { o->p[o->n++] = p; }
static void give_from(struct out *o) { arena_give_pool(o->p[--o->n]); }

/* The permissions ("rw-p", "r--p", ...) of the mapping that holds addr. */
static void maps_perms(const void *addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[512];
    strcpy(perms, "none");
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char pr[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pr) == 3 && (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            memcpy(perms, pr, 5);
            break;
        }
    }
    fclose(f);
}

/* The system's Committed_AS in KiB (/proc/meminfo). */
static long committed_as_kib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    CHECK(f != NULL);
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Committed_AS: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

static int overcommit_mode(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int m = -1;
    if (f) {
        if (fscanf(f, "%d", &m) != 1)
            m = -1;
        fclose(f);
    }
    return m;
}

int main(void)
{
    CHECK(obmt_ensure_init());
    /* Purge delay 0: a wholly free arena beyond the kept one is decommitted
     * at once (test_purge covers the delay). */
    CHECK(obmt_option_set("purge_delay_ms", 0) == 0);
    static struct out A, B;
    for (unsigned i = 0; i < NP; i++)
        take_into(&A, arena_take_pool());
    for (unsigned i = 0; i < NP; i++)
        take_into(&B, arena_take_pool());
    size_t sa = slot(A.p[0]), sb = slot(B.p[0]);
    CHECK(sa != sb);
    for (unsigned i = 0; i < NP; i++) {
        CHECK(slot(A.p[i]) == sa && slot(B.p[i]) == sb);
        memset(pool_mem(A.p[i]), 1, OBMT_POOL_SIZE); /* make both arenas resident */
        memset(pool_mem(B.p[i]), 1, OBMT_POOL_SIZE);
    }
    struct obmt_arena_counts k;
    arena_counts(&k);
    CHECK(k.committed == 2 && k.free_pools == 0);

    /* A has 3 free pools, B has 10: new pools come from A, the fuller. */
    for (unsigned i = 0; i < 10; i++)
        give_from(&B);
    for (unsigned i = 0; i < 3; i++)
        give_from(&A);
    arena_counts(&k);
    CHECK(k.free_pools == 13);
    for (unsigned i = 0; i < 3; i++) {
        pool_header *p = arena_take_pool();
        CHECK_MSG(slot(p) == sa, "pool %u came from the emptier arena", i);
        take_into(&A, p);
    }
    /* A is full again: the next pool comes from B, its last freed pool. */
    pool_header *last_b = B.p[B.n];
    pool_header *p = arena_take_pool();
    CHECK(slot(p) == sb && p == last_b);
    take_into(&B, p);
    /* Re-filing is immediate: give 20 of A back; B (9 free) is now fuller. */
    for (unsigned i = 0; i < 20; i++)
        give_from(&A);
    p = arena_take_pool();
    CHECK(slot(p) == sb);
    take_into(&B, p);

    /* Empty A wholly: it is kept committed (hysteresis keeps one). */
    while (A.n)
        give_from(&A);
    arena_counts(&k);
    CHECK(k.committed == 2 && k.decommits == 0);
    CHECK(resident_pages(pool_at_test(sa), OBMT_ARENA_SIZE) > 0);

    /* Empty B wholly: A is already kept, so B goes back to the OS, with
     * its commit charge: its range is no longer writable (a writable private
     * range stays charged under vm.overcommit_memory=2 whatever
     * MADV_DONTNEED gives back), and it reads zeros. */
    char perms[5];
    maps_perms(pool_at_test(sb), perms);
    CHECK_MSG(perms[1] == 'w', "B in use: %s", perms);
    long commit_before = committed_as_kib();
    while (B.n)
        give_from(&B);
    arena_counts(&k);
    CHECK(k.committed == 1 && k.decommits == 1);
    CHECK(k.free_pools == NP); /* the kept arena; B's are decommitted */
    CHECK(resident_pages(pool_at_test(sb), OBMT_ARENA_SIZE) == 0);
    for (unsigned i = 0; i < NP; i++) {
        char *b = (char *)pool_at_test(sb) + ((size_t)i << OBMT_POOL_SHIFT);
        maps_perms(b, perms);
        if (window_on_demand()) { /* unmapped: its address space goes back too (window.c) */
            CHECK_MSG(strcmp(perms, "none") == 0, "decommitted arena, pool %u: %s (still mapped)", i, perms);
            CHECK(!obmt_owns(b));
            continue;
        }
        CHECK_MSG(perms[0] == 'r' && perms[1] == '-', "decommitted arena, pool %u: %s (still charged)", i, perms);
        CHECK(b[0] == 0 && b[OBMT_POOL_SIZE / 2] == 0);
    }
    if (overcommit_mode() == 2) {
        long drop = commit_before - committed_as_kib();
        CHECK_MSG(drop >= (long)(OBMT_ARENA_SIZE >> 10) / 2,
                  "overcommit 2: Committed_AS fell by %ld KiB when an arena was decommitted", drop);
        printf("overcommit 2: Committed_AS fell by %ld KiB\n", drop);
    }

    /* Taking pools again prefers the kept arena, then reuses B's slot
     * rather than a new one, committing it again. */
    for (unsigned i = 0; i < NP; i++)
        take_into(&A, arena_take_pool());
    for (unsigned i = 0; i < NP; i++)
        CHECK(slot(A.p[i]) == sa);
    p = arena_take_pool();
    CHECK(slot(p) == sb);
    arena_counts(&k);
    CHECK(k.committed == 2 && k.slots_used == 2);
    /* ... writable again, every pool of it, before any pool was handed out. */
    maps_perms(p, perms);
    CHECK_MSG(perms[1] == 'w', "recommitted arena: %s", perms);
    memset(pool_at_test(sb), 2, OBMT_ARENA_SIZE - OBMT_POOL_GUARD);
    CHECK_DONE("arena");
}
