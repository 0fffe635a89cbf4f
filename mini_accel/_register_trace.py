"""Register-level traces: what every PE register of a small systolic GEMM holds at every cycle.

This is the machinery behind :meth:`mini_accel.systolic.SystolicArray.trace`
(not to be confused with :mod:`mini_accel.traces`, which builds memory
*address* traces for the cache simulator).

The trace is computed from the wavefront's index arithmetic, fold by fold:
in a weight-stationary fold that starts streaming at cycle s, PE(i, j) works
on row m = t - s - i - j of the streamed operand at cycle t, and the partial
sum it sends down is the running sum of the products of rows 0..i. The
timeline (when each fold loads, streams and drains) is the one derived in
:func:`mini_accel.systolic.systolic_cycles`. The tests compare every cycle of
this trace with a register-by-register simulation.
"""
from __future__ import annotations

import numpy as np

from .systolic import SystolicResult, SystolicTrace, _accumulator_dtype, _tile_sizes


def _running_sums(products: np.ndarray, axis: int, dtype: np.dtype) -> np.ndarray:
    """Sequential prefix sums in the accumulator type (int32 wraps like the kernel)."""
    return np.cumsum(products.astype(dtype), axis=axis, dtype=dtype)


def _tiles(extent: int, size: int):
    starts = range(0, extent, size)
    return list(zip(starts, _tile_sizes(extent, size)))


def _setup(cycles: int, R: int, C: int, row_extent: int, col_extent: int, T: int):
    """Empty registers, the wave length, the folds and the PE indices of one trace.

    Registers ``(a, b, psum, phase, fold)`` start empty (NaN, no phase, fold -1);
    a wave lasts ``T + R + C - 2`` cycles; folds ``(row0, rows, col0, cols)``
    walk the row tiles inside the column tiles; ``ii``, ``jj`` are each PE's
    row and column, shape (R, C).
    """
    registers = (np.full((cycles, R, C), np.nan), np.full((cycles, R, C), np.nan),
                 np.full((cycles, R, C), np.nan), np.full(cycles, "", dtype=object),
                 np.full(cycles, -1))
    folds = [(r0, r, c0, c) for (c0, c) in _tiles(col_extent, C) for (r0, r) in _tiles(row_extent, R)]
    ii, jj = np.meshgrid(np.arange(R), np.arange(C), indexing="ij")
    return registers, T + R + C - 2, folds, ii, jj


def _stationary_trace(X, W, R, C, double_buffer, dtype, cycles):
    """(a, b, psum, phase, fold) for X (T, K) streamed over W (K, S) held in the PEs."""
    T, K = X.shape
    S = W.shape[1]
    (a, b, psum, phase, fold_of), wave, folds, ii, jj = _setup(cycles, R, C, K, S, T)
    for f, (k0, r, n0, c) in enumerate(folds):
        load_start = f * (R + wave) if not double_buffer else (0 if f == 0 else None)
        stream_start = f * (R + wave) + R if not double_buffer else R + f * wave
        tile = np.full((R, C), np.nan)
        tile[:r, :c] = W[k0:k0 + r, n0:n0 + c]
        if load_start is not None:          # the tile shifts in from the top
            for step in range(R):
                t = load_start + step
                rows_in = np.arange(R)
                src = R - 1 - step + rows_in      # padded tile row now in array row i
                shown = np.full((R, C), np.nan)
                ok = rows_in <= step
                shown[ok] = tile[src[ok]]
                b[t], phase[t], fold_of[t] = shown, "load", f
        # psums[m, i, j]: what PE(i, j) sends down for row m (rows past r add nothing)
        products = X[:, k0:k0 + r, None].astype(dtype) * W[None, k0:k0 + r, n0:n0 + c].astype(dtype)
        sums = _running_sums(products, axis=1, dtype=dtype)
        sums = np.concatenate([sums, np.repeat(sums[:, -1:, :], R - r, axis=1)], axis=1)
        for t in range(stream_start, stream_start + wave):
            m = t - stream_start - ii - jj
            live = (m >= 0) & (m < T)
            mc = np.clip(m, 0, T - 1)
            a_now = np.where(live & (ii < r), X[mc, np.minimum(k0 + ii, K - 1)], np.nan)
            p_now = np.full((R, C), np.nan)
            cols = live & (jj < c)
            p_now[cols] = sums[mc[cols], ii[cols], jj[cols]]
            a[t], b[t], psum[t] = a_now, tile, p_now
            phase[t], fold_of[t] = "stream", f
    return a, b, psum, phase, fold_of


def _output_stationary_trace(A, B, R, C, double_buffer, dtype, cycles):
    M, K = A.shape
    N = B.shape[1]
    (a, b, psum, phase, fold_of), wave, folds, ii, jj = _setup(cycles, R, C, M, N, K)
    for f, (m0, r, n0, c) in enumerate(folds):
        start = f * (wave + R) if not double_buffer else f * wave
        products = A[m0:m0 + r, None, :].astype(dtype) * B[:, n0:n0 + c].T[None, :, :].astype(dtype)
        sums = _running_sums(products, axis=2, dtype=dtype)        # (r, c, K)
        real = (ii < r) & (jj < c)
        for t in range(start, start + wave):
            k = t - start - ii - jj
            live = (k >= 0) & (k < K)
            kc = np.clip(k, 0, K - 1)
            a[t] = np.where(live & (ii < r), A[np.minimum(m0 + ii, M - 1), kc], np.nan)
            b[t] = np.where(live & (jj < c), B[kc, np.minimum(n0 + jj, N - 1)], np.nan)
            held = np.full((R, C), np.nan)
            started = real & (k >= 0)
            held[started] = sums[ii[started], jj[started], np.minimum(k, K - 1)[started]]
            psum[t], phase[t], fold_of[t] = held, "stream", f
        if not double_buffer or f == len(folds) - 1:   # the visible drain
            final = np.full((R, C), np.nan)
            final[:r, :c] = sums[:, :, -1]
            for step in range(R):
                t = start + wave + step
                shown = np.full((R, C), np.nan)
                shown[step:] = final[:R - step]       # row i now holds row i - step
                psum[t], phase[t], fold_of[t] = shown, "drain", f
    return a, b, psum, phase, fold_of


def build_trace(array, A: np.ndarray, B: np.ndarray, result: SystolicResult) -> SystolicTrace:
    """Trace of ``A @ B`` on ``array`` (validated by the caller: use ``SystolicArray.trace``).

    >>> from mini_accel.systolic import SystolicArray
    >>> arr, A, B = SystolicArray(2, 2), np.ones((1, 2), np.int8), np.ones((2, 2), np.int8)
    >>> build_trace(arr, A, B, arr.matmul(A, B)).psum.shape        # (cycles, rows, cols)
    (5, 2, 2)
    """
    dtype = _accumulator_dtype(A, B)
    A, B = A.astype(dtype), B.astype(dtype)
    R, C, cycles = array.rows, array.cols, result.cycles
    if array.dataflow == "ws":
        parts = _stationary_trace(A, B, R, C, array.double_buffer, dtype, cycles)
    elif array.dataflow == "is":
        streamed_b, held_a, p, ph, fo = _stationary_trace(
            B.T, A.T, R, C, array.double_buffer, dtype, cycles)
        parts = (held_a, streamed_b, p, ph, fo)
    else:
        parts = _output_stationary_trace(A, B, R, C, array.double_buffer, dtype, cycles)
    a, b, psum, phase, fold = parts
    phase = phase.astype(str)
    return SystolicTrace(a=a, b=b, psum=psum, phase=phase, fold=fold, result=result)
