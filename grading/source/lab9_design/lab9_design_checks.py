"""Hidden checks of Lab 9 (design challenge).

Each entry of ``CASES`` draws random inputs and says what is wrong with a
result, without giving the answer away. The notebook's hidden tests call
``seal(name, student_object)``; the grader re-runs the same check in its own
process (see ``labcheck.py`` and ``grading/sealed.py``). References come from
``mini_accel`` (design, analog) or from a few lines of numpy written here,
never from the student's code.

The two designs are *values*: the hidden cells send their parameters
(``dict(vars(EDGE_DESIGN))``, plain data) to the grader, which rebuilds each
design with ``mini_accel.design.Design``, checks the challenge's rules, runs
the track's network on it and compares it with the track's reference design,
all in its own process (``_judge``). ``tests/test_capstone_grid.py`` checks
that no single change of a reference design in ``DESIGN_GRID`` passes
``_judge`` and that the local search the lab teaches does.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from labcheck import Case, array_problem, close, is_int, is_number
from labcheck import seal as _seal

_DS = "mini_accel.design"
_AN = "mini_accel.analog"
#: Library code that computes a design's area.
_AREA_ANSWERS = (f"{_DS}.Design.area_mm2", f"{_DS}.Design.area_breakdown", f"{_DS}.Design.describe",
                 f"{_DS}.Evaluation.area_mm2")
#: The analog array itself (its ADC rounding and its noise).
_ANALOG_ANSWERS = (f"{_AN}.analog_matmul", f"{_AN}.analog_forward", f"{_AN}.analog_accuracy",
                   f"{_AN}._quantize", f"{_AN}._program")

#: The challenge's rules, as the notebook states them: the track's DRAM, a fixed clock,
#: the figure of merit against the track's reference design, and the target ratio.
CHALLENGES = {
    "edge": {"variable": "EDGE_DESIGN", "clock_hz": 700e6, "dram_bandwidth": 68e9,
             "metric": "energy_gain", "target": 2.0, "what": "energy per inference"},
    "server": {"variable": "SERVER_DESIGN", "clock_hz": 700e6, "dram_bandwidth": 34e9,
               "metric": "tco_gain", "target": 1.25, "what": "cost of ownership per inference"},
}


def _design_fields(design) -> dict:
    return {name: getattr(design, name) for name in design.__dataclass_fields__}


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value).

    A :class:`mini_accel.design.Design` travels to the grader as its
    parameters (a dict of plain values), never as an object.
    """
    from mini_accel.design import Design
    if isinstance(target, Design):
        target = _design_fields(target)
    _seal(CASES, name, target)


def _log_uniform(rng, lo, hi):
    return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))


# --------------------------------------------------------------------------- #
# Task 1: the area of a design
# --------------------------------------------------------------------------- #
def _area_parts(rows, cols, precision, buffer_bytes):
    from mini_accel.design import mac_cost, sram_um2_per_bit
    return rows * cols * mac_cost(precision).area_um2 / 1e6, buffer_bytes * 8 * sram_um2_per_bit() / 1e6


def _area_inputs(rng):
    out = [(32, 32, "int8", 393_216), (256, 256, "int8", 25_165_824 + 262_144 + 4_194_304), (1, 1, "fp32", 8)]
    for precision in ("int8", "int16", "bf16", "fp16", "fp32"):
        out.append((int(rng.integers(1, 513)), int(rng.integers(1, 513)), precision,
                    int(rng.integers(1, 64 * 2**20))))
    return out


def _area_check(args, got):
    rows, cols, precision, buffer_bytes = args
    where = f"design_area_mm2({rows}, {cols}, {precision!r}, {buffer_bytes})"
    if not is_number(got):
        return f"{where} should return a number of mm^2, got {type(got).__name__}"
    mac, sram = _area_parts(*args)
    if close(got, mac + sram, rtol=1e-9):
        return None
    if close(got, mac, rtol=1e-9):
        return f"{where}: the buffers' area is missing"
    if close(got, sram, rtol=1e-9):
        return f"{where}: the MAC array's area is missing"
    if close(got, mac + sram / 8, rtol=1e-9) or close(got, mac + sram * 8, rtol=1e-9):
        return f"{where}: the SRAM area is per bit, and a byte has 8 bits"
    if close(got, (mac + sram) * 1e6, rtol=1e-9) or close(got, (mac + sram) / 1e6, rtol=1e-9):
        return f"{where}: the tables are in um^2; 1 mm^2 = 1e6 um^2"
    return f"{where} is wrong"


# --------------------------------------------------------------------------- #
# Task 2: the best design that meets a budget (plain data: summaries and limits)
# --------------------------------------------------------------------------- #
#: Summary keys a hidden case limits or minimises (all of Evaluation.summary()'s numbers).
_KEYS = ("power_w", "area_mm2", "latency_s", "throughput_ips", "energy_per_inference_j",
         "usd_per_million_inferences", "tco_usd", "price_usd")


def _feasible(summary, limits):
    """Whether ``summary`` meets every limit: ``max_<key>`` is an upper bound on
    ``summary[key]``, ``min_<key>`` a lower bound, both inclusive (as check_constraints)."""
    for name, limit in limits.items():
        kind, key = name.split("_", 1)
        value = summary[key]
        if (kind == "max" and value > limit) or (kind == "min" and value < limit):
            return False
    return True


def _best_reference(summaries, limits, objective):
    feasible = [i for i, s in enumerate(summaries) if _feasible(s, limits)]
    if not feasible:
        return None
    return min(feasible, key=lambda i: (summaries[i][objective], i))   # the first of equal best


def _summary(rng, name):
    s = {"design": name}
    for key in _KEYS:
        s[key] = float(np.round(_log_uniform(rng, 0.1, 10.0), 3))     # rounded, so ties happen
    return s


def _best_inputs(rng):
    out = []
    objectives = ("energy_per_inference_j", "latency_s", "usd_per_million_inferences", "area_mm2")
    for case in range(8):
        n = int(rng.integers(4, 12))
        summaries = [_summary(rng, f"design {i}") for i in range(n)]
        objective = str(objectives[case % len(objectives)])
        def q(key, at, summaries=summaries):
            return float(np.quantile([s[key] for s in summaries], at))
        limits = {"max_power_w": q("power_w", 0.7), "max_area_mm2": q("area_mm2", 0.8)}
        if case == 0:      # nothing meets the budget
            limits = {"max_area_mm2": 0.5 * min(s["area_mm2"] for s in summaries)}
        elif case == 1:    # a lower bound: throughput must be at least the limit
            limits = {"min_throughput_ips": q("throughput_ips", 0.6)}
            best = min(range(n), key=lambda i: summaries[i][objective])
            summaries[best]["throughput_ips"] = 0.5 * limits["min_throughput_ips"]
        elif case == 2:    # the best design sits exactly on a limit (limits are inclusive)
            i = int(rng.integers(0, n))
            summaries[i][objective] = 0.01
            limits = {"max_power_w": summaries[i]["power_w"], "max_area_mm2": 1e9}
        elif case in (3, 4):   # two feasible designs tie for the best score: the first wins
            i, j = sorted(rng.choice(n, size=2, replace=False).tolist())
            for k in (i, j):
                summaries[k].update({"power_w": 0.2, "area_mm2": 0.2, objective: 0.05})
            summaries[i]["design"], summaries[j]["design"] = "twin a", "twin b"
            limits["max_power_w"] = max(limits["max_power_w"], 0.2)
            limits["max_area_mm2"] = max(limits["max_area_mm2"], 0.2)
        elif case == 5:    # the overall best breaks the budget
            i = int(rng.integers(0, n))
            summaries[i][objective] = 0.01
            summaries[i]["power_w"] = 2.0 * limits["max_power_w"]
        out.append((summaries, limits, objective))
    return out


def _best_check(args, got):
    summaries, limits, objective = args
    where = f"best_feasible(<{len(summaries)} summaries>, {sorted(limits)}, {objective!r})"
    want = _best_reference(summaries, limits, objective)
    if want is None:
        return None if got is None else f"{where}: no design meets these limits, return None"
    if got is None:
        return f"{where}: some designs meet the limits, yet you returned None"
    if not is_int(got):
        return f"{where} should return an int index (or None), got {type(got).__name__}"
    i = int(got)
    if not 0 <= i < len(summaries):
        return f"{where}: index {i} is out of range"
    if not _feasible(summaries[i], limits):
        return (f"{where}: design {i} breaks a limit (max_ is an upper bound, min_ a lower bound, "
                "a value equal to its limit meets it)")
    if summaries[i][objective] > summaries[want][objective]:
        return (f"{where}: another design that meets the limits has a smaller {objective} "
                "(does a value equal to its limit meet it in your code?)")
    if i != want:
        return f"{where}: several designs tie for the best {objective}; return the first of them"
    return None


# --------------------------------------------------------------------------- #
# Tasks 3 and 4: the student's designs, judged in the grader's own process
# --------------------------------------------------------------------------- #
@functools.cache
def _reference_evaluation(track):
    from mini_accel.design import evaluate, reference_design, reference_workload
    return evaluate(reference_design(track), *reference_workload(track))


def _judge(track, fields, need_score):
    """A message about the design ``fields`` on ``track``, or None when it passes."""
    from mini_accel.design import (
        Design,
        check_constraints,
        evaluate,
        load_design_table,
        reference_budget,
        reference_workload,
        score,
    )
    rules = CHALLENGES[track]
    var = rules["variable"]
    names = set(Design.__dataclass_fields__)
    if not isinstance(fields, dict) or set(fields) != names:
        return f"{var} should be a mini_accel.design.Design"
    try:
        design = Design(**fields)
    except (TypeError, ValueError) as exc:
        return f"{var} is not a valid Design: {exc}"
    if design.clock_hz != rules["clock_hz"]:
        return f"{var} breaks a rule of the challenge: the clock must be {rules['clock_hz'] / 1e6:g} MHz"
    if design.dram_bandwidth != rules["dram_bandwidth"]:
        return (f"{var} breaks a rule of the challenge: the {track} track's DRAM bandwidth is "
                f"{rules['dram_bandwidth'] / 1e9:g} GB/s")
    if design.sram_array_efficiency != load_design_table()["sram_array_efficiency"]["value"]:
        return f"{var} breaks a rule of the challenge: keep the default sram_array_efficiency"
    workload, batch = reference_workload(track)
    try:
        ev = evaluate(design, workload, batch)
    except (TypeError, ValueError) as exc:
        return f"{var} cannot run the {track} workload: {exc}"
    report = check_constraints(ev, reference_budget(track))
    if not report.ok:
        failed = "; ".join(f"{c.constraint} = {c.value:.4g} {c.unit} (limit {c.limit:.4g} {c.unit})"
                           for c in report.checks if not c.ok)
        return f"{var} breaks the {track} budget: {failed}"
    if need_score:
        gain = score(ev, _reference_evaluation(track))[rules["metric"]]
        if not gain >= rules["target"]:
            return (f"{var} meets the budget, but its {rules['what']} is {gain:.2f}x the reference's; "
                    f"the target is {rules['target']:g}x")
    return None


CASES = {
    "design_area_mm2": Case(_area_inputs, _area_check, blocked=_AREA_ANSWERS, what="design_area_mm2"),
    "best_feasible": Case(_best_inputs, _best_check, what="best_feasible"),
    "edge_design": Case(None, lambda _, got: _judge("edge", got, False), what="EDGE_DESIGN"),
    "edge_score": Case(None, lambda _, got: _judge("edge", got, True), what="EDGE_DESIGN"),
    "server_design": Case(None, lambda _, got: _judge("server", got, False), what="SERVER_DESIGN"),
    "server_score": Case(None, lambda _, got: _judge("server", got, True), what="SERVER_DESIGN"),
}


# --------------------------------------------------------------------------- #
# Task 5: the ADC
# --------------------------------------------------------------------------- #
def _adc_reference(y, bits, full_scale, levels_minus=2):
    step = 2.0 * full_scale / (2 ** bits - levels_minus)
    return np.round(np.clip(y, -full_scale, full_scale) / step) * step


def _adc_inputs(rng):
    out = [(np.array([0.5, -0.2, 1.7, -3.0, 0.0]), 3, 1.0)]
    for _ in range(7):
        fs = _log_uniform(rng, 0.1, 20.0)
        shape = (int(rng.integers(1, 6)), int(rng.integers(1, 30)))
        out.append((rng.uniform(-1.5 * fs, 1.5 * fs, size=shape), int(rng.integers(2, 13)), fs))
    return out


def _adc_check(args, got):
    y, bits, fs = args
    where = f"adc(y of shape {y.shape}, bits={bits}, full_scale={fs:.4g})"
    want = _adc_reference(y, bits, fs)
    problem = array_problem(where, got, y.shape, want, rtol=1e-9, atol=1e-12)
    if problem and isinstance(got, np.ndarray) and got.shape == y.shape:
        if array_problem("", got, y.shape, _adc_reference(y, bits, fs, levels_minus=1), atol=1e-12) is None:
            return problem + " (count the levels again: 2^bits - 1 of them, 0 among them)"
        step = 2.0 * fs / (2 ** bits - 2)
        if array_problem("", got, y.shape, np.round(y / step) * step, atol=1e-12) is None:
            return problem + " (outputs beyond the full scale must be clipped)"
    return problem


# --------------------------------------------------------------------------- #
# Task 6: the error of an analog dot product
# --------------------------------------------------------------------------- #
def _std_reference(a, w_max, prog, read):
    return w_max * math.hypot(read * float(np.abs(a).max()), prog * float(np.linalg.norm(a)))


def _std_inputs(rng):
    out = [(np.ones(64), 1.0, 0.1, 0.0), (np.ones(64), 2.0, 0.0, 0.06), (np.full(4, 0.5), 1.0, 0.05, 0.06)]
    for _ in range(7):
        K = int(rng.integers(1, 2000))
        a = rng.standard_normal(K) * _log_uniform(rng, 0.01, 100.0)
        out.append((a, _log_uniform(rng, 0.01, 10.0), float(rng.uniform(0, 0.3)), float(rng.uniform(0, 0.3))))
    return out


def _std_check(args, got):
    a, w_max, prog, read = args
    where = (f"analog_error_std(<{a.size} inputs>, w_max={w_max:.4g}, prog_noise={prog:.3g}, "
             f"read_noise={read:.3g})")
    if not is_number(got):
        return f"{where} should return a number, got {type(got).__name__}"
    want = _std_reference(a, w_max, prog, read)
    if close(got, want, rtol=1e-9):
        return None
    read_part = w_max * read * float(np.abs(a).max())
    prog_part = w_max * prog * float(np.linalg.norm(a))
    if prog and read and close(got, read_part + prog_part, rtol=1e-9):
        return f"{where}: independent errors add in quadrature, not linearly"
    if prog and read and (close(got, read_part, rtol=1e-9) or close(got, prog_part, rtol=1e-9)):
        return f"{where}: one of the two noise sources is missing"
    if prog and close(got, math.hypot(read_part, w_max * prog * float(np.abs(a).sum())), rtol=1e-9):
        return f"{where}: K independent errors weighted by the inputs add in quadrature (which norm is that?)"
    return f"{where} is wrong"


CASES.update({
    "adc": Case(_adc_inputs, _adc_check, blocked=_ANALOG_ANSWERS, what="adc"),
    "analog_error_std": Case(_std_inputs, _std_check, blocked=_ANALOG_ANSWERS, what="analog_error_std"),
})
