"""Mixed precision: FP16 x FP16 with FP32 / FP16 accumulation, underflow, loss scaling,
FP32 master weights.

Oracles: exact rational arithmetic (fractions) with the exact-rounding
reference of tests/reference_quant.py, the SystolicArray's float16 path,
classical error bounds, and hand cases.
"""
import inspect
from fractions import Fraction

import numpy as np
import pytest
from reference_quant import round_exact

from mini_accel import SystolicArray
from mini_accel.mixed_precision import (
    DynamicLossScaler,
    accumulation_error,
    fp16_underflow,
    master_weights_demo,
    matmul_fp16,
    train_regression,
    update_is_lost,
)


def _slow_dot(a, b, fmt):
    """Sequential fused multiply-add with exact rationals, rounded once per step."""
    e, m = {"fp16": (5, 10), "fp32": (8, 23)}[fmt]
    acc = 0.0
    for x, y in zip(a, b):
        acc = round_exact(Fraction(acc) + Fraction(float(x)) * Fraction(float(y)), e, m)
    return acc


def test_summing_ones_stalls_at_2048_in_fp16():
    # 2048 + 1 = 2049 lies halfway between fp16 neighbours 2048 and 2050: ties to even 2048
    ones = np.ones((1, 4096))
    assert matmul_fp16(ones, ones.T, "fp16")[0, 0] == 2048.0
    assert matmul_fp16(ones, ones.T, "fp32")[0, 0] == 4096.0


@pytest.mark.parametrize("acc", ["fp16", "fp32"])
def test_matmul_fp16_equals_exact_sequential_reference(acc):
    rng = np.random.default_rng(0)
    A = rng.uniform(-2, 2, (3, 150)) * np.exp2(rng.integers(-6, 6, (3, 150)))
    B = rng.uniform(-2, 2, (150, 2))
    got = matmul_fp16(A, B, acc)
    A16, B16 = A.astype(np.float16), B.astype(np.float16)
    for i in range(3):
        for j in range(2):
            assert got[i, j] == _slow_dot(A16[i], B16[:, j], acc)


def test_fp32_accumulation_equals_the_systolic_array():
    # float16 operands on the MAC array accumulate in float32, down the column in k order
    rng = np.random.default_rng(1)
    A = rng.standard_normal((9, 60)).astype(np.float16)
    B = rng.standard_normal((60, 7)).astype(np.float16)
    res = SystolicArray(64, 8, dataflow="ws").matmul(A, B)
    assert np.array_equal(res.output.astype(np.float64), matmul_fp16(A, B, "fp32"))


def test_accumulation_error_grows_with_k_and_fp32_stays_within_its_bound():
    rows = accumulation_error((16, 256, 4096, 16384), trials=4, seed=2)
    fp16 = [r["fp16_rel_error"] for r in rows]
    fp32 = [r["fp32_rel_error"] for r in rows]
    assert fp16[-1] > 10 * fp16[0] and fp16 == sorted(fp16)
    # positive terms: relative error of recursive summation <= (K - 1) u, u = 2**-24
    for r in rows:
        assert r["fp32_rel_error"] <= (r["K"] - 1) * 2.0 ** -24
    assert all(b > 100 * a for a, b in zip(fp32[1:], fp16[1:]))
    # With K = 16384 terms of mean 1/4 the exact sum is ~4096: the fp16 sum stalls
    # once the gap (2 or 4) exceeds twice the addends, far below the true value.
    assert fp16[-1] > 0.5


def test_fp16_underflow_by_hand():
    # 2**-25 is half the smallest subnormal: ties to even (0). 1.5 * 2**-25 -> 2**-24.
    r = fp16_underflow([2.0 ** -25, 1.5 * 2.0 ** -25, 2.0 ** -14, 65520.0])
    assert r == {"zero": 0.25, "subnormal": 0.25, "normal": 0.25, "overflow": 0.25, "lost": 0.5}
    # Micikevicius: a loss scale of 8 shifts values by 3 binades
    assert fp16_underflow([2.0 ** -27], loss_scale=8)["subnormal"] == 1.0
    assert fp16_underflow([2.0 ** -27])["zero"] == 1.0
    assert fp16_underflow([0.0, 0.0, 2.0 ** -30], loss_scale=2.0 ** 20)["normal"] == 1.0
    with pytest.raises(ValueError, match="non-zero"):
        fp16_underflow([0.0])
    with pytest.raises(ValueError, match="loss_scale"):
        fp16_underflow([1.0], loss_scale=0)
    with pytest.raises(ValueError, match="NaN"):
        fp16_underflow([np.nan])


def test_update_lost_below_half_a_gap():
    # around 1.0 the fp16 gap is 2**-10: a step of 2**-11 ties back to 1.0 (even);
    # anything larger moves the weight (the paper's "weight 2048 times the update")
    assert update_is_lost(1.0, [2.0 ** -12, 2.0 ** -11]).tolist() == [True, True]
    assert update_is_lost(1.0, [2.0 ** -11 * 1.01, -2.0 ** -12 * 1.01]).tolist() == [False, False]
    assert update_is_lost(1024.0, 0.49).tolist() is True and not update_is_lost(1024.0, 0.51)


def test_master_weights():
    r = master_weights_demo(1.0, 1e-4, 1000)
    assert r["fp16"] == 1.0                       # every single step is lost
    # fp32: 1000 rounded additions, each off by at most half an ulp(1.1) = 2**-24
    assert abs(r["fp32_master"] - 1.1) <= 1000 * 2.0 ** -24
    assert r["fp16_copy"] == float(np.float16(r["fp32_master"]))
    with pytest.raises(ValueError, match="steps"):
        master_weights_demo(steps=0)


def test_dynamic_loss_scaler():
    s = DynamicLossScaler(init_scale=8.0, growth_interval=3)
    assert [s.update(v) for v in (False, False, True, False, False, False)] == \
        [True, True, False, True, True, True]
    assert s.scale == 8.0 and s.skipped == 1        # 8 -> 4 (overflow) -> 8 (3 good steps)
    with pytest.raises(ValueError, match="growth_interval"):
        DynamicLossScaler(growth_interval=0)
    with pytest.raises(TypeError, match="found_inf"):
        s.update("yes")


def test_dynamic_loss_scaler_defaults_are_pytorchs():
    torch = pytest.importorskip("torch")
    sig = inspect.signature(torch.amp.GradScaler.__init__).parameters
    s = DynamicLossScaler()
    assert (s.init_scale, s.growth_factor, s.backoff_factor, s.growth_interval) == (
        sig["init_scale"].default, sig["growth_factor"].default,
        sig["backoff_factor"].default, sig["growth_interval"].default)


def test_loss_scaling_rescues_fp16_training():
    ref = train_regression("fp32")
    plain = train_regression("fp16")
    master = train_regression("fp16_master")
    mixed = train_regression("mixed")
    small = train_regression("mixed", loss_scale=8.0)
    # the best loss of this (fp16-rounded) problem, by least squares
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 8)).astype(np.float16).astype(np.float64)
    y = (X @ (1e-3 * rng.standard_normal(8))).astype(np.float16).astype(np.float64)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    best = 0.5 * np.mean((X @ w - y) ** 2)
    assert ref.loss[0] == plain.loss[0] == mixed.loss[0]           # the same problem
    assert ref.loss[-1] < 1.5 * best                                # fp32 converges
    assert plain.zero_gradients > 0.5 and master.zero_gradients > 0.5
    assert plain.loss[-1] > 10 * ref.loss[-1] and master.loss[-1] > 10 * ref.loss[-1]
    assert mixed.zero_gradients == 0.0 and mixed.loss[-1] < 3 * ref.loss[-1]
    assert small.zero_gradients > 0.0 and small.loss[-1] > mixed.loss[-1]   # 8 is too small here
    assert mixed.final_scale == 2.0 ** 16 and mixed.skipped_steps == 0


def test_overflowing_scale_skips_steps():
    run = train_regression("mixed", loss_scale=2.0 ** 40, steps=20)
    assert run.skipped_steps == 20 and np.all(run.weights == 0) and run.loss[-1] == run.loss[0]
    dyn = train_regression("mixed", n=16384, d=8, target_scale=1.0, steps=30)
    assert dyn.skipped_steps >= 1 and dyn.final_scale < 2.0 ** 16


def test_reproducible_and_validated():
    a, b = train_regression("mixed", steps=30, seed=3), train_regression("mixed", steps=30, seed=3)
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.weights, b.weights)
    with pytest.raises(ValueError, match="mode"):
        train_regression("bf16")
    with pytest.raises(ValueError, match="loss_scale"):
        train_regression("mixed", loss_scale=-1.0)
    with pytest.raises(ValueError, match="accumulate"):
        matmul_fp16(np.ones((1, 2)), np.ones((2, 1)), "fp64")
    with pytest.raises(ValueError, match="FP16 range"):
        matmul_fp16([[1e6]], [[1.0]])
    with pytest.raises(ValueError, match="matching K"):
        matmul_fp16(np.ones((2, 3)), np.ones((2, 3)))
