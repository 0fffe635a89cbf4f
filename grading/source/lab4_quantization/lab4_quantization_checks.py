"""Hidden checks of Lab 4 (quantization and mixed precision).

Each entry of ``CASES`` draws random inputs and says what is wrong with a
result, without giving the answer away. The notebook's hidden tests call
``seal(name, student_object)``; the grader re-runs the same check in its own
process (see ``labcheck.py`` and ``grading/sealed.py``). References come from
``mini_accel`` or from a few lines of numpy written here, never from the
student's code. The inputs are drawn in the student's kernel, where a hostile
notebook may have patched ``builtins``: the generators call no Python
builtin such as ``abs``, ``min`` or ``sorted`` and no numpy helper that does
(``np.tile`` calls ``all()``), so such a patch cannot change the inputs.

Rounding: the tasks round half to even. Where a reference value lies within
floating-point error of a tie (``x.5``), a result one level off is accepted,
since float32 and float64 arithmetic may land on either side of it. Where the
tie is exact whatever the arithmetic (a power-of-two scale or multiplier and
values exact in float32), the fixed cases hold exact ties and half to even is
required: rounding half up or away from zero fails them.
"""
from __future__ import annotations

import math

import numpy as np
from labcheck import Case
from labcheck import is_int as _is_int
from labcheck import is_number as _is_number
from labcheck import seal as _seal

_FORMATS = "mini_accel.formats"
_QUANT = "mini_accel.quantizers"
_CAL = "mini_accel.calibration"
_REQ = "mini_accel.requant"
_MP = "mini_accel.mixed_precision"

#: Library code that decodes bit patterns.
_DECODE_ANSWERS = (f"{_FORMATS}.decode",)
#: Library code that computes scales, zero points and quantized values.
_QPARAM_ANSWERS = (f"{_QUANT}.qparams_from_range", f"{_QUANT}.qparams_minmax")
_QUANTIZE_ANSWERS = _QPARAM_ANSWERS + (f"{_QUANT}.quantize", f"{_QUANT}.dequantize", f"{_QUANT}.fake_quant",
                                       f"{_QUANT}.QParams.quantize", f"{_QUANT}.QParams.dequantize",
                                       f"{_QUANT}.QParams.fake_quant")
#: Library calibrators that search for the MSE-optimal range.
_MSE_ANSWERS = (f"{_CAL}.mse_range", f"{_CAL}.calibrate")
#: Library code that runs a quantized layer in integers.
_INTEGER_ANSWERS = (f"{_REQ}.integer_matmul", f"{_REQ}.requantize", f"{_REQ}.multiply_by_quantized_multiplier",
                    f"{_REQ}.IntegerLinear.forward", f"{_REQ}.IntegerLinear.accumulate")
#: Library code that accumulates in FP16.
_SUM_ANSWERS = (f"{_MP}.matmul_fp16", f"{_MP}.accumulation_error")
#: Library code that builds a MAC's cost from the table.
_MAC_ANSWERS = ("mini_accel.energy.EnergyModel.horowitz_45nm",)

_TIE = 1e-6     # how close to x.5 counts as a tie


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


def _near_tie(v):
    v = np.asarray(v, dtype=np.float64)
    return np.abs(np.abs(v - np.floor(v)) - 0.5) < _TIE * np.maximum(1.0, np.abs(v))


def _int_array_problem(what, got, shape):
    if not isinstance(got, np.ndarray):
        return f"{what} should be a numpy array, got {type(got).__name__}"
    if got.shape != tuple(shape):
        return f"{what} has shape {got.shape}, expected {tuple(shape)}"
    if got.dtype.kind not in "iu":
        return f"{what} should hold integers, got dtype {got.dtype}"
    return None


def _power_of_two(v):
    """Whether every value of ``v`` is a power of two (so dividing or multiplying by it is exact)."""
    m, _ = np.frexp(np.asarray(v, dtype=np.float64))
    return bool(np.all(m == 0.5))


def _exact_in_float32(v):
    v = np.asarray(v, dtype=np.float64)
    return bool(np.all(v.astype(np.float32).astype(np.float64) == v))


def _levels_wrong(got, exact_levels, qmin, qmax, exact=False):
    """How many integer results are wrong; one level off is fine where the exact value is a tie,
    unless ``exact`` says the tie is exact whatever the arithmetic (then half to even is required)."""
    want = np.clip(np.rint(exact_levels), qmin, qmax)
    diff = np.abs(got.astype(np.float64) - want)
    tie = _near_tie(exact_levels) & (np.rint(exact_levels) >= qmin - 1) & (np.rint(exact_levels) <= qmax + 1)
    if exact:
        tie = np.zeros_like(tie)
    return int(np.sum((diff > 0) & ~(tie & (diff <= 1))))


# --------------------------------------------------------------------------- #
# Task 1: decode a floating-point number
# --------------------------------------------------------------------------- #
def _reference_value(sign, exponent, fraction, e, m):
    bias = 2 ** (e - 1) - 1
    if exponent == 2 ** e - 1:
        mag = math.inf if fraction == 0 else math.nan
    elif exponent == 0:
        mag = fraction * 2.0 ** (1 - bias - m)
    else:
        mag = (2 ** m + fraction) * 2.0 ** (exponent - bias - m)
    return -mag if sign else mag


def _float_inputs(rng):
    out = []
    for e, m in [(5, 10), (8, 7), (8, 23), (8, 10), (5, 10), (8, 7), (11, 52), (9, 30)]:
        exponent = int(rng.integers(1, 2 ** e - 1))                  # normal numbers
        out.append((int(rng.integers(0, 2)), exponent, int(rng.integers(0, 2 ** m)), e, m))
    # FP64 (11 exponent, 52 fraction bits): values a float32 cannot hold
    out.append((0, 1023, 2 ** 52 - 1, 11, 52))
    return out


def _float_edge_inputs(rng):
    out = [(0, 0, 0, 8, 7), (1, 0, int(rng.integers(1, 2 ** 10)), 5, 10),       # zero, a negative subnormal
           (0, 0, int(rng.integers(1, 2 ** 23)), 8, 23), (0, 255, 0, 8, 23),     # an FP32 subnormal, +inf
           (1, 31, int(rng.integers(1, 2 ** 10)), 5, 10),                        # NaN
           (0, 0, 1, 11, 52), (1, 1, 0, 11, 52)]                                 # FP64's smallest ones
    for e, m in [(4, 3), (5, 2), (6, 9), (3, 4)]:                               # other formats
        out.append((int(rng.integers(0, 2)), int(rng.integers(0, 2 ** e - 1)), int(rng.integers(0, 2 ** m)), e, m))
    return out


def _library_value(args):
    """The library's decoding of the same fields, for the four named formats."""
    from mini_accel.formats import decode
    sign, exponent, fraction, e, m = args
    names = {(5, 10): "fp16", (8, 7): "bf16", (8, 23): "fp32", (8, 10): "tf32"}
    if (e, m) not in names:
        return None
    return float(decode([(sign << (e + m)) | (exponent << m) | fraction], names[(e, m)])[0])


def _float_check(args, got):
    sign, exponent, fraction, e, m = args
    if not _is_number(got):
        return f"float_value should return a float, got {type(got).__name__}"
    want = _reference_value(*args)
    lib = _library_value(args)
    if lib is not None and not (math.isnan(lib) and math.isnan(want)) and lib != want:
        return "float_value: the grader's two references disagree (tell your instructor)"
    where = f"float_value(sign={sign}, exponent={exponent}, fraction={fraction}, exp_bits={e}, man_bits={m})"
    got = float(got)
    if math.isnan(want):
        return None if math.isnan(got) else f"{where}: exponent all ones with a non-zero fraction is NaN"
    if got != want:
        if exponent == 0:
            return f"{where} is wrong (a subnormal: no implicit leading 1, and the exponent is 1 - bias)"
        if exponent == 2 ** e - 1:
            return f"{where} is wrong (exponent all ones, fraction 0: infinity)"
        if abs(got) == abs(want):
            return f"{where} has the wrong sign"
        return f"{where} is wrong (check the bias, 2**(exp_bits - 1) - 1, and the implicit leading 1)"
    return None


# --------------------------------------------------------------------------- #
# Task 2: scale and zero point
# --------------------------------------------------------------------------- #
def _qparams_inputs(rng):
    out = [(-1.0, 2.0, 8), (0.0, 6.0, 4), (2.0, 5.0, 8), (-3.0, -1.0, 8),
           # exact ties (S = 1): lo / S = -1.5, -2.5, -3.5, -4.5 round half to even
           (-1.5, 1.5, 2), (-2.5, 0.5, 2), (-3.5, 11.5, 4), (-4.5, 10.5, 4), (-0.75, 0.75, 2)]
    for _ in range(8):
        ends = np.sort(rng.normal(0, 3, size=2) * 10.0 ** rng.integers(-3, 3))
        if rng.random() < 0.3:
            ends = np.sort(np.abs(ends))                            # ranges that do not contain 0
        out.append((float(ends[0]), float(ends[1]), int(rng.integers(2, 17))))
    return out


def _qparams_check(args, got):
    lo, hi, bits = args
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "affine_qparams should return a pair (scale, zero_point)"
    S, Z = got
    where = f"affine_qparams({lo:.6g}, {hi:.6g}, {bits})"
    if not _is_number(S) or not _is_int(Z):
        return f"{where} should return (float, int)"
    qmin, qmax = -2 ** (bits - 1), 2 ** (bits - 1) - 1
    lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
    want_S = (hi0 - lo0) / (qmax - qmin)
    if not abs(float(S) - want_S) <= 1e-6 * want_S:
        return f"{where}: the scale is wrong (did you widen the range to contain 0?)"
    exact = qmin - lo0 / want_S
    exact_tie = _power_of_two(want_S) and _exact_in_float32([lo0, hi0])
    if int(Z) != qmin - int(np.rint(lo0 / want_S)):
        if exact_tie and float(exact) - math.floor(exact) == 0.5:
            return f"{where}: the zero point is wrong (lo / S is a tie here: round half to even)"
        if not (_near_tie(exact) and abs(int(Z) - exact) <= 0.5 + 1e-6):
            return f"{where}: the zero point is wrong (which integer stands for real 0?)"
    return None


# --------------------------------------------------------------------------- #
# Task 3: quantize and dequantize
# --------------------------------------------------------------------------- #
def _quantize_inputs(rng):
    out = [(np.array([-1.0, 0.0, 0.25, 2.0, 5.0]), 3 / 255, -43, 8),
           # exact ties: x / S = k + 0.5 for k from -6 to 5 (S = 0.25), round half to even
           (np.arange(-6, 6) * 0.25 + 0.125, 0.25, 3, 8), (np.arange(-6, 6) * 0.25 + 0.125, 0.25, 0, 4)]
    for shape, bits in [((40,), 8), ((7, 9), 4), ((3, 4, 5), 6), ((100,), 2), ((30,), 16)]:
        S = float(10.0 ** rng.uniform(-3, 0))
        qmin, qmax = -2 ** (bits - 1), 2 ** (bits - 1) - 1
        Z = int(rng.integers(qmin, qmax + 1))
        span = S * (qmax - qmin)
        x = rng.uniform(S * (qmin - Z) - 0.2 * span, S * (qmax - Z) + 0.2 * span, size=shape)  # some saturate
        out.append((x, S, Z, bits))
    return out


def _quantize_check(args, got):
    x, S, Z, bits = args
    where = f"quantize_affine on a {x.shape} array with {bits} bits"
    problem = _int_array_problem(where, got, x.shape)
    if problem:
        return problem
    qmin, qmax = -2 ** (bits - 1), 2 ** (bits - 1) - 1
    if got.size and (got.min() < qmin or got.max() > qmax):
        return f"{where}: values outside [qmin, qmax] (saturate with clip)"
    # round(x / S) first, then add the zero point (the two differ at exact ties when Z is odd)
    bad = _levels_wrong(got.astype(np.int64) - Z, x / S, qmin - Z, qmax - Z,
                        exact=_power_of_two(S) and _exact_in_float32(x))
    if bad:
        return f"{where}: {bad} of {x.size} levels are wrong (round half to even, then add the zero point)"
    return None


def _dequantize_inputs(rng):
    out = [(np.array([-128, -43, -22, 127]), 3 / 255, -43),
           # int8 levels far from the zero point: q - Z leaves int8's range (int8 arithmetic wraps)
           (np.array([-128, -100, 0, 100, 127], dtype=np.int8), 0.05, 60),
           (np.array([[127, -128], [90, -90]], dtype=np.int8), 0.5, -70)]
    for shape, bits in [((50,), 8), ((6, 7), 4), ((2, 3, 4), 16)]:
        qmin, qmax = -2 ** (bits - 1), 2 ** (bits - 1) - 1
        out.append((rng.integers(qmin, qmax + 1, size=shape).astype(np.int32), float(10.0 ** rng.uniform(-4, 1)),
                    int(rng.integers(qmin, qmax + 1))))
    return out


def _dequantize_check(args, got):
    q, S, Z = args
    where = f"dequantize_affine on a {q.shape} array"
    if not isinstance(got, np.ndarray) or got.shape != q.shape:
        return f"{where} should return a numpy array of shape {q.shape}"
    if got.dtype.kind != "f":
        return f"{where} should return floats, got dtype {got.dtype}"
    want = S * (q.astype(np.float64) - Z)
    if not np.all(np.abs(got.astype(np.float64) - want) <= 1e-6 * np.maximum(np.abs(want), S)):
        return f"{where}: the values are wrong (scale times the distance from the zero point)"
    return None


# --------------------------------------------------------------------------- #
# Task 4: the MSE calibrator
# --------------------------------------------------------------------------- #
def _mse(x, T, bits):
    qmax = 2 ** (bits - 1) - 1
    S = T / qmax
    return float(np.mean((x - S * np.clip(np.rint(x / S), -qmax, qmax)) ** 2))


def _mse_inputs(rng):
    # Exact ties (all zeros: every candidate has error 0; the first must win), and data where
    # the narrow range [-qmax, qmax] and the full one [-qmax - 1, qmax] pick different candidates.
    out = [(np.zeros(10), 4, np.array([0.7, 0.2, 0.9])),
           (np.array([0.0, 1.0, -1.0, 0.0]), 2, np.array([2.0, 1.0, 1.0, 3.0, 1.0])),
           (np.array([-2.0, -2.0, -2.0, 1.0]), 2, np.array([1.0, 2.0])),
           (np.array([-4.0, -4.0, 1.0, 2.0, 3.0]), 3, np.array([2.0, 3.0, 4.0]))]
    for bits, kind in [(8, "laplace"), (4, "laplace"), (4, "normal"), (2, "outliers"), (3, "relu"), (6, "t")]:
        n = 3000
        if kind == "laplace":
            x = rng.laplace(size=n)
        elif kind == "normal":
            x = rng.normal(size=n)
        elif kind == "outliers":
            x = np.concatenate([rng.normal(0, 0.3, n), rng.normal(0, 6, 20)])
        elif kind == "relu":
            x = np.maximum(rng.normal(size=n), 0.0)
        else:
            x = rng.standard_t(3, size=n)
        amax = float(np.abs(x).max())
        cands = np.sort(rng.uniform(0.05, 1.0, size=int(rng.integers(15, 40)))) * amax
        out.append((x, bits, cands))
    return out


def _mse_check(args, got):
    x, bits, cands = args
    where = f"mse_threshold on {x.size} values with {bits} bits and {len(cands)} candidates"
    if not _is_number(got):
        return f"{where} should return a float, got {type(got).__name__}"
    got = float(got)
    if not np.any(np.isclose(cands, got, rtol=1e-12, atol=0)):
        return f"{where}: the result is not one of the candidates"
    errors = np.array([_mse(x, float(T), bits) for T in cands])
    mine = _mse(x, got, bits)
    if mine > errors.min() * (1 + 1e-9) + 1e-15:
        return f"{where}: another candidate has a smaller error (S = T / (2**(bits-1) - 1), narrow clip)"
    first = int(np.flatnonzero(np.isclose(cands, got, rtol=1e-12, atol=0))[0])
    if np.any((errors[:first] == mine) & (cands[:first] != got)):
        return f"{where}: several candidates tie for the smallest error; return the first of them"
    return None


# --------------------------------------------------------------------------- #
# Task 5: an integer-only dense layer
# --------------------------------------------------------------------------- #
def _dense_inputs(rng):
    out = []
    for batch, K, N, per_column in [(3, 5, 4, False), (1, 64, 10, True), (20, 33, 7, True), (6, 2, 1, False),
                                    (4, 48, 16, False)]:
        q_x = rng.integers(-128, 128, size=(batch, K)).astype(np.int8)
        q_w = rng.integers(-127, 128, size=(K, N)).astype(np.int8)
        bias = rng.integers(-20000, 20000, size=N).astype(np.int32)
        zx, zy = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
        scale = 1.0 / (70.0 * np.sqrt(K))        # |acc| is about 7000 sqrt(K): outputs of ~100 levels
        M = rng.uniform(0.3, 3.0, size=N) * scale if per_column else float(rng.uniform(0.3, 3.0) * scale)
        out.append((q_x, zx, q_w, bias, M, zy))
    # Exact ties: power-of-two multipliers, so M * acc lands on x.5 in any arithmetic and
    # half to even is required; small accumulators so nothing saturates.
    q_x = rng.integers(-5, 6, size=(6, 5)).astype(np.int8)
    q_w = rng.integers(-5, 6, size=(5, 4)).astype(np.int8)
    out.append((q_x, 2, q_w, rng.integers(-20, 21, size=4).astype(np.int32), 0.5, -7))
    out.append((q_x, -2, q_w, rng.integers(-20, 21, size=4).astype(np.int32),
                np.array([0.5, 0.25, 0.125, 0.5]), 4))
    return out


def _dense_check(args, got):
    q_x, zx, q_w, bias, M, zy = args
    shape = (q_x.shape[0], q_w.shape[1])
    where = f"integer_dense on a {q_x.shape[0]}x{q_x.shape[1]} input and a {q_w.shape[0]}x{q_w.shape[1]} layer"
    problem = _int_array_problem(where, got, shape)
    if problem:
        return problem
    if got.dtype != np.int8:
        return f"{where} should return int8, got {got.dtype}"
    acc = (q_x.astype(np.int64) - zx) @ q_w.astype(np.int64) + bias.astype(np.int64)
    # round(M * acc) first, then add the output zero point
    bad = _levels_wrong(got.astype(np.int64) - zy, acc * np.asarray(M, dtype=np.float64), -128 - zy, 127 - zy,
                        exact=_power_of_two(M) and bool(np.all(np.abs(acc) < 2 ** 24)))
    if bad:
        return (f"{where}: {bad} of {got.size} outputs are wrong (zero point of the input, bias, "
                "multiplier, output zero point, saturation)")
    return None


# --------------------------------------------------------------------------- #
# Task 6: a running sum in FP16 or FP32
# --------------------------------------------------------------------------- #
def _reference_sum(values, dtype):
    dtype = np.dtype(dtype).type
    acc = dtype(0)
    for v in values.astype(np.float64):
        acc = dtype(acc + v)
    return float(acc)


def _sum_inputs(rng):
    # Multiples of 2**-8 below 4 in magnitude: exact in FP16, and every partial sum is exact
    # in float32 and float64, so each addition rounds once however it is computed.
    # The accumulator type travels by name ("float16", "float32": plain data for the grader).
    out = [(np.ones(3000), "float16")]
    for K, dtype, signed in [(5000, "float16", False), (4000, "float16", True), (700, "float16", False),
                             (5000, "float32", False), (1500, "float32", True)]:
        v = rng.integers(-1024 if signed else 0, 1024, size=K) / 256.0
        out.append((v, dtype))
    return out


def _sum_check(args, got):
    values, dtype = args
    name = np.dtype(dtype).name
    where = f"running_sum of {values.size} values in a {name} accumulator"
    if not _is_number(got):
        return f"{where} should return a float, got {type(got).__name__}"
    if float(got) != _reference_sum(values, dtype):
        exact = float(values.sum())
        hint = " (it equals the exact sum: round after every addition)" if float(got) == exact else ""
        return f"{where} is wrong{hint}"
    return None


# --------------------------------------------------------------------------- #
# Task 7: energy and area of a MAC
# --------------------------------------------------------------------------- #
_ROWS = ("int8_add", "int16_add", "int32_add", "int8_mult", "int32_mult", "fp16_add", "fp32_add",
         "fp16_mult", "fp32_mult")


def _mac_inputs(rng):
    out = []
    for dtype in ("int8", "fp16", "fp32", "int8", "fp16", "fp32"):
        table = {name: {"name": name, "energy_pj": float(rng.uniform(0.01, 10.0)),
                        "area_um2": float(rng.uniform(10, 9000))} for name in _ROWS}
        out.append((table, dtype))
    return out


def _mac_check(args, got):
    table, dtype = args
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not all(_is_number(v) for v in got):
        return "mac_cost should return a pair of numbers (energy_pj, area_um2)"
    acc = {"int8": "int32", "fp16": "fp32", "fp32": "fp32"}[dtype]
    want = (table[f"{dtype}_mult"]["energy_pj"] + table[f"{acc}_add"]["energy_pj"],
            table[f"{dtype}_mult"]["area_um2"] + table[f"{acc}_add"]["area_um2"])
    for what, g, w in (("energy", got[0], want[0]), ("area", got[1], want[1])):
        if not abs(float(g) - w) <= 1e-9 * max(1.0, w):
            return (f"mac_cost(table, {dtype!r}): the {what} is wrong for the table given "
                    "(a multiply in the operand type plus an add in the accumulator type)")
    return None


CASES = {
    "float_value": Case(_float_inputs, _float_check, blocked=_DECODE_ANSWERS, what="float_value"),
    "float_value_edges": Case(_float_edge_inputs, _float_check, blocked=_DECODE_ANSWERS, what="float_value"),
    "affine_qparams": Case(_qparams_inputs, _qparams_check, blocked=_QPARAM_ANSWERS, what="affine_qparams"),
    "quantize_affine": Case(_quantize_inputs, _quantize_check, blocked=_QUANTIZE_ANSWERS, what="quantize_affine"),
    "dequantize_affine": Case(_dequantize_inputs, _dequantize_check, blocked=_QUANTIZE_ANSWERS,
                              what="dequantize_affine"),
    "mse_threshold": Case(_mse_inputs, _mse_check, blocked=_MSE_ANSWERS, what="mse_threshold"),
    "integer_dense": Case(_dense_inputs, _dense_check, blocked=_INTEGER_ANSWERS, what="integer_dense"),
    "running_sum": Case(_sum_inputs, _sum_check, blocked=_SUM_ANSWERS, what="running_sum"),
    "mac_cost": Case(_mac_inputs, _mac_check, blocked=_MAC_ANSWERS, what="mac_cost"),
}
