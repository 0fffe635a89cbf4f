"""Tests of the address-trace generators against plain Python loops."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_accel import traces
from mini_accel.memory import Cache, MemoryHierarchy
from mini_accel.traces import (
    Trace,
    concat,
    conv_output_size,
    gemm_layout,
    gemm_trace,
    im2col_conv_trace,
    stream_trace,
    strided_trace,
    tiled_gemm_trace,
)

ORDERS = ["".join(p) for p in itertools.permutations("ijk")]
LETTER = {"i": "m", "j": "n", "k": "k"}


def ref_nest(M, K, N, order, eb, keep, bases, tiles=None, inner=None):
    """The loop nest written out as the C program would run it, one access at a time."""
    order = [LETTER[c] for c in order]
    inner = order if inner is None else [LETTER[c] for c in inner]
    dims = {"m": M, "n": N, "k": K}
    tiles = dims if tiles is None else tiles
    a0, b0, c0 = bases
    A = lambda ix: a0 + (ix["m"] * K + ix["k"]) * eb           # noqa: E731
    B = lambda ix: b0 + (ix["k"] * N + ix["n"]) * eb           # noqa: E731
    C = lambda ix: c0 + (ix["m"] * N + ix["n"]) * eb           # noqa: E731
    out = []
    for t in itertools.product(*(range(0, dims[d], tiles[d]) for d in order)):
        start = dict(zip(order, t))
        rng = {d: range(start[d], min(start[d] + tiles[d], dims[d])) for d in "mnk"}
        i0, i1, i2 = inner
        for e0 in rng[i0]:
            for e1 in rng[i1]:
                ix = {i0: e0, i1: e1}
                if keep and i2 == "m":
                    out.append((B(ix), False))                  # r = B[k][j]
                if keep and i2 == "n":
                    out.append((A(ix), False))                  # r = A[i][k]
                for e2 in rng[i2]:
                    ix[i2] = e2
                    if not keep:
                        out += [(A(ix), False), (B(ix), False), (C(ix), False), (C(ix), True)]
                    elif i2 == "k":
                        out += [(A(ix), False), (B(ix), False)]
                    elif i2 == "m":
                        out += [(A(ix), False), (C(ix), False), (C(ix), True)]
                    else:
                        out += [(B(ix), False), (C(ix), False), (C(ix), True)]
                if keep and i2 == "k":
                    out += [(C(ix), False), (C(ix), True)]      # C[i][j] += sum
    return out


def as_pairs(tr: Trace):
    return list(zip(tr.addresses.tolist(), tr.is_write.tolist()))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("keep", [True, False])
def test_gemm_trace_matches_the_loops(order, keep):
    M, K, N = 3, 4, 5
    tr = gemm_trace(M, K, N, order=order, elem_bytes=8, keep_in_register=keep)
    lay = gemm_layout(M, K, N, 8)
    assert as_pairs(tr) == ref_nest(M, K, N, order, 8, keep, (lay["A"], lay["B"], lay["C"]))
    assert tr.addresses.dtype == np.int64 and tr.is_write.dtype == bool
    assert tr.sizes.dtype == np.int32 and (tr.sizes == 8).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 7),
       st.integers(1, 8), st.integers(1, 8), st.integers(1, 8),
       st.sampled_from(ORDERS), st.sampled_from(ORDERS), st.booleans())
def test_tiled_gemm_trace_matches_the_six_loops(M, K, N, tm, tk, tn, order, inner, keep):
    tr = tiled_gemm_trace(M, K, N, tm, tk, tn, order=order, inner_order=inner, elem_bytes=4,
                          keep_in_register=keep, bases=(0, 10_000, 20_000))
    tiles = {"m": min(tm, M), "k": min(tk, K), "n": min(tn, N)}
    assert as_pairs(tr) == ref_nest(M, K, N, order, 4, keep, (0, 10_000, 20_000), tiles, inner)


def test_access_counts_in_closed_form():
    n = 6
    # ijk: 2 loads per iteration + C read and write per (i, j)
    assert gemm_trace(n, n, n, "ijk").accesses == 2 * n**3 + 2 * n**2
    # jki: B hoisted per (j, k), then A load, C load, C store per iteration
    assert gemm_trace(n, n, n, "jki").accesses == 3 * n**3 + n**2
    assert gemm_trace(n, n, n, "kij", keep_in_register=False).accesses == 4 * n**3
    # writes: one per (i, j) for ijk, one per iteration for the others
    assert gemm_trace(n, n, n, "ijk").writes == n**2
    assert gemm_trace(n, n, n, "ikj").writes == n**3


def test_tiled_with_one_tile_is_the_plain_loop():
    for order in ORDERS:
        a = tiled_gemm_trace(5, 6, 7, 99, 99, 99, order=order)
        b = gemm_trace(5, 6, 7, order=order)
        assert np.array_equal(a.addresses, b.addresses) and np.array_equal(a.is_write, b.is_write)


@pytest.mark.parametrize("orders, published", [
    (("ijk", "jik"), 1.25), (("jki", "kji"), 2.0), (("kij", "ikj"), 0.5)])
def test_csapp_misses_per_inner_iteration(orders, published):
    # Bryant & O'Hallaron, CS:APP 3e, Sec. 6.6.2: 32-byte lines (4 doubles),
    # n large, a cache that cannot hold a column: misses per inner-loop
    # iteration 1.25 (ijk/jik), 2.0 (jki/kji), 0.5 (kij/ikj). The hoisted
    # loads add O(1/n), so allow 3 %.
    n = 100
    for order in orders:
        h = MemoryHierarchy(Cache("L1", 1024, ways=4, line_bytes=32))
        misses = h.run(gemm_trace(n, n, n, order=order, elem_bytes=8))["L1"].misses
        assert misses / n**3 == pytest.approx(published, rel=0.03), order


def test_tiling_cuts_misses():
    # 64x64 float64 matrices (32 KiB each) through a 4 KiB cache: 16x16 tiles
    # (2 KiB each) keep a working set in the cache, the plain loop does not.
    cache = dict(size_bytes=4096, ways=4, line_bytes=64)
    plain = MemoryHierarchy(Cache("L1", **cache)).run(gemm_trace(64, 64, 64, "ijk", 8))
    tiled = MemoryHierarchy(Cache("L1", **cache)).run(
        tiled_gemm_trace(64, 64, 64, 16, 16, 16, order="ijk", inner_order="ikj", elem_bytes=8))
    assert tiled["L1"].misses < plain["L1"].misses / 3


# --------------------------------------------------------------------------- #
# im2col
# --------------------------------------------------------------------------- #
def ref_im2col(C, H, W, K_out, R, S, stride, pad, batch, eb, order, align=4096):
    P, Q = (H + 2 * pad - R) // stride + 1, (W + 2 * pad - S) // stride + 1
    up = lambda x: -(-x // align) * align                       # noqa: E731
    cols0 = up(batch * C * H * W * eb)
    w0 = up(cols0 + C * R * S * batch * P * Q * eb)
    out0 = up(w0 + K_out * C * R * S * eb)
    out = []
    for c in range(C):                                          # Caffe's im2col_cpu order
        for r in range(R):
            for s in range(S):
                row = (c * R + r) * S + s
                for b in range(batch):
                    for p in range(P):
                        for q in range(Q):
                            y, x = p * stride - pad + r, q * stride - pad + s
                            if 0 <= y < H and 0 <= x < W:
                                out.append(((((b * C + c) * H + y) * W + x) * eb, False))
                            col = (b * P + p) * Q + q
                            out.append((cols0 + (row * batch * P * Q + col) * eb, True))
    out += ref_nest(K_out, C * R * S, batch * P * Q, order, eb, True, (w0, cols0, out0))
    return out


@pytest.mark.parametrize("args", [
    dict(C=1, H=3, W=3, K_out=1, R=2, S=2, stride=1, pad=0, batch=1),
    dict(C=2, H=5, W=4, K_out=3, R=3, S=3, stride=1, pad=1, batch=1),
    dict(C=3, H=6, W=6, K_out=2, R=3, S=2, stride=2, pad=1, batch=2),
    dict(C=1, H=4, W=4, K_out=2, R=1, S=1, stride=1, pad=0, batch=3),
])
@pytest.mark.parametrize("order", ["ijk", "kij"])
def test_im2col_trace_matches_caffe_loops(args, order):
    a = dict(args)
    tr = im2col_conv_trace(a["C"], a["H"], a["W"], a["K_out"], kernel=(a["R"], a["S"]),
                           stride=a["stride"], padding=a["pad"], batch=a["batch"], order=order)
    assert as_pairs(tr) == ref_im2col(**a, eb=4, order=order)


def test_im2col_counts_by_hand():
    # 1 channel 3x3, 2x2 kernel, no padding: 2x2 outputs, cols is 4 x 4:
    # 16 reads + 16 writes to lower; GEMM (1 x 4) @ (4 x 4) in ijk: 2*16 + 2*4.
    tr = im2col_conv_trace(1, 3, 3, 1, kernel=2)
    assert tr.accesses == 32 + 40
    # Padding 1, 3x3 kernel over a 3x3 input: 9 outputs x 9 taps = 81 writes.
    # A tap reads the input only inside the image: per axis, kernel offset r
    # and output p give y = p - 1 + r in [0, 3) for 2 + 3 + 2 = 7 of the 9
    # (r, p) pairs, so 7 * 7 = 49 reads.
    tr = im2col_conv_trace(1, 3, 3, 1, kernel=3, padding=1)
    lower = tr.accesses - gemm_trace(1, 9, 9).accesses
    assert lower == 81 + 49
    assert conv_output_size(3, 3, 1, 1) == 3


# --------------------------------------------------------------------------- #
# Scans and helpers
# --------------------------------------------------------------------------- #
def test_stream_and_strided():
    assert stream_trace(4, elem_bytes=8, base=16).addresses.tolist() == [16, 24, 32, 40]
    assert stream_trace(3, kind="write").is_write.all()
    tr = stream_trace(3, kind="copy", passes=2)
    assert tr.addresses.tolist() == [0, 4096, 4, 4100, 8, 4104] * 2
    assert tr.is_write.tolist() == [False, True] * 6
    tr = strided_trace(4, stride_bytes=100, elem_bytes=2, passes=2, write=True)
    assert tr.addresses.tolist() == [0, 100, 200, 300] * 2
    assert tr.is_write.all() and (tr.sizes == 2).all()


def test_strided_scan_misses_every_access_when_stride_exceeds_line():
    s = MemoryHierarchy(Cache("L1", 1024, 2, 64)).run(strided_trace(1000, 128))
    assert s["L1"].misses == 1000


def test_concat_and_repr():
    tr = concat(stream_trace(2), strided_trace(3, 64, write=True))
    assert tr.accesses == 5 and tr.writes == 3
    assert repr(tr) == "Trace(5 accesses, 3 writes, 20 bytes)"
    with pytest.raises(ValueError):
        concat()
    with pytest.raises(TypeError, match=r"traces\[1\]"):
        concat(tr, (1, 2, 3))


def test_gemm_layout_and_bases():
    assert gemm_layout(10, 10, 10, elem_bytes=4, align=64) == {"A": 0, "B": 448, "C": 896}
    tr = gemm_trace(1, 1, 1, bases={"A": 8, "B": 16, "C": 24})
    assert tr.addresses.tolist() == [8, 16, 24, 24]


@pytest.mark.parametrize("call, exc, match", [
    (lambda: gemm_trace(0, 2, 2), ValueError, "M must be >= 1"),
    (lambda: gemm_trace(2, 2, 2, order="iik"), ValueError, "order"),
    (lambda: gemm_trace(2, 2, 2, order="ij"), ValueError, "order"),
    (lambda: gemm_trace(2, 2, 2, elem_bytes=0), ValueError, "elem_bytes"),
    (lambda: gemm_trace(2.0, 2, 2), TypeError, "M must be an int"),
    (lambda: gemm_trace(2, 2, 2, bases=(0, 1)), ValueError, "bases"),
    (lambda: tiled_gemm_trace(4, 4, 4, 0, 2, 2), ValueError, "tile_m"),
    (lambda: tiled_gemm_trace(4, 4, 4, 2, 2, 2, inner_order="xyz"), ValueError, "inner_order"),
    (lambda: im2col_conv_trace(1, 2, 2, 1, kernel=3), ValueError, "does not fit"),
    (lambda: im2col_conv_trace(1, 4, 4, 1, kernel=(3,)), ValueError, "kernel"),
    (lambda: im2col_conv_trace(1, 4, 4, 1, stride=0), ValueError, "stride"),
    (lambda: stream_trace(4, kind="triad"), ValueError, "kind"),
    (lambda: strided_trace(4, stride_bytes=-8), ValueError, "stride_bytes"),
    (lambda: gemm_trace(400, 400, 400), ValueError, "MAX_TRACE_LENGTH"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_no_python_loop_per_access_speed_sanity():
    # ~4 million accesses must build quickly (vectorized); not a timing assert,
    # just a size that a per-element Python loop could not build in a test.
    tr = tiled_gemm_trace(128, 128, 128, 32, 32, 32, order="kij")
    assert tr.accesses == 3 * 128**3 + 128 * 128 * 4
    assert traces.MAX_TRACE_LENGTH >= 10_000_000
