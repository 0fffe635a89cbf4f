"""Pure-numpy twin of ``systolic.pyx`` (private: no validation here).

Same functions, same arguments, bit-identical results: the Cython kernel walks
the wavefront cycle by cycle, but the value it leaves in each output is fixed
by the order of the additions, which this module reproduces with whole-array
numpy steps:

* weight/input stationary: per fold of ``R`` rows of the stationary operand,
  each partial sum starts at 0 and adds the products of the fold's rows top
  row first; the finished partial sum is then added to ``out`` (which starts
  at zero), K-folds in order;
* output stationary: each accumulator starts at 0 and adds ``A[m, k] * B[k, n]``
  for k = 0, 1, ..., K-1; it is then stored in ``out``.

Products are rounded before they are added (the compiled core is built with
``-ffp-contract=off``, no fused multiply-add), and int32 arithmetic wraps
modulo 2**32 as numpy's int32 arrays do. The scratch buffers are accepted
for the same signature and left untouched.

>>> import numpy as np
>>> X = np.arange(6, dtype=np.int32).reshape(2, 3); W = np.ones((3, 2), np.int32)
>>> out = np.zeros((2, 2), np.int32)
>>> stationary_matmul(X, W, out, None, None, 2, 2), out.tolist()
(7, [[3, 3], [12, 12]])
"""
from __future__ import annotations

import numpy as np


def _folds(n: int, tile: int) -> int:
    return (n + tile - 1) // tile


def stationary_matmul(X, W, out, x_rev, psum, R, C):
    """out += X @ W on an R x C array that holds W stationary (WS; IS on transposes).

    Returns the wavefront cycles the compiled kernel walks: the sum over folds
    of ``T + r + c - 2`` (r x c = the fold's real tile).
    """
    T, K = X.shape
    N = W.shape[1]
    if T and N:
        part = np.empty((T, N), out.dtype)
        prod = np.empty((T, N), out.dtype)
        for k0 in range(0, K, R):
            part.fill(0)
            for k in range(k0, min(k0 + R, K)):
                np.multiply(X[:, k, None], W[None, k, :], out=prod)
                part += prod
            out += part
    nN, nK = _folds(N, C), _folds(K, R)
    # sum over (nf, kf) of T + r + c - 2, with sum_kf r = K and sum_nf c = N
    return nN * nK * (T - 2) + nN * K + nK * N


def output_stationary_matmul(A, B, out, a_rev, b_skew, acc, R, C):
    """out = A @ B on an R x C output-stationary array.

    Returns the wavefront cycles the compiled kernel walks: the sum over folds
    of ``K + r + c - 2``.
    """
    M, K = A.shape
    N = B.shape[1]
    if M and N:
        total = np.zeros((M, N), out.dtype)
        prod = np.empty((M, N), out.dtype)
        for k in range(K):
            np.multiply(A[:, k, None], B[None, k, :], out=prod)
            total += prod
        out[...] = total
    nN, nM = _folds(N, C), _folds(M, R)
    return nN * nM * (K - 2) + nN * M + nM * N
