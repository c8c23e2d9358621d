// gbench.cc: the C API of gbench.h over Google Benchmark. The only C++ in
// bench/; every benchmark is written in C against gbench.h.
#include "gbench.h"

#include <benchmark/benchmark.h>

// gb_state and gb_bench stay incomplete: they are benchmark::State and
// benchmark::internal::Benchmark seen through an opaque pointer.
static gb_state *wrap(benchmark::State &st) { return reinterpret_cast<gb_state *>(&st); }
static benchmark::State &unwrap(gb_state *s) { return *reinterpret_cast<benchmark::State *>(s); }
static benchmark::internal::Benchmark *unwrap(gb_bench *b)
{
    return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}
static gb_bench *wrap(benchmark::internal::Benchmark *b) { return reinterpret_cast<gb_bench *>(b); }

extern "C" {

gb_bench *gb_register(const char *name, gb_fn fn)
{
    return wrap(benchmark::RegisterBenchmark(name, [fn](benchmark::State &st) { fn(wrap(st)); }));
}
gb_bench *gb_arg(gb_bench *b, int64_t arg) { return wrap(unwrap(b)->Arg(arg)); }
gb_bench *gb_args2(gb_bench *b, int64_t a0, int64_t a1) { return wrap(unwrap(b)->Args({a0, a1})); }
gb_bench *gb_threads(gb_bench *b, int threads) { return wrap(unwrap(b)->Threads(threads)); }
gb_bench *gb_real_time(gb_bench *b) { return wrap(unwrap(b)->UseRealTime()); }
gb_bench *gb_min_time(gb_bench *b, double seconds) { return wrap(unwrap(b)->MinTime(seconds)); }
gb_bench *gb_iterations(gb_bench *b, int64_t n) { return wrap(unwrap(b)->Iterations(n)); }

bool gb_keep_running(gb_state *s) { return unwrap(s).KeepRunning(); }
int64_t gb_range(gb_state *s, int index) { return unwrap(s).range(index); }
int gb_thread_index(gb_state *s) { return unwrap(s).thread_index(); }
int gb_thread_count(gb_state *s) { return unwrap(s).threads(); }
int64_t gb_iteration_count(gb_state *s) { return (int64_t)unwrap(s).iterations(); }
void gb_pause(gb_state *s) { unwrap(s).PauseTiming(); }
void gb_resume(gb_state *s) { unwrap(s).ResumeTiming(); }
void gb_set_items_processed(gb_state *s, int64_t items) { unwrap(s).SetItemsProcessed(items); }
void gb_set_bytes_processed(gb_state *s, int64_t bytes) { unwrap(s).SetBytesProcessed(bytes); }
void gb_counter(gb_state *s, const char *name, double value, bool per_second)
{
    unwrap(s).counters[name] =
        benchmark::Counter(value, per_second ? benchmark::Counter::kIsRate : benchmark::Counter::kDefaults);
}
void gb_set_label(gb_state *s, const char *label) { unwrap(s).SetLabel(label); }
void gb_skip_with_error(gb_state *s, const char *msg) { unwrap(s).SkipWithError(msg); }

int gb_main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    size_t ran = benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return ran > 0 ? 0 : 1; // a filter that matches nothing is an error
}

} // extern "C"
