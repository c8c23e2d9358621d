/*
 * window.c: the address window, mapped slot by slot as obmt needs it.
 *
 * obmt's arenas are the 2 MiB slots of one contiguous window, and their
 * pool headers an array (the directory, 1/256 of the window) at a fixed
 * distance below it: that is what keeps the ownership test one subtraction
 * and one compare (arena_contains) and pool_of one shift and one add. The
 * window is *chosen* at start-up but not mapped: a mapping, even PROT_NONE
 * and MAP_NORESERVE, counts against RLIMIT_AS, and 64 GiB of it left a
 * program that lowers its limit later (glibc's own thread tests do) no
 * room for a thread stack. Each slot is mapped when first used, its
 * headers' slice (8 KiB) and its memory (2 MiB) each by one
 * mmap(MAP_FIXED_NOREPLACE); neighbours with the same protection merge into
 * one kernel mapping.
 *
 * Where: a random 1 GiB-aligned address in [16 TiB, 64 TiB), far below
 * the area the kernel fills top-down for mmap(NULL) (just under the stack,
 * near 128 TiB) and the program and its brk heap (near 85 TiB), and below
 * 2^48 (REMOTE_PTR). Nothing lands there unless someone asks for it by
 * address; if someone did, the slot they hold is a HOLE.
 *
 * A HOLE: a slot whose memory (or headers') mmap answered EEXIST. Its
 * state word is UNUSABLE and it is never retried (slot_mark_hole, arena.c);
 * a pointer into it is somebody else's: free, realloc and
 * malloc_usable_size read its header (zero: owner NULL, where the headers
 * are ours), ask window_owns, and pass it on (api.c). A HOLE in the
 * directory stops committed_end below it for good (every block above then
 * takes free's slow path), so window_pick checks at start-up that the
 * whole directory range is free.
 *
 * Giving memory back: a wholly free arena that the purge decommits is
 * unmapped (window_release_memory), so that the address space goes back
 * too, as glibc's munmap of a large chunk gives it back; its headers stay.
 * Whoever takes the slot again maps it again, which somebody else's mapping
 * made meanwhile turns into a HOLE. The slots skipped to align a huge run
 * get their headers only. A partial purge (free pools of a used arena,
 * span pools) keeps the mapping (MADV_DONTNEED).
 *
 * Legacy mode: the whole window and directory reserved up front, PROT_NONE,
 * committed by mprotect, decommitted to read-only zeros, as before
 * on-demand mapping: under a sanitizer (whose shadow memory is that band),
 * with OBMT_RESERVE_EAGER=1, when the page is larger than a slot's headers
 * (16 and 64 KiB pages: a page of headers would serve several slots'
 * takers), with a virtual address space under 47 bits, and where the
 * kernel takes MAP_FIXED_NOREPLACE for a hint (Linux before 4.17, tools
 * that emulate mmap; window_noreplace_works). The same slot map is kept
 * there, so everything below works in both modes.
 *
 * The slot map, g_slot_map[slot]: three bits, written only by the thread
 * that holds the slot at that moment (its frontier taker, the claimer of an
 * UNUSABLE slot, the purge or a taker holding it CLAIMED, the fork child
 * for a slot whose taker it lost), each with a seq_cst fetch_or/fetch_and
 * after the system call that made it true:
 *   SLOT_HDR  its headers' slice is mapped (set once, for good)
 *   SLOT_MEM  its memory is mapped by obmt: every pointer into it is ours
 *             (cleared before window_release_memory unmaps it: a mapping
 *             somebody makes there afterwards is never taken for obmt's)
 *   SLOT_HOLE published as a HOLE (set once, for good)
 * Read by anyone (acquire): window_owns, the committed_end advance.

 * committed_end (g_hot, internal.h) is the prefix of slots whose headers
 * are mapped: any pointer below it has a readable header, so free's fast
 * path reads no unmapped memory even for a foreign pointer in a HOLE. Slots
 * finish out of order (a slot taker may be slow between its fetch_add and
 * its mmap), so a taker that maps its headers advances committed_end over
 * every ready slot from where it stands (window_advance): the Dekker pair
 * "set my bit, then read the end" against "move the end, then read the
 * next bit", both seq_cst, means one of the two sees the other and the end
 * is never left behind a ready slot once both are done. A block in a slot
 * above a gap (the slower taker below has not mapped yet) is still handed
 * out at once: free and the other entry points that find it outside
 * committed_end ask window_owns (its slot's SLOT_MEM) before passing it to
 * the underlying allocator, a slow path that lasts as long as the gap (one
 * system call of another thread). Nobody waits for anybody. Model 10
 * (tests/model/reserve.pml) checks both properties.
 */
#include "internal.h"

#include <errno.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define SLICE ((size_t)OBMT_POOLS_PER_ARENA << OBMT_HEADER_SHIFT) /* one slot's headers */

static uint8_t *g_slot_map; /* a byte a slot: window_tables_place, before READY */
static bool g_on_demand;   /* written once by window_reserve, before READY */
static size_t g_meta_size; /* the directory's size (legacy mode: its reservation) */

#if defined(__SANITIZE_ADDRESS__) || OBMT_UNDER_TSAN
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#define BAND_LO ((uintptr_t)1 << 44) /* 16 TiB */
#define BAND_HI ((uintptr_t)1 << 46) /* 64 TiB */
#define GIB     ((uintptr_t)1 << 30)

size_t window_tables_bytes(size_t nslots)
{
    return TABLE_ROUND(nslots);
}

void window_tables_place(char *mem, size_t nslots)
{
    (void)nslots;
    obmt_store_relaxed(&g_slot_map, (uint8_t *)mem);
}

size_t window_auto_size(void)
{
    uint64_t mem = 0;
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        mem = ((uint64_t)si.totalram + si.totalswap) * (si.mem_unit ? si.mem_unit : 1);
    size_t w = (size_t)1 << OBMT_RESERVE_AUTO_SHIFT;
    while (w / 2 < mem && w < ((size_t)1 << OBMT_RESERVE_SHIFT))
        w <<= 1;
    /* Under a finite RLIMIT_AS obmt can use no more than the limit, but the
     * window is only chosen, not mapped: four times the limit leaves room
     * for alignments as large as the limit itself, and its tables cost
     * 0.1% of it. */
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < w / 4) {
        size_t lim = (size_t)1 << OBMT_RESERVE_MIN_SHIFT;
        while (lim < w && lim / 4 < (size_t)r.rlim_cur)
            lim <<= 1;
        w = lim;
    }
    return w;
}

bool window_noreplace_works(void)
{
    /* Ask for a page where one is mapped: a kernel that honours the flag
     * answers EEXIST; one that takes it for a hint (before 4.17) maps
     * elsewhere (os_map_fixed unmaps that and says ENOTSUP). A free
     * address would not tell them apart. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *at = os_map(page);
    if (!at)
        return false;
    int e = os_map_fixed(at, page, false);
    os_unmap(at, page);
    return e == EEXIST;
}

/* A window of `size` bytes and its directory below it, in the band, not
 * mapped: the window's base, or 0 for legacy mode. */
static uintptr_t window_pick(size_t size, size_t meta_size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (UNDER_SANITIZER || option_get(OPT_RESERVE_EAGER) || page > SLICE)
        return 0;
    /* The address space must reach well past the band: the kernel's
     * mmap(NULL) area starts just under its top. */
    void *probe = os_map(page);
    if (!probe)
        return 0;
    os_unmap(probe, page);
    if ((uintptr_t)probe < BAND_HI + ((uintptr_t)1 << 45) || !window_noreplace_works())
        return 0;
    uintptr_t need = ((meta_size + GIB - 1) & ~(GIB - 1)) + size;
    if (need >= BAND_HI - BAND_LO)
        return 0;
    size_t choices = ((BAND_HI - BAND_LO - need) >> 30) + 1;
    /* AT_RANDOM: 16 bytes the kernel gave the process at exec. */
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    uint64_t x = (uint64_t)(uintptr_t)&probe ^ (uint64_t)os_now_ms();
    for (int i = 0; r && i < 8; i++)
        x = (x << 8 | x >> 56) ^ r[i];
    for (int tries = 0; tries < 8; tries++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: another place on a retry */
        uintptr_t base = BAND_LO + ((meta_size + GIB - 1) & ~(GIB - 1)) + (uintptr_t)(x % choices) * GIB;
        /* The whole directory must be free: a foreign mapping there would
         * stop committed_end for good (window_map_headers). The window
         * itself is not probed: a foreign mapping in it is a HOLE. */
        if (os_range_free((void *)(base - meta_size), meta_size))
            return base;
    }
    return 0;
}

bool window_reserve(size_t want, uintptr_t *base, uintptr_t *meta, size_t *size)
{
    /* On demand at the size asked for, or legacy mode: what makes the pick
     * fail (a sanitizer, the option, the page size, the kernel) does not
     * change with the size. Legacy mode's default is the automatic floor:
     * it reserves the window up front. */
    size_t sz = want ? want : window_auto_size();
    uintptr_t b = window_pick(sz, (sz >> OBMT_POOL_SHIFT) << OBMT_HEADER_SHIFT);
    if (!b && !want && sz > ((size_t)1 << OBMT_RESERVE_AUTO_SHIFT))
        sz = (size_t)1 << OBMT_RESERVE_AUTO_SHIFT;
    for (;;) {
        size_t meta_size = (sz >> OBMT_POOL_SHIFT) << OBMT_HEADER_SHIFT;
        if (b) {
            g_on_demand = true;
            g_meta_size = meta_size;
            *base = b;
            *meta = b - meta_size;
            *size = sz;
            return true;
        }
        /* Legacy: reserve both now, halving while the OS refuses. */
        void *w = os_reserve(sz, OBMT_ARENA_SIZE), *m = w ? os_reserve(meta_size, 4096) : NULL;
        if (w && m) {
            g_meta_size = meta_size;
            *base = (uintptr_t)w;
            *meta = (uintptr_t)m;
            *size = sz;
            return true;
        }
        if (w)
            os_unmap(w, sz);
        if (sz / 2 < ((size_t)1 << OBMT_RESERVE_MIN_SHIFT))
            return false;
        sz = (sz / 2) & ~(OBMT_ARENA_SIZE - 1);
    }
}

void window_release(uintptr_t base, uintptr_t meta, size_t size)
{
    /* On demand nothing is mapped before READY; an unmap there could take
     * somebody else's mapping. */
    if (g_on_demand)
        return;
    os_unmap((void *)base, size);
    os_unmap((void *)meta, g_meta_size);
}

bool window_on_demand(void)
{
    return g_on_demand;
}

static inline size_t window_slots(void)
{
    return obmt_load_relaxed(&g_hot.reserved) >> OBMT_ARENA_SHIFT;
}

/* Move committed_end over every slot from it whose headers are mapped. */
static void window_advance(void)
{
    size_t cur = __atomic_load_n(&g_hot.committed_end, __ATOMIC_SEQ_CST);
    for (;;) {
        size_t slot = cur >> OBMT_ARENA_SHIFT;
        if (slot >= window_slots() || !(__atomic_load_n(&g_slot_map[slot], __ATOMIC_SEQ_CST) & SLOT_HDR))
            return;
        /* (a failed CAS reloads cur: someone else moved it) */
        if (__atomic_compare_exchange_n(&g_hot.committed_end, &cur, cur + OBMT_ARENA_SIZE, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            cur += OBMT_ARENA_SIZE;
    }
}

int window_map_headers(size_t slot)
{
    if (__atomic_load_n(&g_slot_map[slot], __ATOMIC_ACQUIRE) & SLOT_HDR)
        return 0;
    uintptr_t slice = obmt_load_relaxed(&g_hot.meta) + slot * SLICE;
    int e;
    if (g_on_demand) {
        /* Only this slot's holder maps its slice (page <= SLICE here), so
         * EEXIST is a foreign mapping in the directory: the slot is a HOLE
         * for good, and committed_end can never pass it (every block above
         * it takes free's slow path, window_owns). window_pick checked
         * that the directory was free at start-up. */
        e = os_map_fixed((void *)slice, SLICE, true);
        if (e == EEXIST || e == ENOTSUP)
            return EEXIST;
    } else {
        /* Rounded out to whole pages (larger pages than a slice), which may
         * make a neighbour's slice writable early: harmless, its holder's
         * mprotect does it again. */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        uintptr_t lo = slice & ~(page - 1), hi = (slice + SLICE + page - 1) & ~(page - 1);
        e = os_commit((void *)lo, hi - lo);
    }
    if (e != 0)
        return ENOMEM;
    __atomic_fetch_or(&g_slot_map[slot], SLOT_HDR, __ATOMIC_SEQ_CST);
    window_advance();
    return 0;
}

int window_map_memory(size_t slot)
{
    void *addr = (void *)(arena_base() + (slot << OBMT_ARENA_SHIFT));
    int e;
    if (!g_on_demand || (__atomic_load_n(&g_slot_map[slot], __ATOMIC_ACQUIRE) & SLOT_MEM)) {
        /* Mapped by obmt (or reserved by it): a protection change. */
        e = os_commit(addr, OBMT_ARENA_SIZE);
    } else {
        e = os_map_fixed(addr, OBMT_ARENA_SIZE, true);
        if (e == EEXIST || e == ENOTSUP) /* (ENOTSUP: the kernel stopped honouring the flag) */
            return EEXIST;
    }
    if (e != 0)
        return ENOMEM;
    __atomic_fetch_or(&g_slot_map[slot], SLOT_MEM, __ATOMIC_SEQ_CST);
    return 0;
}

int window_release_memory(size_t slot)
{
    void *addr = (void *)(arena_base() + (slot << OBMT_ARENA_SHIFT));
    if (g_on_demand) {
        /* Unmapped, the address space goes back too (RLIMIT_AS; a program
         * that lowers its limit after a peak). No block of the slot is
         * live, so nobody asks window_owns about one; a stale pointer into
         * it then reads as nobody's (freed: "not in any arena"). MEM is
         * cleared first: a foreign mapping that takes the range at once is
         * never taken for obmt's. munmap can fail (a split past
         * vm.max_map_count): then a read-only mapping, as in legacy mode. */
        __atomic_fetch_and(&g_slot_map[slot], (uint8_t)~SLOT_MEM, __ATOMIC_SEQ_CST);
        if (os_unmap(addr, OBMT_ARENA_SIZE) == 0)
            return 0;
        __atomic_fetch_or(&g_slot_map[slot], SLOT_MEM, __ATOMIC_SEQ_CST);
    }
    return os_release(addr, OBMT_ARENA_SIZE);
}

void window_mark_hole(size_t slot)
{
    __atomic_fetch_or(&g_slot_map[slot], SLOT_HOLE, __ATOMIC_SEQ_CST);
}

void window_advance_end(void)
{
    window_advance();
}

bool window_adopt_orphan(size_t slot)
{
    if (__atomic_load_n(&g_slot_map[slot], __ATOMIC_ACQUIRE) & SLOT_HDR)
        return false;
    /* Its taker maps the headers before anything else, and only it: either
     * nothing is mapped there, or its mmap returned and it had not yet set
     * SLOT_HDR (EEXIST: that slot stays as it is, and holds committed_end
     * below it in the child; so does one whose slice somebody else
     * mapped). */
    return window_map_headers(slot) == 0;
}

bool window_slot_hole(size_t slot)
{
    return (__atomic_load_n(&g_slot_map[slot], __ATOMIC_ACQUIRE) & SLOT_HOLE) != 0;
}

bool window_owns(const void *p)
{
    uintptr_t off = (uintptr_t)p - arena_base();
    if (off >= obmt_load_relaxed(&g_hot.reserved))
        return false;
    /* A thread that never synchronised with init (a foreign pointer freed
     * in a HOLE) may see the window before the table (arm64): NULL is
     * "not obmt's", which is right, as nothing was allocated. */
    uint8_t *map = obmt_load_relaxed(&g_slot_map);
    return map && (__atomic_load_n(&map[off >> OBMT_ARENA_SHIFT], __ATOMIC_ACQUIRE) & SLOT_MEM);
}

void window_check_foreign(const void *p, const char *what)
{
    uintptr_t off = (uintptr_t)p - arena_base();
    if (likely(off >= obmt_load_relaxed(&g_hot.reserved)))
        return;
    /* Legacy: the window is obmt's reservation, nobody else's mapping can
     * be in it. On demand: a slot obmt mapped is routed before this (a
     * pointer there not in an arena block is obmt's to refuse), and
     * elsewhere a pointer into nothing mapped was never anybody's; what is
     * left is somebody else's mapping inside the window. */
    if (!g_on_demand || window_owns(p) || !os_is_mapped(p))
        os_fatal(what, p, "inside obmt's reserved range but not in any arena");
}

size_t window_holes(void)
{
    size_t n = 0, used = arena_slots_used();
    for (size_t s = 0; s < used; s++)
        n += window_slot_hole(s);
    return n;
}
