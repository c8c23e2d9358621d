/*
 * internal.h: the map of obmt. One section per source file, bottom-up:
 * os.c, arena.c, pool.c, heap.c, remote.c, shared.c, large.c, stats.c, init.c,
 * api.c.
 *
 * ==== Allocation strategy abstract ========================================
 *
 * obmt is CPython's obmalloc made multi-threaded without locks.
 *
 * Requests of 1..512 bytes are rounded up to a multiple of 16 (obmalloc's
 * classes); 513..8192 bytes to one of fifteen coarse classes whose blocks
 * fill a pool exactly. Both are served from *pools*: 32 KiB pages of blocks
 * of one size class. Larger requests are medium blocks (spans of whole
 * pools, span.c) up to OBMT_MEDIUM_MAX and huge blocks (runs of whole
 * arenas, huge.c) above; obmalloc passed them to the system malloc. With
 * the default 32 KiB pools:
 *
 *     request (bytes)   size class   block size   blocks per pool
 *         0..16             0            16            2048
 *        17..32             1            32            1024
 *          ...             ...          ...             ...
 *       497..512           31           512              64
 *       513..672           32           672              48
 *       673..816           33           816              40
 *       817..1024          34          1024              32
 *      1025..1168          35          1168              28
 *      1169..1360          36          1360              24
 *      1361..1632          37          1632              20
 *      1633..2048          38          2048              16
 *      2049..2336          39          2336              14
 *      2337..2720          40          2720              12
 *      2721..3264          41          3264              10
 *      3265..4096          42          4096               8
 *      4097..4672          43          4672               7
 *      4673..5456          44          5456               6
 *      5457..6544          45          6544               5
 *      6545..8192          46          8192               4
 *
 * A pool is all blocks; its 128-byte header (struct pool_header) lives out
 * of line, in a dense array beside the arenas (pool_of). Its blocks are
 * carved lazily (nextoffset/maxnextoffset), and a freed block holds in its
 * first word the next free block of the pool (freeblock list).
 *
 * Pools live in *arenas*: 2 MiB, arena-aligned slices of one address range
 * reserved at start-up. A pointer is obmt's iff it falls in the committed
 * part of that range: one subtraction and one compare, no memory read.
 * Each arena has an arena_object with one 64-bit state word (free pool
 * count, head of its free-pool stack, next virgin pool, flags, generation),
 * changed only by compare-and-swap: taking and returning pools is
 * lock-free and the generation defeats ABA.
 *
 * Arenas with free pools are found through 64 buckets, one per value of
 * nfreepools, each a bitmap over arena slots. A thread wanting a pool scans
 * the buckets from the fullest arena up (obmalloc's usable_arenas order, so
 * that the emptiest arenas drain), and re-filing an arena when a pool comes
 * back is O(1): clear one bit, set another (obmalloc's nfp2lasta idea).
 * Memory goes back to the OS after a delay: once an arena has had no pool
 * back for OBMT_PURGE_DELAY_MS, its free pools' pages are given back
 * (MADV_DONTNEED), and if it is wholly free it is decommitted, keeping
 * OBMT_KEEP_FREE_ARENAS wholly free arenas resident as hysteresis.
 *
 * Every thread has a *heap* (thread cache): its own usedpools[] per class,
 * the obmalloc fast path. A pool with live blocks belongs to one heap.
 * The owner's malloc and free take no lock and do no atomic
 * read-modify-write. Another thread's free joins that thread's batch for
 * the pool (remote.c); a batch of blocks is pushed onto the pool's `remote`
 * list with one CAS when it fills, when its slot is wanted by another pool,
 * or at the freeing thread's tick, collect, exit or fork. The owner takes
 * the whole list back when the pool runs dry.
 *
 * A pool with live blocks may also belong to no heap: its thread exited, or
 * its heap's collect found it at most a quarter used (Hoard's emptiness
 * threshold). It then waits on the *shared level*, a bitmap per class
 * (shared.c), and a malloc of that class in any thread takes it before it
 * takes a fresh pool from an arena.
 *
 * ==== Pool life cycle ======================================================
 *
 *   FREE ─(owner takes it from arena)──────────────▶ USED
 *   USED ─(owner: last block out, remote list empty,
 *          CAS remote 0 → FULL flag)───────────────▶ FULL
 *   FULL ─(owner frees into it; no atomic: FULL
 *          stays set in `remote`)──────────────────▶ ARMED (at the back of
 *                                                    usedpools: it gathers
 *                                                    frees while the pools
 *                                                    ahead of it serve)
 *   ARMED ─(owner: local list runs dry again and
 *           `remote` still reads FULL)─────────────▶ FULL, no atomic RMW
 *   ARMED ─(another thread's hand-over clears FULL and pushes the pool on
 *           the owner's `returned`; the owner sees it when the pool runs
 *           dry or arrives)────────────────────────▶ PENDING, then placed
 *   ARMED ─(owner: ref.count reaches 0; CAS FULL → 0,
 *           which cannot fail: no block is out)────▶ USED (the sole pool
 *                                                    of its class) or EMPTY
 *   FULL ─(other thread hands a batch over to it: its CAS clears FULL;
 *          it pushes the pool on the owner's `returned` stack)──▶ PENDING
 *   PENDING ─(owner drains `returned`)─────────────▶ USED (or EMPTY)
 *   USED ─(owner: ref.count reaches 0)─────────────▶ EMPTY (kept in heap)
 *   EMPTY ─(owner: more than OBMT_KEEP_EMPTY_POOLS)▶ FREE (back in arena)
 *   FREE ─(purge: arena idle for the delay)────────▶ FREE, pages given back
 *   USED/FULL/ARMED ─(owner thread exits: owner=ABANDONED (ARMED: CAS FULL → 0 first),
 *               CAS sets ABANDONED flag)───────────▶ ABANDONED
 *   ABANDONED ─(any thread hands a batch over to it: CAS
 *               clears the flag, takes the remote list)▶ USED in that thread's heap
 *   USED/ARMED ─(its heap's collect: not the head of its class, at most a
 *                quarter of its blocks out; ARMED: CAS FULL → 0 first)
 *               ────────────────────────────────────▶ ABANDONED, and (as an
 *                abandoned pool with a free block at exit) marked in the
 *                shared bitmap of its class (shared.c)
 *   ABANDONED ─(a malloc of its class finds it in the shared bitmap: CAS
 *               clears the flag, takes the remote list)▶ USED in that thread's heap
 *   USED, or on `returned` ─(a lender of its idle heap: count 0, or every
 *               block out on the remote list: CAS takes it)▶ FREE (lend.c)
 *
 * The state byte in the header is owner-only; the flags in `remote` are the
 * shared truth (see the synchronisation table in struct pool_header).
 *
 * ARMED is why a pool at the edge of full costs no atomic: a thread whose
 * pools are nearly full (larson's steady state) frees into a FULL pool and
 * mallocs it full again over and over. A CAS to clear FULL on that free and
 * one to set it on that malloc were a quarter of larson's time. Now FULL
 * stays set while the pool is ARMED, and when it runs dry again a load of
 * `remote` that still reads FULL (no other thread freed into it) means FULL
 * is still right.
 */
#ifndef OBMT_INTERNAL_H
#define OBMT_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdnoreturn.h>

#include "tunables.h"
#include "atomic.h"
#include "obmt.h"
#include "valgrind.h"

#define OBMT_HIDDEN __attribute__((visibility("hidden")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define OBMT_NOINLINE __attribute__((noinline))
/* malloc's and free's entry points start on a 64-byte line: where the
 * linker put them otherwise moved with every change elsewhere in the
 * library, and their fast paths' speed with it (a change that added no
 * instruction to either cost fastpath_lifo 5-7%; aligned, both builds ran
 * level: bench/results/2026-12-02-bstack-grow.md). */
#define OBMT_FAST_ENTRY __attribute__((aligned(64)))
#define OBMT_TLS __attribute__((tls_model("initial-exec"))) __thread

/* Built with ThreadSanitizer (gcc says it one way, clang the other). */
#if defined(__SANITIZE_THREAD__)
#define OBMT_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OBMT_UNDER_TSAN 1
#endif
#endif
#ifndef OBMT_UNDER_TSAN
#define OBMT_UNDER_TSAN 0
#endif

struct heap;

/* ==== os.c: the only file that talks to the kernel ======================== */

/* Reserve `size` bytes aligned to `align`, PROT_NONE, not charged to commit.
 * Returns NULL on failure. Never calls malloc. */
OBMT_HIDDEN void *os_reserve(size_t size, size_t align);
/* Map `size` bytes readable, writable and zero, page-aligned (the heap
 * table's chunks). NULL on failure. Fails as a commit does under the test
 * hook os_fail_commits. Never calls malloc. */
OBMT_HIDDEN void *os_map(size_t size);
/* Map `size` bytes readable, writable and zero, not charged to commit
 * (MAP_NORESERVE): the per-slot tables, mostly never touched. NULL on
 * failure. Init only. */
OBMT_HIDDEN void *os_map_table(size_t size);
/* Unmap what os_map gave. 0 on success, else errno. */
OBMT_HIDDEN int os_unmap(void *p, size_t size);
/* Map [p, p+size) readable (and writable) and zero, only if nothing is
 * mapped there (MAP_FIXED_NOREPLACE): 0, EEXIST (a mapping is there
 * already: foreign, or one of ours), ENOTSUP (the kernel cannot place a
 * mapping without replacing: nothing was mapped), or another errno
 * (ENOMEM: RLIMIT_AS or the commit limit). Fails as a commit does under
 * the test hook os_fail_commits. */
OBMT_HIDDEN int os_map_fixed(void *p, size_t size, bool writable);
/* Is nothing mapped in [p, p+size)? Probed with MAP_FIXED_NOREPLACE, a
 * piece at a time, and unmapped again (init only). A piece the OS refuses
 * for want of memory (RLIMIT_AS) is taken for free: nothing says otherwise. */
OBMT_HIDDEN bool os_range_free(void *p, size_t size);
/* Is anything mapped at the page of p? One system call (error paths only). */
OBMT_HIDDEN bool os_is_mapped(const void *p);
/* Make [p, p+size) readable and writable. 0 on success, else errno. */
OBMT_HIDDEN int os_commit(void *p, size_t size);
/* Give [p, p+size) back with its commit charge: pages and charge go, the
 * range reads as zeros and is not writable until os_commit. */
OBMT_HIDDEN int os_release(void *p, size_t size);
/* Make [p, p+size) inaccessible (guard pages; giving up a failed commit).
 * 0 on success, else errno. */
OBMT_HIDDEN int os_guard(void *p, size_t size);
/* Give the pages of [p, p+size) back; the range stays mapped, reads give zeros. */
OBMT_HIDDEN int os_decommit(void *p, size_t size);
/* Transparent huge pages of the arenas' size, as the kernel offers them to
 * anonymous memory (/sys/kernel/mm/transparent_hugepage: enabled, or
 * hugepages-2048kB/enabled where it does not say inherit; never unless
 * hpage_pmd_size is the arena size), read once by os_thp_init before
 * READY: never (or no such file), only where advised, or always. */
enum os_thp { OS_THP_NEVER, OS_THP_MADVISE, OS_THP_ALWAYS };
OBMT_HIDDEN void os_thp_init(void);
OBMT_HIDDEN enum os_thp os_thp_mode(void);
/* Advise [p, p+size) for huge pages (MADV_HUGEPAGE), or withdraw the advice
 * (MADV_NOHUGEPAGE: nor does khugepaged fill the range). 0, else errno. */
OBMT_HIDDEN int os_advise_huge(void *p, size_t size, bool huge);
/* Write a message to stderr and abort. Formats one pointer with %p. */
OBMT_HIDDEN noreturn void os_fatal(const char *what, const void *ptr, const char *why);
/* Test hook: fail the next n commits with ENOMEM (tests of out-of-memory).
 * Only in the obmt-test library (OBMT_TEST_HOOKS), never in those users link. */
#ifndef OBMT_TEST_HOOKS
#define OBMT_TEST_HOOKS 0
#endif
#if OBMT_TEST_HOOKS
OBMT_HIDDEN extern int os_fail_commits;
OBMT_HIDDEN extern int os_noreplace_ignored;
#endif
/* A coarse monotonic clock in milliseconds (wraps every 49 days; compare
 * differences as int32_t). vDSO, no system call, no allocation. */
OBMT_HIDDEN uint64_t os_now_ms(void);

/* ==== options.c: run-time options (OBMT_<NAME> environment variables) ===== */

enum obmt_option {
    OPT_VERBOSE,          /* 1: warnings; 2: also the options at start-up */
    OPT_SHOW_STATS,       /* at exit, to stderr: 1 text, 2 JSON */
    OPT_KEEP_EMPTY_POOLS, /* empty pools a thread keeps (OBMT_KEEP_EMPTY_POOLS) */
    OPT_KEEP_FREE_ARENAS, /* wholly free arenas kept resident (OBMT_KEEP_FREE_ARENAS) */
    OPT_PURGE_DELAY_MS,   /* free pools' pages go back after this idle time; -1 never */
    OPT_RESERVE_MIB,      /* the address window's size (fixed at start-up) */
    OPT_RESERVE_EAGER,    /* 1: reserve the whole window at start-up (legacy mode, window.c) */
    OPT_BACKGROUND_THREAD, /* 1: a thread runs the time-based purging (background.c) */
    OPT_STATS_INTERVAL_MS, /* > 0: that thread appends statistics to OBMT_STATS_FILE this often */
    OPT_STATS_MAP,        /* 1: the JSON statistics carry the arena map (obmt_arena_map) */
    OPT_LEND_IDLE,        /* 1: the reclaim pass collects idle threads' heaps for them (lend.c) */
    OPT_BLOCK_STACK,      /* the most blocks a heap stacks per class (bstack.c); 0: none (fixed at start-up) */
    OPT_HUGE_PAGES,       /* 1: huge blocks' runs are advised for transparent huge pages (arena.c) */
    OPT_COUNT
};
/* g_options: written by options_init (before init publishes READY) and by
 * obmt_option_set, relaxed; read relaxed. Options are hints for slow-path
 * decisions, ordered with nothing else. */
OBMT_HIDDEN extern long g_options[OPT_COUNT];
/* OBMT_STATS_FILE: written once by options_init, before READY (release). */
OBMT_HIDDEN extern char g_stats_file[256];
static inline long option_get(enum obmt_option o) { return obmt_load_relaxed(&g_options[o]); }
OBMT_HIDDEN void options_init(void);
OBMT_HIDDEN void options_print(void (*out)(const char *line, void *arg), void *arg);

/* ==== window.c: the address window, mapped slot by slot ================== */

/* Choose the window (on demand: an unmapped range, each slot mapped when
 * used) or reserve it (legacy mode), `want` bytes or, in legacy mode,
 * halved while the OS refuses. want 0: the default size (tunables.h,
 * OBMT_RESERVE_SHIFT; window_auto_size). false: no window at all. Init
 * only. */
OBMT_HIDDEN bool window_reserve(size_t want, uintptr_t *base, uintptr_t *meta, size_t *size);
/* Init failed after window_reserve: give back what legacy mode reserved. */
OBMT_HIDDEN void window_release(uintptr_t base, uintptr_t meta, size_t size);
OBMT_HIDDEN bool window_on_demand(void);
/* The on-demand window's default size: twice the machine's RAM and swap,
 * rounded up to a power of two, within [1 << OBMT_RESERVE_AUTO_SHIFT,
 * 1 << OBMT_RESERVE_SHIFT]; under a finite RLIMIT_AS, the power of two at
 * or above four times the limit if that is less (at least
 * 1 << OBMT_RESERVE_MIN_SHIFT). */
OBMT_HIDDEN size_t window_auto_size(void);
/* The per-slot tables of each file, for a window of nslots slots: the
 * bytes they need (a multiple of 64), and placing them at mem (zero,
 * 64-byte aligned). init.c maps them all as one range, after
 * window_reserve and before any slot is used; each pointer is written
 * once, before READY (arena_init's stores of the window come after), and
 * read after it: the acquire of READY, or the program's synchronisation
 * with a thread that saw it, orders them. The exception is window_owns,
 * reached by free of a foreign pointer, which reads g_slot_map's pointer
 * (relaxed) and takes NULL for "not obmt's". */
OBMT_HIDDEN size_t window_tables_bytes(size_t nslots);
OBMT_HIDDEN void window_tables_place(char *mem, size_t nslots);
OBMT_HIDDEN size_t arena_tables_bytes(size_t nslots);
OBMT_HIDDEN void arena_tables_place(char *mem, size_t nslots);
OBMT_HIDDEN size_t span_tables_bytes(size_t nslots);
OBMT_HIDDEN void span_tables_place(char *mem, size_t nslots);
OBMT_HIDDEN size_t shared_tables_bytes(size_t nslots);
OBMT_HIDDEN void shared_tables_place(char *mem, size_t nslots);
#define TABLE_ROUND(n) (((n) + 63) & ~(size_t)63)
/* g_slot_map bits (window.c): set once each by the slot's holder. */
#define SLOT_HDR  1u /* headers' slice mapped (for good) */
#define SLOT_MEM  2u /* memory mapped by obmt: pointers into it are obmt's (cleared when unmapped) */
#define SLOT_HOLE 4u /* published as a HOLE: a foreign mapping over its memory or headers */
/* The slot's holder: map its headers' slice (once; then committed_end is
 * moved over every ready slot). 0, EEXIST (a foreign mapping there: the
 * slot is a HOLE, and committed_end stops below it for good) or ENOMEM. */
OBMT_HIDDEN int window_map_headers(size_t slot);
/* The slot's holder: make its memory readable and writable, mapping it if
 * obmt has not (or no longer has: window_release_memory). 0, EEXIST (a
 * foreign mapping is there: the caller publishes the slot as a HOLE), or
 * ENOMEM. */
OBMT_HIDDEN int window_map_memory(size_t slot);
/* The child after fork, for a taken slot whose taker is not in it: map its
 * headers if nobody did; true if this did (the slot is then the caller's). */
OBMT_HIDDEN bool window_adopt_orphan(size_t slot);
/* The holder of a wholly free arena's slot: give its memory back to the
 * OS, address space included on demand (SLOT_MEM cleared); 0 or errno. */
OBMT_HIDDEN int window_release_memory(size_t slot);
/* The slot's holder publishes it as a HOLE (its state word UNUSABLE). */
OBMT_HIDDEN void window_mark_hole(size_t slot);
/* Move committed_end over the ready slots from it (the fork child). */
OBMT_HIDDEN void window_advance_end(void);
/* Does the kernel honour MAP_FIXED_NOREPLACE? One probe (init, tests). */
OBMT_HIDDEN bool window_noreplace_works(void);
OBMT_HIDDEN bool window_slot_hole(size_t slot);
OBMT_HIDDEN size_t window_holes(void);
/* Is p in a slot whose memory obmt mapped? Any thread; one byte load. The
 * answer for the entry points' slow paths: a pointer above committed_end
 * (a slot ready above a slower taker's gap) or in a HOLE below it. */
OBMT_HIDDEN bool window_owns(const void *p);
/* A pointer on its way to the underlying allocator: abort if it lies in
 * the window where nobody else's mapping is (what = "free(): ..."). */
OBMT_HIDDEN void window_check_foreign(const void *p, const char *what);

/* ==== arena.c: arenas, their state words and the nfreepools buckets ======= */

/* g_hot: the words every free and realloc reads, on a cache line of their
 * own. Nothing on it is written after start-up but committed_end (a new
 * arena, rarely), so the line stays shared in every core's cache; the
 * counters that slow paths write (bucket summary, purge clock, committed
 * arenas) live elsewhere (the read-mostly item of issue 13).
 *  base_xor (the arenas' base, disguised: in the clear it would point at
 *  the first block of the first pool, and memcheck would count a leaked
 *  block there as reachable; arena_base() reads it), base_neg (= 0 - base),
 *  reserved: written once by init (before
 *  g_init_state = READY, release); read relaxed everywhere after an acquire
 *  of g_init_state or a block handed over through the user's own
 *  synchronisation. Before init every one is 0: arena_contains is false.
 *  committed_end: bytes from base of the prefix of slots whose headers are
 *  mapped (window.c, window_advance: CAS seq_cst); grows monotonically,
 *  read relaxed. Any pointer below it has a readable header; a block above
 *  it (its slot ready above a slower taker's gap) is recognised by
 *  window_owns in the slow paths.
 *  meta, meta_by_addr: the array of pool headers (pool_of); written once by
 *  init before READY, read like base.
 *  free_key: the per-process secret that marks a free block (pool.c, "Free
 *  keys"); link_key: the one that encodes free blocks' links in secure mode
 *  (0 otherwise). Both written once by init before READY, read relaxed. */
struct obmt_hot {
    uintptr_t base_neg;
    size_t committed_end;
    uintptr_t base_xor;          /* base ^ OBMT_BASE_XOR: arena_base() */
    size_t reserved;
    uintptr_t free_key;
    uintptr_t link_key;
    uintptr_t meta;              /* the pool headers (pool_of) */
    uintptr_t meta_by_addr;      /* meta - (base >> 8): pool_of from an address */
    char pad_[64 - 8 * sizeof(uintptr_t)];
};
_Static_assert(sizeof(struct obmt_hot) == 64, "g_hot is one cache line");
OBMT_HIDDEN extern struct obmt_hot g_hot;
#define OBMT_BASE_XOR ((uintptr_t)0x5a5a000000000000u)
static inline uintptr_t arena_base(void) { return obmt_load_relaxed(&g_hot.base_xor) ^ OBMT_BASE_XOR; }

typedef struct pool_header pool_header;

/* base: the arenas' reservation; meta: that of their pool headers, 128
 * bytes a pool (pool_of). */
OBMT_HIDDEN void arena_init(void *base, size_t reserved, void *meta);
/* Take an empty pool from the fullest arena that has one (or a new arena).
 * Any thread; lock-free. NULL when the reservation is exhausted or the OS
 * refuses memory (errno = ENOMEM). */
OBMT_HIDDEN pool_header *arena_take_pool(void);
/* Give an empty pool (no live blocks, owner cleared) back to its arena. Any
 * thread; lock-free. Decommits the arena if it becomes wholly free and
 * enough free arenas are already kept. */
OBMT_HIDDEN void arena_give_pool(pool_header *p);

struct obmt_arena_counts {
    size_t slots_used;    /* arena slots used: the frontier (see g_slots_used) */
    size_t committed;     /* arenas whose memory is committed now */
    size_t committed_hwm; /* highest value of committed */
    size_t free_pools;    /* free pools in committed arenas */
    size_t decommits;     /* arenas given back to the OS */
    size_t huge;          /* arenas held by huge blocks (huge.c) */
};
OBMT_HIDDEN void arena_counts(struct obmt_arena_counts *out);
/* Call fn(p, arg) for every pool of the committed arenas that has been
 * handed out at least once (free or not). Any thread, while others run: fn
 * may read only the header fields written atomically (owner, szidx, count,
 * remote), and must expect zeros. */
OBMT_HIDDEN void arena_walk_pools(void (*fn)(const pool_header *p, void *arg), void *arg);
/* Purge: give back the pages of free pools in arenas that have had no pool
 * back for OPT_PURGE_DELAY_MS, and decommit wholly free arenas beyond those
 * kept. Runs at most every delay/4 from the pool slow paths; `now` forces a
 * pass over every arena with free pools (obmt_collect). */
OBMT_HIDDEN void arena_maybe_purge(bool now);
OBMT_HIDDEN void arena_maybe_purge_at(uint64_t t); /* (false), with the time the caller read */
/* Fork: prepare waits for a running purge pass and holds others off until
 * the parent or child handler lets them run again. */
OBMT_HIDDEN void arena_atfork_prepare(void);
OBMT_HIDDEN void arena_atfork_parent(void);
OBMT_HIDDEN void arena_atfork_child(void);
/* The arena map (stats.c): arena slots used so far, and for one slot the
 * index of its first virgin pool (pools from there on were never used), -1
 * if the arena is not committed now (decommitted, being set up or committed
 * again, or failed), or -2 if it is part of a huge block's run. Any thread; a snapshot of the state word. */
OBMT_HIDDEN size_t arena_slots_used(void);
/* The same with a seq_cst load (a scan ordered after earlier seq_cst steps). */
OBMT_HIDDEN size_t arena_slots_used_sc(void);
OBMT_HIDDEN int arena_slot_virgin(size_t slot);
/* Free pools whose pages the purge gave back, since start-up. */
OBMT_HIDDEN uint64_t arena_pools_purged(void);
/* Pool index of p inside its arena, arena slot of p. */
static inline size_t arena_slot_of(uintptr_t p) { return (p - arena_base()) >> OBMT_ARENA_SHIFT; }

/* Is p inside obmt's committed arenas? O(1), reads no memory at p. (An add
 * of g_hot.base_neg rather than a subtract of the base: the compiler then needs no
 * copy of p, which free's fast path still uses.) */
static inline bool arena_contains(const void *p)
{
    return (uintptr_t)p + obmt_load_relaxed(&g_hot.base_neg) < obmt_load_relaxed(&g_hot.committed_end);
}
/* May p's pool header be read: p in the committed arenas (a HOLE there
 * included: its header reads zero), or in a slot obmt mapped above them? */
static inline bool pool_header_readable(const void *p)
{
    return arena_contains(p) || window_owns(p);
}

/* Runs of whole arenas (huge.c): take k adjacent arenas, committed, marked
 * HUGE, their headers reset; the first slot, or SIZE_MAX with errno ENOMEM
 * (reservation exhausted, or the OS refused memory). *zero: the run reads
 * zeros. Give them back wholly free (aborts on an arena that is not HUGE:
 * a double free). Any thread; lock-free. */
OBMT_HIDDEN size_t arena_take_run(size_t k, bool *zero);
/* The same for a huge block (huge.c), from a slot congruent to res modulo
 * step (1 and 0: any; an alignment above the arena's: huge_malloc_aligned;
 * the slots skipped at the frontier are left wholly free), advised for
 * huge pages, and, where it faults arenas in, after giving back resident
 * free arenas beyond the slack (arena.c, "huge pages for runs"). Span
 * arenas take plain runs: their pools fault in one by one as spans use
 * them, and the purge gives back only the pools spans used. */
OBMT_HIDDEN size_t arena_take_huge_run(size_t k, size_t step, size_t res, bool *zero);
OBMT_HIDDEN void arena_give_run(size_t first, size_t k);
/* The same, as if given back at time t (os_now_ms: the purge counts its
 * delay from there). */
OBMT_HIDDEN void arena_give_run_at(size_t first, size_t k, uint64_t t);
/* Grow the huge block's run [first, first+k) in place to k2 > k arenas,
 * with the wholly free arenas after it and, where it reaches the frontier,
 * fresh slots (advised as arena_take_huge_run's): true, or false with
 * nothing changed (an arena after it is in use, or the OS refused memory).
 * The caller holds the run. */
OBMT_HIDDEN bool arena_grow_run(size_t first, size_t k, size_t k2);
/* os_decommit for pages of an arena (within one arena): withdraws the
 * arena's huge-page advice first, if a run left it there (arena.c, "huge
 * pages for runs"). Every partial give-back of arena memory goes through
 * here. */
OBMT_HIDDEN int arena_decommit_pages(void *p, size_t size);
/* The arena in `slot`, held by the caller (a new span arena) or wholly free
 * until the caller's pop (its first pool), stops serving huge blocks: its
 * huge-page advice, if a run left it there, is withdrawn, so that its
 * pools and spans fault in 4 KiB at a time as they are used. */
OBMT_HIDDEN void arena_thp_leave(size_t slot);
#if OBMT_TEST_HOOKS
OBMT_HIDDEN extern int arena_run_fail_claim;
OBMT_HIDDEN size_t arena_test_stall_slot(void);
OBMT_HIDDEN void arena_test_unstall_slot(size_t slot);
#endif

/* ==== pool.c: size classes, the pool header, carving and remote frees ===== */

/*
 * A free block: its first word links it into its pool's free list (or a
 * remote list or batch), its second holds the free key, g_hot.free_key, a
 * per-process secret (odd, so never a pointer; from the kernel's AT_RANDOM
 * bytes). Every free writes it (with the link) and malloc clears it (the
 * word is never handed out holding the secret), so free tells a block that
 * is free already from a live one with one load and compare, whatever its
 * place in the list: glibc's tcache key. A live block whose second word
 * equals the secret by chance (the program wrote it there: 2^-64 for data
 * not copied out of a free block) is not taken for a free one unless its
 * first word is also a link (NULL or a block of its pool): block_is_free.
 * Blocks are at least 16 bytes, so both words are the block's own. A link
 * that another thread wrote into a remote batch also carries a prefetch
 * hint in its top 16 bits (remote.c, "Hints"; link_ptr and link_hint
 * below): part of an address, never followed, only prefetched.
 */
typedef struct block {
    struct block *next;
    uintptr_t key;
} block;

/* Secure mode: a link is stored as next ^ mask(b), where the mask mixes the
 * block's own address with a per-process secret, so that a program that
 * writes over a free block cannot aim the next malloc at an address of its
 * choosing without first reading the secret out of obmt; and every link
 * followed is checked to be NULL or a block of the same pool (an abort
 * otherwise). glibc's safe-linking has no secret (the mask is b >> 12). */
static inline uintptr_t link_mask(const block *b)
{
    if (!OBMT_SECURE)
        return 0;
    return ((uintptr_t)b ^ obmt_load_relaxed(&g_hot.link_key)) * (uintptr_t)0x9e3779b97f4a7c15u;
}
/* Secure mode: a decoded link that is neither NULL nor a block of b's pool. */
OBMT_HIDDEN noreturn __attribute__((cold)) void block_link_corrupt(const block *b);

/* The link word of a free block, for obmt's own reads and writes. Under
 * valgrind (OBMT_VALGRIND) a free block is NOACCESS and the words are
 * opened for the one access only (valgrind.h); otherwise plain b->next.
 * block_next_raw decodes without the secure-mode check.
 *
 * Remote chains' prefetch hints (remote.c, "Hints"): outside secure mode
 * a link's bits from LINK_HINT_SHIFT up hold the low 16 bits of the
 * address of a block further down the chain (0 where nobody wrote one:
 * carving, the owner's frees, a splice). Every block lies below 2^48
 * (init.c refuses a reservation above, as the remote word's pointer
 * needs: REMOTE_PTR), so the link itself is the bits below; link_ptr
 * takes them, and link_hint puts the hint in the popped block's 64 KiB
 * frame.
 * Secure mode encodes whole words (link_mask) and has no hints. */
#define BLOCK_HINTS (!OBMT_SECURE && OBMT_REMOTE_HINT_DISTANCE > 0)
#define LINK_HINT_SHIFT 48
_Static_assert(OBMT_POOL_SHIFT <= 64 - LINK_HINT_SHIFT, "a hint's bits hold an offset in a pool");
static inline uintptr_t block_link_word(block *b)
{
    VG_DEFINED(b, sizeof *b);
    uintptr_t w = (uintptr_t)b->next ^ link_mask(b);
    VG_NOACCESS(b, sizeof *b);
    return w;
}
static inline block *link_ptr(uintptr_t w)
{
    return (block *)(BLOCK_HINTS ? w & (((uintptr_t)1 << LINK_HINT_SHIFT) - 1) : w);
}
static inline block *block_next_raw(block *b)
{
    return link_ptr(block_link_word(b));
}
static inline uintptr_t link_hint(const block *b, uintptr_t w)
{
    /* (bit 0 stays set: the same line) */
    return ((uintptr_t)b & ~(((uintptr_t)1 << (64 - LINK_HINT_SHIFT)) - 1)) | (w >> LINK_HINT_SHIFT);
}
static inline bool pool_is_carved_block_of(const pool_header *p, const block *b, const block *next);
/* The link of b, a free block of pool p (its header: the owner's, who alone
 * follows links: pool_pop, pool_take_list). */
static inline block *block_next_checked(const pool_header *p, block *b, block *next)
{
    if (OBMT_SECURE && next && unlikely(!pool_is_carved_block_of(p, b, next)))
        block_link_corrupt(b);
    return next;
}
static inline block *block_next(const pool_header *p, block *b)
{
    return block_next_checked(p, b, block_next_raw(b));
}
static inline void block_set_next(block *b, block *next)
{
    VG_DEFINED(b, sizeof *b);
    b->next = (block *)((uintptr_t)next ^ link_mask(b));
    VG_NOACCESS(b, sizeof *b);
}
/* Store a link word (a block's address, maybe with a hint above it) and
 * the key into b: its two words as a free block. */
static inline void block_store_free(block *b, uintptr_t link, uintptr_t key)
{
    VG_DEFINED(b, sizeof *b);
    b->next = (block *)(link ^ link_mask(b));
    b->key = key;
    VG_NOACCESS(b, sizeof *b);
}
/* Make b a free block: its link and the free key (key = g_hot.free_key,
 * loaded by the caller, which also compares with it). */
static inline void block_set_free(block *b, block *next, uintptr_t key)
{
    block_store_free(b, (uintptr_t)next, key);
}
/* The same, for a remote batch: with hint's low bits above the link, and
 * its bit 0 set (a block's address has it clear), so that a hint at the
 * start of a 64 KiB frame is not taken for none (none in secure mode,
 * whose callers pass NULL). */
static inline void block_set_free_hint(block *b, block *next, uintptr_t key, const block *hint)
{
    block_store_free(b, (uintptr_t)next | (BLOCK_HINTS ? ((uintptr_t)hint | 1) << LINK_HINT_SHIFT : 0), key);
}
static inline uintptr_t free_key(void) { return obmt_load_relaxed(&g_hot.free_key); }
/* Does b (a block start of a pool the caller may read) carry the free key? */
static inline bool block_has_key(block *b, uintptr_t key)
{
    VG_DEFINED(&b->key, sizeof b->key);
    bool has = b->key == key;
    VG_NOACCESS(&b->key, sizeof b->key);
    return has;
}
/* The same for a block the program still holds as far as memcheck knows
 * (realloc): under valgrind memcheck reports the use of a freed block
 * itself, and opening and closing the word would take it from the program. */
static inline bool block_has_key_live(block *b, uintptr_t key)
{
    return !OBMT_VALGRIND && b->key == key;
}
/* Hand b out: the secret leaves the block (malloc's side of the key), and
 * in secure mode the encoded link too (with the next block's address, which
 * the next malloc returns, it would give the link key away). */
static inline void block_clear_key(block *b)
{
    VG_DEFINED(b, sizeof *b);
    if (OBMT_SECURE)
        b->next = NULL;
    b->key = 0;
    VG_NOACCESS(b, sizeof *b);
}

enum pool_state { /* owner-only view, see the life cycle above */
    POOL_FREE = 0, /* in its arena's free-pool stack */
    POOL_USED,     /* in owner->usedpools[szidx]; freeblock != NULL */
    POOL_FULL,     /* in owner->fullpools; REMOTE_FULL set */
    POOL_PENDING,  /* in owner->fullpools; a freer cleared FULL and hands it back */
    POOL_EMPTY,    /* in owner->emptypools */
    POOL_ABANDONED, /* in no list: its thread exited, or it is being adopted */
    POOL_ARMED     /* in owner->usedpools with REMOTE_FULL still set, unless another thread's
                    * hand-over cleared it since: then the pool is on its way through `returned` */
};

/* pool_header.owner: a heap; OWNER_ABANDONED after its thread exited; NULL
 * when the pool is free in its arena (also what a decommitted pool reads). */
#define OWNER_ABANDONED ((struct heap *)(uintptr_t)1)
/* pool_header.owner of the first pool of a huge block's run (huge.c): never
 * a heap, so free's owner test fails and the slow path dispatches on it. */
#define OWNER_HUGE ((struct heap *)(uintptr_t)3)
/* ... of a medium block's first pool (span.c): the same. */
#define OWNER_SPAN ((struct heap *)(uintptr_t)2)
/* pool_header.nextpool of a live medium block's first pool (span.c; a
 * cached one's is its stack's link, never 1: spans are pool-aligned). */
#define SPAN_LIVE ((pool_header *)(uintptr_t)1)

/* pool_header.remote: bits 48..63 count the blocks on the list, bits 4..47
 * point to its head (user addresses are below 2^48 on x86-64 and arm64, and
 * init checks that the arenas are), the low bits are flags (blocks are
 * 16-aligned). The count lets the owner take the list without walking it:
 * it becomes the free list as it is, one cache miss per block saved. */
#define REMOTE_FULL      ((uintptr_t)1) /* owner found the pool full (it stays set while the pool is ARMED) */
#define REMOTE_ABANDONED ((uintptr_t)2) /* owner thread exited; first freer adopts the pool */
#define REMOTE_RECLAIMED ((uintptr_t)4) /* the reclaim pass found every block on the list and purged
                                         * the pool's pages in place: it is empty (reclaim.c) */
#define REMOTE_FLAGS     ((uintptr_t)15)
#define REMOTE_COUNT_SHIFT 48
#define REMOTE_COUNT_ONE ((uintptr_t)1 << REMOTE_COUNT_SHIFT)
#define REMOTE_PTR       ((REMOTE_COUNT_ONE - 1) & ~REMOTE_FLAGS)

/*
 * struct pool_header: at the start of every pool. Synchronisation table:
 *
 * field          writer                     how                     readers
 * -------------  -------------------------  ----------------------  ---------------------------
 * freeblock,     the owner heap's thread    plain                   owner only; handed to the
 * count, state,                                                     next owner by the release/
 * nextoffset,    (relaxed stores: remote    acquire that moves the pool
 * carved_bound   frees check carved_bound)
 * nextpool,                                                         (arena CAS, ABANDONED CAS,
 * prevpool                                                          `returned` push/exchange)
 * szidx, size,   the thread that takes the  plain, before any      any freer: the block reached
 * maxnextoffset, pool for a class           block is handed out    it through the user's own
 * recip
 *                                                                   synchronisation
 * owner          owner (take: relaxed;      release (except the    free: relaxed compare with
 *                give back: NULL; exit:     first store, before    its own heap (only the owner
 *                OWNER_ABANDONED), adopter  any block is out)      ever stores its own heap);
 *                (after its CAS)                                   remote free: acquire (NULL
 *                                                                   = pool is free: abort)
 * remote         any freer (push),          CAS acq_rel (push),    owner, adopter
 *                owner (take list, set      exchange/CAS acquire
 *                FULL; clear it on an       (take), CAS acq_rel
 *                ARMED pool that emptied,   (flags); the owner's
 *                or at exit, or in a fork   ARMED test: a relaxed
 *                child), exiting owner      load
 *                (set ABANDONED), adopter,  the reclaim pass:
 *                the reclaim pass (every    acquire load, CAS
 *                block on the list ->       acq_rel; the CAS that
 *                RECLAIMED; reclaim.c)      sets ABANDONED and a
 *                                           shared taker's load:
 *                                           seq_cst (shared.c)
 * returned_next  the freer that cleared     plain, before the       owner, after its acquire
 *                FULL; the reclaim pass     release push            exchange of heap->returned;
 *                (its stack's tail)                                 the pass after its CAS
 * (a free pool's link in its arena's free-pool stack is not here but in
 * the arena_object, so that a free pool's pages can all be purged)
 *
 * count and szidx are also read by obmt_stats_get's walk over the pools
 * (arena_walk_pools), so the owner writes them with relaxed stores: on x86-64
 * a load, add and store instead of one add to memory, the same micro-ops.
 * free's local push stores count with release (still a plain mov on
 * x86-64), its last write to the pool: a lender (lend.c, heap_collect_lent)
 * loads count with acquire while the owner may be in free's fast path, and
 * takes the pool only if every block out is on its remote list (CAS). The
 * lender also writes a taken pool's count, freeblock, state and owner, and
 * the list links of pools it unlinks or their neighbours, while the owner
 * is kept out of every other path (lend.c).
 *
 * ABA: `remote` is a Treiber push with a take-all pop (exchange): a pop never
 * compares against a head it read earlier, so ABA cannot arise. FULL is set
 * only by the owner while the list is empty and cleared by exactly one CAS
 * (a freer's push, or the owner's own CAS on an ARMED pool), so a pool
 * enters `returned` at most once per FULL episode; an ARMED pool whose FULL
 * a freer cleared is filed PENDING, never set FULL again, until it arrives.
 */
/* The fast path's fields are the header's second line, not its first: a
 * span, a huge block and a pool's first block start at a pool's first byte,
 * 4 KiB-aligned, and the headers of every 32nd pool start at an offset of
 * 0 modulo 4 KiB too, so a program's store to such a block's first bytes
 * and free's loads of the header's first line "4K-aliased": the loads
 * waited for the store (the CPU compares only an address's low 12 bits
 * before forwarding). A 64 KiB malloc / write / free loop took 2.4x as
 * long as with the lines swapped (0.37-0.50 -> 0.17-0.22 s for 20 M,
 * tcmalloc 0.14-0.17 s). The Google Benchmark rows do not write their
 * blocks and stay level (bench/results/2026-11-30-header-lines.md). */
struct pool_header {
    /* cache line 0: written by other threads */
    alignas(64) uintptr_t remote;  /* remote-free list | REMOTE_* flags */
    pool_header *returned_next;  /* link in owner->returned */
    /* a huge or medium block's head (huge.c, span.c): written by its
     * claimer before the block is handed out, read by whoever frees it or
     * asks its size (the block reached them through the program's own
     * synchronisation) */
    size_t huge_run;             /* arenas in its run (huge); pools in the span (medium) */
    /* cache line 1: the owner's fast path */
    alignas(64) block *freeblock; /* head of the local free list; NULL iff the pool is full */
    uint32_t count;              /* ref.count: blocks out (including those on `remote`) */
    uint16_t szidx;              /* size class */
    uint8_t state;               /* enum pool_state, owner-only */
    uint8_t unused;              /* (the block stack's bound, until it moved to the heap: bstack_cap) */
    pool_header *nextpool;       /* usedpools / full / empty list links (owner-only); a span's
                                  * head: SPAN_LIVE or its cache stack's link (span.c) */
    pool_header *prevpool;
    struct heap *owner;          /* owning heap, OWNER_ABANDONED, or NULL when free */
    uint32_t size;               /* block size in bytes */
    uint16_t nextoffset;         /* offset of the next virgin block */
    uint16_t maxnextoffset;      /* largest valid nextoffset */
    uint32_t recip;              /* pool_class_recip[szidx], for pool_is_block_start */
    uint32_t carved_bound;       /* pool_block_key of the next virgin block: keys below it are carved blocks */
    uint32_t count_span;         /* blocks per pool - 2: free's fast path takes count - 2 < count_span */
};

_Static_assert(sizeof(struct pool_header) == OBMT_HEADER_SIZE, "pool header size");
_Static_assert(OBMT_POOL_OVERHEAD == 0, "blocks start at a pool's first byte");

/*
 * Pool headers out of line: the header of the pool at address a is slot
 * (a - base) >> OBMT_POOL_SHIFT of g_hot.meta, an array of 128-byte
 * headers reserved beside the arenas (init.c) and committed arena by
 * arena (arena.c), so the 64 headers of an arena are 8 KiB of contiguous
 * lines. Headers at the start of their 32 KiB-aligned pools (obmalloc's
 * layout) all fell into one set of a 12-way L1 and four sets of a 16-way
 * L2, and evicted each other once a thread used a few dozen pools
 * (bench/results/larson-cache-2026-11-29.md). pool_of(p) is valid for any p
 * inside the arenas; pool_mem(h) gives the pool's first byte back.
 */
static inline pool_header *pool_of(const void *p)
{
    /* meta_by_addr = meta - (base >> 8): the header's address straight from
     * p's, so that free's lookup does not wait for its ownership test's add
     * (a shift, an and, and the add folds into the loads' addressing). A
     * plain read: written once before READY, and every reader got here
     * after an acquire of g_init_state or through a block obmt handed out. */
    uintptr_t i = ((uintptr_t)p >> (OBMT_POOL_SHIFT - OBMT_HEADER_SHIFT)) & ~(uintptr_t)(OBMT_HEADER_SIZE - 1);
    return (pool_header *)(g_hot.meta_by_addr + i);
}
static inline char *pool_mem(const pool_header *h)
{
    return (char *)(((uintptr_t)h - g_hot.meta_by_addr) << (OBMT_POOL_SHIFT - OBMT_HEADER_SHIFT));
}
/* The pool's number in the reservation (its header's index in g_hot.meta). */
static inline size_t pool_number(const pool_header *h)
{
    return ((uintptr_t)h - obmt_load_relaxed(&g_hot.meta)) >> OBMT_HEADER_SHIFT;
}
/* The class of a request: obmt_class_of[(n - 1) / 16] (fine classes are
 * the shift itself); the sizes in obmt_class_size[] (pool.c). */
OBMT_HIDDEN extern const uint8_t obmt_class_of[512];
OBMT_HIDDEN extern const uint32_t obmt_class_size[64];
static inline unsigned size_class(size_t n) /* n <= OBMT_SMALL_MAX */
{
    size_t m = n ? n - 1 : 0;
    return obmt_class_of[m >> OBMT_ALIGN_SHIFT];
}
static inline size_t class_size(unsigned c) { return obmt_class_size[c]; }
/* Blocks in a pool of class c. */
static inline uint32_t class_blocks(unsigned c)
{
    return (uint32_t)(OBMT_POOL_USABLE / class_size(c));
}

/* pool_class_recip[c] = floor(2^32 / size(c)) + 1; see pool.c. */
OBMT_HIDDEN extern const uint32_t pool_class_recip[64];

/*
 * Block keys: one multiply tells whether an address is the start of a block,
 * and which. For an address p in a pool whose blocks have size s and
 * m = recip = floor(2^32 / s) + 1, let x = p mod OBMT_POOL_SIZE (the offset
 * from the pool's first block: x < 2^16) and key = x * m mod 2^32. With
 * delta = s * m - 2^32, in
 * [1, s]:
 *   - if x = q * s (block q), key = q * delta: small, and increasing in q;
 *   - if x = q * s + r with 0 < r < s, key = q * delta + r * m >= m > 2^16
 *     (no wrap: r * m + q * delta < 2^32 - 2^32/s + s + 2^16 <= 2^32 for
 *     s <= 2^15).
 * So "key < n * delta" holds exactly for the starts of blocks 0 .. n-1: the
 * tail past them (q >= n) and interior pointers fail it. carved_bound is that bound for the carved blocks, and
 * free's whole validity test is one and, one multiply, one compare.
 */
_Static_assert(OBMT_POOL_SIZE <= 65536, "block keys need offsets below 2^16");
static inline uint32_t pool_block_key(const pool_header *pool, const void *p)
{
    uint32_t x = (uint32_t)(uintptr_t)p & (uint32_t)(OBMT_POOL_SIZE - 1);
    return x * pool->recip;
}

/* Is p the start of a block slot of `pool` (carved or not)? For any thread:
 * reads only fields fixed while the pool has blocks out. */
static inline bool pool_is_block_start(const pool_header *pool, const void *p)
{
    uint32_t x = (uint32_t)(uintptr_t)p & (uint32_t)(OBMT_POOL_SIZE - 1);
    if (x > pool->maxnextoffset) /* in the tail past the last block */
        return false;
    return pool_block_key(pool, p) < (1u << 16);
}

/* Is next a carved block of p, the pool of b? Secure mode's check of a link
 * followed from b, by the pool's owner (carved_bound is the owner's). */
static inline bool pool_is_carved_block_of(const pool_header *p, const block *b, const block *next)
{
    return (((uintptr_t)b ^ (uintptr_t)next) < OBMT_POOL_SIZE) && pool_block_key(p, next) < p->carved_bound;
}

/* Owner only: is p the start of a block that has been carved? */
static inline bool pool_is_carved_block(const pool_header *pool, const void *p)
{
    return pool_block_key(pool, p) < pool->carved_bound;
}

/* The same for another thread: carved_bound only grows while blocks are
 * out, and a thread freeing a block got it after it was carved, so a relaxed
 * load sees at least the carving that made it. */
static inline bool pool_is_carved_block_remote(const pool_header *pool, const void *p)
{
    return pool_block_key(pool, p) < obmt_load_relaxed(&pool->carved_bound);
}

/* The pool's pages went back to the OS (purged, its arena decommitted, or
 * purged in place by the reclaim pass): its header says so, as a header in
 * the pool's first page read zeros when headers lived there. size 0 makes
 * pool_init set it up from scratch (and skip pool_clear_keys: the pages read
 * zeros) and the purge skip it until it is used again; carved_bound 0
 * (relaxed: the arena map reads it) shows it purged. The caller holds the
 * pool. */
static inline void pool_mark_purged(pool_header *p)
{
    p->size = 0;
    p->freeblock = NULL;
    p->nextoffset = 0;
    obmt_store_relaxed(&p->carved_bound, 0);
}

/* A pool of a freed huge block's run goes back to its arena: its pages are
 * resident and hold the program's old data, no block is carved. size
 * OBMT_POOL_SIZE (no class has it) tells the purge to give its pages back
 * and pool_init to set it up from scratch (pool_clear_keys finds nothing
 * carved: nextoffset 0); carved_bound 1 shows it resident in the map (a
 * free pool is never a block's: frees into it abort on its NULL owner).
 * The caller holds the pool. */
static inline void pool_mark_dirty(pool_header *p)
{
    p->size = OBMT_POOL_SIZE;
    p->freeblock = NULL;
    p->nextoffset = 0;
    obmt_store_relaxed(&p->carved_bound, 1);
}

/* A free pool becomes part of a huge block's run (arena.c): the free keys
 * its carved blocks still hold are cleared (the memory becomes the
 * program's) and its header says "purged" (size 0: pool_init sets it up
 * from scratch when it is a pool again). The caller holds its arena. */
OBMT_HIDDEN void pool_reset_for_run(pool_header *p);
#if OBMT_TEST_HOOKS
/* Test hook: called by malloc's pop (pool_unlink_head) between its two
 * stores, freeblock's and the head block's clearing (unit_remote forks
 * while another thread waits there). */
OBMT_HIDDEN extern void (*pool_pop_test_hook)(pool_header *p, block *b);
/* Test hook: called by malloc's pop with the address it prefetches for the
 * popped block b's hint (unit_remote: a chain's pops fetch the blocks its
 * freer named). */
OBMT_HIDDEN extern void (*pool_hint_test_hook)(const block *b, uintptr_t hint);
#endif
/* Set up an empty pool (count 0) for class c, owned by h, in state USED
 * with a non-empty free list. Owner only. */
OBMT_HIDDEN void pool_init(pool_header *p, unsigned c, struct heap *h);
/* p->freeblock is NULL and p->nextoffset <= p->maxnextoffset: carve the
 * blocks that start in the next virgin block's page onto the free list. */
OBMT_HIDDEN void pool_carve(pool_header *p);
/* Take the whole remote list; returns how many blocks it held and chains
 * them in front of p->freeblock. Owner only. */
OBMT_HIDDEN uint32_t pool_drain_remote(pool_header *p);
/* Put the list of a word taken from p->remote (count, head, flags) in
 * front of p->freeblock and take its count off p->count; returns the count.
 * Owner only. A count above p->count can only come from double frees by
 * other threads, and aborts. */
OBMT_HIDDEN uint32_t pool_take_list(pool_header *p, uintptr_t w);
/* Push the chain head..tail of n blocks of p (linked through their first
 * words; the caller checked each is a carved block of p) onto p's remote
 * list with one CAS. Returns the old flags, so the caller learns whether it
 * cleared FULL. Aborts if head is already the list's head (a double free
 * seen cheaply). */
OBMT_HIDDEN uintptr_t pool_push_remote(pool_header *p, block *head, block *tail, uint32_t n);

/* b, a carved block of p, carries the free key: abort unless it is a live
 * block whose second word holds the secret by chance (its first word is not
 * a free-list link); `what` begins the message ("free(): double free of").
 * Any thread. */
OBMT_HIDDEN void block_keyed_check(const pool_header *p, block *b, const char *what);
/* Make the free key (init, before any block exists). */
OBMT_HIDDEN void pool_init_process(void);
/* Fork child: secure mode's carving order is drawn anew. */
OBMT_HIDDEN void pool_atfork_child(void);

/* ==== huge.c: blocks above OBMT_MEDIUM_MAX, a run of whole arenas each == */

/* n > OBMT_MEDIUM_MAX, n <= PTRDIFF_MAX: a block at the start of a run of
 * whole arenas (arena-aligned), zero-filled if `zero`; NULL (errno ENOMEM)
 * when the reservation is exhausted, the OS refuses memory or obmt cannot
 * start: the caller may pass the request on to the underlying allocator.
 * Any thread; takes no heap. */
OBMT_HIDDEN void *huge_malloc(size_t n, bool zero);
/* The same (any n, 0 too) at an address aligned to `align`, a power of two
 * above the arena size: a run from an aligned slot, nothing over-allocated
 * (no cache). NULL and ENOMEM when no such run can be had. */
OBMT_HIDDEN void *huge_malloc_aligned(size_t n, size_t align);
/* p = pool_of(b) says OWNER_HUGE. Free b (aborts unless it is the start of
 * a live huge block); its usable size (the run's capacity), with `what` in
 * the abort's message; resize b in place to n bytes (n > OBMT_MEDIUM_MAX:
 * the run cut, or grown into the free arenas after it; false: the caller
 * moves it). */
OBMT_HIDDEN void huge_free(pool_header *p, void *b);
OBMT_HIDDEN size_t huge_usable(pool_header *p, const void *b, const char *what);
OBMT_HIDDEN bool huge_resize_in_place(pool_header *p, void *b, size_t n);
/* span.c's span_to_huge: the live span b (head p, `old` usable bytes, at
 * any pool of its arena), whose caller now holds its arena whole, becomes a
 * huge block of that one arena starting at b: its head and the
 * statistics. */
OBMT_HIDDEN void huge_adopt_arena(pool_header *p, void *b, size_t old);
/* The purge pass at time t (arena.c, with g_purging held): give back the
 * cached runs freed at least `delay` ms ago (all of them if `now`), as if
 * given back when they were freed, so that the pass decommits them. */
OBMT_HIDDEN void huge_cache_purge(bool now, uint64_t t, long delay);
/* A new span arena (span.c's take_new_arena): the first arena of a cached
 * run, resident, held as a run of one (HUGE); the rest of the run stays
 * cached with its age, where a block that grows out of that arena joins it
 * (huge_resize_in_place). SIZE_MAX when the cache is empty. */
OBMT_HIDDEN size_t huge_cache_take_arena(void);
/* Arenas held by runs in the cache now (statistics). */
OBMT_HIDDEN size_t huge_cache_arenas(void);
/* A thread's kept run (heap.huge_kept: its last freed huge block of up to
 * OBMT_HUGE_KEEP_ARENAS arenas, for its next malloc of that size). Flush:
 * into the shared cache (thread exit, obmt_collect, a lender collecting an
 * idle heap); decay: the same, if no run was kept since the last decay
 * (heap_ticked); drop: a fork child's dead heap, whose run goes back to its
 * arenas. The heap's thread inside its busy region (span.c's new span
 * arena flushes too: it takes a cached run first), or a lender holding the
 * heap; drop in the child only. huge_malloc and huge_free enter the busy
 * region themselves: never call them inside it. */
OBMT_HIDDEN void huge_keep_flush(struct heap *h);
OBMT_HIDDEN void huge_keep_decay(struct heap *h);
OBMT_HIDDEN void huge_keep_drop(struct heap *h);
/* Arenas kept by the heaps (statistics: relaxed loads). */
OBMT_HIDDEN size_t huge_kept_arenas(void);
/* Statistics (fetch_add relaxed): huge blocks allocated and freed, and the
 * usable bytes of those live now (their runs). */
OBMT_HIDDEN extern uint64_t g_huge_allocs_heapless, g_huge_frees_heapless;
OBMT_HIDDEN extern int64_t g_huge_bytes_heapless;

/* ==== span.c: medium blocks, runs of pools in span arenas ================== */

/* Span classes (4 per doubling from 5 KiB): szidx of a span's head is
 * OBMT_SZ_SPAN0 + class, above every pool class. */
#define OBMT_SZ_SPAN0 64
#define OBMT_NSPAN 32
/* The class of n (4096 < n <= OBMT_MEDIUM_MAX), and its size: a table by
 * KiB (span.c). */
OBMT_HIDDEN extern const uint8_t span_class_kib[1024];
static inline unsigned span_class(size_t n)
{
    return span_class_kib[(n - 1) >> 10];
}
OBMT_HIDDEN size_t span_class_size(unsigned c);
/* A medium block of at least n bytes (4096 < n <= OBMT_MEDIUM_MAX),
 * aligned to `align` (0, or a power of two up to the arena size; any span
 * is pool-aligned), zero-filled if `zero`. When no arena can be had, with
 * align 0 the underlying allocator's block, else NULL (errno ENOMEM): the
 * caller may pass the request on. Any thread; lock-free. */
OBMT_HIDDEN void *span_malloc(size_t n, size_t align, bool zero);
/* span_malloc(n, 0, false): malloc's, with the constants folded in. */
OBMT_HIDDEN void *span_malloc_plain(size_t n);
/* realloc's move into a medium block (n medium): a cached span of its
 * class, or one from the arenas alone, without a batch, so that the pools
 * after it are free where its stretch leaves them free (the next growth
 * in place) and a new arena's span is at pool 0 (where span_to_huge
 * wastes no pool before it). */
OBMT_HIDDEN void *span_malloc_to_grow(size_t n);
/* p = pool_of(b) says OWNER_SPAN. Free b (aborts unless it is the start of
 * a live medium block; free's slow half, called inside lend_enter with h
 * the heap read there, and leaves); its usable size (its class size), with
 * `what` in the abort's message; resize it in place to n bytes (false: the
 * caller moves it). */
OBMT_HIDDEN void span_free_leave(pool_header *p, struct heap *h, void *b);
OBMT_HIDDEN size_t span_usable(pool_header *p, const void *b, const char *what);
OBMT_HIDDEN bool span_resize_in_place(pool_header *p, void *b, size_t n);
/* b (its head p says OWNER_SPAN) is the start of a live span: pool-aligned,
 * the head's nextpool SPAN_LIVE (span.c). free, realloc and usable size
 * abort where it is not. */
static inline bool span_live_start(const pool_header *p, const void *b)
{
    return likely(!((uintptr_t)b & (OBMT_POOL_SIZE - 1))) && likely(obmt_load_relaxed(&p->nextpool) == SPAN_LIVE);
}
/* n is a medium size whose class is the span's (head p). */
static inline bool span_same_class(const pool_header *p, size_t n)
{
    return n - OBMT_SMALL_MAX - 1 < OBMT_MEDIUM_MAX - OBMT_SMALL_MAX &&
           span_class(n) == (unsigned)obmt_load_relaxed(&p->szidx) - OBMT_SZ_SPAN0;
}
/* realloc's common case, inline (api.c): b is a live span of the class
 * that n takes, so it keeps its place with nothing to change. False for
 * anything else, errors too (span_resize_in_place then sorts them out). A
 * buffer grown a little at a time stays in its class for most steps. */
static inline bool span_keeps_class(const pool_header *p, const void *b, size_t n)
{
    return span_live_start(p, b) && span_same_class(p, n);
}
/* The span (head p) is of the smallest class, the one a chain's span and a
 * span cut to a pool-class size have. */
static inline bool span_smallest(const pool_header *p)
{
    return obmt_load_relaxed(&p->szidx) == OBMT_SZ_SPAN0 + span_class(OBMT_SMALL_MAX + 1);
}
/* Chains (span.c): a buffer that realloc grows again and again. When a
 * growing realloc must move a pool block ptr, span_chain_continues(h, ptr)
 * says whether ptr is the block that the heap's previous growing move
 * returned (a chain); unless that chain was refused a slot
 * (h->chain.refused), span_chain_slot(h) (h a real heap) looks for a free
 * slot: the block moves into a span of the smallest class (slot >= 0),
 * where its later steps grow it in place, else -2 (refused: its later
 * moves do not look again). span_chain_moved(h, q, slot) notes the block
 * the move returned (slot -1: no chain; -2: a refused one; else the span
 * in its slot). A slot is free while its span is no
 * longer a live span of the smallest class, so a thread holds at most
 * OBMT_REALLOC_CHAIN_SPANS spans with small data in them (a heap's; a
 * thread without a heap of its own has no chains); such a span is not
 * moved back into a pool when it shrinks (span_chain_holds). The heap's
 * state (struct span_chain), hints only. */
OBMT_HIDDEN int span_chain_slot(struct heap *h);
/* The span for a chain's move (n: the smallest class's size): at the start
 * of an arena when the thread's last chain outgrew the medium sizes
 * (span_chain_outgrew, noted by realloc), so that this one can become a
 * huge block where it lies (span_to_huge needs every other pool of its
 * arena free: a live span below it made every chain of
 * realloc_mul15/16777216 copy 1 MiB); else where any span goes. NULL (errno
 * ENOMEM) as span_malloc. */
OBMT_HIDDEN void *span_malloc_chain(size_t n);
OBMT_HIDDEN void span_chain_outgrew(void);
/* b is one of the calling thread's chain spans (h: its heap, as
 * heap_self() returns it; the dummy heaps hold none). */
static inline bool span_chain_holds(const struct heap *h, const void *b);
/* realloc of a growing buffer, for n up to what its arena holds from b on:
 * the span b (head p, live, checked), every other pool of whose arena is
 * free or held by a span in the calling thread's cache (those leave it),
 * becomes a huge block of that arena starting where b is, which holds n
 * (false, nothing changed, otherwise or in secure mode). */
OBMT_HIDDEN bool span_to_huge(pool_header *p, void *b, size_t n);
/* The per-thread cache (h is the calling thread's heap, or one its lender
 * holds): give every cached span back; give back those of classes unused
 * since the last call (heap_ticked, once per purge delay); in a fork
 * child, for the heap of a thread that is not there, give back those a
 * checked walk reaches (the rest stay taken, a bounded leak). */
OBMT_HIDDEN void span_cache_flush(struct heap *h);
OBMT_HIDDEN void span_cache_decay(struct heap *h);
OBMT_HIDDEN void span_cache_drop(struct heap *h);
/* Fork child, after the dead heaps are dropped: the grown caches' shared
 * allowance is the forking thread's share (dead heaps give theirs up). */
OBMT_HIDDEN void span_cache_atfork_child(const struct heap *me);
/* What all heaps' span cache budgets exceed OBMT_SPAN_CACHE_BYTES_MAX by (the shared
 * allowance in use, OBMT_SPAN_CACHE_GROWN_TOTAL at most). */
OBMT_HIDDEN uint64_t span_cache_grown(void);
/* The budget of a heap taken now: OBMT_SPAN_CACHE_BYTES where an idle
 * thread's heap can be lent (its cache then flushed by the lender), else
 * OBMT_SPAN_CACHE_BYTES_UNLENT, so that idle threads cannot hoard. */
OBMT_HIDDEN size_t span_cache_budget(void);
/* A heap being taken: its budget (span_cache_budget) and each class's
 * stack limit from it. */
OBMT_HIDDEN void span_cache_init(struct heap *h);
/* The purge pass at time t (arena.c, with g_purging held): span arenas
 * that had nothing back for `delay` ms (all if `now`) give their free
 * pools' pages back, or, wholly free, go back to arena.c. */
OBMT_HIDDEN void span_purge(bool now, uint64_t t, long delay);
/* Statistics: span arenas now; pools whose pages the purge gave back. */
OBMT_HIDDEN size_t span_arenas(void);
OBMT_HIDDEN uint64_t span_pools_purged(void);
/* Map: is the (HUGE) arena in slot a span arena; its F and D words. */
OBMT_HIDDEN bool span_arena_pools(size_t slot, uint64_t *free_pools, uint64_t *dirty);
#if OBMT_TEST_HOOKS
/* Tests: slot's bits in g_span_avail (bit 0) and g_span_whole (bit 1). */
OBMT_HIDDEN unsigned span_arena_hints(size_t slot);
/* Test hook: set slot's whole bit, as a give's whole_set that came after a
 * take's whole_clear does (a stale bit). */
OBMT_HIDDEN void span_whole_mark(size_t slot);
/* Test hook: fit_starts (bit i: pools i..i+k-1 all set in x). */
OBMT_HIDDEN uint64_t span_fit_starts(uint64_t x, unsigned k);
/* Test hook: the grown caches' allowance in use changes by d, as other
 * threads' shares (budget_set) would change it. */
OBMT_HIDDEN void span_cache_grown_add(int64_t d);
/* Test hook: called by take_from_arenas between its two passes when the
 * first found no arena (unit_span 8e takes from the arena meanwhile). */
OBMT_HIDDEN extern void (*span_scan_test_hook)(void);
#endif
OBMT_HIDDEN extern uint64_t g_span_allocs_heapless, g_span_frees_heapless;
OBMT_HIDDEN extern int64_t g_span_bytes_heapless;
/* Give back the chain of n cached spans of class c from top (linked
 * through their heads' nextpool, the heads cached), as freed at time t:
 * span_depot.c's purge. Any thread that holds the chain. */
OBMT_HIDDEN void span_give_chain(unsigned c, void *top, unsigned n, uint64_t t);

/* ==== span_depot.c: chains of cached spans shared between threads ========== */

/* (The protocol and its bounds are at the top of span_depot.c.) Put the
 * chain of n cached spans of class c from top (the caller's, linked through
 * nextpool), freed at time t: false, and the chain still the caller's, if
 * the class's words or the byte bound have no room. Take a chain of class c
 * (its top; *n spans), NULL if there is none. Any thread; lock-free. */
OBMT_HIDDEN bool depot_put(unsigned c, void *top, unsigned n, uint64_t t);
OBMT_HIDDEN void *depot_take(unsigned c, unsigned *n);
/* Would a put of `bytes` of class c find room now (relaxed loads: a hint
 * that lets a trim skip the walk a failed put costs)? */
OBMT_HIDDEN bool depot_room(unsigned c, uint64_t bytes);
/* The purge pass at time t (arena.c, g_purging held; also the fork child
 * and tests, with now): the chains put `delay` ms ago or more (all if
 * `now`) go back to their arenas. Any thread: each chain is taken by CAS. */
OBMT_HIDDEN void depot_purge(bool now, uint64_t t, long delay);
/* Every chain back to its arenas, as freed at t: true if there was one (a
 * miss that found no room in the span arenas, before it makes one). */
OBMT_HIDDEN bool depot_drain(uint64_t t);
/* The fork child (single-threaded): every chain back, and the byte
 * counter to 0 (a reservation a dead thread held stays otherwise). */
OBMT_HIDDEN void depot_atfork_child(void);
/* Statistics: bytes of the spans in the depot (relaxed load). */
OBMT_HIDDEN size_t depot_bytes(void);
#if OBMT_TEST_HOOKS
/* Tests: chains of class c in the depot now. */
OBMT_HIDDEN unsigned depot_chains(unsigned c);
#endif

/* ==== heap.c: thread caches ================================================ */

/*
 * struct heap: one per thread that allocates; recycled when threads exit,
 * never unmapped (the heap table, below).
 *
 * field        writer                  how                  readers
 * usedpools,   the thread using it     plain                the same thread
 * usedtail,
 * fullpools,
 * emptypools,
 * nempty
 * rbatch[]     the thread using it     plain; pool and n    its thread; obmt_stats_get
 *                                      by relaxed stores    (relaxed loads)
 * returned     remote freers (push),   CAS release /        owner; the reclaim pass
 *              owner (take all), the   exchange acquire;
 *              reclaim pass (take all, the pass: CAS acq_rel
 *              push back)
 * free_next    heap_release (push on   relaxed store before heap_acquire's pop, validated
 *              the free-heap stack)    the CAS              by the generation in the head
 * lend_state   its thread (lend_open:  release store /      lenders (CAS), its thread
 *              CLOSED -> OPEN; exit:   CAS acq_rel
 *              OPEN -> CLOSED), a
 *              lender (OPEN <-> HELD)
 * lend_busy,   its thread (lend_open)  plain, before the    a lender, after its CAS
 * lend_tls                             release of OPEN      OPEN -> HELD (acquire)
 * lent_taken,  a lender                plain                lenders: all under the reclaim
 * lent_ms,                                                  pass flag (one at a time)
 * lent_returned
 * everything   a lender holding it     as its thread would  the lender; its thread after
 * else         (lend.c), its thread                         its acquire load of tls_self.heap
 *              being kept out                               (heap_self) read the heap back
 * stats.*      the thread using it     obmt_count_add       obmt_stats_get (relaxed)
 */
struct heap_stats {
    uint64_t pools_taken;    /* pools taken from arenas */
    uint64_t pools_given;    /* pools given back to arenas */
    uint64_t remote_frees;   /* blocks this thread freed into other threads' pools and handed
                              * over (obmt_stats_get adds those waiting in its batches) */
    uint64_t remote_batches; /* ... handed over in this many batches (one CAS each) */
    uint64_t adopted;        /* abandoned pools this thread adopted */
    uint64_t huge_allocs;    /* huge blocks this thread allocated (huge.c) */
    uint64_t huge_frees;     /* ... and freed */
    int64_t huge_bytes;      /* their usable bytes: + allocated or grown, - freed or shrunk */
    uint64_t span_allocs;    /* medium blocks this thread took from span arenas (span.c) */
    uint64_t span_frees;     /* ... and freed straight back to them */
    uint64_t span_hits;      /* medium blocks this thread took from its cache */
    uint64_t span_puts;      /* ... and freed into it */
    int64_t span_bytes;      /* usable bytes (class sizes) of spans: + taken from arenas or grown,
                              * - given back to them (a free, a flush of the cache) or shrunk */
};

/* A batch of remote frees into one pool (remote.c): owner-only. */
struct rbatch {
    pool_header *pool;           /* NULL: the slot is free (relaxed stores: statistics) */
    block *head, *tail;          /* the chain, linked through the blocks */
    uint32_t n;                  /* blocks in it (relaxed stores: statistics) */
    uint32_t left;               /* blocks it may still take before it is handed over */
};

/* A heap's chain state (span.c, "Chains"): owner-only (the owner's,
 * whether or not it is in its busy region: a lender that holds the heap
 * never touches it, and the dummy heaps' stays zero); kept when the heap
 * is taken by a new thread, so that the bound below is per heap, not per
 * thread that ever ran.
 *   last    the block the heap's last growing move of a pool block
 *           returned (a hint: compared, never dereferenced)
 *   spans   the spans that chains' moves put buffers into, each until it is
 *           no longer a live span of the smallest class (freed, or grown
 *           past it: then it holds what any span would); only then is its
 *           slot reused, so at most OBMT_REALLOC_CHAIN_SPANS spans a heap
 *           hold small data that way
 *   outgrew a span grew past the medium sizes since the last chain's move
 *           (span_malloc_chain)
 *   full    1: a look found every slot taken; then each chain looks at
 *           one, spans[next], in turn (span_chain_slot)
 *   refused 1: the chain that last moved found no slot: its later moves
 *           do not look again (a move of another buffer clears it: a
 *           string built and kept looks once, not at each of its five
 *           moves) */
struct span_chain {
    void *last;
    void *spans[OBMT_REALLOC_CHAIN_SPANS > 0 ? OBMT_REALLOC_CHAIN_SPANS : 1];
    uint8_t outgrew;
    uint8_t full;
    uint8_t next;
    uint8_t refused;
};

struct heap {
    /* The block stacks' tops (bstack.c): each class's top block (NULL:
     * empty), the rest linked through the blocks. The owner's (inside its
     * busy region) or a lender's while it holds h; plain stores, as no
     * other thread reads them. First in the heap: the fast paths address
     * btop[c] as (h + 8c), with no displacement, so the compiler does not
     * compute the address once for the load and the store (until
     * 2026-12-02 they were at the end, and malloc and free each spent an
     * instruction on that). usedpools, which of the fast paths only
     * malloc's pool path reads, took their place at the end: the remote
     * batches' offsets stay. */
    block *btop[OBMT_NCLASSES];
    /* The block stacks' pushes per class, modulo 256 (bstack.c; the depth
     * is pushes - pops): written by the owner inside its busy region, or
     * by a lender holding the heap, with relaxed stores (the statistics
     * walk reads them). */
    uint8_t bstack_pushes[OBMT_NCLASSES];
    uint32_t bstack_ticks;       /* stack pops until the next heap_ticked (owner-only; set when the heap is taken) */
    pool_header *fullpools;      /* FULL and PENDING pools (doubly linked) */
    pool_header *emptypools;     /* EMPTY pools kept for reuse (singly linked) */
    uint32_t nempty;
    /* The empty pools it may keep (heap.c, cache_or_give): the option's
     * OBMT_KEEP_EMPTY_POOLS, raised while the thread gives pools back and
     * takes others from arenas between two collects, halved at a collect
     * with none taken. Owner-only, as the flags below (reset when the heap
     * is taken). */
    uint16_t keep_empty;
    uint8_t gave_pool;           /* an empty pool went to its arena since the last collect */
    uint8_t took_pool;           /* a pool came from an arena since the last collect */
    uint32_t index;              /* its index in the heap table (heap_at) */
    uint32_t free_next;          /* free-heap stack link: index+1 */
    uint32_t in_use;             /* 1 while a thread uses it (relaxed; statistics) */
    int32_t ticks;               /* slow-path events until the next heap_ticked */
    uint64_t last_collect_ms;    /* when heap_ticked last collected */
    uint64_t last_tick_ms;       /* when the heap was taken or last ticked: relaxed stores by its
                                  * thread; the reclaim pass reads it to leave busy heaps alone */
    uint32_t adopted_since;      /* pools adopted since the last collect */
    uint32_t collect_after;      /* ... that trigger the next one (see heap_adopt) */
    struct rbatch rbatch[OBMT_RBATCH_SLOTS]; /* remote frees not yet handed over */
    /* The last blocks linked into each batch slot, block i of a batch at
     * [slot][i % DISTANCE]: the hint of block i is the one there before it
     * (remote.c, "Hints"; owner-only, as the batches; in the heap rather
     * than in struct rbatch, which stays 32 bytes: 96-byte slots cost a
     * remote free one instruction more, 128-byte ones three). */
    block *rbatch_recent[OBMT_RBATCH_SLOTS][OBMT_REMOTE_HINT_DISTANCE > 0 ? OBMT_REMOTE_HINT_DISTANCE : 1];
    pool_header *usedtail[OBMT_NCLASSES]; /* the last pool of each usedpools[c] (owner-only,
                                           * or a lender's: heap.c's list helpers) */
    alignas(64) pool_header *returned; /* pools handed back by remote freers */
    uint32_t lend_state;         /* LEND_* (lend.c) */
    uint32_t *lend_busy;         /* the owning thread's tls_self.busy and tls_self.heap (lend_open) */
    struct heap **lend_tls;
    uint64_t lent_taken;         /* pools_taken + adopted when last lent: the lender's */
    uint64_t lent_ms;            /* when last lent: the lender's */
    pool_header *lent_returned;  /* the top of `returned` the last lender left: the lender's */
    alignas(64) struct heap_stats stats;
    /* freed medium blocks kept for the next malloc of their class (span.c):
     * owner-only, or a lender's; span_cached_bytes also read by statistics */
    void *span_cache[OBMT_NSPAN];   /* each class's stack, linked through the heads' nextpool */
    struct {
        uint16_t n;   /* the stack's depth: at most max between calls */
        uint16_t max; /* OBMT_SPAN_CACHE_DEPTH, or fewer: half the base budget at most (one span
                       * at least, if it fits); more while the class cycles spans (cache_grow);
                       * 0 in &heap_empty and &heap_lending. Beside n: free's test reads both
                       * from one index. */
    } span_stack[OBMT_NSPAN];
    uint8_t span_cache_put[OBMT_NSPAN]; /* 1: a span of class c was put there since the last decay */
    uint8_t span_cache_gave[OBMT_NSPAN]; /* 1: a full stack of class c gave spans back since its last miss */
    uint8_t span_cache_took[OBMT_NSPAN]; /* 1: class c missed (took from the arenas) since the last decay */
    uint16_t span_cache_batch[OBMT_NSPAN]; /* spans the next miss of class c takes along: 0, then
                                           * 2b + 1 after each miss up to span_stack[c].max / 2;
                                           * 0 again when the class decays or the cache is flushed */
    uint64_t span_cached_bytes;  /* relaxed stores */
    uint32_t span_hint;          /* slot + 1 of the span arena this thread last took a span from
                                  * (0: none): tried first (owner-only; a hint) */
    uint8_t span_hint_free;      /* that arena's free pools right after that take (owner-only) */
    uint64_t huge_kept;          /* a freed huge run kept whole (huge.c): (arenas << 32) | (first
                                  * slot + 1), or 0; owner-only or a lender's, relaxed stores
                                  * (statistics read it) */
    uint8_t huge_kept_put;       /* 1: a run was kept since the last decay (owner-only) */
    uint8_t huge_keep_max;       /* the most arenas a kept run may have: OBMT_HUGE_KEEP_ARENAS
                                  * where idle heaps can be lent, else 0 (span_cache_init) */
    uint32_t span_grown;         /* bit c: class c's stack limit is above its fixed one (cache_grow;
                                  * its full puts' trims go to the depot); owner-only or a lender's */
    uint64_t span_cache_budget;  /* the most span_cached_bytes may reach: the base, plus what grown
                                  * classes may hold beyond their fixed limits (cache_grow), at most
                                  * OBMT_SPAN_CACHE_HEAP_MAX, and beyond OBMT_SPAN_CACHE_BYTES_MAX only
                                  * what the shared allowance grants (budget_set); 0 in &heap_empty
                                  * and &heap_lending, so that span_free's budget test keeps them
                                  * empty */
    uint64_t span_cache_base;    /* the base: span_cache_budget() when the heap was taken, or when
                                  * a decay found the lending option changed (owner-only) */
    uint64_t span_cache_want;    /* the budget asked for (grown_budget), which span_cache_budget
                                  * is short of while the shared allowance holds no more
                                  * (span.c, budget_set; owner-only or a lender's) */
    uint8_t span_cache_lendable; /* idle heaps could be lent when the base was set (owner-only) */
    struct span_chain chain;     /* realloc's chains (span.c; owner-only, above) */
    alignas(64) pool_header *usedpools[OBMT_NCLASSES];
    uint8_t bstack_pops[OBMT_NCLASSES]; /* pops per class, modulo 256: as bstack_pushes (malloc
                                         * reads and writes it with the top) */
    /* Each class's stack bound now (bstack.c): its fixed bound, or more
     * while the class cycles (bstack_grow), until the next flush. Beside
     * the pops, which free reads with it. Owner-only or a lender's. */
    uint8_t bstack_cap[OBMT_NCLASSES];
    /* 1: a malloc of class c went to a pool (its stack empty) since the
     * stack last grew, and the stack may grow: malloc's pool path copies
     * bstack_growable[c] here, bstack_grow clears it. */
    uint8_t bstack_under[OBMT_NCLASSES];
    /* 1: class c's stack is below its grown bound (bstack_grow may raise
     * it): 0 for a class at its bound, and for every class where the
     * stacks are off, so that their frees never leave the fast path for
     * bstack_grow. */
    uint8_t bstack_growable[OBMT_NCLASSES];
    uint8_t bstack_limit;        /* OBMT_BLOCK_STACK, or 0 where idle heaps cannot be lent, at
                                  * the last flush or take (bstack_reset) */
    uint32_t bstack_grown_bytes; /* bytes the stacks hold room for beyond their fixed bounds now,
                                  * at most OBMT_BSTACK_GROWN_BYTES */
    /* (bstack_cap, _under, _growable, _limit, _grown_bytes: the owner's, inside
     * its busy region, or a lender's holding the heap: its flush resets them) */
};

/* The calling thread's heap; &heap_empty until it first allocates. */
/* The calling thread's heap and its lending flag, side by side so that the
 * fast paths find both from one thread-pointer offset (lend.c). */
struct obmt_self {
    struct heap *heap;
    uint32_t busy;
};
OBMT_HIDDEN extern OBMT_TLS struct obmt_self tls_self;
OBMT_HIDDEN extern struct heap heap_empty;
/*
 * The heap table (heap.c): heap i is entry i % OBMT_HEAP_CHUNK of chunk
 * i / OBMT_HEAP_CHUNK, mapped when a thread first needs one of its heaps.
 *
 * g_heap_dir[k]: chunk k or NULL; NULL -> chunk once (CAS acq_rel by the
 *   thread that mapped it; a thread that loses unmaps its own), never
 *   changed again: no ABA. Read acquire (heap_at).
 * g_heaps_used: heaps handed out so far (the table's high-water mark). A
 *   thread takes index i with a CAS release i -> i + 1 only after chunk
 *   i / OBMT_HEAP_CHUNK is installed, so every index below a value read
 *   with acquire (heaps_used) names a mapped heap: no hole for a walker,
 *   whatever failed. Monotonic, at most OBMT_HEAP_TABLE_SIZE: no ABA.
 * Heaps are never unmapped (type-stable): a remote freer that loaded
 * pool->owner, the statistics walk, the reclaim pass and a lender may read
 * a heap of an exited thread at any time, at no cost to them
 * (docs/design.md, section 4, liburcu).
 */
OBMT_HIDDEN extern struct heap *g_heap_dir[OBMT_HEAP_CHUNKS];
OBMT_HIDDEN extern uint32_t g_heaps_used;
/* Bytes the table's chunks map (fetch_add relaxed; tests, docs). */
OBMT_HIDDEN extern uint64_t g_heap_table_bytes;
static inline uint32_t heaps_used(void) { return obmt_load_acquire(&g_heaps_used); }
/* Heap i, i < heaps_used(); NULL only for an index not below it whose
 * chunk is not mapped yet (walkers skip NULL all the same). */
static inline struct heap *heap_at(uint32_t i)
{
    struct heap *chunk = obmt_load_acquire(&g_heap_dir[i >> OBMT_HEAP_CHUNK_SHIFT]);
    return chunk ? chunk + (i & (OBMT_HEAP_CHUNK - 1)) : NULL;
}
/* Remote frees by threads without a heap, and pools such threads gave back
 * to their arena: fetch_add relaxed, read by stats. */
OBMT_HIDDEN extern uint64_t g_remote_frees_heapless;
OBMT_HIDDEN extern uint64_t g_pools_given_unowned;
/* Threads that got a heap, and requests passed to the underlying allocator
 * (large.c): fetch_add relaxed, read by stats. */
OBMT_HIDDEN extern uint64_t g_threads_seen;
OBMT_HIDDEN extern uint64_t g_large_allocs;

/* The thread key (its destructor recycles an exiting thread's heap) and the
 * fork handlers. 0, or the error of the call that failed. */
OBMT_HIDDEN int heap_init_process(void);
/* Give the calling thread a heap; NULL if none can be had (its thread is
 * being torn down, or the chunk its heap would live in could not be
 * mapped): then the caller does without one (api.c, malloc_heapless). */
OBMT_HIDDEN struct heap *heap_get_slow(void);
/* Slow half of malloc for class c: returns a block or NULL (errno set). */
OBMT_HIDDEN void *heap_malloc_slow(struct heap *h, unsigned c);
/* Pool p of heap h ran out of local blocks: carve one more, or take its
 * remote list, or retire it as full. Returns b, the block just handed out. */
OBMT_HIDDEN void *pool_refill(struct heap *h, pool_header *p, void *b);
/* The owner's free of b onto the local list of p (count >= 1), at any
 * count, and p filed as that free files it (back from FULL to usedpools,
 * emptied), with no tick: true if p emptied, which the owner's free then
 * counts as a tick (free_owner_edge). Also the block stack's flush (the
 * owner's, or a lender's holding h: keep, an emptied pool goes to h's
 * cache of empty pools, whatever it holds). */
OBMT_HIDDEN bool heap_free_owner(struct heap *h, pool_header *p, block *b, bool keep);
/* Ticks: the slow-path events of a heap (a pool's list runs dry, a pool
 * empties, a remote-free batch starts or is handed over, 1024 pops of the
 * block stacks) count down OBMT_HEAP_TICKS; then heap_ticked
 * hands the heap's remote-free batches over, collects the heap's remote
 * lists (at most once per purge delay) and runs the purge if it is due. Without it, a thread whose traffic stays inside
 * pools it already holds would never purge the memory others freed. */
#define OBMT_HEAP_TICKS 256
OBMT_HIDDEN void heap_ticked(struct heap *h);
/* A pool that reached an exited heap's `returned` too late (the stack was
 * closed; p is ABANDONED and in no list): give it back if it is empty,
 * else leave it abandoned. */
OBMT_HIDDEN void heap_abandon_late(pool_header *p);
static inline void heap_tick(struct heap *h)
{
    if (unlikely(--h->ticks <= 0))
        heap_ticked(h);
}
/* Adopt p, which the caller alone may now file (it cleared FULL with the
 * owner gone, or took the ABANDONED flag); w is the remote word it took. */
OBMT_HIDDEN void heap_adopt(struct heap *h, pool_header *p, uintptr_t w);
/* The caller holds p alone and will not keep it: take w's list, give p
 * back to its arena if that emptied it, else leave it ABANDONED. h may be
 * NULL (a thread without a heap). */
OBMT_HIDDEN void heap_release_unowned(struct heap *h, pool_header *p, uintptr_t w);
/* Either of the two: adopt p into h, or release it if h is NULL (the
 * caller has no heap: a thread being torn down, or heaps exhausted). */
static inline void heap_adopt_or_release(struct heap *h, pool_header *p, uintptr_t w)
{
    if (h)
        heap_adopt(h, p, w);
    else
        heap_release_unowned(NULL, p, w);
}
/* heap->returned when its thread has exited: freers adopt instead. */
#define RETURNED_CLOSED ((pool_header *)1)
/* Drain the calling thread's returned pools and remote lists; give back
 * empties. Returns the pools left in usedpools. */
OBMT_HIDDEN size_t heap_collect(struct heap *h, bool all);
/* A lender's collect of an idle heap (lend.c), while it holds the heap and
 * the heap's thread may be in free's fast path on one of its pools: hands
 * the heap's remote batches over (adopting nothing: a pool that would be
 * adopted is released), and takes out of the heap, owned by nobody, every
 * USED pool and every pool on `returned` with no block out or with every
 * block out on its remote list (the sole one of a class included), and
 * every cached empty pool. Leaves every pool that holds a live block as it
 * is (the others on `returned` go back there). Returns the pools taken (linked through
 * nextpool) for heap_give_back_purged, which the lender calls once it has
 * given the heap back: the system calls of the purge do not lengthen the
 * time the heap's thread does without its heap. */
OBMT_HIDDEN pool_header *heap_collect_lent(struct heap *h);
OBMT_HIDDEN void heap_give_back_purged(pool_header *list);
/* Thread exit: give back what is empty, abandon the rest, recycle the heap. */
OBMT_HIDDEN void heap_thread_exit(struct heap *h);

/* A compiler barrier (no instruction) between an owner's write of a free
 * block's link and the store that puts the block on (or takes it off) its
 * pool's list: a fork while another thread is between them leaves the child
 * a whole list in the pool, which the child may adopt (heap_atfork_child:
 * the dead thread's `returned` pools; a dead thread's FULL pool whose FULL a
 * child's free clears). Each such update is then cut before or after
 * its publication: at worst one block is lost to the child. */
#define LIST_ORDER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Prefetches for the pops to come (`pool_pop_prefetch`, after a pop that
 * left the list non-empty). The next malloc of this class reads the new
 * head's link, clears its key, and the program then writes it: its line is
 * fetched for writing now. When the pool's blocks come back from other
 * threads (producer/consumer: the freer wrote each link) that line sits in
 * another core's cache, and the load of the link was most of malloc's time
 * (perf, xmalloc/64: 62% of obmt_malloc's samples, a third of the run).
 * One block ahead hides only the program's work between two mallocs, and
 * the list cannot be read further ahead without waiting for it. So a block
 * further down is fetched too: the one that the freer named in the popped
 * block's link (remote.c, "Hints"), OBMT_REMOTE_HINT_DISTANCE pops ahead
 * in a chain that came from a remote batch, whatever the order of its
 * addresses. Until 2026-12-01 it was the block OBMT_POP_PREFETCH_STRIDES
 * strides on from the new head along the step from the popped block to it,
 * a guess that a list that came back from freers is in address order
 * (16 cores, 3 rounds: xmalloc +9 to +34%, producer rows +16 to +40%,
 * server/1024/threads:4 +28%, against one block ahead:
 * bench/results/2026-11-30-16-cores.md). That holds only at first: every
 * round trip cuts the list at the program's message and the batches'
 * boundaries and joins the pieces in another order (producer_1toN/64 on 2
 * cores: 92% of the steps between two mallocs were +1 or -1 block in the
 * first sixteenth of the run, under 1% in its second half;
 * bench/pop_order). Hints, 4 threads: producer_1toN/64 10 -> 27 M items/s,
 * producer_1toN/16 16 -> 27, xmalloc/64 16 -> 35
 * (bench/results/2026-12-01-remote-hints.md). With
 * OBMT_REMOTE_HINT_DISTANCE 0 the pop makes the stride guess again; secure
 * mode's lists are shuffled and carry no hints, so it fetches the new head
 * only. No prefetch faults, wherever it points; a wrong guess costs a line
 * fetched for nothing. */
#if defined(__x86_64__)
/* prefetchw without -mprfchw (GCC would emit prefetcht0, a read); CPUs
 * without the instruction run it as a no-op. */
#define PREFETCH_FOR_WRITE(a) __asm__("prefetchw %0" : : "m"(*(const char *)(a)))
#else
#define PREFETCH_FOR_WRITE(a) __builtin_prefetch((a), 1, 3)
#endif
static inline void pool_pop_prefetch(uintptr_t w, const block *b, const block *next)
{
    PREFETCH_FOR_WRITE(next);
    /* The hint in b's link (w): a block that another thread linked into
     * the same remote batch, D links on. A link without one (carving, the
     * owner's frees: a list still in cache) fetches nothing more; before
     * that test, fetching the first block of b's frame for them ran
     * fastpath_batch/64 0-10% slower. A stale hint (an earlier batch, of
     * this pool or another) costs a line fetched for nothing: the frame is
     * two pools of b's arena, obmt's memory whatever they hold, so the
     * address needs no test of its own (one, for b's pool, took 4
     * instructions and gained nothing measurable). */
    if (BLOCK_HINTS) {
        if (!(w >> LINK_HINT_SHIFT))
            return;
        uintptr_t hint = link_hint(b, w);
        PREFETCH_FOR_WRITE((const void *)hint);
#if OBMT_TEST_HOOKS
        if (unlikely(pool_hint_test_hook != NULL))
            pool_hint_test_hook(b, hint);
#endif
        return;
    }
    if (!OBMT_SECURE && OBMT_POP_PREFETCH_STRIDES > 0) {
        /* In integers: the guess may point outside any object (past the
         * pool's end, say), where C pointer arithmetic would be undefined. */
        uintptr_t n = (uintptr_t)next;
        PREFETCH_FOR_WRITE((const void *)(n + (n - (uintptr_t)b) * OBMT_POP_PREFETCH_STRIDES));
    }
}

/* malloc's fast path: pop the head block of a pool of h's usedpools. When
 * that empties the local list, pool_refill carves or drains (a tail call, so
 * the fast path needs no stack frame).
 *
 * freeblock moves past b before b's words are cleared (in secure mode that
 * clears b's link too), and the compiler keeps that order (a signal fence:
 * no instruction): at every point of the pop the pool's free list is whole,
 * b on it or off it. A fork while another thread is here leaves the pool so
 * in the child, which may adopt it (a pool on the dead thread's `returned`
 * stack, heap_atfork_child; one whose FULL a child's free clears): with
 * the link cleared first, the child followed a zeroed link from the head
 * (mt_fork, secure mode: "free list corrupted"). Cut after the move, b is
 * off the list and not counted: lost to the child, as a block that its
 * parent's thread was handed. */
static inline block *pool_unlink_head(pool_header *p, block **next_out, uintptr_t *word_out)
{
    block *b = p->freeblock;
    if (OBMT_SECURE && unlikely(pool_of(b) != p)) /* an overflow wrote over the header */
        block_link_corrupt((block *)pool_mem(p));
    uint32_t count = obmt_load_relaxed(&p->count);
    uintptr_t w = block_link_word(b);
    *word_out = w;
    block *next = block_next_checked(p, b, link_ptr(w));
    p->freeblock = next;
#if OBMT_TEST_HOOKS
    if (unlikely(pool_pop_test_hook != NULL))
        pool_pop_test_hook(p, b); /* (unit_remote: a fork of another thread between the two stores) */
#endif
    LIST_ORDER(); /* the store above before the clear below */
    block_clear_key(b);
    obmt_store_relaxed(&p->count, count + 1); /* relaxed: statistics read it */
    *next_out = next;
    return b;
}
static inline void *pool_pop(struct heap *h, pool_header *p)
{
    block *next;
    uintptr_t w;
    block *b = pool_unlink_head(p, &next, &w);
    if (unlikely(!next))
        return pool_refill(h, p, b);
    pool_pop_prefetch(w, b, next);
    return b;
}
/* pool_refill, then lend_leave (lend.c): for pool_pop_leave. */
OBMT_HIDDEN void *pool_refill_leave(struct heap *h, pool_header *p, void *b);

/* ==== lend.c: lending an idle heap to another thread ======================= */

/*
 * The owner's side of the handshake (lend.c explains it whole). Every entry
 * into obmt that may touch the calling thread's heap brackets that work
 * with lend_enter/lend_leave (tls_self.busy), and reads its heap once, through
 * heap_self() (only thread exit uses heap_self_wait). free's local fast
 * path too, since its block stacks are heap state that a lender flushes
 * (bstack.c); its paths for other heaps' blocks (remote, medium) go on
 * inside the same busy region with the heap read there. A lender that
 * finds the thread outside obmt swaps tls_self.heap for &heap_lending while it
 * works on the heap on the owner's behalf: the owner's fast paths then find
 * no pool (malloc) or no pool of theirs (free), and their slow paths do
 * without the heap (a span straight from a span arena; a heapless hand-over).
 *
 * tls_self.busy: written only by its thread (relaxed store of 1 then a compiler
 * barrier; release store of 0), read by a lender after
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (acquire). tls_self.heap: written
 * by its thread (heap_get_slow, exit: relaxed) and, while the heap is lent,
 * by the lender (relaxed CAS from the heap to &heap_lending; release store
 * of the heap back); read by its thread (acquire). Under ThreadSanitizer,
 * which does not model membarrier, the four accesses of the Dekker pair
 * are sequentially consistent instead.
 */
OBMT_HIDDEN extern struct heap heap_lending; /* like heap_empty: owns nothing, usedpools all NULL */
static inline void lend_enter(void)
{
#if OBMT_UNDER_TSAN
    __atomic_store_n(&tls_self.busy, 1u, __ATOMIC_SEQ_CST);
#else
    obmt_store_relaxed(&tls_self.busy, 1u);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the CPU's order: the lender's membarrier */
#endif
}
static inline void lend_leave(void)
{
    obmt_store_release(&tls_self.busy, 0u); /* the heap's state before it, for a lender that reads 0 */
}
/* A heap of a thread (not &heap_empty or &heap_lending, which own nothing). */
static inline bool heap_real(const struct heap *h)
{
    return h != &heap_empty && h != &heap_lending;
}
/* The calling thread's heap as its entries read it: its own, &heap_empty,
 * or &heap_lending while a lender holds it (or tries to: then the entry
 * does without it, it never waits). Acquire: a heap a lender stored back
 * comes with the lender's writes to it (free reaches its pools through the
 * block, not through this pointer, so no address dependency would order
 * them on arm64). On x86-64 the same mov; on arm64 an ldar for an ldr. */
static inline struct heap *heap_self(void)
{
#if OBMT_UNDER_TSAN
    return __atomic_load_n(&tls_self.heap, __ATOMIC_SEQ_CST);
#else
    return obmt_load_acquire(&tls_self.heap);
#endif
}
static inline bool span_chain_continues(const struct heap *h, const void *ptr)
{
    return ptr == h->chain.last; /* (the dummy heaps' last is NULL) */
}
static inline void span_chain_moved(struct heap *h, void *q, int slot)
{
    if (!heap_real(h))
        return;
    h->chain.last = q;
    h->chain.refused = slot == -2;
    if (slot >= 0)
        h->chain.spans[slot] = q;
}
static inline bool span_chain_holds(const struct heap *h, const void *b)
{
    for (int i = 0; i < OBMT_REALLOC_CHAIN_SPANS; i++)
        if (h->chain.spans[i] == b)
            return true;
    return false;
}
/* The heap whose owner-only statistics the calling thread may bump, or NULL
 * (no heap yet, or lent: then it counts in the globals of a thread
 * without a heap). huge.c's byte counters. */
static inline struct heap *heap_counting(void)
{
    struct heap *h = heap_self();
    return heap_real(h) ? h : NULL;
}
/* The same, after waiting for a lender to finish: never &heap_lending.
 * Only thread exit waits (inside lend_enter/lend_leave). */
OBMT_HIDDEN struct heap *heap_self_wait(void);
/* pool_pop for malloc's fast paths, which run inside lend_enter: it also
 * leaves (after the refill, which it reaches by a tail call: no frame). */
static inline void *pool_pop_leave(struct heap *h, pool_header *p)
{
    block *next;
    uintptr_t w;
    block *b = pool_unlink_head(p, &next, &w);
    if (unlikely(!next))
        return pool_refill_leave(h, p, b);
    pool_pop_prefetch(w, b, next);
    lend_leave();
    return b;
}
/* Per heap, in struct heap: lend_state (LEND_* below), lend_tls and
 * lend_busy (the owner thread's tls_self.heap and tls_self.busy). */
#define LEND_CLOSED 0u  /* no thread, or its thread is exiting: never lent */
#define LEND_OPEN   1u  /* a thread uses it; a lender may try */
#define LEND_HELD   2u  /* a lender holds it */
/* heap_get_slow, after tls_self.heap is set: the heap may be lent from now on. */
OBMT_HIDDEN void lend_open(struct heap *h);
/* Exit: wait out a lender, then close h to lending for good. */
OBMT_HIDDEN void lend_close(struct heap *h);
/* The reclaim pass (its flag held): if h's thread has been away from obmt
 * long enough and is outside it now, collect h on its behalf and give its
 * empty pools back, purged. true if it did. */
OBMT_HIDDEN bool lend_try(struct heap *h, uint64_t now, long delay);
/* Init: register for membarrier; lending is off if that fails. */
OBMT_HIDDEN void lend_init_process(void);
OBMT_HIDDEN bool lend_available(void);
/* Statistics: heaps collected by a lender, tries that found the thread
 * inside obmt, and mallocs and frees that met a lent heap and did without it
 * (fetch_add relaxed). */
OBMT_HIDDEN extern uint64_t g_heaps_lent, g_lend_busy, g_lend_detours;

/* ==== bstack.c: the block stack, freed blocks a heap keeps per class ====== */

/*
 * Per heap and class, a stack of blocks of the heap's own pools that its
 * thread freed, linked through their first words from btop[c] (NULL at
 * the bottom), bstack_pushes[c] - bstack_pops[c] blocks (8-bit counters
 * that wrap; the depth is at most 255). The owner's free pushes there while the
 * stack has room (h->bstack_cap[c]: obmt_bstack_cap[c] unless
 * OBMT_BLOCK_STACK asks for fewer, more while the class cycles past it:
 * bstack_grow); its malloc pops from there first.
 * Neither touches the block's pool. A stacked block is free to the program
 * and still out to its pool: the pool's count counts it, so nothing takes
 * the pool from the heap (every path that takes pools away flushes the
 * stacks first: collect, exit, a lender), and the block carries the free
 * key with its link (NULL, or the next stacked block: of the same class,
 * maybe of another of h's pools), so that a second free of it aborts as a
 * second free of a block on a pool's list does (block_keyed_check accepts
 * both kinds of link). Both ends run inside the owner's busy region
 * (lend.c): a lender that holds the heap flushes its stacks.
 * Why linked through the blocks rather than an array of slots in the heap
 * (until 2026-12-01: 64 slots a class, 24 KiB of the heap): the push
 * writes the block's two words anyway (link and key), and the pop reads
 * the link from the line it hands out, so a stack costs no line of its
 * own; a program that frees and mallocs blocks of many classes at random
 * touched a slot line per class besides (fastpath_replace_8k/20000
 * 36 -> 41 M items/s; bench/results/2026-12-01-bstack-list.md). The link
 * is a pointer of the same class, so secure mode checks it on the pop as
 * it checks a pool list's (bstack_next).
 * Why two counters rather than a depth (until 2026-12-01): malloc's pop
 * tests the top, not a depth, and counts its pops; free's push counts its
 * pushes, and reads the pops only for the bound, a predicted branch. A
 * malloc/free loop of one size waited, twice a pair, for a depth to pass
 * from one side's store to the other's load (1-byte loads wait for store
 * forwarding; bench/results/2026-12-01-lifo-chain.md); each counter now
 * waits for its own side's store only, once a pair, and the two chains
 * overlap: fastpath_lifo +25-35% (bench/results/2026-12-01-bstack-split.md).
 * A 64-bit word holding the top and the depth got lifo as much, but lost
 * 4-9% on random sizes, as a 32-bit depth had (the core renames 32- and
 * 64-bit loads and pays when it guesses wrong); 8-bit counters are never
 * renamed.
 */
OBMT_HIDDEN extern const uint8_t obmt_bstack_cap[64];
OBMT_HIDDEN extern const uint8_t obmt_bstack_grown_cap[64];
/* Free of b (class c, a block of one of h's pools, checked) onto its
 * stack, whose pushes are `pushes` (h->bstack_pushes[c], read once: a
 * byte's store through b may alias it, for the compiler) and whose depth
 * is below h->bstack_cap[c]. key: free_key(). */
static inline void bstack_push(struct heap *h, size_t c, uint8_t pushes, block *b, uintptr_t key)
{
    block_set_free(b, h->btop[c], key);
    h->btop[c] = b;
    obmt_store_relaxed(&h->bstack_pushes[c], (uint8_t)(pushes + 1));
}
/* The depth of class c's stack (at most obmt_bstack_grown_cap[c], below 256),
 * whose pushes are `pushes`. */
static inline size_t bstack_depth(const struct heap *h, size_t c, uint8_t pushes)
{
    return (uint8_t)(pushes - h->bstack_pops[c]);
}
/* Class c's stack is full, and a malloc of the class went to a pool
 * since the stack last grew: double its bound if the class and the heap
 * have room (OBMT_BSTACK_GROWN_*: tunables.h). True if it grew. Clears
 * h->bstack_under[c] either way. The owner's free, inside its busy region. */
OBMT_HIDDEN bool bstack_grow(struct heap *h, size_t c);
/* The owner's free of b (a checked live block of p, a pool h owns) onto
 * its class's stack if the stack has room (below h->bstack_cap[c]): true
 * then; false leaves everything as it was (the free goes to the pool, or
 * to bstack_try_push_grown if h->bstack_under[c]). key: free_key().
 * free's fast path (api.c). */
static inline bool bstack_try_push(struct heap *h, pool_header *p, block *b, uintptr_t key)
{
    size_t c = p->szidx;
    uint8_t pushes = h->bstack_pushes[c];
    if (unlikely(bstack_depth(h, c, pushes) >= h->bstack_cap[c]))
        return false;
    bstack_push(h, c, pushes, b, key);
    return true;
}
/* bstack_try_push, the stack grown first where it is full and its class
 * cycles past it (bstack_grow): free's slow owner paths, which make calls
 * anyway (the fast path tests bstack_under itself and gets here by a tail
 * call, so that it needs no stack frame). */
static inline bool bstack_try_push_grown(struct heap *h, pool_header *p, block *b, uintptr_t key)
{
    if (bstack_try_push(h, p, b, key))
        return true;
    size_t c = p->szidx;
    return h->bstack_under[c] && bstack_grow(h, c) && bstack_try_push(h, p, b, key);
}
/* malloc of class c found its stack empty and goes to a pool (bstack_grow's
 * hint, where the stack may grow). A real heap only: &heap_empty and
 * &heap_lending own no pool. */
static inline void bstack_note_under(struct heap *h, size_t c)
{
    h->bstack_under[c] = h->bstack_growable[c];
}
/* Secure mode: a stacked link that is not NULL nor a carved block of a
 * pool of class c that h owns (a write after free over the link). */
OBMT_HIDDEN void bstack_link_check(struct heap *h, size_t c, block *b, block *next);
/* The link of b, the top of class c's stack: the next block down. */
static inline block *bstack_next(struct heap *h, size_t c, block *b)
{
    block *next = (block *)block_link_word(b); /* no hint bits: bstack_push wrote it */
    if (OBMT_SECURE)
        bstack_link_check(h, c, b, next);
    return next;
}
/* The top block b of class c's stack taken off, still marked free (a
 * flush hands it to its pool so). */
static inline void bstack_unlink(struct heap *h, size_t c, block *b)
{
    uint8_t pops = h->bstack_pops[c];
    h->btop[c] = bstack_next(h, c, b);
    obmt_store_relaxed(&h->bstack_pops[c], (uint8_t)(pops + 1));
}
/* malloc's side: b, the top block of class c's stack (not NULL), handed out. */
static inline block *bstack_pop(struct heap *h, size_t c, block *b)
{
    bstack_unlink(h, c, b);
    block_clear_key(b);
    return b;
}
/* malloc's pops count down bstack_ticks: a thread whose mallocs and frees
 * all stay on its stacks meets no pool edge, and would never tick (no
 * purge, no lending of idle heaps by its reclaim pass: bench/blowup's
 * main thread). Every OBMT_BSTACK_TICK_POPS pops it ticks (bstack.c);
 * then leaves. */
#define OBMT_BSTACK_TICK_POPS 1024
OBMT_HIDDEN void *bstack_ticked_leave(struct heap *h, block *b);
/* The stacks' bounds back to their fixed ones, from the options now
 * (OBMT_BLOCK_STACK; 0 where idle heaps cannot be lent): when the heap is
 * taken, and by every flush (below). */
OBMT_HIDDEN void bstack_reset(struct heap *h);
/* Every stacked block of h back to its pool, as the owner's free puts it
 * there but without ticks, and the bounds reset: by h's thread (collect,
 * exit). */
OBMT_HIDDEN void bstack_flush(struct heap *h);
/* The same by a lender holding h: a pool that empties goes to h's cache of
 * empty pools (which the lender then takes, to purge once h is back),
 * never straight to its arena. */
OBMT_HIDDEN void bstack_flush_lent(struct heap *h);
/* Fork child, a dead thread's heap: its stacks are forgotten, their
 * blocks stay out in their pools (like that heap's used pools). */
OBMT_HIDDEN void bstack_drop(struct heap *h);

/* ==== remote.c: remote frees, batched per pool, and their hand-over ======== */

/* Free of a block whose pool the calling thread does not own, inside
 * lend_enter with h the heap read there (its own, &heap_empty or
 * &heap_lending); leaves: checked, then added to the thread's batch for its
 * pool, or, without a heap (&heap_empty) or while a lender holds it
 * (&heap_lending: one of lend.c's detours), handed over at once. */
OBMT_HIDDEN void heap_free_remote_leave(pool_header *p, struct heap *h, block *b);
/* The same, for free's path, which has just read an owner that is another
 * heap: without a second load and test of the owner word (a pool freed
 * since, a double free, is still caught: its blocks carry the free key, a
 * purged pool's reset header fails the carved test, and a batch's start
 * and hand-over read the owner again). 4
 * instructions a remote free (instr_count remote: 77.1 -> 73.1 at 16
 * bytes). */
OBMT_HIDDEN void heap_free_remote_owned_leave(pool_header *p, struct heap *h, block *b);
/* Hand over every batch of h (h's thread: ticks, collect, exit, fork). */
OBMT_HIDDEN void heap_flush_remote(struct heap *h);
/* The same by a lender holding h: a pool that the hand-over would adopt is
 * released instead (remote.c, remote_hand_over). */
OBMT_HIDDEN void heap_flush_remote_lent(struct heap *h);

/* ==== shared.c: partially used pools that no heap owns, per class ========= */

/* The caller's CAS just set ABANDONED on p, which had a free block and was
 * of class c then: mark it in class c's bitmap (idempotent; a stale bit
 * elsewhere does not matter). Any thread; lock-free. */
OBMT_HIDDEN void shared_mark(pool_header *p, unsigned c);
/* malloc's slow path, h's thread, usedpools[c] empty: adopt pools marked
 * in class c's bitmap, lowest address first, until usedpools[c] has one.
 * true if it has. */
OBMT_HIDDEN bool shared_take(struct heap *h, unsigned c);
/* Fork child: the arena bits again from the words (a marker cut by the
 * fork between its word and its arena bit). */
OBMT_HIDDEN void shared_atfork_child(void);
/* Pools marked, and pools adopted from a map (fetch_add relaxed; stats). */
OBMT_HIDDEN extern uint64_t g_pools_shared, g_pools_from_shared;

/* ==== reclaim.c: emptied pools of idle heaps, purged in place ============== */

/* Pools the reclaim pass purged in place (fetch_add relaxed; statistics). */
OBMT_HIDDEN extern uint64_t g_pools_reclaimed;
/* Purge in place the pools on other heaps' `returned` stacks whose every
 * block is on their remote list. At most one pass at a time, and (unless
 * `now`) at most every purge delay / 4 (1 s with purging off). Returns the
 * pools it purged. */
OBMT_HIDDEN size_t reclaim_pass(bool now);
/* obmt_collect: heap_collect(h, true) while no pass holds h's pools off
 * its `returned` stack (a running pass is waited for, others are held off),
 * then a pass over the other heaps (unless purging is off). */
OBMT_HIDDEN size_t reclaim_collect(struct heap *h);
/* Bytes of a pool the pass purges: the whole pool up to its guard page (0
 * with pages larger than a pool, where the pass does nothing). */
OBMT_HIDDEN size_t reclaim_purged_bytes(void);
OBMT_HIDDEN void reclaim_atfork_prepare(void);
OBMT_HIDDEN void reclaim_atfork_parent(void);
OBMT_HIDDEN void reclaim_atfork_child(void);

/* ==== background.c: the optional background thread ======================== */

/* Append one JSON line of statistics to OBMT_STATS_FILE with one write
 * (stats.c); `at` says why ("exit", "interval"). Not reentrant: the
 * background thread and the exit destructor each use their own buffer. */
OBMT_HIDDEN void stats_append_file(const char *at, bool at_exit);
/* Start the background thread if OPT_BACKGROUND_THREAD is 1 (or
 * OPT_STATS_INTERVAL_MS > 0 with OBMT_STATS_FILE set) and none runs;
 * never from inside an allocation (pthread_create allocates). false only if
 * one was wanted and could not be made. */
OBMT_HIDDEN bool background_start(void);
OBMT_HIDDEN bool background_running(void);
OBMT_HIDDEN uint64_t background_wakeups(void);
OBMT_HIDDEN void background_atfork_child(void);

/* ==== large.c: the underlying allocator ==================================== */

/* Finds the underlying allocator (libobmt-override: glibc's __libc_*
 * functions, through dlsym). Called first thing at initialisation. */
OBMT_HIDDEN void large_init(void);
/* obmt_malloc for the other files (api.c): a hidden symbol, so the call
 * does not go through the PLT. */
OBMT_HIDDEN void *api_malloc(size_t n);
/* The underlying allocator's malloc, calloc, memalign; while init runs,
 * the bootstrap area first. */
OBMT_HIDDEN void *large_malloc(size_t n);
OBMT_HIDDEN void *large_calloc(size_t n, size_t size);
OBMT_HIDDEN void *large_realloc(void *p, size_t n);
OBMT_HIDDEN void *large_memalign(size_t align, size_t n);
OBMT_HIDDEN void large_free(void *p);
OBMT_HIDDEN size_t large_usable_size(void *p);

/* ==== stats.c ============================================================= */

/* With OBMT_SHOW_STATS set, keeps a copy of stderr for the destructor that
 * prints the statistics at exit (OBMT_STATS_FILE is written by it too). */
OBMT_HIDDEN void stats_init_process(void);

/* ==== init.c ============================================================== */

enum { INIT_NONE = 0, INIT_RUNNING = 1, INIT_READY = 2, INIT_FAILED = 3 };
/* g_init_state: CAS NONE→RUNNING by the one initialising thread, store
 * release READY/FAILED when done; read acquire. Threads that find RUNNING do
 * not wait: they are served from the bootstrap area meanwhile (large.c). */
OBMT_HIDDEN extern int g_init_state;
/* true when obmt's pools can be used. */
OBMT_HIDDEN bool obmt_ensure_init(void);

#endif /* OBMT_INTERNAL_H */
