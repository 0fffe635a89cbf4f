"""Speed of the pure-numpy fallback kernels against the compiled Cython core.

Measured (best of ``--repeat`` runs, wall clock, one process):

* kernels: the same inputs through ``mini_accel._core.<name>`` (Cython) and
  ``mini_accel._core._fallback_<name>`` (numpy / plain Python): a 128 x 256 x 128
  int32 GEMM on a 16 x 16 array (WS and OS), 100k 4-byte reads on a two-level
  LRU hierarchy (32 KiB L1, 256 KiB L2), and 2,000 random RS mappings of
  AlexNet CONV3 on a 256-PE Eyeriss-like array; rates and the slowdown ratio;
* labs (``--labs``): every source notebook ``grading/source/<lab>/<lab>.ipynb``
  executed top to bottom with nbclient (as tests/test_notebooks.py does, with
  ``labcheck.py`` and ``sealrun.py`` copied next to it), once with the compiled
  core and once with ``MINI_ACCEL_PURE_PYTHON=1`` (the kernel inherits it):
  wall seconds, and the CPU seconds of the kernel (which a busy machine barely
  changes), with the load average at the end.

Run:  .venv/bin/python benchmarks/bench_fallback.py [--repeat R] [--labs [LAB ...]]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import best_of

from mini_accel._core import _fallback_cache, _fallback_mapping, _fallback_systolic, cache, mapping, systolic

REPO = Path(__file__).resolve().parents[1]


def _systolic_runs(mod):
    rng = np.random.default_rng(0)
    M, K, N, R, C = 128, 256, 128, 16, 16
    A = rng.integers(-128, 128, (M, K)).astype(np.int32)
    B = rng.integers(-128, 128, (K, N)).astype(np.int32)

    def ws():
        mod.stationary_matmul(A, B, np.zeros((M, N), np.int32), np.empty((R, M), np.int32),
                              np.empty((M + C - 1, C), np.int32), R, C)

    def os_():
        mod.output_stationary_matmul(A, B, np.empty((M, N), np.int32), np.empty((M, K), np.int32),
                                     np.empty((K + C - 1, C), np.int32), np.empty((R, C), np.int32),
                                     R, C)
    return {"systolic WS 128x256x128 (GEMMs/s)": ws, "systolic OS 128x256x128 (GEMMs/s)": os_}


def _cache_run(mod, n=100_000):
    from mini_accel.memory import Cache, MemoryHierarchy
    h = MemoryHierarchy([Cache("L1", 32 * 1024, 8, 64), Cache("L2", 256 * 1024, 8, 64)])
    addr = (np.random.default_rng(0).integers(0, 1 << 19, n) & ~3).astype(np.int64)

    def run():
        state = [a.copy() for a in h._state()]
        mod.run_trace(addr, np.zeros(1, np.uint8), np.full(1, 4, np.int32), *state, h._new_counts())
    return {f"cache 2-level LRU, {n:,} reads (runs/s)": run}


def _mapping_run(mod, m=2000):
    from mini_accel.mapper import _keep_for, _kernel_args, _splits
    from mini_accel.mapping_model import Architecture, ConvLayer
    layer = ConvLayer(N=16, K=384, C=256, P=13, Q=13, R=3, S=3, name="AlexNet CONV3")
    arch = Architecture.eyeriss_like(num_pes=256, rf_words=256, buffer_words=65536)
    rng = np.random.default_rng(0)
    splits = _splits(layer, arch, None)
    nlev = len(arch.levels)
    f = np.empty((m, nlev + 1, 7), dtype=np.int64)
    for k, s in enumerate(splits):
        f[:, :, k] = s[rng.integers(0, len(s), m)]
    orders = np.argsort(rng.random((m, nlev, 7)), axis=2).astype(np.int64)
    keep = _keep_for(arch, None)
    cap, pj = _kernel_args(layer, arch)

    def run():
        mod.evaluate_batch(f, orders, keep, cap, pj, arch.array_below, arch.num_pes,
                           float(arch.array_pj), float(arch.mac_pj), layer.stride, layer.dilation,
                           np.empty(m), np.empty(m), np.empty(m, np.uint8))
    return {f"mapping batch, {m:,} CONV3 mappings (batches/s)": run}


def kernels(repeat):
    pairs = [(_systolic_runs(systolic), _systolic_runs(_fallback_systolic)),
             (_cache_run(cache), _cache_run(_fallback_cache)),
             (_mapping_run(mapping), _mapping_run(_fallback_mapping))]
    print(f"{'kernel':52s} {'Cython':>10s} {'fallback':>10s} {'slower':>8s}")
    for fast, slow in pairs:
        for name in fast:
            tc, tf = best_of(fast[name], repeat)[0], best_of(slow[name], repeat)[0]
            print(f"{name:52s} {1 / tc:10.2f} {1 / tf:10.2f} {tf / tc:7.0f}x")


_CPU_CELL = ("import resource as _r\n"
             "print('kernel-cpu-s', sum(getattr(_r.getrusage(w), f) for w in "
             "(_r.RUSAGE_SELF, _r.RUSAGE_CHILDREN) for f in ('ru_utime', 'ru_stime')))")


def run_lab(lab, pure):
    """(wall seconds, kernel CPU seconds) to execute a source notebook top to bottom.

    The CPU seconds (the kernel process and its children, read by a cell added
    at the end) hardly depend on how busy the machine is; the wall time does.
    Raises on a cell error.
    """
    import nbformat
    from nbclient import NotebookClient
    os.environ.pop("MINI_ACCEL_PURE_PYTHON", None)
    if pure:
        os.environ["MINI_ACCEL_PURE_PYTHON"] = "1"      # the kernel process inherits it
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / lab
            shutil.copytree(REPO / "grading" / "source" / lab, work,
                            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            for name in ("labcheck.py", "sealrun.py"):
                shutil.copyfile(REPO / "grading" / name, work / name)
            nb = nbformat.read(work / f"{lab}.ipynb", as_version=4)
            nb.cells.append(nbformat.v4.new_code_cell(_CPU_CELL))
            start = time.monotonic()
            NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(work)}}).execute()
            seconds = time.monotonic() - start
            errors = [o.ename for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if o.output_type == "error"]
            if errors:
                raise RuntimeError(f"{lab}: cells raised {errors}")
            cpu = float(nb.cells[-1].outputs[0]["text"].split()[1])
            return seconds, cpu
    finally:
        os.environ.pop("MINI_ACCEL_PURE_PYTHON", None)


def labs(names):
    names = names or sorted(p.name for p in (REPO / "grading" / "source").iterdir() if p.is_dir())
    print(f"{'lab':24s} {'Cython wall / CPU (s)':>22s} {'fallback wall / CPU (s)':>24s}  load")
    for lab in names:
        tc, cc = run_lab(lab, pure=False)
        tf, cf = run_lab(lab, pure=True)
        print(f"{lab:24s} {tc:10.1f} / {cc:7.1f}  {tf:12.1f} / {cf:7.1f}  "
              f"{os.getloadavg()[0]:5.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--labs", nargs="*", default=None, metavar="LAB",
                    help="also time the source notebooks (all labs when no name is given)")
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    kernels(args.repeat)
    if args.labs is not None:
        labs(args.labs)


if __name__ == "__main__":
    main()
