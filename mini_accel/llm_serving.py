"""Serving an LLM on real chips: roofline time per token, batch limits, several chips, cost.

A :class:`Deployment` is a model from :mod:`mini_accel.llm` on ``count`` chips
of a catalog device (:mod:`mini_accel.devices`), with a weight precision
(fp16/bf16/fp8/int8/int4) and a KV-cache precision (fp16/bf16/fp8/int8). Its
times are roofline times, ``max(FLOPs / peak, bytes / bandwidth)`` per chip,
plus the tensor-parallel all-reduces:

* **TTFT** (time to first token) = the prefill of the prompt(s);
* **TPOT** (time per output token) = one decode step at the given context.

The arithmetic runs at the weight precision when the device has a peak for
it (W8A8 int8, fp8); otherwise (int4, or fp8 on a chip without fp8) the
weights are only *stored* that small and are expanded to fp16/bf16 for the
multiply (weight-only quantization), which saves bytes but not FLOPs.

Tensor parallelism splits every weight matrix over ``count`` chips (Megatron
style: two all-reduces of the activations per layer, one after attention and
one after the MLP). An all-reduce of ``S`` bytes over ``p`` chips in a ring
takes ``2 (p - 1) / p x S / link + 2 (p - 1) x latency`` (every chip sends and
receives ``2 (p-1)/p`` of the data, in ``2 (p-1)`` hops). The link is one
chip's bandwidth *in one direction*: NVLink 4 on the H100 SXM gives 450 GB/s
(the datasheet's 900 GB/s counts both directions), PCIe Gen5 x16 about 64 GB/s.
Communication is not overlapped with compute (an upper bound on time).

``compute_efficiency`` and ``memory_efficiency`` scale the peak and the
bandwidth (1.0 = the roofline, an upper bound on speed; real kernels reach a
fraction of it, see :func:`compare_measurements`).

>>> from mini_accel.llm_serving import Deployment
>>> dep = Deployment("Llama-2-7B", "H100 SXM5", weights="fp16")
>>> round(dep.tpot_s(context=0) * 1e3, 2)          # 13.2 GB of streamed weights / 3.35 TB/s
3.94
>>> dep.memory_bound_batch_limit(context=0)        # decode turns compute bound from this batch on
299
>>> print(dep.memory_bound_batch_limit(context=1024))  # MHA: reading 0.5 MB of KV per cached token never pays off
None
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ._checks import check_instance, check_option, fraction, positive_int, positive_number
from .cloud import chip_prices
from .formats import canonical_format
from .llm import (
    _ACTIVATION_BYTES,
    _TOKENS,
    _TOKENS1,
    KV_PRECISIONS,
    WEIGHT_PRECISIONS,
    KVPrecision,
    WeightPrecision,
    decode_cost,
    get_model,
    kv_bytes_per_token,
    prefill_cost,
    weight_bytes,
)
from .tables import read_table

__all__ = [
    "LINKS", "PRICES", "Deployment", "StepTime", "ring_allreduce_s", "tensor_parallel_step_s",
    "pipeline_parallel", "cost_per_million_tokens", "load_measurements", "compare_measurements",
]

#: One chip's link bandwidth in one direction (bytes/s) and where it comes from.
LINKS = {
    "nvlink4": (450e9, "NVIDIA H100 SXM datasheet: NVLink 900 GB/s total (18 links), i.e. 450 GB/s each "
                       "direction"),
    "nvlink3": (300e9, "NVIDIA A100 SXM datasheet: NVLink 600 GB/s total (12 links), 300 GB/s each direction"),
    "pcie5": (64e9, "NVIDIA H100 PCIe/SXM datasheets: PCIe Gen5 128 GB/s total, 64 GB/s each direction"),
    "pcie4": (32e9, "NVIDIA A100 datasheet: PCIe Gen4 64 GB/s total, 32 GB/s each direction"),
}

#: On-demand cloud prices, USD per chip-hour: ``{device_name: (usd_per_chip_hour, source)}``, a
#: read-only view derived from ``mini_accel/data/cloud_instances.csv`` (the course's one price table)
#: by :func:`mini_accel.cloud.chip_prices`: per catalog chip, the cheapest sourced on-demand offer of
#: that chip, with its date and status in ``source``. Prices change: see the table's dates.
PRICES = MappingProxyType(chip_prices())


def _link_bandwidth(link) -> float:
    if isinstance(link, str):
        return LINKS[check_option("link", link, tuple(LINKS))][0]     # or a number: bytes/s
    return positive_number("link", link)


def ring_allreduce_s(size_bytes, chips: int, link, latency_s: float = 0.0) -> float:
    """Time of a ring all-reduce of ``size_bytes`` over ``chips`` chips (0 for one chip).

    >>> ring_allreduce_s(1e6, 4, 100e9)         # 2 x 3/4 x 1 MB / 100 GB/s
    1.5e-05
    """
    size = positive_number("size_bytes", size_bytes, allow_zero=True)
    p = positive_int("chips", chips)
    bw = _link_bandwidth(link)
    lat = positive_number("latency_s", latency_s, allow_zero=True)
    if p == 1:
        return 0.0
    return 2.0 * (p - 1) / p * size / bw + 2.0 * (p - 1) * lat


def tensor_parallel_step_s(flops, bytes_moved, allreduce_bytes, allreduces: int, chips: int,
                           peak_flops, bandwidth, link, latency_s: float = 0.0) -> float:
    """One step split over ``chips`` chips: the per-chip roofline plus the all-reduces.

    ``max(flops / (p peak), bytes / (p bandwidth)) + allreduces x ring_allreduce_s(...)``.

    >>> tensor_parallel_step_s(2e12, 14e9, 8192 * 2, 160, 4, 989e12, 3.35e12, 450e9, 5e-6) * 1e3
    ... # doctest: +ELLIPSIS
    5.85...
    """
    flops = positive_number("flops", flops, allow_zero=True)
    moved = positive_number("bytes_moved", bytes_moved, allow_zero=True)
    n = positive_int("allreduces", allreduces, low=0)
    p = positive_int("chips", chips)
    compute = flops / (p * positive_number("peak_flops", peak_flops))
    memory = moved / (p * positive_number("bandwidth", bandwidth))
    return max(compute, memory) + n * ring_allreduce_s(allreduce_bytes, p, link, latency_s)


def pipeline_parallel(stage_time_s, stages: int, microbatches: int) -> dict:
    """A GPipe-style pipeline: ``stages`` chips each hold ``layers / stages`` layers.

    ``microbatches`` flow through; the batch takes ``(m + p - 1)`` stage times
    and the **bubble** (idle share) is ``(p - 1) / (m + p - 1)`` (Huang et al.,
    GPipe, NeurIPS 2019). A single token still crosses every stage: pipelining
    adds memory and throughput, never lower latency.

    >>> r = pipeline_parallel(1e-3, stages=4, microbatches=4)
    >>> r["time_s"], round(r["bubble"], 3)
    (0.007, 0.429)
    """
    t = positive_number("stage_time_s", stage_time_s)
    p, m = positive_int("stages", stages), positive_int("microbatches", microbatches)
    return {"time_s": (m + p - 1) * t, "bubble": (p - 1) / (m + p - 1),
            "latency_s": p * t, "throughput_per_s": m / ((m + p - 1) * t)}


def cost_per_million_tokens(usd_per_chip_hour, tokens_per_s, chips: int = 1) -> float:
    """USD per million generated tokens for ``chips`` chips rented at ``usd_per_chip_hour``.

    >>> round(cost_per_million_tokens(2.49, 1000.0), 3)        # $2.49 / 3.6 M tokens
    0.692
    """
    price = positive_number("usd_per_chip_hour", usd_per_chip_hour, allow_zero=True)
    rate = positive_number("tokens_per_s", tokens_per_s)
    return price * positive_int("chips", chips) / (rate * 3600.0) * 1e6


@dataclass(frozen=True)
class StepTime:
    """A step's time and what sets it (per chip, before communication).

    >>> StepTime(2e-3, 1e-3, 2e-3, 0.0, 4e12, 2e9).bound
    'memory'
    """

    time_s: float
    compute_s: float
    memory_s: float
    comm_s: float
    flops: float
    bytes: float

    @property
    def bound(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes


class Deployment:
    """A model served on ``count`` chips of one device with tensor parallelism.

    Parameters
    ----------
    model : str or LLMConfig
    device : str or Device
        A catalog device (fragment of its name is enough).
    weights, kv : str
        Weight precision (fp16/bf16/fp8/int8/int4) and KV-cache precision
        (fp16/bf16/fp8/int8).
    count : int
        Chips; weights, KV heads and FLOPs are split evenly (KV heads are
        replicated when there are fewer than ``count``).
    link : str or float
        A name from :data:`LINKS` or one direction's bandwidth in bytes/s.
    link_latency_s : float
        Fixed time per hop of an all-reduce (0: bandwidth only).
    compute_efficiency, memory_efficiency : float in (0, 1]
        Share of the peak FLOPs and of the memory bandwidth a real kernel reaches.

    >>> dep = Deployment("Llama-2-70B", "H100 SXM5", weights="int8", count=2)
    >>> dep.compute_precision, round(dep.weight_bytes / 1e9, 1)
    ('int8', 69.0)
    """

    def __init__(self, model, device, weights: WeightPrecision = "fp16", kv: KVPrecision = "fp16",
                 count: int = 1, link="nvlink4", link_latency_s: float = 0.0, compute_efficiency: float = 1.0,
                 memory_efficiency: float = 1.0):
        from .devices import Device, get_device
        self.model = get_model(model)
        self.device = device if isinstance(device, Device) else get_device(device)
        self.weights = canonical_format(weights, name="weights", allowed=WEIGHT_PRECISIONS)
        self.kv = canonical_format(kv, name="kv", allowed=KV_PRECISIONS)
        self.count = positive_int("count", count, high=4096)
        self.link_bandwidth = _link_bandwidth(link)
        self.link_latency_s = positive_number("link_latency_s", link_latency_s, allow_zero=True)
        self.compute_efficiency = fraction("compute_efficiency", compute_efficiency, allow_zero=False)
        self.memory_efficiency = fraction("memory_efficiency", memory_efficiency, allow_zero=False)
        if self.device.bandwidth is None or self.device.mem_gb is None:
            raise ValueError(f"{self.device.name} has no published memory size or bandwidth in the catalog; "
                             "pick a device that has both (e.g. 'H100 SXM5' or 'A100 SXM4')")
        self.compute_precision = self._compute_precision()

    def __repr__(self) -> str:
        return (f"Deployment({self.model.name!r}, {self.device.name!r}, weights={self.weights!r}, "
                f"kv={self.kv!r}, count={self.count})")

    def _compute_precision(self) -> str:
        peaks = self.device.peaks
        if self.weights in ("fp8", "int8", "fp16", "bf16") and self.weights in peaks:
            return self.weights
        for p in ("bf16", "fp16") if self.weights == "bf16" else ("fp16", "bf16"):
            if p in peaks:
                return p
        raise ValueError(f"{self.device.name} has no fp16/bf16 peak in the catalog to run {self.weights} "
                         f"weights; it lists {list(self.device.precisions)}")

    # -- the chips ------------------------------------------------------------
    @property
    def peak_flops(self) -> float:
        """Achievable FLOP/s of one chip at the compute precision."""
        return self.device.peak(self.compute_precision) * self.compute_efficiency

    @property
    def bandwidth(self) -> float:
        """Achievable DRAM bytes/s of one chip."""
        return self.device.bandwidth * self.memory_efficiency

    @property
    def memory_bytes(self) -> float:
        """DRAM of all chips together (the catalog's GB x 1e9)."""
        return self.device.mem_gb * 1e9 * self.count

    @property
    def weight_bytes(self) -> float:
        """Bytes of all weights at the weight precision (:func:`mini_accel.llm.weight_bytes`)."""
        return weight_bytes(self.model, self.weights)

    def kv_bytes_per_token(self) -> float:
        """KV bytes one token takes in the whole deployment (replicated heads counted).

        >>> Deployment("Llama-2-70B", "H100 SXM5", count=16).kv_bytes_per_token() / 1024   # 8 heads, 2 copies
        640.0
        """
        replicas = max(1, self.count // self.model.kv_heads) if self.count > self.model.kv_heads else 1
        return kv_bytes_per_token(self.model, self.kv) * replicas

    def _time(self, cost) -> StepTime:
        p = self.count
        kv_share = min(p, self.model.kv_heads)          # heads split over at most kv_heads chips
        chip_bytes = cost.weight_bytes / p + (cost.kv_read_bytes + cost.kv_write_bytes) / kv_share
        compute_s = cost.flops / p / self.peak_flops
        memory_s = chip_bytes / self.bandwidth
        size = cost.tokens * self.model.hidden * _ACTIVATION_BYTES
        comm_s = 2 * self.model.layers * ring_allreduce_s(size, p, self.link_bandwidth, self.link_latency_s)
        return StepTime(max(compute_s, memory_s) + comm_s, compute_s, memory_s, comm_s, cost.flops,
                        cost.bytes)

    # -- one step -------------------------------------------------------------
    def prefill(self, prompt_tokens: int, batch: int = 1) -> StepTime:
        """The prefill of ``batch`` prompts of ``prompt_tokens`` tokens as a :class:`StepTime`.

        >>> Deployment("Llama-2-7B", "H100 SXM5").prefill(2048).bound
        'compute'
        """
        return self._time(prefill_cost(self.model, prompt_tokens, batch, self.weights, self.kv))

    def decode(self, context: int, batch: int = 1) -> StepTime:
        """One decode step of ``batch`` sequences at ``context`` cached tokens as a :class:`StepTime`.

        >>> Deployment("Llama-2-7B", "H100 SXM5").decode(1024).bound
        'memory'
        """
        return self._time(decode_cost(self.model, context, batch, self.weights, self.kv))

    def ttft_s(self, prompt_tokens: int, batch: int = 1) -> float:
        """Time to first token: the prefill of ``batch`` prompts of ``prompt_tokens`` tokens."""
        return self.prefill(prompt_tokens, batch).time_s

    def tpot_s(self, context: int, batch: int = 1) -> float:
        """Time per output token: one decode step of ``batch`` sequences at ``context``."""
        return self.decode(context, batch).time_s

    def decode_tokens_per_s(self, context: int, batch: int = 1) -> float:
        """Tokens per second of the whole batch during decode (``batch / TPOT``).

        >>> round(Deployment("Llama-2-7B", "H100 SXM5").decode_tokens_per_s(0))
        253
        """
        return positive_int("batch", batch) / self.tpot_s(context, batch)

    def roofline_point(self, context: int, batch: int = 1) -> dict:
        """Where a decode step sits on one chip's roofline (FLOPs per byte, achieved FLOP/s).

        >>> p = Deployment("Llama-2-7B", "H100 SXM5").roofline_point(0)
        >>> p["bound"], round(p["ridge"])
        ('memory', 295)
        """
        step = self.decode(context, batch)
        ridge = self.peak_flops / self.bandwidth
        return {"intensity": step.intensity, "ridge": ridge, "bound": step.bound,
                "attainable_flops": min(self.peak_flops, step.intensity * self.bandwidth),
                "achieved_flops": step.flops / self.count / step.time_s}

    # -- batch limits ---------------------------------------------------------
    def memory_bound_batch_limit(self, context: int, limit: int = 1 << 20) -> int | None:
        """Smallest batch whose decode step at ``context`` is compute bound (None if none up to ``limit``).

        Below it, a bigger batch costs almost no extra time per step: the
        weights are read once for the whole batch (example: the module docstring).
        """
        _TOKENS.check("context", context)
        limit = positive_int("limit", limit)
        if self.decode(context, limit).bound == "memory":
            return None
        lo, hi = 0, limit          # decode(lo) memory bound (or lo = 0), decode(hi) compute bound
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.decode(context, mid).bound == "memory":
                lo = mid
            else:
                hi = mid
        return hi

    def max_batch(self, context: int, reserve_fraction: float = 0.0) -> int:
        """Largest batch whose KV cache (``context + 1`` tokens each) fits next to the weights.

        ``reserve_fraction`` of the memory is kept free for activations and
        the runtime. 0 when the weights alone do not fit.

        >>> Deployment("Llama-2-70B", "H100 SXM5", count=2).max_batch(4096)   # 22 GB left / 1.34 GB each
        16
        """
        t = _TOKENS.check("context", context)
        free = self.memory_bytes * (1 - fraction("reserve_fraction", reserve_fraction)) - self.weight_bytes
        if free <= 0:
            return 0
        return int(free // ((t + 1) * self.kv_bytes_per_token()))

    def fits(self, batch: int, context: int) -> bool:
        """Whether ``batch`` KV caches of ``context + 1`` tokens fit next to the weights.

        >>> Deployment("Llama-2-70B", "H100 SXM5", count=2).fits(16, 4096)
        True
        """
        return positive_int("batch", batch) <= self.max_batch(context)

    def generation_s(self, prompt_tokens: int, output_tokens: int, batch: int = 1) -> float:
        """A static batch end to end: prefill, then ``output_tokens - 1`` decode steps.

        The decode steps are summed in chunks of vectorised step times
        (:class:`~mini_accel.llm_sim.StepModel`, equal to :meth:`tpot_s` step by step).

        >>> dep = Deployment("Llama-2-7B", "H100 SXM5")
        >>> abs(dep.generation_s(100, 3) - (dep.ttft_s(100) + dep.tpot_s(100) + dep.tpot_s(101))) < 1e-12
        True
        """
        from .llm_sim import StepModel
        n, g = _TOKENS1.check("prompt_tokens", prompt_tokens), _TOKENS1.check("output_tokens", output_tokens)
        b = positive_int("batch", batch)
        steps, total, chunk = StepModel(self), self.ttft_s(n, b), 1 << 16
        for start in range(0, g - 1, chunk):      # contexts n .. n + g - 2
            contexts = n + np.arange(start, min(start + chunk, g - 1), dtype=np.float64)
            total += float(np.sum(steps.decode_s(b, b * contexts)))
        return total

    def usd_per_hour(self, usd_per_chip_hour=None) -> float:
        if usd_per_chip_hour is None:
            if self.device.name not in PRICES:
                raise KeyError(f"no price for {self.device.name}: cloud_instances.csv has no sourced on-demand "
                               f"offer of it; pass usd_per_chip_hour (priced chips: {sorted(PRICES)})")
            usd_per_chip_hour = PRICES[self.device.name][0]
        return positive_number("usd_per_chip_hour", usd_per_chip_hour, allow_zero=True) * self.count


# --------------------------------------------------------------------------- #
# Published measurements
# --------------------------------------------------------------------------- #
def load_measurements() -> list:
    """Rows of ``mini_accel/data/llm_measurements.csv`` (published LLM serving measurements).

    >>> r = load_measurements()[0]
    >>> r["metric"], r["batch"], r["measured"]
    ('ttft_ms', 1, 7.0)
    """
    return read_table("llm_measurements.csv", ints=("batch", "count", "input_tokens", "output_tokens"),
                      numbers=("measured",))


_METRICS = ("ttft_ms", "tokens_per_s_per_gpu")


def model_value(row: dict, compute_efficiency: float = 1.0, memory_efficiency: float = 1.0) -> float:
    """The model's number for one measurement row (same metric and unit as ``row["measured"]``).

    >>> round(model_value(load_measurements()[0]), 2)      # TensorRT-LLM measured 7 ms
    1.98
    """
    check_instance("row", row, dict, what="a row of load_measurements()")
    missing = [k for k in ("metric", "model", "device", "weights", "kv", "count", "link", "batch",
                           "input_tokens", "output_tokens") if k not in row]
    if missing:
        raise ValueError(f"row must be a row of load_measurements(); it lacks {missing}")
    metric = check_option("row['metric']", row["metric"], _METRICS)
    dep = Deployment(row["model"], row["device"], weights=row["weights"], kv=row["kv"], count=row["count"],
                     link=row["link"], compute_efficiency=compute_efficiency,
                     memory_efficiency=memory_efficiency)
    if metric == "ttft_ms":
        return dep.ttft_s(row["input_tokens"], row["batch"]) * 1e3
    t = dep.generation_s(row["input_tokens"], row["output_tokens"], row["batch"])
    return row["batch"] * row["output_tokens"] / t / row["count"]


def compare_measurements(compute_efficiency: float = 1.0, memory_efficiency: float = 1.0) -> list:
    """Each published measurement next to the model: ``ratio`` = measured / model, as a speed.

    A ratio of 1 is a perfect prediction; the pure roofline (efficiencies 1)
    must give ratios <= 1 (real kernels never beat the roof).

    >>> max(r["ratio"] for r in compare_measurements()) <= 1
    True
    """
    out = []
    for r in load_measurements():
        value = model_value(r, compute_efficiency, memory_efficiency)
        speed_ratio = (value / r["measured"]) if r["metric"] == "ttft_ms" else (r["measured"] / value)
        out.append({**r, "predicted": value, "ratio": speed_ratio})
    return out
