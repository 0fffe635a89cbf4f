"""Design an accelerator, run a network on it, and check it against a budget.

A :class:`Design` is a systolic MAC array (rows x cols, dataflow, double
buffering), three on-chip buffers (inputs, weights, outputs), a number
format, a clock and a DRAM bandwidth. :func:`evaluate` runs a workload (the
GEMMs of a network from :mod:`mini_accel.workloads` or :mod:`mini_accel.nn`)
at a batch size and reports time, energy, area, power and cost;
:func:`check_constraints` says which limits of a :class:`Budget` hold; and
:func:`score` compares a design with a reference design.

How each number is computed (nothing is fitted; every constant has a source
in ``mini_accel/data/design_45nm.csv`` or the tables it builds on)
---------------------------------------------------------------------------
* **Activations.** A layer whose input and output fit together in the input
  buffer keeps them on chip, like the TPU's Unified Buffer: its input comes
  from DRAM only for the first layer or after a layer that did not fit, and
  its output goes to DRAM only for the last layer or before such a layer
  (``evaluate(..., activations="dram")`` sends every operand through DRAM).
* **Tiling.** The operands that do not stay on chip are cut into tiles that
  fit their buffers (two tiles each with double buffering): among tile
  sizes that are powers of two or the whole dimension and the six loop
  orders, the one moving the fewest DRAM bytes is kept (the closed form of
  :func:`mini_accel.scratchpad.reload_factors`) and counted exactly by
  :class:`~mini_accel.scratchpad.Scratchpad`. Outputs accumulate in the
  output buffer (int32 or fp32); a partial sum that must leave the chip
  travels at accumulator width, a finished output at the data type's width.
  Off chip, a convolution's input is its im2col matrix (an upper bound).
* **Cycles.** Compute: :func:`~mini_accel.systolic_cycles` of the GEMM on the
  array. Transfer: DRAM bytes / (bandwidth / clock). The two combine as in
  :meth:`~mini_accel.scratchpad.ScratchpadResult.estimate_cycles`: without
  double buffering they take turns (compute + transfer); with it they
  overlap, max(compute, transfer), plus the first tiles' load and the last
  output tile's write-back (only for operands that cross the DRAM
  interface). A layer is *memory bound* when its transfer time exceeds its
  compute time. Layers run one after the other; non-GEMM layers (ReLU,
  pooling, normalization) are not timed (a vector unit is not modelled).
* **Energy** (45 nm, :class:`~mini_accel.energy.EnergyModel`): MACs at the
  multiply + accumulate energy of the precision, 3 register accesses per
  MAC, PE-to-PE hops from :func:`~mini_accel.systolic_traffic` (one PE
  pitch of wire each at Keckler et al.'s 0.121 pJ per bit and mm, see
  :func:`hop_energy_pj`), buffer reads and writes, and DRAM words from the
  scratchpad counts. A buffer access
  costs the 64-bit read of the smallest listed SRAM holding it, scaled by
  bits; buffers above 1 MB count as 1 MB banks (FLAG). int16 and bf16 have
  no published 45 nm multiply: int16 uses the geometric mean of the int8
  and int32 multipliers, bf16 half the fp16 multiplier (both FLAG, see
  :func:`mac_cost`). Leakage is not modelled.
* **Area**: rows x cols x (multiplier + adder area of the 45 nm table) plus
  buffer bits x SRAM area per bit (CACTI's 146 F^2 cell at 45 nm, divided
  by ``sram_array_efficiency``, FLAG 1.0). Control, I/O, PE registers and
  wires are left out: the area is a lower bound.
* **Power** = energy / time while the workload runs. **Throughput per watt**
  = inferences per joule.
* **Price** (:class:`PriceModel`): silicon area x a wafer cost per mm^2 of
  good silicon (IBS 2014, 40 nm, FLAG) + a fixed cost per chip (0, FLAG).
  **Cost of ownership**: :func:`mini_accel.edge_server.total_cost_of_ownership`
  of that price and the power.

Reference designs and budgets (:data:`REFERENCES`, :func:`reference_design`,
:func:`reference_budget`): a TPU-v1-like server design built from
``devices.PRESETS["tpu_v1"]`` scored on ResNet-50 at batch 8 against a cost
budget, and a small edge baseline (a course choice, FLAG) scored on
MobileNetV2 at batch 1 against a power/area/latency budget.
:data:`DESIGN_GRID` and :func:`single_changes` describe the capstone's
design space for a local search.

Calibration: the TPU-v1-like design draws 28.1 W on ResNet-50 at batch 8
in this model, against the 40 W a busy TPU v1 die drew (Jouppi et al., ISCA
2017, Table 2; not its 75 W TDP): **30 % low** (no leakage or idle power is
modelled, and the TPU v1 is a 28 nm chip, not 45 nm). The per-hop energy is
taken from its sources, not fitted; the earlier 2 x RF hop (Eyeriss' 65 nm
ratio) gave 78 W, 94 % high.

Example
-------
>>> from mini_accel.design import Design, evaluate
>>> d = Design("toy", rows=16, cols=16, dataflow="ws", precision="int8", clock_hz=500e6,
...            dram_bandwidth=10e9, input_buffer_bytes=64 * 1024,
...            weight_buffer_bytes=64 * 1024, output_buffer_bytes=64 * 1024)
>>> d.peak_ops / 1e9                                  # 2 * 256 MACs * 500 MHz
256.0
>>> from mini_accel.nn import GemmShape
>>> ev = evaluate(d, [GemmShape(64, 64, 64)], batch=64)
>>> layer = ev.layers[0]
>>> layer.compute_cycles                      # (2*16 + 16 + 64 - 2) * 16 folds
1760.0
>>> layer.dram_bytes, layer.transfer_cycles   # A in, B in, C out: 3 x 4096 B at 20 B per cycle
(12288.0, 614.4)
>>> round(layer.cycles, 1), layer.bound       # no double buffering: one after the other
(2374.4, 'compute')
"""
from __future__ import annotations

import csv
import functools
import math
import numbers
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ._checks import positive_int as _int
from .energy import EnergyModel, EnergyReport, EnergyRow, load_table
from .scratchpad import LOOP_ORDERS, Scratchpad, reload_factors
from .systolic import DATAFLOWS, MAX_ARRAY_SIDE, systolic_cycles, systolic_traffic

__all__ = [
    "PRECISIONS",
    "ACCUMULATORS",
    "ACTIVATIONS",
    "load_design_table",
    "mac_cost",
    "MacCost",
    "hop_energy_pj",
    "sram_um2_per_bit",
    "Design",
    "PriceModel",
    "LayerResult",
    "Evaluation",
    "evaluate",
    "Budget",
    "ConstraintCheck",
    "ConstraintReport",
    "check_constraints",
    "score",
    "reference_design",
    "reference_budget",
    "reference_workload",
    "REFERENCES",
    "DESIGN_GRID",
    "single_changes",
]

#: Number formats a design can use.
PRECISIONS = ("int8", "int16", "bf16", "fp16", "fp32")
_BITS = {"int8": 8, "int16": 16, "bf16": 16, "fp16": 16, "fp32": 32}
#: Accumulator of each format: int32 for integers (the TPU v1 sums 8- and 16-bit
#: products in 32-bit accumulators, Jouppi et al. 2017 Sec. 2), fp32 for floats
#: (bf16 on the TPU MXU and fp16 in mixed precision accumulate in fp32).
ACCUMULATORS = {"int8": "int32", "int16": "int32", "bf16": "fp32", "fp16": "fp32", "fp32": "fp32"}
# An EnergyModel.horowitz_45nm data type with the same word width (memory costs
# depend only on the bits); the MAC of int16 and bf16 is replaced.
_WIDTH_MODEL = {8: "int8", 16: "fp16", 32: "fp32"}
#: Where activations live between layers (see :func:`evaluate`).
ACTIVATIONS = ("auto", "dram")
#: Sanity limits (not physics: far beyond every chip in devices.csv).
MAX_CLOCK_HZ = 20e9
MAX_DRAM_BANDWIDTH = 1e15
MAX_BUFFER_BYTES = 2**40
_DESIGN_TABLE = "design_45nm.csv"


# --------------------------------------------------------------------------- #
# Tables and argument checks
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("mini_accel").joinpath("data", _DESIGN_TABLE).read_text("utf-8")
    rows = {}
    for row in csv.DictReader(text.splitlines()):
        row["value"] = float(row["value"])
        rows[row["name"]] = row
    return rows


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


def _number(name: str, value, *, low: float = 0.0, high: float | None = None,
            allow_low: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating,
                                                                     np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < low or (value == low and not allow_low):
        raise ValueError(f"{name} must be {'>=' if allow_low else '>'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high:g}, got {value:g}")
    return value


def _precision(precision) -> str:
    if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision.lower()


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
    eff = _number("array_efficiency", eff, high=1.0)
    return _const("sram_cell_area_f2") * _const("feature_size_um") ** 2 / eff


# --------------------------------------------------------------------------- #
# One MAC: energy and area per precision
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class MacCost:
    """Energy (pJ) and area (um^2) of one multiply-accumulate unit at 45 nm."""

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


def mac_cost(precision: str) -> MacCost:
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


@functools.lru_cache(maxsize=None)
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


def hop_energy_pj(precision: str, bits: int | None = None) -> float:
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
    bits = _BITS[precision] if bits is None else _int("bits", bits)
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
    dataflow: str
    precision: str
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
        set_(self, "rows", _int("rows", self.rows, high=MAX_ARRAY_SIDE))
        set_(self, "cols", _int("cols", self.cols, high=MAX_ARRAY_SIDE))
        if not isinstance(self.dataflow, str) or self.dataflow.lower() not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS} (weight-, output- or "
                             f"input-stationary), got {self.dataflow!r}")
        set_(self, "dataflow", self.dataflow.lower())
        set_(self, "precision", _precision(self.precision))
        set_(self, "clock_hz", _number("clock_hz", self.clock_hz, high=MAX_CLOCK_HZ))
        set_(self, "dram_bandwidth", _number("dram_bandwidth (bytes/s)", self.dram_bandwidth,
                                             high=MAX_DRAM_BANDWIDTH))
        for attr in ("input_buffer_bytes", "weight_buffer_bytes", "output_buffer_bytes"):
            set_(self, attr, _int(attr, getattr(self, attr), high=MAX_BUFFER_BYTES))
        if not isinstance(self.double_buffer, (bool, np.bool_)):
            raise TypeError(f"double_buffer must be True or False, got {self.double_buffer!r}")
        set_(self, "double_buffer", bool(self.double_buffer))
        if self.sram_array_efficiency is None:
            set_(self, "sram_array_efficiency", _const("sram_array_efficiency"))
        set_(self, "sram_array_efficiency",
             _number("sram_array_efficiency", self.sram_array_efficiency, high=1.0))
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
        """Area in mm^2 of the MAC array and of the buffers (cells / array efficiency)."""
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

    def replace(self, **changes) -> "Design":
        """A copy with some fields changed (validated again).

        >>> reference_design("edge").replace(rows=16, cols=16).macs
        256
        """
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        fields.update(changes)
        return Design(**fields)

    @classmethod
    def from_preset(cls, preset, *, name: str | None = None, weight_buffer_bytes: int,
                    precision: str | None = None) -> "Design":
        """A design from a :class:`~mini_accel.devices.AcceleratorPreset` (or its key).

        The preset gives array, dataflow, double buffering, clock, DRAM
        bandwidth, activation buffer (inputs) and accumulators (outputs); the
        weight buffer is not a preset field and must be given.
        """
        from .devices import get_preset
        if isinstance(preset, str):
            preset = get_preset(preset)
        return cls(name or preset.name, preset.rows, preset.cols, preset.dataflow,
                   precision or preset.precision, preset.clock_hz, preset.dram_bandwidth,
                   preset.activation_buffer_bytes, weight_buffer_bytes, preset.accumulator_bytes,
                   double_buffer=preset.double_buffer)

    def describe(self) -> dict:
        """The design's parameters and derived sizes as a flat dict."""
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
        object.__setattr__(self, "usd_per_mm2", _number("usd_per_mm2", self.usd_per_mm2,
                                                        allow_low=True))
        object.__setattr__(self, "fixed_usd", _number("fixed_usd", self.fixed_usd, allow_low=True))

    def price(self, area_mm2: float) -> float:
        """USD for a chip of ``area_mm2``."""
        return _number("area_mm2", area_mm2, allow_low=True) * self.usd_per_mm2 + self.fixed_usd

    @property
    def sources(self) -> dict:
        return {"usd_per_mm2": "D: " + _source("wafer_cost_usd_40nm") + " / good mm^2 per wafer ("
                               + _source("used_gates_per_mm2_k_40nm") + ")",
                "fixed_usd": _source("chip_fixed_usd")}


# --------------------------------------------------------------------------- #
# Workloads -> GEMMs
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Gemm:
    name: str
    gemm: object          # nn.GemmShape
    input_elems: int      # real activation tensors read (not the im2col copy)
    output_elems: int
    b_is_activation: bool = False   # e.g. attention: Q @ K^T multiplies two activations


def _gemms(workload, batch):
    """(name, list of _Gemm, batch) for a workload argument."""
    from .nn import GemmShape
    from .workloads import Workload, get_workload

    if isinstance(workload, str):
        b = 1 if batch is None else _int("batch", batch)
        workload = get_workload(workload, batch=b)
    if isinstance(workload, Workload):
        if batch is not None and _int("batch", batch) != workload.batch:
            raise ValueError(f"the workload was built for batch {workload.batch} but batch={batch}; "
                             "build it at the batch you want (e.g. resnet50(batch=8))")
        layers = [_Gemm(layer.name, layer.gemm, layer.input_elems, layer.output_elems,
                        layer.weight_elems == 0) for layer in workload.gemm_layers()]
        return workload.name, layers, workload.batch
    if isinstance(workload, (list, tuple)):
        if not workload:
            raise ValueError("workload is an empty list of GEMMs")
        layers = []
        for i, g in enumerate(workload):
            if isinstance(g, (tuple, list)) and len(g) in (3, 4):
                g = GemmShape(*g)
            if not isinstance(g, GemmShape):
                raise TypeError(f"workload[{i}] must be a GemmShape or an (M, K, N) tuple, "
                                f"got {type(g).__name__} ({g!r})")
            layers.append(_Gemm(f"gemm{i}", g, g.count * g.M * g.K, g.count * g.M * g.N))
        b = 1 if batch is None else _int("batch", batch)
        return f"{len(layers)} GEMMs", layers, b
    raise TypeError("workload must be a workload name (see mini_accel.workloads.WORKLOADS), a "
                    "Workload, or a list of GemmShape / (M, K, N) tuples (e.g. "
                    f"model.gemm_shapes((batch, 64))), got {type(workload).__name__}")


@functools.lru_cache(maxsize=4096)
def _candidates(extent: int) -> tuple:
    sizes = {extent}
    p = 1
    while p < extent:
        sizes.add(p)
        p *= 2
    return tuple(sorted(sizes, reverse=True))


@functools.lru_cache(maxsize=65536)
def _reloads(m_trips: int, k_trips: int, n_trips: int) -> tuple:
    """(A, B, C) reload factors of each loop order in :data:`LOOP_ORDERS`, for these trips."""
    trips = {"m": m_trips, "k": k_trips, "n": n_trips}
    return tuple((r["A"], r["B"], r["C"]) for r in (reload_factors(trips, o) for o in LOOP_ORDERS))


@functools.lru_cache(maxsize=4096)
def _best_tiling(M, K, N, words, copies, elem_bytes, acc_bytes, a_on_chip, b_on_chip):
    """(tile_m, tile_k, tile_n, order) moving the fewest DRAM bytes, largest tiles first.

    With ``a_on_chip`` the whole of A sits in the input buffer: its tiles cost
    no DRAM traffic and need no room of their own (the same for B with
    ``b_on_chip``, an activation operand such as the keys of attention).

    For given ``tm`` and ``tk`` only the largest ``tn`` that fits is tried:
    fewer trips never raise a reload factor, so a smaller ``tn`` can only tie
    or lose, and ties go to the larger tiles (``tests/test_design.py``
    checks this against trying every ``tn``).
    """
    wa, wb, wc = words
    best = None
    for tm in _candidates(M):
        for tk in _candidates(K):
            if not a_on_chip and copies * tm * tk > wa:
                continue
            for tn in _candidates(N):
                if (not b_on_chip and copies * tk * tn > wb) or copies * tm * tn > wc:
                    continue
                mt, kt, nt = -(-M // tm), -(-K // tk), -(-N // tn)
                steps = mt * kt * nt
                for rank, (ra, rb, rc) in enumerate(_reloads(mt, kt, nt)):
                    # DRAM bytes as Scratchpad counts them (the finished outputs,
                    # the same for every tiling, are left out).
                    nbytes = (elem_bytes * ((0 if b_on_chip else rb * K * N)
                                            + (0 if a_on_chip else ra * M * K))
                              + acc_bytes * 2 * (rc - 1) * M * N)
                    key = (nbytes, steps, rank)
                    if best is None or key < best[0]:
                        best = (key, (tm, tk, tn, LOOP_ORDERS[rank]))
                break       # the largest tn that fits dominates the smaller ones
    return best[1]


# --------------------------------------------------------------------------- #
# Evaluation
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class LayerResult:
    """One GEMM layer of an evaluation (``count`` identical GEMMs, e.g. groups or heads).

    ``on_chip`` says whether the layer's activations stayed in the input
    buffer; ``tiles`` and ``order`` are the tiling chosen for the buffers.
    """

    name: str
    M: int
    K: int
    N: int
    count: int
    on_chip: bool
    tiles: tuple
    order: str
    compute_cycles: float
    transfer_cycles: float
    cycles: float
    dram_bytes: float
    energy_pj: float

    @property
    def macs(self) -> int:
        return self.count * self.M * self.K * self.N

    @property
    def bound(self) -> str:
        """``"memory"`` when moving the bytes takes longer than computing."""
        return "memory" if self.transfer_cycles > self.compute_cycles else "compute"

    def to_dict(self) -> dict:
        return {"name": self.name, "M": self.M, "K": self.K, "N": self.N, "count": self.count,
                "on_chip": self.on_chip, "tile_m": self.tiles[0], "tile_k": self.tiles[1],
                "tile_n": self.tiles[2], "order": self.order, "macs": self.macs,
                "compute_cycles": self.compute_cycles, "transfer_cycles": self.transfer_cycles,
                "cycles": self.cycles, "bound": self.bound, "dram_bytes": self.dram_bytes,
                "energy_pj": self.energy_pj}


@dataclass(frozen=True)
class Evaluation:
    """What a design does on a workload at a batch size (see :func:`evaluate`)."""

    design: Design
    workload: str
    batch: int
    layers: tuple
    energy: EnergyReport
    price_model: PriceModel
    tco_options: dict = field(default_factory=dict)

    @property
    def cycles(self) -> float:
        return float(sum(layer.cycles for layer in self.layers))

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def latency_s(self) -> float:
        """Seconds for one batch."""
        return self.cycles / self.design.clock_hz

    @property
    def throughput_ips(self) -> float:
        """Inferences per second."""
        return self.batch / self.latency_s

    @property
    def utilization(self) -> float:
        """Useful MACs over PE-cycles."""
        return self.macs / (self.design.macs * self.cycles)

    @property
    def dram_bytes(self) -> float:
        return float(sum(layer.dram_bytes for layer in self.layers))

    @property
    def energy_j(self) -> float:
        """Energy of one batch in joules."""
        return self.energy.total * 1e-12

    @property
    def energy_per_inference_j(self) -> float:
        return self.energy_j / self.batch

    @property
    def power_w(self) -> float:
        """Average power while running: energy / time (no leakage)."""
        return self.energy_j / self.latency_s

    @property
    def throughput_per_watt(self) -> float:
        """Inferences per second per watt (= inferences per joule)."""
        return self.throughput_ips / self.power_w

    @property
    def area_mm2(self) -> float:
        return self.design.area_mm2

    @property
    def price_usd(self) -> float:
        return self.price_model.price(self.area_mm2)

    @property
    def throughput_per_usd(self) -> float:
        """Inferences per second per USD of chip price (inf for a free chip)."""
        price = self.price_usd
        return math.inf if price == 0 else self.throughput_ips / price

    @property
    def tco(self):
        """:func:`mini_accel.edge_server.total_cost_of_ownership` of the price and the power."""
        from .edge_server import total_cost_of_ownership
        return total_cost_of_ownership(self.price_usd, self.power_w, **self.tco_options)

    @property
    def usd_per_million_inferences(self) -> float:
        """Cost of ownership per million inferences (busy a ``utilization`` share of the time)."""
        return self.tco.cost_per_inference(self.throughput_ips) * 1e6

    @property
    def memory_bound_share(self) -> float:
        """Fraction of the cycles spent in memory-bound layers."""
        mem = sum(layer.cycles for layer in self.layers if layer.bound == "memory")
        return mem / self.cycles

    def summary(self) -> dict:
        """The headline numbers as a flat dict (SI units).

        Every limit of a :class:`Budget` names one of its keys: ``max_power_w``
        limits ``power_w``, ``min_throughput_ips`` limits ``throughput_ips``.
        """
        return {"design": self.design.name, "workload": self.workload, "batch": self.batch,
                "macs": self.macs, "cycles": self.cycles, "latency_s": self.latency_s,
                "throughput_ips": self.throughput_ips, "utilization": self.utilization,
                "memory_bound_share": self.memory_bound_share, "dram_bytes": self.dram_bytes,
                "energy_per_inference_j": self.energy_per_inference_j, "power_w": self.power_w,
                "area_mm2": self.area_mm2, "price_usd": self.price_usd,
                "throughput_per_watt": self.throughput_per_watt,
                "throughput_per_usd": self.throughput_per_usd,
                "usd_per_million_inferences": self.usd_per_million_inferences,
                "tco_usd": self.tco.total_usd}

    def table(self) -> str:
        """One line per layer, then the totals, as text."""
        lines = [f"{self.design.name} on {self.workload}, batch {self.batch}",
                 f"{'layer':<26} {'M':>7} {'K':>6} {'N':>6} {'x':>3} {'chip':>4} {'tiles m,k,n':>16} "
                 f"{'order':>5} {'cycles':>11} {'bound':>7} {'DRAM kB':>9} {'uJ':>8}"]
        for r in self.layers:
            tiles = ",".join(str(t) for t in r.tiles)
            lines.append(f"{r.name[:26]:<26} {r.M:>7} {r.K:>6} {r.N:>6} {r.count:>3} "
                         f"{'yes' if r.on_chip else 'no':>4} {tiles:>16} {r.order:>5} "
                         f"{r.cycles:>11,.0f} {r.bound:>7} {r.dram_bytes / 1e3:>9,.1f} "
                         f"{r.energy_pj / 1e6:>8,.2f}")
        s = self.summary()
        lines.append(f"latency {s['latency_s'] * 1e3:.3f} ms, {s['throughput_ips']:,.0f} inferences/s, "
                     f"utilization {s['utilization']:.1%}, {s['energy_per_inference_j'] * 1e3:.3f} mJ "
                     f"per inference, {s['power_w']:.2f} W, {s['area_mm2']:.2f} mm^2, "
                     f"${s['price_usd']:.2f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Evaluation({self.design.name!r} on {self.workload!r}, batch {self.batch}: "
                f"{self.latency_s * 1e3:.3f} ms, {self.energy_per_inference_j * 1e3:.3f} mJ/inference, "
                f"{self.power_w:.2f} W, {self.area_mm2:.2f} mm^2)")


def _merge(rows) -> EnergyReport:
    """One report whose lines add up equal rows (same level, operation, operand, cost)."""
    merged: dict = {}
    for r in rows:
        key = (r.level, r.operation, r.operand, r.each, r.source)
        if key in merged:
            old = merged[key]
            merged[key] = EnergyRow(r.level, r.operation, r.operand, old.count + r.count, r.each,
                                    old.energy + r.energy, r.source)
        else:
            merged[key] = r
    return EnergyReport(list(merged.values()), unit="pJ", model="45nm design")


def _row(level, operation, operand, count, model: EnergyModel, key: str):
    each = model.cost(key)
    return EnergyRow(level, operation, operand, float(count), each, float(count) * each,
                     model.sources.get(key, ""))


def _layer(design: Design, models: dict, g: _Gemm, *, on_chip: bool, input_from_dram: bool,
           output_to_dram: bool) -> tuple:
    """Time, DRAM bytes and energy rows of one GEMM layer."""
    shape, c = g.gemm, g.gemm.count
    M, K, N = shape.M, shape.K, shape.N
    copies = 2 if design.double_buffer else 1
    words = design.buffer_words
    elem, acc = design.bytes_per_element, design.accumulator_bytes
    b_on_chip = on_chip and g.b_is_activation
    tm, tk, tn, order = _best_tiling(M, K, N, (words["A"], words["B"], words["C"]), copies,
                                     elem, acc, on_chip, b_on_chip)
    # On chip, all of A (and of an activation B) is in the input buffer already.
    a_words = copies * M * K if on_chip else words["A"]
    b_words = copies * K * N if b_on_chip else words["B"]
    sp = Scratchpad(a_words, b_words, words["C"], design.double_buffer).gemm(
        M, K, N, tm, tk, tn, order, require_fit=True)
    tr = systolic_traffic(M, K, N, design.rows, design.cols, design.dataflow)
    compute = systolic_cycles(M, K, N, design.rows, design.cols, design.dataflow, design.double_buffer)

    # Words between DRAM and the buffers, per GEMM of the layer.
    final = M * N
    partial_out = sp.dram_writes["C"] - final          # partial sums spilled (accumulator width)
    partial_in = sp.dram_reads["C"]
    if on_chip:
        a_in = g.input_elems / c if input_from_dram else 0.0     # the real tensors, read once
        c_out = final if output_to_dram else 0
    else:
        a_in, c_out = sp.dram_reads["A"], final
    b_in = 0 if b_on_chip else sp.dram_reads["B"]
    dram_bytes = elem * (a_in + b_in + c_out) + acc * (partial_in + partial_out)

    bytes_per_cycle = design.dram_bandwidth / design.clock_hz
    transfer = dram_bytes / bytes_per_cycle
    if design.double_buffer:
        # The ideal overlap of ScratchpadResult.estimate_cycles: transfers hide under
        # compute except the first tiles' load and the last output tile's write-back,
        # counting only the operands that really cross the DRAM interface.
        first = (min(tm * tk, a_in) if a_in else 0) + (0 if b_on_chip else tk * tn)
        last = tm * tn if c_out else 0
        cycles = max(transfer, compute) + elem * (first + last) / bytes_per_cycle
    else:
        cycles = transfer + compute          # transfers and compute take turns

    core, acc_m, a_m, b_m, data = (models[k] for k in ("core", "acc", "A", "B", "data"))
    macs = c * M * K * N
    rows = [
        _row("PE", "mac", "", macs, core, "mac"),
        _row("RF", "access", "", macs * core.rf_per_mac, core, "rf"),
        _row("array", "hop", "A", c * tr["a_hops"], core, "array"),
        _row("array", "hop", "B", c * tr["b_hops"], core, "array"),
        _row("array", "hop", "C", c * tr["out_hops"], acc_m, "array"),
        _row("buffer", "read", "A", c * tr["a_reads"], a_m, "buffer"),
        _row("buffer", "read", "B", c * tr["b_reads"], a_m if b_on_chip else b_m, "buffer"),
        _row("buffer", "write", "C", c * tr["out_writes"], acc_m, "buffer"),
        _row("DRAM", "read", "A", c * a_in, data, "dram"),
        _row("buffer", "fill", "A", c * a_in, a_m, "buffer"),
        _row("DRAM", "read", "B", c * b_in, data, "dram"),
        _row("buffer", "fill", "B", c * b_in, b_m, "buffer"),
        _row("DRAM", "read", "C partial sums", c * partial_in, acc_m, "dram"),
        _row("buffer", "fill", "C partial sums", c * partial_in, acc_m, "buffer"),
        _row("buffer", "drain", "C partial sums", c * partial_out, acc_m, "buffer"),
        _row("DRAM", "write", "C partial sums", c * partial_out, acc_m, "dram"),
        _row("buffer", "drain", "C", c * final, acc_m, "buffer"),
    ]
    if output_to_dram or not on_chip:
        rows.append(_row("DRAM", "write", "C", c * final, data, "dram"))
    else:   # the finished outputs go into the input buffer for the next layer
        rows.append(_row("buffer", "write", "C to input buffer", c * final, a_m, "buffer"))
    rows = [r for r in rows if r.count > 0]
    result = LayerResult(g.name, M, K, N, c, on_chip, (tm, tk, tn), order, float(c * compute),
                         float(c * transfer), float(c * cycles), float(c * dram_bytes),
                         float(sum(r.energy for r in rows)))
    return result, rows


def evaluate(design: Design, workload, batch: int | None = None, *, activations: str = "auto",
             price_model: PriceModel | None = None, **tco_options) -> Evaluation:
    """Run ``workload`` on ``design``: cycles, latency, energy, power, area, cost.

    Parameters
    ----------
    design : Design
    workload : str, Workload or list of GemmShape / (M, K, N)
        A name from :data:`mini_accel.workloads.WORKLOADS` (built at
        ``batch``), a :class:`~mini_accel.workloads.Workload` (its batch is
        used), or the GEMMs of ``batch`` inferences, e.g.
        ``model.gemm_shapes((batch, 64))`` for an :mod:`mini_accel.nn` MLP.
    batch : int, optional
        Inferences per run (default 1, or the Workload's batch).
    activations : {"auto", "dram"}
        ``"auto"``: a layer whose input and output activations fit together
        in the input buffer keeps them on chip, like the TPU's Unified Buffer
        (its input comes from DRAM only after a layer that did not fit, or
        for the first layer; its output goes to DRAM only before such a layer,
        or for the last). ``"dram"``: every GEMM reads its operands from DRAM
        and writes its result back (the per-GEMM scratchpad view).
        Off chip, a convolution's input is its im2col matrix (an upper bound
        on its traffic); layers are treated as a chain (a residual branch
        does not hold buffer space).
    price_model : PriceModel, optional
    **tco_options
        Passed to :func:`mini_accel.edge_server.total_cost_of_ownership`
        (``years``, ``pue``, ``usd_per_kwh``, ``utilization``,
        ``idle_power_fraction``).

    >>> from mini_accel.nn import Sequential, Dense, ReLU
    >>> mlp = Sequential([Dense(64, 64, rng=0), ReLU(), Dense(64, 10, rng=1)])
    >>> ev = evaluate(reference_design("edge"), mlp.gemm_shapes((32, 64)), batch=32)
    >>> [(layer.on_chip, layer.bound) for layer in ev.layers]
    [(True, 'compute'), (True, 'compute')]
    >>> ev.macs == 32 * (64 * 64 + 64 * 10)
    True
    """
    if not isinstance(design, Design):
        raise TypeError(f"design must be a mini_accel.design.Design, got {type(design).__name__}")
    if activations not in ACTIVATIONS:
        raise ValueError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")
    if price_model is None:
        price_model = PriceModel()
    elif not isinstance(price_model, PriceModel):
        raise TypeError(f"price_model must be a PriceModel, got {type(price_model).__name__}")
    allowed = {"years", "pue", "usd_per_kwh", "utilization", "idle_power_fraction"}
    unknown = set(tco_options) - allowed
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; evaluate() takes {sorted(allowed)} "
                        "for the cost of ownership")
    name, gemms, batch = _gemms(workload, batch)
    if not gemms:
        raise ValueError(f"workload {name!r} has no GEMM layer to run on the array")
    models = design._energy_models()
    fits = [activations == "auto"
            and (g.input_elems + g.output_elems) * design.bytes_per_element <= design.input_buffer_bytes
            for g in gemms]
    layers, rows = [], []
    for i, g in enumerate(gemms):
        result, layer_rows = _layer(
            design, models, g, on_chip=fits[i],
            input_from_dram=(i == 0 or not fits[i - 1]),
            output_to_dram=(i == len(gemms) - 1 or not fits[i + 1]))
        layers.append(result)
        rows.extend(layer_rows)
    ev = Evaluation(design, name, batch, tuple(layers), _merge(rows), price_model, dict(tco_options))
    ev.tco  # check the cost-of-ownership options now, not at first use
    return ev


# --------------------------------------------------------------------------- #
# Budgets
# --------------------------------------------------------------------------- #
_LIMITS = (
    # field, metric on Evaluation, unit, "max" or "min"
    ("max_power_w", "power_w", "W", "max"),
    ("max_area_mm2", "area_mm2", "mm^2", "max"),
    ("max_price_usd", "price_usd", "USD", "max"),
    ("max_tco_usd", "tco_usd", "USD", "max"),
    ("max_latency_s", "latency_s", "s", "max"),
    ("min_throughput_ips", "throughput_ips", "inferences/s", "min"),
    ("max_energy_per_inference_j", "energy_per_inference_j", "J", "max"),
)
_NEEDS_WORKLOAD = {"power_w", "tco_usd", "latency_s", "throughput_ips", "energy_per_inference_j"}


@dataclass(frozen=True)
class Budget:
    """Limits a design must meet; ``None`` means no limit.

    ``max_tco_usd`` is the total cost of ownership over its years
    (:func:`mini_accel.edge_server.total_cost_of_ownership` with the
    evaluation's options). ``basis`` records where each limit comes from.

    >>> b = Budget("tiny", max_area_mm2=1.0)
    >>> check_constraints(reference_design("edge"), b).ok
    False
    """

    name: str
    max_power_w: float | None = None
    max_area_mm2: float | None = None
    max_price_usd: float | None = None
    max_tco_usd: float | None = None
    max_latency_s: float | None = None
    min_throughput_ips: float | None = None
    max_energy_per_inference_j: float | None = None
    basis: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        limits = 0
        for attr, *_ in _LIMITS:
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, _number(attr, value))
                limits += 1
        if not limits:
            raise ValueError("a Budget needs at least one limit (e.g. max_power_w=2.0)")
        if not isinstance(self.basis, dict):
            raise TypeError(f"basis must be a dict of limit -> source, got {type(self.basis).__name__}")

    def limits(self) -> dict:
        return {attr: getattr(self, attr) for attr, *_ in _LIMITS if getattr(self, attr) is not None}


@dataclass(frozen=True)
class ConstraintCheck:
    """One limit: the value reached, the limit, and whether it holds."""

    constraint: str
    value: float
    limit: float
    unit: str
    ok: bool

    def __str__(self) -> str:
        sign = "<=" if self.constraint.startswith("max") else ">="
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.constraint}: {self.value:.4g} {self.unit} {sign} {self.limit:.4g} {self.unit}"


@dataclass(frozen=True)
class ConstraintReport:
    """The outcome of :func:`check_constraints`."""

    design: str
    budget: str
    checks: tuple

    @property
    def ok(self) -> bool:
        """True when every limit holds."""
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list:
        return [c.constraint for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        return {c.constraint: {"value": c.value, "limit": c.limit, "unit": c.unit, "ok": c.ok}
                for c in self.checks}

    def __str__(self) -> str:
        verdict = "all limits hold" if self.ok else "FAILS " + ", ".join(self.failed)
        head = f"{self.design} vs budget {self.budget}: {verdict}"
        return "\n".join([head, *(f"  {c}" for c in self.checks)])


def check_constraints(design, budget: Budget, workload=None, batch: int | None = None,
                      **evaluate_options) -> ConstraintReport:
    """Which limits of ``budget`` the design meets, with the numbers.

    ``design`` is an :class:`Evaluation` (from :func:`evaluate`), or a
    :class:`Design` plus a ``workload`` (and ``batch``) to evaluate it on.
    Area and price need no workload; power, latency, throughput, energy and
    cost of ownership do.

    >>> rep = check_constraints(reference_design("edge"), reference_budget("edge"),
    ...                         *reference_workload("edge"))
    >>> rep.ok, [c.constraint for c in rep.checks]
    (True, ['max_power_w', 'max_area_mm2', 'max_latency_s'])
    """
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a Budget, got {type(budget).__name__}")
    if isinstance(design, Evaluation):
        if workload is not None:
            raise TypeError("design is already an Evaluation: do not pass a workload too")
        ev, d = design, design.design
    elif isinstance(design, Design):
        d = design
        ev = evaluate(design, workload, batch, **evaluate_options) if workload is not None else None
    else:
        raise TypeError(f"design must be a Design or an Evaluation, got {type(design).__name__}")
    checks = []
    for attr, metric, unit, kind in _LIMITS:
        limit = getattr(budget, attr)
        if limit is None:
            continue
        if metric in _NEEDS_WORKLOAD and ev is None:
            raise ValueError(f"budget {budget.name!r} limits {attr}, which depends on the workload: "
                             "pass workload= (and batch=) or an Evaluation")
        if metric == "area_mm2":
            value = d.area_mm2
        elif metric == "price_usd":
            value = (ev.price_model if ev is not None else
                     evaluate_options.get("price_model") or PriceModel()).price(d.area_mm2)
        elif metric == "tco_usd":
            value = ev.tco.total_usd
        else:
            value = getattr(ev, metric)
        ok = value <= limit if kind == "max" else value >= limit
        checks.append(ConstraintCheck(attr, float(value), limit, unit, bool(ok)))
    return ConstraintReport(d.name, budget.name, tuple(checks))


def score(evaluation: Evaluation, reference: Evaluation) -> dict:
    """How a design compares with a reference on the same workload (> 1: better).

    * ``energy_gain`` = reference energy per inference / this one's,
    * ``throughput_per_watt_gain``, ``throughput_per_usd_gain`` (chip price),
    * ``tco_gain`` = reference cost of ownership per inference / this one's,
    * ``speedup`` = reference latency / this one's.

    >>> ev = evaluate(reference_design("edge"), *reference_workload("edge"))
    >>> score(ev, ev)["energy_gain"]
    1.0
    """
    for name, ev in (("evaluation", evaluation), ("reference", reference)):
        if not isinstance(ev, Evaluation):
            raise TypeError(f"{name} must be an Evaluation from evaluate(), got {type(ev).__name__}")
    if evaluation.workload != reference.workload or evaluation.batch != reference.batch:
        raise ValueError(f"compare designs on the same workload and batch: {evaluation.workload!r} "
                         f"batch {evaluation.batch} vs {reference.workload!r} batch {reference.batch}")
    e, r = evaluation, reference
    return {
        "energy_gain": r.energy_per_inference_j / e.energy_per_inference_j,
        "throughput_per_watt_gain": e.throughput_per_watt / r.throughput_per_watt,
        "throughput_per_usd_gain": (e.throughput_per_usd / r.throughput_per_usd
                                    if math.isfinite(r.throughput_per_usd) else math.nan),
        "tco_gain": r.usd_per_million_inferences / e.usd_per_million_inferences,
        "speedup": r.latency_s / e.latency_s,
    }


# --------------------------------------------------------------------------- #
# Reference designs, budgets and workloads
# --------------------------------------------------------------------------- #
def _tpu_v1_like() -> Design:
    from .devices import get_preset
    p = get_preset("tpu_v1")
    fifo = int(_const("tpu_v1_weight_fifo_tiles")) * p.rows * p.cols   # 8-bit weights
    return Design.from_preset(p, name="TPU-v1-like (server)", weight_buffer_bytes=fifo)


def _edge() -> Design:
    from .devices import get_device, get_preset
    side = int(_const("edge_array_side"))
    kib = int(_const("edge_buffer_kib")) * 1024
    tpu = get_preset("tpu_v1")
    return Design("edge reference", side, side, "ws", "int8", tpu.clock_hz,
                  get_device("Jetson Orin Nano 8GB (original)").bandwidth,
                  kib, kib // 4, kib // 4, double_buffer=True)


#: The reference designs: key -> (builder, budget key, workload name, batch, why).
REFERENCES = {
    "server": {
        "design": _tpu_v1_like,
        "workload": ("resnet50", 8),
        "sources": {
            "design": "devices.PRESETS['tpu_v1'] (Jouppi et al. ISCA 2017): 256x256 int8 ws, "
                      "double-buffered, 700 MHz, 34 GB/s, 24 MiB Unified Buffer (inputs), 4 MiB "
                      "accumulators (outputs); weight buffer = the 4-tile weight FIFO (256 KiB, Sec. 2)",
            "workload": "ResNet-50 at batch 8: course choice (FLAG); batch 8 is the TPU paper's "
                        "CNN0 batch (Table 1)",
        },
    },
    "edge": {
        "design": _edge,
        "workload": ("mobilenet_v2", 1),
        "sources": {
            "design": "course baseline, not a real chip (FLAG): " + _source("edge_array_side")
                      + "; " + _source("edge_buffer_kib") + "; clock 700 MHz of the TPU v1 preset; "
                      "DRAM bandwidth of the Jetson Orin Nano 8GB (devices.csv, S)",
            "workload": "MobileNetV2 at batch 1 (one camera frame): course choice (FLAG)",
        },
    },
}


def reference_design(name: str) -> Design:
    """A reference design: ``"server"`` (TPU-v1-like) or ``"edge"`` (course baseline).

    >>> d = reference_design("server")
    >>> d.rows, d.cols, d.weight_buffer_bytes // 1024, d.input_buffer_bytes // 2**20
    (256, 256, 256, 24)
    """
    if name not in REFERENCES:
        raise KeyError(f"unknown reference {name!r}; choose from {sorted(REFERENCES)}")
    return REFERENCES[name]["design"]()


def reference_workload(name: str) -> tuple:
    """``(workload name, batch)`` the reference design is scored on."""
    if name not in REFERENCES:
        raise KeyError(f"unknown reference {name!r}; choose from {sorted(REFERENCES)}")
    return REFERENCES[name]["workload"]


def reference_budget(name: str) -> Budget:
    """The budget of the edge or the server challenge, each limit with its basis.

    * ``"edge"``: power <= the Edge TPU's 2 W (Coral datasheet, devices.csv),
      area <= 4 mm^2 (course choice, FLAG), latency <= one frame at 30
      frames/s (course choice, FLAG).
    * ``"server"`` (a cost budget): a cost of ownership no higher than that
      of a 331 mm^2 chip drawing one TPU v1 die's share of its server's TDP
      (861 W / 4 dies, Jouppi Table 2; price model and edge_server
      defaults), area <= 331 mm^2 (the TPU v1 die is at most half of
      Haswell's 662 mm^2, Table 2), latency <= the 7 ms MLP0 deadline
      (Table 4).

    >>> round(reference_budget("server").max_tco_usd)      # 215 W x 1.57 PUE x 5 years + $9.88
    1204
    """
    from .devices import get_device
    from .edge_server import DEFAULT_DEADLINE_S, total_cost_of_ownership
    if name == "edge":
        coral = get_device("Edge TPU")
        fps = _const("edge_frame_rate_fps")
        return Budget("edge", max_power_w=coral.tdp_w, max_area_mm2=_const("edge_area_budget_mm2"),
                      max_latency_s=1.0 / fps, basis={
                          "max_power_w": f"{coral.name}: {coral.tdp_w:g} W (devices.csv; flagged: "
                                         "'using 2 watts' at 4 TOPS, not a formal TDP)",
                          "max_area_mm2": _source("edge_area_budget_mm2"),
                          "max_latency_s": _source("edge_frame_rate_fps")})
    if name == "server":
        tpu = get_device("Google TPU v1")
        area = _const("haswell_die_mm2") / 2
        watts = _const("tpu_v1_server_tdp_w") / _const("tpu_v1_dies_per_server")
        tco = total_cost_of_ownership(PriceModel().price(area), watts).total_usd
        return Budget("server", max_tco_usd=tco, max_area_mm2=area,
                      max_latency_s=DEFAULT_DEADLINE_S, basis={
                          "max_tco_usd": f"D: total_cost_of_ownership(PriceModel().price({area:g} mm^2), "
                                         f"{watts:g} W) with the edge_server defaults: no dearer to own "
                                         f"than one {tpu.name} die's share of its server at TDP "
                                         "(Jouppi et al. ISCA 2017 Table 2: 861 W, 4 dies; includes the "
                                         "host's share)",
                          "max_area_mm2": "TPU v1 die <= half the 662 mm^2 Haswell die, Jouppi et al. "
                                          "Table 2 (P; D: 331 mm^2)",
                          "max_latency_s": "MLP0 7 ms 99th-percentile limit, Jouppi et al. Table 4 (P)"})
    raise KeyError(f"unknown budget {name!r}; choose 'edge' or 'server'")


# --------------------------------------------------------------------------- #
# The design space of the capstone (Lab 9)
# --------------------------------------------------------------------------- #
_POW2 = lambda lo, hi: tuple(2 ** k for k in range(lo, hi + 1))   # noqa: E731
#: The free parameters of a design in the Lab 9 challenge and the values each may
#: take (the explorer's sliders). Clock, DRAM bandwidth and SRAM efficiency are
#: fixed by the challenge's rules and are not in the grid.
DESIGN_GRID = {
    "rows": _POW2(2, 9),
    "cols": _POW2(2, 9),
    "dataflow": DATAFLOWS,
    "precision": PRECISIONS,
    "input_buffer_bytes": tuple(1024 * k for k in _POW2(4, 15)),     # 16 KiB .. 32 MiB
    "weight_buffer_bytes": tuple(1024 * k for k in _POW2(4, 13)),    # 16 KiB .. 8 MiB
    "output_buffer_bytes": tuple(1024 * k for k in _POW2(4, 13)),
    "double_buffer": (False, True),
}


def single_changes(design: Design, grid: dict | None = None):
    """Every design one step away: one parameter set to another value of ``grid``.

    Yields ``(parameter, value, new_design)`` in the grid's order (default
    :data:`DESIGN_GRID`); values the :class:`Design` refuses (e.g. a buffer
    too small for double buffering) are skipped. A local search evaluates
    these neighbours and moves to the best one that meets the budget.

    >>> moves = list(single_changes(reference_design("edge")))
    >>> len(moves), moves[0][:2]
    (50, ('rows', 4))
    """
    if not isinstance(design, Design):
        raise TypeError(f"design must be a Design, got {type(design).__name__}")
    grid = DESIGN_GRID if grid is None else grid
    if not isinstance(grid, dict) or not grid:
        raise TypeError("grid must be a non-empty dict {parameter: values}, e.g. DESIGN_GRID")
    unknown = set(grid) - set(Design.__dataclass_fields__)
    if unknown:
        raise ValueError(f"grid has unknown parameter(s) {sorted(unknown)}; a Design has "
                         f"{sorted(Design.__dataclass_fields__)}")
    for param, values in grid.items():
        for value in values:
            if getattr(design, param) == value:
                continue
            try:
                new = design.replace(**{param: value})
            except ValueError:
                continue
            yield param, value, new

