"""Uniform quantizers: scale and zero point, per tensor or per channel.

A uniform (affine) quantizer maps a real value ``r`` to an integer ``q`` in
``[qmin, qmax]`` and back (Jacob et al. 2018, Eq. 1)::

    q = clamp(round(r / S) + Z, qmin, qmax)        quantize
    r' = S * (q - Z)                               dequantize
    fake_quant(r) = dequantize(quantize(r))        (float in, float out)

``S`` (scale, a positive real) is the step between neighbouring levels and
``Z`` (zero point, an integer) is the level that stands for real 0, so that 0
(zero padding, ReLU's output) is exact. *Symmetric* quantization fixes
``Z = 0`` for signed integers; *per-channel* quantization gives each slice
along one axis (each output channel of a weight matrix) its own ``S`` and ``Z``.

Scale and zero point from a range (PyTorch ``MinMaxObserver``)
--------------------------------------------------------------
:func:`qparams_from_range` computes exactly what PyTorch's observers compute
(``torch/ao/quantization/observer.py``, ``_calculate_qparams``), in float32
as PyTorch does::

    min_neg = min(min_val, 0);  max_pos = max(max_val, 0)     # 0 is always in range
    affine:     S = max((max_pos - min_neg) / (qmax - qmin), eps)
                Z = clamp(qmin - round(min_neg / S), qmin, qmax)
    symmetric:  S = max(max(-min_neg, max_pos) / ((qmax - qmin) / 2), eps)
                Z = 0 (signed), (qmin + qmax + 1) // 2 (unsigned; 128 for uint8),
                    (qmin + qmax) // 2 with a custom quant_min/quant_max

with ``eps = 2**-23`` (float32 machine epsilon) and ``round`` half to even.
``reduce_range=True`` drops one bit: [-64, 63] for int8, [0, 127] for uint8
(PyTorch does it to keep x86's ``vpmaddubsw`` from overflowing). PyTorch's
docstring says a constant tensor gives S = 1, Z = 0, but its code (and this
module) gives ``S = max(range / (qmax - qmin), eps)``; only an observer that
saw no data at all returns (1.0, 0).

:func:`quantize` uses the arithmetic of PyTorch's fake-quant kernels:
``round(float32(r) * float32(1 / S)) + Z`` with ties to even, so
:func:`fake_quant` equals ``torch.fake_quantize_per_tensor_affine`` (and
``..._per_channel_affine``) bit for bit. ``torch.quantize_per_tensor``
rounds ``r / S + Z`` as one float instead, which can differ by one level on
an exact tie when ``Z != 0``; it also clamps to the dtype's full range, not to
a ``reduce_range`` range.

Example
-------
>>> import numpy as np
>>> from mini_accel.quantizers import qparams_minmax, quantize, dequantize
>>> x = np.array([-1.0, 0.0, 0.25, 2.0])
>>> qp = qparams_minmax(x, dtype="quint8")                 # affine, [0, 255]
>>> round(float(qp.scale), 8), int(qp.zero_point)          # 3/255 and 0 - round(-1/S)
(0.01176471, 85)
>>> quantize(x, qp).tolist()                               # 0.25 / S = 21.25 -> 21, + 85
[0, 85, 106, 255]
>>> dequantize(quantize(x, qp), qp).astype(float).round(4).tolist()
[-1.0, 0.0, 0.2471, 2.0]
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import check_array, check_bool, check_instance, check_int, check_number, check_option
from .formats import INT_FORMATS, int_range

__all__ = [
    "FLOAT32_EPS",
    "MIN_BITS",
    "MAX_BITS",
    "QParams",
    "qrange",
    "qparams_from_range",
    "qparams_minmax",
    "quantize",
    "dequantize",
    "fake_quant",
    "quantization_error",
]

#: float32 machine epsilon, PyTorch observers' default floor for the scale.
FLOAT32_EPS = float(np.finfo(np.float32).eps)
#: Bit widths the quantizers accept.
MIN_BITS, MAX_BITS = 2, 16

# PyTorch dtype names and their (bits, signed); the registry's integer formats
# (mini_accel.formats.FORMATS) of MIN_BITS to MAX_BITS bits work too.
_DTYPES = {
    "quint8": (8, False), "qint8": (8, True), "quint4x2": (4, False),
    **{name: spec for name, spec in INT_FORMATS.items() if MIN_BITS <= spec[0] <= MAX_BITS},
}
QScheme = Literal["per_tensor_affine", "per_tensor_symmetric",
                  "per_channel_affine", "per_channel_symmetric"]
_QSCHEMES = QScheme.__args__


def _bits(bits, name: str = "bits") -> int:
    return check_int(name, bits, low=MIN_BITS, high=MAX_BITS)


def _samples(name: str, x, allow_empty: bool = False) -> np.ndarray:
    """``x`` as a finite real array, its dtype kept (size checked before any copy)."""
    return check_array(name, x, dtype=None, allow_empty=allow_empty)


def _axis(axis, ndim: int, name: str = "axis") -> int:
    if ndim == 0:
        raise ValueError(f"{name} needs an array with at least one dimension, got a scalar")
    return check_int(name, axis, low=-ndim, high=ndim - 1) % ndim


def qrange(bits: int = 8, signed: bool = True, reduce_range: bool = False,
           narrow: bool = False) -> tuple[int, int]:
    """Integer range ``(qmin, qmax)`` of a ``bits``-bit quantizer.

    ``reduce_range`` halves the range as PyTorch does (``qmin // 2, qmax // 2``);
    ``narrow`` drops the most negative signed level (``[-127, 127]`` for int8,
    as TensorRT and TFLite use for symmetric weights).

    >>> qrange(8), qrange(8, signed=False), qrange(8, reduce_range=True), qrange(4, narrow=True)
    ((-128, 127), (0, 255), (-64, 63), (-7, 7))
    """
    bits = _bits(bits)
    signed = check_bool("signed", signed)
    reduce_range = check_bool("reduce_range", reduce_range)
    narrow = check_bool("narrow", narrow)
    lo, hi = int_range(bits, signed, narrow=narrow)
    if reduce_range:
        lo, hi = lo // 2, hi // 2
    return lo, hi


def _storage_dtype(qmin: int, qmax: int) -> np.dtype:
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32):
        info = np.iinfo(dt)
        if info.min <= qmin and qmax <= info.max:
            return np.dtype(dt)
    return np.dtype(np.int64)


# --------------------------------------------------------------------------- #
# Quantization parameters
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, repr=False)
class QParams:
    """Scale, zero point and integer range of a uniform quantizer.

    ``scale`` and ``zero_point`` are 0-d arrays (per tensor) or 1-d arrays with
    one entry per slice along ``axis`` (per channel). ``qmin``/``qmax`` bound
    the integers; ``dtype`` is the numpy integer type that holds them (int4
    values live in int8).

    >>> qp = QParams(scale=0.5, zero_point=0, qmin=-8, qmax=7)
    >>> qp.quantize([1.2, -9.0, 100.0]).tolist()
    [2, -8, 7]
    """

    scale: np.ndarray
    zero_point: np.ndarray
    qmin: int
    qmax: int
    axis: int | None = None
    symmetric: bool = False

    def __post_init__(self):
        for name in ("qmin", "qmax"):
            object.__setattr__(self, name, check_int(name, getattr(self, name)))
        if not self.qmin < self.qmax:
            raise ValueError(f"qmin must be < qmax, got qmin={self.qmin}, qmax={self.qmax}")
        if self.qmax - self.qmin + 1 > 2 ** MAX_BITS or self.qmin < -(2 ** 31) or self.qmax >= 2 ** 32:
            raise ValueError(f"[qmin, qmax] = [{self.qmin}, {self.qmax}] needs more than "
                             f"{MAX_BITS} bits; quantizers take {MIN_BITS} to {MAX_BITS} bits")
        scale = np.asarray(self.scale, dtype=np.float64)
        if scale.ndim > 1 or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
            raise ValueError(f"scale must be positive and finite (a number or a 1-d array), "
                             f"got {self.scale!r}")
        zp_raw = np.asarray(self.zero_point)
        if zp_raw.dtype.kind == "f" and not np.all(zp_raw == np.round(zp_raw)):
            raise ValueError(f"zero_point must be an integer, got {self.zero_point!r}")
        if zp_raw.dtype.kind not in "iuf" or zp_raw.ndim > 1:
            raise TypeError(f"zero_point must be an int or a 1-d integer array, got {self.zero_point!r}")
        zp = zp_raw.astype(np.int64)
        if np.any(zp < self.qmin) or np.any(zp > self.qmax):
            raise ValueError(f"zero_point must lie in [qmin, qmax] = [{self.qmin}, {self.qmax}], "
                             f"got {self.zero_point!r}")
        if self.axis is None:
            if scale.ndim or zp.ndim:
                raise ValueError("per-tensor QParams (axis=None) need a scalar scale and zero_point; "
                                 "pass axis= for per-channel parameters")
        else:
            object.__setattr__(self, "axis", check_int("axis", self.axis))
            scale, zp = np.atleast_1d(scale), np.atleast_1d(zp)
            if zp.size == 1 and scale.size > 1:
                zp = np.full(scale.shape, zp[0])
            if scale.shape != zp.shape:
                raise ValueError(f"scale has {scale.size} channels but zero_point has {zp.size}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp)
        object.__setattr__(self, "symmetric", check_bool("symmetric", self.symmetric))

    @property
    def dtype(self) -> np.dtype:
        """Smallest numpy integer type holding [qmin, qmax]."""
        return _storage_dtype(self.qmin, self.qmax)

    @property
    def levels(self) -> int:
        """Number of integer levels, qmax - qmin + 1."""
        return self.qmax - self.qmin + 1

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    def clip_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest representable real value (per channel if per-channel)."""
        return (self.scale * (self.qmin - self.zero_point),
                self.scale * (self.qmax - self.zero_point))

    def quantize(self, x) -> np.ndarray:
        """Same as :func:`quantize` ``(x, self)``."""
        return quantize(x, self)

    def dequantize(self, q) -> np.ndarray:
        """Same as :func:`dequantize` ``(q, self)``."""
        return dequantize(q, self)

    def fake_quant(self, x) -> np.ndarray:
        """Same as :func:`fake_quant` ``(x, self)``."""
        return fake_quant(x, self)

    def __repr__(self) -> str:
        if self.axis is None:
            sz = f"scale={float(self.scale):.6g}, zero_point={int(self.zero_point)}"
        else:
            sz = f"axis={self.axis}, {self.scale.size} channels"
        kind = "symmetric" if self.symmetric else "affine"
        return f"QParams({sz}, range=[{self.qmin}, {self.qmax}], {kind})"


def qparams_from_range(min_val, max_val, bits: int = 8, signed: bool = True, *,
                       symmetric: bool = False, reduce_range: bool = False,
                       narrow: bool = False, quant_min: int | None = None,
                       quant_max: int | None = None, eps: float = FLOAT32_EPS,
                       axis: int | None = None) -> QParams:
    """Scale and zero point that map ``[min_val, max_val]`` onto the integer range.

    The formulas are PyTorch's (module docstring), evaluated in float32.

    Parameters
    ----------
    min_val, max_val : float or 1-d array
        The real range to cover (arrays: one entry per channel, with ``axis``).
    bits : int
        2 to 16.
    signed : bool
        Signed (two's complement) or unsigned integers.
    symmetric : bool
        Symmetric range around 0 (Z = 0 for signed) or affine.
    reduce_range : bool
        Use one bit less, as PyTorch's ``reduce_range``.
    narrow : bool
        Signed only: drop the most negative level (``[-127, 127]`` for 8 bits).
    quant_min, quant_max : int, optional
        A custom integer range (both or neither), as PyTorch's arguments of
        the same name; ``reduce_range`` then halves it too.
    eps : float
        Floor for the scale.
    axis : int, optional
        The channel axis the per-channel parameters belong to.

    Examples
    --------
    >>> qp = qparams_from_range(-1.0, 1.0, bits=8, symmetric=True)   # S = 1 / 127.5
    >>> float(qp.scale) == float(np.float32(1.0) / np.float32(127.5)), int(qp.zero_point)
    (True, 0)
    >>> qparams_from_range(0.0, 6.0, bits=4, signed=False).zero_point.item()
    0
    """
    bits = _bits(bits)
    symmetric = check_bool("symmetric", symmetric)
    custom = quant_min is not None or quant_max is not None
    if custom:
        if quant_min is None or quant_max is None:
            raise ValueError("give both quant_min and quant_max, or neither")
        quant_min, quant_max = check_int("quant_min", quant_min), check_int("quant_max", quant_max)
        if not quant_min <= 0 <= quant_max or quant_min >= quant_max:
            raise ValueError(f"need quant_min <= 0 <= quant_max and quant_min < quant_max, "
                             f"got [{quant_min}, {quant_max}]")
        if quant_max - quant_min + 1 > 2 ** bits:
            raise ValueError(f"[{quant_min}, {quant_max}] has more than 2**{bits} levels")
        qmin, qmax = int(quant_min), int(quant_max)
        if check_bool("reduce_range", reduce_range):
            qmin, qmax = qmin // 2, qmax // 2
    else:
        qmin, qmax = qrange(bits, signed, reduce_range, narrow)
    eps = check_number("eps", eps, low=0, high=1, closed="neither")
    if axis is not None:
        axis = check_int("axis", axis)

    lo = _samples("min_val", min_val)
    hi = _samples("max_val", max_val)
    if lo.shape != hi.shape or lo.ndim > 1:
        raise ValueError(f"min_val and max_val must be two numbers or two 1-d arrays of the same "
                         f"length, got shapes {lo.shape} and {hi.shape}")
    if lo.ndim == 1 and axis is None:
        raise ValueError("per-channel ranges (1-d min_val/max_val) need the channel axis: pass axis=")
    if np.any(lo > hi):
        raise ValueError(f"min_val must be <= max_val, got min_val={min_val!r}, max_val={max_val!r}")

    # float32 throughout, in the same order of operations as PyTorch.
    f32 = np.float32
    lo32, hi32 = lo.astype(f32), hi.astype(f32)
    min_neg = np.minimum(lo32, f32(0))
    max_pos = np.maximum(hi32, f32(0))
    eps32 = f32(eps)
    with np.errstate(over="ignore"):
        if symmetric:
            amax = np.maximum(-min_neg, max_pos)
            scale = np.maximum(amax / f32((qmax - qmin) / 2), eps32)
            if qmin < 0:
                zp = np.zeros(scale.shape, np.int64)
            else:
                # PyTorch: 128 for quint8, the rounded-down midpoint for a custom range
                mid = (qmin + qmax) // 2 if custom else (qmin + qmax + 1) // 2
                zp = np.full(scale.shape, mid, np.int64)
        else:
            scale = np.maximum((max_pos - min_neg) / f32(qmax - qmin), eps32)
            zp = qmin - np.rint(min_neg / scale).astype(np.int64)
            zp = np.clip(zp, qmin, qmax)
    if not np.all(np.isfinite(scale)):
        raise ValueError(f"the range [{min_val}, {max_val}] is too wide for float32 scales")
    return QParams(scale=scale.astype(np.float64), zero_point=zp, qmin=qmin, qmax=qmax,
                   axis=axis, symmetric=symmetric)


def qparams_minmax(x, dtype: str = "quint8", qscheme: QScheme = "per_tensor_affine",
                   reduce_range: bool = False, ch_axis: int = 0,
                   quant_min: int | None = None, quant_max: int | None = None,
                   eps: float = FLOAT32_EPS) -> QParams:
    """What ``torch.ao.quantization.MinMaxObserver`` (or ``PerChannelMinMaxObserver``) returns.

    Parameters mirror PyTorch's: ``dtype`` ``"quint8"`` (default) or
    ``"qint8"`` (also ``uint8, int8, uint4, int4, uint16, int16``);
    ``qscheme`` one of ``per_tensor_affine`` (default), ``per_tensor_symmetric``,
    ``per_channel_affine``, ``per_channel_symmetric``; ``ch_axis`` is the
    channel axis of the per-channel schemes. The data is cast to float32 first,
    as the observers do.

    Raises ValueError for NaN/inf or empty data, and for symmetric ``quint8``
    with ``reduce_range`` (PyTorch raises NotImplementedError there).

    Examples
    --------
    >>> qp = qparams_minmax([[-3.0, 1.0], [0.5, 6.0]], "qint8", "per_channel_symmetric", ch_axis=0)
    >>> (qp.scale * 127.5).round(6).tolist(), qp.zero_point.tolist()
    ([3.0, 6.0], [0, 0])
    """
    bits, signed = _DTYPES[check_option("dtype", dtype, tuple(_DTYPES))]
    qscheme = check_option("qscheme", qscheme, _QSCHEMES)
    symmetric = qscheme.endswith("symmetric")
    if symmetric and not signed and check_bool("reduce_range", reduce_range):
        raise ValueError("symmetric quantization of an unsigned dtype with reduce_range=True is "
                         "not supported (PyTorch raises NotImplementedError for it too)")
    arr = _samples("x", x).astype(np.float32)
    if qscheme.startswith("per_channel"):
        axis = _axis(ch_axis, arr.ndim, "ch_axis")
        flat = np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)
        if flat.shape[1] == 0:
            raise ValueError(f"x has no values per channel (shape {arr.shape})")
        lo, hi = flat.min(axis=1), flat.max(axis=1)
    else:
        axis = None
        lo, hi = arr.min(), arr.max()
    return qparams_from_range(lo, hi, bits, signed, symmetric=symmetric,
                              reduce_range=reduce_range, quant_min=quant_min,
                              quant_max=quant_max, eps=eps, axis=axis)


# --------------------------------------------------------------------------- #
# Quantize / dequantize
# --------------------------------------------------------------------------- #
def _check_qparams(qparams) -> QParams:
    return check_instance("qparams", qparams, QParams,
                          what="a QParams (see qparams_from_range)")


def _broadcast(qp: QParams, arr: np.ndarray, name: str):
    """scale and zero point shaped to broadcast against ``arr``."""
    if qp.axis is None:
        return qp.scale, qp.zero_point
    if arr.ndim == 0 or qp.axis >= arr.ndim:
        raise ValueError(f"per-channel QParams (axis={qp.axis}) need {name} with at least "
                         f"{qp.axis + 1} dimension(s), got shape {arr.shape}")
    if arr.shape[qp.axis] != qp.scale.size:
        raise ValueError(f"{name} has {arr.shape[qp.axis]} entries along axis {qp.axis} but the "
                         f"QParams have {qp.scale.size} channels")
    shape = [1] * arr.ndim
    shape[qp.axis] = -1
    return qp.scale.reshape(shape), qp.zero_point.reshape(shape)


def quantize(x, qparams: QParams) -> np.ndarray:
    """Real values to integers: ``clamp(round(x / S) + Z, qmin, qmax)``.

    Computed as PyTorch does: ``rint(float32(x) * float32(1 / S))`` (ties to
    even), then ``+ Z`` and saturation. Returns the smallest numpy integer type
    that holds ``[qmin, qmax]`` (int4 in int8).

    >>> qp = qparams_from_range(-1.0, 1.0, bits=4, narrow=True, symmetric=True)  # S = 1/7
    >>> quantize([-2.0, -0.6, 0.07, 0.08, 1.0], qp).tolist()   # -0.6 * 7 = -4.2
    [-7, -4, 0, 1, 7]
    """
    qp = _check_qparams(qparams)
    arr = _samples("x", x, allow_empty=True)
    scale, zp = _broadcast(qp, arr, "x")
    inv = (np.float32(1.0) / np.asarray(scale, dtype=np.float32)).astype(np.float32)
    with np.errstate(over="ignore"):
        scaled = arr.astype(np.float32) * inv        # float32 product, as PyTorch
    q = np.rint(scaled.astype(np.float64)) + zp
    return np.clip(q, qp.qmin, qp.qmax).astype(qp.dtype)


def dequantize(q, qparams: QParams) -> np.ndarray:
    """Integers to real values: ``S * (q - Z)``, as float32 (like PyTorch).

    >>> qp = QParams(scale=0.25, zero_point=-128, qmin=-128, qmax=127)
    >>> dequantize([-128, -127, 127], qp).tolist()
    [0.0, 0.25, 63.75]
    """
    qp = _check_qparams(qparams)
    arr = _samples("q", q, allow_empty=True)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise TypeError(f"q must hold integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < qp.qmin or arr.max() > qp.qmax):
        raise ValueError(f"q has values outside [qmin, qmax] = [{qp.qmin}, {qp.qmax}] "
                         f"(found {arr.min()} to {arr.max()})")
    scale, zp = _broadcast(qp, arr, "q")
    # (q - Z) * S is exact in float64 (<= 17-bit integer times a 24-bit scale),
    # so one cast to float32 rounds exactly once, like PyTorch's float32 product.
    return ((arr.astype(np.int64) - zp) * scale).astype(np.float32)


def fake_quant(x, qparams: QParams) -> np.ndarray:
    """``dequantize(quantize(x))``: the value the integer hardware really sees, as float32.

    >>> qp = qparams_from_range(0.0, 1.0, bits=2, signed=False)   # levels 0, 1/3, 2/3, 1
    >>> fake_quant([0.1, 0.2, 0.6, 5.0], qp).astype(float).round(4).tolist()
    [0.0, 0.3333, 0.6667, 1.0]
    """
    return dequantize(quantize(x, qparams), qparams)


def quantization_error(x, qparams: QParams) -> dict:
    """Error of ``fake_quant`` on ``x``: MSE, max abs error, SQNR in dB, clipped fraction.

    ``sqnr_db = 10 log10(mean(x**2) / MSE)`` (inf when there is no error).

    >>> qp = qparams_from_range(-1.0, 1.0, bits=8, symmetric=True, narrow=True)
    >>> err = quantization_error([0.0, 0.5, 2.0], qp)
    >>> round(err["max_abs"], 6), round(err["clipped"], 4)
    (1.0, 0.3333)
    """
    arr = _samples("x", x).astype(np.float64)
    xq = fake_quant(arr, qparams).astype(np.float64)
    diff = arr - xq
    mse = float(np.mean(diff ** 2))
    power = float(np.mean(arr ** 2))
    scale, zp = _broadcast(qparams, arr, "x")
    lo_r, hi_r = scale * (qparams.qmin - zp), scale * (qparams.qmax - zp)
    clipped = float(np.mean((arr < lo_r - 0.5 * scale) | (arr > hi_r + 0.5 * scale)))
    return {
        "mse": mse,
        "max_abs": float(np.max(np.abs(diff))),
        "sqnr_db": (math.inf if mse == 0 else
                    (10 * math.log10(power / mse) if power > 0 else -math.inf)),
        "clipped": clipped,
    }
