"""mini_accel.training_memory: model states, ZeRO, activations, checkpointing, compute, all-reduce.

Published numbers reproduced (tolerances stated per test):
* ZeRO (Rajbhandari et al. 2020) Fig. 1 and Table 1 per-device memory: equal to the
  paper's value at the precision it prints (e.g. 1.875 GB prints as 1.9);
* GPT-3 (Brown et al. 2020) Table D.1 training compute from 6 N D: within 0.5 %
  (the table prints 3 significant digits) in FLOPs and in PF-days;
* Llama 2 (Touvron et al. 2023) GPU-hours: the model FLOPs utilization that 6 N D
  implies lies between 30 % and 50 % of the A100's 312 TFLOPS for all four sizes;
  Llama 3.1 405B: 6 N D within 1 % of the reported 3.8e25 FLOPs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mini_accel.nn import Dense, ReLU, Sequential, Softmax
from mini_accel.training_memory import (
    activation_bytes,
    bytes_per_param,
    checkpointing,
    load_training_runs,
    load_zero_table,
    mfu,
    plan_training,
    ring_allreduce_time_s,
    step_time_s,
    training_flops,
    training_time_s,
    transformer_activation_bytes,
    zero_bytes_per_chip,
    zero_comm_bytes,
)

SETTINGS = dict(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- #
# Model states and ZeRO
# --------------------------------------------------------------------------- #
def test_mixed_precision_adam_is_2_plus_2_plus_12_bytes():
    b = bytes_per_param("adam", "mixed")
    assert (b["weights"], b["gradients"], b["master_weights"] + b["optimizer_state"]) == (2, 2, 12)
    assert [bytes_per_param(o)["total"] for o in ("sgd", "momentum", "adam")] == [8, 12, 16]
    assert [bytes_per_param(o, "fp32")["total"] for o in ("sgd", "momentum", "adam")] == [8, 12, 16]
    assert bytes_per_param("sgd", "fp32")["master_weights"] == 0


def test_zero_paper_figure_1_and_table_1_are_reproduced_at_their_printed_precision():
    rows = load_zero_table()
    assert len(rows) >= 10
    for r in rows:
        got = zero_bytes_per_chip(r["params"], int(r["n_chips"]), int(r["stage"])) / 1e9
        assert round(got, int(r["decimals"])) == r["gb"], (r["model"], r["n_chips"], r["stage"], got)


def _sharded_bytes_brute_force(P, n, stage, per_param):
    """Give every chip its share of each state, element by element, and take the largest chip."""
    w, g, k = per_param["weights"], per_param["gradients"], per_param["master_weights"] + per_param["optimizer_state"]
    chips = np.zeros(n)
    owner = np.arange(P) % n                         # round-robin ownership of each parameter
    for nbytes, sharded in ((w, stage >= 3), (g, stage >= 2), (k, stage >= 1)):
        if sharded:
            chips += np.bincount(owner, minlength=n) * nbytes
        else:
            chips += P * nbytes
    return chips.max()


@given(st.integers(1, 50), st.integers(1, 16), st.integers(0, 3), st.sampled_from(["sgd", "momentum", "adam"]),
       st.sampled_from(["mixed", "fp32"]))
@settings(**SETTINGS)
def test_zero_formula_matches_sharding_element_by_element(mult, n, stage, opt, prec):
    P = mult * n                                     # divisible, so the shares are equal
    got = zero_bytes_per_chip(P, n, stage, opt, prec)
    assert got == pytest.approx(_sharded_bytes_brute_force(P, n, stage, bytes_per_param(opt, prec)), rel=1e-12)
    if stage and n > 1:
        # Each stage shards one more kind of state; it saves memory when that state exists
        # (plain SGD in fp32 keeps no optimizer state and no master copy for stage 1 to shard).
        state = bytes_per_param(opt, prec)
        sharded = {1: state["optimizer_state"] + state["master_weights"], 2: state["gradients"],
                   3: state["weights"]}[stage]
        before = zero_bytes_per_chip(P, n, stage - 1, opt, prec)
        assert (got < before) if sharded else (got == before)


def test_zero_communication_volume():
    assert zero_comm_bytes(7.5e9, 1) == zero_comm_bytes(7.5e9, 2) == zero_comm_bytes(7.5e9, 0) == 30e9
    assert zero_comm_bytes(7.5e9, 3) == 1.5 * 30e9


# --------------------------------------------------------------------------- #
# Activations and checkpointing
# --------------------------------------------------------------------------- #
def test_activation_bytes_count_what_the_layers_really_keep():
    model = Sequential([Dense(64, 32, rng=0), ReLU(), Dense(32, 16, rng=1), ReLU(), Dense(16, 10, rng=2), Softmax()])
    x = np.ones((7, 64))
    model.logits(x)
    rows = activation_bytes(model, x.shape, bytes_per_value=8)
    kept = [layer._x.nbytes if hasattr(layer, "_x") and layer._x is not None else 0 for layer in model.layers]
    assert [r["bytes"] for r in rows] == kept          # float64 arrays the layers hold
    assert rows[-1]["bytes"] == 0


def test_transformer_activation_formula():
    s, b, h, a = 2048, 4, 4096, 32
    none = transformer_activation_bytes(s, b, h, a)
    assert none == s * b * h * 34 + 5 * a * s * s * b
    assert transformer_activation_bytes(s, b, h, a, "selective") == 34 * s * b * h
    assert transformer_activation_bytes(s, b, h, a, "full") == 2 * s * b * h


def _checkpoint_brute_force(a, f, k):
    """Run the schedule: forward keeping checkpoints (and the last segment), backward segment by
    segment, recomputing the missing activations; track live bytes and recomputed FLOPs."""
    L = len(a)
    starts = list(range(0, L, k))
    live = set()
    peak = 0
    for i in range(L):                                  # forward
        if i in starts or i >= starts[-1]:
            live.add(i)
        peak = max(peak, sum(a[j] for j in live))
    recompute = 0
    for s in reversed(starts):                          # backward, last segment first
        e = min(s + k, L)
        for i in range(s, e):
            if i not in live:
                recompute += f[i - 1]                   # layer i-1 recomputes layer i's input
                live.add(i)
        peak = max(peak, sum(a[j] for j in live))
        for i in range(s + 1, e):                       # this segment's backward is done
            live.discard(i)
    return peak, recompute


@given(st.lists(st.integers(0, 100), min_size=1, max_size=12), st.data())
@settings(**SETTINGS)
def test_checkpointing_matches_a_simulated_schedule(a, data):
    f = data.draw(st.lists(st.integers(0, 1000), min_size=len(a), max_size=len(a)))
    k = data.draw(st.integers(1, len(a)))
    got = checkpointing(a, f, k)
    assert (got["peak_bytes"], got["recompute_flops"]) == _checkpoint_brute_force(a, f, k)
    assert got["baseline_bytes"] == sum(a)
    assert checkpointing(a, f, 1) == {"peak_bytes": sum(a), "recompute_flops": 0, "baseline_bytes": sum(a)}


def test_sqrt_n_checkpointing_of_a_uniform_network():
    L = 64
    res = checkpointing([1] * L, [1] * L, 8)            # Chen et al. 2016: sqrt(n) segments
    assert res["peak_bytes"] == 8 + 7                   # 8 checkpoints + 7 inner activations
    assert res["recompute_flops"] == 7 * 7             # 7 segments re-run, 7 layers each: < one forward


# --------------------------------------------------------------------------- #
# Compute: GPT-3, Llama 2, Llama 3.1
# --------------------------------------------------------------------------- #
def test_gpt3_table_d1_compute_is_6nd():
    rows = [r for r in load_training_runs() if r["kind"] == "gpt3"]
    assert len(rows) == 8
    for r in rows:
        flops = training_flops(r["params"], r["tokens"])
        assert flops == pytest.approx(r["reported_flops"], rel=5e-3), r["model"]
        assert flops / (1e15 * 86400) == pytest.approx(r["reported_pf_days"], rel=5e-3), r["model"]
    gpt3 = next(r for r in rows if r["model"] == "GPT-3 175B")
    assert training_flops(gpt3["params"], gpt3["tokens"]) == pytest.approx(3.14e23, rel=1e-3)


def test_llama_gpu_hours_imply_a_plausible_mfu():
    rows = {r["model"]: r for r in load_training_runs() if r["chip_hours"]}
    for name in ("Llama 2 7B", "Llama 2 13B", "Llama 2 34B", "Llama 2 70B"):
        r = rows[name]
        u = mfu(r["params"], r["tokens"], r["chip_hours"], r["peak_flops"])
        assert 0.30 < u < 0.50, (name, u)
    assert mfu(70e9, 2e12, 1_720_320, 312e12) == pytest.approx(0.4350, abs=1e-3)
    big = rows["Llama 3.1 405B"]
    assert training_flops(big["params"], big["tokens"]) == pytest.approx(big["reported_flops"], rel=0.01)
    # the paper reports 38-43 % MFU while training; GPU-hours also count restarts and evaluation
    assert 0.30 < mfu(big["params"], big["tokens"], big["chip_hours"], big["peak_flops"]) < 0.43


# --------------------------------------------------------------------------- #
# Ring all-reduce, overlap, training time, the plan
# --------------------------------------------------------------------------- #
def _ring_allreduce_brute_force(buffers, bw, lat):
    """Reduce-scatter then all-gather on a ring, chunk by chunk; returns (result, seconds)."""
    n = len(buffers)
    chunks = [np.array_split(b.astype(np.float64), n) for b in buffers]
    seconds = 0.0
    for step in range(n - 1):                          # reduce-scatter
        sends = [(i, (i - step) % n, chunks[i][(i - step) % n].copy()) for i in range(n)]
        seconds += max(c.nbytes for _, _, c in sends) / bw + lat
        for i, c, data in sends:
            chunks[(i + 1) % n][c] += data
    for step in range(n - 1):                          # all-gather
        sends = [(i, (i + 1 - step) % n, chunks[i][(i + 1 - step) % n].copy()) for i in range(n)]
        seconds += max(c.nbytes for _, _, c in sends) / bw + lat
        for i, c, data in sends:
            chunks[(i + 1) % n][c] = data
    return [np.concatenate(c) for c in chunks], seconds


@given(st.integers(2, 9), st.integers(1, 6), st.floats(0, 1e-3))
@settings(max_examples=30, deadline=None)
def test_ring_allreduce_time_matches_a_simulated_ring(n, per_chip, lat):
    rng = np.random.default_rng(n * 10 + per_chip)
    buffers = [rng.integers(-9, 10, n * per_chip).astype(np.float64) for _ in range(n)]
    result, seconds = _ring_allreduce_brute_force(buffers, 1e3, lat)
    want = np.sum(buffers, axis=0)
    assert all(np.array_equal(r, want) for r in result)
    assert ring_allreduce_time_s(buffers[0].nbytes, n, 1e3, lat) == pytest.approx(seconds, rel=1e-12)
    assert ring_allreduce_time_s(buffers[0].nbytes, 1, 1e3, lat) == 0.0


def test_step_time_overlap_bounds():
    for c, m in [(3.0, 1.0), (1.0, 3.0), (2.0, 2.0)]:
        assert step_time_s(c, m, 0.0) == c + m
        assert step_time_s(c, m, 1.0) == max(c, m)
        assert max(c, m) <= step_time_s(c, m, 0.3) <= c + m


def _plan_brute_force(P, D, mem, bt, peak, eff, bw, deadline, act, overlap, top):
    for n in range(1, top + 1):
        for stage in range(4):
            if zero_bytes_per_chip(P, n, stage) + act > mem:
                continue
            t = training_time_s(P, D, n, batch_tokens=bt, peak_flops=peak, mfu=eff, link_bytes_per_s=bw,
                                stage=stage, overlap=overlap)
            if t <= deadline:
                return n, stage
    return None


@given(st.floats(1e8, 2e11), st.floats(1e10, 3e12), st.sampled_from([16e9, 40e9, 80e9, 96e9]),
       st.floats(0.1, 0.6), st.floats(1e9, 4e11), st.floats(1, 400), st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=40, deadline=None)
def test_plan_matches_a_loop_over_chips_and_stages(P, D, mem, eff, bw, days, overlap, act_frac):
    args = dict(chip_memory_bytes=mem, batch_tokens=4e6, peak_flops=312e12, mfu=eff, link_bytes_per_s=bw,
                deadline_s=days * 86400, activation_bytes_per_chip=act_frac * mem / 2, overlap=overlap,
                max_chips=300)
    plan = plan_training(P, D, **args)
    want = _plan_brute_force(P, D, mem, 4e6, 312e12, eff, bw, days * 86400, act_frac * mem / 2, overlap, 300)
    if want is None:
        assert plan is None
    else:
        assert (plan["n_chips"], plan["stage"]) == want


def test_time_is_not_monotone_in_chips_when_communication_dominates():
    # a slow link: beyond some size, adding chips only adds all-reduce time
    kw = dict(batch_tokens=1e5, peak_flops=1e15, mfu=0.5, link_bytes_per_s=1e9, overlap=0.0)
    t = [training_time_s(1e9, 1e10, n, **kw) for n in (1, 2, 64)]
    assert t[1] > t[0] and t[2] > t[1]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="optimizer"):
        bytes_per_param("lion")
    with pytest.raises(ValueError, match="precision"):
        bytes_per_param("adam", "fp8")
    with pytest.raises(ValueError, match="stage"):
        zero_bytes_per_chip(1e9, 8, 4)
    with pytest.raises(TypeError, match="n_chips"):
        zero_bytes_per_chip(1e9, 8.0, 1)
    with pytest.raises(ValueError, match="n_params"):
        training_flops(-1, 1e9)
    with pytest.raises(ValueError, match="overlap"):
        step_time_s(1, 1, 1.5)
    with pytest.raises(ValueError, match="every"):
        checkpointing([1, 2], [1, 2], 3)
    with pytest.raises(ValueError, match="recompute"):
        transformer_activation_bytes(1, 1, 1, 1, "half")
    with pytest.raises(ValueError, match="max_chips"):
        plan_training(1e9, 1e9, chip_memory_bytes=1e9, batch_tokens=1, peak_flops=1, mfu=0.5,
                      link_bytes_per_s=1, deadline_s=1, max_chips=10 ** 7)
    assert math.isfinite(ring_allreduce_time_s(0, 4, 1e9))
