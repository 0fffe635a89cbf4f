"""Layers of :mod:`mini_accel.nn` without a GEMM: activations, softmax, flatten, pooling.

They do few operations next to the GEMMs (counts per the conventions in
:mod:`mini_accel.nn`), but each still needs its own vector unit on an
accelerator.

>>> ReLU()([-1.0, 2.0]).tolist(), ReLU().other_ops((4, 8))
([0.0, 2.0], 32)
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_int, check_number
from .nn_counting import _as_input, _grad_arg, _pair, _shape_arg, conv_output_size
from .nn_layers import Layer

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "softmax",
           "Flatten", "MaxPool2d", "AvgPool2d"]


# --------------------------------------------------------------------------- #
# Element-wise activations
# --------------------------------------------------------------------------- #
class _Elementwise(Layer):
    #: elementary operations per element (module docstring conventions)
    ops_per_element = 1

    def __init__(self):
        self._x = None
        self._y = None

    def _f(self, x):  # pragma: no cover - overridden
        raise NotImplementedError

    def _grad(self, x, y):  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x):
        x = _as_input(x)
        y = self._f(x)
        self._x, self._y = x, y
        return y

    def backward(self, grad):
        if self._x is None:
            raise RuntimeError("call forward() before backward()")
        return _grad_arg(grad, self._y.shape) * self._grad(self._x, self._y)

    def other_ops(self, input_shape):
        return self.ops_per_element * math.prod(_shape_arg(input_shape))


class ReLU(_Elementwise):
    """``max(x, 0)``; 1 op (a compare) per element.

    >>> ReLU()([-1.0, 2.0]).tolist()
    [0.0, 2.0]
    """

    ops_per_element = 1

    def _f(self, x):
        return np.maximum(x, 0.0)

    def _grad(self, x, y):
        return (x > 0).astype(np.float64)


class ReLU6(_Elementwise):
    """``min(max(x, 0), 6)`` as in MobileNetV2; 2 ops per element.

    >>> ReLU6()([-1.0, 3.0, 9.0]).tolist()
    [0.0, 3.0, 6.0]
    """

    ops_per_element = 2

    def _f(self, x):
        return np.clip(x, 0.0, 6.0)

    def _grad(self, x, y):
        return ((x > 0) & (x < 6)).astype(np.float64)


class LeakyReLU(_Elementwise):
    """``x`` if ``x > 0`` else ``slope * x``; 2 ops per element.

    >>> LeakyReLU(0.1)([-2.0, 3.0]).tolist()
    [-0.2, 3.0]
    """

    ops_per_element = 2

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = check_number("slope", slope, low=0.0)

    def __repr__(self) -> str:
        return f"LeakyReLU({self.slope})"

    def _f(self, x):
        return np.where(x > 0, x, self.slope * x)

    def _grad(self, x, y):
        return np.where(x > 0, 1.0, self.slope)


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``; 4 ops per element (negate, exp, add, divide).

    >>> Sigmoid()([0.0]).tolist()
    [0.5]
    """

    ops_per_element = 4

    def _f(self, x):
        # Two branches so that exp never overflows.
        out = np.empty_like(x, dtype=np.float64)
        pos = x >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
        ex = np.exp(x[~pos])
        out[~pos] = ex / (1.0 + ex)
        return out

    def _grad(self, x, y):
        return y * (1.0 - y)


class Tanh(_Elementwise):
    """Hyperbolic tangent; 1 op per element.

    >>> Tanh()([0.0]).tolist()
    [0.0]
    """

    ops_per_element = 1

    def _f(self, x):
        return np.tanh(x)

    def _grad(self, x, y):
        return 1.0 - y * y


class GELU(_Elementwise):
    """GELU, tanh approximation (Hendrycks & Gimpel 2016) as in BERT and GPT-2.

    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``: 9 ops per element.

    >>> round(float(GELU()([1.0])[0]), 4)
    0.8412
    """

    ops_per_element = 9
    _C = math.sqrt(2.0 / math.pi)

    def _f(self, x):
        return 0.5 * x * (1.0 + np.tanh(self._C * (x + 0.044715 * x**3)))

    def _grad(self, x, y):
        u = self._C * (x + 0.044715 * x**3)
        t = np.tanh(u)
        du = self._C * (1.0 + 3 * 0.044715 * x**2)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du


def softmax(x, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (the max is subtracted first).

    >>> softmax([0.0, 0.0]).tolist()
    [0.5, 0.5]
    """
    x = _as_input(x)
    axis = check_int("axis", axis, low=-max(x.ndim, 1), high=max(x.ndim, 1) - 1)
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D for a softmax, got a scalar")
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


class Softmax(Layer):
    """Softmax over the last axis; 5n - 2 ops per row of length n.

    >>> Softmax()([[1.0, 1.0, 1.0, 1.0]]).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self):
        self._y = None

    def forward(self, x):
        x = _as_input(x)
        if x.ndim < 1:
            raise ValueError("Softmax needs at least a 1-D input")
        self._y = softmax(x, axis=-1)
        return self._y

    def backward(self, grad):
        if self._y is None:
            raise RuntimeError("call forward() before backward()")
        grad = _grad_arg(grad, self._y.shape)
        s = self._y
        return s * (grad - (grad * s).sum(axis=-1, keepdims=True))

    def other_ops(self, input_shape):
        shape = _shape_arg(input_shape)
        n = shape[-1]
        return (math.prod(shape) // n) * (5 * n - 2)


class Flatten(Layer):
    """Reshape ``(N, ...)`` to ``(N, prod(...))``; no arithmetic.

    >>> import numpy as np
    >>> Flatten()(np.zeros((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self):
        self._shape = None

    def forward(self, x):
        x = _as_input(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten needs an input of shape (N, ...), got {x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        if self._shape is None:
            raise RuntimeError("call forward() before backward()")
        return _grad_arg(grad, (self._shape[0], math.prod(self._shape[1:]))).reshape(self._shape)

    def output_shape(self, input_shape):
        shape = _shape_arg(input_shape)
        return (shape[0], math.prod(shape[1:])) if len(shape) > 1 else shape


class _Pool2d(Layer):
    def __init__(self, kernel_size, stride=None):
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride)
        self._cache = None

    def __repr__(self) -> str:
        return f"{self.name}({self.kernel_size}, stride={self.stride})"

    def output_shape(self, input_shape):
        shape = _shape_arg(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self!r} expects input_shape (N, C, H, W), got {shape}")
        N, C, H, W = shape
        return (N, C, conv_output_size(H, self.kernel_size[0], self.stride[0]),
                conv_output_size(W, self.kernel_size[1], self.stride[1]))

    def _windows(self, x):
        x = _as_input(x)
        if x.ndim != 4:
            raise ValueError(f"{self!r} expects a 4-D input (N, C, H, W), got shape {x.shape}")
        _, _, Ho, Wo = self.output_shape(x.shape)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
        win = win[:, :, : (Ho - 1) * sh + 1 : sh, : (Wo - 1) * sw + 1 : sw]
        return x, win.reshape(win.shape[:4] + (kh * kw,))

    def _scatter(self, x_shape, weights):
        """Add ``weights[..., p]`` back to kernel position p of every window."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        Ho, Wo = weights.shape[2], weights.shape[3]
        dx = np.zeros(x_shape)
        for i in range(kh):
            for j in range(kw):
                dx[:, :, i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw] += (
                    weights[..., i * kw + j]
                )
        return dx


class MaxPool2d(_Pool2d):
    """Max over ``kernel_size`` windows (no padding); k*k - 1 compares per output.

    >>> import numpy as np
    >>> MaxPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """

    def forward(self, x):
        x, win = self._windows(x)
        idx = win.argmax(axis=-1)
        self._cache = (x.shape, idx)
        return np.take_along_axis(win, idx[..., None], axis=-1)[..., 0]

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("call forward() before backward()")
        x_shape, idx = self._cache
        kk = self.kernel_size[0] * self.kernel_size[1]
        onehot = (idx[..., None] == np.arange(kk)) * _grad_arg(grad, idx.shape)[..., None]
        return self._scatter(x_shape, onehot)

    def other_ops(self, input_shape):
        return math.prod(self.output_shape(input_shape)) * (self.kernel_size[0] * self.kernel_size[1] - 1)


class AvgPool2d(_Pool2d):
    """Mean over ``kernel_size`` windows (no padding); k*k ops per output.

    >>> import numpy as np
    >>> AvgPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """

    def forward(self, x):
        x, win = self._windows(x)
        y = win.mean(axis=-1)
        self._cache = (x.shape, y.shape)
        return y

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("call forward() before backward()")
        x_shape, y_shape = self._cache
        kk = self.kernel_size[0] * self.kernel_size[1]
        g = _grad_arg(grad, y_shape)[..., None] / kk
        return self._scatter(x_shape, np.broadcast_to(g, g.shape[:-1] + (kk,)))

    def other_ops(self, input_shape):
        return math.prod(self.output_shape(input_shape)) * self.kernel_size[0] * self.kernel_size[1]
