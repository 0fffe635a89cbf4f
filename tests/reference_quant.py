"""Slow, obvious references for the quantization chapter (used only by the tests).

Each one is written from its source, not from the library code:

* ``round_exact``: rounding of a real number to a binary float format with
  exact rational arithmetic (``fractions.Fraction``), from the IEEE 754
  definition of the format.
* ``bf16_bits_c10`` / ``bf16_bits_truncate`` / ``tf32_bits_round``: the
  bit tricks of PyTorch's ``c10/util/BFloat16.h`` (round-to-nearest-even via a
  rounding bias) and of early TensorFlow (keep the upper 16 bits).
* ``entropy_slides``: the pseudocode of Migacz, "8-bit Inference with
  TensorRT" (GTC 2017), backup slide "Entropy Calibration - pseudocode",
  as literal loops.
* ``entropy_divergences_nvidia``: NVIDIA pytorch-quantization's
  ``_compute_amax_entropy`` loop (calib/histogram.py), transcribed with
  numpy only (scipy.stats.entropy replaced by its definition).
* ``gemmlowp_*``: gemmlowp's ``SaturatingRoundingDoublingHighMul`` and
  ``RoundingDivideByPOT`` (fixedpoint.h) with Python integers and C's
  truncating division.
* ``torch_minmax_qparams``: PyTorch's ``_calculate_qparams`` formula in
  numpy float32, for machines without torch.
"""
from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import numpy as np


# --------------------------------------------------------------------------- #
# Floating-point formats
# --------------------------------------------------------------------------- #
def round_exact(x, e: int, m: int, rounding: str = "nearest_even") -> float:
    """x (float or Fraction) rounded to the IEEE-style format with e/m bits."""
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return x
    r = Fraction(x)
    if r == 0:
        return math.copysign(0.0, float(x)) if isinstance(x, float) else 0.0
    bias = 2 ** (e - 1) - 1
    emin = 1 - bias
    largest = (2 - Fraction(1, 2 ** m)) * Fraction(2) ** bias
    sign = -1 if r < 0 else 1
    a = abs(r)
    # exponent E with 2**E <= a < 2**(E+1), found by exact comparisons
    E = 0
    while Fraction(2) ** E > a:
        E -= 1
    while Fraction(2) ** (E + 1) <= a:
        E += 1
    E = max(E, emin)
    quantum = Fraction(2) ** (E - m)
    n = a / quantum
    if rounding == "nearest_even":
        k = round(n)                    # Fraction.__round__ is half to even
    else:
        k = math.floor(n)               # a > 0: toward zero
    y = k * quantum
    if y > largest:
        return sign * math.inf if rounding == "nearest_even" else float(sign * largest)
    out = float(sign * y)
    return out if out != 0 else math.copysign(0.0, sign)


def bf16_bits_c10(f32: np.ndarray) -> np.ndarray:
    """c10::BFloat16 round_to_nearest_even on float32 bit patterns (non-NaN inputs)."""
    u = f32.view(np.uint32).astype(np.uint64)
    rounding_bias = ((u >> 16) & 1) + 0x7FFF
    return ((u + rounding_bias) >> 16).astype(np.uint16)


def bf16_bits_truncate(f32: np.ndarray) -> np.ndarray:
    """Early TensorFlow FloatToBFloat16: the upper 16 bits."""
    return (f32.view(np.uint32) >> 16).astype(np.uint16)


def tf32_bits_round(f32: np.ndarray) -> np.ndarray:
    """The same rounding-bias trick dropping the low 13 of 23 mantissa bits, as float32."""
    u = f32.view(np.uint32).astype(np.uint64)
    rounding_bias = ((u >> 13) & 1) + 0xFFF
    return (((u + rounding_bias) >> 13) << 13).astype(np.uint32).view(np.float32)


# --------------------------------------------------------------------------- #
# Entropy calibration
# --------------------------------------------------------------------------- #
def _kl_from_counts(p, q) -> float:
    sp, sq = sum(p), sum(q)
    total = 0.0
    for pi, qi in zip(p, q):
        if pi == 0:
            continue
        if qi == 0:
            return math.inf
        total += (pi / sp) * math.log((pi / sp) / (qi / sq))
    return total


def entropy_slides(hist, num_levels: int = 128, start: int = 128):
    """The slide pseudocode. Returns (divergences by candidate i, threshold in bins)."""
    hist = [float(h) for h in hist]
    nbins = len(hist)
    divergence = {}
    for i in range(start, nbins):
        reference = hist[0:i]
        outliers = sum(hist[i:nbins])
        reference[i - 1] += outliers
        # quantize hist[0:i] into num_levels levels: bin j -> level floor(j * L / i)
        merged = [0.0] * num_levels
        members = [[] for _ in range(num_levels)]
        for j in range(i):
            level = (j * num_levels) // i
            merged[level] += hist[j]
            members[level].append(j)
        # expand back to i bins, keeping empty bins empty
        candidate = [0.0] * i
        for level in range(num_levels):
            nonempty = [j for j in members[level] if hist[j] != 0]
            for j in nonempty:
                candidate[j] = merged[level] / len(nonempty)
        if sum(candidate) == 0:
            divergence[i] = math.inf
            continue
        divergence[i] = _kl_from_counts(reference, candidate)
    best = min(divergence, key=lambda k: (divergence[k], k))
    return divergence, best + 0.5


def _rel_entr_sum(pk, qk) -> float:
    """scipy.stats.entropy(pk, qk): normalize both, sum rel_entr."""
    pk = np.asarray(pk, float)
    qk = np.asarray(qk, float)
    pk = pk / pk.sum()
    qk = qk / qk.sum()
    total = 0.0
    for x, y in zip(pk, qk):
        if x > 0 and y > 0:
            total += x * math.log(x / y)
        elif x > 0:
            return math.inf
    return total


def entropy_divergences_nvidia(calib_hist, num_bits: int = 8, unsigned: bool = False,
                               stride: int = 1, start_bin: int = 128,
                               suppress_zero_bin: bool = True):
    """NVIDIA pytorch-quantization's loop; returns {i: divergence} and the last argmin's i."""
    bins = np.array(calib_hist, dtype=np.int64)
    if suppress_zero_bin:
        bins[0] = bins[1]
    nbins = 1 << (num_bits - 1 + int(unsigned))
    stop = len(bins)
    new_density_counts = np.zeros(nbins, dtype=np.float64)
    out = {}
    for i in range(start_bin, stop + 1, stride):
        new_density_counts.fill(0)
        space = np.linspace(0, i, num=nbins + 1)
        digitized_space = np.digitize(range(i), space) - 1
        digitized_space[bins[:i] == 0] = -1
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density_counts[digitized] += bins[idx]
        counter = Counter(digitized_space)
        for key, val in counter.items():
            if key != -1:
                new_density_counts[key] = new_density_counts[key] / val
        new_density = np.zeros(i, dtype=np.float64)
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density[idx] = new_density_counts[digitized]
        reference_density = np.array(bins[:len(digitized_space)])
        reference_density[-1] += np.sum(bins[i:])
        out[i] = _rel_entr_sum(reference_density, new_density)
    keys = list(out)
    vals = np.array([out[k] for k in keys])
    last_argmin = len(vals) - 1 - int(np.argmin(vals[::-1]))
    return out, keys[last_argmin]


# --------------------------------------------------------------------------- #
# gemmlowp fixed point
# --------------------------------------------------------------------------- #
def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def gemmlowp_srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul(int32 a, int32 b)."""
    int32_min, int32_max = -(2 ** 31), 2 ** 31 - 1
    overflow = a == b and a == int32_min
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    high = _c_div(ab + nudge, 1 << 31)
    return int32_max if overflow else high


def gemmlowp_rdbpot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT(int32 x, int exponent)."""
    mask = (1 << exponent) - 1
    remainder = x & mask                # Python's & on negatives matches two's complement
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def gemmlowp_requant(acc: int, m0: int, shift: int) -> int:
    return gemmlowp_rdbpot(gemmlowp_srdhm(acc, m0), shift)


# --------------------------------------------------------------------------- #
# PyTorch MinMaxObserver formula (float32), for machines without torch
# --------------------------------------------------------------------------- #
_FLOAT32_EPS = np.finfo(np.float32).eps


def torch_minmax_qparams(min_val, max_val, qmin, qmax, symmetric, unsigned_dtype,
                         eps=_FLOAT32_EPS):
    f = np.float32
    min_neg = min(f(min_val), f(0))
    max_pos = max(f(max_val), f(0))
    if symmetric:
        amax = max(-min_neg, max_pos)
        scale = max(f(amax / f((qmax - qmin) / 2)), f(eps))
        zp = 128 if unsigned_dtype else 0
    else:
        scale = max(f((max_pos - min_neg) / f(qmax - qmin)), f(eps))
        zp = qmin - int(np.rint(f(min_neg / scale)))
        zp = min(max(zp, qmin), qmax)
    return float(scale), zp
