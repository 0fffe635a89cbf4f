"""A slow, obvious, register-level systolic array, used only by the tests.

Every cycle, every PE register is recomputed from its neighbours' registers of
the previous cycle. Values travel as tokens that remember which fold they
belong to, whether they are real data or zero padding, and which row (m) or
step (k) of the GEMM they carry, so the tests can check the skew for real:
a PE asserts that the activation and the partial sum (or the A and B values)
it combines belong together.

The controller is event driven, not formula driven: a fold's wave is over
when no token has a PE left to visit, and the next load, stream or drain
starts on the following cycle. Total cycles, traffic counts and the trace
therefore *emerge* from the simulation and can be compared with the fast
kernel and with the closed form in ``mini_accel.systolic``.

Accumulation order matches the hardware: a partial sum starts at zero in the
top row, gains one product per row, and is added to the accumulator when it
leaves the bottom row (ws/is); an output-stationary PE adds its products in
k order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Token:
    value: object          # numpy scalar in the accumulator dtype
    real: bool             # False for zero padding of a partial tile
    fold: int
    index: int             # m (ws/is) or k (os) this token belongs to


def _acc_dtype(A, B):
    if A.dtype.kind == "i":
        return np.dtype(np.int32)
    return np.dtype(np.float64) if np.float64 in (A.dtype, B.dtype) else np.dtype(np.float32)


def _mac(acc, a, b, dtype):
    """acc + a * b in the accumulator type (int32 wraps modulo 2**32)."""
    if dtype.kind == "i":
        return np.int32(np.int64(int(acc) + int(a) * int(b)).astype(np.uint32).astype(np.int32))
    return dtype.type(acc + dtype.type(a * b))


def _add(x, y, dtype):
    if dtype.kind == "i":
        return np.int32(np.int64(int(x) + int(y)).astype(np.uint32).astype(np.int32))
    return dtype.type(x + y)


def _tiles(extent, size):
    return [(start, min(size, extent - start)) for start in range(0, extent, size)]


class _Recorder:
    """Collects the per-cycle register view (a, b, psum) and phase/fold."""

    def __init__(self, rows, cols, enabled):
        self.rows, self.cols, self.enabled = rows, cols, enabled
        self.a, self.b, self.psum, self.phase, self.fold = [], [], [], [], []

    def grid(self):
        return np.full((self.rows, self.cols), np.nan)

    def add(self, a, b, psum, phase, fold):
        if self.enabled:
            self.a.append(a)
            self.b.append(b)
            self.psum.append(psum)
            self.phase.append(phase)
            self.fold.append(fold)

    def arrays(self):
        return (np.array(self.a), np.array(self.b), np.array(self.psum),
                np.array(self.phase), np.array(self.fold))


def _stationary_machine(X, W, R, C, double_buffer, dtype, record):
    """out = X @ W with W held in the PEs (the ws machine; is = ws on transposes).

    X (T, K) streams in from the left, one row per cycle, row i of the array
    skewed by i cycles; W (K, S) is cut into R x C tiles, S-tiles outer.
    """
    T, K = X.shape
    S = W.shape[1]
    folds = [(k0, r, n0, c) for (n0, c) in _tiles(S, C) for (k0, r) in _tiles(K, R)]
    out = np.zeros((T, S), dtype)
    counts = dict(stationary_reads=0, streamed_reads=0, out_writes=0,
                  streamed_hops=0, load_hops=0, out_hops=0, macs=0)
    rec = _Recorder(R, C, record)

    banks = [[[None] * C for _ in range(R)] for _ in range(2)]
    x_reg = [[None] * C for _ in range(R)]      # activation each PE works on this cycle
    p_reg = [[None] * C for _ in range(R)]      # partial sum each PE sends down this cycle
    load = None        # (fold, cycles done) of the tile being shifted into a bank
    stream = None      # (fold, start cycle) of the fold whose wave is in the array
    loaded = set()     # folds whose tile is complete in its bank
    next_load, next_stream = 0, 0
    t = 0
    last_busy = -1
    bank_user = {0: None, 1: None}   # fold whose wave may still read each bank

    def load_step(f, step):
        """Shift bank f%2 down one row and push padded tile row R-1-step at the top."""
        k0, r, n0, c = folds[f]
        bank = banks[f % 2]
        if step == 0:   # the previous tile in this bank is overwritten, not moved
            for i in range(R):
                bank[i] = [None] * C
        for i in range(R - 1, 0, -1):
            for j in range(C):
                bank[i][j] = bank[i - 1][j]
                if bank[i][j] is not None and bank[i][j].real:
                    counts["load_hops"] += 1
        row = R - 1 - step
        for j in range(C):
            real = row < r and j < c
            value = W[k0 + row, n0 + j] if real else dtype.type(0)
            bank[0][j] = Token(dtype.type(value), real, f, row)
            counts["stationary_reads"] += real

    while True:
        # ---- controller: what starts this cycle ---------------------------
        if stream is None and next_stream < len(folds) and next_stream in loaded:
            stream = (next_stream, t)
            bank_user[next_stream % 2] = next_stream
            next_stream += 1
        if load is None and next_load < len(folds) and bank_user[next_load % 2] is None:
            if double_buffer:
                # The shadow bank fills while the previous fold streams.
                may_start = next_load == 0 or (stream is not None and stream[0] == next_load - 1)
            else:
                may_start = stream is None
            if may_start:
                load = (next_load, 0)
                next_load += 1
        if load is None and stream is None and next_stream >= len(folds):
            break

        # ---- datapath -----------------------------------------------------
        busy = False
        a_view, b_view, p_view = rec.grid(), rec.grid(), rec.grid()
        phase, fold_shown = None, -1
        if load is not None:
            f, step = load
            load_step(f, step)
            busy = True
            if stream is None:
                phase, fold_shown = "load", f
                for i in range(R):
                    for j in range(C):
                        tok = banks[f % 2][i][j]
                        if tok is not None and tok.real:
                            b_view[i, j] = float(tok.value)
            load = (f, step + 1)
            if step + 1 == R:
                loaded.add(f)
                load = None
        if stream is not None:
            f, s = stream
            k0, r, n0, c = folds[f]
            bank = banks[f % 2]
            new_x = [[None] * C for _ in range(R)]
            new_p = [[None] * C for _ in range(R)]
            for i in range(R):
                m = t - s - i
                if 0 <= m < T:   # inject row m of X into array row i
                    real = i < r
                    value = X[m, k0 + i] if real else dtype.type(0)
                    new_x[i][0] = Token(dtype.type(value), real, f, m)
                    counts["streamed_reads"] += real
                for j in range(1, C):
                    tok = x_reg[i][j - 1]
                    if tok is not None:
                        new_x[i][j] = tok
                        counts["streamed_hops"] += tok.real
            for i in range(R):
                for j in range(C):
                    x = new_x[i][j]
                    if x is None:
                        continue
                    if i == 0:
                        p_in = Token(dtype.type(0), j < c, f, x.index)
                    else:
                        p_in = p_reg[i - 1][j]
                        assert p_in is not None and p_in.index == x.index, "skew broken"
                        counts["out_hops"] += p_in.real
                    w = bank[i][j]
                    assert w is not None and w.fold == f, "weight of the wrong fold"
                    if x.real and w.real:
                        counts["macs"] += 1
                    p_out = Token(_mac(p_in.value, x.value, w.value, dtype), p_in.real, f, x.index)
                    new_p[i][j] = p_out
                    if i == R - 1 and p_out.real:   # leaves the bottom row
                        out[p_out.index, n0 + j] = _add(out[p_out.index, n0 + j], p_out.value, dtype)
                        counts["out_writes"] += 1
            x_reg, p_reg = new_x, new_p
            busy = True
            phase, fold_shown = "stream", f
            for i in range(R):
                for j in range(C):
                    if x_reg[i][j] is not None and x_reg[i][j].real:
                        a_view[i, j] = float(x_reg[i][j].value)
                    if p_reg[i][j] is not None and p_reg[i][j].real:
                        p_view[i, j] = float(p_reg[i][j].value)
                    if bank[i][j] is not None and bank[i][j].real:
                        b_view[i, j] = float(bank[i][j].value)
            # The wave is over when every row has been injected and no token
            # has a PE left to visit.
            injected = t - s - (R - 1) >= T - 1
            moving = any(x_reg[i][j] is not None for i in range(R) for j in range(C - 1)) or any(
                p_reg[i][j] is not None for i in range(R - 1) for j in range(C))
            if injected and not moving:
                x_reg = [[None] * C for _ in range(R)]
                p_reg = [[None] * C for _ in range(R)]
                bank_user[f % 2] = None
                stream = None
        if busy:
            last_busy = t
            rec.add(a_view, b_view, p_view, phase, fold_shown)
        t += 1
    counts["cycles"] = last_busy + 1
    counts["folds"] = len(folds)
    return out, counts, rec


def _output_stationary_machine(A, B, R, C, double_buffer, dtype, record):
    M, K = A.shape
    N = B.shape[1]
    folds = [(m0, r, n0, c) for (n0, c) in _tiles(N, C) for (m0, r) in _tiles(M, R)]
    out = np.zeros((M, N), dtype)
    counts = dict(a_reads=0, b_reads=0, out_writes=0, a_hops=0, b_hops=0, out_hops=0, macs=0)
    rec = _Recorder(R, C, record)
    drain = None         # list of rows of (value, real, fold) shifting down, and cycles left
    t = 0
    last_busy = -1
    f_next = 0
    stream = None

    def drain_step(chain, m0, n0):
        """Bottom row leaves the array; every other row moves down one."""
        for j in range(C):
            v = chain[R - 1][j]
            if v is not None and v[1]:
                out[m0 + v[2], n0 + j] = v[0]   # v[2]: the PE row it was computed in
                counts["out_writes"] += 1
        for i in range(R - 1, 0, -1):
            for j in range(C):
                chain[i][j] = chain[i - 1][j]
                if chain[i][j] is not None and chain[i][j][1]:
                    counts["out_hops"] += 1
        for j in range(C):
            chain[0][j] = None

    while True:
        if stream is None and f_next < len(folds) and (double_buffer or drain is None):
            m0, r, n0, c = folds[f_next]
            stream = dict(f=f_next, s=t, acc=[[None] * C for _ in range(R)],
                          x=[[None] * C for _ in range(R)], y=[[None] * C for _ in range(R)])
            f_next += 1
        if stream is None and drain is None:
            break
        a_view, b_view, p_view = (np.full((R, C), np.nan) for _ in range(3))
        phase, fold_shown = None, -1
        if drain is not None:
            chain, m0d, n0d, left, fd = drain
            if stream is None or not double_buffer:
                phase, fold_shown = "drain", fd
                for i in range(R):
                    for j in range(C):
                        if chain[i][j] is not None and chain[i][j][1]:
                            p_view[i, j] = float(chain[i][j][0])
            drain_step(chain, m0d, n0d)
            drain = None if left == 1 else (chain, m0d, n0d, left - 1, fd)
        if stream is not None:
            f, s = stream["f"], stream["s"]
            m0, r, n0, c = folds[f]
            new_x = [[None] * C for _ in range(R)]
            new_y = [[None] * C for _ in range(R)]
            for i in range(R):
                k = t - s - i
                if 0 <= k < K:
                    real = i < r
                    new_x[i][0] = Token(dtype.type(A[m0 + i, k] if real else 0), real, f, k)
                    counts["a_reads"] += real
                for j in range(1, C):
                    tok = stream["x"][i][j - 1]
                    if tok is not None:
                        new_x[i][j] = tok
                        counts["a_hops"] += tok.real
            for j in range(C):
                k = t - s - j
                if 0 <= k < K:
                    real = j < c
                    new_y[0][j] = Token(dtype.type(B[k, n0 + j] if real else 0), real, f, k)
                    counts["b_reads"] += real
                for i in range(1, R):
                    tok = stream["y"][i - 1][j]
                    if tok is not None:
                        new_y[i][j] = tok
                        counts["b_hops"] += tok.real
            for i in range(R):
                for j in range(C):
                    x, y = new_x[i][j], new_y[i][j]
                    assert (x is None) == (y is None), "A and B arrive out of step"
                    if x is None:
                        continue
                    assert x.index == y.index, "skew broken"
                    if x.real and y.real:
                        prev = stream["acc"][i][j]
                        prev = dtype.type(0) if prev is None else prev
                        stream["acc"][i][j] = _mac(prev, x.value, y.value, dtype)
                        counts["macs"] += 1
            stream["x"], stream["y"] = new_x, new_y
            phase, fold_shown = "stream", f
            for i in range(R):
                for j in range(C):
                    if new_x[i][j] is not None and new_x[i][j].real:
                        a_view[i, j] = float(new_x[i][j].value)
                    if new_y[i][j] is not None and new_y[i][j].real:
                        b_view[i, j] = float(new_y[i][j].value)
                    if stream["acc"][i][j] is not None:
                        p_view[i, j] = float(stream["acc"][i][j])
            injected = t - s - max(R - 1, C - 1) >= K - 1
            moving = any(new_x[i][j] is not None for i in range(R) for j in range(C - 1)) or any(
                new_y[i][j] is not None for i in range(R - 1) for j in range(C))
            if injected and not moving:
                assert drain is None, "output drain chain still busy"
                chain = [[None] * C for _ in range(R)]
                for i in range(R):
                    for j in range(C):
                        if i < r and j < c:
                            chain[i][j] = (stream["acc"][i][j], True, i)
                drain = (chain, m0, n0, R, f)
                stream = None
        rec.add(a_view, b_view, p_view, phase, fold_shown)
        last_busy = t
        t += 1
    counts["cycles"] = last_busy + 1
    counts["folds"] = len(folds)
    return out, counts, rec


def reference_matmul(A, B, rows, cols, dataflow="ws", double_buffer=False, record=False):
    """Simulate ``A @ B`` register by register.

    Returns a dict with ``output``, ``cycles``, ``macs``, ``folds``,
    ``a_reads``, ``b_reads``, ``out_writes``, ``hops`` ({"a","b","out"}) and,
    with ``record=True``, ``trace`` = (a, b, psum, phase, fold) arrays.
    """
    A, B = np.asarray(A), np.asarray(B)
    dtype = _acc_dtype(A, B)
    A, B = A.astype(dtype), B.astype(dtype)
    if dataflow == "os":
        out, cnt, rec = _output_stationary_machine(A, B, rows, cols, double_buffer, dtype, record)
        res = dict(a_reads=cnt["a_reads"], b_reads=cnt["b_reads"],
                   hops={"a": cnt["a_hops"], "b": cnt["b_hops"], "out": cnt["out_hops"]})
        trace = rec.arrays() if record else None
    else:
        if dataflow == "ws":
            out, cnt, rec = _stationary_machine(A, B, rows, cols, double_buffer, dtype, record)
            res = dict(a_reads=cnt["streamed_reads"], b_reads=cnt["stationary_reads"],
                       hops={"a": cnt["streamed_hops"], "b": cnt["load_hops"], "out": cnt["out_hops"]})
            trace = rec.arrays() if record else None
        else:  # "is": the same machine, holding A.T and streaming B.T
            out_t, cnt, rec = _stationary_machine(B.T.copy(), A.T.copy(), rows, cols,
                                                  double_buffer, dtype, record)
            out = out_t.T.copy()
            res = dict(a_reads=cnt["stationary_reads"], b_reads=cnt["streamed_reads"],
                       hops={"a": cnt["load_hops"], "b": cnt["streamed_hops"], "out": cnt["out_hops"]})
            if record:
                a, b, p, ph, fo = rec.arrays()
                trace = (b, a, p, ph, fo)   # held values are A, streamed ones are B
            else:
                trace = None
    res.update(output=out, cycles=cnt["cycles"], macs=cnt["macs"], folds=cnt["folds"],
               out_writes=cnt["out_writes"], trace=trace)
    return res


def expected_folds(M, K, N, rows, cols, dataflow):
    if dataflow == "ws":
        return math.ceil(K / rows) * math.ceil(N / cols)
    if dataflow == "is":
        return math.ceil(K / rows) * math.ceil(M / cols)
    return math.ceil(M / rows) * math.ceil(N / cols)
