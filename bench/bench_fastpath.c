/*
 * bench_fastpath: the local malloc/free path, one thread.
 *
 *   fastpath_lifo/SIZE    malloc(SIZE) then free, 256 pairs per iteration
 *   fastpath_batch/SIZE   256 mallocs of SIZE, then 256 frees (same order)
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

static inline void batch(gb_state *s, alloc_fn a, free_fn f)
{
    size_t n = (size_t)gb_range(s, 0);
    void *ptrs[PAIRS];
    while (gb_keep_running(s)) {
        for (int i = 0; i < PAIRS; i++) {
            ptrs[i] = a(n);
            escape(ptrs[i]);
        }
        for (int i = 0; i < PAIRS; i++)
            f(ptrs[i]);
    }
    gb_set_items_processed(s, gb_iteration_count(s) * PAIRS);
}

static void bm_lifo(gb_state *s) { lifo(s, malloc, free); }
static void bm_batch(gb_state *s) { batch(s, malloc, free); }
static void bm_obmt_lifo(gb_state *s) { lifo(s, obmt_malloc, obmt_free); }
static void bm_obmt_batch(gb_state *s) { batch(s, obmt_malloc, obmt_free); }

static const int64_t sizes[] = { 8, 16, 32, 48, 64, 96, 128, 256, 384, 512, 1024, 4096, 65536 };

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
