"""Speed of the design-challenge tools: evaluating designs, and the analog MAC model.

Measured (best of ``--repeat`` runs, wall clock):

* ``evaluate`` of each reference design on every network of
  ``mini_accel.workloads`` at batch 1 and 8, with a cold tiling cache (the
  first evaluation of a shape searches its tilings) and warm (repeated
  shapes hit the cache), plus the headline numbers it returns;
* ``analog_matmul`` of (1024, 256) @ (256, 256) with every effect on, against
  numpy's exact matmul (the peer: the cost of the analog model's extra
  passes);
* an ``analog_accuracy`` sweep of the digits MLP over 6 noise levels x 5 chips
  (what a lab cell runs);
* the capstone's design search (Lab 9): the ~50 single changes of each
  reference design, and the local search the lab teaches (``local_search``
  of ``tests/test_capstone_grid.py``) from each reference to its target:
  evaluations, evaluations per second, wall and CPU seconds, the gain reached.

Run:  .venv/bin/python benchmarks/bench_design.py [--repeat R]
"""
from __future__ import annotations

import argparse
import platform
import sys
from functools import partial
from pathlib import Path

import numpy as np
from _timing import best_of, timings

from mini_accel import design
from mini_accel.analog import AIHWKIT_DEFAULTS, analog_accuracy, analog_matmul
from mini_accel.datasets import holdout_split, load_digits
from mini_accel.nn import train_mlp
from mini_accel.workloads import WORKLOADS


def _count_single_changes(ref, workload) -> int:
    """How many designs one change away from ``ref`` evaluate (feasible) on ``workload``."""
    return sum(1 for _, _, d in design.single_changes(ref) if design.evaluate(d, *workload))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")

    print("\nevaluate(reference design, workload, batch): cold / warm seconds; results")
    for ref in design.REFERENCES:
        d = design.reference_design(ref)
        for name in WORKLOADS:
            for batch in (1, 8):
                for cache in (design._best_tiling, design._reloads, design._candidates):
                    cache.cache_clear()
                cold, ev = best_of(partial(design.evaluate, d, name, batch), 1)
                warm, ev = best_of(partial(design.evaluate, d, name, batch), args.repeat)
                print(f"  {ref:6s} {name:18s} b={batch}: {cold:6.3f} / {warm:6.3f} s   "
                      f"{ev.latency_s * 1e3:9.3f} ms  {ev.energy_per_inference_j * 1e3:9.3f} mJ/inf  "
                      f"{ev.power_w:7.2f} W  util {ev.utilization:5.1%}")

    rng = np.random.default_rng(0)
    A, W = rng.normal(size=(1024, 256)), rng.normal(size=(256, 256))
    t_np, _ = best_of(lambda: A @ W, args.repeat)
    t_an, _ = best_of(lambda: analog_matmul(A, W, prog_noise=0.05, **AIHWKIT_DEFAULTS), args.repeat)
    print(f"\nanalog_matmul (1024, 256) @ (256, 256), all effects: {t_an * 1e3:.2f} ms "
          f"(numpy exact matmul {t_np * 1e3:.2f} ms, x{t_an / t_np:.1f})")

    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = holdout_split(X / 16, y, seed=0)
    model = train_mlp(X_tr, y_tr, hidden=(64,), epochs=20, seed=0)
    levels = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)

    def sweep():
        return [analog_accuracy(model, X_te, y_te, prog_noise=p, repeats=5) for p in levels]

    t_sw, accs = best_of(sweep, args.repeat)
    print(f"analog_accuracy sweep, 6 levels x 5 chips x {len(y_te)} images: {t_sw:.3f} s")
    print("  prog_noise " + "  ".join(f"{p:4.2f}:{a:6.1%}" for p, a in zip(levels, accs)))
    bench_search()


def bench_search():
    """The capstone: one sweep of single changes, then the taught local search, per track."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path.insert(0, str(tests))
    import test_capstone_grid as grid
    sys.path.insert(0, str(grid.LAB_DIR))
    import lab9_design_checks as checks

    print("\nLab 9 design search (cold caches): evaluations, wall / CPU seconds, gain reached")
    for track in grid.TRACKS:
        for cache in (design._best_tiling, design._reloads, design._candidates):
            cache.cache_clear()
        ref = design.reference_design(track)
        workload = design.reference_workload(track)
        run = timings(partial(_count_single_changes, ref, workload), 1)
        n, wall, cpu = run.value, run.best_s, run.cpu_s
        print(f"  {track:6s} single changes: {n} designs in {wall:.2f} / {cpu:.2f} s "
              f"({n / cpu:.0f} evaluations per CPU second)")
        run = timings(partial(grid.local_search, checks, ref, track), 1)
        (_, steps, evaluations), wall, cpu = run.value, run.best_s, run.cpu_s
        rules = checks.CHALLENGES[track]
        print(f"  {track:6s} local search: {len(steps)} steps, {evaluations} evaluations in "
              f"{wall:.2f} / {cpu:.2f} s; {rules['metric']} {steps[-1][2]:.3f} (target {rules['target']:g}); "
              f"steps {[s[:2] for s in steps]}")


if __name__ == "__main__":
    main()
