"""Run SCALE-Sim v3 on one GEMM and return its compute cycles and wall time.

SCALE-Sim (Samajdar et al., "SCALE-Sim: Systolic CNN Accelerator Simulator",
arXiv:1811.02883; v3 is ``pip install scalesim``, 3.0.0 on PyPI) is the
reference simulator that ``mini_accel.systolic_cycles`` is compared with in
``tests/test_scalesim_parity.py`` and ``benchmarks/bench_systolic.py``.

What this helper feeds SCALE-Sim
--------------------------------
* A GEMM topology CSV, one layer, ``Layer, M, N, K,``. SCALE-Sim's
  ``topologies.load_arrays_gemm`` turns that row into a 1x1 "convolution" with
  ``ifmap = M x K``, ``filter = K x N`` (``num_filt = N``, window ``= K``) and
  ``ofmap = M x N``, so our ``A (M, K) @ B (K, N)`` is written as
  ``M, N, K`` - N before K. (Its spatio-temporal mapping then is
  ws: S_R = K, S_C = N, T = M; is: S_R = K, S_C = M, T = N;
  os: S_R = M, S_C = N, T = K, the same as ``mini_accel``.)
* A config with the array size and dataflow, ``InterfaceBandwidth: CALC``
  (SCALE-Sim estimates the DRAM bandwidth it needs, so the SRAMs never stall
  the array) and large SRAMs; sparsity and custom layouts off.
* A layout CSV with only a header (SCALE-Sim insists on opening one; it is
  only read when custom layouts are on).

What comes back
---------------
* ``compute_cycles``: the ``Total Cycles`` column of SCALE-Sim's
  ``COMPUTE_REPORT.csv``. SCALE-Sim builds a *demand matrix* with one row per
  array cycle (``double_buffered_scratchpad.service_memory_requests`` serves
  row ``i`` at cycle ``i + stalls``) and reports ``int(max(served cycles))``:
  the **0-based index of the last cycle**, i.e. the number of cycles minus 1.
* ``schedule_cycles``: the number of rows of that demand matrix (the length
  of SCALE-Sim's cycle-by-cycle schedule, read from its python objects). With
  no stalls ``compute_cycles == schedule_cycles - 1``; both are returned so
  the relation can be checked rather than assumed.
* ``stall_cycles``: the ``Stall Cycles`` column, 0 in CALC mode (checked).
* ``folds`` and ``macs``: how many array-sized tiles SCALE-Sim cut the GEMM
  into and how many MACs it counted, from its python objects.

The column ``Total Cycles (incl. prefetch)`` adds SCALE-Sim's DRAM prefetch
before compute and is not used.

numpy >= 2.4
------------
scalesim 3.0.0 does ``int(max(list_of_shape_(1,)_arrays))`` on its output-
buffer service cycles, which numpy 2.4 turned from a DeprecationWarning into
a ``TypeError`` ("only 0-dimensional arrays can be converted to Python
scalars"). While it runs, this helper flattens the (n, 1) array returned by
``write_buffer.service_writes`` to shape (n,) - the same numbers, one
dimension less - and restores the original method afterwards. Checked: on 27
GEMM/array/dataflow cases the cycles are identical to an unpatched scalesim
3.0.0 under numpy 2.3.5.

Example (skipped when scalesim is not installed)::

    >>> from scalesim_runner import run_scalesim_gemm     # doctest: +SKIP
    >>> r = run_scalesim_gemm(4, 4, 4, 4, 4, "ws")            # doctest: +SKIP
    >>> r.schedule_cycles, r.compute_cycles                   # doctest: +SKIP
    (14, 13)
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
import time
from dataclasses import dataclass

DATAFLOWS = ("ws", "os", "is")

_CONFIG = """\
[general]
run_name = gemm

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {sram_kb}
FilterSramSzkB : {sram_kb}
OfmapSramSzkB : {sram_kb}
IfmapOffset : 0
FilterOffset : {filter_offset}
OfmapOffset : {ofmap_offset}
Dataflow : {dataflow}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : 10
IfmapSRAMBankNum : 10
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : 10
FilterSRAMBankNum : 10
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : CALC
UseRamulatorTrace : False
"""


@dataclass(frozen=True)
class ScaleSimResult:
    """SCALE-Sim's numbers for one GEMM (see the module docstring)."""

    M: int
    K: int
    N: int
    rows: int
    cols: int
    dataflow: str
    compute_cycles: int     # COMPUTE_REPORT.csv "Total Cycles" (last 0-based cycle index)
    schedule_cycles: int    # rows of SCALE-Sim's output demand matrix (one per cycle)
    stall_cycles: int       # COMPUTE_REPORT.csv "Stall Cycles"
    folds: int              # tiles SCALE-Sim cut the GEMM into (one mapping record per fold)
    macs: int               # MACs SCALE-Sim counted (ofmap pixels x window size)
    wall_seconds: float     # building the simulator object + run_scale()


def scalesim_available() -> bool:
    """Whether the ``scalesim`` package can be imported."""
    try:
        import scalesim.scale_sim  # noqa: F401
    except Exception:  # ImportError, or a broken install of its heavy deps
        return False
    return True


def _check(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


@contextlib.contextmanager
def _numpy24_compat():
    """Let scalesim 3.0.0 run under numpy >= 2.4 (see the module docstring)."""
    import numpy as np
    from scalesim.memory import write_buffer

    if np.lib.NumpyVersion(np.__version__) < "2.4.0":
        yield
        return
    cls = write_buffer.write_buffer
    original = cls.service_writes

    def service_writes_flat(self, *args, **kwargs):
        return original(self, *args, **kwargs).reshape(-1)

    cls.service_writes = service_writes_flat
    try:
        yield
    finally:
        cls.service_writes = original


def _read_compute_report(path: str) -> tuple[int, int]:
    with open(path, newline="") as fh:
        rows = [[cell.strip() for cell in row] for row in csv.reader(fh)]
    header, values = rows[0], rows[1]
    col = {name: i for i, name in enumerate(header)}
    return int(values[col["Total Cycles"]]), int(values[col["Stall Cycles"]])


def run_scalesim_gemm(M: int, K: int, N: int, rows: int, cols: int,
                      dataflow: str = "ws", *, keep_dir: str | None = None) -> ScaleSimResult:
    """Simulate ``A (M, K) @ B (K, N)`` on a ``rows x cols`` array with SCALE-Sim.

    Runs in a fresh temporary directory (or in ``keep_dir``, kept for
    inspection), with SCALE-Sim's printing silenced and no traces written.

    Raises ``ImportError`` when scalesim is not installed, ``ValueError`` for
    bad arguments and ``RuntimeError`` when SCALE-Sim reports stall cycles
    (which would mean the no-stall setup above did not hold).
    """
    M, K, N = _check("M", M), _check("K", K), _check("N", N)
    rows, cols = _check("rows", rows), _check("cols", cols)
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    from scalesim.scale_sim import scalesim

    # Addresses of the three operands must not overlap; SRAMs large enough
    # to hold every operand (in kB, word size 1 byte), at least SCALE-Sim's
    # defaults.
    biggest = max(M * K, K * N, M * N)
    sram_kb = max(1024, -(-2 * biggest // 1024))
    filter_offset = 10 ** len(str(M * K + 1))
    ofmap_offset = filter_offset + 10 ** len(str(K * N + 1))

    with contextlib.ExitStack() as stack:
        if keep_dir is None:
            work = stack.enter_context(tempfile.TemporaryDirectory(prefix="scalesim_"))
        else:
            work = keep_dir
            os.makedirs(work, exist_ok=True)
        cfg = os.path.join(work, "gemm.cfg")
        topo = os.path.join(work, "gemm_topology.csv")
        layout = os.path.join(work, "gemm_layout.csv")
        with open(cfg, "w") as fh:
            fh.write(_CONFIG.format(rows=rows, cols=cols, sram_kb=sram_kb, dataflow=dataflow,
                                    filter_offset=filter_offset, ofmap_offset=ofmap_offset))
        with open(topo, "w") as fh:
            fh.write("Layer, M, N, K,\n")
            fh.write(f"gemm, {M}, {N}, {K},\n")       # N before K: see the module docstring
        with open(layout, "w") as fh:
            fh.write("Layer,\n")
        out_dir = os.path.join(work, "results")

        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), _numpy24_compat():
            start = time.perf_counter()
            sim = scalesim(save_disk_space=True, verbose=False, config=cfg,
                           topology=topo, layout=layout, input_type_gemm=True)
            sim.run_scale(top_path=out_dir)
            wall = time.perf_counter() - start
        report = os.path.join(out_dir, "gemm", "COMPUTE_REPORT.csv")
        cycles, stalls = _read_compute_report(report)
        layer = sim.runner.single_layer_sim_object_list[0]
        schedule = int(layer.compute_system.get_ofmap_demand_mat().shape[0])
        folds = len(layer.compute_system.mapping_efficiency_per_fold)
        macs = int(layer.num_compute)

    if stalls:
        raise RuntimeError(
            f"SCALE-Sim reported {stalls} stall cycles for M={M}, K={K}, N={N} on "
            f"{rows}x{cols} {dataflow}; the runner's no-stall setup did not hold")
    return ScaleSimResult(M, K, N, rows, cols, dataflow, cycles, schedule, stalls,
                          folds, macs, wall)


if __name__ == "__main__":  # a quick look: python benchmarks/scalesim_runner.py
    for df in DATAFLOWS:
        r = run_scalesim_gemm(4, 4, 4, 4, 4, df)
        print(df, "schedule", r.schedule_cycles, "reported", r.compute_cycles,
              "stalls", r.stall_cycles, f"{r.wall_seconds:.3f} s")
