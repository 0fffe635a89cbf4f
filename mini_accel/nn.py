"""Neural-network layers as matrix multiplications, in plain numpy.

This module is the front door: it re-exports every public name of

* :mod:`mini_accel.nn_layers`: :class:`Layer`, :class:`Dense`, :class:`Conv2d`,
  :func:`im2col`, :func:`col2im`;
* :mod:`mini_accel.nn_activations`: activations, :class:`Softmax`,
  :class:`Flatten`, pooling;
* :mod:`mini_accel.nn_counting`: :class:`GemmShape`, :class:`ArrayRun`,
  :func:`conv_output_size` (the counting conventions below);
* :mod:`mini_accel.nn_training`: :class:`Sequential`, the loss,
  :func:`accuracy` and :func:`train_mlp`.

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

from .nn_activations import (
    GELU,
    AvgPool2d,
    Flatten,
    LeakyReLU,
    MaxPool2d,
    ReLU,
    ReLU6,
    Sigmoid,
    Softmax,
    Tanh,
    softmax,
)
from .nn_counting import ArrayRun, GemmShape, _as_input, _grad_arg, _pair, _shape_arg, conv_output_size
from .nn_layers import Conv2d, Dense, Layer, col2im, im2col
from .nn_training import Sequential, _labels, accuracy, softmax_cross_entropy, train_mlp

# private helpers other modules imported from here (analog uses _labels)
_PRIVATE_REEXPORTS = (_as_input, _grad_arg, _pair, _shape_arg, _labels)

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
