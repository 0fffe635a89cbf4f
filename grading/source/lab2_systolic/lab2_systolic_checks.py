"""Hidden checks of Lab 2 (TPU-style matrix multiply units).

Each entry of ``CASES`` draws random inputs and says what is wrong with a
result, without giving the answer away. The notebook's hidden tests call
``seal(name, student_object)``; the grader re-runs the same check in its own
process (see ``labcheck.py`` and ``grading/sealed.py``). References come from
``mini_accel`` or from a few lines of numpy written here, never from the
student's code.
"""
from __future__ import annotations

import numpy as np
from labcheck import (
    Case,
    weight_tile_fits_array,  # the guard of tiled_matmul: one array-sized tile per call
)
from labcheck import array_problem as _array_problem
from labcheck import is_int as _is_int
from labcheck import is_number as _is_number
from labcheck import seal as _seal

_SYSTOLIC = "mini_accel.systolic"
#: Library functions that compute cycle counts or run the array.
_CYCLE_ANSWERS = (
    f"{_SYSTOLIC}.systolic_cycles",
    f"{_SYSTOLIC}.systolic_folds",
    f"{_SYSTOLIC}.systolic_traffic",
    f"{_SYSTOLIC}.SystolicArray.cycles",
    f"{_SYSTOLIC}.SystolicArray.matmul",
    f"{_SYSTOLIC}.SystolicArray.trace",
)


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


# --------------------------------------------------------------------------- #
# Task 1: accumulator headroom of a MAC cell
# --------------------------------------------------------------------------- #
def _max_safe_terms_reference(a_bits, w_bits, acc_bits):
    """Largest K for which every sum of K products fits the signed accumulator.

    Exact integer arithmetic on the extremes of each signed range: the largest
    product is (-2^(a-1)) * (-2^(w-1)); the most negative one is the smallest
    of min_a * max_w and max_a * min_w.
    """
    a_lo, a_hi = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    w_lo, w_hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    acc_lo, acc_hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    products = [a * w for a in (a_lo, a_hi) for w in (w_lo, w_hi)]
    k_pos = acc_hi // max(products)
    k_neg = acc_lo // min(products)          # both negative: floor division is exact here
    return min(k_pos, k_neg)


def _max_safe_terms_inputs(rng):
    # Accumulators wider than 53 bits separate exact integer arithmetic from floats: a
    # float64 holds 2**63 - 1 as 2**63, so (2**63 - 1) / 2**14 rounds up to 2**49.
    fixed = [(8, 8, 32), (16, 16, 32), (4, 4, 8), (8, 4, 16), (2, 2, 4),
             (8, 8, 64), (2, 2, 64), (16, 8, 60), (4, 4, 56)]
    drawn = []
    while len(drawn) < 6:
        a, w = int(rng.integers(2, 17)), int(rng.integers(2, 17))
        acc = int(rng.integers(a + w, 65))
        drawn.append((a, w, acc))
    return fixed + drawn


def _max_safe_terms_check(args, got):
    if not _is_int(got):
        return f"max_safe_terms{args} should return an int, got {type(got).__name__}"
    want = _max_safe_terms_reference(*args)
    if int(got) != want:
        direction = "too large: some sum of that many products overflows" if got > want else \
            "too small: more products still fit"
        return f"max_safe_terms{args} is {direction}"
    return None


# --------------------------------------------------------------------------- #
# Task 2: one cycle of a weight-stationary array
# --------------------------------------------------------------------------- #
def _ws_step_reference(W, a_regs, psum_regs, a_in):
    new_a = np.empty_like(a_regs, dtype=np.result_type(a_regs, a_in))
    new_a[:, 0] = a_in
    new_a[:, 1:] = a_regs[:, :-1]
    psum_in = np.zeros_like(psum_regs, dtype=np.result_type(psum_regs, W, new_a))
    psum_in[1:, :] = psum_regs[:-1, :]
    return new_a, psum_in + new_a * W


def _ws_state(rng, R, C, kind):
    def draw(shape):
        if kind == "int":
            return rng.integers(-60, 61, size=shape).astype(np.int64)
        return rng.standard_normal(shape)
    return draw((R, C)), draw((R, C)), draw((R, C)), draw(R)


def _ws_step_inputs(rng):
    return [_ws_state(rng, int(rng.integers(2, 7)), int(rng.integers(2, 7)), "int") for _ in range(6)]


def _ws_step_edge_inputs(rng):
    # One-row and one-column arrays, floats, and arrays bigger than trace() can show.
    shapes = [(1, 5, "int"), (5, 1, "int"), (1, 1, "float"), (3, 4, "float"),
              (20, 24, "int"), (24, 20, "float")]
    return [_ws_state(rng, R, C, kind) for R, C, kind in shapes]


def _ws_step_check(args, got):
    W, a_regs, psum_regs, a_in = args
    R, C = W.shape
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "ws_step should return a pair (new_a_regs, new_psum_regs)"
    want_a, want_p = _ws_step_reference(W, a_regs, psum_regs, a_in)
    size = f"on a {R}x{C} array"
    problem = _array_problem(f"new_a_regs {size}", got[0], (R, C))
    if problem:
        return problem
    if _array_problem("", got[0], (R, C), want_a):
        if np.array_equal(np.asarray(got[0])[:, 1:], a_regs[:, 1:]) and C > 1:
            return f"new_a_regs {size}: the activations did not move one PE to the right"
        return f"new_a_regs {size}: some activations are in the wrong PE (check the left edge and the shift)"
    problem = _array_problem(f"new_psum_regs {size}", got[1], (R, C))
    if problem:
        return problem
    bad = _array_problem(f"new_psum_regs {size}", got[1], (R, C), want_p)
    if bad:
        if R > 1 and _array_problem("", got[1][0], (C,), want_p[0]) is None:
            return (f"new_psum_regs {size}: the top row is right but lower rows are wrong "
                    "(where does a PE's incoming partial sum come from?)")
        return bad
    return None


# --------------------------------------------------------------------------- #
# Tasks 3 and 4: cycles and utilization in closed form
# --------------------------------------------------------------------------- #
def _gemm_inputs(rng):
    fixed = [(1, 1, 1, 1, 1), (1, 256, 256, 256, 256), (3, 5, 7, 4, 4), (100, 300, 200, 128, 64)]
    drawn = []
    for _ in range(10):
        R, C = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        M, K, N = (int(rng.integers(1, 200)) for _ in range(3))
        drawn.append((M, K, N, R, C))
    return fixed + drawn


def _ws_cycles_check(args, got):
    from mini_accel import systolic_cycles
    if not _is_int(got):
        return f"ws_cycles{args} should return an int, got {type(got).__name__}"
    want = systolic_cycles(*args, dataflow="ws")
    if int(got) != want:
        M, K, N, R, C = args
        hint = "count the folds again" if K > R or N > C else "count the load, fill and drain again"
        return f"ws_cycles(M={M}, K={K}, N={N}, rows={R}, cols={C}) is off by {int(got) - want:+d} ({hint})"
    return None


def _utilization_inputs(rng):
    from mini_accel import systolic_cycles
    out = [(M, K, N, R, C, systolic_cycles(M, K, N, R, C)) for M, K, N, R, C in _gemm_inputs(rng)]
    # Cycle counts of other machines too: the formula must use the cycles it is given.
    return out + [(4, 4, 4, 4, 4, 4), (3, 5, 7, 2, 2, int(rng.integers(200, 900)))]


def _utilization_check(args, got):
    if not _is_number(got):
        return f"utilization{args} should return a number, got {type(got).__name__}"
    M, K, N, R, C, cycles = args
    want = M * K * N / (R * C * cycles)
    if not abs(float(got) - want) <= 1e-9 * want:
        return f"utilization(M={M}, K={K}, N={N}, rows={R}, cols={C}, cycles={cycles}) is wrong"
    return None


# --------------------------------------------------------------------------- #
# Task 5: tiling a GEMM bigger than the array
# --------------------------------------------------------------------------- #
def _tiled_inputs(rng):
    out = []
    for R, C, M, K, N in [(4, 4, 5, 9, 10), (3, 5, 7, 11, 6), (8, 8, 1, 20, 17), (4, 6, 4, 4, 6)]:
        A = rng.integers(-128, 128, size=(M, K)).astype(np.int8)
        B = rng.integers(-128, 128, size=(K, N)).astype(np.int8)
        out.append((A, B, R, C))
    return out


def _tiled_check(args, got):
    from mini_accel import systolic_cycles
    A, B, R, C = args
    M, K = A.shape
    N = B.shape[1]
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "tiled_matmul should return a pair (output, cycles)"
    out, cycles = got
    problem = _array_problem(f"the output of a {M}x{K} @ {K}x{N} GEMM on a {R}x{C} array",
                             out, (M, N), A.astype(np.int64) @ B.astype(np.int64))
    if problem:
        return problem + " (are the partial products of every K-tile added up?)"
    if not _is_int(cycles):
        return f"the cycle count should be an int, got {type(cycles).__name__}"
    want = systolic_cycles(M, K, N, R, C, "ws")
    if int(cycles) != want:
        return f"the total cycles of a {M}x{K} @ {K}x{N} GEMM on a {R}x{C} array are off by {int(cycles) - want:+d}"
    return None


# --------------------------------------------------------------------------- #
# Task 6: peak throughput
# --------------------------------------------------------------------------- #
def _peak_inputs(rng):
    drawn = [(int(rng.integers(1, 513)), int(rng.integers(1, 513)), float(rng.integers(100, 2000)) * 1e6)
             for _ in range(6)]
    return [(256, 256, 700e6)] + drawn


def _peak_check(args, got):
    if not _is_number(got):
        return f"peak_tops{args} should return a number, got {type(got).__name__}"
    R, C, f = args
    want = 2 * R * C * f / 1e12
    if not abs(float(got) - want) <= 1e-9 * want:
        ratio = float(got) / want if want else float("nan")
        if abs(ratio - 0.5) < 1e-6:
            return f"peak_tops{args} is half of the right value (how many operations is one MAC?)"
        return f"peak_tops{args} is wrong (check the units: tera = 1e12)"
    return None


def _tpu_peak_check(_, got):
    if not _is_number(got):
        return f"TPU_V1_PEAK_TOPS should be a number, got {type(got).__name__}"
    if not abs(float(got) - 2 * 256 * 256 * 700e6 / 1e12) <= 1e-9 * 91.75:
        return "TPU_V1_PEAK_TOPS does not match the TPU v1 array size and clock"
    return None


CASES = {
    "max_safe_terms": Case(_max_safe_terms_inputs, _max_safe_terms_check, what="max_safe_terms"),
    "ws_step": Case(_ws_step_inputs, _ws_step_check, blocked=_CYCLE_ANSWERS, what="ws_step"),
    "ws_step_edges": Case(_ws_step_edge_inputs, _ws_step_check, blocked=_CYCLE_ANSWERS, what="ws_step"),
    "ws_cycles": Case(_gemm_inputs, _ws_cycles_check, blocked=_CYCLE_ANSWERS, what="ws_cycles"),
    "utilization": Case(_utilization_inputs, _utilization_check, blocked=_CYCLE_ANSWERS, what="utilization"),
    "tiled_matmul": Case(_tiled_inputs, _tiled_check,
                         # matmul itself is allowed (guarded); it uses systolic_traffic inside
                         blocked=(f"{_SYSTOLIC}.systolic_cycles", f"{_SYSTOLIC}.systolic_folds",
                                  f"{_SYSTOLIC}.SystolicArray.cycles", f"{_SYSTOLIC}.SystolicArray.trace"),
                         guards={f"{_SYSTOLIC}.SystolicArray.matmul": weight_tile_fits_array},
                         what="tiled_matmul"),
    "peak_tops": Case(_peak_inputs, _peak_check, what="peak_tops"),
    "tpu_v1_peak": Case(None, _tpu_peak_check, what="TPU_V1_PEAK_TOPS"),
}
