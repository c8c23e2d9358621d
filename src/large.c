/*
 * large.c: the underlying allocator, for pointers that are not obmt's. In
 * libobmt (obmt_* only) that is the process's malloc. In
 * libobmt-override, which replaces malloc and also glibc's __libc_* names,
 * it is glibc's allocator, found once at start-up with
 * dlsym(RTLD_NEXT, "__libc_malloc") and friends (the next definitions
 * after ours: glibc's).
 *
 * obmt serves every size itself: pools, spans and huge runs, and a thread
 * without a heap gets a span (api.c, malloc_heapless). What it still
 * passes on: every request if it could not start (init failed: OBMT_VERBOSE=1
 * says why), and a request that no arena can serve (the window is full or
 * the OS refuses to commit memory), where glibc may still find some. The
 * statistics count them (large_allocs; a normal run has none).
 *
 * Whatever the underlying allocator returns lies outside obmt's window, so
 * free/realloc/usable_size route such pointers back to it in O(1); that
 * also covers pointers allocated before obmt was loaded, the commonest
 * foreign pointers.
 *
 * The bootstrap area: while init runs (large_init looks glibc's functions
 * up, and dlsym may itself allocate; other threads may call in), requests
 * are served from a small static area by a bump pointer (a CAS); its
 * blocks are never reused (free ignores them) and realloc copies them out.
 * Past its 256 KiB, the underlying allocator serves.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* ---- the underlying allocator's entry points ------------------------------ */

#ifdef OBMT_OVERRIDE
/* Written once by large_init with release stores, after glibc's allocator
 * has been set up (see there); read with acquire loads, so that a thread
 * that calls one sees that set-up. A thread that reads NULL uses the
 * bootstrap area instead. */
static void *(*u_malloc)(size_t);
static void *(*u_calloc)(size_t, size_t);
static void *(*u_realloc)(void *, size_t);
static void *(*u_memalign)(size_t, size_t);
static void (*u_free)(void *);
static size_t (*u_usable)(void *);
static int g_large_init; /* 0, 1 running, 2 done: CAS acq_rel / store release */


void large_init(void)
{
    int expected = 0;
    if (!obmt_cas_acq_rel(&g_large_init, &expected, 1))
        return;
    /* malloc_usable_size has no __libc_ name. Take it from the object that
     * defines the __libc_malloc we use: dlsym(RTLD_NEXT) would find the next
     * definition after obmt's, which in a program linked with jemalloc is
     * jemalloc's, and it cannot measure glibc's blocks (redis-server crashed
     * so). Done before u_malloc is set, so that dlopen's own allocations go
     * to the bootstrap area. */
    void *libc_malloc = dlsym(RTLD_NEXT, "__libc_malloc");
    Dl_info info;
    void *lib = NULL;
    if (libc_malloc && dladdr(libc_malloc, &info) && info.dli_fname)
        lib = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY); /* already loaded: no new mapping */
    size_t (*usable)(void *) = lib ? (size_t (*)(void *))dlsym(lib, "malloc_usable_size") : NULL;
    void *(*m)(size_t) = (void *(*)(size_t))libc_malloc;
    void *(*c)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "__libc_calloc");
    void *(*r)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "__libc_realloc");
    void *(*a)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "__libc_memalign");
    void (*f)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "__libc_free");
    if (!m || !c || !r || !a || !f || !usable)
        os_fatal("cannot find glibc's allocator (dlsym of __libc_malloc & co.)", NULL,
                 "libobmt-override needs glibc");
    /* glibc sets its allocator up in the process's first malloc-family call
     * (ptmalloc_init, behind an unlocked test), counting on that call to
     * come before a second thread exists. Under obmt its first call would
     * be obmt's first large request, from any thread, maybe two at once
     * (found with rptest: a double attach of the main arena, or its bins
     * reset under another thread). So make that first call here, in
     * obmt's start-up, which runs once and before any function pointer is
     * published; the release stores below hand glibc's set-up over with
     * them. */
    f(m(1));
    obmt_store_release(&u_usable, usable);
    obmt_store_release(&u_calloc, c);
    obmt_store_release(&u_realloc, r);
    obmt_store_release(&u_memalign, a);
    obmt_store_release(&u_free, f);
    obmt_store_release(&u_malloc, m); /* last: it ends the bootstrap */
    obmt_store_release(&g_large_init, 2);
}
#define UNDER(fn) obmt_load_acquire(&u_##fn)
#else
static void *std_memalign(size_t align, size_t n)
{
    void *p = NULL;
    int rc = posix_memalign(&p, align, n);
    if (rc) {
        errno = rc;
        return NULL;
    }
    return p;
}
void large_init(void) {}
static void *(*const u_malloc)(size_t) = malloc;
static void *(*const u_calloc)(size_t, size_t) = calloc;
static void *(*const u_realloc)(void *, size_t) = realloc;
static void *(*const u_memalign)(size_t, size_t) = std_memalign;
static void (*const u_free)(void *) = free;
static size_t (*const u_usable)(void *) = malloc_usable_size;
#define UNDER(fn) u_##fn
#endif

/* ---- the bootstrap area ----------------------------------------------------- */

#define BOOT_SIZE (256 * 1024)
static alignas(4096) unsigned char g_boot[BOOT_SIZE];
static size_t g_boot_used; /* CAS relaxed: each caller owns what it moved it over */

static bool in_boot(const void *p) { return (uintptr_t)p - (uintptr_t)g_boot < BOOT_SIZE; }

/* A 16-byte header before each block holds its size. */
static void *boot_alloc(size_t align, size_t n)
{
    if (align < 16)
        align = 16;
    if (n > BOOT_SIZE || align > BOOT_SIZE)
        goto fail;
    /* A CAS, not a fetch_add: a request that does not fit moves nothing
     * (with every size and alignment coming here while init runs, a
     * refused one must not use the area up, nor wrap the counter). */
    size_t need = ((n + 15) & ~(size_t)15) + align + 16;
    size_t at = obmt_load_relaxed(&g_boot_used);
    do {
        if (need > BOOT_SIZE - at)
            goto fail;
    } while (!obmt_cas_relaxed(&g_boot_used, &at, at + need));
    uintptr_t p = ((uintptr_t)g_boot + at + 16 + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)p)[-1] = n;
    return (void *)p;
fail:
    errno = ENOMEM;
    return NULL;
}

static size_t boot_size(const void *p) { return ((const size_t *)p)[-1]; }

/* ---- counting ----------------------------------------------------------------- */

/* Requests obmt passed on: fetch_add relaxed, by any thread (rare: see
 * the top of the file); read by stats. Blocks are not measured: their
 * size is glibc's to read, and reading it at free, before glibc has
 * checked the pointer, turned a double free of such a block into a crash
 * inside obmt instead of glibc's own abort. */
uint64_t g_large_allocs;

static void *passed(void *p)
{
    if (p)
        obmt_fetch_add_relaxed(&g_large_allocs, 1);
    return p;
}

/* ---- the large_* entry points -------------------------------------------------- */

/* Init is running (or has not started): requests go to the bootstrap area
 * first, whatever their size, so that obmt's own start-up and the threads
 * that call in meanwhile get no block of glibc's. */
static bool init_running(void)
{
    int s = obmt_load_acquire(&g_init_state);
    return s == INIT_NONE || s == INIT_RUNNING;
}

/* The bootstrap area while init runs, else (or when it is used up, if the
 * underlying allocator is known) NULL with errno untouched. */
static void *boot_first(size_t align, size_t n, bool under_known)
{
    if (!under_known || init_running()) {
        int saved = errno;
        void *p = boot_alloc(align, n);
        if (p || !under_known)
            return p;
        errno = saved;
    }
    return NULL;
}

void *large_malloc(size_t n)
{
    void *p = boot_first(16, n, UNDER(malloc) != NULL);
    return p ? p : passed(UNDER(malloc)(n));
}

void *large_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = boot_first(16, total, UNDER(calloc) != NULL); /* static memory, never reused: zero */
    return p ? p : passed(UNDER(calloc)(n, size));
}

void *large_memalign(size_t align, size_t n)
{
    void *p = boot_first(align, n, UNDER(memalign) != NULL);
    return p ? p : passed(UNDER(memalign)(align, n));
}

/* A pointer in obmt's window that is not in an arena block was never
 * handed out by anyone: say so rather than pass it to glibc (window.c;
 * somebody else's mapping in a HOLE of the window is theirs). */
static void check_not_reserved(const void *p, const char *what)
{
    window_check_foreign(p, what);
}

void *large_realloc(void *p, size_t n)
{
    check_not_reserved(p, "realloc(): invalid pointer");
    if (unlikely(in_boot(p) || !UNDER(realloc))) {
        /* Out of the bootstrap area into obmt once it is ready (so a block
         * made during init never becomes glibc's), else into the area
         * again. */
        void *q = obmt_load_acquire(&g_init_state) == INIT_READY ? api_malloc(n) : large_malloc(n);
        if (q && p) {
            size_t old = in_boot(p) ? boot_size(p) : UNDER(usable)(p);
            memcpy(q, p, old < n ? old : n);
            large_free(p);
        }
        return q;
    }
    return UNDER(realloc)(p, n);
}

void large_free(void *p)
{
    check_not_reserved(p, "free(): invalid pointer");
    if (unlikely(in_boot(p)))
        return; /* the bootstrap area is never reused */
    UNDER(free)(p);
}

size_t large_usable_size(void *p)
{
    check_not_reserved(p, "malloc_usable_size(): invalid pointer");
    if (unlikely(in_boot(p)))
        return boot_size(p);
    return UNDER(usable)(p);
}
