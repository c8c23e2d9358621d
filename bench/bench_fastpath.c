/*
 * bench_fastpath: the local malloc/free path, one thread.
 *
 *   fastpath_lifo/SIZE    malloc(SIZE) then free, 256 pairs per iteration
 *   fastpath_batch/SIZE   256 mallocs of SIZE, then 256 frees (same order);
 *                         above 256 KiB fewer, so that a batch holds at
 *                         most 64 MiB (1 MiB: 64 blocks, 16 MiB: 4)
 *
 * SIZE runs from 8 bytes to 16 MiB: the pool classes, then the medium and
 * huge blocks (issue 11: above 8160 bytes obmt still hands them to glibc).
 *   obmt_lifo/SIZE, obmt_batch/SIZE: the same through obmt_malloc/obmt_free
 *
 * The malloc/free variants call whatever allocator the process has, so the
 * comparison runner preloads each peer in turn; the obmt_* variants always
 * call the obmt linked in. Items are malloc+free pairs. OBMT_BENCH_DIRECT=0
 * leaves the obmt_* variants out (bench/run.sh does so under the peers,
 * where they would only measure obmt again).
 */
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

static void bm_lifo(gb_state *s) { lifo(s, malloc, free); }
static void bm_batch(gb_state *s) { batch(s, malloc, free); }
static void bm_obmt_lifo(gb_state *s) { lifo(s, obmt_malloc, obmt_free); }
static void bm_obmt_batch(gb_state *s) { batch(s, obmt_malloc, obmt_free); }

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
    return gb_main(argc, argv);
}
