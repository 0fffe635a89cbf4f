"""Slow, obvious references for ``mini_accel.llm*``, used only by the tests.

* :func:`slow_generate`: the same decoder as ``mini_accel.llm_decoder.TinyDecoder``
  (it reads that object's weights), written in plain Python lists and loops.
  Every multiply-accumulate goes through :meth:`Counter.mac`, so the MAC count
  is the number of multiplications actually done, one by one, not a formula.
  The causal mask is applied by computing every score of the square (as the
  dense kernels and the library's closed forms assume) and discarding the
  masked ones.
* :func:`slow_simulate`: continuous batching one engine iteration at a time
  (no event skipping), for comparison with the vectorised simulator.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np


class Counter:
    def __init__(self):
        self.macs = 0

    def mac(self, acc, a, b):
        self.macs += 1
        return acc + a * b


def _matmul(ctr, A, B):
    """A: list of rows (M x K), B: list of rows (K x N), one MAC at a time."""
    K, N = len(B), len(B[0])
    out = []
    for row in A:
        assert len(row) == K
        r = []
        for j in range(N):
            acc = 0.0
            for k in range(K):
                acc = ctr.mac(acc, row[k], B[k][j])
            r.append(acc)
        out.append(r)
    return out


def _lst(a):
    return np.asarray(a, dtype=float).tolist()


def _norm(cfg, x, params):
    g, beta = (list(map(float, p)) for p in params)
    d = len(x)
    if cfg.norm == "layernorm":
        mu = sum(x) / d
        var = sum((v - mu) ** 2 for v in x) / d
        return [(v - mu) / math.sqrt(var + 1e-5) * g[i] + beta[i] for i, v in enumerate(x)]
    rms = math.sqrt(sum(v * v for v in x) / d + 1e-6)
    return [v / rms * g[i] for i, v in enumerate(x)]


def _act(cfg, h):
    if cfg.mlp == "gelu":
        return [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))) for v in h]
    f = cfg.ffn
    return [h[i] / (1 + math.exp(-h[i])) * h[f + i] for i in range(f)]


def _expert(ctr, cfg, rows, params):
    w_up, b_up, w_down, b_down = (_lst(p) for p in params)
    h = _matmul(ctr, rows, w_up)
    h = [[v + b_up[j] for j, v in enumerate(r)] for r in h]
    a = [_act(cfg, r) for r in h]
    out = _matmul(ctr, a, w_down)
    return [[v + b_down[j] for j, v in enumerate(r)] for r in out]


def _mlp(ctr, cfg, layer, rows):
    if not cfg.is_moe:
        return _expert(ctr, cfg, rows, layer["experts"][0])
    logits = _matmul(ctr, rows, _lst(layer["w_router"]))
    out = [[0.0] * cfg.hidden for _ in rows]
    picks = []
    for lg in logits:
        order = sorted(range(cfg.experts), key=lambda e: (-lg[e], e))[:cfg.experts_per_token]
        m = max(lg[e] for e in order)
        ws = [math.exp(lg[e] - m) for e in order]
        s = sum(ws)
        picks.append([(e, w / s) for e, w in zip(order, ws)])
    for e in range(cfg.experts):
        members = [(r, w) for r, p in enumerate(picks) for (ee, w) in p if ee == e]
        if not members:
            continue
        res = _expert(ctr, cfg, [rows[r] for r, _ in members], layer["experts"][e])
        for (r, w), y in zip(members, res):
            out[r] = [o + w * v for o, v in zip(out[r], y)]
    return out


def _forward_sequence(ctr, dec, seq):
    """Logits of the last token of ``seq`` (a list of ids) and the K/V rows of every layer."""
    cfg = dec.cfg
    d, hd, kvd = cfg.hidden, cfg.head_dim, cfg.kv_dim
    group = cfg.heads // cfg.kv_heads
    n = len(seq)
    x = [list(map(float, dec.embed[t])) for t in seq]
    if dec.pos is not None:
        x = [[v + float(p) for v, p in zip(row, dec.pos[i])] for i, row in enumerate(x)]
    cache = []
    for layer in dec.layers:
        h = [_norm(cfg, r, layer["ln1"]) for r in x]
        b_qkv = _lst(layer["b_qkv"])
        qkv = [[v + b_qkv[j] for j, v in enumerate(r)] for r in _matmul(ctr, h, _lst(layer["w_qkv"]))]
        cache.append(([r[d:d + kvd] for r in qkv], [r[d + kvd:] for r in qkv]))
        att = [[0.0] * d for _ in range(n)]
        for head in range(cfg.heads):
            g = head // group
            q = [r[head * hd:(head + 1) * hd] for r in qkv]
            k = [r[d + g * hd:d + (g + 1) * hd] for r in qkv]
            v = [r[d + kvd + g * hd:d + kvd + (g + 1) * hd] for r in qkv]
            kt = [[k[j][c] for j in range(n)] for c in range(hd)]
            scores = _matmul(ctr, q, kt)                  # the full n x n square
            probs = []
            for i in range(n):
                allowed = [scores[i][j] / math.sqrt(hd) for j in range(i + 1)]
                m = max(allowed)
                e = [math.exp(s - m) for s in allowed]
                tot = sum(e)
                probs.append([w / tot for w in e] + [0.0] * (n - i - 1))
            out = _matmul(ctr, probs, v)
            for i in range(n):
                att[i][head * hd:(head + 1) * hd] = out[i]
        b_o = _lst(layer["b_o"])
        proj = _matmul(ctr, att, _lst(layer["w_o"]))
        x = [[xv + pv + b_o[j] for j, (xv, pv) in enumerate(zip(xr, pr))] for xr, pr in zip(x, proj)]
        h2 = [_norm(cfg, r, layer["ln2"]) for r in x]
        y = _mlp(ctr, cfg, layer, h2)
        x = [[a + b for a, b in zip(xr, yr)] for xr, yr in zip(x, y)]
    last = _norm(cfg, x[-1], dec.ln_f)
    return _matmul(ctr, [last], _lst(dec.head))[0], cache


def _decode_step(ctr, dec, token, position, cache):
    """One new token with a cache: cache[layer] = (list of K rows, list of V rows), updated in place."""
    cfg = dec.cfg
    d, hd, kvd = cfg.hidden, cfg.head_dim, cfg.kv_dim
    group = cfg.heads // cfg.kv_heads
    x = list(map(float, dec.embed[token]))
    if dec.pos is not None:
        x = [v + float(p) for v, p in zip(x, dec.pos[position])]
    for li, layer in enumerate(dec.layers):
        h = _norm(cfg, x, layer["ln1"])
        b_qkv = _lst(layer["b_qkv"])
        qkv = [v + b_qkv[j] for j, v in enumerate(_matmul(ctr, [h], _lst(layer["w_qkv"]))[0])]
        K, V = cache[li]
        K.append(qkv[d:d + kvd])
        V.append(qkv[d + kvd:])
        att = [0.0] * d
        for head in range(cfg.heads):
            g = head // group
            q = qkv[head * hd:(head + 1) * hd]
            kt = [[K[j][g * hd + c] for j in range(len(K))] for c in range(hd)]
            scores = _matmul(ctr, [q], kt)[0]
            m = max(scores)
            e = [math.exp((s - m) / math.sqrt(hd)) for s in scores]
            tot = sum(e)
            out = _matmul(ctr, [[w / tot for w in e]], [row[g * hd:(g + 1) * hd] for row in V])[0]
            att[head * hd:(head + 1) * hd] = out
        b_o = _lst(layer["b_o"])
        proj = _matmul(ctr, [att], _lst(layer["w_o"]))[0]
        x = [a + p + b_o[j] for j, (a, p) in enumerate(zip(x, proj))]
        x = [a + b for a, b in zip(x, _mlp(ctr, cfg, layer, [_norm(cfg, x, layer["ln2"])])[0])]
    last = _norm(cfg, x, dec.ln_f)
    return _matmul(ctr, [last], _lst(dec.head))[0]


def slow_generate(dec, prompt, new_tokens, use_cache=True):
    """Greedy tokens (one list per prompt) and the MACs counted one by one."""
    ctr = Counter()
    outs = []
    for seq in prompt:
        seq = [int(t) for t in seq]
        got = []
        if use_cache:
            logits, cache = _forward_sequence(ctr, dec, seq)
            for j in range(new_tokens):
                if j:
                    logits = _decode_step(ctr, dec, got[-1], len(seq) + j - 1, cache)
                got.append(max(range(len(logits)), key=lambda i: (logits[i], -i)))
        else:
            for _ in range(new_tokens):
                logits, _ = _forward_sequence(ctr, dec, seq + got)
                got.append(max(range(len(logits)), key=lambda i: (logits[i], -i)))
        outs.append(got)
    return outs, ctr.macs


def slow_simulate(steps, req, max_batch, kv_memory, block, reserve, capacity):
    """Continuous batching, one iteration at a time (same policy as mini_accel.llm_sim)."""
    n = len(req)
    arr, P, O = req.arrival_s, [int(v) for v in req.prompt_tokens], [int(v) for v in req.output_tokens]
    first, finish = [None] * n, [0.0] * n
    gen, held = [0] * n, [0] * n
    waiting, running = deque(), []
    used, t, nxt, done, preempt = 0, 0.0, 0, 0, 0
    blocks = lambda tokens: -(-tokens // block) * block  # noqa: E731
    while done < n:
        while nxt < n and arr[nxt] <= t:
            waiting.append(nxt)
            nxt += 1
        if not running and not waiting:
            t = float(arr[nxt])
            continue
        admitted = []
        while waiting and len(running) + len(admitted) < max_batch:
            i = waiting[0]
            need = blocks(P[i] + gen[i] + 1) if kv_memory == "paged" else reserve
            if used + need > capacity:
                break
            waiting.popleft()
            held[i] = need
            used += need
            admitted.append(i)
        if admitted:
            lens = [P[i] + gen[i] for i in admitted]
            t += steps.prefill_s(sum(lens), sum(v * v for v in lens), len(admitted))
            for i in admitted:
                first[i] = t if first[i] is None else first[i]
                gen[i] += 1
                if gen[i] >= O[i]:
                    finish[i] = t
                    used -= held[i]
                    done += 1
                else:
                    running.append(i)
            continue
        if kv_memory == "paged":
            while True:
                extra = sum(max(blocks(P[i] + gen[i]) - held[i], 0) for i in running)
                if used + extra <= capacity or not running:
                    break
                victim = running.pop()
                used -= held[victim]
                held[victim] = 0
                waiting.appendleft(victim)
                preempt += 1
            for i in running:
                grow = max(blocks(P[i] + gen[i]) - held[i], 0)
                held[i] += grow
                used += grow
            if not running:
                continue
        t += steps.decode_s(len(running), sum(P[i] + gen[i] - 1 for i in running))
        for i in running:
            gen[i] += 1
        still = []
        for i in running:
            if gen[i] >= O[i]:
                finish[i] = t
                used -= held[i]
                done += 1
            else:
                still.append(i)
        running = still
    return np.array(first, dtype=float), np.array(finish), preempt
