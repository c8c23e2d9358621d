/*
 * large.c: requests above OBMT_SMALL_MAX, and pointers that are not obmt's,
 * go to the underlying allocator, as obmalloc hands them to the system
 * malloc. In libobmt (obmt_* only) that is the process's malloc; in
 * libobmt-override, which replaces malloc itself, it is glibc's allocator
 * reached through its __libc_* entry points.
 *
 * Whatever the underlying allocator returns lies outside obmt's reserved
 * range, so free/realloc/usable_size route such pointers back to it in O(1);
 * that also covers pointers allocated before obmt was loaded.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#ifdef OBMT_OVERRIDE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
#define UNDER_MALLOC   __libc_malloc
#define UNDER_CALLOC   __libc_calloc
#define UNDER_REALLOC  __libc_realloc
#define UNDER_MEMALIGN __libc_memalign
#define UNDER_FREE     __libc_free
#else
static void *under_memalign(size_t align, size_t n)
{
    void *p = NULL;
    int rc = posix_memalign(&p, align, n);
    if (rc) {
        errno = rc;
        return NULL;
    }
    return p;
}
#define UNDER_MALLOC   malloc
#define UNDER_CALLOC   calloc
#define UNDER_REALLOC  realloc
#define UNDER_MEMALIGN under_memalign
#define UNDER_FREE     free
#endif

static void count_large(void)
{
    struct heap *h = tls_heap;
    if (h != &heap_empty)
        obmt_count_add(&h->stats.large_allocs, 1);
}

void *large_malloc(size_t n)
{
    count_large();
    return UNDER_MALLOC(n);
}

void *large_calloc(size_t n, size_t size)
{
    count_large();
    return UNDER_CALLOC(n, size);
}

void *large_memalign(size_t align, size_t n)
{
    count_large();
    return UNDER_MEMALIGN(align, n);
}

/* A pointer in obmt's reservation that is not in a committed arena was never
 * handed out by anyone: say so rather than pass it to glibc. */
static void check_not_reserved(const void *p, const char *what)
{
    if (unlikely((uintptr_t)p - obmt_load_relaxed(&g_base) < obmt_load_relaxed(&g_reserved)))
        os_fatal(what, p, "inside obmt's reserved range but not in any arena");
}

void *large_realloc(void *p, size_t n)
{
    check_not_reserved(p, "realloc(): invalid pointer");
    return UNDER_REALLOC(p, n);
}

void large_free(void *p)
{
    check_not_reserved(p, "free(): invalid pointer");
    UNDER_FREE(p);
}

size_t large_usable_size(void *p)
{
    check_not_reserved(p, "malloc_usable_size(): invalid pointer");
#ifdef OBMT_OVERRIDE
    /* glibc has no __libc_ name for it: find the next definition once. This
     * runs after obmt is initialised, so if dlsym allocates, that is served. */
    static size_t (*under)(void *);
    size_t (*fn)(void *) = __atomic_load_n(&under, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        if (!fn)
            return 0;
        __atomic_store_n(&under, fn, __ATOMIC_RELEASE);
    }
    return fn(p);
#else
    return malloc_usable_size(p);
#endif
}
