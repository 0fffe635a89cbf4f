"""Post-training calibration: pick a clipping range from sample activations.

A quantizer with ``2**bits`` levels must cover some range ``[lo, hi]``.
Covering every sample (min-max) wastes levels on rare outliers; clipping
them gives the bulk of the values a finer step at the price of a clipping
error on the outliers. The calibrators here choose that trade-off:

``minmax``
    ``[min x, max x]`` (symmetric: ``max |x|``). No clipping.
``percentile``
    The ``p``-th percentile of ``|x|`` (affine: the ``100-p`` and ``p``-th
    percentiles of ``x``); default ``p = 99.99`` as NVIDIA pytorch-quantization.
``mse``
    The threshold that minimizes the mean squared error between ``x`` and
    ``fake_quant(x)``, evaluated exactly on the data for a grid of candidate
    thresholds (``num_candidates`` evenly spaced up to ``max |x|``, plus as
    many quantiles of ``|x|`` from the median up, so that heavy tails are
    searched finely too).
``entropy``
    KL-divergence calibration as in TensorRT (Migacz, "8-bit Inference with
    TensorRT", GTC 2017, backup slide "Entropy Calibration - pseudocode"):

    1. histogram ``|x|`` into ``num_bins = 2048`` bins over ``[0, max |x|]``;
    2. for each candidate ``i`` in ``range(start_bin, num_bins)`` (128 ... 2047):
       the reference ``P`` is ``bins[0:i]`` with all outliers ``sum(bins[i:])``
       added to its last bin; the candidate ``Q`` merges ``bins[0:i]`` into
       ``num_levels`` groups (128 for signed 8-bit: ``2**(bits-1)``; unsigned:
       ``2**bits``) and spreads each group's count evenly over the group's
       *non-empty* bins, so empty bins stay empty; ``divergence[i] = KL(P||Q)``
       with both normalized;
    3. ``m = argmin divergence``, threshold ``(m + 0.5) * bin width``.

    Bin ``j`` of a candidate with ``i`` bins belongs to group
    ``floor(j * num_levels / i)`` (exact integer arithmetic). A candidate whose
    last bin is empty but has outliers folded into it gets ``KL = inf``.

Where the open implementations differ (read in their code):

======================  ====================================================
NVIDIA                  ``tools/pytorch-quantization/.../calib/histogram.py``:
pytorch-quantization    sets ``bins[0] = bins[1]`` to suppress the spike of
                        zeros; candidates run up to ``num_bins`` *inclusive*
                        (no clipping is a candidate); takes the *last*
                        argmin; threshold = the bin *edge* ``i * width``
                        (not ``(i + 0.5) * width``); the histogram grows
                        when a later batch has a larger max; KL via scipy.
MLPerf v0.5 TensorRT    histogram starts at 1024 bins and doubles; 127
                        coarse bins; threshold = the *centre* of the chosen
                        bin; the first (zero) bin is discarded.
MXNet / TVM             a *signed* histogram of 8001 bins over
                        ``[-max|x|, max|x|]`` grown outward from 0, 255
                        levels, outliers on both sides, and a smoothing of
                        ``P`` and ``Q`` (``eps = 1e-4`` moved to empty bins);
                        threshold = the right bin edge.
======================  ====================================================

The threshold conventions alone (centre, edge, ``+ 0.5``) move it by half a
bin to a bin, 1/2048 of the range. The other choices can move it much
further: the first vs the last argmin on a flat divergence curve, MXNet's
smoothing, and above all NVIDIA's ``bins[0] = bins[1]``. On the digits'
pixel values (17 distinct values, so bin 1 is empty) that rule empties the
zero bin, which holds about half of all pixels, and the sweep then clips the
input at 1/16 of its range (measured with this module's sweep on a histogram
so modified).

Modes
-----
``symmetric`` (default, TensorRT): range ``[-T, T]``, signed integers with
``Z = 0`` and the narrow range ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``,
so ``S = T / 127`` for 8 bits. ``unsigned``: range ``[0, T]`` for non-negative
data such as ReLU outputs, all ``2**bits`` levels (``S = T / 255``).
``affine``: range ``[lo, hi]`` with a zero point (minmax, percentile, mse).

Example
-------
>>> import numpy as np
>>> from mini_accel.calibration import calibrate
>>> rng = np.random.default_rng(0)
>>> x = rng.laplace(size=100_000)                   # heavier tails than a Gaussian
>>> mm, ent = calibrate(x, "minmax"), calibrate(x, "entropy")
>>> round(mm.amax, 2), round(ent.amax, 2)           # entropy clips the rare large values
(11.95, 9.57)
>>> bool(ent.error(x)["mse"] < mm.error(x)["mse"])  # and the finer step wins overall
True

Clipping is not always a win in mean squared error: KL calibration matches
the *shape* of the histogram, and on very heavy tails (Student-t with 3
degrees of freedom, log-normal) it clips more than the MSE optimum and can
do worse than min-max at 8 bits. At 4 bits, where the step is 16x coarser,
clipping pays off far more often.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ._checks import check_array, check_bool, check_int, check_number, check_option
from .quantizers import (
    QParams,
    _bits,
    _samples,
    fake_quant,
    qparams_from_range,
    quantization_error,
)

__all__ = [
    "METHODS",
    "MODES",
    "Calibration",
    "calibrate",
    "minmax_range",
    "percentile_range",
    "mse_range",
    "entropy_amax",
    "abs_histogram",
    "kl_divergence_sweep",
    "expand_merged_bins",
]

Method = Literal["minmax", "percentile", "mse", "entropy"]
Mode = Literal["symmetric", "unsigned", "affine"]
METHODS = Method.__args__
MODES = Mode.__args__


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def _calibration_data(x) -> np.ndarray:
    """Flattened float64 copy of the samples; rejects empty and non-finite data."""
    return _samples("x (calibration data)", x).astype(np.float64).ravel()


def _check_mode(mode, data: np.ndarray | None = None) -> str:
    mode = check_option("mode", mode, MODES)
    if mode == "unsigned" and data is not None and data.min() < 0:
        raise ValueError(
            f"mode='unsigned' is for non-negative data (e.g. after ReLU), but x has values down "
            f"to {data.min():.6g}; use mode='symmetric' or 'affine'"
        )
    return mode


def _num_levels(bits: int, unsigned: bool) -> int:
    """Quantized levels on the positive side: 2**(bits-1) signed, 2**bits unsigned."""
    return 1 << (bits - 1 + int(unsigned))


# --------------------------------------------------------------------------- #
# The calibrators
# --------------------------------------------------------------------------- #
def minmax_range(x, mode: Mode = "symmetric") -> tuple[float, float]:
    """``(min, max)`` of the data (symmetric: ``(-max|x|, max|x|)``; unsigned: ``(0, max)``).

    >>> minmax_range([-1.0, 3.0]), minmax_range([-1.0, 3.0], "affine")
    ((-3.0, 3.0), (-1.0, 3.0))
    """
    data = _calibration_data(x)
    mode = _check_mode(mode, data)
    if mode == "affine":
        return float(data.min()), float(data.max())
    amax = float(np.abs(data).max())
    return (0.0, amax) if mode == "unsigned" else (-amax, amax)


def percentile_range(x, percentile: float = 99.99, mode: Mode = "symmetric") -> tuple[float, float]:
    """Clip at a percentile: of ``|x|`` (symmetric, unsigned) or at both ends of ``x`` (affine).

    Percentiles are exact on the data (``numpy.percentile``, linear
    interpolation); pytorch-quantization reads them off its histogram instead.

    >>> percentile_range(np.arange(101.0), 90.0, "unsigned")
    (0.0, 90.0)
    """
    data = _calibration_data(x)
    mode = _check_mode(mode, data)
    p = check_number("percentile", percentile, low=50, high=100)
    if mode == "affine":
        lo, hi = np.percentile(data, [100.0 - p, p])
        return float(min(lo, 0.0)), float(max(hi, 0.0))
    amax = float(np.percentile(np.abs(data), p))
    return (0.0, amax) if mode == "unsigned" else (-amax, amax)


def _mse_candidates(amax: float, mags: np.ndarray, num_candidates: int) -> np.ndarray:
    linear = amax * np.arange(1, num_candidates + 1) / num_candidates
    tail = np.quantile(mags, np.linspace(0.5, 1.0, num_candidates))
    cand = np.unique(np.concatenate([linear, tail]))
    return cand[cand > 0]


class _SortedMoments:
    """Prefix sums of a sorted sample: count, sum and sum of squares below any cut."""

    def __init__(self, data: np.ndarray):
        self.x = np.sort(data)
        self.s1 = np.concatenate([[0.0], np.cumsum(self.x)])
        self.s2 = np.concatenate([[0.0], np.cumsum(self.x * self.x)])

    def squared_error(self, qp: QParams) -> float:
        """Sum of (x - fake_quant(x))**2, from the bins between decision boundaries.

        Level q (real value g = S (q - Z)) receives the samples in
        [S (q - Z - 1/2), S (q - Z + 1/2)), the end levels everything beyond;
        a bin's error is sum(x**2) - 2 g sum(x) + n g**2. Where a sample sits
        exactly on a boundary both neighbours are equally far, so the tie rule
        does not change the error.
        """
        S, Z = float(qp.scale), int(qp.zero_point)
        q = np.arange(qp.qmin, qp.qmax + 1, dtype=np.float64)
        g = S * (q - Z)
        cuts = np.searchsorted(self.x, S * (q[:-1] - Z + 0.5), side="left")
        idx = np.concatenate([[0], cuts, [self.x.size]])
        n = np.diff(idx).astype(np.float64)
        sx = np.diff(self.s1[idx])
        sxx = np.diff(self.s2[idx])
        return float(np.sum(sxx - 2.0 * g * sx + n * g * g))


def mse_range(x, bits: int = 8, mode: Mode = "symmetric",
              num_candidates: int = 256) -> tuple[float, float]:
    """Clipping range with the least mean squared quantization error on ``x``.

    Candidates are scaled copies of the min-max range, ``t * (lo, hi)`` for
    symmetric/unsigned/affine alike, with ``t * max|x|`` running over
    ``num_candidates`` evenly spaced values and as many quantiles of ``|x|``
    from the median to the max; the first minimum wins. Each candidate's
    error is exact: the data are sorted once, and the error of every
    quantization bin comes from prefix sums of ``x`` and ``x**2`` (the tests
    check it against ``fake_quant`` on the raw data), so a candidate costs
    ``O(2**bits log n)`` instead of ``O(n)``.

    >>> lo, hi = mse_range(np.r_[np.linspace(-1, 1, 1001), 1.5], bits=4)
    >>> bool(hi < 1.5)                    # the lone value at 1.5 is clipped
    True
    """
    bits = _bits(bits)
    data = _calibration_data(x)
    mode = _check_mode(mode, data)
    num_candidates = check_int("num_candidates", num_candidates, low=2, high=100_000)
    lo0, hi0 = minmax_range(data, mode)
    if mode == "affine":
        lo0, hi0 = min(lo0, 0.0), max(hi0, 0.0)
    amax = max(-lo0, hi0)
    if amax == 0.0:
        return 0.0, 0.0
    moments = _SortedMoments(data)
    cand = _mse_candidates(amax, np.abs(data), num_candidates)
    errors = np.array([
        moments.squared_error(_qparams_for_range(lo0 * t / amax, hi0 * t / amax, bits, mode))
        for t in cand
    ])
    best = cand[int(np.argmin(errors))] / amax
    return float(lo0 * best), float(hi0 * best)


def abs_histogram(x, num_bins: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of ``|x|`` with ``num_bins`` equal bins over ``[0, max|x|]``.

    Returns ``(counts int64, edges float64 of length num_bins + 1)``; the
    last bin includes ``max|x|`` (numpy's convention).

    >>> counts, edges = abs_histogram([-2.0, 0.1, 0.6, 1.0], num_bins=4)
    >>> counts.tolist(), edges.tolist()
    ([1, 1, 1, 1], [0.0, 0.5, 1.0, 1.5, 2.0])
    """
    data = _calibration_data(x)
    num_bins = check_int("num_bins", num_bins, low=2, high=1 << 20)
    mags = np.abs(data)
    amax = float(mags.max())
    if amax == 0.0:
        raise ValueError("all calibration values are 0; a histogram of |x| needs a non-zero value")
    counts, edges = np.histogram(mags, bins=num_bins, range=(0.0, amax))
    return counts.astype(np.int64), edges


def expand_merged_bins(bins, num_levels: int) -> np.ndarray:
    """Merge ``bins`` into ``num_levels`` groups and spread each group over its non-empty bins.

    This is the candidate distribution ``Q`` of the TensorRT slides (before
    normalization): bin ``j`` of ``n`` belongs to group ``floor(j * num_levels / n)``.
    The slides' worked example (8 bins into 2 levels):

    >>> expand_merged_bins([1, 0, 2, 3, 5, 3, 1, 7], 2).tolist()
    [2.0, 0.0, 2.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    """
    b = check_array("bins", bins, ndim=1, allow_empty=False, low=0)
    num_levels = check_int("num_levels", num_levels, low=1, high=1 << 20)
    n = b.size
    group = (np.arange(n, dtype=np.int64) * num_levels) // n
    nonempty = b > 0
    totals = np.bincount(group, weights=b, minlength=num_levels)
    filled = np.bincount(group, weights=nonempty, minlength=num_levels)
    per_bin = np.divide(totals, filled, out=np.zeros_like(totals), where=filled > 0)
    return np.where(nonempty, per_bin[group], 0.0)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(P || Q) of two count vectors, each normalized to sum 1 (natural log)."""
    p = p / p.sum()
    q = q / q.sum()
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def kl_divergence_sweep(counts, num_levels: int = 128,
                        start_bin: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """KL(P || Q) for every candidate ``i`` in ``range(start_bin, len(counts))``.

    Returns ``(candidates, divergences)``; see the module docstring for P and
    Q. Plot ``divergences`` against ``(candidates + 0.5) * bin_width`` to see
    where the entropy calibrator clips.

    >>> cand, kl = kl_divergence_sweep(np.ones(16), num_levels=4, start_bin=4)
    >>> cand[:3].tolist(), round(float(kl[0]), 4)
    ([4, 5, 6], 0.6977)

    (For ``i = 4``: P = [1, 1, 1, 1 + 12] / 16 and Q = [1, 1, 1, 1] / 4, so
    KL = 3/16 ln(1/4) + 13/16 ln(13/4) = 0.6977.)
    """
    bins = check_array("counts", counts, ndim=1, low=0, max_elements=1 << 16)
    if bins.size < 2 or bins.sum() == 0:
        raise ValueError(f"counts must be a histogram of at least 2 bins, not all zero, got {bins!r}")
    num_levels = check_int("num_levels", num_levels, low=1, high=1 << 20)
    start_bin = check_int("start_bin", start_bin, low=1, high=bins.size - 1)
    candidates = np.arange(start_bin, bins.size)
    divergences = np.empty(candidates.size)
    tail = np.concatenate([np.cumsum(bins[::-1])[::-1], [0.0]])  # tail[i] = sum(bins[i:])
    for k, i in enumerate(candidates):
        p = bins[:i].copy()
        p[-1] += tail[i]                      # outliers are clipped into the last bin
        q = expand_merged_bins(bins[:i], num_levels) if bins[:i].any() else np.zeros(i)
        divergences[k] = _kl(p, q) if q.sum() > 0 else math.inf
    return candidates, divergences


def entropy_amax(x, bits: int = 8, unsigned: bool = False, num_bins: int = 2048,
                 start_bin: int = 128) -> tuple[float, dict]:
    """TensorRT's KL-divergence threshold for ``|x|`` (module docstring, steps 1-3).

    Returns ``(threshold, details)`` where ``details`` holds the histogram
    ``counts`` and ``edges``, the ``candidates``, their ``divergences`` and
    the chosen ``best_bin``.

    >>> rng = np.random.default_rng(1)
    >>> t, d = entropy_amax(rng.laplace(size=50_000))
    >>> bool(0 < t < d["edges"][-1]), int(d["candidates"][0]), len(d["divergences"])
    (True, 128, 1920)
    """
    bits = _bits(bits)
    unsigned = check_bool("unsigned", unsigned)
    data = _calibration_data(x)
    if unsigned:
        _check_mode("unsigned", data)
    num_bins = check_int("num_bins", num_bins, low=2, high=1 << 16)
    start_bin = check_int("start_bin", start_bin, low=1, high=num_bins - 1)
    if np.abs(data).max() == 0.0:
        return 0.0, {"counts": None, "edges": None, "candidates": None,
                     "divergences": None, "best_bin": None}
    counts, edges = abs_histogram(data, num_bins)
    candidates, divergences = kl_divergence_sweep(counts, _num_levels(bits, unsigned), start_bin)
    m = int(candidates[int(np.argmin(divergences))])
    width = edges[1] - edges[0]
    return float((m + 0.5) * width), {
        "counts": counts, "edges": edges, "candidates": candidates,
        "divergences": divergences, "best_bin": m,
    }


# --------------------------------------------------------------------------- #
# One entry point
# --------------------------------------------------------------------------- #
def _qparams_for_range(lo: float, hi: float, bits: int, mode: str,
                       signed: bool | None = None) -> QParams:
    if mode == "symmetric":
        amax = max(-lo, hi)
        return qparams_from_range(-amax, amax, bits, True, symmetric=True, narrow=True)
    if signed is None:
        signed = mode == "affine"
    return qparams_from_range(lo, hi, bits, signed, symmetric=False)


@dataclass(frozen=True)
class Calibration:
    """A calibrated clipping range ``[lo, hi]`` and how it was found.

    ``details`` holds method-specific data (the entropy calibrator's histogram
    and divergence curve, for plotting).

    >>> c = Calibration("minmax", "symmetric", 8, -2.0, 1.0)
    >>> c.amax, int(c.qparams().qmax), c.fake_quant([0.5, 3.0]).astype(float).round(3).tolist()
    (2.0, 127, [0.504, 2.0])
    >>> round(c.error([0.5, 3.0])["clipped"], 2)
    0.5
    """

    method: str
    mode: str
    bits: int
    lo: float
    hi: float
    details: dict = field(default_factory=dict, repr=False)

    @property
    def amax(self) -> float:
        """Largest magnitude kept, ``max(-lo, hi)``."""
        return max(-self.lo, self.hi)

    def qparams(self, signed: bool | None = None) -> QParams:
        """Quantizer for this range.

        ``symmetric``: signed, ``Z = 0``, narrow range, ``S = amax / (2**(bits-1) - 1)``.
        ``unsigned``: ``S = hi / (2**bits - 1)``, stored unsigned (``Z = 0``) by
        default or, with ``signed=True``, in signed integers with ``Z = -2**(bits-1)``.
        ``affine``: signed by default, ``Z`` from the range (PyTorch formula).
        """
        if signed is not None:
            check_bool("signed", signed)
            if self.mode == "symmetric" and not signed:
                raise ValueError("a symmetric calibration is stored in signed integers")
        return _qparams_for_range(self.lo, self.hi, self.bits, self.mode, signed)

    def fake_quant(self, x) -> np.ndarray:
        """``x`` through this calibration's quantizer (float32)."""
        return fake_quant(x, self.qparams())

    def error(self, x) -> dict:
        """:func:`~mini_accel.quantizers.quantization_error` of ``x`` with this range."""
        return quantization_error(x, self.qparams())


def calibrate(x, method: Method = "entropy", bits: int = 8, mode: Mode = "symmetric", *,
              percentile: float = 99.99, num_bins: int = 2048, start_bin: int = 128,
              num_candidates: int = 256) -> Calibration:
    """Calibrate a clipping range on sample values ``x`` with one of :data:`METHODS`.

    Parameters
    ----------
    x : array_like
        Sample activations (any shape; flattened). Must be finite and non-empty.
    method : {"minmax", "percentile", "mse", "entropy"}
    bits : int
        Integer width, 2 to 16 (the entropy method's ``num_levels`` and the
        mse method's quantizer depend on it).
    mode : {"symmetric", "unsigned", "affine"}
        See the module docstring; ``entropy`` works on ``|x|`` and takes
        ``symmetric`` or ``unsigned`` only.
    percentile, num_bins, start_bin, num_candidates
        Options of the percentile, entropy and mse methods.

    Returns
    -------
    Calibration

    Examples
    --------
    >>> c = calibrate([0.0, 1.0, 2.0, 4.0], "minmax", bits=8, mode="unsigned")
    >>> c.lo, c.hi, round(float(c.qparams().scale), 6)       # 4 / 255
    (0.0, 4.0, 0.015686)
    """
    method = check_option("method", method, METHODS)
    bits = _bits(bits)
    data = _calibration_data(x)
    mode = _check_mode(mode, data)
    details: dict = {}
    if method == "minmax":
        lo, hi = minmax_range(data, mode)
    elif method == "percentile":
        lo, hi = percentile_range(data, percentile, mode)
        details["percentile"] = float(percentile)
    elif method == "mse":
        lo, hi = mse_range(data, bits, mode, num_candidates)
    else:
        if mode == "affine":
            raise ValueError("entropy calibration works on a histogram of |x| and picks one "
                             "threshold; use mode='symmetric' or mode='unsigned'")
        amax, details = entropy_amax(data, bits, mode == "unsigned", num_bins, start_bin)
        lo, hi = (0.0, amax) if mode == "unsigned" else (-amax, amax)
    return Calibration(method=method, mode=mode, bits=bits, lo=float(lo), hi=float(hi),
                       details=details)
