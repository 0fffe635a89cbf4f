"""The systolic array: exact outputs, cycles and traffic against two other models.

Three independent descriptions of the same machine must agree:
the Cython kernel (``SystolicArray.matmul``), the closed form
(``systolic_cycles`` / ``systolic_traffic``) and the register-level pure-Python
reference in ``reference_systolic.py``. Outputs must equal numpy's.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_systolic import expected_folds, reference_matmul

import mini_accel as ma

DATAFLOWS = ["ws", "os", "is"]


def int_operands(rng, M, K, N, dtype=np.int8, low=-128, high=128):
    return (rng.integers(low, high, (M, K)).astype(dtype),
            rng.integers(low, high, (K, N)).astype(dtype))


# --------------------------------------------------------------------------- #
# Outputs
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("double_buffer", [False, True])
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_integer_output_bit_exact_vs_numpy(dataflow, double_buffer, dtype):
    rng = np.random.default_rng(7)
    high = {np.int8: 128, np.int16: 2000, np.int32: 8000}[dtype]   # 8000**2 * 29 < 2**31
    A, B = int_operands(rng, 37, 29, 23, dtype, -high, high)
    res = ma.SystolicArray(8, 5, dataflow, double_buffer).matmul(A, B)
    assert res.output.dtype == np.int32
    np.testing.assert_array_equal(res.output, A.astype(np.int32) @ B.astype(np.int32))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(M=st.integers(1, 20), K=st.integers(1, 20), N=st.integers(1, 20),
       rows=st.integers(1, 9), cols=st.integers(1, 9),
       dataflow=st.sampled_from(DATAFLOWS), double_buffer=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_kernel_closed_form_and_reference_agree(M, K, N, rows, cols, dataflow, double_buffer, seed):
    """Shapes smaller than, equal to and larger than the array, 1x1 arrays included."""
    rng = np.random.default_rng(seed)
    A, B = int_operands(rng, M, K, N)
    res = ma.SystolicArray(rows, cols, dataflow, double_buffer).matmul(A, B)
    ref = reference_matmul(A, B, rows, cols, dataflow, double_buffer)
    np.testing.assert_array_equal(res.output, A.astype(np.int32) @ B.astype(np.int32))
    np.testing.assert_array_equal(res.output, ref["output"])
    assert res.cycles == ref["cycles"] == ma.systolic_cycles(M, K, N, rows, cols, dataflow,
                                                             double_buffer)
    assert res.folds == ref["folds"] == expected_folds(M, K, N, rows, cols, dataflow)
    assert res.macs == ref["macs"] == M * K * N
    traffic = ma.systolic_traffic(M, K, N, rows, cols, dataflow)
    for key in ("a_reads", "b_reads", "out_writes"):
        assert getattr(res, key) == ref[key] == traffic[key], key
    assert res.hops == ref["hops"]


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_output_follows_hardware_order(dataflow, dtype):
    """Bit-exact against the reference's order of additions, close to numpy's."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((9, 13)).astype(dtype)
    B = rng.standard_normal((13, 6)).astype(dtype)
    res = ma.SystolicArray(4, 3, dataflow).matmul(A, B)
    ref = reference_matmul(A, B, 4, 3, dataflow)
    acc = np.float64 if dtype == np.float64 else np.float32
    assert res.output.dtype == acc
    np.testing.assert_array_equal(res.output, ref["output"])
    exact = A.astype(np.float64) @ B.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(res.output, exact, rtol=tol, atol=tol * 13)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_float_output_bit_exact_vs_numpy_when_sums_are_exact(dataflow):
    # Small integers and halves: every partial sum is exact in float32, so any
    # order of additions gives the same bits as numpy.
    rng = np.random.default_rng(11)
    A = (rng.integers(-50, 50, (40, 33)) / 2).astype(np.float32)
    B = (rng.integers(-50, 50, (33, 17)) / 2).astype(np.float32)
    res = ma.SystolicArray(16, 16, dataflow, double_buffer=True).matmul(A, B)
    np.testing.assert_array_equal(res.output, A @ B)


def test_float16_products_are_exact_in_float32_accumulators():
    a = np.array([[np.float16(1) + np.float16(2**-10)]], dtype=np.float16)
    b = np.array([[np.float16(1) + np.float16(2**-10)]], dtype=np.float16)
    out = ma.SystolicArray(1, 1).matmul(a, b).output
    assert out.dtype == np.float32
    assert out[0, 0] == np.float32(1 + 2**-9 + 2**-20)   # not representable in float16


# --------------------------------------------------------------------------- #
# Cycles and counts
# --------------------------------------------------------------------------- #
def test_tpu_like_gemm_closed_form_by_hand():
    # 256x256 weight-stationary, 1024^3: 4 K-folds x 4 N-folds, each
    # 256 (load) + 1024 + 256 + 256 - 2 (stream with fill and drain) = 1790.
    assert ma.systolic_cycles(1024, 1024, 1024, 256, 256, "ws") == 16 * 1790
    # Double buffering hides 15 of the 16 loads.
    assert ma.systolic_cycles(1024, 1024, 1024, 256, 256, "ws", True) == 16 * 1790 - 15 * 256


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_double_buffering_saves_one_load_per_extra_fold(dataflow):
    M, K, N, R, C = 50, 40, 30, 8, 8
    single = ma.SystolicArray(R, C, dataflow).matmul(*int_operands(np.random.default_rng(0), M, K, N))
    double = ma.SystolicArray(R, C, dataflow, double_buffer=True).matmul(
        *int_operands(np.random.default_rng(0), M, K, N))
    np.testing.assert_array_equal(single.output, double.output)
    assert single.cycles - double.cycles == (single.folds - 1) * R
    assert double.utilization > single.utilization


def test_single_pe_array_is_a_sequential_mac():
    # A 1x1 array: every MAC takes one cycle plus the 1-cycle load (ws) per weight.
    A, B = int_operands(np.random.default_rng(1), 3, 4, 5)
    res = ma.SystolicArray(1, 1, "ws").matmul(A, B)
    assert res.folds == 4 * 5
    assert res.cycles == 20 * (2 + 1 + 3 - 2)   # = folds * (load 1 + stream M)
    assert res.utilization == pytest.approx(60 / 80)


def test_utilization_grows_with_batch_on_a_big_array():
    arr = ma.SystolicArray(256, 256, "ws")
    utils = [arr.matmul(np.ones((m, 256), np.int8), np.ones((256, 256), np.int8)).utilization
             for m in (1, 16, 256, 2048)]
    assert utils == sorted(utils)
    # batch 1: 1/(1 + 766) of the PE-cycles; batch 2048: 2048/(2048 + 766)
    assert utils[0] < 0.01 and utils[-1] > 0.7


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_result_fields_are_consistent(dataflow):
    A, B = int_operands(np.random.default_rng(2), 10, 12, 14)
    res = ma.SystolicArray(4, 6, dataflow).matmul(A, B)
    d = res.to_dict()
    assert d["utilization"] == pytest.approx(res.macs / (4 * 6 * res.cycles))
    assert res.pe_cycles == 24 * res.cycles
    assert res.pe_hops == d["a_hops"] + d["b_hops"] + d["out_hops"]
    assert dataflow in repr(res) and "cycles=" in repr(res)


# --------------------------------------------------------------------------- #
# Trace
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("double_buffer", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 2, 4, 4), (7, 9, 5, 3, 2), (1, 1, 1, 1, 1), (5, 6, 7, 2, 3)])
def test_trace_equals_register_level_reference(dataflow, double_buffer, shape):
    M, K, N, R, C = shape
    rng = np.random.default_rng(sum(shape))
    A = (rng.integers(-9, 9, (M, K)) * 0.5).astype(np.float32)
    B = (rng.integers(-9, 9, (K, N)) * 0.25).astype(np.float32)
    tr = ma.SystolicArray(R, C, dataflow, double_buffer).trace(A, B)
    a, b, psum, phase, fold = reference_matmul(A, B, R, C, dataflow, double_buffer, record=True)["trace"]
    assert tr.cycles == tr.result.cycles == len(phase)
    np.testing.assert_array_equal(tr.a, a)
    np.testing.assert_array_equal(tr.b, b)
    np.testing.assert_array_equal(tr.psum, psum)
    np.testing.assert_array_equal(tr.phase, phase.astype(str))
    np.testing.assert_array_equal(tr.fold, fold)


def test_trace_shows_the_wavefront():
    A = np.arange(1, 7, dtype=np.int8).reshape(3, 2)      # M=3, K=2
    B = np.array([[1, 10], [100, 1000]], dtype=np.int16)  # K=2, N=2
    tr = ma.SystolicArray(2, 2, "ws").trace(A, B)
    assert list(tr.phase[:2]) == ["load", "load"]
    first = tr.frame(2)               # first streaming cycle: only PE(0, 0) is busy
    assert first["phase"] == "stream"
    assert first["a"][0, 0] == 1 and np.isnan(first["a"][0, 1]) and np.isnan(first["a"][1, 0])
    assert first["psum"][0, 0] == 1 * 1
    # One cycle later A[0, 0] has moved right and A[0, 1] entered row 1.
    nxt = tr.frame(3)
    assert nxt["a"][0, 1] == 1 and nxt["a"][1, 0] == 2 and nxt["a"][0, 0] == 3
    assert nxt["psum"][1, 0] == 1 * 1 + 2 * 100   # the finished sum of out[0, 0]
    np.testing.assert_array_equal(tr.b[3], [[1, 10], [100, 1000]])


def test_trace_limits():
    A, B = np.ones((4, 4), np.int8), np.ones((4, 4), np.int8)
    with pytest.raises(ValueError, match="16x16"):
        ma.SystolicArray(17, 4).trace(A, B)
    with pytest.raises(ValueError, match="slots"):
        ma.SystolicArray(16, 16).trace(np.ones((20000, 16), np.int8), np.ones((16, 16), np.int8))
    tr = ma.SystolicArray(2, 2).trace(A, B)
    with pytest.raises(ValueError, match=r"t must be in \[0, "):
        tr.frame(tr.cycles)


# --------------------------------------------------------------------------- #
# Overflow
# --------------------------------------------------------------------------- #
def test_int32_overflow_raises_by_default_and_wraps_on_request():
    A = np.full((1, 4), 2**30, dtype=np.int32)
    B = np.full((4, 1), 2, dtype=np.int32)         # exact sum 2**33
    with pytest.raises(OverflowError, match="int32"):
        ma.SystolicArray(2, 2).matmul(A, B)
    for df in DATAFLOWS:
        out = ma.SystolicArray(2, 2, df, overflow="wrap").matmul(A, B).output
        assert out[0, 0] == 0                       # 2**33 mod 2**32
    rng = np.random.default_rng(5)
    A = rng.integers(-2**31, 2**31, (6, 7), dtype=np.int64).astype(np.int32)
    B = rng.integers(-2**31, 2**31, (7, 5), dtype=np.int64).astype(np.int32)
    exact = A.astype(np.int64) @ B.astype(np.int64)
    wrapped = ((exact + 2**31) % 2**32 - 2**31).astype(np.int32)
    for df in DATAFLOWS:
        np.testing.assert_array_equal(
            ma.SystolicArray(3, 2, df, overflow="wrap").matmul(A, B).output, wrapped)


def test_intermediate_overflow_that_cancels_is_not_an_error():
    # Partial sums leave int32 but the final sum fits: modular arithmetic is exact.
    A = np.array([[2**30, 2**30, -(2**30), -(2**30)]], dtype=np.int32)
    B = np.full((4, 1), 2, dtype=np.int32)
    assert ma.SystolicArray(1, 1).matmul(A, B).output[0, 0] == 0


# --------------------------------------------------------------------------- #
# Inputs that must work
# --------------------------------------------------------------------------- #
def test_views_and_read_only_inputs_work_and_are_not_modified():
    rng = np.random.default_rng(4)
    base = rng.integers(-5, 5, (12, 10)).astype(np.int8)
    A = base[::2, 1:]                 # non-contiguous view, 6 x 9
    B = np.asfortranarray(rng.integers(-5, 5, (9, 7)).astype(np.int8))
    B.setflags(write=False)
    before = base.copy()
    for df in DATAFLOWS:
        out = ma.SystolicArray(4, 4, df).matmul(A, B).output
        np.testing.assert_array_equal(out, A.astype(np.int32) @ B.astype(np.int32))
    np.testing.assert_array_equal(base, before)


def test_nested_lists_of_small_ints_are_refused_with_a_hint():
    with pytest.raises(TypeError, match="int64.*astype"):
        ma.SystolicArray(2, 2).matmul([[1, 2]], [[3], [4]])


# --------------------------------------------------------------------------- #
# Bad input: clear errors that name the argument
# --------------------------------------------------------------------------- #
GOOD = np.ones((3, 4), np.int8), np.ones((4, 2), np.int8)


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(rows=0, cols=4), ValueError, r"rows must be in \[1, 4096\]"),
    (dict(rows=4, cols=-2), ValueError, r"cols must be in \[1, 4096\]"),
    (dict(rows=4.0, cols=4), TypeError, "rows must be an int"),
    (dict(rows=True, cols=4), TypeError, "rows must be an int"),
    (dict(rows=10**6, cols=4), ValueError, r"rows must be in \[1, 4096\]"),
    (dict(rows=4, cols=4, dataflow="rs"), ValueError, "dataflow must be one of"),
    (dict(rows=4, cols=4, dataflow=None), TypeError, "dataflow"),
    (dict(rows=4, cols=4, double_buffer="yes"), TypeError, "double_buffer"),
    (dict(rows=4, cols=4, overflow="saturate"), ValueError, "overflow"),
])
def test_bad_configurations(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ma.SystolicArray(**kwargs)


@pytest.mark.parametrize("A, B, exc, pattern", [
    (np.ones((3, 4, 1), np.int8), GOOD[1], ValueError, "A must be a 2-D matrix"),
    (GOOD[0], np.ones(4, np.int8), ValueError, "B must be a 2-D matrix"),
    (GOOD[0], np.ones((5, 2), np.int8), ValueError, "inner dimensions differ.*4.*5"),
    (np.ones((0, 4), np.int8), GOOD[1], ValueError, "A is empty"),
    (GOOD[0], np.ones((4, 0), np.int8), ValueError, "B is empty"),
    (np.ones((3, 4), np.int64), GOOD[1], TypeError, "A has dtype int64"),
    (np.ones((3, 4), np.uint8), GOOD[1], TypeError, "A has dtype uint8"),
    (np.ones((3, 4), bool), GOOD[1], TypeError, "A has dtype bool"),
    (np.ones((3, 4), complex), GOOD[1], TypeError, "A has dtype complex128"),
    (np.array([["a"] * 4] * 3), GOOD[1], TypeError, "A has dtype <U1"),
    (GOOD[0], np.ones((4, 2), np.float32), TypeError, "A is int8 but B is float32"),
    ("not a matrix", GOOD[1], ValueError, "A must be a 2-D matrix"),
])
def test_bad_operands(A, B, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ma.SystolicArray(4, 4).matmul(A, B)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_floats_are_refused(bad):
    A = np.ones((3, 4), np.float32)
    A[2, 1] = bad
    with pytest.raises(ValueError, match=r"A contains NaN or inf \(first at index \(2, 1\)\)"):
        ma.SystolicArray(2, 2).matmul(A, np.ones((4, 2), np.float32))


def test_closed_form_validates_too():
    with pytest.raises(ValueError, match="M must be >= 1"):
        ma.systolic_cycles(0, 1, 1, 4, 4)
    with pytest.raises(ValueError, match="dataflow"):
        ma.systolic_traffic(1, 1, 1, 4, 4, "xx")
    with pytest.raises(TypeError, match="K must be an int"):
        ma.systolic_folds(1, 2.5, 1, 4, 4)


# --------------------------------------------------------------------------- #
# Resources
# --------------------------------------------------------------------------- #
def test_peak_memory_follows_operands_not_cycles():
    import tracemalloc

    A, B = int_operands(np.random.default_rng(0), 64, 64, 64)
    operand_bytes = 3 * 64 * 64 * 4          # A, B, output in int32
    peaks = {}
    for rows in (1, 64):                     # 266,240 cycles vs 254 cycles
        arr = ma.SystolicArray(rows, rows)
        tracemalloc.start()
        res = arr.matmul(A, B)
        peaks[rows] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        scratch = (rows * 64 + (64 + rows - 1) * rows) * 4
        assert peaks[rows] < 4 * (operand_bytes + scratch), (rows, peaks[rows])
    assert ma.systolic_cycles(64, 64, 64, 1, 1) > 1000 * ma.systolic_cycles(64, 64, 64, 64, 64)
    assert res.cycles == 2 * 64 + 64 + 64 - 2
