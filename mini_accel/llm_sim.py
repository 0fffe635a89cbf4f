"""A seeded serving simulator: requests arrive, get batched, prefilled and decoded on a Deployment.

Each engine iteration costs the roofline time of a :class:`~mini_accel.llm_serving.Deployment`
(the same formulas, vectorised here so 10,000 requests take seconds).

* **Static batching** (``batching="static"``): when the engine is idle it takes
  up to ``max_batch`` waiting requests, pads their prompts to the longest one,
  prefills them together and decodes until the *longest* answer is done; every
  slot stays busy (padding) until then, and newcomers wait.
* **Continuous batching** (``batching="continuous"``, Orca/vLLM style): the
  batch is re-formed every iteration. Waiting requests are admitted as soon as
  a slot and KV memory are free; an iteration either prefills the newly
  admitted prompts or decodes one token for every running request (prefill
  first, as vLLM's default scheduler does; prefills are not chunked).

KV memory (``kv_memory``):

* ``"contiguous"``: each admitted request reserves ``reserve_tokens`` slots
  (default: the model's context length), whatever it will use;
* ``"paged"``: blocks of ``block_tokens`` are handed out as a sequence grows
  (Kwon et al., vLLM, SOSP 2023). When a block is needed and none is free, the
  most recently admitted request is preempted: its blocks are freed and it is
  recomputed later from its prompt and the tokens it already produced.

The capacity is the deployment's memory minus the weights (and
``reserve_fraction`` of the memory), divided by the KV bytes of one token.

>>> from mini_accel.llm_serving import Deployment
>>> from mini_accel.llm_sim import make_requests, simulate
>>> dep = Deployment("Llama-2-7B", "H100 SXM5")
>>> reqs = make_requests(200, rate_per_s=5.0, prompt_tokens=(64, 512), output_tokens=(16, 256), seed=1)
>>> cont = simulate(dep, reqs, max_batch=32)
>>> stat = simulate(dep, reqs, max_batch=32, batching="static")
>>> cont.percentile("ttft", 50) < stat.percentile("ttft", 50)
True
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import check_array, check_instance, check_number, check_option, fraction, positive_int, positive_number
from .llm import _ACTIVATION_BYTES, MAX_TOKENS, _streamed_weight_bytes, _token_macs
from .llm_serving import Deployment, cost_per_million_tokens, ring_allreduce_s

__all__ = ["Requests", "make_requests", "ServingResult", "simulate", "sweep", "StepModel"]

MAX_REQUESTS = 1_000_000


@dataclass(frozen=True)
class Requests:
    """Arrival times (s, sorted) and prompt/output lengths (tokens) of ``n`` requests.

    Usually made by :func:`make_requests`; built by hand, the three arrays are
    checked (1-D, equally long, arrivals sorted and finite, lengths ints in
    [1, :data:`~mini_accel.llm.MAX_TOKENS`]).

    >>> len(Requests(np.array([0.0, 0.5]), np.array([10, 20]), np.array([5, 5])))
    2
    """

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    def __post_init__(self):
        arr = check_array("arrival_s", self.arrival_s, ndim=1, low=0, allow_empty=False, max_elements=MAX_REQUESTS)
        if np.any(np.diff(arr) < 0):
            raise ValueError("arrival_s must be sorted (non-decreasing arrival times)")
        object.__setattr__(self, "arrival_s", arr)
        for name in ("prompt_tokens", "output_tokens"):
            object.__setattr__(self, name, _token_array(name, getattr(self, name), arr.size))

    def __len__(self) -> int:
        return len(self.arrival_s)


def _token_array(name, values, n) -> np.ndarray:
    """``values`` as ``n`` int64 token counts in [1, MAX_TOKENS]; a non-integer array is a TypeError."""
    arr = check_array(name, values, shape=(n,), dtype=None, max_elements=MAX_REQUESTS)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} as an array must hold ints (token counts), got dtype {arr.dtype}")
    if arr.size and (arr.min() < 1 or arr.max() > MAX_TOKENS):
        raise ValueError(f"{name} as an array must hold ints in [1, {MAX_TOKENS}], got values from "
                         f"{arr.min()} to {arr.max()}")
    return arr.astype(np.int64)


def _lengths(name, spec, n, rng) -> np.ndarray:
    if isinstance(spec, tuple) and len(spec) == 2:
        lo = positive_int(f"{name}[0]", spec[0], high=MAX_TOKENS)
        hi = positive_int(f"{name}[1]", spec[1], high=MAX_TOKENS)
        if hi < lo:
            raise ValueError(f"{name} as (low, high) needs low <= high, got {spec}")
        return rng.integers(lo, hi + 1, size=n)
    if isinstance(spec, (list, np.ndarray)):
        return _token_array(name, spec, n)
    return np.full(n, positive_int(name, spec, high=MAX_TOKENS), dtype=np.int64)


def make_requests(n: int, rate_per_s, prompt_tokens=(128, 1024), output_tokens=(32, 512),
                  seed: int = 0) -> Requests:
    """``n`` requests arriving as a Poisson process of ``rate_per_s`` per second.

    Lengths are an int (all equal), a ``(low, high)`` pair (uniform integers,
    both ends included) or an array of ``n`` ints. The same seed gives the
    same requests.

    >>> r = make_requests(3, 2.0, prompt_tokens=100, output_tokens=(1, 4), seed=0)
    >>> r.prompt_tokens.tolist(), len(r)
    ([100, 100, 100], 3)
    """
    n = positive_int("n", n, high=MAX_REQUESTS)
    rate = positive_number("rate_per_s", rate_per_s)
    rng = np.random.default_rng(positive_int("seed", seed, low=0))
    arrivals = np.cumsum(rng.exponential(1.0 / rate, size=n))
    return Requests(arrivals, _lengths("prompt_tokens", prompt_tokens, n, rng),
                    _lengths("output_tokens", output_tokens, n, rng))


class StepModel:
    """A deployment's prefill and decode times as closed forms in token sums (vectorisable).

    ``decode_s(b, C)``: ``b`` sequences whose caches hold ``C`` tokens in total.
    ``prefill_s(N, S2, count)``: ``count`` prompts with ``N`` tokens in total and
    ``S2`` = sum of squared lengths. Equal to :meth:`Deployment.decode` and
    :meth:`Deployment.prefill` for equal lengths (tested).

    >>> dep = Deployment("Llama-2-7B", "H100 SXM5")
    >>> abs(StepModel(dep).decode_s(4, 4 * 100) - dep.tpot_s(100, batch=4)) < 1e-15
    True
    """

    def __init__(self, dep: Deployment):
        check_instance("dep", dep, Deployment)
        m = dep.model
        self.dep, self.m = dep, m
        d = m.hidden
        self.macs_token = m.layers * _token_macs(m)     # per token through the blocks
        self.macs_head = d * m.vocab                    # logits of one sequence
        self.macs_attn = 2 * m.layers * d               # x (keys attended) per query token
        self.kvpt = dep.kv_bytes_per_token() / (max(1, dep.count // m.kv_heads) if dep.count > m.kv_heads else 1)
        self.kv_share = min(dep.count, m.kv_heads)
        self.p, self.peak, self.bw = dep.count, dep.peak_flops, dep.bandwidth
        self._wbytes: dict = {}

    def _weights(self, tokens: int) -> float:
        tokens = int(tokens)
        if tokens not in self._wbytes:
            self._wbytes[tokens] = _streamed_weight_bytes(self.m, tokens, self.dep.weights)
        return self._wbytes[tokens]

    def _time(self, flops, wbytes, kvbytes, tokens):
        compute = flops / self.p / self.peak
        memory = (wbytes / self.p + kvbytes / self.kv_share) / self.bw
        if self.p == 1:
            comm = 0.0
        else:
            size = tokens * self.m.hidden * _ACTIVATION_BYTES
            comm = 2 * self.m.layers * ring_allreduce_s(size, self.p, self.dep.link_bandwidth,
                                                        self.dep.link_latency_s)
        if isinstance(compute, np.ndarray) or isinstance(memory, np.ndarray):
            return np.maximum(compute, memory) + comm
        return max(compute, memory) + comm

    def decode_s(self, b: int, C):
        """Time of one decode step of ``b`` sequences holding ``C`` cached tokens in all (C may be an array)."""
        flops = 2.0 * (b * (self.macs_token + self.macs_head) + self.macs_attn * (C + b))
        return self._time(flops, self._weights(b), self.kvpt * (C + b), b)

    def prefill_s(self, N: int, S2: int, count: int) -> float:
        """Time of prefilling ``count`` prompts of ``N`` tokens in all, ``S2`` the sum of squared lengths."""
        flops = 2.0 * (N * self.macs_token + self.macs_attn * S2 + count * self.macs_head)
        return self._time(flops, self._weights(N), self.kvpt * N, N)


@dataclass
class ServingResult:
    """Per-request times and overall rates of one simulation (made by :func:`simulate`).

    >>> r = ServingResult(np.array([0.1]), np.array([0.01]), np.array([1.0]), np.array([91]), 1.0, 91, 0, 1.0)
    >>> r.throughput_tokens_s, r.percentile("ttft", 50)
    (91.0, 0.1)
    """

    ttft_s: np.ndarray            # first token time - arrival
    tpot_s: np.ndarray            # (finish - first token) / (output - 1); NaN for 1-token answers
    finish_s: np.ndarray
    output_tokens: np.ndarray
    duration_s: float             # first arrival to last finish
    iterations: int
    preemptions: int
    mean_batch: float
    usd_per_hour: float | None = None

    @property
    def throughput_tokens_s(self) -> float:
        """Generated tokens per second of the whole run."""
        return float(self.output_tokens.sum()) / self.duration_s

    @property
    def requests_per_s(self) -> float:
        return len(self.finish_s) / self.duration_s

    def percentile(self, what: Literal["ttft", "tpot"], q) -> float:
        """``q``-th percentile (0 to 100) of ``"ttft"`` or ``"tpot"`` in seconds (NaN entries ignored)."""
        what = check_option("what", what, ("ttft", "tpot"))
        q = check_number("q", q, low=0, high=100)
        values = self.ttft_s if what == "ttft" else self.tpot_s
        values = values[np.isfinite(values)]
        return float(np.percentile(values, q)) if values.size else math.nan

    def usd_per_million_tokens(self, usd_per_hour=None) -> float:
        """USD per million generated tokens at ``usd_per_hour`` for the whole deployment (default: the run's)."""
        price = self.usd_per_hour if usd_per_hour is None else usd_per_hour
        if price is None:
            raise ValueError("no price known: pass usd_per_hour (the whole deployment's hourly price)")
        return cost_per_million_tokens(price, self.throughput_tokens_s)

    def summary(self) -> dict:
        """Throughput, requests/s, p50/p99 TTFT and TPOT, mean batch and preemptions as a dict."""
        return {"throughput_tokens_s": self.throughput_tokens_s, "requests_per_s": self.requests_per_s,
                "ttft_p50_s": self.percentile("ttft", 50), "ttft_p99_s": self.percentile("ttft", 99),
                "tpot_p50_s": self.percentile("tpot", 50), "tpot_p99_s": self.percentile("tpot", 99),
                "mean_batch": self.mean_batch, "preemptions": self.preemptions}


def simulate(deployment: Deployment, requests: Requests, *, max_batch: int = 64,
             batching: Literal["static", "continuous"] = "continuous",
             kv_memory: Literal["paged", "contiguous"] = "paged", block_tokens: int = 16,
             reserve_tokens: int | None = None, reserve_fraction: float = 0.0,
             usd_per_chip_hour=None) -> ServingResult:
    """Serve ``requests`` on ``deployment``; see the module docstring for the policies.

    ``max_batch`` caps the sequences in one step; ``block_tokens`` is the page
    size of paged memory and ``reserve_tokens`` the slot of contiguous memory
    (default: the model's context length); ``reserve_fraction`` of the memory
    is kept for the runtime; ``usd_per_chip_hour`` prices the run (default:
    :data:`~mini_accel.llm_serving.PRICES` when the device is listed there).

    >>> from mini_accel.llm_serving import Deployment
    >>> r = simulate(Deployment("Llama-2-7B", "A100 SXM4"), make_requests(50, 2.0, seed=0), max_batch=8)
    >>> r.output_tokens.sum() == make_requests(50, 2.0, seed=0).output_tokens.sum(), r.preemptions
    (np.True_, 0)
    """
    check_instance("deployment", deployment, Deployment)
    check_instance("requests", requests, Requests, what="Requests from make_requests(...)")
    batching = check_option("batching", batching, ("static", "continuous"))
    kv_memory = check_option("kv_memory", kv_memory, ("paged", "contiguous"))
    max_batch = positive_int("max_batch", max_batch, high=1 << 16)
    block = positive_int("block_tokens", block_tokens, high=MAX_TOKENS)
    reserve = positive_int("reserve_tokens", reserve_tokens if reserve_tokens is not None
                           else deployment.model.context, high=MAX_TOKENS)
    longest = int((requests.prompt_tokens + requests.output_tokens).max())
    if kv_memory == "contiguous" and longest > reserve:
        raise ValueError(f"a request needs {longest} tokens but contiguous slots hold reserve_tokens="
                         f"{reserve}; raise reserve_tokens")
    free = deployment.memory_bytes * (1 - fraction("reserve_fraction", reserve_fraction)) - deployment.weight_bytes
    capacity = int(free // deployment.kv_bytes_per_token()) if free > 0 else 0
    unit = reserve if kv_memory == "contiguous" else block
    if capacity < unit or capacity // block * block < longest:
        raise ValueError(f"{deployment!r} has room for {max(capacity, 0)} KV tokens next to its weights, "
                         f"fewer than one request needs; use more chips or smaller weights")
    price = None
    if usd_per_chip_hour is not None or deployment.device.name in _prices():
        price = deployment.usd_per_hour(usd_per_chip_hour)
    steps = StepModel(deployment)
    run = _static if batching == "static" else _continuous
    first, finish, iters, preempt, batch_sum = run(steps, requests, max_batch, kv_memory, block, reserve,
                                                   capacity)
    out = requests.output_tokens
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(out > 1, (finish - first) / np.maximum(out - 1, 1), np.nan)
    return ServingResult(first - requests.arrival_s, tpot, finish, out.copy(),
                         float(finish.max() - requests.arrival_s[0]), iters, preempt,
                         batch_sum / max(iters, 1), price)


def _prices():
    from .llm_serving import PRICES
    return PRICES


def _blocks(tokens: int, block: int) -> int:
    return -(-tokens // block)


def _static(steps, req, max_batch, kv_memory, block, reserve, capacity):
    n = len(req)
    arr, P, O = req.arrival_s, req.prompt_tokens, req.output_tokens
    first, finish = np.zeros(n), np.zeros(n)
    t, nxt, iters, batch_sum = 0.0, 0, 0, 0
    while nxt < n:
        t = max(t, arr[nxt])
        hi = nxt + 1
        while hi < n and hi - nxt < max_batch and arr[hi] <= t:
            hi += 1
        while True:       # shrink the batch until the padded batch fits in KV memory
            b = hi - nxt
            n_max, o_max = int(P[nxt:hi].max()), int(O[nxt:hi].max())
            per_seq = reserve if kv_memory == "contiguous" else _blocks(n_max + o_max, block) * block
            if b * per_seq <= capacity or b == 1:
                break
            hi -= 1
        t += steps.prefill_s(b * n_max, b * n_max * n_max, b)
        first[nxt:hi] = t
        ctx = b * (n_max + np.arange(o_max - 1, dtype=np.float64))      # C before step s = 1..o_max-1
        step_t = steps.decode_s(b, ctx) if o_max > 1 else np.zeros(0)
        ends = t + np.concatenate(([0.0], np.cumsum(step_t)))             # time when token k+1 is out
        finish[nxt:hi] = ends[O[nxt:hi] - 1]
        t = float(ends[-1])
        iters += o_max
        batch_sum += b * o_max
        nxt = hi
    return first, finish, iters, 0, batch_sum


def _continuous(steps, req, max_batch, kv_memory, block, reserve, capacity):
    """Continuous batching, advanced event by event: between two events (an admission, a
    finish, an arrival, a failed block allocation) every decode step has the same batch and
    the cached context grows by the batch size, so a run of steps is one vectorised sum."""
    n = len(req)
    arr, P, O = req.arrival_s, req.prompt_tokens.astype(np.int64), req.output_tokens.astype(np.int64)
    first, finish = np.full(n, np.nan), np.zeros(n)
    gen = np.zeros(n, dtype=np.int64)            # tokens produced so far
    held = np.zeros(n, dtype=np.int64)           # KV slots (tokens) reserved
    waiting: deque = deque()
    run = np.zeros(0, dtype=np.int64)            # running requests, in admission order
    C = 0                                         # cached tokens over the running requests
    used, t, nxt, done, iters, preempt, batch_sum = 0, 0.0, 0, 0, 0, 0, 0
    paged = kv_memory == "paged"
    arr_l, P_l = arr.tolist(), P.tolist()       # Python scalars: fast one-at-a-time access
    while done < n:
        while nxt < n and arr_l[nxt] <= t:
            waiting.append(nxt)
            nxt += 1
        if not run.size and not waiting:
            t = arr_l[nxt]
            continue
        admitted = []
        while waiting and run.size + len(admitted) < max_batch:
            i = waiting[0]
            need = _blocks(P_l[i] + int(gen[i]) + 1, block) * block if paged else reserve
            if used + need > capacity:
                break
            waiting.popleft()
            held[i] = need
            used += need
            admitted.append(i)
        if admitted:            # a prefill iteration (recomputes the tokens of preempted requests too)
            adm = np.array(admitted, dtype=np.int64)
            lens = P[adm] + gen[adm]
            t += steps.prefill_s(int(lens.sum()), int((lens * lens).sum()), len(adm))
            iters += 1
            batch_sum += len(adm)
            first[adm] = np.where(np.isnan(first[adm]), t, first[adm])
            gen[adm] += 1
            over = gen[adm] >= O[adm]
            finish[adm[over]] = t
            used -= int(held[adm[over]].sum())
            done += int(over.sum())
            keep = adm[~over]
            C += int((P[keep] + gen[keep] - 1).sum())
            run = np.concatenate((run, keep))
            continue
        k = int((O[run] - gen[run]).min())        # steps until the next finish
        b = run.size
        dts = steps.decode_s(b, C + b * np.arange(k, dtype=np.float64))
        if not waiting and b < max_batch and nxt < n:     # stop at the next arrival
            ends = t + np.cumsum(dts)
            k = min(k, int(np.searchsorted(ends, arr_l[nxt])) + 1)
        if paged:      # blocks for these k steps, or one step with preemptions when they do not fit
            k, run, C, used, freed = _grow(run, k, P, gen, held, block, capacity, used, C, waiting)
            preempt += freed
            if not run.size:
                continue
            if freed:
                b = run.size
                dts = steps.decode_s(b, np.array([float(C)]))
        t += float(dts[:k].sum())
        gen[run] += k
        C += b * k
        iters += k
        batch_sum += b * k
        over = gen[run] >= O[run]
        if over.any():
            fin = run[over]
            finish[fin] = t
            used -= int(held[fin].sum())
            C -= int((P[fin] + gen[fin] - 1).sum())
            done += fin.size
            run = run[~over]
    return first, finish, iters, preempt, batch_sum


def _grow(run, k, P, gen, held, block, capacity, used, C, waiting):
    """Give the running sequences the blocks ``k`` more steps need; if they do not fit, go one
    step at a time and preempt the latest admitted requests until that step fits."""
    def extra_for(steps_ahead):
        need = -(-(P[run] + gen[run] + steps_ahead - 1) // block) * block
        return np.maximum(need - held[run], 0)
    extra = extra_for(k)
    preempted = 0
    if used + int(extra.sum()) > capacity:
        k = 1
        extra = extra_for(1)
        while run.size and used + int(extra.sum()) > capacity:
            victim = int(run[-1])
            used -= int(held[victim])
            held[victim] = 0
            C -= int(P[victim] + gen[victim] - 1)
            waiting.appendleft(victim)
            preempted += 1
            run = run[:-1]
            extra = extra_for(1)
    held[run] += extra
    used += int(extra.sum())
    return k, run, C, used, preempted


def sweep(deployment: Deployment, requests: Requests, max_batches=(1, 4, 16, 64, 256), **kwargs) -> list:
    """One :meth:`ServingResult.summary` per ``max_batch`` (plus that key): a throughput/latency curve.

    >>> from mini_accel.llm_serving import Deployment
    >>> pts = sweep(Deployment("Llama-2-7B", "H100 SXM5"), make_requests(100, 50.0, seed=0), (1, 32))
    >>> pts[1]["throughput_tokens_s"] > 5 * pts[0]["throughput_tokens_s"]
    True
    """
    out = []
    for b in max_batches:
        res = simulate(deployment, requests, max_batch=b, **kwargs)
        out.append({"max_batch": int(b), **res.summary()})
    return out
