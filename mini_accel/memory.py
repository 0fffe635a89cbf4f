"""Trace-driven cache hierarchies: one to three caches in front of DRAM.

Describe each cache with :class:`Cache`, stack them in a
:class:`MemoryHierarchy`, and feed it a trace: byte addresses, a read/write
flag per access and an access size in bytes. :meth:`MemoryHierarchy.run`
walks the whole trace in one call into a compiled kernel and returns
:class:`HierarchyStats`: per level accesses, hits, misses, evictions and
write-backs, and the bytes read from and written to DRAM.

The model (a textbook cache, so that small cases can be checked by hand)
------------------------------------------------------------------------
* **Geometry.** ``sets = size_bytes / (line_bytes * ways)``. Byte address ``a``
  lies in line ``a // line_bytes``, which can only live in set
  ``(a // line_bytes) % sets``; its tag is ``(a // line_bytes) // sets``.
  ``ways=1`` is direct-mapped, ``ways="full"`` fully associative.
* **Replacement.** A miss fills an invalid way if the set has one (the lowest
  numbered); otherwise it evicts the least recently used line (``"lru"``,
  reads and writes both count as uses), the line filled longest ago
  (``"fifo"``), or a pseudo-random way (``"random"``: xorshift64* seeded with
  ``Cache.seed``, so runs repeat exactly).
* **Write-back + write-allocate** (``write_policy="write-back"``): a write hit
  marks the line dirty; a write miss first fetches the line like a read miss,
  then marks it dirty. A dirty line is written back to the level below (one
  write of a whole line) when it is evicted.
* **Write-through + no-write-allocate** (``write_policy="write-through"``):
  every write goes on to the level below with its own byte range; a write hit
  also updates the line (and its LRU age), a write miss allocates nothing.
  Lines never become dirty.
* **Order on a miss.** The missing line is first fetched from the level below
  (one read of a whole line there), then the victim is chosen and, if dirty,
  written back below (one write of a whole line there). Fills and write-backs
  arriving from above are ordinary reads and writes of the lower level, so
  ``L2.accesses == L1 fills + L1 write-backs + L1 writes through``, and a
  write-back that misses in a write-allocate L2 makes L2 fetch that line from
  DRAM first (no "whole-line write skips the fetch" shortcut).
* **DRAM** is the backstop: every request reaching it is served. It counts
  reads and writes (requests) and bytes read and written.
* Levels are **non-inclusive, non-exclusive**: nothing forces a line in L1 to
  be in L2, and an L2 eviction does not touch L1.
* Line sizes may only grow toward DRAM (as in real hierarchies), so a line of
  one level always lies inside one line of the next.

**An access that spans two lines** (``address % line_bytes + size >
line_bytes`` at L1) is split at the L1 line boundary into one access per L1
line it touches, in address order, each with the bytes that fall in that line.
Every piece is counted as one L1 access (a hit or a miss of its own), so
``L1.accesses`` can exceed the number of trace entries:
``HierarchyStats.requests`` is the number of trace entries,
``split_requests`` how many of them were split, and ``line_accesses`` the
number of L1 accesses they became. An 8-byte read at address 60 with 64-byte
lines is two L1 reads: bytes 60-63 in line 0 and bytes 64-67 in line 1.

State (the tags, dirty bits and ages) persists across :meth:`run` calls until
:meth:`MemoryHierarchy.reset`; a run returns the counts of that run only and
:attr:`MemoryHierarchy.stats` holds the totals since the last reset. Dirty
lines still in the caches at the end of a trace have not reached DRAM yet:
call :meth:`MemoryHierarchy.flush` to write them back and count that traffic.

The kernel is checked against a slow pure-Python model of these rules
(``tests/reference_cache.py``) and against pycachesim: hits and misses agree
exactly, except that pycachesim does not refresh a line's LRU age when a
store hits it (``benchmarks/bench_memory.py`` shows both).

Example: a direct-mapped cache of four 16-byte lines (64 bytes). Addresses 0
and 64 map to set 0 and keep evicting each other (conflict misses); address 16
maps to set 1 and hits after its first miss::

>>> from mini_accel.memory import Cache, MemoryHierarchy
>>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
>>> st = h.run([0, 64, 0, 64, 16, 16], sizes=4)
>>> st["L1"].hits, st["L1"].misses, st["L1"].evictions
(1, 5, 3)
>>> st.dram.bytes_read           # five 16-byte line fills
80
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from ._checks import UnknownName, check_instance, check_int, check_option, check_size
from ._core import load as _load_kernels
from .memory_stats import DRAMStats, HierarchyStats, LevelStats  # noqa: F401 - public here too
from .traces import MAX_ADDRESS, Trace

_kernel = _load_kernels("cache")   # compiled, else the pure-Python twin

POLICIES = ("lru", "fifo", "random")
WRITE_POLICIES = ("write-back", "write-through")
Policy = Literal["lru", "fifo", "random"]
WritePolicy = Literal["write-back", "write-through"]
#: Most cache levels in front of DRAM.
MAX_LEVELS = 3
#: Largest number of lines one cache may have (its state takes 17 bytes a line).
MAX_LINES = 1 << 21
#: Largest associativity: a lookup scans every way of a set, so the time per
#: access grows with ``ways`` (fully associative caches up to 4096 lines).
MAX_WAYS = 4096
#: Largest line size in bytes.
MAX_LINE_BYTES = 1 << 16
#: Largest size of one access in bytes (a request is split into lines).
MAX_ACCESS_BYTES = 1 << 16
# MAX_ADDRESS (2**56, imported from mini_accel.traces, whose generators keep to
# it too): addresses plus the access size must stay below it.

_OFFSET = 6      # column of the kernel's cfg array: index of the level's first line


def _is_power_of_two(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


# --------------------------------------------------------------------------- #
# Configuration objects
# --------------------------------------------------------------------------- #
class Cache:
    """Configuration of one set-associative cache level (it holds no state).

    Parameters
    ----------
    name : str
        Label used in the results, e.g. ``"L1"``.
    size_bytes : int
        Capacity in bytes; must be a multiple of ``line_bytes * ways``.
    ways : int or "full"
        Associativity: 1 is direct-mapped, ``"full"`` means one set holding
        every line (at most 4096 lines).
    line_bytes : int
        Line (block) size in bytes, a power of two from 1 to 65536.
    policy : {"lru", "fifo", "random"}
        Replacement policy.
    write_policy : {"write-back", "write-through"}
        ``"write-back"`` is write-back with write-allocate;
        ``"write-through"`` is write-through with no-write-allocate.
    seed : int
        Seed of the random replacement policy (ignored by the others).

    >>> c = Cache("L1", size_bytes=32 * 1024, ways=8, line_bytes=64)
    >>> c.sets, c.lines
    (64, 512)
    """

    def __init__(self, name: str, size_bytes: int, ways: int | Literal["full"] = 1,
                 line_bytes: int = 64, policy: Policy = "lru",
                 write_policy: WritePolicy = "write-back", seed: int = 0):
        self.name = _level_name("name", name)
        self.size_bytes = check_int("size_bytes", size_bytes, low=1)
        self.line_bytes = check_int("line_bytes", line_bytes, low=1, high=MAX_LINE_BYTES)
        if not _is_power_of_two(self.line_bytes):
            raise ValueError(f"line_bytes must be a power of two (1, 2, 4, ..., 64, ...), "
                             f"got {self.line_bytes}")
        if self.size_bytes % self.line_bytes:
            raise ValueError(f"size_bytes ({self.size_bytes}) must be a multiple of line_bytes "
                             f"({self.line_bytes})")
        lines = self.size_bytes // self.line_bytes
        if lines > MAX_LINES:
            raise ValueError(f"cache {name!r} has {lines:,} lines; the simulator allows at most "
                             f"{MAX_LINES:,} lines per level (use bigger lines or a smaller size)")
        if isinstance(ways, str):
            if ways.strip().lower() != "full":
                raise ValueError(f"ways must be a positive int or 'full', got {ways!r}")
            ways = lines
        self.ways = check_int("ways", ways, low=1)
        if self.ways > MAX_WAYS:
            raise ValueError(f"ways must be <= {MAX_WAYS} (every lookup scans all ways of a set), "
                             f"got {self.ways}")
        if self.size_bytes % (self.line_bytes * self.ways):
            raise ValueError(
                f"size_bytes ({self.size_bytes}) must be a multiple of line_bytes x ways "
                f"({self.line_bytes} x {self.ways} = {self.line_bytes * self.ways}) so that "
                "every set has the same number of ways")
        self.policy = check_option("policy", policy, POLICIES)
        self.write_policy = check_option("write_policy", write_policy, WRITE_POLICIES)
        self.seed = check_int("seed", seed, low=0, high=2**63 - 1)

    @property
    def lines(self) -> int:
        """Number of lines (blocks) the cache holds."""
        return self.size_bytes // self.line_bytes

    @property
    def sets(self) -> int:
        """Number of sets: ``size_bytes / (line_bytes * ways)``."""
        return self.lines // self.ways

    def __repr__(self) -> str:
        return (f"Cache({self.name!r}, size_bytes={self.size_bytes}, ways={self.ways}, "
                f"line_bytes={self.line_bytes}, policy={self.policy!r}, "
                f"write_policy={self.write_policy!r})")


class DRAM:
    """Main memory behind the last cache level: it serves every request.

    It only counts: reads and writes that reach it, and the bytes moved.

    >>> DRAM()
    DRAM('DRAM')
    """

    def __init__(self, name: str = "DRAM"):
        self.name = _level_name("name", name)

    def __repr__(self) -> str:
        return f"DRAM({self.name!r})"


# --------------------------------------------------------------------------- #
# Trace validation
# --------------------------------------------------------------------------- #
def _as_int_array(name: str, x) -> np.ndarray:
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of integers, got {type(x).__name__}")
    arr = np.asarray(x)
    check_size(name, arr.size)       # before any scan or copy of a (broadcast) view
    if arr.size == 0:
        raise ValueError(f"{name} is empty: give at least one access")
    if arr.dtype == object:
        raise TypeError(f"{name} must be an array of integers, "
                        "got objects (a ragged or mixed list?)")
    if arr.dtype.kind not in "iu":
        hint = " (convert with .astype(np.int64) if the values are whole numbers)" \
            if arr.dtype.kind == "f" else ""
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}{hint}")
    return arr


def _check_trace(addresses, is_write, sizes):
    if isinstance(addresses, Trace):
        if is_write is not None or sizes is not None:
            raise TypeError("pass either a Trace alone or addresses with is_write and sizes, "
                            "not both")
        addresses, is_write, sizes = addresses
    addr = _as_int_array("addresses", addresses)
    if addr.ndim != 1:
        raise ValueError(f"addresses must be a 1-D array, got shape {addr.shape}")
    n = addr.shape[0]
    lo, hi = int(addr.min()), int(addr.max())
    if lo < 0:
        raise ValueError(f"addresses must be >= 0 (byte addresses), got {lo} "
                         f"at index {int(np.argmin(addr))}")
    if hi >= MAX_ADDRESS:
        raise ValueError(f"addresses must be < 2**56, got {hi} at index {int(np.argmax(addr))}")
    addr = np.ascontiguousarray(addr, dtype=np.int64)

    if sizes is None:
        sizes = 1
    size_arr = _as_int_array("sizes", sizes)
    if size_arr.ndim == 0:
        size_arr = size_arr.reshape(1)
    elif size_arr.ndim != 1 or size_arr.shape[0] not in (1, n):
        raise ValueError(f"sizes must be one int or a 1-D array as long as addresses ({n}), "
                         f"got shape {size_arr.shape}")
    smin, smax = int(size_arr.min()), int(size_arr.max())
    if smin < 1:
        raise ValueError(f"sizes must be >= 1 byte, got {smin}")
    if smax > MAX_ACCESS_BYTES:
        raise ValueError(f"sizes must be <= {MAX_ACCESS_BYTES} bytes per access, got {smax}")
    size_arr = np.ascontiguousarray(size_arr, dtype=np.int32)
    end = addr + size_arr           # < 2**56 + 2**16: no int64 overflow
    if int(end.max()) > MAX_ADDRESS:
        i = int(np.argmax(end))
        raise ValueError(f"addresses plus sizes must stay <= 2**56: the access at index {i} "
                         f"ends at byte {int(end[i]) - 1}")

    if is_write is None:
        is_write = False
    if isinstance(is_write, (str, bytes)):
        raise TypeError(f"is_write must be bool (True = write), got {type(is_write).__name__}")
    w = np.asarray(is_write)
    check_size("is_write", w.size)
    if w.dtype != np.bool_:
        if w.dtype.kind not in "iu":
            raise TypeError(f"is_write must be bool (True = write), got dtype {w.dtype}")
        if w.size and (w.min() < 0 or w.max() > 1):
            raise ValueError("is_write must be bool or 0/1 integers, got other values")
    if w.ndim == 0:
        w = w.reshape(1)
    elif w.ndim != 1 or w.shape[0] not in (1, n):
        raise ValueError(f"is_write must be one bool or a 1-D array as long as addresses ({n}), "
                         f"got shape {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.bool_).view(np.uint8)
    return addr, w, size_arr


# --------------------------------------------------------------------------- #
# The hierarchy
# --------------------------------------------------------------------------- #
class MemoryHierarchy:
    """One to three :class:`Cache` levels in front of a :class:`DRAM`.

    Parameters
    ----------
    levels : Cache or sequence of Cache
        From the processor side (L1) toward DRAM. Names must differ, and line
        sizes may only grow toward DRAM.
    dram : DRAM, optional
        The main memory (default ``DRAM()``).

    See the module docstring for the exact semantics.

    >>> from mini_accel.memory import Cache, MemoryHierarchy
    >>> h = MemoryHierarchy([Cache("L1", 1024, ways=2, line_bytes=64),
    ...                      Cache("L2", 8192, ways=4, line_bytes=64)])
    >>> st = h.run(np.arange(0, 4096, 4), sizes=4)      # stream 4 KB, 4 bytes at a time
    >>> st["L1"].misses, st["L2"].misses, st.dram.bytes_read   # one miss per 64-byte line
    (64, 64, 4096)
    """

    def __init__(self, levels, dram: DRAM | None = None):
        if isinstance(levels, Cache):
            levels = [levels]
        check_instance("levels", levels, (list, tuple), what="a Cache or a list of Cache")
        if not 1 <= len(levels) <= MAX_LEVELS:
            raise ValueError(f"levels must hold 1 to {MAX_LEVELS} caches, got {len(levels)}")
        for i, c in enumerate(levels):
            check_instance(f"levels[{i}]", c, Cache)
        dram = check_instance("dram", DRAM() if dram is None else dram, DRAM)
        names = [c.name for c in levels] + [dram.name]
        if len(set(names)) != len(names):
            raise ValueError(f"level names must differ, got {names}")
        for upper, lower in zip(levels, levels[1:]):
            if lower.line_bytes < upper.line_bytes:
                raise ValueError(
                    f"line_bytes may only grow toward DRAM: {upper.name} has "
                    f"{upper.line_bytes}-byte lines but {lower.name} below it has "
                    f"{lower.line_bytes}-byte lines")
        self.levels = tuple(levels)
        self.dram = dram
        n = len(levels)
        self._cfg = np.zeros((n, _kernel.N_CFG), dtype=np.int64)
        offset = 0
        for i, c in enumerate(levels):
            sets = c.sets
            self._cfg[i] = (sets, c.ways, c.line_bytes.bit_length() - 1,
                            sets - 1 if _is_power_of_two(sets) else -1,
                            _kernel.POLICY_CODES[c.policy],
                            1 if c.write_policy == "write-back" else 0, offset)
            offset += c.lines
        self._tags = np.empty(offset, dtype=np.int64)
        self._stamps = np.empty(offset, dtype=np.int64)
        self._dirty = np.empty(offset, dtype=np.uint8)
        self._clocks = np.empty(n, dtype=np.int64)
        self._rng = np.empty(n, dtype=np.uint64)
        self.reset()

    def reset(self) -> None:
        """Empty every cache (all lines invalid) and zero :attr:`stats`.

        >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
        >>> h.run([0]).levels[0].misses, h.run([0]).levels[0].misses   # the line stays...
        (1, 0)
        >>> h.reset(); h.run([0]).levels[0].misses, h.stats.requests     # ...until a reset
        (1, 1)
        """
        self._tags.fill(-1)
        self._stamps.fill(0)
        self._dirty.fill(0)
        self._clocks.fill(0)
        for i, c in enumerate(self.levels):
            self._rng[i] = _splitmix64(c.seed)
        self._total = self._new_counts()

    def _new_counts(self) -> np.ndarray:
        return np.zeros((len(self.levels) + 2, _kernel.N_COUNT), dtype=np.int64)

    def _state(self):
        return (self._cfg, self._tags, self._stamps, self._dirty, self._clocks, self._rng)

    def run(self, addresses, is_write=None, sizes=None) -> HierarchyStats:
        """Feed a trace through the hierarchy and return the counts of this run.

        Parameters
        ----------
        addresses : array of int, or a :class:`Trace`
            Byte addresses, >= 0. A ``(addresses, is_write, sizes)`` tuple from
            :mod:`mini_accel.traces` may be passed alone.
        is_write : bool or array of bool, optional
            True for a write (default: every access is a read).
        sizes : int or array of int, optional
            Bytes per access, 1 to 65536 (default 1).

        >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
        >>> st = h.run([60], sizes=8)                  # bytes 60..67 span two lines
        >>> st.requests, st.split_requests, st.line_accesses
        (1, 1, 2)
        """
        addr, w, sizes_arr = _check_trace(addresses, is_write, sizes)
        counts = self._new_counts()
        _kernel.run_trace(addr, w, sizes_arr, *self._state(), counts)
        self._total += counts
        return HierarchyStats(self.levels, self.dram, counts)

    def flush(self) -> HierarchyStats:
        """Write every dirty line back (L1 first, then L2, ...) and return that traffic.

        Lines stay cached and become clean; call :meth:`reset` to empty the caches.

        >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
        >>> _ = h.run([0], is_write=True)
        >>> h.dirty("L1").ravel().tolist(), h.flush()["L1"].write_backs, h.dirty("L1").any()
        ([True, False, False, False], 1, np.False_)
        """
        counts = self._new_counts()
        _kernel.flush(*self._state(), counts)
        self._total += counts
        return HierarchyStats(self.levels, self.dram, counts)

    @property
    def stats(self) -> HierarchyStats:
        """Counts since the last :meth:`reset` (all runs and flushes)."""
        return HierarchyStats(self.levels, self.dram, self._total)

    def _level_index(self, name: str) -> int:
        for i, c in enumerate(self.levels):
            if c.name == name:
                return i
        raise UnknownName(f"name must be one of the caches {[c.name for c in self.levels]}, "
                          f"got {name!r}")

    def resident(self, name: str) -> np.ndarray:
        """Start addresses of the lines cached in ``name``, shape (sets, ways); -1 = invalid.

        >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=2, line_bytes=16)])
        >>> _ = h.run([0, 20, 70])
        >>> h.resident("L1").tolist()                  # 2 sets x 2 ways
        [[0, 64], [16, -1]]
        """
        i = self._level_index(name)
        c, off = self.levels[i], int(self._cfg[i, _OFFSET])
        tags = self._tags[off:off + c.lines].reshape(c.sets, c.ways)
        return np.where(tags >= 0, tags * c.line_bytes, -1)

    def dirty(self, name: str) -> np.ndarray:
        """Dirty bits of level ``name``, shape (sets, ways) (see :meth:`flush` for an example)."""
        i = self._level_index(name)
        c, off = self.levels[i], int(self._cfg[i, _OFFSET])
        return self._dirty[off:off + c.lines].reshape(c.sets, c.ways).astype(bool)

    def __repr__(self) -> str:
        return f"MemoryHierarchy({list(self.levels)!r}, dram={self.dram!r})"


def _level_name(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty string such as 'L1', got {value!r}")
    return value


def _splitmix64(seed: int) -> int:
    """A non-zero 64-bit state for xorshift64* from any seed (Vigna's splitmix64)."""
    mask = (1 << 64) - 1
    z = (seed + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return z or 0x9E3779B97F4A7C15


# --------------------------------------------------------------------------- #
# The three Cs
# --------------------------------------------------------------------------- #
def classify_misses(cache: Cache, addresses, sizes=None) -> dict:
    """Split the misses of one cache into compulsory, capacity and conflict misses.

    Hill's "three Cs", as in Hennessy & Patterson: *compulsory* misses are
    first touches of a line (misses even in an infinite cache); *capacity*
    misses are the further misses of a fully associative LRU cache of the
    same size and line size; *conflict* misses are what the real cache misses
    beyond that. Every access is treated as a read (so write policies do not
    matter here). Conflict misses can come out negative: a set-associative
    cache occasionally beats fully associative LRU.

    The fully associative model needs ``cache.lines <= 4096``.

    >>> c = Cache("L1", size_bytes=64, ways=1, line_bytes=16)
    >>> classify_misses(c, [0, 64, 0, 64])
    {'accesses': 4, 'misses': 4, 'compulsory': 2, 'capacity': 0, 'conflict': 2}
    """
    check_instance("cache", cache, Cache)
    if cache.lines > MAX_WAYS:
        raise ValueError(f"classify_misses needs a fully associative copy of the cache; "
                         f"{cache.lines} lines is more than {MAX_WAYS}")
    addr, _, sizes_arr = _check_trace(addresses, None, sizes)
    as_read = dict(policy=cache.policy, write_policy=cache.write_policy, seed=cache.seed)
    real = MemoryHierarchy(Cache(cache.name, cache.size_bytes, cache.ways, cache.line_bytes,
                                 **as_read))
    full = MemoryHierarchy(Cache(cache.name, cache.size_bytes, "full", cache.line_bytes,
                                 policy="lru"))
    reads = np.zeros(1, dtype=bool)
    st_real = real.run(addr, reads, sizes_arr)[cache.name]
    st_full = full.run(addr, reads, sizes_arr)[cache.name]
    shift = cache.line_bytes.bit_length() - 1
    first = addr >> shift
    last = (addr + sizes_arr.astype(np.int64) - 1) >> shift
    if np.array_equal(first, last):
        compulsory = int(np.unique(first).size)
    else:  # a request spanning lines touches every line from first to last
        span = (last - first + 1)
        offset_in_request = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
        lines = np.repeat(first, span) + offset_in_request
        compulsory = int(np.unique(lines).size)
    return {"accesses": st_real.accesses, "misses": st_real.misses, "compulsory": compulsory,
            "capacity": st_full.misses - compulsory, "conflict": st_real.misses - st_full.misses}
