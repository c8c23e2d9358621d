/* Options: the environment is read at initialisation (OBMT_<NAME>); bad
 * values are reported and ignored; obmt_option_get/set take names with or
 * without the prefix in any case, refuse unknown names, values out of range
 * and options fixed at start-up, all with EINVAL. reserve_mib reads back as
 * the window chosen: 1 MiB asked for is raised to the 256 MiB minimum (not
 * taken for 0, "auto": found in review). */
#include "unit_util.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    /* obmt initialises in a constructor, before main: run again with the
     * environment set. */
    if (!getenv("OBMT_KEEP_EMPTY_POOLS")) {
        setenv("OBMT_KEEP_EMPTY_POOLS", "7", 1);
        setenv("OBMT_PURGE_DELAY_MS", "not-a-number", 1);
        setenv("OBMT_SHOW_STATS", "json", 1);
        setenv("OBMT_RESERVE_MIB", "1", 1);
        execv("/proc/self/exe", argv);
        CHECK_MSG(0, "execv: %s", strerror(errno));
    }
    (void)argc;
    CHECK(obmt_ensure_init());
    long v;
    CHECK(obmt_option_get("keep_empty_pools", &v) == 0 && v == 7);
    CHECK(obmt_option_get("OBMT_PURGE_DELAY_MS", &v) == 0 && v == OBMT_PURGE_DELAY_MS);
    CHECK(obmt_option_get("Show_Stats", &v) == 0 && v == 2);
    CHECK_MSG(obmt_option_get("reserve_mib", &v) == 0 && v == 256, "reserve_mib %ld", v);
    struct obmt_stats s = { .version = OBMT_STATS_VERSION, .size = sizeof s };
    CHECK(obmt_stats_get(&s) == 0 && s.reserved_bytes == (256u << 20));

    CHECK(obmt_option_set("purge_delay_ms", 5) == 0);
    CHECK(obmt_option_get("purge_delay_ms", &v) == 0 && v == 5);
    errno = 0;
    CHECK(obmt_option_set("no_such_option", 1) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(obmt_option_set("purge_delay_ms", -2) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(obmt_option_set("reserve_mib", 512) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(obmt_option_get(NULL, &v) == -1 && errno == EINVAL);
    CHECK(obmt_option_set("show_stats", 0) == 0); /* nothing at exit */
    CHECK_DONE("options");
}
