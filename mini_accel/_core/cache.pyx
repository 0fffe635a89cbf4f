# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Trace-driven set-associative cache hierarchy (private: no validation here).

The public wrapper ``mini_accel.memory`` checks every configuration value and
every trace array, owns the state arrays, and turns the counters into
statistics.  One call of :func:`run_trace` walks a whole trace with the GIL
released.

State layout (all arrays owned by the wrapper)
----------------------------------------------
``cfg``      int64 (levels, N_CFG): sets, ways, line_shift, set_mask (-1 when
             the number of sets is not a power of two), policy, write_back,
             offset of the level's first line in the flat state arrays.
``tags``     int64 (total lines): line address (byte address >> line_shift)
             held by each way, -1 when the way is invalid.
``stamps``   int64 (total lines): LRU/FIFO age stamp (larger = younger; 0 for an
             invalid way, valid ways get the level's clock, which starts at 1).
``dirty``    uint8 (total lines).
``clocks``   int64 (levels): per-level stamp counter.
``rng``      uint64 (levels): per-level xorshift64* state (random policy).
``counts``   int64 (levels + 2, N_COUNT): one row per cache level, then a DRAM
             row, then a row about the CPU requests.  Counters are *added* to.

Semantics (the textbook ones; ``mini_accel.memory`` documents them in full)
--------------------------------------------------------------------------
* A request reaching a level covers bytes inside one line of that level (the
  wrapper requires line sizes that never shrink toward DRAM, so a line of
  level i lies inside one line of level i+1).
* Read hit: update LRU.  Read miss: fetch the whole line from the level
  below (a read there), then pick a victim (an invalid way first, lowest index
  first; otherwise LRU / FIFO / random), write the victim back below if it is
  dirty, install the new line clean.
* Write-back + write-allocate: a write hit marks the line dirty; a write miss
  is handled like a read miss and then marks the new line dirty.
* Write-through + no-write-allocate: every write is forwarded to the level
  below with its own byte range; a hit also updates LRU, a miss allocates
  nothing.
* Write-backs and fills arriving from above are ordinary writes and reads.
"""
from libc.stdint cimport int64_t, uint64_t, uint8_t, int32_t

# cfg columns
cdef enum:
    C_SETS = 0
    C_WAYS = 1
    C_SHIFT = 2
    C_MASK = 3
    C_POLICY = 4
    C_WB = 5
    C_OFFSET = 6
N_CFG = 7

# replacement policies (cfg column C_POLICY)
cdef enum:
    LRU = 0
    FIFO = 1
    RANDOM = 2
POLICY_CODES = {"lru": LRU, "fifo": FIFO, "random": RANDOM}

# counter columns of a cache-level row
cdef enum:
    K_READ_HITS = 0
    K_READ_MISSES = 1
    K_WRITE_HITS = 2
    K_WRITE_MISSES = 3
    K_EVICTIONS = 4
    K_WRITE_BACKS = 5
    K_WRITES_THROUGH = 6
    K_BYTES_THROUGH = 7
# counter columns of the DRAM row
cdef enum:
    D_READS = 0
    D_WRITES = 1
    D_BYTES_READ = 2
    D_BYTES_WRITTEN = 3
# counter columns of the CPU row
cdef enum:
    P_REQUESTS = 0
    P_SPLIT = 1
    P_LINE_ACCESSES = 2
N_COUNT = 8

COUNTER_NAMES = ("read_hits", "read_misses", "write_hits", "write_misses",
                 "evictions", "write_backs", "writes_through", "bytes_through")


cdef struct Level:
    int64_t* tags
    int64_t* stamps
    uint8_t* dirty
    int64_t* counts
    int64_t sets
    int64_t ways
    int64_t shift
    int64_t mask
    int64_t line_bytes
    int64_t policy
    int64_t write_back
    int64_t clock
    uint64_t rng


cdef struct Hierarchy:
    Level lv[3]
    int n
    int64_t* dram


cdef inline uint64_t _xorshift64star(uint64_t* state) noexcept nogil:
    cdef uint64_t x = state[0]
    x ^= x >> 12
    x ^= x << 25
    x ^= x >> 27
    state[0] = x
    return x * <uint64_t>2685821657736338717ULL


cdef inline void _access(Hierarchy* h, int i, int64_t start, int64_t nbytes, bint write) noexcept nogil:
    """One request of ``nbytes`` bytes at ``start`` (inside one line) at level i."""
    cdef Level* L
    cdef int64_t line, s, base, w, way, victim, oldest, old_line, st
    cdef bint older
    if i == h.n:                                    # DRAM: always "hits"
        if write:
            h.dram[D_WRITES] += 1
            h.dram[D_BYTES_WRITTEN] += nbytes
        else:
            h.dram[D_READS] += 1
            h.dram[D_BYTES_READ] += nbytes
        return
    L = &h.lv[i]
    line = start >> L.shift
    if L.mask >= 0:
        s = line & L.mask
    else:
        s = line % L.sets
    base = s * L.ways
    way = -1
    for w in range(L.ways):
        if L.tags[base + w] == line:
            way = w
            break
    if way >= 0:                                    # hit
        if L.policy == LRU:
            L.clock += 1
            L.stamps[base + way] = L.clock
        if write:
            L.counts[K_WRITE_HITS] += 1
            if L.write_back:
                L.dirty[base + way] = 1
            else:
                L.counts[K_WRITES_THROUGH] += 1
                L.counts[K_BYTES_THROUGH] += nbytes
                _access(h, i + 1, start, nbytes, 1)
        else:
            L.counts[K_READ_HITS] += 1
        return
    # miss
    if write:
        L.counts[K_WRITE_MISSES] += 1
        if not L.write_back:                        # no-write-allocate
            L.counts[K_WRITES_THROUGH] += 1
            L.counts[K_BYTES_THROUGH] += nbytes
            _access(h, i + 1, start, nbytes, 1)
            return
    else:
        L.counts[K_READ_MISSES] += 1
    # Victim: the first invalid way, else the policy's choice. Invalid ways
    # have stamp 0 and valid ones >= 1, so for LRU and FIFO the first
    # smallest stamp is exactly that.
    if L.policy == RANDOM:
        victim = -1
        for w in range(L.ways):
            if L.tags[base + w] < 0:
                victim = w
                break
        if victim < 0:
            victim = <int64_t>((_xorshift64star(&L.rng) >> 32) % <uint64_t>L.ways)
    else:
        victim = 0
        oldest = L.stamps[base]
        for w in range(1, L.ways):                  # branch-free: compiles to cmov
            st = L.stamps[base + w]
            older = st < oldest
            victim = w if older else victim
            oldest = st if older else oldest
    # Fetch the line from below first, then write the victim back (the order
    # of a cache with a write buffer; it decides the lower level's LRU order).
    _access(h, i + 1, line << L.shift, L.line_bytes, 0)
    old_line = L.tags[base + victim]
    if old_line >= 0:
        L.counts[K_EVICTIONS] += 1
        if L.dirty[base + victim]:
            L.counts[K_WRITE_BACKS] += 1
            _access(h, i + 1, old_line << L.shift, L.line_bytes, 1)
    L.tags[base + victim] = line
    L.dirty[base + victim] = 1 if write else 0
    L.clock += 1
    L.stamps[base + victim] = L.clock


cdef void _load(Hierarchy* h, const int64_t[:, ::1] cfg, int64_t[::1] tags,
                int64_t[::1] stamps, uint8_t[::1] dirty, int64_t[::1] clocks,
                uint64_t[::1] rng, int64_t[:, ::1] counts) noexcept nogil:
    cdef int i
    cdef int64_t off
    h.n = <int>cfg.shape[0]
    for i in range(h.n):
        off = cfg[i, C_OFFSET]
        h.lv[i].tags = &tags[off]
        h.lv[i].stamps = &stamps[off]
        h.lv[i].dirty = &dirty[off]
        h.lv[i].counts = &counts[i, 0]
        h.lv[i].sets = cfg[i, C_SETS]
        h.lv[i].ways = cfg[i, C_WAYS]
        h.lv[i].shift = cfg[i, C_SHIFT]
        h.lv[i].mask = cfg[i, C_MASK]
        h.lv[i].line_bytes = (<int64_t>1) << cfg[i, C_SHIFT]
        h.lv[i].policy = cfg[i, C_POLICY]
        h.lv[i].write_back = cfg[i, C_WB]
        h.lv[i].clock = clocks[i]
        h.lv[i].rng = rng[i]
    h.dram = &counts[h.n, 0]


cdef void _store(Hierarchy* h, int64_t[::1] clocks, uint64_t[::1] rng) noexcept nogil:
    cdef int i
    for i in range(h.n):
        clocks[i] = h.lv[i].clock
        rng[i] = h.lv[i].rng


def run_trace(const int64_t[::1] addresses, const uint8_t[::1] is_write,
              const int32_t[::1] sizes, const int64_t[:, ::1] cfg,
              int64_t[::1] tags, int64_t[::1] stamps, uint8_t[::1] dirty,
              int64_t[::1] clocks, uint64_t[::1] rng, int64_t[:, ::1] counts):
    """Feed a whole trace through the hierarchy; counters are added to ``counts``.

    ``is_write`` and ``sizes`` have the trace's length or length 1 (broadcast).
    A request is split into the first level's lines it touches; each piece is
    one access at the first level.
    """
    cdef Hierarchy h
    cdef Py_ssize_t t, n = addresses.shape[0]
    cdef bint w_bcast = is_write.shape[0] == 1
    cdef bint s_bcast = sizes.shape[0] == 1
    cdef int64_t a, size, end, first, last, ln, lo, hi, shift0, pieces = 0, split = 0
    cdef bint w
    with nogil:
        _load(&h, cfg, tags, stamps, dirty, clocks, rng, counts)
        shift0 = h.lv[0].shift
        for t in range(n):
            a = addresses[t]
            size = sizes[0] if s_bcast else sizes[t]
            w = is_write[0] if w_bcast else is_write[t]
            end = a + size
            first = a >> shift0
            last = (end - 1) >> shift0
            if first == last:
                _access(&h, 0, a, size, w)
                pieces += 1
            else:
                split += 1
                for ln in range(first, last + 1):
                    lo = ln << shift0
                    hi = lo + ((<int64_t>1) << shift0)
                    if lo < a:
                        lo = a
                    if hi > end:
                        hi = end
                    _access(&h, 0, lo, hi - lo, w)
                    pieces += 1
        _store(&h, clocks, rng)
        counts[h.n + 1, P_REQUESTS] += n
        counts[h.n + 1, P_SPLIT] += split
        counts[h.n + 1, P_LINE_ACCESSES] += pieces


def flush(const int64_t[:, ::1] cfg, int64_t[::1] tags, int64_t[::1] stamps,
          uint8_t[::1] dirty, int64_t[::1] clocks, uint64_t[::1] rng,
          int64_t[:, ::1] counts):
    """Write every dirty line back, level by level from the top (sets, then
    ways, in index order).  Lines stay valid and become clean; write-backs
    are counted, evictions are not."""
    cdef Hierarchy h
    cdef int i
    cdef int64_t j, nlines, line
    cdef Level* L
    with nogil:
        _load(&h, cfg, tags, stamps, dirty, clocks, rng, counts)
        for i in range(h.n):
            L = &h.lv[i]
            nlines = L.sets * L.ways
            for j in range(nlines):
                line = L.tags[j]
                if line >= 0 and L.dirty[j]:
                    L.dirty[j] = 0
                    L.counts[K_WRITE_BACKS] += 1
                    _access(&h, i + 1, line << L.shift, L.line_bytes, 1)
        _store(&h, clocks, rng)
