"""Sparsity: pruning, compressed formats, 2:4 on the MAC array, zero gating vs skipping.

* :func:`magnitude_prune` (unstructured) and :func:`prune_n_m` (N:M, e.g. 2:4
  along the reduction dimension, as in NVIDIA's sparse tensor cores, Mishra et
  al. 2021 arXiv:2104.08378) return masks; :func:`prune_model` applies them to
  the Dense layers of an MLP and :func:`fine_tune` retrains with the masks held.
* :func:`storage_bits` counts the exact bits of a matrix in a dense, bitmask,
  CSR or run-length format (encode and decode included, so the count is of a
  real encoding); :func:`break_even_density` is the density below which a
  format is smaller than dense.
* :func:`sparse_24_matmul` runs a 2:4-pruned weight matrix on a
  ``SystolicArray``: half the weights are stored, 2-bit metadata select which
  of each group of four activations a PE multiplies, the output equals numpy's
  and the MACs and cycles are those the simulator counts with K halved.
* :func:`sparse_mapping_cost` turns a mapping result of ``mini_accel.mapping``
  into the cost of zero gating (the MAC and the weight read are switched off
  when the input is zero: same cycles, less energy; Eyeriss, Chen et al. JSSC
  2017) or zero skipping (zero inputs never enter the PE: fewer cycles too).

>>> import numpy as np
>>> w = np.array([[0.1, -2.0, 0.3, 4.0]])
>>> prune_n_m(w, 2, 4, axis=1).astype(int).tolist()
[[0, 1, 0, 1]]
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import check_array, check_instance, check_int, check_number, check_option, check_rng, fraction

#: The compressed storage formats of :func:`encode` (sparse layouts, not number
#: formats: the number format of the values is ``value_bits`` wide).
FORMATS = ("dense", "bitmask", "csr", "rle")
StorageFormat = Literal["dense", "bitmask", "csr", "rle"]


def _shape2(shape) -> tuple:
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be (rows, cols), got {type(shape).__name__}")
    if len(shape) != 2:
        raise ValueError(f"shape must be (rows, cols), got {len(shape)} values")
    return check_int("shape[0]", shape[0], low=1), check_int("shape[1]", shape[1], low=1)


# --------------------------------------------------------------------------- #
# Pruning
# --------------------------------------------------------------------------- #
def magnitude_prune(w, sparsity: float) -> np.ndarray:
    """Mask (bool, True = kept) zeroing the ``round(sparsity * size)`` smallest magnitudes.

    Ties are broken by position, so exactly that many entries are pruned.

    >>> magnitude_prune([3.0, -1.0, 0.5, 2.0], 0.5).tolist()
    [True, False, False, True]
    """
    w = check_array("w", w, dtype=None)
    sparsity = fraction("sparsity", sparsity)
    n_prune = int(round(sparsity * w.size))
    mask = np.ones(w.size, dtype=bool)
    if n_prune:
        order = np.argsort(np.abs(w).ravel(), kind="stable")
        mask[order[:n_prune]] = False
    return mask.reshape(w.shape)


def prune_n_m(w, n: int = 2, m: int = 4, axis: int = 0) -> np.ndarray:
    """Mask keeping the ``n`` largest magnitudes in every group of ``m`` along ``axis``.

    For a Dense weight ``W (in, out)`` use ``axis=0`` (groups along the input,
    the reduction dimension K, as sparse tensor cores need). The length along
    ``axis`` must be a multiple of ``m``.

    >>> prune_n_m([[1.0, -3.0, 2.0, 0.5]], 2, 4, axis=1).tolist()
    [[False, True, True, False]]
    """
    w = check_array("w", w, dtype=None)
    m = check_int("m", m, low=2)
    n = check_int("n", n, low=1, high=m)
    if w.ndim == 0:
        raise ValueError("w must have at least one dimension, got a scalar")
    axis = check_int("axis", axis, low=-w.ndim, high=w.ndim - 1)
    if w.shape[axis] % m:
        raise ValueError(f"the length along axis {axis} is {w.shape[axis]}, not a multiple of "
                         f"m={m}; pad the matrix or choose another m")
    moved = np.moveaxis(np.abs(w), axis, -1)
    groups = moved.reshape(moved.shape[:-1] + (moved.shape[-1] // m, m))
    order = np.argsort(-groups, axis=-1, kind="stable")
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :n], True, axis=-1)
    return np.moveaxis(keep.reshape(moved.shape), -1, axis)


def _dense_layers(model):
    from .nn import Dense, Sequential
    check_instance("model", model, Sequential, what="a mini_accel.nn.Sequential")
    return [layer for layer in model.layers if isinstance(layer, Dense)]


def prune_model(model, sparsity: float = 0.5, pattern: Literal["unstructured", "n:m"] = "unstructured",
                *, n: int = 2, m: int = 4) -> list:
    """Prune every Dense weight matrix of ``model`` in place; return the masks.

    ``pattern="unstructured"`` prunes each layer to ``sparsity``;
    ``pattern="n:m"`` keeps ``n`` of every ``m`` weights along the input
    dimension (``sparsity`` is then ignored: it is ``1 - n/m``). Layers whose
    input size is not a multiple of ``m`` are left dense (their mask is all True).

    >>> from mini_accel.nn import Dense, Sequential
    >>> model = Sequential([Dense(8, 4, rng=0)])
    >>> masks = prune_model(model, pattern="n:m", n=2, m=4)
    >>> float(masks[0].mean()), int((model.layers[0].W != 0).sum())
    (0.5, 16)
    """
    layers = _dense_layers(model)
    pattern = check_option("pattern", pattern, ("unstructured", "n:m"))
    if pattern == "unstructured":
        sparsity = fraction("sparsity", sparsity)
    else:
        m = check_int("m", m, low=2)
        n = check_int("n", n, low=1, high=m)
    masks = []
    for layer in layers:
        if pattern == "unstructured":
            mask = magnitude_prune(layer.W, sparsity)
        elif layer.W.shape[0] % m == 0:
            mask = prune_n_m(layer.W, n, m, axis=0)
        else:
            mask = np.ones(layer.W.shape, dtype=bool)
        layer.W *= mask
        masks.append(mask)
    return masks


def fine_tune(model, X, y, masks, epochs: int = 3, lr: float = 0.05, batch_size: int = 32,
              seed=0, momentum: float = 0.9):
    """A few epochs of SGD on ``model`` with pruned weights held at zero (in place).

    Uses the same loss and update as ``nn.train_mlp`` (softmax cross-entropy,
    momentum SGD); after every step each Dense weight is multiplied by its mask.
    Returns ``model``.

    >>> from mini_accel.nn import Dense, Sequential
    >>> model = Sequential([Dense(4, 3, rng=0)])
    >>> masks = prune_model(model, 0.5)
    >>> X, y = np.eye(4), np.array([0, 1, 2, 0])
    >>> model = fine_tune(model, X, y, masks, epochs=2, batch_size=2)
    >>> bool(np.all(model.layers[0].W[~masks[0]] == 0))      # pruned weights stay zero
    True
    """
    from .nn import softmax_cross_entropy
    layers = _dense_layers(model)
    check_instance("masks", masks, (list, tuple), what="a list with one mask per Dense layer")
    if len(masks) != len(layers):
        raise ValueError(f"masks must be a list with one mask per Dense layer ({len(layers)})")
    for i, (layer, mask) in enumerate(zip(layers, masks)):
        if np.shape(mask) != layer.W.shape:
            raise ValueError(f"masks[{i}] has shape {np.shape(mask)}, the weights {layer.W.shape}")
    X = check_array("X", X, ndim=2, dtype=None).astype(np.float64)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_number("lr", lr, low=0, closed="neither")
    momentum = check_number("momentum", momentum, low=0, high=1, closed="left")
    rng = check_rng("seed", seed)
    params = model.parameters()
    velocity = [np.zeros_like(p) for _, _, p in params]
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            _, grad = softmax_cross_entropy(model.logits(X[batch]), y[batch])
            model.backward_from_logits(grad)
            for v, (layer, name, p) in zip(velocity, params):
                g = getattr(layer, "d" + name)
                v *= momentum
                v -= lr * g
                p += v
            for layer, mask in zip(layers, masks):
                layer.W *= mask
    return model


def density(x) -> float:
    """Fraction of nonzero entries.

    >>> density([[0, 1], [2, 0]])
    0.5
    """
    x = check_array("x", x, dtype=None)
    return float(np.count_nonzero(x)) / max(1, x.size)


# --------------------------------------------------------------------------- #
# Compressed formats
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Encoded:
    """A matrix in a compressed format: its arrays and its exact size in bits.

    >>> e = encode(np.array([[0, 5], [0, 0]]), "bitmask")
    >>> e.bits, e.decode().tolist()          # 4 mask bits + one 8-bit value
    (12, [[0, 5], [0, 0]])
    """
    format: str
    shape: tuple
    arrays: dict
    bits: int

    def decode(self) -> np.ndarray:
        """The dense matrix back (exactly)."""
        rows, cols = self.shape
        vals = self.arrays.get("values")
        if self.format == "dense":
            return vals.reshape(self.shape).copy()
        out = np.zeros(rows * cols, dtype=vals.dtype)
        if self.format == "bitmask":
            out[self.arrays["mask"].ravel()] = vals
        elif self.format == "csr":
            ptr, col = self.arrays["row_ptr"], self.arrays["col"]
            for r in range(rows):
                out[r * cols + col[ptr[r]:ptr[r + 1]]] = vals[ptr[r]:ptr[r + 1]]
        else:
            pos = np.cumsum(self.arrays["run"] + 1) - 1
            out[pos] = vals
        return out.reshape(self.shape)


def encode(x, fmt: StorageFormat, *, value_bits: int = 8, index_bits: int | None = None,
           run_bits: int = 4) -> Encoded:
    """Encode a 2-D matrix; ``bits`` counts everything stored.

    * dense: ``rows*cols*value_bits``
    * bitmask: one bit per entry + the nonzero values
    * csr: values + a column index (``index_bits``, default ``ceil(log2(cols))``)
      per nonzero + ``rows+1`` row pointers of ``ceil(log2(nnz+1))`` bits
    * rle: per stored value, the number of zeros before it in ``run_bits``
      bits (row-major); a run longer than ``2**run_bits - 1`` stores an
      explicit zero value, as Eyeriss' run-length coder does (JSSC 2017 Sec. V).

    >>> encode(np.array([[1, 0, 0, 2]]), "csr").bits     # 2 x (8 + 2) + 2 row pointers x 2
    24
    """
    x = check_array("x", x, ndim=2, dtype=None)
    fmt = check_option("fmt", fmt, FORMATS)
    value_bits = check_int("value_bits", value_bits, low=1)
    run_bits = check_int("run_bits", run_bits, low=1, high=32)
    rows, cols = x.shape
    flat = x.ravel()
    nz = np.flatnonzero(flat)
    if fmt == "dense":
        return Encoded(fmt, x.shape, {"values": flat.copy()}, flat.size * value_bits)
    if fmt == "bitmask":
        mask = flat != 0
        return Encoded(fmt, x.shape, {"mask": mask, "values": flat[nz]},
                       flat.size + len(nz) * value_bits)
    if fmt == "csr":
        ib = max(1, math.ceil(math.log2(cols))) if index_bits is None else check_int(
            "index_bits", index_bits, low=1)
        if cols > 2 ** ib:
            raise ValueError(f"index_bits={ib} cannot address {cols} columns")
        row_ptr = np.searchsorted(nz, np.arange(rows + 1) * cols)
        pb = max(1, math.ceil(math.log2(len(nz) + 1)))
        return Encoded(fmt, x.shape, {"values": flat[nz], "col": nz % cols, "row_ptr": row_ptr},
                       len(nz) * (value_bits + ib) + (rows + 1) * pb)
    max_run = 2 ** run_bits - 1
    values, runs, last = [], [], -1
    for p in nz:
        gap = p - last - 1
        while gap > max_run:                      # an explicit zero ends an over-long run
            values.append(0)
            runs.append(max_run)
            gap -= max_run + 1
        values.append(flat[p])
        runs.append(gap)
        last = p
    vals = np.array(values, dtype=flat.dtype)
    return Encoded(fmt, x.shape, {"values": vals, "run": np.array(runs, dtype=np.int64)},
                   len(vals) * (value_bits + run_bits))


def storage_bits(x, fmt: StorageFormat, **kwargs) -> int:
    """Exact bits of ``x`` in format ``fmt`` (see :func:`encode`).

    >>> storage_bits(np.eye(4), "dense"), storage_bits(np.eye(4), "bitmask")
    (128, 48)
    """
    return encode(x, fmt, **kwargs).bits


def expected_bits(shape, density: float, fmt: StorageFormat, *, value_bits: int = 8,
                  index_bits: int | None = None, run_bits: int = 4) -> float:
    """Expected bits of a ``shape`` matrix whose entries are nonzero independently with
    probability ``density`` (RLE: expected explicit zeros from geometric zero runs).

    >>> expected_bits((4, 4), 0.25, "bitmask")      # 16 mask bits + 4 values x 8 bits
    48.0
    """
    rows, cols = _shape2(shape)
    d = fraction("density", density)
    fmt = check_option("fmt", fmt, FORMATS)
    value_bits = check_int("value_bits", value_bits, low=1)
    run_bits = check_int("run_bits", run_bits, low=1, high=32)
    if index_bits is not None:
        index_bits = check_int("index_bits", index_bits, low=1)
    n = rows * cols
    nnz = d * n
    if fmt == "dense":
        return float(n * value_bits)
    if fmt == "bitmask":
        return float(n + nnz * value_bits)
    if fmt == "csr":
        ib = max(1, math.ceil(math.log2(cols))) if index_bits is None else index_bits
        pb = max(1, math.ceil(math.log2(nnz + 1)))
        return nnz * (value_bits + ib) + (rows + 1) * pb
    # rle: each entry is a zero that completes a full run of 2**run_bits zeros (an explicit
    # zero is stored) with probability about (1-d)**(L+1) per position; first-order estimate
    L = 2 ** run_bits - 1
    extra = n * (1 - d) ** (L + 1) * d / max(1e-300, 1 - (1 - d) ** (L + 1)) if d > 0 else n / (L + 1)
    return (nnz + extra) * (value_bits + run_bits)


def break_even_density(shape, fmt: StorageFormat, **kwargs) -> float:
    """The density below which ``fmt`` takes fewer bits than dense (bisection on
    :func:`expected_bits`; 0.0 if it never pays off, 1.0 if it always does).

    >>> round(break_even_density((64, 64), "bitmask"), 4)      # 1 + 8 d < 8
    0.875
    """
    dense = expected_bits(shape, 1.0, "dense", **{k: v for k, v in kwargs.items()
                                                   if k == "value_bits"})
    f = lambda d: expected_bits(shape, d, fmt, **kwargs) - dense  # noqa: E731
    if f(1.0) < 0:
        return 1.0
    if f(1e-9) >= 0:
        return 0.0
    lo, hi = 1e-9, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return lo


# --------------------------------------------------------------------------- #
# 2:4 on the systolic array
# --------------------------------------------------------------------------- #
@dataclass
class Sparse24Result:
    """Output and cost of a 2:4 sparse GEMM on the array (K halved); see :func:`sparse_24_matmul`.

    >>> r = sparse_24_matmul(np.ones((1, 4), np.int8), np.array([[1], [0], [2], [0]], np.int8))
    >>> r.output.tolist(), r.metadata_bits
    ([[3]], 4)
    """
    output: np.ndarray
    cycles: int
    macs: int
    dense_cycles: int
    dense_macs: int
    values: np.ndarray
    metadata: np.ndarray

    @property
    def metadata_bits(self) -> int:
        """2 bits per stored weight select one of the four activations of its group."""
        return 2 * self.metadata.size


def compress_24(w):
    """``(values, metadata)`` of a 2:4 matrix ``w (K, N)``: ``values (K/2, N)`` and the
    position 0..3 of each value inside its group of four rows. Raises if a group of
    four has more than two nonzeros.

    >>> values, meta = compress_24(np.array([[0], [7], [0], [9]]))
    >>> values.ravel().tolist(), meta.ravel().tolist()
    ([7, 9], [1, 3])
    """
    w = check_array("w", w, ndim=2, dtype=None)
    K, N = w.shape
    if K % 4:
        raise ValueError(f"w has K={K} rows, not a multiple of 4; pad it")
    groups = w.reshape(K // 4, 4, N)
    if np.any(np.count_nonzero(groups, axis=1) > 2):
        raise ValueError("w is not 2:4 sparse along K: a group of four rows has more than two "
                         "nonzeros; prune it with prune_n_m(w, 2, 4, axis=0) first")
    # two slots per group: the nonzero positions (padded with unused positions)
    order = np.argsort(groups == 0, axis=1, kind="stable")[:, :2, :]      # nonzeros first
    order = np.sort(order, axis=1)
    values = np.take_along_axis(groups, order, axis=1).reshape(K // 2, N)
    return values, order.reshape(K // 2, N).astype(np.uint8)


def sparse_24_matmul(A, W, array=None) -> Sparse24Result:
    """``A (M, K) @ W (K, N)`` with ``W`` 2:4 sparse along K, on a weight-stationary array.

    Each PE holds one of the ``K/2 x N`` stored weights and its 2-bit index;
    the four activations of a group of rows reach the two PE rows of that
    group and the index picks the one to multiply (the multiplexer of a sparse
    tensor core). The simulator has no multiplexer, so the run is split by
    index value: for ``s = 0..3`` the same ``SystolicArray`` multiplies the
    activations of position ``s`` of every group, ``A[:, 4*(j//2) + s]``, by
    the stored weights whose index is ``s`` (zero elsewhere). The four outputs
    add up to ``A @ W`` exactly (integers; floats up to rounding), and each run
    is a ``(M, K/2) @ (K/2, N)`` GEMM whose cycles the simulator counts: with
    the multiplexer the four runs are one pass, so ``cycles`` is one run's
    cycles and ``macs = M * K/2 * N``, half of the dense ones.

    >>> import numpy as np
    >>> from mini_accel.systolic import SystolicArray
    >>> A = np.arange(8, dtype=np.int8).reshape(1, 8)
    >>> W = np.array([[1], [0], [0], [2], [0], [3], [0], [0]], dtype=np.int8)
    >>> r = sparse_24_matmul(A, W, SystolicArray(4, 4))
    >>> r.output.tolist(), r.macs, r.dense_macs
    ([[21]], 4, 8)
    """
    from .systolic import SystolicArray
    array = check_instance("array", SystolicArray(8, 8) if array is None else array, SystolicArray)
    A = check_array("A", A, ndim=2, dtype=None)
    W = check_array("W", W, ndim=2, dtype=None)
    if A.shape[1] != W.shape[0]:
        raise ValueError(f"A is {A.shape} and W is {W.shape}: inner dimensions differ")
    values, meta = compress_24(W)
    M, K = A.shape
    N = W.shape[1]
    group_row = np.arange(K // 2) // 2 * 4                      # first row of A of each group
    out, runs = None, []
    for s in range(4):
        run = array.matmul(np.ascontiguousarray(A[:, group_row + s]),
                           np.where(meta == s, values, 0).astype(values.dtype))
        out = run.output if out is None else out + run.output
        runs.append(run)
    assert len({r.cycles for r in runs}) == 1                 # same shape, same cycles
    return Sparse24Result(output=out, cycles=runs[0].cycles, macs=M * (K // 2) * N,
                          dense_cycles=array.cycles(M, K, N), dense_macs=M * K * N,
                          values=values, metadata=meta)


# --------------------------------------------------------------------------- #
# Zero gating vs zero skipping in the mapping model
# --------------------------------------------------------------------------- #
def nonzero_input_macs(layer, inputs) -> int:
    """Exact number of MACs of ``layer`` whose input operand is nonzero.

    ``inputs`` has shape ``(N, C, H, W)`` of the layer. Each input element is
    used by ``K x #{(p, r): p*stride + r*dilation = h} x #{(q, s): ...}`` MACs.

    >>> from mini_accel.mapping_model import ConvLayer
    >>> layer = ConvLayer(K=2, P=2, R=2)              # inputs (1, 1, 3, 1)
    >>> nonzero_input_macs(layer, np.array([1.0, 0.0, 1.0]).reshape(1, 1, 3, 1))  # rows 0, 2 used once
    4
    """
    from .mapping_model import ConvLayer
    check_instance("layer", layer, ConvLayer)
    x = check_array("inputs", inputs, ndim=4, dtype=None)
    want = (layer.N, layer.C, layer.H, layer.W)
    if x.shape != want:
        raise ValueError(f"inputs must have shape (N, C, H, W) = {want}, got {x.shape}")
    uses_h = _uses(layer.H, layer.P, layer.R, layer.stride, layer.dilation)
    uses_w = _uses(layer.W, layer.Q, layer.S, layer.stride, layer.dilation)
    nz = (x != 0).sum(axis=(0, 1))
    return int(layer.K * (nz * uses_h[:, None] * uses_w[None, :]).sum())


def _uses(size, outs, taps, stride, dilation) -> np.ndarray:
    """``uses[h] = #{(p, r): p*stride + r*dilation = h}``, as an exact integer convolution."""
    a = np.zeros(size, dtype=np.int64)
    a[np.arange(outs) * stride] = 1
    b = np.zeros(size, dtype=np.int64)
    b[np.arange(taps) * dilation] = 1
    return np.convolve(a, b)[:size]


@dataclass
class SparseCost:
    """Energy and cycles of a mapping when zero inputs are gated or skipped.

    >>> from mini_accel.mapping import Architecture, ConvLayer, Mapping, evaluate
    >>> layer, arch = ConvLayer(K=2, C=2), Architecture.eyeriss_like(num_pes=2)
    >>> res = evaluate(layer, arch, Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 2}))
    >>> cost = sparse_mapping_cost(res, arch, 1.0, mode="gate")     # nothing to gate
    >>> cost.energy == cost.dense_energy, cost.cycles == cost.dense_cycles
    (True, True)
    """
    mode: str
    effectual_fraction: float
    energy: float
    cycles: float
    energy_by_level: dict
    dense_energy: float
    dense_cycles: int


def sparse_mapping_cost(result, arch, effectual_fraction: float,
                        mode: Literal["gate", "skip"] = "gate") -> SparseCost:
    """Cost of a mapping (``mapping.evaluate`` result) with zero inputs gated or skipped.

    ``effectual_fraction`` is the fraction of MACs whose input is nonzero
    (exact: ``nonzero_input_macs(layer, x) / layer.macs``; expected: the input
    density). Innermost-level accesses and the MAC scale as follows:

    ======  ==============  ====================  =====================  ========
    mode    MAC energy      weight + psum reads   input reads            cycles
    ======  ==============  ====================  =====================  ========
    gate    x f             x f                   unchanged (must test)  same
    skip    x f             x f                   x f (never sent)       x f
    ======  ==============  ====================  =====================  ========

    Storage above the PE is unchanged (compressing it is the formats' job);
    skipping assumes perfect load balance across PEs (an upper bound).

    >>> from mini_accel.mapping import Architecture, ConvLayer, Mapping, evaluate
    >>> layer, arch = ConvLayer(K=2, C=2), Architecture.eyeriss_like(num_pes=2)
    >>> res = evaluate(layer, arch, Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 2}))
    >>> cost = sparse_mapping_cost(res, arch, 0.5, mode="skip")
    >>> cost.cycles, cost.dense_cycles, cost.energy < cost.dense_energy
    (1.0, 2, True)
    """
    from .mapping_model import Architecture, MappingResult
    check_instance("result", result, MappingResult, what="a MappingResult of mapping.evaluate")
    check_instance("arch", arch, Architecture, what="an Architecture")
    f = fraction("effectual_fraction", effectual_fraction)
    mode = check_option("mode", mode, ("gate", "skip"))
    by_level = dict(result.energy_by_level)
    inner = arch.levels[-1]
    if set(result.counts) != set(arch.level_names):
        raise ValueError("result does not belong to arch (its levels differ)")
    # every MAC reads W and I and reads + writes O at the innermost level (the model's rule)
    macs = result.macs
    per_mac = {"W": macs, "O": 2 * macs, "I": macs if mode == "skip" else 0}
    c = result.counts[inner.name]
    if any(c[t]["reads"] < macs for t in "WIO"):
        raise ValueError(f"the innermost level {inner.name} must keep W, I and O (as in Eyeriss' "
                         "PEs) for this gating model; this mapping bypasses it")
    saved = sum(per_mac.values()) * inner.access_pj * (1 - f)
    by_level[inner.name] -= saved
    by_level["MAC"] *= f
    energy = sum(by_level.values())
    cycles = result.cycles * (f if mode == "skip" else 1.0)
    return SparseCost(mode, f, energy, cycles, by_level, result.energy, result.cycles)
