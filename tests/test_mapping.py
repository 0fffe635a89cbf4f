"""Mapping model: validity, errors, the batch kernel, dataflows, the mapper, published results."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mapping_bruteforce import cases

from mini_accel.mapper import (
    DATAFLOWS,
    compare_dataflows,
    dataflow_violations,
    encode,
    evaluate_many,
    mapspace_size,
    search,
)
from mini_accel.mapping_model import Architecture, ConvLayer, Level, Mapping, check_mapping, evaluate, violations


# --------------------------------------------------------------------------- #
# Bad input and validity messages
# --------------------------------------------------------------------------- #
def test_layer_and_arch_errors_name_the_argument():
    with pytest.raises(ValueError, match="ConvLayer K"):
        ConvLayer(K=0)
    with pytest.raises(TypeError, match="ConvLayer C"):
        ConvLayer(C=2.5)
    with pytest.raises(ValueError, match="capacity_words"):
        Level("RF", -1, 1.0)
    with pytest.raises(ValueError, match="array_below"):
        Architecture((Level("DRAM", None, 1.0),), 4, array_below=3)
    with pytest.raises(ValueError, match="names must differ"):
        Architecture((Level("A", None, 1.0), Level("A", 4, 1.0)), 4, 0)


def test_mapping_errors_name_the_argument():
    arch = Architecture.eyeriss_like(num_pes=4)
    layer = ConvLayer(K=4, C=6)
    with pytest.raises(ValueError, match="does not divide"):
        Mapping.from_factors(arch, layer, [{}, {"C": 4}])
    with pytest.raises(ValueError, match="unknown loop 'X'"):
        Mapping.from_factors(arch, layer, [{}, {"X": 2}])
    with pytest.raises(ValueError, match="distinct loops"):
        Mapping.from_factors(arch, layer, [{}, {}], order=["KK", None, None])
    with pytest.raises(TypeError, match="arch must be an Architecture"):
        evaluate(layer, "eyeriss", None)


def test_violations_say_which_constraint_failed():
    arch = Architecture.eyeriss_like(num_pes=4, rf_words=8, buffer_words=16)
    layer = ConvLayer(K=8, C=8, P=4)
    m = Mapping(({"K": 2}, {}, {"C": 8, "P": 4}), (None,) * 3, {"K": 8}, ({"W", "I", "O"},) * 3)
    msgs = violations(layer, arch, m)
    assert msgs == ["the factors of loop K multiply to 16, not K=8",
                    "the spatial factors use 8 PEs but the array has 4"]
    m = Mapping.from_factors(arch, layer, [{}, {"C": 8, "P": 4}], spatial={"K": 4})
    msgs = violations(layer, arch, m)
    assert len(msgs) == 2
    assert msgs[0].startswith("buffer holds") and "capacity is 16 words" in msgs[0]
    assert msgs[1] == "RF holds 44 words per PE (W 8, I 32, O 4) but its capacity is 8 words"
    with pytest.raises(ValueError, match="invalid mapping: buffer holds"):
        check_mapping(layer, arch, m)
    r = evaluate(layer, arch, m, check=False)   # what-if: capacities ignored
    assert r.macs == layer.macs


# --------------------------------------------------------------------------- #
# The batch kernel equals the readable model (which equals brute force)
# --------------------------------------------------------------------------- #
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_kernel_equals_model(case):
    layer, arch, mapping = case
    res = evaluate(layer, arch, mapping)
    energy, cycles, valid = evaluate_many(layer, arch, *encode(mapping, arch))
    assert valid[0]
    assert cycles[0] == res.cycles
    assert energy[0] == pytest.approx(res.energy, rel=1e-12)


def test_kernel_flags_capacity_like_the_model():
    arch = Architecture.eyeriss_like(num_pes=4, rf_words=8, buffer_words=1024)
    layer = ConvLayer(K=4, C=8, P=4)
    good = Mapping.from_factors(arch, layer, [{}, {"C": 2}], spatial={"K": 4})
    bad = Mapping.from_factors(arch, layer, [{}, {"C": 8, "P": 4}], spatial={"K": 4})
    f1, o1, k1 = encode(good, arch)
    f2, o2, _ = encode(bad, arch)
    _, _, valid = evaluate_many(layer, arch, np.concatenate([f1, f2]), np.concatenate([o1, o2]), k1)
    assert valid.tolist() == [not violations(layer, arch, good), not violations(layer, arch, bad)]
    with pytest.raises(ValueError, match="permutation"):
        evaluate_many(layer, arch, f1, np.zeros_like(o1), k1)


# --------------------------------------------------------------------------- #
# Dataflows and the mapper
# --------------------------------------------------------------------------- #
SMALL = ConvLayer(N=2, K=4, C=4, P=6, Q=2, R=3, S=2, name="small")


@pytest.mark.parametrize("df", sorted(DATAFLOWS))
def test_mapper_returns_valid_mappings_of_its_dataflow(df):
    arch = Architecture.eyeriss_like(num_pes=16, rf_words=0 if df == "nlr" else 32,
                                     buffer_words=2048)
    best = search(SMALL, arch, df, samples=3000, seed=1)
    assert violations(SMALL, arch, best.mapping) == []
    assert dataflow_violations(best.mapping, arch, df, SMALL) == []
    assert best.result.macs == SMALL.macs
    assert best.valid > 0 and best.evaluated >= best.valid


def test_exhaustive_search_is_the_true_minimum():
    layer = ConvLayer(K=4, C=2, P=4, R=2, name="tiny")
    arch = Architecture.eyeriss_like(num_pes=4, rf_words=8, buffer_words=64)
    full = search(layer, arch, None, exhaustive_limit=10**6)
    assert full.exhaustive
    sampled = search(layer, arch, None, exhaustive_limit=0, samples=500, seed=3)
    assert not sampled.exhaustive
    assert full.result.energy <= sampled.result.energy
    # every mapping of a brute-force enumeration of tilings with one order is no better
    import itertools

    from mini_accel.mapper import _keep_for, _splits
    splits = _splits(layer, arch, None)
    for combo in itertools.islice(itertools.product(*splits), 300):
        f = np.array(combo, dtype=np.int64).T[None]
        o = np.tile(np.arange(7), (1, 3, 1))
        e, _, v = evaluate_many(layer, arch, f, o, _keep_for(arch, None))
        if v[0]:
            assert e[0] >= full.result.energy - 1e-9


def test_objectives_and_errors():
    arch = Architecture.eyeriss_like(num_pes=16, rf_words=64, buffer_words=4096)
    fast = search(SMALL, arch, "rs", objective="delay", samples=3000, seed=0)
    cheap = search(SMALL, arch, "rs", objective="energy", samples=3000, seed=0)
    assert fast.result.cycles <= cheap.result.cycles
    assert cheap.result.energy <= fast.result.energy
    with pytest.raises(ValueError, match="objective"):
        search(SMALL, arch, objective="area")
    with pytest.raises(ValueError, match="dataflow must be one of"):
        search(SMALL, arch, "xs")
    tiny = Architecture.eyeriss_like(num_pes=16, rf_words=1, buffer_words=4)
    with pytest.raises(ValueError, match="no valid mapping"):
        search(SMALL, tiny, "rs", samples=200)
    assert mapspace_size(SMALL, arch) > mapspace_size(SMALL, arch, "rs")


def test_progress_bar(capsys):
    arch = Architecture.eyeriss_like(num_pes=16, rf_words=64, buffer_words=4096)
    search(SMALL, arch, "os", samples=100, exhaustive_limit=0, progress=True)
    assert "100/100" in capsys.readouterr().err


# --------------------------------------------------------------------------- #
# Published results
# --------------------------------------------------------------------------- #
#: AlexNet CONV layers as in Chen et al., ISCA 2016 / JSSC 2017 (Table: H, R, E, C, M, U),
#: batch N = 16 as in the ISCA 2016 CONV-layer comparison (Section VI).
ALEXNET = [ConvLayer(N=16, K=96, C=3, P=55, Q=55, R=11, S=11, stride=4, name="CONV1"),
           ConvLayer(N=16, K=256, C=48, P=27, Q=27, R=5, S=5, name="CONV2"),
           ConvLayer(N=16, K=384, C=256, P=13, Q=13, R=3, S=3, name="CONV3"),
           ConvLayer(N=16, K=384, C=192, P=13, Q=13, R=3, S=3, name="CONV4"),
           ConvLayer(N=16, K=256, C=192, P=13, Q=13, R=3, S=3, name="CONV5")]


def test_eyeriss_isca2016_dataflow_comparison():
    """Chen, Emer, Sze, ISCA 2016 (abstract, Sec. VI): under the same storage area and 256 PEs,
    RS is 1.4x to 2.5x more energy efficient than the other dataflows on AlexNet's CONV layers,
    and NLR is the worst. The storage budget here: 256 PEs x 0.5 kB RF + 128 kB buffer
    (16-bit words); NLR puts all of it in the buffer. Tolerance: RS best on every layer,
    the smallest and largest ratios over the five layers within 0.2 of 1.4 and 2.5."""
    base = Architecture.eyeriss_like(num_pes=256, rf_words=256, buffer_words=65536)
    nlr = Architecture.eyeriss_like(num_pes=256, rf_words=0, buffer_words=65536 + 256 * 256)
    total = {}
    for layer in ALEXNET:
        res = compare_dataflows(layer, base, ("ws", "os", "nlr", "rs"), archs={"nlr": nlr},
                                samples=12000, seed=0)
        e = {k: v.result.energy for k, v in res.items()}
        assert min(e, key=e.get) == "rs", (layer.name, e)
        assert max(e, key=e.get) == "nlr", (layer.name, e)
        for k, v in e.items():
            total[k] = total.get(k, 0.0) + v
    ratios = {k: total[k] / total["rs"] for k in ("ws", "os", "nlr")}
    assert abs(min(ratios.values()) - 1.4) <= 0.2, ratios
    assert abs(max(ratios.values()) - 2.5) <= 0.2, ratios


#: Timeloop's reference outputs of exercise 01-model-conv1d-2level (Accelergy-Project/
#: timeloop-accelergy-exercises, exercises/timeloop/01-model-conv1d-2level/ref-output/{os,ws}/
#: timeloop-model.stats.txt, commit 0d5bb48): a 1-D convolution P=16, R=3 on MainMemory -> Buffer.
#: (level, tensor, field): value, the same in both mappings.
TIMELOOP_CONV1D = {
    ("MainMemory", "W", "reads"): 3, ("MainMemory", "I", "reads"): 18,
    ("MainMemory", "O", "reads"): 0, ("MainMemory", "O", "updates"): 16,
    ("Buffer", "W", "reads"): 48, ("Buffer", "W", "fills"): 3,
    ("Buffer", "I", "reads"): 48, ("Buffer", "I", "fills"): 18,
    ("Buffer", "O", "reads"): 32, ("Buffer", "O", "updates"): 48, ("Buffer", "O", "fills"): 16,
}


@pytest.mark.parametrize("name, dram_loop, buffer_loop", [("os", "P", "R"), ("ws", "R", "P")])
def test_timeloop_exercise_conv1d(name, dram_loop, buffer_loop):
    """Equal to Timeloop: MACs, cycles (48), all weight traffic, the output write-backs and
    re-reads of memory. Different, by design of this simpler model:
    * inputs: Timeloop fetches only the new elements of a sliding window (18 words from
      memory); this model reloads the whole window when it moves (os: 16 windows of 3; ws: 3
      windows of 16: 48 words either way);
    * output accesses of the buffer: Timeloop elides the first read of each partial sum at
      the MAC (the 16 reads of a zero); with them its 32 reads + 48 updates + 16 fills = 96
      accesses are this model's 112 = 48 MAC reads + 16 write-back reads + 48 updates."""
    layer = ConvLayer(P=16, R=3)
    arch = Architecture((Level("MainMemory", None, 1.0), Level("Buffer", 64, 1.0)), 1, 1)
    bound = {"P": 16, "R": 3}
    m = Mapping(({dram_loop: bound[dram_loop]}, {buffer_loop: bound[buffer_loop]}),
                (dram_loop, buffer_loop), {}, ({"W", "I", "O"},) * 2)
    r = evaluate(layer, arch, m)
    assert (r.macs, r.cycles) == (48, 48)
    ours = {key: r.counts[key[0]][key[1]][key[2]] for key in TIMELOOP_CONV1D}
    differ = {k for k in TIMELOOP_CONV1D if ours[k] != TIMELOOP_CONV1D[k]}
    assert differ == {("MainMemory", "I", "reads"), ("Buffer", "I", "fills"),
                      ("Buffer", "O", "reads"), ("Buffer", "O", "fills")}, (name, ours)
    assert ours[("MainMemory", "I", "reads")] == ours[("Buffer", "I", "fills")] == 48
    timeloop_o = sum(TIMELOOP_CONV1D[("Buffer", "O", f)] for f in ("reads", "updates", "fills"))
    assert r.accesses("Buffer", "O") == timeloop_o + 16 == 112


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_mapper_never_returns_an_invalid_mapping(case):
    layer, _, _ = case
    rng = np.random.default_rng(layer.macs)
    arch = Architecture.eyeriss_like(num_pes=int(rng.integers(1, 20)), rf_words=int(rng.integers(0, 40)),
                                     buffer_words=int(rng.integers(1, 400)))
    for df in (None, "rs", "ws", "os"):
        try:
            best = search(layer, arch, df, samples=200, exhaustive_limit=500, seed=0)
        except ValueError as exc:
            assert "no valid mapping" in str(exc)
            continue
        assert violations(layer, arch, best.mapping) == []
        assert dataflow_violations(best.mapping, arch, df, layer) == []


# --------------------------------------------------------------------------- #
# Figures and the explorer (lazy imports)
# --------------------------------------------------------------------------- #
def test_import_does_not_load_matplotlib():
    import subprocess
    import sys
    code = ("import sys, mini_accel.mapping, mini_accel.sparsity, mini_accel.viz_mapping; "
            "print('matplotlib' in sys.modules, 'ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_figures_and_explorer():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mini_accel import viz_mapping
    arch = Architecture.eyeriss_like(num_pes=16, rf_words=64, buffer_words=4096)
    best = search(SMALL, arch, "rs", samples=500, seed=0)
    ax = viz_mapping.plot_mapping_energy(best.result)
    widths = sum(p.get_width() for p in ax.patches)
    assert widths == pytest.approx(best.result.energy_per_mac)      # the bars add up to the total
    viz_mapping.plot_dataflow_comparison({"a": {"ws": 2.0, "rs": 1.0}, "b": {"ws": 3.0, "rs": 1.5}})
    viz_mapping.plot_storage_vs_density((16, 16))
    ex = viz_mapping.mapping_explorer_widget(SMALL, arch, best.mapping)
    assert ex.update() is ex.result and ex.result.energy == pytest.approx(best.result.energy)
    problems = ex.update(**{"RF K": 4, "buffer K": 4})
    assert any("does not divide" in p for p in problems) and ex.result is None
    plt.close("all")


def test_eyeriss_jssc2017_dram_accesses_per_mac():
    """Chen, Krishna, Emer, Sze, JSSC 2017 (abstract): the Eyeriss chip (168 PEs, 108 kB buffer,
    0.5 kB RF per PE) ran AlexNet's CONV layers at batch 4 with 0.0029 DRAM accesses per MAC.
    Row-stationary mappings of the five layers (batch 4) on ``Architecture.eyeriss_like()``,
    searched for the lowest energy, give 0.0044 with this model. The model is dense (the chip
    run-length codes activations, whose ReLU zeros shrink DRAM traffic) and reloads whole input
    windows, so it must land above the chip, and within a factor of 2 of it."""
    arch = Architecture.eyeriss_like()
    dram = macs = 0
    for layer in ALEXNET:
        layer4 = ConvLayer(**{**layer.bounds, "N": 4}, stride=layer.stride, name=layer.name)
        best = search(layer4, arch, "rs", samples=30000, seed=0)
        dram += best.result.accesses("DRAM")
        macs += best.result.macs
    assert 0.0029 <= dram / macs <= 2 * 0.0029, dram / macs


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 9), st.integers(1, 9))
def test_window_equals_the_set_of_rows(P, R, stride, dilation):
    from mini_accel.mapping_model import _window
    rows = {p * stride + r * dilation for p in range(P) for r in range(R)}
    assert _window(P, R, stride, dilation) == len(rows)
