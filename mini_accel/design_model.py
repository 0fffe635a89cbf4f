"""The design model: a MAC array, three buffers, a format, a clock, DRAM (see :mod:`mini_accel.design`).

What one design *is* and what its parts cost at 45 nm, before any workload
runs on it: the constants of ``mini_accel/data/design_45nm.csv``, the energy
and area of one MAC per precision (:func:`mac_cost`), the energy of one
PE-to-PE hop (:func:`hop_energy_pj`), SRAM area per bit, the
:class:`Design` itself and the chip :class:`PriceModel`. Evaluating a
design on a workload is :mod:`mini_accel.design_eval`; budgets and scores
:mod:`mini_accel.design_budget`; the reference designs and the capstone's
grid :mod:`mini_accel.design_presets`. Import all of them from
:mod:`mini_accel.design`.

>>> d = Design("toy", 16, 16, "ws", "int8", 500e6, 10e9, 64 * 1024, 64 * 1024, 64 * 1024)
>>> d.peak_ops / 1e9, d.accumulator, PRECISIONS
(256.0, 'int32', ('int8', 'int16', 'bf16', 'fp16', 'fp32'))
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ._checks import check_bool, check_instance, check_int, check_number, check_option
from .energy import EnergyModel, load_table
from .formats import FORMATS, canonical_format, formats_supported_by
from .systolic import DATAFLOWS, MAX_ARRAY_SIDE
from .tables import read_table

__all__ = [
    "PRECISIONS",
    "ACCUMULATORS",
    "MAX_CLOCK_HZ",
    "MAX_DRAM_BANDWIDTH",
    "MAX_BUFFER_BYTES",
    "load_design_table",
    "mac_cost",
    "MacCost",
    "hop_energy_pj",
    "sram_um2_per_bit",
    "Design",
    "PriceModel",
]

#: Number formats a design can use, narrowest first (the registry
#: :data:`mini_accel.formats.FORMATS` says which; it lists them widest first).
PRECISIONS = tuple(reversed(formats_supported_by("design")))
Precision = Literal["int8", "int16", "bf16", "fp16", "fp32"]
Dataflow = Literal["ws", "os", "is"]
_BITS = MappingProxyType({p: FORMATS[p].bits for p in PRECISIONS})
#: Accumulator of each format, from the registry: int32 for integers (the TPU v1
#: sums 8- and 16-bit products in 32-bit accumulators, Jouppi et al. 2017 Sec. 2),
#: fp32 for floats (bf16 on the TPU MXU and fp16 in mixed precision accumulate in fp32).
ACCUMULATORS = MappingProxyType({p: FORMATS[p].accumulator for p in PRECISIONS})
# An EnergyModel.horowitz_45nm data type with the same word width (memory costs
# depend only on the bits); the MAC of int16 and bf16 is replaced.
_WIDTH_MODEL = {8: "int8", 16: "fp16", 32: "fp32"}
#: Sanity limits (not physics: far beyond every chip in devices.csv).
MAX_CLOCK_HZ = 20e9
MAX_DRAM_BANDWIDTH = 1e15
MAX_BUFFER_BYTES = 2**40
_DESIGN_TABLE = "design_45nm.csv"


# --------------------------------------------------------------------------- #
# The constants table
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=1)
def _table() -> dict:
    return {row["name"]: row for row in read_table(_DESIGN_TABLE, numbers=("value",))}


def load_design_table() -> dict:
    """The rows of ``data/design_45nm.csv`` by name: value, unit, status, source, note.

    >>> t = load_design_table()
    >>> t["sram_cell_area_f2"]["value"], t["sram_cell_area_f2"]["status"]
    (146.0, 'P')
    """
    return {name: dict(row) for name, row in _table().items()}


def _const(name: str) -> float:
    return _table()[name]["value"]


def _source(name: str) -> str:
    row = _table()[name]
    return f"{row['status']}: {row['source']}"


def _precision(precision) -> str:
    if isinstance(precision, str) and precision in PRECISIONS:    # the common case, fast
        return precision
    return canonical_format(precision, supported_by="design")


def sram_um2_per_bit(array_efficiency: float | None = None) -> float:
    """SRAM area per bit at 45 nm, in um^2: CACTI's 146 F^2 cell / array efficiency.

    ``array_efficiency`` (default from the table: 1.0, FLAG) is the fraction
    of a buffer's area that is cells; the rest would be decoders, sense
    amplifiers and wiring.

    >>> round(sram_um2_per_bit(), 3)                  # 146 * 0.045**2
    0.296
    >>> round(sram_um2_per_bit(0.5), 3)
    0.591
    """
    eff = _const("sram_array_efficiency") if array_efficiency is None else array_efficiency
    eff = check_number("array_efficiency", eff, low=0, high=1.0, closed="right")
    return _const("sram_cell_area_f2") * _const("feature_size_um") ** 2 / eff


# --------------------------------------------------------------------------- #
# One MAC: energy and area per precision
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class MacCost:
    """Energy (pJ) and area (um^2) of one multiply-accumulate unit at 45 nm.

    >>> c = mac_cost("fp16")
    >>> c.accumulator, round(c.energy_pj, 2), c.flagged     # fp16 mult + fp32 add
    ('fp32', 2.0, False)
    """

    precision: str
    accumulator: str
    mult_pj: float
    add_pj: float
    mult_um2: float
    add_um2: float
    source: str
    flagged: bool

    @property
    def energy_pj(self) -> float:
        return self.mult_pj + self.add_pj

    @property
    def area_um2(self) -> float:
        return self.mult_um2 + self.add_um2


def mac_cost(precision: Precision) -> MacCost:
    """Multiply + accumulate energy and area from the 45 nm table (Horowitz 2014).

    The multiply is in ``precision``, the add in its accumulator
    (:data:`ACCUMULATORS`). Two multipliers are not published and are
    derived (``flagged=True``):

    * int16: the geometric mean of the int8 and int32 multiplies, i.e. a
      power law through the table's two integer multipliers:
      sqrt(0.2 x 3.1) = 0.79 pJ and sqrt(282 x 3495) = 993 um^2.
    * bf16: half the fp16 multiplier's area (Google's "about half the size",
      ``bf16_over_fp16_mult_area``), energy assumed to scale the same way.

    >>> c = mac_cost("int8")
    >>> round(c.energy_pj, 2), c.area_um2                 # int8 mult + int32 add
    (0.3, 419.0)
    >>> round(mac_cost("int16").mult_pj, 3), mac_cost("int16").flagged
    (0.787, True)
    """
    return _mac_cost(_precision(precision))


@functools.cache
def _mac_cost(precision: str) -> MacCost:
    precision = _precision(precision)
    acc = ACCUMULATORS[precision]
    rows = {r["name"]: r for r in load_table("45nm")}
    add = rows[f"{acc}_add"]
    source = [f"{acc}_add: {add['status']}: Horowitz 2014 Fig. 1.1.9 (area: Sze et al. 2017)"]
    if precision == "int16":
        lo, hi = rows["int8_mult"], rows["int32_mult"]
        mult_pj = math.sqrt(lo["energy_pj"] * hi["energy_pj"])
        mult_um2 = math.sqrt(lo["area_um2"] * hi["area_um2"])
        source.insert(0, "int16_mult: FLAG derived, geometric mean of int8_mult and int32_mult "
                         "(no 16-bit integer multiply is published at 45 nm)")
        flagged = True
    elif precision == "bf16":
        ratio = _const("bf16_over_fp16_mult_area")
        mult_pj = ratio * rows["fp16_mult"]["energy_pj"]
        mult_um2 = ratio * rows["fp16_mult"]["area_um2"]
        basis = _source("bf16_over_fp16_mult_area")
        source.insert(0, f"bf16_mult: FLAG derived, {ratio:g} x fp16_mult ({basis}); "
                         "energy assumed to scale like area")
        flagged = True
    else:
        mult = rows[f"{precision}_mult"]
        mult_pj, mult_um2 = mult["energy_pj"], mult["area_um2"]
        source.insert(0, f"{precision}_mult: {mult['status']}: Horowitz 2014 Fig. 1.1.9 "
                         "(area: Sze et al. 2017)")
        flagged = False
    return MacCost(precision, acc, mult_pj, add["energy_pj"], mult_um2, add["area_um2"],
                   "; ".join(source), flagged)


def hop_energy_pj(precision: Precision, bits: int | None = None) -> float:
    """Energy of one PE-to-PE hop of a ``bits``-bit word in an array of ``precision`` MACs.

    A hop is one PE pitch of wire, the pitch being the side of a square MAC
    (``sqrt(mac_cost(precision).area_um2)``, FLAG: real PEs are larger), at
    Keckler et al.'s (IEEE Micro 2011, Table 1, 40 nm) 0.121 pJ per bit per
    mm of random data. ``bits`` defaults to the precision's width; partial
    sums travel at 32 bits. Writing the word into the next PE's register is
    charged as a register (RF) access, not here.

    >>> round(hop_energy_pj("int8"), 4)          # 0.121 x 8 bits x 0.0205 mm
    0.0198
    >>> round(hop_energy_pj("int8", bits=32), 4)  # an int32 partial sum
    0.0793
    """
    precision = _precision(precision)
    bits = _BITS[precision] if bits is None else check_int("bits", bits, low=1)
    pitch_mm = math.sqrt(mac_cost(precision).area_um2) * 1e-3 * _const("hop_length_pe_pitches")
    return _const("wire_pj_per_bit_mm") * bits * pitch_mm


def _bank(size_bytes: int) -> int:
    """Size whose 45 nm SRAM energy a buffer of ``size_bytes`` pays per access."""
    return min(size_bytes, int(_const("sram_bank_bytes")))


@functools.lru_cache(maxsize=256)
def _width_model(bits: int, buffer_bytes: int) -> EnergyModel:
    return EnergyModel.horowitz_45nm(_WIDTH_MODEL[bits], buffer_bytes=_bank(buffer_bytes))


def _costs_model(costs: dict, sources: dict, bits: int, name: str) -> EnergyModel:
    return EnergyModel(costs, word_bits=bits, unit="pJ", sources=sources, name=name)


# --------------------------------------------------------------------------- #
# The design
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Design:
    """An accelerator: a systolic MAC array, three buffers, a format, a clock, DRAM.

    Parameters
    ----------
    name : str
    rows, cols : int
        Size of the MAC array (1 .. 4096 each).
    dataflow : {"ws", "os", "is"}
        Weight-, output- or input-stationary (see :mod:`mini_accel.systolic`).
    precision : {"int8", "int16", "bf16", "fp16", "fp32"}
        Format of inputs and weights; accumulators are int32 or fp32.
    clock_hz : float
        Clock frequency.
    dram_bandwidth : float
        DRAM bandwidth in bytes/s.
    input_buffer_bytes, weight_buffer_bytes, output_buffer_bytes : int
        On-chip buffers for the activations (A), the weights (B) and the
        accumulators (C). The output buffer holds accumulators (4 bytes each).
    double_buffer : bool
        Double buffering both in the array (shadow weights, see
        :class:`~mini_accel.SystolicArray`) and in the buffers (two tiles
        each, so DRAM transfers overlap compute).
    sram_array_efficiency : float, optional
        Fraction of buffer area that is SRAM cells (default: the table's 1.0,
        FLAG, i.e. cell area only).

    >>> d = Design("edge", 32, 32, "ws", "int8", 700e6, 68e9, 256 * 1024, 64 * 1024, 64 * 1024,
    ...            double_buffer=True)
    >>> round(d.peak_ops / 1e12, 3), round(d.area_mm2, 3)   # 1024 MACs; 384 KiB of SRAM
    (1.434, 1.359)
    """

    name: str
    rows: int
    cols: int
    dataflow: Dataflow
    precision: Precision
    clock_hz: float
    dram_bandwidth: float
    input_buffer_bytes: int
    weight_buffer_bytes: int
    output_buffer_bytes: int
    double_buffer: bool = False
    sram_array_efficiency: float | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        set_ = object.__setattr__
        set_(self, "rows", check_int("rows", self.rows, low=1, high=MAX_ARRAY_SIDE))
        set_(self, "cols", check_int("cols", self.cols, low=1, high=MAX_ARRAY_SIDE))
        set_(self, "dataflow", check_option("dataflow", self.dataflow, DATAFLOWS))
        set_(self, "precision", _precision(self.precision))
        set_(self, "clock_hz", check_number("clock_hz", self.clock_hz, low=0, high=MAX_CLOCK_HZ,
                                            closed="right"))
        set_(self, "dram_bandwidth", check_number("dram_bandwidth (bytes/s)", self.dram_bandwidth,
                                                  low=0, high=MAX_DRAM_BANDWIDTH, closed="right"))
        for attr in ("input_buffer_bytes", "weight_buffer_bytes", "output_buffer_bytes"):
            set_(self, attr, check_int(attr, getattr(self, attr), low=1, high=MAX_BUFFER_BYTES))
        set_(self, "double_buffer", check_bool("double_buffer", self.double_buffer))
        if self.sram_array_efficiency is None:
            set_(self, "sram_array_efficiency", _const("sram_array_efficiency"))
        set_(self, "sram_array_efficiency",
             check_number("sram_array_efficiency", self.sram_array_efficiency, low=0, high=1.0,
                          closed="right"))
        copies = 2 if self.double_buffer else 1
        for attr, word in (("input_buffer_bytes", self.bytes_per_element),
                           ("weight_buffer_bytes", self.bytes_per_element),
                           ("output_buffer_bytes", self.accumulator_bytes)):
            if getattr(self, attr) < copies * word:
                raise ValueError(f"{attr}={getattr(self, attr)} cannot hold {copies} "
                                 f"{word}-byte element(s)" + (" (double buffering)" if copies == 2 else ""))

    # -- derived sizes -----------------------------------------------------
    @property
    def bits(self) -> int:
        return _BITS[self.precision]

    @property
    def bytes_per_element(self) -> int:
        return self.bits // 8

    @property
    def accumulator(self) -> str:
        return ACCUMULATORS[self.precision]

    @property
    def accumulator_bytes(self) -> int:
        return 4

    @property
    def buffer_words(self) -> dict:
        """Capacity of each buffer in elements: A and B in the data type, C in accumulators."""
        return {"A": self.input_buffer_bytes // self.bytes_per_element,
                "B": self.weight_buffer_bytes // self.bytes_per_element,
                "C": self.output_buffer_bytes // self.accumulator_bytes}

    @property
    def macs(self) -> int:
        return self.rows * self.cols

    @property
    def peak_ops(self) -> float:
        """2 ops x MACs x clock."""
        return 2.0 * self.macs * self.clock_hz

    @property
    def ridge_point(self) -> float:
        """Peak ops per DRAM byte (the roofline's ridge)."""
        return self.peak_ops / self.dram_bandwidth

    # -- area ----------------------------------------------------------------
    @property
    def buffer_bytes(self) -> int:
        return self.input_buffer_bytes + self.weight_buffer_bytes + self.output_buffer_bytes

    def area_breakdown(self) -> dict:
        """Area in mm^2 of the MAC array and of the buffers (cells / array efficiency).

        >>> d = Design("t", 8, 8, "ws", "int8", 1e9, 1e10, 4096, 4096, 4096)
        >>> {k: round(v, 4) for k, v in d.area_breakdown().items()}     # 64 x 419 um^2; 96 kbit
        {'mac_array': 0.0268, 'buffers': 0.0291}
        """
        mac = self.macs * mac_cost(self.precision).area_um2 / 1e6
        sram = self.buffer_bytes * 8 * sram_um2_per_bit(self.sram_array_efficiency) / 1e6
        return {"mac_array": mac, "buffers": sram}

    @property
    def area_mm2(self) -> float:
        """MAC array + buffers (a lower bound: no control, I/O or wires)."""
        return sum(self.area_breakdown().values())

    # -- helpers -------------------------------------------------------------
    def systolic_array(self, **kwargs):
        """A :class:`~mini_accel.SystolicArray` with this array's size and dataflow."""
        from .systolic import SystolicArray
        return SystolicArray(self.rows, self.cols, dataflow=self.dataflow,
                             double_buffer=self.double_buffer, **kwargs)

    def replace(self, **changes) -> Design:
        """A copy with some fields changed (validated again).

        >>> from mini_accel.design import reference_design
        >>> reference_design("edge").replace(rows=16, cols=16).macs
        256
        """
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise TypeError(f"a Design has no field(s) {unknown}; its fields are {sorted(fields)}")
        fields.update(changes)
        return Design(**fields)

    @classmethod
    def from_preset(cls, preset, *, name: str | None = None, weight_buffer_bytes: int,
                    precision: str | None = None) -> Design:
        """A design from a :class:`~mini_accel.devices.AcceleratorPreset` (or its key).

        The preset gives array, dataflow, double buffering, clock, DRAM
        bandwidth, activation buffer (inputs) and accumulators (outputs); the
        weight buffer is not a preset field and must be given.

        >>> d = Design.from_preset("tpu_v1", weight_buffer_bytes=256 * 1024)
        >>> d.rows, d.cols, d.precision, d.double_buffer
        (256, 256, 'int8', True)
        """
        from .devices import AcceleratorPreset, get_preset
        if isinstance(preset, str):
            preset = get_preset(preset)
        check_instance("preset", preset, AcceleratorPreset,
                       what="an AcceleratorPreset or a key of devices.PRESETS")
        return cls(name or preset.name, preset.rows, preset.cols, preset.dataflow,
                   precision or preset.precision, preset.clock_hz, preset.dram_bandwidth,
                   preset.activation_buffer_bytes, weight_buffer_bytes, preset.accumulator_bytes,
                   double_buffer=preset.double_buffer)

    def describe(self) -> dict:
        """The design's parameters and derived sizes as a flat dict.

        >>> round(Design("t", 8, 8, "os", "int8", 1e9, 1e10, 4096, 4096, 4096).describe()["area_mm2"], 4)
        0.0559
        """
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out.update(peak_ops=self.peak_ops, area_mm2=self.area_mm2,
                   **{f"area_{k}_mm2": v for k, v in self.area_breakdown().items()})
        return out

    # -- energy models per operand -------------------------------------------
    def _energy_models(self) -> dict:
        """45 nm cost models: the data type (core, DRAM words), the accumulators, each buffer.

        A buffer access costs the 64-bit read of the smallest listed SRAM that
        holds the buffer (banks of 1 MB above that), scaled by the word's bits.
        """
        mac = mac_cost(self.precision)
        data = _width_model(self.bits, self.input_buffer_bytes)
        core_costs, core_sources = data.costs, dict(data.sources)
        core_costs["mac"] = mac.energy_pj
        core_sources["mac"] = mac.source
        hop_source = (f"D: {_source('wire_pj_per_bit_mm')} x bits x one PE pitch, "
                      f"sqrt({mac.area_um2:g} um^2) ({_source('hop_length_pe_pitches')})")
        core_costs["array"] = hop_energy_pj(self.precision)
        core_sources["array"] = hop_source
        core = _costs_model(core_costs, core_sources, self.bits, f"45nm {self.precision}")
        acc_base = _width_model(32, self.output_buffer_bytes)
        acc = _costs_model({**acc_base.costs, "array": hop_energy_pj(self.precision, bits=32)},
                           {**acc_base.sources, "array": hop_source}, 32, acc_base.name)
        a_buf = data
        w_buf = _width_model(self.bits, self.weight_buffer_bytes)
        return {"core": core, "acc": acc, "A": a_buf, "B": w_buf, "data": data}


# --------------------------------------------------------------------------- #
# Price
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class PriceModel:
    """Price of a chip: ``area_mm2 * usd_per_mm2 + fixed_usd``.

    The default ``usd_per_mm2`` is the IBS (2014) 40 nm wafer cost over the
    good silicon on a wafer, ``1898.83 / 63,617 mm^2`` = 0.0298 USD/mm^2
    (FLAG: 40 nm, a cost not a price). ``fixed_usd`` (package, test, DRAM,
    board) defaults to 0 (FLAG: no sourced value).

    >>> pm = PriceModel()
    >>> round(pm.usd_per_mm2, 5), round(pm.price(100.0), 3)
    (0.02985, 2.985)
    """

    usd_per_mm2: float | None = None
    fixed_usd: float | None = None

    def __post_init__(self):
        if self.usd_per_mm2 is None:
            good_mm2 = _const("wafer_gates_m_40nm") * 1e6 / (_const("used_gates_per_mm2_k_40nm") * 1e3)
            object.__setattr__(self, "usd_per_mm2", _const("wafer_cost_usd_40nm") / good_mm2)
        if self.fixed_usd is None:
            object.__setattr__(self, "fixed_usd", _const("chip_fixed_usd"))
        object.__setattr__(self, "usd_per_mm2", check_number("usd_per_mm2", self.usd_per_mm2, low=0))
        object.__setattr__(self, "fixed_usd", check_number("fixed_usd", self.fixed_usd, low=0))

    def price(self, area_mm2: float) -> float:
        """USD for a chip of ``area_mm2``.

        >>> PriceModel(usd_per_mm2=0.5, fixed_usd=10).price(100)
        60.0
        """
        return check_number("area_mm2", area_mm2, low=0) * self.usd_per_mm2 + self.fixed_usd

    @property
    def sources(self) -> dict:
        return {"usd_per_mm2": "D: " + _source("wafer_cost_usd_40nm") + " / good mm^2 per wafer ("
                               + _source("used_gates_per_mm2_k_40nm") + ")",
                "fixed_usd": _source("chip_fixed_usd")}
