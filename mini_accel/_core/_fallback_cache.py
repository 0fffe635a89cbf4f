"""Pure-Python twin of ``cache.pyx`` (private: no validation here).

Same functions, same arguments, same state arrays and the same counters as the
compiled kernel, access by access: read ``cache.pyx`` for the layout of
``cfg``, ``tags``, ``stamps``, ``dirty``, ``clocks``, ``rng`` and ``counts``
and for the semantics. A cache is sequential (each access depends on the state
the previous one left), so the walk is a Python loop. It is made fast enough
for the labs by: copying the state into Python lists once per call; finding a
hit with one dictionary look-up per level (line address -> slot) instead of
scanning the ways; splitting requests into lines with numpy up front;
counting with numpy the hits that need no walk (a piece on the line the
previous piece of its set touched, at a write-back first level: see
:func:`run_trace`); and, for a single level, a loop with the access inlined.

>>> import numpy as np
>>> cfg = np.array([[4, 2, 4, 3, 0, 1, 0]], np.int64)   # 4 sets x 2 ways of 16 B, LRU, WB
>>> tags = np.full(8, -1, np.int64); stamps = np.zeros(8, np.int64)
>>> dirty = np.zeros(8, np.uint8); clocks = np.zeros(1, np.int64)
>>> rng = np.ones(1, np.uint64); counts = np.zeros((3, N_COUNT), np.int64)
>>> run_trace(np.array([0, 64, 0, 64, 16, 16], np.int64), np.zeros(1, np.uint8),
...           np.full(1, 4, np.int32), cfg, tags, stamps, dirty, clocks, rng, counts)
>>> counts[0, :2].tolist(), int(counts[1, 2])     # L1 read hits, misses; DRAM bytes read
([3, 3], 48)
"""
from __future__ import annotations

import numpy as np

# The kernel's constants (the same values as in cache.pyx).
C_SETS, C_WAYS, C_SHIFT, C_MASK, C_POLICY, C_WB, C_OFFSET = range(7)
N_CFG = 7
LRU, FIFO, RANDOM = 0, 1, 2
POLICY_CODES = {"lru": LRU, "fifo": FIFO, "random": RANDOM}
(K_READ_HITS, K_READ_MISSES, K_WRITE_HITS, K_WRITE_MISSES, K_EVICTIONS, K_WRITE_BACKS,
 K_WRITES_THROUGH, K_BYTES_THROUGH) = range(8)
D_READS, D_WRITES, D_BYTES_READ, D_BYTES_WRITTEN = range(4)
P_REQUESTS, P_SPLIT, P_LINE_ACCESSES = range(3)
N_COUNT = 8
COUNTER_NAMES = ("read_hits", "read_misses", "write_hits", "write_misses",
                 "evictions", "write_backs", "writes_through", "bytes_through")

_U64 = (1 << 64) - 1
_XORSHIFT_MULT = 2685821657736338717


class _Hierarchy:
    """The state arrays as Python lists, an ``access`` closure, and ``store``."""

    def __init__(self, cfg, tags, stamps, dirty, clocks, rng):
        self.arrays = (tags, stamps, dirty, clocks, rng)
        self.n = n = cfg.shape[0]
        self.levels = []
        for i in range(n):
            sets, ways, shift, mask, policy, wb, off = (int(v) for v in cfg[i])
            lines = sets * ways
            tg = tags[off:off + lines]
            valid = np.flatnonzero(tg >= 0)
            self.levels.append(dict(
                off=off, lines=lines, sets=sets, ways=ways, shift=shift, mask=mask,
                line_bytes=1 << shift, policy=policy, wb=bool(wb),
                tags=tg.tolist(), stamps=stamps[off:off + lines].tolist(),
                dirty=dirty[off:off + lines].tolist(), counts=[0] * N_COUNT,
                where=dict(zip(tg[valid].tolist(), valid.tolist()))))
        self.clock = [int(c) for c in clocks[:n]]
        self.rng = [int(r) for r in rng[:n]]
        self.dram = [0] * N_COUNT
        self.access = self._make_access()

    def _make_access(self):
        n, dram, clock, rng = self.n, self.dram, self.clock, self.rng
        lv = [(L["tags"], L["stamps"], L["dirty"], L["counts"], L["where"], L["sets"],
               L["ways"], L["shift"], L["mask"], L["line_bytes"], L["policy"], L["wb"])
              for L in self.levels]

        def access(i, start, nbytes, write):
            """One request of ``nbytes`` bytes at ``start`` (inside one line) at level i."""
            if i == n:                                  # DRAM: always "hits"
                if write:
                    dram[D_WRITES] += 1
                    dram[D_BYTES_WRITTEN] += nbytes
                else:
                    dram[D_READS] += 1
                    dram[D_BYTES_READ] += nbytes
                return
            tg, st, dt, ct, where, sets, ways, shift, mask, line_bytes, policy, wb = lv[i]
            line = start >> shift
            slot = where.get(line)
            if slot is not None:                        # hit
                if policy == LRU:
                    clock[i] += 1
                    st[slot] = clock[i]
                if write:
                    ct[K_WRITE_HITS] += 1
                    if wb:
                        dt[slot] = 1
                    else:
                        ct[K_WRITES_THROUGH] += 1
                        ct[K_BYTES_THROUGH] += nbytes
                        access(i + 1, start, nbytes, True)
                else:
                    ct[K_READ_HITS] += 1
                return
            if write:                                   # miss
                ct[K_WRITE_MISSES] += 1
                if not wb:                              # no-write-allocate
                    ct[K_WRITES_THROUGH] += 1
                    ct[K_BYTES_THROUGH] += nbytes
                    access(i + 1, start, nbytes, True)
                    return
            else:
                ct[K_READ_MISSES] += 1
            base = (line & mask if mask >= 0 else line % sets) * ways
            if policy == RANDOM:
                victim = -1
                for w in range(ways):
                    if tg[base + w] < 0:
                        victim = w
                        break
                if victim < 0:
                    x = rng[i]
                    x ^= x >> 12
                    x ^= (x << 25) & _U64
                    x ^= x >> 27
                    rng[i] = x
                    victim = (((x * _XORSHIFT_MULT) & _U64) >> 32) % ways
            else:                                       # first smallest stamp (0 = invalid)
                if ways == 1:
                    victim = 0
                else:
                    seg = st[base:base + ways]
                    victim = seg.index(min(seg))
            slot = base + victim
            access(i + 1, line << shift, line_bytes, False)   # fetch first, then write back
            old_line = tg[slot]
            if old_line >= 0:
                ct[K_EVICTIONS] += 1
                del where[old_line]
                if dt[slot]:
                    ct[K_WRITE_BACKS] += 1
                    access(i + 1, old_line << shift, line_bytes, True)
            tg[slot] = line
            where[line] = slot
            dt[slot] = 1 if write else 0
            clock[i] += 1
            st[slot] = clock[i]

        return access

    def store(self, counts):
        """Write the lists back into the state arrays and add the counters."""
        tags, stamps, dirty, clocks, rng = self.arrays
        for i, L in enumerate(self.levels):
            sl = slice(L["off"], L["off"] + L["lines"])
            tags[sl] = L["tags"]
            stamps[sl] = L["stamps"]
            dirty[sl] = L["dirty"]
            counts[i] += np.array(L["counts"], dtype=np.int64)
            clocks[i] = self.clock[i]
            rng[i] = np.uint64(self.rng[i])
        counts[self.n] += np.array(self.dram, dtype=np.int64)


def _pieces(addresses, is_write, sizes, shift0):
    """Split the requests into first-level line pieces: (start, bytes, write, split)."""
    n = addresses.shape[0]
    a = np.asarray(addresses, dtype=np.int64)
    size = np.broadcast_to(np.asarray(sizes, dtype=np.int64), (n,))
    write = np.broadcast_to(np.asarray(is_write) != 0, (n,))
    end = a + size
    first = a >> shift0
    cnt = ((end - 1) >> shift0) - first + 1
    split = int(np.count_nonzero(cnt > 1))
    if split == 0:
        return a, size, write, 0
    req = np.repeat(np.arange(n), cnt)
    k = np.arange(req.shape[0]) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    lo = (first[req] + k) << shift0
    hi = np.minimum(lo + (1 << shift0), end[req])
    lo = np.maximum(lo, a[req])
    return lo, hi - lo, write[req], split


def _walk_one_level(h, rows, pieces):
    """The loop of :func:`run_trace` for one write-back level, with ``access`` inlined.

    ``rows``: (line, first slot of its set, write, extra write, piece index, last piece
    index of its run) per walked piece.
    """
    L = h.levels[0]
    tg, st, dt, ct, where = L["tags"], L["stamps"], L["dirty"], L["counts"], L["where"]
    ways, policy = L["ways"], L["policy"]
    lru, rnd = policy == LRU, policy == RANDOM
    c0 = clk = h.clock[0]
    rh = wh = rm = wm = ev = wbk = 0
    for line, base, w, x, t, tl in rows:
        slot = where.get(line)
        if lru:
            clk = c0 + t
        if slot is not None:                            # hit
            if lru:
                clk += 1
                st[slot] = clk
            if w:
                wh += 1
                dt[slot] = 1
            else:
                rh += 1
        else:                                           # miss: fetch, evict, install
            if w:
                wm += 1
            else:
                rm += 1
            if rnd:
                victim = -1
                for v in range(ways):
                    if tg[base + v] < 0:
                        victim = v
                        break
                if victim < 0:
                    r = h.rng[0]
                    r ^= r >> 12
                    r ^= (r << 25) & _U64
                    r ^= r >> 27
                    h.rng[0] = r
                    victim = (((r * _XORSHIFT_MULT) & _U64) >> 32) % ways
            elif ways == 1:
                victim = 0
            else:
                seg = st[base:base + ways]
                victim = seg.index(min(seg))
            slot = base + victim
            old_line = tg[slot]
            if old_line >= 0:
                ev += 1
                del where[old_line]
                if dt[slot]:
                    wbk += 1
            tg[slot] = line
            where[line] = slot
            dt[slot] = 1 if w else 0
            clk += 1
            st[slot] = clk
        if lru and tl != t:
            st[slot] = c0 + tl + 1
        if x:
            dt[slot] = 1
    h.clock[0] = c0 + pieces if lru else clk
    for k, v in ((K_READ_HITS, rh), (K_WRITE_HITS, wh), (K_READ_MISSES, rm),
                 (K_WRITE_MISSES, wm), (K_EVICTIONS, ev), (K_WRITE_BACKS, wbk)):
        ct[k] += v
    lb = L["line_bytes"]
    h.dram[D_READS] += rm + wm
    h.dram[D_BYTES_READ] += (rm + wm) * lb
    h.dram[D_WRITES] += wbk
    h.dram[D_BYTES_WRITTEN] += wbk * lb


def run_trace(addresses, is_write, sizes, cfg, tags, stamps, dirty, clocks, rng, counts):
    """Feed a whole trace through the hierarchy; counters are added to ``counts``.

    ``is_write`` and ``sizes`` have the trace's length or length 1 (broadcast).
    A request is split into the first level's lines it touches; each piece is
    one access at the first level.

    Shortcut (exact): at a write-back first level, a piece whose line is the
    one the previous piece *of the same set* touched is a hit that changes
    nothing but counters, the line's dirty bit and (LRU) its age stamp, and
    sends nothing below. Such pieces are counted with numpy; only the others
    walk the Python loop, each followed by the stamp and dirty bit of the hits
    it stands for. The relative ages inside every set, hence every victim,
    stay those of the access-by-access walk.
    """
    h = _Hierarchy(cfg, tags, stamps, dirty, clocks, rng)
    access = h.access
    L0 = h.levels[0]
    shift0 = L0["shift"]
    start, nbytes, write, split = _pieces(addresses, is_write, sizes, shift0)
    pieces = start.shape[0]
    if not L0["wb"] or pieces < 2:
        for s_, nb, w in zip(start.tolist(), nbytes.tolist(), write.tolist()):
            access(0, s_, nb, w)
    else:
        line = start >> shift0
        sets = line & L0["mask"] if L0["mask"] >= 0 else line % L0["sets"]
        order = np.argsort(sets, kind="stable")
        ls, ss, ws = line[order], sets[order], write[order]
        same = np.zeros(pieces, dtype=bool)
        same[1:] = (ls[1:] == ls[:-1]) & (ss[1:] == ss[:-1])
        run = np.cumsum(~same) - 1                          # run of one line in one set
        last_in_run = order[np.flatnonzero(np.append(~same[1:], True))]
        extra_write = np.bincount(run, weights=ws & same, minlength=run[-1] + 1) > 0
        head = ~same                                        # sorted positions walked
        t_kept = order[head]
        ko = np.argsort(t_kept)                             # back to time order
        t_kept = t_kept[ko]
        t_last = last_in_run[ko]
        xw = extra_write[ko]
        ct = L0["counts"]
        ct[K_WRITE_HITS] += int(np.count_nonzero(ws & same))
        ct[K_READ_HITS] += int(np.count_nonzero(~ws & same))
        where0, st0, dt0 = L0["where"], L0["stamps"], L0["dirty"]
        rows = zip(start[t_kept].tolist(), nbytes[t_kept].tolist(), write[t_kept].tolist(),
                   xw.tolist(), t_kept.tolist(), t_last.tolist())
        if h.n == 1:                     # lines and set bases computed by numpy
            _walk_one_level(h, zip(line[t_kept].tolist(), (sets[t_kept] * L0["ways"]).tolist(),
                                   write[t_kept].tolist(), xw.tolist(), t_kept.tolist(),
                                   t_last.tolist()), pieces)
        elif L0["policy"] == LRU:          # every piece ages the level by one tick
            clock, c0 = h.clock, h.clock[0]
            for s_, nb, w, x, t, tl in rows:
                clock[0] = c0 + t
                access(0, s_, nb, w)
                if tl != t or x:
                    slot = where0[s_ >> shift0]
                    st0[slot] = c0 + tl + 1
                    if x:
                        dt0[slot] = 1
            clock[0] = c0 + pieces
        else:                            # FIFO, random: hits touch no stamp and no clock
            for s_, nb, w, x, _, _ in rows:
                access(0, s_, nb, w)
                if x:
                    dt0[where0[s_ >> shift0]] = 1
    h.store(counts)
    counts[h.n + 1, P_REQUESTS] += addresses.shape[0]
    counts[h.n + 1, P_SPLIT] += split
    counts[h.n + 1, P_LINE_ACCESSES] += pieces


def flush(cfg, tags, stamps, dirty, clocks, rng, counts):
    """Write every dirty line back, level by level from the top (sets, then
    ways, in index order).  Lines stay valid and become clean; write-backs
    are counted, evictions are not."""
    h = _Hierarchy(cfg, tags, stamps, dirty, clocks, rng)
    access = h.access
    for i, L in enumerate(h.levels):
        tg, dt, ct, shift = L["tags"], L["dirty"], L["counts"], L["shift"]
        # Level i only changes through the writes from level i - 1, done by now.
        for j in np.flatnonzero((np.array(tg) >= 0) & (np.array(dt) != 0)).tolist():
            dt[j] = 0
            ct[K_WRITE_BACKS] += 1
            access(i + 1, tg[j] << shift, L["line_bytes"], True)
    h.store(counts)
