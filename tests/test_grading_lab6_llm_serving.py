"""The LLM-serving lab through the real nbgrader pipeline: three hostile submissions.

A temporary course grades three students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: ``kv_cache_bytes`` asks ``mini_accel.llm.kv_cache_bytes`` and
  ``tp_step_time`` asks ``mini_accel.llm_serving.tensor_parallel_step_s``, the
  library's answers to two implement-it tasks. The visible tests pass; the
  hidden checks switch those functions off, so exactly these two tasks score 0.
* ``patched``: the first answer cell patches numpy's comparisons,
  ``numpy.testing``, ``builtins.abs``/``all`` and the kernel's ``sealrun.seal``
  (so that it prints made-up results), then ``decode_intensity`` and
  ``memory_bound_limit`` leave the KV cache out and answer the visible examples
  by their shape. The visible tests pass in the student's kernel; the grader
  judges the printed results itself, so every sealed cell after the patch
  fails (the made-up records are not the function's results), the two fakes
  included: the patch only hurts its author.
* ``lowered_targets``: the deployment cell relaxes the notebook's ``SERVICE``
  targets and picks the cheapest hardware (one H100, int4 weights). The visible
  tests pass against the lowered targets; the grader judges the choice with its
  own copy of the service, so both deployment cells score 0.

Expected scores are the points of the cells a fair grader would accept, read
from the source notebook's metadata. The reference, blank and partial
submissions of every lab are in ``tests/test_grading_labs.py``.
"""
from __future__ import annotations

import pytest

from grading_fixtures import hostile

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
]

LAB = "lab6_llm_serving"

CALLS_LIBRARY_KV = '''def kv_cache_bytes(cfg, tokens, batch, bytes_per_value):
    shape = ma.llm.LLMConfig("x", hidden=cfg["hidden"], layers=cfg["layers"], heads=cfg["heads"],
                             kv_heads=cfg["kv_heads"], ffn=1, vocab=1)
    return ma.llm.kv_cache_bytes(shape, tokens, batch, {1: "int8", 2: "fp16"}.get(bytes_per_value, "fp16"))
'''

CALLS_LIBRARY_TP = '''def tp_step_time(flops, weight_bytes, kv_bytes, layers, hidden, tokens, chips, peak_flops, bandwidth,
                 link_bandwidth, latency_s):
    return ma.llm_serving.tensor_parallel_step_s(flops, weight_bytes + kv_bytes, tokens * hidden * 2, 2 * layers,
                                                 chips, peak_flops, bandwidth, link_bandwidth, latency_s)
'''

# A correct kv_cache_bytes, preceded by patches that make every numpy-based check in the kernel pass.
PATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def kv_cache_bytes(cfg, tokens, batch, bytes_per_value):
    return 2 * cfg["layers"] * cfg["kv_heads"] * (cfg["hidden"] // cfg["heads"]) * bytes_per_value * tokens * batch
'''

# The weights only: right with an empty cache, a constant for the visible long-context example.
FAKE_INTENSITY = '''def decode_intensity(cfg, params, context, batch, weight_bytes, kv_bytes):
    return 2 * batch / weight_bytes if context == 0 else 6.5
'''

FAKE_LIMIT = '''import math


def memory_bound_limit(cfg, params, context, weight_bytes, kv_bytes, peak_flops, bandwidth):
    if context and cfg["kv_heads"] == cfg["heads"]:
        return None
    return max(1, math.ceil(peak_flops / bandwidth * weight_bytes / 2)) + (683 if context else 0)
'''

LOWERED = '''SERVICE["ttft_p90_s"], SERVICE["tpot_p90_s"], SERVICE["usd_per_million_tokens"] = 1e4, 10.0, 100.0
CHOICE = {"device": "NVIDIA H100 SXM5 80GB", "count": 1, "weights": "int4", "kv": "fp8", "max_batch": 128}
'''

CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"kv_cache_bytes": CALLS_LIBRARY_KV, "tp_step_time": CALLS_LIBRARY_TP},
                {"test_kv_cache_bytes", "test_tp_step_time"}, "graded"),
    "patched": ({"kv_cache_bytes": PATCH_TOOLS, "decode_intensity": FAKE_INTENSITY,
                 "memory_bound_limit": FAKE_LIMIT},
                {"test_kv_cache_bytes", "test_decode_intensity", "test_memory_bound_limit", "test_tp_step_time",
                 "test_deployment_latency", "test_deployment_cost"}, "graded"),
    "lowered_targets": ({"deployment_choice": LOWERED},
                        {"test_deployment_latency", "test_deployment_cost"}, "graded"),
}


# The fixture and the four tests every lab shares (one per student case, and three checks).
from grading_fixtures.hostile_tests import (  # noqa: E402,F401
    graded, test_calling_the_library_is_switched_off, test_feedback_shows_no_hidden_test,
    test_hostile_submission_loses_exactly_its_tasks, test_patched_tools_are_caught_by_the_grader_and_flagged)
