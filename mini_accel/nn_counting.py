"""GEMM shapes and operation counting for :mod:`mini_accel.nn` (and the shared input checks).

Counting conventions
--------------------
* One MAC (multiply-accumulate) is 2 operations, the convention of most
  accelerator papers (e.g. Jouppi et al. 2017 count 65,536 MACs x 2 x
  700 MHz = 92 TOPS).
* ``other_ops`` counts every elementary float operation outside the GEMMs as
  one: add, multiply, divide, compare, exp, tanh (see :mod:`mini_accel.nn`).
* Shapes include the batch: a dense layer takes ``(batch, in_features)`` (or
  any ``(..., in_features)``), a convolution ``(N, C, H, W)``.

>>> g = GemmShape(M=100, K=64, N=32)
>>> g.macs, g.ops
(204800, 409600)
>>> conv_output_size(224, 7, stride=2, padding=3)
112
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_array, check_int

__all__ = ["GemmShape", "ArrayRun", "conv_output_size"]


# --------------------------------------------------------------------------- #
# Argument checks shared by the nn modules (private; built on mini_accel._checks)
# --------------------------------------------------------------------------- #
def _pair(name: str, value, *, low: int = 1) -> tuple[int, int]:
    """An int or a pair ``(height, width)`` of ints >= ``low``, as a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return check_int(f"{name}[0]", value[0], low=low), check_int(f"{name}[1]", value[1], low=low)
    v = check_int(name, value, low=low)
    return v, v


def _as_input(x, name: str = "x", *, keep_int: bool = False) -> np.ndarray:
    """A finite numeric array, its size checked before any copy.

    Bools and (unless ``keep_int``, for integer GEMMs) ints become float64.
    """
    x = check_array(name, x, dtype=None)
    if x.dtype.kind == "b" or (x.dtype.kind in "iu" and not keep_int):
        x = x.astype(np.float64)
    return x


def _grad_arg(grad, shape) -> np.ndarray:
    """The incoming gradient as float64, with the shape of the layer's last output."""
    grad = check_array("grad", grad)
    if grad.shape != tuple(shape):
        raise ValueError(f"grad must have the shape of the layer's last output {tuple(shape)}, got {grad.shape}")
    return grad


def _shape_arg(input_shape, name: str = "input_shape") -> tuple[int, ...]:
    """A shape as a tuple of ints >= 1 (an int is a 1-D shape)."""
    if isinstance(input_shape, (numbers.Integral, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints such as (batch, features), got {input_shape!r}")
    return tuple(check_int(f"{name}[{i}]", d, low=1) for i, d in enumerate(input_shape))


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
            check_int(name, getattr(self, name), low=1)

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

    >>> import numpy as np
    >>> from mini_accel import SystolicArray
    >>> from mini_accel.nn import Dense, Sequential
    >>> run = Sequential([Dense(8, 4, rng=0)]).forward_on(SystolicArray(4, 4), np.ones((2, 8)))
    >>> run.macs, run.per_layer()[0]["name"]
    (64, 'Dense')
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


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution along one axis: ``(size + 2p - k) // s + 1``.

    >>> conv_output_size(224, 7, stride=2, padding=3)
    112
    """
    size, kernel = check_int("size", size, low=1), check_int("kernel", kernel, low=1)
    stride, padding = check_int("stride", stride, low=1), check_int("padding", padding, low=0)
    if size + 2 * padding < kernel:
        raise ValueError(
            f"kernel {kernel} is larger than the padded input ({size} + 2*{padding}); "
            "use a smaller kernel or more padding"
        )
    return (size + 2 * padding - kernel) // stride + 1
