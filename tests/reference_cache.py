"""A slow, obvious pure-Python cache hierarchy, used only by the tests.

It implements the semantics written in ``mini_accel.memory``'s docstring
with plain lists, one access at a time, and shares no code with the Cython
kernel. Each set is a list of ``ways`` slots (a line number or None) plus a
list of slot numbers in replacement order (LRU: least recently used first;
FIFO: filled longest ago first).
"""
from __future__ import annotations

MASK64 = (1 << 64) - 1
LEVEL_KEYS = ("read_hits", "read_misses", "write_hits", "write_misses", "evictions",
              "write_backs", "writes_through", "bytes_through")
DRAM_KEYS = ("reads", "writes", "bytes_read", "bytes_written")


def splitmix64(seed: int) -> int:
    z = (seed + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return z or 0x9E3779B97F4A7C15


class RefLevel:
    def __init__(self, size_bytes, ways, line_bytes, policy, write_policy, seed=0):
        self.line_bytes = line_bytes
        self.ways = ways
        self.nsets = size_bytes // (line_bytes * ways)
        self.policy = policy
        self.write_back = write_policy == "write-back"
        self.slots = [[None] * ways for _ in range(self.nsets)]
        self.dirty = [[False] * ways for _ in range(self.nsets)]
        self.order = [[] for _ in range(self.nsets)]
        self.rng = splitmix64(seed)
        self.counts = dict.fromkeys(LEVEL_KEYS, 0)

    def random_way(self) -> int:
        x = self.rng
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        self.rng = x
        return (((x * 2685821657736338717) & MASK64) >> 32) % self.ways

    def touch(self, s, slot):
        """Make slot the most recently used (LRU only)."""
        if self.policy == "lru":
            self.order[s].remove(slot)
            self.order[s].append(slot)


class RefHierarchy:
    """levels: list of dicts with size_bytes, ways, line_bytes, policy, write_policy, seed."""

    def __init__(self, levels):
        self.levels = [RefLevel(**cfg) for cfg in levels]
        self.dram = dict.fromkeys(DRAM_KEYS, 0)
        self.requests = 0
        self.split = 0
        self.line_accesses = 0

    def access(self, i, start, nbytes, write):
        if i == len(self.levels):
            if write:
                self.dram["writes"] += 1
                self.dram["bytes_written"] += nbytes
            else:
                self.dram["reads"] += 1
                self.dram["bytes_read"] += nbytes
            return
        L = self.levels[i]
        line = start // L.line_bytes
        s = line % L.nsets
        slots = L.slots[s]
        if line in slots:
            slot = slots.index(line)
            L.touch(s, slot)
            if write:
                L.counts["write_hits"] += 1
                if L.write_back:
                    L.dirty[s][slot] = True
                else:
                    L.counts["writes_through"] += 1
                    L.counts["bytes_through"] += nbytes
                    self.access(i + 1, start, nbytes, True)
            else:
                L.counts["read_hits"] += 1
            return
        if write:
            L.counts["write_misses"] += 1
            if not L.write_back:
                L.counts["writes_through"] += 1
                L.counts["bytes_through"] += nbytes
                self.access(i + 1, start, nbytes, True)
                return
        else:
            L.counts["read_misses"] += 1
        if None in slots:
            slot = slots.index(None)
        elif L.policy == "random":
            slot = L.random_way()
        else:
            slot = L.order[s][0]
        # fetch first, then write the victim back
        self.access(i + 1, line * L.line_bytes, L.line_bytes, False)
        victim = slots[slot]
        if victim is not None:
            L.counts["evictions"] += 1
            if L.dirty[s][slot]:
                L.counts["write_backs"] += 1
                self.access(i + 1, victim * L.line_bytes, L.line_bytes, True)
        slots[slot] = line
        L.dirty[s][slot] = bool(write)
        if slot in L.order[s]:
            L.order[s].remove(slot)
        L.order[s].append(slot)

    def run(self, addresses, is_write, sizes):
        line0 = self.levels[0].line_bytes
        for a, w, n in zip(addresses, is_write, sizes):
            a, w, n = int(a), bool(w), int(n)
            self.requests += 1
            pieces = []
            pos = a
            while pos < a + n:
                end = min(a + n, (pos // line0 + 1) * line0)
                pieces.append((pos, end - pos))
                pos = end
            if len(pieces) > 1:
                self.split += 1
            for start, nbytes in pieces:
                self.line_accesses += 1
                self.access(0, start, nbytes, w)

    def flush(self):
        for i, L in enumerate(self.levels):
            for s in range(L.nsets):
                for slot in range(L.ways):
                    if L.slots[s][slot] is not None and L.dirty[s][slot]:
                        L.dirty[s][slot] = False
                        L.counts["write_backs"] += 1
                        self.access(i + 1, L.slots[s][slot] * L.line_bytes, L.line_bytes, True)

    def resident(self, i):
        """Start addresses of the cached lines of level i, [set][way], -1 = invalid."""
        L = self.levels[i]
        return [[-1 if x is None else x * L.line_bytes for x in row] for row in L.slots]
