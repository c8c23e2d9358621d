/*
 * atomic.h: the atomics obmt uses, named by their memory order.
 *
 * They are GCC/Clang __atomic builtins on plain objects, so that
 *  - the order sits on the atomic itself (ThreadSanitizer models atomic
 *    operations, not free-standing fences), and
 *  - the same word can also be handed to ConcurrencyKit's ck_pr_* (which
 *    takes plain objects), as the arena state word is.
 * Both compilers provide them on x86-64 and arm64.
 *
 * Owner-only counters that other threads may read (statistics) are written
 * with obmt_store_relaxed(x, obmt_load_relaxed(x) + 1): a plain load and
 * store in the generated code, no read-modify-write on the fast path.
 */
#ifndef OBMT_ATOMIC_H
#define OBMT_ATOMIC_H

#define obmt_load_relaxed(p)  __atomic_load_n((p), __ATOMIC_RELAXED)
#define obmt_load_acquire(p)  __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define obmt_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define obmt_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define obmt_exchange_relaxed(p, v) __atomic_exchange_n((p), (v), __ATOMIC_RELAXED)
#define obmt_exchange_acquire(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQUIRE)
#define obmt_exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)

/* Strong CAS; on failure *expected is refreshed with the current value. */
#define obmt_cas_relaxed(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define obmt_cas_release(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)
#define obmt_cas_acq_rel(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define obmt_cas_seq_cst(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

#define obmt_fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define obmt_fetch_sub_relaxed(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define obmt_fetch_or_relaxed(p, v)  __atomic_fetch_or((p), (v), __ATOMIC_RELAXED)
#define obmt_fetch_and_relaxed(p, v) __atomic_fetch_and((p), (v), __ATOMIC_RELAXED)

/* Bitmap hints (shared.c): set and clear bits, sequentially consistent. */
#define obmt_fetch_or_seq_cst(p, v)  __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define obmt_fetch_and_seq_cst(p, v) __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define obmt_load_seq_cst(p)         __atomic_load_n((p), __ATOMIC_SEQ_CST)

/* Owner-only counter bump, readable by other threads without a data race. */
#define obmt_count_add(p, v) obmt_store_relaxed((p), obmt_load_relaxed(p) + (v))

#endif /* OBMT_ATOMIC_H */
