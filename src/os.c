/*
 * os.c: the narrow OS layer. Reserve, commit, decommit, plain read-write
 * mappings (the heap table's chunks), huge-page advice, and a fatal-error
 * printer. None of it
 * calls malloc: mmap/mprotect/madvise are system calls, and the message is
 * formatted by hand into a stack buffer.
 */
#include "internal.h"

#include <time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if OBMT_UNDER_TSAN
/* ThreadSanitizer's dynamic annotations (its run-time defines them). */
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#endif

#if OBMT_TEST_HOOKS
int os_fail_commits; /* test hook (the obmt-test library only): unit_oom, stress_oom */
int os_noreplace_ignored; /* test hook: os_map_fixed as on a kernel without MAP_FIXED_NOREPLACE */
#endif

void *os_reserve(size_t size, size_t align)
{
    /* Over-reserve by `align` and trim both ends to get an aligned range. */
    size_t span = size + align;
    void *raw = mmap(NULL, span, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = span - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((void *)(start + size), tail);
    return (void *)start;
}

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older headers lack the name */
#endif

int os_map_fixed(void *p, size_t size, bool writable)
{
#if OBMT_TEST_HOOKS
    if (unlikely(obmt_load_relaxed(&os_fail_commits) > 0)) {
        obmt_fetch_sub_relaxed(&os_fail_commits, 1);
        return ENOMEM;
    }
#endif
    int noreplace = MAP_FIXED_NOREPLACE;
#if OBMT_TEST_HOOKS
    if (obmt_load_relaxed(&os_noreplace_ignored))
        noreplace = 0; /* a kernel before 4.17: the address is a hint */
#endif
    void *q = mmap(p, size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | noreplace, -1, 0);
    if (q == p)
        return 0;
    if (q == MAP_FAILED)
        return errno == EEXIST ? EEXIST : (errno ? errno : ENOMEM);
    /* A kernel older than 4.17 (or a tool that emulates mmap) took the flag
     * for a hint and mapped elsewhere: nothing of ours is at p. */
    munmap(q, size);
    return ENOTSUP;
}

bool os_range_free(void *p, size_t size)
{
    const size_t piece = (size_t)32 << 20;
    for (size_t off = 0; off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        char *at = (char *)p + off;
        void *q = mmap(at, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (q == MAP_FAILED) {
            if (errno == EEXIST)
                return false;
            continue;
        }
        munmap(q, n);
        if (q != at)
            return false; /* (the flag taken for a hint: window_noreplace_works says no first) */
    }
    return true;
}

bool os_is_mapped(const void *p)
{
    /* msync of one page fails with ENOMEM where nothing is mapped; it
     * reads nothing and writes nothing back (MS_ASYNC). */
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
    return msync((void *)page, 1, MS_ASYNC) == 0 || errno != ENOMEM;
}

int os_commit(void *p, size_t size)
{
#if OBMT_TEST_HOOKS
    if (unlikely(obmt_load_relaxed(&os_fail_commits) > 0)) {
        obmt_fetch_sub_relaxed(&os_fail_commits, 1);
        return ENOMEM;
    }
#endif
    if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0)
        return errno ? errno : ENOMEM;
    return 0;
}

void *os_map(size_t size)
{
#if OBMT_TEST_HOOKS
    if (unlikely(obmt_load_relaxed(&os_fail_commits) > 0)) {
        obmt_fetch_sub_relaxed(&os_fail_commits, 1);
        return NULL;
    }
#endif
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *os_map_table(size_t size)
{
#if OBMT_TEST_HOOKS
    /* unit_window_shrink: the first N tries fail, as under a commit limit
     * (read here: the tables are mapped at init, before a test can set a
     * hook; getenv allocates nothing). */
    static int fails = -1;
    if (fails < 0) {
        const char *e = getenv("OBMT_TEST_FAIL_TABLES");
        fails = e ? atoi(e) : 0;
    }
    if (fails > 0) {
        fails--;
        return NULL;
    }
#endif
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int os_unmap(void *p, size_t size)
{
    return munmap(p, size) == 0 ? 0 : errno;
}

int os_release(void *p, size_t size)
{
    /* A fresh private mapping, read-only: the pages go, and so does the
     * commit charge, which under vm.overcommit_memory=2 the kernel keeps
     * for a writable private range whatever MADV_DONTNEED gives back (it
     * ignores MAP_NORESERVE there; glibc's heaps shrink the same way in
     * that mode). Readable, so that a stale reader (the statistics walk, a
     * double free's checks) reads zeros. os_commit makes it writable again.
     * (A wholly free arena in a window mapped on demand is unmapped instead,
     * address space and all: window_release_memory.)
     * Under ThreadSanitizer, as in os_decommit: writes ignored while the
     * interceptor resets the shadow. */
#if OBMT_UNDER_TSAN
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
    void *q = mmap(p, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    int err = q == p ? 0 : errno;
#if OBMT_UNDER_TSAN
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
    return err;
}

int os_guard(void *p, size_t size)
{
    return mprotect(p, size, PROT_NONE) == 0 ? 0 : (errno ? errno : ENOMEM);
}

int os_decommit(void *p, size_t size)
{
    /* MADV_DONTNEED: the pages go back now and read as zeros afterwards. The
     * range stays readable, so a thread that still reads a stale free-pool
     * link in it (arena_take_pool) reads a zero and fails its CAS.
     * Under ThreadSanitizer a fresh mapping over the range does the same
     * for the program (zeros, readable, the same protection; the kernel
     * swaps the pages under its mmap lock, so a racing reader sees the old
     * page or a zero one), and it is the call whose interceptor also gives
     * back TSan's shadow of the range; madvise's does not, so a long run
     * under TSan would keep the shadow of every page ever purged. With
     * writes ignored, the interceptor resets the shadow instead of recording
     * a write of the whole range by this thread, which a stale reader's
     * load would otherwise race with. */
#if OBMT_UNDER_TSAN
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
    void *q = mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    int err = q == p ? 0 : errno;
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    return err;
#else
    return madvise(p, size, MADV_DONTNEED) == 0 ? 0 : errno;
#endif
}

static enum os_thp g_thp_mode; /* written once before READY (os_thp_init), then read */

/* Read a small sysfs file into buf (NUL-terminated; empty if missing). */
static void read_small(const char *path, char *buf, size_t cap)
{
    ssize_t n = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, cap - 1);
        close(fd);
    }
    buf[n > 0 ? n : 0] = 0;
}

static enum os_thp thp_mode_of(const char *buf)
{
    return strstr(buf, "[always]") ? OS_THP_ALWAYS : strstr(buf, "[madvise]") ? OS_THP_MADVISE : OS_THP_NEVER;
}

void os_thp_init(void)
{
    /* The files read like "always [madvise] never": the bracketed word is
     * the mode. The arenas' size (2 MiB) has its own control since Linux
     * 6.8 (hugepages-2048kB/enabled: "inherit" defers to the top-level
     * file), and is a PMD page only where hpage_pmd_size says so (not
     * with arm64's 16 or 64 KiB pages). open/read/close allocate nothing. */
    char buf[128];
    read_small("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof buf);
    if (strtoul(buf, NULL, 10) != OBMT_ARENA_SIZE) {
        g_thp_mode = OS_THP_NEVER;
        return;
    }
    read_small("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled", buf, sizeof buf);
    if (buf[0] && !strstr(buf, "[inherit]")) {
        g_thp_mode = thp_mode_of(buf);
        return;
    }
    read_small("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf);
    g_thp_mode = thp_mode_of(buf);
}

enum os_thp os_thp_mode(void) { return g_thp_mode; }

int os_advise_huge(void *p, size_t size, bool huge)
{
    return madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0 ? 0 : errno;
}

uint64_t os_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO: no system call */
    /* 64 bits: 32-bit milliseconds wrap after 49.7 days, and differences
     * compared as int32 stop purging after 24.8 days without a slow path. */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static size_t fmt_hex(char *out, uintptr_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[2 * sizeof v];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++)
        out[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

static size_t append(char *buf, size_t at, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - at)
        n = cap - at;
    memcpy(buf + at, s, n);
    return at + n;
}

noreturn void os_fatal(const char *what, const void *ptr, const char *why)
{
    char buf[256];
    size_t at = append(buf, 0, sizeof buf - 24, "obmt: ");
    at = append(buf, at, sizeof buf - 24, what);
    at = append(buf, at, sizeof buf - 24, " ");
    at += fmt_hex(buf + at, (uintptr_t)ptr);
    at = append(buf, at, sizeof buf - 2, ": ");
    at = append(buf, at, sizeof buf - 2, why);
    buf[at++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, at);
    (void)w;
    abort();
}
