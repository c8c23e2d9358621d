/* Preloaded before libobmt-override by api_key_fail: every
 * pthread_key_create fails, as it does once a process has used up its
 * PTHREAD_KEYS_MAX keys. */
#include <errno.h>
#include <pthread.h>

int pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
    (void)key;
    (void)destructor;
    return EAGAIN;
}
