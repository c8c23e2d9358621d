/* Pools: lazy carving hands out consecutive blocks, the free list is LIFO,
 * a full pool leaves usedpools and comes back on a free, an empty pool is
 * kept in the heap, and bad frees abort with a message. */
#include "unit_util.h"

static void free_interior(void *p) { obmt_free((char *)p + 8); }
static void free_twice(void *p) { obmt_free(p); obmt_free(p); }
/* p is the first block of a fresh pool: slot 100 starts past its first page. */
static void free_uncarved(void *p) { obmt_free((char *)p + 100 * 48); }

int main(void)
{
    const unsigned c = size_class(48);
    const size_t per = blocks_per_pool(c);
    void **b = calloc(per + 1, sizeof *b);

    b[0] = obmt_malloc(48);
    pool_header *p = pool_of(b[0]);
    CHECK((char *)b[0] == pool_mem(p)); /* blocks from the pool's first byte; its header is out of line */
    CHECK(p->szidx == c && p->size == 48 && p->count == 1 && p->state == POOL_USED);
    CHECK(heap_self()->usedpools[c] == p && p->owner == heap_self());
    /* Lazy carving, a page at a time: nothing past the first page yet. */
    CHECK(p->nextoffset <= OBMT_CARVE_PAGE + 48 && p->nextoffset > OBMT_CARVE_PAGE - 48);
    for (size_t i = 1; i < per; i++) {
        b[i] = obmt_malloc(40);
        CHECK_MSG((char *)b[i] == (char *)b[i - 1] + 48, "block %zu not carved in order", i);
        CHECK(p->count == i + 1);
        /* As in obmalloc, the next free block is carved ahead; nothing past
         * its page is. */
        CHECK_MSG(p->nextoffset <= (((uintptr_t)b[i] - (uintptr_t)pool_mem(p) + 48) | (OBMT_CARVE_PAGE - 1)) + 1 + 48,
                  "block %zu: carved past the page of the next block", i);
        /* carved_bound is the key of the next virgin block: every carved
         * block is below it, the first uncarved one is not. */
        CHECK_MSG(p->carved_bound == pool_block_key(p, pool_mem(p) + p->nextoffset), "block %zu: carved_bound", i);
        CHECK(pool_is_carved_block(p, b[i]) && !pool_is_carved_block(p, pool_mem(p) + p->nextoffset));
    }
    /* Full: out of usedpools, FULL flag set, next malloc takes a new pool. */
    CHECK(p->state == POOL_FULL && p->freeblock == NULL);
    CHECK(obmt_load_relaxed(&p->remote) == REMOTE_FULL);
    CHECK(heap_self()->usedpools[c] != p && heap_self()->fullpools == p);
    b[per] = obmt_malloc(48);
    CHECK(pool_of(b[per]) != p);

    /* Owner frees into the full pool: back in usedpools, ARMED: the FULL
     * flag stays set (no atomic). */
    obmt_free(b[3]);
    CHECK(p->state == POOL_ARMED && obmt_load_relaxed(&p->remote) == REMOTE_FULL);
    /* At the back of usedpools, here right behind the head pool (b[per]'s),
     * which keeps serving malloc. */
    pool_header *q = pool_of(b[per]);
    CHECK(heap_self()->usedpools[c] == q && q->nextpool == p && p->prevpool == q && p->count == per - 1);
    obmt_free(b[per]); /* q empties and leaves usedpools: p is the head */
    CHECK(heap_self()->usedpools[c] == p && p->prevpool == NULL);
    /* LIFO free list. Running dry again with FULL still set: FULL again,
     * back on the full list, the flag as it was. */
    void *again = obmt_malloc(48);
    CHECK(again == b[3]);
    CHECK(p->state == POOL_FULL && heap_self()->fullpools == p && heap_self()->usedpools[c] != p);
    CHECK(obmt_load_relaxed(&p->remote) == REMOTE_FULL && p->freeblock == NULL);
    obmt_free(b[5]);
    obmt_free(b[7]);
    CHECK(p->state == POOL_ARMED && p->count == per - 2);
    CHECK(obmt_malloc(33) == b[7] && obmt_malloc(48) == b[5]);
    CHECK(p->state == POOL_FULL && p->count == per);
    b[per] = obmt_malloc(48);
    CHECK(pool_of(b[per]) != p);

    /* Pools that get a block back while full join the back of usedpools,
     * in the order of those frees, and serve only after the pools ahead of
     * them (the head first): a pool gathers frees while it waits. */
    {
        const unsigned c2 = size_class(4096);
        const size_t per2 = blocks_per_pool(c2);
        struct heap *h = heap_self();
        void *full[3][64];
        CHECK(per2 <= 64);
        pool_header *fp[3];
        for (int k = 0; k < 3; k++) {
            for (size_t i = 0; i < per2; i++)
                full[k][i] = obmt_malloc(4096);
            fp[k] = pool_of(full[k][0]);
            CHECK(pool_of(full[k][per2 - 1]) == fp[k] && fp[k]->state == POOL_FULL);
        }
        CHECK(h->usedpools[c2] == NULL && h->usedtail[c2] == NULL);
        void *first = obmt_malloc(4096);
        pool_header *head = pool_of(first);
        CHECK(h->usedpools[c2] == head && h->usedtail[c2] == head);
        for (int k = 0; k < 3; k++)
            obmt_free(full[k][1]);
        CHECK(head->nextpool == fp[0] && fp[0]->nextpool == fp[1] && fp[1]->nextpool == fp[2]);
        CHECK(fp[2]->nextpool == NULL && fp[2]->prevpool == fp[1] && h->usedtail[c2] == fp[2]);
        void *rest[64];
        for (size_t i = 1; i < per2; i++) {
            rest[i] = obmt_malloc(4096);
            CHECK(pool_of(rest[i]) == head);
        }
        for (int k = 0; k < 3; k++) {
            CHECK(obmt_malloc(4096) == full[k][1]);
            CHECK(fp[k]->state == POOL_FULL);
        }
        CHECK(h->usedpools[c2] == NULL && h->usedtail[c2] == NULL);
        /* The tail follows an unlink from the back: the last pool, emptied,
         * leaves; the one before it is the tail again. */
        obmt_free(full[0][1]);
        obmt_free(full[1][1]);
        CHECK(h->usedpools[c2] == fp[0] && h->usedtail[c2] == fp[1]);
        for (size_t i = 0; i < per2; i++)
            if (i != 1)
                obmt_free(full[1][i]);
        CHECK(h->usedpools[c2] == fp[0] && h->usedtail[c2] == fp[0] && fp[0]->nextpool == NULL);
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < per2; i++)
                if (k != 1 && !(k == 0 && i == 1))
                    obmt_free(full[k][i]);
        for (size_t i = 1; i < per2; i++)
            obmt_free(rest[i]);
        obmt_free(first);
    }

    /* Bad frees abort, naming the address and the fault. */
    char msg[512];
    int st = run_in_child(free_interior, b[10], msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d", st);
    CHECK_MSG(strstr(msg, "invalid pointer") && strstr(msg, "0x"), "message: %s", msg);
    void *lone = obmt_malloc(48);
    st = run_in_child(free_twice, lone, msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d", st);
    CHECK_MSG(strstr(msg, "double free"), "message: %s", msg);
    st = run_in_child(free_uncarved, b[per], msg, sizeof msg);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %d", st);
    CHECK_MSG(strstr(msg, "invalid pointer"), "message: %s", msg);
    obmt_free(lone);

    /* Emptying the pool: kept in the heap (hysteresis), not given back. */
    uint64_t given = heap_self()->stats.pools_given;
    for (size_t i = 0; i < per; i++)
        obmt_free(b[i]);
    /* (FULL -> ARMED on the first free, and the last one clears FULL.) */
    CHECK(p->state == POOL_EMPTY && p->count == 0 && obmt_load_relaxed(&p->remote) == 0);
    CHECK(heap_self()->stats.pools_given == given);
    CHECK(heap_self()->emptypools != NULL);
    /* A malloc of another class reuses the kept pool: no arena traffic. */
    uint64_t taken = heap_self()->stats.pools_taken;
    obmt_free(b[per]);
    void *x = obmt_malloc(200);
    CHECK(heap_self()->stats.pools_taken == taken);
    CHECK(pool_of(x)->size == 208);
    obmt_free(x);
    free(b);
    CHECK_DONE("pool");
}
