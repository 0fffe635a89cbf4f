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

import csv
import functools
import math
from dataclasses import dataclass, field
from importlib import resources

from ._checks import positive_int

__all__ = [
    "PRECISION_BYTES", "WEIGHT_PRECISIONS", "KV_PRECISIONS", "MLP_KINDS",
    "LLMConfig", "Gemm", "Cost", "load_models", "get_model", "model_names",
    "layer_gemms", "forward_gemms", "prefill_macs", "decode_macs", "generation_macs",
    "kv_bytes_per_token", "kv_cache_bytes", "weight_bytes", "experts_touched",
    "prefill_cost", "decode_cost", "decode_intensity", "params_check",
]

#: Bytes per stored element of each precision (int4 packs two weights per byte).
PRECISION_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
WEIGHT_PRECISIONS = ("fp16", "bf16", "fp8", "int8", "int4")
KV_PRECISIONS = ("fp16", "bf16", "fp8", "int8")
MLP_KINDS = ("gelu", "swiglu")
_ACTIVATION_BYTES = 2.0   # activations exchanged between chips in fp16/bf16


def check_precision(name: str, value, allowed=WEIGHT_PRECISIONS) -> str:
    """``value`` as a lower-case precision from ``allowed``, else ValueError naming ``name``."""
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value.lower()


def _count(name: str, value, low: int = 0) -> int:
    """A token count or length: an int >= low, with a message that says so."""
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int (a number of tokens), got {type(value).__name__} ({value!r})")
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be >= {low} (a number of tokens), got {value}")
    return value


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
    ValueError: heads (4) must divide hidden (10): every head gets hidden / heads channels; pick heads among [1, 2, 5, 10]
    """

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    positions: int = 0
    mlp: str = "swiglu"
    norm: str = "rmsnorm"
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
        if self.mlp not in MLP_KINDS:
            raise ValueError(f"mlp must be one of {MLP_KINDS}, got {self.mlp!r}")
        if self.norm not in ("layernorm", "rmsnorm"):
            raise ValueError(f"norm must be 'layernorm' or 'rmsnorm', got {self.norm!r}")

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


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes")


def _row_to_model(r: dict) -> LLMConfig:
    num = lambda k: int(r[k])  # noqa: E731
    opt = lambda k: float(r[k]) if r[k].strip() else None  # noqa: E731
    return LLMConfig(
        name=r["name"], hidden=num("hidden"), layers=num("layers"), heads=num("heads"),
        kv_heads=num("kv_heads"), ffn=num("ffn"), vocab=num("vocab"), positions=num("positions"),
        mlp=r["mlp"], norm=r["norm"], bias=_truthy(r["bias"]), tied=_truthy(r["tied"]),
        experts=num("experts"), experts_per_token=num("experts_per_token"), context=num("context"),
        params_published=opt("params_published"), active_published=opt("active_published"),
        published_text=r["published_text"], source=r["source"])


@functools.lru_cache(maxsize=1)
def _catalog() -> tuple:
    ref = resources.files("mini_accel").joinpath("data", "llm_models.csv")
    with ref.open("r", encoding="utf-8") as fh:
        return tuple(_row_to_model(r) for r in csv.DictReader(fh))


def load_models() -> list:
    """Every model of the catalog, in file order."""
    return list(_catalog())


def model_names() -> list:
    return [m.name for m in _catalog()]


def get_model(name) -> LLMConfig:
    """A catalog model by exact name or by a case-insensitive fragment matching one model.

    An :class:`LLMConfig` is returned as is, so functions accept either.

    >>> get_model("mixtral").experts, get_model("llama-3-8b").kv_heads
    (8, 8)
    """
    if isinstance(name, LLMConfig):
        return name
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"model must be an LLMConfig or a catalog name, got {name!r}; names: {model_names()}")
    models = _catalog()
    for m in models:
        if m.name.lower() == name.lower():
            return m
    hits = [m for m in models if name.lower() in m.name.lower()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise KeyError(f"no model matches {name!r}; the catalog has {model_names()}")
    raise KeyError(f"{name!r} matches several models: {[m.name for m in hits]}; be more specific")


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
        return self.count * self.M * self.K * self.N


def layer_gemms(model, phase: str = "decode", *, batch: int = 1, tokens: int = 1,
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
    if phase == "prefill":
        n = _count("tokens", tokens, low=1)
        rows, q_rows, keys = batch * n, n, n
    elif phase == "decode":
        rows, q_rows, keys = batch, 1, _count("context", context) + 1
    else:
        raise ValueError(f"phase must be 'prefill' or 'decode', got {phase!r}")
    d, hd, f = m.hidden, m.head_dim, m.ffn
    out = [Gemm("qkv", 1, rows, d, d + 2 * m.kv_dim, True),
           Gemm("scores", batch * m.heads, q_rows, hd, keys, False),
           Gemm("attn_v", batch * m.heads, q_rows, keys, hd, False),
           Gemm("out_proj", 1, rows, d, d, True)]
    routed = rows * m.experts_per_token if routed_tokens is None else _count("routed_tokens", routed_tokens)
    if m.is_moe:
        out.append(Gemm("router", 1, rows, d, m.experts, True))
    up = f * (m.mlp_matrices - 1)     # GELU: up; SwiGLU: gate and up side by side
    out += [Gemm("mlp_up", 1, routed, d, up, True), Gemm("mlp_down", 1, routed, f, d, True)]
    return out


def forward_gemms(model, phase: str = "decode", *, batch: int = 1, tokens: int = 1,
                  context: int = 0) -> list:
    """All GEMMs of a forward pass: every block (counts x layers) and the LM head."""
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
    n, b = _count("prompt_tokens", prompt_tokens, low=1), positive_int("batch", batch)
    d, kv = m.hidden, m.kv_dim
    per_layer = n * d * (2 * d + 2 * kv) + 2 * n * n * d + m.experts_per_token * n * m.mlp_matrices * d * m.ffn
    if m.is_moe:
        per_layer += n * d * m.experts
    return b * (m.layers * per_layer + d * m.vocab)


def decode_macs(model, context: int, batch: int = 1) -> int:
    """MACs of one decode step (a prefill of one token that attends to ``context + 1`` keys)."""
    m = get_model(model)
    t, b = _count("context", context), positive_int("batch", batch)
    d, kv = m.hidden, m.kv_dim
    per_layer = d * (2 * d + 2 * kv) + 2 * (t + 1) * d + m.experts_per_token * m.mlp_matrices * d * m.ffn
    if m.is_moe:
        per_layer += d * m.experts
    return b * (m.layers * per_layer + d * m.vocab)


def generation_macs(model, prompt_tokens: int, new_tokens: int, *, use_cache: bool = True,
                    batch: int = 1) -> int:
    """MACs to generate ``new_tokens`` greedily after a prompt.

    With a KV cache: one prefill of the prompt (its logits give the first new
    token), then a decode step per further token. Without: every new token
    re-runs the prefill of everything so far, so the work grows with the
    square (attention: the cube) of the length.

    >>> generation_macs("GPT-2 small", 100, 100, use_cache=False) / generation_macs("GPT-2 small", 100, 100)
    ... # doctest: +ELLIPSIS
    62.0...
    """
    n, g = _count("prompt_tokens", prompt_tokens, low=1), _count("new_tokens", new_tokens, low=1)
    if use_cache:
        return prefill_macs(model, n, batch) + sum(decode_macs(model, n + i - 1, batch) for i in range(1, g))
    return sum(prefill_macs(model, n + j, batch) for j in range(g))


# --------------------------------------------------------------------------- #
# Bytes
# --------------------------------------------------------------------------- #
def kv_bytes_per_token(model, kv_precision: str = "fp16") -> float:
    """Bytes of keys and values one token leaves in the cache: ``2 x layers x kv_dim x bytes``.

    >>> kv_bytes_per_token("Llama-2-70B") / 1024    # GQA: 8 KV heads of 128 -> 320 KiB
    320.0
    """
    m = get_model(model)
    return 2.0 * m.layers * m.kv_dim * PRECISION_BYTES[check_precision("kv_precision", kv_precision, KV_PRECISIONS)]


def kv_cache_bytes(model, tokens: int, batch: int = 1, kv_precision: str = "fp16") -> float:
    """KV cache of ``batch`` sequences of ``tokens`` tokens each, in bytes."""
    return _count("tokens", tokens) * positive_int("batch", batch) * kv_bytes_per_token(model, kv_precision)


def weight_bytes(model, precision: str = "fp16") -> float:
    """Memory the weights occupy (all experts included), in bytes.

    >>> weight_bytes("Llama-2-70B", "int4") / 1e9    # half a byte per weight (scales not counted)
    34.488324096
    """
    return get_model(model).params() * PRECISION_BYTES[check_precision("precision", precision)]


def experts_touched(model, tokens: int) -> float:
    """Expected distinct experts per layer hit by ``tokens`` tokens under uniform top-k routing."""
    m = get_model(model)
    T = _count("tokens", tokens, low=1)
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


def prefill_cost(model, prompt_tokens: int, batch: int = 1, weights: str = "fp16",
                 kv: str = "fp16") -> Cost:
    """FLOPs and bytes of a prefill of ``batch`` prompts of ``prompt_tokens`` tokens."""
    m = get_model(model)
    weights = check_precision("weights", weights)
    n, b = _count("prompt_tokens", prompt_tokens, low=1), positive_int("batch", batch)
    return Cost(flops=2.0 * prefill_macs(m, n, b), weight_bytes=_streamed_weight_bytes(m, b * n, weights),
                kv_read_bytes=0.0, kv_write_bytes=b * n * kv_bytes_per_token(m, kv), tokens=b * n)


def decode_cost(model, context: int, batch: int = 1, weights: str = "fp16", kv: str = "fp16") -> Cost:
    """FLOPs and bytes of one decode step of ``batch`` sequences with ``context`` cached tokens each.

    >>> c = decode_cost("Llama-2-7B", context=0, batch=1)
    >>> round(c.intensity, 2)        # about 1 FLOP per byte: 2 FLOPs per 2-byte weight
    1.0
    """
    m = get_model(model)
    weights = check_precision("weights", weights)
    t, b = _count("context", context), positive_int("batch", batch)
    per_token = kv_bytes_per_token(m, kv)
    return Cost(flops=2.0 * decode_macs(m, t, b), weight_bytes=_streamed_weight_bytes(m, b, weights),
                kv_read_bytes=b * t * per_token, kv_write_bytes=b * per_token, tokens=b)


def decode_intensity(model, context: int, batch: int = 1, weights: str = "fp16", kv: str = "fp16") -> float:
    """FLOPs per DRAM byte of a decode step: about ``batch`` x 2 / bytes-per-weight while the weights dominate."""
    return decode_cost(model, context, batch, weights, kv).intensity


def params_check(model) -> dict:
    """Computed against published parameter counts: ``{"computed", "published", "rel_error", ...}``."""
    m = get_model(model)
    out = {"model": m.name, "computed": m.params(), "published": m.params_published,
           "published_text": m.published_text, "active_computed": m.active_params(),
           "active_published": m.active_published}
    out["rel_error"] = (abs(m.params() - m.params_published) / m.params_published
                        if m.params_published else math.nan)
    out["active_rel_error"] = (abs(m.active_params() - m.active_published) / m.active_published
                               if m.active_published else math.nan)
    return out
