/* Size classes: every request 0..512 maps to the smallest class that holds
 * it, classes are 16-byte multiples, and the reciprocal table gives exact
 * quotients for every offset in a pool. */
#include "unit_util.h"

int main(void)
{
    CHECK(OBMT_NCLASSES == OBMT_SMALL_MAX / 16);
    for (size_t n = 0; n <= OBMT_SMALL_MAX; n++) {
        unsigned c = size_class(n);
        CHECK_MSG(c < OBMT_NCLASSES, "n=%zu", n);
        CHECK_MSG(class_size(c) >= n && class_size(c) % 16 == 0, "n=%zu", n);
        CHECK_MSG(c == 0 || class_size(c - 1) < n, "n=%zu not in the smallest class", n);
    }
    for (unsigned c = 0; c < OBMT_NCLASSES; c++) {
        uint32_t s = (uint32_t)class_size(c);
        for (uint32_t d = 0; d < OBMT_POOL_SIZE; d++) {
            uint32_t q = (uint32_t)(((uint64_t)d * pool_class_recip[c]) >> 32);
            CHECK_MSG(q == d / s, "class %u offset %u", c, d);
        }
    }
    CHECK_DONE("size_classes");
}
