/*
 * options.c: run-time options, one table.
 *
 * Each option is read once, at initialisation, from the environment
 * variable OBMT_<NAME> (getenv and a hand-written number parser: nothing
 * here allocates). Most can be changed later with obmt_option_set. Values
 * live in g_options[] and are read with relaxed loads: an option is a hint
 * that takes effect at the next slow-path decision, so no ordering with
 * other memory is needed. A value that does not parse, or lies outside the
 * option's range, is reported on stderr and the default is kept.
 *
 * The README's option table is this table.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct option_def {
    const char *name; /* lower case; the variable is OBMT_<NAME> in upper case */
    long def, min, max;
    bool runtime;     /* may change after initialisation */
};

static const struct option_def option_defs[OPT_COUNT] = {
    [OPT_VERBOSE]          = { "verbose", 0, 0, 2, true },
    [OPT_SHOW_STATS]       = { "show_stats", 0, 0, 2, true },
    [OPT_KEEP_EMPTY_POOLS] = { "keep_empty_pools", OBMT_KEEP_EMPTY_POOLS, 0, 1024, true },
    [OPT_KEEP_FREE_ARENAS] = { "keep_free_arenas", OBMT_KEEP_FREE_ARENAS, 0, 1 << 20, true },
    [OPT_PURGE_DELAY_MS]   = { "purge_delay_ms", OBMT_PURGE_DELAY_MS, -1, 3600 * 1000, true },
    [OPT_RESERVE_MIB]      = { "reserve_mib", 0, 0, (1L << OBMT_RESERVE_SHIFT) >> 20, false }, /* 0: sized at init */
    [OPT_RESERVE_EAGER]    = { "reserve_eager", 0, 0, 1, false },
    [OPT_BACKGROUND_THREAD] = { "background_thread", 0, 0, 1, true },
    [OPT_STATS_INTERVAL_MS] = { "stats_interval_ms", 0, 0, 3600 * 1000, true },
    [OPT_STATS_MAP]        = { "stats_map", 0, 0, 1, true },
    [OPT_LEND_IDLE]        = { "lend_idle", 1, 0, 1, true },
    [OPT_BLOCK_STACK]      = { "block_stack", OBMT_BSTACK_DEPTH, 0, OBMT_BSTACK_DEPTH, false },
    [OPT_HUGE_PAGES]       = { "huge_pages", 1, 0, 1, true },
};

long g_options[OPT_COUNT];
static bool g_from_env[OPT_COUNT]; /* options_init, before READY: for options_print */
char g_stats_file[256];

static void warn(const char *fmt, const char *a, const char *b)
{
    char buf[320];
    int n = snprintf(buf, sizeof buf, fmt, a, b);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        (void)w;
    }
}

/* Decimal, with an optional leading '-'; show_stats also takes "json"
 * (2) and "text" (1). false if v is not entirely a number. */
static bool parse_value(enum obmt_option o, const char *v, long *out)
{
    if (o == OPT_SHOW_STATS) {
        if (strcasecmp(v, "json") == 0) { *out = 2; return true; }
        if (strcasecmp(v, "text") == 0) { *out = 1; return true; }
    }
    bool neg = *v == '-';
    const char *d = v + neg;
    if (!*d)
        return false;
    long x = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || x > (1L << 40))
            return false;
        x = x * 10 + (*d - '0');
    }
    *out = neg ? -x : x;
    return true;
}

static int option_find(const char *name)
{
    if (strncasecmp(name, "OBMT_", 5) == 0)
        name += 5;
    for (int i = 0; i < OPT_COUNT; i++)
        if (strcasecmp(name, option_defs[i].name) == 0)
            return i;
    return -1;
}

void options_init(void)
{
    for (int i = 0; i < OPT_COUNT; i++) {
        const struct option_def *d = &option_defs[i];
        long value = d->def;
        char var[64] = "OBMT_";
        for (size_t k = 0; d->name[k] && k + 6 < sizeof var; k++)
            var[5 + k] = (char)(d->name[k] >= 'a' && d->name[k] <= 'z' ? d->name[k] - 32 : d->name[k]);
        const char *v = getenv(var);
        if (v && *v) {
            long x;
            if (parse_value((enum obmt_option)i, v, &x) && x >= d->min && x <= d->max) {
                value = x;
                g_from_env[i] = true;
            }
            else
                warn("obmt: ignoring %s=%s: not a number in the option's range (see the README)\n", var, v);
        }
        obmt_store_relaxed(&g_options[i], value);
    }
    const char *f = getenv("OBMT_STATS_FILE");
    if (f && *f) {
        if (strlen(f) < sizeof g_stats_file)
            memcpy(g_stats_file, f, strlen(f) + 1);
        else
            warn("obmt: ignoring OBMT_STATS_FILE=%s%s: path too long\n", f, "");
    }
}

int obmt_option_get(const char *name, long *value)
{
    int i = name && value ? option_find(name) : -1;
    if (i < 0) {
        errno = EINVAL;
        return -1;
    }
    obmt_ensure_init();
    *value = option_get((enum obmt_option)i);
    return 0;
}

int obmt_option_set(const char *name, long value)
{
    int i = name ? option_find(name) : -1;
    if (i < 0 || value < option_defs[i].min || value > option_defs[i].max || !option_defs[i].runtime) {
        errno = EINVAL;
        return -1;
    }
    obmt_ensure_init(); /* so that the environment cannot overwrite it later */
    obmt_store_relaxed(&g_options[i], value);
    if ((i == OPT_BACKGROUND_THREAD || i == OPT_STATS_INTERVAL_MS) && value && !background_start()) {
        /* No thread (pthread_create failed: EAGAIN under a thread limit): say
         * so rather than read the value with nothing running. Stopping is
         * the thread's own job, at its next wake-up. */
        obmt_store_relaxed(&g_options[i], 0);
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

void options_print(void (*out)(const char *line, void *arg), void *arg)
{
    char buf[320];
    for (int i = 0; i < OPT_COUNT; i++) {
        /* reserve_mib reads back as the window chosen: "auto" unless set. */
        long v = option_get((enum obmt_option)i);
        const char *how = g_from_env[i] || (i != OPT_RESERVE_MIB && v != option_defs[i].def) ? " (set)"
                          : i == OPT_RESERVE_MIB                                                ? " (auto)"
                                                                                                : "";
        snprintf(buf, sizeof buf, "  option %-18s %ld%s\n", option_defs[i].name, v, how);
        out(buf, arg);
    }
    if (g_stats_file[0]) {
        snprintf(buf, sizeof buf, "  option %-18s %s\n", "stats_file", g_stats_file);
        out(buf, arg);
    }
}
