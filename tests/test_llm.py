"""mini_accel.llm / llm_decoder: shapes, parameter counts, closed forms against a decoder that runs.

* Parameter counts of the catalog against the published ones. Tolerance 4 %:
  published sizes are rounded names ("7B" is 6.74 B, 3.7 % under its name;
  every other row is within 1.5 %). The formula itself is checked exactly
  against the arrays the tiny decoder allocates.
* Every closed form (prefill, decode, generation MACs) against the sum of the
  listed GEMMs, the numpy decoder's counted MACs and the slow pure-Python
  decoder of ``tests/reference_llm.py`` that counts MAC by MAC.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_llm import slow_generate

from mini_accel import SystolicArray, llm
from mini_accel.llm import (
    LLMConfig,
    decode_cost,
    decode_macs,
    forward_gemms,
    generation_macs,
    get_model,
    kv_bytes_per_token,
    kv_cache_bytes,
    load_models,
    prefill_cost,
    prefill_macs,
    weight_bytes,
)
from mini_accel.llm_decoder import TinyDecoder

PARAM_TOLERANCE = 0.04




# --------------------------------------------------------------------------- #
# The catalog
# --------------------------------------------------------------------------- #
def test_catalog_has_the_models_the_course_uses():
    names = {m.name for m in load_models()}
    assert {"GPT-2 small", "GPT-2 XL", "Llama-2-7B", "Llama-2-13B", "Llama-2-70B", "Llama-3-8B",
            "Llama-3-70B", "Mistral-7B", "Mixtral-8x7B"} <= names
    for m in load_models():
        assert len(m.source) > 60 and "config.json" in m.source, m.name


@pytest.mark.parametrize("model", load_models(), ids=lambda m: m.name)
def test_parameter_count_matches_the_published_one(model):
    assert model.params_published
    check = llm.params_check(model)
    assert check["computed"] == model.params()
    assert check["rel_error"] <= PARAM_TOLERANCE
    if model.active_published:
        assert check["active_rel_error"] <= PARAM_TOLERANCE
    elif not model.is_moe:
        assert check["active_computed"] == check["computed"]


def test_parameter_counts_that_are_known_exactly():
    # Llama-2-7B: 32 x (4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096) + 2 x 32000 x 4096 + 4096
    assert get_model("Llama-2-7B").params() == 32 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096) \
        + 2 * 32000 * 4096 + 4096
    # GPT-2 small: 12 x (12 d^2 + 13 d) + (50257 + 1024) d + 2 d, d = 768
    d = 768
    assert get_model("GPT-2 small").params() == 12 * (12 * d * d + 13 * d) + (50257 + 1024) * d + 2 * d


def test_attention_kinds_and_moe():
    assert get_model("Llama-2-7B").attention == "MHA"
    assert get_model("Llama-2-70B").attention == "GQA"
    assert LLMConfig("mqa", hidden=64, layers=1, heads=8, kv_heads=1, ffn=64, vocab=10).attention == "MQA"
    mix = get_model("Mixtral-8x7B")
    assert mix.is_moe and mix.active_params() < mix.params() / 3


tiny_configs = st.builds(
    lambda hd, heads, groups, layers, ffn, vocab, mlp, norm, bias, tied, pos, experts, k: LLMConfig(
        "h", hidden=hd * heads, layers=layers, heads=heads, kv_heads=max(1, heads // groups), ffn=ffn, vocab=vocab,
        mlp=mlp, norm=norm, bias=bias, tied=tied, positions=pos, experts=experts,
        experts_per_token=min(k, experts)),
    st.integers(1, 4), st.sampled_from([1, 2, 4]), st.sampled_from([1, 2]), st.integers(1, 2),
    st.integers(1, 12), st.integers(2, 17), st.sampled_from(["gelu", "swiglu"]),
    st.sampled_from(["layernorm", "rmsnorm"]), st.booleans(), st.booleans(), st.sampled_from([0, 24]),
    st.sampled_from([1, 3]), st.integers(1, 2))


def _allocated(dec: TinyDecoder) -> int:
    """Parameters the decoder really holds (the tied head is the embedding, counted once)."""
    total = dec.embed.size + (dec.pos.size if dec.pos is not None else 0) + sum(p.size for p in dec.ln_f)
    for layer in dec.layers:
        total += sum(layer[k].size for k in ("w_qkv", "w_o")) + sum(p.size for p in layer["ln1"] + layer["ln2"])
        total += layer["w_router"].size if "w_router" in layer else 0
        for w_up, b_up, w_down, b_down in layer["experts"]:
            total += w_up.size + w_down.size + (b_up.size + b_down.size if dec.cfg.bias else 0)
        total += layer["b_qkv"].size + layer["b_o"].size if dec.cfg.bias else 0
    if not dec.cfg.tied:
        total += dec.head.size
    if dec.cfg.norm == "rmsnorm":      # the decoder keeps a zero bias array RMSNorm does not have
        total -= dec.cfg.hidden * (2 * dec.cfg.layers + 1)
    return total


@settings(max_examples=40, deadline=None)
@given(tiny_configs)
def test_parameter_formula_equals_the_arrays_a_decoder_allocates(cfg):
    assert cfg.params() == _allocated(TinyDecoder(cfg, seed=0))


# --------------------------------------------------------------------------- #
# Closed forms against the GEMM list, the decoder and the slow reference
# --------------------------------------------------------------------------- #
@settings(max_examples=60, deadline=None)
@given(tiny_configs, st.integers(1, 9), st.integers(0, 30), st.integers(1, 3))
def test_closed_forms_equal_the_sum_of_the_gemms(cfg, n, t, b):
    assert prefill_macs(cfg, n, b) == sum(g.macs for g in forward_gemms(cfg, "prefill", batch=b, tokens=n))
    assert decode_macs(cfg, t, b) == sum(g.macs for g in forward_gemms(cfg, "decode", batch=b, context=t))
    assert decode_macs(cfg, t, b) == prefill_macs(cfg, 1, b) + b * cfg.layers * 2 * t * cfg.hidden
    assert prefill_cost(cfg, n, b).flops == 2 * prefill_macs(cfg, n, b)


@settings(max_examples=40, deadline=None)
@given(tiny_configs, st.integers(1, 40), st.integers(1, 40), st.integers(1, 3))
def test_generation_closed_forms_equal_the_step_by_step_sums(cfg, n, g, b):
    cached = prefill_macs(cfg, n, b) + sum(decode_macs(cfg, n + i - 1, b) for i in range(1, g))
    recomputed = sum(prefill_macs(cfg, n + j, b) for j in range(g))
    assert generation_macs(cfg, n, g, batch=b) == cached
    assert generation_macs(cfg, n, g, use_cache=False, batch=b) == recomputed


REFERENCE_CONFIGS = [
    dict(mlp="gelu", norm="layernorm", bias=True, tied=True, positions=16),     # GPT-2 style, MHA
    dict(kv_heads=2),                                                            # Llama style, GQA
    dict(kv_heads=1),                                                            # MQA
    dict(kv_heads=2, experts=4, experts_per_token=2),                            # Mixtral style
]


@pytest.mark.parametrize("extra", REFERENCE_CONFIGS, ids=["gpt2-mha", "gqa", "mqa", "moe"])
def test_tiny_decoder_matches_the_mac_by_mac_reference(extra):
    cfg = LLMConfig("t", **{**dict(hidden=8, layers=2, heads=4, kv_heads=4, ffn=12, vocab=13), **extra})
    prompt = [[1, 2, 3], [4, 5, 6]]
    # A seed whose greedy output is not one repeated token, so equal tokens mean something.
    dec = next(d for d in (TinyDecoder(cfg, seed=s) for s in range(30))
               if len(np.unique(d.generate(prompt, 5).tokens)) > 2)
    for use_cache in (True, False):
        ref_tokens, ref_macs = slow_generate(dec, prompt, 5, use_cache=use_cache)
        got = dec.generate(prompt, 5, use_cache=use_cache)
        assert got.tokens.tolist() == ref_tokens
        assert got.macs == ref_macs == generation_macs(cfg, 3, 5, use_cache=use_cache, batch=2)


@settings(max_examples=25, deadline=None)
@given(tiny_configs, st.integers(1, 5), st.integers(1, 6), st.integers(0, 10**6))
def test_cache_and_recompute_give_the_same_tokens(cfg, n, g, seed):
    if cfg.positions and n + g > cfg.positions:
        return
    dec = TinyDecoder(cfg, seed=seed % 1000)
    prompt = np.random.default_rng(seed).integers(0, cfg.vocab, size=(2, n))
    a = dec.generate(prompt, g)
    b = dec.generate(prompt, g, use_cache=False)
    assert (a.tokens == b.tokens).all()
    assert a.macs == generation_macs(cfg, n, g, batch=2)
    assert b.macs == generation_macs(cfg, n, g, use_cache=False, batch=2)
    assert b.macs >= a.macs


def test_gemms_through_the_systolic_array_give_the_same_tokens():
    cfg = LLMConfig("t", hidden=8, layers=2, heads=2, kv_heads=1, ffn=16, vocab=11, positions=12)
    dec = TinyDecoder(cfg, seed=2)
    arr = SystolicArray(4, 4)
    plain, systolic = dec.generate([[3, 1, 4]], 4), dec.generate([[3, 1, 4]], 4, array=arr)
    assert (plain.tokens == systolic.tokens).all() and systolic.macs == plain.macs
    # The array's cycles are the closed form of every listed GEMM: one prefill, then decode steps.
    passes = [forward_gemms(cfg, "prefill", tokens=3)] + [forward_gemms(cfg, "decode", context=2 + i)
                                                           for i in range(1, 4)]
    assert systolic.cycles == sum(g.count * arr.cycles(g.M, g.K, g.N) for p in passes for g in p)
    assert plain.cycles == 0


def test_kv_cache_size_equals_what_the_decoder_stores():
    cfg = LLMConfig("t", hidden=12, layers=3, heads=6, kv_heads=2, ffn=8, vocab=9)
    dec = TinyDecoder(cfg, seed=0)
    _, caches = dec.forward(np.array([[1, 2, 3, 4, 5]] * 2))
    stored = sum(K.size + V.size for K, V in caches)           # elements
    assert kv_cache_bytes(cfg, tokens=5, batch=2, kv_precision="fp16") == stored * 2
    assert kv_cache_bytes(cfg, 5, 2, "int8") == stored


def test_kv_cache_of_real_models():
    assert kv_cache_bytes("Llama-2-7B", 4096) == 2 * 32 * 4096 * 2 * 4096       # 2 GiB per 4k sequence
    assert kv_bytes_per_token("Llama-2-70B") == 2 * 80 * 8 * 128 * 2            # GQA: 8 KV heads
    assert kv_bytes_per_token("Llama-2-70B", "fp8") == kv_bytes_per_token("Llama-2-70B") / 2
    assert weight_bytes("Llama-2-7B", "int4") == get_model("Llama-2-7B").params() / 2


def test_decode_is_memory_heavy_and_batching_raises_intensity():
    one, many = decode_cost("Llama-2-7B", 0, 1), decode_cost("Llama-2-7B", 0, 64)
    assert 0.9 < one.intensity < 1.1                    # 2 FLOPs per 2-byte weight
    assert 55 < many.intensity < 64
    assert many.weight_bytes == pytest.approx(one.weight_bytes, rel=1e-3)   # weights read once per step
    assert decode_cost("Llama-2-7B", 0, 1, "int4").intensity == pytest.approx(4 * one.intensity, rel=0.01)
    long = decode_cost("Llama-2-7B", 4096, 64)
    assert long.kv_read_bytes > long.weight_bytes       # at 4k context the KV cache outweighs the model


def test_moe_decode_reads_only_the_routed_experts():
    mix = get_model("Mixtral-8x7B")
    one = decode_cost(mix, 0, 1)
    assert one.weight_bytes < 0.35 * weight_bytes(mix)           # 2 of 8 experts per layer
    big = decode_cost(mix, 0, 256)
    assert big.weight_bytes == pytest.approx(2 * (mix.streamed_params() + 256 * mix.hidden), rel=1e-6)


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kwargs, match", [
    (dict(heads=0), "heads must be >= 1"),
    (dict(heads=3), "must divide hidden"),
    (dict(kv_heads=3), "must divide heads"),
    (dict(kv_heads=0), "kv_heads must be >= 1"),
    (dict(hidden=-8), "hidden must be >= 1"),
    (dict(experts=2, experts_per_token=3), "cannot exceed"),
    (dict(mlp="relu"), "mlp must be one of"),
])
def test_bad_shapes_are_refused(kwargs, match):
    base = dict(hidden=8, layers=1, heads=4, kv_heads=4, ffn=8, vocab=5)
    with pytest.raises(ValueError, match=match):
        LLMConfig("bad", **{**base, **kwargs})


def test_bad_lengths_names_and_precisions_are_refused():
    with pytest.raises(ValueError, match=r"prompt_tokens must be in \[1, "):
        prefill_macs("Llama-2-7B", 0)
    with pytest.raises(ValueError, match=r"context must be in \[0, "):
        decode_macs("Llama-2-7B", -1)
    with pytest.raises(ValueError, match=r"tokens must be in \[0, "):
        kv_cache_bytes("Llama-2-7B", -5)
    with pytest.raises(TypeError, match="must be an int"):
        decode_macs("Llama-2-7B", 2.5)
    with pytest.raises(KeyError, match="no model matches"):
        get_model("llama-9-1T")
    with pytest.raises(KeyError, match="several models"):
        get_model("llama-2")
    with pytest.raises(ValueError, match="weights must be one of"):
        decode_cost("Llama-2-7B", 0, 1, weights="int3")
    with pytest.raises(ValueError, match="kv_precision must be one of"):
        kv_bytes_per_token("Llama-2-7B", "int4")
    with pytest.raises(ValueError, match="at most"):
        TinyDecoder("Llama-2-7B")
    with pytest.raises(ValueError, match="vocabulary"):
        TinyDecoder(LLMConfig("t", hidden=4, layers=1, heads=2, kv_heads=2, ffn=4, vocab=5)).generate([[7]], 1)
