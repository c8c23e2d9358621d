/* proc_rss.h: the process's resident set size from /proc/self/statm (and
 * its high-water mark, VmHWM, from /proc/self/status), read
 * with open/read/sscanf (no stdio stream, so no allocation that would
 * disturb the allocator being measured). */
#ifndef OBMT_BENCH_PROC_RSS_H
#define OBMT_BENCH_PROC_RSS_H
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Resident MiB, or -1. */
static inline double rss_mib(void)
{
    char buf[128];
    long size = 0, resident = 0;
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    if (sscanf(buf, "%ld %ld", &size, &resident) != 2)
        return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* VmHWM in MiB, or -1. */
static inline double hwm_mib(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *l = strstr(buf, "VmHWM:");
    long kb;
    if (!l || sscanf(l + 6, "%ld", &kb) != 1)
        return -1;
    return (double)kb / 1024.0;
}
#endif
