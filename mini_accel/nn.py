"""Neural-network layers as matrix multiplications, in plain numpy.

A dense layer is one GEMM, ``x (M, K) @ W (K, N)``; a convolution becomes one
too after *im2col* copies every receptive field into a row of a matrix. Every
layer here can say which GEMM it is (:class:`GemmShape`), how many MACs and
parameters it has, how many other operations it does (bias adds,
activations, pooling), and can run its GEMM on a
:class:`mini_accel.SystolicArray`. A :class:`Sequential` model adds these up
and reports the share of its work that is matrix multiplication.

A minimal backward pass (every layer here has one; Dense, ReLU and the fused
softmax cross-entropy are all an MLP needs) lets :func:`train_mlp` train a
small classifier with mini-batch SGD.

Counting conventions
--------------------
* One MAC (multiply-accumulate) is 2 operations, the convention of most
  accelerator papers (e.g. Jouppi et al. 2017 count 65,536 MACs x 2 x
  700 MHz = 92 TOPS).
* ``other_ops`` counts every elementary float operation outside the GEMMs as
  one: add, multiply, divide, compare, exp, tanh. So a bias add is 1 op per
  output, ReLU 1 (a compare), sigmoid 4 (negate, exp, add, divide), softmax
  5n - 2 per row of n (max, subtract, exp, sum, divide), max pooling k*k - 1
  compares per output. These are a model, not a measurement: an exp costs far
  more than an add on real hardware, which only makes the point stronger that
  nearly all the *work* is in the GEMMs while the other ops still need their
  own (vector) units.
* Shapes include the batch: a dense layer takes ``(batch, in_features)`` (or
  any ``(..., in_features)``), a convolution ``(N, C, H, W)``.

Example
-------
>>> import numpy as np
>>> from mini_accel.nn import Dense, ReLU, Softmax, Sequential
>>> model = Sequential([Dense(64, 32, rng=0), ReLU(), Dense(32, 10, rng=1), Softmax()])
>>> [layer.gemm_shape((100, 64)) for layer in model.layers[:1]]
[GemmShape(M=100, K=64, N=32, count=1)]
>>> model.num_params                  # 64*32 + 32 + 32*10 + 10
2410
>>> work = model.work((100, 64))     # other ops: bias 3200 + 1000, ReLU 3200, softmax 100*48
>>> work["macs"], work["other_ops"], round(work["matmul_share"], 3)
(236800, 12200, 0.975)
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._checks import positive_int as _int_arg

__all__ = [
    "GemmShape",
    "Layer",
    "Dense",
    "Conv2d",
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softmax",
    "Flatten",
    "MaxPool2d",
    "AvgPool2d",
    "Sequential",
    "ArrayRun",
    "im2col",
    "col2im",
    "conv_output_size",
    "softmax",
    "softmax_cross_entropy",
    "accuracy",
    "train_mlp",
]


# --------------------------------------------------------------------------- #
# Small validation helpers
# --------------------------------------------------------------------------- #
def _pair(name: str, value, *, low: int = 1) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return _int_arg(f"{name}[0]", value[0], low=low), _int_arg(f"{name}[1]", value[1], low=low)
    v = _int_arg(name, value, low=low)
    return v, v


def _float_arg(name: str, value, *, low: float | None = None, strict: bool = True) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value}")
    return value


def _as_input(x, name: str = "x", *, keep_int: bool = False) -> np.ndarray:
    """A finite float array (ints become float64 unless ``keep_int``, for integer GEMMs)."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:
            raise TypeError(f"{name} must be a numeric numpy array, got {type(x).__name__}") from exc
    if x.dtype.kind == "b" or (x.dtype.kind in "iu" and not keep_int):
        x = x.astype(np.float64)
    elif x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold numbers (int or float), got dtype {x.dtype}")
    if x.size and not np.isfinite(x).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"{name} contains NaN or inf (first at index {bad})")
    return x


def _grad_arg(grad, shape) -> np.ndarray:
    """The incoming gradient as float64, with the shape of the layer's last output."""
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape != tuple(shape):
        raise ValueError(f"grad must have the shape of the layer's last output {tuple(shape)}, got {grad.shape}")
    return grad


def _shape_arg(input_shape, name: str = "input_shape") -> tuple[int, ...]:
    if isinstance(input_shape, (numbers.Integral, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints such as (batch, features), got {input_shape!r}")
    return tuple(_int_arg(f"{name}[{i}]", d) for i, d in enumerate(input_shape))


def _rng(rng) -> np.random.Generator:
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {rng!r}") from exc


# --------------------------------------------------------------------------- #
# GEMM shapes
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class GemmShape:
    """``count`` independent GEMMs ``(M, K) @ (K, N)``.

    ``count`` > 1 for grouped/depthwise convolutions (one GEMM per group) and
    attention heads (one per head).

    >>> g = GemmShape(M=3136, K=576, N=64)
    >>> g.macs, g.ops            # 3136 * 576 * 64 MACs, 2 ops each
    (115605504, 231211008)
    """

    M: int
    K: int
    N: int
    count: int = 1

    def __post_init__(self):
        for name in ("M", "K", "N", "count"):
            _int_arg(name, getattr(self, name))

    @property
    def macs(self) -> int:
        """Multiply-accumulates: ``count * M * K * N``."""
        return self.count * self.M * self.K * self.N

    @property
    def ops(self) -> int:
        """Operations, 2 per MAC."""
        return 2 * self.macs

    def as_tuple(self) -> tuple[int, int, int]:
        """``(M, K, N)``."""
        return (self.M, self.K, self.N)


@dataclass
class ArrayRun:
    """Output and per-GEMM systolic results of a forward pass on a MAC array.

    ``results`` holds ``(layer_index, layer_name, SystolicResult)`` for every
    GEMM that ran (a grouped convolution contributes one per group).
    """

    output: np.ndarray
    results: list = field(default_factory=list)
    rows: int = 0
    cols: int = 0

    @property
    def cycles(self) -> int:
        """Cycles of all GEMMs, run one after another."""
        return sum(r.cycles for _, _, r in self.results)

    @property
    def macs(self) -> int:
        return sum(r.macs for _, _, r in self.results)

    @property
    def utilization(self) -> float:
        """Useful MACs over PE-cycles spent, over the whole pass."""
        cycles = self.cycles
        return self.macs / (self.rows * self.cols * cycles) if cycles else 0.0

    def per_layer(self) -> list[dict]:
        """One dict per layer that ran GEMMs: index, name, cycles, macs, utilization."""
        rows: dict[int, dict] = {}
        for idx, name, r in self.results:
            row = rows.setdefault(idx, {"index": idx, "name": name, "cycles": 0, "macs": 0})
            row["cycles"] += r.cycles
            row["macs"] += r.macs
        for row in rows.values():
            row["utilization"] = row["macs"] / (self.rows * self.cols * row["cycles"])
        return list(rows.values())


# --------------------------------------------------------------------------- #
# Layers
# --------------------------------------------------------------------------- #
class Layer:
    """Base class: a layer without parameters and without a GEMM.

    Subclasses override :meth:`forward`, :meth:`backward`,
    :meth:`output_shape` and :meth:`other_ops`; GEMM layers also
    :meth:`gemm_shape` and :meth:`gemm_operands`.
    """

    def __call__(self, x):
        return self.forward(x)

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- computation -------------------------------------------------------
    def forward(self, x):  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def parameters(self) -> dict:
        """Trainable arrays by name (empty for layers without parameters)."""
        return {}

    def gradients(self) -> dict:
        """Gradients of the last :meth:`backward`, same keys as :meth:`parameters`."""
        return {}

    # -- counting ------------------------------------------------------------
    def output_shape(self, input_shape) -> tuple[int, ...]:
        return _shape_arg(input_shape)

    def gemm_shape(self, input_shape) -> GemmShape | None:
        """The GEMM this layer is for an input of ``input_shape`` (None if none)."""
        _shape_arg(input_shape)
        return None

    def macs(self, input_shape) -> int:
        g = self.gemm_shape(input_shape)
        return g.macs if g is not None else 0

    def other_ops(self, input_shape) -> int:
        """Operations outside the GEMM (see the module's counting conventions)."""
        return 0

    @property
    def num_params(self) -> int:
        return sum(int(p.size) for p in self.parameters().values())

    # -- running on a MAC array ----------------------------------------------
    def gemm_operands(self, x) -> list[tuple[np.ndarray, np.ndarray]]:
        """The ``(A, B)`` matrices of this layer's GEMM(s) for input ``x``."""
        return []

    def forward_on(self, array, x):
        """Forward pass with the GEMM(s) run on ``array``; returns ``(y, results)``.

        ``results`` is a list of :class:`~mini_accel.systolic.SystolicResult`
        (empty for layers without a GEMM). ``y`` equals :meth:`forward` up to
        the rounding of a different order of additions.
        """
        return self.forward(x), []

    def describe(self, input_shape) -> dict:
        """One summary row: shapes, GEMM, MACs, parameters, other ops."""
        shape = _shape_arg(input_shape)
        g = self.gemm_shape(shape)
        return {
            "name": self.name,
            "input_shape": shape,
            "output_shape": self.output_shape(shape),
            "gemm": g,
            "macs": g.macs if g is not None else 0,
            "params": self.num_params,
            "other_ops": self.other_ops(shape),
        }

    def __repr__(self) -> str:
        return f"{self.name}()"


def _check_array_arg(array):
    if not (hasattr(array, "matmul") and hasattr(array, "rows") and hasattr(array, "cols")):
        raise TypeError(
            f"array must be a mini_accel.SystolicArray (or have .matmul, .rows, .cols), "
            f"got {type(array).__name__}"
        )


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``: one GEMM of shape (batch, in, out).

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and output vectors.
    rng : None, int or numpy.random.Generator
        Seed of the He-normal initialisation ``W ~ N(0, 2 / in_features)``
        (He et al. 2015, suited to ReLU networks); ``b`` starts at zero.
    bias : bool
        Whether the layer has a bias.

    Attributes
    ----------
    W : numpy.ndarray, shape (in_features, out_features)
    b : numpy.ndarray, shape (out_features,) (zeros and untrained if ``bias=False``)

    >>> import numpy as np
    >>> layer = Dense(3, 2, rng=0)
    >>> layer.W.shape, layer.b.shape, layer.num_params
    ((3, 2), (2,), 8)
    >>> layer.gemm_shape((5, 3))
    GemmShape(M=5, K=3, N=2, count=1)
    """

    def __init__(self, in_features: int, out_features: int, rng=None, *, bias: bool = True):
        self.in_features = _int_arg("in_features", in_features)
        self.out_features = _int_arg("out_features", out_features)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        gen = _rng(rng)
        self.W = gen.normal(0.0, math.sqrt(2.0 / self.in_features),
                            size=(self.in_features, self.out_features))
        self.b = np.zeros(self.out_features)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self._x = None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features}{'' if self.bias else ', bias=False'})"

    def _check_x(self, x, *, keep_int: bool = False) -> np.ndarray:
        x = _as_input(x, keep_int=keep_int)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Dense({self.in_features}, {self.out_features}) expects inputs of shape "
                f"(batch, {self.in_features}), got {x.shape}"
            )
        return x

    def forward(self, x):
        x = self._check_x(x)
        self._x = x
        y = x @ self.W
        return y + self.b if self.bias else y

    def backward(self, grad):
        if self._x is None:
            raise RuntimeError("call forward() before backward()")
        grad = _grad_arg(grad, self._x.shape[:-1] + (self.out_features,))
        x2 = self._x.reshape(-1, self.in_features)
        g2 = grad.reshape(-1, self.out_features)
        self.dW = x2.T @ g2
        self.db = g2.sum(axis=0) if self.bias else np.zeros_like(self.b)
        return grad @ self.W.T

    def parameters(self) -> dict:
        return {"W": self.W, "b": self.b} if self.bias else {"W": self.W}

    def gradients(self) -> dict:
        return {"W": self.dW, "b": self.db} if self.bias else {"W": self.dW}

    def output_shape(self, input_shape):
        shape = _shape_arg(input_shape)
        if shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r} expects input_shape (batch, {self.in_features}), got {shape}"
            )
        return shape[:-1] + (self.out_features,)

    def gemm_shape(self, input_shape):
        shape = _shape_arg(input_shape)
        self.output_shape(shape)
        M = math.prod(shape[:-1]) if len(shape) > 1 else 1
        return GemmShape(M, self.in_features, self.out_features)

    def other_ops(self, input_shape):
        return math.prod(self.output_shape(input_shape)) if self.bias else 0

    def gemm_operands(self, x):
        """``[(x as (M, in_features), W)]``, dtypes untouched.

        Integer inputs stay integer so that a quantized layer (integer ``W``)
        runs as an integer GEMM; mixing integer and float operands is refused
        by the array rather than silently rounded.
        """
        x = self._check_x(x, keep_int=True)
        return [(np.ascontiguousarray(x.reshape(-1, self.in_features)), self.W)]

    def forward_on(self, array, x):
        _check_array_arg(array)
        x = self._check_x(x, keep_int=True)
        (A, B), = self.gemm_operands(x)
        res = array.matmul(A, B)
        y = res.output.astype(np.float64).reshape(x.shape[:-1] + (self.out_features,))
        return (y + self.b if self.bias else y), [res]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution along one axis: ``(size + 2p - k) // s + 1``.

    >>> conv_output_size(224, 7, stride=2, padding=3)
    112
    """
    size, kernel = _int_arg("size", size), _int_arg("kernel", kernel)
    stride, padding = _int_arg("stride", stride), _int_arg("padding", padding, low=0)
    if size + 2 * padding < kernel:
        raise ValueError(
            f"kernel {kernel} is larger than the padded input ({size} + 2*{padding}); "
            "use a smaller kernel or more padding"
        )
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Copy every receptive field of ``x`` (N, C, H, W) into one row of a matrix.

    Returns a matrix of shape ``(N * Ho * Wo, C * kh * kw)`` whose row
    ``(n * Ho + i) * Wo + j`` holds the ``C x kh x kw`` input patch under
    output pixel ``(i, j)`` of image ``n``, flattened channel-major (c, then
    kernel row, then kernel column), the same order as
    ``W.reshape(out_channels, -1)`` of a PyTorch-layout weight
    ``(out, C, kh, kw)``. A convolution is then ``im2col(x) @ W.reshape(out, -1).T``.

    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> im2col(x, 2, stride=2).tolist()
    [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0], [8.0, 9.0, 12.0, 13.0], [10.0, 11.0, 14.0, 15.0]]
    """
    x = _as_input(x, keep_int=True)
    if x.ndim != 4:
        raise ValueError(f"x must be a 4-D (N, C, H, W) array, got shape {x.shape}")
    kh, kw = _pair("kernel_size", kernel_size)
    sh, sw = _pair("stride", stride)
    ph, pw = _pair("padding", padding, low=0)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if (ph or pw) else x
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    windows = windows[:, :, : (Ho - 1) * sh + 1 : sh, : (Wo - 1) * sw + 1 : sw]
    # (N, C, Ho, Wo, kh, kw) -> (N, Ho, Wo, C, kh, kw) -> rows
    return np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5)).reshape(N * Ho * Wo, C * kh * kw)


def col2im(cols, input_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """The adjoint of :func:`im2col`: add every row back onto its receptive field.

    Overlapping patches add up, which is what the gradient of a convolution
    with respect to its input needs.

    >>> import numpy as np
    >>> col2im(np.ones((9, 4)), (1, 1, 4, 4), 2).astype(int)[0, 0].tolist()
    [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]
    """
    N, C, H, W = _shape_arg(input_shape)
    kh, kw = _pair("kernel_size", kernel_size)
    sh, sw = _pair("stride", stride)
    ph, pw = _pair("padding", padding, low=0)
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    cols = np.asarray(cols, dtype=np.float64)
    if cols.shape != (N * Ho * Wo, C * kh * kw):
        raise ValueError(f"cols must have shape {(N * Ho * Wo, C * kh * kw)}, got {cols.shape}")
    patches = cols.reshape(N, Ho, Wo, C, kh, kw)
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw] += (
                patches[:, :, :, :, i, j].transpose(0, 3, 1, 2)
            )
    return xp[:, :, ph : ph + H, pw : pw + W]


class Conv2d(Layer):
    """2-D convolution computed as im2col + GEMM, optionally grouped.

    Input ``(N, C, H, W)``, weight ``W`` of shape ``(out_channels,
    in_channels // groups, kh, kw)`` (PyTorch layout), bias ``b`` of shape
    ``(out_channels,)``. Each group ``g`` is one GEMM
    ``im2col(x_g) (N*Ho*Wo, Cg*kh*kw) @ W_g (Cg*kh*kw, out_channels/groups)``,
    so :meth:`gemm_shape` is ``GemmShape(N*Ho*Wo, Cg*kh*kw, out/groups,
    count=groups)``. A depthwise convolution (``groups == in_channels``) is
    ``C`` tiny GEMMs with ``K = kh*kw`` and ``N = 1``: very few MACs, and a
    poor fit for a big systolic array.

    >>> conv = Conv2d(3, 64, 7, stride=2, padding=3, bias=False)   # ResNet-50 conv1
    >>> g = conv.gemm_shape((1, 3, 224, 224)); g
    GemmShape(M=12544, K=147, N=64, count=1)
    >>> g.macs, conv.num_params
    (118013952, 9408)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 groups: int = 1, rng=None, *, bias: bool = True):
        self.in_channels = _int_arg("in_channels", in_channels)
        self.out_channels = _int_arg("out_channels", out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = _pair("padding", padding, low=0)
        self.groups = _int_arg("groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"groups={self.groups} must divide in_channels={self.in_channels} and "
                f"out_channels={self.out_channels}"
            )
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        kh, kw = self.kernel_size
        cg = self.in_channels // self.groups
        gen = _rng(rng)
        self.W = gen.normal(0.0, math.sqrt(2.0 / (cg * kh * kw)),
                            size=(self.out_channels, cg, kh, kw))
        self.b = np.zeros(self.out_channels)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self._cache = None

    def __repr__(self) -> str:
        extra = ""
        if self.stride != (1, 1):
            extra += f", stride={self.stride}"
        if self.padding != (0, 0):
            extra += f", padding={self.padding}"
        if self.groups != 1:
            extra += f", groups={self.groups}"
        if not self.bias:
            extra += ", bias=False"
        return f"Conv2d({self.in_channels}, {self.out_channels}, {self.kernel_size}{extra})"

    def output_shape(self, input_shape):
        shape = _shape_arg(input_shape)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(
                f"{self!r} expects input_shape (N, {self.in_channels}, H, W), got {shape}"
            )
        N, _, H, W = shape
        Ho = conv_output_size(H, self.kernel_size[0], self.stride[0], self.padding[0])
        Wo = conv_output_size(W, self.kernel_size[1], self.stride[1], self.padding[1])
        return (N, self.out_channels, Ho, Wo)

    def gemm_shape(self, input_shape):
        N, _, Ho, Wo = self.output_shape(input_shape)
        kh, kw = self.kernel_size
        return GemmShape(N * Ho * Wo, (self.in_channels // self.groups) * kh * kw,
                         self.out_channels // self.groups, count=self.groups)

    def other_ops(self, input_shape):
        return math.prod(self.output_shape(input_shape)) if self.bias else 0

    def parameters(self) -> dict:
        return {"W": self.W, "b": self.b} if self.bias else {"W": self.W}

    def gradients(self) -> dict:
        return {"W": self.dW, "b": self.db} if self.bias else {"W": self.dW}

    def _check_x(self, x, *, keep_int: bool = False):
        x = _as_input(x, keep_int=keep_int)
        if x.ndim != 4:
            raise ValueError(
                f"{self!r} expects a 4-D input (N, {self.in_channels}, H, W), got shape {x.shape}"
            )
        self.output_shape(x.shape)
        return x

    def _weight_matrix(self, g: int) -> np.ndarray:
        og = self.out_channels // self.groups
        return np.ascontiguousarray(self.W[g * og : (g + 1) * og].reshape(og, -1).T)

    def gemm_operands(self, x):
        """One ``(im2col(x_g), W_g)`` pair per group; integer inputs stay integer."""
        x = self._check_x(x, keep_int=True)
        cg = self.in_channels // self.groups
        return [
            (im2col(x[:, g * cg : (g + 1) * cg], self.kernel_size, self.stride, self.padding),
             self._weight_matrix(g))
            for g in range(self.groups)
        ]

    def _assemble(self, x_shape, outputs) -> np.ndarray:
        N, _, Ho, Wo = self.output_shape(x_shape)
        y = np.concatenate(outputs, axis=1)              # (N*Ho*Wo, out)
        y = y.reshape(N, Ho, Wo, self.out_channels).transpose(0, 3, 1, 2)
        if self.bias:
            y = y + self.b[None, :, None, None]
        return np.ascontiguousarray(y)

    def forward(self, x):
        x = self._check_x(x)
        operands = self.gemm_operands(x)
        self._cache = (x.shape, operands)
        return self._assemble(x.shape, [A @ B for A, B in operands])

    def forward_on(self, array, x):
        _check_array_arg(array)
        x = self._check_x(x, keep_int=True)
        results = [array.matmul(A, B) for A, B in self.gemm_operands(x)]
        return self._assemble(x.shape, [r.output.astype(np.float64) for r in results]), results

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError("call forward() before backward()")
        x_shape, operands = self._cache
        N, C, H, W = x_shape
        _, _, Ho, Wo = self.output_shape(x_shape)
        og, cg = self.out_channels // self.groups, self.in_channels // self.groups
        kh, kw = self.kernel_size
        gmat = _grad_arg(grad, (N, self.out_channels, Ho, Wo)).transpose(0, 2, 3, 1).reshape(N * Ho * Wo, -1)
        dx = np.zeros(x_shape)
        dW = np.zeros_like(self.W)
        for g, (cols, Wm) in enumerate(operands):
            G = gmat[:, g * og : (g + 1) * og]
            dW[g * og : (g + 1) * og] = (cols.T @ G).T.reshape(og, cg, kh, kw)
            dx[:, g * cg : (g + 1) * cg] = col2im(G @ Wm.T, (N, cg, H, W), self.kernel_size,
                                                   self.stride, self.padding)
        self.dW = dW
        self.db = gmat.sum(axis=0) if self.bias else np.zeros_like(self.b)
        return dx


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
        self.slope = _float_arg("slope", slope, low=0.0, strict=False)

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


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #
class Sequential:
    """Layers applied one after another.

    >>> import numpy as np
    >>> model = Sequential([Dense(4, 3, rng=0), ReLU(), Dense(3, 2, rng=1), Softmax()])
    >>> probs = model.forward(np.ones((5, 4)))
    >>> probs.shape, np.allclose(probs.sum(axis=1), 1.0), model.predict(np.ones((5, 4))).shape
    ((5, 2), True, (5,))
    """

    def __init__(self, layers):
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a mini_accel.nn layer, got {type(layer).__name__}")
        self.layers = layers
        self.history: dict = {}

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])"

    def __call__(self, x):
        return self.forward(x)

    def _ends_with_softmax(self) -> bool:
        return isinstance(self.layers[-1], Softmax)

    # -- inference ---------------------------------------------------------
    def forward(self, x) -> np.ndarray:
        """Run every layer in order."""
        x = _as_input(x)
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def logits(self, x) -> np.ndarray:
        """Forward without a trailing :class:`Softmax` (the scores before it)."""
        x = _as_input(x)
        for layer in self.layers[:-1] if self._ends_with_softmax() else self.layers:
            x = layer.forward(x)
        return x

    def predict(self, x) -> np.ndarray:
        """Class ids: the argmax of the output over the last axis."""
        return np.argmax(self.logits(x), axis=-1)

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities: softmax of :meth:`logits`."""
        return softmax(self.logits(x), axis=-1)

    def forward_on(self, array, x) -> ArrayRun:
        """Forward pass with every GEMM run on ``array`` (a SystolicArray).

        >>> import numpy as np
        >>> from mini_accel import SystolicArray
        >>> model = Sequential([Dense(4, 3, rng=0), ReLU(), Dense(3, 2, rng=1)])
        >>> run = model.forward_on(SystolicArray(4, 4), np.ones((2, 4)))
        >>> np.allclose(run.output, model.forward(np.ones((2, 4)))), run.macs
        (True, 36)
        """
        _check_array_arg(array)
        x = _as_input(x)
        run = ArrayRun(output=x, rows=array.rows, cols=array.cols)
        for i, layer in enumerate(self.layers):
            x, results = layer.forward_on(array, x)
            run.results.extend((i, layer.name, r) for r in results)
        run.output = x
        return run

    # -- training ------------------------------------------------------------
    def backward(self, grad) -> np.ndarray:
        """Back-propagate ``grad`` (d loss / d output) through every layer."""
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def backward_from_logits(self, grad_logits) -> np.ndarray:
        """Back-propagate d loss / d logits, skipping a trailing :class:`Softmax`.

        Use it with :func:`softmax_cross_entropy`, whose gradient with respect
        to the logits, ``(p - onehot(y)) / batch``, is exact and stable, unlike
        chaining the softmax Jacobian with the ``1/p`` of the log.
        """
        layers = self.layers[:-1] if self._ends_with_softmax() else self.layers
        grad = grad_logits
        for layer in reversed(layers):
            grad = layer.backward(grad)
        return grad

    def parameters(self) -> list[tuple[Layer, str, np.ndarray]]:
        """``(layer, name, array)`` for every trainable array."""
        return [(layer, k, v) for layer in self.layers for k, v in layer.parameters().items()]

    # -- counting ------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return sum(layer.num_params for layer in self.layers)

    def summary(self, input_shape) -> list[dict]:
        """One row per layer (see :meth:`Layer.describe`), shapes propagated from ``input_shape``."""
        shape = _shape_arg(input_shape)
        rows = []
        for i, layer in enumerate(self.layers):
            row = layer.describe(shape)
            row["index"] = i
            rows.append(row)
            shape = row["output_shape"]
        return rows

    def gemm_shapes(self, input_shape) -> list[GemmShape]:
        """The GEMM of every layer that has one, in order."""
        return [row["gemm"] for row in self.summary(input_shape) if row["gemm"] is not None]

    def work(self, input_shape) -> dict:
        """Total MACs, operations and the share of them that is matmul/convolution.

        ``matmul_share = 2 * macs / (2 * macs + other_ops)`` (module docstring
        for the counting conventions).
        """
        rows = self.summary(input_shape)
        macs = sum(r["macs"] for r in rows)
        other = sum(r["other_ops"] for r in rows)
        total = 2 * macs + other
        return {
            "macs": macs,
            "matmul_ops": 2 * macs,
            "other_ops": other,
            "total_ops": total,
            "matmul_share": (2 * macs / total) if total else 0.0,
            "params": self.num_params,
        }

    def summary_table(self, input_shape) -> str:
        """:meth:`summary` as aligned text, for printing."""
        lines = [f"{'#':>2} {'layer':<28} {'output shape':<20} {'GEMM (M, K, N) x count':<28} "
                 f"{'MACs':>14} {'params':>10} {'other ops':>12}"]
        for r in self.summary(input_shape):
            g = r["gemm"]
            gtxt = "" if g is None else f"({g.M}, {g.K}, {g.N})" + (f" x {g.count}" if g.count > 1 else "")
            lines.append(f"{r['index']:>2} {repr(self.layers[r['index']])[:28]:<28} "
                         f"{str(r['output_shape']):<20} {gtxt:<28} {r['macs']:>14,} "
                         f"{r['params']:>10,} {r['other_ops']:>12,}")
        w = self.work(input_shape)
        lines.append(f"total: {w['macs']:,} MACs, {w['params']:,} parameters, "
                     f"matmul share of operations {100 * w['matmul_share']:.1f}%")
        return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Loss, metrics, training
# --------------------------------------------------------------------------- #
def _labels(y, n: int, n_classes: int | None = None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must be a 1-D array of {n} class ids, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"y must hold integer class ids, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"class ids must be >= 0, got {int(y.min())}")
    if n_classes is not None and y.size and y.max() >= n_classes:
        raise ValueError(f"class ids must be < {n_classes} (the number of outputs), got {int(y.max())}")
    return y.astype(np.int64)


def softmax_cross_entropy(logits, y) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against labels, and its gradient.

    Returns ``(loss, grad)`` with ``grad = (softmax(logits) - onehot(y)) / batch``,
    the derivative of the mean loss with respect to ``logits``.

    >>> import numpy as np
    >>> loss, grad = softmax_cross_entropy(np.zeros((2, 4)), [1, 3])
    >>> round(loss, 6) == round(float(np.log(4)), 6), grad.shape
    (True, (2, 4))
    """
    logits = _as_input(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (batch, classes), got shape {logits.shape}")
    B, C = logits.shape
    y = _labels(y, B, C)
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = float(-log_p[np.arange(B), y].mean())
    grad = np.exp(log_p)
    grad[np.arange(B), y] -= 1.0
    return loss, grad / B


def accuracy(model_or_pred, X=None, y=None) -> float:
    """Fraction of correct predictions: ``accuracy(model, X, y)`` or ``accuracy(pred, y)``.

    >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    if isinstance(model_or_pred, Sequential):
        if X is None or y is None:
            raise TypeError("accuracy(model, X, y) needs both X and y")
        pred, truth = model_or_pred.predict(X), np.asarray(y)
    else:
        if y is not None:
            raise TypeError("use accuracy(model, X, y) or accuracy(predictions, labels)")
        pred, truth = np.asarray(model_or_pred), np.asarray(X)
    if pred.shape != truth.shape or pred.ndim != 1:
        raise ValueError(f"predictions {pred.shape} and labels {truth.shape} must be 1-D and equal in length")
    if pred.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(pred == truth))


_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU}


def train_mlp(X, y, hidden=(64,), epochs: int = 30, lr: float = 0.1, batch_size: int = 32,
              seed=0, *, momentum: float = 0.9, weight_decay: float = 0.0,
              activation: str = "relu", n_classes: int | None = None,
              X_val=None, y_val=None) -> Sequential:
    """Train a multi-layer perceptron classifier with mini-batch SGD.

    The model is ``Dense -> act -> ... -> Dense -> Softmax`` with the hidden
    sizes in ``hidden``. Each epoch shuffles the examples (with ``seed``),
    and every mini-batch does one step of SGD with momentum on the mean
    softmax cross-entropy (plus ``weight_decay / 2 * ||W||^2`` on the weight
    matrices). Scale the inputs to about [0, 1] first (digits: ``X / 16``).

    The same arguments and seed give the same model (numpy's matmul is
    deterministic for a given build). ``model.history`` records the mean
    training loss and the training (and, if given, validation) accuracy per
    epoch.

    Parameters
    ----------
    X : array_like, shape (n, features)
    y : array_like of int, shape (n,)
        Class ids ``0 .. n_classes - 1``.
    hidden : tuple of int
        Sizes of the hidden layers (may be empty: softmax regression).
    epochs, lr, batch_size : int, float, int
        Passes over the data, learning rate, examples per step.
    seed : int or None
        Seeds both the initial weights and the shuffling.
    momentum, weight_decay : float
        SGD momentum in [0, 1) and L2 penalty >= 0.
    activation : {"relu", "tanh", "sigmoid", "gelu"}
    n_classes : int, optional
        Number of outputs; default ``max(y) + 1``.
    X_val, y_val : array_like, optional
        Evaluated after every epoch into ``model.history["val_accuracy"]``.

    Returns
    -------
    Sequential

    >>> from mini_accel.datasets import load_digits
    >>> X, y = load_digits()
    >>> model = train_mlp(X[:500] / 16, y[:500], hidden=(32,), epochs=5, seed=0)
    >>> model.forward(X[:3] / 16).shape, accuracy(model, X[:500] / 16, y[:500]) > 0.9
    ((3, 10), True)
    """
    X = _as_input(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (examples, features), got shape {X.shape}")
    n, d = X.shape
    if n == 0 or d == 0:
        raise ValueError(f"X is empty (shape {X.shape})")
    y = _labels(y, n, n_classes)
    if n_classes is None:
        n_classes = int(y.max()) + 1
        if n_classes < 2:
            raise ValueError("y holds a single class; a classifier needs at least 2 (or pass n_classes)")
    n_classes = _int_arg("n_classes", n_classes, low=2)
    if isinstance(hidden, (numbers.Integral, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if not isinstance(hidden, (tuple, list)):
        raise TypeError(f"hidden must be a tuple of layer sizes such as (64,), got {hidden!r}")
    hidden = tuple(_int_arg(f"hidden[{i}]", h) for i, h in enumerate(hidden))
    epochs = _int_arg("epochs", epochs)
    batch_size = _int_arg("batch_size", batch_size)
    lr = _float_arg("lr", lr, low=0.0)
    momentum = _float_arg("momentum", momentum, low=0.0, strict=False)
    if momentum >= 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    weight_decay = _float_arg("weight_decay", weight_decay, low=0.0, strict=False)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if (X_val is None) != (y_val is None):
        raise TypeError("give both X_val and y_val, or neither")
    if X_val is not None:
        X_val = _as_input(X_val, "X_val")
        if X_val.ndim != 2 or X_val.shape[1] != d:
            raise ValueError(f"X_val must have shape (m, {d}), got {X_val.shape}")
        y_val = _labels(y_val, X_val.shape[0], n_classes)

    gen = np.random.default_rng(seed)
    sizes = (d,) + hidden + (n_classes,)
    layers: list[Layer] = []
    for i in range(len(sizes) - 1):
        layers.append(Dense(sizes[i], sizes[i + 1], rng=gen))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    layers.append(Softmax())
    model = Sequential(layers)

    velocity = {(id(layer), k): np.zeros_like(v) for layer, k, v in model.parameters()}
    history = {"loss": [], "train_accuracy": []}
    if X_val is not None:
        history["val_accuracy"] = []
    for _ in range(epochs):
        order = gen.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss, grad = softmax_cross_entropy(model.logits(X[idx]), y[idx])
            total += loss * len(idx)
            model.backward_from_logits(grad)
            for layer, k, param in model.parameters():
                g = layer.gradients()[k]
                if weight_decay and k == "W":
                    g = g + weight_decay * param
                v = velocity[(id(layer), k)]
                v *= momentum
                v -= lr * g
                param += v          # in place: the layer sees the update
        history["loss"].append(total / n)
        history["train_accuracy"].append(accuracy(model, X, y))
        if X_val is not None:
            history["val_accuracy"].append(accuracy(model, X_val, y_val))
    model.history = history
    return model
