"""Training on a MAC array: the backward pass as GEMMs, and mixed-precision training.

The backward pass is GEMMs too
------------------------------
A dense layer's forward pass is one GEMM, ``Y (M, N) = X (M, K) @ W (K, N)``
(M = batch, K = inputs, N = outputs). Its backward pass is two more, of the
same size (so training costs about 3x the forward MACs, the "6 N D" rule:
2 for the forward, 4 for the backward, per parameter and token):

* the input gradient ``dX (M, K) = dY (M, N) @ W.T (N, K)``: GEMM ``(M, N, K)``;
* the weight gradient ``dW (K, N) = X.T (K, M) @ dY (M, N)``: GEMM ``(K, M, N)``,
  whose inner dimension is the **batch**.

A convolution becomes the same three GEMMs after im2col
(:func:`mini_accel.nn.im2col`): with ``cols = im2col(x)`` of shape
``(N*Ho*Wo, C*kh*kw)`` and ``Wm = W.reshape(out, -1).T``,
``dWm = cols.T @ dY`` and ``dcols = dY @ Wm.T``, and :func:`mini_accel.nn.col2im`
adds the rows of ``dcols`` back onto their overlapping receptive fields.

How each dataflow handles the transposes. :class:`~mini_accel.SystolicArray`
multiplies ``A (M, K) @ B (K, N)``; a transposed operand is a different
*order of reading* the same buffer, not a different machine:

* ``"ws"`` (weight-stationary, TPU v1): B sits in the PEs. For ``dX`` the
  stationary tile is ``W.T``: the same weights, loaded so that PE(i, j) holds
  ``W[j, i]`` (the TPU's weight loader can transpose a tile on the way in;
  a plain loader reads ``W`` column by column). For ``dW`` the stationary
  operand is ``dY`` and ``X.T`` streams in: each streamed row is one *column*
  of the stored activations, so the activation buffer is read across rows.
* ``"is"`` (input-stationary): ``A.T`` sits in the PEs and columns of B stream.
  For ``dW`` the stationary tile is ``(X.T).T = X``, the activations exactly
  as stored: the transpose is free; for ``dX`` it is ``dY.T``.
* ``"os"`` (output-stationary): both operands stream, one along rows and one
  along columns, indexed by the inner dimension. ``dW`` streams ``X`` and
  ``dY`` along the batch: each enters one row of the stored matrices per
  cycle, so neither needs a transpose; for ``dX`` ``W`` is read by rows.

The results are the same in every dataflow (the tests check it bit for bit in
integer formats); only cycles and operand traffic differ.

Number formats
--------------
``precision`` names what the multipliers take and what the accumulators keep
(:data:`FORMATS`; the old keyword ``fmt=`` still works for one release, with a
DeprecationWarning). Four are registry formats (:data:`mini_accel.formats.FORMATS`),
accumulated in the registry's accumulator for them; ``"fp16_acc16"`` is a
*recipe*, fp16 operands with an fp16 accumulator:

* ``"fp32"``: float32 operands, float32 accumulation (on the array: its
  float32 kernel; without an array: numpy's float32 matmul).
* ``"bf16"``: operands rounded to bfloat16 (:func:`mini_accel.formats.to_bf16`),
  products exact in float32 (8 x 8 significant bits), float32 accumulation;
  results stored in bf16. bf16 has float32's exponent range: no loss scaling.
* ``"fp16"``: IEEE half operands, float32 accumulation (the tensor-core
  recipe of Micikevicius et al. 2018); results stored in fp16.
* ``"fp16_acc16"``: fp16 operands and an fp16 running sum, one rounding per
  multiply-add in the order a MAC column adds
  (:func:`mini_accel.mixed_precision.matmul_fp16`). The array's kernel always
  accumulates floats in float32, so with an ``array`` the *values* come from
  that sequential model and the *cycles* from the array's closed form.
* ``"int32"``: integer operands (int8/16/32), int32 accumulation: exact,
  compared bit for bit with numpy.

>>> import numpy as np
>>> from mini_accel import SystolicArray
>>> x = np.arange(6, dtype=np.int32).reshape(3, 2); W = np.ones((2, 4), np.int32)
>>> dy = np.ones((3, 4), np.int32)
>>> g = dense_backward(x, W, dy, precision="int32", array=SystolicArray(4, 4, "ws"))
>>> g.dW.tolist(), g.dX.shape, [r.shape for r in g.results]
([[6, 6, 6, 6], [9, 9, 9, 9]], (3, 2), [(3, 4, 2), (2, 3, 4)])
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ._checks import (
    check_array,
    check_instance,
    check_number,
    check_option,
    check_rng,
    check_size,
    positive_int,
    positive_number,
    renamed_keyword,
)
from .formats import canonical_format, round_to_format
from .mixed_precision import DynamicLossScaler, matmul_fp16
from .nn import col2im, conv_output_size, im2col, softmax_cross_entropy
from .nn_counting import _pair, _shape_arg
from .systolic import SystolicArray

__all__ = [
    "FORMATS",
    "backward_gemm_shapes",
    "gemm",
    "DenseGrads",
    "dense_backward",
    "conv2d_backward",
    "TrainingRun",
    "init_mlp",
    "mlp_loss_and_grads",
    "train_mlp_formats",
]

#: The ``precision`` values a GEMM here takes: registry formats (their accumulator
#: is the registry's) and one recipe, ``"fp16_acc16"`` (fp16 operands, fp16 running sum).
FORMATS = ("fp32", "bf16", "fp16", "fp16_acc16", "int32")
_FLOAT_FORMATS = FORMATS[:4]
Precision = Literal["fp32", "bf16", "fp16", "fp16_acc16", "int32"]
FloatPrecision = Literal["fp32", "bf16", "fp16", "fp16_acc16"]
#: Largest operand a GEMM here takes (elements), so a typo cannot allocate gigabytes.
MAX_GEMM_ELEMENTS = 20_000_000
#: Largest GEMM (M x K x N multiply-adds) it runs: seconds on numpy, longer on the array.
MAX_GEMM_MACS = 1 << 33


# --------------------------------------------------------------------------- #
# Shapes
# --------------------------------------------------------------------------- #
def backward_gemm_shapes(M: int, K: int, N: int) -> dict:
    """The three GEMMs of a dense layer ``(M, K) @ (K, N)``, each as ``(M, K, N)`` of the array.

    >>> backward_gemm_shapes(32, 64, 10)
    {'forward': (32, 64, 10), 'grad_input': (32, 10, 64), 'grad_weight': (64, 32, 10)}
    """
    M, K, N = (positive_int(n, v) for n, v in (("M", M), ("K", K), ("N", N)))
    return {"forward": (M, K, N), "grad_input": (M, N, K), "grad_weight": (K, M, N)}


# --------------------------------------------------------------------------- #
# One GEMM in a number format, on numpy or on the array
# --------------------------------------------------------------------------- #
def _precision(value, allowed=FORMATS) -> str:
    return canonical_format(value, allowed=allowed)


def _matrix(name: str, x, fmt: str, gemm_with: tuple | None = None) -> np.ndarray:
    """A non-empty finite 2-D matrix of numbers (integers for ``int32``), its size checked first.

    ``gemm_with``: the shape of the right operand, to refuse a too large GEMM before scanning values.
    """
    if gemm_with is not None and len(np.shape(x)) == 2 and len(gemm_with) == 2:
        macs = np.shape(x)[0] * np.shape(x)[1] * gemm_with[1]
        if macs > MAX_GEMM_MACS:
            raise ValueError(f"A {np.shape(x)} @ B {tuple(gemm_with)} is {macs:,} multiply-adds, more than the "
                             f"{MAX_GEMM_MACS:,} this module runs; use smaller matrices")
    x = check_array(name, x, ndim=2, dtype=None, allow_empty=False, max_elements=MAX_GEMM_ELEMENTS)
    if x.dtype.kind == "b":
        raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
    if fmt == "int32" and x.dtype.kind not in "iu":
        raise TypeError(f"precision='int32' needs integer {name}, got dtype {x.dtype}; "
                        f"cast with {name}.astype(np.int32) or pick a float precision")
    return x


def _check_gemm(A, B, array) -> None:
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"inner dimensions differ: A is {A.shape}, B is {B.shape}")
    check_instance("array", array, (SystolicArray, type(None)), what="a mini_accel.SystolicArray or None")


def _store(x, fmt: str) -> np.ndarray:
    """Round to the storage format of ``fmt`` (float32 values; fp16 overflow becomes inf)."""
    if fmt == "fp32":
        return np.asarray(x, dtype=np.float32)
    return round_to_format(x, "bf16" if fmt == "bf16" else "fp16")


@renamed_keyword("fmt", "precision")
def gemm(A, B, precision: Precision = "fp32", array=None):
    """``A @ B`` with ``precision``'s multiplies and accumulation; returns ``(C, SystolicResult or None)``.

    Float results come back as float32 values *before* the store rounding
    (the accumulator's content): round them with the storage format yourself
    when they are written to memory (:func:`train_mlp_formats` does). Operands
    beyond fp16's range become inf and raise ``ValueError``: scale them first.

    >>> import numpy as np
    >>> C, res = gemm(np.ones((2, 3)), np.ones((3, 2)), "bf16")
    >>> C.tolist(), res is None
    ([[3.0, 3.0], [3.0, 3.0]], True)
    """
    fmt = _precision(precision)
    A, B = _matrix("A", A, fmt, gemm_with=np.shape(B)), _matrix("B", B, fmt)
    _check_gemm(A, B, array)
    if fmt == "int32":
        if array is not None:
            res = array.matmul(A.astype(np.int32), B.astype(np.int32))
            return res.output, res
        return (A.astype(np.int64) @ B.astype(np.int64)), None
    if fmt in ("fp16", "fp16_acc16"):
        a, b = _store(A, "fp16"), _store(B, "fp16")
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise ValueError("an operand overflows fp16 (|x| > 65504); scale it down first")
        if fmt == "fp16_acc16":
            out = matmul_fp16(a, b, accumulate="fp16").astype(np.float32)
            res = array.matmul(a.astype(np.float16), b.astype(np.float16)) if array is not None else None
            if res is not None:          # cycles and traffic of the run; values from fp16 accumulation
                res = dataclasses.replace(res, output=out)
            return out, res
        a, b = a.astype(np.float16), b.astype(np.float16)
    elif fmt == "bf16":
        a, b = _store(A, "bf16"), _store(B, "bf16")
    else:
        a, b = np.asarray(A, np.float32), np.asarray(B, np.float32)
    if array is not None:
        res = array.matmul(a, b)
        return res.output.astype(np.float32), res
    return (a.astype(np.float32) @ b.astype(np.float32)), None


# --------------------------------------------------------------------------- #
# Dense and convolution backward passes
# --------------------------------------------------------------------------- #
@dataclass
class DenseGrads:
    """Gradients of one layer and the array runs of its backward GEMMs (``results`` empty on numpy)."""

    dX: np.ndarray
    dW: np.ndarray
    db: np.ndarray
    results: list = field(default_factory=list)

    @property
    def cycles(self) -> int:
        """Array cycles of the backward GEMMs (0 on numpy)."""
        return sum(r.cycles for r in self.results)


@renamed_keyword("fmt", "precision")
def dense_backward(x, W, dy, *, precision: Precision = "fp32", array=None) -> DenseGrads:
    """Backward pass of ``y = x @ W + b``: ``dX = dy @ W.T``, ``dW = x.T @ dy``, ``db = sum(dy)``.

    Both GEMMs run on ``array`` when one is given (results in
    ``DenseGrads.results``, in the order dX, dW), otherwise on numpy, in
    ``precision`` (module docstring). ``db`` is a plain sum (a vector unit's job),
    in int64 or float32.

    >>> import numpy as np
    >>> g = dense_backward(np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 4)))
    >>> g.dX.tolist(), g.db.tolist()
    ([[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]], [2.0, 2.0, 2.0, 2.0])
    """
    fmt = _precision(precision)
    x, W, dy = _matrix("x", x, fmt), _matrix("W", W, fmt), _matrix("dy", dy, fmt)
    if x.shape[1] != W.shape[0] or dy.shape != (x.shape[0], W.shape[1]):
        raise ValueError(f"x {x.shape} @ W {W.shape} needs dy of shape {(x.shape[0], W.shape[1])}, "
                         f"got {dy.shape}")
    dX, r1 = gemm(dy, np.ascontiguousarray(W.T), fmt, array)
    dW, r2 = gemm(np.ascontiguousarray(x.T), dy, fmt, array)
    db = dy.astype(np.int64 if fmt == "int32" else np.float32).sum(axis=0)
    return DenseGrads(dX, dW, db, [r for r in (r1, r2) if r is not None])


@renamed_keyword("fmt", "precision")
def conv2d_backward(x, W, dy, stride=1, padding=0, *, precision: Precision = "fp32", array=None) -> DenseGrads:
    """Backward pass of a (single-group) convolution through im2col GEMMs.

    ``x`` is ``(N, C, H, W)``, ``W`` ``(out, C, kh, kw)``, ``dy``
    ``(N, out, Ho, Wo)``. Returns dX ``(N, C, H, W)``, dW shaped like ``W``
    and db ``(out,)``. The two GEMMs are ``dcols = dY2 @ Wm.T`` (then col2im)
    and ``dWm = cols.T @ dY2``, with ``dY2 = dy`` as an ``(N*Ho*Wo, out)``
    matrix. Grouped convolutions are one such pair per group (not done here).

    >>> import numpy as np
    >>> g = conv2d_backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    >>> g.dW[0, 0].tolist(), g.dX[0, 0].tolist()
    ([[4.0, 4.0], [4.0, 4.0]], [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    """
    fmt = _precision(precision)
    x, W, dy = (check_array(name, v, ndim=4, dtype=None, allow_empty=False, max_elements=MAX_GEMM_ELEMENTS)
                for name, v in (("x", x), ("W", W), ("dy", dy)))
    N, C, H, Wd = x.shape
    out, Cw, kh, kw = W.shape
    if Cw != C:
        raise ValueError(f"W has {Cw} input channels but x has {C}")
    (sh, sw), (ph, pw) = _pair("stride", stride), _pair("padding", padding, low=0)
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(Wd, kw, sw, pw)
    if dy.shape != (N, out, Ho, Wo):
        raise ValueError(f"dy must have shape {(N, out, Ho, Wo)}, got {dy.shape}")
    check_size("im2col(x) (N*Ho*Wo x C*kh*kw)", N * Ho * Wo * C * kh * kw, max_elements=MAX_GEMM_ELEMENTS)
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw))
    dy2 = np.ascontiguousarray(dy.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, out))
    Wm = np.ascontiguousarray(W.reshape(out, -1).T)            # (C*kh*kw, out): the forward B
    g = dense_backward(cols, Wm, dy2, precision=fmt, array=array)
    dx = col2im(np.asarray(g.dX, dtype=np.float64), x.shape, (kh, kw), (sh, sw), (ph, pw))
    if fmt == "int32":
        dx = np.rint(dx).astype(np.int64)
    return DenseGrads(dx, np.asarray(g.dW).T.reshape(W.shape), g.db, g.results)


# --------------------------------------------------------------------------- #
# Training an MLP in a number format
# --------------------------------------------------------------------------- #
@dataclass
class TrainingRun:
    """Result of :func:`train_mlp_formats`.

    ``precision`` is the GEMMs' precision (also readable as ``fmt``, its old name);
    ``params`` are the FP32 master weights ``[(W1, b1), (W2, b2), ...]``;
    ``history`` has one value per epoch for ``loss`` (mean training loss),
    ``train_accuracy``, ``val_accuracy`` (if validation data was given),
    ``zero_grad_fraction`` (share of non-zero exact logit gradients that the
    storage format flushed to zero) and ``loss_scale`` (at the epoch's end).

    >>> run = TrainingRun("bf16", init_mlp((2, 3), seed=0), {})
    >>> run.fmt, run.predict([[1.0, 2.0]]).shape
    ('bf16', (1,))
    """

    precision: str
    params: list
    history: dict
    skipped_steps: int = 0
    cycles: int = 0
    macs: int = 0

    @property
    def fmt(self) -> str:
        """The old name of :attr:`precision`."""
        return self.precision

    def predict(self, X) -> np.ndarray:
        """Class ids from the FP32 master weights (float32 arithmetic)."""
        X = check_array("X", X, shape=(None, self.params[0][0].shape[0]), max_elements=MAX_GEMM_ELEMENTS)
        return np.argmax(_forward32(self.params, X.astype(np.float32))[-1], axis=1)

    def accuracy(self, X, y) -> float:
        """Share of the examples ``X`` whose predicted class is ``y``."""
        pred = self.predict(X)
        return float(np.mean(pred == _class_ids("y", y, pred.shape[0])))


def init_mlp(sizes, seed=0) -> list:
    """He-normal float32 weights ``[(W, b), ...]`` for layer sizes ``(in, h1, ..., out)``.

    >>> [w.shape for w, _ in init_mlp((64, 32, 10))]
    [(64, 32), (32, 10)]
    """
    sizes = _shape_arg(sizes, "sizes")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        check_size(f"the weights of layer {i} ({a} x {b})", a * b, max_elements=MAX_GEMM_ELEMENTS)
    gen = check_rng("seed", seed)
    return [(gen.normal(0.0, math.sqrt(2.0 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32))
            for a, b in zip(sizes[:-1], sizes[1:])]


def _forward32(params, X):
    acts = [X]
    for i, (W, b) in enumerate(params):
        z = acts[-1] @ W + b
        acts.append(np.maximum(z, 0) if i < len(params) - 1 else z)
    return acts


def _class_ids(name: str, y, n: int) -> np.ndarray:
    """``n`` integer class ids >= 0 as int64 (a float or bool array is a TypeError)."""
    y = check_array(name, y, shape=(n,), dtype=None, max_elements=MAX_GEMM_ELEMENTS)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class ids, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} must hold class ids >= 0, got {int(y.min())}")
    return y.astype(np.int64)


def _check_loss_scale(loss_scale):
    if loss_scale is None:
        return None
    if isinstance(loss_scale, str):
        return check_option("loss_scale (None, 'dynamic' or a number > 0)", loss_scale, ("dynamic",))
    return positive_number("loss_scale (None, 'dynamic' or a number > 0)", loss_scale)


def _check_training_args(X, y, loss_scale, global_batch, batch_size):
    X = check_array("X", X, ndim=2, dtype=None, allow_empty=False, max_elements=MAX_GEMM_ELEMENTS)
    if X.dtype.kind == "b":
        raise TypeError(f"X must hold numbers (examples, features), got dtype {X.dtype}")
    y = _class_ids("y", y, X.shape[0])
    loss_scale = _check_loss_scale(loss_scale)
    if global_batch is not None:
        global_batch = positive_int("global_batch", global_batch)
        if global_batch < batch_size:
            raise ValueError(f"global_batch ({global_batch}) must be >= batch_size ({batch_size})")
    return X.astype(np.float32), y, loss_scale, global_batch


@renamed_keyword("fmt", "precision")
def train_mlp_formats(X, y, hidden=(32,), precision: FloatPrecision = "fp32", *, epochs: int = 5, lr: float = 0.1,
                      batch_size: int = 32, momentum: float = 0.9, seed=0, loss_scale=None,
                      global_batch=None, array=None, X_val=None, y_val=None) -> TrainingRun:
    """Train a ReLU MLP with every GEMM in ``precision``, FP32 master weights and optional loss scaling.

    Each step: the master weights are rounded to the storage format (the
    "compute copy"); the forward GEMMs run in ``precision`` and store their outputs
    in it; the softmax cross-entropy and its gradient are computed in float32;
    the gradient ``S * (p - onehot) / G`` is stored in the format (this is
    where fp16 flushes small values to zero); the backward GEMMs
    (:func:`dense_backward`) run in ``precision``; the weight gradients are checked
    for inf/NaN, divided by ``S`` in float32, and SGD with momentum updates
    the FP32 masters. ``S`` is 1 (``loss_scale=None``), a constant, or a
    :class:`~mini_accel.mixed_precision.DynamicLossScaler` (``"dynamic"``,
    start 2**16, growth every 50 good steps) that skips overflowing steps.

    ``global_batch=G`` models one chip of a data-parallel job: the loss is
    the mean over ``G`` examples spread over ``G / batch_size`` chips, so
    this chip's gradient is ``1/G`` per example (tiny when G is large, as in
    LLM training with millions of tokens per step); the all-reduce that sums
    the chips' equal-sized shares is modelled by multiplying the unscaled
    gradient by ``G / batch_size``. In exact arithmetic the run is the same
    for every ``G``; in fp16 without loss scaling large ``G`` underflows.

    With ``array`` (a SystolicArray) every GEMM of the forward and backward
    passes runs on it and ``cycles``/``macs`` add them up. Same seed, same
    initial weights (:func:`init_mlp`) and same batches for every format.

    >>> from mini_accel.datasets import load_digits
    >>> X, y = load_digits()
    >>> run = train_mlp_formats(X[:600] / 16, y[:600], precision="bf16", epochs=3)
    >>> run.history["train_accuracy"][-1] > 0.9
    True
    """
    fmt = _precision(precision, _FLOAT_FORMATS)
    batch_size = positive_int("batch_size", batch_size)
    epochs = positive_int("epochs", epochs, high=10_000)
    X, y, loss_scale, G = _check_training_args(X, y, loss_scale, global_batch, batch_size)
    lr = positive_number("lr", lr)
    momentum = check_number("momentum", momentum, low=0, high=1, closed="left")
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    n_classes = int(y.max()) + 1
    if (X_val is None) != (y_val is None):
        raise TypeError("give both X_val and y_val, or neither")
    if X_val is not None:
        X_val = check_array("X_val", X_val, shape=(None, X.shape[1]), max_elements=MAX_GEMM_ELEMENTS)
        X_val, y_val = X_val.astype(np.float32), _class_ids("y_val", y_val, X_val.shape[0])
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__len__"):
        raise TypeError(f"hidden must be an int or a sequence of layer widths such as (32,), got {hidden!r}")
    params = init_mlp((X.shape[1], *hidden, n_classes), seed)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    scaler = DynamicLossScaler(init_scale=2.0 ** 16, growth_interval=50) if loss_scale == "dynamic" else None
    gen = check_rng("seed", seed)
    hist = {"loss": [], "train_accuracy": [], "zero_grad_fraction": [], "loss_scale": []}
    if X_val is not None:
        hist["val_accuracy"] = []
    run = TrainingRun(fmt, params, hist)
    n = X.shape[0]
    for _ in range(epochs):
        order = gen.permutation(n)
        total, zeros = 0.0, []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            S = scaler.scale if scaler else float(loss_scale or 1.0)
            share = float(G) if G else float(len(idx))
            loss, zero, grads = _step(run, params, X[idx], y[idx], fmt, S, share, array)
            total += loss * len(idx)
            zeros.append(zero)
            finite = all(np.isfinite(g).all() for pair in grads for g in pair)
            apply = scaler.update(not finite) if scaler else finite
            if not apply:
                run.skipped_steps += 1
                continue
            chips = share / len(idx)
            for (W, b), (vW, vb), (gW, gb) in zip(params, velocity, grads):
                for p, v, g in ((W, vW, gW), (b, vb, gb)):
                    v *= np.float32(momentum)
                    v -= np.float32(lr) * (g.astype(np.float32) * np.float32(chips / S))
                    p += v
        hist["loss"].append(total / n)
        hist["train_accuracy"].append(run.accuracy(X, y))
        hist["zero_grad_fraction"].append(float(np.mean(zeros)))
        hist["loss_scale"].append(scaler.scale if scaler else float(loss_scale or 1.0))
        if X_val is not None:
            hist["val_accuracy"].append(run.accuracy(X_val, y_val))
    return run


@renamed_keyword("fmt", "precision")
def mlp_loss_and_grads(params, X, y, precision: FloatPrecision = "fp32", *, loss_scale: float = 1.0,
                       array=None):
    """Mean softmax cross-entropy of a ReLU MLP and its gradients, every GEMM in ``precision``.

    ``params`` is ``[(W, b), ...]`` (:func:`init_mlp`). Returns ``(loss,
    grads)`` with ``grads = [(dW, db), ...]`` as float32, still multiplied by
    ``loss_scale`` (divide them by it, as the optimizer does).

    >>> import numpy as np
    >>> params = init_mlp((4, 3, 2), seed=0)
    >>> loss, grads = mlp_loss_and_grads(params, np.ones((5, 4)), np.array([0, 1, 0, 1, 1]))
    >>> [g.shape for g, _ in grads], round(loss, 4) > 0
    ([(4, 3), (3, 2)], True)
    """
    fmt = _precision(precision, _FLOAT_FORMATS)
    X, y, _, _ = _check_training_args(X, y, None, None, 1)
    loss_scale = positive_number("loss_scale", loss_scale)
    params = _check_params(params, X.shape[1])
    if y.max() >= params[-1][0].shape[1]:
        raise ValueError(f"y must hold class ids < {params[-1][0].shape[1]} (the outputs), got {int(y.max())}")
    run = TrainingRun(fmt, params, {})
    loss, _, grads = _step(run, params, X, y, fmt, float(loss_scale), float(len(y)), array)
    return loss, grads


def _check_params(params, n_in: int) -> list:
    """``params`` as a list of ``(W, b)`` float arrays whose shapes chain from ``n_in`` inputs."""
    if isinstance(params, (str, bytes)) or not hasattr(params, "__len__") or not len(params):
        raise TypeError(f"params must be a non-empty list of (W, b) pairs (see init_mlp), got {params!r:.60}")
    out = []
    for i, pair in enumerate(params):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"params[{i}] must be a pair (W, b), got {type(pair).__name__}")
        W = check_array(f"params[{i}][0]", pair[0], shape=(n_in, None), max_elements=MAX_GEMM_ELEMENTS)
        b = check_array(f"params[{i}][1]", pair[1], shape=(W.shape[1],))
        out.append((W.astype(np.float32, copy=False), b.astype(np.float32, copy=False)))
        n_in = W.shape[1]
    return out


def _step(run, params, xb, yb, fmt, S, share, array):
    """Forward and backward of one mini-batch in ``fmt``; returns loss, zero fraction, grads."""
    store = (lambda a: _store(a, fmt)) if fmt != "fp16_acc16" else (lambda a: _store(a, "fp16"))
    acts, masks = [store(xb)], []
    L = len(params)
    for i, (W, b) in enumerate(params):
        z, res = gemm(acts[-1], store(W), fmt, array)
        run.cycles += res.cycles if res is not None else 0
        run.macs += acts[-1].shape[0] * W.shape[0] * W.shape[1]
        z = store(z + b)                                     # bias add in fp32, stored in the format
        if i < L - 1:
            masks.append(z > 0)
            acts.append(np.where(masks[-1], z, np.float32(0)))
    logits = z.astype(np.float32)
    loss, g = softmax_cross_entropy(logits.astype(np.float64), yb)   # g = (p - onehot) / batch
    exact = g * (len(yb) / share) * S                                # d(S * loss_share) / d logits
    grad = store(exact)
    zero = float(np.mean(grad[exact != 0] == 0)) if np.any(exact != 0) else 0.0
    grads = [None] * L
    if not np.isfinite(grad).all():
        return loss, zero, [(np.full_like(W, np.inf), b) for W, b in params]
    for i in range(L - 1, -1, -1):
        W = store(params[i][0])
        need_dx = i > 0
        if need_dx:
            dg = dense_backward(acts[i], W, grad, precision=fmt, array=array)
            dW, db, dX = dg.dW, dg.db, dg.dX
            run.cycles += dg.cycles
        else:                                                # the first layer's dX is never needed
            dW, res = gemm(np.ascontiguousarray(acts[0].T), grad, fmt, array)
            db = grad.astype(np.float32).sum(axis=0)
            run.cycles += res.cycles if res is not None else 0
        run.macs += (2 if need_dx else 1) * acts[i].shape[0] * W.shape[0] * W.shape[1]
        grads[i] = (store(dW), db.astype(np.float32))
        if need_dx:
            grad = store(np.where(masks[i - 1], store(dX), np.float32(0)))
            if not np.isfinite(grad).all():                  # overflow: the scaler must back off
                grads[:i] = [(np.full_like(Wi, np.inf), bi) for Wi, bi in params[:i]]
                break
    return loss, zero, grads
