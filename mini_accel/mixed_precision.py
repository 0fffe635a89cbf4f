"""Mixed precision: FP16 arithmetic, FP32 accumulation, loss scaling, master weights.

Micikevicius et al., "Mixed Precision Training", ICLR 2018 (arXiv:1710.03740)
train in FP16 without losing accuracy with three techniques, each shown here
on a small example:

1. **FP16 multiply, FP32 accumulate.** A product of two FP16 numbers is exact
   in FP32 (11 x 11 significant bits < 24), so the only rounding that matters
   is in the running sum. Accumulating in FP16 loses the small addends once
   the sum is large: adding 1.0 to 2048 in FP16 gives 2048 again (the gap
   between FP16 numbers there is 2). :func:`matmul_fp16` computes either way,
   one rounding per multiply-add, in the order a MAC column adds;
   :func:`accumulation_error` shows the error growing with K.
2. **Loss scaling.** FP16 flushes magnitudes below 2**-25 to zero (the
   smallest subnormal is 2**-24), and small gradients are exactly such
   values. Multiplying the loss by S (8 to 32K in the paper) shifts the
   gradients up into range; they are divided by S again, in FP32, before the
   update. :func:`fp16_underflow` counts what FP16 keeps;
   :class:`DynamicLossScaler` finds S on the fly.
3. **FP32 master weights.** An update smaller than half the gap between
   FP16 numbers around a weight is lost: with w = 1, any step below 2**-11
   vanishes (the paper: when the weight is 2048 times the update). The
   update goes into an FP32 copy of the weights, and the FP16 copy used in
   the forward and backward passes is re-rounded from it every step.
   :func:`master_weights_demo` shows it.

:func:`train_regression` runs the whole recipe on a small least-squares
problem in four precisions.

Example
-------
>>> import numpy as np
>>> from mini_accel.mixed_precision import matmul_fp16
>>> a = np.ones((1, 4096)); b = np.ones((4096, 1))
>>> float(matmul_fp16(a, b, accumulate="fp16")[0, 0])   # stalls at 2048: 2048 + 1 rounds to 2048
2048.0
>>> float(matmul_fp16(a, b, accumulate="fp32")[0, 0])
4096.0
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ._checks import check_bool, check_int, check_number, check_option, check_size
from .formats import canonical_format, format_info
from .quantizers import _samples

__all__ = [
    "FP16_MIN_SUBNORMAL",
    "FP16_MIN_NORMAL",
    "FP16_MAX",
    "matmul_fp16",
    "accumulation_error",
    "fp16_underflow",
    "update_is_lost",
    "master_weights_demo",
    "DynamicLossScaler",
    "RegressionRun",
    "train_regression",
]

_FP16 = format_info("fp16")
FP16_MIN_SUBNORMAL = _FP16.smallest_subnormal      # 2**-24
FP16_MIN_NORMAL = _FP16.smallest_normal            # 2**-14
FP16_MAX = _FP16.max                               # 65504
#: Accumulator formats of :func:`matmul_fp16` (registry names; aliases such as "float32" work).
Accumulate = Literal["fp32", "fp16"]
_ACCUMULATE = Accumulate.__args__


def _fp16(x) -> np.ndarray:
    """Round to FP16 (nearest even) and return the exact values as float64."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float64).astype(np.float16).astype(np.float64)


def _fp32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


# --------------------------------------------------------------------------- #
# 1. FP16 multiply with FP32 or FP16 accumulation
# --------------------------------------------------------------------------- #
def matmul_fp16(A, B, accumulate: Accumulate = "fp32") -> np.ndarray:
    """``A @ B`` with FP16 inputs, exact products and an FP32 or FP16 running sum.

    Inputs are first rounded to FP16. For every output the K products are
    added one after the other (k = 0, 1, ...), as partial sums flow down a
    MAC column, with one rounding per step: ``acc = round(acc + a * b)`` to
    the accumulator format (a fused multiply-add). Returns float64 holding
    the accumulator's exact values.

    For ``accumulate="fp32"`` this is what :class:`~mini_accel.SystolicArray`
    computes for float16 operands when K fits in the array rows (the tests
    check it bit for bit).

    >>> matmul_fp16([[1.0, 2.0**-12]], [[1.0], [1.0]], "fp16").tolist()   # 1 + 2**-12 -> 1
    [[1.0]]
    >>> matmul_fp16([[1.0, 2.0**-12]], [[1.0], [1.0]], "fp32").tolist()
    [[1.000244140625]]
    """
    accumulate = canonical_format(accumulate, name="accumulate", allowed=_ACCUMULATE)
    a = _samples("A", A)
    b = _samples("B", B)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"A (M, K) and B (K, N) must be matrices with matching K, got "
                         f"{a.shape} and {b.shape}")
    check_size("the multiply-adds of A @ B (M*K*N)", a.shape[0] * a.shape[1] * b.shape[1])
    a16, b16 = _fp16(a), _fp16(b)
    if not (np.isfinite(a16).all() and np.isfinite(b16).all()):
        raise ValueError(f"A or B has values beyond the FP16 range (+-{FP16_MAX:g})")
    round_acc = _fp32 if accumulate == "fp32" else _fp16
    acc = np.zeros((a.shape[0], b.shape[1]))
    for k in range(a.shape[1]):
        # acc + a*b is exact in float64 whenever one rounding to fp16/fp32 could
        # depend on it (products have <= 22 significant bits), so the cast
        # below rounds exactly once, like a fused multiply-add.
        acc = round_acc(acc + np.outer(a16[:, k], b16[k, :]))
    return acc


def accumulation_error(k_values=(16, 64, 256, 1024, 4096, 16384), trials: int = 8,
                       seed: int = 0, low: float = 0.0, high: float = 1.0) -> list[dict]:
    """Relative error of FP16-input dot products with FP32 vs FP16 accumulation, vs K.

    For each K, ``trials`` dot products of K values drawn uniformly from
    ``[low, high)`` (then rounded to FP16) are computed with
    :func:`matmul_fp16` and compared with the exact result (float64 sum of the
    exact products). Returns one dict per K: ``K``, ``fp32_rel_error``,
    ``fp16_rel_error`` (means of |error| / |exact|).

    >>> rows = accumulation_error((16, 4096), trials=2)
    >>> [r["K"] for r in rows], rows[1]["fp16_rel_error"] > 100 * rows[1]["fp32_rel_error"]
    ([16, 4096], True)
    """
    trials = check_int("trials", trials, low=1, high=1000)
    low = check_number("low", low)
    high = check_number("high", high, low=low)
    ks = [check_int("k_values", k, low=1, high=1_000_000) for k in
          (k_values if isinstance(k_values, (list, tuple, range, np.ndarray)) else [k_values])]
    if not ks:
        raise ValueError("k_values must name at least one K, got an empty sequence")
    check_size("the multiply-adds of all trials (trials**2 * sum(k_values))", trials * trials * sum(ks))
    rng = np.random.default_rng(seed)
    rows = []
    for K in ks:
        a = _fp16(rng.uniform(low, high, size=(trials, K)))
        b = _fp16(rng.uniform(low, high, size=(K, trials)))
        exact = np.einsum("tk,kt->t", a, b)        # float64: error ~1e-16, far below fp32's
        errs = {}
        for acc in _ACCUMULATE:
            # one dot product per trial: the diagonal of a (trials, trials) product
            got = np.diagonal(matmul_fp16(a, b, acc))
            errs[acc] = float(np.mean(np.abs(got - exact) / np.abs(exact)))
        rows.append({"K": K, "fp32_rel_error": errs["fp32"], "fp16_rel_error": errs["fp16"]})
    return rows


# --------------------------------------------------------------------------- #
# 2. Underflow and loss scaling
# --------------------------------------------------------------------------- #
def fp16_underflow(values, loss_scale: float = 1.0) -> dict:
    """What happens to ``values * loss_scale`` in FP16.

    Returns the fractions of the non-zero values that become ``zero``, land in
    the ``subnormal`` range (fewer than 11 significant bits), stay ``normal``,
    or ``overflow`` to inf; and ``lost`` = zero + overflow.

    >>> r = fp16_underflow([2.0**-26, 2.0**-20, 1e-3, 1e5])
    >>> r["zero"], r["subnormal"], r["normal"], r["overflow"]
    (0.25, 0.25, 0.25, 0.25)
    >>> fp16_underflow([2.0**-26], loss_scale=8)["subnormal"]          # 2**-23 is kept
    1.0
    """
    v = _samples("values", values).astype(np.float64).ravel()
    loss_scale = check_number("loss_scale", loss_scale, low=0, closed="neither")
    v = v[v != 0] * loss_scale
    if v.size == 0:
        raise ValueError("values has no non-zero entries")
    h = np.abs(_fp16(v))
    zero = h == 0
    inf = np.isinf(h)
    sub = (h > 0) & (h < FP16_MIN_NORMAL)
    out = {"zero": float(zero.mean()), "subnormal": float(sub.mean()),
           "normal": float((~zero & ~inf & ~sub).mean()), "overflow": float(inf.mean())}
    out["lost"] = out["zero"] + out["overflow"]
    return out


@dataclass
class DynamicLossScaler:
    """Dynamic loss scaling: back off on inf/NaN gradients, grow after a run of good steps.

    The defaults are PyTorch ``torch.amp.GradScaler``'s: start at 2**16,
    halve on overflow (and skip that step), double after 2000 good steps.

    >>> s = DynamicLossScaler(init_scale=1024.0, growth_interval=2)
    >>> s.update(found_inf=True), s.scale                  # skip the step, halve
    (False, 512.0)
    >>> s.update(False), s.update(False), s.scale          # two good steps: double
    (True, True, 1024.0)
    """

    init_scale: float = 2.0 ** 16
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000
    scale: float = field(init=False)
    good_steps: int = field(init=False, default=0)
    skipped: int = field(init=False, default=0)

    def __post_init__(self):
        self.init_scale = check_number("init_scale", self.init_scale, low=0, closed="neither")
        self.growth_factor = check_number("growth_factor", self.growth_factor, low=1, closed="neither")
        self.backoff_factor = check_number("backoff_factor", self.backoff_factor, low=0, high=1,
                                           closed="neither")
        self.growth_interval = check_int("growth_interval", self.growth_interval, low=1)
        self.scale = self.init_scale

    def update(self, found_inf: bool) -> bool:
        """Record one step; returns whether the optimizer should apply it."""
        if check_bool("found_inf", found_inf):
            self.scale *= self.backoff_factor
            self.good_steps = 0
            self.skipped += 1
            return False
        self.good_steps += 1
        if self.good_steps == self.growth_interval:
            self.scale *= self.growth_factor
            self.good_steps = 0
        return True


# --------------------------------------------------------------------------- #
# 3. Master weights
# --------------------------------------------------------------------------- #
def update_is_lost(weight, update) -> np.ndarray:
    """Whether ``fp16(weight + update) == fp16(weight)``: the step vanishes in FP16.

    >>> update_is_lost(1.0, [2.0**-11, 2.0**-11 + 2.0**-20, 2.0**-10]).tolist()   # tie -> even (1.0)
    [True, False, False]
    """
    w = _fp16(_samples("weight", weight))
    u = _samples("update", update).astype(np.float64)
    return _fp16(w + u) == w


def master_weights_demo(weight: float = 1.0, update: float = 1e-4, steps: int = 1000) -> dict:
    """Add ``update`` to ``weight`` ``steps`` times: in FP16 alone, and via an FP32 master copy.

    >>> r = master_weights_demo(1.0, 1e-4, 1000)
    >>> r["fp16"], round(r["fp32_master"], 4), r["exact"]
    (1.0, 1.1, 1.1)
    """
    steps = check_int("steps", steps, low=1, high=10 ** 7)
    weight, update = check_number("weight", weight), check_number("update", update)
    w16 = float(_fp16(weight))
    master = np.float32(weight)
    u32 = np.float32(update)
    for _ in range(int(steps)):
        w16 = float(_fp16(w16 + float(_fp16(update))))
        master = np.float32(master + u32)
    return {"fp16": w16, "fp32_master": float(master), "fp16_copy": float(_fp16(master)),
            "exact": float(weight + steps * update)}


# --------------------------------------------------------------------------- #
# The whole recipe on a small regression
# --------------------------------------------------------------------------- #
Mode = Literal["fp32", "fp16", "fp16_master", "mixed"]
MODES = Mode.__args__


@dataclass(frozen=True)
class RegressionRun:
    """Result of :func:`train_regression`: loss per step and what underflowed.

    >>> run = train_regression("fp16", steps=5)
    >>> run.mode, run.loss.shape, run.skipped_steps, run.final_scale
    ('fp16', (5,), 0, 1.0)
    """

    mode: str
    loss: np.ndarray                 # float64 loss of the current weights, before each step
    weights: np.ndarray              # final weights (float64 values)
    zero_gradients: float            # mean fraction of per-sample gradients flushed to 0
    skipped_steps: int
    final_scale: float


def train_regression(mode: Mode = "mixed", steps: int = 200, lr: float = 0.5,
                     loss_scale="dynamic", n: int = 256, d: int = 8,
                     target_scale: float = 1e-3, seed: int = 0) -> RegressionRun:
    """Least squares ``min_w mean((X w - y)**2) / 2`` by gradient descent in four precisions.

    The problem: ``X`` is ``n x d`` standard normal, ``y = X w_true`` with
    ``w_true ~ N(0, target_scale**2)``, both stored in FP16 (so every mode
    solves the same problem, whose best loss is not 0 because of the rounding
    of ``y``); ``w`` starts at 0. Small targets make small residuals, and the
    per-sample gradient ``(x.w - y) / n`` soon falls below FP16's range -- the
    situation of Micikevicius et al.'s Fig. 3.

    Modes:

    ``fp32``
        Everything in float32 (the reference).
    ``fp16``
        Weights, activations and gradients in FP16 (FP32 accumulation inside
        matmuls, rounded to FP16 on write); no loss scaling; the update is
        applied to the FP16 weights.
    ``fp16_master``
        FP16 compute with an FP32 master copy of the weights, but no loss
        scaling.
    ``mixed``
        The full recipe: FP32 master weights, FP16 compute, loss scaling
        (``loss_scale`` a number, or ``"dynamic"`` for a
        :class:`DynamicLossScaler` that starts at 2**16). Gradients are
        unscaled in FP32 before the update; a step whose scaled gradient
        overflowed to inf is skipped (counted in ``skipped_steps``).

    >>> ref = train_regression("fp32"); plain = train_regression("fp16"); mp = train_regression("mixed")
    >>> plain.zero_gradients > 0.05, mp.zero_gradients == 0.0
    (True, True)
    >>> bool(plain.loss[-1] > 20 * ref.loss[-1]), bool(mp.loss[-1] < 3 * ref.loss[-1])
    (True, True)

    (The mixed run ends near, not at, the FP32 loss: its FP16 activations
    still round to 11 significant bits.)
    """
    mode = check_option("mode", mode, MODES)
    steps = check_int("steps", steps, low=1, high=100_000)
    n, d = check_int("n", n, low=1, high=10 ** 6), check_int("d", d, low=1, high=10 ** 4)
    check_size("X (n * d)", n * d)
    lr = check_number("lr", lr, low=0, closed="neither")
    target_scale = check_number("target_scale", target_scale, low=0, closed="neither")
    scaler = None
    if mode == "mixed":
        if isinstance(loss_scale, str):
            check_option("loss_scale", loss_scale, ("dynamic",))
            scaler = DynamicLossScaler()
        else:
            loss_scale = check_number("loss_scale", loss_scale, low=0, closed="neither")
    rng = np.random.default_rng(seed)
    # The data set is stored in FP16, so every mode solves the same problem.
    X = _fp16(rng.standard_normal((n, d)))
    y = _fp16(X @ (target_scale * rng.standard_normal(d)))
    low = _fp32 if mode == "fp32" else _fp16            # storage/compute format
    Xl, yl = low(X), low(y)
    w = np.zeros(d)                                     # master (fp32) or only copy
    losses, zero_frac, skipped = [], [], 0
    for _ in range(steps):
        losses.append(0.5 * float(np.mean((X @ w - y) ** 2)))
        S = 1.0 if mode != "mixed" else (scaler.scale if scaler else float(loss_scale))
        w_c = low(w)                                    # the copy used for compute
        pred = low(_fp32(Xl @ w_c))                     # fp32 accumulate, round on write
        resid = low(pred - yl)
        exact_g = S * resid / n                         # d(S * loss) / d(pred_i)
        g = low(exact_g)
        zero_frac.append(float(np.mean((g == 0) & (exact_g != 0))))
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected below
            grad = low(_fp32(Xl.T @ g))                 # weight gradient, still scaled
        if mode == "mixed":
            finite = bool(np.isfinite(grad).all())
            if scaler is not None:
                finite = scaler.update(not finite)      # backs off on overflow
            if not finite:
                skipped += 1                            # overflow: skip the step
                continue
        step = _fp32(lr * (_fp32(grad) / S))            # unscale in fp32
        w = low(w - step) if mode == "fp16" else _fp32(w - step)
    return RegressionRun(mode=mode, loss=np.array(losses), weights=w,
                         zero_gradients=float(np.mean(zero_frac)),
                         skipped_steps=skipped,
                         final_scale=scaler.scale if scaler else
                         (float(loss_scale) if mode == "mixed" else 1.0))
