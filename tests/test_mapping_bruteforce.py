"""The analytic mapping model equals a brute-force execution of the loop nest."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reference_mapping import all_macs, brute_force

from mini_accel.mapper import _kernel_args, encode
from mini_accel.mapping_model import DIMS, TENSORS, Architecture, ConvLayer, Level, Mapping, evaluate


def _split(n, slots, rnd):
    """A random ordered factorization of n into ``slots`` factors."""
    out = [1] * slots
    primes, x, p = [], n, 2
    while x > 1:
        while x % p == 0:
            primes.append(p)
            x //= p
        p += 1
    for q in primes:
        out[rnd.randrange(slots)] *= q
    return out


@st.composite
def cases(draw):
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    bounds = {d: rnd.choice([1, 1, 2, 2, 3, 4]) for d in DIMS}
    while math.prod(bounds.values()) > 144:
        d = rnd.choice([d for d in DIMS if bounds[d] > 1])
        bounds[d] = 1
    layer = ConvLayer(**bounds, stride=rnd.choice([1, 1, 2, 3]), dilation=rnd.choice([1, 1, 2]))
    nlev = rnd.choice([2, 3, 3, 4])
    levels = tuple(Level(f"L{i}", None, float(rnd.choice([1, 2, 6, 200]))) for i in range(nlev))
    arch = Architecture(levels, num_pes=64, array_below=rnd.randrange(nlev), array_pj=2.0,
                        mac_pj=1.0)
    temporal = [dict() for _ in range(nlev)]
    spatial = {}
    for d in DIMS:
        parts = _split(bounds[d], nlev + 1, rnd)
        for i in range(nlev):
            if parts[i] > 1:
                temporal[i][d] = parts[i]
        if parts[nlev] > 1:
            spatial[d] = parts[nlev]
    while math.prod(spatial.values()) > 64:
        d = next(iter(spatial))
        temporal[0][d] = temporal[0].get(d, 1) * spatial.pop(d)
    order = ["".join(rnd.sample(DIMS, 7)) for _ in range(nlev)]
    keep = [set(TENSORS)] + [{t for t in TENSORS if rnd.random() < 0.7} for _ in range(nlev - 1)]
    return layer, arch, Mapping(tuple(temporal), tuple(order), spatial, tuple(keep))


def _unbounded(*pj, array_below):
    levels = tuple(Level(f"L{i}", None, p) for i, p in enumerate(pj))
    return Architecture(levels, num_pes=64, array_below=array_below, array_pj=2.0, mac_pj=1.0)


# The PEs split P (and R) while a PE level loops over P too, and no PE level keeps the
# inputs: the PE index of P is strided by that inner factor, so what the PEs read in one
# step (first case: 96 L1 input reads, the model once said 72) or what a PE level fills
# from above the array (second case: 10 L0 input reads, once 8) is not a contiguous window.
STRIDED_SPATIAL = (
    (ConvLayer(N=4, P=2, R=4, S=3), _unbounded(6.0, 6.0, 200.0, array_below=1),
     Mapping(({}, {"N": 2}, {"N": 2, "R": 2}), ("NRCKSPQ", "NPRSCQK", "RSNQPCK"),
             {"P": 2, "R": 2, "S": 3}, (set(TENSORS), set(TENSORS), set()))),
    (ConvLayer(P=4, R=3), _unbounded(200.0, 6.0, 1.0, array_below=0),
     Mapping(({}, {"P": 2}, {"R": 3}), ("NKCPQRS",) * 3, {"P": 2},
             (set(TENSORS), {"W", "O"}, set(TENSORS)))),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
@example(STRIDED_SPATIAL[0])
@example(STRIDED_SPATIAL[1])
def test_counts_equal_brute_force(case):
    layer, arch, mapping = case
    res = evaluate(layer, arch, mapping)
    macs, cycles, counts, array = brute_force(layer, arch, mapping)
    assert res.macs == macs == layer.macs
    assert res.cycles == cycles
    assert res.counts == counts, mapping.describe(arch)
    assert res.array == array
    seen = all_macs(layer, mapping, arch)
    assert len(seen) == layer.macs and set(seen.values()) == {1}


def test_a_hand_counted_mapping():
    # 1-D convolution P=4, R=3 on one PE: W kept in the RF for all steps, inputs reloaded.
    layer = ConvLayer(P=4, R=3)
    arch = Architecture((Level("DRAM", None, 200.0), Level("RF", None, 1.0)), 1, 0,
                        array_pj=2.0, mac_pj=1.0)
    m = Mapping(({"P": 4}, {"R": 3}), ("PRNKCQS", "RNKCPQS"), {}, ({"W", "I", "O"}, {"W", "I", "O"}))
    r = evaluate(layer, arch, m)
    # weights: one tile of 3 loaded once; inputs: window of 3 reloaded for each of 4 outputs;
    # outputs: 4 tiles of 1, each written back once, never re-read (first visit starts at 0)
    assert r.counts["DRAM"]["W"]["reads"] == 3
    assert r.counts["DRAM"]["I"]["reads"] == 12
    assert r.counts["DRAM"]["O"] == {"reads": 0, "fills": 0, "updates": 4, "writes": 4}
    assert r.counts["RF"]["O"]["reads"] == 12 + 4 and r.counts["RF"]["O"]["updates"] == 12
    # DRAM, RF, array (every word into or out of the PE crosses it) and the 12 MACs
    assert r.energy == pytest.approx(200 * 19 + 1 * (3 + 12 + 12 + 12 + 16 + 12) + 2 * 19 + 12)


@pytest.mark.parametrize("kernel", ["mapping", "_fallback_mapping"])
@pytest.mark.parametrize("case", STRIDED_SPATIAL, ids=["per-step", "pe-fill"])
def test_strided_spatial_kernel_and_twin_equal_model(case, kernel):
    # the compiled kernel and its numpy twin count the strided PE windows like the model
    mod = pytest.importorskip(f"mini_accel._core.{kernel}", reason="the compiled core is not built")
    layer, arch, mapping = case
    out = np.empty(1), np.empty(1), np.empty(1, np.uint8)
    mod.evaluate_batch(*encode(mapping, arch), *_kernel_args(layer, arch), arch.array_below,
                       arch.num_pes, arch.array_pj, arch.mac_pj, layer.stride, layer.dilation, *out)
    assert out[2][0] == 1
    assert out[0][0] == pytest.approx(evaluate(layer, arch, mapping).energy, rel=1e-12)
