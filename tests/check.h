/* check.h: the assertions every obmt test uses. A failed CHECK prints the
 * file, line, expression and an optional message, then exits 1. */
#ifndef OBMT_TEST_CHECK_H
#define OBMT_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static unsigned long check_count;

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        __atomic_fetch_add(&check_count, 1, __ATOMIC_RELAXED);                 \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__,   \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)
#define CHECK(cond) CHECK_MSG(cond, "%s", "")

#define CHECK_DONE(name)                                                       \
    do {                                                                       \
        printf("%s: %lu checks passed\n", name, check_count);                  \
        return 0;                                                              \
    } while (0)
#endif
