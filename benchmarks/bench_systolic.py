"""How fast is the cycle-level systolic simulator? Against numpy and SCALE-Sim.

For each configuration (array size, GEMM shape, dataflow, operand dtype) this
prints, measured in this one run on one core:

* ``ours ms``: wall time of ``SystolicArray(rows, cols, dataflow).matmul(A, B)``,
  best of ``--repeats`` runs (validation and casts included: it is the public
  call a student makes);
* ``PE-cyc/s``: simulated PE-cycles per second, ``rows * cols * cycles / s``;
* ``x numpy``: our time over ``numpy.matmul`` on the same operands already cast
  to the accumulator type (int32 for int8, float32 for float32), best of
  ``--repeats``. numpy has no BLAS for integers, so its int32 matmul is slow;
* when ``scalesim`` is importable and the GEMM is small enough (see
  ``--scalesim-max-work``): SCALE-Sim v3's wall time on the same GEMM, array
  and dataflow (one run: it is deterministic and slow), its simulated
  PE-cycles per second, our speed-up over it, and its reported cycles next to
  ours. SCALE-Sim does not compute values, so it runs once per shape and its
  numbers are shared by the int8 and float32 rows.

Every output is also checked against numpy (exact for int8, 1e-3 relative
for float32) and the row is marked in the ``ok`` column.

Run from the repository root::

    .venv/bin/python benchmarks/bench_systolic.py            # about 2-4 minutes
    .venv/bin/python benchmarks/bench_systolic.py --quick    # a few seconds
    .venv/bin/python benchmarks/bench_systolic.py --json results.json
"""
from __future__ import annotations

import os

# One core, no threads: set before numpy (and its BLAS) is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402

import mini_accel  # noqa: E402
from mini_accel import SystolicArray, systolic_cycles, systolic_folds  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scalesim_runner  # noqa: E402
from _timing import best_of  # noqa: E402

#: (rows, cols, M, K, N, dataflows, dtypes) of the full run.
FULL = [
    (8, 8, 64, 64, 64, ("ws", "os", "is"), ("int8",)),
    (16, 16, 128, 128, 128, ("ws", "os", "is"), ("int8", "float32")),
    (8, 8, 256, 256, 256, ("ws",), ("int8", "float32")),
    (32, 32, 256, 256, 256, ("ws", "os", "is"), ("int8",)),
    (32, 32, 512, 512, 512, ("ws", "os", "is"), ("int8", "float32")),
    (128, 128, 1024, 1024, 1024, ("ws", "os", "is"), ("int8", "float32")),
    (256, 256, 1024, 1024, 1024, ("ws", "os", "is"), ("int8", "float32")),
]
QUICK = [
    (8, 8, 64, 64, 64, ("ws", "os", "is"), ("int8",)),
    (32, 32, 256, 256, 256, ("ws",), ("int8", "float32")),
    (64, 64, 256, 256, 256, ("ws",), ("int8",)),
]
#: Accumulator dtype numpy is given, per operand dtype.
ACCUMULATOR = {"int8": np.int32, "float32": np.float32}


def pin_to_one_core() -> str:
    """Pin this process to one CPU (Linux); return a note saying which."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity); BLAS threads = 1"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}; BLAS threads = 1"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(pin_note: str) -> dict:
    info = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cores_used": pin_note,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mini_accel": mini_accel.__version__,
        "scalesim": None,
    }
    if scalesim_runner.scalesim_available():
        from importlib.metadata import version
        info["scalesim"] = version("scalesim")
    return info


def operands(M: int, K: int, N: int, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    if dtype == "int8":
        return (rng.integers(-128, 128, (M, K)).astype(np.int8),
                rng.integers(-128, 128, (K, N)).astype(np.int8))
    return (rng.standard_normal((M, K)).astype(np.float32),
            rng.standard_normal((K, N)).astype(np.float32))


def scalesim_schedule_cycles(M, K, N, rows, cols, dataflow) -> int:
    """SCALE-Sim's schedule length predicted from our closed form (see the parity test)."""
    ours = systolic_cycles(M, K, N, rows, cols, dataflow)
    if dataflow == "os":
        return ours - systolic_folds(M, K, N, rows, cols, dataflow) * rows
    return ours


def scalesim_work(M, K, N, rows, cols, dataflow) -> int:
    """SCALE-Sim's cost driver: schedule cycles x array columns.

    Its memory model walks its demand matrices cycle by cycle in Python and
    looks at every column's request, so its run time grows with this product
    (measured here: about 65 us per cycle at 8 columns, 450 us at 128).
    """
    return scalesim_schedule_cycles(M, K, N, rows, cols, dataflow) * cols


def run(configs, repeats: int, scalesim_max_work: int, scalesim_budget_s: float,
        use_scalesim: bool) -> list[dict]:
    have_scalesim = use_scalesim and scalesim_runner.scalesim_available()
    scalesim_cache: dict[tuple, object] = {}
    numpy_cache: dict[tuple, float] = {}   # numpy's time does not depend on array or dataflow
    scalesim_spent = 0.0
    rows_out = []
    for rows, cols, M, K, N, dataflows, dtypes in configs:
        for dataflow in dataflows:
            for dtype in dtypes:
                A, B = operands(M, K, N, dtype)
                acc = ACCUMULATOR[dtype]
                A_np, B_np = A.astype(acc), B.astype(acc)
                arr = SystolicArray(rows, cols, dataflow=dataflow)
                ours_s, res = best_of(partial(arr.matmul, A, B), repeats)
                ref = np.matmul(A_np, B_np)
                if (M, K, N, dtype) not in numpy_cache:
                    numpy_cache[M, K, N, dtype] = best_of(partial(np.matmul, A_np, B_np), repeats)[0]
                numpy_s = numpy_cache[M, K, N, dtype]
                if dtype == "int8":
                    ok = bool(np.array_equal(res.output, ref))
                else:
                    ok = bool(np.allclose(res.output, ref, rtol=1e-3, atol=1e-3 * np.sqrt(K)))
                row = {
                    "rows": rows, "cols": cols, "M": M, "K": K, "N": N,
                    "dataflow": dataflow, "dtype": dtype, "cycles": res.cycles,
                    "ours_s": ours_s, "pe_cycles_per_s": res.pe_cycles / ours_s,
                    "numpy_s": numpy_s, "ours_over_numpy": ours_s / numpy_s, "ok": ok,
                    "scalesim_s": None, "scalesim_pe_cycles_per_s": None,
                    "speedup_vs_scalesim": None, "scalesim_reported_cycles": None,
                    "scalesim_schedule_cycles": None, "note": "",
                }
                key = (M, K, N, rows, cols, dataflow)
                work = scalesim_work(*key)
                if not have_scalesim:
                    row["note"] = "scalesim not run" if not use_scalesim else "scalesim not importable"
                elif key not in scalesim_cache and work > scalesim_max_work:
                    row["note"] = (f"scalesim skipped (too slow): cycles x cols = {work:.2e} "
                                   f"> {scalesim_max_work:.0e}")
                elif key not in scalesim_cache and scalesim_spent > scalesim_budget_s:
                    row["note"] = "scalesim skipped: time budget spent"
                else:
                    if key not in scalesim_cache:
                        scalesim_cache[key] = scalesim_runner.run_scalesim_gemm(*key)
                        scalesim_spent += scalesim_cache[key].wall_seconds
                    ss = scalesim_cache[key]
                    row.update(
                        scalesim_s=ss.wall_seconds,
                        scalesim_pe_cycles_per_s=rows * cols * ss.schedule_cycles / ss.wall_seconds,
                        speedup_vs_scalesim=ss.wall_seconds / ours_s,
                        scalesim_reported_cycles=ss.compute_cycles,
                        scalesim_schedule_cycles=ss.schedule_cycles,
                    )
                rows_out.append(row)
                print_row(row)
    return rows_out


HEADER = (f"{'array':>7} {'GEMM MxKxN':>14} {'df':>2} {'dtype':>7} {'cycles':>8} "
          f"{'ours ms':>9} {'PE-cyc/s':>9} {'x numpy':>8} {'ok':>3} | "
          f"{'SS ms':>9} {'SS PE-cyc/s':>11} {'speed-up':>8} {'SS cycles':>9}  note")


def _fmt(value, spec, width):
    return f"{'-':>{width}}" if value is None else f"{value:{width}{spec}}"


def print_row(r: dict) -> None:
    array, gemm = f"{r['rows']}x{r['cols']}", f"{r['M']}x{r['K']}x{r['N']}"
    print(f"{array:>7} {gemm:>14} "
          f"{r['dataflow']:>2} {r['dtype']:>7} {r['cycles']:>8} "
          f"{r['ours_s'] * 1e3:>9.2f} {r['pe_cycles_per_s']:>9.2e} {r['ours_over_numpy']:>8.2f} "
          f"{'yes' if r['ok'] else 'NO':>3} | "
          f"{_fmt(None if r['scalesim_s'] is None else r['scalesim_s'] * 1e3, '.1f', 9)} "
          f"{_fmt(r['scalesim_pe_cycles_per_s'], '.2e', 11)} "
          f"{_fmt(r['speedup_vs_scalesim'], '.0f', 7)}{'' if r['speedup_vs_scalesim'] is None else 'x'} "
          f"{_fmt(r['scalesim_reported_cycles'], 'd', 9)}  {r['note']}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (a few seconds)")
    parser.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (default 3)")
    parser.add_argument("--scalesim-max-work", type=float, default=8e6,
                        help="run SCALE-Sim only where its schedule cycles x array columns is at "
                             "most this (default 8e6: up to about 30 s per run here)")
    parser.add_argument("--scalesim-budget", type=float, default=150.0,
                        help="stop starting SCALE-Sim runs once they took this many seconds")
    parser.add_argument("--no-scalesim", action="store_true", help="skip SCALE-Sim entirely")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    pin_note = pin_to_one_core()
    info = machine_info(pin_note)
    print("Systolic-array simulator benchmark (mini_accel.SystolicArray.matmul)")
    for k, v in info.items():
        print(f"  {k:>12}: {v}")
    print(f"  {'timing':>12}: time.perf_counter, best of {args.repeats} (SCALE-Sim: 1 run); "
          "'x numpy' = our time / numpy.matmul time; speed-up = SCALE-Sim time / our time")
    print(f"  {'SS cycles':>12}: SCALE-Sim 'Total Cycles' (COMPUTE_REPORT.csv), compare with "
          "'cycles' (ours, double_buffer=False)")
    print()
    print(HEADER)
    start = time.perf_counter()
    results = run(QUICK if args.quick else FULL, args.repeats, args.scalesim_max_work,
                  args.scalesim_budget, not args.no_scalesim)
    total = time.perf_counter() - start
    print(f"\nwhole benchmark: {total:.1f} s; all outputs match numpy: "
          f"{all(r['ok'] for r in results)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "total_seconds": total, "results": results}, fh, indent=1)
        print(f"saved {args.json}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
