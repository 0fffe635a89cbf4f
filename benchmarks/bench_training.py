"""Speed of training on the simulated array: one epoch of the digits MLP, with and without it.

Measured (best of ``--repeat`` runs, wall clock), for the MLP 64-32-10 on the
1347 training digits, batch 32 (42 steps, 5 GEMMs each):

* one epoch with numpy's float32 matmul (``array=None``) in each number format;
* one epoch with every forward and backward GEMM on a ``SystolicArray`` of
  ``--rows`` x ``--rows`` in each dataflow (fp32), and the simulated cycles;
* the ratio of the two, and simulated PE-cycles per second of wall clock.

The numbers are machine-dependent; nothing here is asserted in the tests.

Run:  .venv/bin/python benchmarks/bench_training.py [--rows 16] [--repeat 3]
"""
from __future__ import annotations

import argparse
import platform
from functools import partial

from _timing import best_of

from mini_accel import SystolicArray
from mini_accel.datasets import holdout_split, load_digits
from mini_accel.training import train_mlp_formats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16, help="array side (default 16)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    X, y = load_digits()
    Xtr, _, ytr, _ = holdout_split(X / 16, y, test_fraction=0.25, seed=0)
    print(f"python {platform.python_version()} on {platform.machine()}; MLP 64-32-10, "
          f"{len(ytr)} examples, batch 32, one epoch")
    base, _ = best_of(lambda: train_mlp_formats(Xtr, ytr, (32,), "fp32", epochs=1), args.repeat)
    print(f"{'run':34} {'seconds':>8} {'x numpy fp32':>13} {'sim. cycles':>12} {'PE-cycles/s':>12}")
    print(f"{'numpy fp32 (no array)':34} {base:8.3f} {1.0:13.2f}")
    for fmt in ("bf16", "fp16", "fp16_acc16"):
        t, _ = best_of(partial(train_mlp_formats, Xtr, ytr, (32,), fmt, epochs=1), args.repeat)
        print(f"{'numpy ' + fmt:34} {t:8.3f} {t / base:13.2f}")
    for df in ("ws", "os", "is"):
        arr = SystolicArray(args.rows, args.rows, df)
        t, run = best_of(partial(train_mlp_formats, Xtr, ytr, (32,), "fp32", epochs=1, array=arr), args.repeat)
        pe = run.cycles * args.rows * args.rows
        print(f"{f'array {args.rows}x{args.rows} {df} fp32':34} {t:8.3f} {t / base:13.2f} "
              f"{run.cycles:12,d} {pe / t:12.3g}")


if __name__ == "__main__":
    main()
