"""The GEMM layers of :mod:`mini_accel.nn`: the :class:`Layer` base, :class:`Dense`, :class:`Conv2d`.

A dense layer is one GEMM, ``x (M, K) @ W (K, N)``; a convolution becomes one
too after :func:`im2col` copies every receptive field into a row of a matrix.
Every layer can say which GEMM it is, count its MACs, parameters and other
operations (conventions in :mod:`mini_accel.nn_counting`), and run its GEMM on
a :class:`mini_accel.SystolicArray`.

>>> layer = Dense(3, 2, rng=0)
>>> layer.gemm_shape((5, 3)), layer.num_params
(GemmShape(M=5, K=3, N=2, count=1), 8)
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_array, check_bool, check_int, check_rng, check_size
from .nn_counting import GemmShape, _as_input, _grad_arg, _pair, _shape_arg, conv_output_size

__all__ = ["Layer", "Dense", "Conv2d", "im2col", "col2im"]


class Layer:
    """Base class: a layer without parameters and without a GEMM.

    Subclasses override :meth:`forward`, :meth:`backward`,
    :meth:`output_shape` and :meth:`other_ops`; GEMM layers also
    :meth:`gemm_shape` and :meth:`gemm_operands`.

    >>> class Double(Layer):
    ...     def forward(self, x):
    ...         return 2 * _as_input(x)
    >>> Double()([1.0, 2.0]).tolist(), Double().gemm_shape((3, 4)), Double().num_params
    ([2.0, 4.0], None, 0)
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
        self.in_features = check_int("in_features", in_features, low=1)
        self.out_features = check_int("out_features", out_features, low=1)
        check_size("in_features * out_features", self.in_features * self.out_features)
        self.bias = check_bool("bias", bias)
        gen = check_rng("rng", rng)
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
    check_size("the padded input", N * C * (H + 2 * ph) * (W + 2 * pw))
    check_size("the im2col matrix", N * Ho * Wo * C * kh * kw)
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
    check_size("the padded input", N * C * (H + 2 * ph) * (W + 2 * pw))
    cols = check_array("cols", cols)
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
        self.in_channels = check_int("in_channels", in_channels, low=1)
        self.out_channels = check_int("out_channels", out_channels, low=1)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = _pair("padding", padding, low=0)
        self.groups = check_int("groups", groups, low=1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"groups={self.groups} must divide in_channels={self.in_channels} and "
                f"out_channels={self.out_channels}"
            )
        self.bias = check_bool("bias", bias)
        kh, kw = self.kernel_size
        cg = self.in_channels // self.groups
        check_size("the weight (out_channels * in_channels // groups * kh * kw)",
                   self.out_channels * cg * kh * kw)
        gen = check_rng("rng", rng)
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
