"""This machine measured with mini_accel.measure, and the measurement's own cost.

Measured (wall clock):

* ``measure_machine`` at a given budget: the GEMM peak per dtype and thread
  count, the STREAM-like bandwidth, the noise verdict, and how long the call
  took against its budget (the overrun is the stream part and the last size
  of each sweep, which is started while the budget lasts);
* the measured roofline beside catalog rooflines: ridge points, and the
  machine's peak as a fraction of the Haswell die of the TPU paper (Table 2);
* ``measure_workloads``: GEMMs of real layers against the measured roof;
* the peer: numpy's matmul timed directly at the sweep's best size with the
  same thread count, best of ``--repeat`` (the sweep reports a median, so
  its rate should be at or a little below this one).

Run:  .venv/bin/python benchmarks/bench_measure.py [--budget 3] [--repeat 5]
"""
from __future__ import annotations

import argparse
import platform
import time
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from mini_accel.devices import get_device
from mini_accel.measure import (
    blas_info,
    measure_machine,
    measure_workloads,
    summarize_gemm,
    time_call,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"{platform.platform()}, numpy {np.__version__}, BLAS {blas_info()}")
    t0 = time.perf_counter()
    report = measure_machine(args.budget, progress=False)
    spent = time.perf_counter() - t0
    print(f"measure_machine(budget_s={args.budget}) took {spent:.2f} s")
    print(report.summary())
    for dtype in ("float64", "float32"):
        for threads in report.threads():
            s = summarize_gemm(report.samples(dtype, threads), dtype)
            n = s["best_n"]
            a, c = np.ones((n, n), dtype), np.empty((n, n), dtype)
            with threadpool_limits(limits=threads, user_api="blas"):
                best = min(time_call(partial(np.matmul, a, a, out=c), repeats=args.repeat))
            direct = 2 * n**3 / best
            print(f"  peer {dtype:8s} {threads} thr n={n:5d}: best-of-{args.repeat} {direct / 1e9:8.1f} GFLOP/s; "
                  f"sweep median / peer best = {s['peak_ops'] / direct:.2f}")
    roof = report.roofline("float32")
    haswell = get_device("Haswell")
    print(f"measured fp32 roofline: peak {roof.peak / 1e9:.1f} GFLOP/s, {roof.bandwidth / 1e9:.1f} GB/s, "
          f"ridge {roof.ridge:.2f} ops/byte")
    print(f"  vs Haswell die (TPU paper Table 2, 1.3 TFLOPS, 51 GB/s, ridge {haswell.ridge_point('fp32'):.1f}): "
          f"peak x{roof.peak / haswell.peak('fp32'):.3f}, bandwidth x{roof.bandwidth / haswell.bandwidth:.2f}")
    for r in measure_workloads(report, "float32"):
        print(f"  {r['name'][:40]:40s} I={r['intensity']:7.1f}  {r['measured_ops'] / 1e9:8.1f} GFLOP/s "
              f"= {r['fraction_of_roof']:6.0%} of the roof ({r['bound']})")


if __name__ == "__main__":
    main()
