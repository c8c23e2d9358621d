/* Downstream smoke test for an installed obmt: allocate a small block, check
 * obmt_owns() and obmt_stats_get(), check header and library versions agree,
 * free. Exits 0 only if every check passes. Built three ways by ../run.sh. */
#include <obmt.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                  \
            failures++;                                                \
        }                                                              \
    } while (0)

int main(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", OBMT_VERSION_MAJOR,
             OBMT_VERSION_MINOR, OBMT_VERSION_PATCH);
    CHECK(obmt_version() != NULL && strcmp(obmt_version(), want) == 0);

    unsigned char *p = obmt_malloc(64);
    CHECK(p != NULL);
    if (p != NULL) {
        memset(p, 0xab, 64);
        CHECK(obmt_owns(p) == 1);
        CHECK(obmt_usable_size(p) >= 64);
    }

    struct obmt_stats st;
    memset(&st, 0, sizeof st);
    st.version = OBMT_STATS_VERSION;
    st.size = sizeof st;
    CHECK(obmt_stats_get(&st) == 0);
    CHECK(st.pool_size > 0 && st.arena_size >= st.pool_size);

    struct obmt_stats bad;
    memset(&bad, 0, sizeof bad);
    bad.version = OBMT_STATS_VERSION + 1;
    bad.size = sizeof bad;
    errno = 0;
    CHECK(obmt_stats_get(&bad) == -1 && errno == EINVAL);

    obmt_free(p);

    if (failures != 0) {
        fprintf(stderr, "obmt downstream: %d check(s) failed\n", failures);
        return 1;
    }
    printf("obmt downstream: version %s, pool %llu bytes: all checks passed\n",
           obmt_version(), (unsigned long long)st.pool_size);
    return 0;
}
