"""The :class:`Sequential` model of :mod:`mini_accel.nn`, its loss and its training loop.

A minimal backward pass (every layer has one; Dense, ReLU and the fused
softmax cross-entropy are all an MLP needs) lets :func:`train_mlp` train a
small classifier with mini-batch SGD with momentum.

>>> import numpy as np
>>> model = Sequential([Dense(4, 3, rng=0), ReLU(), Dense(3, 2, rng=1), Softmax()])
>>> model.work((5, 4))["macs"]
90
"""
from __future__ import annotations

import numbers
from typing import Literal

import numpy as np

from ._checks import check_array, check_int, check_number, check_option, check_rng
from .nn_activations import GELU, ReLU, Sigmoid, Softmax, Tanh, softmax
from .nn_counting import ArrayRun, GemmShape, _as_input, _shape_arg
from .nn_layers import Dense, Layer, _check_array_arg
from .tables import Table

__all__ = ["Sequential", "softmax_cross_entropy", "accuracy", "train_mlp"]


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
        """:meth:`summary` as aligned text, for printing (one :class:`~mini_accel.tables.Table`).

        >>> print(Sequential([Dense(4, 3, rng=0), ReLU()]).summary_table((5, 4)))
        #  layer        output shape  GEMM (M, K, N) x count  MACs  params  other ops
        -  -----------  ------------  ----------------------  ----  ------  ---------
        0  Dense(4, 3)  (5, 3)        (5, 4, 3)                 60      15         15
        1  ReLU()       (5, 3)                                   0       0         15
        total: 60 MACs, 15 parameters, matmul share of operations 80.0%
        """
        rows = []
        for r in self.summary(input_shape):
            g = r["gemm"]
            gtxt = "" if g is None else f"({g.M}, {g.K}, {g.N})" + (f" x {g.count}" if g.count > 1 else "")
            rows.append((r["index"], repr(self.layers[r["index"]])[:28], str(r["output_shape"]), gtxt,
                         r["macs"], r["params"], r["other_ops"]))
        table = Table(["#", "layer", "output shape", "GEMM (M, K, N) x count", "MACs", "params",
                       "other ops"], rows)
        w = self.work(input_shape)
        return (f"{table}\ntotal: {w['macs']:,} MACs, {w['params']:,} parameters, "
                f"matmul share of operations {100 * w['matmul_share']:.1f}%")


# --------------------------------------------------------------------------- #
# Loss, metrics, training
# --------------------------------------------------------------------------- #
def _labels(y, n: int, n_classes: int | None = None) -> np.ndarray:
    """``y`` as int64 class ids, one per example (float ids that are whole numbers allowed)."""
    try:
        y = np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"y must be a 1-D array of {n} integer class ids, got {type(y).__name__}") from exc
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
        pred, truth = model_or_pred.predict(X), check_array("y", y, dtype=None)
    else:
        if y is not None:
            raise TypeError("use accuracy(model, X, y) or accuracy(predictions, labels)")
        if X is None:
            raise TypeError("accuracy(predictions, labels) needs the labels")
        pred = check_array("predictions", model_or_pred, dtype=None)
        truth = check_array("labels", X, dtype=None)
    if pred.shape != truth.shape or pred.ndim != 1:
        raise ValueError(f"predictions {pred.shape} and labels {truth.shape} must be 1-D and equal in length")
    if pred.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(pred == truth))


_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU}
Activation = Literal["relu", "tanh", "sigmoid", "gelu"]


def train_mlp(X, y, hidden=(64,), epochs: int = 30, lr: float = 0.1, batch_size: int = 32,
              seed=0, *, momentum: float = 0.9, weight_decay: float = 0.0,
              activation: Activation = "relu", n_classes: int | None = None,
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
    n_classes = check_int("n_classes", n_classes, low=2)
    if isinstance(hidden, (numbers.Integral, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if not isinstance(hidden, (tuple, list)):
        raise TypeError(f"hidden must be a tuple of layer sizes such as (64,), got {hidden!r}")
    hidden = tuple(check_int(f"hidden[{i}]", h, low=1) for i, h in enumerate(hidden))
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_number("lr", lr, low=0.0, closed="neither")
    momentum = check_number("momentum", momentum, low=0.0, high=1.0, closed="left")
    weight_decay = check_number("weight_decay", weight_decay, low=0.0)
    activation = check_option("activation", activation, tuple(_ACTIVATIONS))
    gen = check_rng("seed", seed)
    if (X_val is None) != (y_val is None):
        raise TypeError("give both X_val and y_val, or neither")
    if X_val is not None:
        X_val = _as_input(X_val, "X_val")
        if X_val.ndim != 2 or X_val.shape[1] != d:
            raise ValueError(f"X_val must have shape (m, {d}), got {X_val.shape}")
        y_val = _labels(y_val, X_val.shape[0], n_classes)

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
