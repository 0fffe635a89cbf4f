"""The roofline model: attainable throughput = min(peak, intensity x bandwidth).

Williams, Waterman and Patterson, "Roofline: An Insightful Visual Performance
Model for Multicore Architectures", CACM 52(4), 2009. A kernel that does
``ops`` operations while moving ``bytes`` to or from memory has an
*operational intensity* ``I = ops / bytes``. On a machine with peak ``P``
(ops/s) and memory bandwidth ``B`` (bytes/s) it cannot run faster than
``min(P, I * B)``. The *ridge point* ``P / B`` separates memory-bound kernels
(left of it) from compute-bound ones (right).

Units here: ops (1 MAC = 2 ops) per second, bytes per second, ops per byte.

>>> from mini_accel.roofline import Roofline, gemm_intensity
>>> roof = Roofline("toy", peak=100e12, bandwidth=1e12)
>>> roof.ridge, roof.attainable(10.0) / 1e12, roof.bound(1000.0)
(100.0, 10.0, 'compute')
>>> gemm_intensity(1024, 1024, 1024, bytes_per_element=2)    # 2*1024^3 ops / (3 * 1024^2 * 2 B)
341.3333333333333

The TPU v1 paper (Jouppi et al., ISCA 2017, Figs. 5-7) plots its rooflines
against operations per byte of *weights* fetched, where its "ops" on that
axis are multiply-accumulates (Table 1 lists ops/weight byte equal to the
batch size for the MLPs, i.e. one MAC per weight per example). With the
paper's Table 2 numbers, :func:`tpu_paper_ridge_points` gives the ridges of
its figures: TPU 92 TOPS / (2 x 34 GB/s) = 1353 (paper: 1350), Haswell 1.3
TFLOPS / (2 x 51 GB/s) = 12.7 (13), K80 2.8 TFLOPS / (2 x 160 GB/s) = 8.75 (9).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import UnknownName, check_bool, check_int, check_option, positive_array, positive_number

__all__ = [
    "Roofline",
    "attainable",
    "ridge_point",
    "gemm_intensity",
    "layer_intensity",
    "network_intensity",
    "model_intensity",
    "TPU_PAPER_PLATFORMS",
    "TPU_PAPER_RIDGE_POINTS",
    "tpu_paper_rooflines",
    "tpu_paper_ridge_points",
    "tpu_paper_points",
]


def attainable(intensity, peak, bandwidth):
    """``min(peak, intensity * bandwidth)``, element-wise for arrays.

    >>> attainable([1.0, 10.0, 1000.0], peak=50.0, bandwidth=2.0).tolist()
    [2.0, 20.0, 50.0]
    """
    I = positive_array("intensity", intensity)
    P = positive_number("peak", peak)
    B = positive_number("bandwidth", bandwidth)
    out = np.minimum(P, I * B)
    return float(out) if out.ndim == 0 else out


def ridge_point(peak, bandwidth) -> float:
    """Intensity (ops/byte) where ``peak == intensity * bandwidth``.

    >>> ridge_point(92e12, 34e9)
    2705.8823529411766
    """
    return positive_number("peak", peak) / positive_number("bandwidth", bandwidth)


@dataclass(frozen=True)
class Roofline:
    """One machine's roofline at one precision.

    Parameters
    ----------
    name : str
    peak : float
        Peak throughput in ops/s (1 MAC = 2 ops).
    bandwidth : float
        Memory bandwidth in bytes/s.
    precision, source : str
        What the peak is for and where the numbers come from.

    >>> Roofline("toy", peak=8e12, bandwidth=1e11).time(ops=8e12, bytes_moved=1e9)
    1.0
    """

    name: str
    peak: float
    bandwidth: float
    precision: str = ""
    source: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {type(self.name).__name__}")
        object.__setattr__(self, "peak", positive_number("peak", self.peak))
        object.__setattr__(self, "bandwidth", positive_number("bandwidth", self.bandwidth))

    @property
    def ridge(self) -> float:
        """Ridge point in ops per byte."""
        return self.peak / self.bandwidth

    def attainable(self, intensity):
        """Attainable ops/s at ``intensity`` (ops/byte); arrays work element-wise.

        >>> Roofline("toy", 100.0, 2.0).attainable([10.0, 100.0]).tolist()
        [20.0, 100.0]
        """
        return attainable(intensity, self.peak, self.bandwidth)

    def bound(self, intensity) -> str:
        """``"memory"`` left of the ridge, ``"compute"`` at or right of it.

        >>> Roofline("toy", 100.0, 2.0).bound(50.0), Roofline("toy", 100.0, 2.0).bound(49.0)
        ('compute', 'memory')
        """
        I = float(positive_number("intensity", intensity))
        return "memory" if I < self.ridge else "compute"

    def time(self, ops, bytes_moved) -> float:
        """Lower bound on run time: ``max(ops / peak, bytes / bandwidth)`` seconds.

        >>> Roofline("toy", 100.0, 2.0).time(ops=100.0, bytes_moved=10.0)
        5.0
        """
        ops = positive_number("ops", ops, allow_zero=True)
        moved = positive_number("bytes_moved", bytes_moved, allow_zero=True)
        return max(ops / self.peak, moved / self.bandwidth)

    def with_bandwidth(self, bandwidth, name: str | None = None) -> Roofline:
        """The same compute with another memory (e.g. the paper's TPU' with GDDR5).

        >>> Roofline("toy", 100e12, 1e12).with_bandwidth(2e12).ridge
        50.0
        """
        return dataclasses.replace(self, bandwidth=bandwidth, name=name or f"{self.name} (bw changed)")

    @classmethod
    def from_device(cls, device, precision: str | None = None) -> Roofline:
        """The roofline of a catalog :class:`~mini_accel.devices.Device` (default: its fastest precision).

        >>> from mini_accel.devices import get_device
        >>> round(Roofline.from_device(get_device("A100"), "bf16").ridge)   # 312 TFLOPS / 2039 GB/s
        153
        """
        from .devices import Device
        if not isinstance(device, Device):
            raise TypeError(f"device must be a catalog Device (devices.get_device(name)), "
                            f"got {type(device).__name__}")
        if precision is None:
            precision = device.best_precision()
            if precision is None:
                raise UnknownName(f"{device.name} has no published peak in the catalog")
        if device.bandwidth is None:
            raise UnknownName(f"{device.name} has no published memory bandwidth in the catalog")
        return cls(device.name, device.peak(precision), device.bandwidth, precision, device.source)

    @classmethod
    def from_preset(cls, preset) -> Roofline:
        """The roofline of an :class:`~mini_accel.devices.AcceleratorPreset`.

        >>> from mini_accel.devices import get_preset
        >>> round(Roofline.from_preset(get_preset("tpu_v1")).ridge)     # 91.75 TOPS / 34 GB/s
        2699
        """
        from .devices import AcceleratorPreset
        if not isinstance(preset, AcceleratorPreset):
            raise TypeError(f"preset must be an AcceleratorPreset (devices.get_preset(key)), "
                            f"got {type(preset).__name__}")
        return cls(preset.name, preset.peak_ops, preset.dram_bandwidth, preset.precision,
                   "; ".join(f"{k}: {v}" for k, v in preset.sources.items()))


# --------------------------------------------------------------------------- #
# Operational intensity of GEMMs, layers and networks
# --------------------------------------------------------------------------- #
def gemm_intensity(M, K, N, bytes_per_element: float = 1.0, *, weights_only: bool = False,
                   out_bytes_per_element: float | None = None) -> float:
    """Ops per byte of one ``(M, K) @ (K, N)`` GEMM with perfect on-chip reuse.

    Each operand crosses the memory interface once: ``M*K + K*N`` inputs and
    ``M*N`` outputs (``out_bytes_per_element`` each, default the same as the
    inputs; 4 for int32 accumulators). With ``weights_only=True`` only the
    ``K*N`` weights count, the TPU paper's convention. ``M`` is the batch
    for a dense layer: intensity grows with the batch until the weights
    stop dominating the traffic. The sizes are ints (a fractional size is a
    TypeError, not rounded).

    >>> round(gemm_intensity(1, 4096, 4096), 3)   # batch 1: about 2 ops per weight byte
    1.999
    >>> gemm_intensity(200, 4096, 4096, weights_only=True)   # 2 * batch
    400.0
    """
    M, K, N = (check_int(n, v, low=1) for n, v in (("M", M), ("K", K), ("N", N)))
    weights_only = check_bool("weights_only", weights_only)
    b = positive_number("bytes_per_element", bytes_per_element)
    ob = b if out_bytes_per_element is None else positive_number("out_bytes_per_element",
                                                                 out_bytes_per_element)
    ops = 2.0 * M * K * N
    moved = K * N * b if weights_only else (M * K + K * N) * b + M * N * ob
    return ops / moved


def layer_intensity(layer, bytes_per_element: float = 1.0, *, weights_only: bool = False) -> float:
    """Ops per byte of a :class:`~mini_accel.workloads.WorkloadLayer` with a GEMM.

    Counts the layer's real tensors (input, output, weights), not the
    im2col copy: the on-chip reuse of a convolution is what makes its
    intensity high.

    >>> from mini_accel.workloads import get_workload
    >>> fc = get_workload("resnet50").gemm_layers()[-1]          # the 2048 x 1000 classifier
    >>> round(layer_intensity(fc, weights_only=True), 3)         # batch 1: 2 ops per weight byte
    2.0
    """
    from .workloads import WorkloadLayer
    if not isinstance(layer, WorkloadLayer):
        raise TypeError(f"layer must be a WorkloadLayer (workload.layers[i]), got {type(layer).__name__}")
    weights_only = check_bool("weights_only", weights_only)
    if getattr(layer, "gemm", None) is None:
        raise ValueError(f"layer {getattr(layer, 'name', layer)!r} has no GEMM, so no GEMM intensity")
    b = positive_number("bytes_per_element", bytes_per_element)
    moved = layer.weight_elems if weights_only else layer.weight_elems + layer.input_elems + layer.output_elems
    if moved == 0:
        raise ValueError(f"layer {layer.name!r} moves no {'weights' if weights_only else 'data'}")
    return 2.0 * layer.macs / (moved * b)


def network_intensity(network, batch: int | None = None, bytes_per_element: float = 1.0, *,
                      weights_only: bool = False, **kwargs) -> float:
    """Ops per byte of a whole network at a batch size.

    ``network`` is a :class:`~mini_accel.workloads.Workload` or the name of
    one (``"resnet50"``, ``"mobilenet_v2"``, ``"bert_base_layer"``,
    ``"bert_base"``, ``"gpt2_small_decode"``), built at ``batch`` (default 1)
    with ``kwargs``. Weights are read once per batch; activations (unless
    ``weights_only``) once per layer input and output.

    >>> round(network_intensity("gpt2_small_decode", batch=1, weights_only=True), 2)
    2.31
    """
    from .workloads import Workload, get_workload
    weights_only = check_bool("weights_only", weights_only)
    if isinstance(network, str):
        network = get_workload(network, batch=1 if batch is None else batch, **kwargs)
    elif not isinstance(network, Workload):
        raise TypeError(f"network must be a Workload or a workload name, got {type(network).__name__}")
    elif (batch is not None and batch != network.batch) or kwargs:
        raise ValueError(f"{network.name} was built at batch {network.batch}; rebuild it to change "
                         "the batch or other arguments, or pass its name")
    return network.intensity(bytes_per_element, weights_only=weights_only)


def model_intensity(model, input_shape, bytes_per_element: float = 1.0, *,
                    weights_only: bool = False) -> float:
    """GEMM ops per byte of a :class:`mini_accel.nn.Sequential` on inputs of ``input_shape``.

    Ops are 2 per MAC (the element-wise ops are not counted, as in
    :meth:`Workload.intensity`); bytes are the weights once, plus every
    layer's input and output unless ``weights_only``.

    >>> from mini_accel.nn import Sequential, Dense, ReLU
    >>> m = Sequential([Dense(64, 64, rng=0), ReLU(), Dense(64, 10, rng=0)])
    >>> model_intensity(m, (100, 64), weights_only=True)     # 2 ops per weight per example
    200.0
    """
    from .nn import Sequential
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a mini_accel.nn.Sequential, got {type(model).__name__}")
    weights_only = check_bool("weights_only", weights_only)
    b = positive_number("bytes_per_element", bytes_per_element)
    rows = model.summary(input_shape)
    ops = 2.0 * sum(r["macs"] for r in rows)
    moved = sum(r["gemm"].K * r["gemm"].N * r["gemm"].count for r in rows if r["gemm"] is not None)
    if not weights_only:
        moved += sum(math.prod(r["input_shape"]) + math.prod(r["output_shape"]) for r in rows)
    if moved == 0 or ops == 0:
        raise ValueError("the model has no GEMM layers, so no GEMM intensity")
    return ops / (moved * b)


# --------------------------------------------------------------------------- #
# The TPU v1 paper's rooflines (Jouppi et al. 2017, Figs. 5-7, Table 2)
# --------------------------------------------------------------------------- #
#: (label, catalog device name, precision of the peak used in the paper's roofline)
TPU_PAPER_PLATFORMS = (
    ("TPU", "Google TPU v1", "int8"),
    ("Haswell", "Intel Xeon E5-2699 v3 (Haswell) per die", "fp32"),
    ("K80", "NVIDIA K80 per die (TPU-paper config)", "fp32"),
)
#: Ridge points printed in the captions of Figs. 5, 6 and 7, in (MAC) ops per weight byte.
TPU_PAPER_RIDGE_POINTS = {"TPU": 1350, "Haswell": 13, "K80": 9}


def tpu_paper_rooflines() -> dict:
    """The three rooflines of the paper from the device catalog (Table 2 numbers).

    Haswell and K80 use their floating-point peaks (1.3 and 2.8 TOPS): with
    the 2.6 TOPS 8-bit peak the Haswell ridge would be 25, not the 13 of
    Fig. 6.

    >>> sorted(tpu_paper_rooflines())
    ['Haswell', 'K80', 'TPU']
    """
    from .devices import get_device
    return {label: Roofline.from_device(get_device(name), precision)
            for label, name, precision in TPU_PAPER_PLATFORMS}


def tpu_paper_ridge_points() -> dict:
    """Ridge points in the paper's units: multiply-accumulates per weight byte.

    >>> {k: round(v, 2) for k, v in tpu_paper_ridge_points().items()}
    {'TPU': 1352.94, 'Haswell': 12.75, 'K80': 8.75}
    """
    return {label: roof.ridge / 2.0 for label, roof in tpu_paper_rooflines().items()}


def tpu_paper_points(platform: Literal["TPU", "Haswell", "K80"] = "TPU") -> list:
    """The six apps on one platform's roofline (x in MACs per weight byte, y in TOPS).

    x is Table 1's "TPU Ops / Weight Byte" for every platform (the paper's
    Figs. 6-7 place the apps at the CPU's and GPU's own batch sizes, which
    Table 4 gives only for MLP0, so the CPU/GPU points here are a what-if at
    the TPU's batch sizes). ``measured_tops`` is Table 3 and exists for the
    TPU only.

    >>> pts = tpu_paper_points("TPU")
    >>> [(p["app"], p["bound"]) for p in pts][:3], round(pts[0]["attainable_tops"], 1)
    ([('MLP0', 'memory'), ('MLP1', 'memory'), ('LSTM0', 'memory')], 13.6)
    """
    from .workloads import tpu_v1_apps
    roofs = tpu_paper_rooflines()
    try:
        roof = roofs[check_option("platform", platform, tuple(roofs))]
    except ValueError as exc:       # a KeyError too, as before: a catalog look-up
        raise UnknownName(str(exc)) from None
    out = []
    for app in tpu_v1_apps():
        ops_per_byte = 2.0 * app.macs_per_weight_byte
        out.append({
            "app": app.name,
            "macs_per_weight_byte": app.macs_per_weight_byte,
            "attainable_tops": roof.attainable(ops_per_byte) / 1e12,
            "measured_tops": app.measured_tops if platform == "TPU" else None,
            "bound": roof.bound(ops_per_byte),
        })
    return out
