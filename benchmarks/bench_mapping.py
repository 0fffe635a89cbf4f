"""Speed of the mapping chapter: mappings evaluated per second.

Measured (best of ``--repeat`` runs, wall clock, one core):

* the batch kernel (``mapper.evaluate_many``, Cython) on random RS mappings
  of AlexNet CONV3 (batch 16) on a 256-PE Eyeriss-like array, including the
  numpy sampling of the mappings (what ``search`` does);
* the readable Python model (``mapping_model.evaluate``) on the same mappings,
  for the ratio;
* the whole five-dataflow comparison on AlexNet's five CONV layers.

Run:  .venv/bin/python benchmarks/bench_mapping.py [--n N] [--repeat R]
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from _timing import best_of

from mini_accel.mapper import _keep_for, _splits, compare_dataflows, decode, evaluate_many, search
from mini_accel.mapping_model import Architecture, ConvLayer, evaluate

CONV3 = ConvLayer(N=16, K=384, C=256, P=13, Q=13, R=3, S=3, name="AlexNet CONV3")
ALEXNET = [ConvLayer(N=16, K=96, C=3, P=55, Q=55, R=11, S=11, stride=4, name="CONV1"),
           ConvLayer(N=16, K=256, C=48, P=27, Q=27, R=5, S=5, name="CONV2"), CONV3,
           ConvLayer(N=16, K=384, C=192, P=13, Q=13, R=3, S=3, name="CONV4"),
           ConvLayer(N=16, K=256, C=192, P=13, Q=13, R=3, S=3, name="CONV5")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="mappings per kernel run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    arch = Architecture.eyeriss_like(num_pes=256, rf_words=256, buffer_words=65536)
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")

    t, best = best_of(lambda: search(CONV3, arch, "rs", samples=args.n, exhaustive_limit=0,
                                     seed=0), args.repeat)
    print(f"search (sample + kernel), RS on {CONV3.name}: {args.n / t:,.0f} mappings/s "
          f"({best.valid} valid of {best.evaluated})")

    rng = np.random.default_rng(0)
    splits = _splits(CONV3, arch, None)
    keep = _keep_for(arch, None)
    m = args.n
    f = np.empty((m, 4, 7), dtype=np.int64)
    for k, s in enumerate(splits):
        f[:, :, k] = s[rng.integers(0, len(s), m)]
    o = np.argsort(rng.random((m, 3, 7)), axis=2).astype(np.int64)
    t_k, _ = best_of(lambda: evaluate_many(CONV3, arch, f, o, keep), args.repeat)
    print(f"kernel only (unconstrained mapspace): {m / t_k:,.0f} mappings/s")

    few = [decode(f[i], o[i], keep) for i in range(m) if f[i, 3].prod() <= arch.num_pes][:2000]
    t_p, _ = best_of(lambda: [evaluate(CONV3, arch, x, check=False) for x in few], 1)
    rate_p = len(few) / t_p
    print(f"readable Python model: {rate_p:,.0f} mappings/s (kernel is {m / t_k / rate_p:.0f}x faster)")

    nlr = Architecture.eyeriss_like(num_pes=256, rf_words=0, buffer_words=65536 + 256 * 256)
    t0 = time.perf_counter()
    total = {}
    for layer in ALEXNET:
        res = compare_dataflows(layer, arch, archs={"nlr": nlr}, samples=30000, seed=0)
        for k, v in res.items():
            total[k] = total.get(k, 0.0) + v.result.energy
    dt = time.perf_counter() - t0
    ratios = ", ".join(f"{k} {v / total['rs']:.2f}" for k, v in total.items())
    print(f"AlexNet CONV1-5, 5 dataflows x 30000 samples: {dt:.1f} s; energy / RS: {ratios}")


if __name__ == "__main__":
    main()
