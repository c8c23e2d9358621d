/* api_key_fail: when obmt cannot create its thread key (whose destructor
 * recycles an exiting thread's heap), it must not run without it: init
 * fails, says so under OBMT_VERBOSE=1 (key_fail.sh checks), and the
 * underlying allocator serves every request, from every thread. Its result
 * used to be ignored: obmt then served the process and leaked every
 * exiting thread's heap. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"

static bool (*owns)(const void *);

static void *work(void *arg)
{
    (void)arg;
    void *v[1000];
    for (int i = 0; i < 1000; i++) {
        v[i] = malloc(16 + i % 500);
        CHECK(v[i] != NULL && !owns(v[i]));
        memset(v[i], i, 16);
    }
    for (int i = 0; i < 1000; i++)
        free(v[i]);
    return NULL;
}

int main(void)
{
    owns = (bool (*)(const void *))dlsym(RTLD_DEFAULT, "obmt_owns");
    CHECK_MSG(owns != NULL, "run under LD_PRELOAD of libobmt-override");
    void *p = malloc(16);
    CHECK_MSG(!owns(p), "obmt serves blocks without its thread key");
    free(p);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, work, NULL) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK_DONE("key_fail");
}
