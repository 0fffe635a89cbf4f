"""The analog in-memory MAC model: exactness, converters, noise statistics, accuracy."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_analog import reference_analog_matmul

from mini_accel.analog import (
    AIHWKIT_DEFAULTS,
    analog_accuracy,
    analog_forward,
    analog_matmul,
    load_noise_table,
    pcm_programming_sigma,
)
from mini_accel.datasets import holdout_split, load_digits
from mini_accel.nn import Conv2d, Dense, Flatten, ReLU, Sequential, Softmax, accuracy, train_mlp


@pytest.fixture(scope="module")
def digits_mlp():
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = holdout_split(X / 16, y, seed=0)
    model = train_mlp(X_tr, y_tr, hidden=(64,), epochs=20, seed=0)
    return model, X_te, y_te


def _matrices(seed, M, K, N):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(M, K)), rng.normal(size=(K, N))


# --------------------------------------------------------------------------- #
# Exactness
# --------------------------------------------------------------------------- #
@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 6), K=st.integers(1, 8), N=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_no_noise_no_converters_is_the_exact_matmul(M, K, N, seed):
    A, W = _matrices(seed, M, K, N)
    np.testing.assert_allclose(analog_matmul(A, W), A @ W, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 6), K=st.integers(1, 8), N=st.integers(1, 6), seed=st.integers(0, 10**6),
       bits=st.integers(14, 24))
def test_enough_adc_bits_is_the_exact_matmul_within_half_a_step(M, K, N, seed, bits):
    A, W = _matrices(seed, M, K, N)
    y = analog_matmul(A, W, adc_bits=bits, adc_range="max")
    # The full scale is the largest |output| in array units (inputs / row max, weights / max|W|).
    alpha = np.abs(A).max(axis=1, keepdims=True)
    w_max = np.abs(W).max()
    full_scale = np.abs((A / alpha) @ (W / w_max)).max()
    half_step = full_scale / (2 ** bits - 2)          # step = 2 * full_scale / (2^b - 2)
    assert np.all(np.abs(y - A @ W) <= half_step * alpha * w_max * (1 + 1e-9) + 1e-12)


def test_matches_the_slow_reference_with_every_effect_on():
    A, W = _matrices(3, 5, 7, 4)
    A[2] = 0.0                                       # an all-zero row is not sent to the array
    opts = dict(prog_noise=0.05, read_noise=0.2, adc_bits=5, adc_range=2.0, dac_bits=4)
    got = analog_matmul(A, W, rng=42, **opts)
    # The library draws the programming noise (K x N) first, then the read noise (M x N).
    gen = np.random.default_rng(42)
    prog_eps, read_eps = gen.standard_normal(W.shape), gen.standard_normal((5, 4))
    want = reference_analog_matmul(A.tolist(), W.tolist(), prog_eps.tolist(), read_eps.tolist(), **opts)
    np.testing.assert_allclose(got, np.array(want), rtol=1e-12, atol=1e-12)
    assert np.all(got[2] == 0.0)


# --------------------------------------------------------------------------- #
# Converters
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_adc_with_b_bits_has_at_most_2_to_the_b_levels(bits):
    rng = np.random.default_rng(bits)
    A = np.ones((1, 64))                             # one row: the scale back is 1 * w_max
    W = rng.uniform(-1, 1, size=(64, 4000))
    W[0, 0] = 1.0                                    # w_max = 1: outputs are in array units
    y = analog_matmul(A, W, adc_bits=bits, adc_range=3.0)
    levels = np.unique(y)
    assert len(levels) <= 2 ** bits
    # the levels are the grid k * step, |k| <= 2^(b-1) - 1 (2^b - 1 of them, 0 included)
    step = 2 * 3.0 / (2 ** bits - 2)
    k = levels / step
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert np.abs(k).max() <= 2 ** (bits - 1) - 1
    # the sums of 64 uniform weights spread far beyond +-3: every level is used and clipping happens
    assert len(levels) == 2 ** bits - 1
    assert levels.min() == pytest.approx(-3.0) and levels.max() == pytest.approx(3.0)


@pytest.mark.parametrize("bits", [2, 3, 5])
def test_dac_rounds_each_input_to_its_grid(bits):
    rng = np.random.default_rng(0)
    A = rng.uniform(-2, 2, size=(50, 6))
    y = analog_matmul(A, np.eye(6), dac_bits=bits)          # the identity shows the inputs
    alpha = np.abs(A).max(axis=1, keepdims=True)
    k = y / alpha * (2 ** (bits - 1) - 1)
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert len(np.unique(np.round(k))) <= 2 ** bits - 1
    # and it is the nearest grid point: error at most half a step of the row's scale
    assert np.all(np.abs(y - A) <= 0.5 / (2 ** (bits - 1) - 1) * alpha + 1e-12)


def test_adc_range_clips():
    y = analog_matmul(np.ones((1, 10)), np.ones((10, 1)), adc_bits=8, adc_range=4.0)
    assert y[0, 0] == pytest.approx(4.0)              # the exact 10 is clipped at full scale
    assert analog_matmul(np.ones((1, 10)), np.ones((10, 1)), adc_bits=8, adc_range=12.0)[0, 0] == \
        pytest.approx(10.0, abs=12 / 254)


# --------------------------------------------------------------------------- #
# Noise statistics (closed forms from the module docstring)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("K", [4, 400])
def test_read_noise_std_is_read_noise_times_row_max_times_w_max_whatever_k(K):
    rng = np.random.default_rng(1)
    A = rng.uniform(-3, 3, size=(20000, K))
    W = rng.uniform(-0.5, 0.5, size=(K, 1))
    err = (analog_matmul(A, W, read_noise=0.1, rng=5) - A @ W)[:, 0]
    z = err / (0.1 * np.abs(A).max(axis=1) * np.abs(W).max())
    # 20,000 standard normal draws: the sample std is within 2% (7 sigma of its 0.5% error)
    assert abs(z.std() - 1.0) < 0.02 and abs(z.mean()) < 0.03


def test_gaussian_programming_noise_std_is_prog_noise_times_w_max_times_input_norm():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(1, 50))
    W = rng.uniform(-2, 2, size=(50, 20000))
    err = (analog_matmul(x, W, prog_noise=0.03, rng=7) - x @ W)[0]
    expected = 0.03 * np.abs(W).max() * np.linalg.norm(x)
    assert abs(err.std() / expected - 1.0) < 0.02 and abs(err.mean()) < 0.03 * expected


def test_programming_noise_is_linear_in_its_scale_for_a_fixed_seed():
    A, W = _matrices(4, 8, 16, 8)
    e1 = analog_matmul(A, W, prog_noise=0.01, rng=9) - A @ W
    e3 = analog_matmul(A, W, prog_noise=0.03, rng=9) - A @ W
    np.testing.assert_allclose(e3, 3 * e1, rtol=1e-9, atol=1e-12)


def test_pcm_programming_noise_matches_the_polynomial_and_the_clipped_off_device():
    # Every weight is +1: G+ = g_max (sigma s1), G- = 0 (sigma s0, clipped at zero conductance).
    s0, s1 = (float(v) for v in pcm_programming_sigma([0.0, 1.0]))
    t = load_noise_table()
    assert s0 == pytest.approx(t["pcm_prog_c0"]["value"] / 25)
    assert s1 == pytest.approx((0.26348 + 1.9650 - 1.1731) / 25)
    y = analog_matmul(np.ones((1, 1)), np.ones((1, 100000)), prog_noise=1.0, noise_model="pcm",
                      rng=3)[0]
    # w = (1 + s1 Z1) - max(s0 Z0, 0): mean 1 - s0/sqrt(2 pi); variance s1^2 + s0^2 (1/2 - 1/(2 pi))
    mean = 1 - s0 / math.sqrt(2 * math.pi)
    std = math.sqrt(s1 ** 2 + s0 ** 2 * (0.5 - 1 / (2 * math.pi)))
    assert y.mean() == pytest.approx(mean, abs=4 * std / math.sqrt(1e5))
    assert y.std() == pytest.approx(std, rel=0.02)


def test_seeding():
    A, W = _matrices(5, 6, 6, 6)
    a = analog_matmul(A, W, read_noise=0.1, prog_noise=0.1, rng=11)
    b = analog_matmul(A, W, read_noise=0.1, prog_noise=0.1, rng=11)
    c = analog_matmul(A, W, read_noise=0.1, prog_noise=0.1, rng=12)
    d = analog_matmul(A, W, read_noise=0.1, prog_noise=0.1, rng=np.random.default_rng(11))
    assert np.array_equal(a, b) and not np.array_equal(a, c) and np.array_equal(a, d)


def test_zero_weights_and_zero_rows_give_zeros():
    assert np.all(analog_matmul(np.ones((3, 4)), np.zeros((4, 2)), read_noise=1.0) == 0)
    y = analog_matmul(np.zeros((2, 4)), np.ones((4, 3)), read_noise=1.0, prog_noise=0.5)
    assert np.all(y == 0)


def test_aihwkit_defaults_come_from_the_table():
    t = load_noise_table()
    assert AIHWKIT_DEFAULTS == {"read_noise": 0.06, "adc_bits": 9, "adc_range": 12.0, "dac_bits": 7}
    for row in t.values():
        assert row["source"].strip() and row["status"] in {"P", "S", "D", "FLAG"}
    # io.py states resolutions: 1/(2^9 - 2) and 1/(2^7 - 2)
    assert 2 ** AIHWKIT_DEFAULTS["adc_bits"] - 2 == 510 and 2 ** AIHWKIT_DEFAULTS["dac_bits"] - 2 == 126


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(A=np.ones((2, 3)), W=np.ones((4, 2))), ValueError, "inner dimensions"),
    (dict(A=np.ones(3), W=np.ones((3, 2))), ValueError, "2-D"),
    (dict(A=np.zeros((0, 3)), W=np.ones((3, 2))), ValueError, "empty"),
    (dict(A=np.array([[1.0, np.nan]]), W=np.ones((2, 2))), ValueError, "NaN"),
    (dict(A=[["a", "b"]], W=np.ones((2, 2))), TypeError, "real numbers"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), adc_bits=1), ValueError, "adc_bits"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), adc_bits=25), ValueError, "adc_bits"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), dac_bits=4.0), TypeError, "dac_bits"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), read_noise=-0.1), ValueError, "read_noise"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), prog_noise=float("inf")), ValueError, "prog_noise"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), prog_noise="big"), TypeError, "prog_noise"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), noise_model="rram"), ValueError, "noise_model"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), adc_bits=4, adc_range=0), ValueError, "adc_range"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), adc_range="auto"), ValueError, "adc_range"),
    (dict(A=np.ones((2, 2)), W=np.ones((2, 2)), rng="seed"), TypeError, "rng"),
])
def test_bad_inputs_raise_clear_errors(kwargs, exc, words):
    A, W = kwargs.pop("A"), kwargs.pop("W")
    with pytest.raises(exc, match=words):
        analog_matmul(A, W, **kwargs)


# --------------------------------------------------------------------------- #
# A trained MLP on the analog array
# --------------------------------------------------------------------------- #
def test_no_noise_gives_the_digital_accuracy_and_logits(digits_mlp):
    model, X, y = digits_mlp
    assert analog_accuracy(model, X, y) == accuracy(model, X, y)
    np.testing.assert_allclose(analog_forward(model, X), model.logits(X), rtol=1e-10, atol=1e-10)


def test_accuracy_falls_monotonically_as_programming_noise_grows(digits_mlp):
    model, X, y = digits_mlp
    levels = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
    acc = [analog_accuracy(model, X, y, prog_noise=p, rng=0, repeats=5) for p in levels]
    # averaged over 5 chips, each step may rise only within the sampling noise (~1 point)
    assert all(b <= a + 0.01 for a, b in zip(acc, acc[1:])), acc
    assert acc[0] > 0.95 and acc[-1] < 0.4, acc


def test_accuracy_falls_monotonically_as_read_noise_grows(digits_mlp):
    model, X, y = digits_mlp
    acc = [analog_accuracy(model, X, y, read_noise=r, rng=1, repeats=5)
           for r in (0.0, 0.1, 0.3, 0.6, 1.2, 2.4)]
    assert all(b <= a + 0.01 for a, b in zip(acc, acc[1:])), acc
    assert acc[-1] < 0.4, acc


def test_accuracy_rises_with_adc_bits(digits_mlp):
    model, X, y = digits_mlp
    acc = [analog_accuracy(model, X, y, adc_bits=b, adc_range="max") for b in (2, 3, 4, 6, 10)]
    assert all(b >= a - 0.01 for a, b in zip(acc, acc[1:])), acc
    assert acc[0] < 0.6 and acc[-1] == pytest.approx(accuracy(model, X, y), abs=0.005), acc


def test_pcm_at_its_measured_noise_costs_little_on_digits(digits_mlp):
    model, X, y = digits_mlp
    exact = accuracy(model, X, y)
    pcm = analog_accuracy(model, X, y, prog_noise=1.0, noise_model="pcm", repeats=3)
    assert exact - 0.05 < pcm <= exact + 0.01
    assert analog_accuracy(model, X, y, prog_noise=8.0, noise_model="pcm", repeats=3) < pcm


def test_accuracy_is_reproducible_for_a_seed(digits_mlp):
    model, X, y = digits_mlp
    a = analog_accuracy(model, X, y, prog_noise=0.2, rng=3, repeats=2)
    assert a == analog_accuracy(model, X, y, prog_noise=0.2, rng=3, repeats=2)


def test_accuracy_rejects_models_and_data_it_cannot_run(digits_mlp):
    model, X, y = digits_mlp
    conv = Sequential([Conv2d(1, 2, 3, rng=0), Flatten(), Dense(72, 10, rng=0)])
    with pytest.raises(TypeError, match="Conv2d"):
        analog_accuracy(conv, np.ones((2, 64)), [0, 1])
    with pytest.raises(ValueError, match="no Dense"):
        analog_accuracy(Sequential([ReLU(), Softmax()]), np.ones((2, 3)), [0, 1])
    with pytest.raises(TypeError, match="Sequential"):
        analog_accuracy("model", X, y)
    with pytest.raises(ValueError, match=r"\(n, 64\)"):
        analog_accuracy(model, X[:, :10], y)
    with pytest.raises(ValueError):
        analog_accuracy(model, X, y[:-1])
    with pytest.raises(ValueError, match="repeats"):
        analog_accuracy(model, X, y, repeats=0)
