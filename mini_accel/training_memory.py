"""The memory, compute and communication of training, from one chip to thousands.

Memory of model states (Rajbhandari et al., "ZeRO: Memory Optimizations Toward
Training Trillion Parameter Models", SC 2020, arXiv:1910.02054, Sec. 3.1)
----------------------------------------------------------------------------
Mixed-precision training with Adam keeps, per parameter: the fp16 weights
(2 bytes) and fp16 gradients (2 bytes) used by the forward and backward
passes, plus the optimizer's state in fp32: a master copy of the weights, the
momentum and the variance (4 + 4 + 4 = K = 12 bytes). Total 16 bytes per
parameter: a 7.5B-parameter model needs 120 GB before a single activation.
SGD keeps only the master copy (K = 4), SGD with momentum adds the momentum
(K = 8). :func:`bytes_per_param` gives the break-down, also for fp32 training.

ZeRO data parallelism over N_d chips shards these states instead of
replicating them (the paper's Fig. 1):

* stage 0 (plain data parallel): ``(2 + 2 + K) * P`` per chip;
* stage 1 (P_os, optimizer states): ``(2 + 2) * P + K * P / N_d``;
* stage 2 (P_os+g, plus gradients): ``2 * P + (2 + K) * P / N_d``;
* stage 3 (P_os+g+p, plus parameters): ``(2 + 2 + K) * P / N_d``.

Stages 1 and 2 move as many bytes as plain data parallelism (a gradient
reduce-scatter and a parameter all-gather: 2 P values per chip and step);
stage 3 moves 1.5x that, 3 P (the paper's Sec. 7).

Activations, checkpointing, compute and time
--------------------------------------------
* :func:`activation_bytes` lists what each layer of a
  :class:`mini_accel.nn.Sequential` keeps for its backward pass;
  :func:`transformer_activation_bytes` is Korthikanti et al.'s per-layer
  formula for transformers (MLSys 2023, arXiv:2205.05198, Sec. 4).
* :func:`checkpointing` keeps only every k-th layer's input and recomputes the
  rest during the backward pass: less memory for more FLOPs (Chen et al.,
  "Training Deep Nets with Sublinear Memory Cost", arXiv:1604.06174).
* :func:`training_flops` is the 6 N D rule (Kaplan et al. 2020; the GPT-3
  paper's Table D.1 counts compute this way); :func:`mfu` is model FLOPs
  utilization (Chowdhery et al., PaLM, 2022, Sec. 4.1 / App. B).
* :func:`ring_allreduce_time_s` is the bandwidth-optimal ring all-reduce:
  each chip sends and receives ``2 (N - 1) / N`` times the buffer;
  :func:`step_time_s` overlaps it with the backward pass;
  :func:`plan_training` searches the fewest chips and the lowest ZeRO stage
  that fit a chip's memory and finish before a deadline.

>>> bytes_per_param("adam")["total"]
16
>>> round(zero_bytes_per_chip(7.5e9, 64, 1) / 1e9, 1)      # ZeRO Fig. 1: 31.4 GB
31.4
>>> round(training_flops(174.6e9, 300e9) / 1e23, 2)        # GPT-3 Table D.1: 3.14e23
3.14
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

from ._checks import Options, check_instance, check_int, check_option, fraction, positive_int, positive_number
from .tables import read_table

__all__ = [
    "OPTIMIZERS",
    "bytes_per_param",
    "zero_bytes_per_chip",
    "zero_comm_bytes",
    "activation_bytes",
    "transformer_activation_bytes",
    "checkpointing",
    "training_flops",
    "mfu",
    "ring_allreduce_time_s",
    "step_time_s",
    "training_time_s",
    "plan_training",
    "load_training_runs",
    "load_zero_table",
]

#: fp32 values of optimizer state per parameter (besides a master copy).
OPTIMIZERS = {"sgd": 0, "momentum": 1, "adam": 2}
Optimizer = Literal["sgd", "momentum", "adam"]
#: ``precision`` here names a training *recipe*, not a number format of
#: :data:`mini_accel.formats.FORMATS`: "mixed" is 16-bit weights and gradients
#: (fp16 or bf16, both 2 bytes) with fp32 master weights and optimizer state;
#: "fp32" is fp32 throughout. So it is an Options constraint, not
#: ``formats.canonical_format``.
TrainingPrecision = Literal["mixed", "fp32"]
_PRECISION = Options(("mixed", "fp32"))
_OPTIMIZER = Options(tuple(OPTIMIZERS))
#: Largest chip count :func:`plan_training` searches.
MAX_CHIPS = 1_000_000
#: Longest layer list :func:`checkpointing` takes.
MAX_LAYERS = 100_000


def _stage(stage) -> int:
    return check_int("stage", stage, low=0, high=3)


def bytes_per_param(optimizer: Optimizer = "adam", precision: TrainingPrecision = "mixed") -> dict:
    """Bytes of model state per parameter: weights, gradients, master weights, optimizer state.

    ``precision="mixed"``: fp16/bf16 weights and gradients (2 + 2), fp32
    master weights (4) and fp32 optimizer state (4 per value). ``"fp32"``:
    fp32 weights and gradients (4 + 4), no separate master copy.

    >>> bytes_per_param("adam")
    {'weights': 2, 'gradients': 2, 'master_weights': 4, 'optimizer_state': 8, 'total': 16}
    >>> bytes_per_param("momentum", "fp32")["total"]
    12
    """
    states = OPTIMIZERS[_OPTIMIZER.check("optimizer", optimizer)]
    if _PRECISION.check("precision", precision) == "mixed":
        out = {"weights": 2, "gradients": 2, "master_weights": 4, "optimizer_state": 4 * states}
    else:
        out = {"weights": 4, "gradients": 4, "master_weights": 0, "optimizer_state": 4 * states}
    out["total"] = sum(out.values())
    return out


def zero_bytes_per_chip(n_params, n_chips, stage: int = 0, optimizer: Optimizer = "adam",
                        precision: TrainingPrecision = "mixed") -> float:
    """Model-state bytes on each of ``n_chips`` data-parallel chips with ZeRO ``stage`` (0-3).

    >>> [round(zero_bytes_per_chip(7.5e9, 64, s) / 1e9, 2) for s in range(4)]   # ZeRO Fig. 1
    [120.0, 31.41, 16.64, 1.88]
    """
    P = positive_number("n_params", n_params)
    n = positive_int("n_chips", n_chips, high=MAX_CHIPS)
    stage = _stage(stage)
    b = bytes_per_param(optimizer, precision)
    w, g = b["weights"], b["gradients"]
    k = b["master_weights"] + b["optimizer_state"]
    if stage == 0:
        return (w + g + k) * P
    if stage == 1:
        return (w + g) * P + k * P / n
    if stage == 2:
        return w * P + (g + k) * P / n
    return (w + g + k) * P / n


def zero_comm_bytes(n_params, stage: int = 0, bytes_per_value: int = 2) -> float:
    """Bytes each chip sends per step for gradient sync: 2 P values (stages 0-2), 3 P (stage 3).

    This is the volume of a ring all-reduce of the gradients for large N
    (reduce-scatter + all-gather); the ZeRO paper, Sec. 7.

    >>> zero_comm_bytes(1e9, 0), zero_comm_bytes(1e9, 3)
    (4000000000.0, 6000000000.0)
    """
    P = positive_number("n_params", n_params)
    stage = _stage(stage)
    bpv = positive_int("bytes_per_value", bytes_per_value, high=8)
    return (3.0 if stage == 3 else 2.0) * P * bpv


# --------------------------------------------------------------------------- #
# Activations and checkpointing
# --------------------------------------------------------------------------- #
def activation_bytes(model, input_shape, bytes_per_value: int = 4) -> list[dict]:
    """What each layer of a :class:`mini_accel.nn.Sequential` stores for its backward pass.

    A layer with parameters (Dense, Conv2d) keeps its input, to form
    ``dW = X.T @ dY``; an element-wise activation keeps its input (ReLU
    could keep a 1-bit mask instead; this counts full values); pooling keeps
    its input; Flatten and Softmax (fused with the loss) keep nothing.

    >>> from mini_accel.nn import Sequential, Dense, ReLU, Softmax
    >>> m = Sequential([Dense(64, 32), ReLU(), Dense(32, 10), Softmax()])
    >>> [r["bytes"] for r in activation_bytes(m, (100, 64))]
    [25600, 12800, 12800, 0]
    """
    from .nn import Flatten, Layer, Sequential, Softmax
    from .nn_counting import _shape_arg

    check_instance("model", model, Sequential, what="a mini_accel.nn.Sequential")
    bpv = positive_int("bytes_per_value", bytes_per_value, high=8)
    shape = _shape_arg(input_shape)
    rows = []
    for layer in model.layers:
        assert isinstance(layer, Layer)
        keeps = not isinstance(layer, (Flatten, Softmax))
        values = math.prod(shape) if keeps else 0
        rows.append({"layer": layer.name, "input_shape": shape, "values": values, "bytes": values * bpv})
        shape = layer.output_shape(shape)
    return rows


def transformer_activation_bytes(seq_len, batch, hidden, heads,
                                 recompute: Literal["none", "selective", "full"] = "none") -> float:
    """Activation bytes of one transformer layer with 16-bit activations (Korthikanti et al. 2023).

    ``recompute="none"``: ``s b h (34 + 5 a s / h)`` (their Eq. 1, no
    parallelism); ``"selective"`` (recompute the attention's softmax and
    dropout): ``34 s b h``; ``"full"`` (keep only the layer's input): ``2 s b h``.

    >>> transformer_activation_bytes(2048, 1, 12288, 96) / 2**20   # GPT-3 175B layer, batch 1: 34 + 80
    2736.0
    """
    s, b, h, a = (positive_int(n, v) for n, v in
                  (("seq_len", seq_len), ("batch", batch), ("hidden", hidden), ("heads", heads)))
    recompute = check_option("recompute", recompute, ("none", "selective", "full"))
    if recompute == "none":
        return float(s * b * h * (34 + 5 * a * s / h))
    if recompute == "selective":
        return float(34 * s * b * h)
    return float(2 * s * b * h)


def checkpointing(layer_bytes, layer_flops, every: int) -> dict:
    """Peak activation memory and recomputed FLOPs when only every ``every``-th layer's input is kept.

    ``layer_bytes[i]`` is what layer i stores for its backward pass (its
    input), ``layer_flops[i]`` its forward FLOPs. Segments of ``every``
    layers start at layers 0, every, 2*every, ...; their first inputs
    (the checkpoints) stay in memory. The backward pass walks the segments
    from the last: the last segment's activations are still there from the
    forward pass; every other segment is recomputed from its checkpoint (a
    forward pass of its layers but the last, whose output is not stored).
    ``every=1`` keeps everything (nothing is recomputed); ``every=len`` keeps
    only the input.

    Returns ``peak_bytes``, ``recompute_flops`` and ``baseline_bytes``
    (everything kept).

    >>> checkpointing([4, 4, 4, 4], [10, 10, 10, 10], every=2)
    {'peak_bytes': 12, 'recompute_flops': 10, 'baseline_bytes': 16}
    """
    for name, seq in (("layer_bytes", layer_bytes), ("layer_flops", layer_flops)):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise TypeError(f"{name} must be a list of numbers, one per layer, got {seq!r:.60}")
        if len(seq) > MAX_LAYERS:
            raise ValueError(f"{name} must list at most {MAX_LAYERS:,} layers, got {len(seq):,}")
    a = [int(positive_number(f"layer_bytes[{i}]", v, allow_zero=True)) for i, v in enumerate(layer_bytes)]
    f = [positive_number(f"layer_flops[{i}]", v, allow_zero=True) for i, v in enumerate(layer_flops)]
    if not a or len(a) != len(f):
        raise ValueError(f"layer_bytes and layer_flops must be non-empty and equally long, "
                         f"got {len(a)} and {len(f)}")
    k = positive_int("every", every, high=len(a))
    starts = list(range(0, len(a), k))
    kept = sum(a[s] for s in starts)
    inner = [sum(a[s + 1:s + k]) for s in starts]
    recompute = sum(sum(f[s:min(s + k, len(a)) - 1]) for s in starts[:-1])
    rf = float(recompute)
    return {"peak_bytes": kept + max(inner), "recompute_flops": int(rf) if rf.is_integer() else rf,
            "baseline_bytes": sum(a)}


# --------------------------------------------------------------------------- #
# Compute, utilization, communication, time
# --------------------------------------------------------------------------- #
def training_flops(n_params, n_tokens) -> float:
    """Training FLOPs by the 6 N D rule: 2 per parameter and token forward, 4 backward.

    >>> training_flops(70e9, 2e12)        # Llama 2 70B: 70B parameters, 2.0T tokens
    8.4e+23
    """
    return 6.0 * positive_number("n_params", n_params) * positive_number("n_tokens", n_tokens)


def mfu(n_params, n_tokens, chip_hours, peak_flops) -> float:
    """Model FLOPs utilization: 6 N D over what the chips could have done in ``chip_hours``.

    >>> round(mfu(70e9, 2e12, 1_720_320, 312e12), 3)    # Llama 2 70B on A100s (bf16 peak 312 TFLOPS)
    0.435
    """
    hours = positive_number("chip_hours", chip_hours)
    peak = positive_number("peak_flops", peak_flops)
    return training_flops(n_params, n_tokens) / (hours * 3600.0 * peak)


def ring_allreduce_time_s(n_bytes, n_chips, link_bytes_per_s, latency_s: float = 0.0) -> float:
    """Time of a ring all-reduce of ``n_bytes`` over ``n_chips``: ``2 (N-1) (bytes / N / bw + latency)``.

    A reduce-scatter (N - 1 steps) then an all-gather (N - 1 steps); in each
    step every chip sends one 1/N chunk to its neighbour on its own link.

    >>> ring_allreduce_time_s(1e9, 4, 100e9)    # 2 * 3/4 * 1 GB / 100 GB/s
    0.015
    """
    B = positive_number("n_bytes", n_bytes, allow_zero=True)
    n = positive_int("n_chips", n_chips, high=MAX_CHIPS)
    bw = positive_number("link_bytes_per_s", link_bytes_per_s)
    lat = positive_number("latency_s", latency_s, allow_zero=True)
    if n == 1:
        return 0.0
    return 2 * (n - 1) * (B / n / bw + lat)


def step_time_s(compute_s, comm_s, overlap: float = 1.0) -> float:
    """One step's time when a fraction ``overlap`` of the shorter of compute and communication hides.

    ``overlap=0``: ``compute + comm``; ``overlap=1``: ``max(compute, comm)``
    (gradients are all-reduced bucket by bucket while the backward pass goes on).

    >>> step_time_s(3.0, 1.0, 0.0), step_time_s(3.0, 1.0, 1.0), step_time_s(3.0, 1.0, 0.5)
    (4.0, 3.0, 3.5)
    """
    c = positive_number("compute_s", compute_s, allow_zero=True)
    m = positive_number("comm_s", comm_s, allow_zero=True)
    f = fraction("overlap", overlap)
    return c + m - f * min(c, m)


def training_time_s(n_params, n_tokens, n_chips, *, batch_tokens, peak_flops, mfu, link_bytes_per_s,
                    stage: int = 0, overlap: float = 1.0, latency_s: float = 0.0) -> float:
    """Wall-clock time of a data-parallel training run (mixed precision, 2-byte gradients).

    Steps = ``n_tokens / batch_tokens``; each step computes
    ``6 N batch_tokens / (n_chips peak mfu)`` seconds per chip and moves
    ``zero_comm_bytes`` through a ring (stage 3: 1.5x), overlapped by ``overlap``.

    >>> round(training_time_s(1e9, 1e12, 8, batch_tokens=1e6, peak_flops=1e15, mfu=0.5,
    ...                       link_bytes_per_s=1e11) / 86400, 2)
    17.36
    """
    P = positive_number("n_params", n_params)
    D = positive_number("n_tokens", n_tokens)
    n = positive_int("n_chips", n_chips, high=MAX_CHIPS)
    bt = positive_number("batch_tokens", batch_tokens)
    compute = 6.0 * P * bt / (n * positive_number("peak_flops", peak_flops) * fraction("mfu", mfu, allow_zero=False))
    comm = _comm_s(P, n, _stage(stage), link_bytes_per_s, latency_s)
    return (D / bt) * step_time_s(compute, comm, overlap)


def _comm_s(P, n, stage, bw, lat):
    factor = 1.5 if stage == 3 else 1.0
    return factor * ring_allreduce_time_s(2.0 * P, n, bw, lat)


def plan_training(n_params, n_tokens, *, chip_memory_bytes, batch_tokens, peak_flops, mfu,
                  link_bytes_per_s, deadline_s, activation_bytes_per_chip: float = 0.0,
                  optimizer: Optimizer = "adam", overlap: float = 1.0, latency_s: float = 0.0,
                  max_chips: int = 100_000) -> dict | None:
    """The fewest chips, then the lowest ZeRO stage, that fit memory and meet the deadline.

    Memory per chip: :func:`zero_bytes_per_chip` (mixed precision) plus
    ``activation_bytes_per_chip``, at most ``chip_memory_bytes``. Time:
    :func:`training_time_s`. Every chip count from 1 to ``max_chips`` is
    tried (time is not monotone in the chip count: the all-reduce grows with
    it), with stages 0-3 in order. Returns ``{"n_chips", "stage",
    "time_s", "bytes_per_chip"}`` or None when nothing up to ``max_chips`` works.

    >>> plan = plan_training(7.5e9, 1e11, chip_memory_bytes=80e9, batch_tokens=4e6, peak_flops=312e12,
    ...                      mfu=0.4, link_bytes_per_s=100e9, deadline_s=30 * 86400)
    >>> plan["n_chips"], plan["stage"]     # 417 chip-days of compute in 30 days; 120 GB > 80 GB at stage 0
    (14, 1)
    """
    P = positive_number("n_params", n_params)
    D = positive_number("n_tokens", n_tokens)
    mem = positive_number("chip_memory_bytes", chip_memory_bytes)
    bt = positive_number("batch_tokens", batch_tokens)
    peak = positive_number("peak_flops", peak_flops)
    eff = fraction("mfu", mfu, allow_zero=False)
    bw = positive_number("link_bytes_per_s", link_bytes_per_s)
    deadline = positive_number("deadline_s", deadline_s)
    act = positive_number("activation_bytes_per_chip", activation_bytes_per_chip, allow_zero=True)
    f = fraction("overlap", overlap)
    lat = positive_number("latency_s", latency_s, allow_zero=True)
    top = positive_int("max_chips", max_chips, high=MAX_CHIPS)
    b = bytes_per_param(optimizer)
    w, g, k = b["weights"], b["gradients"], b["master_weights"] + b["optimizer_state"]
    n = np.arange(1, top + 1, dtype=np.float64)
    steps = D / bt
    compute = 6.0 * P * bt / (n * peak * eff)
    ring = np.where(n > 1, 2 * (n - 1) * (2.0 * P / n / bw + lat), 0.0)
    memory = [(w + g + k) * P + 0 * n, (w + g) * P + k * P / n, w * P + (g + k) * P / n, (w + g + k) * P / n]
    best = None
    for stage in range(4):
        comm = ring * (1.5 if stage == 3 else 1.0)
        time = steps * (compute + comm - f * np.minimum(compute, comm))
        ok = np.flatnonzero((memory[stage] + act <= mem) & (time <= deadline))
        if ok.size and (best is None or ok[0] < best[0]):
            best = (int(ok[0]), stage, float(time[ok[0]]), float(memory[stage][ok[0]] + act))
    if best is None:
        return None
    return {"n_chips": best[0] + 1, "stage": best[1], "time_s": best[2], "bytes_per_chip": best[3]}


# --------------------------------------------------------------------------- #
# Published tables
# --------------------------------------------------------------------------- #
_TEXT_COLUMNS = ("model", "chip", "source", "status", "kind")


def _read_csv(name: str) -> list[dict]:
    """A data table with every column but the text ones read as floats (empty cells: None)."""
    header = read_table(name)[0]
    rows = read_table(name, numbers=tuple(c for c in header if c not in _TEXT_COLUMNS))
    return [{k: (None if v == "" else v) for k, v in r.items()} for r in rows]


def load_training_runs() -> list[dict]:
    """Published training runs (``mini_accel/data/training_runs.csv``): params, tokens, compute, chip-hours.

    >>> [r["model"] for r in load_training_runs()][:2]
    ['GPT-3 Small', 'GPT-3 Medium']
    """
    return _read_csv("training_runs.csv")


def load_zero_table() -> list[dict]:
    """The ZeRO paper's per-chip model-state memory (``mini_accel/data/zero_memory.csv``), in GB.

    >>> len(load_zero_table()) > 0
    True
    """
    return _read_csv("zero_memory.csv")
