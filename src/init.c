/*
 * init.c: process start-up. The first malloc (or the library constructor,
 * whichever comes first) reserves the arena range and creates the thread
 * key. Threads that call in while another is initialising are not made to
 * wait: they are served by the underlying allocator, whose blocks free
 * routes back to it.
 */
#include "internal.h"

#include <sys/mman.h>

int g_init_state;

static OBMT_NOINLINE bool init_slow(void)
{
    int expected = INIT_NONE;
    if (!obmt_cas_acq_rel(&g_init_state, &expected, INIT_RUNNING))
        return expected == INIT_READY;
    void *base = NULL;
    size_t size = 0;
    for (int shift = OBMT_RESERVE_SHIFT; shift >= OBMT_RESERVE_MIN_SHIFT && !base; shift--) {
        size = (size_t)1 << shift;
        base = os_reserve(size, OBMT_ARENA_SIZE);
    }
    if (base && (uintptr_t)base + size > REMOTE_COUNT_ONE) { /* see REMOTE_PTR */
        munmap(base, size);
        base = NULL;
    }
    if (!base) {
        obmt_store_release(&g_init_state, INIT_FAILED);
        return false;
    }
    arena_init(base, size);
    heap_init_process();
    stats_init_process();
    obmt_store_release(&g_init_state, INIT_READY);
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
    obmt_ensure_init();
}
