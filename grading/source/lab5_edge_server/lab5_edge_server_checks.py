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
    # Exact arithmetic (powers of two): latency(b) = b / 2, so a deadline of 3 s is met exactly by
    # batch 6. "At most the deadline" includes equality: a search with < instead of <= returns 5.
    out.append((BatchModel("exact", ops_per_item=2.0, weight_bytes=0.0, peak_ops=4.0, bandwidth=1.0), 3.0))
    # A tiny model on a huge chip: the answer is 1e8 to 3e8 batches. One batch after another
    # (about a microsecond each) would run for minutes; the grader stops a cell after 30 s.
    tiny = BatchModel("tiny", ops_per_item=2e3, weight_bytes=1e6, peak_ops=1e15, bandwidth=1e12)
    big = int(rng.integers(100_000_000, 300_000_000))
    out.append((tiny, (tiny.latency(big) + tiny.latency(big + 1)) / 2))
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
    if model.latency(b + 1) <= deadline * (1 - 1e-9) or model.latency(b + 1) == deadline:
        return f"{where} is too small: a larger batch still meets the deadline (equal counts as meeting it)"
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


# --------------------------------------------------------------------------- #
# Task 7: your own machine on the roofline
# --------------------------------------------------------------------------- #
_MEASURE_ANSWERS = ("mini_accel.measure.summarize_gemm", "mini_accel.measure.MachineReport.peak",
                    "mini_accel.measure.measurement_problems")


def _peak_inputs(rng):
    def times(med, k=5, jitter=0.05):
        return [float(med * (1 + jitter * rng.uniform(-1, 1))) for _ in range(k)]
    out = [
        # one slow outlier: the mean would pick another size than the median does
        ([{"n": 128, "seconds": [1.0e-4, 1.0e-4, 1.0e-4, 9.0e-4, 1.0e-4]},
          {"n": 256, "seconds": [1.2e-3, 1.2e-3, 1.2e-3, 1.2e-3, 1.2e-3]}],),
        # an even number of repeats: the median is the mean of the two middle times
        ([{"n": 100, "seconds": [1e-3, 4e-3, 2e-3, 3e-3]}, {"n": 50, "seconds": [1e-3, 1e-3, 1e-3, 1e-3]}],),
        # a lucky fast repeat: best-of (the minimum) picks n = 64, the median n = 32
        ([{"n": 32, "seconds": [1e-5, 1e-5, 1e-5]}, {"n": 64, "seconds": [1e-5, 9e-5, 9e-5]}],),
        # a tie (8x the work in 8x the time): the smaller size wins
        ([{"n": 200, "seconds": [8e-3, 8e-3, 8e-3]}, {"n": 100, "seconds": [1e-3, 1e-3, 1e-3]}],),
        ([{"n": 512, "seconds": [0.02, 0.03, 0.025]}],),
    ]
    for _ in range(4):
        sizes = sorted(rng.choice([64, 96, 128, 192, 256, 384, 512, 768, 1024], size=int(rng.integers(2, 6)),
                                  replace=False).tolist())
        rate = _log_uniform(rng, 1e9, 1e12)
        out.append(([{"n": int(n), "seconds": times(2 * n**3 / (rate * float(rng.uniform(0.3, 1.0))),
                                                      k=int(rng.integers(3, 8)))} for n in sizes],))
    return out


def _median(values):
    v = sorted(float(x) for x in values)
    k = len(v) // 2
    return v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2


def _peak_check(args, got):
    (samples,) = args
    where = f"gemm_peak(<{len(samples)} sizes: {[s['n'] for s in samples]}>)"
    if not isinstance(got, dict) or not {"peak_ops", "best_n"} <= set(got):
        return f"{where} should return a dict with the keys 'peak_ops' and 'best_n'"
    if not is_number(got["peak_ops"]) or not is_int(got["best_n"]):
        return f"{where}: 'peak_ops' should be a number and 'best_n' an int"
    rates = [(2.0 * s["n"] ** 3 / _median(s["seconds"]), -s["n"]) for s in samples]
    best_rate, neg_n = max(rates)
    if int(got["best_n"]) != -neg_n:
        if abs(max(r for r, _ in rates) - min(r for r, _ in rates)) < 1e-12 * best_rate:
            return f"{where}: two sizes tie; the rule says which one to report"
        return f"{where}: best_n is not the size with the highest rate (rate from the median time)"
    if not close(got["peak_ops"], best_rate):
        if close(got["peak_ops"], best_rate / 2):
            return f"{where}: peak_ops is off by a factor 2 (one multiply-accumulate is two operations)"
        return f"{where}: peak_ops is wrong (operations of an n x n GEMM over its median time)"
    return None


def _machine_check(_, got):
    from mini_accel.measure import measurement_problems
    problems = measurement_problems(got)
    return f"MY_MACHINE: {problems[0]}" if problems else None


# --------------------------------------------------------------------------- #
# Task 8: the cheapest cloud instance for a service
# --------------------------------------------------------------------------- #
_CLOUD_ANSWERS = ("mini_accel.cloud.usd_per_million", "mini_accel.cloud.serve", "mini_accel.cloud.cheapest",
                  "mini_accel.cloud.compare_instances")


def _instance(name, price, accels, peak, bw, status="S"):
    return {"name": name, "usd_per_hour": price, "status": status, "accelerators": accels,
            "peak_ops": peak, "bandwidth": bw}


def _service(ops, weights, deadline, util, act=0.0):
    return {"ops_per_item": ops, "weight_bytes": weights, "activation_bytes": act, "deadline_s": deadline,
            "utilization": util}


def _cloud_inputs(rng):
    mlp0 = _service(4e7, 2e7, 7e-3, 0.3)
    out = [
        # a FLAG row that would be cheapest, and a row without a price: both skipped
        ([_instance("flagged", 0.5, 8, 1e15, 3e12, "FLAG"), _instance("unpriced", None, 8, 1e15, 3e12),
          _instance("gpu8", 32.0, 8, 312e12, 2039e9), _instance("asic16", 21.5, 16, 190e12, 880e9)], mlp0),
        # per accelerator the 1-chip box is cheaper; the 8-chip box is cheaper per instance-hour per chip
        # only when its count is used: forgetting the count picks the wrong one
        ([_instance("one", 2.0, 1, 200e12, 1e12), _instance("eight", 12.0, 8, 200e12, 1e12)], mlp0),
        # exact ties: 1 chip at $2/h and 2 chips at $4/h cost the same; fewer accelerators win,
        # then the alphabetically first name
        ([_instance("pair", 4.0, 2, 100e12, 1e12), _instance("zeta", 2.0, 1, 100e12, 1e12),
          _instance("alpha", 2.0, 1, 100e12, 1e12)], _service(1e9, 1e8, 0.05, 0.5)),
        # batch 1 misses the deadline on the slow-memory box (0.1 s for its weights): skipped
        ([_instance("slowmem", 0.1, 1, 1e15, 1e9), _instance("ok", 9.0, 4, 1e14, 2e12)],
         _service(1e8, 1e8, 0.02, 1.0, act=1e5)),
        # nothing meets the deadline: None
        ([_instance("a", 1.0, 1, 1e12, 1e10), _instance("b", 3.0, 8, 1e12, 1e10)], _service(1e9, 1e9, 1e-3, 0.5)),
        # a tiny model on a huge chip: a batch of 1e8 within 0.2 ms (Task 4's fast search is needed)
        ([_instance("huge", 10.0, 2, 1e15, 1e12), _instance("small", 1.0, 1, 1e13, 1e11)],
         _service(2e3, 1e6, 2e-4 + 1e-12, 0.5)),
    ]
    for _ in range(4):
        insts = []
        for k in range(int(rng.integers(2, 7))):
            status = "FLAG" if rng.random() < 0.15 else str(rng.choice(["P", "S"]))
            insts.append(_instance(f"inst{k}{'abc'[k % 3]}", round(_log_uniform(rng, 0.5, 100.0), 4),
                                   int(rng.choice([1, 2, 4, 8, 16])), _log_uniform(rng, 5e12, 2e15),
                                   _log_uniform(rng, 5e10, 4e12), status))
        out.append((insts, _service(_log_uniform(rng, 1e6, 1e11), _log_uniform(rng, 1e6, 5e9),
                                    _log_uniform(rng, 1e-3, 0.2), float(rng.uniform(0.05, 1.0)),
                                    act=0.0 if rng.random() < 0.5 else _log_uniform(rng, 1e3, 1e7))))
    return out


def _cloud_reference(instances, service):
    from mini_accel.edge_server import BatchModel
    costs = []
    for inst in instances:
        if inst["status"] == "FLAG" or inst["usd_per_hour"] is None:
            continue
        m = BatchModel(inst["name"], ops_per_item=service["ops_per_item"], weight_bytes=service["weight_bytes"],
                       peak_ops=inst["peak_ops"], bandwidth=inst["bandwidth"],
                       activation_bytes=service["activation_bytes"])
        b = m.max_batch(service["deadline_s"])
        if b == 0:
            continue
        items = inst["accelerators"] * b / m.latency(b)
        costs.append((inst["usd_per_hour"] / (items * service["utilization"] * 3600.0) * 1e6,
                      inst["accelerators"], inst["name"]))
    if not costs:
        return None
    low = min(c for c, _, _ in costs)
    tied = [c for c in costs if c[0] <= low * (1 + 1e-9)]
    return min(tied, key=lambda c: (c[1], c[2]))


def _cloud_check(args, got):
    instances, service = args
    where = f"cheapest_instance(<{len(instances)} instances: {[i['name'] for i in instances]}>, service)"
    want = _cloud_reference(instances, service)
    if want is None:
        return None if got is None else f"{where}: no instance can serve this (return None)"
    if got is None:
        return f"{where}: an instance can serve this, but you returned None"
    if not isinstance(got, (tuple, list)) or len(got) != 2 or type(got[0]) is not str or not is_number(got[1]):
        return f"{where} should return a pair (name, usd_per_million) or None"
    name, cost = got
    by_name = {i["name"]: i for i in instances}
    if name != want[2]:
        if name in by_name and (by_name[name]["status"] == "FLAG" or by_name[name]["usd_per_hour"] is None):
            return f"{where}: {name} has no sourced price (FLAG or None): skip it"
        if close(cost, want[0], rtol=1e-9):
            return f"{where}: several instances cost the same; apply the tie rule"
        return f"{where}: {name!r} is not the cheapest instance that meets the deadline"
    if not close(cost, want[0], rtol=1e-9):
        if close(cost, want[0] * service["utilization"], rtol=1e-9):
            return f"{where}: the cost should count the idle hours too (utilization)"
        return f"{where}: the right instance, but its USD per million is wrong"
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
    "gemm_peak": Case(_peak_inputs, _peak_check, blocked=_MEASURE_ANSWERS, what="gemm_peak"),
    "my_machine": Case(None, _machine_check, what="MY_MACHINE"),
    "cheapest_instance": Case(_cloud_inputs, _cloud_check, blocked=_CLOUD_ANSWERS + _BATCH_ANSWERS,
                              what="cheapest_instance"),
}
