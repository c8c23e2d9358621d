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

/* Fine size classes: every multiple of the alignment up to OBMT_FINE_MAX
 * (obmalloc's classes). Above it, pools of 16 KiB or more also have coarse
 * classes, sized so that a whole number of blocks fills a pool exactly
 * (16 KiB: 24, 20, 16, 12, 10, 8, 6, 5 and 4 blocks; steps of 1.2x-1.33x,
 * like jemalloc's); the largest, 4 blocks a pool, is OBMT_SMALL_MAX (4096
 * bytes with 16 KiB pools, 8192 with 32 KiB; 7168 in secure mode). Larger requests are
 * medium and huge blocks (span.c, huge.c), where obmalloc hands them to the system malloc. */
#ifndef OBMT_FINE_MAX
#define OBMT_FINE_MAX 512
#endif

/* Pool size: 1 << OBMT_POOL_SHIFT bytes, and arena size. CPython uses
 * 4 KiB / 256 KiB, and 16 KiB / 1 MiB since 3.10; obmt's default, 32 KiB /
 * 2 MiB, was chosen by measurement (docs/design.md, "Pool and arena size"):
 * the same fast path, and 1.2-2x the throughput where blocks of a thread
 * span several pools (batches, a server simulation), with coarse classes
 * up to 8192 bytes instead of 4096. */
#ifndef OBMT_POOL_SHIFT
#define OBMT_POOL_SHIFT 15
#endif
#ifndef OBMT_ARENA_SHIFT
#define OBMT_ARENA_SHIFT 21
#endif

/* The arenas' address window (window.c): one contiguous range, chosen at
 * start-up and mapped slot by slot as obmt uses it, which makes the
 * ownership test one subtraction and one compare. Its size is the run-time
 * option OBMT_RESERVE_MIB, at most 1 << OBMT_RESERVE_SHIFT bytes; by default
 * it is sized from the machine (init.c, window_auto_size): twice its RAM and
 * swap, rounded up to a power of two, at least 1 << OBMT_RESERVE_AUTO_SHIFT
 * and at most the maximum; under a finite RLIMIT_AS, at most four times
 * the limit (rounded up to a power of two).
 * The per-slot tables (about 600 bytes a 2 MiB slot: 18 MiB of untouched
 * address space for 64 GiB, 292 MiB for 1 TiB) are mapped at start-up for
 * the window chosen, so a small machine does not pay for a large window.
 * Legacy mode (window.c) reserves the whole window up front: its default
 * is 1 << OBMT_RESERVE_AUTO_SHIFT, halved down to OBMT_RESERVE_MIN_SHIFT
 * while the OS refuses. */
#ifndef OBMT_RESERVE_SHIFT
#define OBMT_RESERVE_SHIFT 40 /* 1 TiB */
#endif
#ifndef OBMT_RESERVE_AUTO_SHIFT
#define OBMT_RESERVE_AUTO_SHIFT 36 /* 64 GiB */
#endif
#ifndef OBMT_RESERVE_MIN_SHIFT
#define OBMT_RESERVE_MIN_SHIFT 28 /* 256 MiB */
#endif

/* (KEEP_EMPTY_POOLS, KEEP_FREE_ARENAS and PURGE_DELAY_MS are the defaults
 * of run-time options: src/options.c, OBMT_<NAME> in the environment.) */

/* Empty pools a thread cache keeps before handing them back to their arena
 * (hysteresis: a malloc/free loop at a pool boundary stays in the cache). */
#ifndef OBMT_KEEP_EMPTY_POOLS
#define OBMT_KEEP_EMPTY_POOLS 4
#endif

/* The most empty pools a thread keeps while it cycles pools: one that gives
 * an empty pool back to its arena and takes another from an arena within
 * a collect period doubles what it keeps (from OBMT_KEEP_EMPTY_POOLS), up
 * to this; a collect period with no pool taken halves it, giving back what
 * is beyond (heap.c, cache_or_give). 32 pools: 1 MiB with 32 KiB pools.
 * A lender takes every cached empty pool of an idle thread. 64 was
 * measured (bursts of 256 blocks of 8 KiB, 64 pools: 45 -> 70 M pairs/s,
 * tcmalloc 89; 6 KiB 69 -> 89) and not taken: bench/blowup at 64 threads
 * held 3-4% more while alive (medians of 4 runs, 496 against 479 MiB). */
#ifndef OBMT_KEEP_EMPTY_POOLS_MAX
#define OBMT_KEEP_EMPTY_POOLS_MAX 32
#endif

/* Wholly free arenas kept committed before one is given back to the OS. */
#ifndef OBMT_KEEP_FREE_ARENAS
#define OBMT_KEEP_FREE_ARENAS 1
#endif

/* Purge delay: a free pool's pages (and a wholly free arena beyond those
 * kept) go back to the OS once its arena has had no pool back for this many
 * milliseconds; 0 at once, -1 never. A pool freed and taken again within
 * the delay costs no page faults (the memory_burst benchmark: obmt had
 * decommitted at once and re-faulted, 1.2-2.6x behind mimalloc). Run-time
 * option OBMT_PURGE_DELAY_MS. */
#ifndef OBMT_PURGE_DELAY_MS
#define OBMT_PURGE_DELAY_MS 1000
#endif

/* Medium and huge blocks: requests between OBMT_SMALL_MAX and
 * OBMT_MEDIUM_MAX get a span of whole pools (span.c), requests above it a
 * run of whole arenas of their own (huge.c): a whole 2 MiB arena for a
 * request of a few hundred KiB would waste most of it. 1 MiB, or half an
 * arena with smaller arenas (a span must leave a pool of its arena free). */
#ifndef OBMT_MEDIUM_MAX
#define OBMT_MEDIUM_MAX (((size_t)1 << OBMT_ARENA_SHIFT) / 2 < ((size_t)1 << 20) ? \
                         ((size_t)1 << OBMT_ARENA_SHIFT) / 2 : ((size_t)1 << 20))
#endif
/* Freed huge runs kept whole, still HUGE, in a cache of this many entries
 * (huge.c): a malloc of the same number of arenas takes one with a single
 * exchange, however many arenas it spans (a loop of 16 MiB blocks: no
 * per-arena atomics). The purge gives back a run no malloc took since its
 * previous pass. 0: no cache. Not in secure mode (its runs are decommitted
 * when freed). */
#ifndef OBMT_HUGE_CACHE
#define OBMT_HUGE_CACHE 4
#endif
/* Each thread also keeps its last freed huge block's run, of up to
 * OBMT_HUGE_KEEP_ARENAS arenas (16 MiB), for its next malloc of the same
 * number of arenas: a loop of such blocks then takes no atomic operation
 * for the cache (fastpath_lifo/16777216). A run not used again within a
 * collect period goes to the shared cache, and from there back after the
 * purge delay. 0: none kept. Not in secure mode or without the shared
 * cache, nor where idle heaps cannot be lent (nothing else would take an
 * idle thread's run back). */
#ifndef OBMT_HUGE_KEEP_ARENAS
#define OBMT_HUGE_KEEP_ARENAS 8
#endif
/* A huge run that must fault pages in (decommitted or fresh arenas) first
 * gives back as many resident wholly free arenas as it faults, beyond a
 * slack of 1/OBMT_RUN_RESIDENT_SLACK of the committed ones, so that a
 * program whose huge blocks change size does not grow its resident set by
 * the free arenas that could not hold them (arena.c, run_release_resident).
 * Only where a fault of a whole arena is cheap: transparent huge pages for
 * the runs (OBMT_HUGE_PAGES, the kernel's mode); with 4 KiB faults the
 * loop it guards ran 4.5x slower. 0: never. */
#ifndef OBMT_RUN_RESIDENT_SLACK
#define OBMT_RUN_RESIDENT_SLACK 16
#endif

/* Medium blocks (span.c): each thread keeps up to OBMT_SPAN_CACHE_DEPTH
 * freed spans of each class, OBMT_SPAN_CACHE_BYTES in all, for its next
 * malloc of that class: a malloc/free loop of medium blocks then takes no
 * atomic read-modify-write. A class holds at most half the budget (a grown
 * one all of OBMT_SPAN_CACHE_BYTES_MAX, below). A
 * miss after misses takes a batch of more spans of its class with the
 * same CAS (slow start: 0, 1, 3, ... up to half the stack), and a put into
 * a full stack gives back its newest half, one fetch_or per arena:
 * batches of mallocs and frees take one atomic operation per DEPTH / 2 + 1
 * blocks. DEPTH 32 rather than 8: fastpath_batch/16384 50 -> 70 M items/s,
 * /65536 51 -> 65 M (with cache_trim popping from the top), peak RSS of
 * memory_sized_* unchanged (the budget bounds it, not the depth; the
 * class cap makes 64 KiB spans 16 deep, 256 KiB 4). A class unused for a purge delay gives its
 * cached spans back (heap_ticked), as does a thread's exit, obmt_collect
 * and a lender collecting an idle thread's heap. 0 bytes: no cache. */
#ifndef OBMT_SPAN_CACHE_BYTES
#define OBMT_SPAN_CACHE_BYTES ((size_t)2 << 20)
#endif
/* A pool block that realloc grows past OBMT_REALLOC_SPAN_MIN bytes moves
 * into a span (span.c: a pool of its own, 10 KiB usable), where it grows
 * on in place: to 32 KiB with no change but its class, beyond into the
 * free pools after it; a span shrunk to a size above it stays a span (of
 * the smallest class). Each pool-class step of a growing buffer had been
 * a copy (up to 8 KiB, then the move into a span). 6144 rather than 4096:
 * such a span holds the pages its data touches, 8 KiB for 4-8 KiB, where
 * the pool classes above 6 KiB hold 8 KiB anyway but those of 4-6 KiB
 * less: 20,000 buffers grown by realloc to 4500 bytes held 109 MiB
 * before, 164 MiB with 4096, 109 MiB with 6144 (glibc 90). Speed
 * (three interleaved rounds, M reallocs/s, before / 4096 / 6144):
 * realloc_mul15/1048576 42.2 / 55.0 / 50.8, /65536 37.8 / 51.7 / 43.2,
 * add16/16384 and /65536 level (glibc, which grows in place at the top of
 * its heap: 121.8 and 118.2 on mul15). */
#ifndef OBMT_REALLOC_SPAN_MIN
#define OBMT_REALLOC_SPAN_MIN 6144
#endif
/* Chains (span.c): a pool block that a thread's realloc grows and moves a
 * second time in a row (a buffer grown again and again) moves into a span
 * at once, whatever its size, and grows on there in place, as glibc's
 * chains do at the top of its heap; at most this many such spans a heap
 * hold small data (each a page or two resident) at any time; beyond, the
 * thresholds above apply. 0: no chains. */
#ifndef OBMT_REALLOC_CHAIN_SPANS
#define OBMT_REALLOC_CHAIN_SPANS 4
#endif
#ifndef OBMT_SPAN_CACHE_DEPTH
#define OBMT_SPAN_CACHE_DEPTH 32
#endif
/* The span cache adapts to bursts, as the empty-pool cap does: a class
 * whose full stack gave its newest half back and that then missed before
 * the next collect (a burst of mallocs then frees larger than its stack,
 * cycling spans through the arenas) doubles its depth, up to
 * OBMT_SPAN_CACHE_DEPTH_MAX spans and OBMT_SPAN_CACHE_BYTES_MAX bytes (the
 * heap's budget grows by what it may hold beyond its fixed limit, to
 * OBMT_SPAN_CACHE_HEAP_MAX at most, and as far as the shared allowance
 * below lets it); each collect with no miss of the
 * class halves it again, down to the fixed limits above, and a flush
 * (exit, obmt_collect, a lender) takes it straight back there. Only where
 * idle heaps can be lent (a lender empties an idle thread's cache).
 * 256 blocks of 16 KiB allocated then freed in a loop (a stack of 512:
 * 256 would only just hold the burst, docs/design.md) 74 -> 145 M pairs/s
 * alone (tcmalloc 97); of 64 KiB (128 deep at most: the 8 MiB) 67 -> 77. */
#ifndef OBMT_SPAN_CACHE_DEPTH_MAX
#define OBMT_SPAN_CACHE_DEPTH_MAX 512
#endif
#ifndef OBMT_SPAN_CACHE_BYTES_MAX
#define OBMT_SPAN_CACHE_BYTES_MAX ((size_t)8 << 20)
#endif
/* What grown classes may hold together: a heap's budget grows to at most
 * OBMT_SPAN_CACHE_HEAP_MAX (its base, plus what its grown classes may hold
 * beyond their fixed limits, each class OBMT_SPAN_CACHE_BYTES_MAX at
 * most). Up to OBMT_SPAN_CACHE_BYTES_MAX it grows on its own; beyond that
 * it draws on an allowance shared by the threads, of which all heaps
 * together hold at most OBMT_SPAN_CACHE_GROWN_TOTAL (span.c, budget_set),
 * as tcmalloc's thread caches share one overall size. Before 2026-12-02
 * each heap's budget stopped at OBMT_SPAN_CACHE_BYTES_MAX, 8 MiB: a thread
 * that replaces 256 live blocks of 9-256 KiB at random (34 MiB live,
 * twenty classes) kept the cache at that budget, and 5.6% of its mallocs
 * missed to the span arenas (each about 940 instructions) and 5.1% of its
 * frees gave a span back: callgrind 200.2 instructions an operation
 * (tcmalloc 120.3), 144.0 now; fastpath_replace_medium/256 17.7 -> 35.4 M
 * items/s (tcmalloc 34.4). Peak RSS with every block written whole: 57.8
 * -> 62.9 MiB (tcmalloc 79.6, jemalloc 51.0). N threads' span caches hold
 * at most N times OBMT_SPAN_CACHE_BYTES_MAX plus the allowance, 32 MiB
 * more than before. (A first version shared every byte above the base:
 * one thread of four took all of it, and the others missed up to 100
 * times as often as with their own 8 MiB; bench/results/2026-12-02-span-
 * allowance.md) */
#ifndef OBMT_SPAN_CACHE_HEAP_MAX
#define OBMT_SPAN_CACHE_HEAP_MAX ((size_t)32 << 20)
#endif
#ifndef OBMT_SPAN_CACHE_GROWN_TOTAL
#define OBMT_SPAN_CACHE_GROWN_TOTAL ((size_t)32 << 20)
#endif
/* The span depot (span_depot.c): a full stack's trim (a burst of frees
 * larger than the thread's stack) puts its newest half there as one chain,
 * with one CAS, and any thread's miss of the class takes a whole chain
 * with one exchange, before it looks at the span arenas: a burst that the
 * thread cache cannot hold no longer goes back to the arenas' bitmaps span
 * by span and is taken from them again (fastpath_batch/65536, a 16 MiB
 * burst: half of it cycled through the arenas every round), and spans
 * freed by one thread reach another's mallocs in bulk. OBMT_SPAN_DEPOT_SLOTS
 * chains a class at most, OBMT_SPAN_DEPOT_BYTES in all the classes
 * together (shared by every thread: the bound does not grow with the
 * threads); a chain that finds no room goes back to its arenas as before,
 * and one idle for the purge delay goes back too (the purge pass).
 * 0 slots: no depot. */
#ifndef OBMT_SPAN_DEPOT_SLOTS
#define OBMT_SPAN_DEPOT_SLOTS 4
#endif
#ifndef OBMT_SPAN_DEPOT_BYTES
#define OBMT_SPAN_DEPOT_BYTES ((size_t)16 << 20)
#endif
/* The budget where idle threads' heaps cannot be lent (OBMT_LEND_IDLE=0, or
 * no membarrier: valgrind, seccomp, Linux before 4.14): nothing but the
 * thread itself empties its cache then, and an idle thread keeps it. */
#ifndef OBMT_SPAN_CACHE_BYTES_UNLENT
#define OBMT_SPAN_CACHE_BYTES_UNLENT ((size_t)256 << 10)
#endif

/* The heap table (heap.c): thread caches are mapped on demand in chunks of
 * 1 << OBMT_HEAP_CHUNK_SHIFT heaps (256 by default: 6.3 MiB of address space
 * with the 25,856-byte struct heap, whose block stacks take 24,064 bytes;
 * 1,344 bytes before them, 832 before the span cache), never unmapped,
 * recycled when their thread exits. A heap's pages are touched as its
 * thread uses them: a block stack's slots only where its class's stack
 * has grown to.
 * A static directory of chunk pointers indexes OBMT_HEAP_TABLE_SIZE heaps:
 * 4,194,304, Linux's PID_MAX_LIMIT, more threads than the kernel lets a
 * process have at once, so the table sets no cap of its own. The directory
 * is OBMT_HEAP_TABLE_SIZE >> OBMT_HEAP_CHUNK_SHIFT pointers of BSS (128 KiB
 * by default, untouched beyond the chunks in use). The unit tests' library
 * (obmt-test) uses 4-heap chunks, so that a few threads cross chunks. */
#ifndef OBMT_HEAP_CHUNK_SHIFT
#define OBMT_HEAP_CHUNK_SHIFT 8
#endif

/* Remote-free batches (remote.c): a thread gathers its frees into pools it
 * does not own in OBMT_RBATCH_SLOTS batches, one pool each (direct-mapped
 * by pool address), and hands a batch over with one CAS once it holds
 * OBMT_RBATCH_BYTES bytes of blocks, its slot is wanted by another pool, or
 * the thread ticks, collects, exits or forks. Bound on what one thread's
 * batches hold: SLOTS * BYTES. */
#ifndef OBMT_RBATCH_SLOTS
#define OBMT_RBATCH_SLOTS 8
#endif
#ifndef OBMT_RBATCH_BYTES
#define OBMT_RBATCH_BYTES 16384
#endif

/* Remote chains' prefetch hints (remote.c, "Hints"): a thread that links
 * a block into a remote batch puts in the link's top 16 bits the low bits
 * of the address of the block this many links further down the chain, and
 * the owner's pool pop prefetches it (internal.h, pool_pop_prefetch), so
 * that a list of blocks that other cores wrote costs overlapping misses,
 * not one miss per malloc in a row. A power of two from 2 to 64 (each of
 * the heap's OBMT_RBATCH_SLOTS batch slots keeps its last this many
 * blocks: 512 bytes a heap at 8); 0 turns hints off. Measured on
 * 2 cores (bench/results/2026-12-01-remote-hints.md): 4 < 8 = 16 on
 * producer_1toN/64, 8 > 16 on producer_1toN/256. */
#ifndef OBMT_REMOTE_HINT_DISTANCE
#define OBMT_REMOTE_HINT_DISTANCE 8
#endif

/* Without hints (OBMT_REMOTE_HINT_DISTANCE 0), malloc's pool pop
 * (internal.h, pool_pop_prefetch) prefetches the new head
 * and the block this many strides beyond it along the step from the popped
 * block (0: only the new head). Measured on 16 cores: 3 beat 1, and beat 3
 * or 7 prefetched for reading (bench/results/2026-11-30-16-cores.md). */
#ifndef OBMT_POP_PREFETCH_STRIDES
#define OBMT_POP_PREFETCH_STRIDES 3
#endif

/* The block stack (bstack.c): the owner's frees put blocks on a per-class
 * stack in the heap, and its mallocs take them from there first, so that
 * a free and a malloc of the same class touch no pool header, whatever the
 * pool's count (the coarse classes' pools hold 4 to 48 blocks, and a free
 * into a full pool, or a malloc that empties one, is a slow-path edge).
 * At most OBMT_BSTACK_DEPTH blocks a class (an 8-bit count), and at most
 * OBMT_BSTACK_CLASS_BYTES bytes of blocks a class, so the larger classes
 * keep fewer (every class at least one). A full stack sends the free to
 * the block's pool. 0 turns the stack off (every free to its pool). */
/* 255 since 2026-12-02 (64 before): a loop that allocates 256 blocks of
 * a small class and then frees them (fastpath_batch, producer at one
 * thread) sent 192 of each 256 frees and mallocs through the pool, about 8
 * instructions more a block than through the stack (callgrind: 70 -> 60 a
 * pair at 64 bytes; fastpath_batch/16, /64, /512 +9-14%, lifo and replace
 * level: bench/results/2026-12-02-bstack-255.md). jemalloc's thread cache
 * keeps up to 200 blocks a small bin. With the byte bound below, the
 * classes of 1 KiB and up keep what they had; 272..1008 bytes rise to
 * 240..65 blocks. */
#ifndef OBMT_BSTACK_DEPTH
#define OBMT_BSTACK_DEPTH 255
#endif
#ifndef OBMT_BSTACK_CLASS_BYTES
#define OBMT_BSTACK_CLASS_BYTES 65536
#endif
#if OBMT_BSTACK_DEPTH < 0 || OBMT_BSTACK_DEPTH > 255
#error "OBMT_BSTACK_DEPTH is 0 (off) to 255 blocks a class (an 8-bit count)"
#endif
_Static_assert(OBMT_BSTACK_CLASS_BYTES >= 0, "the block stack's byte bound cannot be negative");

/* Grown stacks (bstack.c, bstack_grow): a class whose stack overflowed
 * (a free found it full) after one of its mallocs found it empty, i.e. a
 * thread that cycles more blocks of the class than its stack holds (a
 * burst of mallocs, then of frees), doubles its stack, up to
 * OBMT_BSTACK_GROWN_CLASS_BYTES of blocks (and OBMT_BSTACK_DEPTH), as long
 * as the heap's stacks have grown by at most OBMT_BSTACK_GROWN_BYTES in
 * all; every collect (and a lender's) puts the bounds back. A burst of 256
 * blocks of 1 KiB had sent 192 of each 256 frees and mallocs through
 * their pools (fastpath_batch/1024, tcmalloc 1.35x ahead). The classes up
 * to 256 bytes are at OBMT_BSTACK_DEPTH already and never grow. */
#ifndef OBMT_BSTACK_GROWN_CLASS_BYTES
#define OBMT_BSTACK_GROWN_CLASS_BYTES (256 * 1024)
#endif
#ifndef OBMT_BSTACK_GROWN_BYTES
#define OBMT_BSTACK_GROWN_BYTES (1024 * 1024)
#endif
_Static_assert(OBMT_BSTACK_GROWN_CLASS_BYTES >= OBMT_BSTACK_CLASS_BYTES,
               "a grown stack holds at least what the fixed bound lets it");
_Static_assert(OBMT_BSTACK_GROWN_BYTES >= 0 && OBMT_BSTACK_GROWN_BYTES <= 0xffffffffu,
               "the heap's growth is counted in 32 bits");

/* The shared level (shared.c): a heap's collect gives every pool of a
 * class but the head of its usedpools that has at most
 * OBMT_SHARE_USED_PERCENT percent of its blocks out to the class's shared
 * stack, where any thread's malloc takes it before a fresh pool (Hoard's
 * emptiness threshold, f = 1 - PERCENT/100: a pool a heap keeps holds at
 * most 100/PERCENT times its live bytes, docs/design.md section 5). */
#ifndef OBMT_SHARE_USED_PERCENT
#define OBMT_SHARE_USED_PERCENT 25
#endif
_Static_assert(OBMT_SHARE_USED_PERCENT > 0 && OBMT_SHARE_USED_PERCENT < 100,
               "a share threshold of 0 would give nothing away, of 100 every pool");

/* Carving granularity: blocks are carved a page at a time (see pool_carve). */
#ifndef OBMT_CARVE_PAGE
#define OBMT_CARVE_PAGE 4096
#endif

/* Secure mode (cmake -DOBMT_SECURE=ON), as mimalloc's secure build: free
 * blocks' links are encoded with a per-process secret and checked when
 * followed, a pool's free-list head must lie in the pool, each carved
 * page's blocks go on the free list in a random order, and every pool
 * ends in a page that holds no block. That page is a guard page
 * (PROT_NONE) at the end of each arena, so that a linear overflow out of
 * an arena's last pool faults before it reaches the next arena's first
 * header; with OBMT_GUARD_EVERY_POOL=1 at the end of every pool, so that
 * no overflow reaches any other pool's header, at a cost of two kernel
 * mappings per pool (vm.max_map_count, 65530 by default, then caps obmt at
 * about 1 GiB of arenas; past it, requests go to the underlying
 * allocator). Costs: docs/design.md, "secure mode". */
#ifndef OBMT_SECURE
#define OBMT_SECURE 0
#endif
#ifndef OBMT_GUARD_EVERY_POOL
#define OBMT_GUARD_EVERY_POOL 0
#endif

/* ---- derived values ---------------------------------------------------- */
/* The guard page at the end of a pool (secure mode), and the bytes of
 * blocks a pool has: from the header's end to the guard. */
#define OBMT_POOL_GUARD     (OBMT_SECURE ? 4096 : 0)
#define OBMT_POOL_END       ((1 << OBMT_POOL_SHIFT) - OBMT_POOL_GUARD)
#define OBMT_POOL_USABLE    (OBMT_POOL_END - OBMT_POOL_OVERHEAD)
#define OBMT_ALIGNMENT      ((size_t)1 << OBMT_ALIGN_SHIFT)
#define OBMT_NFINE          (OBMT_FINE_MAX >> OBMT_ALIGN_SHIFT)
/* Coarse class j holds OBMT_COARSE_K(j) blocks per pool. */
#define OBMT_COARSE(k)      ((OBMT_POOL_USABLE / (k)) >> OBMT_ALIGN_SHIFT << OBMT_ALIGN_SHIFT)
#if OBMT_POOL_SHIFT >= 15
#define OBMT_NCOARSE        15
#define OBMT_COARSE_K(j)    ((j) == 0 ? 48 : (j) == 1 ? 40 : (j) == 2 ? 32 : (j) == 3 ? 28 : (j) == 4 ? 24 : \
                             (j) == 5 ? 20 : (j) == 6 ? 16 : (j) == 7 ? 14 : (j) == 8 ? 12 : (j) == 9 ? 10 : \
                             (j) == 10 ? 8 : (j) == 11 ? 7 : (j) == 12 ? 6 : (j) == 13 ? 5 : 4)
#elif OBMT_POOL_SHIFT == 14
#define OBMT_NCOARSE        9
#define OBMT_COARSE_K(j)    ((j) == 0 ? 24 : (j) == 1 ? 20 : (j) == 2 ? 16 : (j) == 3 ? 12 : (j) == 4 ? 10 : \
                             (j) == 5 ? 8 : (j) == 6 ? 6 : (j) == 7 ? 5 : 4)
#else
#define OBMT_NCOARSE        0
#define OBMT_COARSE_K(j)    1
#endif
#define OBMT_SMALL_MAX      (OBMT_NCOARSE ? OBMT_COARSE(4) : OBMT_FINE_MAX)
#define OBMT_NCLASSES       (OBMT_NFINE + OBMT_NCOARSE)
#define OBMT_POOL_SIZE      ((size_t)1 << OBMT_POOL_SHIFT)
#define OBMT_ARENA_SIZE     ((size_t)1 << OBMT_ARENA_SHIFT)
#define OBMT_POOLS_PER_ARENA (1u << (OBMT_ARENA_SHIFT - OBMT_POOL_SHIFT))
/* Pool headers live out of line, in a dense array beside the arenas
 * (internal.h, pool_of): a pool is all blocks, from offset 0. */
#define OBMT_POOL_OVERHEAD  0
#define OBMT_HEADER_SHIFT   7   /* sizeof(struct pool_header) == 128, checked in internal.h */
#define OBMT_HEADER_SIZE    ((size_t)1 << OBMT_HEADER_SHIFT)
#define OBMT_MAX_ARENAS     ((size_t)1 << (OBMT_RESERVE_SHIFT - OBMT_ARENA_SHIFT))
#define OBMT_HEAP_TABLE_SHIFT 22 /* PID_MAX_LIMIT (include/linux/threads.h): 4,194,304 */
#define OBMT_HEAP_TABLE_SIZE ((uint32_t)1 << OBMT_HEAP_TABLE_SHIFT)
#define OBMT_HEAP_CHUNK     ((uint32_t)1 << OBMT_HEAP_CHUNK_SHIFT)
#define OBMT_HEAP_CHUNKS    ((uint32_t)1 << (OBMT_HEAP_TABLE_SHIFT - OBMT_HEAP_CHUNK_SHIFT))

/* ---- compile-time checks ------------------------------------------------ */
#if OBMT_FINE_MAX % (1 << OBMT_ALIGN_SHIFT) != 0
#error "OBMT_FINE_MAX must be a multiple of the alignment"
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
#if OBMT_RESERVE_SHIFT < OBMT_RESERVE_AUTO_SHIFT || OBMT_RESERVE_AUTO_SHIFT < OBMT_RESERVE_MIN_SHIFT || \
    OBMT_RESERVE_MIN_SHIFT < OBMT_ARENA_SHIFT
#error "the window: at least one arena, minimum <= automatic floor <= maximum"
#endif
#if OBMT_RESERVE_SHIFT > 42
#error "the window must fit the quiet band below 2^48 with its headers (window.c), 4 TiB at most"
#endif
#if OBMT_GUARD_EVERY_POOL && !OBMT_SECURE
#error "OBMT_GUARD_EVERY_POOL is a secure-mode option"
#endif
#if OBMT_SECURE && OBMT_POOL_SHIFT < 14
#error "secure mode needs pools of 16 KiB or more: a guard page takes 4 KiB of each"
#endif
#if OBMT_FINE_MAX * 4 > OBMT_POOL_USABLE
#error "a pool must hold at least four blocks of the largest fine class"
#endif
#if OBMT_NCOARSE && OBMT_COARSE(OBMT_COARSE_K(0)) <= OBMT_FINE_MAX
#error "the coarse classes must start above OBMT_FINE_MAX"
#endif
_Static_assert(OBMT_MEDIUM_MAX >= OBMT_SMALL_MAX && OBMT_MEDIUM_MAX >= OBMT_ARENA_SIZE / 4,
               "huge runs are for requests of at least a quarter of an arena");
_Static_assert(OBMT_MEDIUM_MAX <= ((size_t)1 << 20), "span.c's class tables (32 classes) end at 1 MiB");
_Static_assert(OBMT_SPAN_CACHE_BYTES_UNLENT <= OBMT_SPAN_CACHE_BYTES, "the unlent span cache budget is the smaller");
_Static_assert(OBMT_REALLOC_CHAIN_SPANS >= 0 && OBMT_REALLOC_CHAIN_SPANS <= 64,
               "a thread checks its chain spans one by one: a few of them");
_Static_assert(OBMT_REALLOC_SPAN_MIN >= 1024 && OBMT_REALLOC_SPAN_MIN < OBMT_SMALL_MAX,
               "realloc moves a growing pool block into a span between 1 KiB and the pool classes' end");
#if OBMT_SPAN_CACHE_DEPTH < 2 || OBMT_SPAN_CACHE_DEPTH % 2 || OBMT_SPAN_CACHE_DEPTH > OBMT_SPAN_CACHE_DEPTH_MAX
#error "OBMT_SPAN_CACHE_DEPTH is an even number of spans a class, 2 up to OBMT_SPAN_CACHE_DEPTH_MAX"
#endif
#if OBMT_SPAN_CACHE_DEPTH_MAX > 1024
#error "OBMT_SPAN_CACHE_DEPTH_MAX is at most 1024 spans a class (span_to_huge walks every cached span)"
#endif
_Static_assert(OBMT_SPAN_CACHE_BYTES_MAX >= OBMT_SPAN_CACHE_BYTES, "the span cache grows from its budget, not below it");
_Static_assert(OBMT_SPAN_CACHE_HEAP_MAX >= OBMT_SPAN_CACHE_BYTES_MAX,
               "a heap's budget may grow to what one grown class may hold");
_Static_assert(OBMT_SPAN_CACHE_GROWN_TOTAL <= ((size_t)1 << 40), "OBMT_SPAN_CACHE_GROWN_TOTAL is at most 1 TiB");
#if OBMT_SPAN_DEPOT_SLOTS < 0 || OBMT_SPAN_DEPOT_SLOTS > 4
#error "OBMT_SPAN_DEPOT_SLOTS is 0 (no depot) to 4 chains a class (a class's words and times share one cache line)"
#endif
_Static_assert(OBMT_SPAN_DEPOT_BYTES <= ((size_t)1 << 40), "OBMT_SPAN_DEPOT_BYTES is at most 1 TiB");
#if OBMT_HUGE_CACHE < 0 || OBMT_HUGE_CACHE > 64
#error "OBMT_HUGE_CACHE is 0 (no cache) to 64 entries"
#endif
#if OBMT_RUN_RESIDENT_SLACK < 0 || OBMT_RUN_RESIDENT_SLACK > 1024
#error "OBMT_RUN_RESIDENT_SLACK is 0 (never give back) or 1..1024 (the slack is committed / that)"
#endif
#if OBMT_HUGE_KEEP_ARENAS < 0 || OBMT_HUGE_KEEP_ARENAS > 255
#error "OBMT_HUGE_KEEP_ARENAS is 0 (none kept) to 255 arenas (none kept without OBMT_HUGE_CACHE)"
#endif
#if OBMT_SMALL_MAX > 8192 || OBMT_NCLASSES > 64
#error "size-class tables in pool.c cover requests up to 8192 bytes and 64 classes"
#endif
#if (OBMT_CARVE_PAGE & (OBMT_CARVE_PAGE - 1)) || OBMT_CARVE_PAGE > (1 << OBMT_POOL_SHIFT)
#error "OBMT_CARVE_PAGE must be a power of two no larger than a pool"
#endif
#if OBMT_REMOTE_HINT_DISTANCE != 0 && (OBMT_REMOTE_HINT_DISTANCE < 2 || OBMT_REMOTE_HINT_DISTANCE > 64 || \
                                      (OBMT_REMOTE_HINT_DISTANCE & (OBMT_REMOTE_HINT_DISTANCE - 1)))
#error "OBMT_REMOTE_HINT_DISTANCE is 0 (no hints) or a power of two from 2 to 64"
#endif
#if (OBMT_RBATCH_SLOTS & (OBMT_RBATCH_SLOTS - 1)) || OBMT_RBATCH_SLOTS < 1
#error "OBMT_RBATCH_SLOTS must be a power of two"
#endif
#if OBMT_RBATCH_BYTES < 2 * OBMT_SMALL_MAX || OBMT_RBATCH_BYTES > (1 << 20)
#error "a remote batch must hold at least two blocks of the largest class (and at most 1 MiB)"
#endif
#if OBMT_POP_PREFETCH_STRIDES < 0 || OBMT_POP_PREFETCH_STRIDES > 64
#error "OBMT_POP_PREFETCH_STRIDES is 0 (the new head only) to 64"
#endif
#if OBMT_KEEP_EMPTY_POOLS_MAX < 0 || OBMT_KEEP_EMPTY_POOLS_MAX > 1024
#error "OBMT_KEEP_EMPTY_POOLS_MAX is 0 to 1024 pools (a 16-bit field)"
#endif
#if OBMT_KEEP_FREE_ARENAS < 0 || OBMT_KEEP_EMPTY_POOLS < 0
#error "hysteresis counts cannot be negative"
#endif
_Static_assert(OBMT_HEAP_CHUNK_SHIFT >= 0 && OBMT_HEAP_CHUNK_SHIFT <= 12,
               "a heap chunk holds 1..4096 heaps (a power of two: heap_at splits an index with a shift)");
_Static_assert(OBMT_HEAP_TABLE_SHIFT < 31, "heap index + 1 fits the free-heap stack's 32-bit field");
#if OBMT_PURGE_DELAY_MS < -1 || OBMT_PURGE_DELAY_MS > 3600000
#error "the purge delay is -1 (never), or 0..3600000 ms"
#endif

#endif /* OBMT_TUNABLES_H */
