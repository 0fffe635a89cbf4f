"""Edge vs server: latency and throughput vs batch, energy per inference, deadlines, cost.

The bus and the sports car
--------------------------
A batch of ``b`` inferences on one device takes (:class:`BatchModel`)::

    latency(b) = overhead + max(b * ops_per_item / (efficiency * peak),
                                (weight_bytes + b * activation_bytes) / bandwidth)

The weights are fetched once per batch and shared by all ``b`` inferences.
At small batches the weight fetch dominates: latency hardly grows with ``b``
and throughput ``b / latency(b)`` rises almost linearly (the bus leaves
with more passengers for the same trip). Past the roofline's ridge the
compute term dominates: latency grows in proportion to ``b`` and throughput
stops growing (the bus is full). A latency deadline caps the batch
(:meth:`BatchModel.max_batch`), as in the TPU paper's Table 4, where MLP0
had to meet a 7 ms 99th-percentile limit.

The model is an upper bound on throughput: it ignores host overheads
(unless given as ``overhead_s``), queueing and imperfect overlap.

Cost of ownership
-----------------
:func:`total_cost_of_ownership`: purchase price spread evenly over the years
of service, plus electricity = average power x PUE x hours x price; with
:meth:`TCO.cost_per_inference` for a device busy a fraction ``utilization``
of the time. Every default is a named constant below with its source.

>>> from mini_accel.edge_server import BatchModel
>>> mlp0 = BatchModel("MLP0 on TPU v1", ops_per_item=2 * 20e6, weight_bytes=20e6,
...                   peak_ops=92e12, bandwidth=34e9)
>>> round(mlp0.latency(1) * 1e6), round(mlp0.throughput(200))   # us; weights: 20 MB / 34 GB/s
(588, 340000)
>>> mlp0.max_batch(deadline_s=7e-3)                              # compute: b * 0.435 us <= 7 ms
16100
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import check_array, check_number, check_option, fraction, positive_int, positive_number

__all__ = [
    "HOURS_PER_YEAR",
    "DEFAULT_PUE",
    "PUE_HYPERSCALE",
    "DEFAULT_USD_PER_KWH",
    "DEFAULT_YEARS",
    "DEFAULT_UTILIZATION",
    "DEFAULT_DEADLINE_S",
    "DEFAULT_SOURCES",
    "BatchModel",
    "energy_per_inference",
    "TCO",
    "total_cost_of_ownership",
    "compare_targets",
]

#: Hours in an average year (365.25 days).
HOURS_PER_YEAR = 365.25 * 24
#: Average PUE of data centers in the Uptime Institute's 2021 Global Data Center Survey.
DEFAULT_PUE = 1.57
#: Google's fleet PUE, second quarter of 2021: what a hyperscaler reaches.
PUE_HYPERSCALE = 1.10
#: US average retail electricity price for industrial customers in 2023, USD per kWh.
DEFAULT_USD_PER_KWH = 0.0806
#: Years over which the purchase is spread: the US tax recovery period of computers.
DEFAULT_YEARS = 5
#: Fraction of the time a server is busy: midpoint of the 10-50% band where servers spend most time.
DEFAULT_UTILIZATION = 0.3
#: Latency limit of the TPU paper's MLP0 (99th percentile), seconds.
DEFAULT_DEADLINE_S = 7e-3

DEFAULT_SOURCES = {
    "DEFAULT_PUE": "Uptime Institute Global Data Center Survey 2021, average PUE 1.57, as "
                   "reported by CNBC, 2022-04-13 ('Google data center goal...') (S)",
    "PUE_HYPERSCALE": "Google's most recent published PUE, 1.1 for Q2 2021, same CNBC article (S)",
    "DEFAULT_USD_PER_KWH": "U.S. EIA, average retail price of electricity to industrial "
                           "consumers 2023: 8.06 cents/kWh (EIA data as charted by Statista) (S)",
    "DEFAULT_YEARS": "IRS Publication 946, MACRS: computers and peripheral equipment are "
                     "5-year property (S, via tax guides quoting it)",
    "DEFAULT_UTILIZATION": "Barroso & Hoelzle, 'The Case for Energy-Proportional Computing', "
                           "IEEE Computer 40(12), 2007: servers spend most of their time at "
                           "10-50% utilization; 0.3 is the midpoint (D)",
    "DEFAULT_DEADLINE_S": "Jouppi et al. ISCA 2017 Table 4: MLP0 99th-percentile response-time "
                          "limit of 7 ms (P)",
}


def energy_per_inference(power_w, throughput_ips) -> float:
    """Joules per inference: power (W = J/s) over throughput (inferences/s).

    >>> energy_per_inference(40.0, 225_000)      # TPU v1 busy power, MLP0 IPS (Table 4)
    0.00017777777777777779
    """
    return positive_number("power_w", power_w) / positive_number("throughput_ips", throughput_ips)


@dataclass(frozen=True)
class BatchModel:
    """Latency, throughput and energy of a network on a device as a function of batch size.

    Parameters
    ----------
    name : str
    ops_per_item : float
        Operations per inference (2 per MAC).
    weight_bytes : float
        Bytes of weights fetched from memory once per batch.
    peak_ops, bandwidth : float
        Device peak (ops/s) and memory bandwidth (bytes/s).
    activation_bytes : float
        Bytes of activations per inference that go through memory (0 when
        they stay on chip).
    power_w : float, optional
        Power drawn while running (needed for energy).
    efficiency : float
        Fraction of peak compute actually reached (0, 1].
    overhead_s : float
        Fixed time per batch (host, launch, transfer), seconds.

    >>> m = BatchModel("toy", ops_per_item=2e9, weight_bytes=1e8, peak_ops=1e12, bandwidth=1e10)
    >>> m.latency(1), m.bound(1), m.balanced_batch      # weights: 10 ms; compute: 2 ms per item
    (0.01, 'memory', 5.0)
    """

    name: str
    ops_per_item: float
    weight_bytes: float
    peak_ops: float
    bandwidth: float
    activation_bytes: float = 0.0
    power_w: float | None = None
    efficiency: float = 1.0
    overhead_s: float = 0.0

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {type(self.name).__name__}")
        object.__setattr__(self, "ops_per_item", positive_number("ops_per_item", self.ops_per_item))
        object.__setattr__(self, "weight_bytes", positive_number("weight_bytes", self.weight_bytes, allow_zero=True))
        object.__setattr__(self, "peak_ops", positive_number("peak_ops", self.peak_ops))
        object.__setattr__(self, "bandwidth", positive_number("bandwidth", self.bandwidth))
        object.__setattr__(self, "activation_bytes",
                           positive_number("activation_bytes", self.activation_bytes, allow_zero=True))
        if self.power_w is not None:
            object.__setattr__(self, "power_w", positive_number("power_w", self.power_w))
        object.__setattr__(self, "efficiency", fraction("efficiency", self.efficiency, allow_zero=False))
        object.__setattr__(self, "overhead_s", positive_number("overhead_s", self.overhead_s, allow_zero=True))

    # -- the model ---------------------------------------------------------
    def _batches(self, batch):
        if isinstance(batch, (bool, np.bool_)):
            raise TypeError(f"batch must be a positive int (or an array of them), got {batch!r}")
        try:
            b = check_array("batch", batch, dtype=None, finite=False)
        except TypeError:
            raise TypeError(f"batch must be a positive int (or an array of them), got {batch!r}") from None
        if b.dtype.kind not in "iu" and not (b.dtype.kind == "f" and np.all(b == np.round(b))):
            raise TypeError(f"batch must be a positive int (or an array of them), got {batch!r}")
        if np.any(b < 1):
            raise ValueError(f"batch must be >= 1, got {batch!r}")
        return b.astype(np.float64)

    def compute_time(self, batch):
        """Seconds of arithmetic for ``batch`` inferences at ``efficiency`` x peak.

        >>> BatchModel("t", 2e9, 1e8, 1e12, 1e10).compute_time(4)
        0.008
        """
        b = self._batches(batch)
        return _scalar(b * self.ops_per_item / (self.efficiency * self.peak_ops))

    def memory_time(self, batch):
        """Seconds to move the weights once and ``batch`` x the activations.

        >>> BatchModel("t", 2e9, 1e8, 1e12, 1e10).memory_time(4)
        0.01
        """
        b = self._batches(batch)
        return _scalar((self.weight_bytes + b * self.activation_bytes) / self.bandwidth)

    def latency(self, batch):
        """Seconds to run one batch of ``batch`` inferences (arrays work element-wise).

        >>> BatchModel("t", 2e9, 1e8, 1e12, 1e10, overhead_s=1e-3).latency([1, 10]).tolist()
        [0.011, 0.021]
        """
        return _scalar(self.overhead_s + np.maximum(self.compute_time(batch), self.memory_time(batch)))

    def throughput(self, batch):
        """Inferences per second at ``batch``.

        >>> BatchModel("t", 2e9, 1e8, 1e12, 1e10).throughput(10)
        500.0
        """
        return _scalar(self._batches(batch) / self.latency(batch))

    def energy_per_inference(self, batch):
        """Joules per inference at ``batch``: power x latency / batch.

        >>> BatchModel("t", 2e9, 1e8, 1e12, 1e10, power_w=50.0).energy_per_inference(10)
        0.1
        """
        if self.power_w is None:
            raise ValueError(f"{self.name}: power_w is unknown, so energy cannot be computed")
        return _scalar(self.power_w * self.latency(batch) / self._batches(batch))

    def bound(self, batch: int) -> str:
        """Which term sets the latency at ``batch``: ``"memory"`` or ``"compute"``.

        >>> m = BatchModel("t", 2e9, 1e8, 1e12, 1e10)
        >>> m.bound(4), m.bound(5)
        ('memory', 'compute')
        """
        return "compute" if self.compute_time(batch) >= self.memory_time(batch) else "memory"

    @property
    def balanced_batch(self) -> float:
        """Batch where compute time equals memory time (inf if compute never catches up)."""
        per_item = self.ops_per_item / (self.efficiency * self.peak_ops) - self.activation_bytes / self.bandwidth
        return self.weight_bytes / self.bandwidth / per_item if per_item > 0 else math.inf

    def max_batch(self, deadline_s, limit: int = 1 << 20) -> int:
        """Largest batch whose latency meets ``deadline_s`` (0 if even batch 1 misses).

        Latency grows with the batch, so a bisection finds the answer;
        ``limit`` caps the search.

        >>> BatchModel("t", 2e9, 1e8, 1e12, 1e10).max_batch(0.02)      # 2 ms per item
        10
        """
        deadline_s = positive_number("deadline_s", deadline_s)
        limit = positive_int("limit", limit)
        if self.latency(1) > deadline_s:
            return 0
        lo, hi = 1, limit
        if self.latency(hi) <= deadline_s:
            return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.latency(mid) <= deadline_s:
                lo = mid
            else:
                hi = mid
        return lo

    def curve(self, batches) -> dict:
        """Latency, throughput and (if power is known) energy per inference over ``batches``.

        >>> BatchModel("t", 2e9, 1e8, 1e12, 1e10).curve([1, 10])["throughput_ips"].tolist()
        [100.0, 500.0]
        """
        b = self._batches(batches).ravel()
        out = {"batch": b.astype(np.int64), "latency_s": np.atleast_1d(self.latency(b)),
               "throughput_ips": np.atleast_1d(self.throughput(b))}
        if self.power_w is not None:
            out["energy_j"] = np.atleast_1d(self.energy_per_inference(b))
        return out

    # -- construction from the catalog ----------------------------------------
    @classmethod
    def from_workload(cls, workload, target, *, precision: str | None = None,
                      bytes_per_element: float = 1.0,
                      activations: Literal["on_chip", "all"] = "on_chip",
                      power_w: float | None = None, efficiency: float = 1.0,
                      overhead_s: float = 0.0) -> BatchModel:
        """A model of ``workload`` (a batch-1 Workload, or a name) on ``target``.

        ``target`` is a catalog :class:`~mini_accel.devices.Device` (or its
        name), an :class:`~mini_accel.devices.AcceleratorPreset` (or its key),
        or a :class:`~mini_accel.roofline.Roofline`. ``activations`` is
        ``"on_chip"`` (only weights come from memory) or ``"all"`` (every
        layer's input and output go through memory). Power defaults to the
        catalog's measured busy power where one is published, else its ``tdp_w`` (see
        :attr:`~mini_accel.devices.Device.energy_power_w`; read the caveats).

        >>> m = BatchModel.from_workload("resnet50", "tpu_v1")
        >>> m.bound(1), m.bound(64)
        ('memory', 'compute')
        """
        from .devices import PRESETS, AcceleratorPreset, Device, get_device
        from .roofline import Roofline
        from .workloads import Workload, get_workload

        if isinstance(workload, str):
            workload = get_workload(workload)
        if not isinstance(workload, Workload):
            raise TypeError(f"workload must be a Workload or a workload name, got {type(workload).__name__}")
        if workload.batch != 1:
            raise ValueError(f"build the workload at batch 1 (got batch {workload.batch}); "
                             "the model scales it with the batch")
        activations = check_option("activations", activations, ("on_chip", "all"))
        b = positive_number("bytes_per_element", bytes_per_element)
        if isinstance(target, str):
            target = PRESETS[target] if target in PRESETS else get_device(target)
        if isinstance(target, Device):
            roof = Roofline.from_device(target, precision)
            power = target.energy_power_w
        elif isinstance(target, AcceleratorPreset):
            roof = Roofline.from_preset(target)
            dev = target.device()
            power = dev.energy_power_w if dev is not None else None
        elif isinstance(target, Roofline):
            roof, power = target, None
        else:
            raise TypeError(f"target must be a Device, AcceleratorPreset, Roofline or a name, "
                            f"got {type(target).__name__}")
        return cls(
            name=f"{workload.name} on {roof.name}", ops_per_item=2.0 * workload.macs,
            weight_bytes=workload.weight_elems * b, peak_ops=roof.peak, bandwidth=roof.bandwidth,
            activation_bytes=workload.activation_elems() * b if activations == "all" else 0.0,
            power_w=power_w if power_w is not None else power, efficiency=efficiency,
            overhead_s=overhead_s,
        )


def _scalar(x):
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


# --------------------------------------------------------------------------- #
# Total cost of ownership
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class TCO:
    """Yearly and total cost of one device; see :func:`total_cost_of_ownership`.

    >>> t = total_cost_of_ownership(1000, 100, years=5, pue=1.0, usd_per_kwh=0.1, utilization=0.5,
    ...                             idle_power_fraction=0.0)
    >>> t.average_power_w, round(t.energy_usd_per_year, 2), t.capex_usd_per_year
    (50.0, 43.83, 200.0)
    """

    purchase_usd: float
    power_w: float
    years: float
    pue: float
    usd_per_kwh: float
    utilization: float
    idle_power_fraction: float

    @property
    def average_power_w(self) -> float:
        """IT power averaged over the year: idle draw plus the busy share of the rest."""
        idle = self.idle_power_fraction * self.power_w
        return idle + self.utilization * (self.power_w - idle)

    @property
    def energy_kwh_per_year(self) -> float:
        """Facility energy: average power x PUE x hours."""
        return self.average_power_w * self.pue * HOURS_PER_YEAR / 1000.0

    @property
    def energy_usd_per_year(self) -> float:
        return self.energy_kwh_per_year * self.usd_per_kwh

    @property
    def capex_usd_per_year(self) -> float:
        """Purchase price spread evenly (straight line) over the years of service."""
        return self.purchase_usd / self.years

    @property
    def usd_per_year(self) -> float:
        return self.capex_usd_per_year + self.energy_usd_per_year

    @property
    def total_usd(self) -> float:
        return self.usd_per_year * self.years

    @property
    def energy_share(self) -> float:
        """Fraction of the cost that is electricity."""
        return self.energy_usd_per_year / self.usd_per_year

    def cost_per_inference(self, throughput_ips) -> float:
        """USD per inference for a device serving ``throughput_ips`` while busy.

        >>> t = total_cost_of_ownership(0, 1000, pue=1.0, usd_per_kwh=0.36, utilization=1.0)
        >>> round(t.cost_per_inference(100), 12)       # 0.36 USD/h over 360,000 inferences/h
        1e-06
        """
        t = positive_number("throughput_ips", throughput_ips)
        served = t * self.utilization * HOURS_PER_YEAR * 3600.0
        if served == 0:
            raise ValueError("utilization is 0: the device serves nothing, cost per inference is undefined")
        return self.usd_per_year / served

    def to_dict(self) -> dict:
        return {"purchase_usd": self.purchase_usd, "power_w": self.power_w, "years": self.years,
                "pue": self.pue, "usd_per_kwh": self.usd_per_kwh, "utilization": self.utilization,
                "idle_power_fraction": self.idle_power_fraction,
                "average_power_w": self.average_power_w,
                "energy_kwh_per_year": self.energy_kwh_per_year,
                "energy_usd_per_year": self.energy_usd_per_year,
                "capex_usd_per_year": self.capex_usd_per_year, "usd_per_year": self.usd_per_year,
                "total_usd": self.total_usd, "energy_share": self.energy_share}


def total_cost_of_ownership(purchase_usd, power_w, *, years=DEFAULT_YEARS, pue=DEFAULT_PUE,
                            usd_per_kwh=DEFAULT_USD_PER_KWH, utilization=DEFAULT_UTILIZATION,
                            idle_power_fraction: float = 1.0) -> TCO:
    """Cost of buying and running one device (defaults: :data:`DEFAULT_SOURCES`).

    ``idle_power_fraction`` is the power drawn when idle as a fraction of
    ``power_w``. The default 1.0 (no energy proportionality) is pessimistic;
    the TPU paper measured TPU v1 at 88% of full power at 10% load, Haswell at
    56% and the K80 at 66% (CNN0, Sec. 6, energy proportionality).

    >>> tco = total_cost_of_ownership(5000, 300, years=5, pue=1.5, usd_per_kwh=0.10, utilization=1.0)
    >>> round(tco.energy_kwh_per_year), round(tco.usd_per_year)     # 0.3 kW * 1.5 * 8766 h
    (3945, 1394)
    """
    return TCO(
        purchase_usd=positive_number("purchase_usd", purchase_usd, allow_zero=True),
        power_w=positive_number("power_w", power_w),
        years=positive_number("years", years),
        pue=_pue(pue),
        usd_per_kwh=positive_number("usd_per_kwh", usd_per_kwh, allow_zero=True),
        utilization=fraction("utilization", utilization),
        idle_power_fraction=fraction("idle_power_fraction", idle_power_fraction),
    )


def _pue(pue) -> float:
    return check_number("pue (total facility power / IT power)", pue, low=1.0)


# --------------------------------------------------------------------------- #
# Edge vs server in one table
# --------------------------------------------------------------------------- #
def compare_targets(workload, targets, *, deadline_s=DEFAULT_DEADLINE_S, precision=None,
                    bytes_per_element: float = 1.0) -> list:
    """One row per target: batch-1 latency, best batch under the deadline, its throughput and energy.

    ``targets`` are device names, presets or rooflines (see
    :meth:`BatchModel.from_workload`); devices without the requested
    precision or a bandwidth are reported with an ``error`` entry instead
    of numbers.

    >>> rows = compare_targets("mobilenet_v2", ["Edge TPU", "tpu_v1"])
    >>> "no published memory bandwidth" in rows[0]["error"], rows[1]["best_batch"] > 1
    (True, True)
    """
    deadline_s = positive_number("deadline_s", deadline_s)
    if isinstance(targets, str) or not hasattr(targets, "__iter__"):
        raise TypeError(f"targets must be a list of device names, presets or rooflines, got "
                        f"{type(targets).__name__} ({targets!r}); e.g. ['Edge TPU', 'tpu_v1']")
    rows = []
    for t in targets:
        label = t if isinstance(t, str) else getattr(t, "name", repr(t))
        try:
            m = BatchModel.from_workload(workload, t, precision=precision,
                                         bytes_per_element=bytes_per_element)
        except KeyError as exc:
            rows.append({"target": label, "error": str(exc).strip("'\"")})
            continue
        best = m.max_batch(deadline_s)
        row = {"target": label, "latency_batch1_s": m.latency(1), "bound_batch1": m.bound(1),
               "best_batch": best,
               "throughput_ips": m.throughput(best) if best else 0.0,
               "latency_best_s": m.latency(best) if best else None,
               "power_w": m.power_w}
        row["energy_j"] = m.energy_per_inference(best) if (best and m.power_w) else None
        rows.append(row)
    return rows
