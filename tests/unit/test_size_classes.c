/* Size classes: every request 0..OBMT_SMALL_MAX maps to the smallest class
 * that holds it; fine classes are every multiple of 16 up to 512, coarse
 * ones fill a pool exactly; block keys recognise exactly the block starts
 * of every class. */
#include "unit_util.h"

int main(void)
{
    CHECK(OBMT_NCLASSES == OBMT_FINE_MAX / 16 + OBMT_NCOARSE);
    /* Pools are all blocks (headers live out of line): four blocks fill
     * one. (Secure mode's pools end in a page without blocks: 4 KiB less.) */
    if (OBMT_SECURE)
        CHECK(OBMT_SMALL_MAX == (OBMT_POOL_SIZE >= 32768 ? 7168 : 3072));
    else
        CHECK(OBMT_SMALL_MAX == (OBMT_POOL_SIZE >= 32768 ? 8192 : OBMT_POOL_SIZE == 16384 ? 4096 : 512));
    for (size_t n = 0; n <= OBMT_SMALL_MAX; n++) {
        unsigned c = size_class(n);
        CHECK_MSG(c < OBMT_NCLASSES, "n=%zu", n);
        CHECK_MSG(class_size(c) >= n && class_size(c) % 16 == 0, "n=%zu", n);
        CHECK_MSG(c == 0 || class_size(c - 1) < n, "n=%zu not in the smallest class", n);
    }
    for (unsigned c = 1; c < OBMT_NCLASSES; c++)
        CHECK(class_size(c) > class_size(c - 1));
    for (unsigned c = OBMT_FINE_MAX / 16; c < OBMT_NCLASSES; c++) {
        size_t per = OBMT_POOL_USABLE / class_size(c);
        CHECK_MSG(OBMT_POOL_USABLE - per * class_size(c) < 16 * per,
                  "coarse class %u (%zu bytes) wastes a block's worth of its pool", c, class_size(c));
    }
    /* Block keys (internal.h): the start of block q keys to q * delta,
     * every other address of the pool (header, interior, tail) to at least
     * n * delta, the largest carved_bound (n blocks per pool); so "key <
     * carved_bound" accepts exactly the carved blocks. Every offset of every
     * class. */
    static pool_header fake;
    uintptr_t pool = (uintptr_t)7 << 40; /* the key reads only the address's low bits */
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        uint32_t s = (uint32_t)class_size(c);
        uint32_t n = OBMT_POOL_USABLE / s;
        fake.recip = pool_class_recip[c];
        uint32_t delta = s * fake.recip;
        CHECK_MSG(delta >= 1 && delta <= s, "class %u: delta %u", c, delta);
        CHECK_MSG(n * delta < (1u << 16), "class %u: bound", c);
        for (uint32_t o = 0; o < OBMT_POOL_SIZE; o++) {
            uint32_t key = pool_block_key(&fake, (void *)(pool + o));
            bool start = o >= OBMT_POOL_OVERHEAD && (o - OBMT_POOL_OVERHEAD) % s == 0 &&
                         (o - OBMT_POOL_OVERHEAD) / s < n;
            if (start)
                CHECK_MSG(key == (o - OBMT_POOL_OVERHEAD) / s * delta, "class %u offset %u: key %u", c, o, key);
            else
                CHECK_MSG(key >= n * delta, "class %u offset %u: key %u of a non-block", c, o, key);
            fake.maxnextoffset = (uint16_t)(OBMT_POOL_END - s);
            CHECK_MSG(pool_is_block_start(&fake, (void *)(pool + o)) == start, "class %u offset %u", c, o);
        }
    }
    CHECK_DONE("size_classes");
}
