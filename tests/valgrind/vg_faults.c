/*
 * vg_faults CASE: one deliberate fault in small blocks, for memcheck to
 * report through obmt's client requests (OBMT_VALGRIND=ON; run.sh runs it
 * and checks the report):
 *   leak     a 64-byte block whose last pointer is dropped
 *   uaf      a read of a 64-byte block after its free
 *   overrun  a read of the first byte past a block's usable size (obmt
 *            describes blocks by their usable size, the class size: a read
 *            in the slack between the request and it is not an error)
 *   uaf_medium, overrun_medium   the same for a 64 KiB medium block (a
 *            span, kept in the thread's span cache once freed)
 *   uninit   a branch on the first byte of a block never written (its
 *            first word is the stale free-list link obmt left there)
 *   clean    every allocation function, pools filled and emptied, frees
 *            from other threads, realloc in place and moving, large
 *            blocks: no error and nothing lost
 * Each checks, through obmt_owns (dlsym), that obmt served its blocks: a
 * run in which memcheck replaced malloc must fail, not pass vacuously.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int (*owns)(const void *);

/* A block of n bytes that has been out and back once: malloc's fast path
 * serves it, with obmt's free-list link in its first word. */
static void *obmt_block(size_t n)
{
    free(malloc(n));
    void *p = malloc(n);
    if (!p || !owns(p)) {
        fprintf(stderr, "vg_faults: malloc(%zu) = %p is not obmt's block\n", n, p);
        exit(3);
    }
    return p;
}

static volatile unsigned char sink;

/* The pointer dies in this frame; clobber_stack then overwrites the stale
 * copies a caller's frame could keep. */
static __attribute__((noinline)) void leak_block(void)
{
    unsigned char *p = obmt_block(64);
    memset(p, 1, 64);
    sink = p[7];
}
static __attribute__((noinline)) void clobber_stack(void)
{
    volatile char buf[4096];
    memset((char *)buf, 0, sizeof buf);
}

static __attribute__((noinline)) void use_after_free(void)
{
    unsigned char *p = obmt_block(64);
    memset(p, 2, 64);
    free(p);
    sink = ((volatile unsigned char *)p)[10]; /* Invalid read, 10 bytes inside a freed block */
}

static __attribute__((noinline)) void overrun(void)
{
    unsigned char *p = obmt_block(100);
    size_t usable = malloc_usable_size(p); /* 112: the class size */
    memset(p, 3, usable);
    sink = ((volatile unsigned char *)p)[usable]; /* Invalid read, 0 bytes after the block */
    free(p);
}

/* The same for a medium block (a span of pools, 64 KiB usable): after its
 * free it sits in the thread's span cache, still noaccess to memcheck. */
static __attribute__((noinline)) void use_after_free_medium(void)
{
    unsigned char *p = obmt_block(60000);
    memset(p, 2, 60000);
    free(p);
    sink = ((volatile unsigned char *)p)[10]; /* Invalid read, 10 bytes inside a freed block */
}

static __attribute__((noinline)) void overrun_medium(void)
{
    unsigned char *p = obmt_block(60000);
    size_t usable = malloc_usable_size(p); /* 65536: the class size */
    memset(p, 3, usable);
    sink = ((volatile unsigned char *)p)[usable]; /* Invalid read, 0 bytes after the block */
    free(p);
}

static __attribute__((noinline)) void uninit(void)
{
    unsigned char *p = obmt_block(64);
    if (p[0] == 42) /* Conditional jump on an uninitialised value */
        puts("42");
    free(p);
}

/* ---- clean ---------------------------------------------------------------- */

#define NBLK 3000
struct batch { void *p[NBLK]; size_t n[NBLK]; };
static struct batch g_batch;
static pthread_barrier_t g_barrier;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + seed);
}
static void check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 7 + seed)) {
            fprintf(stderr, "vg_faults: contents lost at %p[%zu]\n", (const void *)p, i);
            exit(4);
        }
}

/* One thread allocates a batch, another frees it (remote frees; pools go
 * full and are handed back), twice over. */
static void *producer(void *arg)
{
    (void)arg;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NBLK; i++) {
            size_t n = 1 + (size_t)(i * 37) % 700;
            g_batch.p[i] = obmt_block(n);
            g_batch.n[i] = n;
            fill(g_batch.p[i], n, (unsigned)i);
        }
        pthread_barrier_wait(&g_barrier);
        pthread_barrier_wait(&g_barrier);
    }
    return NULL;
}
static void *consumer(void *arg)
{
    (void)arg;
    for (int round = 0; round < 2; round++) {
        pthread_barrier_wait(&g_barrier);
        for (int i = 0; i < NBLK; i++) {
            check(g_batch.p[i], g_batch.n[i], (unsigned)i);
            free(g_batch.p[i]);
        }
        pthread_barrier_wait(&g_barrier);
    }
    return NULL;
}

static void clean(void)
{
    /* Every small size, written to its usable size, freed in an order other
     * than the allocation's. */
    static void *v[8192];
    for (size_t n = 1; n <= 8192; n++) {
        v[n - 1] = obmt_block(n);
        fill(v[n - 1], malloc_usable_size(v[n - 1]), (unsigned)n);
    }
    for (size_t n = 1; n <= 8192; n += 2)
        free(v[n - 1]);
    for (size_t n = 2; n <= 8192; n += 2) {
        check(v[n - 1], n, (unsigned)n);
        free(v[n - 1]);
    }
    /* Several pools of one class: full, then emptied and given back. */
    static void *w[5000];
    for (int i = 0; i < 5000; i++)
        w[i] = obmt_block(48);
    for (int i = 0; i < 5000; i++)
        free(w[i]);

    /* calloc is zeroed; realloc keeps contents in place and when moving,
     * between classes and to and from the underlying allocator. */
    unsigned char *c = calloc(30, 10);
    for (int i = 0; i < 300; i++)
        if (c[i])
            exit(5);
    free(c);
    size_t n = 10;
    unsigned char *r = obmt_block(n);
    fill(r, n, 1);
    static const size_t sizes[] = { 12, 16, 9, 40, 200, 5000, 20000, 3000, 100, 1 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        r = realloc(r, sizes[i]);
        check(r, n < sizes[i] ? n : sizes[i], 1);
        fill(r, sizes[i], 1);
        n = sizes[i];
    }
    free(r);

    /* Aligned allocations, served by pools or passed on. */
    static const size_t aligns[] = { 16, 32, 64, 128, 4096 };
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        void *a = NULL;
        if (posix_memalign(&a, aligns[i], 96) != 0 || (uintptr_t)a % aligns[i])
            exit(6);
        fill(a, 96, 2);
        free(a);
        a = aligned_alloc(aligns[i], 2 * aligns[i]);
        fill(a, 2 * aligns[i], 3);
        free(a);
    }
    free(memalign(64, 100));
    free(valloc(100));
    free(pvalloc(100));
    free(malloc(0));
    /* Medium blocks: through the thread's span cache and the span arenas,
     * grown and shrunk in place by realloc, written to their usable size. */
    void *m[6];
    for (int i = 0; i < 6; i++) {
        m[i] = malloc(9000 + (size_t)i * 150000);
        fill(m[i], malloc_usable_size(m[i]), 4);
    }
    for (int i = 0; i < 6; i += 2)
        free(m[i]);
    for (int i = 1; i < 6; i += 2) {
        m[i] = realloc(m[i], 20000 + (size_t)i * 100000);
        check(m[i], 9000 + (size_t)i * 150000 < 20000 + (size_t)i * 100000 ? 9000 + (size_t)i * 150000
                                                                          : 20000 + (size_t)i * 100000, 4);
        free(m[i]);
    }
    free(calloc(1, 100000));
    free(NULL);

    pthread_t t1, t2;
    pthread_barrier_init(&g_barrier, NULL, 2);
    if (pthread_create(&t1, NULL, producer, NULL) || pthread_create(&t2, NULL, consumer, NULL))
        exit(7);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_barrier_destroy(&g_barrier);
    puts("vg_faults clean: done");
}

int main(int argc, char **argv)
{
    owns = (int (*)(const void *))dlsym(RTLD_DEFAULT, "obmt_owns");
    if (argc != 2 || !owns) {
        fprintf(stderr, "usage: vg_faults leak|uaf|overrun|uaf_medium|overrun_medium|uninit|clean, with libobmt-override loaded\n");
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "leak")) {
        leak_block();
        clobber_stack();
    } else if (!strcmp(c, "uaf")) {
        use_after_free();
    } else if (!strcmp(c, "overrun")) {
        overrun();
    } else if (!strcmp(c, "uaf_medium")) {
        use_after_free_medium();
    } else if (!strcmp(c, "overrun_medium")) {
        overrun_medium();
    } else if (!strcmp(c, "uninit")) {
        uninit();
    } else if (!strcmp(c, "clean")) {
        clean();
    } else {
        fprintf(stderr, "vg_faults: unknown case %s\n", c);
        return 2;
    }
    return 0;
}
