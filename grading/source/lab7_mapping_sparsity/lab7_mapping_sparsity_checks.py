"""Hidden checks of Lab 7 (mappings and sparsity).

Each entry of ``CASES`` draws inputs and says what is wrong with a result,
without giving the answer away. The notebook's hidden tests call
``seal(name, student_object)``; the grader re-runs the same check in its own
process (see ``labcheck.py`` and ``grading/sealed.py``). References come from
``mini_accel`` (the mapping model, the mapper, the sparsity module) or from a
few lines of arithmetic written here, never from the student's code.
"""
from __future__ import annotations

import math

import numpy as np
from labcheck import Case, array_problem, close, is_int, is_number
from labcheck import seal as _seal

_MM = "mini_accel.mapping_model"
_SP = "mini_accel.sparsity"
#: The mapping model's own counts: off while the student's counting runs.
_MODEL_ANSWERS = (f"{_MM}.evaluate", f"{_MM}._evaluate", f"{_MM}._loads",
                  "mini_accel.mapper.evaluate_many", "mini_accel.mapper.search")
_PRUNE_ANSWERS = (f"{_SP}.prune_n_m", f"{_SP}.magnitude_prune", f"{_SP}.prune_model")
_FORMAT_ANSWERS = (f"{_SP}.encode", f"{_SP}.storage_bits", f"{_SP}.expected_bits",
                   f"{_SP}.break_even_density")

#: Task 2: the layer, the machine and the target (x MAC per MAC, Eyeriss' table).
TASK2_LAYER = dict(N=1, K=64, C=32, P=14, Q=14, R=3, S=3)
TASK2_TARGET = 7.9
#: Task 3: the layer and the search settings of the comparison.
TASK3_LAYER = dict(N=1, K=384, C=256, P=13, Q=13, R=3, S=3)
TASK3_SAMPLES = 4000
DATAFLOW_NAMES = ("ws", "os", "is", "nlr", "rs")


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


# --------------------------------------------------------------------------- #
# Task 1: DRAM accesses of a two-level 1-D convolution with K filters
# --------------------------------------------------------------------------- #
def dram_reference(K, P, R, K1, P1, order):
    """Loads of each tile times its size (the chapter's model, written out for this nest)."""
    K0, P0 = K // K1, P // P1
    outer, inner = (K0, P0) if order == "KP" else (P0, K0)
    # weights depend on k only, inputs on p only
    w_loads = (K0 if order == "KP" else (K0 * P0 if K0 > 1 else 1))
    i_loads = (P0 if order == "PK" else (K0 * P0 if P0 > 1 else 1))
    return {"W": w_loads * K1 * R, "I": i_loads * (P1 + R - 1), "O": K * P}


def _dram_inputs(rng):
    out = [(4, 6, 3, 2, 3, "KP"), (4, 6, 3, 2, 3, "PK"),
           (8, 5, 3, 8, 1, "KP"), (8, 5, 3, 8, 1, "PK"),      # K0 = 1: weights loaded once
           (6, 8, 2, 1, 8, "KP"), (6, 8, 2, 1, 8, "PK"),      # P0 = 1: inputs loaded once
           (3, 4, 5, 3, 4, "PK")]                             # everything on chip
    for _ in range(6):
        K1, K0 = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        P1, P0 = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        out.append((K1 * K0, P1 * P0, int(rng.integers(1, 6)), K1, P1, str(rng.choice(["KP", "PK"]))))
    return out


def _dram_check(args, got):
    K, P, R, K1, P1, order = args
    where = f"dram_accesses(K={K}, P={P}, R={R}, K1={K1}, P1={P1}, order={order!r})"
    if not isinstance(got, dict) or set(got) != {"W", "I", "O"}:
        return f"{where} should return a dict with the keys 'W', 'I' and 'O'"
    want = dram_reference(K, P, R, K1, P1, order)
    for t, name in (("W", "weights"), ("I", "inputs"), ("O", "outputs")):
        if not is_int(got[t]):
            return f"{where}: {t} should be an int (a count of words), got {type(got[t]).__name__}"
        if got[t] != want[t]:
            hint = {"W": "how often does the weight tile change with this loop order?",
                    "I": "how often does the input window change with this loop order?",
                    "O": "each output is written back once"}[t]
            return f"{where}: the {name} count is wrong ({hint})"
    return None


def _hand_check(_, got):
    if not isinstance(got, dict) or set(got) != {"W", "I", "O"}:
        return "HAND should be a dict with the keys 'W', 'I' and 'O'"
    want = dram_reference(4, 6, 3, 2, 3, "KP")
    bad = [t for t in "WIO" if not is_int(got[t]) or got[t] != want[t]]
    if bad:
        return f"HAND: the counts of {bad} are not right; count the tile loads again"
    return None


# --------------------------------------------------------------------------- #
# Task 2: a better mapping
# --------------------------------------------------------------------------- #
def task2_setup():
    from mini_accel.mapping import Architecture, ConvLayer
    return (ConvLayer(**TASK2_LAYER),
            Architecture.eyeriss_like(num_pes=168, rf_words=256, buffer_words=54 * 1024))


def _better_check(_, got):
    from mini_accel.mapping import Mapping, dataflow_violations, evaluate, violations
    if not isinstance(got, dict) or not {"buffer", "rf", "spatial", "order"} <= set(got):
        return "BETTER should be a dict with the keys 'buffer', 'rf', 'spatial' and 'order'"
    layer, arch = task2_setup()
    order = got["order"]
    if not isinstance(order, (list, tuple)) or len(order) != 2 or not all(isinstance(o, str) for o in order):
        return "BETTER['order'] should be a list of two strings: the DRAM order and the buffer order"
    for key in ("buffer", "rf", "spatial"):
        if not isinstance(got[key], dict):
            return f"BETTER[{key!r}] should be a dict such as {{'K': 4}}"
    try:
        m = Mapping.from_factors(arch, layer, [got["buffer"], got["rf"]], spatial=got["spatial"],
                                 order=[order[0], order[1], None])
    except (TypeError, ValueError) as exc:
        return f"BETTER is not a mapping of the layer: {exc}"
    problems = violations(layer, arch, m) + dataflow_violations(m, arch, "rs", layer)
    if problems:
        return "BETTER is not a valid row-stationary mapping: " + "; ".join(problems)
    e = evaluate(layer, arch, m).energy_per_mac
    if e > TASK2_TARGET:
        return f"BETTER costs {e:.3f} x MAC per MAC; the target is {TASK2_TARGET}"
    return None


# --------------------------------------------------------------------------- #
# Task 3: the dataflows on a real layer
# --------------------------------------------------------------------------- #
def task3_energies():
    from mini_accel.mapping import Architecture, ConvLayer, compare_dataflows
    layer = ConvLayer(**TASK3_LAYER)
    arch = Architecture.eyeriss_like(num_pes=168, rf_words=256, buffer_words=54 * 1024)
    nlr = Architecture.eyeriss_like(num_pes=168, rf_words=0, buffer_words=54 * 1024 + 168 * 256)
    res = compare_dataflows(layer, arch, DATAFLOW_NAMES, archs={"nlr": nlr},
                            samples=TASK3_SAMPLES, seed=0)
    return {k: v.result.energy for k, v in res.items()}


def _ranking_check(_, got):
    if not isinstance(got, (list, tuple)) or sorted(got) != sorted(DATAFLOW_NAMES):
        return f"RANKING should be a list of the five names {list(DATAFLOW_NAMES)} in some order"
    e = task3_energies()
    want = sorted(DATAFLOW_NAMES, key=e.get)
    if list(got) != want:
        return "RANKING is not in the order of the energies (lowest first)"
    return None


def _ratio_check(_, got):
    if not is_number(got):
        return f"WS_OVER_RS should be a number, got {type(got).__name__}"
    e = task3_energies()
    want = e["ws"] / e["rs"]
    if close(got, e["rs"] / e["ws"], rtol=1e-2):
        return "WS_OVER_RS is upside down: weight stationary's energy divided by row stationary's"
    if not close(got, want, rtol=1e-2):
        return "WS_OVER_RS is not the ratio of the two energies (to 1 %)"
    return None


# --------------------------------------------------------------------------- #
# Task 4: 2:4 pruning
# --------------------------------------------------------------------------- #
def prune24_reference(W):
    W = np.asarray(W, dtype=np.float64)
    K, N = W.shape
    g = np.abs(W).reshape(K // 4, 4, N)
    keep = np.zeros_like(g, dtype=bool)
    top = np.argsort(-g, axis=1, kind="stable")[:, :2, :]
    np.put_along_axis(keep, top, True, axis=1)
    return W * keep.reshape(K, N)


def _prune_inputs(rng):
    out = [np.array([[0.1], [-2.0], [0.3], [4.0]]),                 # the largest magnitude is negative
           np.array([[-5.0, 1.0], [-4.0, 0.0], [3.0, 0.0], [0.5, 0.0]]),   # zeros in a group
           np.array([[1.0, 2.0, 3.0, 4.0]] * 4).T.copy(),          # one row per group member
           np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1]]).T.copy()]   # per group, not per column
    for _ in range(4):
        k = 4 * int(rng.integers(1, 5))
        out.append(rng.normal(size=(k, int(rng.integers(1, 6)))))
    return [(w,) for w in out]


def _prune_check(args, got):
    (W,) = args
    where = f"prune_24(W of shape {W.shape})"
    problem = array_problem(where, got, W.shape)
    if problem:
        return problem
    want = prune24_reference(W)
    if np.count_nonzero(got) > np.count_nonzero(want):
        return f"{where}: keeps more than two weights in a group of four"
    if not np.allclose(got, want, rtol=0, atol=0):
        if np.allclose(np.abs(got), np.abs(want)):
            return f"{where}: keep the signs of the weights"
        return f"{where}: keeps the wrong weights (the two of largest magnitude in every group of " \
               "four along the input dimension, axis 0, unchanged)"
    return None


# --------------------------------------------------------------------------- #
# Task 5: compressed formats
# --------------------------------------------------------------------------- #
def bits_reference(x, value_bits):
    rows, cols = x.shape
    nnz = int(np.count_nonzero(x))
    ib = max(1, math.ceil(math.log2(cols)))
    pb = max(1, math.ceil(math.log2(nnz + 1)))
    return {"dense": x.size * value_bits, "bitmask": x.size + nnz * value_bits,
            "csr": nnz * (value_bits + ib) + (rows + 1) * pb}


def _bits_inputs(rng):
    out = [(np.zeros((3, 5)), 8), (np.ones((2, 1)), 8), (np.eye(16), 8), (np.eye(7), 16)]
    for _ in range(5):
        r, c = int(rng.integers(1, 40)), int(rng.integers(1, 70))
        d = float(rng.choice([0.02, 0.1, 0.3, 0.7, 1.0]))
        x = (rng.random((r, c)) < d) * rng.integers(1, 100, size=(r, c))
        out.append((x.astype(np.float64), int(rng.choice([4, 8, 16]))))
    return out


def _bits_check(args, got):
    x, vb = args
    where = f"format_bits(x of shape {x.shape} with {int(np.count_nonzero(x))} nonzeros, value_bits={vb})"
    if not isinstance(got, dict) or set(got) != {"dense", "bitmask", "csr"}:
        return f"{where} should return a dict with the keys 'dense', 'bitmask' and 'csr'"
    want = bits_reference(x, vb)
    for k in ("dense", "bitmask", "csr"):
        if not is_int(got[k]):
            return f"{where}: {k} should be an int number of bits, got {type(got[k]).__name__}"
        if got[k] != want[k]:
            return f"{where}: the {k} size is wrong"
    return None


def _cheapest_check(args, got):
    x, vb = args
    where = f"cheapest_format(x of shape {x.shape}, value_bits={vb})"
    want = bits_reference(x, vb)
    best = min(("dense", "bitmask", "csr"), key=lambda k: (want[k], ("dense", "bitmask", "csr").index(k)))
    if type(got) is not str or got not in want:
        return f"{where} should return 'dense', 'bitmask' or 'csr', got {got!r}"
    if got != best:
        return f"{where}: another format is smaller (ties go to the first of dense, bitmask, csr)"
    return None


CASES = {
    "hand_counts": Case(None, _hand_check, what="HAND"),
    "dram_accesses": Case(_dram_inputs, _dram_check, blocked=_MODEL_ANSWERS, what="dram_accesses"),
    "better_mapping": Case(None, _better_check, what="BETTER"),
    "ranking": Case(None, _ranking_check, what="RANKING"),
    "ws_over_rs": Case(None, _ratio_check, what="WS_OVER_RS"),
    "prune_24": Case(_prune_inputs, _prune_check, blocked=_PRUNE_ANSWERS, what="prune_24"),
    "format_bits": Case(_bits_inputs, _bits_check, blocked=_FORMAT_ANSWERS, what="format_bits"),
    "cheapest_format": Case(_bits_inputs, _cheapest_check, blocked=_FORMAT_ANSWERS,
                            what="cheapest_format"),
}
