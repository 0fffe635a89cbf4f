"""Speed of the LLM-serving chapter: the serving simulator on 10,000 requests.

Measured (best of ``--repeat`` runs, wall clock): ``simulate`` of ``--n``
(default 10,000) seeded requests (Poisson arrivals, prompts 64-1024 tokens,
answers 16-512 tokens) for Llama-2-7B on one H100 and Llama-2-70B on two, under
the four policies (static/continuous batching x contiguous/paged KV memory).
It reports wall-clock and CPU seconds, requests simulated per CPU second, engine
iterations per CPU second, and the simulated throughput and latency percentiles. The peer is the
same simulator stepping one engine iteration at a time in pure Python
(``tests/reference_llm.py``), run on the first ``--peer-n`` requests.

Run:  .venv/bin/python benchmarks/bench_llm.py [--n N] [--repeat R] [--peer-n M]
"""
from __future__ import annotations

import argparse
import platform
import sys
from functools import partial
from pathlib import Path

from _timing import timings

from mini_accel.llm_serving import Deployment
from mini_accel.llm_sim import Requests, StepModel, make_requests, simulate


def best_of(fn, repeat):
    """(best wall-clock s, CPU s of that run, result): on a shared machine the CPU time is the
    honest cost; wall clock includes waiting for the cores."""
    t = timings(fn, repeat)
    return t.best_s, t.cpu_s, t.value


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-n", type=int, default=2_000)
    args = ap.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}; {args.n:,} requests, best of {args.repeat}")
    setups = [("Llama-2-7B on 1 H100", Deployment("Llama-2-7B", "H100 SXM5"), 10.0, 64),
              ("Llama-2-70B on 2 H100 (NVLink)", Deployment("Llama-2-70B", "H100 SXM5", count=2), 4.0, 128)]
    print(f"{'deployment':32} {'policy':22} {'wall s':>7} {'cpu s':>6} {'req/cpu-s':>10} {'iter/cpu-s':>10} "
          f"{'tok/s (sim)':>11} {'TTFT p50':>9} {'TPOT p50':>9} {'preempt':>8}")
    for label, dep, rate, max_batch in setups:
        reqs = make_requests(args.n, rate, prompt_tokens=(64, 1024), output_tokens=(16, 512), seed=1)
        for batching in ("static", "continuous"):
            for kv in ("contiguous", "paged"):
                wall, cpu, r = best_of(partial(simulate, dep, reqs, max_batch=max_batch, batching=batching,
                                               kv_memory=kv), args.repeat)
                print(f"{label:32} {batching + ' + ' + kv:22} {wall:7.2f} {cpu:6.2f} {args.n / cpu:10,.0f} "
                      f"{r.iterations / cpu:10,.0f} {r.throughput_tokens_s:11,.0f} "
                      f"{r.percentile('ttft', 50):8.2f}s {r.percentile('tpot', 50) * 1e3:7.1f}ms {r.preemptions:8,d}")
    # Peer: one iteration at a time in pure Python (the tests' reference).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from reference_llm import slow_simulate
    label, dep, rate, max_batch = setups[0]
    full = make_requests(args.n, rate, prompt_tokens=(64, 1024), output_tokens=(16, 512), seed=1)
    m = min(args.peer_n, args.n)
    reqs = Requests(full.arrival_s[:m], full.prompt_tokens[:m], full.output_tokens[:m])
    _, fast, _ = best_of(lambda: simulate(dep, reqs, max_batch=max_batch), args.repeat)
    cap = int((dep.memory_bytes - dep.weight_bytes) // dep.kv_bytes_per_token())
    _, slow, _ = best_of(lambda: slow_simulate(StepModel(dep), reqs, max_batch, "paged", 16, 4096, cap), 1)
    print(f"\npeer ({label}, continuous + paged, {m:,} requests, CPU s): step-by-step pure Python "
          f"{slow:.2f} s, event-skipping simulator {fast:.2f} s -> {slow / fast:.1f}x faster")


if __name__ == "__main__":
    main()
