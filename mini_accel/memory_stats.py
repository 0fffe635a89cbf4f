"""Results of the cache simulator: counts per level, DRAM traffic, and the whole run.

:class:`LevelStats` (one cache level), :class:`DRAMStats` (main memory) and
:class:`HierarchyStats` (one run or several added with ``+``), as returned by
:meth:`mini_accel.memory.MemoryHierarchy.run`; importable from
:mod:`mini_accel.memory` as well.

>>> from mini_accel.memory import Cache, MemoryHierarchy
>>> st = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)]).run([0, 0, 64])
>>> type(st).__name__, st["L1"].hits, st.dram.reads
('HierarchyStats', 1, 2)
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._checks import UnknownName
from ._core import load as _load_kernels
from .tables import Table, TableResult

if TYPE_CHECKING:
    from .memory import DRAM, Cache

__all__ = ["LevelStats", "DRAMStats", "HierarchyStats"]

_LEVEL_FIELDS = _load_kernels("cache").COUNTER_NAMES


@dataclass(frozen=True)
class LevelStats:
    """Counts of one cache level.

    ``accesses = hits + misses``; a read or write arriving from the level above
    (a fill or a write-back) is an access too. ``evictions`` counts valid lines
    replaced (clean or dirty); ``write_backs`` the dirty lines written to the
    level below (at eviction or by a flush); ``writes_through`` the writes
    forwarded by a write-through cache. Rates are ``nan`` when there was no
    access.

    >>> from mini_accel.memory import Cache, MemoryHierarchy
    >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
    >>> l1 = h.run([0, 4, 100], is_write=[False, True, False], sizes=4)["L1"]
    >>> l1.read_misses, l1.write_hits, l1.hit_rate, l1.fills, l1.bytes_from_below
    (2, 1, 0.3333333333333333, 2, 32)
    """

    name: str
    size_bytes: int
    line_bytes: int
    write_policy: str
    read_hits: int
    read_misses: int
    write_hits: int
    write_misses: int
    evictions: int
    write_backs: int
    writes_through: int
    bytes_through: int

    @property
    def hits(self) -> int:
        return self.read_hits + self.write_hits

    @property
    def misses(self) -> int:
        return self.read_misses + self.write_misses

    @property
    def accesses(self) -> int:
        return self.hits + self.misses

    @property
    def reads(self) -> int:
        return self.read_hits + self.read_misses

    @property
    def writes(self) -> int:
        return self.write_hits + self.write_misses

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else math.nan

    @property
    def miss_rate(self) -> float:
        """Local miss rate: misses / accesses at this level."""
        return self.misses / self.accesses if self.accesses else math.nan

    @property
    def fills(self) -> int:
        """Lines fetched from the level below (misses that allocate)."""
        allocating_writes = self.write_misses if self.write_policy == "write-back" else 0
        return self.read_misses + allocating_writes

    @property
    def bytes_from_below(self) -> int:
        return self.fills * self.line_bytes

    @property
    def bytes_to_below(self) -> int:
        return self.write_backs * self.line_bytes + self.bytes_through

    def to_dict(self) -> dict:
        return {
            "level": self.name, "size_bytes": self.size_bytes, "accesses": self.accesses,
            "hits": self.hits,
            "misses": self.misses, "hit_rate": self.hit_rate,
            "read_hits": self.read_hits, "read_misses": self.read_misses,
            "write_hits": self.write_hits, "write_misses": self.write_misses,
            "evictions": self.evictions, "write_backs": self.write_backs,
            "writes_through": self.writes_through,
            "bytes_from_below": self.bytes_from_below, "bytes_to_below": self.bytes_to_below,
        }


@dataclass(frozen=True)
class DRAMStats:
    """Requests and bytes that reached DRAM.

    >>> from mini_accel.memory import Cache, MemoryHierarchy
    >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
    >>> _ = h.run([0, 64], is_write=True, sizes=4)   # 64 evicts dirty line 0 (same set)
    >>> h.flush().dram.to_dict()                     # the flush writes back line 64
    {'level': 'DRAM', 'accesses': 1, 'reads': 0, 'writes': 1, 'bytes_read': 0, 'bytes_written': 16}
    """

    name: str
    reads: int
    writes: int
    bytes_read: int
    bytes_written: int

    @property
    def accesses(self) -> int:
        return self.reads + self.writes

    @property
    def bytes(self) -> int:
        """All bytes moved to and from DRAM."""
        return self.bytes_read + self.bytes_written

    def to_dict(self) -> dict:
        return {"level": self.name, "accesses": self.accesses, "reads": self.reads,
                "writes": self.writes, "bytes_read": self.bytes_read,
                "bytes_written": self.bytes_written}


class HierarchyStats(TableResult):
    """Counts of one run (or of several, added with ``+``).

    Index it by level name (``stats["L1"]``, ``stats["DRAM"]``) or use
    :attr:`levels` and :attr:`dram`. :meth:`table` gives a text table,
    :meth:`to_table` a :class:`mini_accel.tables.Table` (shown as HTML in
    JupyterLab), :meth:`to_frame` a pandas DataFrame when pandas is installed.

    >>> from mini_accel.memory import Cache, MemoryHierarchy
    >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
    >>> st = h.run([0, 0]) + h.run([16])
    >>> st.requests, st["L1"].misses, [r["level"] for r in st.to_rows()], st.to_dict()["dram"]["reads"]
    (3, 2, ['L1', 'DRAM'], 2)
    """

    def __init__(self, caches: Sequence[Cache], dram: DRAM, counts: np.ndarray):
        self._caches = tuple(caches)
        self._dram = dram
        self._counts = np.array(counts, dtype=np.int64, copy=True)
        n = len(self._caches)
        self.levels = tuple(
            LevelStats(c.name, c.size_bytes, c.line_bytes, c.write_policy,
                       **{f: int(v) for f, v in zip(_LEVEL_FIELDS, self._counts[i])})
            for i, c in enumerate(self._caches))
        self.dram = DRAMStats(dram.name, *(int(v) for v in self._counts[n, :4]))
        cpu = self._counts[n + 1]
        #: Trace entries fed in.
        self.requests = int(cpu[0])
        #: Trace entries that spanned more than one L1 line.
        self.split_requests = int(cpu[1])
        #: L1 accesses the requests became (one per L1 line touched).
        self.line_accesses = int(cpu[2])

    def __getitem__(self, name: str):
        for lv in self.levels:
            if lv.name == name:
                return lv
        if name == self.dram.name:
            return self.dram
        names = [lv.name for lv in self.levels] + [self.dram.name]
        raise UnknownName(f"name must be one of the levels {names}, got {name!r}")

    def __add__(self, other: HierarchyStats) -> HierarchyStats:
        if not isinstance(other, HierarchyStats) or self._counts.shape != other._counts.shape:
            return NotImplemented
        return HierarchyStats(self._caches, self._dram, self._counts + other._counts)

    def to_rows(self) -> list[dict]:
        """One dict per level (caches, then DRAM)."""
        return [lv.to_dict() for lv in self.levels] + [self.dram.to_dict()]

    def to_dict(self) -> dict:
        """Nested plain dict: ``{"requests": .., "levels": {name: {...}}, "dram": {...}}``."""
        return {"requests": self.requests, "split_requests": self.split_requests,
                "line_accesses": self.line_accesses,
                "levels": {lv.name: lv.to_dict() for lv in self.levels},
                "dram": self.dram.to_dict()}

    def to_frame(self):
        """A pandas DataFrame (one row per level) if pandas is installed, else :meth:`to_rows`."""
        try:
            import pandas as pd
        except ImportError:
            return self.to_rows()
        return pd.DataFrame(self.to_rows()).set_index("level")

    def to_table(self) -> Table:
        """The counts as a :class:`mini_accel.tables.Table` (blank: not counted at that level).

        >>> from mini_accel.memory import Cache, MemoryHierarchy
    >>> h = MemoryHierarchy([Cache("L1", size_bytes=64, ways=1, line_bytes=16)])
        >>> t = h.run([0, 16, 0], sizes=4).to_table()
        >>> t.title[:35]
        '(3 requests, 0 split across lines; '
        >>> t.title = None                    # the rows under the title
        >>> print(t)
        level  accesses  hits  misses  hit rate  evictions  write-backs  bytes in  bytes out
        -----  --------  ----  ------  --------  ---------  -----------  --------  ---------
        L1            3     1       2    0.3333          0            0        32          0
        DRAM          2                                                        32          0
        """
        head = ("level", "accesses", "hits", "misses", "hit rate", "evictions",
                "write-backs", "bytes in", "bytes out")
        rows = []
        for lv in self.levels:
            rate = None if math.isnan(lv.hit_rate) else lv.hit_rate
            rows.append((lv.name, lv.accesses, lv.hits, lv.misses, rate, lv.evictions,
                         lv.write_backs, lv.bytes_from_below, lv.bytes_to_below))
        d = self.dram
        rows.append((d.name, d.accesses, None, None, None, None, None, d.bytes_read,
                     d.bytes_written))
        title = (f"({self.requests} requests, {self.split_requests} split across lines; "
                 "bytes in/out: fetched from / sent to the level below, for DRAM: "
                 "read / written)")
        return Table(head, rows, title=title)


    def __repr__(self) -> str:
        parts = [f"{lv.name}: {lv.hits}/{lv.accesses} hits" for lv in self.levels]
        return (f"HierarchyStats({self.requests} requests; " + ", ".join(parts)
                + f"; {self.dram.name}: {self.dram.bytes_read} B read, "
                f"{self.dram.bytes_written} B written)")
