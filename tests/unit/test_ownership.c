/* Ownership: obmt_owns and free decide from the address alone whether a
 * pointer is obmt's, and route everything else to the underlying allocator. */
#include "unit_util.h"

#include <malloc.h>

static void free_wild_in_range(void *unused)
{
    /* Past every committed arena but inside the reservation. */
    obmt_free((void *)(arena_base() + g_hot.reserved - 4096));
}

int main(void)
{
    void *small = obmt_malloc(100);
    void *medium = obmt_malloc(100000);
    void *libc = malloc(100); /* glibc: the test does not override malloc */
    int on_stack;
    CHECK(obmt_owns(small) == 1);
    CHECK(obmt_owns(medium) == 1); /* every size is obmt's (span.c, huge.c) */
    CHECK(obmt_owns(libc) == 0);
    CHECK(obmt_owns(&on_stack) == 0);
    CHECK(obmt_owns(NULL) == 0);
    CHECK(obmt_owns((char *)small + 1) == 1); /* inside obmt memory */
    /* Pointers that are not obmt's go to the underlying allocator. */
    CHECK(obmt_usable_size(libc) == malloc_usable_size(libc));
    CHECK(obmt_usable_size(medium) >= 100000 && obmt_usable_size(medium) <= 125000);
    CHECK(obmt_usable_size(small) == 112);
    void *moved = obmt_realloc(libc, 64); /* into a pool */
    CHECK(obmt_owns(moved));
    obmt_free(moved);
    obmt_free(medium);
    obmt_free(small);
    void *libc2 = malloc(10);
    obmt_free(libc2); /* glibc's block, freed through obmt */

    char msg[512];
    int st = run_in_child(free_wild_in_range, NULL, msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d", st);
    CHECK_MSG(strstr(msg, "reserved range"), "message: %s", msg);
    CHECK_DONE("ownership");
}
