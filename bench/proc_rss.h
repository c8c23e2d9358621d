/* proc_rss.h: the process's resident set size from /proc/self/statm (and
 * its high-water mark, VmHWM, from /proc/self/status), read
 * with open/read/sscanf (no stdio stream, so no allocation that would
 * disturb the allocator being measured). */
#ifndef OBMT_BENCH_PROC_RSS_H
#define OBMT_BENCH_PROC_RSS_H
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The file at path into buf (NUL-terminated); false if it cannot be read. */
static inline bool proc_read(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    return true;
}

/* Resident MiB, or -1. */
static inline double rss_mib(void)
{
    char buf[128];
    long size = 0, resident = 0;
    if (!proc_read("/proc/self/statm", buf, sizeof buf) || sscanf(buf, "%ld %ld", &size, &resident) != 2)
        return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* VmHWM in MiB, or -1. */
static inline double hwm_mib(void)
{
    char buf[4096];
    long kb;
    if (!proc_read("/proc/self/status", buf, sizeof buf))
        return -1;
    char *l = strstr(buf, "VmHWM:");
    if (!l || sscanf(l + 6, "%ld", &kb) != 1)
        return -1;
    return (double)kb / 1024.0;
}
#endif
