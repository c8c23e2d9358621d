/* The background thread (OBMT_BACKGROUND_THREAD, src/background.c): memory
 * goes back while no thread calls obmt at all.
 *
 * Purge delay 40 ms, no wholly free arena kept, background thread on.
 * 1. A fills POOLS whole pools and parks. F, a thread that never allocates
 *    (it hands each free over at once), frees every block and parks too.
 *    Nobody calls obmt any more (main only reads the statistics and
 *    mincore): within a few seconds the pages of A's pools must have gone
 *    (the reclaim pass, run by the background thread: purged in place, or
 *    taken by the lender of A's idle heap), and the statistics must say
 *    the background thread runs.
 * 2. A exits (its exit gives the pools back to their arena); nobody calls
 *    obmt: within a few seconds every page of those pools must have gone
 *    (the purge, run by the background thread).
 * 3. A fork child has no background thread and reads the option as 0; it
 *    may start one.
 * 4. Setting the option to 0 stops the thread; setting it to 1 starts one
 *    again.
 * Without the background thread no pass or purge runs in 1 and 2 (nothing
 * ticks), so both fail. */
#include "mt_util.h"

#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#define POOLS 4
#define SIZE 96
#define MAX_N ((32768 / SIZE) * POOLS)

static int N;
static void *blocks[MAX_N];
static pthread_barrier_t filled, freed, done;

static void *owner_a(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = obmt_malloc(SIZE);
        CHECK(blocks[i]);
        pattern_fill(blocks[i], SIZE, 1);
    }
    pthread_barrier_wait(&filled);
    pthread_barrier_wait(&done); /* parked until main has seen the pass */
    return NULL;
}

static void *freer_f(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        CHECK(pattern_ok(blocks[i], SIZE, 1));
        obmt_free(blocks[i]);
    }
    pthread_barrier_wait(&freed);
    return NULL;
}

static char text[16384];
static size_t text_len;
static void to_text(const char *line, void *arg)
{
    (void)arg;
    size_t n = strlen(line);
    if (text_len + n < sizeof text) {
        memcpy(text + text_len, line, n + 1);
        text_len += n;
    }
}
/* Waits up to 2 s for the statistics text to contain `what`. */
static int stats_say(const char *what)
{
    for (int ms = 0; ms < 2000; ms += 10) {
        text_len = 0;
        text[0] = 0;
        obmt_stats_print(to_text, NULL);
        if (strstr(text, what))
            return 1;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Waits up to 5 s for the pools' pages from page `from` on to go. */
static int wait_gone(char **pools, int npools, size_t pool, size_t from)
{
    int left = 0;
    for (int ms = 0; ms < 5000; ms += 20) {
        left = 0;
        for (int i = 0; i < npools; i++)
            left += pool_resident_pages(pools[i], pool, from);
        if (left == 0)
            return 0;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return left;
}

int main(void)
{
    CHECK(obmt_option_set("purge_delay_ms", 40) == 0);
    CHECK(obmt_option_set("keep_free_arenas", 0) == 0);
    CHECK(obmt_option_set("background_thread", 1) == 0);
    size_t pool = stats_now().pool_size;
    N = (int)blocks_per_pool_for(SIZE) * POOLS;

    pthread_barrier_init(&filled, NULL, 2);
    pthread_barrier_init(&freed, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    pthread_t a, f;
    CHECK(pthread_create(&a, NULL, owner_a, NULL) == 0);
    pthread_barrier_wait(&filled);
    static char *pools[MAX_N];
    int npools = 0, before = 0;
    for (int i = 0; i < N; i++) {
        char *p = (char *)((uintptr_t)blocks[i] & ~(uintptr_t)(pool - 1));
        if (npools == 0 || pools[npools - 1] != p) {
            pools[npools++] = p;
            before += pool_resident_pages(p, pool, 0);
        }
    }
    CHECK_MSG(npools == POOLS && before > 0, "A's %d blocks are in %d pools, %d pages resident", N, npools, before);
    uint64_t given0 = stats_now().pools_given;
    CHECK(pthread_create(&f, NULL, freer_f, NULL) == 0);
    pthread_barrier_wait(&freed); /* F parks now; A is parked */

    /* 1. The reclaim pass, with nobody calling obmt. */
    int left = wait_gone(pools, npools, pool, 0); /* every page: the header is out of line */
    struct obmt_stats st = stats_now();
    CHECK_MSG(left == 0, "5 s after the last free, %d of %d pages of the emptied pools are resident (%llu pools reclaimed)",
              left, before, (unsigned long long)st.pools_reclaimed);
    /* By either mechanism the background thread runs: the reclaim pass
     * purges them in place on A's `returned` stack, or a lender (A is idle)
     * takes them off it and gives them back purged. Which one gets there
     * first is timing. */
    CHECK_MSG(st.pools_reclaimed + (st.pools_given - given0) >= POOLS,
              "%llu pools reclaimed, %llu given back by a lender", (unsigned long long)st.pools_reclaimed,
              (unsigned long long)(st.pools_given - given0));

    /* 2. A exits: its pools go back to their arena, and the purge takes the
     * header pages too. */
    pthread_barrier_wait(&done);
    pthread_join(a, NULL);
    left = wait_gone(pools, npools, pool, 0);
    CHECK_MSG(left == 0, "5 s after A's exit, %d pages of its pools are resident", left);
    pthread_join(f, NULL);

    /* 3. A fork child has no background thread and says so; it may start
     * one. */
    long v = -1;
    CHECK(obmt_option_get("background_thread", &v) == 0 && v == 1);
    CHECK_MSG(stats_say("background thread: running"), "statistics: %s", text);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int ok = obmt_option_get("background_thread", &v) == 0 && v == 0 && stats_say("background thread: off");
        /* (ThreadSanitizer cannot start threads in the child of a
         * multi-threaded process: there the restart is not tried.) */
        if (!UNDER_TSAN)
            ok = ok && obmt_option_set("background_thread", 1) == 0 && stats_say("background thread: running");
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    /* 4. Off, and on again. */
    CHECK(obmt_option_get("background_thread", &v) == 0 && v == 1);
    CHECK(obmt_option_set("background_thread", 0) == 0);
    CHECK_MSG(stats_say("background thread: off"), "statistics: %s", text);
    CHECK(obmt_option_set("background_thread", 1) == 0);
    CHECK_MSG(stats_say("background thread: running"), "statistics: %s", text);
    CHECK(obmt_option_set("background_thread", 2) == -1);
    CHECK(obmt_option_set("background_thread", 0) == 0);
    CHECK_MSG(stats_say("background thread: off"), "statistics: %s", text);
    CHECK_DONE("mt_background");
}
