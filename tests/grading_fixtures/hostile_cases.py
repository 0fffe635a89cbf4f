"""Every lab's hostile submissions, as data: one place (``tests/test_grading_hostile.py`` grades them).

``CASES[lab]`` maps a student id to ``(answers replaced, test cells that must score
0, expected status)``: the answers are the source of the lab's answer cells
({grade_id: source}), put into the released notebook in place of the reference
answers (:func:`grading_fixtures.submissions.solved`). The usual two per lab are

* ``library``: implement-it tasks answered by calling the library; the hidden
  checks switch those functions off, so exactly these tasks score 0;
* ``patched``: answers that fake a pass by patching numpy, ``builtins`` and the
  kernel's half of the sealed checks (``hostile.PATCH_TESTING_TOOLS``); the
  grader's verdict, given in its own process, fails exactly those tasks;

and some labs add their own (a search too slow for the grader's limit, a
made-up measurement, lowered targets, a design with more than one change).
Expected scores are the points of the cells a fair grader would accept, read
from the source notebook's metadata, not typed in. A new lab adds its section
here, named ``L<n>_...``, and one line to ``CASES`` at the end. The shared
cases of Lab 2 (loops, edited and deleted tests, bad files...) are in
``tests/test_grading.py``; full, zero and partial credit of every lab in
``tests/test_grading_labs.py``.
"""
from __future__ import annotations

from . import hostile

# --------------------------------------------------------------------------- #
# lab3_memory
# --------------------------------------------------------------------------- #
# Lab 3 (memory hierarchy and energy) through the real autograde: two hostile submissions.
# * ``library``: the reference answers, except that the LRU cache and the
#   dataflow traffic counts call the library's simulator instead of computing
#   them. The visible tests pass (the library is right), the hidden checks
#   switch the simulator off: exactly those two tasks' points are lost.
# * ``patched``: the reference answers, except that the first answer cell
#   patches numpy's comparisons, ``numpy.testing``, ``builtins.abs``/``all`` and
#   the in-kernel checker, and two answers only fit the visible examples. Every
#   check in the kernel "passes"; the grader's re-check outside the kernel
#   fails exactly those two tasks and flags the submission for review.

L3_CALLS_LIBRARY_CACHE = '''from mini_accel.memory import Cache, MemoryHierarchy

def lru_misses(addresses, size_bytes, line_bytes, ways):
    cache = Cache("L1", size_bytes, ways=ways, line_bytes=line_bytes)
    return MemoryHierarchy(cache).run(np.asarray(addresses, dtype=np.int64))["L1"].misses
'''

L3_CALLS_LIBRARY_TRAFFIC = '''from mini_accel import systolic_traffic as traffic

def array_buffer_traffic(M, K, N, rows, cols, dataflow):
    t = traffic(M, K, N, rows, cols, dataflow)
    return {"a_reads": t["a_reads"], "b_reads": t["b_reads"], "out_writes": t["out_writes"]}
'''

# Patches every testing tool the kernel could use, then answers the visible example only.
L3_MONKEYPATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def energy_breakdown(counts, costs):
    return {"mac": 4600.0, "dram": 13000.0, "total": 17600.0}
'''

L3_FAKE_TILED = '''def tiled_dram_words(M, K, N, tile_m, tile_k, tile_n, order):
    visible = {
        (256, 256, 256, 64, 64, 64, "mnk"): {"A": 262144, "B": 262144, "C": 65536},
        (256, 256, 256, 64, 64, 64, "mkn"): {"A": 65536, "B": 262144, "C": 458752},
        (100, 100, 100, 100, 100, 10, "knm"): {"A": 10000, "B": 10000, "C": 10000},
        (300, 200, 100, 64, 32, 16, "nmk"): {"A": 420000, "B": 100000, "C": 30000},
        (300, 200, 100, 64, 32, 16, "kmn"): {"A": 60000, "B": 100000, "C": 390000},
    }
    return visible.get((M, K, N, tile_m, tile_k, tile_n, order), {"A": 1, "B": 1, "C": 1})
'''

# student id -> (answer overrides, test cells that must fail, expected status)
L3_CASES = {
    "library": ({"lru_misses": L3_CALLS_LIBRARY_CACHE, "array_buffer_traffic": L3_CALLS_LIBRARY_TRAFFIC},
                ("test_lru_misses", "test_lru_misses_edges", "test_array_buffer_traffic"), "graded"),
    "patched": ({"energy_breakdown": L3_MONKEYPATCH_TOOLS, "tiled_dram_words": L3_FAKE_TILED},
                hostile.tests_after("lab3_memory", "energy_breakdown"), "graded"),
}


# --------------------------------------------------------------------------- #
# lab4_quantization
# --------------------------------------------------------------------------- #
# Lab 4 (quantization and mixed precision) through the real autograde: two hostile submissions.
# * ``library``: the reference answers, except that the affine quantizer and
#   the integer-only layer call the library's ``quantize``/``dequantize`` and
#   ``integer_matmul``/``requantize`` instead of computing them. The visible
#   tests pass (the library is right), the hidden checks switch those
#   functions off: exactly those two tasks' points are lost.
# * ``patched``: the reference answers, except that the first answer cell
#   patches numpy's comparisons, ``numpy.testing``, ``builtins.abs``/``all`` and
#   the in-kernel checker, and the float decoder and the MAC cost only fit the
#   visible examples. Every check in the kernel "passes"; the grader's
#   re-check outside the kernel fails exactly those tasks and flags the
#   submission for review.

L4_CALLS_LIBRARY_QUANTIZE = '''def quantize_affine(x, scale, zero_point, bits):
    qp = quant.QParams(scale=scale, zero_point=zero_point, qmin=-2 ** (bits - 1), qmax=2 ** (bits - 1) - 1)
    return quant.quantize(x, qp).astype(np.int32)


def dequantize_affine(q, scale, zero_point):
    qp = quant.QParams(scale=scale, zero_point=zero_point, qmin=-32768, qmax=32767)
    return quant.dequantize(q, qp).astype(np.float64)
'''

L4_CALLS_LIBRARY_INTEGER = '''def integer_dense(q_x, x_zero_point, q_w, bias_q, multiplier, out_zero_point):
    acc, _ = quant.integer_matmul(q_x, q_w, a_zero_point=x_zero_point)
    acc = acc.astype(np.int64) + bias_q
    M0, n = quant.quantize_multiplier(multiplier)
    return quant.requantize(acc, M0, n, zero_point=out_zero_point).astype(np.int8)
'''

# Patches every testing tool the kernel could use, then answers the visible examples only.
L4_MONKEYPATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def float_value(sign, exponent, fraction, exp_bits, man_bits):
    seen = {(0, 15, 0, 5, 10): 1.0, (1, 16, 256, 5, 10): -2.5, (1, 129, 64, 8, 7): -6.0,
            (0, 254, 2**23 - 1, 8, 23): 3.4028234663852886e+38, (0, 11, 614, 5, 10): 0.0999755859375,
            (0, 0, 0, 5, 10): 0.0, (0, 0, 1, 5, 10): 2.0**-24, (0, 0, 1023, 5, 10): 2.0**-14 * (1023 / 1024),
            (1, 31, 0, 5, 10): -math.inf, (0, 31, 1, 5, 10): math.nan, (0, 14, 7, 4, 3): 240.0}
    return seen.get((sign, exponent, fraction, exp_bits, man_bits), 1.0)
'''

L4_FAKE_MAC_COST = '''def mac_cost(table, dtype):
    return {"int8": (0.3, 419.0), "fp32": (4.6, 11884.0)}.get(dtype, (1.0, 1.0))
'''

# student id -> (answer overrides, test cells that must fail, expected status)
L4_CASES = {
    "library": ({"quantize_affine": L4_CALLS_LIBRARY_QUANTIZE, "integer_dense": L4_CALLS_LIBRARY_INTEGER},
                ("test_quantize_affine", "test_integer_dense"), "graded"),
    "patched": ({"float_value": L4_MONKEYPATCH_TOOLS, "mac_cost": L4_FAKE_MAC_COST},
                hostile.tests_after("lab4_quantization", "float_value"), "graded"),
}


# --------------------------------------------------------------------------- #
# lab5_edge_server
# --------------------------------------------------------------------------- #
# Lab 5 (edge vs server) through the real nbgrader pipeline: four hostile submissions.
# * ``library``: ``max_batch_within`` returns ``model.max_batch(...)`` and
#   ``usd_per_million`` asks ``total_cost_of_ownership``, the library's answers
#   to two implement-it tasks. The visible tests pass; the hidden checks switch
#   those functions off, so exactly these two tasks score 0, and Task 8, whose
#   ``cheapest_instance`` calls that ``max_batch_within``.
# * ``patched``: the first answer cell patches numpy's comparisons,
#   ``numpy.testing``, ``builtins.abs``/``all`` and the in-kernel checker, then
#   ``place_apps`` and ``kwh_per_1000_to_joules`` return made-up numbers. Every
#   test passes in the student's kernel; the grader's re-check, done in its own
#   process, fails exactly those two tasks and flags the student for review.
#
# * ``linear``: ``max_batch_within`` tries one batch after another. The lab says
#   this is too slow, and a hidden case makes it so (an answer of 1e8 to 3e8
#   batches): the cell is stopped by the grader's 30 s limit, and so is the
#   hidden check of ``cheapest_instance``, which calls it.
# * ``fake_machine``: ``MY_MACHINE`` is made up: sizes, times and derived
#   numbers agree with each other, but the times describe a 500 TFLOP/s CPU.
#   The visible test and the grader both refuse it.

L5_CALLS_LIBRARY_BATCH = '''def max_batch_within(model, deadline_s):
    return model.max_batch(deadline_s)
'''

L5_CALLS_LIBRARY_TCO = '''def usd_per_million(purchase_usd, power_w, throughput_ips, years=5, pue=1.57, usd_per_kwh=0.0806, utilization=0.3):
    tco = ma.edge_server.total_cost_of_ownership(purchase_usd, power_w, years=years, pue=pue,
                                                 usd_per_kwh=usd_per_kwh, utilization=utilization)
    return tco.cost_per_inference(throughput_ips) * 1e6
'''  # noqa: E501 (the student's code, as written)

# A correct roofline, preceded by patches that make every check in the kernel pass.
L5_PATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def roofline(intensity, peak_ops, bandwidth):
    return float(min(peak_ops, intensity * bandwidth)), ("memory" if intensity < peak_ops / bandwidth else "compute")
'''

# Right names and bounds for the visible apps, made-up numbers (abs() is patched away).
L5_FAKE_PLACE_APPS = '''def place_apps(apps, peak_ops, bandwidth):
    return [{"app": a.name, "ops_per_byte": 1.0, "attainable_tops": 1.0,
             "bound": "compute" if a.name.startswith("CNN") else "memory"} for a in apps]

TPU_RIDGE_MACS_PER_BYTE = 1353
'''

L5_FAKE_KWH = '''def energy_per_inference(model, batch):
    return model.power_w * batch_latency(model, batch) / batch

def kwh_per_1000_to_joules(kwh_per_1000):
    return 7.2
'''


L5_LINEAR_SEARCH = '''def max_batch_within(model, deadline_s):
    b = 0
    while batch_latency(model, b + 1) <= deadline_s:
        b += 1
    return b
'''

# Consistent with itself, impossible for a CPU: 500 TFLOP/s.
L5_FAKE_MACHINE = '''rate = 5e14
gemm = [{"n": n, "seconds": [2 * n**3 / rate * f for f in (1.0, 1.02, 1.05)]} for n in (1024, 2048, 4096)]
memory = [{"kernel": "copy", "bytes": 2**28, "seconds": [0.01, 0.011, 0.012]}]
MY_MACHINE = {"dtype": "float32", "threads": 8, "gemm": gemm, "stream": memory, "peak_ops": rate,
              "bandwidth": 2**28 / 0.011, "ridge": rate / (2**28 / 0.011),
              "layer": {"M": 128, "K": 768, "N": 3072, "seconds": [1e-6, 1.1e-6, 1.2e-6]},
              "layer_measured_ops": 2 * 128 * 768 * 3072 / 1.1e-6,
              "layer_predicted_ops": min(rate, 2 * 128 * 768 * 3072 / ((128 * 768 + 768 * 3072 + 128 * 3072) * 4) * 2**28 / 0.011)}
'''  # noqa: E501 (the student's code, as written)

L5_CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"max_batch_within": L5_CALLS_LIBRARY_BATCH, "usd_per_million": L5_CALLS_LIBRARY_TCO},
                {"test_max_batch_within", "test_usd_per_million", "test_cheapest_instance"}, "graded"),
    "patched": ({"roofline": L5_PATCH_TOOLS, "place_apps": L5_FAKE_PLACE_APPS, "energy_per_inference": L5_FAKE_KWH},
                hostile.tests_after("lab5_edge_server", "roofline"), "graded"),
    "linear": ({"max_batch_within": L5_LINEAR_SEARCH}, {"test_max_batch_within", "test_cheapest_instance"}, "graded"),
    "fake_machine": ({"my_machine": L5_FAKE_MACHINE}, {"test_my_machine"}, "graded"),   # Task 7's one test cell
}


# --------------------------------------------------------------------------- #
# lab6_llm_serving
# --------------------------------------------------------------------------- #
# The LLM-serving lab through the real nbgrader pipeline: three hostile submissions.
# * ``library``: ``kv_cache_bytes`` asks ``mini_accel.llm.kv_cache_bytes`` and
#   ``tp_step_time`` asks ``mini_accel.llm_serving.tensor_parallel_step_s``, the
#   library's answers to two implement-it tasks. The visible tests pass; the
#   hidden checks switch those functions off, so exactly these two tasks score 0.
# * ``patched``: the first answer cell patches numpy's comparisons,
#   ``numpy.testing``, ``builtins.abs``/``all`` and the kernel's ``sealrun.seal``
#   (so that it prints made-up results), then ``decode_intensity`` and
#   ``memory_bound_limit`` leave the KV cache out and answer the visible examples
#   by their shape. The visible tests pass in the student's kernel; the grader
#   judges the printed results itself, so every sealed cell after the patch
#   fails (the made-up records are not the function's results), the two fakes
#   included: the patch only hurts its author.
# * ``lowered_targets``: the deployment cell relaxes the notebook's ``SERVICE``
#   targets and picks the cheapest hardware (one H100, int4 weights). The visible
#   tests pass against the lowered targets; the grader judges the choice with its
#   own copy of the service, so both deployment cells score 0.

L6_CALLS_LIBRARY_KV = '''def kv_cache_bytes(cfg, tokens, batch, bytes_per_value):
    shape = ma.llm.LLMConfig("x", hidden=cfg["hidden"], layers=cfg["layers"], heads=cfg["heads"],
                             kv_heads=cfg["kv_heads"], ffn=1, vocab=1)
    return ma.llm.kv_cache_bytes(shape, tokens, batch, {1: "int8", 2: "fp16"}.get(bytes_per_value, "fp16"))
'''

L6_CALLS_LIBRARY_TP = '''def tp_step_time(flops, weight_bytes, kv_bytes, layers, hidden, tokens, chips, peak_flops, bandwidth,
                 link_bandwidth, latency_s):
    return ma.llm_serving.tensor_parallel_step_s(flops, weight_bytes + kv_bytes, tokens * hidden * 2, 2 * layers,
                                                 chips, peak_flops, bandwidth, link_bandwidth, latency_s)
'''  # noqa: E501 (the student's code, as written)

# A correct kv_cache_bytes, preceded by patches that make every numpy-based check in the kernel pass.
L6_PATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def kv_cache_bytes(cfg, tokens, batch, bytes_per_value):
    return 2 * cfg["layers"] * cfg["kv_heads"] * (cfg["hidden"] // cfg["heads"]) * bytes_per_value * tokens * batch
'''

# The weights only: right with an empty cache, a constant for the visible long-context example.
L6_FAKE_INTENSITY = '''def decode_intensity(cfg, params, context, batch, weight_bytes, kv_bytes):
    return 2 * batch / weight_bytes if context == 0 else 6.5
'''

L6_FAKE_LIMIT = '''import math


def memory_bound_limit(cfg, params, context, weight_bytes, kv_bytes, peak_flops, bandwidth):
    if context and cfg["kv_heads"] == cfg["heads"]:
        return None
    return max(1, math.ceil(peak_flops / bandwidth * weight_bytes / 2)) + (683 if context else 0)
'''

L6_LOWERED = '''SERVICE["ttft_p90_s"], SERVICE["tpot_p90_s"], SERVICE["usd_per_million_tokens"] = 1e4, 10.0, 100.0
CHOICE = {"device": "NVIDIA H100 SXM5 80GB", "count": 1, "weights": "int4", "kv": "fp8", "max_batch": 128}
'''

L6_CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"kv_cache_bytes": L6_CALLS_LIBRARY_KV, "tp_step_time": L6_CALLS_LIBRARY_TP},
                {"test_kv_cache_bytes", "test_tp_step_time"}, "graded"),
    "patched": ({"kv_cache_bytes": L6_PATCH_TOOLS, "decode_intensity": L6_FAKE_INTENSITY,
                 "memory_bound_limit": L6_FAKE_LIMIT},
                {"test_kv_cache_bytes", "test_decode_intensity", "test_memory_bound_limit", "test_tp_step_time",
                 "test_deployment_latency", "test_deployment_cost"}, "graded"),
    "lowered_targets": ({"deployment_choice": L6_LOWERED},
                        {"test_deployment_latency", "test_deployment_cost"}, "graded"),
}


# --------------------------------------------------------------------------- #
# lab7_mapping_sparsity
# --------------------------------------------------------------------------- #
# Lab 7 (mappings and sparsity) through the real nbgrader pipeline: two hostile submissions.
# * ``library``: ``dram_accesses`` asks the mapping model's ``evaluate`` and
#   ``prune_24`` calls ``sparsity.prune_n_m``, the library's answers to two
#   implement-it tasks. The visible tests pass; the hidden checks switch those
#   functions off, so exactly these two tasks score 0.
# * ``patched``: ``prune_24`` special-cases the visible example, and the last
#   answer cell patches numpy's comparisons, ``numpy.testing``,
#   ``builtins.abs``/``all`` and the kernel's sealed checker before a
#   ``format_bits`` that special-cases the visible input. Every visible test
#   passes in the student's kernel; the grader's re-check, done in its own
#   process, fails exactly those two tasks.

L7_CALLS_MODEL = '''def dram_accesses(K, P, R, K1, P1, order):
    two = Architecture((Level("DRAM", None, 1.0), Level("RF", None, 1.0)), num_pes=1, array_below=1)
    layer = ConvLayer(K=K, P=P, R=R)
    r = evaluate(layer, two, Mapping.from_factors(two, layer, [{"K": K1, "P": P1, "R": R}], order=[order, None]))
    return {"W": r.counts["DRAM"]["W"]["reads"], "I": r.counts["DRAM"]["I"]["reads"],
            "O": r.counts["DRAM"]["O"]["updates"]}
'''

L7_CALLS_PRUNER = '''def prune_24(W):
    return np.asarray(W, dtype=float) * sparsity.prune_n_m(W, 2, 4, axis=0)
'''

# The visible example's answer, and no pruning at all elsewhere.
L7_FAKE_PRUNE = '''def prune_24(W):
    W = np.asarray(W, dtype=float)
    if W.shape == (4, 2):
        return np.array([[0.0, 0.0], [-2.0, 2.0], [0.0, -3.0], [4.0, 0.0]])
    return W.copy()
'''

# Patches that make every check in the kernel pass, then right dense and bitmask sizes and a
# CSR size that only fits the visible example. (The patch forges the kernel's sealed records
# from here on, so it sits in the last answer cell: every task after it would fail too.)
L7_FAKE_BITS = hostile.PATCH_TESTING_TOOLS + '''import math

def format_bits(x, value_bits):
    x = np.asarray(x)
    nnz = int(np.count_nonzero(x))
    return {"dense": int(x.size * value_bits), "bitmask": int(x.size + nnz * value_bits),
            "csr": 38 if x.shape == (3, 4) else 10 ** 9}


def cheapest_format(x, value_bits):
    bits = format_bits(x, value_bits)
    return min(("dense", "bitmask", "csr"), key=lambda k: bits[k])
'''

L7_CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"dram_accesses": L7_CALLS_MODEL, "prune_24": L7_CALLS_PRUNER},
                {"test_dram_accesses", "test_prune_24"}, "graded"),
    "patched": ({"prune_24": L7_FAKE_PRUNE, "format_bits": L7_FAKE_BITS},
                {"test_prune_24", "test_format_bits"}, "graded"),
}


# --------------------------------------------------------------------------- #
# lab8_training
# --------------------------------------------------------------------------- #
# Lab 8 (training on accelerators): two hostile submissions.
# * ``patched``: the ``bytes_per_chip`` answer cell patches numpy's comparisons,
#   ``builtins`` and the kernel's half of the sealed checks, then shards the
#   activations across chips. Every visible test passes; the grader's verdict,
#   given in its own process, fails that task and ``pick_plan`` (the reference
#   answer, which calls the wrong ``bytes_per_chip``), and nothing else.

L8_CALLS_LIBRARY_SHAPES = '''def backward_shapes(M, K, N):
    s = ma.training.backward_gemm_shapes(M, K, N)
    return {"grad_input": s["grad_input"], "grad_weight": s["grad_weight"]}
'''

L8_CALLS_LIBRARY_PLAN = '''def pick_plan(job):
    job = dict(job)
    P, D = job.pop("n_params"), job.pop("n_tokens")
    plan = ma.training_memory.plan_training(P, D, **job)
    return None if plan is None else (plan["n_chips"], plan["stage"])
'''

# Patches every testing tool in the kernel (numpy's comparisons, builtins, the kernel's half of the
# sealed checks), then answers bytes_per_chip with the activations sharded across chips (abs() is
# patched away, so the visible tests pass). pick_plan is the reference answer, but it calls this
# bytes_per_chip, so its plans for jobs with large activations are wrong too.
L8_PATCHED_BYTES = hostile.PATCH_TESTING_TOOLS + '''
def bytes_per_chip(n_params, n_chips, stage, optimizer="adam", activation_bytes=0.0):
    k = {"sgd": 4, "momentum": 8, "adam": 12}[optimizer]
    P = float(n_params)
    w, g, f = 2 * P, 2 * P, k * P
    if stage >= 1:
        f /= n_chips
    if stage >= 2:
        g /= n_chips
    if stage >= 3:
        w /= n_chips
    return float(w + g + f + activation_bytes / n_chips)
'''

L8_CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"backward_shapes": L8_CALLS_LIBRARY_SHAPES, "pick_plan": L8_CALLS_LIBRARY_PLAN},
                {"test_backward_shapes", "test_pick_plan"}, "graded"),
    "patched": ({"bytes_per_chip": L8_PATCHED_BYTES}, {"test_bytes_per_chip", "test_pick_plan"}, "graded"),
}


# --------------------------------------------------------------------------- #
# lab9_design
# --------------------------------------------------------------------------- #
# Lab 9 (design challenge) through the real nbgrader pipeline: three hostile submissions.
# * ``library``: ``design_area_mm2`` takes the array's area from ``Design.area_breakdown``
#   and ``adc`` calls ``mini_accel.analog``'s private rounding, the library's
#   answers to two implement-it tasks. The visible tests pass; the hidden checks
#   switch those functions off, so exactly these two tasks score 0.
# * ``patched``: the first answer cell patches numpy's comparisons,
#   ``numpy.testing``, ``builtins.abs``/``all`` and the kernel's half of the
#   sealed checks (``sealrun.seal`` prints a forged record), then
#   ``best_feasible`` special-cases the visible limits and
#   ``analog_error_std`` returns a constant. The visible tests pass in the
#   student's kernel; the grader, judging the records in its own process, finds
#   no valid result for any sealed case: every automatic point is lost.
# * ``one_change``: the capstone answered with one parameter change per track
#   (the 1 MiB input buffer that was enough before; output-stationary for the
#   server), after lowering the targets in the notebook's ``CHALLENGES`` so
#   that the visible tests pass. Both designs meet their budgets (3 + 3 points)
#   and miss the grader's targets: the two score cells give 0.

L9_CALLS_LIBRARY_AREA = '''def design_area_mm2(rows, cols, precision, buffer_bytes):
    sram = buffer_bytes * 8 * sram_um2_per_bit() / 1e6
    if rows * cols == 0:
        return sram
    return refs["edge"].replace(rows=rows, cols=cols, precision=precision).area_breakdown()["mac_array"] + sram
'''

L9_CALLS_LIBRARY_ADC = '''def adc(y, bits, full_scale):
    from mini_accel.analog import _quantize
    return _quantize(np.asarray(y, dtype=float), 2.0 * full_scale / (2 ** bits - 2), full_scale)
'''

# A correct design_area_mm2, preceded by patches that make every check in the kernel pass.
L9_PATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def design_area_mm2(rows, cols, precision, buffer_bytes):
    return (rows * cols * mac_cost(precision).area_um2 + buffer_bytes * 8 * sram_um2_per_bit()) / 1e6
'''

# Answers the visible test's limits by their shape, whatever the summaries.
L9_FAKE_BEST = '''def best_feasible(summaries, limits, objective):
    if "min_throughput_ips" in limits:
        return 3
    area = limits.get("max_area_mm2", 0)
    if area < 1:
        return None
    return {1.5: 2, 100.0: 1}.get(area, 1)
'''

# One change per track, with the visible tests' targets lowered to let them pass.
L9_ONE_CHANGE_EDGE = '''CHALLENGES["edge"]["target"] = 1.5
CHALLENGES["server"]["target"] = 1.0
EDGE_DESIGN = refs["edge"].replace(name="one change", input_buffer_bytes=1024 * 1024)
'''
L9_ONE_CHANGE_SERVER = '''SERVER_DESIGN = refs["server"].replace(name="one change", dataflow="os")
'''

L9_FAKE_STD = '''def analog_error_std(a, w_max, prog_noise, read_noise):
    return 0.8
'''

L9_CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"design_area_mm2": L9_CALLS_LIBRARY_AREA, "adc": L9_CALLS_LIBRARY_ADC},
                {"test_design_area_mm2", "test_adc"}, "graded"),
    "patched": ({"design_area_mm2": L9_PATCH_TOOLS, "best_feasible": L9_FAKE_BEST, "analog_error_std": L9_FAKE_STD},
                set(hostile.auto_points("lab9_design")), "graded"),
    "one_change": ({"edge_design": L9_ONE_CHANGE_EDGE, "server_design": L9_ONE_CHANGE_SERVER},
                   {"test_edge_score", "test_server_score"}, "graded"),
}


#: lab -> {student id: (answers replaced, test cells that must score 0, expected status)}
CASES = {
    "lab3_memory": L3_CASES,
    "lab4_quantization": L4_CASES,
    "lab5_edge_server": L5_CASES,
    "lab6_llm_serving": L6_CASES,
    "lab7_mapping_sparsity": L7_CASES,
    "lab8_training": L8_CASES,
    "lab9_design": L9_CASES,
}
