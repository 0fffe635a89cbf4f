"""Lab 8 (training on accelerators): its hidden checks separate the common wrong answers.

Fast part (no nbgrader): the reference answers of the source notebook pass every
hidden case for several grader seeds, and the common wrong answers fail them
(swapped transposes, the GEMM run the other way round, a step not unscaled or
not skipped, forgotten master weights or optimizer state, sharded activations,
a search over powers of two, no communication time, the stages tried before
the chip counts, ...). This is what "the hidden cases separate the common
wrong answers" means, checked.

The lab's two hostile submissions graded through nbgrader (``library`` and
``patched``) are in ``tests/test_grading_hostile.py`` (cases in
``grading_fixtures/hostile_cases.py``).
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
LAB = "lab8_training"
SOURCE = REPO / "grading" / "source" / LAB

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
]


# --------------------------------------------------------------------------- #
# Fast: the hidden cases against the reference and against wrong answers
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def checks():
    sys.path.insert(0, str(REPO / "grading"))
    spec = importlib.util.spec_from_file_location(f"{LAB}_checks", SOURCE / f"{LAB}_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import labcheck
    return module, labcheck


@pytest.fixture(scope="module")
def reference():
    """The source notebook's setup cell and reference answers, run in one namespace."""
    nb = nbformat.read(SOURCE / f"{LAB}.ipynb", as_version=4)
    ns: dict = {}
    setup = nb.cells[1].source.replace("%matplotlib inline", "")
    exec(compile(setup, "setup", "exec"), ns)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            src = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", "", cell.source, flags=re.M)
            exec(compile(src, cell.metadata["nbgrader"]["grade_id"], "exec"), ns)
    return ns


def _verdict(checks, name, fn, salt=None):
    module, labcheck = checks
    case = module.CASES[name]
    args = labcheck.draw_inputs(case, name, salt)
    results = [fn(*labcheck.copy_args(a)) for a in args]
    return labcheck.verdict(case, args, results)


@pytest.mark.parametrize("salt", [None, "a", "b", "c"])
def test_reference_answers_pass_every_hidden_case(checks, reference, salt):
    for name in checks[0].CASES:
        assert _verdict(checks, name, reference[name], salt) is None, name


def _wrong_shapes():
    return {
        "swapped": lambda M, K, N: {"grad_input": (K, M, N), "grad_weight": (M, N, K)},
        "inner_K": lambda M, K, N: {"grad_input": (M, K, N), "grad_weight": (K, M, N)},
        "dW_as_dYT_X": lambda M, K, N: {"grad_input": (M, N, K), "grad_weight": (N, M, K)},
    }


@pytest.mark.parametrize("variant", list(_wrong_shapes()))
def test_wrong_backward_shapes_fail(checks, variant):
    assert _verdict(checks, "backward_shapes", _wrong_shapes()[variant]) is not None


def _wrong_wgrad():
    from mini_accel import SystolicArray

    def other_way(x, dy, rows, cols, df):           # (dY^T X)^T: right values, the GEMM (N, M, K)
        res = SystolicArray(rows, cols, df).matmul(np.ascontiguousarray(dy.T), x)
        return np.ascontiguousarray(res.output.T), int(res.cycles)

    def forward_cycles(x, dy, rows, cols, df):      # right values, the cycles of another GEMM
        M, K = x.shape
        cycles = SystolicArray(rows, cols, df).matmul(x, np.ones((K, dy.shape[1]), np.int8)).cycles
        return x.astype(np.int64).T @ dy, int(cycles)

    def float_result(x, dy, rows, cols, df):
        res = SystolicArray(rows, cols, df).matmul(np.ascontiguousarray(x.T).astype(np.float32), dy.astype(np.float32))
        return res.output, int(res.cycles)
    return {"other_way": other_way, "forward_cycles": forward_cycles, "float_result": float_result}


@pytest.mark.parametrize("variant", list(_wrong_wgrad()))
def test_wrong_weight_gradients_fail(checks, variant):
    assert _verdict(checks, "weight_grad_on_array", _wrong_wgrad()[variant]) is not None


def _wrong_steps():
    def no_unscale(m, g, s, lr):
        g = g.astype(np.float32)
        return ((m - np.float32(lr) * g).astype(np.float32), True) if np.isfinite(g).all() else (m.copy(), False)

    def never_skips(m, g, s, lr):
        return (m - np.float32(lr) * g.astype(np.float32) / np.float32(s)).astype(np.float32), True

    def float64_master(m, g, s, lr):
        g = g.astype(np.float64)
        return (m - lr * g / s, True) if np.isfinite(g).all() else (m.astype(np.float64), False)
    return {"no_unscale": no_unscale, "never_skips": never_skips, "float64_master": float64_master}


@pytest.mark.parametrize("variant", list(_wrong_steps()))
def test_wrong_master_steps_fail(checks, variant):
    assert _verdict(checks, "master_step", _wrong_steps()[variant]) is not None


K_STATE = {"sgd": 4, "momentum": 8, "adam": 12}


def _bytes(P, n, stage, opt="adam", act=0.0, *, k=None, shard_act=False, stage2_grads_only=False):
    k = K_STATE[opt] if k is None else k(opt)
    w, g, f = 2.0 * P, 2.0 * P, k * P
    if stage >= 1 and not stage2_grads_only:
        f /= n
    if stage >= 2:
        g /= n
    if stage >= 3:
        w /= n
        f = f / n if stage2_grads_only else f
    return w + g + f + (act / n if shard_act else act)


WRONG_BYTES = {
    "no_master": lambda *a: _bytes(*a, k=lambda o: K_STATE[o] - 4),
    "no_optimizer_state": lambda *a: _bytes(*a, k=lambda o: 4),
    "shard_activations": lambda *a: _bytes(*a, shard_act=True),
    "stages_shifted": lambda P, n, s, o="adam", a=0.0: _bytes(P, n, min(s + 1, 3), o, a),
    "fp32_training": lambda P, n, s, o="adam", a=0.0: _bytes(P, n, s, o, a) + 4 * P,
}


@pytest.mark.parametrize("variant", list(WRONG_BYTES))
def test_wrong_bytes_per_chip_fail(checks, variant):
    assert _verdict(checks, "bytes_per_chip", WRONG_BYTES[variant]) is not None


def _plan(job, *, chips=None, stage_first=False, mem=_bytes, no_comm=False, stage3=1.5):
    P, T = job["n_params"], job["batch_tokens"]
    chips = list(chips or range(1, job["max_chips"] + 1))

    def ok(n, s):
        if mem(P, n, s, job["optimizer"], job["activation_bytes_per_chip"]) > job["chip_memory_bytes"]:
            return False
        compute = 6 * P * T / (n * job["peak_flops"] * job["mfu"])
        comm = 0.0 if (n == 1 or no_comm) else 2 * (n - 1) / n * 2 * P / job["link_bytes_per_s"]
        comm *= stage3 if s == 3 else 1.0
        return job["n_tokens"] / T * (compute + comm - job["overlap"] * min(compute, comm)) <= job["deadline_s"]
    pairs = ([(n, s) for s in range(4) for n in chips] if stage_first else
             [(n, s) for n in chips for s in range(4)])
    return next(((n, s) for n, s in pairs if ok(n, s)), None)


WRONG_PLANS = {
    "powers_of_two": lambda job: _plan(job, chips=[2 ** i for i in range(12) if 2 ** i <= job["max_chips"]]),
    "no_communication": lambda job: _plan(job, no_comm=True),
    "stage3_same_traffic": lambda job: _plan(job, stage3=1.0),
    "stages_before_chips": lambda job: _plan(job, stage_first=True),
    "no_optimizer_state": lambda job: _plan(job, mem=WRONG_BYTES["no_optimizer_state"]),
    "no_master": lambda job: _plan(job, mem=WRONG_BYTES["no_master"]),
    "shard_activations": lambda job: _plan(job, mem=WRONG_BYTES["shard_activations"]),
    "ignore_memory": lambda job: _plan(job, mem=lambda *a: 0.0),
}


def test_plan_reference_of_this_file_is_right(checks):
    assert _verdict(checks, "pick_plan", _plan) is None


@pytest.mark.parametrize("variant", list(WRONG_PLANS))
def test_wrong_plans_fail_on_the_fixed_jobs(checks, variant):
    """The fixed jobs alone (before any random one) separate every wrong variant."""
    module, labcheck = checks
    fixed = [(dict(job),) for job in module.FIXED_JOBS]
    results = [WRONG_PLANS[variant](*a) for a in fixed]
    assert labcheck.verdict(module.CASES["pick_plan"], fixed, results) is not None
