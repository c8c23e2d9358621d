/* libobmt_early_test.so: a library whose constructor allocates, to show
 * that obmt serves requests made before its own constructor has run (ld.so
 * runs the constructors of a program's libraries before those of
 * LD_PRELOAD'ed ones that do not depend on them), and a thread-local block
 * large enough that dlopen'ing the library makes ld.so allocate through
 * malloc. test_interpose checks what it recorded. */
#include <stdlib.h>
#include <string.h>

int early_ok;          /* 1: every early request worked */
void *early_block;     /* a block from the constructor, freed by the test */
__thread char early_tls[64 << 10];

__attribute__((constructor(101))) static void early(void)
{
    char *p = malloc(100), *q = calloc(10, 1000), *r;
    early_ok = p && q;
    for (int i = 0; early_ok && i < 10000; i++)
        early_ok &= q[i] == 0;
    if (p) {
        memset(p, 7, 100);
        r = realloc(p, 5000);
        early_ok &= r && r[99] == 7;
        free(r);
    }
    free(q);
    early_block = malloc(64);
}
