"""Bad input to the LLM and training modules is refused with TypeError/ValueError naming the argument.

Issue 13's fuzzing classes, for llm, llm_decoder, llm_serving, llm_sim, viz_llm,
training, training_memory and viz_training: truthy strings where a bool
belongs, fractions/NaN/bools where an int belongs, non-finite numbers, unknown
option strings, indices past their bound (token ids), impossibly large sizes
(refused before any allocation or long loop), and KeyError/IndexError leaking
from a bad argument. Every check goes through ``strategies.check_refused``,
which fails on any other exception and on an accepted input.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import bad_bools, bad_ints, bad_numbers, bad_options, check_refused, huge_broadcast

from mini_accel import llm, training, training_memory
from mini_accel.llm import MAX_TOKENS, LLMConfig
from mini_accel.llm_decoder import TinyDecoder
from mini_accel.llm_serving import Deployment, model_value, ring_allreduce_s
from mini_accel.llm_sim import Requests, make_requests, simulate
from mini_accel.viz_training import memory_per_chip

FAST = settings(max_examples=12, deadline=None)
TINY = dict(hidden=8, layers=1, heads=2, kv_heads=1, ffn=8, vocab=7, positions=16)


@pytest.fixture(scope="module")
def dep():
    return Deployment("Llama-2-7B", "H100 SXM5")


@pytest.fixture(scope="module")
def decoder():
    return TinyDecoder(LLMConfig("tiny", **TINY), seed=0)


# --------------------------------------------------------------------------- #
# Truthy strings and numbers where a bool belongs
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_bools)
def test_bools_must_be_bools(bad, decoder):
    check_refused(lambda: llm.generation_macs("GPT-2 small", 4, 4, use_cache=bad), name="use_cache")
    check_refused(lambda: decoder.generate([[1, 2]], 2, use_cache=bad), name="use_cache")
    check_refused(lambda: LLMConfig("t", **TINY, bias=bad), name="bias")
    check_refused(lambda: LLMConfig("t", **TINY, tied=bad), name="tied")


# --------------------------------------------------------------------------- #
# Fractions, NaN, bools and strings where an int belongs
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_ints)
def test_counts_must_be_ints(bad, dep, decoder):
    check_refused(lambda: llm.decode_macs("Llama-2-7B", bad), name="context")
    check_refused(lambda: llm.prefill_macs("Llama-2-7B", bad), name="prompt_tokens")
    check_refused(lambda: llm.kv_cache_bytes("Llama-2-7B", bad), name="tokens")
    check_refused(lambda: llm.layer_gemms("GPT-2 small", "prefill", tokens=bad), name="tokens")
    check_refused(lambda: llm.experts_touched("Mixtral-8x7B", bad), name="tokens")
    check_refused(lambda: LLMConfig("t", **{**TINY, "hidden": bad}), name="hidden")
    check_refused(lambda: dep.max_batch(bad), name="context")
    check_refused(lambda: dep.generation_s(100, bad), name="output_tokens")
    check_refused(lambda: make_requests(bad, 1.0), name="n")
    check_refused(lambda: make_requests(4, 1.0, prompt_tokens=(bad, 9)), name="prompt_tokens")
    check_refused(lambda: decoder.generate([[1, 2]], bad), name="new_tokens")
    check_refused(lambda: training.backward_gemm_shapes(bad, 2, 2), name="M")
    check_refused(lambda: training.init_mlp((4, bad, 2)), name="sizes[1]")
    check_refused(lambda: training.conv2d_backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)),
                                                   np.ones((1, 1, 2, 2)), stride=bad), name="stride")
    check_refused(lambda: training_memory.zero_bytes_per_chip(1e9, bad), name="n_chips")
    check_refused(lambda: training_memory.zero_bytes_per_chip(1e9, 8, bad), name="stage")
    check_refused(lambda: training_memory.activation_bytes(_tiny_sequential(), (bad, 4)), name="input_shape[0]")
    check_refused(lambda: memory_per_chip(1e9, bad), name="n_chips")


def _tiny_sequential():
    from mini_accel.nn import Dense, Sequential
    return Sequential([Dense(4, 2)])


def test_fractional_shapes_were_truncated_and_now_are_refused():
    # int(2.5) used to turn these into 2 silently
    check_refused(lambda: training_memory.activation_bytes(_tiny_sequential(), (2.5, 4)), name="input_shape[0]")
    check_refused(lambda: memory_per_chip(7.5e9, 64.5), name="n_chips")


# --------------------------------------------------------------------------- #
# Non-finite numbers and non-numbers
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_numbers)
def test_numbers_must_be_finite_numbers(bad):
    check_refused(lambda: ring_allreduce_s(bad, 4, 1e9), name="size_bytes")
    check_refused(lambda: make_requests(4, bad), name="rate_per_s")
    check_refused(lambda: Deployment("Llama-2-7B", "H100 SXM5", compute_efficiency=bad), name="compute_efficiency")
    check_refused(lambda: training_memory.training_flops(bad, 1e9), name="n_params")
    check_refused(lambda: training_memory.step_time_s(1.0, 1.0, bad), name="overlap")
    check_refused(lambda: training.train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), lr=bad), name="lr")
    check_refused(lambda: memory_per_chip(bad, 8), name="n_params")


@FAST
@given(bad=st.sampled_from([float("nan"), float("inf")]))
def test_arrays_must_be_finite(bad):
    A = np.ones((2, 2))
    A[0, 1] = bad
    check_refused(lambda: training.gemm(A, np.ones((2, 2))), name="A")
    check_refused(lambda: training.train_mlp_formats(A, np.array([0, 1])), name="X")
    check_refused(lambda: Requests(np.array([0.0, bad]), np.array([1, 1]), np.array([1, 1])), name="arrival_s")


# --------------------------------------------------------------------------- #
# Option strings
# --------------------------------------------------------------------------- #
@FAST
@given(bad=bad_options)
def test_options_must_be_one_of_the_choices(bad, dep):
    reqs = make_requests(3, 1.0, prompt_tokens=8, output_tokens=2)
    check_refused(lambda: Deployment("Llama-2-7B", "H100 SXM5", weights=bad), name="weights")
    check_refused(lambda: Deployment("Llama-2-7B", "H100 SXM5", kv=bad), name="kv")
    check_refused(lambda: llm.kv_bytes_per_token("Llama-2-7B", bad), name="kv_precision")
    check_refused(lambda: llm.weight_bytes("Llama-2-7B", bad), name="precision")
    check_refused(lambda: llm.layer_gemms("GPT-2 small", bad), name="phase")
    check_refused(lambda: LLMConfig("t", **TINY, mlp=bad), name="mlp")
    check_refused(lambda: simulate(dep, reqs, batching=bad), name="batching")
    check_refused(lambda: simulate(dep, reqs, kv_memory=bad), name="kv_memory")
    check_refused(lambda: simulate(dep, reqs, max_batch=2).percentile(bad, 50), name="what")
    check_refused(lambda: training.gemm(np.ones((2, 2)), np.ones((2, 2)), bad), name="precision")
    check_refused(lambda: training_memory.bytes_per_param(bad), name="optimizer")
    check_refused(lambda: training_memory.bytes_per_param("adam", bad), name="precision")
    check_refused(lambda: training_memory.transformer_activation_bytes(8, 1, 8, 2, bad), name="recompute")


def test_precisions_accept_registry_aliases_and_refuse_what_the_module_does_not_model():
    assert llm.weight_bytes("Llama-2-7B", "half") == llm.weight_bytes("Llama-2-7B", "fp16")
    assert Deployment("Llama-2-7B", "H100 SXM5", kv="BFloat16").kv == "bf16"
    check_refused(lambda: llm.kv_bytes_per_token("Llama-2-7B", "int4"), name="kv_precision")   # weights only
    check_refused(lambda: llm.weight_bytes("Llama-2-7B", "tf32"), name="precision")
    check_refused(lambda: training.train_mlp_formats(np.ones((4, 2)), np.array([0, 1, 0, 1]), precision="int32"),
                  name="precision")
    # the registry's sizes are the ones the module uses
    from mini_accel.formats import FORMATS
    assert all(llm.PRECISION_BYTES[p] == FORMATS[p].bits / 8 for p in llm.PRECISION_BYTES)
    assert set(llm.KV_PRECISIONS) <= set(llm.WEIGHT_PRECISIONS) <= set(llm.PRECISION_BYTES)
    assert all(f in FORMATS for f in training.FORMATS if f != "fp16_acc16")   # fp16_acc16 is a recipe


def test_the_old_fmt_keyword_still_works_with_a_warning():
    A, B = np.ones((2, 3)), np.ones((3, 2))
    with pytest.warns(DeprecationWarning, match="precision="):
        old, _ = training.gemm(A, B, fmt="bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new, _ = training.gemm(A, B, precision="bf16")
    np.testing.assert_array_equal(old, new)
    with pytest.raises(TypeError, match="pass only precision"):
        training.gemm(A, B, fmt="bf16", precision="bf16")
    run = training.TrainingRun("fp16", training.init_mlp((2, 2)), {})
    assert run.fmt == run.precision == "fp16"


# --------------------------------------------------------------------------- #
# Catalog look-ups, rows and indices
# --------------------------------------------------------------------------- #
@FAST
@given(name=st.sampled_from(["llama-9-1T", "llama-2", " ", "GPT-5"]))
def test_unknown_models_are_value_errors_and_key_errors(name):
    exc = check_refused(lambda: llm.get_model(name), name="model", kinds=(ValueError,))
    assert isinstance(exc, KeyError)          # code that caught the old KeyError still does


def test_non_string_models_and_bad_rows_are_type_or_value_errors(dep):
    check_refused(lambda: llm.get_model(7), name="model")
    check_refused(lambda: model_value({}), name="row")
    check_refused(lambda: model_value("ttft"), name="row")
    check_refused(lambda: Deployment("Llama-2-7B", "H100 SXM5", link="carrier pigeon"), name="link")


@FAST
@given(token=st.sampled_from([-1, 7, 10 ** 6]))
def test_token_ids_past_the_vocabulary_are_refused(token, decoder):
    check_refused(lambda: decoder.generate([[1, token]], 1), name="prompt")
    check_refused(lambda: decoder.forward([[token]]), name="tokens")


def test_float_token_ids_and_lengths_are_type_errors(decoder):
    check_refused(lambda: decoder.generate([[1.0, 2.0]], 1), name="prompt", kinds=(TypeError,))
    check_refused(lambda: make_requests(2, 1.0, prompt_tokens=np.array([1.5, 2.0])), name="prompt_tokens",
                  kinds=(TypeError,))
    check_refused(lambda: training.train_mlp_formats(np.ones((2, 2)), np.array([0.0, 1.0])), name="y",
                  kinds=(TypeError,))


def test_hand_built_requests_are_checked():
    check_refused(lambda: Requests(np.array([0.0, 1.0]), np.array([1]), np.array([1, 1])), name="prompt_tokens")
    check_refused(lambda: Requests(np.array([1.0, 0.0]), np.array([1, 1]), np.array([1, 1])), name="arrival_s")
    check_refused(lambda: Requests(np.array([0.0]), np.array([0]), np.array([1])), name="prompt_tokens")


def test_malformed_mlp_params_are_refused():
    X, y = np.ones((3, 4)), np.array([0, 1, 0])
    check_refused(lambda: training.mlp_loss_and_grads([1, 2], X, y), name="params[0]")
    check_refused(lambda: training.mlp_loss_and_grads([(np.ones((5, 2)), np.zeros(2))], X, y), name="params[0][0]")
    check_refused(lambda: training.mlp_loss_and_grads(training.init_mlp((4, 2)), X, np.array([0, 1, 5])), name="y")


# --------------------------------------------------------------------------- #
# Impossible sizes: refused before any allocation or long loop
# --------------------------------------------------------------------------- #
def test_huge_sizes_are_refused_quickly(dep, decoder):
    start = time.perf_counter()
    view = huge_broadcast()
    check_refused(lambda: training.gemm(view, view), name="A")
    check_refused(lambda: training.dense_backward(view, np.ones((2, 2)), np.ones((2, 2))), name="x")
    check_refused(lambda: training.train_mlp_formats(view, np.zeros(view.shape[0], int)), name="X")
    x, w, dy = (np.broadcast_to(1.0, (1, 1, n, n)) for n in (600, 64, 537))
    check_refused(lambda: training.conv2d_backward(x, w, dy), name="im2col")
    check_refused(lambda: training.init_mlp((10 ** 6, 10 ** 6)), name="layer 0")
    square = np.broadcast_to(1.0, (4000, 4000))
    check_refused(lambda: training.gemm(square, square), name="multiply-adds")
    check_refused(lambda: decoder.generate(np.ones((1, 10 ** 5), int), 1), name="prompt")
    check_refused(lambda: decoder.generate([[1]], 10 ** 9), name="new_tokens")
    check_refused(lambda: dep.generation_s(100, 10 ** 12), name="output_tokens")
    check_refused(lambda: llm.generation_macs("GPT-2 small", 10 ** 12, 1), name="prompt_tokens")
    check_refused(lambda: make_requests(10 ** 9, 1.0), name="n")
    check_refused(lambda: make_requests(2, 1.0, output_tokens=10 ** 12), name="output_tokens")
    arrivals, lengths = np.broadcast_to(0.0, (10 ** 8,)), np.broadcast_to(1, (10 ** 8,))
    check_refused(lambda: Requests(arrivals, lengths, lengths), name="arrival_s")
    check_refused(lambda: training_memory.checkpointing(range(10 ** 9), range(10 ** 9), 2), name="layer_bytes")
    check_refused(lambda: training_memory.plan_training(1e9, 1e9, chip_memory_bytes=1e9, batch_tokens=1,
                                                        peak_flops=1, mfu=0.5, link_bytes_per_s=1, deadline_s=1,
                                                        max_chips=10 ** 9), name="max_chips")
    assert time.perf_counter() - start < 10


def test_the_longest_generations_are_closed_forms_not_loops(dep):
    start = time.perf_counter()
    macs = llm.generation_macs("Llama-2-7B", MAX_TOKENS // 2, MAX_TOKENS // 2)
    no_cache = llm.generation_macs("Llama-2-7B", 1, MAX_TOKENS, use_cache=False)
    assert no_cache > macs > 0
    assert dep.generation_s(1000, 200_000) > 200_000 * dep.tpot_s(1000)
    assert time.perf_counter() - start < 10
