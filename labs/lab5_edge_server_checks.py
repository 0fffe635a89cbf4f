"""Hidden checks of Lab 5 (edge vs server).

Each entry of ``CASES`` draws random inputs and says what is wrong with a
result, without giving the answer away. The notebook's hidden tests call
``seal(name, student_object)``; the grader re-runs the same check in its own
process (see ``labcheck.py`` and ``grading/sealed.py``). References come from
``mini_accel`` (roofline, edge_server) or from a few lines of arithmetic
written here, never from the student's code.
"""
from __future__ import annotations

import dataclasses
import math

from labcheck import Case, close, is_int, is_number
from labcheck import seal as _seal

_RL = "mini_accel.roofline"
_ES = "mini_accel.edge_server"
#: Library code that evaluates a roofline: off while the student's roofline runs.
_ROOFLINE_ANSWERS = (
    f"{_RL}.attainable", f"{_RL}.ridge_point", f"{_RL}.Roofline.attainable", f"{_RL}.Roofline.bound",
    f"{_RL}.Roofline.ridge", f"{_RL}.Roofline.time", f"{_RL}.tpu_paper_points",
    f"{_RL}.tpu_paper_ridge_points",
)
#: BatchModel's own answers: latency, throughput, the deadline search, energy.
_BATCH_ANSWERS = (
    f"{_ES}.BatchModel.latency", f"{_ES}.BatchModel.compute_time", f"{_ES}.BatchModel.memory_time",
    f"{_ES}.BatchModel.throughput", f"{_ES}.BatchModel.curve", f"{_ES}.BatchModel.max_batch",
    f"{_ES}.BatchModel.energy_per_inference", f"{_ES}.BatchModel.bound",
    f"{_ES}.BatchModel.balanced_batch", f"{_ES}.energy_per_inference", f"{_ES}.compare_targets",
)
#: The cost-of-ownership calculator and every number it derives.
_TCO_ANSWERS = (
    f"{_ES}.total_cost_of_ownership", f"{_ES}.TCO.cost_per_inference", f"{_ES}.TCO.usd_per_year",
    f"{_ES}.TCO.total_usd", f"{_ES}.TCO.energy_usd_per_year", f"{_ES}.TCO.capex_usd_per_year",
    f"{_ES}.TCO.energy_kwh_per_year", f"{_ES}.TCO.average_power_w", f"{_ES}.TCO.energy_share",
)
HOURS_PER_YEAR = 365.25 * 24


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


def _log_uniform(rng, lo, hi):
    return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))


# --------------------------------------------------------------------------- #
# Task 1: the roofline
# --------------------------------------------------------------------------- #
def _roofline_inputs(rng):
    # Exact cases (integers: no rounding at the ridge), then random devices and intensities
    # on both sides of their ridges.
    out = [(25.0, 100.0, 4.0), (1.0, 100.0, 4.0), (1000.0, 100.0, 4.0), (2.0, 624e12, 2039e9)]
    for _ in range(8):
        peak = _log_uniform(rng, 1e11, 3e15)
        bw = _log_uniform(rng, 1e9, 5e12)
        ridge = peak / bw
        out.append((ridge * float(rng.uniform(0.01, 0.95)) if rng.random() < 0.5
                    else ridge * float(rng.uniform(1.05, 100.0)), peak, bw))
    return out


def _roofline_check(args, got):
    intensity, peak, bw = args
    where = f"roofline(intensity={intensity:.4g}, peak_ops={peak:.4g}, bandwidth={bw:.4g})"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"{where} should return a pair (attainable, bound)"
    attainable, bound = got
    want = min(peak, intensity * bw)
    if not is_number(attainable):
        return f"{where}: the attainable throughput should be a number, got {type(attainable).__name__}"
    if not close(attainable, want, rtol=1e-9):
        if close(attainable, want / 1e12, rtol=1e-9):
            return f"{where}: the attainable throughput should be in ops/s, not tera-ops/s"
        side = "below its ridge" if intensity * bw < peak else "above its ridge"
        return f"{where}: the attainable throughput is wrong for an intensity {side}"
    want_bound = "memory" if intensity < peak / bw else "compute"
    if type(bound) is not str or bound not in ("memory", "compute"):
        return f"{where}: bound should be the plain str 'memory' or 'compute', got {bound!r}"
    if bound != want_bound:
        return f"{where}: the bound is wrong (compare the intensity with the ridge point)"
    return None


# --------------------------------------------------------------------------- #
# Task 2: the TPU paper's six apps on its roofline
# --------------------------------------------------------------------------- #
def _apps_inputs(rng):
    from mini_accel.workloads import tpu_v1_apps
    apps = tpu_v1_apps()
    out = [(apps, 92e12, 34e9), (apps, 91.75e12, 34e9)]
    for _ in range(3):
        chosen = [apps[int(i)] for i in rng.permutation(len(apps))[:int(rng.integers(1, 7))]]
        renamed = [dataclasses.replace(a, name=f"APP{k}",
                                       ops_per_weight_byte=round(_log_uniform(rng, 1.0, 1e5), 1))
                   for k, a in enumerate(chosen)]
        out.append((renamed, _log_uniform(rng, 1e12, 1e15), _log_uniform(rng, 1e10, 3e12)))
    return out


def _apps_check(args, got):
    apps, peak, bw = args
    where = f"place_apps(..., peak_ops={peak:.4g}, bandwidth={bw:.4g})"
    if not isinstance(got, (list, tuple)) or len(got) != len(apps):
        return f"{where} should return a list with one dict per app ({len(apps)} here)"
    for app, row in zip(apps, got):
        if not isinstance(row, dict):
            return f"{where}: each entry should be a dict, got {type(row).__name__}"
        missing = {"app", "ops_per_byte", "attainable_tops", "bound"} - set(row)
        if missing:
            return f"{where}: the entry of {app.name} is missing the keys {sorted(missing)}"
        if type(row["app"]) is not str or type(row["bound"]) is not str:
            return f"{where}: 'app' and 'bound' should be plain strings"
        if row["app"] != app.name:
            return f"{where}: the entries should follow the order of the apps (app names differ)"
        ops_per_byte = 2.0 * app.macs_per_weight_byte
        if not close(row["ops_per_byte"], ops_per_byte):
            if close(row["ops_per_byte"], app.macs_per_weight_byte):
                return (f"{where}: ops_per_byte of {app.name} is off by a factor: Table 1 counts "
                        "multiply-accumulates per weight byte, and one MAC is two operations")
            return f"{where}: ops_per_byte of {app.name} is wrong"
        tops = min(peak, ops_per_byte * bw) / 1e12
        if not close(row["attainable_tops"], tops):
            if close(row["attainable_tops"], tops * 1e12):
                return f"{where}: attainable_tops of {app.name} should be in tera-ops/s (1e12)"
            return f"{where}: attainable_tops of {app.name} is wrong"
        bound = "memory" if ops_per_byte < peak / bw else "compute"
        if row["bound"] != bound:
            return f"{where}: the bound of {app.name} is wrong"
    return None


def _ridge_check(_, got):
    if not is_number(got):
        return f"TPU_RIDGE_MACS_PER_BYTE should be a number, got {type(got).__name__}"
    want = 92e12 / (2 * 34e9)           # Table 2: 92 TOPS, 34 GB/s; one MAC = 2 ops
    if abs(float(got) - want) > 0.005 * want:
        if abs(float(got) - 2 * want) <= 0.005 * 2 * want:
            return "TPU_RIDGE_MACS_PER_BYTE is in operations per byte: the paper's axis counts MACs"
        return "TPU_RIDGE_MACS_PER_BYTE does not match the TPU v1's peak and memory bandwidth"
    return None


# --------------------------------------------------------------------------- #
# Tasks 3-5: the batch model, the deadline, energy per inference
# --------------------------------------------------------------------------- #
def _random_model(rng, *, power=False, bare=False):
    from mini_accel.edge_server import BatchModel
    kwargs = {}
    if not bare:
        if rng.random() < 0.6:
            kwargs["activation_bytes"] = _log_uniform(rng, 1e3, 1e7)
        if rng.random() < 0.6:
            kwargs["efficiency"] = float(rng.uniform(0.05, 1.0))
        if rng.random() < 0.5:
            kwargs["overhead_s"] = _log_uniform(rng, 1e-6, 2e-3)
    if power:
        kwargs["power_w"] = _log_uniform(rng, 0.5, 800.0)
    return BatchModel("hidden", ops_per_item=_log_uniform(rng, 1e6, 5e10),
                      weight_bytes=0.0 if rng.random() < 0.1 else _log_uniform(rng, 1e5, 5e9),
                      peak_ops=_log_uniform(rng, 1e12, 2e15), bandwidth=_log_uniform(rng, 1e10, 4e12),
                      **kwargs)


def _latency_inputs(rng):
    from mini_accel.edge_server import BatchModel
    mlp0 = BatchModel("MLP0", ops_per_item=2 * 20e6, weight_bytes=20e6, peak_ops=92e12, bandwidth=34e9)
    out = [(mlp0, 1), (mlp0, 200), (mlp0, 100_000)]
    for i in range(10):
        out.append((_random_model(rng, bare=i < 2), int(rng.integers(1, 5000)) if i % 2 else 1))
    return out


def _latency_check(args, got):
    model, batch = args
    where = f"batch_latency(model, batch={batch})"
    if not is_number(got):
        return f"{where} should return a number of seconds, got {type(got).__name__}"
    want = model.latency(batch)
    if not close(got, want, rtol=1e-9):
        parts = []
        if model.overhead_s:
            parts.append("the fixed overhead")
        if model.efficiency != 1.0:
            parts.append("the efficiency")
        if model.activation_bytes:
            parts.append("the activation bytes")
        hint = f" (this model has {', '.join(parts)})" if parts else ""
        return f"{where} is wrong{hint}"
    return None


def _deadline_inputs(rng):
    from mini_accel.edge_server import BatchModel
    mlp0 = BatchModel("MLP0", ops_per_item=2 * 20e6, weight_bytes=20e6, peak_ops=92e12, bandwidth=34e9)
    out = [(mlp0, 7e-3), (mlp0, 1e-4)]           # 16,100 (see the module docstring), then 0
    while len(out) < 10:
        model = _random_model(rng)
        target = int(rng.integers(1, 40_000)) if len(out) % 3 else int(rng.integers(1, 50))
        lo, hi = model.latency(target), model.latency(target + 1)
        if hi <= lo * (1 + 1e-6):               # a flat stretch: no clear answer, draw again
            continue
        out.append((model, (lo + hi) / 2))
    return out


def _deadline_check(args, got):
    model, deadline = args
    where = f"max_batch_within(model, deadline_s={deadline:.4g})"
    if not is_int(got):
        return f"{where} should return an int, got {type(got).__name__}"
    b = int(got)
    if model.latency(1) > deadline:
        return None if b == 0 else f"{where}: even batch 1 misses this deadline (return 0)"
    if b < 1:
        return f"{where}: batch 1 meets this deadline, so the answer is at least 1"
    if model.latency(b) > deadline * (1 + 1e-9):
        return f"{where} is too large: that batch misses the deadline"
    if model.latency(b + 1) <= deadline * (1 - 1e-9):
        return f"{where} is too small: a larger batch still meets the deadline"
    return None


def _energy_inputs(rng):
    from mini_accel.edge_server import BatchModel
    mlp0 = BatchModel("MLP0", ops_per_item=2 * 20e6, weight_bytes=20e6, peak_ops=92e12, bandwidth=34e9,
                      power_w=40.0)
    out = [(mlp0, 1), (mlp0, 200)]
    for i in range(8):
        out.append((_random_model(rng, power=True), int(rng.integers(1, 3000)) if i % 2 else 1))
    return out


def _energy_check(args, got):
    model, batch = args
    where = f"energy_per_inference(model, batch={batch})"
    if not is_number(got):
        return f"{where} should return a number of joules, got {type(got).__name__}"
    want = model.power_w * model.latency(batch) / batch
    if not close(got, want, rtol=1e-9):
        if batch > 1 and close(got, want * batch, rtol=1e-9):
            return f"{where} is the energy of the whole batch: divide it among its inferences"
        return f"{where} is wrong"
    return None


def _kwh_inputs(rng):
    return [(0.002,), (2.907,), (1.0,)] + [(_log_uniform(rng, 1e-4, 20.0),) for _ in range(5)]


def _kwh_check(args, got):
    (kwh,) = args
    where = f"kwh_per_1000_to_joules({kwh:.4g})"
    if not is_number(got):
        return f"{where} should return a number, got {type(got).__name__}"
    want = kwh * 3.6e6 / 1000
    if not close(got, want, rtol=1e-9):
        if close(got, kwh * 3.6e6, rtol=1e-9):
            return f"{where}: that is the energy of 1,000 inferences, not of one"
        if close(got, kwh * 1000, rtol=1e-9) or close(got, kwh, rtol=1e-9):
            return f"{where}: convert kWh to joules (how many joules is one watt for one hour?)"
        return f"{where} is wrong"
    return None


# --------------------------------------------------------------------------- #
# Task 6: cost of ownership per million inferences
# --------------------------------------------------------------------------- #
def _tco_inputs(rng):
    out = [(5000.0, 300.0, 2 * 13_461.0, 5, 1.57, 0.0806, 0.3), (0.0, 40.0, 225_000.0, 3, 1.1, 0.1, 1.0),
           (249.0, 25.0, 30.0, 5, 1.0, 0.0, 0.5)]
    for _ in range(6):
        out.append((float(rng.integers(0, 40_000)), _log_uniform(rng, 1.0, 1000.0),
                    _log_uniform(rng, 1.0, 1e7), int(rng.integers(1, 11)), float(rng.uniform(1.0, 2.5)),
                    float(rng.uniform(0.0, 0.3)), float(rng.uniform(0.05, 1.0))))
    return out


def _tco_reference(purchase, power, ips, years, pue, price, util, hours=HOURS_PER_YEAR):
    """USD per million inferences, the device at full power all year (idle_power_fraction=1)."""
    yearly = purchase / years + power * pue * hours / 1000.0 * price
    return yearly / (ips * util * hours * 3600.0) * 1e6


def _tco_check(args, got):
    purchase, power, ips, years, pue, price, util = args
    where = (f"usd_per_million(purchase_usd={purchase:g}, power_w={power:.4g}, throughput_ips={ips:.4g}, "
             f"years={years}, pue={pue:.3g}, usd_per_kwh={price:.3g}, utilization={util:.3g})")
    if not is_number(got):
        return f"{where} should return a number, got {type(got).__name__}"
    want = _tco_reference(*args)
    if not close(got, want, rtol=1e-9):
        if close(got, _tco_reference(*args, hours=365 * 24), rtol=1e-9):
            return f"{where}: a year here has 365.25 days"
        if close(got, want * util, rtol=1e-9):
            return f"{where}: the device serves inferences only a `utilization` share of the time"
        if close(got, want / 1e6, rtol=1e-9):
            return f"{where}: that is per inference, not per million"
        energy_only = power * pue * HOURS_PER_YEAR / 1000.0 * price / (ips * util * HOURS_PER_YEAR * 3600.0) * 1e6
        if purchase > 0 and close(got, energy_only, rtol=1e-9):
            return f"{where}: the purchase price is missing"
        return f"{where} is wrong"
    return None


CASES = {
    "roofline": Case(_roofline_inputs, _roofline_check, blocked=_ROOFLINE_ANSWERS, what="roofline"),
    "place_apps": Case(_apps_inputs, _apps_check, blocked=_ROOFLINE_ANSWERS, what="place_apps"),
    "tpu_ridge": Case(None, _ridge_check, what="TPU_RIDGE_MACS_PER_BYTE"),
    "batch_latency": Case(_latency_inputs, _latency_check, blocked=_BATCH_ANSWERS, what="batch_latency"),
    "max_batch_within": Case(_deadline_inputs, _deadline_check, blocked=_BATCH_ANSWERS,
                             what="max_batch_within"),
    "energy_per_inference": Case(_energy_inputs, _energy_check, blocked=_BATCH_ANSWERS,
                                 what="energy_per_inference"),
    "kwh_per_1000_to_joules": Case(_kwh_inputs, _kwh_check, what="kwh_per_1000_to_joules"),
    "usd_per_million": Case(_tco_inputs, _tco_check, blocked=_TCO_ANSWERS, what="usd_per_million"),
}
