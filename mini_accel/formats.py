"""Number formats of AI accelerators: FP32, FP16, BF16, TF32 and small integers.

A binary floating-point format with ``e`` exponent bits and ``m`` mantissa
(fraction) bits stores a sign ``s``, a biased exponent field ``E`` and a
fraction field ``F``. With ``bias = 2**(e-1) - 1``::

    normal     (0 < E < 2**e - 1):  (-1)**s * (1 + F / 2**m) * 2**(E - bias)
    subnormal  (E == 0):            (-1)**s * (F / 2**m)     * 2**(1 - bias)
    inf / NaN  (E == 2**e - 1):     F == 0 -> +-inf, F != 0 -> NaN

so, in closed form (checked against ``numpy.finfo`` in the tests):

* largest finite value  ``(2 - 2**-m) * 2**bias``
* smallest normal       ``2**(1 - bias)``
* smallest subnormal    ``2**(1 - bias - m)``
* machine epsilon       ``2**-m`` (the gap between 1 and the next value)

=======  ====  ====  =========================================================
name     e     m     where it comes from
=======  ====  ====  =========================================================
fp32     8     23    IEEE 754 binary32
fp16     5     10    IEEE 754 binary16 (max 65504, min normal 2**-14,
                     min subnormal 2**-24; Micikevicius et al. 2018, Sec. 3.2)
bf16     8     7     bfloat16: FP32's exponent range with 8 bits of precision
                     (Google Cloud TPU documentation)
tf32     8     10    NVIDIA Ampere TensorFloat-32: a Tensor Core compute mode
                     (19 significant bits held in 32), not a storage type
=======  ====  ====  =========================================================

Rounding
--------
:func:`round_to_format` rounds any float array to a format's grid with
round-to-nearest-even (IEEE default; ties go to the even fraction), or by
truncation (round toward zero: drop the low bits, as early TensorFlow did
for FP32 -> BF16 by keeping the upper 16 bits). Overflow follows IEEE 754:
round-to-nearest-even overflows to +-inf, truncation saturates at the largest
finite value; inf and NaN are kept. The rounding is done once, from the
input's own value (a float64 input is not first rounded to float32).

What hardware does differs, which is why the knobs exist:

* Cloud TPU converts FP32 -> BF16 with round-to-nearest-even and *flushes
  subnormals to zero* (``flush_subnormals=True``); PyTorch's CPU conversion
  is round-to-nearest-even and keeps subnormals (the default here).
* TF32: TensorFlow's docs say inputs are "rounded" to 10 mantissa bits,
  PyTorch's notes say "only the first 10 bits of the input mantissa are
  read" (truncation). The two sources disagree (FLAG in the course's
  reference data), so ``to_tf32`` offers both; nearest-even is the default.

Integer formats (two's complement when signed): int4 [-8, 7], uint4 [0, 15],
int8 [-128, 127], uint8 [0, 255], int16, int32 (the accumulators).

Example
-------
>>> from mini_accel.formats import format_info, round_to_format, bit_string
>>> info = format_info("fp16")
>>> info.max, info.smallest_normal, info.smallest_subnormal, info.epsilon
(65504.0, 6.103515625e-05, 5.960464477539063e-08, 0.0009765625)
>>> float(round_to_format(1 + 2**-8, "bf16")[()])   # bf16 keeps 7 fraction bits
1.0
>>> bit_string(-2.5, "fp16")                         # sign | exponent | fraction
'1 10000 0100000000'
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from ._checks import check_array, check_bool, check_int, check_option, renamed_keyword

__all__ = [
    "NumberFormat",
    "FORMATS",
    "canonical_format",
    "formats_supported_by",
    "FLOAT_FORMATS",
    "INT_FORMATS",
    "FORMAT_NAMES",
    "FormatInfo",
    "format_info",
    "int_range",
    "round_to_format",
    "to_fp16",
    "to_bf16",
    "to_tf32",
    "encode",
    "decode",
    "bit_fields",
    "bit_string",
]

@dataclass(frozen=True)
class NumberFormat:
    """One number format, as every module of the library names it.

    ``accumulator`` is the format a MAC array sums products of this format in
    (int32 for the integers, fp32 for the floats, as on the TPU and NVIDIA's
    Tensor Cores); ``supported_by`` names the modules that model it (the
    registry is the one place that says so; each module asks it with
    :func:`formats_supported_by`).
    """

    name: str
    kind: str                   # "float" or "int"
    bits: int                   # storage bits (tf32 is a 19-bit compute mode held in 32)
    accumulator: str | None     # the format products are summed in
    aliases: tuple = ()
    supported_by: frozenset = frozenset()

    @property
    def bytes(self) -> float:
        """Storage bytes per value (0.5 for 4-bit formats)."""
        return self.bits / 8


def _fmt(name, kind, bits, acc, aliases=(), by=()):
    return NumberFormat(name, kind, bits, acc, tuple(aliases), frozenset(by))


#: The registry: every number format the library knows, and which modules model it.
#: ``formats``: rounding and bit views; ``energy``: the 45 nm MAC table (Horowitz
#: 2014); ``design``: the design-space model; ``devices``: catalog peaks;
#: ``llm``: weight and KV-cache storage; ``systolic``: the operand formats of the
#: MAC array (numpy int8/int16/int32, float16/float32 arrays; float64 is numpy's own).
FORMATS = {f.name: f for f in (
    _fmt("fp32", "float", 32, "fp32", ("float32", "single"),
         ("formats", "energy", "design", "devices", "llm", "systolic")),
    _fmt("tf32", "float", 32, "fp32", ("tensorfloat32", "tensorfloat-32"), ("formats", "devices")),
    _fmt("fp16", "float", 16, "fp32", ("float16", "half", "binary16"),
         ("formats", "energy", "design", "devices", "llm", "systolic")),
    _fmt("bf16", "float", 16, "fp32", ("bfloat16",), ("formats", "design", "devices", "llm")),
    _fmt("fp8", "float", 8, "fp32", (), ("devices", "llm")),
    _fmt("int32", "int", 32, "int32", (), ("formats", "energy", "systolic")),
    _fmt("int16", "int", 16, "int32", (), ("formats", "design", "systolic")),
    _fmt("uint16", "int", 16, "int32", (), ("formats",)),
    _fmt("int8", "int", 8, "int32", (), ("formats", "energy", "design", "devices", "llm", "systolic")),
    _fmt("uint8", "int", 8, "int32", (), ("formats",)),
    _fmt("int4", "int", 4, "int32", (), ("formats", "llm")),
    _fmt("uint4", "int", 4, "int32", (), ("formats",)),
)}


_FORMAT_ALIASES = {a: f.name for f in FORMATS.values() for a in f.aliases}


@functools.cache
def formats_supported_by(module: str) -> tuple:
    """Names of the formats ``module`` models, widest first as in :data:`FORMATS`.

    >>> formats_supported_by("energy")
    ('fp32', 'fp16', 'int32', 'int8')
    """
    return tuple(name for name, f in FORMATS.items() if module in f.supported_by)


def canonical_format(value, *, name: str = "precision", supported_by: str | None = None,
                     allowed: tuple | None = None) -> str:
    """The registry name of a number format (any case, aliases allowed), checked.

    ``supported_by`` limits it to the formats one module models; ``allowed``
    to an explicit tuple. A non-string is a TypeError, an unknown or
    unsupported name a ValueError that lists the choices.

    >>> canonical_format("BFloat16")
    'bf16'
    >>> canonical_format("bf16", supported_by="energy")
    Traceback (most recent call last):
    ...
    ValueError: precision must be one of ('fp32', 'fp16', 'int32', 'int8'), got 'bf16'
    """
    choices = allowed if allowed is not None else (
        formats_supported_by(supported_by) if supported_by is not None else tuple(FORMATS))
    if type(value) is str and value in choices:
        return value                      # the common case: already a registry name
    return check_option(name, value, choices, aliases=_FORMAT_ALIASES)


#: (exponent bits, mantissa bits) of each floating-point layout this module rounds to
#: (IEEE 754; bfloat16: Google Cloud TPU docs; TF32: NVIDIA A100 whitepaper).
_LAYOUTS = {"fp32": (8, 23), "fp16": (5, 10), "bf16": (8, 7), "tf32": (8, 10)}
_OWN = formats_supported_by("formats")
#: (exponent bits, mantissa bits) of the floating-point formats (from :data:`FORMATS`).
FLOAT_FORMATS = {n: _LAYOUTS[n] for n in _OWN if FORMATS[n].kind == "float"}
#: (bits, signed) of the integer formats (from :data:`FORMATS`; ``u...`` are unsigned).
INT_FORMATS = {n: (FORMATS[n].bits, not n.startswith("u")) for n in _OWN if FORMATS[n].kind == "int"}
_ALIASES = {a: n for a, n in _FORMAT_ALIASES.items() if n in _OWN}
#: Every format name this module takes (the registry's ``formats`` entries).
FORMAT_NAMES = _OWN

#: Option strings of :func:`round_to_format`.
Rounding = Literal["nearest_even", "truncate"]
ROUNDINGS = Rounding.__args__

_NOTES = {
    "fp32": "IEEE 754 binary32.",
    "fp16": "IEEE 754 binary16 (Micikevicius et al. 2018, Sec. 3.2).",
    "bf16": ("bfloat16: FP32 exponent range, 8 bits of precision. Cloud TPU rounds to "
             "nearest even and flushes subnormals to zero; PyTorch keeps subnormals."),
    "tf32": ("NVIDIA TensorFloat-32, a Tensor Core compute mode (stored in 32 bits). "
             "Subnormal handling and input rounding vs truncation are not stated "
             "consistently by the sources (FLAG)."),
    "int4": "two's complement 4-bit integer",
    "uint4": "unsigned 4-bit integer",
    "int8": "two's complement 8-bit integer (TPU v1, TensorRT, TFLite)",
    "uint8": "unsigned 8-bit integer (Jacob et al. 2018, gemmlowp)",
    "int16": "two's complement 16-bit integer",
    "uint16": "unsigned 16-bit integer",
    "int32": "two's complement 32-bit integer (MAC accumulators)",
}


def _canonical(precision) -> str:
    return canonical_format(precision, supported_by="formats")


def _float_format(precision) -> tuple[str, int, int]:
    name = _canonical(precision)
    if name not in FLOAT_FORMATS:
        raise ValueError(
            f"precision must be a floating-point format ({', '.join(FLOAT_FORMATS)}) here, "
            f"got the integer format {precision!r}"
        )
    e, m = FLOAT_FORMATS[name]
    return name, e, m


# --------------------------------------------------------------------------- #
# Format descriptions
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class FormatInfo:
    """What a number format can represent (see :func:`format_info`).

    For integer formats the float-only fields (``exponent_bits``,
    ``mantissa_bits``, ``smallest_normal``, ``smallest_subnormal``) are
    ``None`` and ``epsilon`` is the step between neighbouring values, 1.

    >>> info = format_info("int8")
    >>> info.kind, info.max, info.as_dict()["bytes"]
    ('int', 127.0, 1.0)
    """

    name: str
    kind: str                       # "float" or "int"
    bits: int                       # storage bits (tf32: the 19 that carry information)
    sign_bits: int
    exponent_bits: int | None
    mantissa_bits: int | None
    bias: int | None
    max: float                      # largest finite value
    min: float                      # most negative finite value
    smallest_normal: float | None
    smallest_subnormal: float | None
    epsilon: float                  # 2**-m for floats, 1 for integers
    decimal_digits: float           # log10(2**(m+1)) for floats; log10(2**bits) for integers
    bytes: float                    # storage per value (int4: 0.5)
    note: str

    def as_dict(self) -> dict:
        """The fields as a plain dict (e.g. for a table)."""
        return asdict(self)


@renamed_keyword("name", "precision")
def format_info(precision: str) -> FormatInfo:
    """Range, smallest normal/subnormal and machine epsilon of a number format.

    Parameters
    ----------
    precision : str
        One of ``fp32, fp16, bf16, tf32, int4, uint4, int8, uint8, int16,
        uint16, int32`` (aliases: float32, float16, half, bfloat16).

    Returns
    -------
    FormatInfo
        Values computed from the bit layout (module docstring formulas).

    Examples
    --------
    >>> info = format_info("bf16")
    >>> info.exponent_bits, info.mantissa_bits, info.epsilon
    (8, 7, 0.0078125)
    >>> format_info("int4").min, format_info("int4").max
    (-8.0, 7.0)
    """
    canon = _canonical(precision)
    if canon in FLOAT_FORMATS:
        e, m = FLOAT_FORMATS[canon]
        bias = 2 ** (e - 1) - 1
        largest = math.ldexp(2.0 - 2.0 ** -m, bias)
        storage = 32 if canon == "tf32" else 1 + e + m
        return FormatInfo(
            name=canon, kind="float", bits=1 + e + m, sign_bits=1,
            exponent_bits=e, mantissa_bits=m, bias=bias,
            max=largest, min=-largest,
            smallest_normal=math.ldexp(1.0, 1 - bias),
            smallest_subnormal=math.ldexp(1.0, 1 - bias - m),
            epsilon=math.ldexp(1.0, -m),
            decimal_digits=(m + 1) * math.log10(2.0),
            bytes=storage / 8, note=_NOTES[canon],
        )
    bits, signed = INT_FORMATS[canon]
    lo, hi = int_range(bits, signed)
    return FormatInfo(
        name=canon, kind="int", bits=bits, sign_bits=int(signed),
        exponent_bits=None, mantissa_bits=None, bias=None,
        max=float(hi), min=float(lo), smallest_normal=None, smallest_subnormal=None,
        epsilon=1.0, decimal_digits=bits * math.log10(2.0), bytes=bits / 8,
        note=_NOTES[canon],
    )


def int_range(bits: int, signed: bool = True, narrow: bool = False) -> tuple[int, int]:
    """Smallest and largest value of a ``bits``-bit integer.

    ``narrow=True`` drops the most negative signed value, giving the symmetric
    range ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` used for int8 weights by
    TensorRT and TFLite (Jacob et al. 2018 keep weights in [-127, 127]).

    >>> int_range(8), int_range(8, signed=False), int_range(4), int_range(8, narrow=True)
    ((-128, 127), (0, 255), (-8, 7), (-127, 127))
    """
    bits = check_int("bits", bits, low=1, high=64)
    narrow = check_bool("narrow", narrow)
    if check_bool("signed", signed):
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return (lo + 1 if narrow else lo), hi
    if narrow:
        raise ValueError("narrow=True only applies to signed integers")
    return 0, 2 ** bits - 1


# --------------------------------------------------------------------------- #
# Rounding to a floating-point grid
# --------------------------------------------------------------------------- #
def _as_float_array(x, name: str = "x") -> np.ndarray:
    """float64 copy of ``x``; NaN and inf are kept (checked for size before the copy)."""
    arr = check_array(name, x, dtype=None, finite=False)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        raise TypeError(f"{name} has dtype {arr.dtype}; use float64 or narrower")
    with np.errstate(invalid="ignore"):        # signalling NaNs stay NaN, quietly
        return arr.astype(np.float64)


def _round_grid(x64: np.ndarray, e: int, m: int, rounding: str, flush_subnormals: bool) -> np.ndarray:
    """Round float64 values to the (e, m) grid; returns float64 (exact values)."""
    bias = 2 ** (e - 1) - 1
    emin, emax = 1 - bias, bias
    largest = math.ldexp(2.0 - 2.0 ** -m, emax)
    shape = x64.shape
    x64 = x64.reshape(-1)
    out = x64.copy()
    finite = np.isfinite(x64) & (x64 != 0)
    xf = x64[finite]
    # Exponent of each value, clamped at emin: below it the grid spacing stays
    # fixed (the subnormal range), 2**(emin - m).
    _, k = np.frexp(xf)                          # xf = f * 2**k, 0.5 <= |f| < 1
    exp = np.maximum(k - 1, emin)
    # x / quantum is exact in float64 (quantum is a power of two) and is the
    # significand as an integer plus the dropped fraction.
    scaled = np.ldexp(xf, (m - exp).astype(np.int64))
    if rounding == "nearest_even":
        integral = np.rint(scaled)               # ties to even, like IEEE 754
    else:
        integral = np.trunc(scaled)              # toward zero: drop the low bits
    with np.errstate(over="ignore"):           # beyond float64: inf, handled below
        y = np.ldexp(integral, (exp - m).astype(np.int64))
    too_big = np.abs(y) > largest
    if rounding == "nearest_even":
        y[too_big] = np.copysign(np.inf, y[too_big])
    else:
        y[too_big] = np.copysign(largest, y[too_big])
    if flush_subnormals:
        tiny = np.abs(y) < math.ldexp(1.0, emin)
        y[tiny] = np.copysign(0.0, y[tiny])
    out[finite] = y
    return out.reshape(shape)


@renamed_keyword("fmt", "precision")
def round_to_format(x, precision: str = "bf16", rounding: Rounding = "nearest_even",
                    flush_subnormals: bool = False) -> np.ndarray:
    """Round values to a floating-point format's grid.

    Parameters
    ----------
    x : array_like
        Real numbers (any float or int dtype; NaN and +-inf are allowed and kept).
    precision : {"fp32", "fp16", "bf16", "tf32"}
        Target format (aliases such as ``"float16"`` or ``"bfloat16"`` work;
        the old keyword ``fmt=`` still does, with a DeprecationWarning).
    rounding : {"nearest_even", "truncate"}
        Round to nearest with ties to even (IEEE 754 default), or toward zero
        (drop the low mantissa bits).
    flush_subnormals : bool
        Replace results below the smallest normal by a signed zero, as Cloud
        TPU does for bf16.

    Returns
    -------
    numpy.ndarray
        float32 values (every value of these formats is exactly a float32),
        same shape as ``x``.

    Examples
    --------
    >>> round_to_format([1.0 + 2**-11, 1.0 + 3 * 2**-11, 70000.0], "fp16").tolist()
    [1.0, 1.001953125, inf]
    >>> round_to_format([1.0 + 2**-8 + 2**-20], "bf16", rounding="truncate").tolist()
    [1.0]
    """
    _, e, m = _float_format(precision)
    rounding = check_option("rounding", rounding, ROUNDINGS)
    flush_subnormals = check_bool("flush_subnormals", flush_subnormals)
    x64 = _as_float_array(x)
    return _round_grid(x64, e, m, rounding, flush_subnormals).astype(np.float32)


def to_fp16(x) -> np.ndarray:
    """Round to IEEE FP16 (nearest even), returned as ``numpy.float16``.

    Gives the same values as ``np.asarray(x).astype(np.float16)`` (the tests
    compare the two on every fp16 tie, subnormal and overflow boundary); it is
    written out with the general rule of :func:`round_to_format` so that the
    rule is visible.

    >>> to_fp16([0.1, 65519.0, 65520.0]).tolist()   # 65520 is the tie above 65504
    [0.0999755859375, 65504.0, inf]
    """
    return round_to_format(x, "fp16").astype(np.float16)


def to_bf16(x, rounding: Rounding = "nearest_even", flush_subnormals: bool = False) -> np.ndarray:
    """Round to bfloat16 (values returned in float32; see :func:`round_to_format`).

    >>> to_bf16([1.00390625]).tolist()                    # 1 + 2**-8: a tie, goes to even 1.0
    [1.0]
    >>> to_bf16([1.01171875]).tolist()                    # 1 + 3 * 2**-8: tie, goes to even 1 + 2**-6
    [1.015625]
    >>> to_bf16([1.01171875], rounding="truncate").tolist()
    [1.0078125]
    """
    return round_to_format(x, "bf16", rounding, flush_subnormals)


def to_tf32(x, rounding: Rounding = "nearest_even") -> np.ndarray:
    """Round to TF32's 10-bit mantissa (values in float32; input rounding is a FLAG, see module doc).

    >>> to_tf32([1.0001]).tolist()                        # the TensorFlow docs' example value
    [1.0]
    """
    return round_to_format(x, "tf32", rounding)


# --------------------------------------------------------------------------- #
# Bit-level views
# --------------------------------------------------------------------------- #
@renamed_keyword("fmt", "precision")
def encode(x, precision: str = "fp16", rounding: Rounding = "nearest_even") -> np.ndarray:
    """Bit pattern of each value in a floating-point format, as unsigned integers.

    The value is first rounded (:func:`round_to_format`). NaN encodes as the
    canonical quiet NaN (sign 0, exponent all ones, top fraction bit set): fp16
    0x7E00, bf16 0x7FC0 (as PyTorch), fp32 0x7FC00000. TF32 codes are the 19
    bits sign | exponent | 10-bit fraction.

    >>> [hex(v) for v in encode([1.0, -2.0, 65504.0, 2**-24], "fp16")]
    ['0x3c00', '0xc000', '0x7bff', '0x1']
    """
    name, e, m = _float_format(precision)
    y = round_to_format(x, name, rounding).astype(np.float64)
    shape = y.shape
    y = y.reshape(-1)
    bias = 2 ** (e - 1) - 1
    sign = np.signbit(y).astype(np.uint64)
    mag = np.abs(y)
    exp_field = np.zeros(y.shape, np.uint64)
    frac = np.zeros(y.shape, np.uint64)
    nan = np.isnan(y)
    inf = np.isinf(y)
    sign[nan] = 0
    exp_field[nan | inf] = 2 ** e - 1
    frac[nan] = 2 ** (m - 1)
    ok = np.isfinite(y) & (mag > 0)
    _, k = np.frexp(mag[ok])
    unbiased = k - 1
    normal = unbiased >= 1 - bias
    mant = np.where(normal,
                    np.ldexp(mag[ok], (m - unbiased).astype(np.int64)) - 2.0 ** m,
                    np.ldexp(mag[ok], m - (1 - bias)))
    exp_field[ok] = np.where(normal, unbiased + bias, 0).astype(np.uint64)
    frac[ok] = mant.astype(np.uint64)
    code = (sign << np.uint64(e + m)) | (exp_field << np.uint64(m)) | frac
    dtype = np.uint16 if e + m + 1 <= 16 else np.uint32
    return code.astype(dtype).reshape(shape)


@renamed_keyword("fmt", "precision")
def decode(code, precision: str = "fp16") -> np.ndarray:
    """Value of each bit pattern (inverse of :func:`encode`), as float32.

    >>> decode([0x3C00, 0x0001, 0x7C00, 0x7E00], "fp16").tolist()
    [1.0, 5.960464477539063e-08, inf, nan]
    """
    name, e, m = _float_format(precision)
    arr = check_array("code", code, dtype=None)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"code must hold integers (bit patterns), got dtype {arr.dtype}")
    width = 1 + e + m
    if arr.size and (arr.min() < 0 or int(arr.max()) >= 2 ** width):
        raise ValueError(f"code values must be in [0, 2**{width}) for {name}")
    c = arr.astype(np.uint64)
    sign = (c >> np.uint64(e + m)) & np.uint64(1)
    exp_field = ((c >> np.uint64(m)) & np.uint64(2 ** e - 1)).astype(np.int64)
    frac = (c & np.uint64(2 ** m - 1)).astype(np.float64)
    bias = 2 ** (e - 1) - 1
    normal = np.ldexp(1.0 + frac / 2.0 ** m, exp_field - bias)
    sub = np.ldexp(frac / 2.0 ** m, 1 - bias)
    special = np.where(frac == 0, np.inf, np.nan)
    mag = np.where(exp_field == 0, sub, np.where(exp_field == 2 ** e - 1, special, normal))
    return np.where(sign == 1, -mag, mag).astype(np.float32)


@renamed_keyword("fmt", "precision")
def bit_fields(x, precision: str = "fp16", rounding: Rounding = "nearest_even") -> dict:
    """Sign, biased exponent and fraction fields of each value, as integer arrays.

    Integer formats (``int8``, ``int4``, ...) give the two's complement
    ``code`` only. Their values must be whole numbers (NaN, inf and fractions
    are a ValueError: round them first); values beyond the range saturate.

    >>> f = bit_fields(-6.0, "bf16")
    >>> int(f["sign"]), int(f["exponent"]), int(f["mantissa"]), int(f["exponent"]) - f["bias"]
    (1, 129, 64, 2)
    """
    name = _canonical(precision)
    if name in INT_FORMATS:
        check_option("rounding", rounding, ROUNDINGS)
        bits, signed = INT_FORMATS[name]
        lo, hi = int_range(bits, signed)
        values = _as_float_array(x)
        whole = np.isfinite(values) & (values == np.rint(values))
        if not whole.all():
            bad = values[~whole].reshape(-1)[0]
            raise ValueError(f"x must hold whole numbers for the integer format {name}, got {bad!r}; "
                             "round it first (e.g. np.rint(x))")
        v = np.clip(values, lo, hi).astype(np.int64)
        return {"code": (v % (2 ** bits)).astype(np.uint64), "bits": bits, "value": v}
    _, e, m = _float_format(name)
    code = encode(x, name, rounding).astype(np.uint64)
    return {
        "sign": (code >> np.uint64(e + m)) & np.uint64(1),
        "exponent": (code >> np.uint64(m)) & np.uint64(2 ** e - 1),
        "mantissa": code & np.uint64(2 ** m - 1),
        "code": code,
        "bias": 2 ** (e - 1) - 1,
        "exponent_bits": e,
        "mantissa_bits": m,
    }


@renamed_keyword("fmt", "precision")
def bit_string(x: float, precision: str = "fp16", rounding: Rounding = "nearest_even") -> str:
    """One value's bits as text: ``'sign exponent fraction'`` (integers: two's complement).

    >>> bit_string(1.0, "fp32")
    '0 01111111 00000000000000000000000'
    >>> bit_string(-3, "int4"), bit_string(200, "uint8")
    ('1101', '11001000')
    """
    if np.ndim(x) != 0:
        raise ValueError(f"bit_string takes one number, got an array of shape {np.shape(x)}")
    f = bit_fields(x, precision, rounding)
    if "sign" not in f:
        return format(int(f["code"]), f"0{f['bits']}b")
    e, m = f["exponent_bits"], f["mantissa_bits"]
    return (f"{int(f['sign'])} {format(int(f['exponent']), f'0{e}b')} "
            f"{format(int(f['mantissa']), f'0{m}b')}")
