"""Explicitly managed on-chip buffers (scratchpads) for a tiled GEMM.

Accelerators such as the TPU do not cache: software moves tiles of the
operands from DRAM into on-chip buffers, the MAC array works on them, and
results go back. :class:`Scratchpad` counts the words moved for
``C (M x N) = A (M x K) @ B (K x N)`` cut into ``tile_m x tile_k x tile_n``
tiles and walked in one of the six loop orders.

The model
---------
* The loop nest walks tile indices ``(m, n, k)`` in ``order`` (outermost
  first, e.g. ``"mnk"``: for each m-tile, for each n-tile, for each k-tile).
  One *step* multiplies the A tile (m, k) by the B tile (k, n) into the C
  tile (m, n). Edge tiles are smaller when a tile size does not divide its
  dimension; a tile size larger than its dimension is cut down to it.
* Each operand has its own buffer, holding the current tile (two tiles with
  ``double_buffer=True``: the next one loads while the current one is used;
  the second copy hides latency but does not change the words moved).
* **DRAM -> buffer.** Before a step, each of A and B is loaded from DRAM
  when its tile differs from the previous step's. C starts at zero, so a C
  tile is loaded (its partial sums) only when it comes back after having
  been written out.
* **Buffer -> DRAM.** When the C tile changes, the old one is written back
  (partial sums if its k-loop is not finished); the last one is written at
  the end. So every C tile goes out once per visit.
* **Buffer <-> array.** Each step reads its A and B tiles from the buffers
  once, writes the C tile's sums back to the C buffer, and reads the C
  tile's partial sums first unless it is the tile's first k-step (k = 0).
  Reuse inside the array (operands passed from PE to PE) is the systolic
  model's business: see :class:`mini_accel.SystolicArray`.

In closed form, with ``T_d = ceil(D / tile_d)`` tiles along each dimension:
ignore loops with one trip; an operand is reloaded once for every trip of
each loop that does not index it (n for A, m for B, k for C) and sits
*outside* the innermost loop that does index it. Every element of A is then
read from DRAM ``r_A`` times (``dram_reads["A"] = r_A * M * K``), and so on;
``dram_writes["C"] = r_C * M * N`` and ``dram_reads["C"] = (r_C - 1) * M * N``.
For ``order="mnk"``: ``r_A = T_n``, ``r_B = T_m``, ``r_C = 1``.

>>> from mini_accel.scratchpad import Scratchpad
>>> sp = Scratchpad(a_words=4096, b_words=4096, c_words=4096)
>>> r = sp.gemm(256, 256, 256, tile_m=64, tile_k=64, tile_n=64, order="mnk")
>>> r.dram_reads, r.dram_writes          # A read 4x (once per n-tile), B 4x, C once
({'A': 262144, 'B': 262144, 'C': 0}, {'C': 65536})
>>> r.fits
True
>>> Scratchpad(4096, 4096, 4096, double_buffer=True).gemm(256, 256, 256, 64, 64, 64).fits
False
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ._checks import check_bool, check_int, check_number
from .tables import Table, TableResult

__all__ = ["LOOP_ORDERS", "OPERAND_DIMS", "reload_factors", "ScratchpadResult", "Scratchpad"]

#: The six loop orders, outermost loop first.
LOOP_ORDERS = ("mnk", "mkn", "nmk", "nkm", "kmn", "knm")
#: Which dimensions index each operand.
OPERAND_DIMS = {"A": "mk", "B": "kn", "C": "mn"}
LoopOrder = Literal["mnk", "mkn", "nmk", "nkm", "kmn", "knm"]


def _int(name: str, value) -> int:
    return check_int(name, value, low=1)


def _check_order(order) -> str:
    if not isinstance(order, str):
        raise TypeError(f"order must be a string such as 'mnk', got {type(order).__name__}")
    o = order.lower().replace("i", "m").replace("j", "n")
    if o not in LOOP_ORDERS:
        raise ValueError(f"order must be one of {LOOP_ORDERS} (outermost loop first; "
                         f"i/j may stand for m/n), got {order!r}")
    return o


def reload_factors(trips: dict, order: str) -> dict:
    """How many times each tile of A, B and C is brought on chip (closed form).

    ``trips`` maps ``"m"``, ``"n"``, ``"k"`` to the number of tiles along that
    dimension (ints >= 1).

    >>> reload_factors({"m": 4, "n": 4, "k": 4}, "mnk")
    {'A': 4, 'B': 4, 'C': 1}
    >>> reload_factors({"m": 4, "n": 4, "k": 4}, "mkn")
    {'A': 1, 'B': 4, 'C': 4}
    """
    if not isinstance(trips, dict) or set(trips) != {"m", "n", "k"}:
        raise TypeError(f"trips must be a dict with the keys 'm', 'n' and 'k', got {trips!r}")
    trips = {d: _int(f"trips[{d!r}]", t) for d, t in trips.items()}
    return _reload_factors(trips, _check_order(order))


def _reload_factors(trips: dict, order: str) -> dict:
    """:func:`reload_factors` of checked arguments (the inner loops call it)."""
    loops = [d for d in order if trips[d] > 1]        # one-trip loops change nothing
    out = {}
    for op, dims in OPERAND_DIMS.items():
        own = [i for i, d in enumerate(loops) if d in dims]
        if not own:
            out[op] = 1
            continue
        out[op] = math.prod(trips[d] for d in loops[:own[-1]] if d not in dims)
    return out


@dataclass(frozen=True)
class ScratchpadResult(TableResult):
    """Words moved by one tiled GEMM (all counts in words, i.e. elements).

    ``dram_reads`` and ``dram_writes``: DRAM <-> buffer per operand;
    ``array_reads``/``array_writes``: buffer <-> MAC array per operand;
    ``tile_loads``: how many tiles were brought in from DRAM per operand;
    ``fits``/``fit_problems``: whether each buffer holds its tile(s).
    Shown as a table per operand in JupyterLab (:meth:`table`).

    >>> r = Scratchpad(4096, 4096, 4096).gemm(128, 128, 128, 64, 64, 64)
    >>> r.dram_words, r.min_dram_words, r.steps
    (81920, 49152, 8)
    """

    M: int
    K: int
    N: int
    tile_m: int
    tile_k: int
    tile_n: int
    order: str
    double_buffer: bool
    buffer_words: dict
    needed_words: dict
    dram_reads: dict
    dram_writes: dict
    array_reads: dict
    array_writes: dict
    tile_loads: dict
    steps: int
    fit_problems: tuple = field(default_factory=tuple)

    @property
    def fits(self) -> bool:
        """True when every buffer holds its tile (two with double buffering)."""
        return not self.fit_problems

    @property
    def macs(self) -> int:
        return self.M * self.K * self.N

    @property
    def dram_words(self) -> int:
        """All words moved between DRAM and the buffers."""
        return sum(self.dram_reads.values()) + sum(self.dram_writes.values())

    @property
    def min_dram_words(self) -> int:
        """Compulsory traffic: read A and B once, write C once."""
        return self.M * self.K + self.K * self.N + self.M * self.N

    @property
    def buffer_accesses(self) -> int:
        """Buffer reads and writes: fills from DRAM, reads and writes by the
        array, and reads of C on its way out to DRAM."""
        return (sum(self.dram_reads.values()) + sum(self.array_reads.values())
                + sum(self.array_writes.values()) + sum(self.dram_writes.values()))

    @property
    def intensity(self) -> float:
        """MACs per word moved to or from DRAM."""
        return self.macs / self.dram_words

    def estimate_cycles(self, dram_words_per_cycle: float, macs_per_cycle: float) -> float:
        """A rough time estimate in cycles.

        Without double buffering transfers and compute take turns:
        ``dram_words / bandwidth + macs / throughput``. With double buffering
        they overlap, ideally: ``max(dram time, compute time)`` plus the first
        tiles' load and the last C tile's write-back, which cannot overlap.
        (A step-by-step pipeline can be slower when some steps load much more
        than others; this is the ideal-overlap estimate.)

        >>> r = Scratchpad(8192, 8192, 8192).gemm(256, 256, 256, 64, 64, 64)
        >>> r.estimate_cycles(dram_words_per_cycle=16, macs_per_cycle=1024)
        53248.0
        """
        bw = check_number("dram_words_per_cycle", dram_words_per_cycle, low=0, closed="neither")
        thr = check_number("macs_per_cycle", macs_per_cycle, low=0, closed="neither")
        transfer, compute = self.dram_words / bw, self.macs / thr
        if not self.double_buffer:
            return transfer + compute
        first = (min(self.tile_m, self.M) * min(self.tile_k, self.K)
                 + min(self.tile_k, self.K) * min(self.tile_n, self.N))
        last_c = min(self.tile_m, self.M) * min(self.tile_n, self.N)
        return max(transfer, compute) + (first + last_c) / bw

    def to_table(self) -> Table:
        """Words moved per operand as a :class:`~mini_accel.tables.Table` (``table()`` is its text).

        >>> print(Scratchpad(4096, 4096, 4096).gemm(128, 128, 128, 64, 64, 64).table())
        GEMM 128x128 @ 128x128, tiles 64x64x64, order mnk
        operand  dram_reads  dram_writes  array_reads  array_writes  needed_words  buffer_words
        -------  ----------  -----------  -----------  ------------  ------------  ------------
        A             32768            0        32768             0          4096          4096
        B             32768            0        32768             0          4096          4096
        C                 0        16384        16384         32768          4096          4096
        """
        cols = ["dram_reads", "dram_writes", "array_reads", "array_writes", "needed_words",
                "buffer_words"]
        rows = [[op] + [getattr(self, c).get(op, 0) for c in cols] for op in "ABC"]
        return Table(["operand", *cols], rows, digits=15,
                     title=f"GEMM {self.M}x{self.K} @ {self.K}x{self.N}, tiles {self.tile_m}x"
                           f"{self.tile_k}x{self.tile_n}, order {self.order}")

    def report(self) -> str:
        """A short text report: traffic per operand, and whether the tiles fit.

        >>> print(Scratchpad(64, 64, 64).gemm(8, 8, 8, 8, 8, 8).report().splitlines()[-1])
          all tiles fit in their buffers
        """
        lines = [
            f"GEMM {self.M}x{self.K} @ {self.K}x{self.N}, tiles {self.tile_m}x{self.tile_k}x"
            f"{self.tile_n} (m x k x n), loop order {self.order}, "
            f"double buffering {'on' if self.double_buffer else 'off'}: {self.steps} steps",
        ]
        table = self.to_table()
        table.title = None
        lines.extend("  " + line for line in table.to_text().splitlines())
        lines.append(f"  DRAM words {self.dram_words:,} (compulsory minimum "
                     f"{self.min_dram_words:,}), {self.intensity:.1f} MACs per DRAM word")
        if self.fits:
            lines.append("  all tiles fit in their buffers")
        else:
            lines.extend("  DOES NOT FIT: " + p for p in self.fit_problems)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Flat counts, e.g. for :class:`mini_accel.energy.EnergyModel`.

        >>> Scratchpad(64, 64, 64).gemm(8, 8, 8, 8, 8, 8).to_dict()["dram_words"]
        192
        """
        return {
            "M": self.M, "K": self.K, "N": self.N, "order": self.order,
            "tile_m": self.tile_m, "tile_k": self.tile_k, "tile_n": self.tile_n,
            "double_buffer": self.double_buffer, "fits": self.fits, "macs": self.macs,
            "steps": self.steps,
            **{f"dram_reads_{k}": v for k, v in self.dram_reads.items()},
            **{f"dram_writes_{k}": v for k, v in self.dram_writes.items()},
            **{f"array_reads_{k}": v for k, v in self.array_reads.items()},
            **{f"array_writes_{k}": v for k, v in self.array_writes.items()},
            "dram_words": self.dram_words, "buffer_accesses": self.buffer_accesses,
        }

    def __repr__(self) -> str:
        fit = "fits" if self.fits else "DOES NOT FIT"
        return (f"ScratchpadResult({self.M}x{self.K}x{self.N} tiles {self.tile_m}x{self.tile_k}x"
                f"{self.tile_n} {self.order}: dram_words={self.dram_words:,}, {fit})")


class Scratchpad:
    """Three on-chip buffers, one per GEMM operand, sized in words.

    Parameters
    ----------
    a_words, b_words, c_words : int
        Capacity of the A, B and C (output / partial-sum) buffers, in words.
    double_buffer : bool
        Each buffer holds two tiles (load the next while using the current).

    >>> Scratchpad(1024, 1024, 1024, double_buffer=True)
    Scratchpad(a_words=1024, b_words=1024, c_words=1024, double_buffer=True)
    """

    def __init__(self, a_words: int, b_words: int, c_words: int, double_buffer: bool = False):
        self.a_words = _int("a_words", a_words)
        self.b_words = _int("b_words", b_words)
        self.c_words = _int("c_words", c_words)
        self.double_buffer = check_bool("double_buffer", double_buffer)

    def __repr__(self) -> str:
        return (f"Scratchpad(a_words={self.a_words}, b_words={self.b_words}, "
                f"c_words={self.c_words}, double_buffer={self.double_buffer})")

    def gemm(self, M: int, K: int, N: int, tile_m: int, tile_k: int, tile_n: int,
             order: LoopOrder = "mnk", require_fit: bool = False) -> ScratchpadResult:
        """Count the words moved by a tiled ``(M, K) @ (K, N)`` GEMM.

        When a tile does not fit its buffer the counts are still computed (as
        if it did) and ``fits`` is False with the reason in ``fit_problems``;
        ``require_fit=True`` raises ``ValueError`` instead.

        >>> Scratchpad(64, 64, 64).gemm(16, 16, 16, 8, 8, 8, order="kmn").dram_reads
        {'A': 256, 'B': 512, 'C': 256}
        """
        M, K, N = _int("M", M), _int("K", K), _int("N", N)
        tm = min(_int("tile_m", tile_m), M)
        tk = min(_int("tile_k", tile_k), K)
        tn = min(_int("tile_n", tile_n), N)
        order = _check_order(order)
        require_fit = check_bool("require_fit", require_fit)
        copies = 2 if self.double_buffer else 1
        shapes = {"A": (tm, tk), "B": (tk, tn), "C": (tm, tn)}
        have = {"A": self.a_words, "B": self.b_words, "C": self.c_words}
        need = {op: r * c * copies for op, (r, c) in shapes.items()}
        problems = tuple(
            f"{op} tile {shapes[op][0]}x{shapes[op][1]} = {shapes[op][0] * shapes[op][1]:,} words"
            + (" x2 for double buffering" if copies == 2 else "")
            + f" = {need[op]:,} words > {op.lower()}_words = {have[op]:,}"
            for op in "ABC" if need[op] > have[op])
        if problems and require_fit:
            raise ValueError("the tiles do not fit: " + "; ".join(problems))

        trips = {"m": -(-M // tm), "k": -(-K // tk), "n": -(-N // tn)}
        r = _reload_factors(trips, order)
        size = {"A": M * K, "B": K * N, "C": M * N}
        dram_reads = {"A": r["A"] * size["A"], "B": r["B"] * size["B"],
                      "C": (r["C"] - 1) * size["C"]}
        dram_writes = {"C": r["C"] * size["C"]}
        array_reads = {"A": trips["n"] * size["A"], "B": trips["m"] * size["B"],
                       "C": (trips["k"] - 1) * size["C"]}
        array_writes = {"C": trips["k"] * size["C"]}
        per_operand_tiles = {"A": trips["m"] * trips["k"], "B": trips["k"] * trips["n"],
                             "C": trips["m"] * trips["n"]}
        tile_loads = {"A": r["A"] * per_operand_tiles["A"], "B": r["B"] * per_operand_tiles["B"],
                      "C": (r["C"] - 1) * per_operand_tiles["C"]}
        return ScratchpadResult(
            M=M, K=K, N=N, tile_m=tm, tile_k=tk, tile_n=tn, order=order,
            double_buffer=self.double_buffer, buffer_words=have, needed_words=need,
            dram_reads=dram_reads, dram_writes=dram_writes, array_reads=array_reads,
            array_writes=array_writes, tile_loads=tile_loads,
            steps=trips["m"] * trips["n"] * trips["k"], fit_problems=problems)
