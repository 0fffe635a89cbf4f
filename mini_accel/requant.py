"""Integer-only inference arithmetic (Jacob et al., CVPR 2018, arXiv:1712.05877).

A quantized layer ``y = x @ W + b`` runs without any float at inference time:

1. ``x`` and ``W`` are 8-bit integers with real values ``S_x (q_x - Z_x)`` and
   ``S_w (q_w - Z_w)`` (Eq. 1). The MAC array multiplies the raw integers and
   accumulates in **int32** (Eq. 10); the zero points are corrected with row
   and column sums, ``2 N**2`` additions against the ``2 N**3`` of the core
   (Eq. 7-8)::

       acc = sum_k q_x q_w  -  Z_w sum_k q_x  -  Z_x sum_k q_w  +  K Z_x Z_w

2. The bias is an int32 with scale ``S_x S_w`` and zero point 0 (Eq. 11),
   added to the accumulator.
3. The only real number left, ``M = S_x S_w / S_y`` (Eq. 5; empirically in
   (0, 1)), is written ``M = 2**-n M0`` with ``M0`` in [0.5, 1) stored as the
   int32 nearest to ``2**31 M0`` (Eq. 6). Requantization is a fixed-point
   multiply by ``M0`` and a rounding right shift by ``n``, done here exactly as
   gemmlowp's ``SaturatingRoundingDoublingHighMul`` and ``RoundingDivideByPOT``
   (the paper's Appendix B points to them). Both round to nearest; on an
   exact tie the first rounds up (toward +inf, like ARM's ``VQRDMULH``) and
   the second away from zero.
4. Add ``Z_y``, saturate to the output range (int8: [-128, 127]); a fused ReLU
   is just a higher lower clamp, ``Z_y``.

Per-channel weight scales (one ``S_w`` per output column) give one ``M`` per
column, so ``M0`` and ``n`` become arrays; that needs ``Z_w = 0``
(symmetric weights), as in TFLite.

Anything that leaves int32 -- a core sum, the zero-point correction, the bias
addition -- raises ``OverflowError`` (or wraps modulo 2**32 with
``overflow="wrap"``, like a non-saturating accumulator).

Example
-------
>>> import numpy as np
>>> from mini_accel.requant import quantize_multiplier, requantize
>>> M0, n = quantize_multiplier(0.3)          # 0.3 = 0.6 * 2**-1
>>> M0, n, M0 / 2**31 * 2.0**-n
(1288490189, 1, 0.30000000004656613)
>>> requantize(np.array([100, -100, 1000]), M0, n, zero_point=-5).tolist()  # round(0.3 acc) - 5
[25, -35, 127]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import check_array, check_bool, check_instance, check_int, check_option
from .quantizers import QParams, _bits, _samples, _storage_dtype, qrange
from .systolic import SystolicArray, SystolicResult

__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "quantize_multiplier",
    "multiply_by_quantized_multiplier",
    "requantize",
    "quantize_bias",
    "integer_matmul",
    "IntegerLinear",
]

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
#: The array integer matmuls run on when none is given: TPU v1's 256 x 256
#: weight-stationary MXU (Jouppi et al. 2017).
DEFAULT_ARRAY_SHAPE = (256, 256)


Overflow = Literal["raise", "wrap"]


def _check_overflow_mode(overflow) -> str:
    return check_option("overflow", overflow, Overflow.__args__)


def _to_int32(values: np.ndarray, what: str, overflow: str) -> np.ndarray:
    """int64 values into int32: raise (or wrap) when they do not fit."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < INT32_MIN or v.max() > INT32_MAX):
        if overflow == "raise":
            raise OverflowError(
                f"{what} leaves the int32 range [{INT32_MIN}, {INT32_MAX}] "
                f"(found {int(v.min())} to {int(v.max())}); use smaller scales or fewer "
                "terms, or overflow='wrap' to model wrap-around accumulators"
            )
        v = (v - INT32_MIN) % (2 ** 32) + INT32_MIN
    return v.astype(np.int32)


def _int_array(name: str, x) -> np.ndarray:
    arr = check_array(name, x, dtype=None, allow_empty=False)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr


# --------------------------------------------------------------------------- #
# Fixed-point requantization
# --------------------------------------------------------------------------- #
def quantize_multiplier(M):
    """Write a real multiplier as ``M = M0 * 2**-31 * 2**-n`` (Jacob et al. Eq. 6).

    ``M0`` is the int32 nearest to ``2**31 * m`` where ``M = m * 2**-n`` and
    ``m`` in [0.5, 1), so ``2**30 <= M0 < 2**31``; ``n`` is a right shift in
    [0, 31]. Works on a number or a 1-d array (per-channel multipliers).

    Raises ValueError unless ``2**-32 <= M < 1 - 2**-32`` (the paper's M is
    in (0, 1); below 2**-32 every int32 accumulator would requantize to 0,
    and within 2**-32 of 1, ``M0`` would round to 2**31, which int32 cannot
    hold).

    >>> quantize_multiplier(0.5), quantize_multiplier(0.75), quantize_multiplier(2.0 ** -20)
    ((1073741824, 0), (1610612736, 0), (1073741824, 19))
    """
    m = check_array("M", M, ndim=(0, 1), allow_empty=False, finite=False)
    if not np.all(np.isfinite(m)) or np.any(m <= 0) or np.any(m >= 1):
        raise ValueError(
            f"the real multiplier M = S_in * S_w / S_out must be in (0, 1), got {M!r}; "
            "Jacob et al. found M in (0, 1) in practice. A larger output scale S_out "
            "(a wider output range) brings it below 1"
        )
    frac, exp = np.frexp(m)                      # m = frac * 2**exp, frac in [0.5, 1)
    m0 = np.rint(frac * 2.0 ** 31).astype(np.int64)
    shift = (-exp).astype(np.int64)
    carry = m0 == 2 ** 31                        # frac rounded up to 1.0
    m0 = np.where(carry, 2 ** 30, m0)
    shift = np.where(carry, shift - 1, shift)
    if np.any(shift < 0):
        raise ValueError(f"M = {M!r} is too close to 1 to be below 1 in fixed point")
    if np.any(shift > 31):
        raise ValueError(f"M = {M!r} is below 2**-32: every int32 accumulator would "
                         "requantize to 0; check the scales")
    if m.ndim == 0:
        return int(m0), int(shift)
    return m0, shift


def _check_multiplier(M0, shift):
    m0 = check_array("M0", M0, dtype=None)
    n = check_array("shift", shift, dtype=None)
    if m0.dtype.kind not in "iu" or n.dtype.kind not in "iu":
        raise TypeError("M0 and shift must be integers (from quantize_multiplier)")
    if np.any(m0 < 2 ** 30) or np.any(m0 >= 2 ** 31):
        raise ValueError(f"M0 must be in [2**30, 2**31) (M0 / 2**31 in [0.5, 1)), got {M0!r}")
    if np.any(n < 0) or np.any(n > 31):
        raise ValueError(f"shift must be in [0, 31], got {shift!r}")
    return m0.astype(np.int64), n.astype(np.int64)


def multiply_by_quantized_multiplier(acc, M0, shift) -> np.ndarray:
    """``round(acc * M0 / 2**31 / 2**shift)`` in integer arithmetic only (gemmlowp).

    Step 1, ``SaturatingRoundingDoublingHighMul(acc, M0)``: the high 32 bits
    of ``2 * acc * M0``, computed as ``(acc * M0 + nudge) / 2**31`` with C's
    truncating division and ``nudge = 2**30`` (``1 - 2**30`` for a negative
    product): round to nearest, an exact tie going up (-1.5 -> -1, 1.5 -> 2).
    Step 2, ``RoundingDivideByPOT(., shift)``: an arithmetic right shift
    rounded to nearest, ties away from zero (-1.5 -> -2).
    ``M0``/``shift`` may be arrays that broadcast against ``acc`` (per column).

    >>> M0, n = quantize_multiplier(0.25)
    >>> multiply_by_quantized_multiplier(np.array([2, 6, -2, -6, 7]), M0, n).tolist()
    [1, 2, -1, -2, 2]
    """
    a = _int_array("acc", acc).astype(np.int64)
    if a.min() < INT32_MIN or a.max() > INT32_MAX:
        raise OverflowError(f"acc must be int32 accumulators, found values from {a.min()} "
                            f"to {a.max()}")
    m0, n = _check_multiplier(M0, shift)
    prod = a * m0                                         # |prod| < 2**62: exact in int64
    nudge = np.where(prod >= 0, 1 << 30, 1 - (1 << 30))
    num = prod + nudge
    high = np.where(num >= 0, num >> 31, -((-num) >> 31))   # C division: toward zero
    mask = (np.int64(1) << n) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return ((high >> n) + (remainder > threshold)).astype(np.int64)


def requantize(acc, M0, shift, zero_point: int = 0, qmin: int = -128, qmax: int = 127,
               relu: bool = False) -> np.ndarray:
    """int32 accumulators to output integers: fixed-point multiply, ``+ Z``, saturate.

    ``relu=True`` clamps at ``max(qmin, zero_point)`` (real 0) instead of
    ``qmin``, which is how a fused ReLU costs nothing. Returns the smallest
    numpy integer type holding ``[qmin, qmax]``.

    >>> M0, n = quantize_multiplier(0.5)
    >>> requantize(np.array([-300, -3, 3, 300]), M0, n, zero_point=10).tolist()  # -1.5 -> -1
    [-128, 9, 12, 127]
    >>> requantize(np.array([-300, -3, 3, 300]), M0, n, zero_point=10, relu=True).tolist()
    [10, 10, 12, 127]
    """
    zero_point = check_int("zero_point", zero_point)
    qmin, qmax = check_int("qmin", qmin), check_int("qmax", qmax)
    if not qmin < qmax:
        raise ValueError(f"qmin must be < qmax, got [{qmin}, {qmax}]")
    if not qmin <= zero_point <= qmax:
        raise ValueError(f"zero_point {zero_point} is outside [qmin, qmax] = [{qmin}, {qmax}]")
    relu = check_bool("relu", relu)
    scaled = multiply_by_quantized_multiplier(acc, M0, shift)
    low = max(qmin, zero_point) if relu else qmin
    out = np.clip(scaled + zero_point, low, qmax)
    return out.astype(_storage_dtype(int(qmin), int(qmax)))


def quantize_bias(bias, input_scale, weight_scale, overflow: Overflow = "raise") -> np.ndarray:
    """Bias as int32 with scale ``S_x * S_w`` and zero point 0 (Jacob et al. Eq. 11).

    ``weight_scale`` may be one scale per output channel. Rounds to nearest
    (ties to even).

    >>> quantize_bias([0.5, -0.25], 0.1, np.array([0.01, 0.02])).tolist()   # 0.5 / 0.001, -0.25 / 0.002
    [500, -125]
    """
    b = _samples("bias", bias).astype(np.float64)
    s = check_array("input_scale", input_scale) * check_array("weight_scale", weight_scale)
    if np.any(s <= 0):
        raise ValueError("input_scale and weight_scale must be positive and finite")
    q = np.rint(b / s)
    if np.any(np.abs(q) > 2.0 ** 62):
        raise OverflowError("the bias is far outside the int32 range for these scales")
    return _to_int32(q.astype(np.int64), "the quantized bias", _check_overflow_mode(overflow))


# --------------------------------------------------------------------------- #
# Integer matmul on the MAC array
# --------------------------------------------------------------------------- #
def _operand_for_array(name: str, q) -> np.ndarray:
    arr = _int_array(name, q)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {arr.shape}")
    if arr.dtype in (np.dtype(np.int8), np.dtype(np.int16)):
        return arr
    lo, hi = int(arr.min()), int(arr.max())
    if -128 <= lo and hi <= 127:
        return arr.astype(np.int8)
    if -(2 ** 15) <= lo and hi < 2 ** 15:      # uint8 data (Jacob's scheme) rides in int16
        return arr.astype(np.int16)
    raise ValueError(f"{name} has values from {lo} to {hi}; the MAC array multiplies 8- or "
                     "16-bit integers")


def integer_matmul(q_a, q_b, a_zero_point: int = 0, b_zero_point: int = 0,
                   array: SystolicArray | None = None,
                   overflow: Overflow = "raise") -> tuple[np.ndarray, SystolicResult]:
    """``sum_k (q_a - Z_a)(q_b - Z_b)`` in int32, the core on a systolic MAC array.

    The array multiplies the raw integers (``q_a @ q_b``, int32 accumulators);
    the zero points are corrected afterwards with row and column sums
    (Jacob et al. Eq. 7-8). Returns ``(acc int32 (M, N), SystolicResult)``.

    Parameters
    ----------
    q_a : (M, K) integer array (int8, or uint8 / int16 values)
    q_b : (K, N) integer array
    a_zero_point, b_zero_point : int
    array : SystolicArray, optional
        Defaults to a 256 x 256 weight-stationary array (TPU v1) with the
        given ``overflow`` mode.
    overflow : {"raise", "wrap"}
        For the zero-point correction (the array has its own ``overflow``).

    >>> qa = np.array([[130, 125]], dtype=np.uint8); qb = np.array([[2], [-1]], dtype=np.int8)
    >>> acc, res = integer_matmul(qa, qb, a_zero_point=128)   # (130-128)*2 + (125-128)*(-1)
    >>> acc.tolist(), res.macs
    ([[7]], 2)
    """
    overflow = _check_overflow_mode(overflow)
    A = _operand_for_array("q_a", q_a)
    B = _operand_for_array("q_b", q_b)
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"inner dimensions differ: q_a is {A.shape} and q_b is {B.shape}")
    a_zero_point = check_int("a_zero_point", a_zero_point)
    b_zero_point = check_int("b_zero_point", b_zero_point)
    if array is None:
        array = SystolicArray(*DEFAULT_ARRAY_SHAPE, dataflow="ws", overflow=overflow)
    else:
        check_instance("array", array, SystolicArray)
    try:
        result = array.matmul(A, B)
    except OverflowError as exc:
        raise OverflowError(f"the int32 accumulators of q_a @ q_b overflow: {exc}") from exc
    K = A.shape[1]
    acc = result.output.astype(np.int64)
    za, zb = int(a_zero_point), int(b_zero_point)
    if za or zb:
        row_sums = A.astype(np.int64).sum(axis=1, keepdims=True)     # sum_k q_a  (M, 1)
        col_sums = B.astype(np.int64).sum(axis=0, keepdims=True)     # sum_k q_b  (1, N)
        acc = acc - zb * row_sums - za * col_sums + K * za * zb
    return _to_int32(acc, "the accumulator after the zero-point correction", overflow), result


# --------------------------------------------------------------------------- #
# A whole quantized dense layer
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, repr=False)
class IntegerLinear:
    """``y = x @ W + b`` in integer arithmetic only (int8 in, int32 accumulate, int8 out).

    Build it from float weights with :meth:`from_float`. Weights are
    symmetric (``Z_w = 0``), per output channel by default; the input and
    output use the given per-tensor :class:`~mini_accel.quantizers.QParams`.
    ``output_qparams=None`` keeps the int32 accumulators (with bias) as the
    result, to be dequantized with ``acc_scale`` -- what a classifier's last
    layer does before argmax.

    >>> qin, qout = QParams(0.5, 0, -128, 127), QParams(0.25, 0, -128, 127)
    >>> layer = IntegerLinear.from_float(np.array([[1.0], [-1.0]]), None, qin, qout, relu=True)
    >>> q_x = np.array([[4, 2], [2, 4]], dtype=np.int8)           # x = [2, 1] and [1, 2]
    >>> layer.forward(q_x)[0].tolist(), layer.reference(q_x).round(6).tolist()   # y = 1 -> 4 steps; ReLU(-1) = 0
    ([[4], [0]], [[4.0], [0.0]])
    >>> layer.accumulate(q_x)[0].tolist(), float(layer.acc_scale[0])     # acc = 127 (4 - 2)
    ([[254], [-254]], 0.003937007859349251)
    """

    weight_q: np.ndarray            # (K, N) int
    weight_scale: np.ndarray        # (N,) or ()
    bias_q: np.ndarray              # (N,) int32
    input_qparams: QParams
    output_qparams: QParams | None
    M0: np.ndarray | None
    shift: np.ndarray | None
    relu: bool = False

    @classmethod
    def from_float(cls, W, b, input_qparams: QParams, output_qparams: QParams | None,
                   weight_bits: int = 8, per_channel: bool = True, relu: bool = False,
                   weight_amax=None) -> IntegerLinear:
        """Quantize a float layer.

        Weights use the narrow symmetric range (``[-127, 127]`` for 8 bits)
        with ``S_w = max|W| / (2**(bits-1) - 1)`` per column (or per tensor),
        or ``weight_amax / (2**(bits-1) - 1)`` when a calibrated ``weight_amax``
        is given; larger weights saturate.

        >>> W = np.array([[0.5, -1.0], [0.25, 0.5]]); b = np.array([0.1, -0.2])
        >>> from mini_accel.quantizers import QParams
        >>> qin = QParams(1 / 64, 0, -128, 127); qout = QParams(1 / 32, 0, -128, 127)
        >>> layer = IntegerLinear.from_float(W, b, qin, qout)
        >>> layer.weight_q.tolist()
        [[127, -127], [64, 64]]
        >>> q_y, res = layer.forward(np.array([[64, 32]], dtype=np.int8))   # x = [1, 0.5]
        >>> q_y.tolist()              # y = [0.725, -0.95] is [23.2, -30.4] steps of 1/32
        [[23, -30]]
        """
        weight_bits = _bits(weight_bits, "weight_bits")
        per_channel = check_bool("per_channel", per_channel)
        W = _samples("W", W).astype(np.float64)
        if W.ndim != 2:
            raise ValueError(f"W must be a 2-D (in_features, out_features) matrix, got {W.shape}")
        b = np.zeros(W.shape[1]) if b is None else _samples("b", b).astype(np.float64)
        if b.shape != (W.shape[1],):
            raise ValueError(f"b must have shape ({W.shape[1]},), got {b.shape}")
        for name, qp in (("input_qparams", input_qparams), ("output_qparams", output_qparams)):
            if qp is None and name == "output_qparams":
                continue
            if not isinstance(qp, QParams) or qp.per_channel:
                raise TypeError(f"{name} must be a per-tensor QParams")
        qmin_w, qmax_w = qrange(weight_bits, signed=True, narrow=True)
        if weight_amax is None:
            amax = np.abs(W).max(axis=0) if per_channel else np.abs(W).max()
        else:
            amax = check_array("weight_amax", weight_amax)
            if per_channel and amax.ndim == 0:
                amax = np.full(W.shape[1], float(amax))
            if amax.shape != ((W.shape[1],) if per_channel else ()):
                raise ValueError(f"weight_amax must be a number (per tensor) or have shape "
                                 f"({W.shape[1]},) (per channel), got {amax.shape}")
            if np.any(amax < 0):
                raise ValueError("weight_amax must be >= 0")
        # float32 scales, like every other scale in the package; an all-zero
        # column gets scale 1 (its weights are 0 whatever the scale).
        w_scale = np.where(amax > 0, amax / qmax_w, 1.0).astype(np.float32).astype(np.float64)
        q_w = np.clip(np.rint(W / w_scale), qmin_w, qmax_w).astype(np.int8 if weight_bits <= 8
                                                                    else np.int16)
        s_x = float(input_qparams.scale)
        bias_q = quantize_bias(b, s_x, w_scale)
        if output_qparams is None:
            M0 = shift = None
        else:
            M0, shift = quantize_multiplier(s_x * w_scale / float(output_qparams.scale))
            M0, shift = np.asarray(M0), np.asarray(shift)
        return cls(q_w, w_scale, bias_q, input_qparams, output_qparams, M0, shift,
                   check_bool("relu", relu))

    @property
    def acc_scale(self) -> np.ndarray:
        """Real value of one accumulator unit, ``S_x * S_w`` (per column)."""
        return float(self.input_qparams.scale) * self.weight_scale

    def accumulate(self, q_x, array: SystolicArray | None = None,
                   overflow: Overflow = "raise") -> tuple[np.ndarray, SystolicResult]:
        """int32 ``sum (q_x - Z_x) q_w + bias``, the core on the MAC array."""
        q_x = _int_array("q_x", q_x)
        if q_x.ndim != 2 or q_x.shape[1] != self.weight_q.shape[0]:
            raise ValueError(f"q_x must have shape (batch, {self.weight_q.shape[0]}), got {q_x.shape}")
        qi = self.input_qparams
        if q_x.min() < qi.qmin or q_x.max() > qi.qmax:
            raise ValueError(f"q_x has values outside the input range [{qi.qmin}, {qi.qmax}]")
        acc, res = integer_matmul(q_x, self.weight_q, int(qi.zero_point), 0, array, overflow)
        total = acc.astype(np.int64) + self.bias_q.astype(np.int64)
        return _to_int32(total, "the accumulator plus bias", overflow), res

    def forward(self, q_x, array: SystolicArray | None = None,
                overflow: Overflow = "raise") -> tuple[np.ndarray, SystolicResult]:
        """Output integers (or the int32 accumulators if there are no output qparams)."""
        acc, res = self.accumulate(q_x, array, overflow)
        if self.output_qparams is None:
            return acc, res
        qo = self.output_qparams
        scaled = multiply_by_quantized_multiplier(acc, self.M0, self.shift)
        low = max(qo.qmin, int(qo.zero_point)) if self.relu else qo.qmin
        return np.clip(scaled + int(qo.zero_point), low, qo.qmax).astype(qo.dtype), res

    def reference(self, q_x) -> np.ndarray:
        """Float reference for the same integer inputs, in output units before rounding.

        ``(S_x (q_x - Z_x) @ S_w q_w + S_x S_w q_b) / S_y + Z_y`` in float64,
        clamped like :meth:`forward` but not rounded; the integer result is
        within one output step of it (the tests check it).
        """
        qi = self.input_qparams
        x = float(qi.scale) * (np.asarray(q_x, np.float64) - int(qi.zero_point))
        y = x @ (self.weight_scale * self.weight_q.astype(np.float64)) + self.acc_scale * self.bias_q
        if self.output_qparams is None:
            return y
        qo = self.output_qparams
        low = max(qo.qmin, int(qo.zero_point)) if self.relu else qo.qmin
        return np.clip(y / float(qo.scale) + int(qo.zero_point), low, qo.qmax)

    def __repr__(self) -> str:
        K, N = self.weight_q.shape
        out = "int32 accumulators" if self.output_qparams is None else f"{self.output_qparams}"
        return f"IntegerLinear({K} -> {N}, relu={self.relu}, out={out})"
