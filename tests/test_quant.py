"""Quantizers (scale, zero point, per tensor / per channel) and integer-only arithmetic.

Oracles: PyTorch's observers and fake-quant ops (when torch is installed),
PyTorch's formulas transcribed in tests/reference_quant.py, gemmlowp's
fixed-point routines in Python integers, int64 numpy matmuls, hand cases.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_quant import gemmlowp_requant, torch_minmax_qparams
from strategies import float_arrays, matrices

from mini_accel import SystolicArray, quant, systolic_cycles
from mini_accel.quantizers import (
    FLOAT32_EPS,
    QParams,
    dequantize,
    fake_quant,
    qparams_from_range,
    qparams_minmax,
    qrange,
    quantization_error,
    quantize,
)
from mini_accel.requant import (
    IntegerLinear,
    integer_matmul,
    multiply_by_quantized_multiplier,
    quantize_bias,
    quantize_multiplier,
    requantize,
)

F32 = np.float32


# --------------------------------------------------------------------------- #
# Ranges and parameters by hand
# --------------------------------------------------------------------------- #
def test_qrange_table_of_pytorch():
    # REFERENCE_DATA 4c: qint8 [-128, 127] / reduced [-64, 63]; quint8 [0, 255] / [0, 127]
    assert qrange(8) == (-128, 127) and qrange(8, reduce_range=True) == (-64, 63)
    assert qrange(8, signed=False) == (0, 255) and qrange(8, False, reduce_range=True) == (0, 127)
    assert qrange(4) == (-8, 7) and qrange(4, narrow=True) == (-7, 7)
    assert qrange(16, signed=False) == (0, 65535) and qrange(2) == (-2, 1)


@pytest.mark.parametrize("bits", [1, 17, 0, -3, 32])
def test_bits_outside_2_to_16_are_rejected(bits):
    with pytest.raises(ValueError, match=r"bits must be in \[2, 16\]"):
        qrange(bits)
    with pytest.raises(ValueError, match=r"bits must be in \[2, 16\]"):
        qparams_from_range(-1.0, 1.0, bits=bits)
    with pytest.raises(ValueError, match=r"bits must be in \[2, 16\]"):
        quant.calibrate([1.0, 2.0], "minmax", bits=bits)


def test_bits_must_be_an_int():
    with pytest.raises(TypeError, match="bits"):
        qrange(8.0)
    with pytest.raises(TypeError, match="bits"):
        qrange(True)


def test_affine_quint8_by_hand():
    # [-1, 2]: S = 3 / 255 (float32), Z = 0 - round(-1 / S) = round(85.0) = 85
    qp = qparams_from_range(-1.0, 2.0, 8, signed=False)
    assert float(qp.scale) == float(F32(3) / F32(255))
    assert int(qp.zero_point) == 85 and (qp.qmin, qp.qmax) == (0, 255)
    assert quantize([-1.0, 0.0, 2.0, 5.0, -7.0], qp).tolist() == [0, 85, 255, 255, 0]
    assert quantize([0.0], qp).dtype == np.uint8


def test_symmetric_by_hand():
    # qint8: S = max(|-1|, 0.5) / ((127 - (-128)) / 2) = 1 / 127.5, Z = 0
    qp = qparams_from_range(-1.0, 0.5, 8, signed=True, symmetric=True)
    assert float(qp.scale) == float(F32(1) / F32(127.5)) and int(qp.zero_point) == 0
    # quint8 symmetric: Z = 128 (PyTorch), S = 2 / 127.5
    qp = qparams_from_range(-2.0, 1.0, 8, signed=False, symmetric=True)
    assert int(qp.zero_point) == 128 and float(qp.scale) == float(F32(2) / F32(127.5))
    # a custom range [0, 255]: the rounded-down midpoint 127
    qp = qparams_from_range(-2.0, 1.0, 8, signed=False, symmetric=True, quant_min=0, quant_max=255)
    assert int(qp.zero_point) == 127
    # narrow signed: S = amax / 127 (TensorRT)
    qp = qparams_from_range(-3.0, 3.0, 8, symmetric=True, narrow=True)
    assert float(qp.scale) == float(F32(3) / F32(127)) and (qp.qmin, qp.qmax) == (-127, 127)


def test_zero_is_always_representable_and_degenerate_ranges():
    qp = qparams_from_range(2.0, 5.0, 8, signed=False)      # extended down to 0
    assert int(qp.zero_point) == 0 and float(qp.scale) == float(F32(5) / F32(255))
    assert float(dequantize(quantize([0.0], qp), qp)[0]) == 0.0
    qp = qparams_from_range(-5.0, -2.0, 8, signed=True)     # extended up to 0
    assert int(qp.zero_point) == 127
    # a constant tensor: PyTorch's code gives S = max(3 / 255, eps), Z = 0 (not S = 1)
    qp = qparams_minmax(np.full(10, 3.0), "quint8")
    assert float(qp.scale) == float(F32(3) / F32(255)) and int(qp.zero_point) == 0
    qp = qparams_minmax(np.zeros(4), "quint8")              # all zeros: S = eps
    assert float(qp.scale) == float(F32(FLOAT32_EPS)) and int(qp.zero_point) == 0


@pytest.mark.parametrize("dtype, qscheme, rr", [
    ("quint8", "per_tensor_affine", False), ("quint8", "per_tensor_affine", True),
    ("qint8", "per_tensor_affine", False), ("qint8", "per_tensor_symmetric", False),
    ("qint8", "per_tensor_symmetric", True), ("quint8", "per_tensor_symmetric", False),
])
@settings(max_examples=40, deadline=None)
@given(x=float_arrays(max_dims=1, max_side=20, low=-70.0, high=70.0, dtype=F32))
def test_minmax_equals_transcribed_pytorch_formula(dtype, qscheme, rr, x):
    qp = qparams_minmax(x, dtype, qscheme, reduce_range=rr)
    s, z = torch_minmax_qparams(x.min(), x.max(), qp.qmin, qp.qmax,
                                qscheme.endswith("symmetric"), dtype == "quint8")
    assert (float(qp.scale), int(qp.zero_point)) == (s, z)


# --------------------------------------------------------------------------- #
# Parity with PyTorch
# --------------------------------------------------------------------------- #
def _torch_observers():
    torch = pytest.importorskip("torch")
    from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver
    return torch, MinMaxObserver, PerChannelMinMaxObserver


def _cases(rng, n=120, shape=(6, 5)):
    for t in range(n):
        x = rng.standard_normal(shape) * rng.uniform(1e-4, 100) + rng.uniform(-50, 50) * (t % 3 == 0)
        if t % 10 == 0:
            x[:] = x.flat[0]              # constant tensors
        if t % 17 == 0:
            x = np.abs(x)                 # non-negative (post-ReLU)
        yield x.astype(F32)


@pytest.mark.parametrize("dtype", ["quint8", "qint8"])
@pytest.mark.parametrize("qscheme", ["per_tensor_affine", "per_tensor_symmetric"])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_minmax_observer_parity(dtype, qscheme, reduce_range):
    torch, MinMaxObserver, _ = _torch_observers()
    tdtype, tscheme = getattr(torch, dtype), getattr(torch, qscheme)
    if dtype == "quint8" and qscheme.endswith("symmetric") and reduce_range:
        with pytest.raises(NotImplementedError):
            MinMaxObserver(dtype=tdtype, qscheme=tscheme, reduce_range=True)
        with pytest.raises(ValueError, match="reduce_range"):
            qparams_minmax([1.0], dtype, qscheme, reduce_range=True)
        return
    for x in _cases(np.random.default_rng(1)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obs = MinMaxObserver(dtype=tdtype, qscheme=tscheme, reduce_range=reduce_range)
            obs(torch.from_numpy(x))
            s, z = obs.calculate_qparams()
        qp = qparams_minmax(x, dtype, qscheme, reduce_range=reduce_range)
        assert float(qp.scale) == float(s[0]) and int(qp.zero_point) == int(z[0])


def test_minmax_observer_parity_custom_range_and_float64_input():
    torch, MinMaxObserver, _ = _torch_observers()
    rng = np.random.default_rng(2)
    for x in _cases(rng, n=40):
        x64 = x.astype(np.float64) * (1 + 1e-9)       # observers cast to float32 first
        obs = MinMaxObserver(dtype=torch.qint8, quant_min=-8, quant_max=7)
        obs(torch.from_numpy(x64).float())
        s, z = obs.calculate_qparams()
        qp = qparams_minmax(x64, "qint8", quant_min=-8, quant_max=7)
        assert float(qp.scale) == float(s[0]) and int(qp.zero_point) == int(z[0])
        assert (qp.qmin, qp.qmax) == (-8, 7)


@pytest.mark.parametrize("dtype", ["quint8", "qint8"])
@pytest.mark.parametrize("qscheme", ["per_channel_affine", "per_channel_symmetric"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_per_channel_observer_parity(dtype, qscheme, axis):
    torch, _, PerChannelMinMaxObserver = _torch_observers()
    for x in _cases(np.random.default_rng(3), n=40, shape=(4, 7, 3)):
        obs = PerChannelMinMaxObserver(ch_axis=axis, dtype=getattr(torch, dtype),
                                       qscheme=getattr(torch, qscheme))
        obs(torch.from_numpy(x))
        s, z = obs.calculate_qparams()
        qp = qparams_minmax(x, dtype, qscheme, ch_axis=axis)
        assert np.array_equal(qp.scale.astype(F32), s.numpy())
        assert np.array_equal(qp.zero_point, z.numpy())
        assert qp.axis == axis % 3


def test_fake_quant_and_quantize_parity_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for _ in range(200):
        s = F32(rng.uniform(1e-3, 3))
        z = int(rng.integers(-128, 128))
        k = rng.integers(-300, 300, size=64)
        # values near the rounding ties (k + 1/2) * S, where arithmetic details show
        x = ((k + 0.5) * np.float64(s) + rng.normal(0, 1e-6, 64) * s).astype(F32)
        qp = QParams(s, z, -128, 127)
        theirs = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(s), z, -128, 127)
        assert np.array_equal(fake_quant(x, qp), theirs.numpy())
        # torch.quantize_per_tensor rounds x/S + Z as one float, fake_quantize rounds
        # x/S and then adds Z (as we do): equal for Z = 0, one level apart on ties otherwise.
        qp0 = QParams(s, 0, -128, 127)
        q = torch.quantize_per_tensor(torch.from_numpy(x), float(s), 0, torch.qint8)
        assert np.array_equal(quantize(x, qp0), q.int_repr().numpy())
        assert np.array_equal(dequantize(quantize(x, qp0), qp0), q.dequantize().numpy())
        q = torch.quantize_per_tensor(torch.from_numpy(x), float(s), z, torch.qint8)
        assert np.abs(quantize(x, qp).astype(int) - q.int_repr().numpy()).max() <= 1
        X = x.reshape(8, 8)
        S = rng.uniform(1e-3, 3, 8).astype(F32)
        Z = rng.integers(-128, 128, 8)
        qpc = QParams(S, Z, -128, 127, axis=1)
        theirs = torch.fake_quantize_per_channel_affine(
            torch.from_numpy(X), torch.from_numpy(S), torch.from_numpy(Z).int(), 1, -128, 127)
        assert np.array_equal(fake_quant(X, qpc), theirs.numpy())


def test_quint8_quantize_within_one_level_of_torch():
    # PyTorch's quint8 CPU kernels (fbgemm) round near-ties differently from its
    # qint8 and fake-quant kernels; we follow the latter: at most one level apart.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal(5000).astype(F32) * 3
    qp = qparams_minmax(x, "quint8")
    q = torch.quantize_per_tensor(torch.from_numpy(x), float(qp.scale), int(qp.zero_point), torch.quint8)
    diff = np.abs(quantize(x, qp).astype(int) - q.int_repr().numpy().astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01


# --------------------------------------------------------------------------- #
# quantize / dequantize / fake_quant properties
# --------------------------------------------------------------------------- #
@settings(max_examples=150, deadline=None)
@given(lo=st.floats(-100, 0), width=st.floats(1e-3, 200), bits=st.integers(2, 16),
       signed=st.booleans(), symmetric=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_round_trip_error_is_at_most_half_a_step_inside_the_range(lo, width, bits, signed,
                                                                  symmetric, seed):
    hi = lo + width
    qp = qparams_from_range(lo, hi, bits, signed, symmetric=symmetric)
    r_lo, r_hi = (float(v) for v in qp.clip_range())
    x = np.random.default_rng(seed).uniform(r_lo, r_hi, 200)
    err = np.abs(fake_quant(x, qp).astype(np.float64) - x)
    S = float(qp.scale)
    # half a step, plus float32 rounding of x * (1/S) and of the result (relative 2**-23)
    assert err.max() <= S / 2 + 4e-7 * max(abs(r_lo), abs(r_hi)) + 1e-12
    q = quantize(x, qp)
    assert q.min() >= qp.qmin and q.max() <= qp.qmax
    # fake_quant is idempotent: quantized values are fixed points
    y = fake_quant(x, qp)
    assert np.array_equal(fake_quant(y, qp), y)


def test_values_beyond_the_range_saturate():
    qp = qparams_from_range(-1.0, 1.0, 4, symmetric=True, narrow=True)      # S = 1/7
    assert quantize([-100.0, 100.0, 0.6], qp).tolist() == [-7, 7, 4]       # 0.6 * 7 = 4.2
    err = quantization_error([-100.0, 0.0, 100.0], qp)
    assert err["clipped"] == pytest.approx(2 / 3) and err["max_abs"] == pytest.approx(99.0)
    assert quantization_error([0.0, 1.0], qp)["sqnr_db"] == np.inf


def test_per_channel_broadcasts_along_its_axis():
    x = np.array([[1.0, 10.0, 100.0], [0.5, 5.0, 50.0], [-0.3, -3.0, -30.0]])
    qp = qparams_minmax(x, "qint8", "per_channel_symmetric", ch_axis=1)
    # S_j = amax_j / 127.5: amax -> 127.5 (-> 127 after the clamp), 0.5 amax -> 63.75 -> 64,
    # -0.3 amax -> -38.25 -> -38, in every column alike
    assert quantize(x, qp).tolist() == [[127] * 3, [64] * 3, [-38] * 3]
    assert np.allclose(fake_quant(x, qp), x, rtol=1 / 127)
    qp0 = qparams_minmax(x.T, "qint8", "per_channel_symmetric", ch_axis=0)
    assert np.array_equal(qp0.scale, qp.scale)
    with pytest.raises(ValueError, match="3 channels"):
        quantize(np.ones((2, 4)), qp)


def test_quantizer_input_errors():
    qp = qparams_from_range(-1.0, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        quantize([1.0, np.nan], qp)
    with pytest.raises(ValueError, match="inf"):
        qparams_minmax([1.0, np.inf])
    with pytest.raises(ValueError, match="empty"):
        qparams_minmax(np.array([]))
    with pytest.raises(ValueError, match=r"ch_axis must be in \[-2, 1\], got 2"):
        qparams_minmax(np.ones((3, 2)), "qint8", "per_channel_affine", ch_axis=2)
    with pytest.raises(ValueError, match=r"ch_axis must be in \[-2, 1\], got -3"):
        qparams_minmax(np.ones((3, 2)), "qint8", "per_channel_affine", ch_axis=-3)
    with pytest.raises(ValueError, match="qscheme"):
        qparams_minmax([1.0], "qint8", "per_tensor_funny")
    with pytest.raises(ValueError, match="dtype"):
        qparams_minmax([1.0], "qint7")
    with pytest.raises(ValueError, match="min_val must be <= max_val"):
        qparams_from_range(2.0, 1.0)
    with pytest.raises(ValueError, match="axis="):
        qparams_from_range(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="both quant_min and quant_max"):
        qparams_from_range(-1.0, 1.0, quant_min=-4)
    with pytest.raises(ValueError, match="scale must be positive"):
        QParams(0.0, 0, -128, 127)
    with pytest.raises(ValueError, match="zero_point must lie"):
        QParams(1.0, 300, -128, 127)
    with pytest.raises(ValueError, match="needs more than 16 bits"):
        QParams(1.0, 0, -(2 ** 20), 2 ** 20)
    with pytest.raises(TypeError, match="QParams"):
        quantize([1.0], (0.1, 0))
    with pytest.raises(ValueError, match="outside"):
        dequantize([200], qp)
    with pytest.raises(TypeError, match="real numbers"):
        quantize(["x"], qp)


# --------------------------------------------------------------------------- #
# Fixed-point requantization (Jacob et al. 2018, gemmlowp)
# --------------------------------------------------------------------------- #
def test_quantize_multiplier_by_hand():
    assert quantize_multiplier(0.5) == (2 ** 30, 0)
    assert quantize_multiplier(0.3) == (round(0.6 * 2 ** 31), 1)       # 0.3 = 0.6 * 2**-1
    assert quantize_multiplier(2.0 ** -31) == (2 ** 30, 30)
    M0, n = quantize_multiplier(np.array([0.25, 0.75]))
    assert M0.tolist() == [2 ** 30, 3 * 2 ** 29] and n.tolist() == [1, 0]
    # just below 0.5: 2**31 * frac rounds up to 2**31 and carries into the shift
    assert quantize_multiplier(0.5 - 2.0 ** -40) == (2 ** 30, 0)


@settings(max_examples=300, deadline=None)
@given(M=st.floats(2.0 ** -32, 1.0 - 2.0 ** -31))
def test_quantize_multiplier_is_accurate(M):
    M0, n = quantize_multiplier(M)
    assert 2 ** 30 <= M0 < 2 ** 31 and 0 <= n <= 31
    # M0 is the nearest integer to 2**31 * M * 2**n: error <= half a unit
    assert abs(M0 * 2.0 ** -31 * 2.0 ** -n - M) <= 2.0 ** -32 * 2.0 ** -n


@pytest.mark.parametrize("M", [0.0, -0.1, 1.0, 3.0, np.nan, np.inf, 2.0 ** -40, 1 - 2.0 ** -40])
def test_quantize_multiplier_rejects(M):
    with pytest.raises(ValueError, match="M"):
        quantize_multiplier(M)


@settings(max_examples=300, deadline=None)
@given(acc=st.integers(-(2 ** 31), 2 ** 31 - 1), M=st.floats(2.0 ** -31, 1.0 - 2.0 ** -31))
def test_fixed_point_multiply_equals_gemmlowp_and_float(acc, M):
    M0, n = quantize_multiplier(M)
    got = int(multiply_by_quantized_multiplier(np.array([acc]), M0, n)[0])
    assert got == gemmlowp_requant(acc, M0, n)
    # error bound: 1/2 (final rounding) + 2**-n / 2 (first rounding) + 2**-n / 2 (M0)
    assert abs(got - acc * M) <= 0.5 + 2.0 ** -n + 1e-9


def test_fixed_point_rounding_by_hand():
    M0, n = quantize_multiplier(0.5)          # no shift: only the doubling high mul rounds
    # ties go up (toward +inf): 1.5 -> 2, -1.5 -> -1, 2.5 -> 3, -2.5 -> -2
    assert multiply_by_quantized_multiplier(np.array([3, -3, 5, -5]), M0, n).tolist() == [2, -1, 3, -2]
    M0, n = quantize_multiplier(0.25)         # exact first step, then a shift: ties away from 0
    assert multiply_by_quantized_multiplier(np.array([2, -2, 6, -6]), M0, n).tolist() == [1, -1, 2, -2]


def test_requantize_saturates_and_fuses_relu():
    M0, n = quantize_multiplier(0.5)
    acc = np.array([-1000, -10, 0, 10, 1000])
    assert requantize(acc, M0, n, zero_point=3).tolist() == [-128, -2, 3, 8, 127]
    assert requantize(acc, M0, n, zero_point=3, relu=True).tolist() == [3, 3, 3, 8, 127]
    out = requantize(acc, M0, n, zero_point=-8, qmin=-8, qmax=7)      # int4 in int8
    assert out.tolist() == [-8, -8, -8, -3, 7] and out.dtype == np.int8
    assert requantize(acc, M0, n, 0, 0, 255).dtype == np.uint8


def test_requantization_overflow_and_bad_inputs_raise():
    M0, n = quantize_multiplier(0.5)
    with pytest.raises(OverflowError, match="int32"):
        multiply_by_quantized_multiplier(np.array([2 ** 31]), M0, n)
    with pytest.raises(ValueError, match="M0"):
        multiply_by_quantized_multiplier(np.array([1]), 5, 0)
    with pytest.raises(ValueError, match="shift"):
        multiply_by_quantized_multiplier(np.array([1]), M0, 40)
    with pytest.raises(TypeError, match="integer"):
        multiply_by_quantized_multiplier(np.array([1.5]), M0, n)
    with pytest.raises(ValueError, match="zero_point"):
        requantize(np.array([1]), M0, n, zero_point=200)
    with pytest.raises(OverflowError, match="bias"):
        quantize_bias([1e6], 1e-4, 1e-4)
    assert quantize_bias([1e6], 1e-4, 1e-4, overflow="wrap").dtype == np.int32


# --------------------------------------------------------------------------- #
# Integer matmul on the systolic array
# --------------------------------------------------------------------------- #
@settings(max_examples=20, deadline=None)
@given(data=st.data(), dataflow=st.sampled_from(("ws", "os", "is")),
       za=st.integers(-128, 127), zb=st.integers(-10, 10))
def test_integer_matmul_equals_int64_reference(data, dataflow, za, zb):
    M, K, N = (data.draw(st.integers(1, 24)) for _ in range(3))
    qa = data.draw(matrices(np.int8, rows=st.just(M), cols=st.just(K), low=-128, high=127))
    qb = data.draw(matrices(np.int8, rows=st.just(K), cols=st.just(N), low=-128, high=127))
    arr = SystolicArray(8, 8, dataflow=dataflow)
    acc, res = integer_matmul(qa, qb, za, zb, array=arr)
    ref = (qa.astype(np.int64) - za) @ (qb.astype(np.int64) - zb)
    assert acc.dtype == np.int32 and np.array_equal(acc, ref)
    assert res.cycles == systolic_cycles(M, K, N, 8, 8, arr.dataflow) and res.macs == M * K * N


def test_integer_matmul_uint8_activations_like_jacob():
    rng = np.random.default_rng(7)
    qa = rng.integers(0, 256, (5, 9)).astype(np.uint8)
    qb = rng.integers(-127, 128, (9, 4)).astype(np.int8)
    acc, _ = integer_matmul(qa, qb, a_zero_point=120)
    assert np.array_equal(acc, (qa.astype(np.int64) - 120) @ qb.astype(np.int64))


def test_integer_matmul_overflow():
    big = np.full((1, 140_000), 127, dtype=np.int8)
    w = np.full((140_000, 1), 127, dtype=np.int8)
    with pytest.raises(OverflowError, match="int32"):      # 140000 * 127**2 = 2.26e9 > 2**31
        integer_matmul(big, w)
    acc, _ = integer_matmul(big, w, array=SystolicArray(64, 64, overflow="wrap"), overflow="wrap")
    assert int(acc[0, 0]) == 140_000 * 127 * 127 - 2 ** 32
    # fits in the array, but not after the zero-point correction
    a = np.full((1, 66000), -128, dtype=np.int8)
    b = np.full((66000, 1), 127, dtype=np.int8)
    with pytest.raises(OverflowError, match="zero-point correction"):
        integer_matmul(a, b, a_zero_point=127, b_zero_point=-128)
    with pytest.raises(ValueError, match="inner dimensions"):
        integer_matmul(np.ones((2, 3), np.int8), np.ones((4, 2), np.int8))
    with pytest.raises(TypeError, match="integer"):
        integer_matmul(np.ones((2, 3)), np.ones((3, 2), np.int8))


def _random_layer(rng, K=20, N=7, relu=False, bits=8):
    W = rng.standard_normal((K, N)) * 0.3
    b = rng.standard_normal(N) * 0.1
    x = np.abs(rng.standard_normal((30, K)))
    qin = qparams_from_range(0.0, float(x.max()), bits, signed=True)          # Z = -2**(bits-1)
    y = x @ W + b
    qout = qparams_from_range(float(y.min()), float(y.max()), bits, signed=True)
    layer = IntegerLinear.from_float(W, b, qin, qout, weight_bits=bits, relu=relu)
    return layer, quantize(x, qin), (x, W, b, qin, qout)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("bits", [8, 4])
def test_integer_linear_is_within_one_step_of_the_float_reference(relu, bits):
    rng = np.random.default_rng(8 + bits + relu)
    zero_points = set()
    for _ in range(10):
        layer, qx, (x, W, b, qin, qout) = _random_layer(rng, relu=relu, bits=bits)
        qy, res = layer.forward(qx, array=SystolicArray(16, 16))
        ref = layer.reference(qx)
        bound = 0.5 + 2.0 ** -int(np.min(layer.shift))
        assert np.max(np.abs(qy - ref)) <= bound and bound <= 1.0
        assert np.max(np.abs(qy - ref)) <= 1.0                  # "within one step"
        # and the int32 accumulators are exact
        acc, _ = layer.accumulate(qx)
        exact = (qx.astype(np.int64) - int(qin.zero_point)) @ layer.weight_q.astype(np.int64) \
            + layer.bias_q
        assert np.array_equal(acc, exact)
        zero_points.add(int(qout.zero_point))
        if relu:
            assert qy.min() >= int(qout.zero_point)
        # the real output agrees with the float layer up to the quantization of x, W and y
        y_real = float(qout.scale) * (qy.astype(np.float64) - int(qout.zero_point))
        y_float = x @ W + b
        if relu:
            y_float = np.maximum(y_float, 0)
        step_in = float(qin.scale) * np.abs(W).sum(axis=0) / 2     # input rounding
        step_w = x.sum(axis=1, keepdims=True) * layer.weight_scale / 2    # weight rounding
        assert np.all(np.abs(y_real - y_float) <= float(qout.scale) * 1.0 + step_in + step_w + 1e-9)
    assert len(zero_points - {0}) >= 2          # real output zero points were exercised


def test_integer_linear_errors():
    rng = np.random.default_rng(9)
    layer, qx, (x, W, b, qin, qout) = _random_layer(rng)
    with pytest.raises(ValueError, match="shape"):
        layer.forward(qx[:, :5])
    with pytest.raises(ValueError, match="(0, 1)"):     # S_out far too small: M > 1
        IntegerLinear.from_float(W, b, qin, QParams(1e-9, 0, -128, 127))
    with pytest.raises(OverflowError, match="bias"):
        IntegerLinear.from_float(W, b * 1e9, qin, qout)
    with pytest.raises(TypeError, match="per-tensor QParams"):
        IntegerLinear.from_float(W, b, "nope", qout)
    logits_layer = IntegerLinear.from_float(W, b, qin, None)
    acc, _ = logits_layer.forward(qx)
    assert acc.dtype == np.int32
    assert np.allclose(acc * logits_layer.acc_scale, logits_layer.reference(qx))
