/*
 * bench_server: a larson-like server simulation.
 *
 *   server/SLOTS/threads:T        with hand-offs between threads
 *   server_local/SLOTS/threads:T  the same, no hand-offs (every free local)
 *
 * Each thread owns an array of SLOTS objects of random sizes (7/8 of them
 * 16..512 bytes, 1/8 513..8192 bytes). One operation frees the object in a
 * random slot and allocates a new one into it. The first SLOTS/8 slots hold
 * long-lived objects: an operation that lands there replaces the object only
 * once in 32 times, otherwise it picks a short-lived slot.
 *
 * Every 64 operations (server only) a thread takes 16 random short-lived
 * objects, hands them to another thread's inbox (a bounded array under a
 * mutex, taken with trylock so nobody ever waits: when busy or full the
 * objects stay) and allocates replacements. A thread drains its inbox at the
 * start of every iteration, putting each received object into a random
 * short-lived slot in place of the one there, which it frees. So objects are
 * freed by threads other than the one that allocated them, and travel on.
 *
 * Each object carries a tag (its address and size) in its first word and a
 * marker in its last byte, checked before free (mismatch aborts). The slot
 * arrays are filled before timing starts and emptied after it ends.
 * Iteration: 256 operations. Items are allocations (hand-off replacements
 * included). Live memory: about 780 bytes a slot on average, so at most
 * 8 threads x 8192 slots x 780 B ~ 50 MiB.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_NAME "bench_server"
#include "bench_util.h"

#define MAXT BENCH_MAXT
#define OPS 256           /* operations per iteration */
#define PASS_EVERY 64     /* operations between hand-offs */
#define PASS_N 16         /* objects per hand-off */
#define INBOX 1024        /* capacity of a thread's inbox */
#define LONG_ODDS 32      /* a long-lived slot is replaced 1 time in 32 */
#define MAGIC 0x1a2b3c4d5e6f7788ULL

struct inbox {
    _Alignas(64) pthread_mutex_t lock;
    int n;
    void *obj[INBOX];
};

static struct inbox inboxes[MAXT];
static pthread_once_t inboxes_once = PTHREAD_ONCE_INIT;

static void inboxes_init(void)
{
    for (int i = 0; i < MAXT; i++)
        pthread_mutex_init(&inboxes[i].lock, NULL);
}

static inline size_t rand_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    if ((r & 7) != 0)
        return 16 + (size_t)((r >> 8) % 497);   /* 16..512 */
    return 513 + (size_t)((r >> 8) % 7680);      /* 513..8192 */
}

/* Object layout: word 0 = address ^ size ^ MAGIC, word 1 = size, last byte
 * = low byte of the size. */
static inline void *obj_new(uint64_t *rng)
{
    size_t n = rand_size(rng);
    uint64_t *p = malloc(n);
    if (!p)
        fault("malloc returned NULL", NULL);
    p[0] = (uintptr_t)p ^ n ^ MAGIC;
    p[1] = n;
    if (n > 16) /* at 16 the last byte is in word 1 */
        ((unsigned char *)p)[n - 1] = (unsigned char)n;
    return p;
}

static inline void obj_free(void *o)
{
    uint64_t *p = o;
    size_t n = (size_t)p[1];
    if (n < 16 || n > 8192 || p[0] != ((uintptr_t)p ^ n ^ MAGIC) ||
        (n > 16 && ((unsigned char *)p)[n - 1] != (unsigned char)n))
        fault("object header or trailer overwritten", p);
    free(p);
}

/* A random slot: long-lived ones [0, nlong) are rarely chosen. */
static inline size_t pick_slot(uint64_t *rng, size_t slots, size_t nlong)
{
    uint64_t r = rng_next(rng);
    size_t i = (size_t)(r % slots);
    if (i < nlong && ((r >> 48) % LONG_ODDS) != 0)
        i = nlong + (size_t)((r >> 20) % (slots - nlong));
    return i;
}

static inline size_t pick_short(uint64_t *rng, size_t slots, size_t nlong)
{
    return nlong + (size_t)(rng_next(rng) % (slots - nlong));
}

static void drain_inbox(struct inbox *in, void **slot, size_t slots, size_t nlong, uint64_t *rng,
                        bool block)
{
    void *got[INBOX];
    int n;
    if (block)
        pthread_mutex_lock(&in->lock);
    else if (pthread_mutex_trylock(&in->lock) != 0)
        return;
    n = in->n;
    memcpy(got, in->obj, (size_t)n * sizeof got[0]);
    in->n = 0;
    pthread_mutex_unlock(&in->lock);
    for (int i = 0; i < n; i++) {
        if (slot) {
            size_t k = pick_short(rng, slots, nlong);
            obj_free(slot[k]);
            slot[k] = got[i];
        } else
            obj_free(got[i]);
    }
}

/* Hands up to PASS_N short-lived objects to inbox `to`, emptying their
 * slots; their indices go to `emptied`. Returns how many. */
static int hand_off(struct inbox *to, void **slot, size_t slots, size_t nlong, uint64_t *rng,
                    size_t *emptied)
{
    if (pthread_mutex_trylock(&to->lock) != 0)
        return 0;
    int k = 0;
    for (; k < PASS_N && to->n < INBOX; k++) {
        size_t i = pick_short(rng, slots, nlong);
        while (!slot[i]) /* already handed off in this round: the next one */
            i = i + 1 < slots ? i + 1 : nlong;
        to->obj[to->n++] = slot[i];
        slot[i] = NULL;
        emptied[k] = i;
    }
    pthread_mutex_unlock(&to->lock);
    return k;
}

static void server(gb_state *s, bool pass)
{
    size_t slots = (size_t)gb_range(s, 0), nlong = slots / 8;
    int t = gb_thread_index(s), n = gb_thread_count(s);
    uint64_t rng = 0x243f6a8885a308d3ULL * (uint64_t)(t + 1);
    struct inbox *mine = &inboxes[t];
    int64_t allocs = 0;

    pthread_once(&inboxes_once, inboxes_init);
    /* My inbox is reset before my first gb_keep_running: nobody hands me
     * anything before the barrier there. */
    mine->n = 0;
    void **slot = malloc(slots * sizeof *slot);
    if (!slot)
        fault("malloc returned NULL", NULL);
    for (size_t i = 0; i < slots; i++)
        slot[i] = obj_new(&rng);

    while (gb_keep_running(s)) {
        if (pass)
            drain_inbox(mine, slot, slots, nlong, &rng, false);
        for (int op = 0; op < OPS; op++) {
            size_t i = pick_slot(&rng, slots, nlong);
            obj_free(slot[i]);
            slot[i] = obj_new(&rng);
            allocs++;
            if (pass && op % PASS_EVERY == PASS_EVERY - 1) {
                int to = n == 1 ? t : (t + 1 + (int)(rng_next(&rng) % (uint64_t)(n - 1))) % n;
                size_t emptied[PASS_N];
                int m = hand_off(&inboxes[to], slot, slots, nlong, &rng, emptied);
                for (int k = 0; k < m; k++)
                    slot[emptied[k]] = obj_new(&rng);
                allocs += m;
            }
        }
    }
    /* After the final gb_keep_running (a barrier) no one hands off any more. */
    drain_inbox(mine, NULL, 0, 0, &rng, true);
    for (size_t i = 0; i < slots; i++)
        obj_free(slot[i]);
    free(slot);
    gb_set_items_processed(s, allocs);
}

static void bm_server(gb_state *s) { server(s, true); }
static void bm_server_local(gb_state *s) { server(s, false); }

static const int64_t slot_counts[] = { 1024, 8192 };
static const int threads[] = { 1, 2, 4, 8 };

int main(int argc, char **argv)
{
    static const struct bench_fn all[] = {
        { "server", bm_server }, { "server_local", bm_server_local },
    };
    register_grid(all, sizeof all / sizeof all[0], slot_counts, sizeof slot_counts / sizeof slot_counts[0], threads,
                  sizeof threads / sizeof threads[0]);
    return gb_main(argc, argv);
}
