/*
 * reserve.pml: model 10. The address window mapped slot by slot
 * (src/window.c, src/arena.c, src/api.c):
 *  - a slot taker (arena_new_pool) takes a fresh slot by fetch_add of
 *    g_slots_used, maps its headers' slice (window_map_headers), sets
 *    SLOT_HDR in g_slot_map, and moves committed_end over every slot from
 *    it whose SLOT_HDR is set (window_advance: load the end, load that
 *    slot's bits, CAS the end one slot on); then it maps the slot's memory
 *    with MAP_FIXED_NOREPLACE: SLOT_MEM, or SLOT_HOLE when somebody else's
 *    mapping is there (EEXIST); a slot with memory is handed out (a block
 *    of it reaches a freer through the program's own synchronisation);
 *  - a freer of a block handed out (obmt_free): below committed_end it
 *    reads the block's header (arena_contains, pool_of), above it asks
 *    window_owns (SLOT_MEM) before passing it to the underlying allocator
 *    (free_outside);
 *  - a freer of a foreign pointer into somebody else's mapping in the
 *    window (free of a pointer in a HOLE): below committed_end it reads the
 *    header (zero: owner NULL), then window_owns says no (free_owner_null);
 *    above it window_owns says no (free_outside).
 *  - with -DRELEASE, the purge decommits slot RS once its block is freed
 *    (decommit_held, window_release_memory: SLOT_MEM cleared, then the
 *    memory unmapped), and a taker commits it again (arena_recommit: a
 *    NOREPLACE mmap, or a HOLE); meanwhile somebody else may map over it
 *    whenever nothing is there, and frees a pointer into it.
 *
 * Code modelled: window_map_headers, window_advance, window_map_memory,
 * window_release_memory, window_owns, arena_new_pool, arena_recommit,
 * obmt_free's routing.
 * Every step tagged W<n> (with HIT(n)) is listed with its code line in
 * tests/model/MAPPING.md, which check_mapping.sh verifies.
 *
 * Abstractions:
 *  - NS slots, NT takers (one slot each); somebody else's mapping covers
 *    slot FOREIGN's memory from the start: its taker gets a HOLE;
 *  - the mmap system calls are single steps whose effect every thread sees
 *    at once (the kernel's page tables): hdr_mapped[s], mem_mapped[s] and
 *    foreign_on[s] are the mappings;
 *  - failures (ENOMEM) are not modelled: they leave a slot unready, which
 *    only delays committed_end (UNUSABLE slots are retried later); nor are
 *    runs of several slots, pads, frontier_return (model 6 has them) or
 *    the fork child;
 *  - memory orders: spin is sequentially consistent; the code's steps are
 *    seq_cst (the fetch_or and fetch_and, the loads and the CAS of
 *    window_advance) or acquire loads of bits set before the block was
 *    handed out.
 *
 * Checks:
 *  - whoever reads a header (below committed_end) finds its slice mapped:
 *    a foreign pointer in a HOLE, in a slower taker's slot or in an
 *    unmapped one never faults;
 *  - a block handed out is never passed to the underlying allocator, a
 *    foreign pointer always is;
 *  - at the end (every taker done) committed_end covers every slot taken:
 *    no ready slot is left behind (the Dekker pair of window_advance).
 *  - -DBROKEN_EXTEND_MAX: a taker moves committed_end straight past its own
 *    slot (CAS-max, the up-front reservation's rule): a freer reads the
 *    header of a slower taker's slot before it is mapped; must fail.
 *  - -DBROKEN_ADVANCE_FIRST: a taker moves the end before it sets its own
 *    bit: the end stays behind a ready slot; must fail.
 *  - -DBROKEN_NO_LATE: a freer passes a block above committed_end to the
 *    underlying allocator without asking window_owns; must fail.
 *  - -DBROKEN_UNMAP_FIRST (with -DRELEASE): the purge unmaps before it
 *    clears SLOT_MEM: somebody else's pointer there is taken for obmt's;
 *    must fail.
 */

#ifndef NT
#define NT 3
#endif
#define NS NT
#ifndef FOREIGN
#define FOREIGN 1
#endif
#if FOREIGN == 0
#define RS 1               /* the slot the purge decommits, and another mapping may take */
#else
#define RS 0
#endif

#ifdef COVER
c_code {
int cov_[64];
static void cov_print(void) { int i; printf("COVERED:"); for (i = 0; i < 64; i++) if (cov_[i]) printf(" %d", i); printf("\n"); }
};
#define HIT(n) c_code { cov_[n] = 1; }
#else
#define HIT(n) skip
#endif

byte used;                 /* g_slots_used */
byte ce;                   /* committed_end, in slots */
bool hdr[NS];              /* g_slot_map[s] & SLOT_HDR */
bool mem[NS];              /* g_slot_map[s] & SLOT_MEM */
bool hole[NS];             /* g_slot_map[s] & SLOT_HOLE */
bool hdr_mapped[NS];       /* ghost: the headers' slice is mapped */
bool handed[NS];           /* ghost: a block of the slot was handed out */
bool freed[NS];            /* ghost: that block was freed */
bool mem_mapped[NS];       /* ghost: obmt's mapping covers the slot's memory */
bool foreign_on[NS];       /* ghost: somebody else's mapping covers it */
byte done;                 /* ghost: takers finished */

inline advance(cur, b) {
    cur = ce;                                          /* W4 */ HIT(4);
    do
    :: cur >= NS -> break
    :: else ->
        b = hdr[cur];                                  /* W5 */ HIT(5);
        if
        :: !b -> break
        :: else ->
            atomic {                                   /* W6 */ HIT(6);
                if
                :: ce == cur -> ce = cur + 1; cur = cur + 1
                :: else -> cur = ce
                fi
            }
        fi
    od
}

proctype taker()
{
    byte s, cur;
    bool b;
    d_step { s = used; used = used + 1 }               /* W1 */ HIT(1);
    hdr_mapped[s] = true;                              /* W2 */ HIT(2);
#ifdef BROKEN_ADVANCE_FIRST
    advance(cur, b);
    hdr[s] = true;
#else
    hdr[s] = true;                                     /* W3 */ HIT(3);
#ifdef BROKEN_EXTEND_MAX
    atomic { if :: ce < s + 1 -> ce = s + 1 :: else -> skip fi };
#else
    advance(cur, b);
#endif
#endif
    atomic {                                           /* the mmap (MAP_FIXED_NOREPLACE) */
        if
        :: foreign_on[s] -> b = false
        :: else -> mem_mapped[s] = true; b = true
        fi
    }
    if
    :: !b ->
        hole[s] = true;                                /* W8 */ HIT(8)
    :: else ->
        mem[s] = true;                                 /* W7 */ HIT(7);
        handed[s] = true
    fi;
    done = done + 1
}

/* The purge decommits slot RS once its block is freed (decommit_held,
 * window_release_memory), and a taker commits it again (arena_recommit). */
proctype releaser()
{
    bool b;
    (freed[RS] || hole[RS]);
    if
    :: hole[RS] -> skip
    :: else ->
#ifdef BROKEN_UNMAP_FIRST
        mem_mapped[RS] = false;
        mem[RS] = false;
#else
        mem[RS] = false;                               /* W12 */ HIT(12);
        mem_mapped[RS] = false;                        /* W13 */ HIT(13);
#endif
        atomic {
            if
            :: foreign_on[RS] -> b = false
            :: else -> mem_mapped[RS] = true; b = true
            fi
        }
        if
        :: !b -> hole[RS] = true;                      /* W14 */ HIT(14)
        :: else -> mem[RS] = true;                     /* W7 */ HIT(7)
        fi
    fi
}

/* Somebody else maps over slot RS's memory whenever nothing is there,
 * then frees a pointer into it through obmt. */
proctype intruder()
{
end_wait:                                              /* (it may never get the chance) */
    atomic { !mem_mapped[RS] -> foreign_on[RS] = true };
    if
    :: RS < ce ->                                      /* W9 */ HIT(9);
        assert(hdr_mapped[RS]);
        assert(!mem[RS]);                              /* W11 */ HIT(11)
    :: else ->
        assert(!mem[RS]);                              /* W10 */ HIT(10)
    fi
}

/* obmt_free of a block of slot s, handed out. */
proctype freer(byte s)
{
    (handed[s] || hole[s]);
    if
    :: hole[s] -> goto out                             /* (the intruder took the slot first) */
    :: else -> skip
    fi;
    if
    :: s < ce ->                                       /* W9 */ HIT(9);
        assert(hdr_mapped[s])                          /* pool_of: the header is read */
    :: else ->
#ifdef BROKEN_NO_LATE
        assert(false)                                  /* passed to the underlying allocator */
#else
        assert(mem[s]);                                /* W10 */ HIT(10)
#endif
    fi;
    freed[s] = true;
out:
    skip
}

/* free of a pointer into somebody else's mapping over slot FOREIGN. */
proctype foreign_freer()
{
    if
    :: FOREIGN < ce ->                                 /* W9 */ HIT(9);
        assert(hdr_mapped[FOREIGN]);                   /* the header is read: zero, owner NULL */
        assert(!mem[FOREIGN]);                         /* W11 */ HIT(11)
    :: else ->
        assert(!mem[FOREIGN]);                         /* W10 */ HIT(10)
    fi
}

init {
    byte i;
    atomic {
        foreign_on[FOREIGN] = true;
        for (i : 1 .. NT) { run taker() }
        for (i : 0 .. NS - 1) { if :: i != FOREIGN -> run freer(i) :: else -> skip fi }
        run foreign_freer();
#ifdef RELEASE
        run releaser();
        run intruder();
#endif
    }
    done == NT;
    assert(ce == NS);                                  /* every ready slot covered */
#ifdef COVER
    c_code { cov_print(); };
#endif
}
