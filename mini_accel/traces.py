"""Memory-address traces of the workloads the labs use.

Every generator returns a :class:`Trace` ``(addresses, is_write, sizes)``:
byte addresses (int64), a write flag (bool) and the access size in bytes
(int32), one entry per load or store, in program order. Feed it to
:meth:`mini_accel.memory.MemoryHierarchy.run`. The traces are built with numpy
array operations (no Python loop per access), so millions of accesses take a
fraction of a second.

Matrices are row-major (C order). Unless ``bases`` is given, the operands are
laid out one after the other, each starting at a multiple of ``align`` bytes
(4096 by default, a page): see :func:`gemm_layout`.

Loop orders are strings of three letters, outermost loop first: ``m`` (or
``i``) walks the rows of A and C, ``n`` (or ``j``) the columns of B and C,
``k`` the shared dimension, so ``"ijk"`` is the textbook
``for i: for j: for k: C[i][j] += A[i][k] * B[k][j]``.

What one loop iteration loads and stores
----------------------------------------
With ``keep_in_register=False`` every iteration of the innermost statement
reads A[m,k], reads B[k,n], reads C[m,n] and writes C[m,n] (4 accesses).

With ``keep_in_register=True`` (the default) the operand that does not change
in the innermost loop is kept in a register, as in the six versions of
Bryant & O'Hallaron, *Computer Systems: A Programmer's Perspective*, 3rd ed.,
Sec. 6.6.2 ("Rearranging loops to increase spatial locality"):

* innermost ``k`` (ijk, jik): ``sum = 0; for k: sum += A[i][k] * B[k][j];
  C[i][j] += sum`` - two loads per iteration, and C[i][j] is read and written
  once after the loop;
* innermost ``m`` (jki, kji): ``r = B[k][j]; for i: C[i][j] += A[i][k] * r``;
* innermost ``n`` (kij, ikj): ``r = A[i][k]; for j: C[i][j] += r * B[k][j]``.

With 32-byte lines and float64 elements the book counts 1.25 (ijk, jik),
2.0 (jki, kji) and 0.5 (kij, ikj) misses per inner-loop iteration for large
n; ``tests/test_traces.py`` checks that these traces reproduce them.

In a tiled nest the innermost loop runs inside one tile, so the hoisted
access happens once per tile and row.

>>> from mini_accel.traces import gemm_trace
>>> tr = gemm_trace(2, 2, 2, order="ijk", elem_bytes=4)
>>> tr.addresses[:6].tolist(), tr.is_write[:6].tolist()
([0, 4096, 4, 4104, 8192, 8192], [False, False, False, False, False, True])
"""
from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from ._checks import check_bool, check_instance, check_int, check_option

#: Longest trace a generator builds (about 13 bytes per access in memory).
MAX_TRACE_LENGTH = 40_000_000
#: Every byte an access touches lies below this address (2**56, a 64 PiB
#: address space; the cache simulator's bound, so its int64 arithmetic never
#: overflows).
MAX_ADDRESS = 1 << 56
_LETTERS = {"m": "m", "i": "m", "n": "n", "j": "n", "k": "k"}
StreamKind = Literal["read", "write", "copy"]


def _check_end(end: int, what: str) -> None:
    """Refuse a trace whose last byte would lie at or past :data:`MAX_ADDRESS`."""
    if end > MAX_ADDRESS:
        raise ValueError(f"{what} would touch byte address {end - 1:,}, past the "
                         f"{MAX_ADDRESS:,} (2**56) bytes the simulator addresses; "
                         "use smaller sizes or a lower base")


class Trace(NamedTuple):
    """An address trace: ``addresses`` int64, ``is_write`` bool, ``sizes`` int32 (bytes).

    >>> tr = stream_trace(4, kind="write")
    >>> tr.accesses, tr.writes, tr
    (4, 4, Trace(4 accesses, 4 writes, 16 bytes))
    """

    addresses: np.ndarray
    is_write: np.ndarray
    sizes: np.ndarray

    @property
    def accesses(self) -> int:
        """Number of loads and stores in the trace."""
        return int(self.addresses.shape[0])

    @property
    def writes(self) -> int:
        return int(np.count_nonzero(self.is_write))

    def __repr__(self) -> str:
        return (f"Trace({self.accesses} accesses, {self.writes} writes, "
                f"{int(self.sizes.astype(np.int64).sum())} bytes)")


def concat(*traces: Trace) -> Trace:
    """Run traces one after the other.

    >>> concat(stream_trace(4), stream_trace(2, kind="write")).accesses
    6
    """
    if not traces:
        raise ValueError("concat needs at least one Trace")
    for i, t in enumerate(traces):
        check_instance(f"traces[{i}]", t, Trace)
    return Trace(*(np.concatenate([t[f] for t in traces]) for f in range(3)))


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def _order(name: str, order) -> str:
    if not isinstance(order, str):
        raise TypeError(f"{name} must be three loop letters such as 'ijk' or 'mnk', got "
                        f"{type(order).__name__}")
    if len(order) != 3:
        raise ValueError(f"{name} must be three loop letters such as 'ijk' or 'mnk', got {order!r}")
    letters = "".join(_LETTERS.get(c, "?") for c in order.lower())
    if sorted(letters) != ["k", "m", "n"]:
        raise ValueError(f"{name} must use each of m (or i), n (or j) and k exactly once, "
                         f"outermost first, e.g. 'ijk', 'kij' or 'mnk'; got {order!r}")
    return letters


def _check_length(n: int, what: str) -> None:
    if n > MAX_TRACE_LENGTH:
        raise ValueError(f"{what} would have {n:,} accesses, more than MAX_TRACE_LENGTH="
                         f"{MAX_TRACE_LENGTH:,}; use smaller sizes")


def _align_up(x: int, align: int) -> int:
    return -(-x // align) * align


def _trace(addresses: np.ndarray, is_write: np.ndarray, elem_bytes: int) -> Trace:
    return Trace(np.ascontiguousarray(addresses, dtype=np.int64),
                 np.ascontiguousarray(is_write, dtype=bool),
                 np.full(addresses.shape[0], elem_bytes, dtype=np.int32))


def gemm_layout(M: int, K: int, N: int, elem_bytes: int = 4, base: int = 0,
                align: int = 4096) -> dict:
    """Base byte addresses of A (M x K), B (K x N) and C (M x N) laid out in a row.

    >>> gemm_layout(2, 2, 2)
    {'A': 0, 'B': 4096, 'C': 8192}
    """
    M, K, N = check_int("M", M, low=1), check_int("K", K, low=1), check_int("N", N, low=1)
    elem_bytes, align = check_int("elem_bytes", elem_bytes, high=64, low=1), check_int("align", align, low=1)
    base = check_int("base", base, low=0, high=MAX_ADDRESS - 1)
    a = _align_up(base, align)
    b = _align_up(a + M * K * elem_bytes, align)
    c = _align_up(b + K * N * elem_bytes, align)
    _check_end(c + M * N * elem_bytes, "gemm_layout")
    return {"A": a, "B": b, "C": c}


def _bases(bases, M, K, N, elem_bytes, align) -> tuple[int, int, int]:
    if bases is None:
        lay = gemm_layout(M, K, N, elem_bytes, 0, align)
        return lay["A"], lay["B"], lay["C"]
    if isinstance(bases, dict):
        if set(bases) != {"A", "B", "C"}:
            raise ValueError(f"bases must have the keys 'A', 'B' and 'C', got {sorted(map(str, bases))}")
        bases = (bases["A"], bases["B"], bases["C"])
    if not isinstance(bases, (tuple, list)):
        raise TypeError(f"bases must be (A, B, C) byte addresses or a dict with keys 'A', 'B', "
                        f"'C', got {type(bases).__name__}")
    if len(bases) != 3:
        raise ValueError(f"bases must hold three byte addresses (A, B, C), got {len(bases)}")
    out = tuple(check_int(f"bases[{name}]", v, low=0) for name, v in zip("ABC", bases))
    for name, base, words in zip("ABC", out, (M * K, K * N, M * N)):
        _check_end(base + words * elem_bytes, f"operand {name} at bases[{name}]")
    return out


# --------------------------------------------------------------------------- #
# Loop nests
# --------------------------------------------------------------------------- #
def _iterations(dims: dict, tiles: dict, tile_order: str, inner_order: str):
    """Indices (m, n, k) of every iteration of a tiled nest, in execution order,
    and where the innermost loop starts and ends a run."""
    counts = {d: -(-dims[d] // tiles[d]) for d in "mnk"}
    shape = [counts[d] for d in tile_order] + [tiles[d] for d in inner_order]
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    glob = {}
    for d in "mnk":
        t = grids[tile_order.index(d)]
        e = grids[3 + inner_order.index(d)]
        glob[d] = (t * tiles[d] + e, t, e)
    valid = np.ones(shape, dtype=bool)
    for d in "mnk":
        valid &= glob[d][0] < dims[d]
    out = {d: np.broadcast_to(glob[d][0], shape)[valid].astype(np.int64) for d in "mnk"}
    inner = inner_order[2]
    g, t, e = glob[inner]
    last = np.minimum((t + 1) * tiles[inner], dims[inner]) - 1
    run_start = np.broadcast_to(e == 0, shape)[valid]
    run_end = np.broadcast_to(g == last, shape)[valid]
    return out, run_start, run_end


def _nest_trace(M, K, N, tiles, tile_order, inner_order, elem_bytes, keep_in_register,
                bases, what) -> Trace:
    dims = {"m": M, "n": N, "k": K}
    inner = inner_order[2]
    if keep_in_register:
        per_iter = 2 if inner == "k" else 3
        runs = M * N * K // dims[inner] * -(-dims[inner] // tiles[inner])
        _check_length(M * N * K * per_iter + 2 * runs, what)
    else:
        _check_length(4 * M * N * K, what)
    idx, run_start, run_end = _iterations(dims, tiles, tile_order, inner_order)
    a0, b0, c0 = bases
    m, n, k = idx["m"], idx["n"], idx["k"]
    A = a0 + (m * K + k) * elem_bytes
    B = b0 + (k * N + n) * elem_bytes
    C = c0 + (m * N + n) * elem_bytes
    del m, n, k, idx
    if not keep_in_register:
        pre, body, post = None, [(A, False), (B, False), (C, False), (C, True)], []
    elif inner == "k":
        pre, body, post = None, [(A, False), (B, False)], [(C, False), (C, True)]
    elif inner == "m":
        pre, body, post = B, [(A, False), (C, False), (C, True)], []
    else:
        pre, body, post = A, [(B, False), (C, False), (C, True)], []
    n_iter = A.shape[0]
    count = np.full(n_iter, len(body), dtype=np.int64)
    if pre is not None:
        count += run_start
    if post:
        count += len(post) * run_end.astype(np.int64)
    pos = np.cumsum(count) - count
    total = int(count.sum())
    addresses = np.empty(total, dtype=np.int64)
    is_write = np.zeros(total, dtype=bool)
    if pre is not None:
        addresses[pos[run_start]] = pre[run_start]
        pos += run_start
    for slot, (arr, w) in enumerate(body):
        addresses[pos + slot] = arr
        if w:
            is_write[pos + slot] = True
    if post:
        at = pos[run_end] + len(body)
        for slot, (arr, w) in enumerate(post):
            addresses[at + slot] = arr[run_end]
            if w:
                is_write[at + slot] = True
    return _trace(addresses, is_write, elem_bytes)


def gemm_trace(M: int, K: int, N: int, order: str = "ijk", elem_bytes: int = 4,
               keep_in_register: bool = True, bases=None, align: int = 4096) -> Trace:
    """Loads and stores of the naive triple-loop GEMM ``C += A @ B`` in a given loop order.

    Parameters
    ----------
    M, K, N : int
        A is M x K, B is K x N, C is M x N.
    order : str
        Loop order, outermost first: any permutation of ``"ijk"`` (or ``"mnk"``).
    elem_bytes : int
        Bytes per element (4 for float32, 8 for float64).
    keep_in_register : bool
        Keep the inner loop's invariant operand in a register (module docstring).
    bases : (int, int, int) or dict, optional
        Byte addresses of A, B, C; default :func:`gemm_layout`.

    >>> gemm_trace(4, 4, 4, order="kij").accesses     # 64 iterations x 3 + 16 hoisted loads
    208
    """
    M, K, N = check_int("M", M, low=1), check_int("K", K, low=1), check_int("N", N, low=1)
    order = _order("order", order)
    elem_bytes = check_int("elem_bytes", elem_bytes, high=64, low=1)
    keep_in_register = check_bool("keep_in_register", keep_in_register)
    base = _bases(bases, M, K, N, elem_bytes, check_int("align", align, low=1))
    dims = {"m": M, "n": N, "k": K}
    return _nest_trace(M, K, N, dims, order, order, elem_bytes, keep_in_register, base,
                       "gemm_trace")


def tiled_gemm_trace(M: int, K: int, N: int, tile_m: int, tile_k: int, tile_n: int,
                     order: str = "ijk", inner_order: str | None = None, elem_bytes: int = 4,
                     keep_in_register: bool = True, bases=None, align: int = 4096) -> Trace:
    """Loads and stores of a tiled (blocked) GEMM: six loops.

    The outer three loops walk tiles in ``order``; the inner three walk the
    elements of one tile in ``inner_order`` (default: the same order). Edge
    tiles are smaller when a tile size does not divide its dimension.

    >>> a = tiled_gemm_trace(8, 8, 8, 8, 8, 8).addresses     # one tile = the untiled loop
    >>> bool((a == gemm_trace(8, 8, 8).addresses).all())
    True
    """
    M, K, N = check_int("M", M, low=1), check_int("K", K, low=1), check_int("N", N, low=1)
    tiles = {"m": min(check_int("tile_m", tile_m, low=1), M),
             "k": min(check_int("tile_k", tile_k, low=1), K),
             "n": min(check_int("tile_n", tile_n, low=1), N)}
    order = _order("order", order)
    inner_order = order if inner_order is None else _order("inner_order", inner_order)
    elem_bytes = check_int("elem_bytes", elem_bytes, high=64, low=1)
    keep_in_register = check_bool("keep_in_register", keep_in_register)
    base = _bases(bases, M, K, N, elem_bytes, check_int("align", align, low=1))
    return _nest_trace(M, K, N, tiles, order, inner_order, elem_bytes, keep_in_register,
                       base, "tiled_gemm_trace")


# --------------------------------------------------------------------------- #
# Convolution lowered to a GEMM (im2col)
# --------------------------------------------------------------------------- #
def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output height or width of a convolution: ``(size + 2*padding - kernel) // stride + 1``.

    >>> conv_output_size(224, kernel=7, stride=2, padding=3)     # ResNet-50's first layer
    112
    """
    size, kernel = check_int("size", size, low=1), check_int("kernel", kernel, low=1)
    stride, padding = check_int("stride", stride, low=1), check_int("padding", padding, low=0)
    return (size + 2 * padding - kernel) // stride + 1


def im2col_conv_trace(in_channels: int, height: int, width: int, out_channels: int,
                      kernel: int | tuple = 3, stride: int = 1, padding: int = 0,
                      batch: int = 1, order: str = "ijk", elem_bytes: int = 4,
                      keep_in_register: bool = True, align: int = 4096) -> Trace:
    """A convolution done as im2col followed by a GEMM, as Caffe does it.

    Phase 1 (lowering) builds the column matrix ``cols`` of shape
    ``(C*R*S, batch*P*Q)`` row by row, in the loop order of Caffe's
    ``im2col_cpu`` (Jia et al. 2014, ``src/caffe/util/im2col.cpp``): for every
    row (c, r, s) and every output pixel (b, p, q) it reads the input pixel
    ``x[b, c, p*stride - padding + r, q*stride - padding + s]`` and writes it
    to ``cols``; where the window hangs over the zero padding it only writes
    the zero. With ``batch > 1`` the columns of all images sit side by side
    (column ``b*P*Q + p*Q + q``) and one GEMM does the whole batch (Caffe
    itself lowers and multiplies one image at a time). Phase 2 is
    :func:`gemm_trace` of ``W (out_channels, C*R*S) @ cols -> out
    (out_channels, batch*P*Q)`` in loop ``order``.

    Layout: input x (batch, C, H, W), then cols, then W, then out, each at a
    multiple of ``align`` bytes.

    >>> tr = im2col_conv_trace(1, 3, 3, 1, kernel=2)     # 4 output pixels, 2x2 kernel
    >>> int(tr.is_write[:32].sum())                       # 16 cols writes, 16 input reads
    16
    """
    C, H, W = (check_int(n, v, low=1) for n, v in
               (("in_channels", in_channels), ("height", height), ("width", width)))
    K_out, batch = check_int("out_channels", out_channels, low=1), check_int("batch", batch, low=1)
    if isinstance(kernel, tuple):
        if len(kernel) != 2:
            raise ValueError(f"kernel must be an int or (R, S), got {kernel!r}")
        R, S = check_int("kernel[0]", kernel[0], low=1), check_int("kernel[1]", kernel[1], low=1)
    else:
        R = S = check_int("kernel", kernel, low=1)
    stride, padding = check_int("stride", stride, low=1), check_int("padding", padding, low=0)
    elem_bytes, align = check_int("elem_bytes", elem_bytes, high=64, low=1), check_int("align", align, low=1)
    order = _order("order", order)
    keep_in_register = check_bool("keep_in_register", keep_in_register)
    P, Q = conv_output_size(H, R, stride, padding), conv_output_size(W, S, stride, padding)
    if P < 1 or Q < 1:
        raise ValueError(f"a {R}x{S} kernel with padding {padding} does not fit in a {H}x{W} "
                         f"input (output would be {P}x{Q})")
    rows, ncols = C * R * S, batch * P * Q
    x0 = 0
    cols0 = _align_up(x0 + batch * C * H * W * elem_bytes, align)
    w0 = _align_up(cols0 + rows * ncols * elem_bytes, align)
    out0 = _align_up(w0 + K_out * rows * elem_bytes, align)
    _check_end(out0 + K_out * ncols * elem_bytes, "im2col_conv_trace")

    n_lower = rows * ncols
    _check_length(2 * n_lower, "im2col_conv_trace (lowering)")
    # Every (row, column) of cols in Caffe's order: row (c, r, s) outer, column (b, p, q) inner.
    c, r, s = np.unravel_index(np.arange(rows), (C, R, S))
    b, p, q = np.unravel_index(np.arange(ncols), (batch, P, Q))
    y = p[None, :] * stride - padding + r[:, None]
    xx = q[None, :] * stride - padding + s[:, None]
    inside = ((y >= 0) & (y < H) & (xx >= 0) & (xx < W)).ravel()
    src = (x0 + (((b[None, :] * C + c[:, None]) * H + y) * W + xx) * elem_bytes).ravel()
    dst = cols0 + np.arange(n_lower, dtype=np.int64) * elem_bytes
    count = 1 + inside.astype(np.int64)              # read (if inside) + write
    pos = np.cumsum(count) - count
    addresses = np.empty(int(count.sum()), dtype=np.int64)
    is_write = np.zeros(addresses.shape[0], dtype=bool)
    addresses[pos[inside]] = src[inside]
    addresses[pos + inside] = dst
    is_write[pos + inside] = True
    lowering = _trace(addresses, is_write, elem_bytes)
    gemm = gemm_trace(K_out, rows, ncols, order=order, elem_bytes=elem_bytes,
                      keep_in_register=keep_in_register, bases=(w0, cols0, out0))
    _check_length(lowering.accesses + gemm.accesses, "im2col_conv_trace")
    return concat(lowering, gemm)


# --------------------------------------------------------------------------- #
# Scans
# --------------------------------------------------------------------------- #
def stream_trace(n_elems: int, elem_bytes: int = 4, kind: StreamKind = "read", base: int = 0,
                 passes: int = 1, align: int = 4096) -> Trace:
    """A sequential scan over an array of ``n_elems`` elements, ``passes`` times.

    ``kind``: ``"read"`` (x[i]), ``"write"`` (x[i] = ...), or ``"copy"``
    (read x[i] then write y[i]; y starts at the next multiple of ``align``
    after x).

    >>> stream_trace(3, kind="copy").addresses.tolist()
    [0, 4096, 4, 4100, 8, 4104]
    """
    n, eb = check_int("n_elems", n_elems, low=1), check_int("elem_bytes", elem_bytes, high=64, low=1)
    base, passes = check_int("base", base, low=0, high=MAX_ADDRESS - 1), check_int("passes", passes, low=1)
    kind = check_option("kind", kind, ("read", "write", "copy"))
    align = check_int("align", align, low=1)
    per = 2 if kind == "copy" else 1
    _check_length(n * per * passes, "stream_trace")
    dst0 = _align_up(base + n * eb, align)
    _check_end(dst0 + n * eb if kind == "copy" else base + n * eb, "stream_trace")
    src = base + np.arange(n, dtype=np.int64) * eb
    if kind == "copy":
        dst = dst0 + np.arange(n, dtype=np.int64) * eb
        one = np.stack([src, dst], axis=1).ravel()
        w = np.tile(np.array([False, True]), n)
    else:
        one, w = src, np.full(n, kind == "write")
    return _trace(np.tile(one, passes), np.tile(w, passes), eb)


def strided_trace(n_accesses: int, stride_bytes: int, elem_bytes: int = 4, base: int = 0,
                  passes: int = 1, write: bool = False) -> Trace:
    """``n_accesses`` accesses ``stride_bytes`` apart (a column walk of a row-major
    matrix has stride = row length x element size), repeated ``passes`` times.

    >>> strided_trace(3, stride_bytes=256, base=8).addresses.tolist()
    [8, 264, 520]
    """
    n, stride = check_int("n_accesses", n_accesses, low=1), check_int("stride_bytes", stride_bytes, low=1)
    eb, base = check_int("elem_bytes", elem_bytes, high=64, low=1), check_int("base", base, low=0, high=MAX_ADDRESS - 1)
    passes = check_int("passes", passes, low=1)
    write = check_bool("write", write)
    _check_length(n * passes, "strided_trace")
    _check_end(base + (n - 1) * stride + eb, "strided_trace")
    one = base + np.arange(n, dtype=np.int64) * stride
    return _trace(np.tile(one, passes), np.full(n * passes, write), eb)
