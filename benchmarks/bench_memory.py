"""Speed of the cache-hierarchy simulator, side by side with pycachesim.

Two 10-million-access traces go through a two-level hierarchy
(L1 32 KiB 8-way, L2 1 MiB 16-way, 64-byte lines, LRU, write-back +
write-allocate):

* ``gemm``  - the naive ijk GEMM of 171 x 171 float64 matrices
  (mini_accel.traces.gemm_trace), cut to 10 M accesses: mostly L1 hits,
  B walked down its columns;
* ``mixed`` - 60 % a sequential scan of 16 MiB, 30 % random in 256 KiB,
  10 % random in 64 MiB, 25 % writes, 8-byte accesses: a miss-heavy trace.

For each, the best of ``--repeat`` runs is reported in accesses per second,
for mini_accel and for pycachesim (``pip install pycachesim``) when it is
importable. The pycachesim input (Python lists in its ``loadstore`` format)
is built before the clock starts. Then the hit and miss counts of both are
compared:

* pycachesim counts a HIT only for loads (a store that hits is not counted)
  and a write-allocate store miss as a MISS, so its HIT is compared with our
  ``read_hits`` and its MISS with our ``misses``;
* pycachesim does not refresh a line's LRU age when a store hits it (a
  textbook LRU cache, and ours, does), so with LRU and stores in the trace
  the counts can differ slightly. Two extra runs check that this is the only
  difference: the same trace under FIFO (no age refresh in either) and the
  loads-only version of the trace under LRU must match exactly.

Run:  .venv/bin/python benchmarks/bench_memory.py [--accesses N] [--repeat R]
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from _timing import best_of

from mini_accel.memory import Cache, MemoryHierarchy
from mini_accel.traces import gemm_trace

L1 = dict(name="L1", size_bytes=32 * 1024, ways=8, line_bytes=64)
L2 = dict(name="L2", size_bytes=1024 * 1024, ways=16, line_bytes=64)
SIZE = 8


def make_traces(n: int, seed: int = 0) -> dict:
    side = 8
    while 2 * side**3 < n:              # ijk: two loads per iteration (+2 per (i, j))
        side += 1
    g = gemm_trace(side, side, side, order="ijk", elem_bytes=SIZE)
    gemm = (g.addresses[:n], g.is_write[:n])
    rng = np.random.default_rng(seed)
    seq = (np.arange(n, dtype=np.int64) * SIZE) % (16 << 20)
    kind = rng.random(n)
    addr = np.where(kind < 0.6, seq,
                    np.where(kind < 0.9, rng.integers(0, 256 << 10, n),
                             rng.integers(0, 64 << 20, n))) & ~(SIZE - 1)
    mixed = (addr.astype(np.int64), rng.random(n) < 0.25)
    return {f"gemm ({side}^3 ijk, float64)": gemm, "mixed (scan + random, 25% writes)": mixed}


def ours(policy: str) -> MemoryHierarchy:
    return MemoryHierarchy([Cache(policy=policy, **L1), Cache(policy=policy, **L2)])


def run_ours(addr, writes, policy="lru", repeat=3):
    return best_of(lambda h: h.run(addr, writes, SIZE), repeat, setup=lambda: ours(policy))


def pycachesim_input(addr, writes):
    """loadstore() takes [(loads, stores), ...]; runs of loads / stores keep the order."""
    cuts = np.flatnonzero(np.diff(writes.astype(np.int8))) + 1
    pairs = []
    for a, w in zip(np.split(addr, cuts), np.split(writes, cuts)):
        pairs.append((None, a.tolist()) if w[0] else (a.tolist(), None))
    return pairs


def run_pycachesim(cachesim, pairs, policy="LRU", repeat=3):
    def build():
        mem = cachesim.MainMemory()
        l2 = cachesim.Cache("L2", L2["size_bytes"] // (L2["ways"] * 64), L2["ways"], 64, policy)
        l1 = cachesim.Cache("L1", L1["size_bytes"] // (L1["ways"] * 64), L1["ways"], 64, policy,
                            load_from=l2, store_to=l2)
        mem.load_to(l2)
        mem.store_from(l2)
        return cachesim.CacheSimulator(l1, mem), (l1, l2)

    def run(built):
        built[0].loadstore(pairs, length=SIZE)
        return built[1]
    return best_of(run, repeat, setup=build)


def compare(stats, caches) -> tuple[bool, list[str]]:
    rows, same = [], True
    for lv, c in zip(stats.levels, caches):
        pairs = (("hits (loads)", lv.read_hits, c.backend.HIT_count),
                 ("misses", lv.misses, c.backend.MISS_count))
        for label, a, b in pairs:
            rows.append(f"    {lv.name} {label:13s} mini_accel {a:>10,}  pycachesim {b:>10,}"
                        f"  {'same' if a == b else f'DIFFERENT ({b - a:+d})'}")
            same &= a == b
    l2 = caches[-1].backend
    for label, a, b in (("DRAM reads", stats.dram.reads, l2.MISS_count),
                        ("DRAM writes", stats.dram.writes, l2.EVICT_count)):
        rows.append(f"    {label:16s} mini_accel {a:>10,}  pycachesim {b:>10,}"
                    f"  {'same' if a == b else f'DIFFERENT ({b - a:+d})'}")
        same &= a == b
    return same, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accesses", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-pycachesim", action="store_true")
    args = ap.parse_args()
    try:
        import cachesim
    except ImportError:
        cachesim = None
    if args.no_pycachesim:
        cachesim = None
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}")
    print(f"hierarchy: L1 32 KiB 8-way, L2 1 MiB 16-way, 64 B lines, write-back + write-allocate; "
          f"{args.accesses:,} accesses of {SIZE} B; best of {args.repeat}")
    if cachesim is None:
        print("pycachesim not importable: only mini_accel is timed (pip install pycachesim)")
    for name, (addr, writes) in make_traces(args.accesses).items():
        n = addr.size
        print(f"\n== {name}: {n:,} accesses, {int(writes.sum()):,} writes")
        t, stats = run_ours(addr, writes, repeat=args.repeat)
        print(f"  mini_accel  {n / t:12,.0f} accesses/s  ({t:.3f} s)   "
              f"L1 hit rate {stats['L1'].hit_rate:.3f}, L2 hit rate {stats['L2'].hit_rate:.3f}")
        if cachesim is None:
            continue
        t0 = time.perf_counter()
        pairs = pycachesim_input(addr, writes)
        prep = time.perf_counter() - t0
        tp, caches = run_pycachesim(cachesim, pairs, repeat=args.repeat)
        print(f"  pycachesim  {n / tp:12,.0f} accesses/s  ({tp:.3f} s; building its input "
              f"lists took {prep:.1f} s more)   mini_accel is {tp / t:.2f}x as fast")
        same, rows = compare(stats, caches)
        print(f"  counts, LRU, trace as is: {'ALL MATCH' if same else 'differ'}")
        print("\n".join(rows))
        if not same:
            print("  (expected when stores hit: pycachesim does not refresh LRU age on a store "
                  "hit; checking that this is the only difference:)")
        _, st_fifo = run_ours(addr, writes, "fifo", repeat=1)
        _, c_fifo = run_pycachesim(cachesim, pairs, "FIFO", repeat=1)
        ok_fifo, rows_fifo = compare(st_fifo, c_fifo)
        print(f"  counts, FIFO, trace as is: {'ALL MATCH' if ok_fifo else 'differ'}")
        if not ok_fifo:
            print("\n".join(rows_fifo))
        _, st_ld = run_ours(addr, np.zeros(1, bool), repeat=1)
        _, c_ld = run_pycachesim(cachesim, [(addr.tolist(), None)], repeat=1)
        ok_ld, rows_ld = compare(st_ld, c_ld)
        print(f"  counts, LRU, loads only:   {'ALL MATCH' if ok_ld else 'differ'}")
        if not ok_ld:
            print("\n".join(rows_ld))


if __name__ == "__main__":
    main()
