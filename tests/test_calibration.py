"""Calibrators: min-max, percentile, MSE and TensorRT's KL-divergence (entropy).

Oracles: the TensorRT slide pseudocode and NVIDIA pytorch-quantization's loop,
both transcribed in tests/reference_quant.py; brute-force MSE on the raw data;
the slides' worked example; hand-computed KL values.
"""
import math

import numpy as np
import pytest
from reference_quant import entropy_divergences_nvidia, entropy_slides

from mini_accel.calibration import (
    Calibration,
    _mse_candidates,
    _qparams_for_range,
    _SortedMoments,
    abs_histogram,
    calibrate,
    entropy_amax,
    expand_merged_bins,
    kl_divergence_sweep,
    minmax_range,
    mse_range,
    percentile_range,
)
from mini_accel.quantizers import FLOAT32_EPS, quantize


def _random_histogram(rng, n=300, zero_fraction=0.2):
    h = rng.integers(0, 50, n).astype(np.int64)
    h[rng.random(n) < zero_fraction] = 0
    h[0] = max(h[0], 1)
    return h


# --------------------------------------------------------------------------- #
# Entropy: against the slides and NVIDIA's implementation
# --------------------------------------------------------------------------- #
def test_slides_worked_example():
    # Migacz, GTC 2017: P = [1, 0, 2, 3, 5, 3, 1, 7] merged into 2 levels [6, 16],
    # expanded over the non-empty bins: [6/3, 0, 6/3, 6/3, 16/4, 16/4, 16/4, 16/4]
    assert expand_merged_bins([1, 0, 2, 3, 5, 3, 1, 7], 2).tolist() == [2, 0, 2, 2, 4, 4, 4, 4]


def test_kl_by_hand():
    # i = 4 of 16 ones, 4 levels: P = [1, 1, 1, 13] / 16, Q = [1, 1, 1, 1] / 4
    # KL = 3/16 ln(1/4) + 13/16 ln(13/4)
    cand, kl = kl_divergence_sweep(np.ones(16), num_levels=4, start_bin=4)
    assert kl[0] == pytest.approx(3 / 16 * math.log(1 / 4) + 13 / 16 * math.log(13 / 4), rel=1e-12)
    # i = 8: each level holds 2 bins; P = [1]*7 + [9] over 16, Q = [1]*8 / 8
    # KL = 7/16 ln(8/16) + 9/16 ln(72/16)
    assert kl[4] == pytest.approx(7 / 16 * math.log(0.5) + 9 / 16 * math.log(4.5), rel=1e-12)
    # an empty last bin that receives the outliers makes KL infinite
    _, kl = kl_divergence_sweep([5, 5, 0, 3], num_levels=1, start_bin=2)
    assert kl.tolist() == [pytest.approx(_kl([5, 8], [5, 5])), math.inf]   # P=[5, 5+0+3], Q=[5, 5]


def _kl(p, q):
    p = np.asarray(p, float) / np.sum(p)
    q = np.asarray(q, float) / np.sum(q)
    return float(np.sum(p * np.log(p / q)))


@pytest.mark.parametrize("levels, start", [(8, 16), (16, 20), (128, 128)])
def test_kl_sweep_equals_slide_pseudocode(levels, start):
    rng = np.random.default_rng(levels)
    for _ in range(3):
        h = _random_histogram(rng, n=260)
        cand, kl = kl_divergence_sweep(h, levels, start)
        ref, _ = entropy_slides(h, levels, start)
        assert cand.tolist() == sorted(ref)
        expected = np.array([ref[i] for i in cand])
        finite = np.isfinite(expected)
        assert np.array_equal(np.isfinite(kl), finite)
        assert np.allclose(kl[finite], expected[finite], rtol=1e-10, atol=1e-13)


def test_kl_sweep_equals_nvidia_pytorch_quantization():
    rng = np.random.default_rng(11)
    for unsigned in (False, True):
        h = _random_histogram(rng, n=600, zero_fraction=0.3)
        theirs, _ = entropy_divergences_nvidia(h, num_bits=8, unsigned=unsigned,
                                               start_bin=128, suppress_zero_bin=False)
        levels = 256 if unsigned else 128
        cand, kl = kl_divergence_sweep(h, levels, 128)
        compared = 0
        for i, ours in zip(cand, kl):
            # NVIDIA groups bins with np.digitize on a float linspace; on the rare exact
            # boundary a float error can move one bin to the next group, so compare the
            # candidates where both groupings agree with exact integer arithmetic
            space = np.linspace(0, i, num=levels + 1)
            if np.array_equal(np.digitize(range(i), space) - 1, (np.arange(i) * levels) // i):
                assert ours == pytest.approx(theirs[i], rel=1e-10, abs=1e-13) or (
                    math.isinf(ours) and math.isinf(theirs[i]))
                compared += 1
        assert compared >= 0.9 * len(cand)


def test_entropy_threshold_is_bin_centre_of_argmin_like_the_slides():
    rng = np.random.default_rng(12)
    x = rng.laplace(size=30_000)
    amax, d = entropy_amax(x, bits=8, num_bins=512, start_bin=128)
    ref_div, ref_best = entropy_slides(d["counts"], 128, 128)
    width = d["edges"][1] - d["edges"][0]
    assert amax == pytest.approx(ref_best * width, rel=1e-12)
    assert d["best_bin"] == int(ref_best - 0.5)
    assert d["counts"].sum() == x.size and d["edges"][-1] == np.abs(x).max()


def test_entropy_levels_follow_bits_and_signedness():
    # pytorch-quantization: nbins = 1 << (num_bits - 1 + unsigned): 128, 256 or 8 levels
    x = np.abs(np.random.default_rng(13).standard_normal(5000))
    for bits, unsigned, levels in ((8, False, 128), (8, True, 256), (4, False, 8), (2, True, 4)):
        amax, d = entropy_amax(x, bits=bits, unsigned=unsigned, num_bins=400)
        _, ref_best = entropy_slides(d["counts"], levels, 128)
        assert amax == pytest.approx(ref_best * (d["edges"][1] - d["edges"][0]), rel=1e-12)


# --------------------------------------------------------------------------- #
# Min-max, percentile, MSE
# --------------------------------------------------------------------------- #
def test_minmax_and_percentile_by_hand():
    assert minmax_range([-1.0, 3.0]) == (-3.0, 3.0)
    assert minmax_range([-1.0, 3.0], "affine") == (-1.0, 3.0)
    assert minmax_range([0.5, 3.0], "unsigned") == (0.0, 3.0)
    assert percentile_range(np.arange(101.0), 90.0, "unsigned") == (0.0, 90.0)
    assert percentile_range(np.arange(-100.0, 101.0), 95.0) == (-95.0, 95.0)
    lo, hi = percentile_range(np.arange(-50.0, 151.0), 99.0, "affine")
    assert (lo, hi) == (-48.0, 148.0)                        # 1st and 99th percentiles
    with pytest.raises(ValueError, match="percentile"):
        percentile_range([1.0], 120)


def test_sorted_moments_error_equals_brute_force():
    rng = np.random.default_rng(14)
    for mode in ("symmetric", "unsigned", "affine"):
        x = rng.laplace(size=4000) + (0.3 if mode == "affine" else 0.0)
        if mode == "unsigned":
            x = np.abs(x)
        moments = _SortedMoments(x)
        for bits in (2, 4, 8):
            for lo, hi in ((-1.0, 2.0), (-4.0, 4.0), (-0.5, 0.7)):
                lo = 0.0 if mode == "unsigned" else lo
                qp = _qparams_for_range(lo, hi, bits, mode)
                q = quantize(x, qp).astype(np.float64)
                brute = np.sum((x - float(qp.scale) * (q - int(qp.zero_point))) ** 2)
                assert moments.squared_error(qp) == pytest.approx(brute, rel=1e-9)


@pytest.mark.parametrize("mode", ["symmetric", "affine", "unsigned"])
def test_mse_range_is_the_argmin_over_its_candidates(mode):
    rng = np.random.default_rng(15)
    x = rng.standard_t(4, size=3000)
    if mode == "unsigned":
        x = np.abs(x)
    bits = 4
    lo, hi = mse_range(x, bits, mode, num_candidates=64)
    lo0, hi0 = minmax_range(x, mode)
    amax = max(-lo0, hi0)
    errs = []
    for t in _mse_candidates(amax, np.abs(x), 64):
        qp = _qparams_for_range(lo0 * t / amax, hi0 * t / amax, bits, mode)
        q = quantize(x, qp).astype(np.float64)
        errs.append(np.mean((x - float(qp.scale) * (q - int(qp.zero_point))) ** 2))
    best = Calibration("mse", mode, bits, lo, hi).error(x)["mse"]
    assert best <= min(errs) * (1 + 1e-6)
    assert best <= Calibration("minmax", mode, bits, lo0, hi0).error(x)["mse"]


def test_mse_clips_a_lone_outlier():
    x = np.r_[np.linspace(-1, 1, 1001), 1.5]
    lo, hi = mse_range(x, bits=4)
    assert hi < 1.5 and lo == -hi


# --------------------------------------------------------------------------- #
# Heavy tails: entropy and percentile clip and beat min-max
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("bits, factor", [(8, 0.9), (4, 0.75)])
def test_heavy_tailed_entropy_and_percentile_beat_minmax(bits, factor):
    # Laplace: exponential tails, kurtosis 6. With 1e5 samples the max (~12 scale
    # units) is set by a handful of values; min-max spends levels on them. (Over
    # seeds 0-11 the error ratios to min-max were <= 0.89 at 8 bits and <= 0.70 at
    # 4 bits; this seed is fixed, so the test is deterministic.)
    x = np.random.default_rng(0).laplace(size=100_000)
    mm = calibrate(x, "minmax", bits)
    mm_err = mm.error(x)["mse"]
    for method in ("entropy", "percentile", "mse"):
        cal = calibrate(x, method, bits)
        assert cal.amax < mm.amax, method                                # it clips ...
        assert cal.error(x)["clipped"] > 0, method
        assert cal.error(x)["mse"] < factor * mm_err, method             # ... and wins


def test_heavy_tailed_student_t_at_4_bits():
    x = np.random.default_rng(17).standard_t(5, size=100_000)
    mm_err = calibrate(x, "minmax", 4).error(x)["mse"]
    for method in ("entropy", "percentile"):
        assert calibrate(x, method, 4).error(x)["mse"] < 0.5 * mm_err


# --------------------------------------------------------------------------- #
# Calibration objects and bad input
# --------------------------------------------------------------------------- #
def test_calibration_qparams():
    c = calibrate([-2.0, 1.0, 3.0], "minmax", 8)                      # symmetric, amax 3
    qp = c.qparams()
    assert (qp.qmin, qp.qmax, int(qp.zero_point)) == (-127, 127, 0)
    assert float(qp.scale) == float(np.float32(3) / np.float32(127))
    u = calibrate([0.0, 1.0, 4.0], "minmax", 8, "unsigned")
    assert int(u.qparams().zero_point) == 0 and u.qparams().qmax == 255
    s = u.qparams(signed=True)                                         # stored in int8
    assert (s.qmin, s.qmax, int(s.zero_point)) == (-128, 127, -128)
    assert float(s.scale) == float(u.qparams().scale) == float(np.float32(4) / np.float32(255))
    a = calibrate([-1.0, 3.0], "minmax", 8, "affine")
    assert int(a.qparams().zero_point) == -128 + 64                   # -128 - round(-1 / (4/255))
    z = calibrate(np.zeros(10), "entropy")
    assert z.amax == 0.0 and float(z.qparams().scale) == float(np.float32(FLOAT32_EPS))
    with pytest.raises(ValueError, match="signed"):
        c.qparams(signed=False)


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse", "entropy"])
def test_bad_calibration_data(method):
    with pytest.raises(ValueError, match="NaN"):
        calibrate([1.0, np.nan, 2.0], method)
    with pytest.raises(ValueError, match="inf"):
        calibrate([1.0, -np.inf], method)
    with pytest.raises(ValueError, match="empty"):
        calibrate([], method)
    with pytest.raises(ValueError, match="bits"):
        calibrate([1.0, 2.0], method, bits=1)
    with pytest.raises(ValueError, match="bits"):
        calibrate([1.0, 2.0], method, bits=17)
    with pytest.raises(ValueError, match="non-negative"):
        calibrate([-1.0, 2.0], method, mode="unsigned")
    with pytest.raises(TypeError, match="real numbers"):
        calibrate(["a", "b"], method)


def test_bad_calibration_options():
    with pytest.raises(ValueError, match="method"):
        calibrate([1.0], "kl")
    with pytest.raises(ValueError, match="mode"):
        calibrate([1.0], "minmax", mode="asymmetric")
    with pytest.raises(ValueError, match="entropy calibration"):
        calibrate([1.0, 2.0], "entropy", mode="affine")
    with pytest.raises(ValueError, match="start_bin"):
        calibrate([1.0, 2.0], "entropy", num_bins=128, start_bin=128)
    with pytest.raises(ValueError, match="num_bins"):
        abs_histogram([1.0], num_bins=1)
    with pytest.raises(ValueError, match="all calibration values are 0"):
        abs_histogram([0.0, 0.0])
    with pytest.raises(ValueError, match="num_candidates"):
        mse_range([1.0, 2.0], num_candidates=1)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        kl_divergence_sweep([1, -1, 2])
