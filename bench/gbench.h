/*
 * gbench.h: a small C API over Google Benchmark, so that obmt's benchmarks
 * are written in C. gbench.cc is its only implementation (and the only C++
 * in bench/).
 *
 *   static void bm(gb_state *s) {
 *       while (gb_keep_running(s)) { ... }
 *       gb_set_items_processed(s, gb_iterations(s) * N);
 *   }
 *   gb_bench *b = gb_register("name", bm);
 *   gb_arg(b, 64); gb_threads(b, 4);
 *   return gb_main(argc, argv);
 */
#ifndef OBMT_GBENCH_H
#define OBMT_GBENCH_H
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gb_state gb_state; /* one benchmark::State */
typedef struct gb_bench gb_bench; /* one registered benchmark */
typedef void (*gb_fn)(gb_state *);

/* Registration: call before gb_main. Each returns b for chaining in C. */
gb_bench *gb_register(const char *name, gb_fn fn);
gb_bench *gb_arg(gb_bench *b, int64_t arg);            /* one more run with this argument */
gb_bench *gb_args2(gb_bench *b, int64_t a0, int64_t a1); /* one more run with two arguments */
gb_bench *gb_threads(gb_bench *b, int threads);        /* one more run with this many threads */
gb_bench *gb_real_time(gb_bench *b);                   /* report wall time (for threaded runs) */
gb_bench *gb_min_time(gb_bench *b, double seconds);
gb_bench *gb_iterations(gb_bench *b, int64_t n);       /* fixed iteration count (smoke runs) */

/* Inside a benchmark function. */
bool gb_keep_running(gb_state *s);
int64_t gb_range(gb_state *s, int index);   /* the i-th argument */
int gb_thread_index(gb_state *s);
int gb_thread_count(gb_state *s);
int64_t gb_iteration_count(gb_state *s);    /* iterations done so far */
void gb_pause(gb_state *s);                 /* stop the timer */
void gb_resume(gb_state *s);
void gb_set_items_processed(gb_state *s, int64_t items); /* items/s in the report */
void gb_set_bytes_processed(gb_state *s, int64_t bytes); /* bytes/s */
void gb_counter(gb_state *s, const char *name, double value, bool per_second);
void gb_set_label(gb_state *s, const char *label);
void gb_skip_with_error(gb_state *s, const char *msg);

/* Initialise from the command line (all --benchmark_* flags) and run.
 * Returns 0, or 1 when no benchmark ran (a filter that matches nothing). */
int gb_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
