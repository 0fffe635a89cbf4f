"""Speed of the quantization chapter: calibration, quantizers, integer layers, PTQ.

Measured (best of ``--repeat`` runs, wall clock):

* calibration of ``--n`` (default 1e6) Laplace activations with each
  method at 8 bits, and the clipping threshold it picks; PyTorch's
  ``MinMaxObserver`` and ``HistogramObserver`` (a different, L2-based
  search) on the same data when torch is importable, as peers;
* ``quantize`` and ``fake_quant`` throughput on the same data;
* an integer-only dense layer (int8 x int8 -> int32 on a 256 x 256
  SystolicArray, requantized to int8) of shape (256, 1024) @ (1024, 256);
* the whole ``ptq_report`` (train the digits MLP, 8 PTQ variants).

Run:  .venv/bin/python benchmarks/bench_quant.py [--n N] [--repeat R]
"""
from __future__ import annotations

import argparse
import platform
import warnings

import numpy as np
from _timing import best_of

from mini_accel import SystolicArray
from mini_accel.calibration import METHODS, calibrate
from mini_accel.ptq import ptq_report
from mini_accel.quantizers import fake_quant, qparams_from_range, quantize
from mini_accel.requant import IntegerLinear


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    x = np.random.default_rng(0).laplace(size=args.n)

    print(f"\nCalibration of {args.n:,} Laplace(0, 1) values, 8 bits, symmetric")
    print(f"{'method':<28}{'seconds':>10}{'threshold':>12}{'MSE':>12}")
    for method in METHODS:
        sec, cal = best_of(lambda m=method: calibrate(x, m, 8), args.repeat)
        print(f"{method:<28}{sec:>10.3f}{cal.amax:>12.4f}{cal.error(x)['mse']:>12.3e}")
    try:
        import torch
        from torch.ao.quantization import HistogramObserver, MinMaxObserver
    except ImportError:
        print("(torch not installed: no PyTorch observers to compare)")
    else:
        t = torch.from_numpy(x.astype(np.float32))
        for name, cls in (("torch MinMaxObserver", MinMaxObserver),
                          ("torch HistogramObserver", HistogramObserver)):
            def run(cls=cls):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    obs = cls(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
                    obs(t)
                    return obs.calculate_qparams()
            sec, (s, _) = best_of(run, args.repeat)
            print(f"{name:<28}{sec:>10.3f}{float(s) * 127.5:>12.4f}{'':>12}")

    qp = qparams_from_range(-8.0, 8.0, 8, symmetric=True, narrow=True)
    sec_q, _ = best_of(lambda: quantize(x, qp), args.repeat)
    sec_f, _ = best_of(lambda: fake_quant(x, qp), args.repeat)
    print(f"\nquantize   {args.n / sec_q / 1e6:8.1f} M values/s")
    print(f"fake_quant {args.n / sec_f / 1e6:8.1f} M values/s")

    rng = np.random.default_rng(1)
    M, K, N = 256, 1024, 256
    W = rng.standard_normal((K, N)) / 32
    xin = np.abs(rng.standard_normal((M, K)))
    qin = qparams_from_range(0.0, float(xin.max()), 8)
    y = xin @ W
    qout = qparams_from_range(float(y.min()), float(y.max()), 8)
    layer = IntegerLinear.from_float(W, np.zeros(N), qin, qout)
    qx = quantize(xin, qin)
    arr = SystolicArray(256, 256)
    sec, (qy, res) = best_of(lambda: layer.forward(qx, arr), args.repeat)
    print(f"\nIntegerLinear ({M}, {K}) @ ({K}, {N}) on a 256x256 ws array: {sec * 1e3:.1f} ms, "
          f"{res.macs / sec / 1e9:.2f} G simulated MAC/s, {res.cycles:,} array cycles")

    sec, rep = best_of(lambda: ptq_report(seed=0), 1)
    print(f"\nptq_report(seed=0): {sec:.2f} s\n{rep.table()}")


if __name__ == "__main__":
    main()
