/*
 * obmt: CPython's obmalloc made a lock-free multi-threaded malloc.
 *
 * Every function here is safe to call from any thread at any time, including
 * before the first malloc and after fork. Link libobmt (or obmt::obmt in
 * CMake) to call these directly; link or LD_PRELOAD libobmt-override to have
 * malloc, free and friends served by the same code.
 */
#ifndef OBMT_H
#define OBMT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OBMT_API __attribute__((visibility("default")))
#define OBMT_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define OBMT_API
#define OBMT_MALLOC_ATTR
#endif

#define OBMT_VERSION_MAJOR 0
#define OBMT_VERSION_MINOR 1
#define OBMT_VERSION_PATCH 0

/* malloc(3) and friends. Errors: NULL with errno = ENOMEM (out of memory,
 * size above PTRDIFF_MAX, calloc/reallocarray overflow) or EINVAL (bad
 * alignment). obmt_malloc(0) returns a unique pointer. */
OBMT_API OBMT_MALLOC_ATTR void *obmt_malloc(size_t size);
OBMT_API OBMT_MALLOC_ATTR void *obmt_calloc(size_t count, size_t size);
/* realloc(p, 0) frees p and returns a unique minimum-size block, like
 * obmt_malloc(0); on failure p is left untouched. */
OBMT_API void *obmt_realloc(void *p, size_t size);
OBMT_API void *obmt_reallocarray(void *p, size_t count, size_t size);
/* Freeing NULL does nothing. Freeing a pointer inside obmt's pools that is
 * not the start of a live block aborts with a message naming the pointer and
 * the fault (interior pointer, double free where it is seen cheaply). */
OBMT_API void obmt_free(void *p);
/* Returns 0, EINVAL (alignment not a power of two multiple of
 * sizeof(void *)) or ENOMEM; *out is untouched on error. */
OBMT_API int obmt_posix_memalign(void **out, size_t alignment, size_t size);
/* NULL with errno = EINVAL when alignment is not a power of two. */
OBMT_API OBMT_MALLOC_ATTR void *obmt_aligned_alloc(size_t alignment, size_t size);
OBMT_API OBMT_MALLOC_ATTR void *obmt_memalign(size_t alignment, size_t size);
OBMT_API OBMT_MALLOC_ATTR void *obmt_valloc(size_t size);
OBMT_API OBMT_MALLOC_ATTR void *obmt_pvalloc(size_t size);
/* Bytes usable at p (at least what was asked for); 0 for NULL. */
OBMT_API size_t obmt_usable_size(const void *p);

/* 1 if p points into memory obmt's pools manage, else 0. O(1); it reads no
 * memory at p. */
OBMT_API int obmt_owns(const void *p);

/* Take back the calling thread's remotely freed blocks and give its empty
 * pools back to their arenas, so that wholly free arenas can go back to the
 * OS. Threads do this by themselves when they exit. */
OBMT_API void obmt_collect(void);

/* Statistics. Set `version` to OBMT_STATS_VERSION and `size` to
 * sizeof(struct obmt_stats) before calling obmt_stats_get; it returns 0, or
 * -1 (errno = EINVAL) if they do not match what this library knows. */
#define OBMT_STATS_VERSION 1
struct obmt_stats {
    uint32_t version;
    uint32_t size;
    uint64_t pool_size;          /* bytes in a pool */
    uint64_t small_request_max;  /* largest request served from pools (8160 with the
                                    default 32 KiB pools); larger ones go to the
                                    underlying allocator */
    uint64_t arena_size;         /* bytes in an arena */
    uint64_t reserved_bytes;     /* address space reserved for arenas */
    uint64_t arenas_used_hwm;    /* arena slots ever used */
    uint64_t arenas_committed;   /* arenas whose memory is committed now */
    uint64_t arenas_committed_hwm;
    uint64_t arenas_decommitted; /* times an arena went back to the OS */
    uint64_t bytes_committed;    /* arenas_committed * arena_size */
    uint64_t pools_free_in_arenas;
    uint64_t pools_taken;        /* from arenas, all threads */
    uint64_t pools_given;        /* back to arenas, all threads */
    uint64_t remote_frees;       /* blocks freed by a thread that did not own their pool */
    uint64_t pools_adopted;      /* abandoned pools adopted by another thread */
    uint64_t large_allocs;       /* requests passed to the underlying allocator */
    uint64_t heaps_used_hwm;     /* thread caches ever created */
    uint64_t heaps_in_use;       /* thread caches in use now */
};
OBMT_API int obmt_stats_get(struct obmt_stats *out);

/* Write the statistics as text, one line per call of out(line, arg).
 * OBMT_SHOW_STATS=1 in the environment prints them to stderr at exit. */
OBMT_API void obmt_stats_print(void (*out)(const char *line, void *arg), void *arg);

/* "major.minor.patch" */
OBMT_API const char *obmt_version(void);

#ifdef __cplusplus
}
#endif

#endif /* OBMT_H */
