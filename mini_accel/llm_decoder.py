"""A tiny decoder-only transformer that really runs (numpy), with or without a KV cache.

Random weights of any :class:`~mini_accel.llm.LLMConfig` shape (keep it tiny:
everything is float64 and every GEMM can be sent through a cycle-level
:class:`~mini_accel.SystolicArray`). It exists to check the closed forms of
:mod:`mini_accel.llm` by running them: greedy generation with a KV cache and
without one (recomputing the whole prefix for every token) give the same
tokens, and the MACs each one counts equal :func:`~mini_accel.llm.generation_macs`.

What it leaves out changes no GEMM shape: rotary position embeddings (models
with ``positions=0`` get no position signal at all), dropout, sliding windows.

>>> from mini_accel.llm import LLMConfig, generation_macs
>>> from mini_accel.llm_decoder import TinyDecoder
>>> cfg = LLMConfig("tiny", hidden=16, layers=2, heads=4, kv_heads=2, ffn=32, vocab=23, positions=32)
>>> dec = TinyDecoder(cfg, seed=0)
>>> cached = dec.generate([[1, 2, 3]], 5)
>>> again = dec.generate([[1, 2, 3]], 5, use_cache=False)
>>> bool((cached.tokens == again.tokens).all()), cached.macs == generation_macs(cfg, 3, 5)
(True, True)
>>> again.macs == generation_macs(cfg, 3, 5, use_cache=False)
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_array, check_bool, check_instance, positive_int
from .llm import get_model
from .systolic import SystolicArray

__all__ = ["TinyDecoder", "Generation", "MAX_TINY_PARAMS", "MAX_TINY_TOKENS"]

#: The decoder refuses bigger models: it is for checking formulas, not for serving.
MAX_TINY_PARAMS = 5_000_000
#: Longest sequence (prompt + new tokens) and largest batch x length it runs.
MAX_TINY_TOKENS = 4096


@dataclass
class Generation:
    """Greedy tokens ``(batch, new_tokens)`` and what producing them cost (made by :meth:`TinyDecoder.generate`).

    >>> Generation(np.zeros((1, 2), np.int64), macs=10, gemm_calls=2, cycles=0).tokens.shape
    (1, 2)
    """

    tokens: np.ndarray
    macs: int
    gemm_calls: int
    cycles: int          # systolic-array cycles (0 when numpy multiplied)


class TinyDecoder:
    """A decoder with random weights for ``config``; its GEMMs go through ``matmul``.

    Parameters
    ----------
    config : LLMConfig or catalog name
        At most :data:`MAX_TINY_PARAMS` parameters.
    seed : int

    >>> from mini_accel.llm import LLMConfig
    >>> dec = TinyDecoder(LLMConfig("t", hidden=8, layers=1, heads=2, kv_heads=1, ffn=16, vocab=9), seed=1)
    >>> logits, caches = dec.forward([[1, 2, 3]])
    >>> logits.shape, caches[0][0].shape         # (batch, vocab); keys (batch, tokens, kv_dim)
    ((1, 9), (1, 3, 4))
    """

    def __init__(self, config, seed: int = 0):
        cfg = get_model(config)
        if cfg.params() > MAX_TINY_PARAMS:
            raise ValueError(f"{cfg.name} has {cfg.params():,} parameters; TinyDecoder takes at most "
                             f"{MAX_TINY_PARAMS:,} (use LLMConfig to make a tiny one)")
        self.cfg = cfg
        rng = np.random.default_rng(positive_int("seed", seed, low=0))
        d, f, kv = cfg.hidden, cfg.ffn, cfg.kv_dim

        def w(rows, cols):
            return rng.standard_normal((rows, cols)) / math.sqrt(rows)

        def b(cols):
            return rng.standard_normal(cols) * 0.1 if cfg.bias else np.zeros(cols)

        def norm():
            return (1.0 + 0.1 * rng.standard_normal(d),
                    0.1 * rng.standard_normal(d) if cfg.norm == "layernorm" else np.zeros(d))

        up = f * (cfg.mlp_matrices - 1)
        self.layers = []
        for _ in range(cfg.layers):
            layer = {"ln1": norm(), "w_qkv": w(d, d + 2 * kv), "b_qkv": b(d + 2 * kv), "w_o": w(d, d),
                     "b_o": b(d), "ln2": norm(),
                     "experts": [(w(d, up), b(up), w(f, d), b(d)) for _ in range(cfg.experts)]}
            if cfg.is_moe:
                layer["w_router"] = w(d, cfg.experts)
            self.layers.append(layer)
        self.embed = rng.standard_normal((cfg.vocab, d))
        self.pos = rng.standard_normal((cfg.positions, d)) * 0.5 if cfg.positions else None
        self.ln_f = norm()
        self.head = np.ascontiguousarray(self.embed.T) if cfg.tied else w(d, cfg.vocab)
        self._array = None
        self._counts = [0, 0, 0]      # macs, calls, cycles

    # -- the one place where matrices are multiplied ---------------------------
    def _mm(self, A, B):
        A, B = np.ascontiguousarray(A), np.ascontiguousarray(B)
        self._counts[0] += A.shape[0] * A.shape[1] * B.shape[1]
        self._counts[1] += 1
        if self._array is None:
            return A @ B
        res = self._array.matmul(A, B)
        self._counts[2] += res.cycles
        return res.output

    def _norm(self, x, params):
        g, beta = params
        if self.cfg.norm == "layernorm":
            mu = x.mean(-1, keepdims=True)
            return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g + beta
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * g

    def _mlp(self, x, layer):
        """x: (rows, d) -> (rows, d), through one expert or the routed top-k experts."""
        cfg = self.cfg

        def expert(rows, e):
            w_up, b_up, w_down, b_down = layer["experts"][e]
            h = self._mm(rows, w_up) + b_up
            if cfg.mlp == "gelu":
                a = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))
            else:
                gate, lin = h[:, :cfg.ffn], h[:, cfg.ffn:]
                a = gate / (1 + np.exp(-gate)) * lin
            return self._mm(a, w_down) + b_down

        if not cfg.is_moe:
            return expert(x, 0)
        logits = self._mm(x, layer["w_router"])
        top = np.argsort(-logits, axis=1, kind="stable")[:, :cfg.experts_per_token]
        chosen = np.take_along_axis(logits, top, axis=1)
        gates = np.exp(chosen - chosen.max(1, keepdims=True))
        gates /= gates.sum(1, keepdims=True)
        out = np.zeros_like(x)
        for e in range(cfg.experts):
            rows, slot = np.nonzero(top == e)
            if rows.size:
                out[rows] += gates[rows, slot][:, None] * expert(x[rows], e)
        return out

    def _block(self, x, layer, cache):
        """x: (batch, n, d) new tokens; cache: (K, V) of shape (batch, t, kv_dim) or None."""
        cfg = self.cfg
        bsz, n, d = x.shape
        hd, kvd, group = cfg.head_dim, cfg.kv_dim, cfg.heads // cfg.kv_heads
        h = self._norm(x, layer["ln1"]).reshape(bsz * n, d)
        qkv = (self._mm(h, layer["w_qkv"]) + layer["b_qkv"]).reshape(bsz, n, d + 2 * kvd)
        q, k_new, v_new = qkv[..., :d], qkv[..., d:d + kvd], qkv[..., d + kvd:]
        K = k_new if cache is None else np.concatenate([cache[0], k_new], axis=1)
        V = v_new if cache is None else np.concatenate([cache[1], v_new], axis=1)
        t = K.shape[1]
        past = t - n                                      # query i sits at position past + i
        mask = np.arange(t)[None, :] > (past + np.arange(n))[:, None]
        att = np.empty((bsz, n, d))
        for s in range(bsz):
            for head in range(cfg.heads):
                g = head // group
                qh = q[s, :, head * hd:(head + 1) * hd]
                kh = K[s, :, g * hd:(g + 1) * hd]
                vh = V[s, :, g * hd:(g + 1) * hd]
                scores = self._mm(qh, kh.T) / math.sqrt(hd)
                scores = np.where(mask, -np.inf, scores)
                p = np.exp(scores - scores.max(1, keepdims=True))
                p /= p.sum(1, keepdims=True)
                att[s, :, head * hd:(head + 1) * hd] = self._mm(p, vh)
        x = x + (self._mm(att.reshape(bsz * n, d), layer["w_o"]) + layer["b_o"]).reshape(bsz, n, d)
        x = x + self._mlp(self._norm(x, layer["ln2"]).reshape(bsz * n, d), layer).reshape(bsz, n, d)
        return x, (K, V)

    def _tokens(self, name: str, tokens) -> np.ndarray:
        """``tokens`` as a 2-D int64 array of ids in the vocabulary (a 1-D list is one sequence)."""
        arr = check_array(name, tokens, ndim=(1, 2), dtype=None, allow_empty=False,
                          max_elements=MAX_TINY_TOKENS)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.min() < 0 or arr.max() >= self.cfg.vocab:
            raise ValueError(f"{name}: token ids must lie in [0, {self.cfg.vocab - 1}] (the vocabulary), "
                             f"got {arr.min()} to {arr.max()}")
        return arr.astype(np.int64)

    def forward(self, tokens, caches=None):
        """Logits of the last position ``(batch, vocab)`` and the updated caches."""
        tokens = self._tokens("tokens", tokens)
        bsz, n = tokens.shape
        past = 0 if caches is None else caches[0][0].shape[1]
        x = self.embed[tokens]
        if self.pos is not None:
            x = x + self.pos[past:past + n]
        new = []
        for i, layer in enumerate(self.layers):
            x, c = self._block(x, layer, None if caches is None else caches[i])
            new.append(c)
        last = self._norm(x[:, -1, :], self.ln_f)
        return self._mm(last, self.head), new

    def generate(self, prompt, new_tokens: int, *, use_cache: bool = True, array=None) -> Generation:
        """Greedy decoding of ``new_tokens`` tokens after ``prompt`` (a list of equal-length token lists).

        ``array``: a :class:`~mini_accel.SystolicArray` that does every GEMM
        (cycle by cycle: keep the model and the prompt tiny).
        """
        prompt = self._tokens("prompt", prompt)
        g = positive_int("new_tokens", new_tokens, high=MAX_TINY_TOKENS - prompt.shape[1] + 1)
        use_cache = check_bool("use_cache", use_cache)
        check_instance("array", array, (SystolicArray, type(None)), what="a mini_accel.SystolicArray or None")
        if self.pos is not None and prompt.shape[1] + g - 1 > self.cfg.positions:
            raise ValueError(f"prompt + new tokens need {prompt.shape[1] + g - 1} positions; the model "
                             f"has {self.cfg.positions}")
        self._array, self._counts = array, [0, 0, 0]
        try:
            seq = prompt.astype(np.int64)
            out = np.empty((seq.shape[0], g), dtype=np.int64)
            logits, caches = self.forward(seq)
            for j in range(g):
                if j:
                    if use_cache:
                        logits, caches = self.forward(out[:, j - 1:j], caches)
                    else:
                        logits, _ = self.forward(np.concatenate([seq, out[:, :j]], axis=1))
                out[:, j] = np.argmax(logits, axis=1)
            macs, calls, cycles = self._counts
        finally:
            self._array = None
        return Generation(out, int(macs), int(calls), int(cycles))
