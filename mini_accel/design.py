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

Where the code lives
--------------------
This module gathers the public names of four modules, split along the
model's seams (import everything from here):

* :mod:`mini_accel.design_model`: the constants table, the MAC, hop and SRAM
  costs, :class:`Design` and :class:`PriceModel`;
* :mod:`mini_accel.design_eval`: workloads as GEMMs, the tiling search,
  per-layer time and energy, :func:`evaluate` and :class:`Evaluation`;
* :mod:`mini_accel.design_budget`: :class:`Budget`, :func:`check_constraints`,
  :func:`score`;
* :mod:`mini_accel.design_presets`: the reference designs, budgets and
  workloads, :data:`DESIGN_GRID` and :func:`single_changes`.

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

from . import design_budget as _budget
from . import design_eval as _eval
from . import design_model as _model
from .design_budget import (
    Budget,
    ConstraintCheck,
    ConstraintReport,
    check_constraints,
    score,
)
from .design_eval import (
    ACTIVATIONS,
    MAX_GEMM_SIDE,
    Evaluation,
    LayerResult,
    best_tiling,
    evaluate,
)
from .design_model import (
    ACCUMULATORS,
    MAX_BUFFER_BYTES,
    MAX_CLOCK_HZ,
    MAX_DRAM_BANDWIDTH,
    PRECISIONS,
    Design,
    MacCost,
    PriceModel,
    hop_energy_pj,
    load_design_table,
    mac_cost,
    sram_um2_per_bit,
)
from .design_presets import (
    DESIGN_GRID,
    REFERENCES,
    reference_budget,
    reference_design,
    reference_workload,
    single_changes,
)

__all__ = [
    "PRECISIONS",
    "ACCUMULATORS",
    "ACTIVATIONS",
    "MAX_CLOCK_HZ",
    "MAX_DRAM_BANDWIDTH",
    "MAX_BUFFER_BYTES",
    "MAX_GEMM_SIDE",
    "load_design_table",
    "mac_cost",
    "MacCost",
    "hop_energy_pj",
    "sram_um2_per_bit",
    "Design",
    "PriceModel",
    "best_tiling",
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

# Private names reached as before the split (benchmarks/bench_design.py clears the
# tiling caches through this module; tests read the limits table).
_BITS = _model._BITS
_LIMITS, _NEEDS_WORKLOAD = _budget._LIMITS, _budget._NEEDS_WORKLOAD
_best_tiling, _candidates, _reloads, _gemms = (_eval._best_tiling, _eval._candidates, _eval._reloads,
                                               _eval._gemms)
