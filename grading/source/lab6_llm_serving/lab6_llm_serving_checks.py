"""Hidden checks of the LLM-serving lab.

Each entry of ``CASES`` draws random inputs (plain data: numbers and dicts)
and says what is wrong with a result, without giving the answer away. The
notebook's hidden tests call ``seal(name, student_object)``; the grader
re-runs the same check in its own process (see ``labcheck.py`` and
``grading/sealed.py``). References are a few lines of arithmetic written
here from the formulas stated in the notebook, or ``mini_accel``'s serving
simulator for the deployment choice, never the student's code.
"""
from __future__ import annotations

import functools
import math

from labcheck import Case, close, is_int, is_number
from labcheck import seal as _seal

_LLM = "mini_accel.llm"
_SRV = "mini_accel.llm_serving"
_SIM = "mini_accel.llm_sim"
#: The library's answers to the implement-it tasks: off while the student's code runs.
_KV_ANSWERS = (f"{_LLM}.kv_cache_bytes", f"{_LLM}.kv_bytes_per_token", f"{_SRV}.Deployment.kv_bytes_per_token",
               f"{_SRV}.Deployment.max_batch")
#: (The KV-size functions stay on here: reusing Task 1's answer, even one built on the library, is fair.)
_STEP_ANSWERS = (
    f"{_LLM}.decode_cost", f"{_LLM}.decode_intensity", f"{_LLM}.prefill_cost", f"{_LLM}.decode_macs",
    f"{_LLM}.Cost.intensity", f"{_SRV}.Deployment.decode", f"{_SRV}.Deployment.tpot_s",
    f"{_SRV}.Deployment.roofline_point", f"{_SRV}.Deployment.memory_bound_batch_limit",
    f"{_SRV}.StepTime.intensity", f"{_SRV}.StepTime.bound", f"{_SIM}.StepModel.decode_s")
_TP_ANSWERS = (f"{_SRV}.ring_allreduce_s", f"{_SRV}.tensor_parallel_step_s", f"{_SRV}.Deployment._time",
               f"{_SIM}.StepModel._time")

#: The chat service of Task 5 (the notebook states the same numbers).
SERVICE = {
    "model": "Llama-3-70B", "requests": 800, "rate_per_s": 6.0, "prompt_tokens": (256, 2048),
    "output_tokens": (64, 512), "seed": 2026, "ttft_p90_s": 1.0, "tpot_p90_s": 0.04,
    "usd_per_million_tokens": 1.0, "compute_efficiency": 0.7, "memory_efficiency": 0.8,
    "link_latency_s": 5e-6, "reserve_fraction": 0.1,
}
DEVICES = {"NVIDIA H100 SXM5 80GB": "nvlink4", "NVIDIA A100 SXM4 80GB": "nvlink3"}
COUNTS = (1, 2, 4, 8)
WEIGHTS = ("fp16", "bf16", "fp8", "int8", "int4")
KVS = ("fp16", "bf16", "fp8", "int8")


def seal(name, target):
    """Run hidden check ``name`` on ``target`` (a function, or a value)."""
    _seal(CASES, name, target)


# --------------------------------------------------------------------------- #
# Random model shapes (plain dicts, as the notebook's model_shape() returns)
# --------------------------------------------------------------------------- #
_REAL = [  # hidden, layers, heads, kv_heads of catalog models: GPT-2 small, Llama-2-7B, Llama-2-70B, Llama-3-8B
    (768, 12, 12, 12), (4096, 32, 32, 32), (8192, 80, 64, 8), (4096, 32, 32, 8)]


def _shape(rng, kind=None):
    kind = kind or str(rng.choice(["MHA", "GQA", "MQA"]))
    heads = int(rng.choice([8, 16, 32, 40, 64, 96]))
    head_dim = int(rng.choice([64, 80, 128]))
    kv = {"MHA": heads, "MQA": 1, "GQA": int(rng.choice([d for d in (2, 4, 8) if heads % d == 0]))}[kind]
    return {"hidden": heads * head_dim, "layers": int(rng.integers(2, 100)), "heads": heads, "kv_heads": kv}


def _real(i):
    h, L, H, kv = _REAL[i]
    return {"hidden": h, "layers": L, "heads": H, "kv_heads": kv}


def _kv_per_token(cfg, kv_bytes):
    return 2 * cfg["layers"] * cfg["kv_heads"] * (cfg["hidden"] // cfg["heads"]) * kv_bytes


def _where(fn, **kw):
    return f"{fn}(" + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in kw.items()) + ")"


# --------------------------------------------------------------------------- #
# Task 1: the KV cache
# --------------------------------------------------------------------------- #
def _kv_inputs(rng):
    out = [(_real(1), 4096, 1, 2), (_real(2), 4096, 8, 2), (_real(3), 8192, 1, 1)]
    for kind in ("MHA", "GQA", "MQA", "GQA", "MQA"):
        out.append((_shape(rng, kind), int(rng.integers(1, 40_000)), int(rng.integers(1, 300)),
                    int(rng.choice([1, 2, 4]))))
    return out


def _kv_check(args, got):
    cfg, tokens, batch, bpv = args
    where = _where("kv_cache_bytes", tokens=tokens, batch=batch, bytes_per_value=bpv) + \
        f" for a {cfg['layers']}-layer model with {cfg['heads']} query and {cfg['kv_heads']} KV heads"
    if not is_number(got):
        return f"{where} should return a number of bytes, got {type(got).__name__}"
    want = _kv_per_token(cfg, bpv) * tokens * batch
    if close(got, want):
        return None
    if cfg["kv_heads"] != cfg["heads"] and close(got, want * cfg["heads"] / cfg["kv_heads"]):
        return f"{where}: only the key/value heads are cached, and this model has fewer of them than query heads"
    if close(got, want / 2):
        return f"{where}: the cache holds two tensors per token and layer"
    if close(got, want / cfg["layers"]):
        return f"{where}: every layer keeps its own cache"
    if close(got, want / 2**30) or close(got, want / 1e9):
        return f"{where}: return bytes, not GiB or GB"
    return f"{where} is wrong"


# --------------------------------------------------------------------------- #
# Task 2: intensity of a decode step
# --------------------------------------------------------------------------- #
def _step(cfg, params, context, batch, wb, kvb):
    flops = 2 * params * batch + 4 * cfg["layers"] * cfg["hidden"] * context * batch
    moved = params * wb + batch * context * _kv_per_token(cfg, kvb)
    return flops, moved


def _intensity_inputs(rng):
    out = [(_real(1), 6.74e9, 0, 1, 2, 2), (_real(1), 6.74e9, 4096, 64, 2, 2), (_real(2), 6.9e10, 2048, 32, 0.5, 1)]
    for kind in ("MHA", "GQA", "MQA", "GQA"):
        out.append((_shape(rng, kind), float(10 ** rng.uniform(8, 11)), int(rng.integers(0, 30_000)),
                    int(rng.integers(1, 512)), float(rng.choice([0.5, 1, 2])), int(rng.choice([1, 2]))))
    return out


def _intensity_check(args, got):
    cfg, params, context, batch, wb, kvb = args
    where = _where("decode_intensity", params=params, context=context, batch=batch, weight_bytes=wb,
                   kv_bytes=kvb) + f" (kv_heads={cfg['kv_heads']} of {cfg['heads']})"
    if not is_number(got):
        return f"{where} should return a number (FLOPs per byte), got {type(got).__name__}"
    flops, moved = _step(cfg, params, context, batch, wb, kvb)
    if close(got, flops / moved, rtol=1e-6):
        return None
    if batch > 1 and close(got, flops / (moved + (batch - 1) * params * wb), rtol=1e-6):
        return f"{where}: a decode step reads each weight once for the whole batch"
    if context and close(got, 2 * params * batch / moved, rtol=1e-6):
        return f"{where}: the attention's FLOPs (QK^T and AV over the context) are missing"
    if context and cfg["kv_heads"] != cfg["heads"] and close(
            got, flops / (params * wb + batch * context * _kv_per_token({**cfg, "kv_heads": cfg["heads"]}, kvb)),
            rtol=1e-6):
        return f"{where}: only the key/value heads are read from the cache"
    if close(got, moved / flops, rtol=1e-6):
        return f"{where}: intensity is FLOPs per byte, not bytes per FLOP"
    return f"{where} is wrong"


# --------------------------------------------------------------------------- #
# Task 3: the batch at which decode stops being memory bound
# --------------------------------------------------------------------------- #
def _limit_margin(cfg, params, context, wb, kvb, peak, bw):
    f = 2 * params + 4 * cfg["layers"] * cfg["hidden"] * context        # FLOPs per sequence
    k = context * _kv_per_token(cfg, kvb)                                 # KV bytes per sequence
    return f / peak - k / bw, params * wb / bw


def _limit_reference(args):
    cfg, params, context, wb, kvb, peak, bw = args
    slope, fixed = _limit_margin(*args)
    if slope <= 0:
        return None
    return max(1, math.ceil(fixed / slope))


def _limit_inputs(rng):
    out = [(_real(1), 6.74e9, 0, 2, 2, 989e12, 3.35e12),          # Llama-2-7B on an H100, empty cache
           (_real(1), 6.74e9, 1024, 2, 2, 989e12, 3.35e12),       # MHA at 1k context: never
           (_real(2), 6.9e10, 1024, 2, 2, 989e12, 3.35e12),       # GQA: a batch exists
           (_real(3), 8.03e9, 0, 1, 1, 1e12, 3.35e12)]           # a slow chip: batch 1 is compute bound
    while len(out) < 11:
        args = (_shape(rng), float(10 ** rng.uniform(8, 11)), int(rng.integers(0, 8000)),
                float(rng.choice([0.5, 1, 2])), int(rng.choice([1, 2])), float(10 ** rng.uniform(13, 15.5)),
                float(10 ** rng.uniform(11, 12.8)))
        slope, fixed = _limit_margin(*args)
        if abs(slope) < 1e-6 * (args[1] / args[5]) or (slope > 0 and fixed / slope > 1e7):
            continue                      # too close to the edge to grade fairly
        if slope > 0 and abs(fixed / slope - round(fixed / slope)) < 1e-6:
            continue
        out.append(args)
    return out


def _limit_check(args, got):
    cfg, params, context, wb, kvb, peak, bw = args
    where = _where("memory_bound_limit", params=params, context=context, weight_bytes=wb, kv_bytes=kvb,
                   peak_flops=peak, bandwidth=bw)
    want = _limit_reference(args)
    if want is None:
        if got is None:
            return None
        return f"{where}: at this context no batch is compute bound (return None)"
    if got is None:
        return f"{where}: a large enough batch is compute bound here; None is wrong"
    if not is_int(got):
        return f"{where} should return an int (a batch) or None, got {type(got).__name__}"
    if int(got) == want:
        return None
    slope, fixed = _limit_margin(*args)
    ridge_only = max(1, math.ceil(fixed / (slope + context * _kv_per_token(cfg, kvb) / bw)))
    if context and int(got) == ridge_only:
        return f"{where}: the KV cache each sequence reads adds bytes that grow with the batch"
    if int(got) == want - 1:
        return f"{where} is one too small: at that batch the step is still memory bound"
    return f"{where} is wrong"


# --------------------------------------------------------------------------- #
# Task 4: a tensor-parallel decode step
# --------------------------------------------------------------------------- #
def _tp_reference(flops, wbytes, kvbytes, layers, hidden, tokens, chips, peak, bw, link, lat, *, per_layer=2,
                  share=True, latency=True):
    p = chips
    step = max(flops / (p * peak), (wbytes + kvbytes) / (p * bw))
    if p == 1:
        return step
    frac = 2 * (p - 1) / p if share else 2.0
    ar = frac * tokens * hidden * 2 / link + (2 * (p - 1) * lat if latency else 0.0)
    return step + per_layer * layers * ar


def _tp_inputs(rng):
    out = [(2 * 6.9e10 * 16, 1.38e11, 2.1e10, 80, 8192, 16, 8, 989e12, 3.35e12, 450e9, 5e-6),
           (2 * 6.9e10 * 16, 1.38e11, 2.1e10, 80, 8192, 16, 8, 989e12, 3.35e12, 64e9, 5e-6),
           (2 * 6.7e9, 1.35e10, 5e8, 32, 4096, 1, 1, 312e12, 2.039e12, 300e9, 5e-6)]
    for _ in range(6):
        tokens = int(rng.integers(1, 4096))
        params = float(10 ** rng.uniform(9, 11.5))
        out.append((2 * params * tokens, params * float(rng.choice([0.5, 1, 2])), float(10 ** rng.uniform(6, 11)),
                    int(rng.integers(12, 120)), int(rng.choice([2048, 4096, 5120, 8192, 12288])), tokens,
                    int(rng.choice([2, 4, 8, 16])), float(10 ** rng.uniform(14, 15.5)),
                    float(10 ** rng.uniform(12, 12.7)), float(rng.choice([32e9, 64e9, 300e9, 450e9])),
                    float(rng.choice([0.0, 2e-6, 5e-6, 1e-5]))))
    return out


def _tp_check(args, got):
    (flops, wbytes, kvbytes, layers, hidden, tokens, chips, peak, bw, link, lat) = args
    where = _where("tp_step_time", tokens=tokens, chips=chips, layers=layers, link_bandwidth=link, latency_s=lat)
    if not is_number(got):
        return f"{where} should return a number of seconds, got {type(got).__name__}"
    want = _tp_reference(*args)
    if close(got, want, rtol=1e-9):
        return None
    if chips > 1:
        if close(got, _tp_reference(*args, per_layer=1), rtol=1e-9):
            return f"{where}: a Megatron-style layer needs two all-reduces (after attention and after the MLP)"
        if close(got, _tp_reference(*args, share=False), rtol=1e-9):
            return f"{where}: in a ring each chip sends 2 (p-1)/p of the data, not all of it twice"
        if lat and close(got, _tp_reference(*args, latency=False), rtol=1e-9):
            return f"{where}: the per-hop latency is missing"
    compute, memory = flops / (chips * peak), (wbytes + kvbytes) / (chips * bw)
    if close(got, want - max(compute, memory) + compute + memory, rtol=1e-9):
        return f"{where}: compute and memory overlap on each chip (take the slower one, do not add them)"
    if chips > 1 and close(got, want - max(compute, memory) + max(compute * chips, memory * chips), rtol=1e-9):
        return f"{where}: each chip does 1/chips of the FLOPs and reads 1/chips of the bytes"
    return f"{where} is wrong"


# --------------------------------------------------------------------------- #
# Task 5: the deployment
# --------------------------------------------------------------------------- #
def _choice_problem(choice):
    if not isinstance(choice, dict):
        return f"CHOICE should be a dict, got {type(choice).__name__}"
    missing = {"device", "count", "weights", "kv", "max_batch"} - set(choice)
    if missing:
        return f"CHOICE is missing the keys {sorted(missing)}"
    if choice["device"] not in DEVICES:
        return f"CHOICE['device'] should be one of {sorted(DEVICES)}"
    if not is_int(choice["count"]) or int(choice["count"]) not in COUNTS:
        return f"CHOICE['count'] should be one of {COUNTS}"
    if choice["weights"] not in WEIGHTS or choice["kv"] not in KVS:
        return f"CHOICE['weights'] should be one of {WEIGHTS} and CHOICE['kv'] one of {KVS}"
    if not is_int(choice["max_batch"]) or not 1 <= int(choice["max_batch"]) <= 1024:
        return "CHOICE['max_batch'] should be an int from 1 to 1024"
    return None


@functools.lru_cache(maxsize=16)
def _evaluate(device, count, weights, kv, max_batch):
    """(ttft_p90_s, tpot_p90_s, usd_per_million) of a choice, or a message when it cannot run."""
    from mini_accel.llm_serving import PRICES, Deployment
    from mini_accel.llm_sim import make_requests, simulate
    s = SERVICE
    dep = Deployment(s["model"], device, weights=weights, kv=kv, count=count, link=DEVICES[device],
                     link_latency_s=s["link_latency_s"], compute_efficiency=s["compute_efficiency"],
                     memory_efficiency=s["memory_efficiency"])
    reqs = make_requests(s["requests"], s["rate_per_s"], s["prompt_tokens"], s["output_tokens"], s["seed"])
    try:
        res = simulate(dep, reqs, max_batch=max_batch, reserve_fraction=s["reserve_fraction"])
    except ValueError:
        return "does not fit: the weights and one request's KV cache need more memory than the chips have"
    return (res.percentile("ttft", 90), res.percentile("tpot", 90),
            res.usd_per_million_tokens(PRICES[device][0] * count))


def _run(choice):
    problem = _choice_problem(choice)
    if problem:
        return problem
    return _evaluate(choice["device"], int(choice["count"]), choice["weights"], choice["kv"],
                     int(choice["max_batch"]))


def _latency_check(_, choice):
    got = _run(choice)
    if isinstance(got, str):
        return got
    ttft, tpot, _cost = got
    if ttft > SERVICE["ttft_p90_s"]:
        return f"this deployment misses the TTFT target: p90 {ttft:.2f} s > {SERVICE['ttft_p90_s']} s"
    if tpot > SERVICE["tpot_p90_s"]:
        return f"this deployment misses the TPOT target: p90 {tpot * 1e3:.1f} ms > {SERVICE['tpot_p90_s'] * 1e3:.0f} ms"
    return None


def _cost_check(_, choice):
    got = _run(choice)
    if isinstance(got, str):
        return got
    message = _latency_check(None, choice)
    if message:
        return "the cost only counts for a deployment that meets the latency targets: " + message
    if got[2] > SERVICE["usd_per_million_tokens"]:
        return (f"this deployment costs ${got[2]:.2f} per million tokens, "
                f"over the ${SERVICE['usd_per_million_tokens']} budget")
    return None


CASES = {
    "kv_cache_bytes": Case(_kv_inputs, _kv_check, blocked=_KV_ANSWERS, what="kv_cache_bytes"),
    "decode_intensity": Case(_intensity_inputs, _intensity_check, blocked=_STEP_ANSWERS, what="decode_intensity"),
    "memory_bound_limit": Case(_limit_inputs, _limit_check, blocked=_STEP_ANSWERS, what="memory_bound_limit"),
    "tp_step_time": Case(_tp_inputs, _tp_check, blocked=_TP_ANSWERS, what="tp_step_time"),
    "deployment_latency": Case(None, _latency_check, what="CHOICE"),
    "deployment_cost": Case(None, _cost_check, what="CHOICE"),
}
