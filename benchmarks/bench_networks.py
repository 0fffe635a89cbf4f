"""Speed of the networks-as-matrices layer: import, MLP training, GEMMs on the array, workloads.

Run from the repository root:

    .venv/bin/python benchmarks/bench_networks.py

Prints numbers only; nothing here is asserted (the tests check correctness).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _timing import timings


def _best_of(fn, repeat=5):
    t = timings(fn, repeat)
    return t.best_s, t.median_s, t.value


def import_time(repeat: int = 7) -> tuple[float, float]:
    """Median wall time of `python -c "import mini_accel"` minus a bare interpreter start."""
    def run(code):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t0
    bare = statistics.median(run("pass") for _ in range(repeat))
    full = statistics.median(run("import mini_accel") for _ in range(repeat))
    return full, full - bare


def main() -> None:
    full, extra = import_time()
    print(f"import mini_accel: {1000 * full:.0f} ms including interpreter start, "
          f"{1000 * extra:.0f} ms for the import itself (median of 7)")

    from mini_accel import SystolicArray
    from mini_accel.datasets import holdout_split, load_digits
    from mini_accel.edge_server import compare_targets
    from mini_accel.nn import accuracy, train_mlp
    from mini_accel.workloads import bert_base, gpt2_small_decode, mobilenet_v2, resnet50

    best, med, (X, y) = _best_of(load_digits)
    print(f"load_digits: {1000 * med:.1f} ms median")
    Xtr, Xte, ytr, yte = holdout_split(X / 16.0, y, test_fraction=0.25, seed=0)

    best, med, model = _best_of(lambda: train_mlp(Xtr, ytr, hidden=(64,), epochs=30, lr=0.1,
                                                  batch_size=32, seed=0), repeat=3)
    print(f"train_mlp (64 hidden, 30 epochs, 1347 digits): {med:.2f} s median, "
          f"test accuracy {100 * accuracy(model, Xte, yte):.1f}% on {len(yte)} digits")

    arr = SystolicArray(16, 16, dataflow="ws")
    best, med, run = _best_of(lambda: model.forward_on(arr, Xte), repeat=3)
    print(f"MLP forward on a 16x16 ws array ({len(yte)} digits): {1000 * med:.0f} ms, "
          f"{run.cycles:,} cycles, utilization {run.utilization:.3f}, "
          f"same predictions as numpy: {bool((run.output.argmax(1) == model.predict(Xte)).all())}")

    for name, build in (("resnet50(batch=256)", lambda: resnet50(batch=256)),
                        ("mobilenet_v2()", mobilenet_v2),
                        ("bert_base(seq_len=512)", lambda: bert_base(seq_len=512)),
                        ("gpt2_small_decode()", gpt2_small_decode)):
        best, med, net = _best_of(build)
        print(f"{name}: built in {1000 * med:.1f} ms, {net.macs / 1e9:.3f} GMACs, "
              f"{net.params / 1e6:.3f} M params, matmul share {100 * net.matmul_share:.2f}%")

    best, med, rows = _best_of(lambda: compare_targets("resnet50", ["tpu_v1", "A100", "H100", "Orin Nano 8GB"]))
    print(f"compare_targets(resnet50, 4 devices): {1000 * med:.1f} ms")


if __name__ == "__main__":
    main()
