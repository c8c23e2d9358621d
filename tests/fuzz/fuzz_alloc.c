/*
 * fuzz_alloc.c: a libFuzzer target that runs random sequences of obmt's
 * allocation calls on two threads and checks every block's contents.
 *
 * The input is byte code, 5 bytes an op (a trailing partial op is ignored,
 * at most MAX_OPS ops):
 *
 *   byte 0  bit 7: thread (0: the fuzzer's thread, 1: the worker thread)
 *           bits 4-6: aux (calloc/reallocarray split, burst count and order)
 *           bits 0-3: kind (malloc, calloc, realloc, free, posix_memalign,
 *           aligned_alloc, memalign, valloc, pvalloc, reallocarray, check,
 *           collect, restart-worker (aux 0; else check all), stats,
 *           burst-alloc, burst-free)
 *   byte 1  bits 0-5: slot (64 slots shared by both threads; bits 0-1 name
 *           a burst group); bits 6-7: the burst's allocation function
 *   byte 2  bits 0-2: size selector (0; 1..512; 1..64; coarse 513..8192; a
 *           table of class boundaries; 8193.. (the underlying allocator);
 *           1..8192; huge sizes that must fail with ENOMEM)
 *           bits 3-7: alignment (a table of 32, valid and invalid)
 *   byte 3-4 a 16-bit value that picks the size within its selector.
 *
 * Ops run one at a time in input order, each on the thread it names: the
 * fuzzer's thread hands runs of thread-1 ops to a worker thread (created
 * once, reused across inputs; the restart op makes it exit, so that pools of
 * an exited thread get adopted) and waits for them, so a crash reproduces
 * from its input alone. Blocks are freed and reallocated on whichever thread
 * an op names, so cross-thread (remote) frees are frequent.
 *
 * Checks (any failure prints the op and aborts): every live block holds a
 * pattern derived from a per-allocation tag over all of its usable size,
 * checked in full before free and realloc; realloc keeps min(old, new)
 * bytes, and realloc(p, 0) frees p and returns NULL (glibc's rule);
 * calloc memory is zero; usable size >= request and stable; blocks
 * are 16-byte aligned and honour the requested alignment; live blocks never
 * overlap; obmt_owns is true for every request from malloc, calloc and
 * realloc (but a realloc of the underlying allocator's block above the
 * pools' sizes stays there) and aligned requests up to the arena's
 * alignment, and pool and medium blocks have their class size; huge
 * requests and overflowing counts give NULL and ENOMEM with the old block
 * untouched, bad alignments EINVAL (posix_memalign: returned, *out
 * untouched, errno kept; memalign rounds an alignment that is not a power
 * of two up to one, as glibc's does); statistics are consistent and monotonic (and,
 * with version 2 statistics, count exactly the live pool blocks). At the
 * end of each input every live block is freed (slot i on thread i % 2),
 * the threads collect (0, 1, 0: a collect hands over batched remote frees
 * too), and then no pool may be left out of its
 * arena: a block lost by obmt keeps its pool out.
 *
 * Built with -DFUZZ_ALLOC_REPLAY_MAIN it is fuzz_alloc_replay, with its own
 * main(): it runs the files (or directories of files) given, or N random
 * inputs from a seed (-n N -s SEED), and writes the built-in seed inputs
 * with --write-seeds DIR. FUZZ_ALLOC_TRACE=1 in the environment prints
 * every op as it runs, in either binary.
 *
 * It calls obmt_* only (never malloc for blocks under test), so it also runs
 * under ThreadSanitizer and AddressSanitizer, which own malloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obmt.h"
#include "tunables.h" /* OBMT_SMALL_MAX and the size classes */

#define NSLOTS 64
#define NGROUPS 4
#define GROUP_MAX 4096
#define MAX_OPS 1024
#define OP_BYTES 5

/* Huge requests the underlying allocator must refuse too: above the 47-bit
 * user address space, so that no overcommit setting lets them through. */
#define HUGE_MIN ((size_t)1 << 48)

/* Under AddressSanitizer and ThreadSanitizer, which own malloc, requests
 * that obmt passes on and the sanitizer refuses print a warning each (and
 * ASan 14 fails an internal CHECK on alignments of 2^62 and up): there, huge
 * requests are only those above PTRDIFF_MAX, which obmt refuses itself. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_MALLOC 1
#endif
#endif
#ifndef SANITIZER_MALLOC
#define SANITIZER_MALLOC 0
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* A huge request must come back NULL + ENOMEM, not as a sanitizer report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "allocator_may_return_null=1"; }

/* The harness's own loops (patterns, zero checks) carry no coverage
 * information worth a comparison hook per byte. */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

enum kind {
    K_MALLOC, K_CALLOC, K_REALLOC, K_FREE, K_POSIX_MEMALIGN, K_ALIGNED_ALLOC,
    K_MEMALIGN, K_VALLOC, K_PVALLOC, K_REALLOCARRAY, K_CHECK, K_COLLECT,
    K_RESTART, K_STATS, K_BURST_ALLOC, K_BURST_FREE, NKINDS,
    K_END = NKINDS /* not in inputs: the end-of-input check */
};
static const char *const kind_name[NKINDS + 1] = {
    "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "reallocarray", "check", "collect",
    "restart", "stats", "burst_alloc", "burst_free", "end"
};

struct op {
    uint16_t idx; /* position in the input; cleanup ops are numbered after it */
    uint8_t thread, kind, aux, slot, hi, szsel, alsel;
    uint16_t val;
};

struct slot {
    unsigned char *p;  /* NULL: empty */
    size_t req;        /* bytes asked for */
    size_t usable;     /* obmt_usable_size at allocation */
    size_t span;       /* bytes patterned: usable, or under a sanitizer's malloc
                          req for its blocks (TSan says 1 usable byte for a
                          0-byte block, then reports a write to it) */
    uint64_t tag;
    int owned;         /* obmt_owns at allocation */
    int thread;        /* that allocated it (for traces) */
};

struct group {
    void *blk[GROUP_MAX];
    size_t n, size;
    uint64_t tag;
};

static struct slot slots[NSLOTS];
static struct group groups[NGROUPS];
static uint64_t next_tag;
static size_t page_size;
static int trace;
static size_t boundary[128];
static size_t nboundary;

/* The first four reach the underlying allocator, the last four not. */
static const size_t huge_sizes[8] = {
    HUGE_MIN, (size_t)1 << 56, (size_t)PTRDIFF_MAX - 4095, (size_t)PTRDIFF_MAX,
    (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4095, SIZE_MAX - 15, SIZE_MAX
};
#define HUGE_FIRST (SANITIZER_MALLOC ? 4 : 0)

/* Valid alignments first; 1, 2, 4 are valid for aligned_alloc and memalign
 * but not posix_memalign; then alignments that are not powers of two; then
 * powers of two too large to be served (not under a sanitizer's malloc). */
#define HUGE_ALIGN(a) (SANITIZER_MALLOC ? (a) + 8 : (a))
static const size_t aligns[32] = {
    16, 32, 64, 128, 8, 16, 32, 64,
    256, 512, 1024, 4096, 8192, 65536, (size_t)1 << 21, 128,
    1, 2, 4, 32, 64,
    0, 3, 24, 48, 96, 100, 4097, 12288, SIZE_MAX,
    HUGE_ALIGN((size_t)1 << 62), HUGE_ALIGN((size_t)1 << 63)
};

static const unsigned burst_counts[8] = { 1, 7, 33, 100, 255, 600, 2048, 4096 };

static __attribute__((noreturn, format(printf, 2, 3))) void fail(const struct op *o, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz_alloc: FAILED at op #%u (T%u %s slot %u): ", o->idx, o->thread,
            kind_name[o->kind], o->slot);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define REQUIRE(o, cond, ...)                                                  \
    do {                                                                       \
        if (__builtin_expect(!(cond), 0))                                      \
            fail(o, __VA_ARGS__);                                              \
    } while (0)

static int is_pow2(size_t x) { return x && !(x & (x - 1)); }

static NO_COVERAGE uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- patterns: byte i of a block with tag t depends on (t, i) only, so a
 * moved block (realloc) keeps it. --------------------------------------- */

static inline uint64_t pat_word(uint64_t seed, size_t k) { return seed ^ (k * 0x9e3779b97f4a7c15ULL); }

static NO_COVERAGE void pat_fill(unsigned char *p, size_t from, size_t to, uint64_t tag)
{
    uint64_t seed = mix64(tag);
    size_t i = from;
    for (; i < to && (i & 7); i++)
        p[i] = (unsigned char)(pat_word(seed, i >> 3) >> ((i & 7) * 8));
    for (; i + 8 <= to; i += 8) {
        uint64_t w = pat_word(seed, i >> 3);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++)
        p[i] = (unsigned char)(pat_word(seed, i >> 3) >> ((i & 7) * 8));
}

/* Index of the first byte in [from, to) that differs, or SIZE_MAX. */
static NO_COVERAGE size_t pat_find_bad(const unsigned char *p, size_t from, size_t to, uint64_t tag)
{
    uint64_t seed = mix64(tag);
    size_t i = from;
    for (; i < to && (i & 7); i++)
        if (p[i] != (unsigned char)(pat_word(seed, i >> 3) >> ((i & 7) * 8)))
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w = pat_word(seed, i >> 3), v;
        memcpy(&v, p + i, 8);
        if (v != w)
            break;
    }
    for (; i < to; i++)
        if (p[i] != (unsigned char)(pat_word(seed, i >> 3) >> ((i & 7) * 8)))
            return i;
    return SIZE_MAX;
}

/* ---- sizes ----------------------------------------------------------------- */

/* The usable size of a pool block for a request of n bytes (README: 16-byte
 * classes up to 512, then the coarse classes that fill a pool exactly). */
static size_t class_size(size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= OBMT_FINE_MAX)
        return (n + OBMT_ALIGNMENT - 1) & ~(OBMT_ALIGNMENT - 1);
    for (int j = 0; j < OBMT_NCOARSE; j++)
        if (n <= (size_t)OBMT_COARSE(OBMT_COARSE_K(j)))
            return OBMT_COARSE(OBMT_COARSE_K(j));
    return 0;
}

/* The usable size of a medium block (span.c) for a request of n bytes,
 * OBMT_SMALL_MAX < n <= OBMT_MEDIUM_MAX: four classes per doubling. */
static size_t medium_size(size_t n)
{
    size_t m = n - 1;
    unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)m);
    return ((m >> (lg - 2)) + 1) << (lg - 2);
}

/* What a request of n bytes from malloc or calloc gets: its class size. */
static size_t request_size(size_t n)
{
    return n <= OBMT_SMALL_MAX ? class_size(n) : n <= OBMT_MEDIUM_MAX ? medium_size(n) : 0;
}

static void add_boundary(size_t n)
{
    if (nboundary < sizeof boundary / sizeof boundary[0])
        boundary[nboundary++] = n;
}

static void init_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    const char *t = getenv("FUZZ_ALLOC_TRACE");
    trace = t && *t && *t != '0';
    static const size_t fixed[] = { 1, 2, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 96,
        127, 128, 129, 255, 256, 257, 511, 512, 513, 4095, 4096, 4097, 16384, 65536,
        131071, 131072, 131073, 262144, (size_t)1 << 20 };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        add_boundary(fixed[i]);
    for (int j = 0; j < OBMT_NCOARSE; j++) {
        size_t c = OBMT_COARSE(OBMT_COARSE_K(j));
        add_boundary(c - 1);
        add_boundary(c);
        add_boundary(c + 1);
    }
    /* Give this thread its heap now, so that statistics always count one. */
    obmt_free(obmt_malloc(1));
}

static int size_is_huge(const struct op *o) { return o->szsel == 7; }

static size_t op_size(const struct op *o)
{
    size_t v = o->val;
    switch (o->szsel) {
    case 0: return 0;
    case 1: return 1 + v % OBMT_FINE_MAX;
    case 2: return 1 + v % 64;
    case 3: return OBMT_FINE_MAX + 1 + v % (OBMT_SMALL_MAX - OBMT_FINE_MAX);
    case 4: return boundary[v % nboundary];
    case 5: return OBMT_SMALL_MAX + 1 + v;
    case 6: return 1 + v % OBMT_SMALL_MAX;
    default: return huge_sizes[HUGE_FIRST + v % (8 - HUGE_FIRST)];
    }
}

/* ---- slots ----------------------------------------------------------------- */

/* Full check of a live slot: usable size and ownership unchanged, pattern
 * intact over the whole usable size (span). */
static void slot_check(const struct op *o, const struct slot *s, const char *when)
{
    size_t u = obmt_usable_size(s->p);
    REQUIRE(o, u == s->usable, "%s: usable size of %p changed from %zu to %zu", when,
            (void *)s->p, s->usable, u);
    REQUIRE(o, obmt_owns(s->p) == s->owned, "%s: obmt_owns(%p) changed", when, (void *)s->p);
    size_t bad = pat_find_bad(s->p, 0, s->span, s->tag);
    REQUIRE(o, bad == SIZE_MAX, "%s: block %p (%zu bytes asked, %zu usable, tag %llu, from T%d) "
            "corrupted at byte %zu", when, (void *)s->p, s->req, s->usable,
            (unsigned long long)s->tag, s->thread, bad);
}

static void slot_free(const struct op *o, struct slot *s)
{
    slot_check(o, s, "before free");
    obmt_free(s->p);
    s->p = NULL;
}

/* Record a new block in slot s (whose old block, if any, is gone): check its
 * alignment, usable size, ownership and that it overlaps no other live block,
 * then fill it. exact_usable: the class size it must have if it is a pool
 * block (0: any); want_owned: -1 when either is right. */
static void slot_set(const struct op *o, struct slot *s, void *p, size_t req, size_t align,
                     int want_owned, size_t exact_usable, uint64_t tag, size_t keep)
{
    uintptr_t a = (uintptr_t)p;
    REQUIRE(o, a % OBMT_ALIGNMENT == 0, "%p is not %zu-byte aligned", p, (size_t)OBMT_ALIGNMENT);
    REQUIRE(o, align <= 1 || a % align == 0, "%p is not %zu-byte aligned as asked", p, align);
    size_t u = obmt_usable_size(p);
    REQUIRE(o, u >= req, "usable size %zu of %p is below the %zu bytes asked", u, p, req);
    int owned = obmt_owns(p);
    REQUIRE(o, owned == 0 || owned == 1, "obmt_owns returned %d", owned);
    if (want_owned >= 0)
        REQUIRE(o, owned == want_owned, "obmt_owns(%p) is %d for a %zu-byte request", p, owned, req);
    if (owned && req <= OBMT_MEDIUM_MAX && u > OBMT_MEDIUM_MAX) {
        /* A medium block grown by realloc a quarter past the medium sizes:
         * a huge one. */
        REQUIRE(o, a % OBMT_ARENA_SIZE == 0 && (u + OBMT_POOL_GUARD) % OBMT_ARENA_SIZE == 0,
                "huge block %p for %zu bytes: usable size %zu", p, req, u);
    } else if (owned && req > OBMT_MEDIUM_MAX) {
        /* A huge block: the start of a run of whole arenas, its usable size
         * the run's (less secure mode's last guard page). */
        REQUIRE(o, a % OBMT_ARENA_SIZE == 0 && (u + OBMT_POOL_GUARD) % OBMT_ARENA_SIZE == 0 &&
                u - req < OBMT_ARENA_SIZE, "huge block %p for %zu bytes: usable size %zu", p, req, u);
    } else if (owned && u > OBMT_SMALL_MAX) {
        /* A medium block: a span of pools, its usable size a medium class. */
        REQUIRE(o, a % ((size_t)1 << OBMT_POOL_SHIFT) == 0 && u <= OBMT_MEDIUM_MAX && u == medium_size(u),
                "medium block %p for %zu bytes: usable size %zu", p, req, u);
        if (exact_usable)
            REQUIRE(o, u == exact_usable, "medium block %p for %zu bytes has usable size %zu, "
                    "class size is %zu", p, req, u, exact_usable);
    } else if (owned) {
        REQUIRE(o, u <= OBMT_SMALL_MAX && u % OBMT_ALIGNMENT == 0,
                "pool block %p has usable size %zu, not a class size", p, u);
        if (exact_usable)
            REQUIRE(o, u == exact_usable, "pool block %p for %zu bytes has usable size %zu, "
                    "class size is %zu", p, req, u, exact_usable);
    }
    for (int i = 0; i < NSLOTS; i++) {
        const struct slot *t = &slots[i];
        if (t == s || !t->p)
            continue;
        uintptr_t b = (uintptr_t)t->p;
        REQUIRE(o, a + u <= b || b + t->usable <= a,
                "new block %p (%zu usable) overlaps live block %p (%zu usable) of slot %d",
                p, u, (void *)t->p, t->usable, i);
    }
    s->p = p;
    s->req = req;
    s->usable = u;
    s->span = owned || !SANITIZER_MALLOC ? u : req;
    s->tag = tag;
    s->owned = owned;
    s->thread = o->thread;
    pat_fill(s->p, keep, s->span, tag);
}

static NO_COVERAGE void check_zero(const struct op *o, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        REQUIRE(o, c[i] == 0, "calloc block %p is not zero at byte %zu of %zu", p, i, n);
}

/* Make room in slot s for a new allocation: free what it holds. */
static void slot_vacate(const struct op *o, struct slot *s)
{
    if (s->p)
        slot_free(o, s);
}

#define EXPECT_FAIL(o, p, err, what)                                           \
    do {                                                                       \
        REQUIRE(o, (p) == NULL, "%s succeeded (%p), must fail", what, (void *)(p)); \
        REQUIRE(o, errno == (err), "%s failed with errno %d, not %d", what, errno, err); \
    } while (0)

/* calloc and reallocarray: (count, size) from aux; mode 3 overflows. */
static void split(const struct op *o, size_t n, size_t *count, size_t *size, int *overflow)
{
    *overflow = 0;
    switch (o->aux & 3) {
    case 0: *count = 1; *size = n; break;
    case 1: *count = n; *size = 1; break;
    case 2:
        if (size_is_huge(o)) { *count = 1; *size = n; break; }
        *count = 1 + (o->val & 15);
        *size = n / *count;
        break;
    default:
        *overflow = 1;
        *count = ((size_t)1 << 33) + o->val;
        *size = ((size_t)1 << 31) + n % 4096;
        if (o->aux & 4) { /* the other order, and a near miss of SIZE_MAX */
            *count = SIZE_MAX / 3 + 1;
            *size = 3;
        }
        break;
    }
}

static void op_malloc(const struct op *o)
{
    struct slot *s = &slots[o->slot];
    size_t n = op_size(o);
    slot_vacate(o, s);
    errno = 0;
    void *p = obmt_malloc(n);
    if (size_is_huge(o)) {
        EXPECT_FAIL(o, p, ENOMEM, "malloc(huge)");
        return;
    }
    REQUIRE(o, p != NULL, "malloc(%zu) failed, errno %d", n, errno);
    slot_set(o, s, p, n, 0, 1, request_size(n), next_tag++, 0);
}

static void op_calloc(const struct op *o)
{
    struct slot *s = &slots[o->slot];
    size_t count, size, n = op_size(o);
    int overflow;
    split(o, n, &count, &size, &overflow);
    slot_vacate(o, s);
    errno = 0;
    void *p = obmt_calloc(count, size);
    if (overflow || size_is_huge(o)) {
        EXPECT_FAIL(o, p, ENOMEM, "calloc(huge or overflowing)");
        return;
    }
    REQUIRE(o, p != NULL, "calloc(%zu, %zu) failed, errno %d", count, size, errno);
    size_t total = count * size;
    check_zero(o, p, total);
    slot_set(o, s, p, total, 0, 1, request_size(total), next_tag++, 0);
}

/* realloc and reallocarray: count/size, or plain size when !array. */
static void do_realloc(const struct op *o, int array)
{
    struct slot *s = &slots[o->slot];
    size_t count = 1, size = op_size(o), n;
    int overflow = 0;
    if (array)
        split(o, size, &count, &size, &overflow);
    n = overflow ? 0 : count * size;
    if (s->p)
        slot_check(o, s, "before realloc");
    errno = 0;
    void *q = array ? obmt_reallocarray(s->p, count, size) : obmt_realloc(s->p, size);
    if (overflow || size_is_huge(o)) {
        EXPECT_FAIL(o, q, ENOMEM, array ? "reallocarray(huge or overflowing)" : "realloc(huge)");
        if (s->p)
            slot_check(o, s, "after failed realloc (block must be untouched)");
        return;
    }
    if (s->p && n == 0) {
        /* As glibc's: a free, and NULL (errno untouched). */
        REQUIRE(o, q == NULL && errno == 0, "realloc(%p, 0) = %p, errno %d: must free and return NULL",
                (void *)s->p, q, errno);
        s->p = NULL;
        return;
    }
    REQUIRE(o, q != NULL, "realloc(%p, %zu) failed, errno %d", (void *)s->p, n, errno);
    size_t keep = 0;
    uint64_t tag = next_tag++;
    if (s->p) {
        keep = s->req < n ? s->req : n;
        tag = s->tag;
        size_t bad = pat_find_bad(q, 0, keep, tag);
        REQUIRE(o, bad == SIZE_MAX, "realloc(%p [%zu bytes], %zu) = %p lost the contents at byte %zu",
                (void *)s->p, s->req, n, q, bad);
    }
    int small = n <= OBMT_SMALL_MAX;
    /* realloc(NULL, n) is malloc(n): the exact class; a moved or kept block
     * may be larger (realloc grows by a quarter, keeps a block down to half).
     * A size above the pools' is obmt's unless the block was the underlying
     * allocator's (it stays there). */
    size_t exact = !s->p ? request_size(n) : 0;
    int owned_after = small || !s->p || s->owned;
    s->p = NULL; /* freed or moved by realloc */
    slot_set(o, s, q, n, 0, owned_after, exact, tag, keep);
}

/* The failure an aligned request must get, or 0. -1: ENOMEM or EINVAL.
 * (memalign rounds its alignment first: see op_aligned.) */
static int aligned_expect(const struct op *o, size_t a, int posix)
{
    if (!is_pow2(a) || (posix && a < sizeof(void *)))
        return EINVAL;
    if (a >= (size_t)1 << 62)
        return -1;
    if (size_is_huge(o))
        return ENOMEM;
    return 0;
}

static void op_aligned(const struct op *o)
{
    struct slot *s = &slots[o->slot];
    size_t n = op_size(o), a = aligns[o->alsel], min_usable;
    int expect;
    /* ThreadSanitizer's malloc_usable_size says 1 for a 0-byte block, and
     * reports the read when obmt_realloc copies that byte to move the block
     * into a pool: no 0-byte requests to the underlying allocator there. */
    if (UNDER_TSAN && n == 0)
        n = 1;
    min_usable = n;
    void *p = NULL;
    slot_vacate(o, s);
    errno = 0;
    switch (o->kind) {
    case K_POSIX_MEMALIGN: {
        void *sentinel = (void *)(uintptr_t)0x5a5a5a5a;
        void *out = sentinel;
        expect = aligned_expect(o, a, 1);
        errno = 12345;
        int rc = obmt_posix_memalign(&out, a, n);
        if (expect) {
            REQUIRE(o, rc == expect || (expect == -1 && (rc == ENOMEM || rc == EINVAL)),
                    "posix_memalign(%zu, %zu) returned %d, expected %d", a, n, rc, expect);
            REQUIRE(o, out == sentinel, "posix_memalign failed but wrote *out");
            REQUIRE(o, errno == 12345, "posix_memalign changed errno to %d", errno);
            return;
        }
        REQUIRE(o, rc == 0, "posix_memalign(%zu, %zu) returned %d", a, n, rc);
        REQUIRE(o, out != sentinel && out != NULL, "posix_memalign gave %p", out);
        p = out;
        break;
    }
    case K_ALIGNED_ALLOC:
        expect = aligned_expect(o, a, 0);
        p = obmt_aligned_alloc(a, n);
        break;
    case K_MEMALIGN: {
        /* glibc's rule: up to 16 (0 too) is malloc's, others round up to a
         * power of two; what comes back must be aligned to the rounded one. */
        size_t r = a <= 16 ? 16 : a;
        while (!is_pow2(r) && r <= SIZE_MAX / 2)
            r = (r | (r >> 1) | (r >> 2) | (r >> 4) | (r >> 8) | (r >> 16) | (r >> 32)) + 1;
        expect = a > SIZE_MAX / 2 + 1 ? EINVAL : aligned_expect(o, r, 0);
        p = obmt_memalign(a, n);
        a = r;
        break;
    }
    case K_VALLOC:
        a = page_size;
        expect = size_is_huge(o) ? ENOMEM : 0;
        p = obmt_valloc(n);
        break;
    default: /* K_PVALLOC */
        a = page_size;
        expect = size_is_huge(o) ? ENOMEM : 0;
        min_usable = n ? ((n + page_size - 1) & ~(page_size - 1)) : page_size;
        p = obmt_pvalloc(n);
        break;
    }
    if (expect) {
        REQUIRE(o, p == NULL, "%s(%zu, %zu) succeeded (%p), must fail", kind_name[o->kind], a, n, p);
        REQUIRE(o, errno == expect || (expect == -1 && (errno == ENOMEM || errno == EINVAL)),
                "%s(%zu, %zu) failed with errno %d, expected %d", kind_name[o->kind], a, n, errno, expect);
        return;
    }
    REQUIRE(o, p != NULL, "%s(%zu, %zu) failed, errno %d", kind_name[o->kind], a, n, errno);
    /* obmt's up to the arena's alignment, the underlying allocator's above */
    slot_set(o, s, p, min_usable, a, a <= OBMT_ARENA_SIZE ? 1 : 0, 0, next_tag++, 0);
    s->req = n;
}

static void op_free(const struct op *o)
{
    struct slot *s = &slots[o->slot];
    if (s->p) {
        slot_free(o, s);
        return;
    }
    obmt_free(NULL);
    REQUIRE(o, obmt_usable_size(NULL) == 0, "obmt_usable_size(NULL) != 0");
    REQUIRE(o, obmt_owns(NULL) == 0, "obmt_owns(NULL) != 0");
    int local;
    REQUIRE(o, obmt_owns(&local) == 0, "obmt_owns(a stack address) != 0");
    REQUIRE(o, obmt_owns(slots) == 0, "obmt_owns(a static address) != 0");
}

static void op_check(const struct op *o)
{
    struct slot *s = &slots[o->slot];
    if (s->p) {
        slot_check(o, s, "check");
        if (o->aux & 1) { /* retag: rewrite the block */
            s->tag = next_tag++;
            pat_fill(s->p, 0, s->span, s->tag);
        }
    }
}

static void op_collect(const struct op *o)
{
    obmt_collect();
    if (o->aux & 1)
        for (int i = 0; i < NSLOTS; i++)
            if (slots[i].p)
                slot_check(o, &slots[i], "after collect");
}

static void count_line(const char *line, void *arg)
{
    (void)line;
    ++*(int *)arg;
}

static void op_stats(const struct op *o)
{
    static struct obmt_stats last;
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    REQUIRE(o, obmt_stats_get(&st) == 0, "obmt_stats_get failed");
    REQUIRE(o, st.pool_size == OBMT_POOL_SIZE && st.small_request_max == OBMT_SMALL_MAX &&
            st.arena_size == OBMT_ARENA_SIZE, "stats: pool %llu, small max %llu, arena %llu",
            (unsigned long long)st.pool_size, (unsigned long long)st.small_request_max,
            (unsigned long long)st.arena_size);
    REQUIRE(o, st.bytes_committed == st.arenas_committed * st.arena_size, "stats: bytes_committed");
    REQUIRE(o, st.arenas_committed <= st.arenas_committed_hwm, "stats: committed above high-water");
    REQUIRE(o, st.arenas_committed_hwm <= st.arenas_used_hwm, "stats: committed high-water above slots used");
    REQUIRE(o, st.pools_given <= st.pools_taken, "stats: pools given %llu > taken %llu",
            (unsigned long long)st.pools_given, (unsigned long long)st.pools_taken);
    REQUIRE(o, st.heaps_in_use >= 1 && st.heaps_in_use <= st.heaps_used_hwm, "stats: heaps in use %llu of %llu",
            (unsigned long long)st.heaps_in_use, (unsigned long long)st.heaps_used_hwm);
    if (last.version) {
#define MONO(f) REQUIRE(o, st.f >= last.f, "stats: " #f " went down from %llu to %llu", \
                        (unsigned long long)last.f, (unsigned long long)st.f)
        /* (not arenas_used_hwm: the frontier drops back when a huge run's
         * fresh slots fail to commit, arena.c frontier_return) */
        MONO(arenas_committed_hwm);
        MONO(arenas_decommitted);
        MONO(pools_taken);
        MONO(pools_given);
        MONO(remote_frees);
        MONO(pools_adopted);
        MONO(large_allocs);
        MONO(heaps_used_hwm);
        MONO(medium_allocs);
        MONO(medium_frees);
#undef MONO
    }
    last = st;
#if OBMT_STATS_VERSION >= 2
    /* Exact while the other thread is parked: the blocks and bytes in use
     * are those of the live pool blocks, and the committed bytes add up. */
    uint64_t blocks = 0, live = 0, live_bytes = 0;
    REQUIRE(o, st.nclasses <= OBMT_STATS_MAX_CLASSES, "stats: nclasses %u", st.nclasses);
    for (uint32_t c = 0; c < st.nclasses; c++)
        blocks += st.classes[c].blocks_in_use;
    uint64_t huge_live = 0, medium_live = 0, medium_bytes = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (slots[i].p && slots[i].owned && slots[i].usable > OBMT_MEDIUM_MAX) {
            huge_live++;
        } else if (slots[i].p && slots[i].owned && slots[i].usable > OBMT_SMALL_MAX) {
            medium_live++;
            medium_bytes += slots[i].usable;
        } else if (slots[i].p && slots[i].owned) {
            live++;
            live_bytes += slots[i].usable;
        }
    for (int g = 0; g < NGROUPS; g++)
        for (size_t i = 0; i < groups[g].n; i++) {
            size_t u = obmt_owns(groups[g].blk[i]) ? obmt_usable_size(groups[g].blk[i]) : 0;
            if (u > OBMT_MEDIUM_MAX) {
                huge_live++;
            } else if (u > OBMT_SMALL_MAX) {
                medium_live++;
                medium_bytes += u;
            } else if (u) {
                live++;
                live_bytes += u;
            }
        }
    REQUIRE(o, blocks == live, "stats: %llu blocks in use, the harness holds %llu",
            (unsigned long long)blocks, (unsigned long long)live);
    REQUIRE(o, st.bytes_in_use == live_bytes, "stats: %llu bytes in use, the harness holds %llu",
            (unsigned long long)st.bytes_in_use, (unsigned long long)live_bytes);
    REQUIRE(o, st.bytes_committed == st.bytes_in_use + st.bytes_free_in_pools + st.bytes_empty_pools +
            st.bytes_free_pools + st.bytes_huge + st.bytes_medium, "stats: committed %llu != in use %llu + "
            "free in pools %llu + empty pools %llu + free pools %llu + huge %llu + medium %llu",
            (unsigned long long)st.bytes_committed, (unsigned long long)st.bytes_in_use,
            (unsigned long long)st.bytes_free_in_pools, (unsigned long long)st.bytes_empty_pools,
            (unsigned long long)st.bytes_free_pools, (unsigned long long)st.bytes_huge,
            (unsigned long long)st.bytes_medium);
    REQUIRE(o, st.huge_allocs - st.huge_frees == huge_live, "stats: %llu huge blocks live, the harness holds %llu",
            (unsigned long long)(st.huge_allocs - st.huge_frees), (unsigned long long)huge_live);
    REQUIRE(o, st.medium_allocs - st.medium_frees == medium_live && st.medium_bytes_in_use == medium_bytes,
            "stats: %llu medium blocks live (%llu bytes), the harness holds %llu (%llu bytes)",
            (unsigned long long)(st.medium_allocs - st.medium_frees), (unsigned long long)st.medium_bytes_in_use,
            (unsigned long long)medium_live, (unsigned long long)medium_bytes);
#endif
    struct obmt_stats bad = { .version = OBMT_STATS_VERSION + 1, .size = sizeof bad };
    errno = 0;
    REQUIRE(o, obmt_stats_get(&bad) == -1 && errno == EINVAL, "obmt_stats_get accepted a bad version");
    if (o->aux & 1) {
        int lines = 0;
        obmt_stats_print(count_line, &lines);
        REQUIRE(o, lines > 0, "obmt_stats_print printed nothing");
        char v[32];
        snprintf(v, sizeof v, "%d.%d.%d", OBMT_VERSION_MAJOR, OBMT_VERSION_MINOR, OBMT_VERSION_PATCH);
        REQUIRE(o, strcmp(obmt_version(), v) == 0, "obmt_version() is %s, obmt.h says %s", obmt_version(), v);
    }
}

/* ---- bursts: many blocks of one size, to fill and empty whole pools ------- */

static NO_COVERAGE void burst_mark(void *p, size_t n, uint64_t tag, size_t i)
{
    uint64_t w = mix64(tag + i);
    memcpy(p, &w, n < 8 ? n : 8);
    if (n >= 16)
        memcpy((unsigned char *)p + n - 8, &w, 8);
}

static NO_COVERAGE void burst_check(const struct op *o, const struct group *g, size_t i)
{
    uint64_t w = mix64(g->tag + i), v = 0, e = 0;
    size_t n = g->size, k = n < 8 ? n : 8;
    memcpy(&v, g->blk[i], k);
    memcpy(&e, &w, k);
    REQUIRE(o, v == e, "burst block %zu (%p, %zu bytes) corrupted at its start", i, g->blk[i], n);
    if (n >= 16) {
        memcpy(&v, (unsigned char *)g->blk[i] + n - 8, 8);
        REQUIRE(o, v == w, "burst block %zu (%p, %zu bytes) corrupted at its end", i, g->blk[i], n);
    }
}

/* Free the blocks of group g in an order picked by aux; aux & 4: only
 * every other one (the rest stay live, compacted). */
static void burst_free(const struct op *o, struct group *g, unsigned aux)
{
    size_t n = g->n;
    for (size_t i = 0; i < n; i++)
        burst_check(o, g, i);
    switch (aux & 3) {
    case 0:
        for (size_t i = 0; i < n; i++)
            if (!(aux & 4) || i % 2 == 0)
                obmt_free(g->blk[i]);
        break;
    case 1:
        for (size_t i = n; i-- > 0;)
            if (!(aux & 4) || i % 2 == 0)
                obmt_free(g->blk[i]);
        break;
    case 2:
        for (size_t i = 0; i < n; i += 2)
            obmt_free(g->blk[i]);
        if (!(aux & 4))
            for (size_t i = 1; i < n; i += 2)
                obmt_free(g->blk[i]);
        break;
    default: /* a stride of 7 (coprime to most counts), then whatever is left */
        for (size_t i = 0; i < n; i += 7)
            if (!(aux & 4) || i % 2 == 0)
                obmt_free(g->blk[i]);
        for (size_t i = 0; i < n; i++)
            if (i % 7 && (!(aux & 4) || i % 2 == 0))
                obmt_free(g->blk[i]);
        break;
    }
    if (!(aux & 4)) {
        g->n = 0;
        return;
    }
    /* Keep the odd ones: renumber them, with their marks. */
    size_t k = 0;
    for (size_t i = 1; i < n; i += 2, k++) {
        g->blk[k] = g->blk[i];
        burst_mark(g->blk[k], g->size, g->tag, k);
    }
    g->n = k;
}

/* A burst's block size: huge sizes become pool sizes. */
static size_t burst_size(const struct op *o)
{
    return size_is_huge(o) ? 1 + (size_t)o->val % OBMT_SMALL_MAX : op_size(o);
}

static void op_burst_alloc(const struct op *o)
{
    struct group *g = &groups[o->slot % NGROUPS];
    if (g->n)
        burst_free(o, g, 0);
    size_t n = burst_size(o);
    size_t count = burst_counts[o->aux];
    if (n > OBMT_SMALL_MAX && count > 16)
        count = 16;
    g->size = n;
    g->tag = next_tag++;
    for (size_t i = 0; i < count; i++) {
        void *p;
        switch (o->hi) {
        case 0: p = obmt_malloc(n); break;
        case 1: p = obmt_calloc(1, n); break;
        case 2: p = obmt_aligned_alloc(32, n); break;
        default: p = obmt_aligned_alloc(128, n); break;
        }
        REQUIRE(o, p != NULL, "burst allocation %zu of %zu bytes failed", i, n);
        REQUIRE(o, (uintptr_t)p % (o->hi == 2 ? 32 : o->hi == 3 ? 128 : OBMT_ALIGNMENT) == 0,
                "burst block %p is misaligned", p);
        if (o->hi == 1)
            check_zero(o, p, n < 64 ? n : 64);
        g->blk[i] = p;
        g->n = i + 1;
        burst_mark(p, n, g->tag, i);
    }
}

static void op_burst_free(const struct op *o)
{
    struct group *g = &groups[o->slot % NGROUPS];
    if (g->n)
        burst_free(o, g, o->aux);
}

/* Every block is free and both threads have collected: every pool taken
 * from an arena must have been given back (a lost block keeps its pool). */
static void op_end(const struct op *o)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    REQUIRE(o, obmt_stats_get(&st) == 0, "obmt_stats_get failed");
    REQUIRE(o, st.pools_taken == st.pools_given, "all blocks freed and collected, but %lld pools "
            "are still out of their arenas (%llu taken, %llu given back)",
            (long long)(st.pools_taken - st.pools_given), (unsigned long long)st.pools_taken,
            (unsigned long long)st.pools_given);
#if OBMT_STATS_VERSION >= 2
    uint64_t blocks = 0;
    for (uint32_t c = 0; c < st.nclasses && c < OBMT_STATS_MAX_CLASSES; c++)
        blocks += st.classes[c].blocks_in_use;
    REQUIRE(o, blocks == 0 && st.bytes_in_use == 0 && st.pools_abandoned == 0,
            "all blocks freed, but stats say %llu blocks (%llu bytes) in use, %llu pools abandoned",
            (unsigned long long)blocks, (unsigned long long)st.bytes_in_use,
            (unsigned long long)st.pools_abandoned);
    /* obmt serves every size (what must fail fails with ENOMEM): nothing
     * is passed on to the underlying allocator. */
    REQUIRE(o, st.large_allocs == 0, "%llu requests passed to the underlying allocator",
            (unsigned long long)st.large_allocs);
#endif
}

/* ---- running ops ------------------------------------------------------------ */

/* The restart op (aux 0; thread ignored) makes the worker thread exit; the
 * next thread-1 op starts a new one. Other aux values check every live block
 * on the thread named (thread creation is slow: keep restarts rare). */
static int is_restart(const struct op *o) { return o->kind == K_RESTART && o->aux == 0; }

static void check_all(const struct op *o)
{
    for (int i = 0; i < NSLOTS; i++)
        if (slots[i].p)
            slot_check(o, &slots[i], "check all");
    for (int g = 0; g < NGROUPS; g++)
        for (size_t i = 0; i < groups[g].n; i++)
            burst_check(o, &groups[g], i);
}

static void trace_op(const struct op *o)
{
    if (!trace)
        return;
    const char *name = o->kind == K_RESTART && !is_restart(o) ? "check_all" : kind_name[o->kind];
    size_t n = o->kind == K_BURST_ALLOC ? burst_size(o) : op_size(o);
    fprintf(stderr, "op #%u T%u %-14s slot %2u aux %u hi %u size %zu (sel %u val %u) align %zu\n",
            o->idx, o->thread, name, o->slot, o->aux, o->hi, n, o->szsel, o->val, aligns[o->alsel]);
}

static void do_op(const struct op *o)
{
    trace_op(o);
    switch (o->kind) {
    case K_MALLOC: op_malloc(o); break;
    case K_CALLOC: op_calloc(o); break;
    case K_REALLOC: do_realloc(o, 0); break;
    case K_REALLOCARRAY: do_realloc(o, 1); break;
    case K_FREE: op_free(o); break;
    case K_POSIX_MEMALIGN:
    case K_ALIGNED_ALLOC:
    case K_MEMALIGN:
    case K_VALLOC:
    case K_PVALLOC: op_aligned(o); break;
    case K_CHECK: op_check(o); break;
    case K_COLLECT: op_collect(o); break;
    case K_STATS: op_stats(o); break;
    case K_BURST_ALLOC: op_burst_alloc(o); break;
    case K_BURST_FREE: op_burst_free(o); break;
    case K_END: op_end(o); break;
    default: /* K_RESTART with aux != 0 (aux 0 is handled by run_ops) */
        check_all(o);
        break;
    }
}

/* The worker thread. The fuzzer's thread publishes a batch (w_ops, w_nops),
 * sets w_cmd to 1 and waits until the worker sets it back to 0; 2 makes it
 * exit. w_cmd is stored with release and loaded with acquire, so a batch's
 * ops see all that came before and the fuzzer's thread sees all they did.
 * Each side spins a little before sleeping on its condition variable (a
 * batch is often a few microseconds): the change of w_cmd and the signal are
 * made under the mutex, so a sleeper cannot miss it. */
static pthread_mutex_t w_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_go = PTHREAD_COND_INITIALIZER, w_done = PTHREAD_COND_INITIALIZER;
static const struct op *w_ops;
static size_t w_nops;
static int w_cmd;
static int w_alive;
static pthread_t w_thread;

#define SPIN 2000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Wait until (w_cmd != 0) == nonzero, on condition variable cv. */
static int wait_cmd(int nonzero, pthread_cond_t *cv)
{
    int c;
    for (int i = 0; i < SPIN; i++) {
        c = __atomic_load_n(&w_cmd, __ATOMIC_ACQUIRE);
        if ((c != 0) == nonzero)
            return c;
        cpu_relax();
    }
    pthread_mutex_lock(&w_mu);
    while (c = __atomic_load_n(&w_cmd, __ATOMIC_ACQUIRE), (c != 0) != nonzero)
        pthread_cond_wait(cv, &w_mu);
    pthread_mutex_unlock(&w_mu);
    return c;
}

static void set_cmd(int cmd, pthread_cond_t *cv)
{
    pthread_mutex_lock(&w_mu);
    __atomic_store_n(&w_cmd, cmd, __ATOMIC_RELEASE);
    pthread_cond_signal(cv);
    pthread_mutex_unlock(&w_mu);
}

static void *worker_main(void *arg)
{
    (void)arg;
    for (;;) {
        if (wait_cmd(1, &w_go) == 2)
            return NULL;
        for (size_t i = 0; i < w_nops; i++)
            do_op(&w_ops[i]);
        set_cmd(0, &w_done);
    }
}

static void worker_post(int cmd, const struct op *ops, size_t n)
{
    w_ops = ops;
    w_nops = n;
    set_cmd(cmd, &w_go);
    if (cmd == 1)
        wait_cmd(0, &w_done);
}

static void worker_run(const struct op *ops, size_t n)
{
    if (!w_alive) {
        if (pthread_create(&w_thread, NULL, worker_main, NULL) != 0) {
            fprintf(stderr, "fuzz_alloc: pthread_create failed\n");
            abort();
        }
        w_alive = 1;
    }
    worker_post(1, ops, n);
}

static void worker_stop(void)
{
    if (!w_alive)
        return;
    worker_post(2, NULL, 0);
    pthread_join(w_thread, NULL);
    w_alive = 0;
    __atomic_store_n(&w_cmd, 0, __ATOMIC_RELAXED);
}

/* Run ops in order, each on its thread: runs of thread-1 ops go to the
 * worker as one batch. */
static void run_ops(const struct op *ops, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (is_restart(&ops[i])) {
            trace_op(&ops[i]);
            worker_stop();
            i++;
        } else if (ops[i].thread == 0) {
            do_op(&ops[i]);
            i++;
        } else {
            size_t j = i;
            while (j < n && ops[j].thread == 1 && !is_restart(&ops[j]))
                j++;
            worker_run(ops + i, j - i);
            i = j;
        }
    }
}

static size_t decode(const uint8_t *data, size_t size, struct op *ops)
{
    size_t n = size / OP_BYTES;
    if (n > MAX_OPS)
        n = MAX_OPS;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = data + i * OP_BYTES;
        ops[i] = (struct op){
            .idx = (uint16_t)i,
            .thread = b[0] >> 7,
            .aux = (b[0] >> 4) & 7,
            .kind = b[0] & 15,
            .slot = b[1] & 63,
            .hi = b[1] >> 6,
            .szsel = b[2] & 7,
            .alsel = b[2] >> 3,
            .val = (uint16_t)(b[3] | b[4] << 8),
        };
    }
    return n;
}

static unsigned long long total_ops;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct op ops[MAX_OPS + NSLOTS + NGROUPS + 4];
    init_once();
    next_tag = 1;
    size_t n = decode(data, size, ops);
    total_ops += n;
    if (trace)
        fprintf(stderr, "-- input of %zu bytes, %zu ops\n", size, n);
    run_ops(ops, n);

    /* Free everything left: slot i on thread i % 2, group g on g % 2. */
    size_t k = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (slots[i].p) {
            ops[k] = (struct op){ .idx = (uint16_t)(n + k), .thread = (uint8_t)(i & 1),
                                  .kind = K_FREE, .slot = (uint8_t)i };
            k++;
        }
    for (int g = 0; g < NGROUPS; g++)
        if (groups[g].n) {
            ops[k] = (struct op){ .idx = (uint16_t)(n + k), .thread = (uint8_t)(g & 1),
                                  .kind = K_BURST_FREE, .slot = (uint8_t)g, .aux = (uint8_t)(g & 3) };
            k++;
        }
    /* Then both threads give their pools back, and no pool may be left out
     * (the worker too: after a restart the frees above may have made it
     * adopt pools). A collect also hands over the thread's batched remote
     * frees, which the other thread's pools take back at its next collect:
     * so thread 0 collects, then 1, then 0 again. */
    ops[k] = (struct op){ .idx = (uint16_t)(n + k), .thread = 0, .kind = K_COLLECT };
    k++;
    ops[k] = (struct op){ .idx = (uint16_t)(n + k), .thread = 1, .kind = K_COLLECT };
    k++;
    ops[k] = (struct op){ .idx = (uint16_t)(n + k), .thread = 0, .kind = K_COLLECT };
    k++;
    ops[k] = (struct op){ .idx = (uint16_t)(n + k), .thread = 0, .kind = K_END };
    k++;
    if (trace)
        fprintf(stderr, "-- cleanup: %zu ops\n", k);
    run_ops(ops, k);
    return 0;
}

/* ---- fuzz_alloc_replay ------------------------------------------------------ */
#ifdef FUZZ_ALLOC_REPLAY_MAIN
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

/* One op's bytes: thread, kind, aux, slot, hi (burst function), size
 * selector, alignment index, value. */
#define OPB(t, k, aux, slot, hi, ss, al, val)                                  \
    (uint8_t)((t) << 7 | (aux) << 4 | (k)), (uint8_t)((hi) << 6 | (slot)),     \
    (uint8_t)((al) << 3 | (ss)), (uint8_t)((val) & 255), (uint8_t)((val) >> 8)

/* Built-in seed inputs: the fuzzer's starting corpus (--write-seeds) and
 * the first inputs the replay runs. */
static const uint8_t seed_pingpong[] = {
    OPB(0, K_MALLOC, 0, 0, 0, 1, 0, 100), OPB(1, K_FREE, 0, 0, 0, 0, 0, 0),
    OPB(1, K_MALLOC, 0, 1, 0, 3, 0, 1000), OPB(0, K_REALLOC, 0, 1, 0, 5, 0, 5000),
    OPB(1, K_REALLOC, 0, 1, 0, 1, 0, 40), OPB(0, K_REALLOC, 0, 1, 0, 1, 0, 41),
    OPB(0, K_CALLOC, 1, 2, 0, 6, 0, 3000), OPB(1, K_CHECK, 1, 2, 0, 0, 0, 0),
    OPB(1, K_REALLOCARRAY, 2, 2, 0, 3, 0, 777), OPB(0, K_FREE, 0, 2, 0, 0, 0, 0),
    OPB(0, K_MALLOC, 0, 3, 0, 0, 0, 0), OPB(1, K_REALLOC, 0, 3, 0, 0, 0, 0),
};
static const uint8_t seed_bursts[] = {
    OPB(0, K_BURST_ALLOC, 7, 0, 0, 2, 0, 15), OPB(1, K_BURST_FREE, 0, 0, 0, 0, 0, 0),
    OPB(1, K_BURST_ALLOC, 6, 1, 1, 3, 0, 2000), OPB(0, K_BURST_FREE, 6, 1, 0, 0, 0, 0),
    OPB(0, K_COLLECT, 1, 0, 0, 0, 0, 0), OPB(1, K_COLLECT, 0, 0, 0, 0, 0, 0),
    OPB(0, K_BURST_ALLOC, 5, 2, 2, 1, 0, 200), OPB(1, K_BURST_FREE, 3, 2, 0, 0, 0, 0),
    OPB(1, K_BURST_ALLOC, 4, 3, 3, 1, 0, 64), OPB(0, K_STATS, 1, 0, 0, 0, 0, 0),
};
static const uint8_t seed_restart[] = {
    OPB(1, K_MALLOC, 0, 0, 0, 1, 0, 16), OPB(1, K_MALLOC, 0, 1, 0, 3, 0, 4000),
    OPB(1, K_BURST_ALLOC, 5, 0, 0, 1, 0, 48), OPB(0, K_RESTART, 0, 0, 0, 0, 0, 0),
    OPB(0, K_FREE, 0, 0, 0, 0, 0, 0), OPB(0, K_BURST_FREE, 2, 0, 0, 0, 0, 0),
    OPB(1, K_MALLOC, 0, 2, 0, 1, 0, 16), OPB(0, K_REALLOC, 0, 1, 0, 3, 0, 100),
    OPB(0, K_STATS, 0, 0, 0, 0, 0, 0),
};
static const uint8_t seed_aligned[] = {
    OPB(0, K_POSIX_MEMALIGN, 0, 0, 0, 1, 2, 100), OPB(1, K_ALIGNED_ALLOC, 0, 1, 0, 1, 3, 300),
    OPB(0, K_MEMALIGN, 0, 2, 0, 3, 11, 3000), OPB(1, K_VALLOC, 0, 3, 0, 1, 0, 10),
    OPB(0, K_PVALLOC, 0, 4, 0, 0, 0, 0), OPB(1, K_POSIX_MEMALIGN, 0, 5, 0, 5, 14, 100),
    OPB(0, K_POSIX_MEMALIGN, 0, 6, 0, 1, 17, 10), OPB(0, K_ALIGNED_ALLOC, 0, 6, 0, 1, 22, 10),
    OPB(1, K_REALLOC, 0, 0, 0, 1, 0, 500), OPB(0, K_FREE, 0, 1, 0, 0, 0, 0),
};
static const uint8_t seed_failures[] = {
    OPB(0, K_MALLOC, 0, 0, 0, 1, 0, 10), OPB(0, K_MALLOC, 0, 1, 0, 7, 0, 0),
    OPB(1, K_CALLOC, 3, 2, 0, 1, 0, 10), OPB(1, K_REALLOC, 0, 0, 0, 7, 0, 4),
    OPB(0, K_REALLOCARRAY, 3, 0, 0, 1, 0, 1), OPB(1, K_POSIX_MEMALIGN, 0, 3, 0, 7, 0, 1),
    OPB(0, K_ALIGNED_ALLOC, 0, 3, 0, 1, 24, 1), OPB(0, K_PVALLOC, 0, 4, 0, 7, 0, 7),
    OPB(1, K_MALLOC, 0, 5, 0, 5, 0, 60000), OPB(0, K_REALLOC, 0, 5, 0, 7, 0, 0),
};
static const struct { const char *name; const uint8_t *data; size_t size; } seeds[] = {
    { "pingpong", seed_pingpong, sizeof seed_pingpong },
    { "bursts", seed_bursts, sizeof seed_bursts },
    { "restart", seed_restart, sizeof seed_restart },
    { "aligned", seed_aligned, sizeof seed_aligned },
    { "failures", seed_failures, sizeof seed_failures },
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static uint8_t buf[MAX_OPS * OP_BYTES + OP_BYTES];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (trace)
        fprintf(stderr, "-- %s\n", path);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

static int run_path(const char *path, unsigned long *files)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        ++*files;
        return run_file(path);
    }
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return 1;
    }
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rc |= run_path(sub, files);
    }
    closedir(d);
    return rc;
}

/* len random bytes from the generator state *s. */
static void random_input(uint8_t *buf, size_t len, uint64_t *s)
{
    for (size_t j = 0; j < len; j += 8) {
        *s += 0x9e3779b97f4a7c15ULL;
        uint64_t w = mix64(*s);
        memcpy(buf + j, &w, len - j < 8 ? len - j : 8);
    }
}

static int write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

/* The built-in seeds, and three random inputs of 100, 300 and 600 bytes
 * (libFuzzer starts its length limit at the longest seed). */
static int write_seeds(const char *dir)
{
    char path[4096];
    for (size_t i = 0; i < NSEEDS; i++) {
        snprintf(path, sizeof path, "%s/seed-%s", dir, seeds[i].name);
        if (write_file(path, seeds[i].data, seeds[i].size))
            return 1;
    }
    static const size_t lens[] = { 100, 300, 600 };
    static uint8_t buf[600];
    uint64_t s = 42;
    for (size_t i = 0; i < 3; i++) {
        random_input(buf, lens[i], &s);
        snprintf(path, sizeof path, "%s/seed-random-%zu", dir, lens[i]);
        if (write_file(path, buf, lens[i]))
            return 1;
    }
    printf("fuzz_alloc_replay: wrote %zu seed inputs to %s\n", NSEEDS + 3, dir);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: fuzz_alloc_replay [-n N] [-s SEED] [-l MAXLEN] [FILE|DIR...]\n"
                    "       fuzz_alloc_replay --write-seeds DIR\n"
                    "Runs the files given, or the built-in seeds and N random inputs\n"
                    "(default 1000, up to MAXLEN bytes, default 1000) from SEED.\n"
                    "FUZZ_ALLOC_TRACE=1 prints every op; FUZZ_ALLOC_SAVE=FILE writes each\n"
                    "random input to FILE before running it (a failure leaves it there).\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned long n = 1000, maxlen = 1000;
    unsigned long long seed = (unsigned long long)time(NULL);
    int have_n = 0, i;
    const char *save = getenv("FUZZ_ALLOC_SAVE");
    init_once();
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--write-seeds") && i + 1 < argc)
            return write_seeds(argv[i + 1]);
        if (i + 1 >= argc)
            usage();
        if (!strcmp(a, "-n")) {
            n = strtoul(argv[++i], NULL, 0);
            have_n = 1;
        } else if (!strcmp(a, "-s")) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(a, "-l")) {
            maxlen = strtoul(argv[++i], NULL, 0);
        } else {
            usage();
        }
    }
    if (maxlen > MAX_OPS * OP_BYTES)
        maxlen = MAX_OPS * OP_BYTES;
    if (i < argc) {
        unsigned long files = 0;
        int rc = 0;
        for (; i < argc; i++)
            rc |= run_path(argv[i], &files);
        printf("fuzz_alloc_replay: %lu files, %llu ops, ok\n", files, total_ops);
        if (!have_n || rc)
            return rc;
    }
    for (size_t k = 0; k < NSEEDS; k++)
        LLVMFuzzerTestOneInput(seeds[k].data, seeds[k].size);
    static uint8_t buf[MAX_OPS * OP_BYTES];
    uint64_t s = seed;
    for (unsigned long k = 0; k < n; k++) {
        s += 0x9e3779b97f4a7c15ULL;
        size_t len = (size_t)(mix64(s) % (maxlen + 1));
        random_input(buf, len, &s);
        if (trace)
            fprintf(stderr, "-- random input %lu (seed %llu)\n", k, seed);
        if (save && write_file(save, buf, len)) /* a failure leaves it there */
            return 1;
        LLVMFuzzerTestOneInput(buf, len);
    }
    worker_stop();
    printf("fuzz_alloc_replay: %zu seeds and %lu random inputs (seed %llu, up to %lu bytes), "
           "%llu ops, ok\n", NSEEDS, n, seed, maxlen, total_ops);
    return 0;
}
#endif
