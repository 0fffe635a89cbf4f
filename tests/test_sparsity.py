"""Sparsity: pruning, formats (against slow encoders), 2:4 on the array, gating vs skipping."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mini_accel.mapping_model import Architecture, ConvLayer, Mapping, evaluate
from mini_accel.sparsity import (
    break_even_density,
    compress_24,
    encode,
    expected_bits,
    fine_tune,
    magnitude_prune,
    nonzero_input_macs,
    prune_model,
    prune_n_m,
    sparse_24_matmul,
    sparse_mapping_cost,
    storage_bits,
)
from mini_accel.systolic import SystolicArray

small_ints = arrays(np.int64, st.tuples(st.integers(1, 6), st.integers(1, 40)),
                    elements=st.sampled_from([0, 0, 0, 1, -3, 7]))


def test_magnitude_prune_removes_exactly_the_smallest():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 30))
    for s in (0.0, 0.3, 0.9, 1.0):
        mask = magnitude_prune(w, s)
        assert (~mask).sum() == round(s * w.size)
        if 0 < s < 1:
            assert np.abs(w[~mask]).max() <= np.abs(w[mask]).min()
    with pytest.raises(ValueError, match="sparsity"):
        magnitude_prune(w, 1.5)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.sampled_from([4, 8, 12]), st.integers(1, 5)),
              elements=st.floats(-10, 10)))
def test_n_m_keeps_the_two_largest_of_every_four(w):
    mask = prune_n_m(w, 2, 4, axis=0)
    for g in range(w.shape[0] // 4):
        for j in range(w.shape[1]):
            col = np.abs(w[4 * g:4 * g + 4, j])
            kept = mask[4 * g:4 * g + 4, j]
            assert kept.sum() == 2
            assert col[kept].min() >= col[~kept].max()      # slow check: by comparison


def test_n_m_errors():
    with pytest.raises(ValueError, match="multiple of m=4"):
        prune_n_m(np.ones((6, 2)), 2, 4, axis=0)
    with pytest.raises(ValueError, match=r"n must be in \[1, 4\]"):
        prune_n_m(np.ones((8, 2)), 5, 4)


def _rle_bits_slow(x, value_bits, run_bits):
    """Walk the entries one by one like a hardware run-length coder: a zero that would make
    the run longer than 2**run_bits - 1 is stored explicitly, but only if a nonzero follows
    (trailing zeros are implied by the shape)."""
    max_run, stored, run, pending = 2 ** run_bits - 1, 0, 0, 0
    for v in x.ravel():
        if v == 0:
            if run == max_run:
                pending += 1         # this zero will be stored explicitly
                run = 0
            else:
                run += 1
        else:
            stored += pending + 1
            pending = run = 0
    return stored * (value_bits + run_bits)


@settings(max_examples=60, deadline=None)
@given(small_ints)
def test_formats_round_trip_and_count_bits(x):
    nnz, rows, cols = np.count_nonzero(x), *x.shape
    for fmt in ("dense", "bitmask", "csr", "rle"):
        enc = encode(x, fmt, value_bits=8, run_bits=3)
        assert np.array_equal(enc.decode(), x), fmt
    assert storage_bits(x, "dense") == x.size * 8
    assert storage_bits(x, "bitmask") == x.size + 8 * nnz
    ib = max(1, int(np.ceil(np.log2(cols))))
    pb = max(1, int(np.ceil(np.log2(nnz + 1))))
    assert storage_bits(x, "csr") == nnz * (8 + ib) + (rows + 1) * pb
    assert storage_bits(x, "rle", run_bits=3) == _rle_bits_slow(x, 8, 3)


def test_expected_bits_match_random_matrices_and_break_even():
    rng = np.random.default_rng(1)
    for d in (0.05, 0.3, 0.7):
        xs = [(rng.random((64, 64)) < d).astype(np.int64) for _ in range(20)]
        for fmt in ("bitmask", "csr", "rle"):
            mean = np.mean([storage_bits(x, fmt) for x in xs])
            assert mean == pytest.approx(expected_bits((64, 64), d, fmt), rel=0.03), (fmt, d)
    # bitmask: 1 + 8d < 8 bits per entry  <=>  d < 7/8
    assert break_even_density((64, 64), "bitmask") == pytest.approx(7 / 8, abs=1e-6)
    csr = break_even_density((64, 64), "csr")
    assert 0.5 < csr < 8 / 14                     # 14 bits per nonzero plus row pointers
    assert break_even_density((64, 64), "rle") < 8 / 12 + 1e-9


@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.float64])
def test_sparse_24_matmul_is_exact_and_halves_k(dtype):
    rng = np.random.default_rng(2)
    A = rng.integers(-5, 6, size=(7, 16)).astype(dtype)
    W = rng.integers(-5, 6, size=(16, 9)).astype(dtype)
    W = W * prune_n_m(W, 2, 4, axis=0)
    arr = SystolicArray(4, 4)
    res = sparse_24_matmul(A, W, arr)
    assert np.array_equal(res.output.astype(np.float64), A.astype(np.float64) @ W.astype(np.float64))
    assert res.macs * 2 == res.dense_macs == 7 * 16 * 9
    assert res.cycles == arr.matmul(A[:, :8], W[:8]).cycles < res.dense_cycles
    assert res.metadata_bits == 2 * 8 * 9


def test_sparse_24_matmul_equals_the_simulator_when_metadata_is_shared():
    rng = np.random.default_rng(3)
    A = rng.integers(-9, 10, size=(5, 8)).astype(np.int8)
    keep = np.array([1, 0, 0, 1, 0, 1, 1, 0], bool)           # same positions in every column
    W = (rng.integers(1, 9, size=(8, 6)) * keep[:, None]).astype(np.int8)
    values, meta = compress_24(W)
    assert (meta == meta[:, :1]).all()
    arr = SystolicArray(4, 3, dataflow="ws")
    sim = arr.matmul(A[:, keep], values)
    res = sparse_24_matmul(A, W, arr)
    assert np.array_equal(res.output, sim.output) and res.cycles == sim.cycles
    assert res.macs == sim.macs
    with pytest.raises(ValueError, match="not 2:4 sparse"):
        compress_24(np.ones((4, 2)))


def test_nonzero_input_macs_equals_brute_force():
    rng = np.random.default_rng(4)
    for stride, dil in ((1, 1), (2, 1), (1, 2), (3, 2)):
        layer = ConvLayer(N=2, K=3, C=2, P=3, Q=2, R=2, S=3, stride=stride, dilation=dil)
        x = rng.integers(0, 2, size=(2, 2, layer.H, layer.W)) * rng.integers(1, 5, size=(2, 2, layer.H, layer.W))
        slow = sum(1 for n, k, c, p, q, r, s in itertools.product(
            *(range(b) for b in (2, 3, 2, 3, 2, 2, 3)))
            if x[n, c, p * stride + r * dil, q * stride + s * dil] != 0)
        assert nonzero_input_macs(layer, x) == slow


def test_gating_vs_skipping():
    layer = ConvLayer(N=2, K=8, C=4, P=6, Q=6, R=3, S=3)
    arch = Architecture.eyeriss_like(num_pes=16, rf_words=128, buffer_words=8192)
    m = Mapping.from_factors(arch, layer, [{"N": 2}, {"C": 4, "S": 3, "Q": 6}],
                             spatial={"R": 3, "P": 2, "K": 2})
    res = evaluate(layer, arch, m)
    same = sparse_mapping_cost(res, arch, 1.0, "skip")
    assert same.energy == pytest.approx(res.energy) and same.cycles == res.cycles
    gate = sparse_mapping_cost(res, arch, 0.4, "gate")
    skip = sparse_mapping_cost(res, arch, 0.4, "skip")
    assert gate.cycles == res.cycles and skip.cycles == pytest.approx(0.4 * res.cycles)
    assert skip.energy < gate.energy < res.energy
    # the saving is exactly what the innermost level and the MACs no longer do
    saved = res.energy - gate.energy
    assert saved == pytest.approx(0.6 * res.macs * (arch.mac_pj + 3 * arch.levels[-1].access_pj))
    assert gate.energy - skip.energy == pytest.approx(0.6 * res.macs * arch.levels[-1].access_pj)


def test_digits_mlp_pruning_and_fine_tuning():
    from mini_accel.datasets import holdout_split, load_digits
    from mini_accel.nn import accuracy, train_mlp
    X, y = load_digits()
    Xtr, Xte, ytr, yte = holdout_split(X / 16.0, y, seed=0)
    model = train_mlp(Xtr, ytr, hidden=(64,), epochs=15, seed=0)
    dense = accuracy(model, Xte, yte)
    masks = prune_model(model, 0.9, "unstructured")
    pruned = accuracy(model, Xte, yte)
    fine_tune(model, Xtr, ytr, masks, epochs=3)
    tuned = accuracy(model, Xte, yte)
    assert dense > 0.93
    assert pruned < dense - 0.05          # 90 % unstructured hurts ...
    assert tuned > pruned + 0.05          # ... and a short fine-tune recovers most of it
    for layer, mask in zip([l for l in model.layers if hasattr(l, "W")], masks):
        assert np.all(layer.W[~mask] == 0)
