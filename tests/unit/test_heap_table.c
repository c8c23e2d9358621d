/* The heap table (heap.c): heaps are created as threads come, in chunks
 * mapped on demand, with no cap of obmt's own. obmt-test's chunks hold 4
 * heaps (OBMT_HEAP_CHUNK_SHIFT=2, CMakeLists.txt), so the threads here span
 * many chunks. Checks:
 *  1. a chunk whose mapping fails (os_fail_commits) gives its thread no
 *     heap: obmt serves it without one (a span, not the underlying
 *     allocator), no index is taken (no hole for the walkers), and its next
 *     malloc maps the chunk and gets one;
 *  2. 300 threads alive at once (64 KiB stacks) each get a heap of their
 *     own, every block they allocate is obmt's, and the statistics say so
 *     (heaps_in_use, heaps_used_hwm, threads_seen); the chunks map exactly
 *     the heaps used so far;
 *  3. two more waves of 300 reuse the recycled heaps: no new index, no new
 *     chunk. */
#include "unit_util.h"

#define WAVE 300
#define WAVES 3
#define BLOCKS 40

_Static_assert(OBMT_HEAP_CHUNK <= 64, "this test wants a tiny chunk (obmt-test's)");

static const size_t chunk_bytes = (size_t)OBMT_HEAP_CHUNK * sizeof(struct heap);

static struct obmt_stats stats_now(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    return st;
}

static uint64_t table_bytes_for(uint32_t heaps)
{
    return (uint64_t)((heaps + OBMT_HEAP_CHUNK - 1) / OBMT_HEAP_CHUNK) * chunk_bytes;
}

/* A gate: `arrive` counts threads in, `open` lets them go. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_arrived, gate_open;

static void gate_arrive_and_wait(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_arrived++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_wait_for(int n)
{
    pthread_mutex_lock(&gate_mu);
    while (gate_arrived < n)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_reset(void)
{
    gate_arrived = 0;
    gate_open = 0;
}

/* ---- 1. a chunk that cannot be mapped ------------------------------------ */

static void *holder(void *arg)
{
    void *p = obmt_malloc(48);
    CHECK(p && obmt_owns(p));
    gate_arrive_and_wait();
    obmt_free(p);
    return NULL;
}

static void *map_fails(void *arg)
{
    uint32_t used = heaps_used();
    uint32_t k = used >> OBMT_HEAP_CHUNK_SHIFT;
    CHECK(obmt_load_acquire(&g_heap_dir[k]) == NULL);
    struct obmt_stats st = stats_now();
    /* Two failures: the heap's chunk, and the heapless path's second try
     * for a heap (span.c, span_malloc_arenas); the span's arena is then
     * mapped. */
    obmt_store_relaxed(&os_fail_commits, 2);
    void *p = obmt_malloc(64);
    CHECK_MSG(p && obmt_owns(p) && pool_of(p)->owner == OWNER_SPAN,
              "obmt should serve a thread whose chunk failed, with a span");
    CHECK(stats_now().large_allocs == st.large_allocs);
    CHECK(heap_self() == &heap_empty);
    CHECK_MSG(heaps_used() == used, "a failed chunk took an index: %u -> %u", used, heaps_used());
    CHECK(obmt_load_acquire(&g_heap_dir[k]) == NULL);
    CHECK(obmt_load_relaxed(&os_fail_commits) == 0);
    memset(p, 0x33, 64);
    obmt_free(p);
    /* Memory is back: the next malloc maps the chunk and takes the index. */
    void *q = obmt_malloc(64);
    CHECK(q && obmt_owns(q));
    struct heap *h = heap_self();
    CHECK(h != &heap_empty && h->index == used && heap_at(used) == h);
    CHECK(obmt_load_acquire(&g_heap_dir[k]) != NULL);
    CHECK(heaps_used() == used + 1);
    obmt_free(q);
    return NULL;
}

/* ---- 2. and 3. many threads at once -------------------------------------- */

static struct heap *wave_heap[WAVE];

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    void *b[BLOCKS];
    size_t n[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        n[i] = 1 + (size_t)((id * 131 + i * 977) % OBMT_SMALL_MAX);
        b[i] = obmt_malloc(n[i]);
        CHECK_MSG(b[i] && obmt_owns(b[i]), "thread %d: block %d of %zu bytes is not obmt's", id, i, n[i]);
        memset(b[i], id & 0xff, n[i]);
    }
    struct heap *h = heap_self();
    CHECK(h != &heap_empty && h != &heap_lending);
    CHECK(obmt_load_relaxed(&h->in_use) == 1 && heap_at(h->index) == h);
    wave_heap[id] = h;
    gate_arrive_and_wait();
    for (int i = 0; i < BLOCKS; i++) {
        unsigned char *c = b[i];
        CHECK_MSG(c[0] == (id & 0xff) && c[n[i] - 1] == (id & 0xff), "thread %d: block %d corrupted", id, i);
        obmt_free(b[i]);
    }
    return NULL;
}

int main(void)
{
    CHECK(obmt_ensure_init());
    /* No lender: a heap lent while its thread was descheduled between two
     * mallocs would serve one without the heap (lend.c), by a span. */
    CHECK(obmt_option_set("lend_idle", 0) == 0);
    void *mine = obmt_malloc(16);
    CHECK(mine && obmt_owns(mine));
    CHECK(heaps_used() == 1);
    CHECK(obmt_load_relaxed(&g_heap_table_bytes) == chunk_bytes);
    pthread_attr_t attr;
    CHECK(pthread_attr_init(&attr) == 0);
    CHECK(pthread_attr_setstacksize(&attr, OBMT_UNDER_TSAN ? 256 << 10 : 64 << 10) == 0);

    /* 1. Fill chunk 0, then fail the mapping of chunk 1. */
    int holders = (int)(OBMT_HEAP_CHUNK - heaps_used() % OBMT_HEAP_CHUNK) % (int)OBMT_HEAP_CHUNK;
    pthread_t ht[64];
    gate_reset();
    for (int i = 0; i < holders; i++)
        CHECK(pthread_create(&ht[i], &attr, holder, NULL) == 0);
    gate_wait_for(holders);
    CHECK(heaps_used() % OBMT_HEAP_CHUNK == 0);
    run_in_thread(map_fails, NULL);
    gate_release();
    for (int i = 0; i < holders; i++)
        CHECK(pthread_join(ht[i], NULL) == 0);
    uint32_t before = heaps_used(); /* main, the holders, map_fails: all but main recycled */
    struct obmt_stats st = stats_now();
    CHECK_MSG(st.heaps_in_use == 1, "heaps in use %llu", (unsigned long long)st.heaps_in_use);
    uint64_t seen = st.threads_seen;
    CHECK(seen == before);

    /* 2. and 3. Waves of WAVE threads, all alive at once. */
    static pthread_t t[WAVE];
    for (int w = 0; w < WAVES; w++) {
        gate_reset();
        memset(wave_heap, 0, sizeof wave_heap);
        for (int i = 0; i < WAVE; i++)
            CHECK_MSG(pthread_create(&t[i], &attr, worker, (void *)(intptr_t)i) == 0, "thread %d of wave %d", i, w);
        gate_wait_for(WAVE);
        /* Every thread alive, each with a heap of its own. */
        st = stats_now();
        CHECK_MSG(st.heaps_in_use == WAVE + 1, "wave %d: heaps in use %llu", w, (unsigned long long)st.heaps_in_use);
        CHECK_MSG(st.heaps_used_hwm == WAVE + 1, "wave %d: heaps created %llu (the recycled ones first)", w,
                  (unsigned long long)st.heaps_used_hwm);
        CHECK_MSG(st.threads_seen == seen + (uint64_t)WAVE * (w + 1), "wave %d: threads seen %llu", w,
                  (unsigned long long)st.threads_seen);
        CHECK(heaps_used() == WAVE + 1 && WAVE + 1 > before);
        for (int i = 0; i < WAVE; i++) {
            CHECK(wave_heap[i] && wave_heap[i]->index < WAVE + 1);
            for (int j = 0; j < i; j++)
                CHECK_MSG(wave_heap[j] != wave_heap[i], "threads %d and %d share a heap", j, i);
        }
        /* The table maps the chunks of the heaps used, no more. */
        CHECK_MSG(obmt_load_relaxed(&g_heap_table_bytes) == table_bytes_for(WAVE + 1), "table maps %llu bytes",
                  (unsigned long long)obmt_load_relaxed(&g_heap_table_bytes));
        for (uint32_t k = 0; k < (WAVE + OBMT_HEAP_CHUNK) / OBMT_HEAP_CHUNK; k++)
            CHECK(obmt_load_acquire(&g_heap_dir[k]) != NULL);
        CHECK(obmt_load_acquire(&g_heap_dir[(WAVE + OBMT_HEAP_CHUNK) / OBMT_HEAP_CHUNK]) == NULL);
        gate_release();
        for (int i = 0; i < WAVE; i++)
            CHECK(pthread_join(t[i], NULL) == 0);
        st = stats_now();
        CHECK_MSG(st.heaps_in_use == 1, "after wave %d: heaps in use %llu", w, (unsigned long long)st.heaps_in_use);
    }
    pthread_attr_destroy(&attr);
    obmt_free(mine);
    printf("heap_table: %d waves of %d threads at once, %u heaps in %llu chunks of %u (%zu bytes each,"
           " struct heap %zu bytes)\n", WAVES, WAVE, heaps_used(),
           (unsigned long long)(obmt_load_relaxed(&g_heap_table_bytes) / chunk_bytes), (unsigned)OBMT_HEAP_CHUNK,
           chunk_bytes, sizeof(struct heap));
    CHECK_DONE("heap_table");
}
