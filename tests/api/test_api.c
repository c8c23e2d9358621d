/*
 * API tests for every exported allocation function. Built twice:
 *  - api_direct: calls obmt_* through libobmt;
 *  - api_preload: calls the standard names and runs under LD_PRELOAD of
 *    libobmt-override (not in sanitizer builds, where the sanitizer owns
 *    malloc); it checks through obmt_owns, found with dlsym, that obmt
 *    really served it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "obmt.h" /* struct obmt_stats; the preload build finds the functions with dlsym */

#ifdef API_VIA_STANDARD_NAMES
#define M_MALLOC malloc
#define M_FREE free
#define M_CALLOC calloc
#define M_REALLOC realloc
#define M_REALLOCARRAY reallocarray
#define M_POSIX_MEMALIGN posix_memalign
#define M_ALIGNED_ALLOC aligned_alloc
#define M_MEMALIGN memalign
#define M_VALLOC valloc
#define M_PVALLOC pvalloc
#define M_USABLE malloc_usable_size
static int (*owns)(const void *);
static int (*stats_get)(struct obmt_stats *);
#define TEST_NAME "api_preload"
#else
#define M_MALLOC obmt_malloc
#define M_FREE obmt_free
#define M_CALLOC obmt_calloc
#define M_REALLOC obmt_realloc
#define M_REALLOCARRAY obmt_reallocarray
#define M_POSIX_MEMALIGN obmt_posix_memalign
#define M_ALIGNED_ALLOC obmt_aligned_alloc
#define M_MEMALIGN obmt_memalign
#define M_VALLOC obmt_valloc
#define M_PVALLOC obmt_pvalloc
#define M_USABLE obmt_usable_size
static int (*owns)(const void *) = obmt_owns;
static int (*stats_get)(struct obmt_stats *) = obmt_stats_get;
#define TEST_NAME "api_direct"
#endif

static size_t small_max; /* largest request obmt's pools serve */
static size_t huge_min;  /* smallest request a huge block serves */
static uint64_t st_pool_size;

/* Sizes kept in volatiles so that the compiler cannot fold the calls. */
static volatile size_t v_huge = SIZE_MAX, v_half = SIZE_MAX / 2 + 1, v_big = (size_t)PTRDIFF_MAX + 1;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed);
}
static int verify(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + seed))
            return 0;
    return 1;
}

static void test_malloc_sizes(void)
{
    for (size_t n = 0; n <= 4096; n++) {
        unsigned char *p = M_MALLOC(n);
        CHECK_MSG(p != NULL, "n=%zu", n);
        CHECK_MSG((uintptr_t)p % 16 == 0, "n=%zu p=%p", n, (void *)p);
        CHECK_MSG(M_USABLE(p) >= n, "n=%zu usable=%zu", n, M_USABLE(p));
        fill(p, n, (unsigned)n);
        CHECK(verify(p, n, (unsigned)n));
        CHECK_MSG(owns(p), "n=%zu not served by obmt", n);
        M_FREE(p);
    }
    /* Medium blocks: every class boundary from the pools' largest to the
     * huge blocks' smallest, each at -1, 0 and +1. A request gets the
     * smallest class that holds it, classes at most 25% apart, blocks
     * aligned to the pool size (they start a pool); each is obmt's. */
    size_t n = small_max - 1, classes = 0;
    while (n <= huge_min + 1) {
        size_t usable = 0;
        for (size_t d = 0; d < 3 && n + d <= huge_min + 1; d++) {
            size_t m = n + d;
            unsigned char *p = M_MALLOC(m);
            CHECK_MSG(p != NULL && owns(p), "n=%zu not served by obmt", m);
            size_t u = M_USABLE(p);
            CHECK_MSG(u >= m, "n=%zu usable %zu", m, u);
            if (m > small_max && m < huge_min) {
                CHECK_MSG((uintptr_t)p % (size_t)st_pool_size == 0, "n=%zu p=%p", m, (void *)p);
                CHECK_MSG(u - m <= m / 4, "n=%zu usable %zu: more than 25%% over", m, u);
                fill(p, m, (unsigned)m);
                CHECK(verify(p, m, (unsigned)m));
            }
            if (d == 1)
                usable = u;
            M_FREE(p);
        }
        classes++;
        n = usable; /* the next boundary: usable - 1, usable, usable + 1 */
        if (n + 1 > huge_min)
            break;
    }
    CHECK_MSG(classes >= 28, "only %zu medium classes met", classes);
    /* malloc(0) gives unique, usable pointers. */
    void *a = M_MALLOC(0), *b = M_MALLOC(0);
    CHECK(a && b && a != b);
    M_FREE(a);
    M_FREE(b);
    M_FREE(NULL);
}

static void check_aligned(void *p, size_t align, size_t n)
{
    CHECK_MSG(p != NULL, "align=%zu n=%zu", align, n);
    CHECK_MSG((uintptr_t)p % align == 0, "align=%zu n=%zu p=%p", align, n, p);
    CHECK_MSG(M_USABLE(p) >= n, "align=%zu n=%zu", align, n);
    fill(p, n, 7);
    CHECK(verify(p, n, 7));
}

static void test_alignment(void)
{
    static const size_t sizes[] = { 0, 1, 8, 16, 24, 48, 64, 100, 128, 256, 500, 512, 513, 4096, 100000, 700000 };
    for (size_t align = 1; align <= ((size_t)64 << 20); align *= 2) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *p = M_ALIGNED_ALLOC(align, n);
            check_aligned(p, align, n);
            /* Every alignment is served by obmt (up to 64 MiB here). */
            CHECK_MSG(owns(p), "aligned_alloc(%zu, %zu) not obmt's", align, n);
            M_FREE(p);
            p = M_MEMALIGN(align, n);
            check_aligned(p, align, n);
            M_FREE(p);
            if (align >= sizeof(void *)) {
                p = NULL;
                CHECK(M_POSIX_MEMALIGN(&p, align, n) == 0);
                check_aligned(p, align, n);
                M_FREE(p);
            }
        }
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = M_VALLOC(100);
    check_aligned(p, page, 100);
    M_FREE(p);
    p = M_PVALLOC(100);
    check_aligned(p, page, page);
    M_FREE(p);
}

static void test_calloc(void)
{
    /* Dirty many blocks of every class, free them, and calloc again: the
     * reused memory must come back zeroed. */
    enum { N = 64 };
    void *blocks[N];
    for (size_t n = 1; n <= 1024; n += 7) {
        for (int i = 0; i < N; i++) {
            blocks[i] = M_MALLOC(n);
            memset(blocks[i], 0xAB, n);
        }
        for (int i = 0; i < N; i++)
            M_FREE(blocks[i]);
        for (int i = 0; i < N; i++) {
            unsigned char *p = M_CALLOC(1, n);
            CHECK(p != NULL);
            for (size_t k = 0; k < n; k++)
                CHECK_MSG(p[k] == 0, "calloc(1, %zu) byte %zu is %d", n, k, p[k]);
            blocks[i] = p;
        }
        for (int i = 0; i < N; i++)
            M_FREE(blocks[i]);
    }
    unsigned char *p = M_CALLOC(1000, 1000);
    CHECK(p != NULL);
    for (size_t k = 0; k < 1000000; k += 999)
        CHECK(p[k] == 0);
    M_FREE(p);
}

static void test_realloc(void)
{
    /* Grow one byte at a time across every class boundary and into large,
     * then shrink back down; the contents survive every move. */
    size_t n = 1;
    unsigned char *p = M_MALLOC(n);
    fill(p, n, 3);
    for (n = 2; n <= 2048; n++) {
        p = M_REALLOC(p, n);
        CHECK(p != NULL && M_USABLE(p) >= n);
        CHECK_MSG(verify(p, n - 1, 3), "grow to %zu lost contents", n);
        fill(p, n, 3);
    }
    static const size_t big[] = { 100000, 1 << 20, 5000, 600, 513, 512, 511, 300, 100, 17, 16, 1 };
    size_t prev = 2048;
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        p = M_REALLOC(p, big[i]);
        size_t keep = prev < big[i] ? prev : big[i];
        CHECK_MSG(p != NULL && verify(p, keep, 3), "realloc to %zu", big[i]);
        fill(p, big[i], 3);
        CHECK_MSG(owns(p), "realloc to %zu should land in obmt", big[i]);
        prev = big[i];
    }
    /* A shrink that would land in the same class keeps the block. */
    void *s16 = M_MALLOC(16);
    CHECK(s16);
    fill(s16, 16, 6);
    CHECK(M_REALLOC(s16, 8) == s16 && verify(s16, 8, 6));
    CHECK(M_REALLOC(s16, 1) == s16 && verify(s16, 1, 6));
    M_FREE(s16);
    /* realloc(p, 0) frees p and returns NULL, as glibc's (p is gone: the
     * block is free again, so a same-class malloc may return it). */
    CHECK(M_REALLOC(p, 0) == NULL);
    /* realloc(NULL, n) is malloc. */
    p = M_REALLOC(NULL, 40);
    CHECK(p && M_USABLE(p) >= 40);
    M_FREE(p);
    p = M_REALLOCARRAY(NULL, 10, 30);
    CHECK(p && M_USABLE(p) >= 300);
    M_FREE(p);
}

/* Huge blocks: sparse fill and check (a byte a page, and the last). */
static void fill_sparse(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (unsigned char)(i / 4096 * 31 + seed);
    p[n - 1] = (unsigned char)seed;
}
static int verify_sparse(const unsigned char *p, size_t n, size_t filled, unsigned seed)
{
    for (size_t i = 0; i < n; i += 4096)
        if (p[i] != (unsigned char)(i / 4096 * 31 + seed) && i != filled - 1)
            return 0;
    return n != filled || p[n - 1] == (unsigned char)seed;
}

static void test_huge(void)
{
    /* Every size around the huge boundary and around each whole number of
     * 2 MiB arenas up to 64 MiB: obmt's from huge_min on, usable, kept. */
    const size_t MiB = (size_t)1 << 20, A = 2 * MiB;
    size_t sizes[64], n = 0;
    sizes[n++] = huge_min - 1;
    sizes[n++] = huge_min;
    sizes[n++] = huge_min + 1;
    for (size_t k = 1; k <= 5; k++) {
        sizes[n++] = k * A - 4097;
        sizes[n++] = k * A - 1;
        sizes[n++] = k * A;
        sizes[n++] = k * A + 1;
    }
    sizes[n++] = 16 * MiB;
    sizes[n++] = 64 * MiB;
    uint64_t r = 88172645463325252ULL;
    while (n < 40) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        sizes[n++] = huge_min + (size_t)(r % (40 * MiB));
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = M_MALLOC(sizes[i]);
        CHECK_MSG(p != NULL && M_USABLE(p) >= sizes[i], "n=%zu", sizes[i]);
        CHECK_MSG(owns(p), "n=%zu not obmt's", sizes[i]);
        if (sizes[i] >= huge_min)
            CHECK_MSG((uintptr_t)p % A == 0 && M_USABLE(p) - sizes[i] < A, "n=%zu p=%p usable %zu",
                      sizes[i], (void *)p, M_USABLE(p));
        fill_sparse(p, sizes[i], (unsigned)i);
        CHECK(verify_sparse(p, sizes[i], sizes[i], (unsigned)i));
        M_FREE(p);
    }
    /* calloc over a dirty, reused run reads zeros. */
    unsigned char *d = M_MALLOC(8 * MiB);
    memset(d, 0xAB, 8 * MiB);
    M_FREE(d);
    unsigned char *z = M_CALLOC(8, MiB);
    CHECK(z != NULL);
    for (size_t k = 0; k < 8 * MiB; k += 61)
        CHECK_MSG(z[k] == 0, "calloc(8, 1 MiB) byte %zu is %d", k, z[k]);
    M_FREE(z);
    /* A realloc chain up and down through pools, medium and huge blocks
     * keeps the contents. */
    static const size_t chain[] = { 100, 100000, 1536 * 1024, 3 * 1024 * 1024, 20 * 1024 * 1024,
                                    64 * 1024 * 1024, 5 * 1024 * 1024, 600 * 1024, 100 };
    size_t prev = 0;
    unsigned char *p = NULL;
    for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++) {
        p = M_REALLOC(p, chain[i]);
        CHECK_MSG(p != NULL && M_USABLE(p) >= chain[i], "realloc to %zu", chain[i]);
        size_t keep = prev < chain[i] ? prev : chain[i];
        if (keep)
            CHECK_MSG(verify_sparse(p, keep, prev, 5), "realloc to %zu lost contents", chain[i]);
        fill_sparse(p, chain[i], 5);
        prev = chain[i];
    }
    M_FREE(p);
    /* Aligned huge requests: obmt's up to the arena's alignment. */
    for (size_t align = 16; align <= 4 * A; align *= 2) {
        void *q = NULL;
        CHECK(M_POSIX_MEMALIGN(&q, align, 3 * MiB) == 0);
        check_aligned(q, align, 3 * MiB);
        if (align <= A)
            CHECK_MSG(owns(q), "align %zu", align);
        M_FREE(q);
        q = M_ALIGNED_ALLOC(align, 5 * MiB);
        check_aligned(q, align, 5 * MiB);
        M_FREE(q);
    }
}

static void test_errors(void)
{
    errno = 0;
    CHECK(M_MALLOC(v_huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(M_MALLOC(v_big) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(M_CALLOC(v_half, 2) == NULL && errno == ENOMEM); /* overflow */
    errno = 0;
    CHECK(M_CALLOC(1, v_huge) == NULL && errno == ENOMEM);

    unsigned char *p = M_MALLOC(100);
    fill(p, 100, 9);
    errno = 0;
    CHECK(M_REALLOC(p, v_huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(M_REALLOCARRAY(p, v_half, 2) == NULL && errno == ENOMEM);
    CHECK(verify(p, 100, 9)); /* untouched by the failed calls */
    M_FREE(p);

    void *q = (void *)1;
    CHECK(M_POSIX_MEMALIGN(&q, 3, 10) == EINVAL && q == (void *)1);
    CHECK(M_POSIX_MEMALIGN(&q, sizeof(void *) / 2, 10) == EINVAL);
    CHECK(M_POSIX_MEMALIGN(&q, 0, 10) == EINVAL);
    CHECK(M_POSIX_MEMALIGN(&q, 64, v_huge) == ENOMEM && q == (void *)1);
    errno = 0;
    CHECK(M_ALIGNED_ALLOC(3, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(M_ALIGNED_ALLOC(0, 10) == NULL && errno == EINVAL);
    /* memalign does as glibc's: 0 and alignments up to 16 are malloc's,
     * others are rounded up to a power of two; only one too large to round
     * fails. */
    static const size_t odd[][2] = { { 0, 16 }, { 3, 16 }, { 24, 32 }, { 48, 64 }, { 100, 128 }, { 3000, 4096 } };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        void *m = M_MEMALIGN(odd[i][0], 10);
        CHECK_MSG(m && (uintptr_t)m % odd[i][1] == 0, "memalign(%zu, 10) = %p", odd[i][0], m);
        fill(m, 10, 5);
        CHECK(verify(m, 10, 5));
        M_FREE(m);
    }
    errno = 0;
    CHECK(M_MEMALIGN(SIZE_MAX / 2 + 2, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(M_ALIGNED_ALLOC(64, v_huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(M_VALLOC(v_huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(M_PVALLOC(v_huge) == NULL && errno == ENOMEM);
}

int main(void)
{
#ifdef API_VIA_STANDARD_NAMES
    owns = (int (*)(const void *))dlsym(RTLD_DEFAULT, "obmt_owns");
    CHECK_MSG(owns != NULL, "libobmt-override is not loaded (run under LD_PRELOAD)");
    stats_get = (int (*)(struct obmt_stats *))dlsym(RTLD_DEFAULT, "obmt_stats_get");
    CHECK(stats_get != NULL);
#endif
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(stats_get(&st) == 0);
    small_max = st.small_request_max;
    CHECK(small_max >= 512);
    huge_min = st.huge_request_min;
    CHECK(huge_min > small_max);
    st_pool_size = st.pool_size;
    test_malloc_sizes();
    test_alignment();
    test_calloc();
    test_realloc();
    test_huge();
    test_errors();
    CHECK_DONE(TEST_NAME);
}
