/*
 * init.c: process start-up. The first malloc (or the library constructor,
 * whichever comes first) reserves the arena range and creates the thread
 * key. Threads that call in while another is initialising are not made to
 * wait: they are served by the underlying allocator, whose blocks free
 * routes back to it.
 */
#include "internal.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>
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

/* Init fails: give back what was reserved (either may be NULL), say why
 * under OBMT_VERBOSE=1; the underlying allocator serves the process. */
static bool init_fail(void *base, size_t size, void *meta, size_t meta_size, const char *why)
{
    if (base)
        munmap(base, size);
    if (meta)
        munmap(meta, meta_size);
    if (option_get(OPT_VERBOSE) >= 1)
        init_say(why);
    obmt_store_release(&g_init_state, INIT_FAILED);
    return false;
}

static OBMT_NOINLINE bool init_slow(void)
{
    int expected = INIT_NONE;
    if (!obmt_cas_acq_rel(&g_init_state, &expected, INIT_RUNNING))
        return expected == INIT_READY;
    large_init();
    options_init();
    /* The reservation: OBMT_RESERVE_MIB for the arenas, and beside it the
     * pool headers' array (internal.h, pool_of: 128 bytes a pool, committed
     * arena by arena, arena.c); both halved while the OS refuses either. */
    size_t want = ((size_t)option_get(OPT_RESERVE_MIB) << 20) & ~(OBMT_ARENA_SIZE - 1), size = want;
    size_t meta_size;
    void *base, *meta = NULL;
    for (;;) {
        meta_size = (size >> OBMT_POOL_SHIFT) << OBMT_HEADER_SHIFT;
        if ((base = os_reserve(size, OBMT_ARENA_SIZE)) != NULL) {
            if ((meta = os_reserve(meta_size, 4096)) != NULL)
                break;
            munmap(base, size);
            base = NULL;
        }
        if (size / 2 < ((size_t)1 << OBMT_RESERVE_MIN_SHIFT))
            break;
        size = (size / 2) & ~(OBMT_ARENA_SIZE - 1);
    }
    if (base && (uintptr_t)base + size > REMOTE_COUNT_ONE) /* see REMOTE_PTR */
        return init_fail(base, size, meta, meta_size,
                         "obmt: the reservation lies above 2^48; everything goes to the underlying allocator\n");
    if (!base || !meta)
        return init_fail(base, size, meta, meta_size,
                         "obmt: could not reserve address space; everything goes to the underlying allocator\n");
    if (size < want && option_get(OPT_VERBOSE) >= 1)
        init_say("obmt: reserved less address space than asked for (OBMT_RESERVE_MIB)\n");
    if (OBMT_SECURE && (size_t)sysconf(_SC_PAGESIZE) > (size_t)OBMT_POOL_GUARD) {
        /* The guard page at a pool's end is 4 KiB: with larger pages it
         * cannot be protected (nor purged apart from the blocks before it). */
        return init_fail(base, size, meta, meta_size,
                         "obmt: secure mode needs 4 KiB pages; everything goes to the underlying allocator\n");
    }
    if (heap_init_process() != 0)
        return init_fail(base, size, meta, meta_size,
                         "obmt: could not create its thread key or fork handlers; everything goes to the underlying allocator\n");
    pool_init_process(); /* the free key, before any block exists */
    lend_init_process(); /* membarrier registration: lending is off without it */
    arena_init(base, size, meta);
    stats_init_process();
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
