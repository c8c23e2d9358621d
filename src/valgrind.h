/*
 * valgrind.h: obmt's blocks described to valgrind's memcheck, so that leaks
 * and invalid accesses in the program are still found with obmt preloaded
 * or linked. Built with cmake -DOBMT_VALGRIND=ON (OBMT_VALGRIND=1); in the
 * default build every macro here expands to nothing (or to its argument),
 * and the code generated is the same as without them.
 *
 * The scheme (memcheck's "custom allocator" client requests):
 *  - a block handed out is a MALLOCLIKE block of its usable size, the class
 *    size that malloc_usable_size reports: memcheck tracks it for the leak
 *    check and makes it addressable and undefined;
 *  - free makes it FREELIKE: memcheck makes it NOACCESS and remembers where
 *    it was freed, for reads after free and double frees;
 *  - the rest of a pool's block area (free blocks, blocks not carved yet,
 *    the tail) is NOACCESS: pool_init marks the whole area so when it sets
 *    a pool up for a class, so overruns into it are seen;
 *  - obmt's own accesses to a free block touch only its link word (the
 *    freeblock and remote lists): block_next and block_set_next (internal.h)
 *    make that word DEFINED for the one access and NOACCESS again at once
 *    (pool_carve writes the links of the blocks it carves through them
 *    too). The remote push closes the word before the CAS that publishes
 *    the block, after which the owner may hand it out again.
 *  - the pool header is obmt's metadata, read on every fast path: it stays
 *    accessible (an underrun from a pool's first block into it is not seen).
 * Chosen over VALGRIND_DISABLE_ERROR_REPORTING around obmt's accesses
 * (the same two requests per access): that would hide every error in the
 * window, obmt's own bugs included, and lean on memcheck reading
 * unaddressable bytes as defined; here each access obmt makes is legal in
 * memcheck's view, and any other access to a free block is reported.
 *
 * Limits:
 *  - the usable size is the limit: bytes between the size requested and the
 *    class size are addressable (they are the program's, per
 *    malloc_usable_size). realloc in place keeps the block and so its usable
 *    size: memcheck's view does not change, no RESIZEINPLACE is needed.
 *    Blocks have no redzones: an overrun that lands in the next block is
 *    seen when that block is free or not carved yet, not when it is live.
 *  - memcheck scans obmt's arenas (ordinary mapped memory) as part of its
 *    root set, so a block reachable only from a leaked block is reported
 *    "still reachable", not "indirectly lost"; the leaked block itself is
 *    "definitely lost".
 *  - obmt reuses a freed block at once (LIFO) while memcheck keeps the
 *    blocks freed earlier at that address in its freed queue: the "free'd
 *    at" stack of a read after free may name an earlier free of the same
 *    address. The error itself is right.
 *  - medium blocks (span.c) are MALLOCLIKE blocks of their class size too;
 *    a span arena is made NOACCESS whole when it becomes one, so a read past
 *    a span into a free pool is seen. A freed span kept in a thread's cache
 *    stays FREELIKE (noaccess) until a malloc hands it out again. Huge
 *    blocks (huge.c) are MALLOCLIKE blocks of their run's capacity.
 *  - blocks of the underlying allocator (obmt's fallback when it cannot
 *    get memory, and blocks glibc allocated before obmt started) are
 *    memcheck's own: it replaces glibc's malloc, and __libc_malloc & co.,
 *    which large.c calls, are the same functions. They are not described
 *    here. Nor is the bootstrap area (large.c), static memory.
 * Run with --soname-synonyms=somalloc=nouserintercepts, or memcheck replaces
 * the malloc that libobmt-override exports by its own and obmt never runs
 * (tests/valgrind/run.sh). With --track-origins=yes, a small
 * OBMT_RESERVE_MIB (1024) saves memcheck shadowing 64 GiB of reservation.
 */
#ifndef OBMT_VALGRIND_H
#define OBMT_VALGRIND_H

#ifndef OBMT_VALGRIND
#define OBMT_VALGRIND 0
#endif

#if OBMT_VALGRIND
#include <valgrind/memcheck.h>

/* Block b of `size` usable bytes goes out to the program; the value is b.
 * A macro, not a function, so that memcheck's stack traces start in api.c. */
#define VG_ALLOC(b, size) ({                               \
        void *vg_b_ = (b);                                 \
        VALGRIND_MALLOCLIKE_BLOCK(vg_b_, (size), 0, 0);    \
        vg_b_;                                             \
    })
/* The program frees block b. */
#define VG_FREE(b) VALGRIND_FREELIKE_BLOCK((b), 0)
/* [p, p+n) becomes obmt's to read and write (DEFINED), or nobody's (NOACCESS). */
#define VG_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#define VG_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
/* Block b, still the program's, grows or shrinks in place. */
#define VG_RESIZE(b, old, size) VALGRIND_RESIZEINPLACE_BLOCK((b), (old), (size), 0)
#else
#define VG_ALLOC(b, size) (b)
#define VG_FREE(b) ((void)0)
#define VG_DEFINED(p, n) ((void)0)
#define VG_NOACCESS(p, n) ((void)0)
#define VG_RESIZE(b, old, size) ((void)0)
#endif

#endif /* OBMT_VALGRIND_H */
