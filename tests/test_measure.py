"""mini_accel.measure: internal consistency of real (tiny) measurements, never a fixed speed."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from mini_accel import measure, measure_gpu
from mini_accel.edge_server import BatchModel
from mini_accel.measure import (
    NoisyMachineWarning,
    gemm_ops,
    gemm_sweep,
    measure_machine,
    measure_workloads,
    plausibility_problem,
    stream,
    summarize_gemm,
    summarize_stream,
    time_call,
    time_gemm,
)

SMALL = {"array_bytes": 4 * 2**20, "repeats": 3, "progress": False}


# --------------------------------------------------------------------------- #
# Summaries against a slow, obvious reference
# --------------------------------------------------------------------------- #
def _reference_peak(samples, ops_per_mac=2):
    best = None
    for s in samples:
        t = sorted(s["seconds"])
        med = t[len(t) // 2] if len(t) % 2 else (t[len(t) // 2 - 1] + t[len(t) // 2]) / 2
        rate = ops_per_mac * s["n"] ** 3 / med
        if best is None or rate > best[0] or (rate == best[0] and s["n"] < best[1]):
            best = (rate, s["n"])
    return best


times = st.lists(st.floats(1e-6, 10.0), min_size=1, max_size=7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4096), times), min_size=1, max_size=6))
def test_summarize_gemm_matches_a_brute_force_reference(rows):
    samples = [{"n": n, "seconds": s} for n, s in rows]
    got = summarize_gemm(samples)
    rate, n = _reference_peak(samples)
    assert got["peak_ops"] == pytest.approx(rate, rel=1e-12)
    assert got["best_n"] == n
    assert len(got["rates"]) == len(samples) and max(got["rates"]) == pytest.approx(rate, rel=1e-12)
    assert got["spread"] >= 0


def test_summarize_gemm_uses_the_median_and_breaks_ties_toward_the_smaller_size():
    # One slow outlier: the mean would give 2*64^3 / 4 ms; the median ignores it.
    s = summarize_gemm([{"n": 64, "seconds": [1e-3, 1e-3, 10e-3]}])
    assert s["peak_ops"] == pytest.approx(2 * 64**3 / 1e-3)
    # Equal rates at n = 10 and n = 20 (8x the work in 8x the time): the smaller size wins.
    tie = summarize_gemm([{"n": 20, "seconds": [8e-3]}, {"n": 10, "seconds": [1e-3]}])
    assert tie["best_n"] == 10
    assert summarize_gemm([{"n": 10, "seconds": [1e-3]}], "complex64")["peak_ops"] == pytest.approx(8e3 / 1e-3)


def test_summarize_stream_takes_the_best_kernel():
    s = summarize_stream([{"kernel": "copy", "bytes": 2e9, "seconds": [0.2, 0.3, 0.2]},
                          {"kernel": "triad", "bytes": 5e9, "seconds": [0.4, 0.4, 0.5]}])
    assert s["best_kernel"] == "triad" and s["bandwidth"] == pytest.approx(5e9 / 0.4)
    assert s["rates"]["copy"] == pytest.approx(1e10)


@pytest.mark.parametrize("bad, exc", [
    ([], ValueError), ([{"n": 8}], ValueError), ([{"n": 8, "seconds": []}], ValueError),
    ([{"n": 8, "seconds": [-1.0]}], ValueError), ([{"n": 0, "seconds": [1.0]}], ValueError),
    ([{"n": 8.5, "seconds": [1.0]}], TypeError),
])
def test_bad_samples_are_refused_with_a_message(bad, exc):
    with pytest.raises(exc):
        summarize_gemm(bad)


def test_argument_checks_name_the_argument():
    with pytest.raises(TypeError, match="fn"):
        time_call(3)
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="dtype"):
        gemm_ops(8, "float16")
    with pytest.raises(ValueError, match="n must be"):
        time_gemm(100_000)            # refused before allocating 80 GB
    assert gemm_ops(1000) == 2e9


def test_plausibility_bounds():
    assert plausibility_problem("float32", 2, 5e10, 1.5e10) is None
    assert "beyond" in plausibility_problem("float32", 2, 1e15)
    assert "beyond" in plausibility_problem("float64", 1, 1.5e12)
    assert "bandwidth" in plausibility_problem("float32", 2, 5e10, 5e13)
    assert "thread" in plausibility_problem("float32", 0, 5e10)


# --------------------------------------------------------------------------- #
# Real measurements on this machine: consistency, not speed
# --------------------------------------------------------------------------- #
def test_gemm_sweep_agrees_with_an_independent_timing_of_the_blas():
    samples = gemm_sweep(("float32",), [1], sizes=(32, 96), repeats=3)
    assert [(s["dtype"], s["threads"], s["n"]) for s in samples] == [("float32", 1, 32), ("float32", 1, 96)]
    summary = summarize_gemm([{"n": s["n"], "seconds": s["seconds"]} for s in samples], "float32")
    n = summary["best_n"]
    a, c = np.ones((n, n), np.float32), np.empty((n, n), np.float32)
    with threadpool_limits(limits=1, user_api="blas"):     # the sweep's setting
        best = min(time_call(lambda: np.matmul(a, a, out=c), repeats=5))
    direct = 2 * n**3 / best
    # Same BLAS, same size: the two rates agree within the noise of a shared machine.
    assert direct / 20 <= summary["peak_ops"] <= direct * 20
    assert plausibility_problem("float32", 1, summary["peak_ops"]) is None


def test_stream_counts_its_bytes_and_agrees_with_one_numpy_copy():
    rows = stream(array_bytes=4 * 2**20, repeats=3)
    copy, triad = rows
    assert copy["kernel"] == "copy" and triad["kernel"] == "triad"
    assert copy["bytes"] == 2 * 4 * 2**20 and triad["bytes"] == 5 * 4 * 2**20
    src, dst = np.ones(2**19), np.empty(2**19)
    best = min(time_call(lambda: np.copyto(dst, src), repeats=5))
    one_copy = 2 * src.nbytes / best
    assert summarize_stream([copy])["bandwidth"] <= one_copy * 20
    assert summarize_stream(rows)["bandwidth"] >= one_copy / 20


def test_machine_report_roofline_device_and_workload_points():
    report = measure_machine(0.3, dtypes=("float32",), threads=[1], **SMALL)
    roof = report.roofline("float32")
    assert roof.peak == pytest.approx(report.peak("float32"))
    assert roof.ridge == pytest.approx(report.peak("float32") / report.bandwidth)
    assert roof.precision == "fp32" and "measured" in roof.source
    dev = report.as_device()
    assert dev.peak("fp32") == pytest.approx(roof.peak) and dev.arch == "cpu"
    model = BatchModel.from_workload("mobilenet_v2", dev, precision="fp32", bytes_per_element=4)
    assert model.latency(1) > 0 and model.bandwidth == report.bandwidth
    assert "GFLOP/s" in report.summary()
    rows = measure_workloads(report, "float32", repeats=2)
    assert len(rows) == 5 and rows[-1]["name"].startswith("MLP")
    for r in rows:
        assert r["intensity"] == pytest.approx(r["ops"] / r["bytes"])
        assert r["attainable_ops"] == pytest.approx(min(roof.peak, r["intensity"] * roof.bandwidth))
        assert r["fraction_of_roof"] == pytest.approx(r["measured_ops"] / r["attainable_ops"])
        assert r["bound"] in ("memory", "compute")


def test_a_noisy_machine_is_reported(monkeypatch):
    calls = iter(range(10**6))

    def jittery(fn, *, repeats=5, warmup=1):
        fn()
        return [1e-3 * (1 + 3 * (next(calls) % 2)) for _ in range(repeats)]   # 1 ms, 4 ms, ...

    monkeypatch.setattr(measure, "time_call", jittery)
    with pytest.warns(NoisyMachineWarning, match="too noisy"):
        report = measure_machine(0.2, dtypes=("float64",), threads=[1], **SMALL)
    assert report.noisy and "too noisy" in report.summary()


def test_a_quiet_machine_is_not_flagged(monkeypatch):
    monkeypatch.setattr(measure, "time_call", lambda fn, *, repeats=5, warmup=1: [1e-3] * repeats)
    report = measure_machine(0.2, dtypes=("float64",), threads=[1], **SMALL)
    assert not report.noisy and report.notes == []


def test_gpu_section_is_skipped_cleanly_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    reason = measure.gpu_sweep()
    assert isinstance(reason, str) and reason.startswith("skipped")


# --------------------------------------------------------------------------- #
# The accelerator section, exercised on torch's CPU device
# --------------------------------------------------------------------------- #
try:
    import torch
except ImportError:                 # the optional extra is missing
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


@needs_torch
def test_the_torch_loop_times_every_dtype_and_synchronizes_every_call():
    calls = []
    r = measure.torch_gemm_sweep(torch.device("cpu"), lambda: calls.append(1), sizes=(8, 16),
                                 repeats=3, warmup=1)
    assert len(calls) == 3 * 2 * (1 + 3)             # dtypes x sizes x (warm-up + repeats)
    assert [(s["dtype"], s["n"]) for s in r["samples"]] == [(d, n) for d in measure.TORCH_DTYPES for n in (8, 16)]
    for s in r["samples"]:
        assert s["result_dtype"] == f"torch.{s['dtype']}" and len(s["seconds"]) == 3
    for d in measure.TORCH_DTYPES:                   # the peak is summarize_gemm's over that dtype's sizes
        own = [s for s in r["samples"] if s["dtype"] == d]
        assert r["peak_ops"][d] == measure.summarize_gemm(own, "float32")["peak_ops"]
    assert r["tensor_core_speedup"] == r["peak_ops"]["float16"] / r["peak_ops"]["float32"]
    assert r["device"] == "cpu"


@needs_torch
def test_the_torch_loop_takes_medians_and_spreads_and_the_speedup_from_them(monkeypatch):
    times = {"float32": [4e-3, 2e-3, 2e-3, 2e-3], "float16": [1e-3, 1e-3, 3e-3, 1e-3]}
    order = iter(["float32", "float16"])
    monkeypatch.setattr(measure_gpu, "time_call", lambda fn, *, repeats, warmup: times[next(order)])
    r = measure.torch_gemm_sweep(torch.device("cpu"), lambda: None, sizes=(10,), dtypes=("float32", "float16"),
                                 repeats=4)
    # median 2 ms and 1 ms for 2 * 10^3 operations; spread = IQR / median = 0.5 ms / 2 ms and 0.5 ms / 1 ms
    assert r["peak_ops"] == {"float32": pytest.approx(1e6), "float16": pytest.approx(2e6)}
    assert r["spread"] == {"float32": pytest.approx(0.25), "float16": pytest.approx(0.5)}
    assert r["tensor_core_speedup"] == pytest.approx(2.0)


@needs_torch
def test_a_dtype_the_device_cannot_use_leaves_an_error_and_no_peak(monkeypatch):
    real = torch.randn

    def randn(*shape, dtype=None, **kw):
        if dtype == torch.float16:
            raise RuntimeError("float16 not supported here")
        return real(*shape, dtype=dtype, **kw)
    monkeypatch.setattr(torch, "randn", randn)
    r = measure.torch_gemm_sweep(torch.device("cpu"), lambda: None, sizes=(8, 16), repeats=1)
    errors = [s for s in r["samples"] if "error" in s]
    assert [(s["dtype"], s["n"]) for s in errors] == [("float16", 8)]     # the larger size is not tried
    assert set(r["peak_ops"]) == {"float32", "bfloat16"} and math.isnan(r["tensor_core_speedup"])


@needs_torch
def test_the_gpu_section_skips_cleanly_without_a_gpu_and_uses_one_when_found(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert measure.gpu_sweep() == "skipped: torch finds no CUDA or MPS GPU on this machine"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    dev, sync = measure.torch_accelerator()
    assert str(dev) == "cuda" and sync is torch.cuda.synchronize
    monkeypatch.setattr(measure_gpu, "torch_accelerator", lambda: (torch.device("cpu"), lambda: None))
    r = measure.gpu_sweep(sizes=(8,), dtypes=("float32",), repeats=1)
    assert r["device"] == "cpu" and set(r["peak_ops"]) == {"float32"}


@needs_torch
def test_the_torch_loop_rejects_bad_arguments_before_allocating():
    cpu = torch.device("cpu")
    for kwargs, err, msg in [({"dtypes": ("int8",)}, ValueError, "dtypes"),
                             ({"dtypes": "float32"}, ValueError, "dtypes"), ({"sizes": ()}, ValueError, "sizes"),
                             ({"sizes": (0,)}, ValueError, "sizes"), ({"repeats": 0}, ValueError, "repeats")]:
        with pytest.raises(err, match=msg):
            measure.torch_gemm_sweep(cpu, lambda: None, **{"sizes": (8,), **kwargs})
    with pytest.raises(TypeError, match="synchronize"):
        measure.torch_gemm_sweep(cpu, None, sizes=(8,))


def test_the_sweep_starts_no_size_after_its_budget_is_used():
    # Not a speed assertion: a larger size is only started while the budget lasts.
    samples = gemm_sweep(("float64",), [1], repeats=2, budget_s=0.2, max_n=4096)
    before_last = sum(sum(s["seconds"]) for s in samples[:-1])
    assert before_last <= 0.2
    assert [s["n"] for s in samples] == [64 * 2**i for i in range(len(samples))]


# --------------------------------------------------------------------------- #
# measurement_problems: accepts an honest record, rejects made-up ones
# --------------------------------------------------------------------------- #
def _honest_record(dtype="float32"):
    from mini_accel.measure import blas_info, summarize_gemm, summarize_stream
    gemm = [{"n": n, "seconds": time_gemm(n, dtype, repeats=3)} for n in (32, 64, 128)]
    mem = stream(array_bytes=16 * 2**20, repeats=3)
    peak = summarize_gemm(gemm, dtype)["peak_ops"]
    bw = summarize_stream(mem)["bandwidth"]
    M, K, N = 8, 256, 512
    a, b = np.ones((M, K), dtype), np.ones((K, N), dtype)
    secs = time_call(lambda: a @ b, repeats=3)
    ops = 2.0 * M * K * N
    item = np.dtype(dtype).itemsize
    return {"dtype": dtype, "threads": int(blas_info().get("num_threads") or 1), "gemm": gemm,
            "stream": mem, "peak_ops": peak, "bandwidth": bw, "ridge": peak / bw,
            "layer": {"M": M, "K": K, "N": N, "seconds": secs},
            "layer_measured_ops": ops / float(np.median(secs)),
            "layer_predicted_ops": min(peak, ops / ((M * K + K * N + M * N) * item) * bw)}


def test_an_honest_measurement_passes_and_made_up_ones_do_not():
    from mini_accel.measure import measurement_problems
    rec = _honest_record()
    assert measurement_problems(rec) == []
    bad = [
        ({"peak_ops": rec["peak_ops"] * 2}, "peak_ops does not follow"),
        ({"ridge": rec["ridge"] * 1.01}, "ridge does not follow"),
        ({"gemm": [{"n": s["n"], "seconds": [0.001] * 3} for s in rec["gemm"]]}, "identical"),
        ({"gemm": rec["gemm"][:2]}, "3 different sizes"),
        ({"gemm": [{"n": 4096, "seconds": [1e-6, 2e-6, 3e-6]}, *rec["gemm"]]}, "beyond what any CPU"),
        ({"stream": [{**rec["stream"][0], "bytes": 1024}]}, "may fit a cache"),
        ({"layer_measured_ops": 1e9}, "layer_measured_ops"),
        ({"threads": 0}, "threads"),
        ({"dtype": "int8"}, "dtype"),
    ]
    for change, message in bad:
        problems = measurement_problems({**rec, **change})
        assert problems and message in " ".join(problems), (change, problems)
    # A consistent but impossible machine: 1 PFLOP/s from sizes and times made to agree.
    fake = {**rec, "gemm": [{"n": n, "seconds": [2 * n**3 / 1e15 * f for f in (1.0, 1.1, 1.2)]}
                            for n in (1024, 2048, 4096)]}
    assert any("beyond" in p for p in measurement_problems(fake))
    assert "missing the keys" in measurement_problems({})[0]
    assert "dict" in measurement_problems([1, 2])[0]
