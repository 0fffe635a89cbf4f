"""Decoder-only transformers (GPT-2, Llama, Mistral, Mixtral) as GEMMs, FLOPs and bytes.

A large language model generates text in two phases. **Prefill** reads the
prompt of ``n`` tokens at once: every layer is a handful of big GEMMs with
``n`` rows. **Decode** then produces one token per step: the same weights are
multiplied by a single row per sequence, and the keys and values of all
earlier tokens (the **KV cache**) are read back from memory. This module
gives the shapes of those GEMMs, closed forms for their multiply-accumulates
(MACs), the bytes they move, and the KV cache, for the models of
``mini_accel/data/llm_models.csv`` (every row sourced from the model's
published ``config.json`` and paper) or any :class:`LLMConfig` you build.

Conventions
-----------
* One MAC = 2 FLOPs. Only the GEMMs count: softmax, norms, activations,
  residual adds and rotary embeddings are elementwise work of order
  ``tokens x hidden`` per layer, well under 1 % of the GEMM FLOPs for the
  catalog models, and are left out (the tiny decoder of
  :mod:`mini_accel.llm_decoder` counts exactly the same GEMMs).
* ``QK^T`` and ``AV`` of a prefill are counted as full ``n x n`` GEMMs per head,
  as dense kernels compute them (the causal mask throws half away).
* Prefill computes the logits of the *last* token of each sequence only
  (that is all generation needs); a decode step computes one row per sequence.
* ``context`` of a decode step = tokens already in the KV cache; the new token
  attends to ``context + 1`` keys (its own included).
* Bytes: every weight is read once per forward pass (the input-embedding
  table is a gather of one row per token, so it is not streamed); the KV
  cache is read once per decode step and written once per new token;
  activations stay on chip (they are ``tokens x hidden``, small next to the
  weights at decode). Mixture-of-experts layers read only the experts the
  step's tokens are routed to; with uniform routing the expected number of
  distinct experts hit by ``T`` tokens choosing ``k`` of ``E`` is
  ``E (1 - (1 - k/E)^T)``.

>>> from mini_accel.llm import get_model, kv_cache_bytes
>>> m = get_model("Llama-2-7B")
>>> m.params(), m.attention
(6738415616, 'MHA')
>>> kv_cache_bytes(m, tokens=4096, batch=1) / 2**30      # fp16 K and V, 32 layers x 4096 wide
2.0
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ._checks import Interval, UnknownName, check_bool, check_instance, check_option, positive_int
from .formats import FORMATS, canonical_format, formats_supported_by
from .tables import read_table

__all__ = [
    "PRECISION_BYTES", "WEIGHT_PRECISIONS", "KV_PRECISIONS", "MLP_KINDS", "MAX_TOKENS",
    "LLMConfig", "Gemm", "Cost", "load_models", "get_model", "model_names",
    "layer_gemms", "forward_gemms", "prefill_macs", "decode_macs", "generation_macs",
    "kv_bytes_per_token", "kv_cache_bytes", "weight_bytes", "experts_touched",
    "prefill_cost", "decode_cost", "decode_intensity", "params_check",
]

#: Bytes per stored element of each precision the registry marks as modelled by
#: ``llm`` (int4 packs two weights per byte); read-only, derived from
#: :data:`mini_accel.formats.FORMATS`.
PRECISION_BYTES = MappingProxyType({name: FORMATS[name].bytes for name in formats_supported_by("llm")})
#: Weight precisions a deployment stores (16 bits and narrower: fp32 serving is not modelled).
WEIGHT_PRECISIONS = tuple(name for name in PRECISION_BYTES if FORMATS[name].bits <= 16)
#: KV-cache precisions (8 or 16 bits: 4-bit KV caches are not in the measurements the course checks).
KV_PRECISIONS = tuple(name for name in WEIGHT_PRECISIONS if FORMATS[name].bits >= 8)
MLP_KINDS = ("gelu", "swiglu")
_NORMS = ("layernorm", "rmsnorm")
_ACTIVATION_BYTES = 2.0   # activations exchanged between chips in fp16/bf16

#: Longest token count (prompt, context, output, routed tokens) any function takes:
#: 2**24 tokens is over a hundred times the longest context of the catalog; more is a typo.
MAX_TOKENS = 1 << 24
#: A token count: an int in [0, MAX_TOKENS] (callers raise the low end to 1 where 0 makes no sense).
_TOKENS = Interval("int", 0, MAX_TOKENS)
_TOKENS1 = Interval("int", 1, MAX_TOKENS)

WeightPrecision = Literal["fp16", "bf16", "fp8", "int8", "int4"]
KVPrecision = Literal["fp16", "bf16", "fp8", "int8"]


def check_precision(name: str, value, allowed=WEIGHT_PRECISIONS) -> str:
    """``value`` as a registry format name from ``allowed`` (aliases such as "half" allowed).

    Kept for code that imported it; it is :func:`mini_accel.formats.canonical_format`.

    >>> check_precision("weights", "FP8"), check_precision("kv", "half", KV_PRECISIONS)
    ('fp8', 'fp16')
    """
    return canonical_format(value, name=name, allowed=tuple(allowed))


# --------------------------------------------------------------------------- #
# The model's shape
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class LLMConfig:
    """The shape of a decoder-only transformer, as its ``config.json`` gives it.

    Parameters
    ----------
    name : str
    hidden : int
        Model width ``d`` (``hidden_size``, ``n_embd``).
    layers : int
    heads : int
        Query heads; ``hidden`` must be a multiple of ``heads`` (head size ``d / heads``).
    kv_heads : int
        Key/value heads: ``heads`` is multi-head attention (MHA), 1 is
        multi-query (MQA), anything between that divides ``heads`` is
        grouped-query (GQA).
    ffn : int
        Inner width of the MLP (of one expert for a mixture of experts).
    vocab : int
    positions : int
        Rows of a learned position-embedding table (GPT-2: 1024); 0 for
        rotary embeddings, which have no weights.
    mlp : {"gelu", "swiglu"}
        GELU: up ``d x ffn``, down ``ffn x d``. SwiGLU: gate and up ``d x ffn``
        each, down ``ffn x d``.
    norm : {"layernorm", "rmsnorm"}
        LayerNorm has a gain and a bias per channel, RMSNorm a gain only.
    bias : bool
        Whether the linear layers have biases (GPT-2 does, Llama does not).
    tied : bool
        Whether the output (LM head) matrix is the input embedding table.
    experts, experts_per_token : int
        Mixture of experts: each MLP is ``experts`` copies, a router picks
        ``experts_per_token`` of them per token (1 and 1 for a dense model).
    context : int
        Longest context the model was trained for (not enforced).

    >>> tiny = LLMConfig("tiny", hidden=8, layers=2, heads=4, kv_heads=2, ffn=16, vocab=11)
    >>> tiny.head_dim, tiny.attention, tiny.params()
    (2, 'GQA', 1368)
    >>> LLMConfig("bad", hidden=10, layers=1, heads=4, kv_heads=4, ffn=8, vocab=5)
    Traceback (most recent call last):
    ...
    ValueError: heads (4) must divide hidden (10): ... pick heads among [1, 2, 5, 10]
    """

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    positions: int = 0
    mlp: Literal["gelu", "swiglu"] = "swiglu"
    norm: Literal["layernorm", "rmsnorm"] = "rmsnorm"
    bias: bool = False
    tied: bool = False
    experts: int = 1
    experts_per_token: int = 1
    context: int = 4096
    params_published: float | None = None
    active_published: float | None = None
    published_text: str = ""
    source: str = field(default="", repr=False)

    def __post_init__(self):
        check_instance("name", self.name, str, what="a string")
        for attr in ("hidden", "layers", "heads", "kv_heads", "ffn", "vocab", "experts",
                     "experts_per_token", "context"):
            object.__setattr__(self, attr, positive_int(attr, getattr(self, attr)))
        object.__setattr__(self, "positions", positive_int("positions", self.positions, low=0))
        if self.hidden % self.heads:
            divisors = [k for k in range(1, self.hidden + 1) if self.hidden % k == 0][:8]
            raise ValueError(f"heads ({self.heads}) must divide hidden ({self.hidden}): every head gets "
                             f"hidden / heads channels; pick heads among {divisors}")
        if self.heads % self.kv_heads:
            raise ValueError(f"kv_heads ({self.kv_heads}) must divide heads ({self.heads}): each key/value "
                             "head serves a whole group of query heads (1 = MQA, heads = MHA)")
        if self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) cannot exceed experts "
                             f"({self.experts})")
        object.__setattr__(self, "mlp", check_option("mlp", self.mlp, MLP_KINDS))
        object.__setattr__(self, "norm", check_option("norm", self.norm, _NORMS))
        object.__setattr__(self, "bias", check_bool("bias", self.bias))
        object.__setattr__(self, "tied", check_bool("tied", self.tied))

    # -- derived shapes ------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        """Width of the keys (and of the values): ``kv_heads x head_dim``."""
        return self.kv_heads * self.head_dim

    @property
    def attention(self) -> str:
        """``"MHA"``, ``"GQA"`` or ``"MQA"``."""
        if self.kv_heads == self.heads:
            return "MHA"
        return "MQA" if self.kv_heads == 1 else "GQA"

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def mlp_matrices(self) -> int:
        """``d x ffn`` matrices per expert: 2 for GELU, 3 for SwiGLU."""
        return 2 if self.mlp == "gelu" else 3

    # -- parameters ----------------------------------------------------------
    def _norm_params(self) -> int:
        return self.hidden * (2 if self.norm == "layernorm" else 1)

    def attention_params(self) -> int:
        """Q, K, V and output projections of one layer (with biases if any)."""
        d, kv = self.hidden, self.kv_dim
        weights = d * (d + 2 * kv) + d * d
        return weights + ((d + 2 * kv) + d if self.bias else 0)

    def expert_params(self) -> int:
        """One expert's MLP (with biases if any)."""
        d, f = self.hidden, self.ffn
        biases = ((self.mlp_matrices - 1) * f + d) if self.bias else 0
        return self.mlp_matrices * d * f + biases

    def layer_params(self) -> int:
        """One transformer block: attention, the experts, the router, two norms."""
        router = self.hidden * self.experts if self.is_moe else 0
        return self.attention_params() + self.experts * self.expert_params() + router + 2 * self._norm_params()

    def embedding_params(self) -> int:
        """Input token table (+ the output head when untied) + learned positions."""
        table = self.vocab * self.hidden
        return table * (1 if self.tied else 2) + self.positions * self.hidden

    def params(self) -> int:
        """All parameters: the layers, the embeddings and the final norm."""
        return self.layers * self.layer_params() + self.embedding_params() + self._norm_params()

    def active_params(self) -> int:
        """Parameters one token uses: :meth:`params` minus the experts it is not routed to."""
        idle = self.layers * (self.experts - self.experts_per_token) * self.expert_params()
        return self.params() - idle

    def streamed_params(self) -> int:
        """Parameters a forward pass reads in full (everything but the gathered embedding rows)."""
        gathered = self.positions * self.hidden + (0 if self.tied else self.vocab * self.hidden)
        return self.params() - gathered


_MODEL_INTS = ("hidden", "layers", "heads", "kv_heads", "ffn", "vocab", "positions", "experts",
               "experts_per_token", "context")
_MODEL_FIELDS = _MODEL_INTS + ("name", "mlp", "norm", "bias", "tied", "params_published",
                               "active_published", "published_text", "source")


@functools.lru_cache(maxsize=1)
def _catalog() -> tuple:
    rows = read_table("llm_models.csv", ints=_MODEL_INTS, bools=("bias", "tied"),
                      numbers=("params_published", "active_published"))
    return tuple(LLMConfig(**{k: ("" if r[k] is None and k in ("published_text", "source") else r[k])
                              for k in _MODEL_FIELDS}) for r in rows)


def load_models() -> list:
    """Every model of the catalog (``mini_accel/data/llm_models.csv``), in file order.

    >>> [m.name for m in load_models()][:2]
    ['GPT-2 small', 'GPT-2 XL']
    """
    return list(_catalog())


def model_names() -> list:
    """Names of the catalog models, in file order.

    >>> "Llama-2-7B" in model_names()
    True
    """
    return [m.name for m in _catalog()]


def get_model(name) -> LLMConfig:
    """A catalog model by exact name or by a case-insensitive fragment matching one model.

    An :class:`LLMConfig` is returned as is, so functions accept either.

    >>> get_model("mixtral").experts, get_model("llama-3-8b").kv_heads
    (8, 8)
    """
    if isinstance(name, LLMConfig):
        return name
    if not isinstance(name, str):
        raise TypeError(f"model must be an LLMConfig or a catalog name, got {type(name).__name__} "
                        f"({name!r}); names: {model_names()}")
    if not name.strip():
        raise UnknownName(f"model must be an LLMConfig or a catalog name, got {name!r}; names: {model_names()}")
    models = _catalog()
    for m in models:
        if m.name.lower() == name.lower():
            return m
    hits = [m for m in models if name.lower() in m.name.lower()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UnknownName(f"model: no model matches {name!r}; the catalog has {model_names()}")
    raise UnknownName(f"model: {name!r} matches several models: {[m.name for m in hits]}; be more specific")


# --------------------------------------------------------------------------- #
# GEMMs
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Gemm:
    """``count`` independent ``(M x K) @ (K x N)`` products; ``weights`` if B is a weight matrix."""

    name: str
    count: int
    M: int
    K: int
    N: int
    weights: bool

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all ``count`` products.

        >>> Gemm("qkv", 2, 1, 4, 3, True).macs
        24
        """
        return self.count * self.M * self.K * self.N


def layer_gemms(model, phase: Literal["prefill", "decode"] = "decode", *, batch: int = 1, tokens: int = 1,
                context: int = 0, routed_tokens: int | None = None) -> list:
    """The GEMMs of one transformer block.

    ``phase="prefill"``: ``batch`` prompts of ``tokens`` tokens each.
    ``phase="decode"``: one new token for each of ``batch`` sequences with
    ``context`` tokens already cached. A mixture of experts sends
    ``routed_tokens`` token-expert pairs through the experts (default: every
    token to ``experts_per_token`` experts); they are listed as one GEMM.

    >>> [(g.name, g.count, g.M, g.K, g.N) for g in layer_gemms("GPT-2 small", "decode", context=9)][:3]
    [('qkv', 1, 1, 768, 2304), ('scores', 12, 1, 64, 10), ('attn_v', 12, 1, 10, 64)]
    """
    m = get_model(model)
    batch = positive_int("batch", batch)
    phase = check_option("phase", phase, ("prefill", "decode"))
    if phase == "prefill":
        n = _TOKENS1.check("tokens", tokens)
        rows, q_rows, keys = batch * n, n, n
    else:
        rows, q_rows, keys = batch, 1, _TOKENS.check("context", context) + 1
    d, hd, f = m.hidden, m.head_dim, m.ffn
    out = [Gemm("qkv", 1, rows, d, d + 2 * m.kv_dim, True),
           Gemm("scores", batch * m.heads, q_rows, hd, keys, False),
           Gemm("attn_v", batch * m.heads, q_rows, keys, hd, False),
           Gemm("out_proj", 1, rows, d, d, True)]
    routed = rows * m.experts_per_token if routed_tokens is None else _TOKENS.check("routed_tokens", routed_tokens)
    if m.is_moe:
        out.append(Gemm("router", 1, rows, d, m.experts, True))
    up = f * (m.mlp_matrices - 1)     # GELU: up; SwiGLU: gate and up side by side
    out += [Gemm("mlp_up", 1, routed, d, up, True), Gemm("mlp_down", 1, routed, f, d, True)]
    return out


def forward_gemms(model, phase: Literal["prefill", "decode"] = "decode", *, batch: int = 1,
                  tokens: int = 1, context: int = 0) -> list:
    """All GEMMs of a forward pass: every block (counts x layers) and the LM head.

    >>> [g.name for g in forward_gemms("GPT-2 small")][-2:]
    ['mlp_down', 'lm_head']
    """
    m = get_model(model)
    per_layer = layer_gemms(m, phase, batch=batch, tokens=tokens, context=context)
    out = [Gemm(g.name, g.count * m.layers, g.M, g.K, g.N, g.weights) for g in per_layer]
    out.append(Gemm("lm_head", 1, positive_int("batch", batch), m.hidden, m.vocab, True))
    return out


def prefill_macs(model, prompt_tokens: int, batch: int = 1) -> int:
    """MACs of a prefill, closed form.

    Per layer and sequence of ``n`` tokens: ``n d (2d + 2 kv_dim)`` for the
    projections, ``2 n^2 d`` for QK^T and AV, ``k n m d ffn`` for the MLP
    (``m`` = 2 GELU / 3 SwiGLU matrices, ``k`` experts per token) plus
    ``n d E`` for a router; then ``d vocab`` for the last token's logits.

    >>> prefill_macs("GPT-2 small", 1) == sum(g.macs for g in forward_gemms("GPT-2 small", "prefill"))
    True
    """
    m = get_model(model)
    n, b = _TOKENS1.check("prompt_tokens", prompt_tokens), positive_int("batch", batch)
    return b * (m.layers * (n * _token_macs(m) + 2 * n * n * m.hidden) + m.hidden * m.vocab)


def _token_macs(m: LLMConfig) -> int:
    """MACs one token costs in one block outside attention's QK^T and AV (projections, MLP, router)."""
    d = m.hidden
    macs = d * (2 * d + 2 * m.kv_dim) + m.experts_per_token * m.mlp_matrices * d * m.ffn
    return macs + (d * m.experts if m.is_moe else 0)


def decode_macs(model, context: int, batch: int = 1) -> int:
    """MACs of one decode step (a prefill of one token that attends to ``context + 1`` keys).

    >>> decode_macs("GPT-2 small", 0) == prefill_macs("GPT-2 small", 1)
    True
    """
    m = get_model(model)
    t, b = _TOKENS.check("context", context), positive_int("batch", batch)
    return b * (m.layers * (_token_macs(m) + 2 * (t + 1) * m.hidden) + m.hidden * m.vocab)


def _sum_range(lo: int, hi: int, power: int) -> int:
    """``sum(x ** power for x in range(lo, hi + 1))`` for power 1 or 2, in closed form (exact ints)."""
    if hi < lo:
        return 0
    if power == 1:
        return (hi - lo + 1) * (lo + hi) // 2

    def squares(k):
        return k * (k + 1) * (2 * k + 1) // 6
    return squares(hi) - squares(lo - 1)


def generation_macs(model, prompt_tokens: int, new_tokens: int, *, use_cache: bool = True,
                    batch: int = 1) -> int:
    """MACs to generate ``new_tokens`` greedily after a prompt.

    With a KV cache: one prefill of the prompt (its logits give the first new
    token), then a decode step per further token. Without: every new token
    re-runs the prefill of everything so far, so the work grows with the
    square (attention: the cube) of the length. Both sums are taken in closed
    form (sums of ``t`` and ``t**2``), equal to adding up :func:`decode_macs`
    and :func:`prefill_macs` step by step (tested, and against the MACs the
    :class:`~mini_accel.llm_decoder.TinyDecoder` really does).

    >>> generation_macs("GPT-2 small", 100, 100, use_cache=False) / generation_macs("GPT-2 small", 100, 100)
    ... # doctest: +ELLIPSIS
    62.0...
    """
    m = get_model(model)
    n, g = _TOKENS1.check("prompt_tokens", prompt_tokens), _TOKENS1.check("new_tokens", new_tokens)
    b = positive_int("batch", batch)
    d, L, head = m.hidden, m.layers, m.hidden * m.vocab
    if check_bool("use_cache", use_cache):
        # decode steps at contexts n .. n + g - 2, each L (token + 2 (t + 1) d) + head
        steps = g - 1
        decode = steps * (L * (_token_macs(m) + 2 * d) + head) + 2 * L * d * _sum_range(n, n + g - 2, 1)
        return prefill_macs(m, n, b) + b * decode
    # prefills of n .. n + g - 1 tokens
    lo, hi = n, n + g - 1
    return b * (L * (_token_macs(m) * _sum_range(lo, hi, 1) + 2 * d * _sum_range(lo, hi, 2)) + g * head)


# --------------------------------------------------------------------------- #
# Bytes
# --------------------------------------------------------------------------- #
def kv_bytes_per_token(model, kv_precision: KVPrecision = "fp16") -> float:
    """Bytes of keys and values one token leaves in the cache: ``2 x layers x kv_dim x bytes``.

    >>> kv_bytes_per_token("Llama-2-70B") / 1024    # GQA: 8 KV heads of 128 -> 320 KiB
    320.0
    """
    m = get_model(model)
    kv_precision = canonical_format(kv_precision, name="kv_precision", allowed=KV_PRECISIONS)
    return 2.0 * m.layers * m.kv_dim * PRECISION_BYTES[kv_precision]


def kv_cache_bytes(model, tokens: int, batch: int = 1, kv_precision: KVPrecision = "fp16") -> float:
    """KV cache of ``batch`` sequences of ``tokens`` tokens each, in bytes.

    >>> kv_cache_bytes("Llama-2-7B", 1024, batch=2, kv_precision="int8") / 2**20   # 2 x 1024 x 256 KiB
    512.0
    """
    return _TOKENS.check("tokens", tokens) * positive_int("batch", batch) * kv_bytes_per_token(model, kv_precision)


def weight_bytes(model, precision: WeightPrecision = "fp16") -> float:
    """Memory the weights occupy (all experts included), in bytes.

    >>> weight_bytes("Llama-2-70B", "int4") / 1e9    # half a byte per weight (scales not counted)
    34.488324096
    """
    precision = canonical_format(precision, allowed=WEIGHT_PRECISIONS)
    return get_model(model).params() * PRECISION_BYTES[precision]


def experts_touched(model, tokens: int) -> float:
    """Expected distinct experts per layer hit by ``tokens`` tokens under uniform top-k routing.

    >>> round(experts_touched("Mixtral-8x7B", 1), 6), round(experts_touched("Mixtral-8x7B", 64), 3)
    (2.0, 8.0)
    """
    m = get_model(model)
    T = _TOKENS1.check("tokens", tokens)
    if not m.is_moe:
        return 1.0
    return m.experts * (1.0 - (1.0 - m.experts_per_token / m.experts) ** T)


def _streamed_weight_bytes(m: LLMConfig, tokens: int, precision: str) -> float:
    idle = m.experts - experts_touched(m, tokens)
    params = m.streamed_params() - m.layers * idle * m.expert_params()
    return params * PRECISION_BYTES[precision] + tokens * m.hidden * PRECISION_BYTES[precision]


@dataclass(frozen=True)
class Cost:
    """FLOPs and DRAM bytes of one forward pass (see the module docstring for what counts)."""

    flops: float
    weight_bytes: float
    kv_read_bytes: float
    kv_write_bytes: float
    tokens: int           # tokens processed (rows of the projections)

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.kv_read_bytes + self.kv_write_bytes

    @property
    def intensity(self) -> float:
        """FLOPs per byte of DRAM traffic."""
        return self.flops / self.bytes


def prefill_cost(model, prompt_tokens: int, batch: int = 1, weights: WeightPrecision = "fp16",
                 kv: KVPrecision = "fp16") -> Cost:
    """FLOPs and bytes of a prefill of ``batch`` prompts of ``prompt_tokens`` tokens.

    ``weights`` and ``kv`` are the two precisions (registry names, see
    :data:`WEIGHT_PRECISIONS` and :data:`KV_PRECISIONS`).

    >>> c = prefill_cost("Llama-2-7B", 2048)
    >>> c.tokens, c.intensity > 1000          # a long prompt is compute bound
    (2048, True)
    """
    m = get_model(model)
    weights = canonical_format(weights, name="weights", allowed=WEIGHT_PRECISIONS)
    n, b = _TOKENS1.check("prompt_tokens", prompt_tokens), positive_int("batch", batch)
    return Cost(flops=2.0 * prefill_macs(m, n, b), weight_bytes=_streamed_weight_bytes(m, b * n, weights),
                kv_read_bytes=0.0, kv_write_bytes=b * n * kv_bytes_per_token(m, kv), tokens=b * n)


def decode_cost(model, context: int, batch: int = 1, weights: WeightPrecision = "fp16",
                kv: KVPrecision = "fp16") -> Cost:
    """FLOPs and bytes of one decode step of ``batch`` sequences with ``context`` cached tokens each.

    >>> c = decode_cost("Llama-2-7B", context=0, batch=1)
    >>> round(c.intensity, 2)        # about 1 FLOP per byte: 2 FLOPs per 2-byte weight
    1.0
    """
    m = get_model(model)
    weights = canonical_format(weights, name="weights", allowed=WEIGHT_PRECISIONS)
    t, b = _TOKENS.check("context", context), positive_int("batch", batch)
    per_token = kv_bytes_per_token(m, kv)
    return Cost(flops=2.0 * decode_macs(m, t, b), weight_bytes=_streamed_weight_bytes(m, b, weights),
                kv_read_bytes=b * t * per_token, kv_write_bytes=b * per_token, tokens=b)


def decode_intensity(model, context: int, batch: int = 1, weights: WeightPrecision = "fp16",
                     kv: KVPrecision = "fp16") -> float:
    """FLOPs per DRAM byte of a decode step: about ``batch`` x 2 / bytes-per-weight while the weights dominate.

    >>> round(decode_intensity("Llama-2-7B", 0, batch=8, weights="int8"), 1)   # 8 x 2 FLOPs per 1-byte weight
    16.0
    """
    return decode_cost(model, context, batch, weights, kv).intensity


def params_check(model) -> dict:
    """Computed against published parameter counts: ``{"computed", "published", "rel_error", ...}``.

    >>> r = params_check("Llama-2-7B")
    >>> r["computed"], r["rel_error"] < 0.04
    (6738415616, True)
    """
    m = get_model(model)
    out = {"model": m.name, "computed": m.params(), "published": m.params_published,
           "published_text": m.published_text, "active_computed": m.active_params(),
           "active_published": m.active_published}
    out["rel_error"] = (abs(m.params() - m.params_published) / m.params_published
                        if m.params_published else math.nan)
    out["active_rel_error"] = (abs(m.active_params() - m.active_published) / m.active_published
                               if m.active_published else math.nan)
    return out
