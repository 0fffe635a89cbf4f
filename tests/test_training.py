"""mini_accel.training: backward GEMMs on the array, gradient checks, training in number formats.

Tolerances (stated here and in the module):
* integer formats: bit for bit against numpy's int64 matmul, in every dataflow;
* float formats on the array against numpy's float32 matmul of the same rounded
  operands: |difference| <= 2 K 2**-24 (|A| @ |B|) element-wise (each of the two
  float32 sums is within K u |A||B| of the exact sum, u = 2**-24);
* gradients against central differences in float64: relative 1e-4 (float32 GEMMs);
* fp32 training on the array against a plain numpy float32 reference with the same
  seed: the same test accuracy to within 2 of 450 examples after 3 epochs.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mini_accel import SystolicArray
from mini_accel.datasets import holdout_split, load_digits
from mini_accel.mixed_precision import matmul_fp16
from mini_accel.nn import Conv2d
from mini_accel.training import (
    FORMATS,
    backward_gemm_shapes,
    conv2d_backward,
    dense_backward,
    gemm,
    init_mlp,
    mlp_loss_and_grads,
    train_mlp_formats,
)

U32 = 2.0 ** -24
SETTINGS = dict(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return holdout_split(X / 16, y, test_fraction=0.25, seed=0)


# --------------------------------------------------------------------------- #
# Shapes
# --------------------------------------------------------------------------- #
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9))
@settings(**SETTINGS)
def test_backward_shapes_are_the_gemms_that_run(M, K, N):
    shapes = backward_gemm_shapes(M, K, N)
    rng = np.random.default_rng(M * 100 + K * 10 + N)
    x = rng.integers(-3, 4, (M, K)).astype(np.int32)
    W = rng.integers(-3, 4, (K, N)).astype(np.int32)
    dy = rng.integers(-3, 4, (M, N)).astype(np.int32)
    g = dense_backward(x, W, dy, precision="int32", array=SystolicArray(4, 3, "os"))
    assert [r.shape for r in g.results] == [shapes["grad_input"], shapes["grad_weight"]]
    assert shapes["forward"] == (M, K, N)
    # all three GEMMs have the same number of MACs: training = 3x the forward
    assert len({int(np.prod(s)) for s in shapes.values()}) == 1


# --------------------------------------------------------------------------- #
# Bit-exact integer backward passes in every dataflow
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.integers(1, 6), st.integers(1, 6),
       st.integers(0, 2 ** 31 - 1))
@settings(**SETTINGS)
def test_dense_backward_int_is_bit_exact(dataflow, M, K, N, rows, cols, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (M, K)).astype(np.int8)
    W = rng.integers(-128, 128, (K, N)).astype(np.int8)
    dy = rng.integers(-128, 128, (M, N)).astype(np.int8)
    g = dense_backward(x, W, dy, precision="int32", array=SystolicArray(rows, cols, dataflow))
    x64, W64, dy64 = (a.astype(np.int64) for a in (x, W, dy))
    assert np.array_equal(g.dX, dy64 @ W64.T)
    assert np.array_equal(g.dW, x64.T @ dy64)
    assert np.array_equal(g.db, dy64.sum(axis=0))
    assert g.dX.dtype == np.int32 and g.dW.dtype == np.int32
    assert g.cycles == sum(r.cycles for r in g.results) > 0


def _conv_backward_loops(x, W, dy, stride, padding):
    """Direct loops over every output pixel: the obvious definition of the gradients."""
    N, C, H, Wd = x.shape
    O, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for n in range(N):
        for o in range(O):
            for i in range(dy.shape[2]):
                for j in range(dy.shape[3]):
                    g = dy[n, o, i, j]
                    patch = xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    dW[o] += g * patch
                    dxp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += g * W[o]
    return dxp[:, :, padding:padding + H, padding:padding + Wd], dW, dy.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(3, 6), st.integers(1, 3),
       st.integers(1, 2), st.integers(0, 1), st.integers(0, 2 ** 31 - 1))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_conv_backward_int_is_bit_exact(dataflow, N, C, O, H, k, stride, padding, seed):
    k = min(k, H)
    rng = np.random.default_rng(seed)
    x = rng.integers(-20, 21, (N, C, H, H)).astype(np.int64)
    W = rng.integers(-20, 21, (O, C, k, k)).astype(np.int64)
    Ho = (H + 2 * padding - k) // stride + 1
    dy = rng.integers(-20, 21, (N, O, Ho, Ho)).astype(np.int64)
    g = conv2d_backward(x.astype(np.int16), W.astype(np.int16), dy.astype(np.int16), stride, padding,
                        precision="int32", array=SystolicArray(4, 4, dataflow))
    dx, dW, db = _conv_backward_loops(x, W, dy, stride, padding)
    assert np.array_equal(g.dX, dx) and np.array_equal(g.dW, dW) and np.array_equal(g.db, db)


# --------------------------------------------------------------------------- #
# Floating formats on the array: within the stated bound of numpy
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("fmt", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_float_gemms_on_the_array_match_numpy_within_bound(fmt, dataflow):
    rng = np.random.default_rng(7)
    for M, K, N in [(5, 40, 7), (33, 17, 9), (8, 64, 8)]:
        A = rng.normal(0, 1, (M, K)).astype(np.float32)
        B = rng.normal(0, 1, (K, N)).astype(np.float32)
        on_array, res = gemm(A, B, fmt, SystolicArray(8, 8, dataflow))
        on_numpy, none = gemm(A, B, fmt)
        assert res.shape == (M, K, N) and none is None
        bound = 2 * K * U32 * (np.abs(A).astype(np.float64) @ np.abs(B)) * 1.01
        assert np.all(np.abs(on_array.astype(np.float64) - on_numpy) <= bound)
        # and both are within the format's operand rounding of the exact float64 product
        eps = {"fp32": U32, "bf16": 2.0 ** -8, "fp16": 2.0 ** -11}[fmt]
        exact = A.astype(np.float64) @ B.astype(np.float64)
        assert np.all(np.abs(on_array - exact) <= (2 * eps + K * U32) * (np.abs(A) @ np.abs(B)) * 1.01)


def test_fp16_accumulation_on_the_array_uses_the_column_order_model():
    rng = np.random.default_rng(3)
    A = rng.uniform(0, 1, (4, 300)).astype(np.float32)
    B = rng.uniform(0, 1, (300, 5)).astype(np.float32)
    out, res = gemm(A, B, "fp16_acc16", SystolicArray(8, 8, "ws"))
    assert np.array_equal(out, matmul_fp16(A, B, "fp16").astype(np.float32))
    assert res.cycles == SystolicArray(8, 8, "ws").cycles(4, 300, 5)
    acc32, _ = gemm(A, B, "fp16")
    exact = A.astype(np.float64) @ B
    # fp16 accumulation of 300 terms loses far more than fp32 accumulation
    assert np.abs(out - exact).max() > 20 * np.abs(acc32 - exact).max()


def test_dense_backward_float_matches_nn_dense():
    from mini_accel.nn import Dense
    rng = np.random.default_rng(1)
    layer = Dense(12, 7, rng=2)
    x = rng.normal(size=(9, 12))
    dy = rng.normal(size=(9, 7))
    layer.forward(x)
    dx_ref = layer.backward(dy)
    for df in ("ws", "os", "is"):
        g = dense_backward(x, layer.W, dy, array=SystolicArray(4, 4, df))
        assert np.allclose(g.dX, dx_ref, rtol=1e-5, atol=1e-5)
        assert np.allclose(g.dW, layer.dW, rtol=1e-5, atol=1e-5)
        assert np.allclose(g.db, layer.db, rtol=1e-5, atol=1e-5)


def test_conv_backward_float_matches_nn_conv_and_numerical_gradient():
    rng = np.random.default_rng(4)
    conv = Conv2d(2, 3, 3, stride=2, padding=1, rng=5)
    x = rng.normal(size=(2, 2, 6, 6))
    y = conv.forward(x)
    dy = rng.normal(size=y.shape)
    dx_ref = conv.backward(dy)
    g = conv2d_backward(x, conv.W, dy, 2, 1, array=SystolicArray(4, 4, "ws"))
    assert np.allclose(g.dX, dx_ref, atol=1e-5) and np.allclose(g.dW, conv.dW, atol=1e-5)
    # central differences of L = sum(dy * conv(x)) in float64, a few weights and inputs
    def loss(xx, WW):
        c = Conv2d(2, 3, 3, stride=2, padding=1, bias=False)
        c.W = WW
        return float(np.sum(dy * c.forward(xx)))
    h = 1e-6
    for idx in [(0, 0, 0, 0), (2, 1, 2, 1), (1, 0, 1, 2)]:
        Wp, Wm = conv.W.copy(), conv.W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        num = (loss(x, Wp) - loss(x, Wm)) / (2 * h)
        assert abs(num - g.dW[idx]) <= 1e-4 * max(1.0, abs(num))
    for idx in [(0, 0, 0, 0), (1, 1, 3, 4), (0, 1, 5, 5)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        num = (loss(xp, conv.W) - loss(xm, conv.W)) / (2 * h)
        assert abs(num - g.dX[idx]) <= 1e-4 * max(1.0, abs(num))


# --------------------------------------------------------------------------- #
# MLP gradients: numerical differentiation and a plain numpy reference
# --------------------------------------------------------------------------- #
def _loss64(params, X, y):
    a = X.astype(np.float64)
    for i, (W, b) in enumerate(params):
        a = a @ W.astype(np.float64) + b
        if i < len(params) - 1:
            a = np.maximum(a, 0)
    z = a - a.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


@pytest.mark.parametrize("array", [None, SystolicArray(4, 4, "ws"), SystolicArray(3, 5, "is")])
def test_mlp_gradients_match_central_differences(array):
    rng = np.random.default_rng(0)
    params = init_mlp((6, 5, 4, 3), seed=1)
    X = rng.normal(size=(8, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    loss, grads = mlp_loss_and_grads(params, X, y, "fp32", array=array)
    assert abs(loss - _loss64(params, X, y)) < 1e-5
    h = 1e-4
    for li, (W, b) in enumerate(params):
        for arr, g in ((W, grads[li][0]), (b, grads[li][1])):
            for flat in rng.choice(arr.size, size=min(6, arr.size), replace=False):
                idx = np.unravel_index(flat, arr.shape)
                p64 = [(w.astype(np.float64), bb.astype(np.float64)) for w, bb in params]
                target = p64[li][0] if arr is W else p64[li][1]
                target[idx] += h
                up = _loss64(p64, X, y)
                target[idx] -= 2 * h
                down = _loss64(p64, X, y)
                num = (up - down) / (2 * h)
                assert abs(num - g[idx]) <= 1e-4 * max(1.0, abs(num)) + 1e-5, (li, idx, num, g[idx])


def _reference_train(X, y, Xte, yte, hidden, epochs, lr, batch, momentum, seed):
    """Plain numpy float32 SGD with momentum, the same initialisation and batch order."""
    gen = np.random.default_rng(seed)
    sizes = (X.shape[1], *hidden, int(y.max()) + 1)
    params = [[gen.normal(0.0, np.sqrt(2.0 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32)]
              for a, b in zip(sizes[:-1], sizes[1:])]
    vel = [[np.zeros_like(W), np.zeros_like(b)] for W, b in params]
    order_gen = np.random.default_rng(seed)
    X = X.astype(np.float32)
    for _ in range(epochs):
        order = order_gen.permutation(len(y))
        for s in range(0, len(y), batch):
            idx = order[s:s + batch]
            acts = [X[idx]]
            for i, (W, b) in enumerate(params):
                z = acts[-1] @ W + b
                acts.append(np.maximum(z, 0) if i < len(params) - 1 else z)
            z = acts[-1].astype(np.float64)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            g = (p / len(idx)).astype(np.float32)
            for i in range(len(params) - 1, -1, -1):
                dW, db = acts[i].T @ g, g.sum(axis=0)
                if i:
                    g = (g @ params[i][0].T) * (acts[i] > 0)
                for P, V, G in zip(params[i], vel[i], (dW, db)):
                    V *= np.float32(momentum)
                    V -= np.float32(lr) * G
                    P += V
    a = Xte.astype(np.float32)
    for i, (W, b) in enumerate(params):
        a = a @ W + b
        a = np.maximum(a, 0) if i < len(params) - 1 else a
    return float(np.mean(a.argmax(axis=1) == yte)), params


def test_fp32_training_on_the_array_matches_the_numpy_reference(digits):
    Xtr, Xte, ytr, yte = digits
    ref_acc, ref_params = _reference_train(Xtr, ytr, Xte, yte, (32,), 3, 0.1, 32, 0.9, seed=0)
    plain = train_mlp_formats(Xtr, ytr, (32,), "fp32", epochs=3, seed=0)
    on_array = train_mlp_formats(Xtr, ytr, (32,), "fp32", epochs=3, seed=0,
                                 array=SystolicArray(16, 16, "ws"))
    for (W, b), (Wr, br) in zip(plain.params, ref_params):
        assert np.allclose(W, Wr, rtol=1e-3, atol=1e-4) and np.allclose(b, br, rtol=1e-3, atol=1e-4)
    assert abs(plain.accuracy(Xte, yte) - ref_acc) <= 2 / len(yte)
    assert abs(on_array.accuracy(Xte, yte) - ref_acc) <= 2 / len(yte)
    assert ref_acc > 0.9
    # every forward and backward GEMM ran on the array: 3 GEMMs per layer but the first (no dX)
    n = len(ytr)
    assert on_array.macs == 3 * n * (2 * 64 * 32 + 3 * 32 * 10)   # 3 epochs; fwd 1x, bwd 2x (1x for layer 1)
    assert on_array.cycles > on_array.macs / (16 * 16)


def test_fp16_without_loss_scaling_fails_and_scaling_or_bf16_recovers(digits):
    """The issue's claim, on the digits MLP: one chip of a data-parallel job with a global
    batch of 4M examples (Llama 2's 4M-token batch, Touvron et al. 2023 Table 1)."""
    Xtr, Xte, ytr, yte = digits
    kw = dict(hidden=(32,), epochs=2, seed=0, global_batch=2 ** 22, X_val=Xte, y_val=yte)
    runs = {name: train_mlp_formats(Xtr, ytr, precision=fmt, loss_scale=ls, **kw)
            for name, fmt, ls in [("fp32", "fp32", None), ("bf16", "bf16", None),
                                  ("fp16", "fp16", None), ("fp16_scaled", "fp16", "dynamic")]}
    acc = {k: r.history["val_accuracy"][-1] for k, r in runs.items()}
    assert runs["fp16"].history["zero_grad_fraction"][0] > 0.5       # most logit gradients flushed
    assert runs["fp16_scaled"].history["zero_grad_fraction"][0] < 0.1
    assert runs["fp32"].history["zero_grad_fraction"] == [0.0, 0.0]
    assert acc["fp16"] < acc["fp32"] - 0.03
    assert runs["fp16"].history["loss"][0] > 2 * runs["fp32"].history["loss"][0]
    assert abs(acc["bf16"] - acc["fp32"]) <= 0.02 and abs(acc["fp16_scaled"] - acc["fp32"]) <= 0.02
    # in exact arithmetic the global batch changes nothing: fp32 is the same run either way
    base = train_mlp_formats(Xtr, ytr, (32,), "fp32", epochs=2, seed=0)
    for (W, _), (W2, _) in zip(base.params, runs["fp32"].params):
        assert np.allclose(W, W2, rtol=1e-4, atol=1e-5)


def test_overflowing_loss_scale_skips_every_step(digits):
    Xtr, _, ytr, _ = digits
    start = init_mlp((64, 8, 10), seed=0)
    run = train_mlp_formats(Xtr[:64], ytr[:64], (8,), "fp16", epochs=1, loss_scale=2.0 ** 40)
    assert run.skipped_steps == 2
    assert all(np.array_equal(W, W0) for (W, _), (W0, _) in zip(run.params, start))
    dyn = train_mlp_formats(Xtr[:320], ytr[:320], (8,), "fp16", epochs=1, loss_scale="dynamic")
    assert dyn.history["loss_scale"][0] == 2.0 ** 16   # no overflow at 2**16 here, no growth in 10 steps


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
def test_bad_inputs_are_refused_with_a_message():
    A = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="precision"):
        gemm(A, A.T, "fp8")
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(A, A, "fp32")
    with pytest.raises(TypeError, match="int32"):
        gemm(A, A.T, "int32")
    with pytest.raises(ValueError, match="NaN"):
        gemm(np.full((2, 2), np.nan), np.ones((2, 2)))
    with pytest.raises(ValueError, match="fp16"):
        gemm(np.full((2, 2), 1e6), np.ones((2, 2)), "fp16")
    with pytest.raises(TypeError, match="array"):
        gemm(A, A.T, "fp32", array="ws")
    with pytest.raises(ValueError, match="dy"):
        dense_backward(np.ones((2, 3)), np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="loss_scale"):
        train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), loss_scale=-1.0)
    with pytest.raises(ValueError, match="global_batch"):
        train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), global_batch=2, batch_size=4)
    with pytest.raises(ValueError, match="precision"):
        train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), precision="int32")
    with pytest.raises(ValueError, match="lr"):
        train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), momentum=1.0)
    with pytest.raises(ValueError, match="X_val"):
        train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), X_val=np.ones((3, 5)), y_val=np.zeros(3, int))
    with pytest.raises(ValueError, match="elements"):
        gemm(np.zeros((5000, 5000)), np.zeros((5000, 1)))
    assert set(FORMATS) == {"fp32", "bf16", "fp16", "fp16_acc16", "int32"}
