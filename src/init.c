/*
 * init.c: process start-up. The first malloc (or the library constructor,
 * whichever comes first) chooses the arenas' window and creates the thread
 * key. Threads that call in while another is initialising are not made to
 * wait: they are served from the bootstrap area (large.c), and past its
 * 256 KiB by the underlying allocator, whose blocks free routes back to it.
 */
#include "internal.h"

#include <sched.h>
#include <string.h>
#include <unistd.h>

int g_init_state;

static void init_say(const char *s)
{
    ssize_t w = write(STDERR_FILENO, s, strlen(s));
    (void)w;
}

static void init_print(const char *line, void *arg)
{
    (void)arg;
    init_say(line);
}

/* Init fails: give back what legacy mode reserved (nothing when base is
 * 0), say why under OBMT_VERBOSE=1; the underlying allocator serves the
 * process. */
static bool init_fail(uintptr_t base, uintptr_t meta, size_t size, const char *why)
{
    if (base)
        window_release(base, meta, size);
    if (option_get(OPT_VERBOSE) >= 1)
        init_say(why);
    obmt_store_release(&g_init_state, INIT_FAILED);
    return false;
}

/* The per-slot tables for a window of *size bytes, as one mapping placed
 * by each file. If the OS refuses (vm.overcommit_memory=2 ignores
 * MAP_NORESERVE: 1 TiB's tables are 292 MiB of commit), an on-demand
 * window shrinks by halves, down to OBMT_RESERVE_MIN_SHIFT: nothing of it
 * is mapped yet, and a prefix keeps its base and its headers' place. */
static bool map_tables(size_t *size)
{
    size_t nslots = *size >> OBMT_ARENA_SHIFT;
    for (;;) {
        size_t w = window_tables_bytes(nslots), a = arena_tables_bytes(nslots), s = span_tables_bytes(nslots);
        char *mem = os_map_table(w + a + s + shared_tables_bytes(nslots));
        if (mem) {
            window_tables_place(mem, nslots);
            arena_tables_place(mem + w, nslots);
            span_tables_place(mem + w + a, nslots);
            shared_tables_place(mem + w + a + s, nslots);
            *size = nslots << OBMT_ARENA_SHIFT;
            return true;
        }
        if (!window_on_demand() || (nslots << OBMT_ARENA_SHIFT) / 2 < ((size_t)1 << OBMT_RESERVE_MIN_SHIFT))
            return false;
        nslots /= 2;
    }
}

static OBMT_NOINLINE bool init_slow(void)
{
    int expected = INIT_NONE;
    if (!obmt_cas_acq_rel(&g_init_state, &expected, INIT_RUNNING))
        return expected == INIT_READY;
    large_init();
    options_init();
    os_thp_init(); /* (before any run is taken: arena.c advises runs by it) */
    /* The window: OBMT_RESERVE_MIB for the arenas (0, the default: sized
     * from the machine, window_auto_size), and below it the pool headers'
     * array (internal.h, pool_of: 128 bytes a pool), both mapped slot by
     * slot when first used (window.c). */
    size_t want = (size_t)option_get(OPT_RESERVE_MIB) << 20, size = 0;
    if (want && want < ((size_t)1 << OBMT_RESERVE_MIN_SHIFT))
        want = (size_t)1 << OBMT_RESERVE_MIN_SHIFT; /* (before the rounding: 1 MiB is not "auto") */
    want &= ~(OBMT_ARENA_SIZE - 1);
    uintptr_t base = 0, meta = 0;
    if (!window_reserve(want, &base, &meta, &size))
        return init_fail(0, 0, 0, "obmt: could not reserve address space; everything goes to the underlying allocator\n");
    if (base + size > REMOTE_COUNT_ONE) /* see REMOTE_PTR */
        return init_fail(base, meta, size,
                         "obmt: the reservation lies above 2^48; everything goes to the underlying allocator\n");
    if (size < want && option_get(OPT_VERBOSE) >= 1)
        init_say("obmt: reserved less address space than asked for (OBMT_RESERVE_MIB)\n");
    if (!map_tables(&size))
        return init_fail(base, meta, size,
                         "obmt: could not map its per-slot tables; everything goes to the underlying allocator\n");
    if (OBMT_SECURE && (size_t)sysconf(_SC_PAGESIZE) > (size_t)OBMT_POOL_GUARD) {
        /* The guard page at a pool's end is 4 KiB: with larger pages it
         * cannot be protected (nor purged apart from the blocks before it). */
        return init_fail(base, meta, size,
                         "obmt: secure mode needs 4 KiB pages; everything goes to the underlying allocator\n");
    }
    if (heap_init_process() != 0)
        return init_fail(base, meta, size,
                         "obmt: could not create its thread key or fork handlers; everything goes to the underlying allocator\n");
    pool_init_process(); /* the free key, before any block exists */
    lend_init_process(); /* membarrier registration: lending is off without it */
    arena_init((void *)base, size, (void *)meta);
    stats_init_process();
    obmt_store_relaxed(&g_options[OPT_RESERVE_MIB], (long)(size >> 20)); /* the window chosen */
    obmt_store_release(&g_init_state, INIT_READY);
    if (option_get(OPT_VERBOSE) >= 2) {
        init_say("obmt: options\n");
        options_print(init_print, NULL);
    }
    return true;
}

bool obmt_ensure_init(void)
{
    if (likely(obmt_load_acquire(&g_init_state) == INIT_READY))
        return true;
    return init_slow();
}

__attribute__((constructor)) static void obmt_constructor(void)
{
    bool ready = obmt_ensure_init();
    /* Another thread may be initialising (a library constructor that
     * started threads): wait for it, then start the background thread if
     * OBMT_BACKGROUND_THREAD=1 (here, not from malloc: it allocates). */
    while (!ready && obmt_load_acquire(&g_init_state) == INIT_RUNNING) {
        sched_yield();
        ready = obmt_load_acquire(&g_init_state) == INIT_READY;
    }
    if (ready)
        background_start();
}
