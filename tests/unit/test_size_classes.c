/* Size classes: every request 0..OBMT_SMALL_MAX maps to the smallest class
 * that holds it; fine classes are every multiple of 16 up to 512, coarse
 * ones fill a pool exactly; the reciprocal test recognises exactly the
 * block offsets of every class. */
#include "unit_util.h"

int main(void)
{
    CHECK(OBMT_NCLASSES == OBMT_FINE_MAX / 16 + OBMT_NCOARSE);
    CHECK(OBMT_SMALL_MAX == (OBMT_POOL_SIZE >= 32768 ? 8160 : OBMT_POOL_SIZE == 16384 ? 4064 : 512));
    for (size_t n = 0; n <= OBMT_SMALL_MAX; n++) {
        unsigned c = size_class(n);
        CHECK_MSG(c < OBMT_NCLASSES, "n=%zu", n);
        CHECK_MSG(class_size(c) >= n && class_size(c) % 16 == 0, "n=%zu", n);
        CHECK_MSG(c == 0 || class_size(c - 1) < n, "n=%zu not in the smallest class", n);
    }
    for (unsigned c = 1; c < OBMT_NCLASSES; c++)
        CHECK(class_size(c) > class_size(c - 1));
    for (unsigned c = OBMT_FINE_MAX / 16; c < OBMT_NCLASSES; c++) {
        size_t per = (OBMT_POOL_SIZE - OBMT_POOL_OVERHEAD) / class_size(c);
        CHECK_MSG((OBMT_POOL_SIZE - OBMT_POOL_OVERHEAD) - per * class_size(c) < 16 * per,
                  "coarse class %u (%zu bytes) wastes a block's worth of its pool", c, class_size(c));
    }
    /* pool_offset_is_block: true exactly on multiples of the block size. */
    static pool_header fake;
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        uint32_t s = (uint32_t)class_size(c);
        fake.recip = pool_class_recip[c];
        for (uint32_t d = 0; d < OBMT_POOL_SIZE; d++)
            CHECK_MSG(pool_offset_is_block(&fake, d) == (d % s == 0), "class %u offset %u", c, d);
    }
    CHECK_DONE("size_classes");
}
