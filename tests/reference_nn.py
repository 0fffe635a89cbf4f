"""Slow, obvious reference implementations for tests/test_nn.py (not part of the library)."""
import math

import numpy as np


def conv2d_direct(x, W, b, stride=(1, 1), padding=(0, 0), groups=1):
    """Direct 7-loop convolution; returns (output, number of multiplies done on real inputs+padding)."""
    N, C, H, Wd = x.shape
    O, Cg, kh, kw = W.shape
    sh, sw = stride
    ph, pw = padding
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (Wd + 2 * pw - kw) // sw + 1
    og = O // groups
    out = np.zeros((N, O, Ho, Wo))
    mults = 0
    for n in range(N):
        for o in range(O):
            g = o // og
            for i in range(Ho):
                for j in range(Wo):
                    acc = 0.0
                    for c in range(Cg):
                        for u in range(kh):
                            for v in range(kw):
                                r, s = i * sh + u - ph, j * sw + v - pw
                                val = x[n, g * Cg + c, r, s] if (0 <= r < H and 0 <= s < Wd) else 0.0
                                acc += val * W[o, c, u, v]
                                mults += 1
                    out[n, o, i, j] = acc + (b[o] if b is not None else 0.0)
    return out, mults


def pool_direct(x, k, stride, how):
    N, C, H, W = x.shape
    kh, kw = k
    sh, sw = stride
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = [x[n, c, i * sh + u, j * sw + v] for u in range(kh) for v in range(kw)]
                    out[n, c, i, j] = max(win) if how == "max" else sum(win) / len(win)
    return out


def numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f at x (x is modified and restored)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + eps
        fp = f()
        x[idx] = old - eps
        fm = f()
        x[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def gelu_exact(x):
    """GELU with the exact normal CDF: x * Phi(x)."""
    return np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in np.ravel(x)]).reshape(np.shape(x))
