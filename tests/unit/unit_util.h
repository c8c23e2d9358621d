/* unit_util.h: helpers for the unit tests, which link obmt-static and look
 * at its internals through src/internal.h. */
#ifndef OBMT_UNIT_UTIL_H
#define OBMT_UNIT_UTIL_H
#include "internal.h"
#include "../check.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Pages of [addr, addr+len) resident now (mincore). An unmapped page (an
 * arena given back with its address space, window.c) is not resident. */
static inline size_t resident_pages(void *addr, size_t len)
{
    size_t pages = len / 4096, n = 0;
    unsigned char *v = malloc(pages);
    if (mincore(addr, len, v) != 0) {
        CHECK(errno == ENOMEM);
        for (size_t i = 0; i < pages; i++)
            if (mincore((char *)addr + i * 4096, 4096, &v[i]) != 0)
                v[i] = 0;
    }
    for (size_t i = 0; i < pages; i++)
        n += v[i] & 1;
    free(v);
    return n;
}

/* The process's VmSize (its address space) in KiB. */
static inline size_t vm_size_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Run fn(arg) in a new thread and wait for it. */
static inline void run_in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, arg) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

/* Run fn in a child process; return what it wrote to stderr in buf and its
 * wait status. */
static inline int run_in_child(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    return status;
}

/* Run fn(arg) in a child, which must die of signal sig, its stderr holding
 * needle (if not NULL) and, for an abort, an address ("0x"). */
static inline void expect_death(void (*fn)(void *), void *arg, int sig, const char *what, const char *needle)
{
    char msg[512];
    int st = run_in_child(fn, arg, msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == sig, "%s: status %d, message: %s", what, st, msg);
    if (needle)
        CHECK_MSG(strstr(msg, needle) && (sig != SIGABRT || strstr(msg, "0x")), "%s: message: %s", what, msg);
}

/* The statistics now; and their committed bytes, which must add up to
 * their parts. */
static inline struct obmt_stats unit_stats(void)
{
    struct obmt_stats st = { .version = OBMT_STATS_VERSION, .size = sizeof st };
    CHECK(obmt_stats_get(&st) == 0);
    return st;
}
static inline void unit_check_reconciles(void)
{
    struct obmt_stats st = unit_stats();
    CHECK_MSG(st.bytes_committed == st.bytes_in_use + st.bytes_free_in_pools + st.bytes_empty_pools +
                  st.bytes_free_pools + st.bytes_huge + st.bytes_medium,
              "committed %llu, medium %llu, huge %llu", (unsigned long long)st.bytes_committed,
              (unsigned long long)st.bytes_medium, (unsigned long long)st.bytes_huge);
    CHECK(st.bytes_medium_cached <= st.bytes_medium);
}

static inline size_t blocks_per_pool(unsigned c) { return class_blocks(c); }

/* A pool taken straight from an arena, made to look used (pool_init would
 * have set its size), its blocks' bytes 0xab (the purge tests look for
 * them). */
static inline pool_header *take_used(void)
{
    pool_header *p = arena_take_pool();
    CHECK(p != NULL);
    memset(pool_mem(p), 0xab, OBMT_POOL_USABLE);
    p->size = 16;
    return p;
}
/* Make h's next tick collect (heap_ticked: at most once per purge delay).
 * Not last_collect_ms = 0: monotonic time counts from boot, so on a machine
 * up for less than the delay (the tests that call this set an hour) that
 * is no further back than now, and no collect came (unit_keep and
 * unit_span_grow failed on a machine 20 minutes after its boot). */
static inline void unit_collect_due(struct heap *h)
{
    long delay = option_get(OPT_PURGE_DELAY_MS);
    h->last_collect_ms = os_now_ms() - (uint64_t)(delay > 100 ? delay : 100) - 1;
}

/* The huge-run tests (unit_huge, unit_thp): the thread's kept run to the
 * shared cache, and the shared cache back to the arenas; then every wholly
 * free arena held (one-arena runs), so that the only free runs are those a
 * test makes and new runs come from the frontier; and given back. */
static inline void unit_huge_caches_empty(void)
{
    huge_keep_flush(heap_self());
    huge_cache_purge(true, os_now_ms(), 0);
}
static size_t unit_held[4096], unit_nheld;
static inline void unit_hold_free_arenas(void)
{
    unit_huge_caches_empty();
    bool zero;
    size_t used = arena_slots_used(), f;
    while ((f = arena_take_run(1, &zero)) < used) {
        CHECK(unit_nheld < 4096);
        unit_held[unit_nheld++] = f;
    }
    unit_held[unit_nheld++] = f; /* (a fresh slot: held too, so that new runs start after it) */
}
static inline void unit_release_held(void)
{
    while (unit_nheld)
        arena_give_run(unit_held[--unit_nheld], 1);
}

#endif
