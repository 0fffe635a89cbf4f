"""Hidden checks of Lab 8 (training on accelerators).

Each entry of ``CASES`` draws random inputs (plain numbers, strings, dicts and
numpy arrays) and says what is wrong with a result, without giving the answer
away. The notebook's hidden tests call ``seal(name, student_object)``; the
grader re-runs the same check in its own process (see ``labcheck.py`` and
``grading/sealed.py``). References come from ``mini_accel`` (systolic,
training_memory) or from a few lines of numpy written here, never from the
student's code.

Every case list starts with fixed inputs chosen so that the common wrong
answers fail (swapped transposes, the GEMM run the other way round, a step
that is not unscaled or not skipped, forgotten master weights or optimizer
state, sharded activations, a search over powers of two, no communication
time, the stages tried before the chip counts); ``tests/test_grading_lab8_training.py``
checks that each of those variants fails.
"""
from __future__ import annotations

import math

import numpy as np
from labcheck import Case, array_problem, is_int
from labcheck import seal as _seal

_TR = "mini_accel.training"
_TM = "mini_accel.training_memory"
_SY = "mini_accel.systolic"
#: The library's backward-pass answers.
_BACKWARD_ANSWERS = (f"{_TR}.backward_gemm_shapes", f"{_TR}.dense_backward", f"{_TR}.conv2d_backward",
                     f"{_TR}.gemm", f"{_TR}.mlp_loss_and_grads")
#: The closed-form cycle model: the cycles must come from running the GEMM on the array.
_CYCLE_ANSWERS = _BACKWARD_ANSWERS + (f"{_SY}.systolic_cycles", f"{_SY}.SystolicArray.cycles")
#: The library's memory, time and plan answers.
_MEMORY_ANSWERS = (f"{_TM}.bytes_per_param", f"{_TM}.zero_bytes_per_chip", f"{_TM}.plan_training",
                   f"{_TM}.training_time_s", f"{_TM}.ring_allreduce_time_s", f"{_TM}.step_time_s",
                   f"{_TM}.zero_comm_bytes")
OPTIMIZERS = ("sgd", "momentum", "adam")


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


def _log_uniform(rng, lo, hi):
    return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))


# --------------------------------------------------------------------------- #
# Task 1: the shapes of the backward GEMMs
# --------------------------------------------------------------------------- #
def _shapes_inputs(rng):
    out = [(32, 64, 10), (1, 1, 1), (3, 5, 7), (128, 4, 4), (9, 2, 9)]
    for _ in range(6):
        out.append(tuple(int(rng.integers(1, 500)) for _ in range(3)))
    return out


def _shapes_check(args, got):
    M, K, N = args
    where = f"backward_shapes({M}, {K}, {N})"
    if not isinstance(got, dict) or set(got) != {"grad_input", "grad_weight"}:
        return f"{where} should return a dict with exactly the keys 'grad_input' and 'grad_weight'"
    want = {"grad_input": (M, N, K), "grad_weight": (K, M, N)}
    for key in want:
        value = got[key]
        if not isinstance(value, (tuple, list)) or len(value) != 3 or not all(is_int(v) for v in value):
            return f"{where}['{key}'] should be a tuple of three ints (M, K, N) of the GEMM"
        if tuple(int(v) for v in value) != want[key]:
            inner = {"grad_input": N, "grad_weight": M}[key]
            if int(value[1]) != inner:
                return f"{where}['{key}']: the inner (summed-over) dimension is wrong"
            return f"{where}['{key}']: the inner dimension is right, the outer ones are not"
    return None


# --------------------------------------------------------------------------- #
# Task 2: the weight gradient on the array
# --------------------------------------------------------------------------- #
def _wgrad_inputs(rng):
    out = []
    fixed = [(5, 3, 7, 4, 2, "ws"), (6, 9, 2, 3, 5, "os"), (4, 7, 11, 2, 6, "is"), (1, 1, 1, 1, 1, "ws")]
    for M, K, N, rows, cols, df in fixed:
        out.append((rng.integers(-128, 128, (M, K)).astype(np.int8),
                    rng.integers(-128, 128, (M, N)).astype(np.int8), rows, cols, df))
    for i in range(5):
        M, K, N = (int(rng.integers(1, 24)) for _ in range(3))
        rows, cols = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        out.append((rng.integers(-128, 128, (M, K)).astype(np.int8),
                    rng.integers(-128, 128, (M, N)).astype(np.int8), rows, cols, ("ws", "os", "is")[i % 3]))
    return out


def _wgrad_check(args, got):
    from mini_accel.systolic import systolic_cycles
    x, dy, rows, cols, df = args
    M, K = x.shape
    N = dy.shape[1]
    where = f"weight_grad_on_array(x {x.shape}, dy {dy.shape}, {rows}, {cols}, {df!r})"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"{where} should return a pair (dW, cycles)"
    dW, cycles = got
    want = x.astype(np.int64).T @ dy.astype(np.int64)
    problem = array_problem(f"{where}: dW", dW, (K, N))
    if problem:
        return problem
    if dW.dtype.kind not in "iu":
        return f"{where}: dW should be the array's exact integer result, got dtype {dW.dtype}"
    if not np.array_equal(dW.astype(np.int64), want):
        return f"{where}: dW has {int((dW.astype(np.int64) != want).sum())} wrong entries"
    if not is_int(cycles):
        return f"{where}: cycles should be an int, got {type(cycles).__name__}"
    if int(cycles) != systolic_cycles(K, M, N, rows, cols, df):
        return (f"{where}: the cycles are not those of the weight-gradient GEMM on this array "
                "(which matrix is A, which is B?)")
    return None


# --------------------------------------------------------------------------- #
# Task 3: the optimizer step on FP32 master weights
# --------------------------------------------------------------------------- #
def _step_inputs(rng):
    out = []
    for i in range(8):
        n = int(rng.integers(1, 40))
        master = rng.normal(0, 1, n).astype(np.float32)
        scale = float(2 ** int(rng.integers(3, 17)))
        grad = (rng.normal(0, 1e-3, n) * scale).astype(np.float16)
        lr = float(rng.choice([0.01, 0.1, 0.5]))
        if i in (2, 5):
            grad[int(rng.integers(0, n))] = np.float16(np.inf) if i == 2 else np.float16(np.nan)
        out.append((master, grad, scale, lr))
    return out


def _step_check(args, got):
    master, grad, scale, lr = args
    where = f"master_step(master of {master.size}, grad, loss_scale={scale:g}, lr={lr:g})"
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"{where} should return a pair (new_master, applied)"
    new, applied = got
    problem = array_problem(f"{where}: new_master", new, master.shape)
    if problem:
        return problem
    if new.dtype != np.float32:
        return f"{where}: new_master should stay float32 (the FP32 master copy), got {new.dtype}"
    if not isinstance(applied, (bool, np.bool_)):
        return f"{where}: applied should be True or False, got {type(applied).__name__}"
    finite = bool(np.isfinite(grad.astype(np.float32)).all())
    if bool(applied) != finite:
        return f"{where}: applied is wrong (when must a step be skipped?)"
    if not finite:
        if not np.array_equal(new, master):
            return f"{where}: a skipped step must leave the master weights unchanged"
        return None
    want = master.astype(np.float64) - lr * grad.astype(np.float64) / scale
    if not np.all(np.abs(new.astype(np.float64) - want) <= 1e-6 * np.abs(want) + 1e-9):
        return f"{where}: the updated master weights are wrong"
    return None


# --------------------------------------------------------------------------- #
# Task 4: bytes per chip
# --------------------------------------------------------------------------- #
def _bytes_inputs(rng):
    out = [(7.5e9, 64, 1, "adam", 0.0), (1e9, 8, 0, "sgd", 0.0), (1e9, 8, 2, "momentum", 0.0),
           (1e9, 16, 2, "adam", 5e9), (3e9, 4, 3, "sgd", 2e9), (2e9, 1, 3, "adam", 1e9)]
    for i in range(8):
        out.append((_log_uniform(rng, 1e6, 1e12), int(rng.integers(2, 4097)), i % 4, OPTIMIZERS[i % 3],
                    0.0 if i % 4 == 1 else _log_uniform(rng, 1e6, 1e11)))
    return out


def _bytes_check(args, got):
    from mini_accel.training_memory import zero_bytes_per_chip
    P, n, stage, opt, act = args
    where = f"bytes_per_chip({P:.4g}, n_chips={n}, stage={stage}, optimizer={opt!r}, activation_bytes={act:.4g})"
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating)):
        return f"{where} should return a number of bytes, got {type(got).__name__}"
    want = zero_bytes_per_chip(P, n, stage, opt) + act
    if not abs(float(got) - want) <= 1e-9 * want:
        return f"{where} is wrong"
    return None


# --------------------------------------------------------------------------- #
# Task 5: chips and a ZeRO stage for a deadline
# --------------------------------------------------------------------------- #
def _job(P, D, mem, bt, peak, mfu, bw, days, act, opt, overlap, max_chips):
    return {"n_params": P, "n_tokens": D, "chip_memory_bytes": mem, "batch_tokens": bt,
            "peak_flops": peak, "mfu": mfu, "link_bytes_per_s": bw, "deadline_s": days * 86400.0,
            "activation_bytes_per_chip": act, "optimizer": opt, "overlap": overlap, "max_chips": max_chips}


#: Jobs whose answers separate the wrong variants (see tests/test_grading_lab8_training.py).
FIXED_JOBS = [
    # 13B on 80 GB chips, 1T tokens in 60 days, 50 GB/s links: memory forces sharding; not a power of 2
    _job(13e9, 1e12, 80e9, 4e6, 312e12, 0.4, 50e9, 60, 10e9, "adam", 1.0, 2048),
    # slow links, no overlap: communication decides how many chips it takes (122, not 10)
    _job(1e9, 2e11, 80e9, 5e5, 312e12, 0.45, 2e9, 10, 4e9, "adam", 0.0, 1024),
    # 70B on 96 GB chips: only stage 3 fits few chips, its 1.5x traffic still meets the deadline
    _job(70e9, 4e11, 96e9, 4e6, 667e12, 0.35, 100e9, 30, 20e9, "adam", 0.8, 2048),
    # SGD with momentum, 16 GB chips: forgetting the optimizer state changes the answer
    _job(2e9, 5e10, 16e9, 1e6, 197e12, 0.5, 50e9, 40, 2e9, "momentum", 1.0, 1024),
    # large activations: they are not sharded, so only stage 3 fits 2 chips
    _job(1e9, 1e10, 80e9, 1e6, 312e12, 0.4, 50e9, 30, 71.5e9, "adam", 0.5, 512),
    # impossible: the all-reduce alone exceeds the deadline at any size
    _job(20e9, 2e11, 80e9, 1e5, 312e12, 0.4, 1e9, 1, 10e9, "adam", 0.0, 512),
]


def _plan_inputs(rng):
    out = [(dict(job),) for job in FIXED_JOBS]
    for i in range(5):
        out.append((_job(_log_uniform(rng, 1e8, 1e11), _log_uniform(rng, 1e10, 2e12),
                         float(rng.choice([16e9, 32e9, 80e9, 96e9])), float(rng.choice([5e5, 1e6, 4e6])),
                         float(rng.choice([197e12, 312e12, 667e12, 989e12])), float(rng.uniform(0.2, 0.6)),
                         _log_uniform(rng, 5e9, 4e11), float(rng.uniform(5, 120)),
                         float(rng.uniform(0.0, 8e9)), OPTIMIZERS[i % 3], float(rng.uniform(0, 1)), 1024),))
    return out


def _plan_check(args, got):
    from mini_accel.training_memory import plan_training
    job, = args
    job = dict(job)
    P, D = job.pop("n_params"), job.pop("n_tokens")
    want = plan_training(P, D, **job)
    where = f"pick_plan(job with n_params={P:.3g}, deadline {job['deadline_s'] / 86400:.3g} days)"
    if want is None:
        if got is not None:
            return f"{where}: no number of chips up to max_chips meets this job, so return None"
        return None
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not all(is_int(v) for v in got):
        return f"{where} should return a pair of ints (n_chips, stage), or None"
    n, stage = (int(v) for v in got)
    if (n, stage) == (want["n_chips"], want["stage"]):
        return None
    if not 1 <= n <= job["max_chips"] or not 0 <= stage <= 3:
        return f"{where}: n_chips must be in 1..max_chips and stage in 0..3"
    if n > want["n_chips"]:
        return f"{where}: a plan with fewer chips meets the memory and the deadline"
    if n < want["n_chips"]:
        return f"{where}: with {n} chips no stage both fits the memory and meets the deadline"
    return f"{where}: the number of chips is right, the stage is not the lowest that works"


CASES = {
    "backward_shapes": Case(_shapes_inputs, _shapes_check, blocked=_BACKWARD_ANSWERS, what="backward_shapes"),
    "weight_grad_on_array": Case(_wgrad_inputs, _wgrad_check, blocked=_CYCLE_ANSWERS,
                                 what="weight_grad_on_array"),
    "master_step": Case(_step_inputs, _step_check, what="master_step"),
    "bytes_per_chip": Case(_bytes_inputs, _bytes_check, blocked=_MEMORY_ANSWERS, what="bytes_per_chip"),
    "pick_plan": Case(_plan_inputs, _plan_check, blocked=_MEMORY_ANSWERS, what="pick_plan"),
}
