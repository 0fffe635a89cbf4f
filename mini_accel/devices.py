"""A catalog of real accelerators, CPUs and GPUs, and presets that tie it to the simulators.

The catalog is ``mini_accel/data/devices.csv``: one row per device, peak
throughput per precision (dense, no sparsity), memory, bandwidth, on-chip
memory, power and price where a source gives them, and a ``source`` on every
row. Blank means "not published in the sources found": it stays ``None``
here and is never filled in. ``status`` says how the row was read (P =
primary text, S = secondary copy of a primary, D = derived) and ``flagged``
lists the fields that carry a caveat (read the ``source`` before grading on
them); :meth:`Device.is_flagged` asks about one field.

Units: peaks in ops/s (``int8_tops`` x 1e12, ``*_tflops`` x 1e12), bandwidth in
bytes/s (the CSV's GiB/s rows are converted with 2**30), power in watts.

Two power columns: ``tdp_w`` is the vendor's power rating (thermal design
power, or the closest published figure: read the row's ``source``);
``busy_w`` is a *measured* power while running real work, where a paper
gives one (the TPU v1 drew 40 W busy against its 75 W TDP, Jouppi et al.
2017 Table 2). :attr:`Device.energy_power_w` prefers the measured figure:
a TDP is the cooling limit, an upper bound on what the chip draws.

``onchip_mb`` is the on-chip memory of the whole device in MiB (2**20
bytes), as the source names it: the software-managed buffers of an ASIC
(TPU Unified Buffer and accumulators, NeuronCore SBUF and PSUM), the
last-level cache of a CPU or GPU (register files and per-core shared
memory are not counted). Vendors write cache sizes in "MB" meaning MiB;
they are taken as MiB.

:data:`ERRATA` lists every value that differs from the course's shared
reference table, with the reason.

>>> from mini_accel.devices import get_device, find_devices
>>> tpu = get_device("TPU v1")
>>> tpu.peak("int8") / 1e12, tpu.bandwidth / 1e9, round(tpu.ridge_point("int8"))
(92.0, 34.0, 2706)
>>> [d.name for d in find_devices(kind="edge", precision="int8")][:2]
['Google Edge TPU (Coral USB Accelerator)', 'NVIDIA Jetson Orin Nano 8GB (original)']

Presets
-------
:data:`PRESETS` holds machine descriptions with the numbers the simulators
need (array size, dataflow, clock, buffers, DRAM bandwidth), each with the
source of every number and a list of what is *not* published:

>>> from mini_accel.devices import get_preset
>>> p = get_preset("tpu_v1")
>>> p.rows, p.cols, p.dataflow, round(p.peak_ops / 1e12, 2)   # 2 * 65,536 MACs * 700 MHz
(256, 256, 'ws', 91.75)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

from ._checks import UnknownName, check_bool, check_option
from .formats import canonical_format, formats_supported_by
from .tables import read_table

__all__ = [
    "PRECISIONS",
    "KINDS",
    "ARCHS",
    "Device",
    "load_devices",
    "get_device",
    "find_devices",
    "AcceleratorPreset",
    "PRESETS",
    "get_preset",
    "ERRATA",
]

#: (device name, CSV column) -> (value here, reason): corrections to the shared reference table.
ERRATA = {
    ("NVIDIA Tesla K80 (board, 2 dies)", "source"): (
        "8.73 TFLOPS", "the source text said 8.74 while the fp32 column holds NVIDIA's 8.73; "
        "4992 cores x 2 x 875 MHz = 8.74, which NVIDIA rounds down"),
    ("Intel Habana Gaudi (HL-205)", "tdp_w"): (
        "300", "350 W had no source; Linley Group 2019 (quoted in the row) gives the OAM module "
        "'up to 300W'"),
    ("Intel Habana Gaudi (HL-205)", "source"): ("300 W: Linley", "says where the 300 W comes from"),
    ("AWS Inferentia2 (Inf2)", "onchip_mb"): (
        "52", "AWS publishes the on-chip memory per NeuronCore-v2 (NKI architecture guide: 24 MiB SBUF "
        "+ 2 MiB PSUM); 2 cores per device"),
    ("AWS Inferentia2 (Inf2)", "source"): ("52 MiB", "cites the NKI guide for onchip_mb"),
    ("AWS Trainium (Trn1)", "onchip_mb"): ("52", "as Inferentia2: the same NeuronCore-v2"),
    ("AWS Trainium (Trn1)", "source"): ("52 MiB", "cites the NKI guide for onchip_mb"),
}

#: Precisions with a peak column in the catalog, fastest first (the registry
#: :data:`mini_accel.formats.FORMATS` says which formats ``devices`` supports).
PRECISIONS = tuple(p for p in ("int8", "fp8", "fp16", "bf16", "tf32", "fp32")
                   if p in formats_supported_by("devices"))
Precision = Literal["int8", "fp8", "fp16", "bf16", "tf32", "fp32"]
_PEAK_COLUMNS = {"int8": "int8_tops", "fp8": "fp8_tflops", "fp16": "fp16_tflops",
                 "bf16": "bf16_tflops", "tf32": "tf32_tflops", "fp32": "fp32_tflops"}
KINDS = ("edge", "server")
ARCHS = ("cpu", "gpu", "asic", "fpga")
_BW_UNITS = {"GB/s": 1e9, "GiB/s": 2.0**30}


@dataclass(frozen=True)
class Device:
    """One catalog row. Missing numbers are ``None``; see the module docstring for units.

    >>> d = get_device("Edge TPU")
    >>> d.kind, d.arch, d.peak("int8") / 1e12, d.bandwidth is None
    ('edge', 'asic', 4.0, True)
    """

    name: str
    vendor: str
    kind: str
    arch: str
    year: int | None
    process_nm: float | None
    peaks: dict            # precision -> peak ops/s (dense)
    unspecified_ops: float | None   # peak ops/s whose precision the vendor does not state
    mem_gb: float | None
    bandwidth: float | None          # bytes/s
    onchip_mb: float | None
    tdp_w: float | None
    price_usd: float | None
    status: str
    flagged: tuple
    source: str
    busy_w: float | None = None       # measured power while running real work, where published
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def energy_power_w(self) -> float | None:
        """The power to charge for energy: measured busy power if published, else ``tdp_w``.

        >>> get_device("TPU v1").energy_power_w, get_device("TPU v1").tdp_w
        (40.0, 75.0)
        """
        return self.busy_w if self.busy_w is not None else self.tdp_w

    @property
    def precisions(self) -> tuple:
        """Precisions that have a published peak, in :data:`PRECISIONS` order."""
        return tuple(p for p in PRECISIONS if p in self.peaks)

    def peak(self, precision: Precision) -> float:
        """Peak throughput in ops/s at ``precision`` (1 MAC = 2 ops).

        Raises ``KeyError`` (:class:`~mini_accel._checks.UnknownName`, also a
        ValueError) naming the available precisions when the catalog has no
        number for this one (it is never guessed).

        >>> get_device("TPU v1").peak("INT8") / 1e12
        92.0
        """
        precision = _check_precision(precision)
        if precision not in self.peaks:
            raise UnknownName(
                f"{self.name} has no published {precision} peak in the catalog; "
                f"available: {list(self.precisions) or 'none'}"
            )
        return self.peaks[precision]

    def best_precision(self) -> str | None:
        """The lowest-precision format with a peak (the fastest the device is rated at).

        >>> get_device("A100").best_precision()
        'int8'
        """
        return self.precisions[0] if self.precisions else None

    def ridge_point(self, precision: Precision) -> float:
        """Peak ops/s over DRAM bytes/s: ops per byte where compute and memory balance.

        >>> round(get_device("TPU v1").ridge_point("int8"))
        2706
        """
        if self.bandwidth is None:
            raise UnknownName(f"{self.name} has no published memory bandwidth in the catalog")
        return self.peak(precision) / self.bandwidth

    def ops_per_watt(self, precision: Precision) -> float:
        """Peak ops/s per watt of ``tdp_w`` (read the source for what the power figure is).

        >>> get_device("Edge TPU").ops_per_watt("int8") / 1e12
        2.0
        """
        if self.tdp_w is None:
            raise UnknownName(f"{self.name} has no published power figure in the catalog")
        return self.peak(precision) / self.tdp_w

    def is_flagged(self, field_name: str) -> bool:
        """Whether the catalog marks ``field_name`` (a CSV column) as uncertain.

        >>> get_device("TPU v1").is_flagged("tdp_w")
        False
        """
        return field_name in self.flagged

    def roofline(self, precision: Precision | None = None):
        """A :class:`mini_accel.roofline.Roofline` for this device at ``precision``.

        >>> round(get_device("TPU v1").roofline().ridge)
        2706
        """
        from .roofline import Roofline
        return Roofline.from_device(self, precision)


def _check_precision(precision) -> str:
    if isinstance(precision, str) and precision in PRECISIONS:    # the common case, fast
        return precision
    return canonical_format(precision, supported_by="devices")


_NUMBER_COLUMNS = ("year", "process_nm", *(_PEAK_COLUMNS.values()), "unspecified_tops", "mem_gb",
                   "mem_bw_gbs", "onchip_mb", "tdp_w", "busy_w", "price_usd")


def _row_to_device(r: dict, text: dict) -> Device:
    """A Device from a typed row ``r`` (numbers converted) and its text ``text`` (as in the CSV)."""
    peaks = {p: r[col] * 1e12 for p, col in _PEAK_COLUMNS.items() if r[col] is not None}
    bw = r["mem_bw_gbs"]
    unit = r["mem_bw_unit"] or "GB/s"
    if unit not in _BW_UNITS:
        raise ValueError(f"devices.csv row {r['name']!r}: unknown mem_bw_unit {unit!r}")
    unspecified = r["unspecified_tops"]
    return Device(
        name=r["name"], vendor=r["vendor"], kind=r["kind"], arch=r["arch"],
        year=int(r["year"]) if r["year"] is not None else None,
        process_nm=r["process_nm"], peaks=peaks,
        unspecified_ops=unspecified * 1e12 if unspecified is not None else None,
        mem_gb=r["mem_gb"], bandwidth=bw * _BW_UNITS[unit] if bw is not None else None,
        onchip_mb=r["onchip_mb"], tdp_w=r["tdp_w"], price_usd=r["price_usd"], status=r["status"],
        busy_w=r["busy_w"], flagged=tuple(f for f in r["flagged"].split(";") if f),
        source=r["source"], raw=dict(text),
    )


def read_data_table(filename: str, row) -> tuple:
    """``row(dict)`` of every row of ``mini_accel/data/<filename>``, in order (cells as text).

    A thin wrapper over :func:`mini_accel.tables.read_table`, the one CSV
    loader (kept for :mod:`mini_accel.cloud`).

    >>> read_data_table("devices.csv", lambda r: r["name"])[0]
    'Google TPU v1'
    """
    return tuple(row(r) for r in read_table(filename))


@functools.lru_cache(maxsize=1)
def _catalog() -> tuple:
    typed = read_table("devices.csv", numbers=_NUMBER_COLUMNS)
    return tuple(_row_to_device(r, t) for r, t in zip(typed, read_table("devices.csv")))


def load_devices() -> list:
    """Every device in the catalog, in file order.

    >>> load_devices()[0].name
    'Google TPU v1'
    """
    return list(_catalog())


def get_device(name: str) -> Device:
    """A device by exact name, or by a case-insensitive fragment that matches only one.

    >>> get_device("a100").name
    'NVIDIA A100 SXM4 80GB'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a device name (a string), got {type(name).__name__} ({name!r})")
    if not name.strip():
        raise ValueError("name must be a device name or a fragment of one, got an empty string")
    devices = _catalog()
    for d in devices:
        if d.name == name:
            return d
    frag = name.lower()
    hits = [d for d in devices if frag in d.name.lower()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UnknownName(f"no device matches {name!r}; names are {[d.name for d in devices]}")
    raise UnknownName(f"{name!r} matches several devices: {[d.name for d in hits]}; be more specific")


def find_devices(*, kind: Literal["edge", "server"] | None = None,
                 arch: Literal["cpu", "gpu", "asic", "fpga"] | None = None,
                 precision: Precision | None = None, vendor: str | None = None,
                 has_power: bool | None = None) -> list:
    """Devices matching every given filter.

    ``kind`` is "edge" or "server"; ``arch`` one of cpu/gpu/asic/fpga;
    ``precision`` keeps devices with a published peak at that precision;
    ``vendor`` matches case-insensitively; ``has_power=True`` keeps devices
    with a power figure.

    >>> sorted({d.arch for d in find_devices(kind="server", precision="bf16")})
    ['asic', 'gpu']
    """
    if kind is not None:
        kind = check_option("kind", kind, KINDS)
    if arch is not None:
        arch = check_option("arch", arch, ARCHS)
    if precision is not None:
        precision = _check_precision(precision)
    if vendor is not None and not isinstance(vendor, str):
        raise TypeError(f"vendor must be a string (part of a vendor's name), got {type(vendor).__name__}")
    if has_power is not None:
        has_power = check_bool("has_power", has_power)
    out = []
    for d in _catalog():
        if kind is not None and d.kind != kind:
            continue
        if arch is not None and d.arch != arch:
            continue
        if precision is not None and precision not in d.peaks:
            continue
        if vendor is not None and vendor.lower() not in d.vendor.lower():
            continue
        if has_power is not None and (d.tdp_w is not None) != has_power:
            continue
        out.append(d)
    return out


# --------------------------------------------------------------------------- #
# Presets: machines the simulators can run
# --------------------------------------------------------------------------- #
MiB = 2**20


@dataclass(frozen=True)
class AcceleratorPreset:
    """A matrix unit with its buffers and memory, every number sourced.

    ``sources`` maps each field to where its value comes from;
    ``unpublished`` lists what the sources do not give (and how the preset
    fills the gap, if it does).

    >>> p = get_preset("neuroncore_v2")
    >>> p.rows, p.precision, round(p.ridge_point)
    (128, 'bf16', 224)
    """

    name: str
    rows: int
    cols: int
    dataflow: str
    double_buffer: bool
    clock_hz: float
    precision: str
    activation_buffer_bytes: int
    accumulator_bytes: int
    dram_bandwidth: float              # bytes/s available to this unit
    dram_bytes: int | None
    device_name: str | None
    sources: dict
    unpublished: tuple

    @property
    def peak_ops(self) -> float:
        """2 ops x rows x cols MACs x clock."""
        return 2.0 * self.rows * self.cols * self.clock_hz

    @property
    def ridge_point(self) -> float:
        """Peak ops per DRAM byte."""
        return self.peak_ops / self.dram_bandwidth

    def systolic_array(self, **kwargs):
        """A :class:`mini_accel.SystolicArray` of this size and dataflow."""
        from .systolic import SystolicArray
        opts = {"dataflow": self.dataflow, "double_buffer": self.double_buffer, **kwargs}
        return SystolicArray(self.rows, self.cols, **opts)

    def gemm_cycles(self, M: int, K: int, N: int) -> int:
        """Closed-form cycles of one GEMM on the array (see :func:`mini_accel.systolic_cycles`).

        >>> get_preset("tpu_v1").gemm_cycles(256, 256, 256) > 256
        True
        """
        from .systolic import systolic_cycles
        return systolic_cycles(M, K, N, self.rows, self.cols, self.dataflow, self.double_buffer)

    def gemm_estimate(self, M: int, K: int, N: int, bytes_per_element: float = 1.0) -> dict:
        """Time of a GEMM as the slower of the array and the weight fetch from DRAM.

        The weight operand (K x N) streams from DRAM once; activations are
        assumed on chip (they fit the activation buffer for the shapes the
        labs use; ``fits_on_chip`` says whether they do). Returns seconds for
        compute and weight traffic, their max, and the achieved fraction of
        peak.

        >>> est = get_preset("tpu_v1").gemm_estimate(200, 2048, 2048)   # MLP-like, batch 200
        >>> est["bound"], round(est["fraction_of_peak"], 3)   # 200 MAC/B * 2 * 34 GB/s / 91.75 TOPS
        ('memory', 0.148)
        """
        cycles = self.gemm_cycles(M, K, N)
        compute_s = cycles / self.clock_hz
        weight_s = K * N * bytes_per_element / self.dram_bandwidth
        time_s = max(compute_s, weight_s)
        act_bytes = (M * K + M * N) * bytes_per_element
        return {
            "cycles": cycles, "compute_s": compute_s, "weight_fetch_s": weight_s,
            "time_s": time_s, "bound": "memory" if weight_s > compute_s else "compute",
            "fraction_of_peak": 2.0 * M * K * N / time_s / self.peak_ops,
            "fits_on_chip": act_bytes <= self.activation_buffer_bytes,
        }

    def device(self):
        """The catalog row this preset belongs to (None if it has none).

        >>> get_preset("tpu_v1").device().name
        'Google TPU v1'
        """
        return get_device(self.device_name) if self.device_name else None


PRESETS = {
    "tpu_v1": AcceleratorPreset(
        name="Google TPU v1 (MXU)",
        rows=256, cols=256, dataflow="ws", double_buffer=True, clock_hz=700e6, precision="int8",
        activation_buffer_bytes=24 * MiB, accumulator_bytes=4 * MiB,
        dram_bandwidth=34e9, dram_bytes=8 * 2**30, device_name="Google TPU v1",
        sources={
            "rows/cols": "Jouppi et al. ISCA 2017 Sec. 2: 256x256 = 65,536 8-bit MACs",
            "dataflow": "Sec. 2: weights are preloaded into the systolic array, data flows in "
                        "from the left, partial sums flow down (weight-stationary)",
            "double_buffer": "Sec. 2: the MMU holds one 64 KiB tile of weights plus one for "
                             "double buffering; shifting a tile in takes 256 cycles",
            "clock_hz": "Table 2: 700 MHz",
            "activation_buffer_bytes": "Sec. 2: 24 MiB Unified Buffer",
            "accumulator_bytes": "Sec. 2: 4 MiB = 4096 x 256 x 32-bit accumulators",
            "dram_bandwidth": "Table 2: 34 GB/s (8 GiB DDR3 weight memory)",
            "dram_bytes": "Sec. 2: 8 GiB DDR3",
        },
        unpublished=(
            "Fig. 1 labels the DDR3 interfaces 30 GiB/s (secondary renderings; FLAG), Table 2 says "
            "34 GB/s: the preset uses Table 2",
            "The 4-tile weight FIFO and host PCIe transfers are not modelled",
            "16-bit operands (half or quarter speed) are not modelled: int8 only",
        ),
    ),
    "neuroncore_v2": AcceleratorPreset(
        name="AWS NeuronCore-v2 Tensor Engine (Inferentia2 / Trainium)",
        rows=128, cols=128, dataflow="ws", double_buffer=True, clock_hz=2.8e9, precision="bf16",
        activation_buffer_bytes=24 * MiB, accumulator_bytes=2 * MiB,
        dram_bandwidth=410e9, dram_bytes=16 * 2**30, device_name="AWS Inferentia2 (Inf2)",
        sources={
            "rows/cols": "AWS Neuron docs, 'Trainium/Inferentia2 Architecture Guide for NKI': "
                         "systolic array with 128 rows and 128 columns of processing elements",
            "dataflow": "same guide: LoadStationary caches the 'stationary' operand in the "
                        "Tensor Engine and MultiplyMoving streams the 'moving' operand across "
                        "it; the preset maps this to weight-stationary",
            "double_buffer": "same guide: 'background LoadStationary' loads the next stationary "
                             "tensor in parallel with the current computation",
            "clock_hz": "same guide, engine table: Tensor engine 2.8 GHz "
                        "(2 x 128 x 128 x 2.8 GHz = 91.75 TFLOPS, the guide's 92 TFLOPS BF16/FP16/TF32/cFP8)",
            "activation_buffer_bytes": "same guide: 24 MiB SBUF (128 partitions x 192 KiB)",
            "accumulator_bytes": "same guide: 2 MiB PSUM (128 partitions x 16 KiB)",
            "dram_bandwidth": "DERIVED: the device's 820 GB/s HBM (same guide; GiB/s in the "
                              "Neuron architecture page) shared by its 2 NeuronCores",
            "dram_bytes": "DERIVED: 32 GiB device HBM / 2 NeuronCores",
        },
        unpublished=(
            "How partial sums move inside the PE array is not published: the ws mapping is an assumption",
            "Load time of a stationary tile: the guide says LoadStationary is up to 4x faster than "
            "a MultiplyMoving; the simulator charges rows cycles",
            "INT8 on the Tensor Engine: the device page lists 380 INT8 TOPS, the NKI guide lists "
            "BF16/FP16/TF32/cFP8 (and FP32 at 1/4 rate) only: the preset uses bf16",
            "Device peak 190 TFLOPS vs 2 cores x 92 = 184: the sources disagree by 3% (FLAG)",
            "Per-core bandwidth share is derived (even split), not published",
            "NeuronCore-v1 (Inferentia 1) array size is not published; this preset is v2",
        ),
    ),
}


def get_preset(name: Literal["tpu_v1", "neuroncore_v2"]) -> AcceleratorPreset:
    """A preset by key: ``"tpu_v1"`` or ``"neuroncore_v2"``.

    >>> get_preset("tpu_v1").clock_hz
    700000000.0
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be one of {sorted(PRESETS)} (a string), got {type(name).__name__}")
    if name not in PRESETS:
        raise UnknownName(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]

