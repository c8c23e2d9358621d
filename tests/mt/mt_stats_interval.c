/* Statistics over time (OBMT_STATS_INTERVAL_MS, src/background.c): with
 * OBMT_STATS_FILE and OBMT_STATS_INTERVAL_MS=20 in the environment (the
 * ctest sets them), the background thread appends one JSON line every 20 ms
 * while the program runs, with no call from it. Checked here from the file:
 * at least 8 lines of this process over 400 ms, each whole (one object, one
 * line), tagged "at":"interval", with the figures a reader needs, time
 * stamps that never go back, and bytes in use that follow the program
 * (high while it holds 8 MiB, low after it freed them). Setting the interval
 * to 0 stops the lines. */
#include "mt_util.h"

#include <stdlib.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

struct line_info { unsigned long long time_ms, in_use; };

/* The lines of this process in the file: how many, and their figures. */
static int read_lines(const char *path, struct line_info *out, int max)
{
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    static char buf[1 << 16];
    char pid[32];
    snprintf(pid, sizeof pid, "\"pid\":%d,", (int)getpid());
    int n = 0;
    while (fgets(buf, sizeof buf, f)) {
        size_t len = strlen(buf);
        CHECK_MSG(len > 2 && buf[0] == '{' && buf[len - 1] == '\n' && buf[len - 2] == '}',
                  "a line that is not one whole object: %.80s", buf);
        if (!strstr(buf, pid) || !strstr(buf, "\"at\":\"interval\""))
            continue;
        static const char *keys[] = { "\"time_ms\":", "\"bytes_in_use\":", "\"bytes_committed\":",
                                      "\"bytes_free_in_pools\":", "\"bytes_free_pools\":",
                                      "\"remote_frees\":", "\"heaps_in_use\":", "\"classes\":[" };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            CHECK_MSG(strstr(buf, keys[k]), "line without %s: %.80s", keys[k], buf);
        if (n < max) {
            out[n].time_ms = strtoull(strstr(buf, "\"time_ms\":") + 10, NULL, 10);
            out[n].in_use = strtoull(strstr(buf, "\"bytes_in_use\":") + 15, NULL, 10);
        }
        n++;
    }
    fclose(f);
    return n < max ? n : max;
}

int main(void)
{
    const char *path = getenv("OBMT_STATS_FILE");
    CHECK_MSG(path && *path, "run with OBMT_STATS_FILE set (ctest does)");
    long v = 0;
    CHECK(obmt_option_get("stats_interval_ms", &v) == 0 && v == 20);

    /* 200 ms holding 8 MiB, then 200 ms with it freed. */
    enum { N = 8192 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = obmt_malloc(1024);
        CHECK(p[i]);
        memset(p[i], i, 1024);
    }
    sleep_ms(200);
    for (int i = 0; i < N; i++)
        obmt_free(p[i]);
    obmt_collect();
    sleep_ms(200);

    static struct line_info l[4096];
    int n = read_lines(path, l, 4096);
    CHECK_MSG(n >= 8, "%d lines of statistics in 400 ms at 20 ms", n);
    int high = 0, low = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            CHECK_MSG(l[i].time_ms >= l[i - 1].time_ms, "time went back: %llu after %llu", l[i].time_ms,
                      l[i - 1].time_ms);
        high += l[i].in_use >= (unsigned long long)N * 1024;
        low += l[i].in_use < (unsigned long long)N * 1024 / 8;
    }
    CHECK_MSG(high >= 2 && low >= 2, "the lines do not follow the program: %d with 8 MiB in use, %d with less than 1",
              high, low);

    /* Interval 0: no more lines. */
    CHECK(obmt_option_set("stats_interval_ms", 0) == 0);
    sleep_ms(60); /* a line being written when the option changed lands */
    int before = read_lines(path, l, 4096);
    sleep_ms(150);
    int after = read_lines(path, l, 4096);
    CHECK_MSG(after == before, "%d lines more after the interval was set to 0", after - before);
    CHECK_DONE("mt_stats_interval");
}
