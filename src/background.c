/*
 * background.c: the optional background thread (OBMT_BACKGROUND_THREAD=1).
 *
 * Without it, the time-based work (the reclaim pass over idle heaps, the
 * purge of free pools and the decommit of wholly free arenas) runs only
 * from allocation slow paths (heap ticks) and obmt_collect. A process whose
 * threads have all gone quiet (workers parked on a queue, a daemon
 * between requests) never ticks, so what the last burst freed stays
 * resident: the pools its workers emptied into each other's heaps, and
 * every pool of the threads that exited. The background thread wakes every
 * quarter of the purge delay (at least 10 ms, at most 1 s) and runs the
 * same two calls a tick runs, reclaim_pass(false) and
 * arena_maybe_purge(false): it adds no protocol, only a caller, so the
 * memory goes back within about one purge delay of going idle.
 *
 * The same thread writes the statistics over time: with OBMT_STATS_FILE set
 * and OBMT_STATS_INTERVAL_MS > 0 it appends one JSON line ("at":"interval")
 * every that many milliseconds (stats_append_file: one write() per line, so
 * lines of processes that share the file stay whole). It runs when either
 * job is wanted and does only the jobs asked for.
 *
 * It is off by default (as jemalloc's background_thread): a thread the
 * program did not ask for surprises some programs (fork-heavy ones, seccomp
 * filters, thread counts in monitoring). It starts when the option is 1 at
 * start-up (from the library constructor, never from inside malloc:
 * pthread_create allocates, and the allocator would call itself halfway
 * through an operation) and when obmt_option_set("background_thread", 1) is
 * called. Setting the option to 0 stops it at its next wake-up. A fork
 * child has no background thread (threads do not survive fork) and reads
 * the option as 0; it may set it to 1 again. Starting one in every child
 * would cost each fork+exec about a quarter more (measured in review:
 * 919 -> 1165 us) and makes unshare(CLONE_NEWUSER) fail in the child, which
 * must be single-threaded; jemalloc's children start without one too.
 *
 * The library is linked with -z nodelete (CMakeLists.txt): a dlclose'd
 * library would leave the thread running unmapped code.
 *
 * The thread has no heap (it never allocates through obmt), blocks every
 * signal, and is detached; its stack is small. g_bg_state: BG_OFF,
 * BG_RUNNING; started by a CAS OFF -> RUNNING (one starter wins), stopped
 * by the thread itself: store OFF, then a second look at the option. The
 * setter stores the option, then CASes the state. Each side stores, then
 * loads what the other stores (store buffering), so a seq_cst fence sits
 * between the two on both sides: then at least one of them sees the
 * other's store, and a set to 1 racing with the thread's exit cannot leave
 * the process without one.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BG_OFF 0u
#define BG_RUNNING 1u

static uint32_t g_bg_state;   /* CAS acq_rel OFF -> RUNNING by a starter; store release OFF by the thread */
static uint64_t g_bg_wakeups; /* fetch_add relaxed; statistics and tests */

/* Why the thread runs: the time-based purging, or the statistics lines. */
static bool bg_wanted(void)
{
    return option_get(OPT_BACKGROUND_THREAD) || (option_get(OPT_STATS_INTERVAL_MS) > 0 && g_stats_file[0]);
}

static uint64_t bg_purge_period_ms(void)
{
    long delay = option_get(OPT_PURGE_DELAY_MS);
    if (delay < 0)
        return 1000; /* purging is off: only look at the options again */
    long p = delay / 4;
    return (uint64_t)(p < 10 ? 10 : p > 1000 ? 1000 : p);
}

static void *bg_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "obmt-bg"); /* prctl: no /proc file to open */
    uint64_t next_stats = 0;
    for (;;) {
        while (bg_wanted()) {
            /* Sleep until the next job: a purge period, the next line of
             * statistics, and at most a second (the options may change). */
            bool purge = option_get(OPT_BACKGROUND_THREAD) != 0;
            long every = g_stats_file[0] ? option_get(OPT_STATS_INTERVAL_MS) : 0;
            uint64_t now = os_now_ms(), ms = purge ? bg_purge_period_ms() : 1000;
            if (every > 0) {
                if (next_stats == 0 || next_stats > now + (uint64_t)every)
                    next_stats = now + (uint64_t)every; /* first line, or the interval shrank */
                if (next_stats - now < ms)
                    ms = next_stats > now ? next_stats - now : 0;
            }
            struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) != 0)
                ; /* EINTR: every signal is blocked, but be sure */
            obmt_fetch_add_relaxed(&g_bg_wakeups, 1);
            if (purge) {
                reclaim_pass(false);
                arena_maybe_purge(false);
            }
            if (every > 0 && os_now_ms() >= next_stats) {
                stats_append_file("interval", false);
                next_stats += (uint64_t)every;
            }
        }
        obmt_store_release(&g_bg_state, BG_OFF);
        /* A set that saw RUNNING just before that store started nobody:
         * take the job back if the options say so. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* see the header: store buffering */
        uint32_t expected = BG_OFF;
        if (!bg_wanted() || !obmt_cas_acq_rel(&g_bg_state, &expected, BG_RUNNING))
            return NULL;
    }
}

bool background_start(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* after the option's store: see the header */
    if (obmt_load_acquire(&g_init_state) != INIT_READY || !bg_wanted())
        return true; /* nothing to run (yet): not a failure */
    uint32_t expected = BG_OFF;
    if (!obmt_cas_acq_rel(&g_bg_state, &expected, BG_RUNNING))
        return true; /* one runs already */
    pthread_attr_t attr;
    sigset_t all, old;
    bool ok = pthread_attr_init(&attr) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        /* The new thread inherits this mask: it takes no signal meant for
         * the program's threads. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t t;
        ok = pthread_create(&t, &attr, bg_main, NULL) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (!ok) {
        obmt_store_release(&g_bg_state, BG_OFF);
        if (option_get(OPT_VERBOSE) >= 1) {
            static const char msg[] = "obmt: could not start the background thread; purging runs from allocation slow paths\n";
            ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
            (void)w;
        }
    }
    return ok;
}

bool background_running(void)
{
    return obmt_load_acquire(&g_bg_state) == BG_RUNNING;
}

uint64_t background_wakeups(void)
{
    return obmt_load_relaxed(&g_bg_wakeups);
}

void background_atfork_child(void)
{
    /* The thread did not survive the fork; the option says so (see the
     * header for why the child does not start one). */
    obmt_store_relaxed(&g_bg_state, BG_OFF);
    obmt_store_relaxed(&g_bg_wakeups, 0);
    obmt_store_relaxed(&g_options[OPT_BACKGROUND_THREAD], 0);
    obmt_store_relaxed(&g_options[OPT_STATS_INTERVAL_MS], 0);
}
