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

/* 1 if p points into memory obmt has mapped for its blocks (an arena of its
 * address window), else 0: every block obmt hands out, of any size; not a
 * foreign mapping inside the window, nor an arena obmt has given back to
 * the OS. O(1); it reads no memory at p. */
OBMT_API int obmt_owns(const void *p);

/* Hand over the calling thread's batched frees into other threads' pools,
 * take back the blocks other threads have handed over to its pools, give
 * its empty pools back to their arenas, and give the pages of free pools
 * and wholly free arenas back to the OS now, without waiting for the purge
 * delay (unless purging is off: OBMT_PURGE_DELAY_MS=-1). Blocks that another
 * thread freed into this thread's pools come back once that thread has
 * handed its batch over (when it fills, at that thread's next slow-path
 * tick, collect or exit). Threads give their pools back by themselves when
 * they exit. */
OBMT_API void obmt_collect(void);

/* Run-time options (the README's table). Each is read at start-up from the
 * environment variable OBMT_<NAME>, e.g. OBMT_PURGE_DELAY_MS=200; `name`
 * here may be given with or without the OBMT_ prefix, in any case.
 * Both return 0, or -1 with errno = EINVAL for an unknown name, a value out
 * of the option's range, or (set) an option fixed at start-up. */
OBMT_API int obmt_option_get(const char *name, long *value);
OBMT_API int obmt_option_set(const char *name, long value);

/* Statistics. Set `version` to OBMT_STATS_VERSION and `size` to
 * sizeof(struct obmt_stats) before calling obmt_stats_get; it returns 0, or
 * -1 (errno = EINVAL) if they do not match a version this library knows
 * (callers of versions 1 to 7, with their smaller structs, get the fields
 * of their version).
 *
 * Figures are summed from counters and a walk over the pool headers while
 * other threads run: each is exact once the threads are quiet. Then the
 * bytes reconcile: bytes_committed = bytes_in_use + bytes_free_in_pools +
 * bytes_empty_pools + bytes_free_pools + bytes_huge + bytes_medium (for
 * callers of version 7, bytes_huge includes bytes_medium). */
#define OBMT_STATS_VERSION 8
#define OBMT_STATS_V1_SIZE 144
#define OBMT_STATS_V2_SIZE 2776
#define OBMT_STATS_V3_SIZE 2792
#define OBMT_STATS_V4_SIZE 2808
#define OBMT_STATS_V5_SIZE 2832
#define OBMT_STATS_V6_SIZE 2848
#define OBMT_STATS_V7_SIZE 2896
#define OBMT_STATS_MAX_CLASSES 64
struct obmt_class_stats {
    uint32_t block_size;         /* bytes */
    uint32_t blocks_per_pool;
    uint64_t pools_used;         /* pools with blocks out and free blocks left */
    uint64_t pools_full;         /* pools with every block out */
    uint64_t pools_empty;        /* pools with no block out, cached by a thread */
    uint64_t blocks_in_use;      /* blocks out (freed blocks still on a pool's
                                    remote list or in a thread's remote-free
                                    batch are not counted) */
};
struct obmt_stats {
    uint32_t version;
    uint32_t size;
    uint64_t pool_size;          /* bytes in a pool */
    uint64_t small_request_max;  /* largest request served from pools (8192 with the
                                    default 32 KiB pools); larger ones are medium or
                                    huge blocks */
    uint64_t arena_size;         /* bytes in an arena */
    uint64_t reserved_bytes;     /* address space reserved for arenas */
    uint64_t arenas_used_hwm;    /* arena slots used: the reservation's frontier. It
                                    drops back only when a huge block's fresh slots
                                    could not be committed (given back unused) */
    uint64_t arenas_committed;   /* arenas whose memory is committed now */
    uint64_t arenas_committed_hwm;
    uint64_t arenas_decommitted; /* times an arena went back to the OS */
    uint64_t bytes_committed;    /* arenas_committed * arena_size */
    uint64_t pools_free_in_arenas;
    uint64_t pools_taken;        /* from arenas, all threads */
    uint64_t pools_given;        /* back to arenas, all threads */
    uint64_t remote_frees;       /* blocks freed by a thread that did not own their pool */
    uint64_t pools_adopted;      /* abandoned pools adopted by another thread */
    uint64_t large_allocs;       /* requests passed to the underlying allocator:
                                    none in a normal run; every request if obmt
                                    could not start, and those no arena could
                                    serve (address space or memory refused).
                                    A realloc of the underlying allocator's
                                    block stays there and is not counted */
    uint64_t heaps_used_hwm;     /* thread caches ever created */
    uint64_t heaps_in_use;       /* thread caches in use now */
    /* ---- version 2 ---- */
    uint64_t bytes_in_use;        /* blocks out of pools, at their block size */
    uint64_t bytes_free_in_pools; /* the rest of pools with blocks out: free and
                                     uncarved blocks, headers, tails */
    uint64_t bytes_empty_pools;   /* pools with no block out held by threads */
    uint64_t bytes_free_pools;    /* free pools in committed arenas (their pages may
                                     have been purged) */
    uint64_t pools_abandoned;     /* pools no thread owns now (their thread exited, or
                                     they were left to the shared level) */
    uint64_t pools_purged;        /* times a free pool's pages went back to the OS */
    uint64_t large_bytes_in_use;  /* always 0: no longer measured (obmt serves every
                                     size, and measuring a foreign block at free
                                     read glibc's header before glibc checked the
                                     pointer); kept for the layout */
    uint64_t threads_seen;        /* threads that got a thread cache */
    uint32_t nclasses;            /* entries used in classes[] */
    uint32_t reserved_;
    struct obmt_class_stats classes[OBMT_STATS_MAX_CLASSES];
    /* ---- version 3 ---- */
    uint64_t remote_batches;      /* hand-overs of remote frees: one CAS each
                                     (remote_frees / remote_batches blocks a CAS) */
    uint64_t remote_blocks_waiting; /* blocks freed by the program that wait in
                                     threads' remote-free batches */
    /* ---- version 4 ---- */
    uint64_t pools_reclaimed;     /* times the reclaim pass purged in place a pool
                                     whose every block other threads had freed,
                                     while its owner was away */
    uint64_t bytes_reclaimed;     /* bytes of such pools whose pages are purged now
                                     (the whole pool; part of
                                     bytes_free_in_pools, not resident) */
    /* ---- version 5 ---- */
    uint64_t heaps_lent;          /* times an idle thread's heap was collected on its
                                     behalf by another thread (OBMT_LEND_IDLE) */
    uint64_t lend_busy;           /* tries that found the thread inside obmt and
                                     left its heap alone */
    uint64_t lend_detours;        /* mallocs and frees that met their thread's heap
                                     lent and did without it (the underlying
                                     allocator served the malloc; the free went
                                     onto its pool's remote list) */
    /* ---- version 6 ---- */
    uint64_t pools_shared;        /* times a pool with free blocks and live ones was
                                     left to the shared level (its heap's collect
                                     found it mostly free, or its thread exited) */
    uint64_t pools_from_shared;   /* times a malloc took such a pool instead of a
                                     fresh one */
    /* ---- version 7 ---- */
    uint64_t huge_allocs;         /* huge blocks (above huge_request_min - 1 bytes: a
                                     run of whole arenas each) allocated */
    uint64_t huge_frees;          /* ... and freed */
    uint64_t huge_bytes_in_use;   /* usable bytes of the live huge blocks (their runs) */
    uint64_t bytes_huge;          /* committed bytes of the arenas they hold */
    uint64_t huge_request_min;    /* smallest request served by a huge block */
    uint64_t bytes_huge_cached;   /* part of bytes_huge: freed runs kept whole for the
                                     next huge malloc, by the shared cache (given
                                     back within half a purge delay) or by the
                                     freeing thread (up to 16 MiB a thread; to the
                                     shared cache when unused for a collect period) */
    /* ---- version 8 ---- */
    uint64_t medium_allocs;       /* medium blocks (above small_request_max, up to
                                     huge_request_min - 1 bytes: a run of whole pools
                                     in a span arena each) allocated; read while
                                     threads run, at least medium_frees and never
                                     less than an earlier read (exact at rest) */
    uint64_t medium_frees;        /* ... and freed */
    uint64_t medium_bytes_in_use; /* usable bytes (class sizes) of the live medium blocks */
    uint64_t bytes_medium;        /* committed bytes of the span arenas (live medium
                                     blocks and the free pools between them) */
    uint64_t medium_pools_purged; /* times a free pool of a span arena had its pages
                                     given back to the OS */
    uint64_t bytes_medium_cached; /* part of bytes_medium: freed medium blocks kept in
                                     threads' caches for their next malloc, and in
                                     the shared span depot for any thread's */
};
OBMT_API int obmt_stats_get(struct obmt_stats *out);

/* Write the statistics as text, one line per call of out(line, arg).
 * OBMT_SHOW_STATS=1 in the environment prints them to stderr at exit. */
OBMT_API void obmt_stats_print(void (*out)(const char *line, void *arg), void *arg);
/* The same figures as one JSON object (one line, newline-terminated),
 * handed to out() in pieces. OBMT_SHOW_STATS=json prints it to stderr at
 * exit; OBMT_STATS_FILE=<path> appends it to <path> at exit, one line per
 * process. */
OBMT_API void obmt_stats_json(void (*out)(const char *text, void *arg), void *arg);

/* ---- the arena map ------------------------------------------------------
 * One byte per pool of every arena slot used so far, arena after arena
 * (arena_size / pool_size bytes each, slot order: the order of addresses):
 * what each pool is doing now. obmt_arena_map writes min(cap, needed) bytes
 * to buf and returns `needed`, the size of the whole map (0 before obmt
 * starts). Any thread, while others run, without a lock: each byte is read
 * from that pool's own words, so a pool that changes meanwhile shows its
 * state from before or after. bench/arena_map.py draws maps written into
 * the statistics (OBMT_STATS_MAP=1). */
#define OBMT_MAP_UNCOMMITTED 0x00 /* the arena is not committed (decommitted, or failed) */
#define OBMT_MAP_VIRGIN      0x01 /* free, never used since its arena was committed */
#define OBMT_MAP_FREE        0x02 /* free in its arena, pages resident */
#define OBMT_MAP_PURGED      0x03 /* free in its arena, pages given back to the OS */
#define OBMT_MAP_RECLAIMED   0x04 /* every block freed by other threads; pages purged in place */
#define OBMT_MAP_ABANDONED   0x05 /* blocks out, their thread exited; the next freer adopts it */
#define OBMT_MAP_HUGE        0x06 /* part of a huge block (its arena is one of the block's run) */
#define OBMT_MAP_MEDIUM      0x07 /* part of a medium block (a span of pools in a span arena) */
#define OBMT_MAP_EMPTY       0x40 /* | class: no block out, kept by a thread */
#define OBMT_MAP_USED        0x80 /* | class: blocks out and free blocks left */
#define OBMT_MAP_FULL        0xc0 /* | class: every block out (some perhaps freed by other
                                     threads and not yet taken back) */
#define OBMT_MAP_KIND(b)     ((b) & 0xc0)   /* 0 for the class-less states above */
#define OBMT_MAP_CLASS(b)    ((b) & 0x3f)   /* the index into obmt_stats.classes[] */
OBMT_API size_t obmt_arena_map(unsigned char *buf, size_t cap);

/* "major.minor.patch" */
OBMT_API const char *obmt_version(void);

#ifdef __cplusplus
}
#endif

#endif /* OBMT_H */
