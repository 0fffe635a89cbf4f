"""A slow, obvious pure-Python analog crossbar, used only by the tests.

It follows the steps of the module docstring of ``mini_accel.analog`` one
scalar at a time, with the noise given explicitly (so it does not share the
random-number code of the library): ``prog_eps[k][n]`` and ``read_eps[m][n]``
are standard normal draws.
"""
from __future__ import annotations


def _round_half_even(v: float) -> float:
    return float(round(v))          # Python's round() is round-half-to-even, like numpy


def _quantize(v: float, step: float, limit: float) -> float:
    v = max(-limit, min(limit, v))
    return _round_half_even(v / step) * step


def reference_analog_matmul(A, W, prog_eps=None, read_eps=None, *, prog_noise=0.0,
                            read_noise=0.0, adc_bits=None, adc_range=12.0, dac_bits=None):
    M, K, N = len(A), len(W), len(W[0])
    w_max = max(abs(W[k][n]) for k in range(K) for n in range(N))
    if w_max == 0:
        return [[0.0] * N for _ in range(M)]
    w = [[W[k][n] / w_max + (prog_noise * prog_eps[k][n] if prog_noise else 0.0)
          for n in range(N)] for k in range(K)]
    out = []
    for m in range(M):
        alpha = max(abs(a) for a in A[m])
        if alpha == 0:
            out.append([0.0] * N)
            continue
        x = [a / alpha for a in A[m]]
        if dac_bits is not None:
            x = [_quantize(v, 1.0 / (2 ** (dac_bits - 1) - 1), 1.0) for v in x]
        row = []
        for n in range(N):
            acc = 0.0
            for k in range(K):
                acc += x[k] * w[k][n]
            if read_noise:
                acc += read_noise * read_eps[m][n]
            if adc_bits is not None:
                acc = _quantize(acc, 2.0 * adc_range / (2 ** adc_bits - 2), adc_range)
            row.append(acc * alpha * w_max)
        out.append(row)
    return out
