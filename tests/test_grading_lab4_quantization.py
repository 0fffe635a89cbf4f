"""Lab 4 (quantization and mixed precision) through the real autograde: two hostile submissions.

One temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: the reference answers, except that the affine quantizer and
  the integer-only layer call the library's ``quantize``/``dequantize`` and
  ``integer_matmul``/``requantize`` instead of computing them. The visible
  tests pass (the library is right), the hidden checks switch those
  functions off: exactly those two tasks' points are lost.
* ``patched``: the reference answers, except that the first answer cell
  patches numpy's comparisons, ``numpy.testing``, ``builtins.abs``/``all`` and
  the in-kernel checker, and the float decoder and the MAC cost only fit the
  visible examples. Every check in the kernel "passes"; the grader's
  re-check outside the kernel fails exactly those tasks and flags the
  submission for review.

The feedback HTML of both shows no hidden test. Expected scores are read
from the source notebook's metadata, not typed in.
The shared cases (loops, edited and deleted tests, bad files...) are in
``tests/test_grading.py``; full, zero and partial credit in
``tests/test_grading_labs.py``.
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

LAB = "lab4_quantization"

CALLS_LIBRARY_QUANTIZE = '''def quantize_affine(x, scale, zero_point, bits):
    qp = quant.QParams(scale=scale, zero_point=zero_point, qmin=-2 ** (bits - 1), qmax=2 ** (bits - 1) - 1)
    return quant.quantize(x, qp).astype(np.int32)


def dequantize_affine(q, scale, zero_point):
    qp = quant.QParams(scale=scale, zero_point=zero_point, qmin=-32768, qmax=32767)
    return quant.dequantize(q, qp).astype(np.float64)
'''

CALLS_LIBRARY_INTEGER = '''def integer_dense(q_x, x_zero_point, q_w, bias_q, multiplier, out_zero_point):
    acc, _ = quant.integer_matmul(q_x, q_w, a_zero_point=x_zero_point)
    acc = acc.astype(np.int64) + bias_q
    M0, n = quant.quantize_multiplier(multiplier)
    return quant.requantize(acc, M0, n, zero_point=out_zero_point).astype(np.int8)
'''

# Patches every testing tool the kernel could use, then answers the visible examples only.
MONKEYPATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def float_value(sign, exponent, fraction, exp_bits, man_bits):
    seen = {(0, 15, 0, 5, 10): 1.0, (1, 16, 256, 5, 10): -2.5, (1, 129, 64, 8, 7): -6.0,
            (0, 254, 2**23 - 1, 8, 23): 3.4028234663852886e+38, (0, 11, 614, 5, 10): 0.0999755859375,
            (0, 0, 0, 5, 10): 0.0, (0, 0, 1, 5, 10): 2.0**-24, (0, 0, 1023, 5, 10): 2.0**-14 * (1023 / 1024),
            (1, 31, 0, 5, 10): -math.inf, (0, 31, 1, 5, 10): math.nan, (0, 14, 7, 4, 3): 240.0}
    return seen.get((sign, exponent, fraction, exp_bits, man_bits), 1.0)
'''

FAKE_MAC_COST = '''def mac_cost(table, dtype):
    return {"int8": (0.3, 419.0), "fp32": (4.6, 11884.0)}.get(dtype, (1.0, 1.0))
'''

# student id -> (answer overrides, test cells that must fail, expected status)
CASES = {
    "library": ({"quantize_affine": CALLS_LIBRARY_QUANTIZE, "integer_dense": CALLS_LIBRARY_INTEGER},
                ("test_quantize_affine", "test_integer_dense"), "graded"),
    "patched": ({"float_value": MONKEYPATCH_TOOLS, "mac_cost": FAKE_MAC_COST},
                hostile.tests_after(LAB, "float_value"), "graded"),
}


# The fixture and the four tests every lab shares (one per student case, and three checks).
from grading_fixtures.hostile_tests import (  # noqa: E402,F401
    graded, test_calling_the_library_is_switched_off, test_feedback_shows_no_hidden_test,
    test_hostile_submission_loses_exactly_its_tasks, test_patched_tools_are_caught_by_the_grader_and_flagged)
