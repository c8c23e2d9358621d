/*
 * bench_fastpath: the local malloc/free path, one thread (the _mt row:
 * several, each on its own blocks).
 *
 *   fastpath_lifo/SIZE    malloc(SIZE) then free, 256 pairs per iteration
 *   fastpath_batch/SIZE   256 mallocs of SIZE, then 256 frees (same order);
 *                         above 256 KiB fewer, so that a batch holds at
 *                         most 64 MiB (1 MiB: 64 blocks, 16 MiB: 4)
 *
 * SIZE runs from 8 bytes to 16 MiB: the pool classes, then the medium and
 * huge blocks (issue 11: above 8160 bytes obmt still hands them to glibc).
 *   fastpath_replace/SLOTS  SLOTS live blocks of random sizes (8..1000
 *                         bytes, pool classes on both sides of 512); each
 *                         item frees a random one (after checking the tag
 *                         written into it) and puts a new one in its place:
 *                         larson's loop without its threads, so that a gap
 *                         there can be told from one in the cross-thread
 *                         paths. 500 slots stay in the L2 cache, 5,000
 *                         (about 2.5 MB) do not.
 *   fastpath_replace_8k/SLOTS  the same with sizes of 8..8000 bytes, most
 *                         of them in the coarse classes, whose pools hold 4
 *                         to 48 blocks: most pools are full, and a free or a
 *                         malloc often meets one at the edge of full.
 *                         20,000 slots: about 80 MB live.
 *   fastpath_replace_medium/SLOTS  the same with medium sizes, 9 KiB to
 *                         256 KiB (16 slots: about 2 MiB live, the size of
 *                         a thread's span cache; 256: about 34 MiB), and
 *                         fastpath_replace_1m/32 with 9 KiB to 1 MiB: a
 *                         program whose buffers come in many sizes keeps
 *                         its cache full of several classes at once.
 *   fastpath_replace_medium_mt/256  the 256-slot medium row in 2 and 4
 *                         threads at once, each with its own slots (about
 *                         34 MiB live a thread): their caches grow against
 *                         one shared allowance (span.c, budget_set).
 *   obmt_lifo/SIZE, obmt_batch/SIZE, obmt_replace/SLOTS: the same through
 *                         obmt_malloc/obmt_free
 *
 * The malloc/free variants call whatever allocator the process has, so the
 * comparison runner preloads each peer in turn; the obmt_* variants always
 * call the obmt linked in. Items are malloc+free pairs. OBMT_BENCH_DIRECT=0
 * leaves the obmt_* variants out (bench/run.sh does so under the peers,
 * where they would only measure obmt again).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gbench.h"
#include "obmt.h"

#define PAIRS 256

static inline void escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

typedef void *(*alloc_fn)(size_t);
typedef void (*free_fn)(void *);

static inline void lifo(gb_state *s, alloc_fn a, free_fn f)
{
    size_t n = (size_t)gb_range(s, 0);
    while (gb_keep_running(s)) {
        for (int i = 0; i < PAIRS; i++) {
            void *p = a(n);
            escape(p);
            f(p);
        }
    }
    gb_set_items_processed(s, gb_iteration_count(s) * PAIRS);
}

#define BATCH_BYTES ((size_t)64 << 20)

static inline void batch(gb_state *s, alloc_fn a, free_fn f)
{
    size_t n = (size_t)gb_range(s, 0);
    int pairs = n * PAIRS <= BATCH_BYTES ? PAIRS : (int)(BATCH_BYTES / n);
    void *ptrs[PAIRS];
    while (gb_keep_running(s)) {
        for (int i = 0; i < pairs; i++) {
            ptrs[i] = a(n);
            escape(ptrs[i]);
        }
        for (int i = 0; i < pairs; i++)
            f(ptrs[i]);
    }
    gb_set_items_processed(s, gb_iteration_count(s) * pairs);
}

#define REPLACE_MAX_SLOTS 20000
#define REPLACE_ITEMS 256 /* replacements per iteration */

static inline uint64_t replace_rng(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* A number below n from the top 32 bits of the next draw: a multiply, not
 * a division (which would cost more than the malloc it stands beside). */
static inline size_t replace_below(uint64_t *rng, size_t n)
{
    return (size_t)(((replace_rng(rng) >> 32) * (uint64_t)n) >> 32);
}

static inline uint64_t *replace_new(alloc_fn a, uint64_t *rng, size_t min, size_t max)
{
    uint64_t *p = a(min + replace_below(rng, max - min + 1));
    if (!p)
        abort();
    p[0] = (uintptr_t)p;
    return p;
}

static inline void replace(gb_state *s, alloc_fn a, free_fn f, size_t min, size_t max)
{
    size_t slots = (size_t)gb_range(s, 0);
    static __thread uint64_t *slot[REPLACE_MAX_SLOTS]; /* (each thread its own, in the _mt rows) */
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(gb_thread_index(s) + 1);
    if (slots > REPLACE_MAX_SLOTS)
        abort();
    for (size_t i = 0; i < slots; i++)
        slot[i] = replace_new(a, &rng, min, max);
    while (gb_keep_running(s)) {
        for (int i = 0; i < REPLACE_ITEMS; i++) {
            size_t k = replace_below(&rng, slots);
            if (slot[k][0] != (uintptr_t)slot[k])
                abort(); /* a block handed out twice */
            f(slot[k]);
            slot[k] = replace_new(a, &rng, min, max);
        }
    }
    for (size_t i = 0; i < slots; i++)
        f(slot[i]);
    gb_set_items_processed(s, gb_iteration_count(s) * REPLACE_ITEMS);
}

static void bm_lifo(gb_state *s) { lifo(s, malloc, free); }
static void bm_batch(gb_state *s) { batch(s, malloc, free); }
static void bm_obmt_lifo(gb_state *s) { lifo(s, obmt_malloc, obmt_free); }
static void bm_obmt_batch(gb_state *s) { batch(s, obmt_malloc, obmt_free); }
static void bm_replace(gb_state *s) { replace(s, malloc, free, 8, 1000); }
static void bm_replace_8k(gb_state *s) { replace(s, malloc, free, 8, 8000); }
static void bm_replace_medium(gb_state *s) { replace(s, malloc, free, 9 << 10, 256 << 10); }
static void bm_replace_1m(gb_state *s) { replace(s, malloc, free, 9 << 10, 1 << 20); }
static void bm_obmt_replace(gb_state *s) { replace(s, obmt_malloc, obmt_free, 8, 1000); }

static const int64_t sizes[] = { 8, 16, 32, 48, 64, 96, 128, 256, 384, 512, 1024, 4096,
                                  16384, 65536, 262144, 1048576, 16777216 };

int main(int argc, char **argv)
{
    struct { const char *name; gb_fn fn; } all[] = {
        { "fastpath_lifo", bm_lifo }, { "fastpath_batch", bm_batch },
        { "obmt_lifo", bm_obmt_lifo }, { "obmt_batch", bm_obmt_batch },
    };
    const char *direct = getenv("OBMT_BENCH_DIRECT");
    size_t nvariants = direct && strcmp(direct, "0") == 0 ? 2 : 4;
    for (size_t k = 0; k < nvariants; k++) {
        gb_bench *b = gb_register(all[k].name, all[k].fn);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            gb_arg(b, sizes[i]);
    }
    gb_arg(gb_arg(gb_register("fastpath_replace", bm_replace), 500), 5000);
    gb_arg(gb_register("fastpath_replace_8k", bm_replace_8k), REPLACE_MAX_SLOTS);
    gb_arg(gb_arg(gb_register("fastpath_replace_medium", bm_replace_medium), 16), 256);
    gb_arg(gb_register("fastpath_replace_1m", bm_replace_1m), 32);
    gb_bench *mt = gb_arg(gb_register("fastpath_replace_medium_mt", bm_replace_medium), 256);
    gb_real_time(gb_threads(gb_threads(mt, 2), 4));
    if (nvariants == 4)
        gb_arg(gb_arg(gb_register("obmt_replace", bm_obmt_replace), 500), 5000);
    return gb_main(argc, argv);
}
