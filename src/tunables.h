/*
 * tunables.h: every compile-time knob of obmt, with its default and meaning.
 *
 * Each may be overridden with -D at build time; the checks at the bottom
 * refuse combinations that break an invariant the code relies on.
 */
#ifndef OBMT_TUNABLES_H
#define OBMT_TUNABLES_H

/* Block alignment: every block is aligned to 1 << OBMT_ALIGN_SHIFT bytes.
 * 16 bytes is what malloc must give on x86-64 and arm64 (max_align_t). */
#ifndef OBMT_ALIGN_SHIFT
#define OBMT_ALIGN_SHIFT 4
#endif

/* Largest request served from pools; above it the underlying allocator
 * serves the request (as obmalloc does). Must be a multiple of the alignment. */
#ifndef OBMT_SMALL_MAX
#define OBMT_SMALL_MAX 512
#endif

/* Pool size: 1 << OBMT_POOL_SHIFT bytes (CPython 3.10+: 16 KiB). */
#ifndef OBMT_POOL_SHIFT
#define OBMT_POOL_SHIFT 14
#endif

/* Arena size: 1 << OBMT_ARENA_SHIFT bytes (CPython 3.10+: 1 MiB). */
#ifndef OBMT_ARENA_SHIFT
#define OBMT_ARENA_SHIFT 20
#endif

/* Address space reserved at start-up for arenas: 1 << OBMT_RESERVE_SHIFT bytes,
 * PROT_NONE and MAP_NORESERVE until an arena is first used. It makes the
 * ownership test one subtraction and one compare. If the reservation fails,
 * init halves it down to OBMT_RESERVE_MIN_SHIFT. */
#ifndef OBMT_RESERVE_SHIFT
#define OBMT_RESERVE_SHIFT 36 /* 64 GiB */
#endif
#ifndef OBMT_RESERVE_MIN_SHIFT
#define OBMT_RESERVE_MIN_SHIFT 28 /* 256 MiB */
#endif

/* Empty pools a thread cache keeps before handing them back to their arena
 * (hysteresis: a malloc/free loop at a pool boundary stays in the cache). */
#ifndef OBMT_KEEP_EMPTY_POOLS
#define OBMT_KEEP_EMPTY_POOLS 4
#endif

/* Wholly free arenas kept committed before one is given back to the OS. */
#ifndef OBMT_KEEP_FREE_ARENAS
#define OBMT_KEEP_FREE_ARENAS 1
#endif

/* Thread caches that can exist at once (they are recycled on thread exit).
 * A thread that finds none left is served by the underlying allocator. */
#ifndef OBMT_MAX_HEAPS
#define OBMT_MAX_HEAPS 16384
#endif

/* Carving granularity: blocks are carved a page at a time (see pool_carve). */
#ifndef OBMT_CARVE_PAGE
#define OBMT_CARVE_PAGE 4096
#endif

/* ---- derived values ---------------------------------------------------- */
#define OBMT_ALIGNMENT      ((size_t)1 << OBMT_ALIGN_SHIFT)
#define OBMT_NCLASSES       (OBMT_SMALL_MAX >> OBMT_ALIGN_SHIFT)
#define OBMT_POOL_SIZE      ((size_t)1 << OBMT_POOL_SHIFT)
#define OBMT_ARENA_SIZE     ((size_t)1 << OBMT_ARENA_SHIFT)
#define OBMT_POOLS_PER_ARENA (1u << (OBMT_ARENA_SHIFT - OBMT_POOL_SHIFT))
#define OBMT_POOL_OVERHEAD  128 /* sizeof(struct pool_header), checked in internal.h */
#define OBMT_MAX_ARENAS     ((size_t)1 << (OBMT_RESERVE_SHIFT - OBMT_ARENA_SHIFT))

/* ---- compile-time checks ------------------------------------------------ */
#if OBMT_SMALL_MAX % (1 << OBMT_ALIGN_SHIFT) != 0
#error "OBMT_SMALL_MAX must be a multiple of the alignment"
#endif
#if OBMT_ALIGN_SHIFT < 4
#error "blocks must be at least 16-byte aligned (max_align_t)"
#endif
#if OBMT_POOL_SHIFT < 12 || OBMT_POOL_SHIFT > 15
#error "pool size must be 4 KiB..32 KiB: offsets in a pool are kept in 16 bits"
#endif
#if OBMT_ARENA_SHIFT <= OBMT_POOL_SHIFT
#error "an arena must hold more than one pool"
#endif
#if (OBMT_ARENA_SHIFT - OBMT_POOL_SHIFT) > 6
#error "at most 64 pools per arena: the arena state word packs pool indices in 8-bit fields and the bucket bitmap has 64 buckets"
#endif
#if OBMT_RESERVE_SHIFT < OBMT_RESERVE_MIN_SHIFT || OBMT_RESERVE_MIN_SHIFT < OBMT_ARENA_SHIFT
#error "the reservation must hold at least one arena and not be below its minimum"
#endif
#if OBMT_SMALL_MAX * 4 > (1 << OBMT_POOL_SHIFT)
#error "a pool must hold at least four blocks of the largest class"
#endif
#if (OBMT_CARVE_PAGE & (OBMT_CARVE_PAGE - 1)) || OBMT_CARVE_PAGE > (1 << OBMT_POOL_SHIFT)
#error "OBMT_CARVE_PAGE must be a power of two no larger than a pool"
#endif
#if OBMT_KEEP_FREE_ARENAS < 0 || OBMT_KEEP_EMPTY_POOLS < 0
#error "hysteresis counts cannot be negative"
#endif

#endif /* OBMT_TUNABLES_H */
