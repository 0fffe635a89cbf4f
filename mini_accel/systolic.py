"""A TPU-style systolic MAC array: exact results, cycle counts and operand traffic.

The machine
-----------
An ``rows x cols`` grid of processing elements (PEs). Each cycle a PE does at
most one multiply-accumulate (MAC) and passes its operands one PE onward:
inputs flow left to right, partial sums (or the second operand) top to bottom.
A GEMM ``A (M, K) @ B (K, N)`` is cut into array-sized tiles called *folds*.

``dataflow`` says which operand stays put in the PEs during a fold:

* ``"ws"`` weight-stationary (the TPU v1 MXU): PE(i, j) holds B[k0+i, n0+j];
  rows of A stream in from the left, one per cycle, skewed by one cycle per
  array row; partial sums flow down and leave the bottom row into
  accumulators. Folds: ceil(K/rows) * ceil(N/cols). Streamed length T = M.
* ``"is"`` input-stationary: PE(i, j) holds A[m0+j, k0+i]; columns of B stream
  in. The same machine as ``"ws"`` on the transposed problem B.T @ A.T.
  Folds: ceil(K/rows) * ceil(M/cols). T = N.
* ``"os"`` output-stationary: PE(i, j) owns out[m0+i, n0+j]; A enters from the
  left and B from the top, both skewed; when a fold is done the outputs
  shift down and out of the bottom row. Folds: ceil(M/rows) * ceil(N/cols). T = K.

Timing (see :func:`systolic_cycles` for the derivation): without double
buffering each fold costs ``2*rows + cols + T - 2`` cycles; with
``double_buffer=True`` the load of the next stationary tile (ws/is) or the
drain of the last outputs (os) overlaps the current fold and only one
``rows``-cycle load/drain stays exposed.

Arithmetic
----------
* int8 / int16 / int32 operands accumulate in **int32**, like the TPU's 32-bit
  accumulators. A sum that leaves the int32 range raises ``OverflowError``
  with ``overflow="raise"`` (the default); with ``overflow="wrap"`` it wraps
  modulo 2**32 (two's complement), which is what numpy's int32 matmul does and
  what a non-saturating accumulator does. The result dtype is int32.
* float16 and float32 operands accumulate in **float32** (a float16 product is
  exact in float32); float64 operands accumulate in **float64**. The additions
  happen in the hardware's order (down the array, then fold after fold into
  the accumulator), so float results equal numpy's exactly when every partial
  sum is representable, and otherwise agree to rounding.

Example
-------
>>> import numpy as np
>>> from mini_accel import SystolicArray
>>> A = np.arange(12, dtype=np.int8).reshape(3, 4)
>>> B = np.ones((4, 2), dtype=np.int8)
>>> res = SystolicArray(4, 4, dataflow="ws").matmul(A, B)
>>> res.output.tolist()
[[6, 6], [22, 22], [38, 38]]
>>> res.cycles, res.folds, res.macs   # 2*4 + 4 + 3 - 2 = 13
(13, 1, 24)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ._checks import check_bool, check_int, check_option, check_size
from ._core import load as _load_kernels

_kernels = _load_kernels("systolic")   # compiled, else the pure-numpy twin

DATAFLOWS = ("ws", "os", "is")
OVERFLOWS = ("raise", "wrap")
Dataflow = Literal["ws", "os", "is"]
#: Largest array side the simulator accepts (the TPU v1 MXU is 256).
MAX_ARRAY_SIDE = 4096
#: Largest array side for which :meth:`SystolicArray.trace` records every cycle.
MAX_TRACE_SIDE = 16
#: Largest number of (cycle, PE) slots a trace may hold (about 48 MB).
MAX_TRACE_SLOTS = 2_000_000
#: Most MACs one :meth:`SystolicArray.matmul` simulates (about 17 billion; the
#: closed forms take any size).
MAX_MATMUL_MACS = 2 ** 34

#: Operand dtypes the array multiplies, as the format registry names them; the
#: accumulator of each is the registry's (int32 for integers, fp32 for floats).
#: float64 is not a hardware format: it is accepted for exact reference runs and
#: accumulates in float64.
_REGISTRY_NAMES = {np.dtype(np.int8): "int8", np.dtype(np.int16): "int16",
                   np.dtype(np.int32): "int32", np.dtype(np.float16): "fp16",
                   np.dtype(np.float32): "fp32"}
_NUMPY_DTYPES = {"int32": np.dtype(np.int32), "fp32": np.dtype(np.float32)}
_INT_DTYPES = tuple(d for d in _REGISTRY_NAMES if d.kind == "i")
_FLOAT_DTYPES = tuple(d for d in _REGISTRY_NAMES if d.kind == "f") + (np.dtype(np.float64),)
_INT32 = np.iinfo(np.int32)


# --------------------------------------------------------------------------- #
# Validation helpers (the public boundary; the kernels trust their inputs)
# --------------------------------------------------------------------------- #
def _dims(M, K, N, rows, cols, dataflow) -> tuple:
    """The checked ``(M, K, N, rows, cols, dataflow)`` of the closed-form models."""
    return (check_int("M", M, low=1), check_int("K", K, low=1), check_int("N", N, low=1),
            check_int("rows", rows, low=1), check_int("cols", cols, low=1),
            check_option("dataflow", dataflow, DATAFLOWS))


def _check_operand(name: str, x) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be a 2-D numpy array, got {type(x).__name__}") from exc
    check_size(name, x.size)         # before any copy or scan of a (broadcast) view
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got an array with shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); every dimension must be >= 1")
    if x.dtype not in _INT_DTYPES + _FLOAT_DTYPES:
        raise TypeError(
            f"{name} has dtype {x.dtype}; the MAC array takes int8, int16 or int32 "
            "(accumulated in int32) or float16, float32 or float64. "
            f"Convert it first, e.g. {name}.astype(np.int32) or {name}.astype(np.float32)"
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(
            f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)}); "
            "the MAC array only takes finite numbers"
        )
    return x


def _accumulator_dtype(A: np.ndarray, B: np.ndarray) -> np.dtype:
    if (A.dtype.kind == "i") != (B.dtype.kind == "i"):
        raise TypeError(
            f"A is {A.dtype} but B is {B.dtype}: the MAC array multiplies two integer "
            "or two floating-point operands; cast one of them"
        )
    if np.dtype(np.float64) in (A.dtype, B.dtype):
        return np.dtype(np.float64)
    from .formats import FORMATS  # here: `import mini_accel` loads only this module (light import)
    widest = max((A.dtype, B.dtype), key=lambda d: d.itemsize)
    return _NUMPY_DTYPES[FORMATS[_REGISTRY_NAMES[widest]].accumulator]


def _check_shapes(A: np.ndarray, B: np.ndarray) -> tuple[int, int, int]:
    if A.shape[1] != B.shape[0]:
        raise ValueError(
            f"inner dimensions differ: A is {A.shape[0]}x{A.shape[1]} (M x K) and B is "
            f"{B.shape[0]}x{B.shape[1]} (K x N); A.shape[1] must equal B.shape[0]"
        )
    M, K, N = A.shape[0], A.shape[1], B.shape[1]
    if M * K * N > MAX_MATMUL_MACS:
        raise ValueError(f"A @ B is {M * K * N:,} MACs, more than the {MAX_MATMUL_MACS:,} "
                         "matmul() simulates; use systolic_cycles() and systolic_traffic() "
                         "for the counts of a GEMM this large")
    return M, K, N


def _int32_overflows(A: np.ndarray, B: np.ndarray) -> bool:
    """Whether A @ B leaves int32 (checked exactly, in int64, only when it can)."""
    K = A.shape[1]
    amax = int(np.abs(A.astype(np.int64)).max())
    bmax = int(np.abs(B.astype(np.int64)).max())
    if amax * bmax * K <= _INT32.max:
        return False
    exact = A.astype(np.int64) @ B.astype(np.int64)
    return bool(exact.max() > _INT32.max or exact.min() < _INT32.min)


# --------------------------------------------------------------------------- #
# Closed-form models
# --------------------------------------------------------------------------- #
def _geometry(M: int, K: int, N: int, rows: int, cols: int, dataflow: str):
    """(T, spatial rows extent, spatial cols extent) of the dataflow's mapping."""
    if dataflow == "ws":
        return M, K, N      # stream M rows of A; B tile is K x N
    if dataflow == "is":
        return N, K, M      # stream N columns of B; A.T tile is K x M
    return K, M, N          # os: stream K; outputs tile M x N


def systolic_folds(M: int, K: int, N: int, rows: int, cols: int, dataflow: Dataflow = "ws") -> int:
    """Number of array-sized tiles (folds) a GEMM is cut into.

    >>> systolic_folds(1024, 1024, 1024, 256, 256, "ws")
    16
    """
    M, K, N, R, C, df = _dims(M, K, N, rows, cols, dataflow)
    _, s_rows, s_cols = _geometry(M, K, N, R, C, df)
    return -(-s_rows // R) * -(-s_cols // C)


def systolic_cycles(M: int, K: int, N: int, rows: int, cols: int,
                    dataflow: Dataflow = "ws", double_buffer: bool = False) -> int:
    """Cycles to compute ``(M, K) @ (K, N)`` on a ``rows x cols`` array, in closed form.

    Derivation (R = rows, C = cols, T = streamed length: M for ws, N for is,
    K for os; F = number of folds, see :func:`systolic_folds`).

    One weight-stationary fold:

    1. *Load*: the tile is shifted in from the top edge, one row per cycle:
       R cycles (the TPU v1 needs 256 cycles for its 256x256 tile, Jouppi et
       al. 2017, Sec. 2). A partial tile is zero-padded and still takes R.
    2. *Stream*: row m of the streamed operand enters array row i at cycle
       m + i (the skew). PE(i, j) works on row m at cycle m + i + j, so the
       last row (m = T-1) reaches the bottom-right PE at cycle
       (T-1) + (R-1) + (C-1): the stream lasts T + R + C - 2 cycles, the
       (R-1) + (C-1) being fill and drain of the wavefront.

    So a fold costs R + (T + R + C - 2) = 2R + C + T - 2 cycles. Output-
    stationary has no load, but its fold ends with a drain: the finished
    outputs shift down and out of the bottom row in R cycles, which gives the
    same 2R + C + T - 2 with T = K. Folds run one after another::

        cycles = F * (2R + C + T - 2)                          (no double buffering)

    With ``double_buffer=True`` the stationary operand has a shadow register
    per PE: the next tile is shifted into the shadow copy while the current
    fold streams (ws/is), or the finished outputs move to a shadow chain and
    drain while the next fold computes (os). Only the first load (or the last
    drain) stays exposed::

        cycles = F * (T + R + C - 2) + R                        (double buffering)

    Two folds never share a register in the same cycle: a fold's wave starts
    after the previous wave has left the array.

    Relation to SCALE-Sim (Samajdar et al., "SCALE-Sim: Systolic CNN
    Accelerator Simulator", arXiv:1811.02883; checked against scalesim 3.0.0
    in ``tests/test_scalesim_parity.py``): its per-fold runtime is the same
    2*S_R + S_C + T - 2, with the same mapping of M, N, K to (S_R, S_C, T) per
    dataflow, full-array padding of partial folds and folds in sequence. The
    "Total Cycles" of its COMPUTE_REPORT is the 0-based index of the last
    cycle, so for ``"ws"`` and ``"is"`` it prints our count minus one. Where
    the models differ: (a) for ``"os"`` SCALE-Sim leaves out the R-cycle
    output drain, so it reports ``cycles - F*R - 1``; we count the drain
    because the next fold cannot reuse the accumulators before they are
    empty; (b) SCALE-Sim models no overlap of loads with compute, so our
    ``double_buffer=True`` has no counterpart there; (c) we model no SRAM or
    DRAM bandwidth stalls, which SCALE-Sim reports apart from compute cycles.

    >>> systolic_cycles(1024, 1024, 1024, 256, 256, "ws")   # 16 folds * 1790
    28640
    >>> systolic_cycles(1024, 1024, 1024, 256, 256, "ws", double_buffer=True)
    24800
    """
    M, K, N, R, C, df = _dims(M, K, N, rows, cols, dataflow)
    T = _geometry(M, K, N, R, C, df)[0]
    F = systolic_folds(M, K, N, R, C, df)
    if check_bool("double_buffer", double_buffer):
        return F * (T + R + C - 2) + R
    return F * (2 * R + C + T - 2)


def _tile_sizes(extent: int, tile: int) -> list[int]:
    """The tile sizes of one dimension, in order (only for small extents: see :func:`_tile_sum`)."""
    full, rest = divmod(extent, tile)
    return [tile] * full + ([rest] if rest else [])


def _tile_sum(extent: int, tile: int, f) -> int:
    """``sum(f(r) for r in _tile_sizes(extent, tile))`` without the list (any extent)."""
    full, rest = divmod(extent, tile)
    return full * f(tile) + (f(rest) if rest else 0)


def systolic_traffic(M: int, K: int, N: int, rows: int, cols: int,
                     dataflow: Dataflow = "ws") -> dict[str, int]:
    """Operand traffic of a GEMM on the array, in elements, in closed form.

    Keys: ``a_reads`` and ``b_reads`` (elements read from each operand's
    on-chip buffer into the array edge), ``out_writes`` (values written from
    the array into the accumulators/output buffer: one per output per K-fold
    for ws/is, one per output for os), and PE-to-PE hops of real (non-padding)
    values: ``a_hops``, ``b_hops``, ``out_hops`` (partial sums moving down for
    ws/is; finished outputs draining down for os). Streamed values cross every
    column (or row) of the array; padding is never counted.

    >>> systolic_traffic(4, 4, 4, 4, 4, "ws")["a_reads"]
    16
    """
    M, K, N, R, C, df = _dims(M, K, N, rows, cols, dataflow)
    if df == "os":
        m_folds, n_folds = -(-M // R), -(-N // C)
        # sum over fold tiles r x c of c * (r*(R-1) - r*(r-1)/2); the c's sum to N
        drain = N * _tile_sum(M, R, lambda r: r * (R - 1) - r * (r - 1) // 2)
        return {
            "a_reads": M * K * n_folds,
            "b_reads": K * N * m_folds,
            "out_writes": M * N,
            "a_hops": M * K * n_folds * (C - 1),
            "b_hops": K * N * m_folds * (R - 1),
            "out_hops": drain,
        }
    # ws and is: a stationary operand S (K x n_extent) and a streamed one (T x K).
    T, _, s_cols = _geometry(M, K, N, R, C, df)
    k_folds, c_folds = -(-K // R), -(-s_cols // C)
    streamed_reads = T * K * c_folds
    load_hops = s_cols * _tile_sum(K, R, lambda r: r * (r - 1) // 2)
    counts = {
        "stationary_reads": K * s_cols,
        "streamed_reads": streamed_reads,
        "out_writes": T * s_cols * k_folds,
        "streamed_hops": streamed_reads * (C - 1),
        "load_hops": load_hops,
        "out_hops": T * s_cols * k_folds * (R - 1),
    }
    a, b = ("streamed", "stationary") if df == "ws" else ("stationary", "streamed")
    return {
        "a_reads": counts[f"{a}_reads"],
        "b_reads": counts[f"{b}_reads"],
        "out_writes": counts["out_writes"],
        "a_hops": counts["streamed_hops"] if a == "streamed" else counts["load_hops"],
        "b_hops": counts["streamed_hops"] if b == "streamed" else counts["load_hops"],
        "out_hops": counts["out_hops"],
    }


# --------------------------------------------------------------------------- #
# Results
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, repr=False)
class SystolicResult:
    """What one GEMM on the array produced and cost.

    ``output`` is exactly ``A @ B`` (int32, float32 or float64, see the module
    docstring). ``utilization = macs / (rows * cols * cycles)``.

    >>> res = SystolicArray(2, 2).matmul(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8))
    >>> res.macs, res.cycles, res.utilization, res.pe_cycles     # 2*2 + 2 + 2 - 2 = 6 cycles
    (8, 6, 0.3333333333333333, 24)
    >>> res.to_dict()["a_reads"], res.pe_hops
    (4, 10)
    """

    output: np.ndarray
    cycles: int
    macs: int
    folds: int
    a_reads: int
    b_reads: int
    out_writes: int
    hops: dict = field(default_factory=dict)
    rows: int = 0
    cols: int = 0
    dataflow: str = "ws"
    double_buffer: bool = False
    shape: tuple = (0, 0, 0)

    @property
    def utilization(self) -> float:
        """Fraction of PE-cycles that did a useful MAC."""
        return self.macs / (self.rows * self.cols * self.cycles)

    @property
    def pe_cycles(self) -> int:
        """rows * cols * cycles: the PE-cycles the array spent."""
        return self.rows * self.cols * self.cycles

    @property
    def pe_hops(self) -> int:
        """All PE-to-PE moves of real values (sum of ``hops``)."""
        return sum(self.hops.values())

    def to_dict(self) -> dict:
        """The counts (not the output matrix) as a plain dict, e.g. for an energy model."""
        M, K, N = self.shape
        return {
            "M": M, "K": K, "N": N, "rows": self.rows, "cols": self.cols,
            "dataflow": self.dataflow, "double_buffer": self.double_buffer,
            "cycles": self.cycles, "macs": self.macs, "folds": self.folds,
            "utilization": self.utilization, "a_reads": self.a_reads,
            "b_reads": self.b_reads, "out_writes": self.out_writes,
            **{f"{k}_hops": v for k, v in self.hops.items()},
        }

    def __repr__(self) -> str:
        M, K, N = self.shape
        return (
            f"SystolicResult({M}x{K} @ {K}x{N} on {self.rows}x{self.cols} {self.dataflow}"
            f"{' double-buffered' if self.double_buffer else ''}: cycles={self.cycles}, "
            f"macs={self.macs}, folds={self.folds}, utilization={self.utilization:.3f})"
        )


@dataclass(frozen=True, repr=False)
class SystolicTrace:
    """Register contents of every PE at every cycle of a small GEMM.

    ``a``, ``b``, ``psum`` have shape ``(cycles, rows, cols)`` and hold float64
    values with NaN where the register holds nothing real (padding or empty).

    * ``a[t, i, j]``: the A value PE(i, j) works with at cycle t (held for
      ``"is"``, passing through for ``"ws"`` and ``"os"``).
    * ``b[t, i, j]``: the B value (the stationary weight for ``"ws"``, shown
      shifting in during a load; passing through for ``"os"`` and ``"is"``).
    * ``psum[t, i, j]``: the partial sum PE(i, j) sends down at cycle t
      (ws/is), or the accumulator it holds, then drains (os).

    ``phase[t]`` is ``"load"``, ``"stream"`` or ``"drain"`` and ``fold[t]`` the
    fold whose wave is in the array. With double buffering the shadow loads
    and drains overlap a stream and are not drawn. ``result`` is the matching
    :class:`SystolicResult`.

    >>> tr = SystolicArray(2, 2).trace(np.ones((1, 2), np.int8), np.ones((2, 2), np.int8))
    >>> tr.cycles, tr.phase[:3].tolist(), float(tr.frame(2)["psum"][0, 0])   # 2 loads, then PE(0, 0)
    (5, ['load', 'load', 'stream'], 1.0)
    """

    a: np.ndarray
    b: np.ndarray
    psum: np.ndarray
    phase: np.ndarray
    fold: np.ndarray
    result: SystolicResult

    @property
    def cycles(self) -> int:
        return self.a.shape[0]

    def frame(self, t: int) -> dict:
        """The registers at cycle ``t`` as a dict of (rows, cols) arrays (class example)."""
        t = check_int("t", t, low=0, high=self.cycles - 1)
        return {"a": self.a[t], "b": self.b[t], "psum": self.psum[t],
                "phase": str(self.phase[t]), "fold": int(self.fold[t])}


# --------------------------------------------------------------------------- #
# The array
# --------------------------------------------------------------------------- #
class SystolicArray:
    """A ``rows x cols`` systolic MAC array with a given dataflow.

    Parameters
    ----------
    rows, cols : int
        Array size, 1 to 4096 each (TPU v1: 256 x 256).
    dataflow : {"ws", "os", "is"}
        Which operand stays in the PEs during a fold (module docstring).
    double_buffer : bool
        Overlap the next stationary tile's load (or the last outputs' drain)
        with the current fold; see :func:`systolic_cycles`.
    overflow : {"raise", "wrap"}
        What an int32 accumulator overflow does: raise ``OverflowError``, or
        wrap around modulo 2**32 like a non-saturating hardware accumulator.

    >>> import numpy as np
    >>> arr = SystolicArray(2, 2, dataflow="os")
    >>> arr.matmul(np.eye(3, dtype=np.float32), np.ones((3, 3), np.float32)).cycles
    28
    """

    def __init__(self, rows: int, cols: int, dataflow: Dataflow = "ws",
                 double_buffer: bool = False, overflow: Literal["raise", "wrap"] = "raise"):
        self.rows = check_int("rows", rows, low=1, high=MAX_ARRAY_SIDE)
        self.cols = check_int("cols", cols, low=1, high=MAX_ARRAY_SIDE)
        self.dataflow = check_option("dataflow", dataflow, DATAFLOWS)
        self.double_buffer = check_bool("double_buffer", double_buffer)
        self.overflow = check_option("overflow", overflow, OVERFLOWS)

    def __repr__(self) -> str:
        return (f"SystolicArray({self.rows}, {self.cols}, dataflow={self.dataflow!r}, "
                f"double_buffer={self.double_buffer})")

    # -- public API ---------------------------------------------------------
    def cycles(self, M: int, K: int, N: int) -> int:
        """Closed-form cycles of an (M, K) @ (K, N) GEMM on this array.

        >>> SystolicArray(256, 256).cycles(1024, 1024, 1024)     # as systolic_cycles
        28640
        """
        return systolic_cycles(M, K, N, self.rows, self.cols, self.dataflow, self.double_buffer)

    def matmul(self, A, B) -> SystolicResult:
        """Multiply ``A (M, K) @ B (K, N)`` cycle by cycle; see :class:`SystolicResult`.

        >>> SystolicArray(2, 2, "os").matmul([[1.5, 2.0]], np.eye(2, dtype=np.float32)).output
        array([[1.5, 2. ]])
        """
        A, B, acc = self._prepare(A, B)
        M, K, N = A.shape[0], A.shape[1], B.shape[1]
        R, C = self.rows, self.cols
        if self.dataflow == "ws":
            out = np.zeros((M, N), acc)
            walked = _kernels.stationary_matmul(
                A, B, out, np.empty((R, M), acc), np.empty((M + C - 1, C), acc), R, C)
        elif self.dataflow == "is":
            out_t = np.zeros((N, M), acc)
            walked = _kernels.stationary_matmul(
                np.ascontiguousarray(B.T), np.ascontiguousarray(A.T), out_t,
                np.empty((R, N), acc), np.empty((N + C - 1, C), acc), R, C)
            out = np.ascontiguousarray(out_t.T)
        else:
            out = np.empty((M, N), acc)
            walked = _kernels.output_stationary_matmul(
                A, B, out, np.empty((M, K), acc), np.empty((K + C - 1, C), acc),
                np.empty((R, C), acc), R, C)
        return self._result(out, M, K, N, walked)

    def trace(self, A, B) -> SystolicTrace:
        """Run a small GEMM and record every PE register at every cycle.

        Arrays up to 16 x 16 and at most 2 million (cycle, PE) slots; see
        :class:`SystolicTrace` for an example.
        """
        if self.rows > MAX_TRACE_SIDE or self.cols > MAX_TRACE_SIDE:
            raise ValueError(
                f"trace() records every PE at every cycle and is limited to arrays up to "
                f"{MAX_TRACE_SIDE}x{MAX_TRACE_SIDE}; this array is {self.rows}x{self.cols}"
            )
        A_chk, B_chk = _check_operand("A", A), _check_operand("B", B)
        M, K, N = _check_shapes(A_chk, B_chk)
        cycles = self.cycles(M, K, N)
        if cycles * self.rows * self.cols > MAX_TRACE_SLOTS:
            raise ValueError(
                f"this trace would hold {cycles} cycles x {self.rows * self.cols} PEs, more than "
                f"{MAX_TRACE_SLOTS:,} slots; use smaller matrices for trace(), or matmul() for counts"
            )
        result = self.matmul(A, B)
        from ._register_trace import build_trace  # only needed here
        return build_trace(self, np.asarray(A_chk), np.asarray(B_chk), result)

    # -- internals ----------------------------------------------------------
    def _prepare(self, A, B):
        A, B = _check_operand("A", A), _check_operand("B", B)
        _check_shapes(A, B)
        acc = _accumulator_dtype(A, B)
        if acc.kind == "i" and self.overflow == "raise" and _int32_overflows(A, B):
            raise OverflowError(
                "A @ B leaves the int32 range of the accumulators; use smaller values, or "
                "SystolicArray(..., overflow='wrap') to model wrap-around accumulators"
            )
        # Contiguous copies in the accumulator type: the kernels never see views,
        # read-only buffers or foreign dtypes.
        return (np.ascontiguousarray(A, dtype=acc), np.ascontiguousarray(B, dtype=acc), acc)

    def _result(self, out, M, K, N, walked) -> SystolicResult:
        R, C, df = self.rows, self.cols, self.dataflow
        T, s_rows, s_cols = _geometry(M, K, N, R, C, df)
        row_folds, col_folds = -(-s_rows // R), -(-s_cols // C)
        folds = row_folds * col_folds
        # The kernel walked the real part of every fold's wave; the zero-padded
        # part of a partial tile adds (R - r) + (C - c) more cycles per fold.
        padding = (col_folds * _tile_sum(s_rows, R, lambda r: R - r)
                   + row_folds * _tile_sum(s_cols, C, lambda c: C - c))
        waves = walked + padding
        cycles = waves + (R if self.double_buffer else folds * R)
        traffic = systolic_traffic(M, K, N, R, C, df)
        return SystolicResult(
            output=out, cycles=cycles, macs=M * K * N, folds=folds,
            a_reads=traffic["a_reads"], b_reads=traffic["b_reads"],
            out_writes=traffic["out_writes"],
            hops={"a": traffic["a_hops"], "b": traffic["b_hops"], "out": traffic["out_hops"]},
            rows=R, cols=C, dataflow=df, double_buffer=self.double_buffer, shape=(M, K, N),
        )
